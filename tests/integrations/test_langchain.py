"""The LangChain hand-off's own contract (beyond LangChain's standard tests, test_langchain_standard.py):
the same rows and scores as vecnb, writes visible through the index, vecnb filters, the retriever
running a tuned Query, ids of integer-labelled frames, clear errors. Real CISI rows, the offline
``hashing`` embedder."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

pytest.importorskip("langchain_core")
from langchain_core.documents import Document  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from langchain_core.vectorstores import VectorStore  # noqa: E402

import vecnb  # noqa: E402
from vecnb.errors import DimensionMismatchError, InvalidInputError  # noqa: E402

STORES = ["numpy", "faiss", "sqlite"]


@pytest.fixture(scope="module")
def cisi():
    df = vecnb.datasets.load("cisi").iloc[:300]
    df = df.assign(year=1960 + (df.index.to_numpy() % 30))
    return df.vec.embed("text", model="hashing", progress=False)


def _index(df, store, tmp_path, **kw):
    opts = {"path": str(tmp_path / f"{store}.db")} if store == "sqlite" else {}
    if store == "faiss":
        pytest.importorskip("faiss")
        opts["kind"] = "flat"
    if store == "sqlite":
        pytest.importorskip("sqlite_vec")
    return df.vec.index(store=store, text="text", **opts, **kw)


@pytest.mark.parametrize("store", STORES)
def test_same_rows_and_scores_as_vecnb(cisi, store, tmp_path):
    idx = _index(cisi, store, tmp_path)
    lc = idx.as_langchain()
    assert isinstance(lc, VectorStore)
    where = {"year": {"$gte": 1980}}
    got = lc.similarity_search_with_score("information retrieval systems", k=7, filter=where)
    want = idx.search("information retrieval systems", k=7, where=where)
    assert [d.id for d, _ in got] == [str(x) for x in want.index]
    np.testing.assert_allclose([s for _, s in got], want["score"].to_numpy(), atol=1e-5)
    doc = got[0][0]
    row = cisi.loc[want.index[0]]
    assert doc.page_content == row["text"]
    assert doc.metadata == {"title": row["title"], "authors": row["authors"], "n_words": int(row["n_words"]),
                            "n_authors": int(row["n_authors"]), "year": int(row["year"])}
    assert all(d.metadata["year"] >= 1980 for d, _ in got)
    assert type(doc.metadata["year"]) is int  # plain Python, not numpy
    # the retriever with a tuned hybrid + MMR query: the rows of idx.run(q), same order
    q = vecnb.Query.hybrid("placeholder", k=5, alpha=0.7, where=where).rerank("mmr", diversity=0.3)
    retriever = idx.as_retriever(query=q, score_key="vecnb_score")
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("citation analysis of journals")
    ref = idx.run(vecnb.Query.hybrid("citation analysis of journals", k=5, alpha=0.7, where=where)
                  .rerank("mmr", diversity=0.3))
    assert [d.id for d in docs] == [str(x) for x in ref.index] and len(docs) == 5
    np.testing.assert_allclose([d.metadata["vecnb_score"] for d in docs], ref["rerank_score"], atol=1e-6)
    assert "rank" not in docs[0].metadata and "keyword_score" not in docs[0].metadata
    idx.close()


def test_writes_go_through_the_index(cisi, tmp_path):
    idx = _index(cisi, "numpy", tmp_path)
    lc = idx.as_langchain()
    n = len(idx)
    # integer labels: ids are their strings, new ids must be integers
    assert [d.id for d in lc.get_by_ids(["3", "1", "999999", "x"])] == ["3", "1"]
    ids = lc.add_documents([Document(page_content="retrieval of chemical abstracts by computer", id="100001",
                                     metadata={"year": 2020, "title": "new"})])
    assert ids == ["100001"] and len(idx) == n + 1 and idx.frame.loc[100001, "title"] == "new"
    top = idx.search("retrieval of chemical abstracts by computer", k=1)
    assert top.index[0] == 100001 and top["year"].iloc[0] == 2020
    assert lc.get_by_ids(["100001"])[0].page_content == "retrieval of chemical abstracts by computer"
    with pytest.raises(InvalidInputError, match="integer"):
        lc.add_texts(["x"], ids=["not-a-number"])
    with pytest.raises(InvalidInputError, match="clash"):
        lc.add_texts(["x"], metadatas=[{"text": "y"}], ids=["5"])
    assert len(idx) == n + 1  # refused writes changed nothing
    lc.delete(["100001", "2", "no-such-id"])
    assert len(idx) == n - 1 and 2 not in idx.frame.index and 100001 not in idx.frame.index
    assert lc.get_by_ids(["2"]) == []
    with pytest.raises(InvalidInputError, match="needs ids"):
        lc.delete()
    asyncio.run(lc.adelete(["3"]))
    assert 3 not in idx.frame.index
    idx.close()


def test_empty_index_and_foreign_embeddings(tmp_path):
    from langchain_core.embeddings import DeterministicFakeEmbedding

    idx = vecnb.VectorIndex.empty("numpy", dim=16, metric="l2")
    lc = idx.as_langchain(embeddings=DeterministicFakeEmbedding(size=16))
    assert lc.similarity_search("anything") == [] and lc.max_marginal_relevance_search("anything") == []
    ids = lc.add_texts(["alpha", "beta", "gamma"], metadatas=[{"n": 1}, {"n": 2}, {"n": 3, "tag": "g"}])
    assert len(ids) == 3 and len(set(ids)) == 3 and list(idx.frame.index) == ids
    (doc, score), = lc.similarity_search_with_score("gamma", k=1)
    assert doc.id == ids[2] and doc.metadata == {"n": 3, "tag": "g"} and score == pytest.approx(0.0, abs=1e-5)
    rel = lc.similarity_search_with_relevance_scores("beta", k=3)
    assert rel[0][1] == pytest.approx(1.0) and all(0 < s <= 1 for _, s in rel)
    assert [d.metadata["n"] for d in lc.similarity_search("beta", k=3, filter={"n": {"$lte": 2}})][0] == 2
    assert len(lc.max_marginal_relevance_search("beta", k=2, fetch_k=3)) == 2
    with pytest.raises(DimensionMismatchError):
        idx.as_langchain(embeddings=DeterministicFakeEmbedding(size=8)).add_texts(["x"])
    with pytest.raises(InvalidInputError, match="embeddings"):
        idx.as_retriever(query=vecnb.Query.similar_to("x"))  # no recorded model and none given
    r = idx.as_retriever(query=vecnb.Query.similar_to("x", k=2), embeddings=DeterministicFakeEmbedding(size=16))
    assert [d.page_content for d in r.invoke("alpha")][0] == "alpha"
    with pytest.raises(InvalidInputError):
        idx.as_langchain().add_texts(["x"])  # no model recorded, no embeddings: cannot embed


def test_empty_constructor_checks_and_records_model():
    with pytest.raises(InvalidInputError):
        vecnb.VectorIndex.empty("numpy", dim=0)
    with pytest.raises(InvalidInputError):
        vecnb.VectorIndex.empty("numpy", dim=4, column="text", text="text")
    idx = vecnb.VectorIndex.empty("numpy", dim=256, model={"name": "hashing", "n_features": 256})
    lc = idx.as_langchain()  # the recorded vecnb model embeds documents and queries
    lc.add_texts(["the sea level rises", "a cat on a mat"], ids=["a", "b"])
    assert idx.search("sea level", k=1).index[0] == "a"
    assert lc.similarity_search("sea level", k=1)[0].id == "a"


def test_from_texts_builds_a_vecnb_index(tmp_path):
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from vecnb.integrations.langchain import VecnbVectorStore

    lc = VecnbVectorStore.from_texts(["one", "two"], DeterministicFakeEmbedding(size=8), metadatas=[{"a": 1}, {"a": 2}],
                                     ids=["1", "2"], store="sqlite", path=str(tmp_path / "t.db"))
    assert len(lc.index) == 2 and lc.index.store_name == "sqlite"
    assert lc.similarity_search("two", k=1)[0] == Document(id="2", page_content="two", metadata={"a": 2})
    lc.index.close()
