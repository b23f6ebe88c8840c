"""Harness ``greeting``: check_greeting_prefix on every prefix, parse_greeting on 64 octets.

Input layout::

    mechanism (1)  ours: NULL, PLAIN, CURVE, or the next octets as a name (mechanism_field)
    greeting       the peer's octets (the first 64 are parsed; a shorter input is padded
                   with a valid greeting's octets, so short inputs still reach the parser)

Checked: only ProtocolError escapes check_greeting_prefix and parse_greeting (ValueError only
for a length other than 64, as documented; mechanism_field raises only ValueError); a prefix
refused stays refused as it grows, and a full greeting is refused whenever a prefix of it is;
an accepted greeting reports major >= 3 and our mechanism, and our own greetings parse back.
"""

from __future__ import annotations

from fuzzkit import Reader, crash

from vmzmq.zmtp.errors import ProtocolError
from vmzmq.zmtp.greeting import (
    GREETING_SIZE,
    build_greeting,
    check_greeting_prefix,
    mechanism_field,
    parse_greeting,
)

MECHANISMS = (b"NULL", b"PLAIN", b"CURVE")


def check(data: bytes) -> None:
    r = Reader(data)
    pick = r.byte()
    if pick % 4 == 3:
        name = r.sized()
        try:
            mechanism_field(name)
        except ValueError:
            mechanism = b"NULL"
        else:
            mechanism = name
    else:
        mechanism = MECHANISMS[pick % 4]
    raw = r.rest()
    greeting = raw[:GREETING_SIZE]
    if len(greeting) < GREETING_SIZE:
        greeting += build_greeting(mechanism, bool(pick & 0x80))[len(greeting) :]

    refused_at = None
    for n in range(len(greeting) + 1):
        try:
            check_greeting_prefix(greeting[:n])
        except ProtocolError:
            if refused_at is None:
                refused_at = n
        else:
            if refused_at is not None:
                raise crash(f"prefix of {n} accepted after the {refused_at}-octet one was refused")
    try:
        peer = parse_greeting(bytearray(greeting) if pick & 0x40 else greeting, mechanism)
    except ProtocolError:
        pass
    else:
        if refused_at is not None:
            raise crash("a greeting whose prefix was refused parsed")
        if peer.major < 3 or peer.mechanism != mechanism:
            raise crash(f"accepted {peer!r} for mechanism {mechanism!r}")
    for size in (0, len(raw) % GREETING_SIZE, GREETING_SIZE + 1 + len(raw) % 8):
        if size == GREETING_SIZE:
            continue
        try:
            parse_greeting(raw[:size].ljust(size, b"\xff"), mechanism)
        except ValueError:
            pass
        else:
            raise crash(f"a greeting of {size} octets parsed")
    ours = build_greeting(mechanism, bool(pick & 0x80), pick & 1)
    peer = parse_greeting(ours, mechanism)
    if (peer.major, peer.minor, peer.as_server) != (3, pick & 1, bool(pick & 0x80)):
        raise crash(f"our own greeting parsed as {peer!r}")


if __name__ == "__main__":
    import sys

    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            check(f.read())
