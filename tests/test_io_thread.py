"""The I/O thread never dies silently and never spins: a handler that raises is dropped with
its connection (logged once), and a failed epoll makes the context fail loudly."""

from __future__ import annotations

import logging
import socket

import pytest

import vmzmq
from interop_helpers import recv_within, wait_until
from vmzmq.engine.connection import StreamConnection
from zmtp_bytes import frame, greeting, ready


@pytest.fixture
def ctx():
    c = vmzmq.Context()
    c.linger = 0
    yield c
    c.destroy(linger=0)


def test_a_failing_handler_drops_its_connection_only(ctx, monkeypatch, caplog) -> None:
    server = ctx.socket(vmzmq.PULL)
    server.bind("tcp://127.0.0.1:*")
    port = int(server.last_endpoint.decode().rsplit(":", 1)[1])
    bad = socket.create_connection(("127.0.0.1", port))
    bad.sendall(greeting() + ready(b"PUSH"))
    conn = wait_until(lambda: next(iter(server._core.connections), None), what="connection")
    wait_until(lambda: conn.ready, what="handshake")
    calls = []
    original = StreamConnection._read

    def broken_read(self):  # a bug in reading, for this one connection only
        if self is conn:
            calls.append(1)
            raise RuntimeError("boom")
        return original(self)

    monkeypatch.setattr(StreamConnection, "_read", broken_read)
    with caplog.at_level(logging.ERROR, logger="vmzmq"):
        bad.sendall(frame(b"trigger"))
        wait_until(lambda: conn.closed, what="the failing connection to be dropped")
    assert len(calls) == 1  # not called again and again: unregistered at once
    assert sum("dropping it" in r.getMessage() for r in caplog.records) == 1
    # The socket goes on serving others.
    good = ctx.socket(vmzmq.PUSH)
    good.connect(f"tcp://127.0.0.1:{port}")
    good.send(b"ok")
    assert recv_within(server) == [b"ok"]
    bad.close()


def test_a_failed_epoll_fails_the_context_loudly(caplog) -> None:
    ctx = vmzmq.Context()
    try:
        s = ctx.socket(vmzmq.PULL)
        s.bind("tcp://127.0.0.1:*")
        io = ctx._core._io
        with caplog.at_level(logging.CRITICAL, logger="vmzmq"):
            io._epoll.close()  # what a broken epoll looks like to the loop: poll raises
            io._wake()
            wait_until(lambda: io.failed is not None, what="the loop to notice")
        assert any("epoll failed" in r.getMessage() for r in caplog.records)
        with pytest.raises(vmzmq.ZMQError) as info:
            s.connect("tcp://127.0.0.1:1")
        assert info.value.errno == vmzmq.ETERM and "I/O thread failed" in str(info.value)
    finally:
        ctx.destroy(linger=0)  # closing and terminating still work
