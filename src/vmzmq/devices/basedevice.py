"""Devices: a proxy whose sockets are made, configured and run in a background thread or
process, as pyzmq's ``zmq.devices.basedevice``.

Give socket *types*, queue the bind/connect/setsockopt calls, then ``start()``: the sockets
are created in the worker (a socket belongs to one thread), so the caller never touches them.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

from ..constants import ENOTSOCK, ETERM, PUSH, QUEUE
from ..context import Context
from ..error import ZMQBindError, ZMQError
from ..proxy import proxy
from ..socket import Socket


class Device:
    """A proxy between two sockets of the given types, run by :meth:`start`.

    ``Device(device_type, in_type, out_type)``; an ``out_type`` below 0 uses the in socket for
    both sides. Queue ``bind_in/out``, ``connect_in/out``, ``setsockopt_in/out`` (options are
    applied first, then binds, then connects). ``start()`` runs it in the calling thread;
    :class:`ThreadDevice` and :class:`ProcessDevice` run it in the background.
    """

    #: Makes the worker's context: the shared instance for threads, a fresh one for processes
    #: (a forked child must never use its parent's context).
    context_factory: Callable[[], Context] = Context.instance

    def __init__(
        self, device_type: int = QUEUE, in_type: int | None = None, out_type: int | None = None
    ) -> None:
        if in_type is None:
            raise TypeError("in_type must be specified")
        if out_type is None:
            raise TypeError("out_type must be specified")
        self.device_type = device_type
        self.in_type = in_type
        self.out_type = out_type
        self._in_binds: list[str] = []
        self._in_connects: list[str] = []
        self._in_sockopts: list[tuple[int, Any]] = []
        self._out_binds: list[str] = []
        self._out_connects: list[str] = []
        self._out_sockopts: list[tuple[int, Any]] = []
        self._random_addrs: list[str] = []
        self._sockets: list[Socket] = []
        self._context: Context | None = None
        self.daemon = True
        self.done = False

    # -- what to do in the worker ------------------------------------------------------------
    def bind_in(self, addr: str) -> None:
        self._in_binds.append(addr)

    def connect_in(self, addr: str) -> None:
        self._in_connects.append(addr)

    def setsockopt_in(self, opt: int, value: Any) -> None:
        self._in_sockopts.append((opt, value))

    def bind_out(self, addr: str) -> None:
        self._out_binds.append(addr)

    def connect_out(self, addr: str) -> None:
        self._out_connects.append(addr)

    def setsockopt_out(self, opt: int, value: Any) -> None:
        self._out_sockopts.append((opt, value))

    def bind_in_to_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        """Pick a free port on ``addr`` now, bind to it in the worker; return the port."""
        port = self._reserve_random_port(addr, *args, **kwargs)
        self.bind_in(f"{addr}:{port}")
        return port

    def bind_out_to_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        port = self._reserve_random_port(addr, *args, **kwargs)
        self.bind_out(f"{addr}:{port}")
        return port

    def _reserve_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        # The port is released again before the worker binds it: a small window another
        # program could take it in, the same trade-off pyzmq makes.
        with Context() as ctx, ctx.socket(PUSH) as probe:
            probe.linger = 0
            for _ in range(5):
                port = probe.bind_to_random_port(addr, *args, **kwargs)
                probe.unbind(probe.last_endpoint.decode())
                candidate = f"{addr}:{port}"
                if candidate not in self._random_addrs:
                    self._random_addrs.append(candidate)
                    return port
        raise ZMQBindError("Could not reserve random port.")

    # -- running -----------------------------------------------------------------------------
    def _make_socket(self, socket_type: int, opts: list[tuple[int, Any]]) -> Socket:
        if self._context is None:
            self._context = type(self).context_factory()
        sock = self._context.socket(socket_type)
        self._sockets.append(sock)
        for opt, value in opts:  # before any endpoint: ROUTING_ID and such count only then
            sock.setsockopt(opt, value)
        return sock

    def _setup_sockets(self) -> tuple[Socket, Socket]:
        ins = self._make_socket(self.in_type, self._in_sockopts)
        outs = ins if self.out_type < 0 else self._make_socket(self.out_type, self._out_sockopts)
        # Binds before connects, so a device connecting to itself finds its own endpoint.
        for addr in self._in_binds:
            ins.bind(addr)
        if outs is not ins:
            for addr in self._out_binds:
                outs.bind(addr)
        for addr in self._in_connects:
            ins.connect(addr)
        if outs is not ins:
            for addr in self._out_connects:
                outs.connect(addr)
        return ins, outs

    def run_device(self) -> None:
        """The work itself (runs in the worker): set up the sockets and proxy."""
        ins, outs = self._setup_sockets()
        proxy(ins, outs)

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            if not sock.closed:
                sock.close(linger=0)

    def run(self) -> None:
        """Run the device; a terminated context or closed socket is a normal end."""
        try:
            self.run_device()
        except ZMQError as exc:
            if exc.errno not in (ETERM, ENOTSOCK):
                raise
        finally:
            self.done = True
            self._close_sockets()

    def start(self) -> None:
        """Run in the calling thread (subclasses run in the background)."""
        self.run()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the device has finished (or ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(0.005)


class BackgroundDevice(Device):
    """A device run by a launcher (a Thread or Process class) in the background."""

    _launch_class: Any = None
    launcher: Any = None

    def start(self) -> None:
        self.launcher = self._launch_class(target=self.run)
        self.launcher.daemon = self.daemon
        self.launcher.start()

    def join(self, timeout: float | None = None) -> None:
        if self.launcher is not None:
            self.launcher.join(timeout=timeout)


class ThreadDevice(BackgroundDevice):
    """A device in a background thread (daemon by default)."""

    _launch_class = threading.Thread


class ProcessDevice(BackgroundDevice):
    """A device in a child process, with its own context."""

    _launch_class = multiprocessing.Process
    context_factory = Context


__all__ = ["BackgroundDevice", "Device", "ProcessDevice", "ThreadDevice"]
