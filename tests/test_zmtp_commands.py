"""Command bodies and the property (metadata) format."""

from __future__ import annotations

import pytest

from vmzmq.zmtp import ProtocolError, get_property
from vmzmq.zmtp.commands import (
    command_body,
    encode_properties,
    error_body,
    parse_command,
    parse_error,
    parse_ping,
    parse_properties,
    ping_body,
    pong_body,
    ready_body,
)


def test_ready_byte_vector() -> None:
    body = ready_body({"Socket-Type": b"DEALER", "Identity": b"abc"})
    assert body == (
        b"\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x03abc"
    )
    name, data = parse_command(body)
    assert name == b"READY"
    assert parse_properties(data) == {"Socket-Type": b"DEALER", "Identity": b"abc"}


def test_properties_round_trip_with_empty_and_binary_values() -> None:
    props = {"Socket-Type": b"PUB", "Identity": b"", "X-Bin": bytes(range(256)), "X-Text": "é"}
    decoded = parse_properties(encode_properties(props))
    assert decoded == {
        "Socket-Type": b"PUB",
        "Identity": b"",
        "X-Bin": bytes(range(256)),
        "X-Text": "é".encode(),
    }


def test_get_property_is_case_insensitive() -> None:
    props = {"socket-TYPE": b"REQ"}
    assert get_property(props, "Socket-Type") == b"REQ"
    assert get_property(props, "socket-type") == b"REQ"
    assert get_property(props, "Identity") is None


@pytest.mark.parametrize(
    "data",
    [
        b"\x0b",  # name length, no name
        b"\x0bSocket-Type",  # no value length
        b"\x0bSocket-Type\x00\x00",  # half a value length
        b"\x0bSocket-Type\x00\x00\x00\x06DEAL",  # value truncated
        b"\x0bSocket-Type\x80\x00\x00\x00",  # value length above 2^31-1
        b"\x00\x00\x00\x00\x00",  # empty name
        b"\x01A\x00\x00\x00\x00\x07",  # trailing octet
    ],
)
def test_malformed_properties(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_properties(data)


def test_invalid_property_names_refused_locally() -> None:
    for name in ("", "x" * 256, "has space", "é"):
        with pytest.raises(ValueError):
            encode_properties({name: b""})


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x05READ", b"\x06READY"])
def test_malformed_command_names(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_command(body)


def test_command_with_empty_data() -> None:
    assert parse_command(b"\x04PONG") == (b"PONG", b"")
    assert command_body(b"PONG") == b"\x04PONG"


def test_ping_pong() -> None:
    body = ping_body(300, b"ctx")
    assert body == b"\x04PING\x01\x2cctx"
    assert parse_ping(parse_command(body)[1]) == (300, b"ctx")
    assert pong_body(b"ctx") == b"\x04PONGctx"
    # a long context is cut to 16, as libzmq does
    assert parse_ping(b"\x00\x00" + b"c" * 20) == (0, b"c" * 16)
    with pytest.raises(ProtocolError):
        parse_ping(b"\x00")
    with pytest.raises(ValueError):
        ping_body(65536, b"")
    with pytest.raises(ValueError):
        ping_body(1, b"c" * 17)
    with pytest.raises(ValueError):
        pong_body(b"c" * 17)


def test_error() -> None:
    assert error_body(b"Invalid socket type") == b"\x05ERROR\x13Invalid socket type"
    assert parse_error(b"\x03400") == b"400"
    assert parse_error(b"\x00") == b""
    assert len(error_body(b"r" * 300)) == 6 + 1 + 255
    for bad in (b"", b"\x05abc", b"\x01ab"):
        with pytest.raises(ProtocolError):
            parse_error(bad)
