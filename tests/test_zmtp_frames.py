"""Framing: encoder byte vectors and the decoder on its own."""

from __future__ import annotations

from typing import Any

import pytest

from vmzmq.zmtp import ProtocolError, frames
from vmzmq.zmtp.frames import (
    BODY_BUFFER_FILL,
    BODY_BUFFER_MAX,
    LARGE_FRAME,
    MAX_MESSAGE_FRAMES,
    FrameDecoder,
    encode_command,
    encode_message,
    encode_message_parts,
    frame_header,
)

SIZES = [0, 1, 255, 256, 65535, 65536, (1 << 20) + 3]


def decoder(max_message_size: int = -1) -> tuple[FrameDecoder, list[bytes]]:
    commands: list[bytes] = []
    dec = FrameDecoder(lambda body, events: commands.append(body), max_message_size)
    dec.data_allowed = True
    return dec, commands


def feed(dec: FrameDecoder, data: bytes) -> list[Any]:
    events: list[Any] = []
    dec.feed(data, events)
    return events


def test_short_and_long_headers() -> None:
    assert encode_message([b""]) == b"\x00\x00"
    assert encode_message([b"a"]) == b"\x00\x01a"
    assert encode_message([b"x" * 255]) == b"\x00\xff" + b"x" * 255
    assert encode_message([b"x" * 256]) == b"\x02" + (256).to_bytes(8, "big") + b"x" * 256
    assert frame_header(1, 3) == b"\x01\x03"
    assert frame_header(1, 300) == b"\x03" + (300).to_bytes(8, "big")


def test_multipart_flags() -> None:
    wire = encode_message([b"id", b"", b"x" * 300])
    assert wire == (b"\x01\x02id" + b"\x01\x00" + b"\x02" + (300).to_bytes(8, "big") + b"x" * 300)
    wire = encode_message([b"x" * 256, b"y"])
    assert wire == b"\x03" + (256).to_bytes(8, "big") + b"x" * 256 + b"\x00\x01y"


def test_bytes_like_frames() -> None:
    assert encode_message([bytearray(b"ab")]) == b"\x00\x02ab"
    assert encode_message([memoryview(b"ab"), b"c"]) == b"\x01\x02ab\x00\x01c"


def test_empty_message_refused() -> None:
    with pytest.raises(ValueError):
        encode_message([])
    with pytest.raises(ValueError):
        encode_message_parts([])


def test_command_framing() -> None:
    assert encode_command(b"\x04PING\x00\x00") == b"\x04\x07\x04PING\x00\x00"
    body = b"\x05READY" + b"z" * 300
    assert encode_command(body) == b"\x06" + len(body).to_bytes(8, "big") + body


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_sizes(size: int) -> None:
    body = bytes(range(256)) * (size // 256) + b"q" * (size % 256)
    dec, _ = decoder()
    assert feed(dec, encode_message([body])) == [[body]]
    dec, _ = decoder()
    assert feed(dec, encode_message([body, b"", body])) == [[body, b"", body]]


def test_parts_do_not_copy_large_bodies() -> None:
    big = bytearray(b"B" * LARGE_FRAME)
    small = b"s" * 10
    parts = encode_message_parts([small, big, small, b"m" * 300])
    assert parts[1] is big
    assert len(parts) == 3
    assert b"".join(parts) == encode_message([small, big, small, b"m" * 300])
    parts = encode_message_parts([b"only"])
    assert parts == [b"\x00\x04only"]


def test_large_frame_in_pieces_is_joined_once() -> None:
    body = b"L" * (3 << 20)
    wire = encode_message([body, b"tail"])
    dec, _ = decoder()
    events: list[Any] = []
    for i in range(0, len(wire), 256 * 1024):
        dec.feed(wire[i : i + 256 * 1024], events)
        assert dec.buffered_size <= i + 256 * 1024
    assert events == [[body, b"tail"]]
    assert type(events[0][0]) is bytes
    assert dec.buffered_size == 0


def test_memoryview_and_bytearray_input() -> None:
    wire = encode_message([b"a" * 1000, b"b"]) + encode_message([b"c"])
    dec, _ = decoder()
    events: list[Any] = []
    buf = bytearray(wire)
    dec.feed(memoryview(buf)[:500], events)
    dec.feed(bytearray(buf[500:1005]), events)
    dec.feed(memoryview(buf)[1005:], events)
    buf[:] = bytes(len(buf))  # the engine reuses its buffer: we must have copied
    assert events == [[b"a" * 1000, b"b"], [b"c"]]
    assert all(type(f) is bytes for m in events for f in m)


@pytest.mark.parametrize("flags", [0x08, 0x10, 0x80, 0xFF])
def test_reserved_flags(flags: int) -> None:
    dec, _ = decoder()
    with pytest.raises(ProtocolError, match="reserved"):
        feed(dec, bytes((flags, 0)))


def test_command_with_more_refused() -> None:
    dec, _ = decoder()
    with pytest.raises(ProtocolError, match="MORE"):
        feed(dec, b"\x05\x05\x04PING")


def test_long_size_top_bit_refused() -> None:
    dec, _ = decoder()
    with pytest.raises(ProtocolError, match="top bit"):
        feed(dec, b"\x02" + (1 << 63).to_bytes(8, "big"))


def test_long_command_and_short_long_frames_accepted() -> None:
    dec, commands = decoder()
    body = b"\x04JUNK" + b"j" * 400
    # a LONG header for a short body is not canonical but is legal
    wire = encode_command(body) + b"\x02" + (3).to_bytes(8, "big") + b"abc"
    assert feed(dec, wire) == [[b"abc"]]
    assert commands == [body]


def test_command_between_frames_of_a_message() -> None:
    dec, commands = decoder()
    wire = b"\x01\x01a" + encode_command(b"\x04PING\x00\x00") + b"\x00\x01b"
    assert feed(dec, wire) == [[b"a", b"b"]]
    assert commands == [b"\x04PING\x00\x00"]


def test_data_refused_when_not_allowed() -> None:
    dec, _ = decoder()
    dec.data_allowed = False
    with pytest.raises(ProtocolError):
        feed(dec, b"\x00\x01a")
    dec, _ = decoder()
    dec.data_allowed = False
    with pytest.raises(ProtocolError):
        feed(dec, b"\x02" + (1).to_bytes(8, "big") + b"a")


def test_max_message_size_counts_the_whole_message() -> None:
    dec, _ = decoder(max_message_size=10)
    assert feed(dec, encode_message([b"12345", b"67890"])) == [[b"12345", b"67890"]]
    with pytest.raises(ProtocolError, match="exceeds"):
        feed(dec, encode_message([b"12345", b"67890", b"x"]))


def test_max_message_size_checked_on_declared_size() -> None:
    dec, _ = decoder(max_message_size=1000)
    # only the header has arrived: refused before any body
    with pytest.raises(ProtocolError):
        feed(dec, b"\x02" + (1001).to_bytes(8, "big"))
    dec, _ = decoder(max_message_size=0)
    assert feed(dec, b"\x00\x00") == [[b""]]
    with pytest.raises(ProtocolError):
        feed(dec, b"\x00\x01")


@pytest.mark.parametrize("bare", [False, True])
def test_long_one_frame_messages_in_a_run_of_short_ones(bare: bool) -> None:
    """Long-header one-frame messages are decoded in the same loop as short frames; a long
    header cut anywhere, a long frame of a multipart message, an oversized or top-bit size
    still take the general path and its checks."""
    def as_event(m: list[bytes]) -> object:
        return m[0] if bare and len(m) == 1 else m

    msgs = [[b"a"], [b"L" * 300], [b"b" * 255], [b"M" * 256], [b"x", b"Y" * 400],
            [b"Z" * 70_000], [b"c"]]
    wire = b"".join(encode_message(m) for m in msgs)
    whole = FrameDecoder(lambda body, events: None, bare_single_frames=bare)
    whole.data_allowed = True
    assert feed(whole, wire) == [as_event(m) for m in msgs]
    for cut in range(1, 330):  # through the first long header and body
        dec = FrameDecoder(lambda body, events: None, bare_single_frames=bare)
        dec.data_allowed = True
        assert feed(dec, wire[:cut]) + feed(dec, wire[cut:]) == [as_event(m) for m in msgs]
    limited = FrameDecoder(lambda body, events: None, 1000, bare_single_frames=bare)
    limited.data_allowed = True
    events: list[Any] = []
    with pytest.raises(ProtocolError, match="exceeds"):
        limited.feed(encode_message([b"ok"]) + encode_message([b"T" * 1001]), events)
    assert events == [as_event([b"ok"])]  # what came before the error is kept
    top = FrameDecoder(lambda body, events: None, bare_single_frames=bare)
    top.data_allowed = True
    with pytest.raises(ProtocolError, match="top bit"):
        feed(top, encode_message([b"ok"]) + b"\x02" + (1 << 63).to_bytes(8, "big"))


def test_huge_declared_size_holds_only_what_arrived() -> None:
    dec, _ = decoder()
    feed(dec, b"\x02" + (1 << 62).to_bytes(8, "big"))
    for _ in range(16):
        feed(dec, b"z" * 64)
    assert dec.buffered_size == 1024
    pieces = dec._pieces
    assert pieces is not None and sum(len(p) for p in pieces) == 1024


def read_into(dec: FrameDecoder, wire: bytes, pos: int, events: list[Any], step: int) -> int:
    """Do what the engine does while the decoder offers a body buffer: fill it from the
    stream, ``step`` octets at most per read. Returns the new stream position."""
    while (buf := dec.read_buffer()) is not None:
        n = min(len(buf), step, len(wire) - pos)
        if n == 0:
            break
        buf[:n] = wire[pos : pos + n]
        buf.release()
        dec.buffer_filled(n, events)
        pos += n
    return pos


@pytest.mark.parametrize("step", [1000, 65536, 1 << 20])
def test_large_body_read_straight_into_its_buffer(step: int) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    wire = encode_message([b"head", body, b"tail"]) + encode_message([b"next"])
    dec, _ = decoder()
    events: list[Any] = []
    pos = 0
    while pos < len(wire):
        if dec.read_buffer() is None:
            dec.feed(wire[pos : pos + 4096], events)  # a normal read takes the header
            pos += 4096
        pos = read_into(dec, wire, min(pos, len(wire)), events, step)
    assert events == [[b"head", body, b"tail"], [b"next"]]
    assert type(events[0][1]) is bytes
    assert dec.read_buffer() is None and dec.buffered_size == 0


def test_body_buffer_continued_by_feed_and_reused() -> None:
    # Feeding (no read_buffer) must finish a body the same way, and the rest of the read
    # that completes it is decoded as usual; the buffer serves the next large frame too.
    body = b"x" * (LARGE_FRAME + 5)
    wire = encode_message([body]) + encode_message([b"after"])
    dec, _ = decoder()
    cut = len(body) // 2
    for _ in range(2):
        events = feed(dec, wire[:cut])
        view = dec.read_buffer()
        assert view is not None and len(view) == len(body) - (cut - 9)
        view.release()
        events += feed(dec, wire[cut:])
        assert events == [[body], [b"after"]]
    assert dec.read_buffer() is None


def test_body_buffer_waits_for_the_body_to_arrive() -> None:
    # A peer that declares a large frame and sends a few octets of it holds only those octets
    # here: the buffer (allocated and zero-filled at its full size) comes once a part of
    # the body has arrived (BODY_BUFFER_FILL).
    size = 1 << 20
    dec, _ = decoder()
    feed(dec, b"\x02" + size.to_bytes(8, "big") + b"z" * 16)
    assert dec.read_buffer() is None
    assert dec.buffered_size == 16
    feed(dec, b"z" * (size // BODY_BUFFER_FILL))
    view = dec.read_buffer()
    assert view is not None and len(view) == size - 16 - size // BODY_BUFFER_FILL
    view[:] = b"z" * len(view)
    view.release()
    events: list[Any] = []
    dec.buffer_filled(size - 16 - size // BODY_BUFFER_FILL, events)
    assert events == [[b"z" * size]]


def test_message_frame_count_is_bounded() -> None:
    dec, _ = decoder(max_message_size=1 << 20)
    with pytest.raises(ProtocolError, match="MAX_MESSAGE_FRAMES"):
        feed(dec, b"\x01\x00" * (MAX_MESSAGE_FRAMES + 1))
    dec, _ = decoder()
    frames = [b""] * (MAX_MESSAGE_FRAMES - 1) + [b"end"]
    assert feed(dec, encode_message(frames)) == [frames]  # the limit itself is fine
    for chunked in (False, True):  # one frame over, the last one short or arriving in pieces
        dec, _ = decoder()
        data = encode_message([b""] * MAX_MESSAGE_FRAMES + [b"x" * 300])
        with pytest.raises(ProtocolError, match="MAX_MESSAGE_FRAMES"):
            if chunked:
                feed(dec, data[:-100])
            feed(dec, data[-100:] if chunked else data)


def test_body_buffer_only_for_sane_declared_sizes() -> None:
    dec, _ = decoder()
    feed(dec, b"\x02" + (BODY_BUFFER_MAX + 1).to_bytes(8, "big") + b"z" * 10)
    assert dec.read_buffer() is None  # a huge declaration holds only what arrived
    assert dec.buffered_size == 10
    dec, _ = decoder()
    feed(dec, b"\x06" + (LARGE_FRAME * 2).to_bytes(8, "big") + b"c" * 10)
    assert dec.read_buffer() is None  # commands are never read into a body buffer


def test_body_buffer_respects_max_message_size() -> None:
    dec, _ = decoder(max_message_size=LARGE_FRAME * 2)
    wire = encode_message([b"a" * 100, b"b" * LARGE_FRAME])
    events = feed(dec, wire[: LARGE_FRAME // 2])
    assert dec.read_buffer() is not None  # within the limit: gathered in a buffer
    events += feed(dec, wire[LARGE_FRAME // 2 :])
    assert events == [[b"a" * 100, b"b" * LARGE_FRAME]]
    with pytest.raises(ProtocolError):  # over it: refused on the declared size, no buffer
        feed(dec, encode_message([b"a" * 100, b"b" * (LARGE_FRAME * 2)])[:200])


def test_bare_single_frames() -> None:
    """With bare_single_frames a one-frame message is its bytes on every path (a run of short
    frames, a long header, a body split across reads, a body buffer); more frames stay a list."""
    dec = FrameDecoder(lambda body, events: None, bare_single_frames=True)
    dec.data_allowed = True
    wire = (encode_message([b"a"]) + encode_message([b"b", b"c"]) + encode_message([b""])
            + encode_message([b"L" * 300]))
    assert feed(dec, wire) == [b"a", [b"b", b"c"], b"", b"L" * 300]
    split = encode_message([b"s" * 200])
    assert feed(dec, split[:50]) == []
    assert feed(dec, split[50:]) == [b"s" * 200]
    large = encode_message([b"B" * LARGE_FRAME])
    cut = LARGE_FRAME // 2
    assert feed(dec, large[:cut]) == []
    buf = dec.read_buffer()
    assert buf is not None
    buf[:] = large[cut:]
    buf.release()
    events: list[Any] = []
    dec.buffer_filled(len(large) - cut, events)
    assert events == [b"B" * LARGE_FRAME]
    assert type(events[0]) is bytes


def bare_decoder(max_message_size: int = -1) -> FrameDecoder:
    dec = FrameDecoder(lambda body, events: None, max_message_size, bare_single_frames=True)
    dec.data_allowed = True
    return dec


def one_frame(body: bytes, long: bool = False) -> bytes:
    """A one-frame message, with a long header if asked even when it would fit a short one."""
    if long or len(body) > 255:
        return b"\x02" + len(body).to_bytes(8, "big") + body
    return bytes((0, len(body))) + body


@pytest.mark.parametrize("count", [7, 8, 31, 32, 33, 64, 65, 200])
@pytest.mark.parametrize("size", [0, 1, 64, 255])
@pytest.mark.parametrize("long", [False, True])
def test_runs_of_one_size(count: int, size: int, long: bool) -> None:
    """A read holding many one-frame messages of one size is decoded a run at a time (from
    _RUN_MIN on, a struct call per _RUN_CHUNK): every body comes out in order, whatever the
    count's remainder, and what follows the run is decoded as usual."""
    bodies = [bytes([i % 251]) * size for i in range(count)]
    tail = [[b"m", b"ore"], b"after"]
    wire = b"".join(one_frame(b, long) for b in bodies)
    wire += encode_message([b"m", b"ore"]) + encode_message([b"after"])
    frames._run_structs.clear()
    assert feed(bare_decoder(), wire) == [*bodies, *tail]
    shape = (9 if long else 2, size)
    assert (shape in frames._run_structs) == (count >= frames._RUN_MIN)  # the run path ran
    # the same stream cut mid-frame: the partial frame waits for the next read
    dec = bare_decoder()
    cut = len(wire) // 2 + 1
    assert feed(dec, wire[:cut]) + feed(dec, wire[cut:]) == [*bodies, *tail]


def test_run_ends_where_a_header_differs() -> None:
    """A run stops at the first frame whose header differs in any octet (flags, a short size,
    any octet of a long size): that frame and those after it are decoded on their own terms."""
    for odd in (b"\x01\x03abc" + b"\x00\x03xyz",  # MORE: a two-frame message
                b"\x00\x04abcd",  # another short size
                b"\x02" + (3).to_bytes(8, "big") + b"abc",  # the same size, long header
                encode_command(b"\x04PINGxx")):  # a command between data
        wire = one_frame(b"abc") * 20 + odd + one_frame(b"abc") * 20
        whole = feed(bare_decoder(), wire)
        stepwise = bare_decoder()
        by_frame: list[Any] = []
        for i in range(0, len(wire), 5):  # 5-octet reads never hold a run
            by_frame += feed(stepwise, wire[i : i + 5])
        assert whole == by_frame
        assert whole[:20] == [b"abc"] * 20 and whole[-20:] == [b"abc"] * 20
    long_size = b"\x02" + (300).to_bytes(8, "big")
    other = b"\x02" + (300 + (1 << 40)).to_bytes(8, "big")  # only octet 3 of the size differs
    wire = (long_size + b"x" * 300) * 10 + other + b"y" * 50
    dec = bare_decoder()
    assert feed(dec, wire) == [b"x" * 300] * 10
    assert dec.buffered_size == 50  # what arrived of the huge frame's body


def test_run_over_max_message_size_is_refused() -> None:
    """Every message of a run is as large as its first, so the limit is checked once; over it
    the decoder refuses the first such frame, as it does outside runs."""
    wire = one_frame(b"a" * 64) * 10 + one_frame(b"b" * 300) * 10
    dec = bare_decoder(max_message_size=299)
    events: list[Any] = []
    with pytest.raises(ProtocolError, match="300"):
        dec.feed(wire, events)
    assert events == [b"a" * 64] * 10
    assert feed(bare_decoder(max_message_size=300), wire) == [b"a" * 64] * 10 + [b"b" * 300] * 10


def test_run_struct_cache_is_bounded() -> None:
    """A peer that varies its sizes cannot grow the decoder's table of run shapes."""
    dec = bare_decoder()
    for size in range(frames._RUN_STRUCTS_MAX * 3):
        assert feed(dec, one_frame(b"z" * size) * frames._RUN_MIN) == [b"z" * size] * 8
        assert len(frames._run_structs) <= frames._RUN_STRUCTS_MAX


@pytest.mark.parametrize("size", [0, 1, 255, 256, 1024, frames.LONG_HEADERS_MAX - 1])
def test_clear_header_objects(size: int) -> None:
    """The engine queues a small message as the codec's header object and the body: the two
    make exactly frame_one's bytes, the object is the same for every message of a size, and
    only those objects are taken for headers when the engine counts what it wrote."""
    body = b"b" * size
    header = frames.clear_header(size)
    assert header is not None
    assert header + body == frames.frame_one(body)
    assert frames.clear_header(size) is header
    assert frames.is_clear_header(header)
    assert not frames.is_clear_header(bytes(bytearray(header)))  # equal, not the one
    assert not frames.is_clear_header(memoryview(header))
    assert not frames.is_clear_header(body)


def test_clear_header_only_below_its_bound() -> None:
    assert frames.clear_header(frames.LONG_HEADERS_MAX) is None
    assert not frames.is_clear_header(b"\x02" + (1 << 40).to_bytes(8, "big"))
