"""pyzmq's ``zmq.sugar.context``: the Context class (vmzmq's, from :mod:`vmzmq.context`)."""

from __future__ import annotations

from ..context import Context

#: pyzmq's name for the synchronous context class (as opposed to asyncio's).
SyncContext = Context

__all__ = ["Context", "SyncContext"]
