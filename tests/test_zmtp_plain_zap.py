"""The PLAIN mechanism and the ZAP codec, sans-I/O: handshakes in memory, the ZAP hook of the
connection, and properties for every parser (only ProtocolError ever escapes)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmzmq.zmtp import HandshakeComplete, PeerError, ProtocolError, ZmtpConnection
from vmzmq.zmtp.commands import encode_properties
from vmzmq.zmtp.errors import (
    ZAP_BAD_VERSION,
    ZAP_INVALID_METADATA,
    ZAP_INVALID_STATUS_CODE,
    ZAP_MALFORMED_REPLY,
    AuthFailed,
)
from vmzmq.zmtp.mechanism import NullMechanism
from vmzmq.zmtp.plain import PlainMechanism, hello_body, parse_hello
from vmzmq.zmtp.zap import ZapReply, ZapRequest, parse_reply, request_frames


def run(a: ZmtpConnection, b: ZmtpConnection, zap: Any = None) -> tuple[list, list]:
    """Exchange bytes until both are quiet; answer b's ZAP requests with ``zap(request)``."""
    ga, gb = a.start(), b.start()
    ev_a, ev_b = a.receive(gb), b.receive(ga)
    for _ in range(8):
        request = b.take_zap_request()
        if request is not None:
            ev_b += b.zap_reply(zap(request))
        out_a, out_b = a.data_to_send(), b.data_to_send()
        if not out_a and not out_b:
            break
        if out_a:
            ev_b += b.receive(out_a)
        if out_b:
            ev_a += a.receive(out_b)
    return ev_a, ev_b


def plain_pair(username: bytes = b"admin", password: bytes = b"secret"):
    client = ZmtpConnection(
        "DEALER", mechanism=PlainMechanism(as_server=False, username=username, password=password)
    )
    server = ZmtpConnection("ROUTER", as_server=True, mechanism=PlainMechanism(as_server=True))
    return client, server


def test_plain_handshake_asks_zap_and_carries_user_id() -> None:
    client, server = plain_pair()
    asked: list[ZapRequest] = []

    def zap(request: ZapRequest) -> ZapReply:
        asked.append(request)
        return ZapReply(b"200", b"OK", b"admin-id", {"X-Team": b"blue", "USER-ID": b"forged"})

    ev_c, ev_s = run(client, server, zap)
    assert asked == [ZapRequest(b"PLAIN", (b"admin", b"secret"))]
    (done_s,) = [e for e in ev_s if isinstance(e, HandshakeComplete)]
    assert done_s.peer_socket_type == "DEALER"
    # The user id wins over any metadata of the same name, whatever its case.
    assert done_s.auth == {"X-Team": b"blue", "User-Id": b"admin-id"}
    assert any(isinstance(e, HandshakeComplete) for e in ev_c)
    assert server.receive(client.encode_message([b"hi"])) == [[b"hi"]]


@pytest.mark.parametrize("status", [b"300", b"400", b"500"])
def test_plain_refusal(status: bytes) -> None:
    client, server = plain_pair()
    greet_c, greet_s = client.start(), server.start()
    client.receive(greet_s)
    server.receive(greet_c)
    server.receive(client.data_to_send())  # HELLO
    request = server.take_zap_request()
    assert request is not None
    with pytest.raises(AuthFailed) as info:
        server.zap_reply(ZapReply(status))
    assert info.value.status == int(status)
    error = server.data_to_send()
    if status == b"300":
        assert error == b""  # a temporary failure is a silent hang-up
    else:
        assert client.receive(error) == [PeerError(status)]


def test_plain_server_without_handler_fails() -> None:
    client, server = plain_pair()
    greet_c, greet_s = client.start(), server.start()
    client.receive(greet_s)
    server.receive(greet_c)
    server.receive(client.data_to_send())
    assert server.take_zap_request() is not None
    with pytest.raises(AuthFailed) as info:
        server.zap_reply(None)
    assert info.value.status == 0


def test_plain_refuses_out_of_order_commands() -> None:
    client, server = plain_pair()
    greet_c, greet_s = client.start(), server.start()
    client.receive(greet_s)
    server.receive(greet_c)
    client.data_to_send()
    with pytest.raises(ProtocolError):  # INITIATE before HELLO
        server.receive(b"\x04\x09\x08INITIATE")


def test_libzmq_misspelled_plain_error_is_an_error() -> None:
    client, _ = plain_pair()
    client.start()
    client.receive(ZmtpConnection("ROUTER", mechanism=PlainMechanism(as_server=True)).start())
    client.data_to_send()
    assert client.receive(b"\x04\x09\x5eRROR\x03400") == [PeerError(b"400")]


def test_null_with_zap_domain_waits_for_the_verdict() -> None:
    client = ZmtpConnection("DEALER")
    server = ZmtpConnection("ROUTER", mechanism=NullMechanism(zap_domain=b"d"))
    ev_c, ev_s = run(client, server, lambda req: ZapReply(b"200", user_id=b"u"))
    assert [e.auth for e in ev_s if isinstance(e, HandshakeComplete)] == [{"User-Id": b"u"}]
    assert any(isinstance(e, HandshakeComplete) for e in ev_c)


def test_null_zap_without_handler_is_allowed_unless_enforced() -> None:
    for enforce in (False, True):
        client = ZmtpConnection("DEALER")
        server = ZmtpConnection(
            "ROUTER", mechanism=NullMechanism(zap_domain=b"d", zap_enforce_domain=enforce)
        )
        if enforce:
            with pytest.raises(AuthFailed):
                run(client, server, lambda req: None)
        else:
            ev_c, ev_s = run(client, server, lambda req: None)
            assert any(isinstance(e, HandshakeComplete) for e in ev_s)


def test_handshake_commands_are_capped_before_buffering() -> None:
    _, server = plain_pair()
    server.start()
    server.receive(ZmtpConnection("DEALER", mechanism=PlainMechanism(as_server=False)).start())
    with pytest.raises(ProtocolError, match="exceeds"):
        server.receive(b"\x06" + (17 * 1024).to_bytes(8, "big") + b"\x05HELLO")
    assert server.buffered_size == 0


# -- ZAP replies ------------------------------------------------------------------------------
def test_zap_request_frames_are_libzmqs() -> None:
    frames = request_frames(ZapRequest(b"PLAIN", (b"u", b"p")), b"7", b"dom", b"1.2.3.4", b"id")
    assert frames == [b"", b"1.0", b"7", b"dom", b"1.2.3.4", b"id", b"PLAIN", b"u", b"p"]


@pytest.mark.parametrize(
    "frames, code",
    [
        ([b"", b"1.0", b"1", b"200", b"", b""], ZAP_MALFORMED_REPLY),
        ([b"", b"1.1", b"1", b"200", b"", b"", b""], ZAP_BAD_VERSION),
        ([b"", b"1.0", b"1", b"250", b"", b"", b""], ZAP_INVALID_STATUS_CODE),
        ([b"", b"1.0", b"1", b"200", b"", b"", b"\x03abc\x00"], ZAP_INVALID_METADATA),
    ],
)
def test_bad_zap_replies(frames: list[bytes], code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_reply(frames, b"1")
    assert info.value.code == code


def test_good_zap_reply() -> None:
    meta = encode_properties({"X-A": b"1"})
    reply = parse_reply([b"", b"1.0", b"9", b"200", b"OK", b"me", meta], b"9")
    assert reply.ok and reply.user_id == b"me" and reply.metadata == {"X-A": b"1"}


@given(st.lists(st.binary(max_size=40), max_size=9))
def test_parse_reply_raises_only_protocol_errors(frames: list[bytes]) -> None:
    try:
        parse_reply(frames, b"1")
    except ProtocolError:
        pass


@given(st.binary(max_size=600))
def test_parse_hello_raises_only_protocol_errors(data: bytes) -> None:
    try:
        username, password = parse_hello(data)
    except ProtocolError:
        return
    assert hello_body(username, password)[6:] == data


@given(st.binary(max_size=255), st.binary(max_size=255))
def test_hello_round_trip(username: bytes, password: bytes) -> None:
    assert parse_hello(hello_body(username, password)[6:]) == (username, password)


@given(st.binary(max_size=300))
def test_plain_server_survives_any_command_data(data: bytes) -> None:
    mech = PlainMechanism(as_server=True)
    mech.start(as_server=True, properties={"Socket-Type": b"ROUTER"})
    for name in (b"HELLO", b"INITIATE", b"READY", b"WELCOME"):
        try:
            mech.process_command(name, data)
        except ProtocolError:
            pass
