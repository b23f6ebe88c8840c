"""The socket-type pairs every transport must carry, and how each pair is checked.

Shared by test_patterns.py (tcp, ipc, inproc) and test_vmci.py (vmci, inside the vsock guest,
where Python runs ~15x slower: hence the longer waits there).
"""

from __future__ import annotations

import os
import time

import vmzmq as zmq

IN_GUEST = os.environ.get("VMZMQ_IN_GUEST") == "1"
WAIT = 60.0 if IN_GUEST else 20.0  # seconds before a wait counts as a hang
MULTI = [b"first", b"", b"middle", b"", b""]  # multipart with empty frames, even the last


def await_subscription(pub: zmq.Socket, sub: zmq.Socket, topic: bytes = b"") -> None:
    """Publish probes on ``topic`` until ``sub`` (subscribed to it) receives one, then read
    the probes still in flight. Afterwards every subscription ``sub`` sent before is active."""
    deadline = time.monotonic() + WAIT
    n = 0
    while True:
        n += 1
        pub.send_multipart([topic + b"~probe", b"%d" % n])
        if sub.poll(10):
            break
        assert time.monotonic() < deadline, "subscription never reached the publisher"
    last = b"%d" % n
    while True:
        msg = sub.recv_multipart()
        assert msg[0].endswith(b"~probe"), msg
        if msg[-1] == last:
            return


def send_when_routable(router: zmq.Socket, msg: list[bytes], timeout: float = WAIT) -> None:
    """ROUTER_MANDATORY must be on: retry while the peer's id is not known yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            router.send_multipart(msg)
            return
        except zmq.ZMQError as exc:
            assert exc.errno == zmq.EHOSTUNREACH, exc
            assert time.monotonic() < deadline, "peer never became routable"
            time.sleep(0.005)


def recv_pumping(s: zmq.Socket, *others: zmq.Socket) -> bytes:
    """recv() on ``s`` while touching ``others`` (libzmq processes a socket's commands, such
    as a new peer on a bound endpoint, only when the application uses that socket)."""
    deadline = time.monotonic() + WAIT
    while not s.poll(10):
        for o in others:
            o.poll(0)
        assert time.monotonic() < deadline, "nothing arrived"
    return s.recv()



def check_pair(a: zmq.Socket, b: zmq.Socket) -> None:
    a.send_multipart(MULTI)
    assert b.recv_multipart() == MULTI
    b.send_multipart([b""])
    assert a.recv_multipart() == [b""]
    b.send_multipart(MULTI[::-1])
    assert a.recv_multipart() == MULTI[::-1]


def check_push_pull(push: zmq.Socket, pull: zmq.Socket) -> None:
    for i in range(3):
        push.send_multipart([b"%d" % i, *MULTI])
    for i in range(3):
        assert pull.recv_multipart() == [b"%d" % i, *MULTI]


def check_pub_sub(pub: zmq.Socket, sub: zmq.Socket) -> None:
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    await_subscription(pub, sub)
    pub.send_multipart(MULTI)
    assert sub.recv_multipart() == MULTI


def check_pub_xsub(pub: zmq.Socket, xsub: zmq.Socket) -> None:
    xsub.send(b"\x01top")
    await_subscription(pub, xsub, b"top")
    pub.send_multipart([b"other", b""])
    pub.send_multipart([b"topic", *MULTI])
    assert xsub.recv_multipart() == [b"topic", *MULTI]


def check_xpub_sub(xpub: zmq.Socket, sub: zmq.Socket) -> None:
    sub.setsockopt(zmq.SUBSCRIBE, b"t")
    assert recv_pumping(xpub, sub) == b"\x01t"
    xpub.send_multipart([b"x", b""])
    xpub.send_multipart([b"t", *MULTI])
    assert sub.recv_multipart() == [b"t", *MULTI]


def check_xpub_xsub(xpub: zmq.Socket, xsub: zmq.Socket) -> None:
    xsub.send(b"\x01t")
    assert recv_pumping(xpub, xsub) == b"\x01t"
    xpub.send_multipart([b"t", *MULTI])
    assert xsub.recv_multipart() == [b"t", *MULTI]
    # anything else an XSUB sends goes upstream as it is
    xsub.send_multipart([b"hello", b""])
    assert xpub.recv_multipart() == [b"hello", b""]
    xsub.send(b"\x00t")
    assert xpub.recv() == b"\x00t"


def check_req_rep(req: zmq.Socket, rep: zmq.Socket) -> None:
    for i in range(3):
        req.send_multipart([b"q%d" % i, *MULTI])
        assert rep.recv_multipart() == [b"q%d" % i, *MULTI]
        rep.send_multipart([b"r%d" % i, b""])
        assert req.recv_multipart() == [b"r%d" % i, b""]


def check_req_router(req: zmq.Socket, router: zmq.Socket) -> None:
    req.send_multipart([b"q", b""])
    rid, delim, *body = router.recv_multipart()
    assert rid and delim == b"" and body == [b"q", b""]
    router.send_multipart([rid, b"", b"r", b""])
    assert req.recv_multipart() == [b"r", b""]


def check_dealer_rep(dealer: zmq.Socket, rep: zmq.Socket) -> None:
    dealer.send_multipart([b"", b"q", *MULTI])
    assert rep.recv_multipart() == [b"q", *MULTI]
    rep.send(b"r")
    assert dealer.recv_multipart() == [b"", b"r"]


def check_dealer_router(dealer: zmq.Socket, router: zmq.Socket) -> None:
    dealer.send_multipart(MULTI)
    assert router.recv_multipart() == [b"dealer-1", *MULTI]
    router.send_multipart([b"dealer-1", b"", b"back"])
    assert dealer.recv_multipart() == [b"", b"back"]


def check_dealer_dealer(a: zmq.Socket, b: zmq.Socket) -> None:
    check_pair(a, b)


def check_router_router(a: zmq.Socket, b: zmq.Socket) -> None:
    a.router_mandatory = 1
    send_when_routable(a, [b"router-b", *MULTI])
    assert b.recv_multipart() == [b"router-a", *MULTI]
    b.send_multipart([b"router-a", b"", b"back"])
    assert a.recv_multipart() == [b"router-b", b"", b"back"]


PAIRS = {
    "PAIR-PAIR": (zmq.PAIR, zmq.PAIR, check_pair, {}, {}),
    "PUB-SUB": (zmq.PUB, zmq.SUB, check_pub_sub, {}, {}),
    "PUB-XSUB": (zmq.PUB, zmq.XSUB, check_pub_xsub, {}, {}),
    "XPUB-SUB": (zmq.XPUB, zmq.SUB, check_xpub_sub, {}, {}),
    "XPUB-XSUB": (zmq.XPUB, zmq.XSUB, check_xpub_xsub, {}, {}),
    "PUSH-PULL": (zmq.PUSH, zmq.PULL, check_push_pull, {}, {}),
    "REQ-REP": (zmq.REQ, zmq.REP, check_req_rep, {}, {}),
    "REQ-ROUTER": (zmq.REQ, zmq.ROUTER, check_req_router, {}, {}),
    "DEALER-REP": (zmq.DEALER, zmq.REP, check_dealer_rep, {}, {}),
    "DEALER-ROUTER": (zmq.DEALER, zmq.ROUTER, check_dealer_router, {"routing_id": b"dealer-1"},
                      {}),
    "DEALER-DEALER": (zmq.DEALER, zmq.DEALER, check_dealer_dealer, {}, {}),
    "ROUTER-ROUTER": (zmq.ROUTER, zmq.ROUTER, check_router_router, {"routing_id": b"router-a"},
                      {"routing_id": b"router-b"}),
}


