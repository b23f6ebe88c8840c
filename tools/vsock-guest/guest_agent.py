"""Guest side of tools/vsock-guest/virtio_guest.py: runs processes for the host.

Started by the virtio guest's job script (through guest-init) with the host's own
Python, seen read-only over 9p.  It talks to the host over the virtio-serial port
named ``vg.agent`` with length-prefixed frames (``!BII``: type, process id,
payload length), spawns the processes the host asks for, forwards their
stdin/stdout/stderr and reports their exit status.  Standard library only; it
never touches AF_VSOCK except to report the guest's CID, so the vsock device is
left entirely to the tests.

Frames host -> guest: SPAWN (JSON argv/cwd/env), STDIN (bytes), STDIN_EOF,
SIGNAL (JSON sig/group).  Guest -> host: READY (JSON: cid, uptime), SPAWNED
(JSON pid or error), STDOUT/STDERR (bytes; an empty payload is EOF), EXIT
(JSON status, subprocess-style: negative = killed by that signal), LOG (text).
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import time

HDR = struct.Struct("!BII")
# host -> guest
SPAWN, STDIN, STDIN_EOF, SIGNAL = 1, 2, 3, 4
# guest -> host
READY, SPAWNED, STDOUT, STDERR, EXIT, LOG = 10, 11, 12, 13, 14, 15

PORT_NAME = "vg.agent"
CHUNK = 65536


def find_port(name: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    base = "/sys/class/virtio-ports"
    while True:
        try:
            entries = os.listdir(base)
        except OSError:
            entries = []
        for d in entries:
            try:
                with open(os.path.join(base, d, "name")) as f:
                    n = f.read().strip()
            except OSError:
                continue
            if n == name and os.path.exists("/dev/" + d):
                return "/dev/" + d
        if time.monotonic() > deadline:
            raise SystemExit(f"guest_agent: virtio-serial port {name!r} not found")
        time.sleep(0.05)


def local_cid() -> int | None:
    try:
        fd = os.open("/dev/vsock", os.O_RDONLY)
    except OSError:
        return None
    try:
        return struct.unpack("I", fcntl.ioctl(fd, 0x7B9, b"\0" * 4))[0]
    except OSError:
        return None
    finally:
        os.close(fd)


class Agent:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.wlock = threading.Lock()
        self.procs: dict[int, tuple[subprocess.Popen, queue.Queue]] = {}

    def send(self, typ: int, pid: int, payload: bytes = b"") -> None:
        data = memoryview(HDR.pack(typ, pid, len(payload)) + payload)
        with self.wlock:
            while data:
                data = data[os.write(self.fd, data):]

    def send_json(self, typ: int, pid: int, obj: dict) -> None:
        self.send(typ, pid, json.dumps(obj).encode())

    # ----------------------------------------------------------------- processes

    def spawn(self, pid: int, req: dict) -> None:
        cwd = req.get("cwd")
        if cwd and not os.path.isdir(cwd):
            self.send_json(SPAWNED, pid, {"error": f"cannot cd to {cwd}", "kind": "cwd"})
            return
        try:
            p = subprocess.Popen(req["argv"], cwd=req.get("cwd"), env=req.get("env"),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, bufsize=0, start_new_session=True)
        except (OSError, ValueError, TypeError) as e:
            self.send_json(SPAWNED, pid, {"error": f"{type(e).__name__}: {e}",
                                          "errno": getattr(e, "errno", None), "kind": "exec"})
            return
        q: queue.Queue = queue.Queue()
        self.procs[pid] = (p, q)
        self.send_json(SPAWNED, pid, {"pid": p.pid})
        readers = [threading.Thread(target=self._reader, args=(pid, p.stdout, STDOUT), daemon=True),
                   threading.Thread(target=self._reader, args=(pid, p.stderr, STDERR), daemon=True)]
        for t in readers:
            t.start()
        threading.Thread(target=self._stdin_writer, args=(p, q), daemon=True).start()
        threading.Thread(target=self._waiter, args=(pid, p, readers), daemon=True).start()

    def _reader(self, pid: int, f, typ: int) -> None:
        fd = f.fileno()
        while True:
            try:
                chunk = os.read(fd, CHUNK)
            except OSError:
                chunk = b""
            self.send(typ, pid, chunk)  # empty = EOF
            if not chunk:
                return

    @staticmethod
    def _stdin_writer(p: subprocess.Popen, q: queue.Queue) -> None:
        fd = p.stdin.fileno()
        broken = False
        while True:
            item = q.get()
            if item is None:
                break
            mv = memoryview(item)
            while mv and not broken:
                try:
                    mv = mv[os.write(fd, mv):]
                except OSError:
                    broken = True  # the process closed its stdin: drop the rest
        try:
            p.stdin.close()
        except OSError:
            pass

    def _waiter(self, pid: int, p: subprocess.Popen, readers: list[threading.Thread]) -> None:
        status = p.wait()
        for t in readers:  # output first, then EXIT (unless a grandchild holds the pipe)
            t.join(timeout=5)
        self.procs.pop(pid, None)
        self.send_json(EXIT, pid, {"status": status})

    def signal(self, pid: int, req: dict) -> None:
        entry = self.procs.get(pid)
        if entry is None:
            return
        p = entry[0]
        try:
            if req.get("group"):
                os.killpg(p.pid, int(req["sig"]))
            else:
                os.kill(p.pid, int(req["sig"]))
        except OSError:
            pass

    # ----------------------------------------------------------------- main loop

    def serve(self) -> None:
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        self.send_json(READY, 0, {"cid": local_cid(), "uptime": uptime, "pid": os.getpid(),
                                  "python": sys.version.split()[0],
                                  "kernel": os.uname().release})
        buf = bytearray()
        while True:
            try:
                chunk = os.read(self.fd, CHUNK)
            except InterruptedError:
                continue
            if not chunk:
                break
            buf += chunk
            while len(buf) >= HDR.size:
                typ, pid, n = HDR.unpack_from(buf)
                if len(buf) < HDR.size + n:
                    break
                payload = bytes(buf[HDR.size:HDR.size + n])
                del buf[:HDR.size + n]
                self.dispatch(typ, pid, payload)

    def dispatch(self, typ: int, pid: int, payload: bytes) -> None:
        if typ == SPAWN:
            self.spawn(pid, json.loads(payload))
        elif typ == STDIN:
            entry = self.procs.get(pid)
            if entry is not None:
                entry[1].put(payload)
        elif typ == STDIN_EOF:
            entry = self.procs.get(pid)
            if entry is not None:
                entry[1].put(None)
        elif typ == SIGNAL:
            self.signal(pid, json.loads(payload))
        else:
            self.send(LOG, 0, f"unknown frame type {typ}".encode())


def main() -> None:
    path = find_port(PORT_NAME)
    fd = os.open(path, os.O_RDWR)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    Agent(fd).serve()
    # The host closed the channel: return, and guest-init kills what is left and
    # powers off (the host usually kills QEMU first).


if __name__ == "__main__":
    main()
