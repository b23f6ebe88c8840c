"""A stream connection: one connected socket speaking ZMTP (or raw bytes for STREAM).

It owns the kernel socket, the ZMTP codec, the bytes not yet written, and the heartbeat and
handshake timers. The I/O thread drives it; the calling thread may write through it
directly (``send_message``) while it holds the owning socket's lock, which is what lets a
send cost no thread hand-off.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections import deque
from typing import Any

from .. import _native as native
from ..error import ZMQError
from ..zmtp import (
    Cancel,
    HandshakeComplete,
    PeerError,
    Ping,
    Pong,
    ProtocolError,
    Subscribe,
    ZmtpConnection,
)
from ..zmtp.errors import ZAP_UNSPECIFIED, ZMTP_UNSPECIFIED, AuthFailed
from ..zmtp.frames import LONG_HEADERS_MAX, SHORT_HEADERS, is_clear_header, long_header
from ..zmtp.frames import frame_one as _clear_frame_one
from ..zmtp.zap import ZapRequest, parse_reply, request_frames
from .loop import ERROR, READ, WRITE
from .pipe import StreamPipe, Subscription
from .security import build_mechanism

log = logging.getLogger("vmzmq")
_now = time.monotonic

# One read takes at most this much from the kernel; large enough to decode thousands of
# small messages per system call, small enough to stay in cache.
READ_SIZE = 256 * 1024
# Reads per wake-up before the I/O thread moves on to other connections (fairness).
READS_PER_EVENT = 8
# sendmsg() takes at most IOV_MAX buffers.
IOV_MAX = 1024
MEMORY_SIZE = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
# A message sent within this many seconds of a direct write joins a corked burst.
CORK_WINDOW = 0.0005
# Corked output is written by the sending thread itself once this much has gathered.
CORK_BYTES = 64 * 1024
# How long a handshake waits for the ZAP handler when HANDSHAKE_IVL is 0 (no other timer would
# end it): a handler that never answers must not hold a connection open forever.
ZAP_TIMEOUT = 30.0
# Properties only the engine or the authenticator may set; a peer's metadata never overrides
# them, whatever case it spells them in.
_RESERVED_PROPERTIES = frozenset({"peer-address", "user-id"})


class _ReadBuffer(native.local):
    """Where a thread's reads land before the codec copies what it keeps: one per thread
    (the I/O thread, and each thread that reads its socket's connections directly), not one
    per connection, so 10,000 connections do not hold 2.5 GiB of empty read buffers and a
    new connection costs no 256 KiB allocation. Nothing refers to it once ``receive``
    returns."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(READ_SIZE))


_read_buffer = _ReadBuffer()


class StreamConnection:
    __slots__ = (
        "core",
        "io",
        "sock",
        "fd",
        "transport",
        "endpoint",
        "connecter",
        "pipe",
        "zmtp",
        "encode",
        "frame_one",
        "borrowed_parts",
        "lent",
        "draining",
        "raw",
        "ready",
        "closed",
        "out",
        "out_msgs",
        "read_paused",
        "want_write",
        "lingering",
        "cork_until",
        "uncork_pending",
        "cork_bytes",
        "grow_sndbuf",
        "pong_waiting",
        "muted",
        "interest",
        "direct",
        "peer_address",
        "_timers",
        "_rx_count",
        "_hb_timer",
        "_hb_timeout",
        "_ttl_timer",
        "_ttl_seconds",
        "_zap_id",
    )

    def __init__(
        self,
        core: Any,
        sock: socket.socket,
        transport: Any,
        endpoint: str,
        *,
        connecter: Any = None,
        pipe: StreamPipe | None = None,
        initial: bytes = b"",
        lent: bool = False,
    ) -> None:
        """``initial``: stream bytes that arrived before the connection existed (behind a
        transport's preamble reply). ``lent``: made by a reader inside its wait, which takes
        it as one of its own (``SocketCore.lend_new``) and so runs its handshake itself."""
        self.core = core
        self.io = core.io
        self.sock = sock
        sock.setblocking(False)
        self.fd = sock.fileno()
        self.transport = transport
        self.endpoint = endpoint
        self.connecter = connecter
        self.pipe = pipe
        self.raw = core.raw
        self.encode = None
        self.ready = False
        self.frame_one = None  # the codec's framing of one-frame messages (see offer_one)
        # Whether encode_message_parts lends us the mechanism's buffer for large messages
        # (CURVE): valid until the next large message is encoded. While what the kernel did
        # not take of it waits in ``out`` (``lent``), later messages wait in the pipe, not
        # encoded, so the buffer is never copied (see _send_large).
        self.borrowed_parts = False
        self.lent = False
        self.draining = False
        self.closed = False
        self.out: deque = deque()
        self.out_msgs = 0
        self.read_paused = False
        self.want_write = False
        self.lingering = False
        self.cork_until = 0.0
        self.uncork_pending = False
        self.cork_bytes = 0
        self.grow_sndbuf = False
        self.pong_waiting = False  # a PONG is queued behind output the peer has not read
        self.muted = False
        self.interest = READ
        self.direct = False
        self._timers: list = []
        self._rx_count = 0
        self._hb_timer: Any = None
        self._hb_timeout: Any = None
        self._ttl_timer: Any = None
        self._ttl_seconds = 0.0
        self._zap_id = b""
        try:
            self.peer_address = transport.peer_address(sock)
        except OSError:
            self.peer_address = ""
        opts = core.options
        self.grow_sndbuf = opts.sndbuf < 0  # see _send_large
        mechanism = None
        if not self.raw:
            try:
                mechanism = build_mechanism(opts)
            except ZMQError as exc:  # options changed since bind/connect checked them
                log.warning("vmzmq: cannot secure a connection on %s: %s", endpoint, exc)
        if self.raw or mechanism is None:
            self.zmtp = None
        else:
            props: dict[str, bytes] = {}
            if core.socket_type in (3, 5, 6):  # REQ, DEALER, ROUTER announce their identity
                props["Identity"] = bytes(opts.routing_id)
            for key, value in opts.metadata or ():
                props[bytes(key).decode("latin-1")] = bytes(value)
            # With no MAXMSGSIZE, a peer may still not declare more than this machine's
            # memory: libzmq fails that allocation and drops the peer; so do we, up front.
            limit = opts.maxmsgsize if opts.maxmsgsize >= 0 else MEMORY_SIZE
            self.zmtp = ZmtpConnection(
                socket_type=core.type_name,
                as_server=bool(opts.as_server),
                mechanism=mechanism,
                properties=props,
                max_message_size=limit,
                bare_single_frames=True,  # pipes hold them so (see StreamPipe.pop)
            )
        core.connections.add(self)
        core.conn_version += 1
        if lent:
            self.muted = True
            self.interest = 0
            core.lend_new(self)
        self.io.add(self.fd, self.interest, self._on_events, self._handler_failed)
        if not self.raw and self.zmtp is None:
            self.close("no usable security mechanism", lost=True)
            return
        if self.raw:
            self._handshake_done(None)
            if initial and not self.closed:
                self._received(memoryview(initial))
            return
        first = self.zmtp.start()
        if opts.handshake_ivl > 0:
            self._timers.append(
                self.io.call_later(opts.handshake_ivl / 1000, self._handshake_timeout)
            )
        self._write(first)
        if initial and not self.closed:
            self._received(memoryview(initial))

    # -- events from the I/O thread --------------------------------------------------------
    def _on_events(self, events: int) -> None:
        with self.core.lock:
            if self.closed:
                return
            if events & WRITE:
                self._flush()
            # A muted connection is being waited on by the calling thread, which reads it.
            if events & (READ | ERROR) and not self.closed and not self.muted:
                self._read()

    def _handler_failed(self, exc: BaseException) -> None:
        """Our I/O handler raised (a bug): the loop dropped our fd; drop the connection too,
        rather than leave it half alive."""
        with self.core.lock:
            self._lost(f"internal error: {exc!r}", handshake=not self.ready)

    def _read(self) -> None:
        rview = _read_buffer.view
        recv_into = self.sock.recv_into
        for _ in range(READS_PER_EVENT):
            # The rest of a large frame goes straight into its own buffer (one copy less).
            body = None if self.raw else self.zmtp.read_buffer()
            if body is not None:
                if not self._read_body(body) or self.closed or self.read_paused:
                    return
                continue
            try:
                n = recv_into(rview)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._lost(f"read failed: {exc.strerror}", handshake=not self.ready)
                return
            if n == 0:
                self._lost("peer closed the connection", handshake=not self.ready)
                return
            self._received(rview[:n])
            if self.closed or self.read_paused or n < READ_SIZE:
                return

    def _received(self, data: memoryview) -> None:
        """Decode and hand over what one read brought."""
        self._rx_count += 1
        if self.raw:
            self._deliver([[bytes(data)]])
            return
        zmtp = self.zmtp
        commands = zmtp.commands_seen
        try:
            events = zmtp.receive(data)
        except ProtocolError as exc:
            self._protocol_error(exc)
            return
        if not self.ready:
            pending = zmtp.data_to_send()
            if pending:
                self._write(pending)
            request = zmtp.take_zap_request()
            if request is not None:
                self._ask_zap(request)
                if self.closed:
                    return
        if events:
            if self.ready and zmtp.commands_seen == commands:
                self._deliver(events)  # data messages only: the common case
            else:
                self._dispatch(events)

    def _read_body(self, body: memoryview) -> bool:
        """Read into a large frame's own buffer; True if the kernel may hold more."""
        size = len(body)
        try:
            n = self.sock.recv_into(body)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._lost(f"read failed: {exc.strerror}")
            return False
        finally:
            body.release()
        if n == 0:
            self._lost("peer closed the connection")
            return False
        self._rx_count += 1
        try:
            events = self.zmtp.buffer_filled(n)
        except ProtocolError as exc:
            self._protocol_error(exc)
            return False
        if events:
            # A large message is complete: hand it over before reading the next. The reader
            # mostly drops one before the next arrives, so malloc reuses its memory; with
            # several alive at once it trims and faults fresh pages in for every message
            # (which halved 1 MiB throughput).
            self._dispatch(events)
            return False
        return n == size

    def _dispatch(self, events: list) -> None:
        batch: list = []
        for ev in events:
            if type(ev) is list or type(ev) is bytes:
                batch.append(ev)
            elif isinstance(ev, HandshakeComplete):
                self._handshake_done(ev)
                if self.closed:
                    return
            elif isinstance(ev, (Subscribe, Cancel)):
                subscribe = isinstance(ev, Subscribe)
                if self.core.pattern.takes_subscriptions:
                    batch.append(Subscription(ev.topic, subscribe))
                else:  # only publishers read them; anyone else would hand them to the user
                    log.debug("vmzmq: ignored a %s from a peer on %s",
                              "SUBSCRIBE" if subscribe else "CANCEL", self.endpoint)
            elif isinstance(ev, Ping):
                # At most one PONG waits to be written (libzmq keeps one too): a peer that
                # sends PINGs and never reads must not queue a PONG per PING.
                if not self.pong_waiting:
                    self._write(self.zmtp.encode_pong(ev.context))
                    self.pong_waiting = bool(self.out)
                if ev.ttl:
                    self._arm_ttl(ev.ttl / 10)
            elif isinstance(ev, Pong):
                pass
            elif isinstance(ev, PeerError):
                reason = ev.reason
                if not self.ready and reason in (b"300", b"400", b"500"):
                    # The server's authenticator refused us (libzmq reports it the same way).
                    self.core.event("HANDSHAKE_FAILED_AUTH", int(reason), self.endpoint)
                    self._lost(f"refused by the peer's authenticator ({reason.decode()})")
                    return
                self._lost(f"peer sent ERROR {reason!r}", handshake=not self.ready)
                return
        if batch:
            self._deliver(batch)

    def _deliver(self, batch: list) -> None:
        pipe = self.pipe
        if pipe is None or not self.ready:
            return
        inq = pipe.inq
        hwm = pipe.rcvhwm
        if hwm and len(inq) + len(batch) >= hwm:
            # Before the messages go in: a reader popping them without the lock (see
            # Socket.recv) then sees ``watch`` and comes to resume reading.
            pipe.watch = True
        inq.extend(batch)
        core = self.core
        if not self.direct:  # the thread reading directly is the one that would be woken
            core.signaler.signal()
        if hwm and len(inq) >= hwm and not self.read_paused:
            # Stop reading: the kernel buffer fills and the peer's sends slow down, which is
            # how the receive high-water mark pushes back across the wire.
            self.read_paused = True
            core.conn_version += 1
            self._update_interest()
        if core.eager_input:
            # After the pause: a pattern that takes input here pops it, and its pops must
            # see the pause to undo it (``check_resume`` drops ``watch`` on a pipe whose
            # connection is not paused, which left XPUB paused for good).
            core.pattern.input_arrived(pipe)

    def resume_reading(self) -> None:
        if self.read_paused and not self.closed:
            self.read_paused = False
            self.core.conn_version += 1
            self._update_interest()

    def mute(self) -> None:
        """The calling thread waits on this connection itself: keep the I/O thread away."""
        if not self.muted:
            self.muted = True
            self._update_interest()

    def unmute(self) -> None:
        if self.muted:
            self.muted = False
            if not self.closed:
                self._update_interest()

    def read_now(self) -> None:
        """Read what the kernel has, from the calling thread (the lock is held)."""
        if not self.closed:
            self.direct = True
            try:
                self._read()
            finally:
                self.direct = False

    def _update_interest(self) -> None:
        mask = 0 if self.read_paused or self.muted else READ
        if self.want_write:
            mask |= WRITE
        if mask != self.interest:
            self.interest = mask
            self.io.modify(self.fd, mask)

    # -- handshake ---------------------------------------------------------------------------
    def _handshake_done(self, ev: HandshakeComplete | None) -> None:
        core = self.core
        pipe = self.pipe
        if pipe is None:
            pipe = StreamPipe(core, endpoint=self.endpoint)
            pipe.locally_initiated = self.connecter is not None
            self.pipe = pipe
            new = True
        else:
            new = False
        props: dict[str, bytes] = {}
        if self.peer_address:
            props["Peer-Address"] = self.peer_address.encode()
        if ev is not None:
            props.update(ev.auth)
            taken = {name.lower() for name in props} | _RESERVED_PROPERTIES
            for name, value in ev.properties.items():
                if name.lower() not in taken:
                    props[name] = value
        pipe.properties = props
        pipe.engine = self
        if self.zmtp is not None:
            self.encode = self.zmtp.message_encoder()
            self.frame_one = self.zmtp.one_frame_encoder()
            self.borrowed_parts = self.zmtp.borrows_buffers
        self.ready = True
        core.conn_version += 1
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        if new:
            core.attach_pipe(pipe)
        if not core.pipe_ready(pipe):
            log.info("vmzmq: %s socket refused a peer on %s", core.type_name, self.endpoint)
            self.close("refused by the socket")
            return
        core.event_handshake_succeeded(self.endpoint)
        if ev is not None:
            # libzmq reports the protocol revision nowhere; we log it (docs/design.md).
            major, minor = ev.zmtp_version
            log.log(
                logging.INFO if major < 3 else logging.DEBUG,
                "vmzmq: %s socket talks ZMTP/%d.%d (%s) to a %s peer on %s",
                core.type_name, major, minor, self.zmtp.mechanism.name.decode(),
                ev.peer_socket_type or "untyped", self.endpoint,
            )
        self.drain_pipe()
        if self.connecter is not None and self.connecter.lingering:
            self._linger_check()
            if self.closed:
                return
        opts = core.options
        # ZMTP/2.0 has no PING: heartbeats neither go to such a peer nor time it out.
        if opts.heartbeat_ivl > 0 and not self.raw and not self.zmtp.zmtp2:
            self._hb_timer = self.io.call_later(opts.heartbeat_ivl / 1000, self._heartbeat)

    def _ask_zap(self, request: ZapRequest) -> None:
        """Send the mechanism's question to the ZAP handler (the lock is held)."""
        core = self.core
        zap = core.context.zap_client
        opts = core.options
        if zap is not None and zap.available():
            self._zap_id = zap.next_id()
            frames = request_frames(
                request,
                self._zap_id,
                bytes(opts.zap_domain),
                self.peer_address.encode(),
                bytes(opts.routing_id),
            )
            if zap.request(frames, self._zap_id, self._zap_answer):
                if opts.handshake_ivl <= 0:
                    self._timers.append(self.io.call_later(ZAP_TIMEOUT, self._zap_timeout))
                return
        self._zap_result(None)

    def _zap_answer(self, frames: list | None) -> None:
        """The ZAP handler's reply, or None if it went away (the I/O thread, no lock)."""
        with self.core.lock:
            if self.closed or self.ready:
                return
            if frames is None:
                exc = ProtocolError("the ZAP handler went away before it answered",
                                    ZAP_UNSPECIFIED)
                self.zmtp.zap_failed(exc)
                self._protocol_error(exc)
                return
            try:
                reply = parse_reply(frames, self._zap_id)
            except ProtocolError as exc:
                self.zmtp.zap_failed(exc)
                self._protocol_error(exc)
                return
            self._zap_result(reply)

    def _zap_result(self, reply: Any) -> None:
        try:
            events = self.zmtp.zap_reply(reply)
        except ProtocolError as exc:
            self._protocol_error(exc)
            return
        pending = self.zmtp.data_to_send()
        if pending:
            self._write(pending)
        if events and not self.closed:
            self._dispatch(events)

    def _zap_timeout(self) -> None:
        with self.core.lock:
            if not self.ready and not self.closed:
                self._lost("the ZAP handler did not answer", handshake=True)

    def _handshake_timeout(self) -> None:
        with self.core.lock:
            if not self.ready and not self.closed:
                self._lost("handshake timed out", handshake=True)

    # -- heartbeats --------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        """Every HEARTBEAT_IVL: send PING; the peer must show life within HEARTBEAT_TIMEOUT
        (any traffic counts, as in libzmq)."""
        with self.core.lock:
            if self.closed:
                return
            opts = self.core.options
            if not self.out:  # a peer that has not read the last one needs no other
                self._write(self.zmtp.encode_ping(opts.heartbeat_ttl // 100, b""))
            if self._hb_timeout is None:
                timeout = opts.heartbeat_timeout
                if timeout <= 0:
                    timeout = opts.heartbeat_ivl
                mark = self._rx_count
                self._hb_timeout = self.io.call_later(
                    timeout / 1000, lambda: self._silence_check(mark, "heartbeat timed out", True)
                )
            self._hb_timer = self.io.call_later(opts.heartbeat_ivl / 1000, self._heartbeat)

    def _arm_ttl(self, ttl: float) -> None:
        """The peer's PING said: drop me if you hear nothing from me for ``ttl`` seconds."""
        self._ttl_seconds = ttl
        if self._ttl_timer is None:
            mark = self._rx_count
            reason = f"no traffic within the peer's heartbeat TTL ({ttl:.1f}s)"
            self._ttl_timer = self.io.call_later(
                ttl, lambda: self._silence_check(mark, reason, False)
            )

    def _silence_check(self, mark: int, reason: str, ours: bool) -> None:
        with self.core.lock:
            if ours:
                self._hb_timeout = None
            else:
                self._ttl_timer = None
            if self.closed:
                return
            if self._rx_count == mark and self.muted:
                # Lent to a reader that has not read it since (for up to twice LEND_TIME):
                # what the peer sent, a PONG, may be waiting in the kernel. Look first.
                self.read_now()
                if self.closed:
                    return
            if self._rx_count == mark:
                self._lost(reason)
            elif not ours:
                # The peer is alive; keep watching it for as long as it asked us to.
                self._arm_ttl(self._ttl_seconds)

    # -- writing -----------------------------------------------------------------------------
    def offer(self, msg: list, hwm: int) -> bool:
        """``send_message`` if fewer than ``hwm`` messages (0: no limit) wait here to be
        written; False, sending nothing, if not. The owning socket's lock is held."""
        if hwm and self.out_msgs >= hwm:
            # Corked messages are not stuck: write them now and look again.
            if not self.out or self.want_write or self.closed:
                return False
            self._flush()
            if self.out_msgs >= hwm:
                return False
        if len(msg) != 1 or not self.offer_one(msg[0]):
            self.send_message(msg)
        return True

    def offer_one(self, body: bytes) -> bool:
        """Queue the one-frame message ``body`` behind a corked burst in progress; False,
        doing nothing, if it would need more than that (no burst, a large message, SNDHWM
        reached, messages waiting in the pipe). The owning socket's lock is held.

        This is the whole send path of a burst of small messages (``Socket.send`` calls it
        straight for a lone stream peer, PUB for each subscriber), so it is kept to the one
        case. Something is queued, so an uncork is pending or the I/O thread waits to write:
        ``send_message`` set that up with the first corked message. The framing is the
        codec's (``frame_one``: set once the handshake is done, None before and for STREAM),
        so a mechanism that wraps frames (CURVE) wraps these too; in clear it is the codec's
        header, queued as an entry of its own before the body.
        """
        out = self.out
        frame_one = self.frame_one
        if not out or frame_one is None or len(body) >= CORK_BYTES:
            return False  # a large one goes out as its own buffers (_send_large)
        pipe = self.pipe
        hwm = pipe.sndhwm
        if (hwm and self.out_msgs >= hwm) or pipe.outq or pipe.dead:
            return False
        n = len(body)
        if frame_one is _clear_frame_one and n < 256:
            # Framed in clear: the codec's header object and the body go in as they are,
            # joined by the write's one join (a copy saved: ~130 ns of a 64 B or 1 KiB send).
            out.append(SHORT_HEADERS[n])
            out.append(body)
            n += 2
        elif frame_one is _clear_frame_one and n < LONG_HEADERS_MAX:
            out.append(long_header(n))
            out.append(body)
            n += 9
        else:
            data = frame_one(body)
            out.append(data)
            n = len(data)
        self.out_msgs += 1
        n += self.cork_bytes
        self.cork_bytes = n
        if n >= CORK_BYTES:
            self._flush()  # see send_message
        return True

    def take_corked(self, data: bytes, count: int) -> None:
        """``count`` framed messages in ``data``, corked for this connection by a burst it
        shared with others (engine/fanout.py): queue them and write."""
        if self.closed:
            return
        self.out.append(data)
        self.out_msgs += count
        self.cork_bytes += len(data)
        if not self.want_write:
            self._flush()

    def send_message(self, msg: list) -> None:
        """Encode and send a message (the owning socket's lock is held).

        The first message of a burst goes to the kernel at once (no added latency). Those
        that follow within CORK_WINDOW are corked: queued and written together by one
        ``sendmsg``, by this thread once 64 KiB have gathered or when it next waits, else by
        the I/O thread, asked once per burst to uncork. That turns a system call per message
        into one per batch, which is what small-message throughput depends on, while a
        request/reply exchange (send, then wait) never waits for the I/O thread.
        """
        if self.raw:
            data = msg[0] if msg else b""
            if not data:
                self.close("closed by the application")
                return
        else:
            if self.lent:  # a lent buffer is still being written: keep the order, wait
                self.pipe.outq.append(msg)
                return
            if len(msg[-1]) >= CORK_BYTES or (len(msg) > 1 and sum(map(len, msg)) >= CORK_BYTES):
                self._send_large(self.zmtp.encode_message_parts(msg))
                return
            data = self.encode(msg)
        out = self.out
        core = self.core
        # A message with nothing queued before it joins a corked burst when any of the
        # socket's connections was written to directly within CORK_WINDOW and the socket has
        # not received since (a reply goes out at once). Socket-wide, not per connection: a
        # socket with many peers spaces out its messages to each one by those to the others.
        if out or (_now() < core.burst_until and core.recv_epoch == core.burst_epoch):
            out.append(data)
            self.out_msgs += 1
            self.cork_bytes += len(data)
            if self.cork_bytes >= CORK_BYTES:
                # Even when the I/O thread waits to write (the kernel was full): it could only
                # do so by taking the GIL from this thread, which is slower than trying here.
                self._flush()
            elif not self.want_write and not self.uncork_pending:
                self.uncork_pending = True
                if not core.uncork_list:  # one I/O thread call per socket, not per connection
                    self.io.call_soon(core.uncork)
                core.uncork_list.append(self)
            return
        n = self._send_now(data)
        if n < 0:
            return
        if n < len(data):
            out.append(memoryview(data)[n:])
            self.out_msgs += 1
            self._want_write()
            return
        self.cork_until = core.burst_until = _now() + CORK_WINDOW  # the spin reads cork_until
        core.burst_epoch = core.recv_epoch

    def _send_large(self, parts: list) -> None:
        """A large message goes out as its own buffers (no copy of the body), after what
        was queued before it."""
        if self.grow_sndbuf:
            # Once, when large messages start: the kernel's default send buffer may be what
            # bounds them (ipc's is), while small messages are better off without the memory.
            self.grow_sndbuf = False
            try:
                self.transport.grow_send_buffer(self.sock)
            except OSError as exc:
                log.debug("vmzmq: could not enlarge the send buffer on %s: %s",
                          self.endpoint, exc.strerror)
        out = self.out
        if out and not self.want_write:
            self._flush()
        if out:
            out.append(parts)
            self.out_msgs += 1
            self.lent = self.borrowed_parts
            if not self.want_write:
                self._flush()
            return
        try:
            n = self.sock.sendmsg(parts)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:
            self._lost(f"write failed: {exc.strerror}")
            return
        rest = _after(parts, n)
        if rest:
            self.lent = self.borrowed_parts
            out.append(rest)
            self.out_msgs += 1
            self._want_write()

    def flush_corked(self) -> None:
        """The caller is about to wait (the lock is held): its burst is over, so write what
        it corked. (Its next message goes straight out: waiting moved ``recv_epoch``.)"""
        if self.out and not self.want_write and not self.closed:
            self._flush()

    def send_subscription(self, topic: bytes, subscribe: bool) -> None:
        if self.raw:
            return
        if subscribe:
            self._write(self.zmtp.encode_subscribe(topic))
        else:
            self._write(self.zmtp.encode_cancel(topic))

    def _write(self, data: bytes) -> None:
        """Queue protocol bytes (greeting, commands) behind whatever is already queued."""
        if not data or self.closed:
            return
        if self.out:
            self.out.append(data)
            return
        n = self._send_now(data)
        if 0 <= n < len(data):
            self.out.append(memoryview(data)[n:])
            self._want_write()

    def _send_now(self, data: bytes) -> int:
        """Write to the kernel: the bytes it took (0 when full), or -1 if the connection died."""
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            self._lost(f"write failed: {exc.strerror}")
            return -1

    def _want_write(self) -> None:
        if not self.want_write:
            self.want_write = True
            self._update_interest()

    def drain_pipe(self) -> None:
        """Move messages that waited in the pipe (no connection yet, or behind a lent
        buffer) into this connection, as long as the kernel takes them: the rest are
        encoded only once it has room again (``_flush`` calls back), so a backlog is not
        encoded, and a lent buffer not overwritten, ahead of time."""
        pipe = self.pipe
        outq = pipe.outq
        self.draining = True
        try:
            while outq and not self.closed and not self.want_write and not self.lent:
                item = outq.popleft()
                if type(item) is Subscription:
                    self.send_subscription(item.topic, item.subscribe)
                else:
                    self.send_message(item)
        finally:
            self.draining = False

    def _flush(self) -> None:
        out = self.out
        self.cork_bytes = 0
        was_full = self.pipe is not None and not self.pipe.has_room()
        while out:
            if len(out) > 1 and type(out[-1]) is not list:
                # Many small buffers: one join in C beats walking them in Python. (A large
                # message's list of buffers makes join raise: those take the path below.)
                try:
                    blob = b"".join(out)
                except TypeError:
                    blob = None
                if blob is not None:
                    try:
                        n = self.sock.send(blob)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:
                        self._lost(f"write failed: {exc.strerror}")
                        return
                    count = len(out)
                    out.clear()
                    if n < len(blob):
                        # The kernel is full; the tail stays as one buffer, still counted as
                        # the messages it holds until it is all written.
                        out.append(memoryview(blob)[n:])
                        self.out_msgs = min(self.out_msgs, count)
                        break
                    continue
            bufs: list = []
            for entry in out:
                if type(entry) is list:  # a large message's buffers
                    bufs.extend(entry)
                else:
                    bufs.append(entry)
                if len(bufs) >= IOV_MAX:
                    del bufs[IOV_MAX:]
                    break
            try:
                n = self.sock.sendmsg(bufs)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._lost(f"write failed: {exc.strerror}")
                return
            # Drop what went out; a partly written entry keeps its tail.
            while n:
                head = out[0]
                if type(head) is list:
                    size = sum(map(len, head))
                    if n >= size:
                        out.popleft()
                        n -= size
                        if self.out_msgs:
                            self.out_msgs -= 1
                    else:
                        out[0] = _after(head, n)
                        n = 0
                    continue
                size = len(head)
                if n >= size:
                    out.popleft()
                    n -= size
                    # A message framed in clear is two entries (offer_one): its header
                    # does not count.
                    if self.out_msgs and not is_clear_header(head):
                        self.out_msgs -= 1
                else:
                    out[0] = memoryview(head)[n:]
                    n = 0
            if len(bufs) < IOV_MAX and out:
                break  # the kernel took less than offered: it is full
        if not out:
            self.out_msgs = 0
            self.pong_waiting = False
            self.lent = False
            if self.want_write:
                self.want_write = False
                self._update_interest()
            if self.pipe is not None and self.pipe.outq and self.ready and not self.draining:
                self.drain_pipe()
            if self.lingering or (self.connecter is not None and self.connecter.lingering):
                self._linger_check()
        elif not self.want_write and not self.closed:
            self._want_write()  # the kernel is full: the I/O thread writes the rest
        if was_full and self.pipe is not None and self.pipe.has_room():
            self.core.signaler.signal()

    # -- ending ------------------------------------------------------------------------------
    def start_linger(self, linger_ms: int) -> None:
        """Keep running until queued output is written or ``linger_ms`` passes (-1: forever).

        Only for accepted connections; a connecter lingers on behalf of its connections.
        """
        self.lingering = True
        self.core.context.linger_started()
        if linger_ms > 0:
            self._timers.append(self.io.call_later(linger_ms / 1000, self._linger_expired))
        self._linger_check()

    def _linger_check(self) -> None:
        if not self.ready:
            return  # queued messages wait for the handshake
        pipe = self.pipe
        if pipe is not None and pipe.outq:
            self.drain_pipe()
        if not self.out and not self.closed:
            self.close("linger done")

    def _linger_expired(self) -> None:
        with self.core.lock:
            self.close("linger expired")

    def _protocol_error(self, exc: ProtocolError) -> None:
        # Messages that arrived whole before the bad bytes are the peer's to keep.
        events = getattr(exc, "events", None)
        if events:
            self._dispatch(events)
        pending = self.zmtp.data_to_send()
        if pending:
            try:
                self.sock.send(pending)
            except OSError:
                pass
        if isinstance(exc, AuthFailed):
            log.info("vmzmq: %s socket refused a peer on %s: %s",
                     self.core.type_name, self.endpoint, exc)
            if exc.status:
                self.core.event("HANDSHAKE_FAILED_AUTH", exc.status, self.endpoint)
            else:
                self.core.event("HANDSHAKE_FAILED_NO_DETAIL", errno.EFAULT, self.endpoint)
            self._lost(f"authentication failed: {exc}")
            return
        log.warning("vmzmq: dropping %s peer on %s: %s", self.core.type_name, self.endpoint, exc)
        # A wrapping mechanism's errors after the handshake (a bad box, a replayed nonce) are
        # reported as libzmq reports them, as a failed handshake with the ZMTP code.
        mechanism_error = (
            self.ready and self.zmtp.mechanism.wraps_frames and exc.code != ZMTP_UNSPECIFIED
        )
        self._lost(
            f"protocol error: {exc}", handshake=not self.ready or mechanism_error,
            code=exc.code or 1,
        )

    def _lost(self, reason: str, handshake: bool = False, code: int = 0) -> None:
        """``code``: the ZMTP protocol error number when the peer broke the protocol."""
        if self.closed:
            return
        log.debug("vmzmq: connection to %s lost: %s", self.endpoint, reason)
        if handshake:
            self.core.event_handshake_failed(self.endpoint, code)
        self.close(reason, lost=True)

    def close(self, reason: str, lost: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for timer in (*self._timers, self._hb_timer, self._hb_timeout, self._ttl_timer):
            if timer is not None:
                timer.cancel()
        self._timers = []
        self.io.remove(self.fd)
        self.core.connections.discard(self)
        self.core.conn_version += 1
        try:
            self.sock.close()
        except OSError:
            pass
        self.out.clear()
        self.out_msgs = 0
        if self.lingering and self.connecter is None:
            self.core.context.linger_finished()
        self.core.connection_closed(self, lost, reason)

    def __repr__(self) -> str:
        return f"<StreamConnection {self.endpoint} fd={self.fd} ready={self.ready}>"


def _after(parts: list, n: int) -> list:
    """What is left of a list of buffers once ``n`` bytes of it were written."""
    for i, part in enumerate(parts):
        size = len(part)
        if n < size:
            rest = [memoryview(part)[n:]] if n else [part]
            rest.extend(parts[i + 1 :])
            return rest
        n -= size
    return []


def socket_error(sock: socket.socket) -> int:
    """The pending error of a socket whose non-blocking connect finished."""
    try:
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    except OSError as exc:
        return exc.errno or errno.EIO
