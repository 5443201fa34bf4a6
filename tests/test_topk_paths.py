"""Exact top-k takes different paths by query count and matrix (one query, blocks of many
queries, faiss's batched kernel for unit rows, cached vs uncached norms): every path must give
the same rows in the same order, with the same float64 scores, as one query at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vecnb._core import metrics


def _data(n: int, d: int, seed: int, *, unit: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(8, d))
    X = (centers[rng.integers(0, 8, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    if unit:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    X.flags.writeable = False  # what a frame's column gives: cached norms
    return X


def _one_by_one(X: np.ndarray, Q: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    got = [metrics.topk(X, Q[i:i + 1], k, metric) for i in range(len(Q))]
    return np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> None:
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12, atol=0)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("unit", [True, False])
def test_batched_equals_one_query_at_a_time(metric, unit):
    X = _data(3000, 24, 1, unit=unit)
    Q = _data(40, 24, 2, unit=False)  # >= 16 queries: faiss's kernel when it applies
    want = _one_by_one(X, Q, 7, metric)
    _same(metrics.topk(X, Q, 7, metric), want)
    # the exact scores are the float64 definition of each metric
    ref = metrics.exact_scores(X[want[0][3]], Q[3], metric)
    np.testing.assert_allclose(want[1][3], ref, rtol=1e-12)


@pytest.mark.parametrize("block_rows", [1, 3, 16, 17])
def test_score_blocks_give_the_unblocked_answer(monkeypatch, block_rows):
    X = _data(2500, 16, 3, unit=False)  # not unit: the numpy blocked path (no faiss)
    Q = _data(50, 16, 4, unit=False)
    want = metrics.topk(X, Q, 5, "cosine")
    monkeypatch.setattr(metrics, "_BLOCK_BYTES", block_rows * 4 * len(X))  # blocks of block_rows queries
    _same(metrics.topk(X, Q, 5, "cosine"), want)
    rows = np.arange(0, 2500, 3)
    monkeypatch.setattr(metrics, "_BLOCK_BYTES", 96 * 2**20)
    want_f = metrics.topk(X, Q, 5, "cosine", rows=rows)
    monkeypatch.setattr(metrics, "_BLOCK_BYTES", block_rows * 4 * len(X))
    _same(metrics.topk(X, Q, 5, "cosine", rows=rows), want_f)


def test_cached_norms_give_the_scores_of_an_uncached_copy():
    X = _data(2000, 32, 5, unit=False)
    Q = _data(30, 32, 6, unit=False)
    cached = metrics.topk(X, Q, 9, "cosine")
    fresh = metrics.topk(X.copy(), Q, 9, "cosine")  # writeable: norms computed per call, no float64 cache
    np.testing.assert_array_equal(cached[0], fresh[0])
    np.testing.assert_array_equal(cached[1], fresh[1])  # the same float64 sums, bit for bit


@pytest.mark.parametrize("nq", [1, 20])
def test_ties_lower_position_first_on_every_path(nq):
    base = _data(400, 12, 7, unit=True)
    X = np.repeat(np.array(base), 3, axis=0)  # every row three times: ties everywhere
    X.flags.writeable = False
    Q = _data(nq, 12, 8, unit=False)
    pos, sc = metrics.topk(X, Q, 7, "cosine")
    for i in range(nq):
        s = metrics.exact_scores(X, Q[i], "cosine")
        order = np.lexsort((np.arange(len(X)), -s))[:7]
        np.testing.assert_array_equal(pos[i], order)
        np.testing.assert_allclose(sc[i], s[order], rtol=1e-12)


@pytest.mark.parametrize("nq", [1, 20])
def test_k_past_the_rows_gives_every_row_sorted(nq):
    X = _data(30, 8, 9, unit=True)
    Q = _data(nq, 8, 10, unit=False)
    pos, sc = metrics.topk(X, Q, 1000, "cosine")
    assert pos.shape == (nq, 30)
    for i in range(nq):
        s = metrics.exact_scores(X, Q[i], "cosine")
        np.testing.assert_array_equal(pos[i], np.lexsort((np.arange(30), -s)))


def test_frame_search_batched_equals_single_queries():
    X = _data(3000, 24, 11, unit=True)
    df = pd.DataFrame({"n": np.arange(3000)}).vec.attach(np.array(X), name="emb")
    Q = _data(25, 24, 12, unit=False)
    batch = df.vec.search(Q, k=6)
    for i in (0, 13, 24):
        one = df.vec.search(Q[i], k=6)
        got = batch[batch["query"] == i]
        np.testing.assert_array_equal(got["n"].to_numpy(), one["n"].to_numpy())
        np.testing.assert_allclose(got["score"].to_numpy(), one["score"].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_rescoring_in_slices_over_the_cores_equals_one_pass(monkeypatch, metric):
    from vecnb._core import threads

    X = _data(2000, 16, 13, unit=metric == "cosine")
    Q = _data(37, 16, 14, unit=False)  # rows not a multiple of the slices
    monkeypatch.setattr(metrics, "_PARALLEL_HITS", 1 << 40)
    want = metrics.topk(X, Q, 8, metric)
    monkeypatch.setattr(metrics, "_PARALLEL_HITS", 1)
    monkeypatch.setattr(threads, "CPUS", 3)  # three slices even on a 2-core machine
    got = metrics.topk(X, Q, 8, metric)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert threads.in_slices(lambda a, b: (a, b), 7) == [(0, 2), (2, 4), (4, 7)]
    assert threads.in_slices(lambda a, b: (a, b), 2) == [(0, 1), (1, 2)]  # never an empty slice


def test_embedding_columns_follow_the_recorded_columns_and_the_layout():
    from vecnb.frame.columns import embedding_columns, set_info

    df = pd.DataFrame({"t": ["a", "b"], "n": [1, 2]}).vec.attach(np.eye(2, 3), name="v")
    assert embedding_columns(df) == ["v"] and embedding_columns(df) == ["v"]  # the second from the cache
    df = df.vec.attach(np.eye(2, 4), name="w")  # a new layout and a new record
    assert embedding_columns(df) == ["v", "w"]
    set_info(df, "n", {"dim": 1})  # a recorded column that is not a vector column: same layout, new record
    assert embedding_columns(df) == ["v", "w", "n"]
    set_info(df, "n", None)
    assert embedding_columns(df) == ["v", "w"]
    assert "v" not in df.drop(columns="v").vec.search(np.ones(4), k=1, column="w").columns
    hits = df.vec.search(np.ones(3), k=1, column="v")
    assert list(hits.columns) == ["t", "n", "score", "rank"]


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_one_query_exact_scores_are_the_batch_sums(metric):
    X = _data(500, 40, 15, unit=False)
    Q = _data(3, 40, 16, unit=False)
    p = np.array([[4, 99, 3, 250], [0, 1, 2, 3], [499, 7, 7, 8]])
    block = metrics._exact_block(X, p, Q, metric)
    for i in range(3):
        np.testing.assert_array_equal(metrics._exact_one(X, p[i], Q[i], metric), block[i])


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("nq", [1, 40])
def test_few_filtered_rows_of_a_writable_matrix_equal_the_cached_path(metric, nq):
    """A store's own (writable, uncached) matrix with a selective filter scores only the eligible
    rows; same positions, order and scores as the read-only matrix (cached norms) and as brute force,
    with rows given unsorted and ties among them."""
    X = _data(4000, 24, 5, unit=False)
    W = X.copy()                                  # writable: norms not cached
    W[100] = W[7]                                 # a tie inside the filter: position 7 must come first
    R = W.copy()
    R.flags.writeable = False
    rng = np.random.default_rng(1)
    rows = rng.choice(len(W), 300, replace=False)
    rows = np.concatenate([rows[rows != 7], [100, 7]])  # unsorted, the tied pair reversed
    Q = np.concatenate([W[7:8] + 0.01, rng.normal(size=(nq - 1, 24)).astype(np.float32)])
    got = metrics.topk(W, Q, 10, metric, rows=rows)
    _same(got, metrics.topk(R, Q, 10, metric, rows=rows))
    sub = np.sort(rows)
    ref = metrics.topk(np.ascontiguousarray(R[sub]), Q, 10, metric)
    _same(got, (sub[ref[0]], ref[1]))
    for hits in got[0]:   # rows 7 and 100 are equal: 7 first, or 7 alone at the k-th place
        h = list(hits)
        if 100 in h:
            assert 7 in h and h.index(7) < h.index(100)
    assert 7 in got[0][0] and set(got[0].ravel()) <= set(rows.tolist())


def test_top_by_position_one_query_matches_the_batch_path():
    # one query is judged in plain Python (ties.py _one_row), a batch by numpy: the same hits, ties at
    # the k-th score (and beyond what the store first returned) to the lower position, padding last
    from vecnb._core.ties import top_by_position

    rng = np.random.default_rng(5)
    for trial in range(300):
        rows = int(rng.integers(1, 30))
        k = int(rng.integers(1, rows + 3))
        k = min(k, rows)
        levels = rng.integers(0, 4, size=(3, rows)).astype(np.float64) / 4  # many equal scores
        keys_all = np.stack([rng.permutation(rows) for _ in range(3)])
        pos_of = rng.permutation(rows)
        order = np.argsort(-levels, axis=1, kind="stable")
        sc_sorted = np.take_along_axis(levels, order, axis=1)
        keys_sorted = np.take_along_axis(keys_all, order, axis=1)
        if trial % 5 == 0:  # a store that came back short: padding
            cut = int(rng.integers(0, rows))
            keys_sorted[:, cut:] = -1
            sc_sorted[:, cut:] = -np.inf

        def positions(ks):
            return np.where(ks >= 0, pos_of[np.maximum(ks, 0)], -1)

        batch = top_by_position(lambda n: (keys_sorted[:, :n], sc_sorted[:, :n]), k, rows, positions)
        for i in range(3):
            one = top_by_position(lambda n: (keys_sorted[i:i + 1, :n], sc_sorted[i:i + 1, :n]), k, rows, positions)
            for a, b in zip(one, batch):
                np.testing.assert_array_equal(a[0], b[i])
        # ties resolved by position: among equal scores the positions ascend
        k_, p, s = batch
        for i in range(3):
            for j in range(k - 1):
                if s[i, j] == s[i, j + 1] and p[i, j + 1] >= 0:
                    assert p[i, j] < p[i, j + 1]
