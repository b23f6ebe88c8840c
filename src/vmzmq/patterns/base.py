"""What every socket type provides to the facade, and the refusals they share."""

from __future__ import annotations

import errno
import struct
from itertools import count
from random import getrandbits
from typing import Any

from ..engine.pipe import Pipe
from ..error import with_detail


class Pattern:
    """A socket type: routes whole messages (lists of frames) between the user and pipes.

    ``send`` returns False when no pipe can take the message now (the facade then blocks or
    raises EAGAIN); ``recv`` returns None when nothing is ready. Both run under the socket's
    lock. No I/O happens here.
    """

    name = "?"
    eager_input = False
    takes_subscriptions = False  # publishers: SUBSCRIBE/CANCEL from peers reach the pattern
    # Something whose ``solo`` is a pipe the socket may pop without the lock (see
    # Socket.recv) because ``recv`` would return its messages unchanged: a FairQueue, or a
    # subscriber's view of one; None where recv always does more than that.
    solo_queue: Any = None
    # Likewise a LoadBalancer whose ``solo`` pipe a one-frame send may go to straight.
    solo_sink: Any = None

    def __init__(self, core: Any) -> None:
        self.core = core
        self.options = core.options

    # pipes
    def attach(self, pipe: Pipe) -> None:
        raise NotImplementedError

    def pipe_ready(self, pipe: Pipe) -> bool | None:
        return True

    def detach(self, pipe: Pipe) -> None:
        raise NotImplementedError

    def input_arrived(self, pipe: Pipe) -> None:
        pass

    # traffic
    def send(self, msg: list) -> bool:
        raise with_detail(errno.ENOTSUP, f"{self.name} sockets cannot send")

    def send_one(self, body: bytes) -> bool:
        """``send([body])``: Socket.send's common case, a one-frame message. A pattern that
        routes such messages without the list (PUB) overrides it."""
        return self.send([body])

    def recv(self) -> list | None:
        raise with_detail(errno.ENOTSUP, f"{self.name} sockets cannot receive")

    def check_send(self) -> None:
        """Raise now if sending is not allowed in the current state (first frame)."""

    def can_send(self) -> bool:
        return False

    def can_recv(self) -> bool:
        return False

    # options that act
    def options_changed(self) -> None:
        """An option was set (the lock is held)."""

    def subscribe(self, topic: bytes) -> None:
        raise with_detail(errno.EINVAL, f"SUBSCRIBE does not apply to {self.name} sockets")

    def unsubscribe(self, topic: bytes) -> None:
        raise with_detail(errno.EINVAL, f"UNSUBSCRIBE does not apply to {self.name} sockets")


class RoutingIds:
    """libzmq's automatic routing ids: a zero octet then a 32-bit counter from a random start
    (the zero octet keeps them apart from application-chosen ids)."""

    def __init__(self) -> None:
        self._next = count(getrandbits(32))

    def new(self) -> bytes:
        return b"\x00" + struct.pack(">I", next(self._next) & 0xFFFFFFFF)
