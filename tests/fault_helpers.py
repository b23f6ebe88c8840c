"""Helpers for tests/test_faults.py: raw ZMTP peers, child processes, deadlines, /proc readings.

Everything here talks to loopback or Unix sockets only.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

# Shared with the vsock tests; re-exported here for test_faults.
from child_process import Child  # noqa: F401
from zmtp_bytes import frame, greeting, message, ready  # noqa: F401

LOCALHOST = "127.0.0.1"


def raw_connect(address: Any, family: int = socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(address)
    return sock


def raw_zmtp_peer(address: Any, socket_type: bytes, family: int = socket.AF_INET,
                  identity: bytes | None = None) -> socket.socket:
    """A plain socket that sends a whole greeting and READY at once, then reads the other
    side's greeting and READY (so the handshake is complete on both sides when it returns)."""
    sock = raw_connect(address, family)
    sock.sendall(greeting() + ready(socket_type, identity))
    read_handshake(sock)
    return sock


def read_handshake(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Read the peer's 64-octet greeting and its READY command."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        if len(buf) >= 64 + 2:
            need = 64 + 2 + buf[65] if not buf[64] & 2 else None
            if need is None and len(buf) >= 64 + 9:
                need = 64 + 9 + int.from_bytes(buf[65:73], "big")
            if need is not None and len(buf) >= need:
                return buf
        if time.monotonic() > deadline:
            raise TimeoutError(f"no ZMTP handshake from the peer (got {buf!r})")
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(4096)
        if not data:
            raise EOFError(f"peer closed during the handshake (got {buf!r})")
        buf += data


def wait_eof(sock: socket.socket, timeout: float = 5.0) -> bool:
    """Read and discard until the peer closes (EOF or reset): True, or False at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(min(left, 0.2))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not data:
            return True


def free_tcp_port() -> int:
    """A loopback port nobody listens on (just now)."""
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def tcp_port(endpoint: bytes | str) -> int:
    if isinstance(endpoint, bytes):
        endpoint = endpoint.decode()
    return int(endpoint.rsplit(":", 1)[1])


# -- waiting -------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.01,
               what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# -- monitor events --------------------------------------------------------------------------


def next_event(monitor: Any, names: set[str] | None, timeout: float = 20.0) -> tuple[str, int]:
    """The next monitor event whose name is in ``names`` (any when None): (name, value)."""
    import vmzmq

    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no monitor event in {names} within {timeout}s")
        if not monitor.poll(max(1, int(left * 1000))):
            continue
        head, _endpoint = monitor.recv_multipart()
        event_id, value = struct.unpack("=Hi", head[:6])
        name = vmzmq.Event(event_id).name
        if names is None or name in names:
            return name, value


# -- /proc -------------------------------------------------------------------------------


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
