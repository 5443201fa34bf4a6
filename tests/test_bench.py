"""vecnb.bench: correctness of the measurement code on tiny data (no timing is asserted).

What is checked: the synthetic data, tie-aware recall, the timers' bookkeeping, turning
result frames into positions, that ``run`` measures every system under every filter with
exact systems at recall 1.0, that unavailable stores / peers become skipped rows with a
reason (never silent), the overhead ratios, raw faiss copying vecnb's parameters, sweeps,
plots, the foundation figures, JSON round trips and the CLI.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb import bench
from vecnb.bench._systems import Case, FilterCase, RawNumpy
from vecnb.bench._timing import latencies, positions_from_hits, time_calls
from vecnb.errors import IndexFormatError, InvalidInputError

FILTERS = [None, {"num": {"$lt": 10}}, {"label": "a"}]


@pytest.fixture(scope="module")
def tiny_run():
    """numpy + faiss (flat, hnsw) on 800 x 16 clustered rows, 3 filters, 1 repeat."""
    pytest.importorskip("faiss")
    return bench.run(None, stores=["numpy", "faiss"], kinds=["exact", "flat", "hnsw"], rows=800, dim=16,
                     queries=12, filters=FILTERS, repeats=1, progress=False, budget_s=2.0,
                     peers=["numpy", "faiss"])


# ----------------------------------------------------------------------------- data
def test_clustered_frame_shape_types_and_shares():
    df = bench.clustered(2000, 24, seed=3)
    assert list(df.columns) == ["cluster", "label", "num", "emb"]
    X = df.vec.matrix("emb")
    assert X.shape == (2000, 24) and X.dtype == np.float32
    assert not X.flags.writeable  # the zero-copy view of the fixed-size-list column
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    shares = df["label"].value_counts(normalize=True)
    assert abs(shares["a"] - 0.01) < 0.01 and abs(shares["d"] - 0.5) < 0.05
    assert df["num"].between(0, 99).all() and abs((df["num"] < 10).mean() - 0.10) < 0.03
    assert df["cluster"].nunique() > 5


def test_clustered_is_seeded_and_clustered_not_uniform():
    a = bench.clustered(500, 16, seed=1).vec.matrix("emb")
    b = bench.clustered(500, 16, seed=1).vec.matrix("emb")
    c = bench.clustered(500, 16, seed=2).vec.matrix("emb")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # clustered: a row's nearest neighbour is far closer than a random row (uniform data: not)
    S = a @ a.T
    np.fill_diagonal(S, -np.inf)
    assert np.median(S.max(axis=1)) > np.median(S[np.isfinite(S)]) + 0.3


def test_clustered_rejects_bad_sizes():
    with pytest.raises(InvalidInputError):
        bench.clustered(0, 8)
    with pytest.raises(InvalidInputError):
        bench.clustered(10, -1)


# ----------------------------------------------------------------------------- recall
def _truth(X, Q, k, rows=None):
    pos, sc = vecnb.metrics.topk(X, Q, k, "cosine", rows=rows)
    return pos, sc


def test_recall_exact_partial_and_padding():
    X = bench.clustered_matrix(300, 8, seed=0)[0]
    Q = X[:4] + 0.01
    t, s = _truth(X, Q, 5)
    assert bench.recall_at_k(t, t, s, X=X, Q=Q, metric="cosine") == 1.0
    half = t.copy()
    half[:, 3:] = -1  # 3 of 5 found
    assert bench.recall_at_k(half, t, s, X=X, Q=Q, metric="cosine") == pytest.approx(0.6)
    wrong = np.full_like(t, -1)
    wrong[:, 0] = t[:, 0]
    wrong[:, 1] = t[:, 0]  # a duplicate counts once
    assert bench.recall_at_k(wrong, t, s, X=X, Q=Q, metric="cosine") == pytest.approx(0.2)


def test_recall_counts_ties_and_handles_fewer_true_rows():
    X = bench.clustered_matrix(50, 8, seed=0)[0].copy()
    X[7] = X[3]  # an exact duplicate: either is a correct answer
    Q = X[3:4] + 0.0
    t, s = _truth(X, Q, 1)
    other = np.array([[7 if t[0, 0] == 3 else 3]])
    assert bench.recall_at_k(other, t, s, X=X, Q=Q, metric="cosine") == 1.0
    # a filter that lets only 2 rows through: truth padded with -1, recall over those 2
    rows = np.array([10, 20])
    t2, s2 = _truth(X, Q, 2, rows=rows)
    t2 = np.pad(t2, ((0, 0), (0, 3)), constant_values=-1)
    s2 = np.pad(s2, ((0, 0), (0, 3)), constant_values=-np.inf)
    allowed = np.zeros(len(X), bool)
    allowed[rows] = True
    kw = dict(X=X, Q=Q, metric="cosine", allowed=allowed)
    assert bench.recall_at_k(np.array([[20, 10, -1, -1, -1]]), t2, s2, **kw) == 1.0
    # row 5 scores above the true answers but does not pass the filter: never a hit
    assert (X[5] @ Q[0]) > s2[0, 1]
    assert bench.recall_at_k(np.array([[20, 5, -1, -1, -1]]), t2, s2, **kw) == 0.5


# ----------------------------------------------------------------------------- timers
def test_time_calls_counts_warmup_and_repeats():
    calls = []
    med, samples, last = time_calls(lambda: calls.append(1) or len(calls), repeats=4, warmup=2)
    assert len(calls) == 6 and len(samples) == 4 and last == 6
    assert med == pytest.approx(float(np.median(samples)))


def test_latencies_percentiles_and_budget():
    seen = []
    stats, out = latencies(lambda i: seen.append(i) or i, 30, repeats=3, warmup=5, budget_s=None)
    assert stats["samples"] == 30 and stats["repeats"] == 3
    assert out == list(range(30))
    assert len(seen) == 5 + 90
    assert 0 <= stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
    # a tiny budget cuts the items per repeat (at least 20 kept) and the repeats
    import time as _t

    stats, out = latencies(lambda i: _t.sleep(0.002), 200, repeats=5, warmup=3, budget_s=0.05)
    assert stats["samples"] == 20 and stats["repeats"] <= 2


def test_positions_from_hits_with_string_labels():
    df = bench.clustered(200, 8, seed=0)
    df.index = [f"r{i}" for i in range(len(df))]
    X = df.vec.matrix("emb")
    Q = np.array(X[[5, 9]])
    hits = df.vec.search(Q, k=3)
    pos = positions_from_hits(hits, df.index, 2, 3, batch=True)
    t, _ = _truth(X, Q, 3)
    np.testing.assert_array_equal(pos, t)
    one = positions_from_hits(df.vec.search(Q[1], k=3), df.index, 1, 3, batch=False)
    np.testing.assert_array_equal(one[0], t[1])


def test_raw_numpy_filtered_returns_only_allowed_rows():
    df = bench.clustered(400, 8, seed=0)
    X = df.vec.matrix("emb")
    case = Case(frame=df, column="emb", X=X, Q=np.array(X[:6]), metric="cosine", k=5)
    sysm = RawNumpy(case, "numpy", "exact")
    sysm.build()
    mask = (df["label"] == "a").to_numpy()
    filt = FilterCase(where={"label": "a"}, label="a", mask=mask, selectivity=float(mask.mean()))
    got = sysm.batch(case.Q, 5, filt)
    assert set(got[got >= 0].ravel()) <= set(np.flatnonzero(mask))
    t, _ = _truth(X, case.Q, 5, rows=np.flatnonzero(mask))
    np.testing.assert_array_equal(got[:, : t.shape[1]], t)
    np.testing.assert_array_equal(sysm.one(case.Q[0], 5, filt)[: t.shape[1]], t[0])


# ----------------------------------------------------------------------------- run
def test_run_measures_every_system_under_every_filter(tiny_run):
    res = tiny_run
    assert list(res.columns) == bench.RESULT_COLUMNS
    systems = set(res["system"])
    assert {"vecnb df.vec.search", "vecnb numpy exact", "numpy", "vecnb faiss flat", "faiss flat",
            "vecnb faiss hnsw", "faiss hnsw"} <= systems
    for s in systems:
        assert sorted(res.loc[res["system"] == s, "filter"]) == sorted(
            ["none", '{"num":{"$lt":10}}', '{"label":"a"}'])
    ok = res[res["status"] == "ok"]
    assert len(ok) == len(res), res.loc[res["status"] != "ok", ["system", "reason"]]
    # exact systems find exactly the exact answers, filtered or not (batch and one by one)
    exact = ok[ok["system"].isin(["vecnb df.vec.search", "vecnb numpy exact", "numpy", "vecnb faiss flat",
                                  "faiss flat"])]
    assert (exact["recall"] == 1.0).all() and (exact["single_recall"] == 1.0).all()
    # selectivity is the share of rows passing each filter
    df = bench.clustered(800 + 12, 16).iloc[12:]
    sel = ok.groupby("filter")["selectivity"].first()
    assert sel["none"] == 1.0
    assert sel['{"num":{"$lt":10}}'] == pytest.approx((df["num"] < 10).mean())
    assert sel['{"label":"a"}'] == pytest.approx((df["label"] == "a").mean())
    for col in ("build_s", "qps", "p50_ms", "p95_ms", "p99_ms", "memory_bytes", "latency_samples"):
        assert (ok[col] > 0).all() or col == "memory_bytes", col
    assert (ok["p50_ms"] <= ok["p99_ms"]).all()
    assert ok["machine"].str.contains("cores").all() and ok["blas"].notna().all()
    meta = res.attrs["vecnb_bench"]
    assert meta["config"]["n"] == 800 and meta["config"]["queries"] == 12 and "load_avg" in meta["machine"]


def test_run_baselines_ratios_and_memory(tiny_run):
    res = tiny_run.set_index(["system", "filter"])
    r = res.loc[("vecnb faiss hnsw", "none")]
    b = res.loc[("faiss hnsw", "none")]
    assert r["baseline"] == "faiss hnsw"
    assert r["qps_ratio_to_baseline"] == pytest.approx(r["qps"] / b["qps"])
    assert r["p50_ratio_to_baseline"] == pytest.approx(r["p50_ms"] / b["p50_ms"])
    assert r["p50_overhead_ms"] == pytest.approx(r["p50_ms"] - b["p50_ms"])
    assert res.loc[("vecnb numpy exact", "none"), "baseline"] == "numpy"
    assert res.loc[("vecnb df.vec.search", "none"), "baseline"] == "numpy"
    assert pd.isna(res.loc[("numpy", "none"), "baseline"])
    # raw numpy scans X itself: memory ratio 1; raw faiss's serialised flat index ~ the data
    assert res.loc[("numpy", "none"), "memory_ratio"] == pytest.approx(1.0)
    assert 1.0 <= res.loc[("faiss flat", "none"), "memory_ratio"] < 1.01
    assert "serialize" in res.loc[("faiss flat", "none"), "memory_method"]
    # raw faiss copied vecnb's HNSW parameters
    params = json.loads(b["params"])
    vparams = json.loads(r["params"])
    assert params["factory"] == f"HNSW{vparams['m']},Flat"
    assert params["efSearch"] == vparams["ef_search"] and params["efConstruction"] == vparams["ef_construction"]
    assert b["single_threads"] == 1  # raw faiss single queries run with 1 OpenMP thread


def test_overhead_long_form(tiny_run):
    ov = bench.overhead(tiny_run)
    assert set(ov["operation"]) == {"build", "batch search", "single query p50", "single query p99"}
    assert (ov.loc[ov["operation"] == "build", "filter"] == "none").all()
    row = ov[(ov["system"] == "vecnb faiss flat") & (ov["operation"] == "single query p50")
             & (ov["filter"] == "none")].iloc[0]
    assert row["baseline"] == "faiss flat"
    assert row["ratio_to_baseline"] == pytest.approx(row["value"] / row["baseline_value"])


def test_run_on_a_user_frame_does_not_mutate_it():
    df = bench.clustered(300, 8, seed=4)
    df.index = pd.Index([f"doc{i}" for i in range(len(df))], name="doc")
    before = df.copy()
    res = bench.run(df, stores=["numpy"], queries=5, filters=[None, {"label": {"$in": ["a", "b"]}}], repeats=1,
                    progress=False, budget_s=1.0)
    pd.testing.assert_frame_equal(df, before)
    ok = res[res["status"] == "ok"]
    assert len(ok) == 6 and (ok["recall"] == 1.0).all()
    assert "held-out" in res.attrs["vecnb_bench"]["config"]["source"]
    assert (res["n"] == 295).all() and (res["queries"] == 5).all()  # the 5 query rows are left out


def test_run_holds_query_rows_out_of_the_index():
    # each query is a row of the frame; held out, it cannot find itself, so an exact store's
    # top hit is another row and its score is below 1
    df = bench.clustered(400, 8, seed=5)
    res = bench.run(df, stores=["numpy"], queries=20, repeats=1, progress=False, budget_s=1.0, peers=False)
    assert (res["n"] == 380).all()
    from vecnb.bench import _run

    frame, _, X, Q, source = _run._prepare(df, None, 20, 0, 0, 0)
    assert len(frame) == 380 and not frame.index.isin(df.index[~df.index.isin(frame.index)]).any()
    D = ((Q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    assert D.min() > 0  # no query is a stored row


def test_kind_aliases_are_measured_once():
    pytest.importorskip("sqlite_vec")
    from vecnb import stores
    from vecnb.bench._run import _kinds_for

    cls = stores.get("sqlite")
    assert _kinds_for(cls, "all", "sqlite") == ["exact"]
    assert _kinds_for(cls, ["exact", "flat"], "sqlite") == ["exact"]
    assert _kinds_for(stores.get("faiss"), "all", "faiss")[:2] == ["flat", "hnsw"]


def test_faiss_native_warnings_are_captured_and_summarised_once():
    faiss = pytest.importorskip("faiss")
    from vecnb.bench._run import _native_stderr, _summarise_native

    X = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
    lines: list[str] = []
    for _ in range(3):
        with _native_stderr(lines):
            km = faiss.Kmeans(8, 16, niter=2, seed=1)
            km.cp.min_points_per_centroid = 39
            km.train(X)
    assert sum("WARNING clustering" in ln for ln in lines) == 3
    with pytest.warns(RuntimeWarning, match="faiss printed 3 warning"):
        summary = _summarise_native(lines)
    assert len(summary) == 1 and summary[0]["count"] == 3 and "100 points" in summary[0]["message"]


def test_per_query_table_small():
    pytest.importorskip("faiss")
    res = bench.per_query(rows=300, big_rows=1500, dim=16, queries=8, batch=20, repeats=2, k=5,
                          stores=("numpy", "faiss"), text=False, progress=False, budget_s=2.0)
    ok = res[res["status"] == "ok"].set_index("call")
    assert set(ok.index) >= {"df.vec.search, one vector", "df.vec.search, 20 vectors at once",
                             "idx.search, faiss HNSW, one vector"}
    hnsw = ok.loc["idx.search, faiss HNSW, one vector"]
    assert hnsw["vecnb_ms"] > 0 and hnsw["baseline_ms"] > 0 and hnsw["recall"] >= 0.9
    assert abs(hnsw["recall"] - hnsw["baseline_recall"]) <= 0.05  # the same graph, the same ef
    assert "ef_search=" in hnsw["params"]
    for r in ok.itertuples():
        assert np.isfinite(r.ratio) and r.met in (True, False) and r.goal
    prof = res.attrs["vecnb_bench"]["profile"]
    assert "ms per call" in prof and "search" in prof


def test_run_records_unavailable_stores_with_a_reason(monkeypatch):
    from vecnb import stores

    monkeypatch.delenv("VECNB_PG_URL", raising=False)
    monkeypatch.setitem(stores._registry, "ghost", ("vecnb_no_such_package.mod:Ghost", "ghost"))
    res = bench.run(None, stores=["ghost", "pgvector", "nope"], rows=200, dim=8, queries=3, repeats=1,
                    peers=False, progress=False, filters=[None, {"label": "a"}])
    n_pg = len(stores.get("pgvector").kinds)  # one system per pgvector kind
    assert len(res) == 2 * (2 + n_pg) and (res["status"] == "skipped").all()
    reasons = res.drop_duplicates("system").set_index("system")["reason"]
    assert 'pip install "vecnb[ghost]"' in reasons["vecnb ghost"]
    assert "VECNB_PG_URL" in reasons[[s for s in reasons.index if s.startswith("vecnb pgvector")][0]]
    assert "nope" in reasons["vecnb nope"] and "Known stores" in reasons["vecnb nope"]
    assert res["reason"].str.len().gt(0).all()


def test_run_validates_arguments():
    with pytest.raises(InvalidInputError):
        bench.run(None, stores=["numpy"], k=0, progress=False)
    with pytest.raises(InvalidInputError):
        bench.run(None, stores=["numpy"], peers=["pinecone"], progress=False)
    dup = bench.clustered(20, 4)
    dup.index = [0] * 20
    with pytest.raises(InvalidInputError, match="duplicate"):
        bench.run(dup, stores=["numpy"], progress=False)


def test_run_with_chroma_and_its_peers():
    pytest.importorskip("chromadb")
    res = bench.run(None, stores=["chroma"], rows=400, dim=8, queries=5, repeats=1, progress=False, budget_s=1.0,
                    filters=[None, {"label": {"$in": ["c", "d"]}}])
    by = res.set_index(["system", "filter"])
    assert by.loc[("vecnb chroma hnsw", "none"), "status"] == "ok"
    assert by.loc[("vecnb chroma hnsw", "none"), "recall"] >= 0.9
    assert by.loc[("vecnb chroma hnsw", "none"), "baseline"] == "chromadb"  # the client a chroma user calls
    for peer in ("hnswlib", "chromadb"):
        rows = res[res["system"] == peer]
        assert len(rows) == 2
        if rows["status"].iloc[0] == "skipped":
            assert "pip install" in rows["reason"].iloc[0]
        else:
            assert (rows["status"] == "ok").all() and (rows["recall"] >= 0.9).all()
    if (res["system"] == "chromadb").any() and res.loc[res["system"] == "chromadb", "status"].iloc[0] == "ok":
        c = json.loads(res.loc[res["system"] == "chromadb", "params"].iloc[0])
        v = json.loads(by.loc[("vecnb chroma hnsw", "none"), "params"])
        assert c["M"] == v["max_neighbors"] and c["ef_search"] == v["ef_search"]


def test_langchain_peer_or_its_reason(tiny_run):
    res = bench.run(None, stores=["faiss"], kinds="flat", rows=300, dim=8, queries=5, repeats=1, progress=False,
                    peers=["faiss", "langchain"], budget_s=1.0, filters=[None, {"label": {"$ne": "d"}}])
    lc = res[res["system"] == "langchain FAISS flat"]
    assert len(lc) == 2
    if lc["status"].iloc[0] == "skipped":
        assert "langchain" in lc["reason"].iloc[0].lower()
    else:
        assert lc.loc[lc["filter"] == "none", "recall"].iloc[0] == 1.0
        assert (lc["baseline"] == "faiss flat").all()


# ----------------------------------------------------------------------------- faiss description
def test_describe_faiss_factories():
    faiss = pytest.importorskip("faiss")
    from vecnb.bench._systems import describe_faiss

    h = faiss.IndexHNSWFlat(16, 24, faiss.METRIC_INNER_PRODUCT)
    h.hnsw.efSearch = 48
    f, p = describe_faiss(faiss.IndexIDMap2(h))
    assert f == "HNSW24,Flat" and p["efSearch"] == 48 and p["M"] == 24
    assert describe_faiss(faiss.index_factory(16, "IVF8,Flat"))[0] == "IVF8,Flat"
    assert describe_faiss(faiss.index_factory(16, "IVF8,SQ8"))[0] == "IVF8,SQ8"
    assert describe_faiss(faiss.index_factory(16, "IVF8,PQ4x8np"))[0] == "IVF8,PQ4x8np"
    assert describe_faiss(faiss.IndexFlatIP(16))[0] == "Flat"


# ----------------------------------------------------------------------------- sweep
def test_sweep_ef_search_changes_the_answers():
    pytest.importorskip("faiss")
    df = bench.clustered(1500, 16, seed=0, n_clusters=3)
    with df.vec.index(store="faiss", kind="hnsw", progress=False, m=8, ef_construction=16) as idx:
        sw = bench.sweep(idx, ef_search=[1, 64], queries=20, repeats=1, data=df, budget_s=1.0)
        assert list(sw["value"]) == [1, 64] and (sw["param"] == "ef_search").all()
        assert sw["answers_changed"].tolist() == [False, True]
        assert sw["recall"].iloc[1] >= sw["recall"].iloc[0] and sw["recall"].iloc[1] > 0.9
        # vectors read back from the store when no data= is given: same recall
        sw2 = bench.sweep(idx, ef_search=[64], queries=20, repeats=1, budget_s=1.0)
        assert sw2["recall"].iloc[0] == pytest.approx(sw["recall"].iloc[1])
        with pytest.raises(InvalidInputError):
            bench.sweep(idx, nprobe=[1, 2], queries=5, data=df)
        with pytest.raises(InvalidInputError):
            bench.sweep(idx, ef_search=[8], nprobe=[2], data=df)
        with pytest.raises(InvalidInputError):
            bench.sweep(idx, ef_search=[0], data=df)


# ----------------------------------------------------------------------------- plot, io, cli
def test_plot_run_and_sweep(tiny_run):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = bench.plot(tiny_run)
    assert len(fig.axes) == 3  # recall/QPS, latency, filtered
    ax = fig.axes[0]
    assert len(ax.collections) == (tiny_run["filter"] == "none").sum()
    plt.close(fig)
    sw = pd.DataFrame({"param": "ef_search", "value": [16, 32], "recall": [0.9, 0.95], "qps": [100.0, 80.0],
                       "p50_ms": [1.0, 1.2], "p95_ms": [2.0, 2.2], "p99_ms": [3.0, 3.3], "store": "faiss",
                       "kind": "hnsw", "n": 10})
    fig = bench.plot(sw)
    assert len(fig.axes) == 2
    plt.close(fig)
    with pytest.raises(InvalidInputError):
        bench.plot(pd.DataFrame())


def test_save_load_round_trip(tiny_run, tmp_path):
    path = bench.save(tmp_path / "sub" / "b.json", results=tiny_run, note="tiny")
    doc = bench.load(path)
    assert doc["note"] == "tiny" and doc["machine"]["cpu"] == tiny_run.attrs["vecnb_bench"]["machine"]["cpu"]
    back = doc["results"]
    assert list(back.columns) == list(tiny_run.columns) and len(back) == len(tiny_run)
    np.testing.assert_allclose(back["recall"].to_numpy(float), tiny_run["recall"].to_numpy(float))
    assert doc["foundation"].empty
    with open(path) as fh:
        json.load(fh)  # strict JSON (no NaN tokens)
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(IndexFormatError):
        bench.load(tmp_path / "x.json")


def test_machine_info_fields():
    m = bench.machine_info()
    for key in ("cpu", "cores", "threads", "load_avg", "blas", "versions", "time", "python"):
        assert key in m
    assert m["threads"] >= 1 and len(m["load_avg"]) == 3
    assert m["versions"]["numpy"] == np.__version__


@pytest.fixture(scope="module")
def tiny_foundation():
    return bench.foundation(1500, 16, queries=20, single=10, repeats=1, embed=False, progress=False, budget_s=1.0)


def test_foundation_small(tiny_foundation):
    res = tiny_foundation
    figs = set(res["figure"])
    assert any(f.startswith("exact batched search") for f in figs)
    assert any(f.startswith("matrix of an embedding column") for f in figs)
    base = res[res["system"] == res["baseline"]]
    assert (base.loc[base["status"] == "ok", "ratio_to_baseline"] == 1.0).all()
    mat = res[res["system"] == "df.vec.matrix (fixed-size-list column)"].iloc[0]
    assert "zero copy: True" in mat["notes"]
    ok = res[res["status"] == "ok"]
    assert (ok["value"] > 0).all()
    emb = res[res["figure"] == "MiniLM embedding rate"]
    assert (emb["status"] == "skipped").all() and (emb["reason"] == "embed=False").all()


def test_cli_writes_json(tmp_path, capsys):
    from vecnb.bench.__main__ import main

    out = tmp_path / "cli.json"
    rc = main(["--rows", "300", "--dim", "8", "--queries", "4", "--stores", "numpy", "--repeats", "1",
               "--no-foundation", "--no-sweep", "--no-progress", "--budget", "1", "--filter", "null",
               "--filter", '{"label": "d"}', "--out", str(out), "--note", "ci", "--per-query-rows", "200"])
    assert rc == 0
    doc = bench.load(out)
    assert "df.vec.search, one vector" in set(doc["per_query"]["call"])
    assert set(doc["results"]["filter"]) == {"none", '{"label":"d"}'}
    assert doc["note"].startswith("ci; command: python -m vecnb.bench")
    printed = capsys.readouterr().out
    assert "vecnb numpy exact" in printed and str(out) in printed


def test_package_is_importable_lazily():
    assert vecnb.bench is bench
    assert os.path.basename(bench.__file__) == "__init__.py"


def test_pgvector_rows_beside_raw_sql(pg_url):
    """vecnb's pgvector store beside plain psycopg SQL on the same table; the table is dropped after."""
    import psycopg

    res = bench.run(None, stores=["pgvector"], kinds="hnsw", rows=400, dim=8, queries=5, repeats=1,
                    progress=False, budget_s=1.0, options={"pgvector": {"url": pg_url}},
                    filters=[None, {"num": {"$gte": 50}}])
    by = res.set_index(["system", "filter"])
    assert (res["status"] == "ok").all(), res[["system", "reason"]]
    v, raw = by.loc[("vecnb pgvector hnsw", "none")], by.loc[("psycopg hnsw", "none")]
    assert v["baseline"] == "psycopg hnsw" and v["recall"] >= 0.95 and raw["recall"] >= 0.95
    assert "pg_total_relation_size" in v["memory_method"] and v["memory_ratio"] > 1
    assert json.loads(raw["params"])["hnsw.ef_search"] == str(max(json.loads(v["params"])["ef_search"], 10))
    with psycopg.connect(pg_url) as conn:
        left = conn.execute(r"SELECT count(*) FROM pg_tables WHERE tablename LIKE 'vecnb\_bench\_%'").fetchone()[0]
    assert left == 0


def test_scorecard_reads_the_figures(tiny_run, tiny_foundation):
    sc = bench.scorecard(tiny_run, tiny_foundation).set_index("goal")
    by = tiny_run.set_index(["system", "filter"])
    d = sc.loc["HNSW single query: vecnb p50 - raw faiss p50 (ms)"]
    want = by.loc[("vecnb faiss hnsw", "none"), "p50_ms"] - by.loc[("faiss hnsw", "none"), "p50_ms"]
    assert d["measured"] == pytest.approx(want) and d["met"] == (want <= 0.25)
    m = sc.loc["matrix of an embedding column: ms (zero copy)"]
    assert m["met"] == (m["measured"] < 1.0)
    assert sc.loc["HNSW single query: chromadb p50 / vecnb faiss hnsw p50", "met"] is None  # chromadb not run
    f = sc.loc["filtered recall@k at ~1 % selectivity: worst vecnb store"]
    assert f["measured"] == 1.0 and f["met"]
    # the dict from load() works too
    doc = {"results": tiny_run, "foundation": tiny_foundation}
    pd.testing.assert_frame_equal(bench.scorecard(doc), sc.reset_index())


@pytest.mark.parametrize("store", ["sqlite", "pgvector"])
def test_per_query_server_store_rows_like_for_like(store, request):
    """Each server / embedded store gives two rows: store.search beside the bare library call (keys +
    scores both sides) and idx.search beside that call plus a hand-built frame; both exact here."""
    pytest.importorskip("apsw" if store == "sqlite" else "psycopg")
    url = request.getfixturevalue("pg_url") if store == "pgvector" else None
    res = bench.per_query(rows=300, big_rows=0, dim=16, queries=8, repeats=2, k=5, stores=(store,), text=False,
                          progress=False, budget_s=2.0, profile=False, pg_url=url)
    assert (res["status"] == "ok").all(), res["reason"].tolist()
    name = "sqlite-vec" if store == "sqlite" else "pgvector"
    ok = res.set_index("call")
    bare, frame = ok.loc[f"store.search, {name}, one vector"], ok.loc[f"idx.search, {name}, one vector"]
    assert bare["recall"] == 1.0 and bare["baseline_recall"] == 1.0  # both exact, the same rows
    assert bare["vecnb_ms"] == bare["store_ms"] and frame["vecnb_ms"] > 0 and frame["baseline_ms"] > 0
    assert "df.iloc[pos]" in frame["baseline"] and "frame" in frame["notes"]
    for r in (bare, frame):
        assert np.isfinite(r["ratio"]) and r["met"] in (True, False) and r["goal"].startswith("<= 1.2x")


def test_ingest_bench_cases(pg_url):
    """vecnb.bench.ingest: vecnb's upsert beside raw COPYs into a plain table, the store's table with its
    GIN indexes kept during the load, and built after it (the like-for-like case)."""
    pytest.importorskip("psycopg")
    from vecnb.bench import ingest

    res = ingest.run(rows=300, dim=8, url=pg_url, repeats=1).set_index("case")
    assert list(res.index) == ["raw COPY, plain table", "raw COPY, store's table",
                               "raw COPY, store's table, GIN after", "vecnb upsert"]
    assert (res["rows_per_s"] > 0).all() and res.loc["vecnb upsert", "ratio_to_raw"] == 1.0
