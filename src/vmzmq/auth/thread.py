"""ZAP authentication in a background thread, as pyzmq's ``zmq.auth.thread``.

::

    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_plain(domain="*", passwords={"admin": "secret"})
    ...
    auth.stop()

The thread sleeps in a :class:`vmzmq.Poller` on the ZAP socket and a PAIR control pipe until a
request or ``stop()`` arrives. ``handle_zap_message`` (a coroutine, as in pyzmq, so credentials
callbacks may be awaitable) runs to completion on an event loop the thread owns; requests are
answered one after another. A subclass may also override it with a plain function, as
written for older pyzmq.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import sys
import threading
from typing import TYPE_CHECKING, Any

from ..error import Again, ContextTerminated, ZMQError
from .base import Authenticator

if TYPE_CHECKING:
    from ..context import Context
    from ..poll import Poller
    from ..socket import Socket
    from .base import _Log

__all__ = ["AuthenticationThread", "ThreadAuthenticator"]

_PAIR = 0
_POLLIN = 1
_DONTWAIT = 1
_TERMINATE = b"TERMINATE"

_pipe_names = itertools.count()


class AuthenticationThread(threading.Thread):
    """Runs an :class:`Authenticator`'s ZAP socket; ``ThreadAuthenticator`` starts it.

    ``started`` is set once it is serving (or has failed to start: ``failure`` says why).
    """

    def __init__(self, authenticator: Authenticator, pipe: Socket[bytes]) -> None:
        super().__init__(name="vmzmq-zap", daemon=True)
        self.authenticator = authenticator
        self.log = authenticator.log
        self.pipe: Socket[bytes] | None = pipe
        self.started = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        from ..poll import Poller

        pipe = self.pipe
        zap = self.authenticator.zap_socket
        loop: asyncio.AbstractEventLoop | None = None
        try:
            try:
                if pipe is None or zap is None:
                    raise RuntimeError("the authenticator thread was started without its sockets")
                loop = asyncio.new_event_loop()
                poller = Poller()
                poller.register(pipe, _POLLIN)
                poller.register(zap, _POLLIN)
            except BaseException as exc:
                self.failure = exc
                raise
            finally:
                self.started.set()
            self._serve(loop, poller, pipe, zap)
        except ContextTerminated:
            # Nobody will stop() us in time for term(), which waits for every socket. (Only
            # serving raises this, and it starts with both sockets.)
            if zap is not None:
                zap.close(linger=0)
        except ZMQError as exc:
            # E.g. the ZAP socket closed behind our back: nothing left to serve.
            self.log.error("the authenticator thread stops: %s", exc)
        finally:
            if pipe is not None:
                pipe.close(linger=0)
            self.pipe = None
            if loop is not None:
                loop.close()

    def _serve(
        self,
        loop: asyncio.AbstractEventLoop,
        poller: Poller,
        pipe: Socket[bytes],
        zap: Socket[bytes],
    ) -> None:
        while True:
            ready = dict(poller.poll())
            if pipe in ready and self._handle_pipe_message(pipe.recv_multipart()):
                return
            if zap in ready:
                try:
                    msg = zap.recv_multipart(_DONTWAIT)
                except Again:
                    continue
                self._answer(loop, msg)

    def _answer(self, loop: asyncio.AbstractEventLoop, msg: list[bytes]) -> None:
        try:
            result = self.authenticator.handle_zap_message(msg)
            if inspect.isawaitable(result):
                loop.run_until_complete(result)
        except Exception:
            # The thread outlives any one request; the message itself may hold credentials.
            self.log.exception("the ZAP handler failed on a request, left unanswered")

    def _handle_pipe_message(self, msg: list[bytes]) -> bool:
        """True when told to stop."""
        command = msg[0] if msg else b""
        if command == _TERMINATE:
            return True
        self.log.error("unknown command on the authenticator's pipe: %r", command[:32])
        if self.pipe is not None:
            try:
                self.pipe.send(b"ERROR", _DONTWAIT)
            except Again:
                pass  # nobody reads the answers: do not block the requests on them
        return False


class ThreadAuthenticator(Authenticator):
    """An :class:`Authenticator` that answers in a background thread from ``start()`` to
    ``stop()``."""

    pipe: Socket[bytes] | None
    pipe_endpoint: str
    thread: AuthenticationThread | None

    def __init__(
        self, context: Context[Any] | None = None, encoding: str = "utf-8", log: _Log | None = None
    ) -> None:
        super().__init__(context=context, encoding=encoding, log=log)
        self.pipe = None
        self.pipe_endpoint = f"inproc://vmzmq.auth.{id(self):x}.{next(_pipe_names)}"
        self.thread = None

    def start(self) -> None:
        """Bind the ZAP socket and start answering in a thread."""
        from ..socket import Socket

        super().start()
        thread_pipe: Socket[bytes] | None = None
        try:
            self.pipe = self.context.socket(_PAIR, socket_class=Socket)
            self.pipe.linger = 1
            self.pipe.bind(self.pipe_endpoint)
            thread_pipe = self.context.socket(_PAIR, socket_class=Socket)
            thread_pipe.linger = 1
            thread_pipe.connect(self.pipe_endpoint)
            self.thread = AuthenticationThread(self, thread_pipe)
            self.thread.start()
            thread_pipe = None  # the thread's now
            self.thread.started.wait()
            if self.thread.failure is not None:
                raise RuntimeError(
                    f"the authenticator thread failed to start: {self.thread.failure!r}"
                )
        except BaseException:
            if thread_pipe is not None:
                thread_pipe.close(linger=0)
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the thread (waiting for the request it is answering) and close the sockets."""
        if self.pipe is not None:
            try:
                self.pipe.send(_TERMINATE, _DONTWAIT)
            except ZMQError:
                pass  # the thread is gone already (context terminated, or never started)
            if self.thread is not None and self.thread is not threading.current_thread():
                self.thread.join()
            self.pipe.close()
            self.pipe = None
        self.thread = None
        super().stop()

    def is_alive(self) -> bool:
        """Whether the thread is running."""
        return bool(self.thread and self.thread.is_alive())

    def __del__(self) -> None:
        if sys.is_finalizing():
            return
        try:
            self.stop()
        except Exception:
            pass
