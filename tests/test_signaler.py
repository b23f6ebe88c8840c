"""A socket's wake-up fd (engine/signaler.py) is made at its first wait, not with the socket:
a program with thousands of sockets that never block holds no descriptor for them, and a
signal given before the fd exists still wakes the waiter it was for."""

from __future__ import annotations

import pytest

import vmzmq as zmq
from fault_helpers import open_fds
from vmzmq.engine.signaler import Signaler


def test_signal_before_the_fd_exists_wakes_the_waiter() -> None:
    s = Signaler()
    s.waiters = 1  # a waiter counted itself, then the signal came before it made the fd
    s.signal()
    assert s.wait(0), "the signal given before the fd existed was lost"
    s.drain()
    assert not s.wait(0)
    s.close()


def test_a_closed_signaler_that_never_waited_has_nothing_to_wait_on() -> None:
    s = Signaler()
    s.close()
    assert s.fd == -1
    assert not s.wait(None)  # returns: no fd will ever be written


def test_sockets_hold_a_wake_up_fd_only_once_they_wait() -> None:
    ctx = zmq.Context()
    try:
        before = open_fds()
        socks = [ctx.socket(zmq.DEALER) for _ in range(50)]
        assert open_fds() == before
        pull, push = socks[0], socks[1]
        pull.bind("inproc://signaler-lazy")
        push.connect("inproc://signaler-lazy")
        push.send(b"ready")
        assert pull.recv() == b"ready"  # waiting for nothing: no fd needed
        assert open_fds() == before
        pull.rcvtimeo = 1
        with pytest.raises(zmq.Again):
            pull.recv()  # waited (and timed out): its socket's fd is made
        assert open_fds() == before + 1
        assert isinstance(socks[2].getsockopt(zmq.FD), int)  # handed out: made too
        assert open_fds() == before + 2
        for s in socks:
            s.close(linger=0)
        assert open_fds() == before
    finally:
        ctx.term()
