"""The sqlite store beyond the conformance suite: the file, other processes, locks, FTS5, hostile input.

Everything runs against real SQLite (apsw) with the real sqlite-vec extension; other
processes are real ``python`` subprocesses opening the same file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

apsw = pytest.importorskip("apsw")
pytest.importorskip("sqlite_vec")

import vecnb  # noqa: E402
from vecnb import stores  # noqa: E402
from vecnb._core import filters  # noqa: E402
from vecnb.errors import (  # noqa: E402
    DimensionMismatchError,
    FilterError,
    IndexFormatError,
    InvalidInputError,
    StoreError,
)
from vecnb.stores.numpy_store import NumpyStore  # noqa: E402
from vecnb.stores.sqlite_store import KNN_MAX_K, SqliteStore  # noqa: E402

REPO = str(Path(vecnb.__file__).resolve().parent.parent)
HOSTILE = ["x'; DROP TABLE vecnb_items; --", 'a"b', "a.$color", "col with spaces", "ünï", "[m0]", "m0", "key)"]


def _data(n=400, d=12, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=(n, 1))).astype(np.float32)
    ids = np.arange(n, dtype=np.int64) * 13 + 2**33  # sparse, large keys
    meta = pd.DataFrame({
        "color": pd.Series(np.array(["red", "blue", None, "gre'en"], dtype=object)[rng.integers(0, 4, n)]),
        "n": rng.integers(0, 50, n),
        "x": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "ok": rng.random(n) < 0.5,
        "when": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
    })
    return X, ids, meta


def _pair(tmp_path, metric, X, ids, meta, texts=None):
    sq = SqliteStore(dim=X.shape[1], metric=metric, path=tmp_path / f"s-{metric}.sqlite")
    ref = NumpyStore(dim=X.shape[1], metric=metric)
    sq.upsert(ids, X, meta, texts)
    ref.upsert(ids, X, meta, texts)
    return sq, ref


def _same(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    ok = a[0] >= 0
    np.testing.assert_allclose(a[1][ok], b[1][ok], atol=1e-4, rtol=0)


def _run(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, check=False,
                          timeout=timeout, env=env, cwd=REPO)


# ------------------------------------------------------------------ exactness against the numpy store
@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_same_ids_and_scores_as_numpy(tmp_path, metric):
    X, ids, meta = _data()
    Q = np.random.default_rng(7).normal(size=(6, X.shape[1])).astype(np.float32)
    sq, ref = _pair(tmp_path, metric, X, ids, meta)
    for k in (1, 10, 57):
        _same(sq.search(Q, k), ref.search(Q, k))
    where = filters.parse({"$or": [{"color": "gre'en"}, {"n": {"$lt": 10}}], "ok": True})
    _same(sq.search(Q, 10, where=where), ref.search(Q, 10, where=where))
    # k beyond what vec0 KNN accepts: the store scans instead, with the same answers (and padding)
    k = KNN_MAX_K // 2 + 1
    got, ref_got = sq.search(Q[:2], k), ref.search(Q[:2], k)
    _same(got, ref_got)
    assert (got[0][:, len(X):] == -1).all()
    sq.close()


def test_dot_reduction_survives_longer_vectors(tmp_path):
    """A vector longer than every stored one makes the store rewrite its dot-product reduction."""
    X, ids, _ = _data(300, 8)
    sq = SqliteStore(dim=8, metric="dot", path=tmp_path / "dot.sqlite")
    ref = NumpyStore(dim=8, metric="dot")
    for s in (sq, ref):
        s.upsert(ids[:200], X[:200])
    radius = float(sq._connect().execute("SELECT value FROM vecnb_meta WHERE key='dot_radius'").fetchall()[0][0])
    big = X[200:] * 5.0  # far longer than the radius chosen for the first batch
    assert np.linalg.norm(big, axis=1).max() > radius
    for s in (sq, ref):
        s.upsert(ids[200:], big)
    radius2 = float(sq._connect().execute("SELECT value FROM vecnb_meta WHERE key='dot_radius'").fetchall()[0][0])
    assert radius2 >= np.linalg.norm(big, axis=1).max()
    Q = np.random.default_rng(3).normal(size=(8, 8)).astype(np.float32)
    _same(sq.search(Q, 15), ref.search(Q, 15))
    vecs, found = sq.fetch(ids[[0, 250]])
    assert found.all()
    np.testing.assert_array_equal(vecs, np.stack([X[0], big[50]]))  # the augmentation is invisible
    sq.close()


# ------------------------------------------------------------------ filters: every operator, hostile names and values
@pytest.mark.parametrize("where", [
    {"color": "gre'en"}, {"color": {"$ne": "red"}}, {"color": {"$in": ["red", "gre'en"]}},
    {"color": {"$nin": ["red"]}}, {"n": {"$gt": 25}}, {"n": {"$gte": 25}}, {"n": {"$lt": 3}}, {"n": {"$lte": 3}},
    {"x": {"$ne": 0.5}}, {"x": {"$gte": 0.2, "$lt": 0.4}}, {"ok": False}, {"ok": {"$ne": True}},
    {"n": {"$in": list(range(0, 200, 3))}},  # long $in lists are bound as one JSON parameter
    {"n": {"$nin": list(range(0, 200, 3))}},
    {"when": {"$gte": pd.Timestamp("2021-06-01")}},  # (ISO strings: df.vec and VectorIndex, which know dtypes)
    {"$or": [{"$and": [{"color": "blue"}, {"x": {"$lt": 0.5}}]}, {"n": 7}]},
    {"color": "x'); DELETE FROM vecnb_items; --"},
])
def test_filters_match_numpy(tmp_path, where):
    X, ids, meta = _data()
    Q = X[:4] + 0.01
    sq, ref = _pair(tmp_path, "cosine", X, ids, meta)
    node = filters.parse(where)
    _same(sq.search(Q, 25, where=node), ref.search(Q, 25, where=node))
    assert len(sq) == len(X)
    sq.close()


def test_hostile_field_names_and_values(tmp_path):
    X, ids, _ = _data(120, 6)
    rng = np.random.default_rng(1)
    meta = pd.DataFrame({name: rng.choice(["a", "b'", 'c"', "%_", "; DROP TABLE vecnb_vec; --"], len(X))
                         for name in HOSTILE})
    meta[HOSTILE[0]] = rng.integers(0, 5, len(X))
    sq, ref = _pair(tmp_path, "l2", X, ids, meta)
    Q = X[:3]
    for name in HOSTILE:
        for value in (["b'", 'c"', "%_", "; DROP TABLE vecnb_vec; --", "a"] if name != HOSTILE[0] else [0, 3]):
            node = filters.parse({name: value})
            _same(sq.search(Q, 20, where=node), ref.search(Q, 20, where=node))
        node = filters.parse({name: {"$in": ["a", "%_"]}} if name != HOSTILE[0] else {name: {"$gt": 1}})
        _same(sq.search(Q, 20, where=node), ref.search(Q, 20, where=node))
    # names never became SQL: the file has exactly vecnb's tables and columns m0..m7
    conn = sq._connect()
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE '%\\_%' ESCAPE '\\'")}
    cols = [r[1] for r in conn.execute("PRAGMA table_info(vecnb_items)")]
    assert cols == ["id"] + [f"m{i}" for i in range(len(HOSTILE))]
    assert sorted(sq.fields()) == sorted(HOSTILE)
    assert len(sq) == len(X) and not tables - {"vecnb_meta", "vecnb_items", "vecnb_fields", "vecnb_vec", "vecnb_fts"}
    sq.close()


def test_filter_type_errors_and_unknown_fields(tmp_path):
    X, ids, meta = _data(50, 4)
    sq = SqliteStore(dim=4, path=tmp_path / "t.sqlite")
    sq.upsert(ids, X, meta)
    with pytest.raises(FilterError, match="color"):
        sq.search(X[:1], 5, where=filters.parse({"color": {"$gt": 3}}))
    with pytest.raises(FilterError, match="'n'"):
        sq.search(X[:1], 5, where=filters.parse({"n": {"$lt": "b"}}))
    got, _ = sq.search(X[:1], 5, where=filters.parse({"nope": 1}))  # like the numpy store: matches nothing
    assert (got == -1).all()
    got, _ = sq.search(X[:1], 5, where={"$or": [{"nope": 1}, {"n": {"$gte": 0}}]})  # dicts are parsed too
    assert (got >= 0).all()
    sq.close()


# ------------------------------------------------------------------ writes
def test_upsert_replaces_whole_row_and_delete(tmp_path):
    X, ids, meta = _data(60, 4)
    texts = [f"doc {i} apple" if i % 2 else f"doc {i} banana" for i in range(60)]
    sq = SqliteStore(dim=4, metric="cosine", path=tmp_path / "u.sqlite")
    sq.upsert(ids, X, meta, texts)
    # replace row 0: new vector, new metadata without 'color', no text
    sq.upsert(ids[:1], -X[:1], meta[["n"]].iloc[:1].assign(n=999))
    assert len(sq) == 60
    vec, _ = sq.fetch(ids[:1])
    np.testing.assert_array_equal(vec[0], -X[0])
    assert sq.fetch_texts(ids[:2]) == [None, texts[1]]
    got, _ = sq.search(X[:1], 60, where=filters.parse({"n": 999}))
    assert got[0][0] == ids[0] and (got[0][1:] == -1).all()
    got, _ = sq.search(X[:1], 60, where=filters.parse({"color": {"$ne": "zzz"}}))
    assert ids[0] not in got  # its color is now missing, which matches nothing
    sq.delete(np.array([ids[1], ids[1], 12345678]))  # duplicates and unknown keys: fine
    assert len(sq) == 59 and not sq.fetch(ids[1:2])[1][0]
    kid, _ = sq.keyword(["apple"], 60)
    assert ids[1] not in kid and (kid >= 0).sum() == 29
    batches = list(sq.iter_ids(batch_size=7))
    assert [len(b) for b in batches] == [7] * 8 + [3]
    np.testing.assert_array_equal(np.concatenate(batches), np.sort(np.delete(ids, 1)))
    sq.close()


def test_dimension_and_metric_of_existing_file(tmp_path):
    path = tmp_path / "d.sqlite"
    with SqliteStore(dim=8, metric="l2", path=path) as st:
        st.upsert(np.arange(3), np.ones((3, 8), np.float32))
    with pytest.raises(DimensionMismatchError, match="8-d"):
        len(SqliteStore(dim=9, metric="l2", path=path))
    with pytest.raises(InvalidInputError, match="metric"):
        len(SqliteStore(dim=8, metric="cosine", path=path))
    with SqliteStore.open(path) as st:
        assert (st.dim, st.metric, len(st)) == (8, "l2", 3)


# ------------------------------------------------------------------ files that are not ours, locks
def _digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_not_a_vecnb_file_is_refused_and_left_alone(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(4096))
    other = tmp_path / "other.db"
    c = apsw.Connection(str(other))
    c.execute("CREATE TABLE people(name TEXT); INSERT INTO people VALUES ('ada')")
    c.close()
    before = {p: _digest(p) for p in (junk, other)}
    for p in (junk, other):
        with pytest.raises(IndexFormatError, match="not"):
            len(SqliteStore(dim=4, path=p))
        with pytest.raises(IndexFormatError):
            SqliteStore.open(p)
    assert {p: _digest(p) for p in (junk, other)} == before
    assert sorted(os.listdir(tmp_path)) == ["junk.db", "other.db"]  # no -wal / -shm left behind either
    with pytest.raises(IndexFormatError, match="folder"):
        len(SqliteStore(dim=4, path=tmp_path))
    with pytest.raises(IndexFormatError):
        SqliteStore.open(tmp_path / "missing.db")


def test_locked_by_another_writer(tmp_path):
    path = tmp_path / "l.sqlite"
    X, ids, meta = _data(40, 4)
    st = SqliteStore(dim=4, path=path, timeout=0.2)
    st.upsert(ids[:20], X[:20], meta.iloc[:20])
    other = apsw.Connection(str(path))
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        with pytest.raises(StoreError, match="locked by another writer") as err:
            st.upsert(ids[20:], X[20:], meta.iloc[20:])
        assert "[sqlite.upsert]" in str(err.value)
        with pytest.raises(StoreError, match="locked"):
            st.delete(ids[:5])
        assert len(st) == 20  # WAL: reading goes on while the other writer holds its lock
        _same(st.search(X[:3], 5), st.search(X[:3], 5))
    finally:
        other.execute("ROLLBACK")
        other.close()
    st.upsert(ids[20:], X[20:], meta.iloc[20:])  # the lock is gone: the write goes through
    assert len(st) == 40
    assert st._connect().execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    st.close()


# ------------------------------------------------------------------ other processes
_REOPEN = """
import json, sys
import numpy as np
from vecnb._core import filters
from vecnb.stores.sqlite_store import SqliteStore
st = SqliteStore.open(sys.argv[1])
Q = np.array(json.loads(sys.argv[2]), dtype=np.float32)
ids, sc = st.search(Q, 7, where=filters.parse({"n": {"$lt": 30}}))
kid, ksc = st.keyword(["apple pie", "banana"], 5)
print(json.dumps({"len": len(st), "metric": st.metric, "ids": ids.tolist(), "scores": sc.tolist(),
                  "kid": kid.tolist(), "ksc": ksc.tolist()}))
"""


def test_reopen_in_a_new_process_gives_the_same_answers(tmp_path):
    X, ids, meta = _data(300, 8)
    texts = [("apple pie " * (i % 3)) + ("banana " * (i % 5)) + f"row{i}" for i in range(300)]
    path = tmp_path / "p.sqlite"
    st = SqliteStore(dim=8, metric="dot", path=path)
    st.upsert(ids, X, meta, texts)
    Q = X[:3] * 1.5
    want = st.search(Q, 7, where=filters.parse({"n": {"$lt": 30}}))
    kwant = st.keyword(["apple pie", "banana"], 5)
    st.close()
    out = _run(_REOPEN, str(path), json.dumps(Q.tolist()))
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["len"] == 300 and got["metric"] == "dot"
    np.testing.assert_array_equal(got["ids"], want[0])
    np.testing.assert_allclose(got["scores"], want[1], atol=1e-9)
    np.testing.assert_array_equal(got["kid"], kwant[0])
    np.testing.assert_allclose(got["ksc"], kwant[1], atol=1e-9)


_WRITER = """
import os, sys, time
import numpy as np
from vecnb.stores.sqlite_store import SqliteStore
st = SqliteStore.open(sys.argv[1], timeout=30)
rng = np.random.default_rng(0)
start = time.time()
while not all(os.path.exists(f"{sys.argv[1]}.ready{i}") for i in (0, 1)) and time.time() - start < 60:
    time.sleep(0.01)  # both readers are reading before the first write
for b in range(int(sys.argv[2])):
    ids = np.arange(1000 + b * 50, 1000 + (b + 1) * 50)
    st.upsert(ids, rng.normal(size=(50, 16)).astype(np.float32))
    time.sleep(0.02)
st.close()
print("done")
"""

_READER = """
import json, sys, time
import numpy as np
from vecnb.stores.sqlite_store import SqliteStore
st = SqliteStore.open(sys.argv[1], timeout=30)
target = int(sys.argv[2])
q = np.ones((1, 16), np.float32)
seen, deadline = [], time.time() + 60
while time.time() < deadline:
    if len(seen) == 3:
        open(f"{sys.argv[1]}.ready{sys.argv[3]}", "w").close()
    n = len(st)
    ids, sc = st.search(q, 10)
    assert (ids >= 0).all() and (np.diff(sc[0]) <= 0).all(), (ids, sc)
    seen.append(n)
    if n >= target:
        break
    time.sleep(0.005)
st.close()
print(json.dumps(seen))
"""


def test_two_readers_while_one_writes(tmp_path):
    path = tmp_path / "c.sqlite"
    with SqliteStore(dim=16, metric="cosine", path=path) as st:
        st.upsert(np.arange(100), np.random.default_rng(1).normal(size=(100, 16)).astype(np.float32))
    batches = 30
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    target = 100 + 50 * batches
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(_READER), str(path), str(target), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
             for i in range(2)]
    procs.append(subprocess.Popen([sys.executable, "-c", textwrap.dedent(_WRITER), str(path), str(batches)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO))
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert outs[2].strip() == "done"
    for out in outs[:2]:
        seen = json.loads(out)
        assert seen[-1] == target
        assert all(a <= b for a, b in zip(seen, seen[1:])), "a reader saw the store shrink"
        assert all((n - 100) % 50 == 0 for n in seen), f"a reader saw half a write: {sorted(set(seen))}"
        assert len(set(seen)) >= 3, "the reader did not run while the writer wrote"
    with SqliteStore.open(path) as st:
        assert len(st) == target
        assert st._connect().execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert st.info()["journal_mode"] == "wal"


# ------------------------------------------------------------------ keyword search (FTS5, BM25)
def _bm25(docs: list[list[str]], query: list[str], k1=1.2, b=0.75) -> np.ndarray:
    """FTS5's bm25() (as documented in fts5.html), sign flipped to higher-is-better."""
    N = len(docs)
    avgdl = sum(map(len, docs)) / N
    out = np.zeros(N)
    for term in query:
        nq = sum(term in d for d in docs)
        if not nq:
            continue
        idf = math.log((N - nq + 0.5) / (nq + 0.5))
        idf = idf if idf > 0 else 1e-6
        for i, d in enumerate(docs):
            tf = d.count(term)
            out[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return out


def test_keyword_is_bm25_with_higher_is_better_scores(tmp_path):
    rng = np.random.default_rng(4)
    vocab = ["vector", "search", "sqlite", "pandas", "frame", "index", "query", "file", "cat", "dog"]
    docs = [list(rng.choice(vocab, size=rng.integers(3, 12))) for _ in range(80)]
    st = SqliteStore(dim=4, path=tmp_path / "k.sqlite", tokenizer="unicode61")
    st.upsert(np.arange(80), rng.normal(size=(80, 4)).astype(np.float32),
              pd.DataFrame({"g": np.arange(80) % 2}), [" ".join(d) for d in docs])
    for query in (["sqlite", "vector"], ["cat"], ["pandas", "frame", "dog"]):
        ref = _bm25(docs, query)
        ids, sc = st.keyword([" ".join(query).upper()], 10)  # FTS5 folds case
        want = np.lexsort((np.arange(80), -ref))[: (ref > 0).sum()][:10]
        np.testing.assert_array_equal(ids[0][: len(want)], want)
        np.testing.assert_allclose(sc[0][: len(want)], ref[want], rtol=1e-6)
        assert (np.diff(sc[0][sc[0] > -np.inf]) <= 0).all()
    ids, _ = st.keyword(["sqlite"], 80, where=filters.parse({"g": 1}))
    assert len(ids[0][ids[0] >= 0]) and (ids[0][ids[0] >= 0] % 2 == 1).all()
    st.close()


def test_keyword_query_syntax_is_inert(tmp_path):
    st = SqliteStore(dim=2, path=tmp_path / "s.sqlite")
    st.upsert(np.arange(3), np.eye(3, 2, dtype=np.float32) + 0.1, texts=["near the cat", "AND or NOT", 'quo"te'])
    for q in ['"', "*", "NEAR(cat", "text:cat", "cat AND", "NOT", "(", "'); DROP TABLE vecnb_fts; --", ""]:
        ids, _ = st.keyword([q], 3)
        assert ids.shape == (1, 3)
    assert st.keyword(["text:cat"], 3)[0][0][0] == 0  # words are searched, 'text:' is not a column filter
    assert st.keyword(["and"], 3)[0][0][0] == 1        # an operator word is just a word
    assert (st.keyword([""], 3)[0] == -1).all()
    assert len(st) == 3
    st.close()


# ------------------------------------------------------------------ lifecycle, registry, save / load
def test_lazy_open_registry_temp_file_and_repr(tmp_path):
    path = tmp_path / "lazy.sqlite"
    st = stores.create("sqlite", dim=3, metric="l2", path=path)
    assert isinstance(st, SqliteStore) and not path.exists()  # constructors only store parameters
    assert "not opened yet" in repr(st)
    assert len(st) == 0 and path.exists()
    assert "0 vectors" in repr(st) and "SqliteStore" in st._repr_html_()
    st.close()
    assert "closed" in repr(st)
    tmp = SqliteStore(dim=3)  # default: a temporary file, removed by close()
    tmp.upsert(np.arange(2), np.ones((2, 3), np.float32))
    file = tmp.path
    assert os.path.exists(file) and tmp.info()["temporary"]
    tmp.close()
    assert not os.path.exists(os.path.dirname(file))
    with pytest.raises(StoreError, match="closed"):
        len(tmp)
    mem = SqliteStore(dim=3, path=":memory:")
    mem.upsert(np.arange(2), np.ones((2, 3), np.float32))
    assert len(mem) == 2
    mem.close()
    with pytest.raises(InvalidInputError, match="tokenizer"):
        SqliteStore(dim=3, tokenizer="porter'); DROP TABLE x; --")


def test_save_writes_a_snapshot_and_load_works_on_a_copy(tmp_path):
    X, ids, meta = _data(100, 4)
    st = SqliteStore(dim=4, metric="cosine", path=tmp_path / "live.sqlite")
    st.upsert(ids, X, meta, [f"t{i}" for i in range(100)])
    saved = st.save(tmp_path / "snap.sqlite")
    digest = _digest(saved)
    with pytest.raises(InvalidInputError):
        st.save(tmp_path / "live.sqlite")
    loaded = SqliteStore.load(saved)
    _same(loaded.search(X[:3], 9), st.search(X[:3], 9))
    loaded.delete(ids[:50])
    assert len(loaded) == 50 and len(st) == 100
    loaded.close()
    assert _digest(saved) == digest  # the saved copy never changed
    st.close()


def test_vector_index_on_sqlite_matches_numpy(tmp_path):
    X, _, meta = _data(200, 8)
    df = meta.assign(text=[f"apple {i}" if i % 4 else f"pear {i}" for i in range(200)]).vec.attach(X, name="emb")
    a = df.vec.index(store="sqlite", metric="l2", path=tmp_path / "idx.sqlite", text="text")
    b = df.vec.index(store="numpy", metric="l2")
    where = {"ok": True, "n": {"$gte": 10}}
    ha, hb = a.search(X[:3], k=8, where=where), b.search(X[:3], k=8, where=where)
    assert ha.index.tolist() == hb.index.tolist()
    np.testing.assert_allclose(ha["score"], hb["score"], atol=1e-4)
    a.save(tmp_path / "saved-index")
    c = vecnb.load_index(tmp_path / "saved-index")
    hc = c.search(X[:3], k=8, where=where)
    assert hc.index.tolist() == ha.index.tolist()
    c.upsert(df.iloc[:0])
    c.delete(df.index[:5])
    assert len(c) == 195 and len(vecnb.load_index(tmp_path / "saved-index")) == 200
    for i in (a, b, c):
        i.close()


@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_scores_from_distances_equal_exact_search_with_ties_and_large_norms(tmp_path, metric):
    rng = np.random.default_rng(11)
    X = (rng.normal(size=(600, 24)) * 5 + 3).astype(np.float32)
    X[100] = X[50]  # exact duplicates: equal scores, the lower key first
    X[400] = X[50]
    Q = np.vstack([X[50] + 0.01, (rng.normal(size=(15, 24)) * 5 + 3)]).astype(np.float32)
    keys = np.arange(600) * 7 + 2
    store = SqliteStore(dim=24, metric=metric, path=str(tmp_path / "t.db"))
    store.upsert(keys, X)
    ref = NumpyStore(dim=24, metric=metric)
    ref.upsert(keys, X)
    got, sc = store.search(Q, 10)
    want, wsc = ref.search(Q, 10)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(sc, wsc, rtol=0, atol=1e-4)
    assert got[0, :3].tolist() == [50 * 7 + 2, 100 * 7 + 2, 400 * 7 + 2]
    store.close()
