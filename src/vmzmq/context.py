"""Context: pyzmq's context API; owns the I/O thread and the inproc namespace."""

from __future__ import annotations

import errno
import os
import sys
import threading
import types
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

from .constants import ContextOption, SocketOption
from .engine.core import ContextCore
from .error import ETERM, with_detail
from .options import (
    CONTEXT_OPTION_DEFAULTS,
    CONTEXT_OPTIONS_WRITE_ONLY,
    OPTIONS_BY_NAME,
    check_context_option,
    check_socket_option,
)
from .socket import Socket
from .utils.interop import underlying_address
from .zap_client import ZapClient

_CONTEXT_OPTION_NAMES = {
    "IO_THREADS": 1,
    "MAX_SOCKETS": 2,
    "SOCKET_LIMIT": 3,
    "THREAD_PRIORITY": 3,
    "THREAD_SCHED_POLICY": 4,
    "MAX_MSGSZ": 5,
    "MSG_T_SIZE": 6,
    "THREAD_AFFINITY_CPU_ADD": 7,
    "THREAD_AFFINITY_CPU_REMOVE": 8,
    "THREAD_NAME_PREFIX": 9,
    "IPV6": 42,
    "BLOCKY": 70,
}
_THREAD_PRIORITY = 3  # written as THREAD_PRIORITY, read as SOCKET_LIMIT (libzmq)
_CPU_ADD = int(ContextOption.THREAD_AFFINITY_CPU_ADD)
_CPU_REMOVE = int(ContextOption.THREAD_AFFINITY_CPU_REMOVE)
_NAME_PREFIX = int(ContextOption.THREAD_NAME_PREFIX)
_IPV6 = 42
_KNOWN_CONTEXT_OPTIONS = frozenset(CONTEXT_OPTION_DEFAULTS) | CONTEXT_OPTIONS_WRITE_ONLY

if TYPE_CHECKING:
    import typing_extensions

    # Defaults as for Socket's parameter (see socket.py): a bare ``zmq.Context`` is any
    # context, asyncio's too.
    _SocketT_co = typing_extensions.TypeVar(
        "_SocketT_co", bound="Socket[Any]", covariant=True, default="Socket[Any]"
    )
else:
    _SocketT_co = TypeVar("_SocketT_co", bound="Socket[Any]", covariant=True)
_OtherSocketT = TypeVar("_OtherSocketT", bound="Socket[Any]")

# Every context made (not shadows): what Context.shadow(address) and Socket.shadow(address)
# look through.
_LIVE: weakref.WeakSet[Context] = weakref.WeakSet()
# A shadow keeps the context it shadows alive (pyzmq's ``_shadow_obj``): per wrapper, so here
# rather than in the state the wrappers share.
_SHADOWED: weakref.WeakKeyDictionary[Context, Context] = weakref.WeakKeyDictionary()


def _live_contexts() -> list[Context]:
    return [c for c in list(_LIVE) if not c.closed]


def _live_context(address: Any) -> Context:
    """The vmzmq context that ``address`` (a Context, or a context's ``underlying``) names."""
    if isinstance(address, Context):
        return address
    number = underlying_address(address)
    if number:
        for context in _live_contexts():
            if id(context._core) == number:
                return context
    raise with_detail(
        errno.EINVAL,
        f"{address!r} is not an open vmzmq context or the underlying address of one: vmzmq "
        "shadows only its own contexts (a libzmq context, such as pyzmq's, cannot be shadowed)",
    )


class Context(Generic[_SocketT_co]):
    """A ZeroMQ context: ``Context()``, ``Context.instance()``, ``socket(type)``,
    ``term()``, ``destroy(linger=)``; usable as a context manager (exit calls destroy, as
    pyzmq 24+ does). ``Context(other)`` or ``Context.shadow(other.underlying)`` is a second
    wrapper over the same context (pyzmq's shadow)."""

    # Typing cannot tell that this default fits the class's own parameter (a subclass for
    # another socket class sets its own, as asyncio's Context does).
    _socket_class: type[_SocketT_co] = Socket  # type: ignore[assignment]
    _instance: Context[Any] | None = None
    _instance_lock = threading.Lock()
    _instance_pid: int | None = None
    #: What repr() calls this class (subclasses show their own module and name).
    _repr_cls = "vmzmq.Context"
    # pyzmq's Context is generic in its socket class (``zmq.Context[zmq.Socket]``), also in
    # annotations evaluated at run time (a plain GenericAlias there, see Socket).
    if not TYPE_CHECKING:
        __class_getitem__ = classmethod(types.GenericAlias)

    def __init__(
        self, io_threads: int | Context[Any] = 1, shadow: Context[Any] | int = 0, **kwargs: Any
    ) -> None:
        if kwargs:
            raise TypeError(f"Context() got unexpected keyword arguments: {sorted(kwargs)}")
        if isinstance(io_threads, Context):
            shadow, io_threads = io_threads, 1  # Context(other): a shadow, as pyzmq 25+
        if shadow is not None and shadow is not False and not (
            isinstance(shadow, int) and shadow == 0
        ):
            base = _live_context(shadow)
            # One state, two wrappers (pyzmq: two objects over one libzmq context).
            object.__setattr__(self, "__dict__", base.__dict__)
            _SHADOWED[self] = base
            return
        if not isinstance(io_threads, int):
            raise TypeError(f"io_threads must be an int, not {type(io_threads).__name__}")
        self._core = ContextCore()
        self._core.zap_client = ZapClient(self)
        self._sockets: weakref.WeakSet[Socket[Any]] = weakref.WeakSet()
        self._sockopts: dict[int, Any] = {}
        self._options: dict[int, Any] = dict(CONTEXT_OPTION_DEFAULTS)
        self._options[1] = io_threads
        self._cpus: set[int] = set()
        self._closed = False
        self._owner_id = id(self)  # the wrapper that destroys the context when collected
        self._pid = os.getpid()
        _LIVE.add(self)

    @classmethod
    def instance(cls, io_threads: int = 1) -> Self:
        """The process's shared context (a new one after fork or after it was closed)."""
        inst = cls._instance
        if inst is None or inst._closed or cls._instance_pid != os.getpid():
            with cls._instance_lock:
                inst = cls._instance
                if inst is None or inst._closed or cls._instance_pid != os.getpid():
                    inst = cls(io_threads=io_threads)
                    cls._instance = inst
                    cls._instance_pid = os.getpid()
        # A class variable cannot be typed "an instance of the class that set it" (the
        # classes that share instance() keep one each, as asyncio's Context does).
        return inst  # type: ignore[return-value]

    @classmethod
    def shadow(cls, address: Context[Any] | int) -> Self:
        """A new wrapper over an existing vmzmq context: ``address`` is a Context or the
        ``underlying`` of one. It shares everything (sockets, options, term); garbage
        collection of a shadow does not end the context. libzmq's contexts (pyzmq's)
        cannot be shadowed: ZMQError EINVAL."""
        return cls(shadow=_live_context(address))

    def __copy__(self, memo: Any = None) -> Self:
        """A copy of a context is a shadow of it, as in pyzmq."""
        return type(self).shadow(self)

    __deepcopy__ = __copy__

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def underlying(self) -> int:
        """The address of the context's engine state (pyzmq: of the libzmq context); every
        shadow has the same. ``Context.shadow(address)`` takes it. 0 once terminated."""
        if self._closed:
            return 0
        return id(self._core)

    @property
    def _shadow(self) -> bool:
        return id(self) != getattr(self, "_owner_id", None)

    @property
    def sockopts(self) -> dict[int, Any]:
        """The socket options new sockets get (pyzmq exposes the dict by this name)."""
        return self._sockopts

    def _check_open(self) -> None:
        if self._closed or self._core.terminated:
            raise with_detail(ETERM, "the context was terminated")

    def _register(self, sock: Socket[Any]) -> None:
        self._sockets.add(sock)

    # pyzmq's names for the same bookkeeping (subclasses and tools call them).
    _add_socket = _register

    def _rm_socket(self, sock: Socket[Any]) -> None:
        self._sockets.discard(sock)

    # This context's socket class, or the one given (``socket_class=zmq.Socket`` on an
    # asyncio context makes a plain socket).
    @overload
    def socket(
        self, socket_type: int, socket_class: None = None, **kwargs: Any
    ) -> _SocketT_co: ...
    @overload
    def socket(
        self, socket_type: int, socket_class: type[_OtherSocketT], **kwargs: Any
    ) -> _OtherSocketT: ...
    @overload
    def socket(
        self, socket_type: int, socket_class: Callable[..., _OtherSocketT], **kwargs: Any
    ) -> _OtherSocketT: ...

    def socket(self, socket_type: int, socket_class: Callable[..., Socket[Any]] | None = None,
               **kwargs: Any) -> Socket[Any]:
        """A new socket of ``socket_type`` (of ``socket_class`` if given); ``kwargs`` go to
        the class (``copy_threshold=``). ZMQError ENOTSUP once the context is closed."""
        if self._closed:
            raise with_detail(errno.ENOTSUP, "the context was terminated")
        self._check_open()
        cls = socket_class or self._socket_class
        return cls(self, socket_type, **kwargs)

    def term(self) -> None:
        """Wake every blocked call with ContextTerminated, wait until every socket is closed
        and lingering messages are delivered (or LINGER passes), then stop the I/O thread."""
        if self._closed:
            return
        self._core.zap_client.close()
        self._core.terminate()
        self._closed = True

    def destroy(self, linger: int | None = None) -> None:
        """Close every socket of this context (with ``linger`` if given), then term()."""
        self._destroy(linger, warn=False)

    def _destroy(self, linger: int | None, warn: bool) -> None:
        if self._closed:
            return
        for sock in list(self._sockets):
            if not sock.closed:
                if warn and not getattr(sock, "_internal", False):
                    warnings.warn(
                        f"Destroying context with unclosed socket {sock}",
                        ResourceWarning,
                        stacklevel=4,
                        source=sock,
                    )
                sock.close(linger=linger)
        self.term()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        # As pyzmq 24+: sockets left open are closed (with a ResourceWarning) rather than
        # leaving term() waiting for them for ever.
        self._destroy(None, warn=True)

    def __del__(self) -> None:
        if (
            getattr(self, "_closed", True)
            or id(self) != getattr(self, "_owner_id", None)
            or sys.is_finalizing()
            or self._pid != os.getpid()  # a forked child's copy: its I/O thread is not here
        ):
            return
        try:
            warnings.warn(f"Unclosed context {self}", ResourceWarning, stacklevel=2, source=self)
        except Exception:
            pass  # warnings half torn down
        # pyzmq destroys a context nobody refers to. Ours is referenced by its ZAP client,
        # so only the cycle collector gets here, in whatever thread it runs: possibly one
        # holding an engine lock, or the I/O thread that term() joins. So the waiting is
        # done by a thread of its own; every socket of the context is unreachable as well
        # (each refers to its context) and is closed by its own finalizer.
        core = self._core
        self._closed = True

        def end() -> None:
            core.zap_client.close()
            core.terminate()

        try:
            threading.Thread(target=end, name="vmzmq-context-end", daemon=True).start()
        except Exception:
            pass  # no new threads (interpreter shutting down): the process is ending anyway

    def __repr__(self) -> str:
        cls = type(self)
        name = cls.__dict__.get("_repr_cls") or f"{cls.__module__}.{cls.__qualname__}"
        closed = " closed" if getattr(self, "_closed", True) else ""
        sockets = getattr(self, "_sockets", None)
        count = sum(1 for s in list(sockets) if not s.closed) if sockets is not None else 0
        shown = f"{count} socket{'s' if count > 1 else ''}" if count else ""
        return f"<{name}({shown}) at {id(self):#x}{closed}>"

    def __dir__(self) -> list[str]:
        names = set(dir(type(self)))
        names.update(ContextOption.__members__)
        return sorted(names)

    # -- options ---------------------------------------------------------------------------------
    def set(self, option: int, optval: Any) -> None:
        """A context option (zmq_ctx_set): IO_THREADS, MAX_SOCKETS, IPV6, BLOCKY...
        ZMQError EINVAL for anything else, as libzmq (socket defaults: ``setsockopt``);
        RuntimeError once the context is closed, as pyzmq."""
        if self._closed:
            raise RuntimeError("Context has been destroyed")
        option = int(option)
        if not isinstance(optval, int) and not (option == _NAME_PREFIX and optval is not None):
            raise TypeError(f"expected int, got: {optval!r}")
        value = check_context_option(option, optval)
        if option == _CPU_ADD:
            self._cpus.add(int(value))
            return
        if option == _CPU_REMOVE:
            if value not in self._cpus:
                raise with_detail(errno.EINVAL, f"CPU {value} was not added to the affinity")
            self._cpus.discard(int(value))
            return
        if option == _THREAD_PRIORITY:
            self._thread_priority = value  # reading id 3 still answers SOCKET_LIMIT
            return
        self._options[option] = value
        if option == _IPV6:  # also the default for new sockets, as in libzmq
            self._sockopts[_IPV6] = value

    def get(self, option: int) -> Any:
        """A context option's value (zmq_ctx_get); ZMQError EINVAL for one that cannot be
        read; RuntimeError once the context is closed, as pyzmq."""
        if self._closed:
            raise RuntimeError("Context has been destroyed")
        option = int(option)
        if option not in self._options:
            raise with_detail(errno.EINVAL, f"{_option_name(option)} cannot be read")
        return self._options[option]

    def setsockopt(self, option: int, value: Any) -> None:
        """A socket option every new socket of this context starts with. Checked now (pyzmq
        stores anything): a default each new socket would then drop is refused at once."""
        option = int(option)
        check_socket_option(option, value)
        try:
            option = SocketOption(option)  # pyzmq's sockopts are keyed by the enum
        except ValueError:
            pass
        self._sockopts[option] = value

    def getsockopt(self, option: int) -> Any:
        """A default set by ``setsockopt``; KeyError if none is, as pyzmq."""
        option = int(option)
        if option in self._sockopts:
            return self._sockopts[option]
        try:
            raise KeyError(SocketOption(option))
        except ValueError:
            raise KeyError(option) from None

    # -- pyzmq's attribute rules: options by name, no other new attributes -------------------
    def __setattr__(self, key: str, value: Any) -> None:
        if (
            key.startswith("_")
            or hasattr(type(self), key)
            or _class_declares(type(self), key)
        ):
            object.__setattr__(self, key, value)
            return
        upper = key.upper()
        if upper in _CONTEXT_OPTION_NAMES:
            self.set(_CONTEXT_OPTION_NAMES[upper], value)
        elif upper in OPTIONS_BY_NAME:
            self.setsockopt(OPTIONS_BY_NAME[upper].id, value)
        else:
            raise AttributeError(f"{type(self).__name__} has no such option: {upper}")

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        upper = key.upper()
        if upper in _CONTEXT_OPTION_NAMES:
            try:
                return self.get(_CONTEXT_OPTION_NAMES[upper])
            except Exception as exc:
                if getattr(exc, "errno", None) == errno.EINVAL:
                    raise AttributeError(f"{key} attribute is write-only") from None
                raise
        spec = OPTIONS_BY_NAME.get(upper)
        if spec is None:
            raise AttributeError(f"{type(self).__name__} has no such option: {upper}")
        if spec.id not in self._sockopts:
            raise AttributeError(upper)
        return self._sockopts[spec.id]

    def __delattr__(self, key: str) -> None:
        if key in self.__dict__:
            object.__delattr__(self, key)
            return
        spec = OPTIONS_BY_NAME.get(key.upper())
        if spec is None:
            raise AttributeError(f"No such socket option: {key.upper()!r}")
        if spec.id not in self._sockopts:
            raise AttributeError(key.upper())
        del self._sockopts[spec.id]


def _option_name(option: int) -> str:
    try:
        return f"context option {ContextOption(option).name}"
    except ValueError:
        return f"context option {option}"


def _class_declares(cls: type, name: str) -> bool:
    """Whether a class of the hierarchy annotates ``name`` (pyzmq allows setting those)."""
    return any(name in getattr(klass, "__annotations__", {}) for klass in cls.__mro__)


__all__ = ["Context"]
