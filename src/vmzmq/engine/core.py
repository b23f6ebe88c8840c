"""The engine's side of a socket and of a context.

``SocketCore`` is what connections, listeners and connecters talk to: the socket's lock,
signaler, options, pipes and endpoints. The pattern (socket type) is plugged in by the
facade; the engine calls it only through ``attach``/``pipe_ready``/``detach`` and
``input_arrived``.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import time
from collections.abc import Callable
from typing import Any

from .. import _native as native
from ..error import ENOCOMPATPROTO, with_detail
from ..zmtp import compatible
from .connecter import Connecter
from .listener import Listener
from .loop import IOThread
from .pipe import InprocPipe, Pipe, StreamPipe
from .signaler import Signaler

log = logging.getLogger("vmzmq")

# A blocked reader waits on up to this many connections with poll(2), built afresh whenever
# they change; on more (up to WAIT_EPOLL_MAX) with an epoll set of the socket's own, kept up
# to date by difference; beyond that it leaves them to the I/O thread.
DIRECT_READ_MAX = 8
WAIT_EPOLL_MAX = 4096
# Connections a reader waited on stay its own (muted for the I/O thread) between its waits;
# the I/O thread takes them back once the reader has not waited for this long (checked every
# LEND_TIME: a lend ends one to two of them after the last wait). Long enough for a caller
# that goes round many sockets (a client of 1,000 DEALERs comes back to each every 30-40
# ms): a lend that ends between its visits lets the I/O thread read in between and trade the
# GIL with it. Short enough that a peer's PING waits at most 100 ms for its PONG when the
# reader stops reading.
LEND_TIME = 0.05
_NONE: list = []


def _spin_time() -> float:
    try:
        return max(0.0, float(os.environ.get("VMZMQ_SPIN_US", "50"))) / 1e6
    except ValueError:
        value = os.environ["VMZMQ_SPIN_US"]
        log.warning("vmzmq: VMZMQ_SPIN_US=%r is not a number; using 50", value)
        return 50e-6


# A reader waiting on its own connections, having just written to one of them, polls them
# without blocking for this long before it sleeps. An answer that comes within it costs no
# sleep and wake-up, which between two CPUs of a VM is most of a round trip (a bare Python
# ping-pong here: ~60 us blocking, ~7 us with a 20 us spin) and costs more CPU than the
# spin. An idle socket sleeps after it, so it still uses no CPU. VMZMQ_SPIN_US sets it in
# microseconds (0: never spin).
SPIN_TIME = _spin_time()
# A spin that ends without an answer took its CPU from whoever had to answer (when both share
# a CPU, every spin then delays the answer it waits for): after such a miss the socket skips
# spinning for its next 1, 3, 7 ... waits, up to this many, and spins as before once an
# answer comes within a spin again.
SPIN_BACKOFF_MAX = 63
# How soon the I/O thread looks again for corked output when the sender held the lock.
UNCORK_RETRY = 0.0005
_now = time.monotonic


class ContextCore:
    """State shared by a context's sockets: the I/O thread and the inproc registry."""

    def __init__(self) -> None:
        self.lock = native.Lock()
        self._io: IOThread | None = None
        self.inproc: dict[str, SocketCore] = {}
        self.pending_inproc: dict[str, list[tuple[SocketCore, str]]] = {}
        self.sockets: set[SocketCore] = set()
        self.terminated = False
        # Carries ZAP requests to inproc://zeromq.zap.01: installed by the facade's Context
        # (it needs a socket, which the engine cannot make); None means no handler, ever.
        self.zap_client: Any = None
        self._lingering = 0
        self._idle = native.Condition(self.lock)

    @property
    def io(self) -> IOThread:
        io = self._io
        if io is None:
            with self.lock:
                if self._io is None:
                    self._io = IOThread()
                io = self._io
        return io

    def linger_started(self) -> None:
        with self.lock:
            self._lingering += 1

    def linger_finished(self) -> None:
        with self.lock:
            self._lingering -= 1
            self._idle.notify_all()

    def socket_closed(self, core: SocketCore) -> None:
        with self.lock:
            self.sockets.discard(core)
            self._idle.notify_all()

    def terminate(self) -> None:
        """Mark terminated, wake every blocked call, wait for sockets and lingerers."""
        with self.lock:
            self.terminated = True
            cores = list(self.sockets)
        for core in cores:
            core.attention = True
            core.signaler.exposed = True
            core.signaler.signal()
        with self.lock:
            while self.sockets or self._lingering > 0:
                self._idle.wait(0.1)
                for core in list(self.sockets):
                    core.signaler.signal()
            io = self._io
            self._io = None
        if io is not None:
            io.stop()


class SocketCore:
    # Slots: more attributes than CPython's shared-key instance dicts hold (30), so without
    # them each socket would carry a 1.6 KiB dict and every attribute load a hash lookup.
    __slots__ = (
        "context", "socket_type", "type_name", "options", "raw", "lock", "signaler",
        "pattern", "eager_input", "pipes", "connections", "draining", "dead_inbox",
        "attention", "recv_epoch", "burst_until", "burst_epoch", "spin_skip", "spin_backoff",
        "uncork_list", "fan", "conn_version", "_wait_set", "_epoll_set", "_last_wait",
        "_polling", "lent", "_lend_epoch", "_lend_timer", "listeners", "connecters",
        "inproc_bound", "inproc_pipes", "last_endpoint", "closed", "monitor",
    )

    def __init__(self, context: ContextCore, socket_type: int, type_name: str, options: Any):
        self.context = context
        self.socket_type = socket_type
        self.type_name = type_name
        self.options = options
        self.raw = socket_type == 11  # STREAM
        self.lock = native.RLock()
        self.signaler = Signaler()
        self.pattern: Any = None
        self.eager_input = False  # the pattern wants input_arrived() calls (publishers)
        self.pipes: list[Pipe] = []
        self.connections: set = set()  # live stream connections (StreamConnection)
        # Dead pipes whose last messages are still to be read; reaped between calls, never
        # in the middle of a pattern's own bookkeeping.
        self.draining: list[Pipe] = []
        # Pipes other sockets ended (mark_dead), for reap() to move into ``draining``. (A
        # list: appends and pops are atomic under the GIL as a deque's, and an empty list
        # costs a tenth of an empty deque's memory.)
        self.dead_inbox: list[Pipe] = []
        # Set while there is something for the next call to look at first (pipes to reap,
        # a terminated context); the hot paths test only this.
        self.attention = False
        # Counts receives and waits: a send after either starts a new burst (a reply is not
        # corked, nor the first message after a blocked send).
        self.recv_epoch = 0
        # When any of the socket's connections was last written to directly, and recv_epoch
        # then: a message to any of them soon after joins the burst (see send_message). As
        # recv_epoch only grows, this also covers the connection written to itself.
        self.burst_until = 0.0
        self.burst_epoch = 0
        self.spin_skip = 0  # waits left that do not spin (see SPIN_BACKOFF_MAX)
        self.spin_backoff = 0
        # Connections whose corked output waits for the I/O thread (``uncork``); not empty
        # exactly while that call is queued. A wait writes them first, and leaves the list
        # to the queued call.
        self.uncork_list: list = []
        self.fan: Any = None  # a publisher's shared burst (engine/fanout.py), if it has one
        # Changes whenever a connection comes, goes, or stops or resumes reading.
        self.conn_version = 0
        self._wait_set: tuple | None = None
        self._epoll_set: _EpollSet | None = None  # the wait set's poller beyond DIRECT_READ_MAX
        self._last_wait = 0.0
        self._polling = False  # a caller is in its wait set's poll, without the lock
        # Connections lent to the calling thread (see wait), and how it uses them. (Rebound,
        # never changed in place; and immutable until first lent, as inproc_bound: a socket
        # allocates nothing it does not use, and each empty list is one more object for the
        # cyclic GC to walk in a program with thousands of sockets.)
        self.lent: list | tuple = ()
        self._lend_epoch = 0
        self._lend_timer: Any = None
        self.listeners: dict[str, Listener] = {}
        self.connecters: dict[str, list[Connecter]] = {}
        self.inproc_bound: tuple[str, ...] = ()
        self.inproc_pipes: dict[str, list[InprocPipe]] = {}
        self.last_endpoint = ""
        self.closed = False
        self.monitor: Any = None  # callable(event_name, value, endpoint)

    @property
    def io(self) -> IOThread:
        return self.context.io

    # -- pipes ---------------------------------------------------------------------------------
    def attach_pipe(self, pipe: Pipe) -> None:
        self.pipes.append(pipe)
        self.conn_version += 1  # a reader's wait set covers every pipe or knows it does not
        self.pattern.attach(pipe)

    def pipe_ready(self, pipe: Pipe) -> bool:
        """A pipe's peer finished its handshake; False if the pattern refuses it."""
        ok = self.pattern.pipe_ready(pipe)
        self.signaler.signal()
        return ok is not False

    def terminate_pipe(self, pipe: Pipe) -> None:
        """The peer is gone; messages already received stay readable until drained."""
        with self.lock:
            if pipe.dead and pipe not in self.draining:
                return
            pipe.dead = True
            if isinstance(pipe, StreamPipe):
                pipe.outq.clear()
            if pipe.inq:
                if pipe not in self.draining:
                    self.draining.append(pipe)
                    self.attention = True
            else:
                if pipe in self.draining:
                    self.draining.remove(pipe)
                self.remove_pipe(pipe)
            self.signaler.signal()

    def reap(self) -> None:
        """Detach dead pipes that have been read dry (the caller holds the lock)."""
        draining = self.draining
        inbox = self.dead_inbox
        while inbox:
            pipe = inbox.pop(0)
            if pipe not in draining:
                draining.append(pipe)
        keep = []
        for pipe in draining:
            if pipe.inq:
                keep.append(pipe)
            else:
                self.remove_pipe(pipe)
        self.draining = keep
        self.attention = bool(keep) or self.context.terminated
        if inbox:  # a mark_dead that came in meanwhile: its attention must not be lost
            self.attention = True

    def remove_pipe(self, pipe: Pipe) -> None:
        pipe.dead = True
        try:
            self.pipes.remove(pipe)
        except ValueError:
            return
        self.conn_version += 1
        self.pattern.detach(pipe)

    def connection_closed(self, conn: Any, lost: bool, reason: str) -> None:
        """Every way a stream connection ends funnels through here."""
        pipe = conn.pipe
        if conn.ready or lost:
            self.event("DISCONNECTED", conn.fd, conn.endpoint)
        if conn.connecter is not None:
            conn.connecter.connection_lost(conn)
        else:
            listener = self.listeners.get(conn.endpoint)
            if listener is not None:
                listener.forget(conn)
            if pipe is not None:
                pipe.engine = None
                self.terminate_pipe(pipe)
        self.signaler.signal()

    def terminate_inproc(self, pipe: InprocPipe) -> None:
        peer = pipe.peer
        self.terminate_pipe(pipe)
        if peer is not None and peer.core is not None:
            peer.core.mark_dead(peer)

    def mark_dead(self, pipe: Pipe) -> None:
        """Another socket ended this pipe. Without taking our lock (that could deadlock
        against a peer doing the same), queue it; our next call reaps it."""
        if pipe.dead:
            return
        pipe.dead = True
        # Into a list of its own, never into ``draining``: the owner rebinds that list in
        # reap() under its lock, which would lose an append made meanwhile (a leaked dead
        # pipe: a PAIR would then refuse every new peer). Append first, then attention:
        # reap() looks at the inbox again after it clears attention.
        self.dead_inbox.append(pipe)
        self.attention = True
        self.signaler.signal()

    def uncork(self) -> None:
        """On the I/O thread: write what sending threads corked and did not write themselves
        (see StreamConnection.send_message)."""
        if not self.lock.acquire(blocking=False):
            # The sender holds the lock: it is mid-burst, and writes its own cork at 64 KiB
            # or when it waits. Waiting for the lock here would end the burst after a message
            # or two whenever the sender lets the GIL go (CURVE's libsodium calls do), and
            # hand lock and GIL back and forth per message after that. Look again later.
            self.io.call_later(UNCORK_RETRY, self.uncork)
            return
        try:
            conns, self.uncork_list = self.uncork_list, []
            for conn in conns:
                conn.uncork_pending = False
                conn.flush_corked()
        finally:
            self.lock.release()

    # -- waiting ------------------------------------------------------------------------------
    def wait(
        self, timeout: float | None, reading: bool, attempt: Callable[[], Any], first: int = 0
    ) -> Any:
        """Block the calling thread until something may have changed (or ``timeout``), then
        return what ``attempt()`` (run under the lock, right after any reads) returns.

        ``first``: 2 on a caller's first wait, which makes an attempt before blocking (the
        caller raised ``signaler.waiters`` since its own last look); 1 if the caller made
        one right before, under the lock: that one stands when every pipe's connection was
        already lent to the caller then and nothing needs attention, since nothing else can
        have filled a pipe since. A first attempt on a terminated context returns at once.

        Corked output is written first. A reader with few connections waits on their file
        descriptors itself and reads them in this thread, with the I/O thread kept away
        (muted): a message then reaches the caller without a thread hand-off, which is most
        of what round-trip latency costs in Python.

        The connections stay lent to the caller after it returns: a reader that keeps
        reading comes back here soon, and would otherwise race the I/O thread for every
        batch of data (a lock and GIL hand-off each) and pay two ``epoll_ctl`` per wait.
        The I/O thread takes them back when the caller stops waiting for LEND_TIME, or
        waits by other means (``release_lent``).
        """
        lock = self.lock
        lock.acquire()
        try:
            self.recv_epoch += 1
            for conn in self.uncork_list:
                conn.flush_corked()
            if reading:
                wait_set = self._wait_set
                if wait_set is None or wait_set[0] != self.conn_version:
                    wait_set = self._wait_set = self._build_wait_set()
                conns = wait_set[1]
                if first == 1 and wait_set[4] and self.lent is conns and not self.attention:
                    first = 0  # the caller's own attempt stands (see the docstring)
                if len(conns) > DIRECT_READ_MAX:
                    now = _now()
                    if self.lent is not conns and now - self._last_wait > LEND_TIME:
                        # Lending many connections costs a system call each (to mute them in
                        # the I/O thread's set, and to give them back): only to a reader that
                        # waits again within LEND_TIME, i.e. one with a stream of input.
                        conns = _NONE
                    elif wait_set[2] is None:
                        wait_set = self._wait_set = self._with_epoll_set(wait_set)
                    self._last_wait = now
            else:
                conns = _NONE
            if first:
                if self.attention:
                    self.reap()
                result = attempt()
                if result is not None or self.context.terminated:
                    return result
            self._lend(conns)  # a writer's or a many-pipe reader's wait gives them back
            if len(conns) == 1:
                conn = conns[0]
                if conn.muted and conn.cork_until <= _now():
                    # A lone peer's connection, lent, and not just written to (then an answer
                    # is on its way, and the spin below is for it): what it sent since the
                    # last read is likely in the kernel already, and one read costs less
                    # than a poll and then the read (a client of many DEALERs finds every
                    # reply there; an idle one pays one failed read per wait).
                    self._lend_epoch += 1
                    conn.read_now()
                    if self.attention:
                        self.reap()
                    result = attempt()
                    if result is not None or self.conn_version != wait_set[0]:
                        # Or the read changed the connections (a handshake done, a peer
                        # gone, a listener's accept): the wait set is stale, and a poll on
                        # it would miss a new connection, lent and muted. The caller comes
                        # back to a new one.
                        return result
            self._polling = bool(conns)  # from here until the lock is taken again below
        finally:
            lock.release()
        if not conns:
            if self.signaler.wait(timeout):
                self.signaler.drain()
            lock.acquire()
            try:
                if self.attention:
                    self.reap()
                return attempt()
            finally:
                lock.release()
        poller = wait_set[2]
        ms = -1 if timeout is None else max(0, int(timeout * 1000 + 0.999))
        ready = None
        if SPIN_TIME and ms:
            # Only right after this thread wrote to one of them (a request, a reply): then
            # an answer is likely within the spin. A plain reader of a stream would only
            # read smaller batches more often (it cost PULL throughput ~10%).
            now = _now()
            for conn in conns:
                if conn.cork_until > now:
                    if self.spin_skip:
                        self.spin_skip -= 1
                    else:
                        ready = _spin(poller, SPIN_TIME)
                        if not ready:
                            backoff = min(self.spin_backoff * 2 + 1, SPIN_BACKOFF_MAX)
                            self.spin_backoff = self.spin_skip = backoff
                        elif any(fd in wait_set[3] for fd, _events in ready):
                            self.spin_backoff = 0  # an answer within the spin
                    break
        if not ready:
            ready = poller.poll(ms)
        lock.acquire()
        try:
            self._lend_epoch += 1
            self._polling = False
            by_fd = wait_set[3]
            for fd, _events in ready:
                conn = by_fd.get(fd)
                if conn is None:
                    self.signaler.drain()
                elif conn.muted:
                    conn.read_now()
            if self.attention:
                self.reap()
            return attempt()
        finally:
            lock.release()

    def _build_wait_set(self) -> tuple:
        """The connections (and listeners) a reader waits on itself, and a poll set for them
        and the signaler; rebuilt only when ``conn_version`` says the connections changed."""
        conns = [c for c in self.connections if not c.read_paused and not c.closed]
        conns += [c for c in self.listeners.values() if not c.read_paused and not c.closed]
        if len(conns) > WAIT_EPOLL_MAX:
            conns = []
        by_fd = {conn.fd: conn for conn in conns}
        if len(conns) > DIRECT_READ_MAX:
            poller = None  # the epoll set, made when they are lent (see wait)
        else:
            poller = native.poll()
            poller.register(self.signaler.fd, select.POLLIN)
            for fd in by_fd:
                poller.register(fd, select.POLLIN)
        # Whether every pipe is one of these connections': with them lent, nothing but the
        # caller's own reads can fill a pipe (see wait).
        engines = {id(conn.pipe) for conn in conns}
        complete = bool(conns) and all(id(pipe) in engines for pipe in self.pipes)
        return (self.conn_version, conns, poller, by_fd, complete)

    def _with_epoll_set(self, wait_set: tuple) -> tuple:
        """``wait_set`` with the socket's epoll set, brought up to date, as its poller."""
        epoll_set = self._epoll_set
        if epoll_set is None:
            epoll_set = self._epoll_set = _EpollSet(self.signaler.fd)
        epoll_set.update(wait_set[3])
        return (*wait_set[:2], epoll_set, *wait_set[3:])

    def _lend(self, conns: list) -> None:
        """Make ``conns`` the connections the caller reads itself (the lock is held)."""
        lent = self.lent
        if lent is conns:
            return
        if self._epoll_set is not None and len(conns) <= DIRECT_READ_MAX:
            # Back to few connections, or none lent: the epoll set's descriptor goes now,
            # not when the socket closes.
            self._close_epoll_set()
        keep = set(conns) if len(conns) > DIRECT_READ_MAX else conns
        for conn in lent:
            if conn not in keep:
                conn.unmute()
        for conn in conns:
            conn.mute()
        self.lent = conns
        if conns:
            if self._lend_timer is None:
                self._lend_timer = self.io.call_later(LEND_TIME, self._lend_check)
        elif self._lend_timer is not None:
            self._lend_timer.cancel()  # spares the I/O thread a wake-up for nothing
            self._lend_timer = None

    def _close_epoll_set(self) -> None:
        # While a caller polls it (the lend timer ended a long wait, or another thread closed
        # the socket), only let go: the caller's reference closes it on its way out, and an
        # epoll descriptor closed under a poll could be reused before the poll starts.
        if not self._polling:
            self._epoll_set.close()  # type: ignore[union-attr]
        self._epoll_set = None
        wait_set = self._wait_set
        if wait_set is not None and type(wait_set[2]) is _EpollSet:
            self._wait_set = (*wait_set[:2], None, *wait_set[3:])

    def lend_new(self, conn: Any) -> None:
        """A connection a waiting reader made itself (accepted from a lent listener) is lent
        to it from the start, so the I/O thread never races it for the handshake (the lock
        is held; ``conn`` is muted)."""
        self.lent = [*self.lent, conn]  # a new list: a wait set must not take it for its own
        if self._lend_timer is None:
            self._lend_timer = self.io.call_later(LEND_TIME, self._lend_check)

    def _lend_check(self) -> None:
        """In the I/O thread, every LEND_TIME while connections are lent."""
        with self.lock:
            self._lend_timer = None
            if not self.lent:
                return
            if self._lend_epoch:  # the caller still waits now and then: leave them lent
                self._lend_epoch = 0
                self._lend_timer = self.io.call_later(LEND_TIME, self._lend_check)
            else:
                self._lend([])

    def release_lent(self) -> None:
        """Give lent connections back to the I/O thread now: the caller is about to wait by
        some other means (a Poller, the FD option) or stop reading (the lock is held)."""
        if self.lent:
            self._lend([])

    # -- endpoints -------------------------------------------------------------------------------
    def add_listener(self, transport: Any, sock: Any, endpoint: str) -> None:
        self.listeners[endpoint] = Listener(self, transport, sock, endpoint)

    def add_connecter(
        self, transport: Any, target: Any, endpoint: str, routing_id: bytes = b""
    ) -> None:
        """Connect to ``endpoint``; ``routing_id`` (CONNECT_ROUTING_ID) names the peer's pipe.
        The connecter may be done already when this returns, even stopped (a refusal with
        RECONNECT_STOP_CONN_REFUSED): its first attempt can run in the calling thread."""
        connecter = Connecter(self, transport, target, endpoint)
        if routing_id and connecter.pipe is not None:
            connecter.pipe.routing_id = routing_id
        self.connecters.setdefault(endpoint, []).append(connecter)
        connecter.start()

    def connecter_stopped(self, connecter: Connecter) -> None:
        """A connecter gave up for good: forget its endpoint (disconnect then says ENOENT)."""
        connecter.close()
        if connecter.pipe is not None:
            self.terminate_pipe(connecter.pipe)
        group = self.connecters.get(connecter.endpoint)
        if group is not None and connecter in group:
            group.remove(connecter)
            if not group:
                del self.connecters[connecter.endpoint]

    def unbind(self, endpoint: str, linger: int = 0) -> bool:
        listener = self.listeners.pop(endpoint, None)
        if listener is None:
            return False
        listener.close()
        for conn in list(listener.connections):
            if linger != 0 and conn.out and conn.ready:
                conn.start_linger(linger)
            else:
                conn.close("unbound")
        return True

    def disconnect(self, endpoint: str) -> bool:
        connecters = self.connecters.pop(endpoint, None)
        if not connecters:
            return False
        for connecter in connecters:
            connecter.close()
            if connecter.connection is not None:
                connecter.connection.close("disconnected")
            if connecter.pipe is not None:
                self.terminate_pipe(connecter.pipe)
        return True

    # -- inproc ----------------------------------------------------------------------------------
    def bind_inproc(self, name: str) -> None:
        ctx = self.context
        with ctx.lock:
            if name in ctx.inproc:
                raise with_detail(errno.EADDRINUSE, f"inproc endpoint 'inproc://{name}' is in use")
            ctx.inproc[name] = self
            waiting = ctx.pending_inproc.pop(name, [])
        self.inproc_bound += (name,)
        for connector, pipe in waiting:
            self._accept_inproc(connector, pipe)

    def connect_inproc(self, name: str, endpoint: str, routing_id: bytes = b"") -> None:
        """Join a bound inproc endpoint, or queue for it: like libzmq, the pipe exists at
        once, so messages sent before the bind wait in it."""
        ctx = self.context
        with ctx.lock:
            binder = ctx.inproc.get(name)
            if binder is not None and not compatible(self.type_name, binder.type_name):
                raise with_detail(
                    ENOCOMPATPROTO,
                    f"{endpoint!r}: a {self.type_name} socket cannot talk to {binder.type_name}",
                )
            mine, theirs = InprocPipe.pair(self, binder, endpoint)
            if binder is None:
                ctx.pending_inproc.setdefault(name, []).append((self, theirs))
        mine.locally_initiated = True
        mine.routing_id = routing_id
        theirs.properties = self.identity_properties()
        if binder is not None:
            mine.properties = binder.identity_properties()
        with self.lock:
            self.inproc_pipes.setdefault(endpoint, []).append(mine)
            self.attach_pipe(mine)
            self.pipe_ready(mine)
        if binder is not None:
            binder._accept_inproc(self, theirs)

    def _accept_inproc(self, connector: SocketCore, pipe: InprocPipe) -> None:
        mine = pipe.peer
        if not compatible(connector.type_name, self.type_name):
            log.warning(
                "vmzmq: inproc %s: %s cannot talk to %s",
                pipe.endpoint,
                connector.type_name,
                self.type_name,
            )
            connector.mark_dead(mine)
            return
        pipe.adopt(self)
        mine.properties = self.identity_properties()
        with self.lock:
            if self.closed:
                connector.mark_dead(mine)
                return
            self.attach_pipe(pipe)
            self.pipe_ready(pipe)
        connector.signaler.signal()

    def identity_properties(self) -> dict[str, bytes]:
        props = {"Socket-Type": self.type_name.encode()}
        if self.options.routing_id:
            props["Identity"] = bytes(self.options.routing_id)
        return props

    def unbind_inproc(self, name: str) -> bool:
        ctx = self.context
        with ctx.lock:
            if ctx.inproc.get(name) is not self:
                return False
            del ctx.inproc[name]
        self.inproc_bound = tuple(n for n in self.inproc_bound if n != name)
        return True

    def disconnect_inproc(self, endpoint: str) -> bool:
        pipes = self.inproc_pipes.pop(endpoint, None)
        if not pipes:
            return False
        ctx = self.context
        with ctx.lock:
            name = endpoint[len("inproc://") :]
            waiting = ctx.pending_inproc.get(name, [])
            waiting[:] = [w for w in waiting if w[1].peer not in pipes]
        for pipe in pipes:
            self.terminate_inproc(pipe)
        return True

    # -- closing ---------------------------------------------------------------------------------
    def close(self, linger: int) -> None:
        """Close every endpoint; queued output lingers in the I/O thread for ``linger`` ms."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            if self.fan is not None:
                self.fan.flush()  # what a shared burst gathered is queued output too
            self.release_lent()
            ctx = self.context
            for name in list(self.inproc_bound):
                self.unbind_inproc(name)
            with ctx.lock:
                for waiting in ctx.pending_inproc.values():
                    waiting[:] = [w for w in waiting if w[0] is not self]
            for endpoint in list(self.listeners):
                self.unbind(endpoint, linger)
            for pipes in self.inproc_pipes.values():
                for pipe in pipes:
                    self.terminate_inproc(pipe)
            for pipe in list(self.pipes):
                peer = getattr(pipe, "peer", None)
                if peer is not None and peer.core is not None:
                    peer.core.mark_dead(peer)
            for connecters in self.connecters.values():
                for connecter in connecters:
                    connecter.closed = True
                    connecter.shutdown(linger)
            self.connecters.clear()
            if self._epoll_set is not None:
                self._close_epoll_set()
            self.signaler.signal()
        self.context.socket_closed(self)
        self.signaler.close()

    # -- monitor hooks ---------------------------------------------------------------------------
    def event(self, name: str, value: int, endpoint: str) -> None:
        monitor = self.monitor
        if monitor is not None:
            monitor(name, value, endpoint)

    def event_handshake_succeeded(self, endpoint: str) -> None:
        self.event("HANDSHAKE_SUCCEEDED", 0, endpoint)

    def event_handshake_failed(self, endpoint: str, code: int) -> None:
        if code:
            self.event("HANDSHAKE_FAILED_PROTOCOL", code, endpoint)
        else:
            self.event("HANDSHAKE_FAILED_NO_DETAIL", 0, endpoint)


class _EpollSet:
    """A reader's wait set of many connections: poll(2)'s interface over an epoll set that
    is updated by difference, so a connection coming or going costs two dict passes and a
    system call or two, not one per connection."""

    def __init__(self, signal_fd: int) -> None:
        self.ep = native.epoll()
        self.ep.register(signal_fd, select.EPOLLIN)
        self.registered: dict[int, Any] = {}

    def update(self, by_fd: dict[int, Any]) -> None:
        registered = self.registered
        for fd, conn in list(registered.items()):
            if by_fd.get(fd) is not conn:
                del registered[fd]
                try:
                    self.ep.unregister(fd)
                except (OSError, ValueError):
                    pass  # closed: the kernel dropped it already (its number may be reused)
        for fd, conn in by_fd.items():
            if fd not in registered:
                self.ep.register(fd, select.EPOLLIN)
                registered[fd] = conn

    def poll(self, ms: int = -1) -> list:
        if self.ep.closed:  # closed with the socket: the caller finds out from its attempt
            return []
        return self.ep.poll(-1 if ms < 0 else ms / 1000)

    def close(self) -> None:
        self.ep.close()


def _spin(poller: Any, seconds: float) -> list:
    """Poll without blocking until something is ready or ``seconds`` have passed (the lock
    is not held: the I/O thread and other threads carry on meanwhile)."""
    poll = poller.poll
    end = _now() + seconds
    while True:
        ready = poll(0)
        if ready or _now() >= end:
            return ready
