"""``vecnb.widgets.BenchmarkPanel(df)``: pick stores, kinds and k, run, see recall vs speed.

A thin view over :func:`vecnb.bench.run`: the panel collects the inputs, runs the benchmark
with its progress bar inside the panel, and shows :func:`vecnb.viz.bench_summary` (the
table), :func:`vecnb.viz.bench_points` (recall vs batch QPS) and
:func:`vecnb.viz.latency_table` (single-query latency p50 / p95 / p99).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vecnb import viz
from vecnb.frame.columns import resolve_column
from vecnb.errors import InvalidInputError
from vecnb.search.inputs import check_k
from vecnb.widgets._common import WidgetBase, esc, figure_png, frame_html, new_figure, require_widgets

ipw = require_widgets()

__all__ = ["BenchmarkPanel"]

_MARKERS = {"vecnb": "o", "raw": "s", "peer": "^"}


def _store_kinds(name: str) -> tuple[str, ...]:
    """Index kinds a store declares (imports its module); () when it cannot be imported."""
    from vecnb import stores

    try:
        cls = stores.get(name)
    except Exception:  # noqa: BLE001 - a store whose dependency is missing offers no kinds here
        return ()
    return tuple(k for k in getattr(cls, "kinds", ()) if k != "auto")


class BenchmarkPanel(ipw.VBox, WidgetBase):
    """Benchmark vecnb's stores on this frame: choose, run, compare.

    Parameters
    ----------
    df : DataFrame or None
        A frame with an embedding column; ``None`` benchmarks built-in clustered data.
    stores : list of str, optional
        Stores selected at first (default ``numpy`` and ``faiss``, those registered).
    kinds : "all" or list of str
        Index kinds selected at first (``"all"``: every kind each store declares).
    k : int
        Neighbours per query (recall@k).
    queries : int
        Number of query vectors.
    filters : list of dict or None
        ``where`` filters measured besides unfiltered search.
    peers : bool
        Also measure the raw libraries and peer products (see ``vecnb.bench.PEERS``).
    column : str, optional
        The embedding column when the frame has several.
    **options
        Passed to :func:`vecnb.bench.run` (``repeats``, ``budget_s``, ``metric``, ``options``...).

    Attributes
    ----------
    results : DataFrame or None
        The :func:`vecnb.bench.run` result of the last run.
    table, points, latency : DataFrame or None
        :func:`vecnb.viz.bench_summary`, :func:`vecnb.viz.bench_points`,
        :func:`vecnb.viz.latency_table` of it.
    figure : matplotlib.figure.Figure or None
    """

    def __init__(self, df: pd.DataFrame | None = None, *, stores: Sequence[str] | None = None,
                 kinds: Any = "all", k: int = 10, queries: int = 200,
                 filters: Iterable[dict | None] | None = None, peers: bool = False, column: str | None = None,
                 **options: Any):
        from vecnb import stores as _stores

        self._df = df
        self._column = resolve_column(df, column) if df is not None else None
        self._filters = [None] + [f for f in (filters or []) if f is not None]
        self._options = options
        names = _stores.names()
        if stores is None:
            stores = [s for s in ("numpy", "faiss") if s in names]
        unknown = [s for s in stores if s not in names]
        if unknown:
            raise InvalidInputError(f"Unknown store(s) {unknown}; known: {names}.")
        if isinstance(queries, bool) or not isinstance(queries, (int, np.integer)) or queries <= 0:
            raise InvalidInputError(f"queries must be a positive integer, got {queries!r}.")
        self.results = self.table = self.points = self.latency = None
        self.figure = None
        self.store_select = ipw.SelectMultiple(options=names, value=tuple(stores), description="Stores", rows=6)
        self.kind_select = ipw.SelectMultiple(options=["all"], value=("all",), description="Kinds", rows=6)
        self.k_slider = ipw.IntSlider(value=check_k(k), min=1, max=100, description="k", continuous_update=False)
        self.queries_box = ipw.BoundedIntText(value=int(queries), min=1, max=100_000, description="Queries")
        self.peers_box = ipw.Checkbox(value=bool(peers), description="raw libraries & peers")
        self.run_button = ipw.Button(description="Run benchmark", button_style="primary", icon="play")
        self.progress_out = ipw.Output()
        self.status = ipw.HTML()
        self.table_html = ipw.HTML()
        self.image = ipw.Image(format="png", layout=ipw.Layout(max_width="100%"))
        filt = ", ".join(esc(f) for f in self._filters[1:]) or "none"
        src = (f"{len(df):,} rows of <code>{esc(self._column)}</code>" if df is not None
               else "built-in clustered data")
        self.info = ipw.HTML(f'<div style="font-size:12px;font-family:sans-serif">Data: {src}; filters: {filt}.</div>')
        super().__init__(children=[
            ipw.HBox([self.store_select, self.kind_select,
                      ipw.VBox([self.k_slider, self.queries_box, self.peers_box, self.run_button])]),
            self.info, self.progress_out, self.status, self.table_html, self.image,
        ])
        self._refresh_kinds(kinds)
        self.store_select.observe(lambda _c: self._refresh_kinds(self.kinds), names="value")
        self.run_button.on_click(lambda _b: self.run())
        self._set_status("Choose stores and kinds, then run.")

    # ----------------------------------------------------------------- inputs
    def _refresh_kinds(self, keep: Any) -> None:
        opts: list[str] = ["all"]
        for s in self.store_select.value:
            for kd in _store_kinds(s):
                if kd not in opts:
                    opts.append(kd)
        keep = ("all",) if keep in (None, "all") else tuple([keep] if isinstance(keep, str) else keep)
        self.kind_select.options = opts
        self.kind_select.value = tuple(kd for kd in keep if kd in opts) or ("all",)

    @property
    def stores(self) -> tuple[str, ...]:
        """The stores ticked in the panel (settable, like a click on the list)."""
        return tuple(self.store_select.value)

    @stores.setter
    def stores(self, value: Sequence[str]) -> None:
        self.store_select.value = tuple([value] if isinstance(value, str) else value)

    @property
    def kinds(self) -> Any:
        """The index kinds to run: ``"all"`` or a list (settable)."""
        v = tuple(self.kind_select.value)
        return "all" if (not v or "all" in v) else list(v)

    @kinds.setter
    def kinds(self, value: Any) -> None:
        self._refresh_kinds(value)

    @property
    def queries(self) -> int:
        """How many held-out queries each store answers (settable)."""
        return int(self.queries_box.value)

    @queries.setter
    def queries(self, value: int) -> None:
        self.queries_box.value = int(value)

    # ----------------------------------------------------------------- run
    def run(self) -> pd.DataFrame | None:
        """Run :func:`vecnb.bench.run` with the chosen inputs; returns ``self.results``."""
        self._guarded(self._run)
        return self.results

    def _run(self) -> None:
        from vecnb import bench

        if not self.stores:
            raise InvalidInputError("Choose at least one store.")
        self.run_button.disabled = True
        self._set_status(f"Running {', '.join(self.stores)} ({self.kinds}) with k={self.k}, "
                         f"{self.queries} queries…")
        try:
            self.progress_out.clear_output()
            with self.progress_out:
                res = bench.run(self._df, stores=list(self.stores), kinds=self.kinds, k=self.k,
                                queries=self.queries, filters=self._filters, column=self._column,
                                peers=bool(self.peers_box.value), progress=True, **self._options)
        finally:
            self.run_button.disabled = False
        self.results = res
        self.table = viz.bench_summary(res)
        self.points = viz.bench_points(res)
        self.latency = viz.latency_table(res)
        shown = self.table
        if "reason" in shown.columns and not (shown["reason"].fillna("").astype(str) != "").any():
            shown = shown.drop(columns="reason")
        self.table_html.value = frame_html(shown, max_rows=40, width=50)
        n_ok = int((res["status"] == "ok").sum())
        skipped = res[res["status"] != "ok"]
        note = ""
        if len(skipped):
            why = "; ".join(f"{esc(r.system)}: {esc(str(r.reason)[:80])}" for r in skipped.head(4).itertuples())
            note = f' <span style="color:#8a6d00">{len(skipped)} skipped / failed ({why})</span>'
        self._set_status(f"{n_ok} measurements ok.{note}")
        if n_ok:
            self.figure = self._draw()
            self.image.value = figure_png(self.figure)

    def _draw(self):
        pts, lat = self.points, self.latency
        fig = new_figure(11, 4.2)
        ax1 = fig.add_axes((0.07, 0.13, 0.38, 0.77))
        ax2 = fig.add_axes((0.66, 0.13, 0.32, 0.77))
        from matplotlib import colormaps

        cmap = colormaps["tab10"]
        systems = list(dict.fromkeys(list(pts["system"]) + list(lat.index)))
        colors = {s: cmap(i % 10) for i, s in enumerate(systems)}
        for r in pts.itertuples():
            ax1.scatter(r.qps, r.recall, marker=_MARKERS.get(getattr(r, "impl", "vecnb"), "o"), s=60,
                        color=colors[r.system], edgecolors="black", linewidths=0.5, zorder=3)
            ax1.annotate(str(r.system).replace("vecnb ", ""), (r.qps, r.recall), textcoords="offset points",
                         xytext=(4, 4), fontsize=7)
        if len(pts) and (pts["qps"] > 0).all():
            ax1.set_xscale("log")
        ax1.set_xlabel("batch queries / s")
        ax1.set_ylabel(f"recall@{self.k}")
        ax1.set_title("recall vs throughput (unfiltered)", fontsize=10)
        ax1.grid(True, alpha=0.3)
        y = np.arange(len(lat))
        ax2.barh(y, lat["p99"], color="#dddddd", label="p99")
        ax2.barh(y, lat["p95"], color="#aaaaaa", label="p95")
        ax2.barh(y, lat["p50"], color=[colors[s] for s in lat.index], label="p50")
        ax2.set_yticks(y, [str(s).replace("vecnb ", "") for s in lat.index], fontsize=7)
        ax2.set_xlabel("single-query latency (ms)")
        ax2.set_title("latency p50 / p95 / p99", fontsize=10)
        ax2.legend(fontsize=7, loc="lower right")
        return fig
