"""vmzmq.proxy / proxy_steerable / device, vmzmq.devices, and the StreamRelay byte relay."""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

import pytest
import zmq  # pyzmq, a test dependency: the relay and statistics tests compare with libzmq

import vmzmq
from vmzmq import devices
from waiting import HANG, wait_until

TIMEOUT_MS = 10000  # only fails a test that would hang


@pytest.fixture
def ctx():
    c = vmzmq.Context()
    yield c
    c.destroy(linger=0)


def sock(ctx: Any, kind: int, bind: str | None = None, connect: str | None = None) -> Any:
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = TIMEOUT_MS
    s.sndtimeo = TIMEOUT_MS
    if bind:
        s.bind(bind)
    if connect:
        s.connect(connect)
    return s


class Runner:
    """Runs a proxy function in a thread; records its return value or exception."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            self.result = fn(*args)
        except BaseException as exc:
            self.error = exc
        finally:
            for s in args:
                if isinstance(s, vmzmq.Socket):
                    s.close()

    def join(self, timeout: float = HANG) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the proxy did not stop"


def stats(control: Any) -> list[int]:
    control.send(b"STATISTICS")
    frames = control.recv_multipart()
    assert len(frames) == 8 and all(len(f) == 8 for f in frames)
    return [struct.unpack("=Q", f)[0] for f in frames]


# -- proxy ---------------------------------------------------------------------------------------
def test_queue_proxy_moves_multipart_messages_both_ways_and_stops_on_term():
    ctx = vmzmq.Context()
    front = sock(ctx, vmzmq.ROUTER, bind="inproc://front")
    back = sock(ctx, vmzmq.DEALER, bind="inproc://back")
    runner = Runner(vmzmq.proxy, front, back)
    clients = [sock(ctx, vmzmq.REQ, connect="inproc://front") for _ in range(3)]
    worker = sock(ctx, vmzmq.REP, connect="inproc://back")
    for i, c in enumerate(clients):
        c.send_multipart([b"job", str(i).encode(), b""])
    for _ in clients:
        msg = worker.recv_multipart()
        worker.send_multipart([b"done", *msg])
    for i, c in enumerate(clients):
        assert c.recv_multipart() == [b"done", b"job", str(i).encode(), b""]
    for s in (*clients, worker):
        s.close()
    ctx.term()  # the proxy gets ContextTerminated, closes its sockets, term() returns
    runner.join()
    assert isinstance(runner.error, vmzmq.ContextTerminated)


def test_capture_gets_every_message(ctx):
    front = sock(ctx, vmzmq.ROUTER, bind="inproc://cf")
    back = sock(ctx, vmzmq.DEALER, bind="inproc://cb")
    capture = sock(ctx, vmzmq.PUSH, bind="inproc://cc")
    tap = sock(ctx, vmzmq.PULL, connect="inproc://cc")
    Runner(vmzmq.proxy, front, back, capture)
    client = sock(ctx, vmzmq.DEALER, connect="inproc://cf")
    worker = sock(ctx, vmzmq.DEALER, connect="inproc://cb")
    client.send_multipart([b"a", b"b"])
    request = worker.recv_multipart()
    assert request[1:] == [b"a", b"b"]  # a routing id was prefixed by the ROUTER
    worker.send_multipart([*request[:1], b"reply"])
    assert client.recv_multipart() == [b"reply"]
    assert tap.recv_multipart() == request
    assert tap.recv_multipart() == [*request[:1], b"reply"]


def test_forwarder_passes_subscriptions_and_messages(ctx):
    xsub = sock(ctx, vmzmq.XSUB, bind="tcp://127.0.0.1:*")
    xpub = sock(ctx, vmzmq.XPUB, bind="tcp://127.0.0.1:*")
    Runner(vmzmq.proxy, xsub, xpub)
    pub = sock(ctx, vmzmq.PUB, connect=xsub.last_endpoint.decode())
    sub = sock(ctx, vmzmq.SUB, connect=xpub.last_endpoint.decode())
    sub.subscribe(b"wanted")

    def subscribed() -> bool:  # until the subscription has gone upstream
        pub.send_multipart([b"wanted", b"1"])
        pub.send_multipart([b"other", b"2"])
        return bool(sub.poll(50))

    wait_until(subscribed, HANG, what="the subscription to go upstream")
    assert sub.recv_multipart() == [b"wanted", b"1"]
    sub.rcvtimeo = 200
    while True:
        try:
            assert sub.recv_multipart()[0] == b"wanted"
        except vmzmq.Again:
            break


def test_device_is_a_proxy(ctx):
    pull = sock(ctx, vmzmq.PULL, bind="inproc://dev-in")
    push = sock(ctx, vmzmq.PUSH, bind="inproc://dev-out")
    Runner(vmzmq.device, vmzmq.STREAMER, pull, push)
    src = sock(ctx, vmzmq.PUSH, connect="inproc://dev-in")
    dst = sock(ctx, vmzmq.PULL, connect="inproc://dev-out")
    src.send_multipart([b"x", b"y"])
    assert dst.recv_multipart() == [b"x", b"y"]


def test_one_socket_as_frontend_and_backend(ctx):
    # A DEALER proxied to itself echoes (libzmq supports frontend == backend).
    echo = sock(ctx, vmzmq.DEALER, bind="inproc://self")
    Runner(vmzmq.proxy, echo, echo)
    peer = sock(ctx, vmzmq.DEALER, connect="inproc://self")
    peer.send_multipart([b"ping", b"!"])
    assert peer.recv_multipart() == [b"ping", b"!"]


def test_proxy_takes_asyncio_sockets():
    import vmzmq.asyncio as zaio

    actx = zaio.Context()
    try:
        front = sock(actx, vmzmq.PULL, bind="inproc://aio-in")
        back = sock(actx, vmzmq.PUSH, bind="inproc://aio-out")
        Runner(vmzmq.proxy, front, back)
        src = actx.socket(vmzmq.PUSH, socket_class=vmzmq.Socket)  # blocking, same context
        src.connect("inproc://aio-in")
        dst = actx.socket(vmzmq.PULL, socket_class=vmzmq.Socket)
        dst.rcvtimeo = TIMEOUT_MS
        dst.connect("inproc://aio-out")
        src.send_multipart([b"a", b"b"])
        assert dst.recv_multipart() == [b"a", b"b"]
    finally:
        actx.destroy(linger=0)


def test_proxy_rejects_non_sockets(ctx):
    s = ctx.socket(vmzmq.PAIR)
    with pytest.raises(TypeError):
        vmzmq.proxy(s, "not a socket")  # type: ignore[arg-type]


def test_proxy_respects_the_backend_high_water_mark(ctx):
    # With nobody reading the backend, the proxy stops reading the frontend: messages wait
    # upstream (the sender's send then times out), not in an ever-growing proxy queue.
    def hwm_sock(kind: int) -> Any:
        s = sock(ctx, kind)
        s.sndhwm = s.rcvhwm = 10  # before bind/connect: a pipe keeps the HWMs it was made with
        return s

    front = hwm_sock(vmzmq.PULL)
    front.bind("inproc://hwm-in")
    back = hwm_sock(vmzmq.PUSH)
    back.bind("inproc://hwm-out")
    dst = hwm_sock(vmzmq.PULL)
    dst.connect("inproc://hwm-out")
    Runner(vmzmq.proxy, front, back)
    src = hwm_sock(vmzmq.PUSH)
    src.sndtimeo = 300
    src.connect("inproc://hwm-in")
    sent = 0
    with pytest.raises(vmzmq.Again):
        for sent in range(10_000):  # noqa: B007 - read after the loop
            src.send(str(sent).encode())
    assert sent < 100  # bounded by the HWMs on the way, not by the proxy
    got = [int(dst.recv()) for _ in range(sent)]
    assert got == list(range(sent))


# The CPU an idle, blocked or paused proxy uses is measured by benchmarks/idle.py (proxy.*).


# -- proxy_steerable ------------------------------------------------------------------------------
def test_steerable_pause_resume_statistics_terminate(ctx):
    front = sock(ctx, vmzmq.PULL, bind="inproc://st-in")
    back = sock(ctx, vmzmq.PUSH, bind="inproc://st-out")
    control = sock(ctx, vmzmq.REP, bind="inproc://st-ctl")
    runner = Runner(vmzmq.proxy_steerable, front, back, None, control)
    src = sock(ctx, vmzmq.PUSH, connect="inproc://st-in")
    dst = sock(ctx, vmzmq.PULL, connect="inproc://st-out")
    ctl = sock(ctx, vmzmq.REQ, connect="inproc://st-ctl")
    src.send_multipart([b"ab", b"cde"])
    assert dst.recv_multipart() == [b"ab", b"cde"]
    # each frame counts as one message, as in libzmq 4.3.5
    assert stats(ctl) == [2, 5, 0, 0, 0, 0, 2, 5]
    ctl.send(b"PAUSE")
    assert ctl.recv_multipart() == [b""]  # a REP control socket answers every command
    src.send(b"held")
    dst.rcvtimeo = 300
    with pytest.raises(vmzmq.Again):
        dst.recv()
    ctl.send(b"RESUME")
    assert ctl.recv_multipart() == [b""]
    dst.rcvtimeo = TIMEOUT_MS
    assert dst.recv() == b"held"
    assert stats(ctl) == [3, 9, 0, 0, 0, 0, 3, 9]
    ctl.send(b"TERMINATE")
    assert ctl.recv_multipart() == [b""]
    runner.join()
    assert runner.error is None and runner.result == 0


def test_steerable_with_pair_and_sub_control_and_unknown_commands(ctx, caplog):
    front = sock(ctx, vmzmq.PULL, bind="inproc://st2-in")
    back = sock(ctx, vmzmq.PUSH, bind="inproc://st2-out")
    control = sock(ctx, vmzmq.PAIR, bind="inproc://st2-ctl")
    runner = Runner(vmzmq.proxy_steerable, front, back, None, control)
    ctl = sock(ctx, vmzmq.PAIR, connect="inproc://st2-ctl")
    with caplog.at_level(logging.WARNING, logger="vmzmq"):
        ctl.send(b"BOGUS")
        assert ctl.recv_multipart() == [b""]  # ignored, and answered as libzmq 4.3.5 does
    assert any("BOGUS" in r.getMessage() for r in caplog.records)
    assert len(stats(ctl)) == 8
    ctl.send(b"TERMINATE")
    assert ctl.recv() == b""
    runner.join()
    assert runner.result == 0

    # A SUB control socket cannot answer; commands still work (libzmq fails with ENOTSUP).
    front = sock(ctx, vmzmq.PULL, bind="inproc://st3-in")
    back = sock(ctx, vmzmq.PUSH, bind="inproc://st3-out")
    control = sock(ctx, vmzmq.SUB, bind="inproc://st3-ctl")
    control.subscribe(b"")
    runner = Runner(vmzmq.proxy_steerable, front, back, None, control)
    pub = sock(ctx, vmzmq.PUB, connect="inproc://st3-ctl")

    def terminated() -> bool:  # PUB drops what it sends before the subscription arrives
        pub.send(b"PAUSE")
        pub.send(b"TERMINATE")
        runner.thread.join(0.05)
        return not runner.thread.is_alive()

    wait_until(terminated, HANG, what="the proxy to take TERMINATE from a SUB")
    assert runner.error is None and runner.result == 0


def test_statistics_match_libzmq_for_the_same_traffic():
    def traffic(lib: Any) -> list[int]:
        c = lib.Context()
        try:
            front = c.socket(lib.ROUTER)
            front.bind("inproc://lz-front")
            back = c.socket(lib.DEALER)
            back.bind("inproc://lz-back")
            control = c.socket(lib.REP)
            control.bind("inproc://lz-ctl")
            t = threading.Thread(
                target=lib.proxy_steerable, args=(front, back, None, control), daemon=True
            )
            t.start()
            client = c.socket(lib.REQ)
            client.routing_id = b"client"
            client.connect("inproc://lz-front")
            worker = c.socket(lib.REP)
            worker.connect("inproc://lz-back")
            for body in (b"x", b"yy" * 100, b""):
                client.send_multipart([body, b"tail"])
                worker.send_multipart(worker.recv_multipart() + [b"r"])
                client.recv_multipart()
            ctl = c.socket(lib.REQ)
            ctl.connect("inproc://lz-ctl")
            result = stats(ctl)
            ctl.send(b"TERMINATE")
            ctl.recv()
            t.join(HANG)
            for s in (front, back, control, client, worker, ctl):
                s.close(linger=0)
            return result
        finally:
            c.term()

    assert traffic(vmzmq) == traffic(zmq)


# -- devices --------------------------------------------------------------------------------------
def test_thread_device_queue():
    dev = devices.ThreadDevice(vmzmq.QUEUE, vmzmq.ROUTER, vmzmq.DEALER)
    dev.bind_in("inproc://td-in")
    dev.bind_out("inproc://td-out")
    dev.setsockopt_in(vmzmq.SNDHWM, 100)
    dev.start()
    ctx = vmzmq.Context.instance()  # a thread device uses the shared context
    # No wait for the device's binds: an inproc connect before the bind queues, as in libzmq.
    client = sock(ctx, vmzmq.REQ, connect="inproc://td-in")
    worker = sock(ctx, vmzmq.REP, connect="inproc://td-out")
    client.send(b"hello")
    worker.send(worker.recv() + b" back")
    assert client.recv() == b"hello back"
    client.close()
    worker.close()
    assert dev.launcher.daemon


def test_thread_proxy_with_monitor_and_random_ports():
    dev = devices.ThreadProxy(vmzmq.PULL, vmzmq.PUSH, vmzmq.PUSH)
    in_port = dev.bind_in_to_random_port("tcp://127.0.0.1")
    out_port = dev.bind_out_to_random_port("tcp://127.0.0.1")
    mon_port = dev.bind_mon_to_random_port("tcp://127.0.0.1")
    assert len({in_port, out_port, mon_port}) == 3
    dev.start()
    ctx = vmzmq.Context()
    try:
        src = sock(ctx, vmzmq.PUSH, connect=f"tcp://127.0.0.1:{in_port}")
        dst = sock(ctx, vmzmq.PULL, connect=f"tcp://127.0.0.1:{out_port}")
        tap = sock(ctx, vmzmq.PULL, connect=f"tcp://127.0.0.1:{mon_port}")
        src.send_multipart([b"m", b"1"])
        assert dst.recv_multipart() == [b"m", b"1"]
        assert tap.recv_multipart() == [b"m", b"1"]
    finally:
        ctx.destroy(linger=0)


def test_thread_proxy_steerable_terminates():
    dev = devices.ThreadProxySteerable(vmzmq.PULL, vmzmq.PUSH, vmzmq.PUB, vmzmq.PAIR)
    dev.bind_in("inproc://tps-in")
    dev.bind_out("inproc://tps-out")
    dev.bind_mon("inproc://tps-mon")
    dev.bind_ctrl("inproc://tps-ctl")
    dev.context_factory = vmzmq.Context  # its own context, so this test can term it
    dev.start()
    ctx = wait_until(lambda: dev._context, HANG, what="the device's context")
    src = sock(ctx, vmzmq.PUSH, connect="inproc://tps-in")
    dst = sock(ctx, vmzmq.PULL, connect="inproc://tps-out")
    ctl = sock(ctx, vmzmq.PAIR, connect="inproc://tps-ctl")
    src.send(b"x")
    assert dst.recv() == b"x"
    ctl.send(b"TERMINATE")
    assert ctl.recv() == b""
    dev.join(HANG)
    assert dev.done and not dev.launcher.is_alive()
    for s in (src, dst, ctl):
        s.close()
    ctx.term()


def test_monitored_queue_prefixes_and_swaps_router_ids():
    dev = devices.ThreadMonitoredQueue(vmzmq.ROUTER, vmzmq.ROUTER, vmzmq.PUSH, b"IN", b"OUT")
    dev.bind_in("inproc://mq-in")
    dev.bind_out("inproc://mq-out")
    dev.bind_mon("inproc://mq-mon")
    dev.context_factory = vmzmq.Context
    dev.start()
    ctx = wait_until(lambda: dev._context, HANG, what="the device's context")
    client = sock(ctx, vmzmq.DEALER)
    client.routing_id = b"client"
    client.connect("inproc://mq-in")
    server = sock(ctx, vmzmq.DEALER)
    server.routing_id = b"server"
    server.connect("inproc://mq-out")
    tap = sock(ctx, vmzmq.PULL, connect="inproc://mq-mon")
    # (inproc connects attach at once, or at the device's bind: no wait needed)
    # ROUTER to ROUTER: [recipient, body] in, [sender, body] out, ids swapped on the way
    client.send_multipart([b"server", b"request"])
    assert server.recv_multipart() == [b"client", b"request"]
    server.send_multipart([b"client", b"reply"])
    assert client.recv_multipart() == [b"server", b"reply"]
    assert tap.recv_multipart() == [b"IN", b"server", b"client", b"request"]
    assert tap.recv_multipart() == [b"OUT", b"client", b"server", b"reply"]
    for s in (client, server, tap):
        s.close()
    ctx.term()
    dev.join(HANG)
    assert dev.done


def test_monitored_queue_function_ends_with_context_terminated():
    ctx = vmzmq.Context()
    a = sock(ctx, vmzmq.PULL, bind="inproc://mqf-in")
    b = sock(ctx, vmzmq.PUSH, bind="inproc://mqf-out")
    m = sock(ctx, vmzmq.PUB, bind="inproc://mqf-mon")
    runner = Runner(devices.monitored_queue, a, b, m)
    src = sock(ctx, vmzmq.PUSH, connect="inproc://mqf-in")
    dst = sock(ctx, vmzmq.PULL, connect="inproc://mqf-out")
    src.send(b"x")
    assert dst.recv() == b"x"
    src.close()
    dst.close()
    ctx.term()
    runner.join()
    assert isinstance(runner.error, vmzmq.ContextTerminated)


def test_process_device():
    dev = devices.ProcessDevice(vmzmq.STREAMER, vmzmq.PULL, vmzmq.PUSH)
    in_port = dev.bind_in_to_random_port("tcp://127.0.0.1")
    out_port = dev.bind_out_to_random_port("tcp://127.0.0.1")
    dev.start()
    ctx = vmzmq.Context()
    try:
        src = sock(ctx, vmzmq.PUSH, connect=f"tcp://127.0.0.1:{in_port}")
        dst = sock(ctx, vmzmq.PULL, connect=f"tcp://127.0.0.1:{out_port}")
        src.send(b"across processes")
        assert dst.recv() == b"across processes"
    finally:
        dev.launcher.terminate()
        dev.join(HANG)
        ctx.destroy(linger=0)


def test_device_needs_socket_types():
    with pytest.raises(TypeError):
        devices.ThreadDevice(vmzmq.QUEUE, vmzmq.ROUTER)


# -- StreamRelay ---------------------------------------------------------------------------------


@pytest.fixture
def relay_factory():
    made = []

    def make(frontend: str, backend: str, **kwargs: Any) -> devices.StreamRelay:
        relay = devices.StreamRelay(frontend, backend, **kwargs)
        thread = threading.Thread(target=relay.run, daemon=True)
        thread.start()
        made.append((relay, thread))
        return relay

    yield make
    for relay, thread in made:
        relay.stop()
        thread.join(HANG)
        assert not thread.is_alive()


def test_relay_bridges_libzmq_and_vmzmq_both_ways(relay_factory, ctx, tmp_path):
    zctx = zmq.Context()
    try:
        # pyzmq client -> relay (ipc) -> vmzmq server (tcp)
        rep = sock(ctx, vmzmq.REP, bind="tcp://127.0.0.1:*")
        relay = relay_factory(f"ipc://{tmp_path}/front", rep.last_endpoint.decode())
        assert relay.endpoint == f"ipc://{tmp_path}/front"
        req = zctx.socket(zmq.REQ)
        req.rcvtimeo = TIMEOUT_MS
        req.connect(relay.endpoint)
        for i in range(20):
            req.send_multipart([b"q", str(i).encode()])
            rep.send_multipart(rep.recv_multipart()[::-1])
            assert req.recv_multipart() == [str(i).encode(), b"q"]
        big = bytes(range(256)) * 20_000  # 5 MB: many reads, writes and partial sends
        req.send(big)
        rep.send(rep.recv())
        assert req.recv() == big
        req.close(0)

        # vmzmq client -> relay (tcp) -> pyzmq server (tcp), ROUTER/DEALER
        router = zctx.socket(zmq.ROUTER)
        port = router.bind_to_random_port("tcp://127.0.0.1")
        router.rcvtimeo = TIMEOUT_MS
        relay2 = relay_factory("tcp://127.0.0.1:*", f"tcp://127.0.0.1:{port}")
        dealers = []
        for n in range(3):
            d = sock(ctx, vmzmq.DEALER)
            d.routing_id = f"d{n}".encode()
            d.connect(relay2.endpoint)
            dealers.append(d)
        for d in dealers:
            d.send(b"hi from " + d.routing_id)
        seen = {}
        for _ in dealers:
            ident, body = router.recv_multipart()
            seen[ident] = body
            router.send_multipart([ident, b"hi " + ident])
        assert seen == {f"d{n}".encode(): f"hi from d{n}".encode() for n in range(3)}
        for d in dealers:
            assert d.recv() == b"hi " + d.routing_id
        assert relay2.connections == 3
        router.close(0)
    finally:
        zctx.destroy(linger=0)


def test_relay_pub_sub_and_capture(relay_factory, ctx):
    pub = sock(ctx, vmzmq.PUB, bind="tcp://127.0.0.1:*")
    capture = sock(ctx, vmzmq.PULL, bind="inproc://relay-cap")
    cap_push = sock(ctx, vmzmq.PUSH, connect="inproc://relay-cap")
    relay = relay_factory("tcp://127.0.0.1:*", pub.last_endpoint.decode(), capture=cap_push)
    sub = sock(ctx, vmzmq.SUB, connect=relay.endpoint)
    sub.subscribe(b"")

    def subscribed() -> bool:
        pub.send(b"news")
        return bool(sub.poll(20))

    wait_until(subscribed, HANG, what="the subscription to pass the relay")
    assert sub.recv() == b"news"
    direction, conn, data = capture.recv_multipart()
    assert direction in (b"in", b"out") and conn == b"1" and data


def test_relay_refused_backend_closes_the_client_at_once(relay_factory):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    relay = relay_factory("tcp://127.0.0.1:*", f"tcp://127.0.0.1:{port}")
    host, front_port = relay.endpoint.rsplit("/", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(front_port)), timeout=HANG) as c:
        c.settimeout(HANG)
        assert c.recv(10) == b""  # closed, not left hanging


def test_relay_passes_half_close_on(relay_factory):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    relay = relay_factory("tcp://127.0.0.1:*", f"tcp://127.0.0.1:{server.getsockname()[1]}")
    host, port = relay.endpoint.rsplit("/", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=HANG) as client:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(HANG)
            client.settimeout(HANG)
            client.sendall(b"request")
            client.shutdown(socket.SHUT_WR)  # "that was all": the server must see EOF
            got = b""
            while True:
                chunk = conn.recv(100)
                if not chunk:
                    break
                got += chunk
            assert got == b"request"
            conn.sendall(b"answer after EOF")
            conn.close()
            reply = b""
            while True:
                chunk = client.recv(100)
                if not chunk:
                    break
                reply += chunk
            assert reply == b"answer after EOF"
    server.close()
    wait_until(lambda: relay.connections == 0, HANG, what="the relay to drop the connection")


def test_relay_rejects_inproc_and_bad_endpoints():
    with pytest.raises(vmzmq.ZMQError):
        devices.StreamRelay("inproc://x", "tcp://127.0.0.1:1")
    with pytest.raises(vmzmq.ZMQError):
        devices.StreamRelay("tcp://127.0.0.1:*", "nonsense")
