"""Keeping vectors in step with text and models: reuse on re-embed, stale rows, index sync, model changes.

The embedder is a deterministic counting callable, so every test knows exactly which texts
reached the model. Index sync runs on every store (real faiss / sqlite / PostgreSQL / chroma).
"""

from __future__ import annotations

import hashlib
import json
import uuid

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb import errors
from vecnb.frame.hashing import SyncReport


class Counter:
    """``list[str] -> (n, dim)``: a fixed vector per text; records every text it is given."""

    def __init__(self, model_id: str = "counter-a", dim: int = 16):
        self.model_id, self.dim = model_id, dim
        self.texts: list[str] = []

    @property
    def n(self) -> int:
        return len(self.texts)

    def __call__(self, texts):
        self.texts.extend(texts)
        return vectors(texts, self.dim, self.model_id)


def vectors(texts, dim: int = 16, salt: str = "counter-a") -> np.ndarray:
    out = np.empty((len(texts), dim), np.float32)
    for i, t in enumerate(texts):
        seed = int.from_bytes(hashlib.blake2b((salt + t).encode(), digest_size=8).digest(), "little")
        out[i] = np.random.default_rng(seed).normal(size=dim)
    return out


def corpus(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array("library catalogue index retrieval search document query relevance user system "
                     "information science citation abstract journal paper".split())
    texts = [" ".join(rng.choice(words, 8)) + f" #{i}" for i in range(n)]
    return pd.DataFrame({"text": texts, "year": rng.integers(1950, 2000, n), "label": rng.choice(["a", "b"], n)},
                        index=pd.Index([f"doc{i}" for i in range(n)], name="doc_id"))


def edit(df: pd.DataFrame, frac: float, seed: int = 1) -> tuple[pd.DataFrame, pd.Index]:
    rng = np.random.default_rng(seed)
    labels = df.index[np.sort(rng.choice(len(df), int(round(frac * len(df))), replace=False))]
    out = df.copy()
    out.loc[labels, "text"] = out.loc[labels, "text"] + " (revised)"
    return out, labels


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VECNB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


# ---------------------------------------------------------------------------------------------- re-embedding
@pytest.mark.parametrize("cache", [False, True])
def test_editing_5_percent_embeds_exactly_the_edited_rows(cache, cache_dir):
    m = Counter()
    df = corpus().vec.embed("text", model=m, cache=cache, progress=False)
    assert m.n == 2000
    edited, labels = edit(df, 0.05)
    m.texts.clear()
    df2 = edited.vec.embed("text", model=m, previous=df, cache=cache, progress=False)
    assert m.n == 100 and sorted(m.texts) == sorted(edited.loc[labels, "text"])
    np.testing.assert_allclose(df2.vec.matrix("text_vec"), vectors(df2["text"].tolist()))
    assert len(df2.vec.stale("text_vec")) == 0
    assert df.loc["doc0", "text"] == corpus().loc["doc0", "text"]  # the caller's frame is untouched


def test_stale_returns_exactly_the_edited_and_new_rows(cache_dir):
    m = Counter()
    df = corpus(500).vec.embed("text", model=m, cache=False, progress=False)
    assert df.vec.stale("text_vec").empty
    edited, labels = edit(df, 0.05, seed=4)
    st = edited.vec.stale("text_vec")
    assert list(st.index) == list(labels) and (st["stale_reason"] == "text changed").all()
    assert set(st.columns) == set(edited.columns) | {"stale_reason"}
    # values other than the text do not make a row stale
    assert edited.assign(year=0).vec.stale("text_vec").index.equals(labels)
    # rows added by concat have no vector yet (pandas keeps attrs through concat only when all inputs agree)
    added = corpus(3, seed=9).set_axis(["new1", "new2", "new3"])
    added.attrs = edited.attrs
    more = pd.concat([edited, added])
    st = more.vec.stale()
    assert list(st.index) == list(labels) + ["new1", "new2", "new3"]
    assert (st["stale_reason"].iloc[-3:] == "no vector").all()
    # re-embedding that frame embeds the edited and the added rows, reusing the rest (even from itself)
    m.texts.clear()
    fresh = more.vec.embed("text", model=m, previous=more, cache=False, progress=False)
    assert m.n == len(labels) + 3 and fresh.vec.stale().empty
    # another model: every row is stale
    other = Counter("counter-b")
    st = df.vec.stale("text_vec", model=other)
    assert len(st) == 500 and (st["stale_reason"] == "model changed").all()
    assert df.vec.stale("text_vec", model=m).empty
    with pytest.raises(errors.InvalidInputError, match="records no source text"):
        df.vec.attach(np.ones((500, 3)), name="raw").vec.stale("raw")


def test_reuse_survives_reordering_filtering_relabelling_and_parquet(tmp_path, cache_dir):
    m = Counter()
    df = corpus(400).vec.embed("text", model=m, cache=False, progress=False)
    df.to_parquet(tmp_path / "df.parquet")
    back = pd.read_parquet(tmp_path / "df.parquet")
    assert back.vec.info("text_vec")["model_id"] == "counter-a"
    shuffled = corpus(400).sample(frac=1.0, random_state=3).reset_index(drop=True)  # new labels, new order
    m.texts.clear()
    out = shuffled.vec.embed("text", model=m, previous=back.iloc[::-1], cache=False, progress=False)
    assert m.n == 0
    np.testing.assert_allclose(out.vec.matrix("text_vec"), vectors(out["text"].tolist()))
    m.texts.clear()
    out = shuffled.vec.embed("text", model=m, previous=df.iloc[:100], cache=False, progress=False)
    assert m.n == 300


def test_hashes_stay_small_and_survive_copies(cache_dir):
    df = corpus(2000).vec.embed("text", model=Counter(), cache=False, progress=False)
    size = len(json.dumps(df.attrs))
    assert size < 30_000, size  # ~11 bytes of hash a row + compressed labels, in a few strings
    assert df.copy().attrs == df.attrs and df[df.year > 1970].vec.stale().empty
    assert df.take([5, 3]).vec.stale().empty


def test_model_change_re_embeds_every_row_and_records_the_new_model(cache_dir):
    a, b = Counter("counter-a", 16), Counter("counter-b", 24)
    df = corpus(300).vec.embed("text", model=a, cache=False, progress=False)
    edited, _ = edit(df, 0.05)
    df3 = edited.vec.embed("text", model=b, previous=df, cache=False, progress=False)
    assert b.n == 300
    info = df3.vec.info("text_vec")
    assert info["model_id"] == "counter-b" and info["dim"] == 24 and df3.vec.matrix().shape == (300, 24)
    assert df3.vec.stale().empty


# ---------------------------------------------------------------------------------------------- index sync
STORES = ["numpy", "faiss", "sqlite", "pgvector", "chroma"]


def store_options(name: str, tmp_path, request) -> dict:
    if name in ("faiss", "chroma"):
        pytest.importorskip(name if name == "faiss" else "chromadb")
        try:
            vecnb.stores.get(name)
        except ImportError as exc:  # pragma: no cover - the store module is not there yet
            pytest.skip(f"store {name!r} unavailable: {exc}")
    if name == "faiss":
        return {"kind": "flat"}
    if name == "sqlite":
        return {"path": str(tmp_path / "s.db")}
    if name == "pgvector":
        return {"url": request.getfixturevalue("pg_url"), "table": f"sync_{uuid.uuid4().hex[:10]}", "kind": "exact"}
    return {}


class Writes:
    """Counts the rows a real store is asked to upsert and delete (wraps its bound methods)."""

    def __init__(self, store):
        self.upserted, self.deleted = 0, 0
        up, de = store.upsert, store.delete

        def upsert(ids, *a, **k):
            self.upserted += len(ids)
            return up(ids, *a, **k)

        def delete(ids, *a, **k):
            self.deleted += len(np.asarray(ids).reshape(-1))
            return de(ids, *a, **k)

        store.upsert, store.delete = upsert, delete


def assert_index_equals_frame(idx, df: pd.DataFrame) -> None:
    """The store holds exactly df's rows: one key per label, and each key's vector is the row's vector."""
    keys = idx.keys_for(df.index)
    assert (keys >= 0).all() and len(np.unique(keys)) == len(df)
    assert len(idx) == len(df) and len(idx.store) == len(df)
    stored = np.concatenate(list(idx.store.iter_ids(500)))
    assert np.array_equal(np.sort(stored), np.sort(keys))
    got, found = idx.store.fetch(keys)
    assert found.all()
    X = df.vec.matrix("text_vec").astype(np.float64)
    got = np.asarray(got, np.float64)
    if idx.metric == "cosine":
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        got = got / np.linalg.norm(got, axis=1, keepdims=True)
    np.testing.assert_allclose(got, X, atol=1e-5)
    assert list(idx.frame.index) == list(df.index)
    assert idx.frame.drop(columns="text_vec", errors="ignore").equals(df.drop(columns="text_vec"))


@pytest.mark.parametrize("store", STORES)
def test_sync_makes_every_store_equal_the_frame_with_the_fewest_writes(store, tmp_path, request, cache_dir):
    opts = store_options(store, tmp_path, request)
    m = Counter()
    df = corpus(400).vec.embed("text", model=m, cache=False, progress=False)
    idx = df.vec.index(store=store, **opts)
    writes = Writes(idx.store)

    edited, labels = edit(df, 0.05)                          # 20 texts edited
    edited.loc[edited.index[[1, 2, 3]], "year"] = 1800        # 3 rows whose metadata changed
    edited = edited.drop(index=edited.index[[7, 8]])          # 2 rows deleted
    new = corpus(405).iloc[400:].rename(index=lambda s: s.replace("doc", "new"))
    edited = pd.concat([edited.drop(columns="text_vec"), new])
    edited.attrs = df.attrs
    df2 = edited.vec.embed("text", model=m, previous=df, cache=False, progress=False)

    report = idx.sync(df2)
    changed_meta = len(set(df.index[[1, 2, 3]]) - set(labels))
    assert isinstance(report, SyncReport)
    assert report == {"added": 5, "updated": 20 + changed_meta, "deleted": 2,
                      "unchanged": 400 - 2 - 20 - changed_meta}
    assert (writes.upserted, writes.deleted) == (report.added + report.updated, report.deleted)
    assert_index_equals_frame(idx, df2)
    # the filter fields follow too
    q = df2.vec.matrix("text_vec")[:1]
    assert set(idx.search(q, k=400, where={"year": 1800}).index) == set(df2.index[df2.year == 1800])

    writes.upserted = writes.deleted = 0
    assert idx.sync(df2).writes == 0 and writes.upserted == writes.deleted == 0
    shuffled = df2.sample(frac=1.0, random_state=0)
    assert idx.sync(shuffled).writes == 0 and list(idx.frame.index) == list(shuffled.index)
    idx.close()


def test_sync_after_concat_upcasts_ints_writes_only_the_new_rows(cache_dir):
    m = Counter()
    df = corpus(300).vec.embed("text", model=m, cache=False, progress=False)
    idx = df.vec.index(store="numpy")
    new = pd.DataFrame({"text": ["a brand new row"]}, index=["new0"])   # no "year": concat makes it float64
    df2 = pd.concat([df, new]).vec.embed("text", model=m, previous=df, cache=False, progress=False)
    assert df2["year"].dtype == np.float64
    assert idx.sync(df2) == {"added": 1, "updated": 0, "deleted": 0, "unchanged": 300}
    assert idx.search(df2.vec.matrix()[:1], k=300, where={"year": {"$lt": 1960}}).year.lt(1960).all()


def test_sync_after_save_and_load_writes_only_changes(tmp_path, cache_dir):
    m = Counter()
    df = corpus(300).vec.embed("text", model=m, cache=False, progress=False)
    df.vec.index(store="numpy").save(tmp_path / "idx")
    idx = vecnb.load_index(tmp_path / "idx")
    assert idx.sync(df).writes == 0
    edited, labels = edit(df, 0.02)
    report = idx.sync(edited.vec.embed("text", model=m, previous=df, cache=False, progress=False))
    assert report.updated == len(labels) == 6 and report.writes == 6


# ---------------------------------------------------------------------------------------------- model versions
def test_an_index_refuses_another_model_or_dimension_and_says_to_re_embed(cache_dir):
    a, b = Counter("counter-a", 16), Counter("counter-b", 24)
    df = corpus(200).vec.embed("text", model=a, cache=False, progress=False)
    idx = df.vec.index(store="numpy")
    assert idx.info()["model_id"] == "counter-a" and idx.dim == 16
    assert idx.search("library search", k=3).shape[0] == 3
    with pytest.raises(errors.ModelMismatchError, match="Re-embed"):
        idx.search("library search", k=3, model=b)
    with pytest.raises(errors.DimensionMismatchError, match="re-embed"):
        idx.search(np.ones(24, np.float32), k=3)
    with pytest.raises(errors.DimensionMismatchError, match="counter-a"):
        df.vec.search(np.ones((2, 24), np.float32), k=3)
    df_b = df.vec.embed("text", model=b, cache=False, progress=False)
    with pytest.raises(errors.ModelMismatchError):
        idx.sync(df_b)
    with pytest.raises(errors.ModelMismatchError):
        idx.upsert(df_b.iloc[:3])


def test_a_re_embedded_index_is_built_beside_and_swapped_in(cache_dir):
    a, b = Counter("counter-a", 16), Counter("counter-b", 24)
    df = corpus(200).vec.embed("text", model=a, cache=False, progress=False)
    idx = df.vec.index(store="numpy")
    holder = {"index": idx}                    # e.g. a widget or a web handler holding the index
    df3 = df.vec.embed("text", model=b, cache=False, progress=False)
    new = df3.vec.index(store="numpy")         # built while idx keeps answering
    assert idx.search("library search", k=2).shape[0] == 2
    old_store = idx.store
    assert idx.swap(new) is idx
    served = holder["index"]
    assert served.dim == 24 and served.info()["model_id"] == "counter-b"
    want = df3.vec.search("library search", k=5)
    assert list(served.search("library search", k=5).index) == list(want.index)
    with pytest.raises(errors.StoreError):      # the old index was closed
        old_store.search(np.ones((1, 16), np.float32), 1)
    with pytest.raises(errors.StoreError):
        new.search("library", k=1)


def test_swap_exchanges_the_declared_index_state_and_nothing_is_left_behind(cache_dir, tmp_path):
    """``swap`` exchanges the attributes listed in ``INDEX_STATE``: an index that has been built,
    searched (vector, keyword, hybrid), written to, synced, saved, loaded and reopened holds no
    attribute outside that list, so a new one cannot be left with the old rows."""
    from vecnb.index.core import INDEX_STATE

    a = Counter("counter-a", 16)
    df = corpus(120).vec.embed("text", model=a, cache=False, progress=False)
    made = [df.vec.index(store="numpy", text="text"),
            df.vec.index(store="sqlite", path=str(tmp_path / "a.db"), text="text")]
    for idx in made:
        idx.search("library search", k=3)
        idx.keyword("library", k=3)
        idx.hybrid("library search", k=3)
        idx.upsert(df.iloc[:5])
        idx.delete(df.index[:2])
        idx.sync(edit(df, 0.1)[0].vec.embed("text", model=a, cache=False, progress=False))
    made[0].save(tmp_path / "saved")
    made.append(vecnb.load_index(tmp_path / "saved"))
    made[1].close()
    made.append(vecnb.open_index("sqlite", path=str(tmp_path / "a.db")))
    for idx in made:
        assert set(vars(idx)) <= set(INDEX_STATE), set(vars(idx)) - set(INDEX_STATE)

    old, new = made[2], made[3]
    before_old, before_new = dict(vars(old)), dict(vars(new))
    want = new.search(np.ones(16, np.float32), k=4)
    new.ingest_report = "only on new"      # an attribute only one of the two has moves with its rows
    old.swap(new, close_old=False)
    assert old.ingest_report == "only on new" and "ingest_report" not in vars(new)
    assert all(vars(old)[k] is v for k, v in before_new.items())
    assert all(vars(new)[k] is v for k, v in before_old.items())
    assert old.store is before_new["store"] and new.store is before_old["store"] and old.store is not new.store
    pd.testing.assert_frame_equal(old.search(np.ones(16, np.float32), k=4), want)
