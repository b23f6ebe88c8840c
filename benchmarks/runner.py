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
from .cases import LIBS, Case, Target, all_cases

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


def cpu_per(count: int, **sides: float | None) -> dict:
    """``cpu_us``: each side's CPU seconds (several processes' summed) per one of ``count``
    (messages delivered, requests, connections), in us."""
    cpu = {side: v / count * 1e6 for side, v in sides.items() if v is not None and count}
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
        **cpu_per(res.get("cpu_count") or res["count"], process=res.get("cpu")),
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
    results, sent, delivered, elapsed = _publish(s, pub, subs, deadline)
    return {
        "value": delivered / elapsed,
        "count": delivered,
        "elapsed": elapsed,
        "per_subscriber": [r["count"] / (r["end"] - r["start"]) for r in results],
        **cpu_per(delivered, pub=sent.get("cpu"), subs=sum_cpu(results)),
    }


def _publish(
    s: Session, pub: Worker, subs: list[Worker], deadline: float
) -> tuple[list, dict, int, float]:
    """Once every subscriber process is ready, let the publisher go; collect the results:
    (subscribers' results, the publisher's, messages delivered, first to last delivery)."""
    for sub in subs:
        sub.expect("ready", deadline)
    pub.command("go")
    results = [sub.expect("result", deadline) for sub in subs]
    sent = pub.expect("result", deadline)
    s.finish_all(deadline)
    delivered = sum(r["count"] for r in results)
    elapsed = max(r["end"] for r in results) - min(r["start"] for r in results)
    return results, sent, delivered, elapsed


def sum_cpu(events: list[dict]) -> float | None:
    """The CPU seconds several processes reported together (None if one reported none)."""
    if any(ev.get("cpu") is None for ev in events):
        return None
    return sum(ev["cpu"] for ev in events)


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
        # per message sent: the receiver's is the library queueing them (it does not read)
        **cpu_per(sent["count"], send=sent.get("cpu"), recv=res.get("cpu")),
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
    done = server.expect("done", deadline)
    s.finish_all(deadline)
    return {
        "value": res["count"] / res["elapsed"],
        "count": res["count"],
        "elapsed": res["elapsed"],
        **cpu_per_message(client=res, server=done),  # per connection
    }


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal positive shares (fewer if total < parts)."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def sample_scale_router(s: Session, case: Case, lib: str, count: int, deadline: float) -> dict:
    n = case.params["dealers"]
    rounds = max(1, count // n)
    total = n * rounds
    spec = {"lib": lib, "transport": case.transport, "size": case.size}
    server = s.start(role="scale_router", dealers=n, count=total, **spec)
    ready = server.expect("ready", deadline)
    clients = [
        s.start(role="scale_dealers", dealers=k, rounds=rounds, endpoint=ready["endpoint"], **spec)
        for k in shares(n, case.params["procs"])
    ]
    for c in clients:
        c.expect("ready", deadline)
    idle = server.expect("idle", deadline)
    for c in clients:
        c.command("go")
    results = [c.expect("result", deadline) for c in clients]
    served = server.expect("result", deadline)
    for w in (server, *clients):
        w.command("exit")
    s.finish_all(deadline)
    elapsed = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "count": total,
        "elapsed": elapsed,
        "dealers": n,
        "processes": len(clients),
        "rounds": rounds,
        "rss_bytes_before": ready["rss"],
        "rss_bytes_idle": idle["rss"],
        "rows": {
            "": {
                "value": total / elapsed,
                # per request: the ROUTER's process, and the DEALERs' processes together
                **cpu_per(total, router=served.get("cpu"), dealers=sum_cpu(results)),
            },
            "idle_rss": {"value": (idle["rss"] - ready["rss"]) / n / 1024},
        },
    }


def sample_scale_pubsub(s: Session, case: Case, lib: str, count: int, deadline: float) -> dict:
    p = case.params
    per = p["topics"] // p["subscribers"]
    count = max(1, count // p["topics"]) * p["topics"]
    spec = {"lib": lib, "transport": case.transport, "size": case.size, "count": count,
            "topics": p["topics"]}
    pub = s.start(role="scale_pub", **spec)
    ready = pub.expect("ready", deadline)
    subs = []
    first = 0
    for k in shares(p["subscribers"], p["procs"]):
        subs.append(s.start(role="scale_subs", sockets=k, topics_per=per, first=first,
                            endpoint=ready["endpoint"], **spec))
        first += k
    results, sent, delivered, elapsed = _publish(s, pub, subs, deadline)
    return {
        "value": delivered / elapsed,
        "count": delivered,
        "sent": sent["count"],
        "elapsed": elapsed,
        "processes": len(subs),
        **cpu_per(delivered, pub=sent.get("cpu"), subs=sum_cpu(results)),
    }


def sample_scale_sockets(s: Session, case: Case, lib: str, count: int, deadline: float) -> dict:
    n = case.params["sockets"]
    w = s.start(role="scale_sockets", lib=lib, sockets=n)
    res = w.expect("result", deadline)
    s.finish_all(deadline)
    return {
        "count": n,
        "create_s": res["create_s"],
        "close_s": res["close_s"],
        "rss_bytes": res["rss_after"] - res["rss_before"],
        "rows": {
            "create": {"value": res["create_s"] / n * 1e6,
                       **cpu_per(n, process=res["create_cpu"])},
            "close": {"value": res["close_s"] / n * 1e6, **cpu_per(n, process=res["close_cpu"])},
            "rss": {"value": (res["rss_after"] - res["rss_before"]) / n / 1024},
        },
    }


SAMPLERS = {
    "thr": sample_thr,
    "thr_inproc": sample_thr_inproc,
    "lat": sample_lat,
    "fanout": sample_fanout,
    "rss": sample_rss,
    "conn": sample_conn,
    "scale_router": sample_scale_router,
    "scale_pubsub": sample_scale_pubsub,
    "scale_sockets": sample_scale_sockets,
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


def select_cases(
    cases: list[Case], only: str | None, vmci: bool, scale_rows: bool = False
) -> list[Case]:
    """The cases a run takes: the vmci ones only with ``vmci``; the optional (scale) ones only
    with ``scale_rows`` or when ``only`` is given (which then picks from all cases)."""
    if vmci:
        cases = [c for c in cases if c.transport == "vmci"]
    if not only:
        return [c for c in cases if scale_rows or not c.optional]
    patterns = [p.strip() for p in only.split(",") if p.strip()]

    def matches(name: str) -> bool:
        for p in patterns:
            if any(ch in p for ch in "*?["):
                if fnmatch.fnmatchcase(name, p):
                    return True
            elif p in name:
                return True
        return False

    return [c for c in cases if any(matches(name) for name in [c.name, *c.row_names()])]


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
    scale_rows: bool = False,
    scale: float | None = None,
    json_path: str | os.PathLike | None = DEFAULT_JSON,
    plot: str | os.PathLike | None = None,
    busy: int = 0,
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

    cases = select_cases(all_cases(), only, vmci, scale_rows)
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
            "scale_rows": scale_rows,
            "busy": busy,
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
        results["vmzmq_commit"] = (
            report.git_commit(Path(vmzmq_file).resolve().parent) or "unknown (not a git work tree)"
        )
    if keys is not None:  # public keys only: enough to tell runs apart
        results["curve"] = {
            k: v for k, v in keys.items() if k in ("server_public", "client_public",
                                                    "generated_by", "error")
        }
    ipc_dir = tempfile.mkdtemp(prefix="vmzmq-bench-", dir="/tmp")
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(busy)
    ]
    try:
        for i, case in enumerate(cases, 1):
            entries = run_case(
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
            for entry in entries:
                results["cases"].append(entry)
                progress.write(f"[{i}/{len(cases)}] {report.progress_line(entry)}\n")
            progress.flush()
    finally:
        for b in burners:
            b.kill()
            b.wait()
        shutil.rmtree(ipc_dir, ignore_errors=True)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results["duration_s"] = round(time.time() - started, 1)

    if plot:
        write_plot(results, plot, progress)
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


def write_plot(results: dict, path: str | os.PathLike, progress: TextIO) -> bool:
    """The growth plot of the results' scale rows to ``path`` (an SVG); False if none."""
    from .plot import write_svg

    if not write_svg(results, path):
        progress.write(f"no scale rows to plot: {path} not written (run with --scale-rows)\n")
        return False
    progress.write(f"growth plot written to {path}\n")
    return True


def target_dict(target: Target | None) -> dict | None:
    if target is None:
        return None
    out = {"against": target.against, "speed": target.speed, "text": target.text}
    if target.cpu is not None:
        out["cpu"] = target.cpu
    return out


def spin_env(case: Case, env: dict[str, str]) -> dict[str, str]:
    """The workers' environment for ``case``: ``VMZMQ_SPIN_US=0`` for a no-spin row."""
    if case.params.get("spin") is False:
        return {**env, "VMZMQ_SPIN_US": "0"}
    return env


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
) -> list[dict]:
    """The samples of one case, alternating the libraries; its row(s) (``Case.rows``)."""
    count = count_for(case, quick, scale)
    env = spin_env(case, env)
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
        "target": target_dict(case.target),
        "samples": {},
        "errors": {},
        "unavailable": {},
        "median": {},
    }
    if case.kind == "lat":
        # what the readers of this row's workers spin (us): the environment's, or vmzmq's 50
        entry["spin_us"] = env.get("VMZMQ_SPIN_US", "50")
    if "dealers" in case.params or "sockets" in case.params:
        entry["scale"] = {
            "family": case.kind.removeprefix("scale_"),
            "n": case.params.get("dealers") or case.params.get("sockets"),
        }
    libs = [lib for lib in LIBS if lib in case.libs]
    if case.transport == "vmci" and not vmci:
        why = NO_VSOCK if vsock_reason else "skipped (run with --vmci)"
        entry["status"] = "unavailable"
        entry["unavailable"] = {lib: why for lib in libs}
        return finish_rows(case, entry)
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
    entry["status"] = "error" if entry["errors"] else "ok"
    return finish_rows(case, entry)


def finish_rows(case: Case, entry: dict) -> list[dict]:
    """The case's row(s) from its samples, with medians and ratios: one, or one per
    ``Case.rows`` (each sample's ``rows[suffix]`` merged into a copy of it)."""
    if not case.rows:
        add_medians(entry)
        report.add_ratios(entry)
        return [entry]
    rows = []
    for row, name in zip(case.rows, case.row_names(), strict=True):
        e = {
            **entry,
            "name": name,
            "unit": row.unit,
            "better": row.better,
            "description": f"{case.description}: {row.description}",
            "target": target_dict(row.target),
            "samples": {
                lib: [
                    {**{k: v for k, v in smp.items() if k != "rows"}, **smp["rows"][row.suffix]}
                    for smp in samples
                ]
                for lib, samples in entry["samples"].items()
            },
            "median": {},
        }
        if "scale" in entry:
            e["scale"] = {**entry["scale"], "row": row.suffix or "value"}
        add_medians(e)
        report.add_ratios(e)
        rows.append(e)
    return rows


def add_medians(entry: dict) -> None:
    """Per library: the median value, each side's median CPU per message and the median of
    the sides' sum (``cpu_us_total_median``, what a CPU condition compares)."""
    for lib, samples in entry["samples"].items():
        values = [smp["value"] for smp in samples]
        if values:
            entry["median"][lib] = statistics.median(values)
        sides: dict[str, list[float]] = {}
        totals = []
        for smp in samples:
            cpu = smp.get("cpu_us", {})
            for side, us in cpu.items():
                sides.setdefault(side, []).append(us)
            if cpu:
                totals.append(sum(cpu.values()))
        if sides:
            entry.setdefault("cpu_us_median", {})[lib] = {
                side: statistics.median(v) for side, v in sides.items()
            }
            entry.setdefault("cpu_us_total_median", {})[lib] = statistics.median(totals)


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
        "--scale-rows",
        action="store_true",
        help="also run the scale rows (scale.*: a ROUTER with 10/100/1000 DEALERs, a PUB "
        "with 1000 topics and 100 SUBs, 10^2-10^4 sockets in one context; ~2-3 min); "
        "--only can name them without this",
    )
    p.add_argument(
        "--plot",
        metavar="SVG",
        help="write the growth plot of the scale rows (time and memory against the number "
        "of peers or sockets, vmzmq and pyzmq) to this SVG file, e.g. docs/scale.svg",
    )
    p.add_argument(
        "--plot-from",
        metavar="JSON",
        help="with --plot: draw the plot from a results file written earlier, and exit",
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
    p.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="keep N CPUs busy during the run, each with a process of its own that spins "
        "(issue 20's targets hold on a quiet machine and with one CPU busy)",
    )
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.plot_from:
        if not args.plot:
            parser().error("--plot-from needs --plot OUT")
        results = json.loads(Path(args.plot_from).read_text())
        return 0 if write_plot(results, args.plot, sys.stderr) else 1
    if args.show:
        results = json.loads(Path(args.show).read_text())
        print(report.table(results))
        return 0
    if args.list:
        for case in select_cases(all_cases(), args.only, args.vmci, args.scale_rows):
            if not case.rows:
                print(f"{case.name:20} {case.description}")
            else:
                for row, name in zip(case.rows, case.row_names(), strict=True):
                    print(f"{name:20} {case.description}: {row.description}")
        return 0
    if args.repeat is not None and args.repeat < 1:
        parser().error("--repeat must be >= 1")
    if args.busy < 0:
        parser().error("--busy must be >= 0")
    results = run(
        only=args.only,
        repeat=args.repeat,
        quick=args.quick,
        vmci=args.vmci,
        scale_rows=args.scale_rows,
        scale=args.scale,
        plot=args.plot,
        busy=args.busy,
        timeout=args.timeout,
        pin=args.pin,
        json_path=None if args.no_json else args.json,
        argv=list(sys.argv[1:] if argv is None else argv),
    )
    if not results["cases"]:
        print("no case matched", file=sys.stderr)
        return 2
    return 1 if any(c["status"] == "error" for c in results["cases"]) else 0
