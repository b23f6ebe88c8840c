"""Driver for tests/jeromq/ScriptPeer.java: a JeroMQ 0.3.6 socket (ZMTP/2.0 only) in a JVM.

``JeromqPeer()`` compiles ScriptPeer once per test session (javac, into a temporary directory)
and starts it; ``cmd(line)`` sends one command and returns its one-line answer (the protocol is
described at the top of ScriptPeer.java). ``start`` and ``reply`` split a command in two, so
that the Python side can act while the JVM is busy (a recv there waits for a send here).
Every read has a deadline: a hung or dead JVM fails the test, with the JVM's stderr attached.

JeroMQ comes from Debian's ``libjeromq-java`` and the compiler from a JDK
(``default-jdk-headless``); tools/test-all installs both. Without them the tests fail.
"""

from __future__ import annotations

import atexit
import collections
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

JAR = Path("/usr/share/java/jeromq.jar")
SOURCE = Path(__file__).resolve().parent / "jeromq" / "ScriptPeer.java"
#: ScriptPeer's own blocking calls give up after 10 s; an answer can take longer than that
#: (recvmany waits up to 10 s per message), but only a JVM that hangs takes this long.
REPLY_TIMEOUT = 60.0
MISSING = (
    "the JeroMQ interop tests need Debian's libjeromq-java ({jar}) and a JDK (javac, java): "
    "apt-get install libjeromq-java default-jdk-headless (tools/test-all installs them)"
)

_classes: Path | None = None


def build() -> Path:
    """Compile ScriptPeer.java (once per session); the directory of its class files."""
    global _classes
    if _classes is None:
        javac, java = shutil.which("javac"), shutil.which("java")
        if not JAR.is_file() or javac is None or java is None:
            raise AssertionError(MISSING.format(jar=JAR))
        out = Path(tempfile.mkdtemp(prefix="vmzmq-jeromq-"))
        atexit.register(shutil.rmtree, out, True)
        done = subprocess.run(
            [javac, "-cp", str(JAR), "-d", str(out), str(SOURCE)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise AssertionError(f"javac failed on {SOURCE}:\n{done.stdout}{done.stderr}")
        _classes = out
    return _classes


def payload(index: int, size: int) -> bytes:
    """ScriptPeer's payload(index, size): 8-byte big-endian index, then (k + index) % 251."""
    start = (8 + index) % 251
    pattern = bytes(range(251)) * ((size + start) // 251 + 1)
    return index.to_bytes(8, "big") + pattern[start : start + size - 8]


def encode(frames: list[bytes]) -> str:
    """Frames as ScriptPeer writes them: hex, comma-separated, "-" for an empty frame."""
    if not frames:
        raise ValueError("a message has at least one frame")
    return ",".join(f.hex() if f else "-" for f in frames)


def decode(text: str) -> list[bytes]:
    return [b"" if f == "-" else bytes.fromhex(f) for f in text.split(",")]


class JeromqPeer:
    """One JVM running ScriptPeer, with one JeroMQ socket at a time."""

    def __init__(self) -> None:
        classes = build()
        self.proc = subprocess.Popen(
            ["java", "-cp", f"{JAR}:{classes}", "ScriptPeer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.answers: queue.Queue[str | None] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=40)
        self.pending = 0  # commands sent whose answer has not been read
        # Reader threads: a read with a deadline, and a JVM that fills its stderr pipe with
        # stack traces never blocks on it.
        self.readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self.readers:
            t.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.answers.put(line.decode("ascii").rstrip("\n"))
        self.answers.put(None)  # end of file: the JVM is gone

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip("\n"))

    def _fail(self, why: str) -> AssertionError:
        tail = "\n".join(self.stderr)
        return AssertionError(f"JeroMQ peer: {why}" + (f"\nits stderr:\n{tail}" if tail else ""))

    # -- the protocol ---------------------------------------------------------------------------
    def start(self, line: str) -> None:
        """Send a command without waiting for its answer (read it with ``reply``)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode("ascii") + b"\n")
            self.proc.stdin.flush()
            self.pending += 1
        except OSError as exc:
            raise self._fail(f"cannot send {line[:80]!r}: {exc}") from exc

    def reply(self, timeout: float = REPLY_TIMEOUT) -> str:
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise self._fail(f"no answer within {timeout} s") from None
        if answer is None:
            self.answers.put(None)  # every later read fails the same way
            raise self._fail(f"exited (status {self.proc.wait()})")
        self.pending -= 1
        return answer

    def cmd(self, line: str, timeout: float = REPLY_TIMEOUT) -> str:
        self.start(line)
        return self.reply(timeout)

    def ok(self, line: str) -> str:
        """Run a command that must succeed; what follows "ok"."""
        return self.check(self.cmd(line), line)

    def check(self, answer: str, line: str) -> str:
        """What follows "ok" in the answer to ``line``, which must be "ok" or "ok ..."."""
        if answer != "ok" and not answer.startswith("ok "):
            raise self._fail(f"{line[:80]!r} answered {answer!r}")
        return answer[3:]

    # -- helpers --------------------------------------------------------------------------------
    def socket(self, kind: str) -> None:
        self.ok(f"socket {kind}")

    def setsockopt(self, name: str, value: bytes | int) -> None:
        text = (value.hex() or "-") if isinstance(value, bytes) else str(value)
        self.ok(f"setsockopt {name} {text}")

    def subscribe(self, topic: bytes) -> None:
        self.ok(f"subscribe {topic.hex() or '-'}")

    def unsubscribe(self, topic: bytes) -> None:
        self.ok(f"unsubscribe {topic.hex() or '-'}")

    def bind(self, endpoint: str) -> str:
        """Bind; the endpoint bound, with a "*" port replaced by the real one."""
        return self.ok(f"bind {endpoint}")

    def connect(self, endpoint: str) -> None:
        self.ok(f"connect {endpoint}")

    def send(self, frames: list[bytes]) -> None:
        self.ok(f"send {encode(frames)}")

    @staticmethod
    def parse_recv(answer: str) -> list[bytes] | None:
        """A message from a "recv" answer, or None for "timeout"."""
        if answer == "timeout":
            return None
        if not answer.startswith("msg "):
            raise AssertionError(f"JeroMQ peer: recv answered {answer!r}")
        return decode(answer[4:])

    def recv(self, timeout_ms: int | None = None) -> list[bytes] | None:
        """A message, or None if none came in ``timeout_ms`` (ScriptPeer's default: 10 s)."""
        return self.parse_recv(self.cmd("recv" if timeout_ms is None else f"recv {timeout_ms}"))

    def close(self) -> None:
        """Quit the JVM; killed if a command is still under way (a failed test) or it lingers."""
        if self.proc.poll() is None:
            try:
                if self.pending:
                    raise subprocess.TimeoutExpired("java", 0)
                self.start("quit")
                self.proc.wait(timeout=10)
            except (AssertionError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for t in self.readers:  # they stop at the end of file that the exit brought
            t.join(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
