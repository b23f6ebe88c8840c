"""vmzmq for gevent, as pyzmq's ``zmq.green``: ``import vmzmq.green as zmq``.

Everything :mod:`vmzmq` has, with ``Context``, ``Socket``, ``Poller``, ``select``, ``proxy``,
``proxy_steerable`` and ``device`` replaced by versions whose blocking calls block only the
calling greenlet: while one greenlet waits in ``recv``, ``send``, ``poll`` or a proxy, the
gevent hub runs the others. Waiting is done on each socket's wake-up file descriptor (the
``zmq.FD`` option) with gevent's own watchers; vmzmq's I/O thread does the network I/O.

gevent is needed for this module only (``import vmzmq`` never imports it).

gevent's full monkey patching (``gevent.monkey.patch_all()``, before or after importing
vmzmq) is fine: the I/O thread and the locks it shares with callers are the operating
system's, taken from gevent's saved originals (``vmzmq._native``), as libzmq's C threads are
out of the patcher's reach for pyzmq.
"""

from __future__ import annotations

try:
    import gevent as _gevent
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "vmzmq.green needs gevent, which is not installed: pip install gevent"
    ) from _exc

from .. import *  # noqa: F403
from .. import __all__ as _vmzmq_all
from .core import Context as Context
from .core import Socket as Socket
from .device import device as device
from .device import proxy as proxy
from .device import proxy_steerable as proxy_steerable
from .poll import Poller as Poller
from .poll import select as select

del _gevent

__all__ = list(_vmzmq_all)
