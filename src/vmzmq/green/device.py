"""gevent-cooperative ``proxy``, ``proxy_steerable`` and ``device`` (see :mod:`vmzmq.green`).

The same proxy as :mod:`vmzmq.proxy` (high-water marks respected, libzmq's control commands
and statistics), run in the calling greenlet: it sleeps in the green :class:`Poller`, and the
sockets are driven through green views, so a send that must wait for room (a capture socket
at its high-water mark) also blocks only this greenlet.
"""

from __future__ import annotations

from typing import Any

from ..proxy import _run as _proxy_run
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
    # vmzmq.proxy's loop, waiting in the green Poller on the green views.
    return _proxy_run(frontend, backend, capture, control, Poller())


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
