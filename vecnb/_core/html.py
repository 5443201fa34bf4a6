"""Small HTML for ``_repr_html_``: the key / value table every object users hold shows."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

__all__ = ["kv_table"]


def kv_table(title: str, rows: Iterable[tuple[Any, Any]], *, note: str = "", code: bool = False) -> str:
    """``<div><b>title</b> note<table>`` one row per ``(key, value)``, everything escaped.

    ``code=True`` shows values in ``<code>``.
    """
    cells = []
    for key, value in rows:
        v = html.escape(str(value))
        if code:
            v = f"<code>{v}</code>"
        cells.append(f"<tr><th style='text-align:left'>{html.escape(str(key))}</th>"
                     f"<td style='text-align:left'>{v}</td></tr>")
    head = f"<b>{html.escape(title)}</b>" + (f" {note}" if note else "")
    return f"<div>{head}<table>{''.join(cells)}</table></div>"
