"""Proxy devices: a :class:`~vmzmq.devices.Device` with a third, monitor socket that gets a
copy of every message (``vmzmq.proxy``'s capture), as pyzmq's ``zmq.devices.proxydevice``."""

from __future__ import annotations

from typing import Any

from ..constants import PUB
from ..proxy import proxy
from ..socket import Socket
from .basedevice import Device, ProcessDevice, ThreadDevice


class ProxyBase:
    """Adds the monitor socket: ``bind_mon``, ``connect_mon``, ``setsockopt_mon``."""

    def __init__(self, in_type: int, out_type: int, mon_type: int = PUB) -> None:
        Device.__init__(self, in_type=in_type, out_type=out_type)  # type: ignore[arg-type]
        self.mon_type = mon_type
        self._mon_binds: list[str] = []
        self._mon_connects: list[str] = []
        self._mon_sockopts: list[tuple[int, Any]] = []

    def bind_mon(self, addr: str) -> None:
        self._mon_binds.append(addr)

    def bind_mon_to_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        port = self._reserve_random_port(addr, *args, **kwargs)  # type: ignore[attr-defined]
        self.bind_mon(f"{addr}:{port}")
        return port

    def connect_mon(self, addr: str) -> None:
        self._mon_connects.append(addr)

    def setsockopt_mon(self, opt: int, value: Any) -> None:
        self._mon_sockopts.append((opt, value))

    def _setup_sockets(self) -> tuple[Socket, ...]:
        ins, outs = Device._setup_sockets(self)  # type: ignore[arg-type]
        mons = self._make_socket(self.mon_type, self._mon_sockopts)  # type: ignore[attr-defined]
        for addr in self._mon_binds:
            mons.bind(addr)
        for addr in self._mon_connects:
            mons.connect(addr)
        return ins, outs, mons

    def run_device(self) -> None:
        ins, outs, mons = self._setup_sockets()
        proxy(ins, outs, mons)


class Proxy(ProxyBase, Device):
    """A proxy device with a monitor socket (PUB by default), run in the calling thread."""


class ThreadProxy(ProxyBase, ThreadDevice):
    """A :class:`Proxy` in a background thread."""


class ProcessProxy(ProxyBase, ProcessDevice):
    """A :class:`Proxy` in a child process."""


__all__ = ["ProcessProxy", "Proxy", "ProxyBase", "ThreadProxy"]
