"""ZAP authentication on an asyncio event loop, as pyzmq's ``zmq.auth.asyncio``.

::

    auth = AsyncioAuthenticator(ctx)
    auth.start()  # in a coroutine, or before the loop runs: a task on that loop answers
    auth.configure_curve(domain="*", location=CURVE_ALLOW_ANY)
    ...
    auth.stop()

The task waits with :class:`vmzmq.asyncio.Poller` (no thread, no polling timer) and answers
requests one after another; a credentials callback may be a coroutine.
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from typing import TYPE_CHECKING, Any

from ..error import Again, ContextTerminated
from .base import Authenticator

if TYPE_CHECKING:
    from ..asyncio import Poller
    from ..context import Context
    from .base import _Log

__all__ = ["AsyncioAuthenticator"]

_POLLIN = 1
_DONTWAIT = 1


class AsyncioAuthenticator(Authenticator):
    """An :class:`Authenticator` answering in a task on the running (or current) event loop
    from ``start()`` to ``stop()``. ``loop`` is accepted for pyzmq's sake and ignored."""

    def __init__(
        self,
        context: Context[Any] | None = None,
        loop: object = None,
        encoding: str = "utf-8",
        log: _Log | None = None,
    ) -> None:
        super().__init__(context, encoding, log)
        if loop is not None:
            warnings.warn(
                f"{type(self).__name__}(loop) is deprecated and ignored",
                DeprecationWarning,
                stacklevel=2,
            )
        self._poller: Poller | None = None
        self._task: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Bind the ZAP socket and start the task that answers it."""
        from ..asyncio import Poller

        super().start()
        self._poller = Poller()
        self._poller.register(self.zap_socket, _POLLIN)
        self._task = asyncio.ensure_future(self._serve(self._poller))

    def stop(self) -> None:
        """Cancel the task and close the ZAP socket."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._poller is not None:
            self._poller.unregister(self.zap_socket)
            self._poller = None
        super().stop()

    async def _serve(self, poller: Poller) -> None:
        zap = self.zap_socket
        if zap is None:
            return  # (never: start() binds the socket before it makes this task)
        try:
            while self._poller is poller:
                ready = dict(await poller.poll())
                if zap not in ready:
                    continue
                try:
                    msg = zap.recv_multipart(_DONTWAIT)
                except Again:
                    continue
                await self._answer(msg)
        except ContextTerminated:
            pass  # the context is going away; stop() may never come

    async def _answer(self, msg: list[bytes]) -> None:
        try:
            result = self.handle_zap_message(msg)
            if inspect.isawaitable(result):
                await result
        except Exception:
            # The task outlives any one request; the message itself may hold credentials.
            self.log.exception("the ZAP handler failed on a request, left unanswered")
