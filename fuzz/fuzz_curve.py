"""Harness ``curve``: CurveMechanism's command parsers, and a CURVE connection whose peer
boxes whatever the fuzzer wants it to say.

Random bytes never open a box, so besides feeding raw data to ``process_command`` and
``unwrap_frame``, the harness plays an honest peer (with fixed long-term keys) that encrypts
fuzzed *plaintexts*: HELLO's version, padding and signature, the cookie, vouch and metadata of
INITIATE, WELCOME's contents, READY's metadata, and every MESSAGE's inner flags and frame, with
right or wrong nonces. So the checks behind the cryptography are fuzzed too.

Input layout::

    mode (1)     MODES: "mechanism" (a CurveMechanism alone: an honest peer takes the
                 handshake to ``stage``, then raw commands follow), "server" / "client" (a
                 ZmtpConnection with CURVE in that role, against the boxing peer)
    then the mode's own fields (see the functions below), read in order.

Checked: only ProtocolError escapes process_command, unwrap_frame, zap_result and receive;
unwrap_frame returns (flags, bytes) with flags 0, MORE or COMMAND; a refused connection is
CLOSED and ignores further bytes; what our side encodes after the handshake (a message of a
fuzzed size up to 128 KiB, a one-frame message, a PING) opens, in the peer's hands, to those
frames with increasing nonces; plus the connection harness's invariants on the traffic.
"""

from __future__ import annotations

from typing import Any

from fuzz_connection import LIMITS, ZAP_ANSWERS, EventChecker, run_connection, zap_answer
from fuzzkit import CLIENT_SEED, SERVER_SEED, Reader, crash, deterministic_curve, seed_keypair
from nacl.bindings import (
    crypto_box,
    crypto_box_beforenm,
    crypto_box_easy_afternm,
    crypto_box_open,
    crypto_box_open_easy_afternm,
    crypto_secretbox,
)

from vmzmq.zmtp import State, ZmtpConnection
from vmzmq.zmtp.commands import command_body, encode_properties, parse_command
from vmzmq.zmtp.curve import CurveMechanism
from vmzmq.zmtp.errors import ProtocolError
from vmzmq.zmtp.frames import FLAG_COMMAND, FLAG_MORE, encode_command, frame_header
from vmzmq.zmtp.greeting import build_greeting
from vmzmq.zmtp.socket_types import SOCKET_TYPES
from vmzmq.zmtp.zap import ZapReply

MODES = ("mechanism", "server", "client")
SERVER = seed_keypair(SERVER_SEED)
CLIENT = seed_keypair(CLIENT_SEED)
PEER_CN = seed_keypair(b"vmzmq-fuzz-curve-peer-short-term")
NAMES = (b"HELLO", b"WELCOME", b"INITIATE", b"READY", b"MESSAGE", b"ERROR", b"", None)
INNER = (b"PING", b"PONG", b"SUBSCRIBE", b"CANCEL", b"ERROR", b"READY", b"X")
GROW = (1, 1, 16, 300)


def _nonce(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _maybe(r: Reader, honest: bytes, size: int | None = None) -> bytes:
    """``honest`` (when the next octet is even), else fuzzed octets (``size`` of them, or
    behind a one-octet length)."""
    if not r.byte() & 1:
        return honest
    return r.take(size) if size is not None else r.sized()


def _metadata(r: Reader, socket_type: bytes) -> bytes:
    if not r.byte() & 1:
        return encode_properties({"Socket-Type": socket_type, "Identity": b"peer"})
    return r.sized(2)


# --- mode "mechanism" -----------------------------------------------------------------------


def _mechanisms(as_server: bool) -> tuple[CurveMechanism, CurveMechanism]:
    server = CurveMechanism(as_server=True, public_key=SERVER[0], secret_key=SERVER[1])
    client = CurveMechanism(
        as_server=False, public_key=CLIENT[0], secret_key=CLIENT[1], server_key=SERVER[0]
    )
    return (server, client) if as_server else (client, server)


def _deliver(receiver: CurveMechanism, bodies: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for body in bodies:
        out += receiver.process_command(*parse_command(body))
        if receiver.zap_request is not None:
            out += receiver.zap_result(None)
    return out


def _check_unwrapped(result: Any) -> None:
    flags, body = result
    if flags not in (0, FLAG_MORE, FLAG_COMMAND) or type(body) is not bytes:
        raise crash(f"unwrap_frame returned {result!r:.100}")


def mode_mechanism(r: Reader) -> None:
    """as_server (1), stage (1): how far the honest peer goes (0: nothing, 1: past HELLO or
    WELCOME, 2: done); then commands: a NAMES choice (None: a fuzzed name), and either raw
    data behind a two-octet length or (``name`` MESSAGE, odd flag octet) a MESSAGE the peer
    really boxed around fuzzed inner octets, with the right or a fuzzed nonce."""
    as_server = r.flag()
    stage = r.byte() % 3
    ours, peer = _mechanisms(as_server)
    to_peer = ours.start(as_server=as_server, properties={"Socket-Type": b"DEALER"})
    to_ours = peer.start(as_server=not as_server, properties={"Socket-Type": b"DEALER"})
    delivered, deliveries = 0, (0, 1, 99)[stage]
    while (to_ours or to_peer) and delivered < deliveries:
        if to_ours:
            to_peer += _deliver(ours, to_ours)
            to_ours = []
            delivered += 1
        if to_peer:
            to_ours += _deliver(peer, to_peer)
            to_peer = []
    while r.remaining():
        name = r.choice(NAMES)
        if name is None:
            name = r.sized()
        if name == b"MESSAGE" and peer.complete and r.flag():
            short = _nonce(peer._nonce) if r.flag() else r.fixed(8)
            peer._nonce += 1
            inner = r.sized(2)
            inner = inner[:1] + inner[1:] * GROW[r.byte() & 3]
            data = short + crypto_box_easy_afternm(inner, peer._send_prefix + short, peer._key)
        else:
            data = r.sized(2)
        try:
            if ours.complete:
                _check_unwrapped(ours.unwrap_frame(name, data))
            else:
                out = ours.process_command(name, data)
                if ours.zap_request is not None:
                    status = r.choice((None, b"200", b"300", b"400", b"500"))
                    out += ours.zap_result(None if status is None else ZapReply(status))
                for body in out:
                    parse_command(body)
        except ProtocolError:
            return  # a failed handshake or connection is over


# --- modes "server" and "client": a ZmtpConnection against the boxing peer ------------------


def _command_frame(name: bytes, data: bytes) -> bytes:
    return encode_command(command_body(name, data))


def _sent_command(conn: ZmtpConnection, name: bytes) -> bytes | None:
    """The data of the ``name`` command our side just sent (None if it sent something else)."""
    wire = conn.data_to_send()
    if len(wire) < 2 or not wire[0] & FLAG_COMMAND:
        return None
    start = 9 if wire[0] & 2 else 2
    try:
        got, data = parse_command(wire[start:])
    except ProtocolError:
        return None
    return data if got == name else None


def _feed(conn: ZmtpConnection, checker: EventChecker, wire: bytes) -> bool:
    """Feed one handshake command; False once the connection is closed."""
    try:
        checker.check(conn.receive(wire))
    except ProtocolError:
        if conn.state is not State.CLOSED:
            raise crash(f"ProtocolError left the connection {conn.state}") from None
        if conn.receive(b"\x04\x00") != []:
            raise crash("a closed connection decoded more") from None
        return False
    return conn.state is not State.CLOSED


def _traffic(r: Reader, key: bytes, prefix: bytes, first_nonce: int) -> bytes:
    """The peer's bytes after the handshake: MESSAGEs boxed around fuzzed inner frames (right
    nonces, or fuzzed ones), MESSAGE in a command frame or with MORE, ERROR, raw octets."""
    out: list[bytes] = []
    nonce = first_nonce
    while r.remaining():
        code = r.byte()
        op = code % 10
        if op == 8:
            out.append(r.sized(2))
            continue
        if op == 9:
            out.append(_command_frame(b"ERROR", r.sized()))
            continue
        if op == 7:  # a command inside MESSAGE
            inner = b"\x02" + command_body(r.choice(INNER), r.sized())
        else:
            inner = r.sized(2)
            # The top bits of the op grow the frame, past the 4 KiB where unwrap_frame opens
            # a box in place rather than a slice.
            inner = inner[:1] + inner[1:] * GROW[code >> 6]
        if op == 6:
            short = r.fixed(8)
        else:
            short = _nonce(nonce)
            nonce += 1
        body = b"\x07MESSAGE" + short + crypto_box_easy_afternm(inner, prefix + short, key)
        if op == 5:
            out.append(encode_command(body))  # libzmq would drop it unseen; we must not crash
        elif op == 4:
            out.append(frame_header(FLAG_MORE, len(body)) + body)
        else:
            out.append(frame_header(0, len(body)) + body)
    return b"".join(out)


def _check_sent(conn: ZmtpConnection, size: int, key: bytes, prefix: bytes) -> None:
    """What our side encodes after the handshake opens, in the peer's hands, to the frames
    and commands given: a message of ``size`` octets and a short one, and a PING."""
    frames = [bytes(range(256)) * (size // 256) + bytes(size % 256), b"tail"]
    wire = conn.encode_message(frames) + conn.one_frame_encoder()(b"one") + conn.encode_ping(
        7, b"ctx"
    )
    expected = [b"\x01" + frames[0], b"\x00tail", b"\x00one", b"\x02" + command_body(b"PING",
                b"\x00\x07ctx")]  # fmt: skip
    got = []
    pos = 0
    last = bytes(8)
    while pos < len(wire):
        flags = wire[pos]
        if flags & 2:
            n, start = int.from_bytes(wire[pos + 1 : pos + 9], "big"), pos + 9
        else:
            n, start = wire[pos + 1], pos + 2
        body = wire[start : start + n]
        pos = start + n
        if flags & ~2 or body[:8] != b"\x07MESSAGE" or body[8:16] <= last:
            raise crash(f"we sent flags {flags:#x}, {body[:16]!r} after nonce {last!r}")
        last = body[8:16]
        got.append(crypto_box_open_easy_afternm(body[16:], prefix + last, key))
    if got != expected:
        raise crash("our MESSAGEs do not open to what we sent")


def _connection(r: Reader, as_server: bool) -> tuple[ZmtpConnection, bool, list[str], int]:
    socket_type = r.choice(SOCKET_TYPES)
    config = r.byte()
    zap = r.byte()
    if as_server:
        mech = CurveMechanism(
            as_server=True, public_key=SERVER[0], secret_key=SERVER[1],
            zap_domain=b"global" if config & 2 else b"", zap_enforce_domain=bool(config & 4),
        )  # fmt: skip
    else:
        mech = CurveMechanism(
            as_server=False, public_key=CLIENT[0], secret_key=CLIENT[1], server_key=SERVER[0]
        )
    bare = bool(config & 1)
    conn = ZmtpConnection(
        socket_type,
        as_server=as_server,
        mechanism=mech,
        max_message_size=LIMITS[(config >> 4) % len(LIMITS)],
        bare_single_frames=bare,
    )
    conn.start()
    zap_how = [ZAP_ANSWERS[zap % len(ZAP_ANSWERS)], "200"]
    return conn, bare, zap_how, r.uint(2)


def mode_server(r: Reader) -> None:
    """Our CURVE server against a client that boxes fuzzed plaintexts. Fields: socket type,
    config (bit 0 bare, bits 1-2 ZAP domain/enforce, bits 4-7 max_message_size), ZAP
    answer, chunking seed, then HELLO's parts, INITIATE's parts, and the traffic ops."""
    conn, bare, zap_how, seed = _connection(r, True)
    checker = EventChecker(bare)
    cn_public, cn_secret = PEER_CN
    if not _feed(conn, checker, build_greeting(b"CURVE", False)):
        return
    # HELLO
    version = _maybe(r, b"\x01\x00", 2)
    padding = _maybe(r, bytes(72), 72)
    short = _maybe(r, _nonce(1), 8)
    signature = _maybe(r, bytes(64))
    box = crypto_box(signature, b"CurveZMQHELLO---" + short.ljust(8, b"\0")[:8], SERVER[0],
                     cn_secret)  # fmt: skip
    hello = version + padding + cn_public + short + box
    if r.byte() & 1:
        hello = hello[: r.byte()]
    if not _feed(conn, checker, _command_frame(b"HELLO", hello)):
        return
    welcome = _sent_command(conn, b"WELCOME")
    if welcome is None:
        raise crash("no WELCOME after a HELLO that was accepted")
    plain = crypto_box_open(welcome[16:], b"WELCOME-" + welcome[:16], SERVER[0], cn_secret)
    server_cn, cookie = plain[:32], plain[32:]
    key = crypto_box_beforenm(server_cn, cn_secret)
    # INITIATE
    cookie = _maybe(r, cookie, 96)
    short = _maybe(r, _nonce(2), 8)
    client_key = _maybe(r, CLIENT[0], 32)
    vouch_nonce = r.fixed(16)
    vouch_plain = _maybe(r, cn_public + SERVER[0])
    vouch = crypto_box(vouch_plain, b"VOUCH---" + vouch_nonce, server_cn, CLIENT[1])
    vouch = _maybe(r, vouch, 80)
    inner = _maybe(r, client_key + vouch_nonce + vouch + _metadata(r, b"DEALER"))
    box = crypto_box_easy_afternm(inner, b"CurveZMQINITIATE" + short.ljust(8, b"\0")[:8], key)
    if not _feed(conn, checker, _command_frame(b"INITIATE", cookie + short + box)):
        return
    zap_events: list[Any] = []
    if zap_answer(conn, zap_how[0], zap_events):
        checker.check(zap_events)
    if conn.state is not State.TRAFFIC:
        return
    _check_sent(conn, r.uint(2) * 2, key, b"CurveZMQMESSAGES")
    stream = _traffic(r, key, b"CurveZMQMESSAGEC", 3)
    run_connection(conn, stream, seed, zap_how, bare, checker)


def mode_client(r: Reader) -> None:
    """Our CURVE client against a server that boxes fuzzed plaintexts. Fields: socket type,
    config (bit 0 bare, bits 4-7 max_message_size), ZAP answer (unused), chunking seed,
    then WELCOME's parts, READY's parts, and the traffic ops."""
    conn, bare, zap_how, seed = _connection(r, False)
    checker = EventChecker(bare)
    if not _feed(conn, checker, build_greeting(b"CURVE", r.flag())):
        return
    hello = _sent_command(conn, b"HELLO")
    if hello is None:
        raise crash("our client sent no HELLO")
    client_cn = hello[74:106]
    server_cn_public, server_cn_secret = PEER_CN
    # WELCOME: the server's short-term key and a cookie (opaque to the client)
    cookie_nonce = r.fixed(16)
    cookie = cookie_nonce + crypto_secretbox(
        bytes(64), b"COOKIE--" + cookie_nonce, bytes(32)
    )
    plain = _maybe(r, server_cn_public + _maybe(r, cookie, 96))
    welcome_nonce = r.fixed(16)
    welcome = welcome_nonce + crypto_box(plain, b"WELCOME-" + welcome_nonce, client_cn, SERVER[1])
    if r.byte() & 1:
        welcome = welcome[: r.uint(2)]
    if not _feed(conn, checker, _command_frame(b"WELCOME", welcome)):
        return
    if _sent_command(conn, b"INITIATE") is None:
        raise crash("no INITIATE after a WELCOME that was accepted")
    key = crypto_box_beforenm(client_cn, server_cn_secret)
    # READY
    short = _maybe(r, _nonce(1), 8)
    metadata = _metadata(r, b"ROUTER")
    box = crypto_box_easy_afternm(metadata, b"CurveZMQREADY---" + short.ljust(8, b"\0")[:8], key)
    if not _feed(conn, checker, _command_frame(b"READY", short + box)):
        return
    if conn.state is not State.TRAFFIC:
        return
    _check_sent(conn, r.uint(2) * 2, key, b"CurveZMQMESSAGEC")
    stream = _traffic(r, key, b"CurveZMQMESSAGES", 2)
    run_connection(conn, stream, seed, zap_how, bare, checker)


def check(data: bytes) -> None:
    r = Reader(data)
    mode = r.choice(MODES)
    with deterministic_curve():
        if mode == "mechanism":
            mode_mechanism(r)
        elif mode == "server":
            mode_server(r)
        else:
            mode_client(r)


if __name__ == "__main__":
    import sys

    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            check(f.read())
