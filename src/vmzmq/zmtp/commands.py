"""Command bodies (READY, ERROR, PING, PONG, SUBSCRIBE, CANCEL) and the property format.

A command body is ``len(name) name data`` (the ABNF of RFC 23/37; the prose's "null octet
separator" is stale: every implementation uses the length prefix). These functions build and
parse *bodies*; :mod:`.frames` puts the command flags and size in front.

Properties (connection metadata, RFC 37 "The NULL Security Mechanism") are a sequence of
``len(name) name len32(value) value``. Names are case-insensitive, so look them up with
:func:`get_property`.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import (
    ZMTP_INVALID_METADATA,
    ZMTP_MALFORMED_COMMAND_ERROR,
    ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
    ProtocolError,
)

READY = b"READY"
ERROR = b"ERROR"
PING = b"PING"
PONG = b"PONG"
SUBSCRIBE = b"SUBSCRIBE"
CANCEL = b"CANCEL"

PING_CONTEXT_MAX = 16  # RFC 37 "Connection Heartbeating"
PROPERTY_VALUE_MAX = 0x7FFFFFFF  # RFC 37: values are 0..2^31-1 octets

_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+")


def command_body(name: bytes, data: bytes = b"") -> bytes:
    """``len(name) name data``: the body of a command frame."""
    if not 0 < len(name) < 256:
        raise ValueError(f"invalid command name {name!r}")
    return bytes((len(name),)) + name + data


def parse_command(body: bytes) -> tuple[bytes, bytes]:
    """Split a command body into (name, data); ProtocolError if the name does not fit."""
    if not body or body[0] == 0 or body[0] >= len(body):
        raise ProtocolError(
            "malformed command: missing or truncated command name",
            ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
        )
    end = 1 + body[0]
    return body[1:end], body[end:]


# --- properties -----------------------------------------------------------------------------


# Every connection of a socket encodes the same few properties (twice: checked when the
# codec is made, sent in READY): remember recent encodings of all-bytes/str property sets.
_ENCODED: dict[tuple, bytes] = {}
_ENCODED_MAX = 256


def encode_properties(properties: Mapping[str, bytes | bytearray | memoryview | str]) -> bytes:
    """Encode properties in the order given; ValueError for names or values ZMTP cannot carry.

    ``str`` values are encoded as UTF-8 for convenience (user metadata is usually text).
    """
    try:
        key = tuple(properties.items())
        encoded = _ENCODED.get(key)
    except TypeError:  # a bytearray or memoryview value: not hashable, so not remembered
        key = None
        encoded = None
    if encoded is not None:
        return encoded
    encoded = _encode_properties(properties)
    if key is not None:
        if len(_ENCODED) >= _ENCODED_MAX:
            _ENCODED.clear()
        _ENCODED[key] = encoded
    return encoded


def _encode_properties(properties: Mapping[str, bytes | bytearray | memoryview | str]) -> bytes:
    parts: list[bytes] = []
    for name, value in properties.items():
        raw_name = name.encode("ascii", "replace")
        if not 0 < len(raw_name) < 256 or not set(raw_name) <= _NAME_CHARS:
            raise ValueError(f"invalid ZMTP property name {name!r}")
        raw_value = value.encode() if isinstance(value, str) else bytes(value)
        if len(raw_value) > PROPERTY_VALUE_MAX:
            raise ValueError(f"property {name!r} is too long for ZMTP")
        parts.append(bytes((len(raw_name),)) + raw_name + len(raw_value).to_bytes(4, "big"))
        parts.append(raw_value)
    return b"".join(parts)


def parse_properties(data: bytes) -> dict[str, bytes]:
    """Decode a property list. Any truncation or bad length is a ProtocolError.

    Names keep the case the peer used (look them up with :func:`get_property`); if a name
    repeats, the last value wins. Names are decoded as Latin-1 so that no octet can make decoding
    itself fail; libzmq does not validate name characters either, so neither do we.
    """
    props: dict[str, bytes] = {}
    pos = 0
    end = len(data)
    while pos < end:
        name_len = data[pos]
        pos += 1
        if name_len == 0:
            raise ProtocolError("metadata property with an empty name", ZMTP_INVALID_METADATA)
        if pos + name_len + 4 > end:
            raise ProtocolError("truncated metadata property name", ZMTP_INVALID_METADATA)
        name = data[pos : pos + name_len].decode("latin-1")
        pos += name_len
        value_len = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
        if value_len > PROPERTY_VALUE_MAX or pos + value_len > end:
            raise ProtocolError(
                f"metadata property {name!r} declares {value_len} octets, "
                f"{end - pos} remain in the command",
                ZMTP_INVALID_METADATA,
            )
        props[name] = data[pos : pos + value_len]
        pos += value_len
    return props


def get_property(properties: Mapping[str, bytes], name: str) -> bytes | None:
    """Look a property up by name, ignoring case (RFC 37: names are case-insensitive)."""
    value = properties.get(name)
    if value is not None:
        return value
    folded = name.lower()
    for key, value in properties.items():
        if key.lower() == folded:
            return value
    return None


# --- command data ---------------------------------------------------------------------------


def ready_body(properties: Mapping[str, bytes | bytearray | memoryview | str]) -> bytes:
    return command_body(READY, encode_properties(properties))


def error_body(reason: bytes) -> bytes:
    """ERROR carries a reason of at most 255 octets; a longer one is cut, not refused, because
    ERROR is sent on the way out and must not fail."""
    reason = bytes(reason[:255])
    return command_body(ERROR, bytes((len(reason),)) + reason)


def parse_error(data: bytes) -> bytes:
    """The reason carried by an ERROR command's data."""
    if not data or data[0] != len(data) - 1:
        raise ProtocolError("malformed ERROR command", ZMTP_MALFORMED_COMMAND_ERROR)
    return data[1:]


def ping_body(ttl_deciseconds: int, context: bytes = b"") -> bytes:
    if not 0 <= ttl_deciseconds <= 0xFFFF:
        raise ValueError(f"PING TTL {ttl_deciseconds} is outside 0..65535 deciseconds")
    if len(context) > PING_CONTEXT_MAX:
        raise ValueError("PING context is longer than 16 octets")
    return command_body(PING, ttl_deciseconds.to_bytes(2, "big") + bytes(context))


def parse_ping(data: bytes) -> tuple[int, bytes]:
    """(ttl in deciseconds, context) of a PING.

    A context longer than 16 octets is cut to 16 rather than refused: libzmq does the same, and
    the PONG we echo stays within the limit.
    """
    if len(data) < 2:
        raise ProtocolError("malformed PING command: no TTL", ZMTP_MALFORMED_COMMAND_UNSPECIFIED)
    return int.from_bytes(data[:2], "big"), data[2 : 2 + PING_CONTEXT_MAX]


def pong_body(context: bytes) -> bytes:
    if len(context) > PING_CONTEXT_MAX:
        raise ValueError("PONG context is longer than 16 octets")
    return command_body(PONG, bytes(context))
