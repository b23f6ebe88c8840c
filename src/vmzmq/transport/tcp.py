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
ZMQ_RCVBUF, ZMQ_TOS (IP_TOS, and IPV6_TCLASS on IPv6 sockets), ZMQ_PRIORITY (SO_PRIORITY),
ZMQ_BINDTODEVICE (SO_BINDTODEVICE) and ZMQ_BUSY_POLL (SO_BUSY_POLL) before bind/connect, where
the kernel's refusal is the bind's error or the connect attempt's (accepted sockets inherit
them); TCP_NODELAY, ZMQ_TCP_KEEPALIVE*, ZMQ_TCP_MAXRT (TCP_USER_TIMEOUT, in ms, as libzmq on
Linux) and TOS/PRIORITY again on every connection. ZMQ_USE_FD makes a bind adopt the
application's listening socket instead of making one (the bind address is then only checked).

ZMQ_TCP_ACCEPT_FILTER: a listener keeps a connection only if the peer's address is in one of
the filter networks (no filter: every peer), as libzmq; :meth:`TcpTransport.check_peer` says
why not. Unlike libzmq, an IPv4-mapped peer (``::ffff:10.1.2.3`` on an IPv6 listener) also
matches the IPv4 filters (libzmq compares address families, so on ``tcp://[::]`` an IPv4
filter never matched an IPv4 client).

Errors: a malformed endpoint is EINVAL at parse time; a bind host that does not resolve is
ENODEV (as libzmq); a connect host that does not resolve is EHOSTUNREACH from :meth:`connect`
(retryable: DNS may come back); kernel errors keep their errno. A refused connect is
ECONNREFUSED (:meth:`TcpTransport.is_refusal`).
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any

from .. import _native
from ..error import with_detail
from ..options import SO_BUSY_POLL
from .sockopts import adopt_listener, apply_buffer_sizes, release_listener, use_fd

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


def _is_ipv4_literal(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, host)
    except (OSError, ValueError):
        return False
    return True


def _is_ip_literal(host: str) -> bool:
    return _is_ipv4_literal(host) or _is_ipv6_literal(host)


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

    # Leading zeros are stripped and the length checked before int(), which refuses strings of
    # more than 4300 digits with a ValueError (sys.set_int_max_str_digits).
    significant = port_text.lstrip("0") or "0"
    if port_text == "*":
        port = 0
    elif _DECIMAL.fullmatch(port_text) and len(significant) <= 5 and int(significant) <= _PORT_MAX:
        port = int(significant)
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
    if not ipv6 and _is_ipv4_literal(host):
        return socket.AF_INET, (host, port)  # what getaddrinfo would say, without its cost
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
    """Options that must be set before bind/connect (listeners pass them to accepted sockets).
    The kernel's refusal is a ZMQError with its errno, naming the option."""
    device = bytes(getattr(opts, "bindtodevice", b"") or b"")
    busy_poll = getattr(opts, "busy_poll", 0) or 0
    what = ""
    try:
        if device:
            what = f"ZMQ_BINDTODEVICE {device!r}"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device)
        what = "ZMQ_SNDBUF/ZMQ_RCVBUF"
        apply_buffer_sizes(sock, opts)
        what = "ZMQ_TOS/ZMQ_PRIORITY"
        _set_tos_priority(sock, opts)
        if busy_poll:
            what = f"ZMQ_BUSY_POLL {busy_poll}"
            sock.setsockopt(socket.SOL_SOCKET, SO_BUSY_POLL, busy_poll)
    except OSError as exc:
        raise _sockerr(exc, f"cannot apply {what} for '{endpoint}'") from None


def _set_tos_priority(sock: socket.socket, opts: Any) -> None:
    tos = getattr(opts, "tos", 0) or 0
    if tos:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
    priority = getattr(opts, "priority", 0) or 0
    if priority:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, priority)


_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _peer_ip(peer: Any) -> _IP:
    """The IP address in an accept() result, without an IPv6 scope (``fe80::1%eth0``)."""
    host = peer[0] if isinstance(peer, tuple) else peer
    return ipaddress.ip_address(str(host).split("%", 1)[0])


def _matches(address: _IP, filters: tuple[_Network, ...]) -> bool:
    """Whether ``address`` is in one of ``filters``; an IPv4-mapped IPv6 address is also
    tried as the IPv4 address it carries."""
    candidates: list[_IP] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(
        ip in network for network in filters for ip in candidates if ip.version == network.version
    )


def _new_socket(family: int, endpoint: str) -> socket.socket:
    try:
        return _native.socket(family, socket.SOCK_STREAM)
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
        fd = use_fd(opts)
        if fd >= 0:
            sock = adopt_listener(fd, (socket.AF_INET, socket.AF_INET6), endpoint)
            return sock, format_sockaddr("tcp", sock.getsockname())
        ipv6 = bool(getattr(opts, "ipv6", 0))
        family, sockaddr = _resolve(endpoint, target.host, target.port, ipv6, passive=True)
        try:
            sock = _native.socket(family, socket.SOCK_STREAM)
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
        release_listener(sock)
        sock.close()

    def check_peer(self, sock: socket.socket, peer: Any, opts: Any) -> str | None:
        """ZMQ_TCP_ACCEPT_FILTER: None to keep an accepted connection, else why it is refused.
        ``peer`` is the address accept() returned."""
        filters = getattr(opts, "tcp_accept_filter", ())
        if not filters:
            return None
        try:
            address = _peer_ip(peer)
        except ValueError:
            return f"its address {peer!r} cannot be read"
        if _matches(address, filters):
            return None
        return f"{address} is not in ZMQ_TCP_ACCEPT_FILTER"

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

    def connects_at_once(self, target: TcpEndpoint) -> bool:
        # A host name may mean a DNS query, which must not block the caller's connect().
        return _is_ip_literal(target.host) and (
            target.source is None or _is_ip_literal(target.source.host)
        )

    def connected(self, sock: socket.socket, opts: Any) -> None:
        """Non-blocking, TCP_NODELAY, keepalive, TOS, priority, TCP_MAXRT; the kernel's
        refusal is an OSError (the engine logs it and goes on)."""
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
        maxrt = getattr(opts, "tcp_maxrt", 0) or 0
        if maxrt > 0:
            # As libzmq on Linux: how long sent data may stay unacknowledged before the
            # kernel gives the connection up (ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, maxrt)

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

    def preamble(self, target: Any) -> bytes | None:
        return None

    def preamble_reply(self, buf: bytes) -> int | None:
        return 0

    def connect_endpoint(self, scheme: str, address: str, target: TcpEndpoint) -> str:
        # libzmq resolves tcp connect addresses lazily, so LAST_ENDPOINT is the text given.
        return f"{scheme}://{address}"


TRANSPORT = TcpTransport()
