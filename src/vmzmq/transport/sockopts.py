"""Kernel socket options and listening sockets that more than one stream transport handles."""

from __future__ import annotations

import errno
import socket
from typing import Any

from .. import _native
from ..error import with_detail


def apply_buffer_sizes(sock: socket.socket, opts: Any) -> None:
    """ZMQ_SNDBUF/ZMQ_RCVBUF as SO_SNDBUF/SO_RCVBUF when set (-1 leaves the OS default)."""
    sndbuf = getattr(opts, "sndbuf", -1)
    if sndbuf is not None and sndbuf >= 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    rcvbuf = getattr(opts, "rcvbuf", -1)
    if rcvbuf is not None and rcvbuf >= 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)


def raise_send_buffer(sock: socket.socket, size: int) -> None:
    """SO_SNDBUF to ``size`` unless it is already larger (the kernel reports twice what was
    set; an administrator may have made the default larger still)."""
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < 2 * size:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


# ZMQ_USE_FD: descriptors adopted by a listener, which owns (and finally closes) each.
_adopted: set[int] = set()
_adopted_lock = _native.Lock()


def use_fd(opts: Any) -> int:
    """ZMQ_USE_FD: the listening descriptor a bind should adopt, or -1 to make its own."""
    fd = getattr(opts, "use_fd", -1)
    return -1 if fd is None or fd < 0 else int(fd)


def adopt_listener(fd: int, families: tuple[int, ...], endpoint: str) -> socket.socket:
    """The listening stream socket ``fd`` (ZMQ_USE_FD) as a non-blocking socket object that
    owns it: unlisten closes it, as libzmq does. The application made, bound and listened on
    it (socket activation, a privileged parent); the address given to bind is not used.

    EINVAL, leaving ``fd`` open, when it is not a listening stream socket of one of
    ``families``; EBADF when it is not open; EADDRINUSE when another bind adopted it.
    """
    with _adopted_lock:
        if fd in _adopted:
            raise with_detail(
                errno.EADDRINUSE, f"USE_FD {fd} for '{endpoint}' is already used by another bind"
            )
        try:
            sock = _native.socket(fileno=fd)
        except OSError as exc:
            raise with_detail(
                exc.errno or errno.EBADF, f"USE_FD {fd} for '{endpoint}' is not an open socket"
            ) from None
        try:
            listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        except OSError:
            listening = 0
        if sock.family not in families or sock.type != socket.SOCK_STREAM or not listening:
            sock.detach()  # the application's descriptor: leave it open
            kinds = "/".join(socket.AddressFamily(f).name for f in families)
            raise with_detail(
                errno.EINVAL,
                f"USE_FD {fd} for '{endpoint}' is not a listening {kinds} stream socket",
            )
        sock.setblocking(False)
        _adopted.add(fd)
    return sock


def release_listener(sock: socket.socket) -> None:
    """Forget an adopted descriptor (before its socket is closed)."""
    with _adopted_lock:
        _adopted.discard(sock.fileno())
