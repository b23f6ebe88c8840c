"""ZAP authentication and CURVE certificates, as pyzmq's ``zmq.auth``.

* :class:`Authenticator` (here): the policy, answering requests it is handed;
* :class:`vmzmq.auth.thread.ThreadAuthenticator`: the same, answering in a background thread;
* :class:`vmzmq.auth.asyncio.AsyncioAuthenticator`: the same, in an asyncio task;
* :func:`create_certificates`, :func:`load_certificate`, :func:`load_certificates`: CURVE
  certificate files (ZPL, as pyzmq and czmq write them).

CURVE keys need PyNaCl (``pip install vmzmq[curve]``).
"""

from .base import CURVE_ALLOW_ANY, Authenticator
from .certs import create_certificates, load_certificate, load_certificates

__all__ = [
    "CURVE_ALLOW_ANY",
    "Authenticator",
    "create_certificates",
    "load_certificate",
    "load_certificates",
]
