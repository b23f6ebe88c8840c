"""vmzmq.eventloop: ZMQStream on a real tornado IOLoop, the deprecated ioloop shim, and the
optional dependency on tornado.

Each test runs a coroutine on a fresh IOLoop (``run``); it waits for what callbacks deliver
through futures (``Collect``), with a deadline that only fails a test that would hang.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import subprocess
import sys
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

tornado = pytest.importorskip("tornado")

from tornado.ioloop import IOLoop  # noqa: E402

import vmzmq  # noqa: E402
import vmzmq.asyncio  # noqa: E402
from vmzmq.eventloop.zmqstream import ZMQStream  # noqa: E402
from waiting import HANG, in_thread, join  # noqa: E402


# -- helpers ----------------------------------------------------------------------------------
def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``coro_fn()`` on a new IOLoop of its own (its own asyncio loop), then close it."""
    loop = IOLoop()
    try:
        return loop.run_sync(coro_fn, timeout=HANG)
    finally:
        loop.close()


class Collect:
    """A callback that keeps what it is called with; ``await wait(n)`` until n calls came."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self._waiting: tuple[int, asyncio.Future] | None = None

    def __call__(self, *args: Any) -> None:
        self.calls.append(args[0] if len(args) == 1 else args)
        if self._waiting is not None and len(self.calls) >= self._waiting[0]:
            fut = self._waiting[1]
            self._waiting = None
            if not fut.done():
                fut.set_result(None)

    async def wait(self, n: int) -> list[Any]:
        if len(self.calls) < n:
            fut = asyncio.get_running_loop().create_future()
            self._waiting = (n, fut)
            await asyncio.wait_for(fut, HANG)
        return self.calls


def pair(ctx: Any, endpoint: str, a: int = vmzmq.PUSH, b: int = vmzmq.PULL) -> tuple[Any, Any]:
    """(sender, receiver): the receiver binds ``endpoint``, the sender connects to it."""
    rx = ctx.socket(b)
    rx.linger = 0
    rx.bind(endpoint)
    tx = ctx.socket(a)
    tx.linger = 0
    tx.connect(rx.last_endpoint.decode())
    return tx, rx


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG
    )


# -- the optional dependency and the ioloop shim ---------------------------------------------------
def test_vmzmq_alone_never_imports_tornado():
    out = _run_python("import sys, vmzmq, vmzmq.asyncio; print('tornado' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("module", ["vmzmq.eventloop", "vmzmq.eventloop.zmqstream"])
def test_without_tornado_the_import_error_says_so(module):
    # None in sys.modules makes "import tornado" fail as if it were not installed.
    out = _run_python(
        "import sys; sys.modules['tornado'] = None\n"
        f"try:\n    import {module}\n"
        "except ImportError as e:\n    print('ImportError:', e)\n"
    )
    assert out.returncode == 0, out.stderr
    assert "ImportError: vmzmq.eventloop needs tornado >= 6" in out.stdout


def test_ioloop_shim_is_tornados_and_deprecated():
    sys.modules.pop("vmzmq.eventloop.ioloop", None)
    with pytest.warns(DeprecationWarning, match="deprecated"):
        ioloop = importlib.import_module("vmzmq.eventloop.ioloop")
    import tornado.ioloop

    import vmzmq.eventloop

    assert ioloop.IOLoop is tornado.ioloop.IOLoop
    assert ioloop.ZMQIOLoop is tornado.ioloop.IOLoop
    assert ioloop.PeriodicCallback is tornado.ioloop.PeriodicCallback
    assert vmzmq.eventloop.IOLoop is tornado.ioloop.IOLoop
    with pytest.warns(DeprecationWarning):
        assert ioloop.install() is None


def test_green_eventloop_modules():
    pytest.importorskip("gevent")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from vmzmq.green.eventloop import IOLoop as GreenIOLoop
        from vmzmq.green.eventloop import ioloop as green_ioloop
        from vmzmq.green.eventloop import zmqstream as green_zmqstream
    assert GreenIOLoop is IOLoop and green_ioloop.IOLoop is IOLoop
    assert issubclass(green_zmqstream.ZMQStream, ZMQStream)

    async def main() -> None:
        import vmzmq.green as gzmq

        ctx = gzmq.Context()
        try:
            tx, rx = pair(ctx, "inproc://green-stream")
            stream = green_zmqstream.ZMQStream(rx)
            assert stream.io_loop is IOLoop.current()
            got = Collect()
            stream.on_recv(got)
            tx.send(b"green")
            assert await got.wait(1) == [[b"green"]]
            stream.close()
        finally:
            ctx.destroy(linger=0)

    run(main)


def test_future_sockets_in_tornado_coroutines(endpoint):
    from tornado import gen

    from vmzmq.eventloop import future

    with pytest.warns(DeprecationWarning, match="io_loop"):
        future.Context(io_loop=IOLoop.current()).term()
    assert future.Context.instance() is future.Context.instance()
    assert future.Context.instance() is not vmzmq.asyncio.Context.instance()
    assert future.CancelledError is asyncio.CancelledError

    @gen.coroutine
    def echo(sock: Any) -> Any:  # an old-style tornado coroutine: yields futures
        msg = yield sock.recv_multipart()
        yield sock.send_multipart([msg[0], b"echo", *msg[1:]])  # back to its sender

    async def main() -> None:
        fctx = future.Context()
        try:
            rx = fctx.socket(vmzmq.ROUTER)
            rx.linger = 0
            rx.bind(endpoint("tcp"))
            tx = fctx.socket(vmzmq.DEALER)
            tx.linger = 0
            tx.routing_id = b"dealer"
            tx.connect(rx.last_endpoint.decode())
            assert isinstance(tx, future.Socket) and isinstance(tx, vmzmq.asyncio.Socket)
            served = echo(rx)
            await tx.send(b"hi")
            await served
            assert await tx.recv_multipart() == [b"echo", b"hi"]
            poller = future.Poller()
            poller.register(tx, vmzmq.POLLIN)
            assert await poller.poll(0) == []
            waiting = poller.poll()
            await rx.send_multipart([b"dealer", b"x"])
            assert await waiting == [(tx, vmzmq.POLLIN)]
        finally:
            fctx.destroy(linger=0)

    run(main)


# -- receiving ------------------------------------------------------------------------------------
def test_on_recv_gets_every_message_in_order(ctx, transport, endpoint):
    async def main() -> None:
        tx, rx = pair(ctx, endpoint(transport))
        stream = ZMQStream(rx)
        assert stream.socket is rx and stream.io_loop is IOLoop.current()
        got = Collect()
        stream.on_recv(got)
        assert stream.receiving()
        for i in range(500):
            tx.send_multipart([b"m", b"%d" % i])
        assert await got.wait(500) == [[b"m", b"%d" % i] for i in range(500)]
        stream.close()

    run(main)


def test_copy_false_gives_frames_and_on_recv_stream_gives_the_stream(ctx, endpoint):
    async def main() -> None:
        tx, rx = pair(ctx, endpoint("ipc"))
        stream = ZMQStream(rx)
        got = Collect()
        stream.on_recv_stream(got, copy=False)
        tx.send_multipart([b"a", b"bc"])
        (who, frames), = await got.wait(1)
        assert who is stream
        assert all(isinstance(f, vmzmq.Frame) for f in frames)
        assert [f.bytes for f in frames] == [b"a", b"bc"]
        assert [f.more for f in frames] == [True, False]
        stream.close()

    run(main)


def test_stop_on_recv_leaves_messages_in_the_socket(ctx, endpoint):
    async def main() -> None:
        tx, rx = pair(ctx, endpoint("inproc"))
        stream = ZMQStream(rx)
        got = Collect()
        stream.on_recv(got)
        tx.send(b"first")
        await got.wait(1)
        stream.stop_on_recv()
        assert not stream.receiving()
        tx.send(b"second")
        assert rx.poll(HANG * 1000)  # it arrived, and the stream left it there
        assert rx.recv() == b"second"
        assert got.calls == [[b"first"]]
        stream.close()

    run(main)


# -- sending --------------------------------------------------------------------------------------
def test_sends_go_out_from_the_loop_with_pyzmq_callback_arguments(ctx, endpoint):
    async def main() -> None:
        tx, rx = pair(ctx, endpoint("tcp"))
        stream = ZMQStream(tx)
        sent = Collect()
        stream.on_send(sent)
        stream.send(b"raw")
        stream.send_multipart([b"x", b"y"])
        stream.send_string("héllo")
        stream.send_json({"k": 1}, sort_keys=True)
        stream.send_pyobj((1, 2))
        stream.send(b"tracked", copy=False, track=True)
        assert sent.calls == []  # never from inside the call: from the loop
        assert stream.sending()
        calls = await sent.wait(6)
        assert [msg for msg, _status in calls] == [
            [b"raw"],
            [b"x", b"y"],
            ["héllo".encode()],
            [b'{"k": 1}'],
            [calls[4][0][0]],
            [b"tracked"],
        ]
        assert [status for _msg, status in calls[:5]] == [None] * 5
        assert isinstance(calls[5][1], vmzmq.MessageTracker)  # copy=False, track=True
        assert not stream.sending()
        assert rx.recv() == b"raw"
        assert rx.recv_multipart() == [b"x", b"y"]
        assert rx.recv_string() == "héllo"
        assert rx.recv_json() == {"k": 1}
        assert rx.recv_pyobj() == (1, 2)
        assert rx.recv() == b"tracked"
        stream.close()

    run(main)


def test_a_send_callback_replaces_on_send(ctx, endpoint):
    # As in pyzmq: the callback given to send() becomes the stream's on_send callback.
    async def main() -> None:
        tx, rx = pair(ctx, endpoint("inproc"))
        stream = ZMQStream(tx)
        first, second = Collect(), Collect()
        stream.on_send(first)
        stream.send(b"1", callback=second)
        stream.send(b"2")
        await second.wait(2)
        assert first.calls == []
        assert second.calls == [([b"1"], None), ([b"2"], None)]
        streamed = Collect()
        stream.on_send_stream(streamed)
        stream.send(b"3")
        assert await streamed.wait(1) == [(stream, [b"3"], None)]
        stream.stop_on_send()
        stream.send(b"4")
        stream.flush()
        assert [rx.recv() for _ in range(4)] == [b"1", b"2", b"3", b"4"]
        stream.close()

    run(main)


def test_send_error_goes_to_the_callback(ctx, endpoint):
    async def main() -> None:
        router = ctx.socket(vmzmq.ROUTER)
        router.linger = 0
        router.router_mandatory = 1
        router.bind(endpoint("inproc"))
        stream = ZMQStream(router)
        sent = Collect()
        with_logs = logging.getLogger("tornado.general")
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        with_logs.addHandler(handler)
        try:
            stream.send_multipart([b"nobody", b"hello"], callback=sent)
            ((msg, status),) = await sent.wait(1)
        finally:
            with_logs.removeHandler(handler)
        assert msg == [b"nobody", b"hello"]
        assert isinstance(status, vmzmq.ZMQError)
        assert status.errno == vmzmq.EHOSTUNREACH
        assert any("send error" in r.getMessage() for r in records)
        stream.close()

    run(main)


def test_queued_sends_wait_for_room_without_blocking_the_loop(ctx, endpoint):
    async def main() -> None:
        rx = ctx.socket(vmzmq.PULL)
        rx.linger = 0
        rx.rcvhwm = 1
        rx.bind(endpoint("inproc"))
        tx = ctx.socket(vmzmq.PUSH)
        tx.linger = 0
        tx.sndhwm = 1
        tx.connect(rx.last_endpoint.decode())
        out = ZMQStream(tx)
        sent = Collect()
        out.on_send(sent)
        for i in range(50):
            out.send(b"%d" % i)
        # The pipe holds two: the rest stays queued in the stream, and the loop goes on.
        await sent.wait(2)
        ticks = Collect()
        for i in range(5):
            IOLoop.current().add_callback(ticks, i)
        await ticks.wait(5)
        assert out.sending()
        inp = ZMQStream(rx)
        got = Collect()
        inp.on_recv(got)
        assert await got.wait(50) == [[b"%d" % i] for i in range(50)]
        await sent.wait(50)
        assert not out.sending()
        out.close()
        inp.close()

    run(main)


def test_router_at_its_high_water_mark_waits_instead_of_dropping(ctx, endpoint):
    # ROUTER_MANDATORY at the mark raises EAGAIN though EVENTS says POLLOUT: the message is
    # kept and sent once the peer reads (pyzmq would block the loop in send_multipart).
    async def main() -> None:
        router = ctx.socket(vmzmq.ROUTER)
        router.linger = 0
        router.router_mandatory = 1
        router.sndhwm = 1
        router.bind(endpoint("inproc"))
        dealer = ctx.socket(vmzmq.DEALER)
        dealer.linger = 0
        dealer.rcvhwm = 1
        dealer.routing_id = b"peer"
        dealer.connect(router.last_endpoint.decode())
        out = ZMQStream(router)
        sent = Collect()
        out.on_send(sent)
        for i in range(20):
            out.send_multipart([b"peer", b"%d" % i])
        await sent.wait(2)
        inp = ZMQStream(dealer)
        got = Collect()
        inp.on_recv(got)
        assert await got.wait(20) == [[b"%d" % i] for i in range(20)]
        calls = await sent.wait(20)
        assert all(status is None for _msg, status in calls)
        out.close()
        inp.close()

    run(main)


# -- flush, close, callbacks ----------------------------------------------------------------------
def test_flush_handles_pending_messages_now(ctx, endpoint):
    async def main() -> None:
        tx, rx = pair(ctx, endpoint("inproc"))
        out = ZMQStream(tx)
        sent = Collect()
        out.on_send(sent)
        for i in range(5):
            out.send(b"%d" % i)
        assert out.flush(vmzmq.POLLOUT, limit=2) == 2
        assert len(sent.calls) == 2
        assert out.flush() == 3
        assert len(sent.calls) == 5 and not out.sending()
        assert out.flush() == 0

        inp = ZMQStream(rx)  # no receive callback: flush drops what it receives
        assert rx.poll(HANG * 1000)
        assert inp.flush(vmzmq.POLLIN, limit=3) == 3
        assert inp.flush(vmzmq.POLLIN) == 2
        assert rx.poll(0) == 0
        out.close()
        inp.close()

    run(main)


def test_close_closes_the_socket_and_runs_the_close_callback(ctx, endpoint):
    async def main() -> None:
        tx, rx = pair(ctx, endpoint("tcp"))
        stream = ZMQStream(rx)
        closed = Collect()
        stream.set_close_callback(closed)
        assert not stream.closed()
        stream.close(linger=0)
        assert rx.closed and stream.closed() and stream.socket is None
        assert closed.calls == [()]
        stream.close()  # twice is fine
        with pytest.raises(OSError):
            stream.send(b"x")
        with pytest.raises(OSError):
            stream.on_recv(print)

        other = ZMQStream(tx)
        tx.close()  # behind the stream's back
        with pytest.warns(UserWarning, match="after its socket was closed"):
            assert other.closed()

    run(main)


def test_terminating_the_context_closes_the_stream(endpoint):
    async def main() -> None:
        ctx = vmzmq.Context()
        tx, rx = pair(ctx, endpoint("tcp"))
        tx.close()
        stream = ZMQStream(rx)
        closed = Collect()
        stream.set_close_callback(closed)
        stream.on_recv(print)
        thread, outcome = in_thread(ctx.term)  # waits until every socket is closed
        await closed.wait(1)
        assert rx.closed and stream.closed()
        await asyncio.get_running_loop().run_in_executor(None, join, thread, outcome)
        assert ctx.closed

    run(main)


def test_callback_errors_are_logged_and_the_stream_goes_on(ctx, endpoint, caplog):
    async def main() -> None:
        tx, rx = pair(ctx, endpoint("inproc"))
        stream = ZMQStream(rx)
        got = Collect()

        def callback(msg: list) -> None:
            got(msg)
            if msg == [b"bad"]:
                raise ValueError("callback failed")

        stream.on_recv(callback)
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, _context: None)  # tornado's log suffices
        for m in (b"ok", b"bad", b"after"):
            tx.send(m)
        assert await got.wait(3) == [[b"ok"], [b"bad"], [b"after"]]
        stream.close()

    with caplog.at_level(logging.ERROR):
        run(main)
    assert any("Uncaught exception in ZMQStream callback" in r.getMessage()
               for r in caplog.records)


def test_coroutine_callbacks_run_on_the_loop(ctx, endpoint, caplog):
    async def main() -> None:
        tx, rx = pair(ctx, endpoint("inproc"))
        stream = ZMQStream(rx)
        got = Collect()

        async def callback(msg: list) -> None:
            await asyncio.sleep(0)
            got(msg)
            if msg == [b"bad"]:
                raise ValueError("coroutine failed")

        stream.on_recv(callback)
        tx.send(b"bad")
        tx.send(b"good")
        assert await got.wait(2) == [[b"bad"], [b"good"]]
        stream.close()

    with caplog.at_level(logging.ERROR):
        run(main)
    assert any("Uncaught exception in ZMQStream callback" in r.getMessage()
               for r in caplog.records)


def test_streams_talk_to_each_other_and_the_loop_keeps_running(ctx, transport, endpoint):
    async def main() -> None:
        req_sock, rep_sock = pair(ctx, endpoint(transport), vmzmq.REQ, vmzmq.REP)
        rep = ZMQStream(rep_sock)
        rep.on_recv_stream(lambda stream, msg: stream.send_multipart([b"re", *msg]))
        req = ZMQStream(req_sock)
        answers = Collect()
        ticks = Collect()
        periodic = tornado.ioloop.PeriodicCallback(lambda: ticks(None), 1)
        periodic.start()

        def next_request(msg: list) -> None:
            answers(msg)
            if len(answers.calls) < 20:
                req.send(b"%d" % len(answers.calls))

        req.on_recv(next_request)
        req.send(b"0")
        assert await answers.wait(20) == [[b"re", b"%d" % i] for i in range(20)]
        await ticks.wait(2)
        periodic.stop()
        req.close()
        rep.close()

    run(main)


def test_a_stream_connecting_gets_its_peer_at_once(ctx, endpoint):
    async def main() -> None:
        rx = ctx.socket(vmzmq.PULL)
        rx.linger = 0
        rx.bind(endpoint("tcp"))
        stream = ZMQStream(ctx.socket(vmzmq.PUSH))
        stream.setsockopt(vmzmq.LINGER, 0)
        stream.connect(rx.last_endpoint.decode())
        sent = Collect()
        stream.send(b"hello", callback=sent)
        await sent.wait(1)
        assert rx.poll(HANG * 1000) and rx.recv() == b"hello"
        assert stream.getsockopt(vmzmq.TYPE) == vmzmq.PUSH
        stream.close()

    run(main)


def test_asyncio_sockets_are_used_through_a_plain_view(endpoint):
    import vmzmq.asyncio as zaio

    async def main() -> None:
        actx = zaio.Context()
        try:
            rx = actx.socket(vmzmq.PULL)
            rx.linger = 0
            rx.bind(endpoint("inproc"))
            tx = actx.socket(vmzmq.PUSH)
            tx.linger = 0
            tx.connect(rx.last_endpoint.decode())
            with pytest.warns(RuntimeWarning, match="plain"):
                stream = ZMQStream(rx)
            got = Collect()
            stream.on_recv(got)
            await tx.send(b"from asyncio")
            assert await got.wait(1) == [[b"from asyncio"]]  # a message, not a future
            stream.close()
        finally:
            actx.destroy(linger=0)

    run(main)


# -- interoperation with libzmq (pyzmq) ------------------------------------------------------------
@pytest.mark.parametrize("transport", ["tcp", "ipc"])  # inproc does not cross libraries
def test_pyzmq_stream_and_vmzmq_stream_on_one_loop(ctx, transport, endpoint):
    zmq = pytest.importorskip("zmq")
    from zmq.eventloop.zmqstream import ZMQStream as PyzmqStream

    async def main() -> None:
        pctx = zmq.Context()
        try:
            rep_sock = ctx.socket(vmzmq.REP)
            rep_sock.linger = 0
            rep_sock.bind(endpoint(transport))
            req_sock = pctx.socket(zmq.REQ)
            req_sock.linger = 0
            req_sock.connect(rep_sock.last_endpoint.decode())
            rep = ZMQStream(rep_sock)
            rep.on_recv_stream(lambda stream, msg: stream.send_multipart([b"vmzmq", *msg]))
            req = PyzmqStream(req_sock)
            answers = Collect()

            def next_request(msg: list) -> None:
                answers(msg)
                if len(answers.calls) < 10:
                    req.send_multipart([b"libzmq", b"%d" % len(answers.calls)])

            req.on_recv(next_request)
            req.send_multipart([b"libzmq", b"0"])
            assert await answers.wait(10) == [
                [b"vmzmq", b"libzmq", b"%d" % i] for i in range(10)
            ]
            req.close()
            rep.close()
        finally:
            pctx.destroy(linger=0)

    run(main)
