"""A byte relay between two transports: each connection accepted on the frontend gets its own
new connection to the backend, and bytes are copied both ways until both sides are done.

This is what a STREAM<->STREAM proxy does, done at the transport layer: it carries any ZMTP
socket type (and any other protocol) unchanged, because it never looks at the bytes. Typical
use: ``StreamRelay("vmci://*:5555", "tcp://127.0.0.1:5556")`` lets programs using libzmq on a
host reach a vmzmq socket in a guest (or the other way round) without either knowing.

Working below STREAM sockets gives what a byte relay needs and STREAM sockets lack: a refused
or timed-out backend connect closes the frontend connection at once, half-closes (EOF in one
direction) are passed on, and flow control is per connection (a slow peer stalls only its own
connection: at most ``buffer_size`` bytes wait per direction).
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import selectors
import socket
import threading
import time
from typing import Any

from ..error import ZMQError, with_detail
from ..options import SocketOptions
from ..transport import get_transport, split_endpoint

log = logging.getLogger("vmzmq")

_STREAM = 11
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_CHUNK = 65536


class _Side:
    """One socket of a link and the bytes waiting to be written to it."""

    __slots__ = ("sock", "fd", "out", "eof", "shut", "registered")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.out = bytearray()
        self.eof = False  # nothing more will be read from it
        self.shut = False  # we sent it EOF (shutdown SHUT_WR)
        self.registered = 0


class _Link:
    __slots__ = ("id", "front", "back", "connecting", "deadline", "closed", "preamble")

    def __init__(self, link_id: int, front: _Side, back: _Side, deadline: float) -> None:
        self.id = link_id
        self.front = front
        self.back = back
        self.connecting = True
        self.deadline = deadline
        self.closed = False
        # What arrived of the backend transport's preamble reply (hvsock's OK line), while
        # one is awaited; None otherwise.
        self.preamble: bytes | None = None


class StreamRelay:
    """Relay every connection accepted on ``frontend`` to a new connection to ``backend``.

    ``frontend`` is bound now (``endpoint`` is the bound address, with wildcards resolved);
    ``backend`` is connected once per accepted connection. ``run()`` relays until ``stop()``
    (from any thread). ``capture``, if given, is a vmzmq socket (PUB) that gets a copy of
    every chunk as ``[b"in" | b"out", connection number, bytes]`` ("in" flows frontend to
    backend). Endpoints: tcp://, ipc://, vmci:// / vsock:// (not inproc://: no bytes there).
    """

    def __init__(
        self,
        frontend: str,
        backend: str,
        *,
        capture: Any = None,
        connect_timeout: float = 10.0,
        buffer_size: int = 256 * 1024,
    ) -> None:
        self._front_t, front_target = _parse(frontend, bind=True)
        self._back_t, self._back_target = _parse(backend, bind=False)
        self.backend = backend
        self.capture = capture
        self.connect_timeout = connect_timeout
        self.buffer_size = max(int(buffer_size), _CHUNK)
        self._opts = SocketOptions(_STREAM)
        self._listener, self.endpoint = self._front_t.listen(front_target, self._opts)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, _READ, None)
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._sel.register(self._wake_fd, _READ, None)
        self._links: dict[int, tuple[_Link, _Side]] = {}  # fd -> (link, side)
        self._ids = itertools.count(1)
        self._stopping = False
        self._lock = threading.Lock()
        self.closed = False
        self.accepted = 0  # connections accepted so far

    # -- control -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask ``run()`` to close every connection and return (safe from any thread)."""
        with self._lock:
            self._stopping = True
            if self._wake_fd >= 0:
                os.eventfd_write(self._wake_fd, 1)

    @property
    def connections(self) -> int:
        """Relayed connections now open."""
        return len({link.id for link, _side in self._links.values()})

    def run(self) -> None:
        """Relay until :meth:`stop`; then close everything."""
        try:
            while not self._stopping:
                timeout = self._next_deadline()
                for key, mask in self._sel.select(timeout):
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj == self._wake_fd:
                        try:
                            os.eventfd_read(self._wake_fd)
                        except OSError:
                            pass
                    else:
                        entry = self._links.get(key.fd)
                        if entry is not None and not entry[0].closed:
                            self._on_event(entry[0], entry[1], mask)
                self._expire()
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for link, _side in list(self._links.values()):
            self._close_link(link, "relay stopped")
        try:
            self._sel.unregister(self._listener)
        except (KeyError, ValueError):
            pass
        try:
            self._front_t.unlisten(self._listener, self.endpoint)
        except OSError:
            pass
        self._sel.close()
        with self._lock:
            fd, self._wake_fd = self._wake_fd, -1
        os.close(fd)

    # -- connections ---------------------------------------------------------------------------
    def _accept(self) -> None:
        for _ in range(64):
            try:
                conn, _addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # EMFILE and friends: stop accepting for this round instead of spinning.
                log.warning("vmzmq: relay: accept on %s failed: %s", self.endpoint, exc)
                time.sleep(0.05)
                return
            self.accepted += 1
            try:
                self._front_t.connected(conn, self._opts)
            except OSError as exc:
                log.debug("vmzmq: relay: tuning an accepted socket failed: %s", exc)
            conn.setblocking(False)
            try:
                back = self._back_t.connect(self._back_target, self._opts)
            except (ZMQError, OSError) as exc:
                log.warning("vmzmq: relay: connecting to %s failed: %s", self.backend, exc)
                conn.close()
                continue
            link = _Link(
                next(self._ids), _Side(conn), _Side(back), time.monotonic() + self.connect_timeout
            )
            self._links[link.front.fd] = (link, link.front)
            self._links[link.back.fd] = (link, link.back)
            log.debug("vmzmq: relay: connection %d accepted on %s", link.id, self.endpoint)
            self._update(link)

    def _on_event(self, link: _Link, side: _Side, mask: int) -> None:
        if link.connecting:
            if side is link.back and link.preamble is not None:
                if mask & _READ:
                    self._preamble_read(link)
                return
            if side is link.back and mask & _WRITE:
                err = link.back.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._close_link(
                        link, f"connecting to {self.backend} failed: {os.strerror(err)}", True
                    )
                    return
                try:
                    self._back_t.connected(link.back.sock, self._opts)
                except OSError as exc:
                    log.debug("vmzmq: relay: tuning a connected socket failed: %s", exc)
                link.back.sock.setblocking(False)
                request = self._back_t.preamble(self._back_target)
                if request is not None:
                    try:
                        sent = link.back.sock.send(request)
                    except OSError:
                        sent = -1
                    if sent != len(request):
                        self._close_link(link, f"connecting to {self.backend}: request failed",
                                         True)
                        return
                    link.preamble = b""
                    self._update(link)
                    return
                link.connecting = False
                log.debug("vmzmq: relay: connection %d joined to %s", link.id, self.backend)
            elif side is link.front and mask & _READ:
                pass  # data (or EOF) from the frontend waits until the backend is connected
        else:
            other = link.back if side is link.front else link.front
            if mask & _READ:
                if not self._read(link, side, other):
                    return
            if mask & _WRITE:
                if not self._write(link, side):
                    return
        self._update(link)

    def _preamble_read(self, link: _Link) -> None:
        """The backend transport's reply to its preamble (hvsock: the VMM's OK line)."""
        try:
            data = link.back.sock.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._close_link(link, f"connecting to {self.backend}: {exc}", True)
            return
        if not data:
            self._close_link(link, f"connecting to {self.backend}: refused", True)
            return
        buf = link.preamble + data  # type: ignore[operator]
        try:
            end = self._back_t.preamble_reply(buf)
        except ValueError as exc:
            self._close_link(link, f"connecting to {self.backend}: {exc}", True)
            return
        if end is None:
            link.preamble = buf
            return
        link.preamble = None
        link.connecting = False
        link.front.out += buf[end:]  # the guest's first bytes, right behind the OK line
        log.debug("vmzmq: relay: connection %d joined to %s", link.id, self.backend)
        self._update(link)

    def _read(self, link: _Link, side: _Side, other: _Side) -> bool:
        try:
            data = side.sock.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as exc:
            self._close_link(link, f"read failed: {exc}")
            return False
        if not data:
            side.eof = True
            return True
        other.out += data
        if self.capture is not None:
            direction = b"in" if side is link.front else b"out"
            try:
                self.capture.send_multipart([direction, str(link.id).encode(), data], 1)
            except ZMQError:
                pass  # a capture reader that falls behind loses copies, never the relay
        return True

    def _write(self, link: _Link, side: _Side) -> bool:
        if not side.out:
            return True
        try:
            n = side.sock.send(side.out)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as exc:
            self._close_link(link, f"write failed: {exc}")
            return False
        del side.out[:n]
        return True

    def _update(self, link: _Link) -> None:
        """Pass EOFs on, close a finished link, and set what each side waits for."""
        if link.closed:
            return
        if not link.connecting:
            for src, dst in ((link.front, link.back), (link.back, link.front)):
                if src.eof and not dst.out and not dst.shut:
                    dst.shut = True
                    try:
                        dst.sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
            if link.front.eof and link.back.eof and not link.front.out and not link.back.out:
                self._close_link(link, "both sides finished")
                return
        limit = self.buffer_size
        if link.connecting:
            want_front = 0
            want_back = _READ if link.preamble is not None else _WRITE
        else:
            want_front = (_READ if not link.front.eof and len(link.back.out) < limit else 0) | (
                _WRITE if link.front.out else 0
            )
            want_back = (_READ if not link.back.eof and len(link.front.out) < limit else 0) | (
                _WRITE if link.back.out else 0
            )
        self._register(link.front, want_front)
        self._register(link.back, want_back)

    def _register(self, side: _Side, mask: int) -> None:
        if mask == side.registered:
            return
        if side.registered and mask:
            self._sel.modify(side.sock, mask)
        elif mask:
            self._sel.register(side.sock, mask)
        else:
            self._sel.unregister(side.sock)
        side.registered = mask

    def _close_link(self, link: _Link, reason: str, warn: bool = False) -> None:
        if link.closed:
            return
        link.closed = True
        (log.warning if warn else log.debug)(
            "vmzmq: relay: connection %d closed: %s", link.id, reason
        )
        for side in (link.front, link.back):
            self._links.pop(side.fd, None)
            if side.registered:
                try:
                    self._sel.unregister(side.sock)
                except (KeyError, ValueError):
                    pass
                side.registered = 0
            try:
                side.sock.close()
            except OSError:
                pass

    def _next_deadline(self) -> float | None:
        pending = [link.deadline for link, _s in self._links.values() if link.connecting]
        if not pending:
            return None
        return max(0.0, min(pending) - time.monotonic())

    def _expire(self) -> None:
        now = time.monotonic()
        for link, _side in list(self._links.values()):
            if link.connecting and link.deadline <= now:
                self._close_link(link, f"connecting to {self.backend} timed out", warn=True)


def _parse(endpoint: str, *, bind: bool) -> tuple[Any, Any]:
    scheme, address = split_endpoint(endpoint)
    transport = get_transport(scheme)
    if transport is None:
        raise with_detail(
            errno.EPROTONOSUPPORT,
            f"endpoint '{endpoint}': a byte relay needs a stream transport "
            "(tcp, ipc, vmci), not inproc",
        )
    if not transport.available():
        raise with_detail(
            errno.EPROTONOSUPPORT, f"endpoint '{endpoint}': transport '{scheme}' is not usable here"
        )
    if bind:
        return transport, transport.parse_bind(scheme, address)
    return transport, transport.parse_connect(scheme, address)


__all__ = ["StreamRelay"]
