"""gevent-cooperative ``Poller`` and ``select`` (see :mod:`vmzmq.green`)."""

from __future__ import annotations

import errno
import select as _select
import time
from typing import Any

import gevent
from gevent.event import Event

from ..error import ETERM, with_detail
from ..poll import Poller as _SyncPoller
from ..socket import Socket as _SyncSocket
from .core import subscribe, unsubscribe

__all__ = ["Poller", "select"]

POLLIN = 1
POLLOUT = 2
POLLERR = 4

_READ = 1  # libev's EV_READ
_WRITE = 2  # libev's EV_WRITE


def _fileno(item: Any) -> int:
    if isinstance(item, int):
        return item
    try:
        return int(item.fileno())
    except AttributeError:
        raise TypeError(
            f"a Poller item must be a vmzmq socket, an fd or have fileno(): {item!r}"
        ) from None


class Poller(_SyncPoller):
    """``vmzmq.Poller`` whose ``poll`` blocks only the calling greenlet.

    Registers vmzmq sockets (green or not) and plain file descriptors or objects with
    ``fileno()``; plain items are reported by fd, as by ``vmzmq.Poller``.
    """

    def _ready(self, ours: list[tuple[Any, int]], theirs: list[tuple[int, int]]) -> list:
        """What is ready now. Sockets' wake-up fds are not drained here: the watchers that
        other greenlets may share do that (see vmzmq.green.core)."""
        ready: list[tuple[Any, int]] = []
        for sock, flags in ours:
            if sock._closed:
                raise with_detail(errno.ENOTSOCK, "a polled socket is closed")
            if sock._core.context.terminated:
                raise with_detail(ETERM, "the context was terminated")
            events = sock._events() & flags
            if events:
                ready.append((sock, events))
        if theirs:
            raw = _select.poll()
            wanted: dict[int, int] = {}
            for fd, flags in theirs:
                mask = 0
                if flags & POLLIN:
                    mask |= _select.POLLIN
                if flags & POLLOUT:
                    mask |= _select.POLLOUT
                raw.register(fd, mask)
                wanted[fd] = wanted.get(fd, 0) | flags
            for fd, got in raw.poll(0):
                events = 0
                if got & _select.POLLIN:
                    events |= POLLIN
                if got & _select.POLLOUT:
                    events |= POLLOUT
                if got & (_select.POLLERR | _select.POLLHUP | _select.POLLNVAL):
                    events |= POLLERR
                events &= wanted[fd] | POLLERR
                if events:
                    ready.append((fd, events))
        return ready

    def poll(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        """Wait up to ``timeout`` milliseconds (None or negative: forever); the hub runs
        other greenlets meanwhile. Returns a list of (socket or fd, events)."""
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout / 1000
        ours = [(s, f) for s, f in self.sockets if isinstance(s, _SyncSocket)]
        theirs = [(_fileno(s), f) for s, f in self.sockets if not isinstance(s, _SyncSocket)]
        ready = self._ready(ours, theirs)
        if ready or timeout == 0:
            return ready

        wakeup = Event()
        counted: list[Any] = []
        subscribed: list[tuple[Any, int]] = []
        watchers: list[Any] = []
        try:
            for sock, _flags in ours:
                signaler = sock._signaler
                signaler.waiters += 1  # before the next look: see Signaler.signal
                counted.append(signaler)
                subscribed.append((sock, signaler.fd))
                subscribe(sock, wakeup, wakeup.set)
            loop = gevent.get_hub().loop
            for fd, flags in theirs:
                mask = (_READ if flags & (POLLIN | POLLERR) else 0) | (
                    _WRITE if flags & POLLOUT else 0
                )
                watcher = loop.io(fd, mask)
                watchers.append(watcher)
                watcher.start(wakeup.set)
            while True:
                ready = self._ready(ours, theirs)
                if ready:
                    return ready
                if deadline is None:
                    wakeup.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return []
                    wakeup.wait(remaining)
                wakeup.clear()
        finally:
            for watcher in watchers:
                watcher.stop()
                watcher.close()
            for sock, fd in subscribed:
                unsubscribe(sock, wakeup, fd)
            for signaler in counted:
                signaler.waiters -= 1


def select(rlist: list, wlist: list, xlist: list, timeout: float | None = None) -> tuple:
    """``vmzmq.select`` that blocks only the calling greenlet; ``timeout`` in seconds."""
    poller = Poller()
    flags: dict[Any, int] = {}
    for item in rlist:
        flags[item] = flags.get(item, 0) | POLLIN
    for item in wlist:
        flags[item] = flags.get(item, 0) | POLLOUT
    for item in xlist:
        flags[item] = flags.get(item, 0) | POLLERR
    for item, f in flags.items():
        poller.register(item, f)
    ms = None if timeout is None or timeout < 0 else timeout * 1000
    ready = dict(poller.poll(ms))

    def key(item: Any) -> Any:
        return item if isinstance(item, _SyncSocket) else _fileno(item)

    return (
        [key(s) for s in rlist if ready.get(key(s), 0) & POLLIN],
        [key(s) for s in wlist if ready.get(key(s), 0) & POLLOUT],
        [key(s) for s in xlist if ready.get(key(s), 0) & POLLERR],
    )
