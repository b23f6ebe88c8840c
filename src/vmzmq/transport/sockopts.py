"""Kernel socket options that more than one stream transport applies."""

from __future__ import annotations

import socket
from typing import Any


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
