"""SSH tunnels for ZeroMQ connections (pyzmq's ``zmq.ssh.tunnel``).

``tunnel_connection(sock, "tcp://10.0.0.5:5555", "me@gateway")`` connects ``sock`` to an
address only ``gateway`` can reach: it forwards a free local port to that address through
SSH (``ssh -L``) and connects ``sock`` to the local port.

Two ways to make the tunnel:

* the ``ssh`` command (:func:`openssh_tunnel`), the default wherever it is installed: your
  ``~/.ssh/config``, keys and agent apply. The tunnel is a background ``ssh`` process that
  runs ``sleep TIMEOUT`` on the server and so ends by itself once ``timeout`` seconds have
  passed and no forwarded connection is open. If a ControlMaster connection to the server is
  already running, the forward is added to it instead (and removed at exit).
* paramiko (:func:`paramiko_tunnel`), pure Python, imported only when used
  (``pip install paramiko``). The tunnel is a :class:`multiprocessing.Process` that ends the
  same way, or with this program.

Passwords and key passphrases: pass ``password``, or leave it None to be asked on the
terminal when the server wants one. ``ssh`` never reads the terminal itself: it gets what
it asks for from vmzmq through ``SSH_ASKPASS``.

Host keys are checked: a server whose key is not already known is refused with
:class:`SSHException` (paramiko: set ``VMZMQ_PARAMIKO_HOST_KEY_POLICY``, or pyzmq's
``PYZMQ_PARAMIKO_HOST_KEY_POLICY``, to ``AutoAdd`` or ``Warning`` to accept it).
"""

from __future__ import annotations

import atexit
import getpass
import multiprocessing
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import ModuleType
from typing import Any

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

#: How long a tunnel may take to come up (connecting, authenticating, forwarding).
SETUP_TIMEOUT = 60.0
# How long an ``ssh -O`` call to a running ControlMaster may take.
_CONTROL_TIMEOUT = 10.0
# Prompts for one tunnel: the first try, then a password asked on the terminal twice.
_MAX_ATTEMPTS = 3


class SSHException(Exception):
    """The SSH connection was refused: unknown host key, rejected password, no way in."""


class MaxRetryExceeded(Exception):
    """The tunnel did not come up in time (``SETUP_TIMEOUT``)."""


# -- small helpers --------------------------------------------------------------------------
def select_random_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports that were free a moment ago (bound together, then closed)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = socket.socket()
            sock.bind(("", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _split_host_port(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` (a bare IPv6 address has no port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, None


def _split_server(server: str) -> tuple[str, str, int]:
    """``[user@]host[:port]`` as (user, host, port), with this user and port 22 by default."""
    user, at, hostport = server.rpartition("@")
    host, port = _split_host_port(hostport)
    return (user if at else getpass.getuser()), host, 22 if port is None else port


def _parse_tcp_url(addr: str) -> tuple[str, int]:
    scheme, sep, rest = addr.partition("://")
    if not sep or scheme != "tcp":
        raise ValueError(f"only tcp:// addresses can be tunnelled through ssh, not {addr!r}")
    host, port = _split_host_port(rest)
    if not host or port is None:
        raise ValueError(f"{addr!r} is not tcp://HOST:PORT")
    return host, port


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _seconds(timeout: float) -> str:
    # It ends up in a remote shell command: only ever a number.
    value = float(timeout)
    if not value >= 0:
        raise ValueError(f"timeout must be a number of seconds >= 0, not {timeout!r}")
    return str(int(value)) if value.is_integer() else repr(value)


def _default_to_paramiko(paramiko: bool | None) -> bool:
    if paramiko is not None:
        return bool(paramiko)
    if sys.platform == "win32":
        return True  # pyzmq's choice there
    # The ssh command when there is one; paramiko (if installed) where there is not.
    return shutil.which("ssh") is None


def _can_prompt() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return bool(sys.stdin and sys.stdin.isatty())
    os.close(fd)
    return True


def _ask_password(server: str, rejected: bool) -> str:
    if rejected:
        print("Password rejected, try again", file=sys.stderr)
    return getpass.getpass(f"{server}'s password: ")


# -- the public entry points ----------------------------------------------------------------
def tunnel_connection(
    socket: Any,
    addr: str,
    server: str,
    keyfile: str | None = None,
    password: str | None = None,
    paramiko: bool | None = None,
    timeout: float = 60,
) -> BaseProcess | int:
    """Connect ``socket`` to ``addr`` (``tcp://HOST:PORT`` as ``server`` sees it) through an
    SSH tunnel; returns the tunnel (see :func:`open_tunnel`)."""
    url, tunnel = open_tunnel(
        addr, server, keyfile=keyfile, password=password, paramiko=paramiko, timeout=timeout
    )
    socket.connect(url)
    return tunnel


def open_tunnel(
    addr: str,
    server: str,
    keyfile: str | None = None,
    password: str | None = None,
    paramiko: bool | None = None,
    timeout: float = 60,
) -> tuple[str, BaseProcess | int]:
    """Forward a free local port to ``addr`` through ``server``
    (``[user@]host[:port]``); returns ``("tcp://127.0.0.1:PORT", tunnel)``.

    ``tunnel`` is the ssh process's pid (:func:`openssh_tunnel`) or the
    :class:`multiprocessing.Process` (:func:`paramiko_tunnel`). ``paramiko``: True or False
    to choose; None takes the ``ssh`` command if it is installed, else paramiko.
    """
    host, rport = _parse_tcp_url(addr)
    lport = select_random_ports(1)[0]
    make = paramiko_tunnel if _default_to_paramiko(paramiko) else openssh_tunnel
    tunnel = make(
        lport, rport, server, remoteip=host, keyfile=keyfile, password=password,
        timeout=timeout,
    )
    return f"tcp://127.0.0.1:{lport}", tunnel


def try_passwordless_ssh(
    server: str, keyfile: str | None = None, paramiko: bool | None = None
) -> bool:
    """Whether ``server`` lets us in without a password or passphrase (keys, agent).

    Raises :class:`SSHException` (paramiko's own with paramiko) when the answer is not about
    passwords: an unknown host key, a server that cannot be reached."""
    if _default_to_paramiko(paramiko):
        return _try_passwordless_paramiko(server, keyfile)
    return _try_passwordless_openssh(server, keyfile)


# -- the ssh command ------------------------------------------------------------------------
# Answers ssh's questions: a password or passphrase from the environment (if vmzmq was given
# one), a refusal to anything else; what was asked is left as files for vmzmq to read.
_ASKPASS_SCRIPT = """#!/bin/sh
case "$1" in
*yes/no*) : > "$VMZMQ_ASKPASS_DIR/hostkey"; exit 1 ;;
esac
: > "$VMZMQ_ASKPASS_DIR/asked"
if [ -n "${VMZMQ_ASKPASS_SECRET+set}" ]; then
    printf '%s\\n' "$VMZMQ_ASKPASS_SECRET"
    exit 0
fi
exit 1
"""


@dataclass
class _SshRun:
    """What became of one ssh command."""

    proc: subprocess.Popen[bytes] | None  # still running (the tunnel), else None
    returncode: int | None
    stderr: str
    asked: bool  # for a password or passphrase
    hostkey: bool  # whether the server's key was unknown or did not match

    @property
    def auth_failed(self) -> bool:
        return self.asked or "Permission denied" in self.stderr


def _ssh_binary() -> str:
    ssh = shutil.which("ssh")
    if ssh is None:
        raise FileNotFoundError(
            "no ssh command on PATH: install OpenSSH's client, or pass paramiko=True"
        )
    return ssh


def _ssh_base(server: str, keyfile: str | None) -> tuple[list[str], str]:
    """The ssh command line up to the destination, and the destination (``user@host``)."""
    user, at, hostport = server.rpartition("@")
    host, port = _split_host_port(hostport)
    argv = [_ssh_binary()]
    if keyfile:
        argv += ["-i", keyfile]
    if port is not None:
        argv += ["-p", str(port)]
    # Only what the caller wrote: ssh's own config may say which user and port.
    return argv, f"{user}@{host}" if at else host


def _run_ssh(argv: list[str], secret: str | None, ready: bytes | None) -> _SshRun:
    """Run ssh with vmzmq answering its prompts. With ``ready``, return as soon as ssh prints
    it (the process keeps running: the tunnel); else wait until ssh exits."""
    helper_dir = tempfile.mkdtemp(prefix="vmzmq-ssh-")
    try:
        askpass = os.path.join(helper_dir, "askpass")
        with open(os.open(askpass, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700), "w") as f:
            f.write(_ASKPASS_SCRIPT)
        env = dict(os.environ)
        env.pop("VMZMQ_ASKPASS_SECRET", None)
        env.update(
            SSH_ASKPASS=askpass,
            SSH_ASKPASS_REQUIRE="force",  # OpenSSH 8.4+
            VMZMQ_ASKPASS_DIR=helper_dir,
        )
        env.setdefault("DISPLAY", "vmzmq:0")  # older OpenSSH use askpass only with one
        if secret is not None:
            env["VMZMQ_ASKPASS_SECRET"] = secret
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            # No terminal: ssh asks through askpass, and Ctrl-C in this program's terminal
            # does not end tunnels (as pyzmq's, backgrounded with ssh -f).
            start_new_session=True,
        )
        up, stderr = _watch(proc, ready)
        asked = os.path.exists(os.path.join(helper_dir, "asked"))
        hostkey = os.path.exists(os.path.join(helper_dir, "hostkey"))
    finally:
        shutil.rmtree(helper_dir, ignore_errors=True)
    text = stderr.decode("utf8", "replace")
    hostkey = hostkey or "Host key verification failed" in text
    if up:
        _keep_draining(proc)
        return _SshRun(proc, None, text, asked, hostkey)
    return _SshRun(None, proc.returncode, text, asked, hostkey)


def _watch(proc: subprocess.Popen[bytes], ready: bytes | None) -> tuple[bool, bytes]:
    """Read ssh's output until ``ready`` appears (True) or ssh has exited (False); what it
    wrote on stderr. Kills ssh if neither happens within SETUP_TIMEOUT."""
    assert proc.stdout is not None and proc.stderr is not None
    out = bytearray()
    err = bytearray()
    deadline = time.monotonic() + SETUP_TIMEOUT
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                raise MaxRetryExceeded(
                    f"ssh did not set the tunnel up within {SETUP_TIMEOUT:g} s: "
                    f"{err.decode('utf8', 'replace').strip()}"
                )
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                if ready is not None and key.data is out and ready in out:
                    return True, bytes(err)
    try:
        proc.wait(SETUP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return False, bytes(err)


def _keep_draining(proc: subprocess.Popen[bytes]) -> None:
    """Read what a running tunnel's ssh still writes (so it never blocks on a full pipe)
    and reap it when it exits (no zombie), in a thread that ends with it."""

    def drain() -> None:
        with selectors.DefaultSelector() as sel:
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    sel.register(pipe, selectors.EVENT_READ)
            while sel.get_map():
                for key, _ in sel.select():
                    if not os.read(key.fd, 65536):
                        sel.unregister(key.fileobj)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()

    threading.Thread(target=drain, name=f"vmzmq-ssh-{proc.pid}", daemon=True).start()


def openssh_tunnel(
    lport: int,
    rport: int,
    server: str,
    remoteip: str = "127.0.0.1",
    keyfile: str | None = None,
    password: str | None = None,
    timeout: float = 60,
) -> int:
    """Forward ``127.0.0.1:lport`` here to ``remoteip:rport`` as seen from ``server``
    (``[user@]host[:port]``), with the ``ssh`` command; returns the pid of the ssh process
    that carries it.

    ``keyfile``: a private key to use besides ssh's usual ones. ``password``: the password
    or key passphrase, if one is needed (None: asked on the terminal when needed).
    ``timeout``: the tunnel ends once this many seconds have passed and no forwarded
    connection is open.
    """
    base, dest = _ssh_base(server, keyfile)
    spec = f"127.0.0.1:{lport}:{_bracketed(remoteip)}:{rport}"
    pid = _forward_through_master(base, dest, spec)
    if pid is not None:
        return pid
    marker = f"vmzmq-tunnel-ready-{secrets.token_hex(8)}"
    argv = [
        *base,
        "-S", "none",  # a connection of its own, never a ControlMaster's
        "-x", "-T",
        "-o", "ExitOnForwardFailure=yes",
        "-o", "NumberOfPasswordPrompts=1",
        "-L", spec,
        dest,
        # The marker comes after login and after the forward listens: the tunnel is up.
        f"echo {marker}; exec sleep {_seconds(timeout)}",
    ]
    secret = password
    for attempt in range(_MAX_ATTEMPTS):
        run = _run_ssh(argv, secret, marker.encode())
        if run.proc is not None:
            return run.proc.pid
        if run.hostkey:
            raise SSHException(
                f"ssh refused {server}: its host key is not known (or does not match) in "
                f"known_hosts; connect once with ssh to check and accept it. {run.stderr}"
            )
        if not run.asked:
            raise RuntimeError(f"tunnel {' '.join(argv)!r} failed to start: {run.stderr}")
        # A password or passphrase was wanted: ask for one, as pyzmq does, unless it was
        # given and refused (asking again would not help a script) or nobody can answer.
        if password is not None:
            raise SSHException(f"{server} rejected the password or passphrase: {run.stderr}")
        if attempt == _MAX_ATTEMPTS - 1 or not _can_prompt():
            raise SSHException(
                f"{server} wants a password or passphrase: pass password=, or use a key "
                f"without one (or an agent). {run.stderr}"
            )
        secret = _ask_password(server, rejected=secret is not None)
    raise AssertionError("unreachable")  # pragma: no cover


def _forward_through_master(base: list[str], dest: str, spec: str) -> int | None:
    """Add the forward to a running ControlMaster for ``dest``, if there is one (removed at
    exit); its pid, or None to make a tunnel of our own."""
    try:
        check = subprocess.run(
            [*base, "-O", "check", dest], stdin=subprocess.DEVNULL, capture_output=True,
            timeout=_CONTROL_TIMEOUT,
        )
        if check.returncode != 0:
            return None
        found = re.search(rb"\(pid=(\d+)\)", check.stdout + check.stderr)
        if found is None:
            return None
        added = subprocess.run(
            [*base, "-O", "forward", "-L", spec, dest], stdin=subprocess.DEVNULL,
            capture_output=True, timeout=_CONTROL_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if added.returncode != 0:
        return None
    atexit.register(_cancel_forward, [*base, "-O", "cancel", "-L", spec, dest])
    return int(found.group(1))


def _cancel_forward(argv: list[str]) -> None:
    try:
        subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=_CONTROL_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired):
        pass  # the master has gone, and the forward with it


def _try_passwordless_openssh(server: str, keyfile: str | None) -> bool:
    base, dest = _ssh_base(server, keyfile)
    run = _run_ssh([*base, "-x", "-T", dest, "exit"], None, None)
    if run.returncode == 0:
        return True
    if run.hostkey:
        raise SSHException(f"ssh refused {server}: its host key is not known. {run.stderr}")
    if run.auth_failed:
        return False
    raise SSHException(f"ssh to {server} failed: {run.stderr}")


# -- paramiko -------------------------------------------------------------------------------
def _import_paramiko() -> ModuleType:
    try:
        with warnings.catch_warnings():
            # cryptography deprecations paramiko triggers are not the caller's business.
            warnings.simplefilter("ignore", DeprecationWarning)
            import paramiko
    except ImportError as exc:
        raise ImportError(
            "paramiko is not installed: pip install paramiko, or use the ssh command "
            "(paramiko=False)"
        ) from exc
    return paramiko


def _host_key_policy(paramiko: ModuleType) -> Any:
    name = os.environ.get("VMZMQ_PARAMIKO_HOST_KEY_POLICY") or os.environ.get(
        "PYZMQ_PARAMIKO_HOST_KEY_POLICY"
    )
    if not name:
        return paramiko.RejectPolicy()
    policy = getattr(paramiko, f"{name}Policy", None)
    if policy is None:
        raise ValueError(f"unknown paramiko host key policy {name!r} (AutoAdd, Warning, Reject)")
    return policy()


def _paramiko_connect(
    paramiko: ModuleType, server: str, keyfile: str | None, password: str | None
) -> Any:
    user, host, port = _split_server(server)
    client = paramiko.SSHClient()
    # Read only: known_hosts is never written, whatever the policy.
    client.load_system_host_keys()
    client.set_missing_host_key_policy(_host_key_policy(paramiko))
    try:
        client.connect(
            host, port, username=user, key_filename=keyfile, look_for_keys=True,
            password=password,
        )
    except BaseException:
        client.close()
        raise
    return client


def _no_way_in(paramiko: ModuleType, exc: BaseException) -> bool:
    """Whether paramiko failed for want of a password: refused, or nothing to offer (no key,
    no agent, no password: paramiko says so with a plain SSHException)."""
    return isinstance(exc, paramiko.AuthenticationException) or (
        isinstance(exc, paramiko.SSHException)
        and "No authentication methods available" in str(exc)
    )


def _try_passwordless_paramiko(server: str, keyfile: str | None) -> bool:
    paramiko = _import_paramiko()
    try:
        client = _paramiko_connect(paramiko, server, keyfile, None)
    except paramiko.SSHException as exc:
        if _no_way_in(paramiko, exc):
            return False
        raise
    client.close()
    return True


def paramiko_tunnel(
    lport: int,
    rport: int,
    server: str,
    remoteip: str = "127.0.0.1",
    keyfile: str | None = None,
    password: str | None = None,
    timeout: float = 60,
) -> BaseProcess:
    """As :func:`openssh_tunnel`, with paramiko, in a child process (returned once it
    forwards). It ends once ``timeout`` seconds have passed and no forwarded connection is
    open, or when this program ends. Errors are raised here: paramiko's
    ``AuthenticationException`` and ``SSHException``, ``RuntimeError`` for the others."""
    paramiko = _import_paramiko()
    idle_after = float(_seconds(timeout))
    secret = password
    for attempt in range(_MAX_ATTEMPTS):
        kind, detail, proc = _start_paramiko_tunnel(
            lport, rport, server, remoteip, keyfile, secret, idle_after
        )
        if kind == "ready":
            assert proc is not None
            return proc
        if kind == "hostkey" or kind == "ssh":
            raise paramiko.SSHException(detail)
        if kind != "auth":
            raise RuntimeError(f"the paramiko tunnel to {server} failed: {detail}")
        if password is not None or attempt == _MAX_ATTEMPTS - 1 or not _can_prompt():
            raise paramiko.AuthenticationException(detail)
        secret = _ask_password(server, rejected=secret is not None)
    raise AssertionError("unreachable")  # pragma: no cover


def _start_paramiko_tunnel(
    lport: int,
    rport: int,
    server: str,
    remoteip: str,
    keyfile: str | None,
    password: str | None,
    idle_after: float,
) -> tuple[str, str, BaseProcess | None]:
    # The platform's start method, as pyzmq: fork on Linux up to 3.13 (whose child must not
    # touch vmzmq: it only runs paramiko), forkserver later; spawn would re-run the main
    # script of programs without a __main__ guard.
    mp = multiprocessing.get_context()
    reader, writer = mp.Pipe(duplex=False)
    proc = mp.Process(
        target=_serve_paramiko_tunnel,
        args=(lport, rport, server, remoteip, keyfile, password, idle_after, writer),
        name=f"vmzmq-ssh-tunnel-{lport}",
        daemon=True,
    )
    proc.start()
    writer.close()
    try:
        if not reader.poll(SETUP_TIMEOUT):
            proc.kill()
            proc.join()
            raise MaxRetryExceeded(
                f"the paramiko tunnel to {server} was not up within {SETUP_TIMEOUT:g} s"
            )
        try:
            kind, detail = reader.recv()
        except EOFError:
            kind, detail = "error", f"the tunnel process ended (exit code {proc.exitcode})"
    finally:
        reader.close()
    if kind == "ready":
        return kind, detail, proc
    proc.join(SETUP_TIMEOUT)
    return kind, detail, None


def _serve_paramiko_tunnel(
    lport: int,
    rport: int,
    server: str,
    remoteip: str,
    keyfile: str | None,
    password: str | None,
    idle_after: float,
    report: Any,
) -> None:
    """The tunnel process: connect, listen, say how it went, forward until idle."""
    from .forward import Forwarder

    # Ctrl-C in the terminal reaches this process too; it belongs to the program, which
    # ends it (daemon process) when it exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    paramiko = _import_paramiko()
    try:
        client = _paramiko_connect(paramiko, server, keyfile, password)
    except paramiko.SSHException as exc:
        if _no_way_in(paramiko, exc):
            report.send(("auth", f"{server} refused us: {exc}"))
        else:
            report.send(("ssh", f"ssh to {server} failed: {exc}"))
        return
    except Exception as exc:
        report.send(("error", f"cannot reach {server}: {exc!r}"))
        return
    try:
        try:
            listener = socket.create_server(("127.0.0.1", lport))
        except OSError as exc:
            report.send(("error", f"cannot listen on 127.0.0.1:{lport}: {exc}"))
            return
        with listener:
            report.send(("ready", ""))
            report.close()
            parent = multiprocessing.parent_process()
            stop_fd = parent.sentinel if parent is not None else None
            Forwarder(listener, client.get_transport(), remoteip, rport).serve(
                idle_after=idle_after, stop_fd=stop_fd
            )
    finally:
        client.close()


ssh_tunnel = paramiko_tunnel if sys.platform == "win32" else openssh_tunnel
