"""Work the calling thread does itself instead of handing it to the I/O thread: connects that
cannot block, accepts and handshakes while a reader waits, and timers set from other threads.
Whatever the caller takes, the I/O thread must get back when the caller stops waiting: nothing
may be stranded on a thread that no longer looks at it."""

from __future__ import annotations

import socket
import threading

import pytest

import vmzmq
import vmzmq.engine.core as zmq_core
from fault_helpers import message, raw_zmtp_peer
from interop_helpers import RawListener, recv_within, wait_until
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


def _echo_rounds(router, dealers, rounds: int) -> None:
    """Every DEALER sends a request per round; the ROUTER answers each; every DEALER gets its
    own answer back (a routing mix-up or a stranded connection fails or times out). Plain
    blocking receives with RCVTIMEO, not polls: a poll gives lent connections back."""
    for s in (router, *dealers):
        s.rcvtimeo = 30_000
    for r in range(rounds):
        for i, d in enumerate(dealers):
            d.send(b"%d:%d" % (i, r))  # one at a time: the ROUTER waits for each
            ident, body = router.recv_multipart()
            router.send_multipart([ident, body])
        for i, d in enumerate(dealers):
            assert d.recv() == b"%d:%d" % (i, r)


def _router_with_dealers(ctx, n: int) -> tuple:
    """A ROUTER on tcp and ``n`` DEALERs connected to it: (router, port, dealers)."""
    router = ctx.socket(vmzmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealers = [ctx.socket(vmzmq.DEALER) for _ in range(n)]
    for d in dealers:
        d.connect(f"tcp://127.0.0.1:{port}")
    return router, port, dealers


def _epoll_set_in_use(router, dealers):
    """The ROUTER's epoll set, seen right after a wait on it: a request from each DEALER in
    turn, each received at once, until a wait has it (a wait that comes too long after the
    last is not lent; a request the I/O thread read first needs no wait)."""
    for _ in range(20):
        found = None
        for d in dealers:
            d.send(b"ping")
            ident, body = router.recv_multipart()
            if found is None and router._core._epoll_set is not None:
                found = router._core._epoll_set
                assert len(router._core.lent) == len(dealers) + 1  # and the listener
            router.send_multipart([ident, body])
        for d in dealers:
            assert d.recv() == b"ping"
        if found is not None:
            return found
    raise AssertionError("the ROUTER never waited on its epoll set")


def test_a_reader_with_many_connections_reads_them_itself_while_it_keeps_waiting(ctx) -> None:
    """More connections than poll(2) is used for: a ROUTER that keeps waiting reads them from
    its own epoll set (lent, muted for the I/O thread), answers every peer, and gives them
    back when it stops waiting."""
    from vmzmq.engine import core as core_mod

    router, _port, dealers = _router_with_dealers(ctx, 3 * core_mod.DIRECT_READ_MAX)
    _echo_rounds(router, dealers, 1)  # all connected, RCVTIMEO set
    # The reader waits back to back: it takes its connections (and its listener) itself,
    # through its epoll set.
    _epoll_set_in_use(router, dealers)
    core = router._core
    # Once it stops waiting, the I/O thread takes them back (and the epoll set's descriptor
    # is closed), and still serves the peers.
    wait_until(lambda: not core.lent, what="the lent connections given back")
    assert all(not c.muted for c in core.connections)
    assert core._epoll_set is None
    _echo_rounds(router, dealers, 2)


def test_a_many_connection_wait_set_follows_peers_coming_and_going(ctx) -> None:
    """Peers leave and others arrive (reusing file descriptor numbers) while the reader's
    epoll set holds the connections: the set follows by difference, and every new peer is
    answered."""
    router, port, dealers = _router_with_dealers(ctx, 20)
    _echo_rounds(router, dealers, 2)
    for _ in range(3):
        for d in dealers[:5]:
            d.close(linger=0)
        wait_until(lambda: len(router._core.connections) == 15, what="five peers gone")
        dealers = dealers[5:] + [ctx.socket(vmzmq.DEALER) for _ in range(5)]
        for d in dealers[-5:]:
            d.connect(f"tcp://127.0.0.1:{port}")
        _echo_rounds(router, dealers, 2)
    epoll_set = _epoll_set_in_use(router, dealers)  # in use and up to date right now
    live = {c.fd: c for c in router._core.connections}
    live.update((c.fd, c) for c in router._core.listeners.values())
    assert epoll_set.registered == live


def test_closing_a_socket_closes_its_epoll_wait_set(ctx) -> None:
    router, _port, dealers = _router_with_dealers(ctx, 12)
    _echo_rounds(router, dealers, 3)
    epoll_set = _epoll_set_in_use(router, dealers)
    router.close(linger=0)
    assert epoll_set.ep.closed
    assert epoll_set.poll(0) == []


def test_a_wait_that_outlasts_its_lend_still_gets_the_next_message(ctx) -> None:
    """The lend timer gives the connections back while the reader is still blocked on its
    epoll set (nothing came for a while): the set is let go, not closed under the poll, and
    the message that comes next still reaches the blocked reader."""
    router, _port, dealers = _router_with_dealers(ctx, 12)
    _echo_rounds(router, dealers, 1)
    _epoll_set_in_use(router, dealers)
    core = router._core

    def send_once_the_lend_ended() -> None:
        wait_until(lambda: not core.lent, what="the lend to end during the wait")
        dealers[3].send(b"late")

    sender = threading.Thread(target=send_once_the_lend_ended)
    sender.start()
    ident, body = router.recv_multipart()  # blocked while the lend ends
    sender.join(30)
    assert body == b"late"
    router.send_multipart([ident, b"reply"])
    assert dealers[3].recv() == b"reply"
    assert core._epoll_set is None
    _echo_rounds(router, dealers, 1)


def _wait_once(sock) -> None:
    """A receive that finds nothing and waits: the socket's connections (and listeners) are
    lent to this thread from then on, for LEND_TIME."""
    sock.rcvtimeo = 1
    with pytest.raises(vmzmq.Again):
        sock.recv()


def test_a_lone_peers_data_that_came_between_receives_is_read_by_the_reader(ctx) -> None:
    """A reader whose one connection is lent to it reads what came while it was away itself,
    before any poll: two messages in one read, then a frame cut in two (no message until the
    rest comes), then the rest. The peer writes on loopback tcp, so its bytes are in the
    kernel when sendall returns."""
    dealer = ctx.socket(vmzmq.DEALER)
    port = dealer.bind_to_random_port("tcp://127.0.0.1")
    peer = raw_zmtp_peer(("127.0.0.1", port), b"ROUTER")
    try:
        _wait_once(dealer)
        peer.sendall(message(b"one") + message(b"two"))
        dealer.rcvtimeo = 5000
        assert dealer.recv() == b"one"
        assert dealer.recv() == b"two"
        three = message(b"three", b"parts")
        peer.sendall(three[:4])
        dealer.rcvtimeo = 1
        with pytest.raises(vmzmq.Again):
            dealer.recv()
        peer.sendall(three[4:])
        dealer.rcvtimeo = 5000
        assert dealer.recv_multipart() == [b"three", b"parts"]
        dealer.send(b"reply")  # and the other way still works
        assert peer.recv(64).endswith(b"reply")
    finally:
        peer.close()


def test_a_peer_accepted_by_the_read_before_the_poll_is_waited_on(ctx, monkeypatch) -> None:
    """A reader whose one lent descriptor is its listener accepts a waiting peer in the read
    it makes before polling: the new connection (lent, so the I/O thread leaves it alone)
    must be in what the reader then waits on. A wait on the old set would miss its message
    until the lend ended, which the long LEND_TIME here puts off for good."""
    monkeypatch.setattr(zmq_core, "LEND_TIME", 3600.0)
    router = ctx.socket(vmzmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    _wait_once(router)  # the listener is the reader's now
    dealer = ctx.socket(vmzmq.DEALER)
    dealer.connect(f"tcp://127.0.0.1:{port}")  # made at once, into the listen backlog
    dealer.send(b"hello")
    router.rcvtimeo = 20_000
    _ident, body = router.recv_multipart()
    assert body == b"hello"


def test_a_lent_connection_is_read_before_its_heartbeat_times_out(ctx, monkeypatch) -> None:
    """A reader waited once (its connection is lent to it) and then stops reading, while the
    lend lasts (here for an hour). The peer answers every PING, but the PONGs wait in the
    kernel: the heartbeat timeout must read them before it calls the peer silent, or it
    drops a live connection (HEARTBEAT_TIMEOUT 100 ms, below the lend)."""
    monkeypatch.setattr(zmq_core, "LEND_TIME", 3600.0)
    listener = RawListener()
    dealer = ctx.socket(vmzmq.DEALER)
    dealer.heartbeat_ivl = 50
    dealer.heartbeat_timeout = 100
    dealer.connect(listener.endpoint)
    peer = listener.accept()
    try:
        peer.handshake(b"ROUTER")
        _wait_once(dealer)
        pings = 0
        peer.sock.settimeout(30)
        while pings < 10:  # ~0.5 s of heartbeats; a dropped connection ends in EOFError
            kind, (name, _data) = peer.read_item()  # answers each PING with a PONG
            assert kind == "command"
            pings += name == b"PING"
        peer.send_message([b"still here"])
        dealer.rcvtimeo = 10_000
        assert dealer.recv() == b"still here"
    finally:
        peer.close()
        listener.close()
