"""``ZmtpConnection``: one ZMTP connection as a state machine, bytes in and events out.

The engine owns the socket and the clock; this object owns the protocol::

    conn = ZmtpConnection("DEALER", properties={"Identity": b"abc"})
    sock.sendall(conn.start())                  # the first octets of our greeting
    for data in reads:
        events = conn.receive(data)             # raises ProtocolError on a bad peer
        out = conn.data_to_send()               # the rest of the greeting, READY, ERROR...
        if out:
            sock.sendall(out)                   # always before anything encoded afterwards
        ...                                     # events: see events.py; messages are lists
    sock.sendall(conn.encode_message([b"hello", b"world"]))

On ``ProtocolError`` the engine sends ``data_to_send()`` (it may hold an ERROR command for the
peer) and closes. On a :class:`~.events.PeerError` event it closes too.

States (see ``_TRANSITIONS``)::

    IDLE --start()--> SIGNATURE --3.x--> GREETING --64 octets--> HANDSHAKE --mechanism--> TRAFFIC
                          |                                                              ^
                          +--2.0--> ZMTP2_GREETING --socket type, identity message-------+
    (any state but IDLE) --- bad peer input, or the peer's ERROR ---> CLOSED

The peer's version is known at octet 10 of its greeting, and the SIGNATURE state decides there
(``_version_known``). A socket that may talk ZMTP/2.0 (NULL without a ZAP domain, and a socket
type 2.0 has) sends only the signature and major version first, and the rest of its greeting
(3.x) or its socket type and identity (2.0) once it knows; any other sends its whole 3.x
greeting at once and refuses 2.0 peers, so a downgrade can never skip a mechanism. ZMTP/2.0
(RFC 15) frames like 3.x without the COMMAND bit: no commands, no metadata (the peer's
identity is its first message), subscriptions as data messages, no heartbeats.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import commands
from .commands import (
    CANCEL,
    ERROR,
    PING,
    PONG,
    SUBSCRIBE,
    command_body,
    encode_properties,
    error_body,
    get_property,
    parse_command,
    parse_error,
    parse_ping,
)
from .errors import ZMTP_INVALID_METADATA, ZMTP_UNSPECIFIED, ProtocolError
from .events import Cancel, HandshakeComplete, PeerError, Ping, Pong, Subscribe
from .frames import (
    _SHORT_LAST,
    FLAG_COMMAND,
    FLAG_LONG,
    FLAG_MORE,
    BytesLike,
    FrameDecoder,
    encode_command,
    encode_message,
    encode_message_parts,
    frame_header,
    frame_one,
)
from .greeting import (
    GREETING_SIZE,
    OUR_MAJOR,
    SIGNATURE,
    SIGNATURE_SIZE,
    ZMTP2_GREETING_SIZE,
    ZMTP2_REVISION,
    build_greeting,
    check_signature,
    greeting_rest,
    parse_greeting,
)
from .mechanism import Mechanism, NullMechanism
from .socket_types import SOCKET_TYPES, ZMTP2_NAMES, ZMTP2_TYPES, compatible
from .zap import ZapReply, ZapRequest


def max_message_size_limit(max_message_size: int) -> int:
    return max_message_size if max_message_size >= 0 else 1 << 64


class State(enum.Enum):
    IDLE = "IDLE"  # created; start() not called yet
    SIGNATURE = "SIGNATURE"  # reading the peer's signature and version (11 octets)
    GREETING = "GREETING"  # a 3.x peer: reading the rest of its 64 octets
    ZMTP2_GREETING = "ZMTP2_GREETING"  # a 2.0 peer: reading its socket type and identity
    HANDSHAKE = "HANDSHAKE"  # the mechanism's command exchange (READY for NULL)
    TRAFFIC = "TRAFFIC"  # messages and commands flow both ways
    CLOSED = "CLOSED"  # failed or refused; the engine closes the stream


class _Trigger(enum.Enum):
    START = "start() called"
    VERSION_3 = "peer speaks ZMTP 3.x"
    VERSION_2 = "peer speaks ZMTP/2.0"
    GREETING_RECEIVED = "peer greeting received"
    ZMTP2_READY = "ZMTP/2.0 peer's socket type and identity received"
    HANDSHAKE_DONE = "mechanism complete"
    PEER_ERROR = "peer sent ERROR"
    FAILED = "protocol error"


_TRANSITIONS: dict[tuple[State, _Trigger], State] = {
    (State.IDLE, _Trigger.START): State.SIGNATURE,
    (State.SIGNATURE, _Trigger.VERSION_3): State.GREETING,
    (State.SIGNATURE, _Trigger.VERSION_2): State.ZMTP2_GREETING,
    (State.SIGNATURE, _Trigger.FAILED): State.CLOSED,
    (State.GREETING, _Trigger.GREETING_RECEIVED): State.HANDSHAKE,
    (State.GREETING, _Trigger.FAILED): State.CLOSED,
    (State.ZMTP2_GREETING, _Trigger.ZMTP2_READY): State.TRAFFIC,
    (State.ZMTP2_GREETING, _Trigger.FAILED): State.CLOSED,
    (State.HANDSHAKE, _Trigger.HANDSHAKE_DONE): State.TRAFFIC,
    (State.HANDSHAKE, _Trigger.PEER_ERROR): State.CLOSED,
    (State.HANDSHAKE, _Trigger.FAILED): State.CLOSED,
    (State.TRAFFIC, _Trigger.PEER_ERROR): State.CLOSED,
    (State.TRAFFIC, _Trigger.FAILED): State.CLOSED,
    (State.CLOSED, _Trigger.FAILED): State.CLOSED,
}

#: The largest command a peer may send before the handshake is done: checked on the declared
#: size, so a half-open connection never makes us hold more (libzmq has no such bound). Room
#: for every mechanism's commands with an identity and a few KiB of ZMQ_METADATA.
HANDSHAKE_COMMAND_MAX = 16 * 1024
#: What a wrapping mechanism (CURVE) adds around one frame, at most: the command frame's
#: name, nonce, box tag and the inner flags octet.
WRAP_OVERHEAD = 64

#: libzmq 4.3's PLAIN server names its ERROR command "\x5eRROR" (a C string "\x05ERROR",
#: whose hex escape swallows the E), and its PLAIN client recognises only that spelling. We
#: send the correct ERROR and, during a handshake, read libzmq's as one too.
_LIBZMQ_PLAIN_ERROR = b"\x5eRROR"

#: The ERROR reason sent to a peer whose socket type cannot talk to ours.
INVALID_SOCKET_TYPE = b"Invalid socket type"

#: The longest identity a ZMTP/2.0 peer may send (libzmq's routing ids are 1..255 octets).
ZMTP2_IDENTITY_MAX = 255


class ZmtpConnection:
    """One ZMTP connection (3.1, 3.0 or 2.0), either side. See the module docstring.

    ``socket_type`` is ours, sent as Socket-Type; ``properties`` are the other READY properties
    (``Identity`` when the socket has one, ``X-*`` user metadata), sent in the order given.
    ``as_server`` is the greeting's as-server bit; it only means something for mechanisms with
    client and server roles (always 0 for NULL). ``max_message_size`` is MAXMSGSIZE: -1 for no
    limit, else a larger message (sum of its frame sizes), or command, is a ProtocolError.
    With ``bare_single_frames`` a one-frame data message is returned as its ``bytes`` frame
    rather than a list of one (see :class:`FrameDecoder`).
    """

    def __init__(
        self,
        socket_type: str,
        as_server: bool = False,
        mechanism: Mechanism | None = None,
        properties: Mapping[str, BytesLike | str] | None = None,
        max_message_size: int = -1,
        bare_single_frames: bool = False,
    ) -> None:
        if socket_type not in SOCKET_TYPES:
            raise ValueError(f"{socket_type!r} is not a ZMTP socket type")
        extra = dict(properties or {})
        if get_property(extra, "Socket-Type") is not None:  # type: ignore[arg-type]
            raise ValueError("Socket-Type is added by the codec; do not pass it in properties")
        self.socket_type = socket_type
        self.as_server = bool(as_server)
        self.mechanism = mechanism if mechanism is not None else NullMechanism()
        self._properties: dict[str, Any] = {"Socket-Type": socket_type, **extra}
        encode_properties(self._properties)  # refuse unencodable metadata now, not mid-handshake
        self.max_message_size = max_message_size

        self.state = State.IDLE
        self.handshake_done = False
        # Commands decoded so far: when a receive() did not move it, every event it returned
        # is a data message, which lets the engine queue them without looking at each.
        self.commands_seen = 0
        self.peer_minor = -1  # known after the greeting; 0 for 3.0 and 2.0 peers
        #: (major, minor) as announced; (2, 0) for a ZMTP/2.0 peer (revision octet 1).
        self.peer_version: tuple[int, int] | None = None
        #: Whether 2.0 peers are let in: see the module docstring.
        self.allows_zmtp2 = self.mechanism.allows_zmtp2 and socket_type in ZMTP2_TYPES
        self.zmtp2 = False  # the peer speaks ZMTP/2.0
        self._mechanism_started = False
        self.peer_as_server = False
        self.peer_properties: dict[str, bytes] = {}
        self.peer_socket_type = ""

        self._greeting = bytearray()
        self._out: list[bytes] = []
        self._decoder = FrameDecoder(self._on_command, max_message_size, bare_single_frames)
        self._decoder.command_limit = min(HANDSHAKE_COMMAND_MAX, self._decoder.command_limit)
        self._wrapped = self.mechanism.wraps_frames
        #: Whether encode_message_parts may return the mechanism's own buffers (see there).
        self.borrows_buffers = self._wrapped
        # True once messages are framed as they are (handshake done, mechanism doesn't wrap):
        # the encoders test this one flag on their fast path.
        self._plain = False
        self._socket_type_checked = False
        self._zap_state = 0  # 0: no request; 1: one to take; 2: taken, awaiting zap_reply

    # --- state table ------------------------------------------------------------------------

    def _transition(self, trigger: _Trigger) -> None:
        try:
            self.state = _TRANSITIONS[self.state, trigger]
        except KeyError:
            state = self.state.name
            raise RuntimeError(f"ZMTP: {trigger.value!r} is not allowed in state {state}") from None

    # --- receiving --------------------------------------------------------------------------

    def start(self) -> bytes:
        """Return the first octets of our greeting, to be sent at once: the signature and
        major version when 2.0 peers are allowed (the rest follows from :meth:`receive`
        once the peer's version is known), else the whole 64-octet greeting."""
        self._transition(_Trigger.START)
        if self.allows_zmtp2:
            return SIGNATURE
        mech = self.mechanism
        return build_greeting(mech.name, self.as_server and mech.has_roles)

    def receive(self, data: BytesLike) -> list[Any]:
        """Feed received bytes; return the events they complete, in order.

        Data messages are lists of ``bytes`` frames (a one-frame one is bare ``bytes`` with
        ``bare_single_frames``); the rest are :mod:`.events` objects.
        Raises :class:`ProtocolError` (and nothing else) if the peer broke the protocol; its
        ``events`` attribute holds what this call decoded before the error. After the
        connection failed or the peer sent ERROR, further bytes are ignored.
        """
        events: list[Any] = []
        state = self.state
        try:
            if state is State.TRAFFIC or state is State.HANDSHAKE:
                self._decoder.feed(data, events)
            elif state is State.IDLE:
                raise RuntimeError("ZmtpConnection.receive() called before start()")
            elif state is not State.CLOSED:
                self._receive_greeting(data, events)
        except ProtocolError as exc:
            self._fail(exc)
            exc.events = events
            raise
        return events

    def read_buffer(self) -> memoryview | None:
        """A buffer to read the next bytes of the stream into, skipping a copy: the rest of a
        large data frame's body (None when there is none in progress). After filling ``n``
        octets of it, call :meth:`buffer_filled` (instead of :meth:`receive`)."""
        if self.state is State.TRAFFIC:
            return self._decoder.read_buffer()
        return None

    def buffer_filled(self, n: int) -> list[Any]:
        """``n`` octets were read into the last :meth:`read_buffer`; the events they complete."""
        events: list[Any] = []
        try:
            self._decoder.buffer_filled(n, events)
        except ProtocolError as exc:
            self._fail(exc)
            exc.events = events
            raise
        return events

    def data_to_send(self) -> bytes:
        """Bytes the protocol itself wants sent (READY, ERROR...); b"" if none. Clears them."""
        out = self._out
        if not out:
            return b""
        self._out = []
        return b"".join(out)

    def take_zap_request(self) -> ZapRequest | None:
        """The mechanism's question for the authenticator, once (see :mod:`.zap`); the
        engine asks and answers with :meth:`zap_reply`."""
        if self._zap_state != 1 or self.state is not State.HANDSHAKE:
            return None
        self._zap_state = 2
        return self.mechanism.zap_request

    def zap_reply(self, reply: ZapReply | None) -> list[Any]:
        """The authenticator's answer (None: no handler is bound); the events it completes.
        Raises :class:`ProtocolError` (:class:`~.errors.AuthFailed` for a refusal); then send
        :meth:`data_to_send` and close, as for any protocol error."""
        if self._zap_state != 2:
            raise RuntimeError("zap_reply() without a ZAP request taken")
        self._zap_state = 0
        events: list[Any] = []
        if self.state is not State.HANDSHAKE:
            return events
        try:
            self._after_mechanism_step(self.mechanism.zap_result(reply), events)
        except ProtocolError as exc:
            self._fail(exc)
            raise
        return events

    def zap_failed(self, exc: ProtocolError) -> None:
        """The engine could not get a usable answer (a malformed reply, a handler gone)."""
        self._zap_state = 0
        if self.state is not State.CLOSED:
            self._fail(exc)

    @property
    def buffered_size(self) -> int:
        """Octets of incomplete frames and messages held by the decoder."""
        return len(self._greeting) + self._decoder.buffered_size

    def _fail(self, exc: ProtocolError) -> None:
        if exc.error_reason is not None and self.state is not State.CLOSED and not self.zmtp2:
            self._out.append(encode_command(error_body(exc.error_reason)))
        self._transition(_Trigger.FAILED)

    def _receive_greeting(self, data: BytesLike, events: list[Any]) -> None:
        """Gather the peer's greeting stage by stage; the octets after it are frames."""
        buf = self._greeting
        view = memoryview(data).cast("B")
        pos = 0
        while True:
            state = self.state
            if state is State.SIGNATURE:
                need = SIGNATURE_SIZE
            elif state is State.GREETING:
                need = GREETING_SIZE
            elif state is State.ZMTP2_GREETING:
                need = self._zmtp2_size(buf)
            else:
                break
            if len(buf) < need:
                chunk = view[pos : pos + need - len(buf)]
                buf += chunk
                pos += len(chunk)
                if len(buf) < need:
                    check_signature(buf)  # a ZMTP 1.0 peer waits for us: refuse it now
                    return
                continue  # a 2.0 identity's size is known once its header is in
            if state is State.SIGNATURE:
                self._version_known(buf)
            elif state is State.GREETING:
                self._greeting_received(buf, events)
            else:
                self._zmtp2_received(buf, events)
        if pos < len(view) and self.state is not State.CLOSED:
            self._decoder.feed(view[pos:], events)

    def _version_known(self, buf: bytearray) -> None:
        """The one place that chooses the protocol, from the peer's octet 10."""
        check_signature(buf)
        version = buf[10]
        mech = self.mechanism
        if version >= OUR_MAJOR:
            self._transition(_Trigger.VERSION_3)
            if self.allows_zmtp2:
                self._out.append(greeting_rest(mech.name, self.as_server and mech.has_roles))
                # NULL's READY does not depend on the peer's greeting: sent with the rest of
                # ours, it saves the round trip that the staged greeting would add.
                self._mechanism_started = True
                replies = mech.start(as_server=self.as_server, properties=self._properties)
                self._out.extend(encode_command(body) for body in replies)
            return
        if version == ZMTP2_REVISION and self.allows_zmtp2:
            self._transition(_Trigger.VERSION_2)
            identity = get_property(self._properties, "Identity") or b""
            if isinstance(identity, str):
                identity = identity.encode()
            identity = bytes(identity)[:ZMTP2_IDENTITY_MAX]
            self._out.append(
                bytes((ZMTP2_TYPES[self.socket_type],)) + frame_header(0, len(identity)) + identity
            )
            return
        if version == ZMTP2_REVISION:
            if not self.mechanism.allows_zmtp2:
                why = (
                    f"this socket uses {mech.name.decode()}"
                    if mech.name != b"NULL"
                    else "this socket has a ZAP domain"
                )
            else:
                why = f"a {self.socket_type} socket has no ZMTP/2.0 form"
            raise ProtocolError(
                f"peer speaks ZMTP/2.0, which has no security mechanisms: refused, as {why}",
                ZMTP_UNSPECIFIED,
            )
        raise ProtocolError(
            f"peer announced ZMTP version {version}: vmzmq speaks 3.x, and 2.0 (revision 1)",
            ZMTP_UNSPECIFIED,
        )

    def _greeting_received(self, buf: bytearray, events: list[Any]) -> None:
        peer = parse_greeting(buf, self.mechanism.name)
        self._greeting = bytearray()
        self.peer_version = (peer.major, peer.minor)
        # A later major version speaks at least 3.1 to us (RFC 37: use our own protocol with an
        # equal or higher peer), so only a 3.0 peer gets the downgraded encoding.
        self.peer_minor = peer.minor if peer.major == 3 else 1
        self.peer_as_server = peer.as_server
        mech = self.mechanism
        mech.check_roles(self.as_server, peer.as_server)
        self._transition(_Trigger.GREETING_RECEIVED)
        replies: list[bytes] = []
        if not self._mechanism_started:
            self._mechanism_started = True
            replies = mech.start(as_server=self.as_server, properties=self._properties)
        self._after_mechanism_step(replies, events)

    def _zmtp2_size(self, buf: bytearray) -> int:
        """How many octets the 2.0 greeting and identity message take, as far as ``buf``
        tells; checks each part as it arrives."""
        n = len(buf)
        if n < ZMTP2_GREETING_SIZE:
            return ZMTP2_GREETING_SIZE
        peer_type = ZMTP2_NAMES.get(buf[11])
        if peer_type is None or not compatible(self.socket_type, peer_type):
            theirs = peer_type or f"number {buf[11]}"
            raise ProtocolError(
                f"ZMTP/2.0 peer's socket type {theirs} cannot talk to a {self.socket_type} socket",
                ZMTP_INVALID_METADATA,
            )
        header = ZMTP2_GREETING_SIZE + 2
        if n < ZMTP2_GREETING_SIZE + 1:
            return header
        flags = buf[ZMTP2_GREETING_SIZE]
        if flags & ~FLAG_LONG:
            raise ProtocolError(
                f"ZMTP/2.0 peer's identity frame has flags {flags:#04x}: it must be one frame",
                ZMTP_UNSPECIFIED,
            )
        if flags & FLAG_LONG:
            header = ZMTP2_GREETING_SIZE + 9
        if n < header:
            return header
        size = int.from_bytes(buf[ZMTP2_GREETING_SIZE + 1 : header], "big")
        if size > ZMTP2_IDENTITY_MAX:
            raise ProtocolError(
                f"ZMTP/2.0 peer's identity of {size} octets is longer than {ZMTP2_IDENTITY_MAX}",
                ZMTP_UNSPECIFIED,
            )
        return header + size

    def _zmtp2_received(self, buf: bytearray, events: list[Any]) -> None:
        peer_type = ZMTP2_NAMES[buf[11]]
        header = ZMTP2_GREETING_SIZE + (9 if buf[ZMTP2_GREETING_SIZE] & FLAG_LONG else 2)
        props = {"Socket-Type": peer_type.encode(), "Identity": bytes(buf[header:])}
        self._greeting = bytearray()
        self.zmtp2 = True
        self.peer_version = (2, 0)
        self.peer_minor = 0  # subscriptions travel as data messages, as to a 3.0 peer
        self.peer_properties = props
        self.peer_socket_type = peer_type
        self._socket_type_checked = True
        self._transition(_Trigger.ZMTP2_READY)
        self.handshake_done = True
        self._plain = True
        decoder = self._decoder
        decoder.data_allowed = True
        decoder.command_limit = max_message_size_limit(self.max_message_size)
        events.append(HandshakeComplete(props, peer_type, 0, {}, (2, 0)))

    def _after_mechanism_step(self, replies: list[bytes], events: list[Any]) -> None:
        mech = self.mechanism
        # Check the metadata before queueing replies, so a refused peer gets ERROR only.
        if not self._socket_type_checked and mech.peer_properties is not None:
            self._check_peer_metadata(mech.peer_properties)
        self._out.extend(encode_command(body) for body in replies)
        if mech.zap_request is not None and self._zap_state == 0:
            self._zap_state = 1  # for the engine to take (take_zap_request)
        if mech.complete:
            self._transition(_Trigger.HANDSHAKE_DONE)
            self.handshake_done = True
            self._plain = not self._wrapped
            decoder = self._decoder
            decoder.data_allowed = True
            if self._wrapped:
                decoder.open_wrapped = mech.open_frame
                decoder.open_run = mech.open_run
                decoder.on_wrapped_command = self._on_wrapped_command
            limit = max_message_size_limit(self.max_message_size)
            decoder.command_limit = limit + WRAP_OVERHEAD if self._wrapped else limit
            events.append(
                HandshakeComplete(
                    self.peer_properties,
                    self.peer_socket_type,
                    self.peer_minor,
                    dict(mech.auth_properties),
                    (3, self.peer_minor),
                )
            )

    def _check_peer_metadata(self, props: dict[str, bytes]) -> None:
        self._socket_type_checked = True
        raw = get_property(props, "Socket-Type")
        # Latin-1 never fails to decode, and any non-ASCII name fails the table anyway.
        peer_type = raw.decode("latin-1") if raw is not None else ""
        # A peer that names no type is accepted, as libzmq accepts it (RFC 37: "SHOULD").
        if raw is not None and not compatible(self.socket_type, peer_type):
            raise ProtocolError(
                f"peer socket type {peer_type!r} cannot talk to a {self.socket_type} socket",
                ZMTP_INVALID_METADATA,
                error_reason=INVALID_SOCKET_TYPE,
            )
        self.peer_properties = props
        self.peer_socket_type = peer_type

    def _on_command(self, body: bytes, events: list[Any]) -> None:
        """Called by the decoder for each command frame, in stream order."""
        if self.zmtp2:
            raise ProtocolError(
                "ZMTP/2.0 peer sent a frame with flag bit 2 (COMMAND), which 2.0 reserves",
                ZMTP_UNSPECIFIED,
            )
        self.commands_seen += 1
        if body[:5] == _LIBZMQ_PLAIN_ERROR and self.state is State.HANDSHAKE:
            body = b"\x05ERROR" + body[5:]
        name, data = parse_command(body)
        if name == ERROR:
            events.append(PeerError(parse_error(data)))
            self._transition(_Trigger.PEER_ERROR)
            self._decoder.stopped = True
            return
        if self.state is State.HANDSHAKE:
            self._after_mechanism_step(self.mechanism.process_command(name, data), events)
            return
        if self._wrapped:  # a command frame, or a wrapped frame the mechanism did not open
            flags, inner = self.mechanism.unwrap_frame(name, data)
            if not flags & FLAG_COMMAND:
                self._decoder.add_frame(flags & FLAG_MORE, inner, events)
                return
            name, data = parse_command(inner)
        self._traffic_command(name, data, events)

    def _on_wrapped_command(self, inner: bytes, events: list[Any]) -> None:
        """A command that a wrapping mechanism carried inside a frame (PING, SUBSCRIBE...)."""
        self.commands_seen += 1
        name, data = parse_command(inner)
        self._traffic_command(name, data, events)

    def _traffic_command(self, name: bytes, data: bytes, events: list[Any]) -> None:
        if name == PING:
            ttl, context = parse_ping(data)
            events.append(Ping(ttl, context))
        elif name == PONG:
            events.append(Pong(data))
        elif name == SUBSCRIBE:
            events.append(Subscribe(data))
        elif name == CANCEL:
            events.append(Cancel(data))
        elif name == ERROR:  # an ERROR a wrapping mechanism carried inside a frame
            events.append(PeerError(parse_error(data)))
            self._transition(_Trigger.PEER_ERROR)
            self._decoder.stopped = True
        # Any other command is ignored: RFC 37 leaves room for commands we don't know.

    # --- encoding ---------------------------------------------------------------------------

    def message_encoder(self) -> Callable[[Sequence[BytesLike]], bytes]:
        """What ``encode_message`` amounts to from now on, for the engine's hot path: the plain
        framing function itself once a mechanism that does not wrap frames is established."""
        return encode_message if self._plain else self.encode_message

    def one_frame_encoder(self) -> Callable[[BytesLike], bytes]:
        """What ``encode_message((body,))`` amounts to from now on, for the engine's burst
        path: :func:`~.frames.frame_one` in clear, else the mechanism's wrapping. Valid after
        the handshake. Every byte of framing the engine sends comes from this module and
        :mod:`.frames`, so no fast path can go around a mechanism."""
        self._require_handshake()
        return frame_one if self._plain else self.mechanism.seal_frame  # type: ignore[return-value]

    def encode_message(self, frames: Sequence[BytesLike]) -> bytes:
        """Frame one message (MORE on all frames but the last). Valid after the handshake."""
        if self._plain:
            if len(frames) == 1:
                body = frames[0]
                n = len(body)
                if n < 256:
                    return _SHORT_LAST[n] + body
            return encode_message(frames)
        return self._encode_wrapped(frames)

    def encode_messages(self, messages: Sequence[Sequence[BytesLike]]) -> bytes:
        """Frame several messages into one buffer, for one send of a batch."""
        if not self._plain:
            return b"".join([self._encode_wrapped(frames) for frames in messages])
        pieces: list[BytesLike] = []
        append = pieces.append
        short = _SHORT_LAST
        for frames in messages:
            if len(frames) == 1:
                body = frames[0]
                n = len(body)
                if n < 256:
                    append(short[n])
                    append(body)
                    continue
            append(encode_message(frames))
        return b"".join(pieces)

    def encode_message_parts(self, frames: Sequence[BytesLike]) -> list[BytesLike]:
        """The bytes of :meth:`encode_message` as a list of buffers for ``sendmsg``; frames
        of 64 KiB or more are the objects passed in, not copies.

        With a wrapping mechanism (``borrows_buffers``) a large one-frame message comes back
        as a view of the mechanism's own buffer, valid until the next large message is
        encoded on this connection (smaller messages and commands do not touch it): the
        caller finishes writing it, or copies it, before encoding the next large one.
        """
        if self._plain:
            return encode_message_parts(frames)
        if len(frames) == 1:
            self._require_handshake()
            return [self.mechanism.seal_frame(frames[0], borrow=True)]
        return [self._encode_wrapped(frames)]

    def encode_subscribe(self, topic: BytesLike) -> bytes:
        """SUBSCRIBE for a 3.1 peer; for a 3.0 peer the data message b"\\x01" + topic."""
        if self.peer_minor >= 1:
            return self._encode_command(command_body(SUBSCRIBE, bytes(topic)))
        return self.encode_message((b"\x01" + topic,))

    def encode_cancel(self, topic: BytesLike) -> bytes:
        """CANCEL for a 3.1 peer; for a 3.0 peer the data message b"\\x00" + topic."""
        if self.peer_minor >= 1:
            return self._encode_command(command_body(CANCEL, bytes(topic)))
        return self.encode_message((b"\x00" + topic,))

    def encode_ping(self, ttl_deciseconds: int, context: bytes) -> bytes:
        """PING with a TTL (0..65535 deciseconds, 0 = none) and up to 16 octets of context.
        Never for a ZMTP/2.0 peer, which has no commands (RuntimeError)."""
        if self.zmtp2:
            raise RuntimeError("ZMTP/2.0 has no PING")
        return self._encode_command(commands.ping_body(ttl_deciseconds, context))

    def encode_pong(self, context: bytes) -> bytes:
        """PONG echoing a PING's context."""
        return self._encode_command(commands.pong_body(context))

    def encode_error(self, reason: bytes) -> bytes:
        """ERROR (reason cut to 255 octets). Valid any time after start(), also mid-handshake
        (e.g. an authenticator refused the peer); it is never wrapped, so a peer can read it
        whatever state its mechanism is in. b"" for a ZMTP/2.0 peer, which has no ERROR."""
        if self.state is State.IDLE:
            raise RuntimeError("ZmtpConnection.encode_error() called before start()")
        if self.zmtp2:
            return b""
        return encode_command(error_body(reason))

    def _encode_command(self, body: bytes) -> bytes:
        if self._plain:
            return encode_command(body)
        self._require_handshake()
        return self.mechanism.seal_frame(body, FLAG_COMMAND)  # type: ignore[return-value]

    def _encode_wrapped(self, frames: Sequence[BytesLike]) -> bytes:
        self._require_handshake()
        if not frames:
            raise ValueError("a message has at least one frame")
        seal = self.mechanism.seal_frame
        last = len(frames) - 1
        if not last:
            return seal(frames[0])  # type: ignore[return-value]
        return b"".join([seal(body, FLAG_MORE if i < last else 0) for i, body in enumerate(frames)])

    def _require_handshake(self) -> None:
        if not self.handshake_done:
            raise RuntimeError(
                f"ZMTP: cannot encode messages before the handshake (state {self.state.name})"
            )
