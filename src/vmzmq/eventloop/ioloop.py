"""pyzmq's ``zmq.eventloop.ioloop``, deprecated there since pyzmq 17: tornado's own IOLoop
needs no help to run vmzmq sockets (through :class:`~vmzmq.eventloop.zmqstream.ZMQStream`
or :mod:`vmzmq.asyncio`). Kept so that old code imports and runs: it is ``tornado.ioloop``
plus ``ZMQIOLoop`` (tornado's ``IOLoop``) and an ``install()`` that does nothing.
Importing it warns (DeprecationWarning), as in pyzmq.
"""

from __future__ import annotations

import warnings

from tornado.ioloop import *  # noqa: F403
from tornado.ioloop import IOLoop

_MESSAGE = (
    "vmzmq.eventloop.ioloop is deprecated, as pyzmq's zmq.eventloop.ioloop: "
    "use tornado.ioloop.IOLoop itself"
)

warnings.warn(_MESSAGE, DeprecationWarning, stacklevel=2)

#: The loop class old code asked for; tornado's IOLoop runs vmzmq sockets as it is.
ZMQIOLoop = IOLoop


def install() -> None:
    """Does nothing but warn: tornado's default IOLoop already runs vmzmq sockets."""
    warnings.warn(_MESSAGE, DeprecationWarning, stacklevel=2)
