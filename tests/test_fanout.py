"""PUB's shared burst (engine/fanout.py): while every subscriber wants everything, a message is
framed once for all of them and each burst is written as one shared buffer. These tests pin
what that must not change: every subscriber gets every message in order across the switches
between the shared burst and the per-subscriber path (multipart and large messages, a
subscriber leaving or joining, SNDHWM), a burst is delivered when the sender goes quiet or
closes, and libzmq subscribers decode the shared buffers."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import zmq  # pyzmq: libzmq subscribers
from tests.interop_helpers import cleanup_ipc, last_endpoint, recv_within

import vmzmq
from waiting import wait_until

pytestmark = pytest.mark.timeout(300)

END = b"END"


@pytest.fixture
def vctx():
    ctx = vmzmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def zctx():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def publisher(ctx: vmzmq.Context, transport: str = "tcp", **opts: Any) -> tuple[Any, str]:
    pub = ctx.socket(vmzmq.PUB)
    pub.sndhwm = 0
    for name, value in opts.items():
        setattr(pub, name, value)
    pub.bind("tcp://127.0.0.1:*" if transport == "tcp" else "ipc://*")
    return pub, last_endpoint(pub)


def subscriber(ctx: Any, endpoint: str, topic: bytes = b"") -> Any:
    lib = vmzmq if isinstance(ctx, vmzmq.Context) else zmq
    sub = ctx.socket(lib.SUB)
    sub.rcvhwm = 0
    sub.linger = 0
    sub.setsockopt(lib.SUBSCRIBE, topic)
    sub.connect(endpoint)
    return sub


def subscribed(pub: Any, count: int) -> None:
    """Wait until ``count`` subscribers want everything (the publisher's own index)."""
    subs = pub._core.pattern.subs
    wait_until(lambda: len(subs.everyone() or {}) == count, what=f"{count} subscriptions")


class Collector(threading.Thread):
    """Receives on ``sub`` until END: the messages before it."""

    def __init__(self, sub: Any) -> None:
        super().__init__(daemon=True)
        self.sub = sub
        self.got: list[list[bytes]] = []
        self.start()

    def run(self) -> None:
        sub = self.sub
        sub.rcvtimeo = 60_000
        while True:
            msg = sub.recv_multipart()
            if msg == [END]:
                return
            self.got.append(msg)

    def result(self) -> list[list[bytes]]:
        self.join(120)
        assert not self.is_alive(), f"END never came ({len(self.got)} messages so far)"
        return self.got


def stream(n: int) -> list[list[bytes]]:
    """Numbered messages of many sizes, with multipart and large ones among them (those take
    the per-subscriber path and end a shared burst)."""
    msgs: list[list[bytes]] = []
    for i in range(n):
        tag = b"%06d" % i
        if i % 997 == 500:
            msgs.append([tag, b"", b"part" * 50])
        elif i % 4999 == 2000:
            msgs.append([tag + b"L" * 70_000])
        else:
            msgs.append([tag + b"x" * (i % 300)])
    return msgs


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_every_subscriber_gets_every_message_in_order(vctx, zctx, transport):
    pub, endpoint = publisher(vctx, transport)
    subs = [subscriber(vctx, endpoint), subscriber(vctx, endpoint),
            subscriber(zctx, endpoint), subscriber(zctx, endpoint)]
    subscribed(pub, len(subs))
    collectors = [Collector(sub) for sub in subs]
    msgs = stream(20_000)
    for msg in msgs:
        pub.send_multipart(msg)
    pub.send(END)
    for collector in collectors:
        got = collector.result()
        assert len(got) == len(msgs) and got == msgs
    assert pub._core.fan.shared > len(msgs) // 2  # most went through the shared burst
    cleanup_ipc(endpoint)


def test_a_burst_is_delivered_when_the_sender_goes_quiet(vctx):
    """After a burst the sending thread calls nothing: the I/O thread writes it."""
    pub, endpoint = publisher(vctx)
    subs = [subscriber(vctx, endpoint) for _ in range(3)]
    subscribed(pub, 3)
    msgs = [[b"%d" % i] for i in range(200)]
    for msg in msgs:
        pub.send_multipart(msg)
    for sub in subs:
        assert [recv_within(sub) for _ in msgs] == msgs


def test_close_with_linger_delivers_the_burst(vctx):
    pub, endpoint = publisher(vctx)
    subs = [subscriber(vctx, endpoint) for _ in range(3)]
    subscribed(pub, 3)
    collectors = [Collector(sub) for sub in subs]
    msgs = [[b"%d" % i] for i in range(3000)]
    for msg in msgs:
        pub.send_multipart(msg)
    pub.send(END)
    pub.close(linger=-1)
    for collector in collectors:
        assert collector.result() == msgs


def test_a_subscriber_leaving_mid_burst(vctx):
    pub, endpoint = publisher(vctx)
    stay = [subscriber(vctx, endpoint) for _ in range(2)]
    leave = subscriber(vctx, endpoint)
    subscribed(pub, 3)
    collectors = [Collector(sub) for sub in stay]
    msgs = [[b"%d" % i + b"." * (i % 100)] for i in range(20_000)]
    for i, msg in enumerate(msgs):
        pub.send_multipart(msg)
        if i == 5000:
            leave.close(linger=0)
    pub.send(END)
    for collector in collectors:
        assert collector.result() == msgs


def test_a_subscriber_joining_mid_stream(vctx, zctx):
    pub, endpoint = publisher(vctx)
    first = [subscriber(vctx, endpoint), subscriber(zctx, endpoint)]
    subscribed(pub, 2)
    collectors = [Collector(sub) for sub in first]
    late = None
    msgs = [[b"%d" % i] for i in range(20_000)]
    for i, msg in enumerate(msgs):
        pub.send_multipart(msg)
        if i == 2000:
            late = subscriber(vctx, endpoint)
        if i == 3000:
            subscribed(pub, 3)  # the rest goes to all three
            late_collector = Collector(late)
    pub.send(END)
    for collector in collectors:
        assert collector.result() == msgs
    tail = late_collector.result()
    assert tail and tail == msgs[len(msgs) - len(tail) :]  # a gapless tail up to the end
    assert len(tail) >= len(msgs) - 3001


def test_sndhwm_drops_for_the_slow_subscriber_only(vctx):
    pub, endpoint = publisher(vctx, sndhwm=100)
    fast = subscriber(vctx, endpoint)
    slow = vctx.socket(vmzmq.SUB)
    slow.rcvhwm = 10
    slow.rcvbuf = 4096
    slow.subscribe(b"")
    slow.connect(endpoint)
    subscribed(pub, 2)
    collector = Collector(fast)
    fast_msgs = [[b"%d" % i + b"." * 200] for i in range(20_000)]
    for msg in fast_msgs:
        pub.send_multipart(msg)
    pub.send(END)
    assert collector.result() == fast_msgs  # ... fast is never starved by the slow one
    got = []
    while slow.poll(500):
        msg = slow.recv_multipart()
        if msg != [END]:
            got.append(msg)
    # the slow one lost messages at the marks, and what it got is in order
    assert len(got) < len(fast_msgs)
    numbers = [int(m[0].rstrip(b".")) for m in got]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_curve_subscribers_take_the_per_subscriber_path(vctx):
    public, secret = vmzmq.curve_keypair()
    pub, endpoint = publisher(
        vctx, curve_server=True, curve_secretkey=secret, curve_publickey=public
    )
    subs = []
    for _ in range(3):
        sub = vctx.socket(vmzmq.SUB)
        sub.curve_serverkey = public
        sub.curve_publickey, sub.curve_secretkey = vmzmq.curve_keypair()
        sub.rcvhwm = 0
        sub.subscribe(b"")
        sub.connect(endpoint)
        subs.append(sub)
    subscribed(pub, 3)
    collectors = [Collector(sub) for sub in subs]
    msgs = [[b"%d" % i] for i in range(3000)]
    for msg in msgs:
        pub.send_multipart(msg)
    pub.send(END)
    for collector in collectors:
        assert collector.result() == msgs
    assert pub._core.fan.shared == 0  # sealed per connection, never shared
