"""Fusing a keyword and a vector candidate list into one ranking: RRF or weighted scores.

Each side returns its best ``max(k, fetch_k)`` candidates (``fetch_k=100``); the fused list
is built over their union. A fusion is an object (:class:`RRF`, :class:`Weighted`), made
from the user's spelling by :func:`make_fusion`:

``fusion="rrf"`` (reciprocal rank fusion, Cormack et al. 2009)
    ``score = 2*alpha / (rrf_k + vector_rank) + 2*(1-alpha) / (rrf_k + keyword_rank)``,
    a side contributing nothing when it did not return the row. With the default
    ``alpha=0.5`` this is the classic unweighted RRF ``sum 1 / (rrf_k + rank)``;
    ``rrf_k`` (default 60) must be > 0.
``fusion="weighted"``
    ``score = alpha * norm(vector_score) + (1 - alpha) * norm(keyword_score)``, each side's
    scores normalised over its own candidates. ``alpha`` in [0, 1] weights the *vector*
    side: 1 is vector-only, 0 keyword-only.

    ==============================  ==================================  ===================
    ``normalization``               a row the side returned             a row it did not
    ==============================  ==================================  ===================
    ``"minmax"`` (default)          ``(s - min) / (max - min)``; 1.0    0.0
                                    when all its scores are equal
    ``"zscore"``                    ``(s - mean) / std``; 0.0 when      the lowest z of
                                    all its scores are equal            that side; -1.0 if
                                                                        all were equal
    ==============================  ==================================  ===================

    A row missing from one side therefore ranks as if it scored at or below that side's
    weakest candidate, never above it.

Ties in the fused score go to the row with the better (smaller) of its two ranks, then to
the earlier row. Names are case-insensitive (``fusion="RRF"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vecnb._core.validation import positive_int
from vecnb.errors import InvalidInputError

__all__ = ["DEFAULT_FETCH_K", "DEFAULT_RRF_K", "FUSIONS", "NORMALIZATIONS", "RRF", "Weighted", "check_fetch_k",
           "fuse", "make_fusion"]

#: Candidates each side contributes to fusion (at least ``k``).
DEFAULT_FETCH_K = 100
#: RRF's rank constant.
DEFAULT_RRF_K = 60
FUSIONS = ("rrf", "weighted")
NORMALIZATIONS = ("minmax", "zscore")


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)) or not (0.0 <= float(alpha) <= 1.0):
        raise InvalidInputError(
            f"alpha must be a number in [0, 1] (the weight of the vector side: 1 = vectors only, 0 = keywords "
            f"only), got {alpha!r}."
        )
    return float(alpha)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise InvalidInputError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}.")
    return value.strip().lower()


@dataclass(frozen=True)
class _Sides:
    """One query's two candidate lists laid over their union ``cand`` (sorted positions)."""

    cand: np.ndarray
    ik: np.ndarray      # where each keyword candidate sits in cand
    iv: np.ndarray
    ks: np.ndarray      # keyword scores, in keyword order
    vs: np.ndarray
    kr_f: np.ndarray    # over cand: keyword rank / score, vector rank / score (NaN: not returned)
    ks_f: np.ndarray
    vr_f: np.ndarray
    vs_f: np.ndarray


@dataclass(frozen=True)
class RRF:
    """Reciprocal rank fusion: ``2*alpha / (rrf_k + vector_rank) + 2*(1-alpha) / (rrf_k + keyword_rank)``.

    Examples
    --------
    >>> rrf = vecnb.keyword.RRF(alpha=0.5, rrf_k=60)
    >>> kw = (np.array([2, 0]), np.array([3.1, 1.2]))
    >>> vec = (np.array([0, 1]), np.array([0.9, 0.8]))
    >>> out = rrf.fuse(kw, vec, k=3)
    >>> out["pos"]
    array([0, 2, 1])
    """

    alpha: float = 0.5
    rrf_k: float = DEFAULT_RRF_K
    name = "rrf"

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", _check_alpha(self.alpha))
        r = self.rrf_k
        if isinstance(r, bool) or not isinstance(r, (int, float, np.number)) or not np.isfinite(r) or r <= 0:
            raise InvalidInputError(f"rrf_k must be a number > 0 (RRF's rank constant, usually 60), got {r!r}.")
        object.__setattr__(self, "rrf_k", float(r))

    def combine(self, s: _Sides) -> np.ndarray:
        """The fused score of every candidate (one float per row of ``s.cand``; higher is better)."""
        fused = np.zeros(len(s.cand))
        fused[s.iv] += 2.0 * self.alpha / (self.rrf_k + s.vr_f[s.iv])
        fused[s.ik] += 2.0 * (1.0 - self.alpha) / (self.rrf_k + s.kr_f[s.ik])
        return fused

    def fuse(self, keyword: tuple[np.ndarray, np.ndarray], vector: tuple[np.ndarray, np.ndarray],
             k: int) -> dict[str, np.ndarray]:
        """See :func:`fuse`.

        Examples
        --------
        >>> kw = (np.array([2, 0]), np.array([3.1, 1.2]))
        >>> vec = (np.array([0, 1]), np.array([0.9, 0.8]))
        >>> sorted(vecnb.keyword.RRF().fuse(kw, vec, k=2))
        ['keyword_rank', 'keyword_score', 'pos', 'score', 'vector_rank', 'vector_score']
        """
        return _fuse(self, keyword, vector, k)


@dataclass(frozen=True)
class Weighted:
    """``alpha * norm(vector_score) + (1 - alpha) * norm(keyword_score)`` (module docstring).

    Examples
    --------
    >>> w = vecnb.keyword.Weighted(alpha=0.8)
    >>> kw = (np.array([2, 0]), np.array([3.1, 1.2]))
    >>> vec = (np.array([0, 1]), np.array([0.9, 0.8]))
    >>> w.fuse(kw, vec, k=3)["pos"]
    array([0, 2, 1])
    """

    alpha: float = 0.5
    normalization: str = "minmax"
    name = "weighted"

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", _check_alpha(self.alpha))
        object.__setattr__(self, "normalization", _check_choice("normalization", self.normalization, NORMALIZATIONS))

    def combine(self, s: _Sides) -> np.ndarray:
        """The fused score of every candidate (one float per row of ``s.cand``; higher is better)."""
        m = len(s.cand)
        nk, miss_k = _normalise(s.ks, self.normalization)
        nv, miss_v = _normalise(s.vs, self.normalization)
        kn = np.full(m, miss_k)
        vn = np.full(m, miss_v)
        kn[s.ik] = nk
        vn[s.iv] = nv
        return self.alpha * vn + (1.0 - self.alpha) * kn

    def fuse(self, keyword: tuple[np.ndarray, np.ndarray], vector: tuple[np.ndarray, np.ndarray],
             k: int) -> dict[str, np.ndarray]:
        """See :func:`fuse`.

        Examples
        --------
        >>> kw = (np.array([2, 0]), np.array([3.1, 1.2]))
        >>> vec = (np.array([0, 1]), np.array([0.9, 0.8]))
        >>> vecnb.keyword.Weighted(alpha=0.0).fuse(kw, vec, k=1)["pos"]
        array([2])
        """
        return _fuse(self, keyword, vector, k)


def make_fusion(fusion: Any = "rrf", alpha: Any = 0.5, rrf_k: Any = DEFAULT_RRF_K,
                normalization: Any = "minmax") -> RRF | Weighted:
    """The fusion object for ``fusion`` (a name, case-insensitive, or an :class:`RRF` / :class:`Weighted`).

    Every argument is validated, also those the chosen fusion does not use.

    Examples
    --------
    >>> vecnb.keyword.make_fusion("RRF", alpha=0.7)
    RRF(alpha=0.7, rrf_k=60.0)
    >>> vecnb.keyword.make_fusion("weighted", normalization="zscore")
    Weighted(alpha=0.5, normalization='zscore')
    >>> vecnb.keyword.make_fusion("borda")
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: fusion must be one of 'rrf', 'weighted', got 'borda'.
    """
    if isinstance(fusion, (RRF, Weighted)):
        return fusion
    name = _check_choice("fusion", fusion, FUSIONS)
    rrf = RRF(alpha, rrf_k)
    weighted = Weighted(alpha, normalization)
    return rrf if name == "rrf" else weighted


def check_fetch_k(fetch_k: Any, k: int) -> int:
    """Candidates per side: ``max(k, fetch_k)``; ``fetch_k`` must be a positive integer.

    Examples
    --------
    >>> check_fetch_k(20, k=50)
    50
    >>> check_fetch_k(0, k=5)
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: fetch_k must be a positive integer (candidates per side), got 0.
    """
    return max(int(k), positive_int(fetch_k, "fetch_k", what="candidates per side"))


def _normalise(s: np.ndarray, how: str) -> tuple[np.ndarray, float]:
    """Normalised scores of one side's candidates and the value a missing row gets."""
    if len(s) == 0:
        return s.astype(np.float64), 0.0
    s = s.astype(np.float64)
    if how == "minmax":
        lo, hi = s.min(), s.max()
        if hi > lo:
            return (s - lo) / (hi - lo), 0.0
        return np.ones_like(s), 0.0
    sd = s.std()
    if sd > 0:
        z = (s - s.mean()) / sd
        return z, float(z.min())
    return np.zeros_like(s), -1.0


def dedupe(pos: np.ndarray, sc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One side's candidates without ``-1`` padding, each row kept at its first (best) place."""
    pos = np.asarray(pos, dtype=np.int64).reshape(-1)
    sc = np.asarray(sc, dtype=np.float64).reshape(-1)
    ok = pos >= 0
    pos, sc = pos[ok], sc[ok]
    if len(np.unique(pos)) != len(pos):
        _, first = np.unique(pos, return_index=True)
        first.sort()
        pos, sc = pos[first], sc[first]
    return pos, sc


def _sides(keyword: tuple[np.ndarray, np.ndarray], vector: tuple[np.ndarray, np.ndarray]) -> _Sides:
    kp, ks = dedupe(*keyword)
    vp, vs = dedupe(*vector)
    cand = np.union1d(kp, vp)
    m = len(cand)
    kr_f, ks_f, vr_f, vs_f = (np.full(m, np.nan) for _ in range(4))
    ik = np.searchsorted(cand, kp)
    iv = np.searchsorted(cand, vp)
    kr_f[ik] = np.arange(1, len(kp) + 1)
    ks_f[ik] = ks
    vr_f[iv] = np.arange(1, len(vp) + 1)
    vs_f[iv] = vs
    return _Sides(cand, ik, iv, ks, vs, kr_f, ks_f, vr_f, vs_f)


def _fuse(how: RRF | Weighted, keyword: tuple[np.ndarray, np.ndarray], vector: tuple[np.ndarray, np.ndarray],
          k: int) -> dict[str, np.ndarray]:
    s = _sides(keyword, vector)
    fused = how.combine(s)
    # equal fused scores: the better rank on a side that carries weight first (at alpha 0 / 1 a side's
    # rank alone: minmax gives the last keyword hit 0, as much as a row the keywords never matched, and
    # that row's vector rank put it above the hit although the vector side weighs nothing)
    alpha = how.alpha
    best = s.kr_f if alpha == 0.0 else s.vr_f if alpha == 1.0 else np.fmin(s.kr_f, s.vr_f)
    then = s.vr_f if alpha == 0.0 else s.kr_f if alpha == 1.0 else np.zeros(len(s.cand))
    order = np.lexsort((s.cand, then, best, -fused))[:k]
    return {"pos": s.cand[order], "score": fused[order], "keyword_rank": s.kr_f[order],
            "keyword_score": s.ks_f[order], "vector_rank": s.vr_f[order], "vector_score": s.vs_f[order]}


def fuse(
    keyword: tuple[np.ndarray, np.ndarray],
    vector: tuple[np.ndarray, np.ndarray],
    k: int,
    *,
    fusion: Any = "rrf",
    alpha: float = 0.5,
    rrf_k: float = DEFAULT_RRF_K,
    normalization: str = "minmax",
) -> dict[str, np.ndarray]:
    """Fuse one query's keyword and vector candidate lists.

    Parameters
    ----------
    keyword, vector : (positions (m,), scores (m,))
        Each side's candidates, best first (``-1`` padding ignored).
    k : int
        How many fused rows to keep.
    fusion : {"rrf", "weighted"} or RRF / Weighted
    alpha, rrf_k, normalization
        See the module docstring (ignored when ``fusion`` is an object).

    Returns
    -------
    dict of 1-D arrays, length <= k, best first
        ``pos``, ``score`` (fused), ``keyword_rank``, ``keyword_score``, ``vector_rank``,
        ``vector_score`` (NaN where a side did not return the row).

    Examples
    --------
    >>> kw = (np.array([2, 0]), np.array([3.1, 1.2]))
    >>> vec = (np.array([0, 1]), np.array([0.9, 0.8]))
    >>> out = vecnb.keyword.fuse(kw, vec, k=3, fusion="rrf")
    >>> out["pos"], out["score"].round(4)
    (array([0, 2, 1]), array([0.0325, 0.0164, 0.0161]))
    """
    return make_fusion(fusion, alpha, rrf_k, normalization).fuse(keyword, vector, k)
