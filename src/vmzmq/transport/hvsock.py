"""``hvsock://PATH:PORT``: the host side of Firecracker / Cloud Hypervisor VM sockets.

On those hypervisors a guest has a normal AF_VSOCK (``vmci://2:PORT`` reaches the host), but
the host side is a Unix socket speaking the "hybrid vsock" protocol of Firecracker's
docs/vsock.md (Cloud Hypervisor's muxer is a fork of it):

* host -> guest: connect to the VMM's Unix socket PATH, write ``CONNECT <port>\\n``, read one
  line ``OK <number>\\n`` (the number is a host-side port: never interpreted), then the stream
  is a byte pipe to the guest's AF_VSOCK listener on PORT. No listener there: EOF or
  ECONNRESET before any OK line. A missing file (ENOENT) or a stale one (ECONNREFUSED): the
  VM is not up. Cloud Hypervisor accepts only ``CONNECT``/``connect``, so we send upper case.
* guest -> host: when a guest connects to CID 2 port P, the VMM connects to ``PATH_P`` on the
  host; ``bind("hvsock://PATH:P")`` listens there (a stale file is replaced, as for ipc).

The exchange is a *preamble* the engine runs after the stream connects and before ZMTP
(:meth:`HvsockTransport.preamble`, :meth:`preamble_reply`), under the handshake timeout; a
refusal is retried like a refused tcp connect. Bytes the guest sends right behind the OK line
(its ZMTP greeting) are kept. This is the Firecracker protocol, not Hyper-V sockets.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from typing import Any

from ..error import with_detail
from .ipc import TRANSPORT as IPC
from .ipc import IpcEndpoint

#: The longest OK line we read before giving up on the peer (``OK `` and a u32 fit easily).
REPLY_MAX = 64
PORT_MAX = 0xFFFFFFFF


@dataclass(frozen=True)
class HvsockEndpoint:
    path: str
    port: int

    @property
    def text(self) -> str:
        return f"hvsock://{self.path}:{self.port}"


def _parse(scheme: str, address: str) -> HvsockEndpoint:
    endpoint = f"{scheme}://{address}"
    path, sep, port = address.rpartition(":")
    if not sep:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has no ':' before the port")
    if not path:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has an empty path")
    if port == "*":
        raise with_detail(
            errno.EINVAL,
            f"endpoint '{endpoint}': the port cannot be '*' (the guest must know it)",
        )
    if not port.isdigit() or not port.isascii():
        raise with_detail(
            errno.EINVAL, f"endpoint '{endpoint}': port '{port}' is not a decimal number"
        )
    # Leading zeros are stripped and the length checked before int(), which refuses strings of
    # more than 4300 digits with a ValueError (sys.set_int_max_str_digits).
    digits = port.lstrip("0") or "0"
    if len(digits) > 10 or int(digits) > PORT_MAX:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}': port {port} is above 2^32-1")
    value = int(digits)
    if path.startswith("@"):
        raise with_detail(
            errno.EINVAL, f"endpoint '{endpoint}': a VMM's vsock socket is a file, not '@name'"
        )
    IPC.parse_connect("ipc", path)  # the path rules of ipc (NUL, length)
    IPC.parse_connect("ipc", f"{path}_{value}")
    return HvsockEndpoint(path, value)


def preamble_reply(buf: bytes) -> int | None:
    """Where the VMM's ``OK <n>\\n`` line ends in ``buf`` (None: not all of it yet).

    ValueError if ``buf`` cannot be the start of one (the VMM refused, or it is not one).
    """
    end = buf.find(b"\n", 0, REPLY_MAX)
    if end < 0:
        if len(buf) >= REPLY_MAX:
            raise ValueError(f"no OK line within {REPLY_MAX} octets")
        if not b"OK "[: len(buf)] == buf[:3]:
            raise ValueError(f"the VMM answered {bytes(buf[:REPLY_MAX])!r}, not OK")
        return None
    line = bytes(buf[:end])
    number = line[3:]
    if not line.startswith(b"OK ") or not number.isdigit():
        raise ValueError(f"the VMM answered {line!r}, not 'OK <port>'")
    return end + 1


class HvsockTransport:
    """``hvsock://`` for the engine (see ``transport.StreamTransport``)."""

    schemes: tuple[str, ...] = ("hvsock",)

    def available(self) -> bool:
        return hasattr(socket, "AF_UNIX")

    def parse_bind(self, scheme: str, address: str) -> HvsockEndpoint:
        return _parse(scheme, address)

    def parse_connect(self, scheme: str, address: str) -> HvsockEndpoint:
        return _parse(scheme, address)

    def listen(self, target: HvsockEndpoint, opts: Any) -> tuple[socket.socket, str]:
        sock, _ = IPC.listen(IpcEndpoint(f"{target.path}_{target.port}"), opts)
        return sock, target.text

    def unlisten(self, sock: socket.socket, endpoint: str) -> None:
        IPC.unlisten(sock, endpoint)

    def check_peer(self, sock: socket.socket, peer: Any, opts: Any) -> str | None:
        return IPC.check_peer(sock, peer, opts)

    def connect(self, target: HvsockEndpoint, opts: Any) -> socket.socket:
        return IPC.connect(IpcEndpoint(target.path), opts)

    def preamble(self, target: HvsockEndpoint) -> bytes | None:
        """What to send once the stream is connected, before ZMTP."""
        return b"CONNECT %d\n" % target.port

    def preamble_reply(self, buf: bytes) -> int | None:
        return preamble_reply(buf)

    def connects_at_once(self, target: Any) -> bool:
        return True

    def connected(self, sock: socket.socket, opts: Any) -> None:
        IPC.connected(sock, opts)

    def grow_send_buffer(self, sock: socket.socket) -> None:
        IPC.grow_send_buffer(sock)

    def peer_address(self, sock: socket.socket) -> str:
        return ""

    def is_refusal(self, err: int) -> bool:
        # No VM (ENOENT, ECONNREFUSED), or no listener in the guest (the VMM hangs up).
        return err in (errno.ECONNREFUSED, errno.ENOENT, errno.ECONNRESET)

    def unbind_key(self, scheme: str, address: str) -> str:
        return f"{scheme}://{address}"

    def connect_endpoint(self, scheme: str, address: str, target: HvsockEndpoint) -> str:
        return target.text


TRANSPORT = HvsockTransport()
