"""What vecnb remembers about an embedding column, kept in ``df.attrs["vecnb"]``.

``df.attrs`` survives filtering, ``copy()``, ``take`` and a parquet round trip (pandas
writes it into the file's metadata), and stays small: one dict per embedding column::

    df.attrs["vecnb"] = {"columns": {"text_vec": {
        "model": {"name": "minilm"},        # embedder spec, enough to embed a query again
        "model_id": "minilm:...",           # exact model / weights identity
        "dim": 384, "source": "text", "normalized": True,
        "hashes": "<base64 of per-row content hashes>"   # optional, see vecnb.sync
    }}}

A frame that lost its attrs (e.g. built by hand) still works: any Arrow fixed-size-list
column is recognised as an embedding column, just without a model to embed text queries.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core.arrow import is_vector_dtype
from vecnb.errors import ColumnNotFoundError, InvalidInputError, NoEmbeddingColumnError, TextColumnError

__all__ = ["ATTR", "get_info", "set_info", "embedding_columns", "resolve_column", "text_values"]

ATTR = "vecnb"


def _columns(df: pd.DataFrame) -> dict:
    meta = df.attrs.get(ATTR)
    if not isinstance(meta, dict):
        return {}
    cols = meta.get("columns")
    return cols if isinstance(cols, dict) else {}


def get_info(df: pd.DataFrame, column: str) -> dict[str, Any]:
    """Metadata of ``column`` (an empty dict when vecnb knows nothing about it)."""
    return dict(_columns(df).get(column, {}))


def set_info(df: pd.DataFrame, column: str, info: dict[str, Any] | None) -> None:
    """Set (or with ``None`` drop) the metadata of ``column`` on ``df`` (a frame vecnb just made).

    The attrs dict is copied first so frames derived from the same parent never share it.
    """
    meta = copy.deepcopy(df.attrs.get(ATTR)) if isinstance(df.attrs.get(ATTR), dict) else {}
    cols = dict(meta.get("columns", {}))
    if info is None:
        cols.pop(column, None)
    else:
        cols[column] = info
    meta["columns"] = cols
    df.attrs[ATTR] = meta


def embedding_columns(df: pd.DataFrame) -> list[str]:
    """Names of the columns that hold vectors, known ones first."""
    known = [c for c in _columns(df) if c in df.columns]
    extra = [c for c, dt in df.dtypes.items() if c not in known and is_vector_dtype(dt)]
    return known + extra


def resolve_column(df: pd.DataFrame, column: str | None) -> str:
    """The embedding column to use: ``column`` if given, else the only one there is.

    Raises
    ------
    ColumnNotFoundError
        ``column`` is not in the frame.
    NoEmbeddingColumnError
        The frame has no embedding column.
    InvalidInputError
        Several embedding columns and no ``column=`` to choose.
    """
    if column is not None:
        if column not in df.columns:
            raise ColumnNotFoundError(
                f"Column {column!r} is not in the DataFrame. Columns: {list(df.columns)[:20]}. "
                f"Embedding columns: {embedding_columns(df) or 'none'}."
            )
        return column
    cols = embedding_columns(df)
    if not cols:
        raise NoEmbeddingColumnError(
            "This DataFrame has no embedding column. Create one with df.vec.embed('text_column') "
            "or bring your own vectors with df.vec.attach(X, name='emb')."
        )
    if len(cols) > 1:
        raise InvalidInputError(f"This DataFrame has several embedding columns {cols}; pass column=... to choose one.")
    return cols[0]


def text_values(df: pd.DataFrame, column: str, *, missing: str = "raise") -> list[str]:
    """The strings of a text column, validated.

    Parameters
    ----------
    missing : {"raise", "empty"}
        What to do with missing values (None / NaN): raise, or treat them as "".

    Raises
    ------
    ColumnNotFoundError, TextColumnError
    """
    if column not in df.columns:
        raise ColumnNotFoundError(
            f"Text column {column!r} is not in the DataFrame. Columns: {list(df.columns)[:20]}."
        )
    if missing not in ("raise", "empty"):
        raise InvalidInputError(f"missing must be 'raise' or 'empty', got {missing!r}.")
    col = df[column]
    if is_vector_dtype(col.dtype):
        raise TextColumnError(f"Column {column!r} holds vectors, not text; pass the text column it was made from.")
    values = col.tolist()
    is_na = col.isna().to_numpy()
    if is_na.any():
        if missing == "raise":
            bad = np.flatnonzero(is_na)
            raise TextColumnError(
                f"Text column {column!r} has {len(bad)} missing values (first at rows "
                f"{[col.index[i] for i in bad[:5]]}). Drop them (df.dropna(subset=[{column!r}])), "
                f"fill them (df.fillna({{{column!r}: ''}})), or pass missing='empty'."
            )
        values = ["" if m else v for v, m in zip(values, is_na)]
    bad_type = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if bad_type:
        kinds = sorted({type(values[i]).__name__ for i in bad_type})
        raise TextColumnError(
            f"Text column {column!r} holds {len(bad_type)} non-text values of type {', '.join(kinds)} "
            f"(first at rows {[col.index[i] for i in bad_type[:5]]}). Convert them first, e.g. "
            f"df.assign({column}=df[{column!r}].astype(str))."
        )
    return values
