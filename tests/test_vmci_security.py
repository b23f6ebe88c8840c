"""CURVE and PLAIN over real AF_VSOCK (``vmci://``), vmzmq on both ends (libzmq has no vmci
transport): the server binds ``vmci://*:*``, the client connects to ``vmci://1:PORT`` (CID 1
loops back inside the QEMU guest, see test_vmci.py). Kept small: Python runs ~10x slower there.

The encryption itself is checked against libzmq and on a captured wire in
test_security_curve.py; here the question is whether the mechanisms and the authenticator work
over the vsock transport (no Peer-Address there, so ZAP requests carry an empty address).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vmzmq
from vmci_helpers import VMADDR_CID_LOCAL, require_loopback
from vmzmq.auth import create_certificates, load_certificate
from vmzmq.auth.thread import ThreadAuthenticator

pytestmark = pytest.mark.vsock

TIMEOUT_MS = 30_000  # the guest is slow; a hang still fails, it does not block
MULTI = [b"first", b"", b"middle", b"", b""]
SUCCEEDED = int(vmzmq.EVENT_HANDSHAKE_SUCCEEDED)
PROTOCOL = int(vmzmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
AUTH = int(vmzmq.EVENT_HANDSHAKE_FAILED_AUTH)
CRYPTOGRAPHIC = int(vmzmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)


@pytest.fixture(autouse=True)
def _vsock_loopback() -> None:
    # Fails (never skips) under VMZMQ_REQUIRE_VSOCK=1, as in the guest run.
    require_loopback()


@pytest.fixture
def ctx() -> Iterator[vmzmq.Context]:
    context = vmzmq.Context()
    context.linger = 0
    yield context
    context.destroy(linger=0)


def make(ctx: vmzmq.Context, kind: int, **opts: Any) -> vmzmq.Socket:
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = TIMEOUT_MS
    s.sndtimeo = TIMEOUT_MS
    for name, value in opts.items():
        setattr(s, name, value)
    return s


def curve_server(s: vmzmq.Socket, public: bytes, secret: bytes) -> vmzmq.Socket:
    s.curve_secretkey = secret
    s.curve_publickey = public
    s.curve_server = True
    return s


def curve_client(
    s: vmzmq.Socket, server_public: bytes, keys: tuple[bytes, bytes] | None = None
) -> vmzmq.Socket:
    public, secret = keys or vmzmq.curve_keypair()
    s.curve_secretkey = secret
    s.curve_publickey = public
    s.curve_serverkey = server_public
    return s


def bind_vmci(s: vmzmq.Socket) -> str:
    """Bind ``vmci://*:*``; return what a client connects to: ``vmci://1:PORT``."""
    s.bind("vmci://*:*")
    port = int(s.last_endpoint.decode().rsplit(":", 1)[1])
    return f"vmci://{VMADDR_CID_LOCAL}:{port}"


def recv_within(s: vmzmq.Socket, copy: bool = True) -> list:
    if not s.poll(TIMEOUT_MS):
        raise AssertionError(f"nothing received on {s!r} within {TIMEOUT_MS} ms")
    return s.recv_multipart(copy=copy)


def expect_event(mon: vmzmq.Socket, event: int) -> int:
    seen = []
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0 or not mon.poll(left):
            raise AssertionError(f"no event {event:#x} (saw {seen})")
        head, _endpoint = mon.recv_multipart()
        got, value = struct.unpack("=Hi", head[:6])
        seen.append((hex(got), value))
        if got == event:
            return value


def on_vsock(s: vmzmq.Socket) -> None:
    """The socket's one connection really is an AF_VSOCK stream."""
    with s._core.lock:
        conns = list(s._core.connections)
    assert [c.sock.family for c in conns] == [socket.AF_VSOCK]


def test_curve_req_rep_over_vmci(ctx):
    public, secret = vmzmq.curve_keypair()
    server = curve_server(make(ctx, vmzmq.REP), public, secret)
    smon = server.get_monitor_socket()
    client = curve_client(make(ctx, vmzmq.REQ), public)
    client.connect(bind_vmci(server))
    for i in range(5):
        request = [b"%d" % i, *MULTI]
        client.send_multipart(request)
        assert recv_within(server) == request
        server.send_multipart([b"reply %d" % i, b"", b"x" * 1000])
        assert recv_within(client) == [b"reply %d" % i, b"", b"x" * 1000]
    expect_event(smon, SUCCEEDED)
    on_vsock(server)
    on_vsock(client)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("server_is", ["PULL", "PUSH"])
def test_curve_push_pull_burst_over_vmci(ctx, server_is):
    """1,500 small messages (more than SNDHWM/RCVHWM, so flow control is exercised) with a
    256 KiB one and a multipart one among them, in order; either side as the CURVE server."""
    public, secret = vmzmq.curve_keypair()
    push, pull = make(ctx, vmzmq.PUSH), make(ctx, vmzmq.PULL)
    server, client = (pull, push) if server_is == "PULL" else (push, pull)
    curve_server(server, public, secret)
    curve_client(client, public)
    client.connect(bind_vmci(server))
    msgs: list[list[bytes]] = [[b"%d" % i] for i in range(1500)]
    msgs[700:700] = [[bytes(range(256)) * 1024], [b"", b"multi", b""]]
    got: list[list[bytes]] = []
    errors: list[str] = []

    def collect() -> None:
        try:
            while len(got) < len(msgs):
                if not pull.poll(TIMEOUT_MS):
                    errors.append(f"stalled after {len(got)}")
                    return
                got.append(pull.recv_multipart())
        except Exception as exc:
            errors.append(repr(exc))

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    for msg in msgs:
        push.send_multipart(msg)
    thread.join(4 * TIMEOUT_MS / 1000)
    assert not thread.is_alive(), "the receiver hangs"
    assert errors == []
    assert got == msgs
    on_vsock(push)


def test_plain_with_thread_authenticator_over_vmci(ctx):
    auth = ThreadAuthenticator(ctx)
    auth.start()
    try:
        auth.configure_plain(domain="*", passwords={"admin": "secret"})
        server = make(ctx, vmzmq.PULL, plain_server=True)
        smon = server.get_monitor_socket()
        endpoint = bind_vmci(server)
        bad = make(ctx, vmzmq.PUSH, plain_username=b"admin", plain_password=b"wrong")
        bmon = bad.get_monitor_socket()
        bad.connect(endpoint)
        bad.send(b"refused")
        assert expect_event(smon, AUTH) == 400
        assert expect_event(bmon, AUTH) == 400
        good = make(ctx, vmzmq.PUSH, plain_username=b"admin", plain_password=b"secret")
        good.connect(endpoint)
        good.send(b"admitted")
        frame = recv_within(server, copy=False)[0]
        assert frame.bytes == b"admitted"
        assert frame.get("User-Id") == "admin"
        assert not server.poll(100)
    finally:
        auth.stop()


def test_curve_certificates_with_thread_authenticator_over_vmci(ctx, tmp_path: Path):
    private, trusted = tmp_path / "private", tmp_path / "trusted"
    private.mkdir()
    trusted.mkdir()
    create_certificates(private, "server")
    create_certificates(trusted, "known")  # its public certificate is what is trusted
    create_certificates(private, "unknown")
    server_keys = load_certificate(private / "server.key_secret")
    known = load_certificate(trusted / "known.key_secret")
    unknown = load_certificate(private / "unknown.key_secret")
    (trusted / "known.key_secret").unlink()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    try:
        auth.configure_curve(domain="*", location=trusted)
        server = curve_server(make(ctx, vmzmq.PULL), *server_keys)
        smon = server.get_monitor_socket()
        endpoint = bind_vmci(server)
        bad = curve_client(make(ctx, vmzmq.PUSH), server_keys[0], unknown)
        bmon = bad.get_monitor_socket()
        bad.connect(endpoint)
        bad.send(b"unknown key")
        assert expect_event(smon, AUTH) == 400
        assert expect_event(bmon, AUTH) == 400
        good = curve_client(make(ctx, vmzmq.PUSH), server_keys[0], known)
        good.connect(endpoint)
        good.send(b"known key")
        frame = recv_within(server, copy=False)[0]
        assert frame.bytes == b"known key"
        assert frame.get("User-Id") == known[0].decode()
        assert not server.poll(100)
    finally:
        auth.stop()


def test_curve_wrong_server_key_refused_over_vmci(ctx):
    public, secret = vmzmq.curve_keypair()
    server = curve_server(make(ctx, vmzmq.PULL), public, secret)
    smon = server.get_monitor_socket()
    endpoint = bind_vmci(server)
    client = curve_client(make(ctx, vmzmq.PUSH), vmzmq.curve_keypair()[0])  # not the server's
    client.connect(endpoint)
    client.send(b"must not arrive")
    assert expect_event(smon, PROTOCOL) == CRYPTOGRAPHIC
    assert not server.poll(200)
