"""faiss-specific behaviour: the filter planner, tombstones, auto kind, tuning, threads, exact scores."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conformance import _recall, brute, clustered, make_ids

faiss = pytest.importorskip("faiss")

from vecnb._core import filters
from vecnb.errors import IndexFormatError, InvalidInputError
from vecnb.stores import faiss_store
from vecnb.stores.faiss_store import FaissStore, choose_kind

K = 10


@pytest.fixture(scope="module")
def data():
    allx = clustered(3060, 32, seed=7)
    rng = np.random.default_rng(3)
    import pandas as pd

    meta = pd.DataFrame({"bucket": rng.integers(0, 100, 3000)})
    return {"X": allx[:3000], "Q": allx[3000:], "ids": make_ids(3000), "meta": meta}


def filled(data, **params):
    store = FaissStore(dim=32, metric=params.pop("metric", "cosine"), **params)
    store.upsert(data["ids"], data["X"], data["meta"])
    return store


@pytest.mark.parametrize("pct", [50, 10, 1])
@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_selector_path_keeps_recall_and_never_loses_rows(data, kind, pct):
    # exact_rows=0 / exact_fraction=0 force the IDSelectorBitmap path even for a 1% filter
    store = filled(data, kind=kind, exact_rows=0, exact_fraction=0.0)
    where = filters.parse({"bucket": {"$lt": pct}})
    mask = data["meta"]["bucket"].to_numpy() < pct
    got, _ = store.search(data["Q"], K, where=where)
    pos, _ = brute(data["X"], data["Q"], K, "cosine", mask)
    assert ((got >= 0).sum(1) == min(K, mask.sum())).all()
    key_ok = set(data["ids"][mask].tolist())
    assert all(x in key_ok for x in got[got >= 0].tolist())
    assert _recall(got, data["ids"][pos]) >= 0.95
    store.close()


def test_planner_searches_few_rows_exactly(data, monkeypatch):
    store = filled(data, kind="hnsw")
    store.build()

    def boom(*a, **k):
        raise AssertionError("faiss was asked although the filter allows few rows")

    monkeypatch.setattr(store, "_faiss_search", boom)
    where = filters.parse({"bucket": {"$lt": 2}})  # ~60 rows: below exact_rows
    mask = data["meta"]["bucket"].to_numpy() < 2
    got, sc = store.search(data["Q"], K, where=where)
    pos, want = brute(data["X"], data["Q"], K, "cosine", mask)
    np.testing.assert_array_equal(got, data["ids"][pos])
    np.testing.assert_allclose(sc, want, atol=1e-5)


def test_short_approximate_answers_are_redone_exactly(data, monkeypatch):
    store = filled(data, kind="hnsw", exact_rows=0, exact_fraction=0.0)
    store.build()
    # a faiss search that finds nothing: the store must still answer, exactly
    monkeypatch.setattr(store, "_faiss_search", lambda q, k, allowed, n: (np.zeros((len(q), k), np.float32),
                                                                      np.full((len(q), k), -1, np.int64)))
    where = filters.parse({"bucket": {"$gte": 50}})
    mask = data["meta"]["bucket"].to_numpy() >= 50
    got, sc = store.search(data["Q"], K, where=where)
    pos, want = brute(data["X"], data["Q"], K, "cosine", mask)
    np.testing.assert_array_equal(got, data["ids"][pos])
    np.testing.assert_allclose(sc, want, atol=1e-5)


def test_hnsw_deletes_are_tombstones_then_rebuild(data):
    store = filled(data, kind="hnsw")
    store.build()
    gone = data["ids"][::20]  # 5%: tombstones, the graph stays
    store.delete(gone)
    assert store.info()["built"] and store._dead_in_index == len(gone)
    got, _ = store.search(data["Q"], K)
    assert not np.isin(got, gone).any()
    keep = ~np.isin(data["ids"], gone)
    pos, _ = brute(data["X"][keep], data["Q"], K, "cosine")
    assert _recall(got, data["ids"][keep][pos]) >= 0.95
    more = data["ids"][1::3]  # pushes tombstones past a quarter: rebuilt without them
    store.delete(more)
    got, _ = store.search(data["Q"], K)
    assert store._dead_in_index == 0 and store._index.ntotal == len(store)
    assert not np.isin(got, np.concatenate([gone, more])).any()


def test_ivf_deletes_use_remove_ids(data):
    store = filled(data, kind="ivf")
    store.build()
    before = store._index.ntotal
    store.delete(data["ids"][:100])
    assert store._index.ntotal == before - 100


def test_auto_kind_follows_size(data, monkeypatch):
    assert choose_kind(10) == "flat" and choose_kind(50_000) == "hnsw" and choose_kind(5_000_000) == "sq8"
    monkeypatch.setattr(faiss_store, "AUTO_FLAT_MAX", 1000)
    store = FaissStore(dim=32, metric="cosine", kind="auto")
    store.upsert(data["ids"][:500], data["X"][:500])
    store.search(data["Q"][:1], K)
    assert store.info()["kind"] == "flat" and store.info()["exact"]
    store.upsert(data["ids"][500:], data["X"][500:])  # grows past the limit: rebuilt as HNSW
    got, _ = store.search(data["Q"], K)
    info = store.info()
    assert info["kind"] == "hnsw" and info["kind_requested"] == "auto" and not info["exact"]
    pos, _ = brute(data["X"], data["Q"], K, "cosine")
    assert _recall(got, data["ids"][pos]) >= 0.95


def test_trained_kinds_search_exactly_until_enough_rows(data):
    store = FaissStore(dim=32, metric="l2", kind="pq")
    store.upsert(data["ids"][:200], data["X"][:200])
    got, sc = store.search(data["Q"], K)
    assert store.info()["kind"] == "flat"
    pos, want = brute(data["X"][:200], data["Q"], K, "l2")
    np.testing.assert_array_equal(got, data["ids"][pos])
    np.testing.assert_allclose(sc, want, atol=1e-5)
    store.upsert(data["ids"][200:], data["X"][200:])
    store.search(data["Q"][:1], K)
    assert store.info()["kind"] == "pq"


@pytest.mark.parametrize("kind,param", [("hnsw", "ef_search"), ("ivf", "nprobe")])
def test_target_recall_tunes_and_reports(data, kind, param):
    low = filled(data, kind=kind, target_recall=0.8)
    high = filled(data, kind=kind, target_recall=0.99)
    low.build()
    high.build()
    assert low.info()["recall"] >= 0.8 and high.info()["recall"] >= 0.99
    assert high.info()["params"][param] >= low.info()["params"][param]
    assert high.info()["target_recall"] == 0.99


def test_single_query_runs_single_threaded_and_restores(data):
    store = filled(data, kind="hnsw")
    store.build()
    real = store._index
    seen = []

    class Spy:
        def search(self, *a, **k):
            seen.append(faiss.omp_get_max_threads())
            return real.search(*a, **k)

    before = faiss.omp_get_max_threads()
    store._index = Spy()
    store.search(data["Q"][:1], K)
    store.search(data["Q"][:8], K)
    store._index = real
    assert faiss.omp_get_max_threads() == before
    assert seen[0] == 1
    assert seen[1] == before


def test_l2_scores_exact_for_near_duplicates_with_large_norms():
    # the store reports minus the true Euclidean distance (faiss works with squared float32
    # distances); near-duplicates far from the origin are where that is easiest to get wrong
    rng = np.random.default_rng(0)
    base = 1000 + rng.normal(size=(1, 16))
    X = (base + 1e-3 * rng.normal(size=(400, 16))).astype(np.float32)
    Q = (base + 1e-3 * rng.normal(size=(40, 16))).astype(np.float32)
    for kind in ("flat", "hnsw"):
        store = FaissStore(dim=16, metric="l2", kind=kind)
        store.upsert(np.arange(400), X)
        got, sc = store.search(Q, 5)
        pos, want = brute(X, Q, 5, "l2")
        # each returned row's score is its exact distance (HNSW may return other rows than brute force)
        exact = -np.sqrt(((X[got].astype(np.float64) - Q[:, None, :].astype(np.float64)) ** 2).sum(-1))
        np.testing.assert_allclose(sc, exact, atol=1e-6)
        if kind == "flat":
            np.testing.assert_allclose(sc, want, atol=1e-6)
        assert _recall(got, pos) >= (1.0 if kind == "flat" else 0.9)


def test_persistence_keeps_state(data, tmp_path):
    store = filled(data, kind="hnsw", target_recall=0.9)
    store.build()
    store.delete(data["ids"][:30])  # tombstones survive the round trip
    before = store.search(data["Q"], K)
    store.save(tmp_path / "s")
    assert (tmp_path / "s" / "index.faiss").exists()
    loaded = FaissStore.load(tmp_path / "s")
    assert loaded.info()["params"] == store.info()["params"] and loaded.info()["recall"] == store.info()["recall"]
    after = loaded.search(data["Q"], K)
    np.testing.assert_array_equal(after[0], before[0])
    assert len(loaded) == len(store)


def test_load_rejects_other_folders_and_versions(data, tmp_path):
    with pytest.raises(IndexFormatError):
        FaissStore.load(tmp_path)
    store = filled(data, kind="flat")
    store.save(tmp_path / "s")
    cfg = json.loads((tmp_path / "s" / "store.json").read_text())
    cfg["version"] = 999
    (tmp_path / "s" / "store.json").write_text(json.dumps(cfg))
    with pytest.raises(IndexFormatError, match="version"):
        FaissStore.load(tmp_path / "s")
    assert os.path.exists(tmp_path / "s" / "index.faiss")


def test_bad_parameters_are_explained():
    with pytest.raises(InvalidInputError, match="kind"):
        FaissStore(dim=8, kind="lsh")
    with pytest.raises(InvalidInputError, match="pq_m"):
        FaissStore(dim=10, kind="pq", pq_m=3)
    with pytest.raises(InvalidInputError, match="target_recall"):
        FaissStore(dim=8, target_recall=1.5)
    with pytest.raises(InvalidInputError, match="ef_search"):
        FaissStore(dim=8, ef_search=0)


def test_hnsw_without_ef_search_is_tuned_to_099_on_held_out_queries(data):
    store = filled(data, kind="hnsw")
    store.build()
    info = store.info()
    assert info["target_recall"] == 0.99 and info["recall"] >= 0.99
    assert info["params"]["ef_search"] == store.search_params()["ef_search"]
    # the queries the tuning never saw (data["Q"]) reach nearly the same recall
    got, _ = store.search(data["Q"], K)
    pos, _ = brute(data["X"], data["Q"], K, "cosine")
    assert _recall(got, data["ids"][pos]) >= 0.97
    fixed = filled(data, kind="hnsw", ef_search=40)
    fixed.build()
    assert fixed.info()["params"]["ef_search"] == 40 and "recall" not in fixed.info()


def test_set_search_params_changes_searches_and_retunes(data):
    store = filled(data, kind="hnsw")
    store.build()
    seen = []
    real = store._index

    class Spy:
        def search(self, x, k, params=None):
            seen.append(params.efSearch)
            return real.search(x, k, params=params)

    store._index = Spy()
    store.set_search_params(ef_search=17)
    store.search(data["Q"][:1], K)
    store.set_search_params(ef_search=300)
    store.search(data["Q"][:1], K)
    store._index = real
    assert seen == [17, 300]
    assert store.search_params()["ef_search"] == 300 and "recall" not in store.info()
    store.set_search_params(target_recall=0.8)
    low = store.search_params()["ef_search"]
    assert store.info()["recall"] >= 0.8 and low < 300
    with pytest.raises(InvalidInputError, match="nprobe"):
        store.set_search_params(nprobe=4)
    with pytest.raises(InvalidInputError, match="target_recall"):
        store.set_search_params(target_recall=0)
    with pytest.raises(InvalidInputError, match="ef_search"):
        store.set_search_params(ef_search=-1)


def test_set_search_params_on_ivf_and_persisted(data, tmp_path):
    store = filled(data, kind="ivf")
    store.build()
    store.set_search_params(nprobe=3)
    assert store.search_params()["nprobe"] == 3
    store.save(tmp_path / "s")
    assert FaissStore.load(tmp_path / "s").search_params()["nprobe"] == 3
    with pytest.raises(InvalidInputError, match="ef_search"):
        store.set_search_params(ef_search=32)
