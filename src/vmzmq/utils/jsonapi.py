"""pyzmq's ``zmq.utils.jsonapi``: JSON to and from UTF-8 bytes, with the standard library."""

from __future__ import annotations

import json
from typing import Any

#: pyzmq keeps this name for old code that reached for the JSON module in use.
jsonmod = json


def dumps(o: Any, **kwargs: Any) -> bytes:
    """Serialize ``o`` to JSON as UTF-8 bytes; keyword arguments go to :func:`json.dumps`."""
    return json.dumps(o, **kwargs).encode("utf-8")


def loads(s: bytes | bytearray | memoryview | str, **kwargs: Any) -> Any:
    """Load JSON from UTF-8 bytes or str; keyword arguments go to :func:`json.loads`."""
    if not isinstance(s, str):
        s = bytes(s).decode("utf-8")
    return json.loads(s, **kwargs)


__all__ = ["dumps", "loads"]
