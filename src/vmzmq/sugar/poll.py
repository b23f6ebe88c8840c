"""pyzmq's ``zmq.sugar.poll``: Poller and select (from :mod:`vmzmq.poll`)."""

from __future__ import annotations

from ..poll import Poller, select

__all__ = ["Poller", "select"]
