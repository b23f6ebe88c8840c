"""Harness ``frames``: :class:`FrameDecoder` on an arbitrary byte stream, cut into arbitrary reads.

Input layout::

    config (1)   bit 0 bare_single_frames, bit 1 data allowed from the start,
                 bit 2 open_wrapped from the start, bits 3-7 the max_message_size (LIMITS)
    cmd limit(1) the command_limit to start with (COMMAND_LIMITS)
    pad (1)      bit 0: when the stream ends inside a frame body of up to PAD_MAX octets,
                 feed zeros to complete it (so large bodies, 64 KiB and up, complete too);
                 bits 1-3: the stream is repeated REPEATS times (so a message can have more
                 than MAX_MESSAGE_FRAMES frames)
    seed (2)     the chunking plan, and whether a large body is filled via read_buffer
    stream       everything else

The harness plays the decoder's owner: a command whose body starts with octet ``k`` makes it
toggle ``data_allowed``, set ``stopped``, set or clear ``open_wrapped``, or change
``command_limit`` (``k & 7``), as ZmtpConnection does during and after a handshake. A wrapped
frame's first octet is its flags (0x01 MORE, 0x02 a carried command), the rest its body; an
empty one is "not the mechanism's" and goes to ``on_command``.

Checked: only ProtocolError escapes; every message is ``bytes`` (bare, one frame) or a list of
``bytes`` frames within max_message_size; every command within command_limit;
``buffered_size`` never exceeds what was fed, nor the limits (the message limit plus the
largest command, or 8 octets of a header); and decoding is independent of the chunking:
the same stream fed in one read gives the same messages, commands and outcome; and the
encoders frame what was decoded back into octets that decode to it again.
"""

from __future__ import annotations

from typing import Any

from fuzzkit import Reader, as_buffer, chunk_sizes, crash

from vmzmq.zmtp.errors import ProtocolError
from vmzmq.zmtp.frames import (
    FLAG_COMMAND,
    FrameDecoder,
    encode_command,
    encode_message,
    encode_message_parts,
    frame_one,
)

LIMITS = (-1, -1, -1, -1, 0, 1, 2, 254, 255, 256, 1000, 65535, 65536, 70000, 1 << 20, 16 << 20,
          (16 << 20) + 1, 1 << 62)  # fmt: skip
COMMAND_LIMITS = (None, None, 0, 5, 255, 256, 16 * 1024, 70000)  # None: the message limit
PAD_MAX = 300_000
REPEATS = (1, 1, 1, 1, 1, 2, 4, 16)


class _Owner:
    """What ZmtpConnection does to its decoder, driven by the commands themselves."""

    def __init__(self, config: int, command_limit: int | None) -> None:
        self.decoder = FrameDecoder(
            self.on_command, LIMITS[(config >> 3) % len(LIMITS)], bool(config & 1)
        )
        if command_limit is not None:
            self.decoder.command_limit = command_limit
        self.decoder.data_allowed = bool(config & 2)
        self.decoder.on_wrapped_command = self.on_wrapped_command
        if config & 4:
            self.decoder.open_wrapped = self.open_wrapped
        self.max_command_limit = self.decoder.command_limit
        self.opened: list[int] = []  # the size of every wrapped frame opened, in order

    def on_command(self, body: bytes, events: list[Any]) -> None:
        dec = self.decoder
        if type(body) is not bytes:
            raise crash(f"command body is {type(body).__name__}, not bytes")
        if len(body) > dec.command_limit:
            raise crash(f"command of {len(body)} octets passed command_limit {dec.command_limit}")
        events.append(("command", body))
        if not body:
            return
        op = body[0] & 7
        if op == 1:
            dec.data_allowed = True
        elif op == 2:
            dec.data_allowed = False
        elif op == 3:
            dec.stopped = True
        elif op == 4:
            dec.open_wrapped = self.open_wrapped
        elif op == 5:
            dec.open_wrapped = None
        elif op == 6 and len(body) > 1:
            limit = COMMAND_LIMITS[body[1] % len(COMMAND_LIMITS)]
            dec.command_limit = dec._limit if limit is None else limit
            self.max_command_limit = max(self.max_command_limit, dec.command_limit)

    def open_wrapped(self, data: Any, start: int, end: int) -> tuple[int, bytes] | None:
        dec = self.decoder
        if not 0 <= start <= end <= len(data):
            raise crash(f"wrapped frame at [{start}:{end}] of a {len(data)}-octet buffer")
        body = bytes(data[start:end])
        if len(body) > dec.command_limit:
            raise crash(f"wrapped frame of {len(body)} octets passed {dec.command_limit}")
        self.opened.append(len(body))
        if not body:
            return None  # not the mechanism's: read as a command
        if body[0] & 2:
            return FLAG_COMMAND, body[1:]
        return body[0] & 1, body[1:]

    def on_wrapped_command(self, body: bytes, events: list[Any]) -> None:
        if type(body) is not bytes:
            raise crash(f"carried command is {type(body).__name__}, not bytes")
        events.append(("carried", body))


def _check_events(events: list[Any], bare: bool, limit: int) -> None:
    for event in events:
        if type(event) is tuple:
            continue
        if type(event) is bytes:
            if not bare:
                raise crash("a bare frame without bare_single_frames")
            frames = [event]
        elif type(event) is list:
            frames = event
            if not frames or (bare and len(frames) == 1):
                raise crash(f"a message list of {len(frames)} frames (bare={bare})")
        else:
            raise crash(f"event of type {type(event).__name__}")
        for frame in frames:
            if type(frame) is not bytes:
                raise crash(f"frame of type {type(frame).__name__}")
        if limit >= 0 and sum(map(len, frames)) > limit:
            raise crash(f"message of {sum(map(len, frames))} octets passed the limit {limit}")


def _pending_body(dec: FrameDecoder) -> int:
    """Octets still missing from the frame body in progress (0 if none)."""
    if dec._pieces is None and dec._body is None:
        return 0
    return dec._piece_size - dec._piece_len


def _run(config: int, command_limit: int | None, stream: bytes, seed: int, pad: bool
         ) -> tuple[list[Any], bool, bytes]:  # fmt: skip
    """Feed ``stream`` in reads planned by ``seed`` (seed < 0: one read of everything), then
    with ``pad`` zeros to complete a body in progress. Returns the events, whether it failed,
    and the octets actually fed."""
    owner = _Owner(config, command_limit)
    dec = owner.decoder
    limit = LIMITS[(config >> 3) % len(LIMITS)]
    events: list[Any] = []
    fed: list[bytes] = []
    total = 0
    failed = False
    if seed < 0:
        plan: Any = iter(())
        chunks = [stream] if stream else []
    else:
        plan = chunk_sizes(seed)
        chunks = []
    pos = 0
    data = stream
    try:
        while True:
            # Each read is recorded before it is fed: one that fails is part of the stream.
            if seed < 0:
                if not chunks:
                    break
                chunk = chunks.pop()
                fed.append(chunk)
                total += len(chunk)
                dec.feed(chunk, events)
            else:
                if pos >= len(data):
                    need = _pending_body(dec)
                    if not pad or not 0 < need <= PAD_MAX:
                        break
                    data += bytes(need)
                    pad = False
                size = next(plan)
                view = dec.read_buffer()
                if view is not None and size & 1:
                    # Fill (part of) the large body in progress straight into its buffer.
                    n = min(len(view), size, len(data) - pos)
                    chunk = data[pos : pos + n]
                    view[:n] = chunk
                    view.release()
                    pos += n
                    fed.append(chunk)
                    total += n
                    dec.buffer_filled(n, events)
                else:
                    if view is not None:
                        view.release()
                    chunk = data[pos : pos + size]
                    pos += len(chunk)
                    fed.append(chunk)
                    total += len(chunk)
                    dec.feed(as_buffer(chunk, size % 3), events)
            buffered = dec.buffered_size
            if buffered > total:
                raise crash(f"buffered_size {buffered} exceeds the {total} octets fed")
            if limit >= 0 and buffered > limit + max(owner.max_command_limit, 8):
                raise crash(f"buffered_size {buffered} exceeds limit {limit} + one command")
            if dec.stopped:
                break
    except ProtocolError:
        failed = True
    _check_events(events, bool(config & 1), limit)
    events.append(("opened", tuple(owner.opened)))
    return events, failed, b"".join(fed)


def _reencode(events: list[Any]) -> None:
    """Frame every decoded message and command again, and decode that: the same again."""
    messages = [[e] if type(e) is bytes else e for e in events if type(e) is not tuple]
    commands = [e[1] for e in events if type(e) is tuple and e[0] == "command"]
    wire = []
    for frames in messages:
        encoded = encode_message(frames)
        if b"".join(encode_message_parts(frames)) != encoded:
            raise crash("encode_message_parts differs from encode_message")
        if len(frames) == 1 and frame_one(frames[0]) != encoded:
            raise crash("frame_one differs from encode_message")
        wire.append(encoded)
    got_commands: list[bytes] = []
    decoder = FrameDecoder(lambda body, events: got_commands.append(body))
    decoder.data_allowed = True
    got: list[Any] = []
    decoder.feed(b"".join(wire), got)
    decoder.feed(b"".join(map(encode_command, commands)), got)
    if got != messages or got_commands != commands or decoder.buffered_size:
        raise crash("re-encoded messages or commands decode differently")


def check(data: bytes) -> None:
    r = Reader(data)
    config = r.byte()
    command_limit = COMMAND_LIMITS[r.byte() % len(COMMAND_LIMITS)]
    pad_byte = r.byte()
    pad = bool(pad_byte & 1)
    seed = r.uint(2)
    stream = r.rest() * REPEATS[(pad_byte >> 1) & 7]
    events, failed, fed = _run(config, command_limit, stream, seed, pad)
    # The same octets in one read: chunking must not change what is decoded.
    ref_events, ref_failed, _ = _run(config, command_limit, fed, -1, False)
    if (events, failed) != (ref_events, ref_failed):
        raise crash(
            f"chunked decoding differs from one read: {len(events)} events, failed={failed} "
            f"vs {len(ref_events)} events, failed={ref_failed}"
        )
    _reencode(events)


if __name__ == "__main__":
    import sys

    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            check(f.read())
