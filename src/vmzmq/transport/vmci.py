"""The ``vmci://`` transport: ZeroMQ over Linux VM sockets (AF_VSOCK stream sockets).

Every rule of the VMCI transport lives in this module: endpoint grammar, the text printed for
ZMQ_LAST_ENDPOINT, the four ``ZMQ_VMCI_*`` options and how they reach the kernel, and how
kernel errors are reported. ``vmzmq.vmci`` re-exports the public helpers.

``vsock://`` is an exact synonym of ``vmci://``; the scheme the user wrote is echoed back in
every endpoint string we produce.

Endpoints (``docs/vmci.md`` explains each difference from libzmq)::

    bind     vmci://*:PORT  vmci://@:PORT  vmci://CID:PORT     PORT = decimal u32 or '*'
    connect  vmci://CID:PORT  vmci://@:PORT                     both parts concrete

What a connect errno means (the engine retries all of these; none is a configuration error):

* ``ECONNRESET`` / ``ECONNREFUSED`` -- nobody listens on that port. Linux reports a refused
  vsock connect as ``ECONNRESET``; :meth:`VmciTransport.is_refusal` says so.
* ``ETIMEDOUT`` -- no answer within the kernel connect timeout (2 s unless
  ``ZMQ_VMCI_CONNECT_TIMEOUT`` says otherwise): the CID is unknown or the peer VM is down.
* ``ENODEV`` -- no vsock transport can carry the connection (for instance a guest connecting to
  its own CID without ``vsock_loopback``); ``ENETUNREACH`` / ``EHOSTUNREACH`` -- no route.

Errors that will not go away by retrying are raised at once by :meth:`parse_bind`,
:meth:`parse_connect`, :meth:`listen` and :meth:`connect`: ``EINVAL`` (malformed endpoint or
option value), ``EAFNOSUPPORT`` (no VM sockets in this kernel), ``ENODEV`` for ``@`` when the
local CID is unknown.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os
import re
import socket
import struct
from dataclasses import dataclass
from typing import Any

from .. import _native
from ..error import ZMQError, with_detail

__all__ = [
    "IOCTL_VM_SOCKETS_GET_LOCAL_CID",
    "SO_VM_SOCKETS_BUFFER_MAX_SIZE",
    "SO_VM_SOCKETS_BUFFER_MIN_SIZE",
    "SO_VM_SOCKETS_BUFFER_SIZE",
    "SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW",
    "SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD",
    "TRANSPORT",
    "VMADDR_CID_ANY",
    "VMADDR_CID_HOST",
    "VMADDR_CID_HYPERVISOR",
    "VMADDR_CID_LOCAL",
    "VMADDR_PORT_ANY",
    "VSOCK_FAMILY",
    "VmciTransport",
    "VsockAddress",
    "apply_buffer_options",
    "available",
    "format_endpoint",
    "get_connect_timeout",
    "get_local_cid",
    "no_vsock_error",
    "open_socket",
    "parse_address",
    "read_kernel_options",
    "set_connect_timeout",
]

# <linux/vm_sockets.h>. AF_VSOCK is 40 on every Linux; the fallback lets us name the family in
# messages and option levels even on a Python built without it.
VSOCK_FAMILY: int = getattr(socket, "AF_VSOCK", 40)
VMADDR_CID_ANY = 0xFFFFFFFF
VMADDR_PORT_ANY = 0xFFFFFFFF
VMADDR_CID_HYPERVISOR = 0
VMADDR_CID_LOCAL = 1
VMADDR_CID_HOST = 2
IOCTL_VM_SOCKETS_GET_LOCAL_CID = 0x7B9  # _IO(7, 0xb9); the same number VMware's header uses
SO_VM_SOCKETS_BUFFER_SIZE = 0
SO_VM_SOCKETS_BUFFER_MIN_SIZE = 1
SO_VM_SOCKETS_BUFFER_MAX_SIZE = 2
SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD = 6
SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW = 8

_U32_MAX = 0xFFFFFFFF
_U64_MAX = 0xFFFFFFFFFFFFFFFF
_DEV_VSOCK = "/dev/vsock"
_SCHEMES = ("vmci", "vsock")
# ASCII digits only: str.isdigit() and int() would also take '²' or Arabic-Indic digits.
_DECIMAL = re.compile(r"[0-9]+")

_NO_VSOCK_HINT = (
    "this kernel has no VM sockets (AF_VSOCK); load the vsock module and a transport: "
    "vmw_vsock_virtio_transport in a KVM/QEMU/Firecracker guest, vhost_vsock on a KVM host, "
    "vmw_vsock_vmci_transport on VMware, hv_sock on Hyper-V, or vsock_loopback for "
    "same-machine use"
)


def no_vsock_error(endpoint: str) -> ZMQError:
    """The EAFNOSUPPORT error raised when the kernel cannot create an AF_VSOCK socket."""
    return with_detail(
        errno.EAFNOSUPPORT, f"endpoint '{endpoint}' needs VM sockets: {_NO_VSOCK_HINT}"
    )


# --------------------------------------------------------------------------------------------
# Local CID and availability


class _NoLocalCid(Exception):
    """Why the local CID cannot be known (a sentence fragment for messages)."""


def _read_local_cid() -> int:
    try:
        fd = os.open(_DEV_VSOCK, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise _NoLocalCid(f"cannot open {_DEV_VSOCK} ({os.strerror(exc.errno or 0)})") from None
    try:
        buf = bytearray(4)
        fcntl.ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, buf)
    except OSError as exc:
        raise _NoLocalCid(
            f"ioctl IOCTL_VM_SOCKETS_GET_LOCAL_CID on {_DEV_VSOCK} failed "
            f"({os.strerror(exc.errno or 0)})"
        ) from None
    finally:
        os.close(fd)
    (cid,) = struct.unpack("=I", buf)
    if cid == VMADDR_CID_ANY:
        raise _NoLocalCid(
            "the kernel reports VMADDR_CID_ANY (no vsock guest or host transport with a CID is "
            "loaded)"
        )
    return cid


def get_local_cid() -> int:
    """This machine's CID, from ``IOCTL_VM_SOCKETS_GET_LOCAL_CID`` on ``/dev/vsock``.

    Raises ``ZMQError(ENODEV)`` when it cannot be known: ``/dev/vsock`` is missing or not
    readable (it is often root-only), or the kernel answers ``VMADDR_CID_ANY`` (no guest or host
    transport loaded, or Hyper-V, whose guests have no CID).
    """
    try:
        return _read_local_cid()
    except _NoLocalCid as exc:
        raise with_detail(errno.ENODEV, f"the local CID is unknown: {exc}") from None


def available() -> bool:
    """True when an AF_VSOCK stream socket can be created (``vmzmq.has("vmci")``)."""
    if not hasattr(socket, "AF_VSOCK"):
        return False
    try:
        _native.socket(VSOCK_FAMILY, socket.SOCK_STREAM).close()
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Endpoint grammar


@dataclass(frozen=True)
class VsockAddress:
    """A parsed ``vmci://`` endpoint: what ``parse_bind``/``parse_connect`` return."""

    cid: int
    port: int
    scheme: str = "vmci"
    # Written as '@': connect re-reads the local CID on every attempt, since a VMware snapshot
    # restore or a migration can change it.
    local_cid: bool = False

    def __str__(self) -> str:
        return format_endpoint(self.scheme, self.cid, self.port)


def format_endpoint(scheme: str, cid: int, port: int) -> str:
    """libzmq's text for an address: unsigned decimals, ``*`` for the ANY values."""
    cid_text = "*" if cid == VMADDR_CID_ANY else str(cid)
    port_text = "*" if port == VMADDR_PORT_ANY else str(port)
    return f"{scheme}://{cid_text}:{port_text}"


def _u32(endpoint: str, what: str, text: str, bind: bool) -> int:
    if what == "CID":
        others = ", '*' or '@'" if bind else " or '@'"
    else:
        others = " or '*'" if bind else ""
    expected = f"a decimal number 0..{_U32_MAX}{others}"
    if text == "-1":
        # libzmq's parser takes "-1" for the wildcard; we ask for the spelling the docs use.
        raise with_detail(
            errno.EINVAL,
            f"endpoint '{endpoint}' spells the wildcard {what} as '-1'; write '*' instead",
        )
    if not _DECIMAL.fullmatch(text):
        raise with_detail(
            errno.EINVAL,
            f"endpoint '{endpoint}' has an invalid {what} '{text}': expected {expected} "
            "(digits only: no sign, spaces or suffix)",
        )
    # Strip leading zeros before measuring so '0005' is fine and int() never sees a huge string.
    significant = text.lstrip("0") or "0"
    if len(significant) > 10 or int(significant) > _U32_MAX:
        raise with_detail(
            errno.EINVAL,
            f"endpoint '{endpoint}' has a {what} '{text}' that does not fit in 32 bits "
            f"(largest is {_U32_MAX})",
        )
    return int(significant)


def parse_address(scheme: str, address: str, *, bind: bool) -> VsockAddress:
    """Parse the part after ``vmci://``; raise ``ZMQError(EINVAL)`` naming what is wrong.

    ``@`` is resolved here (``ENODEV`` if the local CID is unknown), so a bind or connect fails
    at once rather than in the background.
    """
    endpoint = f"{scheme}://{address}"
    cid_text, colon, port_text = address.rpartition(":")
    if not colon:
        raise with_detail(
            errno.EINVAL, f"endpoint '{endpoint}' has no ':' between the CID and the port"
        )
    if not cid_text:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has an empty CID before ':'")
    if not port_text:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has an empty port after ':'")

    local = cid_text == "@"
    if local or cid_text == "*":
        cid = VMADDR_CID_ANY
    else:
        cid = _u32(endpoint, "CID", cid_text, bind)
    port = VMADDR_PORT_ANY if port_text == "*" else _u32(endpoint, "port", port_text, bind)
    wildcard_cid = cid == VMADDR_CID_ANY and not local
    if not bind and (wildcard_cid or port == VMADDR_PORT_ANY):
        which = "CID" if wildcard_cid else "port"
        raise with_detail(
            errno.EINVAL,
            f"endpoint '{endpoint}': connect needs a CID and a port, not a wildcard {which}",
        )
    # '@' last, so a malformed endpoint is EINVAL whether or not the CID can be known.
    if local:
        try:
            cid = _read_local_cid()
        except _NoLocalCid as exc:
            raise with_detail(
                errno.ENODEV, f"endpoint '{endpoint}' uses '@', but the local CID is unknown: {exc}"
            ) from None
    return VsockAddress(cid=cid, port=port, scheme=scheme, local_cid=local)


# --------------------------------------------------------------------------------------------
# Sockets and options


def open_socket(endpoint: str) -> socket.socket:
    """A blocking AF_VSOCK stream socket (close-on-exec, as every Python socket)."""
    if not hasattr(socket, "AF_VSOCK"):
        raise no_vsock_error(endpoint)
    try:
        return _native.socket(VSOCK_FAMILY, socket.SOCK_STREAM)
    except OSError as exc:
        if exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
            raise no_vsock_error(endpoint) from None
        raise with_detail(
            exc.errno or errno.EIO, f"cannot create a socket for '{endpoint}'"
        ) from None


_BUFFER_OPTIONS = (
    # (attribute on SocketOptions, libzmq option name, kernel option name, kernel option)
    ("vmci_buffer_max_size", "ZMQ_VMCI_BUFFER_MAX_SIZE", "SO_VM_SOCKETS_BUFFER_MAX_SIZE",
     SO_VM_SOCKETS_BUFFER_MAX_SIZE),
    ("vmci_buffer_min_size", "ZMQ_VMCI_BUFFER_MIN_SIZE", "SO_VM_SOCKETS_BUFFER_MIN_SIZE",
     SO_VM_SOCKETS_BUFFER_MIN_SIZE),
    ("vmci_buffer_size", "ZMQ_VMCI_BUFFER_SIZE", "SO_VM_SOCKETS_BUFFER_SIZE",
     SO_VM_SOCKETS_BUFFER_SIZE),
)  # fmt: skip


def _set_u64(sock: socket.socket, opt: int, value: int, names: str, endpoint: str) -> None:
    try:
        # CPython passes an int as a u64 for AF_VSOCK sockets, the size the kernel requires.
        sock.setsockopt(VSOCK_FAMILY, opt, value)
    except OSError as exc:
        raise with_detail(
            exc.errno or errno.EINVAL, f"cannot set {names} to {value} for '{endpoint}'"
        ) from None


def _get_u64(sock: socket.socket, opt: int) -> int:
    return int(sock.getsockopt(VSOCK_FAMILY, opt))


def apply_buffer_options(sock: socket.socket, opts: Any, endpoint: str) -> None:
    """Apply ZMQ_VMCI_BUFFER_MAX_SIZE, _MIN_SIZE, then _SIZE (each only when non-zero).

    Max and min go first so the size is clamped against the user's bounds, not the kernel's
    defaults. When only the size is given and it lies outside the kernel's current [min, max],
    the missing bound is widened to the size: asking for a 1 MiB buffer gives a 1 MiB buffer,
    not a silent 256 KiB. A bound the user did set is never moved (the kernel then clamps).
    """
    values: dict[int, int] = {}
    for attr, zmq_name, _kernel_name, opt in _BUFFER_OPTIONS:
        value = getattr(opts, attr, 0) or 0
        if not 0 <= value <= _U64_MAX:
            raise with_detail(
                errno.EINVAL, f"{zmq_name} value {value} for '{endpoint}' is outside 0..2**64-1"
            )
        values[opt] = value
    size = values[SO_VM_SOCKETS_BUFFER_SIZE]
    if size:
        if not values[SO_VM_SOCKETS_BUFFER_MAX_SIZE]:
            if size > _get_u64(sock, SO_VM_SOCKETS_BUFFER_MAX_SIZE):
                values[SO_VM_SOCKETS_BUFFER_MAX_SIZE] = size
        if not values[SO_VM_SOCKETS_BUFFER_MIN_SIZE]:
            if size < _get_u64(sock, SO_VM_SOCKETS_BUFFER_MIN_SIZE):
                values[SO_VM_SOCKETS_BUFFER_MIN_SIZE] = size
    for _attr, zmq_name, kernel_name, opt in _BUFFER_OPTIONS:
        if values[opt]:
            _set_u64(sock, opt, values[opt], f"{zmq_name} ({kernel_name})", endpoint)


class _Timeval64(ctypes.Structure):
    # struct __kernel_sock_timeval: 64-bit fields on every architecture.
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_usec", ctypes.c_int64)]


class _TimevalOld(ctypes.Structure):
    # struct __kernel_old_timeval, for kernels older than 5.1 that lack the _NEW option.
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


@functools.cache
def _libc() -> Any:
    # CPython's socket.setsockopt refuses a bytes value for AF_VSOCK and getsockopt refuses a
    # buffer length, so the timeval option can only be reached through libc itself.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setsockopt.argtypes = [
        ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32,
    ]  # fmt: skip
    libc.setsockopt.restype = ctypes.c_int
    libc.getsockopt.argtypes = [
        ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32),
    ]  # fmt: skip
    libc.getsockopt.restype = ctypes.c_int
    return libc


def _timeval_call(sock: socket.socket, setting: bool, tv_new: _Timeval64) -> None:
    """setsockopt/getsockopt of the connect timeout, preferring the _NEW option."""
    libc = _libc()
    for opt, tv in (
        (SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW, tv_new),
        (SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, _TimevalOld(tv_new.tv_sec, tv_new.tv_usec)),
    ):
        size = ctypes.sizeof(tv)
        if setting:
            rc = libc.setsockopt(sock.fileno(), VSOCK_FAMILY, opt, ctypes.byref(tv), size)
        else:
            length = ctypes.c_uint32(size)
            rc = libc.getsockopt(
                sock.fileno(), VSOCK_FAMILY, opt, ctypes.byref(tv), ctypes.byref(length)
            )
        if rc == 0:
            if not setting:
                tv_new.tv_sec, tv_new.tv_usec = tv.tv_sec, tv.tv_usec
            return
        err = ctypes.get_errno()
        if err != errno.ENOPROTOOPT or opt == SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD:
            raise OSError(err, os.strerror(err))


def set_connect_timeout(sock: socket.socket, ms: int, endpoint: str) -> None:
    """Set the kernel's connect timeout to ``ms`` milliseconds (must be > 0).

    The timeval is normalised (whole seconds + microseconds below one million); libzmq puts
    everything in microseconds, which the kernel rejects from one second up.
    """
    if ms <= 0:
        raise with_detail(
            errno.EINVAL, f"ZMQ_VMCI_CONNECT_TIMEOUT value {ms} for '{endpoint}' is not > 0"
        )
    tv = _Timeval64(ms // 1000, (ms % 1000) * 1000)
    try:
        _timeval_call(sock, True, tv)
    except OSError as exc:
        raise with_detail(
            exc.errno or errno.EINVAL,
            f"cannot set ZMQ_VMCI_CONNECT_TIMEOUT (SO_VM_SOCKETS_CONNECT_TIMEOUT) to {ms} ms "
            f"for '{endpoint}'",
        ) from None


def get_connect_timeout(sock: socket.socket) -> int:
    """The kernel's connect timeout in milliseconds (kept in jiffies: may differ by a tick)."""
    tv = _Timeval64()
    try:
        _timeval_call(sock, False, tv)
    except OSError as exc:
        raise with_detail(
            exc.errno or errno.EINVAL, "cannot read SO_VM_SOCKETS_CONNECT_TIMEOUT"
        ) from None
    return tv.tv_sec * 1000 + tv.tv_usec // 1000


def read_kernel_options(sock: socket.socket) -> dict[str, int]:
    """The kernel's current values, keyed by our option attribute names.

    Buffer sizes are in bytes, the connect timeout in milliseconds. Works on listening,
    connecting, connected and accepted sockets.
    """
    result: dict[str, int] = {}
    for attr, _zmq_name, kernel_name, opt in _BUFFER_OPTIONS:
        try:
            result[attr] = _get_u64(sock, opt)
        except OSError as exc:
            raise with_detail(exc.errno or errno.EINVAL, f"cannot read {kernel_name}") from None
    result["vmci_connect_timeout"] = get_connect_timeout(sock)
    return result


# --------------------------------------------------------------------------------------------
# The transport object


def _bind_hint(err: int, addr: VsockAddress) -> str:
    if err == errno.EADDRNOTAVAIL:
        if addr.cid == VMADDR_CID_LOCAL:
            return "CID 1 is the loopback CID, which needs the vsock_loopback module"
        return f"CID {addr.cid} is not a CID of this machine; bind '*' or '@'"
    if err == errno.EADDRINUSE:
        return f"port {addr.port} is already bound"
    if err == errno.EACCES:
        return "ports up to 1023 need CAP_NET_BIND_SERVICE"
    if err == errno.ENODEV:
        return "no vsock transport is loaded for this CID"
    return ""


class VmciTransport:
    """``vmci://`` and ``vsock://`` for the engine (see ``transport.StreamTransport``)."""

    schemes: tuple[str, ...] = _SCHEMES

    def available(self) -> bool:
        return available()

    def parse_bind(self, scheme: str, address: str) -> VsockAddress:
        return parse_address(scheme, address, bind=True)

    def parse_connect(self, scheme: str, address: str) -> VsockAddress:
        return parse_address(scheme, address, bind=False)

    def listen(self, target: VsockAddress, opts: Any) -> tuple[socket.socket, str]:
        endpoint = str(target)
        fd = getattr(opts, "use_fd", -1)
        if fd is not None and fd >= 0:
            raise with_detail(
                errno.ENOTSUP,
                f"cannot bind '{endpoint}': ZMQ_USE_FD is implemented for tcp and ipc binds only",
            )
        # Errors name the endpoint as written: '@' stays '@' (with the CID it stood for), or
        # 'vmci://@:5555' would fail as 'vmci://3:5555', an address the user never typed.
        named = f"'{endpoint}'"
        if target.local_cid:
            port_text = "*" if target.port == VMADDR_PORT_ANY else str(target.port)
            named = f"'{target.scheme}://@:{port_text}' (local CID {target.cid})"
        sock = open_socket(endpoint)
        try:
            # Before listen(): accepted sockets copy their buffer sizes from the listener in
            # the kernel, and the sizes are what each side announces when the stream opens.
            apply_buffer_options(sock, opts, endpoint)
            try:
                sock.bind((target.cid, target.port))
                sock.listen(getattr(opts, "backlog", 100))
            except OSError as exc:
                err = exc.errno or errno.EIO
                hint = _bind_hint(err, target)
                raise with_detail(
                    err, f"cannot bind {named}" + (f": {hint}" if hint else "")
                ) from None
            sock.setblocking(False)
            cid, port = sock.getsockname()
        except BaseException:
            sock.close()
            raise
        return sock, format_endpoint(target.scheme, cid, port)

    def unlisten(self, sock: socket.socket, endpoint: str) -> None:
        sock.close()

    def check_peer(self, sock: socket.socket, peer: Any, opts: Any) -> str | None:
        return None  # no vmci accept filters (libzmq has none either)

    def connect(self, target: VsockAddress, opts: Any) -> socket.socket:
        cid = target.cid
        endpoint = str(target)
        if target.local_cid:
            cid = get_local_cid()
            endpoint = format_endpoint(target.scheme, cid, target.port)
        sock = open_socket(endpoint)
        try:
            # All before connect(): the buffer size is announced while the stream opens and
            # the timeout governs the connect itself (libzmq sets both afterwards, to no effect).
            apply_buffer_options(sock, opts, endpoint)
            timeout = getattr(opts, "vmci_connect_timeout", -1)
            if timeout is not None and timeout > 0:
                # 0 would mean "the kernel default" to the kernel anyway; -1 means leave it.
                set_connect_timeout(sock, timeout, endpoint)
            sock.setblocking(False)
            err = sock.connect_ex((cid, target.port))
            if err not in (0, errno.EINPROGRESS):
                raise with_detail(err, f"cannot connect to '{endpoint}'")
        except BaseException:
            sock.close()
            raise
        return sock

    def connects_at_once(self, target: Any) -> bool:
        return True

    def connected(self, sock: socket.socket, opts: Any) -> None:
        # Buffer sizes were set before connect or are inherited from the listener; an accepted
        # Python socket starts blocking, so only that needs fixing.
        sock.setblocking(False)

    def grow_send_buffer(self, sock: socket.socket) -> None:
        pass  # the VMCI_BUFFER_* options size vsock queues

    def peer_address(self, sock: socket.socket) -> str:
        # libzmq attaches a Peer-Address property for IP peers only.
        return ""

    def is_refusal(self, err: int) -> bool:
        return err in (errno.ECONNRESET, errno.ECONNREFUSED)

    def unbind_key(self, scheme: str, address: str) -> str:
        # libzmq matches vmci unbinds by exact text, so "vmci://*:*" never matches (ENOENT).
        return f"{scheme}://{address}"

    def preamble(self, target: Any) -> bytes | None:
        return None

    def preamble_reply(self, buf: bytes) -> int | None:
        return 0

    def connect_endpoint(self, scheme: str, address: str, target: VsockAddress) -> str:
        return format_endpoint(scheme, target.cid, target.port)


TRANSPORT = VmciTransport()
