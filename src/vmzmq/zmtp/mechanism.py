"""Security mechanisms: the plug-in point between the greeting and traffic.

A :class:`Mechanism` owns the command exchange that follows the greeting (RFC 37 "Authentication
and Confidentiality"): NULL sends READY and waits for READY; PLAIN (RFC 24) and CURVE (RFC 25)
add HELLO, WELCOME, INITIATE first. :class:`~.connection.ZmtpConnection` drives it:

1. ``check_roles(as_server, peer_as_server)`` once the peer's greeting is in;
2. ``start(as_server=..., properties=...)`` returns the command bodies to send first (the
   properties are our metadata, Socket-Type first, to be carried the mechanism's way);
3. ``process_command(name, data)`` for each command the peer sends until ``complete``; it
   returns more command bodies to send, sets ``peer_properties`` once the peer's metadata is
   known (the connection then checks the socket type), and raises :class:`ProtocolError` to
   refuse (with ``error_reason`` set if the peer deserves an ERROR command first). ERROR
   commands never reach it: the connection reports them as :class:`~.events.PeerError`.
4. After the handshake, a mechanism whose ``wraps_frames`` is true (CURVE) sees every frame:
   ``wrap_frame(flags, body)`` returns the body of the command that carries one outgoing frame,
   and ``unwrap_frame(name, data)`` returns ``(flags, body)`` of the frame a received command
   carried (flags: ``FLAG_MORE`` / ``FLAG_COMMAND`` of :mod:`.frames`). Mechanisms that don't
   wrap cost nothing on the hot path: the connection never calls them after the handshake.

A mechanism instance holds the state of one handshake: give each connection its own.

ZAP (RFC 27) will plug in here too: a server mechanism that needs the authenticator's verdict
will return no commands from ``process_command`` and expose a pending request for the engine;
the engine's answer will resume it. Nothing of that is needed for NULL without a ZAP domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from .commands import READY, parse_properties, ready_body
from .errors import ZMTP_INVALID_SEQUENCE, ZMTP_UNEXPECTED_COMMAND, ProtocolError


class Mechanism:
    """Base class of security mechanisms; see the module docstring for the protocol."""

    #: The mechanism's name in the greeting (at most 20 of A-Z 0-9 - _ . +).
    name: ClassVar[bytes] = b""
    #: Whether the greeting's as-server bit means something (PLAIN, CURVE). When false, we send
    #: 0 whatever the engine asked for, as RFC 37 requires for NULL, and ignore the peer's bit.
    has_roles: ClassVar[bool] = False
    #: Whether every frame after the handshake travels inside a command (CURVE's MESSAGE).
    wraps_frames: ClassVar[bool] = False

    def __init__(self) -> None:
        self.complete = False
        #: The peer's metadata, set as soon as the mechanism has it.
        self.peer_properties: dict[str, bytes] | None = None

    def check_roles(self, as_server: bool, peer_as_server: bool) -> None:
        """Refuse a peer whose greeting claims the same role as ours (both clients or both
        servers can never complete a PLAIN or CURVE handshake)."""
        if self.has_roles and as_server == peer_as_server:
            side = "server" if as_server else "client"
            raise ProtocolError(
                f"both peers announce themselves as {side} for {self.name.decode()}",
                ZMTP_INVALID_SEQUENCE,
            )

    def start(self, *, as_server: bool, properties: Mapping[str, bytes]) -> list[bytes]:
        """Begin the handshake; return the command bodies to send now."""
        raise NotImplementedError

    def process_command(self, name: bytes, data: bytes) -> list[bytes]:
        """Handle one handshake command from the peer; return command bodies to send."""
        raise NotImplementedError

    def wrap_frame(self, flags: int, body: bytes) -> bytes:
        """Return the body of the command that carries one outgoing frame (wraps_frames only)."""
        raise NotImplementedError

    def unwrap_frame(self, name: bytes, data: bytes) -> tuple[int, bytes]:
        """Return (flags, body) of the frame carried by a received command (wraps_frames only)."""
        raise NotImplementedError


class NullMechanism(Mechanism):
    """RFC 37 NULL: no authentication, no encryption; both sides send READY with metadata.

    Both sides send READY at once rather than the server waiting for the client's (the RFC
    allows either; libzmq does this, and it saves a round trip).
    """

    name = b"NULL"

    def start(self, *, as_server: bool, properties: Mapping[str, bytes]) -> list[bytes]:
        return [ready_body(properties)]

    def process_command(self, name: bytes, data: bytes) -> list[bytes]:
        if name != READY:
            raise ProtocolError(
                f"unexpected {name!r} command during the NULL handshake (expected READY)",
                ZMTP_UNEXPECTED_COMMAND,
            )
        self.peer_properties = parse_properties(data)
        self.complete = True
        return []
