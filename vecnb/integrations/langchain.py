"""A vecnb index inside LangChain: a ``VectorStore`` and a ``BaseRetriever`` over the same ``VectorIndex``.

::

    store = idx.as_langchain()                 # langchain_core.vectorstores.VectorStore
    store.similarity_search_with_score("sea level rise", k=5, filter={"year": {"$gte": 1990}})
    store.add_documents([Document(page_content="...", metadata={"year": 2001})], ids=["d1"])
    retriever = idx.as_retriever(query=vecnb.Query.hybrid("", k=5).rerank("mmr"))
    retriever.invoke("sea level rise")         # the same rows, same order, as idx.run(q with that text)

Nothing is copied: reads and writes go through the index's public methods (``search``,
``run``, ``upsert``, ``delete``), so ``idx.frame``, ``len(idx)``, ``idx.search`` and the
adapter always agree, on every store (numpy, faiss, chroma, sqlite, pgvector, elasticsearch).

Documents
---------
``page_content`` is the row's text (the index's ``text`` column; ``""`` when it has none),
``metadata`` its other columns (not vector columns, nor the columns a search adds such as ``score``
and ``rank``; missing values are left out; numpy scalars become Python ones), and ``id`` the row's
index label as a string
(LangChain ids are strings: a label ``3`` is id ``"3"``; ``get_by_ids(["3"])`` finds it).
New documents get a uuid4 id unless they carry one. Adding a document whose id the index
holds replaces that row (an upsert), as LangChain's standard tests require.

Scores
------
Scores follow **vecnb's convention, higher is closer**: cosine similarity for ``cosine``,
inner product for ``dot``, minus the Euclidean distance for ``l2`` -- the same numbers as
``idx.search``. LangChain's own stores disagree with each other here (some return distances,
lower is closer; see langchain-ai/langchain issues on ``similarity_search_with_score``), so do
not compare raw scores across stores. ``similarity_search_with_relevance_scores`` maps them
into [0, 1] (cosine: ``(1 + s) / 2``; l2: ``1 / (1 + d)``; dot: a logistic of the product).

Filters
-------
``filter=`` takes vecnb's ``where=`` dict (``{"year": {"$gte": 1990}, "lang": {"$in": ["en"]}}``,
see :mod:`vecnb.filters`) and is evaluated by the store, before the top-k (no post-filter loss).

Embeddings
----------
With ``embeddings=None`` the adapter embeds with the vecnb model recorded in the index
(wrapped as a LangChain ``Embeddings``: :class:`VecnbEmbeddings`), so queries are embedded exactly
as ``idx.search`` embeds them. Any LangChain ``Embeddings`` may be passed instead; its vectors must
have the index's dimension (and should come from the model that made the index's vectors).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core.lazy import load
from vecnb.integrations._rows import meta_columns, row_records
from vecnb.errors import DimensionMismatchError, InvalidInputError, MissingDependencyError

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.vectorstores import VectorStore
    from langchain_core.vectorstores.utils import maximal_marginal_relevance
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(
        f"The LangChain hand-off needs langchain-core ({exc}). Install it with: pip install \"vecnb[langchain]\""
    ) from None

__all__ = ["VecnbEmbeddings", "VecnbRetriever", "VecnbVectorStore", "documents_from_hits"]

DEFAULT_EMBEDDING_COLUMN = "embedding"


# --------------------------------------------------------------------------------- helpers
def documents_from_hits(hits: pd.DataFrame, text: str | None, *, results: bool = True,
                        score_key: str | None = None, score_column: str = "score",
                        meta: list | None = None) -> list[Document]:
    """LangChain ``Document`` s of search results (``results=True``) or of an index's rows.

    ``page_content`` is column ``text``, ``metadata`` the other columns (without vector columns and the
    columns a search adds: ``score``, ``rank``, ``query``, ``rerank_score`` and the hybrid ones),
    missing values left out, ``id`` the label as a string; ``score_key`` adds ``score_column`` under that key.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart"], "year": [1990, 2001]})
    >>> hits = df.vec.embed("text", model="hashing", progress=False).vec.search("apple", k=1)
    >>> documents_from_hits(hits, "text")
    [Document(id='0', metadata={'year': 1990}, page_content='red apple pie')]
    """
    texts, metas = row_records(hits, text, results=results, meta=meta)
    if score_key:
        for md, s in zip(metas, hits[score_column].tolist()):
            md[score_key] = float(s)
    return [Document(page_content=t, metadata=md, id=str(label))
            for t, md, label in zip(texts, metas, hits.index.tolist())]


class VecnbEmbeddings(Embeddings):
    """A vecnb embedder (name, spec or object) as a LangChain ``Embeddings``.

    Queries go through vecnb's query path (the same recent-query cache as ``idx.search``);
    documents through ``vecnb.embed.embed_texts`` (its on-disk cache when the model allows).

    Examples
    --------
    >>> emb = VecnbEmbeddings(model="hashing")
    >>> len(emb.embed_query("apple")), len(emb.embed_documents(["red apple", "pear"]))
    (512, 2)
    """

    def __init__(self, model: Any):
        self.embedder = load("vecnb.embed:get_embedder")(model)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors (len(texts), d) as lists of floats."""
        X = load("vecnb.embed:embed_texts")(self.embedder, list(texts), progress=False)
        return np.asarray(X, dtype=np.float32).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The vector (d,) of one query, as ``idx.search(text)`` would embed it."""
        return self._query_vector(text).tolist()

    def _query_vector(self, text: str) -> np.ndarray:
        from vecnb.search.inputs import _embed_queries

        return np.asarray(_embed_queries(self.embedder, [str(text)])[0], dtype=np.float32)

    def __repr__(self) -> str:
        return f"VecnbEmbeddings({getattr(self.embedder, 'model_id', self.embedder)!r})"


def _embeddings_for(index: Any, embeddings: Any) -> Embeddings | None:
    if embeddings is None:
        spec = index.info_column.get("model")
        return VecnbEmbeddings(spec) if spec else None
    if isinstance(embeddings, Embeddings):
        return embeddings
    if hasattr(embeddings, "embed_documents") and hasattr(embeddings, "embed_query"):
        return embeddings  # duck-typed Embeddings
    return VecnbEmbeddings(embeddings)  # a vecnb model name / spec / Embedder


# --------------------------------------------------------------------------------- the store
class VecnbVectorStore(VectorStore):
    """A LangChain ``VectorStore`` over a :class:`vecnb.VectorIndex` (see the module docstring).

    Parameters
    ----------
    index : vecnb.VectorIndex
        Any store; an empty one from ``vecnb.VectorIndex.empty(store, dim=...)`` to start from nothing.
    embeddings : langchain_core.embeddings.Embeddings, vecnb model name, or None
        ``None``: the index's recorded vecnb model (:class:`VecnbEmbeddings`).

    Examples
    --------
    An index as a LangChain vector store (``idx.as_langchain()``): LangChain's calls, vecnb's rows:

    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"], "year": [1990, 2001, 2010]},
    ...                   index=["a", "b", "c"])
    >>> store = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text").as_langchain()
    >>> [d.page_content for d in store.similarity_search("apple", k=2, filter={"year": {"$gte": 2000}})]
    ['apple crumble', 'green pear tart']
    >>> ids = store.add_texts(["apple strudel"], metadatas=[{"year": 2020}], ids=["d"])
    >>> [(d.page_content, round(s, 3)) for d, s in store.similarity_search_with_score("strudel", k=1)]
    [('apple strudel', 0.707)]
    >>> store.get_by_ids(ids)[0].page_content
    'apple strudel'
    >>> store.delete(ids)
    True
    """

    def __init__(self, index: Any, embeddings: Any = None):
        self.index = index
        self._embeddings = _embeddings_for(index, embeddings)
        self._own_model = embeddings is None and self._embeddings is not None
        self._meta_cache: dict[tuple, list] = {}

    # ------------------------------------------------------------------ properties
    @property
    def embeddings(self) -> Embeddings | None:
        """The embeddings used for documents and queries."""
        return self._embeddings

    @property
    def text_column(self) -> str | None:
        """The column that holds ``page_content``."""
        return self.index.text

    def _need_embeddings(self) -> Embeddings:
        if self._embeddings is None:
            raise InvalidInputError(
                "This index records no vecnb model (its vectors were attached), so text cannot be embedded: "
                "pass embeddings= to as_langchain(...) (a LangChain Embeddings or a vecnb model name).")
        return self._embeddings

    def _vectors(self, X: Any, what: str) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.index.dim:
            raise DimensionMismatchError(
                f"{what}: the embeddings gave vectors of shape {X.shape} but the index holds {self.index.dim}-d "
                "vectors; use the embeddings (model) that made the index.")
        return X

    def _query_vector(self, query: str) -> np.ndarray:
        emb = self._need_embeddings()
        if isinstance(emb, VecnbEmbeddings):
            return emb._query_vector(query).reshape(1, -1)
        return self._vectors([emb.embed_query(query)], "query")

    # ------------------------------------------------------------------ ids <-> labels
    def _labels(self, ids: Sequence[str], *, new: bool) -> list:
        """Index labels for LangChain ids (strings). Existing labels match by ``str(label)``; new ids
        become labels of the index's label type (an int-labelled index needs integer ids)."""
        frame_index = self.index.frame.index
        if len(frame_index) == 0 or frame_index.dtype == object or pd.api.types.is_string_dtype(frame_index.dtype):
            known = None if len(frame_index) == 0 or frame_index.inferred_type == "string" else \
                {str(x): x for x in frame_index}
        else:
            known = {str(x): x for x in frame_index}
        out = []
        for i in ids:
            if not isinstance(i, str):
                i = str(i)
            if known is None:
                out.append(i)
            elif i in known:
                out.append(known[i])
            elif not new:
                out.append(None)
            elif pd.api.types.is_integer_dtype(frame_index.dtype):
                try:
                    out.append(int(i))
                except ValueError:
                    raise InvalidInputError(
                        f"id {i!r}: this index's rows are labelled by integers, so new documents need integer ids "
                        "(as strings, e.g. '1234') or no id.") from None
            else:
                out.append(i)
        return out

    # ------------------------------------------------------------------ writes
    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *, ids: list[str] | None = None,
                  **kwargs: Any) -> list[str]:
        """Embed and upsert ``texts`` (ids given or uuid4); rows with an id the index holds are replaced."""
        texts = [str(t) for t in texts]
        if metadatas is not None and len(metadatas) != len(texts):
            raise InvalidInputError(f"add_texts got {len(texts)} texts but {len(metadatas)} metadatas.")
        if ids is not None and len(ids) != len(texts):
            raise InvalidInputError(f"add_texts got {len(texts)} texts but {len(ids)} ids.")
        if kwargs:
            raise InvalidInputError(f"add_texts: unknown options {sorted(kwargs)}.")
        if not texts:
            return []
        ids = [str(i) if i is not None else str(uuid.uuid4()) for i in (ids or [None] * len(texts))]
        X = self._vectors(self._need_embeddings().embed_documents(texts), "add_texts")
        self.index.write_rows(self._rows(texts, metadatas, ids), _last_per_id(ids, X))
        return ids

    def _rows(self, texts: list[str], metadatas: list[dict] | None, ids: list[str]) -> pd.DataFrame:
        text, column = self.index.text, self.index.column
        records = [dict(m or {}) for m in (metadatas or [None] * len(texts))]
        for m in records:
            bad = [k for k in m if k in (text, column) or not isinstance(k, str)]
            if bad:
                raise InvalidInputError(
                    f"metadata keys {bad} clash with the index's text / embedding columns ({text!r}, {column!r}) "
                    "or are not strings; rename them.")
        rows = pd.DataFrame.from_records(records, index=pd.Index(self._labels(ids, new=True), dtype=object),
                                         columns=list(dict.fromkeys(k for m in records for k in m)))
        if text is not None:
            rows.insert(0, text, texts)
        keep = ~rows.index.duplicated(keep="last")  # one batch naming an id twice: the last one wins
        rows = rows[keep]
        if len(self.index.frame) and not pd.api.types.is_object_dtype(self.index.frame.index.dtype):
            rows.index = rows.index.astype(self.index.frame.index.dtype)
        return rows

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Upsert ``documents`` (ids from ``ids=``, else each document's ``id``, else uuid4)."""
        ids = kwargs.pop("ids", None)
        if ids is None:
            ids = [d.id if d.id is not None else str(uuid.uuid4()) for d in documents]
        return self.add_texts([d.page_content for d in documents], [dict(d.metadata) for d in documents],
                              ids=list(ids), **kwargs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Remove rows by id; unknown ids are ignored. ``ids=None`` is refused (it would empty the index)."""
        if ids is None:
            raise InvalidInputError("delete needs ids; to remove every row use idx.delete(idx.frame.index).")
        if kwargs:
            raise InvalidInputError(f"delete: unknown options {sorted(kwargs)}.")
        labels = [lab for lab in self._labels(list(ids), new=False) if lab is not None]
        self.index.delete(labels)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids, in the order asked; unknown ids are left out."""
        labels = [lab for lab in self._labels(list(ids), new=False) if lab is not None]
        frame = self.index.frame
        if not labels or not len(frame):
            return []
        pos = frame.index.get_indexer(pd.Index(labels, dtype=frame.index.dtype if len(frame) else object,
                                               tupleize_cols=False))
        return documents_from_hits(frame.iloc[pos[pos >= 0]], self.index.text, results=False)

    # ------------------------------------------------------------------ search
    def _search(self, vector: np.ndarray, k: int, filter: dict | None, **kwargs: Any) -> pd.DataFrame:
        unknown = set(kwargs) - {"threshold", "score_threshold"}
        if unknown:
            raise InvalidInputError(f"unknown search options {sorted(unknown)} (vecnb takes filter= and threshold=).")
        threshold = kwargs.get("threshold", kwargs.get("score_threshold"))
        if not len(self.index):
            return pd.DataFrame({"score": pd.Series([], dtype=float)})
        return self.index.search(vector, k=k, where=filter, threshold=threshold)

    def _docs(self, hits: pd.DataFrame) -> list[Document]:
        # the metadata columns of this index's results, found once per column set (dtypes of a
        # column of one index do not change between searches; a write may add columns: new key)
        key = tuple(hits.columns)
        meta = self._meta_cache.get(key)
        if meta is None:
            meta = self._meta_cache[key] = meta_columns(hits, self.index.text, True)
        return documents_from_hits(hits, self.index.text, meta=meta)

    def similarity_search_with_score_by_vector(self, embedding: list[float], k: int = 4,
                                               filter: dict | None = None, **kwargs: Any) -> list[tuple[Document, float]]:
        """The ``k`` nearest documents to ``embedding`` with vecnb scores (higher is closer)."""
        hits = self._search(self._vectors([embedding], "query vector"), k, filter, **kwargs)
        return list(zip(self._docs(hits), hits["score"].astype(float).tolist()))

    def similarity_search_with_score(self, query: str, k: int = 4, filter: dict | None = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        """The ``k`` nearest documents to ``query`` with vecnb scores (higher is closer: see the module doc)."""
        hits = self._search(self._query_vector(query), k, filter, **kwargs)
        return list(zip(self._docs(hits), hits["score"].astype(float).tolist()))

    def similarity_search(self, query: str, k: int = 4, filter: dict | None = None, **kwargs: Any) -> list[Document]:
        """The ``k`` nearest documents to ``query``."""
        return [d for d, _ in self.similarity_search_with_score(query, k, filter=filter, **kwargs)]

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: dict | None = None,
                                    **kwargs: Any) -> list[Document]:
        """The ``k`` nearest documents to ``embedding``."""
        return [d for d, _ in self.similarity_search_with_score_by_vector(embedding, k, filter=filter, **kwargs)]

    def _select_relevance_score_fn(self) -> Any:
        metric = self.index.metric
        if metric == "cosine":
            return lambda s: (1.0 + s) / 2.0
        if metric == "l2":
            return lambda s: 1.0 / (1.0 - s)  # s = -distance
        return lambda s: 1.0 / (1.0 + math.exp(-s))

    def max_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                lambda_mult: float = 0.5, filter: dict | None = None,
                                                **kwargs: Any) -> list[Document]:
        """MMR over the ``fetch_k`` nearest rows (their vectors read back from the store)."""
        q = self._vectors([embedding], "query vector")
        if not len(self.index):
            return []
        hits = self.index.search(q, k=max(k, fetch_k), where=filter, with_vectors=True, **kwargs)
        if not len(hits):
            return []
        from vecnb._core.arrow import column_matrix

        X = column_matrix(hits[self.index.column], name=self.index.column)
        chosen = maximal_marginal_relevance(q[0], X, lambda_mult=lambda_mult, k=min(k, len(hits)))
        return self._docs(hits.iloc[chosen].drop(columns=[self.index.column]))

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter: dict | None = None, **kwargs: Any) -> list[Document]:
        """MMR (LangChain's ``maximal_marginal_relevance``) over the ``fetch_k`` nearest rows."""
        return self.max_marginal_relevance_search_by_vector(self._query_vector(query)[0].tolist(), k, fetch_k,
                                                            lambda_mult, filter=filter, **kwargs)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, *,
                   ids: list[str] | None = None, store: Any = "numpy", metric: str = "cosine",
                   **options: Any) -> VecnbVectorStore:
        """A new vecnb index (``store=``, ``metric=``, store ``options``) holding ``texts``."""
        texts = list(texts)
        emb = _embeddings_for(None, embedding) if not isinstance(embedding, Embeddings) else embedding
        X = np.asarray(emb.embed_documents(texts[:1] or ["dimension probe"]), dtype=np.float32)
        index = load("vecnb.index:VectorIndex").empty(store, dim=int(X.shape[1]), metric=metric,
                                                       column=DEFAULT_EMBEDDING_COLUMN, text="text", **options)
        out = cls(index, embeddings=emb)
        out.add_texts(texts, metadatas, ids=ids)
        return out

    def __repr__(self) -> str:
        return f"<VecnbVectorStore over {self.index!r}>"


def _last_per_id(ids: list[str], X: np.ndarray) -> np.ndarray:
    """The rows of ``X`` kept when one batch names an id twice (the last one wins)."""
    keep = ~pd.Index(ids).duplicated(keep="last")
    return X[keep]


# --------------------------------------------------------------------------------- the retriever
class VecnbRetriever(BaseRetriever):
    """A LangChain retriever that runs a saved :class:`vecnb.Query` for every question.

    The question replaces the query's text (its vector, if any, is dropped); everything else
    the query holds -- kind (vector / hybrid / keyword), ``k``, ``where`` filter, threshold,
    fusion and its weights, rerank steps such as MMR -- runs as tuned. The documents are the
    rows of ``idx.run(query)`` in the same order. When the adapter was given foreign
    ``embeddings`` the question is embedded with them and passed as the query vector.

    ``score_key``: when set, each document's metadata carries its vecnb score under that key
    (the retrieval score, or ``rerank_score`` after a rerank step).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text")
    >>> retriever = idx.as_retriever(query=vecnb.Query.hybrid("(each question)", k=2, alpha=0.7))
    >>> [d.page_content for d in retriever.invoke("apple pie")]
    ['red apple pie', 'apple crumble']
    >>> retriever.query_for("pear")
    Query.hybrid('pear', k=2, alpha=0.7, fusion='rrf')
    >>> type(VecnbRetriever.over(idx)).__name__
    'VecnbRetriever'
    """

    index: Any
    query: Any
    embeddings: Any = None
    score_key: str | None = None

    model_config = {"arbitrary_types_allowed": True}

    @classmethod
    def over(cls, index: Any, query: Any = None, embeddings: Any = None, score_key: str | None = None,
             **options: Any) -> VecnbRetriever:
        """A retriever over ``index``; ``query`` defaults to ``Query.similar_to(..., k=4)`` (options: ``k=``, ``where=``)."""
        Query = load("vecnb.search.query:Query")
        if query is None:
            query = Query(kind="similar_to", text="?", **options)
        elif options:
            raise InvalidInputError(f"as_retriever: pass options inside the Query, not {sorted(options)}.")
        if not isinstance(query, Query):
            raise InvalidInputError(f"as_retriever(query=...) takes a vecnb.Query, got {type(query).__name__}.")
        if query.kind != "keyword" and embeddings is None and not index.info_column.get("model"):
            raise InvalidInputError(
                "This index records no vecnb model, so a question cannot be embedded: pass embeddings= "
                "(a LangChain Embeddings) or use a keyword Query.")
        emb = None if embeddings is None else _embeddings_for(index, embeddings)
        return cls(index=index, query=query, embeddings=emb, score_key=score_key)

    def query_for(self, question: str) -> Any:
        """The vecnb Query run for ``question``."""
        q = replace(self.query, text=str(question), vector=None)
        if self.embeddings is not None and q.kind != "keyword":
            vec = np.asarray(self.embeddings.embed_query(str(question)), dtype=np.float32)
            q = replace(q, kind="similar_to" if q.kind == "near_text" else q.kind, vector=vec,
                        text=None if q.kind in ("similar_to", "near_text") else q.text, model=None)
        return q

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        if not len(self.index):
            return []
        hits = self.index.run(self.query_for(query))
        column = "rerank_score" if "rerank_score" in hits.columns else "score"
        return documents_from_hits(hits, self.index.text, score_key=self.score_key, score_column=column)
