"""Which socket types may talk to which (RFC 37 "The Socket-Type Property").

libzmq enforces the same table in ``mechanism_t::check_socket_type``. STREAM is absent: it speaks
raw TCP, never ZMTP.
"""

from __future__ import annotations

_PEERS: dict[str, frozenset[str]] = {
    "REQ": frozenset({"REP", "ROUTER"}),
    "REP": frozenset({"REQ", "DEALER"}),
    "DEALER": frozenset({"REP", "DEALER", "ROUTER"}),
    "ROUTER": frozenset({"REQ", "DEALER", "ROUTER"}),
    "PUB": frozenset({"SUB", "XSUB"}),
    "XPUB": frozenset({"SUB", "XSUB"}),
    "SUB": frozenset({"PUB", "XPUB"}),
    "XSUB": frozenset({"PUB", "XPUB"}),
    "PUSH": frozenset({"PULL"}),
    "PULL": frozenset({"PUSH"}),
    "PAIR": frozenset({"PAIR"}),
    "CLIENT": frozenset({"SERVER"}),
    "SERVER": frozenset({"CLIENT"}),
    "RADIO": frozenset({"DISH"}),
    "DISH": frozenset({"RADIO"}),
    "SCATTER": frozenset({"GATHER"}),
    "GATHER": frozenset({"SCATTER"}),
    "PEER": frozenset({"PEER"}),
    "CHANNEL": frozenset({"CHANNEL"}),
}

#: Every socket type name that ZMTP carries in the Socket-Type property.
SOCKET_TYPES: tuple[str, ...] = tuple(_PEERS)


def compatible(ours: str, theirs: str) -> bool:
    """True if a socket of type ``ours`` may talk to a peer of type ``theirs``.

    Names are compared exactly (upper case), as libzmq does; an unknown name is never compatible.
    """
    peers = _PEERS.get(ours)
    return peers is not None and theirs in peers
