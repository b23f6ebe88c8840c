"""gevent-cooperative ``proxy``, ``proxy_steerable`` and ``device`` (see :mod:`vmzmq.green`).

The same proxy as :mod:`vmzmq.proxy` (high-water marks respected, libzmq's control commands
and statistics), run in the calling greenlet: it sleeps in the green :class:`Poller`, and the
sockets are driven through green views, so a send that must wait for room (a capture socket
at its high-water mark) also blocks only this greenlet.
"""

from __future__ import annotations

from typing import Any

from ..constants import POLLIN, POLLOUT
from ..proxy import _control, _events, _forward, _Stats
from ..socket import Socket as _SyncSocket
from .core import Socket
from .poll import Poller

__all__ = ["device", "proxy", "proxy_steerable"]


class _GreenView(Socket):
    """The green API over another vmzmq socket's state; it never closes that socket."""

    def __init__(self, sock: _SyncSocket) -> None:
        object.__setattr__(self, "__dict__", sock.__dict__)

    def __del__(self) -> None:
        pass


def green_socket(sock: Any) -> Socket:
    """``sock`` if it is green already, else a green view of the vmzmq socket ``sock``."""
    if type(sock) is Socket or isinstance(sock, _GreenView):
        return sock
    if isinstance(sock, Socket) and type(sock).recv_multipart is Socket.recv_multipart:
        return sock  # a subclass that keeps the green methods
    return _GreenView(sock)


def _check(*socks: Any) -> list[Any]:
    out = []
    for i, sock in enumerate(socks):
        if sock is None and i >= 2:
            out.append(None)
            continue
        if not isinstance(sock, _SyncSocket):
            what = ("frontend", "backend", "capture", "control")[i]
            raise TypeError(f"proxy {what} must be a vmzmq socket, got {type(sock).__name__}")
        sock._check_open()
        out.append(green_socket(sock))
    return out


def _run(frontend: Socket, backend: Socket, capture: Socket | None, control: Socket | None) -> int:
    # The loop of vmzmq.proxy._run, with a green Poller: move whole messages while the other
    # side has room, else wait for input on a side whose peer has room, or for room on a
    # side whose peer has input.
    same = frontend._core is backend._core
    stats = _Stats()
    active = True
    poller = Poller()
    registered: dict[Any, int] = {}

    def want(sock: Socket, flags: int) -> None:
        if registered.get(sock, 0) != flags:
            poller.register(sock, flags)  # flags 0 unregisters
            registered[sock] = flags

    while True:
        if control is not None:
            while True:
                state = _control(control, stats)
                if state == "terminated":
                    return 0
                if state is not None:
                    active = state == "active"
                elif not _events(control) & POLLIN:
                    break
        fe_flags = be_flags = 0
        if active:
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
            if same:
                fe_flags = POLLIN
            else:
                fe_flags = (POLLOUT if be_in else 0) | (0 if fe_in else POLLIN)
                be_flags = (POLLOUT if fe_in else 0) | (0 if be_in else POLLIN)
        if control is not None:
            want(control, POLLIN)
        want(frontend, fe_flags)
        if not same:
            want(backend, be_flags)
        poller.poll()  # ContextTerminated ends the proxy, as ETERM ends libzmq's


def proxy(frontend: Any, backend: Any, capture: Any = None) -> None:
    """:func:`vmzmq.proxy` in the calling greenlet: moves messages between ``frontend`` and
    ``backend`` (both ways, copying each to ``capture`` if given) until the context is
    terminated, which raises :class:`vmzmq.ContextTerminated`."""
    frontend, backend, capture, _ = _check(frontend, backend, capture, None)
    _run(frontend, backend, capture, None)


def proxy_steerable(frontend: Any, backend: Any, capture: Any = None, control: Any = None) -> int:
    """:func:`vmzmq.proxy_steerable` in the calling greenlet: PAUSE, RESUME, TERMINATE
    (returns 0) and STATISTICS on ``control``."""
    frontend, backend, capture, control = _check(frontend, backend, capture, control)
    return _run(frontend, backend, capture, control)


def device(device_type: int, frontend: Any, backend: Any) -> None:
    """libzmq's legacy ``zmq_device`` in the calling greenlet: a :func:`proxy`
    (``device_type`` is not used). Returns only by raising ContextTerminated."""
    proxy(frontend, backend)
