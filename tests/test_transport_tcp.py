"""tcp:// transport: parsing, listening, connecting and tuning with real sockets."""

from __future__ import annotations

import errno
import re
import select
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmzmq.constants import PAIR
from vmzmq.error import ZMQError
from vmzmq.options import SocketOptions
from vmzmq.transport import get_transport
from vmzmq.transport.tcp import TcpEndpoint

T = get_transport("tcp")
assert T is not None


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1)")


def options(**values: object) -> SocketOptions:
    opts = SocketOptions(PAIR)
    for name, value in values.items():
        setattr(opts, name, value)
    return opts


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    yield socks
    for s in socks:
        s.close()


def listen(
    listeners: list[socket.socket], address: str, **opts: object
) -> tuple[socket.socket, str]:
    sock, endpoint = T.listen(T.parse_bind("tcp", address), options(**opts))
    listeners.append(sock)
    return sock, endpoint


def wait(sock: socket.socket, *, write: bool, timeout: float = 5.0) -> None:
    r, w, _ = select.select([] if write else [sock], [sock] if write else [], [], timeout)
    assert r or w, "timed out"


def connect_pair(
    listener: socket.socket, address: str, **opts: object
) -> tuple[socket.socket, socket.socket]:
    """Connect like the engine does; return (connecting side, accepted side), both tuned."""
    o = options(**opts)
    client = T.connect(T.parse_connect("tcp", address), o)
    assert not client.getblocking()
    wait(client, write=True)
    assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    T.connected(client, o)
    wait(listener, write=False)
    server, _ = listener.accept()
    T.connected(server, o)
    return client, server


def exchange(a: socket.socket, b: socket.socket) -> None:
    a.send(b"ping")
    wait(b, write=False)
    assert b.recv(16) == b"ping"
    b.send(b"pong")
    wait(a, write=False)
    assert a.recv(16) == b"pong"


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "host", "port"),
    [
        ("*:5555", "*", 5555),
        ("*:*", "*", 0),
        ("*:0", "*", 0),
        ("127.0.0.1:*", "127.0.0.1", 0),
        ("127.0.0.1:65535", "127.0.0.1", 65535),
        ("localhost:05555", "localhost", 5555),
        ("[::1]:*", "::1", 0),
        ("[::]:5555", "::", 5555),
        ("::1:5555", "::1", 5555),  # unbracketed IPv6: the last ':' is the port's
        ("[fe80::1%lo]:5555", "fe80::1%lo", 5555),
        ("my-host_1.example:80", "my-host_1.example", 80),
    ],
)
def test_parse_bind_good(address: str, host: str, port: int) -> None:
    assert T.parse_bind("tcp", address) == TcpEndpoint(host, port)


BAD_BIND = [
    ("5555", "no ':'"),
    (":5555", "empty host"),
    ("*:", "empty port"),
    ("*:65536", "invalid port '65536'"),
    ("*:70000", "invalid port '70000'"),  # libzmq: port 4464
    ("*:-1", "invalid port '-1'"),  # libzmq: port 65535
    ("*:12x", "invalid port '12x'"),  # libzmq: port 12
    ("*:+5", "invalid port"),
    ("*: 5", "invalid port"),
    ("*:abc", "invalid port"),
    ("*:99999999999999999999999999", "invalid port"),
    ("a b:5", "invalid host"),
    ("host/x:5", "invalid host"),
    ("[::1:5555", "brackets"),
    ("::1]:5555", "brackets"),
    ("[]:5555", "brackets"),
    ("[example.com]:5", "not an IPv6 address"),
    ("1:2:3:5", "invalid IPv6 address"),
]


@pytest.mark.parametrize(("address", "words"), BAD_BIND)
def test_parse_bind_bad_is_einval(address: str, words: str) -> None:
    with pytest.raises(ZMQError) as info:
        T.parse_bind("tcp", address)
    assert info.value.errno == errno.EINVAL
    assert f"'tcp://{address}'" in str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("address", "words"),
    [
        # Connect reports a wildcard host before anything else, so use a real host here.
        *((address.replace("*", "h", 1), words) for address, words in BAD_BIND),
        ("*:5555", "connect needs a host"),
        ("127.0.0.1:*", "connect needs a port"),
        ("127.0.0.1:0", "connect needs a port"),
        ("a;b;127.0.0.1:5", "one ';'"),
        (";127.0.0.1:5", "one ';'"),
        ("127.0.0.1:0;127.0.0.1:*", "connect needs a port"),
        ("127.0.0.1;127.0.0.1:5", "no ':'"),
    ],
)
def test_parse_connect_bad_is_einval(address: str, words: str) -> None:
    with pytest.raises(ZMQError) as info:
        T.parse_connect("tcp", address)
    assert info.value.errno == errno.EINVAL
    assert f"'tcp://{address}'" in str(info.value)
    assert words in str(info.value)


@given(st.text(alphabet=st.sampled_from("0123456789*:;[]%.-ab ef"), max_size=30) | st.text())
def test_parser_accepts_or_says_why(address: str) -> None:
    for parse in (T.parse_bind, T.parse_connect):
        try:
            parsed = parse("tcp", address)
        except ZMQError as exc:
            assert exc.errno == errno.EINVAL
            assert f"'tcp://{address}'" in str(exc)
        else:
            assert 0 <= parsed.port <= 65535


def test_parse_connect_good() -> None:
    assert T.parse_connect("tcp", "127.0.0.1:5555") == TcpEndpoint("127.0.0.1", 5555)
    assert T.parse_connect("tcp", "[::1]:1") == TcpEndpoint("::1", 1)
    parsed = T.parse_connect("tcp", "127.0.0.1:0;localhost:5555")
    assert parsed == TcpEndpoint("localhost", 5555, TcpEndpoint("127.0.0.1", 0))
    assert T.parse_connect("tcp", "*:*;h:1").source == TcpEndpoint("*", 0)


def test_connect_endpoint_is_the_text_given() -> None:
    for address in ("localhost:5555", "127.0.0.1:0;127.0.0.1:5555", "[::1]:7"):
        target = T.parse_connect("tcp", address)
        assert T.connect_endpoint("tcp", address, target) == f"tcp://{address}"


def test_unbind_key() -> None:
    assert T.unbind_key("tcp", "*:5555") == "tcp://0.0.0.0:5555"
    assert T.unbind_key("tcp", "*:5555", ipv6=True) == "tcp://[::]:5555"
    assert T.unbind_key("tcp", "0.0.0.0:5555") == "tcp://0.0.0.0:5555"
    assert T.unbind_key("tcp", "localhost:5555") == "tcp://127.0.0.1:5555"
    assert T.unbind_key("tcp", "[::1]:5555") == "tcp://[::1]:5555"
    assert T.unbind_key("tcp", "[::ffff:127.0.0.1]:9") == "tcp://[::ffff:127.0.0.1]:9"
    assert T.unbind_key("tcp", "127.0.0.1:5555", ipv6=True) == "tcp://[::ffff:127.0.0.1]:5555"
    # Unparsable or unresolvable: the text itself, which matches nothing.
    assert T.unbind_key("tcp", "bogus") == "tcp://bogus"
    assert T.unbind_key("tcp", "nonexistent.invalid:5") == "tcp://nonexistent.invalid:5"


# -- listening -------------------------------------------------------------------------------


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("address", "ipv6", "pattern"),
    [
        ("127.0.0.1:*", 0, r"tcp://127\.0\.0\.1:\d+"),
        ("127.0.0.1:0", 0, r"tcp://127\.0\.0\.1:\d+"),
        ("*:*", 0, r"tcp://0\.0\.0\.0:\d+"),
        ("localhost:*", 0, r"tcp://127\.0\.0\.1:\d+"),
        ("*:*", 1, r"tcp://\[::\]:\d+"),
        ("127.0.0.1:*", 1, r"tcp://\[::ffff:127\.0\.0\.1\]:\d+"),  # as libzmq
        pytest.param("[::1]:*", 0, r"tcp://\[::1\]:\d+", marks=needs_ipv6),
        pytest.param("[::1]:*", 1, r"tcp://\[::1\]:\d+", marks=needs_ipv6),
        pytest.param("[::]:*", 0, r"tcp://\[::\]:\d+", marks=needs_ipv6),
    ],
)
def test_listen_last_endpoint(
    listeners: list[socket.socket], address: str, ipv6: int, pattern: str
) -> None:
    sock, endpoint = listen(listeners, address, ipv6=ipv6)
    assert re.fullmatch(pattern, endpoint), endpoint
    assert _port(endpoint) == sock.getsockname()[1] != 0
    assert not sock.getblocking()
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    if sock.getsockname()[0] == "::":
        # Dual-stack; Linux itself makes a socket bound to one IPv6 address v6-only.
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0


def test_listen_fixed_port_and_eaddrinuse(listeners: list[socket.socket]) -> None:
    _sock, endpoint = listen(listeners, "127.0.0.1:*")
    port = _port(endpoint)
    _sock2, endpoint2 = listen(listeners, f"*:{port + 1 if port < 65535 else port - 1}")
    with pytest.raises(ZMQError) as info:
        listen(listeners, f"127.0.0.1:{port}")
    assert info.value.errno == errno.EADDRINUSE
    assert f"'tcp://127.0.0.1:{port}'" in str(info.value)
    assert endpoint2.startswith("tcp://0.0.0.0:")


def test_listen_applies_backlog_and_buffers(listeners: list[socket.socket]) -> None:
    sock, _ = listen(listeners, "127.0.0.1:*", backlog=3, sndbuf=65536, rcvbuf=32768, tos=0x10)
    # Linux doubles the requested size for its bookkeeping.
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 65536
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 32768
    assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0x10


def test_bind_unresolvable_host_is_enodev() -> None:
    with pytest.raises(ZMQError) as info:
        T.listen(T.parse_bind("tcp", "nonexistent.invalid:*"), options())
    assert info.value.errno == errno.ENODEV  # as libzmq
    assert "'nonexistent.invalid'" in str(info.value)


def test_bind_foreign_address_is_eaddrnotavail() -> None:
    with pytest.raises(ZMQError) as info:
        T.listen(T.parse_bind("tcp", "192.0.2.1:*"), options())
    assert info.value.errno == errno.EADDRNOTAVAIL
    assert "'tcp://192.0.2.1:0'" in str(info.value)


def test_unlisten_closes(listeners: list[socket.socket]) -> None:
    sock, endpoint = listen(listeners, "127.0.0.1:*")
    T.unlisten(sock, endpoint)
    assert sock.fileno() == -1


# -- connecting ------------------------------------------------------------------------------


def test_round_trip_ipv4(listeners: list[socket.socket]) -> None:
    listener, endpoint = listen(listeners, "127.0.0.1:*")
    client, server = connect_pair(listener, endpoint[len("tcp://") :])
    with client, server:
        exchange(client, server)
        for s in (client, server):
            assert not s.getblocking()
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert T.peer_address(s) == "127.0.0.1"


def test_round_trip_by_host_name(listeners: list[socket.socket]) -> None:
    listener, endpoint = listen(listeners, "*:*")
    client, server = connect_pair(listener, f"localhost:{_port(endpoint)}")
    with client, server:
        exchange(client, server)


@needs_ipv6
@pytest.mark.parametrize("ipv6", [0, 1])
def test_round_trip_ipv6(listeners: list[socket.socket], ipv6: int) -> None:
    listener, endpoint = listen(listeners, "[::1]:*", ipv6=ipv6)
    client, server = connect_pair(listener, f"[::1]:{_port(endpoint)}", ipv6=ipv6)
    with client, server:
        exchange(client, server)
        assert T.peer_address(server) == "::1"


def test_ipv6_wildcard_accepts_ipv4(listeners: list[socket.socket]) -> None:
    listener, endpoint = listen(listeners, "*:*", ipv6=1)
    assert endpoint.startswith("tcp://[::]:")
    client, server = connect_pair(listener, f"127.0.0.1:{_port(endpoint)}")
    with client, server:
        exchange(client, server)
        assert T.peer_address(server) == "::ffff:127.0.0.1"


def test_connected_applies_keepalive_and_tos(listeners: list[socket.socket]) -> None:
    listener, endpoint = listen(listeners, "127.0.0.1:*")
    client, server = connect_pair(
        listener,
        endpoint[len("tcp://") :],
        tcp_keepalive=1,
        tcp_keepalive_idle=30,
        tcp_keepalive_cnt=4,
        tcp_keepalive_intvl=5,
        tos=0x20,
    )
    with client, server:
        for s in (client, server):
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 5
            assert s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0x20


def test_connected_leaves_keepalive_alone_by_default(listeners: list[socket.socket]) -> None:
    listener, endpoint = listen(listeners, "127.0.0.1:*")
    client, server = connect_pair(listener, endpoint[len("tcp://") :])
    with client, server:
        assert client.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0


def test_connect_applies_buffers_before_connect() -> None:
    sock = T.connect(T.parse_connect("tcp", "127.0.0.1:9"), options(sndbuf=50000, rcvbuf=40000))
    with sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 50000
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 40000


def test_connect_with_source_address(listeners: list[socket.socket]) -> None:
    listener, endpoint = listen(listeners, "127.0.0.1:*")
    client, server = connect_pair(listener, f"127.0.0.1:0;{endpoint[len('tcp://') :]}")
    with client, server:
        assert client.getsockname()[0] == "127.0.0.1"
        exchange(client, server)


def test_refused_connect(listeners: list[socket.socket]) -> None:
    sock, endpoint = listen(listeners, "127.0.0.1:*")
    sock.close()  # nobody listens on that port now
    try:
        client = T.connect(T.parse_connect("tcp", endpoint[len("tcp://") :]), options())
    except ZMQError as exc:  # a kernel may refuse at once
        err = exc.errno
    else:
        with client:
            wait(client, write=True)
            err = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    assert err == errno.ECONNREFUSED
    assert T.is_refusal(err)
    assert not T.is_refusal(errno.ETIMEDOUT)


def test_connect_unresolvable_host_is_ehostunreach() -> None:
    with pytest.raises(ZMQError) as info:
        T.connect(T.parse_connect("tcp", "nonexistent.invalid:5555"), options())
    assert info.value.errno == errno.EHOSTUNREACH
    assert "'nonexistent.invalid'" in str(info.value)


# -- parity with libzmq (through pyzmq, when installed) --------------------------------------


@pytest.mark.interop
@pytest.mark.parametrize(
    ("address", "ipv6"),
    [
        ("127.0.0.1:*", 0),
        ("*:*", 0),
        ("localhost:*", 0),
        ("*:*", 1),
        ("127.0.0.1:*", 1),
        pytest.param("[::1]:*", 1, marks=needs_ipv6),
    ],
)
def test_last_endpoint_matches_libzmq(
    listeners: list[socket.socket], address: str, ipv6: int
) -> None:
    import zmq  # pyzmq, a test dependency: missing, this fails
    ctx = zmq.Context()
    try:
        s = ctx.socket(zmq.PULL)
        s.linger = 0
        s.ipv6 = ipv6
        s.bind(f"tcp://{address}")
        theirs = s.last_endpoint.decode()
        s.close()
    finally:
        ctx.term()
    _sock, ours = listen(listeners, address, ipv6=ipv6)
    assert ours.rsplit(":", 1)[0] == theirs.rsplit(":", 1)[0]


# -- options that reach the kernel, and access control -----------------------------------------


def test_connected_applies_tcp_maxrt(listeners: list[socket.socket]) -> None:
    listener, endpoint = listen(listeners, "127.0.0.1:*")
    client, server = connect_pair(listener, endpoint[len("tcp://") :], tcp_maxrt=2500)
    with client, server:
        for s in (client, server):
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 2500


def test_device_priority_and_busy_poll_before_bind_and_connect(
    listeners: list[socket.socket],
) -> None:
    from vmzmq.options import SO_BUSY_POLL

    opts: dict[str, object] = {"bindtodevice": b"lo", "priority": 2, "busy_poll": 10}
    listener, endpoint = listen(listeners, "127.0.0.1:*", **opts)
    client, server = connect_pair(listener, endpoint[len("tcp://") :], **opts)
    with client, server:
        for s in (listener, client, server):  # accepted sockets inherit the listener's
            device = s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16)
            assert device.rstrip(b"\0") == b"lo"
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY) == 2
            assert s.getsockopt(socket.SOL_SOCKET, SO_BUSY_POLL) == 10


def test_kernel_refusal_is_the_bind_and_connect_error() -> None:
    # SocketOptions.set tries the device when set; a transport still reports the kernel's
    # answer itself (the interface may have gone since).
    nodev = options(bindtodevice=b"vmzmq-nodev0")
    for call in (
        lambda: T.listen(T.parse_bind("tcp", "127.0.0.1:*"), nodev),
        lambda: T.connect(T.parse_connect("tcp", "127.0.0.1:9"), nodev),
    ):
        with pytest.raises(ZMQError) as info:
            call()
        assert info.value.errno == errno.ENODEV
        assert "ZMQ_BINDTODEVICE b'vmzmq-nodev0'" in str(info.value)
        assert "'tcp://127.0.0." in str(info.value)


@pytest.mark.parametrize(
    ("peer", "filters", "admitted"),
    [
        (("127.0.0.1", 5000), [], True),
        (("127.0.0.1", 5000), ["127.0.0.1/32"], True),
        (("127.0.0.1", 5000), ["10.0.0.0/8"], False),
        (("127.0.0.1", 5000), ["10.0.0.0/8", "127.0.0.0/8"], True),
        (("10.200.3.4", 5000), ["10.0.0.0/8"], True),
        (("10.200.3.4", 5000), ["10.200.3.5/32"], False),
        (("10.200.3.4", 5000), ["0.0.0.0/0"], True),
        # IPv4-mapped peers of an IPv6 listener match IPv4 filters, and their IPv6 form.
        (("::ffff:127.0.0.1", 5000, 0, 0), ["127.0.0.1/32"], True),
        (("::ffff:127.0.0.1", 5000, 0, 0), ["::ffff:127.0.0.0/104"], True),
        (("::ffff:127.0.0.1", 5000, 0, 0), ["10.0.0.0/8"], False),
        (("::1", 5000, 0, 0), ["127.0.0.1/32"], False),
        (("::1", 5000, 0, 0), ["::1/128"], True),
        (("fe80::1%lo", 5000, 0, 1), ["fe80::/10"], True),
        (("2001:db8::1", 5000, 0, 0), ["2001:db8::/32"], True),
        (("2001:db8::1", 5000, 0, 0), ["2001:db9::/32"], False),
    ],
)
def test_check_peer_applies_tcp_accept_filter(
    peer: tuple[object, ...], filters: list[str], admitted: bool
) -> None:
    import ipaddress

    opts = options()
    opts.tcp_accept_filter = tuple(ipaddress.ip_network(f) for f in filters)
    with socket.socket() as unused:
        verdict = T.check_peer(unused, peer, opts)
    if admitted:
        assert verdict is None
    else:
        assert verdict is not None and "is not in ZMQ_TCP_ACCEPT_FILTER" in verdict
