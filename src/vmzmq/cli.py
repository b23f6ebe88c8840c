"""The ``vmzmq`` command line."""

from __future__ import annotations

import argparse
import sys
import time

from . import __version__


def _demo(args: argparse.Namespace) -> int:
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
    return 0


def _cid(args: argparse.Namespace) -> int:
    from .error import ZMQError
    from .vmci import get_local_cid

    try:
        print(get_local_cid())
    except ZMQError as exc:
        print(f"vmzmq cid: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vmzmq", description="ZeroMQ in pure Python, at home on VM sockets."
    )
    parser.add_argument("--version", action="version", version=f"vmzmq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="exchange messages over every available transport")
    demo.add_argument("--count", type=int, default=1000, help="round trips per transport")
    demo.set_defaults(func=_demo)
    cid = sub.add_parser("cid", help="print this machine's local VM socket CID")
    cid.set_defaults(func=_cid)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
