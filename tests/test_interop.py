"""Interop with libzmq 4.3.5 through pyzmq: vmzmq sockets talk ZMTP 3.x to real libzmq sockets.

Every valid socket-type pair in both roles, over tcp and ipc, with either library binding;
multipart with empty frames and large frames; PUB/SUB filtering both ways; REQ/REP across
ROUTER/DEALER proxies; routing ids and metadata; heartbeats; reconnects; and ZMTP 3.0 peers
(hand-rolled, since libzmq speaks 3.1). pyzmq is a test-only dependency.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq  # pyzmq, a test dependency (libzmq is the peer here): missing, this fails

import vmzmq
from interop_helpers import (
    TIMEOUT,
    TIMEOUT_MS,
    RawListener,
    RawZmtpPeer,
    assert_silent,
    bind_endpoint,
    cleanup_ipc,
    drain_until,
    events_during,
    free_tcp_port,
    ipc_path,
    last_endpoint,
    publish_until,
    recv_touching,
    recv_within,
    send_until_routable,
    wait_event,
)

pytestmark = pytest.mark.interop

TRANSPORTS = ["tcp", "ipc"]
SUBSCRIBE = 6  # same value in both libraries
UNSUBSCRIBE = 7
EVENT_DISCONNECTED = 0x0200


# -- rig -------------------------------------------------------------------------------------------
class Rig:
    """One vmzmq and one pyzmq context; every socket has LINGER 0 and 5 s timeouts."""

    def __init__(self) -> None:
        self.vctx = vmzmq.Context()
        self.zctx = zmq.Context()
        self.endpoints: list[str] = []

    def sock(self, lib: str, kind: str, **opts: Any) -> Any:
        ctx = self.vctx if lib == "vm" else self.zctx
        mod = vmzmq if lib == "vm" else zmq
        s = ctx.socket(getattr(mod, kind))
        s.linger = 0
        s.rcvtimeo = TIMEOUT_MS
        s.sndtimeo = TIMEOUT_MS
        for name, value in opts.items():
            setattr(s, name, value)
        return s

    def bind(self, s: Any, transport: str) -> str:
        s.bind(bind_endpoint(transport))
        ep = last_endpoint(s)
        self.endpoints.append(ep)
        return ep

    def pair(
        self,
        transport: str,
        a: tuple[str, str],
        b: tuple[str, str],
        a_binds: bool,
        a_opts: dict | None = None,
        b_opts: dict | None = None,
    ) -> tuple[Any, Any]:
        """Sockets ``a`` = (lib, type) and ``b``; one binds, the other connects to it."""
        sa = self.sock(*a, **(a_opts or {}))
        sb = self.sock(*b, **(b_opts or {}))
        binder, connecter = (sa, sb) if a_binds else (sb, sa)
        connecter.connect(self.bind(binder, transport))
        return sa, sb

    def close(self) -> None:
        self.vctx.destroy(linger=0)
        self.zctx.destroy(linger=0)
        for ep in self.endpoints:
            cleanup_ipc(ep)


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


def other(lib: str) -> str:
    return "zmq" if lib == "vm" else "vm"


# -- every valid socket-type pair ------------------------------------------------------------------
def check_pair(a: Any, b: Any, a_binds: bool) -> None:
    a.send_multipart([b"", b"ping", b""])
    assert recv_within(b) == [b"", b"ping", b""]
    b.send_multipart([b"pong", b""])
    assert recv_within(a) == [b"pong", b""]


def check_pub_sub(a: Any, b: Any, a_binds: bool) -> None:
    b.setsockopt(SUBSCRIBE, b"t")
    assert publish_until(a, b, [b"t", b"", b"x"]) == [b"t", b"", b"x"]


def check_xpub_xsub(a: Any, b: Any, a_binds: bool) -> None:
    b.send(b"\x01t")
    assert recv_touching(a, b) == [b"\x01t"]
    a.send_multipart([b"t-1", b""])  # the subscription is in: no slow joiner
    assert recv_within(b) == [b"t-1", b""]
    b.send(b"upstream data")  # not a subscription: the XPUB user receives it as is
    assert recv_within(a) == [b"upstream data"]
    b.send(b"\x00t")
    assert recv_within(a) == [b"\x00t"]


def check_xpub_sub(a: Any, b: Any, a_binds: bool) -> None:
    b.setsockopt(SUBSCRIBE, b"t")
    assert recv_touching(a, b) == [b"\x01t"]
    a.send_multipart([b"t-1", b"", b"z"])
    assert recv_within(b) == [b"t-1", b"", b"z"]
    b.setsockopt(UNSUBSCRIBE, b"t")
    assert recv_within(a) == [b"\x00t"]


def check_pub_xsub(a: Any, b: Any, a_binds: bool) -> None:
    b.send(b"\x01t")
    assert publish_until(a, b, [b"t-1", b""]) == [b"t-1", b""]


def check_push_pull(a: Any, b: Any, a_binds: bool) -> None:
    a.send_multipart([b"", b"x", b""])
    a.send(b"y")
    assert recv_within(b) == [b"", b"x", b""]
    assert recv_within(b) == [b"y"]


def check_req_rep(a: Any, b: Any, a_binds: bool) -> None:
    for i in range(3):
        a.send_multipart([b"q%d" % i, b"", b"z"])
        assert recv_within(b) == [b"q%d" % i, b"", b"z"]
        b.send_multipart([b"r%d" % i, b""])
        assert recv_within(a) == [b"r%d" % i, b""]


def check_req_router(a: Any, b: Any, a_binds: bool) -> None:
    for i in range(3):
        a.send_multipart([b"q%d" % i, b""])
        rid, delim, *body = recv_within(b)
        assert rid and delim == b"" and body == [b"q%d" % i, b""]
        b.send_multipart([rid, b"", b"r%d" % i])
        assert recv_within(a) == [b"r%d" % i]


def check_dealer_rep(a: Any, b: Any, a_binds: bool) -> None:
    for i in range(3):
        a.send_multipart([b"", b"q%d" % i, b""])
        assert recv_within(b) == [b"q%d" % i, b""]
        b.send(b"r%d" % i)
        assert recv_within(a) == [b"", b"r%d" % i]


def check_dealer_router(a: Any, b: Any, a_binds: bool) -> None:
    a.send_multipart([b"x", b""])
    rid, *body = recv_within(b)
    assert rid and body == [b"x", b""]
    b.send_multipart([rid, b"", b"y"])
    assert recv_within(a) == [b"", b"y"]


def check_dealer_dealer(a: Any, b: Any, a_binds: bool) -> None:
    a.send_multipart([b"", b"a->b"])
    assert recv_within(b) == [b"", b"a->b"]
    b.send_multipart([b"b->a", b""])
    assert recv_within(a) == [b"b->a", b""]


def check_router_router(a: Any, b: Any, a_binds: bool) -> None:
    # Explicit routing ids both ways; the connecting side speaks first (it knows the id it
    # connected to), retrying on EHOSTUNREACH until the handshake is done.
    binder, connecter = (a, b) if a_binds else (b, a)
    send_until_routable(connecter, [binder.routing_id, b"", b"hello"])
    assert recv_within(binder) == [connecter.routing_id, b"", b"hello"]
    binder.send_multipart([connecter.routing_id, b"world", b""])
    assert recv_within(connecter) == [binder.routing_id, b"world", b""]


PAIRS: list[tuple[str, str, Callable[[Any, Any, bool], None]]] = [
    ("PAIR", "PAIR", check_pair),
    ("PUB", "SUB", check_pub_sub),
    ("XPUB", "XSUB", check_xpub_xsub),
    ("XPUB", "SUB", check_xpub_sub),
    ("PUB", "XSUB", check_pub_xsub),
    ("PUSH", "PULL", check_push_pull),
    ("REQ", "REP", check_req_rep),
    ("REQ", "ROUTER", check_req_router),
    ("DEALER", "REP", check_dealer_rep),
    ("DEALER", "ROUTER", check_dealer_router),
    ("DEALER", "DEALER", check_dealer_dealer),
    ("ROUTER", "ROUTER", check_router_router),
]

PAIR_CASES = []
for _a, _b, _check in PAIRS:
    for _vm_is_a in (True, False):
        if _a == _b and not _vm_is_a:
            continue  # symmetric: the other role assignment is the same test
        _name = f"vm{_a}-zmq{_b}" if _vm_is_a else f"zmq{_a}-vm{_b}"
        PAIR_CASES.append(pytest.param(_a, _b, _check, _vm_is_a, id=_name))


@pytest.mark.parametrize("binder", ["vm_binds", "zmq_binds"])
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("type_a", "type_b", "check", "vm_is_a"), PAIR_CASES)
def test_socket_type_pair(
    rig: Rig,
    transport: str,
    binder: str,
    type_a: str,
    type_b: str,
    check: Callable[[Any, Any, bool], None],
    vm_is_a: bool,
) -> None:
    lib_a = "vm" if vm_is_a else "zmq"
    lib_b = other(lib_a)
    a_binds = (binder == "vm_binds") == vm_is_a
    a_opts: dict = {}
    b_opts: dict = {}
    if type_a == type_b == "ROUTER":
        a_opts = {"routing_id": f"{lib_a}-router-a".encode(), "router_mandatory": 1}
        b_opts = {"routing_id": f"{lib_b}-router-b".encode(), "router_mandatory": 1}
    a, b = rig.pair(transport, (lib_a, type_a), (lib_b, type_b), a_binds, a_opts, b_opts)
    check(a, b, a_binds)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("client_lib", "server_lib"),
    [("vm", "zmq"), ("zmq", "vm"), ("zmq", "zmq")],
    ids=["vm_client-zmq_server", "zmq_client-vm_server", "reference-zmq-zmq"],
)
def test_stream_raw_bytes(rig: Rig, transport: str, client_lib: str, server_lib: str) -> None:
    """STREAM is raw bytes on the wire: a vmzmq STREAM and a libzmq STREAM exchange data, see
    each other's connect notifications, and the server's empty send closes the connection,
    which the client sees as a disconnect notification."""
    server = rig.sock(server_lib, "STREAM")
    client = rig.sock(client_lib, "STREAM")
    client.connect(rig.bind(server, transport))

    cid, empty = recv_within(client)  # STREAM_NOTIFY: the connection is up
    assert empty == b""
    sid, empty = recv_within(server)
    assert empty == b""

    def read_exactly(sock: Any, rid: bytes, n: int) -> bytes:
        data = b""
        while len(data) < n:
            got_id, chunk = recv_within(sock)
            assert got_id == rid and chunk, (got_id, chunk)
            data += chunk
        assert len(data) == n
        return data

    payload = bytes(range(256)) * 1024  # 256 KiB: arrives in chunks of the peer's choosing
    client.send(cid, zmq.SNDMORE)
    client.send(payload)
    assert read_exactly(server, sid, len(payload)) == payload
    server.send_multipart([sid, b"raw reply"])
    assert read_exactly(client, cid, 9) == b"raw reply"

    # An empty message closes that connection (libzmq does this for accepted connections
    # only); the other side gets a disconnect notification.
    server.send_multipart([sid, b""])
    # (a libzmq server closes it only once its thread enters libzmq again: keep it polled)
    assert recv_touching(client, server) == [cid, b""]


def test_stream_vm_server_plain_tcp_client(rig: Rig) -> None:
    server = rig.sock("vm", "STREAM")
    ep = rig.bind(server, "tcp")
    host, port = ep[len("tcp://") :].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as c:
        sid, empty = recv_within(server)
        assert empty == b""
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while len(data) < 18:
            got_id, chunk = recv_within(server)
            assert got_id == sid
            data += chunk
        assert data == b"GET / HTTP/1.0\r\n\r\n"
        server.send_multipart([sid, b"HTTP/1.0 200 OK\r\n\r\nhi"])
        server.send_multipart([sid, b""])
        got = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            got += chunk
        assert got == b"HTTP/1.0 200 OK\r\n\r\nhi"


# -- frames and volume -----------------------------------------------------------------------------
DIRECTIONS = ["vm_to_zmq", "zmq_to_vm"]


def _sender_receiver(rig: Rig, transport: str, direction: str, binder: str, kinds=("PAIR", "PAIR")):
    send_lib = "vm" if direction == "vm_to_zmq" else "zmq"
    recv_lib = other(send_lib)
    sender_binds = (binder == "vm_binds") == (send_lib == "vm")
    return rig.pair(transport, (send_lib, kinds[0]), (recv_lib, kinds[1]), sender_binds)


@pytest.mark.parametrize("binder", ["vm_binds", "zmq_binds"])
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_frame_sizes(rig: Rig, transport: str, direction: str, binder: str) -> None:
    sender, receiver = _sender_receiver(rig, transport, direction, binder)
    mib = os.urandom(1 << 20)
    msg = [b"", b"a" * 255, b"b" * 256, mib, b"", mib + b"!", b"c" * 65536, b""]
    sender.send_multipart(msg)
    got = recv_within(receiver)
    assert [len(f) for f in got] == [len(f) for f in msg]
    assert got == msg
    # and back the other way on the same connection
    receiver.send_multipart(msg[::-1])
    assert recv_within(sender) == msg[::-1]

    big = os.urandom(16 << 20)
    sender.send(big)
    got = recv_within(receiver, 20000)
    assert len(got) == 1 and len(got[0]) == len(big) and got[0] == big


@pytest.mark.parametrize("binder", ["vm_binds", "zmq_binds"])
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_many_small_messages_in_order(
    rig: Rig, transport: str, direction: str, binder: str
) -> None:
    n = 50_000
    push, pull = _sender_receiver(rig, transport, direction, binder, ("PUSH", "PULL"))
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for i in range(n):
                push.send(b"%d" % i)
            push.send_multipart([b"end", b""])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    expected = 0
    while True:
        msg = recv_within(pull)
        if msg == [b"end", b""]:
            break
        assert msg == [b"%d" % expected], f"message {expected} lost or out of order: {msg!r}"
        expected += 1
    t.join(TIMEOUT)
    assert not errors, errors
    assert expected == n


@pytest.mark.parametrize("pattern", [("PUSH", "PULL"), ("PUB", "SUB")], ids=["push", "pub"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_corked_bursts_of_every_frame_size_reach_libzmq(
    rig: Rig, transport: str, pattern: tuple[str, str]
) -> None:
    """A burst is corked after its first message, and a corked one-frame message is framed by
    the connection itself: short and long headers, around the 255/256 and 64 KiB limits,
    decoded by libzmq in order."""
    sender, receiver = _sender_receiver(rig, transport, "vm_to_zmq", "vm_binds", pattern)
    if pattern[1] == "SUB":
        receiver.setsockopt(SUBSCRIBE, b"")
        deadline = time.monotonic() + TIMEOUT
        while not receiver.poll(10):  # until the subscription has reached the publisher
            assert time.monotonic() < deadline, "subscription never arrived"
            sender.send(b"probe")
    sizes = [0, 1, 254, 255, 256, 257, 1000, 65535 - 9, 65535, 65536, 70000]
    msgs = [(b"%d:" % i).ljust(size, b"x") for i in range(30) for size in sizes]
    for m in msgs:
        sender.send(m)
    first = recv_within(receiver)[0]
    while first == b"probe":  # probes still in flight come first (one connection: in order)
        first = recv_within(receiver)[0]
    got = [first] + [recv_within(receiver)[0] for _ in msgs[1:]]
    assert [len(m) for m in got] == [len(m) for m in msgs]
    assert got == msgs


def test_linger_delivers_to_libzmq_after_close(rig: Rig) -> None:
    """Messages still queued in a vmzmq PUSH (the libzmq PULL is slow: RCVHWM 10, 12 MiB in
    flight) are delivered after close(linger=...). tcp only: over ipc libzmq itself drops
    what is unread when the peer hangs up while its input is paused (pyzmq-only loses too)."""
    pull = rig.sock("zmq", "PULL", rcvhwm=10)
    ep = rig.bind(pull, "tcp")
    push = rig.sock("vm", "PUSH", sndhwm=0)
    push.connect(ep)
    n = 200
    body = b"x" * (64 << 10)
    for i in range(n):
        push.send_multipart([b"%d" % i, body])
    push.close(linger=TIMEOUT_MS)
    for i in range(n):
        assert recv_within(pull) == [b"%d" % i, body]


# -- PUB/SUB filtering -----------------------------------------------------------------------------
@pytest.mark.parametrize("pub_binds", [True, False], ids=["pub_binds", "sub_binds"])
@pytest.mark.parametrize("pub_lib", ["vm", "zmq"], ids=["vmPUB-zmqSUB", "zmqPUB-vmSUB"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pubsub_filtering_and_unsubscribe(
    rig: Rig, transport: str, pub_lib: str, pub_binds: bool
) -> None:
    pub, sub = rig.pair(transport, (pub_lib, "PUB"), (other(pub_lib), "SUB"), pub_binds)
    sub.setsockopt(SUBSCRIBE, b"a")
    sub.setsockopt(SUBSCRIBE, b"bb")
    # "bb" went out after "a" on the same connection: once it works, both are in place
    assert publish_until(pub, sub, [b"bb-sync"]) == [b"bb-sync"]
    for topic in (b"b-no", b"a1", b"c-no", b"bb1", b"", b"b", b"bb", b"a"):
        pub.send(topic)
    pub.send(b"a-end")
    got = [m for m in drain_until(sub, [b"a-end"]) if m != [b"bb-sync"]]
    assert got == [[b"a1"], [b"bb1"], [b"bb"], [b"a"]]

    sub.setsockopt(UNSUBSCRIBE, b"a")
    # Until the cancel reaches the publisher "a" messages still come; then only "bb" ones.
    deadline = time.monotonic() + TIMEOUT
    i = 0
    while True:
        i += 1
        pub.send(b"a-%d" % i)
        pub.send(b"bb-%d" % i)
        first = recv_within(sub)
        if first == [b"bb-%d" % i]:
            break  # a-i was filtered out: the cancel is in effect
        assert first == [b"a-%d" % i]
        assert recv_within(sub) == [b"bb-%d" % i]
        assert time.monotonic() < deadline, "UNSUBSCRIBE never took effect at the publisher"
    pub.send(b"a-late")
    pub.send(b"bb-end")
    assert drain_until(sub, [b"bb-end"]) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pyzmq_subscribe_methods(rig: Rig, transport: str) -> None:
    """pyzmq code subscribes with ``sock.subscribe(topic)`` / ``sock.unsubscribe(topic)`` (bytes
    or str); on a vmzmq SUB that must reach a libzmq publisher like SUBSCRIBE/UNSUBSCRIBE."""
    xpub, sub = rig.pair(transport, ("zmq", "XPUB"), ("vm", "SUB"), True)
    sub.subscribe(b"abc")
    assert recv_within(xpub) == [b"\x01abc"]
    sub.subscribe("txt")
    assert recv_within(xpub) == [b"\x01txt"]
    xpub.send(b"abc-1")
    assert recv_within(sub) == [b"abc-1"]
    sub.unsubscribe(b"abc")
    assert recv_within(xpub) == [b"\x00abc"]
    sub.unsubscribe("txt")
    assert recv_within(xpub) == [b"\x00txt"]


@pytest.mark.parametrize("vm_binds", [True, False], ids=["vm_binds", "zmq_binds"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_vm_xpub_sees_libzmq_subscriptions(rig: Rig, transport: str, vm_binds: bool) -> None:
    xpub, sub = rig.pair(transport, ("vm", "XPUB"), ("zmq", "SUB"), vm_binds)
    sub.setsockopt(SUBSCRIBE, b"topic")
    assert recv_touching(xpub, sub) == [b"\x01topic"]
    sub.setsockopt(SUBSCRIBE, b"")
    assert recv_within(xpub) == [b"\x01"]
    xpub.send_multipart([b"topic-1", b"x"])
    assert recv_within(sub) == [b"topic-1", b"x"]
    sub.setsockopt(UNSUBSCRIBE, b"topic")
    assert recv_within(xpub) == [b"\x00topic"]
    sub.setsockopt(UNSUBSCRIBE, b"")
    assert recv_within(xpub) == [b"\x00"]


@pytest.mark.parametrize("vm_binds", [True, False], ids=["vm_binds", "zmq_binds"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_vm_xsub_subscribes_at_libzmq_xpub(rig: Rig, transport: str, vm_binds: bool) -> None:
    xsub, xpub = rig.pair(transport, ("vm", "XSUB"), ("zmq", "XPUB"), vm_binds)
    xsub.send(b"\x01topic")
    assert recv_within(xpub) == [b"\x01topic"]
    xpub.send(b"other")
    xpub.send(b"topic-1")
    assert recv_within(xsub) == [b"topic-1"]
    xsub.send(b"\x00topic")
    assert recv_within(xpub) == [b"\x00topic"]


@pytest.mark.parametrize(
    ("xpub_lib", "sub_lib"),
    [("zmq", "zmq"), ("zmq", "vm"), ("vm", "zmq")],
    ids=["reference-zmq-zmq", "zmqXPUB-vmSUB", "vmXPUB-zmqSUB"],
)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_subscription_counting(rig: Rig, transport: str, xpub_lib: str, sub_lib: str) -> None:
    """Subscribe twice, unsubscribe twice, as libzmq counts it: a SUB sends every SUBSCRIBE but
    a CANCEL only when its last subscription to the topic goes; an XPUB keeps one entry per
    peer and topic, so one CANCEL removes it. (zmq-zmq is the reference run.)"""
    xpub, sub = rig.pair(transport, (xpub_lib, "XPUB"), (sub_lib, "SUB"), True)
    sub.setsockopt(SUBSCRIBE, b"abc")
    assert recv_within(xpub) == [b"\x01abc"]
    sub.setsockopt(SUBSCRIBE, b"abc")
    sub.setsockopt(UNSUBSCRIBE, b"abc")  # one "abc" subscription is left
    sub.setsockopt(SUBSCRIBE, b"marker")  # same connection, so it arrives after the above
    assert recv_within(xpub) == [b"\x01marker"], "a CANCEL went out while still subscribed"
    # still subscribed: the publisher must still send "abc" messages
    assert publish_until(xpub, sub, [b"abc-1"]) == [b"abc-1"]
    sub.setsockopt(UNSUBSCRIBE, b"abc")  # the last one: now the publisher hears of it
    assert recv_within(xpub) == [b"\x00abc"], "the last UNSUBSCRIBE did not reach the XPUB"


@pytest.mark.parametrize("sub_lib", ["zmq", "vm"], ids=["reference-zmqSUB", "vmSUB"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sub_subscribed_before_connect_sends_each_once(
    rig: Rig, transport: str, sub_lib: str
) -> None:
    """A subscription made after connect() but before the connection is up goes out once, not
    twice (an XPUB_VERBOSE peer, or a publisher that counts, would see the duplicate).
    Deterministic: the SUB connects before the XPUB binds."""
    ep = f"tcp://127.0.0.1:{free_tcp_port()}" if transport == "tcp" else f"ipc://{ipc_path()}"
    rig.endpoints.append(ep)
    sub = rig.sock(sub_lib, "SUB")
    sub.connect(ep)
    sub.setsockopt(SUBSCRIBE, b"abc")
    xpub = rig.sock("zmq", "XPUB", xpub_verbose=1)
    xpub.bind(ep)
    assert recv_within(xpub) == [b"\x01abc"]
    sub.setsockopt(SUBSCRIBE, b"marker")
    assert recv_within(xpub) == [b"\x01marker"], "the subscription was sent twice"


# -- REQ/REP across ROUTER/DEALER ------------------------------------------------------------------
def _proxy(lib: Any, frontend: Any, backend: Any, stop: threading.Event, errors: list) -> None:
    try:
        poller = lib.Poller()
        poller.register(frontend, lib.POLLIN)
        poller.register(backend, lib.POLLIN)
        while not stop.is_set():
            for s, _ in poller.poll(20):
                msg = s.recv_multipart()
                (backend if s is frontend else frontend).send_multipart(msg)
    except BaseException as exc:
        errors.append(exc)


@pytest.mark.parametrize("proxy_lib", ["vm", "zmq"], ids=["vm_proxy", "zmq_proxy"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_req_rep_through_router_dealer_proxy(rig: Rig, transport: str, proxy_lib: str) -> None:
    """pyzmq REQs -> vmzmq ROUTER/DEALER proxy -> pyzmq REPs, and the mirror image."""
    end_lib = other(proxy_lib)
    frontend = rig.sock(proxy_lib, "ROUTER")
    backend = rig.sock(proxy_lib, "DEALER")
    fe = rig.bind(frontend, transport)
    be = rig.bind(backend, transport)
    reps = [rig.sock(end_lib, "REP") for _ in range(2)]
    reqs = [rig.sock(end_lib, "REQ") for _ in range(3)]
    for r in reps:
        r.connect(be)
    for r in reqs:
        r.connect(fe)
    stop = threading.Event()
    errors: list = []
    t = threading.Thread(
        target=_proxy,
        args=(vmzmq if proxy_lib == "vm" else zmq, frontend, backend, stop, errors),
        daemon=True,
    )
    t.start()
    try:
        served = [0, 0]
        for round_ in range(4):
            for i, req in enumerate(reqs):
                req.send_multipart([b"req %d.%d" % (i, round_), b""])
            for _ in reqs:
                # each request reaches one REP; answer whichever has one
                deadline = time.monotonic() + TIMEOUT
                while True:
                    ready = [k for k, r in enumerate(reps) if r.poll(10)]
                    if ready:
                        break
                    assert time.monotonic() < deadline, "a request never reached a REP"
                k = ready[0]
                body = reps[k].recv_multipart()
                served[k] += 1
                reps[k].send_multipart([b"rep from %d to " % k + body[0], b""])
            for i, req in enumerate(reqs):
                got = recv_within(req)
                assert got[0].endswith(b" to req %d.%d" % (i, round_)) and got[1:] == [b""]
        assert all(served), f"the DEALER did not load-balance: {served}"
    finally:
        stop.set()
        t.join(TIMEOUT)
    assert not errors, errors


@pytest.mark.parametrize("vm_binds", [True, False], ids=["vm_binds", "zmq_binds"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_identities_libzmq_dealer_to_vm_router(rig: Rig, transport: str, vm_binds: bool) -> None:
    router = rig.sock("vm", "ROUTER")
    alice = rig.sock("zmq", "DEALER", routing_id=b"alice")
    bob = rig.sock("zmq", "DEALER", routing_id=b"bob")
    if vm_binds:
        ep = rig.bind(router, transport)
        alice.connect(ep)
        bob.connect(ep)
    else:
        router.connect(rig.bind(alice, transport))
        router.connect(rig.bind(bob, transport))
    alice.send(b"from alice")
    bob.send(b"from bob")
    got = sorted([recv_within(router), recv_within(router)])
    assert got == [[b"alice", b"from alice"], [b"bob", b"from bob"]]
    router.send_multipart([b"bob", b"to bob"])
    router.send_multipart([b"alice", b"to alice"])
    assert recv_within(alice) == [b"to alice"]
    assert recv_within(bob) == [b"to bob"]


@pytest.mark.parametrize("vm_binds", [True, False], ids=["vm_binds", "zmq_binds"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_identities_vm_dealer_to_libzmq_router(rig: Rig, transport: str, vm_binds: bool) -> None:
    dealer, router = rig.pair(
        transport, ("vm", "DEALER"), ("zmq", "ROUTER"), vm_binds, {"routing_id": b"bob"}
    )
    dealer.send_multipart([b"", b"hi"])
    assert recv_within(router) == [b"bob", b"", b"hi"]
    router.send_multipart([b"bob", b"", b"back"])
    assert recv_within(dealer) == [b"", b"back"]


def test_vm_router_connect_routing_id_to_libzmq_router(rig: Rig) -> None:
    """CONNECT_ROUTING_ID names a libzmq ROUTER peer we connect to; it sees our ROUTING_ID."""
    zr = rig.sock("zmq", "ROUTER", routing_id=b"server")
    vr = rig.sock("vm", "ROUTER", routing_id=b"client", router_mandatory=1)
    ep = rig.bind(zr, "tcp")
    vr.connect_routing_id = b"srv-alias"
    vr.connect(ep)
    send_until_routable(vr, [b"srv-alias", b"hello"])
    assert recv_within(zr) == [b"client", b"hello"]
    zr.send_multipart([b"client", b"hi"])
    assert recv_within(vr) == [b"srv-alias", b"hi"]


@pytest.mark.parametrize("req_lib", ["vm", "zmq"], ids=["vmREQ-zmqREP", "zmqREQ-vmREP"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_req_relaxed_correlate(rig: Rig, transport: str, req_lib: str) -> None:
    """REQ_RELAXED + REQ_CORRELATE: the request-id envelope survives the other library's REP,
    and the reply to an abandoned request is dropped."""
    req, rep = rig.pair(
        transport,
        (req_lib, "REQ"),
        (other(req_lib), "REP"),
        False,
        {"req_relaxed": 1, "req_correlate": 1},
    )
    req.send(b"first")
    req.send(b"second")  # relaxed: no reply needed before a new request
    assert recv_within(rep) == [b"first"]
    rep.send(b"reply to first")
    assert recv_within(rep) == [b"second"]
    rep.send(b"reply to second")
    assert recv_within(req) == [b"reply to second"]
    assert_silent(req, 50)


@pytest.mark.parametrize(
    "dealer_lib", ["vm", "zmq"], ids=["vmDEALER-zmqROUTER", "zmqDEALER-vmROUTER"]
)
def test_probe_router(rig: Rig, dealer_lib: str) -> None:
    """PROBE_ROUTER on the connecting side: the ROUTER gets [id, b""] before anything else."""
    router = rig.sock(other(dealer_lib), "ROUTER")
    dealer = rig.sock(dealer_lib, "DEALER", routing_id=b"prober", probe_router=1)
    dealer.connect(rig.bind(router, "tcp"))
    assert recv_within(router) == [b"prober", b""]
    router.send_multipart([b"prober", b"seen"])
    assert recv_within(dealer) == [b"seen"]


def test_incompatible_socket_types_refused(rig: Rig) -> None:
    """A libzmq peer of an incompatible type (DEALER to PULL) is refused in the handshake; a
    compatible one (PUSH) on the same endpoint works, and nothing from the refused one leaks."""
    pull = rig.sock("vm", "PULL")
    ep = rig.bind(pull, "tcp")
    bad = rig.sock("zmq", "DEALER")
    bad.connect(ep)
    bad.send(b"bad")  # queued in libzmq: the handshake never completes, so never sent
    good = rig.sock("zmq", "PUSH")
    good.connect(ep)
    good.send(b"good")
    assert recv_within(pull) == [b"good"]
    assert_silent(pull, 200)
    # and the other way: a vmzmq PUB connecting to a libzmq PULL is refused by libzmq
    zpull = rig.sock("zmq", "PULL")
    zep = rig.bind(zpull, "tcp")
    vpub = rig.sock("vm", "PUB")
    vpush = rig.sock("vm", "PUSH")
    vpub.connect(zep)
    vpush.connect(zep)
    for _ in range(3):
        vpub.send(b"from pub")
    vpush.send(b"from push")
    assert recv_within(zpull) == [b"from push"]
    assert_silent(zpull, 200)


@pytest.mark.parametrize(
    ("bind_ep", "connect_host"),
    [("tcp://*:*", "127.0.0.1"), ("tcp://127.0.0.1:*", "localhost"), ("tcp://[::1]:*", "[::1]")],
    ids=["wildcard", "hostname", "ipv6"],
)
@pytest.mark.parametrize("vm_binds", [True, False], ids=["vm_binds", "zmq_binds"])
def test_tcp_address_forms(rig: Rig, bind_ep: str, connect_host: str, vm_binds: bool) -> None:
    if "::1" in bind_ep:
        if not socket.has_ipv6:
            pytest.skip("no IPv6 on this host")
        try:
            with socket.socket(socket.AF_INET6) as s6:
                s6.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback on this host")
    opts = {"ipv6": 1} if "::1" in bind_ep else {}
    server = rig.sock("vm" if vm_binds else "zmq", "REP", **opts)
    client = rig.sock("zmq" if vm_binds else "vm", "REQ", **opts)
    server.bind(bind_ep)
    port = last_endpoint(server).rsplit(":", 1)[1]
    client.connect(f"tcp://{connect_host}:{port}")
    client.send(b"hi")
    assert recv_within(server) == [b"hi"]
    server.send(b"there")
    assert recv_within(client) == [b"there"]


# -- metadata --------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_metadata_from_libzmq(rig: Rig, transport: str) -> None:
    router, dealer = rig.pair(
        transport, ("vm", "ROUTER"), ("zmq", "DEALER"), True, b_opts={"routing_id": b"alice"}
    )
    dealer.send_multipart([b"a", b""])
    frames = recv_within(router, copy=False)
    assert [f.bytes for f in frames] == [b"alice", b"a", b""]
    for f in frames[1:]:
        assert f.get("Socket-Type") == "DEALER"
        assert f.get("Identity") == "alice"
    if transport == "tcp":
        assert frames[1].get("Peer-Address") == "127.0.0.1"

    pull, push = rig.pair(transport, ("vm", "PULL"), ("zmq", "PUSH"), False)
    push.send(b"x")
    (f,) = recv_within(pull, copy=False)
    assert f.get("Socket-Type") == "PUSH"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_metadata_seen_by_libzmq(rig: Rig, transport: str) -> None:
    router, dealer = rig.pair(
        transport, ("zmq", "ROUTER"), ("vm", "DEALER"), False, b_opts={"routing_id": b"bob"}
    )
    dealer.send_multipart([b"a", b""])
    frames = recv_within(router, copy=False)
    assert [f.bytes for f in frames] == [b"bob", b"a", b""]
    assert frames[1].get("Socket-Type") == "DEALER"
    assert frames[1].get("Identity") == "bob"

    pull, push = rig.pair(transport, ("zmq", "PULL"), ("vm", "PUSH"), True)
    push.send(b"x")
    (f,) = recv_within(pull, copy=False)
    assert f.get("Socket-Type") == "PUSH"


def test_user_metadata_from_libzmq(rig: Rig) -> None:
    dealer = rig.sock("zmq", "DEALER")
    dealer.setsockopt(zmq.METADATA, b"X-Hello:world")
    router = rig.sock("vm", "ROUTER")
    dealer.connect(rig.bind(router, "tcp"))
    dealer.send(b"x")
    frames = recv_within(router, copy=False)
    assert frames[1].get("X-Hello") == "world"


def test_user_metadata_seen_by_libzmq(rig: Rig) -> None:
    """ZMQ_METADATA: "X-" properties set on a vmzmq socket go out in READY."""
    dealer = rig.sock("vm", "DEALER")
    dealer.setsockopt(vmzmq.METADATA, b"X-Hello:world")
    router = rig.sock("zmq", "ROUTER")
    dealer.connect(rig.bind(router, "tcp"))
    dealer.send(b"x")
    frames = recv_within(router, copy=False)
    assert frames[1].get("Socket-Type") == "DEALER"
    assert frames[1].get("X-Hello") == "world"


# -- heartbeats ------------------------------------------------------------------------------------
# PINGs every 100 ms; a peer is dropped 1 s after a PING it did not answer (or 2 s without
# traffic, for a TTL). Generous against a loaded machine, where a process may not run for a
# few hundred ms (dropping it then would be right), and still short of the 2.5 s windows below
# in which a peer that never answered would be dropped.
HB = {"heartbeat_ivl": 100, "heartbeat_timeout": 1000}
HB_WINDOW = 2.5
HEARTBEATS = {
    "vm_pings": ({**HB, "heartbeat_ttl": 2000}, {}),
    "zmq_pings": ({}, HB),
    "zmq_pings_with_ttl": ({}, {**HB, "heartbeat_ttl": 2000}),
}


@pytest.mark.parametrize("pinger", list(HEARTBEATS))
@pytest.mark.parametrize("vm_binds", [True, False], ids=["vm_binds", "zmq_binds"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_heartbeats_keep_a_live_connection(
    rig: Rig, transport: str, vm_binds: bool, pinger: str
) -> None:
    """One side sends PINGs every 100 ms with a 1 s timeout (and maybe a 2 s TTL); the other
    answers (libzmq answers ours, we answer libzmq's; any traffic counts): the connection
    survives past the timeout and the TTL, where an unanswered one would be dropped."""
    v_opts, z_opts = HEARTBEATS[pinger]
    vdealer, zrouter = rig.pair(
        transport,
        ("vm", "DEALER"),
        ("zmq", "ROUTER"),
        vm_binds,
        {"routing_id": b"v", **v_opts},
        z_opts,
    )
    zmon = zrouter.get_monitor_socket()
    vmon = vdealer.get_monitor_socket()
    vdealer.send(b"one")
    assert recv_within(zrouter) == [b"v", b"one"]
    # Watch both monitors through an idle, heart-beaten spell longer than TIMEOUT and TTL.
    seen_z = events_during(zmon, HB_WINDOW)
    seen_v = events_during(vmon, 0.05)
    assert EVENT_DISCONNECTED not in seen_v, f"vmzmq dropped the connection: {seen_v}"
    assert EVENT_DISCONNECTED not in seen_z, f"libzmq saw a disconnect: {seen_z}"
    zrouter.send_multipart([b"v", b"two"])
    assert recv_within(vdealer) == [b"two"]
    vdealer.send(b"three")
    assert recv_within(zrouter) == [b"v", b"three"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_heartbeats_answered_after_a_blocking_recv(rig: Rig, transport: str) -> None:
    """A blocking recv reads its connection in the calling thread and keeps it from the I/O
    thread for a while after (see SocketCore.wait). Once the caller goes idle the I/O thread
    must take it back and answer libzmq's PINGs, or libzmq drops us after its timeout."""
    vdealer, zrouter = rig.pair(
        transport, ("vm", "DEALER"), ("zmq", "ROUTER"), True, {"routing_id": b"v"}, HB
    )
    zmon = zrouter.get_monitor_socket()
    vdealer.send(b"one")
    assert recv_within(zrouter) == [b"v", b"one"]
    zrouter.send_multipart([b"v", b"two"])
    vdealer.rcvtimeo = 2000
    assert vdealer.recv() == b"two"  # blocking: the connection is now the caller's
    seen_z = events_during(zmon, HB_WINDOW)  # past libzmq's timeout, no call on vdealer
    assert EVENT_DISCONNECTED not in seen_z, f"libzmq saw a disconnect: {seen_z}"
    zrouter.send_multipart([b"v", b"three"])
    assert vdealer.recv() == b"three"


def _silent_peer_drop_time(
    rig: Rig, ivl: int, timeout: int, vm_connects: bool, lib: str = "vm"
) -> tuple[float, RawZmtpPeer, RawListener | None, list, Any]:
    """A DEALER (vmzmq, or libzmq for reference) with heartbeats against a hand-rolled peer that
    completes the handshake and then never answers. Returns (seconds until the DEALER closed
    the connection, the peer, the listener, the commands seen, the DEALER)."""
    opts = {
        "heartbeat_ivl": ivl,
        "heartbeat_timeout": timeout,
        "heartbeat_ttl": 2000,
        "routing_id": b"hb",
        "reconnect_ivl": 50,
    }
    dealer = rig.sock(lib, "DEALER", **opts)
    listener = None
    if vm_connects:
        listener = RawListener()
        dealer.connect(listener.endpoint)
        peer = listener.accept()
    else:
        ep = rig.bind(dealer, "tcp")
        host, port = ep[len("tcp://") :].rsplit(":", 1)
        peer = RawZmtpPeer.connect((host, int(port)))
    # Before the handshake: the DEALER's heartbeat timers start after it, so the time from
    # here is a lower bound that holds however late this thread reads (an upper bound would
    # not hold on a loaded machine, and is not asserted).
    t0 = time.monotonic()
    props = peer.handshake(b"ROUTER")
    assert props["Socket-Type"] == b"DEALER" and props["Identity"] == b"hb"
    pings = []
    deadline = t0 + 30  # only fails a DEALER that never drops the peer (PINGs keep coming)
    peer.sock.settimeout(30)
    try:
        while True:
            kind, item = peer.read_item(pong=False)
            if kind == "command":
                pings.append(item)
            assert time.monotonic() < deadline, f"the silent peer was never dropped ({lib})"
    except EOFError:
        pass
    return time.monotonic() - t0, peer, listener, pings, dealer


@pytest.mark.parametrize("lib", ["zmq", "vm"], ids=["reference-zmq", "vm"])
@pytest.mark.parametrize("connects", [True, False], ids=["dealer_connects", "dealer_binds"])
def test_heartbeat_detects_silent_peer(rig: Rig, connects: bool, lib: str) -> None:
    """With HEARTBEAT_IVL 100 ms and HEARTBEAT_TIMEOUT 600 ms, a peer that stops answering is
    dropped TIMEOUT after the first unanswered PING (libzmq: the timer starts with the PING
    and any received traffic cancels it), i.e. not before ~0.7 s after the handshake, not
    after one interval. A connecting DEALER then reconnects."""
    elapsed, peer, listener, pings, _ = _silent_peer_drop_time(rig, 100, 600, connects, lib)
    try:
        assert pings, "no PING was sent"
        name, data = pings[0]
        assert name == b"PING"
        assert int.from_bytes(data[:2], "big") == 20  # HEARTBEAT_TTL 2000 ms in deciseconds
        assert elapsed >= 0.6, f"dropped after {elapsed:.2f}s, before HEARTBEAT_TIMEOUT (0.6s)"
        if listener is not None:
            peer2 = listener.accept()  # a connecting socket reconnects
            try:
                assert peer2.handshake(b"ROUTER")["Identity"] == b"hb"
            finally:
                peer2.close()
    finally:
        peer.close()
        if listener is not None:
            listener.close()


def test_heartbeat_silent_peer_dropped_and_reconnected(rig: Rig) -> None:
    """A silent peer is dropped (after PINGs only), and the connecting vmzmq socket
    reconnects; traffic flows on the new connection."""
    elapsed, peer, listener, pings, dealer = _silent_peer_drop_time(rig, 100, 300, True)
    assert listener is not None
    try:
        assert pings and all(name == b"PING" for name, _ in pings)
        assert elapsed >= 0.3, f"dropped after {elapsed:.2f}s, before HEARTBEAT_TIMEOUT (0.3s)"
        peer2 = listener.accept()
        try:
            peer2.handshake(b"ROUTER")
            peer2.send_message([b"after reconnect"])
            assert recv_within(dealer) == [b"after reconnect"]
            # and it answers our PINGs with PONGs carrying the context
            peer2.send_command(b"PING", b"\x00\x00ctx42")
            while True:
                kind, item = peer2.read_item()
                if kind == "command" and item[0] == b"PONG":
                    assert item[1] == b"ctx42"
                    break
        finally:
            peer2.close()
    finally:
        peer.close()
        listener.close()


def test_handshake_ivl_drops_a_peer_that_never_greets(rig: Rig) -> None:
    """HANDSHAKE_IVL: a peer that accepts the connection but never sends its greeting (like a
    stopped libzmq process would) is dropped after HANDSHAKE_IVL (not before; how late is not
    asserted), then reconnected."""
    listener = RawListener()
    # 1 s: this test's own raw peer must greet the reconnected DEALER within it, loaded or not.
    dealer = rig.sock("vm", "DEALER", handshake_ivl=1000, reconnect_ivl=50)
    try:
        t0 = time.monotonic()  # before the connection exists: a lower bound for the drop
        dealer.connect(listener.endpoint)
        mute = listener.accept()
        mute.sock.settimeout(20)  # < HANDSHAKE_IVL's default (30 s): only a hang ends here
        data = b""
        try:
            while True:
                chunk = mute.sock.recv(1024)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - t0
        assert data[:1] == b"\xff" and data[10:11] == b"\x03"  # it did send its greeting
        assert elapsed >= 0.95, f"dropped after {elapsed:.2f}s (HANDSHAKE_IVL 1s)"
        mute.close()
        again = listener.accept()  # reconnected
        try:
            again.handshake(b"ROUTER")
            again.send_message([b"ok"])
            assert recv_within(dealer) == [b"ok"]
        finally:
            again.close()
    finally:
        listener.close()


# -- a pyzmq peer in another process ---------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import sys, zmq
    kind, ep, ivl, ttl, tmo = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    ctx = zmq.Context()
    s = ctx.socket(getattr(zmq, kind))
    s.linger = 0
    if ivl:
        s.heartbeat_ivl = ivl
    if ttl:
        s.heartbeat_ttl = ttl
    if tmo:
        s.heartbeat_timeout = tmo
    s.bind(ep)
    print(s.last_endpoint.decode(), flush=True)
    while True:
        msg = s.recv_multipart()
        if msg[-1] == b"quit":
            break
        s.send_multipart(msg)
    """
)


class Child:
    def __init__(self, kind: str, endpoint: str, ivl=0, ttl=0, tmo=0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, kind, endpoint, str(ivl), str(ttl), str(tmo)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.endpoint = self.proc.stdout.readline().strip()
        assert self.endpoint, "the pyzmq child did not start"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.cont()
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        self.proc.stdout.close()
        cleanup_ipc(self.endpoint)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    made: list[Child] = []
    try:
        yield made
    finally:
        for c in made:
            c.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pyzmq_peer_in_another_process(rig: Rig, children: list, transport: str) -> None:
    child = Child("REP", bind_endpoint(transport))
    children.append(child)
    req = rig.sock("vm", "REQ")
    req.connect(child.endpoint)
    big = os.urandom(1 << 20)
    for i in range(20):
        msg = [b"%d" % i, b"", big if i % 5 == 0 else b"x" * i]
        req.send_multipart(msg)
        assert recv_within(req) == msg
    req.send(b"quit")
    assert child.proc.wait(TIMEOUT) == 0


@pytest.mark.parametrize("lib", ["zmq", "vm"], ids=["reference-zmq", "vm"])
def test_heartbeat_detects_stopped_process_then_recovers(
    rig: Rig, children: list, lib: str
) -> None:
    """A pyzmq ROUTER in another process is SIGSTOPped: the DEALER's heartbeat drops the
    connection within ~HEARTBEAT_TIMEOUT; after SIGCONT the reconnected socket works again."""
    child = Child("ROUTER", "tcp://127.0.0.1:*")
    children.append(child)
    dealer = rig.sock(lib, "DEALER", routing_id=b"d", heartbeat_ivl=100, heartbeat_timeout=1000)
    mon = dealer.get_monitor_socket()
    dealer.connect(child.endpoint)
    dealer.send(b"hello")
    assert recv_within(dealer) == [b"hello"]
    child.stop()
    # Dropped (nothing else would drop a connection to a stopped process): 20 s only fails a
    # hang; how soon is not asserted.
    wait_event(mon, EVENT_DISCONNECTED, 20.0)
    child.cont()
    deadline = time.monotonic() + TIMEOUT
    while True:  # a message may have been written to the old, dead connection: retry
        dealer.send(b"again")
        if dealer.poll(200):
            assert dealer.recv() == b"again"
            break
        assert time.monotonic() < deadline, "no traffic after the peer came back"


@pytest.mark.parametrize("lib", ["zmq", "vm"], ids=["reference-zmq", "vm"])
def test_libzmq_heartbeat_ttl_honoured(rig: Rig, children: list, lib: str) -> None:
    """libzmq's PINGs carry HEARTBEAT_TTL; a socket without heartbeats of its own keeps the
    connection while PINGs arrive, and drops it once nothing arrived for TTL (the peer process
    is stopped)."""
    child = Child("ROUTER", "tcp://127.0.0.1:*", ivl=100, ttl=2000)
    children.append(child)
    dealer = rig.sock(lib, "DEALER", routing_id=b"d")
    mon = dealer.get_monitor_socket()
    dealer.connect(child.endpoint)
    dealer.send(b"hello")
    assert recv_within(dealer) == [b"hello"]
    assert EVENT_DISCONNECTED not in events_during(mon, HB_WINDOW)  # PINGs arrive: stays up
    child.stop()
    wait_event(mon, EVENT_DISCONNECTED, 20.0)  # only fails a hang: how soon is not asserted


# -- reconnect -------------------------------------------------------------------------------------
def _bind_retry(s: Any, endpoint: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            s.bind(endpoint)
            return
        except (zmq.ZMQError, vmzmq.ZMQError) as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _until_delivered(client: Any, server: Any) -> list:
    deadline = time.monotonic() + TIMEOUT
    while True:  # what went into the dying connection is lost: retry
        client.send(b"again")
        if server.poll(100):
            return server.recv_multipart()
        assert time.monotonic() < deadline, "the client never reconnected"


@pytest.mark.parametrize("restarted", ["zmq_server", "vm_server"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_restart_reconnects(rig: Rig, transport: str, restarted: str) -> None:
    server_lib = "zmq" if restarted == "zmq_server" else "vm"
    client_lib = other(server_lib)
    client = rig.sock(client_lib, "DEALER", routing_id=b"client", reconnect_ivl=50)
    server = rig.sock(server_lib, "ROUTER")
    ep = rig.bind(server, transport)
    client.connect(ep)
    client.send(b"first")
    assert recv_within(server) == [b"client", b"first"]
    server.close(linger=0)

    server2 = rig.sock(server_lib, "ROUTER")
    _bind_retry(server2, ep)
    assert _until_delivered(client, server2) == [b"client", b"again"]
    server2.send_multipart([b"client", b"welcome back"])
    while True:
        got = recv_within(client)
        if got == [b"welcome back"]:
            break


# -- ZMTP 3.0 peers (hand-rolled; libzmq always speaks 3.1) ----------------------------------------
def test_zmtp30_sub_subscribes_with_message_at_vm_pub(rig: Rig) -> None:
    pub = rig.sock("vm", "PUB")
    ep = rig.bind(pub, "tcp")
    host, port = ep[len("tcp://") :].rsplit(":", 1)
    peer = RawZmtpPeer.connect((host, int(port)))
    stop = threading.Event()
    try:
        props = peer.handshake(b"SUB", minor=0)
        assert peer.peer_greeting[10:12] == b"\x03\x01"  # vmzmq announces 3.1
        assert props["Socket-Type"] == b"PUB"
        peer.send_message([b"\x01topic"])  # 3.0: a subscription is a data message

        def publish() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                pub.send(b"other-%d" % i)
                pub.send_multipart([b"topic-%d" % i, b""])
                time.sleep(0.01)

        t = threading.Thread(target=publish, daemon=True)
        t.start()
        got = [peer.read_message() for _ in range(3)]
        for msg in got:
            assert msg[0].startswith(b"topic-") and msg[1:] == [b""], got
    finally:
        stop.set()
        peer.close()


@pytest.mark.parametrize("minor", [0, 1], ids=["zmtp3.0", "zmtp3.1"])
def test_vm_sub_subscription_wire_format(rig: Rig, minor: int) -> None:
    """A vmzmq SUB sends its subscriptions as data messages to a 3.0 PUB, as SUBSCRIBE/CANCEL
    commands to a 3.1 PUB; and receives the matching messages the hand-rolled PUB sends."""
    listener = RawListener()
    sub = rig.sock("vm", "SUB")
    sub.setsockopt(SUBSCRIBE, b"topic")
    sub.connect(listener.endpoint)
    peer = listener.accept()
    try:
        props = peer.handshake(b"PUB", minor=minor)
        assert props["Socket-Type"] == b"SUB"
        kind, item = peer.read_item()
        if minor == 0:
            assert (kind, item) == ("message", [b"\x01topic"])
        else:
            assert (kind, item) == ("command", (b"SUBSCRIBE", b"topic"))
        peer.send_message([b"nomatch"])
        peer.send_message([b"topic-hello", b"", b"x"])
        assert recv_within(sub) == [b"topic-hello", b"", b"x"]
        sub.setsockopt(UNSUBSCRIBE, b"topic")
        kind, item = peer.read_item()
        if minor == 0:
            assert (kind, item) == ("message", [b"\x00topic"])
        else:
            assert (kind, item) == ("command", (b"CANCEL", b"topic"))
    finally:
        peer.close()
        listener.close()


def test_zmtp30_xsub_peer_at_vm_xpub(rig: Rig) -> None:
    """A 3.0 peer's subscribe/cancel messages reach a vmzmq XPUB as notifications."""
    xpub = rig.sock("vm", "XPUB")
    ep = rig.bind(xpub, "tcp")
    host, port = ep[len("tcp://") :].rsplit(":", 1)
    peer = RawZmtpPeer.connect((host, int(port)))
    try:
        peer.handshake(b"XSUB", minor=0)
        peer.send_message([b"\x01news"])
        assert recv_within(xpub) == [b"\x01news"]
        xpub.send(b"news-1")
        xpub.send(b"sport-1")
        xpub.send(b"news-2")
        assert peer.read_message() == [b"news-1"]
        assert peer.read_message() == [b"news-2"]
        peer.send_message([b"\x00news"])
        assert recv_within(xpub) == [b"\x00news"]
        assert_silent(xpub, 50)
    finally:
        peer.close()
