"""ipyparallel, unmodified, on vmzmq (tools/pyzmq_as_vmzmq.py).

``ipp.Cluster`` starts a controller (hub and schedulers: ROUTER/DEALER/PUB/SUB devices in
threads and processes, ``ZMQStream`` everywhere) and two engines (IPython kernels), all as
child processes that get the hook through the environment. The client runs code on the
engines through a direct view and a load-balanced view, and moves data both ways.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from apps_support import HOOK, VMZMQ_INIT, load_hook

if importlib.util.find_spec("ipyparallel") is None:  # not imported: no side effects here
    pytest.skip("ipyparallel is not installed", allow_module_level=True)

pyzmq_as_vmzmq = load_hook()
TIMEOUT = 300  # a controller and two engines: several processes' worth of start-up

CLIENT = textwrap.dedent(
    """
    import json, os
    import ipyparallel as ipp
    import zmq

    out = {"pid": os.getpid(), "zmq": zmq.__file__}
    with ipp.Cluster(n=2, log_level=30) as rc:
        rc.wait_for_engines(2, timeout=180)
        dview = rc[:]
        out["engine_pids"] = dview.apply_sync(lambda: __import__("os").getpid())
        out["engine_zmq"] = dview.apply_sync(lambda: __import__("zmq").__file__)
        out["doubled"] = dview.apply_sync(lambda x: x * 2, 21)
        dview.push({"a": 5}, block=True)
        dview.execute("b = a + 1", block=True)
        out["pulled"] = dview.pull("b", block=True)
        out["scattered"] = dview.scatter("part", list(range(10)), block=True) or "ok"
        out["gathered"] = dview.gather("part", block=True)
        lview = rc.load_balanced_view()
        out["squares"] = lview.map_sync(lambda x: x * x, range(32))
        big = b"v" * 2_000_000  # a buffer over the copy threshold: sent zero-copy
        out["big"] = dview.apply_sync(len, big)
    print(json.dumps(out))
    """
)


def test_cluster_runs_code_on_engines(tmp_path: Path) -> None:
    log = tmp_path / "hook.log"
    env = pyzmq_as_vmzmq.environ(log=str(log))
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    (tmp_path / "client.py").write_text(CLIENT)
    proc = subprocess.Popen(
        [sys.executable, str(HOOK), "client.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the controller and engines too, if it hangs
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the client did not finish in {TIMEOUT}s\n{out}\n{err[-3000:]}")
    assert proc.returncode == 0, f"client failed ({proc.returncode}):\n{out}\n{err[-3000:]}"
    result = json.loads(out.strip().splitlines()[-1])

    assert result["doubled"] == [42, 42]
    assert result["pulled"] == [6, 6]
    assert result["gathered"] == list(range(10))
    assert result["squares"] == [x * x for x in range(32)]
    assert result["big"] == [2_000_000, 2_000_000]
    assert len(set(result["engine_pids"])) == 2
    assert result["engine_zmq"] == [VMZMQ_INIT, VMZMQ_INIT]
    assert result["zmq"] == VMZMQ_INIT

    records = pyzmq_as_vmzmq.read_log(str(log))
    assert {rec["zmq_file"] for rec in records} == {VMZMQ_INIT}
    pids = {rec["pid"] for rec in records}
    # The client, the engines and the controller (at least one more process) are hooked.
    assert {result["pid"], *result["engine_pids"]} <= pids
    assert len(pids) >= 4
