"""Shared fixtures: a vmzmq context per test and endpoints for every transport.

* ``ctx``: a fresh ``vmzmq.Context``; destroyed with ``linger=0`` at teardown (closes any
  socket a test left open).
* ``endpoint``: a factory, ``endpoint("tcp" | "ipc" | "inproc")`` -> a bindable endpoint that
  no other test uses (``tcp://127.0.0.1:*``, a short ``ipc://`` path in a per-test temporary
  directory, a unique ``inproc://`` name). Bind it, then connect to ``sock.last_endpoint``.
* ``transport``: parametrises a test over "tcp", "ipc" and "inproc".
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

import vmzmq

# Hypothesis times each example (a 200 ms deadline) and health-checks how fast data is made:
# both are wall-clock assertions, which fail right tests on a loaded machine. Tests here
# assert no durations; a test's own @settings still applies on top of this profile.
settings.register_profile(
    "vmzmq", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("vmzmq")

TRANSPORTS = ("tcp", "ipc", "inproc")

_names = itertools.count()


@pytest.fixture
def ctx() -> Iterator[vmzmq.Context]:
    context = vmzmq.Context()
    try:
        yield context
    finally:
        context.destroy(linger=0)


@pytest.fixture
def endpoint() -> Iterator[Callable[[str], str]]:
    tmpdir: list[str] = []

    def make(transport: str) -> str:
        n = next(_names)
        if transport == "tcp":
            return "tcp://127.0.0.1:*"
        if transport == "ipc":
            if not tmpdir:
                # short paths: sun_path holds 107 bytes and pytest's tmp_path can be long
                tmpdir.append(tempfile.mkdtemp(prefix="vmzmq-", dir="/tmp"))
            return f"ipc://{tmpdir[0]}/s{n}"
        if transport == "inproc":
            return f"inproc://test-{n}"
        raise ValueError(f"unknown transport {transport!r}")

    yield make
    for d in tmpdir:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return request.param
