"""Waiting on conditions, never on the clock.

The suite must pass on a loaded 2-CPU machine, so no test asserts how long something took and
no sleep stands in for a condition. What a test waits for is a condition with a generous
deadline, whose only job is to fail a test that hangs:

* ``wait_blocked(pid, tid)`` / ``wait_thread_blocked(thread)``: until a process or thread sits
  in a waiting system call (poll, select, epoll_wait...), read from ``/proc``. Tests that
  check "X wakes a blocked call" use it so that the call really is blocked when X happens.
* ``finishes(fn)``: run ``fn`` in a thread and return what it returned (or raise what it
  raised); fail the test if it is still running after ``hang`` seconds. "term() returns at
  once" becomes "term() returns" (it would hang without the behaviour under test).
  ``in_thread`` and ``join`` do the same in two steps, for a call to look at while it runs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

#: A deadline that only fails a test that hangs: long enough for a loaded machine.
HANG = 30.0

# Waiting system calls, by machine: poll select epoll_wait pselect6 ppoll epoll_pwait
# (x86_64); ppoll pselect6 epoll_pwait (aarch64).
_WAITING = {"x86_64": {7, 23, 232, 270, 271, 281}, "aarch64": {22, 72, 73}}
_POLL = {"x86_64": 7}  # poll(fds, nfds, timeout): the third argument is the timeout


def wait_until(cond: Callable[[], Any], timeout: float = HANG, what: str = "condition",
               interval: float = 0.005) -> Any:
    """Poll ``cond`` until it returns something true (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _syscall_path(pid: int | str, tid: int | None) -> str:
    return f"/proc/{pid}/syscall" if tid is None else f"/proc/{pid}/task/{tid}/syscall"


def in_waiting_syscall(pid: int | str = "self", tid: int | None = None) -> bool:
    """Whether the process (or its thread ``tid``) is blocked in a waiting system call: a
    ``poll`` with a zero timeout (a spin, not a wait) does not count."""
    machine = os.uname().machine
    try:
        with open(_syscall_path(pid, tid)) as f:
            fields = f.read().split()
        number = int(fields[0])
    except (OSError, ValueError, IndexError):
        return False
    if number not in _WAITING.get(machine, ()):
        return False
    if number == _POLL.get(machine) and len(fields) > 3 and int(fields[3], 16) == 0:
        return False
    return True


def can_see_syscalls(pid: int | str = "self", tid: int | None = None) -> bool:
    return os.uname().machine in _WAITING and os.path.exists(_syscall_path(pid, tid))


def wait_blocked(pid: int | str = "self", tid: int | None = None, timeout: float = HANG) -> None:
    """Wait until a process (or one of its threads) sits in a waiting system call.

    Where ``/proc`` cannot tell (another machine type), return at once: the tests that use
    this pass either way; they only lose the certainty that the call was blocked."""
    if not can_see_syscalls(pid, tid):  # pragma: no cover
        return
    wait_until(lambda: in_waiting_syscall(pid, tid), timeout, what="a blocking call")


def wait_thread_blocked(thread: threading.Thread, timeout: float = HANG) -> None:
    """Wait until ``thread`` (started) sits in a waiting system call, or has ended (its call
    returned without blocking: the test's own checks then say whether that was right)."""
    wait_until(lambda: thread.native_id, timeout, what="the thread to start")
    if not can_see_syscalls("self", thread.native_id):  # pragma: no cover
        return
    wait_until(lambda: not thread.is_alive() or in_waiting_syscall("self", thread.native_id),
               timeout, what="a blocking call")


class Outcome:
    """What a call in a thread returned or raised."""

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None

    def get(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def in_thread(fn: Callable[..., Any], *args: Any,
              **kwargs: Any) -> tuple[threading.Thread, Outcome]:
    """Run ``fn(*args, **kwargs)`` in a daemon thread; its ``Outcome`` fills in when it ends."""
    outcome = Outcome()

    def run() -> None:
        try:
            outcome.value = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the test by Outcome.get
            outcome.error = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def join(thread: threading.Thread, outcome: Outcome, hang: float = HANG,
         what: str = "the call") -> Any:
    """Wait for an ``in_thread`` thread; fail if it is still running after ``hang`` seconds."""
    thread.join(hang)
    if thread.is_alive():
        raise AssertionError(f"{what} was still running after {hang}s: it hangs")
    return outcome.get()


def finishes(fn: Callable[..., Any], *args: Any, hang: float = HANG, what: str | None = None,
             **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, failing the test if it has not returned after ``hang`` seconds
    (a call that would block forever without the behaviour under test)."""
    thread, outcome = in_thread(fn, *args, **kwargs)
    return join(thread, outcome, hang, what or getattr(fn, "__qualname__", "the call"))
