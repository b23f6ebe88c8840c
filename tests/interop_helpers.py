"""Helpers for tests/test_interop.py: endpoints, waiting with deadlines, socket monitors, and an
independent hand-rolled ZMTP 3.x peer on a raw socket (written from RFC 23/37, not from vmzmq's
codec, so it checks what vmzmq really puts on the wire)."""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

from waiting import wait_until as _wait_until

TIMEOUT_MS = 5000
TIMEOUT = TIMEOUT_MS / 1000


# -- endpoints ------------------------------------------------------------------------------------
def ipc_path() -> str:
    """A short, unique filesystem path for an ipc:// endpoint (AF_UNIX paths are short)."""
    return f"/tmp/vmzi-{os.getpid()}-{uuid.uuid4().hex[:10]}.sock"


def bind_endpoint(transport: str) -> str:
    """What to bind: a wildcard tcp port on loopback, or a fresh ipc path."""
    if transport == "tcp":
        return "tcp://127.0.0.1:*"
    return f"ipc://{ipc_path()}"


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def last_endpoint(sock: Any) -> str:
    ep = sock.last_endpoint
    return ep.decode() if isinstance(ep, bytes) else ep


def cleanup_ipc(endpoint: str) -> None:
    if endpoint.startswith("ipc:///"):
        try:
            os.unlink(endpoint[len("ipc://") :])
        except OSError:
            pass


# -- waiting --------------------------------------------------------------------------------------
def wait_until(cond: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
    """waiting.wait_until with the interop tests' default deadline."""
    return _wait_until(cond, timeout, what)


def send_doomed(sock: Any, data: bytes) -> None:
    """Offer a message on a connection whose handshake is expected to fail.

    A connecting socket drops its pipe when the handshake fails (libzmq terminates the session
    on a protocol or auth error), so a blocking send issued after that would wait for a peer
    that never comes. Whether the message was queued or not, it must never arrive.
    """
    try:
        sock.send(data, 1)  # NOBLOCK has the same value (1) in both libraries
    except Exception as exc:  # Again from either library: no pipe left to queue on
        if getattr(exc, "errno", None) != errno.EAGAIN:
            raise


def recv_within(sock: Any, timeout_ms: int = TIMEOUT_MS, copy: bool = True) -> list:
    """recv_multipart, failing the test (not hanging) if nothing comes in time."""
    if not sock.poll(timeout_ms):
        raise AssertionError(f"nothing received on {sock!r} within {timeout_ms} ms")
    return sock.recv_multipart(copy=copy)


def recv_touching(sock: Any, peer: Any, timeout: float = TIMEOUT) -> list:
    """Receive on ``sock`` while poking ``peer`` with poll(0).

    A bound libzmq socket learns about a newly accepted peer (attaches its pipe) only when its
    application thread enters the library (send/recv/poll...); setsockopt(SUBSCRIBE) does not.
    So a subscription set on a bound libzmq SUB reaches a connecting XPUB only once the SUB
    has been touched. This is libzmq's behaviour (pyzmq-only shows it too), not vmzmq's."""
    deadline = time.monotonic() + timeout
    while True:
        peer.poll(0)
        if sock.poll(10):
            return sock.recv_multipart()
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing received on {sock!r} within {timeout}s")


def assert_silent(sock: Any, timeout_ms: int = 100) -> None:
    if sock.poll(timeout_ms):
        raise AssertionError(f"unexpected message {sock.recv_multipart()!r}")


def publish_until(pub: Any, sub: Any, msg: list[bytes], timeout: float = TIMEOUT) -> list:
    """Slow joiner: publish ``msg`` until ``sub`` receives something (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        pub.send_multipart(msg)
        if sub.poll(20):
            return sub.recv_multipart()
        if time.monotonic() > deadline:
            raise AssertionError(f"subscriber never received {msg!r}")


def drain_until(sock: Any, marker: list[bytes], timeout_ms: int = TIMEOUT_MS) -> list[list]:
    """Receive until ``marker`` arrives; return what came before it."""
    got = []
    while True:
        msg = recv_within(sock, timeout_ms)
        if msg == marker:
            return got
        got.append(msg)


def send_until_routable(router: Any, msg: list[bytes], timeout: float = TIMEOUT) -> None:
    """For a ROUTER with ROUTER_MANDATORY: retry while the peer's handshake is not done."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            router.send_multipart(msg)
            return
        except Exception as exc:  # zmq.ZMQError / vmzmq.ZMQError with EHOSTUNREACH
            if getattr(exc, "errno", None) != errno.EHOSTUNREACH or time.monotonic() > deadline:
                raise
        time.sleep(0.005)


# -- monitors (libzmq's wire format, read the same way for both libraries) ------------------------
def read_event(mon: Any, timeout_ms: int) -> tuple[int, int, bytes] | None:
    if not mon.poll(timeout_ms):
        return None
    head, endpoint = mon.recv_multipart()[:2]
    event, value = struct.unpack("=Hi", bytes(head)[:6])
    return event, value, bytes(endpoint)


def wait_event(mon: Any, event: int, timeout: float = TIMEOUT) -> list[int]:
    """Wait for ``event``; return every event id seen up to and including it."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        got = read_event(mon, max(left, 0)) if left > 0 else None
        if got is None:
            raise AssertionError(f"no event {event:#x} within {timeout}s (saw {seen!r})")
        seen.append(got[0])
        if got[0] == event:
            return seen


def events_during(mon: Any, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    seen = []
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            return seen
        got = read_event(mon, left)
        if got is not None:
            seen.append(got[0])


# -- a hand-rolled ZMTP peer ----------------------------------------------------------------------
FLAG_MORE = 0x01
FLAG_LONG = 0x02
FLAG_COMMAND = 0x04


def greeting(minor: int = 1, mechanism: bytes = b"NULL", as_server: bool = False) -> bytes:
    return (
        b"\xff"
        + b"\x00" * 8
        + b"\x7f"
        + bytes([3, minor])
        + mechanism.ljust(20, b"\x00")
        + bytes([1 if as_server else 0])
        + b"\x00" * 31
    )


def encode_frame(body: bytes, more: bool = False, command: bool = False) -> bytes:
    flags = (FLAG_MORE if more else 0) | (FLAG_COMMAND if command else 0)
    if len(body) > 255:
        return bytes([flags | FLAG_LONG]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def encode_message(frames: list[bytes]) -> bytes:
    last = len(frames) - 1
    return b"".join(encode_frame(f, more=i < last) for i, f in enumerate(frames))


def encode_command(name: bytes, data: bytes = b"") -> bytes:
    return encode_frame(bytes([len(name)]) + name + data, command=True)


def encode_metadata(props: dict[str, bytes]) -> bytes:
    out = b""
    for name, value in props.items():
        key = name.encode()
        out += bytes([len(key)]) + key + struct.pack(">I", len(value)) + value
    return out


def parse_metadata(data: bytes) -> dict[str, bytes]:
    props = {}
    i = 0
    while i < len(data):
        n = data[i]
        name = data[i + 1 : i + 1 + n].decode()
        i += 1 + n
        (size,) = struct.unpack(">I", data[i : i + 4])
        props[name] = data[i + 4 : i + 4 + size]
        i += 4 + size
    return props


def parse_command(body: bytes) -> tuple[bytes, bytes]:
    n = body[0]
    return body[1 : 1 + n], body[1 + n :]


class RawZmtpPeer:
    """One end of a ZMTP connection driven by hand over a blocking Python socket."""

    def __init__(self, sock: socket.socket, timeout: float = TIMEOUT) -> None:
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.peer_greeting = b""
        self.peer_props: dict[str, bytes] = {}

    @classmethod
    def connect(cls, address: tuple[str, int], timeout: float = TIMEOUT) -> RawZmtpPeer:
        return cls(socket.create_connection(address, timeout=timeout), timeout)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("peer closed the connection")
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_frame(self) -> tuple[int, bytes]:
        flags = self.read_exact(1)[0]
        if flags & FLAG_LONG:
            (size,) = struct.unpack(">Q", self.read_exact(8))
        else:
            size = self.read_exact(1)[0]
        return flags, self.read_exact(size)

    def handshake(self, socket_type: bytes, minor: int = 1, **props: bytes) -> dict[str, bytes]:
        """Greeting (whole) and NULL READY both ways; return the peer's READY properties."""
        self.sock.sendall(greeting(minor))
        self.peer_greeting = self.read_exact(64)
        assert self.peer_greeting[0] == 0xFF and self.peer_greeting[9] == 0x7F
        assert self.peer_greeting[10] == 3, self.peer_greeting
        assert self.peer_greeting[12:32].rstrip(b"\x00") == b"NULL"
        meta = encode_metadata({"Socket-Type": socket_type, **props})
        self.sock.sendall(encode_command(b"READY", meta))
        flags, body = self.read_frame()
        assert flags & FLAG_COMMAND, (flags, body)
        name, data = parse_command(body)
        assert name == b"READY", (name, data)
        self.peer_props = parse_metadata(data)
        return self.peer_props

    def read_item(self, pong: bool = True) -> tuple[str, Any]:
        """Next ("message", frames) or ("command", (name, data)); answers PING unless told not."""
        frames = []
        while True:
            flags, body = self.read_frame()
            if flags & FLAG_COMMAND:
                name, data = parse_command(body)
                if name == b"PING" and pong:
                    self.sock.sendall(encode_command(b"PONG", data[2:]))
                return "command", (name, data)
            frames.append(body)
            if not flags & FLAG_MORE:
                return "message", frames

    def read_message(self) -> list[bytes]:
        """Next data message, skipping (and answering) commands."""
        while True:
            kind, item = self.read_item()
            if kind == "message":
                return item

    def send_message(self, frames: list[bytes]) -> None:
        self.sock.sendall(encode_message(frames))

    def send_command(self, name: bytes, data: bytes = b"") -> None:
        self.sock.sendall(encode_command(name, data))


class RawListener:
    """A plain listening TCP socket on loopback that hands out RawZmtpPeers."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.endpoint = f"tcp://127.0.0.1:{self.port}"

    def accept(self, timeout: float = TIMEOUT) -> RawZmtpPeer:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        return RawZmtpPeer(conn, timeout)

    def close(self) -> None:
        self.sock.close()
