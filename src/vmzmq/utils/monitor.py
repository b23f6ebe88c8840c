"""Reading socket monitor messages, as pyzmq's ``zmq.utils.monitor``.

``sock.get_monitor_socket()`` returns a PAIR socket; each event on it is two frames (6 bytes:
native uint16 event id + int32 value, then the endpoint). :func:`recv_monitor_message` reads
and decodes one; :func:`describe_event` renders one for people.
"""

from __future__ import annotations

import errno as _errno
import os
import struct
from collections.abc import Awaitable, Sequence
from typing import Any, TypedDict

from ..constants import Event

_HEAD = struct.Struct("=Hi")

#: Events whose value is a file descriptor, an errno, or a reconnect interval (libzmq's meaning).
FD_EVENTS = frozenset(
    {Event.CONNECTED, Event.LISTENING, Event.ACCEPTED, Event.CLOSED, Event.DISCONNECTED}
)
ERRNO_EVENTS = frozenset(
    {
        Event.CONNECT_DELAYED,
        Event.BIND_FAILED,
        Event.ACCEPT_FAILED,
        Event.CLOSE_FAILED,
        Event.HANDSHAKE_FAILED_NO_DETAIL,
    }
)


class MonitorMessage(TypedDict):
    event: Event
    value: int
    endpoint: bytes


def parse_monitor_message(msg: Sequence[Any]) -> MonitorMessage:
    """Decode the two frames of a monitor event into ``{"event", "value", "endpoint"}``.

    ``event`` is a :class:`vmzmq.Event`, ``value`` an int (fd, errno, interval or protocol
    error code, by event), ``endpoint`` bytes. RuntimeError for anything else.
    """
    if len(msg) != 2:
        raise RuntimeError(f"Invalid event message format: {list(msg)!r}")
    head = bytes(msg[0])
    if len(head) != _HEAD.size:
        raise RuntimeError(f"Invalid event message format: {list(msg)!r}")
    event_id, value = _HEAD.unpack(head)
    return {"event": Event(event_id), "value": value, "endpoint": bytes(msg[1])}


async def _parse_when_received(pending: Awaitable[list]) -> MonitorMessage:
    return parse_monitor_message(await pending)


def recv_monitor_message(socket: Any, flags: int = 0) -> Any:
    """Receive and decode one monitor event from ``socket`` (a monitor PAIR socket).

    With a :mod:`vmzmq.asyncio` socket this returns an awaitable for the decoded event.
    """
    msg = socket.recv_multipart(flags)
    if isinstance(msg, Awaitable):
        return _parse_when_received(msg)
    return parse_monitor_message(msg)


def describe_value(event: int, value: int) -> str:
    """The value of an event in words: ``fd 7``, ``ECONNREFUSED (Connection refused)``..."""
    event = Event(event)
    if event in FD_EVENTS:
        return f"fd {value}"
    if event in ERRNO_EVENTS:
        if value == 0:
            return "0"
        name = _errno.errorcode.get(value, str(value))
        return f"{name} ({os.strerror(value)})"
    if event == Event.CONNECT_RETRIED:
        return f"retry in {value} ms"
    if event == Event.HANDSHAKE_FAILED_PROTOCOL:
        code = value & 0xFFFFFFFF
        try:
            name = Event(code).name
        except ValueError:
            name = None
        return name or f"{code:#x}"
    return str(value)


def describe_event(message: MonitorMessage) -> str:
    """One line for people: ``CONNECTED fd 7 tcp://127.0.0.1:5555``."""
    event = message["event"]
    name = event.name or f"{int(event):#x}"
    value = describe_value(event, message["value"])
    endpoint = message["endpoint"].decode("utf-8", "replace")
    return " ".join(part for part in (name, value, endpoint) if part)


__all__ = [
    "MonitorMessage",
    "describe_event",
    "describe_value",
    "parse_monitor_message",
    "recv_monitor_message",
]
