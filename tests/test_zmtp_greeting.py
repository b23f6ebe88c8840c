"""The 64-octet greeting: our layout, and which peer greetings we accept."""

from __future__ import annotations

import pytest

from vmzmq.zmtp import ProtocolError, ZmtpConnection
from vmzmq.zmtp.errors import ZMTP_MECHANISM_MISMATCH
from vmzmq.zmtp.greeting import build_greeting, check_greeting_prefix, parse_greeting


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


def test_our_greeting_layout() -> None:
    _, g = started()
    assert len(g) == 64
    assert g[0] == 0xFF
    assert g[1:9] == bytes(8)
    assert g[9] == 0x7F
    assert g[10:12] == b"\x03\x01"
    assert g[12:32] == b"NULL" + bytes(16)
    assert g[32] == 0
    assert g[33:] == bytes(31)
    assert g == build_greeting(b"NULL", False)


def test_null_never_announces_as_server() -> None:
    _, g = started(as_server=True)
    assert g[32] == 0


def test_libzmq_greeting_accepted() -> None:
    conn, _ = started()
    assert conn.receive(LIBZMQ_GREETING) == []
    assert conn.peer_minor == 1
    assert conn.peer_version == (3, 1)
    assert conn.data_to_send().startswith(b"\x04")  # our READY


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


@pytest.mark.parametrize("major", [0, 1, 2])
def test_old_majors_refused_early(major: int) -> None:
    conn, _ = started()
    g = peer_greeting(major=major)
    # refused as soon as octet 10 arrives: a 2.0 peer would wait for us forever otherwise
    with pytest.raises(ProtocolError, match="ZMTP 3.0 and 3.1 only"):
        conn.receive(g[:11])


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
    assert conn.data_to_send() == b""


def test_mechanism_must_match_all_twenty_octets() -> None:
    conn, _ = started()
    with pytest.raises(ProtocolError):
        conn.receive(peer_greeting(mechanism=b"NULL\x00X"))


def test_greeting_one_octet_at_a_time() -> None:
    conn, _ = started()
    for i in range(63):
        assert conn.receive(LIBZMQ_GREETING[i : i + 1]) == []
        assert conn.state.name == "GREETING"
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
