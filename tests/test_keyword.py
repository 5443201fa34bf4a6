"""Tests for vecnb.keyword: BM25 keyword search, fusion (RRF / weighted), MMR and cross-encoder reranking.

BM25 scores are checked against an independent Lucene-BM25 written out below; fusion and
MMR against hand computations and brute force. VectorIndex tests use the real numpy and
SQLite (FTS5) stores.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb.search import keyword as kw
from vecnb.errors import ColumnNotFoundError, FilterError, InvalidInputError, TextColumnError

DOCS = [
    "The cat sat on the mat",
    "Dogs and cats living together",
    "A dog chased the cat around the garden",
    "Classification of library books by subject",
    "Library classifications: Dewey decimal and Library of Congress",
    "Subject indexing and the classification of documents",
    "The garden was full of flowers",
    "Information retrieval evaluates ranked lists of documents",
    "Retrieving information from libraries with catalogues",
    "Cats, dogs and other pets",
    "the of and",
    "",
]


@pytest.fixture
def docs() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "text": DOCS,
            "year": [1990, 1991, 1992, 1993, 1994, 1995, 1996, 1997, 1998, 1999, 2000, 2001],
            "label": list("aabbbbaccaaa"),
        },
        index=pd.Index([f"d{i}" for i in range(len(DOCS))], name="doc"),
    )
    return df.vec.attach(rng.normal(size=(len(df), 8)).astype(np.float32), name="emb")


@pytest.fixture(scope="module")
def cisi() -> pd.DataFrame:
    return vecnb.datasets.load("cisi")


# ------------------------------------------------------------------ independent Lucene BM25
def lucene_bm25(texts, query, *, k1=1.5, b=0.75, stop=(), stem=None):
    """Textbook Lucene BM25 (Kamphuis et al. 2020), written independently of bm25s."""

    def toks(t):
        out = [w for w in re.findall(r"(?u)\b\w\w+\b", t.lower()) if w not in stop]
        return [stem(w) for w in out] if stem else out

    docs = [toks(t) for t in texts]
    n = len(docs)
    avgdl = sum(map(len, docs)) / n
    df = Counter(w for d in docs for w in set(d))
    scores = np.zeros(n)
    for term in toks(query):
        if term not in df:
            continue
        idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
        for i, d in enumerate(docs):
            tf = d.count(term)
            if tf:
                scores[i] += idf * tf / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return scores


def test_bm25_scores_equal_independent_lucene(docs):
    q = "library classification of documents"
    hits = docs.vec.keyword(q, k=20, stopwords=None, stemmer=None)
    ref = lucene_bm25(DOCS, q)
    want = {docs.index[i]: s for i, s in enumerate(ref) if s > 0}
    assert set(hits.index) == set(want)
    for label, row in hits.iterrows():
        assert row["score"] == pytest.approx(want[label], rel=1e-5)
    # order: score desc, ties -> earlier row
    order = sorted(want, key=lambda lab: (-round(want[lab], 5), list(docs.index).index(lab)))
    assert list(hits.index) == order
    assert hits["rank"].tolist() == list(range(1, len(hits) + 1))


def test_bm25_with_stop_words_and_stemmer_matches_independent(docs):
    import Stemmer

    st = Stemmer.Stemmer("english")
    stop = {"the", "of", "and", "a", "on"}
    q = "the classifications of libraries"
    hits = docs.vec.keyword(q, k=20, stopwords=sorted(stop), stemmer="english", k1=1.2, b=0.5)
    ref = lucene_bm25(DOCS, q, k1=1.2, b=0.5, stop=stop, stem=st.stemWord)
    want = {docs.index[i]: s for i, s in enumerate(ref) if s > 0}
    assert dict(zip(hits.index, hits["score"])) == pytest.approx(want, rel=1e-5)


def test_keyword_agrees_with_bm25s_on_cisi(cisi):
    import bm25s
    import Stemmer

    q = "How can the effectiveness of indexing languages be measured?"
    tok = bm25s.tokenize(cisi["text"].tolist(), stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False)
    ret = bm25s.BM25(method="lucene")
    ret.index(tok, show_progress=False)
    qt = bm25s.tokenize([q], stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False,
                        show_progress=False)
    docs_, scores = ret.retrieve(qt, k=10, show_progress=False)
    hits = cisi.vec.keyword(q, k=10)
    np.testing.assert_allclose(hits["score"].to_numpy(), scores[0], rtol=1e-6)
    assert list(hits.index) == list(cisi.index[docs_[0]])


def test_result_shape_and_no_mutation(docs):
    before = docs.copy()
    hits = docs.vec.keyword("cat garden", k=3)
    # one result shape everywhere: the embedding column is dropped unless with_vectors=True
    assert list(hits.columns) == [c for c in docs.columns if c != "emb"] + ["score", "rank"]
    full = docs.vec.keyword("cat garden", k=3, with_vectors=True)
    assert list(full.columns) == list(docs.columns) + ["score", "rank"]
    np.testing.assert_array_equal(full.vec.matrix("emb"), docs.vec.matrix("emb")[docs.index.get_indexer(full.index)])
    assert hits.index.name == "doc"
    assert hits.loc[hits.index[0], "text"] == docs.loc[hits.index[0], "text"]
    pd.testing.assert_frame_equal(docs, before)
    assert (np.diff(hits["score"].to_numpy()) <= 0).all()


def test_batch_adds_query_column(docs):
    hits = docs.vec.keyword(["cat", "library"], k=2)
    assert list(hits.columns)[-1] == "query"
    assert hits["query"].tolist() == ["cat", "cat", "library", "library"]
    assert hits["rank"].tolist() == [1, 2, 1, 2]


def test_only_matching_rows_and_stop_word_queries(docs):
    hits = docs.vec.keyword("garden", k=10)
    assert set(hits.index) == {"d2", "d6"}  # fewer than k: only rows containing the term
    assert len(docs.vec.keyword("the of and", k=5)) == 0  # only English stop words
    no_stop = docs.vec.keyword("the of and", k=5, stopwords=None)
    assert "d10" in no_stop.index
    assert len(docs.vec.keyword("zzzunknownword", k=5)) == 0


def test_custom_stop_words_and_stemmer_switch(docs):
    with_stem = docs.vec.keyword("classifications", k=10)
    no_stem = docs.vec.keyword("classifications", k=10, stemmer=None)
    assert {"d3", "d4", "d5"} <= set(with_stem.index)
    assert list(no_stem.index) == ["d4"]
    # a custom stop list removes the word
    assert len(docs.vec.keyword("garden", k=5, stopwords=["garden"])) == 0
    # lower=False: case matters
    assert len(docs.vec.keyword("Library", k=5, lower=False, stemmer=None)) == 1  # only "Library ..." in d4
    # a callable stemmer
    calls = []

    def chop(words):
        calls.append(len(words))
        return [w[:4] for w in words]

    hits = docs.vec.keyword("classy", k=5, stemmer=chop)
    assert {"d3", "d4", "d5"} <= set(hits.index) and calls


def test_where_and_threshold(docs, cisi):
    hits = docs.vec.keyword("cat dog", k=10, where={"label": "a"})
    assert len(hits) and (hits["label"] == "a").all()
    everything = docs.vec.keyword("cat dog", k=10)
    expect = [lab for lab in everything.index if docs.loc[lab, "label"] == "a"]
    assert list(hits.index) == expect
    # filtering does not change the scores (document frequencies are the whole column's)
    assert hits["score"].tolist() == pytest.approx(everything.loc[expect, "score"].tolist())
    t = everything["score"].iloc[1]
    thr = docs.vec.keyword("cat dog", k=10, threshold=t)
    assert (thr["score"] >= t).all() and len(thr) == (everything["score"] >= t).sum()
    big = cisi.vec.keyword("library classification", k=10, where={"n_words": {"$gte": 200}})
    assert len(big) == 10 and (big["n_words"] >= 200).all()
    with pytest.raises(FilterError):
        docs.vec.keyword("cat", where={"nope": 1})


def test_errors(docs):
    with pytest.raises(ColumnNotFoundError, match="text='<column>'"):
        docs.vec.keyword("cat", text="body")
    with pytest.raises(TextColumnError):
        docs.vec.keyword("cat", text="emb")
    with pytest.raises(InvalidInputError, match="empty"):
        docs.vec.keyword("   ")
    with pytest.raises(InvalidInputError):
        docs.vec.keyword("cat", k=0)
    with pytest.raises(InvalidInputError, match="stop-word"):
        docs.vec.keyword("cat", stopwords="klingon")
    with pytest.raises(InvalidInputError, match="stemmer"):
        docs.vec.keyword("cat", stemmer="klingon")
    with pytest.raises(InvalidInputError, match="b must be"):
        docs.vec.keyword("cat", b=1.5)
    with pytest.raises(InvalidInputError, match="method"):
        docs.vec.keyword("cat", method="tfidf")
    with pytest.raises(InvalidInputError, match="query text"):
        docs.vec.keyword(np.ones(3))
    bad = docs.assign(text=[1] * len(docs))
    with pytest.raises(TextColumnError):
        bad.vec.keyword("cat")


def test_missing_text_counts_as_empty(docs):
    d = docs.copy()
    d["text"] = d["text"].astype(object)
    d.loc["d0", "text"] = None
    hits = d.vec.keyword("cat mat", k=5)
    assert "d0" not in hits.index and len(hits)


def test_cache_is_keyed_by_content(docs):
    kw.clear_cache()
    docs.vec.keyword("cat", k=2)
    info = kw.cache_info()
    assert (info["size"], info["misses"], info["hits"]) == (1, 1, 0)
    docs.vec.keyword("dog", k=2)                       # same frame: hit
    docs.copy(deep=False).vec.keyword("dog", k=2)      # shallow copy: same Arrow array, hit
    docs.copy().vec.keyword("dog", k=2)                # deep copy: same content, hit
    assert kw.cache_info()["hits"] == 3 and kw.cache_info()["size"] == 1
    docs.vec.keyword("dog", k=2, stemmer=None)         # other settings: a new index
    assert kw.cache_info()["size"] == 2
    changed = docs.copy()
    changed.loc["d1", "text"] = "no pets here"
    assert "d1" not in changed.vec.keyword("cats", k=5).index   # edited text: rebuilt, not stale
    obj = docs.astype({"text": object})
    obj.vec.keyword("cat", k=2)                         # object column: hashed, same content -> hit
    assert kw.cache_info()["size"] == 3
    for _ in range(kw.CACHE_SIZE + 2):
        changed.loc["d1", "text"] = changed.loc["d1", "text"] + " x"
        changed.vec.keyword("cat", k=1)
    assert kw.cache_info()["size"] == kw.CACHE_SIZE
    # the arrays it references are only those of cached indexes
    live = {key[0] for key in kw._CACHE}
    assert kw._IDENTITY and all(ck in live for _, ck in kw._IDENTITY.values())
    kw.clear_cache()
    assert kw.cache_info()["size"] == 0 and not kw._IDENTITY


# ------------------------------------------------------------------ fusion
def test_rrf_by_hand():
    keyword = (np.array([5, 3, 9]), np.array([7.0, 5.0, 1.0]))
    vector = (np.array([3, 8, 5, -1]), np.array([0.9, 0.8, 0.1, -np.inf]))
    out = kw.fuse(keyword, vector, 10, fusion="rrf", rrf_k=60)
    want = {5: 1 / 61 + 1 / 63, 3: 1 / 62 + 1 / 61, 9: 1 / 63, 8: 1 / 62}
    assert sorted(out["pos"].tolist()) == sorted(want)
    for p, s in zip(out["pos"], out["score"]):
        assert s == pytest.approx(want[p])
    assert out["pos"].tolist() == [3, 5, 8, 9]
    i3 = out["pos"].tolist().index(3)
    assert (out["keyword_rank"][i3], out["keyword_score"][i3], out["vector_rank"][i3], out["vector_score"][i3]) \
        == (2, 5.0, 1, 0.9)
    i9 = out["pos"].tolist().index(9)
    assert np.isnan(out["vector_rank"][i9]) and np.isnan(out["vector_score"][i9])
    # alpha weights the vector side: alpha=1 -> vector order only; other rrf_k
    only_v = kw.fuse(keyword, vector, 10, fusion="rrf", alpha=1.0, rrf_k=1)
    assert only_v["pos"][:3].tolist() == [3, 8, 5]
    assert only_v["score"][0] == pytest.approx(2 / 2)


def test_rrf_ties_go_to_better_rank_then_row():
    out = kw.fuse((np.array([4]), np.array([1.0])), (np.array([2]), np.array([0.5])), 5)
    assert out["score"][0] == out["score"][1]
    assert out["pos"].tolist() == [2, 4]  # both best rank 1 -> lower row first


def test_weighted_minmax_and_zscore_by_hand():
    keyword = (np.array([1, 2, 3]), np.array([10.0, 6.0, 2.0]))
    vector = (np.array([3, 4]), np.array([0.8, 0.4]))
    out = kw.fuse(keyword, vector, 10, fusion="weighted", alpha=0.25, normalization="minmax")
    nk = {1: 1.0, 2: 0.5, 3: 0.0, 4: 0.0}
    nv = {1: 0.0, 2: 0.0, 3: 1.0, 4: 0.0}
    want = {p: 0.25 * nv[p] + 0.75 * nk[p] for p in nk}
    assert dict(zip(out["pos"].tolist(), out["score"])) == pytest.approx(want)
    # raw scores are shown unnormalised
    assert dict(zip(out["pos"].tolist(), out["keyword_score"]))[1] == 10.0
    assert dict(zip(out["pos"].tolist(), out["vector_score"]))[3] == 0.8
    z = kw.fuse(keyword, vector, 10, fusion="weighted", alpha=0.5, normalization="zscore")
    ks = np.array([10.0, 6.0, 2.0])
    zk = (ks - ks.mean()) / ks.std()
    zv = np.array([1.0, -1.0])
    zmap_k = {1: zk[0], 2: zk[1], 3: zk[2], 4: zk.min()}
    zmap_v = {1: zv.min(), 2: zv.min(), 3: zv[0], 4: zv[1]}
    want = {p: 0.5 * zmap_v[p] + 0.5 * zmap_k[p] for p in zmap_k}
    assert dict(zip(z["pos"].tolist(), z["score"])) == pytest.approx(want)


def test_weighted_alpha_extremes_follow_one_side():
    keyword = (np.array([1, 2, 3]), np.array([3.0, 2.0, 1.0]))
    vector = (np.array([3, 2, 1]), np.array([0.9, 0.5, 0.1]))
    assert kw.fuse(keyword, vector, 3, fusion="weighted", alpha=1.0)["pos"].tolist() == [3, 2, 1]
    assert kw.fuse(keyword, vector, 3, fusion="weighted", alpha=0.0)["pos"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("args, match", [
    ({"alpha": -0.1}, "alpha"), ({"alpha": 1.5}, "alpha"), ({"alpha": "0.5"}, "alpha"),
    ({"rrf_k": 0}, "rrf_k"), ({"rrf_k": -3}, "rrf_k"), ({"rrf_k": float("inf")}, "rrf_k"),
    ({"fusion": "sum"}, "fusion"), ({"normalization": "l2", "fusion": "weighted"}, "normalization"),
])
def test_fusion_validation(docs, args, match):
    with pytest.raises(InvalidInputError, match=match):
        kw.fuse((np.array([1]), np.array([1.0])), (np.array([1]), np.array([1.0])), 3, **args)
    with pytest.raises(InvalidInputError, match=match):
        docs.vec.hybrid("cat", vector=np.ones(8), **args)


def test_hybrid_columns_agree_with_each_side(cisi):
    rng = np.random.default_rng(3)
    df = cisi.vec.attach(rng.normal(size=(len(cisi), 16)).astype(np.float32), name="emb")
    qv = rng.normal(size=16).astype(np.float32)
    q = "library classification schemes"
    hits = df.vec.hybrid(q, k=10, vector=qv, fetch_k=50)
    assert list(hits.columns)[-6:] == ["score", "keyword_rank", "keyword_score", "vector_rank", "vector_score", "rank"]
    kwh = df.vec.keyword(q, k=50)
    vh = df.vec.search(qv, k=50)
    for label, row in hits.iterrows():
        if not np.isnan(row["keyword_rank"]):
            assert kwh.loc[label, "rank"] == row["keyword_rank"]
            assert kwh.loc[label, "score"] == pytest.approx(row["keyword_score"])
        else:
            assert label not in kwh.index
        if not np.isnan(row["vector_rank"]):
            assert vh.loc[label, "rank"] == row["vector_rank"]
            assert vh.loc[label, "score"] == pytest.approx(row["vector_score"])
        else:
            assert label not in vh.index
    # fused score recomputed independently from the two ranked lists
    kr = dict(zip(kwh.index, kwh["rank"]))
    vr = dict(zip(vh.index, vh["rank"]))
    fused = {lab: (1 / (60 + kr[lab]) if lab in kr else 0) + (1 / (60 + vr[lab]) if lab in vr else 0)
             for lab in set(kr) | set(vr)}
    best = sorted(fused, key=lambda lab: -fused[lab])[:10]
    assert hits["score"].tolist() == pytest.approx(sorted((fused[b] for b in best), reverse=True))
    assert hits["rank"].tolist() == list(range(1, 11))


def test_hybrid_where_threshold_batch_and_fetch_k(cisi):
    rng = np.random.default_rng(4)
    df = cisi.vec.attach(rng.normal(size=(len(cisi), 16)).astype(np.float32), name="emb")
    qv = rng.normal(size=(2, 16)).astype(np.float32)
    hits = df.vec.hybrid(["library classification", "citation analysis"], k=5, vector=qv,
                         where={"n_words": {"$lt": 120}}, fusion="weighted", alpha=0.7)
    assert (hits["n_words"] < 120).all()
    assert hits.groupby("query").size().tolist() == [5, 5]
    full = df.vec.hybrid("citation analysis", k=20, vector=qv[1])
    t = full["score"].iloc[7]
    thr = df.vec.hybrid("citation analysis", k=20, vector=qv[1], threshold=t)
    assert len(thr) == 8 and (thr["score"] >= t).all()
    few = df.vec.hybrid("citation analysis", k=3, vector=qv[1], fetch_k=3)
    assert np.nanmax(few[["keyword_rank", "vector_rank"]].to_numpy()) <= 3
    many = df.vec.hybrid("citation analysis", k=30, vector=qv[1], fetch_k=5)  # candidates = max(k, fetch_k)
    assert np.nanmax(many["vector_rank"].to_numpy()) > 5
    with pytest.raises(InvalidInputError, match="fetch_k"):
        df.vec.hybrid("x", vector=qv[0], fetch_k=0)
    with pytest.raises(InvalidInputError, match="one vector per text"):
        df.vec.hybrid(["a", "b"], vector=qv[0])
    with pytest.raises(InvalidInputError, match="query text"):
        df.vec.hybrid(qv[0])


def test_hybrid_with_text_query_uses_the_columns_model(docs):
    def emb(texts):
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % 8] += 1.0
            out[i, 7] += 0.5
        return out

    df = docs.drop(columns="emb").vec.embed("text", model=emb, progress=False, cache=False)
    hits = df.vec.hybrid("cat garden", k=3)
    direct = df.vec.hybrid("cat garden", k=3, vector=emb(["cat garden"])[0])
    pd.testing.assert_frame_equal(hits, direct)
    assert hits.index[0] == "d2"  # the only row with both words ranks first on both sides


# ------------------------------------------------------------------ VectorIndex
def _index(df, store, **opts):
    try:
        return df.vec.index(store=store, **opts)
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"store {store!r} unavailable: {exc}")


def test_index_hybrid_in_process_bm25_equals_frame(cisi):
    rng = np.random.default_rng(5)
    df = cisi.vec.attach(rng.normal(size=(len(cisi), 16)).astype(np.float32), name="emb")
    idx = _index(df, "numpy")
    qv = rng.normal(size=16).astype(np.float32)
    a = kw.hybrid_search_index(idx, "library classification", text="text", k=10, vector=qv)
    b = df.vec.hybrid("library classification", k=10, vector=qv)
    assert list(a.index) == list(b.index)
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-9)
    np.testing.assert_allclose(a["vector_score"], b["vector_score"], rtol=1e-5)
    assert "emb" not in a.columns
    ka = kw.keyword_search_index(idx, "library classification", text="text", k=5, where={"n_words": {"$gt": 150}})
    kb = df.vec.keyword("library classification", k=5, where={"n_words": {"$gt": 150}})
    assert list(ka.index) == list(kb.index)
    notext = _index(df.rename(columns={"text": "body"}), "numpy")
    with pytest.raises(InvalidInputError, match="without a text column"):
        kw.hybrid_search_index(notext, "x", vector=qv)
    assert len(kw.hybrid_search_index(notext, "library", text="body", k=3, vector=qv)) == 3
    idx.close()
    notext.close()


def test_index_hybrid_uses_store_keyword_search(cisi, tmp_path):
    pytest.importorskip("apsw")
    rng = np.random.default_rng(6)
    small = cisi.iloc[:300]
    df = small.vec.attach(rng.normal(size=(len(small), 16)).astype(np.float32), name="emb")
    idx = _index(df, "sqlite", text="text", path=str(tmp_path / "s.db"))
    qv = rng.normal(size=16).astype(np.float32)
    hits = kw.hybrid_search_index(idx, "library classification", k=10, vector=qv, where={"n_words": {"$gt": 80}})
    assert len(hits) == 10 and (hits["n_words"] > 80).all()
    kws = kw.keyword_search_index(idx, "library classification", k=10)
    assert kws["score"].is_monotonic_decreasing and kws["text"].str.contains("ibrar|lassif").all()
    forced = kw.keyword_search_index(idx, "library classification", k=10, keyword_backend="bm25")
    assert len(set(forced.index) & set(kws.index)) >= 5  # FTS5 and bm25s agree on most
    with pytest.raises(InvalidInputError, match="keyword_backend"):
        kw.keyword_search_index(idx, "x", keyword_backend="lucene")
    idx.close()


# ------------------------------------------------------------------ reranking
def brute_mmr(V, q, k, lam):
    U = V / np.linalg.norm(V, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q)
    chosen = []
    for _ in range(k):
        best, arg = -np.inf, None
        for i in range(len(V)):
            if i in chosen:
                continue
            red = max((U[i] @ U[j] for j in chosen), default=0.0)
            val = lam * (U[i] @ qn) - (1 - lam) * red
            if val > best + 1e-12:
                best, arg = val, i
        chosen.append(arg)
    return chosen


def test_mmr_matches_brute_force_and_diversifies():
    rng = np.random.default_rng(7)
    V = rng.normal(size=(30, 6))
    q = rng.normal(size=6)
    for div in (0.0, 0.3, 0.7, 1.0):
        order, vals = kw.mmr(V, 10, diversity=div, query_vector=q)
        assert order.tolist() == brute_mmr(V, q, 10, 1 - div)
        assert len(vals) == 10
    rel = (V / np.linalg.norm(V, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    assert kw.mmr(V, 5, diversity=0.0, query_vector=q)[0].tolist() == np.argsort(-rel)[:5].tolist()
    # a near-duplicate of the best candidate is pushed down
    top = int(np.argmax(rel))
    W = np.vstack([V, V[top] * 1.001])
    plain = kw.mmr(W, 3, diversity=0.0, query_vector=q)[0].tolist()
    diverse = kw.mmr(W, 3, diversity=0.5, query_vector=q)[0].tolist()
    assert 30 in plain and 30 not in diverse
    # without a query vector: relevance = normalised retrieval scores
    by_score = kw.mmr(V, 4, diversity=0.0, relevance=np.arange(30)[::-1].astype(float))[0]
    assert by_score.tolist() == [0, 1, 2, 3]
    for bad in (-0.1, 1.1, "x", True):
        with pytest.raises(InvalidInputError, match="diversity"):
            kw.mmr(V, 3, diversity=bad, query_vector=q)


def test_rerank_hits_mmr_and_cross_encoder(docs):
    hits = docs.vec.keyword("cat dog garden library", k=8)
    V = docs.vec.matrix("emb")[[docs.index.get_loc(x) for x in hits.index]]
    out = kw.rerank_hits(hits, "mmr", 4, diversity=0.5, vectors=V, query_vectors={None: np.ones(8)})
    assert len(out) == 4 and out["rank"].tolist() == [1, 2, 3, 4] and "rerank_score" in out
    assert set(out.index) <= set(hits.index)
    assert out["score"].tolist() == hits.loc[out.index, "score"].tolist()  # retrieval score kept

    def by_length(query, texts):
        assert query == "cat dog garden library"
        return [len(t) for t in texts]

    ce = kw.rerank_hits(hits, by_length, 3, queries={None: "cat dog garden library"}, text="text")
    assert ce["text"].str.len().tolist() == sorted(hits["text"].str.len(), reverse=True)[:3]
    with pytest.raises(InvalidInputError, match="returned 1 scores"):
        kw.rerank_hits(hits, lambda q, t: [1.0], 3, queries={None: "q"}, text="text")
    with pytest.raises(InvalidInputError, match="failed"):
        kw.rerank_hits(hits, lambda q, t: 1 / 0, 3, queries={None: "q"}, text="text")
    with pytest.raises(ColumnNotFoundError):
        kw.rerank_hits(hits, by_length, 3, queries={None: "q"}, text="body")
    with pytest.raises(InvalidInputError, match="Unknown rerank"):
        kw.rerank_hits(hits, "bm25", 3)
    batch = docs.vec.keyword(["cat", "library"], k=3)
    ceb = kw.rerank_hits(batch, lambda q, t: [-len(x) for x in t], 2, text="text")
    assert ceb.groupby("query").size().tolist() == [2, 2]


@pytest.mark.server
def test_index_hybrid_on_pgvector_uses_postgres_full_text(cisi, pg_url):
    """Real PostgreSQL (pgvector + tsvector): the keyword side is the server's full-text search,
    the fused result has the same shape as in process."""
    pytest.importorskip("psycopg")
    rng = np.random.default_rng(8)
    small = cisi.iloc[:300]
    df = small.vec.attach(rng.normal(size=(len(small), 16)).astype(np.float32), name="emb")
    table = f"kwtest_{rng.integers(1e9)}"
    idx = _index(df, "pgvector", text="text", url=pg_url, table=table, kind="exact")
    local = _index(df, "numpy", text="text")
    qv = rng.normal(size=16).astype(np.float32)
    try:
        hits = kw.hybrid_search_index(idx, "library classification", k=10, vector=qv, where={"n_words": {"$gt": 80}})
        same = kw.hybrid_search_index(local, "library classification", k=10, vector=qv, where={"n_words": {"$gt": 80}})
        assert list(hits.columns) == list(same.columns) and len(hits) == 10
        assert (hits["n_words"] > 80).all()
        # vector side: both stores search exactly, so ranks and scores agree
        vec = kw.hybrid_search_index(idx, "library classification", k=10, vector=qv, alpha=1.0)
        vec_local = kw.hybrid_search_index(local, "library classification", k=10, vector=qv, alpha=1.0)
        assert list(vec.index) == list(vec_local.index)
        np.testing.assert_allclose(vec["vector_score"], vec_local["vector_score"], rtol=1e-4)
        # keyword side: PostgreSQL's ranking of documents that contain the words
        kws = kw.keyword_search_index(idx, "library classification", k=10)
        assert len(kws) == 10 and kws["text"].str.contains("ibrar|lassif").all()
        assert kws["score"].is_monotonic_decreasing
    finally:
        idx.close()
        local.close()
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(psycopg.sql.Identifier(table)))


def test_index_hybrid_on_elasticsearch_store_against_the_emulator(cisi):
    """Elasticsearch's keyword side is a ``match`` query. No Elasticsearch server can run here,
    so this runs the real ElasticsearchStore against the EMULATOR in tests/stores/es_emulator.py
    (a stand-in with a plain BM25, not Elasticsearch): it checks the plumbing and the fused
    shape, not Elasticsearch's scores."""
    pytest.importorskip("elasticsearch")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "stores"))
    try:
        import es_emulator
    finally:
        sys.path.pop(0)
    url, stop = es_emulator.start()
    rng = np.random.default_rng(9)
    small = cisi.iloc[:200]
    df = small.vec.attach(rng.normal(size=(len(small), 16)).astype(np.float32), name="emb")
    qv = rng.normal(size=16).astype(np.float32)
    try:
        idx = _index(df, "elasticsearch", text="text", url=url, index="kwtest", kind="exact")
        local = _index(df, "numpy", text="text")
        hits = kw.hybrid_search_index(idx, "library classification", k=8, vector=qv, where={"n_words": {"$gt": 80}})
        same = kw.hybrid_search_index(local, "library classification", k=8, vector=qv, where={"n_words": {"$gt": 80}})
        assert list(hits.columns) == list(same.columns) and len(hits) == 8 and (hits["n_words"] > 80).all()
        kws = kw.keyword_search_index(idx, "library classification", k=5)
        assert len(kws) == 5 and kws["text"].str.contains("ibrar|lassif").all()
        idx.close()
        local.close()
    finally:
        stop()
