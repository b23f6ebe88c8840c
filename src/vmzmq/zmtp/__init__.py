"""Sans-I/O ZMTP 3.x: greeting, handshake, mechanisms, framing and commands.

Bytes in, events out; never a socket, a clock, a thread or a log line. The engine drives one
:class:`ZmtpConnection` per stream connection; see :mod:`.connection` for the flow.
"""

from .commands import get_property
from .connection import INVALID_SOCKET_TYPE, State, ZmtpConnection
from .errors import ProtocolError
from .events import Cancel, HandshakeComplete, PeerError, Ping, Pong, Subscribe
from .frames import FLAG_LONG, LARGE_FRAME, SHORT_HEADERS, FrameDecoder
from .greeting import GREETING_SIZE, Greeting, build_greeting, parse_greeting
from .mechanism import Mechanism, NullMechanism
from .socket_types import SOCKET_TYPES, compatible

__all__ = [
    "FLAG_LONG",
    "GREETING_SIZE",
    "INVALID_SOCKET_TYPE",
    "LARGE_FRAME",
    "SHORT_HEADERS",
    "SOCKET_TYPES",
    "Cancel",
    "FrameDecoder",
    "Greeting",
    "HandshakeComplete",
    "Mechanism",
    "NullMechanism",
    "PeerError",
    "Ping",
    "Pong",
    "ProtocolError",
    "State",
    "Subscribe",
    "ZmtpConnection",
    "build_greeting",
    "compatible",
    "get_property",
    "parse_greeting",
]
