"""pyzmq's ``zmq.sugar.tracker``: MessageTracker and the tracker that is done from the start
(from :mod:`vmzmq.frame`, which says what a tracker watches in vmzmq)."""

from __future__ import annotations

from ..frame import _FINISHED_TRACKER, MessageTracker

__all__ = ["MessageTracker", "_FINISHED_TRACKER"]
