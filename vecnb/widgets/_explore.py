"""``df.vec.explore(color="label")``: an interactive WebGL map of the embeddings (jupyter-scatter).

The map is a ``jscatter.Scatter`` (anywidget + regl-scatterplot; its JavaScript ships inside
the ``jupyter-scatter`` wheel): pan and zoom with the mouse, hover a point for its tooltip,
lasso with the toolbar's lasso button (or Shift + drag), click a point to select it. Around it sit a
search box, ``k``, a *Clear* button, a status line and the hit / selection tables.

What travels to the browser is one (n, 4) float32 array (x, y and the colour code per point:
16 bytes a point) plus the settings, and, for frames of at most ``STATIC_TOOLTIP_ROWS``
(20,000) rows, the tooltip fields themselves (row label, colour, ``tooltip=`` columns and a
240-character snippet per row, in the ``vecnb_tooltips`` trait): then hovering works in a
static HTML export or the docs site, with no kernel (jupyter-scatter asks its kernel for
non-visual tooltip fields; vecnb's copy of its front-end code answers from that trait first).
Above the limit (or ``static_tooltips=False``) tooltips are fetched from the kernel row by row
when the mouse rests on a point, so text columns are never copied into the widget.

Python side:

* ``ex.selected`` — the selected rows of ``df`` (original labels and columns), whether they
  were chosen in the browser (lasso / click), by :meth:`Explorer.select` or by a search;
* ``ex.observe_selection(fn)`` — ``fn(frame)`` on every change;
* ``ex.search(query, k)`` — the frame ``df.vec.search`` returns (``ex.hits``); its rows are
  selected (highlighted) on the map, the view zooms to them and the query point is drawn with
  a spoke to each hit; :meth:`Explorer.clear` restores the view;
* ``ex.figure()`` — a matplotlib picture of the current map for papers and exports.

``columns=["a_vec", "b_vec"]`` draws one map per embedding column side by side, linked with
``jscatter.compose`` (hover and selection follow across maps; the rows are the same, so point
``i`` is row ``i`` everywhere).

Decisions: the search runs over the first column (``search_column``); the query lands on a
PCA map at its exact projection, elsewhere at the score-weighted mean of its hits. Frames are
never sampled: regl-scatterplot draws a million points; UMAP above ``viz.UMAP_MAX_ROWS`` rows
is fitted on a sample (see :func:`vecnb.viz.project`).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vecnb import viz
from vecnb._core import filters
from vecnb._core import metrics as _metrics
from vecnb._core.arrow import column_matrix, is_vector_dtype
from vecnb.frame.columns import get_info, resolve_column
from vecnb.errors import ColumnNotFoundError, InvalidInputError
from vecnb.search.inputs import check_k
from vecnb.widgets._common import (
    WidgetBase,
    default_text_column,
    esc,
    frame_html,
    in_kernel,
    require_widgets,
    short_text,
)

ipw = require_widgets()

__all__ = ["Explorer", "explore"]

FALLBACK_MESSAGE = ('jupyter-scatter is not installed, so df.vec.explore draws a static matplotlib picture '
                    '(no hover, zoom or lasso). For the interactive map: pip install "vecnb[viz]"')
_warned = False
_MAX_CATEGORIES = 40
_SNIPPET = 240
STATIC_TOOLTIP_ROWS = 20_000
# jupyter-scatter's front end asks the kernel for a hovered point's non-visual fields; this
# hook answers from the widget's own ``vecnb_tooltips`` trait when it holds the row (static
# exports have no kernel), and falls back to asking the kernel otherwise.
_TOOLTIP_ASK = '''    this.tooltipContentsUpdater = (pointIdx) => {
      this.model.send({'''
_TOOLTIP_HOOK = '''    this.tooltipContentsUpdater = (pointIdx) => {
      const vecnbRows = this.model.get("vecnb_tooltips");
      if (vecnbRows && vecnbRows.columns && pointIdx >= 0 && pointIdx < vecnbRows.n) {
        const props = {};
        for (const p of this.tooltipPropertiesNonVisual) {
          if (p in vecnbRows.columns) props[p] = vecnbRows.columns[p][pointIdx];
        }
        const preview = vecnbRows.preview ? vecnbRows.preview[pointIdx] : null;
        this.tooltipDataHandlers({ index: pointIdx, properties: props, preview: preview });
      } else this.model.send({'''
_patched_esm: dict[int, str | None] = {}
# glasbey-like categorical palette (tab10 then tab20's light shades, then more)
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
            "#dbdb8d", "#9edae5", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
            "#31a354", "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#969696", "#9c9ede",
            "#cedb9c", "#e7cb94", "#e7969c", "#de9ed6"]


def load_jscatter():
    """The ``jscatter`` module, or ``None`` when jupyter-scatter is not installed."""
    try:
        import jscatter
    except ImportError:
        return None
    return jscatter


def point_size(n: int) -> float:
    """Default point size in pixels: 7 at 100 points, ~4 at 10k, ~2.5 at 100k, 1 at 1M."""
    return float(np.clip(10.0 - 1.5 * np.log10(max(n, 1)), 1.0, 8.0))


def _is_categorical(values: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return True
    return values.nunique(dropna=True) <= 12


def _scalar(value: Any) -> Any:
    """A JSON-safe tooltip value."""
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return "NA"
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(f"{float(value):.6g}")
    if isinstance(value, (int, bool)):
        return value
    try:
        if pd.isna(value):
            return "NA"
    except (TypeError, ValueError):
        pass
    return short_text(value, 80)


class Explorer(ipw.VBox, WidgetBase):
    """An interactive map of one or more embedding columns: hover, lasso, search, linked views.

    Parameters
    ----------
    df : DataFrame
        A frame with an embedding column.
    color : str, optional
        Column to colour by: categories (text, or <= 12 distinct numbers) get a legend, other
        numbers a colour map (viridis).
    tooltip : str or list of str, optional
        Columns shown when hovering a point, after the row's index label and colour; the
        tooltip also shows a snippet of ``text``.
    column : str, optional
        The embedding column, when the frame has several (ignored with ``columns``).
    columns : list of str, optional
        Several embedding columns: one linked map each (hover and selection shared).
    method : {"auto", "pca", "umap"} or callable
        The projection (see :func:`vecnb.viz.project`); a callable maps (n, d) -> (n, 2).
    k : int
        Hits of a search.
    metric : {"cosine", "dot", "l2"}
        Metric of the search (and UMAP's input space).
    text : str, optional
        Column of the tooltip snippet and tables (default ``title`` if present, else the
        embedded text column).
    model : optional
        Embedder for text queries, when the column records none.
    query : str, optional
        A first search.
    height : int
        Map height in pixels.
    size, opacity : float, optional
        Point size (pixels) and opacity; default by the number of points (:func:`point_size`,
        and density-based opacity).
    seed : int
    progress : bool
        Progress bar for the projection (inside a kernel only).
    cache : bool or "disk"
        Projection cache (see :func:`vecnb.viz.project`).
    static_tooltips : bool, optional
        Store every row's tooltip fields in the widget, so hovering works without a kernel
        (static HTML exports, the docs site). Default: when the frame has at most
        ``STATIC_TOOLTIP_ROWS`` (20,000) rows; above, the kernel answers each hover.

    Attributes
    ----------
    frame : DataFrame
        The first map's points: index = ``df.index``; ``pos``, ``x``, ``y`` (and ``color``).
    frames : list of DataFrame
        One per map.
    projections : list of vecnb.viz.Projection
    scatters : list of jscatter.Scatter
    widget : jscatter.widget.JupyterScatter
        The first map's widget (``.selection``, ``.hovering`` are its traits).
    hits : DataFrame or None
        The last search's result (the frame ``df.vec.search`` returns).
    query_xy : list of ndarray (2,)
        Where the query landed on each map.
    selection_source : str
        ``"browser"``, ``"select"``, ``"search"`` or ``""`` (nothing selected).
    selection_time : float
        ``time.time()`` when the current selection reached Python.
    last_hovered, hover_history
        Index label of the last row hovered in the browser, and of the last 20.

    Examples
    --------
    Built by ``df.vec.explore``; driven here from Python as the browser would drive it:

    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble", "blue cheese"],
    ...                    "kind": ["pie", "tart", "pie", "cheese"]}, index=["a", "b", "c", "d"])
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> ex = df.vec.explore(color="kind", method="pca", progress=False)
    >>> ex.method, ex.color, ex.columns, ex.search_column
    ('pca', 'kind', ['text_vec'], 'text_vec')
    >>> seen = []
    >>> fn = ex.observe_selection(lambda rows: seen.append(list(rows.index)))
    >>> list(ex.select(["a", "c"]).index), ex.selected_positions, seen
    (['a', 'c'], array([0, 2]), [['a', 'c']])
    >>> ex.unobserve_selection(fn)
    >>> ex.clear_selection()
    >>> seen
    [['a', 'c']]
    >>> len(ex.selected), ex.lasso_polygon, ex.hovered
    (0, None, None)
    >>> list(ex.search("apple", k=2).index)
    ['c', 'a']
    >>> sorted(ex.tooltip_table()["columns"])
    ['row']
    >>> ex.tooltip_record({"type": "tooltip", "index": 0})["index"]
    0
    >>> ex.clear()
    >>> type(ex.figure()).__name__
    'Figure'
    """

    def __init__(self, df: pd.DataFrame, color: str | None = None, *, tooltip: str | Sequence[str] | None = None,
                 column: str | None = None, columns: Sequence[Any] | None = None, method: Any = "auto",
                 k: int = 10, metric: str = "cosine", text: str | None = None, model: Any = None,
                 query: str | None = None, height: int = 480, size: float | None = None,
                 opacity: float | None = None, seed: int = 0, progress: bool = True, cache: bool | str = "disk",
                 static_tooltips: bool | None = None):
        t0 = time.perf_counter()
        js = load_jscatter()
        if js is None:
            raise ImportError(FALLBACK_MESSAGE)
        self._js = js
        _check_frame(df)
        self._df = df
        self._names, self._Xs = _embedding_matrices(df, column, columns)
        self._info = get_info(df, self._names[0]) if self._names[0] in df.columns else {}
        self._X = self._Xs[0]
        self._color = _check_color(df, color)
        self._tooltip_cols = _check_tooltip(df, tooltip, self._color)
        if text is not None and text not in df.columns:
            raise ColumnNotFoundError(f"text column {text!r} is not in the DataFrame. Columns: {list(df.columns)[:20]}.")
        self._text_col = text if text is not None else default_text_column(df, self._info)
        if not (callable(method) or method in ("auto", "pca", "umap")):
            raise InvalidInputError(f"method must be 'auto', 'pca', 'umap' or a function X -> (n, 2) coordinates, "
                                    f"got {method!r}.")
        self._metric = _metrics.resolve_metric(metric)
        self._model = model
        self._seed = int(seed)
        self._static_tooltips = len(df) <= STATIC_TOOLTIP_ROWS if static_tooltips is None else bool(static_tooltips)
        self._tooltip_table: dict | None = None
        self._observers: list[Callable[[pd.DataFrame], Any]] = []
        self._sel_pos = np.empty(0, np.int64)
        self.selection_source = ""
        self.selection_time = float("nan")
        self.hits: pd.DataFrame | None = None
        self._hit_pos = np.empty(0, np.int64)
        self.query_xy: list[np.ndarray] = []
        self.last_hovered: Any = None
        self.hover_history: deque = deque(maxlen=20)
        self._pending_source: str | None = None
        self._quiet = False
        self.progress_out = ipw.Output()
        self._project(method, cache, bool(progress) and in_kernel())
        map_view = self._build_maps(size, opacity, height)
        # controls
        self.query_box = ipw.Text(value="", placeholder="search text, then Enter", description="Search",
                                  continuous_update=False, layout=ipw.Layout(width="55%"))
        self.k_slider = ipw.IntSlider(value=min(check_k(k), len(df)), min=1, max=max(1, min(100, len(df))),
                                      description="k", continuous_update=False)
        self.clear_button = ipw.Button(description="Clear", icon="times", tooltip="clear search and selection")
        self.status = ipw.HTML()
        self.note = ipw.HTML()
        self.hits_html = ipw.HTML()
        self.selection_html = ipw.HTML()
        super().__init__(children=[
            ipw.HBox([self.query_box, self.k_slider, self.clear_button]),
            self.progress_out, self.note, map_view, self.status, self.hits_html, self.selection_html,
        ])
        self.query_box.observe(self._on_query, names="value")
        self.k_slider.observe(lambda _c: self._on_query(None) if self.query_box.value.strip() else None,
                              names="value")
        self.clear_button.on_click(lambda _b: self._guarded(self.clear))
        self._render_note()
        self._set_status("Hover a point for its row; lasso with the toolbar's lasso button (or Shift + drag); "
                         "type a query to find its neighbours.")
        self.build_seconds = time.perf_counter() - t0
        if query:
            self.search(query)

    # ================================================================== building
    def _project(self, method: Any, cache: bool | str, show_progress: bool) -> None:
        """One projection and map frame per embedding column (a progress bar in a kernel only)."""
        self.projections = []
        with self.progress_out:
            for X in self._Xs:
                self.projections.append(viz.project(X, method, seed=self._seed, metric=self._metric, cache=cache,
                                                    progress=show_progress))
        if show_progress:  # the bars are closed widgets now: "model not found" if left in the output
            self.progress_out.clear_output()
        self.projection = self.projections[0]
        self.frames = [viz.map_frame(self._df, p.coords, None, self._color) for p in self.projections]
        self.frame = self.frames[0]

    def _build_maps(self, size: float | None, opacity: float | None, height: int):
        """The jscatter scatters (linked with ``compose`` when there are several) and their observers."""
        self._row_key = "row" if "row" not in self._df.columns else "row label"
        self._pts = self._points_frame()
        self.scatters = [self._make_scatter(f, size, opacity, height) for f in self.frames]
        self.scatter = self.scatters[0]
        with _tooltip_hook(self._static_tooltips):  # the widget opens with the hook: no code reload later
            self.widgets_ = [s.widget for s in self.scatters]
        self.widget = self.widgets_[0]
        for i, w in enumerate(self.widgets_):
            self._setup_tooltip(w, i)
        self.widget.observe(self._on_selection, names="selection")
        for w in self.widgets_:
            w.observe(self._on_hover, names="hovering")
        if len(self.scatters) == 1:
            map_view = self.scatter.show()
        else:
            titles = [f"{name} · {p.method.upper()}" for name, p in zip(self._names, self.projections)]
            map_view = self._js.compose(list(zip(self.scatters, titles)), sync_selection=True, sync_hover=True,
                                        rows=1, row_height=height)
        self.map_view = map_view
        return map_view

    def _points_frame(self) -> pd.DataFrame:
        """The frame handed to jscatter: x, y (first map) and the colour column, nothing else."""
        data = {"x": self.frame["x"].to_numpy(np.float32), "y": self.frame["y"].to_numpy(np.float32)}
        if self._color is not None:
            vals = self._df[self._color]
            if _is_categorical(vals):
                data[self._color] = _category_labels(vals)
            else:
                num = pd.to_numeric(vals, errors="coerce").to_numpy(np.float64)
                data[self._color] = np.where(np.isnan(num), np.nanmin(num), num)
        return pd.DataFrame(data)

    def _make_scatter(self, frame: pd.DataFrame, size: float | None, opacity: float | None, height: int):
        js = self._js
        pts = self._pts if frame is self.frame else self._pts.assign(x=frame["x"].to_numpy(np.float32),
                                                                    y=frame["y"].to_numpy(np.float32))
        sc = js.Scatter(x="x", y="y", data=pts)
        n = len(pts)
        sc.size(default=float(size) if size is not None else point_size(n))
        if opacity is not None:
            sc.opacity(default=float(opacity), by=None)  # else density-based (jscatter's default)
        if self._color is not None:
            cat = isinstance(pts[self._color].dtype, pd.CategoricalDtype)
            if cat:
                cats = list(pts[self._color].cat.categories)
                sc.color(by=self._color, map=dict(zip(cats, (_PALETTE * (len(cats) // len(_PALETTE) + 1)))))
            else:
                sc.color(by=self._color, map="viridis")
            sc.legend(True, position="top-right", size="small")
        sc.axes(False)
        sc.height(int(height))
        sc.tooltip(True, size="small")
        sc.zoom(animation=500, padding=0.6)
        return sc

    def _setup_tooltip(self, w, i: int) -> None:
        """Tooltip: the row label, the colour, the ``tooltip=`` columns, a snippet of the text.

        jscatter asks the kernel for a hovered point's non-visual properties; we answer from
        ``df`` directly (one row), so no text column is copied into the widget."""
        props = [self._row_key] + (["color"] if self._color is not None else []) + list(self._tooltip_cols)
        w.tooltip_properties_non_visual_info = {p: {"scale": None, "domain": None, "range": None, "histogram": None}
                                                for p in props if p != "color"}
        w.tooltip_properties = props
        if self._text_col is not None:
            w.tooltip_preview = self._text_col
            w.tooltip_preview_type = "text"
            w.tooltip_preview_text_lines = 4
        w._handle_tooltip = lambda event, _w=w: _w.send(self.tooltip_record(event))
        if self._static_tooltips and _TOOLTIP_HOOK in w._esm:
            import traitlets

            if self._tooltip_table is None:
                self._tooltip_table = self.tooltip_table(props)
            w.add_traits(vecnb_tooltips=traitlets.Dict().tag(sync=True))
            w.vecnb_tooltips = self._tooltip_table

    def tooltip_table(self, properties: Sequence[str] | None = None) -> dict:
        """Every row's tooltip fields, as stored in the widget for kernel-free hovering.

        Returns ``{"n": n, "columns": {name: [value per row]}, "preview": [snippet per row] or
        None}``: the same values :meth:`tooltip_record` answers for one row.
        """
        if properties is None:
            properties = [self._row_key] + (["color"] if self._color is not None else []) + list(self._tooltip_cols)
        cols = {}
        for name in properties:
            if name == self._row_key:
                cols[name] = [_scalar(v) for v in self._df.index]
            elif name in self._df.columns:
                cols[name] = [_scalar(v) for v in self._df[name].tolist()]
        preview = None
        if self._text_col is not None:
            preview = [short_text(v, _SNIPPET) for v in self._df[self._text_col].tolist()]
        return {"n": len(self._df), "columns": cols, "preview": preview}

    def tooltip_record(self, event: dict) -> dict:
        """The tooltip message for a point: ``{"type", "index", "preview", "properties"}``.

        ``event`` is what the browser sends: ``{"type": "tooltip", "index": i, "preview":
        column or None, "properties": [names]}``.
        """
        i = int(event["index"])
        if not 0 <= i < len(self._df):
            raise InvalidInputError(f"point {i} is not on the map (0..{len(self._df) - 1}).")
        props = {}
        for name in event.get("properties") or []:
            if name == self._row_key:
                props[name] = _scalar(self._df.index[i])
            elif name in self._df.columns:
                props[name] = _scalar(self._df[name].iloc[i])
        preview = None
        if event.get("preview") is not None and self._text_col is not None:
            preview = short_text(self._df[self._text_col].iloc[i], _SNIPPET)
        return {"type": "tooltip", "index": i, "preview": preview, "properties": props}

    def _render_note(self) -> None:
        parts = []
        for name, X, p in zip(self._names, self._Xs, self.projections):
            where = {"computed": f"computed in {p.seconds:.2f} s", "memory": "from the in-memory cache",
                     "disk": "from the disk cache"}.get(p.source, p.source)
            part = f"{esc(str(p.method).upper())} of <code>{esc(name)}</code> ({X.shape[1]}-d), {where}"
            if p.method == "pca" and p.explained is not None:
                part += f", explained variance {p.explained[0]:.1%} + {p.explained[1]:.1%}"
            if p.note:
                part += f" ({esc(p.note)})"
            parts.append(part)
        parts.append(f"{len(self._df):,} points")
        self.note.value = f'<div style="font-size:12px;font-family:sans-serif">{"; ".join(parts)}.</div>'

    # ================================================================== state
    @property
    def color(self) -> str | None:
        """The column the points are coloured by (None: one colour)."""
        return self._color

    @property
    def method(self) -> str:
        """The projection drawn: ``"umap"`` or ``"pca"``."""
        return self.projection.method

    @property
    def columns(self) -> list[str]:
        """The embedding column of each map."""
        return list(self._names)

    @property
    def search_column(self) -> str:
        """The embedding column searches run against (the first map's)."""
        return self._names[0]

    @property
    def selected(self) -> pd.DataFrame:
        """The selected rows of ``df`` (original labels and columns, in frame order)."""
        return self._df.iloc[self._sel_pos]

    @property
    def selected_positions(self) -> np.ndarray:
        """Positions (in the frame) of the selected rows, int64 (a copy)."""
        return self._sel_pos.copy()

    @property
    def lasso_polygon(self) -> np.ndarray | None:
        """The last lasso drawn in the browser, in map (data) coordinates, shape (m, 2)."""
        for w in self.widgets_:
            P = w.lasso_selection_polygon
            if P is not None and len(P):
                return np.asarray(P, dtype=np.float64).reshape(-1, 2)
        return None

    @property
    def hovered(self) -> pd.Series | None:
        """The row under the mouse in the browser, or ``None``."""
        i = self.widget.hovering
        return None if i is None or i < 0 else self._df.iloc[int(i)]

    # ================================================================== selection
    def observe_selection(self, fn: Callable[[pd.DataFrame], Any]) -> Callable[[pd.DataFrame], Any]:
        """Call ``fn(selected_frame)`` on every selection change (browser, code or search); returns ``fn``."""
        if not callable(fn):
            raise InvalidInputError(f"observe_selection needs a function of one DataFrame, got {fn!r}.")
        self._observers.append(fn)
        return fn

    def unobserve_selection(self, fn: Callable[[pd.DataFrame], Any]) -> None:
        """Stop calling ``fn`` on selection changes (a function never observed is ignored)."""
        self._observers = [f for f in self._observers if f is not fn]

    def select(self, labels: Iterable[Any] | None = None, *, where: dict | None = None) -> pd.DataFrame:
        """Select rows by index label and/or a filter (as in ``df.vec.search(where=...)``); returns :attr:`selected`.

        Both given: the rows with those labels that match ``where``. Neither: clears the selection.
        """
        mask = None
        if labels is not None:
            if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
                labels = [labels]
            labels = list(labels)
            idx = self._df.index
            missing = [lab for lab in labels if lab not in idx]
            if missing:
                raise InvalidInputError(f"{len(missing)} label(s) are not in the DataFrame's index, e.g. "
                                        f"{missing[:5]!r}.")
            mask = idx.isin(labels)
        if where is not None:
            node = filters.parse(where)
            wm = filters.to_mask(node, self._df)
            mask = wm if mask is None else (mask & wm)
        pos = np.empty(0, np.int64) if mask is None else np.flatnonzero(mask)
        self._set_widget_selection(pos, "select")
        return self.selected

    def clear_selection(self) -> None:
        """Select nothing (in Python and in the browser)."""
        self._set_widget_selection(np.empty(0, np.int64), "")

    def _set_widget_selection(self, pos: np.ndarray, source: str) -> None:
        pos = np.asarray(pos, dtype=np.int64)
        self._pending_source = source
        try:
            self.widget.selection = pos.astype(np.uint32)
            if not np.array_equal(self._sel_pos, np.unique(pos)):  # the trait did not fire
                self._apply_selection(pos, source)
            else:
                self.selection_source = source if len(pos) else ""
        finally:
            self._pending_source = None

    def _on_selection(self, change: dict) -> None:
        new = change.get("new")
        pos = np.empty(0, np.int64) if new is None else np.asarray(new, dtype=np.int64).reshape(-1)
        self._apply_selection(pos, self._pending_source or "browser")

    def _apply_selection(self, pos: np.ndarray, source: str) -> None:
        pos = np.unique(pos)
        if len(pos) and (pos[0] < 0 or pos[-1] >= len(self._df)):
            raise InvalidInputError(f"selection holds points outside 0..{len(self._df) - 1}.")
        self._sel_pos = pos
        self.selection_source = source if len(pos) else ""
        self.selection_time = time.time()
        self._render_selection()
        if self._observers:
            frame = self.selected
            for fn in list(self._observers):
                try:
                    fn(frame)
                except Exception as exc:  # noqa: BLE001 - a user callback must not break the map
                    self.error = f"observe_selection callback {getattr(fn, '__name__', fn)!r} failed: " \
                                 f"{type(exc).__name__}: {exc}"
                    self._set_status(esc(self.error), kind="error")

    def _render_selection(self) -> None:
        if len(self._sel_pos) == 0 or self.selection_source == "search":
            self.selection_html.value = ""
            return
        sel = self.selected
        summary = ""
        if self._color is not None:
            vc = sel[self._color].value_counts(dropna=False).head(8)
            summary = ", ".join(f"{esc(k)}: {v:,}" for k, v in vc.items())
            summary = f'<div style="font-size:12px;font-family:sans-serif">by {esc(self._color)}: {summary}</div>'
        how = {"browser": "in the map", "select": "from code"}.get(self.selection_source, self.selection_source)
        self.selection_html.value = frame_html(sel[self._display_cols(sel)], max_rows=10,
                                               caption=f"{len(sel):,} rows selected ({how})") + summary

    def _on_hover(self, change: dict) -> None:
        i = change.get("new")
        if i is not None and 0 <= int(i) < len(self._df):
            self.last_hovered = self._df.index[int(i)]
            self.hover_history.append(self.last_hovered)

    # ================================================================== search
    def _on_query(self, _change: dict | None) -> None:
        if self._quiet:
            return
        self._guarded(lambda: self.search(self.query_box.value))

    def search(self, query: Any = None, k: int | None = None, *, where: dict | None = None) -> pd.DataFrame | None:
        """Find ``query``'s ``k`` nearest rows (text or a vector), highlight them and place the query.

        Returns the frame ``df.vec.search(query, k, metric=..., where=...)`` returns (also kept
        as ``self.hits``); an empty text clears the search.
        """
        if k is not None:
            self._quiet = True
            try:
                self.k_slider.value = min(check_k(k), self.k_slider.max)
            finally:
                self._quiet = False
        q = self.query_box.value if query is None else query
        if isinstance(q, str):
            if q != self.query_box.value:
                self._quiet = True
                self.query_box.value = q
                self._quiet = False
            if not q.strip():
                self.clear()
                return None
            qv = self._text_query(q)
        else:
            qv = _metrics.as_matrix(q, dim=self._X.shape[1], what="query vector")
            if qv.shape[0] != 1:
                raise InvalidInputError(f"explore searches one query at a time; got {qv.shape[0]} vectors.")
            qv = qv[0]
        kk = k if k is not None else self.k
        hits = self._positional().vec.search(qv, k=kk, metric=self._metric, where=where, column=self.search_column)
        pos = hits.index.to_numpy(np.int64)
        hits.index = self._df.index[pos]
        self.hits = hits
        self._hit_pos = pos
        self._place_query(qv, pos, hits["score"].to_numpy())
        self._set_widget_selection(pos, "search")
        for sc in self.scatters:
            sc.zoom(to=pos.astype(np.int64) if len(pos) else None, animation=500, padding=0.6)
        label = f"“{esc(short_text(q, 60))}”" if isinstance(q, str) else "the vector query"
        self.hits_html.value = frame_html(hits[self._display_cols(hits, ["rank", "score"])],
                                          caption=f"{len(hits)} nearest ({self._metric}) to "
                                                  f"{short_text(q, 60) if isinstance(q, str) else 'the vector'}")
        self._set_status(f"{label}: {len(hits)} neighbours ({self._metric}, column <code>{esc(self.search_column)}"
                         f"</code>) selected on the map; the red cross is the query.")
        return hits

    def _positional(self) -> pd.DataFrame:
        """``df`` with positions as its index (cheap: no data copied), so hits map to points."""
        cache = self.__dict__.get("_pos_df")
        if cache is None:
            cache = self._df.set_axis(pd.RangeIndex(len(self._df)), axis=0)
            cache.attrs = self._df.attrs
            self._pos_df = cache
        return cache

    def _place_query(self, qv: np.ndarray, pos: np.ndarray, scores: np.ndarray) -> None:
        js = self._js
        self.query_xy = []
        for i, (sc, fr, p, X) in enumerate(zip(self.scatters, self.frames, self.projections, self._Xs)):
            xy = fr[["x", "y"]].to_numpy()[pos]
            if len(pos) == 0:
                self.query_xy.append(None)
                sc.annotations(None)
                continue
            if i == 0 and p.components is not None:
                qxy = viz.place_query(p, qv)
            else:
                qxy = viz.place_query(viz.Projection(p.coords, "umap", p.key), qv, xy, scores)
            qxy = np.asarray(qxy, dtype=np.float64)
            self.query_xy.append(qxy)
            span = float(np.ptp(fr["x"].to_numpy())) or 1.0
            r = 0.015 * span
            red = "#d62728"
            marks = [js.Line([(qxy[0] - r, qxy[1] - r), (qxy[0] + r, qxy[1] + r)], line_color=red, line_width=3),
                     js.Line([(qxy[0] - r, qxy[1] + r), (qxy[0] + r, qxy[1] - r)], line_color=red, line_width=3)]
            marks += [js.Line([tuple(qxy), (float(a), float(b))], line_color=(0.84, 0.15, 0.16, 0.5), line_width=1)
                      for a, b in xy]
            sc.annotations(marks)

    def clear(self) -> None:
        """Clear the search (hits, query mark, table), the selection and the zoom."""
        self.hits = None
        self.query_xy = []
        self.hits_html.value = ""
        self._quiet = True
        self.query_box.value = ""
        self._quiet = False
        for sc in self.scatters:
            sc.annotations(None)
            sc.zoom(to=None, animation=500)
        self.clear_selection()
        self._set_status("Cleared.")

    # ================================================================== output
    def _display_cols(self, frame: pd.DataFrame, first: list[str] | None = None) -> list[str]:
        cols = list(first or [])
        for c in (self._text_col, self._color, *self._tooltip_cols):
            if c is not None and c not in cols and c in frame.columns:
                cols.append(c)
        for c in frame.columns:
            if len(cols) >= len(first or []) + 5:
                break
            if c not in cols and not is_vector_dtype(frame[c].dtype):
                cols.append(c)
        return cols

    def figure(self, which: int = 0):
        """A matplotlib Figure of map ``which`` as it stands (colours, selection, hits, query)."""
        from vecnb.widgets._static import draw_map

        fr, p = self.frames[which], self.projections[which]
        hits_xy = fr[["x", "y"]].to_numpy()[self._hit_pos] if self.hits is not None else None
        qxy = self.query_xy[which] if self.query_xy else None
        sel = self._sel_pos if self.selection_source != "search" else None
        fig, _ax = draw_map(fr, self._color, p, selected=sel, hits_xy=hits_xy, query_xy=qxy,
                            title=f"{str(p.method).upper()} map of {self._names[which]} — {len(fr):,} rows")
        return fig


# ====================================================================== checks
def _category_labels(values: pd.Series) -> pd.Categorical:
    """The values as a Categorical of their text (missing -> "(missing)"), categories sorted.

    Factorises the column as it is (fast on Arrow strings) and converts only the distinct
    values to text: ~3x cheaper at 100k rows than converting every row to ``str`` first."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = [str(u) for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append("(missing)")
    if len(set(names)) < len(names):  # distinct values with the same text (1 and "1"): merge them
        txt = values.astype(object).where(values.notna(), "(missing)").astype(str)
        return pd.Categorical(txt.to_numpy())
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return pd.Categorical.from_codes(rank[codes], categories=[names[i] for i in order])


def _esm_with_tooltip_hook(esm: str) -> str | None:
    """jupyter-scatter's front-end code with the kernel-free tooltip hook, or None when this
    version of it does not have the expected tooltip request (then hover asks the kernel)."""
    key = hash(esm)
    if key not in _patched_esm:
        _patched_esm[key] = esm.replace(_TOOLTIP_ASK, _TOOLTIP_HOOK, 1) if esm.count(_TOOLTIP_ASK) == 1 else None
    return _patched_esm[key]


@contextlib.contextmanager
def _tooltip_hook(enabled: bool):
    """While jscatter widgets are created, their class serves the front-end code with the hook.

    anywidget reads ``_esm`` from the class when a widget is constructed; setting it on the
    instance afterwards would make the front end reload the code under a live view. The hook
    does nothing for widgets without a ``vecnb_tooltips`` trait, so other maps are unaffected.
    """
    from jscatter.widget import JupyterScatter

    original = JupyterScatter.__dict__.get("_esm")
    esm = _esm_with_tooltip_hook(str(original)) if enabled and original is not None else None
    if esm is None:
        yield
        return
    JupyterScatter._esm = esm
    try:
        yield
    finally:
        JupyterScatter._esm = original


def _check_frame(df: Any) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"explore needs a pandas DataFrame, got {type(df).__name__}.")
    if len(df) == 0:
        raise InvalidInputError("The DataFrame is empty: there is nothing to draw. Explore a frame with rows.")
    if len(df) == 1:
        raise InvalidInputError("explore needs at least 2 rows to lay out a map; this DataFrame has 1. "
                                "Look at it directly, or search a larger frame.")


def _embedding_matrices(df: pd.DataFrame, column: str | None, columns: Sequence[Any] | None):
    if columns is None:
        name = resolve_column(df, column)
        return [name], [column_matrix(df[name], name=name)]
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence) or len(columns) == 0:
        raise InvalidInputError("columns= takes a list of embedding column names (or (n, d) matrices), e.g. "
                                "columns=['minilm_vec', 'tfidf_vec'].")
    names, mats = [], []
    for i, c in enumerate(columns):
        if isinstance(c, str):
            name = resolve_column(df, c)
            if not is_vector_dtype(df[name].dtype) and df[name].dtype != object:
                raise InvalidInputError(f"column {name!r} is not an embedding column "
                                        f"(embedding columns: {_emb_cols(df)}).")
            X = column_matrix(df[name], name=name)
        else:
            name = f"matrix {i}"
            X = np.asarray(c)
            if X.ndim != 2:
                raise InvalidInputError(f"columns[{i}] must be a column name or an (n, d) matrix; got shape {X.shape}.")
        if X.shape[0] != len(df):
            raise InvalidInputError(f"{name} has {X.shape[0]:,} rows but the DataFrame has {len(df):,}; linked maps "
                                    f"draw the same rows in every map. Give one vector per row.")
        names.append(name)
        mats.append(X)
    return names, mats


def _emb_cols(df: pd.DataFrame) -> list[str]:
    from vecnb.frame.columns import embedding_columns

    return embedding_columns(df)


def _colourable(df: pd.DataFrame) -> list[str]:
    out = []
    for c in df.columns:
        s = df[c]
        if is_vector_dtype(s.dtype) or s.isna().all():
            continue
        if pd.api.types.is_numeric_dtype(s.dtype):
            out.append(c)
            continue
        try:
            if s.nunique(dropna=False) <= _MAX_CATEGORIES:
                out.append(c)
        except TypeError:
            continue
    return out


def _check_color(df: pd.DataFrame, color: str | None) -> str | None:
    if color is None:
        return None
    if color not in df.columns:
        raise ColumnNotFoundError(f"color column {color!r} is not in the DataFrame. Columns that can colour the "
                                  f"map: {_colourable(df)}.")
    s = df[color]
    if is_vector_dtype(s.dtype):
        raise InvalidInputError(f"color column {color!r} holds vectors; colour by a column of labels or numbers: "
                                f"{_colourable(df)}.")
    if s.isna().all():
        raise InvalidInputError(f"color column {color!r} has no values (every row is missing); choose another: "
                                f"{_colourable(df)}.")
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        try:
            nu = s.nunique(dropna=False)
        except TypeError as exc:
            raise InvalidInputError(f"color column {color!r} holds unhashable values ({exc}).") from None
        if nu > _MAX_CATEGORIES:
            raise InvalidInputError(f"color column {color!r} has {nu:,} distinct values; a legend holds at most "
                                    f"{_MAX_CATEGORIES}. Colour by a coarser column, or put {color!r} in tooltip=[...].")
    return color


def _check_tooltip(df: pd.DataFrame, tooltip: str | Sequence[str] | None, color: str | None) -> list[str]:
    if tooltip is None:
        return []
    cols = [tooltip] if isinstance(tooltip, str) else list(tooltip)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ColumnNotFoundError(f"tooltip column(s) {missing} are not in the DataFrame. Columns: "
                                  f"{[c for c in df.columns if not is_vector_dtype(df[c].dtype)][:30]}.")
    vec = [c for c in cols if is_vector_dtype(df[c].dtype)]
    if vec:
        raise InvalidInputError(f"tooltip column(s) {vec} hold vectors; a tooltip shows scalar columns.")
    out = []
    for c in cols:
        if c not in out and c != color:
            out.append(c)
    return out


def explore(df: pd.DataFrame, color: str | None = None, **options: Any):
    """The interactive map (:class:`Explorer`); without jupyter-scatter, the static picture.

    Without ``jupyter-scatter`` this warns once (``pip install "vecnb[viz]"``) and returns a
    :class:`vecnb.widgets._static.StaticExplorer` (options it lacks: ``tooltip``, ``columns``,
    ``height``, ``size``, ``opacity`` are ignored, with the warning saying so).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> ex = vecnb.widgets.explore(df, method="pca", progress=False)
    >>> type(ex).__name__, len(ex.selected)
    ('Explorer', 0)
    """
    if load_jscatter() is not None:
        return Explorer(df, color=color, **options)
    global _warned
    dropped = [o for o in ("tooltip", "columns", "height", "size", "opacity") if o in options]
    if not _warned or dropped:
        extra = f" (ignoring {', '.join(dropped)})" if dropped else ""
        warnings.warn(FALLBACK_MESSAGE + extra, stacklevel=2)
        _warned = True
    from vecnb.widgets._static import StaticExplorer

    static = {k: v for k, v in options.items() if k not in dropped}
    return StaticExplorer(df, color=color, **static)
