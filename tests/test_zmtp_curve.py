"""CURVE (RFC 25/26): handshakes and traffic in memory, hostile peers, and libzmq on the wire.

The interop tests still drive our sans-I/O codec: a plain Python TCP socket on our side, a real
libzmq CURVE socket (through pyzmq) on the other.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.bindings import (
    crypto_box,
    crypto_box_beforenm,
    crypto_box_easy_afternm,
    crypto_box_keypair,
    crypto_box_open,
    crypto_box_open_easy_afternm,
    randombytes,
)

from vmzmq.zmtp import (
    Cancel,
    HandshakeComplete,
    PeerError,
    Ping,
    Pong,
    ProtocolError,
    Subscribe,
)
from vmzmq.zmtp import ZmtpConnection as Conn
from vmzmq.zmtp.commands import parse_command, parse_properties
from vmzmq.zmtp.curve import CurveMechanism
from vmzmq.zmtp.errors import (
    ZMTP_CRYPTOGRAPHIC,
    ZMTP_INVALID_SEQUENCE,
    ZMTP_KEY_EXCHANGE,
    ZMTP_MALFORMED_COMMAND_HELLO,
    ZMTP_MALFORMED_COMMAND_INITIATE,
    ZMTP_MALFORMED_COMMAND_MESSAGE,
    ZMTP_MALFORMED_COMMAND_READY,
    ZMTP_MALFORMED_COMMAND_WELCOME,
    ZMTP_UNEXPECTED_COMMAND,
    AuthFailed,
)
from vmzmq.zmtp.frames import FLAG_COMMAND, FLAG_LONG, FLAG_MORE, encode_command
from vmzmq.zmtp.zap import ZapReply, ZapRequest

KeyPair = tuple[bytes, bytes]
SERVER = crypto_box_keypair()
CLIENT = crypto_box_keypair()


def client_mech(server_key: bytes = SERVER[0], keys: KeyPair = CLIENT) -> CurveMechanism:
    return CurveMechanism(
        as_server=False, public_key=keys[0], secret_key=keys[1], server_key=server_key
    )


def server_mech(keys: KeyPair = SERVER, **zap: Any) -> CurveMechanism:
    return CurveMechanism(as_server=True, public_key=keys[0], secret_key=keys[1], **zap)


def curve_conns(
    client: CurveMechanism | None = None, server: CurveMechanism | None = None, **kw: Any
) -> tuple[Conn, Conn]:
    c = Conn("DEALER", mechanism=client or client_mech(), **kw)
    s = Conn("ROUTER", as_server=True, mechanism=server or server_mech(), **kw)
    return c, s


STAGES = ("HELLO", "WELCOME", "INITIATE", "READY")


def handshake(
    c: Conn,
    s: Conn,
    zap: Callable[[ZapRequest], ZapReply | None] = lambda req: None,
    tamper: Callable[[str, bytes], bytes] = lambda stage, wire: wire,
) -> tuple[list[Any], list[Any]]:
    """Run the four-command handshake in memory, handing the server's ZAP request to ``zap``;
    ``tamper(stage, wire)`` may change each command's bytes on the way."""
    ev_c: list[Any] = []
    ev_s: list[Any] = []
    gc, gs = c.start(), s.start()
    ev_s += s.receive(gc)
    ev_c += c.receive(gs)
    for stage in STAGES:
        sender, receiver, events = (c, s, ev_s) if stage in ("HELLO", "INITIATE") else (s, c, ev_c)
        wire = sender.data_to_send()
        assert wire, f"nothing to send at {stage}"
        events += receiver.receive(tamper(stage, wire))
        request = s.take_zap_request()
        if request is not None:
            ev_s += s.zap_reply(zap(request))
    return ev_c, ev_s


def curve_pair(**kw: Any) -> tuple[Conn, Conn]:
    c, s = curve_conns(**kw)
    handshake(c, s)
    assert c.handshake_done and s.handshake_done
    return c, s


def split_frames(wire: bytes) -> list[tuple[int, bytes]]:
    """(flags, body) of each complete ZMTP frame in ``wire``."""
    frames = []
    pos = 0
    while pos < len(wire):
        flags = wire[pos]
        if flags & FLAG_LONG:
            size, start = int.from_bytes(wire[pos + 1 : pos + 9], "big"), pos + 9
        else:
            size, start = wire[pos + 1], pos + 2
        frames.append((flags, wire[start : start + size]))
        pos = start + size
    assert pos == len(wire)
    return frames


def flip(wire: bytes, i: int) -> bytes:
    return wire[:i] + bytes((wire[i] ^ 0x01,)) + wire[i + 1 :]


def header_size(wire: bytes) -> int:
    return 9 if wire[0] & FLAG_LONG else 2


def mech_step(receiver: CurveMechanism, bodies: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for body in bodies:
        out += receiver.process_command(*parse_command(body))
    return out


def mech_pair(**zap: Any) -> tuple[CurveMechanism, CurveMechanism]:
    """Two mechanisms through their handshake without connections (for the fuzzers: faster)."""
    cm, sm = client_mech(), server_mech(**zap)
    hello = cm.start(as_server=False, properties={"Socket-Type": b"DEALER"})
    sm.start(as_server=True, properties={"Socket-Type": b"ROUTER"})
    initiate = mech_step(cm, mech_step(sm, hello))
    ready = mech_step(sm, initiate)
    if sm.zap_request is not None:
        ready = sm.zap_result(None)
    mech_step(cm, ready)
    assert cm.complete and sm.complete
    return cm, sm


# --- handshake and traffic in memory ----------------------------------------------------------


def test_handshake_zap_200_messages_both_ways() -> None:
    c = Conn("DEALER", mechanism=client_mech(), properties={"Identity": b"me", "X-App": "demo"})
    s = Conn("ROUTER", as_server=True, mechanism=server_mech(zap_domain=b"global"))
    gc, gs = c.start(), s.start()
    assert gc[12:17] == b"CURVE" and gc[32] == 0 and gs[32] == 1
    s.receive(gc)
    c.receive(gs)
    s.receive(c.data_to_send())  # HELLO
    c.receive(s.data_to_send())  # WELCOME
    s.receive(c.data_to_send())  # INITIATE
    assert s.data_to_send() == b""  # READY waits for the authenticator
    request = s.take_zap_request()
    assert request == ZapRequest(b"CURVE", (CLIENT[0],))
    assert s.take_zap_request() is None
    (done_s,) = s.zap_reply(ZapReply(b"200", b"OK", user_id=b"u", metadata={"X-Role": b"r"}))
    (done_c,) = c.receive(s.data_to_send())  # READY
    assert done_s == HandshakeComplete(
        {"Socket-Type": b"DEALER", "Identity": b"me", "X-App": b"demo"},
        "DEALER",
        1,
        {"X-Role": b"r", "User-Id": b"u"},
    )
    assert done_c == HandshakeComplete({"Socket-Type": b"ROUTER"}, "ROUTER", 1)

    big = randombytes(1 << 20)
    # A marker long enough that 1 MiB of ciphertext cannot contain it by chance.
    messages = [
        [b"one-distinctive-marker"], [b"a", b"", b"c"], [b""], [b"x" * 255, b"y" * 256],
        [big, b"tail"],
    ]
    wire = b"".join(c.encode_message(m) for m in messages)
    assert b"one-distinctive-marker" not in wire and big[:64] not in wire
    assert s.receive(wire) == messages
    assert c.receive(s.encode_messages(messages)) == messages
    # every frame is a MESSAGE command
    assert {parse_command(body)[0] for _, body in split_frames(c.encode_message([b"q"] * 3))} == {
        b"MESSAGE"
    }


def test_ping_pong_and_subscriptions_travel_wrapped() -> None:
    c, s = curve_pair()
    ping = c.encode_ping(12, b"ctx")
    ((flags, body),) = split_frames(ping)
    assert b"PING" not in body and parse_command(body)[0] == b"MESSAGE"
    assert s.receive(ping) == [Ping(12, b"ctx")]
    assert c.receive(s.encode_pong(b"ctx")) == [Pong(b"ctx")]
    sub = Conn("SUB", mechanism=client_mech())
    pub = Conn("PUB", as_server=True, mechanism=server_mech())
    handshake(sub, pub)
    assert pub.receive(sub.encode_subscribe(b"topic") + sub.encode_cancel(b"t")) == [
        Subscribe(b"topic"),
        Cancel(b"t"),
    ]


def _portable(mech: CurveMechanism) -> CurveMechanism:
    """Keep the traffic path on PyNaCl's wrappers, as where nacl._sodium is missing."""
    mech._start_traffic = lambda: None  # type: ignore[method-assign]
    return mech


@pytest.mark.parametrize("portable", ["client", "server", "both", "neither"])
def test_portable_and_direct_traffic_paths_agree(portable: str) -> None:
    """The traffic path that calls libsodium directly and the portable one (PyNaCl's
    wrappers) frame every size the same way, and each opens what the other sealed: empty,
    the largest short frame (222 octets of body), the first long one, either side of the
    4 KiB where large bodies are sealed in place, 64 KiB + 1, 1 MiB; multipart; commands."""
    cm, sm = client_mech(), server_mech()
    if portable in ("client", "both"):
        _portable(cm)
    if portable in ("server", "both"):
        _portable(sm)
    c, s = curve_pair(client=cm, server=sm)
    assert ("seal_frame" in vars(cm)) == (portable in ("server", "neither"))
    sizes = [0, 1, 64, 222, 223, 4095, 4096, 65537, 1 << 20]
    msgs = [[bytes([i % 251]) * n] for i, n in enumerate(sizes)] + [[b"a", b"", b"c" * 5000]]
    for sender, receiver in ((c, s), (s, c)):
        wire = b"".join(sender.encode_message(m) for m in msgs) + sender.encode_ping(1, b"p")
        wire += b"".join(sender.encode_message(m) for m in msgs[:3])  # a run after a command
        assert receiver.receive(wire) == [*msgs, Ping(1, b"p"), *msgs[:3]]
        parts = b"".join(bytes(p) for p in sender.encode_message_parts([b"z" * 70_000]))
        assert receiver.receive(parts) == [[b"z" * 70_000]]
        for size in sizes:  # one frame, as the burst path frames it
            assert receiver.receive(sender.one_frame_encoder()(b"q" * size)) == [[b"q" * size]]


def test_max_message_size_counts_the_frames_not_the_wrapping() -> None:
    c, s = curve_pair(max_message_size=1000)
    assert s.receive(c.encode_message([b"x" * 600, b"y" * 400])) == [[b"x" * 600, b"y" * 400]]
    with pytest.raises(ProtocolError):
        s.receive(c.encode_message([b"x" * 1001]))


def test_one_byte_at_a_time() -> None:
    c, s = curve_conns()
    ev_c: list[Any] = []
    ev_s: list[Any] = []

    def trickle(receiver: Conn, wire: bytes, events: list[Any]) -> None:
        for i in range(len(wire)):
            events += receiver.receive(wire[i : i + 1])

    gc, gs = c.start(), s.start()
    trickle(s, gc, ev_s)
    trickle(c, gs, ev_c)
    trickle(s, c.data_to_send(), ev_s)  # HELLO
    trickle(c, s.data_to_send(), ev_c)  # WELCOME
    trickle(s, c.data_to_send(), ev_s)  # INITIATE
    assert s.take_zap_request() is not None
    ev_s += s.zap_reply(None)
    trickle(c, s.data_to_send(), ev_c)  # READY
    assert c.handshake_done and s.handshake_done
    trickle(s, c.encode_message([b"slow", b"ly"]), ev_s)
    assert ev_s[-1] == [b"slow", b"ly"]


def test_wire_layout_against_an_independent_client() -> None:
    """Our server against a client written here straight from RFC 26 (nacl calls only)."""
    s = server_mech()
    assert s.start(as_server=True, properties={"Socket-Type": b"ROUTER"}) == []
    cn_public, cn_secret = crypto_box_keypair()
    hello_box = crypto_box(
        bytes(64), b"CurveZMQHELLO---" + (1).to_bytes(8, "big"), SERVER[0], cn_secret
    )
    hello = b"\x01\x00" + bytes(72) + cn_public + (1).to_bytes(8, "big") + hello_box
    (welcome,) = s.process_command(b"HELLO", hello)
    assert len(welcome) == 168 and welcome[:8] == b"\x07WELCOME"
    plain = crypto_box_open(welcome[24:], b"WELCOME-" + welcome[8:24], SERVER[0], cn_secret)
    server_cn, cookie = plain[:32], plain[32:]
    assert len(cookie) == 96
    key = crypto_box_beforenm(server_cn, cn_secret)
    vouch_nonce = randombytes(16)
    vouch = crypto_box(cn_public + SERVER[0], b"VOUCH---" + vouch_nonce, server_cn, CLIENT[1])
    metadata = b"\x0bSocket-Type\x00\x00\x00\x06DEALER"
    box = crypto_box_easy_afternm(
        CLIENT[0] + vouch_nonce + vouch + metadata,
        b"CurveZMQINITIATE" + (2).to_bytes(8, "big"),
        key,
    )
    assert s.process_command(b"INITIATE", cookie + (2).to_bytes(8, "big") + box) == []
    assert s.peer_properties == {"Socket-Type": b"DEALER"}
    (ready,) = s.zap_result(None)
    assert ready[:6] == b"\x05READY" and ready[6:14] == (1).to_bytes(8, "big")
    plain = crypto_box_open_easy_afternm(ready[14:], b"CurveZMQREADY---" + ready[6:14], key)
    assert parse_properties(plain) == {"Socket-Type": b"ROUTER"}
    assert s.complete
    # MESSAGE: server nonces go on from READY's; inner flags MORE 0x01, COMMAND 0x02
    for n, (flags, inner) in enumerate([(FLAG_MORE, 1), (0, 0), (FLAG_COMMAND, 2)], start=2):
        msg = s.wrap_frame(flags, b"body")
        assert msg[:16] == b"\x07MESSAGE" + n.to_bytes(8, "big")
        plain = crypto_box_open_easy_afternm(msg[16:], b"CurveZMQMESSAGES" + msg[8:16], key)
        assert plain == bytes((inner,)) + b"body"
    msg = crypto_box_easy_afternm(b"\x01hi", b"CurveZMQMESSAGEC" + (3).to_bytes(8, "big"), key)
    assert s.unwrap_frame(b"MESSAGE", (3).to_bytes(8, "big") + msg) == (FLAG_MORE, b"hi")


def test_wire_layout_against_an_independent_server() -> None:
    """Our client against a server written here straight from RFC 26 (nacl calls only)."""
    c = client_mech()
    (hello,) = c.start(as_server=False, properties={"Socket-Type": b"DEALER"})
    assert len(hello) == 200
    assert hello[:80] == b"\x05HELLO\x01\x00" + bytes(72)
    cn_client, short = hello[80:112], hello[112:120]
    assert short == (1).to_bytes(8, "big")
    assert crypto_box_open(hello[120:], b"CurveZMQHELLO---" + short, cn_client, SERVER[1]) == bytes(
        64
    )
    cn_public, cn_secret = crypto_box_keypair()
    cookie = randombytes(96)  # opaque to the client
    welcome_nonce = randombytes(16)
    welcome = welcome_nonce + crypto_box(
        cn_public + cookie, b"WELCOME-" + welcome_nonce, cn_client, SERVER[1]
    )
    (initiate,) = c.process_command(b"WELCOME", welcome)
    assert initiate[:9] == b"\x08INITIATE" and initiate[9:105] == cookie
    assert initiate[105:113] == (2).to_bytes(8, "big")
    key = crypto_box_beforenm(cn_client, cn_secret)
    plain = crypto_box_open_easy_afternm(
        initiate[113:], b"CurveZMQINITIATE" + initiate[105:113], key
    )
    assert plain[:32] == CLIENT[0]
    vouch = crypto_box_open(plain[48:128], b"VOUCH---" + plain[32:48], CLIENT[0], cn_secret)
    assert vouch == cn_client + SERVER[0]
    assert parse_properties(plain[128:]) == {"Socket-Type": b"DEALER"}
    ready = crypto_box_easy_afternm(
        b"\x0bSocket-Type\x00\x00\x00\x06ROUTER", b"CurveZMQREADY---" + (1).to_bytes(8, "big"), key
    )
    assert c.process_command(b"READY", (1).to_bytes(8, "big") + ready) == []
    assert c.complete and c.peer_properties == {"Socket-Type": b"ROUTER"}
    msg = c.wrap_frame(0, b"x")
    assert msg[:16] == b"\x07MESSAGE" + (3).to_bytes(8, "big")
    assert crypto_box_open_easy_afternm(msg[16:], b"CurveZMQMESSAGEC" + msg[8:16], key) == b"\0x"


# --- ZAP --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "enforce", "asks", "lets_in_without_handler"),
    [
        (b"d", False, True, True),
        (b"d", True, True, False),
        (b"", False, True, True),
        (b"", True, False, True),  # Stonehouse: never asked
    ],
)
def test_zap_table(domain: bytes, enforce: bool, asks: bool, lets_in_without_handler: bool) -> None:
    c, s = curve_conns(server=server_mech(zap_domain=domain, zap_enforce_domain=enforce))
    asked: list[ZapRequest] = []

    def zap(request: ZapRequest) -> None:
        asked.append(request)
        return None

    if lets_in_without_handler:
        handshake(c, s, zap)
        assert c.handshake_done and s.handshake_done
    else:
        with pytest.raises(AuthFailed) as info:
            handshake(c, s, zap)
        assert info.value.status == 0 and not s.handshake_done
    assert len(asked) == int(asks)


@pytest.mark.parametrize(("status", "reason"), [(b"400", b"400"), (b"500", b"500"), (b"300", None)])
def test_zap_refusal(status: bytes, reason: bytes | None) -> None:
    c, s = curve_conns()
    with pytest.raises(AuthFailed):
        handshake(c, s, lambda req: ZapReply(status, b"no"))
    wire = s.data_to_send()
    if reason is None:
        assert wire == b""
    else:
        assert wire == encode_command(b"\x05ERROR" + bytes((len(reason),)) + reason)
        assert c.receive(wire) == [PeerError(reason)]
    assert not c.handshake_done


# --- hostile peers ----------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_any_flipped_bit_in_a_handshake_command_is_refused(stage: str) -> None:
    c, s = curve_conns()
    wires: dict[str, bytes] = {}

    def keep(st: str, wire: bytes) -> bytes:
        wires[st] = wire
        return wire

    handshake(c, s, tamper=keep)
    wire = wires[stage]
    # every 7th octet of the command body (the frame header only sets how much to wait for)
    positions = sorted(set(range(header_size(wire), len(wire), 7)) | {len(wire) - 1})
    for i in positions:
        c, s = curve_conns()
        with pytest.raises(ProtocolError):
            handshake(c, s, tamper=lambda st, wire, i=i: flip(wire, i) if st == stage else wire)


def test_any_flipped_bit_in_a_message_is_refused() -> None:
    sample = curve_pair()[0].encode_message([b"payload" * 20])
    for i in range(header_size(sample), len(sample), 7):
        c, s = curve_pair()
        wire = c.encode_message([b"payload" * 20])
        with pytest.raises(ProtocolError):
            s.receive(flip(wire, i))


def test_replayed_and_reordered_messages_are_refused() -> None:
    c, s = curve_pair()
    first = c.encode_message([b"1"])
    assert s.receive(first) == [[b"1"]]
    with pytest.raises(ProtocolError) as info:
        s.receive(first)
    assert info.value.code == ZMTP_INVALID_SEQUENCE

    c, s = curve_pair()
    first, second = c.encode_message([b"1"]), c.encode_message([b"2"])
    assert s.receive(second) == [[b"2"]]  # a gap is fine: nonces only have to grow
    with pytest.raises(ProtocolError) as info:
        s.receive(first)
    assert info.value.code == ZMTP_INVALID_SEQUENCE


def test_reflected_message_is_refused() -> None:
    # The nonce prefixes differ by direction, so our own MESSAGE echoed back cannot open.
    c, s = curve_pair()
    s.encode_message([b"to client"])
    s.encode_message([b"to client"])
    wire = s.encode_message([b"to client"])  # nonce 4: past the client's INITIATE (2)
    with pytest.raises(ProtocolError) as info:
        s.receive(wire)
    assert info.value.code == ZMTP_CRYPTOGRAPHIC


def test_wrong_server_key_fails_the_handshake() -> None:
    c, s = curve_conns(client=client_mech(server_key=crypto_box_keypair()[0]))
    with pytest.raises(ProtocolError) as info:
        handshake(c, s)
    assert info.value.code == ZMTP_CRYPTOGRAPHIC
    assert not s.handshake_done and s.data_to_send() == b""


def test_client_keys_that_do_not_match_fail_the_vouch() -> None:
    c, s = curve_conns(client=client_mech(keys=(crypto_box_keypair()[0], CLIENT[1])))
    with pytest.raises(ProtocolError) as info:
        handshake(c, s)
    assert info.value.code == ZMTP_CRYPTOGRAPHIC


def test_server_key_that_does_not_match_its_secret_key_fails_the_vouch() -> None:
    # The client vouches for the key it used; a server configured with another public key than
    # its secret key's is refused (libzmq would let this through).
    wrong = (crypto_box_keypair()[0], SERVER[1])
    c, s = curve_conns(server=server_mech(keys=wrong))
    with pytest.raises(ProtocolError) as info:
        handshake(c, s)
    assert info.value.code == ZMTP_KEY_EXCHANGE


def test_low_order_keys_are_refused() -> None:
    # All-zero keys give an all-zero shared secret, which libsodium refuses.
    with pytest.raises(ProtocolError) as info:
        client_mech(server_key=bytes(32)).start(as_server=False, properties={})
    assert info.value.code == ZMTP_CRYPTOGRAPHIC
    # a server (it holds S's secret) whose WELCOME offers an all-zero short-term key S'
    c = client_mech()
    (hello,) = c.start(as_server=False, properties={})
    cn_client = hello[80:112]
    nonce = randombytes(16)
    box = crypto_box(bytes(32) + bytes(96), b"WELCOME-" + nonce, cn_client, SERVER[1])
    with pytest.raises(ProtocolError) as info:
        c.process_command(b"WELCOME", nonce + box)
    assert info.value.code == ZMTP_CRYPTOGRAPHIC


def test_cookie_of_another_connection_is_refused() -> None:
    c1, s1 = curve_conns()
    c2, s2 = curve_conns()
    captured: dict[str, bytes] = {}

    def keep(stage: str, wire: bytes) -> bytes:
        captured.setdefault(stage, wire)
        return wire

    handshake(c1, s1, tamper=keep)
    with pytest.raises(ProtocolError) as info:
        handshake(c2, s2, tamper=lambda st, w: captured["INITIATE"] if st == "INITIATE" else w)
    assert info.value.code == ZMTP_CRYPTOGRAPHIC


def test_hello_sizes_padding_and_version() -> None:
    (hello,) = client_mech().start(as_server=False, properties={})
    name, data = parse_command(hello)
    cases = {
        "short": data[:-1],
        "long": data + b"\0",
        "padding": data[:40] + b"\x01" + data[41:],
        "major": b"\x02" + data[1:],
        "minor": data[:1] + b"\x01" + data[2:],
    }
    for what, bad in cases.items():
        s = server_mech()
        s.start(as_server=True, properties={})
        with pytest.raises(ProtocolError) as info:
            s.process_command(name, bad)
        assert info.value.code == ZMTP_MALFORMED_COMMAND_HELLO, what
    s = server_mech()
    s.start(as_server=True, properties={})
    assert len(s.process_command(name, data)) == 1


def test_short_commands_are_malformed() -> None:
    cm, sm = client_mech(), server_mech()
    hello = cm.start(as_server=False, properties={"Socket-Type": b"DEALER"})
    sm.start(as_server=True, properties={"Socket-Type": b"ROUTER"})
    with pytest.raises(ProtocolError) as info:
        cm.process_command(b"WELCOME", bytes(159))
    assert info.value.code == ZMTP_MALFORMED_COMMAND_WELCOME
    (welcome,) = mech_step(sm, hello)
    (initiate,) = mech_step(cm, [welcome])
    with pytest.raises(ProtocolError) as info:
        sm.process_command(b"INITIATE", parse_command(initiate)[1][:247])
    assert info.value.code == ZMTP_MALFORMED_COMMAND_INITIATE
    with pytest.raises(ProtocolError) as info:
        cm.process_command(b"READY", bytes(23))
    assert info.value.code == ZMTP_MALFORMED_COMMAND_READY
    cm, sm = mech_pair()
    with pytest.raises(ProtocolError) as info:
        sm.unwrap_frame(b"MESSAGE", (9).to_bytes(8, "big") + bytes(16))
    assert info.value.code == ZMTP_MALFORMED_COMMAND_MESSAGE


@pytest.mark.parametrize(
    "name", [b"HELO", b"HELLO!", b"hello", b"WELCOME", b"INITIATE", b"READY", b"MESSAGE", b"X"]
)
def test_misspelled_or_untimely_commands_are_refused(name: bytes) -> None:
    s = server_mech()
    s.start(as_server=True, properties={})
    (hello,) = client_mech().start(as_server=False, properties={})
    with pytest.raises(ProtocolError) as info:
        s.process_command(name, parse_command(hello)[1])
    assert info.value.code == ZMTP_UNEXPECTED_COMMAND
    c = client_mech()
    c.start(as_server=False, properties={})
    if name != b"WELCOME":
        with pytest.raises(ProtocolError) as info:
            c.process_command(name, bytes(160))
        assert info.value.code == ZMTP_UNEXPECTED_COMMAND


def test_traffic_refuses_other_commands_and_bad_inner_flags() -> None:
    cm, sm = mech_pair()
    with pytest.raises(ProtocolError) as info:
        sm.unwrap_frame(b"MESSAGF", cm.wrap_frame(0, b"x")[8:])
    assert info.value.code == ZMTP_UNEXPECTED_COMMAND
    # Forge MESSAGEs with the shared key (a peer that holds it can send any inner flags).
    key = cm._key
    for nonce, flags in enumerate([0x03, 0x04, 0x80, 0xFF], start=100):
        short = nonce.to_bytes(8, "big")
        box = crypto_box_easy_afternm(bytes((flags,)) + b"x", b"CurveZMQMESSAGEC" + short, key)
        with pytest.raises(ProtocolError) as info:
            sm.unwrap_frame(b"MESSAGE", short + box)
        assert info.value.code == ZMTP_MALFORMED_COMMAND_MESSAGE
    # nonce 0 is never valid, even before any MESSAGE (INITIATE's was 2)
    box = crypto_box_easy_afternm(b"\0x", b"CurveZMQMESSAGEC" + bytes(8), key)
    with pytest.raises(ProtocolError):
        sm.unwrap_frame(b"MESSAGE", bytes(8) + box)


def test_nonces_of_initiate_and_ready_must_grow() -> None:
    c, s = curve_conns()

    def rewind(stage: str, wire: bytes) -> bytes:
        if stage != "INITIATE":
            return wire
        # INITIATE's short nonce sits after the frame header, name and cookie; 1 = HELLO's
        at = header_size(wire) + 9 + 96
        return wire[:at] + (1).to_bytes(8, "big") + wire[at + 8 :]

    with pytest.raises(ProtocolError) as info:
        handshake(c, s, tamper=rewind)
    assert info.value.code == ZMTP_INVALID_SEQUENCE

    c, s = curve_conns()

    def zero(stage: str, wire: bytes) -> bytes:
        if stage != "READY":
            return wire
        at = header_size(wire) + 6
        return wire[:at] + bytes(8) + wire[at + 8 :]

    with pytest.raises(ProtocolError) as info:
        handshake(c, s, tamper=zero)
    assert info.value.code == ZMTP_INVALID_SEQUENCE


def test_roles() -> None:
    m = server_mech()
    with pytest.raises(ProtocolError, match="both peers"):
        m.check_roles(True, True)
    m.check_roles(True, False)
    # libzmq's CURVE server announces as-server 0, so a client must accept a "client" peer
    client_mech().check_roles(False, False)
    client_mech().check_roles(False, True)


def test_local_misuse_is_not_a_protocol_error() -> None:
    with pytest.raises(ValueError):
        CurveMechanism(
            as_server=False, public_key=b"x" * 31, secret_key=CLIENT[1], server_key=SERVER[0]
        )
    with pytest.raises(ValueError):
        client_mech(server_key=b"")
    with pytest.raises(ValueError):
        CurveMechanism(as_server=True, public_key="x" * 32, secret_key=SERVER[1])  # type: ignore
    m = client_mech()
    with pytest.raises(RuntimeError):
        m.start(as_server=True, properties={})


# --- fuzzing: only ProtocolError escapes --------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.sampled_from([b"HELLO", b"WELCOME", b"INITIATE", b"READY", b"MESSAGE"]) | st.binary(
    max_size=9
)


def only_protocol_error(call: Callable[[], object]) -> None:
    try:
        call()
    except ProtocolError:
        pass


@FUZZ
@given(name=NAMES, data=st.binary(max_size=400), tail=st.binary(min_size=120, max_size=120))
def test_fuzz_server_hello(name: bytes, data: bytes, tail: bytes) -> None:
    for payload in (data, b"\x01\x00" + bytes(72) + tail):
        s = server_mech()
        s.start(as_server=True, properties={})
        only_protocol_error(lambda: s.process_command(name, payload))  # noqa: B023


@FUZZ
@given(name=NAMES, data=st.binary(max_size=400), exact=st.binary(min_size=160, max_size=160))
def test_fuzz_client_welcome(name: bytes, data: bytes, exact: bytes) -> None:
    for payload in (data, exact):
        c = client_mech()
        c.start(as_server=False, properties={})
        only_protocol_error(lambda: c.process_command(name, payload))  # noqa: B023


@FUZZ
@given(name=NAMES, data=st.binary(max_size=600), rest=st.binary(min_size=152, max_size=400))
def test_fuzz_server_initiate(name: bytes, data: bytes, rest: bytes) -> None:
    cm, sm = client_mech(), server_mech()
    hello = cm.start(as_server=False, properties={})
    sm.start(as_server=True, properties={})
    (welcome,) = mech_step(sm, hello)
    (initiate,) = mech_step(cm, [welcome])
    cookie = parse_command(initiate)[1][:96]
    for payload in (data, cookie + rest):  # the real cookie gets past the first check
        only_protocol_error(lambda: sm.process_command(name, payload))  # noqa: B023
        assert not sm.complete


@FUZZ
@given(name=NAMES, data=st.binary(max_size=300))
def test_fuzz_client_ready(name: bytes, data: bytes) -> None:
    cm, sm = client_mech(), server_mech()
    hello = cm.start(as_server=False, properties={})
    sm.start(as_server=True, properties={})
    mech_step(cm, mech_step(sm, hello))
    only_protocol_error(lambda: cm.process_command(name, data))
    assert not cm.complete


_PAIR = mech_pair()


@FUZZ
@given(name=NAMES, data=st.binary(max_size=300), nonce=st.integers(0, 2**64 - 1))
def test_fuzz_unwrap(name: bytes, data: bytes, nonce: int) -> None:
    cm, sm = _PAIR
    for payload in (data, nonce.to_bytes(8, "big") + data):
        only_protocol_error(lambda: sm.unwrap_frame(name, payload))  # noqa: B023
        only_protocol_error(lambda: cm.unwrap_frame(name, payload))  # noqa: B023
    # still in step after the garbage: a genuine MESSAGE opens
    assert sm.unwrap_frame(b"MESSAGE", cm.wrap_frame(FLAG_MORE, b"ok")[8:]) == (FLAG_MORE, b"ok")


# --- libzmq on the wire -----------------------------------------------------------------------

TIMEOUT = 5.0


# libzmq 4.3.5 sends each MESSAGE as a *data* frame (flags 0x00, or 0x02 when long: its
# curve_encoding_t::encode builds a fresh msg_t without the command flag), and drops a data
# MESSAGE that arrives in a command frame; the connection frames them as libzmq does.
def test_connection_frames_message_as_libzmq_does() -> None:
    c, s = curve_pair()
    wire = c.encode_message([b"a", b"b" * 300])
    assert [flags for flags, _ in split_frames(wire)] == [0x00, 0x02]
    assert s.receive(wire) == [[b"a", b"b" * 300]]


class Driver:
    """Our codec on a blocking TCP socket: feeds what arrives, sends what the codec wants."""

    def __init__(
        self,
        sock: socket.socket,
        conn: Conn,
        zap: Callable[[ZapRequest], ZapReply | None] = lambda req: None,
    ) -> None:
        sock.settimeout(TIMEOUT)
        self.sock = sock
        self.conn = conn
        self.zap = zap
        self.pending: list[Any] = []
        self.zap_requests: list[ZapRequest] = []

    def _deliver(self, data: bytes) -> list[Any]:
        events = self.conn.receive(data)
        out = self.conn.data_to_send()
        request = self.conn.take_zap_request()
        if request is not None:
            self.zap_requests.append(request)
            events += self.conn.zap_reply(self.zap(request))
            out += self.conn.data_to_send()
        if out:
            self.sock.sendall(out)
        return events

    def read(self) -> list[Any]:
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("peer closed the connection")
        return self._deliver(data)

    def send_wrapped(self, wire: bytes) -> None:
        self.sock.sendall(wire)

    def send(self, frames: list[bytes]) -> None:
        self.send_wrapped(self.conn.encode_message(frames))

    def until(self, wanted: Callable[[Any], bool]) -> Any:
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, ev in enumerate(self.pending):
                if wanted(ev):
                    del self.pending[i]
                    return ev
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching event; have {self.pending!r}")
            self.pending += self.read()

    def handshake(self) -> HandshakeComplete:
        self.sock.sendall(self.conn.start())
        return self.until(lambda ev: isinstance(ev, HandshakeComplete))

    def next_message(self) -> Any:
        return self.until(lambda ev: isinstance(ev, list))


@pytest.fixture
def zctx() -> Iterator[Any]:
    import zmq
    context = zmq.Context()
    try:
        yield context
    finally:
        context.destroy(linger=0)


def z85_pair() -> tuple[bytes, bytes, bytes, bytes]:
    """A libzmq key pair: (public Z85, secret Z85, public raw, secret raw)."""
    import zmq
    from zmq.utils import z85

    public, secret = zmq.curve_keypair()
    return public, secret, z85.decode(public), z85.decode(secret)


def libzmq_server(zctx: Any, kind: int, public: bytes, secret: bytes) -> tuple[Any, int]:
    import zmq
    sock = zctx.socket(kind)
    sock.curve_server = True
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.rcvtimeo = sock.sndtimeo = int(TIMEOUT * 1000)
    sock.linger = 0
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    assert sock.getsockopt(zmq.CURVE_SERVER) == 1
    return sock, port


def zap_handler(zctx: Any, expected_key: bytes, seen: list[list[bytes]]) -> threading.Thread:
    """A one-shot ZAP handler inside the libzmq context: says 200 with User-Id "u" if the
    credential is ``expected_key``, else 400."""
    import zmq
    handler = zctx.socket(zmq.ROUTER)
    handler.linger = 0
    handler.rcvtimeo = int(TIMEOUT * 1000)
    handler.bind("inproc://zeromq.zap.01")

    def serve() -> None:
        try:
            frames = handler.recv_multipart()
            seen.append(frames)
            envelope, request = frames[:2], frames[2:]  # routing id, delimiter
            ok = request[5] == b"CURVE" and request[6] == expected_key
            status = [b"200", b"OK", b"u"] if ok else [b"400", b"no", b""]
            handler.send_multipart([*envelope, b"1.0", request[1], *status, b""])
        finally:
            handler.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.interop
def test_our_client_libzmq_router_server(zctx: Any) -> None:
    import zmq
    s_pub, s_sec, s_pub_raw, _ = z85_pair()
    seen: list[list[bytes]] = []
    handler = zap_handler(zctx, CLIENT[0], seen)
    router, port = libzmq_server(zctx, zmq.ROUTER, s_pub, s_sec)
    conn = Conn(
        "DEALER",
        mechanism=client_mech(server_key=s_pub_raw),
        properties={"Identity": b"py", "X-App": "curve"},
    )
    peer = Driver(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT), conn)
    try:
        done = peer.handshake()
        assert done.peer_socket_type == "ROUTER"
        handler.join(TIMEOUT)
        assert seen and seen[0][-1] == CLIENT[0]  # libzmq found our long-term key in INITIATE

        big = randombytes(1 << 20)
        peer.send([b"hello", b"", b"world"])
        peer.send([big])
        frames = router.recv_multipart(copy=False)
        assert [f.bytes for f in frames] == [b"py", b"hello", b"", b"world"]
        assert frames[-1].get("User-Id") == "u"
        assert frames[-1].get("X-App") == "curve"
        assert router.recv_multipart() == [b"py", big]

        router.send_multipart([b"py", b"back", b"", b"x" * 300])
        router.send_multipart([b"py", big])
        assert peer.next_message() == [b"back", b"", b"x" * 300]
        assert peer.next_message() == [big]
        for i in range(50):  # nonces keep counting both ways
            peer.send([b"n%d" % i])
            assert router.recv_multipart() == [b"py", b"n%d" % i]
            router.send_multipart([b"py", b"r%d" % i])
            assert peer.next_message() == [b"r%d" % i]

        # Why MESSAGE must travel in a data frame: libzmq opens one that came as a command
        # frame, keeps the command flag on the result and its session drops it unseen.
        peer.sock.sendall(encode_command(conn.mechanism.wrap_frame(0, b"lost")))
        peer.send([b"kept"])
        assert router.recv_multipart() == [b"py", b"kept"]
        assert router.poll(0) == 0  # "lost" came first on the stream, so it is gone for good
    finally:
        peer.sock.close()


@pytest.mark.interop
def test_libzmq_dealer_client_our_router_server(zctx: Any) -> None:
    import zmq
    c_pub, c_sec, c_pub_raw, _ = z85_pair()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]
    dealer = zctx.socket(zmq.DEALER)
    dealer.curve_serverkey = zmq.utils.z85.encode(SERVER[0])
    dealer.curve_publickey = c_pub
    dealer.curve_secretkey = c_sec
    dealer.routing_id = b"lz"
    dealer.rcvtimeo = dealer.sndtimeo = int(TIMEOUT * 1000)
    dealer.linger = 0
    dealer.connect(f"tcp://127.0.0.1:{port}")
    sock, _ = listener.accept()
    listener.close()
    conn = Conn("ROUTER", as_server=True, mechanism=server_mech(zap_domain=b"test"))
    peer = Driver(sock, conn, zap=lambda req: ZapReply(b"200", user_id=b"lz-user"))
    try:
        done = peer.handshake()
        assert peer.zap_requests == [ZapRequest(b"CURVE", (c_pub_raw,))]
        assert done.properties["Identity"] == b"lz" and done.peer_socket_type == "DEALER"
        assert done.auth == {"User-Id": b"lz-user"}

        big = randombytes(1 << 20)
        dealer.send_multipart([b"a", b"", b"c"])
        dealer.send(big)
        assert peer.next_message() == [b"a", b"", b"c"]
        assert peer.next_message() == [big]
        peer.send([b"reply", b""])
        peer.send([big])
        assert dealer.recv_multipart() == [b"reply", b""]
        assert dealer.recv() == big
    finally:
        peer.sock.close()


@pytest.mark.interop
def test_libzmq_heartbeats_arrive_wrapped(zctx: Any) -> None:
    import zmq
    c_pub, c_sec, _, _ = z85_pair()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    dealer = zctx.socket(zmq.DEALER)
    dealer.curve_serverkey = zmq.utils.z85.encode(SERVER[0])
    dealer.curve_publickey = c_pub
    dealer.curve_secretkey = c_sec
    dealer.heartbeat_ivl = 100
    dealer.heartbeat_ttl = 2000
    dealer.heartbeat_timeout = 3000
    dealer.rcvtimeo = int(TIMEOUT * 1000)
    dealer.linger = 0
    dealer.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
    sock, _ = listener.accept()
    listener.close()
    peer = Driver(sock, Conn("ROUTER", as_server=True, mechanism=server_mech()))
    try:
        peer.handshake()
        ping = peer.until(lambda ev: isinstance(ev, Ping))
        assert ping.ttl == 20  # deciseconds
        peer.send_wrapped(peer.conn.encode_pong(ping.context))
        # our own PING is answered by libzmq with a PONG, wrapped too
        peer.send_wrapped(peer.conn.encode_ping(0, b"ours"))
        assert peer.until(lambda ev: isinstance(ev, Pong)) == Pong(b"ours")
        peer.send([b"still", b"here"])
        assert dealer.recv_multipart() == [b"still", b"here"]
    finally:
        peer.sock.close()


@pytest.mark.interop
def test_libzmq_client_with_the_wrong_server_key_is_refused(zctx: Any) -> None:
    import zmq
    c_pub, c_sec, _, _ = z85_pair()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    dealer = zctx.socket(zmq.DEALER)
    dealer.curve_serverkey = zmq.utils.z85.encode(crypto_box_keypair()[0])  # not ours
    dealer.curve_publickey = c_pub
    dealer.curve_secretkey = c_sec
    dealer.linger = 0
    dealer.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
    sock, _ = listener.accept()
    listener.close()
    peer = Driver(sock, Conn("ROUTER", as_server=True, mechanism=server_mech()))
    try:
        with pytest.raises(ProtocolError) as info:
            peer.handshake()
        assert info.value.code == ZMTP_CRYPTOGRAPHIC
        assert not peer.conn.handshake_done
    finally:
        peer.sock.close()


@pytest.mark.interop
def test_libzmq_server_with_another_key_pair_refuses_our_client(zctx: Any) -> None:
    """Our client expects one server key; the libzmq server holds another pair. libzmq cannot
    open our HELLO, reports that on its monitor and drops the connection without a word (it
    sends no ERROR for a protocol failure), so on our side the handshake ends in EOF."""
    import zmq
    from zmq.utils.monitor import recv_monitor_message

    s_pub, s_sec, _, _ = z85_pair()
    router, port = libzmq_server(zctx, zmq.ROUTER, s_pub, s_sec)
    monitor = router.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
    monitor.rcvtimeo = int(TIMEOUT * 1000)
    conn = Conn("DEALER", mechanism=client_mech(server_key=SERVER[0]))
    peer = Driver(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT), conn)
    try:
        with pytest.raises((EOFError, ConnectionResetError)):
            peer.handshake()
        event = recv_monitor_message(monitor)
        assert event["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
        assert event["value"] == ZMTP_CRYPTOGRAPHIC
        assert not conn.handshake_done
    finally:
        peer.sock.close()
        router.disable_monitor()
        monitor.close()
