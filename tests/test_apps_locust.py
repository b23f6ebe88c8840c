"""locust, unmodified, in distributed mode on vmzmq (tools/pyzmq_as_vmzmq.py).

A master and a worker (separate ``python -m locust`` processes) talk over locust's zmq RPC
(``zmq.green`` ROUTER/DEALER, msgpack messages): the worker registers, the master starts
users on it, the worker reports its statistics, the master sends ``quit``. The load is real
HTTP against a server in this test process. The run ends on a condition, not a clock: the
locustfile's master-side ``worker_report`` listener quits once the worker has reported
``REQUESTS`` requests; ``--run-time`` is only a backstop.

locust calls ``gevent.monkey.patch_all()`` before it imports zmq, which vmzmq's engine does
not survive yet (its I/O thread needs the unpatched ``select.epoll`` and native threads):
see docs/compat-apps.md and tests/test_apps_compat.py::test_gevent_patch_all_round_trip.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps_support import HOOK, VMZMQ_INIT, free_ports, load_hook, start_group, stop_group

# Not imported here: importing locust runs gevent.monkey.patch_all() in this very process,
# which would turn every later test's threads and sockets into greenlets.
if importlib.util.find_spec("locust") is None:
    pytest.skip("locust is not installed", allow_module_level=True)

pyzmq_as_vmzmq = load_hook()
TIMEOUT = 240
REQUESTS = 50

LOCUSTFILE = textwrap.dedent(
    """
    import os
    import gevent
    from locust import HttpUser, constant, events, task

    REQUESTS = int(os.environ["SMOKE_REQUESTS"])

    class Hello(HttpUser):
        wait_time = constant(0)

        @task
        def hello(self):
            self.client.get("/hello")

    _state = {}

    @events.init.add_listener
    def _on_init(environment, **kwargs):
        _state["env"] = environment

    @events.worker_report.add_listener
    def _on_worker_report(client_id, data):
        # Master side: quit once the worker has reported enough requests.
        runner = _state["env"].runner
        if runner.stats.total.num_requests >= REQUESTS and not _state.get("quitting"):
            _state["quitting"] = True
            gevent.spawn(runner.quit)
    """
)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_master_and_worker_run_a_load_test(tmp_path: Path, http_server: str) -> None:
    (tmp_path / "locustfile.py").write_text(LOCUSTFILE)
    log = tmp_path / "hook.log"
    env = pyzmq_as_vmzmq.environ(log=str(log))
    env["SMOKE_REQUESTS"] = str(REQUESTS)
    port = free_ports(1)[0]
    common = [sys.executable, str(HOOK), "-m", "locust", "-f", "locustfile.py"]
    master = start_group(
        [
            *common,
            "--master",
            "--headless",
            "--master-bind-host=127.0.0.1",
            f"--master-bind-port={port}",
            "--expect-workers=1",
            "--users=2",
            "--spawn-rate=2",
            "--run-time=180s",  # a backstop only: the locustfile quits on a condition
            f"--host={http_server}",
            "--json",
        ],
        tmp_path,
        env,
        stderr=subprocess.PIPE,
    )
    worker = start_group(
        [*common, "--worker", "--master-host=127.0.0.1", f"--master-port={port}"],
        tmp_path,
        env,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            m_out, m_err = master.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            stop_group(master)
            m_out, m_err = master.communicate()
            pytest.fail(f"the master did not finish in {TIMEOUT}s\n{m_err[-3000:]}")
        assert master.returncode == 0, f"master failed ({master.returncode}):\n{m_err[-3000:]}"
        # The master's quit tells the worker to exit.
        w_out, w_err = worker.communicate(timeout=TIMEOUT)
        assert worker.returncode == 0, f"worker failed ({worker.returncode}):\n{w_err[-3000:]}"
    finally:
        stop_group(master)
        stop_group(worker)

    stats = json.loads(m_out[m_out.index("[") :])
    hello = [s for s in stats if s["name"] == "/hello"]
    assert hello and hello[0]["num_requests"] >= REQUESTS
    assert hello[0]["num_failures"] == 0
    assert "Got quit message from master" in w_err

    records = pyzmq_as_vmzmq.read_log(str(log))
    pids = {rec["pid"] for rec in records}
    assert {master.pid, worker.pid} <= pids  # the hook execs: same pids
    assert {rec["zmq_file"] for rec in records} == {VMZMQ_INIT}
