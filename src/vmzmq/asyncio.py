"""asyncio support, as pyzmq's ``zmq.asyncio``: ``import vmzmq.asyncio as zaio``.

``Context().socket(type)`` returns a :class:`Socket` whose ``send``/``recv`` family, ``poll`` and
:class:`Poller.poll` return awaitable futures instead of blocking. No helper thread and no
polling timer: each socket's wake-up eventfd (``zmq.FD``) is watched with ``loop.add_reader``
and the work itself is done with non-blocking (``DONTWAIT``) calls on the loop's thread.

Guarantees:

* a cancelled ``recv`` loses no message: a future is completed only when a message is taken,
  and if the awaiting task is cancelled after that but before it resumed, the message is given
  back and received again first, in its original order;
* a cancelled ``send``/``send_multipart`` sends nothing (still queued) or everything (done);
* RCVTIMEO / SNDTIMEO make a pending call fail with :class:`vmzmq.Again`;
* a terminated context fails pending calls with :class:`vmzmq.ContextTerminated`;
* one loop per socket at a time; different sockets may live on different loops in different
  threads, next to ordinary (blocking) vmzmq sockets.

As in pyzmq, ``Context.term()`` waits until every socket is closed: on the loop's own thread,
close the sockets first, or use ``Context.destroy()``, which closes them (cancelling their
pending calls) and then terminates.
"""

from __future__ import annotations

import asyncio
import bisect
import errno
import json
import pickle
import select
import threading
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, overload

from .constants import EVENTS, FD, POLLERR, POLLIN, POLLOUT
from .context import Context as _SyncContext
from .error import ETERM, ZMQError, with_detail, zmq_error
from .frame import Frame, MessageTracker
from .poll import Poller as _SyncPoller
from .socket import Socket as _SyncSocket

if TYPE_CHECKING:
    from .engine.signaler import Signaler

    # What the send family's futures give: the synchronous send's result (see Socket.send).
    _Sent = MessageTracker | None

DONTWAIT = 1
SNDMORE = 2

_T = TypeVar("_T")

__all__ = ["Context", "Poller", "Socket"]


# -- one add_reader per (loop, signaler fd) ------------------------------------------------------
class _LoopWatch:
    """Fans one ``add_reader`` on a signaler eventfd out to every interested party on a loop.

    Draining the eventfd happens here and only here, inside the reader callback, right before
    every subscriber re-checks the socket. Subscribers never drain: if one did, the others could
    miss the wake-up it consumed.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # fd -> (the Signaler object that owns it, {key: callback})
        self.subs: dict[int, tuple[Signaler, dict[object, Callable[[], None]]]] = {}
        self.kicked: set[int] = set()

    def add(self, signaler: Signaler, key: object, callback: Callable[[], None]) -> None:
        fd = signaler.fd
        if fd < 0:
            raise with_detail(errno.ENOTSOCK, "the socket is closed")
        entry = self.subs.get(fd)
        if entry is not None and entry[0] is not signaler:
            # The fd number was reused: its old socket was closed behind our back.
            self._unregister(fd)
            entry = None
        if entry is None:
            entry = (signaler, {})
            self.subs[fd] = entry
            self.loop.add_reader(fd, self._fire, fd)
        entry[1][key] = callback

    def remove(self, signaler: Signaler, key: object, fd: int | None = None) -> None:
        fd = signaler.fd if fd is None else fd
        entry = self.subs.get(fd)
        if entry is None or entry[0] is not signaler:
            return
        entry[1].pop(key, None)
        if not entry[1]:
            self._unregister(fd)

    def _unregister(self, fd: int) -> None:
        self.subs.pop(fd, None)
        self.kicked.discard(fd)
        if not self.loop.is_closed():
            try:
                self.loop.remove_reader(fd)
            except (OSError, ValueError):
                pass  # already closed: the kernel dropped it from the selector

    def _fire(self, fd: int) -> None:
        entry = self.subs.get(fd)
        if entry is None:
            return
        if entry[0].fd != fd:  # closed under us: stop watching a number that may be reused
            self._unregister(fd)
            return
        entry[0].drain()
        self._run(fd)

    def kick(self, fd: int) -> None:
        """Run ``fd``'s subscribers soon: someone outside a callback drained its eventfd."""
        if fd in self.subs and fd not in self.kicked:
            self.kicked.add(fd)
            self.loop.call_soon(self._kicked, fd)

    def _kicked(self, fd: int) -> None:
        self.kicked.discard(fd)
        self._run(fd)

    def _run(self, fd: int) -> None:
        entry = self.subs.get(fd)
        if entry is not None:
            for callback in list(entry[1].values()):
                callback()


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWatch] = (
    weakref.WeakKeyDictionary()
)
_watches_lock = threading.Lock()


def _watch(loop: asyncio.AbstractEventLoop) -> _LoopWatch:
    with _watches_lock:  # loops in several threads create their entries concurrently
        watch = _watches.get(loop)
        if watch is None:
            watch = _watches[loop] = _LoopWatch(loop)
        return watch


def _current_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        warnings.warn(
            "No running event loop. vmzmq.asyncio should be used from within an asyncio loop.",
            RuntimeWarning,
            stacklevel=4,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.get_event_loop()


def _same_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return not loop.is_running()


# -- futures -------------------------------------------------------------------------------------
class _RecvFuture(asyncio.Future[_T]):
    """A Future for a received message that gives the message back to its socket when the
    awaiting task is cancelled after the message was taken but before the task resumed.

    asyncio delivers a cancellation even when the awaited future already has its result (the
    task was woken but had not run yet); a plain Future would lose the message there.
    """

    _putback: tuple[Socket, list[bytes], int | None] | None = None

    def __await__(self) -> Generator[Any, None, _T]:
        if not self.done():
            self._asyncio_future_blocking = True
            try:
                yield self
            except BaseException:  # CancelledError thrown in, or the coroutine being closed
                self._give_back()
                raise
        if not self.done():
            raise RuntimeError("await wasn't used with future")
        self._putback = None
        return self.result()

    __iter__ = __await__

    def _give_back(self) -> None:
        putback, self._putback = self._putback, None
        if putback is None or not self.done() or self.cancelled() or self.exception():
            return
        sock, frames, seq = putback
        sock._unrecv(frames, seq)


class _Waiter:
    __slots__ = ("future", "kind", "flags", "args", "timer", "load")

    # ``future`` gives what ``kind`` makes of the message (``load``'s result if given):
    # bytes, Frames, a str, a decoded object... so its type is the caller's to declare.
    def __init__(
        self,
        future: asyncio.Future[Any],
        kind: str,
        flags: int,
        args: tuple[Any, ...],
        load: Callable[[Any], Any] | None = None,
    ) -> None:
        self.future = future
        self.kind = kind
        self.flags = flags
        self.args = args
        self.load = load
        self.timer: asyncio.TimerHandle | None = None


def _frames(frames: list[bytes]) -> list[Frame]:
    out: list[Frame] = []
    for i, data in enumerate(frames):
        frame = Frame(data)
        frame.more = i < len(frames) - 1
        out.append(frame)
    return out


def _as_bytes(data: Any) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, Frame):
        return data.bytes
    if isinstance(data, str):
        raise TypeError("unicode not allowed, use send_string")
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError(f"{data!r:.32} does not support the buffer interface") from None


# -- the socket -----------------------------------------------------------------------------------
class Socket(_SyncSocket[asyncio.Future[Any]]):
    """A vmzmq socket whose send/recv/poll methods return awaitable futures.

    Everything else (bind, connect, options, ...) is the synchronous API. Use one socket
    from one event loop at a time.
    """

    # Async state lives in slots, not in the instance dict: from_socket() shares the dict of
    # the socket it wraps (so both see one state), while each wrapper keeps its own waiters.
    __slots__ = (
        "_owner",
        "_aloop",
        "_watching",
        "_recv_waiters",
        "_send_waiters",
        "_poll_waiters",
        "_wake",
        "_held",
        "_taken",
    )
    _owner: bool
    _aloop: asyncio.AbstractEventLoop | None
    _watching: bool
    _recv_waiters: deque[_Waiter]
    _send_waiters: deque[_Waiter]
    _poll_waiters: list[tuple[asyncio.Future[int], int]]
    _wake: Callable[[], None]
    _held: list[tuple[int, list[bytes]]]
    _taken: int

    def __init__(
        self,
        context: _SyncContext[Any] | _SyncSocket[Any] | None = None,
        socket_type: int = -1,
        io_loop: object = None,
        _from_socket: _SyncSocket[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(context, _SyncSocket):
            context, _from_socket = None, context
        if _from_socket is not None:
            # A second view of the same socket, as pyzmq's shadow sockets: shared state,
            # and this wrapper never closes the socket on garbage collection.
            object.__setattr__(self, "__dict__", _from_socket.__dict__)
            owner = False
        else:
            if context is None:
                context = Context.instance()
            super().__init__(context, socket_type, **kwargs)
            owner = True
        if io_loop is not None:
            warnings.warn(
                "the io_loop argument is ignored: the running loop is always used",
                DeprecationWarning,
                stacklevel=2,
            )
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_aloop", None)
        object.__setattr__(self, "_watching", False)
        object.__setattr__(self, "_recv_waiters", deque())
        object.__setattr__(self, "_send_waiters", deque())
        object.__setattr__(self, "_poll_waiters", [])
        # Whole messages given back by cancelled receivers, as (sequence number, frames),
        # oldest first; they are received again before anything new.
        object.__setattr__(self, "_held", [])
        object.__setattr__(self, "_taken", 0)
        ref = weakref.ref(self)

        def wake() -> None:
            # A weak reference: a socket nobody holds any more can still be collected.
            sock = ref()
            if sock is not None:
                sock._dispatch()

        object.__setattr__(self, "_wake", wake)
        if not self._closed:
            # Marks the signaler exposed: it is now written on every state change.
            _SyncSocket.getsockopt(self, FD)

    @classmethod
    def from_socket(cls, socket: _SyncSocket[Any], io_loop: object = None) -> Self:
        """An async view of an existing (synchronous) socket; both share one state."""
        return cls(_from_socket=socket, io_loop=io_loop)

    def __del__(self) -> None:
        if getattr(self, "_owner", False):
            super().__del__()
            return
        try:
            self._unwatch()
        except Exception:
            pass  # interpreter shutdown: the loop may be half torn down

    # -- loop and wake-ups ---------------------------------------------------------------------
    def _get_loop(self) -> asyncio.AbstractEventLoop:
        loop = _current_loop()
        if loop is not self._aloop:
            self._switch_loop(loop)
        return loop

    def _switch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        old = self._aloop
        if old is not None:
            self._unwatch()
            stale = [w.future for w in (*self._recv_waiters, *self._send_waiters)]
            stale += [f for f, _flags in self._poll_waiters]
            self._recv_waiters.clear()
            self._send_waiters.clear()
            self._poll_waiters.clear()
            _cancel_futures(old, stale)
        object.__setattr__(self, "_aloop", loop)

    def _ensure_watching(self) -> None:
        if not self._watching and self._aloop is not None:
            # Keyed by the wake function, not the socket: the registry must not keep it alive.
            _watch(self._aloop).add(self._signaler, self._wake, self._wake)
            object.__setattr__(self, "_watching", True)

    def _unwatch(self) -> None:
        loop = getattr(self, "_aloop", None)
        if not getattr(self, "_watching", False) or loop is None:
            return
        object.__setattr__(self, "_watching", False)
        if loop.is_closed():
            return
        watch = _watch(loop)
        signaler = self._signaler
        fd = signaler.fd
        if _same_thread(loop):
            watch.remove(signaler, self._wake, fd)
        else:
            try:
                loop.call_soon_threadsafe(watch.remove, signaler, self._wake, fd)
            except RuntimeError:
                pass  # the loop closed meanwhile

    def _dispatch(self) -> None:
        """Complete what can be completed now; called on every wake-up of the socket."""
        if self._closed:
            self._unwatch()
            self._cancel_all()
            return
        if self._recv_waiters:
            self._serve(self._recv_waiters, self._do_recv)
        if self._send_waiters:
            self._serve(self._send_waiters, self._do_send)
        if self._poll_waiters:
            self._serve_polls()

    def _serve(self, waiters: deque[_Waiter], attempt: Callable[[_Waiter], Any]) -> None:
        while waiters:
            waiter = waiters[0]
            if waiter.future.done():
                waiters.popleft()
                continue
            try:
                result = attempt(waiter)
            except ZMQError as exc:
                if exc.errno == errno.EAGAIN:
                    return  # nothing more to do until the next wake-up
                waiters.popleft()
                self._finish(waiter, exc=exc)
            except Exception as exc:  # e.g. a decoder failing on a received message
                waiters.popleft()
                self._finish(waiter, exc=exc)
            else:
                waiters.popleft()
                self._finish(waiter, result)

    @staticmethod
    def _finish(waiter: _Waiter, result: Any = None, exc: BaseException | None = None) -> None:
        if waiter.timer is not None:
            waiter.timer.cancel()
        if waiter.future.done():
            return
        if exc is not None:
            waiter.future.set_exception(exc)
        else:
            waiter.future.set_result(result)

    def _serve_polls(self) -> None:
        terminated = self._core.context.terminated
        events = 0 if terminated else self._events()
        for entry in list(self._poll_waiters):
            fut, flags = entry
            if fut.done():
                self._poll_waiters.remove(entry)
            elif terminated:
                self._poll_waiters.remove(entry)
                fut.set_exception(with_detail(ETERM, "the context was terminated"))
            elif events & flags:
                self._poll_waiters.remove(entry)
                fut.set_result(events & flags)

    def _cancel_all(self) -> None:
        futures = [w.future for w in (*self._recv_waiters, *self._send_waiters)]
        futures += [f for f, _flags in self._poll_waiters]
        for waiter in (*self._recv_waiters, *self._send_waiters):
            if waiter.timer is not None:
                waiter.timer.cancel()
        self._recv_waiters.clear()
        self._send_waiters.clear()
        self._poll_waiters.clear()
        loop = self._aloop
        if loop is not None:
            _cancel_futures(loop, futures)

    def _add_waiter(
        self, waiters: deque[_Waiter], waiter: _Waiter, timeout_ms: int
    ) -> asyncio.Future[Any]:
        loop = self._aloop
        assert loop is not None
        waiters.append(waiter)
        fut = waiter.future
        if timeout_ms >= 0:
            waiter.timer = loop.call_later(timeout_ms / 1000, Socket._timed_out, waiters, waiter)

        def forget(_f: asyncio.Future[Any]) -> None:
            # A cancelled or timed-out call must not linger in the queue until a wake-up.
            if waiter.timer is not None:
                waiter.timer.cancel()
            try:
                waiters.remove(waiter)
            except ValueError:
                pass

        fut.add_done_callback(forget)
        self._ensure_watching()
        return fut

    @staticmethod
    def _timed_out(waiters: deque[_Waiter], waiter: _Waiter) -> None:
        if not waiter.future.done():
            waiter.future.set_exception(zmq_error(errno.EAGAIN, "Resource temporarily unavailable"))

    def _unrecv(self, frames: list[bytes], seq: int | None) -> None:
        """Give back what a cancelled receiver took (see _RecvFuture).

        A whole message goes back among the held messages in the order it was first received
        (``seq``); a frame of a message still being read (``seq`` None) goes back in front of
        that message's remaining frames, so RCVMORE and the frame order stay right.
        """
        if self._closed:
            return
        if seq is None:
            self._recv_parts.extend(reversed(frames))  # (held last frame first)
        else:
            bisect.insort(self._held, (seq, frames), key=lambda entry: entry[0])
        if self._aloop is not None and self._watching:
            _watch(self._aloop).kick(self._signaler.fd)

    def _events(self, expose: bool = False) -> int:
        events = super()._events(expose)
        if self._held:
            events |= POLLIN
        return events

    def _take(
        self, whole: bool, flags: int, copy: bool, track: bool
    ) -> tuple[Any, list[bytes], int | None]:
        """The next message (``whole``) or frame: (what the caller gets, its frames as bytes,
        the message's sequence number if it was taken whole, else None). What the caller
        gets is bytes, a Frame, or a list of either, as ``whole`` and ``copy`` say."""
        parts = self._recv_parts
        if not parts and self._held:
            seq, frames = self._held.pop(0)
            if whole:
                msg: Any = frames if copy else _frames(frames)
                return msg, frames, seq
            parts.extend(frames[:0:-1])  # the rest is read on as a partly read message
            first = frames[0] if copy else _frames(frames)[0]
            return first, frames[:1], seq if len(frames) == 1 else None
        continuing = bool(parts)
        if whole:
            msg = _SyncSocket.recv_multipart(self, flags, copy, track)
            raw = [f.bytes if isinstance(f, Frame) else f for f in msg]
        else:
            msg = _SyncSocket.recv(self, flags, copy, track)
            raw = [msg.bytes if isinstance(msg, Frame) else msg]
        if continuing or parts:
            return msg, raw, None
        object.__setattr__(self, "_taken", self._taken + 1)
        return msg, raw, self._taken

    # -- receiving ---------------------------------------------------------------------------
    def _do_recv(self, waiter: _Waiter) -> Any:
        flags = waiter.flags | DONTWAIT
        kind = waiter.kind
        if kind == "recv_into":
            buf, nbytes = waiter.args
            frame, raw, seq = self._take(False, flags, True, False)
            view = memoryview(buf).cast("B")
            limit = len(view) if nbytes == 0 else min(nbytes, len(view))
            n = min(limit, len(frame))
            view[:n] = frame[:n]
            msg: Any = len(frame)
        else:
            msg, raw, seq = self._take(kind == "recv_multipart", flags, *waiter.args)
        if waiter.load is not None:
            msg = waiter.load(msg)
        fut = waiter.future
        if isinstance(fut, _RecvFuture):
            fut._putback = (self, raw, seq)
        return msg

    def _recv_call(
        self,
        kind: str,
        flags: int,
        args: tuple[Any, ...],
        load: Callable[[Any], Any] | None = None,
    ) -> asyncio.Future[Any]:
        loop = self._get_loop()
        fut: _RecvFuture[Any] = _RecvFuture(loop=loop)
        waiter = _Waiter(fut, kind, flags, args, load)
        if flags & DONTWAIT or not self._recv_waiters:
            # Take a message at once if there is one: no wake-up round trip.
            try:
                fut.set_result(self._do_recv(waiter))
            except ZMQError as exc:
                if flags & DONTWAIT or exc.errno != errno.EAGAIN:
                    fut.set_exception(exc)
            except Exception as exc:
                fut.set_exception(exc)
            if fut.done():
                fut._putback = None  # the caller holds it before any await: nothing to lose
                return fut
        return self._add_waiter(self._recv_waiters, waiter, self._opts.rcvtimeo)

    # The send/recv family returns futures of what the synchronous methods return, as
    # pyzmq's asyncio sockets do. Typing has no way to let a subclass change what its
    # methods return like that: hence ``type: ignore[override]`` on each of them (and
    # ``[assignment]`` on the aliases: recv_unicode, send_unicode).
    @overload  # type: ignore[override]
    def recv(
        self, flags: int = 0, copy: Literal[True] = True, track: bool = False
    ) -> asyncio.Future[bytes]: ...
    @overload
    def recv(
        self, flags: int = 0, *, copy: Literal[False], track: bool = False
    ) -> asyncio.Future[Frame]: ...
    @overload
    def recv(
        self, flags: int, copy: Literal[False], track: bool = False
    ) -> asyncio.Future[Frame]: ...
    @overload
    def recv(
        self, flags: int = 0, copy: bool = True, track: bool = False
    ) -> asyncio.Future[bytes] | asyncio.Future[Frame]: ...

    def recv(
        self, flags: int = 0, copy: bool = True, track: bool = False
    ) -> asyncio.Future[bytes] | asyncio.Future[Frame]:
        """Receive one frame; returns a future (bytes, or a Frame with ``copy=False``)."""
        return self._recv_call("recv", flags, (copy, track))

    @overload  # type: ignore[override]
    def recv_multipart(
        self, flags: int = 0, copy: Literal[True] = True, track: bool = False
    ) -> asyncio.Future[list[bytes]]: ...
    @overload
    def recv_multipart(
        self, flags: int = 0, *, copy: Literal[False], track: bool = False
    ) -> asyncio.Future[list[Frame]]: ...
    @overload
    def recv_multipart(
        self, flags: int, copy: Literal[False], track: bool = False
    ) -> asyncio.Future[list[Frame]]: ...
    @overload
    def recv_multipart(
        self, flags: int = 0, copy: bool = True, track: bool = False
    ) -> asyncio.Future[list[bytes]] | asyncio.Future[list[Frame]]: ...

    def recv_multipart(
        self, flags: int = 0, copy: bool = True, track: bool = False
    ) -> asyncio.Future[list[bytes]] | asyncio.Future[list[Frame]]:
        """Receive a whole message; returns a future for the list of frames."""
        return self._recv_call("recv_multipart", flags, (copy, track))

    def recv_into(  # type: ignore[override]
        self, buffer: Any, /, *, nbytes: int = 0, flags: int = 0
    ) -> asyncio.Future[int]:
        """Receive one frame into ``buffer``; returns a future for the frame's full size."""
        if nbytes < 0:
            raise ValueError(f"nbytes={nbytes!r} must be non-negative")
        return self._recv_call("recv_into", flags, (buffer, nbytes))

    def recv_string(  # type: ignore[override]
        self, flags: int = 0, encoding: str = "utf-8"
    ) -> asyncio.Future[str]:
        return self._recv_call("recv", flags, (True, False), lambda b: b.decode(encoding))

    recv_unicode = recv_string  # type: ignore[assignment]

    def recv_json(self, flags: int = 0, **kwargs: Any) -> asyncio.Future[Any]:
        return self._recv_call("recv", flags, (True, False), lambda b: json.loads(b, **kwargs))

    def recv_pyobj(self, flags: int = 0) -> asyncio.Future[Any]:
        return self._recv_call("recv", flags, (True, False), pickle.loads)

    @overload  # type: ignore[override]
    def recv_serialized(
        self, deserialize: Callable[[list[bytes]], _T], flags: int = 0, copy: Literal[True] = True
    ) -> asyncio.Future[_T]: ...
    @overload
    def recv_serialized(
        self, deserialize: Callable[[list[Frame]], _T], flags: int = 0, *, copy: Literal[False]
    ) -> asyncio.Future[_T]: ...
    @overload
    def recv_serialized(
        self, deserialize: Callable[[list[Frame]], _T], flags: int, copy: Literal[False]
    ) -> asyncio.Future[_T]: ...

    def recv_serialized(
        self, deserialize: Callable[[Any], _T], flags: int = 0, copy: bool = True
    ) -> asyncio.Future[_T]:
        return self._recv_call("recv_multipart", flags, (copy, False), deserialize)

    # -- sending -----------------------------------------------------------------------------
    def _do_send(self, waiter: _Waiter) -> Any:
        flags = waiter.flags | DONTWAIT
        if waiter.kind == "send_multipart":
            return _SyncSocket.send_multipart(self, waiter.args[0], flags, **waiter.args[1])
        return _SyncSocket.send(self, waiter.args[0], flags, **waiter.args[1])

    def _send_call(
        self, kind: str, data: Any, flags: int, kwargs: dict[str, Any]
    ) -> asyncio.Future[_Sent]:
        loop = self._get_loop()
        if self._send_parts and not flags & SNDMORE and not self._closed:
            # Frames sent earlier with SNDMORE join this one as one message that is queued,
            # retried or dropped (cancelled) as a whole: a failed attempt must not lose them.
            head = list(self._send_parts)
            self._send_parts.clear()
            data = head + (list(data) if kind == "send_multipart" else [data])
            kind = "send_multipart"
        fut: asyncio.Future[_Sent] = loop.create_future()
        waiter = _Waiter(fut, kind, flags, (data, kwargs))
        if flags & DONTWAIT and self._send_waiters:
            # Sending now would overtake the queued messages: as full as a blocked socket.
            fut.set_exception(zmq_error(errno.EAGAIN, "Resource temporarily unavailable"))
            return fut
        if flags & DONTWAIT or not self._send_waiters:
            try:
                fut.set_result(self._do_send(waiter))
            except ZMQError as exc:
                if flags & DONTWAIT or exc.errno != errno.EAGAIN:
                    fut.set_exception(exc)
            except Exception as exc:
                fut.set_exception(exc)
            if fut.done():
                return fut
        # Queued: freeze the data now, so what is sent later is what the caller passed.
        if kind == "send_multipart":
            waiter.args = ([_as_bytes(p) for p in data], kwargs)
        else:
            waiter.args = (_as_bytes(data), kwargs)
        return self._add_waiter(self._send_waiters, waiter, self._opts.sndtimeo)

    def send(  # type: ignore[override]
        self,
        data: Any,
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        routing_id: int | None = None,
        group: str | None = None,
    ) -> asyncio.Future[_Sent]:
        """Send one frame; returns a future, done when the frame is queued in full."""
        kwargs: dict[str, Any] = {"copy": copy, "track": track}
        if routing_id is not None:
            kwargs["routing_id"] = routing_id
        if group is not None:
            kwargs["group"] = group
        return self._send_call("send", data, flags, kwargs)

    def send_multipart(  # type: ignore[override]
        self,
        msg_parts: Sequence[Any],
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        **kwargs: Any,
    ) -> asyncio.Future[_Sent]:
        """Send a whole message; returns a future. Cancelled while pending, nothing is sent."""
        return self._send_call(
            "send_multipart", list(msg_parts), flags, {"copy": copy, "track": track}
        )

    # send_string / send_json / send_pyobj / send_serialized come from the synchronous class:
    # they end in self.send / self.send_multipart, so they return these futures. Declared
    # here (for type checkers only) as what they return on this class.
    if TYPE_CHECKING:

        def send_string(  # type: ignore[override]
            self,
            u: str,
            flags: int = 0,
            copy: bool = True,
            encoding: str = "utf-8",
            **kwargs: Any,
        ) -> asyncio.Future[_Sent]: ...

        send_unicode = send_string  # type: ignore[assignment]

        def send_json(  # type: ignore[override]
            self, obj: Any, flags: int = 0, **kwargs: Any
        ) -> asyncio.Future[_Sent]: ...

        def send_pyobj(  # type: ignore[override]
            self, obj: Any, flags: int = 0, protocol: int = pickle.DEFAULT_PROTOCOL, **kwargs: Any
        ) -> asyncio.Future[_Sent]: ...

        def send_serialized(  # type: ignore[override]
            self,
            msg: _T,
            serialize: Callable[[_T], Sequence[Any]],
            flags: int = 0,
            copy: bool = True,
            **kwargs: Any,
        ) -> asyncio.Future[_Sent]: ...

    # -- polling -----------------------------------------------------------------------------
    def poll(  # type: ignore[override]
        self, timeout: int | None = None, flags: int = POLLIN
    ) -> asyncio.Future[int]:
        """A future for the events in ``flags`` that are ready within ``timeout`` ms (0 if
        none; None or negative: wait as long as needed)."""
        self._check_open()
        loop = self._get_loop()
        fut: asyncio.Future[int] = loop.create_future()
        if self._core.context.terminated:
            fut.set_exception(with_detail(ETERM, "the context was terminated"))
            return fut
        ready = self._events() & flags
        if ready or timeout == 0:
            fut.set_result(ready)
            return fut
        entry = (fut, flags)
        self._poll_waiters.append(entry)
        if timeout is not None and timeout > 0:
            handle = loop.call_later(timeout / 1000, _resolve, fut, 0)
            fut.add_done_callback(lambda _f: handle.cancel())

        def forget(_f: asyncio.Future[int]) -> None:
            try:
                self._poll_waiters.remove(entry)
            except ValueError:
                pass

        fut.add_done_callback(forget)
        self._ensure_watching()
        return fut

    # -- options -----------------------------------------------------------------------------
    def getsockopt(self, option: int) -> Any:
        result = super().getsockopt(option)
        if option == EVENTS and self._watching and self._aloop is not None:
            # Reading EVENTS drained the eventfd: let pending calls look again.
            _watch(self._aloop).kick(self._signaler.fd)
        return result

    get = getsockopt

    # -- closing -----------------------------------------------------------------------------
    def close(self, linger: int | None = None) -> None:
        if not self._closed:
            self._unwatch()
            self._cancel_all()
            self._held.clear()
        super().close(linger)


def _resolve(fut: asyncio.Future[_T], value: _T) -> None:
    if not fut.done():
        fut.set_result(value)


def _cancel_futures(loop: asyncio.AbstractEventLoop, futures: list[asyncio.Future[Any]]) -> None:
    def cancel() -> None:
        for fut in futures:
            if not fut.done():
                fut.cancel()

    if not futures or loop.is_closed():
        return
    if _same_thread(loop):
        cancel()
    else:
        try:
            loop.call_soon_threadsafe(cancel)
        except RuntimeError:
            pass  # the loop closed meanwhile


# -- the poller -----------------------------------------------------------------------------------
class Poller(_SyncPoller):
    """pyzmq's asyncio Poller: ``await poller.poll(timeout_ms)`` -> [(socket or fd, events)].

    Registers vmzmq sockets (async or not) and plain file descriptors or objects with
    ``fileno()``; plain items are reported by fd, as by ``vmzmq.Poller``.
    """

    _socket_class: type[Socket]

    def _ready(self) -> list[tuple[Any, int]]:
        """What is ready now, without draining any socket's wake-up fd."""
        ready: list[tuple[Any, int]] = []
        raw = select.poll()
        raw_items: dict[int, int] = {}
        for item, flags in self.sockets:
            if isinstance(item, _SyncSocket):
                if item._core.context.terminated:
                    raise with_detail(ETERM, "the context was terminated")
                events = item._events() & flags
                if events:
                    ready.append((item, events))
            else:
                fd = item if isinstance(item, int) else item.fileno()
                mask = 0
                if flags & POLLIN:
                    mask |= select.POLLIN
                if flags & POLLOUT:
                    mask |= select.POLLOUT
                raw.register(fd, mask)
                raw_items[fd] = flags
        if raw_items:
            for fd, events in raw.poll(0):
                flags = raw_items[fd]
                got = 0
                if events & select.POLLIN:
                    got |= POLLIN
                if events & select.POLLOUT:
                    got |= POLLOUT
                if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                    got |= POLLERR
                got &= flags | POLLERR
                if got:
                    ready.append((fd, got))
        return ready

    def poll(  # type: ignore[override]
        self, timeout: float | None = -1
    ) -> asyncio.Future[list[tuple[Any, int]]]:
        """A future for the list of ready (item, events); [] when ``timeout`` ms pass."""
        loop = _current_loop()
        fut: asyncio.Future[list[tuple[Any, int]]] = loop.create_future()
        try:
            ready = self._ready()
        except Exception as exc:
            fut.set_exception(exc)
            return fut
        if ready or timeout == 0:
            fut.set_result(ready)
            return fut

        watch = _watch(loop)
        key = object()
        watched: list[tuple[Signaler, int]] = []  # (signaler, its fd: gone from it once closed)
        raw_fds: list[int] = []

        def check() -> None:
            if fut.done():
                return
            try:
                now = self._ready()
            except Exception as exc:
                fut.set_exception(exc)
                return
            if now:
                fut.set_result(now)

        try:
            for item, flags in self.sockets:
                if isinstance(item, _SyncSocket):
                    signaler = item._signaler
                    # Count as a waiter, so the socket writes its eventfd while we wait.
                    signaler.waiters += 1
                    watched.append((signaler, signaler.fd))
                    watch.add(signaler, key, check)
                else:
                    fd = item if isinstance(item, int) else item.fileno()
                    if flags & POLLIN:
                        loop.add_reader(fd, check)
                    if flags & POLLOUT:
                        loop.add_writer(fd, check)
                    raw_fds.append(fd)
        except Exception as exc:
            fut.set_exception(exc)

        def cleanup(_f: asyncio.Future[list[tuple[Any, int]]]) -> None:
            for signaler, fd in watched:
                signaler.waiters -= 1
                watch.remove(signaler, key, fd)
            for fd in raw_fds:
                loop.remove_reader(fd)
                loop.remove_writer(fd)

        fut.add_done_callback(cleanup)
        if not fut.done():
            if timeout is not None and timeout > 0:
                handle = loop.call_later(timeout / 1000, _resolve, fut, [])
                fut.add_done_callback(lambda _f: handle.cancel())
            # Waiters were counted after the first look: look once more before sleeping.
            check()
        return fut


Poller._socket_class = Socket


# -- the context ----------------------------------------------------------------------------------
class Context(_SyncContext[Socket]):
    """A context whose sockets are :class:`Socket` (async). ``Context(sync_context)`` is an
    async view of an existing context (one shared state, like pyzmq's shadow)."""

    _socket_class = Socket
    _instance: Context | None = None  # not shared with vmzmq.Context.instance()
    _instance_pid: int | None = None

    def __init__(
        self,
        io_threads: int | _SyncContext[Any] = 1,
        shadow: _SyncContext[Any] | int = 0,
        **kwargs: Any,
    ) -> None:
        base = io_threads if isinstance(io_threads, _SyncContext) else shadow
        if isinstance(base, _SyncContext):
            object.__setattr__(self, "__dict__", base.__dict__)
            return
        if shadow:  # an address: the sync Context finds the context it names (or refuses)
            super().__init__(shadow=shadow, **kwargs)
            return
        super().__init__(io_threads if isinstance(io_threads, int) else 1, **kwargs)
