"""Search targets: what keyword, hybrid and reranking search *over* — a DataFrame or a VectorIndex.

Keyword, hybrid and rerank logic is written once (:mod:`vecnb.search.keyword`) against the
small interface below, the way lancedb's query builders run over a table; a target only
answers the questions that differ between a frame and an index:

================================  ===========================================  ================================
question                          :class:`FrameTarget` (``df.vec``)            :class:`IndexTarget` (``idx``)
================================  ===========================================  ================================
``rows``                          the frame                                    the index's rows (``idx.frame``)
``parse_where(where)``            parsed                                       parsed, fields checked
``text_column(text)``             ``text`` (default ``"text"``)                ``text`` or the index's text column
``keyword(texts, n, node, ...)``  cached in-process BM25                       the store's own keyword search
                                                                               when it has one, else BM25
``vector(texts, n, node, ...)``   exact top-k over the column                  the index's search (approximate
                                                                               stores answer approximately)
``hit_vectors(hits)``             the hits' embedding column                   ``store.fetch`` (MMR)
================================  ===========================================  ================================

Positions returned by a target index ``rows``. The frame target imports nothing above
:mod:`vecnb.frame`; the index target only uses the public surface of a VectorIndex
(duck-typed, so this module does not import the index layer above it).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import filters, metrics
from vecnb._core.ties import top_by_position
from vecnb.errors import ColumnNotFoundError, InvalidInputError
from vecnb.frame.columns import ATTR
from vecnb.frame.layout import cached, manager
from vecnb.frame.results import planned_hits
from vecnb.search.bm25 import BM25Options, bm25_index

__all__ = ["KEYWORD_BACKENDS", "FrameTarget", "IndexTarget", "as_target", "one_text_vector", "search_one_vector"]

KEYWORD_BACKENDS = ("auto", "store", "bm25")

Candidates = list[tuple[np.ndarray, np.ndarray]]


def _empty(n: int) -> Candidates:
    return [(np.empty(0, np.int64), np.empty(0)) for _ in range(n)]


def _check_backend(backend: Any) -> str:
    if not isinstance(backend, str) or backend.strip().lower() not in KEYWORD_BACKENDS:
        raise InvalidInputError(f"keyword_backend must be one of {', '.join(KEYWORD_BACKENDS)}, got {backend!r}.")
    return backend.strip().lower()


def _bm25_side(frame: pd.DataFrame, texts: list[str], n: int, node: Any, text: str,
               options: BM25Options) -> Candidates:
    if not len(frame):
        return _empty(len(texts))
    bm = bm25_index(frame, text, options)
    mask = filters.to_mask(node, frame) if node is not None else None
    return [bm.top(t, n, mask) for t in texts]


class FrameTarget:
    """Search over a DataFrame's rows (exact vector search over an embedding column).

    Parameters
    ----------
    df : DataFrame
    column : str, optional
        The embedding column (needed only for the vector side, and when there are several).
    metric : {"cosine", "dot", "l2"}

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"], "year": [1990, 2000, 2010]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> t = vecnb.search.targets.as_target(df)
    >>> t.check_searchable()
    >>> t.text_column(None)
    'text'
    >>> node = t.parse_where({"year": {"$gte": 2000}})
    >>> Q = t.query_vectors(["apple"])
    >>> Q.shape
    (1, 512)
    >>> t.vector(Q, 2, node)
    [(array([2, 1]), array([0.70710678, 0.        ]))]
    >>> t.keyword(["apple"], 2, None, "text", vecnb.keyword.BM25Options.make())
    [(array([2, 0]), array([0.21183263, 0.17798954]))]
    >>> hits = t.search("apple", 2)
    >>> t.hit_vectors(hits).shape
    (2, 512)
    >>> list(t.finish(hits).columns)
    ['text', 'year', 'score', 'rank']
    """

    kind = "frame"

    def __init__(self, df: pd.DataFrame, *, column: str | None = None, metric: str = "cosine",
                 what: str = "search", with_vectors: bool = False):
        if not isinstance(df, pd.DataFrame):
            raise InvalidInputError(f"{what} takes a DataFrame, got {type(df).__name__}.")
        self.rows = df
        self.column = column
        self.metric = metrics.resolve_metric(metric)
        self.with_vectors = _check_flag(with_vectors)

    @property
    def drop(self) -> tuple:
        """Columns results leave out: the embedding columns, unless ``with_vectors``."""
        if self.with_vectors:
            return ()
        from vecnb.frame.columns import embedding_columns

        return tuple(embedding_columns(self.rows))

    def finish(self, hits: pd.DataFrame) -> pd.DataFrame:
        """The final result frame: ``hits`` as they are (the frame's search already chose the columns)."""
        return hits

    def parse_where(self, where: Any) -> Any:
        """``where`` parsed into a filter tree (or None); its fields are checked when it is applied."""
        return filters.parse(where)

    def text_column(self, text: str | None) -> str:
        """The text column for keyword search: ``text``, else ``"text"``."""
        return "text" if text is None else text

    def check_searchable(self) -> None:
        """Raise when there is nothing to search (the vector side needs rows)."""
        if len(self.rows) == 0:
            raise InvalidInputError("The DataFrame is empty: there is nothing to search.")

    def keyword(self, texts: list[str], n: int, node: Any, text: str, options: BM25Options,
                backend: str = "auto") -> Candidates:
        """Per query (positions into the frame, BM25 scores), best first, at most ``n``, filtered by ``node``."""
        if _check_backend(backend) == "store":
            raise InvalidInputError("keyword_backend='store' needs a VectorIndex; a DataFrame is searched by BM25.")
        if not len(self.rows):
            from vecnb.search.bm25 import text_column

            text_column(self.rows, text)  # still say when the column is wrong
        return _bm25_side(self.rows, texts, n, node, text, options)

    def _matrix(self) -> tuple[str, np.ndarray]:
        """(embedding column, its checked matrix): derived once per column data (see checked_matrix)."""
        from vecnb.frame.columns import checked_matrix, resolve_column

        col = resolve_column(self.rows, self.column)
        self.check_searchable()
        return col, checked_matrix(self.rows, col, self.metric)

    def query_vectors(self, query: Any, *, model: Any = None, vector: Any = None, n: int | None = None) -> np.ndarray:
        """(nq, d) float32: ``vector`` when given (one per text), else ``query`` embedded with the column's model."""
        from vecnb.frame.columns import get_info
        from vecnb.search.inputs import query_matrix

        col, X = self._matrix()
        if vector is not None:
            Q = metrics.as_matrix(vector, dim=X.shape[1], what="query vectors")
            if n is not None and len(Q) != n:
                raise InvalidInputError(f"{n} query texts but {len(Q)} query vectors; pass one vector per text.")
        else:
            Q, _, _ = query_matrix(query, get_info(self.rows, col), X.shape[1], model=model)
        metrics.check_vectors(Q, self.metric, what="query vectors")
        return Q

    def vector(self, Q: np.ndarray, n: int, node: Any, where: Any = None) -> Candidates:
        """Per query row of ``Q`` (positions into the frame, scores), best first: exact search filtered by ``node``."""
        _, X = self._matrix()
        rows = np.flatnonzero(filters.to_mask(node, self.rows)) if node is not None else None
        pos, sc = metrics.topk(X, Q, n, self.metric, rows=rows)
        return [(pos[i], sc[i]) for i in range(len(Q))]

    def search(self, query: Any, k: int, *, where: Any = None, threshold: float | None = None,
               model: Any = None) -> pd.DataFrame:
        """Exact nearest-neighbour search (what ``df.vec.search`` runs); see its docstring."""
        from vecnb.frame.columns import get_info
        from vecnb.frame.results import build_hits
        from vecnb.search.inputs import check_k, check_threshold, query_matrix

        k = check_k(k)
        threshold = check_threshold(threshold)
        node = filters.parse(where)
        col, X = self._matrix()
        Q, labels, batch = query_matrix(query, get_info(self.rows, col), X.shape[1], model=model)
        Q = metrics.checked_queries(Q, self.metric, what="query vectors")
        rows = np.flatnonzero(filters.to_mask(node, self.rows)) if node is not None else None
        pos, scores = metrics.topk(X, Q, k, self.metric, rows=rows, checked=True)
        return build_hits(self.rows, pos, scores, queries=labels if batch else None, threshold=threshold,
                          drop=self.drop)

    def hit_vectors(self, hits: pd.DataFrame) -> np.ndarray:
        """The hits' vectors (len(hits), d), from the frame's embedding column."""
        col, X = self._matrix()
        if not len(hits):
            return np.empty((0, X.shape[1]), np.float32)
        if col in hits.columns:
            from vecnb._core.arrow import column_matrix

            return column_matrix(hits[col], name=col)
        return X[self.rows.index.get_indexer(hits.index)]


class _OneVector:
    """What a single-vector search of one frame layout takes from the frame, derived once.

    Kept per layout (:func:`vecnb.frame.layout.cached`: the column labels and blocks are the
    same objects) and checked on every search against what a layout does not fix: the recorded
    embedding columns in ``df.attrs`` (which column is searched, which are dropped) and the
    vector column's Arrow data (an in-place edit of the column gives it new data under the same
    block). Anything large is held weakly: the checked matrix and its norms stay in their own
    caches (:func:`vecnb.frame.columns.checked_matrix`, the norm cache), so a stale entry keeps
    no old vectors alive. ``ok`` is False when the state needs the general path (recorded with
    the same facts, so it is not derived again on every search).
    """

    __slots__ = ("ok", "names", "block", "chunked", "X", "norms", "metric", "dim", "hits")

    def __init__(self, names: tuple, block: int, chunked: Any):
        self.ok = False
        self.names = names
        self.block = block
        self.chunked = chunked  # weak reference to the vector column's Arrow data (or None)

    def fits(self, blocks: Any, names: tuple) -> bool:
        """Whether this entry describes the frame's recorded columns and vector data now."""
        if names != self.names:
            return False
        chunked = self.chunked
        if chunked is None:  # no Arrow vector data to follow: the layout and recorded columns decide
            return True
        return chunked() is getattr(blocks[self.block].values, "_pa_array", None)


def _recorded_names(df: pd.DataFrame) -> tuple:
    meta = df.attrs.get(ATTR)
    cols = meta.get("columns") if isinstance(meta, dict) else None
    return tuple(cols) if isinstance(cols, dict) else ()


def _one_vector(df: pd.DataFrame, mgr: Any, names: tuple, column: str | None, metric: str,
                with_vectors: bool) -> _OneVector:
    """A fresh :class:`_OneVector` for ``df`` (``ok`` False when the general path must answer)."""
    import weakref

    from vecnb.frame.columns import checked_matrix, embedding_columns, resolve_column
    from vecnb.frame.results import hits_plan

    entry = _OneVector(names, -1, None)
    try:
        col = resolve_column(df, column)
        loc = df.columns.get_loc(col)
        if not isinstance(loc, int) or not len(df):
            return entry
        entry.block = int(mgr.blknos[loc])
        chunked = getattr(mgr.blocks[entry.block].values, "_pa_array", None)
        if chunked is None:
            return entry
        entry.chunked = weakref.ref(chunked)
        X = checked_matrix(df, col, metric)  # raises for NaN / zero rows: the general path says so
        if X is not checked_matrix(df, col, metric) or X.flags.writeable:
            return entry  # not kept per column data (several chunks, another layout): general path
        planned = hits_plan(df, () if with_vectors else embedding_columns(df))
        if planned is None:
            return entry
        norms = metrics.norms_of(X) if metric in ("cosine", "l2") else None
        entry.X = weakref.ref(X)
        entry.norms = weakref.ref(norms) if norms is not None else None
        entry.metric, entry.dim, entry.hits = metric, X.shape[1], planned[1]
        entry.ok = True
    except Exception:  # noqa: BLE001 - whatever it is, the general path raises it with its message
        entry.ok = False
    return entry


def _new_holder(_mgr: Any) -> list:
    return [None]


def search_one_vector(df: pd.DataFrame, query: np.ndarray, k: Any, *, column: str | None = None,
                      metric: str = "cosine", with_vectors: bool = False) -> pd.DataFrame | None:
    """``df.vec.search(query, k)`` for one numeric vector (no filter, threshold or model); None when
    this path does not apply (the general :meth:`FrameTarget.search` then answers, and raises).

    A notebook asks one vector at a time over the same frame, and on a large frame the product
    pushes vecnb's code and data out of the CPU caches, so each step after it costs several times
    its warm cost. What depends on the frame (the column, its checked matrix and norms, the
    columns dropped, the result blocks' plan) is derived once per frame state (:class:`_OneVector`),
    leaving: the query check, :func:`vecnb._core.metrics.topk_one` and
    :func:`vecnb.frame.results.planned_hits`. The same rows, scores and frame as the general path
    (tested).

    Examples
    --------
    >>> df = pd.DataFrame({"t": ["a", "b", "c"]}).vec.attach(np.array([[1, 0], [0, 1], [1, 1]]), name="emb")
    >>> vecnb.search.targets.search_one_vector(df, np.array([1.0, 0.1], np.float32), 2).round(3)
       t  score  rank
    0  a  0.995     1
    2  c  0.774     2
    >>> vecnb.search.targets.search_one_vector(df, np.array([1.0, 0.1, 0.0]), 2) is None  # the general path says why
    True
    """
    if (type(k) is not int or not 0 < k <= metrics.MAX_K or query.ndim != 1 or query.dtype.kind != "f"
            or not query.size or not (column is None or type(column) is str) or type(metric) is not str):
        return None
    mgr = manager(df)
    if mgr is None:
        return None
    holder = cached(df, ("one vector", column, metric, with_vectors), _new_holder)
    names = _recorded_names(df)
    entry = holder[0]
    if entry is None or not entry.fits(mgr.blocks, names):
        try:
            resolved = metrics.resolve_metric(metric)
        except Exception:  # noqa: BLE001 - the general path raises it
            return None
        entry = holder[0] = _one_vector(df, mgr, names, column, resolved, with_vectors)
    if not entry.ok or query.shape[0] != entry.dim:
        return None
    X = entry.X()
    norms = entry.norms() if entry.norms is not None else None
    if X is None or (norms is None and entry.norms is not None):
        holder[0] = None  # evicted from their caches: derived again next time
        return None
    q = query.reshape(1, -1) if query.dtype == np.float32 and query.flags.c_contiguous else \
        metrics.as_matrix(query, what="query vectors")
    q = metrics.checked_queries(q, entry.metric, what="query vectors")
    pos, scores = metrics.topk_one(X, q, min(k, X.shape[0]), entry.metric, norms)
    return planned_hits(df, entry.hits, pos[0], scores[0])


def one_text_vector(df: pd.DataFrame, text: str, *, column: str | None = None, model: Any = None
                    ) -> np.ndarray | None:
    """One query text embedded as ``df.vec.search`` embeds it (the column's model or ``model``, through
    the query cache): a 1-D float32 vector, or None when that fails (the general path then raises
    what is wrong).

    ``df.vec.search(text)`` answers the vector by :func:`search_one_vector` (embedding streams the
    model's weights through the CPU caches, so the search after it runs cold: the frame's kept
    facts save most of that), or, when that path does not apply, by the general path given this
    vector, so a text is never embedded twice (an embedder outside the query cache would run again).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> vecnb.search.targets.one_text_vector(df, "apple").shape
    (512,)
    >>> vecnb.search.targets.one_text_vector(df, "apple", column="nope") is None  # the general path says why
    True
    """
    from vecnb.frame.columns import get_info, resolve_column
    from vecnb.search.inputs import query_matrix

    if not len(df):
        return None
    try:
        col = resolve_column(df, column)
        Q, _, batch = query_matrix(text, get_info(df, col), None, model=model)
    except Exception:  # noqa: BLE001 - the general path raises it with its message
        return None
    return Q[0] if not batch and Q.shape[0] == 1 else None


class IndexTarget:
    """Search over a :class:`vecnb.VectorIndex`'s rows through its store.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"], "year": [1990, 2000, 2010]})
    >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text")
    >>> t = vecnb.search.targets.as_target(idx, with_vectors=True)
    >>> t.check_searchable()
    >>> t.text_column(None)
    'text'
    >>> where = {"year": {"$gte": 2000}}
    >>> node = t.parse_where(where)
    >>> Q = t.query_vectors(["apple"])
    >>> t.vector(Q, 2, node, where=where)   # the index's store filters: it takes ``where`` itself
    [(array([2, 1]), array([0.70710678, 0.        ]))]
    >>> t.keyword(["apple"], 2, None, "text", vecnb.keyword.BM25Options.make())
    [(array([2, 0]), array([0.21183263, 0.17798954]))]
    >>> hits = idx.search("apple", k=2)
    >>> t.hit_vectors(hits).shape
    (2, 512)
    >>> list(t.finish(hits).columns)
    ['text', 'year', 'text_vec', 'score', 'rank']
    >>> list(t.search("apple", 2).columns)
    ['text', 'year', 'text_vec', 'score', 'rank']
    """

    kind = "index"

    drop = ()

    def __init__(self, index: Any, *, with_vectors: bool = False):
        if hasattr(index, "_check_open"):
            index._check_open()
        self.index = index
        self.rows = index.frame
        self.metric = index.metric
        self.with_vectors = _check_flag(with_vectors)

    def finish(self, hits: pd.DataFrame) -> pd.DataFrame:
        """``hits`` with the embedding column fetched from the store when ``with_vectors``."""
        return add_vectors(self.index, hits) if self.with_vectors else hits

    def parse_where(self, where: Any) -> Any:
        """``where`` parsed and checked against the fields the index's rows carry (a filter tree, or None)."""
        node = filters.parse(where)
        if node is not None and len(self.rows):
            filters.check_fields(node, self.rows.columns, "the index's rows")
            check = getattr(self.index, "_check_where_stored", None)
            if check is not None:  # columns kept in the rows but not in the store: refused, not matched by none
                check(node)
        return filters.prepare(node, self.rows)  # the same type rules as df.vec (see vecnb.filters)

    def text_column(self, text: str | None) -> str:
        """The text column for keyword search: ``text``, else the one the index was built with."""
        own = getattr(self.index, "text", None)
        name = text if text is not None else own
        if name is None:
            if "text" in self.rows.columns:
                return "text"
            raise InvalidInputError(
                "This index was built without a text column, so keyword search does not know which column to "
                "match; pass text='<column>' (a column of the index's rows) or build it with "
                "df.vec.index(..., text=...)."
            )
        if len(self.rows) and name not in self.rows.columns:
            raise ColumnNotFoundError(
                f"Text column {name!r} is not among the index's columns {list(self.rows.columns)[:20]}.")
        return name

    def check_searchable(self) -> None:
        """Raise when the index is closed."""
        return None

    def _store_keyword(self, text: str) -> bool:
        from vecnb.stores.base import supports

        return supports(self.index.store, "keyword") and getattr(self.index, "text", None) == text

    def keyword(self, texts: list[str], n: int, node: Any, text: str, options: BM25Options,
                backend: str = "auto") -> Candidates:
        """Per query (positions into ``rows``, scores), best first; see :func:`vecnb.keyword.keyword_search_index`."""
        backend = _check_backend(backend)
        store = self.index.store
        use_store = self._store_keyword(text)
        if backend == "store" and not use_store:
            from vecnb.stores.base import supports

            raise InvalidInputError(
                f"keyword_backend='store' but store {getattr(self.index, 'store_name', '?')!r} "
                + ("has no keyword search" if not supports(store, "keyword") else
                   f"was not given the texts of column {text!r} (build the index with text={text!r})")
                + "; use keyword_backend='bm25' for in-process BM25 over the index's rows."
            )
        if use_store and backend in ("auto", "store"):
            n = min(n, max(len(self.index), 1))  # no more candidates than rows: a huge k allocates nothing
            _, pos, scores = top_by_position(lambda m: store.keyword(texts, m, where=node), n, len(self.rows),
                                             self.index.positions_for)  # ties: the lower position, as BM25
            return [(pos[i][pos[i] >= 0], scores[i][pos[i] >= 0]) for i in range(len(texts))]
        return _bm25_side(self.rows, texts, n, node, text, options)

    def query_vectors(self, query: Any, *, model: Any = None, vector: Any = None, n: int | None = None) -> np.ndarray:
        """(nq, d) float32: ``vector`` when given (one per text), else ``query`` embedded with the index's model."""
        from vecnb.search.inputs import query_matrix

        if vector is not None:
            Q = metrics.as_matrix(vector, dim=self.index.dim, what="query vectors")
            if n is not None and len(Q) != n:
                raise InvalidInputError(f"{n} query texts but {len(Q)} query vectors; pass one vector per text.")
            return Q
        Q, _, _ = query_matrix(query, self.index.info_column, self.index.dim, model=model)
        return Q

    def vector(self, Q: np.ndarray, n: int, node: Any, where: Any = None) -> Candidates:
        """Per query row of ``Q`` (positions into the index's rows, scores), best first, through the store (``where`` filters there)."""
        hits = self.index.search(Q, k=n, where=where)
        pos = self.rows.index.get_indexer(hits.index) if len(hits) else np.empty(0, np.int64)
        q = hits["query"].to_numpy() if "query" in hits.columns else np.zeros(len(hits), dtype=np.int64)
        sc = hits["score"].to_numpy(dtype=np.float64)
        return [(pos[q == i], sc[q == i]) for i in range(len(Q))]

    def search(self, query: Any, k: int, *, where: Any = None, threshold: float | None = None,
               model: Any = None) -> pd.DataFrame:
        """The index's own search (``idx.search``)."""
        return self.index.search(query, k=k, where=where, threshold=threshold, model=model,
                                 with_vectors=self.with_vectors)

    def hit_vectors(self, hits: pd.DataFrame) -> np.ndarray:
        """The hits' vectors (len(hits), d), fetched from the store (MMR needs them)."""
        from vecnb.stores.base import supports

        store = self.index.store
        if not supports(store, "fetch"):
            raise InvalidInputError(
                f"MMR needs the candidates' vectors but store {getattr(self.index, 'store_name', '?')!r} cannot "
                "return them (no fetch); rerank with a DataFrame target or another store."
            )
        if not len(hits):
            return np.empty((0, self.index.dim), np.float32)
        V, found = store.fetch(self.index.keys_for(hits.index))
        if not np.all(found):
            raise InvalidInputError("The store did not return the vectors of some hits; the index may be out of date.")
        return np.asarray(V, dtype=np.float32)


def _check_flag(v: Any) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise InvalidInputError(f"with_vectors must be True or False, got {v!r}.")
    return bool(v)


def add_vectors(index: Any, hits: pd.DataFrame) -> pd.DataFrame:
    """``hits`` of ``index`` with its embedding column (read back with ``store.fetch``) after the row columns."""
    from vecnb._core.arrow import vector_array

    V = IndexTarget(index).hit_vectors(hits)
    out = hits.copy(deep=False)
    first_added = next((i for i, c in enumerate(out.columns) if c == "score"), len(out.columns))
    out.insert(first_added, index.column, vector_array(V) if len(V) else vector_array(
        np.empty((0, index.dim), np.float32)))
    return out


def as_target(obj: Any, *, column: str | None = None, metric: str | None = None,
              with_vectors: bool = False) -> FrameTarget | IndexTarget:
    """A search target for a DataFrame or a VectorIndex (anything with ``search``, ``store`` and ``frame``).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart"]}).vec.embed("text", model="hashing", progress=False)
    >>> type(vecnb.search.targets.as_target(df)).__name__
    'FrameTarget'
    >>> type(vecnb.search.targets.as_target(df.vec.index())).__name__
    'IndexTarget'
    """
    if isinstance(obj, (FrameTarget, IndexTarget)):
        if _check_flag(with_vectors) and not obj.with_vectors:
            obj = copy.copy(obj)
            obj.with_vectors = True
        return obj
    if isinstance(obj, pd.DataFrame):
        return FrameTarget(obj, column=column, metric=metric or "cosine", with_vectors=with_vectors)
    if hasattr(obj, "search") and hasattr(obj, "store") and hasattr(obj, "frame"):
        return IndexTarget(obj, with_vectors=with_vectors)
    raise InvalidInputError(f"Search runs on a DataFrame or a vecnb.VectorIndex, got {type(obj).__name__}.")
