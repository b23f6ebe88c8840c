"""Helpers for tests/test_faults.py: raw ZMTP peers, child processes, deadlines, /proc readings.

Everything here talks to loopback or Unix sockets only.
"""

from __future__ import annotations

import os
import queue
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _vmzmq_src() -> str:
    """Where the vmzmq under test lives, so child processes run the same code."""
    import vmzmq

    return str(Path(vmzmq.__file__).resolve().parent.parent)


SRC = _vmzmq_src()
LOCALHOST = "127.0.0.1"

# -- ZMTP bytes, built by hand (not with vmzmq's codec, so a codec bug can't hide) ------------


def greeting(major: int = 3, minor: int = 1, mechanism: bytes = b"NULL") -> bytes:
    """A 64-octet ZMTP 3.x greeting."""
    return (
        b"\xff" + bytes(8) + b"\x7f" + bytes((major, minor))
        + mechanism.ljust(20, b"\x00") + b"\x00" + bytes(31)
    )


def frame(
    body: bytes, more: bool = False, command: bool = False, long: bool | None = None
) -> bytes:
    """One ZMTP frame; LONG form when the body needs it (or when ``long`` says so)."""
    flags = (1 if more else 0) | (4 if command else 0)
    if long is None:
        long = len(body) > 255
    if long:
        return bytes((flags | 2,)) + len(body).to_bytes(8, "big") + body
    return bytes((flags, len(body))) + body


def ready(socket_type: bytes, identity: bytes | None = None) -> bytes:
    """A READY command announcing ``socket_type`` (and Identity when given)."""
    body = b"\x05READY" + b"\x0bSocket-Type" + len(socket_type).to_bytes(4, "big") + socket_type
    if identity is not None:
        body += b"\x08Identity" + len(identity).to_bytes(4, "big") + identity
    return frame(body, command=True)


def message(*parts: bytes) -> bytes:
    """A data message: MORE on every frame but the last."""
    return b"".join(frame(p, more=i < len(parts) - 1) for i, p in enumerate(parts))


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


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01,
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


def next_event(monitor: Any, names: set[str] | None, timeout: float = 5.0) -> tuple[str, int]:
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


# -- processes ---------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    """A Python child process running ``code``; its stdout lines are read into a queue."""

    def __init__(self, code: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**child_env(), **(env or {})},
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def expect(self, prefix: str, timeout: float = 10.0) -> str:
        """The rest of the next stdout line starting with ``prefix`` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"child printed no {prefix!r} within {timeout}s; "
                                     f"stderr: {self.stderr[-2000:]}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(5)
                raise AssertionError(f"child exited ({self.proc.returncode}) before {prefix!r}; "
                                     f"stderr: {self.stderr[-2000:]}")
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


# -- /proc -------------------------------------------------------------------------------


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
