"""vecnb.viz: every number the widgets show, checked against an independent computation.

Independent references: scipy's ``cdist`` for scores, Python's ``sorted`` for ranks and
top-k lists, Python sets for overlaps, scikit-learn's PCA, matplotlib's ``Path`` for the
lasso, hand-written binning for the histograms, and ``df.vec.search`` for the top-k.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd
import pytest

import vecnb  # noqa: F401 - registers df.vec
from vecnb import viz
from vecnb.errors import InvalidInputError, InvalidVectorError, UnknownMetricError

METRICS = ("cosine", "dot", "l2")


@pytest.fixture(scope="module")
def data():
    """Vectors whose norms vary a lot (so the metrics disagree), labelled by string ids."""
    rng = np.random.default_rng(7)
    n, d = 400, 24
    X = rng.standard_normal((n, d)) * rng.uniform(0.2, 4.0, (n, 1))
    X = X.astype(np.float32)
    q = rng.standard_normal(d).astype(np.float32)
    index = pd.Index([f"doc{i:03d}" for i in range(n)], name="doc_id")
    return X, q, index


def _reference_scores(X, q):
    from scipy.spatial.distance import cdist

    X64, q64 = X.astype(np.float64), q.astype(np.float64)[None, :]
    return {
        "cosine": 1.0 - cdist(X64, q64, "cosine")[:, 0],
        "dot": np.array([sum(float(a) * float(b) for a, b in zip(row, q64[0])) for row in X64]),
        "l2": -cdist(X64, q64, "euclidean")[:, 0],
    }


def _reference_order(scores):
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


# ---------------------------------------------------------------------------- metric comparison
def test_metric_scores_match_scipy(data):
    X, q, index = data
    s = viz.metric_scores(X, q, index=index)
    ref = _reference_scores(X, q)
    assert list(s.columns) == ["pos", "cosine", "dot", "l2", "norm"]
    assert s.index.equals(index)
    for m in METRICS:
        np.testing.assert_allclose(s[m].to_numpy(), ref[m], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(s["norm"], [statistics.fmean(float(v) ** 2 for v in r) ** 0.5 * len(r) ** 0.5
                                           for r in X.astype(np.float64)], rtol=1e-9)


def test_metric_scores_rows_and_aliases(data):
    X, q, index = data
    rows = np.array([5, 3, 100])
    s = viz.metric_scores(X, q, ["cos", "ip"], index=index, rows=rows)
    assert list(s.columns) == ["pos", "cosine", "dot", "norm"]
    assert list(s.index) == ["doc005", "doc003", "doc100"]
    assert s["pos"].tolist() == [5, 3, 100]
    with pytest.raises(UnknownMetricError):
        viz.metric_scores(X, q, ["manhattan"])
    with pytest.raises(InvalidInputError):
        viz.metric_scores(X, np.ones((2, X.shape[1]), np.float32))
    Z = X.copy()
    Z[4] = 0
    with pytest.raises(InvalidVectorError):
        viz.metric_scores(Z, q, ["cosine"])
    assert np.isfinite(viz.metric_scores(Z, q, ["dot", "l2"])["dot"]).all()  # zero rows are fine for dot / l2


def test_ranks_match_python_sort(data):
    X, q, index = data
    # ties: duplicate a row so two rows have the same score under every metric
    X = X.copy()
    X[10] = X[200]
    s = viz.metric_scores(X, q, index=index)
    r = viz.metric_ranks(s)
    for m in METRICS:
        order = _reference_order(s[m].tolist())
        expect = np.empty(len(order), int)
        expect[order] = np.arange(1, len(order) + 1)
        assert r[m].tolist() == expect.tolist()
    assert r.loc["doc010", "dot"] < r.loc["doc200", "dot"]  # tie: lower position first


@pytest.mark.parametrize("k", [1, 7, 25])
def test_compare_table_against_independent_top_k(data, k):
    X, q, index = data
    ref = _reference_scores(X, q)
    tops = {m: [index[i] for i in _reference_order(list(ref[m]))[:k]] for m in METRICS}
    full_rank = {m: {index[i]: r + 1 for r, i in enumerate(_reference_order(list(ref[m])))} for m in METRICS}
    t = viz.compare_table(viz.metric_scores(X, q, index=index), k)
    union = set().union(*map(set, tops.values()))
    assert set(t.index) == union and len(t) == len(union)
    for label, row in t.iterrows():
        inside = [m for m in METRICS if label in tops[m]]
        assert row["n_top"] == len(inside)
        assert row["agree"] == (len(inside) == 3)
        for m in METRICS:
            assert row[f"rank_{m}"] == full_rank[m][label]
            assert row[f"top_{m}"] == (label in tops[m])
        assert row["move_dot"] == full_rank["dot"][label] - full_rank["cosine"][label]
        assert row["move_l2"] == full_rank["l2"][label] - full_rank["cosine"][label]
        ranks = [full_rank[m][label] for m in METRICS]
        assert row["rank_spread"] == max(ranks) - min(ranks)
    assert t["rank_cosine"].is_monotonic_increasing
    ov = viz.overlap(t)
    for a in METRICS:
        for b in METRICS:
            assert ov.loc[a, b] == len(set(tops[a]) & set(tops[b]))
    side = viz.side_by_side(t, k)
    assert list(side.index) == list(range(1, k + 1))
    for m in METRICS:
        assert side[m].tolist() == tops[m]
        np.testing.assert_allclose(side[f"{m}_score"], [ref[m][index.get_loc(lab)] for lab in tops[m]], rtol=1e-9)
        assert side[f"{m}_move"].tolist() == [full_rank["cosine"][lab] - full_rank[m][lab] for lab in tops[m]]
    assert (side["cosine_move"] == 0).all()


def test_compare_table_equals_df_vec_search(data):
    X, q, index = data
    df = pd.DataFrame({"n": np.arange(len(X))}, index=index).vec.attach(X)
    t = viz.compare_table(viz.metric_scores(X, q, index=index), 10)
    for m in METRICS:
        hits = df.vec.search(q, k=10, metric=m)
        top = t[t[f"top_{m}"]].sort_values(f"rank_{m}")
        assert top.index.tolist() == hits.index.tolist()
        np.testing.assert_allclose(top[f"score_{m}"], hits["score"], rtol=1e-6, atol=1e-6)


def test_normalised_vectors_all_metrics_agree(data):
    X, q, index = data
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    t = viz.compare_table(viz.metric_scores(Xn, q / np.linalg.norm(q), index=index), 10)
    assert len(t) == 10 and t["agree"].all() and (t["rank_spread"] == 0).all()
    norms = viz.norm_spread(viz.metric_scores(Xn, q, index=index), t)
    assert norms.loc["all rows", "cv"] < 1e-6


def test_score_histograms_hand_binned(data):
    X, q, index = data
    s = viz.metric_scores(X, q, index=index)
    t = viz.compare_table(s, 10)
    h = viz.score_histograms(s, t, bins=12)
    assert len(h) == 36
    for m in METRICS:
        part = h[h.metric == m]
        v = s[m].to_numpy()
        lo, hi = v.min(), v.max()
        counts = [0] * 12
        for x in v:
            counts[min(int((x - lo) / (hi - lo) * 12), 11)] += 1
        assert part["count"].tolist() == counts
        assert part["top_count"].sum() == 10
        assert part["left"].iloc[0] == pytest.approx(lo) and part["right"].iloc[-1] == pytest.approx(hi)
        best = t.loc[t[f"top_{m}"], f"score_{m}"].min()
        assert part.loc[part["top_count"] > 0, "right"].max() == pytest.approx(hi)
        assert part.loc[part["top_count"] > 0, "left"].min() <= best


def test_norm_spread_statistics(data):
    X, q, index = data
    s = viz.metric_scores(X, q, index=index)
    t = viz.compare_table(s, 10)
    ns = viz.norm_spread(s, t)
    assert list(ns.index) == ["all rows", "top-k cosine", "top-k dot", "top-k l2"]
    norms = [float(np.sqrt((r.astype(np.float64) ** 2).sum())) for r in X]
    assert ns.loc["all rows", "count"] == len(X)
    assert ns.loc["all rows", "mean"] == pytest.approx(statistics.fmean(norms))
    assert ns.loc["all rows", "std"] == pytest.approx(statistics.stdev(norms))
    assert ns.loc["all rows", "50%"] == pytest.approx(statistics.median(norms))
    dot_top = [norms[index.get_loc(lab)] for lab in t.index[t["top_dot"]]]
    assert ns.loc["top-k dot", "mean"] == pytest.approx(statistics.fmean(dot_top))
    # the point of the panel: dot prefers long vectors, l2 short ones
    assert ns.loc["top-k dot", "mean"] > ns.loc["all rows", "mean"] > ns.loc["top-k l2", "mean"]


# ---------------------------------------------------------------------------- projections
def test_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    X = (rng.standard_normal((300, 16)) @ rng.standard_normal((16, 16))).astype(np.float32)
    coords, mean, comps, expl = viz.pca(X)
    sk = PCA(n_components=2, svd_solver="full").fit(X.astype(np.float64))
    ref = sk.transform(X.astype(np.float64))
    for j in range(2):
        sign = np.sign(ref[:, j] @ coords[:, j])
        np.testing.assert_allclose(coords[:, j], sign * ref[:, j], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(expl, sk.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(mean, sk.mean_, rtol=1e-6, atol=1e-6)
    # sign convention: largest-magnitude loading positive -> the same map on every run
    assert (comps[np.arange(2), np.abs(comps).argmax(axis=1)] > 0).all()


def test_project_cache_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("VECNB_CACHE_DIR", str(tmp_path))
    viz.clear_projection_cache()
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 32)).astype(np.float32)
    a = viz.project(X, "pca")
    assert a.source == "computed" and a.coords.shape == (500, 2) and a.method == "pca"
    t0 = time.perf_counter()
    b = viz.project(X.copy(), "pca")  # same content, another array
    assert time.perf_counter() - t0 < 0.5
    assert b.source == "memory" and b.key == a.key
    np.testing.assert_array_equal(a.coords, b.coords)
    X2 = X.copy()
    X2[3, 3] += 1e-3
    c = viz.project(X2, "pca")
    assert c.source == "computed" and c.key != a.key
    viz.clear_projection_cache()  # a new kernel: the disk copy answers
    d = viz.project(X, "pca")
    assert d.source == "disk"
    np.testing.assert_array_equal(d.coords, a.coords)
    np.testing.assert_allclose(d.transform(X[:5]), a.coords[:5], atol=1e-4)
    assert list(tmp_path.joinpath("_projections").glob("*.npz"))
    assert viz.project(X, "pca", cache=False).source == "computed"


def test_content_key():
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert viz.content_key(X) == viz.content_key(X.copy())
    assert viz.content_key(X) != viz.content_key(X.reshape(4, 3))
    Y = X.copy()
    Y[0, 0] = -1
    assert viz.content_key(X) != viz.content_key(Y)
    R = X.copy()
    R.setflags(write=False)
    assert viz.content_key(R) == viz.content_key(X) == viz.content_key(R)


def test_project_validation():
    with pytest.raises(InvalidInputError):
        viz.project(np.ones((1, 3), np.float32), "pca")
    with pytest.raises(InvalidInputError):
        viz.project(np.ones((5, 3), np.float32), "tsne")
    bad = np.ones((5, 3), np.float32)
    bad[1, 1] = np.nan
    with pytest.raises(InvalidVectorError):
        viz.project(bad, "pca", cache=False)


@pytest.mark.skipif(not viz.umap_available(), reason="umap-learn is not installed")
def test_umap_keeps_clusters_apart():
    """One small UMAP call (its first call JIT-compiles for ~15 s): clusters stay clusters."""
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((3, 32)) * 4
    lab = np.repeat(np.arange(3), 40)
    X = (centers[lab] + rng.standard_normal((120, 32))).astype(np.float32)
    p = viz.project(X, "umap", cache=True, seed=0)
    assert p.method == "umap" and p.coords.shape == (120, 2) and np.isfinite(p.coords).all()
    # 5-NN label agreement in 2-D (an independent brute force)
    D = ((p.coords[:, None, :] - p.coords[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    nn = np.argsort(D, axis=1)[:, :5]
    assert (lab[nn] == lab[:, None]).mean() > 0.95
    assert viz.project(X, "umap", seed=0).source == "memory"
    # a query lands at the weighted mean of its neighbours
    xy = viz.place_query(p, X[0], p.coords[:3], np.array([1.0, 0.5, 0.5]))
    w = np.array([1.0, 0.5, 0.5]) - 0.5 + 0.05
    np.testing.assert_allclose(xy, (w[:, None] * p.coords[:3]).sum(0) / w.sum(), rtol=1e-6)


# ---------------------------------------------------------------------------- sampling, selection
def test_stratified_sample_keeps_every_class_and_proportions():
    labels = np.array(["a"] * 7000 + ["b"] * 2500 + ["c"] * 450 + ["d"] * 45 + ["e"] * 5)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]
    pos = viz.stratified_sample(len(labels), 1000, labels, seed=1)
    assert len(pos) == 1000 and len(set(pos.tolist())) == 1000 and (np.diff(pos) > 0).all()
    got = pd.Series(labels[pos]).value_counts()
    assert set(got.index) == set("abcde")
    for cls, count in pd.Series(labels).value_counts().items():
        assert abs(got[cls] - count * 1000 / len(labels)) <= 5, (cls, got[cls])
    np.testing.assert_array_equal(pos, viz.stratified_sample(len(labels), 1000, labels, seed=1))
    assert not np.array_equal(pos, viz.stratified_sample(len(labels), 1000, labels, seed=2))
    # fewer slots than classes: the largest classes get one each
    few = viz.stratified_sample(len(labels), 2, labels)
    assert sorted(labels[few]) == ["a", "b"]
    np.testing.assert_array_equal(viz.stratified_sample(10, 50, None), np.arange(10))
    assert len(viz.stratified_sample(100, 10, None, seed=0)) == 10
    with_na = pd.Series(["x"] * 90 + [None] * 10)
    assert with_na[viz.stratified_sample(100, 20, with_na)].isna().sum() == 2


def test_points_in_polygon_matches_matplotlib():
    from matplotlib.path import Path

    rng = np.random.default_rng(4)
    pts = rng.uniform(-1, 3, (3000, 2))
    poly = [(0, 0), (2, 0), (2, 2), (1, 0.5), (0, 2)]  # concave
    np.testing.assert_array_equal(viz.points_in_polygon(pts, poly), Path(poly).contains_points(pts))
    with pytest.raises(InvalidInputError):
        viz.points_in_polygon(pts, [(0, 0), (1, 1)])


def test_map_frame_and_selections():
    df = pd.DataFrame({"label": list("aabbc"), "t": range(5)}, index=list("vwxyz"))
    coords = np.array([[0, 0], [1, 1], [2, 2], [3, 3]], np.float32)
    fr = viz.map_frame(df, coords, positions=np.array([0, 1, 3, 4]), color="label")
    assert fr.index.tolist() == ["v", "w", "y", "z"]
    assert fr["color"].tolist() == ["a", "a", "b", "c"]
    assert fr["pos"].tolist() == [0, 1, 3, 4]
    assert viz.select_box(fr, (0.5, 2.5), (-10, 10)).index.tolist() == ["w", "y"]
    assert viz.select_box(fr, (2.5, 0.5)).index.tolist() == ["w", "y"]  # reversed bounds
    assert viz.select_box(fr, None, (3, 3)).index.tolist() == ["z"]  # closed interval
    assert viz.select_values(fr, ["a", "c"]).index.tolist() == ["v", "w", "z"]
    assert viz.select_polygon(fr, [(-1, -1), (1.5, -1), (1.5, 1.5), (-1, 1.5)]).index.tolist() == ["v", "w"]
    with pytest.raises(InvalidInputError):
        viz.map_frame(df, coords)


def test_neighbours_and_pca_placement(data):
    X, q, index = data
    rows = np.arange(0, len(X), 3)
    nb = viz.neighbours(X, q, 5, "cosine", rows=rows, index=index)
    ref = _reference_scores(X, q)["cosine"]
    want = sorted(rows.tolist(), key=lambda i: (-ref[i], i))[:5]
    assert nb["pos"].tolist() == want
    assert nb.index.tolist() == [index[i] for i in want]
    np.testing.assert_allclose(nb["score"], ref[want], rtol=1e-6)
    assert nb["rank"].tolist() == [1, 2, 3, 4, 5]
    p = viz.project(X, "pca", cache=False)
    np.testing.assert_allclose(viz.place_query(p, X[17]), p.coords[17], atol=1e-3)


# ---------------------------------------------------------------------------- benchmarks
def _bench_result():
    return pd.DataFrame({
        "system": ["vecnb numpy exact", "vecnb faiss hnsw", "raw faiss hnsw", "vecnb chroma hnsw", "vecnb faiss hnsw"],
        "impl": ["vecnb", "vecnb", "raw", "vecnb", "vecnb"],
        "store": ["numpy", "faiss", "faiss", "chroma", "faiss"],
        "kind": ["exact", "hnsw", "hnsw", "hnsw", "hnsw"],
        "filter": ["none", "none", "none", "none", '{"label":"a"}'],
        "status": ["ok", "ok", "ok", "skipped", "ok"],
        "recall": [1.0, 0.97, 0.97, np.nan, 0.95],
        "qps": [300.0, 5000.0, 6000.0, np.nan, 4000.0],
        "p50_ms": [2.0, 0.3, 0.1, np.nan, 0.4],
        "p95_ms": [3.0, 0.5, 0.2, np.nan, 0.6],
        "p99_ms": [4.0, 0.9, 0.3, np.nan, 0.8],
        "reason": ["", "", "", "MissingDependencyError: chromadb", ""],
    })


def test_bench_frames():
    res = _bench_result()
    pts = viz.bench_points(res)
    assert pts["system"].tolist() == ["vecnb numpy exact", "vecnb faiss hnsw", "raw faiss hnsw"]
    assert pts["qps"].tolist() == [300.0, 5000.0, 6000.0]
    assert viz.bench_points(res, filter='{"label":"a"}')["recall"].tolist() == [0.95]
    lat = viz.latency_table(res)
    assert lat.index.tolist() == ["raw faiss hnsw", "vecnb faiss hnsw", "vecnb numpy exact"]
    assert lat.loc["vecnb numpy exact"].tolist() == [2.0, 3.0, 4.0]
    summ = viz.bench_summary(res)
    assert summ["status"].iloc[-1] == "skipped"
    assert summ["system"].iloc[0] == "raw faiss hnsw"  # fastest unfiltered first
    with pytest.raises(InvalidInputError):
        viz.bench_points(res.drop(columns="qps"))


def test_pca_above_fit_rows_uses_a_sample_for_the_axes_only(monkeypatch):
    """Large frames: axes from a seeded sample, every row projected; close to the exact PCA."""
    from vecnb.bench import clustered_matrix

    X, _ = clustered_matrix(6000, 32, seed=3)
    exact = viz.project(X, "pca", cache=False)
    monkeypatch.setattr(viz, "PCA_FIT_ROWS", 2000)
    sampled = viz.project(X, "pca", cache=False)
    assert "fitted on 2,000 sampled rows" in sampled.note and exact.note == ""
    assert sampled.coords.shape == (6000, 2)
    # the sampled axes keep (nearly) all the variance the exact top-2 axes keep, on every row
    Xc = X.astype(np.float64) - X.mean(axis=0)
    kept = lambda W: float(np.sum((Xc @ W.T) ** 2))  # noqa: E731
    assert kept(sampled.components) >= 0.97 * kept(exact.components), (kept(sampled.components), kept(exact.components))
    np.testing.assert_allclose(sampled.coords, sampled.transform(X), atol=1e-3)  # every row, projected


@pytest.mark.skipif(not viz.umap_available(), reason="umap-learn is not installed")
def test_umap_above_the_fit_limit_fits_a_sample_and_places_the_rest():
    """The path taken above UMAP_FIT_ROWS, exercised small: fit on 200 of 600 rows, transform 400."""
    import umap

    rng = np.random.default_rng(5)
    centers = rng.standard_normal((3, 32)) * 4
    lab = np.repeat(np.arange(3), 200)
    X = (centers[lab] + rng.standard_normal((600, 32))).astype(np.float32)
    p = viz.project(X, "umap", cache=False, seed=1, umap_fit_rows=200)
    assert p.method == "umap" and p.coords.shape == (600, 2) and p.coords.dtype == np.float32
    assert np.isfinite(p.coords).all()
    assert "sample of 200 rows" in p.note and "other 400" in p.note
    # deterministic under the seed
    np.testing.assert_array_equal(viz.project(X, "umap", cache=False, seed=1, umap_fit_rows=200).coords, p.coords)
    # the sampled rows keep the places the fit gave them: an independent UMAP on the same sample
    fit = np.sort(np.random.default_rng(1).choice(600, size=200, replace=False))
    ref = umap.UMAP(n_components=2, random_state=1, metric="cosine", n_neighbors=15,
                    min_dist=0.1).fit_transform(X[fit])
    np.testing.assert_allclose(p.coords[fit], ref, rtol=1e-5, atol=1e-5)
    # the transformed rows land among their own cluster's fitted rows
    rest = np.setdiff1d(np.arange(600), fit)
    D = ((p.coords[rest, None, :] - p.coords[None, fit, :]) ** 2).sum(-1)
    assert (lab[fit][D.argmin(1)] == lab[rest]).mean() > 0.95
    # the size limit of "auto" is a keyword too, and bad limits are refused
    assert viz.project(X, "auto", cache=False, umap_max_rows=500).method == "pca"
    with pytest.raises(InvalidInputError, match="umap_fit_rows"):
        viz.project(X, "umap", cache=False, umap_fit_rows=0)
