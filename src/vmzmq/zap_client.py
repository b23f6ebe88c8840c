"""The client side of ZAP (RFC 27): carries handshakes' questions to the authenticator.

One per context, installed on the engine's ``ContextCore.zap_client`` (the engine cannot make
a socket itself). It owns a DEALER connected to ``inproc://zeromq.zap.01`` whose file
descriptor the I/O thread watches, so replies are read in the I/O thread and waiting costs no
thread of its own. Requests may come from any thread that reads a connection (the I/O thread,
or a caller reading its lent connections), hence the lock; callbacks run without it.

Every request gets an id of its own (libzmq sends "1" on a pipe per connection; one DEALER
shared by every connection needs distinct ids to match replies). A handler that goes away
(unbound, closed, replaced by another) fails every request it had not answered; a handler
that never answers is ended by the connection's handshake timer.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _native
from .constants import DEALER, NOBLOCK, POLLIN
from .error import ZMQError
from .zmtp.zap import ZAP_ENDPOINT

if TYPE_CHECKING:
    from .context import Context
    from .socket import Socket

log = logging.getLogger("vmzmq")
_NAME = ZAP_ENDPOINT[len("inproc://") :]
_READ = 0x001  # select.EPOLLIN


class ZapClient:
    def __init__(self, context: Context) -> None:
        self._context = context
        self._lock = _native.Lock()  # taken in the I/O thread: native even under gevent
        self._sock: Socket | None = None
        self._fd = -1
        self._binder: Any = None  # the handler's SocketCore our DEALER is connected to
        self._pending: dict[bytes, Callable[[list | None], None]] = {}
        self._ids = itertools.count(1)
        self._closed = False

    def available(self) -> bool:
        """Whether a handler is bound now."""
        return not self._closed and _NAME in self._context._core.inproc

    def next_id(self) -> bytes:
        return str(next(self._ids)).encode()

    def request(self, frames: list[bytes], request_id: bytes,
                on_reply: Callable[[list | None], None]) -> bool:
        """Send one request; ``on_reply(frames)`` gets the reply, or None if the handler went
        away first. False (nothing sent) if no handler is bound."""
        failed: list[Callable[[list | None], None]] = []
        try:
            with self._lock:
                if self._closed:
                    return False
                binder = self._context._core.inproc.get(_NAME)
                if binder is None:
                    return False
                if binder is not self._binder:
                    failed = self._reset()
                    self._open(binder)
                try:
                    self._sock.send_multipart(frames, NOBLOCK)  # type: ignore[union-attr]
                except ZMQError as exc:
                    log.warning("vmzmq: could not send a ZAP request: %s", exc)
                    return False
                self._pending[request_id] = on_reply
                return True
        finally:
            for callback in failed:
                callback(None)

    def _open(self, binder: Any) -> None:
        from .socket import Socket

        # A plain socket even in a vmzmq.asyncio context: the I/O thread (or a reading
        # caller) sends and receives on it with no event loop.
        sock = self._context.socket(DEALER, socket_class=Socket)
        sock._internal = True  # the context's own: leaving `with Context()` must not warn
        sock.sndhwm = 0  # a request must never wait: one per handshake in progress
        sock.rcvhwm = 0
        sock.linger = 0
        sock.connect(ZAP_ENDPOINT)
        self._sock = sock
        self._binder = binder
        self._fd = sock.FD
        self._context._core.io.call_soon(self._watch, sock, self._fd)

    def _watch(self, sock: Socket, fd: int) -> None:
        with self._lock:
            if sock is self._sock:
                self._context._core.io.add(fd, _READ, self._on_readable)
                # Anything that arrived before the fd was watched.
        self._on_readable(0)

    def _reset(self) -> list[Callable[[list | None], None]]:
        """Close the DEALER (lock held); return the callbacks of unanswered requests."""
        failed = list(self._pending.values())
        self._pending.clear()
        sock, self._sock = self._sock, None
        self._binder = None
        if sock is not None:
            fd, self._fd = self._fd, -1
            io = self._context._core._io
            if io is None or io.in_loop() or io.failed is not None:
                _dispose(io, sock, fd)
            else:
                # Closed by the I/O thread, after it forgot the fd: closing it here first
                # would let a new file take its number while epoll still maps it to us.
                io.call_soon(_dispose, io, sock, fd)
        return failed

    def _on_readable(self, _events: int) -> None:
        replies: list[tuple[Callable[[list | None], None], list | None]] = []
        with self._lock:
            sock = self._sock
            if sock is None:
                return
            # (_events: getsockopt(EVENTS) raises ETERM while the context terminates, and the
            # FD must be drained whatever the context's state, or epoll reports it forever.)
            while sock._events(expose=True) & POLLIN:
                try:
                    frames = sock.recv_multipart(NOBLOCK)
                except ZMQError:
                    break
                rid = bytes(frames[2]) if len(frames) > 2 else b""
                callback = self._pending.pop(rid, None)
                if callback is None:
                    log.warning("vmzmq: ZAP reply to no pending request (id %r) dropped", rid)
                    continue
                replies.append((callback, frames))
            if self._context._core.inproc.get(_NAME) is not self._binder:
                replies.extend((cb, None) for cb in self._reset())
        for callback, frames in replies:
            callback(frames)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            failed = self._reset()
        for callback in failed:
            callback(None)


def _dispose(io: Any, sock: Socket, fd: int) -> None:
    if io is not None:
        io.remove(fd)
    sock.close(linger=0)
