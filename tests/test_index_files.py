"""Saved index files (format 3: Arrow IPC rows), older saves, memory-mapped opening, size checks,
the norm cache's ownership rule, and IVF list compaction (issue 20)."""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb._core import metrics
from vecnb._core.validation import duplicated_ints
from vecnb.errors import DuplicateIdError, IndexFormatError

DATA = Path(__file__).parent / "data" / "format2"


def _frame(n: int = 60, d: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "title": [f"doc {i}" for i in range(n)],
        "year": np.arange(n) + 1990,
        "score_": rng.random(n),
        "flag": rng.random(n) > 0.5,
        "when": pd.date_range("2020-01-01", periods=n, freq="D"),
        "cat": pd.Categorical(rng.choice(["x", "y"], n)),
        "maybe": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
    }, index=[f"r{i}" for i in range(n)])
    return df.vec.attach(rng.standard_normal((n, d)).astype(np.float32), name="emb")


def _version_folder(root: Path) -> Path:
    return root / json.loads((root / "vecnb-index.json").read_text())["version"]


@pytest.mark.parametrize("store,opts", [("numpy", {}), ("faiss", {"kind": "flat"})])
def test_saved_rows_are_arrow_and_mmap_opens_the_same_index(tmp_path, store, opts):
    df = _frame()
    idx = df.vec.index(store=store, column="emb", progress=False, **opts)
    idx.save(tmp_path / "i")
    files = {p.name for p in _version_folder(tmp_path / "i").rglob("*") if p.is_file()}
    assert {"frame.arrow", "metadata.arrow"} <= files and not any(f.endswith(".parquet") for f in files)
    Q = df.vec.matrix("emb")[:5] + 0.01
    want = idx.search(Q, k=7)
    for mm in (False, True):
        got = vecnb.load_index(tmp_path / "i", mmap=mm)
        assert got.info()["memory_mapped"] is mm
        pd.testing.assert_frame_equal(got.frame, idx.frame)  # every dtype and label comes back as saved
        pd.testing.assert_frame_equal(got.search(Q, k=7), want)
        pd.testing.assert_frame_equal(got.search(Q[0], k=5, where={"year": {"$gte": 2000}}),
                                      idx.search(Q[0], k=5, where={"year": {"$gte": 2000}}))
        # a mapped index still takes writes (copied into memory first), labels resolve the same
        got.upsert(df.iloc[:3].vec.attach(np.ones((3, 8), np.float32), name="emb"))
        assert len(got) == len(df) and got.keys_for(["r0"]).tolist() == idx.keys_for(["r0"]).tolist()
        got.delete(["r1"])
        assert "r1" not in got.search(Q, k=60).index
        got.close()


@pytest.mark.parametrize("store", ["numpy", "faiss"])
@pytest.mark.parametrize("mmap", [False, True])
def test_format_2_saves_still_load(tmp_path, store, mmap):
    """A folder written by the previous release (frame.parquet, metadata.parquet) loads as it was."""
    shutil.copytree(DATA / store, tmp_path / store)
    X = np.load(DATA / "vectors.npy")
    idx = vecnb.load_index(tmp_path / store, mmap=mmap)
    assert json.loads((tmp_path / store / "vecnb-index.json").read_text())["meta"]["version"] == 2
    assert len(idx) == 24 and idx.frame.index[0] == "id0" and idx.frame["year"].tolist() == list(range(2000, 2024))
    hits = idx.search(X[[3, 11]], k=2)
    assert hits[hits["rank"] == 1].index.tolist() == ["id3", "id11"]
    assert np.allclose(hits[hits["rank"] == 1]["score"], 1.0, atol=1e-5)
    vecs, found = idx.store.fetch(idx.keys_for(["id7"]))
    assert found.all() and np.allclose(vecs[0], X[7], atol=1e-5)
    # saving it again writes the current format
    idx.save(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "vecnb-index.json").read_text())["meta"]["version"] == vecnb.index.core.FORMAT_VERSION
    pd.testing.assert_frame_equal(vecnb.load_index(tmp_path / "again").frame, idx.frame)


def test_format_2_filters_answer_as_saved(tmp_path):
    shutil.copytree(DATA / "numpy", tmp_path / "n")
    X = np.load(DATA / "vectors.npy")
    idx = vecnb.load_index(tmp_path / "n")
    hits = idx.search(X[5], k=24, where={"year": {"$gt": 2010}})
    assert len(hits) == 13 and (hits["year"] > 2010).all()


def test_newer_format_is_refused_clearly(tmp_path):
    _frame(10).vec.index(store="numpy", column="emb", progress=False).save(tmp_path / "i")
    doc = json.loads((tmp_path / "i" / "vecnb-index.json").read_text())
    doc["meta"]["version"] = 99
    (tmp_path / "i" / "vecnb-index.json").write_text(json.dumps(doc))
    with pytest.raises(IndexFormatError, match="version 99"):
        vecnb.load_index(tmp_path / "i", verify=False)


def test_without_verify_sizes_are_still_checked_and_with_it_content(tmp_path):
    _frame(30).vec.index(store="numpy", column="emb", progress=False).save(tmp_path / "i")
    vec = _version_folder(tmp_path / "i") / "store" / "vectors.npy"
    data = bytearray(vec.read_bytes())
    vec.write_bytes(bytes(data) + b"\0" * 64)  # extended: caught by a stat, nothing read
    for mm in (False, True):
        with pytest.raises(IndexFormatError, match="size / SHA-256"):
            vecnb.load_index(tmp_path / "i", verify=False, mmap=mm)
    data[-5] ^= 0x40  # same size, one vector changed: only the hash sees it
    vec.write_bytes(bytes(data))
    for mm in (False, True):
        with pytest.raises(IndexFormatError, match="size / SHA-256"):
            vecnb.load_index(tmp_path / "i", mmap=mm)
    vecnb.load_index(tmp_path / "i", verify=False).close()  # trusted as asked


def test_duplicated_ints_and_duplicate_write_error():
    assert duplicated_ints(np.array([3, 1, 2, 3, 1, 1, 5])).tolist() == [1, 3]
    assert duplicated_ints(np.arange(1000)).tolist() == []
    assert duplicated_ints(np.array([], dtype=np.int64)).tolist() == []
    assert duplicated_ints(np.array([5, 4, 3])).tolist() == []
    from vecnb.stores.numpy_store import NumpyStore

    with pytest.raises(DuplicateIdError, match=r"e\.g\. \[7\]"):
        NumpyStore(dim=2).upsert([7, 1, 7], np.ones((3, 2), np.float32))


def test_norm_cache_never_keeps_a_dropped_frame_alive_and_is_bounded(monkeypatch):
    metrics._NORM_CACHE.clear()
    df = vecnb.bench.clustered(3000, 16, seed=3)
    q = df.vec.matrix("emb")[:2]
    first = df.vec.search(q, k=3)
    assert len(metrics._NORM_CACHE) == 1  # the column's norms, while the column lives
    pd.testing.assert_frame_equal(df.vec.search(q, k=3), first)  # a hit gives the same answer
    buf = df["emb"].array._pa_array.chunk(0).values.buffers()[1]
    import weakref

    # the cache holds no reference to the column: dropping the frame frees it and the entry
    ref = weakref.ref(df["emb"].array._pa_array)
    del df, buf, q, first
    gc.collect()
    assert ref() is None and len(metrics._NORM_CACHE) == 0
    # bounded by bytes: norms bigger than the budget are computed, not kept
    monkeypatch.setattr(metrics, "_NORM_CACHE_BYTES", 1000)
    big = vecnb.bench.clustered(2000, 8, seed=4)
    big.vec.search(big.vec.matrix("emb")[:1], k=2)
    assert len(metrics._NORM_CACHE) == 0


def test_norm_cache_follows_the_memory_not_the_address():
    """Entries go with their owner: a new matrix at a reused address never sees stale norms."""
    metrics._NORM_CACHE.clear()
    for scale in (1.0, 3.0, 0.5):
        X = np.full((200, 4), scale, np.float32)
        X.setflags(write=False)
        pos, scores = metrics.topk(X, np.ones((1, 4), np.float32), 3, "l2")
        assert np.allclose(scores, -np.sqrt(4 * (scale - 1.0) ** 2), atol=1e-5)
        del X
        gc.collect()
    assert len(metrics._NORM_CACHE) == 0


def test_ivf_lists_compacted_keep_every_answer(monkeypatch):
    faiss = pytest.importorskip("faiss")
    from vecnb.stores import faiss_store

    df = vecnb.bench.clustered(3000, 16, seed=5)
    X = df.vec.matrix("emb")
    built = {}
    for limit in (faiss_store._COMPACT_MIN_LIST_BYTES, 0):  # 0: every list compacted
        monkeypatch.setattr(faiss_store, "_COMPACT_MIN_LIST_BYTES", limit)
        idx = df.vec.index(store="faiss", kind="sq8", nlist=16, nprobe=4, column="emb", progress=False)
        built[limit] = idx
    a, b = built.values()
    ivf = faiss.extract_index_ivf(b.store._index)
    assert sum(ivf.invlists.list_size(i) for i in range(ivf.nlist)) == 3000
    pd.testing.assert_frame_equal(a.search(X[:20], k=5), b.search(X[:20], k=5))
    keys = b.keys_for(df.index[:50])
    assert np.array_equal(a.store.fetch(keys)[0], b.store.fetch(keys)[0])  # the id map still finds each row
    b.delete(df.index[:10])  # remove_ids through the direct map after the copy
    assert len(b) == 2990 and not set(df.index[:10]) & set(b.search(X[:10], k=3).index)


def test_load_index_of_a_missing_path_is_index_not_found(tmp_path):
    import vecnb
    from vecnb.errors import IndexNotFoundError

    with pytest.raises(IndexNotFoundError, match="no saved vecnb index there") as err:
        vecnb.load_index(tmp_path / "never_saved")
    assert isinstance(err.value, FileNotFoundError)  # callers catching the builtin keep working
