"""vmci:// (and vsock://) transport with real AF_VSOCK sockets.

Parsing needs no kernel support. Tests marked ``vsock`` need AF_VSOCK (``needs_vsock``: binding,
options) or its loopback transport (``needs_loopback``: CID 1, ``vsock_loopback``, to connect
to themselves); the QEMU guest run executes them with ``VMZMQ_REQUIRE_VSOCK=1``, where a
missing AF_VSOCK or loopback fails the test instead of skipping it (``vmci_helpers``); the host
run deselects them (``-m "not vsock"``).

Three tests need what the guest cannot give, AF_VSOCK *without* the loopback transport, or a
route to a CID that never answers (``needs_host_vsock``): they stay in the host run, and skip
on a host without AF_VSOCK.
"""

from __future__ import annotations

import errno
import os
import pwd
import re
import select
import socket
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmci_helpers import require_loopback, require_vsock
from vmzmq import vmci
from vmzmq.constants import PAIR
from vmzmq.error import ZMQError
from vmzmq.options import SocketOptions
from vmzmq.transport import get_transport
from vmzmq.transport import vmci as tv

T = get_transport("vmci")
assert T is not None and get_transport("vsock") is T

ANY = vmci.VMADDR_CID_ANY
PORT_ANY = vmci.VMADDR_PORT_ANY
KIB = 1024
MIB = 1024 * KIB
# A CID nobody has: connects to it go unanswered (or fail at once where no route exists).
UNREACHABLE_CID = 12345


def vsock_loopback_available() -> bool:
    """Whether this kernel can carry vsock connections to itself (CID 1, vsock_loopback)."""
    if not vmci.available():
        return False
    try:
        with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as s:
            s.bind((vmci.VMADDR_CID_LOCAL, PORT_ANY))
    except OSError:
        return False
    return True


def local_cid() -> int | None:
    try:
        return vmci.get_local_cid()
    except ZMQError:
        return None


@pytest.fixture
def _vsock_kernel() -> None:
    require_vsock()  # skips, or fails under VMZMQ_REQUIRE_VSOCK=1


@pytest.fixture
def _vsock_loopback() -> None:
    require_loopback()  # skips, or fails under VMZMQ_REQUIRE_VSOCK=1 (as in the guest run)


def needs_vsock(test: Any) -> Any:
    """AF_VSOCK (any transport): a ``vsock`` test, run in the guest."""
    return pytest.mark.vsock(pytest.mark.usefixtures("_vsock_kernel")(test))


needs_host_vsock = pytest.mark.usefixtures("_vsock_kernel")  # not in the guest: see above
needs_loopback = pytest.mark.usefixtures("_vsock_loopback")
needs_local_cid = pytest.mark.skipif(
    local_cid() is None, reason="the local CID is unknown (no /dev/vsock access or no CID)"
)


def options(**values: int) -> SocketOptions:
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
    made: list[socket.socket], address: str, scheme: str = "vmci", **opts: int
) -> tuple[socket.socket, str]:
    sock, endpoint = T.listen(T.parse_bind(scheme, address), options(**opts))
    made.append(sock)
    return sock, endpoint


def kernel_defaults() -> dict[str, int]:
    with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as s:
        return vmci.read_kernel_options(s)


def wait(sock: socket.socket, *, write: bool, timeout: float = 5.0) -> bool:
    r, w, _ = select.select([] if write else [sock], [sock] if write else [], [], timeout)
    return bool(r or w)


def assert_einval(address: str, words: str, *, bind: bool, scheme: str = "vmci") -> None:
    parse = T.parse_bind if bind else T.parse_connect
    with pytest.raises(ZMQError) as info:
        parse(scheme, address)
    assert info.value.errno == errno.EINVAL, info.value
    assert f"'{scheme}://{address}'" in str(info.value)
    assert words in str(info.value), str(info.value)


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "cid", "port", "text"),
    [
        ("*:5555", ANY, 5555, "vmci://*:5555"),
        ("*:*", ANY, PORT_ANY, "vmci://*:*"),
        ("3:5555", 3, 5555, "vmci://3:5555"),
        ("3:*", 3, PORT_ANY, "vmci://3:*"),
        ("007:05555", 7, 5555, "vmci://7:5555"),
        ("0:0", 0, 0, "vmci://0:0"),
        ("2:4294967294", 2, 4294967294, "vmci://2:4294967294"),
        ("4294967295:4294967295", ANY, PORT_ANY, "vmci://*:*"),  # the numeric ANY values
        ("00000000000000000003:1", 3, 1, "vmci://3:1"),
    ],
)
def test_parse_bind_good(address: str, cid: int, port: int, text: str) -> None:
    parsed = T.parse_bind("vmci", address)
    assert (parsed.cid, parsed.port, parsed.local_cid) == (cid, port, False)
    assert str(parsed) == text


def test_vsock_scheme_is_kept() -> None:
    parsed = T.parse_bind("vsock", "*:5555")
    assert str(parsed) == "vsock://*:5555"
    target = T.parse_connect("vsock", "3:5555")
    assert T.connect_endpoint("vsock", "3:5555", target) == "vsock://3:5555"


MALFORMED = [
    ("5555", "no ':' between the CID and the port"),
    ("*", "no ':'"),
    (":5555", "empty CID"),
    ("3:", "empty port"),
    (":", "empty CID"),
    ("12abc:55x", "invalid CID '12abc'"),  # libzmq: cid 12, port 55
    ("12:55x", "invalid port '55x'"),
    ("abc:5555", "invalid CID 'abc'"),
    ("3:abc", "invalid port 'abc'"),
    ("-2:5555", "invalid CID '-2'"),  # libzmq: EINVAL only on 64-bit longs
    ("3:-5", "invalid port '-5'"),
    ("-1:5555", "spells the wildcard CID as '-1'; write '*'"),
    ("3:-1", "spells the wildcard port as '-1'; write '*'"),
    ("+7:5", "invalid CID '+7'"),  # libzmq: accepted
    (" 7:5", "invalid CID ' 7'"),
    ("7 :5", "invalid CID '7 '"),
    ("7: 5", "invalid port ' 5'"),
    ("7:5 ", "invalid port '5 '"),
    ("-0:5", "invalid CID '-0'"),
    ("0x10:5", "invalid CID '0x10'"),  # libzmq: cid 0
    ("1:2:3", "invalid CID '1:2'"),  # libzmq: cid 1, port 3
    ("\u0663:5", "invalid CID"),  # an Arabic-Indic digit three
    ("\u00b2:5", "invalid CID"),  # superscript two
    ("**:5", "invalid CID '**'"),
    ("@@:5", "invalid CID '@@'"),
    ("3:@", "invalid port '@'"),
    ("4294967296:5", "CID '4294967296' that does not fit in 32 bits"),
    ("3:4294967296", "port '4294967296' that does not fit in 32 bits"),
    ("3:99999999999999999999999999999", "does not fit in 32 bits"),
    ("18446744073709551615:1", "does not fit in 32 bits"),
]


@pytest.mark.parametrize(("address", "words"), MALFORMED)
@pytest.mark.parametrize("scheme", ["vmci", "vsock"])
def test_malformed_bind_is_einval(address: str, words: str, scheme: str) -> None:
    assert_einval(address, words, bind=True, scheme=scheme)


@pytest.mark.parametrize(("address", "words"), MALFORMED)
def test_malformed_connect_is_einval(address: str, words: str) -> None:
    assert_einval(address, words, bind=False)


@pytest.mark.parametrize(
    ("address", "which"),
    [
        ("*:5555", "wildcard CID"),
        ("3:*", "wildcard port"),
        ("*:*", "wildcard CID"),
        ("4294967295:5555", "wildcard CID"),
        ("3:4294967295", "wildcard port"),
    ],
)
def test_connect_needs_concrete_cid_and_port(address: str, which: str) -> None:
    assert_einval(address, "connect needs a CID and a port", bind=False)
    assert_einval(address, which, bind=False)


def test_parse_connect_good() -> None:
    target = T.parse_connect("vmci", "0003:05555")
    assert (target.cid, target.port) == (3, 5555)
    assert T.connect_endpoint("vmci", "0003:05555", target) == "vmci://3:5555"
    host = T.parse_connect("vmci", "2:1024")
    assert T.connect_endpoint("vmci", "2:1024", host) == "vmci://2:1024"


def test_invalid_cid_message_lists_the_choices() -> None:
    with pytest.raises(ZMQError) as bind_info:
        T.parse_bind("vmci", "x:1")
    assert "'*' or '@'" in str(bind_info.value)
    with pytest.raises(ZMQError) as connect_info:
        T.parse_connect("vmci", "x:1")
    assert "'*'" not in str(connect_info.value).split("expected", 1)[1]


@given(st.text(alphabet=st.sampled_from("0123456789*@:-+ x\u0663"), max_size=24) | st.text())
def test_parser_accepts_or_says_why(address: str) -> None:
    for bind in (True, False):
        try:
            parsed = tv.parse_address("vmci", address, bind=bind)
        except ZMQError as exc:
            assert exc.errno in (errno.EINVAL, errno.ENODEV)
            assert f"'vmci://{address}'" in str(exc)
        else:
            assert 0 <= parsed.cid <= 0xFFFFFFFF and 0 <= parsed.port <= 0xFFFFFFFF
            if not bind:
                assert ANY not in (parsed.cid, parsed.port)
            # What we print parses back to the same address.
            again = tv.parse_address("vmci", str(parsed).split("://", 1)[1], bind=bind)
            assert (again.cid, again.port) == (parsed.cid, parsed.port)


@given(st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
def test_format_then_parse(cid: int, port: int) -> None:
    text = tv.format_endpoint("vmci", cid, port)
    parsed = T.parse_bind("vmci", text.split("://", 1)[1])
    assert (parsed.cid, parsed.port) == (cid, port)


def test_unbind_key_is_exact_text() -> None:
    # Registered LAST_ENDPOINTs are getsockname() forms, so wildcard text never matches.
    assert T.unbind_key("vmci", "*:*") == "vmci://*:*"
    assert T.unbind_key("vmci", "@:5555") == "vmci://@:5555"
    assert T.unbind_key("vsock", "007:5") == "vsock://007:5"


def test_is_refusal() -> None:
    assert T.is_refusal(errno.ECONNRESET)  # how Linux reports a refused vsock connect
    assert T.is_refusal(errno.ECONNREFUSED)
    for err in (errno.ETIMEDOUT, errno.ENODEV, errno.ENETUNREACH, errno.EHOSTUNREACH):
        assert not T.is_refusal(err)


def test_no_vsock_message() -> None:
    err = tv.no_vsock_error("vmci://*:5555")
    assert err.errno == errno.EAFNOSUPPORT
    text = str(err)
    assert "'vmci://*:5555'" in text
    assert "no VM sockets" in text
    for module in ("vsock", "vmw_vsock_virtio_transport", "vsock_loopback"):
        assert module in text


def test_constants() -> None:
    assert vmci.VMADDR_CID_ANY == vmci.VMADDR_PORT_ANY == 0xFFFFFFFF
    assert (vmci.VMADDR_CID_HYPERVISOR, vmci.VMADDR_CID_LOCAL, vmci.VMADDR_CID_HOST) == (0, 1, 2)
    assert tv.IOCTL_VM_SOCKETS_GET_LOCAL_CID == 1977
    if hasattr(socket, "IOCTL_VM_SOCKETS_GET_LOCAL_CID"):
        assert socket.IOCTL_VM_SOCKETS_GET_LOCAL_CID == tv.IOCTL_VM_SOCKETS_GET_LOCAL_CID
        assert socket.VMADDR_CID_ANY == vmci.VMADDR_CID_ANY
        assert socket.SO_VM_SOCKETS_BUFFER_MAX_SIZE == tv.SO_VM_SOCKETS_BUFFER_MAX_SIZE


# -- the local CID ('@') ---------------------------------------------------------------------


def test_local_cid_or_enodev() -> None:
    try:
        cid = vmci.get_local_cid()
    except ZMQError as exc:
        assert exc.errno == errno.ENODEV
        assert "local CID" in str(exc)
        with pytest.raises(ZMQError) as info:
            T.parse_bind("vmci", "@:5555")
        assert info.value.errno == errno.ENODEV
        assert "'vmci://@:5555'" in str(info.value) and "'@'" in str(info.value)
    else:
        assert cid not in (ANY, vmci.VMADDR_CID_LOCAL)
        assert T.parse_bind("vmci", "@:5555") == tv.VsockAddress(cid, 5555, "vmci", True)
        target = T.parse_connect("vsock", "@:5555")  # '@' is a concrete CID: fine on connect
        assert T.connect_endpoint("vsock", "@:5555", target) == f"vsock://{cid}:5555"


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0 or not os.path.exists("/dev/vsock"):
        return None
    if os.stat("/dev/vsock").st_mode & 0o006:
        return None  # readable by everybody: no way to be refused
    try:
        return pwd.getpwnam("nobody").pw_name
    except KeyError:
        return None


@pytest.mark.skipif(_unprivileged_user() is None, reason="needs root, 'nobody' and /dev/vsock")
def test_at_without_access_to_dev_vsock_is_enodev() -> None:
    # A real refusal: /dev/vsock is root-only here, so an unprivileged process cannot ask it.
    # The child drops to 'nobody' after fork (no exec), so it needs no access to Python itself.
    user = pwd.getpwnam(_unprivileged_user())
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            try:
                T.parse_bind("vmci", "@:5555")
                report = "no error"
            except ZMQError as exc:
                report = f"{exc.errno == errno.ENODEV} {exc}"
            os.write(write_fd, report.encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        report = pipe.read().decode()
    os.waitpid(pid, 0)
    assert report.startswith("True "), report
    assert "'vmci://@:5555' uses '@'" in report
    assert "/dev/vsock" in report


# -- binding (needs AF_VSOCK) ----------------------------------------------------------------


@needs_vsock
@pytest.mark.parametrize("scheme", ["vmci", "vsock"])
def test_bind_wildcards(listeners: list[socket.socket], scheme: str) -> None:
    sock, endpoint = listen(listeners, "*:*", scheme)
    match = re.fullmatch(rf"{scheme}://\*:(\d+)", endpoint)
    assert match, endpoint
    cid, port = sock.getsockname()
    assert (cid, port) == (ANY, int(match.group(1)))
    assert port not in (PORT_ANY, 0)
    assert not sock.getblocking()
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    # unbind needs this text; "vmci://*:*" is not it.
    assert T.unbind_key(scheme, endpoint.split("://", 1)[1]) == endpoint != f"{scheme}://*:*"


@needs_vsock
@needs_local_cid
@pytest.mark.parametrize("cid_text", ["@", "own"])
def test_bind_local_cid(listeners: list[socket.socket], cid_text: str) -> None:
    cid = vmci.get_local_cid()
    address = f"{cid if cid_text == 'own' else '@'}:*"
    sock, endpoint = listen(listeners, address)
    assert re.fullmatch(rf"vmci://{cid}:\d+", endpoint), endpoint
    assert sock.getsockname()[0] == cid


@needs_vsock
def test_bind_fixed_port_then_eaddrinuse(listeners: list[socket.socket]) -> None:
    _sock, endpoint = listen(listeners, "*:*")
    port = int(endpoint.rsplit(":", 1)[1])
    with pytest.raises(ZMQError) as info:
        listen(listeners, f"*:{port}")
    assert info.value.errno == errno.EADDRINUSE
    assert f"'vmci://*:{port}'" in str(info.value)
    assert "already bound" in str(info.value)


@needs_vsock
def test_bind_same_fixed_text_gives_same_endpoint(listeners: list[socket.socket]) -> None:
    first, endpoint = listen(listeners, "*:*")
    port = int(endpoint.rsplit(":", 1)[1])
    first.close()
    _sock, again = listen(listeners, f"*:{port}")
    assert again == endpoint == f"vmci://*:{port}"


@needs_vsock
def test_bind_foreign_cid_is_eaddrnotavail() -> None:
    with pytest.raises(ZMQError) as info:
        T.listen(T.parse_bind("vmci", f"{UNREACHABLE_CID}:*"), options())
    assert info.value.errno == errno.EADDRNOTAVAIL
    assert f"'vmci://{UNREACHABLE_CID}:*'" in str(info.value)
    assert "not a CID of this machine" in str(info.value)


@needs_host_vsock
@pytest.mark.skipif(vsock_loopback_available(), reason="vsock loopback is loaded here")
def test_bind_loopback_without_module() -> None:
    with pytest.raises(ZMQError) as info:
        T.listen(T.parse_bind("vmci", "1:*"), options())
    assert info.value.errno == errno.EADDRNOTAVAIL
    assert "vsock_loopback" in str(info.value)


# -- options reach the kernel ----------------------------------------------------------------


@needs_vsock
def test_default_options_leave_the_kernel_alone(listeners: list[socket.socket]) -> None:
    sock, _ = listen(listeners, "*:*")
    assert vmci.read_kernel_options(sock) == kernel_defaults()


@needs_vsock
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # All three bounds, applied max -> min -> size.
        (
            {"vmci_buffer_max_size": 2 * MIB, "vmci_buffer_min_size": 4 * KIB,
             "vmci_buffer_size": 1 * MIB},
            {"vmci_buffer_max_size": 2 * MIB, "vmci_buffer_min_size": 4 * KIB,
             "vmci_buffer_size": 1 * MIB},
        ),
        # Only a size above the kernel's max: the max is raised to it.
        ({"vmci_buffer_size": 1 * MIB}, {"vmci_buffer_size": 1 * MIB,
                                         "vmci_buffer_max_size": 1 * MIB}),
        # Only a size below the kernel's min: the min is lowered to it.
        ({"vmci_buffer_size": 64}, {"vmci_buffer_size": 64, "vmci_buffer_min_size": 64}),
        # An explicit max wins over the size: the kernel clamps.
        ({"vmci_buffer_max_size": 512 * KIB, "vmci_buffer_size": 1 * MIB},
         {"vmci_buffer_max_size": 512 * KIB, "vmci_buffer_size": 512 * KIB}),
        # Lowering the max re-clamps the current size.
        ({"vmci_buffer_max_size": 64 * KIB}, {"vmci_buffer_max_size": 64 * KIB,
                                              "vmci_buffer_size": 64 * KIB}),
        ({"vmci_buffer_min_size": 8 * KIB}, {"vmci_buffer_min_size": 8 * KIB}),
    ],
)  # fmt: skip
def test_buffer_options_reach_the_listener(
    listeners: list[socket.socket], given: dict[str, int], expected: dict[str, int]
) -> None:
    sock, _ = listen(listeners, "*:*", **given)
    want = {**kernel_defaults(), **expected}
    assert vmci.read_kernel_options(sock) == want


@needs_vsock
def test_out_of_range_buffer_value_is_einval() -> None:
    # SocketOptions already refuses these; the transport checks again rather than let CPython
    # wrap a negative number into a huge u64.
    opts = types.SimpleNamespace(
        backlog=100,
        vmci_buffer_size=-5,
        vmci_buffer_min_size=0,
        vmci_buffer_max_size=0,
        vmci_connect_timeout=-1,
    )
    with pytest.raises(ZMQError) as info:
        T.listen(T.parse_bind("vmci", "*:*"), opts)
    assert info.value.errno == errno.EINVAL
    assert "ZMQ_VMCI_BUFFER_SIZE" in str(info.value) and "-5" in str(info.value)


@needs_vsock
@pytest.mark.parametrize("ms", [1, 250, 999, 1000, 1500, 2500, 60_000, 3_600_000])
def test_connect_timeout_round_trips(ms: int) -> None:
    # libzmq passes {0, ms * 1000}: the kernel says ERANGE from 1000 ms and libzmq aborts.
    with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as s:
        tv.set_connect_timeout(s, ms, "vmci://test")
        got = vmci.read_kernel_options(s)["vmci_connect_timeout"]
    assert ms <= got <= ms + 10  # the kernel keeps jiffies and rounds up


@needs_vsock
@pytest.mark.parametrize("ms", [0, -1])
def test_connect_timeout_must_be_positive(ms: int) -> None:
    with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as s:
        with pytest.raises(ZMQError) as info:
            tv.set_connect_timeout(s, ms, "vmci://3:5")
    assert info.value.errno == errno.EINVAL
    assert "ZMQ_VMCI_CONNECT_TIMEOUT" in str(info.value) and "'vmci://3:5'" in str(info.value)


def _start_unanswered_connect(opts: SocketOptions) -> socket.socket:
    try:
        return T.connect(T.parse_connect("vmci", f"{UNREACHABLE_CID}:5555"), opts)
    except ZMQError as exc:
        pytest.skip(f"CID {UNREACHABLE_CID} fails at once here ({exc}); no pending connect")


@needs_host_vsock
def test_options_reach_a_connecting_socket() -> None:
    opts = options(
        vmci_buffer_size=1 * MIB, vmci_buffer_min_size=4 * KIB, vmci_connect_timeout=30_000
    )
    sock = _start_unanswered_connect(opts)
    with sock:
        assert not sock.getblocking()
        got = vmci.read_kernel_options(sock)
    assert got["vmci_buffer_size"] == 1 * MIB
    assert got["vmci_buffer_max_size"] == 1 * MIB
    assert got["vmci_buffer_min_size"] == 4 * KIB
    assert 30_000 <= got["vmci_connect_timeout"] <= 30_010


@needs_host_vsock
def test_connect_timeout_governs_the_connect() -> None:
    # Set before connect(), the timeout decides when an unanswered connect gives up (libzmq
    # sets it after the connection exists, where it does nothing). The kernel default is 2 s,
    # so a 3 s timeout shows in a lower bound, which a loaded machine cannot break: with the
    # default the connect would give up after ~2 s.
    started = time.monotonic()
    sock = _start_unanswered_connect(options(vmci_connect_timeout=3000))
    with sock:
        assert wait(sock, write=True, timeout=30.0)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    elapsed = time.monotonic() - started
    if err != errno.ETIMEDOUT:
        pytest.skip(f"CID {UNREACHABLE_CID} answered here: {errno.errorcode.get(err, err)}")
    assert elapsed >= 2.9, elapsed
    assert not T.is_refusal(err)


# -- connections over the loopback transport (CID 1) -----------------------------------------


def _pair(
    listener: socket.socket, endpoint: str, opts: SocketOptions
) -> tuple[socket.socket, socket.socket]:
    scheme, address = endpoint.split("://", 1)
    client = T.connect(T.parse_connect(scheme, address), opts)
    assert wait(client, write=True)
    assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    T.connected(client, opts)
    assert wait(listener, write=False)
    server, _peer = listener.accept()
    T.connected(server, opts)
    return client, server


@pytest.mark.vsock
@needs_loopback
@pytest.mark.parametrize("scheme", ["vmci", "vsock"])
def test_loopback_round_trip(listeners: list[socket.socket], scheme: str) -> None:
    listener, endpoint = listen(listeners, "1:*", scheme)
    assert re.fullmatch(rf"{scheme}://1:\d+", endpoint), endpoint
    client, server = _pair(listener, endpoint, options())
    with client, server:
        for s in (client, server):
            assert not s.getblocking()
            assert T.peer_address(s) == ""
        client.send(b"ping")
        assert wait(server, write=False)
        assert server.recv(8) == b"ping"
        server.send(b"pong")
        assert wait(client, write=False)
        assert client.recv(8) == b"pong"


@pytest.mark.vsock
@needs_loopback
def test_loopback_accepted_socket_inherits_listener_options(
    listeners: list[socket.socket],
) -> None:
    sizes = {
        "vmci_buffer_max_size": 4 * MIB,
        "vmci_buffer_min_size": 16 * KIB,
        "vmci_buffer_size": 2 * MIB,
    }
    listener, endpoint = listen(listeners, "1:*", **sizes)
    client, server = _pair(listener, endpoint, options(vmci_buffer_size=512 * KIB))
    with client, server:
        got = vmci.read_kernel_options(server)
        assert {k: got[k] for k in sizes} == sizes
        assert vmci.read_kernel_options(client)["vmci_buffer_size"] == 512 * KIB


@pytest.mark.vsock
@needs_loopback
def test_loopback_refused_is_econnreset(listeners: list[socket.socket]) -> None:
    listener, endpoint = listen(listeners, "1:*")
    listener.close()  # nobody listens on that port now
    try:
        client = T.connect(T.parse_connect("vmci", endpoint.split("://", 1)[1]), options())
    except ZMQError as exc:
        err = exc.errno
    else:
        with client:
            assert wait(client, write=True)
            err = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    assert err == errno.ECONNRESET  # Linux's way of saying "refused" for vsock
    assert T.is_refusal(err)


@pytest.mark.vsock
@needs_loopback
def test_loopback_large_transfer_with_small_buffers(listeners: list[socket.socket]) -> None:
    # Credit-based flow control must keep a stream going through buffers far smaller than it.
    small = {"vmci_buffer_max_size": 8 * KIB, "vmci_buffer_size": 8 * KIB}
    listener, endpoint = listen(listeners, "1:*", **small)
    client, server = _pair(listener, endpoint, options(**small))
    payload = bytes(range(256)) * 4096  # 1 MiB
    received = bytearray()
    sent = 0
    with client, server:
        deadline = time.monotonic() + 30
        while len(received) < len(payload):
            assert time.monotonic() < deadline, "transfer stalled"
            r, w, _ = select.select([server], [client] if sent < len(payload) else [], [], 1.0)
            try:
                if w:
                    sent += client.send(payload[sent : sent + 64 * KIB])
                if r:
                    received += server.recv(64 * KIB)
            except BlockingIOError:
                pass  # no credit or no data after all: select again
    assert bytes(received) == payload
