"""pyzmq's deprecated ``zmq.Stopwatch``: microseconds between ``start()`` and ``stop()``."""

from __future__ import annotations

import time
import warnings


class Stopwatch:
    """Deprecated (a DeprecationWarning when made, as in pyzmq): use ``time.monotonic``."""

    def __init__(self) -> None:
        warnings.warn(
            "zmq.Stopwatch is deprecated. Use stdlib time.monotonic and friends instead",
            DeprecationWarning,
            stacklevel=2,
        )
        self._start = 0.0

    def start(self) -> None:
        """Start (or restart) the count."""
        self._start = time.monotonic()

    def stop(self) -> int:
        """Whole microseconds since ``start()``."""
        return int(1e6 * (time.monotonic() - self._start))


__all__ = ["Stopwatch"]
