"""A vecnb index inside LlamaIndex: ``idx.as_llamaindex()`` -> a ``BasePydanticVectorStore`` over the same index.

::

    vs = idx.as_llamaindex()
    from llama_index.core import VectorStoreIndex
    li = VectorStoreIndex.from_vector_store(vs, embed_model=...)   # or vs.query(VectorStoreQuery(...)) directly

Like the LangChain adapter (:mod:`vecnb.integrations.langchain`) it reads and writes through the
``VectorIndex`` (``search``, ``write_rows``, ``delete``): nodes are rows (``node.text`` -> the text
column, ``node.metadata`` -> columns, ``node.node_id`` -> the label as a string, ``ref_doc_id`` ->
column ``ref_doc_id``); ``add`` upserts by node id; ``delete(ref_doc_id)`` removes every row of that
document; query similarities follow vecnb's convention (higher is closer, as ``idx.search``).
``stores_text`` is True. Filters: LlamaIndex ``MetadataFilters`` (==, !=, >, >=, <, <=, in, nin;
and / or / not, nested) become a vecnb ``where=`` dict; or pass ``where=`` to :meth:`query` directly.
Other operators (text_match, contains, any, all, is_empty) raise ``InvalidInputError``.
Only ``VectorStoreQueryMode.DEFAULT`` is offered: run hybrid / MMR with ``idx.run(vecnb.Query...)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vecnb.errors import InvalidInputError, MissingDependencyError
from vecnb.integrations._rows import row_records

try:
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.schema import BaseNode, TextNode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        FilterCondition,
        FilterOperator,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(
        f"The LlamaIndex hand-off needs llama-index-core ({exc}). Install it with: pip install \"vecnb[llamaindex]\""
    ) from None

__all__ = ["VecnbLlamaStore", "where_from_filters"]

REF_COLUMN = "ref_doc_id"
_OPS = {FilterOperator.EQ: "$eq", FilterOperator.NE: "$ne", FilterOperator.GT: "$gt", FilterOperator.GTE: "$gte",
        FilterOperator.LT: "$lt", FilterOperator.LTE: "$lte", FilterOperator.IN: "$in", FilterOperator.NIN: "$nin"}


def where_from_filters(filters: MetadataFilters | None) -> dict | None:
    """A LlamaIndex ``MetadataFilters`` as a vecnb ``where=`` dict (``None`` for no filter).

    Examples
    --------
    >>> from llama_index.core.vector_stores import MetadataFilter, MetadataFilters
    >>> where_from_filters(MetadataFilters(filters=[MetadataFilter(key="year", value=2000, operator=">=")]))
    {'year': {'$gte': 2000}}
    """
    if filters is None or not filters.filters:
        return None
    parts = []
    for f in filters.filters:
        if isinstance(f, MetadataFilters):
            sub = where_from_filters(f)
            if sub is not None:
                parts.append(sub)
            continue
        op = _OPS.get(f.operator)
        if op is None:
            raise InvalidInputError(f"vecnb cannot filter with LlamaIndex operator {f.operator.value!r}; it offers "
                                    f"{', '.join(o.value for o in _OPS)}.")
        parts.append({f.key: {op: list(f.value) if op in ("$in", "$nin") else f.value}})
    cond = filters.condition or FilterCondition.AND
    if cond == FilterCondition.NOT:
        return {"$not": parts[0] if len(parts) == 1 else {"$and": parts}}
    if len(parts) == 1:
        return parts[0]
    return {"$or" if cond == FilterCondition.OR else "$and": parts}


class VecnbLlamaStore(BasePydanticVectorStore):
    """A LlamaIndex vector store over a :class:`vecnb.VectorIndex` (see the module docstring).

    Examples
    --------
    >>> from llama_index.core.vector_stores import VectorStoreQuery
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
    >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text")
    >>> store = VecnbLlamaStore.over(idx)
    >>> vector = idx.store.fetch(idx.keys_for([0]))[0][0].tolist()     # row 0's own vector
    >>> res = store.query(VectorStoreQuery(query_embedding=vector, similarity_top_k=1))
    >>> [n.get_content() for n in res.nodes]
    ['red apple pie']
    >>> [n.get_content() for n in store.get_nodes()][:2]
    ['red apple pie', 'green pear tart']
    """

    stores_text: bool = True
    is_embedding_query: bool = True
    _index: Any = PrivateAttr()

    @classmethod
    def over(cls, index: Any, embed_model: Any = None) -> VecnbLlamaStore:
        """The store over ``index``. ``embed_model`` is not used here (LlamaIndex embeds before calling a
        vector store); pass it to ``VectorStoreIndex.from_vector_store``."""
        out = cls()
        out._index = index
        return out

    @property
    def client(self) -> Any:
        """The vecnb ``VectorIndex``."""
        return self._index

    # ------------------------------------------------------------------ writes
    def add(self, nodes: list[BaseNode], **kwargs: Any) -> list[str]:
        """Upsert ``nodes`` (their ``embedding`` is required) by node id."""
        idx = self._index
        if not nodes:
            return []
        missing = [n.node_id for n in nodes if n.embedding is None]
        if missing:
            raise InvalidInputError(f"nodes {missing[:5]} have no embedding; embed them first (LlamaIndex does this "
                                    "in VectorStoreIndex) or set node.embedding.")
        X = np.asarray([n.embedding for n in nodes], dtype=np.float32)
        records = []
        for n in nodes:
            md = dict(n.metadata)
            bad = [k for k in md if k in (idx.text, idx.column, REF_COLUMN)]
            if bad:
                raise InvalidInputError(f"node {n.node_id!r}: metadata keys {bad} clash with the index's columns.")
            if n.ref_doc_id is not None:
                md[REF_COLUMN] = n.ref_doc_id
            if idx.text is not None:
                md[idx.text] = n.get_content()
            records.append(md)
        ids = [n.node_id for n in nodes]
        rows = pd.DataFrame.from_records(records, index=pd.Index(ids, dtype=object))
        keep = ~rows.index.duplicated(keep="last")
        idx.write_rows(rows[keep], X[keep])
        return ids

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Remove every row whose ``ref_doc_id`` is ``ref_doc_id``."""
        frame = self._index.frame
        if REF_COLUMN in frame.columns:
            self._index.delete(frame.index[frame[REF_COLUMN] == ref_doc_id])

    def delete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None,
                     **delete_kwargs: Any) -> None:
        """Remove rows by node id (unknown ids ignored); ``filters`` are not supported (raises)."""
        if filters is not None:
            raise InvalidInputError("delete_nodes by filters is not supported; pass node_ids.")
        self._index.delete(list(node_ids or []))

    def clear(self) -> None:
        """Remove every row."""
        self._index.delete(self._index.frame.index)

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Nodes by id (in the order asked, unknown ids left out), or all nodes."""
        frame = self._index.frame
        if filters is not None:
            raise InvalidInputError("get_nodes by filters is not supported; pass node_ids.")
        if node_ids is not None:
            pos = frame.index.get_indexer(pd.Index([str(i) for i in node_ids], dtype=object))
            frame = frame.iloc[pos[pos >= 0]]
        return self._nodes(frame)

    def _nodes(self, rows: pd.DataFrame) -> list[TextNode]:
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo

        out = []
        texts, metas = row_records(rows, self._index.text, results=True)
        for label, content, md in zip(rows.index.tolist(), texts, metas):
            ref = md.pop(REF_COLUMN, None)
            node = TextNode(id_=str(label), text=content, metadata=md)
            if ref is not None:
                node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=str(ref))
            out.append(node)
        return out

    # ------------------------------------------------------------------ search
    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nearest rows to ``query.query_embedding`` (vecnb scores, higher is closer).

        ``query.filters`` (MetadataFilters) or ``where=`` (a vecnb dict) filter inside the store;
        ``query.doc_ids`` / ``node_ids`` restrict to those documents / nodes.
        """
        if query.mode != VectorStoreQueryMode.DEFAULT:
            raise InvalidInputError(f"vecnb's LlamaIndex store answers mode 'default' only, not {query.mode.value!r}; "
                                    "run hybrid or MMR with idx.run(vecnb.Query...).")
        if query.query_embedding is None:
            raise InvalidInputError("the query has no query_embedding; LlamaIndex embeds the question first.")
        where = kwargs.pop("where", None) or where_from_filters(query.filters)
        if kwargs:
            raise InvalidInputError(f"unknown query options {sorted(kwargs)}.")
        extra = []
        if query.doc_ids:
            extra.append({REF_COLUMN: {"$in": [str(d) for d in query.doc_ids]}})
        if query.node_ids:
            frame = self._index.frame
            pos = frame.index.get_indexer(pd.Index([str(i) for i in query.node_ids], dtype=object))
            frame = frame.iloc[pos[pos >= 0]]
            if not len(frame):
                return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
            return self._exact_among(frame, query)
        if extra:
            where = {"$and": [where, *extra]} if where else extra[0]
        if not len(self._index):
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        hits = self._index.search(np.asarray(query.query_embedding, dtype=np.float32), k=query.similarity_top_k,
                                  where=where)
        nodes = self._nodes(hits)
        return VectorStoreQueryResult(nodes=nodes, similarities=hits["score"].astype(float).tolist(),
                                      ids=[n.node_id for n in nodes])

    def _exact_among(self, frame: pd.DataFrame, query: VectorStoreQuery) -> VectorStoreQueryResult:
        """``node_ids`` given: rank those rows only (an exact scan of the index, kept to them)."""
        hits = self._index.search(np.asarray(query.query_embedding, dtype=np.float32), k=len(self._index),
                                  where=where_from_filters(query.filters))
        hits = hits[hits.index.isin(frame.index)].head(query.similarity_top_k)
        nodes = self._nodes(hits)
        return VectorStoreQueryResult(nodes=nodes, similarities=hits["score"].astype(float).tolist(),
                                      ids=[n.node_id for n in nodes])
