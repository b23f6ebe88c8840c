"""ZMTP 3.x framing: the frame decoder and the frame encoders.

A frame is ``flags size body`` (RFC 23/37 "Framing"): flags bit 0 MORE, bit 1 LONG (the size is
8 octets, big-endian, instead of 1), bit 2 COMMAND; bits 3-7 must be zero; a command never has
MORE. ZMTP 3.0 and 3.1 frame identically.

This module is the hot path of the library, so it is written for CPython's sake:

* :meth:`FrameDecoder.feed` decodes every complete frame of a read in one loop over one
  ``bytes`` object with an integer offset: a frame costs one slice (its ``bytes``) and, for a
  single-frame message, one ``list``. Nothing is compacted or shifted; only a partial frame at
  the end of a read is kept.
* A frame body that spans reads is kept as the list of pieces that arrived and joined once when
  complete, so a large frame costs one copy (the join) plus the slices at its two ends, and a
  hostile size (2**62) holds only the octets that actually arrived.
* The encoders use precomputed 2-octet headers for short frames and one ``b"".join`` per message.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from .errors import ZMTP_UNSPECIFIED, ProtocolError

BytesLike = bytes | bytearray | memoryview

FLAG_MORE = 0x01
FLAG_LONG = 0x02
FLAG_COMMAND = 0x04
_RESERVED_FLAGS = 0xF8
_unpack_size = struct.Struct(">Q").unpack_from  # a long frame's 8-octet size

#: Frames at least this large are passed by reference in :func:`encode_message_parts`, so the
#: engine can hand them to ``sendmsg`` without copying; below it one copy into a joined buffer
#: costs less than an extra iovec. (libzmq's encoder makes the same split at its 8 KiB batch
#: size; 64 KiB is where a copy starts to show up against a loopback send.)
LARGE_FRAME = 65536

# Precomputed short headers: framing a short frame is one table index and one concatenation.
#: ``SHORT_HEADERS[n]`` is the header of a final (no MORE) data frame of ``n`` < 256 octets.
SHORT_HEADERS = tuple(bytes((0, n)) for n in range(256))
_SHORT_LAST = SHORT_HEADERS
_SHORT_MORE = tuple(bytes((FLAG_MORE, n)) for n in range(256))
_SHORT_COMMAND = tuple(bytes((FLAG_COMMAND, n)) for n in range(256))

# The header of a final data frame of 256 <= n < LONG_HEADERS_MAX octets, one object per
# size, made on first use and kept (at most ~300 KB): the engine queues these objects ahead of
# bodies and must know them again when it counts what it wrote (is_clear_header).
LONG_HEADERS_MAX = 4096
_long_headers: dict[int, bytes] = {}

_NO_LIMIT = 1 << 64  # larger than any size a frame can declare

# A data frame body of LARGE_FRAME octets or more that a read leaves incomplete is gathered in
# one buffer of its size, which the reader can fill straight from the kernel (read_buffer), if
# it declares at most BODY_BUFFER_MAX (larger declarations hold only what actually arrived).
# The buffer is kept for the next large frame when it is at most BODY_BUFFER_KEEP octets.
BODY_BUFFER_MAX = 16 << 20
BODY_BUFFER_KEEP = 2 << 20
# ...but only once an eighth of it has arrived (one 256 KiB read of a 1 MiB frame does): a
# peer that declares a large frame and sends a few octets of it must not make us allocate
# (and zero-fill) the rest. Until then the pieces that arrived are all we hold; the kernel
# holds what has not arrived.
BODY_BUFFER_FILL = 8

#: The most frames one data message may have. MAXMSGSIZE counts octets, so without this an
#: endless run of empty frames with MORE would grow a message without bound (libzmq has no
#: such limit; a real message has a few frames, a batch perhaps thousands).
MAX_MESSAGE_FRAMES = 16384
_MAX_MORE_FRAMES = MAX_MESSAGE_FRAMES - 1  # a message's frames before its last

# A read of a stream of one-frame messages that all have one size (records, samples, the
# same request again) is decoded a run at a time: the run's headers are checked together
# with strided slices and its bodies cut by one struct call per _RUN_CHUNK messages, ~35 ns a
# message against ~150 ns for the frame-by-frame loop. A read gets one try (and another after
# each run found), so a stream of mixed sizes pays one failed probe per read.
_RUN_MIN = 8  # messages: a shorter run is left to the frame-by-frame loop
_RUN_CHUNK = 32
_RUN_STRUCTS_MAX = 64  # (header, size) pairs remembered: a peer can vary sizes at will
_run_structs: dict[tuple[int, int], Callable[[bytes, int], tuple[bytes, ...]]] = {}
_OCTET = tuple(bytes((n,)) for n in range(256))


# --- encoding -------------------------------------------------------------------------------


def frame_header(flags: int, size: int) -> bytes:
    """The flags and size octets of one frame (short form whenever the body fits)."""
    if size < 256:
        return bytes((flags, size))
    return bytes((flags | FLAG_LONG,)) + size.to_bytes(8, "big")


def encode_message(frames: Sequence[BytesLike]) -> bytes:
    """Frame a message: MORE on all frames but the last, short sizes up to 255 octets."""
    if len(frames) == 1:
        body = frames[0]
        n = len(body)
        if n < 256:
            return _SHORT_LAST[n] + body
        return b"\x02" + n.to_bytes(8, "big") + body
    if len(frames) == 2:  # an envelope and a body, say
        head, body = frames
        n = len(body)
        if len(head) < 256 and n < 256:
            return b"".join((_SHORT_MORE[len(head)], head, _SHORT_LAST[n], body))
    if not frames:
        raise ValueError("a message has at least one frame")
    pieces: list[BytesLike] = []
    append = pieces.append
    for body in frames[:-1]:
        n = len(body)
        append(_SHORT_MORE[n] if n < 256 else b"\x03" + n.to_bytes(8, "big"))
        append(body)
    body = frames[-1]
    n = len(body)
    append(_SHORT_LAST[n] if n < 256 else b"\x02" + n.to_bytes(8, "big"))
    append(body)
    return b"".join(pieces)


def long_header(n: int) -> bytes:
    """The header of a final data frame of ``n`` octets, 256 <= ``n`` < LONG_HEADERS_MAX:
    always the same object for the same size."""
    header = _long_headers.get(n)
    if header is None:
        header = _long_headers.setdefault(n, b"\x02" + n.to_bytes(8, "big"))
    return header


def clear_header(n: int) -> bytes | None:
    """The header object of a final data frame of ``n`` octets (``SHORT_HEADERS[n]`` or
    ``long_header(n)``), for a caller that queues it ahead of the body; None at
    LONG_HEADERS_MAX and above (frame those with :func:`frame_one`)."""
    if n < 256:
        return SHORT_HEADERS[n]
    if n < LONG_HEADERS_MAX:
        return long_header(n)
    return None


def is_clear_header(entry: object) -> bool:
    """Whether ``entry`` is one of the header objects :func:`clear_header` hands out (and so
    not a message of its own in a queue of buffers)."""
    if type(entry) is not bytes:
        return False
    n = len(entry)
    if n == 2:
        return entry is SHORT_HEADERS[entry[1]]
    if n == 9:
        return entry is _long_headers.get(int.from_bytes(entry[1:], "big"))
    return False


def frame_one(body: BytesLike) -> bytes:
    """Frame a one-frame message (what a burst of small sends is made of)."""
    n = len(body)
    if n < 256:
        return _SHORT_LAST[n] + body
    return b"\x02" + n.to_bytes(8, "big") + body


def encode_message_parts(frames: Sequence[BytesLike]) -> list[BytesLike]:
    """The bytes of :func:`encode_message` as a list of buffers for ``sendmsg``/``writev``.

    Frames of :data:`LARGE_FRAME` octets or more appear as the very objects passed in (not
    copied); everything between them is joined into one ``bytes``.
    """
    if not frames:
        raise ValueError("a message has at least one frame")
    out: list[BytesLike] = []
    run: list[BytesLike] = []
    last = len(frames) - 1
    for i, body in enumerate(frames):
        n = len(body)
        more = FLAG_MORE if i < last else 0
        if n < 256:
            run.append((_SHORT_MORE if more else _SHORT_LAST)[n])
            run.append(body)
        elif n < LARGE_FRAME:
            run.append(bytes((more | FLAG_LONG,)) + n.to_bytes(8, "big"))
            run.append(body)
        else:
            run.append(bytes((more | FLAG_LONG,)) + n.to_bytes(8, "big"))
            out.append(b"".join(run))
            run = []
            out.append(body)
    if run:
        out.append(b"".join(run))
    return out


def encode_command(body: BytesLike) -> bytes:
    """Frame a command body (see :mod:`.commands`); LONG when the body exceeds 255 octets."""
    n = len(body)
    if n < 256:
        return _SHORT_COMMAND[n] + body
    return b"\x06" + n.to_bytes(8, "big") + body


# --- decoding -------------------------------------------------------------------------------


def _same_size_run(d: bytes, pos: int, n: int, limit: int, events: list[Any]) -> int:
    """Append the bodies of the one-frame data messages of one size (and header form) that
    follow each other from ``pos`` in ``d[:n]``, and return the position after them: ``pos``
    itself if there are fewer than _RUN_MIN of them."""
    flags = d[pos]
    if flags == 0:
        head = 2
        size = d[pos + 1]
    elif flags == FLAG_LONG and n - pos >= 9:
        head = 9
        size = _unpack_size(d, pos + 1)[0]
        if size > limit:
            return pos  # the frame-by-frame loop raises
    else:
        return pos
    stride = head + size
    k = (n - pos) // stride
    if k < _RUN_MIN:
        return pos
    # Frame i's header is where the stride puts it only while every header before it says
    # the same: the run is the longest prefix over which each header octet stays the same.
    end = pos + k * stride
    for j in range(head):
        column = d[pos + j : end : stride]
        k = min(k, len(column) - len(column.lstrip(_OCTET[d[pos + j]])))
    if k < _RUN_MIN:
        return pos
    key = (head, size)
    unpack = _run_structs.get(key)
    if unpack is None:
        if len(_run_structs) >= _RUN_STRUCTS_MAX:
            _run_structs.clear()
        unpack = _run_structs[key] = struct.Struct(f"{head}x{size}s" * _RUN_CHUNK).unpack_from
    extend = events.extend
    step = _RUN_CHUNK * stride
    whole = pos + k // _RUN_CHUNK * step
    for q in range(pos, whole, step):
        extend(unpack(d, q))
    start = whole + head
    extend([d[b : b + size] for b in range(start, start + k % _RUN_CHUNK * stride, stride)])
    return pos + k * stride


class FrameDecoder:
    """Turns a byte stream into data messages (lists of frames) and command bodies.

    Complete data messages are appended to the ``events`` list passed to :meth:`feed`; each
    command body is handed to ``on_command(body, events)``, in stream order, so the owner can
    append its own events in between. The owner steers the decoder through two attributes that
    it may change from inside ``on_command``:

    * ``data_allowed``: whether data frames are legal now (not during the handshake, nor with a
      mechanism that wraps every frame in a command);
    * ``stopped``: set it to drop everything after the current command (the peer sent ERROR);
    * ``open_wrapped``: when set, every data frame is a whole wrapped frame (CURVE's MESSAGE,
      which libzmq sends as a data frame), not a message part: ``open_wrapped(data, start,
      end)`` returns the ``(flags, body)`` it carries, read straight from the decoder's buffer
      (flags ``FLAG_MORE`` or ``FLAG_COMMAND``; a carried command goes to
      ``on_wrapped_command(body, events)``), or None to have the body handed to ``on_command``
      like a command frame's. Such a frame may not have MORE, ``command_limit`` bounds its
      size, and the frames it carries count against the message limits like any other.

    ``max_message_size`` (libzmq's MAXMSGSIZE, -1 = unlimited) bounds the sum of the frame
    sizes of one data message, and the size of each command (libzmq's decoder applies the limit
    to commands too). It is checked against the *declared* sizes, before any body arrives.

    With ``bare_single_frames`` a one-frame message is its ``bytes`` frame itself, not a list
    of one: most messages have one frame, and a list per message costs a receiver about a
    third of its decoding time (an allocation the garbage collector also tracks).
    """

    __slots__ = (
        "_on_command",
        "_limit",
        "command_limit",
        "data_allowed",
        "stopped",
        "open_wrapped",
        "open_run",
        "on_wrapped_command",
        "_parts",
        "_msize",
        "_head",
        "_pieces",
        "_piece_len",
        "_piece_flags",
        "_piece_size",
        "_body",
        "_want_body",
        "_spare",
        "_bare",
    )

    def __init__(
        self,
        on_command: Callable[[bytes, list[Any]], None],
        max_message_size: int = -1,
        bare_single_frames: bool = False,
    ) -> None:
        self._on_command = on_command
        self._bare = bare_single_frames
        self._limit = max_message_size if max_message_size >= 0 else _NO_LIMIT
        #: The largest command accepted, checked on its declared size before any of it is
        #: kept: the owner lowers it during the handshake (see ZmtpConnection).
        self.command_limit = self._limit
        self.data_allowed = False
        self.stopped = False
        self.open_wrapped: Callable[[Any, int, int], tuple[int, bytes] | None] | None = None
        self.on_wrapped_command: Callable[[bytes, list[Any]], None] = on_command
        #: Optional, with open_wrapped: ``open_run(data, pos, n, append)`` opens consecutive
        #: short (2-octet header) wrapped frames from ``pos`` that carry whole one-frame
        #: messages, appending each body, and returns ``(pos, None)`` at the first frame it
        #: leaves alone, or ``(end, (flags, body))`` after one it opened that carries
        #: anything else (a part of a multipart message, a command).
        self.open_run: Callable[[bytes, int, int, Callable], tuple[int, Any]] | None = None
        self._parts: list[bytes] = []  # frames of the data message in progress
        self._msize = 0  # sum of their sizes
        self._head = b""  # an incomplete frame header (at most 8 octets) left by the last read
        self._pieces: list[bytes] | None = None  # the arrived parts of an incomplete body
        self._piece_len = 0
        self._piece_flags = 0
        self._piece_size = 0
        self._body: memoryview | None = None  # a large body being gathered (see read_buffer)
        self._want_body = False  # the body in pieces will move to one buffer (_body)
        self._spare: bytearray | None = None  # the buffer behind it, kept for the next one

    @property
    def buffered_size(self) -> int:
        """Octets held for frames and messages not yet complete."""
        return len(self._head) + self._piece_len + self._msize

    def read_buffer(self) -> memoryview | None:
        """Where the next octets of the stream can go without a copy: the rest of a large
        frame body in progress, or None. Fill (part of) it, then call ``buffer_filled``."""
        body = self._body
        if body is None:
            return None
        return body[self._piece_len :]

    def buffer_filled(self, n: int, events: list[Any]) -> None:
        """``n`` octets were written at the start of the last ``read_buffer()``."""
        self._piece_len += n
        if self._piece_len >= self._piece_size:
            self._end_body(events)

    def _end_body(self, events: list[Any]) -> None:
        body = self._body
        self._body = None
        self._want_body = False
        self._pieces = None
        self._piece_len = 0
        if self.open_wrapped is not None and self.data_allowed:
            # Opened where it lies: the frame it carries is the one copy made.
            try:
                self._open_one(body, 0, len(body), events)  # type: ignore[arg-type]
            finally:
                body.release()  # type: ignore[union-attr]
            return
        frame = bytes(body)  # the one copy of a large body, made once it is complete
        body.release()  # type: ignore[union-attr]
        self._frame(self._piece_flags, frame, events)

    def feed(self, data: BytesLike, events: list[Any]) -> None:
        """Decode ``data``; append complete messages to ``events`` and pass commands on."""
        pieces = self._pieces
        pos = 0
        if self._body is not None:
            view = memoryview(data).cast("B")
            got = self._piece_len
            take = min(len(view), self._piece_size - got)
            self._body[got : got + take] = view[:take]
            self._piece_len = got + take
            if self._piece_len < self._piece_size:
                return
            self._end_body(events)
            if self.stopped or take == len(view):
                return
            data = bytes(view[take:])
        elif pieces is not None:
            # The read continues a frame body: collect what belongs to it without copying whole
            # reads, then decode the rest of the read as usual.
            need = self._piece_size - self._piece_len
            view = memoryview(data).cast("B")
            if len(view) < need:
                pieces.append(data if type(data) is bytes else bytes(view))
                self._piece_len += len(view)
                if self._want_body:
                    self._gather_body()
                return
            pieces.append(data if need == len(view) and type(data) is bytes else bytes(view[:need]))
            body = b"".join(pieces)
            self._pieces = None
            self._want_body = False
            self._piece_len = 0
            self._frame(self._piece_flags, body, events)
            if self.stopped:
                return
            if type(data) is bytes:
                pos = need
            else:
                data = bytes(view[need:])
        elif self._head:
            data = self._head + data
            self._head = b""
        elif type(data) is not bytes:
            data = bytes(data)
        self._decode(data, pos, events)  # type: ignore[arg-type]

    def _decode(self, d: bytes, pos: int, events: list[Any]) -> None:
        # One loop for every frame in the read. The common cases (short data frames, flags 0
        # and 1) take the first branch; everything is inlined except commands, which are rare.
        # Runs of short data frames, the commonest traffic of all, take a tighter inner loop
        # first (a one-frame message needs no size check there: 255 octets pass any limit it
        # runs under), and so do whole one-frame messages with a long header.
        n = len(d)
        limit = self._limit
        data_ok = self.data_allowed
        fast = data_ok and limit >= 255 and self.open_wrapped is None
        wrapped = data_ok and self.open_wrapped is not None
        parts = self._parts
        msize = self._msize
        append = events.append
        bare = self._bare
        runs = bare  # see _same_size_run
        while n - pos >= 2:
            if fast:
                if runs and not parts:
                    runs = False
                    p = _same_size_run(d, pos, n, limit, events)
                    if p != pos:
                        pos = p
                        runs = True  # what ended it may start another
                        continue
                p = pos + 2  # where the body starts, if the next frame is a short data one
                while p <= n:
                    end = p + d[p - 1]
                    flags = d[p - 2]
                    if end > n or flags > 1:
                        if flags != 2 or parts:
                            break
                        # A one-frame message with a long header: most of what is not short.
                        start = p + 7
                        if start > n:
                            break
                        size = _unpack_size(d, p - 1)[0]
                        end = start + size
                        if end > n or size > limit:  # more to come, or the error path's
                            break
                        append(d[start:end] if bare else [d[start:end]])
                        p = end + 2
                        continue
                    if flags:  # MORE
                        msize += end - p
                        if msize > limit:
                            raise _too_large(msize, limit)
                        if len(parts) >= _MAX_MORE_FRAMES:
                            raise _too_many_frames()
                        parts.append(d[p:end])
                    elif parts:
                        msize += end - p
                        if msize > limit:
                            raise _too_large(msize, limit)
                        parts.append(d[p:end])
                        append(parts)
                        parts = []
                        msize = 0
                    elif bare:
                        append(d[p:end])
                    else:
                        append([d[p:end]])
                    p = end + 2
                pos = p - 2
                if n - pos < 2:
                    break
            elif wrapped:
                self._parts, self._msize = parts, msize
                pos = self._open_run(d, pos, n, events)
                if self.stopped:
                    return
                parts, msize = self._parts, self._msize
                if n - pos < 2 or self.open_wrapped is None:
                    wrapped = False
                    continue
            flags = d[pos]
            if flags < 2:
                if not data_ok:
                    raise _unexpected_data()
                size = d[pos + 1]
                start = pos + 2
            else:
                if flags & _RESERVED_FLAGS:
                    raise ProtocolError(f"frame flags {flags:#04x} set reserved bits")
                if flags & FLAG_LONG:
                    if n - pos < 9:
                        break
                    size = int.from_bytes(d[pos + 1 : pos + 9], "big")
                    if size >> 63:
                        raise ProtocolError("frame size has the top bit set")
                    start = pos + 9
                else:
                    size = d[pos + 1]
                    start = pos + 2
                if flags & FLAG_COMMAND:
                    if flags & FLAG_MORE:
                        raise ProtocolError("command frame with the MORE flag")
                    if size > self.command_limit:
                        raise _too_large(size, self.command_limit, "command")
                    end = start + size
                    if end > n:
                        self._parts, self._msize = parts, msize
                        self._start_pieces(d, start, flags, size)
                        return
                    # The handler may add frames (unwrapped by a mechanism) or change state.
                    self._parts, self._msize = parts, msize
                    self._on_command(d[start:end], events)
                    if self.stopped:
                        return
                    parts, msize, data_ok = self._parts, self._msize, self.data_allowed
                    fast = data_ok and limit >= 255 and self.open_wrapped is None
                    wrapped = data_ok and self.open_wrapped is not None
                    pos = end
                    continue
                if not data_ok:
                    raise _unexpected_data()
            if self.open_wrapped is not None:
                if flags & FLAG_MORE:
                    raise ProtocolError("a wrapped (CURVE MESSAGE) frame with the MORE flag")
                if size > self.command_limit:
                    raise _too_large(size, self.command_limit, "wrapped frame")
                end = start + size
                self._parts, self._msize = parts, msize
                if end > n:
                    self._start_pieces(d, start, flags, size)
                    return
                self._open_one(d, start, end, events)
                if self.stopped:
                    return
                parts, msize = self._parts, self._msize
                pos = end
                continue
            total = msize + size
            if total > limit:
                raise _too_large(total, limit)
            end = start + size
            if end > n:
                self._parts, self._msize = parts, msize
                self._start_pieces(d, start, flags, size)
                return
            if flags & FLAG_MORE:
                if len(parts) >= _MAX_MORE_FRAMES:
                    raise _too_many_frames()
                parts.append(d[start:end])
                msize = total
            elif parts:
                parts.append(d[start:end])
                append(parts)
                parts = []
                msize = 0
            else:
                append(d[start:end] if bare else [d[start:end]])
            pos = end
        self._parts, self._msize = parts, msize
        if pos < n:
            self._head = d[pos:]

    def _start_pieces(self, d: bytes, start: int, flags: int, size: int) -> None:
        piece = d[start:]
        self._piece_len = len(piece)
        self._piece_flags = flags
        self._piece_size = size
        self._pieces = [piece]
        self._want_body = LARGE_FRAME <= size <= BODY_BUFFER_MAX and not flags & FLAG_COMMAND
        if self._want_body:
            self._gather_body()

    def _gather_body(self) -> None:
        """Move the pieces of a large body into one buffer the reader can fill straight from
        the kernel, once enough has arrived (BODY_BUFFER_FILL) or a kept buffer fits."""
        size = self._piece_size
        spare = self._spare
        if spare is None or len(spare) < size:
            if self._piece_len * BODY_BUFFER_FILL < size:
                return
            spare = bytearray(size)
        self._spare = spare if len(spare) <= BODY_BUFFER_KEEP else None
        body = memoryview(spare)[:size]
        pos = 0
        for piece in self._pieces:  # type: ignore[union-attr]
            body[pos : pos + len(piece)] = piece
            pos += len(piece)
        self._body = body
        self._pieces = []
        self._want_body = False

    def _frame(self, flags: int, body: bytes, events: list[Any]) -> None:
        """Process one frame whose body arrived in pieces (the slow path of ``_decode``)."""
        if flags & FLAG_COMMAND:
            self._on_command(body, events)
        elif not self.data_allowed:
            raise _unexpected_data()
        elif self.open_wrapped is not None:
            self._open_one(body, 0, len(body), events)
        else:
            self.add_frame(flags & FLAG_MORE, body, events)

    def _open_run(self, d: bytes, pos: int, n: int, events: list[Any]) -> int:
        """Open the complete wrapped frames of a read from ``pos`` on, for as long as they
        are plain final frames; return where it stopped (at anything else, for ``_decode``'s
        general path). The traffic loop of a wrapping mechanism, as the loop at the top of
        ``_decode`` is the clear one's."""
        open_ = self.open_wrapped
        cmax = self.command_limit
        limit = self._limit
        append = events.append
        bare = self._bare
        # The mechanism's own loop, if it has one, takes runs of the commonest case (short
        # wrapped frames each carrying a one-frame message: no limit can be reached there).
        run = self.open_run if bare and limit >= 255 and cmax >= 255 else None
        while n - pos >= 2:
            if run is not None and not self._parts:
                pos, got = run(d, pos, n, append)
                if got is not None:  # it stopped after a frame that is not such a message
                    self._opened(got, d, pos, pos, events)
                    if self.stopped or self.open_wrapped is not open_:
                        return pos
                    continue
                if n - pos < 2:
                    break
            flags = d[pos]
            if flags == 0:
                size = d[pos + 1]
                start = pos + 2
            elif flags == FLAG_LONG and n - pos >= 9:
                size = _unpack_size(d, pos + 1)[0]
                start = pos + 9
            else:
                break
            end = start + size
            if end > n or size > cmax:
                break
            got = open_(d, start, end)  # type: ignore[misc]
            if got is None or got[0] or self._parts:
                self._opened(got, d, start, end, events)
                if self.stopped or self.open_wrapped is not open_:
                    return end
            else:
                body = got[1]
                if len(body) > limit:
                    raise _too_large(len(body), limit)
                append(body if bare else [body])
            pos = end
        return pos

    def _open_one(self, d: Any, start: int, end: int, events: list[Any]) -> None:
        """One wrapped frame, ``d[start:end]``, by the general path."""
        self._opened(self.open_wrapped(d, start, end), d, start, end, events)  # type: ignore[misc]

    def _opened(
        self, got: tuple[int, bytes] | None, d: Any, start: int, end: int, events: list[Any]
    ) -> None:
        if got is None:  # not the mechanism's: the owner reads it as a command (ERROR...)
            self._on_command(bytes(d[start:end]), events)
        elif got[0] & FLAG_COMMAND:
            self.on_wrapped_command(got[1], events)
        else:
            self.add_frame(got[0] & FLAG_MORE, got[1], events)

    def add_frame(self, more: int, body: bytes, events: list[Any]) -> None:
        """Add one data frame to the message in progress.

        For frames that did not come straight off the wire: those a mechanism unwrapped (CURVE
        carries each frame inside a MESSAGE command), and bodies that arrived in pieces.
        """
        total = self._msize + len(body)
        if total > self._limit:
            raise _too_large(total, self._limit)
        if more and len(self._parts) >= _MAX_MORE_FRAMES:
            raise _too_many_frames()
        self._parts.append(body)
        if more:
            self._msize = total
        else:
            parts = self._parts
            events.append(parts[0] if self._bare and len(parts) == 1 else parts)
            self._parts = []
            self._msize = 0


def _unexpected_data() -> ProtocolError:
    return ProtocolError("data frame where only a command is allowed (during the handshake?)")


def _too_many_frames() -> ProtocolError:
    return ProtocolError(
        f"message has more than {MAX_MESSAGE_FRAMES} frames (MAX_MESSAGE_FRAMES)",
        ZMTP_UNSPECIFIED,
    )


def _too_large(size: int, limit: int, what: str = "message") -> ProtocolError:
    return ProtocolError(
        f"{what} of {size} octets exceeds the maximum size {limit}", ZMTP_UNSPECIFIED
    )
