"""A connected endpoint: opens the stream socket, waits for it, and reconnects.

Reconnects follow libzmq: wait RECONNECT_IVL plus a random jitter below it; with
RECONNECT_IVL_MAX above RECONNECT_IVL the wait doubles after each failure up to that cap;
RECONNECT_IVL of -1 means never reconnect.
"""

from __future__ import annotations

import errno
import logging
import random
import select
import socket
from typing import Any

from .. import _native as native
from ..error import ZMQError
from .connection import StreamConnection, socket_error
from .loop import READ, WRITE
from .pipe import StreamPipe

log = logging.getLogger("vmzmq")

RECONNECT_STOP_CONN_REFUSED = 1


class Connecter:
    def __init__(self, core: Any, transport: Any, target: Any, endpoint: str) -> None:
        self.core = core
        self.io = core.io
        self.transport = transport
        self.target = target
        self.endpoint = endpoint
        opts = core.options
        self.options = opts.copy()
        self.immediate = bool(opts.immediate)
        self.pipe: StreamPipe | None = None
        self.connection: StreamConnection | None = None
        self.sock: socket.socket | None = None
        self.closed = False
        self.lingering = False
        self._timer: Any = None
        self._connect_timer: Any = None
        self._linger_timer: Any = None
        self._preamble = b""  # what arrived of the transport's preamble reply
        self._ivl = opts.reconnect_ivl
        if not self.immediate:
            self.pipe = StreamPipe(core, endpoint=endpoint)
            self.pipe.locally_initiated = True
            core.attach_pipe(self.pipe)

    def start(self) -> None:
        # A connect that cannot block (no name to resolve) starts in the caller's thread: to
        # a local peer it completes at once, and the handshake then runs in the caller's own
        # waits (see SocketCore.wait), with no hand-off to the I/O thread on the way.
        if self.transport.connects_at_once(self.target):
            self._attempt()
        else:
            self.io.call_soon(self._attempt)

    def _attempt(self) -> None:
        with self.core.lock:
            self._timer = None
            if self.closed and not self.lingering:
                return
            try:
                sock = self.transport.connect(self.target, self.options)
            except (ZMQError, OSError) as exc:
                log.debug("vmzmq: connect to %s failed: %s", self.endpoint, exc)
                self._failed(exc.errno or 0)
                return
            self.core.event("CONNECT_DELAYED", errno.EINPROGRESS, self.endpoint)
            if _done(sock):
                self._connected(sock)
                return
            self.sock = sock
            self.io.add(sock.fileno(), WRITE, self._on_writable)
            timeout = self.options.connect_timeout
            if timeout > 0:
                self._connect_timer = self.io.call_later(timeout / 1000, self._timed_out)

    def _on_writable(self, events: int) -> None:
        with self.core.lock:
            sock = self.sock
            if sock is None or (self.closed and not self.lingering):
                return
            self.sock = None
            self.io.remove(sock.fileno())
            if self._connect_timer is not None:
                self._connect_timer.cancel()
                self._connect_timer = None
            self._connected(sock)

    def _connected(self, sock: socket.socket) -> None:
        """The connect finished, one way or the other (the lock is held)."""
        err = socket_error(sock)
        if err:
            self.core.event("CLOSED", sock.fileno(), self.endpoint)
            sock.close()
            log.debug("vmzmq: connect to %s: %s", self.endpoint, _errname(err))
            self._failed(err)
            return
        try:
            self.transport.connected(sock, self.options)
        except OSError as exc:
            log.debug("vmzmq: tuning connected socket failed: %s", exc)
        request = self.transport.preamble(self.target)
        if request is not None:
            self._start_preamble(sock, request)
            return
        self._open(sock, b"")

    def _open(self, sock: socket.socket, initial: bytes) -> None:
        self._ivl = self.options.reconnect_ivl
        self.core.event("CONNECTED", sock.fileno(), self.endpoint)
        self.connection = StreamConnection(
            self.core, sock, self.transport, self.endpoint, connecter=self, pipe=self.pipe,
            initial=initial,
        )

    # -- a transport's preamble (hvsock's CONNECT/OK), before ZMTP ------------------------------
    def _start_preamble(self, sock: socket.socket, request: bytes) -> None:
        try:
            sent = sock.send(request)
        except OSError as exc:
            sent = -1
            err = exc.errno or errno.EIO
        else:
            err = errno.EIO
        if sent != len(request):  # a few octets on a fresh stream: all or nothing
            self._preamble_failed(sock, err, "could not send the connect request")
            return
        self.sock = sock
        self._preamble = b""
        self.io.add(sock.fileno(), READ, self._on_preamble)
        ivl = self.options.handshake_ivl
        if ivl > 0:
            self._connect_timer = self.io.call_later(ivl / 1000, self._timed_out)

    def _on_preamble(self, events: int) -> None:
        with self.core.lock:
            sock = self.sock
            if sock is None or (self.closed and not self.lingering):
                return
            try:
                data = sock.recv(64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._end_preamble(sock)
                self._preamble_failed(sock, exc.errno or errno.EIO, exc.strerror or "")
                return
            if not data:  # the VMM hung up: nobody listens on that port in the guest
                self._end_preamble(sock)
                self._preamble_failed(sock, errno.ECONNRESET, "refused (no listener)")
                return
            buf = self._preamble + data
            try:
                end = self.transport.preamble_reply(buf)
            except ValueError as exc:
                self._end_preamble(sock)
                log.warning("vmzmq: connect to %s: %s", self.endpoint, exc)
                self._preamble_failed(sock, errno.EPROTO, str(exc))
                return
            if end is None:
                self._preamble = buf
                return
            self._end_preamble(sock)
            self._open(sock, buf[end:])

    def _end_preamble(self, sock: socket.socket) -> None:
        self.sock = None
        self._preamble = b""
        self.io.remove(sock.fileno())
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None

    def _preamble_failed(self, sock: socket.socket, err: int, why: str) -> None:
        log.debug("vmzmq: connect to %s: %s", self.endpoint, why)
        self.core.event("CLOSED", sock.fileno(), self.endpoint)
        sock.close()
        self._failed(err)

    def _timed_out(self) -> None:
        with self.core.lock:
            sock = self.sock
            if sock is None or self.closed:
                return
            self.sock = None
            self.io.remove(sock.fileno())
            self.core.event("CLOSED", sock.fileno(), self.endpoint)
            sock.close()
            self._retry()

    def _failed(self, err: int) -> None:
        """A connect attempt failed: retry, unless RECONNECT_STOP says a refusal is final.

        The transport says what a refusal looks like (vsock reports one as ECONNRESET)."""
        if self.options.reconnect_stop & RECONNECT_STOP_CONN_REFUSED and self.transport.is_refusal(
            err
        ):
            self.core.event("CLOSED", 0, self.endpoint)
            self.core.connecter_stopped(self)
            return
        self._retry()

    def _retry(self) -> None:
        ivl = self.options.reconnect_ivl
        if self.closed and not self.lingering:
            return
        if ivl < 0 or (ivl == 0 and self.options.reconnect_ivl_max <= 0):
            return
        base = max(self._ivl, 1)
        delay = base + random.randrange(max(ivl, 1))
        ivl_max = self.options.reconnect_ivl_max
        if ivl_max > ivl:
            self._ivl = min(self._ivl * 2, ivl_max)
        log.debug("vmzmq: reconnecting to %s in %d ms", self.endpoint, delay)
        self.core.event("CONNECT_RETRIED", delay, self.endpoint)
        self._timer = self.io.call_later(delay / 1000, self._attempt)

    def connection_lost(self, conn: StreamConnection) -> None:
        """The connection died: keep the pipe (unless IMMEDIATE) and reconnect."""
        if self.connection is conn:
            self.connection = None
        if self.pipe is not None:
            self.pipe.engine = None
            if self.immediate:
                self.core.terminate_pipe(self.pipe)
                self.pipe = None
        elif conn.pipe is not None:
            conn.pipe.engine = None
            self.core.terminate_pipe(conn.pipe)
        if self.lingering:
            self._finish_linger()
        elif not self.closed:
            self._retry()

    def shutdown(self, linger: int) -> None:
        """The socket is closing: stop now, or keep delivering queued messages for a while."""
        conn = self.connection
        pending = (conn is not None and bool(conn.out)) or (
            self.pipe is not None and bool(self.pipe.outq)
        )
        if linger == 0 or not pending:
            self.close()
            if conn is not None:
                conn.close("socket closed")
            return
        self.lingering = True
        self.core.context.linger_started()
        if linger > 0:
            self._linger_timer = self.io.call_later(linger / 1000, self._linger_expired)
        if conn is not None and conn.ready:
            conn._linger_check()

    def _linger_expired(self) -> None:
        with self.core.lock:
            if not self.lingering:
                return
            conn = self.connection
            if conn is not None:
                conn.close("linger expired")  # ends in connection_lost -> _finish_linger
            if self.lingering:
                self._finish_linger()

    def _finish_linger(self) -> None:
        self.lingering = False
        self.close()
        self.core.context.linger_finished()

    def close(self) -> None:
        self.closed = True
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        if self._timer is not None:
            self._timer.cancel()
        if self._connect_timer is not None:
            self._connect_timer.cancel()
        if self.sock is not None:
            self.io.remove(self.sock.fileno())
            self.sock.close()
            self.sock = None


def _done(sock: socket.socket) -> bool:
    """Whether a non-blocking connect has finished (writable, or failed) already."""
    poller = native.poll()
    poller.register(sock, select.POLLOUT)
    return bool(poller.poll(0))


def _errname(err: int) -> str:
    import errno as errno_mod
    import os

    return f"{errno_mod.errorcode.get(err, err)} ({os.strerror(err)})"
