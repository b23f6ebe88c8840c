"""CURVE certificates on disk, as pyzmq's ``zmq.auth.certs`` and czmq's ``zcert``.

A certificate is a ZPL text file (ZeroMQ RFC 4): a ``metadata`` section of ``name = "value"``
lines and a ``curve`` section with ``public-key = "..."`` and, in the secret certificate only,
``secret-key = "..."`` (Z85 text). ``create_certificates(dir, name)`` writes ``name.key``
(public: give it to the peers that should trust you) and ``name.key_secret`` (keep it). Files
written by pyzmq or czmq load here and the reverse.

Differences from pyzmq, on purpose:

* The secret certificate is created with mode 0600 before any of it is written, and moved into
  place whole, so the secret is never readable by others, not even for a moment, and an
  existing file's looser mode is not inherited.
* The metadata is written into both files (as czmq does); pyzmq puts it only into the secret
  one. Metadata names and values that would not read back the same (line breaks, quotes of
  both kinds, names that look like key lines) are refused with ValueError.
* Reading looks for the keys in the ``curve`` section only, so a metadata entry cannot pass
  for a key.
"""

from __future__ import annotations

import datetime
import os
import re
import tempfile

from .._curve import curve_keypair

__all__ = ["create_certificates", "load_certificate", "load_certificates"]

PathLike = str | os.PathLike[str]

_PUBLIC_HEADER = """\
#   ZeroMQ CURVE public certificate, written by vmzmq on {when}.
#   Give it to the peers that should trust this key, by a channel that keeps it
#   from being altered on the way.

"""

_SECRET_HEADER = """\
#   ZeroMQ CURVE **secret** certificate, written by vmzmq on {when}.
#   Whoever reads this file can pass for its owner: keep it private and do not
#   relax its permissions.

"""

# ZPL names: letters, digits and $-_@.&+/ (RFC 4).
_NAME = re.compile(r"[A-Za-z0-9$\-_@.&+/]+\Z")


def _text(value: str | bytes, encoding: str = "utf-8") -> str:
    return value.decode(encoding) if isinstance(value, bytes) else str(value)


def _quoted(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("a certificate metadata value cannot hold a line break")
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    raise ValueError("a certificate metadata value cannot hold both kinds of quote")


def _render(
    header: str,
    public_key: str,
    secret_key: str | None,
    metadata: dict[str, str] | None,
) -> str:
    lines = [header, "metadata\n"]
    for name, value in (metadata or {}).items():
        key = _text(name)
        # pyzmq's reader takes any line starting with public-key/secret-key for the key.
        if not _NAME.match(key) or key.startswith(("public-key", "secret-key")):
            raise ValueError(f"{key!r} cannot be a certificate metadata name")
        lines.append(f"    {key} = {_quoted(_text(value))}\n")
    lines.append("curve\n")
    lines.append(f'    public-key = "{public_key}"\n')
    if secret_key is not None:
        lines.append(f'    secret-key = "{secret_key}"\n')
    return "".join(lines)


def _write_public(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _write_secret(path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    # mkstemp creates the file O_EXCL with mode 0600; fchmod makes it exactly 0600 whatever the
    # umask. Replacing the target afterwards means an existing file's mode never applies.
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
    try:
        with open(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def create_certificates(
    key_dir: PathLike, name: str, metadata: dict[str, str] | None = None
) -> tuple[str, str]:
    """Make a new key pair and write it to ``key_dir``: ``name.key`` (the public certificate)
    and ``name.key_secret`` (the secret one, mode 0600). Returns both paths, public first.

    Existing files of those names are replaced, as by pyzmq.
    """
    public_key, secret_key = curve_keypair()
    public_text, secret_text = public_key.decode("ascii"), secret_key.decode("ascii")
    base = os.path.join(os.fspath(key_dir), name)
    public_path, secret_path = f"{base}.key", f"{base}.key_secret"
    when = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
    # Both rendered before anything is written: bad metadata leaves no files behind.
    public_file = _render(_PUBLIC_HEADER.format(when=when), public_text, None, metadata)
    secret_file = _render(_SECRET_HEADER.format(when=when), public_text, secret_text, metadata)
    _write_secret(secret_path, secret_file)
    _write_public(public_path, public_file)
    return public_path, secret_path


def _value(text: bytes) -> bytes:
    text = text.strip()
    if text[:1] in (b'"', b"'"):
        end = text.find(text[:1], 1)
        return text[1:end] if end > 0 else text[1:]
    # An unquoted value ends at a comment (RFC 4).
    return text.split(b"#", 1)[0].strip()


def load_certificate(filename: PathLike) -> tuple[bytes, bytes | None]:
    """Read a certificate: ``(public_key, secret_key)``, Z85 bytes; ``secret_key`` is None in
    a public certificate. OSError if the file cannot be read, ValueError if it has no
    public key."""
    if not os.path.exists(filename):
        raise OSError(f"Invalid certificate file: {os.fspath(filename)}")
    public_key: bytes | None = None
    secret_key: bytes | None = None
    section = b""
    with open(filename, "rb") as f:
        for raw in f:
            line = raw.rstrip(b"\r\n")
            stripped = line.strip()
            if not stripped or stripped.startswith(b"#"):
                continue
            if line[:1] not in (b" ", b"\t"):
                section = stripped.split(b"#", 1)[0].strip()
                continue
            if section != b"curve" or b"=" not in stripped:
                continue
            name, _, value = stripped.partition(b"=")
            name = name.strip()
            if name == b"public-key":
                public_key = _value(value)
            elif name == b"secret-key":
                secret_key = _value(value)
    if public_key is None:
        raise ValueError(f"No public key found in {os.fspath(filename)}")
    return public_key, secret_key


def load_certificates(directory: PathLike = ".") -> dict[bytes, bool]:
    """The public keys of every ``*.key`` certificate in ``directory``, as
    ``{public_key: True}`` (what ``Authenticator.configure_curve`` trusts)."""
    if not os.path.isdir(directory):
        raise OSError(f"Invalid certificate directory: {os.fspath(directory)}")
    certs: dict[bytes, bool] = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            # Hidden files are skipped as by pyzmq's glob (and our half-written temp files).
            if entry.name.startswith(".") or not entry.name.endswith(".key"):
                continue
            if not entry.is_file():
                continue
            public_key, _ = load_certificate(entry.path)
            if public_key:
                certs[public_key] = True
    return certs
