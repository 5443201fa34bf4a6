"""Hostile inputs and limits (issue 14, items 8, 10 and 11), on real backends.

pgvector runs on a real PostgreSQL (the ``pg_url`` fixture); the Elasticsearch rows use the
EMULATOR in tests/stores/es_emulator.py, which is not Elasticsearch.
"""

from __future__ import annotations

import os
import sys
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb import filters
from vecnb.errors import InvalidInputError, StoreConnectionError, StoreError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "stores"))

psycopg = pytest.importorskip("psycopg")
from vecnb.stores.pgvector_store import PgVectorStore  # noqa: E402 - after the importorskip


@pytest.fixture
def pg_table(pg_url):
    names = []

    def make():
        names.append(f"lim_{uuid.uuid4().hex[:10]}")
        return names[-1]

    yield make
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for t in names:
            conn.execute(psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(psycopg.sql.Identifier(t)))


def _rows(n=60, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    meta = pd.DataFrame({
        "color": rng.choice(["red", "blue", "green"], n),
        "flag": rng.random(n) < 0.5,
        "when": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D"),
        "size": rng.integers(0, 10, n),
    })
    texts = [f"doc {i} about {c} things and {'cats' if i % 3 else 'dogs'}" for i, c in enumerate(meta["color"])]
    return np.arange(n, dtype=np.int64) * 3 + 1, X, meta, texts


# ------------------------------------------------------------------ item 8: pgvector keyword / errors
def test_pgvector_100k_character_keyword_query(pg_url, pg_table):
    """Was "stack depth limit exceeded" reported as a lost connection; now answers."""
    ids, X, meta, texts = _rows()
    with PgVectorStore(dim=8, url=pg_url, table=pg_table(), kind="exact") as store:
        store.upsert(ids, X, meta, texts)
        words = [f"w{i}" for i in range(20_000)] + ["cats"]
        huge = " ".join(words)[:100_000] + " cats"
        assert len(huge) > 99_000
        for mode in ("any", "all", "websearch"):
            got, _ = store.keyword(huge, 5, mode=mode)
            assert got.shape == (1, 5)
        got, _ = store.keyword("cats " * 30_000, 5)  # one word repeated: deduplicated
        assert (got >= 0).all()
        assert len(store) == len(ids)  # the connection still works


def test_pgvector_errors_classified_by_sqlstate(pg_url, pg_table):
    """A server error on a live connection is a StoreError naming its SQLSTATE, not a lost connection."""
    ids, X, meta, _ = _rows()
    with PgVectorStore(dim=8, url=pg_url, table=pg_table(), kind="exact") as store:
        store.upsert(ids, X, meta)
        with psycopg.connect(pg_url, autocommit=True) as other:
            try:  # a real 54001 from the server: the tsquery the old code built from a 100k-char query
                other.execute("SET max_stack_depth = '100kB'")  # the same error as 100k words, sooner
                other.execute("SELECT websearch_to_tsquery('english', %s)",
                              [" or ".join(f"w{i}" for i in range(3_000))])
            except psycopg.Error as exc:
                too_deep = exc
        assert too_deep.sqlstate == "54001" and isinstance(too_deep, psycopg.OperationalError)
        with pytest.raises(StoreError) as info, store._op("keyword"):  # the one place errors are translated
            raise too_deep
        assert not isinstance(info.value, StoreConnectionError)
        assert "54001" in str(info.value) and "shorten" in str(info.value)
        assert len(store) == len(ids)
        # a killed backend is a lost connection
        pid = store._conn().info.backend_pid
        with psycopg.connect(pg_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(StoreConnectionError):
            store.search(X[:1], 3)


# ------------------------------------------------------------------ item 10: migrate copies metadata / texts
def test_migrate_sqlite_to_pgvector_keeps_metadata_and_texts(pg_url, pg_table, tmp_path):
    from vecnb.stores.sqlite_store import SqliteStore

    ids, X, meta, texts = _rows(n=120)
    src = SqliteStore(dim=8, path=tmp_path / "src.db")
    src.upsert(ids, X, meta, texts)
    dst = PgVectorStore(dim=8, url=pg_url, table=pg_table(), kind="exact")
    try:
        report = vecnb.migrate(src, dst, batch_size=50, progress=False)
        assert report.complete and report.rows == len(ids)
        assert not [n for n in report.notes if "not copied" in n]
        for where in [{"color": "red"}, {"flag": True}, {"flag": 0}, {"size": {"$gte": 5}},
                      {"when": {"$gte": pd.Timestamp("2021-06-01")}},
                      {"$or": [{"color": "blue"}, {"when": {"$lt": pd.Timestamp("2021-02-01")}}]}]:
            node = filters.parse(where)
            a = src.search(X[:2], len(ids), where=node)[0]
            b = dst.search(X[:2], len(ids), where=node)[0]
            want = set(ids[filters.to_mask(node, meta)].tolist())
            assert set(a[0][a[0] >= 0].tolist()) == want, where
            assert set(b[0][b[0] >= 0].tolist()) == want, where
        assert dst.fetch_texts(ids[:3]) == texts[:3]
        got, _ = dst.keyword("dogs", 50)
        assert set(got[0][got[0] >= 0].tolist()) == {int(i) for i, t in zip(ids, texts) if "dogs" in t}
    finally:
        src.close()
        dst.close()


def test_migrate_says_what_it_could_not_copy():
    from vecnb.stores.numpy_store import NumpyStore

    class NoMeta(NumpyStore):  # a store that does not declare it can read its metadata back
        capabilities = NumpyStore.capabilities - {"metadata"}

    ids, X, meta, texts = _rows(n=20)
    src, dst = NoMeta(dim=8), NumpyStore(dim=8)
    src.upsert(ids, X, meta, texts)
    report = vecnb.migrate(src, dst, progress=False)
    assert report.complete
    assert any("metadata were not copied" in n for n in report.notes)
    assert not any("texts were not copied" in n for n in report.notes)


# ------------------------------------------------------------------ item 11: inputs
def test_complex_vectors_refused():
    from vecnb.stores.numpy_store import NumpyStore

    ids, X, _, _ = _rows(n=10)
    Z = X.astype(np.complex64) + 1j
    df = pd.DataFrame({"a": range(10)})
    with pytest.raises(InvalidInputError, match="complex"):
        df.vec.attach(Z, name="emb")
    with pytest.raises(InvalidInputError, match="complex"):
        df.vec.attach(list(Z), name="emb")
    with NumpyStore(dim=8) as store:
        with pytest.raises(InvalidInputError, match="complex"):
            store.upsert(ids, Z)
        store.upsert(ids, X)
        with pytest.raises(InvalidInputError, match="complex"):
            store.search(Z[:1], 3)
    df = df.vec.attach(X, name="emb")
    with pytest.raises(InvalidInputError, match="complex"):
        df.vec.search(Z[0], k=3)


def test_keyword_over_stop_words_only_is_empty_with_a_note():
    df = pd.DataFrame({"text": ["the and of", "a the", "is it", ""]})
    with pytest.warns(UserWarning, match="no searchable word"):
        hits = df.vec.keyword("the", text="text", k=3)
    assert hits.empty and list(hits.columns)[:1] == ["text"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert df.vec.keyword("zebra the", text="text", k=3).empty
        X = np.eye(4, dtype=np.float32)
        hy = df.vec.attach(X, name="emb").vec.hybrid("the", text="text", k=2, vector=X[0])
    assert len(hy) == 2  # the vector side still answers




def test_huge_cosine_query_same_top3_everywhere(pg_url, pg_table, es_url):
    """Components of 1e30: every store (and df.vec.search) ranks like the unit query."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 16)).astype(np.float32)
    df = pd.DataFrame({"i": range(300)}).vec.attach(X, name="emb")
    q = rng.normal(size=16).astype(np.float32)
    big = (q.astype(np.float64) * 1e30).astype(np.float32)
    want = df.vec.search(q, k=3).index.tolist()
    assert df.vec.search(big, k=3).index.tolist() == want
    stores = {"numpy": {}, "faiss": {}, "sqlite": {}, "chroma": {},
              "pgvector": {"url": pg_url, "table": pg_table(), "kind": "exact"},
              "elasticsearch": {"url": es_url, "index": f"big_{uuid.uuid4().hex[:8]}", "kind": "exact"}}
    got = {}
    for name, opts in stores.items():
        if name in ("faiss", "chroma"):
            pytest.importorskip(name if name == "faiss" else "chromadb")
        idx = df.vec.index(store=name, metric="cosine", **opts)
        try:
            got[name] = idx.search(big, k=3).index.tolist()
        finally:
            idx.close()
    assert got == {name: want for name in stores}
