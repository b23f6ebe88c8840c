"""pyzmq's ``zmq.sugar.version``: versions of the library and of the libzmq it stands for.

``__version__`` (like ``pyzmq_version()``) is the pyzmq API level vmzmq provides, because
that is what code written for pyzmq reads it for (circus, say, refuses to start when
``zmq.__version__`` is below 13). vmzmq's own release is ``vmzmq_version()``.
``zmq_version()`` is the libzmq release whose behaviour vmzmq follows.
"""

from __future__ import annotations

import re

from .._version import __version__ as _vmzmq_version
from ..error import LIBZMQ_VERSION_INFO

#: pyzmq's commit id, empty for a release (vmzmq: always empty).
__revision__: str = ""

#: The pyzmq release whose API vmzmq provides.
PYZMQ_API_VERSION: tuple[int, int, int] = (27, 1, 0)
__version__: str = ".".join(map(str, PYZMQ_API_VERSION))


def vmzmq_version() -> str:
    """vmzmq's own release (what ``pip`` installed), e.g. ``"0.1.0"``."""
    return _vmzmq_version


_parts = re.match(r"(\d+)\.(\d+)\.(\d+)(.*)", __version__)
assert _parts is not None
VERSION_MAJOR = int(_parts.group(1))
VERSION_MINOR = int(_parts.group(2))
VERSION_PATCH = int(_parts.group(3))
VERSION_EXTRA = _parts.group(4).lstrip(".")
#: ``__version__`` as numbers (a development version would end with ``inf``, as pyzmq's).
version_info: tuple[int, int, int] | tuple[int, int, int, float] = (
    (VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH, float("inf"))
    if VERSION_EXTRA
    else (VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH)
)


def zmq_version_info() -> tuple[int, int, int]:
    """The libzmq release whose behaviour vmzmq follows, as numbers."""
    return LIBZMQ_VERSION_INFO


def zmq_version() -> str:
    """The libzmq release whose behaviour vmzmq follows: ``"4.3.5"``."""
    return ".".join(map(str, LIBZMQ_VERSION_INFO))


def pyzmq_version_info() -> tuple[int, int, int]:
    """The pyzmq API level vmzmq provides, as numbers."""
    return PYZMQ_API_VERSION


def pyzmq_version() -> str:
    """The pyzmq API level vmzmq provides: ``"27.1.0"``."""
    return ".".join(map(str, PYZMQ_API_VERSION))


__all__ = [
    "__revision__",
    "__version__",
    "pyzmq_version",
    "pyzmq_version_info",
    "zmq_version",
    "zmq_version_info",
]
