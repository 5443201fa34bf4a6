"""The single-query fast paths of the chroma and sqlite stores and the one-query check of every store.

One unfiltered query takes a lean path (``_search_one`` / ``_knn_one``, plain Python over the few
rows of the answer); it must give exactly what the general (batch) path gives for the same query:
same keys, same scores, ties at any place (the k-th too) by key, answers shorter than ``k``.
Real chromadb and sqlite-vec; the numpy store is the reference for ties.
"""

from __future__ import annotations

import numpy as np
import pytest

from vecnb._core.metrics import checked_queries
from vecnb.errors import InvalidVectorError
from vecnb.stores.base import _moderate_one
from vecnb.stores.numpy_store import NumpyStore


def _tied_data(n=120, d=16, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[40] = X[7]   # exact duplicates: equal scores for every query, ties go to the lower key
    X[90] = X[7]
    X[55] = X[12] * 2.0  # cosine: the same direction, so the same cosine score
    Q = np.concatenate([X[[7, 12, 3]] + 0.05 * rng.normal(size=(3, d)).astype(np.float32),
                        rng.normal(size=(12, d)).astype(np.float32)])
    ids = np.arange(n, dtype=np.int64) * 7 + 11
    return X, ids, Q.astype(np.float32)


def _stores(kind, metric, d, tmp_path):
    if kind == "chroma":
        pytest.importorskip("chromadb")
        from vecnb.stores.chroma_store import ChromaStore

        return ChromaStore(dim=d, metric=metric, path=str(tmp_path / f"c-{metric}"))
    pytest.importorskip("apsw")
    pytest.importorskip("sqlite_vec")
    from vecnb.stores.sqlite_store import SqliteStore

    return SqliteStore(dim=d, metric=metric, path=tmp_path / f"s-{metric}.sqlite")


def _general(store, q, k, monkeypatch):
    """The same one query through the general path (the lean path switched off)."""
    with monkeypatch.context() as m:
        m.setattr(store, "_search_one" if hasattr(store, "_search_one") else "_knn_one", lambda *a: None)
        return store.search(q, k)


@pytest.mark.parametrize("kind", ["chroma", "sqlite"])
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_one_query_equals_the_general_path_with_ties(kind, metric, tmp_path, monkeypatch):
    X, ids, Q = _tied_data()
    store = _stores(kind, metric, X.shape[1], tmp_path)
    ref = NumpyStore(dim=X.shape[1], metric=metric)
    store.upsert(ids, X)
    ref.upsert(ids, X)
    name = "_search_one" if hasattr(store, "_search_one") else "_knn_one"
    lean, answered = getattr(store, name), []

    def counted(*a):
        got = lean(*a)
        answered.append(got is not None)
        return got

    monkeypatch.setattr(store, name, counted)
    for k in (1, 2, 3, 5, 10, 119, 120, 130):
        want_ids, want_sc = ref.search(Q, k)
        for i in range(len(Q)):
            got_ids, got_sc = store.search(Q[i:i + 1], k)
            assert got_ids.shape == (1, k) and got_sc.shape == (1, k)
            assert got_ids.dtype == np.int64 and got_sc.dtype == np.float64
            gen_ids, gen_sc = _general(store, Q[i:i + 1], k, monkeypatch)
            np.testing.assert_array_equal(got_ids, gen_ids)
            np.testing.assert_array_equal(got_sc, gen_sc)
            if kind == "sqlite":  # exact: the numpy store's answer, ties by key included
                np.testing.assert_array_equal(got_ids[0], want_ids[i])
            np.testing.assert_allclose(got_sc[0][got_ids[0] >= 0], want_sc[i][want_ids[i] >= 0], atol=1e-4)
    assert sum(answered) > len(answered) // 2  # the lean path answered most queries itself
    # the duplicates' tie inside the answer: the lowest key first, from the one-query path too
    got, _ = store.search(X[7:8], 3)
    assert got[0].tolist() == [ids[7], ids[40], ids[90]]


@pytest.mark.parametrize("kind", ["chroma", "sqlite"])
def test_one_query_short_answer_is_padded(kind, tmp_path):
    X, ids, Q = _tied_data()
    X, ids = X[:6], ids[:6]
    store = _stores(kind, "cosine", X.shape[1], tmp_path)
    store.upsert(ids, X)
    got, sc = store.search(Q[:1], 10)
    assert (got[0, :6] >= 0).all() and (got[0, 6:] == -1).all()
    assert np.isfinite(sc[0, :6]).all() and (sc[0, 6:] == -np.inf).all()
    np.testing.assert_array_equal(got[0], store.search(Q[:2], 10)[0][0])


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_one_query_check_agrees_with_checked_queries(metric):
    """The float32 quick check passes a query only where checked_queries returns it untouched;
    the rest go through checked_queries (same result, same errors)."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=8).astype(np.float32)
    for scale in (0.0, 1e-38, 1e-30, 1e-16, 1e-15, 1e-14, 1e-6, 1.0, 1e6, 1e14, 1e15, 1e16, 1e19, 1e20, 1e30, 3e38):
        with np.errstate(over="ignore"):
            q = (base * np.float32(scale)).astype(np.float32)
        try:
            want = checked_queries(q[None, :], metric)
        except InvalidVectorError:
            assert not _moderate_one(q, metric), scale
            continue
        if _moderate_one(q, metric):
            assert want.shape == (1, 8) and np.array_equal(want[0], q), scale  # untouched
    for bad in (np.nan, np.inf, -np.inf):
        q = base.copy()
        q[3] = bad
        assert not _moderate_one(q, metric)
        with pytest.raises(InvalidVectorError):
            checked_queries(q[None, :], metric)


def test_chroma_one_query_falls_back_to_collection_query(tmp_path, monkeypatch):
    """A chromadb whose internal ``_query`` takes other arguments: the public ``collection.query``
    answers from then on, the same rows."""
    X, ids, Q = _tied_data()
    store = _stores("chroma", "cosine", X.shape[1], tmp_path)
    store.upsert(ids, X)
    want = [store.search(Q[i:i + 1], 5) for i in range(4)]
    col = store._collection()
    orig = col._client._query

    def strict(*, collection_id, ids, query_embeddings, n_results, where, where_document, include, tenant, database):
        # every argument required: what Collection.query passes, not vecnb's shorter direct call
        return orig(collection_id=collection_id, ids=ids, query_embeddings=query_embeddings, n_results=n_results,
                    where=where, where_document=where_document, include=include, tenant=tenant, database=database)

    monkeypatch.setattr(col._client, "_query", strict)
    got = [store.search(Q[i:i + 1], 5) for i in range(4)]
    assert store._direct_query is False
    for (a, b), (c, d) in zip(want, got):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_chroma_record_reader_follows_a_replaced_record_file(tmp_path):
    """The index record's last seq is read through a kept connection; another writer replacing the
    record file (os.replace, as mode='replace' does), removing it or writing to it is seen at once."""
    import os

    from vecnb.stores._ledger import FileLedger

    path = str(tmp_path / "rec.sqlite3")
    reader, writer = FileLedger(path, "chroma"), FileLedger(path, "chroma")
    assert reader.last() is None  # no file
    open(path, "wb").close()
    assert reader.last() is None  # a file without the table
    writer.reset([b"a", b"b"])
    assert reader.last() == 1
    writer.append(2, b"c")
    assert reader.last() == 2  # a commit after the reader's connection was opened
    other = FileLedger(str(tmp_path / "new.sqlite3"), "chroma")
    other.reset([b"x"], floor=7)
    os.replace(other.path, path)
    assert reader.last() == 7  # another file at the path now
    writer.remove()
    assert reader.last() is None
    writer.reset([b"y"], floor=20)
    assert reader.last() == 20
    reader.close()
    assert reader.last() == 20  # reopens after close()


def test_chroma_index_on_a_path_sees_another_handles_sync(tmp_path):
    import pandas as pd

    import vecnb

    pytest.importorskip("chromadb")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 8)).astype(np.float32)
    df = pd.DataFrame({"t": [f"r{i}" for i in range(30)]}).vec.attach(X, name="emb")
    a = df.vec.index(store="chroma", path=str(tmp_path / "c"), progress=False)
    b = vecnb.open_index("chroma", path=str(tmp_path / "c"))
    for _ in range(3):  # the kept record reader is in use
        assert len(b.search(X[0], k=3)) == 3
    df2 = df.iloc[:10].vec.attach(X[:10], name="emb")
    a.sync(df2)
    hits = b.search(X[20], k=30)
    assert len(hits) == 10 and set(hits["t"]) <= set(df2["t"])
    a.close()
    b.close()
