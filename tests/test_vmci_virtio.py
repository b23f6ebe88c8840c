"""``vmci://`` between two guests on REAL virtio-vsock, vmzmq in both.

Two QEMU guests (CIDs 3 and 4) share one vhost-device-vsock daemon and one sibling group
(tools/vsock-guest/virtio_guest.py), so each reaches the other at its CID over the virtio
transport. One guest-side Python process per guest (tests/virtio_peer.py) serves every test's
sockets; the host only drives them.

Known daemon limit (vhost-device-vsock 0.3.0; docs/vmci.md, tools/vsock-guest/README.md):
guest-to-guest packets with more than 3732 bytes of payload are silently dropped. The
workaround is ``VMCI_BUFFER_SIZE`` <= 3732 on the receiving socket, which caps through vsock
credit what its peer sends in one packet; ZMTP goes both ways, so both ends set it. Every test
here uses it (3584) and sends messages far larger than a packet. The limit itself, with raw
sockets, is checked by test_virtio_guest_harness.py
(test_guest_to_guest_packet_limit_and_workaround).

    .venv/bin/python -m pytest -q -m virtio tests/test_vmci_virtio.py
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import socket_pairs
import virtio_support
import vmzmq
from child_process import child_env
from socket_pairs import PAIRS
from virtio_peer import GuestPeer, RemoteSocket, blob, digest

pytestmark = virtio_support.marks()

#: Keeps every guest-to-guest packet under the daemon's 3732-byte limit (see above).
G2G_BUFFER = 3584
BIG = 256 * 1024

_ports = itertools.count(30000)


@pytest.fixture(scope="module")
def prepared(request: pytest.FixtureRequest) -> dict:
    return virtio_support.prepare_or_skip(request)


@pytest.fixture(scope="module")
def peers(prepared: dict) -> Iterator[tuple[GuestPeer, GuestPeer]]:
    for gs in virtio_support.boot(2):
        a, b = GuestPeer(gs[0]), GuestPeer(gs[1])
        try:
            assert (a.call("cid"), b.call("cid")) == (3, 4)
            yield a, b
        finally:
            a.close()
            b.close()


@pytest.fixture(autouse=True)
def _patient_pair_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket_pairs, "WAIT", 120.0)


def g2g_socket(peer: GuestPeer, kind: int, **opts: Any) -> RemoteSocket:
    return peer.socket(kind, vmci_buffer_size=G2G_BUFFER, **opts)


def link(binder: RemoteSocket, connecter: RemoteSocket) -> None:
    port = next(_ports)
    assert binder.bind(f"vmci://*:{port}") == f"vmci://*:{port}"
    connecter.connect(f"vmci://{binder.peer.guest.cid}:{port}")


def ordered(peers: tuple[GuestPeer, GuestPeer], first_in: int) -> tuple[GuestPeer, GuestPeer]:
    a, b = peers
    return (a, b) if first_in == 3 else (b, a)


@pytest.mark.parametrize("first_binds", [True, False], ids=["first-binds", "second-binds"])
@pytest.mark.parametrize("first_in", [3, 4], ids=["first-in-cid3", "first-in-cid4"])
@pytest.mark.parametrize("pair", ["PUSH-PULL", "REQ-REP"])
def test_guest_to_guest_large_messages(peers, pair: str, first_in: int,
                                       first_binds: bool) -> None:
    """PUSH/PULL and REQ/REP from CID 3 to CID 4 and from 4 to 3, either side binding, with
    messages many packets long (only possible with the workaround)."""
    pa, pb = ordered(peers, first_in)
    kind_a, kind_b, check, _, _ = PAIRS[pair]
    a, b = g2g_socket(pa, kind_a), g2g_socket(pb, kind_b)
    try:
        if first_binds:
            link(a, b)
        else:
            link(b, a)
        check(a, b)
        for seed in range(2):
            a.send_blob([BIG, 10, BIG // 3], seed=seed)
            assert b.recv_digest() == digest([blob(BIG, seed), blob(10, seed),
                                              blob(BIG // 3, seed)])
            if pair == "REQ-REP":
                b.send_blob([BIG], seed=seed + 50)
                assert a.recv_digest() == digest([blob(BIG, seed + 50)])
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("first_binds", [True, False], ids=["first-binds", "second-binds"])
@pytest.mark.parametrize("pair", list(PAIRS))
def test_every_socket_pair_guest_to_guest(peers, pair: str, first_binds: bool) -> None:
    """Every socket-type pair of socket_pairs.py between the two guests (first side in CID 3)."""
    kind_a, kind_b, check, opts_a, opts_b = PAIRS[pair]
    a, b = g2g_socket(peers[0], kind_a, **opts_a), g2g_socket(peers[1], kind_b, **opts_b)
    try:
        if first_binds:
            link(a, b)
        else:
            link(b, a)
        check(a, b)
    finally:
        a.close()
        b.close()


def test_the_workaround_reaches_the_kernel(peers) -> None:
    """VMCI_BUFFER_SIZE is applied to the guest's AF_VSOCK sockets before listen/connect
    (vmzmq.vmci.read_kernel_options shows the kernel's value), so the accepted connection
    inherits it: what makes the workaround work."""
    a, b = peers
    pull = g2g_socket(b, vmzmq.PULL)
    push = g2g_socket(a, vmzmq.PUSH)
    try:
        link(pull, push)
        push.send_blob([64 * 1024])
        assert pull.recv_digest() == digest([blob(64 * 1024)])
        for s in (pull, push):
            assert s.vmci_buffer_size == G2G_BUFFER
            options = s.kernel_options()  # connection (and listener)
            assert options and all(o["vmci_buffer_size"] == G2G_BUFFER for o in options), options
    finally:
        push.close()
        pull.close()


def test_guest_to_guest_through_a_host_proxy_needs_no_workaround(peers) -> None:
    """Where the VMM does not join guests (Firecracker, Cloud Hypervisor), or to avoid the
    packet limit: ``vmzmq proxy 'hvsock://A:P' 'hvsock://B:Q'`` on the host takes each
    connection guest A makes to vmci://2:P and relays it to guest B's port Q. Every hop is host
    <-> guest, so default buffers and 1 MiB messages work."""
    a, b = peers
    p, q = next(_ports), next(_ports)
    rep = b.socket(vmzmq.REP)
    req = a.socket(vmzmq.REQ)
    proxy = subprocess.Popen(
        [sys.executable, "-m", "vmzmq", "proxy", f"hvsock://{a.guest.uds_path}:{p}",
         f"hvsock://{b.guest.uds_path}:{q}"],
        env=child_env(), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proxy.stderr is not None
        assert "relaying connections" in proxy.stderr.readline()  # bound and serving
        rep.bind(f"vmci://*:{q}")
        req.connect(f"vmci://2:{p}")
        for seed in range(2):
            req.send_blob([1 << 20], seed=seed)
            assert rep.recv_digest() == digest([blob(1 << 20, seed)])
            rep.send_blob([1 << 20], seed=seed + 10)
            assert req.recv_digest() == digest([blob(1 << 20, seed + 10)])
    finally:
        req.close()
        rep.close()
        proxy.terminate()
        proxy.wait(60)
