"""Pipes: a socket's link to one peer.

A pipe's ``inq`` holds whole messages (lists of frames) received from the peer, and
``Subscription`` markers for publishers; a one-frame message sent or read on the hot path is
held as its bare ``bytes`` (no list per message), which ``pop`` turns into a list, so only
``Socket.recv``'s lock-free pop sees the difference. ``send()`` hands a message towards the peer.
Patterns only ever see this interface; whether the peer is a stream connection or another
socket of the same context (inproc) is the pipe's business.

High-water marks are counted in messages, as libzmq counts them. A stream pipe counts the
messages waiting in it plus those its connection has not yet handed to the kernel.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connection import StreamConnection


#: Whether the GIL orders what threads see. The lock-free paths (Socket.recv popping a lone
#: pipe without the socket's lock, and the ``watch`` hand-off between a pipe's reader and its
#: writer) rely on it: on a free-threaded build (``sys._is_gil_enabled()`` false) Socket.recv
#: takes the locked path instead. See docs/design.md, "What relies on the GIL".
GIL_ENABLED: bool = getattr(sys, "_is_gil_enabled", lambda: True)()


class Subscription:
    """An (un)subscription on its way from a subscriber to a publisher."""

    __slots__ = ("topic", "subscribe")

    def __init__(self, topic: bytes, subscribe: bool) -> None:
        self.topic = topic
        self.subscribe = subscribe

    def as_message(self) -> list[bytes]:
        return [(b"\x01" if self.subscribe else b"\x00") + self.topic]


class Pipe:
    """What every pipe has; patterns use only this. ``has_room()`` is a cheap test that may
    say no where ``writable()``, which can do work to make room, says yes."""

    __slots__ = (
        "core",
        "inq",
        "routing_id",
        "properties",
        "dead",
        "endpoint",
        "pattern_state",
        "locally_initiated",
        "rcvhwm",
        "watch",
        "engine",
    )

    def __init__(self, core: Any, *, conflate: bool = False, endpoint: str = "") -> None:
        self.core = core
        self.inq: deque = deque(maxlen=1) if conflate else deque()
        self.rcvhwm = 0  # how many messages the writer may put in ``inq`` (0: no limit)
        # Set by the writer when ``inq`` is full; a reader popping without the lock (see
        # Socket.recv) must call ``check_resume`` once ``inq`` is down to half of ``rcvhwm``.
        self.watch = False
        # What moves this pipe's messages, and takes a one-frame message from Socket.send
        # straight (``offer_one``): a stream pipe's connection (None while it has none), an
        # inproc pipe itself.
        self.engine: Any = None
        self.routing_id: bytes = b""
        self.properties: dict[str, bytes] = {}
        self.dead = False
        self.endpoint = endpoint
        self.pattern_state: Any = None  # whatever the socket type keeps per peer
        self.locally_initiated = False

    def pop(self) -> Any:
        raise NotImplementedError

    def check_resume(self) -> None:
        """The reader has taken ``inq`` down to half of ``rcvhwm`` while ``watch`` was set:
        let the writer go on."""
        raise NotImplementedError

    def send(self, msg: list) -> None:
        raise NotImplementedError

    def writable(self) -> bool:
        raise NotImplementedError

    def has_room(self) -> bool:
        return self.writable()

    def offer(self, msg: list) -> bool:
        """Send ``msg`` if the pipe can take it now; False (nothing sent) if not."""
        if self.writable():
            self.send(msg)
            return True
        return False

    def send_subscription(self, topic: bytes, subscribe: bool) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Ask for the connection to this peer to be dropped (STREAM's empty send)."""


class StreamPipe(Pipe):
    """A peer across a stream connection (tcp, ipc, vmci).

    A connect-side pipe outlives its connections: messages queue in ``outq`` while the
    connection is down and flow once the next handshake completes (unless IMMEDIATE).
    """

    __slots__ = ("outq", "sndhwm")

    def __init__(self, core: Any, *, endpoint: str = "") -> None:
        opts = core.options
        super().__init__(core, conflate=bool(opts.conflate), endpoint=endpoint)
        self.outq: deque = deque(maxlen=1) if opts.conflate else deque()
        self.engine: StreamConnection | None = None  # set by the connection once it is ready
        self.sndhwm: int = opts.sndhwm
        # The connection sets ``watch`` before it fills ``inq`` up to RCVHWM (it may stop
        # reading then); it is cleared only under the lock, by ``check_resume``.
        self.rcvhwm = opts.rcvhwm

    def pop(self) -> Any:
        msg = self.inq.popleft()
        if self.watch:
            self.check_resume()
        return [msg] if type(msg) is bytes else msg

    def check_resume(self) -> None:
        """Resume reading once the reader has taken ``inq`` down to half the mark (the
        socket's lock is held: the I/O thread also reads ``watch``)."""
        engine = self.engine
        if engine is None or not engine.read_paused:
            self.watch = False
        elif len(self.inq) <= self.rcvhwm // 2:
            self.watch = False
            engine.resume_reading()

    def has_room(self) -> bool:
        hwm = self.sndhwm
        if not hwm:
            return not self.dead
        engine = self.engine
        queued = len(self.outq)
        if engine is not None:
            queued += engine.out_msgs
        return queued < hwm and not self.dead

    def writable(self) -> bool:
        if self.has_room():
            return True
        # Corked messages are not stuck: write them now and look again.
        engine = self.engine
        if engine is not None and engine.out and not engine.want_write:
            engine.flush_corked()
            return self.has_room()
        return False

    def send(self, msg: list) -> None:
        engine = self.engine
        if engine is not None and engine.ready and not self.outq:
            engine.send_message(msg)
        else:
            self.outq.append(msg)

    def offer(self, msg: list) -> bool:
        engine = self.engine
        if engine is not None and engine.ready and not self.outq and not self.dead:
            return engine.offer(msg, self.sndhwm)
        if self.writable():
            self.send(msg)
            return True
        return False

    def send_subscription(self, topic: bytes, subscribe: bool) -> None:
        engine = self.engine
        if engine is not None and engine.ready and not self.outq:
            engine.send_subscription(topic, subscribe)
        else:
            self.outq.append(Subscription(topic, subscribe))

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close("closed by the application")


class InprocPipe(Pipe):
    """A peer in the same context: messages go straight into the other socket's pipe.

    The two sides run under different locks, so they touch each other only through deque
    operations (atomic under the GIL), the reader's ``watch`` flag and signalers, never
    through each other's patterns. A writer that finds the reader's queue full sets ``watch``
    and then looks again; a reader pops and then reads ``watch``. Under the GIL that order
    means a writer about to wait either sees the room or gets the reader's signal.
    """

    __slots__ = ("peer", "hwm")

    def __init__(self, core: Any, *, endpoint: str = "") -> None:
        super().__init__(core, conflate=bool(core.options.conflate), endpoint=endpoint)
        self.peer: InprocPipe | None = None
        self.hwm = 0
        self.engine = self

    @staticmethod
    def pair(a_core: Any, b_core: Any, endpoint: str) -> tuple[InprocPipe, InprocPipe]:
        """Two joined pipes. ``b_core`` may be None when the endpoint is not bound yet:
        b's queue then holds what ``a`` sends until ``adopt`` gives it to the binder."""
        a = InprocPipe(a_core, endpoint=endpoint)
        b = InprocPipe(b_core or a_core, endpoint=endpoint)
        b.core = b_core
        a.peer, b.peer = b, a
        a.set_marks()
        return a, b

    def set_marks(self) -> None:
        # libzmq gives an inproc pipe the sum of both sides' marks, or no limit if either is 0.
        peer = self.peer
        mine = self.core.options
        theirs = peer.core.options if peer.core is not None else mine
        self.hwm = mine.sndhwm + theirs.rcvhwm if mine.sndhwm and theirs.rcvhwm else 0
        peer.hwm = theirs.sndhwm + mine.rcvhwm if theirs.sndhwm and mine.rcvhwm else 0
        self.rcvhwm, peer.rcvhwm = peer.hwm, self.hwm

    def adopt(self, core: Any) -> None:
        """The endpoint got bound: this (pending) half now belongs to ``core``."""
        self.core = core
        self.peer.set_marks()

    def pop(self) -> Any:
        msg = self.inq.popleft()
        if self.watch and len(self.inq) <= self.rcvhwm >> 1:
            self.check_resume()
        return [msg] if type(msg) is bytes else msg

    def check_resume(self) -> None:
        # Any thread may call this: the writer only ever sets ``watch`` before looking again.
        self.watch = False
        peer = self.peer
        if peer is not None and peer.core is not None:
            peer.core.signaler.signal()  # a no-op unless someone waits on it

    def _full(self, inq: deque) -> bool:
        """Whether the peer's queue is at the mark, after asking its reader to wake us."""
        peer = self.peer
        peer.watch = True  # type: ignore[union-attr]
        return len(inq) >= self.hwm

    def writable(self) -> bool:
        peer = self.peer
        if peer is None or self.dead:
            return False
        hwm = self.hwm
        return not hwm or len(peer.inq) < hwm or not self._full(peer.inq)

    def send(self, msg: list) -> None:
        peer = self.peer
        if peer is None:
            return
        peer.inq.append(msg)
        if peer.core is not None:
            peer.core.signaler.signal()

    def offer(self, msg: Any) -> bool:
        """Send a message (a list of frames, or one frame's bytes: see ``offer_one``) if
        the peer's queue has room."""
        peer = self.peer
        if peer is None or self.dead:
            return False
        inq = peer.inq
        if self.hwm and len(inq) >= self.hwm and self._full(inq):
            return False
        inq.append(msg)
        if peer.core is not None:
            peer.core.signaler.signal()
        return True

    # Socket.send's short way for a one-frame message: its bare bytes go into the peer's
    # queue, as a stream connection's reads put them (see the module docstring).
    offer_one = offer

    def send_subscription(self, topic: bytes, subscribe: bool) -> None:
        peer = self.peer
        if peer is None:
            return
        peer.inq.append(Subscription(topic, subscribe))
        if peer.core is not None:
            peer.core.signaler.signal()

    def close(self) -> None:
        self.core.terminate_inproc(self)
