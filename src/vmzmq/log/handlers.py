"""Logging handlers that publish over ZeroMQ (pyzmq's ``zmq.log.handlers``).

A :class:`PUBHandler` sends each record as a two-frame message: a topic, then the formatted
text in UTF-8. The topic joins with dots the handler's ``root_topic`` (when not empty), the
record's level name and the record's own subtopic, if it has one: ``"app.WARNING.db.pool"``.
A record names a subtopic by starting its message with it and ``::``
(``log.warning("db.pool::%d connections left", n)``), which :class:`TopicLogger` does for
you. Subscribers choose by prefix, e.g. ``b"app.ERROR"``; ``python -m vmzmq.log URL`` prints
everything a handler publishes.

::

    handler = PUBHandler("tcp://127.0.0.1:5557")   # or PUBHandler(a_bound_pub_socket)
    handler.root_topic = "app"
    logging.getLogger().addHandler(handler)
"""

from __future__ import annotations

import copy
import logging
import sys
import warnings
from typing import Any, Final

from ..constants import PUB
from ..context import Context
from ..engine.loop import in_io_thread
from ..socket import Socket

__all__ = ["TOPIC_DELIM", "PUBHandler", "TopicLogger"]

#: What separates a record's subtopic from its message text.
TOPIC_DELIM: Final = "::"

_WHERE = "%(levelname)s %(filename)s:%(lineno)d - %(message)s\n"
# pyzmq's formats, kept so subscribers see the same text from either library.
_DEFAULT_FORMATS: Final = {
    logging.DEBUG: _WHERE,
    logging.INFO: "%(message)s\n",
    logging.WARNING: _WHERE,
    logging.ERROR: "%(levelname)s %(filename)s:%(lineno)d - %(message)s - %(exc_info)s\n",
    logging.CRITICAL: _WHERE,
}
_STANDARD_LEVELS: Final = sorted(_DEFAULT_FORMATS)

# How long close() lets records still queued reach subscribers when the socket it made has
# LINGER -1: waiting for ever would hang logging.shutdown() at exit behind a slow subscriber.
_CLOSE_LINGER_MS: Final = 1000



class PUBHandler(logging.Handler):
    """A logging handler that publishes records on a PUB socket.

    ``interface_or_socket``: a socket to send on (a PUB, already bound or connected), or an
    endpoint to bind a new PUB socket to, made in ``context`` (default: a new Context of the
    handler's own). ``root_topic`` starts every topic; see the module's description.

    ``formatters`` maps levels to the formatter used for records of that level; a level
    without one uses the nearest standard level below it.
    """

    formatters: dict[int, logging.Formatter | None]
    ctx: Context
    socket: Socket

    def __init__(
        self,
        interface_or_socket: str | Socket,
        context: Context | None = None,
        root_topic: str = "",
    ) -> None:
        super().__init__()
        self.root_topic = root_topic
        self.formatters = {
            level: logging.Formatter(fmt) for level, fmt in _DEFAULT_FORMATS.items()
        }
        self._made_socket = False
        self._made_context = False
        self._done = False
        if isinstance(interface_or_socket, Socket):
            self.socket = interface_or_socket
            self.ctx = interface_or_socket.context
            return
        self._made_context = context is None
        self.ctx = Context() if context is None else context
        self.socket = self.ctx.socket(PUB)
        self._made_socket = True
        try:
            self.socket.bind(interface_or_socket)
        except BaseException:
            self._release(linger=0)
            raise

    # -- topic -------------------------------------------------------------------------------
    @property
    def root_topic(self) -> str:
        return self._root_topic

    @root_topic.setter
    def root_topic(self, value: str | bytes) -> None:
        self.setRootTopic(value)

    def setRootTopic(self, root_topic: str | bytes) -> None:
        """Set the topic every record's topic starts with ("" for none: topics then start
        with the level name). Bytes are decoded as UTF-8."""
        if isinstance(root_topic, bytes):
            root_topic = root_topic.decode("utf8")
        self._root_topic = root_topic

    # -- formatting --------------------------------------------------------------------------
    def setFormatter(  # type: ignore[override]
        self, fmt: logging.Formatter | None, level: int = logging.NOTSET
    ) -> None:
        """Use ``fmt`` for records of ``level``, or for every level in ``formatters`` when
        ``level`` is NOTSET (the call ``logging.config`` makes)."""
        if level == logging.NOTSET:
            for known in self.formatters:
                self.formatters[known] = fmt
        else:
            self.formatters[level] = fmt

    def format(self, record: logging.LogRecord) -> str:
        formatter = self._formatter_for(record.levelno)
        if formatter is None:
            return super().format(record)  # logging's default: the message alone
        return formatter.format(record)

    def _formatter_for(self, level: int) -> logging.Formatter | None:
        if level in self.formatters:
            return self.formatters[level]
        # A custom level (logging.addLevelName(25, "NOTICE")) takes the format of the
        # standard level below it; pyzmq fails such records instead.
        below = [std for std in _STANDARD_LEVELS if std <= level] or _STANDARD_LEVELS[:1]
        return self.formatters.get(below[-1])

    # -- publishing --------------------------------------------------------------------------
    def handle(self, record: logging.LogRecord) -> Any:
        if not in_io_thread():
            return super().handle(record)
        # A record logged by the engine's I/O thread is published later by the socket's own
        # I/O thread, outside every socket lock: sent from here it could enter the engine
        # again under a lock it already holds (the PUB's own, while it serves a peer), and
        # waiting for this handler's lock while holding a socket's could deadlock with a
        # thread that logs while the engine holds that socket.
        passed = self.filter(record)
        if isinstance(passed, logging.LogRecord):  # Python 3.12+ filters may replace it
            record = passed
        # Once closed (or its context is), there is no one left to publish it.
        if passed and not (self._done or self.socket.closed or self.ctx.closed):
            try:
                self.ctx._core.io.call_soon(self._handle_later, record)
            except Exception:
                self.handleError(record)
        return passed

    def _handle_later(self, record: logging.LogRecord) -> None:
        if self._done:
            return
        self.acquire()
        try:
            self.emit(record)
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        """Publish ``record``: ``[topic, formatted text]``."""
        try:
            subtopic, record = _split_subtopic(record)
            body = self.format(record).encode("utf8")
            parts = [self.root_topic] if self.root_topic else []
            parts.append(record.levelname)
            if subtopic:
                parts.append(subtopic)
            topic = ".".join(parts).encode("utf8", "replace")
            self._send([topic, body])
        except Exception:
            # logging's rule for handlers: report on stderr, never raise into the caller
            # (pyzmq lets a failed send raise out of logger.info()).
            self.handleError(record)

    def _send(self, frames: list[bytes]) -> None:
        sock = self.socket
        aio = sys.modules.get("vmzmq.asyncio")
        if aio is not None and isinstance(sock, aio.Socket):
            # An asyncio socket's send returns a future tied to one event loop; records come
            # from any thread. A PUB never blocks, so the synchronous send does the same.
            Socket.send_multipart(sock, frames)
        else:
            sock.send_multipart(frames)

    def close(self) -> None:
        """Close the handler, and the socket and context it made (never ones it was given).

        Records still queued get up to the socket's LINGER (1 s when that is -1) to reach
        their subscribers."""
        try:
            if not self._done:
                self._done = True
                linger = None
                if self._made_socket and not self.socket.closed and self.socket._opts.linger < 0:
                    linger = _CLOSE_LINGER_MS  # (_opts: reading .linger is ETERM after term)
                self._release(linger)
        finally:
            super().close()

    def _release(self, linger: int | None) -> None:
        if self._made_socket and not self.socket.closed:
            self.socket.close(linger=linger)
        if self._made_context and not self.ctx.closed:
            self.ctx.term()


def _split_subtopic(record: logging.LogRecord) -> tuple[str, logging.LogRecord]:
    """The record's subtopic ("" if none) and the record to format: a copy whose message
    has lost its ``topic::`` prefix (other handlers still see the original)."""
    text = str(record.msg)
    subtopic, delim, rest = text.partition(TOPIC_DELIM)
    if not delim:
        return "", record
    record = copy.copy(record)
    record.msg = rest
    return subtopic, record


def _deeper(kwargs: dict[str, Any]) -> dict[str, Any]:
    # Each of TopicLogger's own frames is one more between the caller and logging, which
    # would otherwise report it as the record's file and line.
    kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
    return kwargs


class TopicLogger(logging.Logger):
    """A Logger whose methods take a topic before the message:
    ``log.info("db.pool", "%d connections left", n)`` logs ``"db.pool::%d connections left"``,
    which a :class:`PUBHandler` publishes under ``...INFO.db.pool``.

    Use it with ``logging.setLoggerClass(TopicLogger)`` or as ``TopicLogger(name)``.
    """

    def log(  # type: ignore[override]
        self, level: int, topic: str, msg: object, *args: Any, **kwargs: Any
    ) -> None:
        """Log ``msg % args`` at ``level`` under ``topic``."""
        super().log(level, f"{topic}{TOPIC_DELIM}{msg}", *args, **_deeper(kwargs))

    def debug(  # type: ignore[override]
        self, topic: str, msg: object, *args: Any, **kwargs: Any
    ) -> None:
        self.log(logging.DEBUG, topic, msg, *args, **_deeper(kwargs))

    def info(  # type: ignore[override]
        self, topic: str, msg: object, *args: Any, **kwargs: Any
    ) -> None:
        self.log(logging.INFO, topic, msg, *args, **_deeper(kwargs))

    def warning(  # type: ignore[override]
        self, topic: str, msg: object, *args: Any, **kwargs: Any
    ) -> None:
        self.log(logging.WARNING, topic, msg, *args, **_deeper(kwargs))

    def warn(  # type: ignore[override]
        self, topic: str, msg: object, *args: Any, **kwargs: Any
    ) -> None:
        warnings.warn(
            "TopicLogger.warn is deprecated, as Logger.warn is: use warning",
            DeprecationWarning,
            stacklevel=2,
        )
        self.log(logging.WARNING, topic, msg, *args, **_deeper(kwargs))

    def error(  # type: ignore[override]
        self, topic: str, msg: object, *args: Any, **kwargs: Any
    ) -> None:
        self.log(logging.ERROR, topic, msg, *args, **_deeper(kwargs))

    def exception(  # type: ignore[override]
        self, topic: str, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any
    ) -> None:
        """Log at ERROR with the exception being handled."""
        self.log(logging.ERROR, topic, msg, *args, exc_info=exc_info, **_deeper(kwargs))

    def critical(  # type: ignore[override]
        self, topic: str, msg: object, *args: Any, **kwargs: Any
    ) -> None:
        self.log(logging.CRITICAL, topic, msg, *args, **_deeper(kwargs))

    fatal = critical  # type: ignore[assignment]
