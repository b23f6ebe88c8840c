"""Smoke test of the benchmark runner (``python -m benchmarks --quick``): it runs, prints the
table and writes parseable JSON with medians and ratios. No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zmq  # noqa: F401 - the benchmarks compare against pyzmq, a test dependency

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def run_bench(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_quick_run_writes_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_bench("--quick", "--only", "thr.tcp.64B,lat.ipc.64B,rss.hwm", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("thr.tcp.64B", "lat.ipc.64B", "rss.hwm.1KiB"):
        assert name in proc.stdout
    assert "as fast" in proc.stdout

    results = json.loads(out.read_text())
    assert results["machine"]["logical_cpus"] >= 1
    assert results["machine"]["python"]
    assert results["options"]["quick"] is True
    cases = {c["name"]: c for c in results["cases"]}
    assert set(cases) == {"thr.tcp.64B", "lat.ipc.64B", "rss.hwm.1KiB"}
    for case in cases.values():
        assert case["status"] == "ok", case["errors"]
        for lib in ("vmzmq", "pyzmq"):
            assert case["samples"][lib], lib
            assert case["median"][lib] > 0
        assert case["ratio_vs_pyzmq"] > 0
        assert case["speed_vs_pyzmq"] > 0
    # latency: lower is better, so "as fast" is the inverse of the value ratio
    lat = cases["lat.ipc.64B"]
    assert lat["better"] == "lower"
    assert lat["speed_vs_pyzmq"] == pytest.approx(1 / lat["ratio_vs_pyzmq"])
    # raw-socket ceiling rows are measured alongside
    assert cases["thr.tcp.64B"]["median"]["raw"] > 0
    assert cases["thr.tcp.64B"]["ratio_vs_raw"] > 0
    assert cases["thr.tcp.64B"]["target"]["met"] in (True, False)
    # each side's CPU per message (per round trip for latency), printed below the table
    assert "CPU time per message" in proc.stdout
    for lib in ("vmzmq", "pyzmq", "raw"):
        assert set(cases["thr.tcp.64B"]["cpu_us_median"][lib]) == {"send", "recv"}
        assert cases["thr.tcp.64B"]["samples"][lib][0]["cpu_us"]["recv"] > 0
        assert set(cases["lat.ipc.64B"]["cpu_us_median"][lib]) == {"client", "server"}
    # the HWM case really held messages (bounded by the HWM, not all 20k)
    hwm = cases["rss.hwm.1KiB"]["samples"]["vmzmq"][0]
    assert 0 < hwm["queued"] < hwm["sent"] <= hwm["count"]


def test_curve_rows_run_both_libraries_with_one_key_set(tmp_path: Path) -> None:
    """The CURVE rows: vmzmq's CURVE against libzmq's, the raw ceiling boxing with PyNaCl,
    all with the keys the run made once."""
    import nacl  # noqa: F401  (a dependency: missing is a failure, not a skip)
    out = tmp_path / "bench.json"
    only = "thr.tcp.curve.64B,thr.ipc.curve.1MiB,lat.ipc.curve"
    proc = run_bench("--quick", "--only", only, "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    cases = {c["name"]: c for c in results["cases"]}
    assert set(cases) == {"thr.tcp.curve.64B", "thr.ipc.curve.1MiB", "lat.ipc.curve.64B"}
    for case in cases.values():
        assert case["status"] == "ok", case["errors"]
        for lib in ("vmzmq", "pyzmq", "raw"):
            assert case["median"][lib] > 0, lib
        assert case["speed_vs_pyzmq"] > 0
    assert cases["thr.tcp.curve.64B"]["target"]["text"] == ">= 0.50x"
    assert cases["thr.ipc.curve.1MiB"]["target"]["met"] in (True, False)
    assert cases["lat.ipc.curve.64B"]["better"] == "lower"
    # one key set per run, from pyzmq; only the public keys are recorded
    curve = results["curve"]
    assert curve["generated_by"] == "pyzmq"
    assert len(curve["server_public"]) == 40 and len(curve["client_public"]) == 40
    assert not any("secret" in k for k in curve)
    assert "CURVE rows: keys from pyzmq" in proc.stdout
    # the NULL rows' substrings do not pick the CURVE rows up
    listed = run_bench("--list", "--only", "thr.tcp.64B,lat.ipc.64B")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "thr.tcp.64B",
        "lat.ipc.64B",
    ]


def test_vmci_is_never_a_number_without_vsock(tmp_path: Path) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.runner import vsock_loopback

    if vsock_loopback() is None:
        pytest.skip("this machine has vsock loopback: the vmci cases would run")
    out = tmp_path / "bench.json"
    proc = run_bench("--quick", "--only", "thr.vmci.1MiB,lat.vmci", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not available here (no vsock loopback)" in proc.stdout
    cases = json.loads(out.read_text())["cases"]
    assert [c["name"] for c in cases] == ["thr.vmci.1MiB", "lat.vmci.64B", "lat.vmci.1KiB"]
    for case in cases:
        assert case["status"] == "unavailable"
        assert case["median"] == {} and case["samples"] == {}
        assert case["ratio_vs_raw"] is None

    proc = run_bench("--quick", "--vmci", "--no-json")
    assert proc.returncode != 0
    assert "no vsock loopback" in proc.stderr


def test_list_and_filter() -> None:
    proc = run_bench("--list", "--only", "conn.*,fanout")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names == ["fanout.tcp.64B", "conn.tcp", "conn.ipc"]


@pytest.mark.parametrize("curve", [False, True], ids=["null", "curve"])
@pytest.mark.parametrize("lib", ["vmzmq", "pyzmq"])
@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_standalone_pair_reports_both_sides(lib, transport, curve) -> None:
    """``python -m benchmarks.pair`` (a smoke run: no timing asserted) prints the sender's
    and the receiver's CPU per message, also with CURVE on both sides."""
    if curve:
        import nacl  # noqa: F401  (a dependency: missing is a failure, not a skip)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.pair", "--lib", lib, "--transport", transport,
         "--count", "3000", "--size", "100", "--stall", "45", *(["--curve"] if curve else [])],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr  # a stall says how far it got
    assert f"{lib} push: main thread" in proc.stdout, proc.stdout
    assert f"{lib} pull:" in proc.stdout and "ns/msg" in proc.stdout, proc.stdout
