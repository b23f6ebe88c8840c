"""The ZMTP greeting: build ours, check and parse the peer's.

The 64-octet ZMTP 3.x greeting (RFC 23 and RFC 37, "Formal Grammar")::

    0      0xFF            signature start
    1..8   padding         not significant: never validated (libzmq puts a length there)
    9      0x7F            signature end; only bit 0 is checked, as libzmq does
    10     major           3
    11     minor           0 for ZMTP 3.0, 1 for 3.1
    12..31 mechanism       ASCII, NUL-padded to 20 octets
    32     as-server       0 or 1
    33..63 filler          31 zero octets, not checked either

A ZMTP/2.0 peer (RFC 15: libzmq 3.x, JeroMQ 0.3) shares the first ten octets and sends its
revision (1) at octet 10 and its socket type at octet 11; its greeting ends there. Which of the
two a peer speaks is known at octet 10, so a side that may talk to 2.0 peers sends the first
11 octets (:data:`SIGNATURE_SIZE`) and the rest only once it has read the peer's octet 10
(RFC 23 "Backwards Interoperability"; the connection's state table makes that choice).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ZMTP_MECHANISM_MISMATCH, ZMTP_UNSPECIFIED, ProtocolError

GREETING_SIZE = 64
#: The signature and our major version: what we send before knowing the peer's version.
SIGNATURE_SIZE = 11
#: A ZMTP/2.0 greeting: the signature, the revision octet and the socket-type octet.
ZMTP2_GREETING_SIZE = 12
#: The revision octet of ZMTP/2.0 (at the place of 3.x's major version).
ZMTP2_REVISION = 1
MECHANISM_SIZE = 20
OUR_MAJOR = 3
OUR_MINOR = 1

_MECHANISM_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+")


@dataclass(frozen=True, slots=True)
class Greeting:
    """What the peer announced in its greeting."""

    major: int
    minor: int
    mechanism: bytes  # without the NUL padding
    as_server: bool


def mechanism_field(name: bytes) -> bytes:
    """Return ``name`` NUL-padded to the 20-octet greeting field; ValueError if it cannot be."""
    if not 0 < len(name) <= MECHANISM_SIZE or not set(name) <= _MECHANISM_CHARS:
        raise ValueError(f"invalid ZMTP mechanism name {name!r}")
    return name.ljust(MECHANISM_SIZE, b"\x00")


#: The signature (padding zeros, as RFC 37 recommends) and our major version.
SIGNATURE = b"\xff" + bytes(8) + b"\x7f" + bytes((OUR_MAJOR,))


def greeting_rest(mechanism: bytes, as_server: bool, minor: int = OUR_MINOR) -> bytes:
    """Octets 11..63 of our 3.x greeting: what follows :data:`SIGNATURE`."""
    return b"".join(
        (bytes((minor,)), mechanism_field(mechanism), b"\x01" if as_server else b"\x00", bytes(31))
    )


def build_greeting(mechanism: bytes, as_server: bool, minor: int = OUR_MINOR) -> bytes:
    """Our whole 3.x greeting, to be sent at once.

    Sending all 64 octets before reading anything is legal (RFC 37 "Version Negotiation", the
    second case) and libzmq copes with it; a ZMTP/2.0 peer does not (it reads octets 10 and 11
    as its revision and socket type), so this is for sockets that refuse 2.0 peers anyway.
    """
    return SIGNATURE + greeting_rest(mechanism, as_server, minor)


def check_signature(data: bytes | bytearray) -> None:
    """Refuse a ZMTP 1.0 peer, or bytes that are not ZMTP, as early as the octets allow.

    ZMTP 1.0 (libzmq 2.x) has no greeting, so its first octets are a message: libzmq falls
    back to reading them as one, which delivers whatever a stray client sends to the
    application. We never do; a 1.0 peer is refused.
    """
    n = len(data)
    if n >= 1 and data[0] != 0xFF:
        raise ProtocolError(
            "peer did not send a ZMTP 3.x signature (a ZMTP 1.0 peer, or not ZMTP at all); "
            "vmzmq speaks ZMTP 3.0 and 3.1 only",
            ZMTP_UNSPECIFIED,
        )
    if n >= 10 and not data[9] & 1:
        raise ProtocolError(
            "peer's greeting signature ends with bit 0 clear: a ZMTP 1.0 peer; "
            "vmzmq speaks ZMTP 3.0 and 3.1 only",
            ZMTP_UNSPECIFIED,
        )


def check_greeting_prefix(data: bytes | bytearray) -> None:
    """Refuse a peer that cannot become a ZMTP 3.x one as early as its octets allow."""
    check_signature(data)
    if len(data) >= 11 and data[10] < OUR_MAJOR:
        raise ProtocolError(
            f"peer speaks ZMTP major version {data[10]} where 3.x is needed",
            ZMTP_UNSPECIFIED,
        )


def parse_greeting(data: bytes | bytearray, our_mechanism: bytes) -> Greeting:
    """Check and decode a full 64-octet greeting.

    Higher versions are accepted as RFC 37 requires. The mechanism must match ours octet for
    octet over the whole 20-octet field ("exactly match": RFC 37).
    """
    if len(data) != GREETING_SIZE:
        raise ValueError("a greeting is exactly 64 octets")
    check_greeting_prefix(data)
    field = bytes(data[12:32])
    if field != mechanism_field(our_mechanism):
        theirs = field.rstrip(b"\x00")
        raise ProtocolError(
            f"security mechanism mismatch: peer uses {theirs!r}, we use {our_mechanism!r}",
            ZMTP_MECHANISM_MISMATCH,
        )
    return Greeting(
        major=data[10],
        minor=data[11],
        mechanism=field.rstrip(b"\x00"),
        as_server=bool(data[32] & 1),
    )
