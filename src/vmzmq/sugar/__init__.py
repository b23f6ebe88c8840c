"""pyzmq's ``zmq.sugar``: the Python-level API, where pyzmq code sometimes imports it from.

Every name here is vmzmq's own object (``vmzmq.sugar.socket.Socket is vmzmq.Socket``), so
``isinstance`` checks and subclasses work whichever path the code uses.
"""

from __future__ import annotations

from .. import error as error
from ..error import (
    Again,
    ContextTerminated,
    DraftFDWarning,
    InterruptedSystemCall,
    NotDone,
    ZMQBaseError,
    ZMQBindError,
    ZMQError,
    ZMQVersionError,
)
from ..proxy import device

# The submodules as attributes, as in pyzmq (``zmq.sugar.socket.Socket``).
from . import attrsettr as attrsettr
from . import context as context
from . import frame as frame
from . import poll as poll
from . import socket as socket
from . import stopwatch as stopwatch
from . import tracker as tracker
from . import version as version
from .context import Context, SyncContext
from .frame import Frame, Message
from .poll import Poller, select
from .socket import Socket, SyncSocket
from .stopwatch import Stopwatch
from .tracker import _FINISHED_TRACKER, MessageTracker
from .version import (
    __revision__,
    __version__,
    pyzmq_version,
    pyzmq_version_info,
    zmq_version,
    zmq_version_info,
)

# As pyzmq's: names only (``from vmzmq.sugar import *`` must not bind "socket" or "select"
# to modules).
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
    "Poller",
    "Socket",
    "Stopwatch",
    "SyncContext",
    "SyncSocket",
    "ZMQBaseError",
    "ZMQBindError",
    "ZMQError",
    "ZMQVersionError",
    "_FINISHED_TRACKER",
    "__revision__",
    "__version__",
    "device",
    "pyzmq_version",
    "pyzmq_version_info",
    "select",
    "zmq_version",
    "zmq_version_info",
]
