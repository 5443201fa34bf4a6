"""The interactive map (``df.vec.explore`` on jupyter-scatter), driven headless.

No browser here: the tests set the scatter widget's traits exactly as its JavaScript does
(``selection`` after a lasso or click, ``hovering``, the tooltip request message) and assert
on what Python sees. Expected rows come from independent computations (``df.vec.search``,
matplotlib's point-in-polygon, boolean masks). The real browser check is
tests/browser/test_lab.py.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb import viz

pytest.importorskip("ipywidgets")
pytest.importorskip("jscatter")

from vecnb.widgets import Explorer  # noqa: E402
from vecnb.widgets import _explore  # noqa: E402

DIM = 48


def toy_embed(texts, dim=DIM, salt=""):
    out = np.zeros((len(texts), dim), np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            h = int(hashlib.blake2b((salt + w).encode(), digest_size=8).hexdigest(), 16)
            out[i, h % dim] += 1.0 + (h >> 32) % 3
        out[i, -1] += 0.5
    return out


@pytest.fixture(scope="module")
def hansard():
    df = vecnb.datasets.load("hansard")
    df = df.vec.attach(toy_embed(df["text"].tolist()), name="text_vec", model=toy_embed, source="text")
    return df


@pytest.fixture(scope="module")
def two_models(hansard):
    other = toy_embed(hansard["text"].tolist(), dim=32, salt="b:")
    return hansard.vec.attach(other, name="other_vec", source="text")


def test_map_colour_and_browser_selection(hansard):
    before = hansard.drop(columns=["text_vec"]).copy()
    m = hansard.vec.explore(color="label", tooltip=["speaker", "year"], method="pca", progress=False)
    assert isinstance(m, Explorer) and m.method == "pca" and m.error is None
    assert m.frame.index.equals(hansard.index) and len(m.widget.points) == len(hansard)
    # the map is the PCA of the vectors (scikit-learn, independent), up to each axis's sign
    from sklearn.decomposition import PCA

    ref = PCA(n_components=2, svd_solver="full").fit_transform(hansard.vec.matrix().astype(np.float64))
    for j, col in enumerate(("x", "y")):
        got = m.frame[col].to_numpy()
        np.testing.assert_allclose(got, np.sign(got @ ref[:, j]) * ref[:, j], atol=1e-3)
    # categorical colour: one legend entry per party, every point coded with its own party
    assert m.widget.color_by == "valueA" and m.widget.legend is True
    cats = m._pts["label"].cat.categories
    assert set(cats) == set(hansard["label"])
    codes = np.asarray(m.widget.points)[:, 2].astype(int)
    assert (cats[codes] == hansard["label"].to_numpy()).all()
    # a lasso in the browser = the JS sets `selection` to the point indices inside it
    seen = []
    m.observe_selection(seen.append)
    xy = m.frame[["x", "y"]].to_numpy()
    cx, cy = np.median(xy, axis=0)
    r = 0.4 * xy.std(axis=0)
    poly = [(cx - r[0], cy - r[1]), (cx + r[0], cy - r[1]), (cx + r[0], cy + r[1]), (cx - r[0], cy + 0.5 * r[1])]
    from matplotlib.path import Path

    inside = np.flatnonzero(Path(poly).contains_points(xy))
    assert 0 < len(inside) < len(hansard)
    m.widget.selection = inside[::-1].astype(np.uint32)  # the browser sends them in any order
    assert m.selection_source == "browser"
    assert m.selected.index.tolist() == hansard.index[inside].tolist()
    assert list(m.selected.columns) == list(hansard.columns)
    assert len(seen) == 1 and seen[0].index.equals(m.selected.index)
    assert f"{len(inside):,} rows selected" in m.selection_html.value
    # a click on one point, then a click on the background (deselect)
    m.widget.selection = np.array([17], np.uint32)
    assert m.selected.index.tolist() == [hansard.index[17]] and len(seen) == 2
    m.widget.selection = np.array([], np.uint32)
    assert m.selected.empty and m.selection_source == "" and len(seen) == 3 and seen[-1].empty
    # hovering
    m.widget.hovering = 42
    assert m.hovered.name == hansard.index[42] and m.last_hovered == hansard.index[42]
    m.widget.hovering = None
    assert m.hovered is None and m.last_hovered == hansard.index[42]
    pd.testing.assert_frame_equal(before, hansard.drop(columns=["text_vec"]))


def test_tooltip_answers_from_the_row(hansard):
    m = hansard.vec.explore(color="label", tooltip=["speaker", "year"], method="pca", progress=False)
    w = m.widget
    assert w.tooltip_enable and w.tooltip_properties == ["row", "color", "speaker", "year"]
    assert w.tooltip_preview == "text" and set(w.tooltip_properties_non_visual_info) == {"row", "speaker", "year"}
    sent = []
    w.send = lambda msg, buffers=None: sent.append(msg)
    # what the JavaScript sends when the mouse rests on point 123
    w._handle_custom_msg({"type": "tooltip", "index": 123, "preview": "text",
                          "properties": ["row", "speaker", "year"]}, [])
    assert len(sent) == 1
    msg = sent[0]
    row = hansard.iloc[123]
    assert msg["index"] == 123 and msg["properties"] == {"row": int(hansard.index[123]), "speaker": row["speaker"],
                                                         "year": int(row["year"])}
    words = " ".join(row["text"].split())
    assert msg["preview"].rstrip("…") == words[: len(msg["preview"].rstrip("…"))] and len(msg["preview"]) <= 240


def test_tooltips_travel_with_the_widget_for_kernel_free_hover(hansard, monkeypatch):
    """Up to STATIC_TOOLTIP_ROWS rows, every row's tooltip is in the widget state (static exports)."""
    m = hansard.vec.explore(color="label", tooltip=["speaker", "year"], method="pca", progress=False)
    state = m.widget.get_state()
    table = state["vecnb_tooltips"]
    assert table["n"] == len(hansard) and set(table["columns"]) == {"row", "speaker", "year"}
    # each row's stored fields are exactly what the kernel answers for it
    for i in (0, 123, len(hansard) - 1):
        rec = m.tooltip_record({"index": i, "preview": "text", "properties": ["row", "speaker", "year"]})
        assert {c: v[i] for c, v in table["columns"].items()} == rec["properties"]
        assert table["preview"][i] == rec["preview"]
    # the front-end code shipped with this widget reads them before asking the kernel
    assert state["_esm"].count('this.model.get("vecnb_tooltips")') == 1
    json.dumps(table)  # JSON-safe, as the widget state must be
    # above the limit (or when asked), hover stays a kernel round trip and nothing is copied
    monkeypatch.setattr(_explore, "STATIC_TOOLTIP_ROWS", 100)
    big = hansard.vec.explore(color="label", method="pca", progress=False)
    assert "vecnb_tooltips" not in big.widget.get_state()
    assert 'this.model.get("vecnb_tooltips")' not in big.widget.get_state()["_esm"]
    off = hansard.vec.explore(method="pca", progress=False, static_tooltips=False)
    assert "vecnb_tooltips" not in off.widget.get_state()


def test_search_highlights_the_same_rows_as_df_vec_search(hansard):
    m = hansard.vec.explore(color="label", method="pca", k=6, progress=False)
    q = "national health service waiting lists"
    hits = m.search(q)
    want = hansard.vec.search(q, k=6)
    pd.testing.assert_frame_equal(hits, want)
    assert m.selection_source == "search"
    assert sorted(m.selected.index.tolist()) == sorted(want.index.tolist())
    pos = hansard.index.get_indexer(want.index)
    assert sorted(np.asarray(m.widget.zoom_to).tolist()) == sorted(pos.tolist())
    assert len(m.widget.annotations) == 2 + 6  # the query's cross and one spoke per hit
    np.testing.assert_allclose(m.query_xy[0], m.projection.transform(toy_embed([q]))[0], atol=1e-4)
    assert str(want.index[0]) in m.hits_html.value
    # the search box and the k slider drive the same thing
    m.k_slider.value = 3
    assert m.hits.index.tolist() == hansard.vec.search(q, k=3).index.tolist()
    m.query_box.value = "fishing quotas"
    assert m.hits.index.tolist() == hansard.vec.search("fishing quotas", k=3).index.tolist()
    # a vector query and a filtered one
    v = hansard.vec.matrix()[10]
    assert m.search(v, k=4).index.tolist() == hansard.vec.search(v, k=4).index.tolist()
    f = m.search(q, k=5, where={"label": "Lab"})
    assert (f["label"] == "Lab").all() and f.index.tolist() == hansard.vec.search(q, k=5, where={"label": "Lab"}).index.tolist()
    # clear restores the view
    m.clear_button.click()
    assert m.hits is None and m.selected.empty and not m.widget.annotations and m.query_box.value == ""
    assert m.widget.zoom_to is None or len(m.widget.zoom_to) == 0


def test_select_by_labels_and_where(hansard):
    m = hansard.vec.explore(color="label", method="pca", progress=False)
    labs = list(hansard.index[[3, 1, 500]])
    got = m.select(labs)
    assert got.index.tolist() == list(hansard.index[[1, 3, 500]]) and m.selection_source == "select"
    assert sorted(np.asarray(m.widget.selection).tolist()) == [1, 3, 500]  # highlighted in the browser
    snp = m.select(where={"label": "SNP"})
    assert snp.index.tolist() == hansard.index[hansard["label"] == "SNP"].tolist()
    both = m.select(labs + [snp.index[0]], where={"label": "SNP"})
    assert both.index.tolist() == [snp.index[0]]
    with pytest.raises(vecnb.InvalidInputError, match="not in the DataFrame's index"):
        m.select(["no such row"])
    m.select()
    assert m.selected.empty
    fig = m.figure()
    assert len(fig.axes) == 1 and fig.axes[0].get_title().startswith("PCA map of text_vec")


def test_linked_views_share_selection_and_hover(two_models):
    df = two_models
    m = df.vec.explore(color="label", columns=["text_vec", "other_vec"], method="pca", progress=False)
    assert m.columns == ["text_vec", "other_vec"] and len(m.scatters) == 2
    assert m.frames[1].index.equals(df.index)
    ref = viz.project(df.vec.matrix("other_vec"), "pca", cache=False)
    np.testing.assert_allclose(m.frames[1][["x", "y"]].to_numpy(), ref.coords, atol=1e-5)
    w0, w1 = m.widgets_
    # a lasso in the second map selects the same rows in the first, and in Python
    w1.selection = np.array([4, 8, 15, 16], np.uint32)
    assert sorted(np.asarray(w0.selection).tolist()) == [4, 8, 15, 16]
    assert m.selected.index.tolist() == df.index[[4, 8, 15, 16]].tolist()
    w1.hovering = 23
    assert w0.hovering == 23
    # a search marks the query on both maps
    m.search("fishing quotas", k=5)
    assert len(m.query_xy) == 2 and all(q is not None for q in m.query_xy)
    assert len(w1.annotations) == 2 + 5


def test_bad_input_gives_clear_errors(hansard):
    with pytest.raises(vecnb.ColumnNotFoundError, match="colour the map"):
        hansard.vec.explore(color="colour", method="pca")
    with pytest.raises(vecnb.ColumnNotFoundError, match="tooltip"):
        hansard.vec.explore(tooltip=["speaker", "nope"], method="pca")
    nan = hansard.assign(score=np.nan)
    with pytest.raises(vecnb.InvalidInputError, match="every row is missing"):
        nan.vec.explore(color="score", method="pca")
    with pytest.raises(vecnb.InvalidInputError, match="has 1"):
        hansard.iloc[:1].vec.explore(method="pca")
    with pytest.raises(vecnb.InvalidInputError, match="empty"):
        hansard.iloc[:0].vec.explore(method="pca")
    with pytest.raises(vecnb.NoEmbeddingColumnError):
        vecnb.datasets.load("hansard").vec.explore()
    with pytest.raises(vecnb.InvalidInputError, match="rows but the DataFrame has"):
        hansard.vec.explore(columns=["text_vec", np.zeros((len(hansard) - 1, 8), np.float32)], method="pca")
    with pytest.raises(vecnb.InvalidInputError, match="method"):
        hansard.vec.explore(method="tsne")
    with pytest.raises(vecnb.InvalidInputError, match="distinct values"):
        hansard.vec.explore(color="text", method="pca")
    with pytest.raises(vecnb.InvalidInputError, match=r"\(1000, 2\)"):
        hansard.vec.explore(method=lambda X: X[:5, :2])
    m = hansard.vec.explore(method="pca", progress=False)
    m.query_box.value = "   "  # blank: clears, no error
    assert m.error is None and m.hits is None


def test_callable_projection_and_umap_limit(hansard, monkeypatch):
    X = hansard.vec.matrix()
    m = hansard.vec.explore(method=lambda A: A[:, :2] * 2.0, progress=False)
    np.testing.assert_allclose(m.frame[["x", "y"]].to_numpy(), X[:, :2] * 2.0)
    monkeypatch.setattr(viz, "UMAP_MAX_ROWS", 500)
    if viz.umap_available():
        p = viz.project(X, "auto", cache=False)
        assert p.method == "pca" and "above UMAP's default limit of 500" in p.note


def test_fallback_without_jupyter_scatter(hansard, monkeypatch):
    from vecnb.widgets._static import StaticExplorer

    monkeypatch.setattr(_explore, "load_jscatter", lambda: None)
    monkeypatch.setattr(_explore, "_warned", False)
    with pytest.warns(UserWarning, match=r'pip install "vecnb\[viz\]"'):
        m = hansard.vec.explore(color="label", method="pca", progress=False)
    assert isinstance(m, StaticExplorer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once only
        hansard.vec.explore(color="label", method="pca", progress=False)


def test_no_terminal_noise_in_plain_python(tmp_path):
    code = textwrap.dedent("""
        import numpy as np, vecnb
        df = vecnb.datasets.load("hansard").iloc[:200]
        X = np.random.default_rng(0).normal(size=(len(df), 16)).astype("float32")
        df = df.vec.attach(X, name="v")
        m = df.vec.explore(color="label", method="pca")
        m.search(X[0], k=3); m.select(where={"label": "Lab"}); m.clear()
        c = df.vec.compare_metrics(X[1], k=4); c.k = 3
        from vecnb.widgets._static import StaticExplorer
        StaticExplorer(df, color="label", method="pca").search(X[2])
    """)
    env = {"VECNB_CACHE_DIR": str(tmp_path), "MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(__import__("pathlib").Path(vecnb.__file__).parents[1])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "", repr(proc.stdout[:200])
    assert "\x1b" not in proc.stderr, repr(proc.stderr[:300])
