"""Frame (alias Message) and MessageTracker, as pyzmq has them."""

from __future__ import annotations

from typing import Any

from .error import with_detail

_PROPERTY_NAMES = {"socket-type": "Socket-Type", "identity": "Identity", "routing-id": "Identity"}


class MessageTracker:
    """pyzmq tracks when libzmq releases a zero-copy buffer. vmzmq copies what it sends
    (or has written it to the kernel before ``send`` returns), so a tracker is done at once."""

    done = True

    def __init__(self, *towatch: Any) -> None:
        self.peers = towatch

    def wait(self, timeout: float | int = -1) -> None:
        return None


_DONE_TRACKER = MessageTracker()


class Frame:
    """One message frame: ``bytes``, ``buffer``, ``more`` and metadata via ``get()``."""

    __slots__ = ("bytes", "more", "properties", "routing_id", "group", "tracker")

    def __init__(
        self,
        data: Any = b"",
        track: bool = False,
        copy: bool | None = None,
        copy_threshold: int | None = None,
    ) -> None:
        if isinstance(data, str):
            raise TypeError("Str objects not allowed. Only: bytes, buffer interfaces.")
        if isinstance(data, Frame):
            data = data.bytes
        self.bytes: bytes = data if type(data) is bytes else bytes(data)
        self.more = False
        self.properties: dict[str, bytes] = {}
        self.routing_id: int | None = None
        self.group: str | None = None
        self.tracker: MessageTracker | None = _DONE_TRACKER if track else None

    @property
    def buffer(self) -> memoryview:
        return memoryview(self.bytes)

    def __len__(self) -> int:
        return len(self.bytes)

    def __bytes__(self) -> bytes:
        return self.bytes

    def __buffer__(self, flags: int) -> memoryview:
        return memoryview(self.bytes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frame):
            return self.bytes == other.bytes
        if isinstance(other, bytes | bytearray | memoryview):
            return self.bytes == bytes(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.bytes)

    def __repr__(self) -> str:
        return f"<vmzmq.Frame({self.bytes[:32]!r}{'...' if len(self.bytes) > 32 else ''})>"

    def __copy__(self) -> Frame:
        return self.fast_copy()

    def fast_copy(self) -> Frame:
        f = Frame(self.bytes)
        f.more = self.more
        f.properties = self.properties
        return f

    def get(self, option: int | str) -> Any:
        """MORE (1) or a metadata property such as "Socket-Type", "Identity" or
        "Peer-Address" (as str, like pyzmq)."""
        if isinstance(option, str):
            wanted = option.lower()
            for name, value in self.properties.items():
                if name.lower() == wanted:
                    return value.decode("utf-8", "replace")
            raise with_detail(22, f"message has no property {option!r}")
        if option == 1:
            return int(self.more)
        if option == 3:  # SHARED
            return 0
        raise with_detail(22, f"message option {option} is not supported")

    def set(self, option: int, value: int) -> None:
        raise with_detail(22, f"message option {option} cannot be set")


Message = Frame

__all__ = ["Frame", "Message", "MessageTracker"]
