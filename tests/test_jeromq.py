"""Interop with JeroMQ 0.3.6 (Debian's libjeromq-java), which speaks ZMTP/2.0 only (issue #19).

The JeroMQ side is a JVM running tests/jeromq/ScriptPeer.java (one per test, driven through
tests/jeromq_peer.py); the Python side is vmzmq, or libzmq through pyzmq as the control that
proves the harness. Over tcp on loopback, every case runs with JeroMQ in each role of its
socket pair and with either side binding: every socket-type pair, multipart with empty frames
and frames on both sides of the ZMTP/2.0 short/long frame boundary (255 octets), routing ids,
PUB/SUB and XPUB/XSUB filtering and unsubscribing, a 4 MiB message and 10,000 in order.
"""

from __future__ import annotations

import errno
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import zmq  # pyzmq (libzmq), a test dependency

import vmzmq
from jeromq_peer import JeromqPeer, encode, payload

TIMEOUT_MS = 10_000  # generous: only a broken case, which fails instead of hanging, waits this
PROBE_MS = 100  # one slow-joiner probe's wait; probes are resent until one arrives
CLIENT_ID, SERVER_ID = b"client-\xff\x01", b"server-\x02"
SYNC = b"\x01\xffsync"  # XSUB's throwaway subscriptions: nothing published starts with b"\xff"


@dataclass(frozen=True)
class Pair:
    """A socket pair: the client sends first, the server answers if ``reply``."""

    client: str
    server: str
    prefix: tuple[bytes, ...] = ()  # the client puts it before each request, gets it on replies
    envelope: int = 0  # frames before each request at the server: routing id, delimiter
    reply: bool = True
    client_id: bytes | None = None
    server_id: bytes | None = None


PUSH_PULL = Pair("PUSH", "PULL", reply=False)
PUB_SUB = Pair("PUB", "SUB", reply=False)
XPUB_XSUB = Pair("XPUB", "XSUB", reply=False)
PAIRS = [
    Pair("REQ", "REP"),
    Pair("REQ", "ROUTER", envelope=2),
    Pair("DEALER", "REP", prefix=(b"",)),
    Pair("DEALER", "ROUTER", envelope=1),
    Pair("DEALER", "DEALER"),
    Pair("PAIR", "PAIR"),
    PUSH_PULL,
    PUB_SUB,
    XPUB_XSUB,
    # the client addresses the server by the identity the server announced in its handshake
    Pair("ROUTER", "ROUTER", (SERVER_ID,), 1, client_id=CLIENT_ID, server_id=SERVER_ID),
]

# Requests and replies: empty frames anywhere, and frames of 255 and 256 octets, the largest
# short and the smallest long frame of ZMTP/2.0.
ROUNDS = [
    ([b"", b"a", b"", b""], [b"", b"", b"r"]),
    ([b"x" * 255, b"y" * 256, b"\x00\xff"], [b"z" * 256, b""]),
    ([b"last"], [b"\x01" * 255]),
]


# -- one operation on either side ------------------------------------------------------------------
@dataclass
class Pending:
    """An operation on one side. JeroMQ's starts when it is made (only its answer is left to
    read); Python's runs when settled. So a Python call that waits for the JVM, or the JVM's
    that waits for Python, never waits for something that was not started yet."""

    finish: Callable[[], Any]
    remote: bool


def settle(*ops: Pending) -> list[Any]:
    """Finish operations, Python's first; their results in the order given."""
    results: list[Any] = [None] * len(ops)
    for i in sorted(range(len(ops)), key=lambda i: ops[i].remote):
        results[i] = ops[i].finish()
    return results


def check_stream(msg: list[bytes] | None, i: int, n: int, size: int) -> None:
    if msg != [payload(i, size)]:
        shape = [(len(f), int.from_bytes(f[:8], "big")) for f in msg or []]
        raise AssertionError(f"message {i} of {n}: got (length, index) of frames {shape}")


class PySide:
    """A vmzmq or pyzmq socket."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock

    def _recv(self, timeout_ms: int | None) -> list[bytes] | None:
        if not self.sock.poll(timeout_ms or TIMEOUT_MS):
            if timeout_ms is None:
                raise AssertionError(f"nothing received within {TIMEOUT_MS} ms")
            return None
        return self.sock.recv_multipart()

    def _try_send(self, frames: list[bytes]) -> bool:
        try:
            self.sock.send_multipart(frames)
        except Exception as exc:  # zmq.ZMQError / vmzmq.ZMQError
            if getattr(exc, "errno", None) != errno.EHOSTUNREACH:
                raise
            return False
        return True

    def _send_many(self, n: int, size: int) -> None:
        for i in range(n):
            self.sock.send(payload(i, size))

    def _recv_many(self, n: int, size: int) -> None:
        for i in range(n):
            check_stream(self._recv(None), i, n, size)

    def send(self, frames: list[bytes]) -> Pending:
        return Pending(lambda: self.sock.send_multipart(frames), False)

    def try_send(self, frames: list[bytes]) -> Pending:
        """Send, or False if the ROUTER (ROUTER_MANDATORY) does not know the peer yet."""
        return Pending(lambda: self._try_send(frames), False)

    def recv(self, timeout_ms: int | None = None) -> Pending:
        """A message; without ``timeout_ms``, failing after TIMEOUT_MS, else None then."""
        return Pending(lambda: self._recv(timeout_ms), False)

    def send_many(self, n: int, size: int) -> Pending:
        return Pending(lambda: self._send_many(n, size), False)

    def recv_many(self, n: int, size: int) -> Pending:
        return Pending(lambda: self._recv_many(n, size), False)

    def subscribe(self, topic: bytes) -> None:
        self.sock.subscribe(topic)

    def unsubscribe(self, topic: bytes) -> None:
        self.sock.unsubscribe(topic)


class JavaSide:
    """The JeroMQ socket in ScriptPeer, with the same methods as PySide."""

    def __init__(self, peer: JeromqPeer) -> None:
        self.peer = peer

    def _start(self, line: str, parse: Callable[[str], Any] | None = None) -> Pending:
        """Start a command; its answer, read when settled, is parsed (or must be "ok")."""
        self.peer.start(line)

        def finish() -> Any:
            answer = self.peer.reply()
            return parse(answer) if parse else self.peer.check(answer, line)

        return Pending(finish, True)

    def _recv(self, answer: str, timeout_ms: int | None) -> list[bytes] | None:
        msg = self.peer.parse_recv(answer)
        if msg is None and timeout_ms is None:
            raise AssertionError(f"JeroMQ received nothing within {TIMEOUT_MS} ms")
        return msg

    def send(self, frames: list[bytes]) -> Pending:
        return self._start(f"send {encode(frames)}")

    def try_send(self, frames: list[bytes]) -> Pending:
        line = f"send {encode(frames)}"
        return self._start(
            line,
            lambda answer: answer != "err EHOSTUNREACH" and self.peer.check(answer, line) == "",
        )

    def recv(self, timeout_ms: int | None = None) -> Pending:
        return self._start(
            f"recv {timeout_ms or TIMEOUT_MS}", lambda answer: self._recv(answer, timeout_ms)
        )

    def send_many(self, n: int, size: int) -> Pending:
        return self._start(f"sendmany {n} {size}")

    def recv_many(self, n: int, size: int) -> Pending:
        return self._start(f"recvmany {n} {size}")

    def subscribe(self, topic: bytes) -> None:
        self.peer.subscribe(topic)

    def unsubscribe(self, topic: bytes) -> None:
        self.peer.unsubscribe(topic)


Side = PySide | JavaSide


# -- what the cases do -----------------------------------------------------------------------------
def subscribe(pair: Pair, pub: Side, sub: Side, *changes: bytes) -> list[bytes] | None:
    """Apply subscription changes, written as XSUB sends them (b"\\x01" subscribe or b"\\x00"
    unsubscribe, then the topic), and wait until the publisher applies them. Returns the probe
    message, whose copies may still be arriving, if there was one."""
    if pair.server == "XSUB":
        for change in changes:  # XPUB passes each new (or last) (un)subscription up
            got = settle(sub.send([change]), pub.recv())[1]
            while got[0].startswith(SYNC):
                got = settle(pub.recv())[0]
            assert got == [change]
        return None
    for change in changes:
        (sub.subscribe if change[0] else sub.unsubscribe)(change[1:])
    # Slow joiner: the publisher drops what it sends before it has the subscription
    probe = [changes[-1][1:] + b"\x00probe"]
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while (got := settle(pub.send(probe), sub.recv(PROBE_MS))[1]) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"the subscriber never received the probe {probe}")
    assert got == probe
    return probe


def connected(pair: Pair, client: Side, server: Side, topic: bytes = b"") -> list[bytes] | None:
    """Wait until what the client sends reaches the server (subscribed to ``topic``); the
    probe message to ignore, if any."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    if pair.server == "XSUB":
        # Neither libzmq 4.3.5 nor JeroMQ 0.3.6 promptly hands a connecting XPUB what a bound
        # XSUB subscribed to before they connected (libzmq: not until something follows it):
        # send throwaway subscriptions, matching nothing published, until one comes through.
        for n in itertools.count():
            if settle(server.send([SYNC + b"%d" % n]), client.recv(PROBE_MS))[1]:
                break
            if time.monotonic() > deadline:
                raise AssertionError("no subscription reached the XPUB")
    if pair.server in ("SUB", "XSUB"):
        return subscribe(pair, client, server, b"\x01" + topic)
    if pair.client == "ROUTER":  # ROUTER_MANDATORY: unroutable until the handshake is done
        hello = [*pair.prefix, b"hello"]
        while not settle(client.try_send(hello))[0]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{pair.server_id!r} never became routable")
            time.sleep(0.01)
        assert settle(server.recv())[0] == [pair.client_id, b"hello"]
    return None


def receive(server: Side, sent: Pending, probe: list[bytes] | None) -> list[bytes]:
    got = settle(sent, server.recv())[1]
    while got == probe:
        got = settle(server.recv())[0]
    return got


def exchange(pair: Pair, client: Side, server: Side) -> None:
    probe = connected(pair, client, server)
    for request, reply in ROUNDS:
        got = receive(server, client.send([*pair.prefix, *request]), probe)
        envelope, body = got[: pair.envelope], got[pair.envelope :]
        assert body == request
        if pair.server == "ROUTER":
            assert envelope[0], "an empty routing id"
            if pair.client_id:
                assert envelope[0] == pair.client_id
            assert envelope[1:] == [b""] * (pair.envelope - 1)  # REQ's delimiter
        if pair.reply:
            got = settle(server.send([*envelope, *reply]), client.recv())[1]
            assert got == [*pair.prefix, *reply]


def filtering(pair: Pair, pub: Side, sub: Side) -> None:
    def until(end: bytes, probe: list[bytes] | None) -> list[list[bytes]]:
        got = []
        while (msg := settle(sub.recv())[0]) != [end]:
            if msg != probe:
                got.append(msg)
        return got

    probe = connected(pair, pub, sub, b"ab")
    for topic in (b"b", b"a", b"abc", b"ab-end"):
        settle(pub.send([topic]))
    assert until(b"ab-end", probe) == [[b"abc"]]
    probe = subscribe(pair, pub, sub, b"\x00ab", b"\x01zz")
    for topic in (b"abd", b"zz-end"):
        settle(pub.send([topic]))
    assert until(b"zz-end", probe) == []


def stream(n: int, size: int) -> Callable[[Pair, Side, Side], None]:
    def run(pair: Pair, pusher: Side, puller: Side) -> None:
        settle(pusher.send_many(n, size), puller.recv_many(n, size))

    return run


CASES = [
    *[pytest.param(p, exchange, id=f"{p.client}-{p.server}") for p in PAIRS],
    pytest.param(
        Pair("REQ", "ROUTER", envelope=2, client_id=CLIENT_ID), exchange, id="REQ-ROUTER-identity"
    ),
    pytest.param(
        Pair("DEALER", "ROUTER", envelope=1, client_id=CLIENT_ID),
        exchange,
        id="DEALER-ROUTER-identity",
    ),
    pytest.param(PUB_SUB, filtering, id="PUB-SUB-filter"),
    pytest.param(XPUB_XSUB, filtering, id="XPUB-XSUB-filter"),
    pytest.param(PUSH_PULL, stream(1, 4 << 20), id="PUSH-PULL-4MiB"),
    pytest.param(PUSH_PULL, stream(10_000, 64), id="PUSH-PULL-10000"),
]


# -- fixtures and the test -------------------------------------------------------------------------
@pytest.fixture(params=["vmzmq", "libzmq"])
def lib(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """The Python side's module and a context of it."""
    mod = vmzmq if request.param == "vmzmq" else zmq
    ctx = mod.Context()
    yield mod, ctx
    ctx.destroy(linger=0)


@pytest.fixture
def jeromq() -> Iterator[Callable[[], JeromqPeer]]:
    """Starts JVMs in the test itself, so that a missing JDK or JeroMQ fails the test."""
    peers: list[JeromqPeer] = []

    def start() -> JeromqPeer:
        peers.append(JeromqPeer())
        return peers[-1]

    yield start
    for peer in peers:
        peer.close()


def open_pair(
    pair: Pair, java_role: str, binder: str, peer: JeromqPeer, mod: Any, ctx: Any
) -> tuple[Side, Side]:
    """The client and server sides, connected over tcp on loopback."""
    kinds = {"client": pair.client, "server": pair.server}
    options: dict[str, dict[str, bytes | int | None]] = {
        "client": {"identity": pair.client_id, "router_mandatory": int(pair.client == "ROUTER")},
        "server": {"identity": pair.server_id},
    }
    py_role = "server" if java_role == "client" else "client"
    peer.socket(kinds[java_role])
    sock = ctx.socket(getattr(mod, kinds[py_role]))
    sock.linger, sock.rcvtimeo, sock.sndtimeo = 0, TIMEOUT_MS, TIMEOUT_MS
    for name, value in options[java_role].items():
        if value:
            peer.setsockopt(name, value)
    for name, value in options[py_role].items():
        if value:
            setattr(sock, name, value)
    if binder == "python":
        sock.bind("tcp://127.0.0.1:*")
        endpoint = sock.last_endpoint
        peer.connect(endpoint.decode() if isinstance(endpoint, bytes) else endpoint)
    else:
        sock.connect(peer.bind("tcp://127.0.0.1:*"))
    sides: dict[str, Side] = {java_role: JavaSide(peer), py_role: PySide(sock)}
    return sides["client"], sides["server"]


@pytest.mark.parametrize("binder", ["python", "java"], ids=lambda b: f"{b}-binds")
@pytest.mark.parametrize("java_role", ["client", "server"], ids=lambda r: f"java-{r}")
@pytest.mark.parametrize("pair, case", CASES)
def test_jeromq(
    lib: tuple[Any, Any],
    jeromq: Callable[[], JeromqPeer],
    pair: Pair,
    case: Callable[[Pair, Side, Side], None],
    java_role: str,
    binder: str,
) -> None:
    case(pair, *open_pair(pair, java_role, binder, jeromq(), *lib))
