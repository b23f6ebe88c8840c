"""Worker roles of the scale cases (issue 20): many peers on one socket, many sockets.

Run by ``benchmarks.worker`` (``python -m benchmarks.worker '<spec>'`` with a ``scale_*``
role), one side of a sample per process, vmzmq or pyzmq as the spec says:

* ``scale_router`` binds one ROUTER and echoes requests; it reports its RSS before any peer
  connected and again once every DEALER has made one round trip (the idle connections), then
  its CPU time over the measured requests.
* ``scale_dealers`` opens ``dealers`` DEALERs in this process, all connected to the ROUTER;
  after one round trip each it waits for ``go``, then runs ``rounds`` rounds: every DEALER
  sends one request, then every DEALER receives its reply.
* ``scale_pub`` binds one PUB (SNDHWM 0) and, after ``go``, sends ``count`` 64 B messages
  cycling through ``topics`` distinct topics (``b"0042|"``: none a prefix of another).
* ``scale_subs`` opens ``sockets`` SUBs (RCVHWM 0) in this process, each subscribed to its
  own ``topics_per`` topics, and reads them all through one Poller.
* ``scale_sockets`` creates ``sockets`` DEALERs in one context and closes them: time, CPU and
  RSS of both steps.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.worker import emit, load, proc_status, stdin_has, wait_command, zbind


def topic(t: int) -> bytes:
    return b"%04d|" % t


def allow_sockets(zmq: Any, ctx: Any, n: int) -> None:
    """Let ``ctx`` hold ``n`` sockets (libzmq's default is 1023)."""
    if n + 16 > 1023:
        ctx.set(zmq.MAX_SOCKETS, n + 16)


# -- ROUTER with many DEALERs ---------------------------------------------------------------------


def scale_router(spec: dict) -> None:
    zmq = load(spec["lib"])
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    endpoint = zbind(zmq, s, spec["transport"], spec)
    rss0 = proc_status()["VmRSS"]
    emit("ready", endpoint=endpoint, rss=rss0)
    recv, send = s.recv_multipart, s.send_multipart
    for _ in range(spec["dealers"]):  # one round trip per DEALER: all are connected
        send(recv())
    emit("idle", rss=proc_status()["VmRSS"], connections=spec["dealers"])
    cpu0 = time.process_time()  # waiting for the first request costs no CPU
    for _ in range(spec["count"]):
        send(recv())
    emit("result", count=spec["count"], cpu=time.process_time() - cpu0)
    wait_command("exit")  # the DEALERs have their replies: close only now
    s.close(linger=0)
    ctx.term()


def scale_dealers(spec: dict) -> None:
    zmq = load(spec["lib"])
    ctx = zmq.Context()
    k, rounds = spec["dealers"], spec["rounds"]
    allow_sockets(zmq, ctx, k)
    socks = []
    for _ in range(k):
        d = ctx.socket(zmq.DEALER)
        d.connect(spec["endpoint"])
        socks.append(d)
    msg = b"x" * spec["size"]
    for d in socks:
        d.send(msg)
    for d in socks:
        d.recv()
    emit("ready")
    wait_command("go")
    sends = [d.send for d in socks]
    recvs = [d.recv for d in socks]
    start, cpu0 = time.monotonic(), time.process_time()
    for _ in range(rounds):
        for send in sends:
            send(msg)
        for recv in recvs:
            recv()
    end, cpu = time.monotonic(), time.process_time() - cpu0
    emit("result", start=start, end=end, count=k * rounds, cpu=cpu)
    wait_command("exit")
    for d in socks:
        d.close(linger=0)
    ctx.term()


# -- PUB with many subscriptions ------------------------------------------------------------------


def scale_pub(spec: dict) -> None:
    zmq = load(spec["lib"])
    n, size, topics = spec["count"], spec["size"], spec["topics"]
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUB)
    s.setsockopt(zmq.SNDHWM, 0)  # lossless: the subscribers count every message
    endpoint = zbind(zmq, s, spec["transport"], spec)
    emit("ready", endpoint=endpoint)
    warm = [topic(t) + b"W" for t in range(topics)]
    # Warm-up messages on every topic until every subscriber has seen each of its topics
    # (all subscriptions arrived): the runner says "go" then.
    while True:
        for m in warm:
            s.send(m)
        cmd = stdin_has(0.02)
        if cmd == "go":
            break
        if cmd == "":
            raise SystemExit("stdin closed")
    data = [topic(t) + b"D" + b"x" * (size - 6) for t in range(topics)]
    send = s.send
    start, cpu0 = time.monotonic(), time.process_time()
    for _ in range(n // topics):
        for m in data:
            send(m)
    sent = time.monotonic()
    s.close()
    ctx.term()  # lingers until every subscriber has it all: the I/O work counts
    emit("result", start=start, sent=sent, end=time.monotonic(),
         count=n // topics * topics, cpu=time.process_time() - cpu0)


def scale_subs(spec: dict) -> None:
    zmq = load(spec["lib"])
    k, per, first = spec["sockets"], spec["topics_per"], spec["first"]
    ctx = zmq.Context()
    allow_sockets(zmq, ctx, k)
    poller = zmq.Poller()
    socks = []
    for j in range(k):
        s = ctx.socket(zmq.SUB)
        s.setsockopt(zmq.RCVHWM, 0)
        for t in range((first + j) * per, (first + j + 1) * per):
            s.setsockopt(zmq.SUBSCRIBE, topic(t))
        s.connect(spec["endpoint"])
        poller.register(s, zmq.POLLIN)
        socks.append(s)
    mine = k * per
    expected = spec["count"] // spec["topics"] * mine
    noblock = zmq.NOBLOCK
    again = zmq.Again
    seen: set[bytes] = set()
    while len(seen) < mine:  # a warm-up message on each of this process's topics
        for s, _ in poller.poll():
            while True:
                try:
                    m = s.recv(noblock)
                except again:
                    break
                if m[5:6] != b"W":
                    raise SystemExit("data before the warm-up ended")
                seen.add(m[:5])
    emit("ready")
    got = 0
    start = 0.0
    cpu0 = time.process_time()
    while got < expected:
        for s, _ in poller.poll():
            recv = s.recv
            while True:
                try:
                    m = recv(noblock)
                except again:
                    break
                if m[5:6] == b"D":
                    if not got:
                        start, cpu0 = time.monotonic(), time.process_time()
                    got += 1
    end = time.monotonic()
    emit("result", start=start, end=end, count=got, cpu=time.process_time() - cpu0)
    for s in socks:
        s.close(linger=0)
    ctx.term()


# -- many sockets in one context ------------------------------------------------------------------


def scale_sockets(spec: dict) -> None:
    zmq = load(spec["lib"])
    n = spec["sockets"]
    ctx = zmq.Context()
    allow_sockets(zmq, ctx, n)
    first = ctx.socket(zmq.DEALER)  # the context's own threads and buffers: not counted
    rss0 = proc_status()["VmRSS"]
    dealer = zmq.DEALER
    t0, c0 = time.perf_counter(), time.process_time()
    socks = [ctx.socket(dealer) for _ in range(n)]
    t1, c1 = time.perf_counter(), time.process_time()
    rss1 = proc_status()["VmRSS"]
    for s in socks:
        s.close(linger=0)
    first.close(linger=0)
    ctx.term()  # libzmq closes in its reaper thread: wait for it
    t2, c2 = time.perf_counter(), time.process_time()
    emit(
        "result",
        sockets=n,
        create_s=t1 - t0,
        close_s=t2 - t1,
        create_cpu=c1 - c0,
        close_cpu=c2 - c1,
        rss_before=rss0,
        rss_after=rss1,
    )


ROLES = {
    "scale_router": scale_router,
    "scale_dealers": scale_dealers,
    "scale_pub": scale_pub,
    "scale_subs": scale_subs,
    "scale_sockets": scale_sockets,
}
