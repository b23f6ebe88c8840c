"""Every socket option in one table, and one socket's option values.

``OPTIONS`` maps each libzmq option id to an :class:`OptionSpec`: its kind, libzmq 4.3.5's
default, whether it can be read and written, and how a value is checked. :class:`SocketOptions`
holds one socket's values as attributes named by the lower-case option name (``opts.sndhwm``,
``opts.routing_id``, ``opts.vmci_buffer_size``), so hot paths read plain attributes.

The rules follow libzmq's ``options.cpp`` and the socket types' ``xsetsockopt`` as if libzmq were
built with everything (draft API, CURVE, GSSAPI, NORM, WSS, VMCI): every option pyzmq's
``SocketOption`` enum lists is known, can be read where such a build reads it, and each value
is checked as there (EINVAL).

An option is implemented or refused, never stored and ignored. The options vmzmq does not act
on (RATE, MULTICAST_*, SOCKS_*, GSSAPI_*, WSS_*, NORM_*, some draft options: ``REFUSED``,
``spec.refused``) raise ``ZMQError(ENOTSUP)`` naming the option and the reason when set to
any value that passes libzmq's checks (even their default, so nobody believes they took
effect); reading one answers libzmq's default. Some options are refused for some values only:
AFFINITY (vmzmq has one I/O thread: 0 or any mask with bit 0), RECONNECT_STOP (only
RECONNECT_STOP_CONN_REFUSED). PRIORITY, BUSY_POLL and BINDTODEVICE are tried on a scratch
socket when set, so the kernel's refusal (EPERM without the privilege, ENODEV for an unknown
interface) is raised by setsockopt rather than lost in a background connect.
``docs/options.md`` lists every option, what acts on it, or why it is refused.

What the table does not hold or does differently:

* pyzmq's pseudo-option ``HWM`` (id 1) is not here: libzmq has no option 1, and the socket turns
  it into SNDHWM and RCVHWM itself. ``option_spec(1)`` raises EINVAL like any unknown id.
* *State* options (``spec.state``) are answered or acted on by the socket, never stored here:
  RCVMORE, FD, EVENTS, TYPE, LAST_ENDPOINT, THREAD_SAFE, TOPICS_COUNT, and the write-only
  actions SUBSCRIBE/UNSUBSCRIBE. The socket may call :meth:`SocketOptions.validate` on them.
* Options that only some socket types accept (ROUTER_MANDATORY on ROUTER and REP, XPUB_* on
  PUB and XPUB...) list them in ``spec.socket_types``; writing one on another type is EINVAL, as
  in libzmq. Every SocketOptions still has the attribute, at its default (refused options
  have none).
* Derived options: MECHANISM (read-only) and PLAIN_SERVER/CURVE_SERVER follow
  libzmq's rules: the last security option written decides the mechanism, ``opts.as_server``
  says which side we are. IPV4ONLY is the inverse view of IPV6.
* Coupled options: XPUB_VERBOSER sets ``xpub_verbose`` too, XPUB_VERBOSE clears
  ``xpub_verboser`` (libzmq's order rules). So ``xpub_verbose`` means "pass duplicate
  subscriptions up", ``xpub_verboser`` "and unsubscriptions".
* Accumulating options (TCP_ACCEPT_FILTER, IPC_FILTER_PID/UID/GID, METADATA) add one entry per
  write and are stored as tuples: ``ipaddress`` networks, ints, and ``(key, value)`` byte pairs
  (the first value written for a key wins, as in libzmq). They are write-only, as in libzmq.
* ``None`` stands for libzmq's NULL value where libzmq gives NULL a meaning (it clears
  TCP_ACCEPT_FILTER, the IPC filters, BINDTODEVICE; for PLAIN_USERNAME/PASSWORD it
  resets the mechanism to NULL). pyzmq has no way to pass NULL; ``b""`` stays EINVAL where
  libzmq rejects an empty value.
* Deliberate differences from libzmq: the VMCI options can be read (libzmq only writes them,
  and only in VMCI builds) and VMCI_BUFFER_* reject negative sizes; CURVE keys read back as the
  32 raw bytes whatever length the caller asks for (pyzmq gets EINVAL); CONNECT_ROUTING_ID is
  limited to 255 bytes like ROUTING_ID (what goes on the wire); MAXMSGSIZE rejects values below
  -1 and HEARTBEAT_TTL negative values (libzmq accepts them by accident of its arithmetic);
  TOS is one byte (0..255) and BUSY_POLL not negative (what the kernel takes); BUSY_POLL can be
  read (libzmq's getter never reports success); METADATA of exactly 4 bytes is judged on its
  content (libzmq mistakes it for an int and rejects it).
* Type mistakes (a str for a bytes option, a float for an int) raise :class:`OptionTypeError`,
  which is both a ``ZMQError`` (EINVAL) and a ``TypeError`` (what pyzmq raises). ``str`` is never
  encoded here: ``setsockopt_string`` does that.
"""

from __future__ import annotations

import errno
import ipaddress
import operator
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .constants import ContextOption, SecurityMechanism, SocketOption, SocketType
from .error import ZMQError, strerror, with_detail

__all__ = [
    "CONTEXT_OPTIONS_READ_ONLY",
    "CONTEXT_OPTIONS_WRITE_ONLY",
    "CONTEXT_OPTION_DEFAULTS",
    "OPTIONS",
    "OPTIONS_BY_NAME",
    "OptionSpec",
    "OptionTypeError",
    "REFUSED",
    "SocketOptions",
    "check_context_option",
    "check_socket_option",
    "option_spec",
]

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class OptionTypeError(ZMQError, TypeError):
    """An option value of the wrong Python type: EINVAL for vmzmq, TypeError for pyzmq code."""


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """How one socket option behaves. Ranges and lengths are inclusive."""

    id: int
    name: str
    #: "int" (C int), "int64", "bytes", or "str" (bytes holding text: get_string decodes it)
    kind: str
    #: libzmq 4.3.5's value on a new socket (what getsockopt answers before any write)
    default: object
    readable: bool = True
    writable: bool = True
    #: the socket answers or acts on it; SocketOptions does not store it
    state: bool = False
    minimum: int | None = None
    maximum: int | None = None
    #: libzmq keeps a C bool: any accepted value is stored (and read back) as 0 or 1
    boolean: bool = False
    min_length: int = 0
    max_length: int | None = None
    #: the socket types that accept writing it (None: every type); reading is not restricted
    socket_types: frozenset[int] | None = None
    #: each write adds an entry to a tuple instead of replacing the value
    accumulate: bool = False
    #: ``None`` (libzmq's NULL) is accepted and clears the value
    nullable: bool = False
    #: the SocketOptions attribute holding it (defaults to the lower-case name)
    attr: str = ""
    #: why vmzmq refuses to set it (ZMQError ENOTSUP after the value checks); "" if it does
    #: not. A refused option has no attribute; reading it answers libzmq's default.
    refused: str = ""

    def __post_init__(self) -> None:
        if not self.attr:
            object.__setattr__(self, "attr", self.name.lower())


_O = SocketOption
_T = SocketType
_ROUTERS = frozenset({_T.ROUTER, _T.REP})  # rep_t derives from router_t in libzmq
_PROBERS = _ROUTERS | {_T.DEALER, _T.REQ}
_XPUBS = frozenset({_T.PUB, _T.XPUB})  # pub_t derives from xpub_t
# XSUB takes subscriptions as messages, not options; XPUB takes them only with XPUB_MANUAL.
_SUBSCRIBERS = frozenset({_T.SUB, _T.XPUB})
_NOT_READABLE = {"readable": False}


def _spec(option: SocketOption, kind: str, default: object, **kw: Any) -> OptionSpec:
    return OptionSpec(int(option), option.name, kind, default, **kw)


def _int(
    option: SocketOption, default: int, lo: int | None = None, hi: int | None = None, **kw: Any
) -> OptionSpec:
    return _spec(option, "int", default, minimum=lo, maximum=hi, **kw)


def _flag(option: SocketOption, default: int = 0, **kw: Any) -> OptionSpec:
    """A libzmq 'strict' bool: only 0 and 1 are accepted."""
    return _spec(option, "int", default, minimum=0, maximum=1, **kw)


def _truthy(option: SocketOption, default: int = 0, lo: int | None = None, **kw: Any) -> OptionSpec:
    """A libzmq 'relaxed' bool: any (or any non-negative) int, stored as value != 0."""
    return _spec(option, "int", default, minimum=lo, boolean=True, **kw)


def _state(option: SocketOption, kind: str, default: object, **kw: Any) -> OptionSpec:
    kw.setdefault("writable", False)
    return _spec(option, kind, default, state=True, **kw)


_CURVE_KEY = 32

# Why an option is refused (ENOTSUP): the message is "<NAME>: <reason>".
_NO_PGM = "vmzmq has no pgm/epgm/norm transport"
_NO_MULTICAST = "vmzmq has no multicast transport (pgm/epgm/norm/udp)"
_NO_NORM = "vmzmq has no norm transport"
_NO_WSS = "vmzmq has no ws/wss transport"
_NO_SOCKS = "vmzmq cannot connect through a SOCKS proxy"
_NO_GSSAPI = "GSSAPI is not supported"
_NOT_IMPLEMENTED = "not implemented by vmzmq (a libzmq draft option)"
_OWN_BATCHES = (
    "vmzmq sizes its reads (256 KiB) and write batches (64 KiB) itself (a libzmq draft option)"
)
_HEARTBEAT_TTL_MAX = 0xFFFF * 100 + 99  # travels in deciseconds in a 16-bit field

_TABLE: tuple[OptionSpec, ...] = (
    _spec(_O.AFFINITY, "int64", 0),  # see _check_affinity: one I/O thread
    _spec(_O.ROUTING_ID, "bytes", b"", min_length=1, max_length=255),
    _state(_O.SUBSCRIBE, "bytes", b"", readable=False, writable=True, socket_types=_SUBSCRIBERS),
    _state(_O.UNSUBSCRIBE, "bytes", b"", readable=False, writable=True, socket_types=_SUBSCRIBERS),
    _int(_O.RATE, 100, 1, refused=_NO_PGM),
    _int(_O.RECOVERY_IVL, 10000, 0, refused=_NO_PGM),
    _int(_O.SNDBUF, -1, -1),  # -1: leave the kernel's size
    _int(_O.RCVBUF, -1, -1),
    _state(_O.RCVMORE, "int", 0),
    _state(_O.FD, "int", -1),
    _state(_O.EVENTS, "int", 0),
    _state(_O.TYPE, "int", -1),
    _int(_O.LINGER, -1, -1),
    _int(_O.RECONNECT_IVL, 100, -1),  # -1: never reconnect
    _int(_O.BACKLOG, 100, 0),
    _int(_O.RECONNECT_IVL_MAX, 0, 0),
    _spec(_O.MAXMSGSIZE, "int64", -1, minimum=-1),
    _int(_O.SNDHWM, 1000, 0),
    _int(_O.RCVHWM, 1000, 0),
    _int(_O.MULTICAST_HOPS, 1, 1, refused=_NO_MULTICAST),
    _int(_O.RCVTIMEO, -1, -1),
    _int(_O.SNDTIMEO, -1, -1),
    _flag(_O.IPV4ONLY, 1),
    _state(_O.LAST_ENDPOINT, "str", b""),
    _truthy(_O.ROUTER_MANDATORY, lo=0, socket_types=_ROUTERS, **_NOT_READABLE),
    _int(_O.TCP_KEEPALIVE, -1, -1, 1),
    _int(_O.TCP_KEEPALIVE_CNT, -1, -1),
    _int(_O.TCP_KEEPALIVE_IDLE, -1, -1),
    _int(_O.TCP_KEEPALIVE_INTVL, -1, -1),
    _spec(
        _O.TCP_ACCEPT_FILTER,
        "str",
        (),
        min_length=1,
        max_length=255,
        accumulate=True,
        nullable=True,
        **_NOT_READABLE,
    ),
    _flag(_O.IMMEDIATE),
    _truthy(_O.XPUB_VERBOSE, lo=0, socket_types=_XPUBS, **_NOT_READABLE),
    _truthy(
        _O.ROUTER_RAW,
        lo=0,
        socket_types=_ROUTERS,
        refused="not implemented: use a STREAM socket (ROUTER_RAW's successor)",
        **_NOT_READABLE,
    ),
    _flag(_O.IPV6),
    _spec(_O.MECHANISM, "int", int(SecurityMechanism.NULL), writable=False),
    _flag(_O.PLAIN_SERVER),
    _spec(_O.PLAIN_USERNAME, "str", b"", min_length=1, max_length=255, nullable=True),
    _spec(_O.PLAIN_PASSWORD, "str", b"", min_length=1, max_length=255, nullable=True),
    _flag(_O.CURVE_SERVER),
    _spec(_O.CURVE_PUBLICKEY, "bytes", bytes(_CURVE_KEY)),
    _spec(_O.CURVE_SECRETKEY, "bytes", bytes(_CURVE_KEY)),
    _spec(_O.CURVE_SERVERKEY, "bytes", bytes(_CURVE_KEY)),
    _truthy(_O.PROBE_ROUTER, lo=0, socket_types=_PROBERS, **_NOT_READABLE),
    _truthy(_O.REQ_CORRELATE, lo=0, socket_types=frozenset({_T.REQ}), **_NOT_READABLE),
    _truthy(_O.REQ_RELAXED, lo=0, socket_types=frozenset({_T.REQ}), **_NOT_READABLE),
    _flag(_O.CONFLATE),
    _spec(_O.ZAP_DOMAIN, "str", b"", min_length=1, max_length=255),
    _truthy(_O.ROUTER_HANDOVER, lo=0, socket_types=_ROUTERS, **_NOT_READABLE),
    _int(_O.TOS, 0, 0, 255),  # one byte: IP_TOS / IPV6_TCLASS (libzmq takes any int >= 0)
    _spec(_O.IPC_FILTER_PID, "int", (), accumulate=True, nullable=True, **_NOT_READABLE),
    _spec(_O.IPC_FILTER_UID, "int", (), accumulate=True, nullable=True, **_NOT_READABLE),
    _spec(_O.IPC_FILTER_GID, "int", (), accumulate=True, nullable=True, **_NOT_READABLE),
    _spec(
        _O.CONNECT_ROUTING_ID,
        "bytes",
        b"",
        min_length=1,
        max_length=255,
        socket_types=_ROUTERS | {_T.STREAM},
        **_NOT_READABLE,
    ),
    _flag(_O.GSSAPI_SERVER, refused=_NO_GSSAPI),
    _spec(_O.GSSAPI_PRINCIPAL, "str", b"", min_length=1, max_length=255, refused=_NO_GSSAPI),
    _spec(
        _O.GSSAPI_SERVICE_PRINCIPAL, "str", b"", min_length=1, max_length=255, refused=_NO_GSSAPI
    ),
    _flag(_O.GSSAPI_PLAINTEXT, refused=_NO_GSSAPI),
    _int(_O.HANDSHAKE_IVL, 30000, 0),
    _spec(_O.SOCKS_PROXY, "str", b"", min_length=1, nullable=True, refused=_NO_SOCKS),
    _truthy(_O.XPUB_NODROP, lo=0, socket_types=_XPUBS | {_T.RADIO}, **_NOT_READABLE),
    # A context option in libzmq; pyzmq lists it among socket options, libzmq rejects it there.
    _int(_O.BLOCKY, 1, readable=False, writable=False),
    _truthy(_O.XPUB_MANUAL, lo=0, socket_types=_XPUBS, **_NOT_READABLE),
    _spec(_O.XPUB_WELCOME_MSG, "bytes", b"", socket_types=_XPUBS, **_NOT_READABLE),
    _flag(_O.STREAM_NOTIFY, 1, socket_types=frozenset({_T.STREAM}), **_NOT_READABLE),
    _truthy(_O.INVERT_MATCHING),
    _int(_O.HEARTBEAT_IVL, 0, 0),
    _int(_O.HEARTBEAT_TTL, 0, 0, _HEARTBEAT_TTL_MAX),
    _int(_O.HEARTBEAT_TIMEOUT, -1, 0),  # -1 (the default): use HEARTBEAT_IVL
    _truthy(_O.XPUB_VERBOSER, lo=0, socket_types=_XPUBS, **_NOT_READABLE),
    _int(_O.CONNECT_TIMEOUT, 0, 0),
    _int(_O.TCP_MAXRT, 0, 0),
    _state(_O.THREAD_SAFE, "int", 0),
    _int(_O.MULTICAST_MAXTPDU, 1500, 1, refused=_NO_MULTICAST),
    # 0 / -1: leave the kernel's value (libzmq's VMCI defaults).
    _spec(_O.VMCI_BUFFER_SIZE, "int64", 0, minimum=0),
    _spec(_O.VMCI_BUFFER_MIN_SIZE, "int64", 0, minimum=0),
    _spec(_O.VMCI_BUFFER_MAX_SIZE, "int64", 0, minimum=0),
    _int(_O.VMCI_CONNECT_TIMEOUT, -1, -1),
    _int(_O.USE_FD, -1, -1),  # tcp and ipc bind: listen on this (already listening) socket
    # ZMQ_GSSAPI_NT_HOSTBASED .. _KRB5_PRINCIPAL
    _int(_O.GSSAPI_PRINCIPAL_NAMETYPE, 0, 0, 2, refused=_NO_GSSAPI),
    _int(_O.GSSAPI_SERVICE_PRINCIPAL_NAMETYPE, 0, 0, 2, refused=_NO_GSSAPI),
    _spec(_O.BINDTODEVICE, "str", b"", min_length=1, max_length=16, nullable=True),  # IFNAMSIZ
    _truthy(_O.ZAP_ENFORCE_DOMAIN),
    _truthy(
        _O.LOOPBACK_FASTPATH,
        refused="a Windows-only option (SIO_LOOPBACK_FAST_PATH): Linux has no such path, "
        "and libzmq ignores it there",
    ),
    _spec(_O.METADATA, "str", (), min_length=1, accumulate=True, **_NOT_READABLE),
    _truthy(_O.MULTICAST_LOOP, 1, refused=_NO_MULTICAST),
    _int(_O.ROUTER_NOTIFY, 0, 0, 3, socket_types=_ROUTERS),  # NOTIFY_CONNECT | _DISCONNECT
    _truthy(
        _O.XPUB_MANUAL_LAST_VALUE,
        lo=0,
        socket_types=_XPUBS,
        refused="not implemented by vmzmq (a libzmq draft option; XPUB_MANUAL is)",
        **_NOT_READABLE,
    ),
    _spec(_O.SOCKS_USERNAME, "str", b"", max_length=255, nullable=True, refused=_NO_SOCKS),
    _spec(_O.SOCKS_PASSWORD, "str", b"", max_length=255, nullable=True, refused=_NO_SOCKS),
    _int(_O.IN_BATCH_SIZE, 8192, 1, refused=_OWN_BATCHES),
    _int(_O.OUT_BATCH_SIZE, 8192, 1, refused=_OWN_BATCHES),
    _spec(_O.WSS_KEY_PEM, "str", b"", refused=_NO_WSS, **_NOT_READABLE),
    _spec(_O.WSS_CERT_PEM, "str", b"", refused=_NO_WSS, **_NOT_READABLE),
    _spec(_O.WSS_TRUST_PEM, "str", b"", refused=_NO_WSS, **_NOT_READABLE),
    _spec(_O.WSS_HOSTNAME, "str", b"", refused=_NO_WSS, **_NOT_READABLE),
    _flag(_O.WSS_TRUST_SYSTEM, refused=_NO_WSS, **_NOT_READABLE),
    _truthy(
        _O.ONLY_FIRST_SUBSCRIBE,
        lo=0,
        socket_types=_XPUBS | {_T.XSUB},
        refused=_NOT_IMPLEMENTED,
        **_NOT_READABLE,
    ),
    _int(_O.RECONNECT_STOP, 0),  # ReconnectStop bits: see _check_reconnect_stop
    _spec(_O.HELLO_MSG, "bytes", b"", refused=_NOT_IMPLEMENTED, **_NOT_READABLE),
    _spec(_O.DISCONNECT_MSG, "bytes", b"", refused=_NOT_IMPLEMENTED, **_NOT_READABLE),
    _int(_O.PRIORITY, 0, 0),
    _int(_O.BUSY_POLL, 0, 0),  # SO_BUSY_POLL, which is never negative (libzmq takes any int)
    _spec(_O.HICCUP_MSG, "bytes", b"", refused=_NOT_IMPLEMENTED, **_NOT_READABLE),
    _truthy(
        _O.XSUB_VERBOSE_UNSUBSCRIBE,
        socket_types=frozenset({_T.XSUB}),
        refused=_NOT_IMPLEMENTED,
        **_NOT_READABLE,
    ),
    _state(_O.TOPICS_COUNT, "int", 0),
    _int(_O.NORM_MODE, 1, 0, 4, refused=_NO_NORM),  # NormMode.CC
    _flag(_O.NORM_UNICAST_NACK, refused=_NO_NORM),
    _int(_O.NORM_BUFFER_SIZE, 2048, 1, refused=_NO_NORM),
    _int(_O.NORM_SEGMENT_SIZE, 1400, 1, refused=_NO_NORM),
    _int(_O.NORM_BLOCK_SIZE, 16, 1, 255, refused=_NO_NORM),
    _int(_O.NORM_NUM_PARITY, 4, 0, 254, refused=_NO_NORM),
    _int(_O.NORM_NUM_AUTOPARITY, 0, 0, 254, refused=_NO_NORM),
    _flag(_O.NORM_PUSH, refused=_NO_NORM),
)

OPTIONS: dict[int, OptionSpec] = {spec.id: spec for spec in _TABLE}
OPTIONS_BY_NAME: dict[str, OptionSpec] = {
    name: OPTIONS[int(member)]
    for name, member in SocketOption.__members__.items()
    if int(member) in OPTIONS
}

# Attributes computed from others rather than stored (see the properties of SocketOptions).
_DERIVED = frozenset({"ipv4only", "plain_server", "curve_server"})
# (attribute, default) for everything a SocketOptions stores, in table order.
_STORED: tuple[tuple[str, object], ...] = tuple(
    (spec.attr, spec.default)
    for spec in _TABLE
    if not spec.state
    and not spec.refused
    and spec.attr not in _DERIVED
    and (spec.readable or spec.writable)
)
#: The options vmzmq refuses to set (ENOTSUP), by id: docs/options.md says why for each.
REFUSED: dict[int, OptionSpec] = {spec.id: spec for spec in _TABLE if spec.refused}


def option_spec(option: int) -> OptionSpec:
    """The table entry for ``option``; EINVAL for an id libzmq does not know."""
    spec = OPTIONS.get(option)
    if spec is None:
        shown = int(option) if isinstance(option, int) else repr(option)
        raise with_detail(errno.EINVAL, f"unknown socket option {shown}")
    return spec


def _type_error(detail: str) -> OptionTypeError:
    return OptionTypeError(errno.EINVAL, f"{strerror(errno.EINVAL)}: {detail}")


def _type_name(socket_type: int) -> str:
    try:
        return SocketType(socket_type).name
    except ValueError:
        return f"type-{socket_type}"


def _check_int(spec: OptionSpec, value: object) -> int:
    if type(value) is int:
        number = value
    elif isinstance(value, (str, bytes, bytearray, memoryview, float)):
        raise _type_error(f"{spec.name} takes an int, got {type(value).__name__}")
    else:
        try:
            number = operator.index(value)  # bool, IntEnum, numpy integers
        except TypeError:
            raise _type_error(f"{spec.name} takes an int, got {type(value).__name__}") from None
    if spec.kind == "int":
        if not INT_MIN <= number <= INT_MAX:
            raise with_detail(errno.EINVAL, f"{spec.name} is a C int (32-bit signed), got {number}")
    elif not INT64_MIN <= number <= INT64_MAX:
        raise with_detail(errno.EINVAL, f"{spec.name} is a 64-bit signed int, got {number}")
    lo, hi = spec.minimum, spec.maximum
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        if lo == 0 and hi == 1:
            rule = "be 0 or 1"
        elif lo is not None and hi is not None:
            rule = f"be between {lo} and {hi}"
        elif lo is not None:
            rule = f"be >= {lo}"
        else:
            rule = f"be <= {hi}"
        raise with_detail(errno.EINVAL, f"{spec.name} must {rule}, got {number}")
    if spec.boolean:
        return int(number != 0)
    return number


def _check_bytes(spec: OptionSpec, value: object) -> bytes:
    if type(value) is bytes:
        data = value
    elif isinstance(value, str):
        raise _type_error(f"{spec.name} takes bytes, got str (setsockopt_string encodes text)")
    else:
        try:
            data = bytes(memoryview(value))  # type: ignore[arg-type]
        except TypeError:
            raise _type_error(f"{spec.name} takes bytes, got {type(value).__name__}") from None
    size = len(data)
    lo, hi = spec.min_length, spec.max_length
    if size < lo or (hi is not None and size > hi):
        if hi is None:
            rule = f"at least {lo} byte{'s' if lo > 1 else ''} long"
        elif lo == 0:
            rule = f"at most {hi} bytes long"
        else:
            rule = f"{lo} to {hi} bytes long"
        raise with_detail(errno.EINVAL, f"{spec.name} must be {rule}, got {size} bytes")
    return data


# --- option-specific checks, run after the generic ones -------------------------------------

_Z85_ALPHABET = (
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
)
_Z85_VALUES = {char: index for index, char in enumerate(_Z85_ALPHABET)}


def _z85_decode(text: bytes) -> bytes | None:
    """Z85 (ZeroMQ RFC 32) to bytes; None if ``text`` is not valid Z85."""
    if len(text) % 5:
        return None
    out = bytearray()
    for start in range(0, len(text), 5):
        number = 0
        for char in text[start : start + 5]:
            digit = _Z85_VALUES.get(char)
            if digit is None:
                return None
            number = number * 85 + digit
        if number > 0xFFFFFFFF:
            return None
        out += number.to_bytes(4, "big")
    return bytes(out)


def _check_curve_key(opts: SocketOptions, spec: OptionSpec, data: bytes) -> bytes:
    size = len(data)
    if size == _CURVE_KEY:
        return data
    # libzmq takes 40 characters of Z85, or 41 with the C string's terminating NUL.
    if size == 41 and data[40] == 0:
        data = data[:40]
    if len(data) != 40:
        raise with_detail(
            errno.EINVAL,
            f"{spec.name} must be 32 bytes, or 40 bytes of Z85 text, got {size} bytes",
        )
    key = _z85_decode(data)
    if key is None:
        raise with_detail(errno.EINVAL, f"{spec.name} is not valid Z85 text: {data!r}")
    return key


def _check_heartbeat_ttl(opts: SocketOptions, spec: OptionSpec, ttl: int) -> int:
    # The TTL travels in deciseconds; libzmq reads back the truncated value.
    return ttl // 100 * 100


def _check_metadata(opts: SocketOptions, spec: OptionSpec, data: bytes) -> tuple[bytes, bytes]:
    key, colon, value = data.partition(b":")
    if not colon or not key or not value:
        raise with_detail(errno.EINVAL, f"METADATA must look like b'X-Name:value', got {data!r}")
    if not key.startswith(b"X-"):
        raise with_detail(
            errno.EINVAL, f"METADATA names must start with 'X-' (application metadata), got {key!r}"
        )
    if len(key) > 255:
        raise with_detail(errno.EINVAL, f"METADATA names are at most 255 bytes, got {len(key)}")
    return key, value


def _check_accept_filter(
    opts: SocketOptions, spec: OptionSpec, data: bytes
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    def bad(why: str) -> ZMQError:
        return with_detail(errno.EINVAL, f"TCP_ACCEPT_FILTER {data!r} {why}")

    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise bad("is not an IP address") from None
    address, slash, mask = text.rpartition("/")
    if not slash:
        address, mask = text, ""
    elif not mask:
        raise bad("has an empty mask after '/'")
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise bad("is not a numeric IP address (no names here)") from None
    if ip.version == 6 and not opts.ipv6:
        raise bad("is an IPv6 address but IPV6 is not set on the socket")
    bits = ip.max_prefixlen
    if mask:
        if not (mask.isascii() and mask.isdigit()) or int(mask) > ip.max_prefixlen:
            raise bad(f"has a mask that is not 0..{ip.max_prefixlen}")
        bits = int(mask)
    return ipaddress.ip_network((ip, bits), strict=False)


def _check_affinity(opts: SocketOptions, spec: OptionSpec, mask: int) -> int:
    # A bitmask of I/O threads (0: any). vmzmq has one, bit 0, which runs every connection.
    if mask != 0 and not mask & 1:
        raise with_detail(
            errno.ENOTSUP,
            f"AFFINITY: vmzmq has one I/O thread (bit 0, or 0 for any); {mask:#x} names "
            "only threads it does not have",
        )
    return mask


_RECONNECT_STOP_CONN_REFUSED = 1


def _check_reconnect_stop(opts: SocketOptions, spec: OptionSpec, bits: int) -> int:
    if bits & ~_RECONNECT_STOP_CONN_REFUSED:
        raise with_detail(
            errno.ENOTSUP,
            f"RECONNECT_STOP: only RECONNECT_STOP_CONN_REFUSED (1) is implemented, got {bits} "
            "(HANDSHAKE_FAILED = 2 and AFTER_DISCONNECT = 4 are not)",
        )
    return bits


# Linux's SO_BUSY_POLL (asm-generic/socket.h); the socket module does not name it.
SO_BUSY_POLL = getattr(socket, "SO_BUSY_POLL", 46)

# option -> (the kernel option, its name, what EPERM means)
_KERNEL_OPTIONS: dict[int, tuple[int, str, str]] = {
    _O.PRIORITY: (socket.SO_PRIORITY, "SO_PRIORITY", "values above 6 need CAP_NET_ADMIN"),
    _O.BUSY_POLL: (
        SO_BUSY_POLL,
        "SO_BUSY_POLL",
        "raising it needs CAP_NET_ADMIN on some kernels",
    ),
    _O.BINDTODEVICE: (
        getattr(socket, "SO_BINDTODEVICE", 25),
        "SO_BINDTODEVICE",
        "before Linux 5.7 it needs CAP_NET_RAW",
    ),
}


def _check_kernel_option(opts: SocketOptions, spec: OptionSpec, value: Any) -> Any:
    """Try the value on a scratch socket, so that a kernel refusal (EPERM without the
    privilege, ENODEV for an unknown interface) is raised by setsockopt now, and not lost
    in a background connect that would retry it forever."""
    if not value:
        return value  # the default: nothing is set on the kernel's sockets
    kernel_option, kernel_name, privilege = _KERNEL_OPTIONS[spec.id]
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return value  # cannot try it here: bind and connect report the kernel's answer
    with probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, kernel_option, value)
        except OSError as exc:
            why = f" ({privilege})" if exc.errno in (errno.EPERM, errno.EACCES) else ""
            raise with_detail(
                exc.errno or errno.EINVAL,
                f"{spec.name} {value!r}: the kernel refuses {kernel_name}: {exc.strerror}{why}",
            ) from None
    return value


_CHECKS: dict[int, Callable[[SocketOptions, OptionSpec, Any], object]] = {
    _O.AFFINITY: _check_affinity,
    _O.BINDTODEVICE: _check_kernel_option,
    _O.BUSY_POLL: _check_kernel_option,
    _O.CURVE_PUBLICKEY: _check_curve_key,
    _O.CURVE_SECRETKEY: _check_curve_key,
    _O.CURVE_SERVERKEY: _check_curve_key,
    _O.HEARTBEAT_TTL: _check_heartbeat_ttl,
    _O.METADATA: _check_metadata,
    _O.PRIORITY: _check_kernel_option,
    _O.RECONNECT_STOP: _check_reconnect_stop,
    _O.TCP_ACCEPT_FILTER: _check_accept_filter,
}


# --- option-specific writes (libzmq's side effects) -----------------------------------------

_NULL = int(SecurityMechanism.NULL)
_PLAIN = int(SecurityMechanism.PLAIN)
_CURVE = int(SecurityMechanism.CURVE)


def _set_ipv4only(opts: SocketOptions, spec: OptionSpec, value: int) -> None:
    opts.ipv6 = 1 - value


def _set_server_flag(mechanism: int, null_when_off: bool) -> Callable[..., None]:
    def apply(opts: SocketOptions, spec: OptionSpec, value: int) -> None:
        opts.as_server = value
        opts.mechanism = mechanism if value or not null_when_off else _NULL

    return apply


def _set_plain_credential(opts: SocketOptions, spec: OptionSpec, value: bytes | None) -> None:
    if value is None:
        # libzmq's NULL resets the mechanism but keeps the stored text.
        opts.mechanism = _NULL
        return
    setattr(opts, spec.attr, value)
    opts.as_server = 0
    opts.mechanism = _PLAIN


def _set_curve_key(opts: SocketOptions, spec: OptionSpec, value: bytes) -> None:
    setattr(opts, spec.attr, value)
    opts.mechanism = _CURVE
    if spec.id == _O.CURVE_SERVERKEY:
        opts.as_server = 0  # knowing the server's key makes us the client


def _set_xpub_verbose(opts: SocketOptions, spec: OptionSpec, value: int) -> None:
    opts.xpub_verbose = value
    opts.xpub_verboser = 0


def _set_xpub_verboser(opts: SocketOptions, spec: OptionSpec, value: int) -> None:
    opts.xpub_verbose = value
    opts.xpub_verboser = value


def _set_metadata(opts: SocketOptions, spec: OptionSpec, value: tuple[bytes, bytes]) -> None:
    if all(key != value[0] for key, _ in opts.metadata):
        opts.metadata = (*opts.metadata, value)


_SETTERS: dict[int, Callable[[SocketOptions, OptionSpec, Any], None]] = {
    _O.IPV4ONLY: _set_ipv4only,
    _O.PLAIN_SERVER: _set_server_flag(_PLAIN, null_when_off=True),
    _O.CURVE_SERVER: _set_server_flag(_CURVE, null_when_off=True),
    _O.PLAIN_USERNAME: _set_plain_credential,
    _O.PLAIN_PASSWORD: _set_plain_credential,
    _O.CURVE_PUBLICKEY: _set_curve_key,
    _O.CURVE_SECRETKEY: _set_curve_key,
    _O.CURVE_SERVERKEY: _set_curve_key,
    _O.XPUB_VERBOSE: _set_xpub_verbose,
    _O.XPUB_VERBOSER: _set_xpub_verboser,
    _O.METADATA: _set_metadata,
}


def _slot_functions() -> tuple[Callable[..., None], Callable[..., None]]:
    """``fill(opts)`` (every stored option at its default) and ``clone(src, dst)``, as
    straight-line attribute stores: a socket builds one SocketOptions and each bind and
    connect copies one, and 64 stores in a loop of setattr calls took ~8 us each way (a
    plain instance dict would be as fast as this but ~2 KiB larger per socket)."""
    names = [attr for attr, _ in _STORED] + ["socket_type", "as_server"]
    fill = ["def fill(o, d):"] + [f"    o.{a} = d[{i}]" for i, (a, _) in enumerate(_STORED)]
    clone = ["def clone(s, o):"] + [f"    o.{a} = s.{a}" for a in names]
    namespace: dict[str, Any] = {}
    exec("\n".join(fill) + "\n" + "\n".join(clone), namespace)  # only our own attribute names
    return namespace["fill"], namespace["clone"]


_fill, _clone = _slot_functions()
_DEFAULT_VALUES = tuple(default for _, default in _STORED)


class SocketOptions:
    """One socket's option values; each option is an attribute named by its lower-case name
    (``opts.sndhwm``, ``opts.routing_id``, ``opts.vmci_buffer_size``, ``opts.heartbeat_ivl``).

    Besides the options: ``socket_type``, and ``as_server`` (1 when the security mechanism
    runs as the server side). Values are immutable (ints, bytes, tuples), so :meth:`copy` is a
    cheap independent snapshot.
    """

    affinity: int
    routing_id: bytes
    sndbuf: int
    rcvbuf: int
    linger: int
    reconnect_ivl: int
    backlog: int
    reconnect_ivl_max: int
    maxmsgsize: int
    sndhwm: int
    rcvhwm: int
    rcvtimeo: int
    sndtimeo: int
    router_mandatory: int
    tcp_keepalive: int
    tcp_keepalive_cnt: int
    tcp_keepalive_idle: int
    tcp_keepalive_intvl: int
    tcp_accept_filter: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    immediate: int
    xpub_verbose: int
    ipv6: int
    mechanism: int
    plain_username: bytes
    plain_password: bytes
    curve_publickey: bytes
    curve_secretkey: bytes
    curve_serverkey: bytes
    probe_router: int
    req_correlate: int
    req_relaxed: int
    conflate: int
    zap_domain: bytes
    router_handover: int
    tos: int
    ipc_filter_pid: tuple[int, ...]
    ipc_filter_uid: tuple[int, ...]
    ipc_filter_gid: tuple[int, ...]
    connect_routing_id: bytes
    handshake_ivl: int
    xpub_nodrop: int
    xpub_manual: int
    xpub_welcome_msg: bytes
    stream_notify: int
    invert_matching: int
    heartbeat_ivl: int
    heartbeat_ttl: int
    heartbeat_timeout: int
    xpub_verboser: int
    connect_timeout: int
    tcp_maxrt: int
    vmci_buffer_size: int
    vmci_buffer_min_size: int
    vmci_buffer_max_size: int
    vmci_connect_timeout: int
    use_fd: int
    bindtodevice: bytes
    zap_enforce_domain: int
    metadata: tuple[tuple[bytes, bytes], ...]
    router_notify: int
    reconnect_stop: int
    priority: int
    busy_poll: int
    socket_type: int
    as_server: int

    __slots__ = (*(attr for attr, _ in _STORED), "socket_type", "as_server")

    def __init__(self, socket_type: int, *, blocky: bool = True, ipv6: bool = False) -> None:
        """Every stored option at libzmq's default for ``socket_type``.

        ``blocky`` and ``ipv6`` are the context's BLOCKY and IPV6: as in libzmq, a socket's
        LINGER starts at -1 on a blocky context and 0 otherwise, and IPV6 starts at the
        context's value.
        """
        _fill(self, _DEFAULT_VALUES)
        self.socket_type = int(socket_type)
        self.as_server = 0
        self.ipv6 = int(bool(ipv6))
        # libzmq's XSUB (so SUB) and DISH never wait for unsent subscriptions at close.
        if not blocky or socket_type in (_T.SUB, _T.XSUB, _T.DISH):
            self.linger = 0

    # -- derived options ---------------------------------------------------------------------

    @property
    def ipv4only(self) -> int:
        return 1 - self.ipv6

    @property
    def plain_server(self) -> int:
        return int(bool(self.as_server) and self.mechanism == _PLAIN)

    @property
    def curve_server(self) -> int:
        return int(bool(self.as_server) and self.mechanism == _CURVE)

    # -- access by option id -----------------------------------------------------------------

    def validate(self, option: int, value: object) -> object:
        """Check ``value`` for ``option`` on this socket and return it as it would be stored
        (ints normalised, bytes-like as bytes, keys decoded); EINVAL if it is not acceptable.
        Stores nothing: the socket uses this for state options such as SUBSCRIBE."""
        spec = option_spec(option)
        if not spec.writable:
            if not spec.readable:
                raise with_detail(
                    errno.EINVAL, f"{spec.name} is a context option, not a socket option"
                )
            raise with_detail(errno.EINVAL, f"{spec.name} is read-only")
        types = spec.socket_types
        if types is not None and self.socket_type not in types:
            raise with_detail(
                errno.EINVAL,
                f"{spec.name} is not an option of {_type_name(self.socket_type)} sockets",
            )
        if value is None and spec.nullable:
            if spec.refused:
                raise with_detail(errno.ENOTSUP, f"{spec.name}: {spec.refused}")
            return None
        if spec.kind == "int" or spec.kind == "int64":
            checked: object = _check_int(spec, value)
        else:
            checked = _check_bytes(spec, value)
        if spec.refused:
            raise with_detail(errno.ENOTSUP, f"{spec.name}: {spec.refused}")
        check = _CHECKS.get(spec.id)
        if check is not None:
            checked = check(self, spec, checked)
        return checked

    def set(self, option: int, value: object) -> None:
        """Validate ``value`` and store it (EINVAL with the reason if it is not acceptable)."""
        value = self.validate(option, value)
        spec = OPTIONS[option]
        if spec.state:
            raise with_detail(
                errno.EINVAL, f"{spec.name} is handled by the socket, not stored in its options"
            )
        setter = _SETTERS.get(spec.id)
        if setter is not None:
            setter(self, spec, value)
        elif spec.accumulate:
            current: tuple[Any, ...] = getattr(self, spec.attr)
            if value is None:
                setattr(self, spec.attr, ())
            elif value not in current:
                setattr(self, spec.attr, (*current, value))
        elif value is None:
            setattr(self, spec.attr, spec.default)
        else:
            setattr(self, spec.attr, value)

    def get(self, option: int) -> object:
        """The value getsockopt reports: an int, or bytes for bytes/str options."""
        spec = option_spec(option)
        if not spec.readable:
            if not spec.writable:
                raise with_detail(
                    errno.EINVAL, f"{spec.name} is a context option, not a socket option"
                )
            raise with_detail(errno.EINVAL, f"{spec.name} is write-only")
        if spec.state:
            raise with_detail(
                errno.EINVAL, f"{spec.name} is socket state: the socket answers it, not its options"
            )
        if spec.refused:
            return spec.default  # never set: libzmq's value (pyzmq code reads some of these)
        return getattr(self, spec.attr)

    def copy(self) -> SocketOptions:
        """An independent snapshot (binds and connects keep the options of their moment)."""
        new = object.__new__(SocketOptions)
        _clone(self, new)
        return new

    def __repr__(self) -> str:
        changed = [
            f"{attr}={getattr(self, attr)!r}"
            for attr, default in _STORED
            if getattr(self, attr) != default
        ]
        return f"SocketOptions({_type_name(self.socket_type)}{''.join(', ' + c for c in changed)})"


def check_socket_option(option: int, value: object) -> object:
    """Validate a socket option value without a socket (``Context.set`` of a default for new
    sockets): EINVAL for a bad value, ENOTSUP for an option vmzmq refuses. Socket-type
    restrictions are not checked (the first socket type that takes the option is assumed)."""
    spec = option_spec(option)
    types = spec.socket_types
    socket_type = min(types) if types else int(_T.DEALER)
    return SocketOptions(socket_type).validate(option, value)


# --- context options (zmq_ctx_set / zmq_ctx_get) ---------------------------------------------

_C = ContextOption

#: What ``Context.get`` answers on a new context (libzmq 4.3.5, Linux). Id 3 reads as
#: SOCKET_LIMIT; writing 3 sets THREAD_PRIORITY (default -1, not readable). THREAD_NAME_PREFIX
#: reads as an int, as libzmq does (``atoi`` of the prefix).
CONTEXT_OPTION_DEFAULTS: dict[int, int] = {
    _C.IO_THREADS: 1,
    _C.MAX_SOCKETS: 1023,
    _C.SOCKET_LIMIT: 65535,
    _C.THREAD_SCHED_POLICY: -1,
    _C.MAX_MSGSZ: INT_MAX,
    _C.MSG_T_SIZE: 64,
    _C.THREAD_NAME_PREFIX: 0,
    _C.IPV6: 0,
    _C.BLOCKY: 1,
}
#: Readable but not writable (writing id 3 means THREAD_PRIORITY, so SOCKET_LIMIT is not here).
CONTEXT_OPTIONS_READ_ONLY: frozenset[int] = frozenset({_C.MSG_T_SIZE})
#: Writable but not readable.
CONTEXT_OPTIONS_WRITE_ONLY: frozenset[int] = frozenset(
    {_C.THREAD_AFFINITY_CPU_ADD, _C.THREAD_AFFINITY_CPU_REMOVE}
)


def check_context_option(option: int, value: object) -> int | bytes:
    """Validate a ``Context.set`` value the way libzmq's ``ctx_t::set`` does and return what
    to store (IPV6 and BLOCKY as 0/1). THREAD_NAME_PREFIX takes an int or 1..16 bytes.
    Whether THREAD_AFFINITY_CPU_REMOVE names a CPU that was added is the context's check."""
    try:
        name = _C(option).name
    except ValueError:
        name = str(option)
    if option not in CONTEXT_OPTION_DEFAULTS and option not in CONTEXT_OPTIONS_WRITE_ONLY:
        raise with_detail(errno.EINVAL, f"unknown context option {name}")
    if option in CONTEXT_OPTIONS_READ_ONLY:
        raise with_detail(errno.EINVAL, f"context option {name} is read-only")
    if option == _C.SOCKET_LIMIT:
        name = "THREAD_PRIORITY"
    if option == _C.THREAD_NAME_PREFIX and not isinstance(value, int):
        prefix = _check_bytes(
            OptionSpec(option, name, "str", b"", min_length=1, max_length=16), value
        )
        return prefix
    # libzmq checks value >= 0 everywhere except MAX_SOCKETS (>= 1) and an int thread name.
    lowest = {_C.MAX_SOCKETS: 1, _C.THREAD_NAME_PREFIX: None}.get(option, 0)
    spec = OptionSpec(option, name, "int", 0, minimum=lowest)
    number = _check_int(spec, value)
    if option in (_C.IPV6, _C.BLOCKY):
        return int(number != 0)
    return number
