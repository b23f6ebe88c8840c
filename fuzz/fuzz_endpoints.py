"""Harness ``endpoints``: split_endpoint and each transport's parse_bind / parse_connect
(tcp, ipc, vmci, vsock, hvsock), and hvsock's reader of the VMM's ``OK <port>`` line.

The parse functions are called directly: never Socket.bind/connect, which would open sockets
and files. (Parsing itself touches nothing: vmci's ``@`` only reads the local CID with an
ioctl on /dev/vsock.)

Input layout::

    target (1)   TARGETS: split_endpoint of the whole text, or one scheme's parse_bind /
                 parse_connect of an address, or hvsock.preamble_reply of the raw octets
    text         the rest, decoded by :func:`text_of`: octets below 0x80 are themselves;
                 0xFF repeats the next character up to 65535 times (a two-octet count), so
                 very long addresses cost a few octets; the others start a code point of up
                 to 3 octets (any of 0..0x10FFFF: surrogates, NUL and non-ASCII included)

Checked: only ZMQError escapes (ValueError for preamble_reply, as documented); what parses
formats back to text that parses to the same target (tcp ``host:port``, vmci ``cid:port``,
hvsock ``path:port``, ipc paths unchanged), ports and CIDs in range, and connect_endpoint /
unbind_key (not tcp's: it resolves names) answer strings; preamble_reply's end is just past
the line's newline.
"""

from __future__ import annotations

from fuzzkit import Reader, crash

from vmzmq.error import ZMQError
from vmzmq.transport import get_transport, hvsock, ipc, split_endpoint, tcp, vmci

SCHEMES = ("tcp", "ipc", "vmci", "vsock", "hvsock")
TARGETS = ("split", *(f"{scheme}-{how}" for scheme in SCHEMES for how in ("bind", "connect")),
           "hvsock-reply")  # fmt: skip
U32_MAX = 0xFFFFFFFF


def _char(r: Reader) -> str:
    b = r.byte()
    if b < 0x80:
        return chr(b)
    return chr(((b & 0x7F) << 16 | r.uint(2)) % 0x110000)


def text_of(data: bytes) -> str:
    out: list[str] = []
    r = Reader(data)
    while r.remaining():
        if r.data[r.pos] == 0xFF:
            r.pos += 1
            count = r.uint(2)
            out.append(_char(r) * count)
        else:
            out.append(_char(r))
    return "".join(out)


def _check_target(scheme: str, address: str, bind: bool, target: object) -> None:
    transport = get_transport(scheme)
    assert transport is not None
    if isinstance(target, tcp.TcpEndpoint):
        for end in (target, target.source):
            if end is None:
                continue
            if not 0 <= end.port <= 65535 or (end is target and not bind and end.port == 0):
                raise crash(f"tcp port {end.port} from {address!r}")
            again = tcp.TRANSPORT.parse_bind(scheme, end.text())
            if (again.host, again.port) != (end.host, end.port):
                raise crash(f"{address!r} -> {end.text()!r} -> {again!r}")
    elif isinstance(target, ipc.IpcEndpoint):
        if target.path != address:
            raise crash(f"ipc path {target.path!r} from {address!r}")
        target.sockaddr()
        if type(transport.unbind_key(scheme, address)) is not str:
            raise crash("ipc unbind_key is not a str")
    elif isinstance(target, vmci.VsockAddress):
        if not (0 <= target.cid <= U32_MAX and 0 <= target.port <= U32_MAX):
            raise crash(f"vmci {target!r} from {address!r}")
        if not target.local_cid:
            text = str(target).partition("://")[2]
            again = vmci.parse_address(scheme, text, bind=True)
            if (again.cid, again.port) != (target.cid, target.port):
                raise crash(f"{address!r} -> {text!r} -> {again!r}")
        if type(transport.unbind_key(scheme, address)) is not str:
            raise crash("vmci unbind_key is not a str")
    elif isinstance(target, hvsock.HvsockEndpoint):
        if not 0 <= target.port <= U32_MAX:
            raise crash(f"hvsock port {target.port} from {address!r}")
        again = hvsock.TRANSPORT.parse_bind(scheme, target.text.partition("://")[2])
        if again != target:
            raise crash(f"{address!r} -> {target.text!r} -> {again!r}")
        return
    else:
        raise crash(f"{scheme} parsed {address!r} as {target!r}")
    if type(transport.connect_endpoint(scheme, address, target)) is not str:
        raise crash("connect_endpoint is not a str")


def check(data: bytes) -> None:
    r = Reader(data)
    target = r.choice(TARGETS)
    if target == "hvsock-reply":
        buf = r.rest()
        try:
            end = hvsock.preamble_reply(buf)
        except ValueError:
            return
        if end is not None and not (0 < end <= hvsock.REPLY_MAX and buf[end - 1] == 0x0A):
            raise crash(f"preamble_reply({buf!r:.80}) = {end}")
        return
    text = text_of(r.rest())
    try:
        if target == "split":
            scheme, address = split_endpoint(text)
            if f"{scheme}://{address}" != text or not scheme or not address:
                raise crash(f"split {text!r} into {scheme!r} and {address!r}")
            transport = get_transport(scheme)
            if transport is None:
                if scheme != "inproc":
                    raise crash(f"no transport for the known scheme {scheme!r}")
                return
            bind = bool(data[-1] & 1)
            parse = transport.parse_bind if bind else transport.parse_connect
            _check_target(scheme, address, bind, parse(scheme, address))
        else:
            scheme, _, how = target.partition("-")
            transport = get_transport(scheme)
            assert transport is not None
            bind = how == "bind"
            parse = transport.parse_bind if bind else transport.parse_connect
            _check_target(scheme, text, bind, parse(scheme, text))
    except ZMQError:
        pass


if __name__ == "__main__":
    import sys

    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            check(f.read())
