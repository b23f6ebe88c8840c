"""Machine facts, ratios and the printed table."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from .cases import KIB

# -- the machine -------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_model": "?",
        "logical_cpus": os.cpu_count(),
        "physical_cores": None,
        "ram_bytes": None,
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "in_vsock_guest": os.environ.get("VMZMQ_IN_GUEST") == "1",
    }
    try:
        cores = set()
        phys = core = None
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and info["cpu_model"] == "?":
                    info["cpu_model"] = value
                elif key == "physical id":
                    phys = value
                elif key == "core id":
                    core = value
                elif key == "flags":
                    info["hypervisor"] = "hypervisor" in value.split()
                elif not key and phys is not None:
                    cores.add((phys, core))
                    phys = core = None
        if phys is not None:
            cores.add((phys, core))
        info["physical_cores"] = len(cores) or None
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["ram_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        info["affinity_cpus"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    return info


def git_commit(repo: Path) -> str | None:
    """The commit checked out at ``repo`` (any folder in a work tree), with a note if its
    ``src/`` has uncommitted changes."""
    try:
        top = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if top.returncode == 0 and top.stdout.strip():
            repo = Path(top.stdout.strip())
        out = subprocess.run(
            ["git", "-C", str(repo), "log", "--oneline", "-1"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    line = out.stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    return line + (" (+ uncommitted changes in src/)" if dirty else "")


# -- ratios ------------------------------------------------------------------------------------


def add_ratios(entry: dict) -> None:
    """Add value ratios and "x as fast" speeds of vmzmq against pyzmq and raw, the ratio of
    their CPU per message (all sides together), and whether the target is met: ``met_time``
    (the speed), ``met_cpu`` (the CPU condition, if the target has one) and ``met`` (both)."""
    med = entry["median"]
    lower = entry["better"] == "lower"
    v = med.get("vmzmq")
    cpu = entry.get("cpu_us_total_median", {})
    for other in ("pyzmq", "raw"):
        o = med.get(other)
        if v and o:
            entry[f"ratio_vs_{other}"] = v / o
            entry[f"speed_vs_{other}"] = o / v if lower else v / o
        else:
            entry[f"ratio_vs_{other}"] = None
            entry[f"speed_vs_{other}"] = None
        vc, oc = cpu.get("vmzmq"), cpu.get(other)
        entry[f"cpu_ratio_vs_{other}"] = vc / oc if vc and oc else None
    target = entry.get("target")
    if target:
        speed = entry.get(f"speed_vs_{target['against']}")
        met = None if speed is None else speed >= target["speed"]
        target["met_time"] = met
        if target.get("cpu") is not None:
            ratio = entry.get(f"cpu_ratio_vs_{target['against']}")
            target["met_cpu"] = None if ratio is None else ratio <= target["cpu"]
            if met is not False:
                met = target["met_cpu"] and met
        target["met"] = met


# -- formatting --------------------------------------------------------------------------------


def fmt_value(entry: dict, value: float | None) -> str:
    if value is None:
        return "-"
    unit = entry["unit"]
    if unit == "msg/s":
        if entry["size"] >= 64 * KIB:
            return f"{value * entry['size'] / 1e6:,.0f} MB/s"
        if value >= 1e6:
            return f"{value / 1e6:.2f}M msg/s"
        return f"{value / 1e3:.0f}k msg/s"
    if unit == "us":
        return f"{value:.1f} us"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if unit == "conn/s":
        return f"{value:,.0f} conn/s"
    if unit == "req/s":
        return f"{value / 1e3:.1f}k req/s"
    if unit in ("us/socket", "KiB/conn", "KiB/socket"):
        return f"{value:.1f} {unit}"
    return f"{value:.3g} {unit}"


MEMORY_UNITS = ("MiB", "KiB/conn", "KiB/socket")


def fmt_compare(entry: dict, other: str) -> str:
    if entry["unit"] in MEMORY_UNITS:
        ratio = entry.get(f"ratio_vs_{other}")
        return "-" if ratio is None else f"{ratio:.2f}x the memory"
    speed = entry.get(f"speed_vs_{other}")
    return "-" if speed is None else f"{speed:.2f}x as fast"


def fmt_target(entry: dict) -> str:
    target = entry.get("target")
    if not target:
        return ""
    met = target.get("met")
    verdict = "?" if met is None else ("met" if met else "MISSED")
    if met is False and target.get("met_cpu") is False:
        verdict = "MISSED (CPU)" if target.get("met_time") else "MISSED (time and CPU)"
    return f"{target['text']}: {verdict}"


def cell(entry: dict, lib: str) -> str:
    if lib in entry["unavailable"]:
        return "n/a"
    value = entry["median"].get(lib)
    errors = entry["errors"].get(lib)
    if value is None:
        return "error" if errors else "-"
    text = fmt_value(entry, value)
    if errors:
        text += f" ({len(errors)} failed)"
    return text


HEADERS = ("case", "vmzmq", "pyzmq", "vmzmq vs pyzmq", "target", "raw ceiling", "vmzmq vs raw")


def row(entry: dict) -> list[str]:
    if entry["status"] == "unavailable" and len(set(entry["unavailable"].values())) == 1:
        reason = next(iter(entry["unavailable"].values()))
        return [
            entry["name"],
            reason,
            "",
            "",
            entry["target"]["text"] if entry["target"] else "",
            "",
            "",
        ]
    raw = cell(entry, "raw") if "raw" in entry["samples"] or "raw" in entry["unavailable"] else ""
    return [
        entry["name"],
        cell(entry, "vmzmq"),
        cell(entry, "pyzmq"),
        fmt_compare(entry, "pyzmq"),
        fmt_target(entry),
        raw,
        fmt_compare(entry, "raw") if raw else "",
    ]


def table(results: dict) -> str:
    rows = [list(HEADERS)] + [row(e) for e in results["cases"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    out = [line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows[1:]]
    opts = results["options"]
    m = results["machine"]
    out.append("")
    out.append(
        f"medians of {opts['repeat']} sample(s) per library, taken alternately"
        f"{' (--quick: not a measurement)' if opts['quick'] else ''}"
        f"{busy_note(opts.get('busy'))}; "
        "'x as fast' is vmzmq's speed relative to the other "
        "(throughput ratio, or inverse latency ratio); '64KiB'/'1MiB' throughput in MB/s of "
        "payload; latency is one full round trip"
    )
    out.append(
        f"machine: {m['cpu_model']}, {m['logical_cpus']} CPUs, kernel {m['kernel']}, "
        f"{m['python']}; vmzmq {results['libraries'].get('vmzmq', {}).get('version', '?')}, "
        f"pyzmq {results['libraries'].get('pyzmq', {}).get('version', '?')} "
        f"(libzmq {results['libraries'].get('pyzmq', {}).get('libzmq', '?')})"
    )
    if results.get("commit"):
        out.append(f"commit: {results['commit']}")
    if results.get("vmzmq_commit"):
        vm = results["libraries"].get("vmzmq", {}).get("file", "?")
        out.append(f"vmzmq measured: {vm} at commit {results['vmzmq_commit']}")
    curve = results.get("curve")
    if curve and not curve.get("error"):
        out.append(
            f"CURVE rows: keys from {curve.get('generated_by')}'s curve_keypair() for this run "
            f"(server {curve.get('server_public')}, client {curve.get('client_public')})"
        )
    cpu = cpu_table(results)
    if cpu:
        out.append("")
        out.append(cpu)
    notes = []
    for e in results["cases"]:
        for lib, why in e["unavailable"].items():
            if e["status"] != "unavailable":
                notes.append(f"{e['name']} {lib}: {why}")
        for lib, errs in e["errors"].items():
            for err in errs:
                notes.append(f"{e['name']} {lib} failed: {err}")
    if notes:
        out.append("")
        out.extend(notes)
    return "\n".join(out)


def busy_note(busy: int | None) -> str:
    if not busy:
        return ""
    return f", with {busy} CPU{'s' if busy > 1 else ''} kept busy by another process (--busy)"


def cpu_table(results: dict) -> str:
    """Each side's CPU time per message (or round trip), medians, for the cases that have it:
    what a sample cost, which the machine's load changes less than it changes the rates."""
    rows = []
    for e in results["cases"]:
        med = e.get("cpu_us_median")
        if not med:
            continue
        cells = []
        for lib in ("vmzmq", "pyzmq", "raw"):
            sides = med.get(lib)
            cells.append(" / ".join(f"{v:.2f}" for v in sides.values()) if sides else "")
        sides = next(iter(med.values()))
        ratio = e.get("cpu_ratio_vs_pyzmq")
        if ratio is None and med.get("vmzmq") and med.get("pyzmq"):  # a file from before it
            ratio = sum(med["vmzmq"].values()) / (sum(med["pyzmq"].values()) or 1)
        rows.append([
            e["name"], CPU_PER.get(e["kind"], "message"), " / ".join(sides), *cells,
            "" if ratio is None else f"{ratio:.2f}x",
        ])
    if not rows:
        return ""
    head = ["case", "per", "sides", "vmzmq", "pyzmq", "raw", "vmzmq/pyzmq (sum)"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    title = (
        "CPU time per message (or round trip, connection, request, socket: see 'per') of each "
        "side's process(es), all threads, us (medians); the last column is vmzmq's sum of "
        "the sides over pyzmq's:"
    )
    lines = [
        title,
        line(head),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    return "\n".join(lines + [line(r) for r in rows])


#: what a row kind's CPU time is divided by
CPU_PER = {
    "lat": "round trip",
    "conn": "connection",
    "fanout": "delivery",
    "scale_router": "request",
    "scale_pubsub": "delivery",
    "scale_sockets": "socket",
    "rss": "message sent",
}


def progress_line(entry: dict) -> str:
    parts = [entry["name"]]
    if entry["status"] == "unavailable":
        parts.append(next(iter(entry["unavailable"].values()), "unavailable"))
        return "  ".join(parts)
    for lib, samples in entry["samples"].items():
        values = " ".join(fmt_value(entry, s["value"]).split(" ")[0] for s in samples)
        parts.append(f"{lib}: {values or '-'}")
        if entry["errors"].get(lib):
            parts.append(f"({len(entry['errors'][lib])} failed)")
    if entry.get("speed_vs_pyzmq") is not None:
        parts.append(fmt_compare(entry, "pyzmq") + " vs pyzmq")
    return "  ".join(parts)
