"""ZMTP bytes built by hand for raw test peers: not with vmzmq's codec, so a codec bug cannot
hide behind itself. Shared by the fault tests and the vsock tests."""

from __future__ import annotations


def greeting(
    *, major: int = 3, minor: int = 1, mechanism: bytes = b"NULL", as_server: bool = False
) -> bytes:
    """A 64-octet ZMTP 3.x greeting."""
    return (
        b"\xff" + bytes(8) + b"\x7f" + bytes((major, minor)) + mechanism.ljust(20, b"\x00")
        + (b"\x01" if as_server else b"\x00") + bytes(31)
    )  # fmt: skip


def frame(
    body: bytes, more: bool = False, command: bool = False, long: bool | None = None
) -> bytes:
    """One ZMTP frame; LONG form when the body needs it (or when ``long`` says so)."""
    flags = (1 if more else 0) | (4 if command else 0)
    if long is None:
        long = len(body) > 255
    if long:
        return bytes((flags | 2,)) + len(body).to_bytes(8, "big") + body
    return bytes((flags, len(body))) + body


def command(name: bytes, data: bytes = b"") -> bytes:
    """A command frame: the name's length, the name, then its data."""
    return frame(bytes((len(name),)) + name + data, command=True)


def ready(socket_type: bytes, identity: bytes | None = None) -> bytes:
    """A READY command announcing ``socket_type`` (and Identity when given)."""
    props = b"\x0bSocket-Type" + len(socket_type).to_bytes(4, "big") + socket_type
    if identity is not None:
        props += b"\x08Identity" + len(identity).to_bytes(4, "big") + identity
    return command(b"READY", props)


def message(*parts: bytes) -> bytes:
    """A data message: MORE on every frame but the last."""
    return b"".join(frame(p, more=i < len(parts) - 1) for i, p in enumerate(parts))


def zmtp2_greeting(socket_type: int) -> bytes:
    """A ZMTP/2.0 greeting (RFC 15): signature, revision 1, the socket-type octet."""
    return b"\xff" + bytes(8) + b"\x7f\x01" + bytes((socket_type,))
