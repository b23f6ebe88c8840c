"""Property-based tests: whatever the peer sends, only ProtocolError escapes, memory stays
bounded, and how the stream is cut into reads never changes what is decoded."""

from __future__ import annotations

import os
import tracemalloc
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmzmq.zmtp import (
    Cancel,
    HandshakeComplete,
    PeerError,
    Ping,
    Pong,
    ProtocolError,
    Subscribe,
    ZmtpConnection,
)
from vmzmq.zmtp.commands import command_body, ready_body
from vmzmq.zmtp.frames import LARGE_FRAME, encode_command, encode_message

GREETING = b"\xff" + (1).to_bytes(8, "big") + b"\x7f\x03\x01NULL" + bytes(16 + 1 + 31)
READY = encode_command(ready_body({"Socket-Type": b"ROUTER"}))
EVENT_TYPES = (HandshakeComplete, Subscribe, Cancel, Ping, Pong, PeerError)

# ZMTP_FUZZ_EXAMPLES=20000 for a longer soak than the default run.
SETTINGS = settings(
    max_examples=int(os.environ.get("ZMTP_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def fresh(**kw: Any) -> ZmtpConnection:
    conn = ZmtpConnection("DEALER", **kw)
    conn.start()
    return conn


def after_handshake(**kw: Any) -> ZmtpConnection:
    conn = fresh(**kw)
    conn.receive(GREETING + READY)
    assert conn.handshake_done
    return conn


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def feed_all(conn: ZmtpConnection, chunks: list[bytes]) -> list[Any]:
    """Feed chunks; only ProtocolError may escape. Return the events, checking their types."""
    events: list[Any] = []
    for chunk in chunks:
        try:
            got = conn.receive(chunk)
        except ProtocolError as exc:
            events += exc.events
            break
        events += got
    for ev in events:
        if type(ev) is list:
            assert ev and all(type(f) is bytes for f in ev)
        else:
            assert isinstance(ev, EVENT_TYPES)
    return events


# Frames that look enough like ZMTP to get past the first octet and reach deeper states.
frame_flags = st.sampled_from([0, 1, 2, 3, 4, 6, 5, 8, 0x80])
command_names = st.sampled_from(
    [b"READY", b"ERROR", b"PING", b"PONG", b"SUBSCRIBE", b"CANCEL", b"X", b"MESSAGE"]
)


@st.composite
def plausible_frames(draw: st.DrawFn) -> bytes:
    flags = draw(frame_flags)
    if flags & 4 and draw(st.booleans()):
        body = bytes((draw(st.integers(0, 12)),)) + draw(command_names)
        body += draw(st.binary(max_size=40))
    else:
        body = draw(st.binary(max_size=300))
    size = len(body) if draw(st.booleans()) else draw(st.integers(0, 2**64 - 1))
    if flags & 2:
        header = bytes((flags,)) + size.to_bytes(8, "big")
    else:
        header = bytes((flags, size & 0xFF))
    return header + body


@SETTINGS
@given(st.binary(max_size=200), st.lists(st.integers(0, 300), max_size=5))
def test_random_bytes_as_greeting(data: bytes, cuts: list[int]) -> None:
    feed_all(fresh(), split(data, cuts))


@SETTINGS
@given(
    st.binary(min_size=54, max_size=54),
    st.booleans(),
    st.binary(max_size=300),
    st.lists(st.integers(0, 400), max_size=6),
)
def test_random_greeting_after_a_valid_signature(
    tail: bytes, null_mechanism: bool, rest: bytes, cuts: list[int]
) -> None:
    greeting = GREETING[:10] + tail  # random version, mechanism, as-server and filler
    if null_mechanism:
        greeting = greeting[:12] + b"NULL" + bytes(16) + greeting[32:]
    feed_all(fresh(), split(greeting + rest, cuts))


@SETTINGS
@given(st.binary(max_size=500), st.lists(st.integers(0, 600), max_size=6))
def test_random_bytes_during_handshake(data: bytes, cuts: list[int]) -> None:
    conn = fresh()
    conn.receive(GREETING)
    feed_all(conn, split(data, cuts))


@SETTINGS
@given(st.binary(max_size=2000), st.lists(st.integers(0, 3000), max_size=8))
def test_random_bytes_after_handshake(data: bytes, cuts: list[int]) -> None:
    feed_all(after_handshake(), split(data, cuts))


@SETTINGS
@given(
    st.lists(plausible_frames(), max_size=12),
    st.lists(st.integers(0, 5000), max_size=6),
    st.sampled_from([-1, 28, 100, 1000]),  # READY is 28 octets
)
def test_plausible_frames_after_handshake(
    frames: list[bytes], cuts: list[int], max_size: int
) -> None:
    feed_all(after_handshake(max_message_size=max_size), split(b"".join(frames), cuts))


@SETTINGS
@given(st.lists(plausible_frames(), max_size=6), st.lists(st.integers(0, 3000), max_size=4))
def test_plausible_frames_during_handshake(frames: list[bytes], cuts: list[int]) -> None:
    conn = fresh()
    feed_all(conn, split(GREETING + b"".join(frames), cuts))


messages = st.lists(
    st.lists(st.binary(max_size=400), min_size=1, max_size=4), min_size=1, max_size=10
)


def as_decoded(msgs: list[list[bytes]], bare: bool) -> list[Any]:
    """What the codec returns for ``msgs``: with ``bare_single_frames``, a one-frame
    message is its bytes."""
    return [m[0] if bare and len(m) == 1 else m for m in msgs]


@pytest.mark.parametrize("bare", [False, True])
@SETTINGS
@given(msgs=messages, cuts=st.lists(st.integers(0, 10_000), max_size=10))
def test_round_trip_whatever_the_reads(
    bare: bool, msgs: list[list[bytes]], cuts: list[int]
) -> None:
    wire = b"".join(encode_message(m) for m in msgs)
    conn = after_handshake(bare_single_frames=bare)
    events: list[Any] = []
    for chunk in split(wire, cuts):
        events += conn.receive(chunk)
    assert events == as_decoded(msgs, bare)
    assert conn.buffered_size == 0


@SETTINGS
@given(messages, st.data())
def test_truncated_stream_yields_only_complete_messages(
    msgs: list[list[bytes]], data: st.DataObject
) -> None:
    encoded = [encode_message(m) for m in msgs]
    wire = b"".join(encoded)
    cut = data.draw(st.integers(0, len(wire)))
    conn = after_handshake()
    events = conn.receive(wire[:cut])
    complete = 0
    total = 0
    for e in encoded:
        total += len(e)
        if total <= cut:
            complete += 1
    assert events == msgs[:complete]


@SETTINGS
@given(
    st.integers(2**20, 2**63 - 1),
    st.sampled_from([0x02, 0x03, 0x06]),
    st.lists(st.binary(min_size=1, max_size=512), max_size=8),
)
def test_huge_declared_size_holds_only_arrived_bytes(
    size: int, flags: int, chunks: list[bytes]
) -> None:
    conn = after_handshake()
    conn.receive(bytes((flags,)) + size.to_bytes(8, "big"))
    for chunk in chunks:
        assert conn.receive(chunk) == []
    assert conn.buffered_size == sum(map(len, chunks))


@SETTINGS
@given(st.integers(1001, 2**63 - 1), st.sampled_from([0x02, 0x03, 0x06]))
def test_huge_declared_size_refused_at_once_with_a_limit(size: int, flags: int) -> None:
    conn = after_handshake(max_message_size=1000)
    try:
        conn.receive(bytes((flags,)) + size.to_bytes(8, "big"))
    except ProtocolError:
        return
    raise AssertionError("declared size above MAXMSGSIZE was not refused")


def test_memory_bounded_by_what_arrives() -> None:
    conn = after_handshake()
    tracemalloc.start()
    try:
        conn.receive(b"\x02" + (2**62).to_bytes(8, "big"))
        for _ in range(16):
            conn.receive(bytes(64))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert conn.buffered_size == 1024
    assert peak < 32 * 1024


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just(b"SUBSCRIBE"), st.binary(max_size=300)),
            st.tuples(st.just(b"PING"), st.binary(min_size=2, max_size=18)),
            st.tuples(st.just(b"PONG"), st.binary(max_size=16)),
            st.tuples(st.just(b"UNKNOWN"), st.binary(max_size=20)),
        ),
        max_size=8,
    ),
    st.lists(st.integers(0, 4000), max_size=5),
)
def test_commands_decode_the_same_whatever_the_reads(
    cmds: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    wire = b"".join(encode_command(command_body(name, data)) for name, data in cmds)
    whole = after_handshake().receive(wire)
    conn = after_handshake()
    pieces: list[Any] = []
    for chunk in split(wire, cuts):
        pieces += conn.receive(chunk)
    assert pieces == whole
    assert len(whole) == sum(1 for name, _ in cmds if name != b"UNKNOWN")


large_frames = st.integers(LARGE_FRAME, LARGE_FRAME + 3000).map(lambda n: bytes([n % 251]) * n)
mixed_messages = st.lists(
    st.lists(st.one_of(st.binary(max_size=300), large_frames), min_size=1, max_size=3),
    min_size=1,
    max_size=4,
)


@pytest.mark.parametrize("bare", [False, True])
@SETTINGS
@given(msgs=mixed_messages, steps=st.lists(st.integers(1, 100_000), min_size=1, max_size=20))
def test_round_trip_with_large_bodies_read_into_their_buffers(
    bare: bool, msgs: list[list[bytes]], steps: list[int]
) -> None:
    """The engine's way of reading: a plain read when the codec offers no buffer, else the
    body buffer filled directly, in reads of any size; the messages come out the same."""
    wire = b"".join(encode_message(m) for m in msgs)
    conn = after_handshake(bare_single_frames=bare)
    events: list[Any] = []
    pos = 0
    i = 0
    while pos < len(wire):
        step = steps[i % len(steps)]
        i += 1
        buf = conn.read_buffer()
        if buf is None:
            events += conn.receive(wire[pos : pos + step])
            pos += step
            continue
        n = min(len(buf), step, len(wire) - pos)
        buf[:n] = wire[pos : pos + n]
        buf.release()
        events += conn.buffer_filled(n)
        pos += n
    assert events == as_decoded(msgs, bare)
    assert conn.buffered_size == 0 and conn.read_buffer() is None


# Runs of one-frame messages of one size (what the decoder takes a run at a time), with other
# messages between them: sizes either side of 255, short or long headers.
@st.composite
def runs_and_others(draw: st.DrawFn) -> tuple[bytes, list[Any]]:
    wire: list[bytes] = []
    expected: list[Any] = []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            size = draw(st.sampled_from([0, 1, 5, 64, 254, 255, 256, 1024, 3000]))
            long = size > 255 or draw(st.booleans())
            for i in range(draw(st.integers(0, 80))):
                body = bytes([i % 251]) * size
                head = b"\x02" + size.to_bytes(8, "big") if long else bytes((0, size))
                wire.append(head + body)
                expected.append(body)
        else:
            msg = draw(st.lists(st.binary(max_size=300), min_size=1, max_size=3))
            wire.append(encode_message(msg))
            expected.append(msg[0] if len(msg) == 1 else msg)
    return b"".join(wire), expected


@SETTINGS
@given(runs_and_others(), st.lists(st.integers(0, 300_000), max_size=6))
def test_runs_of_one_size_whatever_the_reads(
    stream: tuple[bytes, list[Any]], cuts: list[int]
) -> None:
    wire, expected = stream
    conn = after_handshake(bare_single_frames=True)
    events: list[Any] = []
    for chunk in split(wire, cuts):
        events += conn.receive(chunk)
    assert events == expected
    assert conn.buffered_size == 0


def decode_all(wire: bytes, step: int | None, limit: int) -> tuple[list[Any], str | None]:
    """The events a decoder yields for ``wire`` fed whole (``step`` None) or in reads of
    ``step`` octets, and the error that ended it (its class name), if any."""
    conn = after_handshake(bare_single_frames=True, max_message_size=limit)
    events: list[Any] = []
    chunks = [wire] if step is None else [wire[i : i + step] for i in range(0, len(wire), step)]
    for chunk in chunks:
        try:
            events += conn.receive(chunk)
        except ProtocolError as exc:
            return events + exc.events, type(exc).__name__
    return events, None


@SETTINGS
@given(
    st.lists(
        st.one_of(
            runs_and_others().map(lambda pair: pair[0]),
            plausible_frames(),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([-1, 64, 200, 255, 256, 300, 1024]),  # >= 64: the handshake's READY passes
)
def test_runs_decode_as_frame_by_frame_even_when_hostile(pieces: list[bytes], limit: int) -> None:
    """Runs of one size mixed with frames that may be malformed (reserved bits, bad sizes,
    commands, sizes over MAXMSGSIZE): a whole read, where runs are taken a run at a time,
    yields exactly what 5-octet reads (which never hold a run) yield, and fails alike."""
    wire = b"".join(pieces)
    assert decode_all(wire, None, limit) == decode_all(wire, 5, limit)
