"""One filter meaning everywhere (issue 14, items 6 and 7).

Through the public API: ``df.vec.search`` and a ``VectorIndex`` on every store (numpy, faiss,
sqlite, chroma, pgvector on a real PostgreSQL, Elasticsearch on the EMULATOR in
tests/stores/es_emulator.py -- not a real Elasticsearch) return the same rows for dates,
datetimes (naive and tz-aware, ISO strings included), booleans compared with 1 / 0 and
categoricals, and refuse the same filters with the same :class:`FilterError`. Filter limits:
nesting depth, ``$or`` with thousands of branches, long ``$in``, NUL bytes.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import uuid

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb import filters
from vecnb.errors import FilterError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "stores"))

N = 120


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N, 8)).astype(np.float32)
    when = pd.Series(pd.date_range("2020-01-01", periods=N, freq="157h"))
    when[rng.random(N) < 0.1] = pd.NaT
    labels = pd.Index([f"r{i}" for i in range(N)], name="doc")
    when.index = labels
    df = pd.DataFrame({
        "when": when,
        "when_tz": when.dt.tz_localize("Europe/Paris"),
        "day": pd.Series([None if pd.isna(t) else t.date() for t in when], dtype=object, index=labels),
        "flag": rng.random(N) < 0.4,
        "cat": pd.Categorical(rng.choice(list("abc"), N)),
        "size": rng.integers(0, 50, N),
        "name": [f"n{i}" for i in range(N)],
    }, index=labels)
    return df.vec.attach(X, name="emb")




STORES = ["numpy", "faiss", "sqlite", "chroma", "pgvector", "elasticsearch"]


@pytest.fixture(scope="module")
def indexes(frame, request):
    """One VectorIndex per store over ``frame`` (pgvector: real server; elasticsearch: EMULATOR)."""
    out = {}
    for store in STORES:
        opts = {}
        if store == "pgvector":
            pytest.importorskip("psycopg")
            opts = {"url": request.getfixturevalue("pg_url"), "table": f"meaning_{uuid.uuid4().hex[:10]}"}
        elif store == "elasticsearch":
            opts = {"url": request.getfixturevalue("es_url"), "index": f"meaning_{uuid.uuid4().hex[:10]}"}
        elif store == "faiss":
            pytest.importorskip("faiss")
        elif store == "chroma":
            pytest.importorskip("chromadb")
        kind = "exact" if store in ("pgvector", "elasticsearch") else "auto"
        out[store] = frame.vec.index(store=store, kind=kind, metric="cosine", **opts)
    yield out
    for idx in out.values():
        idx.close()


SAME_ROWS = [
    {"when": {"$gte": "2021-01-15"}},                                   # ISO string on a datetime column
    {"when": {"$lt": pd.Timestamp("2020-03-01 12:00")}},
    {"when": {"$gte": dt.date(2020, 6, 1), "$lt": dt.datetime(2020, 9, 1)}},
    {"when": pd.Timestamp("2020-01-01") + pd.Timedelta(hours=157 * 5)},   # $eq on an exact instant
    {"when": {"$ne": "2020-01-01"}},                                    # NaT rows never match
    {"when_tz": {"$gte": "2020-06-01"}},                                # a naive string: the column's zone
    {"when_tz": {"$lt": pd.Timestamp("2020-06-01", tz="UTC")}},
    {"day": {"$lte": dt.date(2020, 4, 1)}},
    {"day": {"$in": ["2020-01-01", dt.date(2020, 1, 3)]}},
    {"flag": 1},
    {"flag": 0},
    {"flag": {"$in": [1.0]}},
    {"flag": {"$ne": 1}},
    {"cat": "b"},
    {"cat": {"$in": ["a", "c"]}},
    {"cat": {"$nin": ["a"]}},
    {"$or": [{"size": i} for i in range(0, 50, 2)]},                    # merged into one $in
    {"$or": [{"$and": [{"size": i % 50}, {"flag": bool(i % 2)}]} for i in range(700)]},  # > 496 branches
    {"name": {"$in": [f"n{i}" for i in range(0, 5000, 3)]}},            # a long $in
    {"$and": [{"$and": [{"$and": [{"size": {"$gte": 10}}]}]}, {"when": {"$gte": "2020-02-01"}}]},
]

REFUSED = [
    {"cat": {"$gt": "a"}},           # categoricals: no ordering (pandas' rule for unordered ones)
    {"flag": {"$gte": True}},        # booleans have no order
    {"when": {"$gt": 5}},            # a number with a datetime column
    {"when": "not a date"},          # a string that is no date
    {"size": {"$gt": pd.Timestamp("2020-01-01")}},  # a datetime with a number column
]


def _rows(fn):
    try:
        return sorted(fn().index.tolist())
    except FilterError as exc:
        return ("FilterError", str(exc))


@pytest.mark.parametrize("where", SAME_ROWS, ids=[str(i) for i in range(len(SAME_ROWS))])
def test_same_rows_on_every_store(frame, indexes, where):
    q = frame.vec.matrix("emb")[3]
    want = _rows(lambda: frame.vec.search(q, k=N, where=where))
    assert isinstance(want, list) and want, f"df.vec.search should answer {where}"
    got = {store: _rows(lambda idx=idx: idx.search(q, k=N, where=where)) for store, idx in indexes.items()}
    bad = {s: g for s, g in got.items() if g != want}
    assert not bad, f"{where}: df.vec.search gives {len(want)} rows; these stores differ: " + \
        "; ".join(f"{s}: {g if isinstance(g, tuple) else len(g)}" for s, g in bad.items())


@pytest.mark.parametrize("where", REFUSED, ids=[str(i) for i in range(len(REFUSED))])
def test_same_refusals_on_every_store(frame, indexes, where):
    q = frame.vec.matrix("emb")[3]
    with pytest.raises(FilterError) as info:
        frame.vec.search(q, k=5, where=where)
    for store, idx in indexes.items():
        with pytest.raises(FilterError) as got:
            idx.search(q, k=5, where=where)
        assert str(got.value) == str(info.value), store


def test_hybrid_on_an_index_uses_the_same_rules(frame, indexes):
    idx = indexes["numpy"]
    q = frame.vec.matrix("emb")[3]
    hits = idx.hybrid("n3", text="name", vector=q, k=N, where={"when": {"$gte": "2021-01-15"}})
    want = set(frame.index[filters.to_mask(filters.parse({"when": {"$gte": "2021-01-15"}}), frame)])
    assert len(hits) and set(hits.index) <= want


def test_query_objects_carry_dates_as_json(frame, indexes):
    import json

    q = vecnb.Query.similar_to(frame.vec.matrix("emb")[3], k=N, where={"when": {"$gte": dt.date(2021, 1, 15)}})
    back = vecnb.Query.from_dict(json.loads(json.dumps(q.to_dict())))
    assert back == q
    want = sorted(frame.vec.search(frame.vec.matrix("emb")[3], k=N, where={"when": {"$gte": "2021-01-15"}}).index)
    assert sorted(indexes["sqlite"].run(back).index) == want


# ------------------------------------------------------------------ the parser itself
def test_datetime_values_round_trip_through_to_dict():
    node = filters.parse({"when": {"$gte": dt.date(2020, 1, 2)}, "t": {"$in": [pd.Timestamp("2020-01-01", tz="UTC")]}})
    d = filters.to_dict(node)
    import json

    assert filters.parse(json.loads(json.dumps(d))) == node


def test_deep_nesting_is_a_filter_error_not_a_recursion_error():
    where: dict = {"a": 1}
    for _ in range(400):
        where = {"$and": [where]}
    with pytest.raises(FilterError, match="at most"):
        filters.parse(where)
    node: filters.Node = filters.Cmp("a", "$eq", 1)
    for _ in range(400):
        node = filters.Or((node, filters.Cmp("b", "$eq", 2)))
    with pytest.raises(FilterError, match="at most"):
        filters.parse(node)
    ok: dict = {"a": 1}
    for _ in range(filters.MAX_DEPTH - 1):
        ok = {"$and": [ok, {"b": 2}]}
    assert filters.parse(ok) is not None


def test_complex_filter_values_refused():
    with pytest.raises(FilterError, match="complex"):
        filters.parse({"a": 1 + 2j})


def test_or_of_equalities_merges_into_in():
    node = filters.parse({"$or": [{"a": i} for i in range(1000)] + [{"a": True}, {"b": 1}]})
    assert isinstance(node, filters.Or) and len(node.children) == 2
    assert node.children[0] == filters.Cmp("a", "$in", tuple(range(1000)) + (True,))


def test_sqlite_or_with_many_distinct_branches(tmp_path):
    """SQLite refused ~500+ OR branches ("Expression tree is too large"); now balanced."""
    from vecnb.stores.sqlite_store import SqliteStore

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    meta = pd.DataFrame({"a": np.arange(300) % 17, "b": np.arange(300) % 13})
    where = {"$or": [{"a": i % 17, "b": i % 13} for i in range(3000)]}
    node = filters.parse(where)
    with SqliteStore(dim=4, path=tmp_path / "s.db") as store:
        store.upsert(np.arange(300), X, meta)
        ids, _ = store.search(X[:1], 300, where=node)
    want = np.flatnonzero(filters.to_mask(node, meta))
    assert sorted(ids[0][ids[0] >= 0].tolist()) == want.tolist()


@pytest.mark.parametrize("where,expect", [
    ({"name": "n1\x00"}, "none"),
    ({"name": {"$in": ["n1\x00", "n2"]}}, "n2"),
    ({"name": {"$ne": "n1\x00"}}, "all"),
    ({"name": {"$nin": ["x\x00"]}}, "all"),
    ({"name": {"$gt": "n9\x00"}}, "ordering"),
    ({"name": {"$lte": "n9\x00zz"}}, "ordering"),
    ({"na\x00me": {"$ne": "x"}}, "none"),
])
def test_nul_in_a_pgvector_filter_matches_like_numpy(pg_url, where, expect):
    """A NUL byte in a filter value gave a raw PostgreSQL error; now: the rows numpy gives."""
    pytest.importorskip("psycopg")
    from vecnb.stores.numpy_store import NumpyStore
    from vecnb.stores.pgvector_store import PgVectorStore

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    meta = pd.DataFrame({"name": [f"n{i}" for i in range(40)]})
    node = filters.parse(where)
    table = f"nul_{uuid.uuid4().hex[:10]}"
    with PgVectorStore(dim=4, url=pg_url, table=table, kind="exact") as pg, NumpyStore(dim=4) as ref:
        for s in (pg, ref):
            s.upsert(np.arange(40), X, meta)
        got = pg.search(X[:1], 40, where=node)[0][0]
        want = ref.search(X[:1], 40, where=node)[0][0]
        assert sorted(got[got >= 0].tolist()) == sorted(want[want >= 0].tolist())
        if expect == "none":
            assert (got < 0).all()
        elif expect == "all":
            assert (got >= 0).all()
    _drop(pg_url, table)


def _drop(url, table):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(psycopg.sql.Identifier(table)))
