"""vmzmq sockets in a virtio guest, driven from a host-side test, for the virtio tests.

The guest runs this file as a script (``python -u tests/virtio_peer.py``): it makes one vmzmq
context and then executes requests read from stdin, one JSON object a line, answering each
with one ``R <json>`` line on stdout. One guest process serves any number of sockets and test
cases (Python under TCG starts slowly: 10-40x the host), and the host sees its sockets as
``RemoteSocket``s, shaped enough like ``vmzmq.Socket`` (send/recv and their multipart forms,
poll, options as attributes or through setsockopt, bind/connect, last_endpoint) that the
checks of ``socket_pairs.py`` run unchanged with one side (or both) in a guest.

Large messages never cross the control channel: ``send_blob`` makes a message of given sizes
in the guest and ``recv_digest`` answers with each part's length and SHA-256.

Host side::

    peer = GuestPeer(guest)                  # guest: a virtio_guest.Guest
    rep = peer.socket(vmzmq.REP, rcvtimeo=60000)
    rep.bind("vmci://*:5555")
    ...
    peer.close()
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import vmzmq

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: How long a guest-side blocking recv waits before it answers EAGAIN (ms); a host-side call
#: waits longer for the answer, so that a slow guest reports instead of the host timing out.
GUEST_RCVTIMEO = 90_000
CALL_TIMEOUT = 300.0


def blob(size: int, seed: int = 0) -> bytes:
    """size octets of a pattern that depends on seed (the same on both sides)."""
    unit = bytes((i * 7 + seed) % 251 for i in range(251))
    return (unit * (size // 251 + 1))[:size]


def digest(parts: list[bytes]) -> list[list[Any]]:
    return [[len(p), hashlib.sha256(p).hexdigest()] for p in parts]


def _enc(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [_enc(v) for v in value]
    return value


def _dec(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_dec(v) for v in value]
    return value


# =============================================================================== guest side


class _Server:
    def __init__(self) -> None:
        self.ctx = vmzmq.Context()
        self.sockets: dict[int, vmzmq.Socket] = {}
        self.next_id = 1

    def handle(self, req: dict) -> Any:
        op = req["op"]
        if op == "socket":
            s = self.ctx.socket(req["kind"])
            s.linger = 0
            s.rcvtimeo = GUEST_RCVTIMEO
            s.sndtimeo = GUEST_RCVTIMEO
            for name, value in req.get("opts", {}).items():
                setattr(s, name, _dec(value))
            sid = self.next_id
            self.next_id += 1
            self.sockets[sid] = s
            return sid
        if op == "pid":
            return os.getpid()
        if op == "cid":
            return vmzmq.vmci.get_local_cid()
        s = self.sockets[req["sid"]]
        if op == "set":
            setattr(s, req["name"], _dec(req["value"]))
        elif op == "get":
            return _enc(getattr(s, req["name"]))
        elif op == "setsockopt":
            s.setsockopt(req["opt"], _dec(req["value"]))
        elif op == "getsockopt":
            return _enc(s.getsockopt(req["opt"]))
        elif op == "bind":
            s.bind(req["endpoint"])
            return s.last_endpoint.decode()
        elif op in ("connect", "unbind", "disconnect"):
            getattr(s, op)(req["endpoint"])
        elif op == "send":
            s.send_multipart(_dec(req["parts"]), flags=req.get("flags", 0))
        elif op == "recv":
            return _enc(s.recv_multipart(flags=req.get("flags", 0)))
        elif op == "poll":
            return s.poll(req["timeout"], req.get("flags", vmzmq.POLLIN))
        elif op == "send_blob":
            s.send_multipart([blob(n, req.get("seed", 0)) for n in req["sizes"]],
                             flags=req.get("flags", 0))
        elif op == "recv_digest":
            return digest(s.recv_multipart(flags=req.get("flags", 0)))
        elif op == "kernel_options":  # each AF_VSOCK stream of the socket, as the kernel has it
            with s._core.lock:
                socks = [c.sock for c in s._core.connections]
                socks += [lst.sock for lst in s._core.listeners.values()]
            return [vmzmq.vmci.read_kernel_options(x) for x in socks]
        elif op == "echo":  # receive req["count"] messages and send each back
            for _ in range(req["count"]):
                s.send_multipart(s.recv_multipart())
        elif op == "close":
            s.close(linger=req.get("linger", 0))
            del self.sockets[req["sid"]]
        else:
            raise ValueError(f"unknown op {op!r}")
        return None

    def serve(self) -> int:
        print("PEER READY", os.getpid(), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            req = json.loads(line)
            if req["op"] == "exit":
                break
            try:
                answer = {"ok": self.handle(req)}
            except vmzmq.ZMQError as exc:
                answer = {"errno": exc.errno, "msg": str(exc)}
            except Exception as exc:  # reported to the host test, which fails with it
                answer = {"errno": None, "msg": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write("R " + json.dumps(answer) + "\n")
            sys.stdout.flush()
        for s in self.sockets.values():
            s.close(linger=0)
        self.ctx.term()
        return 0


# =============================================================================== host side


class GuestPeerError(AssertionError):
    """The guest peer process did not answer (died, hung); carries its stderr."""


class GuestPeer:
    """One guest process serving vmzmq sockets to the host (see the module docstring)."""

    def __init__(self, guest: Any, *, extra_env: dict[str, str] | None = None,
                 start_timeout: float = 600.0) -> None:
        self.guest = guest
        self.proc = guest.run([sys.executable, "-u", str(HERE / "virtio_peer.py")], text=True,
                              cwd=str(REPO), extra_env=extra_env)
        try:
            line = self.proc.stdout.wait_for("^PEER READY", timeout=start_timeout)
        except (TimeoutError, EOFError) as exc:
            raise GuestPeerError(f"guest peer did not start: {exc}{self._stderr()}") from None
        self.pid = int(line.split()[2])

    def _stderr(self, timeout: float = 1.0) -> str:
        """What the guest process wrote to stderr so far (its log: vmzmq's warnings)."""
        try:
            return "\nguest stderr: " + self.proc.stderr.read1(timeout=timeout)
        except (TimeoutError, OSError):
            return ""

    def call(self, op: str, *, deadline: float = CALL_TIMEOUT, **args: Any) -> Any:
        """Run op in the guest; its answer, or what it raised (ZMQError with its errno)."""
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        try:
            line = self.proc.stdout.wait_for("^R ", timeout=deadline)
        except (TimeoutError, EOFError) as exc:
            raise GuestPeerError(f"guest peer: no answer to {op}: {exc}{self._stderr()}"
                                 ) from None
        answer = json.loads(line[2:])
        if "ok" in answer:
            return _dec(answer["ok"])
        if answer["errno"] is None:
            raise GuestPeerError(f"guest peer: {op} failed: {answer['msg']}{self._stderr(0)}")
        raise vmzmq.ZMQError(answer["errno"], f"in the guest: {op}: {answer['msg']}"
                             f"{self._stderr(0)}")

    def socket(self, kind: int, **opts: Any) -> RemoteSocket:
        sid = self.call("socket", kind=kind, opts={k: _enc(v) for k, v in opts.items()})
        return RemoteSocket(self, sid, kind)

    def kill(self) -> None:
        """SIGKILL the guest process (its sockets die with it, without a goodbye)."""
        self.proc.kill()
        self.proc.wait(timeout=120)

    def close(self) -> None:
        if self.proc.returncode is not None or self.proc.lost:
            return
        try:
            self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired, AssertionError):
            pass
        if self.proc.returncode is None and not self.proc.lost:
            self.kill()

    def __enter__(self) -> GuestPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteSocket:
    """A vmzmq socket living in a guest peer; unknown attributes are socket options."""

    _own = ("peer", "sid", "socket_type", "closed")

    def __init__(self, peer: GuestPeer, sid: int, kind: int) -> None:
        object.__setattr__(self, "peer", peer)
        object.__setattr__(self, "sid", sid)
        object.__setattr__(self, "socket_type", kind)
        object.__setattr__(self, "closed", False)

    def _call(self, op: str, **args: Any) -> Any:
        return self.peer.call(op, sid=self.sid, **args)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._call("get", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._own:
            object.__setattr__(self, name, value)
        else:
            self._call("set", name=name, value=_enc(value))

    def __repr__(self) -> str:
        return f"<RemoteSocket cid={self.peer.guest.cid} sid={self.sid} type={self.socket_type}>"

    def setsockopt(self, opt: int, value: Any) -> None:
        self._call("setsockopt", opt=int(opt), value=_enc(value))

    def getsockopt(self, opt: int) -> Any:
        return self._call("getsockopt", opt=int(opt))

    @property
    def last_endpoint(self) -> bytes:
        return self._call("get", name="last_endpoint")

    def bind(self, endpoint: str) -> str:
        return self._call("bind", endpoint=endpoint)

    def connect(self, endpoint: str) -> None:
        self._call("connect", endpoint=endpoint)

    def unbind(self, endpoint: str) -> None:
        self._call("unbind", endpoint=endpoint)

    def disconnect(self, endpoint: str) -> None:
        self._call("disconnect", endpoint=endpoint)

    def send_multipart(self, parts: list[bytes], flags: int = 0, **_: Any) -> None:
        self._call("send", parts=_enc(list(parts)), flags=flags)

    def send(self, data: bytes, flags: int = 0, **_: Any) -> None:
        self._call("send", parts=_enc([data]), flags=flags)

    def recv_multipart(self, flags: int = 0, **_: Any) -> list[bytes]:
        return self._call("recv", flags=flags)

    def recv(self, flags: int = 0, **_: Any) -> bytes:
        parts = self.recv_multipart(flags)
        assert len(parts) == 1, f"recv() on a multipart message {parts!r}"
        return parts[0]

    def poll(self, timeout: int | None = None, flags: int = vmzmq.POLLIN) -> int:
        return self._call("poll", timeout=-1 if timeout is None else timeout, flags=flags)

    def send_blob(self, sizes: list[int], seed: int = 0) -> None:
        self._call("send_blob", sizes=sizes, seed=seed)

    def recv_digest(self) -> list[list[Any]]:
        return self._call("recv_digest")

    def kernel_options(self) -> list[dict[str, int]]:
        """vmzmq.vmci.read_kernel_options of the socket's connections, then its listeners."""
        return self._call("kernel_options")

    def echo(self, count: int = 1) -> None:
        self._call("echo", count=count)

    def close(self, linger: int = 0) -> None:
        if not self.closed:
            object.__setattr__(self, "closed", True)
            self._call("close", linger=linger)


if __name__ == "__main__":
    sys.exit(_Server().serve())
