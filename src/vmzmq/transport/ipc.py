"""The ``ipc://`` transport: Unix domain stream sockets.

Endpoints: ``ipc://path`` (relative or absolute), ``ipc://@name`` (Linux abstract namespace:
the '@' becomes a NUL byte, no file is made), and ``ipc://*`` on bind (a fresh socket in a new
private temporary directory; LAST_ENDPOINT names it). A path longer than 107 bytes -- the
size of ``sun_path`` less the NUL -- is ENAMETOOLONG, as in libzmq.

Differences from libzmq, both to avoid destroying what is not ours:

* libzmq unlinks whatever is at the path before binding, so a second bind silently steals a
  live socket and a typo can delete a regular file. We unlink only a *stale* socket (nobody
  accepts on it: a probe connect is refused); a live socket or any other file is EADDRINUSE.
  (The live listener sees the probe as a connection that closes at once, before any ZMTP.)
* unlisten removes the socket file we created (libzmq leaves it unless it came from ``*``),
  but only if it is still the same file. The temporary directory of ``*`` is removed too.

``ipc://*`` uses Python's temporary directory (``TMPDIR``, ``TEMP``, ``TMP``, else ``/tmp``);
libzmq makes ``tmpXXXXXX`` in the current directory unless ``TMPDIR``/``TEMPDIR``/``TMP`` is set.
A refused connect is ECONNREFUSED, or ENOENT when nothing was ever bound at the path.

Unlike libzmq, ZMQ_SNDBUF and ZMQ_RCVBUF apply to ipc connections too (see ``connected``).

ZMQ_IPC_FILTER_PID / _UID / _GID: a listener keeps a connection only if the peer process
(its credentials at connect time, SO_PEERCRED) has one of the PIDs, one of the UIDs, or one of
the GIDs as its group, or if its user is a listed member of one of the GID groups (the group
database, as libzmq). No filter at all: every peer. :meth:`IpcTransport.check_peer` says why
a connection is refused. ZMQ_USE_FD makes a bind adopt the application's listening unix
socket (its file is then the application's: unlisten leaves it, as libzmq).
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import shutil
import socket
import stat
import struct
import tempfile
import weakref
from dataclasses import dataclass
from typing import Any

from .. import _native
from ..error import with_detail
from .sockopts import (
    adopt_listener,
    apply_buffer_sizes,
    raise_send_buffer,
    release_listener,
    use_fd,
)

__all__ = ["MAX_PATH_BYTES", "TRANSPORT", "IpcEndpoint", "IpcTransport"]

MAX_PATH_BYTES = 107  # sizeof(sockaddr_un.sun_path) - 1 for the terminating NUL
_UCRED = struct.Struct("=iII")  # struct ucred: pid_t pid; uid_t uid; gid_t gid


@dataclass(frozen=True)
class IpcEndpoint:
    """A parsed ``ipc://`` address: the text after the scheme ('@name', a path, or '*')."""

    path: str

    @property
    def abstract(self) -> bool:
        return self.path.startswith("@")

    def sockaddr(self) -> str:
        return "\0" + self.path[1:] if self.abstract else self.path


@dataclass
class _OwnedFile:
    path: str
    device: int
    inode: int
    tmpdir: str | None


# Files our listeners created, so unlisten can remove exactly those.
_owned: weakref.WeakKeyDictionary[socket.socket, _OwnedFile] = weakref.WeakKeyDictionary()
_owned_lock = _native.Lock()


def _check(endpoint: str, path: str) -> IpcEndpoint:
    if path == "@":
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' has an empty abstract name")
    if "\0" in path:
        raise with_detail(errno.EINVAL, f"endpoint '{endpoint}' contains a NUL character")
    try:
        size = len(os.fsencode(path))
    except UnicodeError:
        raise with_detail(
            errno.EINVAL, f"endpoint '{endpoint}' cannot be encoded as a file name"
        ) from None
    if size > MAX_PATH_BYTES:
        raise with_detail(
            errno.ENAMETOOLONG,
            f"endpoint '{endpoint}': ipc path '{path}' is {size} bytes, longer than "
            f"{MAX_PATH_BYTES}",
        )
    return IpcEndpoint(path)


def _remove_if_stale(endpoint: str, path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise with_detail(exc.errno or errno.EIO, f"cannot bind '{endpoint}'") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise with_detail(
            errno.EADDRINUSE, f"cannot bind '{endpoint}': '{path}' exists and is not a socket"
        )
    probe = _native.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.setblocking(False)
        err = probe.connect_ex(path)
    finally:
        probe.close()
    if err != errno.ECONNREFUSED:
        # Accepted, or a full backlog (EAGAIN): somebody is listening there.
        raise with_detail(
            errno.EADDRINUSE, f"cannot bind '{endpoint}': another socket is listening on it"
        )
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise with_detail(
            exc.errno or errno.EIO, f"cannot bind '{endpoint}': cannot remove the stale socket"
        ) from None


class IpcTransport:
    """``ipc://`` for the engine (see ``transport.StreamTransport``)."""

    schemes: tuple[str, ...] = ("ipc",)

    def available(self) -> bool:
        return hasattr(socket, "AF_UNIX")

    def parse_bind(self, scheme: str, address: str) -> IpcEndpoint:
        return _check(f"{scheme}://{address}", address)

    def parse_connect(self, scheme: str, address: str) -> IpcEndpoint:
        endpoint = f"{scheme}://{address}"
        if address == "*":
            raise with_detail(
                errno.EINVAL, f"endpoint '{endpoint}': connect needs a path, not the wildcard '*'"
            )
        return _check(endpoint, address)

    def listen(self, target: IpcEndpoint, opts: Any) -> tuple[socket.socket, str]:
        fd = use_fd(opts)
        if fd >= 0:
            sock = adopt_listener(fd, (socket.AF_UNIX,), f"ipc://{target.path}")
            return sock, _endpoint_of(sock.getsockname())
        tmpdir = None
        path = target.path
        if path == "*":
            tmpdir = tempfile.mkdtemp()
            path = os.path.join(tmpdir, "socket")
        endpoint = f"ipc://{path}"
        try:
            if tmpdir is not None:
                _check(endpoint, path)
            elif not target.abstract:
                _remove_if_stale(endpoint, path)
            sock = _native.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        except BaseException:
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        try:
            try:
                sock.bind(IpcEndpoint(path).sockaddr())
                sock.listen(getattr(opts, "backlog", 100))
            except OSError as exc:
                raise with_detail(exc.errno or errno.EIO, f"cannot bind '{endpoint}'") from None
            sock.setblocking(False)
            if not path.startswith("@"):
                st = os.stat(path)
                with _owned_lock:
                    _owned[sock] = _OwnedFile(path, st.st_dev, st.st_ino, tmpdir)
        except BaseException:
            sock.close()
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        return sock, endpoint

    def unlisten(self, sock: socket.socket, endpoint: str) -> None:
        with _owned_lock:
            owned = _owned.pop(sock, None)
        release_listener(sock)
        sock.close()
        if owned is None:
            return
        try:
            st = os.lstat(owned.path)
            if (st.st_dev, st.st_ino) == (owned.device, owned.inode):
                os.unlink(owned.path)
        except OSError:
            pass  # already gone, or replaced by somebody else's socket: leave it
        if owned.tmpdir is not None:
            try:
                os.rmdir(owned.tmpdir)
            except OSError:
                pass

    def check_peer(self, sock: socket.socket, peer: Any, opts: Any) -> str | None:
        """ZMQ_IPC_FILTER_*: None to keep an accepted connection, else why it is refused."""
        pids = getattr(opts, "ipc_filter_pid", ())
        uids = getattr(opts, "ipc_filter_uid", ())
        gids = getattr(opts, "ipc_filter_gid", ())
        if not (pids or uids or gids):
            return None
        try:
            pid, uid, gid = _UCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )
        except OSError as exc:
            return f"its credentials cannot be read ({exc.strerror})"
        if pid in pids or uid in uids or gid in gids:
            return None
        if gids and _user_in_groups(uid, gids):
            return None
        return f"peer pid {pid} uid {uid} gid {gid} passes no ZMQ_IPC_FILTER_PID/UID/GID"

    def connect(self, target: IpcEndpoint, opts: Any) -> socket.socket:
        endpoint = f"ipc://{target.path}"
        try:
            sock = _native.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError as exc:
            raise with_detail(
                exc.errno or errno.EIO, f"cannot create a socket for '{endpoint}'"
            ) from None
        try:
            sock.setblocking(False)
            err = sock.connect_ex(target.sockaddr())
            if err not in (0, errno.EINPROGRESS):
                raise with_detail(err, f"cannot connect to '{endpoint}'")
        except BaseException:
            sock.close()
            raise
        return sock

    def connects_at_once(self, target: Any) -> bool:
        return True

    def connected(self, sock: socket.socket, opts: Any) -> None:
        """Non-blocking; SNDBUF/RCVBUF when set (libzmq applies them to tcp only; a unix
        socket moves at most its send buffer per wake-up, so a larger one lifts large-message
        throughput). The kernel's refusal is an OSError (the engine logs it and goes on)."""
        # An accepted Python socket starts blocking whatever the listener is.
        sock.setblocking(False)
        apply_buffer_sizes(sock, opts)

    def grow_send_buffer(self, sock: socket.socket) -> None:
        # A unix socket moves at most its send buffer per wake-up of the reader and never
        # grows it: 208 KiB by default, which holds 1 MiB messages to libzmq's speed. Asking
        # for 1 MiB (the kernel doubles it, capped by net.core.wmem_max) more than doubles
        # that, for less kernel memory than tcp's own autotuning may take (4 MiB).
        raise_send_buffer(sock, 1024 * 1024)

    def peer_address(self, sock: socket.socket) -> str:
        return ""

    def is_refusal(self, err: int) -> bool:
        return err in (errno.ECONNREFUSED, errno.ENOENT)

    def unbind_key(self, scheme: str, address: str) -> str:
        # LAST_ENDPOINT is the path as written, so only "ipc://*" differs: it never matches.
        return f"{scheme}://{address}"

    def preamble(self, target: Any) -> bytes | None:
        return None

    def preamble_reply(self, buf: bytes) -> int | None:
        return 0

    def connect_endpoint(self, scheme: str, address: str, target: IpcEndpoint) -> str:
        return f"{scheme}://{target.path}"


def _user_in_groups(uid: int, gids: tuple[int, ...]) -> bool:
    """Whether the user ``uid`` is a listed member of one of the groups ``gids`` (libzmq's
    rule: by user name, in each group's member list; a primary group is matched by gid)."""
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return False
    for gid in gids:
        try:
            if name in grp.getgrgid(gid).gr_mem:
                return True
        except KeyError:
            continue
    return False


def _endpoint_of(name: str | bytes) -> str:
    """LAST_ENDPOINT for a unix socket's address: a path, or '@name' (abstract)."""
    if isinstance(name, bytes):
        if name.startswith(b"\0"):
            return "ipc://@" + os.fsdecode(name[1:])
        name = os.fsdecode(name)
    return f"ipc://{name}"


TRANSPORT = IpcTransport()
