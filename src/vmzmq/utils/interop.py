"""pyzmq's ``zmq.utils.interop``: addresses handed between libraries, as Python ints.

vmzmq's ``Socket.underlying`` and ``Context.underlying`` are plain ints already; this takes
the other forms pyzmq code passes around (a cffi or ctypes pointer), so that
``Socket.shadow(address)`` can say clearly what it was given.
"""

from __future__ import annotations

import ctypes
from typing import Any

__all__ = ["cast_int_addr"]


def cast_int_addr(n: Any) -> int:
    """``n`` as an int: an int, a ``ctypes`` pointer (``c_void_p`` or typed) or a cffi
    pointer; ValueError for anything else."""
    if isinstance(n, int):
        return n
    if isinstance(n, ctypes.c_void_p):
        return n.value or 0
    if isinstance(n, ctypes._Pointer):
        return ctypes.cast(n, ctypes.c_void_p).value or 0
    if type(n).__module__ == "_cffi_backend":
        import cffi  # only someone holding a cffi object gets here

        ffi = cffi.FFI()
        if isinstance(n, ffi.CData):
            return int(ffi.cast("size_t", n))
    raise ValueError(f"Cannot cast {n!r} to int")


def underlying_address(address: Any) -> int:
    """The address a shadow names: an int or pointer, or an object's ``underlying`` (a
    pyzmq context or socket gives its libzmq object's address)."""
    underlying = getattr(address, "underlying", None)
    if not isinstance(address, int) and underlying is not None:
        address = underlying
    return cast_int_addr(address)
