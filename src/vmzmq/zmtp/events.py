"""What :meth:`ZmtpConnection.receive` returns, besides data messages.

A data message is a plain ``list`` of ``bytes`` frames (or, with ``bare_single_frames``, a
one-frame message is just its ``bytes``), not one of these classes: it is the hot path, and
the engine tells it apart by type. Everything else is one of the small frozen classes below.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """Both sides are ready: messages may flow. Sent once, before any data message."""

    properties: dict[str, bytes]  # the peer's metadata, names as the peer spelled them
    peer_socket_type: str  # "" if the peer did not announce one (libzmq accepts that too)
    peer_minor: int  # 0: a ZMTP 3.0 or 2.0 peer; 1: 3.1 or later
    #: What the authenticator (ZAP) said about the peer: User-Id and its metadata. These
    #: take precedence over anything of the same name in ``properties``.
    auth: dict[str, bytes] = field(default_factory=dict)
    #: The protocol spoken: (3, 1), (3, 0), or (2, 0) for a ZMTP/2.0 peer.
    zmtp_version: tuple[int, int] = (3, 1)


@dataclass(frozen=True, slots=True)
class Subscribe:
    """A ZMTP 3.1 SUBSCRIBE command. (A 3.0 peer subscribes with a data message b"\\x01" +
    topic instead, which arrives as an ordinary message: the pattern layer decodes it.)"""

    topic: bytes


@dataclass(frozen=True, slots=True)
class Cancel:
    """A ZMTP 3.1 CANCEL command (3.0 peers send b"\\x00" + topic as a data message)."""

    topic: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """A heartbeat request: answer with ``encode_pong(context)``."""

    ttl: int  # deciseconds, as on the wire; 0 = no TTL
    context: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    context: bytes


@dataclass(frozen=True, slots=True)
class PeerError:
    """The peer sent ERROR: it is giving up on this connection. Close it, and (RFC 37) do not
    reconnect with the same credentials. Reported the same way during and after the handshake;
    after it, ``receive()`` ignores any further bytes."""

    reason: bytes
