"""``vecnb.Query``: a search written down once, run anywhere, saved as plain JSON.

::

    q = vecnb.Query.similar_to("sea level rise", k=10, where={"year": {"$gte": 2000}})
    q = vecnb.Query.near_text("sea level rise", model="minilm", k=5)
    q = vecnb.Query.hybrid("sea level rise", k=10, alpha=0.5, fusion="rrf").rerank("mmr", diversity=0.3)
    q = vecnb.Query.keyword("sea level rise", k=10)
    hits = q.run(df)          # a DataFrame (through df.vec)
    hits = idx.run(q)         # a vecnb.VectorIndex (same as q.run(idx))
    vecnb.Query.from_dict(json.loads(json.dumps(q.to_dict()))) == q     # True

A Query is an immutable value (a frozen dataclass): every method returns a new Query,
equal queries compare equal and hash alike, and ``repr`` prints the Python that builds it.
It describes ONE query (a text or a vector); search a batch with ``df.vec.search``.

Kinds
-----
``similar_to(text or vector)``
    exact / index vector search; text is embedded with the model that made the vectors.
``near_text(text, model=...)``
    vector search of a text, naming the embedding model explicitly.
``hybrid(text, ...)``
    BM25 + vectors fused (:mod:`vecnb.keyword`: RRF or weighted; ``alpha`` weights the
    vector side).
``keyword(text, ...)``
    BM25 alone.

``metric=None`` (the default) means cosine on a DataFrame and the index's own metric on a
VectorIndex; a metric that differs from an index's raises.

Reranking
---------
``.rerank("mmr", diversity=0.3)`` or ``.rerank(callable)`` (a cross-encoder,
``(query, texts) -> scores``) appends a step. The search then fetches ``fetch_k`` candidates
(default ``max(5 * k, 50)``) instead of ``k``, the steps reorder them in turn, and the best
``k`` are kept. Reranked results keep the retrieval ``score``, add ``rerank_score`` and
renumber ``rank``. ``threshold`` applies to the retrieval (fused) score, before reranking.
MMR needs the rows' vectors: from the frame's embedding column, or ``store.fetch`` for a
VectorIndex.

Serialisation
-------------
:meth:`to_dict` returns plain JSON types (vectors as lists of floats) with a
``"vecnb_query"`` format version; :meth:`from_dict` validates and rebuilds it. Two things
cannot be written as JSON and make :meth:`to_dict` raise :class:`InvalidInputError`: a
rerank step that is a callable (a cross-encoder is code, not data -- re-attach it with
``.rerank(fn)`` after loading), and a ``model`` given as an object or callable instead of a
name or spec dict.
"""

from __future__ import annotations

import copy
import datetime as _dt
import html
import json
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import filters, metrics
from vecnb._core.validation import positive_int
from vecnb.errors import InvalidInputError
from vecnb.search.inputs import check_k, check_threshold
from vecnb.search.targets import KEYWORD_BACKENDS, as_target

__all__ = ["FORMAT_VERSION", "Query", "Rerank"]

FORMAT_VERSION = 1
KINDS = ("similar_to", "near_text", "hybrid", "keyword")


def _jsonable(value: Any, what: str) -> Any:
    """Plain-JSON copy of ``value`` (tuples / sets -> lists, numpy scalars -> Python, dates /
    datetimes -> ``{"$date": ISO}``, the form :func:`vecnb.filters.parse` reads back)."""
    if isinstance(value, (np.datetime64, _dt.date)):
        ts = pd.Timestamp(value)
        if ts is pd.NaT:
            raise InvalidInputError(f"{what}: NaT cannot be written as JSON.")
        return {"$date": ts.isoformat()}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise InvalidInputError(f"{what}: {value!r} cannot be written as JSON.")
        return value
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{what}: keys must be strings, got {key!r}.")
            out[key] = _jsonable(v, what)
        return out
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v, what) for v in value)
    if isinstance(value, (list, tuple, np.ndarray, pd.Index)):
        return [_jsonable(v, what) for v in value]
    raise InvalidInputError(f"{what}: a {type(value).__name__} cannot be written as JSON.")


def _opt_int(name: str, v: Any) -> int | None:
    if v is None:
        return None
    return positive_int(v, name)


def _short(v: Any) -> str:
    """``repr(v)`` cut to a readable length (a list of 30 queries shows its first few)."""
    r = reprlib.Repr()
    r.maxlist = r.maxtuple = 3
    r.maxstring = r.maxother = 80
    return r.repr(v)


def _text(v: Any, what: str) -> str:
    if not isinstance(v, str) or not v.strip():
        batch = isinstance(v, (list, tuple, pd.Series, np.ndarray)) and len(v) > 1
        raise InvalidInputError(
            f"{what} needs a non-empty query text, got {_short(v)}."
            + (f" A Query describes one query; build one per text ([{what}(t) for t in texts]) or search the "
               f"batch of {len(v)} with df.vec.search / keyword / hybrid." if batch else "")
        )
    return v


def _fmt_vector(v: tuple[float, ...]) -> str:
    head = ", ".join(f"{x:.4g}" for x in v[:3])
    return f"[{head}, ... {len(v)} values]" if len(v) > 3 else f"[{head}]"


@dataclass(frozen=True)
class Rerank:
    """One rerank step of a :class:`Query` (built by :meth:`Query.rerank`).

    Attributes
    ----------
    method : str
        ``"mmr"`` or ``"callable"``.
    diversity : float or None
        MMR's diversity in [0, 1].
    fetch_k : int or None
        Candidates the search fetches for reranking (first step only; default
        ``max(5 * k, 50)``).
    fn : callable or None
        The cross-encoder ``(query, texts) -> scores``.
    text : str or None
        The text column a cross-encoder reads (default: the query's / index's text column).

    Examples
    --------
    >>> q = vecnb.Query.near_text("apple pie", k=3).rerank("mmr", diversity=0.4)
    >>> q.reranks
    (Rerank(method='mmr', diversity=0.4, fetch_k=None, fn=None, text=None),)
    >>> q.reranks[0].to_dict()
    {'method': 'mmr', 'diversity': 0.4}
    >>> q.reranks[0].reranker("text")
    MMR(diversity=0.4)
    """

    method: str
    diversity: float | None = None
    fetch_k: int | None = None
    fn: Callable | None = field(default=None, compare=True)
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of this step (a callable reranker cannot be serialised: it raises)."""
        if self.fn is not None:
            name = getattr(self.fn, "__name__", type(self.fn).__name__)
            raise InvalidInputError(
                f"This query reranks with the callable {name!r}, which cannot be serialised: a cross-encoder is code, "
                "not data. Serialise the query without it (drop the .rerank(fn) step) and re-attach it after "
                "Query.from_dict(...) with .rerank(fn)."
            )
        out: dict[str, Any] = {"method": self.method}
        for key in ("diversity", "fetch_k", "text"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def reranker(self, text: str | None) -> Any:
        """The :mod:`vecnb.search.rerank` object this step runs (``text``: the default text column)."""
        from vecnb.search.rerank import MMR, CrossEncoder

        if self.method == "mmr":
            return MMR(self.diversity if self.diversity is not None else 0.3)
        return CrossEncoder(self.fn, self.text or text)

    def _code(self) -> str:
        if self.fn is not None:
            parts = [getattr(self.fn, "__name__", "<callable>")]
        else:
            parts = [repr(self.method)]
        if self.diversity is not None:
            parts.append(f"diversity={self.diversity!r}")
        if self.fetch_k is not None:
            parts.append(f"fetch_k={self.fetch_k!r}")
        if self.text is not None:
            parts.append(f"text={self.text!r}")
        return f".rerank({', '.join(parts)})"


@dataclass(frozen=True)
class Query:
    """A serialisable search: build with :meth:`similar_to`, :meth:`near_text`,
    :meth:`hybrid` or :meth:`keyword`; run with :meth:`run` (see the module docstring).

    Attributes are read-only; parameters a kind does not use are None.

    Examples
    --------
    >>> q = vecnb.Query.hybrid("apple pie", k=2).rerank("mmr", diversity=0.3)
    >>> q
    Query.hybrid('apple pie', k=2, alpha=0.5, fusion='rrf').rerank('mmr', diversity=0.3)
    >>> vecnb.Query.from_json(q.to_json()) == q
    True
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple and pear crumble"]})
    >>> df.vec.embed("text", model="hashing", progress=False).vec.index().run(q)[["text", "rank"]]
                         text  rank
    0           red apple pie     1
    2  apple and pear crumble     2
    """

    kind: str
    text: str | None = None
    vector: tuple[float, ...] | None = None
    k: int = 10
    metric: str | None = None
    where: dict | None = None
    threshold: float | None = None
    model: Any = None
    column: str | None = None
    text_column: str | None = None
    fusion: str | None = None
    alpha: float | None = None
    rrf_k: float | None = None
    normalization: str | None = None
    fetch_k: int | None = None
    keyword_backend: str | None = None
    bm25: dict | None = None
    reranks: tuple[Rerank, ...] = ()

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInputError(f"Query kind must be one of {', '.join(KINDS)}, got {self.kind!r}.")
        set_ = object.__setattr__
        set_(self, "k", check_k(self.k))
        set_(self, "threshold", check_threshold(self.threshold))
        if self.metric is not None:
            set_(self, "metric", metrics.resolve_metric(self.metric))
        if self.where is not None:
            where = _jsonable(self.where, "where")
            filters.parse(where)  # validates
            set_(self, "where", where or None)
        if self.text is not None:
            _text(self.text, f"Query.{self.kind}")
        if self.vector is not None:
            v = metrics.as_matrix(np.asarray(self.vector, dtype=np.float32) if not isinstance(self.vector, np.ndarray)
                                  else self.vector, what="query vector")
            if len(v) != 1:
                raise InvalidInputError(
                    f"A Query holds one query vector; got {len(v)}. Build one Query per vector, or search a batch "
                    "with df.vec.search(array)."
                )
            metrics.check_vectors(v, "dot", what="query vector")
            set_(self, "vector", tuple(float(x) for x in v[0]))
        if self.kind in ("near_text", "hybrid", "keyword") and self.text is None:
            raise InvalidInputError(f"Query.{self.kind} needs query text.")
        if self.kind in ("near_text", "keyword") and self.vector is not None:
            raise InvalidInputError(f"Query.{self.kind} searches by text; a vector belongs in Query.similar_to.")
        if self.kind == "similar_to" and (self.text is None) == (self.vector is None):
            raise InvalidInputError("Query.similar_to takes exactly one of a text or a vector.")
        if isinstance(self.model, dict):
            set_(self, "model", _jsonable(self.model, "model"))
        for name in ("column", "text_column"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                raise InvalidInputError(f"{name} must be a column name (str), got {v!r}.")
        if self.kind == "hybrid":
            from vecnb.search.fusion import make_fusion

            how = make_fusion(self.fusion or "rrf", 0.5 if self.alpha is None else self.alpha,
                              60 if self.rrf_k is None else self.rrf_k, self.normalization or "minmax")
            set_(self, "fusion", how.name)
            set_(self, "alpha", how.alpha)
            set_(self, "rrf_k", float(60 if self.rrf_k is None else self.rrf_k))
            set_(self, "normalization", (self.normalization or "minmax").strip().lower())
        set_(self, "fetch_k", _opt_int("fetch_k", self.fetch_k))
        if self.keyword_backend is not None:
            if not isinstance(self.keyword_backend, str) or self.keyword_backend.lower() not in KEYWORD_BACKENDS:
                raise InvalidInputError(
                    f"keyword_backend must be one of {', '.join(KEYWORD_BACKENDS)}, got {self.keyword_backend!r}."
                )
            set_(self, "keyword_backend", self.keyword_backend.lower())
        if self.bm25 is not None:
            set_(self, "bm25", _non_default(self.bm25))
        if not isinstance(self.reranks, tuple) or not all(isinstance(r, Rerank) for r in self.reranks):
            raise InvalidInputError("reranks must be a tuple of Rerank steps; use Query.rerank(...).")

    def __hash__(self) -> int:
        def key(v: Any) -> Any:
            if isinstance(v, dict):
                return json.dumps(v, sort_keys=True, default=repr)
            if isinstance(v, tuple):
                return tuple(key(x) for x in v)
            if isinstance(v, Rerank):
                return (v.method, v.diversity, v.fetch_k, id(v.fn) if v.fn is not None else None, v.text)
            try:
                hash(v)
                return v
            except TypeError:
                return id(v)

        return hash(tuple(key(getattr(self, f)) for f in self.__dataclass_fields__))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def similar_to(cls, vec_or_text: Any, k: int = 10, metric: str | None = None, where: dict | None = None,
                   threshold: float | None = None, *, column: str | None = None, model: Any = None) -> Query:
        """Vector search for a text (embedded with the vectors' model) or a vector (d,).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart"]}).vec.embed("text", model="hashing", progress=False)
        >>> vecnb.Query.similar_to("apple", k=1).run(df)[["text", "rank"]]
                    text  rank
        0  red apple pie     1
        >>> vecnb.Query.similar_to(df.vec.matrix()[1], k=1).run(df)[["text", "rank"]]
                      text  rank
        1  green pear tart     1
        """
        if isinstance(vec_or_text, str):
            return cls("similar_to", text=vec_or_text, k=k, metric=metric, where=where, threshold=threshold,
                       column=column, model=model)
        if vec_or_text is None:
            raise InvalidInputError("Query.similar_to needs a text or a vector.")
        return cls("similar_to", vector=vec_or_text, k=k, metric=metric, where=where, threshold=threshold,
                   column=column, model=model)

    @classmethod
    def near_text(cls, text: str, model: Any = None, k: int = 10, metric: str | None = None,
                  where: dict | None = None, threshold: float | None = None, *, column: str | None = None) -> Query:
        """Vector search for ``text`` embedded with ``model`` (default: the vectors' own model).

        Examples
        --------
        >>> q = vecnb.Query.near_text("apple pie", model="hashing", k=3, where={"year": {"$gte": 2000}})
        >>> q.to_dict()
        {'vecnb_query': 1, 'kind': 'near_text', 'text': 'apple pie', 'k': 3, 'where': {'year': {'$gte': 2000}}, 'model': 'hashing'}
        """
        return cls("near_text", text=_text(text, "Query.near_text"), k=k, metric=metric, where=where,
                   threshold=threshold, column=column, model=model)

    @classmethod
    def hybrid(cls, text: str, k: int = 10, alpha: float = 0.5, fusion: str = "rrf", *, rrf_k: float = 60,
               normalization: str = "minmax", fetch_k: int | None = None, where: dict | None = None,
               threshold: float | None = None, text_column: str | None = None, column: str | None = None,
               model: Any = None, vector: Any = None, metric: str | None = None, keyword_backend: str | None = None,
               **bm25: Any) -> Query:
        """Keyword + vector search fused (see :func:`vecnb.keyword.hybrid_search`).

        ``bm25`` takes the keyword side's settings: ``lower``, ``stopwords``, ``stemmer``,
        ``k1``, ``b``, ``method``. ``text_column`` defaults to ``"text"`` on a DataFrame and
        to the index's text column on a VectorIndex.

        Examples
        --------
        >>> vecnb.Query.hybrid("apple pie", k=5, alpha=0.7, fusion="weighted")
        Query.hybrid('apple pie', k=5, alpha=0.7, fusion='weighted')
        """
        return cls("hybrid", text=_text(text, "Query.hybrid"), vector=vector, k=k, metric=metric, where=where,
                   threshold=threshold, model=model, column=column, text_column=text_column, fusion=fusion,
                   alpha=alpha, rrf_k=rrf_k, normalization=normalization, fetch_k=fetch_k,
                   keyword_backend=keyword_backend, bm25=_non_default(bm25))

    @classmethod
    def keyword(cls, text: str, k: int = 10, where: dict | None = None, threshold: float | None = None, *,
                text_column: str | None = None, keyword_backend: str | None = None, **bm25: Any) -> Query:
        """BM25 keyword search (see :func:`vecnb.keyword.keyword_search`)."""
        return cls("keyword", text=_text(text, "Query.keyword"), k=k, where=where, threshold=threshold,
                   text_column=text_column, keyword_backend=keyword_backend, bm25=_non_default(bm25))

    def rerank(self, method: Any = "mmr", *, diversity: float | None = None, fetch_k: int | None = None,
               text: str | None = None) -> Query:
        """A new Query with a rerank step appended.

        Parameters
        ----------
        method : "mmr" or callable
            MMR over the candidates' vectors, or a cross-encoder ``(query, texts) -> scores``
            (such a query cannot be serialised).
        diversity : float in [0, 1], optional
            MMR only (default 0.3).
        fetch_k : int, optional
            Candidates to rerank (default ``max(5 * k, 50)``).
        text : str, optional
            Cross-encoder only: the text column it reads.
        """
        from vecnb.search.rerank import check_diversity

        fetch_k = _opt_int("fetch_k", fetch_k)
        if isinstance(method, str):
            if method.strip().lower() != "mmr":
                raise InvalidInputError(
                    f"Unknown rerank method {method!r}; use 'mmr' or a callable (query, texts) -> scores."
                )
            if text is not None:
                raise InvalidInputError("text= is for a cross-encoder callable; MMR uses the vectors.")
            step = Rerank("mmr", diversity=check_diversity(0.3 if diversity is None else diversity), fetch_k=fetch_k)
        elif callable(method):
            if diversity is not None:
                raise InvalidInputError("diversity= is an MMR setting; a callable reranker takes none.")
            if text is not None and not isinstance(text, str):
                raise InvalidInputError(f"text must be a column name, got {text!r}.")
            step = Rerank("callable", fetch_k=fetch_k, fn=method, text=text)
        else:
            raise InvalidInputError(f"rerank takes 'mmr' or a callable (query, texts) -> scores, got {method!r}.")
        return replace(self, reranks=self.reranks + (step,))

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``json.dumps`` works on it); see :meth:`from_dict`.

        Raises
        ------
        InvalidInputError
            The query reranks with a callable, or names its model by an object.

        Examples
        --------
        >>> q = vecnb.Query.hybrid("apple pie", k=2)
        >>> q.to_dict()
        {'vecnb_query': 1, 'kind': 'hybrid', 'text': 'apple pie', 'k': 2, 'fusion': 'rrf', 'alpha': 0.5, 'rrf_k': 60.0, 'normalization': 'minmax'}
        >>> vecnb.Query.from_dict(q.to_dict()) == q
        True
        """
        out: dict[str, Any] = {"vecnb_query": FORMAT_VERSION, "kind": self.kind}
        for name in self.__dataclass_fields__:
            if name in ("kind", "reranks"):
                continue
            v = getattr(self, name)
            if v is None:
                continue
            if name == "vector":
                v = list(v)
            elif name == "model" and not isinstance(v, (str, dict)):
                spec = getattr(v, "spec", None)
                try:
                    v = _jsonable(spec(), "model") if callable(spec) else None
                except InvalidInputError:
                    v = None
                if v is None:
                    raise InvalidInputError(
                        f"This query's model is a {type(self.model).__name__} object, which cannot be serialised; "
                        "build the query with the model's name (e.g. model='minilm') or spec dict."
                    )
            elif name in ("where", "bm25"):
                if name == "bm25" and callable(v.get("stemmer")):
                    raise InvalidInputError(
                        "This query stems with a callable, which cannot be serialised; use a Snowball language name."
                    )
                v = copy.deepcopy(v)
            out[name] = v
        if self.reranks:
            out["rerank"] = [r.to_dict() for r in self.reranks]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Query:
        """Rebuild a Query from :meth:`to_dict`'s output (validated).

        Examples
        --------
        >>> vecnb.Query.from_dict({"vecnb_query": 1, "kind": "keyword", "text": "apple", "k": 3})
        Query.keyword('apple', k=3)
        >>> vecnb.Query.from_dict({"kind": "nearest"})
        Traceback (most recent call last):
        ...
        vecnb.errors.InvalidInputError: This dict is not a vecnb query (no 'vecnb_query' key); make it with ...
        """
        if not isinstance(d, dict):
            raise InvalidInputError(f"Query.from_dict takes a dict, got {type(d).__name__}.")
        version = d.get("vecnb_query")
        if version is None:
            raise InvalidInputError("This dict is not a vecnb query (no 'vecnb_query' key); make it with Query.to_dict().")
        if version != FORMAT_VERSION:
            raise InvalidInputError(
                f"This query was written in format version {version!r}; this vecnb reads version {FORMAT_VERSION}."
            )
        body = {key: v for key, v in d.items() if key not in ("vecnb_query", "rerank")}
        allowed = set(cls.__dataclass_fields__) - {"reranks"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise InvalidInputError(f"Unknown query fields {unknown}; known: {sorted(allowed)}.")
        if "kind" not in body:
            raise InvalidInputError("A query dict needs 'kind'.")
        q = cls(**body)
        steps = d.get("rerank") or []
        if not isinstance(steps, list):
            raise InvalidInputError("'rerank' must be a list of steps.")
        for s in steps:
            if not isinstance(s, dict) or s.get("method") != "mmr" or set(s) - {"method", "diversity", "fetch_k"}:
                raise InvalidInputError(f"Cannot read rerank step {s!r}; only MMR steps are serialisable.")
            q = q.rerank("mmr", diversity=s.get("diversity"), fetch_k=s.get("fetch_k"))
        return q

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())``."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, s: str) -> Query:
        """``Query.from_dict(json.loads(s))``."""
        return cls.from_dict(json.loads(s))

    # ------------------------------------------------------------------ display
    def _args(self) -> list[str]:
        first = _fmt_vector(self.vector) if (self.kind == "similar_to" and self.vector is not None) else repr(self.text)
        args = [first, f"k={self.k!r}"]
        if self.kind == "hybrid":
            args.append(f"alpha={self.alpha!r}")
            args.append(f"fusion={self.fusion!r}")
            if self.rrf_k != 60.0:
                args.append(f"rrf_k={self.rrf_k!r}")
            if self.normalization != "minmax":
                args.append(f"normalization={self.normalization!r}")
        for name in ("metric", "where", "threshold", "model", "column", "text_column", "fetch_k", "keyword_backend"):
            v = getattr(self, name)
            if v is None:
                continue
            args.append(f"{name}={v!r}" if name != "model" or isinstance(v, (str, dict)) else
                        f"model=<{type(v).__name__}>")
        if self.kind == "hybrid" and self.vector is not None:
            args.append(f"vector={_fmt_vector(self.vector)}")
        for key, v in (self.bm25 or {}).items():
            args.append(f"{key}={v!r}")
        return args

    def __repr__(self) -> str:
        return f"Query.{self.kind}({', '.join(self._args())})" + "".join(r._code() for r in self.reranks)

    def _repr_html_(self) -> str:
        rows = [("kind", self.kind)]
        rows.append(("query", _fmt_vector(self.vector) if self.kind == "similar_to" and self.vector is not None
                     else self.text))
        for name in ("k", "metric", "where", "threshold", "model", "column", "text_column", "fusion", "alpha",
                     "rrf_k", "normalization", "fetch_k", "keyword_backend", "bm25"):
            v = getattr(self, name)
            if v is not None:
                rows.append((name, json.dumps(v) if isinstance(v, dict) else v if isinstance(v, str) else repr(v)))
        if self.kind == "hybrid" and self.vector is not None:
            rows.append(("vector", _fmt_vector(self.vector)))
        for i, r in enumerate(self.reranks, 1):
            rows.append((f"rerank {i}", r._code()[len(".rerank("):-1]))
        from vecnb._core.html import kv_table

        return kv_table("vecnb.Query", rows, note=f"<code>{html.escape(self.kind)}</code>", code=True)

    # ------------------------------------------------------------------ running
    def run(self, target: Any) -> pd.DataFrame:
        """Run on a DataFrame or a :class:`vecnb.VectorIndex` (or a :mod:`vecnb.search.targets` target).

        The first stage (vector, keyword or hybrid search) fetches the candidates; each
        rerank step reorders them (MMR by the first stage's scores, see
        :mod:`vecnb.search.rerank`); the best ``k`` are kept.

        Returns
        -------
        DataFrame
            The result shape of ``df.vec.search`` (plus the hybrid columns for a hybrid
            query and ``rerank_score`` when reranked).
        """
        if not isinstance(target, pd.DataFrame) and not (
                hasattr(target, "search") and hasattr(target, "store") and hasattr(target, "frame")):
            raise InvalidInputError(
                f"Query.run takes a DataFrame or a vecnb.VectorIndex, got {type(target).__name__}."
            )
        if not isinstance(target, pd.DataFrame) and self.metric is not None and self.metric != target.metric:
            raise InvalidInputError(
                f"This query asks for metric {self.metric!r} but the index searches by {target.metric!r}; "
                "build the query with metric=None (the index's metric) or build an index with that metric."
            )
        # MMR reads the hits' vectors; a frame whose labels repeat cannot look them up by label,
        # so its hits carry their vectors through the first stage (dropped again at the end)
        carry = (isinstance(target, pd.DataFrame) and not target.index.is_unique
                 and any(step.method == "mmr" for step in self.reranks))
        t = as_target(target, column=self.column, metric=self.metric, with_vectors=carry)
        hits = self._first_stage(t)
        text = self.text_column or (getattr(target, "text", None) if t.kind == "index" else None) or "text"
        for step in self.reranks:
            reranker = step.reranker(text)
            vectors = t.hit_vectors(hits) if step.method == "mmr" else None
            hits = reranker.rerank(hits, len(hits) or 1, vectors=vectors, queries={None: self.text})
        if carry:
            from vecnb.frame.columns import embedding_columns

            hits = hits.drop(columns=[c for c in embedding_columns(target) if c in hits.columns])
        return hits[hits["rank"] <= self.k] if self.reranks else hits

    def _candidates(self) -> int:
        if not self.reranks:
            return self.k
        first = self.reranks[0].fetch_k
        return max(self.k, first if first is not None else max(5 * self.k, 50))

    def _first_stage(self, t: Any) -> pd.DataFrame:
        from vecnb.search.fusion import DEFAULT_FETCH_K
        from vecnb.search.keyword import hybrid, keyword

        n = self._candidates()
        common = {"text": self.text_column, "where": self.where, "threshold": self.threshold, "bm25": self.bm25,
                  "keyword_backend": self.keyword_backend or "auto"}
        if self.kind == "keyword":
            return keyword(t, self.text, n, **common)
        if self.kind == "hybrid":
            return hybrid(t, self.text, n, fusion=self.fusion, alpha=self.alpha, rrf_k=self.rrf_k,
                          normalization=self.normalization, fetch_k=self.fetch_k or DEFAULT_FETCH_K, model=self.model,
                          vector=self.vector, **common)
        if t.kind == "index" and self.column is not None and self.column != getattr(t.index, "column", self.column):
            raise InvalidInputError(
                f"This query names embedding column {self.column!r} but the index holds {t.index.column!r}."
            )
        q = self.text if self.vector is None else np.asarray(self.vector, dtype=np.float32)
        return t.search(q, n, where=self.where, threshold=self.threshold, model=self.model)


def _non_default(opts: dict[str, Any]) -> dict[str, Any] | None:
    """The BM25 options (validated) that differ from the defaults, JSON-able where they can be."""
    from vecnb.search.bm25 import BM25Options

    if not isinstance(opts, dict):
        raise InvalidInputError(f"BM25 options must be a dict, got {type(opts).__name__}.")
    if not opts:
        return None
    if not callable(opts.get("stemmer")):
        opts = _jsonable(opts, "BM25 options")
    out = BM25Options.make(opts).to_dict()
    return out or None
