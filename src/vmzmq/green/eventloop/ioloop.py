"""pyzmq's ``zmq.green.eventloop.ioloop``: :mod:`vmzmq.eventloop.ioloop` (deprecated)."""

from __future__ import annotations

from ...eventloop.ioloop import *  # noqa: F403
from ...eventloop.ioloop import IOLoop as IOLoop
from ...eventloop.ioloop import ZMQIOLoop as ZMQIOLoop
from ...eventloop.ioloop import install as install
