"""Harness ``connection``: a whole ZmtpConnection receiving arbitrary bytes after start().

Input layout::

    scenario (1)  SCENARIOS: NULL (as client or as server), NULL with a ZAP domain, PLAIN
                  server, PLAIN client, CURVE server, CURVE client (fixed keys; short-term
                  keys and nonces derived from the run)
    type (1)      our socket type (SOCKET_TYPES)
    config (1)    bit 0 bare_single_frames, bit 1 the peer's greeting comes from the stream
                  too (else a valid one for the scenario is sent first), bit 2 the greeting
                  is ZMTP 3.0, bit 3 its as-server bit, bit 4 we send an Identity, bits 4-7
                  max_message_size (LIMITS)
    zap (1)       how ZAP requests are answered (ZAP_ANSWERS), per request in turn
    seed (2)      the chunking plan
    stream        the peer's bytes (after its greeting unless config bit 1)

Checked: receive() raises only ProtocolError, after which the connection is CLOSED and ignores
further bytes (as after the peer's ERROR); zap_reply() raises only ProtocolError; events are
data messages (lists of bytes, or bytes with bare_single_frames) or the event classes,
HandshakeComplete once and before any message, nothing after PeerError; buffered_size never
exceeds what was fed; data_to_send() is bytes; after the handshake our encoders work.
"""

from __future__ import annotations

from typing import Any

from fuzzkit import (
    CLIENT_SEED,
    SERVER_SEED,
    Reader,
    as_buffer,
    chunk_sizes,
    crash,
    deterministic_curve,
    seed_keypair,
)

from vmzmq.zmtp import State, ZmtpConnection
from vmzmq.zmtp.errors import ProtocolError
from vmzmq.zmtp.events import Cancel, HandshakeComplete, PeerError, Ping, Pong, Subscribe
from vmzmq.zmtp.greeting import build_greeting
from vmzmq.zmtp.mechanism import Mechanism, NullMechanism
from vmzmq.zmtp.plain import PlainMechanism
from vmzmq.zmtp.socket_types import SOCKET_TYPES
from vmzmq.zmtp.zap import ZapReply

SCENARIOS = ("null", "null-zap", "plain-server", "plain-client", "curve-server", "curve-client",
             "null-server")  # fmt: skip
LIMITS = (-1, -1, -1, -1, -1, -1, 0, 1, 10, 255, 256, 1000, 65536, 70000, 1 << 20, 1 << 40)
ZAP_ANSWERS = (
    "none",
    "200",
    "200-meta",
    "300",
    "400",
    "500",
    "failed",
    "200",
)
EVENT_TYPES = (HandshakeComplete, PeerError, Ping, Pong, Subscribe, Cancel)

SERVER_KEYS = seed_keypair(SERVER_SEED)
CLIENT_KEYS = seed_keypair(CLIENT_SEED)


def make_mechanism(scenario: str) -> tuple[Mechanism, bool]:
    """Our mechanism for a scenario, and whether we are the server."""
    if scenario in ("null", "null-server"):
        return NullMechanism(), scenario == "null-server"
    if scenario == "null-zap":
        return NullMechanism(zap_domain=b"global", zap_enforce_domain=True), True
    if scenario == "plain-server":
        return PlainMechanism(as_server=True), True
    if scenario == "plain-client":
        return PlainMechanism(as_server=False, username=b"admin", password=b"secret"), False
    from vmzmq.zmtp.curve import CurveMechanism

    if scenario == "curve-server":
        return CurveMechanism(
            as_server=True, public_key=SERVER_KEYS[0], secret_key=SERVER_KEYS[1],
            zap_domain=b"global",
        ), True  # fmt: skip
    return CurveMechanism(
        as_server=False, public_key=CLIENT_KEYS[0], secret_key=CLIENT_KEYS[1],
        server_key=SERVER_KEYS[0],
    ), False  # fmt: skip


def zap_answer(conn: ZmtpConnection, how: str, events: list[Any]) -> bool:
    """Answer the connection's ZAP request, if it has one, the ``how`` way (adding the events
    that completes to ``events``); whether there was one."""
    if conn.take_zap_request() is None:
        return False
    if conn.take_zap_request() is not None:
        raise crash("take_zap_request() handed the same request out twice")
    if how == "failed":
        conn.zap_failed(ProtocolError("ZAP handler went away"))
        if conn.state is not State.CLOSED:
            raise crash(f"zap_failed() left the connection {conn.state}")
        return True
    reply = None
    if how == "200-meta":
        reply = ZapReply(b"200", b"OK", b"user", {"X-Role": b"fuzz", "user-id": b"ignored"})
    elif how != "none":
        reply = ZapReply(how.encode(), b"text", b"user")
    try:
        events += conn.zap_reply(reply)
    except ProtocolError:
        if conn.state is not State.CLOSED:
            raise crash(f"zap_reply failed but the connection is {conn.state}") from None
    return True


class EventChecker:
    def __init__(self, bare: bool) -> None:
        self.bare = bare
        self.handshake = False
        self.peer_error = False

    def check(self, events: list[Any]) -> None:
        for event in events:
            if self.peer_error:
                raise crash(f"{event!r} after PeerError")
            if type(event) is bytes or type(event) is list:
                if not self.handshake:
                    raise crash("a data message before HandshakeComplete")
                frames = [event] if type(event) is bytes else event
                if type(event) is bytes and not self.bare:
                    raise crash("a bare frame without bare_single_frames")
                if not frames or any(type(f) is not bytes for f in frames):
                    raise crash(f"malformed message {event!r:.200}")
            elif isinstance(event, HandshakeComplete):
                if self.handshake:
                    raise crash("HandshakeComplete twice")
                self.handshake = True
            elif isinstance(event, PeerError):
                self.peer_error = True
            elif not isinstance(event, EVENT_TYPES):
                raise crash(f"unknown event {event!r:.200}")


def run_connection(
    conn: ZmtpConnection,
    stream: bytes,
    seed: int,
    zap_how: list[str],
    bare: bool,
    checker: EventChecker | None = None,
) -> None:
    """Feed ``stream`` to a started connection in reads planned by ``seed``, answering ZAP
    requests with ``zap_how`` in turn; check everything the harness promises."""
    if checker is None:
        checker = EventChecker(bare)
    sizes = chunk_sizes(seed)
    pos = 0
    total = 0
    seen = 0
    while pos < len(stream):
        size = next(sizes)
        chunk = stream[pos : pos + size]
        pos += len(chunk)
        total += len(chunk)
        closed_before = conn.state is State.CLOSED
        try:
            events = conn.receive(as_buffer(chunk, size % 3))
        except ProtocolError as exc:
            if conn.state is not State.CLOSED:
                raise crash(f"ProtocolError left the connection {conn.state}") from None
            if type(exc.events) is not list:
                raise crash("ProtocolError.events is not a list") from None
            checker.check(exc.events)
            events = []
        else:
            if closed_before and events:
                raise crash("a closed connection decoded events")
            checker.check(events)
        out = conn.data_to_send()
        if type(out) is not bytes:
            raise crash("data_to_send() is not bytes")
        if conn.commands_seen < seen:
            raise crash("commands_seen went down")
        seen = conn.commands_seen
        if conn.buffered_size > total:
            raise crash(f"buffered_size {conn.buffered_size} > {total} octets fed")
        zap_events: list[Any] = []
        if zap_answer(conn, zap_how[0], zap_events):
            checker.check(zap_events)
            zap_how.append(zap_how.pop(0))
        if checker.peer_error and conn.state is not State.CLOSED:
            raise crash(f"PeerError left the connection {conn.state}")
    if conn.handshake_done and conn.state is State.TRAFFIC:
        # Our encoders work whatever the peer sent.
        conn.encode_message([b"fuzz"])
        conn.encode_messages([[b"a", b"b"], [b""]])
        conn.one_frame_encoder()(b"x")
        conn.encode_ping(1, b"ctx")
        conn.encode_subscribe(b"topic")


def check(data: bytes) -> None:
    r = Reader(data)
    scenario = r.choice(SCENARIOS)
    socket_type = r.choice(SOCKET_TYPES)
    config = r.byte()
    zap = r.byte()
    seed = r.uint(2)
    stream = r.rest()
    bare = bool(config & 1)
    zap_how = [ZAP_ANSWERS[zap % len(ZAP_ANSWERS)], ZAP_ANSWERS[(zap >> 3) % len(ZAP_ANSWERS)]]
    with deterministic_curve():
        mechanism, as_server = make_mechanism(scenario)
        conn = ZmtpConnection(
            socket_type,
            as_server=as_server,
            mechanism=mechanism,
            properties={"Identity": b"fuzz"} if config & 0x10 else None,
            max_message_size=LIMITS[(config >> 4) % len(LIMITS)],
            bare_single_frames=bare,
        )
        conn.start()
        if not config & 2:
            minor = 0 if config & 4 else 1
            stream = build_greeting(mechanism.name, bool(config & 8), minor) + stream
        run_connection(conn, stream, seed, zap_how, bare)


if __name__ == "__main__":
    import sys

    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            check(f.read())
