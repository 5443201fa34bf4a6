"""Keyword search (BM25), hybrid fusion (RRF, weighted) and reranking (MMR, cross-encoder).

::

    df.vec.keyword("query", text="text", k=10)                        # BM25 alone
    df.vec.hybrid("query", text="text", k=10, fusion="rrf")           # BM25 + vectors, fused
    df.vec.hybrid("query", text="text", k=10, fusion="weighted", alpha=0.7)
    idx.hybrid("query", k=10)                                           # same on a VectorIndex

Every function returns the result shape of ``df.vec.search``: the hit rows (original index
labels and columns), ``score`` (higher is better), ``rank`` (1-based) and, for a batch of
queries, ``query``. Hybrid results also show why a row ranked where it did:
``keyword_rank``, ``keyword_score``, ``vector_rank``, ``vector_score`` -- the raw scores
from each side, never overwritten by normalisation, and NaN for a row that one side did
not return.

BM25: why ``bm25s``
-------------------
The keyword side is `bm25s <https://github.com/xhluca/bm25s>`_: a maintained, pure
numpy/scipy BM25 with the Lucene, Robertson, ATIRE, BM25L and BM25+ variants, whose scores
were checked against Elasticsearch / Lucene by its authors (the BEIR comparison in its
paper). It precomputes every (term, document) score into a sparse matrix, so a query is a
sum of a few sparse columns: ~0.4 ms over 100,000 documents. Index building (tokenise +
score) is the slow part (~10 s for 100,000 documents of 60 words on this kind of machine),
hence the cache below. Stemming is Snowball through ``PyStemmer``. Both come with
``pip install "vecnb[keyword]"``.

Tokenisation (all settable, per call)
-------------------------------------
``lower=True``
    lower-case before splitting;
``stopwords="english"``
    ``"english"`` is Lucene's English stop list (33 words, bm25s's ``STOPWORDS_EN``); also
    ``"english_plus"`` and the language names bm25s knows (``"german"``, ``"french"``...),
    any list of words, or ``None`` for no stop words;
``stemmer="english"``
    a Snowball language name (``PyStemmer``: ``"english"``, ``"porter"``, ``"german"``...),
    ``None`` for no stemming, or any callable ``list[str] -> list[str]``.

Words are ``\\b\\w\\w+\\b`` (scikit-learn's pattern: two or more word characters). BM25
parameters: ``k1=1.5``, ``b=0.75``, ``method="lucene"`` (bm25s's defaults).

A document that contains none of the query's terms scores 0 and is never returned, so a
keyword search may return fewer than ``k`` rows (none for a query made only of stop words).
``where`` filters rows after scoring; document frequencies are those of the whole column.
Missing text counts as empty text.

The BM25 cache
--------------
The accessor holds no state, so the BM25 index of a text column is cached by *content*:
up to :data:`CACHE_SIZE` indexes, least recently used dropped first, keyed by (content hash
of the column, tokenisation, BM25 parameters). A column stored as Arrow strings (pandas'
default ``str`` dtype with pyarrow) is immutable: its array object is recognised by identity
in O(1), so repeated queries on the same frame, its shallow copies and a VectorIndex's
frame pay nothing. Other columns (object dtype) are hashed on every call (~0.1 s per
100,000 texts). The cache keeps references to the text arrays of the indexes it holds;
:func:`clear_cache` frees them all, :func:`cache_info` describes what is held.

Fusion
------
Each side returns its best ``max(k, fetch_k)`` candidates (``fetch_k=100``); the fused list
is built over their union.

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
the earlier row. ``threshold`` applies to the fused score, after fusion.

Reranking
---------
:func:`mmr` (maximal marginal relevance, Carbonell & Goldstein 1998) reorders candidates
for diversity using their vectors: each step picks the candidate maximising
``(1 - diversity) * relevance - diversity * max cosine(candidate, already picked)``, where
relevance is ``cosine(query, candidate)`` when the query vector is known, else the
candidates' retrieval scores min-max normalised. ``diversity=0`` keeps the original order,
``diversity=1`` only avoids redundancy. :func:`rerank_hits` applies MMR or any cross-encoder
callable ``(query, texts) -> scores`` to a result frame; reranked results keep the retrieval
``score``, add ``rerank_score`` and re-number ``rank``. :class:`vecnb.Query` chains these
(``Query.hybrid(...).rerank("mmr")``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import filters, metrics
from vecnb.errors import (
    ColumnNotFoundError,
    InvalidInputError,
    MissingDependencyError,
    TextColumnError,
)
from vecnb.search.inputs import check_k, check_threshold

__all__ = [
    "BM25",
    "CACHE_SIZE",
    "DEFAULT_FETCH_K",
    "DEFAULT_RRF_K",
    "FUSIONS",
    "NORMALIZATIONS",
    "Analyzer",
    "bm25_index",
    "cache_info",
    "clear_cache",
    "fuse",
    "hybrid_search",
    "hybrid_search_index",
    "keyword_search",
    "keyword_search_index",
    "mmr",
    "rerank_hits",
]

#: Candidates each side contributes to fusion (at least ``k``).
DEFAULT_FETCH_K = 100
#: RRF's rank constant.
DEFAULT_RRF_K = 60
#: How many BM25 indexes the content-keyed cache keeps.
CACHE_SIZE = 8
FUSIONS = ("rrf", "weighted")
NORMALIZATIONS = ("minmax", "zscore")
BM25_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
KEYWORD_BACKENDS = ("auto", "store", "bm25")

_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def _import_bm25s():
    try:
        import bm25s
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError.for_extra("Keyword search (BM25)", "keyword", module="bm25s") from exc
    return bm25s


# ====================================================================== tokenisation
@dataclass(frozen=True)
class Analyzer:
    """How text becomes BM25 terms: lower-casing, stop words, stemming.

    Build one with :meth:`make` (which validates); the keyword functions take the same
    settings as keyword arguments (``lower=``, ``stopwords=``, ``stemmer=``).

    Attributes
    ----------
    lower : bool
    stopwords : tuple of str
        The stop words removed (empty: none).
    stemmer : str, callable or None
        Snowball language name, a callable ``list[str] -> list[str]``, or None.
    """

    lower: bool = True
    stopwords: tuple[str, ...] = ()
    stemmer: Any = "english"

    @classmethod
    def make(cls, *, lower: bool = True, stopwords: Any = "english", stemmer: Any = "english") -> Analyzer:
        """Validate tokenisation settings (see the module docstring)."""
        if not isinstance(lower, (bool, np.bool_)):
            raise InvalidInputError(f"lower must be True or False, got {lower!r}.")
        sw = _stopword_tuple(stopwords, bool(lower))
        if stemmer is False:
            stemmer = None
        if stemmer is not None and not callable(stemmer):
            if not isinstance(stemmer, str):
                raise InvalidInputError(
                    f"stemmer must be a Snowball language name such as 'english', None, or a callable "
                    f"list[str] -> list[str]; got {type(stemmer).__name__}."
                )
            stemmer = stemmer.strip().lower()
            algos = _stemmer_names()
            if stemmer not in algos:
                raise InvalidInputError(f"Unknown stemmer {stemmer!r}; use one of {', '.join(algos)}, or None.")
        return cls(lower=bool(lower), stopwords=sw, stemmer=stemmer)

    # -- the callable bm25s uses
    def _stem_fn(self) -> Any:
        if self.stemmer is None:
            return None
        if callable(self.stemmer):
            fn = self.stemmer

            def checked(words: list[str]) -> list[str]:
                out = list(fn(list(words)))
                if len(out) != len(words) or not all(isinstance(w, str) for w in out):
                    raise InvalidInputError(
                        "The stemmer callable must return one string per word it is given "
                        f"(got {len(out)} values for {len(words)} words)."
                    )
                return out

            return checked
        return _snowball(self.stemmer)

    def tokenize(self, texts: Sequence[str], *, progress: bool = False) -> Any:
        """``bm25s.tokenization.Tokenized`` (ids per text + vocabulary) of a corpus."""
        bm25s = _import_bm25s()
        return bm25s.tokenize(list(texts), lower=self.lower, token_pattern=_TOKEN_PATTERN,
                              stopwords=list(self.stopwords), stemmer=self._stem_fn(), return_ids=True,
                              show_progress=progress)

    def terms(self, text: str) -> list[str]:
        """The terms of one query text (stemmed, stop words removed), in order, with repeats."""
        bm25s = _import_bm25s()
        out = bm25s.tokenize([text], lower=self.lower, token_pattern=_TOKEN_PATTERN,
                             stopwords=list(self.stopwords), stemmer=self._stem_fn(), return_ids=False,
                             show_progress=False)
        return list(out[0]) if out else []

    def key(self) -> tuple:
        """Hashable identity for the cache."""
        return (self.lower, self.stopwords, self.stemmer)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (a callable stemmer shows as its name)."""
        st = self.stemmer if (self.stemmer is None or isinstance(self.stemmer, str)) else (
            f"<callable {getattr(self.stemmer, '__name__', type(self.stemmer).__name__)}>")
        return {"lower": self.lower, "stopwords": len(self.stopwords), "stemmer": st}


_SNOWBALL: dict[str, Any] = {}


def _stemmer_names() -> list[str]:
    try:
        import Stemmer
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError.for_extra("Stemming for keyword search", "keyword", module="Stemmer") from exc
    return list(Stemmer.algorithms())


def _snowball(lang: str) -> Any:
    st = _SNOWBALL.get(lang)
    if st is None:
        import Stemmer

        st = _SNOWBALL[lang] = Stemmer.Stemmer(lang)
    return st


def _stopword_tuple(stopwords: Any, lower: bool) -> tuple[str, ...]:
    if stopwords is None or stopwords is False:
        return ()
    if isinstance(stopwords, str):
        from bm25s.tokenization import _infer_stopwords

        try:
            words = _infer_stopwords(stopwords.strip().lower())
        except ValueError:
            raise InvalidInputError(
                f"Unknown stop-word list {stopwords!r}; use 'english' (Lucene's), 'english_plus', a language "
                "such as 'german' or 'french', a list of words, or None."
            ) from None
        return tuple(sorted(set(words)))
    if isinstance(stopwords, (list, tuple, set, frozenset, pd.Index, np.ndarray)):
        words = list(stopwords)
        bad = [w for w in words if not isinstance(w, str)]
        if bad:
            raise InvalidInputError(f"stopwords must be strings; got {bad[:3]!r}.")
        return tuple(sorted({w.lower() if lower else w for w in words}))
    raise InvalidInputError(
        f"stopwords must be a list name such as 'english', a list of words, or None; got {type(stopwords).__name__}."
    )


# ====================================================================== BM25 index
@dataclass(frozen=True)
class _BM25Params:
    k1: float
    b: float
    method: str


def _bm25_params(k1: Any, b: Any, method: Any) -> _BM25Params:
    for name, v in (("k1", k1), ("b", b)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v) or v < 0:
            raise InvalidInputError(f"BM25 {name} must be a finite number >= 0, got {v!r}.")
    if b > 1:
        raise InvalidInputError(f"BM25 b must be in [0, 1] (length normalisation), got {b!r}.")
    if method not in BM25_METHODS:
        raise InvalidInputError(f"Unknown BM25 method {method!r}; use one of {', '.join(BM25_METHODS)}.")
    return _BM25Params(float(k1), float(b), str(method))


class BM25:
    """A BM25 index over a list of texts (documents are positions ``0 .. n-1``).

    Parameters
    ----------
    texts : sequence of str, length n
    analyzer : Analyzer, optional
        Tokenisation (default: lower-case, English stop words, English Snowball stemmer).
    k1, b, method
        BM25 parameters (bm25s's defaults: 1.5, 0.75, ``"lucene"``).
    progress : bool
        Show bm25s's progress bars while building.
    """

    def __init__(self, texts: Sequence[str], analyzer: Analyzer | None = None, *, k1: float = 1.5, b: float = 0.75,
                 method: str = "lucene", progress: bool = False):
        bm25s = _import_bm25s()
        self.analyzer = analyzer or Analyzer.make()
        self.params = _bm25_params(k1, b, method)
        self.n = len(texts)
        tok = self.analyzer.tokenize(texts, progress=progress)
        ret = bm25s.BM25(k1=self.params.k1, b=self.params.b, method=self.params.method, backend="numpy")
        if self.n:
            ret.index(tok, show_progress=progress)
        self._ret = ret

    def term_ids(self, text: str) -> np.ndarray:
        """Vocabulary ids of the query's terms that occur in the corpus (repeats kept)."""
        if not self.n:
            return np.empty(0, dtype=np.int32)
        ids = self._ret.get_tokens_ids(self.analyzer.terms(text))
        vocab = self._ret.vocab_dict
        empty = vocab.get("")
        return np.asarray([i for i in ids if i != empty], dtype=np.int32)

    def scores(self, text: str) -> np.ndarray:
        """BM25 score of every document for ``text``, shape (n,), float32 (0: no term matches)."""
        ids = self.term_ids(text)
        if len(ids) == 0:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self._ret.get_scores_from_ids(ids), dtype=np.float32)

    def top(self, text: str, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` matching documents.

        Parameters
        ----------
        mask : ndarray (n,) bool, optional
            Documents allowed (a ``where`` filter).

        Returns
        -------
        pos : ndarray (m,) int64, m <= k
            Positions, best first (ties: lower position first); only documents scoring > 0.
        scores : ndarray (m,) float64
        """
        s = self.scores(text)
        if mask is not None:
            s = np.where(mask, s, np.float32(0))
        cand = np.flatnonzero(s > 0)
        if len(cand) > k:
            part = np.argpartition(-s[cand], k - 1)[:k]
            kth = s[cand[part]].min()
            cand = cand[s[cand] >= kth]  # keep every tie of the k-th score, then sort
        order = np.lexsort((cand, -s[cand]))[:k]
        pos = cand[order].astype(np.int64)
        return pos, s[pos].astype(np.float64)

    def __repr__(self) -> str:
        return (f"<BM25 {self.n} docs, {len(self._ret.vocab_dict) if self.n else 0} terms, "
                f"method={self.params.method} k1={self.params.k1} b={self.params.b}, {self.analyzer.describe()}>")


# ---------------------------------------------------------------------- cache
_CACHE: OrderedDict = OrderedDict()      # (content key, analyzer key, params) -> BM25
_IDENTITY: OrderedDict = OrderedDict()   # id(arrow array) -> (array, content key)
_LOCK = threading.RLock()
_STATS = {"hits": 0, "misses": 0}


def clear_cache() -> None:
    """Forget every cached BM25 index."""
    with _LOCK:
        _CACHE.clear()
        _IDENTITY.clear()
        _STATS.update(hits=0, misses=0)


def cache_info() -> dict[str, Any]:
    """``{"size", "max_size", "hits", "misses", "entries": [(n_docs, analyzer, params)]}``."""
    with _LOCK:
        return {"size": len(_CACHE), "max_size": CACHE_SIZE, **_STATS,
                "entries": [(m.n, m.analyzer.describe(), m.params.__dict__) for m in _CACHE.values()]}


def _arrow_strings(col: pd.Series) -> Any:
    """The immutable pyarrow ChunkedArray behind an Arrow-backed string column, else None."""
    arr = col.array
    if not hasattr(arr, "__arrow_array__") or not isinstance(col.dtype, (pd.StringDtype, pd.ArrowDtype)):
        return None
    if isinstance(col.dtype, pd.StringDtype) and getattr(col.dtype, "storage", None) != "pyarrow":
        return None
    try:
        import pyarrow as pa

        ca = arr.__arrow_array__()
    except (TypeError, ValueError, AttributeError, NotImplementedError):  # pragma: no cover - defensive
        return None
    if not isinstance(ca, pa.ChunkedArray) or not (pa.types.is_string(ca.type) or pa.types.is_large_string(ca.type)):
        return None
    return ca


def _content_key(texts: list[str]) -> tuple:
    h = hashlib.blake2b(digest_size=16)
    h.update(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)).tobytes())
    h.update("\x1f".join(texts).encode("utf-8", "surrogatepass"))
    return ("blake2b-128", len(texts), h.hexdigest())


def _text_column(df: pd.DataFrame, text: str) -> pd.Series:
    from vecnb._core.arrow import is_vector_dtype

    if not isinstance(text, str):
        raise InvalidInputError(f"text must be the name of a text column, got {text!r}.")
    if text not in df.columns:
        raise ColumnNotFoundError(
            f"Text column {text!r} is not in the DataFrame. Columns: {list(df.columns)[:20]}. "
            "Pass text='<column>' naming the column that holds the text to search."
        )
    col = df[text]
    if isinstance(col, pd.DataFrame):
        raise InvalidInputError(f"Several columns are named {text!r}; rename them so the text column is unique.")
    if is_vector_dtype(col.dtype):
        raise TextColumnError(f"Column {text!r} holds vectors, not text; pass the text column they were made from.")
    return col


def bm25_index(df: pd.DataFrame, text: str = "text", *, lower: bool = True, stopwords: Any = "english",
               stemmer: Any = "english", k1: float = 1.5, b: float = 0.75, method: str = "lucene") -> BM25:
    """The (cached) BM25 index of ``df[text]``; built on first use.

    See the module docstring for the cache and the tokenisation settings.
    """
    analyzer = Analyzer.make(lower=lower, stopwords=stopwords, stemmer=stemmer)
    params = _bm25_params(k1, b, method)
    col = _text_column(df, text)
    return _cached_bm25(col, text, analyzer, params)


def _cached_bm25(col: pd.Series, name: str, analyzer: Analyzer, params: _BM25Params) -> BM25:
    ca = _arrow_strings(col)
    ckey = None
    texts = None
    if ca is not None:
        with _LOCK:
            hit = _IDENTITY.get(id(ca))
            if hit is not None and hit[0] is ca:
                ckey = hit[1]
                _IDENTITY.move_to_end(id(ca))
    if ckey is None:
        from vecnb.frame.columns import text_values

        texts = text_values(col.to_frame(name=name), name, missing="empty")
        ckey = _content_key(texts)
        if ca is not None:
            with _LOCK:
                _IDENTITY[id(ca)] = (ca, ckey)
                while len(_IDENTITY) > 2 * CACHE_SIZE:
                    _IDENTITY.popitem(last=False)
    key = (ckey, analyzer.key(), params)
    with _LOCK:
        model = _CACHE.get(key)
        if model is not None:
            _CACHE.move_to_end(key)
            _STATS["hits"] += 1
            return model
        _STATS["misses"] += 1
    if texts is None:
        from vecnb.frame.columns import text_values

        texts = text_values(col.to_frame(name=name), name, missing="empty")
    model = BM25(texts, analyzer, k1=params.k1, b=params.b, method=params.method, progress=len(texts) >= 50_000)
    with _LOCK:
        _CACHE[key] = model
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        # the identity map holds references to text arrays: keep only those an index still uses
        live = {k[0] for k in _CACHE}
        for ident in [i for i, (_, ck) in _IDENTITY.items() if ck not in live]:
            del _IDENTITY[ident]
    return model


# ====================================================================== shared checks
def _query_texts(query: Any, what: str = "keyword search") -> tuple[list[str], bool]:
    """``(texts, batch)`` from a str or a list of str."""
    if isinstance(query, str):
        texts, batch = [query], False
    elif isinstance(query, (list, tuple, pd.Series, pd.Index, np.ndarray)) and len(query) > 0 and all(
            isinstance(t, str) for t in query):
        texts, batch = list(query), True
    else:
        raise InvalidInputError(
            f"{what} needs query text: a string or a non-empty list of strings, got {type(query).__name__}."
            + (" A vector cannot be matched against words; for hybrid search pass the text as query= and the "
               "vector as vector=." if not isinstance(query, (str, list, tuple)) or query else "")
        )
    if any(not t.strip() for t in texts):
        raise InvalidInputError(f"A {what} query is empty; pass some words to search for.")
    return texts, batch


def _check_fusion(fusion: Any, alpha: Any, rrf_k: Any, normalization: Any) -> tuple[str, float, float, str]:
    if not isinstance(fusion, str) or fusion.lower() not in FUSIONS:
        raise InvalidInputError(f"fusion must be one of {', '.join(map(repr, FUSIONS))}, got {fusion!r}.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)) or not (0.0 <= float(alpha) <= 1.0):
        raise InvalidInputError(
            f"alpha must be a number in [0, 1] (the weight of the vector side: 1 = vectors only, 0 = keywords "
            f"only), got {alpha!r}."
        )
    if (isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float, np.number)) or not np.isfinite(rrf_k)
            or rrf_k <= 0):
        raise InvalidInputError(f"rrf_k must be a number > 0 (RRF's rank constant, usually 60), got {rrf_k!r}.")
    if not isinstance(normalization, str) or normalization.lower() not in NORMALIZATIONS:
        raise InvalidInputError(
            f"normalization must be one of {', '.join(map(repr, NORMALIZATIONS))}, got {normalization!r}."
        )
    return fusion.lower(), float(alpha), float(rrf_k), normalization.lower()


def _check_fetch_k(fetch_k: Any, k: int) -> int:
    if isinstance(fetch_k, bool) or not isinstance(fetch_k, (int, np.integer)) or fetch_k <= 0:
        raise InvalidInputError(f"fetch_k must be a positive integer (candidates per side), got {fetch_k!r}.")
    return max(int(k), int(fetch_k))


def _stack(rows: list[dict[str, np.ndarray]], k: int, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-query 1-D arrays -> (nq, k) arrays (pos padded with -1, the rest with NaN)."""
    nq = len(rows)
    out = {"pos": np.full((nq, k), -1, dtype=np.int64)}
    for n in names:
        out[n] = np.full((nq, k), np.nan, dtype=np.float64)
    for i, r in enumerate(rows):
        m = min(k, len(r["pos"]))
        out["pos"][i, :m] = r["pos"][:m]
        for n in names:
            out[n][i, :m] = r[n][:m]
    return out


def _build(frame: pd.DataFrame, rows: list[dict[str, np.ndarray]], k: int, labels: list, batch: bool,
           threshold: float | None, extra: Sequence[str] = ()) -> pd.DataFrame:
    from vecnb.frame.results import build_hits

    st = _stack(rows, k, ("score", *extra))
    return build_hits(frame, st["pos"], st["score"], queries=labels if batch else None, threshold=threshold,
                      extra={n: st[n] for n in extra} or None)


# ====================================================================== keyword search
def keyword_search(
    df: pd.DataFrame,
    query: Any,
    text: str = "text",
    k: int = 10,
    *,
    where: dict | None = None,
    threshold: float | None = None,
    lower: bool = True,
    stopwords: Any = "english",
    stemmer: Any = "english",
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
) -> pd.DataFrame:
    """BM25 keyword search over a text column (what ``df.vec.keyword`` calls).

    Parameters
    ----------
    df : DataFrame
    query : str or list of str
        One query, or a batch (adds a ``query`` column).
    text : str
        The text column.
    k : int
        Hits per query (fewer when fewer rows contain a query term).
    where : dict, optional
        Filter on the frame's columns (:mod:`vecnb.filters`), applied after scoring.
    threshold : float, optional
        Minimum BM25 score kept.
    lower, stopwords, stemmer
        Tokenisation (module docstring).
    k1, b, method
        BM25 parameters.

    Returns
    -------
    DataFrame
        Hit rows with ``score`` (BM25) and ``rank`` (+ ``query`` for a batch), sorted by
        query then rank; ties in score go to the earlier row.
    """
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"keyword search takes a DataFrame, got {type(df).__name__}.")
    k = check_k(k)
    threshold = check_threshold(threshold)
    texts, batch = _query_texts(query)
    node = filters.parse(where)
    model = bm25_index(df, text, lower=lower, stopwords=stopwords, stemmer=stemmer, k1=k1, b=b, method=method)
    mask = filters.to_mask(node, df) if node is not None else None
    rows = []
    for t in texts:
        pos, sc = model.top(t, k, mask)
        rows.append({"pos": pos, "score": sc})
    return _build(df, rows, k, texts, batch, threshold)


# ====================================================================== fusion
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


def _dedupe(pos: np.ndarray, sc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.asarray(pos, dtype=np.int64).reshape(-1)
    sc = np.asarray(sc, dtype=np.float64).reshape(-1)
    ok = pos >= 0
    pos, sc = pos[ok], sc[ok]
    if len(np.unique(pos)) != len(pos):  # keep each row's first (best) appearance
        _, first = np.unique(pos, return_index=True)
        first.sort()
        pos, sc = pos[first], sc[first]
    return pos, sc


def fuse(
    keyword: tuple[np.ndarray, np.ndarray],
    vector: tuple[np.ndarray, np.ndarray],
    k: int,
    *,
    fusion: str = "rrf",
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
    fusion, alpha, rrf_k, normalization
        See the module docstring.

    Returns
    -------
    dict of 1-D arrays, length <= k, best first
        ``pos``, ``score`` (fused), ``keyword_rank``, ``keyword_score``, ``vector_rank``,
        ``vector_score`` (NaN where a side did not return the row).
    """
    fusion, alpha, rrf_k, normalization = _check_fusion(fusion, alpha, rrf_k, normalization)
    kp, ks = _dedupe(*keyword)
    vp, vs = _dedupe(*vector)
    cand = np.union1d(kp, vp)
    m = len(cand)
    kr_f = np.full(m, np.nan)
    ks_f = np.full(m, np.nan)
    vr_f = np.full(m, np.nan)
    vs_f = np.full(m, np.nan)
    ik = np.searchsorted(cand, kp)
    iv = np.searchsorted(cand, vp)
    kr_f[ik] = np.arange(1, len(kp) + 1)
    ks_f[ik] = ks
    vr_f[iv] = np.arange(1, len(vp) + 1)
    vs_f[iv] = vs
    if fusion == "rrf":
        wv, wk = 2.0 * alpha, 2.0 * (1.0 - alpha)
        fused = np.zeros(m)
        fused[iv] += wv / (rrf_k + vr_f[iv])
        fused[ik] += wk / (rrf_k + kr_f[ik])
    else:
        nk, miss_k = _normalise(ks, normalization)
        nv, miss_v = _normalise(vs, normalization)
        kn = np.full(m, miss_k)
        vn = np.full(m, miss_v)
        kn[ik] = nk
        vn[iv] = nv
        fused = alpha * vn + (1.0 - alpha) * kn
    best = np.fmin(kr_f, vr_f)
    order = np.lexsort((cand, best, -fused))[:k]
    return {"pos": cand[order], "score": fused[order], "keyword_rank": kr_f[order], "keyword_score": ks_f[order],
            "vector_rank": vr_f[order], "vector_score": vs_f[order]}


_HYBRID_EXTRA = ("keyword_rank", "keyword_score", "vector_rank", "vector_score")


def hybrid_search(
    df: pd.DataFrame,
    query: Any,
    text: str = "text",
    k: int = 10,
    fusion: str = "rrf",
    alpha: float = 0.5,
    *,
    rrf_k: float = DEFAULT_RRF_K,
    normalization: str = "minmax",
    fetch_k: int = DEFAULT_FETCH_K,
    where: dict | None = None,
    threshold: float | None = None,
    metric: str = "cosine",
    column: str | None = None,
    model: Any = None,
    vector: Any = None,
    lower: bool = True,
    stopwords: Any = "english",
    stemmer: Any = "english",
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
) -> pd.DataFrame:
    """Keyword (BM25) + exact vector search over a DataFrame, fused (what ``df.vec.hybrid`` calls).

    Parameters
    ----------
    df : DataFrame
        With a text column and an embedding column.
    query : str or list of str
        Query text(s): matched by BM25 and embedded with the column's model.
    text : str
        The text column for the keyword side.
    k : int
        Hits per query.
    fusion : {"rrf", "weighted"}
    alpha : float in [0, 1]
        Weight of the vector side (module docstring).
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
    metric : {"cosine", "dot", "l2"}
        Vector metric.
    column : str, optional
        Embedding column (when the frame has several).
    model : optional
        Embedder for the query when the column records none.
    vector : array (d,) or (nq, d), optional
        Query vector(s) to use instead of embedding ``query``.
    lower, stopwords, stemmer, k1, b, method
        Keyword side (module docstring).

    Returns
    -------
    DataFrame
        Hit rows with ``score`` (fused), ``keyword_rank``, ``keyword_score``, ``vector_rank``,
        ``vector_score``, ``rank`` (+ ``query`` for a batch).
    """
    from vecnb._core.arrow import column_matrix
    from vecnb.frame.columns import get_info, resolve_column
    from vecnb.search.inputs import query_matrix

    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"hybrid search takes a DataFrame, got {type(df).__name__}.")
    k = check_k(k)
    threshold = check_threshold(threshold)
    fusion, alpha, rrf_k, normalization = _check_fusion(fusion, alpha, rrf_k, normalization)
    fetch = _check_fetch_k(fetch_k, k)
    metric = metrics.resolve_metric(metric)
    texts, batch = _query_texts(query, "hybrid search")
    node = filters.parse(where)
    if len(df) == 0:
        raise InvalidInputError("The DataFrame is empty: there is nothing to search.")
    bm = bm25_index(df, text, lower=lower, stopwords=stopwords, stemmer=stemmer, k1=k1, b=b, method=method)
    col = resolve_column(df, column)
    X = column_matrix(df[col], name=col)
    metrics.check_matrix(X, metric, what=f"vectors in column {col!r}")
    if vector is not None:
        Q = metrics.as_matrix(vector, dim=X.shape[1], what="query vectors")
        if len(Q) != len(texts):
            raise InvalidInputError(f"{len(texts)} query texts but {len(Q)} query vectors; pass one vector per text.")
    else:
        Q, _, _ = query_matrix(texts if batch else texts[0], get_info(df, col), X.shape[1], model=model)
    metrics.check_vectors(Q, metric, what="query vectors")
    mask = filters.to_mask(node, df) if node is not None else None
    rows_allowed = np.flatnonzero(mask) if mask is not None else None
    vpos, vsc = metrics.topk(X, Q, fetch, metric, rows=rows_allowed)
    out = []
    for i, t in enumerate(texts):
        kp, ks = bm.top(t, fetch, mask)
        out.append(fuse((kp, ks), (vpos[i], vsc[i]), k, fusion=fusion, alpha=alpha, rrf_k=rrf_k,
                        normalization=normalization))
    return _build(df, out, k, texts, batch, threshold, _HYBRID_EXTRA)


# ====================================================================== VectorIndex
def _index_text(index: Any, text: str | None) -> str:
    frame_cols = index.frame.columns
    name = text if text is not None else (index.text if getattr(index, "text", None) else None)
    if name is None:
        if "text" in frame_cols:
            return "text"
        raise InvalidInputError(
            "This index was built without a text column, so keyword search does not know which column to "
            "match; pass text='<column>' (a column of the index's rows) or build it with df.vec.index(..., text=...)."
        )
    return name


def _keyword_side(index: Any, texts: list[str], fetch: int, node: Any, text: str, backend: str,
                  bm25_opts: dict[str, Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query (positions into index.frame, scores), best first."""
    if backend not in KEYWORD_BACKENDS:
        raise InvalidInputError(f"keyword_backend must be one of {', '.join(KEYWORD_BACKENDS)}, got {backend!r}.")
    store = index.store
    store_has = hasattr(store, "keyword") and getattr(index, "text", None) is not None and text == index.text
    if backend == "store" and not store_has:
        raise InvalidInputError(
            f"keyword_backend='store' but store {getattr(index, 'store_name', '?')!r} "
            + ("has no keyword search" if not hasattr(store, "keyword") else
               f"was not given the texts of column {text!r} (build the index with text={text!r})")
            + "; use keyword_backend='bm25' for in-process BM25 over the index's rows."
        )
    if store_has and backend in ("auto", "store"):
        ids, scores = store.keyword(texts, fetch, where=node)
        pos = index.positions_for(np.asarray(ids))
        scores = np.asarray(scores, dtype=np.float64)
        return [(pos[i], scores[i]) for i in range(len(texts))]
    frame = index.frame
    if not len(frame):
        return [(np.empty(0, np.int64), np.empty(0)) for _ in texts]
    bm = bm25_index(frame, text, **bm25_opts)
    mask = filters.to_mask(node, frame) if node is not None else None
    return [bm.top(t, fetch, mask) for t in texts]


def _bm25_opts(lower: Any, stopwords: Any, stemmer: Any, k1: Any, b: Any, method: Any) -> dict[str, Any]:
    return {"lower": lower, "stopwords": stopwords, "stemmer": stemmer, "k1": k1, "b": b, "method": method}


def keyword_search_index(
    index: Any,
    query: Any,
    text: str | None = None,
    k: int = 10,
    *,
    where: dict | None = None,
    threshold: float | None = None,
    keyword_backend: str = "auto",
    lower: bool = True,
    stopwords: Any = "english",
    stemmer: Any = "english",
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
) -> pd.DataFrame:
    """Keyword search over a :class:`vecnb.VectorIndex`'s rows.

    ``keyword_backend="auto"`` uses the store's own keyword search (SQLite FTS5, PostgreSQL
    full text, Elasticsearch ``match``) when the store has one and was given the texts of
    ``text``; otherwise BM25 in process over ``index.frame[text]`` (cached like
    :func:`keyword_search`). ``"store"`` / ``"bm25"`` force one. The tokenisation and BM25
    settings apply to the in-process side only; a store uses its own analyser.
    """
    index._check_open() if hasattr(index, "_check_open") else None
    k = check_k(k)
    threshold = check_threshold(threshold)
    texts, batch = _query_texts(query)
    node = _index_filter(index, where)
    name = _index_text(index, text)
    bm25_opts = _bm25_opts(lower, stopwords, stemmer, k1, b, method)
    sides = _keyword_side(index, texts, k, node, name, keyword_backend, bm25_opts)
    rows = []
    for pos, sc in sides:
        p, s = _dedupe(pos, sc)
        rows.append({"pos": p, "score": s})
    return _build(index.frame, rows, k, texts, batch, threshold)


def _index_filter(index: Any, where: Any) -> Any:
    node = filters.parse(where)
    if node is not None and len(index.frame):
        filters.check_fields(node, index.frame.columns, "the index's rows")
    return node


def hybrid_search_index(
    index: Any,
    query: Any,
    text: str | None = None,
    k: int = 10,
    fusion: str = "rrf",
    alpha: float = 0.5,
    *,
    rrf_k: float = DEFAULT_RRF_K,
    normalization: str = "minmax",
    fetch_k: int = DEFAULT_FETCH_K,
    where: dict | None = None,
    threshold: float | None = None,
    model: Any = None,
    vector: Any = None,
    keyword_backend: str = "auto",
    lower: bool = True,
    stopwords: Any = "english",
    stemmer: Any = "english",
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
) -> pd.DataFrame:
    """Hybrid search over a :class:`vecnb.VectorIndex` (what ``idx.hybrid`` calls).

    The vector side is the index's own search (``index.search`` with the query vectors,
    so approximate stores answer approximately); the keyword side is the store's keyword
    search or in-process BM25 (see :func:`keyword_search_index`). Fusion, parameters and
    the result shape are those of :func:`hybrid_search`; the metric is the index's.
    """
    from vecnb.search.inputs import query_matrix

    index._check_open() if hasattr(index, "_check_open") else None
    k = check_k(k)
    threshold = check_threshold(threshold)
    fusion, alpha, rrf_k, normalization = _check_fusion(fusion, alpha, rrf_k, normalization)
    fetch = _check_fetch_k(fetch_k, k)
    texts, batch = _query_texts(query, "hybrid search")
    node = _index_filter(index, where)
    name = _index_text(index, text)
    frame = index.frame
    if name not in frame.columns:
        raise ColumnNotFoundError(f"Text column {name!r} is not among the index's columns {list(frame.columns)[:20]}.")
    if vector is not None:
        Q = metrics.as_matrix(vector, dim=index.dim, what="query vectors")
        if len(Q) != len(texts):
            raise InvalidInputError(f"{len(texts)} query texts but {len(Q)} query vectors; pass one vector per text.")
    else:
        Q, _, _ = query_matrix(texts, index.info_column, index.dim, model=model)
    kw = _keyword_side(index, texts, fetch, node, name, keyword_backend,
                       _bm25_opts(lower, stopwords, stemmer, k1, b, method))
    vhits = index.search(Q, k=fetch, where=where)
    vpos_all = frame.index.get_indexer(vhits.index) if len(vhits) else np.empty(0, np.int64)
    vq = vhits["query"].to_numpy() if "query" in vhits.columns else np.zeros(len(vhits), dtype=np.int64)
    vsc_all = vhits["score"].to_numpy(dtype=np.float64)
    out = []
    for i in range(len(texts)):
        sel = vq == i
        out.append(fuse(kw[i], (vpos_all[sel], vsc_all[sel]), k, fusion=fusion, alpha=alpha, rrf_k=rrf_k,
                        normalization=normalization))
    return _build(frame, out, k, texts, batch, threshold, _HYBRID_EXTRA)


# ====================================================================== reranking
def _check_diversity(diversity: Any) -> float:
    if (isinstance(diversity, bool) or not isinstance(diversity, (int, float, np.number))
            or not (0.0 <= float(diversity) <= 1.0)):
        raise InvalidInputError(
            f"diversity must be a number in [0, 1] (0 = keep the relevance order, 1 = only avoid redundancy), "
            f"got {diversity!r}."
        )
    return float(diversity)


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
        Relevance is ``cosine(query, candidate)`` when given...
    relevance : ndarray (m,), optional
        ...else these scores, min-max normalised (e.g. the retrieval scores).

    Returns
    -------
    order : ndarray (k',) int64
        Candidate positions in MMR order.
    values : ndarray (k',) float64
        The MMR objective of each pick when it was picked.
    """
    k = check_k(k)
    lam = 1.0 - _check_diversity(diversity)
    V = metrics.as_matrix(vectors, what="candidate vectors").astype(np.float64)
    m = len(V)
    if m == 0:
        return np.empty(0, np.int64), np.empty(0)
    norms = np.linalg.norm(V, axis=1)
    norms[norms == 0] = 1.0
    U = V / norms[:, None]
    if query_vector is not None:
        q = np.asarray(query_vector, dtype=np.float64).reshape(-1)
        if q.shape[0] != V.shape[1]:
            raise InvalidInputError(f"query vector is {q.shape[0]}-d but the candidates are {V.shape[1]}-d.")
        qn = np.linalg.norm(q)
        rel = U @ (q / (qn if qn > 0 else 1.0))
    elif relevance is not None:
        r = np.asarray(relevance, dtype=np.float64).reshape(-1)
        if len(r) != m:
            raise InvalidInputError(f"{len(r)} relevance scores for {m} candidates.")
        lo, hi = np.nanmin(r), np.nanmax(r)
        rel = (r - lo) / (hi - lo) if hi > lo else np.ones(m)
    else:
        raise InvalidInputError("mmr needs the query vector or the candidates' relevance scores.")
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


def _cross_scores(fn: Callable, query: str, texts: list[str]) -> np.ndarray:
    try:
        raw = fn(query, texts)
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
    method : "mmr" or callable
        MMR over the hits' vectors, or a cross-encoder ``(query, texts) -> scores`` (higher
        is better; ties keep the earlier rank).
    k : int
    diversity : float in [0, 1]
        MMR only.
    vectors : ndarray (len(hits), d)
        MMR only: the vector of each hit row, in row order.
    query_vectors : dict, optional
        MMR only: ``{query label: vector (d,)}``; a single query's label is ``None``.
        Queries without one use their normalised retrieval scores as relevance.
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
    """
    k = check_k(k)
    if isinstance(method, str):
        if method.lower() != "mmr":
            raise InvalidInputError(f"Unknown rerank method {method!r}; use 'mmr' or pass a callable (query, texts) -> scores.")
        diversity = _check_diversity(diversity)
        if vectors is None:
            raise InvalidInputError("MMR reranking needs the hits' vectors.")
        vectors = metrics.as_matrix(vectors, what="hit vectors")
        if len(vectors) != len(hits):
            raise InvalidInputError(f"{len(vectors)} vectors for {len(hits)} hits.")
    elif not callable(method):
        raise InvalidInputError(f"rerank takes 'mmr' or a callable (query, texts) -> scores, got {method!r}.")
    else:
        if text is None or text not in hits.columns:
            raise ColumnNotFoundError(
                f"The cross-encoder needs the hits' text column; {text!r} is not among {list(hits.columns)[:20]}. "
                "Pass text='<column>' to rerank()."
            )
    if len(hits) == 0:
        out = hits.copy()
        out["rerank_score"] = np.empty(0)
        return out[[c for c in out.columns if c != "rank"] + ["rank"]]
    has_q = "query" in hits.columns
    groups = pd.factorize(hits["query"])[0] if has_q else np.zeros(len(hits), dtype=np.int64)
    take: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for g in range(groups.max() + 1):
        rows = np.flatnonzero(groups == g)
        label = hits["query"].iloc[rows[0]] if has_q else None
        if isinstance(method, str):
            qv = (query_vectors or {}).get(label)
            order, v = mmr(vectors[rows], k, diversity=diversity, query_vector=qv,
                           relevance=hits["score"].to_numpy(dtype=np.float64)[rows])
        else:
            qtext = (queries or {}).get(label, label if isinstance(label, str) else None)
            if not isinstance(qtext, str):
                raise InvalidInputError("A cross-encoder needs the query text; this query was a vector.")
            texts = hits[text].iloc[rows].fillna("").astype(str).tolist()
            s = _cross_scores(method, qtext, texts)
            order = np.lexsort((np.arange(len(rows)), -s))[:k]
            v = s[order]
        take.append(rows[order])
        vals.append(np.asarray(v, dtype=np.float64))
    sel = np.concatenate(take)
    out = hits.iloc[sel].copy()
    out["rerank_score"] = np.concatenate(vals)
    out["rank"] = np.concatenate([np.arange(1, len(t) + 1) for t in take]).astype(np.int64)
    cols = [c for c in out.columns if c not in ("rank", "query")] + ["rank"] + (["query"] if has_q else [])
    return out[cols]
