"""Which security mechanism a stream connection runs, built from its socket's options.

The options follow libzmq's rules (the last security option set decides; see options.py); this
module turns them into a fresh :class:`~vmzmq.zmtp.Mechanism` per connection and refuses, at
bind/connect time, configurations that could only fail or be insecure later: a CURVE side
without its keys, or with a public key that is not its secret key's. CURVE's module (and
PyNaCl) is imported only when a socket uses CURVE. Mechanisms apply to tcp, ipc and vmci;
inproc ignores them, as libzmq does.
"""

from __future__ import annotations

import errno
from typing import Any

from ..error import with_detail
from ..zmtp import Mechanism, NullMechanism
from ..zmtp.plain import PlainMechanism

NULL, PLAIN, CURVE, GSSAPI = 0, 1, 2, 3
_ZERO_KEY = bytes(32)


def _curve_module() -> Any:
    try:
        from ..zmtp import curve
    except ImportError as exc:  # PyNaCl is missing
        raise with_detail(
            errno.ENOTSUP, f"CURVE needs PyNaCl (pip install 'vmzmq[curve]'): {exc}"
        ) from None
    return curve


def check(opts: Any) -> None:
    """Raise ZMQError now for a security configuration no handshake could use."""
    mech = opts.mechanism
    if mech == CURVE:
        _curve_module()
        if opts.curve_secretkey == _ZERO_KEY:
            raise with_detail(errno.EINVAL, "CURVE needs CURVE_SECRETKEY")
        public = bytes(opts.curve_publickey)
        if public != _ZERO_KEY and _public_of(bytes(opts.curve_secretkey)) != public:
            raise with_detail(
                errno.EINVAL, "CURVE_PUBLICKEY is not the public key of CURVE_SECRETKEY"
            )
        if not opts.as_server and opts.curve_serverkey == _ZERO_KEY:
            raise with_detail(errno.EINVAL, "a CURVE client needs CURVE_SERVERKEY")
    elif mech == GSSAPI:
        raise with_detail(errno.ENOTSUP, "GSSAPI is not supported")


def _public_of(secret: bytes) -> bytes:
    from nacl.bindings import crypto_scalarmult_base

    return crypto_scalarmult_base(secret)


def build_mechanism(opts: Any) -> Mechanism:
    """A new mechanism for one connection (call :func:`check` first)."""
    mech = opts.mechanism
    domain = bytes(opts.zap_domain)
    enforce = bool(opts.zap_enforce_domain)
    if mech == PLAIN:
        return PlainMechanism(
            as_server=bool(opts.as_server),
            username=bytes(opts.plain_username or b""),
            password=bytes(opts.plain_password or b""),
        )
    if mech == CURVE:
        return _curve_module().CurveMechanism(
            as_server=bool(opts.as_server),
            # An unset public key is the secret key's (libzmq needs it set; pyzmq code
            # sometimes sets only the secret key on a server).
            public_key=(
                bytes(opts.curve_publickey)
                if opts.curve_publickey != _ZERO_KEY
                else _public_of(bytes(opts.curve_secretkey))
            ),
            secret_key=bytes(opts.curve_secretkey),
            server_key=bytes(opts.curve_serverkey),
            zap_domain=domain,
            zap_enforce_domain=enforce,
        )
    if mech == NULL:
        return NullMechanism(zap_domain=domain, zap_enforce_domain=enforce)
    check(opts)
    raise AssertionError(f"unknown mechanism {mech}")
