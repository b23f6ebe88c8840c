"""MonitoredQueue devices: :func:`~vmzmq.devices.monitored_queue` run as a device, as pyzmq's
``zmq.devices.monitoredqueuedevice``."""

from __future__ import annotations

from ..constants import PUB
from .monitoredqueue import monitored_queue
from .proxydevice import ProcessProxy, Proxy, ProxyBase, ThreadProxy


class MonitoredQueueBase(ProxyBase):
    """A proxy device whose monitor copies carry a direction prefix."""

    _in_prefix = b""
    _out_prefix = b""

    def __init__(
        self,
        in_type: int,
        out_type: int,
        mon_type: int = PUB,
        in_prefix: bytes = b"in",
        out_prefix: bytes = b"out",
    ) -> None:
        ProxyBase.__init__(self, in_type=in_type, out_type=out_type, mon_type=mon_type)
        self._in_prefix = in_prefix
        self._out_prefix = out_prefix

    def run_device(self) -> None:
        ins, outs, mons = self._setup_sockets()
        monitored_queue(ins, outs, mons, self._in_prefix, self._out_prefix)


class MonitoredQueue(MonitoredQueueBase, Proxy):
    """A monitored queue run in the calling thread."""


class ThreadMonitoredQueue(MonitoredQueueBase, ThreadProxy):
    """A monitored queue in a background thread."""


class ProcessMonitoredQueue(MonitoredQueueBase, ProcessProxy):
    """A monitored queue in a child process."""


__all__ = ["MonitoredQueue", "MonitoredQueueBase", "ProcessMonitoredQueue", "ThreadMonitoredQueue"]
