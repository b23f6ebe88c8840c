"""``hvsock://`` against a fake VMM: a Unix socket server speaking Firecracker's hybrid vsock
protocol (CONNECT <port> / OK <n>), relaying to a libzmq peer on tcp as the "guest". The real
VMM-side daemon (vhost-device-vsock) is exercised by the virtio guest tests; this covers what
it cannot show (guest bytes in the same read as the OK line, odd replies, a VM not up yet)."""

from __future__ import annotations

import errno
import os
import select
import socket
import threading
import uuid

import pytest
import zmq

import vmzmq
from interop_helpers import recv_within, wait_event
from waiting import wait_until

CONNECT_RETRIED = int(vmzmq.EVENT_CONNECT_RETRIED)


def _path() -> str:
    return f"/tmp/vmzh-{os.getpid()}-{uuid.uuid4().hex[:8]}.vsock"


class FakeVmm:
    """Accepts on ``path``; for ``CONNECT <port>``, relays to the tcp port the test mapped that
    vsock port to, or hangs up (no listener in the guest)."""

    def __init__(
        self, path: str, ports: dict[int, int], reply: bytes | None = None, silent: bool = False
    ) -> None:
        self.path = path
        self.ports = ports
        self.reply = reply  # instead of "OK 1073741824\n", for odd VMMs
        self.silent = silent  # read CONNECT, then never answer (a wedged VMM)
        self.held: list[socket.socket] = []
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        line = b""
        while not line.endswith(b"\n") and len(line) < 64:
            byte = conn.recv(1)  # byte by byte: nothing of what follows is ours
            if not byte:
                conn.close()
                return
            line += byte
        self.requests.append(line)
        if self.silent:
            self.held.append(conn)
            return
        port = int(line.split()[1])
        if port not in self.ports:
            conn.close()  # what a VMM does when nobody listens in the guest
            return
        if self.reply is not None:
            conn.sendall(self.reply)
            conn.close()
            return
        guest = socket.create_connection(("127.0.0.1", self.ports[port]))
        # The guest speaks first (its greeting): send it in the same write as the OK line.
        first = guest.recv(65536)
        conn.sendall(b"OK 1073741824\n" + first)
        _relay(conn, guest)

    def close(self) -> None:
        self._stop = True
        for conn in self.held:
            conn.close()
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _relay(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [])
            for x in ready:
                data = x.recv(65536)
                if not data:
                    return
                (b if x is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


@pytest.fixture
def ctxs():
    v, z = vmzmq.Context(), zmq.Context()
    v.linger = 0
    z.linger = 0
    yield v, z
    v.destroy(linger=0)
    z.destroy(linger=0)


def _guest(z: zmq.Context, kind: int) -> tuple[zmq.Socket, int]:
    s = z.socket(kind)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    return s, port


def test_host_connects_to_a_guest_through_the_vmm(ctxs) -> None:
    v, z = ctxs
    guest, tcp_port = _guest(z, zmq.REP)
    vmm = FakeVmm(_path(), {5000: tcp_port})
    try:
        host = v.socket(vmzmq.REQ)
        host.connect(f"hvsock://{vmm.path}:5000")
        assert host.last_endpoint.decode() == f"hvsock://{vmm.path}:5000"
        host.send(b"hello guest")
        assert recv_within(guest) == [b"hello guest"]
        guest.send(b"x" * (1 << 20))
        assert recv_within(host) == [b"x" * (1 << 20)]
        assert vmm.requests == [b"CONNECT 5000\n"]
    finally:
        vmm.close()


def test_no_listener_in_the_guest_is_retried_until_there_is(ctxs) -> None:
    v, z = ctxs
    ports: dict[int, int] = {}
    vmm = FakeVmm(_path(), ports)
    try:
        host = v.socket(vmzmq.PUSH)
        host.reconnect_ivl = 20
        mon = host.get_monitor_socket()
        host.connect(f"hvsock://{vmm.path}:5001")
        host.send(b"queued before the guest listens")
        wait_event(mon, CONNECT_RETRIED)
        guest, tcp_port = _guest(z, zmq.PULL)
        ports[5001] = tcp_port
        assert recv_within(guest) == [b"queued before the guest listens"]
    finally:
        vmm.close()


def test_vm_not_up_yet(ctxs) -> None:
    v, z = ctxs
    path = _path()
    host = v.socket(vmzmq.PUSH)
    host.reconnect_ivl = 20
    mon = host.get_monitor_socket()
    host.connect(f"hvsock://{path}:5002")
    host.send(b"wait for the VM")
    wait_event(mon, CONNECT_RETRIED)  # ENOENT: no socket file
    guest, tcp_port = _guest(z, zmq.PULL)
    vmm = FakeVmm(path, {5002: tcp_port})
    try:
        assert recv_within(guest) == [b"wait for the VM"]
    finally:
        vmm.close()


def test_a_vmm_that_never_answers_is_given_up_at_the_handshake_timeout(ctxs) -> None:
    """CONNECT/OK runs under HANDSHAKE_IVL: a VMM that takes the request and says nothing
    is hung up on, and the connect is retried (a second CONNECT), never left waiting."""
    v, _ = ctxs
    vmm = FakeVmm(_path(), {}, silent=True)
    try:
        host = v.socket(vmzmq.PUSH)
        host.handshake_ivl = 200
        host.reconnect_ivl = 20
        mon = host.get_monitor_socket()
        host.connect(f"hvsock://{vmm.path}:5005")
        wait_event(mon, CONNECT_RETRIED)
        wait_until(lambda: len(vmm.requests) >= 2, what="a second CONNECT after the timeout")
        assert vmm.requests[0] == b"CONNECT 5005\n"
        assert not any(c.ready for c in host._core.connections)
    finally:
        vmm.close()


def test_bind_replaces_a_stale_socket_file_and_refuses_a_live_one(ctxs) -> None:
    v, _ = ctxs
    path = _path()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(f"{path}_6001")  # a socket file nobody listens on any more
    stale.close()
    host = v.socket(vmzmq.PULL)
    host.bind(f"hvsock://{path}:6001")
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(f"{path}_6002")
    live.listen(1)
    try:
        with pytest.raises(vmzmq.ZMQError) as info:
            host.bind(f"hvsock://{path}:6002")
        assert info.value.errno == errno.EADDRINUSE
        assert os.path.exists(f"{path}_6002")  # somebody else's: left alone
    finally:
        live.close()
        os.unlink(f"{path}_6002")
        host.unbind(f"hvsock://{path}:6001")


@pytest.mark.parametrize("reply", [b"ERR no\n", b"OK\n", b"x" * 80, b"OK 12abc\n"])
def test_odd_vmm_replies_are_refusals(ctxs, reply) -> None:
    v, _ = ctxs
    vmm = FakeVmm(_path(), {5003: 1}, reply=reply)
    try:
        host = v.socket(vmzmq.PUSH)
        host.reconnect_ivl = 20
        mon = host.get_monitor_socket()
        host.connect(f"hvsock://{vmm.path}:5003")
        wait_event(mon, CONNECT_RETRIED)
        assert not any(c.ready for c in host._core.connections)
    finally:
        vmm.close()


def test_guest_initiated_connections_bind_path_port(ctxs) -> None:
    v, z = ctxs
    path = _path()
    host = v.socket(vmzmq.PULL)
    host.bind(f"hvsock://{path}:6000")
    assert host.last_endpoint.decode() == f"hvsock://{path}:6000"
    assert os.path.exists(f"{path}_6000")
    # What the VMM does when a guest connects to CID 2 port 6000: connect to PATH_6000.
    guest = z.socket(zmq.PUSH)
    guest.connect(f"ipc://{path}_6000")
    guest.send(b"from the guest")
    assert recv_within(host) == [b"from the guest"]
    host.unbind(f"hvsock://{path}:6000")
    assert not os.path.exists(f"{path}_6000")


def test_curve_over_hvsock(ctxs) -> None:
    v, z = ctxs
    server_public, server_secret = zmq.curve_keypair()
    guest = z.socket(zmq.REP)
    guest.curve_server = True
    guest.curve_secretkey = server_secret
    tcp_port = guest.bind_to_random_port("tcp://127.0.0.1")
    vmm = FakeVmm(_path(), {5004: tcp_port})
    try:
        host = v.socket(vmzmq.REQ)
        host.curve_serverkey = server_public
        host.curve_publickey, host.curve_secretkey = vmzmq.curve_keypair()
        host.connect(f"hvsock://{vmm.path}:5004")
        host.send(b"secret")
        assert recv_within(guest) == [b"secret"]
    finally:
        vmm.close()


@pytest.mark.parametrize(
    "address, words",
    [
        ("/tmp/x", "no ':'"),
        (":5000", "empty path"),
        ("/tmp/x:*", "cannot be '*'"),
        ("/tmp/x:port", "not a decimal"),
        ("/tmp/x:-1", "not a decimal"),
        ("/tmp/x:4294967296", "above"),
        ("@abstract:5", "not '@name'"),
        ("/tmp/" + "p" * 120 + ":5", "longer than"),
    ],
)
def test_malformed_endpoints(ctxs, address, words) -> None:
    v, _ = ctxs
    s = v.socket(vmzmq.PUSH)
    for call in (s.connect, s.bind):
        with pytest.raises(vmzmq.ZMQError) as info:
            call(f"hvsock://{address}")
        assert info.value.errno in (errno.EINVAL, errno.ENAMETOOLONG)
        assert words in str(info.value)


def test_cli_proxy_exposes_a_guest_service_on_tcp(ctxs) -> None:
    import subprocess
    import sys

    from child_process import child_env
    from interop_helpers import free_tcp_port

    _, z = ctxs
    guest, tcp_port = _guest(z, zmq.REP)
    vmm = FakeVmm(_path(), {5555: tcp_port})
    front = free_tcp_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "vmzmq", "proxy", f"tcp://127.0.0.1:{front}",
         f"hvsock://{vmm.path}:5555"],
        env=child_env(), stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proxy.stderr is not None
        assert "relaying connections" in proxy.stderr.readline()  # bound and serving
        client = z.socket(zmq.REQ)
        client.connect(f"tcp://127.0.0.1:{front}")
        client.send(b"through the proxy and the VMM")
        assert recv_within(guest) == [b"through the proxy and the VMM"]
        guest.send(b"back")
        assert recv_within(client) == [b"back"]
    finally:
        proxy.terminate()
        proxy.wait(20)
        vmm.close()
