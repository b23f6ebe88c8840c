"""pyzmq's ``zmq.sugar.socket``: the Socket class (vmzmq's, from :mod:`vmzmq.socket`)."""

from __future__ import annotations

from ..socket import Socket

#: pyzmq's name for the synchronous socket class (as opposed to asyncio's).
SyncSocket = Socket

__all__ = ["Socket", "SyncSocket"]
