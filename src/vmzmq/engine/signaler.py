"""A socket's wake-up file descriptor.

Blocking calls, ``Poller`` and ``zmq.FD`` users all wait on it. It is written only when
someone may be waiting (``waiters`` > 0, or the fd was handed out), so a busy socket that
nobody waits on costs no system calls here.
"""

from __future__ import annotations

import os
import select

from .. import _native as native


class Signaler:
    __slots__ = ("fd", "waiters", "exposed", "pending", "_poller")

    def __init__(self) -> None:
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.waiters = 0
        self.exposed = False
        # Written and not drained yet: the fd is readable already, another write adds nothing
        # (a reader draining a full pipe would otherwise pay a system call per message).
        self.pending = False
        self._poller = native.poll()
        self._poller.register(self.fd, select.POLLIN)

    def signal(self) -> None:
        # Callers append their message *before* reading ``waiters``; waiters increment it
        # *before* checking for messages. That order is what makes a lost wake-up impossible.
        if (self.waiters or self.exposed) and not self.pending:
            self.pending = True
            fd = self.fd
            if fd >= 0:
                try:
                    os.eventfd_write(fd, 1)
                except OSError:
                    pass

    def drain(self) -> None:
        # Read, then clear: a signal in between is skipped, but the drainer re-checks the
        # socket after draining and sees what that signal was about.
        fd = self.fd
        if fd >= 0:
            try:
                os.eventfd_read(fd)
            except OSError:
                pass
        self.pending = False

    def wait(self, timeout: float | None) -> bool:
        """Wait until signalled or ``timeout`` seconds pass; True if signalled."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return bool(self._poller.poll(ms))

    def close(self) -> None:
        # -1 first: a late signal() from another thread must not hit a reused fd number.
        fd, self.fd = self.fd, -1
        if fd >= 0:
            self._poller.unregister(fd)
            try:
                os.close(fd)
            except OSError:
                pass
