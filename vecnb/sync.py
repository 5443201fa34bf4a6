"""Content hashes, stale rows and vector reuse: keeping vectors in step with their text.

Each embedding column records, in ``df.attrs``, a 64-bit BLAKE2b hash of every row's text,
keyed by the row's index label (both base64-packed, so attrs stay one short string that
pandas copies for free and writes into parquet metadata). From that:

* :func:`stale` finds rows whose text changed since they were embedded;
* :func:`reusable_rows` lets ``df.vec.embed(..., previous=old)`` reuse every vector whose
  text and model are unchanged, so only new or edited rows reach the embedder.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Sequence

import numpy as np
import pandas as pd

from vecnb._arrow import column_matrix
from vecnb.columns import embedding_columns, get_info

__all__ = ["hash_texts", "hash_texts_encoded", "decode_hashes", "reusable_rows", "stale"]


def hash_texts(texts: Sequence[str]) -> np.ndarray:
    """64-bit content hash of each text, shape (n,), uint64."""
    out = np.empty(len(texts), dtype=np.uint64)
    for i, t in enumerate(texts):
        out[i] = int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
    return out


def _encode_labels(index: pd.Index) -> dict:
    if isinstance(index, pd.RangeIndex):
        return {"range": [int(index.start), int(index.stop), int(index.step)]}
    if pd.api.types.is_integer_dtype(index.dtype):
        return {"int64": base64.b64encode(np.asarray(index, dtype=np.int64).tobytes()).decode()}
    return {"json": json.dumps([str(x) for x in index])}


def _decode_labels(enc: dict) -> pd.Index:
    if "range" in enc:
        return pd.RangeIndex(*enc["range"])
    if "int64" in enc:
        return pd.Index(np.frombuffer(base64.b64decode(enc["int64"]), dtype=np.int64))
    return pd.Index(json.loads(enc["json"]))


def hash_texts_encoded(index: pd.Index, texts: Sequence[str]) -> dict:
    """Per-row hashes of ``texts`` with their labels, packed for ``df.attrs``."""
    h = hash_texts(texts)
    return {"algo": "blake2b-64", "labels": _encode_labels(index), "data": base64.b64encode(h.tobytes()).decode()}


def decode_hashes(enc: dict | None) -> pd.Series | None:
    """The stored hashes as a Series indexed by label (None if absent)."""
    if not enc or "data" not in enc:
        return None
    h = np.frombuffer(base64.b64decode(enc["data"]), dtype=np.uint64)
    labels = _decode_labels(enc["labels"])
    if len(labels) != len(h):
        return None
    return pd.Series(h, index=labels)


def _lookup_labels(index: pd.Index, stored: pd.Series) -> np.ndarray:
    """Stored hash for each label of ``index`` (0 where unknown)."""
    key = index if not (len(stored) and isinstance(stored.index[0], str)) else index.map(str)
    if not stored.index.is_unique:
        stored = stored[~stored.index.duplicated(keep="last")]
    pos = stored.index.get_indexer(key)
    vals = stored.to_numpy()
    out = np.zeros(len(index), dtype=np.uint64)
    ok = pos >= 0
    out[ok] = vals[pos[ok]]
    return out


def reusable_rows(
    df: pd.DataFrame,
    texts: Sequence[str],
    previous: pd.DataFrame | None,
    model_id: str,
    *,
    source: str,
    name: str,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Which rows of ``df`` can take their vector from ``previous`` unchanged.

    A row is reusable when ``previous`` has an embedding column made by the same
    ``model_id`` from the same source column, holding a row with the same text
    (matched by content hash, so reordering and relabelling do not matter).

    Returns
    -------
    (have, vectors) or None
        ``have`` (n,) bool; ``vectors`` (have.sum(), d) float32 for those rows.
    """
    if previous is None:
        return None
    if not isinstance(previous, pd.DataFrame):
        raise TypeError(f"previous must be a DataFrame embedded by vecnb, got {type(previous).__name__}.")
    cands = [name] + [c for c in embedding_columns(previous) if c != name]
    col = None
    for c in cands:
        info = get_info(previous, c)
        if c in previous.columns and info.get("model_id") == model_id and info.get("source") == source:
            col = c
            break
    if col is None:
        return None
    info = get_info(previous, col)
    stored = decode_hashes(info.get("hashes"))
    if stored is None:
        return None
    # hash -> position in previous (positions of previous's current rows)
    prev_hashes = _lookup_labels(previous.index, stored)
    X_prev = column_matrix(previous[col], name=col)
    first = {}
    for p, h in enumerate(prev_hashes.tolist()):
        if h and h not in first:
            first[h] = p
    new_hashes = hash_texts(texts)
    src = np.array([first.get(h, -1) for h in new_hashes.tolist()], dtype=np.int64)
    have = src >= 0
    return have, np.asarray(X_prev[src[have]], dtype=np.float32)


def stale(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows of ``df`` whose source text changed since ``column`` was embedded.

    Rows added later (labels the column never saw) count as stale too. Returns those rows
    with a ``stale_reason`` column (``"text changed"`` or ``"new row"``).
    """
    from vecnb.errors import InvalidInputError

    info = get_info(df, column)
    source = info.get("source")
    stored = decode_hashes(info.get("hashes"))
    if not source or stored is None:
        raise InvalidInputError(
            f"Column {column!r} records no source text (it was attached without source=...), "
            "so vecnb cannot tell which rows are stale."
        )
    if source not in df.columns:
        raise InvalidInputError(f"The source text column {source!r} of {column!r} is no longer in the frame.")
    texts = df[source].fillna("").astype(str).tolist()
    now = hash_texts(texts)
    before = _lookup_labels(df.index, stored)
    changed = now != before
    reason = np.where(before == 0, "new row", "text changed")
    out = df[changed].copy()
    out["stale_reason"] = reason[changed]
    return out
