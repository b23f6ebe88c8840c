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
