"""The widgets, driven headless: set widget values, click buttons, assert on state and figures.

No kernel and no browser: ipywidgets objects work without a front end. Every number a
widget shows is compared with an independent computation (``df.vec.search`` on the same
rows, scikit-learn's PCA, plain boolean masks), not with the viz function it calls.
"""

from __future__ import annotations

import hashlib
import importlib.util
import time

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb import viz

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

from vecnb.widgets import BenchmarkPanel, CompareMetrics
from vecnb.widgets._common import figure_png
from vecnb.widgets._static import StaticExplorer

PNG = b"\x89PNG\r\n\x1a\n"
DIM = 48


def toy_embed(texts: list[str]) -> np.ndarray:
    """Deterministic, unnormalised bag of hashed words: long texts get long vectors (so dot and
    cosine really differ), similar wording gives similar directions."""
    out = np.zeros((len(texts), DIM), np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            h = int(hashlib.blake2b(w.encode(), digest_size=8).hexdigest(), 16)
            out[i, h % DIM] += 1.0 + (h >> 32) % 3
        out[i, -1] += 0.5  # never all-zero
    return out


@pytest.fixture(scope="module")
def cisi():
    """300 real CISI abstracts embedded by the toy model (a text query works through it)."""
    df = vecnb.datasets.load("cisi").iloc[:300]
    return df.vec.attach(toy_embed(df["text"].tolist()), name="text_vec", model=toy_embed, source="text")


@pytest.fixture(scope="module")
def hansard():
    """1,000 real speeches with their party as label, embedded by the toy model."""
    df = vecnb.datasets.load("hansard")
    return df.vec.attach(toy_embed(df["text"].tolist()), name="text_vec", model=toy_embed, source="text")


def _frozen(df):
    return df.drop(columns=[c for c in df.vec.columns()]).copy(), dict(df.attrs)


# ============================================================================ compare_metrics
def test_compare_opens_on_real_data_and_matches_search(cisi):
    before, attrs = _frozen(cisi)
    w = cisi.vec.compare_metrics("information retrieval in libraries", k=8)
    assert isinstance(w, CompareMetrics) and w.error is None
    assert w.query == "information retrieval in libraries" and w.k == 8 and w.metrics == ("cosine", "dot", "l2")
    for m in w.metrics:
        hits = cisi.vec.search(w.query, k=8, metric=m)
        assert w.side[m].tolist() == hits.index.tolist()
        np.testing.assert_allclose(w.side[f"{m}_score"].to_numpy(), hits["score"].to_numpy(), rtol=1e-5, atol=1e-6)
        assert set(w.table.index[w.table[f"top_{m}"]]) == set(hits.index)
    # agreement: a row is 'agree' exactly when every metric's search returns it
    sets = [set(cisi.vec.search(w.query, k=8, metric=m).index) for m in w.metrics]
    assert set(w.table.index[w.table["agree"]]) == set.intersection(*sets)
    assert w.overlap.loc["cosine", "dot"] == len(sets[0] & sets[1])
    # the shown text is the title of each hit
    assert w.side["cosine_text"].tolist() == cisi.loc[w.side["cosine"], "title"].tolist()
    # the plots are inline SVG: one panel per metric + the norm panel, top-k labelled with k
    assert w.plots.value.count("<svg") == 4 and "top-8" in w.plots.value and "cosine scores" in w.plots.value
    assert len(w.figure.axes) == 4 and bytes(figure_png(w.figure)).startswith(PNG)  # export on demand
    assert "every top-8" in w.summary.value
    assert "<table" in w.table_html.value and str(w.side["dot"].iloc[0]) in w.table_html.value
    # unnormalised vectors: dot's top-k is longer than average, and the panel says norms vary
    assert w.norms.loc["top-k dot", "mean"] > w.norms.loc["all rows", "mean"]
    assert "norms vary" in w.summary.value
    after, attrs_after = _frozen(cisi)
    pd.testing.assert_frame_equal(before, after)
    assert attrs == attrs_after


def test_compare_responds_to_every_input(cisi):
    w = CompareMetrics(cisi, "library catalog", k=5)
    first = w.side.copy()
    w.query_box.value = "citation analysis of scientific journals"  # what typing + Enter does
    assert w.query == "citation analysis of scientific journals"
    assert w.side["cosine"].tolist() == cisi.vec.search(w.query, k=5).index.tolist()
    assert not w.side.equals(first)
    w.k_slider.value = 3
    assert len(w.side) == 3 and w.k == 3
    assert w.side["l2"].tolist() == cisi.vec.search(w.query, k=3, metric="l2").index.tolist()
    w.metric_select.value = ("dot", "l2")
    assert w.metrics == ("dot", "l2")
    assert [c for c in w.side.columns if "_" not in c] == ["dot", "l2"]
    assert list(w.overlap.index) == ["dot", "l2"] and len(w.figure.axes) == 3
    # moves are relative to the first metric chosen (now dot)
    t = w.table
    assert (t["move_l2"] == t["rank_l2"] - t["rank_dot"]).all()
    svg = w.plots.value
    assert svg.count("<svg") == 3 and "cosine scores" not in svg
    w.k = 4
    assert w.plots.value != svg and "top-4" in w.plots.value and len(w.side) == 4
    assert int(w.histograms.loc[w.histograms["metric"] == "dot", "top_count"].sum()) == 4
    w.run_button.click()
    assert w.error is None and len(w.side) == 4
    # a vector query
    v = toy_embed(["retrieval evaluation"])[0]
    w.query = v
    assert w.query_box.value == "" and w.query is v or np.array_equal(w.query, v)
    assert w.side["dot"].tolist() == cisi.vec.search(v, k=4, metric="dot").index.tolist()
    assert "vector query" in w.status.value


def test_compare_errors_show_in_the_widget(cisi):
    w = CompareMetrics(cisi, "", k=5)
    assert w.table is None and "Type a query" in w.status.value
    w.query_box.value = "indexing"
    assert w.table is not None
    w.metric_select.value = ()
    assert w.error is not None and "at least one metric" in w.error
    assert "at least one metric" in w.status.value
    w.metric_select.value = ("cosine",)
    assert w.error is None
    with pytest.raises(vecnb.UnknownMetricError):
        CompareMetrics(cisi, "x", metrics=["hamming"])
    with pytest.raises(vecnb.ColumnNotFoundError):
        CompareMetrics(cisi, "x", column="nope")
    with pytest.raises(vecnb.InvalidInputError):
        CompareMetrics(cisi, "x", where={"n_words": {"$lt": -1}})


def test_compare_where_restricts_rows(cisi):
    w = CompareMetrics(cisi, "library", k=5, where={"n_words": {"$gte": 150}})
    assert len(w.scores) == int((cisi["n_words"] >= 150).sum())
    hits = cisi.vec.search("library", k=5, metric="dot", where={"n_words": {"$gte": 150}})
    assert w.side["dot"].tolist() == hits.index.tolist()


# ============================================================================ explore: the static fallback
def test_explore_pca_map_search_and_selection(hansard):
    before, attrs = _frozen(hansard)
    m = StaticExplorer(hansard, color="label", method="pca", k=6, progress=False)
    assert m.error is None
    assert not m.sampled and len(m.frame) == len(hansard) and m.method == "pca"
    assert m.frame.index.equals(hansard.index)
    assert m.frame["color"].tolist() == hansard["label"].tolist()
    # the map is the PCA of the vectors (independent: scikit-learn), up to each axis's sign
    from sklearn.decomposition import PCA

    ref = PCA(n_components=2, svd_solver="full").fit_transform(hansard.vec.matrix().astype(np.float64))
    for j, col in enumerate(("x", "y")):
        got = m.frame[col].to_numpy()
        np.testing.assert_allclose(got, np.sign(got @ ref[:, j]) * ref[:, j], atol=1e-3)
    assert bytes(m.image.value).startswith(PNG)
    assert "all 1,000 rows" in m.note.value
    # search: the box, the neighbours, the star
    m.query_box.value = "national health service waiting lists"
    hits = hansard.vec.search("national health service waiting lists", k=6)
    assert m.neighbours.index.tolist() == hits.index.tolist()
    np.testing.assert_allclose(m.neighbours["score"], hits["score"], rtol=1e-5)
    np.testing.assert_allclose(m.neighbours[["x", "y"]].to_numpy(),
                               m.frame.loc[hits.index, ["x", "y"]].to_numpy())
    q = toy_embed(["national health service waiting lists"])
    np.testing.assert_allclose(m.query_xy, m.projection.transform(q)[0], atol=1e-4)
    m.k_slider.value = 3
    assert len(m.neighbours) == 3
    # box selection through the sliders and the button
    xs, ys = m.frame["x"], m.frame["y"]
    x0, x1 = float(xs.quantile(0.2)), float(xs.quantile(0.6))
    y0, y1 = float(ys.quantile(0.1)), float(ys.quantile(0.9))
    m.x_range.value = (x0, x1)
    m.y_range.value = (y0, y1)
    m.box_button.click()
    want = m.frame.index[(xs >= m.x_range.value[0]) & (xs <= m.x_range.value[1])
                         & (ys >= m.y_range.value[0]) & (ys <= m.y_range.value[1])]
    assert len(want) > 0 and m.selected.index.tolist() == want.tolist()
    assert list(m.selected.columns[:-2]) == list(hansard.columns) and m.selected.columns[-2:].tolist() == ["x", "y"]
    assert f"{len(want):,} rows selected" in m.selection_html.value
    # selection by colour value
    m.value_select.value = ("SNP", "DUP")
    m.values_button.click()
    assert m.selected.index.tolist() == hansard.index[hansard["label"].isin(["SNP", "DUP"])].tolist()
    # lasso (a polygon from code)
    poly = [(x0, y0), (x1, y0), (x1, y1)]
    got = m.select_polygon(poly)
    from matplotlib.path import Path

    inside = Path(poly).contains_points(m.frame[["x", "y"]].to_numpy())
    assert got.index.tolist() == m.frame.index[inside].tolist()
    # colour change keeps the map and the selection when nothing was sampled
    m.color_select.value = "year"
    assert m.frame["color"].tolist() == hansard["year"].tolist()
    assert m.selected.index.tolist() == m.frame.index[inside].tolist()
    m.clear_button.click()
    assert m.selected.empty
    # row details
    label = hansard.index[17]
    m.row_box.value = str(label)
    assert m.error is None and str(hansard.loc[label, "speaker"])[:20] in m.details_html.value
    after, attrs_after = _frozen(hansard)
    pd.testing.assert_frame_equal(before, after)
    assert attrs == attrs_after


def test_explore_samples_large_frames_stratified(hansard):
    m = StaticExplorer(hansard, color="label", method="pca", max_points=300, progress=False)
    assert m.sampled and len(m.frame) == 300 and len(m.sample) == 300
    assert "sample of 300 of 1,000 rows" in m.note.value and "stratified by" in m.note.value
    got = m.frame["color"].value_counts()
    share = hansard["label"].value_counts()
    assert set(got.index) == set(share.index)  # every party is on the map, even the rarest
    for party, n in share.items():
        assert abs(got[party] - n * 0.3) <= len(share)
    assert m.frame["pos"].is_monotonic_increasing
    assert m.frame.index.tolist() == hansard.index[m.sample].tolist()
    # neighbours come from the rows on the map, and the widget says so
    m.search("European Union referendum")
    sub = hansard.iloc[m.sample]
    assert m.neighbours.index.tolist() == sub.vec.search("European Union referendum", k=10).index.tolist()
    assert "on the map" in m.status.value


def test_explore_rerun_is_instant_and_updates_are_timed(hansard):
    a = StaticExplorer(hansard, color="label", method="pca", progress=False)
    t0 = time.perf_counter()
    b = StaticExplorer(hansard, color="label", method="pca", progress=False)
    assert b.projection.source in ("memory", "disk")
    np.testing.assert_array_equal(a.frame[["x", "y"]].to_numpy(), b.frame[["x", "y"]].to_numpy())
    assert time.perf_counter() - t0 < 10  # drawing included; the projection itself is a lookup
    b.query_box.value = "education schools teachers"
    assert np.isfinite(b.last_update_seconds) and b.last_update_seconds > 0


def test_explore_errors(hansard):
    with pytest.raises(vecnb.ColumnNotFoundError):
        StaticExplorer(hansard, color="colour", method="pca")
    with pytest.raises(vecnb.InvalidInputError):
        StaticExplorer(hansard, method="tsne")
    m = StaticExplorer(hansard, method="pca", progress=False)
    m.select_values(["Lab"])  # no colour column chosen
    assert m.error is not None and "colour column" in m.error
    m.details("no such row")
    assert "No row" in m.error


@pytest.mark.skipif(not viz.umap_available(), reason="umap-learn is not installed")
def test_explore_umap_map(hansard):
    """UMAP through the method dropdown (small sample: UMAP JIT-compiles on its first call)."""
    m = StaticExplorer(hansard, color="label", method="pca", max_points=150, progress=False)
    m.method_select.value = "umap"
    assert m.error is None and m.method == "umap" and "UMAP" in m.note.value
    assert np.isfinite(m.frame[["x", "y"]].to_numpy()).all()
    m.search("taxes and the budget", k=5)
    nb = m.neighbours
    w = nb["score"].to_numpy() - nb["score"].min() + 0.1 * (nb["score"].max() - nb["score"].min())
    expect = (w[:, None] * nb[["x", "y"]].to_numpy()).sum(0) / w.sum()
    np.testing.assert_allclose(m.query_xy, expect, rtol=1e-6)


# ============================================================================ benchmark panel
HAVE_BENCH = importlib.util.find_spec("vecnb.bench") is not None


@pytest.mark.skipif(not HAVE_BENCH, reason="vecnb.bench is not in this checkout yet")
def test_benchmark_panel_tiny_run(cisi):
    p = BenchmarkPanel(cisi, stores=["numpy", "faiss"], kinds=["exact", "flat"], k=5, queries=8,
                       filters=[{"n_words": {"$gte": 100}}], repeats=1, budget_s=5)
    assert p.results is None and "flat" in p.kind_select.options and p.kinds == ["exact", "flat"]
    p.k_slider.value = 4
    p.queries_box.value = 6
    p.run_button.click()
    assert p.error is None, p.error
    res = p.results
    assert set(res["k"]) == {4} and set(res["queries"]) == {6}
    ok = res[res["status"] == "ok"]
    assert {"vecnb numpy exact", "vecnb faiss flat"} <= set(ok["system"])
    assert (ok["recall"] == 1.0).all()  # exact kinds against exact ground truth
    assert set(ok["filter"]) == {"none", '{"n_words":{"$gte":100}}'}
    pd.testing.assert_frame_equal(p.table, viz.bench_summary(res))
    unf = ok[ok["filter"] == "none"]
    assert sorted(p.points["system"]) == sorted(unf["system"])
    assert p.latency.loc["vecnb numpy exact", "p50"] == unf.set_index("system").loc["vecnb numpy exact", "p50_ms"]
    assert bytes(p.image.value).startswith(PNG) and len(p.figure.axes) == 2
    assert "vecnb faiss flat" in p.table_html.value
    # changing the stores offers that store's kinds
    p.store_select.value = ("numpy",)
    assert "flat" not in p.kind_select.options and p.kinds == ["exact"]


@pytest.mark.skipif(not HAVE_BENCH, reason="vecnb.bench is not in this checkout yet")
def test_benchmark_panel_inputs():
    with pytest.raises(vecnb.InvalidInputError):
        BenchmarkPanel(None, stores=["nosuchstore"])
    p = BenchmarkPanel(None, stores=["numpy"], queries=5)
    p.store_select.value = ()
    p.run()
    assert p.error is not None and "at least one store" in p.error
