"""Devices: proxies and queues run in the background, as pyzmq's ``zmq.devices``.

* :class:`ThreadDevice` / :class:`ProcessDevice`: :func:`vmzmq.proxy` between two sockets
  made from socket types in a thread / a child process;
* :class:`ThreadProxy` / :class:`ProcessProxy`: the same with a monitor (capture) socket;
* :class:`ThreadProxySteerable` / :class:`ProcessProxySteerable`: plus a control socket;
* :func:`monitored_queue` and :class:`ThreadMonitoredQueue` / :class:`ProcessMonitoredQueue`:
  a queue copying every message, prefixed by direction, to a monitor socket;
* :class:`StreamRelay` (vmzmq's own): a per-connection byte relay between two transports,
  e.g. ``vmci://*:5555`` to ``tcp://127.0.0.1:5556``, carrying any ZMTP socket type.
"""

from __future__ import annotations

from ..constants import DeviceType
from ..proxy import device, proxy, proxy_steerable
from .basedevice import BackgroundDevice, Device, ProcessDevice, ThreadDevice
from .monitoredqueue import monitored_queue
from .monitoredqueuedevice import (
    MonitoredQueue,
    MonitoredQueueBase,
    ProcessMonitoredQueue,
    ThreadMonitoredQueue,
)
from .proxydevice import ProcessProxy, Proxy, ProxyBase, ThreadProxy
from .proxysteerabledevice import (
    ProcessProxySteerable,
    ProxySteerable,
    ProxySteerableBase,
    ThreadProxySteerable,
)
from .relay import StreamRelay

__all__ = [
    "BackgroundDevice",
    "Device",
    "DeviceType",
    "MonitoredQueue",
    "MonitoredQueueBase",
    "ProcessDevice",
    "ProcessMonitoredQueue",
    "ProcessProxy",
    "ProcessProxySteerable",
    "Proxy",
    "ProxyBase",
    "ProxySteerable",
    "ProxySteerableBase",
    "StreamRelay",
    "ThreadDevice",
    "ThreadMonitoredQueue",
    "ThreadProxy",
    "ThreadProxySteerable",
    "device",
    "monitored_queue",
    "proxy",
    "proxy_steerable",
]
