"""pyzmq's ``zmq.green.eventloop.zmqstream``: :class:`ZMQStream` on a green socket."""

from __future__ import annotations

from typing import Any

from tornado.ioloop import IOLoop

from ...eventloop import zmqstream as _zmqstream

__all__ = ["ZMQStream"]


class ZMQStream(_zmqstream.ZMQStream):
    """:class:`vmzmq.eventloop.zmqstream.ZMQStream`; ``io_loop`` defaults to
    ``IOLoop.current()`` (pyzmq's ``IOLoop.instance()``, a deprecated alias of it)."""

    def __init__(self, socket: Any, io_loop: IOLoop | None = None) -> None:
        super().__init__(socket, io_loop=io_loop or IOLoop.current())
