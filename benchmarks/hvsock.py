"""Host <-> guest over real virtio-vsock: vmzmq's ``hvsock://`` against a raw hybrid-socket loop.

Boots one QEMU guest on vhost-device-vsock (tools/vsock-guest/virtio_guest.py: the daemon's
host side is the Firecracker hybrid protocol) and measures, alternating the two in one run:

* ``vmzmq``: the host socket on ``hvsock://<uds_path>:<port>``, the guest's on
  ``vmci://*:<port>`` (host -> guest) or ``vmci://2:<port>`` (guest -> host);
* ``raw``: the ceiling, no ZeroMQ: on the host a plain Unix socket that does CONNECT/OK by hand
  (or listens on ``<uds_path>_<port>``), in the guest a raw ``AF_VSOCK`` socket; messages are
  ZMTP-framed in Python by benchmarks/worker.py's raw sender and reader.

Cases: ``thr.hvsock.h2g.{64B,64KiB}`` (host PUSH -> guest PULL: from the host's first send
to the guest's report of the last message, after a warm-up message),
``thr.hvsock.g2h.{64B,64KiB}`` (guest PUSH -> host PULL, timed by the host from the first
message to the last; the host is the faster side, so nothing piles up there) and
``lat.hvsock.64B`` (host REQ -> guest REP round trip, measured on the host), plus the
CONNECT -> OK time of the host's raw connects. The guest runs under TCG on machines without
KVM, where its Python is 10-40x slower than the host's: the guest side is the bottleneck, so
compare vmzmq with raw within one run, not with the host-only rows of ``python -m benchmarks``.
One guest-side process serves every sample (``--guest`` mode of this module).

    python -m benchmarks.hvsock [--quick] [--repeat N] [--only PATTERN] [--json PATH|-]
    python -m benchmarks --hvsock [...]      # the same, through the runner

Not part of ``python -m benchmarks`` (nor of its ``--quick`` smoke test): it boots a guest.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import re
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from .worker import frame_header, raw_read, raw_send, recv_exact

REPO = Path(__file__).resolve().parent.parent
KIB = 1024

# (name, kind, direction, size, count, quick_count)
CASES = [
    ("thr.hvsock.h2g.64B", "thr", "h2g", 64, 20_000, 2_000),
    ("thr.hvsock.h2g.64KiB", "thr", "h2g", 64 * KIB, 2_000, 200),
    ("thr.hvsock.g2h.64B", "thr", "g2h", 64, 20_000, 2_000),
    ("thr.hvsock.g2h.64KiB", "thr", "g2h", 64 * KIB, 2_000, 200),
    ("lat.hvsock.64B", "lat", "h2g", 64, 2_000, 200),
]
LIBS = ("vmzmq", "raw")


# =============================================================================== guest side


def _guest_emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _guest_sample(cmd: dict) -> None:
    lib, role, port, size, n = cmd["lib"], cmd["role"], cmd["port"], cmd["size"], cmd["count"]
    if lib == "vmzmq":
        import vmzmq

        ctx = vmzmq.Context()
        kind = {"thr_recv": vmzmq.PULL, "thr_send": vmzmq.PUSH, "rep": vmzmq.REP}[role]
        s = ctx.socket(kind)
        s.linger = -1 if role == "thr_send" else 0
        if role == "thr_send":
            s.connect(f"vmci://2:{port}")
        else:
            s.bind(f"vmci://*:{port}")
        _guest_emit(event="ready")
        if role == "thr_recv":
            s.recv()  # the warm-up message: connected
            _guest_emit(event="first")
            for _ in range(n):
                s.recv()
            _guest_emit(event="result")
        elif role == "thr_send":
            msg = b"x" * size
            for _ in range(n):
                s.send(msg)
            _guest_emit(event="result")
        else:
            for _ in range(n):
                s.send(s.recv())
            _guest_emit(event="result")
        s.close()
        ctx.term()
        return
    # raw AF_VSOCK
    if role == "thr_send":
        c = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        _guest_emit(event="ready")
        c.connect((2, port))
        raw_send(c, b"x" * size, n)
        c.recv(1)  # until the host has read everything and closes (no half-close)
        c.close()
        _guest_emit(event="result")
        return
    ls = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    ls.bind((socket.VMADDR_CID_ANY, port))
    ls.listen(4)
    _guest_emit(event="ready")
    conn, _ = ls.accept()
    ls.close()
    if role == "thr_recv":
        raw_read(conn, 1, size)  # the warm-up message (nothing follows it until "first")
        _guest_emit(event="first")
        raw_read(conn, n, size)
        _guest_emit(event="result")
    else:
        frame = len(frame_header(size)) + size
        buf = bytearray(frame)
        view = memoryview(buf)
        for _ in range(n):
            recv_exact(conn, view, frame)
            conn.sendall(view)
        _guest_emit(event="result")
    conn.recv(1)
    conn.close()


def guest_main() -> int:
    _guest_emit(event="started", pid=os.getpid())
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("role") == "exit":
            return 0
        try:
            _guest_sample(cmd)
        except Exception as exc:  # reported to the host, which fails the sample
            _guest_emit(event="error", error=f"{type(exc).__name__}: {exc}")
    return 0


# =============================================================================== host side


def _hybrid_connect(uds_path: str, port: int, deadline: float) -> tuple[socket.socket, float]:
    """A raw host -> guest stream: CONNECT <port> / OK <n>; retried while nobody listens."""
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(uds_path)
        t0 = time.perf_counter()
        s.sendall(b"CONNECT %d\n" % port)
        line = b""
        while not line.endswith(b"\n") and len(line) < 64:
            b = s.recv(1)  # byte by byte: the guest's bytes may follow the line at once
            if not b:
                break
            line += b
        if re.fullmatch(rb"OK \d+\n", line):
            return s, time.perf_counter() - t0
        s.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"CONNECT {port}: {line!r}")
        time.sleep(0.01)


class Bench:
    def __init__(self, guest: Any, timeout: float) -> None:
        self.guest = guest
        self.timeout = timeout
        self.proc = guest.run([sys.executable, "-u", "-m", "benchmarks.hvsock", "--guest"],
                              text=True, cwd=str(REPO))
        self._read("started", 600)
        self.port = 40000
        self.connect_times: list[float] = []

    def _read(self, event: str, timeout: float | None = None) -> dict:
        line = self.proc.stdout.wait_for('^{"event"', timeout=timeout or self.timeout)
        msg = json.loads(line)
        if msg["event"] == "error":
            raise RuntimeError("guest: " + msg["error"])
        if msg["event"] != event:
            raise RuntimeError(f"guest said {msg!r}, expected {event!r}")
        return msg

    def _guest(self, **cmd: Any) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")

    def close(self) -> None:
        try:
            self._guest(role="exit")
            self.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001 - the guest goes down with its VM anyway
            self.proc.kill()

    def sample(self, lib: str, kind: str, direction: str, size: int, n: int) -> float:
        """msg/s for throughput, microseconds per round trip for latency."""
        self.port += 1
        port = self.port
        deadline = time.monotonic() + self.timeout
        if kind == "thr" and direction == "h2g":
            self._guest(lib=lib, role="thr_recv", port=port, size=size, count=n)
            self._read("ready")
            msg = b"x" * size
            # Timed on the host, from the first send to the guest's report of the last
            # message (the guest is the slow side: timing from its first message would count
            # what queued up meanwhile as free). A warm-up message connects first.
            if lib == "vmzmq":
                ctx, s = self._vmzmq("PUSH")
                s.connect(f"hvsock://{self.guest.uds_path}:{port}")
                s.send(msg)
                self._read("first")
                start = time.perf_counter()
                for _ in range(n):
                    s.send(msg)
                self._read("result")
                elapsed = time.perf_counter() - start
                s.close()
                ctx.term()
            else:
                c, dt = _hybrid_connect(self.guest.uds_path, port, deadline)
                self.connect_times.append(dt)
                raw_send(c, msg, 1)
                self._read("first")
                start = time.perf_counter()
                raw_send(c, msg, n)
                self._read("result")
                elapsed = time.perf_counter() - start
                c.close()
            return n / elapsed
        if kind == "thr":  # g2h: the host binds <uds_path>_<port>, the guest connects
            path = self.guest.uds_port_path(port)
            if lib == "vmzmq":
                ctx, s = self._vmzmq("PULL")
                s.bind(f"hvsock://{self.guest.uds_path}:{port}")
                self._guest(lib=lib, role="thr_send", port=port, size=size, count=n)
                self._read("ready")
                s.recv()
                start = time.perf_counter()
                for _ in range(n - 1):
                    s.recv()
                elapsed = time.perf_counter() - start
                self._read("result")
                s.close()
                ctx.term()
            else:
                ls = self.guest.listen(port)
                self._guest(lib=lib, role="thr_send", port=port, size=size, count=n)
                self._read("ready")
                conn, _ = ls.accept()
                start = raw_read(conn, n, size)
                elapsed = time.perf_counter() - start
                conn.close()
                ls.close()
                self._read("result")
                try:
                    os.unlink(path)
                except OSError:
                    pass
            return (n - 1) / elapsed
        # latency: host REQ -> guest REP
        self._guest(lib=lib, role="rep", port=port, size=size, count=n + 1)
        self._read("ready")
        msg = b"x" * size
        if lib == "vmzmq":
            ctx, s = self._vmzmq("REQ")
            s.connect(f"hvsock://{self.guest.uds_path}:{port}")
            s.send(msg)
            s.recv()  # the first round trip includes the connect
            start = time.perf_counter()
            for _ in range(n):
                s.send(msg)
                s.recv()
            elapsed = time.perf_counter() - start
            self._read("result")
            s.close()
            ctx.term()
        else:
            c, dt = _hybrid_connect(self.guest.uds_path, port, deadline)
            self.connect_times.append(dt)
            frame = frame_header(size) + msg
            buf = bytearray(len(frame))
            view = memoryview(buf)
            c.sendall(frame)
            recv_exact(c, view, len(frame))
            start = time.perf_counter()
            for _ in range(n):
                c.sendall(frame)
                recv_exact(c, view, len(frame))
            elapsed = time.perf_counter() - start
            self._read("result")
            c.close()
        return elapsed / n * 1e6

    def _vmzmq(self, kind: str) -> tuple[Any, Any]:
        import vmzmq

        ctx = vmzmq.Context()
        s = ctx.socket(getattr(vmzmq, kind))
        s.linger = 0
        s.rcvtimeo = int(self.timeout * 1000)
        return ctx, s


def _boot(timeout: float) -> Any:
    sys.path.insert(0, str(REPO / "tools" / "vsock-guest"))
    import virtio_guest

    return virtio_guest.VirtioGuest(timeout=timeout).start()


def _accel(qemu_argv: list[str]) -> str:
    """'kvm' or 'tcg': what the harness chose for QEMU."""
    return qemu_argv[qemu_argv.index("-accel") + 1].split(",")[0]


def run(quick: bool = False, repeat: int = 3, only: str | None = None,
        sample_timeout: float = 300.0) -> dict:
    cases = [c for c in CASES if not only or any(
        fnmatch.fnmatch(c[0], p) if any(ch in p for ch in "*?[") else p in c[0]
        for p in only.split(","))]
    t0 = time.monotonic()
    guest = _boot(timeout=3600)
    try:
        boot = time.monotonic() - t0
        bench = Bench(guest, sample_timeout)
        results = []
        try:
            for name, kind, direction, size, count, quick_count in cases:
                n = quick_count if quick else count
                samples: dict[str, list[float]] = {lib: [] for lib in LIBS}
                for _ in range(repeat):
                    for lib in LIBS:
                        samples[lib].append(bench.sample(lib, kind, direction, size, n))
                median = {lib: statistics.median(v) for lib, v in samples.items()}
                ratio = median["vmzmq"] / median["raw"]
                results.append({
                    "name": name, "count": n, "size": size,
                    "unit": "msg/s" if kind == "thr" else "us",
                    "better": "higher" if kind == "thr" else "lower",
                    "samples": samples, "median": median, "ratio_vs_raw": ratio,
                    "speed_vs_raw": ratio if kind == "thr" else 1 / ratio,
                })
            connect = sorted(bench.connect_times)
        finally:
            bench.close()
    finally:
        guest.close()
    return {
        "machine": {"logical_cpus": os.cpu_count(), "python": platform.python_version(),
                    "kernel": platform.release(),
                    "guest_accel": _accel(guest.guests[0].qemu_argv)},
        "options": {"quick": quick, "repeat": repeat, "only": only},
        "guest_boot_s": boot,
        "daemon_version": guest.daemon_version,
        "connect_ok_ms": {"median": statistics.median(connect) * 1e3 if connect else None,
                          "min": connect[0] * 1e3 if connect else None,
                          "max": connect[-1] * 1e3 if connect else None,
                          "n": len(connect)},
        "cases": results,
    }


def table(res: dict) -> str:
    out = [f"{'case':<24} {'unit':<6} {'vmzmq':>12} {'raw':>12}   vmzmq vs raw"]
    for c in res["cases"]:
        out.append(f"{c['name']:<24} {c['unit']:<6} {c['median']['vmzmq']:>12,.1f} "
                   f"{c['median']['raw']:>12,.1f}   {c['speed_vs_raw']:.2f}x as fast")
    ck = res["connect_ok_ms"]
    if ck["n"]:
        out.append(f"raw CONNECT -> OK: median {ck['median']:.2f} ms "
                   f"({ck['min']:.2f}-{ck['max']:.2f}, {ck['n']} connects); "
                   f"guest boot {res['guest_boot_s']:.1f} s ({res['machine']['guest_accel']}); "
                   f"daemon {res['daemon_version']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hvsock", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    p.add_argument("--repeat", type=int, default=3, help="samples per library (median)")
    p.add_argument("--only", help="substrings or globs of case names, comma-separated")
    p.add_argument("--json", help="write the results as JSON to PATH ('-': stdout, table "
                   "to stderr)")
    p.add_argument("--guest", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.guest:
        return guest_main()
    res = run(quick=a.quick, repeat=a.repeat, only=a.only)
    text = table(res)
    if a.json == "-":
        print(text, file=sys.stderr)
        print(json.dumps(res, indent=1))
    else:
        print(text)
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
