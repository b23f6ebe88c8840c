"""Endpoints and stream sockets: the ``tcp``, ``ipc``, ``vmci``/``vsock`` and ``hvsock``
transports.

Each module exposes one :class:`StreamTransport` object; :func:`get_transport` finds it by
scheme. ``inproc`` is a known scheme but lives in the engine, so it has no transport object.

How the engine uses a transport::

    scheme, address = split_endpoint(endpoint)          # EINVAL / EPROTONOSUPPORT
    transport = get_transport(scheme)                   # None for inproc
    target = transport.parse_bind(scheme, address)      # EINVAL now, not later
    sock, last_endpoint = transport.listen(target, opts)
    ...                                                 # per accepted socket:
    transport.check_peer(conn, peer, opts)              # None, or why it is refused
    transport.connected(conn, opts)                     # tune it
    unbind: match the exact text first, then transport.unbind_key(scheme, address)
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING, Any, Protocol

from ..error import with_detail
from . import hvsock, ipc, tcp, vmci

if TYPE_CHECKING:
    from ..options import SocketOptions
else:
    SocketOptions = Any

__all__ = [
    "KNOWN_SCHEMES",
    "StreamTransport",
    "available_schemes",
    "get_transport",
    "split_endpoint",
]


class StreamTransport(Protocol):
    """What the engine needs from a transport (see docs/design.md)."""

    schemes: tuple[str, ...]

    def available(self) -> bool:
        """Whether this kernel/Python can use the transport (``vmzmq.has()``)."""
        ...

    def parse_bind(self, scheme: str, address: str) -> Any:
        """Parse a bind address; raise ZMQError (EINVAL...) now for a malformed one."""
        ...

    def parse_connect(self, scheme: str, address: str) -> Any:
        """Parse a connect address; raise ZMQError (EINVAL...) now for a malformed one."""
        ...

    def listen(self, target: Any, opts: SocketOptions) -> tuple[socket.socket, str]:
        """Bind and listen; return the non-blocking socket and its LAST_ENDPOINT text."""
        ...

    def unlisten(self, sock: socket.socket, endpoint: str) -> None:
        """Close a listening socket (ipc also removes the file it created)."""
        ...

    def check_peer(self, sock: socket.socket, peer: Any, opts: SocketOptions) -> str | None:
        """Access control on an accepted socket (``peer``: what accept() returned), by the
        listener's options: None to keep it, else why it is refused (for the log).
        tcp applies ZMQ_TCP_ACCEPT_FILTER, ipc ZMQ_IPC_FILTER_PID/UID/GID."""
        ...

    def connect(self, target: Any, opts: SocketOptions) -> socket.socket:
        """A non-blocking socket with the connect started (done when writable: read SO_ERROR).

        ZMQError when the attempt fails at once; use is_refusal(errno) to classify it.
        """
        ...

    def connects_at_once(self, target: Any) -> bool:
        """Whether ``connect(target)`` cannot block (no name to resolve), so the engine may
        start it in the calling thread rather than the I/O thread."""
        ...

    def connected(self, sock: socket.socket, opts: SocketOptions) -> None:
        """Make a connected or accepted socket non-blocking and tune it.

        Raises OSError (not ZMQError) when the kernel refuses a tuning option.
        """
        ...

    def grow_send_buffer(self, sock: socket.socket) -> None:
        """Called once, when a connection first sends a large message with ZMQ_SNDBUF unset:
        enlarge SO_SNDBUF if the kernel does not (tcp autotunes; ipc does not).

        Raises OSError when the kernel refuses.
        """
        ...

    def peer_address(self, sock: socket.socket) -> str:
        """Peer-Address metadata: the peer's IP for tcp, "" otherwise."""
        ...

    def is_refusal(self, err: int) -> bool:
        """Whether a connect errno means "nobody listens there"."""
        ...

    def unbind_key(self, scheme: str, address: str) -> str:
        """The text unbind(endpoint) is matched against registered LAST_ENDPOINTs."""
        ...

    def connect_endpoint(self, scheme: str, address: str, target: Any) -> str:
        """LAST_ENDPOINT after a connect."""
        ...

    def preamble(self, target: Any) -> bytes | None:
        """Bytes to send once the stream is connected, before ZMTP (hvsock's CONNECT line),
        or None. The engine then reads until ``preamble_reply`` says where the reply ends."""
        ...

    def preamble_reply(self, buf: bytes) -> int | None:
        """Where the peer's answer to ``preamble`` ends in ``buf`` (None: not yet);
        ValueError when it is a refusal or not an answer."""
        ...


_TRANSPORTS: dict[str, StreamTransport] = {}
for _transport in (tcp.TRANSPORT, ipc.TRANSPORT, vmci.TRANSPORT, hvsock.TRANSPORT):
    for _scheme in _transport.schemes:
        _TRANSPORTS[_scheme] = _transport

# Schemes vmzmq implements; libzmq's others (pgm, epgm, norm, tipc, udp, ws...) are
# EPROTONOSUPPORT, as in a libzmq built without them.
KNOWN_SCHEMES: tuple[str, ...] = ("inproc", *_TRANSPORTS)


def get_transport(scheme: str) -> StreamTransport | None:
    """The transport for a scheme; None for ``inproc`` (the engine's) and unknown schemes."""
    return _TRANSPORTS.get(scheme)


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """Split ``scheme://address`` at the first ``://``.

    EINVAL when there is no ``://`` or either side is empty; EPROTONOSUPPORT (naming the
    scheme) for a scheme vmzmq does not implement.
    """
    scheme, sep, address = endpoint.partition("://")
    if not sep:
        raise with_detail(
            errno.EINVAL, f"endpoint '{endpoint}' has no '://' between transport and address"
        )
    if not scheme:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has an empty transport")
    if not address:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has an empty address")
    if scheme not in KNOWN_SCHEMES:
        raise with_detail(
            errno.EPROTONOSUPPORT,
            f"endpoint '{endpoint}': transport '{scheme}' is not supported "
            f"(vmzmq has {', '.join(KNOWN_SCHEMES)})",
        )
    return scheme, address


def available_schemes() -> tuple[str, ...]:
    """The stream transport schemes usable here (``inproc`` is not included: always there)."""
    return tuple(scheme for scheme, t in _TRANSPORTS.items() if t.available())
