"""Wire compatibility with libzmq (through pyzmq): our codec drives a plain TCP socket and the
other side is a real libzmq socket."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq  # pyzmq, a test dependency (the reference): missing, this fails

from vmzmq.zmtp import (
    Cancel,
    HandshakeComplete,
    PeerError,
    Ping,
    Pong,
    ProtocolError,
    Subscribe,
)
from vmzmq.zmtp import ZmtpConnection as Conn

pytestmark = pytest.mark.interop

TIMEOUT = 5.0


class Peer:
    """A plain TCP socket speaking ZMTP through our codec."""

    def __init__(self, sock: socket.socket, conn: Conn) -> None:
        self.sock = sock
        self.conn = conn
        self.sock.settimeout(TIMEOUT)
        self.pending: list[Any] = []

    def flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def read(self) -> list[Any]:
        data = self.sock.recv(256 * 1024)
        if not data:
            raise EOFError("peer closed the connection")
        try:
            events = self.conn.receive(data)
        finally:
            self.flush()
        return events

    def until(self, wanted: Callable[[Any], bool]) -> Any:
        """Return the first event matching ``wanted``; keep the others in ``pending``."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, ev in enumerate(self.pending):
                if wanted(ev):
                    del self.pending[i]
                    return ev
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching event; have {self.pending!r}")
            self.pending += self.read()

    def next_message(self) -> list[bytes]:
        return self.until(lambda ev: type(ev) is list)

    def handshake(self) -> HandshakeComplete:
        self.sock.sendall(self.conn.start())
        return self.until(lambda ev: isinstance(ev, HandshakeComplete))

    def send(self, frames: list[bytes]) -> None:
        self.sock.sendall(self.conn.encode_message(frames))


@pytest.fixture
def ctx() -> Iterator[Any]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def bound(ctx: Any, kind: int, **opts: Any) -> tuple[Any, int]:
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = int(TIMEOUT * 1000)
    for name, value in opts.items():
        s.setsockopt(getattr(zmq, name), value)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    return s, port


def dial(port: int, socket_type: str, **kw: Any) -> Peer:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return Peer(sock, Conn(socket_type, **kw))


def test_dealer_to_libzmq_dealer(ctx: Any) -> None:
    dealer, port = bound(ctx, zmq.DEALER)
    peer = dial(port, "DEALER")
    done = peer.handshake()
    assert done.peer_socket_type == "DEALER"
    assert done.peer_minor == 1
    assert peer.conn.peer_version == (3, 1)

    msgs = [[b"hello"], [b"", b"multi", b""], [b"x" * 300, b"y" * 70000], [b"z" * (1 << 20)]]
    for m in msgs:
        peer.send(m)
    for m in msgs:
        assert dealer.recv_multipart() == m

    for m in msgs:
        dealer.send_multipart(m)
    for m in msgs:
        assert peer.next_message() == m
    peer.sock.close()


def test_identity_reaches_libzmq_router(ctx: Any) -> None:
    router, port = bound(ctx, zmq.ROUTER)
    peer = dial(port, "DEALER", properties={"Identity": b"abc", "X-Color": b"blue"})
    done = peer.handshake()
    assert done.peer_socket_type == "ROUTER"
    peer.send([b"ping"])
    assert router.recv() == b"abc"  # the routing id is our Identity property
    frame = router.recv(copy=False)
    assert frame.bytes == b"ping"
    assert frame.get("X-Color") == "blue"  # our metadata, as libzmq exposes it
    router.send_multipart([b"abc", b"pong"])
    assert peer.next_message() == [b"pong"]
    peer.sock.close()


def test_subscribe_to_libzmq_pub(ctx: Any) -> None:
    pub, port = bound(ctx, zmq.PUB)
    peer = dial(port, "SUB")
    assert peer.handshake().peer_socket_type == "PUB"
    peer.sock.sendall(peer.conn.encode_subscribe(b"weather"))
    # the subscription travels asynchronously: publish until one arrives
    deadline = time.monotonic() + TIMEOUT
    got: list[bytes] | None = None
    peer.sock.settimeout(0.05)
    while got is None and time.monotonic() < deadline:
        pub.send_multipart([b"sports", b"ignored"])
        pub.send_multipart([b"weather", b"sunny"])
        try:
            peer.pending += peer.read()
        except TimeoutError:
            continue
        for ev in peer.pending:
            assert ev[0] != b"sports"  # filtering happens at the publisher
            got = ev
    assert got == [b"weather", b"sunny"]
    peer.sock.close()


def test_libzmq_sub_subscribes_to_us(ctx: Any) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.rcvtimeo = int(TIMEOUT * 1000)
    sub.setsockopt(zmq.SUBSCRIBE, b"topic")
    sub.connect(f"tcp://127.0.0.1:{port}")
    listener.settimeout(TIMEOUT)
    sock, _ = listener.accept()
    listener.close()
    peer = Peer(sock, Conn("PUB", as_server=True))
    assert peer.handshake().peer_socket_type == "SUB"
    assert peer.until(lambda ev: isinstance(ev, Subscribe)) == Subscribe(b"topic")
    peer.send([b"topic", b"data"])
    assert sub.recv_multipart() == [b"topic", b"data"]
    sub.setsockopt(zmq.UNSUBSCRIBE, b"topic")
    assert peer.until(lambda ev: isinstance(ev, Cancel)) == Cancel(b"topic")
    sock.close()


def test_heartbeats_with_libzmq(ctx: Any) -> None:
    dealer, port = bound(ctx, zmq.DEALER, HEARTBEAT_IVL=50, HEARTBEAT_TTL=3000)
    peer = dial(port, "DEALER")
    peer.handshake()
    ping = peer.until(lambda ev: isinstance(ev, Ping))
    assert ping.ttl == 30  # deciseconds
    peer.sock.sendall(peer.conn.encode_pong(ping.context))
    peer.sock.sendall(peer.conn.encode_ping(0, b"are-you-there"))
    assert peer.until(lambda ev: isinstance(ev, Pong)) == Pong(b"are-you-there")
    peer.send([b"still fine"])
    assert dealer.recv_multipart() == [b"still fine"]
    peer.sock.close()


def test_incompatible_socket_type_refused_both_ways(ctx: Any) -> None:
    _push, port = bound(ctx, zmq.PUSH)
    peer = dial(port, "PUSH")
    peer.sock.sendall(peer.conn.start())
    with pytest.raises((ProtocolError, EOFError)) as info:
        while True:
            for ev in peer.read():
                assert not isinstance(ev, HandshakeComplete)
                if isinstance(ev, PeerError):
                    raise EOFError(ev.reason)
    if isinstance(info.value, ProtocolError):
        assert info.value.error_reason == b"Invalid socket type"
    peer.sock.close()


def test_libzmq_accepts_our_greeting_byte_for_byte(ctx: Any) -> None:
    pull, port = bound(ctx, zmq.PULL)
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    conn = Conn("PUSH")
    sock.sendall(conn.start())
    received = b""
    while len(received) < 64:
        chunk = sock.recv(64 - len(received))
        assert chunk
        received += chunk
    # libzmq's own greeting: its signature padding is not zeros, which we must accept
    assert received[0] == 0xFF and received[9] == 0x7F and received[10] == 3
    conn.receive(received)
    sock.sendall(conn.data_to_send())
    peer = Peer(sock, conn)
    peer.until(lambda ev: isinstance(ev, HandshakeComplete))
    peer.send([b"after", b"ready"])
    assert pull.recv_multipart() == [b"after", b"ready"]
    sock.close()
