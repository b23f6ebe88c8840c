"""``python -m vmzmq.log URL``: print the records a PUBHandler publishes (pyzmq's
``python -m zmq.log``, with the same arguments).

Each record is one line: ``[time ]topic | message``. By default every topic is shown; give
``--topic`` the handler's root topic (or any longer prefix, ``app.ERROR``) to see less.
Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime

from ..constants import SUB
from ..context import Context

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# ANSI colours by level: what colorama's Fore names give on a terminal, so --color needs no
# extra module here (pyzmq's asks for colorama).
_COLORS = {
    "DEBUG": "\x1b[96m",
    "INFO": "\x1b[97m",
    "WARNING": "\x1b[33m",
    "ERROR": "\x1b[91m",
    "CRITICAL": "\x1b[91m",
}
_RESET = "\x1b[39m"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vmzmq.log",
        description="Print the log records a vmzmq or pyzmq PUBHandler publishes.",
    )
    parser.add_argument("zmq_pub_url", help="the endpoint of the handler's PUB socket")
    parser.add_argument(
        "-t", "--topic", default="",
        help="show only records whose topic starts with this (default: all)",
    )
    parser.add_argument(
        "--timestamp", action="store_true", help="start each line with the local time"
    )
    parser.add_argument(
        "--separator", default=" | ", help="what to print between topic and message"
    )
    parser.add_argument(
        "--dateformat", default="%Y-%m-%d %H:%M",
        help="strftime format of --timestamp (default: %(default)s)",
    )
    parser.add_argument(
        "--align", action="store_true", help="pad topics into columns, part by part"
    )
    parser.add_argument(
        "--color", action="store_true", help="colour each line by the record's level"
    )
    return parser


class _Aligner:
    """Pads each dot-separated part of a topic to the widest part seen at that position, so
    the parts (and the messages after them) line up as far as they can."""

    def __init__(self) -> None:
        self.widths: list[int] = []

    def __call__(self, parts: list[str]) -> str:
        # A topic shorter than earlier ones keeps their columns, filled with a space.
        parts = parts + [" "] * (len(self.widths) - len(parts))
        for i, part in enumerate(parts):
            if i == len(self.widths):
                self.widths.append(len(part))
            else:
                self.widths[i] = max(self.widths[i], len(part))
        return ".".join(part.ljust(width) for part, width in zip(parts, self.widths, strict=True))


def _level_of(parts: list[str]) -> str | None:
    # The level is the first part after the root topic, which may be empty or dotted
    # itself: the first part that names a level is the best guess there is.
    for part in parts:
        if part in _LEVELS:
            return part
    return None


def _render(frames: list[bytes], args: argparse.Namespace, align: _Aligner | None) -> str:
    topic = frames[0].decode("utf8", "replace").strip()
    # A PUBHandler sends two frames; anything else is shown rather than dropped.
    message = b"".join(frames[1:]).decode("utf8", "replace").strip()
    parts = topic.split(".")
    shown = align(parts) if align is not None else topic
    stamp = datetime.now().strftime(args.dateformat) + " " if args.timestamp else ""
    color = reset = ""
    if args.color:
        color = _COLORS.get(_level_of(parts) or "", "")
        reset = _RESET
    return f"{stamp}{color}{shown}{args.separator}{message}{reset}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    align = _Aligner() if args.align else None
    ctx = Context()
    sub = ctx.socket(SUB)
    try:
        sub.subscribe(args.topic.encode("utf8"))
        sub.connect(args.zmq_pub_url)
        while True:
            line = _render(sub.recv_multipart(), args, align)
            # Flushed per record: a watcher whose output sits in a pipe's buffer is no
            # watcher (pyzmq's shows nothing through "| grep" until 4 KiB gathered).
            print(line, flush=True)
    except KeyboardInterrupt:
        if args.color:
            print(_RESET, flush=True)
        return 0
    except BrokenPipeError:
        # The reader went away (``| head``): not an error. stdout goes to /dev/null so the
        # interpreter's own flush at exit does not fail on the pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    finally:
        sub.close(linger=0)
        ctx.term()


if __name__ == "__main__":
    sys.exit(main())
