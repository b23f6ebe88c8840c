"""Socket options that reach the kernel's sockets, seen on the sockets themselves: TCP_MAXRT
(TCP_USER_TIMEOUT), TOS (IP_TOS / IPV6_TCLASS), PRIORITY (SO_PRIORITY), BINDTODEVICE
(SO_BINDTODEVICE), BUSY_POLL (SO_BUSY_POLL), and USE_FD (a bind adopts a listening socket).
The connections' kernel sockets are found through the engine (``sock._core.connections``)."""

from __future__ import annotations

import errno
import os
import pwd
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

import vmzmq as zmq
from child_process import child_env
from vmzmq.options import SO_BUSY_POLL

TIMEOUT = 10.0


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    context.setsockopt(zmq.LINGER, 0)
    try:
        yield context
    finally:
        context.destroy(linger=0)


def connected_pair(
    ctx: zmq.Context, bind: str = "tcp://127.0.0.1:*", **options: object
) -> tuple[zmq.Socket, zmq.Socket]:
    """A PAIR bound and a PAIR connected to it, both with ``options``, after a round trip."""
    server = ctx.socket(zmq.PAIR)
    client = ctx.socket(zmq.PAIR)
    for sock in (server, client):
        for name, value in options.items():
            sock.setsockopt(getattr(zmq, name), value)
    server.bind(bind)
    endpoint = server.last_endpoint.decode()
    if endpoint.startswith("tcp://[::]"):
        endpoint = endpoint.replace("[::]", "[::1]")
    client.connect(endpoint)
    client.send(b"ping")
    assert server.poll(int(TIMEOUT * 1000)) and server.recv() == b"ping"
    server.send(b"pong")
    assert client.poll(int(TIMEOUT * 1000)) and client.recv() == b"pong"
    return server, client


def kernel_socket(sock: zmq.Socket) -> socket.socket:
    """The one stream connection's kernel socket."""
    (conn,) = sock._core.connections
    return conn.sock


def listening_socket(sock: zmq.Socket) -> socket.socket:
    (listener,) = sock._core.listeners.values()
    return listener.sock


# -- TCP_MAXRT -----------------------------------------------------------------------------------


def test_tcp_maxrt_is_tcp_user_timeout_on_both_sides(ctx: zmq.Context) -> None:
    server, client = connected_pair(ctx, TCP_MAXRT=4321)
    assert server.getsockopt(zmq.TCP_MAXRT) == 4321
    for sock in (server, client):
        assert kernel_socket(sock).getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 4321


def test_tcp_maxrt_default_leaves_the_kernel_default(ctx: zmq.Context) -> None:
    server, client = connected_pair(ctx)
    for sock in (server, client):
        assert kernel_socket(sock).getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 0


# -- TOS, PRIORITY, BINDTODEVICE, BUSY_POLL --------------------------------------------------


def test_tos_priority_device_and_busy_poll_on_every_tcp_socket(ctx: zmq.Context) -> None:
    server, client = connected_pair(
        ctx, TOS=0x28, PRIORITY=3, BINDTODEVICE=b"lo", BUSY_POLL=20, TCP_MAXRT=1000
    )
    kernel = [kernel_socket(server), kernel_socket(client), listening_socket(server)]
    for s in kernel:
        assert s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0x28
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY) == 3
        device = s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16)
        assert device.rstrip(b"\0") == b"lo"
        assert s.getsockopt(socket.SOL_SOCKET, SO_BUSY_POLL) == 20


def test_defaults_leave_the_kernel_alone(ctx: zmq.Context) -> None:
    server, client = connected_pair(ctx)
    for s in (kernel_socket(server), kernel_socket(client), listening_socket(server)):
        assert s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY) == 0
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16).rstrip(b"\0") == b""
        assert s.getsockopt(socket.SOL_SOCKET, SO_BUSY_POLL) == 0


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6")
def test_tos_is_the_traffic_class_on_ipv6(ctx: zmq.Context) -> None:
    server, client = connected_pair(ctx, "tcp://[::1]:*", IPV6=1, TOS=0xB8)
    for s in (kernel_socket(server), kernel_socket(client)):
        assert s.family == socket.AF_INET6
        assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS) == 0xB8


def test_unknown_device_is_refused_when_set(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    with pytest.raises(zmq.ZMQError) as info:
        sock.setsockopt(zmq.BINDTODEVICE, b"vmzmq-nodev0")
    assert info.value.errno == errno.ENODEV and "BINDTODEVICE" in str(info.value)


# An unprivileged process: the kernel's refusal is a ZMQError when the option is set, and
# at bind and connect when the options reach a transport without SocketOptions.set.
UNPRIVILEGED = r"""
import errno, socket
import vmzmq as zmq
from vmzmq.constants import PAIR
from vmzmq.options import SocketOptions
from vmzmq.transport import get_transport

ctx = zmq.Context()
s = ctx.socket(zmq.PAIR)
# (SO_BUSY_POLL needs CAP_NET_ADMIN on some kernels only, so it is not tried here.)
for option, value, kernel in [(zmq.PRIORITY, 7, "SO_PRIORITY")]:
    try:
        s.setsockopt(option, value)
    except zmq.ZMQError as exc:
        assert exc.errno == errno.EPERM, exc
        assert option.name in str(exc) and kernel in str(exc) and "CAP_NET_ADMIN" in str(exc), exc
        print("set", option.name, "EPERM")
    else:
        raise AssertionError(f"{option.name}={value} was accepted")
s.setsockopt(zmq.PRIORITY, 6)  # 0..6 need no privilege
s.bind("tcp://127.0.0.1:*")
print("bind with PRIORITY 6 ok")

tcp = get_transport("tcp")
opts = SocketOptions(PAIR)
opts.priority = 7  # as if the option had been set while privileged
for what, call in [
    ("bind", lambda: tcp.listen(tcp.parse_bind("tcp", "127.0.0.1:*"), opts)),
    ("connect", lambda: tcp.connect(tcp.parse_connect("tcp", "127.0.0.1:9"), opts)),
]:
    try:
        call()
    except zmq.ZMQError as exc:
        assert exc.errno == errno.EPERM and "ZMQ_TOS/ZMQ_PRIORITY" in str(exc), exc
        print(what, "EPERM")
    else:
        raise AssertionError(f"{what} with PRIORITY 7 worked")
s.close()
ctx.term()
"""


def _cap_net_admin() -> bool:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 12))
    return False


def _python_for(uid: int, gid: int) -> str:
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


def test_privileged_values_fail_without_the_privilege() -> None:
    if os.geteuid() == 0:
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            pytest.skip("no 'nobody' user to drop to")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        python = _python_for(uid, gid)
        as_user: dict[str, object] = {"user": uid, "group": gid, "extra_groups": []}
    elif _cap_net_admin():
        pytest.skip("this process has CAP_NET_ADMIN and cannot drop it")
    else:
        python, as_user = sys.executable, {}
    with tempfile.TemporaryDirectory() as cwd:
        os.chmod(cwd, 0o777)
        done = subprocess.run(
            [python, "-c", UNPRIVILEGED],
            env=child_env(),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            **as_user,  # type: ignore[arg-type]
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == [
        "set PRIORITY EPERM",
        "bind with PRIORITY 6 ok",
        "bind EPERM",
        "connect EPERM",
    ]


# -- USE_FD --------------------------------------------------------------------------------------


def test_use_fd_adopts_a_listening_tcp_socket(ctx: zmq.Context) -> None:
    made = socket.create_server(("127.0.0.1", 0))
    port = made.getsockname()[1]
    fd = made.detach()  # the bind owns it from now on, as in libzmq
    server = ctx.socket(zmq.PULL)
    server.setsockopt(zmq.USE_FD, fd)
    assert server.getsockopt(zmq.USE_FD) == fd
    server.bind("tcp://127.0.0.1:*")  # the address is checked, not used
    assert server.last_endpoint == f"tcp://127.0.0.1:{port}".encode()
    assert listening_socket(server).fileno() == fd
    client = ctx.socket(zmq.PUSH)
    client.connect(f"tcp://127.0.0.1:{port}")
    client.send(b"through the adopted socket")
    assert server.poll(int(TIMEOUT * 1000)) and server.recv() == b"through the adopted socket"
    # A second bind cannot adopt it too.
    with pytest.raises(zmq.ZMQError) as info:
        server.bind("tcp://127.0.0.1:*")
    assert info.value.errno == errno.EADDRINUSE and f"USE_FD {fd}" in str(info.value)
    server.unbind(f"tcp://127.0.0.1:{port}")
    with pytest.raises(OSError):
        os.fstat(fd)  # closed by unbind (unless the number was reused at once)


def test_use_fd_adopts_a_listening_ipc_socket(ctx: zmq.Context) -> None:
    path = os.path.join(tempfile.mkdtemp(prefix="vmzmq-", dir="/tmp"), "sock")
    made = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    made.bind(path)
    made.listen(8)
    server = ctx.socket(zmq.PULL)
    server.setsockopt(zmq.USE_FD, made.detach())
    server.bind("ipc://anything")
    assert server.last_endpoint == f"ipc://{path}".encode()
    client = ctx.socket(zmq.PUSH)
    client.connect(f"ipc://{path}")
    client.send(b"ipc")
    assert server.poll(int(TIMEOUT * 1000)) and server.recv() == b"ipc"
    server.unbind(f"ipc://{path}")
    assert os.path.exists(path)  # the application's file: unbind leaves it, as libzmq
    os.unlink(path)
    os.rmdir(os.path.dirname(path))


def test_use_fd_refuses_what_is_not_a_listening_stream_socket(ctx: zmq.Context) -> None:
    server = ctx.socket(zmq.PULL)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as unlistened,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix,
    ):
        unix.bind("\0vmzmq-use-fd-" + os.urandom(4).hex())
        unix.listen(1)
        for sock, endpoint in [(unlistened, "tcp://127.0.0.1:*"), (unix, "tcp://127.0.0.1:*")]:
            server.setsockopt(zmq.USE_FD, sock.fileno())
            with pytest.raises(zmq.ZMQError) as info:
                server.bind(endpoint)
            assert info.value.errno == errno.EINVAL and "not a listening" in str(info.value)
            os.fstat(sock.fileno())  # still open: it is the application's
        r, w = os.pipe()
        try:
            server.setsockopt(zmq.USE_FD, r)
            with pytest.raises(zmq.ZMQError) as info:
                server.bind("ipc://@x")
            assert info.value.errno == errno.ENOTSOCK
        finally:
            os.close(r)
            os.close(w)


def test_use_fd_is_not_for_vmci() -> None:
    from vmzmq.constants import PAIR
    from vmzmq.options import SocketOptions
    from vmzmq.transport import get_transport

    vmci = get_transport("vmci")
    assert vmci is not None
    opts = SocketOptions(PAIR)
    opts.use_fd = 3
    with pytest.raises(zmq.ZMQError) as info:
        vmci.listen(vmci.parse_bind("vmci", "*:5555"), opts)
    assert info.value.errno == errno.ENOTSUP and "ZMQ_USE_FD" in str(info.value)
