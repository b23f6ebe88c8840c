"""The benchmark cases: what each measures, how many messages, and the target it has.

Counts are sized so that one sample takes roughly 0.3-2 s on a 2-core host for the slower of
the two libraries; ``--quick`` uses ``quick_count`` and ``--scale`` multiplies both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KIB = 1024
MIB = 1024 * 1024

#: Libraries measured, in the order they alternate within a case.
LIBS = ("vmzmq", "pyzmq", "raw")


@dataclass(frozen=True)
class Target:
    """A goal from issue 5 (issue 15 for CURVE): vmzmq's speed relative to ``against`` must be
    >= ``speed``.

    Speed is "x as fast": value ratio for throughput, inverse ratio for latency.
    """

    against: str  # "pyzmq" or "raw"
    speed: float
    text: str


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # thr, thr_inproc, lat, fanout, rss, conn
    transport: str
    description: str
    count: int
    quick_count: int
    size: int = 0
    unit: str = "msg/s"
    better: str = "higher"  # "higher" or "lower"
    libs: tuple[str, ...] = ("vmzmq", "pyzmq", "raw")
    target: Target | None = None
    params: dict = field(default_factory=dict)
    scaled: bool = True  # whether --scale applies to the count

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]


def size_name(size: int) -> str:
    if size >= MIB:
        return f"{size // MIB}MiB"
    if size >= KIB:
        return f"{size // KIB}KiB"
    return f"{size}B"


# messages per sample (full, quick) for each size
THR_COUNTS = {
    64: (600_000, 20_000),
    KIB: (400_000, 10_000),
    64 * KIB: (30_000, 1_000),
    MIB: (1_500, 100),
}
THR_TARGETS = {
    64: Target("pyzmq", 0.8, ">= 0.80x"),
    64 * KIB: Target("pyzmq", 1.0, ">= 1.00x"),
    MIB: Target("pyzmq", 1.2, ">= 1.20x"),
}
LAT_TARGET = Target("pyzmq", 1.25, "<= 0.80x time")
# CURVE rows (issue 15): vmzmq's CURVE against libzmq's CURVE, both with the run's keys.
CURVE_THR_COUNTS = {
    64: (150_000, 5_000),
    KIB: (100_000, 5_000),
    64 * KIB: (6_000, 300),
    MIB: (300, 30),
}
CURVE_THR_TARGETS = {
    64: Target("pyzmq", 0.5, ">= 0.50x"),
    MIB: Target("pyzmq", 1.0, ">= 1.00x"),
}
VMCI_THR_TARGET = Target("raw", 0.8, ">= 0.80x raw")


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for transport in ("tcp", "ipc"):
        for size, (count, quick) in THR_COUNTS.items():
            cases.append(
                Case(
                    f"thr.{transport}.{size_name(size)}",
                    "thr",
                    transport,
                    f"PUSH -> PULL throughput between two processes over {transport}, "
                    f"{size_name(size)} messages",
                    count,
                    quick,
                    size=size,
                    target=THR_TARGETS.get(size),
                )
            )
    count, quick = THR_COUNTS[MIB]
    cases.append(
        Case(
            "thr.ipc.1MiB.sndbuf",
            "thr",
            "ipc",
            "thr.ipc.1MiB with ZMQ_SNDBUF 2 MiB on the PUSH, set the same way in both libraries "
            "(vmzmq applies it to ipc, libzmq only to tcp; raw: SO_SNDBUF 2 MiB)",
            count,
            quick,
            size=MIB,
            target=THR_TARGETS[MIB],
            params={"sndbuf": 2 * MIB},
        )
    )
    for size, (count, quick) in THR_COUNTS.items():
        cases.append(
            Case(
                f"thr.inproc.{size_name(size)}",
                "thr_inproc",
                "inproc",
                "PUSH -> PULL throughput between two threads over inproc, "
                f"{size_name(size)} messages",
                count,
                quick,
                size=size,
                libs=("vmzmq", "pyzmq"),
                target=THR_TARGETS.get(size),
            )
        )
    for transport in ("tcp", "ipc"):
        for size in (64, KIB):
            cases.append(
                Case(
                    f"lat.{transport}.{size_name(size)}",
                    "lat",
                    transport,
                    f"REQ/REP round trip over {transport}, {size_name(size)} messages "
                    f"(raw: a bare ping-pong of ZMTP frames)",
                    20_000,
                    1_000,
                    size=size,
                    unit="us",
                    better="lower",
                    target=LAT_TARGET,
                    params={"warmup": 200},
                )
            )
    for transport in ("tcp", "ipc"):
        for size, (count, quick) in CURVE_THR_COUNTS.items():
            cases.append(
                Case(
                    f"thr.{transport}.curve.{size_name(size)}",
                    "thr",
                    transport,
                    f"thr.{transport}.{size_name(size)} with CURVE: the PULL is the CURVE "
                    "server, the PUSH the client, both libraries with the run's key pairs "
                    "(raw: the same MESSAGE frames boxed and opened by libsodium through "
                    "PyNaCl's cffi module, no handshake)",
                    count,
                    quick,
                    size=size,
                    target=CURVE_THR_TARGETS.get(size),
                    params={"curve": True},
                )
            )
    for transport in ("tcp", "ipc"):
        cases.append(
            Case(
                f"lat.{transport}.curve.64B",
                "lat",
                transport,
                f"lat.{transport}.64B with CURVE: the REP is the CURVE server, the REQ the "
                "client (raw: a ping-pong of MESSAGE frames boxed and opened by libsodium "
                "through PyNaCl's cffi module)",
                20_000,
                1_000,
                size=64,
                unit="us",
                better="lower",
                params={"warmup": 200, "curve": True},
            )
        )
    cases.append(
        Case(
            "fanout.tcp.64B",
            "fanout",
            "tcp",
            "PUB -> 8 SUB processes over tcp, 64B messages, lossless (HWM 0); "
            "messages delivered per second, all subscribers together",
            60_000,
            3_000,
            size=64,
            libs=("vmzmq", "pyzmq"),
            params={"subscribers": 8},
        )
    )
    cases.append(
        Case(
            "rss.queued.1KiB",
            "rss",
            "tcp",
            "peak RSS growth of a PULL (RCVHWM 200000) that does not read while a peer pushes "
            "100k 1KiB messages over tcp: all are queued in the library "
            "(raw: the same messages received and held as bytes in a deque)",
            100_000,
            20_000,
            size=KIB,
            unit="MiB",
            better="lower",
            scaled=False,
            params={"rcvhwm": 200_000, "blocking": True},
        )
    )
    cases.append(
        Case(
            "rss.hwm.1KiB",
            "rss",
            "tcp",
            "peak RSS growth of a PULL at its default HWM (1000) that does not read while a peer "
            "tries to push 100k 1KiB messages over tcp: memory must stay bounded",
            100_000,
            20_000,
            size=KIB,
            unit="MiB",
            better="lower",
            libs=("vmzmq", "pyzmq"),
            scaled=False,
            params={"rcvhwm": None, "blocking": False},
        )
    )
    for transport in ("tcp", "ipc"):
        cases.append(
            Case(
                f"conn.{transport}",
                "conn",
                transport,
                f"connection setup over {transport}: new DEALER, connect to a ROUTER, handshake, "
                "send, receive the reply, close; sequential (raw: connect, send, recv, close)",
                1_000,
                100,
                unit="conn/s",
                params={"warmup": 10},
            )
        )
    for size in (64, KIB, 64 * KIB, MIB):
        count, quick = THR_COUNTS[size]
        cases.append(
            Case(
                f"thr.vmci.{size_name(size)}",
                "thr",
                "vmci",
                f"PUSH -> PULL throughput between two processes over vmci (AF_VSOCK loopback), "
                f"{size_name(size)} messages (raw: a bare AF_VSOCK stream of the same frames)",
                count,
                quick,
                size=size,
                target=VMCI_THR_TARGET if size == MIB else None,
            )
        )
    for size in (64, KIB):
        cases.append(
            Case(
                f"lat.vmci.{size_name(size)}",
                "lat",
                "vmci",
                f"REQ/REP round trip over vmci (AF_VSOCK loopback), {size_name(size)} messages "
                "(raw: a bare AF_VSOCK ping-pong)",
                20_000,
                1_000,
                size=size,
                unit="us",
                better="lower",
                params={"warmup": 200},
            )
        )
    return cases
