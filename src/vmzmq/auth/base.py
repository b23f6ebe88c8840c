"""The ZAP handler (ZeroMQ RFC 27), as pyzmq's ``zmq.auth.base``.

A server socket with a security mechanism (``plain_server``, ``curve_server``, or a
``zap_domain`` for NULL) asks the handler bound at ``inproc://zeromq.zap.01`` in its context
whether each new peer may connect. :class:`Authenticator` is that handler's policy:

* address lists: ``allow(*addresses)`` admits only those; ``deny(*addresses)`` refuses those
  (one or the other, not both). A refused address is refused whatever its credentials;
* NULL peers are admitted unless their address is refused;
* PLAIN: ``configure_plain(domain, {username: password})``;
* CURVE: ``configure_curve(domain, directory)`` trusts the public keys of the certificates in
  ``directory`` (``*.key`` files, see :mod:`vmzmq.auth.certs`), ``configure_curve(domain,
  CURVE_ALLOW_ANY)`` any key, ``configure_curve_callback(domain, provider)`` asks
  ``provider.callback(domain, z85_key)`` (True, False, or an awaitable of either).

``Authenticator`` itself only answers what it is given: ``await
auth.handle_zap_message(auth.zap_socket.recv_multipart())``. :mod:`vmzmq.auth.thread` runs it
in a thread, :mod:`vmzmq.auth.asyncio` on an event loop.

Differences from pyzmq, on purpose:

* The ZAP socket is a ROUTER, not a REP, so a request that cannot be answered (no request id)
  is dropped without wedging the socket, and ``handle_zap_message`` takes the request as that
  socket delivers it: the routing envelope, the empty delimiter, then the RFC 27 frames.
* Nothing goes wrong in the handler that kills it: a malformed request is answered "400" (or
  dropped, when it has no request id), and a failing credentials callback or
  ``curve_user_id`` is answered "500".
* Passwords, and credentials in general, are never logged; passwords are compared in constant
  time, as bytes, so text that is not valid in ``encoding`` matches nothing.
* GSSAPI is refused (``configure_gssapi`` raises, GSSAPI requests are answered "400"): vmzmq
  has no GSSAPI mechanism. So are mechanisms the handler does not know, even from an allowed
  address, where pyzmq would admit them.
* A CURVE request whose key is not 32 bytes is answered "400" (pyzmq's handler raised).
"""

from __future__ import annotations

import errno
import hmac
import inspect
import logging
import os
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..error import with_detail
from ..utils import z85
from .certs import load_certificates

if TYPE_CHECKING:
    from ..context import Context
    from ..socket import Socket

    # What ``log=`` may be: a logger, or an adapter of one (of an adapter, ...).
    _Log = logging.Logger | logging.LoggerAdapter[Any]

    class _CredentialsProvider(Protocol):
        """What ``configure_curve_callback`` takes: ``callback(domain, z85_key)`` says
        whether the key may connect, at once or through an awaitable."""

        def callback(self, domain: str, key: bytes, /) -> bool | Awaitable[bool]: ...

__all__ = ["CURVE_ALLOW_ANY", "Authenticator"]

#: ``configure_curve(domain, CURVE_ALLOW_ANY)``: admit every CURVE client key.
CURVE_ALLOW_ANY = "*"
#: The ZAP protocol version this handler speaks.
VERSION = b"1.0"
#: Where libzmq (and vmzmq) server sockets send their ZAP requests.
ZAP_ENDPOINT = "inproc://zeromq.zap.01"

_ROUTER = 6

# (status code, status text, user id)
_Verdict = tuple[bytes, bytes, str | bytes]


class Authenticator:
    """A ZAP handler for the sockets of ``context`` (default: ``vmzmq.Context.instance()``).

    Until a policy is configured, NULL peers are admitted and PLAIN and CURVE peers refused.
    ``start()`` binds the ZAP socket; ``stop()`` closes it.
    """

    context: Context[Any]
    encoding: str
    allow_any: bool
    credentials_providers: dict[str, _CredentialsProvider]
    zap_socket: Socket[bytes] | None
    passwords: dict[str, dict[str, str]]
    certs: dict[str, dict[bytes, bool]]
    log: _Log

    def __init__(
        self, context: Context[Any] | None = None, encoding: str = "utf-8", log: _Log | None = None
    ) -> None:
        if context is None:
            from ..context import Context

            context = Context.instance()
        self.context = context
        self.encoding = encoding
        self.allow_any = False
        self.credentials_providers = {}
        self.zap_socket = None
        self._allowed: set[str] = set()
        self._denied: set[str] = set()
        self.passwords = {}  # domain -> {username: password}
        self.certs = {}  # domain -> {z85 public key: True}
        self.log = log or logging.getLogger("vmzmq.auth")

    # -- lifetime --------------------------------------------------------------------------------
    def start(self) -> None:
        """Bind the ZAP socket (a ROUTER) at ``inproc://zeromq.zap.01``."""
        from ..socket import Socket

        sock = self.context.socket(_ROUTER, socket_class=Socket)
        sock.linger = 1
        try:
            sock.bind(ZAP_ENDPOINT)
        except BaseException:
            sock.close(linger=0)
            raise
        self.zap_socket = sock
        self.log.debug("ZAP handler bound at %s", ZAP_ENDPOINT)

    def stop(self) -> None:
        """Close the ZAP socket."""
        if self.zap_socket is not None:
            self.zap_socket.close()
        self.zap_socket = None

    # -- policy ----------------------------------------------------------------------------------
    def allow(self, *addresses: str) -> None:
        """Admit connections from these IP addresses only (to go on to authenticate with
        their mechanism). Not together with :meth:`deny`."""
        if self._denied:
            raise ValueError("use allow() or deny(), not both")
        self.log.debug("allowing %s", ", ".join(addresses))
        self._allowed.update(addresses)

    def deny(self, *addresses: str) -> None:
        """Refuse connections from these IP addresses. Not together with :meth:`allow`."""
        if self._allowed:
            raise ValueError("use allow() or deny(), not both")
        self.log.debug("denying %s", ", ".join(addresses))
        self._denied.update(addresses)

    def configure_plain(self, domain: str = "*", passwords: dict[str, str] | None = None) -> None:
        """PLAIN for ``domain`` ("*": requests that name no domain): ``{username:
        password}``. Replaces that domain's passwords; an empty or None dict changes
        nothing (as pyzmq)."""
        if passwords:
            self.passwords[domain] = passwords
        self.log.debug("PLAIN configured for domain %r", domain)

    def configure_curve(self, domain: str = "*", location: str | os.PathLike[str] = ".") -> None:
        """CURVE for ``domain``: trust the public keys of the ``*.key`` certificates in the
        directory ``location``, read now (call again after changing it), or every key with
        ``CURVE_ALLOW_ANY`` (which, as in pyzmq, applies to every domain).

        A directory that cannot be read is logged as an error and changes nothing."""
        self.log.debug("CURVE configured for domain %r: %s", domain, location)
        if location == CURVE_ALLOW_ANY:
            self.allow_any = True
            return
        self.allow_any = False
        try:
            self.certs[domain] = load_certificates(location)
        except Exception as exc:
            self.log.error("cannot load CURVE certificates from %s: %s", location, exc)

    def configure_curve_callback(
        self, domain: str = "*", credentials_provider: _CredentialsProvider | None = None
    ) -> None:
        """CURVE for ``domain``: ``credentials_provider.callback(domain, z85_public_key)``
        decides (True/False, or an awaitable of either). Once any callback is configured,
        certificate directories are no longer consulted (as in pyzmq)."""
        self.allow_any = False
        if credentials_provider is None:
            self.log.error("configure_curve_callback: no credentials provider for %r", domain)
            return
        self.credentials_providers[domain] = credentials_provider

    def configure_gssapi(self, domain: str = "*", location: str | None = None) -> None:
        """Refused: vmzmq has no GSSAPI mechanism."""
        raise with_detail(errno.ENOTSUP, "GSSAPI is not supported by vmzmq")

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The User-Id of an admitted CURVE client (its key in Z85). Override to map keys
        to names."""
        return z85.encode(client_public_key).decode("ascii")

    # -- requests --------------------------------------------------------------------------------
    async def handle_zap_message(self, msg: Sequence[bytes]) -> None:
        """Answer one ZAP request, as received from :attr:`zap_socket`: routing id(s), an
        empty delimiter, then version, request id, domain, address, identity, mechanism and
        the mechanism's credentials."""
        frames = [f if isinstance(f, bytes) else bytes(f) for f in msg]
        try:
            delimiter = frames.index(b"")
        except ValueError:
            delimiter = 0
        if delimiter == 0:
            self.log.error(
                "ZAP request without a routing envelope (%d frames): dropped", len(frames)
            )
            return
        envelope, body = frames[: delimiter + 1], frames[delimiter + 1 :]
        if len(body) < 6:
            if len(body) < 2:
                self.log.error("ZAP request of %d frames has no request id: dropped", len(body))
                return
            self.log.error("ZAP request of %d frames, 6 or more needed", len(body))
            self._send_zap_reply(envelope, body[1], b"400", b"Not enough frames")
            return
        version, request_id, raw_domain, raw_address, _identity, mechanism = body[:6]
        if version != VERSION:
            self.log.error("ZAP request of version %r, not %r", version[:16], VERSION)
            self._send_zap_reply(envelope, request_id, b"400", b"Invalid version")
            return
        domain = raw_domain.decode(self.encoding, "replace")
        address = raw_address.decode(self.encoding, "replace")
        self.log.debug(
            "ZAP request %r: domain %r, address %r, mechanism %r",
            request_id,
            domain,
            address,
            mechanism,
        )
        try:
            code, text, user_id = await self._verdict(domain, address, mechanism, body[6:])
        except Exception:
            # A failing callback or override must not take the handler down with it.
            self.log.exception("ZAP request %r: the handler failed", request_id)
            code, text, user_id = b"500", b"Internal error", b""
        self._send_zap_reply(envelope, request_id, code, text, user_id)

    async def _verdict(
        self, domain: str, address: str, mechanism: bytes, credentials: list[bytes]
    ) -> _Verdict:
        allowed = False
        reason = b"NO ACCESS"
        if self._allowed:
            if address not in self._allowed:
                self.log.debug("DENIED (not allowed) address %s", address)
                return b"400", b"Address not allowed", b""
            allowed = True
        elif self._denied:
            if address in self._denied:
                self.log.debug("DENIED (denied) address %s", address)
                return b"400", b"Address denied", b""
            allowed = True

        user_id: str | bytes = "anonymous"
        if mechanism == b"NULL":
            allowed = True
        elif mechanism == b"PLAIN":
            if len(credentials) != 2:
                self.log.error("PLAIN request with %d credential frames, not 2", len(credentials))
                return b"400", b"Invalid credentials", b""
            try:
                username, password = (c.decode(self.encoding) for c in credentials)
            except UnicodeDecodeError:
                self.log.debug("DENIED (PLAIN) credentials not in %s", self.encoding)
                return b"400", b"Invalid credentials", b""
            allowed, reason = self._authenticate_plain(domain, username, password)
            user_id = username
        elif mechanism == b"CURVE":
            if len(credentials) != 1 or len(credentials[0]) != 32:
                self.log.error("CURVE request without a 32-byte client key")
                return b"400", b"Invalid credentials", b""
            key = credentials[0]
            allowed, reason = await self._authenticate_curve(domain, key)
            if allowed:
                user_id = self.curve_user_id(key)
        elif mechanism == b"GSSAPI":
            self.log.error("GSSAPI request refused: vmzmq has no GSSAPI mechanism")
            return b"400", b"GSSAPI is not supported", b""
        else:
            self.log.error("ZAP request for unknown mechanism %r refused", mechanism[:32])
            return b"400", b"Unsupported mechanism", b""
        if allowed:
            return b"200", b"OK", user_id
        return b"400", reason, b""

    def _authenticate_plain(self, domain: str, username: str, password: str) -> tuple[bool, bytes]:
        if not self.passwords:
            self.log.debug("DENIED (PLAIN) no passwords configured")
            return False, b"No passwords defined"
        domain = domain or "*"
        users = self.passwords.get(domain)
        if users is None:
            self.log.debug("DENIED (PLAIN) unknown domain %r", domain)
            return False, b"Invalid domain"
        if username not in users:
            self.log.debug("DENIED (PLAIN) unknown user %r in domain %r", username, domain)
            return False, b"Invalid username"
        # (Passwords given as bytes work too, as they do in pyzmq.)
        expected: str | bytes = users[username]
        if isinstance(expected, str):
            expected = expected.encode(self.encoding)
        if not hmac.compare_digest(bytes(expected), password.encode(self.encoding)):
            self.log.debug("DENIED (PLAIN) wrong password for %r in domain %r", username, domain)
            return False, b"Invalid password"
        self.log.debug("ALLOWED (PLAIN) user %r in domain %r", username, domain)
        return True, b"OK"

    async def _authenticate_curve(self, domain: str, client_key: bytes) -> tuple[bool, bytes]:
        if self.allow_any:
            self.log.debug("ALLOWED (CURVE, any key)")
            return True, b"OK"
        domain = domain or "*"
        z85_key = z85.encode(client_key)
        if self.credentials_providers:
            provider = self.credentials_providers.get(domain)
            if provider is None:
                return False, b"Unknown domain"
            verdict = provider.callback(domain, z85_key)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            allowed = bool(verdict)
            self.log.debug(
                "%s (CURVE callback) domain %r key %s",
                "ALLOWED" if allowed else "DENIED",
                domain,
                z85_key,
            )
            return (True, b"OK") if allowed else (False, b"Unknown key")
        keys = self.certs.get(domain)
        if keys is None:
            return False, b"Unknown domain"
        allowed = bool(keys.get(z85_key))
        self.log.debug(
            "%s (CURVE) domain %r key %s", "ALLOWED" if allowed else "DENIED", domain, z85_key
        )
        return (True, b"OK") if allowed else (False, b"Unknown key")

    def _send_zap_reply(
        self,
        envelope: list[bytes],
        request_id: bytes,
        status_code: bytes,
        status_text: bytes,
        user_id: str | bytes = b"",
    ) -> None:
        if status_code != b"200":
            user_id = b""
        elif isinstance(user_id, str):
            user_id = user_id.encode(self.encoding, "replace")
        self.log.debug("ZAP reply %r: %s %s", request_id, status_code.decode(), status_text)
        if self.zap_socket is None:
            self.log.error("ZAP reply %r not sent: the handler is stopped", request_id)
            return
        # No metadata: the reply's last frame is an empty property list.
        self.zap_socket.send_multipart(
            [*envelope, VERSION, request_id, status_code, status_text, user_id, b""]
        )
