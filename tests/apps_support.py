"""What the tests of real applications (tests/test_apps_*.py) share: the import hook of
tools/pyzmq_as_vmzmq.py, loaded once, where vmzmq lives (each hooked process must say it
imported that file as ``zmq``), ports to hand to applications, and stopping their processes."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import vmzmq

HOOK = Path(__file__).resolve().parents[1] / "tools" / "pyzmq_as_vmzmq.py"
VMZMQ_INIT = os.path.abspath(vmzmq.__file__)


def load_hook() -> ModuleType:
    module = sys.modules.get("pyzmq_as_vmzmq")
    if module is None:
        spec = importlib.util.spec_from_file_location("pyzmq_as_vmzmq", HOOK)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["pyzmq_as_vmzmq"] = module
        spec.loader.exec_module(module)
    return module


def free_ports(n: int) -> list[int]:
    """Loopback ports nobody listens on just now: applications that need their endpoints
    before they start (circus, zerorpc, locust's master) get just-freed ones, the best to be
    had."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_group(
    cmd: list[str], cwd: Path, env: dict[str, str], stderr: int = subprocess.STDOUT
) -> subprocess.Popen:
    """Start an application in a process group of its own (for :func:`stop_group`), its
    output read as text."""
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )


def stop_group(proc: subprocess.Popen) -> None:
    """Kill an application started in its own process group, children too (circus's
    watchers, locust's workers), and reap it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
