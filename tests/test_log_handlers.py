"""vmzmq.log.handlers (PUBHandler, TopicLogger) and the ``python -m vmzmq.log`` watcher,
over real sockets and a real watcher process."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import vmzmq as zmq
import vmzmq.asyncio
from child_process import child_env, interruptible
from interop_helpers import recv_within
from vmzmq.engine.loop import in_io_thread
from vmzmq.log.handlers import TOPIC_DELIM, PUBHandler, TopicLogger
from waiting import HANG, finishes

HERE = "test_log_handlers.py"


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


class Publisher:
    """An XPUB for a PUBHandler, and a SUB whose subscription it has seen: no record is lost
    to the subscription still being on its way."""

    def __init__(self, ctx: zmq.Context, topic: bytes = b"") -> None:
        self.xpub = ctx.socket(zmq.XPUB)
        port = self.xpub.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.sub = ctx.socket(zmq.SUB)
        self.sub.subscribe(topic)
        self.sub.connect(self.endpoint)
        assert recv_within(self.xpub) == [b"\x01" + topic]

    def recv(self) -> list[bytes]:
        return recv_within(self.sub)

    def nothing_waiting(self) -> bool:
        return self.sub.poll(0) == 0


@pytest.fixture
def pub(ctx: zmq.Context) -> Publisher:
    return Publisher(ctx)


_loggers = 0


def fresh_logger(handler: logging.Handler, cls: type[logging.Logger] = logging.Logger) -> Any:
    """A logger of its own (no parents, no other handlers), at DEBUG, into ``handler``."""
    global _loggers
    _loggers += 1
    logger = cls(f"vmzmq-test-{_loggers}")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger


def line_of(marker: str) -> int:
    """The line of this file holding ``marker`` (so expected file:line need no counting)."""
    with open(__file__) as f:
        for number, text in enumerate(f, 1):
            if marker in text and "line_of(" not in text:
                return number
    raise AssertionError(marker)


# -- PUBHandler -----------------------------------------------------------------------------
def test_handler_on_a_given_socket(pub: Publisher) -> None:
    handler = PUBHandler(pub.xpub)
    assert handler.socket is pub.xpub
    assert handler.ctx is pub.xpub.context
    log = fresh_logger(handler)
    log.info("message")
    assert pub.recv() == [b"INFO", b"message\n"]
    handler.close()
    assert not pub.xpub.closed  # not the handler's to close


def test_root_topic(pub: Publisher) -> None:
    handler = PUBHandler(pub.xpub, root_topic="zmq")
    log = fresh_logger(handler)
    log.info("one")
    assert pub.recv() == [b"zmq.INFO", b"one\n"]
    handler.root_topic = b"bytes.decoded"
    assert handler.root_topic == "bytes.decoded"
    log.warning("two")
    assert pub.recv()[0] == b"bytes.decoded.WARNING"
    handler.setRootTopic("")
    log.error("three")
    assert pub.recv()[0] == b"ERROR"


def test_subscribers_choose_by_topic(ctx: zmq.Context) -> None:
    only_info = Publisher(ctx, b"app.INFO")
    handler = PUBHandler(only_info.xpub, root_topic="app")
    everything = ctx.socket(zmq.SUB)
    everything.subscribe(b"")
    everything.connect(only_info.endpoint)
    assert recv_within(only_info.xpub) == [b"\x01"]
    log = fresh_logger(handler)
    log.debug("not for info")
    log.info("for both")
    assert recv_within(everything)[0] == b"app.DEBUG"
    assert recv_within(everything) == [b"app.INFO", b"for both\n"]
    assert only_info.recv() == [b"app.INFO", b"for both\n"]
    assert only_info.nothing_waiting()


def test_subtopic_and_unicode(pub: Publisher) -> None:
    handler = PUBHandler(pub.xpub, root_topic="zmq")
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    log = fresh_logger(handler)
    log.addHandler(Keep())
    for message, expected in [
        ("hello", [b"zmq.INFO", b"hello\n"]),
        ("héllo", [b"zmq.INFO", "héllo\n".encode()]),
        ("tøpic::héllo", ["zmq.INFO.tøpic".encode(), "héllo\n".encode()]),
        ("db.pool::%d left", [b"zmq.INFO.db.pool", b"3 left\n"]),
        ("only::the::first", [b"zmq.INFO.only", b"the::first\n"]),
    ]:
        log.info(message, *((3,) if "%d" in message else ()))
        assert pub.recv() == expected
    # The subtopic is taken off a copy: other handlers see the record as it was logged.
    assert seen[2] == "tøpic::héllo"


def test_default_formats(pub: Publisher) -> None:
    log = fresh_logger(PUBHandler(pub.xpub))
    log.debug("d")  # marker: debug
    line = line_of("marker: debug")
    assert pub.recv() == [b"DEBUG", f"DEBUG {HERE}:{line} - d\n".encode()]
    log.info("i")
    assert pub.recv() == [b"INFO", b"i\n"]
    log.warning("w")  # marker: warning
    line = line_of("marker: warning")
    assert pub.recv() == [b"WARNING", f"WARNING {HERE}:{line} - w\n".encode()]
    log.error("e")  # marker: error
    line = line_of("marker: error")
    assert pub.recv() == [b"ERROR", f"ERROR {HERE}:{line} - e - None\n".encode()]
    log.critical("c")  # marker: critical
    line = line_of("marker: critical")
    assert pub.recv() == [b"CRITICAL", f"CRITICAL {HERE}:{line} - c\n".encode()]
    try:
        raise ValueError("bad value")
    except ValueError:
        log.exception("failed")
    topic, body = pub.recv()
    assert topic == b"ERROR"
    text = body.decode()
    # pyzmq's ERROR format shows exc_info itself, then logging adds the traceback.
    assert re.match(rf"ERROR {HERE}:\d+ - failed - \(<class 'ValueError'>", text)
    assert "Traceback (most recent call last)" in text and "ValueError: bad value" in text


def test_formatters_per_level_and_for_all(pub: Publisher) -> None:
    handler = PUBHandler(pub.xpub)
    log = fresh_logger(handler)
    handler.formatters[logging.INFO] = logging.Formatter("%(message)s UNITTEST\n")
    log.info("info message")
    assert pub.recv()[1] == b"info message UNITTEST\n"
    handler.setFormatter(logging.Formatter("UNITTEST DEBUG %(message)s"), logging.DEBUG)
    log.debug("debug message")
    assert pub.recv()[1] == b"UNITTEST DEBUG debug message"
    log.info("info again")
    assert pub.recv()[1] == b"info again UNITTEST\n"
    handler.setFormatter(logging.Formatter("ALL %(levelname)s %(message)s"))
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL):
        log.log(level, "x")
        assert pub.recv()[1] == f"ALL {logging.getLevelName(level)} x".encode()
    handler.setFormatter(None)  # none at all: logging's default, the message alone
    log.warning("bare")
    assert pub.recv() == [b"WARNING", b"bare"]


def test_custom_level_takes_the_format_below(pub: Publisher) -> None:
    logging.addLevelName(27, "VMZMQ_TEST_NOTICE")  # a name no other test will use
    handler = PUBHandler(pub.xpub)
    log = fresh_logger(handler)
    log.setLevel(1)
    log.log(27, "noticed")
    assert pub.recv() == [b"VMZMQ_TEST_NOTICE", b"noticed\n"]  # INFO's format
    log.log(5, "very low")  # below DEBUG: DEBUG's format
    topic, body = pub.recv()
    assert topic == b"Level 5" and body.startswith(b"Level 5 test_log_handlers.py:")


def test_message_objects_are_stringified(pub: Publisher) -> None:
    class Message:
        def __str__(self) -> str:
            return "sub::hello"

    log = fresh_logger(PUBHandler(pub.xpub, root_topic="zmq"))
    log.info(Message())
    assert pub.recv() == [b"zmq.INFO.sub", b"hello\n"]


def test_handler_made_from_an_endpoint(ctx: zmq.Context) -> None:
    handler = PUBHandler("tcp://127.0.0.1:0")
    assert handler.ctx is not ctx and handler.ctx is not zmq.Context.instance()
    assert handler.socket.type == zmq.PUB
    endpoint = handler.socket.last_endpoint.decode()
    sub = ctx.socket(zmq.SUB)
    sub.subscribe(b"")
    sub.connect(endpoint)
    log = fresh_logger(handler)
    # A plain PUB drops what it sends before the subscription arrives: log until one lands.
    deadline = time.monotonic() + HANG
    while not sub.poll(20):
        assert time.monotonic() < deadline, "the subscriber never got a record"
        log.info("probe")
    assert sub.recv_multipart() == [b"INFO", b"probe\n"]
    sock, own_ctx = handler.socket, handler.ctx
    handler.close()
    assert sock.closed and own_ctx.closed  # what it made, it closes


def test_handler_made_in_a_given_context(ctx: zmq.Context) -> None:
    handler = PUBHandler("inproc://handler-log", context=ctx)
    assert handler.ctx is ctx
    sub = ctx.socket(zmq.SUB)
    sub.subscribe(b"")
    sub.connect("inproc://handler-log")  # inproc subscriptions are there at connect
    fresh_logger(handler).info("in process")
    assert recv_within(sub) == [b"INFO", b"in process\n"]
    handler.close()
    assert handler.socket.closed and not ctx.closed


def test_a_bad_endpoint_leaves_nothing_behind() -> None:
    with pytest.raises(zmq.ZMQError):
        PUBHandler("nonsense://x")


def test_dict_config(pub: Publisher) -> None:
    name = "vmzmq-test-dictconfig"
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"zmq": {
            "class": "vmzmq.log.handlers.PUBHandler",
            "level": "INFO",
            "interface_or_socket": pub.xpub,
            "root_topic": "cfg",
            "formatter": "plain",
        }},
        "formatters": {"plain": {"format": "[%(name)s] %(message)s"}},
        "loggers": {name: {"level": "DEBUG", "handlers": ["zmq"], "propagate": False}},
    })
    log = logging.getLogger(name)
    try:
        log.debug("below the handler's level")
        log.info("configured")
        assert pub.recv() == [b"cfg.INFO", f"[{name}] configured".encode()]
        assert pub.nothing_waiting()
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)


def test_a_failed_send_is_reported_not_raised(
    ctx: zmq.Context, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = ctx.socket(zmq.PUB)
    log = fresh_logger(PUBHandler(sock))
    sock.close()
    log.info("nowhere to go")  # must not raise into the caller
    assert "--- Logging error ---" in capsys.readouterr().err


def test_asyncio_socket_from_a_thread_without_a_loop(ctx: zmq.Context) -> None:
    actx = vmzmq.asyncio.Context()
    try:
        apub = actx.socket(zmq.PUB)
        port = apub.bind_to_random_port("tcp://127.0.0.1")
        sub = ctx.socket(zmq.SUB)
        sub.subscribe(b"")
        sub.connect(f"tcp://127.0.0.1:{port}")
        log = fresh_logger(PUBHandler(apub))

        async def from_loop() -> None:
            log.info("from the loop")

        deadline = time.monotonic() + HANG
        while not sub.poll(20):
            assert time.monotonic() < deadline
            asyncio.run(from_loop())
        assert sub.recv_multipart() == [b"INFO", b"from the loop\n"]
        finishes(log.info, "from a thread")
        assert recv_within(sub) == [b"INFO", b"from a thread\n"]
    finally:
        actx.destroy(linger=0)


def garbage_peer(endpoint: str) -> None:
    """Connect to ``endpoint`` and send what no ZMTP peer sends: the engine logs a WARNING
    from its I/O thread when it drops the connection."""
    host, port = endpoint.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\n\r\n")


def test_records_of_the_io_thread_are_published(pub: Publisher) -> None:
    handler = PUBHandler(pub.xpub)
    engine_log = logging.getLogger("vmzmq")
    engine_log.addHandler(handler)
    try:
        garbage_peer(pub.endpoint)
        topic, body = pub.recv()
        assert topic == b"WARNING"
        assert b"dropping XPUB peer" in body and b"ZMTP" in body
    finally:
        engine_log.removeHandler(handler)


def test_io_thread_records_do_not_deadlock_a_logging_thread(ctx: zmq.Context) -> None:
    # Sent at once, a record of the I/O thread (which holds the PUB's lock while it drops a
    # peer) waits for the handler's lock while a thread that logs holds that lock and waits
    # for the PUB's: this hung two runs in three before records were handed over instead.
    sock = ctx.socket(zmq.PUB)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    handler = PUBHandler(sock)
    engine_log = logging.getLogger("vmzmq")
    engine_log.addHandler(handler)
    try:
        def log_many() -> None:
            for _ in range(3000):
                engine_log.warning("from a thread")

        worker = threading.Thread(target=log_many, daemon=True)
        worker.start()
        for _ in range(40):
            garbage_peer(f"tcp://127.0.0.1:{port}")
        worker.join(HANG)
        assert not worker.is_alive(), "a thread logging through the handler hangs"
    finally:
        engine_log.removeHandler(handler)


def test_io_thread_is_recognised(ctx: zmq.Context) -> None:
    # The handler defers records logged on the engine's threads (see the deadlock test).
    sock = ctx.socket(zmq.PUB)
    sock.bind("tcp://127.0.0.1:0")
    answers: queue.Queue[bool] = queue.Queue()
    ctx._core.io.call_soon(lambda: answers.put(in_io_thread()))
    assert answers.get(timeout=HANG) is True
    assert in_io_thread() is False


# -- TopicLogger ----------------------------------------------------------------------------
def test_topic_logger_methods(pub: Publisher) -> None:
    log = fresh_logger(PUBHandler(pub.xpub, root_topic="app"), TopicLogger)
    log.debug("a.b", "debug %s", "x")
    assert pub.recv()[0] == b"app.DEBUG.a.b"
    log.info("a", "info %d", 1)
    assert pub.recv() == [b"app.INFO.a", b"info 1\n"]
    log.warning("w", "warn")
    assert pub.recv()[0] == b"app.WARNING.w"
    log.error("e", "err")
    assert pub.recv()[0] == b"app.ERROR.e"
    log.critical("c", "crit")
    assert pub.recv()[0] == b"app.CRITICAL.c"
    log.fatal("f", "fatal")
    assert pub.recv()[0] == b"app.CRITICAL.f"
    log.log(logging.INFO, "via.log", "value %s", 42)
    assert pub.recv() == [b"app.INFO.via.log", b"value 42\n"]
    with pytest.warns(DeprecationWarning):
        log.warn("old", "spelling")
    assert pub.recv()[0] == b"app.WARNING.old"
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("boom", "failed")
    topic, body = pub.recv()
    assert topic == b"app.ERROR.boom" and b"KeyError: 'missing'" in body


def test_topic_logger_respects_levels(pub: Publisher) -> None:
    log = fresh_logger(PUBHandler(pub.xpub), TopicLogger)
    log.setLevel(logging.WARNING)
    log.info("t", "dropped")
    log.warning("t", "kept")  # marker: topic warning
    line = line_of("marker: topic warning")
    assert pub.recv() == [b"WARNING.t", f"WARNING {HERE}:{line} - kept\n".encode()]
    assert pub.nothing_waiting()


def test_topic_logger_reports_the_callers_line() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = fresh_logger(Keep(), TopicLogger)
    log.info("t", "where")  # marker: topic info
    log.log(logging.INFO, "t", "where")  # marker: topic log
    log.exception("t", "where", exc_info=False)  # marker: topic exception
    assert [(r.filename, r.lineno, r.getMessage()) for r in records] == [
        (HERE, line_of("marker: topic info"), f"t{TOPIC_DELIM}where"),
        (HERE, line_of("marker: topic log"), "t::where"),
        (HERE, line_of("marker: topic exception"), "t::where"),
    ]


# -- python -m vmzmq.log --------------------------------------------------------------------
class Watcher:
    """``python -m vmzmq.log ARGS`` (or another module's) with its stdout lines read into a
    queue."""

    def __init__(self, *args: str, module: str = "vmzmq.log") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
            preexec_fn=interruptible,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self) -> str:
        try:
            line = self.lines.get(timeout=HANG)
        except queue.Empty:
            raise AssertionError("the watcher printed nothing") from None
        if line is None:
            assert self.proc.stderr is not None
            raise AssertionError(f"the watcher exited: {self.proc.stderr.read()[-2000:]}")
        return line

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(HANG)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(HANG)


@pytest.fixture
def watcher_for(ctx: zmq.Context) -> Iterator[Any]:
    started: list[Watcher] = []

    def start(*args: str, topic: bytes = b"") -> tuple[Watcher, logging.Logger, PUBHandler]:
        xpub = ctx.socket(zmq.XPUB)
        port = xpub.bind_to_random_port("tcp://127.0.0.1")
        watcher = Watcher(*args, f"tcp://127.0.0.1:{port}")
        started.append(watcher)
        # Its subscription has reached the handler's socket: nothing logged now is lost.
        assert recv_within(xpub, int(HANG * 1000)) == [b"\x01" + topic]
        handler = PUBHandler(xpub)
        return watcher, fresh_logger(handler), handler

    yield start
    for watcher in started:
        watcher.kill()


def test_watcher_prints_records_and_stops_on_ctrl_c(watcher_for: Any) -> None:
    watcher, log, handler = watcher_for()
    handler.root_topic = "app"
    log.info("hello")
    log.warning("db.pool::%d left", 3)  # marker: watched warning
    assert watcher.line() == "app.INFO | hello"
    line = line_of("marker: watched warning")
    assert watcher.line() == f"app.WARNING.db.pool | WARNING {HERE}:{line} - 3 left"
    assert watcher.interrupt() == 0


def test_watcher_topic_filter(watcher_for: Any) -> None:
    watcher, log, handler = watcher_for("--topic", "app.ERROR", topic=b"app.ERROR")
    handler.root_topic = "app"
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.info("not shown")
    log.error("shown")
    assert watcher.line() == "app.ERROR | shown"


def test_watcher_separator_timestamp_and_align(watcher_for: Any) -> None:
    watcher, log, handler = watcher_for(
        "--separator", " >> ", "--timestamp", "--dateformat", "%Y/%m/%d", "--align"
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.info("short::one")
    log.warning("longer::two")
    log.info("x::three")
    stamp = r"\d{4}/\d{2}/\d{2} "
    assert re.fullmatch(stamp + r"INFO\.short >> one", watcher.line())
    assert re.fullmatch(stamp + r"WARNING\.longer >> two", watcher.line())
    # Each part padded to the widest seen in its place.
    assert re.fullmatch(stamp + r"INFO   \.x      >> three", watcher.line())


def test_watcher_color(watcher_for: Any) -> None:
    watcher, log, handler = watcher_for("--color")
    handler.root_topic = "app"
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.error("red")
    log.debug("sub::cyan")
    assert watcher.line() == "\x1b[91mapp.ERROR | red\x1b[39m"
    assert watcher.line() == "\x1b[96mapp.DEBUG.sub | cyan\x1b[39m"
    assert watcher.interrupt() == 0
    assert watcher.line() == "\x1b[39m"  # leaves the terminal's colour as it found it


def test_watcher_help_names_pyzmqs_arguments() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vmzmq.log", "--help"], capture_output=True, text=True,
        env=child_env(), timeout=HANG, check=True,
    ).stdout
    for arg in ("zmq_pub_url", "--topic", "--timestamp", "--separator", "--dateformat",
                "--align", "--color"):
        assert arg in out


# -- with pyzmq -----------------------------------------------------------------------------
@pytest.mark.interop
def test_pyzmqs_watcher_reads_vmzmqs_handler(ctx: zmq.Context) -> None:
    xpub = ctx.socket(zmq.XPUB)
    port = xpub.bind_to_random_port("tcp://127.0.0.1")
    watcher = Watcher(f"tcp://127.0.0.1:{port}", module="zmq.log")
    try:
        assert recv_within(xpub, int(HANG * 1000)) == [b"\x01"]
        log = fresh_logger(PUBHandler(xpub, root_topic="app"))
        log.info("db::from vmzmq")
        assert watcher.line() == "app.INFO.db | from vmzmq"
    finally:
        watcher.kill()


@pytest.mark.interop
def test_vmzmqs_watcher_reads_pyzmqs_handler() -> None:
    # pyzmq is a test dependency (as in test_interop.py): missing, this fails.
    import zmq as pyzmq
    from zmq.log.handlers import PUBHandler as PyzmqPUBHandler

    pctx = pyzmq.Context()
    try:
        xpub = pctx.socket(pyzmq.XPUB)
        xpub.linger = 0
        port = xpub.bind_to_random_port("tcp://127.0.0.1")
        watcher = Watcher(f"tcp://127.0.0.1:{port}")
        try:
            assert xpub.poll(int(HANG * 1000)) and xpub.recv_multipart() == [b"\x01"]
            log = fresh_logger(PyzmqPUBHandler(xpub, root_topic="py"))
            log.warning("from pyzmq")  # marker: pyzmq warning
            line = line_of("marker: pyzmq warning")
            assert watcher.line() == f"py.WARNING | WARNING {HERE}:{line} - from pyzmq"
        finally:
            watcher.kill()
    finally:
        pctx.destroy(linger=0)
