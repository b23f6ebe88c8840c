"""Public helpers for VM sockets (``vmci://`` / ``vsock://``).

The rules themselves live in :mod:`vmzmq.transport.vmci`; this module is the stable public
face: the address constants, the local CID, whether the kernel has VM sockets, and reading the
kernel's view of the ``ZMQ_VMCI_*`` options on a socket. See ``docs/vmci.md``.
"""

from __future__ import annotations

from .transport.vmci import (
    VMADDR_CID_ANY,
    VMADDR_CID_HOST,
    VMADDR_CID_HYPERVISOR,
    VMADDR_CID_LOCAL,
    VMADDR_PORT_ANY,
    VsockAddress,
    available,
    format_endpoint,
    get_local_cid,
    parse_address,
    read_kernel_options,
)

__all__ = [
    "VMADDR_CID_ANY",
    "VMADDR_CID_HOST",
    "VMADDR_CID_HYPERVISOR",
    "VMADDR_CID_LOCAL",
    "VMADDR_PORT_ANY",
    "VsockAddress",
    "available",
    "format_endpoint",
    "get_local_cid",
    "parse_address",
    "read_kernel_options",
]
