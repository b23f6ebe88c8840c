"""Poller, zmq.select, and the FD/EVENTS options with select.select()."""

from __future__ import annotations

import os
import select
import socket as pysocket
import time
from collections.abc import Iterator

import pytest

import vmzmq as zmq
from waiting import HANG, finishes, in_thread, join, wait_thread_blocked

TIMEOUT_MS = 10000  # only fails a test that would hang


def sock(ctx: zmq.Context, kind: int, **opts: object) -> zmq.Socket:
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = TIMEOUT_MS
    s.sndtimeo = TIMEOUT_MS
    for name, value in opts.items():
        setattr(s, name, value)
    return s


@pytest.fixture
def pushpull(ctx, endpoint, transport) -> tuple[zmq.Socket, zmq.Socket]:
    pull = sock(ctx, zmq.PULL)
    pull.bind(endpoint(transport))
    push = sock(ctx, zmq.PUSH)
    push.connect(pull.last_endpoint.decode())
    return push, pull


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    os.close(r)
    os.close(w)


@pytest.fixture
def socketpair() -> Iterator[tuple[pysocket.socket, pysocket.socket]]:
    a, b = pysocket.socketpair()
    yield a, b
    a.close()
    b.close()


def by_fd(ready: dict) -> dict:
    """Key non-zmq objects by file descriptor (pyzmq reports them so; see the test below)."""
    return {
        k if isinstance(k, zmq.Socket | int) else k.fileno(): v for k, v in ready.items()
    }


def poll_until(poller: zmq.Poller, wanted: object, timeout_ms: int = TIMEOUT_MS) -> dict:
    """Poll until ``wanted`` is among the ready items (other items may get ready first)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        ready = dict(poller.poll(50))
        if wanted in ready:
            return ready
        assert time.monotonic() < deadline, f"{wanted!r} never became ready"


# -- Poller ----------------------------------------------------------------------------------------


def test_poll_pollin(pushpull):
    push, pull = pushpull
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    assert poller.poll(0) == []
    push.send(b"x")
    ready = poll_until(poller, pull)
    assert ready == {pull: zmq.POLLIN}
    assert pull.recv() == b"x"
    assert poller.poll(0) == []


def test_poll_returns_a_list_of_pairs(ctx):
    pull = sock(ctx, zmq.PULL)
    pull.bind("inproc://pairs")
    push = sock(ctx, zmq.PUSH)
    push.connect("inproc://pairs")
    push.send(b"x")
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    result = poller.poll(1000)
    assert isinstance(result, list)
    assert result == [(pull, zmq.POLLIN)]


def test_poll_pollout(ctx, endpoint, transport):
    push = sock(ctx, zmq.PUSH)
    poller = zmq.Poller()
    poller.register(push, zmq.POLLOUT)
    assert poller.poll(0) == []  # no peer: cannot send
    pull = sock(ctx, zmq.PULL)
    pull.bind(endpoint(transport))
    push.connect(pull.last_endpoint.decode())
    assert poll_until(poller, push) == {push: zmq.POLLOUT}


def test_req_pollout_follows_the_state_machine(ctx):
    rep = sock(ctx, zmq.REP)
    rep.bind("inproc://reqstate")
    req = sock(ctx, zmq.REQ)
    req.connect("inproc://reqstate")
    poller = zmq.Poller()
    poller.register(req, zmq.POLLIN | zmq.POLLOUT)
    assert dict(poller.poll(1000)) == {req: zmq.POLLOUT}
    req.send(b"q")
    assert poller.poll(0) == []  # waiting for the reply: neither
    assert rep.recv() == b"q"
    rep.send(b"r")
    assert dict(poller.poll(1000)) == {req: zmq.POLLIN}
    assert req.recv() == b"r"


def test_poll_both_directions(ctx):
    a = sock(ctx, zmq.PAIR)
    b = sock(ctx, zmq.PAIR)
    a.bind("inproc://both")
    b.connect("inproc://both")
    poller = zmq.Poller()
    poller.register(b)  # default: POLLIN | POLLOUT
    assert dict(poller.poll(1000)) == {b: zmq.POLLOUT}
    a.send(b"x")
    assert dict(poller.poll(1000)) == {b: zmq.POLLIN | zmq.POLLOUT}


def test_poll_timeout(ctx):
    """Nothing ready: poll returns [] once the timeout has passed, not before (a lower bound
    holds on any machine; how late is not asserted), and returns (it would hang without its
    timeout)."""
    pull = sock(ctx, zmq.PULL)
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    for timeout_ms in (0, 50, 200):
        start = time.monotonic()
        assert finishes(poller.poll, timeout_ms) == []
        assert time.monotonic() - start >= timeout_ms / 1000 - 0.01


def test_poll_without_timeout_waits_for_a_message(ctx):
    pull = sock(ctx, zmq.PULL)
    pull.bind("tcp://127.0.0.1:*")
    push = sock(ctx, zmq.PUSH)
    push.connect(pull.last_endpoint.decode())
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    waiter, outcome = in_thread(poller.poll)  # None: forever
    wait_thread_blocked(waiter)
    push.send(b"late")
    assert join(waiter, outcome, what="poll() after a message arrived") == [(pull, zmq.POLLIN)]
    assert pull.recv() == b"late"


def test_poll_wakes_when_another_thread_sends(ctx):
    pull = sock(ctx, zmq.PULL)
    pull.bind("inproc://wake")
    push = sock(ctx, zmq.PUSH)
    push.connect("inproc://wake")
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    # No timeout: a poll that another thread's send does not wake hangs (and fails the test).
    waiter, outcome = in_thread(poller.poll)
    wait_thread_blocked(waiter)
    push.send(b"x")
    assert join(waiter, outcome, what="a poll woken by a send") == [(pull, zmq.POLLIN)]


def test_register_modify_unregister(ctx):
    a = sock(ctx, zmq.PAIR)
    b = sock(ctx, zmq.PAIR)
    a.bind("inproc://modify")
    b.connect("inproc://modify")
    a.send(b"x")
    poller = zmq.Poller()
    poller.register(b, zmq.POLLOUT)
    assert b in poller
    assert dict(poller.poll(1000)) == {b: zmq.POLLOUT}
    poller.modify(b, zmq.POLLIN)
    assert dict(poller.poll(1000)) == {b: zmq.POLLIN}
    poller.register(b, zmq.POLLIN | zmq.POLLOUT)  # registering again replaces the flags
    assert dict(poller.poll(1000)) == {b: zmq.POLLIN | zmq.POLLOUT}
    poller.unregister(b)
    assert b not in poller
    assert poller.poll(0) == []
    with pytest.raises(KeyError):
        poller.unregister(b)
    poller.register(b, 0)  # flags 0: not registered
    assert b not in poller


def test_several_sockets_ready_at_once(ctx):
    pulls = [sock(ctx, zmq.PULL) for _ in range(3)]
    pushes = [sock(ctx, zmq.PUSH) for _ in range(3)]
    poller = zmq.Poller()
    for i, (pull, push) in enumerate(zip(pulls, pushes, strict=True)):
        pull.bind(f"inproc://several{i}")
        push.connect(f"inproc://several{i}")
        poller.register(pull, zmq.POLLIN)
    pushes[0].send(b"0")
    pushes[2].send(b"2")
    assert dict(poller.poll(1000)) == {pulls[0]: zmq.POLLIN, pulls[2]: zmq.POLLIN}


def test_poll_mixes_sockets_pipes_and_python_sockets(ctx, pipe, socketpair):
    r, w = pipe
    left, right = socketpair
    pull = sock(ctx, zmq.PULL)
    pull.bind("tcp://127.0.0.1:*")
    push = sock(ctx, zmq.PUSH)
    push.connect(pull.last_endpoint.decode())
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    poller.register(r, zmq.POLLIN)
    poller.register(right, zmq.POLLIN)
    assert poller.poll(0) == []

    os.write(w, b"p")
    assert dict(poller.poll(1000)) == {r: zmq.POLLIN}
    os.read(r, 1)

    left.sendall(b"s")
    assert by_fd(dict(poller.poll(1000))) == {right.fileno(): zmq.POLLIN}
    right.recv(1)

    push.send(b"z")
    assert poll_until(poller, pull) == {pull: zmq.POLLIN}
    assert pull.recv() == b"z"

    os.write(w, b"p")
    left.sendall(b"s")
    push.send(b"z")
    deadline = time.monotonic() + HANG
    ready: dict = {}
    while len(ready) < 3:
        ready.update(poller.poll(50))
        assert time.monotonic() < deadline
    assert by_fd(ready) == {r: zmq.POLLIN, right.fileno(): zmq.POLLIN, pull: zmq.POLLIN}


def test_poll_plain_fd_pollout(pipe):
    r, w = pipe
    poller = zmq.Poller()
    poller.register(w, zmq.POLLOUT)
    assert dict(poller.poll(1000)) == {w: zmq.POLLOUT}


def test_poll_reports_objects_with_fileno_by_their_fd(socketpair):
    # pyzmq code writes ``if sys.stdin.fileno() in dict(poller.poll())``
    left, right = socketpair

    class Wrapper:
        def fileno(self) -> int:
            return right.fileno()

    wrapped = Wrapper()
    poller = zmq.Poller()
    poller.register(wrapped, zmq.POLLIN)
    assert poller.poll(0) == []
    left.sendall(b"x")
    assert dict(poller.poll(1000)) == {right.fileno(): zmq.POLLIN}
    assert zmq.select([wrapped], [], [], 1) == ([right.fileno()], [], [])


# -- zmq.select ------------------------------------------------------------------------------------


def test_select(ctx, pipe):
    r, w = pipe
    pull = sock(ctx, zmq.PULL)
    pull.bind("inproc://select")
    push = sock(ctx, zmq.PUSH)
    push.connect("inproc://select")
    start = time.monotonic()
    assert finishes(zmq.select, [pull, r], [], [], 0.1) == ([], [], [])
    assert time.monotonic() - start >= 0.08  # seconds (not ms), like select.select
    push.send(b"x")
    assert zmq.select([pull, r], [push], [], 1) == ([pull], [push], [])
    os.write(w, b"x")
    rl, wl, xl = zmq.select([pull, r], [], [], 1)
    assert set(rl) == {pull, r} and wl == [] and xl == []


# -- FD and EVENTS ---------------------------------------------------------------------------------


def wait_readable_with_select(s: zmq.Socket, timeout: float = HANG) -> None:
    """The pattern pyzmq's docs give for integrating with another event loop: the FD says
    "something changed", EVENTS says what; FD is edge-triggered, so check EVENTS first."""
    fd = s.getsockopt(zmq.FD)
    deadline = time.monotonic() + timeout
    while not s.getsockopt(zmq.EVENTS) & zmq.POLLIN:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "FD never signalled a message"
        select.select([fd], [], [], remaining)


def test_fd_and_events_with_select(pushpull):
    push, pull = pushpull
    fd = pull.getsockopt(zmq.FD)
    assert isinstance(fd, int) and fd >= 0
    assert pull.fd == fd  # also as an attribute, like pyzmq
    assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN == 0
    push.send(b"x")
    r, _, _ = select.select([fd], [], [], HANG)
    assert r == [fd], "FD did not become readable when a message arrived"
    wait_readable_with_select(pull)
    assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN
    assert pull.recv(zmq.DONTWAIT) == b"x"
    assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN == 0


def test_fd_signals_each_new_message(pushpull):
    push, pull = pushpull
    for i in range(5):
        assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN == 0
        push.send(b"%d" % i)
        wait_readable_with_select(pull)
        assert pull.recv(zmq.DONTWAIT) == b"%d" % i


def test_fd_from_another_thread(ctx):
    pull = sock(ctx, zmq.PULL)
    pull.bind("tcp://127.0.0.1:*")
    push = sock(ctx, zmq.PUSH)
    push.connect(pull.last_endpoint.decode())
    fd = pull.getsockopt(zmq.FD)
    assert pull.getsockopt(zmq.EVENTS) == 0
    push.send(b"warm-up")  # the connection is up: no signal of its own comes later
    wait_readable_with_select(pull)
    assert pull.recv(zmq.DONTWAIT) == b"warm-up"
    assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN == 0  # (this drains FD too)
    assert select.select([fd], [], [], 0)[0] == []  # so the select below has to be woken
    waiter, outcome = in_thread(select.select, [fd], [], [])  # no timeout
    wait_thread_blocked(waiter)
    push.send(b"x")
    r, _, _ = join(waiter, outcome, what="select() on FD after a message arrived")
    assert r == [fd]
    wait_readable_with_select(pull)
    assert pull.recv(zmq.DONTWAIT) == b"x"


def test_events_pollout(ctx):
    push = sock(ctx, zmq.PUSH)
    assert push.getsockopt(zmq.EVENTS) & zmq.POLLOUT == 0  # no peer yet
    pull = sock(ctx, zmq.PULL)
    pull.bind("inproc://evout")
    push.connect("inproc://evout")
    assert push.getsockopt(zmq.EVENTS) == zmq.POLLOUT
    assert push.events == zmq.POLLOUT


def test_fileno_is_the_fd(ctx):
    s = sock(ctx, zmq.PULL)
    assert s.fileno() == s.getsockopt(zmq.FD)


def test_select_select_on_fd_among_other_fds(ctx, pipe):
    r, w = pipe
    pull = sock(ctx, zmq.PULL)
    pull.bind("inproc://among")
    push = sock(ctx, zmq.PUSH)
    push.connect("inproc://among")
    fd = pull.fd
    assert pull.events & zmq.POLLIN == 0
    os.write(w, b"x")
    readable, _, _ = select.select([fd, r], [], [], 1)
    assert r in readable
    os.read(r, 1)
    push.send(b"m")
    readable, _, _ = select.select([fd, r], [], [], 2)
    assert readable == [fd]
    assert pull.events & zmq.POLLIN
    assert pull.recv() == b"m"
