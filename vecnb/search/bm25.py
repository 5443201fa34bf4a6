"""BM25 keyword scoring: tokenisation, the BM25 index of a text column, and its cache.

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

Options (one :class:`BM25Options` object, settable per call)
------------------------------------------------------------
``lower=True``
    lower-case before splitting;
``stopwords="english"``
    ``"english"`` is Lucene's English stop list (33 words, bm25s's ``STOPWORDS_EN``); also
    ``"english_plus"`` and the language names bm25s knows (``"german"``, ``"french"``...),
    any list of words, or ``None`` for no stop words;
``stemmer="english"``
    a Snowball language name (``PyStemmer``: ``"english"``, ``"porter"``, ``"german"``...),
    ``None`` for no stemming, or any callable ``list[str] -> list[str]``;
``k1=1.5``, ``b=0.75``, ``method="lucene"``
    BM25's parameters (bm25s's defaults).

Words are ``\\b\\w\\w+\\b`` (scikit-learn's pattern: two or more word characters). A
document that contains none of the query's terms scores 0 and is never returned.

The cache
---------
The accessor holds no state, so the BM25 index of a text column is cached by *content*:
up to :data:`CACHE_SIZE` indexes, least recently used dropped first, keyed by (content hash
of the column, tokenisation, BM25 parameters). A column stored as Arrow strings (pandas'
default ``str`` dtype with pyarrow) is immutable: its array object is recognised by identity
in O(1), so repeated queries on the same frame, its shallow copies and a VectorIndex's
frame pay nothing. Other columns (object dtype) are hashed on every call (~0.1 s per
100,000 texts). The cache keeps references to the text arrays of the indexes it holds;
:func:`clear_cache` frees them all, :func:`cache_info` describes what is held.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from vecnb.errors import ColumnNotFoundError, InvalidInputError, MissingDependencyError, TextColumnError

__all__ = ["BM25", "BM25Options", "BM25_METHODS", "CACHE_SIZE", "Analyzer", "bm25_index", "cache_info",
           "clear_cache", "text_column"]

#: How many BM25 indexes the content-keyed cache keeps.
CACHE_SIZE = 8
BM25_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")

_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def _import_bm25s():
    try:
        import bm25s
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError.for_extra("Keyword search (BM25)", "keyword", module="bm25s") from exc
    return bm25s


def _number(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v) or v < 0:
        raise InvalidInputError(f"BM25 {name} must be a finite number >= 0, got {v!r}.")
    return float(v)


@dataclass(frozen=True)
class BM25Options:
    """Everything that decides BM25 scores: tokenisation and the BM25 parameters.

    One object travels from ``df.vec.keyword`` / ``hybrid``, ``VectorIndex.keyword`` /
    ``hybrid`` and :class:`vecnb.Query` to the scorer (see the module docstring for each
    setting). Build it with :meth:`make`, which validates and accepts the user's spellings
    (``method="Lucene"``, a list of stop words).

    Attributes
    ----------
    lower : bool
    stopwords : str, tuple of str or None
        A list name (``"english"``), the words themselves, or None.
    stemmer : str, callable or None
    k1, b : float
    method : str
        One of :data:`BM25_METHODS`.

    Examples
    --------
    >>> opts = vecnb.keyword.BM25Options.make(k1=1.2, stemmer=None)
    >>> opts.to_dict()
    {'stemmer': None, 'k1': 1.2}
    >>> opts.params()
    (1.2, 0.75, 'lucene')
    """

    lower: bool = True
    stopwords: Any = "english"
    stemmer: Any = "english"
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"

    @classmethod
    def make(cls, options: BM25Options | dict | None = None, **kw: Any) -> BM25Options:
        """Validated options from an options object, a dict and / or keywords (keywords win).

        Raises
        ------
        InvalidInputError
            An unknown option or a value out of range.

        Examples
        --------
        >>> vecnb.keyword.BM25Options.make({"k1": 1.2}, b=0.5).to_dict()
        {'k1': 1.2, 'b': 0.5}
        >>> vecnb.keyword.BM25Options.make(k1=-1)
        Traceback (most recent call last):
        ...
        vecnb.errors.InvalidInputError: BM25 k1 must be a finite number >= 0, got -1.
        """
        base: dict[str, Any] = {}
        if isinstance(options, BM25Options):
            base = options.to_dict(defaults=True)
        elif isinstance(options, dict):
            base = dict(options)
        elif options is not None:
            raise InvalidInputError(f"bm25 options must be a BM25Options or a dict, got {type(options).__name__}.")
        base.update(kw)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(base) - known)
        if unknown:
            raise InvalidInputError(f"Unknown keyword options {unknown}; known: {sorted(known)}.")
        full = {**{f.name: f.default for f in fields(cls)}, **base}
        sw = full["stopwords"]
        if isinstance(sw, (list, set, frozenset, pd.Index, np.ndarray)):
            full["stopwords"] = tuple(sw)
        if full["stemmer"] is False:
            full["stemmer"] = None
        if isinstance(full["stemmer"], str):
            full["stemmer"] = full["stemmer"].strip().lower()
        k1, b = _number("k1", full["k1"]), _number("b", full["b"])
        if b > 1:
            raise InvalidInputError(f"BM25 b must be in [0, 1] (length normalisation), got {full['b']!r}.")
        method = full["method"].lower() if isinstance(full["method"], str) else full["method"]
        if method not in BM25_METHODS:
            raise InvalidInputError(f"Unknown BM25 method {full['method']!r}; use one of {', '.join(BM25_METHODS)}.")
        out = cls(lower=full["lower"], stopwords=full["stopwords"], stemmer=full["stemmer"], k1=k1, b=b,
                  method=method)
        out.analyzer()  # validates lower, stop words and stemmer
        return out

    def analyzer(self) -> Analyzer:
        """The :class:`Analyzer` these options tokenise with.

        Examples
        --------
        >>> vecnb.keyword.BM25Options.make(stopwords=None).analyzer().terms("The apples")
        ['the', 'appl']
        """
        return Analyzer.make(lower=self.lower, stopwords=self.stopwords, stemmer=self.stemmer)

    def params(self) -> tuple[float, float, str]:
        """``(k1, b, method)``.

        Examples
        --------
        >>> vecnb.keyword.BM25Options.make(b=0.5).params()
        (1.5, 0.5, 'lucene')
        """
        return (self.k1, self.b, self.method)

    def to_dict(self, *, defaults: bool = False) -> dict[str, Any]:
        """The options as a dict; without ``defaults`` only those that differ from the defaults.

        Examples
        --------
        >>> vecnb.keyword.BM25Options.make(k1=2.0).to_dict()
        {'k1': 2.0}
        >>> sorted(vecnb.keyword.BM25Options.make().to_dict(defaults=True))
        ['b', 'k1', 'lower', 'method', 'stemmer', 'stopwords']
        """
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            if defaults or callable(v) or isinstance(v, list) or v != f.default:
                out[f.name] = v
        return out


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

    Examples
    --------
    >>> an = vecnb.keyword.Analyzer.make()
    >>> an.terms("The Apples and the pears")
    ['appl', 'pear']
    >>> vecnb.keyword.Analyzer.make(stemmer=None, stopwords=None).terms("The Apples")
    ['the', 'apples']
    """

    lower: bool = True
    stopwords: tuple[str, ...] = ()
    stemmer: Any = "english"

    @classmethod
    def make(cls, *, lower: bool = True, stopwords: Any = "english", stemmer: Any = "english") -> Analyzer:
        """Validate tokenisation settings (see the module docstring).

        Examples
        --------
        >>> vecnb.keyword.Analyzer.make(lower=False, stemmer=None).terms("Apple apple")
        ['Apple', 'apple']
        """
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
        """``bm25s.tokenization.Tokenized`` (ids per text + vocabulary) of a corpus.

        Examples
        --------
        >>> tok = vecnb.keyword.Analyzer.make().tokenize(["red apples", "green apple"])
        >>> len(tok.ids), sorted(tok.vocab)
        (2, ['appl', 'green', 'red'])
        """
        bm25s = _import_bm25s()
        return bm25s.tokenize(list(texts), lower=self.lower, token_pattern=_TOKEN_PATTERN,
                              stopwords=list(self.stopwords), stemmer=self._stem_fn(), return_ids=True,
                              show_progress=progress)

    def terms(self, text: str) -> list[str]:
        """The terms of one query text (stemmed, stop words removed), in order, with repeats.

        Examples
        --------
        >>> vecnb.keyword.Analyzer.make().terms("searching the searches")
        ['search', 'search']
        """
        bm25s = _import_bm25s()
        out = bm25s.tokenize([text], lower=self.lower, token_pattern=_TOKEN_PATTERN,
                             stopwords=list(self.stopwords), stemmer=self._stem_fn(), return_ids=False,
                             show_progress=False)
        return list(out[0]) if out else []

    def key(self) -> tuple:
        """Hashable identity for the cache.

        Examples
        --------
        >>> vecnb.keyword.Analyzer.make().key() == vecnb.keyword.Analyzer.make().key()
        True
        """
        return (self.lower, self.stopwords, self.stemmer)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (a callable stemmer shows as its name).

        Examples
        --------
        >>> vecnb.keyword.Analyzer.make().describe()
        {'lower': True, 'stopwords': 33, 'stemmer': 'english'}
        """
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
class BM25:
    """A BM25 index over a list of texts (documents are positions ``0 .. n-1``).

    Parameters
    ----------
    texts : sequence of str, length n
    options : BM25Options, optional
        Tokenisation and BM25 parameters (default: :class:`BM25Options` defaults).
    progress : bool
        Show bm25s's progress bars while building.

    Examples
    --------
    >>> bm = vecnb.keyword.BM25(["red apple pie", "green pear tart", "apple crumble"])
    >>> bm.top("apple", k=2)
    (array([2, 0]), array([0.21183263, 0.17798954]))
    """

    def __init__(self, texts: Sequence[str], options: BM25Options | None = None, *, progress: bool = False):
        bm25s = _import_bm25s()
        self.options = options if options is not None else BM25Options.make()
        self.analyzer = self.options.analyzer()
        self.n = len(texts)
        tok = self.analyzer.tokenize(texts, progress=progress)
        ret = bm25s.BM25(k1=self.options.k1, b=self.options.b, method=self.options.method, backend="numpy")
        #: why every query finds nothing (a corpus of stop words only), else None
        self.note = None
        if self.n and not any(t for t in getattr(tok, "vocab", {"x": 0}) if t != ""):
            self.note = (f"keyword search: the {self.n} texts hold no searchable word (only stop words, "
                         "punctuation or nothing), so every keyword query returns no rows; pass stopwords=None "
                         "to keep stop words")
            warnings.warn(self.note, UserWarning, stacklevel=3)
        elif self.n:
            ret.index(tok, show_progress=progress)
        self._ret = ret

    def term_ids(self, text: str) -> np.ndarray:
        """Vocabulary ids of the query's terms that occur in the corpus (repeats kept).

        Examples
        --------
        >>> bm = vecnb.keyword.BM25(["red apple pie", "green pear tart"])
        >>> len(bm.term_ids("apple pie banana"))
        2
        """
        if not self.n or self.note is not None:
            return np.empty(0, dtype=np.int32)
        ids = self._ret.get_tokens_ids(self.analyzer.terms(text))
        vocab = self._ret.vocab_dict
        empty = vocab.get("")
        return np.asarray([i for i in ids if i != empty], dtype=np.int32)

    def scores(self, text: str) -> np.ndarray:
        """BM25 score of every document for ``text``, shape (n,), float32 (0: no term matches).

        Examples
        --------
        >>> bm = vecnb.keyword.BM25(["red apple pie", "green pear tart", "apple crumble"])
        >>> bm.scores("apple").round(3)
        array([0.178, 0.   , 0.212], dtype=float32)
        """
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

        Examples
        --------
        >>> bm = vecnb.keyword.BM25(["red apple pie", "green pear tart", "apple crumble"])
        >>> pos, scores = bm.top("apple", k=5, mask=np.array([False, True, True]))
        >>> pos
        array([2])
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
        return (f"<BM25 {self.n} docs, {len(self._ret.vocab_dict) if self.n and self.note is None else 0} terms, "
                f"method={self.options.method} k1={self.options.k1} b={self.options.b}, {self.analyzer.describe()}>")


# ---------------------------------------------------------------------- cache
_CACHE: OrderedDict = OrderedDict()      # (content key, analyzer key, params) -> BM25
_IDENTITY: OrderedDict = OrderedDict()   # id(arrow array) -> (array, content key)
_LOCK = threading.RLock()
_STATS = {"hits": 0, "misses": 0}


def clear_cache() -> None:
    """Forget every cached BM25 index.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart"]})
    >>> _ = vecnb.keyword.bm25_index(df, "text")
    >>> vecnb.keyword.clear_cache()
    >>> vecnb.keyword.cache_info()["size"]
    0
    """
    with _LOCK:
        _CACHE.clear()
        _IDENTITY.clear()
        _STATS.update(hits=0, misses=0)


def cache_info() -> dict[str, Any]:
    """``{"size", "max_size", "hits", "misses", "entries": [(n_docs, analyzer, params)]}``.

    Examples
    --------
    >>> vecnb.keyword.clear_cache()
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart"]})
    >>> _ = vecnb.keyword.bm25_index(df, "text"); _ = vecnb.keyword.bm25_index(df, "text")
    >>> info = vecnb.keyword.cache_info()
    >>> info["size"], info["hits"], info["misses"]
    (1, 1, 1)
    """
    with _LOCK:
        return {"size": len(_CACHE), "max_size": CACHE_SIZE, **_STATS,
                "entries": [(m.n, m.analyzer.describe(), dict(zip(("k1", "b", "method"), m.options.params())))
                            for m in _CACHE.values()]}


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


def text_column(df: pd.DataFrame, text: str) -> pd.Series:
    """``df[text]``, checked to be one column of text (not vectors, not a duplicate name).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie"], "n": [3]})
    >>> text_column(df, "text").tolist()
    ['red apple pie']
    >>> text_column(df, "title")
    Traceback (most recent call last):
    ...
    vecnb.errors.ColumnNotFoundError: Text column 'title' is not in the DataFrame. Columns: ['text', 'n']. ...
    """
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


def bm25_index(df: pd.DataFrame, text: str = "text", options: BM25Options | dict | None = None, **kw: Any) -> BM25:
    """The (cached) BM25 index of ``df[text]``; built on first use.

    ``options`` / keywords: :class:`BM25Options` (``lower``, ``stopwords``, ``stemmer``, ``k1``,
    ``b``, ``method``). See the module docstring for the cache.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> bm = vecnb.keyword.bm25_index(df, "text", k1=1.2)
    >>> bm.top("pear", k=1)[0]
    array([1])
    >>> vecnb.keyword.bm25_index(df, "text", k1=1.2) is bm
    True
    """
    opts = options if isinstance(options, BM25Options) and not kw else BM25Options.make(options, **kw)
    return _cached_bm25(text_column(df, text), text, opts)


def _cached_bm25(col: pd.Series, name: str, opts: BM25Options) -> BM25:
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
    key = (ckey, opts.analyzer().key(), opts.params())
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
    model = BM25(texts, opts, progress=len(texts) >= 50_000)
    with _LOCK:
        _CACHE[key] = model
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        # the identity map holds references to text arrays: keep only those an index still uses
        live = {k[0] for k in _CACHE}
        for ident in [i for i, (_, ck) in _IDENTITY.items() if ck not in live]:
            del _IDENTITY[ident]
    return model


