"""chroma-specific behaviour: where translation, metadata, persistence, batching, never embedding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conformance import brute, clustered, make_ids

pytest.importorskip("chromadb")

from vecnb._core import filters
from vecnb.errors import FilterError, InvalidInputError, StoreError
from vecnb.stores.chroma_store import HAS_PREFIX, ChromaStore, to_chroma_metadata, to_chroma_where

K = 5


def tw(where):
    return to_chroma_where(filters.parse(where))


def test_where_translation():
    assert tw(None) is None
    assert tw({"a": "x"}) == {"a": {"$eq": "x"}}
    assert tw({"n": {"$gte": 3}}) == {"n": {"$gte": 3}}
    # chroma's $ne / $nin match rows without the field; vecnb's do not
    assert tw({"a": {"$ne": "x"}}) == {"$and": [{"a": {"$ne": "x"}}, {HAS_PREFIX + "a": True}]}
    assert tw({"a": {"$nin": ["x"]}}) == {"$and": [{"a": {"$nin": ["x"]}}, {HAS_PREFIX + "a": True}]}
    # one type per $in list
    # a fractional float: chroma casts it to int against int fields (2.5 -> 2), so 2 is excluded explicitly
    assert tw({"n": {"$in": [3, 2.5]}}) == {"$or": [{"n": {"$in": [3]}}, {"$and": [{"n": {"$eq": 2.5}},
                                                                                      {"n": {"$ne": 2}}]}]}
    assert tw({"n": {"$gte": 2.5}}) == {"$and": [{"n": {"$gte": 2.5}}, {"n": {"$ne": 2}}]}
    assert tw({"n": {"$in": [3, "a"]}}) == {"$or": [{"n": {"$in": [3]}}, {"n": {"$in": ["a"]}}]}
    # True equals 1 and False 0 (pandas' rule): chroma keeps them apart, so both are asked for
    assert tw({"n": {"$in": [1, 2.0]}}) == {"$or": [{"n": {"$in": [1.0, 2.0]}}, {"n": {"$in": [True]}}]}
    assert tw({"$or": [{"a": "x"}, {"$and": [{"n": 2}, {"b": True}]}]}) == {
        "$or": [{"a": {"$eq": "x"}}, {"$and": [{"n": {"$eq": 2}},
                                               {"$or": [{"b": {"$in": [True]}}, {"b": {"$in": [1]}}]}]}]}
    assert tw({"a": "x", "n": {"$lt": 2}}) == {"$and": [{"a": {"$eq": "x"}}, {"n": {"$lt": 2}}]}
    with pytest.raises(FilterError, match="only numbers"):
        tw({"a": {"$gt": "m"}})
    with pytest.raises(FilterError, match="reserved"):
        tw({HAS_PREFIX + "a": True})


def test_metadata_conversion():
    meta = pd.DataFrame({"s": ["a", None, "c"], "i": np.array([1, 2, 3], dtype=np.int64),
                         "f": [0.5, np.nan, 2.0], "b": [True, False, True],
                         "n": pd.array([1, pd.NA, 3], dtype="Int64")})
    rows = to_chroma_metadata(meta, 3)
    assert rows[1] == {"i": 2, "b": False, HAS_PREFIX + "i": True, HAS_PREFIX + "b": True}
    assert type(rows[0]["i"]) is int and type(rows[0]["f"]) is float and type(rows[0]["b"]) is bool
    assert rows[0]["n"] == 1 and "n" not in rows[1]
    assert to_chroma_metadata(None, 2) == [None, None]
    assert to_chroma_metadata(pd.DataFrame({"s": [None, None]}, dtype=object), 2) == [None, None]
    with pytest.raises(InvalidInputError, match="reserves"):
        to_chroma_metadata(pd.DataFrame({"#doc": ["x"]}), 1)
    with pytest.raises(InvalidInputError, match="stores only"):
        to_chroma_metadata(pd.DataFrame({"t": [[1, 2]]}, dtype=object), 1)
    # dates / datetimes are kept as int nanoseconds since the epoch (UTC): what filters compare
    rows = to_chroma_metadata(pd.DataFrame({"t": [pd.Timestamp("2020-01-01", tz="UTC")]}, dtype=object), 1)
    assert rows[0]["t"] == 1577836800 * 10**9


@pytest.fixture(scope="module")
def data():
    allx = clustered(620, 16, seed=2)
    return {"X": allx[:600], "Q": allx[600:], "ids": make_ids(600),
            "meta": pd.DataFrame({"g": np.arange(600) % 3})}


def test_persistent_path_reopens(data, tmp_path):
    path = tmp_path / "db"
    store = ChromaStore(dim=16, metric="l2", path=path, collection="docs")
    store.upsert(data["ids"], data["X"], data["meta"])
    before = store.search(data["Q"], K)
    store.close()
    again = ChromaStore(dim=16, metric="l2", path=path, collection="docs")
    assert len(again) == 600
    after = again.search(data["Q"], K)
    np.testing.assert_array_equal(after[0], before[0])
    again.close()
    with pytest.raises(StoreError, match="holds 16-d"):
        len(ChromaStore(dim=8, metric="l2", path=path, collection="docs"))


def test_loaded_copy_leaves_saved_files_alone(data, tmp_path):
    store = ChromaStore(dim=16, metric="cosine")
    store.upsert(data["ids"], data["X"], data["meta"])
    store.save(tmp_path / "saved")
    first = ChromaStore.load(tmp_path / "saved")
    first.delete(data["ids"][:100])
    assert len(first) == 500
    first.close()
    second = ChromaStore.load(tmp_path / "saved")
    assert len(second) == 600
    got, _ = second.search(data["Q"], K, where=filters.parse({"g": 1}))
    assert (np.isin(got, data["ids"][data["meta"]["g"].to_numpy() == 1])).all()
    second.close()
    store.close()


def test_writes_are_batched(data):
    store = ChromaStore(dim=16, metric="dot")
    len(store)  # opens the collection (and reads the client's batch limit)
    assert store._batch >= 1
    store._batch = 7  # as if the client allowed only 7 rows per call
    store.upsert(data["ids"][:50], data["X"][:50], data["meta"].iloc[:50])
    store.upsert(data["ids"][:50], data["X"][:50] * 2, data["meta"].iloc[:50])
    assert len(store) == 50
    _, sc = store.search(data["Q"], K)
    _, want = brute(data["X"][:50] * 2, data["Q"], K, "dot")
    np.testing.assert_allclose(sc, want, atol=1e-4)
    store.delete(data["ids"][:20])
    assert len(store) == 30
    ids = np.concatenate(list(store.iter_ids(batch_size=8)))
    assert sorted(ids.tolist()) == sorted(data["ids"][20:50].tolist())
    vecs, found = store.fetch(data["ids"][15:25])
    assert found.tolist() == [False] * 5 + [True] * 5
    np.testing.assert_allclose(vecs[5:], data["X"][20:25] * 2, rtol=1e-6)
    store.close()


def test_replacing_a_row_drops_fields_it_no_longer_has(data):
    store = ChromaStore(dim=16, metric="cosine")
    store.upsert(data["ids"][:3], data["X"][:3], pd.DataFrame({"g": [1, 1, 1], "h": ["x", "y", "z"]}))
    store.upsert(data["ids"][:1], data["X"][:1], pd.DataFrame({"g": [2]}))
    got, _ = store.search(data["X"][:1], 3, where=filters.parse({"h": {"$in": ["x", "y", "z"]}}))
    assert sorted(got[0][got[0] >= 0].tolist()) == sorted(data["ids"][1:3].tolist())
    store.close()


def test_chroma_never_embeds(data, monkeypatch):
    from chromadb.utils import embedding_functions

    def refuse(self, *a, **k):
        raise AssertionError("chroma tried to embed (its default model downloads at run time)")

    monkeypatch.setattr(embedding_functions.DefaultEmbeddingFunction, "__call__", refuse)
    store = ChromaStore(dim=16, metric="cosine")
    store.upsert(data["ids"], data["X"], data["meta"])
    store.search(data["Q"], K, where=filters.parse({"g": 0}))
    assert store._col._embedding_function is None
    store.close()


def test_every_load_of_a_saved_copy_answers_alike(data, tmp_path):
    store = ChromaStore(dim=16, metric="cosine", ef_search=10)
    store.upsert(data["ids"], data["X"], data["meta"])
    store.delete(data["ids"][::9])
    before = store.search(data["Q"], K)
    store.save(tmp_path / "saved")
    answers = []
    for _ in range(2):
        loaded = ChromaStore.load(tmp_path / "saved")
        answers.append(loaded.search(data["Q"], K))
        assert len(loaded) == len(store)
        loaded.close()
    np.testing.assert_array_equal(answers[0][0], answers[1][0])
    np.testing.assert_allclose(answers[0][1], answers[1][1])
    # a rebuilt graph (chroma's HNSW is not deterministic): nearly the same hits as the original
    same = np.mean([len(set(a) & set(b)) / K for a, b in zip(answers[0][0], before[0])])
    assert same >= 0.9
    store.close()


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_scores_from_distances_are_exact_to_1e4_without_reading_vectors_back(metric):
    # vectors far from unit length, where float32 arithmetic loses the most
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(500, 48)) * 4 + 2).astype(np.float32)
    Q = (rng.normal(size=(20, 48)) * 4 + 2).astype(np.float32)
    store = ChromaStore(dim=48, metric=metric)
    store.upsert(np.arange(500) * 3 + 1, X)
    col = store._collection()
    calls = []

    class Spy:  # records what each search asks of chroma
        def __getattr__(self, name):
            attr = getattr(col, name)

            def wrapped(*a, **k):
                calls.append((name, k.get("include")))
                return attr(*a, **k)

            return wrapped

    store._col = Spy()
    got, sc = store.search(Q, 10)
    store._col = col
    assert [c[0] for c in calls] == ["query"]  # one round trip: no count(), no get()
    assert ("embeddings" in calls[0][1]) == (metric == "dot")
    x = X[(got - 1) // 3].astype(np.float64)
    q = Q[:, None, :].astype(np.float64)
    if metric == "cosine":
        exact = (x * q).sum(-1) / (np.linalg.norm(x, axis=-1) * np.linalg.norm(q, axis=-1))
    elif metric == "dot":
        exact = (x * q).sum(-1)
    else:
        exact = -np.sqrt(((x - q) ** 2).sum(-1))
    np.testing.assert_allclose(sc, exact, rtol=0, atol=1e-4)
    assert (np.diff(sc, axis=1) <= 0).all()  # best first
    pos, _ = brute(X, Q, 10, metric)
    hit = np.mean([len(set(a) & set(b)) / 10 for a, b in zip((got - 1) // 3, pos)])
    assert hit >= 0.9
    store.close()


def test_empty_collection_and_k_above_rows():
    store = ChromaStore(dim=4, metric="cosine")
    ids, sc = store.search(np.ones((2, 4), np.float32), 3)
    assert (ids == -1).all() and np.isneginf(sc).all()
    store.upsert(np.array([7, 8]), np.array([[1, 0, 0, 0], [1, 1, 0, 0]], np.float32))
    ids, sc = store.search(np.array([[1, 0, 0, 0]], np.float32), 5)
    assert ids[0].tolist() == [7, 8, -1, -1, -1]
    np.testing.assert_allclose(sc[0, :2], [1.0, 1 / np.sqrt(2)], atol=1e-6)
    store.close()
