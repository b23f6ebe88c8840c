"""pyzmq's ``zmq.utils.garbage``: the collector that pyzmq's zero-copy sends rely on.

In pyzmq, a zero-copy send lends a Python object's memory to libzmq, which frees messages
from its own threads and cannot touch Python objects there. So pyzmq keeps each lent object
in ``GarbageCollector.refs`` and runs a thread that drops the reference when libzmq says,
over an inproc socket, that it has let go of the memory.

vmzmq lends memory to nobody: its engine holds ordinary references to ``bytes`` objects,
and Python frees each one as soon as the last reference goes, in whichever thread drops it.
There is nothing to hand back, so this collector never needs its thread: ``store()`` keeps
nothing (``refs`` stays empty) and sets the event it is given at once, ``start()`` and
``stop()`` do nothing, and ``is_alive()`` is False. What a tracker of a vmzmq send watches
instead is described in :mod:`vmzmq.frame`.
"""

from __future__ import annotations

import threading
from typing import Any, Final, NamedTuple

__all__ = ["GarbageCollector", "gc", "gcref"]


class gcref(NamedTuple):  # noqa: N801 - pyzmq's name
    obj: object
    event: threading.Event | None


class GarbageCollector:
    """pyzmq's collector API; see the module docstring for why it has nothing to collect."""

    url = "inproc://pyzmq.gc.01"

    def __init__(self, context: Any = None) -> None:
        self.refs: dict[int, gcref] = {}
        self.pid: int | None = None
        self.thread: threading.Thread | None = None
        self._context = context
        self._lock = threading.Lock()
        self._stay_down = False

    @property
    def context(self) -> Any:
        """The context the collector would use (made on first use, as pyzmq's)."""
        if self._context is None:
            from ..context import Context

            self._context = Context()
        return self._context

    @context.setter
    def context(self, ctx: Any) -> None:
        self._context = ctx

    def store(self, obj: object, event: threading.Event | None = None) -> int:
        """Take charge of ``obj`` until vmzmq is done with it: at once, since vmzmq's
        engine holds its own references. Sets ``event``; returns a key, as pyzmq's."""
        if event is not None:
            event.set()
        return id(obj)

    def start(self) -> None:
        """Nothing to start: no reference ever waits for a release from another thread."""

    def stop(self) -> None:
        """Nothing to stop."""

    def is_alive(self) -> bool:
        """Whether the collector's thread runs: never."""
        return False


#: The process's collector, as ``zmq.utils.garbage.gc``.
gc: Final = GarbageCollector()
