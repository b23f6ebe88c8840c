"""ZMTP/2.0 peers (RFC 15: libzmq 3.x, JeroMQ 0.3), with hand-built bytes: the staged greeting,
2.0 framing and semantics, and the rules that keep a downgrade from lowering security.

The real independent peer (JeroMQ) is in tests/test_jeromq.py.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vmzmq as zmq
from fault_helpers import LOCALHOST, next_event, tcp_port, wait_eof
from vmzmq.zmtp import HandshakeComplete, NullMechanism, ProtocolError, ZmtpConnection
from vmzmq.zmtp.frames import MAX_MESSAGE_FRAMES
from vmzmq.zmtp.greeting import SIGNATURE
from vmzmq.zmtp.plain import PlainMechanism
from zmtp_bytes import frame, greeting, message, ready, zmtp2_greeting

SIG = zmtp2_greeting(0)[:10]  # the signature both protocols share
TYPES = {"PAIR": 0, "PUB": 1, "SUB": 2, "REQ": 3, "REP": 4, "DEALER": 5, "ROUTER": 6,
         "PULL": 7, "PUSH": 8, "XPUB": 9, "XSUB": 10}  # fmt: skip


# --- the codec ---------------------------------------------------------------------------


def with_2_0_peer(
    ours: str = "DEALER", theirs: str = "ROUTER", identity: bytes = b"", **kw: Any
) -> tuple[ZmtpConnection, list[Any]]:
    conn = ZmtpConnection(ours, **kw)
    assert conn.start() == SIGNATURE
    events = conn.receive(zmtp2_greeting(TYPES[theirs]) + frame(identity))
    return conn, events


def test_staged_greeting_falls_back_to_2_0() -> None:
    conn = ZmtpConnection("DEALER", properties={"Identity": b"abc"})
    assert conn.start() == SIGNATURE  # signature and major 3, nothing more yet
    assert conn.receive(SIG) == [] and conn.data_to_send() == b""
    assert conn.receive(b"\x01") == []  # revision 1: ZMTP/2.0
    # our socket type octet (DEALER = 5) and our identity as a 2.0 message
    assert conn.data_to_send() == b"\x05" + b"\x00\x03abc"
    events = conn.receive(b"\x06" + frame(b"peer-id"))
    assert events == [
        HandshakeComplete({"Socket-Type": b"ROUTER", "Identity": b"peer-id"}, "ROUTER", 0, {},
                          (2, 0))
    ]  # fmt: skip
    assert conn.peer_version == (2, 0) and conn.zmtp2 and conn.handshake_done


def test_2_0_traffic_both_ways() -> None:
    conn, events = with_2_0_peer("PULL", "PUSH")
    assert isinstance(events[0], HandshakeComplete)
    parts = [b"", b"a", b"", b"x" * 300, b""]
    assert conn.receive(message(*parts) + message(b"one")) == [parts, [b"one"]]
    # 2.0 framing is 3.x framing without commands: the same bytes go out
    assert conn.encode_message([b"", b"ab"]) == b"\x01\x00\x00\x02ab"
    assert conn.encode_message([b"y" * 300]) == frame(b"y" * 300)


def test_greeting_identity_and_messages_one_octet_at_a_time() -> None:
    conn = ZmtpConnection("ROUTER")
    conn.start()
    data = zmtp2_greeting(TYPES["DEALER"]) + frame(b"x" * 300) + message(b"a", b"b")
    events: list[Any] = []
    with pytest.raises(ProtocolError, match="identity of 300 octets"):
        for i in range(len(data)):
            events += conn.receive(data[i : i + 1])
    assert events == []

    conn = ZmtpConnection("ROUTER")
    conn.start()
    data = zmtp2_greeting(TYPES["DEALER"]) + frame(b"id", long=True) + message(b"a", b"b")
    for i in range(len(data)):
        events += conn.receive(data[i : i + 1])
    assert events[0].properties["Identity"] == b"id"
    assert events[1:] == [[b"a", b"b"]]


@pytest.mark.parametrize("ours,theirs", [("PUSH", "PUSH"), ("REQ", "REQ"), ("PUB", "PULL")])
def test_socket_type_octet_checked(ours: str, theirs: str) -> None:
    conn = ZmtpConnection(ours)
    conn.start()
    conn.receive(SIG + b"\x01")
    conn.data_to_send()
    with pytest.raises(ProtocolError, match=f"socket type {theirs} cannot talk"):
        conn.receive(bytes((TYPES[theirs],)))
    assert conn.data_to_send() == b""  # 2.0 has no ERROR command


@pytest.mark.parametrize("octet", [11, 12, 0x7F, 0xFF])
def test_unknown_socket_type_octet_refused(octet: int) -> None:
    conn = ZmtpConnection("PAIR")
    conn.start()
    with pytest.raises(ProtocolError, match=f"number {octet} cannot talk"):
        conn.receive(zmtp2_greeting(octet))


@pytest.mark.parametrize(
    "identity,why",
    [
        (b"\x01\x01a" + frame(b"b"), "flags 0x01"),  # two frames
        (b"\x04\x00", "flags 0x04"),  # a command
        (b"\x80\x00", "flags 0x80"),  # a reserved bit
        (b"\x02" + (256).to_bytes(8, "big"), "256 octets"),  # refused on the header
        (b"\x02" + (1 << 62).to_bytes(8, "big"), "octets is longer"),
    ],
)
def test_bad_identity_message_refused(identity: bytes, why: str) -> None:
    conn = ZmtpConnection("ROUTER")
    conn.start()
    with pytest.raises(ProtocolError, match=why):
        conn.receive(zmtp2_greeting(TYPES["DEALER"]) + identity)
    assert conn.buffered_size <= 12 + 9


def test_no_commands_after_a_2_0_handshake() -> None:
    conn, _ = with_2_0_peer()
    with pytest.raises(ProtocolError, match="COMMAND"):
        conn.receive(b"\x04\x05\x04PING")
    conn, _ = with_2_0_peer()
    with pytest.raises(ProtocolError, match="reserved bits"):
        conn.receive(b"\x08\x01x")


def test_2_0_frames_obey_max_message_size() -> None:
    conn, _ = with_2_0_peer(max_message_size=10)
    assert conn.receive(frame(b"x" * 10)) == [[b"x" * 10]]
    with pytest.raises(ProtocolError, match="exceeds the maximum size 10"):
        conn.receive(b"\x02" + (11).to_bytes(8, "big"))  # refused on the declared size


def test_2_0_messages_obey_the_frame_count_bound() -> None:
    conn, _ = with_2_0_peer()
    with pytest.raises(ProtocolError, match="frames"):
        conn.receive(b"\x01\x00" * MAX_MESSAGE_FRAMES + b"\x00\x00")


def test_subscriptions_to_a_2_0_peer_are_messages_and_no_ping() -> None:
    conn, _ = with_2_0_peer("SUB", "PUB")
    assert conn.encode_subscribe(b"ab") == b"\x00\x03\x01ab"
    assert conn.encode_cancel(b"ab") == b"\x00\x03\x00ab"
    with pytest.raises(RuntimeError):
        conn.encode_ping(0, b"")
    assert conn.encode_error(b"x") == b""


@pytest.mark.parametrize(
    "kw",
    [
        {"mechanism": PlainMechanism(as_server=True)},
        {"mechanism": PlainMechanism(as_server=False, username=b"u", password=b"p")},
        {"mechanism": NullMechanism(zap_domain=b"global")},
        {"socket_type": "CLIENT"},
    ],
)
def test_downgrade_to_2_0_refused(kw: dict[str, Any]) -> None:
    """2.0 has no mechanisms and no ZAP: a secure socket never lets a 2.0 peer in."""
    conn = ZmtpConnection(kw.pop("socket_type", "DEALER"), **kw)
    assert len(conn.start()) == 64  # nothing waits on the peer's version
    with pytest.raises(ProtocolError, match="ZMTP/2.0") as info:
        conn.receive(SIG + b"\x01")
    assert "refused, as " in str(info.value)
    assert conn.data_to_send() == b""
    assert conn.receive(b"\x05" + frame(b"") + message(b"data")) == []


def test_curve_refuses_2_0() -> None:
    from vmzmq.utils import z85
    from vmzmq.zmtp.curve import CurveMechanism

    public, secret = zmq.curve_keypair()
    mech = CurveMechanism(
        as_server=True, public_key=z85.decode(public), secret_key=z85.decode(secret)
    )
    conn = ZmtpConnection("ROUTER", as_server=True, mechanism=mech)
    conn.start()
    with pytest.raises(ProtocolError, match="uses CURVE"):
        conn.receive(SIG + b"\x01\x05" + frame(b"") + message(b"data"))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.integers(0, 300))
def test_zmtp_1_0_never_delivers_a_byte(data: bytes, cut: int) -> None:
    """Without the signature nothing is ever a message (libzmq's 1.0 fallback delivers
    a stray peer's bytes): every such stream is refused with no event."""
    if data[0] == 0xFF and (len(data) < 10 or data[9] & 1):
        data = b"\x05" + data  # ZMTP 1.0 starts with a length octet, never 0xFF
    conn = ZmtpConnection("PULL")
    conn.start()
    events: list[Any] = []
    with pytest.raises(ProtocolError):
        events += conn.receive(data[:cut])
        events += conn.receive(data[cut:])
        if len(data) < 10:
            raise ProtocolError("short")  # too short to decide: nothing was delivered either
    assert events == []


# --- real sockets: vmzmq against a hand-built 2.0 peer ------------------------------------


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def bound(ctx: zmq.Context, kind: int, **opts: Any) -> tuple[zmq.Socket, int]:
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = 10000
    s.sndtimeo = 10000
    for name, value in opts.items():
        s.setsockopt(getattr(zmq, name), value)
    s.bind(f"tcp://{LOCALHOST}:*")
    return s, tcp_port(s.last_endpoint)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        data = sock.recv(n - len(buf))
        if not data:
            raise EOFError(f"peer closed after {buf!r}")
        buf += data
    return buf


def recv_frame(sock: socket.socket) -> tuple[int, bytes]:
    flags, size = recv_exactly(sock, 2)
    if flags & 2:
        size = int.from_bytes(bytes((size,)) + recv_exactly(sock, 7), "big")
    return flags, recv_exactly(sock, size)


def zmtp2_peer(port: int, kind: str, identity: bytes = b"") -> tuple[socket.socket, int, bytes]:
    """Connect as libzmq 3.2 does: signature first, the revision and socket type once the
    other side's signature is in. Returns the socket, vmzmq's type octet and identity."""
    sock = socket.create_connection((LOCALHOST, port), timeout=10)
    sock.sendall(SIG)
    theirs = recv_exactly(sock, 11)
    assert theirs[0] == 0xFF and theirs[9] & 1 and theirs[10] == 3
    sock.sendall(b"\x01" + bytes((TYPES[kind],)) + frame(identity))
    their_type = recv_exactly(sock, 1)[0]  # vmzmq answers a 2.0 peer in 2.0
    flags, their_identity = recv_frame(sock)
    assert flags == 0
    return sock, their_type, their_identity


def test_router_takes_the_2_0_peers_identity(ctx: zmq.Context) -> None:
    router, port = bound(ctx, zmq.ROUTER, ROUTING_ID=b"rtr")
    sock, their_type, their_identity = zmtp2_peer(port, "DEALER", identity=b"java-1")
    assert (their_type, their_identity) == (TYPES["ROUTER"], b"rtr")
    sock.sendall(message(b"", b"hello"))
    assert router.recv_multipart() == [b"java-1", b"", b"hello"]
    router.send_multipart([b"java-1", b"", b"back"])
    assert [recv_frame(sock), recv_frame(sock)] == [(1, b""), (0, b"back")]
    sock.close()


def test_pub_reads_2_0_subscriptions_as_messages(ctx: zmq.Context) -> None:
    pub, port = bound(ctx, zmq.XPUB)
    sock, their_type, _ = zmtp2_peer(port, "SUB")
    assert their_type == TYPES["XPUB"]
    sock.sendall(message(b"\x01ab"))
    assert pub.recv() == b"\x01ab"  # XPUB shows the subscription, as for a 3.0 peer
    for topic in (b"b", b"a", b"abc"):
        pub.send(topic)
    assert recv_frame(sock) == (0, b"abc")  # the filter held back b"b" and b"a"
    sock.close()


def test_sub_subscribes_a_2_0_publisher_with_a_message(ctx: zmq.Context) -> None:
    listener = socket.create_server((LOCALHOST, 0))
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.rcvtimeo = 10000
    sub.subscribe(b"ab")
    sub.connect(f"tcp://{LOCALHOST}:{listener.getsockname()[1]}")
    conn, _ = listener.accept()
    conn.settimeout(10)
    conn.sendall(SIG)
    assert recv_exactly(conn, 11)[10] == 3
    conn.sendall(b"\x01\x01" + frame(b""))  # revision 1, PUB
    assert recv_exactly(conn, 1) == b"\x02" and recv_frame(conn) == (0, b"")
    assert recv_frame(conn) == (0, b"\x01ab")  # never a SUBSCRIBE command
    conn.sendall(message(b"b") + message(b"abc"))
    assert sub.recv() == b"abc"
    conn.close()
    listener.close()


def test_no_heartbeats_for_a_2_0_peer(ctx: zmq.Context, caplog: pytest.LogCaptureFixture) -> None:
    """A silent 3.1 peer of the same socket gets PING and is dropped at the heartbeat
    timeout; by then the silent 2.0 peer got neither and is still served."""
    caplog.set_level(logging.WARNING, logger="vmzmq")
    router, port = bound(ctx, zmq.ROUTER, HEARTBEAT_IVL=50, HEARTBEAT_TIMEOUT=200)
    mon = router.get_monitor_socket()
    old, _, _ = zmtp2_peer(port, "DEALER", identity=b"old")
    new = socket.create_connection((LOCALHOST, port), timeout=10)
    new.sendall(greeting() + ready(b"DEALER", b"new"))
    assert wait_eof(new, timeout=30)  # heartbeats work: the silent 3.1 peer is dropped
    next_event(mon, {"DISCONNECTED"})
    old.setblocking(False)
    with pytest.raises(BlockingIOError):
        old.recv(1)  # not a PING, not a close
    old.setblocking(True)
    old.sendall(message(b"still", b"here"))
    assert router.recv_multipart() == [b"old", b"still", b"here"]
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    mon.close()
    old.close()
    new.close()


@pytest.mark.parametrize("security", ["plain", "curve", "zap_domain"])
def test_secure_socket_refuses_2_0_peer(ctx: zmq.Context, security: str) -> None:
    opts: dict[str, Any] = {}
    if security == "plain":
        opts = {"PLAIN_SERVER": 1}
    elif security == "curve":
        public, secret = zmq.curve_keypair()
        opts = {"CURVE_SERVER": 1, "CURVE_SECRETKEY": secret}
    else:
        opts = {"ZAP_DOMAIN": b"global"}
    pull, port = bound(ctx, zmq.PULL, **opts)
    mon = pull.get_monitor_socket()
    sock = socket.create_connection((LOCALHOST, port), timeout=10)
    sock.sendall(SIG + b"\x01\x08" + frame(b"") + message(b"must not arrive"))
    assert wait_eof(sock)
    name, _ = next_event(mon, {"HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_SUCCEEDED"})
    assert name == "HANDSHAKE_FAILED_PROTOCOL"
    assert pull.poll(0) == 0
    mon.close()
    sock.close()


def test_hostile_2_0_peer_dropped_others_served(ctx: zmq.Context) -> None:
    pull, port = bound(ctx, zmq.PULL, MAXMSGSIZE=1000)
    bad, _, _ = zmtp2_peer(port, "PUSH")
    good, _, _ = zmtp2_peer(port, "PUSH")
    bad.sendall(message(b"ok") + b"\x02" + (1001).to_bytes(8, "big"))
    assert wait_eof(bad)
    assert pull.recv() == b"ok"  # what arrived intact before the bad frame is kept
    good.sendall(message(b"x" * 1000))
    assert pull.recv() == b"x" * 1000
    bad.close()
    good.close()


def test_protocol_revision_logged(ctx: zmq.Context, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vmzmq")
    pull, port = bound(ctx, zmq.PULL)
    sock, _, _ = zmtp2_peer(port, "PUSH")
    sock.sendall(message(b"m"))
    assert pull.recv() == b"m"  # logged at the handshake, before any message is delivered
    record = next(r for r in caplog.records if "ZMTP/2.0" in r.getMessage())
    assert record.levelno == logging.INFO
    assert "PULL socket talks ZMTP/2.0 (NULL) to a PUSH peer" in record.getMessage()
    sock.close()
