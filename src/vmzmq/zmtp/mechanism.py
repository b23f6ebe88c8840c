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
   carried (flags: ``FLAG_MORE`` / ``FLAG_COMMAND`` of :mod:`.frames`). The traffic path calls
   the two frame-level forms, which a mechanism overrides to skip the intermediate buffers:
   ``seal_frame(body, flags)`` returns the whole ZMTP data frame that carries one frame
   (header included), and ``open_frame(data, start, end)`` opens the wrapped frame in
   ``data[start:end]`` straight from the decoder's buffer, or returns None when it is not one
   of its own (the connection then reads it as a command: an ERROR, or a refusal). Mechanisms
   that don't wrap cost nothing on the hot path: the connection never calls them after the
   handshake.

A mechanism instance holds the state of one handshake: give each connection its own.

ZAP (RFC 27): a server mechanism that needs the authenticator's verdict sets ``zap_request``
(a :class:`~.zap.ZapRequest`) and returns no commands; the connection hands it to the engine,
which asks the handler and calls ``zap_result(reply)`` (``None``: no handler is bound). That
returns the commands to send next, or raises :class:`~.errors.AuthFailed`. After a 200 reply
``auth_properties`` holds ``User-Id`` and the handler's metadata, which the peer's own metadata
can never override.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from .commands import READY, parse_properties, ready_body
from .errors import ZMTP_UNEXPECTED_COMMAND, AuthFailed, ProtocolError
from .frames import BytesLike, frame_header
from .zap import ZapReply, ZapRequest


class Mechanism:
    """Base class of security mechanisms; see the module docstring for the protocol."""

    #: The mechanism's name in the greeting (at most 20 of A-Z 0-9 - _ . +).
    name: ClassVar[bytes] = b""
    #: Whether the greeting's as-server bit means something (PLAIN, CURVE). When false, we send
    #: 0 whatever the engine asked for, as RFC 37 requires for NULL, and ignore the peer's bit.
    has_roles: ClassVar[bool] = False
    #: Whether every frame after the handshake travels inside a command (CURVE's MESSAGE).
    wraps_frames: ClassVar[bool] = False

    @property
    def allows_zmtp2(self) -> bool:
        """Whether a ZMTP/2.0 peer may be let in: 2.0 has no mechanisms and no ZAP, so only
        NULL without a ZAP domain can accept one without lowering the socket's security."""
        return False

    def __init__(self) -> None:
        self.complete = False
        #: The peer's metadata, set as soon as the mechanism has it.
        self.peer_properties: dict[str, bytes] | None = None
        #: A question for the authenticator, set until ``zap_result`` answers it.
        self.zap_request: ZapRequest | None = None
        #: ``User-Id`` and the authenticator's metadata once it said 200.
        self.auth_properties: dict[str, bytes] = {}

    def check_roles(self, as_server: bool, peer_as_server: bool) -> None:
        """Nothing to check: libzmq 4.3 always sends as-server 0, whatever its role, so the
        peer's bit cannot be trusted to mean anything. Two peers in the same role fail in the
        mechanism instead (an unexpected command, or the handshake timer)."""
        return None

    def start(self, *, as_server: bool, properties: Mapping[str, bytes]) -> list[bytes]:
        """Begin the handshake; return the command bodies to send now."""
        raise NotImplementedError

    def process_command(self, name: bytes, data: bytes) -> list[bytes]:
        """Handle one handshake command from the peer; return command bodies to send."""
        raise NotImplementedError

    def zap_result(self, reply: ZapReply | None) -> list[bytes]:
        """The authenticator's answer to ``zap_request`` (None: no handler is bound); return
        command bodies to send, or raise :class:`AuthFailed`."""
        if self.zap_request is None:
            raise RuntimeError("zap_result() without a pending ZAP request")
        self.zap_request = None
        if reply is None:
            if self._zap_handler_required():
                raise AuthFailed(
                    f"no ZAP handler is bound at inproc://zeromq.zap.01 and "
                    f"{self.name.decode()} needs one to authenticate the peer",
                    0,
                )
        elif not reply.ok:
            text = reply.status_text.decode("utf-8", "replace")
            raise AuthFailed(f"authenticator refused the peer: {reply.status} {text}", reply.status)
        else:
            props = dict(reply.metadata)
            for key in [k for k in props if k.lower() == "user-id"]:
                del props[key]
            props["User-Id"] = reply.user_id
            self.auth_properties = props
        return self._zap_accepted()

    def _zap_handler_required(self) -> bool:
        """Whether a missing handler fails the handshake (else the peer is let in)."""
        return True

    def _zap_accepted(self) -> list[bytes]:
        """The handshake goes on after the authenticator's 200 (or no handler, if allowed)."""
        raise NotImplementedError

    def wrap_frame(self, flags: int, body: bytes) -> bytes:
        """Return the body of the command that carries one outgoing frame (wraps_frames only)."""
        raise NotImplementedError

    def unwrap_frame(self, name: bytes, data: bytes) -> tuple[int, bytes]:
        """Return (flags, body) of the frame carried by a received command (wraps_frames only)."""
        raise NotImplementedError

    #: Optionally, the traffic path's loop over runs of short wrapped frames that carry
    #: one-frame messages: see ``FrameDecoder.open_run`` (wraps_frames only).
    open_run: Callable[[bytes, int, int, Callable[[bytes], None]], tuple[int, Any]] | None = None

    def seal_frame(self, body: BytesLike, flags: int = 0, borrow: bool = False) -> BytesLike:
        """The ZMTP data frame that carries one outgoing frame (wraps_frames only).

        With ``borrow`` a large frame may come back as a view of the mechanism's own buffer,
        valid until the next large frame is sealed: the caller copies whatever it keeps
        longer.
        """
        command = self.wrap_frame(flags, bytes(body))
        return frame_header(0, len(command)) + command

    def open_frame(self, data: BytesLike, start: int, end: int) -> tuple[int, bytes] | None:
        """(flags, body) of the frame wrapped in the data frame body ``data[start:end]``, or
        None to have the connection read that body as a command (wraps_frames only)."""
        return None


class NullMechanism(Mechanism):
    """RFC 37 NULL: no authentication, no encryption; both sides send READY with metadata.

    Both sides send READY at once rather than the server waiting for the client's (the RFC
    allows either; libzmq does this, and it saves a round trip). With a ZAP domain, READY
    waits for the authenticator's verdict (asked at once, with no credentials), as in libzmq;
    without a handler the peer is let in unless ``zap_enforce_domain``.
    """

    name = b"NULL"

    def __init__(self, zap_domain: bytes = b"", zap_enforce_domain: bool = False) -> None:
        super().__init__()
        self._zap = bool(zap_domain)
        self._enforce = zap_enforce_domain
        self._properties: Mapping[str, bytes] = {}
        self._ready_sent = False
        self._ready_received = False

    @property
    def allows_zmtp2(self) -> bool:
        return not self._zap

    def start(self, *, as_server: bool, properties: Mapping[str, bytes]) -> list[bytes]:
        self._properties = properties
        if self._zap:
            self.zap_request = ZapRequest(b"NULL")
            return []
        self._ready_sent = True
        return [ready_body(properties)]

    def process_command(self, name: bytes, data: bytes) -> list[bytes]:
        if name != READY or self._ready_received:
            raise ProtocolError(
                f"unexpected {name!r} command during the NULL handshake (expected READY)",
                ZMTP_UNEXPECTED_COMMAND,
            )
        self.peer_properties = parse_properties(data)
        self._ready_received = True
        self.complete = self._ready_sent
        return []

    def _zap_handler_required(self) -> bool:
        return self._enforce

    def _zap_accepted(self) -> list[bytes]:
        self._ready_sent = True
        self.complete = self._ready_received
        return [ready_body(self._properties)]
