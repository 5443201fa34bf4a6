"""Tests for vecnb.evaluate, checked against ranx (an independent implementation) to 1e-6 on
CISI-like random runs with graded and binary judgments, plus hand-computed cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb.errors import ColumnNotFoundError, InvalidInputError

METRICS = ("ndcg", "recall", "map", "mrr", "precision")
KS = [1, 3, 10, 100]


def cisi_like(seed: int, graded: bool, n_queries: int = 76, n_docs: int = 1460):
    """Random run + qrels shaped like CISI: ~40 judged docs per query, 100-doc runs, and the
    awkward cases: judged queries the run missed, run queries nobody judged, judgments below
    the relevance level, queries with no relevant document, short runs."""
    rng = np.random.default_rng(seed)
    qrels, run = [], []
    for q in range(1, n_queries + 1):
        judged = rng.choice(n_docs, int(rng.integers(1, 80)), replace=False) + 1
        rel = rng.integers(0, 4, len(judged)) if graded else rng.integers(0, 2, len(judged))
        if q % 13 == 0:
            rel[:] = 0  # judged, nothing relevant
        qrels += [(q, int(d), int(r)) for d, r in zip(judged, rel)]
        if q % 11 == 0:
            continue  # the run missed this query
        n = 100 if q % 5 else int(rng.integers(1, 20))
        # bias the run towards judged documents so the metrics are not all ~0
        pool = np.concatenate([judged, rng.choice(n_docs, 150, replace=False) + 1])
        docs = pd.unique(rng.permutation(pool))[:n]
        scores = rng.random(len(docs))
        run += [(q, int(d), float(s)) for d, s in zip(docs, scores)]
    run += [(500, 1, 0.9), (500, 2, 0.8)]  # a query with no judgments
    return (pd.DataFrame(run, columns=["query_id", "doc_id", "score"]),
            pd.DataFrame(qrels, columns=["query_id", "doc_id", "relevance"]))


def ranx_scores(run: pd.DataFrame, qrels: pd.DataFrame, names: list[str]) -> dict[str, dict[int, float]]:
    """Per-query scores from ranx's metric kernels (``ranx.metrics.*``).

    The run is handed over the way ``ranx.evaluate(..., make_comparable=True)`` prepares it:
    every judged query, its documents sorted by score (descending; the random scores have no
    ties), an empty list for a query the run missed, unjudged run queries dropped. ranx's
    ``Run`` / ``Qrels`` builders are skipped only because they JIT-compile numba typed dicts
    (40-90 s on a shared 2-core machine); the high-level path was checked to give the same
    numbers when this test was written.
    """
    pytest.importorskip("ranx")
    from numba.typed import List
    from ranx import metrics as rm

    kernels = {"ndcg": rm.ndcg, "recall": rm.recall, "map": rm.average_precision, "mrr": rm.reciprocal_rank,
               "precision": rm.precision}
    qids = sorted(qrels["query_id"].unique())
    ql, rl = List(), List()
    for q in qids:
        j = qrels[qrels["query_id"] == q].sort_values("relevance", ascending=False)
        ql.append(np.column_stack([j["doc_id"].to_numpy(float), j["relevance"].to_numpy(float)]))
        r = run[run["query_id"] == q].sort_values("score", ascending=False)
        rl.append(np.column_stack([r["doc_id"].to_numpy(float), r["score"].to_numpy(float)]).reshape(-1, 2))
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            m, k = name.split("@")
            out[name] = dict(zip(qids, kernels[m](ql, rl, k=int(k), rel_lvl=1)))
    return out


@pytest.mark.parametrize("graded", [True, False], ids=["graded", "binary"])
def test_equals_ranx(graded):
    run, qrels = cisi_like(seed=1 if graded else 2, graded=graded)
    ours = vecnb.evaluate(run, qrels, k=KS, metrics=METRICS)
    names = [f"{m}@{k}" for m in METRICS for k in KS]
    theirs = ranx_scores(run, qrels, names)
    qids = sorted(qrels["query_id"].unique())
    assert list(ours.index[:-1]) == qids and ours.index[-1] == "mean"
    for name in names:
        got = ours.loc[qids, name].to_numpy(dtype=float)
        want = np.array([theirs[name][q] for q in qids])
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0, err_msg=name)
        assert ours.loc["mean", name] == pytest.approx(want.mean(), abs=1e-6)
    # the metrics are not trivially zero on this data
    assert ours.loc["mean", "ndcg@10"] > 0.05 and ours.loc["mean", "recall@100"] > 0.2


def test_shape_and_names():
    run, qrels = cisi_like(3, graded=False, n_queries=10)
    res = vecnb.evaluate(run, qrels)
    assert list(res.columns) == ["ndcg@10", "recall@10", "map@10", "mrr@10"]
    assert res.index.name == "query_id" and res.index[-1] == "mean"
    assert len(res) == qrels["query_id"].nunique() + 1
    res2 = vecnb.evaluate(run, qrels, k=[100, 5], metrics=["recall", "ndcg"], mean=False)
    assert list(res2.columns) == ["recall@5", "recall@100", "ndcg@5", "ndcg@100"]
    assert res2.index.dtype == qrels["query_id"].dtype
    assert vecnb.evaluate(run, qrels, metrics="mrr").columns.tolist() == ["mrr@10"]


def test_hand_computed_graded():
    qrels = pd.DataFrame({"query_id": [1, 1, 1, 1], "doc_id": ["a", "b", "c", "z"], "relevance": [3, 1, 2, 0]})
    run = pd.DataFrame({"query_id": [1] * 4, "doc_id": ["x", "b", "a", "z"], "score": [0.9, 0.8, 0.7, 0.6]})
    res = vecnb.evaluate(run, qrels, k=[3], metrics=METRICS, mean=False).loc[1]
    dcg = 0 / math.log2(2) + 1 / math.log2(3) + 3 / math.log2(4)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert res["ndcg@3"] == pytest.approx(dcg / idcg)
    assert res["recall@3"] == pytest.approx(2 / 3)
    assert res["map@3"] == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert res["mrr@3"] == pytest.approx(1 / 2)
    assert res["precision@3"] == pytest.approx(2 / 3)
    # relevance_level=2: "b" (relevance 1) no longer counts
    res2 = vecnb.evaluate(run, qrels, k=[3], metrics=["recall", "mrr"], relevance_level=2, mean=False).loc[1]
    assert res2["recall@3"] == pytest.approx(1 / 2) and res2["mrr@3"] == pytest.approx(1 / 3)


def test_rank_column_and_ties_like_trec_eval():
    qrels = pd.DataFrame({"query_id": [7], "doc_id": ["b"], "relevance": [1]})
    # equal scores: trec_eval orders by doc id descending -> "c", "b", "a"
    tied = pd.DataFrame({"query_id": [7, 7, 7], "doc_id": ["a", "b", "c"], "score": [1.0, 1.0, 1.0]})
    assert vecnb.evaluate(tied, qrels, k=1, metrics="mrr", mean=False).loc[7, "mrr@1"] == 0.0
    assert vecnb.evaluate(tied, qrels, k=3, metrics="mrr", mean=False).loc[7, "mrr@3"] == pytest.approx(1 / 2)
    # a rank column is the system's own order and wins over score
    ranked = tied.assign(rank=[2, 1, 3])
    assert vecnb.evaluate(ranked, qrels, k=1, metrics="mrr", mean=False).loc[7, "mrr@1"] == 1.0
    only_rank = ranked.drop(columns="score")
    assert vecnb.evaluate(only_rank, qrels, k=1, metrics="mrr", mean=False).loc[7, "mrr@1"] == 1.0


def test_search_results_evaluate_directly():
    """A search result whose index is named doc_id needs only a query_id column."""
    docs = vecnb.datasets.load("cisi")
    queries = vecnb.datasets.load("cisi", part="queries")
    qrels = vecnb.datasets.load("cisi", part="qrels")
    qid = int(qrels["query_id"].iloc[0])
    hits = docs.vec.keyword(queries.loc[qid, "text"], k=10).assign(query_id=qid)
    res = vecnb.evaluate(hits, qrels[qrels["query_id"] == qid], k=10, mean=False)
    rel = set(qrels.loc[qrels["query_id"] == qid, "doc_id"])
    assert res.loc[qid, "recall@10"] == pytest.approx(len(rel & set(hits.index)) / len(rel))


def test_perfect_and_empty_runs():
    qrels = pd.DataFrame({"query_id": [1, 1, 2], "doc_id": [10, 11, 12], "relevance": [2, 1, 1]})
    perfect = pd.DataFrame({"query_id": [1, 1, 2], "doc_id": [10, 11, 12], "score": [3.0, 2.0, 1.0]})
    res = vecnb.evaluate(perfect, qrels, k=10, metrics=("ndcg", "recall", "map", "mrr"))
    assert (res.to_numpy() == 1.0).all()
    empty = perfect.iloc[:0]
    assert (vecnb.evaluate(empty, qrels, k=10).to_numpy() == 0.0).all()


@pytest.mark.parametrize("mutate, err, match", [
    (lambda r, q: (r.drop(columns="doc_id"), q), ColumnNotFoundError, "doc_id"),
    (lambda r, q: (r.drop(columns="score"), q), ColumnNotFoundError, "score"),
    (lambda r, q: (r, q.drop(columns="relevance")), ColumnNotFoundError, "relevance"),
    (lambda r, q: (pd.concat([r, r.iloc[:1]]), q), InvalidInputError, "once per query"),
    (lambda r, q: (r.astype({"doc_id": str}), q), InvalidInputError, "never match"),
    (lambda r, q: (r.assign(score=np.nan), q), InvalidInputError, "non-finite"),
    (lambda r, q: (r, q.assign(relevance="high")), InvalidInputError, "numeric"),
])
def test_errors(mutate, err, match):
    run, qrels = cisi_like(4, graded=True, n_queries=5)
    r, q = mutate(run, qrels)
    with pytest.raises(err, match=match):
        vecnb.evaluate(r, q)


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 0}, "k must"), ({"k": []}, "empty"), ({"k": "10"}, "k must"), ({"metrics": ["f1"]}, "Unknown metric"),
    ({"metrics": []}, "empty"), ({"relevance_level": "1"}, "relevance_level"),
])
def test_argument_validation(kwargs, match):
    run, qrels = cisi_like(5, graded=True, n_queries=5)
    with pytest.raises(InvalidInputError, match=match):
        vecnb.evaluate(run, qrels, **kwargs)
