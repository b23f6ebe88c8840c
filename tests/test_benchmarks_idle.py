"""Smoke test of ``python -m benchmarks.idle``: every case runs and reports a CPU share. The
shares are measurements, so none is compared with its limit here (that is the benchmark's
exit status, on a quiet machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_idle_case_reports_a_share(tmp_path: Path) -> None:
    out = tmp_path / "idle.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.idle", "--seconds", "0.2", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    results = json.loads(out.read_text())
    assert set(results) == {
        "sockets", "sockets.heartbeat-200ms", "spin.trickle-5ms", "proxy.idle",
        "proxy.blocked", "proxy.paused", "asyncio.await",
    }, proc.stderr
    for name, r in results.items():
        assert r["error"] is None and isinstance(r["share"], float) and r["share"] >= 0, (name, r)
        assert name in proc.stdout
