"""The transport registry: endpoint splitting, scheme lookup, availability."""

from __future__ import annotations

import errno

import pytest

from vmzmq import vmci
from vmzmq.error import ZMQError
from vmzmq.transport import (
    KNOWN_SCHEMES,
    StreamTransport,
    available_schemes,
    get_transport,
    split_endpoint,
)

METHODS = [
    name
    for name in vars(StreamTransport)
    if not name.startswith("_") and callable(getattr(StreamTransport, name))
]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("tcp://127.0.0.1:5555", ("tcp", "127.0.0.1:5555")),
        ("ipc:///tmp/a.sock", ("ipc", "/tmp/a.sock")),
        ("inproc://x://y", ("inproc", "x://y")),  # split at the first "://"
        ("vmci://*:*", ("vmci", "*:*")),
        ("vsock://3:5555", ("vsock", "3:5555")),
    ],
)
def test_split_endpoint(endpoint: str, expected: tuple[str, str]) -> None:
    assert split_endpoint(endpoint) == expected


@pytest.mark.parametrize(
    ("endpoint", "words"),
    [
        ("tcp//127.0.0.1:5555", "no '://'"),
        ("127.0.0.1:5555", "no '://'"),
        ("://127.0.0.1:5555", "empty transport"),
        ("tcp://", "empty address"),
        ("vmci://", "empty address"),
    ],
)
def test_split_endpoint_malformed_is_einval(endpoint: str, words: str) -> None:
    with pytest.raises(ZMQError) as info:
        split_endpoint(endpoint)
    assert info.value.errno == errno.EINVAL
    assert f"'{endpoint}'" in str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize("scheme", ["pgm", "epgm", "norm", "tipc", "udp", "ws", "TCP", "bogus"])
def test_unknown_scheme_is_eprotonosupport(scheme: str) -> None:
    endpoint = f"{scheme}://host:1"
    with pytest.raises(ZMQError) as info:
        split_endpoint(endpoint)
    assert info.value.errno == errno.EPROTONOSUPPORT
    assert f"'{scheme}'" in str(info.value)
    assert f"'{endpoint}'" in str(info.value)


def test_get_transport() -> None:
    assert get_transport("inproc") is None  # known, but the engine's
    assert "inproc" in KNOWN_SCHEMES
    assert get_transport("nope") is None
    assert get_transport("vmci") is get_transport("vsock")
    for scheme in ("tcp", "ipc", "vmci", "vsock"):
        transport = get_transport(scheme)
        assert transport is not None
        assert scheme in transport.schemes


@pytest.mark.parametrize("scheme", ["tcp", "ipc", "vmci"])
def test_transports_implement_the_contract(scheme: str) -> None:
    transport = get_transport(scheme)
    assert METHODS  # the Protocol lists the methods
    for name in METHODS:
        assert callable(getattr(transport, name)), name


def test_available_schemes() -> None:
    schemes = available_schemes()
    assert "tcp" in schemes and "ipc" in schemes
    assert "inproc" not in schemes
    assert ("vmci" in schemes) == vmci.available()
    assert ("vsock" in schemes) == vmci.available()
