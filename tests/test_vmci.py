"""vmzmq over real AF_VSOCK (issue 3, point 7): every test here opens real vsock sockets on
CID 1 through the kernel's loopback transport (``vsock_loopback``).

The project's test command runs them inside a throwaway QEMU guest
(``tools/vsock-guest/run-in-guest``), where the local CID is 1, with
``VMZMQ_REQUIRE_VSOCK=1``: there a missing loopback transport fails every test instead of
skipping it (``vmci_helpers.require_loopback``). The host run deselects them (``-m "not vsock"``);
the parsing, option and error rules that need no loopback are in test_transport_vmci.py.

Facts of Linux VM sockets these tests rely on (and check), found in the guest (kernel 6.1):

* ``IOCTL_VM_SOCKETS_GET_LOCAL_CID`` answers 1 when only ``vsock_loopback`` is loaded;
* a listener bound to ``VMADDR_CID_ANY`` keeps CID ANY in ``getsockname()``; a socket it
  accepts shows CID 1; a *connected client's own address* shows CID ANY (the kernel never
  fills in the local CID of an autobound connecting socket);
* a ``connect()`` to CID ANY, or to a CID no loaded transport serves, fails with ENODEV;
* a ``connect()`` to a port nobody listens on fails with ECONNRESET (not ECONNREFUSED).

Python in the guest is ~15x slower than on the host (TCG), so waits are generous and the big
tests carry their own ``timeout`` marks.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import struct
import threading
import time

import pytest

import vmzmq as zmq
from socket_pairs import PAIRS
from vmci_helpers import (
    IN_GUEST,
    VMADDR_CID_ANY,
    VMADDR_CID_LOCAL,
    VMADDR_PORT_ANY,
    Child,
    Events,
    ZmtpReader,
    command,
    command_name,
    free_port,
    greeting,
    raw_connect_error,
    raw_listener,
    ready,
    require_loopback,
    wait_until,
)
from vmzmq import vmci

pytestmark = pytest.mark.vsock

ANY = VMADDR_CID_ANY
LOCAL = VMADDR_CID_LOCAL
KIB = 1024
MIB = 1024 * KIB
TIMEOUT_MS = 20_000  # a hang becomes Again, not a stuck test (the guest is slow)
# A CID no transport serves in the guest (only vsock_loopback is loaded there).
NOBODY_CID = 12345


@pytest.fixture(autouse=True)
def _vsock_loopback() -> None:
    # Fails (never skips) under VMZMQ_REQUIRE_VSOCK=1, as in the guest run.
    require_loopback()


# -- helpers -------------------------------------------------------------------------------


def sock(ctx: zmq.Context, kind: int, **opts: object) -> zmq.Socket:
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = TIMEOUT_MS
    s.sndtimeo = TIMEOUT_MS
    for name, value in opts.items():
        setattr(s, name, value)
    return s


def bind(s: zmq.Socket, endpoint: str = "vmci://*:*") -> str:
    s.bind(endpoint)
    return s.last_endpoint.decode()


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def reachable(endpoint: str) -> str:
    """What a peer connects to for a bound endpoint: a wildcard CID becomes CID 1."""
    scheme, address = endpoint.split("://", 1)
    cid, port = address.rsplit(":", 1)
    return f"{scheme}://{LOCAL if cid == '*' else cid}:{port}"


def link(binder: zmq.Socket, connecter: zmq.Socket, scheme: str = "vmci") -> str:
    endpoint = bind(binder, f"{scheme}://*:*")
    connecter.connect(reachable(endpoint))
    return endpoint


def connections(s: zmq.Socket) -> list:
    """The engine's live stream connections of a socket (their ``.sock`` is the vsock)."""
    with s._core.lock:
        return list(s._core.connections)


def listener_socket(s: zmq.Socket, endpoint: str) -> socket.socket:
    with s._core.lock:
        return s._core.listeners[endpoint].sock


def buffers(sock_: socket.socket) -> dict[str, int]:
    got = vmci.read_kernel_options(sock_)
    del got["vmci_connect_timeout"]
    return got


def kernel_defaults() -> dict[str, int]:
    with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as s:
        return vmci.read_kernel_options(s)


def raises_errno(err: int, call, *args: object) -> zmq.ZMQError:
    with pytest.raises(zmq.ZMQError) as info:
        call(*args)
    assert info.value.errno == err, (errno.errorcode.get(info.value.errno), str(info.value))
    return info.value


# -- the kernel facts the rest relies on -------------------------------------------------------


def test_vsock_facts_in_this_kernel() -> None:
    """Local CID, addresses of both ends, ENODEV for CID ANY, ECONNRESET for a refusal."""
    assert zmq.has("vmci") and zmq.has("vsock")
    cid = vmci.get_local_cid()
    if IN_GUEST:
        assert cid == LOCAL  # only vsock_loopback is loaded in the guest
    listener = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    with listener:
        listener.bind((ANY, VMADDR_PORT_ANY))
        listener.listen(4)
        lcid, port = listener.getsockname()
        assert lcid == ANY and port not in (0, VMADDR_PORT_ANY)
        with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as client:
            client.settimeout(10)
            client.connect((LOCAL, port))
            own_cid, own_port = client.getsockname()
            assert own_cid == ANY  # a connected client's own address shows CID ANY
            assert client.getpeername() == (LOCAL, port)
            accepted, peer = listener.accept()
            with accepted:
                assert peer == (LOCAL, own_port)
                assert accepted.getsockname() == (LOCAL, port)
        assert raw_connect_error(ANY, port) == errno.ENODEV  # the kernel's answer to CID ANY
        if IN_GUEST:
            assert raw_connect_error(NOBODY_CID, port) == errno.ENODEV
    assert raw_connect_error(LOCAL, port) == errno.ECONNRESET  # refused, Linux-style


# -- every valid socket-type pair over vmci:// --------------------------------------------------


@pytest.mark.parametrize("binder", ["first binds", "second binds"])
@pytest.mark.parametrize("pair", list(PAIRS))
def test_socket_pair_over_vmci(ctx: zmq.Context, pair: str, binder: str) -> None:
    kind_a, kind_b, check, opts_a, opts_b = PAIRS[pair]
    a = sock(ctx, kind_a, **opts_a)
    b = sock(ctx, kind_b, **opts_b)
    if binder == "first binds":
        link(a, b)
    else:
        link(b, a)
    check(a, b)
    # It really went over AF_VSOCK: one vsock stream on each side.
    for s in (a, b):
        (conn,) = connections(s)
        assert conn.sock.family == socket.AF_VSOCK


@pytest.mark.parametrize("pair", ["PAIR-PAIR", "PUB-SUB", "REQ-REP", "DEALER-ROUTER"])
def test_socket_pair_over_vsock_scheme(ctx: zmq.Context, pair: str) -> None:
    kind_a, kind_b, check, opts_a, opts_b = PAIRS[pair]
    a = sock(ctx, kind_a, **opts_a)
    b = sock(ctx, kind_b, **opts_b)
    endpoint = link(a, b, "vsock")
    assert endpoint.startswith("vsock://*:")
    check(a, b)


# -- STREAM with a plain AF_VSOCK peer -------------------------------------------------------


def test_stream_bound_with_a_raw_vsock_client(ctx: zmq.Context) -> None:
    stream = sock(ctx, zmq.STREAM)
    endpoint = bind(stream)
    port = port_of(endpoint)
    with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as peer:
        peer.settimeout(10)
        peer.connect((LOCAL, port))
        peer_cid, peer_port = peer.getsockname()
        assert peer_cid == ANY  # a connected client's own address shows CID ANY
        rid, data = stream.recv_multipart()  # connect notification
        assert data == b"" and len(rid) == 5 and rid[0] == 0
        (conn,) = connections(stream)
        assert conn.sock.getpeername() == (LOCAL, peer_port)
        assert conn.sock.getsockname() == (LOCAL, port)
        peer.sendall(b"hello over vsock")
        got = b""
        while got != b"hello over vsock":
            r, chunk = stream.recv_multipart()
            assert r == rid
            got += chunk
        stream.send_multipart([rid, b"world"])
        assert peer.recv(100) == b"world"
        big = os.urandom(3 * MIB)
        stream.send_multipart([rid, big])
        received = bytearray()
        while len(received) < len(big):
            chunk = peer.recv(1 * MIB)
            assert chunk
            received += chunk
        assert received == big
    assert stream.recv_multipart() == [rid, b""]  # the peer closed: disconnect notification


def test_stream_connects_to_a_raw_vsock_listener(ctx: zmq.Context) -> None:
    listener, port = raw_listener()
    with listener:
        stream = sock(ctx, zmq.STREAM)
        stream.connect(f"vmci://{LOCAL}:{port}")
        assert stream.last_endpoint == f"vmci://{LOCAL}:{port}".encode()
        listener.settimeout(10)
        conn, peer = listener.accept()
        with conn:
            conn.settimeout(10)
            rid, data = stream.recv_multipart()  # connect notification
            assert data == b""
            (engine,) = connections(stream)
            own_cid, own_port = engine.sock.getsockname()
            assert own_cid == ANY and peer == (LOCAL, own_port)
            stream.send_multipart([rid, b"GET /"])
            assert conn.recv(100) == b"GET /"
            conn.sendall(b"200 OK")
            assert stream.recv_multipart() == [rid, b"200 OK"]


# -- addresses of a vmci connection --------------------------------------------------------------


def test_addresses_of_a_vmci_connection(ctx: zmq.Context) -> None:
    router = sock(ctx, zmq.ROUTER)
    dealer = sock(ctx, zmq.DEALER, routing_id=b"d")
    endpoint = link(router, dealer)
    port = port_of(endpoint)
    dealer.send(b"hi")
    frames = router.recv_multipart(copy=False)
    assert [f.bytes for f in frames] == [b"d", b"hi"]
    # The metadata of a vmci connection: no Peer-Address (libzmq gives it for IP peers only).
    assert frames[1].get("Socket-Type") == "DEALER"
    with pytest.raises(zmq.ZMQError) as info:
        frames[1].get("Peer-Address")
    assert info.value.errno == errno.EINVAL
    assert listener_socket(router, endpoint).getsockname() == (ANY, port)
    (client,) = connections(dealer)
    (server,) = connections(router)
    own_cid, own_port = client.sock.getsockname()
    assert own_cid == ANY  # the connecting side's own CID reads as ANY
    assert client.sock.getpeername() == (LOCAL, port)
    assert server.sock.getsockname() == (LOCAL, port)
    assert server.sock.getpeername() == (LOCAL, own_port)


# -- bind, LAST_ENDPOINT, unbind, disconnect ---------------------------------------------


def test_bind_wildcards_last_endpoint_and_unbind(ctx: zmq.Context) -> None:
    pull = sock(ctx, zmq.PULL)
    push = sock(ctx, zmq.PUSH, reconnect_ivl=50)
    push_events = Events(zmq, push)
    endpoint = bind(pull, "vmci://*:*")
    match = re.fullmatch(r"vmci://\*:(\d+)", endpoint)
    assert match, endpoint
    port = int(match.group(1))
    assert port not in (0, VMADDR_PORT_ANY)
    assert pull.getsockopt_string(zmq.LAST_ENDPOINT) == endpoint
    assert listener_socket(pull, endpoint).getsockname() == (ANY, port)
    push.connect(f"vmci://{LOCAL}:{port}")
    push.send(b"one")
    assert pull.recv() == b"one"

    # Only the LAST_ENDPOINT text unbinds (as libzmq): not the wildcard, not another spelling.
    for wrong in ("vmci://*:*", f"vmci://{LOCAL}:{port}", f"vmci://@:{port}", f"vsock://*:{port}"):
        err = raises_errno(errno.ENOENT, pull.unbind, wrong)
        assert wrong in str(err)
    pull.unbind(endpoint)
    assert not pull._core.listeners
    raises_errno(errno.ENOENT, pull.unbind, endpoint)
    # The port is closed now: the kernel refuses connects to it (and unbind dropped the
    # endpoint's connection, so the pusher is back to reconnecting).
    assert raw_connect_error(LOCAL, port) == errno.ECONNRESET
    wait_until(lambda: not connections(pull), what="unbind closing the accepted connection")
    push_events.wait_for("DISCONNECTED")
    push.send(b"two")  # queued for the peer, which is not there
    assert pull.poll(200) == 0

    # The same text binds the same port again, and the pusher finds it.
    again = bind(pull, f"vmci://*:{port}")
    assert again == endpoint
    assert pull.recv() == b"two"
    pull.unbind(f"vmci://*:{port}")  # the same text as LAST_ENDPOINT


def test_bind_explicit_cid_1(ctx: zmq.Context) -> None:
    rep = sock(ctx, zmq.REP)
    endpoint = bind(rep, f"vmci://{LOCAL}:*")
    assert re.fullmatch(rf"vmci://{LOCAL}:\d+", endpoint), endpoint
    assert listener_socket(rep, endpoint).getsockname() == (LOCAL, port_of(endpoint))
    req = sock(ctx, zmq.REQ)
    req.connect(endpoint)
    req.send(b"ping")
    assert rep.recv() == b"ping"
    rep.send(b"pong")
    assert req.recv() == b"pong"
    raises_errno(errno.ENOENT, rep.unbind, f"vmci://{LOCAL}:*")
    rep.unbind(endpoint)


def test_bind_at_is_the_local_cid(ctx: zmq.Context) -> None:
    cid = vmci.get_local_cid()
    if IN_GUEST:
        assert cid == LOCAL
    rep = sock(ctx, zmq.REP)
    endpoint = bind(rep, "vmci://@:*")
    assert re.fullmatch(rf"vmci://{cid}:\d+", endpoint), endpoint
    port = port_of(endpoint)
    assert listener_socket(rep, endpoint).getsockname() == (cid, port)
    for wrong in ("vmci://@:*", f"vmci://@:{port}"):
        raises_errno(errno.ENOENT, rep.unbind, wrong)

    # '@' on connect is a concrete CID; LAST_ENDPOINT prints it resolved, and disconnect
    # takes the text given to connect.
    req = sock(ctx, zmq.REQ)
    req.connect(f"vmci://@:{port}")
    assert req.last_endpoint.decode() == f"vmci://{cid}:{port}"
    req.send(b"ping")
    assert rep.recv() == b"ping"
    rep.send(b"pong")
    assert req.recv() == b"pong"
    (conn,) = connections(req)
    assert conn.sock.getpeername() == (cid, port)
    raises_errno(errno.ENOENT, req.disconnect, f"vmci://{cid}:{port}")
    req.disconnect(f"vmci://@:{port}")
    assert not req._core.connecters
    wait_until(lambda: not connections(req), what="disconnect closing the connection")
    rep.unbind(endpoint)


def test_fixed_port_bind_and_last_endpoint_after_connect(ctx: zmq.Context) -> None:
    port = free_port()
    pull = sock(ctx, zmq.PULL)
    assert bind(pull, f"vmci://*:{port:010d}") == f"vmci://*:{port}"  # leading zeros dropped
    push = sock(ctx, zmq.PUSH)
    push.connect(f"vmci://0001:{port:012d}")
    assert push.last_endpoint.decode() == f"vmci://{LOCAL}:{port}"
    push.send(b"x")
    assert pull.recv() == b"x"
    raises_errno(errno.ENOENT, push.disconnect, f"vmci://{LOCAL}:{port}")
    push.disconnect(f"vmci://0001:{port:012d}")


def test_vsock_scheme_works_the_same(ctx: zmq.Context) -> None:
    rep = sock(ctx, zmq.REP)
    endpoint = bind(rep, "vsock://*:*")
    assert re.fullmatch(r"vsock://\*:\d+", endpoint), endpoint
    port = port_of(endpoint)
    clients = []
    for target in (f"vsock://{LOCAL}:{port}", f"vmci://{LOCAL}:{port}", f"vsock://@:{port}"):
        req = sock(ctx, zmq.REQ)
        req.connect(target)
        scheme = target.split("://")[0]
        assert req.last_endpoint.decode() == f"{scheme}://{LOCAL}:{port}"
        clients.append(req)
    for i, req in enumerate(clients):
        req.send(b"%d" % i)
        assert rep.recv() == b"%d" % i
        rep.send(b"ok %d" % i)
        assert req.recv() == b"ok %d" % i
    at = bind(rep, "vsock://@:*")
    assert re.fullmatch(rf"vsock://{vmci.get_local_cid()}:\d+", at), at
    for wrong in ("vsock://*:*", f"vmci://*:{port}"):
        raises_errno(errno.ENOENT, rep.unbind, wrong)
    rep.unbind(endpoint)
    rep.unbind(at)
    clients[0].disconnect(f"vsock://{LOCAL}:{port}")


# -- errors --------------------------------------------------------------------------------------


MALFORMED = [
    ("5555", "no ':' between the CID and the port"),
    (":5555", "empty CID"),
    ("1:", "empty port"),
    ("12abc:55x", "invalid CID '12abc'"),
    ("1:55x", "invalid port '55x'"),
    ("-2:5555", "invalid CID '-2'"),
    ("1:-5", "invalid port '-5'"),
    ("-1:5555", "spells the wildcard CID as '-1'"),
    ("1:-1", "spells the wildcard port as '-1'"),
    ("+1:5", "invalid CID '+1'"),
    (" 1:5", "invalid CID ' 1'"),
    ("1:5 ", "invalid port '5 '"),
    ("0x1:5", "invalid CID '0x1'"),
    ("1:2:3", "invalid CID '1:2'"),
    ("\u0661:5", "invalid CID"),
    ("@@:5", "invalid CID '@@'"),
    ("1:@", "invalid port '@'"),
    ("4294967296:5", "does not fit in 32 bits"),
    ("1:4294967296", "does not fit in 32 bits"),
    ("1:99999999999999999999999", "does not fit in 32 bits"),
]


@pytest.mark.parametrize(("address", "words"), MALFORMED)
def test_malformed_endpoint_is_einval(ctx: zmq.Context, address: str, words: str) -> None:
    s = sock(ctx, zmq.PAIR)
    for scheme in ("vmci", "vsock"):
        endpoint = f"{scheme}://{address}"
        for call in (s.bind, s.connect):
            err = raises_errno(errno.EINVAL, call, endpoint)
            assert f"'{endpoint}'" in str(err) and words in str(err), str(err)
    assert not s._core.listeners and not s._core.connecters
    # The socket is still fine after all those refusals.
    peer = sock(ctx, zmq.PAIR)
    link(s, peer)
    peer.send(b"still works")
    assert s.recv() == b"still works"


def test_connect_to_cid_any_is_einval_before_the_kernel_says_enodev(ctx: zmq.Context) -> None:
    listener, port = raw_listener()
    with listener:
        # What the kernel would answer...
        assert raw_connect_error(ANY, port) == errno.ENODEV
        # ...vmzmq does not wait for: a wildcard CID or port on connect is a mistake in the
        # endpoint, so it is EINVAL at connect() (stricter than libzmq, which retries forever).
        s = sock(ctx, zmq.DEALER)
        for endpoint, which in [
            (f"vmci://*:{port}", "wildcard CID"),
            (f"vmci://4294967295:{port}", "wildcard CID"),
            (f"vsock://*:{port}", "wildcard CID"),
            ("vmci://1:*", "wildcard port"),
            ("vmci://1:4294967295", "wildcard port"),
            ("vmci://*:*", "wildcard CID"),
        ]:
            err = raises_errno(errno.EINVAL, s.connect, endpoint)
            assert f"'{endpoint}'" in str(err)
            assert "connect needs a CID and a port" in str(err) and which in str(err)
        assert not s._core.connecters


def test_connect_to_a_cid_nobody_serves_is_retried(ctx: zmq.Context) -> None:
    port = free_port()
    if IN_GUEST:
        assert raw_connect_error(NOBODY_CID, port) == errno.ENODEV
    s = sock(ctx, zmq.DEALER, reconnect_ivl=20)
    events = Events(zmq, s)
    s.connect(f"vmci://{NOBODY_CID}:{port}")  # asynchronous: no error here
    assert s.last_endpoint.decode() == f"vmci://{NOBODY_CID}:{port}"
    events.wait_for("CONNECT_RETRIED", 3)
    assert not {"CONNECTED", "DISCONNECTED"} & set(events.names())
    s.send(b"x", zmq.DONTWAIT)  # queued for the peer that may yet appear (no IMMEDIATE)
    immediate = sock(ctx, zmq.DEALER, reconnect_ivl=20, immediate=1)
    immediate.connect(f"vmci://{NOBODY_CID}:{port}")
    with pytest.raises(zmq.Again):
        immediate.send(b"x", zmq.DONTWAIT)  # with IMMEDIATE: no connected peer, no queue


def test_bind_kernel_errors_name_the_endpoint(ctx: zmq.Context) -> None:
    first = sock(ctx, zmq.PULL)
    port = port_of(bind(first))
    other = sock(ctx, zmq.PULL)
    for endpoint in (f"vmci://*:{port}", f"vmci://{LOCAL}:{port}", f"vsock://@:{port}"):
        err = raises_errno(errno.EADDRINUSE, other.bind, endpoint)
        assert f"'{endpoint}'" in str(err) and "already bound" in str(err), str(err)
    # '@' is named as written, with the CID it stood for.
    assert f"(local CID {vmci.get_local_cid()})" in str(err), str(err)
    err = raises_errno(errno.EADDRNOTAVAIL, other.bind, f"vmci://{NOBODY_CID}:*")
    assert f"'vmci://{NOBODY_CID}:*'" in str(err) and "not a CID of this machine" in str(err)
    assert not other._core.listeners


def _bind_low_port_unprivileged() -> tuple[int, str]:
    ctx = zmq.Context()
    try:
        pull = ctx.socket(zmq.PULL)
        pull.linger = 0
        try:
            pull.bind("vmci://*:80")
        except zmq.ZMQError as exc:
            return exc.errno, str(exc)
        return 0, ""
    finally:
        ctx.destroy(linger=0)


def test_privileged_port_is_eacces() -> None:
    if os.geteuid() != 0:
        err, text = _bind_low_port_unprivileged()
    else:
        # Root may bind port 80: drop to 'nobody' in a forked child (everything is imported).
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                os.close(rfd)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                err, text = _bind_low_port_unprivileged()
                os.write(wfd, f"{err} {text}".encode())
                code = 0
            finally:
                os._exit(code)
        os.close(wfd)
        with os.fdopen(rfd, "rb") as r:
            out = r.read().decode()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, out
        err_text, _, text = out.partition(" ")
        err = int(err_text)
    assert err == errno.EACCES, text
    assert "'vmci://*:80'" in text and "CAP_NET_BIND_SERVICE" in text


# -- the four options, read back from the kernel ------------------------------------------------


def test_options_reach_the_listening_accepted_and_connected_sockets(ctx: zmq.Context) -> None:
    defaults = kernel_defaults()
    server = sock(ctx, zmq.ROUTER)
    server.setsockopt(zmq.VMCI_BUFFER_MAX_SIZE, 4 * MIB)
    server.setsockopt(zmq.VMCI_BUFFER_MIN_SIZE, 16 * KIB)
    server.setsockopt(zmq.VMCI_BUFFER_SIZE, 2 * MIB)
    assert server.getsockopt(zmq.VMCI_BUFFER_MAX_SIZE) == 4 * MIB
    assert server.getsockopt(zmq.VMCI_BUFFER_MIN_SIZE) == 16 * KIB
    assert server.getsockopt(zmq.VMCI_BUFFER_SIZE) == 2 * MIB
    assert server.getsockopt(zmq.VMCI_CONNECT_TIMEOUT) == -1
    server_sizes = {
        "vmci_buffer_size": 2 * MIB,
        "vmci_buffer_min_size": 16 * KIB,
        "vmci_buffer_max_size": 4 * MIB,
    }
    endpoint = bind(server)
    assert buffers(listener_socket(server, endpoint)) == server_sizes

    client = sock(ctx, zmq.DEALER, routing_id=b"c")
    # A lone size above the kernel's max (256 KiB): the max is widened to it.
    client.setsockopt(zmq.VMCI_BUFFER_SIZE, 768 * KIB)
    client.setsockopt(zmq.VMCI_BUFFER_MIN_SIZE, 8 * KIB)
    client.setsockopt(zmq.VMCI_CONNECT_TIMEOUT, 1500)
    assert client.getsockopt(zmq.VMCI_CONNECT_TIMEOUT) == 1500
    client.connect(reachable(endpoint))
    client.send(b"hello")
    assert server.recv_multipart() == [b"c", b"hello"]

    (accepted,) = connections(server)
    (connected,) = connections(client)
    # The accepted socket inherits the listener's buffer settings in the kernel.
    assert buffers(accepted.sock) == server_sizes
    got = vmci.read_kernel_options(connected.sock)
    assert got["vmci_buffer_size"] == 768 * KIB
    assert got["vmci_buffer_max_size"] == 768 * KIB
    assert got["vmci_buffer_min_size"] == 8 * KIB
    assert 1500 <= got["vmci_connect_timeout"] <= 1510  # kept in jiffies: may round up

    # Options affect binds and connects made after they are set, not existing ones.
    server.setsockopt(zmq.VMCI_BUFFER_SIZE, 1 * MIB)
    assert buffers(listener_socket(server, endpoint)) == server_sizes
    second = bind(server)
    assert buffers(listener_socket(server, second)) == {**server_sizes, "vmci_buffer_size": MIB}
    client.setsockopt(zmq.VMCI_CONNECT_TIMEOUT, 250)
    client.setsockopt(zmq.VMCI_BUFFER_SIZE, 64 * KIB)
    # To another ROUTER: a second connection of routing id b"c" to `server` would be refused
    # (and closed under the test's feet).
    other = sock(ctx, zmq.ROUTER)
    client.connect(reachable(bind(other)))
    wait_until(lambda: len(connections(client)) == 2, what="the second connection")
    (newer,) = [c for c in connections(client) if c is not connected]
    got = vmci.read_kernel_options(newer.sock)
    assert got["vmci_buffer_size"] == 64 * KIB
    assert got["vmci_buffer_max_size"] == defaults["vmci_buffer_max_size"]
    assert 250 <= got["vmci_connect_timeout"] <= 260
    assert vmci.read_kernel_options(connected.sock)["vmci_buffer_size"] == 768 * KIB


def test_default_options_leave_the_kernel_alone(ctx: zmq.Context) -> None:
    defaults = kernel_defaults()
    server = sock(ctx, zmq.PULL)
    endpoint = bind(server)
    assert vmci.read_kernel_options(listener_socket(server, endpoint)) == defaults
    client = sock(ctx, zmq.PUSH)
    client.connect(reachable(endpoint))
    client.send(b"x")
    assert server.recv() == b"x"
    (connected,) = connections(client)
    assert vmci.read_kernel_options(connected.sock) == defaults


def test_option_values_the_kernel_refuses_or_clamps(ctx: zmq.Context) -> None:
    s = sock(ctx, zmq.PULL)
    for option in (zmq.VMCI_BUFFER_SIZE, zmq.VMCI_BUFFER_MIN_SIZE, zmq.VMCI_BUFFER_MAX_SIZE):
        raises_errno(errno.EINVAL, s.setsockopt, option, -1)
    raises_errno(errno.EINVAL, s.setsockopt, zmq.VMCI_CONNECT_TIMEOUT, -2)
    # An explicit max below the size: the kernel clamps the size to the max.
    s.setsockopt(zmq.VMCI_BUFFER_MAX_SIZE, 128 * KIB)
    s.setsockopt(zmq.VMCI_BUFFER_SIZE, 1 * MIB)
    endpoint = bind(s)
    got = buffers(listener_socket(s, endpoint))
    assert got["vmci_buffer_max_size"] == got["vmci_buffer_size"] == 128 * KIB


# -- volume: 16 MiB messages, 100k messages, 50 connections ------------------------------------


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "sizes",
    # 64 KiB: credit-based flow control through a window 256 times smaller than the message.
    [{}, {"vmci_buffer_size": 4 * MIB}, {"vmci_buffer_size": 64 * KIB}],
    ids=["default buffers", "4 MiB buffers", "64 KiB buffers"],
)
def test_16_mib_messages(ctx: zmq.Context, sizes: dict[str, int]) -> None:
    a = sock(ctx, zmq.PAIR, **sizes)
    b = sock(ctx, zmq.PAIR, **sizes)
    link(a, b)
    big = os.urandom(16 * MIB + 1)
    other = os.urandom(17 * MIB)
    sender = threading.Thread(target=a.send_multipart, args=([big, b"tail", other],))
    sender.start()
    got = b.recv_multipart(copy=False)
    sender.join(60)
    assert [len(f.bytes) for f in got] == [len(big), 4, len(other)]
    assert got[0].bytes == big and got[1].bytes == b"tail" and got[2].bytes == other
    b.send(big)  # and back the other way
    assert a.recv() == big
    for s in (a, b):
        (conn,) = connections(s)
        if sizes:
            assert (
                vmci.read_kernel_options(conn.sock)["vmci_buffer_size"] == sizes["vmci_buffer_size"]
            )


@pytest.mark.timeout(300)
def test_100k_messages_in_order_without_loss(ctx: zmq.Context) -> None:
    n = 100_000
    push = sock(ctx, zmq.PUSH)
    pull = sock(ctx, zmq.PULL)
    link(pull, push)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            for i in range(n):
                if i % 1000 == 999:
                    push.send_multipart([struct.pack(">I", i), bytes(300)])  # a long frame
                else:
                    push.send(struct.pack(">I", i) + bytes(i % 20))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    for i in range(n):
        parts = pull.recv_multipart()
        if i % 1000 == 999:
            assert parts == [struct.pack(">I", i), bytes(300)]
        else:
            (part,) = parts
            assert part[:4] == struct.pack(">I", i) and len(part) == 4 + i % 20, (i, part[:4])
    sender.join(60)
    assert not errors, errors
    assert pull.poll(100) == 0  # nothing extra


@pytest.mark.timeout(300)
def test_50_concurrent_connections_to_one_bound_socket() -> None:
    contexts = [zmq.Context() for _ in range(5)]  # five I/O threads connect at once
    try:
        router = sock(contexts[0], zmq.ROUTER)
        endpoint = bind(router)
        dealers = []
        for i in range(50):
            d = sock(contexts[i % 5], zmq.DEALER, routing_id=b"d%02d" % i)
            d.connect(reachable(endpoint))
            dealers.append(d)
        for i, d in enumerate(dealers):
            d.send(b"hello %d" % i)
        seen = {}
        for _ in range(50):
            rid, body = router.recv_multipart()
            seen[rid] = body
        assert seen == {b"d%02d" % i: b"hello %d" % i for i in range(50)}
        # All fifty are live at once, each its own vsock stream from its own port.
        served = connections(router)
        assert len(served) == 50
        with router._core.lock:
            assert len(router._core.listeners[endpoint].connections) == 50
        assert len({c.sock.getpeername() for c in served}) == 50
        for i in reversed(range(50)):
            router.send_multipart([b"d%02d" % i, b"reply %d" % i])
        for i, d in enumerate(dealers):
            assert d.recv() == b"reply %d" % i
    finally:
        for c in contexts:
            c.destroy(linger=0)


# -- connection behaviour: refusals, reconnects, IMMEDIATE, heartbeats ---------------------------


def test_refused_connect_is_retried_with_backoff_until_the_peer_binds(ctx: zmq.Context) -> None:
    port = free_port()
    push = sock(ctx, zmq.PUSH, reconnect_ivl=20, reconnect_ivl_max=160)
    events = Events(zmq, push)
    push.connect(f"vmci://{LOCAL}:{port}")  # nobody listens: ECONNRESET, again and again
    push.send(b"early")  # queued (no IMMEDIATE)
    retried = events.wait_for("CONNECT_RETRIED", 6)
    delays = [value for _name, value, _ep in retried]
    assert delays[0] < 40, delays  # RECONNECT_IVL plus a jitter below it
    assert max(delays[:6]) >= 160, delays  # doubled up to RECONNECT_IVL_MAX
    assert all(d < 160 + 20 for d in delays), delays
    # A refusal is not a lost connection.
    assert not {"CONNECTED", "DISCONNECTED"} & set(events.names())
    pull = sock(ctx, zmq.PULL)
    bind(pull, f"vmci://*:{port}")
    assert pull.recv() == b"early"
    events.wait_for("CONNECTED")


def test_reconnect_stop_conn_refused_counts_econnreset_as_refused(ctx: zmq.Context) -> None:
    # Linux refuses a vsock connect with ECONNRESET; the transport's is_refusal() says that
    # means "refused", so RECONNECT_STOP_CONN_REFUSED must stop a vmci connecter as libzmq
    # 4.3.5 stops a refused tcp one: no CONNECT_RETRIED, the endpoint closed and forgotten
    # (disconnect() is then ENOENT).
    port = free_port()
    push = sock(ctx, zmq.PUSH, reconnect_ivl=20)
    push.setsockopt(zmq.RECONNECT_STOP, zmq.RECONNECT_STOP_CONN_REFUSED)
    events = Events(zmq, push)
    endpoint = f"vmci://{LOCAL}:{port}"
    push.connect(endpoint)
    events.wait_for("CLOSED")  # the connecter stopped at the first refusal...
    assert "CONNECT_RETRIED" not in events.names(), events.seen  # ...without a retry first
    raises_errno(errno.ENOENT, push.disconnect, endpoint)
    # and none after it: a window of several RECONNECT_IVLs (20 ms) in which nothing may come
    assert not events.mon.poll(300) and "CONNECT_RETRIED" not in events.names(), events.seen


@pytest.mark.timeout(120)
def test_reconnect_after_the_bound_peer_restarts(ctx: zmq.Context) -> None:
    pull = sock(ctx, zmq.PULL)
    endpoint = bind(pull)
    port = port_of(endpoint)
    push = sock(ctx, zmq.PUSH, reconnect_ivl=50, reconnect_ivl_max=200)
    events = Events(zmq, push)
    push.connect(reachable(endpoint))
    push.send(b"before")
    assert pull.recv() == b"before"
    events.wait_for("CONNECTED")

    pull.close(linger=0)  # the peer goes away...
    events.wait_for("DISCONNECTED")
    assert raw_connect_error(LOCAL, port) == errno.ECONNRESET
    events.wait_for("CONNECT_RETRIED", 3)  # ...and refusals (ECONNRESET) do not stop retries
    for i in range(10):
        push.send(b"while down %d" % i)

    again = sock(ctx, zmq.PULL)  # ...and comes back on the same port
    assert bind(again, f"vmci://*:{port}") == endpoint
    assert [again.recv() for _ in range(10)] == [b"while down %d" % i for i in range(10)]
    push.send(b"after")
    assert again.recv() == b"after"
    events.wait_for("CONNECTED", 2)


CHILD = r"""
import sys
import vmzmq as zmq

mode, endpoint = sys.argv[1], sys.argv[2]
ctx = zmq.Context()
if mode == "rep":
    s = ctx.socket(zmq.REP)
    s.bind(endpoint)
    print("ENDPOINT", s.last_endpoint.decode(), flush=True)
    while True:
        msg = s.recv_multipart()
        s.send_multipart([b"echo", *msg])
        if msg == [b"quit"]:
            break
elif mode == "pull":
    s = ctx.socket(zmq.PULL)
    s.bind(endpoint)
    print("ENDPOINT", s.last_endpoint.decode(), flush=True)
    while True:
        msg = s.recv()
        print("GOT", msg.decode(), flush=True)
elif mode == "push":
    s = ctx.socket(zmq.PUSH)
    s.connect(endpoint)
    print("CONNECTED", s.last_endpoint.decode(), flush=True)
    for i in range(1000):
        s.send(b"%d" % i)
    s.send(b"x" * (4 << 20))
s.close(linger=5000)
ctx.term()
print("DONE", flush=True)
"""


@pytest.mark.timeout(240)
def test_two_processes(ctx: zmq.Context) -> None:
    # A child process serves REP on vmci://*:*; this process asks it.
    with Child(CHILD, "rep", "vmci://*:*") as child:
        endpoint = child.expect("ENDPOINT")
        assert re.fullmatch(r"vmci://\*:\d+", endpoint), endpoint
        req = sock(ctx, zmq.REQ)
        req.connect(reachable(endpoint))
        for i in range(20):
            req.send(b"%d" % i)
            assert req.recv_multipart() == [b"echo", b"%d" % i]
        big = os.urandom(2 * MIB)
        req.send_multipart([big, b""])
        assert req.recv_multipart() == [b"echo", big, b""]
        req.send(b"quit")
        assert req.recv_multipart() == [b"echo", b"quit"]
        child.expect("DONE")
        assert child.wait() == 0, child.stderr
    # And the other way: this process binds, a child connects and pushes.
    pull = sock(ctx, zmq.PULL)
    endpoint = bind(pull)
    with Child(CHILD, "push", reachable(endpoint)) as child:
        assert [pull.recv() for _ in range(1000)] == [b"%d" % i for i in range(1000)]
        assert pull.recv() == b"x" * (4 << 20)
        child.expect("DONE")
        assert child.wait() == 0, child.stderr


@pytest.mark.timeout(240)
def test_reconnect_after_the_peer_process_is_killed_and_restarted(ctx: zmq.Context) -> None:
    push = sock(ctx, zmq.PUSH, reconnect_ivl=100, reconnect_ivl_max=400)
    events = Events(zmq, push)
    with Child(CHILD, "pull", "vmci://*:*") as first:
        endpoint = first.expect("ENDPOINT")
        push.connect(reachable(endpoint))
        push.send(b"one")
        assert first.expect("GOT") == "one"
        first.proc.send_signal(signal.SIGKILL)  # no goodbye: the kernel resets the stream
        first.wait()
    events.wait_for("DISCONNECTED")
    push.send(b"two")  # queued while nobody listens
    with Child(CHILD, "pull", endpoint) as second:  # the same port, a new process
        assert second.expect("ENDPOINT") == endpoint
        assert second.expect("GOT") == "two"
        push.send(b"three")
        assert second.expect("GOT") == "three"


def test_immediate_over_vmci(ctx: zmq.Context) -> None:
    live = sock(ctx, zmq.PULL)
    live_endpoint = bind(live)
    dead_port = free_port()
    push = sock(ctx, zmq.PUSH, immediate=1, reconnect_ivl=50)
    push.connect(f"vmci://{LOCAL}:{dead_port}")
    with pytest.raises(zmq.Again):
        push.send(b"x", zmq.DONTWAIT)  # no connected peer: nothing to queue for
    push.connect(reachable(live_endpoint))
    push.send(b"first")  # blocks until the live peer is connected
    for i in range(10):
        push.send(b"%d" % i)
    assert [live.recv() for _ in range(11)] == [b"first"] + [b"%d" % i for i in range(10)]
    late = sock(ctx, zmq.PULL)
    bind(late, f"vmci://*:{dead_port}")
    assert late.poll(300) == 0  # nothing was queued for it
    wait_until(lambda: len(connections(push)) == 2, what="the late peer's connection")
    wait_until(lambda: all(c.ready for c in connections(push)), what="both handshakes")
    for i in range(10):
        push.send(b"again %d" % i)
    got_live = [live.recv() for _ in range(5)]
    got_late = [late.recv() for _ in range(5)]
    assert sorted(got_live + got_late) == sorted(b"again %d" % i for i in range(10))


def test_without_immediate_messages_wait_for_a_vmci_peer(ctx: zmq.Context) -> None:
    live = sock(ctx, zmq.PULL)
    live_endpoint = bind(live)
    dead_port = free_port()
    push = sock(ctx, zmq.PUSH, reconnect_ivl=50)
    push.connect(f"vmci://{LOCAL}:{dead_port}")
    push.connect(reachable(live_endpoint))
    for i in range(10):
        push.send(b"%d" % i)
    assert [live.recv() for _ in range(5)] == [b"%d" % i for i in range(1, 10, 2)]
    assert live.poll(100) == 0
    late = sock(ctx, zmq.PULL)
    bind(late, f"vmci://*:{dead_port}")
    assert [late.recv() for _ in range(5)] == [b"%d" % i for i in range(0, 10, 2)]


@pytest.mark.timeout(120)
def test_heartbeats_keep_an_idle_vmci_connection(ctx: zmq.Context) -> None:
    # The DEALER pings every 100 ms and asks the ROUTER (which has no heartbeat options) to
    # drop it after 1 s of silence (HEARTBEAT_TTL): the connection survives an idle spell of
    # several TTLs only if PINGs cross the vsock stream (and PONGs come back in time for the
    # DEALER's own HEARTBEAT_TIMEOUT).
    router = sock(ctx, zmq.ROUTER)
    dealer = sock(
        ctx, zmq.DEALER, routing_id=b"d", heartbeat_ivl=100, heartbeat_ttl=1000,
        heartbeat_timeout=2000,
    )  # fmt: skip
    dealer_events = Events(zmq, dealer)
    router_events = Events(zmq, router)
    link(router, dealer)
    dealer.send(b"hello")
    assert router.recv_multipart() == [b"d", b"hello"]
    (conn,) = connections(dealer)
    # The idle spell itself (several TTLs with no messages) is what is tested here: a window
    # in which nothing may happen, not a wait for something.
    time.sleep(3.5)
    assert connections(dealer) == [conn] and not conn.closed
    assert "DISCONNECTED" not in dealer_events.names()
    assert "DISCONNECTED" not in router_events.names()
    assert dealer_events.names().count("CONNECTED") == 1
    router.send_multipart([b"d", b"still here"])
    assert dealer.recv() == b"still here"


@pytest.mark.timeout(120)
def test_heartbeats_cross_vsock_and_drop_a_silent_peer(ctx: zmq.Context) -> None:
    listener, port = raw_listener()
    with listener:
        listener.settimeout(20)
        dealer = sock(
            ctx, zmq.DEALER, heartbeat_ivl=100, heartbeat_ttl=1200, heartbeat_timeout=600,
            reconnect_ivl=50,
        )  # fmt: skip
        events = Events(zmq, dealer)
        dealer.connect(f"vmci://{LOCAL}:{port}")
        conn, _peer = listener.accept()
        with conn:
            conn.sendall(greeting() + ready(b"ROUTER"))
            reader = ZmtpReader(conn)
            theirs = reader.read_greeting()
            # Plain ZMTP 3.x on the vsock stream, exactly as over TCP: no extra framing.
            assert theirs[10] == 3 and theirs[12:32].rstrip(b"\0") == b"NULL", theirs
            is_command, body = reader.read_frame()
            assert is_command and command_name(body) == b"READY"
            # PINGs arrive over the vsock stream, each carrying the TTL in deciseconds.
            pings = 0
            while pings < 3:
                is_command, body = reader.read_frame()
                assert is_command, body
                if command_name(body) == b"PING":
                    pings += 1
                    ttl, context = struct.unpack(">H", body[5:7])[0], body[7:]
                    assert ttl == 12
                    if pings == 1:  # a PONG keeps us alive for one more timeout
                        conn.sendall(command(b"PONG", context))
            # Then silence: the dealer gives up on us (nothing else would drop the peer). The
            # deadline only fails a dealer that never does (its PINGs would keep coming).
            conn.settimeout(20)
            deadline = time.monotonic() + 60
            while True:
                try:
                    data = conn.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                assert time.monotonic() < deadline, "the silent peer was never dropped"
        events.wait_for("DISCONNECTED")
        # ...and reconnects, as after any lost connection.
        again, _peer = listener.accept()
        again.close()


# -- interop ---------------------------------------------------------------------------------


def _relay(tcp_listener: socket.socket, vsock_port: int, stop: threading.Event) -> None:
    """vsock <-> TCP byte relay (what socat VSOCK-CONNECT does): ZMTP passes through as is."""

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    tcp_listener.settimeout(0.2)
    while not stop.is_set():
        try:
            client, _ = tcp_listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        client.settimeout(None)
        vs = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        vs.connect((LOCAL, vsock_port))
        threading.Thread(target=pump, args=(client, vs), daemon=True).start()
        threading.Thread(target=pump, args=(vs, client), daemon=True).start()


@pytest.mark.interop
@pytest.mark.timeout(120)
def test_libzmq_reaches_vmzmq_over_vmci(ctx: zmq.Context) -> None:
    """pyzmq's libzmq has no vmci:// (nor vsock://), so there is no libzmq vmci peer: check
    that, then do what docs/vmci.md tells libzmq users to do, a vsock<->TCP byte relay, and
    talk ZMTP from libzmq over TCP -> relay -> AF_VSOCK -> vmzmq."""
    import zmq as pyzmq  # a test dependency (in the guest too: the venv is the host's)

    if pyzmq.has("vmci") or pyzmq.has("vsock"):  # pragma: no cover - no such wheel today
        peer_scheme = "vsock" if pyzmq.has("vsock") else "vmci"
    else:
        peer_scheme = None
        with pyzmq.Context() as pctx, pctx.socket(pyzmq.PAIR) as probe:
            for scheme in ("vmci", "vsock"):
                with pytest.raises(pyzmq.ZMQError) as info:
                    probe.bind(f"{scheme}://*:*")
                assert info.value.errno == errno.EPROTONOSUPPORT
    rep = sock(ctx, zmq.REP)
    endpoint = bind(rep)
    pctx = pyzmq.Context()
    stop = threading.Event()
    tcp = socket.socket()
    try:
        req = pctx.socket(pyzmq.REQ)
        req.linger = 0
        req.rcvtimeo = TIMEOUT_MS
        if peer_scheme:  # pragma: no cover
            req.connect(reachable(endpoint).replace("vmci", peer_scheme, 1))
        else:
            tcp.bind(("127.0.0.1", 0))
            tcp.listen(4)
            threading.Thread(
                target=_relay, args=(tcp, port_of(endpoint), stop), daemon=True
            ).start()
            req.connect(f"tcp://127.0.0.1:{tcp.getsockname()[1]}")
        for i in range(5):
            req.send_multipart([b"libzmq %d" % i, b""])
            assert rep.recv_multipart() == [b"libzmq %d" % i, b""]
            rep.send(b"vmzmq %d" % i)
            assert req.recv() == b"vmzmq %d" % i
        big = os.urandom(MIB)
        req.send(big)
        assert rep.recv() == big
        rep.send(big[::-1])
        assert req.recv() == big[::-1]
        (conn,) = connections(rep)
        assert conn.sock.family == socket.AF_VSOCK
    finally:
        stop.set()
        tcp.close()
        pctx.destroy(linger=0)
