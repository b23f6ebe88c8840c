"""A standalone PUSH -> PULL pair that prints each side's CPU time per message.

The runner's medians say how fast; this says which side is the bound, from
``time.thread_time`` in each process's main thread (the I/O thread is not counted) and
``time.process_time`` of the whole process (all its threads)::

    python -m benchmarks.pair --lib vmzmq --count 1000000 --size 64
    python -m benchmarks.pair --lib pyzmq --count 1000000 --size 64 --transport tcp
    python -m benchmarks.pair --lib vmzmq --count 200000 --size 64 --curve   # both sides CURVE

Run both libraries alternately a few times; single runs on these machines vary by 20-30%.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

from .worker import connected_push, curve_server


def _side(
    role: str, lib: str, endpoint: str, count: int, size: int, sndbuf: int, keys: dict | None,
    stall: float,
) -> None:
    zmq = importlib.import_module("zmq" if lib == "pyzmq" else "vmzmq")
    ctx = zmq.Context()
    if role == "pull":
        s = ctx.socket(zmq.PULL)
        curve_server(zmq, s, keys)
        # A pair that stops delivering says how far it got instead of hanging.
        s.setsockopt(zmq.RCVTIMEO, int(stall * 1000))
        s.bind(endpoint)
        print("ready", flush=True)
        recv = s.recv
        got = 0
        try:
            recv()
            got = 1
            t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
            for got in range(1, count):  # noqa: B007  (got: received before this one)
                recv()
        except zmq.Again:
            sys.exit(f"{lib} pull: received {got} of {count} messages, then nothing for "
                     f"{stall:g} s")
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
        proc = time.process_time() - p0
        n = count - 1
        print(f"{lib} pull: {n / wall:,.0f} msg/s, {n * size / wall / 1e6:,.0f} MB/s, "
              f"main thread {cpu / n * 1e9:,.0f} ns/msg, process {proc / n * 1e9:,.0f} ns/msg",
              flush=True)
        s.close(linger=0)
    else:
        s = connected_push(zmq, ctx, endpoint, sndbuf, keys)
        msg = b"x" * size
        send = s.send
        t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
        for _ in range(count):
            send(msg)
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
        s.close(linger=int(stall * 1000))
        ctx.term()  # returns once all is delivered: the I/O thread's work counts too
        proc = time.process_time() - p0
        print(f"{lib} push: main thread {cpu / count * 1e9:,.0f} ns/msg "
              f"(wall {wall / count * 1e9:,.0f}), process {proc / count * 1e9:,.0f} ns/msg",
              flush=True)
        return
    ctx.term()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", choices=("vmzmq", "pyzmq"), default="vmzmq")
    ap.add_argument("--transport", choices=("ipc", "tcp"), default="ipc")
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--sndbuf", type=int, default=0, help="ZMQ_SNDBUF on the PUSH (0: unset)")
    ap.add_argument("--curve", action="store_true",
                    help="CURVE on both sides (keys from the library's curve_keypair())")
    ap.add_argument("--stall", type=float, default=120.0,
                    help="give up (exit status 1) when nothing arrives for this long, s")
    ap.add_argument("--role", choices=("push", "pull"), help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    ap.add_argument("--keys", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.role:
        keys = json.loads(args.keys) if args.keys else None
        _side(args.role, args.lib, args.endpoint, args.count, args.size, args.sndbuf, keys,
              args.stall)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        if args.transport == "ipc":
            endpoint = f"ipc://{tmp}/pair"
        else:
            import socket

            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                endpoint = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
        common = [sys.executable, "-m", "benchmarks.pair", "--lib", args.lib,
                  "--count", str(args.count), "--size", str(args.size),
                  "--sndbuf", str(args.sndbuf), "--stall", str(args.stall),
                  "--endpoint", endpoint]
        env = dict(os.environ)
        src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), src) if p)
        if args.curve:  # one key pair each, made by the library under test (worker role)
            spec = json.dumps({"role": "curve_keys", "lib": args.lib})
            out = subprocess.run([sys.executable, "-m", "benchmarks.worker", spec], env=env,
                                 capture_output=True, text=True, check=True).stdout
            keys = json.loads(out.splitlines()[-1])
            keys.pop("event", None)
            common += ["--keys", json.dumps(keys)]
        pull = subprocess.Popen([*common, "--role", "pull"], stdout=subprocess.PIPE, text=True,
                                env=env)
        assert pull.stdout is not None
        if pull.stdout.readline().strip() != "ready":
            pull.kill()
            return 1
        push = subprocess.run([*common, "--role", "push"], env=env, check=False)
        for line in pull.stdout:
            print(line, end="")
        return pull.wait() or push.returncode


if __name__ == "__main__":
    sys.exit(main())
