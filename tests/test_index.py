"""VectorIndex: labels <-> keys, search like df.vec.search, upsert / delete / sync, save / load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb.errors import (
    ColumnNotFoundError,
    DimensionMismatchError,
    DuplicateIdError,
    FilterError,
    IndexFormatError,
    InvalidInputError,
    ModelMismatchError,
    StoreError,
)
from vecnb.index import MANIFEST, VectorIndex, build_index, load_index
from vecnb.stores.numpy_store import NumpyStore

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STORES = ["numpy", "faiss", "chroma"]


def clustered(n, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, d))
    return (centres[rng.integers(0, 12, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def frame():
    n = 400
    rng = np.random.default_rng(1)
    allx = clustered(n + 5)
    df = pd.DataFrame({
        "title": [f"doc {i}" for i in range(n)],
        "year": rng.integers(1970, 2020, n),
        "label": np.array(["a", "b", "c", None], dtype=object)[rng.integers(0, 4, n)],
        "score_in": rng.random(n),          # a column named like nothing vecnb adds
        "tags": [["x", "y"]] * n,           # not a scalar: kept, not filterable
    }, index=pd.Index([f"id{i:04d}" for i in range(n)], name="doc_id"))
    return df.vec.attach(allx[:n], name="emb"), allx[n:]


def texts_frame(n=60):
    words = ["space", "rocket", "orbit", "cell", "gene", "protein", "market", "price", "trade"]
    rng = np.random.default_rng(2)
    text = [" ".join(rng.choice(words, 6)) for _ in range(n)]
    df = pd.DataFrame({"text": text, "n": np.arange(n)}, index=pd.RangeIndex(100, 100 + n))
    return df.vec.embed("text", model="hashing", progress=False, cache=False)


# ------------------------------------------------------------------ search
@pytest.mark.parametrize("store", STORES)
def test_search_matches_df_vec_search(frame, store):
    df, Q = frame
    with df.vec.index(store=store, metric="cosine") as idx:
        assert isinstance(idx, VectorIndex) and len(idx) == len(df)
        got = idx.search(Q, k=5)
        want = df.vec.search(Q, k=5)  # the same shape: searches drop the embedding column
        assert list(got.columns) == list(want.columns)
        assert got.index.name == "doc_id"
        if store == "chroma":  # approximate: same shape, near-identical answers, exact scores
            assert len(set(got.index) & set(want.index)) >= 0.9 * len(want)
            row = got.index[0]
            assert abs(got["score"].iloc[0] - df.vec.search(Q[int(got["query"].iloc[0])], k=len(df))
                       .loc[row, "score"]) < 1e-5
        else:
            pd.testing.assert_frame_equal(got, want, check_exact=False, atol=1e-5)


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_single_query_where_threshold(frame, store, metric):
    df, Q = frame
    where = {"$or": [{"label": "a"}, {"year": {"$gte": 2010}}]}
    with df.vec.index(store=store, metric=metric) as idx:
        got = idx.search(Q[0], k=8, where=where)
        want = df.vec.search(Q[0], k=8, metric=metric, where=where)
        assert "query" not in got.columns and list(got["rank"]) == list(range(1, len(got) + 1))
        assert len(set(got.index) & set(want.index)) >= (8 if store != "chroma" else 7)
        thr = float(want["score"].iloc[3])
        cut = idx.search(Q[0], k=8, where=where, threshold=thr)
        assert (cut["score"] >= thr).all() and len(cut) <= 4 + (store == "chroma")


def test_text_query_uses_the_columns_model():
    df = texts_frame()
    idx = df.vec.index(store="faiss", kind="flat")
    got = idx.search("rocket orbit space", k=3)
    want = df.vec.search("rocket orbit space", k=3)
    pd.testing.assert_frame_equal(got, want)
    batch = idx.search(["gene protein", "market trade"], k=2)
    assert list(batch["query"]) == ["gene protein"] * 2 + ["market trade"] * 2
    with pytest.raises(ModelMismatchError):
        idx.search("space", model="tfidf")


def test_bad_queries_and_filters(frame):
    df, Q = frame
    idx = df.vec.index()
    with pytest.raises(FilterError, match="nope"):
        idx.search(Q[0], where={"nope": 1})
    with pytest.raises(DimensionMismatchError):
        idx.search(np.ones(5, np.float32))
    with pytest.raises(InvalidInputError):
        idx.search(Q[0], k=0)
    with pytest.raises(InvalidInputError):
        idx.search("words")  # attached vectors carry no model
    assert "tags" not in idx.filter_fields() and "label" in idx.filter_fields()


def test_empty_results_keep_the_shape(frame):
    df, Q = frame
    idx = df.vec.index()
    got = idx.search(Q[0], k=3, where={"label": "zzz"})
    assert len(got) == 0 and {"score", "rank", "title"} <= set(got.columns)


# ------------------------------------------------------------------ writes
@pytest.mark.parametrize("store", STORES)
def test_upsert_delete_len(frame, store):
    df, _ = frame
    base = df.iloc[:300]
    idx = base.vec.index(store=store)
    assert len(idx) == 300
    # replace 5 rows (new vectors and values) and add 20
    changed = df.iloc[:5].copy()
    newX = clustered(5, seed=77) * 5
    changed = changed.drop(columns=["emb"]).assign(title="changed").vec.attach(newX, name="emb")
    idx.upsert(pd.concat([changed, df.iloc[300:320]]))
    assert len(idx) == 320
    hit = idx.search(newX[2], k=1)
    assert hit.index[0] == df.index[2] and hit["title"].iloc[0] == "changed"
    assert hit["score"].iloc[0] == pytest.approx(1.0, abs=1e-5)
    assert idx.delete([df.index[2], "not-there"]) == 1
    assert idx.delete([]) == 0 and idx.delete("not-there") == 0
    assert len(idx) == 319 and df.index[2] not in idx.search(newX[2], k=10).index
    assert idx.frame.loc[df.index[0], "title"] == "changed"
    keys = idx.keys_for([df.index[0], "nope"])
    assert keys[1] == -1 and list(idx.labels_for(keys[:1])) == [df.index[0]]
    with pytest.raises(KeyError):
        idx.labels_for([10**9])
    idx.close()


def test_upsert_validates(frame):
    df, _ = frame
    idx = df.iloc[:50].vec.index()
    with pytest.raises(ColumnNotFoundError):
        idx.upsert(df.iloc[50:60].drop(columns=["emb"]))
    with pytest.raises(DimensionMismatchError):
        idx.upsert(df.iloc[50:52].drop(columns=["emb"]).vec.attach(np.ones((2, 8), np.float32), name="emb"))
    with pytest.raises(DuplicateIdError):
        idx.upsert(pd.concat([df.iloc[50:52], df.iloc[50:51]]))
    idx2 = texts_frame(10).vec.index()
    fake = texts_frame(2)
    fake.attrs["vecnb"]["columns"]["text_vec"]["model_id"] = "some-other-model"
    with pytest.raises(ModelMismatchError):
        idx2.upsert(fake)
    assert len(idx) == 50


def test_caller_frame_not_mutated(frame):
    df, Q = frame
    before = df.copy()
    attrs = json.dumps(df.attrs, default=str)
    idx = df.vec.index(store="faiss")
    idx.upsert(df.iloc[:10])
    idx.sync(df.iloc[5:])
    idx.search(Q, k=3)
    pd.testing.assert_frame_equal(df, before)
    assert json.dumps(df.attrs, default=str) == attrs


class CountingStore(NumpyStore):
    """A numpy store that counts the rows written (to check that sync writes as little as it can)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.written = 0
        self.deleted = 0

    def upsert(self, ids, vectors, metadata=None, texts=None):
        self.written += len(ids)
        super().upsert(ids, vectors, metadata, texts)

    def delete(self, ids):
        self.deleted += len(np.asarray(ids))
        super().delete(ids)


def test_sync_writes_only_what_changed(frame):
    df, _ = frame
    store = CountingStore(dim=16, metric="cosine")
    idx = build_index(df.iloc[:300], store=store)
    assert store.written == 300
    new = df.iloc[10:320].copy()                      # rows 0-9 gone, 300-319 new
    new.loc[new.index[:3], "title"] = "edited"        # values changed, same vectors
    X = new.vec.matrix("emb").copy()
    X[5] *= -1                                        # a vector changed
    new = new.drop(columns=["emb"]).vec.attach(X, name="emb")
    store.written = 0
    report = idx.sync(new)
    assert report == {"added": 20, "updated": 4, "deleted": 10, "unchanged": 286}
    assert store.written == 24 and store.deleted == 10
    assert list(idx.frame.index) == list(new.index) and len(store) == 310
    assert idx.search(X[5], k=1).index[0] == new.index[5]
    store.written = 0
    assert idx.sync(new) == {"added": 0, "updated": 0, "deleted": 0, "unchanged": 310}
    assert store.written == 0


def test_build_index_arguments(frame):
    df, _ = frame
    with pytest.raises(InvalidInputError, match="ef_search"):
        df.vec.index(store="numpy", ef_search=10)
    store = NumpyStore(dim=16, metric="dot")
    with pytest.raises(InvalidInputError, match="metric"):
        build_index(df, store=store, metric="cosine")
    idx = build_index(df.iloc[:5], store=store, metric="dot")
    with pytest.raises(InvalidInputError, match="EMPTY"):
        build_index(df, store=store, metric="dot")
    assert idx.info()["store"] == "numpy"
    with pytest.raises(vecnb.UnknownStoreError):
        df.vec.index(store="nosuchstore")


# ------------------------------------------------------------------ description, lifecycle
def test_info_and_html(frame):
    df, _ = frame
    idx = df.vec.index(store="faiss", kind="auto")
    info = idx.info()
    assert info["store"] == "faiss" and info["kind"] == "auto" and info["chosen_kind"] == "flat"
    assert info["rows"] == len(df) and info["dim"] == 16 and info["metric"] == "cosine" and info["exact"]
    html = idx._repr_html_()
    assert "faiss" in html and "auto \u2192 flat" in html and f"{len(df):,}" in html
    tuned = df.vec.index(store="faiss", kind="hnsw", target_recall=0.9)
    assert tuned.info()["recall"] >= 0.9 and "recall" in tuned._repr_html_()
    assert "hnsw" in repr(tuned)


def test_close_and_context_manager(frame):
    df, Q = frame
    with df.vec.index(store="faiss") as idx:
        idx.search(Q[0])
    with pytest.raises(StoreError):
        idx.search(Q[0])
    with pytest.raises(StoreError):
        idx.upsert(df.iloc[:1])
    idx.close()
    assert "closed" in repr(idx)


def test_run_and_hybrid_delegate(frame):
    df, _ = frame

    class Q:
        def run(self, target):
            return ("ran", target)

    idx = df.vec.index()
    assert idx.run(Q()) == ("ran", idx)
    tdf = texts_frame()
    tidx = tdf.vec.index(store="faiss", text="text")
    hits = tidx.hybrid("rocket orbit", k=3)
    assert len(hits) == 3 and list(hits["rank"]) == [1, 2, 3]
    assert hits["text"].str.contains("rocket|orbit").all()
    q = vecnb.Query.hybrid("rocket orbit", k=3)
    pd.testing.assert_frame_equal(tidx.run(q), q.run(tidx))


# ------------------------------------------------------------------ persistence
@pytest.mark.parametrize("store", STORES)
def test_save_load_same_answers(frame, store, tmp_path):
    df, Q = frame
    where = {"label": {"$in": ["a", "b"]}}
    idx = df.vec.index(store=store, metric="l2")
    idx.delete(df.index[:7])
    before = idx.search(Q, k=5, where=where)
    idx.save(tmp_path / "ix")
    idx.save(tmp_path / "ix")  # a second save replaces the first
    idx.save(tmp_path / "ix")  # a third removes the first; the one just replaced stays for readers mid-load
    assert sorted(p for p in os.listdir(tmp_path / "ix") if not p.startswith("v-")) == [".vecnb.lock", MANIFEST]
    data_dirs = [p for p in os.listdir(tmp_path / "ix") if p.startswith("v-")]
    current = json.loads((tmp_path / "ix" / MANIFEST).read_text())["version"]
    assert len(data_dirs) == 2 and current in data_dirs
    loaded = vecnb.load_index(tmp_path / "ix")
    after = loaded.search(Q, k=5, where=where)
    pd.testing.assert_frame_equal(after, before, check_exact=False, atol=1e-6)
    assert loaded.info()["metric"] == "l2" and len(loaded) == len(df) - 7
    loaded.upsert(df.iloc[:7])  # keeps working, keys do not collide
    assert len(loaded) == len(df)
    assert loaded.search(df.vec.matrix("emb")[3], k=1).index[0] == df.index[3]
    loaded.close()


def test_load_in_a_new_process_gives_the_same_answers(tmp_path):
    df = texts_frame()
    idx = df.vec.index(store="faiss", kind="hnsw")
    want = idx.search("gene protein cell", k=4)
    idx.save(tmp_path / "ix")
    code = ("import vecnb, sys; idx = vecnb.load_index(sys.argv[1]); "
            "print(idx.search('gene protein cell', k=4).to_json(orient='split'))")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ix")], capture_output=True, text=True,
                         env=env, timeout=300, check=True).stdout
    got = pd.read_json(__import__("io").StringIO(out), orient="split")
    assert list(got.index) == list(want.index)
    np.testing.assert_allclose(got["score"], want["score"], atol=1e-6)


def test_interrupted_save_leaves_the_previous_copy(frame, tmp_path, monkeypatch):
    df, Q = frame
    idx = df.iloc[:100].vec.index(store="faiss")
    idx.save(tmp_path / "ix")
    before = os.listdir(tmp_path / "ix")
    want = idx.search(Q, k=3)
    idx.upsert(df.iloc[100:200])

    def crash(path):
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "partial.bin"), "wb") as fh:
            fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(idx.store, "save", crash)
    with pytest.raises(Exception, match="disk full"):
        idx.save(tmp_path / "ix")
    assert sorted(os.listdir(tmp_path / "ix")) == sorted(before)
    old = load_index(tmp_path / "ix")
    assert len(old) == 100
    pd.testing.assert_frame_equal(old.search(Q, k=3), want)


def test_not_an_index(tmp_path, frame):
    df, _ = frame
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hello")
    with pytest.raises(IndexFormatError, match="not a vecnb index"):
        load_index(tmp_path / "other")
    with pytest.raises(IndexFormatError, match="non-empty folder"):
        df.vec.index().save(tmp_path / "other")
    with pytest.raises(FileNotFoundError):
        load_index(tmp_path / "missing")
    idx = df.vec.index()
    idx.save(tmp_path / "ix")
    man = json.loads((tmp_path / "ix" / MANIFEST).read_text())
    man["meta"]["version"] = 99
    (tmp_path / "ix" / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(IndexFormatError, match="version"):
        load_index(tmp_path / "ix")
    (tmp_path / "ix" / MANIFEST).write_text("{not json")
    with pytest.raises(IndexFormatError):
        load_index(tmp_path / "ix")


def test_fsspec_url_round_trip(frame):
    df, Q = frame
    idx = df.vec.index(store="faiss", kind="hnsw")
    url = "memory://vecnb-test/ix"
    idx.save(url)
    loaded = load_index(url)
    pd.testing.assert_frame_equal(loaded.search(Q, k=4), idx.search(Q, k=4))
    loaded.close()


def test_set_params_and_search_params_on_a_faiss_index():
    pytest.importorskip("faiss")
    from vecnb.bench import clustered

    df = clustered(2000, 16, seed=2)
    idx = df.vec.index(store="faiss", kind="hnsw", progress=False)
    q = df.vec.matrix("emb")[5]
    idx.search(q, k=5)
    assert idx.search_params()["ef_search"] >= 10
    assert idx.set_params(ef_search=64) is idx
    assert idx.search_params()["ef_search"] == 64
    idx.set_params(target_recall=0.9)
    assert idx.info()["recall"] >= 0.9 and idx.search_params()["target_recall"] == 0.9
    with pytest.raises(InvalidInputError, match="cannot set"):
        idx.set_params(bogus=3)
    np_idx = df.vec.index(store="numpy", progress=False)
    with pytest.raises(InvalidInputError, match="no search settings"):
        np_idx.set_params(ef_search=3)


# ---------------------------------------------------------------------------------- memory (issue 20)
@pytest.mark.parametrize("store,kind", [("numpy", "auto"), ("faiss", "flat")])
def test_load_index_mmap_maps_the_vectors_and_answers_the_same(frame, store, kind, tmp_path):
    df, Q = frame
    idx = df.vec.index(store=store, kind=kind, metric="cosine")
    idx.delete(df.index[:3])
    before = idx.search(Q, k=5, where={"label": {"$in": ["a", "b"]}})
    idx.save(tmp_path / "ix")
    full = vecnb.load_index(tmp_path / "ix")
    mapped = vecnb.load_index(tmp_path / "ix", mmap=True)
    assert mapped.info()["memory_mapped"] and not full.info()["memory_mapped"]
    pd.testing.assert_frame_equal(mapped.search(Q, k=5, where={"label": {"$in": ["a", "b"]}}), before,
                                  check_exact=False, atol=1e-6)
    # the vectors really are the file's pages, not a copy
    st = mapped.store
    mat = st._buf if store == "numpy" else st._storage_view()
    name = "vectors.npy" if store == "numpy" else "index.faiss"
    maps = [line for line in open("/proc/self/maps").read().splitlines() if str(tmp_path / "ix") in line]
    assert any(line.endswith(name) for line in maps), maps
    assert mat.shape == ((len(df) - 3) if store == "numpy" else len(df), 16)  # faiss: deleted rows are tombstones
    # writes work (copied into memory first); the saved copy is untouched
    mapped.upsert(df.iloc[:3])
    mapped.delete(df.index[10:12])
    assert len(mapped) == len(df) - 2 and not mapped.info()["memory_mapped"]
    assert mapped.search(df.vec.matrix("emb")[1], k=1).index[0] == df.index[1]
    again = vecnb.load_index(tmp_path / "ix", mmap=True)
    assert len(again) == len(df) - 3
    pd.testing.assert_frame_equal(again.search(Q, k=5, where={"label": {"$in": ["a", "b"]}}), before,
                                  check_exact=False, atol=1e-6)
    for i in (full, mapped, again, idx):
        i.close()


def test_load_index_mmap_refuses_stores_that_cannot_map(tmp_path):
    pytest.importorskip("chromadb")
    df = pd.DataFrame({"n": range(20)}).vec.attach(clustered(20), name="emb")
    df.vec.index(store="chroma").save(tmp_path / "c")
    with pytest.raises(InvalidInputError, match="memory-mapped"):
        vecnb.load_index(tmp_path / "c", mmap=True)


def _arrow_vector_frame(X):
    """A frame whose embedding column lives in pyarrow's memory pool (so its release is measurable)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.add(pa.array(X.ravel()), pa.scalar(0.0, pa.float32()))  # a fresh buffer from the pool
    col = pd.arrays.ArrowExtensionArray(pa.FixedSizeListArray.from_arrays(values, X.shape[1]))
    return pd.DataFrame({"n": np.arange(len(X)), "emb": col})


@pytest.mark.parametrize("store", ["numpy", "faiss"])
def test_an_index_does_not_pin_the_frames_embedding_column(store):
    # the index keeps the frame's other columns for results, never its embedding column: once the
    # user drops their frame, its vector buffer is freed (the store holds its own single copy)
    import gc

    import pyarrow as pa

    X = clustered(3000, 32, seed=4)
    size = X.nbytes
    gc.collect()  # earlier tests' arrow garbage, freed during this test, would lower the count below base
    base = pa.total_allocated_bytes()
    df = _arrow_vector_frame(X)
    assert pa.total_allocated_bytes() - base >= size
    np.testing.assert_array_equal(df.vec.matrix("emb"), X)
    keep = df["emb"]  # control: while something holds the column, its buffer stays allocated
    idx = df.vec.index(store=store, metric="cosine")
    assert "emb" not in idx.frame.columns
    del df
    gc.collect()
    assert pa.total_allocated_bytes() - base >= size
    del keep
    gc.collect()
    assert pa.total_allocated_bytes() - base < size, "the index keeps the frame's embedding column alive"
    back = idx.search(X[:3], k=1)
    assert back["n"].tolist() == [0, 1, 2]
    idx.close()
