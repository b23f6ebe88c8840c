"""QEMU guests on the REAL virtio-vsock transport, host side = Firecracker-style hybrid vsock.

The guest is the same throwaway QEMU guest as ``run-in-guest`` (Debian's kernel,
busybox initramfs, the host's / read-only over 9p with a tmpfs overlay), but
its vsock device is ``vhost-user-vsock-pci`` served by rust-vmm's
``vhost-device-vsock`` daemon (Debian unstable's package, fetched with a
throwaway apt configuration and never installed) and the guest loads
``vmw_vsock_virtio_transport`` instead of ``vsock_loopback``.  The guest's CID
is 3 (4, 5, ... for further guests); the host is CID 2 from the guest.

On the host the daemon exposes the guest's vsock as a Unix socket, ``uds_path``:

* host -> guest: connect to ``uds_path``, send ``CONNECT <port>\\n``, read
  ``OK <host_port>\\n``; then the stream is the guest's accepted AF_VSOCK
  connection (``connect()`` below does it);
* guest -> host: the guest connects AF_VSOCK to (2, PORT); the daemon connects
  to the Unix socket ``<uds_path>_<PORT>``, which the host must listen on
  (``listen()`` below);
* guest -> guest: guests of one daemon in one group reach each other at their
  CIDs (``VirtioGuests(count=2)``).

Inside, a small agent (guest_agent.py) runs commands for the host over a
virtio-serial port, so a host-side test drives guest peers interactively::

    from virtio_guest import VirtioGuest            # sys.path += tools/vsock-guest
    with VirtioGuest(timeout=600) as g:
        p = g.run([sys.executable, "-u", "-c", GUEST_CODE], text=True)
        p.stdout.wait_for("LISTENING", timeout=120)
        s = g.connect(5000)                          # CONNECT 5000 / OK n done
        ...
        assert p.wait(timeout=60) == 0

Standard library only.  The command line front end is ``run-in-virtio-guest``;
README.md beside this file documents both.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.realpath(__file__))
AGENT = os.path.join(HERE, "guest_agent.py")


def _load_run_in_guest():
    """run-in-guest (a script without .py) as a private module: its apt, kernel,
    initramfs and QEMU helpers are reused as they are."""
    name = "_vsock_guest_run_in_guest"
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.machinery.SourceFileLoader(name, os.path.join(HERE, "run-in-guest"))
    spec = importlib.util.spec_from_loader(name, loader)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    loader.exec_module(mod)
    return mod


rig = _load_run_in_guest()

DEFAULT_CACHE = rig.DEFAULT_CACHE
EXIT_TIMEOUT = rig.EXIT_TIMEOUT      # 124
EXIT_HARNESS = rig.EXIT_HARNESS      # 125
FIRST_CID = 3
DEFAULT_BOOT_TIMEOUT = 300.0  # per boot attempt (VSOCK_GUEST_BOOT_ATTEMPTS of them)
HOST_CID = 2
DAEMON_PACKAGE = "vhost-device-vsock"
DAEMON_GROUP = "vmzmq"

# What the virtio guest loads (dependencies resolved from each .ko's .modinfo):
# vmw_vsock_virtio_transport instead of run-in-guest's vsock_loopback.
VIRTIO_MODULES = [
    "virtio_pci", "virtio_console", "virtio-rng", "9pnet_virtio", "9p", "overlay",
    "vsock", "vmw_vsock_virtio_transport",
]

# Agent frames (see guest_agent.py)
_HDR = struct.Struct("!BII")
_SPAWN, _STDIN, _STDIN_EOF, _SIGNAL = 1, 2, 3, 4
_READY, _SPAWNED, _STDOUT, _STDERR, _EXIT, _LOG = 10, 11, 12, 13, 14, 15


class VirtioGuestError(rig.HarnessError):
    """The harness or a guest failed (setup, boot, daemon, guest died)."""


class BootFailure(VirtioGuestError):
    """A guest never became ready (hung or failed boot): nothing ran in it yet."""


class GuestSpawnError(VirtioGuestError):
    """run() could not start the command (.kind: 'cwd' or 'exec'; .errno)."""

    def __init__(self, msg: str, info: dict) -> None:
        super().__init__(msg)
        self.kind = info.get("kind")
        self.errno = info.get("errno")


def log(msg: str) -> None:
    rig.log(msg)


# =========================================================================== prepare


def _kernel_stamp(cache: str) -> dict:
    with open(os.path.join(cache, "kernel.json")) as f:
        return json.load(f)


def _modules_complete(kdir: str) -> bool:
    try:
        with open(os.path.join(kdir, "wanted")) as f:
            return (f.read() == " ".join(sorted(VIRTIO_MODULES)) + "\n"
                    and os.path.exists(os.path.join(kdir, "version")))
    except OSError:
        return False


def _resolve_modules(moddir: str, wanted: list[str]) -> list[tuple[str, bytes]]:
    """Like run-in-guest's resolve_modules, for another list of modules."""
    builtin: set[str] = set()
    bfile = os.path.join(moddir, "modules.builtin")
    if os.path.exists(bfile):
        with open(bfile) as f:
            builtin = {rig.modname(line.strip()) for line in f if line.strip()}
    index: dict[str, str] = {}
    for root, _dirs, files in os.walk(os.path.join(moddir, "kernel")):
        for fn in files:
            if rig._KO_RE.search(fn):
                index[rig.modname(fn)] = os.path.join(root, fn)
    order: list[tuple[str, bytes]] = []
    done: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        name = name.replace("-", "_")
        if name in done or name in builtin:
            return
        if name in chain:
            raise VirtioGuestError("module dependency cycle: " + " -> ".join(chain + (name,)))
        path = index.get(name)
        if path is None:
            raise VirtioGuestError(f"kernel module {name} not found under {moddir}")
        data = rig.read_module(path)
        deps = [d for v in rig.elf_modinfo(data).get("depends", []) for d in v.split(",") if d]
        for dep in deps:
            visit(dep, chain + (name,))
        done.add(name)
        order.append((name, data))

    for want in wanted:
        visit(want, ())
    return order


def ensure_virtio_modules(vdir: str, kernel: dict) -> dict:
    """vdir/<kernel package>/{modules/*.ko, modules.order}: the virtio guest's
    modules, from the same kernel .deb run-in-guest uses (downloaded once more
    with apt-get download, unpacked in a temp dir, never installed)."""
    pkg = kernel["package"]
    kdir = os.path.join(vdir, pkg)
    if not _modules_complete(kdir):
        log(f"downloading {pkg} for the virtio-vsock modules (once; cached in {vdir}) ...")
        dl = tempfile.mkdtemp(prefix="dl-", dir=vdir)
        try:
            r = rig._run(["apt-get", "download", pkg], cwd=dl)
            if r.returncode != 0:
                rig.apt_update()
                r = rig._run(["apt-get", "download", pkg], cwd=dl)
            if r.returncode != 0:
                raise VirtioGuestError(f"apt-get download {pkg} failed:\n" + r.stdout[-3000:])
            debs = [f for f in os.listdir(dl) if f.endswith(".deb")]
            if len(debs) != 1:
                raise VirtioGuestError(f"apt-get download {pkg} left {debs}")
            x = os.path.join(dl, "x")
            r = rig._run(["dpkg-deb", "-x", os.path.join(dl, debs[0]), x])
            if r.returncode != 0:
                raise VirtioGuestError(f"dpkg-deb -x {debs[0]} failed:\n" + r.stdout[-3000:])
            moddir = os.path.join(x, "lib", "modules", kernel["kver"])
            if not os.path.isdir(moddir):
                raise VirtioGuestError(f"{debs[0]} has no lib/modules/{kernel['kver']}")
            mods = _resolve_modules(moddir, VIRTIO_MODULES)
            stage = tempfile.mkdtemp(prefix="k-", dir=vdir)
            os.chmod(stage, 0o755)
            os.mkdir(os.path.join(stage, "modules"))
            for name, data in mods:
                with open(os.path.join(stage, "modules", name + ".ko"), "wb") as f:
                    f.write(data)
            with open(os.path.join(stage, "modules.order"), "w") as f:
                f.write("".join(name + "\n" for name, _ in mods))
            with open(os.path.join(stage, "wanted"), "w") as f:
                f.write(" ".join(sorted(VIRTIO_MODULES)) + "\n")
            with open(os.path.join(stage, "version"), "w") as f:
                f.write(f"{pkg} {kernel['kver']} {debs[0]}\n")
            if os.path.exists(kdir):
                shutil.rmtree(kdir)
            os.rename(stage, kdir)
        finally:
            shutil.rmtree(dl, ignore_errors=True)
    for fn in os.listdir(vdir):  # modules of kernels no longer cached
        if fn.startswith("linux-image-") and fn != pkg:
            shutil.rmtree(os.path.join(vdir, fn), ignore_errors=True)
    return {"dir": pkg, "kver": kernel["kver"], "package": pkg}


# --------------------------------------------------------------------------- the daemon

_KNOWN_SUITES = {"buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
                 "oldoldstable", "oldstable", "stable", "testing", "unstable"}
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def _source_entries() -> list[dict]:
    """(uri, suites, components, signed_by) of the machine's apt sources, both
    formats (one-line .list and deb822 .sources); disabled entries skipped."""
    out: list[dict] = []
    files = ["/etc/apt/sources.list"]
    d = "/etc/apt/sources.list.d"
    if os.path.isdir(d):
        files += sorted(os.path.join(d, f) for f in os.listdir(d))
    for path in files:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if path.endswith(".list"):
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                m = re.match(r"deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
                if not m:
                    continue
                opts = dict(o.split("=", 1) for o in (m.group(1) or "").split() if "=" in o)
                out.append({"uri": m.group(2), "suites": [m.group(3)],
                            "components": m.group(4).split(),
                            "signed_by": opts.get("signed-by")})
        elif path.endswith(".sources"):
            for para in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                key = None
                for line in para.splitlines():
                    if line.startswith("#"):
                        continue
                    if line[:1] in (" ", "\t") and key:
                        fields[key] += "\n" + line.strip()
                    elif ":" in line:
                        key, _, val = line.partition(":")
                        key = key.strip().lower()
                        fields[key] = val.strip()
                if "deb" not in fields.get("types", "").split():
                    continue
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                signed = fields.get("signed-by", "").strip()
                for uri in fields.get("uris", "").split():
                    out.append({"uri": uri, "suites": fields.get("suites", "").split(),
                                "components": fields.get("components", "").split(),
                                "signed_by": signed or None})
    return out


def debian_mirror() -> tuple[str, str]:
    """(mirror URI, keyring) for Debian's unstable suite: the machine's own Debian
    mirror (the first source with a Debian suite and 'main' that is not a security
    archive); env VSOCK_GUEST_DEBIAN_MIRROR overrides it."""
    keyring = os.environ.get("VSOCK_GUEST_DEBIAN_KEYRING")
    uri = os.environ.get("VSOCK_GUEST_DEBIAN_MIRROR")
    if not uri:
        for e in _source_entries():
            suites = [s.split("-")[0].split("/")[0] for s in e["suites"]]
            if ("security" in e["uri"] or any("security" in s for s in e["suites"])
                    or not any(s in _KNOWN_SUITES for s in suites)
                    or "main" not in e["components"]):
                continue
            uri = e["uri"]
            sb = e["signed_by"]
            if not keyring and sb and "\n" not in sb and os.path.exists(sb.split(",")[0]):
                keyring = sb.split(",")[0]
            break
    uri = uri or "http://deb.debian.org/debian"
    keyring = keyring or DEFAULT_KEYRING
    if not os.path.exists(keyring):
        raise VirtioGuestError(f"no Debian archive keyring at {keyring} (apt-get install "
                               "debian-archive-keyring, or set VSOCK_GUEST_DEBIAN_KEYRING)")
    return uri.rstrip("/"), keyring


def _daemon_ok(binary: str) -> tuple[bool, str]:
    try:
        r = subprocess.run([binary, "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30)
    except OSError as e:
        return False, str(e)
    except subprocess.TimeoutExpired:
        return False, "--help timed out"
    return (r.returncode == 0 and "--vm" in r.stdout), (r.stdout + r.stderr)[-2000:]


def ensure_daemon(vdir: str, refresh: bool = False) -> dict:
    """vhost-device-vsock from Debian unstable, unpacked into vdir (never installed).

    A throwaway apt configuration (its own sources.list with 'unstable' on this
    machine's Debian mirror, its own state, lists and cache directories, all in a
    temp dir) runs 'apt-get update' and 'apt-get download vhost-device-vsock';
    'dpkg-deb -x' unpacks it.  VSOCK_GUEST_VHOST_DEVICE_VSOCK=/path/to/binary
    uses that binary instead."""
    override = os.environ.get("VSOCK_GUEST_VHOST_DEVICE_VSOCK")
    if override:
        ok, said = _daemon_ok(override)
        if not ok:
            raise VirtioGuestError(f"VSOCK_GUEST_VHOST_DEVICE_VSOCK={override} does not run:\n"
                                   + said)
        return {"binary": override, "version": "(VSOCK_GUEST_VHOST_DEVICE_VSOCK)",
                "deb": None}
    stamp = os.path.join(vdir, "vhost-device-vsock.json")
    if not refresh and os.path.exists(stamp):
        try:
            with open(stamp) as f:
                info = json.load(f)
            binary = os.path.join(vdir, info["dir"], "usr", "bin", DAEMON_PACKAGE)
            if os.access(binary, os.X_OK):
                info["binary"] = binary
                return info
        except (OSError, ValueError, KeyError):
            pass
    uri, keyring = debian_mirror()
    log(f"fetching {DAEMON_PACKAGE} from Debian unstable ({uri}) with a throwaway apt "
        f"configuration (once; cached in {vdir}) ...")
    tmp = tempfile.mkdtemp(prefix="apt-unstable-", dir=vdir)
    try:
        etc = os.path.join(tmp, "etc")
        for d in ("etc/sources.list.d", "etc/preferences.d", "etc/apt.conf.d",
                  "etc/trusted.gpg.d", "state/lists/partial", "cache/archives/partial", "dl"):
            os.makedirs(os.path.join(tmp, d))
        with open(os.path.join(etc, "sources.list"), "w") as f:
            f.write(f"deb [signed-by={keyring}] {uri} unstable main\n")
        open(os.path.join(tmp, "state", "status"), "w").close()
        arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                              text=True).stdout.strip() or "amd64"
        opts = [
            "-o", f"Dir::Etc={etc}",
            "-o", f"Dir::Etc::SourceList={etc}/sources.list",
            "-o", f"Dir::Etc::SourceParts={etc}/sources.list.d",
            "-o", f"Dir::Etc::Parts={etc}/apt.conf.d",
            "-o", f"Dir::Etc::Preferences={etc}/preferences",
            "-o", f"Dir::Etc::PreferencesParts={etc}/preferences.d",
            "-o", f"Dir::Etc::Trusted={etc}/trusted.gpg",
            "-o", f"Dir::Etc::TrustedParts={etc}/trusted.gpg.d",
            "-o", f"Dir::State={tmp}/state",
            "-o", f"Dir::State::Lists={tmp}/state/lists",
            "-o", f"Dir::State::status={tmp}/state/status",
            "-o", f"Dir::Cache={tmp}/cache",
            "-o", f"Dir::Cache::Archives={tmp}/cache/archives",
            "-o", "Debug::NoLocking=1",
            "-o", f"APT::Architectures={arch}",
            "-o", f"APT::Architecture={arch}",
            "-o", "Acquire::Languages=none",
            "-o", "APT::Sandbox::User=root",
        ]
        r = rig._run(["apt-get", *opts, "update"])
        if r.returncode != 0:
            raise VirtioGuestError("apt-get update (throwaway config, unstable) failed:\n"
                                   + r.stdout[-3000:])
        dl = os.path.join(tmp, "dl")
        r = rig._run(["apt-get", *opts, "download", DAEMON_PACKAGE], cwd=dl)
        if r.returncode != 0:
            raise VirtioGuestError(f"apt-get download {DAEMON_PACKAGE} (unstable) failed:\n"
                                   + r.stdout[-3000:])
        debs = [f for f in os.listdir(dl) if f.endswith(".deb")]
        if len(debs) != 1:
            raise VirtioGuestError(f"apt-get download {DAEMON_PACKAGE} left {debs}")
        deb = os.path.join(dl, debs[0])
        version = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True,
                                 text=True).stdout.strip()
        with open(deb, "rb") as f:
            sha256 = hashlib.sha256(f.read()).hexdigest()
        name = f"{DAEMON_PACKAGE}_{version}"
        stage = tempfile.mkdtemp(prefix="x-", dir=vdir)
        os.chmod(stage, 0o755)
        r = rig._run(["dpkg-deb", "-x", deb, stage])
        if r.returncode != 0:
            raise VirtioGuestError(f"dpkg-deb -x {debs[0]} failed:\n" + r.stdout[-3000:])
        binary = os.path.join(stage, "usr", "bin", DAEMON_PACKAGE)
        ok, said = _daemon_ok(binary)
        if not ok:
            ldd = rig._run(["ldd", binary]).stdout
            raise VirtioGuestError(f"{binary} from {debs[0]} does not run here:\n{said}\n"
                                   f"ldd:\n{ldd}")
        final = os.path.join(vdir, name)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(stage, final)
        info = {"package": DAEMON_PACKAGE, "version": version, "deb": debs[0],
                "sha256": sha256, "mirror": uri, "suite": "unstable", "dir": name}
        t = stamp + f".tmp{os.getpid()}"
        with open(t, "w") as f:
            json.dump(info, f)
        os.replace(t, stamp)
        for fn in os.listdir(vdir):  # older unpacked versions
            if fn.startswith(DAEMON_PACKAGE + "_") and fn != name:
                shutil.rmtree(os.path.join(vdir, fn), ignore_errors=True)
        info["binary"] = os.path.join(final, "usr", "bin", DAEMON_PACKAGE)
        return info
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prepare(cache: str | None = None, refresh: bool = False) -> dict:
    """Everything the virtio guest needs, built once into cache/virtio/ (idempotent):
    run-in-guest's prepare (QEMU, busybox, kernel), the virtio-vsock modules, the
    initramfs with them, and the vhost-device-vsock daemon."""
    cache = os.path.abspath(cache or os.environ.get("VSOCK_GUEST_CACHE") or DEFAULT_CACHE)
    base = rig.prepare(cache, refresh=refresh)
    vdir = os.path.join(cache, "virtio")
    os.makedirs(vdir, exist_ok=True)
    with open(os.path.join(vdir, ".lock"), "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        kernel = ensure_virtio_modules(vdir, _kernel_stamp(cache))
        initrd = rig.ensure_initramfs(vdir, kernel, rig.find_busybox())
        daemon = ensure_daemon(vdir, refresh=refresh)
    return {**base, "initrd": initrd, "daemon": daemon["binary"],
            "daemon_version": daemon.get("version"), "cache": cache}


# =========================================================================== processes


class GuestStream:
    """A guest process's stdout or stderr, buffered on the host (never blocks the
    guest).  Every read takes a timeout (seconds; None = wait forever) and raises
    TimeoutError, quoting what is buffered, when it expires."""

    def __init__(self, name: str, text: bool) -> None:
        self.name = name
        self.text = text
        self._buf = bytearray()
        self._eof = False
        self._cond = threading.Condition()

    def _feed(self, data: bytes) -> None:
        with self._cond:
            if data:
                self._buf += data
            else:
                self._eof = True
            self._cond.notify_all()

    def _close(self) -> None:
        self._feed(b"")

    def _out(self, b: bytes):
        return b.decode("utf-8", "replace") if self.text else b

    def _wait(self, ready, timeout: float | None, what: str):
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                r = ready()
                if r is not None:
                    return r
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"guest {self.name}: no {what} within {timeout:g}s; "
                                       f"buffered: {bytes(self._buf[-500:])!r}")
                self._cond.wait(left)

    def readline(self, timeout: float | None = None):
        """The next line, newline included; '' / b'' at EOF (or the last partial line)."""
        def ready():
            i = self._buf.find(b"\n")
            if i >= 0 or self._eof:
                n = i + 1 if i >= 0 else len(self._buf)
                line = bytes(self._buf[:n])
                del self._buf[:n]
                return line
            return None
        return self._out(self._wait(ready, timeout, "complete line"))

    def read(self, n: int = -1, timeout: float | None = None):
        """n bytes (fewer only at EOF); n < 0: everything until EOF."""
        def ready():
            if (n >= 0 and len(self._buf) >= n) or self._eof:
                k = len(self._buf) if n < 0 else min(n, len(self._buf))
                data = bytes(self._buf[:k])
                del self._buf[:k]
                return data
            return None
        return self._out(self._wait(ready, timeout, f"{n} bytes" if n >= 0 else "EOF"))

    def read1(self, timeout: float | None = None):
        """Whatever is buffered (at least one byte), like a socket's recv(); empty at EOF."""
        def ready():
            if self._buf or self._eof:
                data = bytes(self._buf)
                self._buf.clear()
                return data
            return None
        return self._out(self._wait(ready, timeout, "data"))

    def wait_for(self, pattern: str, timeout: float | None = None):
        """Read lines until one matches the regular expression pattern (re.search);
        returns that line.  EOF first raises EOFError (with the lines read)."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = []
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                line = self.readline(timeout=left)
            except TimeoutError as e:
                raise TimeoutError(f"{e}; lines read: {seen[-20:]!r}") from None
            raw = line.encode() if isinstance(line, str) else line
            if not raw:
                raise EOFError(f"guest {self.name}: EOF before a line matching {pattern!r}; "
                               f"lines read: {seen[-20:]!r}")
            if rx.search(raw):
                return line
            seen.append(line)

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class GuestStdin:
    """A guest process's stdin: write() sends at once (no buffering); close() = EOF."""

    def __init__(self, proc: GuestProcess, text: bool) -> None:
        self._proc = proc
        self._text = text
        self.closed = False

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to closed guest stdin")
        b = data.encode() if isinstance(data, str) else bytes(data)
        for i in range(0, len(b), 65536):
            self._proc._guest._send(_STDIN, self._proc.id, b[i:i + 65536])
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._proc._guest._send(_STDIN_EOF, self._proc.id)
            except OSError:
                pass


class GuestProcess:
    """A process running in a guest, shaped like subprocess.Popen: args, pid (the
    guest's), returncode (negative = killed by that signal), stdin (write/close),
    stdout/stderr (GuestStream: readline/read/wait_for with timeouts), poll(),
    wait(timeout), send_signal(), terminate(), kill(), communicate()."""

    def __init__(self, guest: Guest, pid_id: int, args: list[str], text: bool) -> None:
        self._guest = guest
        self.id = pid_id
        self.args = args
        self.pid: int | None = None
        self.returncode: int | None = None
        self.lost: str | None = None  # why no status will ever come (the guest died)
        self.stdin = GuestStdin(self, text)
        self.stdout = GuestStream(f"{args[0]} stdout", text)
        self.stderr = GuestStream(f"{args[0]} stderr", text)
        self._spawned = threading.Event()
        self._spawn_error: str | None = None
        self._spawn_info: dict = {}
        self._done = threading.Event()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        if self.returncode is None:
            raise VirtioGuestError(f"guest process {self.args!r}: {self.lost}")
        return self.returncode

    def send_signal(self, sig: int, group: bool = False) -> None:
        if self.returncode is None and not self.lost:
            self._guest._send(_SIGNAL, self.id, json.dumps({"sig": int(sig),
                                                            "group": group}).encode())

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL, group=True)

    def communicate(self, input=None, timeout: float | None = None):
        """Send input, close stdin, read stdout and stderr to EOF, wait."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def left():
            return None if deadline is None else max(0.0, deadline - time.monotonic())
        if input:
            self.stdin.write(input)
        self.stdin.close()
        try:
            out = self.stdout.read(timeout=left())
            err = self.stderr.read(timeout=left())
            self.wait(timeout=left())
        except TimeoutError:
            raise subprocess.TimeoutExpired(self.args, timeout) from None
        return out, err

    def _lose(self, why: str) -> None:
        if self.returncode is None:
            self.lost = why
        self._spawn_error = self._spawn_error or why
        self._spawned.set()
        self.stdout._close()
        self.stderr._close()
        self._done.set()

    def __enter__(self) -> GuestProcess:
        return self

    def __exit__(self, *exc) -> None:
        if self.returncode is None and not self.lost:
            try:
                self.kill()
            except OSError:
                pass

    def __repr__(self) -> str:
        return (f"<GuestProcess cid={self._guest.cid} pid={self.pid} args={self.args!r} "
                f"returncode={self.returncode}>")


# =========================================================================== guests


def _pump(read, sink) -> threading.Thread:
    return rig._pump(read, sink)


class Guest:
    """One QEMU guest of a VirtioGuests group (do not create directly)."""

    def __init__(self, group: VirtioGuests, cid: int, uds_path: str, vhost_sock: str) -> None:
        self._group = group
        self.cid = cid
        self.uds_path = uds_path
        self.vhost_sock = vhost_sock
        self.qemu: subprocess.Popen | None = None
        self.qemu_argv: list[str] = []
        self.ready: dict | None = None       # the agent's READY report (cid, uptime, ...)
        self.timings: dict[str, float] = {}  # seconds since QEMU started
        self.events: dict[str, float] = {}
        self._t_start = 0.0
        self._console = bytearray()
        self._agent_log = bytearray()
        self._qemu_said = bytearray()
        self._ctl_buf = bytearray()
        self._failure: list[str] = []
        self._ready_ev = threading.Event()
        self._wlock = threading.Lock()
        self._procs: dict[int, GuestProcess] = {}
        self._next_id = 1
        self._socks: dict[str, tuple[socket.socket, socket.socket]] = {}
        self._pumps: list[threading.Thread] = []
        self._dead: str | None = None

    # ------------------------------------------------------------------ boot

    def _start(self, assets: dict, opts: dict, rundir: str, env: dict) -> None:
        job = os.path.join(rundir, f"job-{self.cid}.sh")
        python = os.path.realpath(sys.executable)
        rig.write_job(job, os.getcwd(), env, [python, "-I", "-S", AGENT])
        chans = ("out", "err", "ctl", "con", "agent")
        self._socks = {c: socket.socketpair() for c in chans}
        qfd = {c: self._socks[c][1].fileno() for c in chans}
        debug = opts["debug"]
        append = " ".join([
            "console=ttyS0", "panic=-1", "rdinit=/init", "reboot=t", "noresume",
            "random.trust_cpu=on", "8250.nr_uarts=1", "tsc=reliable", "mitigations=off",
            "loglevel=7 earlyprintk=ttyS0" if debug else "quiet",
            f"vg.job={job}", "vg.msize=512000", "vg.cache=loose",
            f"vg.hostname={socket.gethostname()}", f"vg.debug={1 if debug else 0}",
            os.environ.get("VSOCK_GUEST_APPEND_EXTRA", ""),
        ]).strip()
        mem = opts["memory"]
        self.qemu_argv = [
            assets["qemu"], "-nodefaults", "-no-user-config", "-display", "none",
            "-machine", "pc", *rig.accel_args(opts["accel"]),
            "-smp", str(opts["smp"]), "-m", mem,
            "-object", f"memory-backend-memfd,id=mem,size={mem},share=on",
            "-numa", "node,memdev=mem",
            "-kernel", assets["kernel"], "-initrd", assets["initrd"], "-append", append,
            "-no-reboot",
            "-chardev", f"socket,id=con,fd={qfd['con']}", "-serial", "chardev:con",
            "-device", "virtio-serial-pci,id=vser",
            "-chardev", f"socket,id=out,fd={qfd['out']}",
            "-device", "virtserialport,bus=vser.0,chardev=out,name=vg.stdout",
            "-chardev", f"socket,id=err,fd={qfd['err']}",
            "-device", "virtserialport,bus=vser.0,chardev=err,name=vg.stderr",
            "-chardev", f"socket,id=ctl,fd={qfd['ctl']}",
            "-device", "virtserialport,bus=vser.0,chardev=ctl,name=vg.ctl",
            "-chardev", f"socket,id=agent,fd={qfd['agent']}",
            "-device", "virtserialport,bus=vser.0,chardev=agent,name=vg.agent",
            "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
            "-device", "virtio-rng-pci",
            "-chardev", f"socket,id=vhu,path={self.vhost_sock}",
            "-device", "vhost-user-vsock-pci,chardev=vhu",
            *shlex.split(os.environ.get("VSOCK_GUEST_QEMU_EXTRA", "")),
        ]
        self._group._vlog(f"cid {self.cid}: qemu command line: "
                          + " ".join(shlex.quote(a) for a in self.qemu_argv))
        self._t_start = time.monotonic()
        # Started from the caller's thread: PR_SET_PDEATHSIG fires when the *thread*
        # that forked exits, so never from a helper thread.
        self.qemu = subprocess.Popen(self.qemu_argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     pass_fds=list(qfd.values()), start_new_session=True,
                                     preexec_fn=rig._child_setup)
        for c in chans:
            self._socks[c][1].close()
        stderr_w = rig._fd_writer(2)

        def on_console(chunk: bytes) -> None:
            if debug:
                stderr_w(chunk)
            self._console.extend(chunk)
            del self._console[:-65536]

        def on_agent_output(chunk: bytes) -> None:
            if debug:
                stderr_w(chunk)
            self._agent_log.extend(chunk)
            del self._agent_log[:-65536]

        qout = self.qemu.stdout
        self._pumps = [
            _pump(self._socks["con"][0].recv, on_console),
            _pump(self._socks["out"][0].recv, on_agent_output),
            _pump(self._socks["err"][0].recv, on_agent_output),
            _pump(self._socks["ctl"][0].recv, self._on_ctl),
            _pump(lambda n: os.read(qout.fileno(), n), self._qemu_said.extend),
        ]
        t = threading.Thread(target=self._agent_reader, daemon=True)
        t.start()
        self._pumps.append(t)

    def _since(self) -> float:
        return time.monotonic() - self._t_start

    def _on_ctl(self, chunk: bytes) -> None:
        self._ctl_buf.extend(chunk)
        while b"\n" in self._ctl_buf:
            i = self._ctl_buf.index(b"\n")
            text = self._ctl_buf[:i].decode("utf-8", "replace").strip()
            del self._ctl_buf[:i + 1]
            word, _, rest = text.partition(" ")
            self.events[word] = self._since()
            if word == "VG-FAIL":
                self._failure.append(rest)
                self._ready_ev.set()
            elif word == "VG-EXIT":
                self._failure.append(f"the guest agent exited with status {rest}")
                self._ready_ev.set()
            self._group._vlog(f"cid {self.cid}: guest: {text} (host +{self._since():.2f}s)")

    def _agent_reader(self) -> None:
        sock = self._socks["agent"][0]
        buf = bytearray()
        why = "the guest went away (QEMU exited or was killed)"
        try:
            while True:
                try:
                    chunk = sock.recv(1 << 18)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= _HDR.size:
                    typ, pid_id, n = _HDR.unpack_from(buf)
                    if len(buf) < _HDR.size + n:
                        break
                    payload = bytes(buf[_HDR.size:_HDR.size + n])
                    del buf[:_HDR.size + n]
                    self._on_frame(typ, pid_id, payload)
        finally:
            if self._group._timed_out:
                why = (f"the guest was killed: the VirtioGuests timeout "
                       f"({self._group.timeout:g}s) expired")
            self._dead = self._dead or why
            self._ready_ev.set()
            for p in list(self._procs.values()):
                p._lose(self._dead)

    def _on_frame(self, typ: int, pid_id: int, payload: bytes) -> None:
        if typ == _READY:
            self.ready = json.loads(payload)
            self.events["READY"] = self._since()
            self._ready_ev.set()
            return
        if typ == _LOG:
            self._agent_log.extend(b"agent: " + payload + b"\n")
            return
        p = self._procs.get(pid_id)
        if p is None:
            return
        if typ == _SPAWNED:
            info = json.loads(payload)
            if "pid" in info:
                p.pid = info["pid"]
            else:
                p._spawn_error = info.get("error", "spawn failed")
                p._spawn_info = info
            p._spawned.set()
        elif typ == _STDOUT:
            p.stdout._feed(payload)
        elif typ == _STDERR:
            p.stderr._feed(payload)
        elif typ == _EXIT:
            p.returncode = json.loads(payload)["status"]
            p._done.set()
            self._procs.pop(pid_id, None)

    def _wait_ready(self, deadline: float) -> None:
        while not self._ready_ev.wait(0.2):
            if self.qemu is not None and self.qemu.poll() is not None:
                self._ready_ev.wait(2)  # let the pumps deliver what they have
                break
            if time.monotonic() > deadline:
                raise BootFailure(f"BOOT FAILURE: guest cid {self.cid} not ready within "
                                       f"the boot timeout\n" + self.diagnostics())
        if self.ready is None:
            why = "; ".join(self._failure) or self._dead or (
                f"QEMU exited with status {self.qemu.poll() if self.qemu else None}")
            raise BootFailure(f"BOOT FAILURE: guest cid {self.cid}: {why}\n"
                                   + self.diagnostics())
        if self.ready.get("cid") != self.cid:
            raise VirtioGuestError(f"guest cid {self.cid}: the guest reports CID "
                                   f"{self.ready.get('cid')!r} (IOCTL_VM_SOCKETS_GET_LOCAL_CID)\n"
                                   + self.diagnostics())
        for k in ("VG-BOOTED", "VG-START", "READY"):
            if k in self.events:
                self.timings[k] = self.events[k]

    def diagnostics(self) -> str:
        parts = []
        said = self._qemu_said.decode("utf-8", "replace").strip()
        if said:
            parts.append("qemu said:\n" + said[-4000:])
        con = self._console.decode("utf-8", "replace")
        if con.strip():
            parts.append("guest console (last lines):\n" + "\n".join(con.splitlines()[-40:]))
        agent = self._agent_log.decode("utf-8", "replace").strip()
        if agent:
            parts.append("guest agent output:\n" + agent[-3000:])
        dlog = self._group.daemon_log()
        if dlog:
            parts.append("vhost-device-vsock log (last lines):\n"
                         + "\n".join(dlog.splitlines()[-30:]))
        parts.append("qemu command line: " + " ".join(shlex.quote(a) for a in self.qemu_argv))
        return "\n".join(parts)

    @property
    def console(self) -> str:
        return self._console.decode("utf-8", "replace")

    # ------------------------------------------------------------------ API

    def _send(self, typ: int, pid_id: int, payload: bytes = b"") -> None:
        if self._dead:
            raise VirtioGuestError(f"guest cid {self.cid}: {self._dead}")
        with self._wlock:
            self._socks["agent"][0].sendall(_HDR.pack(typ, pid_id, len(payload)) + payload)

    def run(self, argv: list[str], *, cwd: str | None = None, env: dict | None = None,
            extra_env: dict | None = None, text: bool = False,
            spawn_timeout: float = 120.0) -> GuestProcess:
        """Start argv in this guest; returns a GuestProcess at once (after the guest
        has spawned it).  cwd: default the caller's current directory.  env: the
        whole environment (default: the environment the guest was booted with, i.e.
        the host's at boot time, filtered as run-in-guest does, plus
        VMZMQ_IN_GUEST=1, VMZMQ_GUEST_CID, VMZMQ_HVSOCK_PATH); extra_env is merged
        on top.  text: stdout/stderr lines as str, stdin accepts str."""
        if isinstance(argv, str):
            raise TypeError("argv must be a list (use ['sh', '-c', ...] for a shell line)")
        argv = [os.fspath(a) for a in argv]
        base = dict(env) if env is not None else dict(self._group._guest_env(self))
        base.update(extra_env or {})
        with self._wlock:
            pid_id = self._next_id
            self._next_id += 1
        p = GuestProcess(self, pid_id, argv, text)
        self._procs[pid_id] = p
        req = {"argv": argv, "cwd": cwd or os.getcwd(), "env": base}
        self._send(_SPAWN, pid_id, json.dumps(req).encode())
        if not p._spawned.wait(spawn_timeout):
            raise VirtioGuestError(f"guest cid {self.cid}: no answer to spawning {argv!r} "
                                   f"within {spawn_timeout:g}s")
        if p.pid is None:
            self._procs.pop(pid_id, None)
            raise GuestSpawnError(f"guest cid {self.cid}: cannot start {argv!r}: "
                                  f"{p._spawn_error}", p._spawn_info)
        return p

    def check_output(self, argv: list[str], *, timeout: float = 300.0, text: bool = True,
                     **kw):
        """run() + communicate(); raises subprocess.CalledProcessError on a non-zero status."""
        p = self.run(argv, text=text, **kw)
        out, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            raise subprocess.CalledProcessError(p.returncode, argv, out, err)
        return out

    def uds_port_path(self, port: int) -> str:
        """The Unix socket the daemon connects to when the guest connects to (2, port)."""
        return f"{self.uds_path}_{int(port)}"

    def listen(self, port: int, backlog: int = 16) -> socket.socket:
        """A Unix listening socket at uds_port_path(port): guest connects to CID 2,
        port `port` arrive here.  The path is removed when the guest closes."""
        path = self.uds_port_path(port)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(backlog)
        return s

    def connect(self, port: int, timeout: float = 60.0, retry: bool = True
                ) -> socket.socket:
        """A stream to the guest's AF_VSOCK port through the hybrid socket:
        CONNECT <port>\\n, then OK <host_port>\\n.  With retry (default), a refusal
        (nobody listening yet: the daemon closes the stream) is retried until
        timeout; then ConnectionRefusedError.  The returned socket is blocking
        (connect_info() also gives the OK line's port and the CONNECT->OK time)."""
        return self.connect_info(port, timeout=timeout, retry=retry)[0]

    def connect_info(self, port: int, timeout: float = 60.0, retry: bool = True
                     ) -> tuple[socket.socket, int, float]:
        """connect() that also returns (socket, the OK line's port, seconds from the
        CONNECT write to the OK line of the successful attempt)."""
        deadline = time.monotonic() + timeout
        last = "no attempt"
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                s.connect(self.uds_path)
                t0 = time.monotonic()
                s.sendall(f"CONNECT {int(port)}\n".encode())
                line = b""
                while not line.endswith(b"\n") and len(line) < 64:
                    b = s.recv(1)  # byte by byte: the payload follows OK at once
                    if not b:
                        break
                    line += b
                dt = time.monotonic() - t0
                m = re.fullmatch(rb"OK (\d+)\n", line)
                if m:
                    s.settimeout(None)
                    return s, int(m.group(1)), dt
                last = f"answer {line!r}"
            except OSError as e:
                last = f"{type(e).__name__}: {e}"
            s.close()
            if not retry or time.monotonic() >= deadline:
                raise ConnectionRefusedError(
                    f"hybrid vsock CONNECT {port} to guest cid {self.cid} via {self.uds_path} "
                    f"failed: {last}")
            time.sleep(0.1)

    def _kill(self) -> None:
        if self.qemu is not None and self.qemu.poll() is None:
            try:
                os.killpg(self.qemu.pid, signal.SIGKILL)
            except OSError:
                pass

    def _close(self) -> None:
        self._kill()
        if self.qemu is not None:
            try:
                self.qemu.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for t in self._pumps:
            t.join(timeout=5)
        for pair in self._socks.values():
            for s in pair:
                try:
                    s.close()
                except OSError:
                    pass

    def __repr__(self) -> str:
        return f"<Guest cid={self.cid} uds_path={self.uds_path!r}>"


class VirtioGuests:
    """count QEMU guests (CIDs 3, 4, ...) on one vhost-device-vsock daemon, all in
    one sibling group, so they reach each other at their CIDs and the host through
    their hybrid sockets.  A context manager; indexable (guests[0] is CID 3).

    timeout: seconds after start before everything is killed (processes then
    report VirtioGuestError); boot_timeout: until every guest's agent is up
    per boot attempt (default VSOCK_GUEST_BOOT_TIMEOUT or 300 s; a boot that fails is
    retried with fresh guests, VSOCK_GUEST_BOOT_ATTEMPTS times in all, default 3)."""

    def __init__(self, count: int = 2, *, timeout: float = 900.0,
                 boot_timeout: float | None = None,
                 memory: str | None = None, smp: int | None = None, accel: str | None = None,
                 cache: str | None = None, env: dict | None = None,
                 extra_env: dict | None = None, verbose: bool = False, debug: bool = False,
                 daemon_args: list[str] | None = None, first_cid: int = FIRST_CID) -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        e = os.environ.get
        self.count = count
        self.timeout = timeout
        # Generous on purpose (VSOCK_GUEST_BOOT_TIMEOUT overrides it): it only has to catch a
        # hung boot, and a heavily loaded 2-CPU TCG machine can be many times slower than the
        # 10-30 s a boot of two guests takes here.
        self.boot_timeout = (boot_timeout if boot_timeout is not None
                             else float(e("VSOCK_GUEST_BOOT_TIMEOUT", DEFAULT_BOOT_TIMEOUT)))
        # A boot that hangs (rare under TCG, with nothing on the console) is retried with
        # fresh guests: nothing has run in them yet.
        self.boot_attempts = int(e("VSOCK_GUEST_BOOT_ATTEMPTS", rig.DEFAULT_BOOT_ATTEMPTS))
        self.opts = {
            "memory": memory or e("VSOCK_GUEST_VIRTIO_MEMORY", "2G"),
            "smp": smp or int(e("VSOCK_GUEST_SMP", "2")),
            "accel": accel or e("VSOCK_GUEST_ACCEL", "auto"),
            "debug": debug,
        }
        self.cache = os.path.abspath(cache or e("VSOCK_GUEST_CACHE") or DEFAULT_CACHE)
        self.verbose = verbose or debug
        self.daemon_args = list(daemon_args or [])
        self.first_cid = first_cid
        self._env = env
        self._extra_env = dict(extra_env or {})
        self.guests: list[Guest] = []
        self.daemon: subprocess.Popen | None = None
        self.daemon_version: str | None = None
        self.rundir: str | None = None
        self.sockdir: str | None = None
        self.timings: dict[str, float] = {}
        self._timed_out = False
        self._closed = False
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._daemon_log_path: str | None = None

    def _vlog(self, msg: str) -> None:
        if self.verbose:
            log(msg)

    def _guest_env(self, g: Guest) -> dict:
        if self._env is not None:
            env = dict(self._env)
        else:
            env = rig.guest_env([])
        env.update(self._extra_env)
        env["VMZMQ_IN_GUEST"] = "1"
        env["VMZMQ_GUEST_CID"] = str(g.cid)
        env["VMZMQ_HVSOCK_PATH"] = g.uds_path
        return env

    def daemon_log(self) -> str:
        if not self._daemon_log_path:
            return ""
        try:
            with open(self._daemon_log_path, "rb") as f:
                return f.read()[-20000:].decode("utf-8", "replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> VirtioGuests:
        for attempt in range(1, self.boot_attempts + 1):
            t0 = time.monotonic()
            try:
                self._start(t0)
                return self
            except BootFailure as e:
                self.close()
                if attempt == self.boot_attempts or self._timed_out:
                    raise
                log(f"boot attempt {attempt} of {self.boot_attempts} failed; booting fresh "
                    f"guests:\n{e}")
                self._reset()
            except BaseException:
                self.close()
                raise
        return self

    def _reset(self) -> None:
        """Back to the state before start(), after close()."""
        self.guests = []
        self.daemon = None
        self.rundir = self.sockdir = None
        self._daemon_log_path = None
        self._timed_out = False
        self._closed = False
        self._stop = threading.Event()
        self._watchdog = None

    def _start(self, t0: float) -> None:
        rig.VERBOSE = self.verbose
        assets = prepare(self.cache)
        self.daemon_version = assets.get("daemon_version")
        t_prep = time.monotonic()
        self.rundir = rig.make_rundir(self.cache)
        # sun_path holds 107 bytes: "<uds>_<port>" must fit with a 10-digit port
        self.sockdir = self.rundir
        if len(self.rundir) + len("/vhost-9999.sock") + 22 > 107:
            self.sockdir = tempfile.mkdtemp(prefix="vgv-", dir="/tmp")
        one = self.count == 1
        for i in range(self.count):
            cid = self.first_cid + i
            uds = os.path.join(self.sockdir, "vm.vsock" if one else f"vm{cid}.vsock")
            vhost = os.path.join(self.sockdir, f"vhost-{cid}.sock")
            self.guests.append(Guest(self, cid, uds, vhost))
        self._start_daemon(assets["daemon"])
        if self.timeout and self.timeout > 0:
            self._deadline = t0 + self.timeout
            self._watchdog = threading.Thread(target=self._watch, daemon=True)
            self._watchdog.start()
        for g in self.guests:
            g._start(assets, self.opts, self.rundir, self._guest_env(g))
        deadline = time.monotonic() + self.boot_timeout
        for g in self.guests:
            g._wait_ready(deadline)
        t_ready = time.monotonic()
        self.timings = {"prepare": t_prep - t0, "boot": t_ready - t_prep,
                        "total": t_ready - t0}
        for g in self.guests:
            self._vlog(f"cid {g.cid}: ready: {g.ready} timings {g.timings}")
        self._vlog(f"timing: prepare {t_prep - t0:.2f}s, boot {t_ready - t_prep:.2f}s")

    def _start_daemon(self, binary: str) -> None:
        argv = [binary]
        for g in self.guests:
            argv += ["--vm", f"guest-cid={g.cid},socket={g.vhost_sock},uds-path={g.uds_path},"
                             f"groups={DAEMON_GROUP}"]
        argv += self.daemon_args
        self._vlog("daemon: " + " ".join(shlex.quote(a) for a in argv))
        self._daemon_log_path = os.path.join(self.rundir, "vhost-device-vsock.log")
        env = dict(os.environ)
        env.setdefault("RUST_LOG", os.environ.get("VSOCK_GUEST_DAEMON_LOG", "warn"))
        with open(self._daemon_log_path, "wb") as logf:
            self.daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                           stderr=subprocess.STDOUT, env=env,
                                           start_new_session=True,
                                           preexec_fn=rig._child_setup)
        deadline = time.monotonic() + 30
        while not all(os.path.exists(g.vhost_sock) for g in self.guests):
            if self.daemon.poll() is not None:
                raise VirtioGuestError(f"vhost-device-vsock exited with status "
                                       f"{self.daemon.returncode}:\n{self.daemon_log()}\n"
                                       f"argv: {argv}")
            if time.monotonic() > deadline:
                raise VirtioGuestError("vhost-device-vsock did not create its sockets within "
                                       f"30s:\n{self.daemon_log()}")
            time.sleep(0.02)

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            if time.monotonic() > self._deadline:
                self._timed_out = True
                log(f"TIMEOUT: the virtio guests' timeout ({self.timeout:g}s) expired; "
                    "killing them")
                self.kill()
                return

    def kill(self) -> None:
        """SIGKILL every QEMU and the daemon now (no waiting, no locks: signal-safe)."""
        for g in self.guests:
            g._kill()
        if self.daemon is not None and self.daemon.poll() is None:
            try:
                os.killpg(self.daemon.pid, signal.SIGKILL)
            except OSError:
                pass

    @property
    def timed_out(self) -> bool:
        return self._timed_out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self.kill()
        for g in self.guests:
            g._close()
        if self.daemon is not None:
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for d in {self.rundir, self.sockdir}:
            if d:
                shutil.rmtree(d, ignore_errors=True)

    def __enter__(self) -> VirtioGuests:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, i: int) -> Guest:
        return self.guests[i]

    def __iter__(self):
        return iter(self.guests)

    def __len__(self) -> int:
        return len(self.guests)


class VirtioGuest(VirtioGuests):
    """One guest (CID 3).  Has the Guest API directly: uds_path, run(), connect(),
    listen(), uds_port_path(), cid, ready, console, ..."""

    def __init__(self, **kw) -> None:
        super().__init__(count=1, **kw)

    def __enter__(self) -> VirtioGuest:
        self.start()
        return self

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("guests",):
            raise AttributeError(name)
        guests = self.__dict__.get("guests")
        if not guests:
            raise AttributeError(f"{name} (the guest is not started)")
        return getattr(guests[0], name)


# =========================================================================== CLI


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="run-in-virtio-guest",
        usage="%(prog)s [OPTIONS] [--] COMMAND [ARGS...]\n       %(prog)s --prepare",
        description="Run COMMAND in a throwaway QEMU guest (CID 3) whose vsock is REAL "
                    "virtio-vsock, served on the host by vhost-device-vsock as a "
                    "Firecracker-style hybrid Unix socket ($VMZMQ_HVSOCK_PATH).  The guest "
                    "sees this machine's / read-only with a tmpfs overlay and runs COMMAND "
                    "in the current directory with the current environment "
                    "(+ VMZMQ_IN_GUEST=1, VMZMQ_GUEST_CID=3, VMZMQ_HVSOCK_PATH).",
        epilog="Exit status: COMMAND's; 124 if --timeout expired while it ran; 125 if the "
               "harness, the daemon or the guest failed (setup, boot, boot timeout).")
    p.add_argument("--prepare", action="store_true",
                   help="only build the cache (QEMU, kernel, modules, initramfs, "
                        "vhost-device-vsock from Debian unstable), then exit")
    p.add_argument("--refresh", action="store_true",
                   help="with --prepare: re-resolve the kernel and re-fetch vhost-device-vsock")
    p.add_argument("--timeout", type=float,
                   default=float(env("VSOCK_GUEST_TIMEOUT", rig.DEFAULT_TIMEOUT)),
                   help="seconds for the whole run (default %(default)g; 0 = none)")
    p.add_argument("--boot-timeout", type=float,
                   default=float(env("VSOCK_GUEST_BOOT_TIMEOUT", rig.DEFAULT_BOOT_TIMEOUT)),
                   help="seconds until the guest is ready (default %(default)g)")
    p.add_argument("--cache", default=env("VSOCK_GUEST_CACHE", DEFAULT_CACHE),
                   help="cache directory (default %(default)s)")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default=env("VSOCK_GUEST_ACCEL",
                                                                         "auto"))
    p.add_argument("--smp", type=int, default=int(env("VSOCK_GUEST_SMP", "2")))
    p.add_argument("--memory", default=env("VSOCK_GUEST_VIRTIO_MEMORY", "2G"),
                   help="guest RAM (default %(default)s)")
    p.add_argument("-e", "--env", action="append", default=[], metavar="NAME=VALUE",
                   help="set an environment variable for COMMAND (repeatable)")
    p.add_argument("--host-cmd", metavar="SHELL_LINE",
                   help="run SHELL_LINE (sh -c) on the host once the guest is ready, alongside "
                        "COMMAND, with VMZMQ_HVSOCK_PATH set; killed (process group) when "
                        "COMMAND ends; COMMAND's status is the exit status")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--timing", action="store_true", help="print a timing summary to stderr")
    p.add_argument("--debug", action="store_true",
                   help="stream the guest console and agent output to stderr")
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.command and a.command[0] == "--":
        a.command = a.command[1:]
    if not a.prepare and not a.command:
        p.error("no COMMAND given")
    for kv in a.env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", kv, re.S):
            p.error(f"--env wants NAME=VALUE, got {kv!r}")
    return a


def _relay(stream: GuestStream, fd: int) -> threading.Thread:
    w = rig._fd_writer(fd)

    def loop() -> None:
        while True:
            b = stream.read1()
            if not b:
                return
            w(b)
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def _kill_group(p: subprocess.Popen) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()


def cli(argv: list[str]) -> int:
    args = parse_args(argv)
    rig.VERBOSE = args.verbose or args.debug
    t0 = time.monotonic()
    try:
        if args.prepare:
            a = prepare(args.cache, refresh=args.refresh)
            log(f"ready ({time.monotonic() - t0:.1f}s): {a['kernel_package']}, {a['initrd']}, "
                f"{a['daemon']} ({a['daemon_version']})")
            return 0
    except rig.HarnessError as e:
        log(f"ERROR: {e}")
        return EXIT_HARNESS

    extra = dict(kv.split("=", 1) for kv in args.env)
    g = VirtioGuest(timeout=args.timeout, boot_timeout=args.boot_timeout, memory=args.memory,
                    smp=args.smp, accel=args.accel, cache=args.cache, extra_env=extra,
                    verbose=args.verbose, debug=args.debug)
    host: list[subprocess.Popen] = []

    def on_signal(signum, _frame):
        g.kill()
        for h in host:
            try:
                os.killpg(h.pid, signal.SIGKILL)
            except OSError:
                pass
        for d in (g.rundir, g.sockdir):
            if d:
                shutil.rmtree(d, ignore_errors=True)
        log(f"got signal {signum}: guest killed")
        os._exit(128 + signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        try:
            g.start()
        except rig.HarnessError as e:
            log(f"ERROR: {e}")
            return EXIT_HARNESS
        t_ready = time.monotonic()
        if args.host_cmd:
            henv = dict(os.environ)
            henv["VMZMQ_HVSOCK_PATH"] = g.uds_path
            henv["VMZMQ_GUEST_CID"] = str(g.cid)
            host.append(subprocess.Popen(["sh", "-c", args.host_cmd], env=henv,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=rig._child_setup))
        try:
            p = g.run(args.command)
        except GuestSpawnError as e:  # like sh: 127 not found, 126 not executable
            log(f"{e}")
            if e.kind == "cwd":
                return EXIT_HARNESS
            return 127 if e.errno == 2 else 126
        except rig.HarnessError as e:
            log(f"ERROR: {e}")
            return EXIT_HARNESS
        p.stdin.close()
        relays = [_relay(p.stdout, 1), _relay(p.stderr, 2)]
        try:
            status = p.wait()
        except VirtioGuestError as e:
            for t in relays:
                t.join(timeout=5)
            if g.timed_out:
                log(f"TIMEOUT: --timeout {args.timeout:g}s expired while the command ran; "
                    "guest killed")
                return EXIT_TIMEOUT
            log(f"ERROR: {e}\n{g.diagnostics()}")
            return EXIT_HARNESS
        for t in relays:
            t.join(timeout=10)
        t_done = time.monotonic()
        if args.verbose or args.timing:
            gg = g.guests[0]
            log(f"timing: prepare {g.timings.get('prepare', 0):.2f}s, "
                f"boot-to-ready {gg.timings.get('READY', 0):.2f}s, "
                f"command {t_done - t_ready:.2f}s, total {t_done - t0:.2f}s")
        if status < 0:
            return 128 - status
        return status
    finally:
        for h in host:
            _kill_group(h)
        g.close()


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
