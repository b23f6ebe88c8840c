"""The I/O thread: one epoll loop per Context, with timers and a thread-safe call queue.

Everything that nobody waits for happens here: accepting, connecting and reconnecting,
handshakes, heartbeats, reading peers' data into pipes, and draining output the calling
thread could not write at once.
"""

from __future__ import annotations

import heapq
import logging
import os
import select
import time
from collections import deque
from collections.abc import Callable
from itertools import count

from .. import _native as native
from ..error import ETERM, with_detail

log = logging.getLogger("vmzmq")

READ = select.EPOLLIN
WRITE = select.EPOLLOUT
ERROR = select.EPOLLERR | select.EPOLLHUP


_this_thread = native.local()


def in_io_thread() -> bool:
    """Whether the calling thread is an I/O thread (of any context): code that may run from
    engine callbacks (a logging handler, say) must not re-enter a socket from there."""
    return getattr(_this_thread, "io", False)


def _nothing() -> None:
    pass


class Timer:
    """A handle to a scheduled callback; ``cancel()`` is safe from any thread."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        # The heap keeps a cancelled timer until it reaches the top; its callback must not
        # keep what it refers to (a closed connecter, its pipe and queued messages) alive.
        self.callback = _nothing


class IOThread:
    """An epoll loop running in a daemon thread.

    ``add``/``modify``/``remove`` may be called from any thread: epoll itself is thread-safe
    and the handler table is only ever replaced entry by entry, which the GIL keeps atomic.
    Handlers and callbacks run in the loop thread; an exception in one is logged and the
    loop goes on. A handler that raises is unregistered (level-triggered epoll would call it
    again at once, forever) and its ``on_error`` told, so its owner can close. If epoll itself
    fails, the loop logs it, records ``failed`` and stops: the context then raises instead of
    waiting on a dead engine.
    """

    def __init__(self, name: str = "vmzmq-io") -> None:
        self._epoll = native.epoll()
        self._handlers: dict[int, Callable[[int], None]] = {}
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll.register(self._wake_fd, READ)
        self._calls: deque[tuple[Callable[..., None], tuple]] = deque()
        self._timers: list[tuple[float, int, Timer]] = []
        self._timer_seq = count()
        # The heap is shared with other threads' call_later; the loop publishes when it
        # means to wake next, so a timer due later than that needs no wake-up (most do not:
        # handshake timers, lend checks).
        self._timer_lock = native.Lock()
        self._wake_at = 0.0
        self._stopping = False
        self._on_error: dict[int, Callable[[BaseException], None]] = {}
        #: The error that stopped the loop, if one did.
        self.failed: BaseException | None = None
        self._thread = native.Thread(target=self._run, name=name)
        self._thread.start()

    # -- registration (any thread) -------------------------------------------------------
    def add(
        self,
        fd: int,
        events: int,
        handler: Callable[[int], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._check_alive()
        self._handlers[fd] = handler
        if on_error is not None:
            self._on_error[fd] = on_error
        self._epoll.register(fd, events)

    def modify(self, fd: int, events: int) -> None:
        try:
            self._epoll.modify(fd, events)
        except (OSError, ValueError):
            pass  # fd already closed: its owner is tearing down

    def remove(self, fd: int) -> None:
        self._handlers.pop(fd, None)
        self._on_error.pop(fd, None)
        try:
            self._epoll.unregister(fd)
        except (OSError, ValueError):
            pass

    # -- calls and timers (any thread) ---------------------------------------------------
    def in_loop(self) -> bool:
        return native.get_ident() == self._thread.ident

    def _check_alive(self) -> None:
        # Loudly: whatever needs the engine to act says so, instead of waiting forever.
        # (remove/modify stay quiet, so sockets can still be closed.)
        if self.failed is not None:
            raise with_detail(ETERM, f"the context's I/O thread failed: {self.failed!r}")

    def call_soon(self, fn: Callable[..., None], *args: object) -> None:
        self._check_alive()
        self._calls.append((fn, args))
        self._wake()

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        if not self.in_loop():
            self._check_alive()
        when = time.monotonic() + delay
        timer = Timer(when, fn)
        with self._timer_lock:
            heapq.heappush(self._timers, (when, next(self._timer_seq), timer))
            wake = when < self._wake_at
        if wake:
            self._wake()
        return timer

    def _wake(self) -> None:
        try:
            os.eventfd_write(self._wake_fd, 1)
        except OSError:
            pass

    def stop(self) -> None:
        """Stop the loop and wait for the thread (not from inside the loop)."""
        self._stopping = True
        self._wake()
        if not self.in_loop():
            self._thread.join(5)

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        _this_thread.io = True
        epoll = self._epoll
        handlers = self._handlers
        wake_fd = self._wake_fd
        timers = self._timers
        calls = self._calls
        timer_lock = self._timer_lock
        heappop = heapq.heappop
        forever = float("inf")
        while not self._stopping:
            with timer_lock:
                while timers and timers[0][2].cancelled:
                    heappop(timers)  # a cancelled timer must not wake the loop
                if calls:
                    timeout = 0.0
                    self._wake_at = 0.0
                elif timers:
                    self._wake_at = timers[0][0]
                    timeout = max(0.0, self._wake_at - time.monotonic())
                else:
                    self._wake_at = forever
                    timeout = -1.0
            try:
                ready = epoll.poll(timeout)
            except InterruptedError:
                continue
            except Exception as exc:
                log.critical("vmzmq: the I/O thread's epoll failed, the context stops: %s", exc)
                self.failed = exc
                break
            for fd, events in ready:
                if fd == wake_fd:
                    try:
                        os.eventfd_read(wake_fd)
                    except OSError:
                        pass
                    continue
                handler = handlers.get(fd)
                if handler is None:
                    continue
                try:
                    handler(events)
                except Exception as exc:  # a bug in one connection must not stop the others
                    log.exception("vmzmq: I/O handler for fd %d failed; dropping it", fd)
                    on_error = self._on_error.get(fd)
                    self.remove(fd)
                    if on_error is not None:
                        try:
                            on_error(exc)
                        except Exception:
                            log.exception("vmzmq: cleaning up after fd %d failed", fd)
            while calls:
                fn, args = calls.popleft()
                try:
                    fn(*args)
                except Exception:
                    log.exception("vmzmq: I/O call %r failed", fn)
            if timers:
                now = time.monotonic()
                while True:
                    with timer_lock:
                        if not timers or timers[0][0] > now:
                            break
                        timer = heappop(timers)[2]
                    if timer.cancelled:
                        continue
                    try:
                        timer.callback()
                    except Exception:
                        log.exception("vmzmq: timer %r failed", timer.callback)
        epoll.close()
        os.close(wake_fd)
