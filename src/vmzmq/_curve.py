"""CURVE key pairs, as pyzmq's ``zmq.curve_keypair`` and ``zmq.curve_public``.

Keys are Curve25519 keys (what libsodium's ``crypto_box`` uses) in Z85 text, 40 characters
for 32 bytes. The arithmetic is PyNaCl's, an optional dependency (``pip install vmzmq[curve]``)
imported only here and only when called, so programs that never use CURVE need no libsodium.
"""

from __future__ import annotations

import errno
from types import ModuleType

from .error import ZMQError, with_detail
from .utils import z85

__all__ = ["curve_keypair", "curve_public"]

_MISSING = "CURVE needs PyNaCl, which is not installed: pip install vmzmq[curve]"


def _bindings() -> ModuleType:
    try:
        import nacl.bindings
    except (ImportError, OSError):  # OSError: a PyNaCl whose libsodium does not load
        raise with_detail(errno.ENOTSUP, _MISSING) from None
    return nacl.bindings


def available() -> bool:
    """Whether PyNaCl imports (``vmzmq.has("curve")``)."""
    try:
        _bindings()
    except ZMQError:
        return False
    return True


def curve_keypair() -> tuple[bytes, bytes]:
    """A new random key pair: ``(public, secret)``, each 40 bytes of Z85 text."""
    public, secret = _bindings().crypto_box_keypair()
    return z85.encode(public), z85.encode(secret)


def curve_public(secret_key: str | bytes) -> bytes:
    """The Z85 public key that belongs to ``secret_key`` (40 characters of Z85 text).

    As pyzmq: ValueError for a key that is not 40 characters long, ZMQError(EINVAL) for one
    that is not Z85.
    """
    if isinstance(secret_key, str):
        secret_key = secret_key.encode("utf-8")
    if not isinstance(secret_key, bytes | bytearray | memoryview):
        raise TypeError(f"secret key must be str or bytes, not {type(secret_key).__name__}")
    if len(secret_key) != 40:
        raise ValueError("secret key must be a 40 byte z85 encoded string")
    bindings = _bindings()
    try:
        secret = z85.decode(secret_key)
    except ValueError:
        # No detail: it would quote part of the secret.
        raise with_detail(errno.EINVAL, "the secret key is not valid Z85") from None
    return z85.encode(bindings.crypto_scalarmult_base(secret))
