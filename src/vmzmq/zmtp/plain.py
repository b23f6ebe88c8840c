"""RFC 24 PLAIN: a username and password in clear, checked by the authenticator (ZAP).

Client                           Server
  HELLO username password  -->
                                 (asks ZAP: PLAIN, username, password)
                           <--   WELCOME
  INITIATE metadata        -->
                           <--   READY metadata

PLAIN offers no confidentiality: use it on links that are private already (ipc, vmci between
a host and its own guests) or not at all. Like libzmq, a PLAIN server without a ZAP handler
fails every handshake: nobody would be checking the password.
"""

from __future__ import annotations

from collections.abc import Mapping

from .commands import READY, command_body, encode_properties, parse_properties, ready_body
from .errors import (
    ZMTP_MALFORMED_COMMAND_HELLO,
    ZMTP_MALFORMED_COMMAND_WELCOME,
    ZMTP_UNEXPECTED_COMMAND,
    ProtocolError,
)
from .mechanism import Mechanism
from .zap import ZapRequest

HELLO = b"HELLO"
WELCOME = b"WELCOME"
INITIATE = b"INITIATE"
CREDENTIAL_MAX = 255  # each travels behind a one-octet length


def hello_body(username: bytes, password: bytes) -> bytes:
    if len(username) > CREDENTIAL_MAX or len(password) > CREDENTIAL_MAX:
        raise ValueError("PLAIN username and password are at most 255 octets each")
    return command_body(
        HELLO, bytes((len(username),)) + username + bytes((len(password),)) + password
    )


def parse_hello(data: bytes) -> tuple[bytes, bytes]:
    """(username, password) of a HELLO's data; ProtocolError unless the sizes add up."""
    if not data:
        raise ProtocolError("malformed PLAIN HELLO: empty", ZMTP_MALFORMED_COMMAND_HELLO)
    ulen = data[0]
    if 1 + ulen >= len(data):
        raise ProtocolError("malformed PLAIN HELLO: truncated username",
                            ZMTP_MALFORMED_COMMAND_HELLO)
    plen = data[1 + ulen]
    if 2 + ulen + plen != len(data):
        raise ProtocolError("malformed PLAIN HELLO: password length does not match",
                            ZMTP_MALFORMED_COMMAND_HELLO)
    return data[1 : 1 + ulen], data[2 + ulen :]


class PlainMechanism(Mechanism):
    name = b"PLAIN"
    has_roles = True

    def __init__(self, *, as_server: bool, username: bytes = b"", password: bytes = b"") -> None:
        super().__init__()
        self._server = as_server
        self._username = bytes(username)
        self._password = bytes(password)
        self._properties: Mapping[str, bytes] = {}
        # What we wait for next: the command name, or b"" while the authenticator decides.
        self._expect = b""

    def start(self, *, as_server: bool, properties: Mapping[str, bytes]) -> list[bytes]:
        self._properties = properties
        encode_properties(properties)
        if self._server:
            self._expect = HELLO
            return []
        self._expect = WELCOME
        return [hello_body(self._username, self._password)]

    def process_command(self, name: bytes, data: bytes) -> list[bytes]:
        if name != self._expect:
            raise ProtocolError(
                f"unexpected {name!r} command in the PLAIN handshake "
                f"(expected {self._expect.decode() or 'nothing while the authenticator decides'})",
                ZMTP_UNEXPECTED_COMMAND,
            )
        if name == HELLO:
            username, password = parse_hello(data)
            self._expect = b""
            self.zap_request = ZapRequest(b"PLAIN", (username, password))
            return []
        if name == WELCOME:
            if data:
                raise ProtocolError("malformed PLAIN WELCOME: it carries data",
                                    ZMTP_MALFORMED_COMMAND_WELCOME)
            self._expect = READY
            return [command_body(INITIATE, encode_properties(self._properties))]
        if name == INITIATE:
            self.peer_properties = parse_properties(data)
            self._expect = b"-"  # nothing more
            self.complete = True
            return [ready_body(self._properties)]
        # READY, on the client
        self.peer_properties = parse_properties(data)
        self._expect = b"-"
        self.complete = True
        return []

    def _zap_accepted(self) -> list[bytes]:
        self._expect = INITIATE
        return [command_body(WELCOME)]
