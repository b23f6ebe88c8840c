"""Harness ``options``: SocketOptions.set / get / validate and the context option check with
fuzzed option ids and values of every Python type a caller might pass.

Input layout::

    socket type (1)  a SocketType (or, rarely, a number no type has); bit 7: ipv6
    then operations until the input ends, each: operation (1) in OPERATIONS, an option id
    (one octet indexing the known ids, or 0xF0.. for a raw 4-octet signed id), a value (a
    kind octet in VALUE_KINDS, then its octets)

Checked: only ZMQError escapes (OptionTypeError is one); a value that set() accepted reads back
as get() reports it, of the option's kind; validate() of what was stored accepts it again; a
refused option (ENOTSUP) never gets stored.
"""

from __future__ import annotations

import errno

from fuzzkit import Reader, crash

from vmzmq.constants import ContextOption, SocketOption, SocketType
from vmzmq.error import ZMQError
from vmzmq.options import OPTIONS, SocketOptions, check_context_option, check_socket_option

OPERATIONS = ("set", "set", "set", "get", "validate", "check_socket_option", "context", "copy")
OPTION_IDS = tuple(sorted(OPTIONS))
CONTEXT_IDS = tuple(int(o) for o in ContextOption) + (0, 10, 1000)
SOCKET_TYPES = tuple(int(t) for t in SocketType)
VALUE_KINDS = ("int1", "int2", "int4", "int8", "int9", "bytes", "none", "str", "bool", "float",
               "bytearray", "memoryview", "list", "enum", "z85", "metadata", "address",
               "bytes2")  # fmt: skip
_Z85 = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def option_id(r: Reader) -> int:
    b = r.byte()
    if b >= 0xF0:
        return r.sint(4)
    return OPTION_IDS[b % len(OPTION_IDS)]


def value_of(r: Reader) -> object:
    kind = r.choice(VALUE_KINDS)
    if kind.startswith("int"):
        return r.sint(int(kind[3:]))
    if kind == "bytes":
        return r.sized()
    if kind == "bytes2":
        return r.sized(2)
    if kind == "none":
        return None
    if kind == "str":
        return r.sized().decode("latin-1")
    if kind == "bool":
        return r.flag()
    if kind == "float":
        return r.sint(2) / 4
    if kind == "bytearray":
        return bytearray(r.sized())
    if kind == "memoryview":
        return memoryview(r.sized())
    if kind == "list":
        return list(r.sized())
    if kind == "enum":
        return r.choice(tuple(SocketOption))
    if kind == "z85":
        return bytes(_Z85[b % 85] for b in r.take(40 + r.byte() % 2))
    if kind == "metadata":
        return b"X-" + r.sized() + b":" + r.sized()
    # "address": TCP_ACCEPT_FILTER-like text
    parts = [str(b) for b in r.take(4)]
    text = ".".join(parts) if r.flag() else "::" + ":".join(parts)
    return (text + "/" + str(r.byte() % 140)).encode() if r.flag() else text.encode()


def check(data: bytes) -> None:
    r = Reader(data)
    first = r.byte()
    socket_type = SOCKET_TYPES[first % len(SOCKET_TYPES)] if first & 0x40 == 0 else first % 64
    opts = SocketOptions(socket_type, blocky=bool(first & 0x20), ipv6=bool(first & 0x80))
    while r.remaining():
        operation = r.choice(OPERATIONS)
        option = option_id(r)
        value = value_of(r)
        try:
            if operation == "set":
                opts.set(option, value)
                spec = OPTIONS[option]
                if spec.readable and not spec.state:
                    stored = opts.get(option)
                    if spec.refused:
                        raise crash(f"refused option {spec.name} was stored")
                    if type(stored) not in (int, bytes, tuple):
                        raise crash(f"{spec.name} reads back as {type(stored).__name__}")
                    if not spec.accumulate:
                        try:
                            opts.validate(option, stored)
                        except ZMQError as exc:
                            # Write-only actions and values only None may stand for are fine.
                            if exc.errno != errno.EINVAL or stored != spec.default:
                                raise crash(
                                    f"{spec.name}: stored {stored!r:.80} is refused: {exc}"
                                ) from None
            elif operation == "get":
                opts.get(option)
            elif operation == "validate":
                opts.validate(option, value)
            elif operation == "check_socket_option":
                check_socket_option(option, value)
            elif operation == "context":
                context_option = CONTEXT_IDS[option % len(CONTEXT_IDS)]
                check_context_option(context_option, value)
            else:
                copy = opts.copy()
                if repr(copy) != repr(opts):
                    raise crash("copy() differs from the original")
        except ZMQError:
            pass


if __name__ == "__main__":
    import sys

    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            check(f.read())
