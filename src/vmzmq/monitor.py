"""Socket monitoring: events published in libzmq's wire format on a PAIR socket.

``Socket.monitor(addr, events)`` creates a :class:`SocketMonitor`: a PAIR socket bound to
``addr`` (``inproc://`` only, as in libzmq) on which each event is a two-frame message:

* frame 1, 6 bytes: the event id (native-endian uint16) then its value (native-endian int32);
* frame 2: the endpoint the event concerns (no trailing NUL).

The engine reports events by name (``core.event("CONNECTED", fd, endpoint)``); the ids and the
meaning of the values are libzmq's (``vmzmq.Event``): a file descriptor for CONNECTED,
ACCEPTED, LISTENING, CLOSED and DISCONNECTED, an errno for BIND_FAILED and ACCEPT_FAILED, the
reconnect interval in ms for CONNECT_RETRIED, a ``PROTOCOL_ERROR_*`` code for
HANDSHAKE_FAILED_PROTOCOL. Events nobody reads are dropped, as libzmq does (the PAIR socket
never blocks the engine).
"""

from __future__ import annotations

import errno
import logging
import struct
from typing import TYPE_CHECKING

from . import _native
from .constants import Event
from .error import ZMQError, with_detail

if TYPE_CHECKING:
    from .socket import Socket

log = logging.getLogger("vmzmq")

_HEAD = struct.Struct("=Hi")
#: Event name -> libzmq id: the single-bit events that fit the 16-bit id of the wire format.
EVENT_IDS: dict[str, int] = {
    member.name: int(member) for member in Event if member.name and int(member) <= 0xFFFF
}
MONITOR_STOPPED = int(Event.MONITOR_STOPPED)


def pack_event(event_id: int, value: int, endpoint: str | bytes) -> list[bytes]:
    """The two frames of one monitor event, as libzmq sends them."""
    value = int(value) & 0xFFFFFFFF  # libzmq's value is a uint32 sent as is; read as int32
    if value >= 2**31:
        value -= 2**32
    if isinstance(endpoint, str):
        endpoint = endpoint.encode("utf-8", "surrogateescape")
    return [_HEAD.pack(event_id, value), bytes(endpoint)]


class SocketMonitor:
    """Binds a PAIR socket to ``addr`` and publishes the monitored socket's events on it."""

    def __init__(self, socket: Socket, addr: str, events: int) -> None:
        scheme = addr.partition("://")[0]
        if scheme != "inproc":
            # libzmq monitors over inproc only; refusing here keeps programs portable to it.
            raise with_detail(
                errno.EPROTONOSUPPORT,
                f"monitor endpoint {addr!r}: socket monitors use inproc:// endpoints only",
            )
        self.events = int(events)
        self.addr = addr
        # The engine's I/O thread and the socket's own thread (bind, close) both emit.
        self._lock = _native.Lock()  # (a native lock even after gevent's patch_all)
        # A plain (blocking-API) socket whatever the context's default class: the I/O thread
        # emits on it, and an asyncio socket would want an event loop there.
        from .socket import Socket

        pair = socket.context.socket(0, socket_class=Socket)  # PAIR
        pair.linger = 0
        try:
            pair.bind(addr)
        except ZMQError:
            pair.close(linger=0)
            raise
        self.pair = pair
        self.core = socket._core
        self.core.monitor = self.emit

    def emit(self, name: str, value: int, endpoint: str) -> None:
        """Called by the engine (any thread) for each event."""
        event_id = EVENT_IDS.get(name)
        if event_id is None:
            log.debug("vmzmq: monitor: unknown event %r ignored", name)
            return
        if not event_id & self.events:
            return
        with self._lock:
            self._send(event_id, value, endpoint)

    def _send(self, event_id: int, value: int, endpoint: str) -> None:
        if self.pair.closed:
            return
        try:
            self.pair.send_multipart(pack_event(event_id, value, endpoint), 1)  # DONTWAIT
        except ZMQError:
            pass  # nobody connected yet, or the reader fell behind: dropped, as in libzmq

    def stop(self) -> None:
        """Stop monitoring: send MONITOR_STOPPED (if selected) and close the PAIR socket.

        Messages already sent stay readable by the connected peer."""
        if self.core.monitor == self.emit:
            self.core.monitor = None
        with self._lock:
            if self.pair.closed:
                return
            if self.events & MONITOR_STOPPED:
                self._send(MONITOR_STOPPED, 0, "")
            self.pair.close(linger=0)


__all__ = ["EVENT_IDS", "SocketMonitor", "pack_event"]
