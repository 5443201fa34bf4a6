"""Rows of an index (or of a search result) as (text, metadata) pairs: what both adapters hand over."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RESULT_COLUMNS", "plain", "row_records"]

#: columns a vecnb search adds to the rows (never document metadata)
RESULT_COLUMNS = ("score", "rank", "query", "rerank_score", "keyword_rank", "keyword_score", "vector_rank",
                  "vector_score")


def plain(v: Any) -> Any:
    """A value as a plain Python value (numpy scalars unwrapped, arrays as lists); ``None`` when missing."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def meta_columns(rows: pd.DataFrame, text: str | None, results: bool) -> list:
    """Columns of ``rows`` that are metadata: all but the text, vector columns and (for search results)
    the columns vecnb adds."""
    from vecnb._core.arrow import is_vector_dtype

    skip = set(RESULT_COLUMNS) if results else set()
    return [c for c, dt in rows.dtypes.items() if c != text and c not in skip and not is_vector_dtype(dt)]


def row_records(rows: pd.DataFrame, text: str | None, *, results: bool, meta: list | None = None
                ) -> tuple[list[str], list[dict[str, Any]]]:
    """``(texts, metadatas)`` of ``rows``: column ``text`` as str (``""`` when missing), the metadata
    columns (``meta``, default :func:`meta_columns`) as dicts with missing values left out and non-str
    keys as str."""
    meta = set(meta_columns(rows, text, results) if meta is None else meta)
    cols = {c: s.tolist() for c, s in rows.items() if c in meta}
    contents = rows[text].tolist() if text is not None and text in rows.columns else [None] * len(rows)
    texts, metas = [], []
    for i in range(len(rows)):
        md = {}
        for c, values in cols.items():
            v = plain(values[i])
            if v is not None:
                md[c if isinstance(c, str) else str(c)] = v
        c = plain(contents[i])
        texts.append("" if c is None else str(c))
        metas.append(md)
    return texts, metas
