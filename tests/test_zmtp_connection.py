"""ZmtpConnection: handshakes, traffic, refusals, and two connections wired in memory."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from vmzmq.zmtp import (
    INVALID_SOCKET_TYPE,
    SOCKET_TYPES,
    Cancel,
    HandshakeComplete,
    Mechanism,
    PeerError,
    Ping,
    Pong,
    ProtocolError,
    State,
    Subscribe,
    ZmtpConnection,
    compatible,
)
from vmzmq.zmtp.commands import command_body, parse_command, parse_properties, ready_body
from vmzmq.zmtp.errors import ZMTP_INVALID_METADATA, ZMTP_UNEXPECTED_COMMAND
from vmzmq.zmtp.frames import encode_command, encode_message
from vmzmq.zmtp.greeting import greeting_rest

LIBZMQ_GREETING = b"\xff" + (1).to_bytes(8, "big") + b"\x7f\x03\x01NULL" + bytes(16 + 1 + 31)
GREETING_3_0 = b"\xff" + bytes(8) + b"\x7f\x03\x00NULL" + bytes(16 + 1 + 31)


def ready(socket_type: bytes, **extra: bytes) -> bytes:
    return encode_command(ready_body({"Socket-Type": socket_type, **extra}))


def connect(a: ZmtpConnection, b: ZmtpConnection) -> tuple[list[Any], list[Any]]:
    """Run a handshake between two connections in memory; return each side's events."""
    ga, gb = a.start(), b.start()
    ev_b = b.receive(ga)
    ev_a = a.receive(gb)
    for _ in range(4):  # mechanisms may need a few round trips
        out_a, out_b = a.data_to_send(), b.data_to_send()
        if not out_a and not out_b:
            break
        if out_a:
            ev_b += b.receive(out_a)
        if out_b:
            ev_a += a.receive(out_b)
    return ev_a, ev_b


def pair(
    ta: str = "DEALER", tb: str = "DEALER", **kw: Any
) -> tuple[ZmtpConnection, ZmtpConnection]:
    a, b = ZmtpConnection(ta, **kw), ZmtpConnection(tb, as_server=True, **kw)
    ev_a, ev_b = connect(a, b)
    assert a.handshake_done and b.handshake_done
    return a, b


def handshaken_with(peer_greeting: bytes = LIBZMQ_GREETING, **kw: Any) -> ZmtpConnection:
    """A DEALER that completed its handshake with a scripted peer."""
    conn = ZmtpConnection("DEALER", **kw)
    conn.start()
    conn.receive(peer_greeting)
    events = conn.receive(ready(b"ROUTER"))
    assert isinstance(events[0], HandshakeComplete)
    conn.data_to_send()
    return conn


# --- handshake --------------------------------------------------------------------------------


def test_handshake_events_and_properties() -> None:
    a = ZmtpConnection("DEALER", properties={"Identity": b"abc", "X-App": "demo"})
    b = ZmtpConnection("ROUTER", as_server=True)
    assert not a.handshake_done
    ev_a, ev_b = connect(a, b)
    assert ev_b == [
        HandshakeComplete(
            {"Socket-Type": b"DEALER", "Identity": b"abc", "X-App": b"demo"}, "DEALER", 1
        )
    ]
    assert ev_a == [HandshakeComplete({"Socket-Type": b"ROUTER"}, "ROUTER", 1)]
    assert a.handshake_done and b.handshake_done
    assert a.state is State.TRAFFIC
    assert a.peer_properties == {"Socket-Type": b"ROUTER"}
    assert a.peer_socket_type == "ROUTER"


def test_ready_sent_after_greeting_exact_bytes() -> None:
    conn = ZmtpConnection("DEALER", properties={"Identity": b"abc"})
    conn.start()
    assert conn.data_to_send() == b""
    conn.receive(LIBZMQ_GREETING)
    assert conn.data_to_send() == greeting_rest(b"NULL", False) + (
        b"\x04\x2c\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x03abc"
    )
    assert conn.data_to_send() == b""


def test_greeting_ready_and_messages_in_one_read() -> None:
    conn = ZmtpConnection("PULL")
    conn.start()
    data = LIBZMQ_GREETING + ready(b"PUSH") + encode_message([b"m1"]) + encode_message([b"a", b"b"])
    events = conn.receive(data)
    assert isinstance(events[0], HandshakeComplete)
    assert events[1:] == [[b"m1"], [b"a", b"b"]]


def test_property_names_case_insensitive_for_socket_type() -> None:
    conn = ZmtpConnection("SUB")
    conn.start()
    conn.receive(LIBZMQ_GREETING)
    body = encode_command(command_body(b"READY", b"\x0bsocket-type\x00\x00\x00\x03PUB"))
    (event,) = conn.receive(body)
    assert event.peer_socket_type == "PUB"


def test_peer_without_socket_type_is_accepted() -> None:
    conn = ZmtpConnection("SUB")
    conn.start()
    conn.receive(LIBZMQ_GREETING)
    (event,) = conn.receive(encode_command(b"\x05READY"))
    assert event == HandshakeComplete({}, "", 1)


def test_incompatible_socket_type_sends_error_then_raises() -> None:
    conn = ZmtpConnection("PUSH")
    conn.start()
    conn.receive(LIBZMQ_GREETING)
    ready_out = conn.data_to_send()
    with pytest.raises(ProtocolError, match="'PUSH' cannot talk") as info:
        conn.receive(ready(b"PUSH"))
    assert info.value.code == ZMTP_INVALID_METADATA
    assert conn.data_to_send() == encode_command(b"\x05ERROR\x13" + INVALID_SOCKET_TYPE)
    assert conn.state is State.CLOSED
    assert not conn.handshake_done
    assert ready_out[53:54] == b"\x04"  # after the rest of our greeting
    # further bytes are ignored
    assert conn.receive(b"\x00\x01x") == []


def test_unknown_socket_type_name_refused() -> None:
    conn = ZmtpConnection("DEALER")
    conn.start()
    conn.receive(LIBZMQ_GREETING)
    with pytest.raises(ProtocolError):
        conn.receive(ready(b"\xffGARBAGE"))


def test_peer_error_during_handshake_is_an_event() -> None:
    conn = ZmtpConnection("DEALER")
    conn.start()
    conn.receive(LIBZMQ_GREETING)
    events = conn.receive(encode_command(b"\x05ERROR\x03400") + ready(b"ROUTER"))
    assert events == [PeerError(b"400")]
    assert conn.state is State.CLOSED
    assert not conn.handshake_done


def test_malformed_ready_refused() -> None:
    conn = ZmtpConnection("DEALER")
    conn.start()
    conn.receive(LIBZMQ_GREETING)
    with pytest.raises(ProtocolError):
        conn.receive(encode_command(b"\x05READY\x0bSocket-Type\x00\x00\x00\x09DEALER"))


def test_unexpected_command_in_handshake_refused() -> None:
    conn = ZmtpConnection("DEALER")
    conn.start()
    conn.receive(LIBZMQ_GREETING)
    with pytest.raises(ProtocolError) as info:
        conn.receive(encode_command(b"\x04PING\x00\x00"))
    assert info.value.code == ZMTP_UNEXPECTED_COMMAND


def test_data_before_ready_refused() -> None:
    conn = ZmtpConnection("DEALER")
    conn.start()
    conn.receive(LIBZMQ_GREETING)
    with pytest.raises(ProtocolError):
        conn.receive(encode_message([b"too early"]))


def test_local_misuse_is_not_a_protocol_error() -> None:
    conn = ZmtpConnection("DEALER")
    with pytest.raises(RuntimeError):
        conn.receive(b"x")
    with pytest.raises(RuntimeError):
        conn.encode_error(b"x")
    conn.start()
    with pytest.raises(RuntimeError):
        conn.start()
    with pytest.raises(RuntimeError):
        conn.encode_message([b"x"])
    with pytest.raises(RuntimeError):
        conn.encode_ping(0, b"")
    with pytest.raises(ValueError):
        ZmtpConnection("STREAM")
    with pytest.raises(ValueError):
        ZmtpConnection("DEALER", properties={"socket-type": b"REP"})
    with pytest.raises(ValueError):
        ZmtpConnection("DEALER", properties={"bad name": b""})


# --- traffic ----------------------------------------------------------------------------------


def test_messages_both_ways() -> None:
    a, b = pair("DEALER", "ROUTER")
    msgs = [[b"one"], [b"", b"two", b""], [b"x" * 70000, b"y"], [b""]]
    wire = b"".join(a.encode_message(m) for m in msgs)
    assert b.receive(wire) == msgs
    assert a.receive(b.encode_messages(msgs)) == msgs
    assert b.encode_messages(msgs) == b"".join(b.encode_message(m) for m in msgs)
    assert b"".join(b.encode_message_parts(msgs[2])) == b.encode_message(msgs[2])


def test_commands_in_traffic() -> None:
    a, b = pair("XPUB", "XSUB")
    wire = (
        b.encode_subscribe(b"topic")
        + b.encode_cancel(b"topic")
        + b.encode_ping(50, b"ctx")
        + b.encode_pong(b"ctx2")
        + encode_command(b"\x07UNKNOWN" + b"whatever")  # ignored, as RFC 37 asks
        + b.encode_message([b"\x01data"])
    )
    assert a.receive(wire) == [
        Subscribe(b"topic"),
        Cancel(b"topic"),
        Ping(50, b"ctx"),
        Pong(b"ctx2"),
        [b"\x01data"],
    ]


def test_subscribe_encoding_depends_on_peer_version() -> None:
    new = handshaken_with(LIBZMQ_GREETING)
    assert new.encode_subscribe(b"ab") == b"\x04\x0c\x09SUBSCRIBEab"
    assert new.encode_cancel(b"ab") == b"\x04\x09\x06CANCELab"
    old = handshaken_with(GREETING_3_0)
    assert old.peer_minor == 0
    assert old.encode_subscribe(b"ab") == b"\x00\x03\x01ab"
    assert old.encode_cancel(b"ab") == b"\x00\x03\x00ab"


def test_command_byte_vectors() -> None:
    conn = handshaken_with()
    assert conn.encode_ping(10, b"hb") == b"\x04\x09\x04PING\x00\x0ahb"
    assert conn.encode_pong(b"hb") == b"\x04\x07\x04PONGhb"
    assert conn.encode_error(b"bye") == b"\x04\x0a\x05ERROR\x03bye"
    topic = b"t" * 300
    long_sub = conn.encode_subscribe(topic)
    assert long_sub[:9] == b"\x06" + (310).to_bytes(8, "big")


def test_peer_error_in_traffic_stops_decoding() -> None:
    conn = handshaken_with()
    wire = encode_message([b"before"]) + encode_command(b"\x05ERROR\x02no") + encode_message([b"x"])
    assert conn.receive(wire) == [[b"before"], PeerError(b"no")]
    assert conn.state is State.CLOSED
    assert conn.receive(encode_message([b"after"])) == []


def test_protocol_error_keeps_earlier_events() -> None:
    conn = handshaken_with()
    with pytest.raises(ProtocolError) as info:
        conn.receive(encode_message([b"ok"]) + b"\x08\x00")
    assert info.value.events == [[b"ok"]]


def test_partial_message_held_until_complete() -> None:
    conn = handshaken_with()
    wire = encode_message([b"a", b"b", b"c"])
    assert conn.receive(wire[:6]) == []
    assert conn.buffered_size > 0
    assert conn.receive(wire[6:]) == [[b"a", b"b", b"c"]]
    assert conn.buffered_size == 0


def test_max_message_size() -> None:
    conn = handshaken_with(max_message_size=100)
    assert conn.receive(encode_message([b"x" * 50, b"y" * 50])) == [[b"x" * 50, b"y" * 50]]
    with pytest.raises(ProtocolError, match="exceeds"):
        conn.receive(encode_message([b"x" * 50, b"y" * 51]))
    conn = handshaken_with(max_message_size=100)
    with pytest.raises(ProtocolError):
        conn.receive(b"\x02" + (101).to_bytes(8, "big"))  # header only


def test_max_message_size_applies_to_handshake_commands_as_in_libzmq() -> None:
    # libzmq's decoder checks MAXMSGSIZE on every frame, READY included: a socket with a tiny
    # limit cannot complete a handshake with libzmq either (checked against libzmq 4.3.5).
    conn = ZmtpConnection("DEALER", max_message_size=10)
    conn.start()
    conn.receive(LIBZMQ_GREETING)
    with pytest.raises(ProtocolError, match="exceeds"):
        conn.receive(ready(b"ROUTER"))


def test_every_split_point_gives_the_same_events() -> None:
    wire = (
        LIBZMQ_GREETING
        + ready(b"ROUTER", Identity=b"peer")
        + encode_message([b"a"])
        + encode_message([b"", b"b" * 300, b"c"])
        + encode_command(command_body(b"PING", b"\x00\x05ctx"))
        + encode_message([b"d" * 256])
        + encode_command(command_body(b"SUBSCRIBE", b"s" * 260))
        + encode_message([b""])
    )

    def run(chunks: list[bytes]) -> tuple[list[Any], bytes]:
        conn = ZmtpConnection("DEALER")
        conn.start()
        events: list[Any] = []
        for chunk in chunks:
            events += conn.receive(chunk)
        return events, conn.data_to_send()

    expected = run([wire])
    assert len(expected[0]) == 7
    assert run([wire[i : i + 1] for i in range(len(wire))]) == expected
    for cut in range(1, len(wire)):
        assert run([wire[:cut], wire[cut:]]) == expected, cut
    for a, b in itertools.combinations(range(60, len(wire), 37), 2):
        assert run([wire[:a], wire[a:b], wire[b:]]) == expected


# --- every pair of socket types, wired in memory ----------------------------------------------

ALL_PAIRS = list(itertools.product(SOCKET_TYPES, repeat=2))


@pytest.mark.parametrize("ta,tb", [p for p in ALL_PAIRS if compatible(*p)])
def test_compatible_pairs_handshake(ta: str, tb: str) -> None:
    a, b = pair(ta, tb)
    assert a.peer_socket_type == tb and b.peer_socket_type == ta
    assert b.receive(a.encode_message([b"hi"])) == [[b"hi"]]


@pytest.mark.parametrize("ta,tb", [p for p in ALL_PAIRS if not compatible(*p)])
def test_incompatible_pairs_refused(ta: str, tb: str) -> None:
    a, b = ZmtpConnection(ta), ZmtpConnection(tb)
    out_a, out_b = a.start(), b.start()
    with pytest.raises(ProtocolError):  # whichever side reads the other's READY first
        for _ in range(4):
            refuser = b
            b.receive(out_a)
            refuser = a
            a.receive(out_b)
            out_a, out_b = a.data_to_send(), b.data_to_send()
    assert refuser.data_to_send().endswith(INVALID_SOCKET_TYPE)


def test_compatibility_table_is_symmetric() -> None:
    for ta, tb in ALL_PAIRS:
        assert compatible(ta, tb) == compatible(tb, ta)
    assert compatible("DEALER", "ROUTER") and not compatible("DEALER", "dealer")
    assert not compatible("STREAM", "STREAM")


# --- the mechanism plug-in point --------------------------------------------------------------


class XorMechanism(Mechanism):
    """A toy mechanism with roles, a two-step handshake and wrapped frames: it proves the hooks
    are enough for PLAIN/CURVE-shaped mechanisms (HELLO/WELCOME, then MESSAGE per frame)."""

    name = b"X-XOR"
    has_roles = True
    wraps_frames = True

    def __init__(self) -> None:
        super().__init__()
        self.as_server = False
        self.properties: Mapping[str, bytes] = {}

    def start(self, *, as_server: bool, properties: Mapping[str, bytes]) -> list[bytes]:
        self.as_server = as_server
        self.properties = properties
        return [] if as_server else [command_body(b"HELLO")]

    def process_command(self, name: bytes, data: bytes) -> list[bytes]:
        if self.as_server and name == b"HELLO":
            return [command_body(b"WELCOME")]
        if not self.as_server and name == b"WELCOME":
            return [ready_body(self.properties)]
        if name == b"READY":
            self.peer_properties = parse_properties(data)
            self.complete = True
            return [] if not self.as_server else [ready_body(self.properties)]
        raise ProtocolError(f"unexpected {name!r}")

    def wrap_frame(self, flags: int, body: bytes) -> bytes:
        return command_body(b"MESSAGE", bytes((flags,)) + bytes(c ^ 0x5A for c in body))

    def unwrap_frame(self, name: bytes, data: bytes) -> tuple[int, bytes]:
        if name != b"MESSAGE" or not data:
            raise ProtocolError("expected MESSAGE")
        return data[0], bytes(c ^ 0x5A for c in data[1:])


def test_wrapping_mechanism_plugs_in() -> None:
    a = ZmtpConnection("DEALER", mechanism=XorMechanism(), as_server=False)
    b = ZmtpConnection("ROUTER", mechanism=XorMechanism(), as_server=True)
    ev_a, ev_b = connect(a, b)
    assert ev_a == [HandshakeComplete({"Socket-Type": b"ROUTER"}, "ROUTER", 1)]
    assert ev_b == [HandshakeComplete({"Socket-Type": b"DEALER"}, "DEALER", 1)]
    wire = a.encode_message([b"secret", b"", b"x" * 300]) + a.encode_ping(0, b"p")
    assert b"secret" not in wire
    name, _ = parse_command(wire[2:])
    # Wrapped frames travel in data frames, as libzmq sends CURVE's MESSAGE.
    assert wire[0] == 0 and name == b"MESSAGE"
    assert b.receive(wire) == [[b"secret", b"", b"x" * 300], Ping(0, b"p")]
    assert b.receive(a.encode_subscribe(b"t")) == [Subscribe(b"t")]
    assert b"".join(a.encode_message_parts([b"q"])) == a.encode_message([b"q"])
    # a clear data frame is refused once every frame must be wrapped: it is not a MESSAGE
    with pytest.raises(ProtocolError):
        b.receive(encode_message([b"clear"]))


def test_wrapped_frames_may_not_have_more() -> None:
    a = ZmtpConnection("DEALER", mechanism=XorMechanism(), as_server=False)
    b = ZmtpConnection("ROUTER", mechanism=XorMechanism(), as_server=True)
    connect(a, b)
    wire = bytearray(a.encode_message([b"m"]))
    wire[0] |= 1  # MORE on the data frame carrying the MESSAGE
    with pytest.raises(ProtocolError, match="MORE"):
        b.receive(bytes(wire))


def test_greeting_role_bit_is_ours_but_the_peers_is_not_trusted() -> None:
    # libzmq always sends as-server 0, so the peer's bit cannot refuse a connection.
    a = ZmtpConnection("DEALER", mechanism=XorMechanism(), as_server=True)
    b = ZmtpConnection("DEALER", mechanism=XorMechanism(), as_server=False)
    assert a.start()[32] == 1
    assert b.start()[32] == 0
