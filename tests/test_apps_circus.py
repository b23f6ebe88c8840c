"""circus (process supervisor), unmodified, on vmzmq (tools/pyzmq_as_vmzmq.py).

The arbiter serves commands on a ROUTER through tornado's ``ZMQStream``, publishes events on
a PUB socket, and starts ``circusd-stats`` (a Python child process: it gets the hook through
the environment) which publishes statistics on another PUB. ``circusctl`` (a DEALER, polled
with ``zmq.Poller``) and circus's consumer classes (SUB) talk to them from other processes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps_support import HOOK, VMZMQ_INIT, free_ports, load_hook, start_group, stop_group

if importlib.util.find_spec("circus") is None:  # not imported: no side effects here
    pytest.skip("circus is not installed", allow_module_level=True)

pyzmq_as_vmzmq = load_hook()
TIMEOUT = 180

# circus's documented library use ("Circus Library": get_arbiter, start, stop).
DAEMON = textwrap.dedent(
    """
    import sys
    from circus import get_arbiter

    controller, pubsub, stats = sys.argv[1:4]
    arbiter = get_arbiter(
        [{"name": "sleeper", "cmd": "sleep 600", "numprocesses": 2}],
        controller=controller,
        pubsub_endpoint=pubsub,
        stats_endpoint=stats,
        statsd=True,
    )
    try:
        arbiter.start()
    finally:
        arbiter.stop()
    """
)

# Events (SUB on the arbiter's PUB) and statistics (SUB on circusd-stats' PUB). A SUB
# misses what is published before its subscription reaches the publisher, so the trigger
# (incr) is repeated until an event arrives: each round waits for the event, not a clock.
WATCH = textwrap.dedent(
    """
    import json, sys
    import zmq
    from circus.client import CircusClient
    from circus.consumer import CircusConsumer
    from circus.stats.client import StatsClient

    controller, pubsub, stats = sys.argv[1:4]
    out = {}
    client = CircusClient(endpoint=controller, timeout=60)
    consumer = CircusConsumer(["watcher.sleeper."], endpoint=pubsub)
    for attempt in range(30):
        client.call({"command": "incr", "properties": {"name": "sleeper"}})
        if consumer.poller.poll(2000):
            topic, body = consumer.pubsub_socket.recv_multipart()
            out["event"] = [topic.decode(), json.loads(body)]
            break
    consumer.stop()
    for watcher, subtopic, stat in StatsClient(endpoint=stats):
        if watcher == "sleeper" and "pid" in stat:  # one process's figures
            out["stat"] = [watcher, sorted(stat)]
            break
    reply = client.call({"command": "numprocesses", "properties": {"name": "sleeper"}})
    out["numprocesses"] = reply["numprocesses"]
    client.stop()
    print(json.dumps(out))
    """
)


@pytest.fixture
def endpoints() -> list[str]:
    return [f"tcp://127.0.0.1:{port}" for port in free_ports(3)]


@pytest.fixture
def hook_env(tmp_path: Path) -> dict[str, str]:
    return pyzmq_as_vmzmq.environ(log=str(tmp_path / "hook.log"))


def _circusctl(env: dict[str, str], controller: str, *args: str, timeout: int = 60) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            str(HOOK),
            "-m",
            "circus.circusctl",
            "--endpoint",
            controller,
            "--timeout",
            str(timeout),
            "--json",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, f"circusctl {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


@pytest.fixture
def daemon(
    tmp_path: Path, endpoints: list[str], hook_env: dict[str, str]
) -> Iterator[subprocess.Popen]:
    (tmp_path / "daemon.py").write_text(DAEMON)
    proc = start_group(
        [sys.executable, str(HOOK), "daemon.py", *endpoints],
        tmp_path,
        hook_env,
    )
    try:
        yield proc
    finally:
        stop_group(proc)
        # circusd-stats runs outside the daemon's process group, so killing that group
        # (a failed test) leaves it running; the hook's log has its pid.
        for rec in pyzmq_as_vmzmq.read_log(hook_env[pyzmq_as_vmzmq.LOG_VAR]):
            if "--statspoint" in rec["argv"]:
                try:
                    os.kill(rec["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass  # it ended with the arbiter, as it does after "quit"


def test_arbiter_commands_events_and_stats(
    tmp_path: Path, daemon: subprocess.Popen, endpoints: list[str], hook_env: dict[str, str]
) -> None:
    controller, pubsub, stats = endpoints
    # The DEALER queues the request until the arbiter has bound: no waiting for a port.
    # The watchers are still starting at first: ask until they are up.
    for _ in range(100):
        status = _circusctl(hook_env, controller, "status")
        assert status["status"] == "ok"
        if set(status["statuses"].values()) == {"active"}:
            break
    assert status["statuses"] == {"sleeper": "active", "circusd-stats": "active"}

    reply = _circusctl(hook_env, controller, "incr", "sleeper", "--waiting")
    assert reply["status"] == "ok" and reply["numprocesses"] == 3
    listed = _circusctl(hook_env, controller, "list", "sleeper")
    assert len(listed["pids"]) == 3

    (tmp_path / "watch.py").write_text(WATCH)
    watch = subprocess.run(
        [sys.executable, str(HOOK), "watch.py", *endpoints],
        cwd=tmp_path,
        env=hook_env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert watch.returncode == 0, f"{watch.stdout}\n{watch.stderr}"
    seen = json.loads(watch.stdout.strip().splitlines()[-1])
    topic, event = seen["event"]
    assert topic == "watcher.sleeper.spawn" and event["process_pid"] > 0
    watcher, keys = seen["stat"]
    assert watcher == "sleeper" and {"pid", "cpu", "mem"} <= set(keys)  # psutil's figures
    assert seen["numprocesses"] >= 4

    assert _circusctl(hook_env, controller, "quit")["status"] == "ok"
    out, _ = daemon.communicate(timeout=TIMEOUT)
    assert daemon.returncode == 0, out

    records = pyzmq_as_vmzmq.read_log(hook_env[pyzmq_as_vmzmq.LOG_VAR])
    assert {rec["zmq_file"] for rec in records} == {VMZMQ_INIT}
    assert daemon.pid in {rec["pid"] for rec in records}
    # circusd-stats, started by the arbiter, imported zmq through the hook too.
    assert any("--statspoint" in rec["argv"] for rec in records)


def test_circusd_command_line(
    tmp_path: Path, endpoints: list[str], hook_env: dict[str, str]
) -> None:
    controller, pubsub, stats = endpoints
    (tmp_path / "circus.ini").write_text(
        textwrap.dedent(
            f"""
            [circus]
            endpoint = {controller}
            pubsub_endpoint = {pubsub}

            [watcher:sleeper]
            cmd = sleep 600
            numprocesses = 1
            """
        )
    )
    proc = start_group(
        [sys.executable, str(HOOK), "--exec", os.path.join(os.path.dirname(sys.executable),
                                                           "circusd"), "circus.ini"],
        tmp_path,
        hook_env,
    )
    try:
        # Short tries, so that a daemon that exited at once is noticed without a long wait.
        for _ in range(30):
            if proc.poll() is not None:
                pytest.fail(f"circusd exited ({proc.returncode}): {proc.stdout.read()}")
            try:
                status = _circusctl(hook_env, controller, "status", timeout=5)
                break
            except AssertionError:
                continue
        else:
            pytest.fail("circusd never answered")
        assert status["status"] == "ok" and "sleeper" in status["statuses"]
        assert _circusctl(hook_env, controller, "quit")["status"] == "ok"
        proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0
    finally:
        stop_group(proc)
