"""Callbacks on a vmzmq socket's messages, run by a tornado IOLoop: pyzmq's ``ZMQStream``.

``ZMQStream(socket)`` watches the socket's wake-up file descriptor (the ``zmq.FD`` option)
with ``IOLoop.add_handler`` and does the socket's work on the loop's thread with non-blocking
(DONTWAIT) calls:

* ``on_recv(callback, copy=True)``: ``callback(frames)`` for every message received (a list
  of bytes, or of :class:`vmzmq.Frame` with ``copy=False``); ``on_recv_stream`` passes the
  stream first;
* ``send``/``send_multipart``/``send_string``/``send_json``/``send_pyobj`` queue a message,
  sent from the loop once the socket can take it, never from inside the call; ``on_send``'s
  (or the call's) ``callback(msg, status)`` then gets the message as it was queued (always a
  list) and what ``send_multipart`` returned (None, a MessageTracker with ``track=True``, or
  the :class:`vmzmq.ZMQError` it raised);
* ``flush()`` handles what is pending at once; ``close()`` closes the socket. A stream whose
  context is terminated closes itself (with a warning on tornado's log), so that ``term()``,
  which waits for every socket to be closed, can return.

The FD is edge-triggered (it becomes readable when the socket's state changes, and reading
EVENTS re-arms it), so after each message the stream looks at EVENTS again and, while more is
pending, comes back in a later loop iteration: one message at a time per direction, with the
loop's other work in between, as pyzmq's.

Callbacks may be coroutine functions: what they return is scheduled as a task on the loop and
its exception, if any, logged.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import pickle
import sys
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from tornado.ioloop import IOLoop
from tornado.log import gen_log

from ..constants import EVENTS, FD
from ..error import ETERM, ContextTerminated, ZMQError, zmq_error
from ..poll import Poller
from ..proxy import sync_socket
from ..socket import Socket
from ..utils import jsonapi

__all__ = ["ZMQStream"]

# Plain ints: arithmetic on the IntFlag constants costs a call per operation.
DONTWAIT = 1
POLLIN = 1
POLLOUT = 2

# Keyword arguments of ZMQStream.send_json that are the socket's, not json.dumps's.
_SEND_KEYWORDS = ("copy", "track", "routing_id", "group")


class ZMQStream:
    """Run callbacks for a vmzmq socket's messages on a tornado IOLoop.

    ``socket`` is a vmzmq socket (a :mod:`vmzmq.asyncio` socket is used through a blocking
    view of it, with a RuntimeWarning, so that callbacks get messages and not futures);
    ``io_loop`` defaults to ``IOLoop.current()``. The stream owns the socket from then on:
    close it with ``stream.close()``. Use the stream from the loop's thread only.

    ``bind``, ``bind_to_random_port``, ``connect``, ``setsockopt``/``getsockopt`` and their
    ``_string``/``_unicode`` forms are the socket's own methods.
    """

    socket: Socket
    io_loop: IOLoop
    poller: Poller

    def __init__(self, socket: Socket, io_loop: IOLoop | None = None) -> None:
        aio = sys.modules.get("vmzmq.asyncio")
        if aio is not None and isinstance(socket, aio.Socket):
            warnings.warn(
                "ZMQStream works on plain vmzmq sockets; this vmzmq.asyncio socket is used "
                "through a blocking view of it (ctx.socket(type, socket_class=vmzmq.Socket) "
                "makes a plain one)",
                RuntimeWarning,
                stacklevel=2,
            )
            socket = sync_socket(socket)
        if not isinstance(socket, Socket):
            raise TypeError(f"ZMQStream needs a vmzmq socket, got {type(socket).__name__}")
        self.socket = socket
        self.io_loop = io_loop or IOLoop.current()
        self.poller = Poller()  # pyzmq has one; the stream itself does not need it
        # Reading FD makes the socket signal every change of its state from now on and hands
        # connections lent to this thread's blocking calls back to the I/O thread.
        self._fd: int = socket.getsockopt(FD)
        self._send_queue: deque[tuple[Any, dict[str, Any]]] = deque()
        self._recv_callback: Callable[..., Any] | None = None
        self._send_callback: Callable[..., Any] | None = None
        self._close_callback: Callable[..., Any] | None = None
        self._recv_copy = False
        self._flushed = False
        self._state = 0
        self._scheduled = False
        # Set when a send found no room although EVENTS said POLLOUT (a ROUTER's peer at its
        # high-water mark): wait for the FD before trying again, instead of spinning.
        self._send_stalled = False
        self.io_loop.add_handler(socket, self._handle_events, IOLoop.READ)

        self.bind = socket.bind
        self.bind_to_random_port = socket.bind_to_random_port
        self.setsockopt = socket.setsockopt
        self.getsockopt = socket.getsockopt
        self.setsockopt_string = socket.setsockopt_string
        self.getsockopt_string = socket.getsockopt_string
        self.setsockopt_unicode = socket.setsockopt_unicode
        self.getsockopt_unicode = socket.getsockopt_unicode

    def connect(self, addr: str) -> Any:
        """``socket.connect(addr)``."""
        result = self.socket.connect(addr)
        # A connection made in this thread starts lent to its blocking calls, which a
        # stream never makes: hand it to the I/O thread now rather than after the lend timer.
        self.socket.getsockopt(EVENTS)
        self._update_handler(self._state)
        return result

    # -- callbacks ---------------------------------------------------------------------------
    def on_recv(self, callback: Callable[[list[Any]], Any] | None, copy: bool = True) -> None:
        """Call ``callback(frames)`` with every message received (frames are bytes, or
        :class:`vmzmq.Frame` objects with ``copy=False``); None stops receiving. One
        callback at a time: a new one replaces the old."""
        self._check_closed()
        if callback is not None and not callable(callback):
            raise TypeError(f"on_recv callback must be callable, got {callback!r}")
        self._recv_callback = callback
        self._recv_copy = copy
        if callback is None:
            self._drop_io_state(POLLIN)
        else:
            self._add_io_state(POLLIN)

    def on_recv_stream(
        self, callback: Callable[[ZMQStream, list[Any]], Any] | None, copy: bool = True
    ) -> None:
        """As :meth:`on_recv`, with ``callback(stream, frames)``."""
        if callback is None:
            self.stop_on_recv()
            return
        self.on_recv(lambda frames: callback(self, frames), copy=copy)

    def stop_on_recv(self) -> None:
        """Stop receiving (messages stay queued in the socket)."""
        self.on_recv(None)

    def on_send(self, callback: Callable[[Any, Any], Any] | None) -> None:
        """Call ``callback(msg, status)`` after each queued message is sent: ``msg`` as it
        was queued (a list), ``status`` what ``send_multipart`` returned, or the ZMQError
        it raised. None stops the callbacks."""
        self._check_closed()
        if callback is not None and not callable(callback):
            raise TypeError(f"on_send callback must be callable, got {callback!r}")
        self._send_callback = callback

    def on_send_stream(self, callback: Callable[[ZMQStream, Any, Any], Any] | None) -> None:
        """As :meth:`on_send`, with ``callback(stream, msg, status)``."""
        if callback is None:
            self.stop_on_send()
            return
        self.on_send(lambda msg, status: callback(self, msg, status))

    def stop_on_send(self) -> None:
        self.on_send(None)

    def on_err(self, callback: Callable[..., Any]) -> None:
        """Deprecated in pyzmq, where it does nothing: so here."""
        gen_log.warning("ZMQStream.on_err does nothing, and will be removed")

    def stop_on_err(self) -> None:
        """Deprecated in pyzmq, where it does nothing: so here."""
        gen_log.warning("ZMQStream.stop_on_err does nothing, and will be removed")

    def set_close_callback(self, callback: Callable[[], Any] | None) -> None:
        """Call ``callback()`` when the stream is closed."""
        self._close_callback = callback

    # -- sending -----------------------------------------------------------------------------
    def send_multipart(
        self,
        msg: Sequence[Any],
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        callback: Callable[[Any, Any], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Queue ``msg`` (a list of frames) to be sent from the loop. A ``callback`` given
        here becomes the stream's :meth:`on_send` callback, as in pyzmq."""
        self._check_closed()
        kwargs.update(flags=flags, copy=copy, track=track)
        self._send_queue.append((msg, kwargs))
        self.on_send(callback or self._send_callback)
        self._add_io_state(POLLOUT)

    def send(
        self,
        msg: Any,
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        callback: Callable[[Any, Any], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Queue a one-frame message; the send callback gets it as ``[msg]``."""
        self.send_multipart([msg], flags, copy, track, callback, **kwargs)

    def send_string(
        self,
        u: str,
        flags: int = 0,
        encoding: str = "utf-8",
        callback: Callable[[Any, Any], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Queue ``u`` encoded with ``encoding``."""
        if not isinstance(u, str):
            raise TypeError("str objects only")
        self.send(u.encode(encoding), flags=flags, callback=callback, **kwargs)

    send_unicode = send_string

    def send_json(
        self,
        obj: Any,
        flags: int = 0,
        callback: Callable[[Any, Any], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Queue ``obj`` as UTF-8 JSON; keyword arguments other than the socket's (copy,
        track) go to ``json.dumps``."""
        send_kwargs = {k: kwargs.pop(k) for k in _SEND_KEYWORDS if k in kwargs}
        self.send(jsonapi.dumps(obj, **kwargs), flags=flags, callback=callback, **send_kwargs)

    def send_pyobj(
        self,
        obj: Any,
        flags: int = 0,
        protocol: int = -1,
        callback: Callable[[Any, Any], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Queue ``obj`` pickled with ``protocol`` (-1: the highest)."""
        self.send(pickle.dumps(obj, protocol), flags=flags, callback=callback, **kwargs)

    # -- state -------------------------------------------------------------------------------
    def receiving(self) -> bool:
        """Whether a receive callback is set."""
        return self._recv_callback is not None

    def sending(self) -> bool:
        """Whether messages are queued to be sent."""
        return bool(self._send_queue)

    def closed(self) -> bool:
        """Whether the stream is closed (a socket closed behind its back closes it)."""
        if self.socket is None:
            return True
        if self.socket.closed:
            self.close()
            return True
        return False

    def flush(self, flag: int = POLLIN | POLLOUT, limit: int | None = None) -> int:
        """Handle pending messages now instead of in later loop iterations: receive (POLLIN
        in ``flag``: even with no receive callback, which drops them) and send (POLLOUT)
        until nothing is pending or ``limit`` messages were handled; returns how many. The
        stream's own dispatch skips the rest of this loop iteration."""
        self._check_closed()
        already_flushed = self._flushed
        self._flushed = False
        count = 0
        while not limit or count < limit:
            wanted = flag & POLLIN
            if flag & POLLOUT and self.sending():
                wanted |= POLLOUT
            if not wanted:
                break
            events = self.socket.getsockopt(EVENTS) & wanted
            if not events:
                break
            if events & POLLIN:
                self._handle_recv()
                count += 1
                if self.socket is None:
                    break  # a callback closed the stream
            if events & POLLOUT and self.sending() and (not limit or count < limit):
                if not self._handle_send():
                    break  # no room after all
                count += 1
                if self.socket is None:
                    break
        if count:
            self._flushed = True
            if not already_flushed:
                self.io_loop.add_callback(self._finish_flush)
        elif already_flushed:
            self._flushed = True
        self._rebuild_io_state()
        return count

    def _finish_flush(self) -> None:
        self._flushed = False

    def close(self, linger: int | None = None) -> None:
        """Stop watching the socket, close it (with ``linger`` if given) and run the close
        callback."""
        sock = self.socket
        if sock is None:
            return
        if sock.closed:
            # Its FD number is free and may be someone else's already: unregister it anyway,
            # as pyzmq does, but say so.
            warnings.warn(
                f"Unregistering FD {self._fd} after its socket was closed: this could remove "
                "another file's handler; close the stream instead of its socket",
                stacklevel=2,
            )
            self.io_loop.remove_handler(self._fd)
        else:
            self.io_loop.remove_handler(self._fd)
            sock.close(linger)
        self.socket = None  # type: ignore[assignment]
        if self._close_callback is not None:
            self._run_callback(self._close_callback)

    # -- dispatch ----------------------------------------------------------------------------
    def _run_callback(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            result = callback(*args)
        except Exception:
            gen_log.error("Uncaught exception in ZMQStream callback", exc_info=True)
            raise  # and the loop reports it too, as for any callback of its own
        if inspect.isawaitable(result):
            loop = getattr(self.io_loop, "asyncio_loop", None)
            task = asyncio.ensure_future(result, loop=loop)
            task.add_done_callback(_log_failure)

    def _handle_events(self, fd: Any = None, events: int = 0) -> None:
        """The loop's handler for the FD (``events`` set) and for our own re-dispatches."""
        if events:
            self._send_stalled = False
        else:
            self._scheduled = False
        sock = self.socket
        if sock is None:
            return
        try:
            # ETERM once the context is terminated, as libzmq's (handled below)
            zmq_events = sock.getsockopt(EVENTS)
        except ContextTerminated:
            zmq_events = -1
        except ZMQError as exc:
            if self.closed():
                gen_log.warning("Got events for stream %s whose socket is closed: %s", self, exc)
            else:
                gen_log.error("Error getting events for %s: %s", self, exc)
            return
        try:
            if zmq_events < 0:
                raise zmq_error(ETERM, "the context was terminated")
            if zmq_events & POLLIN and self.receiving():
                self._handle_recv()
                if self.socket is None:
                    return
            if zmq_events & POLLOUT and self.sending() and not self._send_stalled:
                self._handle_send()
        except ContextTerminated:
            # Nothing can be received any more, and term() waits for this socket: close it
            # (pyzmq leaves it open, and an error is raised at every wake-up until closed).
            gen_log.warning("The context of stream %s was terminated: closing the stream", self)
            self.close()
        finally:
            # Even after a callback raised: what is still pending must not wait for an edge
            # of the FD that may never come.
            self._rebuild_io_state()

    def _handle_recv(self) -> None:
        if self._flushed:
            return
        try:
            msg = self.socket.recv_multipart(DONTWAIT, copy=self._recv_copy)
        except ZMQError as exc:
            if exc.errno == errno.EAGAIN:
                return  # taken meanwhile (flush)
            raise
        callback = self._recv_callback
        if callback is not None:
            self._run_callback(callback, msg)

    def _handle_send(self) -> bool:
        """Send the first queued message; False if the socket had no room after all."""
        if self._flushed:
            return True
        if not self._send_queue:
            return True
        msg, kwargs = self._send_queue.popleft()
        user_flags = kwargs.get("flags", 0)
        send_kwargs = dict(kwargs, flags=user_flags | DONTWAIT)
        try:
            status: Any = self.socket.send_multipart(msg, **send_kwargs)
        except ZMQError as exc:
            if exc.errno == errno.EAGAIN and not user_flags & DONTWAIT:
                # Never block the loop: keep the message first in line for the next edge.
                self._send_queue.appendleft((msg, kwargs))
                self._send_stalled = True
                return False
            gen_log.error("ZMQStream send error: %s", exc)
            status = exc
        callback = self._send_callback
        if callback is not None:
            self._run_callback(callback, msg, status)
        return True

    def _check_closed(self) -> None:
        if self.socket is None:
            raise OSError("Stream is closed")

    def _rebuild_io_state(self) -> None:
        if self.socket is None:
            return
        state = 0
        if self.receiving():
            state |= POLLIN
        if self.sending():
            state |= POLLOUT
        self._state = state
        self._update_handler(state)

    def _add_io_state(self, state: int) -> None:
        self._state |= state
        self._update_handler(self._state)

    def _drop_io_state(self, state: int) -> None:
        self._state &= ~state
        self._update_handler(self._state)

    def _update_handler(self, state: int) -> None:
        """Come back in a later iteration if something wanted is pending already: the FD
        only signals changes, and the one that made it pending may have been consumed."""
        sock = self.socket
        if sock is None or self._scheduled:
            return
        if self._send_stalled:
            state &= ~POLLOUT
        if state and state & sock.getsockopt(EVENTS):
            self._scheduled = True
            self.io_loop.add_callback(self._handle_events)

    def __repr__(self) -> str:
        return f"<ZMQStream {self.socket!r}>"


def _log_failure(task: asyncio.Future) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        gen_log.error(
            "Uncaught exception in ZMQStream callback", exc_info=(type(exc), exc, exc.__traceback__)
        )

