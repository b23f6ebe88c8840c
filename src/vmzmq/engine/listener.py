"""A bound endpoint: accepts stream connections and hands each to a StreamConnection.

A listener keeps the socket's options of the moment it was bound (as libzmq's listeners do):
access control (ZMQ_TCP_ACCEPT_FILTER, ZMQ_IPC_FILTER_*: ``transport.check_peer``) and the
tuning of accepted sockets (``transport.connected``) use that snapshot. A refused connection
is closed at once, before any ZMTP byte, logged at INFO and reported as ACCEPT_FAILED with
EACCES (libzmq reports it as ACCEPT_FAILED too).
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

from .. import _native
from .connection import StreamConnection
from .loop import READ

log = logging.getLogger("vmzmq")

# Out of descriptors or memory: wait this long before accepting again.
ACCEPT_BACKOFF = 0.1
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class Listener:
    """Like a connection, a listener can be lent to a reader that waits (``SocketCore.wait``):
    the reader then accepts in its own thread and runs the new connection's handshake in its
    next waits, with no hand-off to the I/O thread (connection setup costs half as much).
    Hence the connection-like attributes a wait set reads: ``muted``, ``read_paused``,
    ``pipe``, ``cork_until``."""

    pipe = None
    cork_until = 0.0

    def __init__(self, core: Any, transport: Any, sock: socket.socket, endpoint: str) -> None:
        self.core = core
        self.transport = transport
        self.sock = sock
        self.endpoint = endpoint
        self.options = core.options.copy()
        self.connections: set[StreamConnection] = set()
        self.closed = False
        self.muted = False
        self.read_paused = False  # out of descriptors: not accepting for ACCEPT_BACKOFF
        sock.setblocking(False)
        self.fd = sock.fileno()
        core.io.add(self.fd, READ, self._on_readable)
        core.conn_version += 1

    def mute(self) -> None:
        if not self.muted:
            self.muted = True
            self.core.io.modify(self.fd, 0)

    def unmute(self) -> None:
        if self.muted:
            self.muted = False
            if not self.closed and not self.read_paused:
                self.core.io.modify(self.fd, READ)

    def read_now(self) -> None:
        """Accept what is pending, in the calling thread (the lock is held)."""
        self._accept(lent=True)

    def _on_readable(self, events: int) -> None:
        with self.core.lock:
            if not self.muted:
                self._accept(lent=False)

    def _accept(self, lent: bool) -> None:
        if self.closed or self.read_paused:
            return
        for _ in range(64):
            try:
                conn_sock, peer = _native.accept(self.sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.core.event("ACCEPT_FAILED", exc.errno or 0, self.endpoint)
                if exc.errno in _OUT_OF_RESOURCES:
                    # The connection stays pending, so the fd stays readable: pause
                    # instead of spinning, and say so once per pause.
                    log.warning(
                        "vmzmq: accept on %s failed (%s); pausing accepts for %d ms",
                        self.endpoint,
                        exc.strerror,
                        int(ACCEPT_BACKOFF * 1000),
                    )
                    self.read_paused = True
                    self.core.conn_version += 1  # a reader stops waiting on it too
                    self.core.io.modify(self.fd, 0)
                    self.core.io.call_later(ACCEPT_BACKOFF, self._resume)
                else:
                    log.warning("vmzmq: accept on %s failed: %s", self.endpoint, exc)
                return
            refusal = self.transport.check_peer(conn_sock, peer, self.options)
            if refusal is not None:
                conn_sock.close()
                log.info("vmzmq: %s refused a connection: %s", self.endpoint, refusal)
                self.core.event("ACCEPT_FAILED", errno.EACCES, self.endpoint)
                continue
            try:
                self.transport.connected(conn_sock, self.options)
            except OSError as exc:
                log.warning(
                    "vmzmq: tuning a connection accepted on %s failed: %s", self.endpoint, exc
                )
            self.core.event("ACCEPTED", conn_sock.fileno(), self.endpoint)
            conn = StreamConnection(
                self.core, conn_sock, self.transport, self.endpoint, lent=lent
            )
            if not conn.closed:
                self.connections.add(conn)

    def _resume(self) -> None:
        with self.core.lock:
            self.read_paused = False
            self.core.conn_version += 1
            if not self.closed and not self.muted:
                self.core.io.modify(self.fd, READ)

    def forget(self, conn: StreamConnection) -> None:
        self.connections.discard(conn)

    def close(self) -> None:
        """Stop listening and drop this endpoint's connections (libzmq's unbind does too)."""
        if self.closed:
            return
        self.closed = True
        self.core.conn_version += 1
        self.core.io.remove(self.fd)
        try:
            self.transport.unlisten(self.sock, self.endpoint)
        except OSError as exc:  # e.g. the ipc socket file could not be removed
            log.warning("vmzmq: closing %s failed: %s", self.endpoint, exc)
            self.core.event("CLOSE_FAILED", exc.errno or 0, self.endpoint)
            return
        self.core.event("CLOSED", self.fd, self.endpoint)
