"""Hostile peers cannot grow a server's memory: each bound a peer can push against, tested
with raw peers speaking valid-looking ZMTP, and the server's peak RSS measured in a child
process (issue 16). A legitimate libzmq peer on the same socket is served meanwhile."""

from __future__ import annotations

import socket
import threading

import pytest
import zmq

import vmzmq
from child_process import Child
from interop_helpers import TIMEOUT_MS, recv_within, wait_until
from zmtp_bytes import command, frame, greeting, ready

MIB = 1 << 20
RSS_BUDGET = 64 * MIB  # the most any attack may grow the server's peak RSS

# The server: binds, reports its port, serves until told to report its peak RSS. It reads
# its socket in a thread so that the main thread can answer the parent; "drain" makes it
# read (XPUB notices) as a slow application would, once.
SERVER = r"""
import resource, sys, threading, vmzmq
kind = getattr(vmzmq, sys.argv[1])
ctx = vmzmq.Context()
s = ctx.socket(kind)
s.maxmsgsize = 1 << 20
s.rcvhwm = 1000
s.sndbuf = 4096  # the kernel takes little of what a peer does not read: we would hold the rest
s.linger = 0
s.bind("tcp://127.0.0.1:*")
print("port", s.last_endpoint.decode().rsplit(":", 1)[1], flush=True)
got = threading.Event()
def serve():
    while True:
        msg = s.recv_multipart()
        if msg[-1] == b"good":
            print("good", flush=True)
if kind != vmzmq.XPUB:
    threading.Thread(target=serve, daemon=True).start()
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "peak":
        print("peak", peak(), flush=True)
    elif cmd == "paused":
        conns = list(s._core.connections)
        print("paused", sum(c.read_paused for c in conns), flush=True)
    elif cmd == "notices":
        print("notices", len(s._core.pattern.notices), flush=True)
"""


class Server(Child):
    # Generous: a deadline that fails a hung test, not a measure (the floods take seconds on
    # a quiet machine and much longer on a loaded one).
    default_timeout = 300.0

    def __init__(self, kind: str) -> None:
        super().__init__(SERVER, kind)
        self.port = int(self.expect("port "))
        self.tell("peak")
        self.baseline = int(self.expect("peak "))

    def growth(self) -> int:
        self.tell("peak")
        return int(self.expect("peak ")) - self.baseline


def raw_peer(port: int, socket_type: bytes, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:  # a peer that never reads: keep its kernel buffer small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    sock.sendall(greeting() + ready(socket_type))
    return sock


def good_peer_is_served(server: Server, kind: int = zmq.PUSH) -> None:
    ctx = zmq.Context.instance()
    push = ctx.socket(kind)
    push.linger = 0
    push.connect(f"tcp://127.0.0.1:{server.port}")
    push.send(b"good")
    server.expect("good")
    push.close()


def test_endless_empty_frames_are_cut_off() -> None:
    with Server("PULL") as server:
        peer = raw_peer(server.port, b"PUSH")
        sent = 0
        try:
            chunk = b"\x01\x00" * 65536
            while sent < 64 * MIB:
                peer.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # dropped: MAX_MESSAGE_FRAMES
        assert sent < 64 * MIB, "the server kept reading an endless message"
        good_peer_is_served(server)
        assert server.growth() < RSS_BUDGET


@pytest.mark.timeout(600)
def test_pings_without_reading_queue_one_pong() -> None:
    with Server("PULL") as server:
        peer = raw_peer(server.port, b"PUSH", rcvbuf=4096)
        ping = command(b"PING", b"\x00\x00" + b"c" * 16)
        burst = ping * 10000
        for _ in range(200):  # two million PINGs, never reading a PONG
            peer.sendall(burst)
        peer.sendall(frame(b"good"))  # behind every PING: when it arrives, all were read
        server.expect("good")
        good_peer_is_served(server)
        assert server.growth() < RSS_BUDGET
        peer.close()


def test_declared_but_unsent_bodies_hold_nothing() -> None:
    with Server("PULL") as server:
        peers = []
        for _ in range(200):
            peer = raw_peer(server.port, b"PUSH")
            peer.sendall(b"\x02" + MIB.to_bytes(8, "big") + b"x" * 16)
            peers.append(peer)
        # Each declared 1 MiB; the last one's 16 octets are in once a good message behind a
        # connection made after them all is served (the server reads in order of arrival).
        good_peer_is_served(server)
        assert server.growth() < RSS_BUDGET
        for peer in peers:
            peer.close()


def test_subscription_flood_to_an_unread_xpub_is_pushed_back() -> None:
    with Server("XPUB") as server:
        peer = raw_peer(server.port, b"SUB")
        done = threading.Event()

        def flood() -> None:
            try:
                for block in range(2000):
                    peer.sendall(b"".join(
                        command(b"SUBSCRIBE", b"topic-%d-%d" % (block, i)) for i in range(1000)
                    ))
            except OSError:
                pass
            done.set()

        thread = threading.Thread(target=flood, daemon=True)
        thread.start()

        def paused() -> bool:
            server.tell("paused")
            return int(server.expect("paused ")) == 1

        wait_until(paused, 30, "the XPUB to stop reading the flooding peer")
        server.tell("notices")
        assert int(server.expect("notices ")) <= 1000  # RCVHWM
        assert not done.is_set()  # the flooder is blocked by TCP, not buffered by us
        assert server.growth() < RSS_BUDGET
        peer.close()
        thread.join(30)


# -- the bounds one by one, in process ------------------------------------------------------
@pytest.fixture
def ctx():
    c = vmzmq.Context()
    c.linger = 0
    yield c
    c.destroy(linger=0)


def _connection(sock: vmzmq.Socket):
    return wait_until(lambda: next(iter(sock._core.connections), None), what="a connection")


def test_pong_queue_is_bounded(ctx) -> None:
    server = ctx.socket(vmzmq.PULL)
    server.sndbuf = 4096
    server.bind("tcp://127.0.0.1:*")
    port = int(server.last_endpoint.decode().rsplit(":", 1)[1])
    peer = raw_peer(port, b"PUSH", rcvbuf=4096)
    conn = _connection(server)
    ping = command(b"PING", b"\x00\x00ctx")
    for _ in range(20):
        peer.sendall(ping * 5000)
    peer.sendall(frame(b"last"))
    assert recv_within(server) == [b"last"]
    assert len(conn.out) <= 2  # whatever the kernel did not take, plus at most one PONG
    peer.close()


def test_xpub_notices_stop_at_rcvhwm_and_resume(ctx) -> None:
    xpub = ctx.socket(vmzmq.XPUB)
    xpub.rcvhwm = 50
    xpub.bind("tcp://127.0.0.1:*")
    port = int(xpub.last_endpoint.decode().rsplit(":", 1)[1])
    peer = raw_peer(port, b"SUB")
    topics = [b"t%05d" % i for i in range(400)]
    peer.sendall(b"".join(command(b"SUBSCRIBE", t) for t in topics))
    conn = _connection(xpub)
    wait_until(lambda: conn.read_paused, what="XPUB to stop reading at RCVHWM")
    assert len(xpub._core.pattern.notices) <= 50
    got = [xpub.recv() for _ in topics]  # reading lets the rest in
    assert got == [b"\x01" + t for t in topics]
    peer.close()


def test_xpub_resumes_a_peer_paused_with_more_to_send(ctx) -> None:
    """The pause comes from one read's batch while the rest is still in the kernel: XPUB
    takes its share of the batch at once, and reading the notices must resume the peer."""
    xpub = ctx.socket(vmzmq.XPUB)
    xpub.rcvhwm = 50
    xpub.rcvtimeo = 10000  # a peer never resumed fails here instead of hanging
    xpub.bind("tcp://127.0.0.1:*")
    port = int(xpub.last_endpoint.decode().rsplit(":", 1)[1])
    peer = raw_peer(port, b"SUB")
    topics = [b"t%05d" % i for i in range(400)]
    peer.sendall(b"".join(command(b"SUBSCRIBE", t) for t in topics[:100]))
    conn = _connection(xpub)
    wait_until(lambda: conn.read_paused, what="XPUB to stop reading at RCVHWM")
    peer.sendall(b"".join(command(b"SUBSCRIBE", t) for t in topics[100:]))
    assert [xpub.recv() for _ in topics] == [b"\x01" + t for t in topics]
    peer.close()


def test_subscriptions_per_peer_are_bounded(ctx, monkeypatch) -> None:
    from vmzmq.patterns import pubsub

    monkeypatch.setattr(pubsub, "MAX_PEER_SUBSCRIPTIONS", 100)
    pub = ctx.socket(vmzmq.PUB)
    pub.bind("tcp://127.0.0.1:*")
    port = int(pub.last_endpoint.decode().rsplit(":", 1)[1])
    peer = raw_peer(port, b"SUB")
    peer.sendall(b"".join(command(b"SUBSCRIBE", b"s%d" % i) for i in range(150)))
    peer.sendall(frame(b""))  # not a subscription: marks that all of them were read
    index = pub._core.pattern.subs
    wait_until(lambda: sum(u[0] for u in index.usage.values()) >= 100, what="subscriptions")
    good = zmq.Context.instance().socket(zmq.SUB)
    good.linger = 0
    good.subscribe(b"")
    good.connect(f"tcp://127.0.0.1:{port}")
    wait_until(lambda: len(index.usage) == 2, what="the good subscriber")
    assert sorted(u[0] for u in index.usage.values()) == [1, 100]
    pub.send(b"s120-not-for-the-flooder")
    assert good.poll(TIMEOUT_MS)
    good.close()
    peer.close()
