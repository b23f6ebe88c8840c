"""``hvsock://`` on the host against a REAL hybrid-vsock VMM, vmzmq in the guest on ``vmci://``.

The guest is a QEMU guest on real virtio-vsock (tools/vsock-guest/virtio_guest.py): QEMU's
vhost-user-vsock-pci device served by rust-vmm's vhost-device-vsock, whose host side is the
Firecracker hybrid protocol that ``hvsock://`` speaks (CONNECT <port> / OK <n> on the VMM's
Unix socket; guest-initiated connections arrive on ``<uds_path>_<port>``). So vmzmq talks to
vmzmq across the virtio transport: the host socket over ``hvsock://<uds_path>:<port>``, the
guest socket over ``vmci://2:<port>`` (connect) or ``vmci://*:<port>`` (bind).

One guest boots for the module and one guest-side Python process (tests/virtio_peer.py)
serves the guest's sockets for most tests (Python under TCG is 10-40x slower than here).
Malformed ``hvsock://`` endpoints are tested without a VMM in test_transport_hvsock.py.

    .venv/bin/python -m pytest -q -m virtio tests/test_hvsock_virtio.py

Known daemon quirks (tools/vsock-guest/README.md) shape the tests: a connection busy in both
directions at once stalls now and then, so bulk data goes one way at a time; a guest connect
to a host port nobody listens on times out (~2 s) instead of being refused.
"""

from __future__ import annotations

import errno
import itertools
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

import socket_pairs
import virtio_support
import vmzmq
from interop_helpers import wait_event
from socket_pairs import PAIRS
from virtio_peer import GuestPeer, RemoteSocket, blob, digest
from waiting import wait_until

pytestmark = virtio_support.marks()

MIB = 1 << 20
HOST_RCVTIMEO = 120_000  # ms: a host recv that waits this long fails the test, never hangs
EVENT_WAIT = 120.0  # s: for monitor events that depend on the guest
CONNECTED = int(vmzmq.EVENT_CONNECTED)
CONNECT_DELAYED = int(vmzmq.EVENT_CONNECT_DELAYED)
CONNECT_RETRIED = int(vmzmq.EVENT_CONNECT_RETRIED)
DISCONNECTED = int(vmzmq.EVENT_DISCONNECTED)

_ports = itertools.count(20000)


def port() -> int:
    """A vsock port no other test of this module used (the guest keeps no TIME_WAIT, but a
    fresh port keeps one test's leftovers out of the next)."""
    return next(_ports)


@pytest.fixture(scope="module")
def prepared(request: pytest.FixtureRequest) -> dict:
    return virtio_support.prepare_or_skip(request)


@pytest.fixture(scope="module")
def guest(prepared: dict) -> Iterator[Any]:
    for gs in virtio_support.boot(1):
        yield gs[0]


@pytest.fixture(scope="module")
def peer(guest: Any) -> Iterator[GuestPeer]:
    p = GuestPeer(guest)
    yield p
    p.close()


@pytest.fixture
def ctx() -> Iterator[vmzmq.Context]:
    c = vmzmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture(autouse=True)
def _patient_pair_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    # socket_pairs' waits are sized for one process; a guest-side call is a round trip to a
    # TCG guest.
    monkeypatch.setattr(socket_pairs, "WAIT", 120.0)


def host_socket(ctx: vmzmq.Context, kind: int, **opts: Any) -> vmzmq.Socket:
    s = ctx.socket(kind)
    s.linger = 0
    s.rcvtimeo = HOST_RCVTIMEO
    s.sndtimeo = HOST_RCVTIMEO
    for name, value in opts.items():
        setattr(s, name, value)
    return s


def hvsock(guest: Any, p: int) -> str:
    return f"hvsock://{guest.uds_path}:{p}"


def link(guest: Any, host: vmzmq.Socket, remote: RemoteSocket, binder: str) -> int:
    """Bind one side and connect the other across the VMM; returns the port."""
    p = port()
    if binder == "host":  # guest-initiated: the daemon connects to <uds_path>_<port>
        host.bind(hvsock(guest, p))
        assert host.last_endpoint.decode() == hvsock(guest, p)
        remote.connect(f"vmci://2:{p}")
    else:  # host-initiated: CONNECT <port> through the daemon's socket
        assert remote.bind(f"vmci://*:{p}") == f"vmci://*:{p}"
        host.connect(hvsock(guest, p))
    return p


def unix_streams(s: vmzmq.Socket) -> list[socket.socket]:
    with s._core.lock:
        return [c.sock for c in s._core.connections]


# -- every socket-type pair across the virtio transport ---------------------------------------


@pytest.mark.parametrize("binder", ["host", "guest"], ids=["host-binds", "guest-binds"])
@pytest.mark.parametrize("host_side", ["first", "second"], ids=["host-first", "host-second"])
@pytest.mark.parametrize("pair", list(PAIRS))
def test_socket_pair_host_guest(ctx, guest, peer, pair: str, host_side: str,
                                binder: str) -> None:
    """Each pair of socket_pairs.py (PAIR, PUB/SUB, XPUB/XSUB, REQ/REP, DEALER/ROUTER,
    PUSH/PULL, DEALER/DEALER, ROUTER/ROUTER...) with either side on the host (hvsock://) and
    the other in the guest (vmci://), either side binding: both data directions, both roles."""
    kind_a, kind_b, check, opts_a, opts_b = PAIRS[pair]
    if host_side == "first":
        a: Any = host_socket(ctx, kind_a, **opts_a)
        b: Any = peer.socket(kind_b, **opts_b)
        host, remote = a, b
    else:
        a = peer.socket(kind_a, **opts_a)
        b = host_socket(ctx, kind_b, **opts_b)
        host, remote = b, a
    try:
        link(guest, host, remote, binder)
        check(a, b)
        (stream,) = unix_streams(host)  # it went through the VMM's Unix socket
        assert stream.family == socket.AF_UNIX
    finally:
        remote.close()


# -- connection life ------------------------------------------------------------------------


def test_host_connects_before_the_guest_listens(ctx, guest, peer) -> None:
    """Messages queued while nobody listens in the guest all arrive, in order, once it does;
    until then the daemon hangs up on each CONNECT and the host retries."""
    p = port()
    push = host_socket(ctx, vmzmq.PUSH, reconnect_ivl=50)
    mon = push.get_monitor_socket()
    push.connect(hvsock(guest, p))
    for i in range(20):
        push.send(b"early %d" % i)
    wait_event(mon, CONNECT_RETRIED, EVENT_WAIT)  # refused at least once: nobody there
    pull = peer.socket(vmzmq.PULL)
    try:
        pull.bind(f"vmci://*:{p}")
        got = [pull.recv() for _ in range(20)]
        assert got == [b"early %d" % i for i in range(20)]
        wait_event(mon, CONNECTED, EVENT_WAIT)
    finally:
        pull.close()


def test_guest_connects_before_the_host_listens(ctx, guest, peer) -> None:
    """The other way: the guest's connect fails (the daemon finds no <uds_path>_<port>; the
    guest sees ETIMEDOUT) and is retried until the host binds; nothing is lost."""
    p = port()
    push = peer.socket(vmzmq.PUSH, reconnect_ivl=100)
    try:
        push.connect(f"vmci://2:{p}")
        for i in range(5):
            push.send(b"waiting %d" % i)
        pull = host_socket(ctx, vmzmq.PULL)
        pull.bind(hvsock(guest, p))
        assert [pull.recv() for _ in range(5)] == [b"waiting %d" % i for i in range(5)]
    finally:
        push.close()


@pytest.mark.parametrize("binder", ["host", "guest"], ids=["host-binds", "guest-binds"])
def test_one_mebibyte_messages_both_ways(ctx, guest, peer, binder: str) -> None:
    """1 MiB request, then 1 MiB reply (one direction at a time: see the module docstring),
    several times on one connection, checked by digest in the guest and byte for byte here."""
    req = host_socket(ctx, vmzmq.REQ)
    rep = peer.socket(vmzmq.REP)
    try:
        link(guest, req, rep, binder)
        for seed in range(3):
            sent = [blob(MIB, seed), b"", blob(1000, seed)]
            req.send_multipart(sent)
            assert rep.recv_digest() == digest(sent)
            rep.send_blob([MIB, 7], seed=seed + 100)
            assert req.recv_multipart() == [blob(MIB, seed + 100), blob(7, seed + 100)]
    finally:
        rep.close()


def test_guest_peer_killed_and_restarted(ctx, guest) -> None:
    """A guest process is SIGKILLed mid-connection and started again: the host's connecting
    socket reconnects through the VMM (host -> guest), the host's bound socket accepts the new
    process's connection (guest -> host), and traffic resumes on both."""
    to_guest, from_guest = port(), port()
    push = host_socket(ctx, vmzmq.PUSH, reconnect_ivl=100)
    mon = push.get_monitor_socket()
    push.connect(hvsock(guest, to_guest))
    pull = host_socket(ctx, vmzmq.PULL)
    pull.bind(hvsock(guest, from_guest))

    def start() -> tuple[GuestPeer, RemoteSocket, RemoteSocket]:
        g = GuestPeer(guest)
        gpull = g.socket(vmzmq.PULL)
        gpull.bind(f"vmci://*:{to_guest}")
        gpush = g.socket(vmzmq.PUSH)
        gpush.connect(f"vmci://2:{from_guest}")
        return g, gpull, gpush

    first, gpull, gpush = start()
    try:
        push.send(b"to the first")
        assert gpull.recv() == b"to the first"
        gpush.send(b"from the first")
        assert pull.recv() == b"from the first"
        wait_event(mon, CONNECTED, EVENT_WAIT)
        first.kill()
        wait_event(mon, DISCONNECTED, EVENT_WAIT)
    finally:
        first.close()

    second, gpull, gpush = start()
    try:
        wait_event(mon, CONNECTED, EVENT_WAIT)  # the host reconnected by itself
        push.send(b"to the second")
        assert gpull.recv() == b"to the second"
        gpush.send(b"from the second")
        assert pull.recv() == b"from the second"
    finally:
        second.close()


def test_a_guest_port_nobody_listens_on(ctx, guest) -> None:
    """No crash, no connection: every CONNECT is answered by a hang-up, which the monitor
    shows as CONNECT_DELAYED / CONNECT_RETRIED, again and again; with RECONNECT_STOP_CONN_REFUSED
    the socket gives up instead (its endpoint is forgotten: disconnect says ENOENT)."""
    p = port()
    push = host_socket(ctx, vmzmq.PUSH, reconnect_ivl=20)
    mon = push.get_monitor_socket()
    push.connect(hvsock(guest, p))
    seen: list[int] = []
    for _ in range(3):
        seen += wait_event(mon, CONNECT_RETRIED, EVENT_WAIT)
    assert CONNECT_DELAYED in seen
    assert CONNECTED not in seen

    stopper = host_socket(ctx, vmzmq.DEALER, reconnect_ivl=20,
                          reconnect_stop=vmzmq.RECONNECT_STOP_CONN_REFUSED)
    endpoint = hvsock(guest, p)
    stopper.connect(endpoint)
    wait_until(lambda: endpoint not in stopper._core.connecters, 60,
               "the refused endpoint to be given up")
    with pytest.raises(vmzmq.ZMQError) as info:
        stopper.disconnect(endpoint)
    assert info.value.errno == errno.ENOENT


# -- other peers ----------------------------------------------------------------------------


def test_libzmq_host_on_ipc_serves_a_vmzmq_guest(guest, peer) -> None:
    """A host program that has only libzmq (pyzmq) binds ipc://<uds_path>_<port>: a vmzmq guest
    connecting to vmci://2:<port> reaches it through the VMM."""
    p = port()
    zctx = zmq.Context()
    rep = zctx.socket(zmq.REP)
    rep.linger = 0
    rep.rcvtimeo = HOST_RCVTIMEO
    req = peer.socket(vmzmq.REQ)
    try:
        rep.bind(f"ipc://{guest.uds_port_path(p)}")
        req.connect(f"vmci://2:{p}")
        for i in range(3):
            req.send_multipart([b"from the guest %d" % i, b""])
            assert rep.recv_multipart() == [b"from the guest %d" % i, b""]
            rep.send(b"from libzmq %d" % i)
            assert req.recv() == b"from libzmq %d" % i
        req.send_blob([MIB])
        assert rep.recv_multipart() == [blob(MIB)]
    finally:
        req.close()
        zctx.destroy(linger=0)


def test_curve_over_hvsock(ctx, guest, peer) -> None:
    """CURVE with vmzmq on both ends: the host's client connects through the VMM."""
    server_public, server_secret = vmzmq.curve_keypair()
    client_public, client_secret = vmzmq.curve_keypair()
    rep = peer.socket(vmzmq.REP, curve_server=True, curve_secretkey=server_secret)
    try:
        p = port()
        rep.bind(f"vmci://*:{p}")
        req = host_socket(ctx, vmzmq.REQ, curve_serverkey=server_public,
                          curve_publickey=client_public, curve_secretkey=client_secret)
        mon = req.get_monitor_socket()
        req.connect(hvsock(guest, p))
        req.send(b"secret over the VMM")
        assert rep.recv() == b"secret over the VMM"
        rep.send(b"secret back")
        assert req.recv() == b"secret back"
        wait_event(mon, int(vmzmq.EVENT_HANDSHAKE_SUCCEEDED), EVENT_WAIT)
    finally:
        rep.close()
