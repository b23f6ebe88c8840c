"""The ``tcp://`` transport.

Endpoints::

    bind     tcp://*:PORT  tcp://[::]:PORT  tcp://127.0.0.1:PORT  tcp://[::1]:PORT  tcp://host:PORT
             PORT is 1..65535, or '*' / 0 for an ephemeral port
    connect  tcp://host:PORT (1..65535)   tcp://SOURCE;host:PORT  (SOURCE is bind-style)

Parsing is stricter than libzmq's ``atoi``: the port must be ASCII digits within 0..65535
(libzmq takes ``12x`` as 12 and ``70000`` as 4464). Host names are resolved when the socket is
made -- at bind time for a listener, on every attempt for a connecter -- the way libzmq
resolves them: IPv4 only unless ZMQ_IPV6 is set, then IPv6 with IPv4-mapped results, so
``127.0.0.1`` binds as ``[::ffff:127.0.0.1]``. Unlike libzmq, an IPv6 literal works without
ZMQ_IPV6 (libzmq fails with ENODEV on bind), and bind accepts host names (modern libzmq only
takes literals and interface names; interface names are not supported here).

Socket options: SO_REUSEADDR on listeners (as libzmq on POSIX); ZMQ_BACKLOG; ZMQ_SNDBUF,
ZMQ_RCVBUF, ZMQ_TOS, ZMQ_PRIORITY and ZMQ_BINDTODEVICE before bind/connect (accepted sockets
inherit them); TCP_NODELAY, ZMQ_TCP_KEEPALIVE* (and TOS/PRIORITY again) on every connection.

Errors: a malformed endpoint is EINVAL at parse time; a bind host that does not resolve is
ENODEV (as libzmq); a connect host that does not resolve is EHOSTUNREACH from :meth:`connect`
(retryable: DNS may come back); kernel errors keep their errno. A refused connect is
ECONNREFUSED (:meth:`TcpTransport.is_refusal`).
"""

from __future__ import annotations

import errno
import re
import socket
from dataclasses import dataclass
from typing import Any

from ..error import with_detail
from .sockopts import apply_buffer_sizes

__all__ = ["TRANSPORT", "TcpEndpoint", "TcpTransport", "format_sockaddr"]

_PORT_MAX = 65535
_DECIMAL = re.compile(r"[0-9]+")
# Host names, IPv4 literals and (inside brackets) IPv6 literals with an optional %zone.
_HOST_CHARS = re.compile(r"[A-Za-z0-9._\-:%]+")


@dataclass(frozen=True)
class TcpEndpoint:
    """A parsed ``tcp://`` address. ``host`` has no brackets; ``*`` is the wildcard."""

    host: str
    port: int  # 0 = ephemeral (bind and connect sources only)
    source: TcpEndpoint | None = None  # connect's "source;destination" form

    def text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _is_ipv6_literal(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
    except (OSError, ValueError):
        return False
    return True


def _parse_hostport(endpoint: str, text: str, *, bindable: bool) -> TcpEndpoint:
    host, colon, port_text = text.rpartition(":")
    if not colon:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has no ':' before the port")
    if not host:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has an empty host before ':'")
    if not port_text:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has an empty port after ':'")

    if host.startswith("[") or host.endswith("]"):
        if not (host.startswith("[") and host.endswith("]") and len(host) > 2):
            raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has unbalanced brackets")
        host = host[1:-1]
        if host != "*" and not _is_ipv6_literal(host):
            raise with_detail(
                errno.EINVAL,
                f"endpoint '{endpoint}' has '{host}' in brackets, which is not an IPv6 address",
            )
    if host == "*":
        if not bindable:
            raise with_detail(
                errno.EINVAL,
                f"endpoint '{endpoint}': connect needs a host, not the wildcard '*'",
            )
    elif not _HOST_CHARS.fullmatch(host):
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has an invalid host '{host}'")
    elif ":" in host and not _is_ipv6_literal(host):
        raise with_detail(
            errno.EINVAL, f"endpoint '{endpoint}' has an invalid IPv6 address '{host}'"
        )

    if port_text == "*":
        port = 0
    elif _DECIMAL.fullmatch(port_text) and int(port_text.lstrip("0") or "0") <= _PORT_MAX:
        port = int(port_text)
    else:
        raise with_detail(
            errno.EINVAL,
            f"endpoint '{endpoint}' has an invalid port '{port_text}': expected a decimal "
            f"number 0..{_PORT_MAX}" + (" or '*'" if bindable else ""),
        )
    if port == 0 and not bindable:
        raise with_detail(
            errno.EINVAL,
            f"endpoint '{endpoint}': connect needs a port, not '{port_text}' (an ephemeral port)",
        )
    return TcpEndpoint(host=host, port=port)


def _resolve(
    endpoint: str, host: str, port: int, ipv6: bool, *, passive: bool
) -> tuple[int, tuple[Any, ...]]:
    """(family, sockaddr) for a host, following libzmq's choice of family."""
    if host == "*":
        if ipv6:
            return socket.AF_INET6, ("::", port, 0, 0)
        return socket.AF_INET, ("0.0.0.0", port)
    flags = socket.AI_PASSIVE if passive else 0
    if _is_ipv6_literal(host):
        family = socket.AF_INET6
    elif ipv6:
        # As libzmq: one IPv6 socket that also carries IPv4 (mapped) peers.
        family = socket.AF_INET6
        flags |= socket.AI_V4MAPPED
    else:
        family = socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, flags)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if passive:
            raise with_detail(
                errno.ENODEV, f"endpoint '{endpoint}': cannot resolve '{host}' ({reason})"
            ) from None
        raise with_detail(
            errno.EHOSTUNREACH, f"endpoint '{endpoint}': cannot resolve '{host}' ({reason})"
        ) from None
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, sockaddr


def format_sockaddr(scheme: str, sockaddr: tuple[Any, ...]) -> str:
    """libzmq's LAST_ENDPOINT text: ``tcp://1.2.3.4:5`` or ``tcp://[::1]:5``."""
    host, port = sockaddr[0], sockaddr[1]
    if ":" in host:
        return f"{scheme}://[{host}]:{port}"
    return f"{scheme}://{host}:{port}"


def _sockerr(exc: OSError, what: str) -> Exception:
    return with_detail(exc.errno or errno.EIO, what)


def _prepare(sock: socket.socket, opts: Any, endpoint: str) -> None:
    """Options that must be set before bind/connect (listeners pass them to accepted sockets)."""
    try:
        device = getattr(opts, "bindtodevice", b"") or b""
        if device:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, bytes(device))
        apply_buffer_sizes(sock, opts)
        _set_tos_priority(sock, opts)
    except OSError as exc:
        raise _sockerr(
            exc, f"cannot apply ZMQ_BINDTODEVICE/SNDBUF/RCVBUF/TOS/PRIORITY for '{endpoint}'"
        ) from None


def _set_tos_priority(sock: socket.socket, opts: Any) -> None:
    tos = getattr(opts, "tos", 0) or 0
    if tos:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
    priority = getattr(opts, "priority", 0) or 0
    if priority:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, priority)


def _new_socket(family: int, endpoint: str) -> socket.socket:
    try:
        return socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise _sockerr(exc, f"cannot create a socket for '{endpoint}'") from None


class TcpTransport:
    """``tcp://`` for the engine (see ``transport.StreamTransport``)."""

    schemes: tuple[str, ...] = ("tcp",)

    def available(self) -> bool:
        return True

    def parse_bind(self, scheme: str, address: str) -> TcpEndpoint:
        return _parse_hostport(f"{scheme}://{address}", address, bindable=True)

    def parse_connect(self, scheme: str, address: str) -> TcpEndpoint:
        endpoint = f"{scheme}://{address}"
        source_text, semi, destination = address.rpartition(";")
        if not semi:
            return _parse_hostport(endpoint, address, bindable=False)
        if not source_text or ";" in source_text:
            raise with_detail(
                errno.EINVAL,
                f"endpoint '{endpoint}' should be 'source;destination' with one ';'",
            )
        source = _parse_hostport(endpoint, source_text, bindable=True)
        target = _parse_hostport(endpoint, destination, bindable=False)
        return TcpEndpoint(host=target.host, port=target.port, source=source)

    def listen(self, target: TcpEndpoint, opts: Any) -> tuple[socket.socket, str]:
        endpoint = f"tcp://{target.text()}"
        ipv6 = bool(getattr(opts, "ipv6", 0))
        family, sockaddr = _resolve(endpoint, target.host, target.port, ipv6, passive=True)
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            if not (exc.errno == errno.EAFNOSUPPORT and target.host == "*" and ipv6):
                raise _sockerr(exc, f"cannot create a socket for '{endpoint}'") from None
            # As libzmq: a kernel without IPv6 still binds the IPv4 wildcard.
            family, sockaddr = socket.AF_INET, ("0.0.0.0", target.port)
            sock = _new_socket(family, endpoint)
        try:
            try:
                # As libzmq on POSIX: a restarted server can rebind a port in TIME_WAIT.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except OSError as exc:
                raise _sockerr(exc, f"cannot prepare a socket for '{endpoint}'") from None
            # Accepted sockets inherit the buffer sizes, which also size the TCP window.
            _prepare(sock, opts, endpoint)
            try:
                sock.bind(sockaddr)
                sock.listen(getattr(opts, "backlog", 100))
            except OSError as exc:
                raise _sockerr(exc, f"cannot bind '{endpoint}'") from None
            sock.setblocking(False)
            last = format_sockaddr("tcp", sock.getsockname())
        except BaseException:
            sock.close()
            raise
        return sock, last

    def unlisten(self, sock: socket.socket, endpoint: str) -> None:
        sock.close()

    def connect(self, target: TcpEndpoint, opts: Any) -> socket.socket:
        endpoint = f"tcp://{target.text()}"
        ipv6 = bool(getattr(opts, "ipv6", 0))
        family, sockaddr = _resolve(endpoint, target.host, target.port, ipv6, passive=False)
        sock = _new_socket(family, endpoint)
        try:
            _prepare(sock, opts, endpoint)
            if target.source is not None:
                src = target.source
                src_family, src_addr = _resolve(endpoint, src.host, src.port, ipv6, passive=True)
                if src_family != family:
                    if family == socket.AF_INET6 and src_family == socket.AF_INET:
                        # An IPv6 socket can only bind an IPv4 source in its mapped form.
                        src_addr = ("::ffff:" + src_addr[0], src_addr[1], 0, 0)
                    else:
                        raise with_detail(
                            errno.EINVAL,
                            f"endpoint '{endpoint}': source and destination are of "
                            "different address families",
                        )
                try:
                    # As libzmq: lets many connections share one source port.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind(src_addr)
                except OSError as exc:
                    raise _sockerr(exc, f"cannot bind the source address of '{endpoint}'") from None
            sock.setblocking(False)
            err = sock.connect_ex(sockaddr)
            if err not in (0, errno.EINPROGRESS):
                raise with_detail(err, f"cannot connect to '{endpoint}'")
        except BaseException:
            sock.close()
            raise
        return sock

    def connected(self, sock: socket.socket, opts: Any) -> None:
        """Non-blocking, TCP_NODELAY, keepalive, TOS, priority; the kernel's refusal is an
        OSError (the engine logs it and goes on)."""
        # An accepted Python socket starts blocking whatever the listener is.
        sock.setblocking(False)
        # As libzmq: ZMTP sends small frames that must not wait for Nagle.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        keepalive = getattr(opts, "tcp_keepalive", -1)
        if keepalive is not None and keepalive != -1:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if keepalive else 0)
            # As libzmq: the tuning values only matter (and are only set) when enabled.
            if keepalive == 1:
                for attr, opt in (
                    ("tcp_keepalive_cnt", socket.TCP_KEEPCNT),
                    ("tcp_keepalive_idle", socket.TCP_KEEPIDLE),
                    ("tcp_keepalive_intvl", socket.TCP_KEEPINTVL),
                ):
                    value = getattr(opts, attr, -1)
                    if value is not None and value != -1:
                        sock.setsockopt(socket.IPPROTO_TCP, opt, value)
        _set_tos_priority(sock, opts)

    def grow_send_buffer(self, sock: socket.socket) -> None:
        pass  # the kernel autotunes tcp buffers

    def peer_address(self, sock: socket.socket) -> str:
        try:
            return str(sock.getpeername()[0])
        except OSError:
            return ""

    def is_refusal(self, err: int) -> bool:
        return err == errno.ECONNREFUSED

    def unbind_key(self, scheme: str, address: str, *, ipv6: bool = False) -> str:
        """The LAST_ENDPOINT a bind of ``address`` would have registered, for unbind().

        Callers should look up the exact text first, as libzmq does. Literals and host names
        resolve as for connect; ``*`` becomes ``0.0.0.0`` (``[::]`` with ``ipv6``), where
        libzmq 4.3 answers ENOENT. Anything unparsable comes back unchanged (no match).
        """
        endpoint = f"{scheme}://{address}"
        try:
            parsed = _parse_hostport(endpoint, address, bindable=True)
            _family, sockaddr = _resolve(endpoint, parsed.host, parsed.port, ipv6, passive=False)
        except Exception:
            return endpoint
        return format_sockaddr(scheme, sockaddr)

    def connect_endpoint(self, scheme: str, address: str, target: TcpEndpoint) -> str:
        # libzmq resolves tcp connect addresses lazily, so LAST_ENDPOINT is the text given.
        return f"{scheme}://{address}"


TRANSPORT = TcpTransport()
