"""``monitored_queue``: a two-way queue that copies every message, prefixed by its direction,
to a monitor socket, as pyzmq's ``zmq.devices.monitoredqueue``."""

from __future__ import annotations

from ..constants import POLLIN, ROUTER
from ..error import Again
from ..poll import Poller
from ..proxy import sync_socket
from ..socket import Socket

DONTWAIT = 1
_BURST = 1000  # messages per side per wake-up, so one busy side cannot starve the other


def _relay(src: Socket, dst: Socket, mon: Socket, prefix: bytes, swap_ids: bool) -> None:
    for _ in range(_BURST):
        try:
            msg = src.recv_multipart(DONTWAIT)
        except Again:
            return  # this side is drained
        if swap_ids and len(msg) >= 2:
            # ROUTER to ROUTER: the first frame names the sender on the way in and must name
            # the recipient on the way out, so the first two frames trade places.
            msg[0], msg[1] = msg[1], msg[0]
        dst.send_multipart(msg)
        mon.send_multipart([prefix, *msg])


def monitored_queue(
    in_socket: Socket,
    out_socket: Socket,
    mon_socket: Socket,
    in_prefix: bytes = b"in",
    out_prefix: bytes = b"out",
) -> None:
    """Relay messages both ways between ``in_socket`` and ``out_socket``, sending each also to
    ``mon_socket`` as ``[in_prefix or out_prefix, *message]``. Runs until the context is
    terminated (:class:`vmzmq.ContextTerminated`). ROUTER on both sides is supported."""
    in_socket, out_socket, mon_socket = (
        sync_socket(in_socket),
        sync_socket(out_socket),
        sync_socket(mon_socket),
    )
    swap_ids = in_socket.socket_type == ROUTER and out_socket.socket_type == ROUTER
    poller = Poller()
    poller.register(in_socket, POLLIN)
    poller.register(out_socket, POLLIN)
    while True:
        ready = dict(poller.poll())
        if in_socket in ready:
            _relay(in_socket, out_socket, mon_socket, in_prefix, swap_ids)
        if out_socket in ready:
            _relay(out_socket, in_socket, mon_socket, out_prefix, swap_ids)


__all__ = ["monitored_queue"]
