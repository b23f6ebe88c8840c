"""The operating system's threads, locks, polls and sockets, even in a gevent-patched process.

``gevent.monkey.patch_all()`` replaces ``threading``'s locks and thread start with greenlet
versions, removes ``select.epoll`` and makes ``socket.socket`` cooperative. The engine's I/O
thread must stay a native thread blocked in epoll, and the locks it shares with callers must
be native locks (libzmq's threads and mutexes are out of the patcher's reach too). Each name
is resolved once, at import: gevent's saved original if gevent patched it (before or after
vmzmq was imported: patching later replaces module attributes, not these bindings).
"""

from __future__ import annotations

import _thread
import select as _select
import socket as _socket
import sys
from typing import Any


def _original(module: Any, name: str) -> Any:
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        return monkey.get_original(module.__name__, name)
    return getattr(module, name)


allocate_lock = _original(_thread, "allocate_lock")
RLock = _original(_thread, "RLock")
get_ident = _original(_thread, "get_ident")
start_new_thread = _original(_thread, "start_new_thread")
local = _original(_thread, "_local")
epoll = _original(_select, "epoll")
poll = _original(_select, "poll")
socket = _original(_socket, "socket")
Lock = allocate_lock


class Condition:
    """``threading.Condition`` over a native lock, with native waiter locks (threading's own
    makes its waiters with the patched allocator)."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._waiters: list[Any] = []

    def wait(self, timeout: float | None = None) -> bool:
        waiter = allocate_lock()
        waiter.acquire()
        self._waiters.append(waiter)
        self._lock.release()
        try:
            return waiter.acquire(True, -1 if timeout is None else timeout)
        finally:
            self._lock.acquire()
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass

    def notify_all(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.release()


class Thread:
    """A native daemon thread: ``start``, ``join(timeout)``, ``ident``."""

    def __init__(self, target: Any, name: str) -> None:
        self._target = target
        self.name = name
        self.ident: int | None = None
        self._done = allocate_lock()
        self._done.acquire()

    def start(self) -> None:
        started = allocate_lock()
        started.acquire()

        def run() -> None:
            self.ident = get_ident()
            started.release()
            try:
                self._target()
            finally:
                self._done.release()

        start_new_thread(run, ())
        started.acquire()

    def join(self, timeout: float | None = None) -> None:
        if self._done.acquire(True, -1 if timeout is None else timeout):
            self._done.release()

    def is_alive(self) -> bool:
        return self._done.locked()


def accept(listener: Any) -> tuple[Any, Any]:
    """``listener.accept()``, returning a native socket (the standard library's accept builds
    its result from the module's ``socket`` class, which gevent replaces)."""
    fd, addr = listener._accept()
    return socket(listener.family, listener.type, listener.proto, fileno=fd), addr
