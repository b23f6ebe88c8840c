"""Socket: pyzmq's synchronous socket API over the engine and a socket-type pattern."""

from __future__ import annotations

import errno
import json
import pickle
import random
import sys
import time
import types
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, Self, TypeVar, overload

from . import constants as C
from .engine.core import SocketCore
from .engine.pipe import GIL_ENABLED
from .engine.security import check as check_security
from .error import ZMQBindError, ZMQError, with_detail, zmq_error
from .frame import (
    _FINISHED_TRACKER,
    Frame,
    MessageTracker,
    _private,
    _release_watch,
    copy_threshold_default,
)
from .options import OPTIONS_BY_NAME, SocketOptions, option_spec
from .patterns import create_pattern
from .transport import get_transport, split_endpoint

if TYPE_CHECKING:
    import threading

    import typing_extensions

    from .context import Context
    from .engine.pipe import Pipe
    from .engine.signaler import Signaler
    from .monitor import SocketMonitor
    from .patterns.base import Pattern

    class _Solo(Protocol):
        """A pattern's queue or load balancer, or _NO_SOLO: see Socket.send and recv."""

        @property
        def solo(self) -> Pipe | None: ...

        @property
        def filtered(self) -> Pipe | None: ...

    # A default (PEP 696; typing's own TypeVar takes one from Python 3.13 only) lets a bare
    # ``zmq.Socket`` pass ``mypy --strict`` and keep pyzmq's meaning, any socket (asyncio's
    # too); ``zmq.Socket[bytes]`` still says which.
    _RecvT_co = typing_extensions.TypeVar("_RecvT_co", covariant=True, default=Any)
else:
    _RecvT_co = TypeVar("_RecvT_co", covariant=True)
_SocketT = TypeVar("_SocketT", bound="Socket[Any]")
_T = TypeVar("_T")

SNDMORE = 2
DONTWAIT = 1
POLLIN = 1
POLLOUT = 2

TYPE_NAMES = {
    0: "PAIR",
    1: "PUB",
    2: "SUB",
    3: "REQ",
    4: "REP",
    5: "DEALER",
    6: "ROUTER",
    7: "PULL",
    8: "PUSH",
    9: "XPUB",
    10: "XSUB",
    11: "STREAM",
}

_OPT_HWM = 1
_OPT_SUBSCRIBE = 6
_OPT_UNSUBSCRIBE = 7
_OPT_RCVMORE = 13
_OPT_FD = 14
_OPT_EVENTS = 15
_OPT_TYPE = 16
_OPT_LAST_ENDPOINT = 32
_OPT_THREAD_SAFE = 81
_OPT_TOPICS_COUNT = 116

# A shadow keeps the wrapper it shadows alive (pyzmq's ``_shadow_obj``); the dict is the
# wrappers' shared state, so this per-wrapper reference lives here.
_SHADOWED: weakref.WeakKeyDictionary[Socket, Socket] = weakref.WeakKeyDictionary()


class _BadBuffer(BufferError, TypeError):
    """What ``recv_into`` raises for a buffer it cannot write to: a BufferError, as pyzmq
    raises, and a TypeError, as vmzmq did before."""


class _NoSolo:
    """Stands in for a pattern's solo queue or sink where it has none (see Socket.send and
    Socket.recv): its ``solo`` is always None, so the hot paths need no extra test."""

    solo = None
    filtered = None


_NO_SOLO = _NoSolo()


class _EndpointContext(Generic[_SocketT]):
    """What bind()/connect() return: usable as a context manager that undoes them."""

    def __init__(self, socket: _SocketT, endpoint: str, undo: Callable[[str], None]) -> None:
        self.socket = socket
        self.endpoint = endpoint
        self._undo = undo

    def __enter__(self) -> _SocketT:
        return self.socket

    def __exit__(self, *exc: object) -> None:
        if not self.socket.closed:
            try:
                self._undo(self.endpoint)
            except ZMQError:
                pass


class Socket(Generic[_RecvT_co]):
    """A ZeroMQ socket with pyzmq's API (``import vmzmq as zmq``).

    Not thread-safe, like libzmq's sockets: use one socket from one thread at a time.
    Options are also attributes: ``s.linger = 0``, ``s.rcvtimeo``, ``s.routing_id``; other
    new attributes are refused (AttributeError), as in pyzmq, unless a subclass declares them.
    ``Socket(other)``, ``Socket.shadow(other.underlying)`` and ``copy.copy(other)`` are
    further wrappers over the same socket (pyzmq's shadows); only the wrapper that made the
    socket closes it when garbage-collected (with a ResourceWarning, as pyzmq).
    """

    _closed = True  # until __init__ has run, so __del__ stays quiet
    #: What repr() calls this class (subclasses show their own module and name).
    _repr_cls = "vmzmq.Socket"
    context: Context[Socket[Any]]
    # The state __init__ stores with object.__setattr__ (see __setattr__), declared for type
    # checkers; annotations only, so no class attribute stands in the hot paths' way.
    _owner_id: int
    _copy_threshold: int
    _type: int
    _opts: SocketOptions
    _core: SocketCore
    _pattern: Pattern
    _pattern_send: Callable[[list[bytes]], bool]
    _pattern_send_one: Callable[[bytes], bool]
    _pattern_recv: Callable[[], list[bytes] | None]
    _solo_queue: _Solo
    _solo_sink: _Solo
    _lock: threading.RLock
    _signaler: Signaler
    _send_parts: list[bytes]
    # The rest of a message being read frame by frame, last frame first (pop() is the next).
    _recv_parts: list[bytes]
    _recv_props: dict[str, bytes]
    _monitor: SocketMonitor | None
    # pyzmq's Socket is generic in what its recv family gives (``zmq.Socket[bytes]``, and
    # asyncio's sockets are ``Socket[Future]``), also in annotations evaluated at run time:
    # there a plain GenericAlias, as for builtin generics, rather than typing's.
    if not TYPE_CHECKING:
        __class_getitem__ = classmethod(types.GenericAlias)

    if TYPE_CHECKING:
        # Options as attributes (``s.rcvtimeo``, ``s.LINGER``), for type checkers: at run time
        # they are properties (see the end of the module), never this hook (see __setattr__).
        # As in pyzmq, the value is one of the options' types (not Any: a misspelt method
        # must still fail to type-check when called).
        def __getattr__(self, name: str) -> int | bytes | str: ...

    def __init__(
        self,
        ctx_or_socket: Context | Socket | None = None,
        socket_type: int = 0,
        *,
        shadow: Socket | int = 0,
        copy_threshold: int | None = None,
        **kwargs: Any,
    ) -> None:
        # ``context=`` is vmzmq's older name for the first argument.
        context = kwargs.pop("context", None) if ctx_or_socket is None else ctx_or_socket
        if kwargs:
            raise TypeError(f"Socket() got unexpected keyword arguments: {sorted(kwargs)}")
        if isinstance(context, Socket):
            shadow, context = context, None  # Socket(other_socket): a shadow, as pyzmq 25+
        if shadow is not None and shadow is not False and not (
            isinstance(shadow, int) and shadow == 0
        ):
            base = _live_socket(shadow)
            # One state, two wrappers (pyzmq: two objects over one libzmq socket).
            object.__setattr__(self, "__dict__", base.__dict__)
            _SHADOWED[self] = base
            if copy_threshold is not None:
                self.copy_threshold = copy_threshold
            return
        if context is None:
            raise TypeError("context must be specified")
        if socket_type not in TYPE_NAMES:
            raise with_detail(errno.EINVAL, f"unknown or unsupported socket type {socket_type!r}")
        if context.closed:
            raise with_detail(errno.ENOTSUP, "the context was terminated")
        context._check_open()
        object.__setattr__(self, "context", context)
        object.__setattr__(self, "_owner_id", id(self))  # the wrapper that closes on collection
        object.__setattr__(
            self,
            "_copy_threshold",
            copy_threshold_default() if copy_threshold is None else copy_threshold,
        )
        object.__setattr__(self, "_type", int(socket_type))
        opts = SocketOptions(
            socket_type,
            blocky=bool(context._options.get(70, 1)),
            ipv6=bool(context._options.get(42, 0)),
        )
        for option, value in context._sockopts.items():
            try:
                opts.set(option, value)
            except ZMQError:
                pass
        object.__setattr__(self, "_opts", opts)
        core = SocketCore(context._core, socket_type, TYPE_NAMES[socket_type], opts)
        pattern = create_pattern(socket_type, core)
        core.pattern = pattern
        core.eager_input = pattern.eager_input
        object.__setattr__(self, "_core", core)
        object.__setattr__(self, "_pattern", pattern)
        # The pattern's own methods, looked up once: the hot paths call nothing else.
        object.__setattr__(self, "_pattern_send", pattern.send)
        object.__setattr__(self, "_pattern_send_one", pattern.send_one)
        object.__setattr__(self, "_pattern_recv", pattern.recv)
        object.__setattr__(self, "_solo_queue", pattern.solo_queue or _NO_SOLO)
        object.__setattr__(self, "_solo_sink", pattern.solo_sink or _NO_SOLO)
        object.__setattr__(self, "_lock", core.lock)
        object.__setattr__(self, "_signaler", core.signaler)
        object.__setattr__(self, "_send_parts", [])
        object.__setattr__(self, "_recv_parts", [])
        object.__setattr__(self, "_recv_props", {})
        object.__setattr__(self, "_closed", False)
        object.__setattr__(self, "_monitor", None)
        context._register(self)
        with context._core.lock:
            context._core.sockets.add(core)

    # -- attributes as options -----------------------------------------------------------------
    # Options are properties generated from the option table (see the end of this module),
    # not a __getattr__ hook: a class with __getattr__ makes every attribute load in the hot
    # paths take CPython's slow generic route.
    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("subscribe", "unsubscribe", "SUBSCRIBE", "UNSUBSCRIBE"):
            # pyzmq: ``sock.subscribe = "topic"`` subscribes (str as UTF-8), whatever the
            # method of that name.
            if isinstance(value, str):
                value = value.encode("utf-8")
            option = _OPT_SUBSCRIBE if name.lower() == "subscribe" else _OPT_UNSUBSCRIBE
            self.setsockopt(option, value)
            return
        # (Never ``self.__dict__`` here: reading it turns the instance's attributes into a
        # dict of their own, and every attribute load in send and recv gets slower.)
        if (
            name.startswith("_")
            or hasattr(type(self), name)
            or _class_declares(type(self), name)
        ):
            object.__setattr__(self, name, value)
            return
        upper = name.upper()
        if upper == "HWM":
            self.set_hwm(value)
            return
        spec = OPTIONS_BY_NAME.get(upper)
        if spec is not None:
            self.setsockopt(spec.id, value)
            return
        if isinstance(getattr(C, upper, None), int):
            # pyzmq passes any constant's value to setsockopt, so ``s.pub = 1`` sets option 1
            # (EINVAL in libzmq 4). vmzmq refuses the name instead of guessing at a number.
            raise with_detail(errno.EINVAL, f"{upper} is not a socket option")
        raise AttributeError(f"{type(self).__name__} has no such option: {upper}")

    def __dir__(self) -> list[str]:
        # The class's names and every option's, as pyzmq lists them (object.__dir__ would
        # read the instance dict, which slows the socket down: see __setattr__).
        names = set(dir(type(self)))
        names.update(C.SocketOption.__members__)
        names.add("context")
        return sorted(names)

    # -- properties ------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def type(self) -> C.SocketType:
        return C.SocketType(self._type)

    @property
    def socket_type(self) -> C.SocketType:
        return C.SocketType(self._type)

    @property
    def last_endpoint(self) -> bytes:
        return self._core.last_endpoint.encode()

    @property
    def copy_threshold(self) -> int:
        """``send(copy=False)`` copies frames shorter than this (they get a done tracker);
        longer ones get a tracker that watches them (with ``track=True``)."""
        return self._copy_threshold

    @copy_threshold.setter
    def copy_threshold(self, value: int) -> None:
        object.__setattr__(self, "_copy_threshold", int(value))

    @property
    def underlying(self) -> int:
        """The address of the socket's engine state (pyzmq: of the libzmq socket); every
        shadow of a socket has the same. ``Socket.shadow(address)`` takes it. 0 once closed."""
        if self._closed:
            return 0
        return id(self._core)

    @property
    def _shadow(self) -> bool:
        return id(self) != getattr(self, "_owner_id", None)

    @classmethod
    def shadow(cls, address: Socket[Any] | int) -> Self:
        """A new wrapper over an existing vmzmq socket: ``address`` is a Socket or the
        ``underlying`` of one. It shares the socket (options, messages, closing); garbage
        collection of a shadow does not close the socket. libzmq's sockets (pyzmq's) cannot
        be shadowed: ZMQError EINVAL."""
        return cls(shadow=_live_socket(address))

    def __copy__(self, memo: Any = None) -> Self:
        """A copy of a socket is a shadow of it, as in pyzmq."""
        return type(self).shadow(self)

    __deepcopy__ = __copy__

    def fileno(self) -> int:
        """A file descriptor that becomes readable when EVENTS may have changed."""
        return self.getsockopt(_OPT_FD)

    def __repr__(self) -> str:
        cls = type(self)
        # The exact class's own _repr_cls only: a subclass shows its module and name.
        name = cls.__dict__.get("_repr_cls") or f"{cls.__module__}.{cls.__qualname__}"
        closed = " closed" if self._closed else ""
        kind = TYPE_NAMES.get(getattr(self, "_type", -1), "UNKNOWN")
        return f"<{name}(zmq.{kind}) at {id(self):#x}{closed}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Only the wrapper that made the socket closes it (a shadow never does); at
        # interpreter exit the I/O thread may have died holding our lock: leave it.
        if self._closed or id(self) != getattr(self, "_owner_id", None) or sys.is_finalizing():
            return
        try:
            warnings.warn(f"Unclosed socket {self}", ResourceWarning, stacklevel=2, source=self)
        except Exception:
            pass  # warnings half torn down
        try:
            self.close()
        except Exception:
            pass

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self, linger: int | None = None) -> None:
        """Close the socket. Queued outgoing messages are still delivered for up to LINGER
        ms (-1: until delivered) by the I/O thread; ``Context.term()`` waits for that."""
        if self._closed:
            return
        object.__setattr__(self, "_closed", True)
        if linger is None:
            linger = self._opts.linger
        monitor = self._monitor
        if monitor is not None:
            monitor.stop()
        self._core.close(int(linger))

    def _check_open(self) -> None:
        if self._closed:
            raise with_detail(errno.ENOTSOCK, "the socket is closed")

    # -- options ---------------------------------------------------------------------------------
    def setsockopt(self, option: int, value: Any) -> None:
        self._check_open()
        option = int(option)
        if option == _OPT_HWM:
            self.set_hwm(value)
            return
        if option in (_OPT_SUBSCRIBE, _OPT_UNSUBSCRIBE):
            if isinstance(value, str):
                raise TypeError("unicode not allowed, use setsockopt_string")
            topic = bytes(value)
            with self._lock:
                if option == _OPT_SUBSCRIBE:
                    self._pattern.subscribe(topic)
                else:
                    self._pattern.unsubscribe(topic)
            return
        spec = option_spec(option)
        if spec.kind in ("bytes", "str") and isinstance(value, str):
            raise TypeError(f"unicode not allowed for {spec.name}, use setsockopt_string")
        self._opts.set(option, value)
        with self._lock:
            self._pattern.options_changed()

    def getsockopt(self, option: int) -> Any:
        self._check_open()
        if self._core.context.terminated:  # libzmq: ETERM once the context is terminated
            raise with_detail(C.ETERM, "the context was terminated")
        option = int(option)
        if option == _OPT_HWM:
            return self.get_hwm()
        if option == _OPT_RCVMORE:
            return 1 if self._recv_parts else 0
        if option == _OPT_EVENTS:
            return self._events(expose=True)
        if option == _OPT_FD:
            self._signaler.exposed = True
            with self._lock:
                self._core.release_lent()  # the caller will wait on the fd, not in recv()
            return self._signaler.fd
        if option == _OPT_TYPE:
            return self._type
        if option == _OPT_LAST_ENDPOINT:
            return self._core.last_endpoint.encode()
        if option == _OPT_THREAD_SAFE:
            return 0
        if option == _OPT_TOPICS_COUNT:
            subs = getattr(self._pattern, "subs", None)
            if subs is None:
                subs = getattr(getattr(self._pattern, "filter", None), "topics", {})
            return len(subs)
        return self._opts.get(option)

    set = setsockopt
    get = getsockopt

    def setsockopt_string(self, option: int, value: str, encoding: str = "utf-8") -> None:
        if not isinstance(value, str):
            raise TypeError(f"expected str, got: {value!r}")
        self.setsockopt(option, value.encode(encoding))

    set_string = setsockopt_unicode = setsockopt_string

    def getsockopt_string(self, option: int, encoding: str = "utf-8") -> str:
        spec = option_spec(int(option))
        if spec.kind not in ("bytes", "str"):
            raise TypeError(f"option {spec.name} will not return a string")
        return self.getsockopt(option).decode(encoding)

    get_string = getsockopt_unicode = getsockopt_string

    def join(self, group: str | bytes) -> None:
        """Join a RADIO-DISH group: RuntimeError, as pyzmq without draft support (vmzmq has
        no draft socket types)."""
        raise RuntimeError("vmzmq has no draft socket types: RADIO-DISH needs libzmq's draft API")

    def leave(self, group: str | bytes) -> None:
        """Leave a RADIO-DISH group: RuntimeError, as :meth:`join`."""
        raise RuntimeError("vmzmq has no draft socket types: RADIO-DISH needs libzmq's draft API")

    def subscribe(self, topic: str | bytes) -> None:
        """Subscribe to a topic prefix (SUB), or apply one (XPUB_MANUAL)."""
        if isinstance(topic, str):
            topic = topic.encode("utf-8")
        self.setsockopt(_OPT_SUBSCRIBE, topic)

    def unsubscribe(self, topic: str | bytes) -> None:
        if isinstance(topic, str):
            topic = topic.encode("utf-8")
        self.setsockopt(_OPT_UNSUBSCRIBE, topic)

    def set_hwm(self, value: int) -> None:
        self.setsockopt(C.SNDHWM, value)
        self.setsockopt(C.RCVHWM, value)

    def get_hwm(self) -> int:
        return self.getsockopt(C.SNDHWM)

    hwm = property(get_hwm, set_hwm)

    def _events(self, expose: bool = False) -> int:
        if expose:
            self._signaler.drain()  # edge-triggered FD: reading EVENTS re-arms it
        events = 0
        with self._lock:
            core = self._core
            if core.lent:  # whoever asks is about to wait on the FD, not in recv()
                core.release_lent()
            if core.attention:
                core.reap()
            pattern = self._pattern
            if self._recv_parts or pattern.can_recv():
                events |= POLLIN
            if pattern.can_send():
                events |= POLLOUT
        return events

    # -- endpoints -------------------------------------------------------------------------------
    def bind(self, addr: str) -> _EndpointContext[Self]:
        """Bind to an endpoint: tcp://, ipc://, inproc://, vmci:// or vsock://."""
        self._check_open()
        addr = _text(addr, "endpoint")
        scheme, address = split_endpoint(addr)
        core = self._core
        if scheme == "inproc":
            core.bind_inproc(address)  # libzmq reports no LISTENING for inproc
            core.last_endpoint = addr
            return _EndpointContext(self, addr, self.unbind)
        transport = get_transport(scheme)
        target = transport.parse_bind(scheme, address)
        check_security(self._opts)
        try:
            sock, endpoint = transport.listen(target, self._opts)
        except ZMQError as exc:
            core.event("BIND_FAILED", exc.errno or 0, addr)
            raise
        with self._lock:
            core.add_listener(transport, sock, endpoint)
            core.last_endpoint = endpoint
        core.event("LISTENING", sock.fileno(), endpoint)
        return _EndpointContext(self, endpoint, self.unbind)

    def connect(self, addr: str) -> _EndpointContext[Self]:
        """Connect to an endpoint; the connection is made (and remade) in the background."""
        self._check_open()
        addr = _text(addr, "endpoint")
        scheme, address = split_endpoint(addr)
        core = self._core
        if scheme == "inproc":
            crid = bytes(self._opts.connect_routing_id or b"")
            core.connect_inproc(address, addr, crid)
            if crid:
                self._opts.connect_routing_id = b""
            core.last_endpoint = addr
            return _EndpointContext(self, addr, self.disconnect)
        transport = get_transport(scheme)
        target = transport.parse_connect(scheme, address)
        check_security(self._opts)
        with self._lock:
            crid = self._opts.connect_routing_id
            core.add_connecter(transport, target, addr, bytes(crid or b""))
            if crid:
                self._opts.connect_routing_id = b""  # libzmq applies it to one connect
            core.last_endpoint = transport.connect_endpoint(scheme, address, target)
        return _EndpointContext(self, addr, self.disconnect)

    def unbind(self, addr: str) -> None:
        self._check_open()
        addr = _text(addr, "endpoint")
        scheme, address = split_endpoint(addr)
        core = self._core
        with self._lock:
            if scheme == "inproc":
                found = core.unbind_inproc(address)
            else:
                key = get_transport(scheme).unbind_key(scheme, address)
                found = core.unbind(key)
        if not found:
            raise with_detail(errno.ENOENT, f"{addr!r} is not bound (use LAST_ENDPOINT's value)")

    def disconnect(self, addr: str) -> None:
        self._check_open()
        addr = _text(addr, "endpoint")
        scheme, _address = split_endpoint(addr)
        core = self._core
        with self._lock:
            if scheme == "inproc":
                found = core.disconnect_inproc(addr)
            else:
                found = core.disconnect(addr)
        if not found:
            raise with_detail(errno.ENOENT, f"{addr!r} is not connected")

    def bind_to_random_port(
        self,
        addr: str,
        min_port: int = 49152,
        max_port: int = 65536,
        max_tries: int = 100,
    ) -> int:
        """Bind to a random port of ``addr`` (e.g. "tcp://127.0.0.1"); return the port."""
        if min_port == 49152 and max_port == 65536:
            self.bind(f"{addr}:*")
            return int(self._core.last_endpoint.rsplit(":", 1)[-1])
        for _ in range(max_tries):
            port = random.randrange(min_port, max_port)
            try:
                self.bind(f"{addr}:{port}")
            except ZMQError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
            else:
                return port
        raise ZMQBindError("Could not bind socket to random port.")

    # -- sending ---------------------------------------------------------------------------------
    def send(
        self,
        data: Any,
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        routing_id: int | None = None,
        group: str | None = None,
    ) -> MessageTracker | None:
        """Send one frame; with SNDMORE more frames of the same message follow.

        Returns None, or with ``copy=False`` or a Frame a :class:`MessageTracker` as pyzmq
        does (see :mod:`vmzmq.frame`): frames shorter than ``copy_threshold`` are copied and
        get a tracker that is done at once; a longer one gets a tracker that watches it with
        ``track=True`` (None without); a Frame's own tracker for a Frame.
        """
        if routing_id is not None or group is not None or not copy:
            if routing_id is not None or group is not None:
                # pyzmq's arguments for the draft SERVER and RADIO sockets, which vmzmq lacks.
                raise with_detail(
                    errno.ENOTSUP, "send(routing_id=, group=) is for draft socket types vmzmq "
                    "does not have (SERVER, RADIO)",
                )
            return self._send_uncopied(data, flags, track)
        if type(data) is not bytes:
            if isinstance(data, Frame):
                return self._send_frame(data, flags, track)
            data = _frame_bytes(data)
        if flags & SNDMORE or self._send_parts:
            msg = self._gather(data, flags)
            if msg is None:
                return None
        else:
            msg = None  # one frame: the message list is made only if it is needed
        if self._closed:
            raise with_detail(errno.ENOTSOCK, "the socket is closed")
        # The common case, kept short: it is most of a send's cost. (acquire/release costs
        # half what ``with`` does on a lock.) A one-frame message to a lone peer needs
        # nothing but its engine's offer_one (joining a corked burst, or an inproc queue).
        lock = self._lock
        lock.acquire()
        try:
            if not self._core.attention:
                if msg is None:
                    pipe = self._solo_sink.solo
                    if pipe is not None:
                        engine = pipe.engine
                        if engine is not None and engine.offer_one(data):
                            return None
                    if self._pattern_send_one(data):
                        return None
                    msg = [data]
                elif self._pattern_send(msg):
                    return None
        finally:
            lock.release()
        if msg is None:
            msg = [data]
        try:
            self._send_msg(msg, flags)
        except ZMQError:
            if len(msg) > 1:  # the caller may retry the last frame: keep the ones before it
                object.__setattr__(self, "_send_parts", msg[:-1])
            raise
        return None

    def _send_frame(self, frame: Frame, flags: int, track: bool) -> MessageTracker | None:
        if track and not frame.tracker:
            raise ValueError("Not a tracked message")
        Socket.send(self, frame._bytes, flags)
        return frame.tracker

    def _send_uncopied(self, data: Any, flags: int, track: bool) -> MessageTracker | None:
        if isinstance(data, Frame):
            return self._send_frame(data, flags, track)
        payload = data if type(data) is bytes else _frame_bytes(data)
        payload, tracker = self._uncopied(data, payload, track)
        # The base class's send, whatever a subclass (asyncio: futures) makes of send.
        Socket.send(self, payload, flags)
        return tracker

    def _uncopied(
        self, data: Any, payload: bytes, track: bool
    ) -> tuple[bytes, MessageTracker | None]:
        """What ``copy=False`` sends of ``data`` (as ``payload``), and the tracker pyzmq
        would return: a done one for a short frame (copied), None for a long one without
        ``track``, else one watching a payload only vmzmq refers to."""
        threshold = self._copy_threshold
        if threshold and len(payload) < threshold:
            return payload, _FINISHED_TRACKER
        if not track:
            return payload, None
        payload = _private(data, payload)
        event = _release_watch(payload)
        return payload, (_FINISHED_TRACKER if event is None else MessageTracker(event))

    def _gather(self, data: bytes, flags: int) -> list[bytes] | None:
        """Collect SNDMORE frames; the whole message once its last frame comes."""
        if self._closed:
            raise with_detail(errno.ENOTSOCK, "the socket is closed")
        parts = self._send_parts
        if flags & SNDMORE:
            if not parts:
                with self._lock:
                    self._pattern.check_send()
            parts.append(data)
            return None
        parts.append(data)
        object.__setattr__(self, "_send_parts", [])
        return parts

    def _send_msg(self, msg: list[bytes], flags: int) -> None:
        with self._lock:
            core = self._core
            if core.attention:
                core.reap()
                if core.context.terminated:
                    raise with_detail(C.ETERM, "the context was terminated")
            if self._pattern.send(msg):
                return
        if flags & DONTWAIT:
            raise zmq_error(errno.EAGAIN, "Resource temporarily unavailable")
        timeout = self._opts.sndtimeo
        self._wait(lambda: self._pattern.send(msg) or None, timeout)

    def send_multipart(
        self,
        msg_parts: Sequence[Any],
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        **kwargs: Any,
    ) -> MessageTracker | None:
        """Send a whole message (a sequence of frames: bytes, buffers, Frames).

        The frames go as one message (routed when the last one is sent). Returns what
        :meth:`send` would for the last frame, except that a tracker that watches frames
        (``copy=False`` and ``track``, or tracked Frames) covers every frame it watches."""
        if self._closed:
            raise with_detail(errno.ENOTSOCK, "the socket is closed")
        if not msg_parts:
            # pyzmq indexes the last part: IndexError.
            raise IndexError("send_multipart needs at least one frame")
        frames: list[bytes] = []
        result: MessageTracker | None = None
        watched: list[MessageTracker] = []
        for i, part in enumerate(msg_parts):
            if type(part) is not bytes:
                if isinstance(part, Frame):
                    if track and not part.tracker:
                        raise ValueError("Not a tracked message")
                    result = part.tracker
                    if result is not None and result is not _FINISHED_TRACKER:
                        watched.append(result)
                    frames.append(part._bytes)
                    continue
                try:
                    payload = _frame_bytes(part)
                except TypeError:
                    raise TypeError(
                        f"Frame {i} ({part!r:.32}) does not support the buffer interface."
                    ) from None
            else:
                payload = part
            if copy:
                result = None
            else:
                payload, result = self._uncopied(part, payload, track)
                if result is not None and result is not _FINISHED_TRACKER:
                    watched.append(result)
            frames.append(payload)
        head = self._send_parts
        if head:  # frames sent earlier with SNDMORE lead this message
            frames = head + frames
            object.__setattr__(self, "_send_parts", [])
        if watched:
            result = watched[0] if len(watched) == 1 else MessageTracker(*watched)
        if flags & SNDMORE:
            with self._lock:
                self._pattern.check_send()
            object.__setattr__(self, "_send_parts", frames)
            return result
        try:
            self._send_msg(frames, flags)
        except ZMQError:
            # As libzmq: frames sent earlier with SNDMORE still wait for the rest.
            if head:
                object.__setattr__(self, "_send_parts", head)
            raise
        return result

    def send_string(self, u: str, flags: int = 0, copy: bool = True, encoding: str = "utf-8",
                    **kwargs: Any) -> MessageTracker | None:
        if not isinstance(u, str):
            raise TypeError("str objects only")
        return self.send(u.encode(encoding), flags=flags, copy=copy, **kwargs)

    send_unicode = send_string

    def send_json(self, obj: Any, flags: int = 0, **kwargs: Any) -> MessageTracker | None:
        send_kwargs = {k: kwargs.pop(k) for k in ("copy", "track", "routing_id", "group")
                       if k in kwargs}
        return self.send(json.dumps(obj, **kwargs).encode("utf-8"), flags, **send_kwargs)

    def send_pyobj(self, obj: Any, flags: int = 0, protocol: int = pickle.DEFAULT_PROTOCOL,
                   **kwargs: Any) -> MessageTracker | None:
        """Send ``obj`` pickled. Only for peers that trust this one: see recv_pyobj."""
        return self.send(pickle.dumps(obj, protocol), flags, **kwargs)

    def send_serialized(self, msg: _T, serialize: Callable[[_T], Sequence[Any]], flags: int = 0,
                        copy: bool = True, **kwargs: Any) -> MessageTracker | None:
        return self.send_multipart(serialize(msg), flags=flags, copy=copy, **kwargs)

    # -- receiving -------------------------------------------------------------------------------
    # bytes, or a Frame with copy=False (positional or keyword); the last overload is for a
    # ``copy`` known only at run time.
    @overload
    def recv(self, flags: int = 0, copy: Literal[True] = True, track: bool = False) -> bytes: ...
    @overload
    def recv(self, flags: int = 0, *, copy: Literal[False], track: bool = False) -> Frame: ...
    @overload
    def recv(self, flags: int, copy: Literal[False], track: bool = False) -> Frame: ...
    @overload
    def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> bytes | Frame: ...

    def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> bytes | Frame:
        """Receive one frame: bytes, or with ``copy=False`` a Frame (whose metadata
        ``get()`` reads; with ``track`` its tracker is done, as pyzmq's)."""
        parts = self._recv_parts
        if not parts:
            if copy and not self._closed and GIL_ENABLED:
                # The commonest case of all, one peer with messages waiting, pops without
                # the lock: only this thread takes messages out of a pipe (a socket is used
                # by one thread at a time) and a deque's popleft is atomic against the
                # writer's extend (the I/O thread's, or an inproc peer's, which holds its
                # own lock anyway). Anything else takes the lock below.
                core = self._core
                pipe = self._solo_queue.solo
                if pipe is not None and pipe.inq and not core.attention:
                    try:
                        msg = pipe.inq.popleft()
                    except IndexError:  # the pipe was taken away in between
                        pass
                    else:
                        core.recv_epoch += 1  # only ever compared for equality
                        if pipe.watch and len(pipe.inq) <= pipe.rcvhwm >> 1:
                            with self._lock:
                                pipe.check_resume()
                        if type(msg) is bytes:  # a one-frame message (see engine/pipe.py)
                            return msg
                        parts.extend(msg[:0:-1])
                        return msg[0]
                elif pipe is None and not core.attention:
                    view = self._solo_queue
                    if view.filtered is not None:
                        frame = self._recv_filtered(view)
                        if frame is not None:
                            return frame
                lock = self._lock  # the common case first, kept short (see send)
                lock.acquire()
                try:
                    msg = None if core.attention else self._pattern_recv()
                    core.recv_epoch += 1
                finally:
                    lock.release()
                if msg is None and not core.attention and not flags & DONTWAIT:
                    msg = self._wait(
                        self._pattern_recv, self._opts.rcvtimeo, reading=True, tried=True
                    )
                if msg is not None:
                    if len(msg) == 1:
                        return msg[0]
                    parts.extend(msg[:0:-1])
                    return msg[0]
            if self._closed:
                raise with_detail(errno.ENOTSOCK, "the socket is closed")
            msg = self._recv_msg(flags, not copy)
            if len(msg) == 1 and copy:
                return msg[0]
            parts.extend(reversed(msg))
        frame = parts.pop()
        if copy:
            return frame
        return Frame._received(frame, bool(parts), self._recv_props, track)

    def _recv_filtered(self, view: Any) -> bytes | None:
        """A subscriber's short way (see SoloView.filtered, and the lock-free pop in recv):
        pop its only pipe, dropping what its one-length topics refuse as XSub.recv would;
        the first frame of the first message they let through, or None when the pipe is
        empty."""
        pipe = view.filtered
        inq = pipe.inq
        topics = view.topics
        n = view.length
        core = self._core
        while inq:
            try:
                msg = inq.popleft()
            except IndexError:  # the pipe was taken away in between
                return None
            core.recv_epoch += 1
            if pipe.watch and len(inq) <= pipe.rcvhwm >> 1:
                with self._lock:
                    pipe.check_resume()
            kind = type(msg)
            if kind is bytes:
                if msg[:n] in topics:
                    return msg
            elif kind is list and msg[0][:n] in topics:
                self._recv_parts.extend(msg[:0:-1])
                return msg[0]
            # else a subscription sent to us (we are no publisher), dropped as XSub does
        return None

    def _recv_msg(self, flags: int, want_source: bool = False) -> list[bytes]:
        with self._lock:
            core = self._core
            core.recv_epoch += 1
            if core.attention:
                core.reap()
                if core.context.terminated:
                    raise with_detail(C.ETERM, "the context was terminated")
            msg = self._pattern.recv()
            if msg is not None:
                if want_source:
                    self._note_source()
                return msg
        if flags & DONTWAIT:
            raise zmq_error(errno.EAGAIN, "Resource temporarily unavailable")
        msg = self._wait(self._pattern.recv, self._opts.rcvtimeo, reading=True)
        if want_source:
            with self._lock:
                self._note_source()
        return msg

    def _note_source(self) -> None:
        fq = getattr(self._pattern, "fq", None)
        pipe = getattr(fq, "last", None) if fq is not None else getattr(self._pattern, "pipe", None)
        props = {} if pipe is None else pipe.properties
        object.__setattr__(self, "_recv_props", props)

    @overload
    def recv_multipart(
        self, flags: int = 0, copy: Literal[True] = True, track: bool = False
    ) -> list[bytes]: ...
    @overload
    def recv_multipart(
        self, flags: int = 0, *, copy: Literal[False], track: bool = False
    ) -> list[Frame]: ...
    @overload
    def recv_multipart(
        self, flags: int, copy: Literal[False], track: bool = False
    ) -> list[Frame]: ...
    @overload
    def recv_multipart(
        self, flags: int = 0, copy: bool = True, track: bool = False
    ) -> list[bytes] | list[Frame]: ...

    def recv_multipart(
        self, flags: int = 0, copy: bool = True, track: bool = False
    ) -> list[bytes] | list[Frame]:
        parts = self._recv_parts
        if parts:
            frames = parts[::-1]
            parts.clear()
        else:
            if self._closed:
                raise with_detail(errno.ENOTSOCK, "the socket is closed")
            frames = self._recv_msg(flags, not copy)
        if copy:
            return frames
        props = self._recv_props
        last = len(frames) - 1
        return [
            Frame._received(frame, i < last, props, track) for i, frame in enumerate(frames)
        ]

    def recv_into(self, buffer: Any, /, *, nbytes: int = 0, flags: int = 0) -> int:
        """Receive one frame into ``buffer`` (writable and contiguous), at most ``nbytes``
        of it (0: as much as fits); return the frame's full size (larger: it was truncated,
        as with libzmq's zmq_recv). ``recv_into(bytearray())`` drops a frame."""
        # Everything is checked before the message is taken: a bad argument loses nothing.
        if nbytes < 0:
            raise ValueError(f"nbytes={nbytes!r} must be non-negative")
        view = memoryview(buffer)  # TypeError for an object without a buffer, as pyzmq
        if view.readonly:
            raise _BadBuffer("memoryview: underlying buffer is not writable")
        if not view.c_contiguous:
            raise _BadBuffer("memoryview: underlying buffer is not contiguous")
        view = view.cast("B")
        size = len(view)
        if nbytes > size:
            raise ValueError(f"nbytes={nbytes} too big for memoryview of {size}B")
        frame = self.recv(flags)
        n = min(nbytes or size, len(frame))
        view[:n] = frame[:n]
        return len(frame)

    def recv_string(self, flags: int = 0, encoding: str = "utf-8") -> str:
        return self.recv(flags).decode(encoding)

    recv_unicode = recv_string

    def recv_json(self, flags: int = 0, **kwargs: Any) -> Any:
        return json.loads(self.recv(flags), **kwargs)

    def recv_pyobj(self, flags: int = 0) -> Any:
        """Receive a pickled object and unpickle it, as pyzmq does.

        Unpickling runs whatever code the message names: use this only with peers that are
        authenticated (CURVE with a ZAP handler, ipc with IPC_FILTER_UID...) and trusted.
        ``recv_json`` or ``recv_serialized`` with a safe decoder are the choice otherwise."""
        return pickle.loads(self.recv(flags))

    @overload
    def recv_serialized(
        self, deserialize: Callable[[list[bytes]], _T], flags: int = 0, copy: Literal[True] = True
    ) -> _T: ...
    @overload
    def recv_serialized(
        self, deserialize: Callable[[list[Frame]], _T], flags: int = 0, *, copy: Literal[False]
    ) -> _T: ...
    @overload
    def recv_serialized(
        self, deserialize: Callable[[list[Frame]], _T], flags: int, copy: Literal[False]
    ) -> _T: ...

    def recv_serialized(
        self, deserialize: Callable[[Any], _T], flags: int = 0, copy: bool = True
    ) -> _T:
        return deserialize(self.recv_multipart(flags, copy=copy))

    # -- waiting ---------------------------------------------------------------------------------
    def _wait(
        self,
        attempt: Callable[[], Any],
        timeout_ms: int,
        reading: bool = False,
        tried: bool = False,
    ) -> Any:
        """Block until ``attempt()`` (run under the lock) returns non-None, the timeout
        passes (Again) or the context is terminated (ContextTerminated). ``tried``: the
        caller has just made an attempt of its own (``SocketCore.wait`` may skip the next)."""
        signaler = self._signaler
        context = self._core.context
        core = self._core
        if timeout_ms < 0:
            deadline = remaining = None
        else:
            remaining = timeout_ms / 1000
            deadline = time.monotonic() + remaining
        signaler.waiters += 1  # before the next attempt: see Signaler.signal
        try:
            # The first wait makes an attempt before it blocks (with ``waiters`` raised, so
            # nothing that arrives from now on can go unsignalled).
            first = 1 if tried else 2
            while True:
                result = core.wait(remaining, reading, attempt, first)
                if result is not None:
                    return result
                first = 0
                if context.terminated:
                    raise with_detail(C.ETERM, "the context was terminated")
                if self._closed:
                    raise with_detail(errno.ENOTSOCK, "the socket was closed")
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise zmq_error(errno.EAGAIN, "Resource temporarily unavailable")
        finally:
            signaler.waiters -= 1

    def poll(self, timeout: int | None = None, flags: int = POLLIN) -> int:
        """Wait up to ``timeout`` ms (None: forever) for ``flags``; return the events."""
        self._check_open()
        from .poll import Poller

        poller = Poller()
        poller.register(self, flags)
        ready = dict(poller.poll(timeout))
        return ready.get(self, 0)

    # -- monitor ---------------------------------------------------------------------------------
    def monitor(self, addr: str | None, events: int = 0xFFFF) -> None:
        """Publish this socket's events on a PAIR bound to ``addr`` (None stops)."""
        from .monitor import SocketMonitor

        self._check_open()
        if self._monitor is not None:
            self._monitor.stop()
            object.__setattr__(self, "_monitor", None)
        if addr is None:
            return
        object.__setattr__(self, "_monitor", SocketMonitor(self, addr, events))

    def get_monitor_socket(
        self, events: int | None = None, addr: str | None = None
    ) -> Socket[Any]:
        self._check_open()
        if addr is None:
            addr = f"inproc://monitor.s-{id(self)}"
        self.monitor(addr, 0xFFFF if events is None else events)
        sock = self.context.socket(C.PAIR)
        sock.connect(addr)
        return sock

    def disable_monitor(self) -> None:
        self.monitor(None)


def _text(value: Any, what: str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, got {type(value).__name__}")
    return value


def _frame_bytes(data: Any) -> bytes:
    """The exact ``bytes`` the engine gets for ``data``: pipes tell a one-frame message from
    a list of frames by ``type(x) is bytes``, so a subclass of bytes is copied too."""
    if isinstance(data, Frame):
        return data._bytes
    if isinstance(data, str):
        raise TypeError("unicode not allowed, use send_string")
    try:
        with memoryview(data) as view:
            return view.tobytes()
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}") from None


def _class_declares(cls: type, name: str) -> bool:
    """Whether a class of the hierarchy annotates ``name`` (pyzmq allows setting those)."""
    return any(name in getattr(klass, "__annotations__", {}) for klass in cls.__mro__)


def _live_socket(address: Any) -> Socket:
    """The vmzmq socket that ``address`` (a Socket, or a socket's ``underlying``) names."""
    if isinstance(address, Socket):
        return address
    from .context import _live_contexts
    from .utils.interop import underlying_address

    number = underlying_address(address)
    if number:
        for context in _live_contexts():
            for sock in list(context._sockets):
                core = getattr(sock, "_core", None)
                if core is not None and id(core) == number and not sock._closed:
                    return sock
    raise with_detail(
        errno.EINVAL,
        f"{address!r} is not an open vmzmq socket or the underlying address of one: vmzmq "
        "shadows only its own sockets (a libzmq socket, such as pyzmq's, cannot be shadowed)",
    )


def _option_property(option: int, name: str) -> property:
    def fget(self: Socket) -> Any:
        try:
            return self.getsockopt(option)
        except ZMQError as exc:
            # As pyzmq: an option that cannot be read is no attribute (hasattr() is False,
            # and mocks rely on that).
            if exc.errno in (errno.EINVAL, errno.EFAULT):
                raise AttributeError(f"{name} attribute is write-only") from None
            raise

    def fset(self: Socket, value: Any) -> None:
        self.setsockopt(option, value)

    return property(fget, fset, doc=f"The {name} option.")


# ``s.linger`` and ``s.LINGER``, as pyzmq allows; names the class already uses (``type``,
# ``subscribe``) keep their meaning.
for _name, _spec in OPTIONS_BY_NAME.items():
    for _attr in (_name.lower(), _name):
        if not hasattr(Socket, _attr):
            setattr(Socket, _attr, _option_property(_spec.id, _name))
del _name, _spec, _attr

__all__ = ["Socket", "TYPE_NAMES"]

