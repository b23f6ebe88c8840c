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
            errno = _errno.EINVAL
        self.errno = errno
        self.strerror = msg if msg is not None else strerror(errno)
        super().__init__(self.strerror)

    def __str__(self) -> str:
        return self.strerror

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.errno!r}, {self.strerror!r})"


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
        super().__init__(f"{msg} requires libzmq >= {min_version}")


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
