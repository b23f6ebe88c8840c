"""Local port forwarding over a paramiko transport: what ``ssh -L`` does, for
:func:`vmzmq.ssh.tunnel.paramiko_tunnel` (pyzmq's ``zmq.ssh.forward``).

Each connection accepted on the local port gets a ``direct-tcpip`` channel to the remote
address (as the SSH server sees it) and a thread that copies bytes both ways until both
directions have ended.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import paramiko

__all__ = ["forward_tunnel"]

log = logging.getLogger("vmzmq.ssh")

_CHUNK = 65536


def forward_tunnel(
    local_port: int, remote_host: str, remote_port: int, transport: paramiko.Transport
) -> None:
    """Forward ``127.0.0.1:local_port`` to ``remote_host:remote_port`` through
    ``transport``, until the process ends."""
    listener = socket.create_server(("127.0.0.1", local_port))
    with listener:
        Forwarder(listener, transport, remote_host, remote_port).serve()


class Forwarder:
    """Serves a listening socket: each accepted connection is joined to a new channel."""

    def __init__(
        self,
        listener: socket.socket,
        transport: paramiko.Transport,
        remote_host: str,
        remote_port: int,
    ) -> None:
        self.listener = listener
        self.transport = transport
        self.target = (remote_host, remote_port)
        self._active = 0
        self._lock = threading.Lock()
        # Written by a connection's thread when it ends, so serve() can notice it is idle;
        # closed (under the lock, so no late write finds its number reused) when serve() ends.
        self._ended_r, self._ended_w = os.pipe()
        self._serving = True

    def serve(self, idle_after: float | None = None, stop_fd: int | None = None) -> None:
        """Accept and forward. With ``idle_after`` (seconds), stop once that long has passed
        and no connection is open; with ``stop_fd``, stop when it becomes readable (the
        parent process's sentinel: a tunnel must not outlive its program)."""
        deadline = None if idle_after is None else time.monotonic() + idle_after
        with selectors.DefaultSelector() as sel:
            sel.register(self.listener, selectors.EVENT_READ, "accept")
            sel.register(self._ended_r, selectors.EVENT_READ, "ended")
            if stop_fd is not None:
                sel.register(stop_fd, selectors.EVENT_READ, "stop")
            try:
                while True:
                    timeout = None
                    if deadline is not None:
                        timeout = deadline - time.monotonic()
                        if timeout <= 0:
                            if self.active == 0:
                                return
                            timeout = None  # from now on, only a connection's end matters
                    for key, _ in sel.select(timeout):
                        if key.data == "stop":
                            return
                        if key.data == "ended":
                            os.read(self._ended_r, 4096)
                        else:
                            self._accept()
            finally:
                with self._lock:
                    self._serving = False
                    os.close(self._ended_r)
                    os.close(self._ended_w)

    @property
    def active(self) -> int:
        with self._lock:
            return self._active

    def _accept(self) -> None:
        try:
            conn, peer = self.listener.accept()
        except OSError:
            return
        try:
            channel = self.transport.open_channel("direct-tcpip", self.target, peer)
        except Exception as exc:
            log.debug("vmzmq.ssh: forwarding to %s:%d refused: %r", *self.target, exc)
            conn.close()
            return
        with self._lock:
            self._active += 1
        thread = threading.Thread(
            target=self._pump, args=(conn, channel), name="vmzmq-ssh-forward", daemon=True
        )
        thread.start()

    def _pump(self, conn: socket.socket, channel: Any) -> None:
        try:
            _copy_both_ways(conn, channel)
        except Exception as exc:
            log.debug("vmzmq.ssh: forwarded connection ended: %r", exc)
        finally:
            channel.close()
            conn.close()
            with self._lock:
                self._active -= 1
                if self._serving:
                    os.write(self._ended_w, b"x")


def _copy_both_ways(conn: socket.socket, channel: Any) -> None:
    """Copy until both sides have sent their end; an end is passed on as a half-close."""
    with selectors.DefaultSelector() as sel:
        sel.register(conn, selectors.EVENT_READ, channel)
        sel.register(channel, selectors.EVENT_READ, conn)
        open_sides = 2
        while open_sides:
            for key, _ in sel.select():
                source = key.fileobj
                sink = key.data
                data = source.recv(_CHUNK)  # type: ignore[union-attr]
                if data:
                    sink.sendall(data)
                    continue
                sel.unregister(source)
                open_sides -= 1
                if sink is channel:
                    channel.shutdown_write()
                else:
                    conn.shutdown(socket.SHUT_WR)
