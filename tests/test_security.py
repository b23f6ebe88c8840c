"""PLAIN and ZAP (and NULL with a ZAP domain) end to end: vmzmq against libzmq (through pyzmq)
in both roles, vmzmq against itself, and refusals reported as libzmq reports them."""

from __future__ import annotations

import errno
import threading

import pytest
import zmq
from tests.interop_helpers import (
    TIMEOUT_MS,
    RawListener,
    RawZmtpPeer,
    bind_endpoint,
    cleanup_ipc,
    encode_command,
    encode_metadata,
    greeting,
    last_endpoint,
    read_event,
    recv_within,
    send_doomed,
    wait_event,
)
from tests.zap_helpers import ZapHandler, allow_all, plain_passwords

import vmzmq

pytestmark = pytest.mark.interop

PASSWORDS = {b"admin": b"secret"}
AUTH = int(vmzmq.EVENT_HANDSHAKE_FAILED_AUTH)
NO_DETAIL = int(vmzmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
PROTOCOL = int(vmzmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
SUCCEEDED = int(vmzmq.EVENT_HANDSHAKE_SUCCEEDED)


@pytest.fixture
def vctx():
    ctx = vmzmq.Context()
    ctx.linger = 0
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def pctx():
    ctx = zmq.Context()
    ctx.linger = 0  # sockets the test dropped unsent messages on must not hold term()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture(params=["tcp", "ipc"])
def transport(request):
    return request.param


def _bind(sock, transport):
    sock.bind(bind_endpoint(transport))
    return last_endpoint(sock)


def _wait_event_value(mon, event, timeout_ms=TIMEOUT_MS):
    """The value of the first ``event`` on a monitor (failing the test if it never comes)."""
    seen = []
    while True:
        got = read_event(mon, timeout_ms)
        if got is None:
            raise AssertionError(f"no event {event:#x} (saw {seen})")
        seen.append(got[:2])
        if got[0] == event:
            return got[1]


def _wait_any(mon, events, timeout_ms=TIMEOUT_MS):
    seen = []
    while True:
        got = read_event(mon, timeout_ms)
        if got is None:
            raise AssertionError(f"none of {events} (saw {seen})")
        seen.append(got[:2])
        if got[0] in events:
            return got[0], got[1]


# -- PLAIN --------------------------------------------------------------------------------------
def test_vmzmq_plain_client_to_libzmq_server(vctx, pctx, transport):
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(pctx)
    auth.start()
    try:
        auth.configure_plain(domain="*", passwords={"admin": "secret"})
        server = pctx.socket(zmq.REP)
        server.plain_server = True
        endpoint = _bind(server, transport)
        client = vctx.socket(vmzmq.REQ)
        client.plain_username = b"admin"
        client.plain_password = b"secret"
        client.connect(endpoint)
        client.send(b"hello")
        assert server.poll(TIMEOUT_MS)
        frame = server.recv(copy=False)
        assert frame.bytes == b"hello"
        assert frame.get("User-Id") == "admin"
        server.send(b"world")
        assert recv_within(client) == [b"world"]
        cleanup_ipc(endpoint)
    finally:
        auth.stop()


def test_libzmq_plain_client_to_vmzmq_server(vctx, pctx, transport):
    handler = ZapHandler(vmzmq, vctx, plain_passwords(PASSWORDS))
    try:
        server = vctx.socket(vmzmq.REP)
        server.plain_server = True
        endpoint = _bind(server, transport)
        client = pctx.socket(zmq.REQ)
        client.plain_username = b"admin"
        client.plain_password = b"secret"
        client.connect(endpoint)
        client.send(b"hello")
        assert server.poll(TIMEOUT_MS)
        frame = server.recv(copy=False)
        assert frame.bytes == b"hello"
        assert frame.get("User-Id") == "admin"
        server.send(b"world")
        assert recv_within(client) == [b"world"]
        request = handler.requests[0]
        assert request[0] == b"1.0" and request[5:] == [b"PLAIN", b"admin", b"secret"]
        if transport == "tcp":
            assert request[3] == b"127.0.0.1"
        cleanup_ipc(endpoint)
    finally:
        handler.stop()


def test_vmzmq_plain_both_sides_and_zap_metadata(vctx):
    def policy(request):
        return [b"200", b"OK", b"admin-id", encode_metadata({"X-Role": b"operator"})]

    handler = ZapHandler(vmzmq, vctx, policy)
    try:
        server = vctx.socket(vmzmq.PULL)
        server.plain_server = True
        server.zap_domain = b"global"
        endpoint = _bind(server, "tcp")
        client = vctx.socket(vmzmq.PUSH)
        client.plain_username = b"admin"
        client.plain_password = b"pw"
        client.connect(endpoint)
        client.send(b"x")
        assert server.poll(TIMEOUT_MS)
        frame = server.recv(copy=False)
        assert frame.get("User-Id") == "admin-id"
        assert frame.get("X-Role") == "operator"
        assert frame.get("Socket-Type") == "PUSH"
        assert handler.requests[0][2] == b"global"
    finally:
        handler.stop()


def test_wrong_password_is_refused_and_reported(vctx, pctx):
    handler = ZapHandler(vmzmq, vctx, plain_passwords(PASSWORDS))
    try:
        server = vctx.socket(vmzmq.PULL)
        server.plain_server = True
        smon = server.get_monitor_socket()
        endpoint = _bind(server, "tcp")
        # A libzmq client with the wrong password, and a vmzmq one.
        bad = pctx.socket(zmq.PUSH)
        bad.plain_username = b"admin"
        bad.plain_password = b"wrong"
        bad.connect(endpoint)
        assert _wait_event_value(smon, AUTH) == 400
        vbad = vctx.socket(vmzmq.PUSH)
        vbad.plain_username = b"admin"
        vbad.plain_password = b"wrong"
        vmon = vbad.get_monitor_socket()
        vbad.connect(endpoint)
        # The server's ERROR "400" reaches the client as an authentication failure.
        assert _wait_event_value(vmon, AUTH) == 400
        # A good client is served meanwhile, and only its message arrives.
        good = pctx.socket(zmq.PUSH)
        good.plain_username = b"admin"
        good.plain_password = b"secret"
        good.connect(endpoint)
        good.send(b"ok")
        assert recv_within(server) == [b"ok"]
        assert not server.poll(100)
    finally:
        handler.stop()


def test_libzmq_plain_server_error_is_read_as_auth_failure(vctx, pctx):
    # libzmq's PLAIN server misspells ERROR ("\x5eRROR"); vmzmq still reads the 400.
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(pctx)
    auth.start()
    try:
        auth.configure_plain(domain="*", passwords={"admin": "secret"})
        server = pctx.socket(zmq.PULL)
        server.plain_server = True
        endpoint = _bind(server, "tcp")
        client = vctx.socket(vmzmq.PUSH)
        client.plain_username = b"admin"
        client.plain_password = b"wrong"
        mon = client.get_monitor_socket()
        client.connect(endpoint)
        assert _wait_event_value(mon, AUTH) == 400
    finally:
        auth.stop()


def test_plain_server_without_zap_handler_fails_closed(vctx, pctx):
    server = vctx.socket(vmzmq.PULL)
    server.plain_server = True
    mon = server.get_monitor_socket()
    endpoint = _bind(server, "tcp")
    client = pctx.socket(zmq.PUSH)
    client.plain_username = b"admin"
    client.plain_password = b"secret"
    client.connect(endpoint)
    send_doomed(client, b"must not arrive")
    assert _wait_event_value(mon, NO_DETAIL) == errno.EFAULT
    assert not server.poll(200)


def test_null_client_to_plain_server_is_refused(vctx, pctx):
    handler = ZapHandler(vmzmq, vctx, allow_all)
    try:
        server = vctx.socket(vmzmq.PULL)
        server.plain_server = True
        mon = server.get_monitor_socket()
        endpoint = _bind(server, "tcp")
        client = pctx.socket(zmq.PUSH)
        client.connect(endpoint)
        send_doomed(client, b"plaintext")
        # Whichever side sees the mismatch first hangs up: we report the mismatch, or the
        # peer's hang-up during the handshake.
        event, value = _wait_any(mon, {PROTOCOL, NO_DETAIL})
        if event == PROTOCOL:
            assert value == int(vmzmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        assert not server.poll(200)
        assert handler.requests == []
    finally:
        handler.stop()


# -- ZAP with NULL ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [b"200", b"300", b"400", b"500"])
def test_null_with_zap_domain(vctx, pctx, status):
    handler = ZapHandler(vmzmq, vctx, lambda req: [status, b"text", b"user-7", b""])
    try:
        server = vctx.socket(vmzmq.PULL)
        server.zap_domain = b"dom"
        mon = server.get_monitor_socket()
        endpoint = _bind(server, "tcp")
        client = pctx.socket(zmq.PUSH)
        cmon = client.get_monitor_socket()
        client.connect(endpoint)
        if status == b"200":
            client.send(b"m")
            frame = recv_within(server, copy=False)[0]
            assert frame.get("User-Id") == "user-7"
            assert handler.requests[0][5] == b"NULL"
            assert handler.requests[0][2] == b"dom"
        else:
            send_doomed(client, b"m")
            assert _wait_event_value(mon, AUTH) == int(status)
            assert not server.poll(100)
            if status != b"300":  # 300: dropped without an ERROR (RFC 27), so no event there
                assert _wait_event_value(cmon, AUTH) == int(status)
    finally:
        handler.stop()


def test_null_zap_domain_without_handler_lets_peers_in_unless_enforced(vctx, pctx):
    server = vctx.socket(vmzmq.PULL)
    server.zap_domain = b"dom"
    endpoint = _bind(server, "tcp")
    client = pctx.socket(zmq.PUSH)
    client.connect(endpoint)
    client.send(b"in")
    assert recv_within(server) == [b"in"]

    strict = vctx.socket(vmzmq.PULL)
    strict.zap_domain = b"dom"
    strict.zap_enforce_domain = True
    mon = strict.get_monitor_socket()
    endpoint = _bind(strict, "tcp")
    client2 = pctx.socket(zmq.PUSH)
    client2.connect(endpoint)
    send_doomed(client2, b"out")
    assert _wait_event_value(mon, NO_DETAIL) == errno.EFAULT
    assert not strict.poll(100)


@pytest.mark.parametrize(
    "reply, code",
    [
        ([b"RAW", b"1.0", b"1"], vmzmq.PROTOCOL_ERROR_ZAP_MALFORMED_REPLY),
        ([b"RAW", b"2.0", b"1", b"200", b"", b"", b""], vmzmq.PROTOCOL_ERROR_ZAP_BAD_VERSION),
        ([b"201", b"", b"", b""], vmzmq.PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE),
        ([b"200", b"", b"", b"\x05bad"], vmzmq.PROTOCOL_ERROR_ZAP_INVALID_METADATA),
    ],
)
def test_malformed_zap_reply_fails_the_handshake(vctx, pctx, reply, code):
    handler = ZapHandler(vmzmq, vctx, lambda req: reply)
    try:
        server = vctx.socket(vmzmq.PULL)
        server.zap_domain = b"dom"
        mon = server.get_monitor_socket()
        endpoint = _bind(server, "tcp")
        client = pctx.socket(zmq.PUSH)
        client.connect(endpoint)
        send_doomed(client, b"m")
        assert _wait_event_value(mon, PROTOCOL) == int(code)
        assert not server.poll(100)
    finally:
        handler.stop()


@pytest.mark.parametrize(
    "answer",
    [None, [b"RAW", b"1.0", b"999", b"200", b"", b"", b""]],
    ids=["silent", "wrong-request-id"],
)
def test_zap_handler_that_never_answers_fails_the_handshake(vctx, pctx, answer):
    # A reply to a request id nobody asked is dropped (one DEALER carries every
    # connection's requests, so it cannot be told whose it was): the handshake timer ends it.
    handler = ZapHandler(vmzmq, vctx, lambda req: answer)
    try:
        server = vctx.socket(vmzmq.PULL)
        server.zap_domain = b"dom"
        server.handshake_ivl = 300
        mon = server.get_monitor_socket()
        endpoint = _bind(server, "tcp")
        client = pctx.socket(zmq.PUSH)
        client.connect(endpoint)
        send_doomed(client, b"m")
        _wait_event_value(mon, NO_DETAIL)
        assert not server.poll(100)
        assert handler.requests
    finally:
        handler.stop()


def test_zap_handler_that_goes_away_fails_pending_handshakes(vctx, pctx):
    answered = threading.Event()

    def policy(request):
        answered.set()
        return None

    handler = ZapHandler(vmzmq, vctx, policy)
    server = vctx.socket(vmzmq.PULL)
    server.zap_domain = b"dom"
    mon = server.get_monitor_socket()
    endpoint = _bind(server, "tcp")
    client = pctx.socket(zmq.PUSH)
    client.connect(endpoint)
    client.send(b"m")
    assert answered.wait(5)
    handler.stop()  # closes the handler's socket with the request unanswered
    assert _wait_event_value(mon, PROTOCOL) == int(vmzmq.PROTOCOL_ERROR_ZAP_UNSPECIFIED)
    # A new handler serves the next handshake.
    handler = ZapHandler(vmzmq, vctx, allow_all)
    try:
        client.send(b"again")
        assert recv_within(server) in ([b"m"], [b"again"])
    finally:
        handler.stop()


# -- metadata a peer may not forge ----------------------------------------------------------------
def test_peer_cannot_forge_user_id_or_peer_address(vctx):
    handler = ZapHandler(vmzmq, vctx, lambda req: [b"200", b"OK", b"real-user", b""])
    try:
        server = vctx.socket(vmzmq.PULL)
        server.zap_domain = b"dom"
        endpoint = _bind(server, "tcp")
        port = int(endpoint.rsplit(":", 1)[1])
        peer = RawZmtpPeer.connect(("127.0.0.1", port))
        peer.sock.sendall(greeting())
        peer.read_exact(64)
        meta = encode_metadata(
            {"Socket-Type": b"PUSH", "user-id": b"evil", "PEER-ADDRESS": b"10.9.9.9",
             "X-Ok": b"fine"}
        )
        peer.sock.sendall(encode_command(b"READY", meta))
        peer.read_frame()  # our READY, sent once ZAP said yes
        peer.send_message([b"payload"])
        frame = recv_within(server, copy=False)[0]
        assert frame.get("User-Id") == "real-user"
        assert frame.get("Peer-Address") == "127.0.0.1"
        assert frame.get("X-Ok") == "fine"
        peer.close()
    finally:
        handler.stop()


def test_half_open_handshakes_do_not_block_a_good_client(vctx, pctx):
    handler = ZapHandler(vmzmq, vctx, plain_passwords(PASSWORDS))
    try:
        server = vctx.socket(vmzmq.PULL)
        server.plain_server = True
        mon = server.get_monitor_socket()
        endpoint = _bind(server, "tcp")
        port = int(endpoint.rsplit(":", 1)[1])
        idle = []
        for _ in range(200):
            peer = RawZmtpPeer.connect(("127.0.0.1", port))
            peer.sock.sendall(greeting(mechanism=b"PLAIN"))
            idle.append(peer)
        good = pctx.socket(zmq.PUSH)
        good.plain_username = b"admin"
        good.plain_password = b"secret"
        good.connect(endpoint)
        good.send(b"served")
        assert recv_within(server) == [b"served"]
        seen = [e for e in iter(lambda: read_event(mon, 0), None)]
        assert [e for e in seen if e[0] == SUCCEEDED] != []
        for peer in idle:
            peer.close()
    finally:
        handler.stop()


def test_raw_hostile_plain_hello(vctx):
    handler = ZapHandler(vmzmq, vctx, allow_all)
    try:
        server = vctx.socket(vmzmq.PULL)
        server.plain_server = True
        mon = server.get_monitor_socket()
        listener_ep = _bind(server, "tcp")
        port = int(listener_ep.rsplit(":", 1)[1])
        bad_hellos = [
            encode_command(b"HELLO", b"\x05admin\x09secret"),  # password length lies
            encode_command(b"HELO", b"\x05admin\x06secret"),  # misspelled
            encode_command(b"HELLO", b""),
            b"\x06" + (1 << 40).to_bytes(8, "big"),  # a command declaring a terabyte
        ]
        for hello in bad_hellos:
            peer = RawZmtpPeer.connect(("127.0.0.1", port))
            peer.sock.sendall(greeting(mechanism=b"PLAIN"))
            peer.read_exact(64)
            peer.sock.sendall(hello)
            _wait_event_value(mon, PROTOCOL)
            peer.close()
        assert handler.requests == []
    finally:
        handler.stop()


def test_raw_listener_sees_plain_client_hello(vctx):
    listener = RawListener()
    client = vctx.socket(vmzmq.PUSH)
    client.plain_username = b"u"
    client.plain_password = b"p"
    client.connect(listener.endpoint)
    peer = listener.accept()
    peer.sock.sendall(greeting(mechanism=b"PLAIN", as_server=True))
    theirs = peer.read_exact(64)
    assert theirs[12:17] == b"PLAIN" and theirs[32] == 0
    flags, body = peer.read_frame()
    assert body == b"\x05HELLO\x01u\x01p"
    peer.close()
    listener.close()


def test_wait_event_helper_is_used():
    assert callable(wait_event)
