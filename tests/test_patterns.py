"""Socket-type semantics over tcp, ipc and inproc, with vmzmq on both ends.

Every expectation here was checked against libzmq 4.3.5 through pyzmq.
"""

from __future__ import annotations

import socket as pysocket
import struct
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vmzmq as zmq
from socket_pairs import (
    PAIRS,
    await_subscription,
    check_pair,
    recv_pumping,
    send_when_routable,
)
from waiting import finishes

TIMEOUT_MS = 10000  # only fails a test that would hang: no test waits for it to expire


# -- helpers -------------------------------------------------------------------------------------


def sock(ctx: zmq.Context, kind: int, **opts: object) -> zmq.Socket:
    """A socket with timeouts (a hang becomes Again, not a stuck test)."""
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = TIMEOUT_MS
    s.sndtimeo = TIMEOUT_MS
    for name, value in opts.items():
        setattr(s, name, value)
    return s


def free_tcp_port() -> int:
    with pysocket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def concrete(endpoint: str) -> str:
    """An endpoint both sides can use before either has bound (tcp gets a real port)."""
    if endpoint.endswith(":*"):
        return f"{endpoint[:-2]}:{free_tcp_port()}"
    return endpoint


def bind(s: zmq.Socket, endpoint: str) -> str:
    s.bind(endpoint)
    return s.last_endpoint.decode()


def link(
    binder: zmq.Socket, connecter: zmq.Socket, endpoint: str, *, connect_first: bool = False
) -> str:
    if connect_first:
        addr = concrete(endpoint)
        connecter.connect(addr)
        binder.bind(addr)
        return addr
    addr = bind(binder, endpoint)
    connecter.connect(addr)
    return addr


def drain(s: zmq.Socket, wait_ms: int = 50, first_ms: int = 0) -> list[list[bytes]]:
    """What arrives until nothing more comes for ``wait_ms`` (a window for "no more", not a
    wait for something); ``first_ms``: wait that long for a first message (a hang guard)."""
    out = []
    if first_ms and s.poll(first_ms):
        out.append(s.recv_multipart())
    while s.poll(wait_ms):
        out.append(s.recv_multipart())
    return out


def wait_until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def count_until_again(s: zmq.Socket, make: Callable[[int], list[bytes]], limit: int) -> int:
    n = 0
    try:
        while n < limit:
            s.send_multipart(make(n), zmq.DONTWAIT)
            n += 1
    except zmq.Again:
        pass
    return n


# -- every valid pair, both sides binding, every transport ---------------------------------------


@pytest.mark.parametrize("binder", ["first binds", "second binds"])
@pytest.mark.parametrize("pair", list(PAIRS))
def test_socket_pair(ctx, endpoint, transport, pair, binder):
    kind_a, kind_b, check, opts_a, opts_b = PAIRS[pair]
    a = sock(ctx, kind_a, **opts_a)
    b = sock(ctx, kind_b, **opts_b)
    if binder == "first binds":
        link(a, b, endpoint(transport))
    else:
        link(b, a, endpoint(transport))
    check(a, b)


@pytest.mark.parametrize(
    "pair", ["PAIR-PAIR", "PUSH-PULL", "REQ-REP", "DEALER-ROUTER", "XPUB-SUB", "PUB-SUB"]
)
def test_connect_before_bind(ctx, endpoint, transport, pair):
    kind_a, kind_b, check, opts_a, opts_b = PAIRS[pair]
    a = sock(ctx, kind_a, **opts_a)
    b = sock(ctx, kind_b, **opts_b)
    link(b, a, endpoint(transport), connect_first=True)
    check(a, b)


def test_messages_sent_before_the_peer_binds_arrive(ctx, endpoint, transport):
    push = sock(ctx, zmq.PUSH)
    pull = sock(ctx, zmq.PULL)
    addr = concrete(endpoint(transport))
    push.connect(addr)
    for i in range(5):
        push.send_multipart([b"%d" % i, b""], zmq.DONTWAIT)  # queued: nobody is there yet
    pull.bind(addr)
    assert [pull.recv_multipart() for _ in range(5)] == [[b"%d" % i, b""] for i in range(5)]


def test_large_and_empty_frames(ctx, endpoint, transport):
    a = sock(ctx, zmq.PAIR)
    b = sock(ctx, zmq.PAIR)
    link(a, b, endpoint(transport))
    frames = [b"", b"x" * 255, b"y" * 256, bytes(range(256)) * 4096, b""]
    a.send_multipart(frames)
    assert b.recv_multipart() == frames


# -- PAIR --------------------------------------------------------------------------------------


def test_pair_refuses_a_second_peer(ctx, endpoint, transport):
    a = sock(ctx, zmq.PAIR)
    b = sock(ctx, zmq.PAIR)
    c = sock(ctx, zmq.PAIR, rcvtimeo=200)
    addr = link(a, b, endpoint(transport))
    check_pair(a, b)
    c.connect(addr)
    for i in range(5):
        a.send(b"%d" % i)
    assert [b.recv() for _ in range(5)] == [b"%d" % i for i in range(5)]
    with pytest.raises(zmq.Again):
        c.recv()


# -- PUSH / PULL -------------------------------------------------------------------------------


def test_push_load_balances_round_robin(ctx, endpoint, transport):
    push = sock(ctx, zmq.PUSH)
    pulls = [sock(ctx, zmq.PULL) for _ in range(3)]
    for pull in pulls:
        push.connect(bind(pull, endpoint(transport)))  # one pipe per connect, in this order
    for i in range(30):
        push.send(b"%d" % i)
    for k, pull in enumerate(pulls):
        assert [pull.recv() for _ in range(10)] == [b"%d" % i for i in range(k, 30, 3)]
        with pytest.raises(zmq.Again):
            pull.recv(zmq.DONTWAIT)


def test_pull_fair_queues(ctx, endpoint):
    # inproc delivers at send time, so every pipe holds its messages before the first recv
    pull = sock(ctx, zmq.PULL)
    addr = bind(pull, endpoint("inproc"))
    pushes = [sock(ctx, zmq.PUSH) for _ in range(3)]
    for p in pushes:
        p.connect(addr)
    for k, p in enumerate(pushes):
        for i in range(5):
            p.send(b"%d-%d" % (k, i))
    got = [pull.recv() for _ in range(15)]
    sources = [m.split(b"-")[0] for m in got]
    for r in range(5):
        assert sorted(sources[3 * r : 3 * r + 3]) == [b"0", b"1", b"2"], got
    for k in range(3):
        assert [m for m in got if m.startswith(b"%d-" % k)] == [b"%d-%d" % (k, i) for i in range(5)]


def test_pull_receives_everything_from_many_pushers(ctx, endpoint, transport):
    pull = sock(ctx, zmq.PULL)
    addr = bind(pull, endpoint(transport))
    pushes = [sock(ctx, zmq.PUSH) for _ in range(3)]
    for p in pushes:
        p.connect(addr)
    for i in range(50):
        for k, p in enumerate(pushes):
            p.send(b"%d-%d" % (k, i))
    got = [pull.recv() for _ in range(150)]
    for k in range(3):
        mine = [m for m in got if m.startswith(b"%d-" % k)]
        assert mine == [b"%d-%d" % (k, i) for i in range(50)]


def test_push_cannot_recv_pull_cannot_send(ctx):
    push = sock(ctx, zmq.PUSH)
    pull = sock(ctx, zmq.PULL)
    with pytest.raises(zmq.ZMQError) as exc:
        push.recv()
    assert exc.value.errno == zmq.ENOTSUP
    with pytest.raises(zmq.ZMQError) as exc:
        pull.send(b"x")
    assert exc.value.errno == zmq.ENOTSUP


# -- PUB / SUB filtering -----------------------------------------------------------------------


@pytest.fixture
def pubsub(ctx, endpoint, transport):
    pub = sock(ctx, zmq.PUB)
    sub = sock(ctx, zmq.SUB)
    link(pub, sub, endpoint(transport))
    return pub, sub


def test_sub_receives_nothing_without_a_subscription(ctx):
    pub = sock(ctx, zmq.PUB)
    sub = sock(ctx, zmq.SUB)
    sub.connect(bind(pub, "inproc://nosub"))
    pub.send(b"anything")
    assert sub.poll(50) == 0


def test_prefix_filtering(pubsub):
    pub, sub = pubsub
    sub.setsockopt(zmq.SUBSCRIBE, b"ab")
    sub.setsockopt(zmq.SUBSCRIBE, b"x")
    await_subscription(pub, sub, b"x")
    for topic in [b"a", b"ab", b"abc", b"b", b"x", b"xyz", b"", b"yx"]:
        pub.send_multipart([topic, b"payload"])
    pub.send(b"xend")
    got = []
    while not got or got[-1] != [b"xend"]:
        got.append(sub.recv_multipart())
    assert got == [[b"ab", b"payload"], [b"abc", b"payload"], [b"x", b"payload"],
                   [b"xyz", b"payload"], [b"xend"]]


def test_unsubscribe(pubsub):
    pub, sub = pubsub
    sub.setsockopt(zmq.SUBSCRIBE, b"a")
    sub.setsockopt(zmq.SUBSCRIBE, b"b")
    await_subscription(pub, sub, b"b")
    sub.setsockopt(zmq.UNSUBSCRIBE, b"a")
    sub.setsockopt(zmq.SUBSCRIBE, b"sync")
    await_subscription(pub, sub, b"sync")  # the cancel went first on the same pipe
    pub.send(b"a1")
    pub.send(b"b1")
    assert sub.recv() == b"b1"
    assert sub.poll(50) == 0


def test_counted_subscriptions(pubsub):
    pub, sub = pubsub
    sub.setsockopt(zmq.SUBSCRIBE, b"t")
    sub.setsockopt(zmq.SUBSCRIBE, b"t")
    sub.setsockopt(zmq.UNSUBSCRIBE, b"t")  # one of two: still subscribed
    sub.setsockopt(zmq.SUBSCRIBE, b"sync1")
    await_subscription(pub, sub, b"sync1")
    pub.send(b"t1")
    assert sub.recv() == b"t1"
    sub.setsockopt(zmq.UNSUBSCRIBE, b"t")  # the last one
    sub.setsockopt(zmq.SUBSCRIBE, b"sync2")
    await_subscription(pub, sub, b"sync2")
    pub.send(b"t2")
    pub.send(b"sync2-end")
    assert sub.recv() == b"sync2-end"


def test_empty_subscription_matches_everything(pubsub):
    pub, sub = pubsub
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    await_subscription(pub, sub)
    pub.send(b"")
    pub.send_multipart([b"", b"x"])
    assert sub.recv_multipart() == [b""]
    assert sub.recv_multipart() == [b"", b"x"]


def test_filter_applies_to_the_first_frame_only(pubsub):
    pub, sub = pubsub
    sub.setsockopt(zmq.SUBSCRIBE, b"k")
    await_subscription(pub, sub, b"k")
    pub.send_multipart([b"nope", b"k"])
    pub.send_multipart([b"key", b"nope"])
    assert sub.recv_multipart() == [b"key", b"nope"]


def test_sub_does_not_report_a_message_its_filter_drops(ctx):
    # A message already queued at the SUB when it unsubscribes is dropped on receipt, so the
    # SUB must not look readable for it: libzmq's poll says 0 and so must ours, or a blocking
    # recv() after a positive poll hangs.
    pub = sock(ctx, zmq.PUB)
    sub = sock(ctx, zmq.SUB)
    sub.connect(bind(pub, "inproc://dropped"))
    sub.setsockopt(zmq.SUBSCRIBE, b"a")
    await_subscription(pub, sub, b"a")
    pub.send(b"a1")  # inproc: in the SUB's queue now
    sub.setsockopt(zmq.UNSUBSCRIBE, b"a")
    assert sub.poll(50) == 0
    assert sub.getsockopt(zmq.EVENTS) & zmq.POLLIN == 0
    with pytest.raises(zmq.Again):
        sub.recv(zmq.DONTWAIT)


@pytest.mark.parametrize("change", ["unsubscribe", "invert"])
def test_sub_to_everything_stops_passing_all_when_its_filter_changes(ctx, change):
    # Subscribed to everything, a SUB with one peer hands messages over without filtering
    # them (Socket.recv pops the pipe itself); once the filter no longer passes everything,
    # what is queued is filtered again, as libzmq filters on receipt.
    pub = sock(ctx, zmq.PUB)
    sub = sock(ctx, zmq.SUB)
    sub.connect(bind(pub, "inproc://passall"))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.SUBSCRIBE, b"k")
    await_subscription(pub, sub)
    pub.send(b"one")
    assert sub.recv() == b"one"
    pub.send(b"dropped")  # inproc: in the SUB's queue now
    pub.send(b"kept")
    if change == "unsubscribe":
        sub.setsockopt(zmq.UNSUBSCRIBE, b"")
        assert sub.recv() == b"kept"
    else:
        sub.setsockopt(zmq.INVERT_MATCHING, 1)  # only what matches no prefix: nothing
        pub.send(b"z")
    with pytest.raises(zmq.Again):
        sub.recv(zmq.DONTWAIT)


def test_sub_to_topics_of_one_length_filters_what_is_queued(pubsub):
    # A SUB with one peer and topics of one length pops its pipe without the lock and drops
    # what they refuse (Socket._recv_filtered): what was queued before an unsubscribe is
    # dropped on receipt, a multipart message is matched on its first frame, and a message
    # refused between two passed ones does not reorder them.
    pub, sub = pubsub
    sub.setsockopt(zmq.SUBSCRIBE, b"aa")
    sub.setsockopt(zmq.SUBSCRIBE, b"bb")
    await_subscription(pub, sub, b"bb")
    for msg in ([b"aa1"], [b"bb", b"x"], [b"bb2"], [b"cc", b"aa"], [b"aa2"], [b"b"]):
        pub.send_multipart(msg)
    assert sub.recv() == b"aa1"
    assert sub.recv_multipart() == [b"bb", b"x"]
    sub.setsockopt(zmq.UNSUBSCRIBE, b"bb")  # bb2 is on its way or queued: dropped
    assert sub.recv_multipart() == [b"aa2"]
    sub.setsockopt(zmq.SUBSCRIBE, b"zzz")  # two lengths now: the locked path filters
    await_subscription(pub, sub, b"zzz")
    for msg in (b"bb3", b"zzz1", b"aa3"):
        pub.send(msg)
    assert [sub.recv(), sub.recv()] == [b"zzz1", b"aa3"]
    with pytest.raises(zmq.Again):
        sub.recv(zmq.DONTWAIT)


def test_sub_to_topics_of_one_length_resumes_a_paused_peer(ctx, endpoint, transport):
    # Dropping queued messages frees room like receiving them: the peer, paused at RCVHWM
    # while its 2,000 refused messages queue, is read on, so every matching message arrives.
    pub = sock(ctx, zmq.PUB, sndhwm=0)
    sub = sock(ctx, zmq.SUB, rcvhwm=10)
    link(pub, sub, endpoint(transport))
    sub.setsockopt(zmq.SUBSCRIBE, b"k")
    sub.setsockopt(zmq.SUBSCRIBE, b"d")
    await_subscription(pub, sub, b"d")
    for i in range(2000):
        pub.send(b"d%d" % i)
        if i % 100 == 0:
            pub.send(b"k%d" % i)
    pub.send(b"kend")
    sub.setsockopt(zmq.UNSUBSCRIBE, b"d")  # all sent: queued at the SUB or on their way
    got = []
    while not got or got[-1] != b"kend":
        got.append(sub.recv())
    assert got == [b"k%d" % i for i in range(0, 2000, 100)] + [b"kend"]


def test_sub_to_everything_keeps_order_after_a_poll(ctx, endpoint, transport):
    # poll() reads a message ahead to know the filter passes it; the next recv must return
    # that one first, not pop the pipe past it.
    pub = sock(ctx, zmq.PUB)
    sub = sock(ctx, zmq.SUB)
    link(pub, sub, endpoint(transport))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    await_subscription(pub, sub)
    for i in range(20):
        pub.send(b"m%d" % i)
        if i % 5 == 0:
            assert sub.poll(5000) == zmq.POLLIN
    got = [sub.recv() for _ in range(20)]
    assert got == [b"m%d" % i for i in range(20)]


def test_pub_sends_to_every_matching_subscriber(ctx, endpoint, transport):
    pub = sock(ctx, zmq.PUB)
    addr = bind(pub, endpoint(transport))
    subs = [sock(ctx, zmq.SUB) for _ in range(3)]
    for i, s in enumerate(subs):
        s.connect(addr)
        s.setsockopt(zmq.SUBSCRIBE, b"all")
        s.setsockopt(zmq.SUBSCRIBE, b"only%d" % i)
        await_subscription(pub, s, b"only%d" % i)
    pub.send(b"all!")
    pub.send(b"only1")
    assert [s.recv() for s in subs] == [b"all!"] * 3
    assert subs[1].recv() == b"only1"
    assert subs[0].poll(20) == 0 and subs[2].poll(20) == 0


def test_invert_matching(ctx, endpoint, transport):
    pub = sock(ctx, zmq.PUB, invert_matching=1)
    sub = sock(ctx, zmq.SUB, invert_matching=1)
    link(pub, sub, endpoint(transport))
    sub.setsockopt(zmq.SUBSCRIBE, b"a")
    sub.setsockopt(zmq.SUBSCRIBE, b"~")
    await_subscription(pub, sub, b"x")  # "x~probe" matches neither, so it is delivered
    for topic in [b"a1", b"b1", b"ab", b"c", b"~z"]:
        pub.send(topic)
    pub.send(b"end")
    got = []
    while not got or got[-1] != b"end":
        got.append(sub.recv())
    assert got == [b"b1", b"c", b"end"]


def test_sub_cannot_send(ctx):
    sub = sock(ctx, zmq.SUB)
    with pytest.raises(zmq.ZMQError) as exc:
        sub.send(b"x")
    assert exc.value.errno == zmq.ENOTSUP
    pub = sock(ctx, zmq.PUB)
    with pytest.raises(zmq.ZMQError) as exc:
        pub.recv(zmq.DONTWAIT)
    assert exc.value.errno == zmq.ENOTSUP


# -- XPUB --------------------------------------------------------------------------------------


def xpub_with_subs(ctx, endpoint, transport, n, **opts):
    xpub = sock(ctx, zmq.XPUB, **opts)
    addr = bind(xpub, endpoint(transport))
    subs = [sock(ctx, zmq.SUB) for _ in range(n)]
    for s in subs:
        s.connect(addr)
    return xpub, subs


def test_xpub_passes_new_topics_only(ctx, endpoint, transport):
    xpub, (s1, s2) = xpub_with_subs(ctx, endpoint, transport, 2)
    s1.setsockopt(zmq.SUBSCRIBE, b"t")
    assert xpub.recv() == b"\x01t"
    s2.setsockopt(zmq.SUBSCRIBE, b"t")  # not new
    s2.setsockopt(zmq.SUBSCRIBE, b"u")
    assert xpub.recv() == b"\x01u"
    s1.setsockopt(zmq.UNSUBSCRIBE, b"t")  # s2 still wants it
    s2.setsockopt(zmq.UNSUBSCRIBE, b"u")
    assert xpub.recv() == b"\x00u"
    s2.setsockopt(zmq.UNSUBSCRIBE, b"t")
    assert xpub.recv() == b"\x00t"
    assert xpub.poll(50) == 0


def test_xpub_verbose(ctx, endpoint, transport):
    xpub, (s1, s2) = xpub_with_subs(ctx, endpoint, transport, 2, xpub_verbose=1)
    s1.setsockopt(zmq.SUBSCRIBE, b"t")
    assert xpub.recv() == b"\x01t"
    s2.setsockopt(zmq.SUBSCRIBE, b"t")
    assert xpub.recv() == b"\x01t"
    s1.setsockopt(zmq.UNSUBSCRIBE, b"t")
    s2.setsockopt(zmq.UNSUBSCRIBE, b"t")
    assert xpub.recv() == b"\x00t"  # VERBOSE passes only the last cancel
    assert xpub.poll(50) == 0


def test_xpub_verboser(ctx, endpoint, transport):
    xpub, (s1, s2) = xpub_with_subs(ctx, endpoint, transport, 2, xpub_verboser=1)
    s1.setsockopt(zmq.SUBSCRIBE, b"t")
    assert xpub.recv() == b"\x01t"
    s2.setsockopt(zmq.SUBSCRIBE, b"t")
    assert xpub.recv() == b"\x01t"
    s1.setsockopt(zmq.UNSUBSCRIBE, b"t")
    assert xpub.recv() == b"\x00t"
    s2.setsockopt(zmq.UNSUBSCRIBE, b"t")
    assert xpub.recv() == b"\x00t"
    assert xpub.poll(50) == 0


def test_sub_sends_a_cancel_only_when_its_count_reaches_zero(ctx, endpoint, transport):
    # libzmq's SUB/XSUB count subscriptions and forward a cancel only for the last one:
    # an XPUB_VERBOSER sees two subscribes and one cancel.
    xpub, (s,) = xpub_with_subs(ctx, endpoint, transport, 1, xpub_verboser=1)
    s.setsockopt(zmq.SUBSCRIBE, b"t")
    s.setsockopt(zmq.SUBSCRIBE, b"t")
    s.setsockopt(zmq.UNSUBSCRIBE, b"t")
    s.setsockopt(zmq.SUBSCRIBE, b"sync")
    assert [xpub.recv() for _ in range(3)] == [b"\x01t", b"\x01t", b"\x01sync"]
    xpub.send(b"t1")
    assert s.recv() == b"t1"
    s.setsockopt(zmq.UNSUBSCRIBE, b"t")
    assert xpub.recv() == b"\x00t"
    assert xpub.poll(50) == 0


@pytest.mark.parametrize("transport_name", ["tcp", "ipc"])
def test_subscription_made_before_the_connection_is_sent_once(ctx, endpoint, transport_name):
    xpub = sock(ctx, zmq.XPUB, xpub_verboser=1)
    sub = sock(ctx, zmq.SUB)
    addr = concrete(endpoint(transport_name))
    sub.connect(addr)
    sub.setsockopt(zmq.SUBSCRIBE, b"t")  # no connection yet: it waits in the pipe
    xpub.bind(addr)
    assert xpub.recv() == b"\x01t"
    sub.setsockopt(zmq.SUBSCRIBE, b"sync")
    assert xpub.recv() == b"\x01sync"  # not a second b"\x01t"
    sub.setsockopt(zmq.UNSUBSCRIBE, b"t")
    assert xpub.recv() == b"\x00t"
    xpub.send(b"t1")
    xpub.send(b"sync1")
    assert sub.recv() == b"sync1"


def test_xpub_unsubscribes_when_the_last_subscriber_leaves(ctx, endpoint, transport):
    xpub, (s1, s2) = xpub_with_subs(ctx, endpoint, transport, 2)
    s1.setsockopt(zmq.SUBSCRIBE, b"t")
    s2.setsockopt(zmq.SUBSCRIBE, b"t")
    s2.setsockopt(zmq.SUBSCRIBE, b"only2")
    assert sorted([xpub.recv(), xpub.recv()]) == [b"\x01only2", b"\x01t"]
    s2.close()
    assert xpub.recv() == b"\x00only2"
    s1.close()
    assert xpub.recv() == b"\x00t"
    assert xpub.poll(50) == 0


def test_xpub_unsubscribes_on_disconnect(ctx, endpoint, transport):
    xpub = sock(ctx, zmq.XPUB)
    addr = bind(xpub, endpoint(transport))
    sub = sock(ctx, zmq.SUB)
    sub.connect(addr)
    sub.setsockopt(zmq.SUBSCRIBE, b"t")
    assert xpub.recv() == b"\x01t"
    sub.disconnect(addr)
    assert recv_pumping(xpub, sub) == b"\x00t"


def test_xpub_sends_to_subscribers_only(ctx, endpoint, transport):
    xpub, (s1, s2) = xpub_with_subs(ctx, endpoint, transport, 2)
    s1.setsockopt(zmq.SUBSCRIBE, b"a")
    s2.setsockopt(zmq.SUBSCRIBE, b"b")
    assert sorted([xpub.recv(), xpub.recv()]) == [b"\x01a", b"\x01b"]
    xpub.send(b"a1")
    xpub.send(b"b1")
    xpub.send(b"c1")
    assert s1.recv() == b"a1"
    assert s2.recv() == b"b1"
    assert s1.poll(20) == 0 and s2.poll(20) == 0


def test_xpub_manual(ctx, endpoint, transport):
    xpub, (s,) = xpub_with_subs(ctx, endpoint, transport, 1, xpub_manual=1)
    s.setsockopt(zmq.SUBSCRIBE, b"a")
    s.setsockopt(zmq.SUBSCRIBE, b"b")
    assert xpub.recv() == b"\x01a"
    xpub.setsockopt(zmq.SUBSCRIBE, b"a")  # the application accepts "a"...
    assert xpub.recv() == b"\x01b"  # ...and ignores "b"
    xpub.send(b"b1")
    xpub.send(b"a1")
    assert s.recv() == b"a1"
    assert s.poll(50) == 0
    xpub.setsockopt(zmq.UNSUBSCRIBE, b"a")
    xpub.send(b"a2")
    assert s.poll(50) == 0


def test_xpub_manual_routes_to_the_pipe_of_the_notice_just_read(ctx):
    # Both subscriptions are queued before the first recv; SUBSCRIBE after each recv must
    # apply to the pipe that sent the notice just read.
    xpub = sock(ctx, zmq.XPUB, xpub_manual=1)
    addr = bind(xpub, "inproc://manual2")
    s1 = sock(ctx, zmq.SUB)
    s2 = sock(ctx, zmq.SUB)
    s1.connect(addr)
    s2.connect(addr)
    s1.setsockopt(zmq.SUBSCRIBE, b"a")
    s2.setsockopt(zmq.SUBSCRIBE, b"b")  # inproc: both notices are queued at the XPUB now
    first = xpub.recv()
    assert first == b"\x01a"
    xpub.setsockopt(zmq.SUBSCRIBE, first[1:])
    second = xpub.recv()
    assert second == b"\x01b"
    xpub.setsockopt(zmq.SUBSCRIBE, second[1:])
    xpub.send(b"a1")
    xpub.send(b"b1")
    assert s1.recv() == b"a1"
    assert s2.recv() == b"b1"


def test_xpub_manual_reports_cancels_of_a_leaving_subscriber(ctx, endpoint, transport):
    xpub, (s1, s2) = xpub_with_subs(ctx, endpoint, transport, 2, xpub_manual=1)
    s1.setsockopt(zmq.SUBSCRIBE, b"a")
    assert xpub.recv() == b"\x01a"
    xpub.setsockopt(zmq.SUBSCRIBE, b"a")
    s1.close()
    assert xpub.recv() == b"\x00a"


def test_xpub_subscribe_option_needs_manual(ctx):
    xpub = sock(ctx, zmq.XPUB)
    with pytest.raises(zmq.ZMQError) as exc:
        xpub.setsockopt(zmq.SUBSCRIBE, b"a")
    assert exc.value.errno == zmq.EINVAL


def test_xpub_welcome_message(ctx, endpoint, transport):
    xpub = sock(ctx, zmq.XPUB, xpub_welcome_msg=b"WELCOME")
    addr = bind(xpub, endpoint(transport))
    sub = sock(ctx, zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"WELCOME")
    sub.connect(addr)
    assert recv_pumping(sub, xpub) == b"WELCOME"
    assert xpub.recv() == b"\x01WELCOME"
    other = sock(ctx, zmq.SUB)
    other.setsockopt(zmq.SUBSCRIBE, b"x")
    other.connect(addr)
    assert xpub.recv() == b"\x01x"
    assert other.poll(50) == 0  # it did not subscribe to the welcome message


def test_xpub_nodrop(ctx):
    xpub = sock(ctx, zmq.XPUB, sndhwm=2, xpub_nodrop=1, sndtimeo=50)
    sub = sock(ctx, zmq.SUB, rcvhwm=2)
    sub.connect(bind(xpub, "inproc://nodrop"))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    assert xpub.recv() == b"\x01"
    # inproc's pipe holds SNDHWM + RCVHWM messages, then XPUB_NODROP says EAGAIN, not drop
    assert count_until_again(xpub, lambda n: [b"%d" % n], 100) == 4
    with pytest.raises(zmq.Again):
        xpub.send(b"late")  # SNDTIMEO
    assert [sub.recv() for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    xpub.send(b"after")
    assert sub.recv() == b"after"


def test_xsub_sends_subscriptions_as_messages(ctx, endpoint, transport):
    pub = sock(ctx, zmq.PUB)
    xsub = sock(ctx, zmq.XSUB)
    link(pub, xsub, endpoint(transport))
    xsub.send(b"\x01a")
    xsub.send(b"\x01b")
    await_subscription(pub, xsub, b"b")
    pub.send(b"a1")
    pub.send(b"c1")
    pub.send(b"b1")
    assert xsub.recv() == b"a1"
    assert xsub.recv() == b"b1"
    xsub.send(b"\x00a")
    xsub.send(b"\x01sync")
    await_subscription(pub, xsub, b"sync")
    pub.send(b"a2")
    pub.send(b"b2")
    assert xsub.recv() == b"b2"


@pytest.mark.parametrize("transport_name", ["tcp", "ipc"])  # inproc does not reconnect
def test_xsub_resubscribes_after_reconnect(ctx, endpoint, transport_name):
    xpub = sock(ctx, zmq.XPUB)
    xsub = sock(ctx, zmq.XSUB)
    addr = concrete(endpoint(transport_name))
    xsub.connect(addr)
    xsub.send(b"\x01t")
    xpub.bind(addr)
    assert xpub.recv() == b"\x01t"
    xpub.close()
    xpub2 = sock(ctx, zmq.XPUB)
    wait_until(lambda: _try_bind(xpub2, addr))
    assert recv_pumping(xpub2, xsub) == b"\x01t"


def _try_bind(s: zmq.Socket, addr: str) -> bool:
    try:
        s.bind(addr)
    except zmq.ZMQError:
        return False
    return True


# -- REQ / REP ---------------------------------------------------------------------------------


@pytest.fixture
def reqrep(ctx, endpoint, transport):
    req = sock(ctx, zmq.REQ)
    rep = sock(ctx, zmq.REP)
    link(rep, req, endpoint(transport))
    return req, rep


def test_req_strict_alternation(reqrep):
    req, rep = reqrep
    with pytest.raises(zmq.ZMQError) as exc:
        req.recv()
    assert exc.value.errno == zmq.EFSM
    req.send(b"q")
    with pytest.raises(zmq.ZMQError) as exc:
        req.send(b"again")
    assert exc.value.errno == zmq.EFSM
    with pytest.raises(zmq.ZMQError) as exc:
        req.send(b"again", zmq.SNDMORE)
    assert exc.value.errno == zmq.EFSM
    assert rep.recv() == b"q"
    with pytest.raises(zmq.ZMQError) as exc:
        rep.recv()
    assert exc.value.errno == zmq.EFSM
    rep.send(b"r")
    with pytest.raises(zmq.ZMQError) as exc:
        rep.send(b"again")
    assert exc.value.errno == zmq.EFSM
    assert req.recv() == b"r"
    req.send(b"q2")
    assert rep.recv() == b"q2"


def test_rep_send_first_is_efsm(ctx):
    rep = sock(ctx, zmq.REP)
    with pytest.raises(zmq.ZMQError) as exc:
        rep.send(b"x")
    assert exc.value.errno == zmq.EFSM


def test_req_load_balances_and_takes_the_reply_from_its_peer(ctx, endpoint, transport):
    req = sock(ctx, zmq.REQ)
    reps = [sock(ctx, zmq.REP) for _ in range(2)]
    for r in reps:
        req.connect(bind(r, endpoint(transport)))
    for i in range(4):
        req.send(b"q%d" % i)
        r = reps[i % 2]
        assert r.recv() == b"q%d" % i
        r.send(b"r%d" % i)
        assert req.recv() == b"r%d" % i


def test_req_relaxed(ctx, endpoint, transport):
    req = sock(ctx, zmq.REQ, req_relaxed=1)
    rep = sock(ctx, zmq.REP)
    link(rep, req, endpoint(transport))
    req.send(b"q1")
    req.send(b"q2")  # allowed: the reply to q1 will be ignored
    assert rep.recv() == b"q1"
    rep.send(b"r1")
    assert rep.recv() == b"q2"
    rep.send(b"r2")
    assert req.recv() == b"r1"  # without REQ_CORRELATE libzmq cannot tell them apart
    with pytest.raises(zmq.ZMQError) as exc:
        req.recv(zmq.DONTWAIT)
    assert exc.value.errno == zmq.EFSM


def test_req_correlate(ctx, endpoint, transport):
    req = sock(ctx, zmq.REQ, req_relaxed=1, req_correlate=1)
    router = sock(ctx, zmq.ROUTER)
    link(router, req, endpoint(transport))
    req.send(b"q1")
    rid, id1, delim, body = router.recv_multipart()
    assert len(id1) == 4 and delim == b"" and body == b"q1"
    req.send(b"q2")
    rid2, id2, delim, body = router.recv_multipart()
    assert rid2 == rid and len(id2) == 4 and id2 != id1 and body == b"q2"
    router.send_multipart([rid, id1, b"", b"r1"])  # stale: dropped
    router.send_multipart([rid, id2, b"", b"r2"])
    assert req.recv() == b"r2"
    with pytest.raises(zmq.ZMQError) as exc:
        req.recv(zmq.DONTWAIT)
    assert exc.value.errno == zmq.EFSM


def test_req_drops_replies_without_delimiter(ctx, endpoint):
    # inproc only: over a stream libzmq drops the whole connection of such a peer
    req = sock(ctx, zmq.REQ)
    router = sock(ctx, zmq.ROUTER)
    link(router, req, endpoint("inproc"))
    req.send(b"q")
    rid, _, _ = router.recv_multipart()
    router.send_multipart([rid, b"no delimiter"])
    router.send_multipart([rid, b"", b"good"])
    assert req.recv() == b"good"


def test_rep_envelope_through_router_dealer_chain(ctx, endpoint, transport):
    # REQ -> ROUTER | DEALER -> ROUTER | DEALER -> REP, forwarded by hand like a proxy
    req = sock(ctx, zmq.REQ)
    front1 = sock(ctx, zmq.ROUTER)
    back1 = sock(ctx, zmq.DEALER)
    front2 = sock(ctx, zmq.ROUTER)
    back2 = sock(ctx, zmq.DEALER)
    rep = sock(ctx, zmq.REP)
    req.connect(bind(front1, endpoint(transport)))
    back1.connect(bind(front2, endpoint(transport)))
    rep.connect(bind(back2, endpoint(transport)))
    for i in range(3):
        req.send_multipart([b"q%d" % i, b""])
        m = front1.recv_multipart()
        assert len(m) == 4 and m[1:] == [b"", b"q%d" % i, b""]
        back1.send_multipart(m)
        m2 = front2.recv_multipart()
        assert len(m2) == 5 and m2[1:] == m  # a second routing id on the stack
        back2.send_multipart(m2)
        assert rep.recv_multipart() == [b"q%d" % i, b""]
        rep.send_multipart([b"r%d" % i, b""])
        r2 = back2.recv_multipart()
        assert r2 == [*m2[:3], b"r%d" % i, b""]
        front2.send_multipart(r2)
        r1 = back1.recv_multipart()
        assert r1 == [m[0], b"", b"r%d" % i, b""]
        front1.send_multipart(r1)
        assert req.recv_multipart() == [b"r%d" % i, b""]


def test_rep_serves_many_clients(ctx, endpoint, transport):
    rep = sock(ctx, zmq.REP)
    addr = bind(rep, endpoint(transport))
    reqs = [sock(ctx, zmq.REQ) for _ in range(3)]
    for i, r in enumerate(reqs):
        r.connect(addr)
        r.send(b"from%d" % i)
    for _ in range(3):
        q = rep.recv()
        rep.send(b"re:" + q)
    for i, r in enumerate(reqs):
        assert r.recv() == b"re:from%d" % i


# -- ROUTER ------------------------------------------------------------------------------------


def test_router_auto_routing_ids(ctx, endpoint, transport):
    router = sock(ctx, zmq.ROUTER)
    addr = bind(router, endpoint(transport))
    dealers = [sock(ctx, zmq.DEALER) for _ in range(2)]
    ids = {}
    for i, d in enumerate(dealers):
        d.connect(addr)
        d.send(b"%d" % i)
        rid, body = router.recv_multipart()
        ids[body] = rid
        assert len(rid) == 5 and rid[0] == 0, rid
    assert ids[b"0"] != ids[b"1"]
    for body, rid in ids.items():
        router.send_multipart([rid, b"to" + body])
    assert dealers[0].recv() == b"to0"
    assert dealers[1].recv() == b"to1"


def test_router_uses_the_peers_routing_id(ctx, endpoint, transport):
    router = sock(ctx, zmq.ROUTER)
    addr = bind(router, endpoint(transport))
    d = sock(ctx, zmq.DEALER, routing_id=b"alice")
    d.connect(addr)
    d.send(b"hi")
    assert router.recv_multipart() == [b"alice", b"hi"]
    router.send_multipart([b"alice", b"hello"])
    assert d.recv() == b"hello"
    req = sock(ctx, zmq.REQ, routing_id=b"bob")
    req.connect(addr)
    req.send(b"q")
    assert router.recv_multipart() == [b"bob", b"", b"q"]


def test_router_connect_routing_id(ctx, endpoint, transport):
    server = sock(ctx, zmq.ROUTER)
    addr = bind(server, endpoint(transport))
    client = sock(ctx, zmq.ROUTER, router_mandatory=1)
    client.setsockopt(zmq.CONNECT_ROUTING_ID, b"the-server")
    client.connect(addr)
    send_when_routable(client, [b"the-server", b"hello"])
    rid, body = server.recv_multipart()
    assert body == b"hello" and len(rid) == 5 and rid[0] == 0
    server.send_multipart([rid, b"back"])
    assert client.recv_multipart() == [b"the-server", b"back"]


def test_router_mandatory_unknown_peer(ctx):
    router = sock(ctx, zmq.ROUTER)
    router.send_multipart([b"nobody", b"x"])  # silently dropped by default
    router.router_mandatory = 1
    with pytest.raises(zmq.ZMQError) as exc:
        router.send_multipart([b"nobody", b"x"])
    assert exc.value.errno == zmq.EHOSTUNREACH
    assert "nobody" in str(exc.value)


def test_router_handover(ctx, endpoint, transport):
    router = sock(ctx, zmq.ROUTER, router_handover=1)
    addr = bind(router, endpoint(transport))
    d1 = sock(ctx, zmq.DEALER, routing_id=b"X", rcvtimeo=100)
    d1.connect(addr)
    d1.send(b"one")
    assert router.recv_multipart() == [b"X", b"one"]
    d2 = sock(ctx, zmq.DEALER, routing_id=b"X")
    d2.connect(addr)
    d2.send(b"two")
    assert router.recv_multipart() == [b"X", b"two"]
    router.send_multipart([b"X", b"reply"])
    assert d2.recv() == b"reply"
    with pytest.raises(zmq.Again):
        d1.recv()


def test_router_without_handover_keeps_the_first_peer(ctx, endpoint, transport):
    router = sock(ctx, zmq.ROUTER)
    addr = bind(router, endpoint(transport))
    d1 = sock(ctx, zmq.DEALER, routing_id=b"X")
    d1.connect(addr)
    d1.send(b"one")
    assert router.recv_multipart() == [b"X", b"one"]
    d2 = sock(ctx, zmq.DEALER, routing_id=b"X", rcvtimeo=100)
    d2.connect(addr)
    d2.send(b"two")
    router.send_multipart([b"X", b"reply"])
    assert d1.recv() == b"reply"
    with pytest.raises(zmq.Again):
        d2.recv()
    assert router.poll(50) == 0


def test_probe_router(ctx, endpoint, transport):
    router = sock(ctx, zmq.ROUTER)
    addr = bind(router, endpoint(transport))
    d = sock(ctx, zmq.DEALER, routing_id=b"D", probe_router=1)
    d.connect(addr)
    assert router.recv_multipart() == [b"D", b""]
    r2 = sock(ctx, zmq.ROUTER, routing_id=b"R", probe_router=1)
    r2.connect(addr)
    assert router.recv_multipart() == [b"R", b""]


def test_router_notify(ctx, endpoint, transport):
    router = sock(ctx, zmq.ROUTER, router_notify=zmq.NOTIFY_CONNECT | zmq.NOTIFY_DISCONNECT)
    addr = bind(router, endpoint(transport))
    d = sock(ctx, zmq.DEALER, routing_id=b"D")
    d.connect(addr)
    assert router.recv_multipart() == [b"D", b""]
    d.close()
    assert router.recv_multipart() == [b"D", b""]


# -- STREAM ------------------------------------------------------------------------------------


def test_stream_with_a_plain_tcp_peer(ctx):
    stream = sock(ctx, zmq.STREAM)
    port = stream.bind_to_random_port("tcp://127.0.0.1")
    with pysocket.create_connection(("127.0.0.1", port), timeout=2) as peer:
        rid, data = stream.recv_multipart()  # connect notification
        assert data == b"" and len(rid) == 5 and rid[0] == 0
        peer.sendall(b"hello")
        got = b""
        while got != b"hello":
            r, chunk = stream.recv_multipart()
            assert r == rid
            got += chunk
        stream.send_multipart([rid, b"world"])
        assert peer.recv(100) == b"world"
        stream.send(rid, zmq.SNDMORE)
        stream.send(b"again")
        assert peer.recv(100) == b"again"
        stream.send_multipart([rid, b""])  # close it
        peer.settimeout(0.01)
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            stream.poll(0)  # (libzmq closes it when the socket is next used)
            try:
                assert peer.recv(100) == b""
                break
            except TimeoutError:
                assert time.monotonic() < deadline
    # libzmq announces a disconnect only when the peer went away, not after our own close:
    # the next message is the next peer's connect notification
    with pysocket.create_connection(("127.0.0.1", port), timeout=2) as peer2:
        rid2, data = stream.recv_multipart()
        assert rid2 != rid and data == b""
        peer2.sendall(b"x")
        assert stream.recv_multipart() == [rid2, b"x"]
    assert stream.recv_multipart() == [rid2, b""]  # the peer closed: disconnect notification


def test_stream_connects_to_a_plain_tcp_listener(ctx):
    with pysocket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        stream = sock(ctx, zmq.STREAM)
        stream.connect(f"tcp://127.0.0.1:{port}")
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(2)
            rid, data = stream.recv_multipart()
            assert data == b""
            stream.send_multipart([rid, b"GET /"])
            assert conn.recv(100) == b"GET /"
            conn.sendall(b"200 OK")
            assert stream.recv_multipart() == [rid, b"200 OK"]


def test_stream_unknown_peer_is_ehostunreach(ctx):
    stream = sock(ctx, zmq.STREAM)
    with pytest.raises(zmq.ZMQError) as exc:
        stream.send_multipart([b"nobody", b"x"])
    assert exc.value.errno == zmq.EHOSTUNREACH


@pytest.mark.parametrize("transport_name", ["inproc", "tcp", "ipc"])
@pytest.mark.parametrize("peers", [1, 2], ids=["one-peer", "two-peers"])
def test_one_frame_and_multipart_messages_interleave(ctx, endpoint, transport_name, peers):
    """One-frame messages travel as bare bytes in pipes and multipart ones as lists: every
    way of receiving (the lock-free pop of a lone peer, fair queueing, copy=False,
    recv_multipart) gives back what was sent, in order."""
    pull = sock(ctx, zmq.PULL)
    addr = bind(pull, endpoint(transport_name))
    pushes = [sock(ctx, zmq.PUSH) for _ in range(peers)]
    for push in pushes:
        push.connect(addr)
    msgs = [[b"a"], [b"b", b"c"], [b""], [b"d" * 300], [b"e", b""], [b"f"]]
    for push in pushes:
        for m in msgs:
            push.send_multipart(m)
    got = []
    for i in range(len(msgs) * peers):
        if i % 3 == 0:
            got.append(pull.recv_multipart())
        elif i % 3 == 1:
            frames = [pull.recv(copy=False)]
            while frames[-1].more:
                frames.append(pull.recv(copy=False))
            got.append([f.bytes for f in frames])
        else:
            parts = [pull.recv()]
            while pull.rcvmore:
                parts.append(pull.recv())
            got.append(parts)
    for m in msgs:
        assert got.count(m) == peers
    if peers == 1:
        assert got == msgs


# -- CONFLATE, IMMEDIATE -----------------------------------------------------------------------


def test_conflate_keeps_the_latest_inproc(ctx):
    push = sock(ctx, zmq.PUSH)
    pull = sock(ctx, zmq.PULL, conflate=1)
    pull.connect(bind(push, "inproc://conflate"))
    for i in range(10):
        push.send(b"%d" % i)
    assert pull.recv() == b"9"
    with pytest.raises(zmq.Again):
        pull.recv(zmq.DONTWAIT)


@pytest.mark.parametrize("transport_name", ["tcp", "ipc"])
def test_conflate_keeps_the_latest(ctx, endpoint, transport_name):
    pull = sock(ctx, zmq.PULL, conflate=1)
    push = sock(ctx, zmq.PUSH)
    addr = concrete(endpoint(transport_name))
    push.connect(addr)
    for i in range(10):
        push.send(b"%d" % i)  # queued until the PULL binds, then delivered in one burst
    pull.bind(addr)
    got = [pull.recv()]
    while got[-1] != b"9":
        got.append(pull.recv())
    assert got == sorted(got, key=int)
    assert len(got) < 10
    with pytest.raises(zmq.Again):
        pull.recv(zmq.DONTWAIT)


def test_conflate_sub(ctx, endpoint, transport):
    pub = sock(ctx, zmq.PUB)
    sub = sock(ctx, zmq.SUB, conflate=1)
    link(pub, sub, endpoint(transport))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    while not sub.poll(10):  # CONFLATE does not take multipart messages: one-frame probes
        pub.send(b"probe")
    for i in range(10):
        pub.send(b"%d" % i)
    got = [b"probe"]
    while got[-1] != b"9":
        got.append(sub.recv())
    got = [m for m in got if m != b"probe"]
    assert got == sorted(got, key=int)


@pytest.mark.parametrize("transport_name", ["tcp", "ipc"])  # libzmq ignores it for inproc
def test_immediate_does_not_queue_for_unconnected_peers(ctx, endpoint, transport_name):
    pull = sock(ctx, zmq.PULL)
    live = bind(pull, endpoint(transport_name))
    dead = concrete(endpoint(transport_name))  # nobody binds this one
    push = sock(ctx, zmq.PUSH, immediate=1)
    push.connect(dead)
    with pytest.raises(zmq.Again):
        push.send(b"x", zmq.DONTWAIT)  # no connected peer: nothing to queue for
    push.connect(live)
    push.send(b"first")  # blocks until the live peer is connected
    for i in range(10):
        push.send(b"%d" % i)
    assert [pull.recv() for _ in range(11)] == [b"first"] + [b"%d" % i for i in range(10)]


def test_without_immediate_messages_queue_for_unconnected_peers(ctx, endpoint, transport):
    pull = sock(ctx, zmq.PULL)
    live = bind(pull, endpoint(transport))
    dead = concrete(endpoint(transport))
    push = sock(ctx, zmq.PUSH)
    push.connect(dead)
    push.connect(live)
    for i in range(10):
        push.send(b"%d" % i)
    assert [pull.recv() for _ in range(5)] == [b"%d" % i for i in range(1, 10, 2)]
    assert pull.poll(50) == 0
    late = sock(ctx, zmq.PULL)
    late.bind(dead)
    assert [late.recv() for _ in range(5)] == [b"%d" % i for i in range(0, 10, 2)]


# -- high-water marks --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [zmq.PUSH, zmq.DEALER])
def test_push_blocks_at_hwm_inproc(ctx, kind):
    push = sock(ctx, kind, sndhwm=3)
    pull = sock(ctx, zmq.PULL if kind == zmq.PUSH else zmq.DEALER, rcvhwm=2)
    pull.connect(bind(push, "inproc://hwm"))
    assert count_until_again(push, lambda n: [b"%d" % n], 100) == 5  # SNDHWM + RCVHWM
    push.sndtimeo = 100
    start = time.monotonic()
    with pytest.raises(zmq.Again):
        finishes(push.send, b"late")  # a send that ignored SNDTIMEO would hang
    assert time.monotonic() - start >= 0.08  # not before SNDTIMEO; how late is not asserted
    assert [pull.recv() for _ in range(5)] == [b"0", b"1", b"2", b"3", b"4"]
    push.send(b"5", zmq.DONTWAIT)  # room again
    assert pull.recv() == b"5"


def test_push_blocks_at_hwm(ctx, endpoint, transport):
    # over a stream the kernel buffers too, so the count is bounded but not exact
    big = b"x" * 65536
    push = sock(ctx, zmq.PUSH, sndhwm=4, sndbuf=65536, sndtimeo=100)
    pull = sock(ctx, zmq.PULL, rcvhwm=4, rcvbuf=65536)
    link(pull, push, endpoint(transport))
    push.send(b"hello")
    assert pull.recv() == b"hello"
    sent = count_until_again(push, lambda n: [big], 1000)
    assert 1 <= sent < 200
    for _ in range(sent):
        assert pull.recv() == big
    push.send(b"flows again")
    assert pull.recv() == b"flows again"


def test_blocking_push_resumes_when_the_peer_reads(ctx):
    push = sock(ctx, zmq.PUSH, sndhwm=1)
    pull = sock(ctx, zmq.PULL, rcvhwm=1)
    pull.connect(bind(push, "inproc://resume"))
    push.send(b"0")
    push.send(b"1")
    done = threading.Event()

    def reader() -> None:
        assert pull.poll(TIMEOUT_MS)
        done.set()
        assert pull.recv() == b"0"

    t = threading.Thread(target=reader)
    t.start()
    push.send(b"2")  # blocks until the reader takes one
    t.join(TIMEOUT_MS / 1000)
    assert done.is_set()
    assert [pull.recv(), pull.recv()] == [b"1", b"2"]


def test_pub_drops_at_hwm(ctx):
    pub = sock(ctx, zmq.PUB, sndhwm=2)
    sub = sock(ctx, zmq.SUB, rcvhwm=2)
    sub.connect(bind(pub, "inproc://pubhwm"))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    await_subscription(pub, sub)
    # DONTWAIT sends that never say Again: PUB drops at the HWM instead of blocking
    assert count_until_again(pub, lambda n: [b"%d" % n], 1000) == 1000
    got = [m[0] for m in drain(sub)]
    assert 1 <= len(got) <= 4  # at most SNDHWM + RCVHWM: the first ones; the rest dropped
    assert got == [b"%d" % i for i in range(len(got))]


def test_pub_never_blocks_over_streams(ctx, endpoint, transport):
    pub = sock(ctx, zmq.PUB, sndhwm=2, sndbuf=65536)
    sub = sock(ctx, zmq.SUB, rcvhwm=2, rcvbuf=65536)
    link(pub, sub, endpoint(transport))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    await_subscription(pub, sub)
    big = b"x" * 65536
    assert count_until_again(pub, lambda n: [big], 300) == 300
    assert 1 <= len(drain(sub, first_ms=TIMEOUT_MS)) < 300


def test_router_drops_at_hwm(ctx):
    router = sock(ctx, zmq.ROUTER, sndhwm=2)
    dealer = sock(ctx, zmq.DEALER, rcvhwm=2, routing_id=b"D")
    dealer.connect(bind(router, "inproc://routerhwm"))
    dealer.send(b"hi")
    assert router.recv_multipart() == [b"D", b"hi"]
    assert count_until_again(router, lambda n: [b"D", b"%d" % n], 100) == 100
    assert [m[0] for m in drain(dealer)] == [b"0", b"1", b"2", b"3"]
    router.router_mandatory = 1
    assert count_until_again(router, lambda n: [b"D", b"%d" % n], 100) == 4
    router.sndtimeo = 50
    with pytest.raises(zmq.Again):
        router.send_multipart([b"D", b"late"])
    with pytest.raises(zmq.ZMQError) as exc:
        router.send_multipart([b"nobody", b"x"], zmq.DONTWAIT)
    assert exc.value.errno == zmq.EHOSTUNREACH


def test_dealer_with_no_peer_is_again(ctx):
    for kind in (zmq.DEALER, zmq.PUSH, zmq.REQ, zmq.PAIR):
        s = sock(ctx, kind)
        with pytest.raises(zmq.Again):
            s.send(b"x", zmq.DONTWAIT)


# -- many sockets in many threads --------------------------------------------------------------


@pytest.mark.parametrize("transport_name", ["inproc", "tcp", "ipc"])
def test_many_threads(ctx, endpoint, transport_name):
    n_threads, n_msgs = 8, 1000
    errors: list[BaseException] = []
    endpoints = [endpoint(transport_name) for _ in range(n_threads)]

    def worker(i: int) -> None:
        try:
            pull = sock(ctx, zmq.PULL)
            push = sock(ctx, zmq.PUSH)
            push.connect(bind(pull, endpoints[i]))
            for k in range(n_msgs):
                push.send_multipart([b"%d" % i, b"%d" % k])
            for k in range(n_msgs):
                assert pull.recv_multipart() == [b"%d" % i, b"%d" % k]
            push.close()
            pull.close()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def test_threads_share_one_pull(ctx, endpoint, transport):
    pull = sock(ctx, zmq.PULL)
    addr = bind(pull, endpoint(transport))
    n_threads, n_msgs = 6, 300

    def worker(i: int) -> None:
        push = sock(ctx, zmq.PUSH)
        push.connect(addr)
        for k in range(n_msgs):
            push.send(struct.pack("!II", i, k))
        push.close(linger=-1)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    seen: dict[int, list[int]] = {i: [] for i in range(n_threads)}
    for _ in range(n_threads * n_msgs):
        i, k = struct.unpack("!II", pull.recv())
        seen[i].append(k)
    for t in threads:
        t.join(10)
    assert all(v == list(range(n_msgs)) for v in seen.values())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.binary(max_size=3)), max_size=12),
    st.lists(st.binary(max_size=4), min_size=1, max_size=8),
)
def test_subscription_index_matching_is_brute_force_prefix_matching(
    subs: list[tuple[int, bytes]], topics: list[bytes]
) -> None:
    """PUB's match, in both its forms (one subscription length and several), against the
    definition: a pipe gets a message when one of its topics is a prefix of it."""
    from vmzmq.patterns.strategies import SubscriptionIndex

    pipes = [object() for _ in range(4)]
    index = SubscriptionIndex()
    for pipe, topic in subs:
        index.add(topic, pipes[pipe])  # type: ignore[arg-type]
    for topic in topics:
        want = {pipes[p] for p, t in subs if topic.startswith(t)}
        assert index.matches(topic) == want
        got = index.matching(topic)
        assert set(got) == want and len(got) == len(want)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "remove", "remove_pipe"]), st.integers(0, 3),
                  st.binary(max_size=3)),
        max_size=20,
    ),
    st.lists(st.binary(max_size=4), min_size=1, max_size=6),
)
def test_subscription_index_matching_follows_every_change(
    ops: list[tuple[str, int, bytes]], topics: list[bytes]
) -> None:
    """``matching`` keeps its answers per topic while the subscriptions stay: after every
    subscribe, cancel and departed peer (in any order, matched in between) it still gives
    exactly the pipes with a topic that is a prefix of the message."""
    from vmzmq.patterns.strategies import SubscriptionIndex

    pipes = [object() for _ in range(4)]
    index = SubscriptionIndex()
    model: set[tuple[int, bytes]] = set()
    for op, p, topic in ops:
        if op == "add":
            index.add(topic, pipes[p])  # type: ignore[arg-type]
            model.add((p, topic))
        elif op == "remove":
            index.remove(topic, pipes[p])  # type: ignore[arg-type]
            model.discard((p, topic))
        else:
            index.remove_pipe(pipes[p])  # type: ignore[arg-type]
            model = {(q, t) for q, t in model if q != p}
        lengths = {len(t) for _, t in model}
        everyone = index.everyone()
        if lengths == {0}:  # the one subscription is b"": every message goes to all of them
            assert everyone is not None and set(everyone) == {pipes[q] for q, _ in model}
        else:
            assert everyone is None
        assert index.only_length == (lengths.pop() if len(lengths) == 1 else None)
        for message in topics:
            want = {pipes[q] for q, t in model if message.startswith(t)}
            got = index.matching(message)
            assert set(got) == want and len(got) == len(want)
