"""ZAP (RFC 27): the request a server mechanism sends its authenticator, and the reply check.

Sans-I/O like the rest of :mod:`vmzmq.zmtp`: a mechanism that needs a verdict sets its
``zap_request`` to a :class:`ZapRequest`; the engine turns it into frames with
:func:`request_frames`, carries them to ``inproc://zeromq.zap.01`` and hands the handler's
frames to :func:`parse_reply`, whose :class:`ZapReply` goes back to the mechanism.

The frames are libzmq's: an empty delimiter, "1.0", the request id, the domain, the peer's
address, our routing id, the mechanism name, then the credentials (PLAIN: username and
password; CURVE: the client's 32-octet long-term public key; NULL: none). The reply is exactly
the delimiter and six frames: "1.0", the same request id, a status code of 200, 300, 400 or
500, a status text, a user id and the metadata in ZMTP property format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .commands import parse_properties
from .errors import (
    ZAP_BAD_REQUEST_ID,
    ZAP_BAD_VERSION,
    ZAP_INVALID_METADATA,
    ZAP_INVALID_STATUS_CODE,
    ZAP_MALFORMED_REPLY,
    ZAP_UNSPECIFIED,
    ProtocolError,
)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_VERSION = b"1.0"
STATUS_CODES = (b"200", b"300", b"400", b"500")


@dataclass(frozen=True, slots=True)
class ZapRequest:
    """What a server mechanism asks the authenticator about (see the module docstring)."""

    mechanism: bytes
    credentials: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class ZapReply:
    status_code: bytes  # b"200", b"300", b"400" or b"500"
    status_text: bytes = b""
    user_id: bytes = b""
    metadata: dict[str, bytes] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status_code == b"200"

    @property
    def status(self) -> int:
        return int(self.status_code)


def request_frames(
    request: ZapRequest, request_id: bytes, domain: bytes, address: bytes, routing_id: bytes
) -> list[bytes]:
    """The request as a multipart message, delimiter first (the handler is a ROUTER or REP)."""
    return [
        b"",
        ZAP_VERSION,
        request_id,
        domain,
        address,
        routing_id,
        request.mechanism,
        *request.credentials,
    ]


def parse_reply(frames: Sequence[bytes], request_id: bytes) -> ZapReply:
    """Check a reply as libzmq does; ProtocolError with a ZAP_* code if it is not one."""
    if len(frames) != 7:
        raise ProtocolError(
            f"ZAP reply has {len(frames)} frames, not 7 (delimiter and six)", ZAP_MALFORMED_REPLY
        )
    delimiter, version, rid, status, text, user_id, metadata = (bytes(f) for f in frames)
    if delimiter:
        raise ProtocolError("ZAP reply does not start with an empty delimiter", ZAP_UNSPECIFIED)
    if version != ZAP_VERSION:
        raise ProtocolError(f"ZAP reply version {version!r} is not b'1.0'", ZAP_BAD_VERSION)
    if rid != request_id:
        raise ProtocolError(
            f"ZAP reply answers request {rid!r}, not {request_id!r}", ZAP_BAD_REQUEST_ID
        )
    if status not in STATUS_CODES:
        raise ProtocolError(f"ZAP status code {status!r} is not 200/300/400/500",
                            ZAP_INVALID_STATUS_CODE)
    try:
        props = parse_properties(metadata)
    except ProtocolError as exc:
        raise ProtocolError(f"ZAP reply metadata: {exc}", ZAP_INVALID_METADATA) from None
    return ZapReply(status, text, user_id, props)
