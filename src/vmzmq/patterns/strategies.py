"""Routing strategies that socket types compose (the ideas of libzmq's lb, fq and dist)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..engine.pipe import Pipe, Subscription


def _only_pipe(pipes: list[Pipe]) -> Pipe | None:
    return pipes[0] if len(pipes) == 1 else None


class LoadBalancer:
    """Round-robin over the pipes that can take a message now."""

    __slots__ = ("pipes", "_next", "solo")

    def __init__(self) -> None:
        self.pipes: list[Pipe] = []
        self._next = 0
        # The only pipe, when there is one (see Socket.send).
        self.solo: Pipe | None = None

    def attach(self, pipe: Pipe) -> None:
        self.pipes.append(pipe)
        self.solo = _only_pipe(self.pipes)

    def detach(self, pipe: Pipe) -> None:
        try:
            self.pipes.remove(pipe)
        except ValueError:
            pass
        self.solo = _only_pipe(self.pipes)

    def pick(self) -> Pipe | None:
        pipes = self.pipes
        n = len(pipes)
        if n == 1:
            pipe = pipes[0]
            return pipe if pipe.has_room() or pipe.writable() else None
        start = self._next
        for i in range(n):
            pipe = pipes[(start + i) % n]
            if pipe.writable():
                self._next = (start + i + 1) % n
                return pipe
        return None

    def send(self, msg: list) -> bool:
        """Send to the next pipe that can take ``msg``; False if none can now."""
        pipes = self.pipes
        if len(pipes) == 1:  # the common case, without a search
            return pipes[0].offer(msg)
        pipe = self.pick()
        if pipe is None:
            return False
        pipe.send(msg)
        return True

    def can_send(self) -> bool:
        return any(p.writable() for p in self.pipes)


class FairQueue:
    """Round-robin over the pipes that hold a message. ``last`` is where the last message
    came from (its metadata is what ``Frame.get()`` reports).

    ``solo`` is the only pipe when there is exactly one: the socket's ``recv`` then pops it
    without taking the lock (see ``Socket.recv`` and ``Pipe.watch``).
    """

    __slots__ = ("pipes", "_next", "last", "solo")
    filtered = None  # see SoloView

    def __init__(self) -> None:
        self.pipes: list[Pipe] = []
        self._next = 0
        self.last: Pipe | None = None
        self.solo: Pipe | None = None

    def attach(self, pipe: Pipe) -> None:
        self.pipes.append(pipe)
        self.solo = _only_pipe(self.pipes)

    def detach(self, pipe: Pipe) -> None:
        try:
            self.pipes.remove(pipe)
        except ValueError:
            pass
        self.solo = _only_pipe(self.pipes)

    def recv(self) -> tuple[Any, Pipe] | tuple[None, None]:
        pipes = self.pipes
        n = len(pipes)
        if n == 1:
            pipe = pipes[0]
            if pipe.inq:
                self.last = pipe
                return pipe.pop(), pipe
            return None, None
        start = self._next
        for i in range(n):
            pipe = pipes[(start + i) % n]
            if pipe.inq:
                self._next = (start + i + 1) % n
                self.last = pipe
                return pipe.pop(), pipe
        return None, None

    def recv_msg(self) -> Any:
        """The next message, or None; ``recv`` without the pipe."""
        pipes = self.pipes
        if len(pipes) == 1:
            pipe = pipes[0]
            if pipe.inq:
                self.last = pipe
                return pipe.pop()
            return None
        return self.recv()[0]

    def has_input(self) -> bool:
        for pipe in self.pipes:
            if pipe.inq:
                return True
        return False


class SoloView:
    """A pattern's ``solo_queue`` when its queue's only pipe may be popped directly only some
    of the time (a subscriber whose filter passes everything): the pattern keeps ``solo``.

    ``filtered`` is that pipe when it may be popped directly by a caller that drops what
    does not start with one of ``topics``, all ``length`` octets long (a subscriber to
    topics of one length, the common case); None otherwise."""

    __slots__ = ("solo", "filtered", "topics", "length")

    def __init__(self) -> None:
        self.solo: Pipe | None = None
        self.filtered: Pipe | None = None
        self.topics: dict[bytes, int] = {}
        self.length = 0


class SubscriptionIndex:
    """Which pipes want which topic prefixes, with counts (a topic subscribed twice needs
    two cancels). Matching looks up each distinct subscription length's prefix of the
    topic, which is cheap because real subscription sets have few distinct lengths."""

    __slots__ = ("by_topic", "_lengths", "usage", "version", "only_length", "_routes")

    def __init__(self) -> None:
        self.by_topic: dict[bytes, dict[Pipe, int]] = {}
        self._lengths: dict[int, int] = {}
        #: Per pipe: [distinct topics, their octets], to bound what one peer may make us hold.
        self.usage: dict[Pipe, list[int]] = {}
        #: Moves whenever a pipe gains or loses a topic (see ``everyone``).
        self.version = 0
        #: The length of every subscription when they all have one (the usual case), else None.
        self.only_length: int | None = None
        # ``matching``'s answers while the subscriptions stay as they are (emptied when
        # ``version`` moves): a subscribed topic's pipes as a tuple, made once rather than per
        # message. Only topics someone subscribed to: as bounded as ``by_topic``.
        self._routes: dict[bytes, tuple[Pipe, ...]] = {}

    def everyone(self) -> dict[Pipe, int] | None:
        """The pipes every message goes to when the one subscription is the empty topic
        (all subscribers want everything), else None: ``matches`` then gives these pipes for
        any topic, for as long as ``version`` stays (XPub.send_one tests the same inline)."""
        return self.by_topic[b""] if self.only_length == 0 else None

    def add(self, topic: bytes, pipe: Pipe) -> bool:
        """Record that ``pipe`` wants ``topic``; True if it is the topic's first subscriber.

        A pipe is in a topic's set once however often it subscribes, as in libzmq: a
        subscriber counts its own repeats and cancels only when its count reaches zero.
        """
        pipes = self.by_topic.get(topic)
        if pipes is None:
            pipes = self.by_topic[topic] = {}
            self._lengths[len(topic)] = self._lengths.get(len(topic), 0) + 1
            self._lengths_changed()
        first = not pipes
        if pipe not in pipes:
            self._changed()
            used = self.usage.get(pipe)
            if used is None:
                used = self.usage[pipe] = [0, 0]
            used[0] += 1
            used[1] += len(topic)
        pipes[pipe] = 1
        return first

    def fits(self, topic: bytes, pipe: Pipe, topics: int, octets: int) -> bool:
        """Whether ``pipe`` may add ``topic`` and stay within ``topics`` distinct topics and
        ``octets`` of them (a topic it has already is always fine)."""
        pipes = self.by_topic.get(topic)
        if pipes is not None and pipe in pipes:
            return True
        used = self.usage.get(pipe)
        if used is None:
            return len(topic) <= octets and topics > 0
        return used[0] < topics and used[1] + len(topic) <= octets

    def remove(self, topic: bytes, pipe: Pipe) -> bool:
        """Forget it; True if the topic has no subscribers left."""
        pipes = self.by_topic.get(topic)
        if pipes is None or pipe not in pipes:
            return False
        self._changed()
        del pipes[pipe]
        used = self.usage[pipe]
        used[0] -= 1
        used[1] -= len(topic)
        if pipes:
            return False
        self._forget(topic)
        return True

    def remove_pipe(self, pipe: Pipe) -> list[bytes]:
        """Drop every subscription of a pipe; return the topics nobody wants any more."""
        gone = []
        self._changed()
        self.usage.pop(pipe, None)
        for topic in list(self.by_topic):
            pipes = self.by_topic[topic]
            if pipes.pop(pipe, None) is not None and not pipes:
                self._forget(topic)
                gone.append(topic)
        return gone

    def _forget(self, topic: bytes) -> None:
        del self.by_topic[topic]
        n = len(topic)
        left = self._lengths[n] - 1
        if left:
            self._lengths[n] = left
        else:
            del self._lengths[n]
            self._lengths_changed()

    def _changed(self) -> None:
        self.version += 1
        self._routes.clear()

    def _lengths_changed(self) -> None:
        lengths = self._lengths
        self.only_length = next(iter(lengths)) if len(lengths) == 1 else None

    def matching(self, topic: bytes) -> Collection[Pipe]:
        """The pipes ``matches`` gives, as a collection of its own that callers may iterate
        while pipes die; with one subscription length (the usual case) a tuple, which costs
        a third of building the set, and is made once per topic until the subscriptions
        change."""
        n = self.only_length
        if n is None:
            return self.matches(topic)
        key = topic[:n]
        pipes = self._routes.get(key)
        if pipes is None:
            found = self.by_topic.get(key)
            if not found:
                return ()
            pipes = self._routes[key] = tuple(found)
        return pipes

    def matches(self, topic: bytes) -> set[Pipe]:
        by_topic = self.by_topic
        found: set[Pipe] = set()
        for n in self._lengths:
            if n <= len(topic):
                pipes = by_topic.get(topic[:n] if n else b"")
                if pipes:
                    found.update(pipes)
        return found

    def __len__(self) -> int:
        return len(self.by_topic)


class TopicFilter:
    """A subscriber's own set of prefixes, counted."""

    __slots__ = ("topics", "lengths")

    def __init__(self) -> None:
        self.topics: dict[bytes, int] = {}
        self.lengths: dict[int, int] = {}

    def add(self, topic: bytes) -> None:
        count = self.topics.get(topic, 0)
        self.topics[topic] = count + 1
        if not count:
            self.lengths[len(topic)] = self.lengths.get(len(topic), 0) + 1

    def remove(self, topic: bytes) -> bool:
        """Uncount one; True when that was the last (time to tell the publishers)."""
        count = self.topics.get(topic, 0)
        if not count:
            return False
        if count > 1:
            self.topics[topic] = count - 1
            return False
        del self.topics[topic]
        n = len(topic)
        if self.lengths[n] > 1:
            self.lengths[n] -= 1
        else:
            del self.lengths[n]
        return True

    def match(self, topic: bytes) -> bool:
        topics = self.topics
        for n in self.lengths:
            if n <= len(topic) and topic[:n] in topics:
                return True
        return False


def as_subscription(item: Any) -> Subscription | None:
    """A publisher's view of an inbound item: ZMTP 3.1 peers send commands (which arrive as
    Subscription objects); 3.0 peers and XSUB users send data messages whose first octet
    is 1 (subscribe) or 0 (cancel)."""
    if type(item) is Subscription:
        return item
    if len(item) == 1:
        frame = item[0]
        if frame and frame[0] in (0, 1):
            return Subscription(bytes(frame[1:]), frame[0] == 1)
    return None
