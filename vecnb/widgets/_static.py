"""The static explorer: the fallback of ``df.vec.explore`` when jupyter-scatter is not installed.

The interactive map (:mod:`vecnb.widgets._explore`) needs ``jupyter-scatter``; without it
``df.vec.explore`` says so once (with the ``pip install "vecnb[viz]"`` line) and returns this
widget: a matplotlib PNG in an ``ipywidgets.Image``, no hover, no zoom. :func:`draw_map` is
also what ``Explorer.figure()`` uses to export the interactive map as a picture.

A thin view over :mod:`vecnb.viz`:

* frames larger than ``max_points`` are sampled with :func:`~vecnb.viz.stratified_sample`
  (stratified by the colour column, every class kept) and the widget says so;
* :func:`~vecnb.viz.project` makes the map (UMAP when ``umap-learn`` is importable, PCA
  always), memoised by the matrix's content: re-running the cell is instant;
* the search box finds the query's neighbours with :func:`~vecnb.viz.neighbours` (among the
  rows on the map), :func:`~vecnb.viz.place_query` puts the query on the map;
* selection by box (the x / y range sliders), by colour value, or by a lasso polygon in code
  (:meth:`Explorer.select_polygon`) returns the rows as ``.selected``;
* details of one row: type its index label in the "Row" box (the static images have no
  hover; the neighbour and selection tables carry the details).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import metrics as _metrics
from vecnb import viz
from vecnb._core.arrow import column_matrix, is_vector_dtype
from vecnb.frame.columns import get_info, resolve_column
from vecnb.errors import ColumnNotFoundError, InvalidInputError
from vecnb.search.inputs import check_k
from vecnb.widgets._common import (
    WidgetBase,
    default_text_column,
    esc,
    figure_png,
    frame_html,
    in_kernel,
    new_figure,
    require_widgets,
    short_text,
)

ipw = require_widgets()

__all__ = ["StaticExplorer", "draw_map"]

_MAX_CATEGORIES = 20


def _color_columns(df: pd.DataFrame) -> list[str]:
    """Columns that make sense as a colour: few distinct values, or numbers."""
    out = []
    for c in df.columns:
        s = df[c]
        if is_vector_dtype(s.dtype):
            continue
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            out.append(c)
            continue
        try:
            nu = s.nunique(dropna=False)
        except TypeError:  # unhashable values
            continue
        if nu <= _MAX_CATEGORIES:
            out.append(c)
    return out


def _is_categorical(values: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return True
    return values.nunique(dropna=False) <= 12


def _check_arguments(df: pd.DataFrame, color: str | None, text: str | None, method: str,
                     max_points: int) -> None:
    """Refuse what :class:`StaticExplorer` cannot draw, naming the fix."""
    if len(df) < 2:
        raise InvalidInputError("explore needs at least 2 rows to draw a map.")
    if color is not None and color not in df.columns:
        raise ColumnNotFoundError(f"color column {color!r} is not in the DataFrame. "
                                  f"Columns that can colour the map: {_color_columns(df)}.")
    if text is not None and text not in df.columns:
        raise ColumnNotFoundError(f"text column {text!r} is not in the DataFrame.")
    if method not in ("auto", "umap", "pca"):
        raise InvalidInputError(f"method must be 'auto', 'umap' or 'pca', got {method!r}.")
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 2:
        raise InvalidInputError(f"max_points must be an integer >= 2, got {max_points!r}.")


class StaticExplorer(ipw.VBox, WidgetBase):
    """A 2-D map of an embedding column, coloured by a column, with search and selection.

    Parameters
    ----------
    df : DataFrame
        A frame with an embedding column.
    color : str, optional
        Column to colour by (categories get a legend, numbers a colour bar).
    column : str, optional
        The embedding column, when the frame has several.
    method : {"auto", "umap", "pca"}
        ``"auto"``: UMAP when ``umap-learn`` is importable, else PCA.
    max_points : int
        Frames with more rows are sampled (stratified by ``color``) to this many points.
    k : int
        Neighbours highlighted for a search.
    metric : {"cosine", "dot", "l2"}
        Metric of the neighbour search (and of UMAP's input space).
    seed : int
        Seed of the sample and of UMAP.
    text : str, optional
        Column shown in the tables (default ``title`` if present, else the embedded text).
    model : optional
        Embedder for text queries, when the column records none.
    query : str, optional
        A first search.
    progress : bool
        Show tqdm progress for the projection.
    cache : bool or "disk"
        Projection cache (see :func:`vecnb.viz.project`).

    Attributes
    ----------
    frame : DataFrame
        :func:`vecnb.viz.map_frame`: the points drawn (``pos``, ``x``, ``y``, ``color``).
    projection : vecnb.viz.Projection
    sample : ndarray of int
        Positions (in ``df``) of the rows on the map.
    sampled : bool
        Whether the frame was sampled.
    neighbours : DataFrame or None
        The last search's hits: the rows of ``df`` with ``score``, ``rank``, ``x``, ``y``.
    query_xy : ndarray (2,) or None
        Where the query landed.
    selected : DataFrame
        The selected rows of ``df`` with their ``x``, ``y`` (empty when nothing is selected).
    figure : matplotlib.figure.Figure
    """

    def __init__(self, df: pd.DataFrame, color: str | None = None, *, column: str | None = None,
                 method: str = "auto", max_points: int = 5000, k: int = 10, metric: str = "cosine",
                 seed: int = 0, text: str | None = None, model: Any = None, query: str | None = None,
                 progress: bool = True, cache: bool | str = "disk"):
        self._df = df
        self._column = resolve_column(df, column)
        _check_arguments(df, color, text, method, max_points)
        self._init_state(model, metric, seed, max_points, progress, cache, text)
        self._building = True
        self._make_controls(color, method, query, k)
        super().__init__(children=self._layout())
        self._wire()
        self._building = False
        self._guarded(self._rebuild)
        if query:
            self.search(query)

    def _init_state(self, model: Any, metric: str, seed: int, max_points: int, progress: bool,
                    cache: bool | str, text: str | None) -> None:
        """The matrix, the settings, and an empty selection / search (no widget yet)."""
        df = self._df
        self._X = column_matrix(df[self._column], name=self._column)
        self._info = get_info(df, self._column)
        self._model = model
        self._metric = _metrics.resolve_metric(metric)
        self._seed = int(seed)
        self._max_points = int(max_points)
        self._progress = bool(progress)
        self._cache = cache
        self._text_col = text if text is not None else default_text_column(df, self._info)
        self._sel_pos = np.empty(0, np.int64)
        self._sel_how = ""
        self._box: tuple | None = None
        self._polygon: np.ndarray | None = None
        self._detail_pos: int | None = None
        self.neighbours = None
        self.query_xy = None
        self._last_query: Any = None
        self.figure = None

    def _make_controls(self, color: str | None, method: str, query: str | None, k: int) -> None:
        """Create the child widgets (dropdowns, search box, range sliders, buttons, outputs)."""
        df = self._df
        methods = ["pca"] + (["umap"] if viz.umap_available() else [])
        chosen = ("umap" if "umap" in methods else "pca") if method == "auto" else method
        if chosen == "umap" and "umap" not in methods:
            viz.project(np.zeros((4, 2), np.float32), "umap")  # raises MissingDependencyError
        colours = _color_columns(df)
        extra = [(str(color), color)] if color is not None and color not in colours else []
        self.color_select = ipw.Dropdown(options=[("(none)", None)] + [(str(c), c) for c in colours] + extra,
                                         value=color, description="Colour")
        self.method_select = ipw.Dropdown(options=methods, value=chosen, description="Map")
        self.query_box = ipw.Text(value=query or "", placeholder="search text, then Enter", description="Search",
                                  continuous_update=False, layout=ipw.Layout(width="50%"))
        self.k_slider = ipw.IntSlider(value=check_k(k), min=1, max=max(1, min(100, len(df))), description="k",
                                      continuous_update=False)
        self.search_button = ipw.Button(description="Search", icon="search")
        self.x_range = ipw.FloatRangeSlider(description="x", continuous_update=False, readout_format=".2f")
        self.y_range = ipw.FloatRangeSlider(description="y", continuous_update=False, readout_format=".2f")
        self.box_button = ipw.Button(description="Select box", icon="square-o")
        self.value_select = ipw.SelectMultiple(options=[], description="Values", rows=4)
        self.values_button = ipw.Button(description="Select values", icon="tags")
        self.clear_button = ipw.Button(description="Clear selection", icon="times")
        self.row_box = ipw.Text(placeholder="index label", description="Row", continuous_update=False)
        self.status = ipw.HTML()
        self.note = ipw.HTML()
        self.image = ipw.Image(format="png", layout=ipw.Layout(max_width="100%"))
        self.neighbours_html = ipw.HTML()
        self.selection_html = ipw.HTML()
        self.details_html = ipw.HTML()
        self.progress_out = ipw.Output()

    def _layout(self) -> list:
        """The widget's children, top to bottom."""
        return [
            ipw.HBox([self.color_select, self.method_select]),
            ipw.HBox([self.query_box, self.k_slider, self.search_button]),
            self.progress_out, self.status, self.note, self.image,
            ipw.HBox([ipw.VBox([self.x_range, self.y_range, self.box_button]),
                      ipw.VBox([self.value_select, ipw.HBox([self.values_button, self.clear_button])])]),
            self.row_box, self.details_html, self.neighbours_html, self.selection_html,
        ]

    def _wire(self) -> None:
        """Connect the controls to the map, the search and the selection."""
        self.color_select.observe(self._on_color, names="value")
        self.method_select.observe(self._on_method, names="value")
        self.query_box.observe(lambda _c: self.search(), names="value")
        self.k_slider.observe(lambda _c: self.search() if self.query_box.value.strip() else None, names="value")
        self.search_button.on_click(lambda _b: self.search())
        self.box_button.on_click(lambda _b: self.select_box(self.x_range.value, self.y_range.value))
        self.values_button.on_click(lambda _b: self.select_values(self.value_select.value))
        self.clear_button.on_click(lambda _b: self.clear_selection())
        self.row_box.observe(lambda c: self.details(c["new"]) if c["new"] else None, names="value")

    # ----------------------------------------------------------------- helpers
    @property
    def color(self) -> str | None:
        return self.color_select.value

    @color.setter
    def color(self, value: str | None) -> None:
        self.color_select.value = value

    @property
    def method(self) -> str:
        return self.projection.method if getattr(self, "projection", None) is not None else self.method_select.value

    @property
    def query(self) -> str:
        return self.query_box.value

    @query.setter
    def query(self, value: str) -> None:
        self.query_box.value = value

    @property
    def selected(self) -> pd.DataFrame:
        """The selected rows of the frame, with their map coordinates ``x`` and ``y``."""
        rows = self._df.iloc[self._sel_pos].copy()
        where = self._map_index(self._sel_pos)
        rows["x"] = self.frame["x"].to_numpy()[where]
        rows["y"] = self.frame["y"].to_numpy()[where]
        return rows

    def _map_index(self, positions: np.ndarray) -> np.ndarray:
        """Rows of ``self.frame`` for frame positions (all must be on the map)."""
        return np.searchsorted(self.sample, positions)

    # ----------------------------------------------------------------- map
    def _on_color(self, _c: dict) -> None:
        if not self._building:
            self._guarded(self._rebuild)

    def _on_method(self, _c: dict) -> None:
        if not self._building:
            self._guarded(self._rebuild)

    def _rebuild(self) -> None:
        """Sample (stratified by a categorical colour), project, redraw.

        The selection survives when the map is unchanged (same rows, same projection)."""
        df, color = self._df, self.color
        labels = None
        if color is not None and len(df) > self._max_points and _is_categorical(df[color]):
            labels = df[color]
        old_sample, old_key = getattr(self, "sample", None), getattr(getattr(self, "projection", None), "key", None)
        self.sample = viz.stratified_sample(len(df), self._max_points, labels, seed=self._seed)
        self.sampled = len(self.sample) < len(df)
        Xs = self._X if not self.sampled else self._X[self.sample]
        if in_kernel():  # outside a kernel clear_output prints terminal escape codes
            self.progress_out.clear_output()
        with self.progress_out:
            self.projection = viz.project(Xs, self.method_select.value, seed=self._seed, metric=self._metric,
                                          cache=self._cache, progress=self._progress and in_kernel())
        self.frame = viz.map_frame(df, self.projection.coords, self.sample, color)
        same_map = old_sample is not None and np.array_equal(old_sample, self.sample) and \
            old_key == self.projection.key
        if not same_map:  # a selection made on another map means nothing here
            self._sel_pos = np.empty(0, np.int64)
            self._sel_how = ""
            self._box = self._polygon = None
            self._detail_pos = None
        self._set_ranges()
        if color is not None:
            vals = pd.unique(self.frame["color"])
            self.value_select.options = [(str(v), v) for v in vals[:200]]
        else:
            self.value_select.options = []
        if self._last_query is not None:
            self._search(self._last_query)  # re-place the query on the new map
        self._render_note()
        self._render_selection()
        self._draw()

    def _set_ranges(self) -> None:
        for slider, col in ((self.x_range, "x"), (self.y_range, "y")):
            v = self.frame[col].to_numpy()
            lo, hi = float(v.min()), float(v.max())
            pad = (hi - lo) * 0.02 or 1.0
            lo, hi = lo - pad, hi + pad
            # widen first so setting min/max never conflicts with the current value
            slider.max = max(hi, slider.max)
            slider.min = min(lo, slider.min)
            slider.value = (lo, hi)
            slider.min, slider.max = lo, hi
            slider.step = (hi - lo) / 200

    def _render_note(self) -> None:
        p = self.projection
        n, m = len(self._df), len(self.sample)
        where = {"computed": f"computed in {p.seconds:.2f} s", "memory": "from the in-memory cache",
                 "disk": "from the disk cache"}[p.source]
        parts = [f"{p.method.upper()} of <code>{esc(self._column)}</code> ({self._X.shape[1]}-d), {where}"]
        if p.method == "pca" and p.explained is not None:
            parts.append(f"explained variance {p.explained[0]:.1%} + {p.explained[1]:.1%}")
        if self.sampled:
            strat = f", stratified by <code>{esc(self.color)}</code>" if self.color is not None else ""
            parts.append(f"<b>showing a sample of {m:,} of {n:,} rows</b>{strat} (max_points={self._max_points:,})")
        else:
            parts.append(f"all {n:,} rows")
        self.note.value = f'<div style="font-size:12px;font-family:sans-serif">{"; ".join(parts)}.</div>'
        self._set_status("Search to place a query and its neighbours; select by box or by value.")

    # ----------------------------------------------------------------- search
    def search(self, query: Any = None, k: int | None = None) -> pd.DataFrame | None:
        """Place ``query`` (text, or a vector) on the map and highlight its ``k`` neighbours.

        Without arguments, searches the text in the box. Returns :attr:`neighbours`.
        """
        if k is not None:
            self.k_slider.value = check_k(k)  # triggers a search of the box text: harmless
        if isinstance(query, str) and query != self.query_box.value:
            self.query_box.value = query  # the observer runs the search
            return self.neighbours
        q = self.query_box.value if query is None else query
        self._guarded(lambda: self._search(q))
        return self.neighbours

    def _search(self, query: Any) -> None:
        if isinstance(query, str) and not query.strip():
            self.neighbours = self.query_xy = self._last_query = None
            self.neighbours_html.value = ""
            self._draw()
            return
        if isinstance(query, str):
            q = self._text_query(query)
        else:
            q = _metrics.as_matrix(query, dim=self._X.shape[1], what="query vector")[0]
        rows = self.sample if self.sampled else None
        nb = viz.neighbours(self._X, q, self.k, self._metric, rows=rows, index=self._df.index)
        where = self._map_index(nb["pos"].to_numpy())
        xy = self.frame[["x", "y"]].to_numpy()[where]
        self.query_xy = viz.place_query(self.projection, q, xy, nb["score"].to_numpy())
        hits = self._df.iloc[nb["pos"].to_numpy()].copy()
        hits["score"] = nb["score"].to_numpy()
        hits["rank"] = nb["rank"].to_numpy()
        hits["x"], hits["y"] = xy[:, 0], xy[:, 1]
        self.neighbours = hits
        self._last_query = query
        show = self._display_cols(hits, ["rank", "score"])
        scope = f" among the {len(self.sample):,} rows on the map" if self.sampled else ""
        label = f"“{esc(short_text(query, 60))}”" if isinstance(query, str) else "the vector query"
        self.neighbours_html.value = frame_html(hits[show], caption=f"{len(hits)} nearest ({self._metric}) "
                                                f"to {short_text(query, 60) if isinstance(query, str) else 'the vector'}"
                                                f"{scope}")
        self._set_status(f"{label}: {len(hits)} neighbours ({self._metric}){scope}, ringed in red; "
                         f"the star is the query.")
        self._draw()

    # ----------------------------------------------------------------- selection
    def select_box(self, x: Sequence[float] | None = None, y: Sequence[float] | None = None) -> pd.DataFrame:
        """Select the points with ``x[0] <= x <= x[1]`` and ``y[0] <= y <= y[1]``; returns :attr:`selected`."""
        def run():
            got = viz.select_box(self.frame, x, y)
            self._box = (tuple(x) if x is not None else None, tuple(y) if y is not None else None)
            self._polygon = None
            self._set_selection(got, "box")
        self._guarded(run)
        return self.selected

    def select_polygon(self, polygon: Sequence[Sequence[float]]) -> pd.DataFrame:
        """Lasso: select the points inside ``polygon`` [(x, y), ...]; returns :attr:`selected`."""
        def run():
            got = viz.select_polygon(self.frame, polygon)
            self._polygon = np.asarray(polygon, dtype=float)
            self._box = None
            self._set_selection(got, "lasso")
        self._guarded(run)
        return self.selected

    def select_values(self, values: Iterable[Any]) -> pd.DataFrame:
        """Select the points whose colour column is one of ``values``; returns :attr:`selected`."""
        values = list(values)

        def run():
            if self.color is None:
                raise InvalidInputError("Choose a colour column first: selection by value uses its values.")
            got = viz.select_values(self.frame, values)
            self._box = self._polygon = None
            self._set_selection(got, f"{self.color} in {values}")
        self._guarded(run)
        return self.selected

    def clear_selection(self) -> None:
        self._sel_pos = np.empty(0, np.int64)
        self._box = self._polygon = None
        self._sel_how = ""
        self._render_selection()
        self._draw()

    def _set_selection(self, got: pd.DataFrame, how: str) -> None:
        self._sel_pos = np.sort(got["pos"].to_numpy())
        self._sel_how = how
        self._render_selection()
        self._draw()

    def _render_selection(self) -> None:
        if len(self._sel_pos) == 0:
            self.selection_html.value = ""
            return
        sel = self.selected
        show = self._display_cols(sel, [])
        summary = ""
        if self.color is not None:
            vc = sel[self.color].value_counts().head(8)
            summary = ", ".join(f"{esc(k)}: {v}" for k, v in vc.items())
            summary = f'<div style="font-size:12px;font-family:sans-serif">by {esc(self.color)}: {summary}</div>'
        self.selection_html.value = frame_html(sel[show], max_rows=15,
                                               caption=f"{len(sel):,} rows selected ({self._sel_how})") + summary

    def details(self, label: Any) -> pd.Series | None:
        """Show (and return) the row with index ``label``, ringed on the map if it is there."""
        def run():
            idx = self._df.index
            lab = label
            if lab not in idx and isinstance(lab, str):
                try:  # the Row box gives text; try the index's own type
                    lab = type(idx[0])(lab) if len(idx) else lab
                except (TypeError, ValueError):
                    pass
            if lab not in idx:
                raise InvalidInputError(f"No row with index label {label!r}.")
            pos = idx.get_loc(lab)
            if not isinstance(pos, (int, np.integer)):
                raise InvalidInputError(f"Index label {label!r} is not unique.")
            row = self._df.iloc[int(pos)]
            on_map = bool(np.isin(pos, self.sample))
            self._detail_pos = int(pos) if on_map else None
            cols = [c for c in self._df.columns if not is_vector_dtype(self._df[c].dtype)]
            shown = row[cols].to_frame(name=str(lab))
            note = "" if on_map else " (not in the sample on the map)"
            self.details_html.value = frame_html(shown, caption=f"row {lab}{note}", width=200)
            self._draw()
            return row
        return self._guarded(run)

    # ----------------------------------------------------------------- drawing
    def _display_cols(self, frame: pd.DataFrame, first: list[str]) -> list[str]:
        cols = list(first)
        for c in (self._text_col, self.color):
            if c is not None and c not in cols and c in frame.columns:
                cols.append(c)
        for c in frame.columns:
            if len(cols) >= len(first) + 4:
                break
            if c not in cols and c not in ("x", "y") and not is_vector_dtype(frame[c].dtype):
                cols.append(c)
        return cols + [c for c in ("x", "y") if c in frame.columns]

    def _draw(self) -> None:
        fr = self.frame
        sel = self._map_index(self._sel_pos) if len(self._sel_pos) else None
        hits = None
        if self.neighbours is not None and self.query_xy is not None:
            hits = self.neighbours[["x", "y"]].to_numpy()
        fig, ax = draw_map(fr, self.color, self.projection, selected=sel, hits_xy=hits, query_xy=self.query_xy,
                           title=f"{self.projection.method.upper()} map of {self._column}" + (
                               f" — sample of {len(fr):,} / {len(self._df):,}" if self.sampled
                               else f" — {len(fr):,} rows"))
        x, y = fr["x"].to_numpy(), fr["y"].to_numpy()
        if self._box is not None:
            (x0, x1), (y0, y1) = (self._box[0] or (x.min(), x.max())), (self._box[1] or (y.min(), y.max()))
            ax.add_patch(_rect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))
        if self._polygon is not None:
            P = np.vstack([self._polygon, self._polygon[:1]])
            ax.plot(P[:, 0], P[:, 1], "--", color="black", lw=1)
        if self._detail_pos is not None:
            w = self._map_index(np.array([self._detail_pos]))
            ax.scatter(x[w], y[w], s=180, facecolors="none", edgecolors="#9400d3", linewidths=2, zorder=6)
        self.figure = fig
        self.image.value = figure_png(fig)


def draw_map(frame: pd.DataFrame, color: str | None, projection: viz.Projection | None = None, *,
             selected: np.ndarray | None = None, hits_xy: np.ndarray | None = None,
             query_xy: np.ndarray | None = None, title: str = "", width: float = 7.5, height: float = 5.6):
    """A matplotlib picture of a map.

    Parameters
    ----------
    frame : DataFrame
        :func:`vecnb.viz.map_frame` (``x``, ``y`` and, with a colour, ``color``).
    color : str or None
        The colour column's name (legend / colour-bar title).
    projection : Projection, optional
        Names the axes (PC / UMAP).
    selected : ndarray of int, optional
        Rows of ``frame`` to ring in black.
    hits_xy : ndarray (k, 2), optional
        Search hits (ringed in red, joined to ``query_xy``, the red star).

    Returns
    -------
    (Figure, Axes)
    """
    fig = new_figure(width, height)
    ax = fig.add_axes((0.08, 0.09, 0.64, 0.84))
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    size = float(np.clip(8000 / max(len(frame), 1), 0.5, 40))
    if color is None:
        ax.scatter(x, y, s=size, c="#4c72b0", alpha=0.7, linewidths=0)
    else:
        vals = frame["color"]
        if _is_categorical(vals):
            cats = pd.unique(vals)
            counts = vals.value_counts(dropna=False)
            cmap = _palette(len(cats))
            for i, cat in enumerate(cats):
                m = (vals == cat).to_numpy() if not pd.isna(cat) else vals.isna().to_numpy()
                ax.scatter(x[m], y[m], s=size, color=cmap[i % len(cmap)], alpha=0.75, linewidths=0,
                           label=f"{short_text(cat, 18)} ({counts.get(cat, m.sum()):,})")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, markerscale=max(1, 6 / size ** 0.5),
                      title=short_text(color, 20), frameon=False)
        else:
            sc = ax.scatter(x, y, s=size, c=pd.to_numeric(vals, errors="coerce"), cmap="viridis", alpha=0.8,
                            linewidths=0)
            fig.colorbar(sc, ax=ax, label=short_text(color, 20), fraction=0.05)
    if selected is not None and len(selected):
        ax.scatter(x[selected], y[selected], s=size * 2.2, facecolors="none", edgecolors="black", linewidths=0.8,
                   label="selected")
    if hits_xy is not None and query_xy is not None:
        qx, qy = query_xy
        for a, b in hits_xy:
            ax.plot([qx, a], [qy, b], color="#d62728", lw=0.6, alpha=0.6)
        ax.scatter(hits_xy[:, 0], hits_xy[:, 1], s=max(size * 4, 40), facecolors="none", edgecolors="#d62728",
                   linewidths=1.5)
        ax.scatter([qx], [qy], marker="*", s=260, color="#d62728", edgecolors="black", linewidths=0.8, zorder=5)
    ax.set_title(title, fontsize=10)
    pca_axes = projection is None or projection.method == "pca"
    ax.set_xlabel("PC 1" if pca_axes else f"{projection.method.upper()} 1")
    ax.set_ylabel("PC 2" if pca_axes else f"{projection.method.upper()} 2")
    return fig, ax


def _palette(n: int) -> list:
    from matplotlib import colormaps

    name = "tab10" if n <= 10 else "tab20"
    cmap = colormaps[name]
    return [cmap(i) for i in range(cmap.N)]


def _rect(x, y, w, h):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, linestyle="--", edgecolor="black", linewidth=1)
