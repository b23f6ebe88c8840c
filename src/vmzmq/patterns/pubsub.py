"""PUB, XPUB, SUB and XSUB: fan-out with subscriptions, filtered on the publisher side."""

from __future__ import annotations

from collections import deque

from ..engine.pipe import Pipe
from .base import Pattern
from .strategies import FairQueue, SubscriptionIndex, TopicFilter, as_subscription


class XPub(Pattern):
    """Sends each message to the peers subscribed to a prefix of its first frame.

    Subscriptions arrive in pipes (ZMTP 3.1 commands, or 0x01/0x00-prefixed messages from
    3.0 peers and XSUB users) and are applied as soon as the I/O thread delivers them. XPUB
    hands them to the user too: new topics only, every subscribe with XPUB_VERBOSE, every
    subscribe and cancel with XPUB_VERBOSER; with XPUB_MANUAL the user applies them.
    """

    name = "XPUB"
    eager_input = True
    deliver_notices = True

    def __init__(self, core) -> None:
        super().__init__(core)
        self.pipes: list[Pipe] = []
        self.subs = SubscriptionIndex()
        self.notices: deque = deque()
        self.last_pipe: Pipe | None = None

    def attach(self, pipe: Pipe) -> None:
        self.pipes.append(pipe)

    def pipe_ready(self, pipe: Pipe) -> bool:
        # A connect-side pipe that reconnected talks to a new peer, which will resubscribe.
        self._unsubscribe_pipe(pipe)
        welcome = self.options.xpub_welcome_msg
        if welcome:
            pipe.send([bytes(welcome)])
        return True

    def detach(self, pipe: Pipe) -> None:
        try:
            self.pipes.remove(pipe)
        except ValueError:
            pass
        if self.last_pipe is pipe:
            self.last_pipe = None
        self._unsubscribe_pipe(pipe)

    def _unsubscribe_pipe(self, pipe: Pipe) -> None:
        for topic in self.subs.remove_pipe(pipe):
            if self.deliver_notices and not self.options.xpub_manual:
                self.notices.append([b"\x00" + topic])

    def input_arrived(self, pipe: Pipe) -> None:
        inq = pipe.inq
        opts = self.options
        while inq:
            item = pipe.pop()
            sub = as_subscription(item)
            if sub is None:
                if self.deliver_notices:
                    self.notices.append(item)  # upstream data from an XSUB user
                continue
            if opts.xpub_manual:
                self.last_pipe = pipe
                if self.deliver_notices:
                    self.notices.append(sub.as_message())
                continue
            if sub.subscribe:
                first = self.subs.add(sub.topic, pipe)
                if self.deliver_notices and (first or opts.xpub_verbose or opts.xpub_verboser):
                    self.notices.append(sub.as_message())
            else:
                last = self.subs.remove(sub.topic, pipe)
                if self.deliver_notices and (last or opts.xpub_verboser):
                    self.notices.append(sub.as_message())

    def _take_input(self) -> None:
        for pipe in self.pipes:
            if pipe.inq:
                for pipe in list(self.pipes):  # popping a dead pipe's last item detaches it
                    if pipe.inq:
                        self.input_arrived(pipe)
                return

    def send(self, msg: list) -> bool:
        self._take_input()
        topic = msg[0]
        if self.options.invert_matching:
            matched = self.subs.matches(topic)
            targets = [p for p in self.pipes if p not in matched]
        else:
            targets = self.subs.matches(topic)
        if self.options.xpub_nodrop:
            for pipe in targets:
                if not pipe.writable():
                    return False
        for pipe in targets:
            if pipe.writable():
                pipe.send(msg)
        return True

    def recv(self) -> list | None:
        self._take_input()
        if self.notices:
            return self.notices.popleft()
        return None

    def subscribe(self, topic: bytes) -> None:
        if self.last_pipe is not None:
            self.subs.add(topic, self.last_pipe)

    def unsubscribe(self, topic: bytes) -> None:
        if self.last_pipe is not None:
            self.subs.remove(topic, self.last_pipe)

    def can_send(self) -> bool:
        return True

    def can_recv(self) -> bool:
        self._take_input()
        return bool(self.notices)


class Pub(XPub):
    name = "PUB"
    deliver_notices = False

    def recv(self) -> list | None:
        return Pattern.recv(self)

    def can_recv(self) -> bool:
        return False

    def subscribe(self, topic: bytes) -> None:
        Pattern.subscribe(self, topic)

    def unsubscribe(self, topic: bytes) -> None:
        Pattern.unsubscribe(self, topic)


class XSub(Pattern):
    """Receives from every publisher; sends subscriptions (and other upstream messages) to
    all of them, and again to each publisher that (re)connects."""

    name = "XSUB"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.fq = FairQueue()
        self.pipes: list[Pipe] = []
        self.filter = TopicFilter()

    def attach(self, pipe: Pipe) -> None:
        self.fq.attach(pipe)
        self.pipes.append(pipe)

    def pipe_ready(self, pipe: Pipe) -> bool:
        for topic in self.filter.topics:
            pipe.send_subscription(topic, True)
        return True

    def detach(self, pipe: Pipe) -> None:
        self.fq.detach(pipe)
        try:
            self.pipes.remove(pipe)
        except ValueError:
            pass

    def send(self, msg: list) -> bool:
        if len(msg) == 1 and msg[0] and msg[0][0] in (0, 1):
            frame = msg[0]
            topic = bytes(frame[1:])
            if frame[0] == 1:
                self.filter.add(topic)
                self._to_all(topic, True)
            elif self.filter.remove(topic):
                self._to_all(topic, False)
            return True
        for pipe in self.pipes:
            if pipe.writable():
                pipe.send(msg)
        return True

    def _to_all(self, topic: bytes, subscribe: bool) -> None:
        for pipe in self.pipes:
            if not pipe.dead:
                pipe.send_subscription(topic, subscribe)

    def recv(self) -> list | None:
        invert = self.options.invert_matching
        match = self.filter.match
        while True:
            msg = self.fq.recv()[0]
            if msg is None:
                return None
            if type(msg) is not list:
                continue  # a subscription sent to us: we are no publisher
            if match(msg[0]) != bool(invert):
                return msg

    def can_send(self) -> bool:
        return True

    def can_recv(self) -> bool:
        return self.fq.has_input()


class Sub(XSub):
    name = "SUB"

    def send(self, msg: list) -> bool:
        return Pattern.send(self, msg)

    def can_send(self) -> bool:
        return False

    def subscribe(self, topic: bytes) -> None:
        XSub.send(self, [b"\x01" + topic])

    def unsubscribe(self, topic: bytes) -> None:
        XSub.send(self, [b"\x00" + topic])
