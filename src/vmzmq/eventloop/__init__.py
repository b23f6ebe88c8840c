"""tornado integration, as pyzmq's ``zmq.eventloop``: ``from vmzmq.eventloop import ioloop,
zmqstream``.

* :mod:`vmzmq.eventloop.zmqstream`: :class:`~vmzmq.eventloop.zmqstream.ZMQStream`, callbacks
  on a socket's messages run by a tornado ``IOLoop``;
* :mod:`vmzmq.eventloop.ioloop`: pyzmq's deprecated shim over ``tornado.ioloop``.

tornado 6 or later is needed for this package only (``import vmzmq`` never imports it).
For coroutines, :mod:`vmzmq.asyncio` works on tornado's loop as on any asyncio loop.
"""

from __future__ import annotations

try:
    import tornado
    from tornado.ioloop import IOLoop
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "vmzmq.eventloop needs tornado >= 6, which is not installed: pip install tornado"
    ) from _exc

if tornado.version_info < (6,):  # pragma: no cover
    raise ImportError(
        f"vmzmq.eventloop needs tornado >= 6, found {tornado.version}: pip install -U tornado"
    )

__all__ = ["IOLoop"]
