"""pyzmq's ``zmq.sugar.frame``: Frame and its alias Message (from :mod:`vmzmq.frame`)."""

from __future__ import annotations

from ..frame import Frame, Message

__all__ = ["Frame", "Message"]
