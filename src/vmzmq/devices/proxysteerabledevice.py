"""Steerable proxy devices: a proxy device with a control socket (PAUSE, RESUME, TERMINATE,
STATISTICS; see :func:`vmzmq.proxy_steerable`), as pyzmq's
``zmq.devices.proxysteerabledevice``."""

from __future__ import annotations

from typing import Any

from ..constants import PUB
from ..proxy import proxy_steerable
from ..socket import Socket
from .proxydevice import ProcessProxy, Proxy, ThreadProxy


class ProxySteerableBase:
    """Adds the control socket: ``bind_ctrl``, ``connect_ctrl``, ``setsockopt_ctrl``."""

    def __init__(
        self, in_type: int, out_type: int, mon_type: int = PUB, ctrl_type: int | None = None
    ) -> None:
        super().__init__(in_type=in_type, out_type=out_type, mon_type=mon_type)  # type: ignore[call-arg]
        self.ctrl_type = ctrl_type
        self._ctrl_binds: list[str] = []
        self._ctrl_connects: list[str] = []
        self._ctrl_sockopts: list[tuple[int, Any]] = []

    def bind_ctrl(self, addr: str) -> None:
        self._ctrl_binds.append(addr)

    def bind_ctrl_to_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        port = self._reserve_random_port(addr, *args, **kwargs)  # type: ignore[attr-defined]
        self.bind_ctrl(f"{addr}:{port}")
        return port

    def connect_ctrl(self, addr: str) -> None:
        self._ctrl_connects.append(addr)

    def setsockopt_ctrl(self, opt: int, value: Any) -> None:
        self._ctrl_sockopts.append((opt, value))

    def _setup_sockets(self) -> tuple[Socket, ...]:
        ins, outs, mons = super()._setup_sockets()  # type: ignore[misc]
        if self.ctrl_type is None:
            raise TypeError("ctrl_type must be specified")
        ctrls = self._make_socket(self.ctrl_type, self._ctrl_sockopts)  # type: ignore[attr-defined]
        for addr in self._ctrl_binds:
            ctrls.bind(addr)
        for addr in self._ctrl_connects:
            ctrls.connect(addr)
        return ins, outs, mons, ctrls

    def run_device(self) -> None:
        ins, outs, mons, ctrls = self._setup_sockets()
        proxy_steerable(ins, outs, mons, ctrls)


class ProxySteerable(ProxySteerableBase, Proxy):
    """A steerable proxy device, run in the calling thread."""


class ThreadProxySteerable(ProxySteerableBase, ThreadProxy):
    """A :class:`ProxySteerable` in a background thread."""


class ProcessProxySteerable(ProxySteerableBase, ProcessProxy):
    """A :class:`ProxySteerable` in a child process."""


__all__ = ["ProcessProxySteerable", "ProxySteerable", "ProxySteerableBase", "ThreadProxySteerable"]
