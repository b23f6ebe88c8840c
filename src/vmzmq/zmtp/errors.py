"""The one exception the codec raises when the peer breaks the protocol.

Whatever bytes arrive, :meth:`ZmtpConnection.receive` raises :class:`ProtocolError` and nothing
else. The engine's answer is always the same (send ``data_to_send()``, then close), so one class
is enough; the ``code`` attribute tells monitors *why* with libzmq's numbers, which is what
``ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`` reports as its value.
"""

from __future__ import annotations

from typing import Any

# libzmq's ZMQ_PROTOCOL_ERROR_* values (zmq.h), so monitor events carry the numbers pyzmq users
# already compare against.
ZMTP_UNSPECIFIED = 0x10000000
ZMTP_UNEXPECTED_COMMAND = 0x10000001
ZMTP_INVALID_SEQUENCE = 0x10000002
ZMTP_KEY_EXCHANGE = 0x10000003
ZMTP_MALFORMED_COMMAND_UNSPECIFIED = 0x10000011
ZMTP_MALFORMED_COMMAND_MESSAGE = 0x10000012
ZMTP_MALFORMED_COMMAND_HELLO = 0x10000013
ZMTP_MALFORMED_COMMAND_INITIATE = 0x10000014
ZMTP_MALFORMED_COMMAND_ERROR = 0x10000015
ZMTP_MALFORMED_COMMAND_READY = 0x10000016
ZMTP_MALFORMED_COMMAND_WELCOME = 0x10000017
ZMTP_INVALID_METADATA = 0x10000018
ZMTP_CRYPTOGRAPHIC = 0x11000001
ZMTP_MECHANISM_MISMATCH = 0x11000002


class ProtocolError(Exception):
    """The peer sent something ZMTP does not allow; the connection must be closed.

    ``code`` is one of the ``ZMTP_*`` constants of this module. ``error_reason``, when not
    ``None``, asks the connection to send the peer an ERROR command with that reason before it
    closes (a mechanism raises it this way to refuse a handshake politely).
    ``events`` holds what was decoded from the same ``receive()`` call before the error, so the
    engine can still deliver the messages that arrived intact.
    """

    code: int
    error_reason: bytes | None
    events: list[Any]

    def __init__(
        self, message: str, code: int = ZMTP_UNSPECIFIED, error_reason: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.error_reason = error_reason
        self.events = []

# ZAP (RFC 27) reply errors, libzmq's ZMQ_PROTOCOL_ERROR_ZAP_* values.
ZAP_UNSPECIFIED = 0x20000000
ZAP_MALFORMED_REPLY = 0x20000001
ZAP_BAD_REQUEST_ID = 0x20000002
ZAP_BAD_VERSION = 0x20000003
ZAP_INVALID_STATUS_CODE = 0x20000004
ZAP_INVALID_METADATA = 0x20000005


class AuthFailed(ProtocolError):
    """The authenticator refused the peer, or none was there to ask when one is required.

    ``status`` is the ZAP status (300, 400, 500), reported as ``HANDSHAKE_FAILED_AUTH``; 0 means
    no handler answered where one is required (``HANDSHAKE_FAILED_NO_DETAIL``, errno EFAULT, as
    libzmq). A 400/500 refusal carries the status code as the ERROR reason for the peer; a 300
    (temporary) one sends nothing (RFC 26: the client is silently disconnected).
    """

    def __init__(self, message: str, status: int) -> None:
        reason = str(status).encode() if status in (400, 500) else None
        super().__init__(message, 0, error_reason=reason)
        self.status = status
