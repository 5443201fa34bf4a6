"""Turning (positions, scores) into result DataFrames, the one shape every search returns.

A result keeps the original index labels and columns of the hit rows and adds ``score``
(higher is closer), ``rank`` (1-based, per query) and, for a batch of queries, ``query``.

Speed: a single query's search takes a fraction of a millisecond, so the result frame is built
block by block (one ``take`` per pandas block, handed to
``pandas.api.internals.create_dataframe_from_blocks``) instead of column by column through the
``DataFrame`` constructor: no per-column ``Series`` (each of which deep-copies ``df.attrs``), no
re-inference of dtypes, and the output column labels are cached per input ``columns`` object
(an immutable ``Index``). Measured on a 1k x 384 frame with string and vector columns: ~0.12 ms
against ~0.26 ms for the per-column path, which stays as the fallback for pandas versions
without that function.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import pandas as pd

try:  # pandas >= 3.0 (and 2.3): a documented low-level constructor from blocks
    from pandas.api.internals import create_dataframe_from_blocks as _from_blocks
except ImportError:  # pragma: no cover - older pandas: the per-column path below
    _from_blocks = None

__all__ = ["build_hits", "empty_hits"]

_COLUMNS_CACHE: OrderedDict = OrderedDict()
_COLUMNS_LOCK = threading.Lock()
_COLUMNS_CACHE_SIZE = 32


def _out_columns(columns: pd.Index, added: tuple[str, ...], drop: tuple = ()) -> tuple[pd.Index | None, Any]:
    """``(columns without drop, followed by added; kept-column mask or None)``.

    The first is None when the kept columns already hold one of ``added`` (or ``drop`` names a
    duplicated column). Cached: an ``Index`` is immutable, and the cache holds it so its ``id``
    is not reused.
    """
    key = (id(columns), added, drop)
    with _COLUMNS_LOCK:
        hit = _COLUMNS_CACHE.get(key)
        if hit is not None and hit[0] is columns:
            _COLUMNS_CACHE.move_to_end(key)
            return hit[1]
    keep = None
    kept = columns
    if drop:
        keep = ~columns.isin(list(drop))
        kept = columns[keep]
    clash = any(name in kept for name in added) or (drop and columns.has_duplicates)
    out = (None if clash else kept.append(pd.Index(list(added))), keep)
    with _COLUMNS_LOCK:
        _COLUMNS_CACHE[key] = (columns, out)
        while len(_COLUMNS_CACHE) > _COLUMNS_CACHE_SIZE:
            _COLUMNS_CACHE.popitem(last=False)
    return out


def _take_blocks(frame: pd.DataFrame, flat: np.ndarray,
                 keep: np.ndarray | None = None) -> list[tuple[Any, np.ndarray]] | None:
    """``(values, placement)`` of every block of ``frame`` taken at rows ``flat``; None if unusual.

    ``keep`` (bool per column) leaves columns out; placements are renumbered over the kept ones.
    """
    mgr = getattr(frame, "_mgr", None)
    blocks = getattr(mgr, "blocks", None)
    if blocks is None:
        return None
    new_loc = np.cumsum(keep) - 1 if keep is not None else None
    out = []
    for b in blocks:
        v = b.values
        placement = b.mgr_locs.as_array
        two_d = getattr(v, "ndim", 1) == 2  # numpy blocks and 2-D extension arrays: (columns, rows)
        if keep is not None:
            sel = keep[placement]
            if not sel.any():
                continue
            if not sel.all():
                if not two_d:
                    return None
                v = v[np.flatnonzero(sel)]
            placement = new_loc[placement[sel]]
        out.append((v.take(flat, axis=1) if two_d else v.take(flat), placement))
    return out


def build_hits(
    frame: pd.DataFrame,
    pos: np.ndarray,
    scores: np.ndarray,
    *,
    queries: Sequence[Any] | None = None,
    threshold: float | None = None,
    extra: dict[str, np.ndarray] | None = None,
    drop: Sequence[Any] = (),
) -> pd.DataFrame:
    """Result frame from per-query hit positions.

    Parameters
    ----------
    frame : DataFrame
        The rows that were searched; ``pos`` indexes its rows.
    pos : ndarray, shape (nq, k), int
        Hit positions, best first; ``-1`` marks padding (no hit).
    scores : ndarray, shape (nq, k)
        Scores matching ``pos``.
    queries : sequence of length nq, optional
        When given, a ``query`` column is added with the query each hit answers.
    threshold : float, optional
        Hits with ``score < threshold`` are dropped.
    extra : dict of str -> ndarray (nq, k), optional
        More per-hit columns (e.g. ``keyword_rank``), placed after ``score``.
    drop : sequence of column names
        Columns of ``frame`` left out of the result (searches drop the embedding columns
        unless asked ``with_vectors=True``); never taken, so they cost nothing.
    """
    drop = tuple(c for c in drop if c in frame.columns)
    pos = np.asarray(pos)
    scores = np.asarray(scores, dtype=np.float64)
    nq, k = pos.shape if pos.ndim == 2 else (1, len(pos))
    pos = pos.reshape(nq, k)
    scores = scores.reshape(nq, k)
    keep = pos >= 0
    if threshold is not None:
        keep &= scores >= threshold
    everything = bool(keep.all())
    flat = pos.ravel() if everything else pos[keep]
    flat = flat.astype(np.intp, copy=False)

    def per_hit(values: np.ndarray) -> np.ndarray:
        return values.ravel() if everything else values[keep]

    added: dict[str, Any] = {"score": per_hit(scores)}
    if extra:
        for name, values in extra.items():
            added[name] = per_hit(np.asarray(values).reshape(nq, k))
    added["rank"] = per_hit(np.broadcast_to(np.arange(1, k + 1, dtype=np.int64), (nq, k)))
    if queries is not None:
        qarr = np.empty(nq, dtype=object)
        qarr[:] = list(queries)
        if all(isinstance(q, (int, np.integer)) and not isinstance(q, bool) for q in qarr):
            qarr = qarr.astype(np.int64)  # query positions / integer labels keep an integer dtype
        added["query"] = qarr[per_hit(np.broadcast_to(np.arange(nq)[:, None], (nq, k)))]
    index = frame.index.take(flat)
    columns, keep = _out_columns(frame.columns, tuple(added), drop) if _from_blocks is not None else (None, None)
    blocks = _take_blocks(frame, flat, keep) if columns is not None else None
    if blocks is not None:
        ncol = frame.shape[1] if keep is None else int(keep.sum())
        for i, values in enumerate(added.values()):
            values = np.asarray(values)
            if values.dtype == object:  # e.g. query texts: the dtype pandas would infer (str ...)
                values = pd.Series(values, copy=False)._values
            if isinstance(values, np.ndarray):
                values = values.reshape(1, -1)
            blocks.append((values, np.array([ncol + i], dtype=np.intp)))
        out = _from_blocks(blocks, index=index, columns=columns)
    elif frame.columns.has_duplicates:  # rare (duplicate names and a "score"...): pandas' own take
        out = frame.take(flat)
        if drop:
            out = out.drop(columns=list(drop))
        for name, values in added.items():
            out[name] = values
    else:
        data: dict[Any, Any] = {name: col.array.take(flat) for name, col in frame.items() if name not in drop}
        data.update(added)
        out = pd.DataFrame(data, index=index, copy=False)
    out.attrs = dict(frame.attrs)
    return out


def empty_hits(frame: pd.DataFrame, *, with_query: bool = False, drop: Sequence[Any] = ()) -> pd.DataFrame:
    """A zero-row result with the right columns."""
    return build_hits(frame, np.empty((1, 0), np.int64), np.empty((1, 0)),
                      queries=[None] if with_query else None, drop=drop)
