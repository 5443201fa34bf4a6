"""Equal scores go to the lower row position, on every store.

``df.vec.search`` / ``keyword`` break ties by the lower position in the frame. A store breaks
them its own way (by its key, by its storage order, arbitrarily for HNSW), and a store's keys
follow the frame only for an index built in one go: after ``sync`` / ``upsert`` the keys of
equal-scoring rows can be in any order relative to the frame (and a synced copy and a rebuilt
copy of the same rows answered tied hits in different orders). So the index asks its store for
one hit more than it needs, and more while the ``k``-th score's tie group runs past what came
back, then sorts each query's hits by (score, position) and cuts to ``k``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["top_by_position"]


def _order(pos: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per row, the order (score descending, position ascending), padding (-1) last."""
    pad = pos < 0
    if not pos.size:
        return np.zeros(pos.shape, np.int64)
    return np.lexsort((np.where(pad, np.iinfo(np.int64).max, pos), -np.where(pad, -np.inf, scores)), axis=-1)


def _take(a: np.ndarray, order: np.ndarray, k: int, fill: float) -> np.ndarray:
    out = np.take_along_axis(a, order, axis=1)[:, :k]
    if out.shape[1] < k:  # the store answered fewer than k columns: pad
        out = np.concatenate([out, np.full((len(a), k - out.shape[1]), fill, a.dtype)], axis=1)
    return out


def _runs_on(pos: np.ndarray, scores: np.ndarray, k: int) -> bool:
    """Whether some query's ``k``-th score ties the last hit the store returned (its group may go on)."""
    m = pos.shape[1]
    if m <= k:
        return False
    full = pos[:, m - 1] >= 0
    return bool(np.any(full & (scores[:, m - 1] == scores[:, k - 1]) & (pos[:, k - 1] >= 0)))


def _no_ties(scores: np.ndarray) -> bool:
    """Whether no two neighbouring scores of a row are equal (then no order or cut depends on ties)."""
    if len(scores) == 1:  # one query: a Python pass over a few floats beats numpy's call overheads
        s = scores[0].tolist()
        return all(a != b for a, b in zip(s, s[1:]))
    return not (scores[:, 1:] == scores[:, :-1]).any()


def top_by_position(ask: Callable[[int], tuple[np.ndarray, np.ndarray]], k: int, rows: int,
                    positions: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best ``k`` hits per query, ties by lower position, from a store that breaks ties its own way.

    Parameters
    ----------
    ask : callable n -> (keys (nq, n), scores (nq, n))
        The store's search for ``n`` hits per query, best first (key -1 / padding last).
    k : int
        Hits wanted (already at most ``rows``).
    rows : int
        Rows the index holds (never ask for more).
    positions : callable keys -> positions
        Store keys to row positions (-1 for unknown keys).

    Returns
    -------
    keys (nq, k), positions (nq, k), scores (nq, k) float64

    Examples
    --------
    >>> keys = np.array([[7, 3, 5, 1]])          # the store put key 7 (position 2) first
    >>> sc = np.array([[0.9, 0.9, 0.9, 0.1]])
    >>> pos_of = {7: 2, 3: 0, 5: 1, 1: 3}
    >>> k_, p, s = top_by_position(lambda n: (keys[:, :n], sc[:, :n]), 2, 4,
    ...                            lambda ks: np.vectorize(pos_of.get)(ks))
    >>> p.tolist(), k_.tolist()
    ([[0, 1]], [[3, 5]])
    """
    n = k + 1 if k < rows else k
    keys, scores = ask(n)
    if getattr(keys, "ndim", 0) == 2 and _no_ties(scores):  # the usual answer: already in order, cut to k
        keys = keys[:, :k]
        return keys, positions(keys), scores[:, :k]
    while True:
        keys = np.asarray(keys, dtype=np.int64)
        keys = keys.reshape(1, -1) if keys.ndim == 1 else keys
        scores = np.asarray(scores, dtype=np.float64).reshape(keys.shape)
        if n >= rows or not _runs_on(keys, scores, k):
            break
        n = min(rows, 2 * n)
        keys, scores = ask(n)
    pos = np.asarray(positions(keys), dtype=np.int64).reshape(keys.shape)
    pos = np.where(keys < 0, -1, pos)
    order = _order(pos, scores)
    return _take(keys, order, k, -1), _take(pos, order, k, -1), _take(scores, order, k, -np.inf)
