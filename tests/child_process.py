"""A Python child process running the vmzmq under test, for tests that need a second process
(a peer to kill, a process whose CPU or exit is measured). Its stdout lines are queued for
``expect``; ``tell`` writes a line to its stdin."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def vmzmq_src() -> str:
    """Where the vmzmq under test lives, so child processes run the same code."""
    import vmzmq

    return str(Path(vmzmq.__file__).resolve().parent.parent)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = vmzmq_src() + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def interruptible() -> None:
    """``preexec_fn`` for children that Ctrl-C tests interrupt: SIGINT at its default, as
    for a program started from a terminal. A suite run in the background (``cmd &`` in a
    script, ``nohup``) hands its children SIGINT ignored, and a Python started so installs no
    KeyboardInterrupt handler, as a well-behaved command should not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """``python -c code *args``; ``env`` adds to the environment."""

    #: How long ``expect`` waits when not told (subclasses for slow machines raise it).
    default_timeout = 10.0

    def __init__(self, code: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**child_env(), **(env or {})},
            text=True,
            preexec_fn=interruptible,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._pumps = [threading.Thread(target=self._pump, daemon=True),
                       threading.Thread(target=self._pump_err, daemon=True)]
        for pump in self._pumps:
            pump.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def expect(self, prefix: str, timeout: float | None = None) -> str:
        """The rest of the next stdout line starting with ``prefix`` (others are skipped)."""
        if timeout is None:
            timeout = self.default_timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"child printed no {prefix!r} within {timeout}s; stderr: {self.stderr[-2000:]}"
                )
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(10)
                raise AssertionError(
                    f"child exited ({self.proc.returncode}) before {prefix!r}; "
                    f"stderr: {self.stderr[-2000:]}"
                )
            if line.startswith(prefix):
                return line[len(prefix) :].strip()

    def join_output(self, timeout: float = 30.0) -> None:
        """Wait until the child's stdout and stderr are read to their end (it has exited, or
        closed them): then ``stderr`` and ``lines`` hold everything it wrote."""
        for pump in self._pumps:
            pump.join(timeout)
            if pump.is_alive():
                raise AssertionError(f"the child's output did not end within {timeout}s")

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
