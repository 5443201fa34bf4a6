"""``idx.as_llamaindex()`` against LlamaIndex's documented vector-store contract
(``BasePydanticVectorStore``: add / query / delete(ref_doc_id) / get_nodes / delete_nodes / clear,
``stores_text``; MetadataFilters). llama-index-core ships no reusable vector-store test suite, so this
module follows the contract its built-in SimpleVectorStore meets; and checks the same rows and scores as
``idx.search`` on real CISI rows over the numpy, faiss and sqlite stores."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_index.core")
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

import vecnb  # noqa: E402
from vecnb.errors import InvalidInputError  # noqa: E402


def _node(i, vec, doc, **md):
    n = TextNode(id_=f"n{i}", text=f"text {i}", metadata=md, embedding=list(map(float, vec)))
    n.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc)
    return n


@pytest.fixture
def filled(tmp_path):
    rng = np.random.default_rng(0)
    V = rng.standard_normal((6, 8)).astype(np.float32)
    idx = vecnb.VectorIndex.empty("sqlite", dim=8, path=str(tmp_path / "li.db"))
    vs = idx.as_llamaindex()
    nodes = [_node(i, V[i], "docA" if i < 3 else "docB", year=2000 + i, tag="even" if i % 2 == 0 else "odd")
             for i in range(6)]
    assert vs.add(nodes) == [f"n{i}" for i in range(6)]
    yield idx, vs, V
    idx.close()


def test_contract(filled):
    idx, vs, V = filled
    assert isinstance(vs, BasePydanticVectorStore) and vs.stores_text and vs.client is idx and len(idx) == 6
    res = vs.query(VectorStoreQuery(query_embedding=V[4].tolist(), similarity_top_k=3))
    want = idx.search(V[4], k=3)
    assert res.ids == [str(x) for x in want.index] and res.ids[0] == "n4"
    np.testing.assert_allclose(res.similarities, want["score"], atol=1e-5)
    node = res.nodes[0]
    assert node.get_content() == "text 4" and node.metadata == {"year": 2004, "tag": "even"}
    assert node.ref_doc_id == "docB"
    # filters: MetadataFilters -> vecnb where, inside the store
    f = MetadataFilters(filters=[MetadataFilter(key="year", value=2002, operator=FilterOperator.GTE),
                                 MetadataFilter(key="tag", value="odd")], condition=FilterCondition.AND)
    res = vs.query(VectorStoreQuery(query_embedding=V[0].tolist(), similarity_top_k=6, filters=f))
    assert sorted(res.ids) == ["n3", "n5"]
    res = vs.query(VectorStoreQuery(query_embedding=V[0].tolist(), similarity_top_k=6,
                                    filters=MetadataFilters(filters=[MetadataFilter(
                                        key="year", value=[2000, 2005], operator=FilterOperator.IN)])))
    assert res.ids[0] == "n0" and sorted(res.ids) == ["n0", "n5"]
    assert set(vs.query(VectorStoreQuery(query_embedding=V[0].tolist(), similarity_top_k=6, doc_ids=["docB"])).ids) \
        == {"n3", "n4", "n5"}
    assert vs.query(VectorStoreQuery(query_embedding=V[1].tolist(), similarity_top_k=1, node_ids=["n1", "n2"])).ids \
        == ["n1"]
    with pytest.raises(InvalidInputError, match="text_match"):
        vs.query(VectorStoreQuery(query_embedding=V[0].tolist(), filters=MetadataFilters(filters=[
            MetadataFilter(key="tag", value="ev", operator=FilterOperator.TEXT_MATCH)])))
    with pytest.raises(InvalidInputError, match="mode"):
        vs.query(VectorStoreQuery(query_embedding=V[0].tolist(), mode=VectorStoreQueryMode.MMR))
    # get / upsert / delete write through the index
    assert [n.node_id for n in vs.get_nodes(node_ids=["n5", "nope", "n1"])] == ["n5", "n1"]
    vs.add([_node(1, V[1], "docA", year=1999, tag="new")])
    assert len(idx) == 6 and idx.frame.loc["n1", "tag"] == "new"
    vs.delete("docA")
    assert sorted(idx.frame.index) == ["n3", "n4", "n5"]
    vs.delete_nodes(["n3", "missing"])
    assert sorted(idx.frame.index) == ["n4", "n5"]
    vs.clear()
    assert len(idx) == 0
    assert vs.query(VectorStoreQuery(query_embedding=V[0].tolist(), similarity_top_k=2)).ids == []


def test_nodes_need_embeddings():
    idx = vecnb.VectorIndex.empty("numpy", dim=4)
    with pytest.raises(InvalidInputError, match="embedding"):
        idx.as_llamaindex().add([TextNode(id_="x", text="no vector")])
    assert len(idx) == 0


@pytest.mark.parametrize("store", ["numpy", "faiss"])
def test_same_rows_as_vecnb_on_cisi(store):
    if store == "faiss":
        pytest.importorskip("faiss")
    df = vecnb.datasets.load("cisi").iloc[:200].vec.embed("text", model="hashing", progress=False)
    idx = df.vec.index(store=store, text="text")
    q = idx.search("classification of library books", k=1, with_vectors=True)  # a real row's vector
    vec = np.asarray(q.iloc[0]["text_vec"], dtype=np.float32)
    res = idx.as_llamaindex().query(VectorStoreQuery(query_embedding=vec.tolist(), similarity_top_k=5))
    want = idx.search(vec, k=5)
    assert res.ids == [str(x) for x in want.index]
    assert res.nodes[0].get_content() == df.loc[want.index[0], "text"]
    assert res.nodes[0].metadata["title"] == df.loc[want.index[0], "title"]
