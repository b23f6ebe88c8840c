"""Context: pyzmq's context API; owns the I/O thread and the inproc namespace."""

from __future__ import annotations

import errno
import os
import threading
import weakref
from typing import Any

from .engine.core import ContextCore
from .error import ETERM, with_detail
from .options import (
    CONTEXT_OPTION_DEFAULTS,
    OPTIONS_BY_NAME,
    check_socket_option,
    option_spec,
)
from .socket import Socket
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


class Context:
    """A ZeroMQ context: ``Context()``, ``Context.instance()``, ``socket(type)``,
    ``term()``, ``destroy(linger=)``; usable as a context manager (exit calls term)."""

    _socket_class: type[Socket] = Socket
    _instance: Context | None = None
    _instance_lock = threading.Lock()
    _instance_pid: int | None = None

    def __init__(self, io_threads: Any = 1, shadow: Any = 0, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"Context() got unexpected keyword arguments: {sorted(kwargs)}")
        base = io_threads if isinstance(io_threads, Context) else shadow
        if isinstance(base, Context):
            # A shadow shares the original's state (pyzmq shares the libzmq context).
            object.__setattr__(self, "__dict__", base.__dict__)
            return
        if shadow:
            raise with_detail(
                errno.EINVAL,
                "Context(shadow=...) takes a vmzmq Context; the address of another "
                "library's context cannot be shadowed",
            )
        if not isinstance(io_threads, int):
            raise TypeError(f"io_threads must be an int, not {type(io_threads).__name__}")
        self._core = ContextCore()
        self._core.zap_client = ZapClient(self)
        self._sockets: weakref.WeakSet[Socket] = weakref.WeakSet()
        self._sockopts: dict[int, Any] = {}
        self._options: dict[int, Any] = dict(CONTEXT_OPTION_DEFAULTS)
        self._options[1] = io_threads
        self._closed = False

    @classmethod
    def instance(cls, io_threads: int = 1) -> Context:
        """The process's shared context (a new one after fork or after it was closed)."""
        inst = cls._instance
        if inst is None or inst._closed or cls._instance_pid != os.getpid():
            with cls._instance_lock:
                inst = cls._instance
                if inst is None or inst._closed or cls._instance_pid != os.getpid():
                    inst = cls(io_threads=io_threads)
                    cls._instance = inst
                    cls._instance_pid = os.getpid()
        return inst

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def underlying(self) -> int:
        return id(self)

    def _check_open(self) -> None:
        if self._closed or self._core.terminated:
            raise with_detail(ETERM, "the context was terminated")

    def _register(self, sock: Socket) -> None:
        self._sockets.add(sock)

    def socket(self, socket_type: int, socket_class: type[Socket] | None = None,
               **kwargs: Any) -> Socket:
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
        if self._closed:
            return
        for sock in list(self._sockets):
            if not sock.closed:
                sock.close(linger=linger)
        self.term()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.term()

    def __repr__(self) -> str:
        closed = " closed" if self._closed else ""
        return f"<{type(self).__module__}.{type(self).__name__}() at {id(self):#x}{closed}>"

    # -- options ---------------------------------------------------------------------------------
    def set(self, option: int, optval: Any) -> None:
        """A context option, or a socket option that becomes the default for new sockets."""
        option = int(option)
        if option in _CONTEXT_OPTION_NAMES.values():
            self._options[option] = optval
            if option == 42:  # IPV6 is both: the default for new sockets
                self._sockopts[42] = optval
            return
        # Checked now: a default that every new socket would then drop (Socket.__init__ applies
        # them quietly) would be an option stored and ignored.
        check_socket_option(option, optval)
        self._sockopts[option] = optval

    def get(self, option: int) -> Any:
        option = int(option)
        if option in self._options:
            return self._options[option]
        option_spec(option)
        if option in self._sockopts:
            return self._sockopts[option]
        raise with_detail(22, f"context option {option} is not set")

    setsockopt = set
    getsockopt = get

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_") or key in type(self).__dict__:
            object.__setattr__(self, key, value)
            return
        upper = key.upper()
        if upper in _CONTEXT_OPTION_NAMES:
            self.set(_CONTEXT_OPTION_NAMES[upper], value)
        elif upper in OPTIONS_BY_NAME:
            self.set(OPTIONS_BY_NAME[upper].id, value)
        else:
            object.__setattr__(self, key, value)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        upper = key.upper()
        if upper in _CONTEXT_OPTION_NAMES:
            return self.get(_CONTEXT_OPTION_NAMES[upper])
        spec = OPTIONS_BY_NAME.get(upper)
        if spec is not None and spec.id in self._sockopts:
            return self._sockopts[spec.id]
        raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")

    def __delattr__(self, key: str) -> None:
        spec = OPTIONS_BY_NAME.get(key.upper())
        if spec is not None and spec.id in self._sockopts:
            del self._sockopts[spec.id]
            return
        object.__delattr__(self, key)


__all__ = ["Context"]
