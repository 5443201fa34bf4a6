"""Benchmarks of the widgets: the explorer's cost in the kernel, and compare_metrics' update time.

::

    from vecnb.bench import widgets as wb
    wb.explore_ready(100_000, 384)     # call -> widget ready (s) and bytes sent, vs jupyter-scatter direct
    wb.compare_metrics_update()         # k / query change: SVG plots (shipped) vs the old PNG figure

From a shell: ``python -m vecnb.bench.widgets`` prints both as JSON (with the machine's load).

How it is measured: medians of ``repeats`` runs after one warm-up, baseline measured in the
same run. "Bytes sent" is what the kernel hands the front end when the widget is displayed:
every widget model's state as JSON plus its binary buffers (walking the widget tree), the
same for vecnb's explorer and for ``jscatter.Scatter(x, y).show()`` on the same x / y.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["compare_metrics_update", "explore_ready", "widget_bytes"]


def widget_bytes(root: Any) -> dict[str, int]:
    """Bytes of every widget model reachable from ``root``.

    Returns ``{"json", "buffers", "code", "models", "total"}``: ``code`` is the part of
    ``json`` that is an anywidget's JavaScript / CSS (``_esm``, ``_css``: ~2.2 MB for
    jupyter-scatter, sent once per map whoever creates it), ``total = json + buffers``.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> w = df.vec.embed("text", model="hashing", progress=False).vec.compare_metrics("apple", k=2)
    >>> sizes = widget_bytes(w)
    >>> sorted(sizes), sizes["models"] > 1, sizes["total"] > 0
    (['buffers', 'code', 'json', 'models', 'total'], True, True)
    """
    from ipywidgets import Widget
    from ipywidgets.widgets.widget import _remove_buffers

    seen: set[str] = set()
    out = {"json": 0, "buffers": 0, "code": 0, "models": 0}
    stack = [root]
    while stack:
        w = stack.pop()
        if not isinstance(w, Widget) or w.model_id in seen:
            continue
        seen.add(w.model_id)
        state, _paths, buffers = _remove_buffers(w.get_state())
        out["json"] += len(json.dumps(state, default=str))
        out["code"] += sum(len(str(state.get(k) or "")) for k in ("_esm", "_css"))
        out["buffers"] += sum(memoryview(b).nbytes for b in buffers)
        out["models"] += 1
        for name in w.keys:
            v = getattr(w, name, None)
            if isinstance(v, Widget):
                stack.append(v)
            elif isinstance(v, (list, tuple)):
                stack.extend(x for x in v if isinstance(x, Widget))
    out["total"] = out["json"] + out["buffers"]
    return out


def _median_time(fn, repeats: int) -> tuple[float, Any]:
    fn()  # warm-up (imports, first allocations)
    times, last = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        last = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), last


def explore_ready(n: int = 100_000, dim: int = 384, *, repeats: int = 3, seed: int = 0) -> pd.DataFrame:
    """Kernel-side cost of ``df.vec.explore(color="label", method="pca")`` vs jupyter-scatter alone.

    Rows: ``vecnb explore (PCA computed)`` — projection not cached, the full cost of a first
    call; ``vecnb explore (PCA memoised)`` — a re-run of the cell; ``jupyter-scatter direct`` —
    ``jscatter.Scatter(x, y, color_by=label)`` on the same coordinates (the baseline: what the
    map costs without vecnb). Columns: ``seconds`` (median), ``bytes`` (sent to the browser),
    ``buffer_bytes``, ``models``, ``n``, ``dim``, ``load1`` (load average).
    """
    import jscatter

    from vecnb.bench._data import clustered
    from vecnb.widgets import Explorer

    df = clustered(n, dim, seed=seed)
    label = "label" if "label" in df.columns else None
    rows = []
    t_cold, ex = _median_time(lambda: Explorer(df, color=label, method="pca", cache=False, progress=False), repeats)
    rows.append(("vecnb explore (PCA computed)", t_cold, widget_bytes(ex)))
    t_warm, ex = _median_time(lambda: Explorer(df, color=label, method="pca", cache=True, progress=False), repeats)
    rows.append(("vecnb explore (PCA memoised)", t_warm, widget_bytes(ex)))
    xy = ex.frame[["x", "y"]].to_numpy(np.float32)
    data = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]})
    if label:
        data[label] = pd.Categorical(df[label].astype(str).to_numpy())

    def direct():
        sc = jscatter.Scatter(x="x", y="y", data=data, color_by=label)
        return sc.show()

    t_js, view = _median_time(direct, repeats)
    rows.append(("jupyter-scatter direct", t_js, widget_bytes(view)))
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return pd.DataFrame([{"system": name, "seconds": sec, "bytes": b["total"], "buffer_bytes": b["buffers"],
                          "data_bytes": b["total"] - b["code"],
                          "models": b["models"], "n": n, "dim": dim, "load1": load1} for name, sec, b in rows])


def compare_metrics_update(n: int = 1460, dim: int = 384, *, repeats: int = 7, seed: int = 0) -> pd.DataFrame:
    """Seconds for compare_metrics to follow a change of ``k`` and of the query.

    ``svg`` is the widget as shipped (scores reused when only k changes, plots rebuilt as
    inline SVG); ``png`` adds what it did before, in the same run on the same widget: redraw
    the matplotlib figure (artists updated in place) and encode it as the PNG the widget used
    to send. ``table_seconds`` is when the tables were ready. Median of ``repeats`` after a
    warm-up; ``load1`` is the load average.
    """
    from vecnb.bench._data import clustered
    from vecnb.widgets import CompareMetrics
    from vecnb.widgets._common import figure_png

    df = clustered(n, dim, seed=seed)
    X = df.vec.matrix()
    w = CompareMetrics(df, X[0], k=10)
    rows = []
    for mode in ("png", "svg"):
        for case in ("k", "query"):
            times, tables = [], []
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                if case == "k":
                    w.k = 5 + (i % 2) * 5
                else:
                    w.query = X[1 + i]
                if mode == "png":
                    figure_png(w.figure)
                if i:  # first is a warm-up
                    times.append(time.perf_counter() - t0)
                    tables.append(w.table_seconds)
            rows.append({"mode": mode, "change": case, "seconds": float(np.median(times)),
                         "table_seconds": float(np.median(tables)), "n": n, "dim": dim})
    out = pd.DataFrame(rows)
    out["load1"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return out


if __name__ == "__main__":  # python -m vecnb.bench.widgets [n]
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    res = {"compare_metrics_update": compare_metrics_update().to_dict("records"),
           "explore_ready": explore_ready(n).to_dict("records")}
    print(json.dumps(res, indent=1))
