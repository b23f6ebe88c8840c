"""One corked burst shared by the connections a publisher sends every message to.

A PUB whose subscribers all want everything sends each message to the same connections. Offered
to each connection in turn (``StreamConnection.offer_one``), a 64-byte message costs a Python
call and its checks per subscriber, which is what bounded fan-out (8 subscribers: ~4 us per
message). Here it is framed once into a list shared by all of them; when the burst ends (64 KiB
gathered, the sending thread waits, or the I/O thread's uncork) the list is joined once and the
same buffer is queued on every connection, which writes it as its own corked output.

A shared burst starts only when every connection could have taken the message into a corked
burst of its own (``offer_one``'s conditions: a burst in progress, clear framing, room below
SNDHWM, nothing waiting in its pipe): the first message after a pause still goes out at once,
on each connection's own path. It goes on while the publisher's subscriptions are unchanged
(``version``). Anything else sent to one of its connections, or a connection leaving, flushes
it first, so each connection's stream stays in the order the messages were sent.
"""

from __future__ import annotations

from typing import Any

from ..zmtp.frames import clear_header, frame_one
from .connection import CORK_BYTES, StreamConnection


class FanOut:
    __slots__ = ("core", "members", "version", "frames", "nbytes", "count", "room",
                 "uncork_pending", "shared")

    def __init__(self, core: Any) -> None:
        self.core = core
        self.members: list[StreamConnection] = []  # empty: no shared burst in progress
        self.version = -1  # the subscriptions the members were chosen under
        self.frames: list[bytes] = []
        self.nbytes = 0
        self.count = 0
        self.room = 0  # messages the fullest member takes before its SNDHWM
        self.uncork_pending = False  # in the socket's uncork_list (see SocketCore.uncork)
        self.shared = 0  # messages sent through shared bursts so far (for tests and debugging)

    def offer(self, body: bytes, pipes: Any, version: int) -> bool:
        """Queue the one-frame message ``body`` for every pipe of ``pipes`` (the subscribers
        chosen under subscriptions ``version``); False, doing nothing, if a shared burst
        cannot take it (the caller offers it to each pipe itself). The socket's lock is
        held."""
        if version != self.version or not self.members:
            self.flush()
            if len(body) >= CORK_BYTES or not self._start(pipes, version):
                return False
        elif len(body) >= CORK_BYTES:
            self.flush()
            return False
        frames = self.frames
        n = len(body)
        header = clear_header(n)
        if header is not None:  # header and body as they are, joined once at the flush
            frames.append(header)
            frames.append(body)
            n += len(header)
        else:
            data = frame_one(body)
            frames.append(data)
            n = len(data)
        self.count = count = self.count + 1
        self.nbytes = n = self.nbytes + n
        if n >= CORK_BYTES or count >= self.room:
            self.flush()
        return True

    def _start(self, pipes: Any, version: int) -> bool:
        members = []
        room = 1 << 62
        for pipe in pipes:
            conn = pipe.engine
            if (
                type(conn) is not StreamConnection
                or not conn.out
                or conn.frame_one is not frame_one  # not clear framing (CURVE), or not ready
                or conn.lent
                or conn.closed
                or pipe.outq
                or pipe.dead
            ):
                return False
            hwm = pipe.sndhwm
            if hwm:
                left = hwm - conn.out_msgs
                if left <= 0:
                    return False
                room = min(room, left)
            members.append(conn)
        if len(members) < 2:
            return False
        self.members = members
        self.version = version
        self.room = room
        if not self.uncork_pending:
            # Every member has its own uncork coming or waits to write; this makes sure the
            # shared frames follow even if the sender now goes quiet without waiting.
            self.uncork_pending = True
            core = self.core
            if not core.uncork_list:
                core.io.call_soon(core.uncork)
            core.uncork_list.insert(0, self)
        return True

    def flush(self) -> None:
        """End the shared burst: queue what it gathered on each member and write it."""
        members = self.members
        if not members:
            return
        frames = self.frames
        count = self.count
        self.members = []
        self.frames = []
        self.nbytes = 0
        self.count = 0
        self.version = -1
        if not frames:
            return
        self.shared += count
        blob = frames[0] if len(frames) == 1 else b"".join(frames)
        for conn in members:
            conn.take_corked(blob, count)

    def flush_corked(self) -> None:
        """SocketCore.uncork and wait: the burst is over."""
        self.flush()
