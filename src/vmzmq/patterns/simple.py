"""PAIR, PUSH, PULL and DEALER: the socket types that only balance and queue."""

from __future__ import annotations

from ..engine.pipe import Pipe
from .base import Pattern
from .strategies import FairQueue, LoadBalancer


class Pair(Pattern):
    """Exactly one peer; later peers are refused while the first is connected."""

    name = "PAIR"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.pipe: Pipe | None = None

    def attach(self, pipe: Pipe) -> None:
        if self.pipe is None:
            self.pipe = pipe

    def pipe_ready(self, pipe: Pipe) -> bool:
        if self.pipe is None:
            self.pipe = pipe
        return self.pipe is pipe

    def detach(self, pipe: Pipe) -> None:
        if self.pipe is pipe:
            self.pipe = None

    def send(self, msg: list) -> bool:
        pipe = self.pipe
        return pipe is not None and pipe.offer(msg)

    def recv(self) -> list | None:
        pipe = self.pipe
        if pipe is not None and pipe.inq:
            return pipe.pop()
        return None

    def can_send(self) -> bool:
        return self.pipe is not None and self.pipe.writable()

    def can_recv(self) -> bool:
        return self.pipe is not None and bool(self.pipe.inq)


class Push(Pattern):
    name = "PUSH"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.lb = LoadBalancer()
        self.send = self.lb.send  # one call less per message
        self.solo_sink = self.lb

    def attach(self, pipe: Pipe) -> None:
        self.lb.attach(pipe)

    def detach(self, pipe: Pipe) -> None:
        self.lb.detach(pipe)

    def send(self, msg: list) -> bool:
        return self.lb.send(msg)

    def can_send(self) -> bool:
        return self.lb.can_send()


class Pull(Pattern):
    name = "PULL"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.fq = FairQueue()
        self.recv = self.fq.recv_msg  # one call less per message
        self.solo_queue = self.fq

    def attach(self, pipe: Pipe) -> None:
        self.fq.attach(pipe)

    def detach(self, pipe: Pipe) -> None:
        self.fq.detach(pipe)

    def recv(self) -> list | None:
        return self.fq.recv_msg()

    def can_recv(self) -> bool:
        return self.fq.has_input()


class Dealer(Pattern):
    name = "DEALER"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.lb = LoadBalancer()
        self.fq = FairQueue()
        self.send = self.lb.send  # one call less per message
        self.solo_sink = self.lb
        self.recv = self.fq.recv_msg
        self.solo_queue = self.fq

    def attach(self, pipe: Pipe) -> None:
        self.lb.attach(pipe)
        self.fq.attach(pipe)

    def pipe_ready(self, pipe: Pipe) -> bool:
        if self.options.probe_router:
            pipe.send([b""])
        return True

    def detach(self, pipe: Pipe) -> None:
        self.lb.detach(pipe)
        self.fq.detach(pipe)

    def send(self, msg: list) -> bool:
        return self.lb.send(msg)

    def recv(self) -> list | None:
        return self.fq.recv_msg()

    def can_send(self) -> bool:
        return self.lb.can_send()

    def can_recv(self) -> bool:
        return self.fq.has_input()
