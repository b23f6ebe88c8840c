"""vmzmq: ZeroMQ in pure Python, at home on VM sockets.

``import vmzmq as zmq`` and code written for pyzmq runs unchanged: Context, Socket,
Poller, Frame, options, errors and constants with libzmq's values. Transports: tcp://,
ipc://, inproc://, and vmci:// / vsock:// (Linux AF_VSOCK).
"""

from __future__ import annotations

import logging as _logging

from . import constants
from . import vmci as vmci  # so vmzmq.vmci.get_local_cid() works after "import vmzmq"
from ._curve import curve_keypair, curve_public
from ._version import __version__
from .constants import *  # noqa: F403
from .context import Context
from .error import (
    Again,
    ContextTerminated,
    InterruptedSystemCall,
    NotDone,
    ZMQBaseError,
    ZMQBindError,
    ZMQError,
    ZMQVersionError,
    strerror,
)
from .frame import Frame, Message, MessageTracker
from .poll import Poller, select
from .proxy import device, proxy, proxy_steerable
from .socket import Socket

# The library logs on "vmzmq" and never prints; without this, its warnings would reach
# stderr through logging's last-resort handler in programs that configure no logging.
_logging.getLogger("vmzmq").addHandler(_logging.NullHandler())

SyncContext = Context
SyncSocket = Socket

#: The libzmq release whose behaviour vmzmq follows.
LIBZMQ_VERSION = (4, 3, 5)
#: The pyzmq API level vmzmq provides.
PYZMQ_API_VERSION = (27, 1, 0)


def zmq_version_info() -> tuple[int, int, int]:
    return LIBZMQ_VERSION


def zmq_version() -> str:
    return ".".join(map(str, LIBZMQ_VERSION))


def pyzmq_version_info() -> tuple[int, int, int]:
    return PYZMQ_API_VERSION


def pyzmq_version() -> str:
    return ".".join(map(str, PYZMQ_API_VERSION))


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
    "Frame",
    "InterruptedSystemCall",
    "Message",
    "MessageTracker",
    "NotDone",
    "Poller",
    "Socket",
    "SyncContext",
    "SyncSocket",
    "ZMQBaseError",
    "ZMQBindError",
    "ZMQError",
    "ZMQVersionError",
    "__version__",
    "constants",
    "curve_keypair",
    "curve_public",
    "device",
    "has",
    "proxy",
    "proxy_steerable",
    "pyzmq_version",
    "pyzmq_version_info",
    "select",
    "strerror",
    "zmq_errno",
    "zmq_version",
    "zmq_version_info",
    *constants.__all__,
]
