"""CURVE keys: ``vmzmq.curve_keypair``/``curve_public`` (against pyzmq's), ``vmzmq.has("curve")``
without PyNaCl, and the key generators run as subprocesses: ``python -m vmzmq keygen`` and
``python -m vmzmq.curve_keygen``."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq as pyzmq
import zmq.auth as pyzmq_auth

import vmzmq
from vmzmq.utils import z85

SRC = str(Path(__file__).resolve().parent.parent / "src")

pytestmark = pytest.mark.skipif(not vmzmq.has("curve"), reason="needs PyNaCl")

# A key pair from libzmq's own tests (test_security_curve.cpp), checked by libzmq.
KNOWN_PUBLIC = b"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
KNOWN_SECRET = b"D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=60, env=env
    )


def parse_pair(text: str) -> tuple[bytes, bytes]:
    """The keys of libzmq curve_keygen's output format, checked line by line."""
    lines = text.splitlines()
    assert len(lines) == 5, text
    assert lines[0] == "== CURVE PUBLIC KEY ==" and lines[2] == ""
    assert lines[3] == "== CURVE SECRET KEY =="
    return lines[1].encode(), lines[4].encode()


def check_pair(public: bytes, secret: bytes) -> None:
    assert len(public) == len(secret) == 40
    assert len(z85.decode(public)) == len(z85.decode(secret)) == 32
    assert vmzmq.curve_public(secret) == public
    assert pyzmq.curve_public(secret) == public  # libzmq agrees


# -- the functions --------------------------------------------------------------------------------
def test_curve_keypair() -> None:
    public, secret = vmzmq.curve_keypair()
    check_pair(public, secret)
    assert vmzmq.curve_keypair() != (public, secret)


def test_curve_public_known_pair() -> None:
    assert vmzmq.curve_public(KNOWN_SECRET) == KNOWN_PUBLIC
    assert vmzmq.curve_public(KNOWN_SECRET.decode()) == KNOWN_PUBLIC


def test_curve_public_agrees_with_libzmq() -> None:
    for _ in range(20):
        public, secret = pyzmq.curve_keypair()
        assert vmzmq.curve_public(secret) == public


def test_curve_public_bad_keys() -> None:
    with pytest.raises(ValueError, match="40"):
        vmzmq.curve_public(KNOWN_SECRET[:39])
    with pytest.raises(vmzmq.ZMQError) as info:
        vmzmq.curve_public(b"~" * 40)
    assert info.value.errno == errno.EINVAL
    assert "~" not in str(info.value)  # no piece of the key in the message
    with pytest.raises(vmzmq.ZMQError):
        vmzmq.curve_public(b"#" * 40)  # Z85 characters, but more than 32 bits per group


def test_without_pynacl(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail as if PyNaCl were not installed.
    monkeypatch.setitem(sys.modules, "nacl.bindings", None)
    assert vmzmq.has("curve") is False
    for call in (vmzmq.curve_keypair, lambda: vmzmq.curve_public(KNOWN_SECRET)):
        with pytest.raises(vmzmq.ZMQError, match=r"pip install vmzmq\[curve\]") as info:
            call()
        assert info.value.errno == errno.ENOTSUP
    monkeypatch.undo()
    assert vmzmq.has("curve") is True


# -- python -m vmzmq.curve_keygen -----------------------------------------------------------------
def test_curve_keygen_module() -> None:
    done = run("vmzmq.curve_keygen")
    assert done.returncode == 0, done.stderr
    check_pair(*parse_pair(done.stdout))


def test_curve_keygen_module_json() -> None:
    done = run("vmzmq.curve_keygen", "--json")
    assert done.returncode == 0, done.stderr
    keys = json.loads(done.stdout)
    assert set(keys) == {"public", "secret"}
    check_pair(keys["public"].encode(), keys["secret"].encode())


def test_curve_keygen_module_secret() -> None:
    done = run("vmzmq.curve_keygen", "--secret", KNOWN_SECRET.decode())
    assert done.returncode == 0, done.stderr
    assert parse_pair(done.stdout) == (KNOWN_PUBLIC, KNOWN_SECRET)
    bad = run("vmzmq.curve_keygen", "--secret", "not-a-key")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and bad.stdout == ""


def test_curve_keygen_output_matches_pyzmq_format() -> None:
    ours = run("vmzmq.curve_keygen", "--secret", KNOWN_SECRET.decode())
    theirs = run("zmq.curve_keygen", "--secret", KNOWN_SECRET.decode())
    assert theirs.returncode == 0, theirs.stderr
    assert ours.stdout == theirs.stdout


# -- vmzmq keygen ---------------------------------------------------------------------------------
def test_keygen_prints_a_pair() -> None:
    done = run("vmzmq", "keygen")
    assert done.returncode == 0, done.stderr
    check_pair(*parse_pair(done.stdout))
    listed = run("vmzmq", "--help")
    assert "keygen" in listed.stdout


def test_keygen_writes_certificates(tmp_path: Path) -> None:
    done = run("vmzmq", "keygen", "--dir", str(tmp_path), "--name", "server")
    assert done.returncode == 0, done.stderr
    public_file, secret_file = tmp_path / "server.key", tmp_path / "server.key_secret"
    public, secret = pyzmq_auth.load_certificate(str(secret_file))
    assert pyzmq_auth.load_certificate(str(public_file)) == (public, None)
    assert secret is not None
    check_pair(public, secret)
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert public.decode() in done.stdout
    assert secret.decode() not in done.stdout  # the secret stays in its file
    assert str(secret_file) in done.stdout


def test_keygen_json_with_files(tmp_path: Path) -> None:
    done = run("vmzmq", "keygen", "--dir", str(tmp_path), "--name", "c", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["public_file"] == str(tmp_path / "c.key")
    assert out["secret_file"] == str(tmp_path / "c.key_secret")
    assert pyzmq_auth.load_certificate(out["public_file"])[0] == out["public"].encode()


def test_keygen_keeps_existing_certificates(tmp_path: Path) -> None:
    assert run("vmzmq", "keygen", "--dir", str(tmp_path), "--name", "s").returncode == 0
    before = (tmp_path / "s.key_secret").read_bytes()
    again = run("vmzmq", "keygen", "--dir", str(tmp_path), "--name", "s")
    assert again.returncode == 1
    assert again.stderr.startswith("vmzmq keygen: ") and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert (tmp_path / "s.key_secret").read_bytes() == before
    forced = run("vmzmq", "keygen", "--dir", str(tmp_path), "--name", "s", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "s.key_secret").read_bytes() != before


def test_keygen_user_mistakes(tmp_path: Path) -> None:
    missing = run("vmzmq", "keygen", "--dir", str(tmp_path / "nope"), "--name", "x")
    assert missing.returncode == 1 and "not a directory" in missing.stderr
    bad_name = run("vmzmq", "keygen", "--dir", str(tmp_path), "--name", "a/b")
    assert bad_name.returncode == 2 and "Traceback" not in bad_name.stderr
    assert list(tmp_path.iterdir()) == []
