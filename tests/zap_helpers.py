"""A ZAP handler for tests, bound at inproc://zeromq.zap.01 in a vmzmq or pyzmq context.

Written from RFC 27 alone (not with vmzmq.auth) so the engine's ZAP client is checked against
an independent handler. ``policy(request_frames) -> reply_frames_after_the_id`` decides; it
sees the request without the envelope: [b"1.0", id, domain, address, identity, mechanism,
*credentials].
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Policy = Callable[[list[bytes]], list[bytes] | None]


def allow_all(request: list[bytes]) -> list[bytes]:
    return [b"200", b"OK", b"anonymous", b""]


def plain_passwords(passwords: dict[bytes, bytes]) -> Policy:
    def policy(request: list[bytes]) -> list[bytes]:
        mechanism, creds = request[5], request[6:]
        if mechanism == b"PLAIN" and passwords.get(creds[0]) == creds[1]:
            return [b"200", b"OK", creds[0], b""]
        return [b"400", b"bad password", b"", b""]

    return policy


class ZapHandler:
    """Answers ZAP requests in a thread until ``stop()``; records every request it saw."""

    def __init__(self, lib: Any, ctx: Any, policy: Policy = allow_all) -> None:
        self.lib = lib
        self.policy = policy
        self.requests: list[list[bytes]] = []
        self.sock = ctx.socket(lib.ROUTER)
        self.sock.linger = 0
        self.sock.bind("inproc://zeromq.zap.01")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sock = self.sock
        while not self._stop.is_set():
            if not sock.poll(50):
                continue
            frames = sock.recv_multipart()
            envelope, request = frames[:2], frames[2:]
            self.requests.append(request)
            answer = self.policy(request)
            if answer is None:  # a handler that never answers
                continue
            if answer[:1] == [b"RAW"]:  # a malformed reply, frame by frame after the envelope
                sock.send_multipart([*envelope, *answer[1:]])
            else:
                sock.send_multipart([*envelope, b"1.0", request[1], *answer])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close(linger=0)
