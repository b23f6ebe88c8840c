"""CPU used while nothing happens: the share of one core a vmzmq process uses when idle.

These were assertions in the test suite, which must pass on a loaded machine and so asserts
no CPU time; here they are measurements. Every case runs in a fresh process (PYTHONPATH=src)
and reports ``process_time / wall time`` (every thread: the I/O thread included) over
``--seconds``, next to the limit it should stay under::

    python -m benchmarks.idle                 # every case, 2 s each
    python -m benchmarks.idle --only proxy    # cases whose name contains "proxy"
    python -m benchmarks.idle --json -        # the results as JSON too

The cases:

* ``sockets`` / ``sockets.heartbeat-200ms``: connected PUSH/PULL pairs over tcp and ipc, a
  thread blocked in recv(), a thread in Poller.poll() and a socket retrying an absent peer
  (the default 100 ms). Limit 5% of a core.
* ``spin.trickle-5ms``: a REP answering a request every 5 ms. It polls its connection for
  up to SPIN_TIME (50 us) after each reply before it sleeps; an unbounded spin would use a
  whole core. Limit 15%.
* ``proxy.idle``, ``proxy.blocked``, ``proxy.paused``: a steerable proxy with nothing to do,
  one whose backend has no peer (blocked, not spinning), and one told PAUSE. Limit 10%.
* ``asyncio.await``: an asyncio task awaiting recv() and poll() that nothing answers.
  Limit 10%.

The exit status is 1 when a case is over its limit or fails. Run it on a quiet machine:
another process's load does not raise these numbers much, but it is not what they mean.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

# Each child prints "cpu <share>" lines, one per measured phase: "cpu <name> <share>".
_MEASURE = r"""
import time
def measure(name, seconds):
    t0 = time.process_time()
    w0 = time.monotonic()
    time.sleep(seconds)
    share = (time.process_time() - t0) / (time.monotonic() - w0)
    print("cpu", name, share, flush=True)
"""

IDLE_SOCKETS = _MEASURE + r"""
import os, sys, threading
import vmzmq as zmq
heartbeat, port, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
ctx = zmq.Context()
pairs = []
for ep in ("tcp://127.0.0.1:*", "ipc://@vmzmq-idle-%d" % os.getpid()):
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    if heartbeat:
        for s in (pull, push):
            s.heartbeat_ivl = heartbeat
            s.heartbeat_timeout = heartbeat * 3
    pull.bind(ep)
    push.connect(pull.last_endpoint.decode())
    push.send(b"x")
    assert pull.recv() == b"x"
    pairs.append((push, pull))
blocked = ctx.socket(zmq.PULL)
blocked.bind("tcp://127.0.0.1:*")
threading.Thread(target=lambda: blocked.recv(), daemon=True).start()
poller = zmq.Poller()
poller.register(pairs[0][1], zmq.POLLIN)
threading.Thread(target=lambda: poller.poll(600000), daemon=True).start()
retry = ctx.socket(zmq.PUSH)
retry.connect("tcp://127.0.0.1:%s" % port)
time.sleep(0.3)
measure("sockets" + (".heartbeat-%dms" % heartbeat if heartbeat else ""), seconds)
os._exit(0)
"""

TRICKLE_REP = r"""
import sys, time
import vmzmq as zmq
ctx = zmq.Context()
rep = ctx.socket(zmq.REP)
rep.bind(sys.argv[1])
print("ready", flush=True)
assert rep.recv() == b"start"
rep.send(b"ok")
t0 = time.process_time()
w0 = time.monotonic()
while True:
    msg = rep.recv()
    rep.send(msg)
    if msg == b"end":
        break
print("cpu spin.trickle-5ms", (time.process_time() - t0) / (time.monotonic() - w0), flush=True)
"""

PROXY = _MEASURE + r"""
import os, sys, threading
import vmzmq as zmq
seconds = float(sys.argv[1])
ctx = zmq.Context()
front = ctx.socket(zmq.PULL)
front.bind("tcp://127.0.0.1:*")
back = ctx.socket(zmq.PUSH)
back.sndhwm = 5
back.bind("tcp://127.0.0.1:*")
control = ctx.socket(zmq.PAIR)
control.bind("inproc://idle-ctl")
threading.Thread(target=zmq.proxy_steerable, args=(front, back, None, control),
                 daemon=True).start()
src = ctx.socket(zmq.PUSH)
src.connect(front.last_endpoint.decode())
time.sleep(0.2)
measure("proxy.idle", seconds)
for i in range(50):  # the backend has no peer: the proxy is blocked, not spinning
    src.send(str(i).encode(), zmq.DONTWAIT)
time.sleep(0.2)
measure("proxy.blocked", seconds)
ctl = ctx.socket(zmq.PAIR)
ctl.connect("inproc://idle-ctl")
ctl.send(b"PAUSE")
assert ctl.recv() == b""
time.sleep(0.2)
measure("proxy.paused", seconds)
os._exit(0)
"""

ASYNC_AWAIT = _MEASURE + r"""
import asyncio, os, sys
import vmzmq
import vmzmq.asyncio as zaio
seconds = float(sys.argv[1])

async def main():
    ctx = zaio.Context()
    rx = ctx.socket(vmzmq.PAIR)
    rx.bind("tcp://127.0.0.1:*")
    tx = ctx.socket(vmzmq.PAIR)
    tx.connect(rx.last_endpoint.decode())
    await tx.send(b"warm up")
    assert await rx.recv() == b"warm up"
    fut = rx.recv()
    poll = rx.poll(600000)
    t0 = time.process_time()
    w0 = time.monotonic()
    await asyncio.sleep(seconds)
    share = (time.process_time() - t0) / (time.monotonic() - w0)
    assert not fut.done() and not poll.done()
    print("cpu asyncio.await", share, flush=True)

asyncio.run(main())
os._exit(0)
"""

LIMITS = {
    "sockets": 0.05,
    "sockets.heartbeat-200ms": 0.05,
    "spin.trickle-5ms": 0.15,
    "proxy.idle": 0.10,
    "proxy.blocked": 0.10,
    "proxy.paused": 0.10,
    "asyncio.await": 0.10,
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_lines(out: str) -> dict[str, float]:
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "cpu":
            found[parts[1]] = float(parts[2])
    return found


def _child(code: str, *args: str, timeout: float) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", code, *args], env=_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return _cpu_lines(proc.stdout)


def _trickle(seconds: float) -> dict[str, float]:
    """A REP child; this process sends it a request every 5 ms for ``seconds``."""
    import vmzmq as zmq

    with tempfile.TemporaryDirectory(prefix="vmzb-") as tmp:
        endpoint = f"ipc://{tmp}/trickle"
        child = subprocess.Popen([sys.executable, "-c", TRICKLE_REP, endpoint], env=_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the REP child did not start: {child.stderr.read()}")
            ctx = zmq.Context()
            req = ctx.socket(zmq.REQ)
            req.rcvtimeo = 30000
            req.connect(endpoint)
            req.send(b"start")
            req.recv()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                req.send(b"tick")
                req.recv()
                time.sleep(0.005)
            req.send(b"end")
            req.recv()
            req.close(linger=0)
            ctx.term()
            out, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        if child.returncode != 0:
            raise RuntimeError(f"the REP child failed ({child.returncode}): {err[-2000:]}")
        return _cpu_lines(out)


def run(seconds: float = 2.0, only: str = "") -> dict[str, dict]:
    """Measure every case whose name contains ``only``; {name: {share, limit, ok}}."""
    timeout = 60 + 4 * seconds
    groups = [
        (("sockets",), lambda: _child(IDLE_SOCKETS, "0", str(_free_tcp_port()), str(seconds),
                                      timeout=timeout)),
        (("sockets.heartbeat-200ms",),
         lambda: _child(IDLE_SOCKETS, "200", str(_free_tcp_port()), str(seconds),
                        timeout=timeout)),
        (("spin.trickle-5ms",), lambda: _trickle(seconds)),
        (("proxy.idle", "proxy.blocked", "proxy.paused"),
         lambda: _child(PROXY, str(seconds), timeout=timeout)),
        (("asyncio.await",), lambda: _child(ASYNC_AWAIT, str(seconds), timeout=timeout)),
    ]
    results: dict[str, dict] = {}
    for names, measure in groups:
        if not any(only in name for name in names):
            continue
        try:
            shares = measure()
            error = None
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            shares, error = {}, str(exc)
        for name in names:
            share = shares.get(name)
            results[name] = {
                "share": share,
                "limit": LIMITS[name],
                "ok": share is not None and share < LIMITS[name],
                "error": error if share is None else None,
            }
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="how long each phase is measured")
    ap.add_argument("--only", default="", help="cases whose name contains this")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON (- = stdout)")
    args = ap.parse_args(argv)
    results = run(args.seconds, args.only)
    print(f"{'case':<26} {'CPU (share of a core)':>22} {'limit':>7}")
    for name, r in results.items():
        share = "failed" if r["share"] is None else f"{r['share']:.1%}"
        flag = "" if r["ok"] else "  OVER" if r["share"] is not None else f"  {r['error']}"
        print(f"{name:<26} {share:>22} {r['limit']:>7.0%}{flag}")
    if args.json == "-":
        print(json.dumps(results, indent=2))
    elif args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0 if results and all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
