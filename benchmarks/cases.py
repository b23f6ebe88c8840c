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
    """A goal from issue 20 (issue 5 where 20 sets none, issue 15 for CURVE): vmzmq's speed
    relative to ``against`` must be >= ``speed``.

    Speed is "x as fast": value ratio for throughput, inverse ratio for latency and memory.
    ``cpu``, if set, is a second condition: vmzmq's CPU time per message (all sides together)
    must be at most ``cpu`` times the other's ("MISSED (CPU)" otherwise).
    """

    against: str  # "pyzmq" or "raw"
    speed: float
    text: str
    cpu: float | None = None


@dataclass(frozen=True)
class Row:
    """One of several rows a case's samples make (the scale cases measure more than one thing
    per sample): its name is the case's name plus ``.suffix`` (the case's own name if the
    suffix is empty), its value the sampler's ``rows[suffix]["value"]``."""

    suffix: str
    unit: str
    better: str
    description: str
    target: Target | None = None


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # thr, thr_inproc, lat, fanout, rss, conn, scale_router, scale_pubsub, scale_sockets
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
    rows: tuple[Row, ...] = ()  # several rows from one sample (empty: one row, ``name``)
    optional: bool = False  # not in the default run: --scale-rows, or named by --only

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]

    def row_names(self) -> list[str]:
        if not self.rows:
            return [self.name]
        return [self.name + ("." + r.suffix if r.suffix else "") for r in self.rows]


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
# tcp and ipc (issue 20: 64 B >= 1.3x, 1 KiB >= 1.2x; 64 KiB and 1 MiB as in issue 5)
THR_TARGETS = {
    64: Target("pyzmq", 1.3, ">= 1.30x"),
    KIB: Target("pyzmq", 1.2, ">= 1.20x"),
    64 * KIB: Target("pyzmq", 1.0, ">= 1.00x"),
    MIB: Target("pyzmq", 1.2, ">= 1.20x"),
}
# inproc: issue 5's (issue 20 sets none)
INPROC_TARGETS = {
    64: Target("pyzmq", 0.8, ">= 0.80x"),
    64 * KIB: Target("pyzmq", 1.0, ">= 1.00x"),
    MIB: Target("pyzmq", 1.2, ">= 1.20x"),
}
# Round trips (issue 20): with the spin (the default) at most 0.3x pyzmq's time for at most
# 2x its CPU per round trip (client and server together); with VMZMQ_SPIN_US=0 at most 1.0x.
LAT_TARGET = Target("pyzmq", 1 / 0.3, "<= 0.30x time, <= 2x CPU", cpu=2.0)
LAT_NOSPIN_TARGET = Target("pyzmq", 1.0, "<= 1.00x time")
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
# vmci (issue 20): against the raw AF_VSOCK loop of the same run
VMCI_THR_TARGETS = {
    64: Target("raw", 0.7, ">= 0.70x raw"),
    64 * KIB: Target("raw", 0.8, ">= 0.80x raw"),
    MIB: Target("raw", 0.9, ">= 0.90x raw"),
}
VMCI_LAT_TARGET = Target("raw", 0.5, "<= 2.00x raw time")
FANOUT_TARGET = Target("pyzmq", 1.0, ">= 1.00x")
CONN_TARGET = Target("pyzmq", 1.0, ">= 1.00x")
# scale rows (issue 20): throughput >= 1.0x, memory per idle connection <= 1.0x libzmq's
SCALE_THR_TARGET = Target("pyzmq", 1.0, ">= 1.00x")
SCALE_MEM_TARGET = Target("pyzmq", 1.0, "<= 1.00x memory")
#: The sizes the scale cases run at (the plot's x axis); the issue's targets are at the
#: largest ROUTER size and at the PUB case.
ROUTER_DEALERS = (10, 100, 1000)
SOCKET_COUNTS = (100, 1000, 10_000)
NOSPIN = ".nospin"


def lat_cases(
    name: str, transport: str, description: str, size: int, params: dict,
    target: Target | None, nospin_target: Target | None,
) -> list[Case]:
    """A latency case twice: as it is (vmzmq spins before it sleeps) and with the spin off
    (``VMZMQ_SPIN_US=0`` in every worker's environment: vmzmq's readers and the raw
    ping-pong read it; pyzmq ignores it, so its samples are the same in both rows)."""
    common = {"unit": "us", "better": "lower", "size": size}
    return [
        Case(name, "lat", transport, description, 20_000, 1_000, target=target,
             params=params, **common),
        Case(name + NOSPIN, "lat", transport, description + "; with VMZMQ_SPIN_US=0 (no spin)",
             20_000, 1_000, target=nospin_target, params={**params, "spin": False}, **common),
    ]


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
                target=INPROC_TARGETS.get(size),
            )
        )
    for transport in ("tcp", "ipc"):
        for size in (64, KIB):
            cases += lat_cases(
                f"lat.{transport}.{size_name(size)}",
                transport,
                f"REQ/REP round trip over {transport}, {size_name(size)} messages "
                f"(raw: a bare ping-pong of ZMTP frames)",
                size,
                {"warmup": 200},
                LAT_TARGET,
                LAT_NOSPIN_TARGET,
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
        cases += lat_cases(
            f"lat.{transport}.curve.64B",
            transport,
            f"lat.{transport}.64B with CURVE: the REP is the CURVE server, the REQ the "
            "client (raw: a ping-pong of MESSAGE frames boxed and opened by libsodium "
            "through PyNaCl's cffi module)",
            64,
            {"warmup": 200, "curve": True},
            None,  # issue 15 set no latency target for CURVE
            None,
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
            target=FANOUT_TARGET,
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
                target=CONN_TARGET,
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
                target=VMCI_THR_TARGETS.get(size),
            )
        )
    for size in (64, KIB):
        cases += lat_cases(
            f"lat.vmci.{size_name(size)}",
            "vmci",
            f"REQ/REP round trip over vmci (AF_VSOCK loopback), {size_name(size)} messages "
            "(raw: a bare AF_VSOCK ping-pong)",
            size,
            {"warmup": 200},
            VMCI_LAT_TARGET,
            VMCI_LAT_TARGET,
        )
    return cases + scale_cases()


def scale_cases() -> list[Case]:
    """The scale cases (issue 20), vmzmq against pyzmq over tcp, each at several sizes for the
    growth plot; not in the default run (``--scale-rows``, or name them with ``--only``)."""
    cases: list[Case] = []
    for n in ROUTER_DEALERS:
        big = n == max(ROUTER_DEALERS)
        cases.append(
            Case(
                f"scale.router.tcp.{n}",
                "scale_router",
                "tcp",
                f"one ROUTER process serving {n} DEALERs (in up to 4 processes) over tcp",
                30_000,
                1_000,
                size=64,
                libs=("vmzmq", "pyzmq"),
                params={"dealers": n, "procs": 4},
                optional=True,
                rows=(
                    Row(
                        "",
                        "req/s",
                        "higher",
                        f"requests/s: each of {n} DEALERs sends a 64B request, then each waits "
                        "for its reply, in rounds; the ROUTER echoes them",
                        SCALE_THR_TARGET if big else None,
                    ),
                    Row(
                        "idle_rss",
                        "KiB/conn",
                        "lower",
                        f"the ROUTER's RSS with {n} idle connections (each has made one round "
                        f"trip) minus its RSS with none, divided by {n}",
                        SCALE_MEM_TARGET if big else None,
                    ),
                ),
            )
        )
    cases.append(
        Case(
            "scale.pubsub.tcp.100",
            "scale_pubsub",
            "tcp",
            "one PUB, 100 SUB sockets (4 processes of 25) over tcp, 1000 distinct topics "
            "(10 per SUB), lossless (HWM 0); the PUB cycles through the topics, 64B messages; "
            "messages delivered per second, all subscribers together",
            200_000,
            5_000,
            size=64,
            libs=("vmzmq", "pyzmq"),
            target=SCALE_THR_TARGET,
            params={"subscribers": 100, "topics": 1000, "procs": 4},
            optional=True,
        )
    )
    for n in SOCKET_COUNTS:
        cases.append(
            Case(
                f"scale.sockets.{n}",
                "scale_sockets",
                "-",
                f"{n} DEALER sockets in one context (not connected)",
                n,
                n,
                libs=("vmzmq", "pyzmq"),
                params={"sockets": n},
                scaled=False,
                optional=True,
                rows=(
                    Row("create", "us/socket", "lower",
                        f"time to create {n} sockets, per socket"),
                    Row("close", "us/socket", "lower",
                        f"time to close {n} sockets (linger 0) and terminate the context, "
                        "per socket"),
                    Row("rss", "KiB/socket", "lower",
                        f"RSS with {n} sockets minus RSS with one, per socket"),
                ),
            )
        )
    return cases
