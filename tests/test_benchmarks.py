"""Smoke test of the benchmark runner (``python -m benchmarks --quick``): it runs, prints the
table and writes parseable JSON with medians, ratios and CPU per message, for every row kind
(the scale rows and their growth plot included). No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
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
    assert set(cases) == {"thr.tcp.64B", "lat.ipc.64B", "lat.ipc.64B.nospin", "rss.hwm.1KiB"}
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
        for name in ("lat.ipc.64B", "lat.ipc.64B.nospin"):
            assert set(cases[name]["cpu_us_median"][lib]) == {"client", "server"}
            assert cases[name]["cpu_us_total_median"][lib] > 0
    # the memory rows: the sender's CPU per message sent, the (not reading) receiver's
    assert set(cases["rss.hwm.1KiB"]["cpu_us_median"]["vmzmq"]) == {"send", "recv"}
    # every latency row twice: with vmzmq's spin (default) and without (VMZMQ_SPIN_US=0 in
    # every worker of the row: vmzmq and the raw ping-pong read it, pyzmq ignores it)
    spin, nospin = cases["lat.ipc.64B"], cases["lat.ipc.64B.nospin"]
    assert spin["spin_us"] == os.environ.get("VMZMQ_SPIN_US", "50")
    assert nospin["spin_us"] == "0"
    assert nospin["status"] == "ok" and nospin["median"]["raw"] > 0
    assert spin["target"]["text"] == "<= 0.30x time, <= 2x CPU"
    assert spin["target"]["cpu"] == 2.0
    assert spin["target"]["met_cpu"] in (True, False)
    assert spin["cpu_ratio_vs_pyzmq"] > 0
    assert nospin["target"]["text"] == "<= 1.00x time" and "cpu" not in nospin["target"]
    assert "lat.ipc.64B.nospin" in proc.stdout
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
    assert set(cases) == {
        "thr.tcp.curve.64B",
        "thr.ipc.curve.1MiB",
        "lat.ipc.curve.64B",
        "lat.ipc.curve.64B.nospin",
    }
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
        "lat.ipc.64B.nospin",
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
    assert [c["name"] for c in cases] == [
        "thr.vmci.1MiB",
        "lat.vmci.64B",
        "lat.vmci.64B.nospin",
        "lat.vmci.1KiB",
        "lat.vmci.1KiB.nospin",
    ]
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
    # the scale rows are not in the default run; --scale-rows adds them, --only can name them
    default = run_bench("--list").stdout.split()
    assert not any(name.startswith("scale.") for name in default)
    assert "lat.tcp.64B.nospin" in default
    listed = run_bench("--list", "--scale-rows").stdout
    assert "scale.router.tcp.1000.idle_rss" in listed and "scale.sockets.10000.rss" in listed
    listed = run_bench("--list", "--only", "scale.s").stdout
    names = [line.split()[0] for line in listed.splitlines()]
    assert names[:3] == ["scale.sockets.100.create", "scale.sockets.100.close",
                         "scale.sockets.100.rss"]
    assert len(names) == 9


def test_cpu_of_fanout_connection_and_inproc_rows(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_bench("--quick", "--only", "fanout,conn.ipc,thr.inproc.64B", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cases = {c["name"]: c for c in json.loads(out.read_text())["cases"]}
    sides = {"fanout.tcp.64B": {"pub", "subs"}, "conn.ipc": {"client", "server"},
             "thr.inproc.64B": {"process"}}
    for name, expected in sides.items():
        case = cases[name]
        assert case["status"] == "ok", case["errors"]
        for lib in ("vmzmq", "pyzmq"):
            assert set(case["cpu_us_median"][lib]) == expected, (name, lib)
            assert case["samples"][lib][0]["cpu_us"], (name, lib)
            assert case["cpu_us_total_median"][lib] > 0
        assert case["cpu_ratio_vs_pyzmq"] > 0
    assert set(cases["conn.ipc"]["cpu_us_median"]["raw"]) == {"client", "server"}
    table = proc.stdout.split("CPU time per message", 1)[1]
    for name, per in (("fanout.tcp.64B", "delivery"), ("conn.ipc", "connection")):
        assert any(line.startswith(f"| {name} ") and per in line for line in table.splitlines())


def test_scale_rows_and_growth_plot(tmp_path: Path) -> None:
    """The scale rows at their smallest sizes (and all socket counts), their CPU per request,
    delivery or socket, and the SVG drawn from them, at once and again from the JSON."""
    out, svg, svg2 = tmp_path / "bench.json", tmp_path / "scale.svg", tmp_path / "again.svg"
    only = "scale.router.tcp.1[0],scale.pubsub,scale.sockets"
    proc = run_bench("--quick", "--only", only, "--json", str(out), "--plot", str(svg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    cases = {c["name"]: c for c in results["cases"]}
    assert set(cases) == {
        "scale.router.tcp.10", "scale.router.tcp.10.idle_rss", "scale.pubsub.tcp.100",
        *(f"scale.sockets.{n}.{row}" for n in (100, 1000, 10000)
          for row in ("create", "close", "rss")),
    }
    for case in cases.values():
        assert case["status"] == "ok", case["errors"]
        for lib in ("vmzmq", "pyzmq"):
            assert case["median"][lib] > 0, (case["name"], lib)
        assert case["speed_vs_pyzmq"] > 0
    router = cases["scale.router.tcp.10"]
    assert router["unit"] == "req/s" and router["scale"] == {"family": "router", "n": 10,
                                                              "row": "value"}
    sample = router["samples"]["vmzmq"][0]
    assert sample["dealers"] == 10 and sample["count"] == 10 * sample["rounds"]
    assert sample["rss_bytes_idle"] > 0 and sample["rss_bytes_before"] > 0
    assert cases["scale.router.tcp.10.idle_rss"]["unit"] == "KiB/conn"
    pubsub = cases["scale.pubsub.tcp.100"]
    assert pubsub["samples"]["pyzmq"][0]["count"] == pubsub["samples"]["pyzmq"][0]["sent"]
    assert pubsub["target"]["text"] == ">= 1.00x"
    cpu_sides = {"scale.router.tcp.10": {"router", "dealers"},
                 "scale.pubsub.tcp.100": {"pub", "subs"},
                 "scale.sockets.10000.create": {"process"},
                 "scale.sockets.10000.close": {"process"}}
    for name, sides in cpu_sides.items():
        for lib in ("vmzmq", "pyzmq"):
            assert set(cases[name]["cpu_us_median"][lib]) == sides, (name, lib)
    assert "cpu_us_median" not in cases["scale.sockets.100.rss"]
    assert "scale.router.tcp.10.idle_rss" in proc.stdout

    def series(path: Path) -> set[str]:
        root = ET.parse(path).getroot()  # well-formed
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        return {p.get("data-series") for p in root.iter("{http://www.w3.org/2000/svg}path")}

    drawn = series(svg)
    assert {"vmzmq", "pyzmq", "vmzmq create", "pyzmq close"} <= drawn
    redraw = run_bench("--plot-from", str(out), "--plot", str(svg2))
    assert redraw.returncode == 0, redraw.stderr
    assert series(svg2) == drawn
    # a results file with no scale rows draws nothing and says so
    empty = tmp_path / "none.json"
    empty.write_text(json.dumps({"cases": []}))
    none = run_bench("--plot-from", str(empty), "--plot", str(tmp_path / "none.svg"))
    assert none.returncode == 1 and "no scale rows" in none.stderr
    assert not (tmp_path / "none.svg").exists()


def test_busy_cpu_run(tmp_path: Path) -> None:
    """``--busy 1``: the run keeps a CPU busy with a process of its own, and says so."""
    out = tmp_path / "bench.json"
    proc = run_bench("--quick", "--busy", "1", "--only", "scale.sockets.1[0][0]",
                     "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "with 1 CPU kept busy by another process" in proc.stdout
    results = json.loads(out.read_text())
    assert results["options"]["busy"] == 1
    assert [c["name"] for c in results["cases"]] == [
        "scale.sockets.100.create", "scale.sockets.100.close", "scale.sockets.100.rss"]


def test_latency_target_with_a_cpu_condition() -> None:
    """The target logic alone (no run): a row faster than its time target whose CPU per
    round trip exceeds twice pyzmq's is 'MISSED (CPU)'."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.report import add_ratios, fmt_target

    def entry(vmzmq_us: float, vmzmq_cpu: float) -> dict:
        e = {
            "better": "lower",
            "median": {"vmzmq": vmzmq_us, "pyzmq": 100.0},
            "cpu_us_total_median": {"vmzmq": vmzmq_cpu, "pyzmq": 50.0},
            "target": {"against": "pyzmq", "speed": 1 / 0.3, "cpu": 2.0,
                       "text": "<= 0.30x time, <= 2x CPU"},
        }
        add_ratios(e)
        return e

    ok = entry(20.0, 90.0)
    assert ok["target"]["met"] is True and fmt_target(ok).endswith(": met")
    cpu = entry(20.0, 110.0)
    assert cpu["cpu_ratio_vs_pyzmq"] == pytest.approx(2.2)
    assert cpu["target"]["met"] is False and fmt_target(cpu).endswith("MISSED (CPU)")
    slow = entry(40.0, 90.0)
    assert slow["target"]["met"] is False and fmt_target(slow).endswith(": MISSED")
    both = entry(40.0, 110.0)
    assert both["target"]["met"] is False and fmt_target(both).endswith("MISSED (time and CPU)")


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
