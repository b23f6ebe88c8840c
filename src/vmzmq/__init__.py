"""vmzmq: ZeroMQ in pure Python, at home on VM sockets.

``import vmzmq as zmq`` and code written for pyzmq runs unchanged: Context, Socket,
Poller, Frame, options, errors and constants with libzmq's values. Transports: tcp://,
ipc://, inproc://, and vmci:// / vsock:// (Linux AF_VSOCK).
"""

from __future__ import annotations

import logging as _logging
from enum import Enum as Enum  # pyzmq's namespace has the enum bases (from its constants)
from enum import IntEnum as IntEnum
from enum import IntFlag as IntFlag

# pyzmq's package layout too, for code that imports from it (``zmq.sugar.socket.Socket``,
# ``zmq.backend.zmq_poll``): the names there are vmzmq's own objects.
from . import backend as backend
from . import constants
from . import sugar as sugar
from . import vmci as vmci  # so vmzmq.vmci.get_local_cid() works after "import vmzmq"
from ._curve import curve_keypair, curve_public
from .backend import PYZMQ_DRAFT_API, zmq_poll
from .constants import *  # noqa: F403
from .context import Context
from .error import (
    Again,
    ContextTerminated,
    DraftFDWarning,
    InterruptedSystemCall,
    NotDone,
    ZMQBaseError,
    ZMQBindError,
    ZMQError,
    ZMQVersionError,
    strerror,
)
from .frame import _FINISHED_TRACKER, Frame, Message, MessageTracker
from .poll import Poller, select
from .proxy import device, proxy, proxy_steerable
from .socket import Socket
from .sugar.stopwatch import Stopwatch
from .sugar.version import (
    PYZMQ_API_VERSION as PYZMQ_API_VERSION,
)
from .sugar.version import (
    __revision__,
    __version__,
    pyzmq_version,
    pyzmq_version_info,
    vmzmq_version,
    zmq_version,
    zmq_version_info,
)

# The library logs on "vmzmq" and never prints; without this, its warnings would reach
# stderr through logging's last-resort handler in programs that configure no logging.
_logging.getLogger("vmzmq").addHandler(_logging.NullHandler())

SyncContext = Context
SyncSocket = Socket

#: The libzmq release whose behaviour vmzmq follows.
LIBZMQ_VERSION = zmq_version_info()


def get_includes() -> list[str]:
    """pyzmq's directories of C headers, for Cython extensions built against pyzmq and
    libzmq. vmzmq is pure Python and has none: an empty list."""
    return []


def get_library_dirs() -> list[str]:
    """pyzmq's directories holding its bundled libzmq. vmzmq has no libzmq: an empty list."""
    return []


def has(capability: str) -> bool:
    """Whether a capability is available here: "ipc", "vmci", "vsock", "hvsock", "curve"..."""
    from .transport import available_schemes

    if capability in ("ipc", "vmci", "vsock", "hvsock"):
        return capability in available_schemes()
    if capability == "curve":
        from ._curve import available

        return available()
    return False


def zmq_errno() -> int:
    return 0


def __getattr__(name: str) -> object:
    # ``vmzmq.devices`` without ``import vmzmq.devices``, and without loading it (and
    # multiprocessing) for every program that never uses a device.
    if name == "devices":
        import importlib

        return importlib.import_module(".devices", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Again",
    "Context",
    "ContextTerminated",
    "DraftFDWarning",
    "Frame",
    "InterruptedSystemCall",
    "Message",
    "MessageTracker",
    "NotDone",
    "PYZMQ_DRAFT_API",
    "Poller",
    "Socket",
    "Stopwatch",
    "SyncContext",
    "SyncSocket",
    "ZMQBaseError",
    "ZMQBindError",
    "ZMQError",
    "ZMQVersionError",
    "Enum",
    "IntEnum",
    "IntFlag",
    "_FINISHED_TRACKER",
    "__revision__",
    "__version__",
    "constants",
    "curve_keypair",
    "curve_public",
    "device",
    "get_includes",
    "has",
    "proxy",
    "proxy_steerable",
    "pyzmq_version",
    "vmzmq_version",
    "pyzmq_version_info",
    "select",
    "strerror",
    "zmq_errno",
    "zmq_poll",
    "zmq_version",
    "zmq_version_info",
    *constants.__all__,
]
