"""CURVE: the CurveZMQ handshake (RFC 26) as ZMTP carries it (RFC 25), sans-I/O.

:class:`CurveMechanism` is a :class:`~.mechanism.Mechanism`: the connection feeds it the peer's
handshake commands and, once the handshake is done, every frame goes through ``wrap_frame`` /
``unwrap_frame`` inside a MESSAGE command. Byte for byte what libzmq 4.3.5 sends and accepts.

Keys: C/c the client's long-term key pair, S/s the server's, C'/c' and S'/s' the short-term
(per-connection) pairs. ``Box[x](A->B)`` is crypto_box of x from A's secret key to B's public
key; octet counts below are of the command *data*, after ``len(name) name``::

    HELLO     C->S  version 1.0 (2) | 72 zero octets | C' (32) | short nonce (8)
                    | Box[64 zero octets](C'->S) (80)                            = 194
    WELCOME   S->C  long nonce (16) | Box[S' (32) | cookie (96)](S->C') (144)    = 160
                    cookie = long nonce (16) | SecretBox[C' | s'](cookie key) (80),
                    under a random key of this connection only
    INITIATE  C->S  cookie (96) | short nonce (8)
                    | Box[C (32) | vouch nonce (16) | vouch (80) | metadata](C'->S')
                    vouch = Box[C' | S](C->S')                                   >= 248
    READY     S->C  short nonce (8) | Box[metadata](S'->C')                       >= 24
    MESSAGE   both  short nonce (8) | Box[flags (1) | frame body](C'<->S')         >= 25

Nonces are 24 octets: a 16-octet prefix ("CurveZMQHELLO---", "CurveZMQINITIATE",
"CurveZMQREADY---", "CurveZMQMESSAGEC" from the client, "CurveZMQMESSAGES" from the server)
and a short nonce, an 8-octet big-endian counter per sender starting at 1 (the client's HELLO is
1, INITIATE 2, its first MESSAGE 3; the server's READY is 1); or an 8-octet prefix
("WELCOME-", "COOKIE--", "VOUCH---") and 16 random octets. The inner flags of a MESSAGE are
0x01 MORE and 0x02 COMMAND (the ZMTP frame's 0x04): heartbeats and subscriptions travel as
COMMAND frames inside MESSAGE. Messages use a shared key precomputed once (crypto_box_beforenm),
so each costs one XSalsa20-Poly1305 pass.

The traffic path calls libsodium through PyNaCl's own cffi module (``nacl._sodium``) rather than
its wrappers, which zero a fresh output array and copy the result out of it for every call: a
MESSAGE is sealed into, or opened into, an array kept per direction (never zeroed; the caller
serialises each direction, as it must for the nonces anyway), and the result is copied out once;
a large body is sealed in place and a large box opened through a pointer, not a slice. Without
``nacl._sodium`` (another PyNaCl layout) the wrappers are used.

Framing (the connection's part): libzmq carries each MESSAGE in a ZMTP *data* frame (flags
0x00, 0x02 when long; never MORE), not a command frame, and a MESSAGE that arrives in a command
frame is opened but then dropped unseen (the command flag survives decoding and its session
discards command messages). The handshake commands are ordinary command frames.

Stricter than libzmq, on purpose (a peer libzmq accepts is refused only if it breaks RFC 26):

* every short nonce after HELLO must be greater than the last one the peer used (INITIATE's
  than HELLO's, each MESSAGE's than the one before, the server's READY's than 0): a replayed or
  reordered command is refused with ``ZMTP_INVALID_SEQUENCE``. libzmq checks this for MESSAGE
  only (with that code); for INITIATE and READY it just takes the peer's nonce;
* keys and cookies are compared in constant time (:func:`hmac.compare_digest`);
* HELLO must be exactly 194 octets of data with version 1.0, zero padding and a signature box
  of 64 zeros (libzmq checks only the size and version); WELCOME exactly 160; INITIATE, READY
  and MESSAGE at least the sizes above (``ZMTP_MALFORMED_COMMAND_*``);
* the vouch must hold the HELLO's C' (libzmq checks this) *and* our own long-term public key
  S (libzmq does not), else ``ZMTP_KEY_EXCHANGE``;
* a MESSAGE's inner flags may be 0x00, 0x01 or 0x02 only: reserved bits, or a COMMAND with
  MORE, are a ProtocolError (libzmq masks the reserved bits off and passes the rest);
* any command out of turn is ``ZMTP_UNEXPECTED_COMMAND`` (libzmq's client accepts WELCOME or
  READY whenever one arrives);
* any box that fails to open is ``ZMTP_CRYPTOGRAPHIC``. Whatever the peer sends,
  ``process_command`` and ``unwrap_frame`` raise :class:`ProtocolError` and nothing else.

The short-term secret keys and the cookie key are dropped once the shared key is known (the
server rebuilds nothing from the cookie: it keeps its state, as libzmq does, and only checks the
cookie it gets back).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from hmac import compare_digest
from typing import Any, NoReturn

from nacl.bindings import (
    crypto_box,
    crypto_box_beforenm,
    crypto_box_easy_afternm,
    crypto_box_keypair,
    crypto_box_open,
    crypto_box_open_easy_afternm,
    crypto_secretbox,
    crypto_secretbox_open,
    randombytes,
)
from nacl.exceptions import CryptoError

try:  # PyNaCl's cffi binding of libsodium: the traffic path calls it directly
    from nacl._sodium import ffi as _ffi
    from nacl._sodium import lib as _lib

    _new_array = _ffi.new_allocator(should_clear_after_alloc=False)
except ImportError:  # pragma: no cover - another PyNaCl layout: the wrappers only
    _ffi = _lib = None

from .commands import encode_properties, parse_properties
from .errors import (
    ZMTP_CRYPTOGRAPHIC,
    ZMTP_INVALID_SEQUENCE,
    ZMTP_KEY_EXCHANGE,
    ZMTP_MALFORMED_COMMAND_HELLO,
    ZMTP_MALFORMED_COMMAND_INITIATE,
    ZMTP_MALFORMED_COMMAND_MESSAGE,
    ZMTP_MALFORMED_COMMAND_READY,
    ZMTP_MALFORMED_COMMAND_WELCOME,
    ZMTP_UNEXPECTED_COMMAND,
    ProtocolError,
)
from .frames import FLAG_COMMAND, FLAG_MORE, frame_header
from .mechanism import Mechanism
from .zap import ZapRequest

__all__ = ["CurveMechanism", "KEY_SIZE"]

KEY_SIZE = 32

HELLO = b"HELLO"
WELCOME = b"WELCOME"
INITIATE = b"INITIATE"
READY = b"READY"
MESSAGE = b"MESSAGE"

_HELLO_PREFIX = b"CurveZMQHELLO---"
_INITIATE_PREFIX = b"CurveZMQINITIATE"
_READY_PREFIX = b"CurveZMQREADY---"
_CLIENT_MESSAGE_PREFIX = b"CurveZMQMESSAGEC"
_SERVER_MESSAGE_PREFIX = b"CurveZMQMESSAGES"
_WELCOME_PREFIX = b"WELCOME-"
_COOKIE_PREFIX = b"COOKIE--"
_VOUCH_PREFIX = b"VOUCH---"

_VERSION = b"\x01\x00"
_HELLO_PADDING = bytes(72)
_HELLO_SIGNATURE = bytes(64)

_HELLO_SIZE = 2 + 72 + 32 + 8 + 80
_WELCOME_SIZE = 16 + 144
_COOKIE_SIZE = 16 + 80
_INITIATE_MIN = _COOKIE_SIZE + 8 + 16 + 128
_READY_MIN = 8 + 16
_MESSAGE_MIN = 8 + 16 + 1

_HELLO_HEAD = b"\x05HELLO" + _VERSION + _HELLO_PADDING
_WELCOME_HEAD = b"\x07WELCOME"
_INITIATE_HEAD = b"\x08INITIATE"
_READY_HEAD = b"\x05READY"
_MESSAGE_HEAD = b"\x07MESSAGE"

_NO_NONCE = bytes(8)  # what the peer's "last short nonce" is before it has used one

#: The traffic path keeps one output buffer per direction up to this size for the next message;
#: a larger message gets one of its own.
_SCRATCH_KEEP = 2 * 1024 * 1024 + 64
#: From this size on a received MESSAGE is opened through a pointer into it, not a slice.
_SLICE_BELOW = 4096
#: From this body size on a MESSAGE is sealed in place in the kept array (see seal_frame).
_IN_PLACE_FROM = 4096
#: What a large frame adds to its body: data frame header (9), MESSAGE (8), nonce (8), box
#: tag (16) and the inner flags octet.
_LARGE_OVERHEAD = 9 + 8 + 8 + 16 + 1
#: The kept output array always fits a small frame's box.
_SMALL_CAP = _IN_PLACE_FROM + _LARGE_OVERHEAD
#: The data frame header and MESSAGE name in front of a small body's nonce, by body size.
_SMALL_HEADS = tuple(
    frame_header(0, n + 33) + _MESSAGE_HEAD for n in range(_IN_PLACE_FROM)
)

# ZMTP frame flags to a MESSAGE's inner flags octet, and back: _OUTER_FLAGS is indexed by the
# octet, once 0x03 (a COMMAND with MORE) and anything higher have been refused.
_INNER_FLAGS = (b"\x00", b"\x01", b"", b"", b"\x02")  # indexed by 0, FLAG_MORE, FLAG_COMMAND
_OUTER_FLAGS = (0, FLAG_MORE, FLAG_COMMAND)

# PyNaCl raises CryptoError when a box does not open, and its ValueError/TypeError subclasses
# for inputs libsodium refuses (a low-order public key makes beforenm fail, for one).
_NACL_ERRORS = (CryptoError, ValueError, TypeError)

# Handshake steps: what the mechanism waits for next, and the command that may come then.
_NOT_STARTED, _CLIENT_WELCOME, _CLIENT_READY, _SERVER_HELLO, _SERVER_INITIATE = range(5)
_SERVER_ZAP, _DONE = 5, 6
_EXPECTED = {
    _CLIENT_WELCOME: WELCOME,
    _CLIENT_READY: READY,
    _SERVER_HELLO: HELLO,
    _SERVER_INITIATE: INITIATE,
}
_WAITING_FOR = {_NOT_STARTED: "start()", _SERVER_ZAP: "the ZAP reply", _DONE: "nothing"}


def _refuse(message: str, code: int) -> NoReturn:
    raise ProtocolError(message, code)


class CurveMechanism(Mechanism):
    """One side of one CURVE handshake, then the MESSAGE codec of that connection.

    Keys are 32 raw octets (decode Z85 text first). A client needs the server's long-term public
    key ``server_key``; a server ignores it. A server asks ZAP as libzmq does (see
    ``_zap_handler_required``) with the client's long-term public key as the credential.
    """

    name = b"CURVE"
    has_roles = True
    wraps_frames = True

    def __init__(
        self,
        *,
        as_server: bool,
        public_key: bytes,
        secret_key: bytes,
        server_key: bytes = b"",
        zap_domain: bytes = b"",
        zap_enforce_domain: bool = False,
    ) -> None:
        super().__init__()
        _check_key("public_key", public_key)
        _check_key("secret_key", secret_key)
        if not as_server:
            _check_key("server_key", server_key)
        self.as_server = bool(as_server)
        self._public = bytes(public_key)
        self._secret = bytes(secret_key)
        self._server_key = bytes(server_key)
        self._zap_domain = bytes(zap_domain)
        self._zap_enforce = bool(zap_enforce_domain)
        self._step = _NOT_STARTED
        self._metadata = b""
        self._cn_public = b""  # our short-term key pair
        self._cn_secret: bytes | None = None
        self._cn_peer = b""  # the peer's short-term public key
        self._cookie_key: bytes | None = None  # server: the key of the cookie it sent
        self._key = b""  # the shared key of the short-term pairs, once known
        self._nonce = 1  # our next short nonce
        self._peer_nonce = _NO_NONCE  # the peer's last short nonce, big-endian
        if as_server:
            self._send_prefix, self._recv_prefix = _SERVER_MESSAGE_PREFIX, _CLIENT_MESSAGE_PREFIX
        else:
            self._send_prefix, self._recv_prefix = _CLIENT_MESSAGE_PREFIX, _SERVER_MESSAGE_PREFIX

    # --- handshake --------------------------------------------------------------------------

    def check_roles(self, as_server: bool, peer_as_server: bool) -> None:
        """Refuse a peer only when both of us claim the server role.

        libzmq (4.3.5 and master) always sends as-server 0 in its greeting, even from a CURVE
        server, so a peer claiming "client" may well be a server; two real clients fail at
        their first command instead (HELLO where WELCOME was due). A peer that does set the
        bit is no libzmq and means it, and two servers would otherwise both wait for a HELLO
        until the handshake timer ran out.
        """
        if as_server and peer_as_server:
            raise ProtocolError(
                "both peers announce themselves as server for CURVE", ZMTP_INVALID_SEQUENCE
            )

    def start(self, *, as_server: bool, properties: Mapping[str, bytes]) -> list[bytes]:
        if bool(as_server) != self.as_server:
            raise RuntimeError("CurveMechanism was built for the other role than the connection")
        if self._step != _NOT_STARTED:
            raise RuntimeError("CurveMechanism.start() called twice; use one per connection")
        self._metadata = encode_properties(properties)
        self._cn_public, self._cn_secret = crypto_box_keypair()
        if self.as_server:
            self._step = _SERVER_HELLO
            return []
        self._step = _CLIENT_WELCOME
        short = self._next_nonce()
        try:
            box = crypto_box(
                _HELLO_SIGNATURE, _HELLO_PREFIX + short, self._server_key, self._cn_secret
            )
        except _NACL_ERRORS:
            # Only a degenerate server key (a low-order point) gets here.
            _refuse("cannot encrypt HELLO to the configured server key", ZMTP_CRYPTOGRAPHIC)
        return [_HELLO_HEAD + self._cn_public + short + box]

    def process_command(self, name: bytes, data: bytes) -> list[bytes]:
        step = self._step
        expected = _EXPECTED.get(step)
        if expected is None or name != expected:
            waiting = expected.decode() if expected else _WAITING_FOR[step]
            _refuse(
                f"unexpected {name!r} command in the CURVE handshake (waiting for {waiting})",
                ZMTP_UNEXPECTED_COMMAND,
            )
        if step == _CLIENT_WELCOME:
            return self._on_welcome(data)
        if step == _CLIENT_READY:
            self._on_ready(data)
            return []
        if step == _SERVER_HELLO:
            return self._on_hello(data)
        return self._on_initiate(data)

    def _next_nonce(self) -> bytes:
        n = self._nonce
        self._nonce = n + 1
        return n.to_bytes(8, "big")

    def _check_nonce(self, short: bytes, command: str) -> None:
        _check_sequence(short, self._peer_nonce, command)

    # client

    def _on_welcome(self, data: bytes) -> list[bytes]:
        if len(data) != _WELCOME_SIZE:
            _refuse(
                f"WELCOME carries {len(data)} octets, not {_WELCOME_SIZE}",
                ZMTP_MALFORMED_COMMAND_WELCOME,
            )
        cn_secret = self._cn_secret
        assert cn_secret is not None
        try:
            plain = crypto_box_open(
                data[16:], _WELCOME_PREFIX + data[:16], self._server_key, cn_secret
            )
        except _NACL_ERRORS:
            _refuse(
                "cannot open WELCOME: the server does not hold the secret key of the server "
                "key we were given, or the command was altered",
                ZMTP_CRYPTOGRAPHIC,
            )
        cn_server, cookie = plain[:32], plain[32:]
        vouch_nonce = randombytes(16)
        try:
            self._key = crypto_box_beforenm(cn_server, cn_secret)
            vouch = crypto_box(
                self._cn_public + self._server_key,
                _VOUCH_PREFIX + vouch_nonce,
                cn_server,
                self._secret,
            )
        except _NACL_ERRORS:
            _refuse("the server's short-term key in WELCOME is unusable", ZMTP_CRYPTOGRAPHIC)
        self._cn_secret = None
        self._cn_peer = cn_server
        short = self._next_nonce()
        box = crypto_box_easy_afternm(
            self._public + vouch_nonce + vouch + self._metadata,
            _INITIATE_PREFIX + short,
            self._key,
        )
        self._step = _CLIENT_READY
        return [_INITIATE_HEAD + cookie + short + box]

    def _on_ready(self, data: bytes) -> None:
        if len(data) < _READY_MIN:
            _refuse(
                f"READY carries {len(data)} octets, fewer than {_READY_MIN}",
                ZMTP_MALFORMED_COMMAND_READY,
            )
        short = data[:8]
        self._check_nonce(short, "READY")
        try:
            metadata = crypto_box_open_easy_afternm(data[8:], _READY_PREFIX + short, self._key)
        except _NACL_ERRORS:
            _refuse("cannot open READY", ZMTP_CRYPTOGRAPHIC)
        self._peer_nonce = short
        self.peer_properties = parse_properties(metadata)
        self._step = _DONE
        self.complete = True
        self._start_traffic()

    # server

    def _on_hello(self, data: bytes) -> list[bytes]:
        if len(data) != _HELLO_SIZE:
            _refuse(
                f"HELLO carries {len(data)} octets, not {_HELLO_SIZE}",
                ZMTP_MALFORMED_COMMAND_HELLO,
            )
        if data[:2] != _VERSION:
            _refuse(
                f"HELLO announces CurveZMQ {data[0]}.{data[1]}, not 1.0",
                ZMTP_MALFORMED_COMMAND_HELLO,
            )
        if data[2:74] != _HELLO_PADDING:
            _refuse("HELLO padding is not all zero", ZMTP_MALFORMED_COMMAND_HELLO)
        cn_client, short = data[74:106], data[106:114]
        try:
            signature = crypto_box_open(data[114:], _HELLO_PREFIX + short, cn_client, self._secret)
        except _NACL_ERRORS:
            _refuse(
                "cannot open HELLO: the client uses another server key than ours, or the "
                "command was altered",
                ZMTP_CRYPTOGRAPHIC,
            )
        if signature != _HELLO_SIGNATURE:
            _refuse("HELLO signature box does not hold 64 zero octets", ZMTP_CRYPTOGRAPHIC)
        self._peer_nonce = short
        self._cn_peer = cn_client
        cn_secret = self._cn_secret
        assert cn_secret is not None
        # The cookie is the client's proof in INITIATE that it got this WELCOME; its key lives
        # only as long as this handshake.
        self._cookie_key = cookie_key = randombytes(32)
        cookie_nonce = randombytes(16)
        cookie = cookie_nonce + crypto_secretbox(
            cn_client + cn_secret, _COOKIE_PREFIX + cookie_nonce, cookie_key
        )
        welcome_nonce = randombytes(16)
        try:
            box = crypto_box(
                self._cn_public + cookie, _WELCOME_PREFIX + welcome_nonce, cn_client, self._secret
            )
        except _NACL_ERRORS:  # not reached: the same key pair just opened HELLO
            _refuse("cannot encrypt WELCOME to the client's short-term key", ZMTP_CRYPTOGRAPHIC)
        self._step = _SERVER_INITIATE
        return [_WELCOME_HEAD + welcome_nonce + box]

    def _on_initiate(self, data: bytes) -> list[bytes]:
        if len(data) < _INITIATE_MIN:
            _refuse(
                f"INITIATE carries {len(data)} octets, fewer than {_INITIATE_MIN}",
                ZMTP_MALFORMED_COMMAND_INITIATE,
            )
        short = data[96:104]
        self._check_nonce(short, "INITIATE")
        cn_secret, cookie_key = self._cn_secret, self._cookie_key
        assert cn_secret is not None and cookie_key is not None
        try:
            cookie = crypto_secretbox_open(data[16:96], _COOKIE_PREFIX + data[:16], cookie_key)
        except _NACL_ERRORS:
            _refuse("cannot open the cookie in INITIATE", ZMTP_CRYPTOGRAPHIC)
        if not compare_digest(cookie, self._cn_peer + cn_secret):
            _refuse("the cookie in INITIATE is not the one we sent", ZMTP_CRYPTOGRAPHIC)
        try:
            key = crypto_box_beforenm(self._cn_peer, cn_secret)
            plain = crypto_box_open_easy_afternm(data[104:], _INITIATE_PREFIX + short, key)
        except _NACL_ERRORS:
            _refuse("cannot open INITIATE", ZMTP_CRYPTOGRAPHIC)
        client_key = plain[:32]
        try:
            vouch = crypto_box_open(
                plain[48:128], _VOUCH_PREFIX + plain[32:48], client_key, cn_secret
            )
        except _NACL_ERRORS:
            _refuse("cannot open the vouch in INITIATE", ZMTP_CRYPTOGRAPHIC)
        # Both halves are compared whatever the first gives, so timing tells nothing.
        same_cn = compare_digest(vouch[:32], self._cn_peer)
        same_server = compare_digest(vouch[32:], self._public)
        if not (same_cn and same_server):
            _refuse(
                "the vouch in INITIATE does not name the HELLO's short-term key and our public key",
                ZMTP_KEY_EXCHANGE,
            )
        self._peer_nonce = short
        self._key = key
        self._cn_secret = self._cookie_key = None
        self.peer_properties = parse_properties(plain[128:])
        if self._zap_asked():
            self._step = _SERVER_ZAP
            self.zap_request = ZapRequest(self.name, (client_key,))
            return []
        return self._zap_accepted()

    # ZAP, as libzmq's curve_server decides (zap_domain, ZAP_ENFORCE_DOMAIN):
    #
    #   zap_domain   enforce   ask ZAP?   no handler bound
    #   set          off       yes        let the client in (libzmq's legacy behaviour)
    #   set          on        yes        refuse
    #   empty        off       yes        let the client in
    #   empty        on        no         -- (Stonehouse: encryption without authentication)
    #
    # A handler that answers always decides.

    def _zap_asked(self) -> bool:
        return bool(self._zap_domain) or not self._zap_enforce

    def _zap_handler_required(self) -> bool:
        return self._zap_enforce

    def _zap_accepted(self) -> list[bytes]:
        short = self._next_nonce()
        box = crypto_box_easy_afternm(self._metadata, _READY_PREFIX + short, self._key)
        self._step = _DONE
        self.complete = True
        self._start_traffic()
        return [_READY_HEAD + short + box]

    # --- traffic: the hot path ---------------------------------------------------------------

    def wrap_frame(self, flags: int, body: bytes) -> bytes:
        """The MESSAGE command (name and data) carrying one frame."""
        frame = self.seal_frame(body, flags)
        return bytes(frame[2 if frame[0] == 0 else 9 :])

    def unwrap_frame(self, name: bytes, data: bytes) -> tuple[int, bytes]:
        if name != MESSAGE:
            _refuse(f"unexpected {name!r} command in CURVE traffic", ZMTP_UNEXPECTED_COMMAND)
        return self.open_frame(_MESSAGE_HEAD + data, 0, 8 + len(data))  # type: ignore[return-value]

    def seal_frame(self, body: Any, flags: int = 0, borrow: bool = False) -> Any:
        """The data frame carrying MESSAGE (nonce and box of flags and body).

        This is the portable path, through PyNaCl's wrappers; once the handshake is done and
        ``nacl._sodium`` is there, :func:`_traffic` replaces it (and ``open_frame``) on the
        instance with closures that call libsodium directly (see there for ``borrow``).
        """
        short = self._next_nonce()
        command = (
            _MESSAGE_HEAD
            + short
            + crypto_box_easy_afternm(
                _INNER_FLAGS[flags] + bytes(body), self._send_prefix + short, self._key
            )
        )
        return frame_header(0, len(command)) + command

    def open_frame(self, data: Any, start: int, end: int) -> tuple[int, bytes] | None:
        """(flags, body) of the MESSAGE in ``data[start:end]`` (a data frame's body), or None
        if it is not a MESSAGE. The portable path; see ``seal_frame``."""
        if data[start : start + 8] != _MESSAGE_HEAD:
            return None
        size = end - start - 8  # the MESSAGE command's data: nonce and box
        if size < _MESSAGE_MIN:
            _refuse(
                f"MESSAGE carries {size} octets, fewer than {_MESSAGE_MIN}",
                ZMTP_MALFORMED_COMMAND_MESSAGE,
            )
        short = bytes(data[start + 8 : start + 16])
        self._check_nonce(short, "MESSAGE")
        try:
            plain = crypto_box_open_easy_afternm(
                bytes(data[start + 16 : end]), self._recv_prefix + short, self._key
            )
        except _NACL_ERRORS:
            _refuse("cannot open MESSAGE", ZMTP_CRYPTOGRAPHIC)
        self._peer_nonce = short
        return _inner_flags(plain[0]), plain[1:]

    def _start_traffic(self) -> None:
        """The handshake is done: switch to the direct libsodium traffic path if there."""
        if _lib is not None:
            self.seal_frame, self.open_frame, self.open_run = _traffic(  # type: ignore[method-assign]
                self._key, self._send_prefix, self._recv_prefix, self._nonce, self._peer_nonce
            )


def _inner_flags(flags: int) -> int:
    if flags > 2:
        _refuse(
            f"MESSAGE flags {flags:#04x} set reserved bits or COMMAND with MORE",
            ZMTP_MALFORMED_COMMAND_MESSAGE,
        )
    return _OUTER_FLAGS[flags]


def _traffic(
    key: bytes, send_prefix: bytes, recv_prefix: bytes, nonce: int, peer: bytes
) -> tuple[Callable[..., Any], Callable[[Any, int, int], tuple[int, bytes] | None], Any]:
    """One connection's MESSAGE codec after the handshake: ``seal_frame``, ``open_frame``
    and ``open_run`` as closures over its key, prefixes and nonces, calling libsodium
    through PyNaCl's cffi module. Closures because this is the per-message path: their
    variables cost less to reach than an instance's attributes.

    Each direction boxes into an array kept between calls (never zeroed), and the result is
    copied out once. Sealing a large body copies it into the array behind room for the
    headers and seals it in place (libsodium's secretbox with c + 16 == m); with ``borrow``
    that frame comes back as a view of the array, valid until the next large frame is sealed
    (small ones have an array of their own), so the engine can send it without a copy. A
    large box is opened through a pointer into the received buffer, not a slice of it.
    """
    box = _lib.crypto_box_easy_afternm
    unbox = _lib.crypto_box_open_easy_afternm
    cbuffer = _ffi.buffer
    wsmall = _new_array("unsigned char[]", _SMALL_CAP)
    wsmall_out = cbuffer(wsmall, _SMALL_CAP)  # sliced: one copy out, no object per call
    wout: Any = None  # large frames' own array: what is lent stays apart from small frames
    wcap = 0
    small = _new_array("unsigned char[]", _SLICE_BELOW)  # a small frame's plaintext
    small_out = cbuffer(small, _SLICE_BELOW)
    rout: Any = None
    rcap = 0

    def seal_frame(body: Any, flags: int = 0, borrow: bool = False) -> Any:
        nonlocal nonce, wout, wcap
        short = nonce.to_bytes(8, "big")
        nonce += 1
        size = len(body)
        if size < _IN_PLACE_FROM:
            if box(wsmall, _INNER_FLAGS[flags] + body, size + 1, send_prefix + short, key):
                raise RuntimeError("libsodium could not seal a MESSAGE")  # not reached
            return _SMALL_HEADS[size] + short + wsmall_out[: size + 17]
        total = size + _LARGE_OVERHEAD
        out = wout
        if total > wcap:
            out = _new_array("unsigned char[]", total)
            if total <= _SCRATCH_KEEP:
                wout, wcap = out, total
        # header (9), MESSAGE (8), nonce (8), then the box: tag (16), flags (1), body
        _ffi.memmove(out, frame_header(0, size + 33) + _MESSAGE_HEAD + short, 25)
        out[41] = _INNER_FLAGS[flags][0]
        _ffi.memmove(out + 42, body, size)
        if box(out + 25, out + 41, size + 1, send_prefix + short, key):
            raise RuntimeError("libsodium could not seal a MESSAGE")  # not reached
        frame = cbuffer(out, total)
        return frame if borrow else frame[:]

    def open_frame(data: Any, start: int, end: int) -> tuple[int, bytes] | None:
        nonlocal peer
        size = end - start - 8  # the MESSAGE command's data: nonce and box
        if type(data) is bytes and _MESSAGE_MIN <= size < _SLICE_BELOW:
            if not data.startswith(_MESSAGE_HEAD, start):
                return None
            short = data[start + 8 : start + 16]
            if short > peer:
                if unbox(small, data[start + 16 : end], size - 8, recv_prefix + short, key):
                    _refuse("cannot open MESSAGE", ZMTP_CRYPTOGRAPHIC)
                peer = short
                flags = small[0]
                body = small_out[1 : size - 24]
                return (_inner_flags(flags), body) if flags else (0, body)
        elif data[start : start + 8] != _MESSAGE_HEAD:
            return None
        return open_slowly(data, start, end)

    def open_slowly(data: Any, start: int, end: int) -> tuple[int, bytes]:
        """Every check spelt out, any size, any buffer."""
        nonlocal peer, rout, rcap
        size = end - start - 8
        if size < _MESSAGE_MIN:
            _refuse(
                f"MESSAGE carries {size} octets, fewer than {_MESSAGE_MIN}",
                ZMTP_MALFORMED_COMMAND_MESSAGE,
            )
        short = bytes(data[start + 8 : start + 16])
        _check_sequence(short, peer, "MESSAGE")
        mlen = size - 24  # flags octet and body
        out = rout
        if mlen > rcap:
            out = _new_array("unsigned char[]", mlen)
            if mlen <= _SCRATCH_KEEP:
                rout, rcap = out, mlen
        src = _ffi.from_buffer("unsigned char[]", data)  # a pointer: no copy of a large box
        failed = unbox(out, src + (start + 16), size - 8, recv_prefix + short, key)
        _ffi.release(src)
        if failed:
            _refuse("cannot open MESSAGE", ZMTP_CRYPTOGRAPHIC)
        peer = short
        return _inner_flags(out[0]), cbuffer(out, mlen)[1:]

    def open_run(data: bytes, pos: int, n: int, append: Callable[[bytes], None]) -> Any:
        """open_frame for a run of short wrapped frames in one read (FrameDecoder.open_run):
        the receiver's loop per message, with nothing between the frames and libsodium."""
        nonlocal peer
        while n - pos >= 2 and not data[pos]:  # a short final data frame
            start = pos + 2
            end = start + data[pos + 1]
            size = end - start - 8
            if end > n or size < _MESSAGE_MIN or not data.startswith(_MESSAGE_HEAD, start):
                break
            short = data[start + 8 : start + 16]
            if short <= peer or unbox(
                small, data[start + 16 : end], size - 8, recv_prefix + short, key
            ):
                break  # open_frame opens it again, and refuses it
            peer = short
            body = small_out[1 : size - 24]
            if small[0]:
                return end, (_inner_flags(small[0]), body)
            append(body)
            pos = end
        return pos, None

    return seal_frame, open_frame, open_run


def _check_sequence(short: bytes, last: bytes, command: str) -> None:
    # Equal-length big-endian octets compare as the numbers they encode.
    if short <= last:
        _refuse(
            f"{command} short nonce {int.from_bytes(short, 'big')} does not follow the "
            f"peer's last one {int.from_bytes(last, 'big')} (replay or reorder)",
            ZMTP_INVALID_SEQUENCE,
        )


def _check_key(what: str, key: bytes) -> None:
    if not isinstance(key, bytes | bytearray | memoryview) or len(key) != KEY_SIZE:
        raise ValueError(f"CURVE {what} must be {KEY_SIZE} raw octets (decode Z85 text first)")
