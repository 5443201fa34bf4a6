"""Keyword (BM25) and hybrid search, written once over a search target (a DataFrame or a VectorIndex).

::

    df.vec.keyword("query", text="text", k=10)                        # BM25 alone
    df.vec.hybrid("query", text="text", k=10, fusion="rrf")           # BM25 + vectors, fused
    df.vec.hybrid("query", text="text", k=10, fusion="weighted", alpha=0.7)
    idx.keyword("query", k=10); idx.hybrid("query", k=10)             # the same on a VectorIndex

One path: :func:`keyword` and :func:`hybrid` take a target (:mod:`vecnb.search.targets`),
a :class:`~vecnb.search.bm25.BM25Options` and a fusion object
(:mod:`vecnb.search.fusion`); ``keyword_search`` / ``hybrid_search`` (frames) and
``keyword_search_index`` / ``hybrid_search_index`` (indexes) are the same call with the
target built for you. The pieces live in their own modules:

* :mod:`vecnb.search.bm25` -- tokenisation, stop words, stemming, BM25 parameters, the cache;
* :mod:`vecnb.search.fusion` -- RRF and weighted fusion, ``alpha``, ``rrf_k``, normalisation;
* :mod:`vecnb.search.rerank` -- MMR and cross-encoder rerankers (``Query(...).rerank``).

Every function returns the result shape of ``df.vec.search``: the hit rows (original index
labels and columns), ``score`` (higher is better), ``rank`` (1-based) and, for a batch of
queries, ``query`` (a Series' index labels, else the query texts). Hybrid results also show
why a row ranked where it did: ``keyword_rank``, ``keyword_score``, ``vector_rank``,
``vector_score`` -- the raw scores from each side, never overwritten by normalisation, and
NaN for a row that one side did not return.

A document that contains none of the query's terms scores 0 and is never returned, so a
keyword search may return fewer than ``k`` rows (none for a query made only of stop words).
``where`` filters rows after scoring; document frequencies are those of the whole column.
Missing text counts as empty text. Each hybrid side returns its best ``max(k, fetch_k)``
candidates; ``threshold`` applies to the fused score.

On a VectorIndex, ``keyword_backend="auto"`` uses the store's own keyword search (SQLite
FTS5, PostgreSQL full text, Elasticsearch ``match``) when the store has one and was given
the texts of ``text``; otherwise BM25 in process over the index's rows. ``"store"`` /
``"bm25"`` force one. BM25 options apply to the in-process side only; a store uses its own
analyser. The vector side of an index is the index's own search (approximate stores answer
approximately).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vecnb.search.bm25 import (  # noqa: F401 - public names of vecnb.keyword
    BM25,
    BM25_METHODS,
    CACHE_SIZE,
    Analyzer,
    BM25Options,
    _CACHE,
    _IDENTITY,
    bm25_index,
    cache_info,
    clear_cache,
)
from vecnb.search.fusion import (  # noqa: F401
    DEFAULT_FETCH_K,
    DEFAULT_RRF_K,
    FUSIONS,
    NORMALIZATIONS,
    RRF,
    Weighted,
    check_fetch_k,
    dedupe,
    fuse,
    make_fusion,
)
from vecnb.search.inputs import check_k, check_threshold, query_texts
from vecnb.search.rerank import MMR, CrossEncoder, check_diversity, make_reranker, mmr, rerank_hits  # noqa: F401
from vecnb.search.targets import KEYWORD_BACKENDS, FrameTarget, IndexTarget, as_target  # noqa: F401

__all__ = [
    "BM25", "BM25Options", "CACHE_SIZE", "DEFAULT_FETCH_K", "DEFAULT_RRF_K", "FUSIONS", "NORMALIZATIONS",
    "MMR", "RRF", "Analyzer", "CrossEncoder", "Weighted", "bm25_index", "cache_info", "clear_cache", "fuse",
    "hybrid", "hybrid_search", "hybrid_search_index", "keyword", "keyword_search", "keyword_search_index",
    "make_fusion", "make_reranker", "mmr", "rerank_hits",
]

_HYBRID_EXTRA = ("keyword_rank", "keyword_score", "vector_rank", "vector_score")
_BM25_KEYS = ("lower", "stopwords", "stemmer", "k1", "b", "method")


def _build(target: Any, per_query: list[dict[str, np.ndarray]], k: int, labels: list | None,
           threshold: float | None, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Result frame from per-query 1-D arrays (``pos``, ``score``, ``extra``), padded to (nq, k').

    ``k' = min(k, longest row)``: a huge ``k`` allocates no more than the hits found.
    """
    from vecnb.frame.results import build_hits

    nq = len(per_query)
    k = min(k, max((len(r["pos"]) for r in per_query), default=0))
    pos = np.full((nq, k), -1, dtype=np.int64)
    cols = {n: np.full((nq, k), np.nan, dtype=np.float64) for n in ("score", *extra)}
    for i, r in enumerate(per_query):
        m = min(k, len(r["pos"]))
        pos[i, :m] = r["pos"][:m]
        for n in cols:
            cols[n][i, :m] = r[n][:m]
    hits = build_hits(target.rows, pos, cols.pop("score"), queries=labels, threshold=threshold, extra=cols or None,
                      drop=target.drop)
    return target.finish(hits)


# ====================================================================== the one path
def keyword(target: Any, query: Any, k: int = 10, *, text: str | None = None, where: dict | None = None,
            threshold: float | None = None, bm25: BM25Options | dict | None = None,
            keyword_backend: str = "auto", with_vectors: bool = False) -> pd.DataFrame:
    """BM25 keyword search over a target (a DataFrame, a VectorIndex or a target object).

    Parameters
    ----------
    target : DataFrame, VectorIndex, FrameTarget or IndexTarget
    query : str, or list / tuple / Series / ndarray of str
        One query, or a batch (adds a ``query`` column: a Series' index labels, else the texts).
    k : int
        Hits per query (fewer when fewer rows contain a query term).
    text : str, optional
        The text column (frame default ``"text"``; index default: its text column).
    where : dict, optional
        Filter (:mod:`vecnb.filters`), applied after scoring.
    threshold : float, optional
        Minimum BM25 score kept.
    bm25 : BM25Options or dict, optional
        Tokenisation and BM25 parameters (:mod:`vecnb.search.bm25`).
    keyword_backend : {"auto", "store", "bm25"}
        VectorIndex only (module docstring).
    with_vectors : bool
        Keep the embedding column in the results (default: dropped, as everywhere).

    Returns
    -------
    DataFrame
        Hit rows with ``score`` (BM25) and ``rank`` (+ ``query`` for a batch), sorted by
        query then rank; ties in score go to the earlier row.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> vecnb.keyword.keyword(df, "apple", k=2, text="text")
                text     score  rank
    2  apple crumble  0.211833     1
    0  red apple pie  0.177990     2
    """
    target = as_target(target, with_vectors=with_vectors)
    k = check_k(k)
    threshold = check_threshold(threshold)
    texts, labels, batch = query_texts(query)
    node = target.parse_where(where)
    name = target.text_column(text)
    opts = BM25Options.make(bm25)
    sides = target.keyword(texts, k, node, name, opts, keyword_backend)
    rows = [dict(zip(("pos", "score"), dedupe(p, s))) for p, s in sides]
    return _build(target, rows, k, labels if batch else None, threshold)


def hybrid(target: Any, query: Any, k: int = 10, *, text: str | None = None, fusion: Any = "rrf",
           alpha: float = 0.5, rrf_k: float = DEFAULT_RRF_K, normalization: str = "minmax",
           fetch_k: int = DEFAULT_FETCH_K, where: dict | None = None, threshold: float | None = None,
           model: Any = None, vector: Any = None, bm25: BM25Options | dict | None = None,
           keyword_backend: str = "auto", with_vectors: bool = False) -> pd.DataFrame:
    """Keyword (BM25) + vector search over a target, fused.

    Parameters
    ----------
    target : DataFrame, VectorIndex, FrameTarget or IndexTarget
        A DataFrame is searched exactly with cosine over its only embedding column; build a
        :class:`FrameTarget` for another column or metric.
    query : str, or list / tuple / Series / ndarray of str
        Query text(s): matched by BM25 and embedded with the vectors' model.
    k : int
        Hits per query.
    text : str, optional
        The text column for the keyword side.
    fusion : {"rrf", "weighted"} (any case), RRF or Weighted
    alpha : float in [0, 1]
        Weight of the vector side (:mod:`vecnb.search.fusion`).
    rrf_k : float > 0
        RRF's rank constant.
    normalization : {"minmax", "zscore"}
        Score normalisation for ``fusion="weighted"``.
    fetch_k : int
        Candidates per side (``max(k, fetch_k)`` are used).
    where : dict, optional
        Filter applied to both sides.
    threshold : float, optional
        Minimum *fused* score kept.
    model : optional
        Embedder for the query when the vectors record none.
    vector : array (d,) or (nq, d), optional
        Query vector(s) to use instead of embedding ``query``.
    bm25 : BM25Options or dict, optional
        The keyword side's options.
    keyword_backend : {"auto", "store", "bm25"}
        VectorIndex only.
    with_vectors : bool
        Keep the embedding column in the results (default: dropped, as everywhere).

    Returns
    -------
    DataFrame
        Hit rows with ``score`` (fused), ``keyword_rank``, ``keyword_score``, ``vector_rank``,
        ``vector_score``, ``rank`` (+ ``query`` for a batch).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> vecnb.keyword.hybrid(df, "apple pie", k=2, text="text")[["text", "rank"]]
                text  rank
    0  red apple pie     1
    2  apple crumble     2
    """
    target = as_target(target, with_vectors=with_vectors)
    k = check_k(k)
    threshold = check_threshold(threshold)
    how = make_fusion(fusion, alpha, rrf_k, normalization)
    fetch = check_fetch_k(fetch_k, k)
    texts, labels, batch = query_texts(query, "hybrid search")
    node = target.parse_where(where)
    target.check_searchable()
    name = target.text_column(text)
    opts = BM25Options.make(bm25)
    Q = target.query_vectors(texts if batch else texts[0], model=model, vector=vector, n=len(texts))
    kw = target.keyword(texts, fetch, node, name, opts, keyword_backend)
    vec = target.vector(Q, fetch, node, where)
    out = [how.fuse(kw[i], vec[i], k) for i in range(len(texts))]
    return _build(target, out, k, labels if batch else None, threshold, _HYBRID_EXTRA)


# ====================================================================== the same, target built for you
def _bm25_kw(options: dict[str, Any]) -> dict[str, Any]:
    return {key: options[key] for key in _BM25_KEYS if key in options}


def keyword_search(df: pd.DataFrame, query: Any, text: str = "text", k: int = 10, *, where: dict | None = None,
                   threshold: float | None = None, **bm25: Any) -> pd.DataFrame:
    """BM25 keyword search over a DataFrame's text column (what ``df.vec.keyword`` calls); see :func:`keyword`.

    ``bm25``: ``lower``, ``stopwords``, ``stemmer``, ``k1``, ``b``, ``method``.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> vecnb.keyword.keyword_search(df, "pear", k=1)
                  text     score  rank
    1  green pear tart  0.371438     1
    """
    return keyword(FrameTarget(df, what="keyword search"), query, k, text=text, where=where, threshold=threshold, bm25=bm25)


def hybrid_search(df: pd.DataFrame, query: Any, text: str = "text", k: int = 10, fusion: Any = "rrf",
                  alpha: float = 0.5, *, metric: str = "cosine", column: str | None = None,
                  **options: Any) -> pd.DataFrame:
    """Keyword + exact vector search over a DataFrame, fused (what ``df.vec.hybrid`` calls); see :func:`hybrid`.

    ``metric`` and ``column`` choose the vector side; ``options`` are :func:`hybrid`'s
    (``rrf_k``, ``normalization``, ``fetch_k``, ``where``, ``threshold``, ``model``,
    ``vector``) and the BM25 options (``lower``, ``stopwords``, ``stemmer``, ``k1``, ``b``, ``method``).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> vecnb.keyword.hybrid_search(df, "pear tart", k=1, fusion="weighted", alpha=0.3)[["text", "rank"]]
                  text  rank
    1  green pear tart     1
    """
    target = FrameTarget(df, column=column, metric=metric, what="hybrid search")
    return hybrid(target, query, k, text=text, fusion=fusion, alpha=alpha, bm25=_bm25_kw(options),
                  **_rest(options))


def keyword_search_index(index: Any, query: Any, text: str | None = None, k: int = 10,
                         **options: Any) -> pd.DataFrame:
    """Keyword search over a :class:`vecnb.VectorIndex`'s rows (what ``idx.keyword`` calls); see :func:`keyword`.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text")
    >>> vecnb.keyword.keyword_search_index(idx, "apple", k=2)[["text", "rank"]]
                text  rank
    2  apple crumble     1
    0  red apple pie     2
    """
    return keyword(IndexTarget(index), query, k, text=text, bm25=_bm25_kw(options), **_rest(options))


def hybrid_search_index(index: Any, query: Any, text: str | None = None, k: int = 10, fusion: Any = "rrf",
                        alpha: float = 0.5, **options: Any) -> pd.DataFrame:
    """Hybrid search over a :class:`vecnb.VectorIndex` (what ``idx.hybrid`` calls); see :func:`hybrid`.

    The metric is the index's.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text")
    >>> vecnb.keyword.hybrid_search_index(idx, "apple pie", k=2)[["text", "rank"]]
                text  rank
    0  red apple pie     1
    2  apple crumble     2
    """
    return hybrid(IndexTarget(index), query, k, text=text, fusion=fusion, alpha=alpha, bm25=_bm25_kw(options),
                  **_rest(options))


def _rest(options: dict[str, Any]) -> dict[str, Any]:
    return {key: v for key, v in options.items() if key not in _BM25_KEYS}
