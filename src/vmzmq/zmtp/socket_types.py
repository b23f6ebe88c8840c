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


#: The ZMTP/2.0 greeting's socket-type octet (RFC 15; XPUB and XSUB as libzmq 3.2 numbers
#: them). The draft types never spoke 2.0.
ZMTP2_TYPES: dict[str, int] = {
    "PAIR": 0,
    "PUB": 1,
    "SUB": 2,
    "REQ": 3,
    "REP": 4,
    "DEALER": 5,
    "ROUTER": 6,
    "PULL": 7,
    "PUSH": 8,
    "XPUB": 9,
    "XSUB": 10,
}
ZMTP2_NAMES: dict[int, str] = {code: name for name, code in ZMTP2_TYPES.items()}
