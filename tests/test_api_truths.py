"""Small API truths (issue 16, point 6): what the README shows works, nothing is lost to a bad
argument, and arguments vmzmq cannot honour are refused rather than ignored."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

import vmzmq
from child_process import child_env
from interop_helpers import recv_within
from zmtp_bytes import greeting


@pytest.fixture
def ctx():
    c = vmzmq.Context()
    c.linger = 0
    yield c
    c.destroy(linger=0)


def test_vmci_module_is_there_after_import_vmzmq() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import vmzmq; print(callable(vmzmq.vmci.get_local_cid))"],
        capture_output=True, text=True, env=child_env(), timeout=60,
    )
    assert out.stdout.strip() == "True", out.stderr


def test_recv_into_checks_before_taking_the_message(ctx) -> None:
    a, b = ctx.socket(vmzmq.PAIR), ctx.socket(vmzmq.PAIR)
    a.bind("inproc://into")
    b.connect("inproc://into")
    a.send(b"keep me")
    assert b.poll(5000)
    with pytest.raises(ValueError):
        b.recv_into(bytearray(10), nbytes=-1)
    with pytest.raises(TypeError):
        b.recv_into(b"read-only buffer")
    buf = bytearray(4)
    assert b.recv_into(buf) == 7  # still there, and truncated as libzmq's zmq_recv does
    assert buf == b"keep"


def test_router_reads_identity_in_any_case(ctx) -> None:
    import socket

    router = ctx.socket(vmzmq.ROUTER)
    router.bind("tcp://127.0.0.1:*")
    port = int(router.last_endpoint.decode().rsplit(":", 1)[1])
    raw = socket.create_connection(("127.0.0.1", port))
    props = (b"\x0bSocket-Type\x00\x00\x00\x06DEALER"
             b"\x08IDENTITY\x00\x00\x00\x05peer1")
    ready = b"\x05READY" + props
    raw.sendall(greeting() + bytes((4, len(ready))) + ready)
    raw.sendall(b"\x00\x02hi")
    assert recv_within(router) == [b"peer1", b"hi"]
    raw.close()


def test_arguments_vmzmq_cannot_honour_are_refused(ctx) -> None:
    s = ctx.socket(vmzmq.PUSH)
    for kwargs in ({"routing_id": 5}, {"group": "g"}):
        with pytest.raises(vmzmq.ZMQError) as info:
            s.send(b"x", **kwargs)
        assert info.value.errno == errno.ENOTSUP
    with pytest.raises(vmzmq.ZMQError) as info:
        vmzmq.Context(shadow=12345)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        vmzmq.Context(bogus=1)


def test_shadow_context_shares_the_original(ctx) -> None:
    shadow = vmzmq.Context(shadow=ctx)
    a = shadow.socket(vmzmq.PAIR)
    a.bind("inproc://shared")
    b = ctx.socket(vmzmq.PAIR)
    b.connect("inproc://shared")  # same inproc namespace: the same context underneath
    b.send(b"one context")
    assert recv_within(a) == [b"one context"]
