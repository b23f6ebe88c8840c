"""ipc:// transport: paths, abstract names, wildcards and socket files, with real sockets."""

from __future__ import annotations

import errno
import os
import select
import socket
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import vmzmq
from vmzmq.constants import PAIR
from vmzmq.error import ZMQError
from vmzmq.options import SocketOptions
from vmzmq.transport import get_transport
from vmzmq.transport.ipc import MAX_PATH_BYTES, IpcEndpoint

T = get_transport("ipc")
assert T is not None
OPTS = SocketOptions(PAIR)


@pytest.fixture
def listeners() -> Iterator[list[tuple[socket.socket, str]]]:
    made: list[tuple[socket.socket, str]] = []
    yield made
    for sock, endpoint in made:
        T.unlisten(sock, endpoint)


def listen(made: list[tuple[socket.socket, str]], address: str) -> tuple[socket.socket, str]:
    sock, endpoint = T.listen(T.parse_bind("ipc", address), OPTS)
    made.append((sock, endpoint))
    return sock, endpoint


def wait(sock: socket.socket, *, write: bool) -> None:
    r, w, _ = select.select([] if write else [sock], [sock] if write else [], [], 5.0)
    assert r or w, "timed out"


def round_trip(listener: socket.socket, address: str) -> None:
    client = T.connect(T.parse_connect("ipc", address), OPTS)
    with client:
        assert not client.getblocking()
        wait(client, write=True)
        assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        T.connected(client, OPTS)
        wait(listener, write=False)
        server, _ = listener.accept()
        with server:
            T.connected(server, OPTS)
            assert not server.getblocking()
            client.send(b"ping")
            wait(server, write=False)
            assert server.recv(8) == b"ping"
            assert T.peer_address(server) == "" == T.peer_address(client)


def abstract_name() -> str:
    return f"@vmzmq-test-{uuid.uuid4().hex}"


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["/tmp/x.sock", "rel.sock", "@name", "*", "a" * 107])
def test_parse_bind_good(address: str) -> None:
    assert T.parse_bind("ipc", address) == IpcEndpoint(address)


def test_parse_connect_good() -> None:
    assert T.parse_connect("ipc", "/tmp/x.sock") == IpcEndpoint("/tmp/x.sock")
    assert T.parse_connect("ipc", "@name").sockaddr() == "\0name"
    target = T.parse_connect("ipc", "@name")
    assert T.connect_endpoint("ipc", "@name", target) == "ipc://@name"


@pytest.mark.parametrize(
    ("address", "err", "words"),
    [
        ("@", errno.EINVAL, "empty abstract name"),
        ("a\0b", errno.EINVAL, "NUL"),
        ("a" * 108, errno.ENAMETOOLONG, "108 bytes"),
        ("@" + "b" * 107, errno.ENAMETOOLONG, "108 bytes"),  # '@' is the NUL byte: it counts
        ("/tmp/" + "é" * 52, errno.ENAMETOOLONG, "109 bytes"),  # bytes, not characters
    ],
)
def test_parse_bad(address: str, err: int, words: str) -> None:
    for parse in (T.parse_bind, T.parse_connect):
        with pytest.raises(ZMQError) as info:
            parse("ipc", address)
        assert info.value.errno == err
        assert f"'ipc://{address}'" in str(info.value)
        assert words in str(info.value)


@given(st.text())
def test_parser_accepts_or_says_why(address: str) -> None:
    for parse in (T.parse_bind, T.parse_connect):
        try:
            parsed = parse("ipc", address)
        except ZMQError as exc:
            assert exc.errno in (errno.EINVAL, errno.ENAMETOOLONG)
            assert f"'ipc://{address}'" in str(exc)
        else:
            assert len(os.fsencode(parsed.sockaddr())) <= MAX_PATH_BYTES


def test_too_long_message_names_the_path() -> None:
    with pytest.raises(ZMQError) as info:
        T.parse_bind("ipc", "a" * 200)
    assert "a" * 200 in str(info.value)
    assert str(MAX_PATH_BYTES) in str(info.value)


def test_connect_to_wildcard_is_einval() -> None:
    with pytest.raises(ZMQError) as info:
        T.parse_connect("ipc", "*")
    assert info.value.errno == errno.EINVAL
    assert "'ipc://*'" in str(info.value)


def test_unbind_key_is_exact() -> None:
    assert T.unbind_key("ipc", "*") == "ipc://*"
    assert T.unbind_key("ipc", "rel.sock") == "ipc://rel.sock"


# -- listening and connecting ----------------------------------------------------------------


def test_path_round_trip(listeners: list, tmp_path: Path) -> None:
    path = str(tmp_path / "a.sock")
    sock, endpoint = listen(listeners, path)
    assert endpoint == f"ipc://{path}"
    assert not sock.getblocking()
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    round_trip(sock, path)
    listeners.clear()
    T.unlisten(sock, endpoint)
    assert sock.fileno() == -1
    assert not os.path.exists(path)


def test_relative_path(listeners: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sock, endpoint = listen(listeners, "rel.sock")
    assert endpoint == "ipc://rel.sock"  # as written, like libzmq
    assert (tmp_path / "rel.sock").exists()
    round_trip(sock, "rel.sock")


def test_abstract_round_trip(listeners: list) -> None:
    name = abstract_name()
    sock, endpoint = listen(listeners, name)
    assert endpoint == f"ipc://{name}"
    assert sock.getsockname() == b"\0" + name[1:].encode()
    assert not os.path.exists(name)
    round_trip(sock, name)


def test_abstract_name_in_use(listeners: list) -> None:
    name = abstract_name()
    listen(listeners, name)
    with pytest.raises(ZMQError) as info:
        listen(listeners, name)
    assert info.value.errno == errno.EADDRINUSE
    assert f"'ipc://{name}'" in str(info.value)


def test_wildcard(listeners: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sock, endpoint = listen(listeners, "*")
    path = endpoint[len("ipc://") :]
    directory = os.path.dirname(path)
    assert os.path.dirname(directory) == str(tmp_path)
    assert os.path.basename(path) == "socket"
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700  # private, as libzmq's mkdtemp
    round_trip(sock, path)
    listeners.clear()
    T.unlisten(sock, endpoint)
    assert not os.path.exists(path)
    assert not os.path.exists(directory)


def test_wildcard_twice_gives_two_paths(listeners: list) -> None:
    _, first = listen(listeners, "*")
    _, second = listen(listeners, "*")
    assert first != second


def test_wildcard_in_too_long_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    with pytest.raises(ZMQError) as info:
        T.listen(T.parse_bind("ipc", "*"), OPTS)
    assert info.value.errno == errno.ENAMETOOLONG
    assert str(deep) in str(info.value)
    assert list(deep.iterdir()) == []  # the temporary directory was removed again


def test_stale_socket_file_is_replaced(listeners: list, tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    old = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old.bind(path)
    old.close()  # a crashed program leaves its file behind
    assert os.path.exists(path)
    sock, _ = listen(listeners, path)
    round_trip(sock, path)


def test_live_socket_is_not_stolen(listeners: list, tmp_path: Path) -> None:
    path = str(tmp_path / "live.sock")
    first, _ = listen(listeners, path)
    with pytest.raises(ZMQError) as info:
        listen(listeners, path)
    assert info.value.errno == errno.EADDRINUSE
    assert f"'ipc://{path}'" in str(info.value)
    assert "listening" in str(info.value)
    # The probe that found it alive shows up as a connection closed at once.
    wait(first, write=False)
    probe, _ = first.accept()
    with probe:
        assert probe.recv(1) == b""
    round_trip(first, path)  # still reachable


def test_regular_file_is_not_removed(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("precious")
    with pytest.raises(ZMQError) as info:
        T.listen(T.parse_bind("ipc", str(path)), OPTS)
    assert info.value.errno == errno.EADDRINUSE
    assert "not a socket" in str(info.value)
    assert path.read_text() == "precious"


def test_unlisten_leaves_a_replaced_file(tmp_path: Path) -> None:
    path = tmp_path / "x.sock"
    sock, endpoint = T.listen(T.parse_bind("ipc", str(path)), OPTS)
    path.unlink()
    path.write_text("someone else's")
    T.unlisten(sock, endpoint)
    assert path.read_text() == "someone else's"


def test_bind_in_missing_directory(tmp_path: Path) -> None:
    path = str(tmp_path / "nope" / "x.sock")
    with pytest.raises(ZMQError) as info:
        T.listen(T.parse_bind("ipc", path), OPTS)
    assert info.value.errno == errno.ENOENT
    assert f"'ipc://{path}'" in str(info.value)


def test_connect_to_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.sock")
    with pytest.raises(ZMQError) as info:
        T.connect(T.parse_connect("ipc", path), OPTS)
    assert info.value.errno == errno.ENOENT
    assert f"'ipc://{path}'" in str(info.value)
    assert T.is_refusal(errno.ENOENT)


def test_connect_refused_by_stale_file(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    old = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old.bind(path)
    old.close()
    with pytest.raises(ZMQError) as info:
        T.connect(T.parse_connect("ipc", path), OPTS)
    assert info.value.errno == errno.ECONNREFUSED
    assert T.is_refusal(info.value.errno)
    assert not T.is_refusal(errno.ETIMEDOUT)


@pytest.mark.interop
def test_last_endpoints_match_libzmq(
    listeners: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zmq  # pyzmq, a test dependency: missing, this fails
    monkeypatch.chdir(tmp_path)
    ctx = zmq.Context()
    try:
        for address in ("theirs.sock", str(tmp_path / "theirs2.sock"), abstract_name() + "theirs"):
            s = ctx.socket(zmq.PULL)
            s.linger = 0
            s.bind(f"ipc://{address}")
            theirs = s.last_endpoint.decode()
            s.close()
            ours_address = address.replace("theirs", "ours")
            _, ours = listen(listeners, ours_address)
            assert ours.replace("ours", "theirs") == theirs
    finally:
        ctx.term()


def test_connected_applies_sndbuf_and_rcvbuf(listeners, tmp_path: Path) -> None:
    """ZMQ_SNDBUF/RCVBUF reach ipc connections on both sides (libzmq leaves them at the OS
    default); unset (-1), the OS default stays."""
    listener, endpoint = listen(listeners, str(tmp_path / "buf"))
    opts = SocketOptions(PAIR)
    opts.set(11, 1 << 20)  # ZMQ_SNDBUF
    opts.set(12, 1 << 19)  # ZMQ_RCVBUF
    client = T.connect(T.parse_connect("ipc", endpoint[len("ipc://"):]), opts)
    plain = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with client, plain:
        default = plain.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        wait(client, write=True)
        T.connected(client, opts)
        wait(listener, write=False)
        server, _ = listener.accept()
        with server:
            T.connected(server, opts)
            for sock in (client, server):
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 1 << 20
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 1 << 19
        other = T.connect(T.parse_connect("ipc", endpoint[len("ipc://"):]), OPTS)
        with other:
            wait(other, write=True)
            T.connected(other, OPTS)
            assert other.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == default


def _send_buffer(sock: socket.socket) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


def test_grow_send_buffer_raises_and_never_lowers() -> None:
    a, b = socket.socketpair()
    with a, b:
        before = _send_buffer(a)
        T.grow_send_buffer(a)
        wmem_max = int(Path("/proc/sys/net/core/wmem_max").read_text())
        assert _send_buffer(a) == 2 * min(1 << 20, wmem_max) > before
        b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        larger = _send_buffer(b)
        T.grow_send_buffer(b)
        assert _send_buffer(b) == larger


def _connection_send_buffers(sock: vmzmq.Socket) -> list[int]:
    return [_send_buffer(conn.sock) for conn in sock._core.connections]


@pytest.mark.parametrize("sndbuf", [-1, 300_000])
def test_large_messages_grow_the_send_buffer_unless_sndbuf_is_set(
    tmp_path: Path, sndbuf: int
) -> None:
    """A connection's send buffer grows when it first sends a large message (a unix socket
    never grows it by itself); small messages leave the default, and ZMQ_SNDBUF wins."""
    ctx = vmzmq.Context()
    try:
        push = ctx.socket(vmzmq.PUSH)
        pull = ctx.socket(vmzmq.PULL)
        for s in (push, pull):
            s.linger = 0
            s.rcvtimeo = 5000
        push.sndbuf = sndbuf
        push.bind(f"ipc://{tmp_path}/grow")
        pull.connect(f"ipc://{tmp_path}/grow")
        push.send(b"small")
        assert pull.recv() == b"small"
        small = _connection_send_buffers(push)
        assert len(small) == 1
        push.send(b"x" * (1 << 20))
        assert len(pull.recv()) == 1 << 20
        large = _connection_send_buffers(push)
        plain = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with plain:
            default = _send_buffer(plain)
        if sndbuf < 0:
            assert small == [default]
            assert large[0] > default
        else:
            assert small == large == [2 * sndbuf]
    finally:
        ctx.destroy(linger=0)


# -- ZMQ_IPC_FILTER_* and ZMQ_USE_FD -----------------------------------------------------------

_NOBODY_ID = 0x7FFF_FFF0


@pytest.mark.parametrize(
    ("filters", "admitted"),
    [
        ({}, True),
        ({"ipc_filter_uid": (os.getuid(),)}, True),
        ({"ipc_filter_gid": (os.getgid(),)}, True),
        ({"ipc_filter_pid": (os.getpid(),)}, True),
        ({"ipc_filter_uid": (_NOBODY_ID,), "ipc_filter_pid": (os.getpid(),)}, True),
        ({"ipc_filter_uid": (_NOBODY_ID,)}, False),
        ({"ipc_filter_gid": (_NOBODY_ID,)}, False),
        ({"ipc_filter_pid": (_NOBODY_ID,)}, False),
        ({"ipc_filter_uid": (_NOBODY_ID,), "ipc_filter_gid": (_NOBODY_ID,)}, False),
    ],
)
def test_check_peer_applies_ipc_filters(
    listeners: list, tmp_path: Path, filters: dict[str, tuple[int, ...]], admitted: bool
) -> None:
    listener, endpoint = listen(listeners, str(tmp_path / "filtered"))
    opts = SocketOptions(PAIR)
    for attr, values in filters.items():
        setattr(opts, attr, values)
    client = T.connect(T.parse_connect("ipc", endpoint[len("ipc://") :]), OPTS)
    with client:
        wait(client, write=True)
        wait(listener, write=False)
        server, peer = listener.accept()
        with server:
            verdict = T.check_peer(server, peer, opts)
    if admitted:
        assert verdict is None
    else:
        assert verdict == (
            f"peer pid {os.getpid()} uid {os.getuid()} gid {os.getgid()} passes no "
            "ZMQ_IPC_FILTER_PID/UID/GID"
        )


def test_use_fd_adopts_and_unlisten_leaves_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "adopted")
    made = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    made.bind(path)
    made.listen(4)
    fd = made.detach()
    opts = SocketOptions(PAIR)
    opts.use_fd = fd
    sock, endpoint = T.listen(T.parse_bind("ipc", "ignored"), opts)
    assert sock.fileno() == fd and endpoint == f"ipc://{path}"
    assert not sock.getblocking()
    T.unlisten(sock, endpoint)
    assert os.path.exists(path)  # not ours: libzmq leaves it too
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = "vmzmq-adopted-" + uuid.uuid4().hex[:8]
    abstract.bind("\0" + name)
    abstract.listen(4)
    opts.use_fd = abstract.detach()
    sock, endpoint = T.listen(T.parse_bind("ipc", "ignored"), opts)
    assert endpoint == f"ipc://@{name}"
    T.unlisten(sock, endpoint)
