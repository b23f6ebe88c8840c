"""Poller and select(): wait on vmzmq sockets, plain file descriptors and Python sockets."""

from __future__ import annotations

import select as _select
import time
from typing import Any

from .error import ETERM, with_detail
from .socket import Socket

POLLIN = 1
POLLOUT = 2
POLLERR = 4

_TO_OS = {POLLIN: _select.POLLIN, POLLOUT: _select.POLLOUT, POLLERR: _select.POLLERR}


def _os_mask(flags: int) -> int:
    mask = 0
    for ours, theirs in _TO_OS.items():
        if flags & ours:
            mask |= theirs
    return mask


def _from_os(events: int) -> int:
    flags = 0
    if events & _select.POLLIN:
        flags |= POLLIN
    if events & _select.POLLOUT:
        flags |= POLLOUT
    if events & (_select.POLLERR | _select.POLLHUP | _select.POLLNVAL):
        flags |= POLLERR
    return flags


def _fileno(obj: Any) -> int:
    if isinstance(obj, int):
        return obj
    return obj.fileno()


class Poller:
    """pyzmq's Poller: ``register(sock_or_fd, flags)``, ``modify``, ``unregister``,
    ``poll(timeout_ms)`` returning a list of (socket or fd, events)."""

    def __init__(self) -> None:
        self.sockets: list[tuple[Any, int]] = []
        self._map: dict[Any, int] = {}

    def __contains__(self, socket: Any) -> bool:
        return socket in self._map

    def register(self, socket: Any, flags: int = POLLIN | POLLOUT) -> None:
        if flags:
            if socket in self._map:
                self.sockets[self._map[socket]] = (socket, flags)
            else:
                self._map[socket] = len(self.sockets)
                self.sockets.append((socket, flags))
        elif socket in self._map:
            self.unregister(socket)

    def modify(self, socket: Any, flags: int = POLLIN | POLLOUT) -> None:
        self.register(socket, flags)

    def unregister(self, socket: Any) -> None:
        idx = self._map.pop(socket)
        self.sockets.pop(idx)
        for s, i in list(self._map.items()):
            if i > idx:
                self._map[s] = i - 1

    def poll(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        """Wait up to ``timeout`` milliseconds (None or negative: forever)."""
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout / 1000
        ours = [(s, f) for s, f in self.sockets if isinstance(s, Socket)]
        theirs = [(s, f) for s, f in self.sockets if not isinstance(s, Socket)]
        poller = _select.poll()
        by_fd: dict[int, list[tuple[Any, int]]] = {}
        for s, f in theirs:
            fd = _fileno(s)
            poller.register(fd, _os_mask(f))
            by_fd.setdefault(fd, []).append((s, f))
        signal_fds = {}
        for s, _f in ours:
            fd = s._signaler.fd
            signal_fds[fd] = s
            poller.register(fd, _select.POLLIN)
        for s, _f in ours:
            s._signaler.waiters += 1  # before the first check: see Signaler.signal
        try:
            while True:
                ready: list[tuple[Any, int]] = []
                for s, _f in ours:
                    if s._core.context.terminated:
                        raise with_detail(ETERM, "the context was terminated")
                for s, f in ours:
                    ev = s._events() & f
                    if ev:
                        ready.append((s, ev))
                if ready:
                    ms = 0
                elif deadline is None:
                    ms = -1
                else:
                    ms = max(0, int((deadline - time.monotonic()) * 1000 + 0.999))
                fired = poller.poll(ms)
                woke = False
                for fd, events in fired:
                    sock = signal_fds.get(fd)
                    if sock is not None:
                        sock._signaler.drain()
                        woke = True
                        continue
                    for _s, f in by_fd.get(fd, ()):
                        ev = _from_os(events) & (f | POLLERR)
                        if ev:
                            ready.append((fd, ev))  # pyzmq reports plain items by fd
                            break
                if ready:
                    if woke:
                        seen = {id(s) for s, _ in ready}
                        for s, f in ours:
                            if id(s) not in seen:
                                ev = s._events() & f
                                if ev:
                                    ready.append((s, ev))
                    return ready
                if ms == 0 or (deadline is not None and time.monotonic() >= deadline):
                    if not woke:
                        return []
        finally:
            for s, _f in ours:
                s._signaler.waiters -= 1


def select(rlist: list, wlist: list, xlist: list, timeout: float | None = None) -> tuple:
    """Like ``select.select`` but for vmzmq sockets too; ``timeout`` in seconds."""
    poller = Poller()
    flags: dict[Any, int] = {}
    for s in rlist:
        flags[s] = flags.get(s, 0) | POLLIN
    for s in wlist:
        flags[s] = flags.get(s, 0) | POLLOUT
    for s in xlist:
        flags[s] = flags.get(s, 0) | POLLERR
    for s, f in flags.items():
        poller.register(s, f)
    ready = dict(poller.poll(None if timeout is None or timeout < 0 else timeout * 1000))

    def key(s: Any) -> Any:
        return s if isinstance(s, Socket) else _fileno(s)  # pyzmq reports plain items by fd

    return (
        [key(s) for s in rlist if ready.get(key(s), 0) & POLLIN],
        [key(s) for s in wlist if ready.get(key(s), 0) & POLLOUT],
        [key(s) for s in xlist if ready.get(key(s), 0) & POLLERR],
    )


__all__ = ["Poller", "select"]
