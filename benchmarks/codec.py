"""The codec alone: CPU time per message to frame and to decode, no sockets, no threads.

Two :class:`~vmzmq.zmtp.ZmtpConnection` objects shake hands in memory; then one encodes
``--count`` one-frame messages (as the engine's burst path does) and the other decodes the
stream in reads of 256 KiB, a large body straight into its buffer (as the engine does). The
figures are ``time.thread_time`` per message, min of ``--repeat`` runs, so other processes on
the machine move them little::

    python -m benchmarks.codec                  # NULL and CURVE, 64 B and 1 MiB
    python -m benchmarks.codec --mechanism curve --size 64 --count 200000

It is the bound of what the engine can reach per message on each side, and where a change
to the codec or a mechanism shows first.
"""

from __future__ import annotations

import argparse
import time

from vmzmq.zmtp import HandshakeComplete, ZmtpConnection

READ = 256 * 1024  # the engine's read size
LARGE = 64 * 1024  # the engine's CORK_BYTES: from here on a message goes out as its parts


def _mechanisms(kind: str) -> tuple[object | None, object | None]:
    if kind == "null":
        return None, None
    from nacl.bindings import crypto_box_keypair

    from vmzmq.zmtp.curve import CurveMechanism

    spub, ssec = crypto_box_keypair()
    cpub, csec = crypto_box_keypair()
    server = CurveMechanism(as_server=True, public_key=spub, secret_key=ssec)
    client = CurveMechanism(
        as_server=False, public_key=cpub, secret_key=csec, server_key=spub
    )
    return client, server


def pair(kind: str) -> tuple[ZmtpConnection, ZmtpConnection]:
    """A sender and a receiver that have shaken hands."""
    cm, sm = _mechanisms(kind)
    a = ZmtpConnection("PUSH", as_server=False, mechanism=cm, bare_single_frames=True)
    b = ZmtpConnection("PULL", as_server=True, mechanism=sm, bare_single_frames=True)
    wires = {a: a.start(), b: b.start()}
    done = {a: False, b: False}
    for _ in range(20):
        for me, other in ((a, b), (b, a)):
            data = wires[other]
            wires[other] = b""
            events = me.receive(data) if data else []
            if me.take_zap_request() is not None:  # no authenticator: as with no handler
                events += me.zap_reply(None)
            done[me] = done[me] or any(isinstance(ev, HandshakeComplete) for ev in events)
            out = me.data_to_send()
            if out:
                wires[me] += out
        if all(done.values()) and not any(wires.values()):
            return a, b
    raise RuntimeError("the in-memory handshake did not complete")


def measure(kind: str, size: int, count: int, repeat: int) -> tuple[float, float]:
    """(encode, decode) thread CPU seconds per message, each the min of ``repeat`` runs."""
    body = b"x" * size
    enc = dec = float("inf")
    for _ in range(repeat):
        sender, _ = pair(kind)
        t0 = time.thread_time()
        if size < LARGE:  # the burst path
            frame = sender.one_frame_encoder()
            for _ in range(count):
                frame(body)
        else:  # what the engine hands to sendmsg
            parts = sender.encode_message_parts
            msg = [body]
            for _ in range(count):
                parts(msg)
        enc = min(enc, time.thread_time() - t0)

        sender, receiver = pair(kind)  # the stream to decode, from a pair of its own
        frame_one = sender.one_frame_encoder()
        view = memoryview(b"".join([frame_one(body) for _ in range(count)]))
        got = pos = 0
        t0 = time.thread_time()
        while pos < len(view):
            into = receiver.read_buffer()
            if into is None:
                got += len(receiver.receive(view[pos : pos + READ]))
                pos += READ
            else:  # the rest of a large body, read straight into its buffer (as the engine)
                n = min(len(into), READ, len(view) - pos)
                into[:n] = view[pos : pos + n]
                into.release()
                pos += n
                got += len(receiver.buffer_filled(n))
        dec = min(dec, time.thread_time() - t0)
        if got != count:
            raise RuntimeError(f"decoded {got} messages of {count}")
    return enc / count, dec / count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.codec", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mechanism", choices=["null", "curve", "both"], default="both")
    ap.add_argument("--size", type=int, action="append", help="message size (repeatable)")
    ap.add_argument("--count", type=int, default=0, help="messages per run (default by size)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    kinds = ["null", "curve"] if args.mechanism == "both" else [args.mechanism]
    for kind in kinds:
        for size in args.size or [64, 1 << 20]:
            count = args.count or max(20, min(200_000, (64 << 20) // max(size, 1)))
            enc, dec = measure(kind, size, count, args.repeat)
            print(f"{kind:5} {size:>8} B  encode {enc * 1e9:>10,.0f} ns/msg  "
                  f"decode {dec * 1e9:>10,.0f} ns/msg  ({count} messages, min of {args.repeat})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
