"""The ``vmzmq`` command line: ``vmzmq COMMAND --help`` for each command.

Errors are one line on stderr, ``vmzmq COMMAND: what went wrong``, with exit status 1 (2 for
a command line that does not parse, 130 after Ctrl-C); no tracebacks for user mistakes.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from ._version import __version__

log = logging.getLogger("vmzmq")

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAIL) -> None:
        super().__init__(message)
        self.code = code


class _Stop(Exception):
    """SIGTERM (or SIGINT) asked a long-running command to stop cleanly."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop()


def _stop_on_signals() -> None:
    # Services (proxy, monitor) end normally on SIGINT and SIGTERM: exit 0, sockets closed.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)


def _unescape(text: str) -> bytes:
    """A separator as typed: ``\\t``, ``\\n``, ``\\0``, ``\\\\`` are understood."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            mapped = {"t": "\t", "n": "\n", "0": "\0", "\\": "\\", "r": "\r"}.get(nxt)
            if mapped is not None:
                out.append(mapped)
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out).encode("utf-8")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _ms(seconds: float | None) -> int:
    return -1 if seconds is None else int(seconds * 1000)


def _attach(sock: Any, endpoint: str, bind: bool | None) -> str:
    """Bind or connect; with neither flag given, bind when the address has a '*' wildcard
    (it cannot be connected to) and connect otherwise. Returns the endpoint in use."""
    if bind is None:
        address = endpoint.partition("://")[2]
        bind = address.startswith("*") or ":*" in address or address == "*"
    if bind:
        sock.bind(endpoint)
        bound = sock.last_endpoint.decode()
        if "*" in endpoint:  # the only way to learn which port or path a wildcard got
            print(f"vmzmq: bound to {bound}", file=sys.stderr, flush=True)
        return bound
    sock.connect(endpoint)
    return endpoint


def _write(data: bytes) -> None:
    out = sys.stdout.buffer
    out.write(data)
    out.flush()  # one message at a time, so a pipe sees it at once


# -- cid --------------------------------------------------------------------------------------
def _cmd_cid(args: argparse.Namespace) -> int:
    from .vmci import get_local_cid

    print(get_local_cid())
    return EXIT_OK


# -- keygen -----------------------------------------------------------------------------------
def _cmd_keygen(args: argparse.Namespace) -> int:
    import json

    from .curve_keygen import keys, render

    if args.dir is None and args.name is None:
        public, secret = keys()
        _write(render(public, secret, args.json).encode("ascii"))
        return EXIT_OK

    from .auth.certs import create_certificates, load_certificate

    directory = args.dir or "."
    name = args.name or "curve"
    if not os.path.isdir(directory):
        raise CliError(f"{directory!r} is not a directory")
    if not name or os.sep in name or name in (".", ".."):
        raise CliError(f"{name!r} cannot be a certificate name", EXIT_USAGE)
    base = os.path.join(directory, name)
    existing = [p for p in (f"{base}.key", f"{base}.key_secret") if os.path.lexists(p)]
    if existing and not args.force:
        # A secret key overwritten by mistake cannot be got back.
        raise CliError(f"{existing[0]} exists (--force replaces it)")
    public_file, secret_file = create_certificates(directory, name)
    public = load_certificate(public_file)[0].decode("ascii")
    if args.json:
        text = json.dumps(
            {"public": public, "public_file": public_file, "secret_file": secret_file},
            indent=1,
            sort_keys=True,
        )
        _write(f"{text}\n".encode())
    else:
        _write(
            f"== CURVE PUBLIC KEY ==\n{public}\n\n"
            f"public certificate: {public_file}\nsecret certificate: {secret_file}\n".encode()
        )
    return EXIT_OK


# -- demo -------------------------------------------------------------------------------------
def _cmd_demo(args: argparse.Namespace) -> int:
    """Exchange messages over every transport this machine has, and time a few."""
    import vmzmq as zmq

    from .vmci import available as vsock_available

    endpoints = ["inproc://demo", "tcp://127.0.0.1:*", "ipc://*"]
    if vsock_available():
        endpoints.append("vmci://1:*")  # needs vsock_loopback; skipped below if absent
    with zmq.Context() as ctx:
        for endpoint in endpoints:
            server = ctx.socket(zmq.REP)
            client = ctx.socket(zmq.REQ)
            for s in (server, client):
                s.linger = 0
                s.rcvtimeo = 5000
            try:
                server.bind(endpoint)
            except zmq.ZMQError as exc:
                print(f"{endpoint:<22} skipped: {exc}")
                server.close()
                client.close()
                continue
            real = server.last_endpoint.decode()
            client.connect(real)
            n = args.count
            start = time.perf_counter()
            for i in range(n):
                client.send_string(f"ping {i}")
                server.send(server.recv())
                client.recv()
            elapsed = time.perf_counter() - start
            print(f"{real:<40} {n} REQ/REP round trips, {elapsed / n * 1e6:.0f} us each")
            server.close()
            client.close()
    return EXIT_OK


# -- send -------------------------------------------------------------------------------------
_SEND_TYPES = {"push": 8, "pub": 9, "req": 3, "dealer": 5, "pair": 0}  # pub is sent by an XPUB
_RECV_TYPES = {"pull": 7, "sub": 2, "rep": 4, "dealer": 5, "pair": 0}


def _messages(args: argparse.Namespace) -> Iterator[list[bytes]]:
    sep = _unescape(args.separator) if args.separator is not None else None

    def frames(data: bytes) -> list[bytes]:
        return data.split(sep) if sep else [data]

    if args.message:
        texts = [m.encode("utf-8", "surrogateescape") for m in args.message]
        # With --count, the arguments are sent in turn until that many went out.
        source = itertools.cycle(texts) if args.count else iter(texts)
        for text in source:
            yield frames(text)
        return
    for path in args.file or ["-"]:
        if path == "-":
            stream = sys.stdin.buffer
        else:
            try:
                stream = open(path, "rb")  # noqa: SIM115 - closed below, read lazily
            except OSError as exc:
                raise CliError(f"cannot read {path!r}: {exc.strerror}") from None
        try:
            if args.whole:
                yield frames(stream.read())
            else:
                for line in stream:
                    if line.endswith(b"\n"):
                        line = line[:-1]
                        if line.endswith(b"\r"):
                            line = line[:-1]
                    yield frames(line)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


def _cmd_send(args: argparse.Namespace) -> int:
    import vmzmq as zmq

    if args.message and args.file:
        raise CliError("give MESSAGE arguments or --file, not both", EXIT_USAGE)
    timeout = _ms(args.timeout)
    kind = args.type
    with zmq.Context() as ctx:
        sock = ctx.socket(_SEND_TYPES[kind])
        try:
            sock.sndtimeo = timeout
            sock.rcvtimeo = timeout
            # Deliver what was sent before exiting; with --timeout, give up after that long.
            sock.linger = timeout
            if kind != "pub":
                # Queue only on live connections: a peer that is not there makes send wait
                # (and --timeout fail) instead of "succeeding" into a queue nobody reads.
                sock.immediate = 1
            where = _attach(sock, args.endpoint, args.bind)
            if kind == "pub" and not sock.poll(timeout if timeout >= 0 else None):
                # A PUB drops what it sends before anyone subscribed: wait for a subscriber.
                raise CliError(f"no subscriber on {where} within {args.timeout:g}s")
            sent = 0
            for msg in _messages(args):
                try:
                    sock.send_multipart(msg)
                except zmq.Again:
                    raise CliError(
                        f"could not send within {args.timeout:g}s: no peer ready on {where}"
                    ) from None
                sent += 1
                if kind == "req":
                    try:
                        reply = sock.recv_multipart()
                    except zmq.Again:
                        raise CliError(f"no reply within {args.timeout:g}s from {where}") from None
                    _write(_joined(reply, args.separator) + b"\n")
                if args.count and sent >= args.count:
                    break
        except BaseException:
            sock.close(linger=0)  # failed or interrupted: do not wait to deliver the rest
            raise
        sock.close()  # delivers what is queued (for at most --timeout)
    return EXIT_OK


def _joined(frames: list[bytes], separator: str | None) -> bytes:
    return (b"\t" if separator is None else _unescape(separator)).join(frames)


# -- recv -------------------------------------------------------------------------------------
def _cmd_recv(args: argparse.Namespace) -> int:
    import vmzmq as zmq

    kind = args.type
    if args.subscribe and kind != "sub":
        raise CliError("--subscribe is for --type sub", EXIT_USAGE)
    if args.reply is not None and kind != "rep":
        raise CliError("--reply is for --type rep", EXIT_USAGE)
    with zmq.Context() as ctx:
        sock = ctx.socket(_RECV_TYPES[kind])
        try:
            sock.rcvtimeo = _ms(args.timeout)
            sock.linger = 1000  # a REP's last reply still goes out
            if kind == "sub":
                for topic in args.subscribe or [""]:
                    sock.subscribe(topic.encode("utf-8", "surrogateescape"))
            where = _attach(sock, args.endpoint, args.bind)
            got = 0
            while not args.count or got < args.count:
                try:
                    msg = sock.recv_multipart()
                except zmq.Again:
                    if got == 0 or args.count:
                        raise CliError(
                            f"{'no' if got == 0 else 'no more'} messages on {where} "
                            f"within {args.timeout:g}s (got {got})"
                        ) from None
                    break
                got += 1
                _write(_joined(msg, args.separator) + b"\n")
                if kind == "rep":
                    if args.reply is None:
                        sock.send_multipart(msg)  # echo
                    else:
                        reply = args.reply.encode("utf-8", "surrogateescape")
                        sep = _unescape(args.separator) if args.separator else None
                        sock.send_multipart(reply.split(sep) if sep else [reply])
        finally:
            sock.close()
    return EXIT_OK


# -- monitor ----------------------------------------------------------------------------------
_ALL_TYPES = {
    "pair": 0,
    "pub": 1,
    "sub": 2,
    "req": 3,
    "rep": 4,
    "dealer": 5,
    "router": 6,
    "pull": 7,
    "push": 8,
    "xpub": 9,
    "xsub": 10,
    "stream": 11,
}


def _event_mask(names: str | None) -> int:
    from .constants import Event
    from .monitor import EVENT_IDS

    if not names:
        return 0xFFFF
    mask = 0
    for name in names.replace(",", " ").split():
        key = name.upper().removeprefix("EVENT_")
        if key not in EVENT_IDS or EVENT_IDS[key] > int(Event.HANDSHAKE_FAILED_AUTH):
            known = ", ".join(n for n, v in EVENT_IDS.items() if v <= 0x4000)
            raise CliError(f"unknown event {name!r} (known: {known})", EXIT_USAGE)
        mask |= EVENT_IDS[key]
    return mask


def _cmd_monitor(args: argparse.Namespace) -> int:
    import vmzmq as zmq

    from .utils.monitor import describe_event, recv_monitor_message

    mask = _event_mask(args.events)
    _stop_on_signals()
    deadline = None if args.duration is None else time.monotonic() + args.duration
    with zmq.Context() as ctx:
        sock = ctx.socket(_ALL_TYPES[args.type])
        sock.linger = 0
        mon = sock.get_monitor_socket(mask | zmq.EVENT_MONITOR_STOPPED)
        try:
            _attach(sock, args.endpoint, True if args.bind else None)
            seen = 0
            while not args.count or seen < args.count:
                wait = None
                if deadline is not None:
                    wait = int(max(0.0, deadline - time.monotonic()) * 1000)
                    if wait == 0:
                        break
                if not mon.poll(wait):
                    continue
                event = recv_monitor_message(mon)
                if not int(event["event"]) & mask:
                    continue
                seen += 1
                now = time.time()
                stamp = (
                    time.strftime("%H:%M:%S", time.localtime(now))
                    + f".{int(now * 1000) % 1000:03d}"
                )
                _write(f"{stamp} {describe_event(event)}\n".encode())
        except _Stop:
            pass
        finally:
            sock.disable_monitor()
            mon.close(linger=0)
            sock.close(linger=0)
    return EXIT_OK


# -- proxy ------------------------------------------------------------------------------------
_PROXY_TYPES = {
    # name: (frontend type, backend type, what it is)
    "queue": (6, 5, "ROUTER frontend, DEALER backend: request/reply brokers"),
    "forwarder": (10, 9, "XSUB frontend, XPUB backend: publish/subscribe brokers"),
    "streamer": (7, 8, "PULL frontend, PUSH backend: pipelines"),
}


def _split_mode(endpoint: str, default_bind: bool) -> tuple[str, bool]:
    """CZMQ's convention: '@endpoint' binds, '>endpoint' connects."""
    if endpoint.startswith("@"):
        return endpoint[1:], True
    if endpoint.startswith(">"):
        return endpoint[1:], False
    return endpoint, default_bind


def _cmd_proxy(args: argparse.Namespace) -> int:
    if args.type == "stream":
        return _proxy_stream(args)
    return _proxy_sockets(args)


def _make_capture(ctx: Any, endpoint: str | None) -> Any:
    if endpoint is None:
        return None
    capture = ctx.socket(1)  # PUB
    capture.linger = 0
    ep, bind = _split_mode(endpoint, True)
    capture.bind(ep) if bind else capture.connect(ep)
    return capture


def _proxy_stream(args: argparse.Namespace) -> int:
    import vmzmq as zmq

    from .devices import StreamRelay

    frontend, front_bind = _split_mode(args.frontend, True)
    backend, back_bind = _split_mode(args.backend, False)
    if not front_bind or back_bind:
        raise CliError(
            "--type stream binds FRONTEND and connects BACKEND once per accepted connection "
            "(use '@FRONTEND' and '>BACKEND' or no prefix)",
            EXIT_USAGE,
        )
    _stop_on_signals()
    with zmq.Context() as ctx:
        capture = _make_capture(ctx, args.capture)
        try:
            relay = StreamRelay(
                frontend,
                backend,
                capture=capture,
                connect_timeout=args.connect_timeout,
            )
            print(
                f"vmzmq proxy: relaying connections on {relay.endpoint} to {backend}",
                file=sys.stderr,
                flush=True,
            )
            try:
                relay.run()
            except _Stop:
                relay.close()
        finally:
            if capture is not None:
                capture.close()
    return EXIT_OK


def _proxy_sockets(args: argparse.Namespace) -> int:
    import vmzmq as zmq

    front_type, back_type, _what = _PROXY_TYPES[args.type]
    _stop_on_signals()
    ctx = zmq.Context()
    try:
        front = ctx.socket(front_type)
        back = ctx.socket(back_type)
        capture = _make_capture(ctx, args.capture)
        ends = []
        for sock, endpoint in ((front, args.frontend), (back, args.backend)):
            sock.linger = 0
            ep, bind = _split_mode(endpoint, True)
            ends.append(_attach(sock, ep, bind))
        print(
            f"vmzmq proxy: {args.type} between {ends[0]} and {ends[1]}",
            file=sys.stderr,
            flush=True,
        )
        try:
            zmq.proxy(front, back, capture)
        except (_Stop, zmq.ContextTerminated):
            pass
    finally:
        ctx.destroy(linger=0)
    return EXIT_OK


# -- bench ------------------------------------------------------------------------------------
def _cmd_bench(args: argparse.Namespace) -> int:
    import importlib.util
    import runpy

    try:
        found = importlib.util.find_spec("benchmarks.__main__") is not None
    except ImportError:
        found = False
    if not found:
        raise CliError(
            "the benchmarks are not installed with vmzmq; run 'python -m benchmarks' "
            "(or 'vmzmq bench') from a vmzmq source checkout"
        )
    argv = sys.argv
    sys.argv = ["python -m benchmarks", *args.args]
    try:
        runpy.run_module("benchmarks", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return EXIT_OK
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return EXIT_FAIL
    finally:
        sys.argv = argv
    return EXIT_OK


# -- the parser -------------------------------------------------------------------------------
_PROXY_HELP = """\
Relay between FRONTEND and BACKEND until stopped (Ctrl-C or SIGTERM end it cleanly).

--type stream (the default) is a byte relay: FRONTEND is bound, and each connection accepted
on it gets its own new connection to BACKEND; bytes are copied both ways, unchanged. It
carries every ZMTP socket type (REQ/REP, PUB/SUB, ROUTER/DEALER, ...) and any other stream
protocol, so programs on libzmq and on vmzmq reach each other across transports:

  vmzmq proxy 'vmci://*:5555' tcp://127.0.0.1:5556   # guests reach a host service
  vmzmq proxy 'tcp://*:5556' vmci://3:5555           # the host reaches a guest (CID 3)

--type queue | forwarder | streamer runs vmzmq.proxy() between two sockets (ROUTER/DEALER,
XSUB/XPUB, PULL/PUSH) that both bind by default; prefix an endpoint with '>' to connect it
('@' binds). With --capture EP, a PUB socket bound at EP (or '>EP': connected) gets a copy of
everything: each message for the socket types, [in|out, connection number, bytes] for stream.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vmzmq",
        description="ZeroMQ in pure Python, at home on VM sockets.",
        epilog="'vmzmq COMMAND --help' describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"vmzmq {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log connections and retries to stderr"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="log errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    cid = sub.add_parser(
        "cid",
        help="print this machine's local VM socket CID",
        description="Print this machine's local VM socket (vsock) context id: the number "
        "other VMs and the host use in vmci://CID:PORT to reach it.",
    )
    cid.set_defaults(func=_cmd_cid)

    proxy = sub.add_parser(
        "proxy",
        help="relay between two endpoints (e.g. vmci:// to tcp://)",
        description=_PROXY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    proxy.add_argument("frontend", metavar="FRONTEND", help="endpoint clients connect to")
    proxy.add_argument("backend", metavar="BACKEND", help="endpoint of the service")
    proxy.add_argument(
        "--type",
        choices=["stream", *_PROXY_TYPES],
        default="stream",
        help="stream (default): byte relay per connection; queue: ROUTER/DEALER; "
        "forwarder: XSUB/XPUB; streamer: PULL/PUSH",
    )
    proxy.add_argument("--capture", metavar="EP", help="PUB endpoint getting a copy of traffic")
    proxy.add_argument(
        "--connect-timeout",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="stream: close a client whose backend connection takes longer (default 10)",
    )
    proxy.set_defaults(func=_cmd_proxy)

    common = argparse.ArgumentParser(add_help=False)
    mode = common.add_mutually_exclusive_group()
    mode.add_argument("--bind", dest="bind", action="store_true", default=None, help="bind")
    mode.add_argument(
        "--connect",
        dest="bind",
        action="store_false",
        help="connect (default, unless the address has a '*' wildcard)",
    )
    common.add_argument("-n", "--count", type=_positive, metavar="N", help="stop after N messages")
    common.add_argument(
        "--timeout",
        type=_seconds,
        metavar="S",
        help="give up (exit status 1) after S seconds without progress",
    )
    common.add_argument(
        "-s",
        "--separator",
        metavar="SEP",
        help="frame separator for multipart messages ('\\t' and such are understood)",
    )

    send = sub.add_parser(
        "send",
        parents=[common],
        help="send messages: arguments, lines of stdin or of files",
        description="Send messages from the shell. Each MESSAGE argument is one message; "
        "without any, each line of stdin (or of each --file) is one. With --separator, a "
        "message is split there into frames (multipart). REQ prints each reply; PUB waits "
        "for its first subscriber before sending.",
    )
    send.add_argument("endpoint", metavar="ENDPOINT")
    send.add_argument("message", metavar="MESSAGE", nargs="*", help="messages to send")
    send.add_argument(
        "-t",
        "--type",
        choices=list(_SEND_TYPES),
        default="push",
        help="socket type (default push)",
    )
    send.add_argument(
        "-f",
        "--file",
        action="append",
        metavar="PATH",
        help="read messages from PATH ('-' is stdin); may be repeated",
    )
    send.add_argument(
        "--whole",
        action="store_true",
        help="each input (stdin or --file) is one message, bytes as they are",
    )
    send.set_defaults(func=_cmd_send)

    recv = sub.add_parser(
        "recv",
        parents=[common],
        help="receive messages and print one per line",
        description="Receive messages and write each to stdout as one line, its frames "
        "joined by --separator (default: a tab). REP answers each request (an echo, or "
        "--reply).",
    )
    recv.add_argument("endpoint", metavar="ENDPOINT")
    recv.add_argument(
        "-t",
        "--type",
        choices=list(_RECV_TYPES),
        default="pull",
        help="socket type (default pull)",
    )
    recv.add_argument(
        "--subscribe",
        action="append",
        metavar="TOPIC",
        help="SUB: topic prefix to receive (default: everything); may be repeated",
    )
    recv.add_argument("--reply", metavar="TEXT", help="REP: answer every request with TEXT")
    recv.set_defaults(func=_cmd_recv)

    monitor = sub.add_parser(
        "monitor",
        help="print the live events of a connection",
        description="Connect (or --bind) a socket of --type to ENDPOINT and print the events "
        "of its connections as they happen: connects, retries, handshakes, disconnects. "
        "Nothing is sent. Runs until Ctrl-C, --count events or --duration seconds.",
    )
    monitor.add_argument("endpoint", metavar="ENDPOINT")
    monitor.add_argument(
        "-t",
        "--type",
        choices=list(_ALL_TYPES),
        default="dealer",
        help="socket type to connect with; it must suit the peer (default dealer: "
        "for ROUTER, REP and DEALER peers; use sub for PUB, push for PULL)",
    )
    monitor.add_argument("--bind", action="store_true", help="bind instead of connecting")
    monitor.add_argument("-n", "--count", type=_positive, metavar="N", help="stop after N events")
    monitor.add_argument("--duration", type=_seconds, metavar="S", help="stop after S seconds")
    monitor.add_argument(
        "--events",
        metavar="NAMES",
        help="only these events, e.g. CONNECTED,DISCONNECTED (default: all)",
    )
    monitor.set_defaults(func=_cmd_monitor)

    bench = sub.add_parser(
        "bench",
        help="run the benchmarks (python -m benchmarks)",
        description="Run vmzmq's benchmarks (the 'benchmarks' package of a source "
        "checkout); ARGS are passed on: 'vmzmq bench -- --help' shows them.",
    )
    bench.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    bench.set_defaults(func=_cmd_bench)

    keygen = sub.add_parser(
        "keygen",
        help="make a CURVE key pair (needs PyNaCl)",
        description="Print a new CURVE key pair in Z85, as libzmq's curve_keygen; or, with "
        "--dir or --name, write it as a certificate pair (NAME.key, public, and "
        "NAME.key_secret, secret, mode 0600) that vmzmq.auth, pyzmq's zmq.auth and czmq "
        "read, and print the public key.",
    )
    keygen.add_argument("--dir", metavar="DIR", help="write certificates into DIR (default .)")
    keygen.add_argument(
        "--name", metavar="NAME", help="certificate file names NAME.key[_secret] (default curve)"
    )
    keygen.add_argument(
        "--force", action="store_true", help="replace certificates of that name that exist"
    )
    keygen.add_argument("--json", action="store_true", help="print a JSON object instead")
    keygen.set_defaults(func=_cmd_keygen)

    demo = sub.add_parser(
        "demo",
        help="exchange messages over every available transport",
        description="Exchange REQ/REP messages over inproc, tcp, ipc and (if the kernel has "
        "it) vmci loopback, and time the round trips.",
    )
    demo.add_argument("--count", type=_positive, default=1000, help="round trips per transport")
    demo.set_defaults(func=_cmd_demo)
    return parser


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    bench_args = None
    words = [a for a in argv if not a.startswith("-")]
    if (
        words
        and words[0] == "bench"
        and argv[argv.index("bench") + 1 :] not in (["-h"], ["--help"])
    ):
        # Everything after 'bench' belongs to the benchmarks, options included.
        at = argv.index("bench")
        argv, bench_args = argv[: at + 1], argv[at + 1 :]
        if bench_args[:1] == ["--"]:
            bench_args = bench_args[1:]
    args, extra = parser.parse_known_args(argv)
    if bench_args is not None:
        args.args = bench_args
    if extra:
        # argparse stops filling MESSAGE at the first option ('send EP a -t req b'): the
        # words after it are messages too; anything else left over is a mistake.
        if getattr(args, "command", None) == "send" and not any(
            e.startswith("-") and e != "-" for e in extra
        ):
            args.message.extend(extra)
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _setup_logging(args)
    from .error import ZMQError

    prefix = f"vmzmq {args.command}"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except CliError as exc:
        print(f"{prefix}: {exc}", file=sys.stderr)
        return exc.code
    except ZMQError as exc:
        print(f"{prefix}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except BrokenPipeError:
        # The reader went away (| head): not an error of ours; keep Python from complaining.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        print(f"{prefix}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
