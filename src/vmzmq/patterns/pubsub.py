"""PUB, XPUB, SUB and XSUB: fan-out with subscriptions, filtered on the publisher side."""

from __future__ import annotations

import errno
import logging
from collections import deque

from ..engine.fanout import FanOut
from ..engine.pipe import Pipe, StreamPipe, Subscription
from ..error import with_detail
from .base import Pattern
from .strategies import FairQueue, SoloView, SubscriptionIndex, TopicFilter, as_subscription

log = logging.getLogger("vmzmq")

#: What one peer may make a publisher hold in subscriptions: distinct topics, and their octets
#: (libzmq has no bound). Subscriptions beyond either are ignored and logged once per peer.
MAX_PEER_SUBSCRIPTIONS = 65536
MAX_PEER_SUBSCRIPTION_BYTES = 16 << 20


class XPub(Pattern):
    """Sends each message to the peers subscribed to a prefix of its first frame.

    Subscriptions arrive in pipes (ZMTP 3.1 commands, or 0x01/0x00-prefixed messages from
    3.0 peers and XSUB users) and are applied as soon as the I/O thread delivers them. XPUB
    hands them to the user too: new topics only, every subscribe with XPUB_VERBOSE, every
    subscribe and cancel with XPUB_VERBOSER; with XPUB_MANUAL the user applies them.
    """

    name = "XPUB"
    eager_input = True
    takes_subscriptions = True
    deliver_notices = True

    def __init__(self, core) -> None:
        super().__init__(core)
        self.pipes: list[Pipe] = []
        # Stream connections hand their input over as it arrives (``eager_input``); only
        # inproc peers' subscriptions wait in their pipes to be looked at (``_take_input``).
        self.polled: list[Pipe] = []
        self.subs = SubscriptionIndex()
        self.notices: deque = deque()  # (message, pipe it came from)
        # Pipes whose input waits because ``notices`` reached RCVHWM (see input_arrived).
        self.waiting: list[Pipe] = []
        self.over_budget: set[Pipe] = set()  # peers told (in the log) they subscribe too much
        self.last_pipe: Pipe | None = None
        # XPUB_MANUAL: what each peer asked for, to report its cancels when it leaves
        self.requested = SubscriptionIndex()
        # One corked burst shared by every subscriber while all of them want everything.
        self.fan = core.fan = FanOut(core)

    def attach(self, pipe: Pipe) -> None:
        self.pipes.append(pipe)
        if not isinstance(pipe, StreamPipe):
            self.polled.append(pipe)

    def pipe_ready(self, pipe: Pipe) -> bool:
        # A connect-side pipe that reconnected talks to a new peer, which will resubscribe.
        self._unsubscribe_pipe(pipe)
        welcome = self.options.xpub_welcome_msg
        if welcome:
            pipe.send([bytes(welcome)])
        return True

    def detach(self, pipe: Pipe) -> None:
        self.fan.flush()
        self.over_budget.discard(pipe)
        for pipes in (self.pipes, self.polled, self.waiting):
            try:
                pipes.remove(pipe)
            except ValueError:
                pass
        if self.last_pipe is pipe:
            self.last_pipe = None
        self._unsubscribe_pipe(pipe)

    def _unsubscribe_pipe(self, pipe: Pipe) -> None:
        gone = self.subs.remove_pipe(pipe)
        if self.options.xpub_manual:
            gone = self.requested.remove_pipe(pipe)
        if self.deliver_notices:
            for topic in gone:
                self.notices.append(([b"\x00" + topic], None))

    def input_arrived(self, pipe: Pipe) -> None:
        inq = pipe.inq
        opts = self.options
        notices = self.notices
        # What the application has not read yet counts against RCVHWM, as in libzmq: at the
        # mark the rest stays in the pipe, which stops reading its connection at its own
        # mark, so a peer flooding subscriptions is pushed back by TCP instead of growing a
        # queue here.
        hwm = opts.rcvhwm if self.deliver_notices else 0
        while inq:
            if hwm and len(notices) >= hwm:
                if pipe not in self.waiting:
                    self.waiting.append(pipe)
                return
            item = pipe.pop()
            sub = as_subscription(item)
            if sub is None:
                if self.deliver_notices:
                    self.notices.append((item, pipe))  # upstream data from an XSUB user
                continue
            if opts.xpub_manual:
                if sub.subscribe:
                    self.requested.add(sub.topic, pipe)
                else:
                    self.requested.remove(sub.topic, pipe)
                if self.deliver_notices:
                    self.notices.append((sub.as_message(), pipe))
                continue
            if sub.subscribe:
                if not self.subs.fits(sub.topic, pipe, MAX_PEER_SUBSCRIPTIONS,
                                      MAX_PEER_SUBSCRIPTION_BYTES):
                    if pipe not in self.over_budget:
                        self.over_budget.add(pipe)
                        log.warning(
                            "vmzmq: %s ignores subscriptions beyond %d topics or %d octets "
                            "from a peer on %s", self.name, MAX_PEER_SUBSCRIPTIONS,
                            MAX_PEER_SUBSCRIPTION_BYTES, pipe.endpoint,
                        )
                    continue
                first = self.subs.add(sub.topic, pipe)
                if self.deliver_notices and (first or opts.xpub_verbose or opts.xpub_verboser):
                    self.notices.append((sub.as_message(), pipe))
            else:
                last = self.subs.remove(sub.topic, pipe)
                if self.deliver_notices and (last or opts.xpub_verboser):
                    self.notices.append((sub.as_message(), pipe))

    def _take_input(self) -> None:
        for pipe in self.polled:
            if pipe.inq:
                for pipe in list(self.polled):  # popping a dead pipe's last item detaches it
                    if pipe.inq:
                        self.input_arrived(pipe)
                return

    def send(self, msg: list) -> bool:
        if len(msg) == 1:
            return self.send_one(msg[0])
        if self.polled:
            self._take_input()
        return self._send(msg)

    def send_one(self, body: bytes) -> bool:
        # The common case in full (see _send): a one-frame message to its subscribers.
        if self.polled:
            self._take_input()
        opts = self.options
        if opts.invert_matching or opts.xpub_nodrop:
            return self._send([body])
        subs = self.subs
        fan = self.fan
        if subs.only_length == 0:  # the one subscription is b"": everyone wants all
            everyone = subs.by_topic[b""]
            if len(everyone) > 1 and fan.offer(body, everyone, subs.version):
                return True
        if fan.members:
            fan.flush()  # whatever else goes to a member goes after the shared burst
        for pipe in subs.matching(body):
            engine = pipe.engine
            if engine is None or not engine.offer_one(body):
                pipe.offer([body])
        return True

    def _send(self, msg: list) -> bool:
        self.fan.flush()
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
        # Dropped for a pipe at its mark, as libzmq's dist drops it. A one-frame message
        # joining a corked burst, or for an inproc peer, goes straight to the pipe's engine
        # (as in Socket.send); ``targets`` is a set of its own, so a pipe that dies on the
        # way does not disturb the loop.
        if len(msg) == 1:
            body = msg[0]
            for pipe in targets:
                engine = pipe.engine
                if engine is None or not engine.offer_one(body):
                    pipe.offer(msg)
        else:
            for pipe in targets:
                pipe.offer(msg)
        return True

    def recv(self) -> list | None:
        self._take_input()
        if self.notices:
            msg, pipe = self.notices.popleft()
            if pipe is not None:
                self.last_pipe = pipe  # XPUB_MANUAL's SUBSCRIBE applies to this peer
            if self.waiting:
                self._take_waiting()
            return msg
        return None

    def _take_waiting(self) -> None:
        waiting, self.waiting = self.waiting, []
        for pipe in waiting:
            if pipe.inq:
                self.input_arrived(pipe)

    def subscribe(self, topic: bytes) -> None:
        self._manual_only("SUBSCRIBE")
        if self.last_pipe is not None:
            self.subs.add(topic, self.last_pipe)

    def unsubscribe(self, topic: bytes) -> None:
        self._manual_only("UNSUBSCRIBE")
        if self.last_pipe is not None:
            self.subs.remove(topic, self.last_pipe)

    def _manual_only(self, name: str) -> None:
        if not self.options.xpub_manual:
            raise with_detail(errno.EINVAL, f"{name} on an XPUB socket needs XPUB_MANUAL")

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
        # A message read ahead by can_recv() (it must know the filter lets one through)
        self.pending: list | None = None
        self.solo_queue = SoloView()

    def _update_solo(self) -> None:
        # Socket.recv may pop the only pipe itself while recv would pass every message on
        # unchanged (subscribed to everything), or drop what one-length topics refuse, with
        # nothing inverted and nothing read ahead.
        view = self.solo_queue
        topics = self.filter.topics
        only = self.fq.solo if not self.options.invert_matching and self.pending is None else None
        lengths = self.filter.lengths
        if only is None or b"" in topics or len(lengths) != 1:
            view.solo = only if b"" in topics else None
            view.filtered = None
        else:
            view.solo = None
            view.filtered = only
            view.topics = topics
            view.length = next(iter(lengths))

    def options_changed(self) -> None:
        self._update_solo()

    def attach(self, pipe: Pipe) -> None:
        self.fq.attach(pipe)
        self._update_solo()
        self.pipes.append(pipe)
        # A new publisher learns what we want now; later (un)subscriptions follow one by
        # one through the pipe, so its counts match ours (libzmq does the same).
        for topic in self.filter.topics:
            pipe.send_subscription(topic, True)
        pipe.pattern_state = 0  # handshakes seen

    def pipe_ready(self, pipe: Pipe) -> bool:
        seen = pipe.pattern_state or 0
        pipe.pattern_state = seen + 1
        if seen and isinstance(pipe, StreamPipe):
            # Reconnected: a new peer, which needs the whole set once. What was queued for
            # the old connection would repeat it.
            kept = [item for item in pipe.outq if type(item) is not Subscription]
            pipe.outq.clear()
            for topic in self.filter.topics:
                pipe.outq.append(Subscription(topic, True))
            pipe.outq.extend(kept)
            engine = pipe.engine
            if engine is not None and engine.ready:
                engine.drain_pipe()
        return True

    def detach(self, pipe: Pipe) -> None:
        self.fq.detach(pipe)
        self._update_solo()
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
            self._update_solo()
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
        pending = self.pending
        if pending is not None:
            self.pending = None
            self._update_solo()
            return pending
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
        if self.pending is None and self.fq.has_input():
            self.pending = self.recv()
            self._update_solo()
        return self.pending is not None


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
