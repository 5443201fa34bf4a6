"""``df.vec``: embed, attach, search, index — validate, then delegate.

The accessor holds no state (pandas builds a new accessor object on every ``df.vec``
access): everything it knows about a column lives in ``df.attrs`` (see
:mod:`vecnb.columns`), and everything long-lived lives in explicit objects
(:class:`vecnb.VectorIndex`, embedders). Every method returns a new DataFrame; the
caller's frame is never changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import metrics
from vecnb._core.arrow import column_matrix, vector_array
from vecnb.frame.columns import ColumnInfo, embedding_columns, get_info, resolve_column, set_info, text_values
from vecnb.errors import InvalidInputError
from vecnb.search.inputs import remember_embedder

__all__ = ["VecAccessor", "text_values"]


_ONE_QUERY: list = []


def _one_query() -> Any:
    """(:func:`vecnb.search.targets.search_one_vector`, :func:`~vecnb.search.targets.one_text_vector`),
    imported on first use (``import vecnb`` stays light) and then kept (a single-query search runs
    with cold caches: each step costs)."""
    if not _ONE_QUERY:
        from vecnb.search.targets import one_text_vector, search_one_vector

        _ONE_QUERY.append((search_one_vector, one_text_vector))
    return _ONE_QUERY[0]


@pd.api.extensions.register_dataframe_accessor("vec")
class VecAccessor:
    """Vector search on a DataFrame: ``df.vec.embed / attach / search / index / keyword / hybrid``.

    ``import vecnb`` registers it; ``df.vec`` is this class bound to ``df``. It holds no state:
    every method returns a new object and leaves ``df`` unchanged.

    Examples
    --------
    >>> import pandas as pd
    >>> import vecnb
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
    ...                             "apple and pear crumble"], "year": [2001, 2005, 2010, 2012]})
    >>> emb = df.vec.embed("text", model="hashing", progress=False)
    >>> emb.vec.search("apple pie", k=2)[["text", "score", "rank"]].round(3)
                         text  score  rank
    0           red apple pie  0.816     1
    3  apple and pear crumble  0.354     2
    """

    def __init__(self, df: pd.DataFrame):
        self._df = df

    # ------------------------------------------------------------------ columns
    def columns(self) -> list[str]:
        """Names of the embedding columns of this frame.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["a b", "c d"]}).vec.embed("text", model="hashing", progress=False)
        >>> df.vec.columns()
        ['text_vec']
        """
        return embedding_columns(self._df)

    def info(self, column: str | None = None) -> dict[str, Any]:
        """What vecnb knows about an embedding column (model, dimension, source column).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["a b", "c d"]}).vec.embed("text", model="hashing", progress=False)
        >>> info = df.vec.info()
        >>> info["column"], info["dim"], info["source"], info["model"]
        ('text_vec', 512, 'text', {'name': 'hashing'})
        """
        col = resolve_column(self._df, column)
        info = get_info(self._df, col)
        info.pop("hashes", None)
        info.setdefault("dim", self.matrix(col).shape[1] if len(self._df) else None)
        return {"column": col, **info}

    def matrix(self, column: str | None = None) -> np.ndarray:
        """The (n, d) float32 matrix of an embedding column.

        A read-only view of the column's Arrow buffer (no copy) for columns vecnb made;
        a copy for columns of Python lists / arrays.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["a", "b"]}).vec.attach(np.eye(2, 3), name="emb")
        >>> X = df.vec.matrix("emb")
        >>> X.shape, X.dtype, np.shares_memory(X, df.vec.matrix("emb"))
        ((2, 3), dtype('float32'), True)
        """
        col = resolve_column(self._df, column)
        return column_matrix(self._df[col], name=col)

    # ------------------------------------------------------------------ making vectors
    def embed(
        self,
        column: str,
        model: Any = "minilm",
        *,
        name: str | None = None,
        batch_size: int = 64,
        progress: bool = True,
        cache: Any = True,
        previous: pd.DataFrame | None = None,
        missing: str = "raise",
    ) -> pd.DataFrame:
        """Embed a text column; return a NEW frame with the vectors in ``name``.

        Parameters
        ----------
        column : str
            The text column.
        model : str, dict, Embedder or callable
            ``"minilm"``, ``"wordllama"``, ``"tfidf"``, ``"hashing"``, an embedder object, or any
            callable ``list[str] -> array (n, d)``.
        name : str, optional
            Output column; default ``f"{column}_vec"``.
        batch_size, progress, cache
            Batching, a ``tqdm`` progress bar, and the on-disk cache (``True``, ``False`` or a
            directory / fsspec URL) keyed by (model id, text).
        previous : DataFrame, optional
            An earlier embedded version of this frame: rows whose label, text and model are
            unchanged reuse its vectors, so only new or edited rows are embedded.
        missing : {"raise", "empty"}
            Missing text raises (default) or is embedded as the empty string.

        Returns
        -------
        DataFrame
            A copy of the frame with an ``fixed_size_list<float32>[d]`` column ``name``; the model,
            dimension and source column are recorded in ``attrs`` for later text queries.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
        ...                             "apple and pear crumble"], "year": [2001, 2005, 2010, 2012]})
        >>> emb = df.vec.embed("text", model="hashing", progress=False)
        >>> emb.columns.tolist(), emb.vec.matrix("text_vec").shape
        (['text', 'year', 'text_vec'], (4, 512))
        >>> "text_vec" in df.columns  # the caller's frame is unchanged
        False
        """
        from vecnb.frame import hashing as sync
        from vecnb.embed import embed_texts, get_embedder

        df = self._df
        if len(df) == 0:
            raise InvalidInputError("The DataFrame is empty: there is no text to embed.")
        texts = text_values(df, column, missing=missing)
        emb = get_embedder(model)
        name = name or f"{column}_vec"
        if name == column:
            raise InvalidInputError(f"name={name!r} would overwrite the text column; choose another name.")
        reuse = sync.reusable_rows(df, texts, previous, emb.model_id, source=column, name=name)
        if reuse is None:
            X = embed_texts(emb, texts, batch_size=batch_size, progress=progress, cache=cache)
        else:
            have, vectors = reuse
            todo = np.flatnonzero(~have)
            new = embed_texts(emb, [texts[i] for i in todo], batch_size=batch_size, progress=progress,
                              cache=cache) if len(todo) else None
            X = np.empty((len(df), vectors.shape[1]), dtype=np.float32)
            X[have] = vectors
            if new is not None:
                if new.shape[1] != vectors.shape[1]:
                    new = metrics.as_matrix(new, dim=vectors.shape[1], what="new vectors")
                X[todo] = new
        X = metrics.as_matrix(X, what=f"vectors from model {emb.model_id!r}")
        metrics.check_vectors(X, "dot", what=f"vectors from model {emb.model_id!r}")
        remember_embedder(emb)
        out = df.copy(deep=False)
        out[name] = vector_array(X)
        set_info(out, name, ColumnInfo.for_model(emb, X.shape[1], column,
                                                 hashes=sync.hash_texts_encoded(out.index, texts)))
        return out

    def attach(
        self,
        X: Any,
        name: str = "emb",
        *,
        model: Any = None,
        source: str | None = None,
    ) -> pd.DataFrame:
        """Bring your own vectors: return a NEW frame with ``X`` as embedding column ``name``.

        Parameters
        ----------
        X : array (n, d), list of lists, or Series / column of vectors
            One vector per row, in row order (a Series is aligned on the index).
        model : optional
            The model that made them (name, embedder or callable), so text queries work.
        source : str, optional
            The text column they were made from (recorded for ``stale`` / ``sync``).

        Returns
        -------
        DataFrame
            A copy of the frame with the vectors as a ``fixed_size_list<float32>[d]`` column.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["east", "north", "north-east"]})
        >>> X = np.array([[1, 0], [0, 1], [0.7, 0.7]])
        >>> df = df.vec.attach(X, name="emb")
        >>> df.vec.search(np.array([1.0, 0.1]), k=2)[["text", "rank"]]
                 text  rank
        0        east     1
        2  north-east     2
        """
        df = self._df
        if isinstance(X, pd.Series):
            if not X.index.equals(df.index):
                X = X.reindex(df.index)
            M = column_matrix(X, name=str(X.name or name))
        elif isinstance(X, pd.DataFrame):
            M = metrics.as_matrix(X.to_numpy(dtype=np.float32), what="attached vectors")
        else:
            M = metrics.as_matrix(X, what="attached vectors")
            if isinstance(X, np.ndarray) and np.shares_memory(M, X):
                M = M.copy()  # the column is immutable: later writes into the caller's array must not reach it
        if M.shape[0] != len(df):
            raise InvalidInputError(
                f"attach got {M.shape[0]} vectors for a DataFrame of {len(df)} rows; pass one vector per row."
            )
        if M.shape[1] == 0:
            raise InvalidInputError("attach got vectors of dimension 0.")
        metrics.check_vectors(M, "dot", what="attached vectors")
        info = ColumnInfo(dim=int(M.shape[1]), source=source)
        if model is not None:
            from vecnb.embed import get_embedder

            emb = get_embedder(model)
            if emb.dim is not None and emb.dim != M.shape[1]:
                raise InvalidInputError(
                    f"model {emb.model_id!r} makes {emb.dim}-d vectors but X is {M.shape[1]}-d."
                )
            remember_embedder(emb)
            info.with_model(emb)
        if source is not None:
            from vecnb.frame import hashing as sync

            info.hashes = sync.hash_texts_encoded(df.index, text_values(df, source, missing="empty"))
        out = df.copy(deep=False)
        out[name] = vector_array(M)
        set_info(out, name, info)
        return out

    # ------------------------------------------------------------------ search
    def search(
        self,
        query: Any,
        k: int = 10,
        *,
        metric: str = "cosine",
        where: dict | None = None,
        threshold: float | None = None,
        column: str | None = None,
        model: Any = None,
        with_vectors: bool = False,
    ) -> pd.DataFrame:
        """Exact nearest-neighbour search over an embedding column (no index needed).

        Parameters
        ----------
        query : str, list / tuple / Series / ndarray of str, vector (d,), or array (nq, d)
            Text is embedded with the column's model. A Series' index labels become the
            ``query`` column (``vecnb.evaluate(df.vec.search(queries["text"]), qrels)``).
        k : int
            Hits per query.
        metric : {"cosine", "dot", "l2"} or an alias
        where : dict, optional
            Filter on the frame's columns (see :mod:`vecnb.filters`).
        threshold : float, optional
            Minimum score kept, inclusive (scores: higher is closer); a hit scoring within float32
            rounding below it is kept too (``vecnb.frame.results.THRESHOLD_TOLERANCE``), so every
            store keeps the rows the frame keeps although each computes scores its own way.
        column : str, optional
            The embedding column; needed only when the frame has several.
        model : optional
            The embedder for text queries, when the column records none.
        with_vectors : bool
            Keep the embedding columns in the results (by default every search drops them).

        Returns
        -------
        DataFrame
            The hit rows (original labels and columns, without embedding columns) with
            ``score`` and ``rank``, and ``query`` when a batch of queries was asked; sorted
            by query, then rank.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
        ...                             "apple and pear crumble"], "year": [2001, 2005, 2010, 2012]})
        >>> emb = df.vec.embed("text", model="hashing", progress=False)
        >>> emb.vec.search("apple", k=3, where={"year": {"$gte": 2005}})[["text", "year", "rank"]]
                             text  year  rank
        3  apple and pear crumble  2012     1
        1         green pear tart  2005     2
        2         blue summer sky  2010     3
        >>> emb.vec.search(["apple", "sky"], k=1)[["query", "text", "rank"]]
           query             text  rank
        0  apple    red apple pie     1
        2    sky  blue summer sky     1
        """
        if where is None and threshold is None and (with_vectors is False or with_vectors is True):
            one_vector, text_vector = _one_query()
            if type(query) is str:  # one text: embedded once, then answered as its vector
                vec = text_vector(self._df, query, column=column, model=model)
                if vec is not None:
                    query, model = vec, None
            if type(query) is np.ndarray and model is None:
                out = one_vector(self._df, query, k, column=column, metric=metric, with_vectors=with_vectors)
                if out is not None:  # one vector through the frame's kept facts (same answer, fewer steps)
                    return out
        from vecnb.search.targets import FrameTarget

        target = FrameTarget(self._df, column=column, metric=metric, with_vectors=with_vectors)
        return target.search(query, k, where=where, threshold=threshold, model=model)

    # ------------------------------------------------------------------ delegations
    def index(self, store: str = "numpy", *, kind: str = "auto", metric: str | None = None,
              column: str | None = None, text: str | None = None, mode: str = "error", **options: Any):
        """Build a :class:`vecnb.VectorIndex` over an embedding column in a store.

        ``options`` go to the store (e.g. ``path=`` for sqlite, ``url=`` + ``table=`` for pgvector,
        ``m=`` / ``ef_construction=`` / ``nlist=`` / ``target_recall=`` for faiss). ``metric``
        defaults to ``"cosine"``. ``mode`` says what to do when the table / file / collection
        already holds an index: ``"error"`` (default), ``"replace"`` (atomic rebuild) or
        ``"sync"`` / ``"append"`` (upsert these rows by label); see :mod:`vecnb.index.opening`.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
        ...                             "apple and pear crumble"], "year": [2001, 2005, 2010, 2012]})
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(store="numpy")
        >>> idx.search("apple pie", k=2)[["text", "rank"]]
                             text  rank
        0           red apple pie     1
        3  apple and pear crumble     2
        """
        from vecnb.index import build_index

        return build_index(self._df, store=store, kind=kind, metric=metric, column=column, text=text, mode=mode,
                           **options)

    def keyword(self, query: Any, text: str = "text", k: int = 10, *, where: dict | None = None,
                threshold: float | None = None, lower: bool = True, stopwords: Any = "english",
                stemmer: Any = "english", k1: float = 1.5, b: float = 0.75, method: str = "lucene",
                with_vectors: bool = False) -> pd.DataFrame:
        """BM25 keyword search over a text column; same result shape as :meth:`search`.

        Tokenisation (``lower``, ``stopwords``: a list name / list of words / None, ``stemmer``:
        a Snowball language / callable / None) and BM25 (``k1``, ``b``, ``method``) are
        described in :mod:`vecnb.keyword`; the BM25 index is cached by the column's content.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
        ...                             "apple and pear crumble"], "year": [2001, 2005, 2010, 2012]})
        >>> df.vec.keyword("apple pie", text="text", k=2)[["text", "rank"]]
                             text  rank
        0           red apple pie     1
        3  apple and pear crumble     2
        """
        from vecnb.search.keyword import keyword
        from vecnb.search.targets import FrameTarget

        bm25 = {"lower": lower, "stopwords": stopwords, "stemmer": stemmer, "k1": k1, "b": b, "method": method}
        target = FrameTarget(self._df, what="keyword search", with_vectors=with_vectors)
        return keyword(target, query, k, text=text, where=where, threshold=threshold, bm25=bm25)

    def hybrid(self, query: Any, text: str = "text", k: int = 10, *, fusion: str = "rrf", alpha: float = 0.5,
               rrf_k: float = 60, normalization: str = "minmax", fetch_k: int = 100, where: dict | None = None,
               threshold: float | None = None, metric: str = "cosine", column: str | None = None, model: Any = None,
               vector: Any = None, lower: bool = True, stopwords: Any = "english", stemmer: Any = "english",
               k1: float = 1.5, b: float = 0.75, method: str = "lucene", with_vectors: bool = False) -> pd.DataFrame:
        """Keyword (BM25) + vector search, fused by ``"rrf"`` or ``"weighted"``.

        ``alpha`` in [0, 1] weights the vector side; ``rrf_k`` is RRF's constant;
        ``normalization`` (``"minmax"`` / ``"zscore"``) is for ``fusion="weighted"``; each side
        contributes ``max(k, fetch_k)`` candidates; ``threshold`` applies to the fused score.
        Hits show ``keyword_rank``, ``keyword_score``, ``vector_rank``, ``vector_score``
        (NaN where a side did not return the row). See :mod:`vecnb.keyword`.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
        ...                             "apple and pear crumble"], "year": [2001, 2005, 2010, 2012]})
        >>> emb = df.vec.embed("text", model="hashing", progress=False)
        >>> emb.vec.hybrid("apple pie", text="text", k=2)[["text", "keyword_rank", "vector_rank", "rank"]]
                             text  keyword_rank  vector_rank  rank
        0           red apple pie           1.0          1.0     1
        3  apple and pear crumble           2.0          2.0     2
        """
        from vecnb.search.keyword import hybrid
        from vecnb.search.targets import FrameTarget

        bm25 = {"lower": lower, "stopwords": stopwords, "stemmer": stemmer, "k1": k1, "b": b, "method": method}
        target = FrameTarget(self._df, column=column, metric=metric, what="hybrid search", with_vectors=with_vectors)
        return hybrid(target, query, k, text=text, fusion=fusion, alpha=alpha, rrf_k=rrf_k,
                      normalization=normalization, fetch_k=fetch_k, where=where, threshold=threshold, model=model,
                      vector=vector, bm25=bm25)

    def stale(self, column: str | None = None, *, model: Any = None) -> pd.DataFrame:
        """Rows whose text changed since ``column`` was embedded (all rows if ``model`` is another model).

        Returns the rows with a ``stale_reason`` column; see :func:`vecnb.sync.stale`.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple", "pear"]}).vec.embed("text", model="hashing", progress=False)
        >>> df.loc[1, "text"] = "plum"
        >>> df.vec.stale()[["text", "stale_reason"]]
           text  stale_reason
        1  plum  text changed
        >>> len(df.vec.stale(model="tfidf"))
        2
        """
        from vecnb.frame.hashing import stale

        return stale(self._df, resolve_column(self._df, column), model=model)

    def compare_metrics(self, query: Any = "", **options: Any):
        """Widget: the top-k under cosine / dot / l2 side by side.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
        >>> w = df.vec.embed("text", model="hashing", progress=False).vec.compare_metrics("apple", k=2)
        >>> w.table[["rank_cosine", "rank_dot", "rank_l2"]]
           rank_cosine  rank_dot  rank_l2
        2            1         1        1
        0            2         2        2
        """
        from vecnb.widgets import compare_metrics

        return compare_metrics(self._df, query, **options)

    def explore(self, color: str | None = None, **options: Any):
        """Widget: an interactive 2-D map (UMAP or PCA; jupyter-scatter) with hover, lasso and search.

        See :class:`vecnb.widgets.Explorer`; ``columns=[a, b]`` draws linked maps.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"], "kind": ["pie", "tart", "pie"]})
        >>> ex = df.vec.embed("text", model="hashing", progress=False).vec.explore(color="kind", method="pca", progress=False)
        >>> list(ex.select(where={"kind": "pie"}).index)
        [0, 2]
        """
        from vecnb.widgets import explore

        return explore(self._df, color=color, **options)
