"""Benchmarks: vmzmq against pyzmq (libzmq) and a raw-socket ceiling, in one run.

``python -m benchmarks [--quick] [--repeat N] [--only PATTERN] [--json PATH] [--vmci]
[--scale-rows] [--plot SVG]`` (``--hvsock``: the host <-> virtio guest rows of
``benchmarks/hvsock.py`` instead; ``--plot-from JSON --plot SVG``: redraw the growth plot of
an earlier run's scale rows), or from Python ``benchmarks.main(argv)`` (exit status) /
``benchmarks.run(...)`` (the results).
This module imports neither library: every sample runs in fresh worker processes.
"""

from __future__ import annotations

from typing import Any


def main(argv: list[str] | None = None) -> int:
    """The command line: run, print the table, write the JSON; return the exit status."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if "--hvsock" in args:  # host <-> guest rows: boots a virtio guest (benchmarks/hvsock.py)
        from .hvsock import main as _hvsock

        return _hvsock([a for a in args if a != "--hvsock"])
    from .runner import main as _main

    return _main(argv)


def run(**kwargs: Any) -> dict:
    """Run the benchmarks (see ``benchmarks.runner.run``) and return the results dict."""
    from .runner import run as _run

    return _run(**kwargs)


__all__ = ["main", "run"]
