"""SSH tunnels for ZeroMQ connections (pyzmq's ``zmq.ssh``): see :mod:`vmzmq.ssh.tunnel`.

paramiko is optional and imported only when a paramiko tunnel is made."""

from .tunnel import (
    MaxRetryExceeded,
    SSHException,
    open_tunnel,
    openssh_tunnel,
    paramiko_tunnel,
    select_random_ports,
    ssh_tunnel,
    try_passwordless_ssh,
    tunnel_connection,
)

__all__ = [
    "MaxRetryExceeded",
    "SSHException",
    "open_tunnel",
    "openssh_tunnel",
    "paramiko_tunnel",
    "select_random_ports",
    "ssh_tunnel",
    "try_passwordless_ssh",
    "tunnel_connection",
]
