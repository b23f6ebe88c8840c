"""What every harness shares: a pure-Python input reader, chunking plans, fixed CURVE keys.

Nothing here imports atheris: a harness's ``check(data)`` must run the same way under libFuzzer
and when the test suite replays the kept corpus, so inputs are decoded by :class:`Reader` (not
atheris's ``FuzzedDataProvider``) and anything random (chunk sizes, CURVE's short-term keys and
nonces) is derived from the input.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class Reader:
    """Decodes a fuzz input front to back. Past the end, every read answers zeros/empty, so
    any input is a valid program for a harness (libFuzzer mutates lengths freely)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        pos = self.pos
        if pos >= len(self.data):
            return 0
        self.pos = pos + 1
        return self.data[pos]

    def uint(self, size: int) -> int:
        """A big-endian unsigned integer of ``size`` octets (short at the end: what is left)."""
        return int.from_bytes(self.take(size), "big")

    def sint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big", signed=True)

    def flag(self) -> bool:
        return bool(self.byte() & 1)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.byte() % len(options)]

    def take(self, size: int) -> bytes:
        pos = self.pos
        out = self.data[pos : pos + size]
        self.pos = pos + len(out)
        return out

    def fixed(self, size: int) -> bytes:
        """Exactly ``size`` octets (zeros past the end)."""
        return self.take(size).ljust(size, b"\0")

    def sized(self, length_octets: int = 1) -> bytes:
        """Bytes preceded by their length (``length_octets`` big-endian octets)."""
        return self.take(self.uint(length_octets))

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out


def chunk_sizes(seed: int) -> Iterator[int]:
    """An endless, seed-determined mix of read sizes: single octets, headers' worth, small and
    medium reads, and 'everything at once' (a huge size)."""
    rng = random.Random(seed)
    while True:
        kind = rng.randrange(8)
        if kind == 0:
            yield 1
        elif kind == 1:
            yield rng.randrange(2, 10)
        elif kind in (2, 3):
            yield rng.randrange(1, 64)
        elif kind in (4, 5):
            yield rng.randrange(64, 1200)
        elif kind == 6:
            yield rng.randrange(1, 70000)
        else:
            yield 1 << 30


def as_buffer(chunk: bytes, kind: int) -> Any:
    """The same octets as ``bytes``, ``bytearray`` or ``memoryview`` (receive takes all three)."""
    if kind == 1:
        return bytearray(chunk)
    if kind == 2:
        return memoryview(chunk)
    return chunk


# --- CURVE: fixed long-term keys, deterministic short-term keys and nonces --------------------

# Long-term key pairs made from fixed seeds, so corpus files mean the same thing every run.
SERVER_SEED = b"vmzmq-fuzz-curve-server-key-seed"
CLIENT_SEED = b"vmzmq-fuzz-curve-client-key-seed"


def seed_keypair(seed: bytes) -> tuple[bytes, bytes]:
    from nacl.bindings import crypto_box_seed_keypair

    return crypto_box_seed_keypair(hashlib.sha256(seed).digest())


@contextlib.contextmanager
def deterministic_curve() -> Iterator[None]:
    """Make CURVE's short-term key pairs, cookie keys and random nonces a function of their
    call order, for the duration of one harness run (the module is restored afterwards, so
    nothing else in a test process is affected)."""
    from nacl.bindings import crypto_box_seed_keypair

    from vmzmq.zmtp import curve

    counter = [0]

    def stream(label: bytes, size: int) -> bytes:
        counter[0] += 1
        return hashlib.shake_256(label + counter[0].to_bytes(4, "big")).digest(size)

    saved = curve.crypto_box_keypair, curve.randombytes
    curve.crypto_box_keypair = lambda: crypto_box_seed_keypair(stream(b"keypair", 32))
    curve.randombytes = lambda size: stream(b"random", size)
    try:
        yield
    finally:
        curve.crypto_box_keypair, curve.randombytes = saved


def crash(message: str) -> AssertionError:
    """The exception a harness raises when an invariant fails (never a bare ``assert``: the
    checks must hold under ``python -O`` too)."""
    return AssertionError(message)
