"""``vecnb.bench.plot``: recall vs QPS, and latency percentiles, with matplotlib."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vecnb.errors import InvalidInputError

__all__ = ["plot"]

_MARKERS = {"vecnb": "o", "raw": "s", "peer": "^"}


def plot(res: pd.DataFrame | dict, *, filter: str | None = "none", title: str | None = None, figsize=None):
    """Draw a benchmark result.

    Parameters
    ----------
    res : DataFrame or dict
        A :func:`run` result (or a :func:`sweep` result, drawn as a recall / QPS curve), or
        the dict :func:`load` returns (its ``results`` are drawn).
    filter : str or None
        Which ``filter`` rows to draw in the first two panels (``"none"`` = unfiltered);
        filtered rows get a third panel (recall vs p50 latency per filter).
    title : str, optional
        Figure title; default names the data size and the machine.

    Returns
    -------
    matplotlib.figure.Figure
        Panels: recall@k vs batch QPS (log scale; filled circles vecnb, squares raw
        libraries, triangles peers), single-query latency p50 / p95 / p99 per system, and
        filtered recall vs latency when filters were measured.
    """
    import matplotlib

    if isinstance(res, dict):
        res = res.get("results")
    if not isinstance(res, pd.DataFrame) or res.empty:
        raise InvalidInputError("plot() needs a non-empty result of vecnb.bench.run or sweep.")
    if "param" in res.columns and "value" in res.columns:
        return _plot_sweep(res, title=title, figsize=figsize)
    import matplotlib.pyplot as plt

    ok = res[res["status"] == "ok"]
    if ok.empty:
        raise InvalidInputError("No successful rows to plot (every system was skipped or failed; see 'reason').")
    main = ok[ok["filter"] == filter] if filter is not None else ok
    filtered = ok[ok["filter"] != "none"]
    ncols = 3 if not filtered.empty else 2
    systems = list(dict.fromkeys(ok["system"]))
    n_leg_rows = -(-len(systems) // 4)
    fig, axes = plt.subplots(1, ncols, figsize=figsize or (5.4 * ncols, 4.4 + 0.22 * n_leg_rows))
    cmap = matplotlib.colormaps["tab20" if len(systems) > 10 else "tab10"]
    colors = {s: cmap(i % cmap.N) for i, s in enumerate(systems)}
    impl = dict(zip(ok["system"], ok["impl"]))
    few = len(main) <= 8

    ax = axes[0]
    for r in main.itertuples():
        ax.scatter(r.qps, r.recall, marker=_MARKERS.get(r.impl, "o"), s=60, color=colors[r.system],
                   edgecolors="black", linewidths=0.5, zorder=3)
    if few:
        _labels(ax, main["qps"].to_numpy(float), main["recall"].to_numpy(float), main["system"].tolist())
    ax.set_xscale("log")
    ax.set_xlabel("batch queries / s (log)")
    k = int(ok["k"].iloc[0]) if "k" in ok else 10
    ax.set_ylabel(f"recall@{k}")
    ax.set_title("recall vs throughput" + ("" if filter in (None, "none") else f" ({filter})"), fontsize=10)
    ax.grid(True, alpha=0.3)

    ax = axes[1]
    m = main.sort_values("p50_ms", ascending=False)
    y = np.arange(len(m))
    ax.barh(y, m["p99_ms"], color="#dddddd", label="p99")
    ax.barh(y, m["p95_ms"], color="#aaaaaa", label="p95")
    ax.barh(y, m["p50_ms"], color=[colors[s] for s in m["system"]], label="p50")
    ax.set_yticks(y, list(m["system"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("single-query latency, ms (log)")
    ax.set_title("latency p50 (colour) / p95 / p99 (grey)", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)

    if ncols == 3:
        ax = axes[2]
        for r in filtered.itertuples():
            ax.scatter(r.p50_ms, r.recall, marker=_MARKERS.get(r.impl, "o"), s=45, color=colors[r.system],
                       edgecolors="black", linewidths=0.5, alpha=0.85, zorder=3)
            ax.annotate(f"{r.selectivity:.0%}", (r.p50_ms, r.recall), textcoords="offset points", xytext=(3, -7),
                        fontsize=6)
        ax.set_xscale("log")
        ax.set_xlabel("filtered single-query p50, ms (log)")
        ax.set_ylabel(f"filtered recall@{k}")
        ax.set_title("filtered search (label: share of rows passing)", fontsize=10)
        ax.grid(True, alpha=0.3)

    handles = [plt.Line2D([], [], marker=_MARKERS.get(impl.get(s), "o"), linestyle="", markersize=7,
                          markerfacecolor=colors[s], markeredgecolor="black", label=s) for s in systems]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False,
               title="circle: vecnb   square: raw library   triangle: peer product", title_fontsize=7)
    if title is None:
        r0 = ok.iloc[0]
        title = f"{int(r0['n']):,} x {int(r0['dim'])}, k={int(r0['k'])}, {int(r0['queries'])} queries — {r0['machine']}"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, min(0.4, (0.16 * n_leg_rows + 0.3) / fig.get_figheight()), 1, 1))
    return fig


def _plot_sweep(res: pd.DataFrame, *, title: str | None, figsize: Any):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=figsize or (10, 4.2))
    ax = axes[0]
    ax.plot(res["qps"], res["recall"], "o-")
    _labels(ax, res["qps"].to_numpy(float), res["recall"].to_numpy(float),
            [f"{r.param}={r.value}" for r in res.itertuples()])
    ax.set_xscale("log")
    ax.set_xlabel("batch queries / s (log)")
    ax.set_ylabel("recall@k")
    ax.set_title("recall vs throughput")
    ax.grid(True, alpha=0.3)
    ax = axes[1]
    for p, style in (("p50_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^:")):
        ax.plot(res["value"], res[p], style, label=p.replace("_ms", ""))
    ax.set_xscale("log", base=2)
    ax.set_xlabel(str(res["param"].iloc[0]))
    ax.set_ylabel("single-query latency, ms")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.set_title("latency")
    r0 = res.iloc[0]
    fig.suptitle(title or f"{r0['store']} {r0['kind']}: {r0['param']} sweep ({int(r0['n']):,} rows)", fontsize=9)
    fig.tight_layout()
    return fig


def _labels(ax: Any, x: np.ndarray, y: np.ndarray, texts: list[str]) -> None:
    """Label points on a log-x axis without piling labels on each other.

    Points close together (within 35 % in x and 2 % of the y range) form a group; a group's
    labels are stacked in a column beside it, each joined to its point by a thin line.
    """
    order = np.lexsort((-y, x))
    span = max(float(np.nanmax(y) - np.nanmin(y)), 1e-9) if len(y) else 1.0
    groups: list[list[int]] = []
    for i in order:
        g = groups[-1] if groups else None
        if g is not None and x[i] <= x[g[0]] * 1.35 and abs(y[i] - y[g[0]]) <= 0.02 * span + 1e-12:
            g.append(int(i))
        else:
            groups.append([int(i)])
    for g in groups:
        for j, i in enumerate(g):
            dy = 4 - 10 * j if len(g) > 1 else 4
            ax.annotate(texts[i], (x[i], y[i]), textcoords="offset points", xytext=(8, dy), fontsize=7,
                        va="center", arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.5"} if len(g) > 1 else None)
