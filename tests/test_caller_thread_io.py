"""Work the calling thread does itself instead of handing it to the I/O thread: connects that
cannot block, accepts and handshakes while a reader waits, and timers set from other threads.
Whatever the caller takes, the I/O thread must get back when the caller stops waiting: nothing
may be stranded on a thread that no longer looks at it."""

from __future__ import annotations

import socket
import threading

import pytest

import vmzmq
from interop_helpers import recv_within, wait_until
from vmzmq.engine.loop import IOThread
from vmzmq.utils.monitor import recv_monitor_message


@pytest.fixture
def ctx():
    c = vmzmq.Context()
    c.linger = 0
    yield c
    c.destroy(linger=0)


def test_a_timer_set_from_another_thread_fires_when_it_is_due_sooner_than_the_rest() -> None:
    io = IOThread()
    try:
        late = threading.Event()
        soon = threading.Event()
        io.call_later(3600, late.set)  # the loop now sleeps until this one is due
        io.call_later(0.01, soon.set)  # ...so this must wake it
        assert soon.wait(30)
        assert not late.is_set()
    finally:
        io.stop()


def test_a_cancelled_timer_neither_fires_nor_holds_up_the_next() -> None:
    io = IOThread()
    try:
        fired: list[str] = []
        done = threading.Event()
        io.call_later(0.005, lambda: fired.append("cancelled")).cancel()
        io.call_later(0.02, done.set)
        assert done.wait(30)
        assert fired == []
    finally:
        io.stop()


def test_a_connect_to_an_ip_address_is_made_in_the_calling_thread(ctx) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        s = ctx.socket(vmzmq.DEALER)
        s.connect(f"tcp://127.0.0.1:{port}")
        (connecter,) = s._core.connecters[f"tcp://127.0.0.1:{port}"]
        # No I/O thread turn was needed: the stream is open and the greeting on its way.
        assert connecter.connection is not None
        # ...and the I/O thread runs the handshake unless this thread waits: a caller that
        # only sends must not leave it for the lend timer.
        assert not connecter.connection.muted
        peer, _ = listener.accept()
        with peer:
            peer.settimeout(30)
            assert peer.recv(10)[:1] == b"\xff"  # the greeting's signature
    finally:
        listener.close()


def test_a_connect_to_a_host_name_is_left_to_the_io_thread(ctx) -> None:
    # A name may need DNS, which must never block connect(); it still connects.
    server = ctx.socket(vmzmq.PULL)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = ctx.socket(vmzmq.PUSH)
    client.connect(f"tcp://localhost:{port}")
    (connecter,) = client._core.connecters[f"tcp://localhost:{port}"]
    assert connecter.connection is None  # not yet: the I/O thread resolves and connects
    client.send(b"by name")
    assert recv_within(server) == [b"by name"]


@pytest.mark.parametrize("scheme", ["tcp", "ipc"])
def test_a_connection_made_by_a_caller_that_never_waits_still_completes(scheme, tmp_path) -> None:
    # The sender's connection starts lent to its thread (it would run its handshake while
    # waiting); a sender that never waits must not leave it stranded there.
    receiver_ctx, sender_ctx = vmzmq.Context(), vmzmq.Context()
    try:
        pull = receiver_ctx.socket(vmzmq.PULL)
        if scheme == "tcp":
            port = pull.bind_to_random_port("tcp://127.0.0.1")
            endpoint = f"tcp://127.0.0.1:{port}"
        else:
            endpoint = f"ipc://{tmp_path}/lend.sock"
            pull.bind(endpoint)
        push = sender_ctx.socket(vmzmq.PUSH)
        push.connect(endpoint)
        push.send(b"queued before the handshake")  # into the pipe: no wait
        assert recv_within(pull) == [b"queued before the handshake"]
        push.close(linger=0)
        pull.close(linger=0)
    finally:
        sender_ctx.term()
        receiver_ctx.term()


def test_a_listener_lent_to_a_reader_accepts_again_once_the_reader_stops_waiting(ctx) -> None:
    server = ctx.socket(vmzmq.ROUTER)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    first = ctx.socket(vmzmq.DEALER)
    first.connect(f"tcp://127.0.0.1:{port}")
    first.send(b"one")
    assert recv_within(server)[1:] == [b"one"]  # the server's wait may have lent it the listener
    # The server does not wait again: a new peer must still be accepted and served.
    second_ctx = vmzmq.Context()
    second = second_ctx.socket(vmzmq.DEALER)
    monitor = second.get_monitor_socket(vmzmq.EVENT_HANDSHAKE_SUCCEEDED)
    try:
        second.connect(f"tcp://127.0.0.1:{port}")
        assert monitor.poll(30_000), "the second peer's handshake never completed"
        assert recv_monitor_message(monitor)["event"] == vmzmq.EVENT_HANDSHAKE_SUCCEEDED
        wait_until(lambda: len(server._core.pipes) == 2, what="the server to attach the peer")
        second.send(b"two")
        assert recv_within(server)[1:] == [b"two"]
    finally:
        monitor.close(linger=0)
        second.close(linger=0)
        second_ctx.term()


@pytest.mark.parametrize("scheme", ["tcp", "ipc"])
def test_a_refusal_with_reconnect_stop_ends_the_connect_even_inside_connect(
    ctx, scheme, tmp_path
) -> None:
    # The first attempt runs inside connect(): when it is refused and RECONNECT_STOP says to
    # give up, the connecter is gone before connect() returns, and connect() must cope.
    if scheme == "tcp":
        probe = socket.create_server(("127.0.0.1", 0))
        endpoint = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
        probe.close()  # nobody listens there now
    else:
        endpoint = f"ipc://{tmp_path}/nobody.sock"
    push = ctx.socket(vmzmq.PUSH)
    push.reconnect_ivl = 20
    push.setsockopt(vmzmq.RECONNECT_STOP, vmzmq.RECONNECT_STOP_CONN_REFUSED)
    monitor = push.get_monitor_socket()
    try:
        push.connect(endpoint)
        seen = []
        while vmzmq.EVENT_CLOSED not in seen:
            assert monitor.poll(30_000), f"no CLOSED event; saw {seen}"
            seen.append(recv_monitor_message(monitor)["event"])
        assert vmzmq.EVENT_CONNECT_RETRIED not in seen
        with pytest.raises(vmzmq.ZMQError) as info:
            push.disconnect(endpoint)
        assert info.value.errno == vmzmq.ENOENT
    finally:
        monitor.close(linger=0)
