"""Socket monitors: libzmq's event ids, values and wire format, parse/recv helpers, and the
events of each scenario compared with what a pyzmq (libzmq) monitor reports."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
import zmq  # pyzmq, a test dependency: the reference for events and their wire format
import zmq.utils.monitor as zmq_monitor

import vmzmq
from vmzmq.utils.monitor import (
    describe_event,
    parse_monitor_message,
    recv_monitor_message,
)
from waiting import HANG

E = vmzmq.Event
FD_VALUED = {"CONNECTED", "LISTENING", "ACCEPTED", "CLOSED", "DISCONNECTED"}


def events(
    mon: Any, until: str | None = None, count: int = 1, seconds: float = HANG
) -> list[tuple[str, int, bytes]]:
    """(name, value, endpoint) of the events up to the ``count``-th ``until`` event, in order;
    fails if it has not come within ``seconds`` (a deadline for a hang, not a measurement).

    Without ``until``: the events seen within ``seconds``, for a check that nothing (more)
    comes; give a short window then."""
    out = []
    seen = 0
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            if until is not None:
                raise AssertionError(f"{count} x {until} not seen in {seconds}s: {names(out)}")
            return out
        if not mon.poll(max(1, int(left * 1000))):
            continue
        frames = mon.recv_multipart()
        assert len(frames) == 2 and len(frames[0]) == 6  # libzmq's wire format
        event, value = struct.unpack("=Hi", frames[0])
        name = E(event).name
        out.append((name, value, frames[1]))
        if name == until:
            seen += 1
            if seen == count:
                return out


def names(evs: list[tuple[str, int, bytes]]) -> list[str]:
    return [e[0] for e in evs]


def shape(evs: list[tuple[str, int, bytes]]) -> list[tuple[str, Any]]:
    """Events with file descriptors and jittered intervals blanked: what must match libzmq."""
    out = []
    for name, value, _ep in evs:
        if name in FD_VALUED:
            out.append((name, "fd"))
        elif name == "CONNECT_RETRIED":
            out.append((name, "ms"))
        else:
            out.append((name, value))
    return out


@pytest.fixture
def ctx():
    c = vmzmq.Context()
    yield c
    c.destroy(linger=0)


def tcp_addr(endpoint: str) -> tuple[str, int]:
    host, port = endpoint.rsplit("/", 1)[1].rsplit(":", 1)
    return host, int(port)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- wire format and helpers ---------------------------------------------------------------------
def test_parse_monitor_message():
    msg = [struct.pack("=Hi", E.CONNECTED, 7), b"tcp://127.0.0.1:5555"]
    parsed = parse_monitor_message(msg)
    assert parsed == {"event": E.CONNECTED, "value": 7, "endpoint": b"tcp://127.0.0.1:5555"}
    assert isinstance(parsed["event"], E)
    assert describe_event(parsed) == "CONNECTED fd 7 tcp://127.0.0.1:5555"
    failed = parse_monitor_message(
        [struct.pack("=Hi", E.HANDSHAKE_FAILED_PROTOCOL, 0x10000018), b"tcp://h:1"]
    )
    assert describe_event(failed) == (
        "HANDSHAKE_FAILED_PROTOCOL PROTOCOL_ERROR_ZMTP_INVALID_METADATA tcp://h:1"
    )
    bind_failed = parse_monitor_message([struct.pack("=Hi", E.BIND_FAILED, 98), b"x"])
    assert "EADDRINUSE" in describe_event(bind_failed)
    for bad in ([b"123456"], [b"12345", b"x"], [b"1234567", b"x"], [b"123456", b"x", b"y"]):
        with pytest.raises(RuntimeError):
            parse_monitor_message(bad)


def test_wire_format_matches_pyzmq_parser(ctx):
    s = ctx.socket(vmzmq.PULL)
    mon = s.get_monitor_socket()
    s.bind("tcp://127.0.0.1:*")
    frames = mon.recv_multipart()
    theirs = zmq_monitor.parse_monitor_message(frames)
    ours = parse_monitor_message(frames)
    assert int(theirs["event"]) == int(ours["event"]) == E.LISTENING
    assert int(theirs["value"]) == ours["value"] > 0
    assert theirs["endpoint"] == ours["endpoint"] == s.last_endpoint


def test_recv_monitor_message_sync_and_async(ctx):
    s = ctx.socket(vmzmq.PULL)
    mon = s.get_monitor_socket()
    s.bind("tcp://127.0.0.1:*")
    ev = recv_monitor_message(mon)
    assert ev["event"] == E.LISTENING and ev["endpoint"] == s.last_endpoint
    with pytest.raises(vmzmq.Again):
        recv_monitor_message(mon, vmzmq.DONTWAIT)

    import vmzmq.asyncio as zaio

    async def main() -> dict:
        actx = zaio.Context()
        try:
            a = actx.socket(vmzmq.PULL)
            amon = a.get_monitor_socket()
            assert isinstance(amon, zaio.Socket)
            a.bind("tcp://127.0.0.1:*")
            return await asyncio.wait_for(recv_monitor_message(amon), 5)
        finally:
            actx.destroy(linger=0)

    assert asyncio.run(main())["event"] == E.LISTENING


def test_monitor_needs_an_inproc_endpoint_and_a_free_name(ctx):
    s = ctx.socket(vmzmq.PUB)
    with pytest.raises(vmzmq.ZMQError) as info:
        s.monitor("tcp://127.0.0.1:5599")
    assert info.value.errno == errno.EPROTONOSUPPORT
    s.monitor("inproc://taken")
    other = ctx.socket(vmzmq.PUB)
    with pytest.raises(vmzmq.ZMQError) as info:
        other.monitor("inproc://taken")
    assert info.value.errno == errno.EADDRINUSE


def test_event_mask_selects_events(ctx):
    s = ctx.socket(vmzmq.PULL)
    mon = s.get_monitor_socket(vmzmq.EVENT_ACCEPTED | vmzmq.EVENT_MONITOR_STOPPED)
    s.bind("tcp://127.0.0.1:*")
    c = ctx.socket(vmzmq.PUSH)
    c.connect(s.last_endpoint.decode())
    got = events(mon, until="ACCEPTED")
    assert names(got) == ["ACCEPTED"]  # not LISTENING before it
    c.send(b"x")
    s.rcvtimeo = int(HANG * 1000)
    assert s.recv() == b"x"  # the handshake is done: HANDSHAKE_SUCCEEDED would be queued now
    s.disable_monitor()
    assert names(events(mon, until="MONITOR_STOPPED")) == ["MONITOR_STOPPED"]


# -- the events of each scenario -----------------------------------------------------------------
def test_bind_connect_handshake_disconnect_close(ctx):
    srv = ctx.socket(vmzmq.PULL)
    smon = srv.get_monitor_socket()
    srv.bind("tcp://127.0.0.1:*")
    ep = srv.last_endpoint
    cli = ctx.socket(vmzmq.PUSH)
    cmon = cli.get_monitor_socket()
    cli.connect(ep.decode())
    s_ev = events(smon, until="HANDSHAKE_SUCCEEDED")
    c_ev = events(cmon, until="HANDSHAKE_SUCCEEDED")
    assert names(s_ev) == ["LISTENING", "ACCEPTED", "HANDSHAKE_SUCCEEDED"]
    assert names(c_ev) == ["CONNECT_DELAYED", "CONNECTED", "HANDSHAKE_SUCCEEDED"]
    assert all(e[2] == ep for e in s_ev + c_ev)
    listening_fd = s_ev[0][1]
    assert listening_fd > 0 and s_ev[1][1] > 0 and c_ev[1][1] > 0
    cli.close()
    c_rest = events(cmon, until="MONITOR_STOPPED")  # the last event a monitor sends
    assert names(c_rest) == ["MONITOR_STOPPED"]  # a socket closed by us reports no loss
    s_rest = events(smon, until="DISCONNECTED")
    assert names(s_rest) == ["DISCONNECTED"] and s_rest[0][1] == s_ev[1][1]  # accepted fd
    srv.unbind(ep.decode())
    closed = events(smon, until="CLOSED")
    assert closed == [("CLOSED", listening_fd, ep)]
    srv.close()
    assert names(events(smon, until="MONITOR_STOPPED")) == ["MONITOR_STOPPED"]


def test_connect_refused_retries(ctx):
    cli = ctx.socket(vmzmq.PUSH)
    cli.reconnect_ivl = 50
    mon = cli.get_monitor_socket()
    cli.connect(f"tcp://127.0.0.1:{free_port()}")
    got = events(mon, until="CONNECT_RETRIED", count=2)
    retried = [v for n, v, _ in got if n == "CONNECT_RETRIED"]
    assert len(retried) == 2
    assert all(50 <= v < 100 for v in retried)  # RECONNECT_IVL plus a jitter below it
    assert "CONNECT_DELAYED" in names(got)
    assert "CONNECTED" not in names(got)


def test_reconnect_backoff_in_retried_values(ctx):
    cli = ctx.socket(vmzmq.PUSH)
    cli.reconnect_ivl = 20
    cli.reconnect_ivl_max = 160
    mon = cli.get_monitor_socket(vmzmq.EVENT_CONNECT_RETRIED)
    cli.connect(f"tcp://127.0.0.1:{free_port()}")
    got = [v for _n, v, _ in events(mon, until="CONNECT_RETRIED", count=5)]
    assert len(got) == 5  # 20, 40, 80, 160, 160 (each plus a jitter below 20)
    assert got[0] < 40 and max(got) >= 160


def test_bind_failed(ctx):
    a = ctx.socket(vmzmq.PULL)
    a.bind("tcp://127.0.0.1:*")
    b = ctx.socket(vmzmq.PULL)
    mon = b.get_monitor_socket()
    with pytest.raises(vmzmq.ZMQError):
        b.bind(a.last_endpoint.decode())
    got = events(mon, until="BIND_FAILED")
    got += events(mon, seconds=0.2)  # and nothing after it
    assert [(n, v) for n, v, _ in got] == [("BIND_FAILED", errno.EADDRINUSE)]


def test_peer_socket_type_mismatch_fails_the_handshake(ctx):
    srv = ctx.socket(vmzmq.PULL)
    mon = srv.get_monitor_socket()
    srv.bind("tcp://127.0.0.1:*")
    bad = ctx.socket(vmzmq.PULL)  # PULL cannot talk to PULL
    bad.reconnect_ivl = 10000
    bad.connect(srv.last_endpoint.decode())
    got = events(mon, until="DISCONNECTED")
    assert ("HANDSHAKE_FAILED_PROTOCOL", E.PROTOCOL_ERROR_ZMTP_INVALID_METADATA) in [
        (n, v) for n, v, _ in got
    ]
    assert "HANDSHAKE_SUCCEEDED" not in names(got)


def test_garbage_peer_fails_the_handshake(ctx):
    srv = ctx.socket(vmzmq.PULL)
    mon = srv.get_monitor_socket()
    srv.bind("tcp://127.0.0.1:*")
    with socket.create_connection(tcp_addr(srv.last_endpoint.decode())) as raw:
        raw.sendall(b"GET / HTTP/1.0\r\n\r\n" + b"x" * 64)
        got = events(mon, until="DISCONNECTED")
    assert names(got) == ["LISTENING", "ACCEPTED", "HANDSHAKE_FAILED_PROTOCOL", "DISCONNECTED"]
    assert got[2][1] == E.PROTOCOL_ERROR_ZMTP_UNSPECIFIED


def test_wrong_zmtp_mechanism_fails_with_libzmqs_code(ctx):
    srv = ctx.socket(vmzmq.PULL)
    mon = srv.get_monitor_socket()
    srv.bind("tcp://127.0.0.1:*")
    greeting = b"\xff" + b"\0" * 8 + b"\x7f\x03\x00" + b"XXXX".ljust(20, b"\0") + b"\0" * 32
    with socket.create_connection(tcp_addr(srv.last_endpoint.decode())) as raw:
        raw.sendall(greeting)
        got = events(mon, until="DISCONNECTED")
    assert ("HANDSHAKE_FAILED_PROTOCOL", E.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) in [
        (n, v) for n, v, _ in got
    ]


def test_handshake_timeout_fails_without_detail(ctx):
    srv = ctx.socket(vmzmq.PULL)
    srv.handshake_ivl = 100
    mon = srv.get_monitor_socket()
    srv.bind("tcp://127.0.0.1:*")
    with socket.create_connection(tcp_addr(srv.last_endpoint.decode())):
        got = events(mon, until="DISCONNECTED")
    assert names(got) == ["LISTENING", "ACCEPTED", "HANDSHAKE_FAILED_NO_DETAIL", "DISCONNECTED"]


def test_connected_value_is_the_fd_and_disconnect_after_peer_loss(ctx):
    srv = ctx.socket(vmzmq.REP)
    srv.bind("tcp://127.0.0.1:*")
    cli = ctx.socket(vmzmq.REQ)
    cli.reconnect_ivl = 10000
    mon = cli.get_monitor_socket()
    cli.connect(srv.last_endpoint.decode())
    got = events(mon, until="HANDSHAKE_SUCCEEDED")
    fd = dict((n, v) for n, v, _ in got)["CONNECTED"]
    os.fstat(fd)  # a live descriptor of this process
    srv.close(linger=0)
    lost = events(mon, until="CONNECT_RETRIED")
    assert ("DISCONNECTED", fd) in [(n, v) for n, v, _ in lost]


def test_monitor_stopped_on_close_and_on_a_new_monitor(ctx):
    s = ctx.socket(vmzmq.DEALER)
    mon = s.get_monitor_socket()
    s.monitor("inproc://second")  # replacing the monitor stops the first
    assert names(events(mon, until="MONITOR_STOPPED")) == ["MONITOR_STOPPED"]
    second = ctx.socket(vmzmq.PAIR)
    second.connect("inproc://second")
    s.close()
    assert names(events(second, until="MONITOR_STOPPED")) == ["MONITOR_STOPPED"]


def test_events_from_many_connections_at_once_arrive_whole(ctx):
    srv = ctx.socket(vmzmq.PULL)
    mon = srv.get_monitor_socket(vmzmq.EVENT_ACCEPTED | vmzmq.EVENT_HANDSHAKE_SUCCEEDED)
    srv.bind("tcp://127.0.0.1:*")
    clients = []
    for _ in range(20):
        c = ctx.socket(vmzmq.PUSH)
        c.connect(srv.last_endpoint.decode())
        clients.append(c)
    got = events(mon, until="HANDSHAKE_SUCCEEDED", count=20)
    got += events(mon, seconds=0.2)  # and no more
    assert names(got).count("ACCEPTED") == 20
    assert names(got).count("HANDSHAKE_SUCCEEDED") == 20


def test_accept_failed_when_out_of_file_descriptors(tmp_path):
    script = textwrap.dedent(
        """
        import os, resource, sys, time
        import vmzmq
        from vmzmq.utils.monitor import recv_monitor_message
        import logging
        logging.getLogger("vmzmq").disabled = True
        ctx = vmzmq.Context()
        s = ctx.socket(vmzmq.PULL)
        mon = s.get_monitor_socket(vmzmq.EVENT_ACCEPT_FAILED)
        s.bind("tcp://127.0.0.1:*")
        used = len(os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (used + 2, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        # Only now: the parent connects when it reads this, and must find the limit set.
        print(s.last_endpoint.decode(), flush=True)
        if mon.poll(60000):
            ev = recv_monitor_message(mon)
            print(ev["event"].name, ev["value"], flush=True)
        os._exit(0)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        endpoint = proc.stdout.readline().strip()
        conns = []
        for _ in range(8):
            try:
                conns.append(socket.create_connection(tcp_addr(endpoint), timeout=2))
            except OSError:
                break
        out, _ = proc.communicate(timeout=90)
    finally:
        proc.kill()
        for c in locals().get("conns", []):
            c.close()
    assert out.split() == ["ACCEPT_FAILED", str(errno.EMFILE)]


# -- the same scenarios through libzmq ------------------------------------------------------------


def run_scenario(lib: Any, scenario: str) -> dict[str, list[tuple[str, Any]]]:
    c = lib.Context()
    try:
        if scenario == "connect":
            srv = c.socket(lib.PULL)
            smon = srv.get_monitor_socket()
            srv.bind("tcp://127.0.0.1:*")
            cli = c.socket(lib.PUSH)
            cmon = cli.get_monitor_socket()
            cli.connect(srv.last_endpoint.decode())
            s_ev = events(smon, until="HANDSHAKE_SUCCEEDED")
            c_ev = events(cmon, until="HANDSHAKE_SUCCEEDED")
            cli.close()
            c_ev += events(cmon, until="MONITOR_STOPPED")  # the last event (both libraries)
            s_ev += events(smon, until="DISCONNECTED")
            srv.unbind(srv.last_endpoint.decode())
            s_ev += events(smon, until="CLOSED")
            srv.close()
            s_ev += events(smon, until="MONITOR_STOPPED")
            return {"server": shape(s_ev), "client": shape(c_ev)}
        if scenario == "bind_failed":
            a = c.socket(lib.PULL)
            a.bind("tcp://127.0.0.1:*")
            b = c.socket(lib.PULL)
            mon = b.get_monitor_socket(lib.EVENT_BIND_FAILED)
            with pytest.raises(lib.ZMQError):
                b.bind(a.last_endpoint.decode())
            got = events(mon, until="BIND_FAILED") + events(mon, seconds=0.2)
            return {"events": [(n, v) for n, v, _ in got]}
        if scenario == "handshake_timeout":
            srv = c.socket(lib.PULL)
            srv.handshake_ivl = 100
            mon = srv.get_monitor_socket()
            srv.bind("tcp://127.0.0.1:*")
            with socket.create_connection(tcp_addr(srv.last_endpoint.decode())):
                got = events(mon, until="DISCONNECTED")
            return {"events": [n for n, _v, _e in got]}
        raise AssertionError(scenario)
    finally:
        c.destroy(linger=0)


@pytest.mark.parametrize("scenario", ["connect", "bind_failed", "handshake_timeout"])
def test_same_events_as_libzmq(scenario):
    ours = run_scenario(vmzmq, scenario)
    theirs = run_scenario(zmq, scenario)
    if scenario == "connect":
        # libzmq reports CONNECT_DELAYED with EINPROGRESS as its value; vmzmq reports 0.
        for evs in (ours["client"], theirs["client"]):
            evs[:] = [(n, "?" if n == "CONNECT_DELAYED" else v) for n, v in evs]
    assert ours == theirs


def test_monitor_socket_from_another_thread_sees_events(ctx):
    s = ctx.socket(vmzmq.PULL)
    s.monitor("inproc://threaded", vmzmq.EVENT_LISTENING)
    got: list = []
    connected = threading.Event()

    def reader() -> None:
        mon = ctx.socket(vmzmq.PAIR)
        mon.connect("inproc://threaded")  # an inproc connect is attached when it returns
        connected.set()
        got.extend(events(mon, until="LISTENING"))
        mon.close()

    t = threading.Thread(target=reader)
    t.start()
    # The reader connects first: events nobody reads are dropped, as in libzmq.
    assert connected.wait(HANG)
    s.bind("tcp://127.0.0.1:*")
    t.join(HANG)
    assert names(got) == ["LISTENING"]
