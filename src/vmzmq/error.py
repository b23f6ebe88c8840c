"""Exceptions, shaped like pyzmq's, carrying libzmq's errno values."""

from __future__ import annotations

import errno as _errno
import os

ZMQ_HAUSNUMERO = 156384712

# libzmq's own error codes (zmq.h); the rest are the platform's errno values.
EFSM = ZMQ_HAUSNUMERO + 51
ENOCOMPATPROTO = ZMQ_HAUSNUMERO + 52
ETERM = ZMQ_HAUSNUMERO + 53
EMTHREAD = ZMQ_HAUSNUMERO + 54

_ZMQ_MESSAGES = {
    EFSM: "Operation cannot be accomplished in current state",
    ENOCOMPATPROTO: "The protocol is not compatible with the socket type",
    ETERM: "Context was terminated",
    EMTHREAD: "No thread available",
}


def strerror(errnum: int) -> str:
    """Describe an errno value the way libzmq's ``zmq_strerror`` does."""
    if errnum in _ZMQ_MESSAGES:
        return _ZMQ_MESSAGES[errnum]
    return os.strerror(errnum)


class DraftFDWarning(RuntimeWarning):
    """pyzmq warns with this when it emulates ``zmq.FD`` for libzmq's thread-safe draft
    sockets. vmzmq has no draft socket types, so it never issues it; the class exists for
    code that filters it (``warnings.simplefilter("ignore", zmq.error.DraftFDWarning)``)."""

    def __init__(self, msg: str = "") -> None:
        super().__init__(msg or "zmq.FD on a thread-safe (draft) socket is emulated")


class ZMQBaseError(Exception):
    """Base of every exception vmzmq raises."""


class ZMQError(ZMQBaseError):
    """An error with an errno, as raised by pyzmq.

    ``str(err)`` is the message: where vmzmq knows what was wrong (the endpoint, the option,
    the value) it says so, after libzmq's generic text.
    """

    errno: int | None
    strerror: str

    def __init__(self, errno: int | None = None, msg: str | None = None) -> None:
        if errno is None:
            errno = _errno.EINVAL  # libzmq's last error, which pyzmq reads here, is never ours
        if isinstance(errno, int):
            text = msg if msg is not None else strerror(errno)
        else:
            # pyzmq takes a message in place of the number: ZMQError("what went wrong").
            text = msg if msg is not None else str(errno)
            errno = None
        super().__init__(text)
        # After the base class's __init__: OSError's (InterruptedSystemCall) resets both.
        self.errno = errno
        self.strerror = text

    def __str__(self) -> str:
        return self.strerror

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple:
        # Errors cross process boundaries (multiprocessing): rebuilt from errno and message,
        # not from ``args`` (the message alone), so the subclass and errno survive.
        if self.errno is None:
            return (type(self), (self.strerror,))
        return (type(self), (self.errno, self.strerror))


class Again(ZMQError):
    """EAGAIN: the operation would block (DONTWAIT, or a timeout expired)."""

    def __init__(self, errno: int | None = None, msg: str | None = None) -> None:
        super().__init__(_errno.EAGAIN if errno is None else errno, msg)


class ContextTerminated(ZMQError):
    """ETERM: the socket's context was terminated."""

    def __init__(self, errno: int | None = None, msg: str | None = None) -> None:
        super().__init__(ETERM if errno is None else errno, msg)


class InterruptedSystemCall(ZMQError, InterruptedError):
    """EINTR: a blocking call was interrupted by a signal."""

    def __init__(self, errno: int | None = None, msg: str | None = None) -> None:
        super().__init__(_errno.EINTR if errno is None else errno, msg)


class ZMQBindError(ZMQBaseError):
    """``bind_to_random_port`` found no free port."""


class NotDone(ZMQBaseError):
    """A MessageTracker timed out before the message was sent."""


class ZMQVersionError(NotImplementedError):
    """A feature needs a newer libzmq than the one whose behaviour we follow."""

    def __init__(self, min_version: str, msg: str = "Feature") -> None:
        self.min_version = min_version
        self.msg = msg
        self.version = ".".join(map(str, LIBZMQ_VERSION_INFO))
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.msg} requires libzmq >= {self.min_version}, have {self.version}"

    def __repr__(self) -> str:
        return f"ZMQVersionError({str(self)!r})"

    def __reduce__(self) -> tuple:
        return (type(self), (self.min_version, self.msg))


#: The libzmq release whose behaviour vmzmq follows (``zmq_version_info()``).
LIBZMQ_VERSION_INFO = (4, 3, 5)


def _check_version(min_version_info: tuple[int, ...], msg: str = "Feature") -> None:
    """ZMQVersionError unless the libzmq behaviour vmzmq follows is at least
    ``min_version_info`` (pyzmq's private helper, which some libraries import)."""
    if LIBZMQ_VERSION_INFO < tuple(min_version_info):
        raise ZMQVersionError(".".join(map(str, min_version_info)), msg)


def _check_rc(rc: int, errno: int | None = None, error_without_errno: bool = True) -> None:
    """pyzmq's private return-code check: raise the error for ``errno`` when ``rc`` is -1.
    vmzmq keeps no last-error state (``zmq_errno()`` is always 0), so without ``errno`` a
    failure is EINVAL."""
    if rc != -1:
        return
    if errno is None:
        if not error_without_errno:
            return
        errno = _errno.EINVAL
    raise zmq_error(errno)


_SUBCLASSES: dict[int, type[ZMQError]] = {
    _errno.EAGAIN: Again,
    ETERM: ContextTerminated,
    _errno.EINTR: InterruptedSystemCall,
}


def zmq_error(errnum: int, msg: str | None = None) -> ZMQError:
    """The ZMQError subclass pyzmq would raise for ``errnum``."""
    cls = _SUBCLASSES.get(errnum, ZMQError)
    return cls(errnum, msg)


def with_detail(errnum: int, detail: str) -> ZMQError:
    """An error whose message is libzmq's text followed by what exactly was wrong."""
    return zmq_error(errnum, f"{strerror(errnum)}: {detail}")


__all__ = [
    "LIBZMQ_VERSION_INFO",
    "DraftFDWarning",
    "EFSM",
    "EMTHREAD",
    "ENOCOMPATPROTO",
    "ETERM",
    "Again",
    "ContextTerminated",
    "InterruptedSystemCall",
    "NotDone",
    "ZMQBaseError",
    "ZMQBindError",
    "ZMQError",
    "ZMQVersionError",
    "strerror",
    "with_detail",
    "zmq_error",
]
