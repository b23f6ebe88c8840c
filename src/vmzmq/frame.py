"""Frame (alias Message) and MessageTracker, as pyzmq has them.

**Trackers.** pyzmq's zero-copy send lends the caller's memory to libzmq, and a
:class:`MessageTracker` says when libzmq has let go of it. vmzmq never lends memory that
way: the engine holds ordinary references to ``bytes`` objects, and Python frees them when
the last reference goes. So a tracked send gives the engine a ``bytes`` object of its own
(the *payload*: the caller's data, copied once) and the tracker watches that object: it is
done once nothing but the tracker refers to it, which is exactly "vmzmq no longer holds the
message". Over tcp, ipc and vmci the connection drops the payload once the kernel has taken
all of it; a message vmzmq drops instead (LINGER 0, a context that ends) counts once the
engine objects that held it are freed. Over inproc the receiving socket hands that very
object to its application, so the tracker is done once the receiver has taken the message
and let go of it (with ``recv(copy=False)``, once its Frame is gone, as with pyzmq).

The caller's own buffer is never shared (a mutable one is copied when the Frame is made, or
by ``send``), so it may be reused at once whatever a tracker says.

**Buffers.** A Frame supports the buffer protocol (``memoryview(frame)``,
``numpy.frombuffer(frame)``) with a read-only view of its bytes. Python classes can export
buffers only from 3.12 (PEP 688); on 3.11 Frame is a ``bytes`` subclass instead, which costs
one copy of the contents per Frame.
"""

from __future__ import annotations

import errno
import sys
import threading
import time
from typing import Any, Final

from . import constants
from .constants import COPY_THRESHOLD
from .error import NotDone, with_detail

__all__ = ["Frame", "Message", "MessageTracker", "_FINISHED_TRACKER"]

_MORE = 1
_SRCFD = 2
_SHARED = 3


class _Released(threading.Event):
    """Set once nothing but this event refers to the payload it was given.

    Nothing calls back when Python drops a reference, so ``is_set`` looks at the payload's
    reference count, and ``wait`` looks again at short, growing intervals (0.1 ms up to
    10 ms). It is a ``threading.Event`` so that code written for pyzmq's ``tracker_event``
    keeps working; ``set()`` gives up the payload at once.
    """

    def __init__(self, payload: bytes) -> None:
        super().__init__()
        self._payload: bytes | None = payload

    def _refs(self) -> int:
        return sys.getrefcount(self._payload)

    def is_set(self) -> bool:
        if self._payload is not None and self._refs() <= _FLOOR:
            self.set()
        return super().is_set()

    isSet = is_set

    def set(self) -> None:
        self._payload = None
        super().set()

    def wait(self, timeout: float | None = None) -> bool:
        if self.is_set():
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0001
        while True:
            if deadline is None:
                pause = delay
            else:
                pause = min(delay, deadline - time.monotonic())
                if pause <= 0:
                    return self.is_set()
            time.sleep(pause)
            if self.is_set():
                return True
            delay = min(delay * 2, 0.01)


# What _refs() counts for a payload only the event holds: measured, not assumed, because
# what getrefcount sees of the caller's own references differs between CPython versions.
_FLOOR: Final = _Released(bytes(bytearray(16)))._refs()


def _release_watch(payload: bytes) -> _Released | None:
    """An event for ``payload`` (a bytes object nothing else refers to yet), or None when
    it cannot be watched: CPython shares its empty and one-byte ``bytes`` objects."""
    if len(payload) < 2:
        return None
    return _Released(payload)


# threading.Event when this module was imported (the base of _Released) and whatever it is
# now: gevent.monkey.patch_all() after "import vmzmq" replaces it, and then neither vmzmq's
# own events nor the caller's new ones would pass an isinstance check against just one.
_IMPORT_TIME_EVENT: Final = threading.Event


class MessageTracker:
    """Whether vmzmq is done with one or more sent messages (see the module docstring).

    ``MessageTracker(*towatch)`` takes ``threading.Event`` objects, other trackers and
    tracked Frames; ``done`` is true once all of them are; ``wait(timeout)`` (seconds; < 0
    or None: no limit) raises :class:`NotDone` if they are not done in time.
    """

    events: set[threading.Event]
    peers: set[MessageTracker]

    def __init__(self, *towatch: Any) -> None:
        self.events = set()
        self.peers = set()
        event_classes = (_IMPORT_TIME_EVENT, threading.Event)
        for obj in towatch:
            if isinstance(obj, event_classes):
                self.events.add(obj)
            elif isinstance(obj, MessageTracker):
                self.peers.add(obj)
            elif isinstance(obj, Frame):
                if not obj.tracker:
                    raise ValueError("Not a tracked message")
                self.peers.add(obj.tracker)
            else:
                raise TypeError(f"Require Events or Message Frames, not {type(obj)}")

    @property
    def done(self) -> bool:
        """True once every tracked message has left vmzmq."""
        return all(evt.is_set() for evt in self.events) and all(p.done for p in self.peers)

    def wait(self, timeout: float | int | None = -1) -> None:
        """Wait until ``done`` or ``timeout`` seconds pass (NotDone then)."""
        if timeout is None or timeout is False or timeout < 0:
            deadline = None
        else:
            deadline = time.monotonic() + timeout
        for evt in self.events:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not evt.wait(remaining) and not evt.is_set():
                raise NotDone
        for peer in self.peers:
            remaining = -1 if deadline is None else max(0.0, deadline - time.monotonic())
            peer.wait(remaining)


#: The tracker of every message that was copied: done from the start.
_FINISHED_TRACKER: Final = MessageTracker()


def copy_threshold_default() -> int:
    """``vmzmq.COPY_THRESHOLD`` as it is now. pyzmq reads ``zmq.COPY_THRESHOLD`` whenever a
    Frame or Socket is made without ``copy_threshold``, and programs change it at run time
    (jupyter_client's tests set it to 1 to make every send zero-copy and tracked)."""
    return getattr(sys.modules[__package__], "COPY_THRESHOLD", COPY_THRESHOLD)


def _as_payload(data: Any) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeError("Str objects not allowed. Only: bytes, buffer interfaces.")
    if isinstance(data, Frame):
        return data._bytes
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}") from None
    with view:
        return view.tobytes()


def _private(data: Any, payload: bytes) -> bytes:
    """``payload`` if it is a copy vmzmq made itself, else a fresh copy: a tracker needs an
    object only vmzmq refers to (not the caller's bytes, nor another Frame's)."""
    if payload is data or isinstance(data, Frame):
        return bytes(memoryview(payload))
    return payload


# Attributes a Frame has (pyzmq allows setting only those; other names are options).
_FRAME_ATTRS = frozenset({"more", "tracker", "tracker_event", "properties"})

if sys.version_info >= (3, 12):
    _Base: type = object
else:  # pragma: no cover - exercised on 3.11 only
    _Base = bytes


class Frame(_Base):  # type: ignore[misc,valid-type]
    """One message frame: ``bytes``, ``buffer``, ``more``, ``tracker``, metadata through
    ``get()`` or ``frame["Peer-Address"]``.

    ``Frame(data, track=False, copy=None, copy_threshold=None)``: ``data`` is any object with
    the buffer protocol (not str). A Frame holds its own copy of mutable data. ``track``
    gives it a :class:`MessageTracker`: done from the start if the data was copied
    (``copy=True``, or ``copy=None`` and shorter than ``copy_threshold``, 64 KiB by default),
    else done once neither the Frame nor any send of it holds the data any more.
    """

    more: bool
    tracker: MessageTracker | None
    tracker_event: threading.Event | None
    properties: dict[str, bytes]

    def __new__(
        cls,
        data: Any = None,
        track: bool = False,
        copy: bool | None = None,
        copy_threshold: int | None = None,
        **kwargs: Any,
    ) -> Frame:
        payload = b"" if data is None else _as_payload(data)
        if _Base is bytes:
            self = bytes.__new__(cls, payload)
        else:
            self = object.__new__(cls)
        tracker = event = None
        if track:
            tracker = _FINISHED_TRACKER
            if data is not None:
                threshold = (
                    copy_threshold_default() if copy_threshold is None else copy_threshold
                )
                shared = not copy if copy is not None else not (
                    threshold and len(payload) < threshold
                )
                if shared:
                    # pyzmq would share this memory with libzmq: watch a payload of ours.
                    payload = _private(data, payload)
                    event = _release_watch(payload)
                    if event is not None:
                        tracker = MessageTracker(event)
        setattr_ = object.__setattr__
        setattr_(self, "_bytes", payload)
        setattr_(self, "more", False)
        setattr_(self, "tracker", tracker)
        setattr_(self, "tracker_event", event)
        setattr_(self, "properties", _NO_PROPERTIES)
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # everything happens in __new__ (a bytes subclass gets its contents there)

    @classmethod
    def _received(cls, data: bytes, more: bool, properties: dict, track: bool) -> Frame:
        """A Frame for a frame ``recv(copy=False)`` took (``data`` is the engine's bytes)."""
        self = bytes.__new__(cls, data) if _Base is bytes else object.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(self, "_bytes", data)
        setattr_(self, "more", more)
        setattr_(self, "tracker", _FINISHED_TRACKER if track else None)
        setattr_(self, "tracker_event", None)
        setattr_(self, "properties", properties)
        return self

    # -- contents ------------------------------------------------------------------------------
    @property
    def bytes(self) -> bytes:
        """The contents as ``bytes``."""
        return self._bytes

    @property
    def buffer(self) -> memoryview:
        """A read-only memoryview of the contents (pyzmq's is writable; vmzmq's frames hold
        immutable bytes)."""
        return memoryview(self._bytes)

    def __len__(self) -> int:
        return len(self._bytes)

    def __bytes__(self) -> bytes:
        return self._bytes

    def __buffer__(self, flags: int) -> memoryview:
        return memoryview(self._bytes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frame):
            return self._bytes == other._bytes
        if isinstance(other, bytes | bytearray | memoryview):
            return self._bytes == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash(self._bytes)

    def __repr__(self) -> str:
        data = self._bytes
        nbytes = len(data)
        suffix = ""
        if nbytes > 16:
            shown = data[:12]
            for unit, size in (("GB", 10**9), ("MB", 2**20), ("kB", 1000)):
                if nbytes >= size:
                    suffix = f"...{nbytes // (10**6 if unit == 'MB' else size)}{unit}"
                    break
            else:
                suffix = f"...{nbytes}B"
        else:
            shown = data
        module = type(self).__module__
        if module == __name__:
            module = "vmzmq"
        return f"<{module}.{type(self).__name__}({shown!r}{suffix})>"

    __str__ = __repr__

    def __copy__(self) -> Frame:
        """A second Frame over the same contents, sharing the tracker (pyzmq's fast copy)."""
        return self.fast_copy()

    def __deepcopy__(self, memo: Any) -> Frame:
        return self.fast_copy()

    def fast_copy(self) -> Frame:
        new = Frame._received(self._bytes, self.more, self.properties, False)
        object.__setattr__(new, "tracker", self.tracker)
        object.__setattr__(new, "tracker_event", self.tracker_event)
        return new

    def __reduce__(self) -> tuple:
        # Pickled as its contents (pyzmq's frames cannot be pickled at all).
        return (Frame, (self._bytes,))

    # -- options and metadata -----------------------------------------------------------------
    def __getitem__(self, key: int | str | bytes) -> int | str:
        return self.get(key)

    def get(self, option: int | str | bytes) -> Any:
        """MORE (1) or SHARED (3) as an int, or a metadata property such as "Socket-Type",
        "Identity" (or "Routing-Id"), "Peer-Address" or "User-Id" as str (like pyzmq).
        ZMQError EINVAL for anything the message does not have."""
        if isinstance(option, int):
            if option == _MORE:
                return int(self.more)
            if option == _SHARED:
                return 0  # the contents are never shared with another message
            if option == _SRCFD:
                raise with_detail(errno.EINVAL, "SRCFD is deprecated and never set")
            raise with_detail(errno.EINVAL, f"message option {option} is not supported")
        if option == "routing_id":
            return getattr(self, "_routing_id", 0)
        if option == "group":
            return getattr(self, "_group", "")
        if isinstance(option, bytes):
            option = option.decode("utf-8")
        if not isinstance(option, str):
            raise TypeError(f"expected str, got: {option!r}")
        props = self.properties
        value = _property(props, option)
        if value is None and option.lower() == "identity":
            value = _property(props, "Routing-Id")  # libzmq's old name for it
        if value is None:
            raise with_detail(errno.EINVAL, f"message has no property {option!r}")
        return value.decode("utf-8", "replace")

    def set(self, option: int | str, value: Any) -> None:
        """No message option can be set (libzmq 4.3.5's zmq_msg_set): ZMQError EINVAL.
        ``"routing_id"`` and ``"group"`` are kept, for the draft sockets vmzmq lacks."""
        if option == "routing_id":
            object.__setattr__(self, "_routing_id", int(value))
            return
        if option == "group":
            group = value.decode("utf-8") if isinstance(value, bytes) else str(value)
            object.__setattr__(self, "_group", group)
            return
        if not isinstance(option, int):
            raise TypeError("an integer is required")
        raise with_detail(errno.EINVAL, f"message option {option} cannot be set")

    @property
    def routing_id(self) -> int:
        """The draft CLIENT-SERVER routing id: RuntimeError, as pyzmq without draft support."""
        raise RuntimeError(_NO_DRAFT.format("CLIENT-SERVER"))

    @routing_id.setter
    def routing_id(self, value: int) -> None:
        raise RuntimeError(_NO_DRAFT.format("CLIENT-SERVER"))

    @property
    def group(self) -> str:
        """The draft RADIO-DISH group: RuntimeError, as pyzmq without draft support."""
        raise RuntimeError(_NO_DRAFT.format("RADIO-DISH"))

    @group.setter
    def group(self, value: str | bytes) -> None:
        raise RuntimeError(_NO_DRAFT.format("RADIO-DISH"))

    # -- pyzmq's attribute rules: options by name, no other new attributes --------------------
    def __setattr__(self, key: str, value: Any) -> None:
        if key in _FRAME_ATTRS or key.startswith("_"):
            if key == "more":
                value = bool(value)
            object.__setattr__(self, key, value)
            return
        if hasattr(type(self), key) or _class_declares(type(self), key):
            object.__setattr__(self, key, value)
            return
        option = getattr(constants, key.upper(), None)
        if not isinstance(option, int):
            raise AttributeError(f"{type(self).__name__} has no such option: {key.upper()}")
        self.set(option, value)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        option = getattr(constants, key.upper(), None)
        if not isinstance(option, int):
            raise AttributeError(f"{type(self).__name__} has no such option: {key.upper()}")
        try:
            return self.get(option)
        except Exception as exc:
            if getattr(exc, "errno", None) == errno.EINVAL:
                raise AttributeError(f"{key} attribute is write-only") from None
            raise


Message = Frame

_NO_PROPERTIES: dict[str, bytes] = {}
_NO_DRAFT = "vmzmq has no draft socket types: {} needs libzmq's draft API"


def _property(props: dict[str, bytes], name: str) -> bytes | None:
    # ZMTP property names are case-insensitive (RFC 37); peers differ in case.
    value = props.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, value in props.items():
        if key.lower() == wanted:
            return value
    return None


def _class_declares(cls: type, key: str) -> bool:
    return any(key in getattr(klass, "__annotations__", {}) for klass in cls.__mro__)
