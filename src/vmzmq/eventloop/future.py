"""pyzmq's ``zmq.eventloop.future``: sockets whose send/recv/poll return futures, for tornado
coroutines.

Since tornado 5 the IOLoop runs on asyncio and ``tornado.concurrent.Future`` is
``asyncio.Future``, so these are the :mod:`vmzmq.asyncio` classes under this module's names
(with a ``Context.instance()`` of their own): ``await sock.recv()`` in a coroutine run by
tornado's loop works as in any asyncio program, with :mod:`vmzmq.asyncio`'s guarantees (a
cancelled recv loses no message).

One difference from pyzmq: a cancelled future here is an asyncio one, which raises
``asyncio.CancelledError`` when awaited; pyzmq's tornado futures raise their own
``CancelledError`` (an ``Exception``) instead. ``CancelledError`` below is asyncio's, so that
``except future.CancelledError`` catches it.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from .. import asyncio as _aio

__all__ = ["CancelledError", "Context", "Poller", "Socket"]

CancelledError = asyncio.CancelledError


class Socket(_aio.Socket):
    """A :class:`vmzmq.asyncio.Socket`: send/recv/poll return futures."""

    __slots__ = ()


class Poller(_aio.Poller):
    """A :class:`vmzmq.asyncio.Poller`: ``poll()`` returns a future."""


Poller._socket_class = Socket  # type: ignore[attr-defined]


class Context(_aio.Context):
    """A context whose sockets are this module's :class:`Socket`. ``io_loop=`` is accepted
    and ignored with a DeprecationWarning, as in pyzmq: the running loop is always used."""

    _socket_class = Socket
    _instance: Context | None = None  # not shared with vmzmq.asyncio's or vmzmq's
    _instance_pid: int | None = None

    def __init__(self, *args: Any, io_loop: Any = None, **kwargs: Any) -> None:
        if io_loop is not None:
            warnings.warn(
                f"{type(self).__name__}(io_loop=) is deprecated (as in pyzmq): the running "
                "loop is always used",
                DeprecationWarning,
                stacklevel=2,
            )
        super().__init__(*args, **kwargs)
