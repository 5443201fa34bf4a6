"""``df.vec.compare_metrics(query)``: the top-k under cosine / dot / l2 side by side.

A thin view over :mod:`vecnb.viz`: :func:`~vecnb.viz.metric_scores` scores every row,
:func:`~vecnb.viz.compare_table` / :func:`~vecnb.viz.side_by_side` /
:func:`~vecnb.viz.overlap` / :func:`~vecnb.viz.score_histograms` /
:func:`~vecnb.viz.norm_spread` make every number shown. Changing the query, ``k`` or the
metrics updates the view (the query box updates on Enter or when it loses focus).

Cell colours in the table: green = the row is in every metric's top-k, yellow = in some,
red = in this metric's only. The arrow says how far this metric moves the row relative to
the first metric: ``▲3`` = three places higher than under the reference.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import filters
from vecnb import viz
from vecnb._core import metrics as _metrics
from vecnb._core.arrow import column_matrix
from vecnb.frame.columns import get_info, resolve_column
from vecnb.errors import InvalidInputError
from vecnb.search.inputs import check_k
from vecnb.widgets._svg import histogram_panel, norm_panel, panel_row
from vecnb.widgets._common import (
    WidgetBase,
    default_text_column,
    esc,
    frame_html,
    new_figure,
    require_widgets,
    short_text,
)

ipw = require_widgets()

__all__ = ["CompareMetrics", "compare_metrics"]

_COLORS = {"cosine": "#1f77b4", "dot": "#ff7f0e", "l2": "#2ca02c"}
_AGREE_BG = {"all": "#c8efc4", "some": "#fff1a8", "one": "#ffd2d2"}


class CompareMetrics(ipw.VBox, WidgetBase):
    """Top-k of one query under several metrics, side by side, with score and norm plots.

    Parameters
    ----------
    df : DataFrame
        A frame with an embedding column.
    query : str or vector (d,), optional
        The query; text is embedded with the column's model.
    k : int
        Hits per metric.
    metrics : iterable of str
        Metrics to compare; the first is the reference for rank movement.
    column : str, optional
        The embedding column, when the frame has several.
    where : dict, optional
        Compare only among rows matching this filter (see :mod:`vecnb.filters`).
    text : str, optional
        Column shown next to each hit (default ``title`` if present, else the embedded text).
    model : optional
        Embedder for text queries, when the column records none.
    bins : int
        Histogram bins.

    Attributes
    ----------
    query, k, metrics
        Current inputs (settable; setting updates the view).
    scores : DataFrame
        :func:`vecnb.viz.metric_scores` of every eligible row.
    table : DataFrame
        :func:`vecnb.viz.compare_table`: union of the top-k lists, ranks, moves, agreement.
    side : DataFrame
        :func:`vecnb.viz.side_by_side`: the table shown.
    overlap : DataFrame
        :func:`vecnb.viz.overlap`.
    histograms, norms : DataFrame
        :func:`vecnb.viz.score_histograms`, :func:`vecnb.viz.norm_spread`.
    plots : ipywidgets.HTML
        The score distributions and the norm spread, as inline SVG (rebuilt in about a
        millisecond on every change, so typing stays fluid; a static export shows them too).
    figure : matplotlib.figure.Figure
        The same panels as a matplotlib figure, drawn when first asked for (for papers and
        exports: ``w.figure.savefig("metrics.png")``).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble", "blue cheese"]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> w = df.vec.compare_metrics("apple pie", k=2)
    >>> w.query, w.metrics
    ('apple pie', ('cosine', 'dot', 'l2'))
    >>> w.query = "pear tart"
    >>> w.update()
    >>> w.table[["rank_cosine", "rank_dot", "rank_l2"]]
       rank_cosine  rank_dot  rank_l2
    1            1         1        1
    0            2         2        2
    >>> type(w.figure).__name__
    'Figure'
    """

    def __init__(self, df: pd.DataFrame, query: Any = "", *, k: int = 10,
                 metrics: Iterable[str] = ("cosine", "dot", "l2"), column: str | None = None,
                 where: dict | None = None, text: str | None = None, model: Any = None, bins: int = 30):
        self._df = df
        self._column = resolve_column(df, column)
        if len(df) == 0:
            raise InvalidInputError("The DataFrame is empty: there is nothing to compare.")
        self._X = column_matrix(df[self._column], name=self._column)
        self._info = get_info(df, self._column)
        self._model = model
        node = filters.parse(where)
        self._rows = None if node is None else np.flatnonzero(filters.to_mask(node, df))
        if self._rows is not None and len(self._rows) == 0:
            raise InvalidInputError(f"No row matches where={where!r}; nothing to compare.")
        self._where = where
        if text is not None and text not in df.columns:
            raise InvalidInputError(f"text column {text!r} is not in the DataFrame.")
        self._text_col = text if text is not None else default_text_column(df, self._info)
        self._bins = int(bins)
        mets = tuple(viz._check_metrics(metrics))
        k = check_k(k)
        self._vector_query: np.ndarray | None = None
        self._quiet = False

        n_eligible = len(df) if self._rows is None else len(self._rows)
        self.query_box = ipw.Text(value=query if isinstance(query, str) else "", placeholder="query text, then Enter",
                                  description="Query", continuous_update=False,
                                  layout=ipw.Layout(width="60%"))
        self.k_slider = ipw.IntSlider(value=min(k, max(1, n_eligible)), min=1, max=max(1, min(100, n_eligible)),
                                      description="k", continuous_update=False)
        self.metric_select = ipw.SelectMultiple(options=list(_metrics.METRICS), value=mets, description="Metrics",
                                                rows=3)
        self.run_button = ipw.Button(description="Compare", button_style="primary", icon="search")
        self.status = ipw.HTML()
        self.summary = ipw.HTML()
        self.table_html = ipw.HTML()
        self.plots = ipw.HTML()
        self.scores = self.table = self.side = self.overlap = self.histograms = self.norms = None
        self._fig_state = None
        super().__init__(children=[
            ipw.HBox([self.query_box, self.k_slider]),
            ipw.HBox([self.metric_select, self.run_button]),
            self.status, self.summary, self.table_html, self.plots,
        ])
        if not isinstance(query, str):
            self._vector_query = np.asarray(query, dtype=np.float32).reshape(-1)
        self.query_box.observe(self._on_change, names="value")
        self.k_slider.observe(self._on_change, names="value")
        self.metric_select.observe(self._on_change, names="value")
        self.run_button.on_click(lambda _b: self.update())
        self.update()

    # ----------------------------------------------------------------- state
    @property
    def query(self) -> Any:
        """The query: the text in the box, or the vector given."""
        return self._vector_query if self._vector_query is not None else self.query_box.value

    @query.setter
    def query(self, value: Any) -> None:
        if isinstance(value, str):
            self._vector_query = None
            if value == self.query_box.value:
                self.update()
            else:
                self.query_box.value = value
        else:
            self._vector_query = np.asarray(value, dtype=np.float32).reshape(-1)
            self._quiet = True
            self.query_box.value = ""
            self._quiet = False
            self.update()

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics compared side by side (settable, like a click on the list)."""
        return tuple(self.metric_select.value)

    @metrics.setter
    def metrics(self, value: Iterable[str]) -> None:
        self.metric_select.value = tuple(viz._check_metrics(value))

    # ----------------------------------------------------------------- updates
    def _on_change(self, _change: dict) -> None:
        if self._quiet:
            return
        if _change.get("owner") is self.query_box:
            self._vector_query = None
        self.update()

    def _query_vector(self) -> np.ndarray | None:
        if self._vector_query is not None:
            return self._vector_query
        text = self.query_box.value.strip()
        if not text:
            return None
        return self._text_query(text)

    def _scores(self, q: np.ndarray, mets: tuple[str, ...]) -> pd.DataFrame:
        """:func:`vecnb.viz.metric_scores`, kept for the last query: a change of k reuses it."""
        key = (np.asarray(q, np.float32).tobytes(), mets)
        if getattr(self, "_scores_key", None) != key:
            self._scores_cache = viz.metric_scores(self._X, q, mets, index=self._df.index, rows=self._rows)
            self._scores_key = key
        return self._scores_cache

    def update(self) -> None:
        """Recompute every table and figure from the current inputs.

        Scores are reused when only ``k`` changes; the plots are inline SVG strings (no
        matplotlib, no PNG encoding), so an update costs tens of milliseconds where the PNG
        figure cost ~0.4 s (see ``vecnb.bench.widgets.compare_metrics_update``). The
        matplotlib :attr:`figure` is drawn only when asked for."""
        self._guarded(self._update)

    def _update(self) -> None:
        self._t_update = time.perf_counter()
        q = self._query_vector()
        mets = self.metrics
        if q is None:
            self.scores = self.table = self.side = self.overlap = self.histograms = self.norms = None
            self.table_html.value = self.summary.value = self.plots.value = ""
            self._set_status("Type a query and press Enter.")
            return
        if not mets:
            raise InvalidInputError("Choose at least one metric to compare.")
        k = self.k
        scores = self._scores(q, mets)
        table = viz.compare_table(scores, k, mets)
        text = self._df[self._text_col] if self._text_col else None
        side = viz.side_by_side(table, k, mets, text=text)
        self.scores, self.table, self.side = scores, table, side
        self.overlap = viz.overlap(table, mets)
        self.histograms = viz.score_histograms(scores, table, mets, bins=self._bins)
        self.norms = viz.norm_spread(scores, table, mets)
        self.table_html.value = self._side_html(side, mets)
        self.summary.value = self._summary_html(table, mets, k)
        self.table_seconds = time.perf_counter() - self._t_update
        self.plots.value = self._plots_html(mets)
        scope = f" among {len(scores):,} rows matching where={esc(self._where)}" if self._rows is not None else \
            f" among {len(scores):,} rows"
        label = "vector query" if self._vector_query is not None else f"“{esc(short_text(self.query_box.value, 80))}”"
        self._set_status(f"Top {min(k, len(scores))} for {label} under {', '.join(mets)}{scope} "
                         f"(column <code>{esc(self._column)}</code>).")

    # ----------------------------------------------------------------- rendering
    def _summary_html(self, table: pd.DataFrame, mets: tuple[str, ...], k: int) -> str:
        ov = self.overlap
        kk = int(ov.iloc[0, 0]) if len(ov) else 0
        parts = [f"<b>{int(table['agree'].sum())}</b> of {kk} rows are in every top-{kk}"]
        for i, a in enumerate(mets):
            for b in mets[i + 1:]:
                parts.append(f"{a} &amp; {b} share <b>{int(ov.loc[a, b])}</b>")
        cv = self.norms.loc["all rows", "cv"]
        note = ("all vectors have the same length, so every metric ranks alike" if cv < 1e-6 else
                f"vector norms vary (std/mean = {cv:.3f}): dot favours long vectors, l2 short ones")
        return f'<div style="font-size:13px;font-family:sans-serif">{"; ".join(parts)}. {note}.</div>'

    def _side_html(self, side: pd.DataFrame, mets: tuple[str, ...]) -> str:
        n = len(mets)
        cell = "border:1px solid #ddd;padding:2px 6px;vertical-align:top;"
        head = "".join(f'<th style="{cell}color:{_COLORS.get(m, "#000")}" colspan="2">{esc(m)}</th>' for m in mets)
        rows = [(f'<table style="border-collapse:collapse;font-size:12px;font-family:sans-serif">'
                 f'<tr><th style="{cell}">rank</th>{head}</tr>')]
        for rank, r in side.iterrows():
            tds = [f'<td style="{cell}"><b>{rank}</b></td>']
            for m in mets:
                nt = int(r[f"{m}_n_top"])
                bg = _AGREE_BG["all"] if nt == n else (_AGREE_BG["one"] if nt == 1 else _AGREE_BG["some"])
                mv = int(r[f"{m}_move"])
                arrow = "" if m == mets[0] else ("=" if mv == 0 else (f"▲{mv}" if mv > 0 else f"▼{-mv}"))
                txt = esc(short_text(r[f"{m}_text"], 48)) if f"{m}_text" in side.columns else ""
                tds.append(f'<td style="{cell}background:{bg}"><b>{esc(r[m])}</b> {txt}</td>'
                           f'<td style="{cell}background:{bg};white-space:nowrap">{r[f"{m}_score"] + 0.0:.4g} '
                           f'<span style="color:#555">{arrow}</span></td>')
            rows.append("<tr>" + "".join(tds) + "</tr>")
        rows.append("</table>")
        legend = (f'<div style="font-size:11px;font-family:sans-serif;color:#444">'
                  f'<span style="background:{_AGREE_BG["all"]}">&nbsp;in every top-k&nbsp;</span> '
                  f'<span style="background:{_AGREE_BG["some"]}">&nbsp;in some&nbsp;</span> '
                  f'<span style="background:{_AGREE_BG["one"]}">&nbsp;in this metric only&nbsp;</span> '
                  f'&nbsp;▲n / ▼n: n places higher / lower than under {esc(mets[0])}</div>')
        return "".join(rows) + legend + frame_html(self.norms.round(4), caption="vector norms", max_rows=10)

    def _plots_html(self, mets: tuple[str, ...]) -> str:
        """The score histograms and the norm panel as inline SVG (see :mod:`vecnb.widgets._svg`)."""
        h, k = self.histograms, self.k
        panels = []
        for m in mets:
            part = h[h["metric"] == m]
            edges = np.append(part["left"].to_numpy(), part["right"].to_numpy()[-1])
            panels.append(histogram_panel(part["count"].to_numpy(), part["top_count"].to_numpy(), edges,
                                          color=_COLORS.get(m, "#1f77b4"), title=f"{m} scores",
                                          xlabel="score (higher is closer)", top_label=f"top-{k}"))
        ticks = {m: self.table.loc[self.table[f"top_{m}"], "norm"].to_numpy() for m in mets}
        panels.append(norm_panel(self._norms_all(), ticks, _COLORS))
        return panel_row(panels)

    @property
    def figure(self):
        """The plots as a matplotlib Figure (score histograms + norm spread), or None before a query.

        Drawn on demand (the widget itself shows SVG); the figure is built once per set of
        metrics and its artists updated in place afterwards."""
        if self.histograms is None:
            return None
        return self._draw(self.metrics)

    def _draw(self, mets: tuple[str, ...]):
        """The score histograms and the norm panel: built once per metrics, then updated in place."""
        state = getattr(self, "_fig_state", None)
        if state is None or state["mets"] != mets:
            state = self._fig_state = self._build_figure(mets)
        h, k = self.histograms, self.k
        for m in mets:
            part = h[h["metric"] == m]
            edges = np.append(part["left"].to_numpy(), part["right"].to_numpy()[-1])
            ax, all_rows, top, leg = state["hist"][m]
            all_rows.set_data(part["count"].to_numpy(), edges)
            top.set_data(part["top_count"].to_numpy(), edges)
            leg.get_texts()[1].set_text(f"top-{k}")
            ax.relim()
            ax.autoscale_view()
        for i, m in enumerate(mets):
            v = self.table.loc[self.table[f"top_{m}"], "norm"].to_numpy()
            state["ticks"][m].set_data(v, np.full(len(v), -0.6 - 0.6 * i))
        return state["fig"]

    def _build_figure(self, mets: tuple[str, ...]) -> dict:
        n = len(mets)
        fig = new_figure(3.2 * (n + 1), 2.8)
        axes = fig.subplots(1, n + 1)
        fig.subplots_adjust(left=0.06, right=0.99, bottom=0.17, top=0.9, wspace=0.3)
        hist = {}
        for ax, m in zip(axes, mets):
            edges = np.arange(self._bins + 1, dtype=float)
            zero = np.zeros(self._bins)
            all_rows = ax.stairs(zero, edges, fill=True, color="#bbb", label="all rows")
            top = ax.stairs(zero, edges, fill=True, color=_COLORS.get(m, "C0"), label="top-k")
            ax.set_yscale("symlog", linthresh=1)
            ax.set_title(f"{m} scores")
            ax.set_xlabel("score (higher is closer)")
            hist[m] = (ax, all_rows, top, ax.legend(fontsize=7, loc="upper left"))
        ax = axes[-1]
        norms = self._norms_all()
        lo, hi = float(norms.min()), float(norms.max())
        if hi - lo <= 1e-6 * max(1.0, abs(hi)):  # all the same length (normalised): one bar, readable axis
            pad = 0.05 * max(abs(hi), 1e-3)
            lo, hi = lo - pad, hi + pad
        edges = np.linspace(lo, hi, 31)
        ax.stairs(np.histogram(norms, bins=edges)[0], edges, fill=True, color="#bbb", label="all rows")
        ticks = {}
        for i, m in enumerate(mets):
            (ticks[m],) = ax.plot([], [], "|", color=_COLORS.get(m, f"C{i}"), ms=10, mew=2, label=m)
        ax.set_ylim(-0.6 - 0.6 * n, None)
        ax.set_title("vector norms")
        ax.set_xlabel("‖x‖ (ticks: each metric's top-k)")
        ax.legend(fontsize=7, loc="upper right")
        return {"mets": mets, "fig": fig, "hist": hist, "ticks": ticks}

    def _norms_all(self) -> np.ndarray:
        """Norms of the eligible rows (they do not depend on the query)."""
        return self.scores["norm"].to_numpy()


def compare_metrics(df: pd.DataFrame, query: Any = "", **options: Any) -> CompareMetrics:
    """Widget comparing cosine / dot / l2 top-k for one query; see :class:`CompareMetrics`.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> w = vecnb.widgets.compare_metrics(df, "apple", k=1)
    >>> type(w).__name__, w.query
    ('CompareMetrics', 'apple')
    """
    return CompareMetrics(df, query, **options)
