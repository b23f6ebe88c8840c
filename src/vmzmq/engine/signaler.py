"""A socket's wake-up file descriptor.

Blocking calls, ``Poller`` and ``zmq.FD`` users all wait on it. It is written only when
someone may be waiting (``waiters`` > 0, or the fd was handed out), so a busy socket that
nobody waits on costs no system calls here.
"""

from __future__ import annotations

import os
import select
import threading
from typing import Any

from .. import _native as native

_UNOPENED = -2
_OPENING = threading.Lock()  # makes and closes fds: one fd per signaler, never leaked


class Signaler:
    __slots__ = ("_fd", "waiters", "exposed", "pending", "_poller")

    def __init__(self) -> None:
        # The eventfd is made when first asked for (a wait, a Poller, zmq.FD): most sockets
        # of a program that makes thousands never block, and each fd costs two system calls
        # and a poll object. _UNOPENED until then, -1 once closed.
        self._fd = _UNOPENED
        self._poller: Any = None
        self.waiters = 0
        self.exposed = False
        # Written and not drained yet: the fd is readable already, another write adds nothing
        # (a reader draining a full pipe would otherwise pay a system call per message).
        self.pending = False

    @property
    def fd(self) -> int:
        fd = self._fd
        return self._open() if fd == _UNOPENED else fd

    def _open(self) -> int:
        with _OPENING:
            fd = self._fd
            if fd != _UNOPENED:  # another thread made it, or the signaler is closed
                return fd
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            poller = native.poll()
            poller.register(fd, select.POLLIN)
            self._poller = poller
            self._fd = fd
        # A signal() that came before the fd existed set ``pending`` and wrote nothing: the
        # write it owes, so that a waiter counted before the fd was made still wakes.
        if self.pending:
            try:
                os.eventfd_write(fd, 1)
            except OSError:
                pass
        return fd

    def signal(self) -> None:
        # Callers append their message *before* reading ``waiters``; waiters increment it
        # *before* checking for messages. That order is what makes a lost wake-up impossible.
        if (self.waiters or self.exposed) and not self.pending:
            self.pending = True
            fd = self._fd
            if fd >= 0:
                try:
                    os.eventfd_write(fd, 1)
                except OSError:
                    pass

    def drain(self) -> None:
        # Read, then clear: a signal in between is skipped, but the drainer re-checks the
        # socket after draining and sees what that signal was about.
        fd = self._fd
        if fd >= 0:
            try:
                os.eventfd_read(fd)
            except OSError:
                pass
        self.pending = False

    def wait(self, timeout: float | None) -> bool:
        """Wait until signalled or ``timeout`` seconds pass; True if signalled."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000 + 0.999))
        poller = self._poller
        if poller is None:
            self._open()  # (nothing if another thread made it, or it is closed)
            poller = self._poller
            if poller is None:  # closed before it was ever waited on
                return False
        return bool(poller.poll(ms))

    def close(self) -> None:
        # -1 first: a late signal() from another thread must not hit a reused fd number.
        with _OPENING:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            self._poller.unregister(fd)
            try:
                os.close(fd)
            except OSError:
                pass
