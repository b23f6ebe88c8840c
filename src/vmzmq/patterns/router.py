"""ROUTER and STREAM: address peers by routing id."""

from __future__ import annotations

import errno
import logging
from collections import deque

from ..engine.pipe import Pipe
from ..error import with_detail
from ..zmtp import get_property
from .base import Pattern, RoutingIds
from .strategies import FairQueue

log = logging.getLogger("vmzmq")


class Router(Pattern):
    """Prefixes each received message with its peer's routing id and routes replies by it.

    A peer's id is its Identity property when it sent one, else CONNECT_ROUTING_ID for our
    own connects, else an automatic one. A second peer with a taken id is refused, unless
    ROUTER_HANDOVER lets it take the id over from the first.
    """

    name = "ROUTER"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.fq = FairQueue()
        self.by_id: dict[bytes, Pipe] = {}
        self.ids = RoutingIds()
        self.notices: deque = deque()

    def attach(self, pipe: Pipe) -> None:
        pass  # a pipe joins the fair queue once it has an id (pipe_ready)

    def pipe_ready(self, pipe: Pipe) -> bool:
        rid = pipe.routing_id or get_property(pipe.properties, "Identity") or b""
        if not rid:
            rid = self.ids.new()
        current = self.by_id.get(rid)
        if current is not None and current is not pipe:
            if not self.options.router_handover:
                log.warning("vmzmq: ROUTER refused a second peer with routing id %r", rid)
                return False
            del self.by_id[rid]
            self.fq.detach(current)
            current.routing_id = self.ids.new()
            current.close()
        elif current is pipe:
            return True
        if pipe.routing_id and self.by_id.get(pipe.routing_id) is pipe:
            del self.by_id[pipe.routing_id]
        pipe.routing_id = rid
        self.by_id[rid] = pipe
        if pipe not in self.fq.pipes:
            self.fq.attach(pipe)
        if self.options.probe_router:
            pipe.send([b""])
        if self.options.router_notify & 1:
            self.notices.append([rid, b""])
        return True

    def detach(self, pipe: Pipe) -> None:
        self.fq.detach(pipe)
        if self.by_id.get(pipe.routing_id) is pipe:
            del self.by_id[pipe.routing_id]
            if self.options.router_notify & 2:
                self.notices.append([pipe.routing_id, b""])

    def send(self, msg: list) -> bool:
        rid = bytes(msg[0])
        pipe = self.by_id.get(rid)
        mandatory = self.options.router_mandatory
        if pipe is None:
            if mandatory:
                raise with_detail(errno.EHOSTUNREACH, f"no peer with routing id {rid!r}")
            return True  # unroutable: dropped, as libzmq does
        if not pipe.writable():
            return not mandatory  # full: block/EAGAIN when mandatory, else drop
        pipe.send(msg[1:])
        return True

    def recv(self) -> list | None:
        if self.notices:
            return self.notices.popleft()
        msg, pipe = self.fq.recv()
        if msg is None:
            return None
        return [pipe.routing_id, *msg]

    def can_send(self) -> bool:
        return True

    def can_recv(self) -> bool:
        return bool(self.notices) or self.fq.has_input()


class Stream(Router):
    """Raw stream peers (no ZMTP): each message is [routing id, data]. Sending empty data
    closes that peer's connection. With STREAM_NOTIFY a connect and a disconnect each
    arrive as [routing id, b""]."""

    name = "STREAM"

    def pipe_ready(self, pipe: Pipe) -> bool:
        if not pipe.routing_id:
            pipe.routing_id = self.ids.new()
        self.by_id[pipe.routing_id] = pipe
        if pipe not in self.fq.pipes:
            self.fq.attach(pipe)
        if self.options.stream_notify:
            self.notices.append([pipe.routing_id, b""])
        return True

    def detach(self, pipe: Pipe) -> None:
        self.fq.detach(pipe)
        if self.by_id.get(pipe.routing_id) is pipe:
            del self.by_id[pipe.routing_id]
            if self.options.stream_notify:
                self.notices.append([pipe.routing_id, b""])

    def send(self, msg: list) -> bool:
        if len(msg) != 2:
            raise with_detail(
                errno.EINVAL, f"STREAM messages are [routing id, data], got {len(msg)} frames"
            )
        rid = bytes(msg[0])
        pipe = self.by_id.get(rid)
        if pipe is None:
            raise with_detail(errno.EHOSTUNREACH, f"no peer with routing id {rid!r}")
        if not msg[1]:
            # Closing a peer ourselves is no news to report (libzmq reports only losses).
            del self.by_id[rid]
            self.fq.detach(pipe)
            pipe.close()
            return True
        if not pipe.writable():
            return False
        pipe.send([msg[1]])
        return True
