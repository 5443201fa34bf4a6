"""Shared pieces of the widgets: figures as PNG images, HTML tables, error display.

Figures are drawn with matplotlib's object API (``matplotlib.figure.Figure``, never
``pyplot``: no global state, no figure shown twice by the inline backend) and rendered by
Agg into an ``ipywidgets.Image`` as PNG bytes. The image bytes live in the widget's state,
so the figures also appear in a notebook exported to static HTML with widget state.
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from vecnb.errors import MissingDependencyError

__all__ = [
    "WidgetBase", "default_text_column", "esc", "figure_png", "frame_html", "in_kernel", "new_figure", "require_widgets",
    "short_text",
]


def require_widgets():
    """Import ipywidgets and matplotlib, or raise MissingDependencyError naming the ``viz`` extra."""
    try:
        import ipywidgets
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the test env has them
        raise MissingDependencyError.for_extra("vecnb widgets", "viz", module=exc.name) from exc
    return ipywidgets


def in_kernel() -> bool:
    """Whether we run inside a Jupyter kernel (a front end can show widgets and progress bars).

    Outside one (plain Python, a script) the widgets stay silent: no progress bars, and no
    ``clear_output`` (which prints terminal escape codes such as ``\\x1b[2K`` to stdout there).
    """
    import sys

    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except AttributeError:  # pragma: no cover - a stub IPython
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def new_figure(width: float, height: float, *, layout: str | None = None):
    """A matplotlib Figure (object API, Agg canvas), ``width`` x ``height`` inches at 100 dpi.

    No layout engine by default: constrained layout doubles the drawing time; callers place
    their axes with ``subplots_adjust``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig) -> bytes:
    """PNG bytes of a figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def default_text_column(df: pd.DataFrame, info: dict) -> str | None:
    """The column shown beside each row: ``title`` / ``name`` / ``headline`` if present, else the
    embedded text column, else the first text column."""
    def is_text(c: Any) -> bool:
        return pd.api.types.is_string_dtype(df[c].dtype) or df[c].dtype == object

    for c in ("title", "name", "headline"):
        if c in df.columns and is_text(c):
            return c
    src = info.get("source")
    if src in df.columns:
        return src
    for c in df.columns:
        if is_text(c):
            return c
    return None


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def short_text(value: Any, width: int = 60) -> str:
    """A one-line, at most ``width``-character rendering of a cell value."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    s = " ".join(str(value).split())
    return s if len(s) <= width else s[: width - 1] + "…"


_TABLE_CSS = ("border-collapse:collapse;font-size:12px;font-family:sans-serif;")
_CELL = "border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top;"


def frame_html(frame: pd.DataFrame, *, max_rows: int = 20, floatfmt: str = "{:.4g}", width: int = 60,
               caption: str | None = None) -> str:
    """A compact HTML table of ``frame`` (first ``max_rows`` rows; long text shortened)."""
    head = frame.iloc[:max_rows]
    cols = [str(c) for c in head.columns]
    out = [f'<table style="{_TABLE_CSS}">']
    if caption:
        out.append(f'<caption style="text-align:left;font-weight:bold">{esc(caption)}</caption>')
    idx_name = head.index.name if head.index.name is not None else ""
    out.append("<tr>" + f'<th style="{_CELL}">{esc(idx_name)}</th>' +
               "".join(f'<th style="{_CELL}">{esc(c)}</th>' for c in cols) + "</tr>")
    for label, row in zip(head.index, head.itertuples(index=False, name=None)):
        cells = [f'<td style="{_CELL}"><b>{esc(short_text(label, width))}</b></td>']
        for v in row:
            if isinstance(v, (float, np.floating)):
                txt = "" if np.isnan(v) else floatfmt.format(v)
            elif isinstance(v, (list, np.ndarray)) or hasattr(v, "__array__"):
                txt = f"[{len(v)} values]" if hasattr(v, "__len__") else "…"
            else:
                txt = short_text(v, width)
            cells.append(f'<td style="{_CELL}">{esc(txt)}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    if len(frame) > max_rows:
        out.append(f'<div style="font-size:11px;color:#666">… {len(frame) - max_rows:,} more rows</div>')
    return "".join(out)


class WidgetBase:
    """Mixin for the vecnb widgets: a status line, error capture, timing of updates.

    Subclasses are ``ipywidgets.VBox`` subclasses; this mixin adds:

    * ``status`` — an ``ipywidgets.HTML`` line saying what is shown (and errors, in red);
    * ``error`` — the last error message, or ``None``;
    * ``last_update_seconds`` — wall time of the last update (set a value -> view updated);
    * ``k`` — the ``k_slider`` value, settable.
    """

    error: str | None = None
    last_update_seconds: float = float("nan")

    @property
    def k(self) -> int:
        """Hits / neighbours per query (the ``k_slider`` widget)."""
        return int(self.k_slider.value)

    @k.setter
    def k(self, value: int) -> None:
        from vecnb.search.inputs import check_k

        self.k_slider.value = check_k(value)

    def _text_query(self, text: str) -> np.ndarray:
        """The (d,) vector of a text query, embedded with the column's model (memoised per text).

        Needs ``self._X`` (the matrix), ``self._info`` (column metadata), ``self._model``.
        """
        from vecnb.search.inputs import query_matrix

        cache = self.__dict__.setdefault("_qcache", {})
        if text not in cache:
            Q, _, _ = query_matrix(text, self._info, self._X.shape[1], model=self._model)
            cache[text] = Q[0]
        return cache[text]

    def _set_status(self, message: str, *, kind: str = "info") -> None:
        color = {"info": "#333", "warn": "#8a6d00", "error": "#b00020"}[kind]
        self.status.value = f'<div style="color:{color};font-size:12px;font-family:sans-serif">{message}</div>'

    def _guarded(self, fn: Callable[[], Any]) -> Any:
        """Run an update; show an error in the status line instead of raising into the front end."""
        from vecnb.errors import VecnbError

        t0 = time.perf_counter()
        try:
            result = fn()
            self.error = None
            return result
        except (VecnbError, ValueError, KeyError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self._set_status(esc(self.error), kind="error")
            return None
        finally:
            self.last_update_seconds = time.perf_counter() - t0
