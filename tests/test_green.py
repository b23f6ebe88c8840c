"""vmzmq.green: gevent-cooperative sockets, Poller, select and proxies on a real gevent hub.

Every test runs its body in a thread of its own (``in_hub``), whose gevent hub is the one the
greenlets share: a body that blocked the hub would hang, and ``finishes`` turns that hang into
a failure. "The hub is not blocked" is shown the direct way: one greenlet sits in a blocking
call (parked on the socket's wake-up fd) while another keeps running and then unblocks it.
"""

from __future__ import annotations

import errno
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

gevent = pytest.importorskip("gevent")

import vmzmq  # noqa: E402
import vmzmq.green as gzmq  # noqa: E402
from vmzmq.green import core as green_core  # noqa: E402
from vmzmq.green.device import green_socket  # noqa: E402
from waiting import HANG, finishes  # noqa: E402


# -- helpers ----------------------------------------------------------------------------------
def in_hub(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a new thread, as the main greenlet of that thread's own gevent hub."""

    def body() -> Any:
        hub = gevent.get_hub()
        try:
            with gevent.Timeout(HANG):
                result = fn()
            # Every wait must have let go of its watcher: nothing stays registered.
            assert not green_core._table(hub), "watchers left behind"
            return result
        finally:
            hub.destroy(destroy_loop=True)

    return finishes(body, hang=2 * HANG, what="the greenlets")


def until(cond: Callable[[], Any]) -> None:
    """Yield to the hub until ``cond()`` holds (bounded by in_hub's Timeout)."""
    while not cond():
        gevent.sleep(0)


def parked(sock: Any) -> Callable[[], bool]:
    """Whether some greenlet waits on ``sock`` (counted in its signaler while it waits)."""
    return lambda: sock._signaler.waiters > 0


@pytest.fixture
def gctx():
    ctx = gzmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def pair(ctx: Any, endpoint: str, a: int = vmzmq.PUSH, b: int = vmzmq.PULL) -> tuple[Any, Any]:
    """(sender, receiver): the receiver binds ``endpoint``, the sender connects to it."""
    rx = ctx.socket(b)
    rx.linger = 0
    rx.bind(endpoint)
    tx = ctx.socket(a)
    tx.linger = 0
    tx.connect(rx.last_endpoint.decode())
    return tx, rx


# -- the module -------------------------------------------------------------------------------
def test_module_is_vmzmq_with_green_classes(gctx):
    assert gzmq.__all__ == vmzmq.__all__
    for name in vmzmq.__all__:
        assert hasattr(gzmq, name), name
    assert gzmq.PUSH == vmzmq.PUSH and gzmq.Again is vmzmq.Again
    assert gzmq.Frame is vmzmq.Frame and gzmq.ZMQError is vmzmq.ZMQError
    for name in ("Context", "Socket", "Poller", "select", "proxy", "proxy_steerable", "device"):
        assert getattr(gzmq, name) is not getattr(vmzmq, name), name
    s = gctx.socket(vmzmq.PAIR)
    assert isinstance(s, gzmq.Socket) and isinstance(s, vmzmq.Socket)
    assert isinstance(gctx, vmzmq.Context)
    assert isinstance(gzmq.Poller(), vmzmq.Poller)
    assert gzmq.Context.instance() is gzmq.Context.instance()
    assert gzmq.Context.instance() is not vmzmq.Context.instance()
    assert isinstance(gzmq.Context.instance(), gzmq.Context)


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG
    )


def test_vmzmq_alone_never_imports_gevent():
    out = _run_python("import sys, vmzmq; print('gevent' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_without_gevent_the_import_error_says_so():
    # None in sys.modules makes "import gevent" fail as if it were not installed.
    out = _run_python(
        "import sys; sys.modules['gevent'] = None\n"
        "try:\n    import vmzmq.green\n"
        "except ImportError as e:\n    print('ImportError:', e)\n"
    )
    assert out.returncode == 0, out.stderr
    assert "ImportError: vmzmq.green needs gevent" in out.stdout


# -- the hub keeps running ----------------------------------------------------------------------
def test_recv_blocks_only_its_greenlet(gctx, transport, endpoint):
    def body() -> None:
        tx, rx = pair(gctx, endpoint(transport))
        receiver = gevent.spawn(rx.recv)
        until(parked(rx))
        ticks = []

        def ticker() -> None:
            for i in range(50):
                ticks.append(i)
                gevent.sleep(0)

        gevent.spawn(ticker).join()
        assert len(ticks) == 50
        assert not receiver.ready()  # still blocked, and the hub ran the ticker meanwhile
        gevent.spawn(tx.send, b"wake up").join()
        assert receiver.get() == b"wake up"
        assert not parked(rx)()

    in_hub(body)


def test_round_trips_between_greenlets(gctx, transport, endpoint):
    def body() -> None:
        req, rep = pair(gctx, endpoint(transport), vmzmq.REQ, vmzmq.REP)

        def server() -> None:
            for _ in range(20):
                msg = rep.recv_multipart()
                rep.send_multipart([b"re:", *msg])

        def client() -> list:
            answers = []
            for i in range(20):
                req.send_string(f"q{i}")
                answers.append(req.recv_multipart())
            return answers

        srv = gevent.spawn(server)
        cli = gevent.spawn(client)
        assert cli.get() == [[b"re:", f"q{i}".encode()] for i in range(20)]
        srv.get()

    in_hub(body)


def test_every_send_and_recv_variant(gctx, endpoint):
    def body() -> None:
        tx, rx = pair(gctx, endpoint("tcp"))
        got: list = []

        def reader() -> None:
            got.append(rx.recv())
            got.append(rx.recv_multipart())
            got.append(rx.recv_string())
            got.append(rx.recv_json())
            got.append(rx.recv_pyobj())
            got.append(rx.recv_serialized(lambda frames: [bytes(f).upper() for f in frames]))
            buf = bytearray(4)
            got.append((rx.recv_into(buf), bytes(buf)))
            frames = rx.recv_multipart(copy=False)
            got.append([(f.bytes, f.more) for f in frames])
            frame = rx.recv(copy=False)
            got.append(frame.bytes)

        r = gevent.spawn(reader)
        until(parked(rx))
        tx.send(b"one")
        tx.send_multipart([b"a", b"b", b""])
        tx.send_string("héllo")
        tx.send_json({"k": [1, 2]})
        tx.send_pyobj({"x": (1, 2)})
        tx.send_serialized(["s", "t"], lambda m: [x.encode() for x in m])
        tx.send(b"truncated")
        tx.send_multipart([b"f1", b"f2"], copy=False)
        tx.send(b"frame", copy=False)
        r.get()
        assert got == [
            b"one",
            [b"a", b"b", b""],
            "héllo",
            {"k": [1, 2]},
            {"x": (1, 2)},
            [b"S", b"T"],
            (9, b"trun"),
            [(b"f1", True), (b"f2", False)],
            b"frame",
        ]

    in_hub(body)


def test_send_waits_for_room_without_blocking_the_hub(gctx, endpoint):
    def body() -> None:
        tx, rx = pair(gctx, endpoint("inproc"))
        tx.sndhwm = 1
        rx.rcvhwm = 1
        tx.close()
        tx = gctx.socket(vmzmq.PUSH)
        tx.sndhwm = 1
        tx.linger = 0
        tx.connect(rx.last_endpoint.decode())
        sent = []

        def sender() -> None:
            for i in range(20):
                tx.send(b"%d" % i)
                sent.append(i)

        s = gevent.spawn(sender)
        until(parked(tx))  # the pipe is full: the sender waits for room
        assert not s.ready() and len(sent) < 20
        received = [rx.recv() for _ in range(20)]
        s.get()
        assert received == [b"%d" % i for i in range(20)]

    in_hub(body)


@pytest.mark.parametrize("how", ["send", "send_multipart"])
def test_frames_sent_with_sndmore_survive_a_wait(gctx, transport, endpoint, how):
    def body() -> None:
        tx = gctx.socket(vmzmq.PUSH)
        tx.linger = 0
        tx.bind(endpoint(transport))  # no peer yet: nothing can be sent
        tx.send(b"head", vmzmq.SNDMORE)
        if how == "send":
            s = gevent.spawn(tx.send, b"tail")
            expected = [b"head", b"tail"]
        else:
            s = gevent.spawn(tx.send_multipart, [b"mid", b"tail"])
            expected = [b"head", b"mid", b"tail"]
        until(parked(tx))
        rx = gctx.socket(vmzmq.PULL)
        rx.linger = 0
        rx.connect(tx.last_endpoint.decode())
        assert rx.recv_multipart() == expected
        s.get()

    in_hub(body)


def test_several_greenlets_wait_on_one_socket(gctx, endpoint):
    def body() -> None:
        tx, rx = pair(gctx, endpoint("tcp"))
        readers = [gevent.spawn(rx.recv) for _ in range(3)]
        until(lambda: rx._signaler.waiters == 3)
        for i in range(3):
            tx.send(b"%d" % i)
        assert sorted(r.get() for r in readers) == [b"0", b"1", b"2"]

    in_hub(body)


def test_reading_events_elsewhere_does_not_lose_a_wakeup(gctx, endpoint):
    # Reading EVENTS drains the wake-up fd (it is edge-triggered): the greenlet parked in
    # recv must be told anyway. Over inproc the send writes the fd at once, so the drain
    # below is sure to take the only wake-up there is.
    def body() -> None:
        tx, rx = pair(gctx, endpoint("inproc"))
        receiver = gevent.spawn(rx.recv)
        until(parked(rx))
        tx.send(b"msg")
        assert rx.getsockopt(vmzmq.EVENTS) & vmzmq.POLLIN
        assert rx.events & vmzmq.POLLIN
        assert receiver.get() == b"msg"

    in_hub(body)


def test_timeouts_raise_again(gctx, endpoint):
    def body() -> None:
        rx = gctx.socket(vmzmq.PULL)
        rx.linger = 0
        rx.bind(endpoint("tcp"))
        rx.rcvtimeo = 20
        with pytest.raises(vmzmq.Again):
            rx.recv()
        with pytest.raises(vmzmq.Again):
            rx.recv_multipart()
        tx = gctx.socket(vmzmq.PUSH)  # no peer: a send waits for one
        tx.linger = 0
        tx.bind(endpoint("tcp"))
        tx.sndtimeo = 20
        with pytest.raises(vmzmq.Again):
            tx.send(b"x")
        with pytest.raises(vmzmq.Again):
            tx.send_multipart([b"x", b"y"])
        with pytest.raises(vmzmq.Again):
            rx.recv(vmzmq.DONTWAIT)

    in_hub(body)


def test_gevent_timeout_interrupts_a_wait_and_cleans_up(gctx, endpoint):
    def body() -> None:
        tx, rx = pair(gctx, endpoint("tcp"))
        with pytest.raises(gevent.Timeout):
            with gevent.Timeout(0.02):
                rx.recv()
        assert not parked(rx)()
        tx.send(b"later")
        assert rx.recv() == b"later"

    in_hub(body)


def test_close_from_another_greenlet_wakes_a_waiter(gctx, endpoint):
    def body() -> None:
        tx, rx = pair(gctx, endpoint("tcp"))
        receiver = gevent.spawn(rx.recv)
        until(parked(rx))
        rx.close()
        with pytest.raises(vmzmq.ZMQError) as info:
            receiver.get()
        assert info.value.errno == errno.ENOTSOCK

    in_hub(body)


def test_term_wakes_waiters_and_does_not_block_the_hub(gctx, endpoint):
    # pyzmq's green term() blocks the thread, so the greenlets that must close their sockets
    # never run: here they do, and term() returns once they have.
    def body() -> None:
        ctx = gctx  # terminated here; the fixture's destroy() then cleans up after a failure
        tx, rx = pair(ctx, endpoint("tcp"), vmzmq.PAIR, vmzmq.PAIR)
        outcome = []

        def waiter(sock: Any) -> None:
            try:
                sock.recv()
            except vmzmq.ContextTerminated:
                outcome.append("terminated")
            finally:
                sock.close()

        greenlets = [gevent.spawn(waiter, rx), gevent.spawn(waiter, tx)]
        until(lambda: parked(rx)() and parked(tx)())
        ctx.term()
        gevent.joinall(greenlets, raise_error=True)
        assert outcome == ["terminated", "terminated"]
        assert ctx.closed

    in_hub(body)


# -- Poller, select, Socket.poll ------------------------------------------------------------------
def test_poller_waits_for_sockets_and_plain_fds(gctx, endpoint):
    def body() -> None:
        tx, rx = pair(gctx, endpoint("ipc"))
        r, w = os.pipe()
        try:
            poller = gzmq.Poller()
            poller.register(rx, vmzmq.POLLIN)
            poller.register(r, vmzmq.POLLIN)
            assert poller.poll(0) == []
            assert poller.poll(10) == []

            waiting = gevent.spawn(poller.poll)
            until(parked(rx))
            os.write(w, b"x")
            assert waiting.get() == [(r, vmzmq.POLLIN)]
            os.read(r, 1)

            waiting = gevent.spawn(poller.poll, HANG * 1000)
            until(parked(rx))
            tx.send(b"m")
            assert waiting.get() == [(rx, vmzmq.POLLIN)]
            assert rx.recv() == b"m"

            poller.register(tx, vmzmq.POLLOUT)
            assert (tx, vmzmq.POLLOUT) in poller.poll()
        finally:
            os.close(r)
            os.close(w)

    in_hub(body)


def test_poller_raises_for_closed_sockets_and_terminated_contexts(gctx, endpoint):
    def body() -> None:
        ctx = gctx  # terminated here; the fixture's destroy() then cleans up after a failure
        tx, rx = pair(ctx, endpoint("tcp"))
        poller = gzmq.Poller()
        poller.register(rx, vmzmq.POLLIN)
        waiting = gevent.spawn(poller.poll)
        until(parked(rx))
        terming = gevent.spawn(ctx.term)
        with pytest.raises(vmzmq.ContextTerminated):
            waiting.get()
        rx.close()
        with pytest.raises(vmzmq.ZMQError) as info:
            poller.poll(0)
        assert info.value.errno == errno.ENOTSOCK
        tx.close()
        terming.get()

    in_hub(body)


def test_select_and_socket_poll(gctx, endpoint):
    def body() -> None:
        tx, rx = pair(gctx, endpoint("tcp"))
        assert gzmq.select([rx], [], [], 0) == ([], [], [])
        assert rx.poll(0) == 0
        waiting = gevent.spawn(gzmq.select, [rx], [tx], [], None)
        assert waiting.get() == ([], [tx], [])  # the connected PUSH can send at once
        waiting = gevent.spawn(rx.poll, None)
        until(parked(rx))
        tx.send(b"x")
        assert waiting.get() == vmzmq.POLLIN
        assert gzmq.select([rx], [], [], 1) == ([rx], [], [])

    in_hub(body)


def test_plain_vmzmq_socket_in_a_green_poller(endpoint):
    def body() -> None:
        ctx = vmzmq.Context()
        try:
            tx, rx = pair(ctx, endpoint("tcp"))
            poller = gzmq.Poller()
            poller.register(rx, vmzmq.POLLIN)
            waiting = gevent.spawn(poller.poll)
            until(parked(rx))
            gevent.spawn(tx.send, b"x").join()
            assert waiting.get() == [(rx, vmzmq.POLLIN)]
        finally:
            ctx.destroy(linger=0)

    in_hub(body)


# -- proxies --------------------------------------------------------------------------------------
def test_proxy_between_greenlets_until_term(gctx, endpoint):
    def body() -> None:
        ctx = gctx  # terminated here; the fixture's destroy() then cleans up after a failure
        front = ctx.socket(vmzmq.ROUTER)
        back = ctx.socket(vmzmq.DEALER)
        cap = ctx.socket(vmzmq.PUSH)
        tap = ctx.socket(vmzmq.PULL)
        for s in (front, back, cap, tap):
            s.linger = 0
        front.bind(endpoint("tcp"))
        back.bind(endpoint("ipc"))
        tap.bind(endpoint("inproc"))
        cap.connect(tap.last_endpoint.decode())
        ended = []

        def run_proxy() -> None:
            try:
                gzmq.proxy(front, back, cap)
            except vmzmq.ContextTerminated:
                ended.append("proxy")
            for s in (front, back, cap):
                s.close()

        def worker() -> None:
            rep = ctx.socket(vmzmq.REP)
            rep.linger = 0
            rep.connect(back.last_endpoint.decode())
            try:
                while True:
                    rep.send(rep.recv() + b"!")
            except vmzmq.ContextTerminated:
                ended.append("worker")
            rep.close()

        proxy = gevent.spawn(run_proxy)
        work = gevent.spawn(worker)
        req = ctx.socket(vmzmq.REQ)
        req.linger = 0
        req.connect(front.last_endpoint.decode())
        for i in range(5):
            req.send(b"q%d" % i)
            assert req.recv() == b"q%d!" % i
        req.close()
        captured = [tap.recv_multipart() for _ in range(10)]  # requests and replies
        assert [m[-1] for m in captured if m[-1].startswith(b"q")] == [
            x for i in range(5) for x in (b"q%d" % i, b"q%d!" % i)
        ]
        tap.close()
        ctx.term()
        gevent.joinall([proxy, work], raise_error=True)
        assert sorted(ended) == ["proxy", "worker"]

    in_hub(body)


def test_proxy_steerable_statistics_pause_and_terminate(gctx, endpoint):
    def body() -> None:
        front = gctx.socket(vmzmq.PULL)
        back = gctx.socket(vmzmq.PUSH)
        control = gctx.socket(vmzmq.PAIR)
        steer = gctx.socket(vmzmq.PAIR)
        for s in (front, back, control, steer):
            s.linger = 0
        front.bind(endpoint("inproc"))
        back.bind(endpoint("inproc"))
        control.bind(endpoint("inproc"))
        steer.connect(control.last_endpoint.decode())
        tx = gctx.socket(vmzmq.PUSH)
        rx = gctx.socket(vmzmq.PULL)
        tx.linger = rx.linger = 0
        tx.connect(front.last_endpoint.decode())
        rx.connect(back.last_endpoint.decode())

        proxy = gevent.spawn(gzmq.proxy_steerable, front, back, None, control)
        tx.send(b"through")
        assert rx.recv() == b"through"
        steer.send(b"STATISTICS")
        stats = [struct.unpack("=Q", f)[0] for f in steer.recv_multipart()]
        assert stats == [1, 7, 0, 0, 0, 0, 1, 7]
        steer.send(b"PAUSE")
        assert steer.recv() == b""
        tx.send(b"held")  # inproc: in the frontend's queue at once
        # One hub: the proxy runs only while this greenlet waits for the answer, and would
        # have forwarded "held" right after answering, before this greenlet runs again.
        steer.send(b"STATISTICS")
        stats = [struct.unpack("=Q", f)[0] for f in steer.recv_multipart()]
        assert stats == [1, 7, 0, 0, 0, 0, 1, 7]
        assert rx.poll(0) == 0
        steer.send(b"RESUME")
        assert steer.recv() == b""
        assert rx.recv() == b"held"
        steer.send(b"TERMINATE")
        assert proxy.get() == 0
        assert steer.recv() == b""

    in_hub(body)


def test_device_with_plain_sockets_is_still_green(endpoint):
    # Sockets of a plain vmzmq context go through green views: the hub keeps running.
    def body() -> None:
        ctx = vmzmq.Context()
        front = ctx.socket(vmzmq.PULL)
        back = ctx.socket(vmzmq.PUSH)
        for s in (front, back):
            s.linger = 0
        front.bind(endpoint("tcp"))
        back.bind(endpoint("tcp"))
        dev = gevent.spawn(gzmq.device, vmzmq.QUEUE, front, back)
        until(parked(front))
        ticks = []
        gevent.spawn(lambda: ticks.extend(range(3))).join()
        assert ticks == [0, 1, 2] and not dev.ready()
        push = ctx.socket(vmzmq.PUSH)
        pull = ctx.socket(vmzmq.PULL)
        push.linger = pull.linger = 0
        push.connect(front.last_endpoint.decode())
        pull.connect(back.last_endpoint.decode())
        push.send(b"via device")
        assert green_socket(pull).recv() == b"via device"  # a plain recv would block the hub
        dev.kill()
        ctx.destroy(linger=0)

    in_hub(body)


# -- interoperation with libzmq (pyzmq) ------------------------------------------------------------
def test_pyzmq_green_and_vmzmq_green_share_one_hub(gctx, endpoint):
    zmq_green = pytest.importorskip("zmq.green")

    def body() -> None:
        pctx = zmq_green.Context()
        try:
            rep = gctx.socket(vmzmq.REP)
            rep.linger = 0
            rep.bind(endpoint("tcp"))
            req = pctx.socket(zmq_green.REQ)
            req.linger = 0
            req.connect(rep.last_endpoint.decode())

            def server() -> None:
                for _ in range(10):
                    rep.send_multipart([b"ok", *rep.recv_multipart()])

            srv = gevent.spawn(server)
            until(parked(rep))
            for i in range(10):
                req.send_multipart([b"libzmq", pickle.dumps(i)])
                assert req.recv_multipart() == [b"ok", b"libzmq", pickle.dumps(i)]
            srv.get()
            req.close()
        finally:
            pctx.destroy(linger=0)

    in_hub(body)
