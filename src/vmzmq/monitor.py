"""Socket monitoring: events published in libzmq's wire format on a PAIR socket."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .constants import Event

if TYPE_CHECKING:
    from .socket import Socket

_IDS = {member.name: int(member) for member in Event}


class SocketMonitor:
    """Binds a PAIR socket to ``addr`` and sends each event as two frames: 6 bytes (native
    uint16 event id + int32 value) then the endpoint, exactly as libzmq does."""

    def __init__(self, socket: Socket, addr: str, events: int) -> None:
        self.events = events
        self.pair = socket.context.socket(0)
        self.pair.linger = 0
        self.pair.bind(addr)
        self.core = socket._core
        self.core.monitor = self.emit

    def emit(self, name: str, value: int, endpoint: str) -> None:
        event_id = _IDS.get(name, 0)
        if not event_id & self.events or self.pair.closed:
            return
        self._send(event_id, value, endpoint)

    def _send(self, event_id: int, value: int, endpoint: str) -> None:
        head = struct.pack("=Hi", event_id, value if value < 2**31 else value - 2**32)
        try:
            self.pair.send_multipart([head, endpoint.encode()], 1)
        except Exception:
            pass  # nobody listening (HWM reached): events are dropped as in libzmq

    def stop(self) -> None:
        if self.core.monitor == self.emit:
            self.core.monitor = None
        if not self.pair.closed:
            if self.events & _IDS.get("MONITOR_STOPPED", 0x400):
                self._send(_IDS.get("MONITOR_STOPPED", 0x400), 0, "")
            self.pair.close(linger=0)
