"""Distance metrics, the one score convention, vector validation and exact top-k.

Score convention (every store, every result frame): **higher is closer**.

==========  ==========================================  =====================
metric      score                                       aliases
==========  ==========================================  =====================
``cosine``  cosine similarity in [-1, 1]                cos, angular, cosine_similarity
``dot``     inner product                               ip, inner_product, dot_product
``l2``      minus the Euclidean distance (not squared)  euclidean, euclid, l2sq is *not* accepted
==========  ==========================================  =====================

Exact top-k is a blocked matrix product followed by a per-row selection that first
bounds the k-th best score from per-chunk maxima (a vectorised pass over the block),
keeps only the candidates at or above that bound, and sorts those. This avoids
``argpartition`` over every row, which costs more than the matrix product itself.
Ties are broken by the lower row position, so results are deterministic.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

import numpy as np

from vecnb._core import threads as _threads
from vecnb._core.threads import SMALL_WORK, single_blas_thread
from vecnb.errors import DimensionMismatchError, InvalidInputError, InvalidVectorError, UnknownMetricError

try:  # what np.einsum(..., optimize=False) calls, without its Python wrapper: the same sums, and
    # ~25 us less per call once a search's product (or a model's weights) went through the caches
    from numpy._core.multiarray import c_einsum as fast_einsum
except ImportError:  # pragma: no cover - another numpy layout
    fast_einsum = np.einsum

__all__ = [
    "METRICS",
    "resolve_metric",
    "as_matrix",
    "check_vectors",
    "check_matrix",
    "note_owner",
    "normalize",
    "unit_queries",
    "topk",
    "topk_one",
    "norms_of",
    "exact_scores",
    "scores_from_distances",
    "checked_queries",
    "check_k",
    "MAX_K",
]

#: the largest k accepted anywhere (an int64); searches clamp k to the rows that can qualify
MAX_K = 2**63 - 1


def check_k(k: object, name: str = "k") -> int:
    """``k`` as an int: a positive integer no larger than :data:`MAX_K`, else :class:`InvalidInputError`.

    A huge ``k`` is fine (``k=10**9`` on 40 rows returns 40 hits): searches clamp it to the rows
    that can qualify before allocating anything.

    Examples
    --------
    >>> vecnb.metrics.check_k(np.int64(5))
    5
    >>> vecnb.metrics.check_k(0)
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: k must be a positive integer, got 0.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InvalidInputError(f"{name} must be a positive integer, got {k!r}.")
    if k > MAX_K:
        raise InvalidInputError(f"{name}={k} is too large: at most 2**63 - 1 (searches return at most every row anyway).")
    return int(k)

METRICS: tuple[str, ...] = ("cosine", "dot", "l2")

_ALIASES = {
    "cosine": "cosine", "cos": "cosine", "angular": "cosine", "cosine_similarity": "cosine",
    "dot": "dot", "ip": "dot", "inner_product": "dot", "dot_product": "dot", "inner": "dot",
    "l2": "l2", "euclidean": "l2", "euclid": "l2",
}

_BLOCK_BYTES = 96 * 2**20  # score block size for batched search


def resolve_metric(metric: str) -> str:
    """Return the canonical metric name for ``metric`` or its alias.

    Raises
    ------
    UnknownMetricError
        If the name is not known.

    Examples
    --------
    >>> vecnb.metrics.resolve_metric("Inner-Product")
    'dot'
    >>> vecnb.metrics.resolve_metric("euclidean")
    'l2'
    """
    if not isinstance(metric, str):
        raise UnknownMetricError(f"metric must be a string such as 'cosine', 'dot' or 'l2', got {metric!r}")
    key = metric.strip().lower().replace("-", "_")
    try:
        return _ALIASES[key]
    except KeyError:
        raise UnknownMetricError(
            f"Unknown metric {metric!r}. Use one of {', '.join(METRICS)} "
            f"(aliases: {', '.join(sorted(k for k in _ALIASES if k not in METRICS))})."
        ) from None


def as_matrix(x, *, dim: int | None = None, what: str = "vectors") -> np.ndarray:
    """Coerce ``x`` to a C-contiguous float32 matrix of shape (n, d).

    Accepts a 2-D array, a 1-D array (one vector), a list of lists, or a sequence of 1-D
    arrays. Does not copy when ``x`` already is a C-contiguous float32 matrix.

    Examples
    --------
    >>> vecnb.metrics.as_matrix([1, 2, 3])
    array([[1., 2., 3.]], dtype=float32)
    >>> X = np.zeros((2, 3), np.float32)
    >>> vecnb.metrics.as_matrix(X) is X
    True
    >>> vecnb.metrics.as_matrix(X, dim=4)
    Traceback (most recent call last):
    ...
    vecnb.errors.DimensionMismatchError: vectors have dimension 3 but 4 was expected. ...
    """
    if isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous and 1 <= x.ndim <= 2:
        arr = x if x.ndim == 2 else x.reshape(1, -1)  # one vector: a (1, d) view, as the general path gives
    else:
        _refuse_complex(x, what)
        try:
            if isinstance(x, np.ndarray) and x.dtype == object:
                arr = np.stack([np.asarray(v, dtype=np.float32) for v in x]) if len(x) else np.empty((0, dim or 0), np.float32)
            else:
                arr = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"Could not read {what} as a numeric (n, d) array: {exc}. "
                "Pass a 2-D numpy array, or a list of equal-length number lists."
            ) from None
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2:
            raise InvalidInputError(f"{what} must be 2-D (n, d); got an array of shape {arr.shape}.")
        arr = np.ascontiguousarray(arr)
    if dim is not None and arr.shape[1] != dim:
        raise DimensionMismatchError(
            f"{what} have dimension {arr.shape[1]} but {dim} was expected. "
            "Embed with the same model as the column / index, or pass vectors of that width."
        )
    return arr


def _refuse_complex(x: Any, what: str) -> None:
    """Raise InvalidInputError for complex values (numpy would silently drop the imaginary part)."""
    dt = getattr(x, "dtype", None)
    complex_ = dt is not None and getattr(dt, "kind", "") == "c"
    if not complex_ and (dt is None or dt == object):
        items = x.tolist() if isinstance(x, np.ndarray) else x
        if isinstance(items, (list, tuple)):
            complex_ = any(getattr(getattr(v, "dtype", None), "kind", "") == "c" or isinstance(v, complex)
                           or (isinstance(v, (list, tuple)) and any(isinstance(e, complex) for e in v[:64]))
                           for v in items[:64])
    if complex_:
        raise InvalidInputError(
            f"{what} hold complex numbers; vectors must be real. Pass np.real(x) / np.abs(x) or split the "
            "real and imaginary parts into separate dimensions, as your model requires."
        )


_SAFE_NORM = (1e-15, 1e15)  # query norms whose float32 products / squares stay far from over- / underflow


def unit_queries(q: np.ndarray) -> np.ndarray:
    """Cosine queries safe for float32 arithmetic in any backend: ``q`` itself when every row's
    norm is moderate, else every row scaled to unit length, computed in float64.

    The cosine ranking depends only on each query's direction. A query with components of
    1e30 has a squared norm that overflows float32 (tiny components underflow), and each
    store then ranked it differently; normalised in float64 first, every store sees the same
    unit vector. Moderate queries are passed through untouched (bit for bit).

    Examples
    --------
    >>> q = np.array([[1e30, 0.0]], np.float32)
    >>> vecnb.metrics.unit_queries(q)
    array([[1., 0.]], dtype=float32)
    >>> q = np.array([[3.0, 4.0]], np.float32)
    >>> vecnb.metrics.unit_queries(q) is q
    True
    """
    q64 = q.astype(np.float64)
    n = np.sqrt(np.einsum("ij,ij->i", q64, q64))[:, None]
    lo, hi = _SAFE_NORM
    if ((n >= lo) & (n <= hi)).all():
        return q
    n[n == 0] = 1.0
    return (q64 / n).astype(np.float32)


def check_vectors(x: np.ndarray, metric: str, what: str = "vectors") -> None:
    """Raise :class:`InvalidVectorError` for NaN / inf rows, or zero rows under cosine.

    Examples
    --------
    >>> vecnb.metrics.check_vectors(np.array([[1.0, 0.0]], np.float32), "cosine")
    >>> vecnb.metrics.check_vectors(np.zeros((1, 2), np.float32), "cosine")
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidVectorError: 1 of 1 vectors are all zeros (first at positions [0]); ...
    """
    if x.size == 0:
        return
    if x.ndim == 2 and (x.shape[0] <= 64 or x.dtype == np.float32):
        # one pass says it (NaN / inf give a NaN / inf sum, a zero row 0): queries in float64; a large
        # float32 matrix in float32 (~4x faster than the detailed checks at 20k x 384; a sum that
        # overflows float32 falls through to them)
        small = x.shape[0] <= 64
        sq = np.einsum("ij,ij->i", x, x, dtype=np.float64) if small else np.einsum("ij,ij->i", x, x)
        if np.isfinite(sq).all() and (metric != "cosine" or (sq > 0).all()):
            return
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InvalidVectorError(
            f"{len(bad)} of {len(x)} {what} contain NaN or infinite values (first at positions "
            f"{bad[:5].tolist()}). Drop or fix those rows before searching or indexing."
        )
    if metric == "cosine":
        zero = ~np.any(x != 0, axis=1)
        if zero.any():
            bad = np.flatnonzero(zero)
            raise InvalidVectorError(
                f"{len(bad)} of {len(x)} {what} are all zeros (first at positions {bad[:5].tolist()}); "
                "cosine similarity is undefined for them. Drop those rows, or use metric='dot' or 'l2'."
            )


def checked_queries(q: np.ndarray, metric: str, what: str = "query vectors") -> np.ndarray:
    """:func:`check_vectors` then, for cosine, :func:`unit_queries`: the same result, in one pass.

    The squared norms (float64: a float32 component squared never overflows it) are finite
    exactly when every component is; for cosine, norms in the moderate range mean neither a
    zero row nor a rescale. Only a query failing that goes through the two checks above (and
    their messages). ~5 us for one query instead of ~25.

    Examples
    --------
    >>> vecnb.metrics.checked_queries(np.array([[3e30, 4e30]], np.float32), "cosine").round(4)
    array([[0.6, 0.8]], dtype=float32)
    >>> vecnb.metrics.checked_queries(np.array([[np.nan, 1.0]], np.float32), "dot")
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidVectorError: 1 of 1 query vectors contain NaN or infinite values ...
    """
    if q.size == 0:
        return q
    sq = fast_einsum("ij,ij->i", q, q, dtype=np.float64)
    lo, hi = (_SAFE_NORM[0] ** 2, _SAFE_NORM[1] ** 2) if metric == "cosine" else (0.0, np.inf)
    if len(sq) == 1:
        s0 = float(sq[0])
        ok = lo <= s0 <= hi and s0 != np.inf
    else:
        ok = bool(((sq >= lo) & (sq < np.inf) & (sq <= hi)).all())
    if ok:
        return q
    check_vectors(q, metric, what)
    return unit_queries(q) if metric == "cosine" else q


def check_matrix(x: np.ndarray, metric: str, what: str = "vectors", *, cache: bool = True) -> None:
    """Like :func:`check_vectors`, but through the cached squared norms (cheap when repeated).

    A NaN / inf component makes the squared norm NaN / inf; a zero row has norm 0.
    ``cache=False`` computes the norms without entering ``x`` in the norm cache (which holds
    a reference to the matrix: an index build must not keep its frame's column alive).

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    >>> vecnb.metrics.check_matrix(X, "dot")
    >>> vecnb.metrics.check_matrix(X, "cosine", cache=False)
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidVectorError: 1 of 2 vectors are all zeros (first at positions [1]); ...
    """
    if x.size == 0:
        return
    stats = _norms(x) if cache else _Norms(x)
    if not stats.finite or (metric == "cosine" and not stats.nonzero):
        check_vectors(x, metric, what)
        if not stats.finite:  # finite components whose squares overflow float32
            bad = np.flatnonzero(~np.isfinite(stats.sq))
            raise InvalidVectorError(
                f"{len(bad)} of {len(x)} {what} have components too large for float32 arithmetic "
                f"(first at positions {bad[:5].tolist()}); rescale them."
            )


def normalize(x: np.ndarray) -> np.ndarray:
    """Return a row-normalised float32 copy of ``x`` (zero rows stay zero).

    Examples
    --------
    >>> vecnb.metrics.normalize(np.array([[3.0, 4.0], [0.0, 0.0]], np.float32))
    array([[0.6, 0.8],
           [0. , 0. ]], dtype=float32)
    """
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------
# per-matrix cache of norms: only for read-only matrices whose memory an *owner* object keeps
# alive (an Arrow column: see note_owner; else the ndarray at the root of the view chain). The
# cache holds a weak reference to the owner, never the matrix: when the owner goes, so does the
# entry (so the address cannot be reused under a stale entry, and a dropped frame's column is
# freed). Bounded by the bytes of the cached norms (8 B per row with the inverse norms).
_NORM_CACHE: OrderedDict = OrderedDict()   # key -> _Norms
_OWNERS: dict[tuple, weakref.ref] = {}      # key -> weak reference to the object keeping the memory alive
_NORM_LOCK = threading.RLock()              # re-entrant: an owner can die (callback) while the lock is held
_NORM_CACHE_BYTES = 64 << 20               # cached norms of up to ~8M rows in all


def _matrix_key(x: np.ndarray) -> tuple:
    return (x.__array_interface__["data"][0], x.shape, x.strides, x.dtype.str)


def note_owner(x: np.ndarray, owner: Any) -> None:
    """Record that ``owner`` keeps the memory of read-only ``x`` alive (e.g. the Arrow column it views).

    Norms of ``x`` (and of later views of the same memory and shape) are then cached for as long
    as ``owner`` lives; nothing here keeps ``owner`` or ``x`` alive. ``df.vec.matrix`` does this
    for Arrow embedding columns.

    Examples
    --------
    >>> import pyarrow as pa
    >>> col = pa.chunked_array([pa.array(np.arange(1, 7, dtype=np.float32))])
    >>> X = col.chunk(0).to_numpy().reshape(3, 2)          # a read-only view of the column
    >>> vecnb.metrics.note_owner(X, col)                    # cache X's norms while col lives
    >>> vecnb.metrics.topk(X, np.ones((1, 2), np.float32), 1, "l2")[0]   # row (1, 2) is nearest
    array([[0]])
    """
    if x.flags.writeable or x.size == 0:
        return
    key = _matrix_key(x)
    with _NORM_LOCK:
        ref = _OWNERS.get(key)
        if ref is not None and ref() is owner:
            return
        try:
            _OWNERS[key] = weakref.ref(owner, lambda r, key=key: _forget(key, r))
        except TypeError:  # not weak-referenceable: no caching
            _OWNERS.pop(key, None)
        _NORM_CACHE.pop(key, None)  # a new owner of this address: whatever was cached is not about it


def _forget(key: tuple, ref: weakref.ref) -> None:
    with _NORM_LOCK:
        if _OWNERS.get(key) is ref:
            del _OWNERS[key]
            _NORM_CACHE.pop(key, None)


def _norm_cache_bytes() -> int:
    return sum(st.nbytes for st in _NORM_CACHE.values())


class _Norms:
    """Squared norms of a matrix's rows and what follows from them (computed once)."""

    __slots__ = ("sq", "finite", "nonzero", "unit", "_inv", "_sq64", "_x", "__weakref__")

    def __init__(self, x: np.ndarray):
        self.sq = np.einsum("ij,ij->i", x, x, dtype=np.float32)
        self.finite = bool(np.isfinite(self.sq).all())
        self.nonzero = bool((self.sq > 0).all())
        self.unit = self.finite and bool(np.all(np.abs(self.sq - 1.0) < 1e-5))
        self._inv = None
        self._sq64 = None
        self._x = None  # set (weakly) only while the entry is cached: what sq64 is computed from

    @property
    def nbytes(self) -> int:
        return int(self.sq.nbytes + (self._inv.nbytes if self._inv is not None else self.sq.nbytes)
                   + 2 * self.sq.nbytes)  # sq64, when computed

    def sq64(self, x: np.ndarray) -> np.ndarray | None:
        """float64 squared norms of the rows of ``x`` (the cached matrix these norms are of), or None.

        Bit for bit what :func:`_exact_block` computes for the gathered rows (the same float64
        sums), computed once per cached matrix, so exact cosine scores of many hits skip a
        pass over their vectors. None for an uncached matrix (it may change; one pass over a
        few hits is cheaper than one over every row).
        """
        if self._sq64 is None:
            if self._x is None or self._x() is not x:
                return None
            self._sq64 = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        return self._sq64

    @property
    def inv(self) -> np.ndarray:
        """1 / norm of each row (0-norm rows get a huge factor; they are rejected earlier)."""
        if self._inv is None:
            self._inv = (1.0 / np.sqrt(np.maximum(self.sq, 1e-30))).astype(np.float32)
        return self._inv


def _norms(x: np.ndarray) -> _Norms:
    if x.flags.writeable or x.size == 0:
        return _Norms(x)
    key = _matrix_key(x)
    with _NORM_LOCK:
        hit = _NORM_CACHE.get(key)
        if hit is not None:
            _NORM_CACHE.move_to_end(key)
            return hit
        if key not in _OWNERS:  # no owner recorded: the ndarray at the root of x's views holds the memory
            root = x
            while isinstance(root.base, np.ndarray):
                root = root.base
            note_owner(x, root)
    stats = _Norms(x)
    with _NORM_LOCK:
        if key in _OWNERS and stats.nbytes <= _NORM_CACHE_BYTES:
            try:
                stats._x = weakref.ref(x)
            except TypeError:  # pragma: no cover - every ndarray takes weak references
                pass
            _NORM_CACHE[key] = stats
            total = _norm_cache_bytes()
            while total > _NORM_CACHE_BYTES:
                _, old = _NORM_CACHE.popitem(last=False)
                total -= old.nbytes
    return stats


def _ranking_scores(xb: np.ndarray, qb: np.ndarray, metric: str, norms: _Norms | None,
                    rows: np.ndarray | None = None) -> np.ndarray:
    """(nq, n) scores whose order equals the metric's order (not the final score values)."""
    s = qb @ xb.T
    if metric == "cosine" and not norms.unit:
        s *= (norms.inv if rows is None else norms.inv[rows])[None, :]
    elif metric == "l2":
        s *= 2.0
        s -= (norms.sq if rows is None else norms.sq[rows])[None, :]
    return s


def _select_rows(s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k per row of ``s`` (b, n), sorted by score desc then position asc.

    A lower bound of each row's k-th best score comes from the k-th largest of its
    per-chunk maxima; only chunks whose maximum reaches that bound can hold a winner, so
    only those few chunks are gathered and sorted. Falls back to ``np.partition`` when
    the rows are short.
    """
    b, n = s.shape
    k = min(k, n)
    chunk = 256
    while chunk > 16 and n // chunk < 4 * k:
        chunk //= 2
    m = n // chunk
    if m >= k and n > 2048:
        head = s[:, : m * chunk].reshape(b, m, chunk).max(axis=2)
        if m * chunk < n:
            head = np.concatenate([head, s[:, m * chunk:].max(axis=1, keepdims=True)], axis=1)
        bound = -np.partition(-head, k - 1, axis=1)[:, k - 1]
        hr, hc = np.nonzero(head >= bound[:, None])
        cols = hc[:, None] * chunk + np.arange(chunk)[None, :]
        inside = cols < n
        vals = s[hr[:, None], np.minimum(cols, n - 1)]
        ok = inside & (vals >= bound[hr][:, None])
        r = np.broadcast_to(hr[:, None], cols.shape)[ok]
        c = cols[ok]
        v = vals[ok]
    else:
        bound = -np.partition(-s, k - 1, axis=1)[:, k - 1]
        r, c = np.nonzero(s >= bound[:, None])
        v = s[r, c]
    order = np.lexsort((c, -v, r))
    r, c, v = r[order], c[order], v[order]
    counts = np.bincount(r, minlength=b)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.arange(len(r)) - np.repeat(starts, counts)
    keep = within < k
    return c[keep].reshape(b, k), v[keep].reshape(b, k)


def exact_scores(x: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    """Scores (float64) of rows ``x`` (m, d) against one query ``q`` (d,), in vecnb's convention.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
    >>> vecnb.metrics.exact_scores(X, np.array([2.0, 0.0], np.float32), "l2")
    array([-1.        , -1.41421356])
    """
    x64 = x.astype(np.float64)
    q64 = q.astype(np.float64)
    if metric == "dot":
        return x64 @ q64
    if metric == "cosine":
        return (x64 @ q64) / (np.linalg.norm(x64, axis=1) * np.linalg.norm(q64))
    return -np.sqrt(((x64 - q64[None, :]) ** 2).sum(axis=1))


def _exact_block(x: np.ndarray, p: np.ndarray, qb: np.ndarray, metric: str,
                 sq64: np.ndarray | None = None) -> np.ndarray:
    """float64 scores of rows ``x[p]`` (b, k) against queries ``qb`` (b, d).

    The products are summed in float64 from the float32 rows as gathered (no float64 copy of
    them: ``einsum(..., dtype=float64)`` gives the same sums, ~2x faster for many hits).
    ``sq64``: the float64 squared norms of every row of ``x`` (:meth:`_Norms.sq64`), when known.
    """
    xg = x[p]
    if metric == "l2":
        diff = xg.astype(np.float64)
        diff -= qb.astype(np.float64)[:, None, :]
        return -np.sqrt(np.einsum("bkd,bkd->bk", diff, diff))
    s = np.einsum("bkd,bd->bk", xg, qb, dtype=np.float64)
    if metric == "cosine":
        xx = sq64[p] if sq64 is not None else np.einsum("bkd,bkd->bk", xg, xg, dtype=np.float64)
        s /= np.sqrt(xx * np.einsum("bd,bd->b", qb, qb, dtype=np.float64)[:, None])
    return s


#: hits (rows x queries) from which a batch's exact rescoring is split over the cores
_PARALLEL_HITS = 1 << 13


def _exact_hits(x: np.ndarray, p: np.ndarray, qb: np.ndarray, metric: str, norms: _Norms | None) -> np.ndarray:
    """:func:`_exact_block` of a batch's hits, in slices over the cores when there are many
    (row by row the same sums: the slices are rows of ``p``)."""
    sq64 = norms.sq64(x) if metric == "cosine" and norms is not None else None
    if p.size < _PARALLEL_HITS or len(p) < 2:
        return _exact_block(x, p, qb, metric, sq64)
    return np.concatenate(_threads.in_slices(lambda a, b: _exact_block(x, p[a:b], qb[a:b], metric, sq64), len(p)))


_FAISS_MIN_QUERIES = 16


def _faiss_topk(x: np.ndarray, q: np.ndarray, k: int, metric: str, norms: _Norms | None):
    """Batched exact top-k through faiss's blocked BLAS kernels, when faiss is installed.

    Used only for many queries without a filter; cosine only when the rows are unit
    vectors (then it equals inner product). Returns None when it does not apply.

    faiss keeps any k of rows tied at the k-th score; vecnb keeps the lowest positions. So faiss
    is asked for k + 1: where the (k+1)-th ties the k-th, that query is answered again by the
    numpy blocks (rare but for duplicated rows), which take ties by position.
    """
    import sys

    faiss = sys.modules.get("faiss")
    if faiss is None:
        try:
            import faiss  # noqa: F811 - optional accelerator
        except ImportError:
            return None
    if metric == "cosine" and (norms is None or not norms.unit):
        return None
    # cosine over unit rows: the inner-product order (a query's own norm scales all its scores
    # alike; topk's queries are already in float32's safe range); winners are scored exactly below
    kk = k + 1 if k < x.shape[0] else k
    kind = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    D, p = faiss.knn(q, x, kk, metric=kind)
    redo = None
    if kk > k:
        tied = D[:, k] <= D[:, k - 1] if metric == "l2" else D[:, k] >= D[:, k - 1]
        if tied.any():
            redo = np.flatnonzero(tied)
        p = p[:, :k]
    p = p.astype(np.int64, copy=False)
    sc = _exact_hits(x, p, q, metric, norms)
    order = np.lexsort((p, -sc), axis=1)
    pos, out = np.take_along_axis(p, order, axis=1), np.take_along_axis(sc, order, axis=1)
    if redo is not None:
        pos[redo], out[redo] = _blocked_topk(x, x, q[redo], k, metric, norms, None, None, None)
    return pos, out


def topk(
    x: np.ndarray,
    q: np.ndarray,
    k: int,
    metric: str = "cosine",
    *,
    rows: np.ndarray | None = None,
    checked: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of every query against every row.

    Parameters
    ----------
    x : ndarray, shape (n, d), float32
        The data matrix.
    q : ndarray, shape (nq, d), float32
        The queries.
    k : int
        Hits per query; fewer are returned when fewer rows are eligible.
    metric : {"cosine", "dot", "l2"}
    rows : ndarray of int, optional
        Positions of the rows that may be returned (a pre-filter). ``None`` means all.
    checked : bool
        The queries already went through :func:`checked_queries` for this metric (so cosine
        queries need no rescaling here).

    Returns
    -------
    pos : ndarray, shape (nq, k'), int64
        Row positions into ``x``, best first (ties: lower position first).
    scores : ndarray, shape (nq, k'), float64
        Scores in vecnb's convention (higher is closer), computed exactly in float64.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], np.float32)
    >>> pos, scores = vecnb.metrics.topk(X, np.array([[1.0, 0.1]], np.float32), k=2)
    >>> pos
    array([[0, 2]])
    >>> scores.round(3)
    array([[0.995, 0.774]])
    >>> vecnb.metrics.topk(X, X[:1], k=5, rows=np.array([1, 2]))[0]
    array([[2, 1]])
    """
    metric = resolve_metric(metric)
    k = check_k(k)
    nq = q.shape[0]
    n = x.shape[0] if rows is None else len(rows)
    if n == 0 or nq == 0:
        return np.empty((nq, 0), np.int64), np.empty((nq, 0), np.float64)
    if metric == "cosine" and not checked:
        q = unit_queries(q)  # same direction, no float32 overflow in the products (components of 1e30)
    k = min(k, n)

    # choose how to apply a pre-filter: gather the eligible rows when they are few,
    # else score everything and mask the rest
    mask = None
    xs, sub = x, None
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) < 0.25 * x.shape[0]:
            rows = np.sort(rows)  # ties at the k-th score go to the lowest position of x, not of rows
            if metric != "dot" and x.flags.writeable:
                # x's norms are not cached (it may change): norms of the few eligible rows only, not a
                # pass over every row per search (a 1 % filter on 100k x 384: ~20 -> ~1 ms)
                pos, sc = topk(x[rows], q, k, metric, checked=True)
                return rows[pos], sc
            xs = x[rows]
            sub = rows
        else:
            mask = np.ones(x.shape[0], dtype=bool)
            mask[rows] = False
    norms = _norms(x) if metric in ("cosine", "l2") else None

    if mask is None and rows is None and nq >= _FAISS_MIN_QUERIES:
        found = _faiss_topk(x, q, k, metric, norms)
        if found is not None:
            return found

    if nq == 1 and mask is None:
        if sub is None:
            return topk_one(x, q, k, metric, norms)
        if xs.shape[0] * xs.shape[1] <= SMALL_WORK:
            with single_blas_thread():
                return _topk_one(x, xs, q, k, metric, norms, sub)
        return _topk_one(x, xs, q, k, metric, norms, sub)

    return _blocked_topk(x, xs, q, k, metric, norms, rows, sub, mask)


def _blocked_topk(x: np.ndarray, xs: np.ndarray, q: np.ndarray, k: int, metric: str, norms: _Norms | None,
                  rows: np.ndarray | None, sub: np.ndarray | None, mask: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk` for many queries: score blocks of at most ``_BLOCK_BYTES``, top k per row of each."""
    nq = len(q)
    width = xs.shape[0]
    block = max(1, min(nq, _BLOCK_BYTES // max(1, 4 * width)))
    pos = np.empty((nq, k), np.int64)
    out = np.empty((nq, k), np.float64)
    for start in range(0, nq, block):
        qb = q[start:start + block]
        s = _ranking_scores(xs, qb, metric, norms, sub)
        if mask is not None:
            s[:, mask] = -np.inf
        p, _ = _select_rows(s, k)
        if rows is not None and mask is None:
            p = rows[p]
        # exact float64 scores for the winners, re-sorted (stable: position breaks ties)
        sc = _exact_hits(x, p, qb, metric, norms)
        order = np.lexsort((p, -sc), axis=1)
        pos[start:start + len(qb)] = np.take_along_axis(p, order, axis=1)
        out[start:start + len(qb)] = np.take_along_axis(sc, order, axis=1)
    return pos, out


def topk_one(x: np.ndarray, q: np.ndarray, k: int, metric: str, norms: _Norms | None
             ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk` of one checked query ``q`` (1, d) against every row of ``x``, ``1 <= k <= len(x)``,
    ``metric`` resolved and ``norms`` the rows' norms (:func:`norms_of`; None for ``dot``).

    What ``topk(x, q, k, metric, checked=True)`` returns, without its argument checks: a caller
    that keeps these facts per frame (``df.vec.search`` of one vector) calls it directly.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], np.float32)
    >>> q = np.array([[1.0, 0.1]], np.float32)
    >>> pos, sc = vecnb.metrics.topk_one(X, q, 2, "cosine", vecnb.metrics.norms_of(X))
    >>> pos, sc.round(3)
    (array([[0, 2]]), array([[0.995, 0.774]]))
    """
    if x.shape[0] * x.shape[1] <= SMALL_WORK:
        with single_blas_thread():
            return _topk_one(x, x, q, k, metric, norms, None)
    return _topk_one(x, x, q, k, metric, norms, None)


def norms_of(x: np.ndarray) -> _Norms:
    """The row norms of ``x`` that :func:`topk_one` takes (cached per read-only matrix, as topk's).

    Examples
    --------
    >>> vecnb.metrics.norms_of(np.array([[3.0, 4.0]], np.float32)).sq
    array([25.], dtype=float32)
    """
    return _norms(x)


def _topk_one(x: np.ndarray, xs: np.ndarray, q: np.ndarray, k: int, metric: str, norms: _Norms | None,
              sub: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk` for one query (1, d): a matrix-vector product and one partition, no blocks.

    A single query is what a notebook user asks, so this path does the least that keeps the
    contract: ranking scores as in :func:`_ranking_scores` (float32), every row at or above the
    k-th best (ties included) gathered, exact float64 scores for those, sorted by score then
    position.
    """
    s = xs @ q[0]
    if metric == "cosine" and not norms.unit:
        s *= norms.inv if sub is None else norms.inv[sub]
    elif metric == "l2":
        s *= 2.0
        s -= norms.sq if sub is None else norms.sq[sub]
    n = len(s)
    if k < n:  # np.partition / np.flatnonzero without their Python wrappers (each costs once caches are cold)
        part = s.copy()
        part.partition(n - k)
        cand = (s >= part[n - k]).nonzero()[0]
    else:
        cand = np.arange(n)
    p = cand if sub is None else sub[cand]
    sc = _exact_one(x, p, q[0], metric)
    order = np.lexsort((p, -sc))[:k]
    return p[order][None, :].astype(np.int64, copy=False), sc[order][None, :]


def _exact_one(x: np.ndarray, p: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    """:func:`_exact_block` for one query (d,) and its few hits ``p`` (m,): the same float64 sums,
    in fewer and smaller steps (a single query runs it once per search)."""
    xg = x[p].astype(np.float64)
    q64 = q.astype(np.float64)
    if metric == "l2":
        xg -= q64
        return -np.sqrt(fast_einsum("kd,kd->k", xg, xg))
    s = fast_einsum("kd,d->k", xg, q64)  # np.einsum's own C function: the same sums, ~25 us less cold
    if metric == "cosine":
        s /= np.sqrt(fast_einsum("kd,kd->k", xg, xg) * fast_einsum("d,d->", q64, q64))
    return s


def scores_from_distances(dist: np.ndarray, metric: str, *, squared: bool = False) -> np.ndarray:
    """Turn a backend's distances into vecnb scores.

    ``cosine`` expects cosine *distance* (1 - similarity), ``dot`` expects the negative
    inner product (pgvector's ``<#>``), ``l2`` expects the (optionally squared) distance.

    Examples
    --------
    >>> vecnb.metrics.scores_from_distances(np.array([[0.0, 0.5]]), "cosine")
    array([[1. , 0.5]])
    >>> vecnb.metrics.scores_from_distances(np.array([[4.0]]), "l2", squared=True)
    array([[-2.]])
    """
    dist = np.asarray(dist, dtype=np.float64)
    if metric == "cosine":
        return 1.0 - dist
    if metric == "dot":
        return -dist
    return -np.sqrt(np.maximum(dist, 0.0)) if squared else -dist
