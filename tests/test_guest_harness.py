"""The vsock guest harness (tools/vsock-guest/run-in-guest), run for real.

Each test boots a throwaway QEMU guest (~4-10 s under TCG), so this module is
slow (~20-40 s; the first run on a fresh machine also installs QEMU and
downloads the kernel into .cache/vsock-guest/).  It deliberately does NOT skip
when QEMU is missing: the harness installs what it needs, and a harness that
cannot boot must fail loudly.  It only skips inside the guest itself, where it
would nest QEMU in QEMU.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tools" / "vsock-guest" / "run-in-guest"

pytestmark = [
    pytest.mark.skipif(os.environ.get("VMZMQ_IN_GUEST") == "1",
                       reason="already inside the vsock guest: no QEMU-in-QEMU"),
]
try:  # generous per-test limit when pytest-timeout is installed (first run downloads)
    import pytest_timeout  # noqa: F401

    pytestmark.append(pytest.mark.timeout(900))
except ImportError:
    pass


def harness(*args: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HARNESS), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module", autouse=True)
def prepared() -> None:
    r = harness("--prepare", timeout=900)
    assert r.returncode == 0, f"prepare failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"


def test_exit_status_and_streams_propagate() -> None:
    r = harness("--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout == "to-stdout\n"
    assert "to-stderr\n" in r.stderr


def test_vsock_loopback_roundtrip_in_guest(tmp_path: Path) -> None:
    probe = tmp_path / "written-in-guest"
    code = textwrap.dedent(f"""
        import fcntl, os, socket, struct
        assert os.environ["VMZMQ_IN_GUEST"] == "1"
        print("cwd", os.getcwd())
        # AF_VSOCK on CID 1 (vsock_loopback)
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.bind((1, 5555)); s.listen()
        c = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        c.connect((1, 5555))
        a, peer = s.accept()
        c.sendall(b"hi"); print("vsock", a.recv(2), peer[0])
        a.sendall(b"back"); print("vsock-reply", c.recv(4))
        # /dev/vsock and IOCTL_VM_SOCKETS_GET_LOCAL_CID
        fd = os.open("/dev/vsock", os.O_RDONLY)
        cid = struct.unpack("I", fcntl.ioctl(fd, 0x7B9, b"\\0" * 4))[0]
        print("local-cid", cid)
        # lo is up: TCP on 127.0.0.1
        srv = socket.create_server(("127.0.0.1", 0))
        cli = socket.create_connection(srv.getsockname())
        conn, _ = srv.accept(); cli.sendall(b"tcp"); print("tcp", conn.recv(3))
        # the guest may write anywhere; none of it reaches the host
        open({str(probe)!r}, "w").write("x")
        print("done")
    """)
    r = harness("--", sys.executable, "-c", code, cwd=REPO)
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    lines = r.stdout.splitlines()
    assert f"cwd {REPO}" in lines
    assert "vsock b'hi' 1" in lines
    assert "vsock-reply b'back'" in lines
    assert "tcp b'tcp'" in lines
    assert "done" in lines
    cid_line = next(line for line in lines if line.startswith("local-cid "))
    # with only the loopback transport, 6.1 reports VMADDR_CID_LOCAL (1)
    assert int(cid_line.split()[1]) in (1, 0xFFFFFFFF), cid_line
    assert not probe.exists(), "a write inside the guest leaked to the host"


def _children(pid: int) -> list[int]:
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d))
    return kids


def test_sigterm_leaves_no_qemu_behind() -> None:
    cmd = [sys.executable, str(HARNESS), "--", "sh", "-c", "echo started; sleep 600"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == "started\n"
        qemus = _children(p.pid)
        assert qemus, "no QEMU child while the command runs"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    def gone(q: int) -> bool:
        return not os.path.exists(f"/proc/{q}") or _is_zombie(q)

    deadline = time.monotonic() + 30  # only fails a QEMU that stays (a hang)
    while not all(gone(q) for q in qemus):
        assert time.monotonic() < deadline, f"QEMU still running: {qemus}"
        time.sleep(0.01)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_boot_that_fails_is_retried_with_its_console_shown() -> None:
    # A kernel command line that cannot reach /init: the kernel panics before the command,
    # so each attempt fails the same way and the harness must boot afresh, then give up.
    env = dict(os.environ, VSOCK_GUEST_APPEND_EXTRA="rdinit=/nonexistent")
    r = harness("--boot-attempts", "2", "--", "sh", "-c", "echo ran", env=env)
    assert r.returncode == 125, r.stderr
    assert "ran" not in r.stdout
    assert r.stderr.count("BOOT FAILURE") == 2, r.stderr
    assert "boot attempt 1 of 2 failed" in r.stderr
    assert "boot attempt 2 of 2" not in r.stderr
    # The kernel's own error reaches the diagnostics (console loglevel 4, not 0).
    assert "Kernel panic" in r.stderr
    assert "guest milestones: none" in r.stderr
