"""Light inline-SVG charts for widgets that must follow typing (no matplotlib, no PNG).

A panel is a few ``<path>`` elements and tick labels (~2-4 kB): it is rebuilt as a string in
well under a millisecond and sent in an ``ipywidgets.HTML`` value, where re-encoding a
matplotlib PNG costs ~0.1-0.5 s. Static exports show it as is (no kernel needed).
Matplotlib stays for figures people export (``CompareMetrics.figure``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vecnb.widgets._common import esc

__all__ = ["histogram_panel", "norm_panel", "panel_row"]

W, H = 250, 190                    # one panel, px
L, R, T, B = 34, 8, 20, 34         # margins: left (y labels), right, top (title), bottom (x labels)
_FONT = 'font-family="sans-serif" font-size="10"'


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _stairs(counts: np.ndarray, edges: np.ndarray, sx, sy) -> str:
    """A filled step path (like ``matplotlib.axes.Axes.stairs(fill=True)``)."""
    xs, ys = sx(edges), sy(np.asarray(counts, dtype=float))
    base = sy(np.zeros(1))[0]
    pts = [f"M{xs[0]:.1f},{base:.1f}"]
    for i, y in enumerate(ys):
        pts.append(f"L{xs[i]:.1f},{y:.1f}L{xs[i + 1]:.1f},{y:.1f}")
    pts.append(f"L{xs[-1]:.1f},{base:.1f}Z")
    return "".join(pts)


def _x_scale(lo: float, hi: float):
    if not hi > lo:
        pad = 0.05 * max(abs(hi), 1e-3)
        lo, hi = lo - pad, hi + pad
    span = hi - lo
    return (lambda v: L + (np.asarray(v, dtype=float) - lo) / span * (W - L - R)), lo, hi


def _x_axis(lo: float, hi: float, sx, label: str) -> list[str]:
    y0 = H - B
    out = [f'<line x1="{L}" y1="{y0}" x2="{W - R}" y2="{y0}" stroke="#555"/>']
    for v in (lo, (lo + hi) / 2, hi):
        x = float(sx(v))
        out.append(f'<text x="{x:.1f}" y="{y0 + 12}" text-anchor="middle" {_FONT}>{_fmt(v)}</text>')
    out.append(f'<text x="{(L + W - R) / 2:.0f}" y="{H - 6}" text-anchor="middle" {_FONT}>{esc(label)}</text>')
    return out


def _svg(title: str, body: list[str], legend: Sequence[tuple[str, str]]) -> str:
    items = [f'<text x="{W / 2:.0f}" y="13" text-anchor="middle" font-family="sans-serif" font-size="12">'
             f'{esc(title)}</text>']
    for i, (color, name) in enumerate(legend):
        y = T + 4 + 12 * i
        items.append(f'<rect x="{W - R - 70}" y="{y}" width="9" height="9" fill="{color}"/>'
                     f'<text x="{W - R - 58}" y="{y + 8}" {_FONT}>{esc(name)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            f'role="img" aria-label="{esc(title)}">' + "".join(body + items) + "</svg>")


def histogram_panel(counts: np.ndarray, top_counts: np.ndarray, edges: np.ndarray, *, color: str,
                    title: str, xlabel: str, top_label: str) -> str:
    """Histogram of all rows (grey) with the top-k's bins over it (``color``), y on a log(1+n) scale.

    Parameters
    ----------
    counts, top_counts : array (bins,)
    edges : array (bins + 1,)
    """
    counts = np.asarray(counts, dtype=float)
    sx, lo, hi = _x_scale(float(edges[0]), float(edges[-1]))
    top = max(1.0, float(counts.max(initial=0)), float(np.max(top_counts, initial=0)))
    ymax = np.log10(1 + top)

    def sy(v):
        return (H - B) - np.log10(1 + np.asarray(v, dtype=float)) / ymax * (H - B - T - 4)

    body = [f'<path d="{_stairs(counts, edges, sx, sy)}" fill="#bbb"/>',
            f'<path d="{_stairs(top_counts, edges, sx, sy)}" fill="{color}"/>']
    for v in (0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000):
        if v > top * 1.0001:
            break
        y = float(sy(v))
        body.append(f'<text x="{L - 3}" y="{y + 3:.1f}" text-anchor="end" {_FONT}>{v:,}</text>'
                    f'<line x1="{L - 2}" y1="{y:.1f}" x2="{L}" y2="{y:.1f}" stroke="#555"/>')
    body.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="#555"/>')
    body += _x_axis(lo, hi, sx, xlabel)
    return _svg(title, body, [("#bbb", "all rows"), (color, top_label)])


def norm_panel(norms: np.ndarray, ticks: dict[str, np.ndarray], colors: dict[str, str], *, bins: int = 30) -> str:
    """Histogram of every row's norm, with one row of ticks per metric at its top-k's norms."""
    norms = np.asarray(norms, dtype=float)
    sx, lo, hi = _x_scale(float(norms.min()), float(norms.max()))
    counts, edges = np.histogram(norms, bins=np.linspace(lo, hi, bins + 1))
    n = len(ticks)
    lane = 9
    floor = H - B - lane * n - 4          # the histogram stands above the tick lanes
    ymax = max(1.0, float(counts.max(initial=0)))

    def sy(v):
        return floor - np.asarray(v, dtype=float) / ymax * (floor - T - 4)

    body = [f'<path d="{_stairs(counts, edges, sx, sy)}" fill="#bbb"/>']
    for i, (m, v) in enumerate(ticks.items()):
        y = floor + 4 + lane * i
        c = colors.get(m, "#000")
        d = "".join(f"M{x:.1f},{y}v{lane - 2}" for x in sx(np.asarray(v, dtype=float)))
        body.append(f'<path d="{d}" stroke="{c}" stroke-width="2"/>' if d else "")
    body.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="#555"/>')
    body += _x_axis(lo, hi, sx, "‖x‖ (ticks: each metric's top-k)")
    return _svg("vector norms", body, [("#bbb", "all rows")] + [(colors.get(m, "#000"), m) for m in ticks])


def panel_row(panels: Sequence[str]) -> str:
    """Panels side by side, wrapping on narrow screens."""
    return ('<div class="vecnb-plots" style="display:flex;flex-wrap:wrap;gap:6px">'
            + "".join(f"<div>{p}</div>" for p in panels) + "</div>")
