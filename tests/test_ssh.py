"""vmzmq.ssh: REQ/REP through real SSH tunnels, made by the ``ssh`` command and by paramiko,
to a throwaway sshd on a random localhost port (its own host key, authorized keys and
config; no password logins).

Needs OpenSSH's server and client (``apt-get install openssh-server openssh-client``) and
paramiko (``pip install paramiko``): without them these tests fail, saying so; they are
never skipped on Linux, where both can always be installed.

The ssh command finds the throwaway server's config through a wrapper named ``ssh`` first
on PATH (ssh reads ``~/.ssh`` from the password database, not from $HOME, and the user's
own files must not be touched); paramiko reads ``$HOME/.ssh/known_hosts``.
"""

from __future__ import annotations

import getpass
import importlib.util
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest

import vmzmq as zmq
from child_process import child_env
from interop_helpers import recv_within, wait_until
from vmzmq.ssh import (
    SSHException,
    open_tunnel,
    openssh_tunnel,
    paramiko_tunnel,
    select_random_ports,
    try_passwordless_ssh,
    tunnel_connection,
)
from vmzmq.ssh.tunnel import _split_server
from waiting import HANG, finishes

INSTALL_OPENSSH = "apt-get install -y openssh-server openssh-client"
PASSPHRASE = "s3cret phrase"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail(f"{name} is not installed; the ssh tests need it: {INSTALL_OPENSSH}")
    return found


def _paramiko() -> Any:
    if importlib.util.find_spec("paramiko") is None:
        pytest.fail("paramiko is not installed; the ssh tests need it: pip install paramiko")
    import paramiko

    return paramiko


# -- the throwaway server -------------------------------------------------------------------
@dataclass
class Sshd:
    port: int
    user: str
    dir: Path
    client_key: str  # authorized, no passphrase
    locked_key: str  # authorized, passphrase PASSPHRASE
    stranger_key: str  # not authorized
    log: list[str]

    @property
    def server(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def bin(self, variant: str) -> str:
        return str(self.dir / f"bin-{variant}")

    def home(self, variant: str) -> str:
        return str(self.dir / f"home-{variant}")


def _keygen(ssh_keygen: str, path: Path, passphrase: str = "") -> str:
    subprocess.run(
        [ssh_keygen, "-q", "-t", "ed25519", "-N", passphrase, "-C", path.name, "-f", str(path)],
        check=True, timeout=HANG,
    )
    return str(path)


def _start_sshd(sshd: str, config: Path, log: list[str]) -> tuple[subprocess.Popen[str], bool]:
    proc = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(config)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # also keeps sshd's log from filling its pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=HANG)
        except queue.Empty:
            proc.kill()
            pytest.fail(f"sshd did not start listening: {''.join(log)}")
        if line is None:  # it exited: the port may have been taken meanwhile
            proc.wait(HANG)
            return proc, False
        if "Server listening on" in line:
            return proc, True


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    sshd_bin, ssh_bin, ssh_keygen = _tool("sshd"), _tool("ssh"), _tool("ssh-keygen")
    d = tmp_path_factory.mktemp("sshd")
    host_key = _keygen(ssh_keygen, d / "host_key")
    client_key = _keygen(ssh_keygen, d / "client_key")
    locked_key = _keygen(ssh_keygen, d / "locked_key", PASSPHRASE)
    stranger_key = _keygen(ssh_keygen, d / "stranger_key")
    (d / "authorized_keys").write_text(
        Path(client_key + ".pub").read_text() + Path(locked_key + ".pub").read_text()
    )
    if os.geteuid() == 0:
        # sshd started as root insists on its privilege separation directory, which a
        # service manager would have made; an unprivileged sshd does not need it.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log: list[str] = []
    for _ in range(5):
        port = select_random_ports(1)[0]
        config = d / "sshd_config"
        config.write_text(
            f"Port {port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {host_key}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
            "PidFile none\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\n"
            "AllowTcpForwarding yes\n"
            "X11Forwarding no\n"
            "PrintMotd no\n"
        )
        proc, listening = _start_sshd(sshd_bin, config, log)
        if listening:
            break
    else:
        pytest.fail(f"sshd would not start: {''.join(log)}")

    known = f"[127.0.0.1]:{port} {Path(host_key + '.pub').read_text()}"
    (d / "known_hosts").write_text(known)
    (d / "no_known_hosts").write_text("")
    common = (
        # Only the keys a test names: never the user's own, nor an agent's.
        f"  IdentityFile {d / 'no-default-key'}\n"
        "  IdentitiesOnly yes\n"
        "  GlobalKnownHostsFile /dev/null\n"
        "  LogLevel ERROR\n"
    )
    configs = {
        "trusted": f"UserKnownHostsFile {d / 'known_hosts'}\n",
        "stranger": f"UserKnownHostsFile {d / 'no_known_hosts'}\nStrictHostKeyChecking ask\n",
        "master": f"UserKnownHostsFile {d / 'known_hosts'}\nControlPath {d / 'cm'}\n",
    }
    for variant, extra in configs.items():
        conf = d / f"{variant}.conf"
        conf.write_text("Host *\n" + common + "".join(f"  {line}\n" for line in extra.split("\n")
                                                     if line))
        wrapper = d / f"bin-{variant}" / "ssh"
        wrapper.parent.mkdir()
        wrapper.write_text(f'#!/bin/sh\nexec {ssh_bin} -F {conf} "$@"\n')
        wrapper.chmod(0o755)
    for variant, hosts in (("trusted", known), ("stranger", "")):
        dotssh = d / f"home-{variant}" / ".ssh"
        dotssh.mkdir(parents=True)
        (dotssh / "known_hosts").write_text(hosts)

    yield Sshd(port, getpass.getuser(), d, client_key, locked_key, stranger_key, log)
    proc.terminate()
    proc.wait(HANG)
    _end_sessions_of(port)


def _end_sessions_of(port: int) -> None:
    """End what the server still runs for tunnels the tests killed: without a terminal, a
    session's command (``sleep TIMEOUT``) outlives its connection, on any sshd. They are
    found by the SSH_CONNECTION sshd gave them, which names this server's port."""
    mark = f" 127.0.0.1 {port}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(b"SSH_CONNECTION=") and v.endswith(mark) for v in environ):
            try:
                os.kill(int(entry), signal.SIGTERM)
            except ProcessLookupError:
                pass


@pytest.fixture
def ssh_env(sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sshd]:
    """The ssh command and paramiko both pointed at the throwaway server, trusting its key."""
    use_ssh(monkeypatch, sshd, "trusted")
    monkeypatch.setenv("HOME", sshd.home("trusted"))
    for name in ("SSH_AUTH_SOCK", "VMZMQ_PARAMIKO_HOST_KEY_POLICY",
                 "PYZMQ_PARAMIKO_HOST_KEY_POLICY"):
        monkeypatch.delenv(name, raising=False)
    yield sshd


def use_ssh(monkeypatch: pytest.MonkeyPatch, sshd: Sshd, variant: str) -> None:
    monkeypatch.setenv("PATH", sshd.bin(variant) + os.pathsep + os.environ["PATH"])


# -- the ZeroMQ ends, and cleaning up tunnels -----------------------------------------------
@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def rep(ctx: zmq.Context) -> tuple[zmq.Socket, str]:
    sock = ctx.socket(zmq.REP)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    return sock, f"tcp://127.0.0.1:{port}"


class Tunnels:
    def __init__(self) -> None:
        self.made: list[BaseProcess | int] = []

    def add(self, tunnel: BaseProcess | int) -> BaseProcess | int:
        self.made.append(tunnel)
        return tunnel

    def end(self) -> None:
        for tunnel in self.made:
            if isinstance(tunnel, int):
                try:
                    os.kill(tunnel, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            else:
                tunnel.terminate()
                tunnel.join(HANG)


@pytest.fixture
def tunnels() -> Iterator[Tunnels]:
    made = Tunnels()
    yield made
    made.end()


def round_trip(req: zmq.Socket, rep: zmq.Socket, payload: bytes = b"ping") -> None:
    req.send(payload)
    assert recv_within(rep, int(HANG * 1000)) == [payload]
    rep.send(payload + b"/pong")
    assert recv_within(req, int(HANG * 1000)) == [payload + b"/pong"]


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=HANG).close()
    except ConnectionRefusedError:
        return True
    return False


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# -- no server needed -----------------------------------------------------------------------
def test_select_random_ports() -> None:
    ports = select_random_ports(5)
    assert len(set(ports)) == 5
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


@pytest.mark.parametrize("addr", ["ipc:///tmp/x.sock", "inproc://x", "tcp://host", "host:1"])
def test_only_tcp_addresses_can_be_tunnelled(addr: str) -> None:
    with pytest.raises(ValueError):
        open_tunnel(addr, "nobody@127.0.0.1:1")


def test_server_strings() -> None:
    assert _split_server("me@gate:2222") == ("me", "gate", 2222)
    assert _split_server("me@gate") == ("me", "gate", 22)
    assert _split_server("me@[::1]:2200") == ("me", "::1", 2200)
    assert _split_server("gate")[1:] == ("gate", 22)


def test_paramiko_is_imported_only_when_used() -> None:
    code = (
        "import sys, vmzmq.ssh, vmzmq.ssh.tunnel, vmzmq.ssh.forward\n"
        "assert 'paramiko' not in sys.modules, 'imported paramiko'\n"
    )
    subprocess.run([sys.executable, "-c", code], env=child_env(), check=True, timeout=HANG)


# -- the ssh command ------------------------------------------------------------------------
def test_openssh_tunnel_carries_req_rep(
    ssh_env: Sshd, ctx: zmq.Context, rep: tuple[zmq.Socket, str], tunnels: Tunnels
) -> None:
    server, endpoint = rep
    req = ctx.socket(zmq.REQ)
    pid = tunnels.add(tunnel_connection(
        req, endpoint, ssh_env.server, keyfile=ssh_env.client_key, paramiko=False, timeout=5
    ))
    assert isinstance(pid, int)
    round_trip(req, server)
    round_trip(req, server, b"x" * 200_000)  # larger than any one read or ssh packet
    # The pid is the process that carries the tunnel: ending it ends the tunnel.
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"-L" in cmdline
    url = req.last_endpoint.decode()
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: refuses(port_of(url)), HANG, "the tunnel to close")


def test_openssh_is_the_default_where_installed(
    ssh_env: Sshd, ctx: zmq.Context, rep: tuple[zmq.Socket, str], tunnels: Tunnels
) -> None:
    server, endpoint = rep
    req = ctx.socket(zmq.REQ)
    tunnel = tunnels.add(
        tunnel_connection(req, endpoint, ssh_env.server, ssh_env.client_key, timeout=5)
    )
    assert isinstance(tunnel, int)
    round_trip(req, server)


def test_openssh_tunnel_ends_when_idle(ssh_env: Sshd, tunnels: Tunnels) -> None:
    url, pid = open_tunnel(
        "tcp://127.0.0.1:9", ssh_env.server, keyfile=ssh_env.client_key, paramiko=False,
        timeout=1,
    )
    tunnels.add(pid)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), HANG, "the idle tunnel to end")
    assert refuses(port_of(url))


def test_openssh_tunnel_to_ipv6(
    ssh_env: Sshd, ctx: zmq.Context, tunnels: Tunnels
) -> None:
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    server = ctx.socket(zmq.REP)
    server.ipv6 = True
    port = server.bind_to_random_port("tcp://[::1]")
    req = ctx.socket(zmq.REQ)
    tunnels.add(tunnel_connection(
        req, f"tcp://[::1]:{port}", ssh_env.server, keyfile=ssh_env.client_key, paramiko=False,
        timeout=5,
    ))
    round_trip(req, server)


def test_openssh_key_passphrase_as_password(
    ssh_env: Sshd, ctx: zmq.Context, rep: tuple[zmq.Socket, str], tunnels: Tunnels
) -> None:
    server, endpoint = rep
    req = ctx.socket(zmq.REQ)
    tunnels.add(tunnel_connection(
        req, endpoint, ssh_env.server, keyfile=ssh_env.locked_key, password=PASSPHRASE,
        paramiko=False, timeout=5,
    ))
    round_trip(req, server)


def test_openssh_wrong_password_is_refused(ssh_env: Sshd) -> None:
    with pytest.raises(SSHException, match="rejected the password"):
        open_tunnel("tcp://127.0.0.1:9", ssh_env.server, keyfile=ssh_env.locked_key,
                    password="wrong", paramiko=False)


def test_openssh_no_way_in(ssh_env: Sshd) -> None:
    with pytest.raises(RuntimeError, match="Permission denied"):
        open_tunnel("tcp://127.0.0.1:9", ssh_env.server, keyfile=ssh_env.stranger_key,
                    paramiko=False)


def test_openssh_unknown_host_key_is_refused(
    ssh_env: Sshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_ssh(monkeypatch, ssh_env, "stranger")
    with pytest.raises(SSHException, match="host key"):
        open_tunnel("tcp://127.0.0.1:9", ssh_env.server, keyfile=ssh_env.client_key,
                    paramiko=False)
    with pytest.raises(SSHException, match="host key"):
        try_passwordless_ssh(ssh_env.server, ssh_env.client_key, paramiko=False)


def test_openssh_try_passwordless(ssh_env: Sshd) -> None:
    assert try_passwordless_ssh(ssh_env.server, ssh_env.client_key, paramiko=False) is True
    assert try_passwordless_ssh(ssh_env.server, ssh_env.locked_key, paramiko=False) is False
    assert try_passwordless_ssh(ssh_env.server, ssh_env.stranger_key, paramiko=False) is False
    assert try_passwordless_ssh(ssh_env.server, None, paramiko=False) is False


def test_openssh_unreachable_server(ssh_env: Sshd) -> None:
    closed = select_random_ports(1)[0]
    with pytest.raises(SSHException, match="refused"):
        try_passwordless_ssh(f"{ssh_env.user}@127.0.0.1:{closed}", ssh_env.client_key,
                             paramiko=False)
    with pytest.raises(RuntimeError, match="failed to start"):
        open_tunnel("tcp://127.0.0.1:9", f"{ssh_env.user}@127.0.0.1:{closed}",
                    keyfile=ssh_env.client_key, paramiko=False)


def test_openssh_reuses_a_control_master(
    ssh_env: Sshd, monkeypatch: pytest.MonkeyPatch, ctx: zmq.Context,
    rep: tuple[zmq.Socket, str],
) -> None:
    use_ssh(monkeypatch, ssh_env, "master")
    ssh = shutil.which("ssh")
    assert ssh is not None and ssh.startswith(ssh_env.bin("master"))
    dest = f"{ssh_env.user}@127.0.0.1"
    base = [ssh, "-i", ssh_env.client_key, "-p", str(ssh_env.port)]
    subprocess.run([*base, "-M", "-f", "-N", dest], check=True, timeout=HANG,
                   stdin=subprocess.DEVNULL, capture_output=True)
    try:
        check = subprocess.run([*base, "-O", "check", dest], capture_output=True, text=True,
                               timeout=HANG, check=True)
        master_pid = int(check.stderr.split("pid=")[1].split(")")[0])
        server, endpoint = rep
        req = ctx.socket(zmq.REQ)
        pid = tunnel_connection(req, endpoint, ssh_env.server, keyfile=ssh_env.client_key,
                                paramiko=False)
        assert pid == master_pid  # the forward was added to the running master
        round_trip(req, server)
    finally:
        subprocess.run([*base, "-O", "exit", dest], capture_output=True, timeout=HANG)


# -- paramiko -------------------------------------------------------------------------------
def test_paramiko_tunnel_carries_req_rep(
    ssh_env: Sshd, ctx: zmq.Context, rep: tuple[zmq.Socket, str], tunnels: Tunnels
) -> None:
    _paramiko()
    server, endpoint = rep
    req = ctx.socket(zmq.REQ)
    proc = tunnels.add(tunnel_connection(
        req, endpoint, ssh_env.server, keyfile=ssh_env.client_key, paramiko=True
    ))
    assert isinstance(proc, BaseProcess) and proc.is_alive() and proc.daemon
    round_trip(req, server)
    round_trip(req, server, b"y" * 200_000)
    url = req.last_endpoint.decode()
    proc.terminate()
    proc.join(HANG)
    assert refuses(port_of(url))


def test_paramiko_tunnel_ends_when_idle(
    ssh_env: Sshd, ctx: zmq.Context, rep: tuple[zmq.Socket, str], tunnels: Tunnels
) -> None:
    _paramiko()
    server, endpoint = rep
    req = ctx.socket(zmq.REQ)
    proc = tunnels.add(tunnel_connection(
        req, endpoint, ssh_env.server, keyfile=ssh_env.client_key, paramiko=True, timeout=1
    ))
    assert isinstance(proc, BaseProcess)
    round_trip(req, server)
    req.close(linger=0)  # its connection was the one thing keeping the tunnel open
    proc.join(HANG)
    assert proc.exitcode == 0


def test_paramiko_key_passphrase_as_password(
    ssh_env: Sshd, ctx: zmq.Context, rep: tuple[zmq.Socket, str], tunnels: Tunnels
) -> None:
    paramiko = _paramiko()
    server, endpoint = rep
    req = ctx.socket(zmq.REQ)
    tunnels.add(tunnel_connection(req, endpoint, ssh_env.server, keyfile=ssh_env.locked_key,
                                  password=PASSPHRASE, paramiko=True))
    round_trip(req, server)
    with pytest.raises(paramiko.SSHException):
        open_tunnel("tcp://127.0.0.1:9", ssh_env.server, keyfile=ssh_env.stranger_key,
                    password="wrong", paramiko=True)


def test_paramiko_unknown_host_key(
    ssh_env: Sshd, monkeypatch: pytest.MonkeyPatch, ctx: zmq.Context,
    rep: tuple[zmq.Socket, str], tunnels: Tunnels,
) -> None:
    paramiko = _paramiko()
    home = ssh_env.home("stranger")
    monkeypatch.setenv("HOME", home)
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        open_tunnel("tcp://127.0.0.1:9", ssh_env.server, keyfile=ssh_env.client_key,
                    paramiko=True)
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        try_passwordless_ssh(ssh_env.server, ssh_env.client_key, paramiko=True)
    # Accepting unknown keys is the caller's explicit choice, and writes nothing.
    monkeypatch.setenv("PYZMQ_PARAMIKO_HOST_KEY_POLICY", "AutoAdd")
    server, endpoint = rep
    req = ctx.socket(zmq.REQ)
    tunnels.add(tunnel_connection(req, endpoint, ssh_env.server, keyfile=ssh_env.client_key,
                                  paramiko=True))
    round_trip(req, server)
    assert Path(home, ".ssh", "known_hosts").read_text() == ""


def test_paramiko_try_passwordless(ssh_env: Sshd) -> None:
    _paramiko()
    assert try_passwordless_ssh(ssh_env.server, ssh_env.client_key, paramiko=True) is True
    assert try_passwordless_ssh(ssh_env.server, ssh_env.locked_key, paramiko=True) is False
    assert try_passwordless_ssh(ssh_env.server, ssh_env.stranger_key, paramiko=True) is False
    assert try_passwordless_ssh(ssh_env.server, None, paramiko=True) is False


def test_paramiko_tunnel_port_taken(ssh_env: Sshd) -> None:
    _paramiko()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="cannot listen"):
            paramiko_tunnel(port, 9, ssh_env.server, keyfile=ssh_env.client_key)


def test_openssh_tunnel_port_taken(ssh_env: Sshd) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="failed to start"):
            openssh_tunnel(port, 9, ssh_env.server, keyfile=ssh_env.client_key)


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")  # exited, waiting to be reaped


def test_paramiko_tunnel_ends_with_a_killed_program(ssh_env: Sshd) -> None:
    # pyzmq's tunnel process would outlive a program killed with SIGKILL (its daemon flag
    # only acts on a normal exit); this one watches its parent.
    _paramiko()
    code = (
        "import sys\n"
        "from vmzmq.ssh import paramiko_tunnel\n"
        "tunnel = paramiko_tunnel(int(sys.argv[1]), 9, sys.argv[2], keyfile=sys.argv[3],\n"
        "                         timeout=3600)\n"
        "print(tunnel.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    lport = select_random_ports(1)[0]
    program = subprocess.Popen(
        [sys.executable, "-c", code, str(lport), ssh_env.server, ssh_env.client_key],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env(),
    )
    try:
        assert program.stdout is not None
        line = finishes(program.stdout.readline, what="the program's tunnel")
        assert line.strip().isdigit(), program.stderr.read() if program.stderr else line
        tunnel_pid = int(line)
        assert not gone(tunnel_pid) and not refuses(lport)
        program.kill()
        program.wait(HANG)
        wait_until(lambda: gone(tunnel_pid), HANG, "the orphaned tunnel to end")
        assert refuses(lport)
    finally:
        if program.poll() is None:
            program.kill()
            program.wait(HANG)


def test_paramiko_is_the_default_without_the_ssh_command(
    ssh_env: Sshd, monkeypatch: pytest.MonkeyPatch, ctx: zmq.Context,
    rep: tuple[zmq.Socket, str], tunnels: Tunnels, tmp_path: Path,
) -> None:
    _paramiko()
    monkeypatch.setenv("PATH", str(tmp_path))  # no ssh command anywhere
    server, endpoint = rep
    req = ctx.socket(zmq.REQ)
    tunnel = tunnels.add(tunnel_connection(req, endpoint, ssh_env.server, ssh_env.client_key))
    assert isinstance(tunnel, BaseProcess)
    round_trip(req, server)
    with pytest.raises(FileNotFoundError, match="no ssh command"):
        openssh_tunnel(select_random_ports(1)[0], 9, ssh_env.server)
