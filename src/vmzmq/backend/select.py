"""pyzmq's ``zmq.backend.select``: which backend provides the low-level API.

pyzmq chooses between its Cython and CFFI backends; vmzmq has one, ``vmzmq.backend``, and
:func:`select_backend` returns its names for any of the three spellings.
"""

from __future__ import annotations

import importlib
from typing import Any

#: The names every backend provides (pyzmq's list).
public_api = [
    "Context",
    "Socket",
    "Frame",
    "Message",
    "proxy",
    "proxy_steerable",
    "zmq_poll",
    "strerror",
    "zmq_errno",
    "has",
    "curve_keypair",
    "curve_public",
    "zmq_version_info",
    "IPC_PATH_MAX_LEN",
    "PYZMQ_DRAFT_API",
]

_OURS = ("vmzmq.backend", "zmq.backend.cython", "zmq.backend.cffi", "cython", "cffi")


def select_backend(name: str) -> dict[str, Any]:
    """The public API of backend ``name`` (plus ``monitored_queue``) as a dict. Only
    vmzmq's backend exists: pyzmq's names for its backends select it too; any other name is
    an ImportError."""
    if name not in _OURS:
        raise ImportError(f"vmzmq has no backend {name!r} (only its own, vmzmq.backend)")
    module = importlib.import_module("vmzmq.backend")
    namespace = {key: getattr(module, key) for key in public_api}
    namespace["monitored_queue"] = module.monitored_queue
    return namespace


__all__ = ["public_api", "select_backend"]
