"""zerorpc, unmodified, on vmzmq (tools/pyzmq_as_vmzmq.py).

zerorpc runs its own gevent integration over plain ``zmq`` sockets (not ``zmq.green``): it
waits on ``zmq.FD`` with gevent watchers and reads ``zmq.EVENTS``, edge-triggered, which is
where a pure-Python FD emulation differs first if it differs at all. Its channels multiplex
calls over ROUTER/DEALER with msgpack frames and heartbeats.

Servers and client are separate processes: the README's ``zerorpc --server ... time``
(the command line serving a module) and its ``HelloRPC`` class, called by a client script
(zerorpc 0.6.3's command-line *client* fails on Python 3.10+ for reasons of its own:
``collections.Iterator``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps_support import HOOK, VMZMQ_INIT, free_ports, load_hook, stop_group

if importlib.util.find_spec("zerorpc") is None:  # not imported: no side effects here
    pytest.skip("zerorpc is not installed", allow_module_level=True)

pyzmq_as_vmzmq = load_hook()
TIMEOUT = 120

SERVER = textwrap.dedent(
    """
    import sys
    import zerorpc

    class HelloRPC(object):
        def hello(self, name):
            return "Hello, %s" % name

        def add(self, a, b):
            return a + b

        @zerorpc.stream
        def count(self, n):
            return iter(range(n))

        def fail(self):
            raise ValueError("nope")

    s = zerorpc.Server(HelloRPC())
    s.bind(sys.argv[1])
    s.run()
    """
)

CLIENT = textwrap.dedent(
    """
    import json, os, sys
    import gevent
    import zerorpc
    import zmq

    hello_endpoint, time_endpoint = sys.argv[1:3]
    out = {"pid": os.getpid(), "zmq": zmq.__file__}
    # zerorpc's DEALER queues calls until the server is up; the timeout is generous.
    c = zerorpc.Client(timeout=60)
    c.connect(hello_endpoint)
    out["hello"] = c.hello("RPC")
    out["count"] = list(c.count(5))
    try:
        c.fail()
    except zerorpc.RemoteError as e:
        out["error"] = [e.name, e.msg]
    # 100 calls in flight at once from greenlets, multiplexed on one socket.
    jobs = [gevent.spawn(c.add, i, i) for i in range(100)]
    gevent.joinall(jobs, raise_error=True)
    out["sum"] = sum(job.value for job in jobs)
    big = "x" * 1_000_000
    out["big"] = len(c.hello(big))
    c.close()

    t = zerorpc.Client(timeout=60)
    t.connect(time_endpoint)
    out["gmtime"] = list(t.gmtime(86400))[:3]
    t.close()
    print(json.dumps(out))
    """
)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str], list[int]]]:
    hello, clock = (f"tcp://127.0.0.1:{port}" for port in free_ports(2))
    env = pyzmq_as_vmzmq.environ(log=str(tmp_path / "hook.log"))
    (tmp_path / "server.py").write_text(SERVER)
    zerorpc_cli = os.path.join(os.path.dirname(sys.executable), "zerorpc")
    procs = [
        subprocess.Popen(
            cmd,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for cmd in (
            [sys.executable, str(HOOK), "server.py", hello],
            [sys.executable, str(HOOK), "--exec", zerorpc_cli, "--server", "--bind", clock,
             "time"],
        )
    ]
    try:
        yield [hello, clock], env, [p.pid for p in procs]
    finally:
        for proc in procs:
            stop_group(proc)


def test_client_calls_servers(
    tmp_path: Path, servers: tuple[list[str], dict[str, str], list[int]]
) -> None:
    endpoints, env, server_pids = servers
    (tmp_path / "client.py").write_text(CLIENT)
    proc = subprocess.run(
        [sys.executable, str(HOOK), "client.py", *endpoints],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["hello"] == "Hello, RPC"
    assert out["count"] == [0, 1, 2, 3, 4]
    assert out["error"] == ["ValueError", "nope"]
    assert out["sum"] == sum(2 * i for i in range(100))
    assert out["big"] == len("Hello, ") + 1_000_000
    assert out["gmtime"] == [1970, 1, 2]  # the time module, served by the command line

    records = pyzmq_as_vmzmq.read_log(env[pyzmq_as_vmzmq.LOG_VAR])
    assert {rec["zmq_file"] for rec in records} == {VMZMQ_INIT}
    assert {out["pid"], *server_pids} <= {rec["pid"] for rec in records}
