"""Rerankers: reorder a first stage's candidates (MMR for diversity, a cross-encoder for precision).

A reranker is an object with ``rerank(hits, k, *, vectors=None, queries=None) -> hits``:

:class:`MMR` (maximal marginal relevance, Carbonell & Goldstein 1998)
    reorders candidates for diversity: each step picks the candidate maximising
    ``(1 - diversity) * relevance - diversity * max cosine(candidate, already picked)``.
    Relevance is the *first stage's* score (keyword, vector or fused), min-max normalised
    over the query's candidates, so MMR reranks what the first stage found by what the
    first stage thought of it: ``diversity=0`` reproduces the first-stage order exactly,
    ``diversity=1`` only avoids redundancy. (Cosine to the query vector as relevance
    would silently turn a keyword or hybrid search into a dense one.)
:class:`CrossEncoder`
    scores ``(query, text)`` pairs with a callable ``(query, texts) -> scores`` or a model
    with ``predict(pairs)`` (sentence-transformers' ``CrossEncoder``); higher is better,
    ties keep the earlier rank.

Reranked results keep the retrieval ``score``, add ``rerank_score`` and renumber ``rank``.
:func:`make_reranker` turns ``"mmr"`` (any case) or a callable into one of these;
:class:`vecnb.Query` chains them (``Query.hybrid(...).rerank("mmr")``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import metrics
from vecnb.errors import ColumnNotFoundError, InvalidInputError
from vecnb.search.inputs import check_k

__all__ = ["MMR", "CrossEncoder", "check_diversity", "make_reranker", "mmr", "rerank_hits"]


def check_diversity(diversity: Any) -> float:
    """Validate MMR's ``diversity``: a number in [0, 1].

    Examples
    --------
    >>> check_diversity(0.3)
    0.3
    >>> check_diversity(1.5)
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: diversity must be a number in [0, 1] (0 = keep the relevance order, 1 ...
    """
    if (isinstance(diversity, bool) or not isinstance(diversity, (int, float, np.number))
            or not (0.0 <= float(diversity) <= 1.0)):
        raise InvalidInputError(
            f"diversity must be a number in [0, 1] (0 = keep the relevance order, 1 = only avoid redundancy), "
            f"got {diversity!r}."
        )
    return float(diversity)


def _relevance(V: np.ndarray, U: np.ndarray, query_vector: Any, relevance: Any) -> np.ndarray:
    m = len(V)
    if relevance is not None:
        r = np.asarray(relevance, dtype=np.float64).reshape(-1)
        if len(r) != m:
            raise InvalidInputError(f"{len(r)} relevance scores for {m} candidates.")
        lo, hi = np.nanmin(r), np.nanmax(r)
        return (r - lo) / (hi - lo) if hi > lo else np.ones(m)
    if query_vector is not None:
        q = np.asarray(query_vector, dtype=np.float64).reshape(-1)
        if q.shape[0] != V.shape[1]:
            raise InvalidInputError(f"query vector is {q.shape[0]}-d but the candidates are {V.shape[1]}-d.")
        qn = np.linalg.norm(q)
        return U @ (q / (qn if qn > 0 else 1.0))
    raise InvalidInputError("mmr needs the candidates' relevance scores or the query vector.")


def mmr(
    vectors: np.ndarray,
    k: int,
    *,
    diversity: float = 0.3,
    query_vector: np.ndarray | None = None,
    relevance: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Maximal marginal relevance: a diverse order of candidates.

    Parameters
    ----------
    vectors : ndarray, shape (m, d)
        The candidates' vectors.
    k : int
        How many to pick (at most m).
    diversity : float in [0, 1]
        ``1 - lambda`` of Carbonell & Goldstein: 0 keeps the relevance order.
    query_vector : ndarray (d,), optional
        Relevance is ``cosine(query, candidate)`` when no ``relevance`` is given.
    relevance : ndarray (m,), optional
        The candidates' relevance (e.g. the first stage's scores), min-max normalised;
        used in preference to ``query_vector``.

    Returns
    -------
    order : ndarray (k',) int64
        Candidate positions in MMR order.
    values : ndarray (k',) float64
        The MMR objective of each pick when it was picked.

    Examples
    --------
    >>> V = np.array([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0]], np.float32)
    >>> order, scores = vecnb.keyword.mmr(V, 2, diversity=0.7, relevance=np.array([0.9, 0.89, 0.5]))
    >>> order
    array([0, 2])
    """
    k = check_k(k)
    lam = 1.0 - check_diversity(diversity)
    V = metrics.as_matrix(vectors, what="candidate vectors").astype(np.float64)
    m = len(V)
    if m == 0:
        return np.empty(0, np.int64), np.empty(0)
    norms = np.linalg.norm(V, axis=1)
    norms[norms == 0] = 1.0
    U = V / norms[:, None]
    rel = _relevance(V, U, query_vector, relevance)
    S = U @ U.T
    k = min(k, m)
    chosen: list[int] = []
    values: list[float] = []
    left = np.ones(m, dtype=bool)
    max_sim = np.full(m, -np.inf)
    for step in range(k):
        red = np.where(np.isfinite(max_sim), max_sim, 0.0) if step else np.zeros(m)
        obj = lam * rel - (1.0 - lam) * red
        obj[~left] = -np.inf
        j = int(np.argmax(obj))  # ties: the earlier (better-ranked) candidate
        chosen.append(j)
        values.append(float(obj[j]))
        left[j] = False
        max_sim = np.maximum(max_sim, S[:, j])
    return np.asarray(chosen, dtype=np.int64), np.asarray(values)


def _groups(hits: pd.DataFrame) -> list[tuple[Any, np.ndarray]]:
    """``[(query label, row positions)]`` of a result frame, in order (label None: one query)."""
    if "query" not in hits.columns:
        return [(None, np.arange(len(hits)))]
    codes = pd.factorize(hits["query"])[0]
    out = []
    for g in range(codes.max() + 1 if len(codes) else 0):
        rows = np.flatnonzero(codes == g)
        out.append((hits["query"].iloc[rows[0]], rows))
    return out


def _assemble(hits: pd.DataFrame, take: list[np.ndarray], vals: list[np.ndarray]) -> pd.DataFrame:
    has_q = "query" in hits.columns
    if not take:
        out = hits.copy()
        out["rerank_score"] = np.empty(0)
    else:
        out = hits.iloc[np.concatenate(take)].copy()
        out["rerank_score"] = np.concatenate(vals)
        out["rank"] = np.concatenate([np.arange(1, len(t) + 1) for t in take]).astype(np.int64)
    cols = [c for c in out.columns if c not in ("rank", "query")] + ["rank"] + (["query"] if has_q else [])
    return out[cols]


@dataclass(frozen=True)
class MMR:
    """Maximal marginal relevance over the first stage's candidates (module docstring).

    ``query_vectors`` (``{query label: vector}``) switches relevance to cosine with the
    query, for callers who want that; by default relevance is the first-stage score.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "red apple pie!", "apple crumble", "pear tart"]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> hits = df.vec.search("apple pie", k=3)
    >>> hits[["text", "rank"]]
                 text  rank
    0   red apple pie     1
    1  red apple pie!     2
    2   apple crumble     3
    >>> V = df.vec.matrix()[[df.index.get_loc(i) for i in hits.index]]
    >>> vecnb.keyword.MMR(diversity=0.9).rerank(hits, 2, vectors=V)[["text", "rank"]]
                text  rank
    0  red apple pie     1
    2  apple crumble     2
    """

    diversity: float = 0.3
    name = "mmr"

    def __post_init__(self) -> None:
        object.__setattr__(self, "diversity", check_diversity(self.diversity))

    def rerank(self, hits: pd.DataFrame, k: int, *, vectors: np.ndarray | None = None,
               queries: dict | None = None, query_vectors: dict | None = None) -> pd.DataFrame:
        """Best ``k`` per query in MMR order; ``vectors`` (len(hits), d) are the hits' vectors in row order."""
        k = check_k(k)
        if vectors is None:
            raise InvalidInputError("MMR reranking needs the hits' vectors.")
        V = metrics.as_matrix(vectors, what="hit vectors") if len(hits) else np.empty((0, 1), np.float32)
        if len(V) != len(hits):
            raise InvalidInputError(f"{len(V)} vectors for {len(hits)} hits.")
        score = hits["score"].to_numpy(dtype=np.float64)
        take, vals = [], []
        for label, rows in _groups(hits):
            qv = (query_vectors or {}).get(label)
            order, v = mmr(V[rows], k, diversity=self.diversity, query_vector=qv,
                           relevance=None if qv is not None else score[rows])
            take.append(rows[order])
            vals.append(np.asarray(v, dtype=np.float64))
        return _assemble(hits, take, vals)


def _call_scores(model: Any, query: str, texts: list[str]) -> np.ndarray:
    try:
        if callable(model):
            raw = model(query, texts)
        else:
            raw = model.predict([(query, t) for t in texts])
    except Exception as exc:
        raise InvalidInputError(f"The rerank callable failed on query {query!r}: {type(exc).__name__}: {exc}") from exc
    try:
        s = np.asarray(raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"The rerank callable must return one number per text; got {type(raw).__name__}."
        ) from None
    if len(s) != len(texts):
        raise InvalidInputError(f"The rerank callable returned {len(s)} scores for {len(texts)} texts.")
    if not np.isfinite(s).all():
        raise InvalidInputError("The rerank callable returned NaN or infinite scores.")
    return s


@dataclass(frozen=True)
class CrossEncoder:
    """Rerank by a model's score of each (query, text) pair.

    Parameters
    ----------
    model : callable or object with ``predict``
        ``(query, texts) -> scores`` or, like sentence-transformers' ``CrossEncoder``,
        ``predict([(query, text), ...]) -> scores``.
    text : str, optional
        The text column of the hits handed to it.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> shortest_first = vecnb.keyword.CrossEncoder(lambda query, texts: [-len(t) for t in texts], text="text")
    >>> hits = df.vec.search("apple", k=3)
    >>> shortest_first.rerank(hits, 2, queries={None: "apple"})[["text", "rank"]]
                text  rank
    2  apple crumble     1
    0  red apple pie     2
    """

    model: Any
    text: str | None = field(default=None)
    name = "callable"

    def __post_init__(self) -> None:
        if not callable(self.model) and not callable(getattr(self.model, "predict", None)):
            raise InvalidInputError(
                f"rerank takes 'mmr', a callable (query, texts) -> scores or a cross-encoder with predict(pairs); "
                f"got {self.model!r}."
            )

    def rerank(self, hits: pd.DataFrame, k: int, *, vectors: Any = None, queries: dict | None = None,
               query_vectors: Any = None) -> pd.DataFrame:
        """Best ``k`` per query by the model's score; ``queries`` maps a query label to its text."""
        k = check_k(k)
        text = self.text
        if text is None or text not in hits.columns:
            raise ColumnNotFoundError(
                f"The cross-encoder needs the hits' text column; {text!r} is not among {list(hits.columns)[:20]}. "
                "Pass text='<column>' to rerank()."
            )
        take, vals = [], []
        for label, rows in _groups(hits):
            qtext = (queries or {}).get(label, label if isinstance(label, str) else None)
            if not isinstance(qtext, str):
                raise InvalidInputError("A cross-encoder needs the query text; this query was a vector.")
            texts = hits[text].iloc[rows].fillna("").astype(str).tolist()
            s = _call_scores(self.model, qtext, texts)
            order = np.lexsort((np.arange(len(rows)), -s))[:k]
            take.append(rows[order])
            vals.append(s[order])
        return _assemble(hits, take, vals)


def make_reranker(method: Any, *, diversity: float | None = None, text: str | None = None) -> MMR | CrossEncoder:
    """``"mmr"`` (any case) -> :class:`MMR`; a callable or a model with ``predict`` -> :class:`CrossEncoder`.

    Examples
    --------
    >>> vecnb.keyword.make_reranker("MMR", diversity=0.5)
    MMR(diversity=0.5)
    >>> type(vecnb.keyword.make_reranker(lambda query, texts: [0.0] * len(texts), text="text")).__name__
    'CrossEncoder'
    """
    if isinstance(method, (MMR, CrossEncoder)):
        return method
    if isinstance(method, str):
        if method.strip().lower() != "mmr":
            raise InvalidInputError(
                f"Unknown rerank method {method!r}; use 'mmr' or a callable (query, texts) -> scores."
            )
        return MMR(0.3 if diversity is None else diversity)
    return CrossEncoder(method, text)


def rerank_hits(
    hits: pd.DataFrame,
    method: Any,
    k: int,
    *,
    diversity: float = 0.3,
    vectors: np.ndarray | None = None,
    query_vectors: dict | None = None,
    queries: dict | None = None,
    text: str | None = None,
) -> pd.DataFrame:
    """Rerank a result frame (one or several queries) and keep the best ``k`` per query.

    Parameters
    ----------
    hits : DataFrame
        A search result (``score``, ``rank``, maybe ``query``), sorted by query then rank.
    method : "mmr", callable, MMR or CrossEncoder
        See :func:`make_reranker`.
    k : int
    diversity : float in [0, 1]
        MMR only.
    vectors : ndarray (len(hits), d)
        MMR only: the vector of each hit row, in row order.
    query_vectors : dict, optional
        MMR only: ``{query label: vector (d,)}`` to use cosine-to-query as relevance
        instead of the first-stage score (a single query's label is ``None``).
    queries : dict, optional
        Cross-encoder only: ``{query label: query text}`` (a batch of text queries needs
        none: the ``query`` column holds the text).
    text : str
        Cross-encoder only: the text column handed to the callable.

    Returns
    -------
    DataFrame
        The same columns plus ``rerank_score``; ``score`` keeps the retrieval score and
        ``rank`` is renumbered in the new order.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "red apple pie!", "apple crumble", "pear tart"]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> hits = df.vec.search("apple pie", k=3)
    >>> V = df.vec.matrix()[[df.index.get_loc(i) for i in hits.index]]
    >>> vecnb.keyword.rerank_hits(hits, "mmr", 2, diversity=0.9, vectors=V)[["text", "rank"]]
                text  rank
    0  red apple pie     1
    2  apple crumble     2
    """
    if isinstance(method, str) or isinstance(method, MMR):
        step = make_reranker(method, diversity=diversity)
    elif isinstance(method, CrossEncoder):
        step = method if text is None else CrossEncoder(method.model, text)
    elif callable(method) or callable(getattr(method, "predict", None)):
        step = CrossEncoder(method, text)
    else:
        raise InvalidInputError(f"rerank takes 'mmr' or a callable (query, texts) -> scores, got {method!r}.")
    return step.rerank(hits, k, vectors=vectors, queries=queries, query_vectors=query_vectors)


