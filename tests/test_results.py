"""Result frames (vecnb.results.build_hits): the same frame pandas' own take would give, for every dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vecnb  # noqa: F401  (df.vec)
from vecnb.frame import results
from vecnb.frame.results import build_hits


def _mixed(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "i": np.arange(n),
        "f": rng.random(n),
        "s": [f"doc {i}" for i in range(n)],
        "o": [{"k": i} if i % 3 else None for i in range(n)],
        "cat": pd.Categorical(np.array(["a", "b", "c"])[np.arange(n) % 3]),
        "t": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
        "naive": pd.date_range("2021-01-01", periods=n, freq="h"),
        "ni": pd.array([None if i % 5 == 0 else i for i in range(n)], dtype="Int64"),
        "b": np.arange(n) % 2 == 0,
    }, index=pd.Index([f"r{i}" for i in range(n)], name="key"))
    return df.vec.attach(rng.standard_normal((n, 8)).astype(np.float32), name="emb")


def _reference(frame, pos, scores, queries=None, threshold=None):
    """What a result must equal: pandas' own row take plus score / rank (/ query) columns."""
    nq, k = pos.shape
    parts = []
    for i in range(nq):
        keep = pos[i] >= 0
        if threshold is not None:
            keep &= scores[i] >= threshold
        part = frame.iloc[pos[i][keep]].copy()
        part["score"] = scores[i][keep].astype(np.float64)
        part["rank"] = np.arange(1, k + 1, dtype=np.int64)[keep]
        if queries is not None:
            part["query"] = pd.Series([queries[i]] * int(keep.sum()), index=part.index)
        parts.append(part)
    return pd.concat(parts)


@pytest.mark.parametrize("threshold", [None, 0.5])
def test_build_hits_equals_pandas_take_for_every_dtype(threshold):
    df = _mixed()
    pos = np.array([[5, 0, 39, -1], [7, 7, 3, 2]])
    scores = np.array([[0.9, 0.8, 0.4, -np.inf], [0.99, 0.7, 0.6, 0.1]])
    got = build_hits(df, pos, scores, queries=["q0", "q1"], threshold=threshold)
    want = _reference(df, pos, scores, queries=["q0", "q1"], threshold=threshold)
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs == df.attrs and got.attrs is not df.attrs


def test_build_hits_single_query_no_query_column():
    df = _mixed()
    got = build_hits(df, np.array([[3, 1]]), np.array([[0.5, 0.25]]))
    assert list(got.columns) == [*df.columns, "score", "rank"]
    pd.testing.assert_frame_equal(got, _reference(df, np.array([[3, 1]]), np.array([[0.5, 0.25]])))


def test_build_hits_result_is_independent_of_the_frame():
    df = _mixed()
    got = build_hits(df, np.array([[3, 1]]), np.array([[0.5, 0.25]]))
    got.loc["r3", "f"] = -1.0
    got.loc["r3", "s"] = "changed"
    assert df.loc["r3", "f"] != -1.0 and df.loc["r3", "s"] == "doc 3"


def test_build_hits_duplicate_names_and_existing_score_column():
    df = pd.DataFrame([[1, 2, 0.5], [3, 4, 0.7]], columns=["a", "a", "score"])
    got = build_hits(df, np.array([[1, 0]]), np.array([[0.9, 0.1]]))
    assert list(got.columns) == ["a", "a", "score", "rank"]
    assert got["score"].tolist() == [0.9, 0.1]  # the search's score replaces the frame's
    assert got.iloc[:, 0].tolist() == [3, 1] and got.iloc[:, 1].tolist() == [4, 2]
    dup = pd.DataFrame([[1, 2], [3, 4]], columns=["a", "a"])
    got = build_hits(dup, np.array([[1]]), np.array([[0.3]]))
    assert list(got.columns) == ["a", "a", "score", "rank"] and got.iloc[0, :2].tolist() == [3, 4]


def test_build_hits_empty_and_extra_columns():
    df = _mixed()
    empty = results.empty_hits(df, with_query=True)
    assert len(empty) == 0 and list(empty.columns) == [*df.columns, "score", "rank", "query"]
    got = build_hits(df, np.array([[2, 4]]), np.array([[0.5, 0.4]]), extra={"keyword_rank": np.array([[1, 2]])})
    assert list(got.columns)[-3:] == ["score", "keyword_rank", "rank"]
    assert got["keyword_rank"].tolist() == [1, 2]


def test_build_hits_per_column_fallback_gives_the_same_frame(monkeypatch):
    df = _mixed()
    pos = np.array([[5, 0, 39], [7, 3, 2]])
    scores = np.array([[0.9, 0.8, 0.4], [0.99, 0.7, 0.6]])
    fast = [build_hits(df, pos, scores, queries=q) for q in (["a", "b"], [0, 1], None)]
    monkeypatch.setattr(results, "_from_blocks", None)
    slow = [build_hits(df, pos, scores, queries=q) for q in (["a", "b"], [0, 1], None)]
    for f, s in zip(fast, slow):
        pd.testing.assert_frame_equal(f, s)


def test_search_after_columns_change_uses_new_labels():
    df = _mixed()
    q = df.vec.matrix("emb")[4]
    first = df.vec.search(q, k=2)
    df2 = df.rename(columns={"s": "title"})
    second = df2.vec.search(q, k=2)
    assert "title" in second.columns and "s" not in second.columns and "s" in first.columns


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_single_query_path_matches_batched_topk(metric):
    from vecnb._core.metrics import exact_scores, topk

    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, 16)).astype(np.float32)
    X[10] = X[20]  # an exact tie: the lower position ranks first
    q = X[20:21] + 0.01
    pos, sc = topk(X, q, 7, metric)
    pos2, sc2 = topk(X, np.vstack([q, q]), 7, metric)
    assert pos[0].tolist() == pos2[0].tolist()
    np.testing.assert_allclose(sc[0], sc2[0], atol=1e-9)
    want = exact_scores(X, q[0], metric)
    order = np.lexsort((np.arange(len(X)), -want))[:7]
    assert pos[0].tolist() == order.tolist()
    np.testing.assert_allclose(sc[0], want[order], atol=1e-6)
    rows = np.arange(0, 3000, 3)
    pos3, _ = topk(X, q, 5, metric, rows=rows)
    sub = rows[np.lexsort((rows, -want[rows]))[:5]]
    assert pos3[0].tolist() == sub.tolist()
