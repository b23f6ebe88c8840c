"""The built-in proxy: ``proxy``, ``proxy_steerable`` and ``device``, as libzmq 4.3.5 has them.

The proxy moves whole messages between a frontend and a backend socket, in both directions,
in the calling thread, until the context is terminated (:class:`vmzmq.ContextTerminated`, as
libzmq's proxy returns ETERM) or, for :func:`proxy_steerable`, TERMINATE arrives on the
control socket.

As libzmq's, it respects the high-water marks: a message is read from one side only while the
other side can take it, so a slow consumer holds messages back in the producer's queues instead
of growing the proxy's. It sleeps in :class:`vmzmq.Poller` when there is nothing to do.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from .constants import POLLIN, POLLOUT, PULL, ROUTER, SUB, XSUB
from .error import Again
from .poll import Poller
from .socket import Socket

log = logging.getLogger("vmzmq")

DONTWAIT = 1

#: Messages moved per wake-up before looking at the other direction and the control socket
#: (libzmq's proxy_burst_size).
BURST = 1000

_U64 = struct.Struct("=Q")  # libzmq copies the native uint64_t into each statistics frame
_CANNOT_REPLY = frozenset({int(SUB), int(XSUB), int(PULL)})


class _Stats:
    """libzmq 4.3.5's counters: each frame counts as one message."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        # frontend: received n, bytes; sent n, bytes; then the same for the backend
        self.values = [0] * 8

    def frames(self) -> list[bytes]:
        return [_U64.pack(v) for v in self.values]


def _events(sock: Socket) -> int:
    # The socket's state without draining its wake-up fd (which the Poller relies on).
    return sock._events()


def _forward(
    src: Socket,
    dst: Socket,
    capture: Socket | None,
    stats: _Stats,
    recv_at: int,
    send_at: int,
    check_room: bool,
) -> bool:
    """Move up to BURST whole messages from src to dst; True if any moved."""
    values = stats.values
    moved = False
    for i in range(BURST):
        if i and check_room and not _events(dst) & POLLOUT:
            break  # dst is full: the rest waits in src, not in this loop
        try:
            msg = src.recv_multipart(DONTWAIT)
        except Again:
            break
        size = 0
        for frame in msg:
            size += len(frame)
        n = len(msg)
        values[recv_at] += n
        values[recv_at + 1] += size
        if capture is not None:
            capture.send_multipart(msg)
        dst.send_multipart(msg)
        values[send_at] += n
        values[send_at + 1] += size
        moved = True
    return moved


def _control(control: Socket, stats: _Stats) -> str | None:
    """Handle one pending command; returns the new state ("active", "paused", "terminated"),
    or None if there was no command or it did not change the state."""
    try:
        frames = control.recv_multipart(DONTWAIT)
    except Again:
        return None
    kind = int(control.socket_type)
    envelope: list[bytes] = []
    if kind == ROUTER:
        envelope, frames = frames[:-1], frames[-1:]
    command = bytes(frames[0]) if frames else b""
    state = None
    if command == b"STATISTICS":
        if kind not in _CANNOT_REPLY:
            control.send_multipart(envelope + stats.frames())
        return None
    if command == b"PAUSE":
        state = "paused"
    elif command == b"RESUME":
        state = "active"
    elif command == b"TERMINATE":
        state = "terminated"
    else:
        # libzmq 4.3.5 ignores it too (older releases asserted); say so.
        log.warning("vmzmq: proxy: ignoring unknown control command %r", command[:32])
    if kind not in _CANNOT_REPLY:
        # libzmq 4.3.5 answers every other command with an empty frame (a REP must reply).
        control.send_multipart([*envelope, b""])
    return state


def _run(
    frontend: Socket,
    backend: Socket,
    capture: Socket | None,
    control: Socket | None,
    poller: Any = None,
) -> int:
    """The proxy loop; ``poller`` is a fresh Poller to wait in (vmzmq.green passes its own,
    with green views of the sockets, whose cores are the sockets')."""
    same = frontend._core is backend._core
    stats = _Stats()
    state = "active"
    if poller is None:
        poller = Poller()
    registered: dict[Socket, int] = {}

    def want(sock: Socket, flags: int) -> None:
        if registered.get(sock, 0) != flags:
            poller.register(sock, flags)  # flags 0 unregisters
            registered[sock] = flags

    while True:
        if control is not None:
            while True:
                new = _control(control, stats)
                if new == "terminated":
                    return 0
                if new is not None:
                    state = new
                elif not _events(control) & POLLIN:
                    break
        fe_flags = be_flags = 0
        if state == "active":
            ev_f = _events(frontend)
            ev_b = ev_f if same else _events(backend)
            fe_in = bool(ev_f & POLLIN)
            be_in = not same and bool(ev_b & POLLIN)
            moved = False
            if fe_in and (same or ev_b & POLLOUT):
                fe_in = _forward(frontend, backend, capture, stats, 0, 6, not same)
                moved = fe_in
            if be_in and ev_f & POLLOUT:
                be_in = _forward(backend, frontend, capture, stats, 4, 2, True)
                moved |= be_in
            if moved:
                continue
            # Nothing moved: wait for input on a side whose peer side has room, or for room
            # on a side whose peer side has input waiting.
            if same:
                fe_flags = POLLIN
            else:
                if fe_in:
                    be_flags |= POLLOUT
                else:
                    fe_flags |= POLLIN
                if be_in:
                    fe_flags |= POLLOUT
                else:
                    be_flags |= POLLIN
        if control is not None:
            want(control, POLLIN)
        elif state != "active":
            return 0  # cannot happen: only a control socket pauses
        if same:
            want(frontend, fe_flags)
        else:
            want(frontend, fe_flags)
            want(backend, be_flags)
        poller.poll()  # ContextTerminated ends the proxy, as ETERM ends libzmq's


def proxy(frontend: Socket, backend: Socket, capture: Socket | None = None) -> None:
    """Move messages between ``frontend`` and ``backend`` (both ways) until the context is
    terminated, which raises :class:`vmzmq.ContextTerminated`. Every message is also sent
    to ``capture`` if given (typically a PUB socket)."""
    frontend, backend, capture, _ = _check(frontend, backend, capture, None)
    _run(frontend, backend, capture, None)


def proxy_steerable(
    frontend: Socket, backend: Socket, capture: Socket | None = None, control: Socket | None = None
) -> int:
    """:func:`proxy` steered by commands on ``control``: PAUSE, RESUME, TERMINATE (the proxy
    returns 0) and STATISTICS (the reply is 8 native uint64 frames: frontend messages and
    bytes received, then sent, then the same for the backend; each frame counts as one
    message, as in libzmq 4.3.5). Other commands are answered with an empty frame (a REP
    socket must reply) by control sockets that can send."""
    frontend, backend, capture, control = _check(frontend, backend, capture, control)
    return _run(frontend, backend, capture, control)


def device(device_type: int, frontend: Socket, backend: Socket) -> None:
    """libzmq's legacy ``zmq_device``: a :func:`proxy` (``device_type`` is not used)."""
    proxy(frontend, backend)


class _SyncView(Socket):
    """The blocking API over another socket's state (an asyncio socket's, whose own methods
    return futures); it never closes the socket it views."""

    def __init__(self, sock: Socket) -> None:
        object.__setattr__(self, "__dict__", sock.__dict__)

    def __del__(self) -> None:
        pass


def sync_socket(sock: Any) -> Any:
    """``sock`` itself, or a blocking view of it if it is a vmzmq.asyncio socket."""
    if isinstance(sock, Socket) and type(sock).recv_multipart is not Socket.recv_multipart:
        return _SyncView(sock)
    return sock


def _check(*socks: Any) -> list[Any]:
    out = []
    for i, sock in enumerate(socks):
        if sock is None and i >= 2:
            out.append(None)
            continue
        if not isinstance(sock, Socket):
            what = ("frontend", "backend", "capture", "control")[i]
            raise TypeError(f"proxy {what} must be a vmzmq socket, got {type(sock).__name__}")
        sock._check_open()
        out.append(sync_socket(sock))
    return out


__all__ = ["device", "proxy", "proxy_steerable"]
