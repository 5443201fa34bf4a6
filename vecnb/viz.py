"""The numbers behind the widgets: pure functions that return DataFrames and arrays.

Every figure and table that :mod:`vecnb.widgets` shows is computed here, so it can be
tested without a kernel, a browser or matplotlib. Nothing here draws, mutates its inputs,
or holds state, except the projection cache (a content-keyed memo; see :func:`project`).

Comparing metrics (``df.vec.compare_metrics``)
----------------------------------------------
:func:`metric_scores`
    every row's score under each metric (vecnb's convention: higher is closer) and its norm;
:func:`metric_ranks`
    every row's 1-based rank under each metric (ties: lower position first, as in search);
:func:`compare_table`
    the union of the per-metric top-k with ranks, scores, how many lists hold each row
    (``n_top``), whether all agree (``agree``), and how far each metric moves it relative to
    the first metric (``move_<metric>``: positive = further down);
:func:`side_by_side`
    rank 1..k down the side, one column of labels per metric (the widget's main table);
:func:`overlap`
    a metric x metric matrix of shared top-k rows;
:func:`score_histograms`
    score distributions per metric, with the top-k's share of each bin;
:func:`norm_spread`
    the vector-norm spread of all rows and of each metric's top-k: when norms vary, ``dot``
    favours long vectors, which is why ``dot`` and ``cosine`` disagree (they agree exactly
    when every vector has the same norm, and then ``l2`` agrees too).

Exploring embeddings (``df.vec.explore``)
-----------------------------------------
:func:`project`
    a 2-D projection, PCA (numpy SVD, always available) or UMAP (when ``umap-learn`` is
    importable), memoised by the matrix's *content*, so re-running a cell is instant; with
    ``cache="disk"`` (the default in :func:`project`) results also go to
    ``$VECNB_CACHE_DIR/_projections`` so a new kernel does not pay again;
:func:`stratified_sample`
    row positions drawn proportionally per colour class (every class kept);
:func:`map_frame`, :func:`neighbours`, :func:`place_query`
    the points drawn, a query's nearest rows, and where the query lands on the map;
:func:`select_box`, :func:`select_polygon`, :func:`select_values`
    selection -> rows.

Benchmarks (``vecnb.widgets.BenchmarkPanel``)
---------------------------------------------
:func:`bench_summary`, :func:`bench_points`, :func:`latency_table`
    the table, the recall-vs-QPS points and the latency percentiles of a
    ``vecnb.bench.run`` result.

Decisions
---------
* Scores here are computed in float64 over all eligible rows (chunked), so ranks beyond the
  top-k ("moved from 3 to 57") are exact; the top-k equals ``df.vec.search``'s.
* PCA signs are fixed (largest-magnitude loading of each component positive) so the map
  does not flip between runs or machines.
* A query lands on a PCA map at its exact projection; on a UMAP map at the score-weighted
  mean of its neighbours' positions (the same idea as UMAP's own ``transform``, without
  keeping the fitted model around).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import metrics as _metrics
from vecnb.errors import ColumnNotFoundError, InvalidInputError, MissingDependencyError

__all__ = [
    "Projection",
    "bench_points",
    "bench_summary",
    "clear_projection_cache",
    "compare_table",
    "content_key",
    "latency_table",
    "map_frame",
    "metric_ranks",
    "metric_scores",
    "neighbours",
    "norm_spread",
    "overlap",
    "pca",
    "place_query",
    "points_in_polygon",
    "project",
    "score_histograms",
    "select_box",
    "select_polygon",
    "select_values",
    "side_by_side",
    "stratified_sample",
    "umap_available",
    "PCA_FIT_ROWS",
    "UMAP_MAX_ROWS",
]

_CHUNK = 8192


# =======================================================================================
# comparing metrics
# =======================================================================================
def _check_metrics(metrics: Iterable[str]) -> list[str]:
    if isinstance(metrics, str):
        metrics = [metrics]
    out: list[str] = []
    for m in metrics:
        name = _metrics.resolve_metric(m)
        if name not in out:
            out.append(name)
    if not out:
        raise InvalidInputError("Choose at least one metric to compare (cosine, dot, l2).")
    return out


def _one_query(q: Any, dim: int) -> np.ndarray:
    Q = _metrics.as_matrix(q, dim=dim, what="query vector")
    if Q.shape[0] != 1:
        raise InvalidInputError(f"Compare metrics for one query at a time; got {Q.shape[0]} query vectors.")
    return Q[0]


def metric_scores(
    X: np.ndarray,
    q: np.ndarray,
    metrics: Iterable[str] = _metrics.METRICS,
    *,
    index: Sequence[Any] | pd.Index | None = None,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Every eligible row's score under each metric, and its norm.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        The vectors.
    q : ndarray, shape (d,) or (1, d)
        One query vector.
    metrics : iterable of str
        Metric names or aliases; canonical names are used as columns.
    index : sequence of length n, optional
        Row labels (e.g. ``df.index``); default the positions 0..n-1.
    rows : ndarray of int, optional
        Positions of the eligible rows (a pre-filter); default all.

    Returns
    -------
    DataFrame, shape (m, 2 + len(metrics))
        Indexed by the rows' labels, in position order, with columns ``pos`` (position in
        ``X``), one float64 score column per metric (higher is closer: cosine similarity,
        inner product, minus the Euclidean distance) and ``norm`` (the row's L2 norm).

    Raises
    ------
    InvalidVectorError
        NaN / inf rows, or zero rows / a zero query under ``cosine``.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [3.0, 0.5], [0.0, 1.0]], np.float32)
    >>> vecnb.viz.metric_scores(X, np.array([1.0, 0.2], np.float32), index=["a", "b", "c"]).round(3)
       pos  cosine  dot     l2   norm
    a    0   0.981  1.0 -0.200  1.000
    b    1   0.999  3.1 -2.022  3.041
    c    2   0.196  0.2 -1.281  1.000
    """
    mets = _check_metrics(metrics)
    X = _metrics.as_matrix(X, what="vectors")
    qv = _one_query(q, X.shape[1])
    for m in mets:
        _metrics.check_vectors(qv[None, :], m, what="query vector")
    pos = np.arange(X.shape[0], dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    if pos.size and (pos.min() < 0 or pos.max() >= X.shape[0]):
        raise InvalidInputError(f"rows must be positions in 0..{X.shape[0] - 1}.")
    q64 = qv.astype(np.float64)
    qn = float(np.sqrt(q64 @ q64))
    cols = {m: np.empty(len(pos), np.float64) for m in mets}
    norms = np.empty(len(pos), np.float64)
    for a in range(0, len(pos), _CHUNK):
        p = pos[a:a + _CHUNK]
        xc = X[p].astype(np.float64)
        nrm = np.sqrt(np.einsum("ij,ij->i", xc, xc))
        if not np.isfinite(nrm).all():
            _metrics.check_vectors(X[p], "dot", what="vectors")
        norms[a:a + len(p)] = nrm
        dot = xc @ q64
        for m in mets:
            if m == "dot":
                cols[m][a:a + len(p)] = dot
            elif m == "cosine":
                if (nrm == 0).any():
                    _metrics.check_vectors(X[p], "cosine", what="vectors")
                cols[m][a:a + len(p)] = dot / (nrm * qn)
            else:
                diff = xc - q64[None, :]
                cols[m][a:a + len(p)] = -np.sqrt(np.einsum("ij,ij->i", diff, diff))
    labels = pd.RangeIndex(X.shape[0]) if index is None else pd.Index(index)
    if len(labels) != X.shape[0]:
        raise InvalidInputError(f"index has {len(labels)} labels for {X.shape[0]} vectors.")
    out = pd.DataFrame({"pos": pos, **cols, "norm": norms}, index=labels[pos])
    return out


def metric_ranks(scores: pd.DataFrame, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """1-based rank of every row under each metric (best = 1; ties: lower ``pos`` first).

    Parameters
    ----------
    scores : DataFrame
        From :func:`metric_scores` (needs ``pos`` and the metric columns).
    metrics : iterable of str, optional
        Default: every metric column present.

    Returns
    -------
    DataFrame, shape (m, len(metrics))
        Same index as ``scores``; int64 ranks.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [3.0, 0.5], [0.0, 1.0]], np.float32)
    >>> scores = vecnb.viz.metric_scores(X, np.array([1.0, 0.2], np.float32), index=["a", "b", "c"])
    >>> vecnb.viz.metric_ranks(scores)
       cosine  dot  l2
    a       2    2   1
    b       1    1   3
    c       3    3   2
    """
    mets = _present_metrics(scores, metrics)
    pos = scores["pos"].to_numpy()
    out = {}
    for m in mets:
        order = np.lexsort((pos, -scores[m].to_numpy()))
        r = np.empty(len(order), np.int64)
        r[order] = np.arange(1, len(order) + 1)
        out[m] = r
    return pd.DataFrame(out, index=scores.index)


def _present_metrics(scores: pd.DataFrame, metrics: Iterable[str] | None) -> list[str]:
    if metrics is None:
        return [m for m in _metrics.METRICS if m in scores.columns]
    mets = _check_metrics(metrics)
    missing = [m for m in mets if m not in scores.columns]
    if missing:
        raise InvalidInputError(f"scores have no column for metric(s) {missing}; compute them with metric_scores.")
    return mets


def compare_table(scores: pd.DataFrame, k: int, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """The union of every metric's top-k, with ranks, scores, agreement and rank movement.

    Parameters
    ----------
    scores : DataFrame
        From :func:`metric_scores`.
    k : int
        Hits per metric (capped at the number of rows).
    metrics : iterable of str, optional
        The metrics compared; the first is the reference for ``move_*``. Default: every
        metric column of ``scores`` in the order cosine, dot, l2.

    Returns
    -------
    DataFrame, shape (u, ...)
        One row per row label in at least one top-k (u <= k * len(metrics)), sorted by the
        reference metric's rank. Columns: ``pos``; per metric ``rank_<m>`` (rank among all
        eligible rows) and ``score_<m>``; ``top_<m>`` (bool: in that metric's top-k);
        ``n_top`` (how many top-k lists hold the row); ``agree`` (all of them);
        ``move_<m>`` for each non-reference metric (``rank_<m> - rank_<ref>``: positive
        means the row sits lower under ``m``); ``rank_spread`` (max - min rank); ``norm``.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [3.0, 0.5], [0.0, 1.0]], np.float32)
    >>> scores = vecnb.viz.metric_scores(X, np.array([1.0, 0.2], np.float32), index=["a", "b", "c"])
    >>> vecnb.viz.compare_table(scores, k=1)[["pos", "rank_cosine", "rank_dot", "rank_l2", "n_top", "agree"]]
       pos  rank_cosine  rank_dot  rank_l2  n_top  agree
    b    1            1         1        3      2  False
    a    0            2         2        1      1  False
    """
    k = _check_k(k)
    mets = _present_metrics(scores, metrics)
    ranks = metric_ranks(scores, mets)
    kk = min(k, len(scores))
    top = {m: ranks[m].to_numpy() <= kk for m in mets}
    inany = np.zeros(len(scores), bool)
    for m in mets:
        inany |= top[m]
    sel = np.flatnonzero(inany)
    ref = mets[0]
    out = pd.DataFrame(index=scores.index[sel])
    out["pos"] = scores["pos"].to_numpy()[sel]
    for m in mets:
        out[f"rank_{m}"] = ranks[m].to_numpy()[sel]
        out[f"score_{m}"] = scores[m].to_numpy()[sel]
    for m in mets:
        out[f"top_{m}"] = top[m][sel]
    n_top = np.zeros(len(sel), np.int64)
    for m in mets:
        n_top += top[m][sel]
    out["n_top"] = n_top
    out["agree"] = n_top == len(mets)
    for m in mets[1:]:
        out[f"move_{m}"] = out[f"rank_{m}"] - out[f"rank_{ref}"]
    rk = np.stack([out[f"rank_{m}"].to_numpy() for m in mets], axis=1) if len(sel) else np.empty((0, len(mets)))
    out["rank_spread"] = (rk.max(axis=1) - rk.min(axis=1)).astype(np.int64) if len(sel) else np.empty(0, np.int64)
    out["norm"] = scores["norm"].to_numpy()[sel]
    order = np.lexsort([out[f"rank_{m}"].to_numpy() for m in reversed(mets)])
    return out.iloc[order]


def side_by_side(
    table: pd.DataFrame,
    k: int,
    metrics: Iterable[str] | None = None,
    *,
    text: pd.Series | None = None,
) -> pd.DataFrame:
    """Rank 1..k down the side, each metric's hit in adjacent columns.

    Parameters
    ----------
    table : DataFrame
        From :func:`compare_table` (same ``k`` or larger).
    k : int
    metrics : iterable of str, optional
        Default: the metrics of ``table`` in its order.
    text : Series, optional
        Display text per row label (e.g. a title); adds ``<m>_text`` columns.

    Returns
    -------
    DataFrame, shape (k', 4 * len(metrics)) (5 * with ``text``)
        Index ``rank`` 1..k' (k' = the shortest top-k). Per metric: ``<m>`` the row label,
        ``<m>_score``, ``<m>_n_top`` (how many metrics' top-k hold that row: all = agreement),
        ``<m>_move`` (its rank under the reference metric minus this rank; 0 under the
        reference itself; positive = this metric lifts it).

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [3.0, 0.5], [0.0, 1.0]], np.float32)
    >>> scores = vecnb.viz.metric_scores(X, np.array([1.0, 0.2], np.float32), index=["a", "b", "c"])
    >>> table = vecnb.viz.compare_table(scores, k=2)
    >>> vecnb.viz.side_by_side(table, k=2)[["cosine", "dot", "l2", "l2_score"]]
         cosine dot l2  l2_score
    rank
    1         b   b  a -0.200000
    2         a   a  c -1.280625
    """
    k = _check_k(k)
    mets = _table_metrics(table) if metrics is None else _check_metrics(metrics)
    ref = _table_metrics(table)[0]
    cols: dict[str, Any] = {}
    depth = None
    for m in mets:
        hit = table[table[f"rank_{m}"] <= k].sort_values(f"rank_{m}")
        depth = len(hit) if depth is None else min(depth, len(hit))
    depth = depth or 0
    for m in mets:
        hit = table[table[f"rank_{m}"] <= k].sort_values(f"rank_{m}").iloc[:depth]
        cols[m] = hit.index.to_numpy()
        if text is not None:
            cols[f"{m}_text"] = text.reindex(hit.index).to_numpy()
        cols[f"{m}_score"] = hit[f"score_{m}"].to_numpy()
        cols[f"{m}_n_top"] = hit["n_top"].to_numpy()
        cols[f"{m}_move"] = (hit[f"rank_{ref}"] - hit[f"rank_{m}"]).to_numpy()
    return pd.DataFrame(cols, index=pd.RangeIndex(1, depth + 1, name="rank"))


def _table_metrics(table: pd.DataFrame) -> list[str]:
    mets = [c[len("rank_"):] for c in table.columns if c.startswith("rank_") and c != "rank_spread"]
    if not mets:
        raise InvalidInputError("table has no rank_<metric> columns; build it with compare_table.")
    return mets


def overlap(table: pd.DataFrame, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """How many top-k rows each pair of metrics shares.

    Returns
    -------
    DataFrame, shape (m, m)
        ``out.loc[a, b]`` = number of rows in both ``a``'s and ``b``'s top-k (the diagonal is
        each list's length).

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [3.0, 0.5], [0.0, 1.0]], np.float32)
    >>> scores = vecnb.viz.metric_scores(X, np.array([1.0, 0.2], np.float32), index=["a", "b", "c"])
    >>> vecnb.viz.overlap(vecnb.viz.compare_table(scores, k=1))
            cosine  dot  l2
    metric                 
    cosine       1    1   0
    dot          1    1   0
    l2           0    0   1
    """
    mets = _table_metrics(table) if metrics is None else _check_metrics(metrics)
    T = np.stack([table[f"top_{m}"].to_numpy(bool) for m in mets], axis=1).astype(np.int64)
    M = T.T @ T
    return pd.DataFrame(M, index=pd.Index(mets, name="metric"), columns=mets)


def score_histograms(
    scores: pd.DataFrame,
    table: pd.DataFrame | None = None,
    metrics: Iterable[str] | None = None,
    *,
    bins: int = 30,
) -> pd.DataFrame:
    """Score distribution of each metric over all eligible rows.

    Parameters
    ----------
    scores : DataFrame
        From :func:`metric_scores`.
    table : DataFrame, optional
        From :func:`compare_table`: adds how many of each metric's top-k fall in each bin.
    bins : int
        Equal-width bins per metric, spanning that metric's min..max.

    Returns
    -------
    DataFrame, shape (len(metrics) * bins, 5 or 6)
        Columns ``metric``, ``bin`` (0-based), ``left``, ``right``, ``count`` and, with
        ``table``, ``top_count``. Counts follow :func:`numpy.histogram` (last bin closed).

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [3.0, 0.5], [0.0, 1.0]], np.float32)
    >>> scores = vecnb.viz.metric_scores(X, np.array([1.0, 0.2], np.float32))
    >>> hist = vecnb.viz.score_histograms(scores, bins=4)
    >>> list(hist.columns)
    ['metric', 'bin', 'left', 'right', 'count']
    >>> int(hist.loc[hist["metric"] == "cosine", "count"].sum())
    3
    """
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise InvalidInputError(f"bins must be a positive integer, got {bins!r}.")
    mets = _present_metrics(scores, metrics)
    parts = []
    for m in mets:
        v = scores[m].to_numpy()
        counts, edges = np.histogram(v, bins=int(bins))
        part = {"metric": m, "bin": np.arange(len(counts)), "left": edges[:-1], "right": edges[1:], "count": counts}
        if table is not None:
            tv = table.loc[table[f"top_{m}"], f"score_{m}"].to_numpy()
            part["top_count"] = np.histogram(tv, bins=edges)[0]
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


_DESCRIBE = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"]


def _describe(v: np.ndarray) -> list[float]:
    """``pandas.Series.describe()`` of a float array, NaNs dropped (numpy: ~20x faster)."""
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return [0.0] + [np.nan] * 7
    std = float(v.std(ddof=1)) if len(v) > 1 else np.nan
    q = np.percentile(v, [0, 25, 50, 75, 100])
    return [float(len(v)), float(v.mean()), std, *map(float, q)]


def norm_spread(scores: pd.DataFrame, table: pd.DataFrame | None = None,
                metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """Vector-norm statistics of all rows and of each metric's top-k.

    Returns
    -------
    DataFrame
        Index ``"all rows"`` then ``"top-k <metric>"`` per metric (with ``table``); columns
        ``count, mean, std, min, 25%, 50%, 75%, max`` (pandas ``describe`` semantics, ``std``
        with ddof=1) and ``cv`` (std / mean: 0 means every vector has the same length, and
        then cosine, dot and l2 rank identically).

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [3.0, 0.5], [0.0, 1.0]], np.float32)
    >>> scores = vecnb.viz.metric_scores(X, np.array([1.0, 0.2], np.float32))
    >>> vecnb.viz.norm_spread(scores, vecnb.viz.compare_table(scores, k=1)).round(2)
                  count  mean   std   min   25%   50%   75%   max   cv
    rows                                                              
    all rows          3  1.68  1.18  1.00  1.00  1.00  2.02  3.04  0.7
    top-k cosine      1  3.04   NaN  3.04  3.04  3.04  3.04  3.04  NaN
    top-k dot         1  3.04   NaN  3.04  3.04  3.04  3.04  3.04  NaN
    top-k l2          1  1.00   NaN  1.00  1.00  1.00  1.00  1.00  NaN
    """
    rows = {"all rows": scores["norm"]}
    if table is not None:
        for m in (_table_metrics(table) if metrics is None else _check_metrics(metrics)):
            rows[f"top-k {m}"] = table.loc[table[f"top_{m}"], "norm"]
    out = pd.DataFrame.from_dict({name: _describe(s.to_numpy(np.float64)) for name, s in rows.items()},
                                 orient="index", columns=_DESCRIBE)
    out["count"] = out["count"].astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cv"] = out["std"] / out["mean"]
    out.index.name = "rows"
    return out


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}.")
    return int(k)


# =======================================================================================
# projections
# =======================================================================================
@dataclass
class Projection:
    """A 2-D (or n-D) projection of a matrix.

    Attributes
    ----------
    coords : ndarray, shape (n, n_components), float32
    method : {"pca", "umap"}
    key : str
        Content key of the input matrix and parameters.
    params : dict
    mean, components : ndarray or None
        PCA only: the centre (d,) and the components (n_components, d); ``x @ components.T``
        after centring places any new vector on the map.
    explained : ndarray or None
        PCA only: explained-variance ratio per component.
    seconds : float
        Time the computation took when it was made (not when it was fetched from cache).
    source : {"computed", "memory", "disk"}
        Where this call got it from.
    note : str
        What a reader of the map should know (e.g. "UMAP fitted on a sample of 20,000 rows,
        the other 80,000 placed with its transform"; "PCA: 100,000 rows is above ...").

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    >>> p = vecnb.viz.project(X, "pca", cache=False)
    >>> p.method, p.coords.shape
    ('pca', (50, 2))
    >>> p.transform(X[:2]).round(3).tolist() == p.coords[:2].round(3).tolist()
    True
    """

    coords: np.ndarray
    method: str
    key: str
    params: dict = field(default_factory=dict)
    mean: np.ndarray | None = None
    components: np.ndarray | None = None
    explained: np.ndarray | None = None
    seconds: float = 0.0
    source: str = "computed"
    note: str = ""

    def transform(self, Y: np.ndarray) -> np.ndarray:
        """Place new vectors (m, d) on a PCA map; raises for UMAP (use :func:`place_query`)."""
        if self.components is None or self.mean is None:
            raise InvalidInputError("Only a PCA projection can transform new vectors; use viz.place_query.")
        Y = _metrics.as_matrix(Y, dim=self.components.shape[1], what="vectors")
        return ((Y.astype(np.float64) - self.mean) @ self.components.T).astype(np.float32)


_MEMO: OrderedDict[str, Projection] = OrderedDict()
_MEMO_SIZE = 16
_MEMO_LOCK = threading.Lock()
# content hashes of read-only matrices (e.g. Arrow-backed columns) by address; holds a
# reference so the memory cannot be freed and reused while the entry lives
_HASHES: OrderedDict = OrderedDict()


def content_key(X: np.ndarray) -> str:
    """A hex digest of the matrix's dtype, shape and bytes (blake2b, 128 bit).

    Read-only matrices (the zero-copy view of an embedding column) are hashed once per
    buffer; writable ones every call (~10 ms for 5k x 384).

    Examples
    --------
    >>> X = np.ones((3, 4), np.float32)
    >>> key = vecnb.viz.content_key(X)
    >>> len(key), key == vecnb.viz.content_key(X.copy()), key == vecnb.viz.content_key(2 * X)
    (32, True, False)
    """
    X = np.ascontiguousarray(X)
    addr = None
    if not X.flags.writeable:
        addr = (X.__array_interface__["data"][0], X.shape, X.strides, X.dtype.str)
        with _MEMO_LOCK:
            hit = _HASHES.get(addr)
            if hit is not None:
                _HASHES.move_to_end(addr)
                return hit[1]
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{X.dtype.str}{X.shape}".encode())
    h.update(memoryview(X).cast("B"))
    key = h.hexdigest()
    if addr is not None:
        with _MEMO_LOCK:
            _HASHES[addr] = (X, key)
            while len(_HASHES) > _MEMO_SIZE:
                _HASHES.popitem(last=False)
    return key


# PCA above this many rows fits its axes on a random sample of this many rows (float32 scatter
# matrix); the mean and the projection use every row. Measured at 100k x 384 on 2 cores (load
# ~16, session of 2026-12-04): the exact float64 path took 15.6 s of an 18.5 s explore call,
# mostly a float64 copy of X and its 15-GFLOP scatter matrix; the sampled fit is ~10x cheaper.
# The sampled axes keep >= 97% of the variance the exact top-2 axes keep (test_viz); on data
# with a small eigen-gap they may turn within it, so the note on the map says it is sampled.
PCA_FIT_ROWS = 10_000


def pca(X: np.ndarray, n_components: int = 2, *, fit_rows: int | None = None,
        seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Principal components through numpy's SVD (of the centred matrix, or of its d x d
    scatter matrix when n > d).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    n_components : int
    fit_rows : int or None
        Above this many rows the components come from a random sample of ``fit_rows`` rows
        (seeded); ``None`` (the default) always uses every row. :func:`project` passes
        ``PCA_FIT_ROWS``.
    seed : int
        Seed of that sample.

    Returns
    -------
    coords : ndarray, shape (n, n_components), float32
    mean : ndarray, shape (d,), float64
    components : ndarray, shape (n_components, d), float64
        Unit rows, signs fixed so each row's largest-magnitude entry is positive.
    explained : ndarray, shape (n_components,)
        Explained-variance ratio.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(100, 5)).astype(np.float32) * [5, 1, 1, 1, 1]
    >>> coords, mean, components, explained = vecnb.viz.pca(X)
    >>> coords.shape, components.shape, bool(explained[0] > 0.8)
    ((100, 2), (2, 5), True)
    """
    X = _metrics.as_matrix(X, what="vectors")
    n, d = X.shape
    if n < 2:
        raise InvalidInputError(f"PCA needs at least 2 rows; got {n}.")
    c = min(int(n_components), n, d)
    mean = X.mean(axis=0, dtype=np.float64)
    sampled = fit_rows is not None and n > int(fit_rows)
    if sampled:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=int(fit_rows), replace=False))
        Xc = X[rows] - mean.astype(np.float32)  # float32 sgemm: half the time; plenty for map axes
    else:
        Xc = X.astype(np.float64) - mean
    if Xc.shape[0] > d:
        # SVD of the d x d scatter matrix Xc'Xc = V S^2 V': the same right singular vectors
        # without forming U (n x d): ~10x faster at 5k x 384, exact to float64 rounding
        scatter = (Xc.T @ Xc).astype(np.float64)
        with _one_blas_thread():  # a small SVD: threads only contend (5x slower on a busy box)
            _, s2, vt = np.linalg.svd(scatter)
        s = np.sqrt(np.maximum(s2, 0.0))
    else:
        _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    comps = vt[:c]
    signs = np.sign(comps[np.arange(c), np.abs(comps).argmax(axis=1)])
    signs[signs == 0] = 1
    comps = comps * signs[:, None]
    if sampled:  # every row, without a float64 copy of X: (X - mean) W = X W - mean W
        coords = (X @ comps.T.astype(np.float32) - (mean @ comps.T).astype(np.float32)).astype(np.float32)
    else:
        coords = (Xc @ comps.T).astype(np.float32)
    if c < n_components:  # degenerate input: pad with zeros so callers always get 2 columns
        coords = np.hstack([coords, np.zeros((n, n_components - c), np.float32)])
        comps = np.vstack([comps, np.zeros((n_components - c, d))])
    var = s**2
    total = var.sum()
    explained = np.zeros(n_components)
    explained[:c] = var[:c] / total if total > 0 else 0.0
    return coords, mean, comps, explained


def _one_blas_thread():
    """Context limiting BLAS / LAPACK to one thread (a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn / umap-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def umap_available() -> bool:
    """Whether ``umap-learn`` can be imported (without importing it).

    Examples
    --------
    >>> isinstance(vecnb.viz.umap_available(), bool)
    True
    """
    import importlib.util

    return importlib.util.find_spec("umap") is not None


def _disk_dir() -> Path | None:
    env = os.environ.get("VECNB_CACHE_DIR")
    if env and "://" in env:
        return None  # remote caches are for embeddings; projections stay local
    base = Path(env).expanduser() if env else Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vecnb"
    return base / "_projections"


def clear_projection_cache(*, disk: bool = False) -> None:
    """Forget memoised projections (and with ``disk=True`` delete the on-disk ones).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    >>> vecnb.viz.project(X, "pca", cache=True).source
    'computed'
    >>> vecnb.viz.project(X, "pca", cache=True).source
    'memory'
    >>> vecnb.viz.clear_projection_cache()
    >>> vecnb.viz.project(X, "pca", cache=True).source
    'computed'
    """
    with _MEMO_LOCK:
        _MEMO.clear()
        _HASHES.clear()
    if disk:
        folder = _disk_dir()
        if folder is not None and folder.is_dir():
            for p in folder.glob("*.npz"):
                try:
                    p.unlink()
                except OSError:
                    pass


# UMAP is the default map up to this many rows. Measured on this project's 2-core machine while
# ~8 engineers shared it (load average ~17, clustered 384-d data, umap-learn 0.5.12, one thread
# because of the seed): first call in a process 125 s at 1k rows (numba compiling), then 21 s at
# 1k, 130 s at 10k, 195 s at 20k (5k: 388 s, an outlier of the load). Expect several times less
# on a quiet machine. Above it "auto" draws PCA (seconds) and says so; ``method="umap"`` then
# fits UMAP on a random sample of UMAP_FIT_ROWS rows and places the others with UMAP's
# ``transform`` (chunked, with progress).
UMAP_MAX_ROWS = 20_000
UMAP_FIT_ROWS = 20_000
_TRANSFORM_CHUNK = 20_000


def project(
    X: np.ndarray,
    method: Any = "auto",
    *,
    n_components: int = 2,
    seed: int = 0,
    metric: str = "cosine",
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    cache: bool | str = "disk",
    progress: bool = False,
    umap_max_rows: int | None = None,
    umap_fit_rows: int | None = None,
) -> Projection:
    """Project ``X`` to 2-D, memoised by content.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    method : {"auto", "pca", "umap"} or callable
        ``"auto"``: UMAP when ``umap-learn`` is importable and 30 <= n <= ``UMAP_MAX_ROWS``
        (20,000), else PCA (the returned ``note`` says why). ``"umap"`` above
        ``UMAP_MAX_ROWS``: UMAP fitted on a random sample of ``UMAP_FIT_ROWS`` rows, the rest
        placed with ``transform``. A callable ``f(X) -> (n, >=2) array`` is used as is (not
        cached: a function has no content key).
    n_components : int
    seed : int
        UMAP's ``random_state`` (which also makes it single-threaded and deterministic) and
        the sample's seed.
    metric : str
        UMAP's input metric (``cosine``, ``dot`` (as cosine), ``l2`` / ``euclidean``).
    n_neighbors, min_dist
        UMAP parameters; ``n_neighbors`` is capped at n - 1.
    cache : bool or "disk"
        ``False``: compute. ``True``: in-memory memo (this process). ``"disk"``: memo, plus
        ``$VECNB_CACHE_DIR/_projections/<key>.npz`` (or ``~/.cache/vecnb/_projections``).
    progress : bool
        Show a tqdm bar over the steps (and over UMAP's transform chunks).
    umap_max_rows : int, optional
        The size limit of ``method="auto"``'s UMAP (default :data:`UMAP_MAX_ROWS`).
    umap_fit_rows : int, optional
        UMAP fits on at most this many rows (default :data:`UMAP_FIT_ROWS`); above it, a
        seeded random sample is fitted (those rows keep the coordinates the fit gave them)
        and the other rows are placed with ``transform``, in chunks.

    Returns
    -------
    Projection
        ``coords`` (n, n_components) float32, where it came from (``source``) and a ``note``.

    Raises
    ------
    MissingDependencyError
        ``method="umap"`` without ``umap-learn``.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
    >>> p = vecnb.viz.project(X, "pca", cache=False)
    >>> p.coords.shape, p.method, p.source
    ((200, 2), 'pca', 'computed')
    """
    X = _metrics.as_matrix(X, what="vectors")
    n = X.shape[0]
    if callable(method):
        return _project_callable(X, method)
    if method not in ("auto", "pca", "umap"):
        raise InvalidInputError(f"method must be 'auto', 'pca', 'umap' or a function X -> (n, 2) coordinates, "
                                f"got {method!r}.")
    if method == "umap" and not umap_available():
        raise MissingDependencyError.for_extra("UMAP projections", "viz", module="umap")
    max_rows = _positive("umap_max_rows", UMAP_MAX_ROWS if umap_max_rows is None else umap_max_rows)
    fit_rows = _positive("umap_fit_rows", UMAP_FIT_ROWS if umap_fit_rows is None else umap_fit_rows)
    note = ""
    if method == "auto":
        method = "umap" if (umap_available() and 30 <= n <= max_rows) else "pca"
        if n > max_rows and umap_available():
            note = (f"PCA: {n:,} rows is above UMAP's default limit of {max_rows:,} rows; method='umap' fits "
                    f"UMAP on {min(n, fit_rows):,} sampled rows and places the rest")
    if n < 2:
        raise InvalidInputError(f"A projection needs at least 2 rows; got {n}.")
    _metrics.check_matrix(X, "dot", what="vectors")  # via the (cached) norms: ~10x cheaper than isfinite over n x d
    params: dict[str, Any] = {"n_components": int(n_components)}
    if method == "pca" and n > PCA_FIT_ROWS:
        params.update(fit_rows=PCA_FIT_ROWS, seed=int(seed))
    if method == "umap":
        umetric = {"cosine": "cosine", "dot": "cosine", "l2": "euclidean"}[_metrics.resolve_metric(metric)]
        params.update(seed=int(seed), metric=umetric, n_neighbors=int(min(n_neighbors, n - 1)),
                      min_dist=float(min_dist), fit_rows=int(min(n, fit_rows)))
        if params["fit_rows"] < 4:
            raise InvalidInputError(f"umap_fit_rows={fit_rows} is too small: UMAP needs at least 4 rows to fit.")
        if n < 4:
            raise InvalidInputError(f"UMAP needs at least 4 rows; got {n}. Use method='pca'.")
    from tqdm.auto import tqdm

    bar = tqdm(total=3, desc=f"{method.upper()} projection", disable=not progress, leave=False)
    try:
        bar.set_postfix_str("hashing")
        key = _projection_key(content_key(X) if cache else "uncached", method, params)
        bar.update(1)
        if cache:
            got = _cached(key, cache)
            if got is not None:
                bar.update(2)
                return got
        bar.set_postfix_str("computing" if method == "pca" else
                            "computing (UMAP's first call in a process compiles for ~30-60 s)")
        t0 = time.perf_counter()
        if method == "pca":
            coords, mean, comps, expl = pca(X, n_components, fit_rows=PCA_FIT_ROWS, seed=int(seed))
            if n > PCA_FIT_ROWS:
                note = "; ".join(x for x in (note, f"PCA axes fitted on {PCA_FIT_ROWS:,} sampled rows") if x)
            proj = Projection(coords, "pca", key, params, mean, comps, expl, note=note)
        else:
            coords, unote = _umap(X, params, progress)
            proj = Projection(coords, "umap", key, params, note=unote)
        proj.seconds = time.perf_counter() - t0
        bar.update(1)
        if cache:
            _remember(proj)
            if cache == "disk":
                _disk_save(proj)
        bar.update(1)
        return _replace_source(proj, "computed")
    finally:
        bar.close()


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _cached(key: str, cache: bool | str) -> Projection | None:
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
        if hit is not None:
            _MEMO.move_to_end(key)
    if hit is not None:
        return _replace_source(hit, "memory")
    if cache == "disk":
        got = _disk_load(key)
        if got is not None:
            _remember(got)
            return _replace_source(got, "disk")
    return None


def _project_callable(X: np.ndarray, fn: Any) -> Projection:
    name = getattr(fn, "__name__", type(fn).__name__)
    t0 = time.perf_counter()
    coords = np.asarray(fn(X), dtype=np.float32)
    if coords.ndim != 2 or coords.shape[0] != X.shape[0] or coords.shape[1] < 2:
        raise InvalidInputError(f"method={name} returned an array of shape {coords.shape}; a projection function "
                                f"must return ({X.shape[0]}, 2) coordinates, one row per input row.")
    if not np.isfinite(coords[:, :2]).all():
        raise InvalidInputError(f"method={name} returned NaN or infinite coordinates.")
    proj = Projection(np.ascontiguousarray(coords[:, :2]), name, f"callable:{name}", {})
    proj.seconds = time.perf_counter() - t0
    return proj


def _umap(X: np.ndarray, params: dict, progress: bool) -> tuple[np.ndarray, str]:
    """UMAP of every row, or fitted on a sample and ``transform`` for the rest (> UMAP_FIT_ROWS)."""
    import warnings

    import umap  # heavy: numba JIT on first call (~15-60 s per process)

    n = X.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_components=params["n_components"], random_state=params["seed"],
                            metric=params["metric"], n_neighbors=params["n_neighbors"],
                            min_dist=params["min_dist"])
        if n <= params["fit_rows"]:
            return np.asarray(reducer.fit_transform(X), dtype=np.float32), ""
        rng = np.random.default_rng(params["seed"])
        fit = np.sort(rng.choice(n, size=params["fit_rows"], replace=False))
        coords = np.empty((n, params["n_components"]), np.float32)
        coords[fit] = reducer.fit_transform(X[fit])
        rest = np.setdiff1d(np.arange(n), fit)
        from tqdm.auto import tqdm

        for a in tqdm(range(0, len(rest), _TRANSFORM_CHUNK), desc="UMAP transform", disable=not progress,
                      leave=False):
            part = rest[a:a + _TRANSFORM_CHUNK]
            coords[part] = reducer.transform(X[part])
    return coords, (f"UMAP fitted on a random sample of {len(fit):,} rows; the other {len(rest):,} placed "
                    f"with its transform")


def _projection_key(xkey: str, method: str, params: dict) -> str:
    spec = f"v1|{xkey}|{method}|{sorted(params.items())}"
    return hashlib.blake2b(spec.encode(), digest_size=16).hexdigest()


def _replace_source(p: Projection, source: str) -> Projection:
    return Projection(p.coords, p.method, p.key, dict(p.params), p.mean, p.components, p.explained,
                      p.seconds, source, p.note)


def _remember(p: Projection) -> None:
    p.coords.setflags(write=False)
    with _MEMO_LOCK:
        _MEMO[p.key] = p
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)


def _disk_save(p: Projection) -> None:
    folder = _disk_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{p.key}.{os.getpid()}.tmp.npz"
        extra = {} if p.mean is None else {"mean": p.mean, "components": p.components, "explained": p.explained}
        np.savez(tmp, coords=p.coords, method=np.array(p.method), seconds=np.array(p.seconds),
                 note=np.array(p.note), **extra)
        os.replace(tmp, folder / f"{p.key}.npz")
    except OSError:
        pass  # a cache that cannot be written is only slower


def _disk_load(key: str) -> Projection | None:
    folder = _disk_dir()
    if folder is None:
        return None
    path = folder / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            method = str(z["method"])
            p = Projection(np.asarray(z["coords"], np.float32), method, key, {},
                           z.get("mean"), z.get("components"), z.get("explained"), float(z["seconds"]),
                           note=str(z["note"]) if "note" in z else "")
        return p
    except (OSError, ValueError, KeyError):
        return None


# =======================================================================================
# sampling, map, neighbours, selection
# =======================================================================================
def stratified_sample(n: int, size: int, labels: Sequence[Any] | pd.Series | None = None,
                      *, seed: int = 0) -> np.ndarray:
    """Positions of a sample of ``size`` rows out of ``n``, stratified by ``labels``.

    Each class gets ``size * class_count / n`` rows (largest-remainder rounding), but at
    least one while ``size`` allows (taken from the largest classes), so rare classes stay
    on the map. Missing labels form a
    class of their own.

    Parameters
    ----------
    n : int
        Number of rows.
    size : int
        Wanted sample size; ``size >= n`` returns every position.
    labels : sequence of length n, optional
        Class of each row; ``None`` draws a simple random sample.
    seed : int

    Returns
    -------
    ndarray of int64, shape (min(size, n),)
        Sorted positions.

    Examples
    --------
    >>> labels = ["a"] * 90 + ["b"] * 10
    >>> pos = vecnb.viz.stratified_sample(100, 20, labels, seed=0)
    >>> len(pos), sorted({labels[i] for i in pos})
    (20, ['a', 'b'])
    """
    n = int(n)
    size = int(size)
    if size <= 0:
        raise InvalidInputError(f"sample size must be positive, got {size}.")
    if size >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)
    codes, uniq = pd.factorize(pd.Series(labels, copy=False).reset_index(drop=True), use_na_sentinel=False)
    if len(codes) != n:
        raise InvalidInputError(f"labels has {len(codes)} values for {n} rows.")
    counts = np.bincount(codes, minlength=len(uniq))
    quota = _allocate(counts, size)
    out = []
    for c in np.flatnonzero(quota):
        members = np.flatnonzero(codes == c)
        out.append(rng.choice(members, size=quota[c], replace=False))
    return np.sort(np.concatenate(out)).astype(np.int64)


def _allocate(counts: np.ndarray, size: int) -> np.ndarray:
    """Per-class quota summing to ``size`` (< counts.sum()): proportional (largest remainder),
    then every non-empty class raised to one row, taken from the largest quotas."""
    classes = np.flatnonzero(counts)
    quota = np.zeros_like(counts)
    if size < len(classes):  # fewer slots than classes: one each to the largest classes
        big = classes[np.lexsort((classes, -counts[classes]))][:size]
        quota[big] = 1
        return quota
    exact = size * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    left = size - int(quota.sum())
    order = np.lexsort((np.arange(len(counts)), -(exact - quota)))
    quota[order[:left]] += 1
    for c in classes[quota[classes] == 0]:
        donor = int(np.argmax(quota))
        quota[donor] -= 1
        quota[c] = 1
    return quota


def map_frame(df: pd.DataFrame, coords: np.ndarray, positions: np.ndarray | None = None,
              color: str | None = None) -> pd.DataFrame:
    """The points drawn on the map.

    Parameters
    ----------
    df : DataFrame
        The full frame.
    coords : ndarray, shape (m, 2)
        Coordinates of the rows at ``positions`` (in that order).
    positions : ndarray of int, shape (m,), optional
        Which rows of ``df`` were projected; default all (m == len(df)).
    color : str, optional
        Column used to colour the points.

    Returns
    -------
    DataFrame, shape (m, 3 or 4)
        Indexed by the rows' labels; columns ``pos`` (position in ``df``), ``x``, ``y`` and,
        with ``color``, ``color`` (the column's values).

    Examples
    --------
    >>> df = pd.DataFrame({"label": ["x", "y", "x"]}, index=["r1", "r2", "r3"])
    >>> vecnb.viz.map_frame(df, np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]), color="label")
        pos    x    y color
    r1    0  0.0  1.0     x
    r2    1  2.0  3.0     y
    r3    2  4.0  5.0     x
    """
    pos = np.arange(len(df), dtype=np.int64) if positions is None else np.asarray(positions, dtype=np.int64)
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[0] != len(pos) or coords.shape[1] < 2:
        raise InvalidInputError(f"coords must be ({len(pos)}, 2); got {coords.shape}.")
    out = pd.DataFrame({"pos": pos, "x": coords[:, 0].astype(np.float64), "y": coords[:, 1].astype(np.float64)},
                       index=df.index[pos])
    if color is not None:
        if color not in df.columns:
            raise ColumnNotFoundError(f"color column {color!r} is not in the DataFrame. Columns: {list(df.columns)[:20]}.")
        out["color"] = df[color].to_numpy()[pos]
    return out


def neighbours(X: np.ndarray, q: np.ndarray, k: int, metric: str = "cosine", *,
               rows: np.ndarray | None = None, index: Sequence[Any] | None = None) -> pd.DataFrame:
    """Exact top-k of one query among ``rows`` of ``X``.

    Returns
    -------
    DataFrame, shape (k', 3)
        Indexed by the hits' labels (``index``; default positions); columns ``pos``, ``score``
        (vecnb convention), ``rank`` (1-based).

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], np.float32)
    >>> vecnb.viz.neighbours(X, np.array([1.0, 0.1], np.float32), k=2, index=["a", "b", "c"]).round(3)
       pos  score  rank
    a    0  0.995     1
    c    2  0.774     2
    """
    k = _check_k(k)
    metric = _metrics.resolve_metric(metric)
    X = _metrics.as_matrix(X, what="vectors")
    Q = _one_query(q, X.shape[1])[None, :]
    _metrics.check_vectors(Q, metric, what="query vector")
    pos, sc = _metrics.topk(X, Q, k, metric, rows=rows)
    labels = pd.RangeIndex(X.shape[0]) if index is None else pd.Index(index)
    return pd.DataFrame({"pos": pos[0], "score": sc[0], "rank": np.arange(1, pos.shape[1] + 1)},
                        index=labels[pos[0]])


def place_query(projection: Projection, q: np.ndarray, nbr_coords: np.ndarray | None = None,
                nbr_scores: np.ndarray | None = None) -> np.ndarray:
    """Where a query vector lands on the map.

    PCA: its exact projection. UMAP: the weighted mean of its neighbours' map positions,
    weights = scores shifted so the weakest neighbour gets a small positive weight.

    Returns
    -------
    ndarray, shape (2,)

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    >>> p = vecnb.viz.project(X, "pca", cache=False)
    >>> xy = vecnb.viz.place_query(p, X[3])
    >>> xy.shape, bool(np.allclose(xy, p.coords[3], atol=1e-4))
    ((2,), True)
    """
    if projection.components is not None:
        return projection.transform(np.asarray(q, dtype=np.float32).reshape(1, -1))[0, :2]
    if nbr_coords is None or len(nbr_coords) == 0:
        raise InvalidInputError("Placing a query on a UMAP map needs its neighbours' coordinates.")
    c = np.asarray(nbr_coords, dtype=np.float64)[:, :2]
    if nbr_scores is None:
        w = np.ones(len(c))
    else:
        s = np.asarray(nbr_scores, dtype=np.float64)
        spread = s.max() - s.min()
        w = s - s.min() + (0.1 * spread if spread > 0 else 1.0)
    return (w[:, None] * c).sum(axis=0) / w.sum()


def points_in_polygon(xy: np.ndarray, polygon: Sequence[Sequence[float]]) -> np.ndarray:
    """Even-odd rule point-in-polygon test, vectorised.

    Parameters
    ----------
    xy : ndarray, shape (n, 2)
    polygon : sequence of (x, y), at least 3 vertices (closed implicitly)

    Returns
    -------
    ndarray of bool, shape (n,)

    Examples
    --------
    >>> xy = np.array([[0.5, 0.5], [2.0, 2.0]])
    >>> vecnb.viz.points_in_polygon(xy, [(0, 0), (1, 0), (1, 1), (0, 1)])
    array([ True, False])
    """
    P = np.asarray(polygon, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != 2 or len(P) < 3:
        raise InvalidInputError("A lasso polygon needs at least 3 (x, y) vertices.")
    xy = np.asarray(xy, dtype=np.float64)
    x, y = xy[:, 0][:, None], xy[:, 1][:, None]
    x1, y1 = P[:, 0][None, :], P[:, 1][None, :]
    x2, y2 = np.roll(P[:, 0], -1)[None, :], np.roll(P[:, 1], -1)[None, :]
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    hit = crosses & (x < xint)
    return (hit.sum(axis=1) % 2) == 1


def select_box(frame: pd.DataFrame, x: tuple[float, float] | None = None,
               y: tuple[float, float] | None = None) -> pd.DataFrame:
    """Rows of a :func:`map_frame` inside the closed box ``x[0] <= x <= x[1]``, same for ``y``.

    Examples
    --------
    >>> df = pd.DataFrame({"label": ["x", "y", "x"]}, index=["r1", "r2", "r3"])
    >>> frame = vecnb.viz.map_frame(df, np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]), color="label")
    >>> vecnb.viz.select_box(frame, x=(1, 5), y=(0, 4))
        pos    x    y color
    r2    1  2.0  3.0     y
    """
    m = np.ones(len(frame), bool)
    for col, rng in (("x", x), ("y", y)):
        if rng is not None:
            lo, hi = sorted(float(v) for v in rng)
            v = frame[col].to_numpy()
            m &= (v >= lo) & (v <= hi)
    return frame[m]


def select_polygon(frame: pd.DataFrame, polygon: Sequence[Sequence[float]]) -> pd.DataFrame:
    """Rows of a :func:`map_frame` inside a lasso polygon.

    Examples
    --------
    >>> df = pd.DataFrame({"label": ["x", "y", "x"]}, index=["r1", "r2", "r3"])
    >>> frame = vecnb.viz.map_frame(df, np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]), color="label")
    >>> vecnb.viz.select_polygon(frame, [(-1, 0), (3, 0), (3, 4), (-1, 4)])
        pos    x    y color
    r1    0  0.0  1.0     x
    r2    1  2.0  3.0     y
    """
    return frame[points_in_polygon(frame[["x", "y"]].to_numpy(), polygon)]


def select_values(frame: pd.DataFrame, values: Iterable[Any], column: str = "color") -> pd.DataFrame:
    """Rows of a :func:`map_frame` whose ``column`` is one of ``values``.

    Examples
    --------
    >>> df = pd.DataFrame({"label": ["x", "y", "x"]}, index=["r1", "r2", "r3"])
    >>> frame = vecnb.viz.map_frame(df, np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]), color="label")
    >>> vecnb.viz.select_values(frame, ["x"])
        pos    x    y color
    r1    0  0.0  1.0     x
    r3    2  4.0  5.0     x
    """
    if column not in frame.columns:
        raise ColumnNotFoundError(f"No column {column!r} to select on; pass color=... to the explorer.")
    return frame[frame[column].isin(list(values))]


# =======================================================================================
# benchmarks
# =======================================================================================
_BENCH_NEEDS = ("system", "status", "filter", "recall", "qps", "p50_ms", "p95_ms", "p99_ms")
_SUMMARY_COLS = ["system", "impl", "store", "kind", "filter", "status", "recall", "qps", "p50_ms", "p95_ms",
                 "p99_ms", "build_s", "memory_ratio", "p50_overhead_ms", "reason"]


def _check_bench(res: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(res, pd.DataFrame):
        raise InvalidInputError(f"Expected the DataFrame of vecnb.bench.run, got {type(res).__name__}.")
    missing = [c for c in _BENCH_NEEDS if c not in res.columns]
    if missing:
        raise InvalidInputError(f"This is not a vecnb.bench.run result: columns {missing} are missing.")
    return res


def bench_summary(res: pd.DataFrame) -> pd.DataFrame:
    """The benchmark table a person reads: one row per (system, filter), key columns only.

    Returns
    -------
    DataFrame
        Columns (those present) ``system, impl, store, kind, filter, status, recall, qps,
        p50_ms, p95_ms, p99_ms, build_s, memory_ratio, p50_overhead_ms, reason``; successful
        rows first, then by filter and descending QPS.

    Examples
    --------
    >>> res = pd.DataFrame({"system": ["numpy", "faiss-hnsw"], "status": ["ok", "ok"], "filter": ["none", "none"],
    ...                     "recall": [1.0, 0.98], "qps": [900.0, 5000.0], "p50_ms": [1.1, 0.2],
    ...                     "p95_ms": [1.5, 0.3], "p99_ms": [2.0, 0.4]})
    >>> vecnb.viz.bench_summary(res)
           system filter status  recall     qps  p50_ms  p95_ms  p99_ms
    0  faiss-hnsw   none     ok    0.98  5000.0     0.2     0.3     0.4
    1       numpy   none     ok    1.00   900.0     1.1     1.5     2.0
    """
    res = _check_bench(res)
    cols = [c for c in _SUMMARY_COLS if c in res.columns]
    out = res[cols].copy()
    ok = (out["status"] == "ok").to_numpy()
    qps = pd.to_numeric(out["qps"], errors="coerce").fillna(-1).to_numpy()
    order = np.lexsort((-qps, out["filter"].astype(str).to_numpy(), ~ok))
    return out.iloc[order].reset_index(drop=True)


def bench_points(res: pd.DataFrame, filter: str = "none") -> pd.DataFrame:
    """Recall-vs-QPS points of the successful rows of one filter (default unfiltered).

    Returns
    -------
    DataFrame
        Columns ``system``, ``impl`` (vecnb / raw / peer, when present), ``recall``, ``qps``.

    Examples
    --------
    >>> res = pd.DataFrame({"system": ["numpy", "faiss-hnsw"], "status": ["ok", "ok"], "filter": ["none", "none"],
    ...                     "recall": [1.0, 0.98], "qps": [900.0, 5000.0], "p50_ms": [1.1, 0.2],
    ...                     "p95_ms": [1.5, 0.3], "p99_ms": [2.0, 0.4]})
    >>> vecnb.viz.bench_points(res)
           system  recall     qps
    0       numpy    1.00   900.0
    1  faiss-hnsw    0.98  5000.0
    """
    res = _check_bench(res)
    ok = res[(res["status"] == "ok") & (res["filter"].astype(str) == filter)]
    cols = ["system"] + (["impl"] if "impl" in res.columns else []) + ["recall", "qps"]
    out = ok[cols].copy()
    out["recall"] = pd.to_numeric(out["recall"], errors="coerce")
    out["qps"] = pd.to_numeric(out["qps"], errors="coerce")
    return out.dropna(subset=["recall", "qps"]).reset_index(drop=True)


def latency_table(res: pd.DataFrame, filter: str = "none") -> pd.DataFrame:
    """Single-query latency percentiles (ms) of the successful rows of one filter.

    Returns
    -------
    DataFrame
        Index ``system``; columns ``p50``, ``p95``, ``p99``; sorted by ``p50``.

    Examples
    --------
    >>> res = pd.DataFrame({"system": ["numpy", "faiss-hnsw"], "status": ["ok", "ok"], "filter": ["none", "none"],
    ...                     "recall": [1.0, 0.98], "qps": [900.0, 5000.0], "p50_ms": [1.1, 0.2],
    ...                     "p95_ms": [1.5, 0.3], "p99_ms": [2.0, 0.4]})
    >>> vecnb.viz.latency_table(res)
                p50  p95  p99
    system                   
    faiss-hnsw  0.2  0.3  0.4
    numpy       1.1  1.5  2.0
    """
    res = _check_bench(res)
    ok = res[(res["status"] == "ok") & (res["filter"].astype(str) == filter)]
    out = pd.DataFrame({p: pd.to_numeric(ok[f"{p}_ms"], errors="coerce").to_numpy() for p in ("p50", "p95", "p99")},
                       index=pd.Index(ok["system"].to_numpy(), name="system"))
    return out.dropna(how="all").sort_values("p50", kind="stable")
