"""Differences from pyzmq that real applications ran into (docs/compat-apps.md), each as a
test that needs no application.

* ``zmq.COPY_THRESHOLD`` changed at run time (jupyter_client's own tests patch it to 1 so
  that every send is zero-copy and tracked): pyzmq reads it whenever a Frame or a Socket is
  made; vmzmq read it once, at import, so small tracked frames were "done" at once.
* ``gevent.monkey.patch_all()`` before vmzmq (locust): the engine's I/O thread needs the
  unpatched ``select.epoll``, native threads, locks and sockets (``vmzmq._native``).
* ``patch_all()`` *after* ``import vmzmq``: MessageTracker refused vmzmq's own tracker
  events (made from the original ``threading.Event``) once ``threading.Event`` was gevent's.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

import vmzmq


@pytest.fixture
def copy_threshold_1(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # As jupyter_client's tests do it (mock.patch.object(zmq, "COPY_THRESHOLD", 1)).
    monkeypatch.setattr(vmzmq, "COPY_THRESHOLD", 1)
    yield


def test_frame_reads_copy_threshold_when_made(copy_threshold_1: None) -> None:
    frame = vmzmq.Frame(b"hi there", track=True)
    # Not copied (the threshold is 1 byte now), so tracked for real: not done while the
    # Frame holds the data.
    assert frame.tracker is not None and not frame.tracker.done
    # An explicit argument still wins.
    assert vmzmq.Frame(b"hi there", track=True, copy_threshold=1024).tracker.done


def test_socket_reads_copy_threshold_when_made(copy_threshold_1: None) -> None:
    with vmzmq.Context() as ctx:
        sock = ctx.socket(vmzmq.PAIR)
        try:
            assert sock.copy_threshold == 1
        finally:
            sock.close()


def test_socket_made_before_keeps_its_threshold() -> None:
    with vmzmq.Context() as ctx:
        sock = ctx.socket(vmzmq.PAIR)
        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(vmzmq, "COPY_THRESHOLD", 1)
                assert sock.copy_threshold == vmzmq.constants.COPY_THRESHOLD
        finally:
            sock.close()


def test_small_tracked_send_waits_for_the_receiver(copy_threshold_1: None) -> None:
    """jupyter_client's test_session.py::test_tracking_sync, without jupyter_client."""
    ctx = vmzmq.Context()
    a = ctx.socket(vmzmq.PAIR)
    b = ctx.socket(vmzmq.PAIR)
    try:
        a.bind("inproc://apps-compat-tracking")
        b.connect("inproc://apps-compat-tracking")
        frame = vmzmq.Message(b"hi there", track=True)
        tracker = a.send_multipart([b"header", frame], copy=False, track=True)
        assert isinstance(tracker, vmzmq.MessageTracker)
        with pytest.raises(vmzmq.NotDone):
            tracker.wait(0)
        del frame
        with pytest.raises(vmzmq.NotDone):
            tracker.wait(0)  # the message still waits in b's queue
        received = b.recv_multipart(copy=False)
        assert [f.bytes for f in received] == [b"header", b"hi there"]
        del received
        tracker.wait(60)  # generous: done once the receiver let go of it
        assert tracker.done
    finally:
        a.close(linger=0)
        b.close(linger=0)
        ctx.term()


PATCH_ALL_ROUND_TRIP = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()

    import gevent
    import vmzmq.green as zmq

    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, b"w1")
    dealer.connect(f"tcp://127.0.0.1:{port}")
    ticks = []

    def ticker():
        for i in range(3):
            ticks.append(i)
            gevent.sleep(0)

    other = gevent.spawn(ticker)
    dealer.send(b"hello")
    assert router.recv_multipart() == [b"w1", b"hello"]
    router.send_multipart([b"w1", b"back"])
    assert dealer.recv() == b"back"
    other.join()
    assert ticks == [0, 1, 2]  # the hub ran other greenlets meanwhile
    router.close()
    dealer.close()
    ctx.term()
    print("ok")
    """
)


def test_gevent_patch_all_round_trip() -> None:
    pytest.importorskip("gevent")
    proc = subprocess.run(
        [sys.executable, "-c", PATCH_ALL_ROUND_TRIP],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


IMPORTED_BEFORE_PATCH_ALL = textwrap.dedent(
    """
    import threading
    import vmzmq  # before the patching: frame.py's events use the original threading.Event

    from gevent import monkey
    monkey.patch_all()

    import vmzmq.green as zmq

    ctx = zmq.Context()
    a = ctx.socket(zmq.PAIR)
    b = ctx.socket(zmq.PAIR)
    a.bind("inproc://apps-compat-order")
    b.connect("inproc://apps-compat-order")
    # A tracked zero-copy send builds a MessageTracker around vmzmq's own event.
    tracker = a.send(b"x" * 100_000, copy=False, track=True)
    assert b.recv() == b"x" * 100_000
    tracker.wait(60)
    # An event made after the patching (gevent's class) is accepted too.
    assert not zmq.MessageTracker(threading.Event()).done
    a.close()
    b.close()
    ctx.term()
    print("ok")
    """
)


def test_tracked_send_when_vmzmq_was_imported_before_patch_all() -> None:
    """MessageTracker checked ``isinstance(obj, threading.Event)`` at call time: after
    ``patch_all()`` that is gevent's class, and vmzmq's own events (made from the original)
    were refused with TypeError on every tracked zero-copy send."""
    pytest.importorskip("gevent")
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTED_BEFORE_PATCH_ALL],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
