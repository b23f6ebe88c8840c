"""Run the cases: vmzmq, pyzmq and the raw-socket ceiling alternately, one sample each per round.

Every sample runs in fresh processes (``benchmarks.worker``), so the runner itself imports
neither library and each side of a sample imports only the one it measures.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import json
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, TextIO

from . import report
from .cases import LIBS, Case, all_cases

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_JSON = BENCH_DIR / "results" / "latest.json"
IN_GUEST = os.environ.get("VMZMQ_IN_GUEST") == "1"
NO_VSOCK = "not available here (no vsock loopback)"


class SampleError(Exception):
    pass


# -- child processes ---------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment for workers: the vmzmq this runner would import, and this package."""
    paths = [str(REPO_ROOT)]
    spec = importlib.util.find_spec("vmzmq")
    if spec is not None and spec.origin:
        paths.insert(0, str(Path(spec.origin).resolve().parent.parent))
    elif (REPO_ROOT / "src" / "vmzmq").is_dir():
        paths.insert(0, str(REPO_ROOT / "src"))
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class Worker:
    """One worker process: JSON events from its stdout, commands to its stdin."""

    def __init__(self, spec: dict, env: dict[str, str]) -> None:
        self.role = spec["role"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
            cwd=str(REPO_ROOT),
        )
        self.events: queue.Queue[dict | None] = queue.Queue()
        self.stderr: deque[str] = deque(maxlen=20)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                self.stderr.append("stdout: " + line.rstrip())
        self.events.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())

    def expect(self, event: str, deadline: float) -> dict:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SampleError(f"{self.role}: timed out waiting for {event!r}")
            try:
                msg = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if msg is None:
                self.proc.wait(5)
                tail = " | ".join(list(self.stderr)[-3:])
                raise SampleError(
                    f"{self.role}: exited ({self.proc.returncode}) before {event!r}: {tail}"
                )
            if msg.get("event") == "error":
                raise SampleError(f"{self.role}: {msg.get('error')}")
            if msg.get("event") == event:
                return msg

    def command(self, cmd: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(cmd + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise SampleError(f"{self.role}: cannot send {cmd!r}: {e}") from e

    def finish(self, deadline: float) -> None:
        """Wait for the process to exit; kill it at the deadline."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise SampleError(f"{self.role}: did not exit in time") from None
        if self.proc.returncode:
            tail = " | ".join(list(self.stderr)[-3:])
            raise SampleError(f"{self.role}: exit status {self.proc.returncode}: {tail}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Session:
    """Starts the workers of one sample and makes sure none outlives it."""

    def __init__(
        self,
        env: dict[str, str],
        timeout: float,
        ipc_dir: str,
        pin: str = "none",
        curve: dict | None = None,
    ) -> None:
        self.env = env
        self.timeout = timeout
        self.ipc_dir = ipc_dir
        self.pin = pin
        self.curve = curve  # the run's CURVE keys (see curve_keys), for the CURVE cases
        self.workers: list[Worker] = []
        self._n = 0

    def ipc_path(self) -> str:
        self._n += 1
        return os.path.join(self.ipc_dir, f"s{os.getpid()}-{time.monotonic_ns()}-{self._n}")

    def start(self, **spec: Any) -> Worker:
        cpus = sorted(os.sched_getaffinity(0))
        if self.pin == "same":
            spec["cpus"] = cpus[:1]
        elif self.pin == "split":
            spec["cpus"] = [cpus[len(self.workers) % len(cpus)]]
        w = Worker(spec, self.env)
        self.workers.append(w)
        return w

    def finish_all(self, deadline: float) -> None:
        for w in self.workers:
            w.finish(deadline)

    def kill_all(self) -> None:
        for w in self.workers:
            w.kill()


# -- one sample of each kind -------------------------------------------------------------------


def with_curve(s: Session, case: Case, spec: dict) -> dict:
    """``spec`` with the run's keys under "curve" for a CURVE case, without it otherwise."""
    spec.pop("curve", None)
    if case.params.get("curve"):
        spec["curve"] = s.curve
    return spec


def sample_thr(s: Session, case: Case, lib: str, count: int, deadline: float) -> dict:
    spec = {"lib": lib, "transport": case.transport, "size": case.size, "count": count,
            **case.params}
    with_curve(s, case, spec)
    if case.transport == "ipc":
        spec["ipc_path"] = s.ipc_path()
    recv = s.start(role="thr_recv", **spec)
    ready = recv.expect("ready", deadline)
    send = s.start(role="thr_send", **{**spec, "endpoint": ready["endpoint"]})
    res = recv.expect("result", deadline)
    done = send.expect("done", deadline)
    s.finish_all(deadline)
    rate = res["count"] / res["elapsed"]
    return {
        "value": rate,
        "mb_per_s": rate * case.size / 1e6,
        "count": res["count"],
        "elapsed": res["elapsed"],
        **cpu_per_message(send=done, recv=res),
    }


def cpu_per_message(**sides: dict) -> dict:
    """``cpu_us``: each side's process CPU time per message (or round trip), in us, from the
    ``cpu`` and ``count`` its worker reported (absent if it reported none)."""
    cpu = {
        side: ev["cpu"] / ev["count"] * 1e6
        for side, ev in sides.items()
        if ev.get("cpu") is not None and ev.get("count")
    }
    return {"cpu_us": cpu} if cpu else {}


def sample_thr_inproc(s: Session, case: Case, lib: str, count: int, deadline: float) -> dict:
    w = s.start(role="thr_inproc", lib=lib, size=case.size, count=count)
    res = w.expect("result", deadline)
    s.finish_all(deadline)
    rate = res["count"] / res["elapsed"]
    return {
        "value": rate,
        "mb_per_s": rate * case.size / 1e6,
        "count": res["count"],
        "elapsed": res["elapsed"],
    }


def sample_lat(s: Session, case: Case, lib: str, count: int, deadline: float) -> dict:
    spec = {
        "lib": lib,
        "transport": case.transport,
        "size": case.size,
        "count": count,
        "warmup": case.params["warmup"],
    }
    with_curve(s, case, spec)
    if case.transport == "ipc":
        spec["ipc_path"] = s.ipc_path()
    server = s.start(role="lat_server", **spec)
    ready = server.expect("ready", deadline)
    client = s.start(role="lat_client", **{**spec, "endpoint": ready["endpoint"]})
    res = client.expect("result", deadline)
    done = server.expect("done", deadline)
    s.finish_all(deadline)
    return {
        "value": res["elapsed"] / res["count"] * 1e6,
        "count": res["count"],
        "elapsed": res["elapsed"],
        **cpu_per_message(client=res, server=done),
    }


def sample_fanout(s: Session, case: Case, lib: str, count: int, deadline: float) -> dict:
    spec = {"lib": lib, "transport": case.transport, "size": case.size, "count": count}
    pub = s.start(role="fan_pub", **spec)
    ready = pub.expect("ready", deadline)
    subs = [
        s.start(role="fan_sub", **{**spec, "endpoint": ready["endpoint"]})
        for _ in range(case.params["subscribers"])
    ]
    for sub in subs:
        sub.expect("ready", deadline)
    pub.command("go")
    results = [sub.expect("result", deadline) for sub in subs]
    pub.expect("result", deadline)
    s.finish_all(deadline)
    delivered = sum(r["count"] for r in results)
    elapsed = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "value": delivered / elapsed,
        "count": delivered,
        "elapsed": elapsed,
        "per_subscriber": [r["count"] / (r["end"] - r["start"]) for r in results],
    }


def sample_rss(s: Session, case: Case, lib: str, count: int, deadline: float) -> dict:
    spec = {
        "lib": lib,
        "transport": case.transport,
        "size": case.size,
        "count": count,
        **case.params,
    }
    recv = s.start(role="rss_recv", **spec)
    ready = recv.expect("ready", deadline)
    send = s.start(role="rss_send", **{**spec, "endpoint": ready["endpoint"]})
    recv.expect("baseline", deadline)
    send.command("go")
    sent = send.expect("sent", deadline)
    if lib != "raw":
        recv.command("measure")
    res = recv.expect("result", deadline)
    send.command("exit")
    s.finish_all(deadline)
    return {
        "value": (res["peak"] - res["baseline"]) / 2**20,
        "baseline_bytes": res["baseline"],
        "peak_bytes": res["peak"],
        "rss_bytes": res["rss"],
        "sent": sent["count"],
        "queued": res["queued"],
        "count": count,
    }


def sample_conn(s: Session, case: Case, lib: str, count: int, deadline: float) -> dict:
    spec = {
        "lib": lib,
        "transport": case.transport,
        "count": count,
        "warmup": case.params["warmup"],
    }
    if case.transport == "ipc":
        spec["ipc_path"] = s.ipc_path()
    server = s.start(role="conn_server", **spec)
    ready = server.expect("ready", deadline)
    client = s.start(role="conn_client", **{**spec, "endpoint": ready["endpoint"]})
    res = client.expect("result", deadline)
    s.finish_all(deadline)
    return {
        "value": res["count"] / res["elapsed"],
        "count": res["count"],
        "elapsed": res["elapsed"],
    }


SAMPLERS = {
    "thr": sample_thr,
    "thr_inproc": sample_thr_inproc,
    "lat": sample_lat,
    "fanout": sample_fanout,
    "rss": sample_rss,
    "conn": sample_conn,
}


# -- availability ------------------------------------------------------------------------------


def vsock_loopback() -> str | None:
    """None if AF_VSOCK loopback (CID 1) works here, else why not."""
    if not hasattr(socket, "AF_VSOCK"):
        return "no AF_VSOCK in this Python"
    try:
        ls = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    except OSError as e:
        return f"AF_VSOCK: {e.strerror}"
    try:
        ls.bind((socket.VMADDR_CID_ANY, socket.VMADDR_PORT_ANY))
        ls.listen(1)
        port = ls.getsockname()[1]
        c = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        try:
            c.settimeout(2)
            c.connect((1, port))
        finally:
            c.close()
        return None
    except OSError as e:
        return f"vsock loopback: {e.strerror or e}"
    finally:
        ls.close()


def curve_keys(env: dict[str, str]) -> dict:
    """The run's CURVE keys: one server and one client key pair from pyzmq's
    ``zmq.curve_keypair()`` (vmzmq's if pyzmq cannot), made once per run in a worker; both
    libraries get the same keys. ``{"error": ...}`` if neither can."""
    errors = []
    for lib in ("pyzmq", "vmzmq"):
        w = Worker({"role": "curve_keys", "lib": lib}, env)
        try:
            keys = w.expect("result", time.monotonic() + 60)
            w.finish(time.monotonic() + 30)
        except SampleError as e:
            w.kill()
            errors.append(str(e))
            continue
        keys.pop("event", None)
        keys["generated_by"] = lib
        return keys
    return {"error": "; ".join(errors)}


def library_info(env: dict[str, str], lib: str) -> dict:
    w = Worker({"role": "info", "lib": lib}, env)
    try:
        res = w.expect("result", time.monotonic() + 120)
        w.finish(time.monotonic() + 30)
        res.pop("event", None)
        return res
    except SampleError as e:
        w.kill()
        return {"error": str(e)}


# -- the run -----------------------------------------------------------------------------------


def select_cases(cases: list[Case], only: str | None, vmci: bool) -> list[Case]:
    if vmci:
        cases = [c for c in cases if c.transport == "vmci"]
    if not only:
        return cases
    patterns = [p.strip() for p in only.split(",") if p.strip()]

    def matches(name: str) -> bool:
        for p in patterns:
            if any(ch in p for ch in "*?["):
                if fnmatch.fnmatchcase(name, p):
                    return True
            elif p in name:
                return True
        return False

    return [c for c in cases if matches(c.name)]


def count_for(case: Case, quick: bool, scale: float) -> int:
    n = case.quick_count if quick else case.count
    if case.scaled:
        n = int(n * scale)
    return max(n, 10)


def run(
    *,
    only: str | None = None,
    repeat: int | None = None,
    quick: bool = False,
    vmci: bool = False,
    scale: float | None = None,
    json_path: str | os.PathLike | None = DEFAULT_JSON,
    timeout: float | None = None,
    pin: str = "none",
    out: TextIO | None = None,
    progress: TextIO | None = None,
    argv: list[str] | None = None,
) -> dict:
    """Run the benchmarks; print the table to ``out``; write and return the results."""
    out = out or sys.stdout
    progress = progress or sys.stderr
    if repeat is None:
        repeat = 1 if quick else 3
    if scale is None:
        scale = 0.1 if IN_GUEST else 1.0
    if timeout is None:
        timeout = 120.0 * (10 if IN_GUEST else 1)
    env = child_env()
    started = time.time()

    cases = select_cases(all_cases(), only, vmci)
    vsock_reason = vsock_loopback() if any(c.transport == "vmci" for c in cases) else None
    if vmci and vsock_reason:
        raise SystemExit(f"--vmci: {NO_VSOCK}: {vsock_reason}")

    libs_info = {lib: library_info(env, lib) for lib in ("vmzmq", "pyzmq")}
    keys = curve_keys(env) if any(c.params.get("curve") for c in cases) else None
    results: dict[str, Any] = {
        "format": 1,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "argv": argv,
        "options": {
            "repeat": repeat,
            "quick": quick,
            "scale": scale,
            "only": only,
            "vmci": vmci,
            "timeout_s": timeout,
            "pin": pin,
        },
        "machine": report.machine_info(),
        "commit": report.git_commit(REPO_ROOT),
        "libraries": libs_info,
        "cases": [],
    }
    vmzmq_file = libs_info["vmzmq"].get("file")
    if vmzmq_file and not Path(vmzmq_file).resolve().is_relative_to(REPO_ROOT):
        # e.g. PYTHONPATH=<a git worktree of another commit>/src: say which vmzmq was measured
        results["vmzmq_commit"] = report.git_commit(Path(vmzmq_file).resolve().parent)
    if keys is not None:  # public keys only: enough to tell runs apart
        results["curve"] = {
            k: v for k, v in keys.items() if k in ("server_public", "client_public",
                                                    "generated_by", "error")
        }
    ipc_dir = tempfile.mkdtemp(prefix="vmzmq-bench-", dir="/tmp")
    try:
        for i, case in enumerate(cases, 1):
            entry = run_case(
                case,
                repeat,
                quick,
                scale,
                timeout,
                env,
                ipc_dir,
                libs_info,
                vmci,
                vsock_reason,
                pin,
                keys,
            )
            results["cases"].append(entry)
            progress.write(f"[{i}/{len(cases)}] {report.progress_line(entry)}\n")
            progress.flush()
    finally:
        shutil.rmtree(ipc_dir, ignore_errors=True)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results["duration_s"] = round(time.time() - started, 1)

    if json_path == "-":  # JSON on stdout (e.g. out of the vsock guest), the table aside
        progress.write(report.table(results) + "\n")
        out.write(json.dumps(results, indent=1) + "\n")
        out.flush()
        return results
    out.write(report.table(results) + "\n")
    out.flush()
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1) + "\n")
        progress.write(f"results written to {path}\n")
    return results


def run_case(
    case: Case,
    repeat: int,
    quick: bool,
    scale: float,
    timeout: float,
    env: dict[str, str],
    ipc_dir: str,
    libs_info: dict,
    vmci: bool,
    vsock_reason: str | None,
    pin: str = "none",
    curve: dict | None = None,
) -> dict:
    count = count_for(case, quick, scale)
    entry: dict[str, Any] = {
        "name": case.name,
        "group": case.group,
        "kind": case.kind,
        "transport": case.transport,
        "size": case.size,
        "unit": case.unit,
        "better": case.better,
        "description": case.description,
        "count": count,
        "target": (
            None
            if case.target is None
            else {
                "against": case.target.against,
                "speed": case.target.speed,
                "text": case.target.text,
            }
        ),
        "samples": {},
        "errors": {},
        "unavailable": {},
        "median": {},
    }
    libs = [lib for lib in LIBS if lib in case.libs]
    if case.transport == "vmci" and not vmci:
        why = NO_VSOCK if vsock_reason else "skipped (run with --vmci)"
        entry["status"] = "unavailable"
        entry["unavailable"] = {lib: why for lib in libs}
        report.add_ratios(entry)
        return entry
    for lib in libs:
        info = libs_info.get(lib, {})
        if lib != "raw" and "error" in info:
            entry["unavailable"][lib] = "cannot import: " + info["error"]
        elif lib == "pyzmq" and case.transport == "vmci" and not info.get("vmci"):
            entry["unavailable"][lib] = "libzmq built without vmci"
        elif case.params.get("curve"):
            if not curve or "error" in curve:
                entry["unavailable"][lib] = "no CURVE keys: " + (curve or {}).get("error", "?")
            elif lib == "raw" and importlib.util.find_spec("nacl") is None:
                entry["unavailable"][lib] = "the raw CURVE loop needs PyNaCl"
            elif lib != "raw" and not info.get("curve"):
                entry["unavailable"][lib] = "built without CURVE"
    libs = [lib for lib in libs if lib not in entry["unavailable"]]
    for lib in libs:
        entry["samples"][lib] = []
    for _ in range(repeat):
        for lib in libs:
            session = Session(env, timeout, ipc_dir, pin, curve)
            deadline = time.monotonic() + timeout
            try:
                sample = SAMPLERS[case.kind](session, case, lib, count, deadline)
                entry["samples"][lib].append(sample)
            except SampleError as e:
                entry["errors"].setdefault(lib, []).append(str(e))
            finally:
                session.kill_all()
    for lib in libs:
        values = [smp["value"] for smp in entry["samples"][lib]]
        if values:
            entry["median"][lib] = statistics.median(values)
        sides: dict[str, list[float]] = {}
        for smp in entry["samples"][lib]:
            for side, us in smp.get("cpu_us", {}).items():
                sides.setdefault(side, []).append(us)
        if sides:
            entry.setdefault("cpu_us_median", {})[lib] = {
                side: statistics.median(v) for side, v in sides.items()
            }
    entry["status"] = "error" if entry["errors"] else "ok"
    report.add_ratios(entry)
    return entry


# -- command line ------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark vmzmq against pyzmq (libzmq) and a raw-socket ceiling, "
        "alternately in one run; print a table and write JSON.",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        metavar="N",
        help="samples per library and case (default 3; 1 with --quick)",
    )
    p.add_argument(
        "--quick", action="store_true", help="small message counts: a smoke test, not a measurement"
    )
    p.add_argument(
        "--only",
        metavar="PATTERN",
        help="comma-separated case names: substrings, or globs with * ? [",
    )
    p.add_argument(
        "--vmci",
        action="store_true",
        help="run the vmci cases (only them): needs vsock loopback, i.e. the guest "
        "of tools/vsock-guest/run-in-guest",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="multiply message counts (default 1; 0.1 inside the vsock guest)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds one sample may take before it counts as failed",
    )
    p.add_argument(
        "--json",
        metavar="PATH",
        default=str(DEFAULT_JSON),
        help="where to write the results (default benchmarks/results/latest.json); "
        "'-': JSON on stdout and the table on stderr",
    )
    p.add_argument("--no-json", action="store_true", help="write no JSON file")
    p.add_argument(
        "--show", metavar="PATH", help="print the table of a results file written earlier, and exit"
    )
    p.add_argument(
        "--pin",
        choices=("none", "same", "split"),
        default="none",
        help="CPU affinity of the worker processes: none (default: the scheduler "
        "decides), same (all on one CPU), split (round-robin over the CPUs)",
    )
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.show:
        results = json.loads(Path(args.show).read_text())
        print(report.table(results))
        return 0
    if args.list:
        for case in select_cases(all_cases(), args.only, args.vmci):
            print(f"{case.name:20} {case.description}")
        return 0
    if args.repeat is not None and args.repeat < 1:
        parser().error("--repeat must be >= 1")
    results = run(
        only=args.only,
        repeat=args.repeat,
        quick=args.quick,
        vmci=args.vmci,
        scale=args.scale,
        timeout=args.timeout,
        pin=args.pin,
        json_path=None if args.no_json else args.json,
        argv=list(sys.argv[1:] if argv is None else argv),
    )
    if not results["cases"]:
        print("no case matched", file=sys.stderr)
        return 2
    return 1 if any(c["status"] == "error" for c in results["cases"]) else 0
