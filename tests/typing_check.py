"""A small program that uses vmzmq the way pyzmq's users use pyzmq, annotated as they would
annotate it: ``tests/test_typing.py`` checks that it passes ``mypy --strict`` (and runs it,
so that what the annotations say is also what happens).

Sockets, contexts, pollers, the asyncio flavour and ZAP authentication each get a part.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from typing import Any

import vmzmq as zmq
import vmzmq.asyncio
import vmzmq.auth
from vmzmq.auth.asyncio import AsyncioAuthenticator
from vmzmq.auth.thread import ThreadAuthenticator

TIMEOUT_MS = 5000


# -- synchronous sockets --------------------------------------------------------------------------
def pair(
    ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str
) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
    """A bound PUSH and a PULL connected to it."""
    push: zmq.Socket[bytes] = ctx.socket(zmq.PUSH)
    pull = ctx.socket(zmq.PULL)
    for sock in (push, pull):
        sock.linger = 0
        sock.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    push.bind(endpoint)
    pull.connect(endpoint)
    return push, pull


def receive_text(sock: zmq.Socket[bytes]) -> str:
    data: bytes = sock.recv()
    return data.decode()


def receive_parts(sock: zmq.Socket) -> list[bytes]:  # a bare Socket is any socket, as in pyzmq
    return sock.recv_multipart()


def sync_part() -> None:
    with zmq.Context() as ctx:
        push, pull = pair(ctx, "inproc://typing-sync")
        push.send(b"hello")
        assert receive_text(pull) == "hello"

        push.send_multipart([b"a", memoryview(b"b"), zmq.Frame(b"c")])
        assert receive_parts(pull) == [b"a", b"b", b"c"]

        tracker: zmq.MessageTracker | None = push.send(b"x" * 100_000, copy=False, track=True)
        frame: zmq.Frame = pull.recv(copy=False)
        assert frame.bytes == b"x" * 100_000 and not frame.more
        assert tracker is not None and isinstance(tracker.done, bool)

        push.send_string("text")
        assert pull.recv_string() == "text"
        push.send_json({"n": 1})
        doc: Any = pull.recv_json()
        assert doc == {"n": 1}
        push.send_serialized({"k": [1, 2]}, lambda obj: [json.dumps(obj).encode()])
        decoded = pull.recv_serialized(lambda frames: json.loads(frames[0]))
        assert decoded == {"k": [1, 2]}

        poller = zmq.Poller()
        poller.register(pull, zmq.POLLIN)
        assert dict(poller.poll(0)) == {}
        push.send(b"ready")
        events = dict(poller.poll(TIMEOUT_MS))
        assert events.get(pull) == zmq.POLLIN
        assert pull.poll(0) == zmq.POLLIN
        assert pull.recv(zmq.NOBLOCK) == b"ready"

        try:
            pull.recv(zmq.DONTWAIT)
        except zmq.Again:
            pass
        try:
            pull.bind("nonsense://")
        except zmq.ZMQError as exc:
            assert exc.errno is not None and exc.strerror

        timeout = pull.rcvtimeo  # options read as attributes: int, bytes or str, as in pyzmq
        assert isinstance(timeout, int) and timeout == TIMEOUT_MS
        assert pull.getsockopt(zmq.TYPE) == zmq.PULL
        port: int = push.bind_to_random_port("tcp://127.0.0.1")
        assert port > 0
        push.close()
        pull.close()


class CountingSocket(zmq.Socket[bytes]):
    """A subclass and a context that makes it, as pyzmq programs define them."""

    sent: int = 0

    def send_counted(self, data: bytes) -> None:
        self.sent += 1
        self.send(data)


class CountingContext(zmq.Context[CountingSocket]):
    _socket_class = CountingSocket


def subclass_part() -> None:
    ctx = CountingContext()
    with ctx.socket(zmq.PAIR) as a, ctx.socket(zmq.PAIR) as b:
        a.bind("inproc://typing-subclass")
        b.connect("inproc://typing-subclass")
        a.send_counted(b"one")
        assert b.recv() == b"one" and a.sent == 1
        plain: zmq.Socket[bytes] = ctx.socket(zmq.PAIR, socket_class=zmq.Socket)
        plain.close()
    ctx.term()
    shared: zmq.Context = zmq.Context.instance()
    assert zmq.Context.instance() is shared


# -- asyncio --------------------------------------------------------------------------------------
async def async_part() -> None:
    ctx = zmq.asyncio.Context()
    a: zmq.asyncio.Socket = ctx.socket(zmq.PAIR)
    b = ctx.socket(zmq.PAIR)
    a.bind("inproc://typing-async")
    b.connect("inproc://typing-async")

    await a.send(b"ping")
    data: bytes = await b.recv()
    assert data == b"ping"
    await a.send_multipart([b"x", b"y"])
    parts: list[bytes] = await asyncio.wait_for(b.recv_multipart(), TIMEOUT_MS / 1000)
    assert parts == [b"x", b"y"]
    await a.send_string("s")
    assert await b.recv_string() == "s"
    await a.send(b"frame")
    frame = await b.recv(copy=False)
    assert frame.bytes == b"frame"

    poller = zmq.asyncio.Poller()
    poller.register(b, zmq.POLLIN)
    await a.send_json([1])
    ready = dict(await poller.poll(TIMEOUT_MS))
    assert ready[b] == zmq.POLLIN
    events: int = await b.poll(0)
    assert events == zmq.POLLIN
    assert await b.recv_json() == [1]

    # An asyncio socket is a Socket, as in pyzmq (a bare annotation takes either kind).
    sockets: list[zmq.Socket] = [a, b]
    for sock in sockets:
        sock.close(linger=0)
    ctx.term()


# -- authentication -------------------------------------------------------------------------------
class KeyCheck:
    """A credentials provider for configure_curve_callback."""

    def callback(self, domain: str, key: bytes) -> bool:
        return domain == "*" and len(key) == 40


def plain_exchange(ctx: zmq.Context[zmq.Socket[bytes]], password: str) -> bytes | None:
    """A PLAIN client's message as its server gets it (None: the client was refused)."""
    server = ctx.socket(zmq.PULL)
    server.plain_server = True
    server.linger = 0
    server.rcvtimeo = 500
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = ctx.socket(zmq.PUSH)
    client.plain_username = b"admin"
    client.plain_password = password.encode()
    client.linger = 0
    client.connect(f"tcp://127.0.0.1:{port}")
    client.send(b"secret")
    try:
        return server.recv()
    except zmq.Again:
        return None
    finally:
        client.close()
        server.close()


def auth_part() -> None:
    with tempfile.TemporaryDirectory() as keys:
        public_file, secret_file = vmzmq.auth.create_certificates(keys, "server")
        public, secret = vmzmq.auth.load_certificate(secret_file)
        assert secret is not None and len(public) == 40
        trusted: dict[bytes, bool] = vmzmq.auth.load_certificates(keys)
        assert public in trusted and public_file.endswith(".key")

    with zmq.Context() as ctx:
        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.allow("127.0.0.1")
        auth.configure_plain(domain="*", passwords={"admin": "secret"})
        auth.configure_curve(domain="*", location=vmzmq.auth.CURVE_ALLOW_ANY)
        auth.configure_curve_callback(domain="other", credentials_provider=KeyCheck())
        try:
            assert plain_exchange(ctx, "secret") == b"secret"
            assert plain_exchange(ctx, "wrong") is None
        finally:
            auth.stop()
        assert not auth.is_alive()


async def async_auth_part() -> None:
    ctx = zmq.asyncio.Context()
    auth = AsyncioAuthenticator(ctx)
    auth.start()
    auth.configure_plain(passwords={"admin": "secret"})
    auth.stop()
    ctx.term()


def main() -> None:
    sync_part()
    subclass_part()
    asyncio.run(async_part())
    auth_part()
    asyncio.run(async_auth_part())
    zmq.Context.instance().term()


if __name__ == "__main__":
    main()
