"""One side of one benchmark sample, run in its own process.

``python -m benchmarks.worker '<json spec>'``. The spec names the library (``vmzmq``,
``pyzmq`` or ``raw``: a bare Python socket loop, no ZeroMQ at all) and the role. The worker
imports only that library, so vmzmq and libzmq never share a process. It talks to the runner
through JSON lines: it writes events on stdout (``{"event": "ready", ...}``,
``{"event": "result", ...}``) and reads commands (``go``, ``measure``, ``exit``) on stdin. The
throughput and latency roles also report the CPU time their process (all its threads) spent on
the measured messages (``cpu``, seconds of ``time.process_time()``), and so do the fan-out,
connection-setup, memory and scale roles (``benchmarks/scale.py``: many peers, many sockets).

CURVE: a spec with ``"curve"`` (the run's keys, see ``curve_keys``) makes the binding side the
CURVE server and the connecting side the client; the raw ceiling then boxes and opens every
message as a CURVE MESSAGE, calling libsodium through PyNaCl's cffi module (no handshake: the
shared key is computed from the same long-term keys).
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from typing import Any

# -- talking to the runner ---------------------------------------------------------------------


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def wait_command(expected: str) -> None:
    while True:
        line = sys.stdin.readline()
        if not line:
            raise SystemExit(f"stdin closed while waiting for {expected!r}")
        if line.strip() == expected:
            return


def stdin_has(timeout: float) -> str | None:
    """A command line if one arrives within ``timeout`` seconds."""
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if ready:
        return sys.stdin.readline().strip()
    return None


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    out: dict[str, int] = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0]) * 1024
    return out


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: ``5`` to ``/proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# -- the library under test --------------------------------------------------------------------


def load(lib: str) -> Any:
    if lib == "vmzmq":
        import vmzmq

        return vmzmq
    if lib == "pyzmq":
        import zmq

        return zmq
    raise SystemExit(f"unknown library {lib!r}")


def bind_endpoint(transport: str, spec: dict) -> str:
    if transport == "tcp":
        return "tcp://127.0.0.1:*"
    if transport == "ipc":
        return "ipc://" + spec["ipc_path"]
    if transport == "vmci":
        return "vmci://*:*"
    if transport == "inproc":
        return "inproc://bench"
    raise SystemExit(f"unknown transport {transport!r}")


def connect_endpoint(last_endpoint: str) -> str:
    """Where a peer connects to reach what was bound (``vmci://*:P`` -> ``vmci://1:P``)."""
    if last_endpoint.startswith(("vmci://*:", "vsock://*:")):
        scheme, rest = last_endpoint.split("://", 1)
        return f"{scheme}://1:{rest.split(':', 1)[1]}"
    return last_endpoint


def curve_server(zmq: Any, sock: Any, keys: dict | None) -> None:
    """Make ``sock`` a CURVE server with the run's server key pair (nothing without keys)."""
    if keys:
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_SECRETKEY, keys["server_secret"].encode())
        sock.setsockopt(zmq.CURVE_PUBLICKEY, keys["server_public"].encode())


def curve_client(zmq: Any, sock: Any, keys: dict | None) -> None:
    """Make ``sock`` a CURVE client of the run's server, with the run's client key pair."""
    if keys:
        sock.setsockopt(zmq.CURVE_SERVERKEY, keys["server_public"].encode())
        sock.setsockopt(zmq.CURVE_PUBLICKEY, keys["client_public"].encode())
        sock.setsockopt(zmq.CURVE_SECRETKEY, keys["client_secret"].encode())


def zbind(zmq: Any, sock: Any, transport: str, spec: dict) -> str:
    """Bind ``sock``; return the endpoint a peer connects to."""
    sock.bind(bind_endpoint(transport, spec))
    last = sock.getsockopt(zmq.LAST_ENDPOINT)
    if isinstance(last, bytes):
        last = last.decode()
    return connect_endpoint(last)


# -- raw sockets: the ceiling --------------------------------------------------------------------


def frame_header(size: int) -> bytes:
    """A ZMTP 3 frame header for a final message frame of ``size`` bytes."""
    if size < 256:
        return bytes((0x00, size))
    return b"\x02" + struct.pack(">Q", size)


def raw_listen(transport: str, spec: dict) -> tuple[socket.socket, str]:
    if transport == "tcp":
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        endpoint = f"tcp://127.0.0.1:{ls.getsockname()[1]}"
    elif transport == "ipc":
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(spec["ipc_path"])
        endpoint = "ipc://" + spec["ipc_path"]
    elif transport == "vmci":
        ls = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        ls.bind((socket.VMADDR_CID_ANY, socket.VMADDR_PORT_ANY))
        endpoint = f"vmci://1:{ls.getsockname()[1]}"
    else:
        raise SystemExit(f"raw: unknown transport {transport!r}")
    ls.listen(128)
    return ls, endpoint


def raw_connect(endpoint: str) -> socket.socket:
    scheme, address = endpoint.split("://", 1)
    if scheme == "tcp":
        host, port = address.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    if scheme == "ipc":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(address)
        return s
    if scheme == "vmci":
        cid, port = address.split(":")
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.connect((int(cid), int(port)))
        return s
    raise SystemExit(f"raw: unknown endpoint {endpoint!r}")


def raw_accept(ls: socket.socket) -> socket.socket:
    conn, _ = ls.accept()
    if conn.family in (socket.AF_INET, socket.AF_INET6):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def recv_exact(s: socket.socket, view: memoryview, n: int, got: int = 0) -> None:
    """Fill ``view[got:n]`` from ``s``."""
    while got < n:
        k = s.recv_into(view[got:n], n - got)
        if not k:
            raise SystemExit("raw: peer closed")
        got += k


# The raw ping-pong waits as vmzmq's readers do (engine/core.py SPIN_TIME): it polls without
# blocking for this long, then blocks. Without it the bare loop pays a sleep and a wake-up
# per message and is no ceiling for a library that spins.
try:
    RAW_SPIN = max(0.0, float(os.environ.get("VMZMQ_SPIN_US", "50"))) / 1e6
except ValueError:
    RAW_SPIN = 50e-6  # what vmzmq falls back to


def recv_exact_spin(s: socket.socket, view: memoryview, n: int) -> None:
    """``recv_exact`` that first polls for up to RAW_SPIN seconds."""
    end = time.monotonic() + RAW_SPIN
    got = 0
    while RAW_SPIN and got < n:
        try:
            k = s.recv_into(view[got:n], n - got, socket.MSG_DONTWAIT)
        except BlockingIOError:
            if time.monotonic() >= end:
                break
            continue
        if not k:
            raise SystemExit("raw: peer closed")
        got += k
    recv_exact(s, view, n, got)


def raw_batch(size: int) -> int:
    """Messages per ``sendall`` in the raw sender: 256 small ones, or ~256 KiB."""
    return max(1, min(256, 262144 // (size + 9)))


def sendmsg_all(s: socket.socket, parts: list) -> None:
    sent = s.sendmsg(parts)
    total = sum(len(p) for p in parts)
    if sent < total:
        s.sendall(b"".join(parts)[sent:])  # rare: a partial sendmsg


def raw_send(s: socket.socket, msg: bytes, n: int) -> None:
    """The ceiling's sender: frame each message as ZMTP in Python; 256 small ones per
    ``sendall``, a large one (>= 64 KiB) as one ``sendmsg`` of header and payload."""
    if len(msg) >= 65536:
        for _ in range(n):
            ln = len(msg)
            sendmsg_all(s, [b"\x02" + ln.to_bytes(8, "big"), msg])
        return
    batch = 2 * raw_batch(len(msg))
    parts: list[bytes] = []
    append, sendall, join = parts.append, s.sendall, b"".join
    for _ in range(n):
        ln = len(msg)
        append(bytes((0, ln)) if ln < 256 else b"\x02" + ln.to_bytes(8, "big"))
        append(msg)
        if len(parts) >= batch:
            sendall(join(parts))
            parts.clear()
    if parts:
        sendall(join(parts))


def raw_read(conn: socket.socket, n: int, size: int, sink: Any = None) -> float:
    """The ceiling's receiver: read into a large buffer and decode ``n`` ZMTP frames, making
    each message a ``bytes`` (as ``recv()`` returns); large payloads are read straight into
    their own buffer. Each message goes to ``sink.append`` if given (a deque that holds them,
    or ``RawCurve``, which opens them). Return ``perf_counter()`` taken right after the first
    message."""
    cap = max(1 << 20, 2 * (size + 9))
    buf = bytearray(cap)
    view = memoryview(buf)
    recv_into = conn.recv_into
    pos = end = got = 0
    start = 0.0
    while got < n:
        while True:
            avail = end - pos
            if avail < 2:
                break
            if buf[pos] & 2:
                if avail < 9:
                    break
                ln = int.from_bytes(view[pos + 1 : pos + 9], "big")
                hl = 9
            else:
                ln = buf[pos + 1]
                hl = 2
            if avail >= hl + ln:
                msg = bytes(view[pos + hl : pos + hl + ln])
                pos += hl + ln
            elif ln >= 65536:
                big = bytearray(ln)
                mv = memoryview(big)
                have = avail - hl
                mv[:have] = view[pos + hl : end]
                recv_exact(conn, mv, ln, have)
                msg = big
                pos = end = 0
            else:
                break
            if sink is not None:
                sink.append(msg)
            got += 1
            if got == 1:
                start = time.perf_counter()
            if got == n:
                return start
        if pos:
            rest = end - pos
            view[:rest] = view[pos:end]
            pos, end = 0, rest
        k = recv_into(view[end:])
        if not k:
            raise SystemExit("raw: peer closed early")
        end += k
    return start


# -- raw CURVE: the ceiling's crypto ---------------------------------------------------------------

MESSAGE_HEAD = b"\x07MESSAGE"
CURVE_OVERHEAD = len(MESSAGE_HEAD) + 8 + 16 + 1  # name, short nonce, box tag, inner flags


class RawCurve:
    """What CURVE costs a bare loop: each message boxed into, or opened from, a MESSAGE command
    as libzmq puts it on the wire (in a data frame; flags octet 0 inside the box), by libsodium
    through PyNaCl's cffi module (``nacl._sodium``: no zeroed output array and copy per call, as
    PyNaCl's wrappers make), into an output array kept for the next message. No handshake: the
    shared key comes from the run's long-term keys (the cost per message is that of the
    short-term keys a real connection uses)."""

    def __init__(self, keys: dict, server: bool) -> None:
        from nacl._sodium import ffi, lib
        from nacl.bindings import crypto_box_beforenm

        own = "server" if server else "client"
        peer = "client" if server else "server"
        self.key = crypto_box_beforenm(
            bytes.fromhex(keys[peer + "_public_hex"]), bytes.fromhex(keys[own + "_secret_hex"])
        )
        self.send_prefix = b"CurveZMQMESSAGES" if server else b"CurveZMQMESSAGEC"
        self.recv_prefix = b"CurveZMQMESSAGEC" if server else b"CurveZMQMESSAGES"
        self.nonce = 1
        self.ffi, self.lib = ffi, lib
        self.new = ffi.new_allocator(should_clear_after_alloc=False)
        self.out = self.new("unsigned char[]", 256)
        self.out_cap = 256
        self.inb = self.new("unsigned char[]", 256)
        self.in_cap = 256

    def box(self, body: bytes) -> tuple[bytes, Any]:
        """The MESSAGE command carrying ``body``, as (name and short nonce, box): the box is a
        buffer over the kept array, valid until the next call."""
        n = self.nonce
        self.nonce = n + 1
        short = n.to_bytes(8, "big")
        clen = len(body) + 17
        if clen > self.out_cap:
            self.out, self.out_cap = self.new("unsigned char[]", clen), clen
        out = self.out
        if self.lib.crypto_box_easy_afternm(
            out, b"\x00" + body, clen - 16, self.send_prefix + short, self.key
        ):
            raise SystemExit("raw curve: cannot box")
        return MESSAGE_HEAD + short, self.ffi.buffer(out, clen)

    def frame(self, body: bytes) -> bytes:
        """``body`` boxed into a MESSAGE command in a ZMTP data frame."""
        head, box = self.box(body)
        return b"".join((frame_header(len(head) + len(box)), head, box))

    def open(self, command: Any) -> bytes:
        """The body of a MESSAGE command (bytes, bytearray or memoryview)."""
        if command[:8] != MESSAGE_HEAD:
            raise SystemExit("raw curve: not a MESSAGE")
        clen = len(command) - 16
        mlen = clen - 16
        if mlen > self.in_cap:
            self.inb, self.in_cap = self.new("unsigned char[]", mlen), mlen
        src = self.ffi.from_buffer("unsigned char[]", command)
        failed = self.lib.crypto_box_open_easy_afternm(
            self.inb, src + 16, clen, self.recv_prefix + bytes(command[8:16]), self.key
        )
        self.ffi.release(src)
        if failed:
            raise SystemExit("raw curve: cannot open")
        return self.ffi.buffer(self.inb, mlen)[1:]

    append = open  # raw_read's sink


def raw_send_curve(s: socket.socket, msg: bytes, n: int, curve: RawCurve) -> None:
    """``raw_send`` for the CURVE ceiling: each message a MESSAGE in a data frame."""
    if len(msg) >= 65536:
        for _ in range(n):
            head, box = curve.box(msg)
            ln = len(head) + len(box)
            sendmsg_all(s, [b"\x02" + ln.to_bytes(8, "big") + head, box])  # box: no copy
        return
    batch = 3 * raw_batch(len(msg) + CURVE_OVERHEAD)
    parts: list[bytes] = []
    append, sendall, join, box_ = parts.append, s.sendall, b"".join, curve.box
    for _ in range(n):
        head, box = box_(msg)
        ln = len(head) + len(box)
        append(bytes((0, ln)) if ln < 256 else b"\x02" + ln.to_bytes(8, "big"))
        append(head)
        append(box[:])  # a copy: the kept array is overwritten by the next message
        if len(parts) >= batch:
            sendall(join(parts))
            parts.clear()
    if parts:
        sendall(join(parts))


# -- roles: throughput -------------------------------------------------------------------------


def thr_recv(spec: dict) -> None:
    lib, transport, n, size = spec["lib"], spec["transport"], spec["count"], spec["size"]
    if lib == "raw":
        ls, endpoint = raw_listen(transport, spec)
        emit("ready", endpoint=endpoint)
        conn = raw_accept(ls)
        cpu0 = time.process_time()  # the wait for the first message costs no CPU
        if spec.get("curve"):
            sink = RawCurve(spec["curve"], server=True)
            start = raw_read(conn, n, size + CURVE_OVERHEAD, sink)
        else:
            start = raw_read(conn, n, size)
        elapsed = time.perf_counter() - start
        emit("result", elapsed=elapsed, count=n - 1, cpu=time.process_time() - cpu0)
        return
    zmq = load(lib)
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    curve_server(zmq, s, spec.get("curve"))
    endpoint = zbind(zmq, s, transport, spec)
    emit("ready", endpoint=endpoint)
    recv = s.recv
    first = recv()
    if len(first) != size:
        raise SystemExit(f"wrong size {len(first)} != {size}")
    start, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n - 1):
        recv()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    emit("result", elapsed=elapsed, count=n - 1, cpu=cpu)
    s.close()
    ctx.term()


def connected_push(
    zmq: Any, ctx: Any, endpoint: str, sndbuf: int | None, curve: dict | None = None
) -> Any:
    """A PUSH connected to ``endpoint``, with ZMQ_SNDBUF when ``sndbuf`` is given, as a CURVE
    client when ``curve`` (the run's keys) is."""
    s = ctx.socket(zmq.PUSH)
    if sndbuf:
        s.setsockopt(zmq.SNDBUF, sndbuf)
    curve_client(zmq, s, curve)
    s.connect(endpoint)
    return s


def thr_send(spec: dict) -> None:
    lib, n, size, endpoint = spec["lib"], spec["count"], spec["size"], spec["endpoint"]
    sndbuf = spec.get("sndbuf")
    if lib == "raw":
        s = raw_connect(endpoint)
        if not sndbuf and endpoint.startswith("ipc://") and size >= 64 * 1024:
            sndbuf = 1 << 20  # what vmzmq's ipc asks for once messages are large
        if sndbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        cpu0 = time.process_time()
        if spec.get("curve"):
            raw_send_curve(s, b"x" * size, n, RawCurve(spec["curve"], server=False))
        else:
            raw_send(s, b"x" * size, n)
        cpu = time.process_time() - cpu0
        s.shutdown(socket.SHUT_WR)
        s.recv(1)  # wait for the receiver to close
        s.close()
        emit("done", count=n, cpu=cpu)
        return
    zmq = load(lib)
    ctx = zmq.Context()
    s = connected_push(zmq, ctx, endpoint, sndbuf, spec.get("curve"))
    msg = b"x" * size
    send = s.send
    cpu0 = time.process_time()
    for _ in range(n):
        send(msg)
    s.close()  # linger: wait until everything is delivered
    ctx.term()
    emit("done", count=n, cpu=time.process_time() - cpu0)  # with the I/O threads' work


def thr_inproc(spec: dict) -> None:
    """PUSH -> PULL between two threads of this process over inproc://."""
    zmq = load(spec["lib"])
    n, size = spec["count"], spec["size"]
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.bind("inproc://bench")
    result: dict[str, float] = {}

    def receiver() -> None:
        recv = pull.recv
        recv()
        start = time.perf_counter()
        for _ in range(n - 1):
            recv()
        result["elapsed"] = time.perf_counter() - start

    t = threading.Thread(target=receiver)
    t.start()
    push = ctx.socket(zmq.PUSH)
    push.connect("inproc://bench")
    msg = b"x" * size
    send = push.send
    cpu0 = time.process_time()  # both threads: sender and receiver
    for _ in range(n):
        send(msg)
    t.join()
    cpu = time.process_time() - cpu0
    emit("result", elapsed=result["elapsed"], count=n - 1, cpu=cpu, cpu_count=n)
    push.close()
    pull.close()
    ctx.term()


# -- roles: round-trip latency ----------------------------------------------------------------


def curve_frame_size(size: int) -> int:
    """Octets on the wire of a data frame holding a MESSAGE with a ``size``-octet body."""
    command = size + CURVE_OVERHEAD
    return len(frame_header(command)) + command


def raw_ping_curve(s: socket.socket, size: int, n: int, curve: RawCurve) -> None:
    """The CURVE ceiling's client: ``n`` round trips of a boxed ``size``-octet message."""
    msg = b"x" * size
    frame = curve_frame_size(size)
    hl = frame - size - CURVE_OVERHEAD
    view = memoryview(bytearray(frame))
    for _ in range(n):
        s.sendall(curve.frame(msg))
        recv_exact_spin(s, view, frame)
        if len(curve.open(view[hl:])) != size:
            raise SystemExit("raw curve: wrong size")


def raw_pong_curve(conn: socket.socket, size: int, n: int, curve: RawCurve) -> None:
    """The CURVE ceiling's server: open each message and send it back boxed."""
    frame = curve_frame_size(size)
    hl = frame - size - CURVE_OVERHEAD
    view = memoryview(bytearray(frame))
    for _ in range(n):
        recv_exact_spin(conn, view, frame)
        conn.sendall(curve.frame(curve.open(view[hl:])))


def lat_server(spec: dict) -> None:
    lib, transport, n, size = spec["lib"], spec["transport"], spec["count"], spec["size"]
    total = n + spec["warmup"]
    if lib == "raw":
        ls, endpoint = raw_listen(transport, spec)
        emit("ready", endpoint=endpoint)
        conn = raw_accept(ls)
        cpu0 = time.process_time()
        if spec.get("curve"):
            raw_pong_curve(conn, size, total, RawCurve(spec["curve"], server=True))
        else:
            frame = len(frame_header(size)) + size
            buf = bytearray(frame)
            view = memoryview(buf)
            for _ in range(total):
                recv_exact_spin(conn, view, frame)
                conn.sendall(view)
        cpu = time.process_time() - cpu0
        conn.close()
        emit("done", count=total, cpu=cpu)
        return
    zmq = load(lib)
    ctx = zmq.Context()
    s = ctx.socket(zmq.REP)
    curve_server(zmq, s, spec.get("curve"))
    endpoint = zbind(zmq, s, transport, spec)
    emit("ready", endpoint=endpoint)
    recv, send = s.recv, s.send
    cpu0 = time.process_time()
    for _ in range(total):
        send(recv())
    cpu = time.process_time() - cpu0
    s.close()
    ctx.term()
    emit("done", count=total, cpu=cpu)


def lat_client(spec: dict) -> None:
    lib, n, size, endpoint = spec["lib"], spec["count"], spec["size"], spec["endpoint"]
    warmup = spec["warmup"]
    if lib == "raw" and spec.get("curve"):
        s = raw_connect(endpoint)
        curve = RawCurve(spec["curve"], server=False)
        raw_ping_curve(s, size, warmup, curve)
        start, cpu0 = time.perf_counter(), time.process_time()
        raw_ping_curve(s, size, n, curve)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        s.close()
        emit("result", elapsed=elapsed, count=n, cpu=cpu)
        return
    if lib == "raw":
        s = raw_connect(endpoint)
        frame = frame_header(size) + b"x" * size
        buf = bytearray(len(frame))
        view = memoryview(buf)
        sendall = s.sendall
        for _ in range(warmup):
            sendall(frame)
            recv_exact_spin(s, view, len(frame))
        start, cpu0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            sendall(frame)
            recv_exact_spin(s, view, len(frame))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        s.close()
        emit("result", elapsed=elapsed, count=n, cpu=cpu)
        return
    zmq = load(lib)
    ctx = zmq.Context()
    s = ctx.socket(zmq.REQ)
    curve_client(zmq, s, spec.get("curve"))
    s.connect(endpoint)
    msg = b"x" * size
    send, recv = s.send, s.recv
    for _ in range(warmup):
        send(msg)
        recv()
    start, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        send(msg)
        recv()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    emit("result", elapsed=elapsed, count=n, cpu=cpu)
    s.close()
    ctx.term()


# -- roles: PUB -> N SUB fan-out ----------------------------------------------------------------


def fan_pub(spec: dict) -> None:
    zmq = load(spec["lib"])
    n, size = spec["count"], spec["size"]
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUB)
    s.setsockopt(zmq.SNDHWM, 0)  # lossless: the subscribers count every message
    endpoint = zbind(zmq, s, spec["transport"], spec)
    emit("ready", endpoint=endpoint)
    # Warm-up messages until every subscriber has seen one (its subscription arrived).
    while True:
        s.send(b"W")
        cmd = stdin_has(0.005)
        if cmd == "go":
            break
        if cmd == "":
            raise SystemExit("stdin closed")
    msg = b"D" + b"x" * (size - 1)
    send = s.send
    start, cpu0 = time.monotonic(), time.process_time()
    for _ in range(n):
        send(msg)
    sent = time.monotonic()
    s.close()
    ctx.term()  # lingers until every subscriber has it all: the I/O work counts
    emit("result", start=start, sent=sent, end=time.monotonic(), cpu=time.process_time() - cpu0)


def fan_sub(spec: dict) -> None:
    zmq = load(spec["lib"])
    n = spec["count"]
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.RCVHWM, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(spec["endpoint"])
    recv = s.recv
    while recv()[:1] != b"W":
        pass
    emit("ready")
    msg = recv()
    while msg[:1] == b"W":
        msg = recv()
    start, cpu0 = time.monotonic(), time.process_time()
    for _ in range(n - 1):
        recv()
    end = time.monotonic()
    emit("result", start=start, end=end, count=n - 1, cpu=time.process_time() - cpu0)
    s.close()
    ctx.term()


# -- roles: memory held by queued messages --------------------------------------------------------


def rss_recv(spec: dict) -> None:
    """Bind a PULL that does not read; report its RSS after a peer pushed ``count`` messages."""
    lib, transport, size = spec["lib"], spec["transport"], spec["size"]
    if lib == "raw":
        # The floor: the same messages received and held as bytes objects in a deque.
        ls, endpoint = raw_listen(transport, spec)
        emit("ready", endpoint=endpoint)
        conn = raw_accept(ls)
        raw_read(conn, 1, size)
        base = proc_status()
        reset_peak_rss()
        emit("baseline", rss=base["VmRSS"])
        held: deque = deque()
        cpu0 = time.process_time()
        raw_read(conn, spec["count"], size, held)
        cpu = time.process_time() - cpu0
        after = proc_status()
        emit(
            "result",
            baseline=base["VmRSS"],
            peak=after["VmHWM"],
            rss=after["VmRSS"],
            queued=len(held),
            cpu=cpu,
        )
        return
    zmq = load(lib)
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    if spec["rcvhwm"] is not None:
        s.setsockopt(zmq.RCVHWM, spec["rcvhwm"])
    endpoint = zbind(zmq, s, transport, spec)
    emit("ready", endpoint=endpoint)
    s.recv()  # the peer's first message: the connection is up
    base = proc_status()
    reset_peak_rss()
    emit("baseline", rss=base["VmRSS"])
    cpu0 = time.process_time()  # the library's queueing work (its I/O thread) counts
    wait_command("measure")
    # Let the library drain the kernel buffers: wait until RSS stops moving.
    last, steady, deadline = -1, 0, time.monotonic() + 10
    while steady < 4 and time.monotonic() < deadline:
        rss = proc_status()["VmRSS"]
        steady = steady + 1 if rss == last else 0
        last = rss
        time.sleep(0.05)
    after = proc_status()
    cpu = time.process_time() - cpu0
    queued = 0
    while True:
        try:
            s.recv(zmq.NOBLOCK)
        except zmq.Again:
            break
        queued += 1
    emit(
        "result",
        baseline=base["VmRSS"],
        peak=after["VmHWM"],
        rss=after["VmRSS"],
        queued=queued,
        cpu=cpu,
    )
    s.close(linger=0)
    ctx.term()


def rss_send(spec: dict) -> None:
    lib, n, size, endpoint = spec["lib"], spec["count"], spec["size"], spec["endpoint"]
    msg = b"x" * size
    if lib == "raw":
        s = raw_connect(endpoint)
        raw_send(s, msg, 1)
        wait_command("go")
        cpu0 = time.process_time()
        raw_send(s, msg, n)
        emit("sent", count=n, cpu=time.process_time() - cpu0)
        wait_command("exit")
        s.close()
        return
    zmq = load(lib)
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.connect(endpoint)
    s.send(msg)
    wait_command("go")
    cpu0 = time.process_time()
    sent = 0
    if spec["blocking"]:
        for _ in range(n):
            s.send(msg)
        sent = n
    else:
        # The receiver's HWM will be reached: send until nothing more goes for a while.
        stalled_since = None
        while sent < n:
            try:
                s.send(msg, zmq.NOBLOCK)
                sent += 1
                stalled_since = None
            except zmq.Again:
                now = time.monotonic()
                if stalled_since is None:
                    stalled_since = now
                elif now - stalled_since > 0.5:
                    break
                time.sleep(0.001)
    emit("sent", count=sent, cpu=time.process_time() - cpu0)
    wait_command("exit")
    s.close(linger=0)
    ctx.term()


# -- roles: connection setup ------------------------------------------------------------------


def conn_server(spec: dict) -> None:
    lib, transport, n = spec["lib"], spec["transport"], spec["count"] + spec["warmup"]
    if lib == "raw":
        ls, endpoint = raw_listen(transport, spec)
        emit("ready", endpoint=endpoint)
        buf = bytearray(64)
        cpu0 = 0.0
        for i in range(n):
            if i == spec["warmup"]:
                cpu0 = time.process_time()
            conn = raw_accept(ls)
            k = conn.recv_into(buf)
            conn.sendall(memoryview(buf)[:k])
            conn.close()
        emit("done", count=spec["count"], cpu=time.process_time() - cpu0)
        return
    zmq = load(lib)
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    endpoint = zbind(zmq, s, transport, spec)
    emit("ready", endpoint=endpoint)
    recv, send = s.recv_multipart, s.send_multipart
    for _ in range(spec["warmup"]):
        send(recv())
    # Until the last measured connection's reply (the handshakes and closes in between count,
    # the wait for the next peer costs none; the last peer's close may still be under way).
    cpu0 = time.process_time()
    for _ in range(spec["count"]):
        send(recv())
    emit("done", count=spec["count"], cpu=time.process_time() - cpu0)
    s.close(linger=0)
    ctx.term()


def conn_client(spec: dict) -> None:
    lib, n, endpoint, warmup = spec["lib"], spec["count"], spec["endpoint"], spec["warmup"]
    if lib == "raw":
        hello = frame_header(2) + b"hi"

        def once() -> None:
            s = raw_connect(endpoint)
            s.sendall(hello)
            if not s.recv(64):
                raise SystemExit("raw: no reply")
            s.close()

    else:
        zmq = load(lib)
        ctx = zmq.Context()

        def once() -> None:
            s = ctx.socket(zmq.DEALER)
            s.connect(endpoint)
            s.send(b"hi")
            s.recv()
            s.close(linger=0)

    for _ in range(warmup):
        once()
    start, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        once()
    elapsed = time.perf_counter() - start
    emit("result", elapsed=elapsed, count=n, cpu=time.process_time() - cpu0)
    if lib != "raw":
        ctx.term()


# -- roles: CURVE keys for the run ----------------------------------------------------------------


def curve_keys(spec: dict) -> None:
    """One server and one client key pair from the library's ``curve_keypair()``, as Z85 text
    (for both libraries) and hex (for the raw ceiling)."""
    import importlib

    zmq = load(spec["lib"])
    z85 = importlib.import_module(zmq.__name__ + ".utils.z85")
    keys: dict[str, str] = {}
    for who in ("server", "client"):
        public, secret = zmq.curve_keypair()
        for kind, key in (("public", public), ("secret", secret)):
            text = key.decode() if isinstance(key, bytes) else key
            keys[f"{who}_{kind}"] = text
            keys[f"{who}_{kind}_hex"] = z85.decode(text).hex()
    emit("result", **keys)


# -- roles: facts about the library -------------------------------------------------------------


def info(spec: dict) -> None:
    zmq = load(spec["lib"])
    emit(
        "result",
        # vmzmq's __version__ is the pyzmq API level it provides; its own is vmzmq_version()
        version=zmq.vmzmq_version() if hasattr(zmq, "vmzmq_version") else zmq.__version__,
        libzmq=zmq.zmq_version(),
        file=getattr(zmq, "__file__", "?"),
        vmci=bool(zmq.has("vmci")) if hasattr(zmq, "has") else False,
        curve=bool(zmq.has("curve")) if hasattr(zmq, "has") else False,
    )


ROLES = {
    "thr_recv": thr_recv,
    "thr_send": thr_send,
    "thr_inproc": thr_inproc,
    "lat_server": lat_server,
    "lat_client": lat_client,
    "fan_pub": fan_pub,
    "fan_sub": fan_sub,
    "rss_recv": rss_recv,
    "rss_send": rss_send,
    "conn_server": conn_server,
    "conn_client": conn_client,
    "curve_keys": curve_keys,
    "info": info,
}


def raise_fd_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: the scale roles hold thousands of sockets."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def main(argv: list[str]) -> None:
    spec = json.loads(argv[1])
    if spec.get("cpus"):
        os.sched_setaffinity(0, spec["cpus"])
    raise_fd_limit()
    role = ROLES.get(spec["role"])
    if role is None and spec["role"].startswith("scale_"):
        from benchmarks.scale import ROLES as SCALE_ROLES

        role = SCALE_ROLES.get(spec["role"])
    if role is None:
        raise SystemExit(f"unknown role {spec['role']!r}")
    try:
        role(spec)
    except SystemExit:
        raise
    except BaseException as e:  # report, then fail: the runner shows the message
        emit("error", error=f"{type(e).__name__}: {e}")
        raise
    finally:
        if "ipc_path" in spec and spec["role"].endswith(("recv", "server", "pub")):
            try:
                os.unlink(spec["ipc_path"])
            except OSError:
                pass


if __name__ == "__main__":
    main(sys.argv)
