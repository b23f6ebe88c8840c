"""vmzmq.asyncio: awaitable send/recv/poll, cancellation safety, timeouts, several loops and
threads, and interoperation with pyzmq (sync sockets in threads and zmq.asyncio on the same
loop). The CPU an idle await uses is measured by benchmarks/idle.py (asyncio.await)."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import zmq  # pyzmq, a test dependency: the interop tests at the end need it
import zmq.asyncio as zmq_asyncio

import vmzmq
import vmzmq.asyncio as zaio

TIMEOUT = 30.0  # only fails a test that would hang


async def until(cond: Callable[[], Any]) -> None:
    """Let the loop run until ``cond()`` holds (e.g. a task has reached its await). The loop
    is single-threaded: this waits for a state, not for time; ``run``'s deadline bounds it."""
    while not cond():
        await asyncio.sleep(0)


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = TIMEOUT) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())


@pytest.fixture
def actx():
    ctx = zaio.Context()
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


# -- the API -------------------------------------------------------------------------------------
def test_classes_are_vmzmq_classes(actx):
    s = actx.socket(vmzmq.PAIR)
    assert isinstance(s, zaio.Socket)
    assert isinstance(s, vmzmq.Socket)
    assert isinstance(actx, vmzmq.Context)
    assert zaio.Context.instance() is zaio.Context.instance()
    assert zaio.Context.instance() is not vmzmq.Context.instance()
    assert isinstance(zaio.Context.instance(), zaio.Context)
    assert "vmzmq.asyncio.Socket(zmq.PAIR)" in repr(s)


def test_every_send_and_recv_variant(actx, transport, endpoint):
    async def main() -> None:
        tx, rx = pair(actx, endpoint(transport))
        await tx.send(b"one")
        assert await rx.recv() == b"one"
        await tx.send_multipart([b"a", b"b", b""])
        assert await rx.recv_multipart() == [b"a", b"b", b""]
        await tx.send_string("héllo")
        assert await rx.recv_string() == "héllo"
        await tx.send_json({"k": [1, 2]})
        assert await rx.recv_json() == {"k": [1, 2]}
        await tx.send_pyobj({"x": (1, 2)})
        assert await rx.recv_pyobj() == {"x": (1, 2)}
        await tx.send_serialized({"s": 1}, lambda m: [b"S", repr(m).encode()])
        assert await rx.recv_serialized(lambda fs: (fs[0], fs[1].decode())) == (b"S", "{'s': 1}")
        await tx.send(b"frame")
        frame = await rx.recv(copy=False)
        assert isinstance(frame, vmzmq.Frame) and frame.bytes == b"frame"
        await tx.send_multipart([b"f1", b"f2"])
        frames = await rx.recv_multipart(copy=False)
        assert [f.bytes for f in frames] == [b"f1", b"f2"]
        buf = bytearray(4)
        await tx.send(b"truncated")
        assert await rx.recv_into(buf) == 9
        assert buf == b"trun"
        # SNDMORE frames then the last one make one message.
        await tx.send(b"p1", vmzmq.SNDMORE)
        await tx.send(b"p2", vmzmq.SNDMORE)
        await tx.send(b"p3")
        assert await rx.recv_multipart() == [b"p1", b"p2", b"p3"]
        # recv of a multipart message frame by frame, with RCVMORE.
        await tx.send_multipart([b"m1", b"m2"])
        assert await rx.recv() == b"m1"
        assert rx.rcvmore == 1
        assert await rx.recv() == b"m2"
        assert rx.rcvmore == 0

    run(main)


def test_recv_waits_for_a_message_that_arrives_later(actx):
    async def main() -> None:
        tx, rx = pair(actx, "inproc://later")
        fut = rx.recv()
        assert isinstance(fut, asyncio.Future)
        await asyncio.sleep(0.05)
        assert not fut.done()
        asyncio.get_running_loop().call_later(0.05, tx.send, b"late")
        assert await fut == b"late"

    run(main)


def test_concurrent_receivers_are_served_in_order(actx):
    async def main() -> None:
        tx, rx = pair(actx, "inproc://fifo")
        futs = [rx.recv() for _ in range(5)]
        for i in range(5):
            await tx.send(str(i).encode())
        assert await asyncio.gather(*futs) == [b"0", b"1", b"2", b"3", b"4"]

    run(main)


def test_dontwait_raises_again_at_once(actx):
    async def main() -> None:
        tx, rx = pair(actx, "inproc://dontwait")
        with pytest.raises(vmzmq.Again):
            await rx.recv(vmzmq.DONTWAIT)
        lonely = actx.socket(vmzmq.PUSH)
        with pytest.raises(vmzmq.Again):
            await lonely.send(b"x", vmzmq.DONTWAIT)

    run(main)


def test_rcvtimeo_and_sndtimeo_raise_again(actx):
    async def main() -> None:
        tx, rx = pair(actx, "inproc://timeo")
        rx.rcvtimeo = 100
        start = time.monotonic()
        with pytest.raises(vmzmq.Again):
            await rx.recv()
        assert time.monotonic() - start >= 0.08  # not before RCVTIMEO; how late: not asserted
        lonely = actx.socket(vmzmq.PUSH)  # no peer: a send waits, then times out
        lonely.sndtimeo = 100
        with pytest.raises(vmzmq.Again):
            await lonely.send(b"x")
        # the socket still works afterwards
        await tx.send(b"after")
        assert await rx.recv() == b"after"

    run(main)


def test_socket_poll(actx):
    async def main() -> None:
        tx, rx = pair(actx, "inproc://poll")
        assert await rx.poll(50) == 0
        assert await rx.poll(0) == 0
        assert await tx.poll(1000, vmzmq.POLLOUT) == vmzmq.POLLOUT
        asyncio.get_running_loop().call_later(0.05, tx.send, b"x")
        assert await rx.poll(5000) == vmzmq.POLLIN
        assert await rx.poll() == vmzmq.POLLIN  # still there: poll does not consume
        assert await rx.recv() == b"x"

    run(main)


def test_poller_with_async_sync_and_raw_items(actx):
    sync_ctx = vmzmq.Context()
    a, b = socket.socketpair()
    try:

        async def main() -> None:
            tx, rx = pair(actx, "inproc://poller-async")
            stx, srx = pair(sync_ctx, "inproc://poller-sync")
            poller = zaio.Poller()
            poller.register(rx, vmzmq.POLLIN)
            poller.register(srx, vmzmq.POLLIN)
            poller.register(a, vmzmq.POLLIN)
            assert await poller.poll(50) == []
            assert await poller.poll(0) == []
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, stx.send, b"sync")
            assert await poller.poll(5000) == [(srx, vmzmq.POLLIN)]
            assert srx.recv() == b"sync"
            loop.call_later(0.05, tx.send, b"async")
            assert await poller.poll(5000) == [(rx, vmzmq.POLLIN)]
            assert await rx.recv() == b"async"
            loop.call_later(0.05, b.send, b"raw")
            assert await poller.poll(5000) == [(a.fileno(), vmzmq.POLLIN)]
            assert a.recv(10) == b"raw"
            # a poll that is cancelled leaves nothing behind
            pending = poller.poll()
            pending.cancel()
            await asyncio.sleep(0)
            assert srx._signaler.waiters == 0

        run(main)
    finally:
        a.close()
        b.close()
        sync_ctx.destroy(linger=0)


def test_reading_events_does_not_stall_a_pending_recv(actx):
    # Reading EVENTS drains the socket's eventfd (edge-triggered, like pyzmq's FD): a pending
    # recv must still be woken.
    async def main() -> None:
        tx, rx = pair(actx, "inproc://events")
        fut = rx.recv()
        assert rx._recv_waiters  # pending (registered when called)
        tx.send(b"x")
        assert rx.getsockopt(vmzmq.EVENTS) & vmzmq.POLLIN
        assert rx.events & vmzmq.POLLIN
        assert await fut == b"x"  # run()'s deadline fails it if never woken

    run(main)


def test_close_cancels_pending_calls(actx):
    async def main() -> None:
        tx, rx = pair(actx, "inproc://close")
        fut = rx.recv()
        poll = rx.poll()
        await asyncio.sleep(0)  # one pass of the loop with both pending
        assert not fut.done() and not poll.done()
        rx.close()
        assert fut.cancelled() and poll.cancelled()
        with pytest.raises(vmzmq.ZMQError):
            await rx.recv()

    run(main)


def test_context_term_fails_pending_calls_with_context_terminated():
    ctx = zaio.Context()

    async def main() -> None:
        rx = ctx.socket(vmzmq.PULL)
        rx.linger = 0
        rx.bind("inproc://term")
        fut = rx.recv()
        poll = rx.poll()
        terminator = threading.Thread(target=ctx.term)
        terminator.start()
        with pytest.raises(vmzmq.ContextTerminated):
            await fut
        with pytest.raises(vmzmq.ContextTerminated):
            await poll
        rx.close()  # lets term() finish
        await asyncio.get_running_loop().run_in_executor(None, terminator.join, 20)
        assert not terminator.is_alive()

    run(main)


# -- cancellation safety ---------------------------------------------------------------------------
def test_cancelled_recv_loses_no_message(actx):
    async def main() -> None:
        tx, rx = pair(actx, "inproc://cancel-recv")
        fut = rx.recv()
        fut.cancel()
        await tx.send(b"kept")
        assert await rx.recv() == b"kept"

    run(main)


def test_cancel_after_the_message_was_taken_gives_it_back(actx):
    # The race asyncio leaves open: the recv future got its message, the task was woken, but
    # it is cancelled before it runs. The message must go back to the socket.
    async def main() -> None:
        tx, rx = pair(actx, "inproc://cancel-race")

        async def consumer() -> bytes:
            return await rx.recv_multipart()

        task = asyncio.ensure_future(consumer())
        await until(lambda: rx._recv_waiters)  # the task now awaits the pending recv future
        tx.send_multipart([b"x", b"y"])
        rx._dispatch()  # the wake-up, run now: the future gets the message...
        task.cancel()  # ...and the task is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await rx.recv_multipart() == [b"x", b"y"]

        # the same with asyncio.timeout() (3.11), which cancels the task under the hood
        async def with_timeout() -> Any:
            async with asyncio.timeout(10):
                return await rx.recv_string()

        task = asyncio.ensure_future(with_timeout())
        await until(lambda: rx._recv_waiters)
        tx.send(b"z")
        rx._dispatch()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await rx.recv() == b"z"

    run(main)


def test_several_given_back_messages_keep_their_order_and_boundaries(actx):
    async def main() -> None:
        tx, rx = pair(actx, "inproc://give-back-many")

        async def consumer() -> Any:
            return await rx.recv_multipart()

        tasks = [asyncio.ensure_future(consumer()) for _ in range(3)]
        await until(lambda: len(rx._recv_waiters) == 3)
        messages = [[b"m1", b"a"], [b"m2", b"b", b"c"], [b"m3"]]
        for m in messages:
            tx.send_multipart(m)
        rx._dispatch()  # all three receivers get their message...
        for task in reversed(tasks):  # ...and are cancelled, last first
            task.cancel()
        for task in tasks:
            with pytest.raises(asyncio.CancelledError):
                await task
        assert rx.poll(0, vmzmq.POLLIN)
        assert [await rx.recv_multipart() for _ in messages] == messages
        # A held message can also be read frame by frame.
        task = asyncio.ensure_future(consumer())
        await until(lambda: rx._recv_waiters)
        tx.send_multipart([b"x", b"y"])
        rx._dispatch()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await rx.recv() == b"x"
        assert rx.rcvmore == 1
        assert await rx.recv() == b"y"
        assert rx.rcvmore == 0

    run(main)


def test_a_given_back_frame_goes_back_in_front_of_its_message(actx):
    async def main() -> None:
        tx, rx = pair(actx, "inproc://give-back-frame")

        async def consumer() -> Any:
            return await rx.recv()

        task = asyncio.ensure_future(consumer())
        await until(lambda: rx._recv_waiters)
        tx.send_multipart([b"a", b"b", b"c"])
        tx.send(b"next")
        rx._dispatch()  # the receiver takes frame a (b and c wait as the rest of it)...
        task.cancel()  # ...and is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [await rx.recv() for _ in range(4)] == [b"a", b"b", b"c", b"next"]

    run(main)


def test_cancellation_storm_loses_and_reorders_nothing(actx):
    # Messages arrive at random moments while the receiver keeps timing out and cancelling:
    # every message arrives exactly once, in order.
    count = 1500
    sync_ctx = vmzmq.Context()

    def produce(endpoint: str) -> None:
        tx = sync_ctx.socket(vmzmq.PUSH)
        tx.connect(endpoint)
        rnd = random.Random(1)
        for i in range(count):
            tx.send_multipart([b"n", str(i).encode()])
            if rnd.random() < 0.05:
                time.sleep(rnd.random() / 500)
        tx.close(linger=-1)

    async def main() -> list[int]:
        rx = actx.socket(vmzmq.PULL)
        rx.linger = 0
        rx.bind("tcp://127.0.0.1:*")
        producer = threading.Thread(target=produce, args=(rx.last_endpoint.decode(),))
        producer.start()
        got: list[int] = []
        rnd = random.Random(2)
        idle = 0
        while len(got) < count and idle < 400:
            way = rnd.randrange(4)
            try:
                if way == 0:
                    msg = await asyncio.wait_for(rx.recv_multipart(), rnd.random() / 1000)
                elif way == 1:
                    async with asyncio.timeout(rnd.random() / 1000):
                        msg = await rx.recv_multipart()
                elif way == 2:
                    task = asyncio.ensure_future(rx.recv_multipart())
                    await asyncio.sleep(0)
                    task.cancel()
                    msg = await task
                else:
                    msg = await rx.recv_multipart()
            except (TimeoutError, asyncio.CancelledError):
                idle += 1
                continue
            idle = 0
            got.append(int(msg[1]))
        producer.join(10)
        return got

    try:
        got = run(main, timeout=60)
    finally:
        sync_ctx.destroy(linger=0)
    assert got == list(range(count))


def test_cancelled_send_sends_nothing_and_others_go_through_whole(actx):
    async def main() -> None:
        tx = actx.socket(vmzmq.PUSH)
        tx.linger = 0
        tx.sndhwm = 1
        tx.bind("inproc://cancel-send")
        # No peer yet: every send waits.
        first = tx.send_multipart([b"keep", b"1"])
        cancelled = tx.send_multipart([b"drop", b"2"])
        third = tx.send_multipart([b"keep", b"3"])
        await asyncio.sleep(0.01)  # a window for a wrong completion (nothing can complete them)
        assert not first.done() and not cancelled.done()
        cancelled.cancel()
        rx = actx.socket(vmzmq.PULL)
        rx.linger = 0
        rx.connect("inproc://cancel-send")
        assert await rx.recv_multipart() == [b"keep", b"1"]
        assert await rx.recv_multipart() == [b"keep", b"3"]
        await asyncio.wait_for(asyncio.gather(first, third), 20)
        rx.rcvtimeo = 100
        with pytest.raises(vmzmq.Again):
            await rx.recv_multipart()

    run(main)


def test_sndmore_frames_are_kept_while_the_last_frame_waits(actx):
    async def main() -> None:
        tx = actx.socket(vmzmq.PUSH)
        tx.linger = 0
        tx.bind("inproc://sndmore-wait")
        await tx.send(b"a", vmzmq.SNDMORE)
        last = tx.send(b"b")  # no peer: waits, holding the whole message
        await asyncio.sleep(0.01)  # a window for a wrong completion (nothing can complete it)
        assert not last.done()
        rx = actx.socket(vmzmq.PULL)
        rx.linger = 0
        rx.connect("inproc://sndmore-wait")
        assert await rx.recv_multipart() == [b"a", b"b"]
        await last

    run(main)


def test_queued_send_sends_the_data_as_it_was_when_called(actx):
    async def main() -> None:
        tx = actx.socket(vmzmq.PUSH)
        tx.linger = 0
        tx.bind("inproc://frozen")
        data = bytearray(b"before")
        fut = tx.send(data)
        data[:] = b"after!"
        rx = actx.socket(vmzmq.PULL)
        rx.linger = 0
        rx.connect("inproc://frozen")
        await fut
        assert await rx.recv() == b"before"

    run(main)


# -- loops and threads -----------------------------------------------------------------------------
def test_several_loops_in_several_threads():
    ctx = zaio.Context()
    errors: list[BaseException] = []
    results: dict[int, int] = {}

    def worker(n: int) -> None:
        async def main() -> int:
            rx = ctx.socket(vmzmq.PULL)
            rx.linger = 0
            rx.bind(f"inproc://loops-{n}")
            # the sender lives on the next thread's loop: messages cross loops and threads
            tx = ctx.socket(vmzmq.PUSH)
            tx.linger = 0
            tx.connect(f"inproc://loops-{(n + 1) % 4}")
            total = 0
            for i in range(200):
                await tx.send(str(i).encode())
                total += int(await rx.recv())
            rx.close()
            tx.close()
            return total

        try:
            results[n] = asyncio.run(asyncio.wait_for(main(), 30))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    ctx.term()
    assert not errors, errors
    assert results == {n: sum(range(200)) for n in range(4)}


def test_a_socket_can_move_to_a_new_loop(actx):
    tx, rx = pair(actx, "inproc://move")

    async def exchange(text: bytes) -> bytes:
        await tx.send(text)
        return await rx.recv()

    assert asyncio.run(exchange(b"first")) == b"first"
    assert asyncio.run(exchange(b"second")) == b"second"  # a new loop each time
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(exchange(b"third")) == b"third"
    finally:
        loop.close()


def test_sync_and_async_sockets_in_one_process(actx):
    sync_ctx = vmzmq.Context()

    def echo(endpoint: str) -> None:
        rep = sync_ctx.socket(vmzmq.REP)
        rep.linger = 0
        rep.connect(endpoint)
        for _ in range(50):
            rep.send(rep.recv().upper())
        rep.close()

    async def main() -> None:
        req = actx.socket(vmzmq.REQ)
        req.linger = 0
        req.bind("tcp://127.0.0.1:*")
        t = threading.Thread(target=echo, args=(req.last_endpoint.decode(),))
        t.start()
        for i in range(50):
            await req.send(f"m{i}".encode())
            assert await req.recv() == f"M{i}".encode()
        await asyncio.get_running_loop().run_in_executor(None, t.join, 20)

    try:
        run(main)
    finally:
        sync_ctx.destroy(linger=0)


def test_from_socket_shares_the_socket(actx):
    sync_ctx = vmzmq.Context()
    try:
        sync_rx = sync_ctx.socket(vmzmq.PULL)
        sync_rx.linger = 0
        sync_rx.bind("inproc://shadow")
        tx = sync_ctx.socket(vmzmq.PUSH)
        tx.linger = 0
        tx.connect("inproc://shadow")

        async def main() -> None:
            arx = zaio.Socket.from_socket(sync_rx)
            assert isinstance(arx, zaio.Socket)
            tx.send(b"via async")
            assert await arx.recv() == b"via async"
            tx.send(b"via sync")
            assert sync_rx.recv() == b"via sync"
            arx2 = zaio.Socket(sync_rx)
            del arx, arx2
            gc.collect()  # a wrapper going away must not close the socket
            assert not sync_rx.closed
            tx.send(b"still open")
            assert sync_rx.recv() == b"still open"
            arx3 = zaio.Socket.from_socket(sync_rx)
            arx3.close()  # closing a wrapper closes the socket, as in pyzmq
            assert sync_rx.closed

        run(main)
    finally:
        sync_ctx.destroy(linger=0)


def test_async_context_can_wrap_a_sync_context():
    sync_ctx = vmzmq.Context()
    try:
        actx = zaio.Context(sync_ctx)
        s = actx.socket(vmzmq.PAIR)
        assert isinstance(s, zaio.Socket)
        assert s in sync_ctx._sockets  # one context: term/destroy see it
        s.close()
    finally:
        sync_ctx.destroy(linger=0)


def test_idle_wait_stays_pending(actx):
    """A recv and a poll awaiting a connected peer that sends nothing stay pending (nothing
    completes them by mistake). The CPU they use: benchmarks/idle.py, asyncio.await."""

    async def main() -> None:
        tx, rx = pair(actx, "tcp://127.0.0.1:*")
        await tx.send(b"warm up")
        assert await rx.recv() == b"warm up"
        fut = rx.recv()
        poll = rx.poll(60000)
        await asyncio.sleep(0.3)  # a window for a wrong completion, not a wait for one
        assert not fut.done() and not poll.done()
        fut.cancel()
        poll.cancel()

    run(main)


def test_unclosed_async_socket_can_be_collected(actx):
    async def main() -> None:
        s = actx.socket(vmzmq.PULL)
        s.bind("inproc://collect")
        fut = s.recv()
        fut.cancel()
        await asyncio.sleep(0)
        s.rcvtimeo = 10
        with pytest.raises(vmzmq.Again):
            await s.recv()  # now watched by the loop
        ref = __import__("weakref").ref(s)
        del s, fut
        gc.collect()
        assert ref() is None

    run(main)


# -- against pyzmq --------------------------------------------------------------------------------


def test_async_rep_serves_a_pyzmq_req_in_a_thread(actx):
    def client(endpoint: str, out: list) -> None:
        c = zmq.Context()
        req = c.socket(zmq.REQ)
        req.rcvtimeo = 20000
        req.connect(endpoint)
        for i in range(100):
            req.send_multipart([b"q", str(i).encode()])
            out.append(req.recv_multipart())
        req.close(0)
        c.term()

    async def main() -> list:
        rep = actx.socket(vmzmq.REP)
        rep.linger = 0
        rep.bind("tcp://127.0.0.1:*")
        out: list = []
        t = threading.Thread(target=client, args=(rep.last_endpoint.decode(), out))
        t.start()
        for _ in range(100):
            msg = await rep.recv_multipart()
            await rep.send_multipart([b"r", *msg])
        await asyncio.get_running_loop().run_in_executor(None, t.join, 20)
        return out

    out = run(main)
    assert out == [[b"r", b"q", str(i).encode()] for i in range(100)]


def test_vmzmq_asyncio_and_zmq_asyncio_on_one_loop(actx):
    async def main() -> None:
        zctx = zmq_asyncio.Context()
        try:
            router = actx.socket(vmzmq.ROUTER)
            router.linger = 0
            router.bind("tcp://127.0.0.1:*")
            dealer = zctx.socket(zmq.DEALER)
            dealer.linger = 0
            dealer.routing_id = b"pyzmq"
            dealer.connect(router.last_endpoint.decode())

            async def serve() -> None:
                for _ in range(50):
                    ident, *body = await router.recv_multipart()
                    await router.send_multipart([ident, b"ok", *body])

            server = asyncio.ensure_future(serve())
            for i in range(50):
                await dealer.send_multipart([str(i).encode(), b"x" * i])
                assert await dealer.recv_multipart() == [b"ok", str(i).encode(), b"x" * i]
            await server
            # and the other way round: pyzmq binds, vmzmq.asyncio connects
            pull = zctx.socket(zmq.PULL)
            pull.linger = 0
            port = pull.bind_to_random_port("tcp://127.0.0.1")
            push = actx.socket(vmzmq.PUSH)
            push.linger = 0
            push.connect(f"tcp://127.0.0.1:{port}")
            for i in range(20):
                await push.send_multipart([b"m", str(i).encode()])
            for i in range(20):
                assert await pull.recv_multipart() == [b"m", str(i).encode()]
            dealer.close()
            pull.close()
        finally:
            zctx.destroy(linger=0)

    run(main)


def test_async_pub_to_pyzmq_sub_and_back(actx):
    async def main() -> None:
        zctx = zmq_asyncio.Context()
        try:
            pub = actx.socket(vmzmq.XPUB)
            pub.linger = 0
            pub.bind("tcp://127.0.0.1:*")
            sub = zctx.socket(zmq.SUB)
            sub.linger = 0
            sub.subscribe(b"t")
            sub.connect(pub.last_endpoint.decode())
            assert await asyncio.wait_for(pub.recv(), 20) == b"\x01t"  # the subscription
            await pub.send_multipart([b"other", b"no"])
            await pub.send_multipart([b"topic", b"yes"])
            assert await asyncio.wait_for(sub.recv_multipart(), 20) == [b"topic", b"yes"]
            sub.close()
        finally:
            zctx.destroy(linger=0)

    run(main)


def test_recv_outside_a_running_loop_warns_and_uses_the_default_loop(actx):
    tx, rx = pair(actx, "inproc://no-loop")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with pytest.warns(RuntimeWarning, match="No running event loop"):
            fut = rx.recv()
            tx.send(b"x")
        assert loop.run_until_complete(asyncio.wait_for(fut, 20)) == b"x"
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_fd_is_the_signaler_and_events_are_edge_triggered(actx):
    s = actx.socket(vmzmq.PULL)
    fd = s.getsockopt(vmzmq.FD)
    assert fd == s.fileno() and fd >= 0
    assert os.get_blocking(fd) is False
