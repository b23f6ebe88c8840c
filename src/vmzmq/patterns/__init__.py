"""Socket types: each routes whole messages between the user and its pipes."""

from __future__ import annotations

from typing import Any

from .base import Pattern
from .pubsub import Pub, Sub, XPub, XSub
from .reqrep import Rep, Req
from .router import Router, Stream
from .simple import Dealer, Pair, Pull, Push

PATTERNS: dict[int, type[Pattern]] = {
    0: Pair,
    1: Pub,
    2: Sub,
    3: Req,
    4: Rep,
    5: Dealer,
    6: Router,
    7: Pull,
    8: Push,
    9: XPub,
    10: XSub,
    11: Stream,
}


def create_pattern(socket_type: int, core: Any) -> Pattern:
    return PATTERNS[socket_type](core)


__all__ = ["PATTERNS", "Pattern", "create_pattern"]
