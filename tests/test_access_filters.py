"""Access control on bound endpoints, with real sockets: ZMQ_TCP_ACCEPT_FILTER (the peer's
address) and ZMQ_IPC_FILTER_PID / _UID / _GID (the peer's credentials, SO_PEERCRED).

A refused connection is closed before any ZMTP: the listener reports ACCEPT_FAILED (EACCES),
logs the refusal at INFO, and the client never completes a handshake. Waits are event-driven
(monitor events, a received message) with a generous deadline that fails the test.
"""

from __future__ import annotations

import errno
import grp
import logging
import os
import pwd
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import vmzmq as zmq
from child_process import child_env
from vmzmq.constants import Event
from vmzmq.utils.monitor import recv_monitor_message

TIMEOUT = 10.0


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    # Refused clients keep their messages; a socket dropped at the end of a test closes with
    # its own LINGER (before destroy() could override it), which must not wait for them.
    context.setsockopt(zmq.LINGER, 0)
    try:
        yield context
    finally:
        context.destroy(linger=0)


def wait_for_event(mon: zmq.Socket, wanted: Event, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next ``wanted`` event on a monitor socket; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {wanted.name} within {timeout} s (saw {seen})"
        if mon.poll(int(left * 1000) + 1):
            event = recv_monitor_message(mon)
            seen.append(event["event"].name)
            if event["event"] == wanted:
                return event


def drain_events(mon: zmq.Socket) -> list[Event]:
    """The events already queued on a monitor socket (no waiting)."""
    events = []
    while mon.poll(0):
        events.append(recv_monitor_message(mon)["event"])
    return events


def recv(sock: zmq.Socket) -> bytes:
    assert sock.poll(int(TIMEOUT * 1000)), "nothing received in time"
    return sock.recv()


def port_of(sock: zmq.Socket) -> int:
    return int(sock.last_endpoint.decode().rsplit(":", 1)[1])


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "vmzmq"
        and r.levelno == logging.INFO
        and "refused a connection" in r.getMessage()
    ]


def assert_refused(
    server: zmq.Socket, server_mon: zmq.Socket, client: zmq.Socket, client_mon: zmq.Socket
) -> None:
    """The server refused the client: ACCEPT_FAILED (EACCES), no connection kept, and the
    client never completed a handshake."""
    event = wait_for_event(server_mon, Event.ACCEPT_FAILED)
    assert event["value"] == errno.EACCES
    # The refused socket was closed at once: it never became a connection of the server.
    assert not server._core.connections
    # The client saw its connection close (it will retry), never a handshake.
    wait_for_event(client_mon, Event.DISCONNECTED)
    events = drain_events(client_mon) + drain_events(server_mon)
    assert Event.HANDSHAKE_SUCCEEDED not in events
    assert not server.poll(0)


# -- ZMQ_TCP_ACCEPT_FILTER ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters", [[b"127.0.0.1"], [b"10.0.0.0/8", b"127.0.0.0/8"], [b"127.0.0.1/32"], []]
)
def test_tcp_filter_admits_a_matching_peer(ctx: zmq.Context, filters: list[bytes]) -> None:
    server = ctx.socket(zmq.PULL)
    for text in filters:
        server.setsockopt(zmq.TCP_ACCEPT_FILTER, text)
    server.bind("tcp://127.0.0.1:*")
    client = ctx.socket(zmq.PUSH)
    client.connect(server.last_endpoint.decode())
    client.send(b"hello")
    assert recv(server) == b"hello"


@pytest.mark.parametrize(
    "filters", [[b"10.0.0.0/8"], [b"127.0.0.2"], [b"10.1.2.3", b"192.168.0.0/16"]]
)
def test_tcp_filter_refuses_other_peers(
    ctx: zmq.Context, caplog: pytest.LogCaptureFixture, filters: list[bytes]
) -> None:
    caplog.set_level(logging.INFO, logger="vmzmq")
    server = ctx.socket(zmq.PULL)
    for text in filters:
        server.setsockopt(zmq.TCP_ACCEPT_FILTER, text)
    server_mon = server.get_monitor_socket()
    server.bind("tcp://127.0.0.1:*")
    client = ctx.socket(zmq.PUSH)
    client_mon = client.get_monitor_socket()
    client.connect(server.last_endpoint.decode())
    client.send(b"must not arrive")  # queued: PUSH waits for a peer
    assert_refused(server, server_mon, client, client_mon)
    logged = refusals(caplog)
    assert logged and "127.0.0.1 is not in ZMQ_TCP_ACCEPT_FILTER" in logged[0]
    assert server.last_endpoint.decode() in logged[0]


def test_tcp_filter_refused_and_admitted_side_by_side(ctx: zmq.Context) -> None:
    """Two clients of one server, from 127.0.0.1 and 127.0.0.2: only the filtered-in one's
    messages arrive."""
    server = ctx.socket(zmq.PULL)
    server.setsockopt(zmq.TCP_ACCEPT_FILTER, b"127.0.0.2")
    server_mon = server.get_monitor_socket()
    server.bind("tcp://127.0.0.1:*")
    port = port_of(server)
    refused = ctx.socket(zmq.PUSH)
    refused_mon = refused.get_monitor_socket()
    refused.connect(f"tcp://127.0.0.1:{port}")
    refused.send(b"refused")
    assert_refused(server, server_mon, refused, refused_mon)
    admitted = ctx.socket(zmq.PUSH)
    admitted.connect(f"tcp://127.0.0.2:0;127.0.0.1:{port}")  # from source address 127.0.0.2
    for i in range(3):
        admitted.send(b"admitted %d" % i)
    assert [recv(server) for _ in range(3)] == [b"admitted %d" % i for i in range(3)]
    # Still refused on its retries, and nothing of it was ever delivered.
    wait_for_event(server_mon, Event.ACCEPT_FAILED)
    assert not server.poll(0)
    assert len(server._core.connections) == 1
    (conn,) = server._core.connections
    assert conn.sock.getpeername()[0] == "127.0.0.2"


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6")
def test_tcp_filter_matches_ipv4_mapped_peers_on_an_ipv6_listener(ctx: zmq.Context) -> None:
    # An IPv4 client of tcp://[::] is ::ffff:127.0.0.1 to the listener; the IPv4 filter
    # matches it (libzmq compares families and would refuse it).
    server = ctx.socket(zmq.PULL)
    server.setsockopt(zmq.IPV6, 1)
    server.setsockopt(zmq.TCP_ACCEPT_FILTER, b"127.0.0.1")
    server.bind("tcp://*:*")
    assert server.last_endpoint.startswith(b"tcp://[::]:")
    client = ctx.socket(zmq.PUSH)
    client.connect(f"tcp://127.0.0.1:{port_of(server)}")
    client.send(b"mapped")
    assert recv(server) == b"mapped"

    server6 = ctx.socket(zmq.PULL)
    server6.setsockopt(zmq.IPV6, 1)
    server6.setsockopt(zmq.TCP_ACCEPT_FILTER, b"::1")
    server6_mon = server6.get_monitor_socket()
    server6.bind("tcp://*:*")
    port = port_of(server6)
    refused = ctx.socket(zmq.PUSH)
    refused_mon = refused.get_monitor_socket()
    refused.connect(f"tcp://127.0.0.1:{port}")
    assert_refused(server6, server6_mon, refused, refused_mon)
    v6 = ctx.socket(zmq.PUSH)
    v6.setsockopt(zmq.IPV6, 1)
    v6.connect(f"tcp://[::1]:{port}")
    v6.send(b"v6")
    assert recv(server6) == b"v6"


def test_tcp_filter_is_taken_at_bind(ctx: zmq.Context) -> None:
    # As libzmq: a listener keeps the options of its bind; later filters apply to later binds.
    server = ctx.socket(zmq.PULL)
    server.bind("tcp://127.0.0.1:*")
    open_endpoint = server.last_endpoint.decode()
    server.setsockopt(zmq.TCP_ACCEPT_FILTER, b"10.0.0.0/8")
    server_mon = server.get_monitor_socket()
    server.bind("tcp://127.0.0.1:*")
    filtered_endpoint = server.last_endpoint.decode()
    client = ctx.socket(zmq.PUSH)
    client.connect(open_endpoint)
    client.send(b"through the first bind")
    assert recv(server) == b"through the first bind"
    other = ctx.socket(zmq.PUSH)
    other_mon = other.get_monitor_socket()
    other.connect(filtered_endpoint)
    event = wait_for_event(server_mon, Event.ACCEPT_FAILED)
    assert event["endpoint"].decode() == filtered_endpoint
    wait_for_event(other_mon, Event.DISCONNECTED)
    assert Event.HANDSHAKE_SUCCEEDED not in drain_events(other_mon)


# -- ZMQ_IPC_FILTER_PID / _UID / _GID ------------------------------------------------------------


def abstract_endpoint() -> str:
    # Abstract names have no file permissions: a child running as another user can connect.
    return f"ipc://@vmzmq-filter-{uuid.uuid4().hex[:12]}"


OTHER_ID = 0x7FFF_FFF0  # a uid/gid/pid nobody here has


def other_pid() -> int:
    return OTHER_ID if os.getpid() != OTHER_ID else OTHER_ID + 1


def ipc_pair(
    ctx: zmq.Context, filters: dict[int, list[int]]
) -> tuple[zmq.Socket, zmq.Socket, zmq.Socket, zmq.Socket]:
    server = ctx.socket(zmq.PULL)
    for option, values in filters.items():
        for value in values:
            server.setsockopt(option, value)
    server_mon = server.get_monitor_socket()
    server.bind(abstract_endpoint())
    client = ctx.socket(zmq.PUSH)
    client_mon = client.get_monitor_socket()
    client.connect(server.last_endpoint.decode())
    return server, server_mon, client, client_mon


@pytest.mark.parametrize(
    "filters",
    ids=["uid", "pid", "gid", "uid-among-others", "pid-or-other-uid", "none"],
    argvalues=[
        {zmq.IPC_FILTER_UID: [os.getuid()]},
        {zmq.IPC_FILTER_PID: [os.getpid()]},
        {zmq.IPC_FILTER_GID: [os.getgid()]},
        {zmq.IPC_FILTER_UID: [OTHER_ID, os.getuid()]},
        # Any one filter matching admits the peer (libzmq's rule).
        {zmq.IPC_FILTER_PID: [os.getpid()], zmq.IPC_FILTER_UID: [OTHER_ID]},
        {},
    ],
)
def test_ipc_filter_admits_a_matching_peer(ctx: zmq.Context, filters: dict[int, list[int]]) -> None:
    server, _server_mon, client, _client_mon = ipc_pair(ctx, filters)
    client.send(b"hello")
    assert recv(server) == b"hello"


@pytest.mark.parametrize(
    "filters",
    ids=["uid", "pid", "gid", "all-three"],
    argvalues=[
        {zmq.IPC_FILTER_UID: [OTHER_ID]},
        {zmq.IPC_FILTER_PID: [other_pid()]},
        {zmq.IPC_FILTER_GID: [OTHER_ID]},
        {
            zmq.IPC_FILTER_UID: [OTHER_ID],
            zmq.IPC_FILTER_PID: [other_pid()],
            zmq.IPC_FILTER_GID: [OTHER_ID],
        },
    ],
)
def test_ipc_filter_refuses_other_peers(
    ctx: zmq.Context, caplog: pytest.LogCaptureFixture, filters: dict[int, list[int]]
) -> None:
    caplog.set_level(logging.INFO, logger="vmzmq")
    server, server_mon, client, client_mon = ipc_pair(ctx, filters)
    client.send(b"must not arrive")
    assert_refused(server, server_mon, client, client_mon)
    logged = refusals(caplog)
    assert logged, "the refusal was not logged at INFO"
    assert f"peer pid {os.getpid()} uid {os.getuid()} gid {os.getgid()}" in logged[0]


def test_ipc_filter_on_a_path_endpoint(ctx: zmq.Context, endpoint: Any) -> None:
    server = ctx.socket(zmq.PULL)
    server.setsockopt(zmq.IPC_FILTER_UID, OTHER_ID)
    server_mon = server.get_monitor_socket()
    server.bind(endpoint("ipc"))
    client = ctx.socket(zmq.PUSH)
    client_mon = client.get_monitor_socket()
    client.connect(server.last_endpoint.decode())
    assert_refused(server, server_mon, client, client_mon)


# Peers running as other users: a child process that drops to another uid (root only).

CHILD_PUSH = r"""
import sys
import vmzmq as zmq
ctx = zmq.Context()
s = ctx.socket(zmq.PUSH)
s.connect(sys.argv[1])
s.send(sys.argv[2].encode())
s.close(linger=10000)
ctx.term()
"""

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root to run a peer as another user"
)


def python_for(uid: int, gid: int) -> str:
    """A Python >= 3.11 that the user ``uid`` can run (ours may live in root's home)."""
    check = "import sys; sys.exit(sys.version_info < (3, 11))"
    for python in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            done = subprocess.run(
                [python, "-c", check], user=uid, group=gid, extra_groups=[], timeout=TIMEOUT
            )
        except OSError:
            continue
        if done.returncode == 0:
            return python
    pytest.skip(f"no Python >= 3.11 that uid {uid} may run")


def run_child_as(uid: int, gid: int, endpoint: str, text: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [python_for(uid, gid), "-c", CHILD_PUSH, endpoint, text],
        env=child_env(),
        user=uid,
        group=gid,
        extra_groups=[],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _nobody() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user")


@needs_root
def test_ipc_uid_filter_with_a_peer_of_another_user(ctx: zmq.Context) -> None:
    nobody = _nobody()
    server = ctx.socket(zmq.PULL)
    server.setsockopt(zmq.IPC_FILTER_UID, nobody.pw_uid)
    server.bind(abstract_endpoint())
    child = run_child_as(nobody.pw_uid, nobody.pw_gid, server.last_endpoint.decode(), "nobody")
    try:
        assert recv(server) == b"nobody"
    finally:
        child.kill()
        child.wait()
    # Our own uid is not in the filter: a peer of ours is refused.
    mon = server.get_monitor_socket()
    client = ctx.socket(zmq.PUSH)
    client_mon = client.get_monitor_socket()
    client.connect(server.last_endpoint.decode())
    assert_refused(server, mon, client, client_mon)


def _member_of_a_supplementary_group() -> tuple[pwd.struct_passwd, grp.struct_group] | None:
    """A user listed as a member of a group that is not its primary group."""
    for group in grp.getgrall():
        for name in group.gr_mem:
            try:
                user = pwd.getpwnam(name)
            except KeyError:
                continue
            if user.pw_gid != group.gr_gid and user.pw_uid != 0:
                return user, group
    return None


@needs_root
def test_ipc_gid_filter_admits_listed_group_members(ctx: zmq.Context) -> None:
    found = _member_of_a_supplementary_group()
    if found is None:
        pytest.skip("no user is a listed member of a group other than its primary one")
    user, group = found
    server = ctx.socket(zmq.PULL)
    server.setsockopt(zmq.IPC_FILTER_GID, group.gr_gid)
    server.bind(abstract_endpoint())
    # The child runs with its primary gid and no supplementary groups: only the group
    # database's member list can admit it.
    child = run_child_as(user.pw_uid, user.pw_gid, server.last_endpoint.decode(), "member")
    try:
        assert recv(server) == b"member"
    finally:
        child.kill()
        child.wait()
