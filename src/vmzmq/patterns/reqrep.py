"""REQ and REP: strict request/reply alternation over envelopes."""

from __future__ import annotations

import struct

from ..engine.pipe import Pipe
from ..error import EFSM, with_detail
from .base import Pattern
from .strategies import FairQueue, LoadBalancer


class Req(Pattern):
    """Sends a request to one peer, then takes the reply from that peer only.

    REQ_RELAXED allows a new request before the reply came (the old reply is then dropped);
    REQ_CORRELATE prefixes requests with an id and drops replies that don't carry it.
    """

    name = "REQ"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.lb = LoadBalancer()
        self.fq = FairQueue()
        self.expect_reply = False
        self.reply_pipe: Pipe | None = None
        self.request_id = 0

    def attach(self, pipe: Pipe) -> None:
        self.lb.attach(pipe)
        self.fq.attach(pipe)

    def detach(self, pipe: Pipe) -> None:
        self.lb.detach(pipe)
        self.fq.detach(pipe)
        if pipe is self.reply_pipe:
            self.reply_pipe = None

    def check_send(self) -> None:
        if self.expect_reply and not self.options.req_relaxed:
            raise with_detail(EFSM, "REQ socket must receive the reply before sending again")

    def send(self, msg: list) -> bool:
        options = self.options
        if self.expect_reply and not options.req_relaxed:
            self.check_send()
        pipe = self.lb.pick()
        if pipe is None:
            return False
        if options.req_correlate:
            self.request_id = (self.request_id + 1) & 0xFFFFFFFF
            pipe.send([struct.pack("=I", self.request_id), b"", *msg])
        else:
            pipe.send([b"", *msg])
        self.reply_pipe = pipe
        self.expect_reply = True
        return True

    def recv(self) -> list | None:
        if not self.expect_reply:
            raise with_detail(EFSM, "REQ socket must send a request before receiving")
        pipe = self.reply_pipe
        if pipe is not None and not pipe.inq and len(self.fq.pipes) == 1:
            return None  # the one pipe, and nothing in it: the common wait, kept short
        while True:
            msg, pipe = self.fq.recv()
            if msg is None:
                return None
            if pipe is not self.reply_pipe:
                continue  # a late reply to an abandoned request
            if self.options.req_correlate:
                if len(msg) < 2 or msg[0] != struct.pack("=I", self.request_id) or msg[1]:
                    continue
                body = msg[2:]
            else:
                if len(msg) < 1 or msg[0]:
                    continue  # no empty delimiter: not a reply
                body = msg[1:]
            self.expect_reply = False
            self.reply_pipe = None
            return body

    def can_send(self) -> bool:
        if self.expect_reply and not self.options.req_relaxed:
            return False
        return self.lb.can_send()

    def can_recv(self) -> bool:
        return self.expect_reply and self.fq.has_input()


class Rep(Pattern):
    """Receives a request, keeps its envelope, and sends the reply back along it."""

    name = "REP"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.fq = FairQueue()
        self.replying = False
        self.envelope: list = []
        self.reply_pipe: Pipe | None = None

    def attach(self, pipe: Pipe) -> None:
        self.fq.attach(pipe)

    def detach(self, pipe: Pipe) -> None:
        self.fq.detach(pipe)
        if pipe is self.reply_pipe:
            self.reply_pipe = None

    def check_send(self) -> None:
        if not self.replying:
            raise with_detail(EFSM, "REP socket must receive a request before sending")

    def send(self, msg: list) -> bool:
        if not self.replying:
            self.check_send()
        pipe = self.reply_pipe
        self.replying = False
        self.reply_pipe = None
        if pipe is not None and not pipe.dead and pipe.writable():
            pipe.send(self.envelope + msg)
        return True  # a reply to a vanished peer is dropped, as in libzmq

    def recv(self) -> list | None:
        if self.replying:
            raise with_detail(EFSM, "REP socket must send the reply before receiving again")
        while True:
            msg, pipe = self.fq.recv()
            if msg is None:
                return None
            try:
                i = msg.index(b"")
            except ValueError:
                continue  # no delimiter: malformed request, dropped
            self.envelope = msg[: i + 1]
            self.reply_pipe = pipe
            self.replying = True
            return msg[i + 1 :]

    def can_send(self) -> bool:
        return self.replying

    def can_recv(self) -> bool:
        return not self.replying and self.fq.has_input()
