"""Tests for vecnb.Query: construction, validation, JSON round trips, display, and running on
a DataFrame and on a VectorIndex (real numpy store)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb.errors import InvalidInputError
from vecnb.search.query import Query


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    cisi = vecnb.datasets.load("cisi").iloc[:400]
    rng = np.random.default_rng(11)
    return cisi.vec.attach(rng.normal(size=(len(cisi), 12)).astype(np.float32), name="emb")


@pytest.fixture(scope="module")
def qv() -> np.ndarray:
    return np.random.default_rng(12).normal(size=12).astype(np.float32)


def roundtrip(q: Query) -> Query:
    return Query.from_dict(json.loads(json.dumps(q.to_dict())))


def test_the_issue_example_roundtrips():
    q = vecnb.Query.hybrid("query text", k=10, alpha=0.5).rerank("mmr", diversity=0.3)
    back = roundtrip(q)
    assert back == q and hash(back) == hash(q)
    assert back.reranks[0].diversity == 0.3


@pytest.mark.parametrize("make", [
    lambda v: Query.similar_to("sea level", k=3, metric="dot", where={"year": {"$gte": 1990}}, threshold=0.3),
    lambda v: Query.similar_to(v, k=5, where={"label": {"$in": ("a", "b")}}),
    lambda v: Query.near_text("sea level", model="minilm", k=4),
    lambda v: Query.near_text("sea level", model={"name": "hashing", "dim": 64}),
    lambda v: Query.hybrid("sea level", k=7, alpha=0.2, fusion="weighted", normalization="zscore", rrf_k=10,
                           fetch_k=40, vector=v, stopwords=["sea"], stemmer=None, k1=1.2),
    lambda v: Query.keyword("sea level", k=2, text_column="title", keyword_backend="bm25", method="robertson"),
    lambda v: Query.hybrid("x y", text_column="body").rerank("mmr").rerank("mmr", diversity=0.9, fetch_k=30),
])
def test_every_kind_roundtrips_through_json(make, qv):
    q = make(qv)
    d = q.to_dict()
    text = json.dumps(d)  # plain JSON, no custom encoder
    assert json.loads(text) == d
    back = roundtrip(q)
    assert back == q
    assert hash(back) == hash(q)
    assert repr(back) == repr(q)
    if q.vector is not None:
        assert isinstance(d["vector"], list) and all(isinstance(x, float) for x in d["vector"])
        assert np.allclose(back.vector, qv)


def test_immutable_and_rerank_returns_new():
    q = Query.hybrid("a b", k=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.k = 3
    r = q.rerank("mmr", diversity=0.4)
    assert r is not q and q.reranks == () and len(r.reranks) == 1
    assert r != q
    assert Query.hybrid("a b", k=5) == q and Query.hybrid("a b", k=6) != q
    # where is copied and normalised (tuples -> lists), so the caller's dict can change freely
    w = {"year": {"$in": (1, 2)}}
    q2 = Query.similar_to("x", where=w)
    w["year"]["$in"] = (3,)
    assert q2.where == {"year": {"$in": [1, 2]}}


def test_repr_reads_like_code_and_html():
    q = Query.hybrid("sea level", k=10, alpha=0.5).rerank("mmr", diversity=0.3)
    assert repr(q) == "Query.hybrid('sea level', k=10, alpha=0.5, fusion='rrf').rerank('mmr', diversity=0.3)"
    v = Query.similar_to(np.arange(1, 6, dtype=float), k=3, where={"a": 1})
    assert repr(v).startswith("Query.similar_to([1, 2, 3, ... 5 values], k=3, where={'a': 1}")
    html = q._repr_html_()
    assert "vecnb.Query" in html and "sea level" in html and "mmr" in html
    tricky = Query.keyword("<b>bold</b> & co")
    assert "<b>bold" not in tricky._repr_html_() and "&lt;b&gt;" in tricky._repr_html_()


def test_callable_rerank_cannot_be_serialised():
    def cross_encoder(query, texts):
        return [0.0] * len(texts)

    q = Query.hybrid("a b").rerank(cross_encoder)
    assert "cross_encoder" in repr(q)
    with pytest.raises(InvalidInputError, match="cannot be serialised"):
        q.to_dict()

    class Emb:
        def __call__(self, texts):
            return np.ones((len(texts), 3))

    with pytest.raises(InvalidInputError, match="model"):
        Query.near_text("x", model=Emb()).to_dict()


@pytest.mark.parametrize("build, match", [
    (lambda: Query.similar_to("x", k=0), "k must"),
    (lambda: Query.similar_to("x", metric="manhattan"), "metric"),
    (lambda: Query.similar_to("x", where={"a": {"$regex": "x"}}), "operator"),
    (lambda: Query.similar_to("x", threshold=float("nan")), "threshold"),
    (lambda: Query.similar_to(None), "text or a vector"),
    (lambda: Query.similar_to(np.ones((2, 3))), "one query vector"),
    (lambda: Query.similar_to([1.0, float("nan")]), "NaN"),
    (lambda: Query.near_text(""), "non-empty"),
    (lambda: Query.hybrid("x", alpha=2), "alpha"),
    (lambda: Query.hybrid("x", fusion="max"), "fusion"),
    (lambda: Query.hybrid("x", rrf_k=0), "rrf_k"),
    (lambda: Query.hybrid("x", fetch_k=-1), "fetch_k"),
    (lambda: Query.hybrid("x", stemmer="klingon"), "stemmer"),
    (lambda: Query.hybrid("x", colour="red"), "Unknown keyword options"),
    (lambda: Query.keyword("x", keyword_backend="solr"), "keyword_backend"),
    (lambda: Query.hybrid("x").rerank("bm25"), "Unknown rerank"),
    (lambda: Query.hybrid("x").rerank("mmr", diversity=1.5), "diversity"),
    (lambda: Query.hybrid("x").rerank(lambda q, t: t, diversity=0.2), "diversity"),
    (lambda: Query("nearest", text="x"), "kind"),
    (lambda: Query("keyword", text="x", vector=(1.0, 2.0)), "searches by text"),
])
def test_validation(build, match):
    with pytest.raises(InvalidInputError, match=match):
        build()


def test_from_dict_rejects_bad_input():
    good = Query.keyword("x").to_dict()
    with pytest.raises(InvalidInputError, match="not a vecnb query"):
        Query.from_dict({"kind": "keyword", "text": "x"})
    with pytest.raises(InvalidInputError, match="version"):
        Query.from_dict({**good, "vecnb_query": 99})
    with pytest.raises(InvalidInputError, match="Unknown query fields"):
        Query.from_dict({**good, "colour": "red"})
    with pytest.raises(InvalidInputError, match="rerank step"):
        Query.from_dict({**good, "rerank": [{"method": "callable"}]})
    with pytest.raises(InvalidInputError):
        Query.from_dict("not a dict")
    assert Query.from_json(Query.keyword("x").to_json()) == Query.keyword("x")


# ------------------------------------------------------------------ running on a DataFrame
def test_run_on_frame_equals_direct_calls(df, qv):
    pd.testing.assert_frame_equal(Query.similar_to(qv, k=5, where={"n_words": {"$gt": 90}}).run(df),
                                  df.vec.search(qv, k=5, where={"n_words": {"$gt": 90}}))
    pd.testing.assert_frame_equal(Query.similar_to(qv, k=5, metric="l2").run(df), df.vec.search(qv, k=5, metric="l2"))
    pd.testing.assert_frame_equal(Query.keyword("library science", k=4, stemmer=None).run(df),
                                  df.vec.keyword("library science", k=4, stemmer=None))
    q = Query.hybrid("library science", k=6, alpha=0.3, fusion="weighted", vector=qv, threshold=0.1)
    pd.testing.assert_frame_equal(q.run(df), df.vec.hybrid("library science", k=6, alpha=0.3, fusion="weighted",
                                                            vector=qv, threshold=0.1))
    # the serialised query gives the same hits
    pd.testing.assert_frame_equal(roundtrip(q).run(df), q.run(df))


def test_run_with_mmr_rerank_on_frame(df, qv):
    q = Query.hybrid("library science", k=5, vector=qv).rerank("mmr", diversity=0.5, fetch_k=20)
    hits = q.run(df)
    assert len(hits) == 5 and hits["rank"].tolist() == [1, 2, 3, 4, 5] and "rerank_score" in hits
    cands = df.vec.hybrid("library science", k=20, vector=qv)
    assert set(hits.index) <= set(cands.index)
    # the same as MMR applied by hand to the 20 candidates
    from vecnb.search.keyword import mmr

    V = df.vec.matrix("emb")[df.index.get_indexer(cands.index)]
    order, _ = mmr(V, 5, diversity=0.5, relevance=cands["score"].to_numpy())  # the first stage's relevance
    assert list(hits.index) == list(cands.index[order])
    plain = Query.hybrid("library science", k=5, vector=qv).rerank("mmr", diversity=0.0, fetch_k=20).run(df)
    assert list(plain.index) == list(cands.index[:5])


@pytest.mark.parametrize("target", ["frame", "index"])
def test_mmr_at_zero_diversity_keeps_the_first_stage_order(df, qv, target):
    """MMR reranks the first stage's candidates by the first stage's relevance: diversity=0 changes nothing."""
    idx = df.vec.index(store="numpy", text="text") if target == "index" else None
    on = idx if idx is not None else df
    try:
        kw = Query.keyword("library science", k=8).run(on)
        q = Query.keyword("library science", k=8).rerank("mmr", diversity=0.0)
        out = q.run(on)
        assert list(out.index) == list(kw.index) and len(out) == 8
        np.testing.assert_allclose(out["score"], kw["score"])  # the retrieval score is kept
        hy = Query.hybrid("library science", k=6, vector=qv).run(on)
        assert list(Query.hybrid("library science", k=6, vector=qv).rerank("mmr", diversity=0.0).run(on).index) \
            == list(hy.index)
        # with diversity the keyword candidates are reordered, never replaced by dense ones
        cands = Query.keyword("library science", k=50).run(on)
        div = Query.keyword("library science", k=8).rerank("mmr", diversity=0.7).run(on)
        assert set(div.index) <= set(cands.index) and list(div.index) != list(kw.index)
    finally:
        if idx is not None:
            idx.close()


def test_run_with_cross_encoder_on_frame(df):
    def shortest_first(query, texts):
        assert query == "library science"
        return [-len(t) for t in texts]

    hits = Query.keyword("library science", k=3).rerank(shortest_first, fetch_k=10, text="title").run(df)
    cands = df.vec.keyword("library science", k=10)
    want = cands["title"].str.len().sort_values(kind="stable").index[:3]
    assert list(hits.index) == list(want)


def test_run_rejects_other_targets(df):
    with pytest.raises(InvalidInputError, match="DataFrame or a vecnb.VectorIndex"):
        Query.keyword("x").run([1, 2, 3])


# ------------------------------------------------------------------ running on a VectorIndex
def test_run_on_index(df, qv):
    idx = df.vec.index(store="numpy", text="text")
    try:
        q = Query.similar_to(qv, k=5, where={"n_words": {"$gt": 90}})
        pd.testing.assert_frame_equal(idx.run(q), idx.search(qv, k=5, where={"n_words": {"$gt": 90}}))
        h = Query.hybrid("library science", k=6, vector=qv).run(idx)
        f = Query.hybrid("library science", k=6, vector=qv).run(df)
        assert list(h.index) == list(f.index)
        np.testing.assert_allclose(h["score"], f["score"])
        r = Query.hybrid("library science", k=4, vector=qv).rerank("mmr", fetch_k=12).run(idx)
        rf = Query.hybrid("library science", k=4, vector=qv).rerank("mmr", fetch_k=12).run(df)
        assert list(r.index) == list(rf.index)
        with pytest.raises(InvalidInputError, match="metric"):
            Query.similar_to(qv, metric="l2").run(idx)
    finally:
        idx.close()


def test_text_queries_embed_with_the_columns_model(df):
    def emb(texts):
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % 15] += 1.0
            out[i, 15] = 0.25
        return out

    small = df.drop(columns="emb").iloc[:200].vec.embed("text", model=emb, progress=False, cache=False)
    q = "information retrieval evaluation"
    pd.testing.assert_frame_equal(Query.similar_to(q, k=4).run(small), small.vec.search(q, k=4))
    pd.testing.assert_frame_equal(Query.near_text(q, model=emb, k=4).run(small), small.vec.search(q, k=4, model=emb))
    hits = Query.hybrid(q, k=4).rerank("mmr", diversity=0.6, fetch_k=15).run(small)
    cands = small.vec.hybrid(q, k=15)
    from vecnb.search.keyword import mmr

    order, _ = mmr(small.vec.matrix()[small.index.get_indexer(cands.index)], 4, diversity=0.6,
                   relevance=cands["score"].to_numpy())
    assert list(hits.index) == list(cands.index[order])
    idx = small.vec.index(store="numpy", text="text")
    try:
        assert list(Query.hybrid(q, k=4).rerank("mmr", diversity=0.6, fetch_k=15).run(idx).index) == list(hits.index)
    finally:
        idx.close()
