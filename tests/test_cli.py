"""The ``vmzmq`` command line, run as a subprocess (``python -m vmzmq``): every command's
--help, user mistakes (one line on stderr, non-zero status, no traceback), send/recv for each
pattern, monitor, proxy (byte relay and socket proxies) and bench."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import zmq  # pyzmq, a test dependency: libzmq peers for the CLI
import zmq.utils.monitor

from child_process import interruptible
from waiting import HANG, wait_blocked

SRC = str(Path(__file__).resolve().parent.parent / "src")
COMMANDS = ["cid", "proxy", "send", "recv", "monitor", "bench", "demo"]


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC
    # A command that hangs prints every thread's stack on SIGABRT (see finish).
    e["PYTHONFAULTHANDLER"] = "1"
    e.update(extra)
    return e


def vmzmq(
    *args: str,
    input: bytes | None = None,
    timeout: float = 30,
    cwd: Any = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vmzmq", *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        env=env(**(extra_env or {})),
        cwd=cwd,
    )


def start(*args: str, cwd: Any = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vmzmq", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
        cwd=cwd,
        preexec_fn=interruptible,
    )


def finish(proc: subprocess.Popen, timeout: float = 20) -> tuple[int, bytes, bytes]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler: where each thread is stuck
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"still running; stderr: {err.decode()!r}") from None
    return proc.returncode, out, err


def one_line_error(err: bytes, prefix: str) -> str:
    text = err.decode()
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith(prefix), text
    return lines[0]


def wait_for_path(path: Path, timeout: float = HANG) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def ipc(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # short paths: sun_path holds 107 bytes
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="vmzmq-cli-", dir="/tmp"))
    yield lambda name: (f"ipc://{d / name}", d / name)
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


# -- help and mistakes --------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_everywhere(command):
    args = [command, "--help"] if command else ["--help"]
    result = vmzmq(*args)
    assert result.returncode == 0
    assert result.stdout.decode().startswith(f"usage: vmzmq {command}".rstrip())


def test_version():
    result = vmzmq("--version")
    assert result.returncode == 0 and result.stdout.decode().startswith("vmzmq ")


def test_no_command_prints_usage_and_fails():
    result = vmzmq()
    assert result.returncode == 2
    assert b"usage: vmzmq" in result.stderr


@pytest.mark.parametrize(
    "args, prefix",
    [
        (["send", "no-scheme", "hi"], "vmzmq send: Invalid argument: endpoint 'no-scheme'"),
        (["send", "tcp://127.0.0.1:notaport", "hi"], "vmzmq send: Invalid argument"),
        (["recv", "bogus://x"], "vmzmq recv: Protocol not supported"),
        (["monitor", "tcp://"], "vmzmq monitor: Invalid argument"),
        (["proxy", "inproc://a", "tcp://127.0.0.1:1"], "vmzmq proxy: Protocol not supported"),
        (["proxy", "tcp://127.0.0.1:*", "tcp://127.0.0.1:99999"], "vmzmq proxy: Invalid argument"),
        (["send", "ipc:///tmp/x", "--file", "/nonexistent/file"], "vmzmq send: cannot read"),
        (["monitor", "tcp://127.0.0.1:1", "--events", "NOPE"], "vmzmq monitor: unknown event"),
        (["recv", "ipc:///tmp/x", "--subscribe", "t"], "vmzmq recv: --subscribe is for"),
    ],
)
def test_user_mistakes_are_one_line_errors(args, prefix):
    result = vmzmq(*args, timeout=20)
    assert result.returncode in (1, 2)
    one_line_error(result.stderr, prefix)


@pytest.mark.parametrize(
    "args",
    [
        ["send", "--count", "0", "ipc:///tmp/x"],
        ["send", "ipc:///tmp/x", "--bogus-option"],
        ["recv", "ipc:///tmp/x", "--timeout", "soon"],
        ["proxy", "only-one-endpoint"],
        ["monitor"],
        ["send", "ipc:///tmp/x", "--type", "router"],
    ],
)
def test_bad_command_lines_exit_2_without_traceback(args):
    result = vmzmq(*args)
    assert result.returncode == 2
    text = result.stderr.decode()
    assert "usage:" in text and "Traceback" not in text


def test_timeouts_fail_cleanly():
    port = free_port()
    result = vmzmq("send", f"tcp://127.0.0.1:{port}", "hello", "--timeout", "0.3")
    assert result.returncode == 1
    one_line_error(result.stderr, "vmzmq send: could not send within 0.3s")
    result = vmzmq("recv", "tcp://127.0.0.1:*", "--timeout", "0.3")
    assert result.returncode == 1
    assert "vmzmq recv: no messages on tcp://127.0.0.1:" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_ctrl_c_while_blocked_exits_130(ipc):
    """SIGINT to a command blocked for ever (no --timeout) ends it with status 130 and no
    traceback."""
    endpoint, _path = ipc("blocked")
    for args in (
        ["send", "tcp://127.0.0.1:1", "hi"],
        ["send", "--bind", endpoint, "hi"],
        ["recv", endpoint + "-r"],
    ):
        proc = start(*args)
        wait_blocked(proc.pid)  # it waits in the blocking call (its handler is installed)
        proc.send_signal(signal.SIGINT)
        code, _out, err = finish(proc, timeout=HANG)
        assert code == 130 and b"Traceback" not in err, (args, err)


def test_messages_and_files_do_not_mix(tmp_path):
    f = tmp_path / "m"
    f.write_text("x\n")
    result = vmzmq("send", "ipc:///tmp/nowhere", "msg", "--file", str(f))
    assert result.returncode == 2
    one_line_error(result.stderr, "vmzmq send: give MESSAGE arguments or --file, not both")


def test_cid():
    result = vmzmq("cid")
    if result.returncode == 0:
        assert result.stdout.strip().isdigit()
    else:
        assert result.returncode == 1
        one_line_error(result.stderr, "vmzmq cid: ")


# -- send and recv ------------------------------------------------------------------------------
def test_push_pull_lines_from_stdin_and_multipart(ipc):
    endpoint, path = ipc("pp")
    receiver = start("recv", endpoint, "--bind", "-n", "3", "-s", "|")
    wait_for_path(path)
    sent = vmzmq("send", endpoint, "-s", ",", input=b"one\ntwo,2,deux\r\nthree\n")
    assert sent.returncode == 0, sent.stderr
    code, out, err = finish(receiver)
    assert code == 0, err
    assert out == b"one\ntwo|2|deux\nthree\n"


def test_default_output_separator_is_a_tab_and_escapes_work(ipc):
    endpoint, path = ipc("tab")
    receiver = start("recv", endpoint, "--bind", "-n", "1")
    wait_for_path(path)
    assert vmzmq("send", endpoint, "-s", "\\t", "a\tb").returncode == 0
    code, out, _ = finish(receiver)
    assert code == 0 and out == b"a\tb\n"


def test_files_whole_and_count(ipc, tmp_path):
    endpoint, path = ipc("files")
    first = tmp_path / "first.txt"
    first.write_bytes(b"l1\nl2\n")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00binary\nwith newline")
    receiver = start("recv", endpoint, "--bind", "-n", "5")
    wait_for_path(path)
    assert vmzmq("send", endpoint, "--file", str(first)).returncode == 0
    assert vmzmq("send", endpoint, "--whole", "-f", str(blob)).returncode == 0
    # --count repeats MESSAGE arguments in turn
    assert vmzmq("send", endpoint, "x", "y", "--count", "2").returncode == 0
    code, out, _ = finish(receiver)
    assert code == 0
    assert out == b"l1\nl2\n\x00binary\nwith newline\nx\ny\n"


def test_req_rep(ipc):
    endpoint, path = ipc("rr")
    server = start("recv", endpoint, "--bind", "--type", "rep", "--reply", "pong", "-n", "2")
    wait_for_path(path)
    client = vmzmq("send", endpoint, "--type", "req", "ping", "-s", ",", "a,b", "--timeout", "20")
    assert client.returncode == 0, client.stderr
    assert client.stdout == b"pong\npong\n"
    code, out, _ = finish(server)
    assert code == 0 and out == b"ping\na\tb\n"  # frames joined by the default tab

    echo = start("recv", endpoint + "2", "--bind", "--type", "rep", "-n", "1")
    wait_for_path(Path(str(path) + "2"))
    client = vmzmq("send", endpoint + "2", "-t", "req", "echo me", "--timeout", "20")
    assert client.stdout == b"echo me\n"
    assert finish(echo)[0] == 0


def test_pub_sub_waits_for_the_subscriber(ipc):
    endpoint, path = ipc("ps")
    sub = start("recv", endpoint, "--bind", "--type", "sub", "--subscribe", "keep", "-n", "2")
    wait_for_path(path)
    pub = vmzmq("send", endpoint, "--type", "pub", "keep 1", "drop", "keep 2", "--timeout", "20")
    assert pub.returncode == 0, pub.stderr
    code, out, _ = finish(sub)
    assert code == 0 and out == b"keep 1\nkeep 2\n"


def test_pub_without_subscriber_times_out(ipc):
    endpoint, _path = ipc("lonely")
    result = vmzmq("send", endpoint, "--bind", "-t", "pub", "x", "--timeout", "0.3")
    assert result.returncode == 1
    one_line_error(result.stderr, "vmzmq send: no subscriber on")


def test_wildcard_binds_and_reports_the_endpoint():
    receiver = start("recv", "tcp://127.0.0.1:*", "-n", "1", "--timeout", "30")
    line = receiver.stderr.readline().decode()
    assert line.startswith("vmzmq: bound to tcp://127.0.0.1:")
    endpoint = line.split()[-1]
    assert vmzmq("send", endpoint, "hello").returncode == 0
    code, out, _ = finish(receiver)
    assert code == 0 and out == b"hello\n"


def test_against_a_libzmq_peer(ipc):
    endpoint, _path = ipc("lz")
    c = zmq.Context()
    try:
        pull = c.socket(zmq.PULL)
        pull.rcvtimeo = int(HANG * 1000)
        pull.bind(endpoint)
        assert vmzmq("send", endpoint, "-s", "/", "a/b", "c").returncode == 0
        assert pull.recv_multipart() == [b"a", b"b"]
        assert pull.recv_multipart() == [b"c"]
        push = c.socket(zmq.PUSH)
        push.bind(endpoint + "-out")
        receiver = start("recv", endpoint + "-out", "--connect", "-n", "1")
        push.send_multipart([b"from", b"libzmq"])
        code, out, _ = finish(receiver)
        assert code == 0 and out == b"from\tlibzmq\n"
    finally:
        c.destroy(linger=0)


# -- monitor --------------------------------------------------------------------------------------
def test_monitor_prints_connection_events(ipc):
    endpoint, _path = ipc("mon")
    c = zmq.Context()
    try:
        router = c.socket(zmq.ROUTER)
        events = router.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        events.rcvtimeo = int(HANG * 1000)
        router.bind(endpoint)
        mon = start(
            "monitor", endpoint, "--events", "CONNECTED,HANDSHAKE_SUCCEEDED,DISCONNECTED", "-n", "3"
        )
        # The monitor's socket has connected and finished its handshake: close the peer.
        event = zmq.utils.monitor.recv_monitor_message(events)
        assert event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED
        router.disable_monitor()
        events.close(linger=0)
        router.close(linger=0)
        code, out, err = finish(mon)
    finally:
        c.destroy(linger=0)
    assert code == 0, err
    lines = out.decode().splitlines()
    assert [line.split()[1] for line in lines] == [
        "CONNECTED",
        "HANDSHAKE_SUCCEEDED",
        "DISCONNECTED",
    ]
    assert lines[0].split()[2:] == ["fd", lines[0].split()[3], endpoint]


def test_monitor_refused_connection_and_duration():
    port = free_port()
    result = vmzmq("monitor", f"tcp://127.0.0.1:{port}", "--events", "CONNECT_RETRIED", "-n", "2")
    assert result.returncode == 0
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 2 and all("CONNECT_RETRIED retry in" in line for line in lines), lines
    # --duration ends it whether or not events come (here none can: nothing listens).
    result = vmzmq(
        "monitor", f"tcp://127.0.0.1:{port}", "--events", "HANDSHAKE_SUCCEEDED", "--duration", "0.3"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""


def test_monitor_stops_cleanly_on_sigterm(ipc):
    endpoint, _path = ipc("sig")
    mon = start("monitor", endpoint)
    wait_blocked(mon.pid)  # running: waiting for events
    mon.send_signal(signal.SIGTERM)
    code, _out, err = finish(mon)
    assert code == 0 and b"Traceback" not in err


# -- proxy ----------------------------------------------------------------------------------------
def test_stream_proxy_bridges_libzmq_client_and_server(ipc):
    front, front_path = ipc("front")
    c = zmq.Context()
    try:
        rep = c.socket(zmq.REP)
        port = rep.bind_to_random_port("tcp://127.0.0.1")
        proxy = start("proxy", front, f"tcp://127.0.0.1:{port}")
        wait_for_path(front_path)
        req = c.socket(zmq.REQ)
        req.rcvtimeo = int(HANG * 1000)
        req.connect(front)
        for i in range(5):
            req.send_multipart([b"q", str(i).encode()])
            rep.send_multipart(rep.recv_multipart() + [b"r"])
            assert req.recv_multipart() == [b"q", str(i).encode(), b"r"]
        req.close(0)
        proxy.send_signal(signal.SIGTERM)
        code, _out, err = finish(proxy)
        assert code == 0
        text = err.decode()
        assert "Traceback" not in text and f"relaying connections on {front}" in text
    finally:
        c.destroy(linger=0)


@pytest.mark.parametrize("kind", ["queue", "streamer"])
def test_socket_proxies(ipc, kind):
    import vmzmq as zmq

    front, front_path = ipc(f"{kind}-front")
    back, back_path = ipc(f"{kind}-back")
    proxy = start("proxy", front, back, "--type", kind)
    wait_for_path(front_path)
    wait_for_path(back_path)
    ctx = zmq.Context()
    try:
        if kind == "queue":
            client, server = ctx.socket(zmq.REQ), ctx.socket(zmq.REP)
        else:
            client, server = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
        for s in (client, server):
            s.rcvtimeo = int(HANG * 1000)
            s.linger = 0
        client.connect(front)
        server.connect(back)
        client.send_multipart([b"a", b"b"])
        assert server.recv_multipart() == [b"a", b"b"]
        if kind == "queue":
            server.send(b"back")
            assert client.recv() == b"back"
    finally:
        ctx.destroy(linger=0)
    proxy.send_signal(signal.SIGINT)
    code, _out, err = finish(proxy)
    assert code == 0 and b"Traceback" not in err


def test_stream_proxy_rejects_a_bound_backend():
    result = vmzmq("proxy", "tcp://127.0.0.1:*", "@tcp://127.0.0.1:5")
    assert result.returncode == 2
    one_line_error(result.stderr, "vmzmq proxy: --type stream binds FRONTEND")


# -- bench and demo -------------------------------------------------------------------------------
def test_bench_without_the_benchmarks_package(tmp_path):
    result = vmzmq("bench", cwd=tmp_path)
    assert result.returncode == 1
    one_line_error(result.stderr, "vmzmq bench: the benchmarks are not installed")


def test_bench_passes_arguments_through(tmp_path):
    pkg = tmp_path / "benchmarks"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(
        "import sys\nprint('ARGS', sys.argv[1:])\nraise SystemExit(3)\n"
    )
    result = vmzmq(
        "bench",
        "--quick",
        "thr",
        cwd=tmp_path,
        extra_env={"PYTHONPATH": f"{SRC}{os.pathsep}{tmp_path}"},
    )
    assert result.returncode == 3
    assert result.stdout.decode().strip() == "ARGS ['--quick', 'thr']"


def test_demo():
    result = vmzmq("demo", "--count", "20", timeout=60)
    assert result.returncode == 0, result.stderr
    assert b"inproc://demo" in result.stdout


def test_verbose_logs_to_stderr():
    port = free_port()
    result = vmzmq("-v", "monitor", f"tcp://127.0.0.1:{port}", "--duration", "0.3")
    assert result.returncode == 0
    assert b"connect to tcp://127.0.0.1" in result.stderr
