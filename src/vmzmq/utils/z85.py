"""Z85 (ZeroMQ RFC 32), as pyzmq's ``zmq.utils.z85``: the printable encoding of CURVE keys.

Every 4 bytes (a big-endian 32-bit number) become 5 characters of an 85-character alphabet
chosen to be safe in source code, shell arguments and configuration files.

Unlike pyzmq's, these functions raise only ``ValueError`` for anything they cannot take (a
length that is not a multiple of 4 or 5, a character outside the alphabet, a group of five
characters worth more than 32 bits, or an argument of the wrong type), so a caller checking a
key typed by a user needs one ``except`` clause.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["Z85CHARS", "Z85MAP", "decode", "encode"]

#: The alphabet: character ``Z85CHARS[d]`` stands for the digit ``d`` (0-84).
Z85CHARS: Final = (
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
)
#: Character code -> digit value.
Z85MAP: Final[dict[int, int]] = {ch: value for value, ch in enumerate(Z85CHARS)}

# 85**5 > 2**32 > 85**4: five digits can name values a 32-bit group cannot hold.
_LIMIT = 1 << 32
# Digit value per byte; 255 marks bytes outside the alphabet (found with bytes.translate below).
_DIGITS = bytes(Z85MAP.get(code, 255) for code in range(256))


def _as_bytes(data: object, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        raise ValueError(f"{what} takes bytes, not str")
    try:
        with memoryview(data) as view:  # type: ignore[arg-type]
            return view.tobytes()
    except TypeError:
        raise ValueError(f"{what} takes a bytes-like object, not {type(data).__name__}") from None


def encode(data: bytes | bytearray | memoryview) -> bytes:
    """Encode ``data`` (a length that is a multiple of 4) as Z85: 5 characters per 4 bytes."""
    raw = _as_bytes(data, "z85.encode")
    if len(raw) % 4:
        raise ValueError(f"z85.encode needs a length that is a multiple of 4, not {len(raw)}")
    out = bytearray()
    chars = Z85CHARS
    for (value,) in struct.iter_unpack(">I", raw):
        out += bytes(
            (
                chars[value // 52200625],
                chars[value // 614125 % 85],
                chars[value // 7225 % 85],
                chars[value // 85 % 85],
                chars[value % 85],
            )
        )
    return bytes(out)


def decode(text: str | bytes | bytearray | memoryview) -> bytes:
    """Decode Z85 text (a length that is a multiple of 5; str must be ASCII) to bytes."""
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("z85.decode: the text has characters outside ASCII") from None
    else:
        raw = _as_bytes(text, "z85.decode")
    if len(raw) % 5:
        raise ValueError(f"z85.decode needs a length that is a multiple of 5, not {len(raw)}")
    digits = raw.translate(_DIGITS)
    if 255 in digits:
        at = digits.index(255)
        raise ValueError(f"z85.decode: {chr(raw[at])!r} at offset {at} is not a Z85 character")
    values = []
    for i in range(0, len(digits), 5):
        value = (
            digits[i] * 52200625
            + digits[i + 1] * 614125
            + digits[i + 2] * 7225
            + digits[i + 3] * 85
            + digits[i + 4]
        )
        if value >= _LIMIT:
            raise ValueError(
                f"z85.decode: {raw[i : i + 5]!r} at offset {i} is more than 32 bits can hold"
            )
        values.append(value)
    return struct.pack(f">{len(values)}I", *values)
