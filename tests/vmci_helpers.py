"""Helpers for the tests that need real AF_VSOCK loopback (``@pytest.mark.vsock``).

The project's test command runs those tests inside a throwaway QEMU guest that has
``vsock_loopback`` (``tools/vsock-guest/run-in-guest``), with ``VMZMQ_REQUIRE_VSOCK=1``. There
they must run: when the loopback transport is missing a test *fails* (it never skips), so a
broken guest cannot turn the whole vsock suite into a row of silent skips. Without
``VMZMQ_REQUIRE_VSOCK`` (a developer running everything on a machine without vsock loopback)
they skip; the host run deselects them with ``-m "not vsock"`` anyway.

Also here: hand-built ZMTP bytes for raw AF_VSOCK peers, a child-process runner, and a reader
for monitor events.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest

# Shared with the fault tests; re-exported here for the vsock tests.
from child_process import Child as _Child
from zmtp_bytes import command, greeting, ready  # noqa: F401

VMADDR_CID_ANY = 0xFFFFFFFF
VMADDR_PORT_ANY = 0xFFFFFFFF
VMADDR_CID_LOCAL = 1

REQUIRE_ENV = "VMZMQ_REQUIRE_VSOCK"
# run-in-guest sets this in the guest; there the local CID is known to be 1.
IN_GUEST = os.environ.get("VMZMQ_IN_GUEST") == "1"


def vsock_required() -> bool:
    """Whether a missing vsock (loopback) is a failure rather than a reason to skip."""
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0")


@functools.cache
def vsock_problem() -> str | None:
    """Why this kernel cannot create AF_VSOCK stream sockets, or None when it can."""
    if not hasattr(socket, "AF_VSOCK"):
        return "this Python has no socket.AF_VSOCK"
    try:
        socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()
    except OSError as exc:
        return f"cannot create an AF_VSOCK socket ({exc}); modprobe vsock"
    return None


@functools.cache
def loopback_problem() -> str | None:
    """Why vsock connections to ourselves (CID 1) cannot work here, or None when they can.

    Binds CID 1 (needs ``vsock_loopback``) and makes one real connection to it.
    """
    problem = vsock_problem()
    if problem:
        return problem
    try:
        with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as listener:
            listener.bind((VMADDR_CID_LOCAL, VMADDR_PORT_ANY))
            listener.listen(1)
            with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as client:
                client.settimeout(10)
                client.connect((VMADDR_CID_LOCAL, listener.getsockname()[1]))
                listener.accept()[0].close()
    except OSError as exc:
        return f"no vsock loopback ({exc}); modprobe vsock_loopback"
    return None


def _gate(problem: str | None) -> None:
    if problem is None:
        return
    if vsock_required():
        pytest.fail(f"{REQUIRE_ENV} is set but {problem}", pytrace=False)
    pytest.skip(problem)


def require_vsock() -> None:
    """Skip (or, with VMZMQ_REQUIRE_VSOCK=1, fail) unless AF_VSOCK sockets can be created."""
    _gate(vsock_problem())


def require_loopback() -> None:
    """Skip (or, with VMZMQ_REQUIRE_VSOCK=1, fail) unless vsock loopback on CID 1 works."""
    _gate(loopback_problem())


# -- deadlines -------------------------------------------------------------------------------


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        time.sleep(0.01)


class ZmtpReader:
    """Reads a raw socket and splits what arrives into (is_command, body) frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.greeting: bytes | None = None

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"nothing more from the peer (have {bytes(self.buf[:80])!r})")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the peer closed the connection")
        self.buf += data

    def read_greeting(self, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buf) < 64:
            self._fill(deadline)
        self.greeting = bytes(self.buf[:64])
        del self.buf[:64]
        assert self.greeting[0] == 0xFF and self.greeting[9] == 0x7F, self.greeting
        return self.greeting

    def read_frame(self, timeout: float = 10.0) -> tuple[bool, bytes]:
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                flags = self.buf[0]
                if flags & 2:
                    head = 9
                    if len(self.buf) >= head:
                        size = int.from_bytes(self.buf[1:9], "big")
                    else:
                        size = None
                else:
                    head, size = 2, self.buf[1]
                if size is not None and len(self.buf) >= head + size:
                    body = bytes(self.buf[head : head + size])
                    del self.buf[: head + size]
                    return bool(flags & 4), body
            self._fill(deadline)


def command_name(body: bytes) -> bytes:
    return body[1 : 1 + body[0]]


# -- monitor events --------------------------------------------------------------------------


EVENT_NAMES = (
    "CONNECTED",
    "CONNECT_DELAYED",
    "CONNECT_RETRIED",
    "LISTENING",
    "BIND_FAILED",
    "ACCEPTED",
    "ACCEPT_FAILED",
    "CLOSED",
    "CLOSE_FAILED",
    "DISCONNECTED",
    "MONITOR_STOPPED",
    "HANDSHAKE_FAILED_NO_DETAIL",
    "HANDSHAKE_SUCCEEDED",
    "HANDSHAKE_FAILED_PROTOCOL",
    "HANDSHAKE_FAILED_AUTH",
)


class Events:
    """Collects a socket's monitor events ((name, value, endpoint) tuples) as they happen."""

    def __init__(self, zmq: Any, sock: Any) -> None:
        self._names = {int(zmq.Event[name]): name for name in EVENT_NAMES}
        self.mon = sock.get_monitor_socket()
        self.mon.rcvtimeo = 50
        self.seen: list[tuple[str, int, str]] = []

    def poll(self) -> list[tuple[str, int, str]]:
        while self.mon.poll(0):
            head, endpoint = self.mon.recv_multipart()
            event_id, value = struct.unpack("=Hi", head[:6])
            self.seen.append((self._names.get(event_id, hex(event_id)), value, endpoint.decode()))
        return self.seen

    def names(self) -> list[str]:
        return [name for name, _value, _endpoint in self.poll()]

    def wait_for(self, name: str, count: int = 1, timeout: float = 20.0) -> list:
        wait_until(lambda: self.names().count(name) >= count, timeout, f"{count} x {name}")
        return [e for e in self.seen if e[0] == name]


# -- child processes -------------------------------------------------------------------------


class Child(_Child):
    """A child process; the TCG guest runs Python ~10x slower, hence the longer default."""

    default_timeout = 60.0


# -- raw AF_VSOCK ----------------------------------------------------------------------------


def raw_listener() -> tuple[socket.socket, int]:
    """A plain AF_VSOCK listener on CID 1 and a kernel-chosen port."""
    sock = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    sock.bind((VMADDR_CID_LOCAL, VMADDR_PORT_ANY))
    sock.listen(16)
    return sock, sock.getsockname()[1]


def free_port() -> int:
    """A vsock port nobody listens on (bound once by the kernel, then released)."""
    with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as s:
        s.bind((VMADDR_CID_LOCAL, VMADDR_PORT_ANY))
        return s.getsockname()[1]


def raw_connect_error(cid: int, port: int) -> int:
    """The errno a plain blocking connect() gets (0 if it connects)."""
    with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        try:
            s.connect((cid, port))
        except OSError as exc:
            return exc.errno or errno.EIO
        return 0
