"""inproc peers that come and go from several threads at once: nothing leaks, and a PAIR
always accepts its next peer (a lost update in mark_dead/reap used to leak a dead pipe, after
which the PAIR refused every new peer)."""

from __future__ import annotations

import sys
import threading

import pytest

import vmzmq
from interop_helpers import wait_until

THREADS = 4
ROUNDS = 600


@pytest.fixture(autouse=True)
def _switch_often():
    # Thread switches every microsecond instead of every 5 ms, so the windows between one
    # thread's read and write of shared state are actually hit.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


@pytest.fixture
def ctx():
    c = vmzmq.Context()
    c.linger = 0
    yield c
    c.destroy(linger=0)


@pytest.mark.parametrize("kinds", [("PAIR", "PAIR"), ("PULL", "PUSH")], ids=["pair", "push"])
def test_peers_closing_from_many_threads_leak_nothing(ctx, kinds) -> None:
    bound_kind, peer_kind = (getattr(vmzmq, k) for k in kinds)
    bound = ctx.socket(bound_kind)
    bound.bind("inproc://race")
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS + 1)

    def churn() -> None:
        try:
            start.wait()
            for i in range(ROUNDS):
                peer = ctx.socket(peer_kind)
                peer.connect("inproc://race")
                if i % 3 == 0:
                    peer.send(b"x", vmzmq.NOBLOCK) if peer_kind == vmzmq.PUSH else None
                peer.close(linger=0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=churn) for _ in range(THREADS)]
    for t in threads:
        t.start()
    start.wait()
    # The bound socket keeps working meanwhile: every call reaps what others ended.
    while any(t.is_alive() for t in threads):
        bound.poll(1)
        while bound.poll(0):
            bound.recv()
    for t in threads:
        t.join()
    assert errors == []
    core = bound._core

    def settled() -> bool:
        while bound.poll(0):
            bound.recv()
        return not core.pipes and not core.draining and not core.dead_inbox

    wait_until(settled, what="every dead pipe to be reaped")
    # And the next peer is accepted and talks both ways.
    peer = ctx.socket(peer_kind)
    peer.connect("inproc://race")
    peer.send(b"hello")
    assert bound.poll(5000) and bound.recv() == b"hello"
    if bound_kind == vmzmq.PAIR:
        bound.send(b"back")
        assert peer.poll(5000) and peer.recv() == b"back"

