"""gevent-cooperative Context and Socket (see :mod:`vmzmq.green`).

A green socket never blocks the thread in a system call of its own: every send and receive
is tried with DONTWAIT, and when it would block the greenlet parks on a gevent event that is
set when the socket's wake-up eventfd (the signaler behind ``zmq.FD``) becomes readable, while
the hub runs other greenlets. The eventfd is watched by one libev io watcher per (hub, socket),
started only while some greenlet waits on that socket (so an idle socket costs the hub nothing)
and shared by all of them: the watcher alone drains the eventfd, right before it wakes every
greenlet waiting there, and each of those tries again. Nothing else may drain it unnoticed:
reading EVENTS (which drains, as the FD is edge-triggered) wakes the waiters as well.

While a greenlet waits it is counted in the signaler's ``waiters`` (as a blocking call or a
``Poller`` is), which makes the engine write the eventfd on every change of the socket's state;
the count is raised before the attempt that precedes the wait, so no change can slip between
the attempt and the wait.
"""

from __future__ import annotations

import errno
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import gevent
from gevent.event import Event

from .. import _native
from ..constants import EVENTS
from ..context import Context as _SyncContext
from ..error import Again, with_detail, zmq_error
from ..frame import MessageTracker
from ..socket import Socket as _SyncSocket

__all__ = ["Context", "Socket"]

_READ = 1  # libev's EV_READ
# Plain ints: arithmetic on the IntFlag constants costs a call per operation.
DONTWAIT = 1
POLLIN = 1


class _Watch:
    """One started io watcher on a signaler's eventfd in one hub, and whom to wake."""

    __slots__ = ("hub", "signaler", "fd", "io", "subscribers")

    def __init__(self, hub: Any, signaler: Any) -> None:
        self.hub = hub
        self.signaler = signaler
        self.fd: int = signaler.fd
        self.subscribers: dict[object, Callable[[], None]] = {}
        self.io = hub.loop.io(self.fd, _READ)
        self.io.start(self._fire)

    def _fire(self) -> None:
        if self.signaler.fd != self.fd:
            # Closed behind our back (a plain vmzmq socket closed while a green Poller waits
            # on it): stop watching a number the kernel may hand out again, and let the
            # waiters find out.
            _drop(self.hub, self.fd, self)
            self.wake()
            return
        self.signaler.drain()
        self.wake()

    def wake(self) -> None:
        for callback in list(self.subscribers.values()):
            callback()

    def stop(self) -> None:
        self.io.stop()
        self.io.close()


# hub -> {eventfd: _Watch}. Hubs are per thread; a weak key lets a finished thread's hub go.
_watches: weakref.WeakKeyDictionary[Any, dict[int, _Watch]] = weakref.WeakKeyDictionary()
# Reentrant: a green socket's __del__ may close it (and come here) while this thread holds it.
_watches_lock = threading.RLock()


def _table(hub: Any) -> dict[int, _Watch]:
    with _watches_lock:  # hubs of several threads create their tables concurrently
        table = _watches.get(hub)
        if table is None:
            table = _watches[hub] = {}
        return table


def _all_tables() -> list[tuple[Any, dict[int, _Watch]]]:
    with _watches_lock:  # another thread may be adding its hub's table
        return list(_watches.items())


def _drop(hub: Any, fd: int, watch: _Watch) -> None:
    table = _table(hub)
    if table.get(fd) is watch:
        del table[fd]
    watch.stop()


def subscribe(sock: _SyncSocket, key: object, callback: Callable[[], None]) -> None:
    """Call ``callback`` (in the hub) whenever ``sock``'s state may have changed, until
    :func:`unsubscribe`. The caller must also count itself in ``sock._signaler.waiters``."""
    signaler = sock._signaler
    fd = signaler.fd
    if fd < 0:
        raise with_detail(errno.ENOTSOCK, "the socket is closed")
    hub = gevent.get_hub()
    table = _table(hub)
    watch = table.get(fd)
    if watch is not None and watch.signaler is not signaler:
        # The number was reused: its old socket was closed without telling us.
        _drop(hub, fd, watch)
        watch.wake()
        watch = None
    if watch is None:
        watch = table[fd] = _Watch(hub, signaler)
    watch.subscribers[key] = callback


def unsubscribe(sock: _SyncSocket, key: object, fd: int) -> None:
    """Stop calling back ``key`` for ``sock`` (whose eventfd was ``fd`` when subscribed)."""
    table = _table(gevent.get_hub())
    watch = table.get(fd)
    if watch is None or watch.signaler is not sock._signaler:
        return
    watch.subscribers.pop(key, None)
    if not watch.subscribers:
        _drop(watch.hub, fd, watch)


def kick(sock: _SyncSocket) -> None:
    """Wake whoever waits on ``sock`` in any hub, without draining: someone else drained."""
    signaler = sock._signaler
    fd = signaler.fd
    for hub, table in _all_tables():
        watch = table.get(fd)
        if watch is None or watch.signaler is not signaler:
            continue
        if hub.thread_ident == _native.get_ident():
            watch.wake()
        else:
            hub.loop.run_callback_threadsafe(watch.wake)


def forget(sock: _SyncSocket) -> None:
    """``sock`` is about to be closed: stop watching its eventfd before the number is
    freed, and wake its waiters (they try again and find it closed)."""
    signaler = sock._signaler
    fd = signaler.fd
    if fd < 0:
        return
    for hub, table in _all_tables():
        watch = table.get(fd)
        if watch is None or watch.signaler is not signaler:
            continue
        if hub.thread_ident == _native.get_ident():
            _drop(hub, fd, watch)
            watch.wake()
        else:
            # A libev loop may only be touched from its own thread: its waiters will find
            # the socket closed when they next try, and the watcher is dropped on next fire.
            hub.loop.run_callback_threadsafe(watch.wake)


def park(sock: _SyncSocket, attempt: Callable[[], Any], timeout_ms: int) -> Any:
    """Try ``attempt()`` (which raises Again when it would block) until it succeeds, letting
    the hub run other greenlets in between; Again once ``timeout_ms`` (< 0: never) passes.

    The caller has just made one attempt that raised Again."""
    deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
    signaler = sock._signaler
    fd = signaler.fd
    wakeup = Event()
    signaler.waiters += 1  # before the next attempt: see Signaler.signal
    try:
        subscribe(sock, wakeup, wakeup.set)
        # A connection this thread made in connect() starts lent to it, to be read in its
        # blocking waits; a greenlet never makes those, so hand them to the I/O thread now.
        sock._events()
        while True:
            try:
                return attempt()
            except Again:
                pass
            if deadline is None:
                wakeup.wait()
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise zmq_error(errno.EAGAIN, "Resource temporarily unavailable")
                wakeup.wait(remaining)
            wakeup.clear()
    finally:
        signaler.waiters -= 1
        unsubscribe(sock, wakeup, fd)


class Socket(_SyncSocket):
    """A vmzmq socket whose blocking calls block only the calling greenlet.

    ``send``/``recv`` and their variants (``*_multipart``, ``*_string``, ``*_json``,
    ``*_pyobj``, ``*_serialized``, ``recv_into``) and ``poll`` wait cooperatively; RCVTIMEO
    and SNDTIMEO are honoured (Again when they pass), and a terminated context or a close by
    another greenlet wakes a waiting call with ContextTerminated / ENOTSOCK. Several
    greenlets may wait on one socket at once.
    """

    def connect(self, addr: str) -> Any:  # type: ignore[override]
        result = super().connect(addr)
        # Hand a connection made here to the I/O thread at once (see park): its handshake
        # would otherwise wait for a blocking call this socket never makes.
        self._events()
        return result

    # -- sending ---------------------------------------------------------------------------
    def send(
        self,
        data: Any,
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        routing_id: int | None = None,
        group: str | None = None,
    ) -> MessageTracker | None:
        """Send one frame; waiting for room blocks only this greenlet."""
        if flags & DONTWAIT:
            return super().send(data, flags, copy, track, routing_id, group)
        attempt = partial(
            _SyncSocket.send, self, data, flags | DONTWAIT, copy, track, routing_id, group
        )
        try:
            return attempt()
        except Again:
            # A failed last frame left the frames before it in _send_parts: each attempt
            # sends the whole message again.
            return park(self, attempt, self._opts.sndtimeo)

    def send_multipart(
        self, msg_parts: Sequence[Any], flags: int = 0, copy: bool = True, track: bool = False
    ) -> MessageTracker | None:
        """Send a whole message; waiting for room blocks only this greenlet."""
        if flags & DONTWAIT:
            return super().send_multipart(msg_parts, flags, copy, track)
        parts = list(msg_parts)
        # Frames sent earlier with SNDMORE lead this message; a failed attempt takes them
        # out of _send_parts, so each attempt puts them back first.
        head = list(self._send_parts)

        def attempt() -> MessageTracker | None:
            if head:
                object.__setattr__(self, "_send_parts", list(head))
            return _SyncSocket.send_multipart(self, parts, flags | DONTWAIT, copy, track)

        try:
            return attempt()
        except Again:
            try:
                return park(self, attempt, self._opts.sndtimeo)
            except Again:
                if head and not self._closed:
                    object.__setattr__(self, "_send_parts", head)
                raise

    # -- receiving ---------------------------------------------------------------------------
    def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:
        """Receive one frame; waiting blocks only this greenlet."""
        if flags & DONTWAIT:
            return super().recv(flags, copy, track)
        attempt = partial(_SyncSocket.recv, self, flags | DONTWAIT, copy, track)
        try:
            return attempt()
        except Again:
            return park(self, attempt, self._opts.rcvtimeo)

    def recv_multipart(self, flags: int = 0, copy: bool = True, track: bool = False) -> list:
        """Receive a whole message; waiting blocks only this greenlet."""
        if flags & DONTWAIT:
            return super().recv_multipart(flags, copy, track)
        attempt = partial(_SyncSocket.recv_multipart, self, flags | DONTWAIT, copy, track)
        try:
            return attempt()
        except Again:
            return park(self, attempt, self._opts.rcvtimeo)

    # -- polling and options -------------------------------------------------------------------
    def poll(self, timeout: int | None = None, flags: int = POLLIN) -> int:
        """Wait up to ``timeout`` ms (None: forever) for ``flags``, in this greenlet only."""
        self._check_open()
        from .poll import Poller

        poller = Poller()
        poller.register(self, flags)
        return dict(poller.poll(timeout)).get(self, 0)

    def getsockopt(self, option: int) -> Any:
        result = super().getsockopt(option)
        if option == EVENTS:
            # Reading EVENTS drained the eventfd: greenlets waiting on it must look again.
            kick(self)
        return result

    get = getsockopt

    # -- closing -----------------------------------------------------------------------------
    def close(self, linger: int | None = None) -> None:
        if not self._closed:
            try:
                forget(self)
            except Exception:  # interpreter shutdown: gevent may be half torn down
                pass
        super().close(linger)


class Context(_SyncContext):
    """A context whose sockets are green :class:`Socket` objects.

    ``term()`` (and ``destroy()``, and leaving a ``with`` block) waits for the sockets to be
    closed in a thread of gevent's pool, so the greenlets that must close them keep running.
    """

    _socket_class = Socket
    _instance: Context | None = None  # not shared with vmzmq.Context.instance()
    _instance_pid: int | None = None

    def term(self) -> None:
        if self._closed:
            return
        hub = gevent.get_hub()
        if hub is gevent.getcurrent():
            # The hub itself cannot wait for a pool thread; nothing here can run meanwhile.
            _SyncContext.term(self)
            return
        hub.threadpool.apply(_SyncContext.term, (self,))
