"""The greeting: our layout, its stages, and which peer greetings we accept."""

from __future__ import annotations

import pytest

from vmzmq.zmtp import NullMechanism, ProtocolError, ZmtpConnection
from vmzmq.zmtp.errors import ZMTP_MECHANISM_MISMATCH
from vmzmq.zmtp.greeting import SIGNATURE, build_greeting, check_greeting_prefix, parse_greeting
from vmzmq.zmtp.plain import PlainMechanism


def peer_greeting(
    major: int = 3,
    minor: int = 1,
    mechanism: bytes = b"NULL",
    as_server: int = 0,
    padding: bytes = bytes(8),
    sig_end: int = 0x7F,
    filler: bytes = bytes(31),
) -> bytes:
    g = (
        b"\xff"
        + padding
        + bytes((sig_end, major, minor))
        + mechanism.ljust(20, b"\x00")
        + bytes((as_server,))
        + filler
    )
    assert len(g) == 64
    return g


# What libzmq 4.x sends: its ZMTP 1.0-compatible signature carries a length in the padding.
LIBZMQ_GREETING = (
    b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x01NULL" + bytes(16) + b"\x00" + bytes(31)
)


def started(socket_type: str = "DEALER", **kw) -> tuple[ZmtpConnection, bytes]:
    conn = ZmtpConnection(socket_type, **kw)
    return conn, conn.start()


def whole_greeting(conn: ZmtpConnection, first: bytes) -> bytes:
    """Our 64 octets: the first 11, then the rest once the peer's version is known."""
    assert first == SIGNATURE
    conn.receive(LIBZMQ_GREETING[:11])
    return first + conn.data_to_send()[:53]


def test_our_greeting_layout() -> None:
    conn, first = started()
    assert len(first) == 11  # the rest waits for the peer's version (a 2.0 peer reads no more)
    g = whole_greeting(conn, first)
    assert g[0] == 0xFF
    assert g[1:9] == bytes(8)
    assert g[9] == 0x7F
    assert g[10:12] == b"\x03\x01"
    assert g[12:32] == b"NULL" + bytes(16)
    assert g[32] == 0
    assert g[33:] == bytes(31)
    assert g == build_greeting(b"NULL", False)


def test_null_never_announces_as_server() -> None:
    conn, first = started(as_server=True)
    assert whole_greeting(conn, first)[32] == 0


@pytest.mark.parametrize(
    "kw",
    [
        {"mechanism": PlainMechanism(as_server=True)},
        {"mechanism": NullMechanism(zap_domain=b"global")},
        {"socket_type": "CLIENT"},
    ],
)
def test_whole_greeting_at_once_where_zmtp2_cannot_be(kw: dict) -> None:
    """No 2.0 peer can be let in, so nothing waits on the peer's version."""
    conn, g = started(**kw)
    assert len(g) == 64 and g[10:12] == b"\x03\x01"
    conn.receive(LIBZMQ_GREETING[:11])
    assert conn.data_to_send() == b""


def test_libzmq_greeting_accepted() -> None:
    conn, _ = started()
    assert conn.receive(LIBZMQ_GREETING) == []
    assert conn.peer_minor == 1
    assert conn.peer_version == (3, 1)
    out = conn.data_to_send()
    assert out[:53] == build_greeting(b"NULL", False)[11:]
    assert out[53:54] == b"\x04"  # our READY, with the rest of the greeting


def test_padding_and_filler_never_validated() -> None:
    conn, _ = started()
    g = peer_greeting(padding=b"\xde\xad\xbe\xef" * 2, sig_end=0xFF, filler=b"\x55" * 31)
    assert conn.receive(g) == []
    assert conn.state.name == "HANDSHAKE"


def test_zmtp_3_0_peer() -> None:
    conn, _ = started()
    conn.receive(peer_greeting(minor=0))
    assert conn.peer_minor == 0


@pytest.mark.parametrize("major,minor", [(3, 2), (3, 255), (4, 0), (255, 255)])
def test_higher_versions_accepted(major: int, minor: int) -> None:
    conn, _ = started()
    conn.receive(peer_greeting(major=major, minor=minor))
    assert conn.peer_version == (major, minor)
    # a later version speaks at least 3.1 with us
    assert conn.peer_minor >= 1


@pytest.mark.parametrize("major", [0, 2])
def test_unknown_versions_refused_early(major: int) -> None:
    """0 and 2 name no protocol (2.0's revision octet is 1): refused at octet 10."""
    conn, _ = started()
    g = peer_greeting(major=major)
    with pytest.raises(ProtocolError, match=f"ZMTP version {major}"):
        conn.receive(g[:11])
    assert conn.data_to_send() == b""


def test_zmtp_1_0_peer_refused_at_first_octet() -> None:
    conn, _ = started()
    with pytest.raises(ProtocolError, match="signature"):
        conn.receive(b"\x05")  # ZMTP 1.0: a length-prefixed identity


def test_signature_bit0_required() -> None:
    conn, _ = started()
    with pytest.raises(ProtocolError):
        conn.receive(peer_greeting(sig_end=0x7E)[:10])


def test_mechanism_mismatch_refused() -> None:
    conn, _ = started()
    with pytest.raises(ProtocolError, match="mechanism mismatch") as info:
        conn.receive(peer_greeting(mechanism=b"PLAIN"))
    assert info.value.code == ZMTP_MECHANISM_MISMATCH
    assert b"ERROR" not in conn.data_to_send()


def test_mechanism_must_match_all_twenty_octets() -> None:
    conn, _ = started()
    with pytest.raises(ProtocolError):
        conn.receive(peer_greeting(mechanism=b"NULL\x00X"))


def test_greeting_one_octet_at_a_time() -> None:
    conn, _ = started()
    for i in range(63):
        assert conn.receive(LIBZMQ_GREETING[i : i + 1]) == []
        assert conn.state.name == ("SIGNATURE" if i < 10 else "GREETING")
    conn.receive(LIBZMQ_GREETING[63:])
    assert conn.state.name == "HANDSHAKE"


def test_parse_and_prefix_helpers() -> None:
    g = parse_greeting(LIBZMQ_GREETING, b"NULL")
    assert (g.major, g.minor, g.mechanism, g.as_server) == (3, 1, b"NULL", False)
    check_greeting_prefix(b"")
    check_greeting_prefix(b"\xff")
    with pytest.raises(ValueError):
        parse_greeting(LIBZMQ_GREETING[:63], b"NULL")
    with pytest.raises(ValueError):
        build_greeting(b"null", False)
