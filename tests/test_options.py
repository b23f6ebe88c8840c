"""vmzmq.options against libzmq 4.3.5 (through pyzmq): defaults, what is readable and writable
on which socket type, what is accepted, what reads back, and the errors."""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest
import zmq  # pyzmq, a test dependency (the reference): missing, this fails

from vmzmq import constants as C
from vmzmq.error import ZMQError
from vmzmq.options import (
    CONTEXT_OPTION_DEFAULTS,
    CONTEXT_OPTIONS_READ_ONLY,
    CONTEXT_OPTIONS_WRITE_ONLY,
    OPTIONS,
    OPTIONS_BY_NAME,
    REFUSED,
    OptionSpec,
    OptionTypeError,
    SocketOptions,
    check_context_option,
    check_socket_option,
    option_spec,
)

O = C.SocketOption  # noqa: E741
T = C.SocketType

# The socket types the pyzmq wheel can create (no draft API).
STABLE_TYPES = [t for t in T if t <= T.STREAM and t.name not in ("XREQ", "XREP")]

# Options we can read although the pyzmq wheel's libzmq cannot, with the reason.
# The value is libzmq 4.3.5's default from options.cpp (what a full build would report).
READABLE_ONLY_HERE: dict[int, tuple[object, str]] = {
    O.VMCI_BUFFER_SIZE: (0, "vmzmq improvement: libzmq never reads the VMCI options"),
    O.VMCI_BUFFER_MIN_SIZE: (0, "vmzmq improvement: libzmq never reads the VMCI options"),
    O.VMCI_BUFFER_MAX_SIZE: (0, "vmzmq improvement: libzmq never reads the VMCI options"),
    O.VMCI_CONNECT_TIMEOUT: (-1, "vmzmq improvement: libzmq never reads the VMCI options"),
    O.CURVE_PUBLICKEY: (bytes(32), "pyzmq asks with a 255-byte buffer, libzmq wants 32 or 41"),
    O.CURVE_SECRETKEY: (bytes(32), "pyzmq asks with a 255-byte buffer, libzmq wants 32 or 41"),
    O.CURVE_SERVERKEY: (bytes(32), "pyzmq asks with a 255-byte buffer, libzmq wants 32 or 41"),
    O.GSSAPI_SERVER: (0, "the wheel's libzmq is built without GSSAPI"),
    O.GSSAPI_PRINCIPAL: (b"", "the wheel's libzmq is built without GSSAPI"),
    O.GSSAPI_SERVICE_PRINCIPAL: (b"", "the wheel's libzmq is built without GSSAPI"),
    O.GSSAPI_PLAINTEXT: (0, "the wheel's libzmq is built without GSSAPI"),
    O.GSSAPI_PRINCIPAL_NAMETYPE: (0, "the wheel's libzmq is built without GSSAPI"),
    O.GSSAPI_SERVICE_PRINCIPAL_NAMETYPE: (0, "the wheel's libzmq is built without GSSAPI"),
    O.ROUTER_NOTIFY: (0, "draft getter; the wheel has no draft API"),
    O.IN_BATCH_SIZE: (8192, "draft getter; the wheel has no draft API"),
    O.OUT_BATCH_SIZE: (8192, "draft getter; the wheel has no draft API"),
    O.PRIORITY: (0, "draft getter; the wheel has no draft API"),
    O.BUSY_POLL: (0, "draft getter, and libzmq's never reports success (vmzmq fix)"),
    O.NORM_MODE: (1, "the wheel's libzmq is built without NORM"),
    O.NORM_UNICAST_NACK: (0, "the wheel's libzmq is built without NORM"),
    O.NORM_BUFFER_SIZE: (2048, "the wheel's libzmq is built without NORM"),
    O.NORM_SEGMENT_SIZE: (1400, "the wheel's libzmq is built without NORM"),
    O.NORM_BLOCK_SIZE: (16, "the wheel's libzmq is built without NORM"),
    O.NORM_NUM_PARITY: (4, "the wheel's libzmq is built without NORM"),
    O.NORM_NUM_AUTOPARITY: (0, "the wheel's libzmq is built without NORM"),
    O.NORM_PUSH: (0, "the wheel's libzmq is built without NORM"),
}

# Options we accept although the wheel's libzmq rejects them all, with the reason.
WRITABLE_ONLY_HERE: dict[int, str] = {
    O.VMCI_BUFFER_SIZE: "the wheel's libzmq is built without VMCI",
    O.VMCI_BUFFER_MIN_SIZE: "the wheel's libzmq is built without VMCI",
    O.VMCI_BUFFER_MAX_SIZE: "the wheel's libzmq is built without VMCI",
    O.VMCI_CONNECT_TIMEOUT: "the wheel's libzmq is built without VMCI",
    O.GSSAPI_SERVER: "the wheel's libzmq is built without GSSAPI",
    O.GSSAPI_PRINCIPAL: "the wheel's libzmq is built without GSSAPI",
    O.GSSAPI_SERVICE_PRINCIPAL: "the wheel's libzmq is built without GSSAPI",
    O.GSSAPI_PLAINTEXT: "the wheel's libzmq is built without GSSAPI",
    O.GSSAPI_PRINCIPAL_NAMETYPE: "the wheel's libzmq is built without GSSAPI",
    O.GSSAPI_SERVICE_PRINCIPAL_NAMETYPE: "the wheel's libzmq is built without GSSAPI",
    O.ROUTER_NOTIFY: "draft setter; the wheel has no draft API",
    O.IN_BATCH_SIZE: "draft setter; the wheel has no draft API",
    O.OUT_BATCH_SIZE: "draft setter; the wheel has no draft API",
    O.WSS_KEY_PEM: "draft + WSS setter; the wheel has neither",
    O.WSS_CERT_PEM: "draft + WSS setter; the wheel has neither",
    O.WSS_TRUST_PEM: "draft + WSS setter; the wheel has neither",
    O.WSS_HOSTNAME: "draft + WSS setter; the wheel has neither",
    O.WSS_TRUST_SYSTEM: "draft + WSS setter; the wheel has neither",
    O.HELLO_MSG: "draft setter; the wheel has no draft API",
    O.DISCONNECT_MSG: "draft setter; the wheel has no draft API",
    O.HICCUP_MSG: "draft setter; the wheel has no draft API",
    O.PRIORITY: "draft setter; the wheel has no draft API",
    O.BUSY_POLL: "draft setter; the wheel has no draft API",
    O.XSUB_VERBOSE_UNSUBSCRIBE: "draft setter; the wheel has no draft API",
    O.NORM_MODE: "the wheel's libzmq is built without NORM",
    O.NORM_UNICAST_NACK: "the wheel's libzmq is built without NORM",
    O.NORM_BUFFER_SIZE: "the wheel's libzmq is built without NORM",
    O.NORM_SEGMENT_SIZE: "the wheel's libzmq is built without NORM",
    O.NORM_BLOCK_SIZE: "the wheel's libzmq is built without NORM",
    O.NORM_NUM_PARITY: "the wheel's libzmq is built without NORM",
    O.NORM_NUM_AUTOPARITY: "the wheel's libzmq is built without NORM",
    O.NORM_PUSH: "the wheel's libzmq is built without NORM",
}

# Values libzmq accepts and we reject on purpose (EINVAL), with the reason.
STRICTER_HERE: list[tuple[int, int, object, str]] = [
    (T.DEALER, O.MAXMSGSIZE, -2, "below -1 means nothing; libzmq takes any int64"),
    (T.DEALER, O.HEARTBEAT_TTL, -1, "libzmq's ms->ds division turns -99..-1 into 0"),
    (T.DEALER, O.HEARTBEAT_TTL, -99, "libzmq's ms->ds division turns -99..-1 into 0"),
    (T.ROUTER, O.CONNECT_ROUTING_ID, b"x" * 256, "a routing id is 1..255 bytes on the wire"),
    (T.DEALER, O.TOS, 256, "IP_TOS / IPV6_TCLASS are one byte"),
]

# The options we refuse (ENOTSUP) whatever the value, and why (docs/options.md has the table).
EXPECTED_REFUSED = {
    "RATE", "RECOVERY_IVL", "MULTICAST_HOPS", "MULTICAST_MAXTPDU", "MULTICAST_LOOP",
    "ROUTER_RAW", "XPUB_MANUAL_LAST_VALUE", "ONLY_FIRST_SUBSCRIBE", "XSUB_VERBOSE_UNSUBSCRIBE",
    "GSSAPI_SERVER", "GSSAPI_PRINCIPAL", "GSSAPI_SERVICE_PRINCIPAL", "GSSAPI_PLAINTEXT",
    "GSSAPI_PRINCIPAL_NAMETYPE", "GSSAPI_SERVICE_PRINCIPAL_NAMETYPE",
    "SOCKS_PROXY", "SOCKS_USERNAME", "SOCKS_PASSWORD", "LOOPBACK_FASTPATH",
    "IN_BATCH_SIZE", "OUT_BATCH_SIZE", "HELLO_MSG", "DISCONNECT_MSG", "HICCUP_MSG",
    "WSS_KEY_PEM", "WSS_CERT_PEM", "WSS_TRUST_PEM", "WSS_HOSTNAME", "WSS_TRUST_SYSTEM",
    "NORM_MODE", "NORM_UNICAST_NACK", "NORM_BUFFER_SIZE", "NORM_SEGMENT_SIZE", "NORM_BLOCK_SIZE",
    "NORM_NUM_PARITY", "NORM_NUM_AUTOPARITY", "NORM_PUSH",
}  # fmt: skip


def refused_here(option: int, value: object) -> bool:
    """Whether we refuse (ENOTSUP) a value that passes libzmq's checks."""
    if option in REFUSED:
        return True
    if option == O.AFFINITY:  # one I/O thread: 0 (any) or a mask with bit 0
        return isinstance(value, int) and value != 0 and not value & 1
    if option == O.RECONNECT_STOP:  # only RECONNECT_STOP_CONN_REFUSED
        return isinstance(value, int) and bool(value & ~C.RECONNECT_STOP_CONN_REFUSED)
    return False


# Everything vmzmq adds over pyzmq's enum: nothing. HWM is pyzmq's pseudo-option.
NOT_IN_TABLE = {int(O.HWM)}


def param_id(value: object) -> str:
    """Short test ids: enum names, byte strings by length."""
    if isinstance(value, (T, O, C.ContextOption)):
        return value.name
    if isinstance(value, bytes) and len(value) > 12:
        return f"{value[:4]!r}*{len(value)}"
    return repr(value)


@pytest.fixture(scope="module")
def ctx() -> Iterator[Any]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture(scope="module")
def curve_keys() -> tuple[bytes, bytes]:
    if not zmq.has("curve"):
        pytest.skip("pyzmq's libzmq has no CURVE")
    return zmq.curve_keypair()


def sample_value(spec: OptionSpec, curve_keys: tuple[bytes, bytes]) -> object:
    """A value libzmq accepts for ``spec`` (on a socket type that takes it)."""
    if spec.kind in ("int", "int64"):
        default = spec.default if isinstance(spec.default, int) else 1
        lo, hi = spec.minimum, spec.maximum
        if lo is not None and default < lo:
            return lo
        if hi is not None and default > hi:
            return hi
        return default
    special: dict[int, bytes] = {
        O.CURVE_PUBLICKEY: curve_keys[0],
        O.CURVE_SECRETKEY: curve_keys[1],
        O.CURVE_SERVERKEY: curve_keys[0],
        O.TCP_ACCEPT_FILTER: b"127.0.0.1",
        O.METADATA: b"X-Name:value",
        O.BINDTODEVICE: b"lo",
        O.SOCKS_PROXY: b"127.0.0.1:1080",
    }
    return special.get(spec.id, b"sample")


def socket_type_for(spec: OptionSpec) -> int:
    if spec.socket_types is None:
        return T.DEALER
    return min(spec.socket_types)


def libzmq_set(ctx: Any, socket_type: int, option: int, value: object) -> Any:
    """Set on a fresh pyzmq socket; return the socket (closed) or the exception."""
    sock = ctx.socket(socket_type)
    try:
        sock.setsockopt(option, value)
    except Exception as exc:  # ZMQError, or pyzmq's TypeError/OverflowError
        return exc
    finally:
        sock.close(linger=0)
    return None


def ours_set(socket_type: int, option: int, value: object) -> ZMQError | None:
    opts = SocketOptions(socket_type)
    try:
        if option_spec(option).state:
            opts.validate(option, value)
        else:
            opts.set(option, value)
    except ZMQError as exc:
        return exc
    return None


# ---------------------------------------------------------------------------------------------
# The table itself


def test_table_covers_every_pyzmq_option() -> None:
    pyzmq_ids = {int(member) for member in zmq.SocketOption}
    assert set(OPTIONS) == pyzmq_ids - NOT_IN_TABLE
    assert set(OPTIONS_BY_NAME) == set(zmq.SocketOption.__members__) - {"HWM"}
    for name, member in zmq.SocketOption.__members__.items():
        if name == "HWM":
            continue
        spec = OPTIONS_BY_NAME[name]
        assert spec.id == int(member)
        assert OPTIONS[spec.id] is spec
        # Aliases (IDENTITY, CONNECT_RID, ...) share the canonical entry.
        assert spec.name == member.name


def test_kinds_agree_with_pyzmq() -> None:
    expected = {"int": {"int"}, "int64": {"int64"}, "bytes": {"bytes", "str"}, "fd": {"int"}}
    for member in zmq.SocketOption:
        if member == zmq.HWM:
            continue
        assert OPTIONS[member].kind in expected[member._opt_type.value], member.name


def test_specs_are_consistent() -> None:
    for spec in OPTIONS.values():
        assert spec.kind in ("int", "int64", "bytes", "str")
        assert spec.attr == spec.name.lower()
        if spec.minimum is not None and spec.maximum is not None:
            assert spec.minimum <= spec.maximum
        if spec.kind in ("int", "int64") and not spec.accumulate:
            assert isinstance(spec.default, int), spec.name
        if spec.kind in ("bytes", "str") and not spec.accumulate:
            assert isinstance(spec.default, bytes), spec.name
        if spec.state:
            assert not (spec.readable and spec.writable), spec.name
    state = {spec.name for spec in OPTIONS.values() if spec.state}
    assert state == {
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "RCVMORE",
        "FD",
        "EVENTS",
        "TYPE",
        "LAST_ENDPOINT",
        "THREAD_SAFE",
        "TOPICS_COUNT",
    }
    text = {spec.name for spec in OPTIONS.values() if spec.kind == "str"}
    assert {"ZAP_DOMAIN", "PLAIN_USERNAME", "SOCKS_PROXY", "BINDTODEVICE", "LAST_ENDPOINT"} <= text


def test_option_spec_unknown_ids() -> None:
    with pytest.raises(ZMQError) as info:
        option_spec(9999)
    assert info.value.errno == errno.EINVAL
    assert "unknown socket option 9999" in str(info.value)
    # pyzmq's HWM pseudo-option is the socket's business.
    with pytest.raises(ZMQError, match="unknown socket option 1"):
        option_spec(C.HWM)
    assert option_spec(C.IDENTITY) is option_spec(C.ROUTING_ID)


def test_attributes_are_slots_and_annotated() -> None:
    opts = SocketOptions(T.DEALER)
    annotated = set(SocketOptions.__annotations__)
    assert set(SocketOptions.__slots__) == annotated
    assert not hasattr(opts, "__dict__")
    for copy in (opts, opts.copy()):  # every slot filled, by __init__ and by copy
        assert all(hasattr(copy, attr) for attr in annotated)
    for spec in OPTIONS.values():
        if spec.state or spec.refused or not (spec.readable or spec.writable):
            assert spec.attr not in annotated, spec.name
            assert not hasattr(opts, spec.attr), spec.name
            continue
        # Every other option is an attribute (stored, or derived like ipv4only).
        assert hasattr(opts, spec.attr), spec.name


# ---------------------------------------------------------------------------------------------
# Defaults


@pytest.mark.interop
@pytest.mark.parametrize("socket_type", STABLE_TYPES, ids=lambda t: t.name)
def test_defaults_equal_libzmq(ctx: Any, socket_type: int) -> None:
    ours = SocketOptions(socket_type)
    sock = ctx.socket(socket_type)
    try:
        for spec in OPTIONS.values():
            if spec.state or not spec.readable:
                continue
            try:
                theirs = sock.getsockopt(spec.id)
            except zmq.ZMQError as exc:
                assert exc.errno == zmq.EINVAL
                assert spec.id in READABLE_ONLY_HERE, f"libzmq cannot read {spec.name}"
                assert ours.get(spec.id) == READABLE_ONLY_HERE[spec.id][0], spec.name
                continue
            assert spec.id not in READABLE_ONLY_HERE, f"libzmq now reads {spec.name}"
            assert ours.get(spec.id) == theirs, spec.name
            if not spec.refused:
                assert ours.get(spec.id) == getattr(ours, spec.attr)
    finally:
        sock.close(linger=0)


@pytest.mark.interop
@pytest.mark.parametrize("socket_type", STABLE_TYPES, ids=lambda t: t.name)
def test_write_only_options_are_write_only_in_libzmq(ctx: Any, socket_type: int) -> None:
    ours = SocketOptions(socket_type)
    sock = ctx.socket(socket_type)
    try:
        for spec in OPTIONS.values():
            if spec.readable or spec.id == O.TOPICS_COUNT:
                continue
            with pytest.raises(zmq.ZMQError) as theirs:
                sock.getsockopt(spec.id)
            assert theirs.value.errno == zmq.EINVAL
            with pytest.raises(ZMQError) as exc:
                ours.get(spec.id)
            assert exc.value.errno == errno.EINVAL
            assert spec.name in str(exc.value)
    finally:
        sock.close(linger=0)


def test_socket_type_and_context_defaults() -> None:
    assert SocketOptions(T.SUB).linger == 0
    assert SocketOptions(T.XSUB).linger == 0
    assert SocketOptions(T.DISH).linger == 0
    assert SocketOptions(T.PUB).linger == -1
    assert SocketOptions(T.PUB, blocky=False).linger == 0
    opts = SocketOptions(T.DEALER, ipv6=True)
    assert opts.ipv6 == 1 and opts.get(O.IPV4ONLY) == 0
    assert SocketOptions(T.ROUTER).socket_type == T.ROUTER
    # Write-only and type-specific options still have their attribute, at libzmq's default.
    dealer = SocketOptions(T.DEALER)
    assert dealer.router_mandatory == 0 and dealer.stream_notify == 1
    assert dealer.xpub_welcome_msg == b"" and dealer.metadata == ()
    assert dealer.mechanism == C.NULL and dealer.as_server == 0


def test_vmci_defaults() -> None:
    opts = SocketOptions(T.PAIR)
    assert opts.vmci_buffer_size == 0
    assert opts.vmci_buffer_min_size == 0
    assert opts.vmci_buffer_max_size == 0
    assert opts.vmci_connect_timeout == -1
    for option in (O.VMCI_BUFFER_SIZE, O.VMCI_BUFFER_MIN_SIZE, O.VMCI_BUFFER_MAX_SIZE):
        assert OPTIONS[option].kind == "int64"
    assert OPTIONS[O.VMCI_CONNECT_TIMEOUT].kind == "int"


# ---------------------------------------------------------------------------------------------
# Who accepts what


@pytest.mark.interop
@pytest.mark.parametrize("socket_type", STABLE_TYPES, ids=lambda t: t.name)
def test_writability_per_socket_type_equals_libzmq(
    ctx: Any, socket_type: int, curve_keys: tuple[bytes, bytes]
) -> None:
    for spec in OPTIONS.values():
        value = sample_value(spec, curve_keys)
        theirs = libzmq_set(ctx, socket_type, spec.id, value)
        ours = ours_set(socket_type, spec.id, value)
        takes_it = spec.socket_types is None or socket_type in spec.socket_types
        if spec.id in WRITABLE_ONLY_HERE:
            assert isinstance(theirs, zmq.ZMQError), f"libzmq now takes {spec.name}"
            if takes_it and refused_here(spec.id, value):
                assert ours is not None and ours.errno == errno.ENOTSUP, spec.name
            elif takes_it:
                assert ours is None, f"{spec.name}: {ours}"
            continue
        if theirs is None and refused_here(spec.id, value):
            assert ours is not None and ours.errno == errno.ENOTSUP, f"{spec.name}: {ours!r}"
            assert spec.name in str(ours)
            continue
        if spec.id == O.SUBSCRIBE or spec.id == O.UNSUBSCRIBE:
            if socket_type == T.XPUB:
                # XPUB takes them only with XPUB_MANUAL set, which the socket checks.
                assert theirs is not None and ours is None
                continue
        accepted_there = theirs is None
        accepted_here = ours is None
        assert accepted_here == accepted_there, f"{spec.name}: libzmq {theirs!r}, ours {ours!r}"
        if ours is not None:
            assert ours.errno == errno.EINVAL
            assert spec.name in str(ours)


@pytest.mark.interop
def test_range_boundaries_equal_libzmq(ctx: Any) -> None:
    stricter = {(option, value) for _, option, value, _ in STRICTER_HERE}
    for spec in OPTIONS.values():
        if spec.kind not in ("int", "int64") or not spec.writable or spec.id in WRITABLE_ONLY_HERE:
            continue
        socket_type = socket_type_for(spec)
        edges: list[int] = []
        if spec.minimum is not None:
            edges += [spec.minimum, spec.minimum - 1]
        if spec.maximum is not None:
            edges += [spec.maximum, spec.maximum + 1]
        if spec.minimum is None and spec.maximum is None:
            edges += [-7, 0, 7]
        for value in edges:
            if (spec.id, value) in stricter:
                continue
            theirs = libzmq_set(ctx, socket_type, spec.id, value)
            ours = ours_set(socket_type, spec.id, value)
            if theirs is None and refused_here(spec.id, value):
                assert ours is not None and ours.errno == errno.ENOTSUP, f"{spec.name}={value}"
                continue
            assert (ours is None) == (theirs is None), f"{spec.name}={value}: {theirs!r} {ours!r}"
            if ours is not None:
                assert ours.errno == errno.EINVAL
                assert f"{spec.name} must" in str(ours) and str(value) in str(ours)


@pytest.mark.interop
@pytest.mark.parametrize(
    ("socket_type", "option", "value"),
    ids=param_id,
    argvalues=[
        (T.DEALER, O.SNDHWM, -1),
        (T.DEALER, O.RCVHWM, -5),
        (T.DEALER, O.LINGER, -2),
        (T.DEALER, O.RECONNECT_IVL, -2),
        (T.DEALER, O.RECONNECT_IVL_MAX, -1),
        (T.DEALER, O.BACKLOG, -1),
        (T.DEALER, O.RCVTIMEO, -2),
        (T.DEALER, O.SNDTIMEO, -2),
        (T.DEALER, O.TCP_KEEPALIVE, 2),
        (T.DEALER, O.TCP_KEEPALIVE, -2),
        (T.DEALER, O.TCP_KEEPALIVE_IDLE, -2),
        (T.DEALER, O.IPV6, 2),
        (T.DEALER, O.IPV4ONLY, -1),
        (T.DEALER, O.CONFLATE, 2),
        (T.DEALER, O.IMMEDIATE, -1),
        (T.DEALER, O.PLAIN_SERVER, 2),
        (T.DEALER, O.CURVE_SERVER, -1),
        (T.DEALER, O.HEARTBEAT_IVL, -1),
        (T.DEALER, O.HEARTBEAT_TTL, 6553600),
        (T.DEALER, O.HEARTBEAT_TIMEOUT, -1),
        (T.DEALER, O.HANDSHAKE_IVL, -1),
        (T.DEALER, O.CONNECT_TIMEOUT, -1),
        (T.DEALER, O.TCP_MAXRT, -1),
        (T.DEALER, O.RATE, 0),
        (T.DEALER, O.RECOVERY_IVL, -1),
        (T.DEALER, O.MULTICAST_HOPS, 0),
        (T.DEALER, O.MULTICAST_MAXTPDU, 0),
        (T.DEALER, O.SNDBUF, -2),
        (T.DEALER, O.TOS, -1),
        (T.DEALER, O.USE_FD, -2),
        (T.DEALER, O.ROUTING_ID, b""),
        (T.DEALER, O.ROUTING_ID, b"x" * 256),
        (T.DEALER, O.ZAP_DOMAIN, b""),
        (T.DEALER, O.ZAP_DOMAIN, b"x" * 256),
        (T.DEALER, O.PLAIN_USERNAME, b""),
        (T.DEALER, O.PLAIN_PASSWORD, b"x" * 256),
        (T.DEALER, O.SOCKS_PROXY, b""),
        (T.DEALER, O.SOCKS_USERNAME, b"x" * 256),
        (T.DEALER, O.BINDTODEVICE, b""),
        (T.DEALER, O.BINDTODEVICE, b"x" * 17),
        (T.DEALER, O.CURVE_PUBLICKEY, b"x" * 31),
        (T.DEALER, O.CURVE_SECRETKEY, b"x" * 33),
        (T.DEALER, O.CURVE_SERVERKEY, b"~" * 40),  # not Z85
        (T.DEALER, O.CURVE_SERVERKEY, b"#" * 40),  # Z85 characters, but above 2**32 per group
        (T.DEALER, O.TCP_ACCEPT_FILTER, b""),
        (T.DEALER, O.TCP_ACCEPT_FILTER, b"localhost"),
        (T.DEALER, O.TCP_ACCEPT_FILTER, b"::1"),  # IPv6 needs IPV6 first
        (T.DEALER, O.TCP_ACCEPT_FILTER, b"10.0.0.0/33"),
        (T.DEALER, O.TCP_ACCEPT_FILTER, b"10.0.0.0/"),
        (T.DEALER, O.TCP_ACCEPT_FILTER, b"10.0.0.0/x"),
        (T.DEALER, O.METADATA, b""),
        (T.DEALER, O.METADATA, b"X-name"),
        (T.DEALER, O.METADATA, b"X-name:"),
        (T.DEALER, O.METADATA, b":value"),
        (T.DEALER, O.METADATA, b"Name:value"),
        (T.DEALER, O.METADATA, b"x-name:value"),
        (T.DEALER, O.ROUTER_MANDATORY, 1),
        (T.DEALER, O.ROUTER_RAW, 1),
        (T.DEALER, O.ROUTER_HANDOVER, 1),
        (T.DEALER, O.CONNECT_ROUTING_ID, b"peer"),
        (T.DEALER, O.REQ_CORRELATE, 1),
        (T.PUB, O.PROBE_ROUTER, 1),
        (T.SUB, O.XPUB_VERBOSE, 1),
        (T.PUB, O.SUBSCRIBE, b"topic"),
        (T.XSUB, O.SUBSCRIBE, b"topic"),
        (T.SUB, O.ONLY_FIRST_SUBSCRIBE, 1),
        (T.DEALER, O.STREAM_NOTIFY, 1),
        (T.ROUTER, O.CONNECT_ROUTING_ID, b""),
        (T.ROUTER, O.ROUTER_MANDATORY, -1),
        (T.ROUTER, O.PROBE_ROUTER, -1),
        (T.REQ, O.REQ_RELAXED, -1),
        (T.XPUB, O.XPUB_VERBOSE, -1),
        (T.XPUB, O.XPUB_NODROP, -1),
        (T.XPUB, O.ONLY_FIRST_SUBSCRIBE, -1),
        (T.STREAM, O.STREAM_NOTIFY, 2),
        (T.DEALER, O.TYPE, 1),
        (T.DEALER, O.RCVMORE, 0),
        (T.DEALER, O.EVENTS, 1),
        (T.DEALER, O.FD, 1),
        (T.DEALER, O.LAST_ENDPOINT, b"tcp://x"),
        (T.DEALER, O.THREAD_SAFE, 0),
        (T.DEALER, O.MECHANISM, 1),
        (T.DEALER, O.BLOCKY, 1),
        (T.XPUB, O.TOPICS_COUNT, 1),
    ],
)
def test_rejections_equal_libzmq(ctx: Any, socket_type: int, option: int, value: object) -> None:
    theirs = libzmq_set(ctx, socket_type, option, value)
    assert isinstance(theirs, zmq.ZMQError) and theirs.errno == zmq.EINVAL
    ours = ours_set(socket_type, option, value)
    assert ours is not None and ours.errno == errno.EINVAL
    assert OPTIONS[option].name in str(ours)
    assert str(ours).startswith("Invalid argument: ")


@pytest.mark.interop
@pytest.mark.parametrize(("socket_type", "option", "value", "reason"), STRICTER_HERE, ids=param_id)
def test_stricter_than_libzmq(
    ctx: Any, socket_type: int, option: int, value: object, reason: str
) -> None:
    assert libzmq_set(ctx, socket_type, option, value) is None
    ours = ours_set(socket_type, option, value)
    assert ours is not None and ours.errno == errno.EINVAL, reason


def test_error_messages() -> None:
    opts = SocketOptions(T.DEALER)
    cases: list[tuple[int, object, str]] = [
        (O.SNDHWM, -5, "SNDHWM must be >= 0, got -5"),
        (O.TCP_KEEPALIVE, 2, "TCP_KEEPALIVE must be between -1 and 1, got 2"),
        (O.CONFLATE, 2, "CONFLATE must be 0 or 1, got 2"),
        (O.LINGER, 2**31, "LINGER is a C int (32-bit signed), got 2147483648"),
        (O.MAXMSGSIZE, 2**63, "MAXMSGSIZE is a 64-bit signed int"),
        (O.ROUTING_ID, b"", "ROUTING_ID must be 1 to 255 bytes long, got 0 bytes"),
        (O.SOCKS_USERNAME, b"u" * 256, "SOCKS_USERNAME must be at most 255 bytes long"),
        (O.SOCKS_PROXY, b"", "SOCKS_PROXY must be at least 1 byte long, got 0 bytes"),
        (O.ROUTER_MANDATORY, 1, "ROUTER_MANDATORY is not an option of DEALER sockets"),
        (O.TYPE, 1, "TYPE is read-only"),
        (O.BLOCKY, 1, "BLOCKY is a context option, not a socket option"),
        (O.CURVE_PUBLICKEY, b"k" * 10, "CURVE_PUBLICKEY must be 32 bytes, or 40 bytes of Z85"),
        (O.TCP_ACCEPT_FILTER, b"::1", "IPV6 is not set"),
        (9999, 1, "unknown socket option 9999"),
    ]
    for option, value, message in cases:
        with pytest.raises(ZMQError) as info:
            opts.set(option, value)
        assert info.value.errno == errno.EINVAL
        assert message in str(info.value), str(info.value)
    with pytest.raises(ZMQError, match="SUBSCRIBE is write-only"):
        opts.get(O.SUBSCRIBE)
    with pytest.raises(ZMQError, match="TCP_ACCEPT_FILTER is write-only"):
        opts.get(O.TCP_ACCEPT_FILTER)
    with pytest.raises(ZMQError, match="RCVMORE is socket state"):
        opts.get(O.RCVMORE)
    with pytest.raises(ZMQError, match="unknown socket option 9999"):
        opts.get(9999)
    sub = SocketOptions(T.SUB)
    assert sub.validate(O.SUBSCRIBE, bytearray(b"topic")) == b"topic"
    with pytest.raises(ZMQError, match="SUBSCRIBE is handled by the socket"):
        sub.set(O.SUBSCRIBE, b"topic")


def test_type_errors_are_zmq_and_type_errors() -> None:
    opts = SocketOptions(T.DEALER)
    cases: list[tuple[int, object, str]] = [
        (O.SNDHWM, "5", "SNDHWM takes an int, got str"),
        (O.SNDHWM, 1.5, "SNDHWM takes an int, got float"),
        (O.SNDHWM, None, "SNDHWM takes an int, got NoneType"),
        (O.AFFINITY, b"1", "AFFINITY takes an int, got bytes"),
        (O.ROUTING_ID, "id", "ROUTING_ID takes bytes, got str"),
        (O.ZAP_DOMAIN, "global", "setsockopt_string"),
        (O.ROUTING_ID, 5, "ROUTING_ID takes bytes, got int"),
        (O.ROUTING_ID, None, "ROUTING_ID takes bytes, got NoneType"),
    ]
    for option, value, message in cases:
        with pytest.raises(OptionTypeError) as info:
            opts.set(option, value)
        assert isinstance(info.value, ZMQError) and isinstance(info.value, TypeError)
        assert info.value.errno == errno.EINVAL
        assert message in str(info.value)
    # Nothing was stored by the failed attempts.
    assert opts.sndhwm == 1000 and opts.routing_id == b""


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.interop
@pytest.mark.parametrize(
    ("socket_type", "option", "value"),
    ids=param_id,
    argvalues=[
        (T.DEALER, O.SNDHWM, 0),
        (T.DEALER, O.RCVHWM, 2**31 - 1),
        (T.DEALER, O.LINGER, True),
        (T.DEALER, O.LINGER, 0),
        (T.DEALER, O.AFFINITY, -1),
        (T.DEALER, O.AFFINITY, 1),
        (T.DEALER, O.AFFINITY, 2**63 - 1),
        (T.DEALER, O.MAXMSGSIZE, 2**62),
        (T.DEALER, O.ROUTING_ID, b"\x00binary id"),
        (T.DEALER, O.ROUTING_ID, b"r" * 255),
        (T.DEALER, O.IDENTITY, b"alias"),
        (T.DEALER, O.INVERT_MATCHING, 5),
        (T.DEALER, O.INVERT_MATCHING, -3),
        (T.DEALER, O.ZAP_ENFORCE_DOMAIN, 9),
        (T.DEALER, O.HEARTBEAT_TTL, 0),
        (T.DEALER, O.HEARTBEAT_TTL, 99),
        (T.DEALER, O.HEARTBEAT_TTL, 150),
        (T.DEALER, O.HEARTBEAT_TTL, 6553599),
        (T.DEALER, O.HEARTBEAT_TIMEOUT, 0),
        (T.DEALER, O.RECONNECT_STOP, C.RECONNECT_STOP_CONN_REFUSED),
        (T.DEALER, O.RECONNECT_STOP, 0),
        (T.DEALER, O.IPV4ONLY, 0),
        (T.DEALER, O.IPV6, 1),
        (T.DEALER, O.BINDTODEVICE, b"lo"),
        (T.DEALER, O.TOS, 0xB8),
        (T.DEALER, O.TCP_MAXRT, 5000),
        (T.DEALER, O.USE_FD, 3),
        # pyzmq reads text options into 255 bytes including libzmq's NUL, so 254 is its limit.
        (T.DEALER, O.ZAP_DOMAIN, b"z" * 254),
        (T.DEALER, O.PLAIN_USERNAME, b"admin"),
        (T.DEALER, O.DELAY_ATTACH_ON_CONNECT, 1),
        (T.SUB, O.LINGER, 100),
    ],
)
def test_round_trip_equals_libzmq(ctx: Any, socket_type: int, option: int, value: object) -> None:
    # Options set through pyzmq, then every readable option compared.
    sock = ctx.socket(socket_type)
    ours = SocketOptions(socket_type)
    try:
        sock.setsockopt(option, value)
        ours.set(option, value)
        for spec in OPTIONS.values():
            if spec.readable and not spec.state and spec.id not in READABLE_ONLY_HERE:
                assert ours.get(spec.id) == sock.getsockopt(spec.id), spec.name
    finally:
        sock.close(linger=0)


@pytest.mark.interop
@pytest.mark.parametrize(
    "steps",
    [
        ["PLAIN_SERVER=1"],
        ["PLAIN_SERVER=1", "PLAIN_SERVER=0"],
        ["PLAIN_USERNAME", "PLAIN_PASSWORD"],
        ["PLAIN_SERVER=1", "PLAIN_USERNAME"],
        ["CURVE_SERVER=1"],
        ["CURVE_SERVER=1", "CURVE_SERVER=0"],
        ["CURVE_SERVER=1", "CURVE_SERVERKEY"],
        ["CURVE_PUBLICKEY", "CURVE_SECRETKEY", "CURVE_SERVERKEY"],
        ["CURVE_SECRETKEY", "CURVE_SERVER=1"],
        ["PLAIN_SERVER=1", "CURVE_PUBLICKEY"],
        ["CURVE_SERVER=1", "PLAIN_SERVER=0"],
        ["CURVE_SERVER=1", "PLAIN_USERNAME", "CURVE_SECRETKEY"],
    ],
)
def test_mechanism_follows_libzmq(
    ctx: Any, steps: list[str], curve_keys: tuple[bytes, bytes]
) -> None:
    public, secret = curve_keys
    values: dict[str, object] = {
        "PLAIN_USERNAME": b"admin",
        "PLAIN_PASSWORD": b"secret",
        "CURVE_PUBLICKEY": public,
        "CURVE_SECRETKEY": secret,
        "CURVE_SERVERKEY": public,
    }
    sock = ctx.socket(zmq.DEALER)
    ours = SocketOptions(T.DEALER)
    try:
        for step in steps:
            name, _, number = step.partition("=")
            value = int(number) if number else values[name]
            sock.setsockopt(getattr(zmq, name), value)
            ours.set(getattr(C, name), value)
            for read in (O.MECHANISM, O.PLAIN_SERVER, O.CURVE_SERVER, O.PLAIN_USERNAME):
                assert ours.get(read) == sock.getsockopt(read), f"{step}: {read.name}"
    finally:
        sock.close(linger=0)


def test_refused_set_is_the_expected_one() -> None:
    assert {spec.name for spec in REFUSED.values()} == EXPECTED_REFUSED
    # The security options the mechanisms implement are not refused.
    for name in ("MECHANISM", "PLAIN_SERVER", "CURVE_SERVER", "ZAP_DOMAIN", "ZAP_ENFORCE_DOMAIN"):
        assert not OPTIONS_BY_NAME[name].refused


def _refusable_values(spec: OptionSpec) -> list[object]:
    """Values that pass libzmq's checks for ``spec``: a sample and the default."""
    values: list[object] = [sample_value(spec, (b"", b""))]
    if not spec.accumulate and spec.default not in values:
        values.append(spec.default)
    return values


@pytest.mark.parametrize(
    "spec", sorted(REFUSED.values(), key=lambda spec: spec.id), ids=lambda spec: spec.name
)
def test_refused_options_raise_enotsup_naming_them(spec: OptionSpec) -> None:
    import vmzmq

    socket_type = socket_type_for(spec)
    opts = SocketOptions(socket_type)
    for value in _refusable_values(spec):
        try:
            opts.validate(spec.id, value)
        except ZMQError as exc:
            if exc.errno == errno.EINVAL:
                continue  # a default libzmq itself rejects (b"" for a 1..255-byte option)
            assert exc.errno == errno.ENOTSUP
        with pytest.raises(ZMQError) as info:
            opts.set(spec.id, value)
        assert info.value.errno == errno.ENOTSUP, value
        assert str(info.value).startswith(f"Operation not supported: {spec.name}: "), value
        assert len(str(info.value)) > len(f"Operation not supported: {spec.name}: ") + 10
    if spec.readable:
        assert opts.get(spec.id) == spec.default  # libzmq's value, as pyzmq code may read it
    # Through the socket API (setsockopt and the attribute), and as a context default.
    value = sample_value(spec, (b"", b""))
    ctx = vmzmq.Context()
    try:
        sock = ctx.socket(socket_type)
        with pytest.raises(ZMQError) as info:
            sock.setsockopt(spec.id, value)
        assert info.value.errno == errno.ENOTSUP and spec.name in str(info.value)
        with pytest.raises(ZMQError):
            setattr(sock, spec.name.lower(), value)
        if spec.readable:
            assert sock.getsockopt(spec.id) == spec.default
        with pytest.raises(ZMQError) as info:
            check_socket_option(spec.id, value)
        assert info.value.errno == errno.ENOTSUP
    finally:
        ctx.destroy(linger=0)


@pytest.mark.parametrize(
    ("option", "accepted", "refused"),
    ids=param_id,
    argvalues=[
        # One I/O thread: any thread (0) or a mask that includes it (bit 0).
        (O.AFFINITY, [0, 1, 3, -1, 2**63 - 1], [2, 4, 6, 2**62, -2]),
        # Only RECONNECT_STOP_CONN_REFUSED is implemented (by the connecter).
        (O.RECONNECT_STOP, [0, 1], [2, 3, 4, 5, 7, 8, -1, -5]),
    ],
)
def test_options_refused_for_some_values(
    option: int, accepted: list[int], refused: list[int]
) -> None:
    opts = SocketOptions(T.DEALER)
    for value in accepted:
        opts.set(option, value)
        assert opts.get(option) == value
    for value in refused:
        with pytest.raises(ZMQError) as info:
            opts.set(option, value)
        assert info.value.errno == errno.ENOTSUP, value
        assert str(info.value).startswith(f"Operation not supported: {option.name}: ")
        assert opts.get(option) == accepted[-1]  # nothing stored


def test_kernel_refusal_is_raised_when_set() -> None:
    opts = SocketOptions(T.DEALER)
    with pytest.raises(ZMQError) as info:
        opts.set(O.BINDTODEVICE, b"vmzmq-nodev0")
    assert info.value.errno == errno.ENODEV
    assert "BINDTODEVICE b'vmzmq-nodev0': the kernel refuses SO_BINDTODEVICE" in str(info.value)
    assert opts.bindtodevice == b""
    opts.set(O.BINDTODEVICE, b"lo")
    opts.set(O.PRIORITY, 6)  # 0..6 need no privilege
    opts.set(O.BUSY_POLL, 0)
    assert (opts.bindtodevice, opts.priority, opts.busy_poll) == (b"lo", 6, 0)
    # Not the kernel's business: TOS is one byte, BUSY_POLL not negative.
    with pytest.raises(ZMQError, match="TOS must be between 0 and 255, got 256"):
        opts.set(O.TOS, 256)
    with pytest.raises(ZMQError, match="BUSY_POLL must be >= 0, got -1"):
        opts.set(O.BUSY_POLL, -1)


def test_check_socket_option() -> None:
    assert check_socket_option(O.SNDHWM, 5) == 5
    assert check_socket_option(O.ROUTER_MANDATORY, 3) == 1  # type restrictions not checked
    with pytest.raises(ZMQError) as info:
        check_socket_option(O.SNDHWM, -5)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(ZMQError) as info:
        check_socket_option(O.AFFINITY, 2)
    assert info.value.errno == errno.ENOTSUP


def test_curve_keys_store_raw_bytes(curve_keys: tuple[bytes, bytes]) -> None:
    from zmq.utils import z85

    public, secret = curve_keys
    opts = SocketOptions(T.DEALER)
    opts.set(O.CURVE_PUBLICKEY, public)
    opts.set(O.CURVE_SECRETKEY, secret + b"\x00")  # a C string with its NUL, as libzmq allows
    assert opts.get(O.CURVE_PUBLICKEY) == z85.decode(public)
    assert opts.curve_secretkey == z85.decode(secret)
    raw = bytes(range(32))
    opts.set(O.CURVE_SERVERKEY, raw)
    assert opts.curve_serverkey == raw
    assert opts.get(O.MECHANISM) == C.CURVE and opts.as_server == 0
    with pytest.raises(ZMQError, match="not valid Z85"):
        opts.set(O.CURVE_PUBLICKEY, public[:39] + b" ")
    with pytest.raises(ZMQError):
        opts.set(O.CURVE_PUBLICKEY, public + b"x")  # 41 bytes that are not text + NUL


def test_gssapi_is_refused_and_leaves_the_mechanism() -> None:
    opts = SocketOptions(T.DEALER)
    for option, value in [
        (O.GSSAPI_SERVER, 1),
        (O.GSSAPI_SERVER, 0),
        (O.GSSAPI_SERVICE_PRINCIPAL, b"zmq/host"),
        (O.GSSAPI_PRINCIPAL, b"me"),
        (O.GSSAPI_PLAINTEXT, 1),
        (O.GSSAPI_PRINCIPAL_NAMETYPE, 2),
    ]:
        with pytest.raises(ZMQError) as info:
            opts.set(option, value)
        assert info.value.errno == errno.ENOTSUP
        assert f"{option.name}: GSSAPI is not supported" in str(info.value)
    assert opts.get(O.MECHANISM) == C.NULL and opts.as_server == 0
    assert opts.get(O.GSSAPI_SERVER) == 0 and opts.get(O.GSSAPI_PRINCIPAL) == b""
    # A bad value is still EINVAL, as in libzmq (the value is checked before the refusal).
    with pytest.raises(ZMQError, match="GSSAPI_PRINCIPAL_NAMETYPE must be between 0 and 2"):
        opts.set(O.GSSAPI_PRINCIPAL_NAMETYPE, 3)


def test_vmci_options_round_trip() -> None:
    opts = SocketOptions(T.PAIR)
    for option in (O.VMCI_BUFFER_SIZE, O.VMCI_BUFFER_MIN_SIZE, O.VMCI_BUFFER_MAX_SIZE):
        opts.set(option, 262144)
        assert opts.get(option) == 262144
        opts.set(option, 2**40)  # 64-bit
        assert opts.get(option) == 2**40
        opts.set(option, 0)
        assert opts.get(option) == 0
        with pytest.raises(ZMQError, match=f"{OPTIONS[option].name} must be >= 0, got -1"):
            opts.set(option, -1)
        with pytest.raises(ZMQError, match="64-bit"):
            opts.set(option, 2**64)
    opts.set(O.VMCI_CONNECT_TIMEOUT, 5000)
    assert opts.vmci_connect_timeout == 5000
    opts.set(O.VMCI_CONNECT_TIMEOUT, -1)  # back to "leave the kernel's value"
    assert opts.get(O.VMCI_CONNECT_TIMEOUT) == -1
    with pytest.raises(ZMQError, match="VMCI_CONNECT_TIMEOUT must be >= -1, got -2"):
        opts.set(O.VMCI_CONNECT_TIMEOUT, -2)
    with pytest.raises(ZMQError, match="C int"):
        opts.set(O.VMCI_CONNECT_TIMEOUT, 2**31)


def test_bytes_like_values() -> None:
    opts = SocketOptions(T.DEALER)
    opts.set(O.ROUTING_ID, bytearray(b"from-bytearray"))
    assert opts.routing_id == b"from-bytearray" and type(opts.routing_id) is bytes
    opts.set(O.ROUTING_ID, memoryview(b"from-view"))
    assert opts.get(O.ROUTING_ID) == b"from-view"
    opts.set(O.SNDHWM, C.SocketType.PUB)  # an IntEnum is an int
    assert opts.sndhwm == 1 and type(opts.sndhwm) is int
    opts.set(O.LINGER, False)
    assert opts.linger == 0 and type(opts.linger) is int


def test_long_text_reads_back() -> None:
    # libzmq keeps these (pyzmq just cannot read more than 254 bytes of text back).
    opts = SocketOptions(T.DEALER)
    opts.set(O.ZAP_DOMAIN, b"z" * 255)
    opts.set(O.PLAIN_PASSWORD, b"s" * 255)
    assert opts.get(O.ZAP_DOMAIN) == b"z" * 255
    assert opts.get(O.PLAIN_PASSWORD) == b"s" * 255


def test_write_only_and_coupled_values() -> None:
    router = SocketOptions(T.ROUTER)
    router.set(O.ROUTER_MANDATORY, 7)
    router.set(O.ROUTER_HANDOVER, 1)
    router.set(O.PROBE_ROUTER, 0)
    router.set(O.CONNECT_ROUTING_ID, b"next")
    router.set(O.ROUTER_NOTIFY, C.NOTIFY_CONNECT | C.NOTIFY_DISCONNECT)
    assert (router.router_mandatory, router.router_handover, router.probe_router) == (1, 1, 0)
    assert router.connect_routing_id == b"next" and router.get(O.ROUTER_NOTIFY) == 3
    # ROUTER_NOTIFY is written on routers only, but libzmq reads it on any socket.
    assert SocketOptions(T.DEALER).get(O.ROUTER_NOTIFY) == 0
    with pytest.raises(ZMQError, match="ROUTER_NOTIFY must be between 0 and 3"):
        router.set(O.ROUTER_NOTIFY, 4)

    xpub = SocketOptions(T.XPUB)
    xpub.set(O.XPUB_VERBOSER, 1)
    assert (xpub.xpub_verbose, xpub.xpub_verboser) == (1, 1)
    xpub.set(O.XPUB_VERBOSE, 1)
    assert (xpub.xpub_verbose, xpub.xpub_verboser) == (1, 0)
    xpub.set(O.XPUB_MANUAL, 1)
    assert xpub.xpub_manual == 1
    with pytest.raises(ZMQError, match="XPUB_MANUAL_LAST_VALUE: not implemented"):
        xpub.set(O.XPUB_MANUAL_LAST_VALUE, 1)
    xpub.set(O.XPUB_MANUAL, 0)
    assert xpub.xpub_manual == 0
    xpub.set(O.XPUB_WELCOME_MSG, b"hello")
    xpub.set(O.XPUB_WELCOME_MSG, b"")
    assert xpub.xpub_welcome_msg == b""
    xpub.set(O.XPUB_NODROP, 3)
    assert xpub.xpub_nodrop == 1
    assert SocketOptions(T.RADIO).validate(O.XPUB_NODROP, 1) == 1

    stream = SocketOptions(T.STREAM)
    stream.set(O.STREAM_NOTIFY, 0)
    assert stream.stream_notify == 0

    xsub = SocketOptions(T.XSUB)
    with pytest.raises(ZMQError, match="XSUB_VERBOSE_UNSUBSCRIBE: not implemented"):
        xsub.set(O.XSUB_VERBOSE_UNSUBSCRIBE, -4)


def test_accumulating_options() -> None:
    opts = SocketOptions(T.DEALER)
    opts.set(O.TCP_ACCEPT_FILTER, b"127.0.0.1")
    opts.set(O.TCP_ACCEPT_FILTER, b"10.1.2.3/8")
    opts.set(O.TCP_ACCEPT_FILTER, b"10.0.0.0/8")  # the same network again
    opts.set(O.TCP_ACCEPT_FILTER, b"0.0.0.0/0")
    assert opts.tcp_accept_filter == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("0.0.0.0/0"),
    )
    opts.set(O.IPV6, 1)
    opts.set(O.TCP_ACCEPT_FILTER, b"[::1]")
    opts.set(O.TCP_ACCEPT_FILTER, b"fe80::/10")
    assert opts.tcp_accept_filter[-2:] == (
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("fe80::/10"),
    )
    opts.set(O.TCP_ACCEPT_FILTER, None)  # libzmq's NULL clears the list
    assert opts.tcp_accept_filter == ()

    for option in (O.IPC_FILTER_PID, O.IPC_FILTER_UID, O.IPC_FILTER_GID):
        opts.set(option, 1000)
        opts.set(option, 0)
        opts.set(option, 1000)
        assert opts.get is not None and getattr(opts, OPTIONS[option].attr) == (1000, 0)
        opts.set(option, None)
        assert getattr(opts, OPTIONS[option].attr) == ()

    opts.set(O.METADATA, b"X-Color:blue")
    opts.set(O.METADATA, b"X-Shape:round:ish")
    opts.set(O.METADATA, b"X-Color:red")  # the first value for a name stays, as in libzmq
    opts.set(O.METADATA, b"X-:b")  # four bytes: libzmq mistakes it for an int; we do not
    assert opts.metadata == ((b"X-Color", b"blue"), (b"X-Shape", b"round:ish"), (b"X-", b"b"))


def test_null_values() -> None:
    opts = SocketOptions(T.DEALER)
    opts.set(O.BINDTODEVICE, b"lo")
    assert opts.get(O.BINDTODEVICE) == b"lo"
    opts.set(O.BINDTODEVICE, None)
    assert opts.get(O.BINDTODEVICE) == b""
    for option in (O.SOCKS_PROXY, O.SOCKS_USERNAME, O.SOCKS_PASSWORD):
        with pytest.raises(ZMQError) as info:
            opts.set(option, None)  # clearing is setting too: refused like any value
        assert info.value.errno == errno.ENOTSUP
    opts.set(O.PLAIN_USERNAME, b"admin")
    assert opts.mechanism == C.PLAIN
    opts.set(O.PLAIN_USERNAME, None)  # NULL: back to the NULL mechanism, text kept
    assert opts.mechanism == C.NULL and opts.plain_username == b"admin"
    with pytest.raises(ZMQError):
        opts.set(O.ZAP_DOMAIN, None)
    with pytest.raises(ZMQError):
        opts.set(O.ROUTING_ID, None)


def test_heartbeat_ttl_rounds_to_deciseconds() -> None:
    opts = SocketOptions(T.DEALER)
    for given, stored in [(0, 0), (99, 0), (100, 100), (1999, 1900), (6553599, 6553500)]:
        opts.set(O.HEARTBEAT_TTL, given)
        assert opts.heartbeat_ttl == stored == opts.get(O.HEARTBEAT_TTL)


def test_copy_is_independent() -> None:
    original = SocketOptions(T.ROUTER)
    original.set(O.SNDHWM, 5)
    original.set(O.TCP_ACCEPT_FILTER, b"127.0.0.1")
    snapshot = original.copy()
    assert type(snapshot) is SocketOptions
    assert all(getattr(snapshot, a) == getattr(original, a) for a in SocketOptions.__slots__)

    original.set(O.SNDHWM, 6)
    original.set(O.TCP_ACCEPT_FILTER, b"10.0.0.1")
    original.set(O.CURVE_SERVER, 1)
    assert snapshot.sndhwm == 5
    assert snapshot.tcp_accept_filter == (ipaddress.ip_network("127.0.0.1/32"),)
    assert snapshot.mechanism == C.NULL and snapshot.as_server == 0

    snapshot.set(O.RCVHWM, 7)
    snapshot.set(O.ROUTING_ID, b"snap")
    assert original.rcvhwm == 1000 and original.routing_id == b""
    assert snapshot.socket_type == T.ROUTER
    assert "sndhwm=5" in repr(snapshot)


# ---------------------------------------------------------------------------------------------
# Context options


@pytest.mark.interop
def test_context_defaults_equal_libzmq() -> None:
    context = zmq.Context()
    try:
        for option, value in CONTEXT_OPTION_DEFAULTS.items():
            assert context.get(option) == value, option
        for option in CONTEXT_OPTIONS_WRITE_ONLY:
            with pytest.raises(zmq.ZMQError):
                context.get(option)
    finally:
        context.term()


@pytest.mark.interop
@pytest.mark.parametrize(
    ("option", "value"),
    ids=param_id,
    argvalues=[
        (C.ContextOption.IO_THREADS, 0),
        (C.ContextOption.IO_THREADS, -1),
        (C.ContextOption.MAX_SOCKETS, 1),
        (C.ContextOption.MAX_SOCKETS, 0),
        (C.ContextOption.THREAD_PRIORITY, 0),
        (C.ContextOption.THREAD_PRIORITY, -1),
        (C.ContextOption.THREAD_SCHED_POLICY, -1),
        (C.ContextOption.MAX_MSGSZ, 0),
        (C.ContextOption.MAX_MSGSZ, -1),
        (C.ContextOption.MSG_T_SIZE, 64),
        (C.ContextOption.THREAD_AFFINITY_CPU_ADD, -1),
        (C.ContextOption.THREAD_AFFINITY_CPU_ADD, 0),
        (C.ContextOption.THREAD_NAME_PREFIX, -12),
        (C.ContextOption.IPV6, 5),
        (C.ContextOption.IPV6, -1),
        (C.ContextOption.BLOCKY, 0),
        (C.ContextOption.BLOCKY, -1),
        (11, 1),
    ],
)
def test_context_checks_equal_libzmq(option: int, value: int) -> None:
    context = zmq.Context()
    try:
        try:
            context.set(option, value)
            theirs: object = None
        except zmq.ZMQError as exc:
            theirs = exc
        try:
            stored: object = check_context_option(option, value)
            ours: object = None
        except ZMQError as exc:
            ours = exc
        assert (ours is None) == (theirs is None), f"{option}={value}: {theirs!r} {ours!r}"
        if ours is None and option in CONTEXT_OPTION_DEFAULTS and option != 3:
            assert stored == context.get(option)
    finally:
        context.term()


def test_context_option_tables() -> None:
    assert CONTEXT_OPTIONS_READ_ONLY == {C.ContextOption.MSG_T_SIZE}
    assert check_context_option(C.ContextOption.THREAD_NAME_PREFIX, b"vmzmq") == b"vmzmq"
    with pytest.raises(ZMQError, match="THREAD_NAME_PREFIX must be 1 to 16 bytes"):
        check_context_option(C.ContextOption.THREAD_NAME_PREFIX, b"x" * 17)
    with pytest.raises(ZMQError, match="THREAD_PRIORITY must be >= 0"):
        check_context_option(C.ContextOption.THREAD_PRIORITY, -1)
    with pytest.raises(ZMQError, match="MSG_T_SIZE is read-only"):
        check_context_option(C.ContextOption.MSG_T_SIZE, 64)
    with pytest.raises(OptionTypeError):
        check_context_option(C.ContextOption.IO_THREADS, "1")
