"""pyzmq's ``zmq.green.eventloop``: the tornado integration of :mod:`vmzmq.eventloop` for
programs that import ``vmzmq.green as zmq``. Needs tornado as well as gevent.

A ZMQStream only ever makes non-blocking calls, so it runs green sockets as it runs any
other; tornado's loop itself is not made cooperative by this.
"""

from __future__ import annotations

from ...eventloop import IOLoop

__all__ = ["IOLoop"]
