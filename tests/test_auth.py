"""vmzmq.auth: certificate files (against pyzmq's zmq.auth both ways) and the ZAP handler.

The handler is tested as the engine will use it, through its socket: a DEALER in the same
context sends hand-built RFC 27 requests to ``inproc://zeromq.zap.01`` and reads the replies.
Every policy test runs against the three ways of running it: ``Authenticator`` driven by hand
(``handle_zap_message`` on what its socket received), ``ThreadAuthenticator`` and
``AsyncioAuthenticator``.
"""

from __future__ import annotations

import asyncio
import errno
import importlib
import inspect
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq as pyzmq
import zmq.auth as pyzmq_auth

import vmzmq
import vmzmq.asyncio
import vmzmq.auth
from vmzmq.auth import (
    CURVE_ALLOW_ANY,
    Authenticator,
    create_certificates,
    load_certificate,
    load_certificates,
)
from vmzmq.auth.asyncio import AsyncioAuthenticator
from vmzmq.auth.thread import ThreadAuthenticator
from vmzmq.utils import z85

ZAP = "inproc://zeromq.zap.01"
# A hang guard, not a wait: every reply asked for is expected, or the test fails.
TIMEOUT_MS = 10_000

needs_curve = pytest.mark.skipif(not vmzmq.has("curve"), reason="needs PyNaCl")


def zap_request(
    mechanism: bytes = b"NULL",
    *credentials: bytes,
    rid: bytes = b"1",
    domain: bytes = b"",
    address: bytes = b"127.0.0.1",
    version: bytes = b"1.0",
) -> list[bytes]:
    """A request as a server socket's engine sends it (a DEALER: delimiter first)."""
    return [b"", version, rid, domain, address, b"server-routing-id", mechanism, *credentials]


def verdict(reply: list[bytes], rid: bytes = b"1") -> tuple[bytes, bytes, bytes]:
    """(status code, status text, user id) of a well-formed reply to request ``rid``."""
    assert len(reply) == 7, reply
    delimiter, version, got_rid, code, text, user_id, metadata = reply
    assert (delimiter, version, got_rid, metadata) == (b"", b"1.0", rid, b"")
    return code, text, user_id


# -- the three ways of running the handler, behind one interface ----------------------------------
class Driver:
    """Owns an authenticator bound in ``ctx`` and a DEALER client connected to it."""

    auth: Authenticator

    def exchange(self, *requests: list[bytes]) -> list[list[bytes]]:
        """Send ``requests``; return every reply received up to the one to the last request
        (whose request id must be unique), so a request answered or dropped by mistake
        shows."""
        raise NotImplementedError

    def ask(self, request: list[bytes]) -> tuple[bytes, bytes, bytes]:
        replies = self.exchange(request)
        assert len(replies) == 1
        return verdict(replies[0], request[2])

    def close(self) -> None:
        raise NotImplementedError


def _until_last(replies: list[list[bytes]], requests: tuple[list[bytes], ...]) -> bool:
    return bool(replies) and len(replies[-1]) > 2 and replies[-1][2] == requests[-1][2]


class ByHand(Driver):
    def __init__(self, ctx: vmzmq.Context) -> None:
        self.auth = Authenticator(ctx)
        self.auth.start()
        assert self.auth.zap_socket is not None
        self.auth.zap_socket.rcvtimeo = TIMEOUT_MS
        self.client = ctx.socket(vmzmq.DEALER)
        self.client.rcvtimeo = TIMEOUT_MS
        self.client.connect(ZAP)

    def exchange(self, *requests: list[bytes]) -> list[list[bytes]]:
        for request in requests:
            self.client.send_multipart(request)
        assert self.auth.zap_socket is not None
        for _ in requests:
            asyncio.run(self.auth.handle_zap_message(self.auth.zap_socket.recv_multipart()))
        replies: list[list[bytes]] = []
        while not _until_last(replies, requests):
            replies.append(self.client.recv_multipart())
        return replies

    def close(self) -> None:
        self.client.close(linger=0)
        self.auth.stop()


class InThread(Driver):
    def __init__(self, ctx: vmzmq.Context) -> None:
        self.auth = ThreadAuthenticator(ctx)
        self.auth.start()
        self.client = ctx.socket(vmzmq.DEALER)
        self.client.rcvtimeo = TIMEOUT_MS
        self.client.connect(ZAP)

    def exchange(self, *requests: list[bytes]) -> list[list[bytes]]:
        for request in requests:
            self.client.send_multipart(request)
        replies: list[list[bytes]] = []
        while not _until_last(replies, requests):
            replies.append(self.client.recv_multipart())
        return replies

    def close(self) -> None:
        self.client.close(linger=0)
        self.auth.stop()


class OnLoop(Driver):
    """The loop runs only inside exchange(); the authenticator's task lives on it between."""

    def __init__(self, ctx: vmzmq.Context) -> None:
        self.loop = asyncio.new_event_loop()
        self.auth = AsyncioAuthenticator(ctx)

        async def start() -> None:
            self.auth.start()

        self.loop.run_until_complete(start())
        self.client = vmzmq.asyncio.Context(ctx).socket(vmzmq.DEALER)
        self.client.rcvtimeo = TIMEOUT_MS
        self.client.connect(ZAP)

    def exchange(self, *requests: list[bytes]) -> list[list[bytes]]:
        async def go() -> list[list[bytes]]:
            for request in requests:
                await self.client.send_multipart(request)
            replies: list[list[bytes]] = []
            while not _until_last(replies, requests):
                replies.append(await self.client.recv_multipart())
            return replies

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        task = self.auth._task
        self.auth.stop()
        self.client.close(linger=0)
        if task is not None:
            self.loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
            assert task.cancelled()
        self.loop.close()


DRIVERS = {"by-hand": ByHand, "thread": InThread, "asyncio": OnLoop}


@pytest.fixture(params=list(DRIVERS))
def driver(request: pytest.FixtureRequest, ctx: vmzmq.Context) -> Iterator[Driver]:
    d = DRIVERS[request.param](ctx)
    try:
        yield d
    finally:
        d.close()


class Provider:
    """A credentials provider as pyzmq documents it: ``callback(domain, z85_key)``."""

    def __init__(self, allowed: bytes, awaitable: bool = False, fail: bool = False) -> None:
        self.allowed = allowed
        self.awaitable = awaitable
        self.fail = fail
        self.calls: list[tuple[str, bytes]] = []

    def callback(self, domain: str, key: bytes) -> Any:
        self.calls.append((domain, key))
        if self.fail:
            raise RuntimeError("the key database is down")
        if self.awaitable:
            return self._later(key)
        return key == self.allowed

    async def _later(self, key: bytes) -> bool:
        await asyncio.sleep(0)  # really suspends: the handler must await it
        return key == self.allowed


KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


# -- NULL and the address lists -------------------------------------------------------------------
def test_null_admitted_by_default(driver: Driver) -> None:
    assert driver.ask(zap_request(b"NULL")) == (b"200", b"OK", b"anonymous")


def test_allow_list(driver: Driver) -> None:
    driver.auth.allow("127.0.0.1", "10.0.0.2")
    assert driver.ask(zap_request(address=b"10.0.0.2"))[0] == b"200"
    assert driver.ask(zap_request(address=b"10.0.0.3")) == (b"400", b"Address not allowed", b"")


def test_deny_list(driver: Driver) -> None:
    driver.auth.deny("10.0.0.3")
    assert driver.ask(zap_request(address=b"10.0.0.2"))[0] == b"200"
    assert driver.ask(zap_request(address=b"10.0.0.3")) == (b"400", b"Address denied", b"")


def test_allowed_address_still_needs_credentials(driver: Driver) -> None:
    driver.auth.allow("127.0.0.1")
    driver.auth.configure_plain(passwords={"admin": "secret"})
    assert driver.ask(zap_request(b"PLAIN", b"admin", b"wrong"))[0] == b"400"
    assert driver.ask(zap_request(b"PLAIN", b"admin", b"secret"))[0] == b"200"


def test_denied_address_refused_whatever_its_credentials(driver: Driver) -> None:
    driver.auth.deny("10.0.0.3")
    driver.auth.configure_plain(passwords={"admin": "secret"})
    request = zap_request(b"PLAIN", b"admin", b"secret", address=b"10.0.0.3")
    assert driver.ask(request) == (b"400", b"Address denied", b"")


def test_allow_and_deny_exclude_each_other(ctx: vmzmq.Context) -> None:
    auth = Authenticator(ctx)
    auth.allow("127.0.0.1")
    with pytest.raises(ValueError):
        auth.deny("10.0.0.1")
    other = Authenticator(ctx)
    other.deny("10.0.0.1")
    with pytest.raises(ValueError):
        other.allow("127.0.0.1")


# -- PLAIN ----------------------------------------------------------------------------------------
def test_plain(driver: Driver) -> None:
    driver.auth.configure_plain(passwords={"admin": "secret", "ünï": "pässword"})
    assert driver.ask(zap_request(b"PLAIN", b"admin", b"secret")) == (b"200", b"OK", b"admin")
    right = zap_request(b"PLAIN", "ünï".encode(), "pässword".encode())
    assert driver.ask(right) == (b"200", b"OK", "ünï".encode())
    assert driver.ask(zap_request(b"PLAIN", b"admin", b"secreT")) == (
        b"400",
        b"Invalid password",
        b"",
    )
    assert driver.ask(zap_request(b"PLAIN", b"admin", b"")) == (b"400", b"Invalid password", b"")
    assert driver.ask(zap_request(b"PLAIN", b"root", b"secret"))[:2] == (
        b"400",
        b"Invalid username",
    )


def test_plain_without_passwords_refuses(driver: Driver) -> None:
    assert driver.ask(zap_request(b"PLAIN", b"admin", b"secret")) == (
        b"400",
        b"No passwords defined",
        b"",
    )


def test_plain_domains(driver: Driver) -> None:
    driver.auth.configure_plain("global", {"admin": "secret"})
    assert driver.ask(zap_request(b"PLAIN", b"admin", b"secret", domain=b"global"))[0] == b"200"
    assert driver.ask(zap_request(b"PLAIN", b"admin", b"secret", domain=b"local"))[:2] == (
        b"400",
        b"Invalid domain",
    )
    # A request naming no domain is the "*" domain's, which has no passwords here.
    assert driver.ask(zap_request(b"PLAIN", b"admin", b"secret"))[:2] == (
        b"400",
        b"Invalid domain",
    )


def test_plain_bad_credentials(driver: Driver) -> None:
    driver.auth.configure_plain(passwords={"admin": "secret"})
    # Not UTF-8: matches nothing, not even a password that decodes to the same replacement.
    driver.auth.configure_plain("raw", {"admin": "\ufffd"})
    bad = zap_request(b"PLAIN", b"admin", b"\xff", domain=b"raw")
    assert driver.ask(bad) == (b"400", b"Invalid credentials", b"")
    three = zap_request(b"PLAIN", b"admin", b"secret", b"extra")
    assert driver.ask(three) == (b"400", b"Invalid credentials", b"")


def test_passwords_never_logged(driver: Driver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vmzmq.auth")
    driver.auth.configure_plain(passwords={"admin": "Pw-right-4b1d"})
    driver.ask(zap_request(b"PLAIN", b"admin", b"Pw-right-4b1d", rid=b"1"))
    driver.ask(zap_request(b"PLAIN", b"admin", b"Pw-wrong-77c3", rid=b"2"))
    driver.ask(zap_request(b"PLAIN", b"admin", b"Pw-extra-9e0f", b"x", rid=b"3"))
    assert "admin" in caplog.text  # the log was captured at all
    for secret in ("Pw-right-4b1d", "Pw-wrong-77c3", "Pw-extra-9e0f"):
        assert secret not in caplog.text


# -- CURVE ----------------------------------------------------------------------------------------
@needs_curve
def test_curve_certificate_directory(driver: Driver, tmp_path: Path) -> None:
    public_file, _ = create_certificates(tmp_path, "client")
    public = load_certificate(public_file)[0]
    driver.auth.configure_curve(domain="*", location=tmp_path)
    key = z85.decode(public)
    assert driver.ask(zap_request(b"CURVE", key)) == (b"200", b"OK", public)
    assert driver.ask(zap_request(b"CURVE", KEY_A)) == (b"400", b"Unknown key", b"")
    other_domain = zap_request(b"CURVE", key, domain=b"elsewhere")
    assert driver.ask(other_domain) == (b"400", b"Unknown domain", b"")


def test_curve_unconfigured_refuses(driver: Driver) -> None:
    assert driver.ask(zap_request(b"CURVE", KEY_A))[0] == b"400"


def test_curve_allow_any(driver: Driver) -> None:
    driver.auth.configure_curve(domain="*", location=CURVE_ALLOW_ANY)
    assert driver.ask(zap_request(b"CURVE", KEY_A)) == (b"200", b"OK", z85.encode(KEY_A))
    assert driver.ask(zap_request(b"CURVE", KEY_B, domain=b"any"))[0] == b"200"


def test_curve_user_id_override(driver: Driver) -> None:
    driver.auth.configure_curve(location=CURVE_ALLOW_ANY)
    driver.auth.curve_user_id = lambda key: "alice" if key == KEY_A else "bob"  # type: ignore[method-assign]
    assert driver.ask(zap_request(b"CURVE", KEY_A)) == (b"200", b"OK", b"alice")


def test_curve_key_must_be_32_bytes(driver: Driver) -> None:
    driver.auth.configure_curve(location=CURVE_ALLOW_ANY)
    for rid, credentials in enumerate([[KEY_A[:31]], [KEY_A + b"\0"], [], [KEY_A, KEY_B]]):
        request = zap_request(b"CURVE", *credentials, rid=str(rid).encode())
        assert driver.ask(request) == (b"400", b"Invalid credentials", b"")


def test_curve_directory_that_cannot_be_read(
    driver: Driver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    driver.auth.configure_curve(location=CURVE_ALLOW_ANY)
    with caplog.at_level(logging.ERROR, logger="vmzmq.auth"):
        driver.auth.configure_curve(location=tmp_path / "missing")
    assert "cannot load CURVE certificates" in caplog.text
    # No longer "any key", and no certificates: refused.
    assert driver.ask(zap_request(b"CURVE", KEY_A))[0] == b"400"


@pytest.mark.parametrize("awaitable", [False, True], ids=["plain", "awaitable"])
def test_curve_callback(driver: Driver, awaitable: bool) -> None:
    provider = Provider(z85.encode(KEY_A), awaitable=awaitable)
    driver.auth.configure_curve_callback("*", provider)
    assert driver.ask(zap_request(b"CURVE", KEY_A, rid=b"1")) == (
        b"200",
        b"OK",
        z85.encode(KEY_A),
    )
    assert driver.ask(zap_request(b"CURVE", KEY_B, rid=b"2")) == (b"400", b"Unknown key", b"")
    assert provider.calls == [("*", z85.encode(KEY_A)), ("*", z85.encode(KEY_B))]
    # Other domains are not the callback's to decide.
    assert driver.ask(zap_request(b"CURVE", KEY_A, rid=b"3", domain=b"x"))[:2] == (
        b"400",
        b"Unknown domain",
    )


def test_failing_callback_answered_500(driver: Driver) -> None:
    provider = Provider(z85.encode(KEY_A), fail=True)
    driver.auth.configure_curve_callback("*", provider)
    replies = driver.exchange(
        zap_request(b"CURVE", KEY_A, rid=b"1"), zap_request(b"NULL", rid=b"2")
    )
    assert [verdict(r, rid) for r, rid in zip(replies, [b"1", b"2"], strict=True)] == [
        (b"500", b"Internal error", b""),
        (b"200", b"OK", b"anonymous"),
    ]


# -- mechanisms not served ------------------------------------------------------------------------
def test_gssapi_refused(driver: Driver) -> None:
    with pytest.raises(vmzmq.ZMQError, match="GSSAPI") as info:
        driver.auth.configure_gssapi()
    assert info.value.errno == errno.ENOTSUP
    driver.auth.allow("127.0.0.1")
    assert driver.ask(zap_request(b"GSSAPI", b"principal"))[0] == b"400"


def test_unknown_mechanism_refused_even_from_allowed_address(driver: Driver) -> None:
    driver.auth.allow("127.0.0.1")
    assert driver.ask(zap_request(b"MAGIC")) == (b"400", b"Unsupported mechanism", b"")


# -- malformed requests ---------------------------------------------------------------------------
def test_wrong_version_answered_400_and_handler_goes_on(driver: Driver) -> None:
    replies = driver.exchange(
        zap_request(version=b"2.0", rid=b"bad"), zap_request(b"NULL", rid=b"good")
    )
    assert len(replies) == 2
    assert verdict(replies[0], b"bad") == (b"400", b"Invalid version", b"")
    assert verdict(replies[1], b"good") == (b"200", b"OK", b"anonymous")


def test_too_few_frames_answered_400(driver: Driver) -> None:
    short = [b"", b"1.0", b"short", b"", b"127.0.0.1"]  # no identity, no mechanism
    replies = driver.exchange(short, zap_request(rid=b"good"))
    assert len(replies) == 2
    assert verdict(replies[0], b"short") == (b"400", b"Not enough frames", b"")
    assert verdict(replies[1], b"good")[0] == b"200"


@pytest.mark.parametrize(
    "unanswerable",
    [
        [b"", b"1.0"],  # no request id to answer
        [b""],  # nothing at all after the delimiter
        [b"no-delimiter", b"1.0", b"1"],  # no envelope: nowhere to send an answer
    ],
    ids=["version-only", "empty", "no-delimiter"],
)
def test_unanswerable_request_dropped_and_handler_goes_on(
    driver: Driver, unanswerable: list[bytes]
) -> None:
    replies = driver.exchange(unanswerable, zap_request(rid=b"good"))
    assert len(replies) == 1  # nothing came back for the unanswerable one
    assert verdict(replies[0], b"good")[0] == b"200"


# -- the thread and the task ----------------------------------------------------------------------
def test_thread_stop_joins_and_frees_the_endpoint(ctx: vmzmq.Context) -> None:
    auth = ThreadAuthenticator(ctx)
    auth.start()
    thread = auth.thread
    assert thread is not None and thread.is_alive() and auth.is_alive()
    auth.stop()
    assert not thread.is_alive()  # stop() returned only once the thread had ended
    assert not auth.is_alive() and auth.zap_socket is None and auth.pipe is None
    auth.stop()  # twice is harmless
    # The ZAP endpoint is free for the next handler, which answers.
    again = InThread(ctx)
    try:
        assert again.ask(zap_request())[0] == b"200"
    finally:
        again.close()


def test_second_handler_in_one_context_refused(ctx: vmzmq.Context) -> None:
    first = ThreadAuthenticator(ctx)
    first.start()
    try:
        second = ThreadAuthenticator(ctx)
        with pytest.raises(vmzmq.ZMQError) as info:
            second.start()
        assert info.value.errno == errno.EADDRINUSE
        assert second.thread is None and second.zap_socket is None
    finally:
        first.stop()


def test_thread_ends_quietly_when_context_destroyed(monkeypatch: pytest.MonkeyPatch) -> None:
    failures: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    ctx = vmzmq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    thread = auth.thread
    assert thread is not None
    ctx.destroy(linger=0)
    thread.join(TIMEOUT_MS / 1000)  # a hang guard: ending at once is what is tested
    assert not thread.is_alive()
    assert failures == []
    auth.stop()  # after the fact: still harmless


@pytest.mark.parametrize("kind", ["thread", "asyncio"])
def test_survives_a_handler_that_raises(
    ctx: vmzmq.Context, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    driver = DRIVERS[kind](ctx)
    original = driver.auth.handle_zap_message

    async def flaky(msg: Any) -> None:
        if msg[-1] == b"boom":
            raise RuntimeError("handler bug")
        await original(msg)

    driver.auth.handle_zap_message = flaky  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.ERROR, logger="vmzmq.auth"):
            replies = driver.exchange(
                zap_request(b"NULL", b"boom", rid=b"1"), zap_request(rid=b"2")
            )
        assert len(replies) == 1  # nothing for the request the handler failed on
        assert verdict(replies[0], b"2")[0] == b"200"
        assert "the ZAP handler failed" in caplog.text
    finally:
        driver.close()


def test_thread_takes_a_plain_function_handler(ctx: vmzmq.Context) -> None:
    # Code written for older pyzmq overrides handle_zap_message with a plain method.
    class Fixed(ThreadAuthenticator):
        def handle_zap_message(self, msg: Any) -> None:  # type: ignore[override]
            at = msg.index(b"")
            envelope, rid = msg[: at + 1], msg[at + 2]
            assert self.zap_socket is not None
            self.zap_socket.send_multipart([*envelope, b"1.0", rid, b"200", b"OK", b"u", b""])

    auth = Fixed(ctx)
    auth.start()
    client = ctx.socket(vmzmq.DEALER)
    client.rcvtimeo = TIMEOUT_MS
    client.connect(ZAP)
    try:
        client.send_multipart(zap_request(b"PLAIN", b"a", b"b", rid=b"7"))
        assert verdict(client.recv_multipart(), b"7") == (b"200", b"OK", b"u")
    finally:
        client.close(linger=0)
        auth.stop()


def test_asyncio_authenticator_loop_argument_deprecated(ctx: vmzmq.Context) -> None:
    with pytest.warns(DeprecationWarning, match="loop"):
        AsyncioAuthenticator(ctx, loop=object())


def test_asyncio_stop_ends_the_task(ctx: vmzmq.Context) -> None:
    async def main() -> None:
        auth = AsyncioAuthenticator(ctx)
        auth.start()
        task = auth._task
        assert task is not None
        await asyncio.sleep(0)  # let it start waiting
        auth.stop()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled() and auth.zap_socket is None
        # The endpoint is free again.
        again = AsyncioAuthenticator(ctx)
        again.start()
        again.stop()

    asyncio.run(main())


def test_default_context_is_the_shared_instance() -> None:
    assert Authenticator().context is vmzmq.Context.instance()


# -- certificates ---------------------------------------------------------------------------------
@needs_curve
def test_certificates_read_by_pyzmq(tmp_path: Path) -> None:
    public_file, secret_file = create_certificates(tmp_path, "server", {"name": "srv one"})
    assert (public_file, secret_file) == (
        str(tmp_path / "server.key"),
        str(tmp_path / "server.key_secret"),
    )
    public, none = pyzmq_auth.load_certificate(public_file)
    assert none is None
    public2, secret = pyzmq_auth.load_certificate(secret_file)
    assert public2 == public and secret is not None
    assert len(z85.decode(public)) == len(z85.decode(secret)) == 32
    assert pyzmq.curve_public(secret) == public
    assert load_certificate(public_file) == (public, None)
    assert load_certificate(secret_file) == (public, secret)
    assert pyzmq_auth.load_certificates(str(tmp_path)) == {public: True}


@needs_curve
def test_pyzmq_certificates_read_here(tmp_path: Path) -> None:
    public_file, secret_file = pyzmq_auth.create_certificates(
        str(tmp_path), "client", metadata={"name": "from pyzmq"}
    )
    public, secret = pyzmq_auth.load_certificate(secret_file)
    assert load_certificate(public_file) == (public, None)
    assert load_certificate(secret_file) == (public, secret)
    assert vmzmq.curve_public(secret) == public
    assert load_certificates(tmp_path) == {public: True}


@needs_curve
def test_secret_certificate_is_0600_from_the_start(tmp_path: Path) -> None:
    old = os.umask(0)  # the loosest umask: the mode must not come from it
    try:
        stale = tmp_path / "me.key_secret"
        stale.write_text("an old secret, world-readable\n")
        stale.chmod(0o644)
        public_file, secret_file = create_certificates(tmp_path, "me")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(public_file).st_mode) == 0o666  # umask 0: as open() makes it
    assert load_certificate(secret_file)[1] is not None
    # Nothing left behind by the write-then-rename.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me.key", "me.key_secret"]


@needs_curve
def test_metadata_written_to_both(tmp_path: Path) -> None:
    meta = {"name": "a b", "quote": 'say "hi"', "email": "x@example.com"}
    public_file, secret_file = create_certificates(tmp_path, "m", meta)
    for path in (public_file, secret_file):
        text = Path(path).read_text()
        assert '    name = "a b"\n' in text
        assert "    quote = 'say \"hi\"'\n" in text
        assert '    email = "x@example.com"\n' in text


@needs_curve
@pytest.mark.parametrize(
    "metadata",
    [
        {"name": "two\nlines"},
        {"name": "both \" and '"},
        {"public-key": "spoof"},
        {"secret-key-hint": "spoof"},
        {"has space": "x"},
        {"": "x"},
    ],
    ids=["newline", "quotes", "public-key", "secret-key-prefix", "space", "empty"],
)
def test_bad_metadata_refused_before_writing(tmp_path: Path, metadata: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        create_certificates(tmp_path, "bad", metadata)
    assert list(tmp_path.iterdir()) == []


def test_load_certificate_reads_the_curve_section_only(tmp_path: Path) -> None:
    path = tmp_path / "hand.key"
    path.write_text(
        "#   written by hand\n"
        "metadata\n"
        '    public-key-owner = "not a key"\n'
        "curve    # the keys\n"
        "    public-key = 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7'   \n"
        "    secret-key = JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6  # unquoted\n"
    )
    assert load_certificate(path) == (
        b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
        b"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
    )


def test_load_certificate_errors(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_certificate(tmp_path / "missing.key")
    no_key = tmp_path / "empty.key"
    no_key.write_text('metadata\n    public-key = "outside the curve section"\ncurve\n')
    with pytest.raises(ValueError, match="No public key"):
        load_certificate(no_key)
    with pytest.raises(OSError):
        load_certificates(tmp_path / "missing")


@needs_curve
def test_load_certificates_of_a_directory(tmp_path: Path) -> None:
    publics = set()
    for name in ("alice", "bob", "carol"):
        public_file, _ = create_certificates(tmp_path, name)
        publics.add(load_certificate(public_file)[0])
    (tmp_path / "notes.txt").write_text("not a certificate")
    (tmp_path / ".hidden.key").write_text('curve\n    public-key = "hidden"\n')
    expected = dict.fromkeys(publics, True)
    assert load_certificates(tmp_path) == expected == pyzmq_auth.load_certificates(str(tmp_path))
    (tmp_path / "sub.key").mkdir()  # a directory named like a certificate (pyzmq: error)
    assert load_certificates(tmp_path) == expected


# -- the API surface, against pyzmq's -------------------------------------------------------------
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (Authenticator, "zmq.auth.base.Authenticator"),
        (ThreadAuthenticator, "zmq.auth.thread.ThreadAuthenticator"),
        (AsyncioAuthenticator, "zmq.auth.asyncio.AsyncioAuthenticator"),
    ],
)
def test_same_public_methods_as_pyzmq(ours: type, theirs: str) -> None:
    module, _, name = theirs.rpartition(".")
    reference = getattr(importlib.import_module(module), name)
    for attr, member in vars(reference).items():
        if attr.startswith("_") and attr != "__init__" or not callable(member):
            continue
        mine = getattr(ours, attr)
        assert list(inspect.signature(mine).parameters) == list(
            inspect.signature(member).parameters
        ), attr
        assert inspect.iscoroutinefunction(mine) == inspect.iscoroutinefunction(member), attr


def test_same_module_names_as_pyzmq() -> None:
    for name in [*pyzmq_auth.base.__all__, *pyzmq_auth.certs.__all__]:
        assert hasattr(vmzmq.auth, name), name
    assert vmzmq.auth.CURVE_ALLOW_ANY == pyzmq_auth.CURVE_ALLOW_ANY
