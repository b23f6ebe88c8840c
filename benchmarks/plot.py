"""The growth plot: how time and memory grow with the number of peers and sockets, drawn from a
results file's scale rows as a hand-written SVG (no plotting library).

``python -m benchmarks --scale-rows --plot docs/scale.svg`` (run and draw) or
``python -m benchmarks --plot-from results.json --plot docs/scale.svg`` (redraw).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

COLORS = {"vmzmq": "#1f77b4", "pyzmq": "#d62728"}
WIDTH, HEIGHT = 960, 720
PANEL_W, PANEL_H = 430, 270
MARGIN_L, MARGIN_T = 70, 48  # inside a panel: room for the y labels, title and legend


@dataclass(frozen=True)
class Panel:
    title: str
    family: str  # the scale rows' "family" (router, sockets)
    rows: tuple[tuple[str, str], ...]  # (row, series label suffix); dashed after the first
    x_label: str
    y_label: str
    y: Callable[[float, int], float]  # (row value, n) -> plotted value
    log_y: bool


PANELS = (
    Panel("ROUTER with N DEALERs: time per request", "router", (("value", ""),),
          "DEALERs (log)", "us per request", lambda v, n: 1e6 / v, False),
    Panel("ROUTER with N idle connections: RSS growth", "router", (("idle_rss", ""),),
          "DEALERs (log)", "MiB (log)", lambda v, n: v * n / 1024, True),
    Panel("N sockets in one context: create, close", "sockets",
          (("create", " create"), ("close", " close")),
          "sockets (log)", "ms (log)", lambda v, n: v * n / 1000, True),
    Panel("N sockets in one context: RSS growth", "sockets", (("rss", ""),),
          "sockets (log)", "MiB (log)", lambda v, n: v * n / 1024, True),
)


def series(results: dict, panel: Panel) -> dict[str, list[tuple[int, float, float, float]]]:
    """``{label: [(n, median, low, high), ...]}`` of one panel, by library and row, sorted by
    n; low and high are the extreme samples."""
    out: dict[str, list[tuple[int, float, float, float]]] = {}
    for e in results.get("cases", []):
        sc = e.get("scale")
        if not sc or sc.get("family") != panel.family:
            continue
        for row, suffix in panel.rows:
            if sc.get("row", "value") != row:
                continue
            n = sc["n"]
            for lib, med in e.get("median", {}).items():
                samples = [s["value"] for s in e["samples"].get(lib, []) if s.get("value")]
                if not med or not samples:
                    continue
                ys = [panel.y(v, n) for v in samples]
                out.setdefault(lib + suffix, []).append((n, panel.y(med, n), min(ys), max(ys)))
    for points in out.values():
        points.sort()
    return out


def nice_ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        return [10.0**k for k in range(first, last + 1)]
    step = 10 ** math.floor(math.log10(hi / 4)) if hi > 0 else 1
    for m in (1, 2, 5, 10):
        if hi / (step * m) <= 6:
            step *= m
            break
    return [i * step for i in range(int(hi / step) + 2)]


def fmt_tick(v: float) -> str:
    if v >= 1000 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:g}"


def draw_panel(panel: Panel, data: dict, ox: float, oy: float) -> list[str]:
    out = [f'<g transform="translate({ox},{oy})">']
    out.append(f'<text x="{PANEL_W / 2}" y="16" text-anchor="middle" font-weight="bold">'
               f"{escape(panel.title)}</text>")
    pw, ph = PANEL_W - MARGIN_L - 10, PANEL_H - MARGIN_T - 45
    x0, y0 = MARGIN_L, MARGIN_T
    if not data:
        out.append(f'<text x="{PANEL_W / 2}" y="{PANEL_H / 2}" text-anchor="middle" '
                   'fill="#888">not in this run</text></g>')
        return out
    xs = sorted({p[0] for pts in data.values() for p in pts})
    ys = [v for pts in data.values() for p in pts for v in p[1:] if v > 0]
    lx_lo, lx_hi = math.log10(xs[0]), math.log10(xs[-1])
    if lx_hi == lx_lo:
        lx_lo, lx_hi = lx_lo - 0.5, lx_hi + 0.5
    else:
        pad = (lx_hi - lx_lo) * 0.08
        lx_lo, lx_hi = lx_lo - pad, lx_hi + pad
    yticks = nice_ticks(min(ys), max(ys), panel.log_y)
    y_lo, y_hi = yticks[0], yticks[-1]

    def px(x: float) -> float:
        return x0 + (math.log10(x) - lx_lo) / (lx_hi - lx_lo) * pw

    def py(y: float) -> float:
        if panel.log_y:
            frac = (math.log10(max(y, y_lo)) - math.log10(y_lo)) / (
                math.log10(y_hi) - math.log10(y_lo) or 1)
        else:
            frac = (y - y_lo) / ((y_hi - y_lo) or 1)
        return y0 + ph - frac * ph

    out.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" '
               'stroke="#444"/>')
    for t in yticks:
        yy = py(t)
        out.append(f'<line x1="{x0}" y1="{yy:.1f}" x2="{x0 + pw}" y2="{yy:.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{x0 - 5}" y="{yy + 4:.1f}" text-anchor="end">'
                   f"{fmt_tick(t)}</text>")
    for x in xs:
        xx = px(x)
        out.append(f'<line x1="{xx:.1f}" y1="{y0}" x2="{xx:.1f}" y2="{y0 + ph}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{xx:.1f}" y="{y0 + ph + 15}" text-anchor="middle">'
                   f"{fmt_tick(x)}</text>")
    out.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 32}" text-anchor="middle">'
               f"{escape(panel.x_label)}</text>")
    out.append(f'<text x="14" y="{y0 + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {y0 + ph / 2})">{escape(panel.y_label)}</text>')
    first_row = panel.rows[0][1]
    for label, pts in sorted(data.items()):
        lib = label.split(" ", 1)[0]
        color = COLORS.get(lib, "#555")
        dash = "" if label == lib + first_row else ' stroke-dasharray="6 4"'
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(n):.1f},{py(m):.1f}"
                        for i, (n, m, _lo, _hi) in enumerate(pts))
        out.append(f'<path class="series" data-series="{escape(label)}" d="{path}" '
                   f'fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for n, m, lo, hi in pts:
            out.append(f'<line x1="{px(n):.1f}" y1="{py(lo):.1f}" x2="{px(n):.1f}" '
                       f'y2="{py(hi):.1f}" stroke="{color}" stroke-width="1"/>')
            out.append(f'<circle cx="{px(n):.1f}" cy="{py(m):.1f}" r="3" fill="{color}">'
                       f"<title>{escape(label)} at {n}: {m:.4g} {escape(panel.y_label)}"
                       "</title></circle>")
    # legend: one line under the title, clear of the data
    lx, ly = 20.0, 36
    for label in sorted(data):
        lib = label.split(" ", 1)[0]
        dash = "" if label == lib + first_row else ' stroke-dasharray="6 4"'
        out.append(f'<line x1="{lx:.0f}" y1="{ly - 4}" x2="{lx + 22:.0f}" y2="{ly - 4}" '
                   f'stroke="{COLORS.get(lib, "#555")}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 27:.0f}" y="{ly}">{escape(label)}</text>')
        lx += 40 + 6.5 * len(label)
    out.append("</g>")
    return out


def svg(results: dict) -> str | None:
    """The plot as SVG text; None if the results have no scale rows."""
    data = [series(results, p) for p in PANELS]
    if not any(data):
        return None
    libs = results.get("libraries", {})
    caption = (
        f"vmzmq {libs.get('vmzmq', {}).get('version', '?')} vs pyzmq "
        f"{libs.get('pyzmq', {}).get('version', '?')} (libzmq "
        f"{libs.get('pyzmq', {}).get('libzmq', '?')}), tcp; medians of "
        f"{results.get('options', {}).get('repeat', '?')} sample(s), bars: extreme samples; "
        f"{results.get('started', '')}"
    )
    commit = results.get("commit") or ""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15" '
        'font-weight="bold">vmzmq and pyzmq as peers and sockets grow</text>',
        f'<text x="{WIDTH / 2}" y="40" text-anchor="middle">{escape(caption)}</text>',
    ]
    if commit:
        out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 10}" text-anchor="middle" '
                   f'fill="#666">commit {escape(commit.split()[0])}</text>')
    for i, (panel, d) in enumerate(zip(PANELS, data, strict=True)):
        ox = 40 + (i % 2) * (PANEL_W + 30)
        oy = 60 + (i // 2) * (PANEL_H + 50)
        out += draw_panel(panel, d, ox, oy)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_svg(results: dict, path: str | os.PathLike) -> bool:
    """Write the plot to ``path``; False (nothing written) if there are no scale rows."""
    text = svg(results)
    if text is None:
        return False
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return True
