"""pyzmq's ``zmq.backend``: the low-level names pyzmq's backends (cython, cffi) provide.

vmzmq has one implementation, so these are its own objects: ``vmzmq.backend.Socket is
vmzmq.Socket``. :func:`zmq_poll` is libzmq's poll over sockets and file descriptors, with
the :class:`vmzmq.Poller` underneath.
"""

from __future__ import annotations

from typing import Any

from .._curve import curve_keypair, curve_public
from ..constants import IPC_PATH_MAX_LEN
from ..context import Context
from ..error import strerror
from ..frame import Frame, Message
from ..proxy import proxy, proxy_steerable
from ..socket import Socket
from ..sugar.version import zmq_version_info
from .select import public_api

#: Whether the draft API (SERVER/CLIENT, RADIO/DISH, ...) was built in: never, in vmzmq.
PYZMQ_DRAFT_API = False


def zmq_errno() -> int:
    """libzmq's last error number. vmzmq raises its errors with their number and keeps no
    such state: always 0."""
    return 0


def has(capability: str) -> bool:
    """Whether a capability is available here: "ipc", "vmci", "vsock", "hvsock", "curve"
    (libzmq's names for what vmzmq lacks, "pgm", "norm", "draft", "gssapi"..., are False)."""
    from .. import has as _has

    return _has(capability)


def zmq_poll(sockets: Any, timeout: int | None = -1) -> list[tuple[Any, int]]:
    """libzmq's zmq_poll: wait up to ``timeout`` ms (negative or None: no limit) for the
    events of ``sockets``, a sequence of ``(socket or fd or object with fileno(), events)``.
    Returns ``(socket, events)`` for each ready vmzmq socket and ``(fd, events)`` for each
    ready file descriptor, in the order given. A signal that interrupts the wait is handled
    and the wait resumes (pyzmq's retry on EINTR)."""
    from ..poll import Poller

    items = list(sockets)
    if not items:
        return []
    poller = Poller()
    keys = []
    for item in items:
        sock, events = item
        if isinstance(sock, Socket):
            key = sock
        elif isinstance(sock, int):
            key = sock
        elif hasattr(sock, "fileno"):
            try:
                key = int(sock.fileno())
            except Exception:
                raise ValueError("fileno() must return a valid integer fd") from None
        else:
            raise TypeError(
                "Socket must be a 0MQ socket, an integer fd or have "
                f"a fileno() method: {sock!r}"
            )
        flags = int(events)
        if key in poller:
            flags |= dict(poller.sockets)[key]
        poller.register(key, flags)
        keys.append(key)
    ready = dict(poller.poll(None if timeout is None or timeout < 0 else timeout))
    out = []
    seen = set()
    for key in keys:
        events = ready.get(key, 0)
        marker = id(key) if isinstance(key, Socket) else ("fd", key)
        if events and marker not in seen:
            seen.add(marker)
            out.append((key, events))
    return out


def __getattr__(name: str) -> Any:
    # Loaded on first use, as ``vmzmq.devices`` is (it is a device, with its dependencies).
    if name == "monitored_queue":
        from ..devices.monitoredqueue import monitored_queue

        return monitored_queue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [  # pyzmq's public_api (see .select), spelled out
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
assert __all__ == public_api
