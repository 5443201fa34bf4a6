"""Content hashes, stale rows and vector reuse: keeping vectors in step with their text.

Each embedding column records, in ``df.attrs``, a 64-bit BLAKE2b hash of every row's text,
keyed by the row's index label (both base64-packed, so attrs stay one short string that
pandas copies for free and writes into parquet metadata). From that:

* :func:`stale` finds rows whose text changed since they were embedded;
* :func:`reusable_rows` lets ``df.vec.embed(..., previous=old)`` reuse every vector whose
  text and model are unchanged, so only new or edited rows reach the embedder.

Indexes follow frames with :meth:`vecnb.VectorIndex.sync` (it returns a :class:`SyncReport`),
and a model change is rolled out beside the running index, then swapped in::

    df2 = edited.vec.embed("text", model="minilm", previous=df)   # embeds the edited rows only
    report = idx.sync(df2)                                         # SyncReport(added=.., updated=.., ...)
    df3 = df2.vec.embed("text", model="wordllama")                 # new model: every row, new metadata
    new = df3.vec.index(store="faiss")                             # built beside idx, which keeps serving
    idx.swap(new)                                                  # every holder of idx now searches new

A saved index is swapped the same way: ``new.save(path)`` replaces the manifest last, so
readers of ``vecnb.load_index(path)`` get the old or the new index, never a mix.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from typing import Any, Sequence

import numpy as np
import pandas as pd

from vecnb._core.arrow import column_matrix
from vecnb.frame.columns import embedding_columns, get_info

__all__ = ["hash_texts", "hash_texts_encoded", "decode_hashes", "reusable_rows", "stale", "SyncReport"]


def hash_texts(texts: Sequence[str]) -> np.ndarray:
    """64-bit content hash of each text, shape (n,), uint64.

    Examples
    --------
    >>> h = vecnb.sync.hash_texts(["red apple", "red apple", "pear"])
    >>> h.dtype, bool(h[0] == h[1]), bool(h[0] == h[2])
    (dtype('uint64'), True, False)
    """
    out = np.empty(len(texts), dtype=np.uint64)
    for i, t in enumerate(texts):
        out[i] = int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
    return out


def _encode_labels(index: pd.Index) -> dict:
    if isinstance(index, pd.RangeIndex):
        return {"range": [int(index.start), int(index.stop), int(index.step)]}
    if pd.api.types.is_integer_dtype(index.dtype):
        return {"int64": base64.b64encode(np.asarray(index, dtype=np.int64).tobytes()).decode()}
    # other labels as text, zlib-compressed (ids such as "doc123" shrink ~5x)
    raw = json.dumps([str(x) for x in index], separators=(",", ":")).encode("utf-8")
    return {"jsonz": base64.b64encode(zlib.compress(raw, 6)).decode()}


def _decode_labels(enc: dict) -> pd.Index:
    if "range" in enc:
        return pd.RangeIndex(*enc["range"])
    if "int64" in enc:
        return pd.Index(np.frombuffer(base64.b64decode(enc["int64"]), dtype=np.int64))
    return pd.Index(json.loads(zlib.decompress(base64.b64decode(enc["jsonz"]))))


def hash_texts_encoded(index: pd.Index, texts: Sequence[str]) -> dict:
    """Per-row hashes of ``texts`` with their labels, packed for ``df.attrs``.

    Examples
    --------
    >>> enc = vecnb.sync.hash_texts_encoded(pd.Index(["a", "b"]), ["red apple", "pear"])
    >>> vecnb.sync.decode_hashes(enc).index.tolist()
    ['a', 'b']
    """
    h = hash_texts(texts)
    return {"algo": "blake2b-64", "labels": _encode_labels(index), "data": base64.b64encode(h.tobytes()).decode()}


def decode_hashes(enc: dict | None) -> pd.Series | None:
    """The stored hashes as a Series indexed by label (None if absent).

    Examples
    --------
    >>> enc = vecnb.sync.hash_texts_encoded(pd.Index(["a", "b"]), ["red apple", "pear"])
    >>> s = vecnb.sync.decode_hashes(enc)
    >>> bool((s.to_numpy() == vecnb.sync.hash_texts(["red apple", "pear"])).all()), vecnb.sync.decode_hashes(None)
    (True, None)
    """
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

    Examples
    --------
    >>> old = pd.DataFrame({"text": ["red apple", "pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> new = pd.DataFrame({"text": ["red apple", "plum"]})
    >>> model_id = vecnb.frame.columns.get_info(old, "text_vec")["model_id"]
    >>> reuse, vectors = vecnb.sync.reusable_rows(new, new["text"].tolist(), old, model_id, source="text",
    ...                                             name="text_vec")
    >>> reuse, vectors.shape
    (array([ True, False]), (1, 512))
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
    # rows of previous without a vector (e.g. appended by a concat) have nothing to give
    has_vec = ~previous[col].isna().to_numpy()
    if not has_vec.all():
        previous = previous[has_vec]
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


def stale(df: pd.DataFrame, column: str, *, model: Any = None) -> pd.DataFrame:
    """Rows of ``df`` whose vector in ``column`` no longer matches their text (or the model).

    Parameters
    ----------
    df : DataFrame
        A frame with an embedding column made by ``df.vec.embed`` (or ``attach(..., source=)``).
    column : str
        The embedding column.
    model : str, Embedder or callable, optional
        The model the vectors should come from. When its ``model_id`` differs from the one
        that made the column, every row is stale (reason ``"model changed"``).

    Returns
    -------
    DataFrame
        The stale rows (original labels and columns) with a ``stale_reason`` column:
        ``"text changed"``, ``"new row"`` (a label the column never saw), ``"no vector"``
        (a missing vector, e.g. after a concat) or ``"model changed"``. Empty when
        everything is up to date; re-embed with ``df.vec.embed(text, previous=df)``.

    Raises
    ------
    InvalidInputError
        The column records no source text, or the source column is gone.

    Notes
    -----
    The hashes live in ``df.attrs``, which pandas carries through copies, selections,
    ``assign``, ``loc`` edits and parquet, but drops in ``pd.concat`` / ``merge`` when the
    inputs' attrs differ: concatenate onto the embedded frame's attrs
    (``new.attrs = df.attrs``) or simply re-embed with ``previous=df``.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> df.loc[1, "text"] = "plum"
    >>> vecnb.sync.stale(df, "text_vec")[["text"]]
       text
    1  plum
    """
    from vecnb.errors import InvalidInputError

    info = get_info(df, column)
    source = info.get("source")
    stored = decode_hashes(info.get("hashes"))
    if not source or stored is None:
        raise InvalidInputError(
            f"Column {column!r} records no source text (it was attached without source=...), "
            "so vecnb cannot tell which rows are stale. Attach with df.vec.attach(X, source='text') "
            "or embed with df.vec.embed('text')."
        )
    if source not in df.columns:
        raise InvalidInputError(f"The source text column {source!r} of {column!r} is no longer in the frame.")
    if model is not None:
        from vecnb.embed import get_embedder

        want = get_embedder(model).model_id
        if want != info.get("model_id"):
            out = df.copy()
            out["stale_reason"] = "model changed"
            return out
    texts = df[source].fillna("").astype(str).tolist()
    now = hash_texts(texts)
    before = _lookup_labels(df.index, stored)
    changed = now != before
    reason = np.where(before == 0, "new row", "text changed").astype(object)
    no_vec = df[column].isna().to_numpy()
    if no_vec.any():
        changed |= no_vec
        reason[no_vec] = "no vector"
    out = df[changed].copy()
    out["stale_reason"] = reason[changed]
    return out


def edited_since_embedding(df: pd.DataFrame, column: str) -> int:
    """How many rows' source text changed since ``column`` was embedded (0 when vecnb cannot tell).

    The cheap question behind :func:`stale` (``"text changed"`` rows only), asked by
    :meth:`vecnb.VectorIndex.sync` to warn before it stores old vectors for edited text.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> df.loc[1, "text"] = "plum"
    >>> vecnb.frame.hashing.edited_since_embedding(df, "text_vec")
    1
    """
    info = get_info(df, column)
    source = info.get("source")
    stored = decode_hashes(info.get("hashes"))
    if not source or stored is None or source not in df.columns or not len(df):
        return 0
    now = hash_texts(df[source].fillna("").astype(str).tolist())
    before = _lookup_labels(df.index, stored)
    return int(((now != before) & (before != 0)).sum())


class SyncReport(dict):
    """What :meth:`vecnb.VectorIndex.sync` wrote: a dict of counts, also readable as attributes.

    Keys: ``added``, ``updated`` (rows whose vector or values changed), ``deleted`` and
    ``unchanged`` (rows left alone). :attr:`writes` is the number of rows written or deleted.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"text": ["red apple", "green pear", "blue sky"]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> idx = df.vec.index(store="numpy")
    >>> edited = df.drop(index=2)                      # one row deleted ...
    >>> edited.loc[0, "text"] = "red apple pie"        # ... and one edited
    >>> df2 = edited.vec.embed("text", model="hashing", previous=df, progress=False)
    >>> report = idx.sync(df2)
    >>> report
    SyncReport(added=0, updated=1, deleted=1, unchanged=1)
    >>> report.updated, report["deleted"], report.writes
    (1, 1, 2)
    """

    _KEYS = ("added", "updated", "deleted", "unchanged")

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def writes(self) -> int:
        """Rows written (added + updated) plus rows deleted."""
        return int(self.get("added", 0)) + int(self.get("updated", 0)) + int(self.get("deleted", 0))

    def __repr__(self) -> str:
        return "SyncReport(" + ", ".join(f"{k}={v}" for k, v in self.items()) + ")"

    def _repr_html_(self) -> str:
        from vecnb._core.html import kv_table

        return kv_table("vecnb sync", [(k, f"{v:,}") for k, v in self.items() if isinstance(v, (int, np.integer))],
                        note=f"({self.writes:,} rows written or deleted)")
