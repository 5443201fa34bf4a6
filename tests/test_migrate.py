"""vecnb.migrate and vecnb.IncrementalVectorizer: streaming, checkpointed, resumable, retrying copies.

Real stores only (numpy, faiss, sqlite, PostgreSQL + pgvector from the session fixture).
The crash tests start a child Python process, ``kill -9`` it mid-run and resume here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb import errors
from vecnb.ops._common import Checkpoint, call_with_retries
from vecnb.stores.numpy_store import NumpyStore

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------- helpers
def frame(n: int = 1200, d: int = 16, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(8, d))
    X = (centers[rng.integers(0, 8, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    df = pd.DataFrame({"year": rng.integers(1950, 2000, n), "label": rng.choice(["a", "b", "c"], n),
                       "text": [f"document number {i}" for i in range(n)]},
                      index=pd.Index([f"doc{i}" for i in range(n)], name="id"))
    return df.vec.attach(X, name="emb")


def make_store(name: str, dim: int, tmp_path: Path, pg_url: str | None = None, metric: str = "cosine",
               table: str | None = None):
    if name == "numpy":
        return NumpyStore(dim=dim, metric=metric)
    if name == "faiss":
        pytest.importorskip("faiss")
        from vecnb.stores.faiss_store import FaissStore

        return FaissStore(dim=dim, metric=metric, kind="flat")
    if name == "sqlite":
        from vecnb.stores.sqlite_store import SqliteStore

        return SqliteStore(dim=dim, metric=metric, path=str(tmp_path / f"{uuid.uuid4().hex[:8]}.db"))
    if name == "chroma":
        pytest.importorskip("chromadb")
        from vecnb.stores.chroma_store import ChromaStore

        return ChromaStore(dim=dim, metric=metric)
    if name == "pgvector":
        from vecnb.stores.pgvector_store import PgVectorStore

        return PgVectorStore(dim=dim, metric=metric, kind="exact", url=pg_url,
                             table=table or f"mig_{uuid.uuid4().hex[:10]}")
    raise AssertionError(name)


def kill_when(args: list[str], progressed, timeout: float = 60) -> None:
    """Run ``python args`` in a child process and ``kill -9`` it as soon as ``progressed()`` is true."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + timeout
        while not progressed():
            if child.poll() is not None:
                raise AssertionError(f"child ended early: {child.stderr.read().decode()[-2000:]}")
            if time.time() > deadline:
                raise AssertionError("the child made no progress")
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def all_keys(store) -> np.ndarray:
    return np.concatenate(list(store.iter_ids(997)) or [np.empty(0, np.int64)])


def assert_store_holds(store, keys: np.ndarray, X: np.ndarray) -> None:
    """``store`` holds exactly ``keys`` (each once) with vectors ``X`` (up to cosine normalisation)."""
    got = all_keys(store)
    assert len(got) == len(np.unique(got)), "a key is stored twice"
    assert len(store) == len(keys)
    assert np.array_equal(np.sort(got), np.sort(keys))
    vecs, found = store.fetch(keys)
    assert found.all()
    if store.metric == "cosine":
        np.testing.assert_allclose(unit(vecs), unit(X), atol=1e-5)
    else:
        np.testing.assert_allclose(vecs, X, atol=1e-5)


# ---------------------------------------------------------------------------------------------- helpers: retry / checkpoint
def test_retries_back_off_exponentially_then_give_up():
    delays, calls = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("server went away")
        return "ok"

    assert call_with_retries(flaky, retries=3, backoff=0.5, sleep=delays.append) == "ok"
    assert delays == [0.5, 1.0]

    delays.clear()
    calls.clear()

    def broken():
        calls.append(1)
        raise TimeoutError("still down")

    with pytest.raises(TimeoutError):
        call_with_retries(broken, retries=3, backoff=0.25, sleep=delays.append)
    assert len(calls) == 4 and delays == [0.25, 0.5, 1.0]

    calls.clear()

    def bad_input():
        calls.append(1)
        raise errors.DimensionMismatchError("wrong width")

    with pytest.raises(errors.DimensionMismatchError):
        call_with_retries(bad_input, retries=3, backoff=0.0, sleep=delays.append)
    assert len(calls) == 1  # a retry cannot fix bad input


def test_checkpoint_is_replaced_atomically(tmp_path):
    ck = Checkpoint(tmp_path / "sub" / "ck.json")
    assert ck.load() is None
    ck.save({"position": 3, "n": np.int64(4)})
    assert ck.load() == {"position": 3, "n": 4}
    ck.save({"position": 7})
    assert ck.load() == {"position": 7}
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["ck.json"]  # no temporary file left
    (tmp_path / "sub" / "ck.json").write_text("{torn")
    with pytest.raises(errors.IndexFormatError, match="Delete it"):
        ck.load()


# ---------------------------------------------------------------------------------------------- migrate: correctness
@pytest.mark.parametrize("dst_name", ["numpy", "faiss", "sqlite", "pgvector", "chroma"])
def test_migrate_index_into_every_store(dst_name, tmp_path, request):
    df = frame(900)
    src = df.vec.index(store="numpy", text="text")
    pg_url = request.getfixturevalue("pg_url") if dst_name == "pgvector" else None
    dst = make_store(dst_name, 16, tmp_path, pg_url)
    report = vecnb.migrate(src, dst, batch_size=128, progress=False)
    assert report.complete and report.rows == 900 and report.batches == 8 and report.total == 900
    assert_store_holds(dst, src.keys_for(df.index), df.vec.matrix("emb"))
    # the returned index answers with the same labels, filters included (metadata was copied)
    Q = df.vec.matrix("emb")[[3, 500]]
    want = src.search(Q, k=5, where={"label": "b"})
    got = report.index.search(Q, k=5, where={"label": "b"})
    assert list(got.index) == list(want.index)
    np.testing.assert_allclose(got["score"], want["score"], atol=1e-4)
    dst.close()


def test_migrate_faiss_to_pgvector(pg_url, tmp_path):
    df = frame(1500)
    src = df.vec.index(store="faiss", kind="flat")
    dst = make_store("pgvector", 16, tmp_path, pg_url)
    report = vecnb.migrate(src, dst, batch_size=400, checkpoint=tmp_path / "ck.json", progress=False)
    assert report.complete and report.rows == 1500
    assert_store_holds(dst, src.keys_for(df.index), df.vec.matrix("emb"))
    state = json.loads((tmp_path / "ck.json").read_text())
    assert state["status"] == "complete" and state["position"] == 1500
    hits = report.index.search(df.vec.matrix("emb")[:1], k=3, where={"year": {"$gte": 1990}})
    assert (hits["year"] >= 1990).all() and len(hits) == 3
    dst.drop()


def test_migrate_store_to_store_numpy_to_faiss(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1000, 8)).astype(np.float32)
    src = NumpyStore(dim=8, metric="l2")
    src.upsert(np.arange(1000) * 7, X)
    dst = make_store("faiss", 8, tmp_path, metric="l2")
    report = vecnb.migrate(src, dst, batch_size=300, progress=False)
    assert report.rows == 1000 and report.index is None
    assert_store_holds(dst, np.arange(1000) * 7, X)
    ids, _ = dst.search(X[:5], k=1)
    assert ids[:, 0].tolist() == (np.arange(5) * 7).tolist()


def test_migrate_into_a_vector_index(tmp_path):
    df = frame(600)
    src = df.vec.index(store="numpy")
    dst = df.iloc[:0].vec.index(store="sqlite", path=str(tmp_path / "dst.db"))
    report = vecnb.migrate(src, dst, batch_size=250, progress=False)
    assert report.index is dst and len(dst) == 600
    assert list(dst.frame.index) == list(df.index)
    Q = df.vec.matrix("emb")[[10]]
    assert list(dst.search(Q, k=4).index) == list(src.search(Q, k=4).index)


def test_migrate_refuses_mismatches(tmp_path):
    src = NumpyStore(dim=8)
    src.upsert(np.arange(3), np.ones((3, 8), np.float32))
    with pytest.raises(errors.DimensionMismatchError, match="dim=8"):
        vecnb.migrate(src, NumpyStore(dim=4))
    with pytest.raises(errors.InvalidInputError, match="metric='cosine'"):
        vecnb.migrate(src, NumpyStore(dim=8, metric="l2"))
    with pytest.raises(errors.InvalidInputError, match="same store"):
        vecnb.migrate(src, src)
    with pytest.raises(errors.InvalidInputError, match="batch_size"):
        vecnb.migrate(src, NumpyStore(dim=8), batch_size=0)
    ck = tmp_path / "ck.json"
    vecnb.migrate(src, NumpyStore(dim=8), checkpoint=ck, progress=False)
    other = NumpyStore(dim=8, metric="dot")
    other.upsert(np.arange(3), np.ones((3, 8), np.float32))
    with pytest.raises(errors.InvalidInputError, match="another migration"):
        vecnb.migrate(other, NumpyStore(dim=8, metric="dot"), checkpoint=ck)
    with pytest.raises(errors.InvalidInputError, match="VectorIndex"):
        vecnb.migrate(src, object())


# ---------------------------------------------------------------------------------------------- migrate: failures
class FlakyStore(NumpyStore):
    """A real numpy store whose upsert fails ``fail_first`` times, or always while ``broken``."""

    def __init__(self, *args, fail_first: int = 0, **kw):
        super().__init__(*args, **kw)
        self.fail_first = fail_first
        self.broken = False
        self.calls = 0

    def upsert(self, ids, vectors, metadata=None, texts=None):
        self.calls += 1
        if self.broken or self.calls <= self.fail_first:
            raise errors.StoreConnectionError("connection reset", store="flaky", operation="upsert")
        super().upsert(ids, vectors, metadata, texts)


def test_migrate_retries_a_failing_batch():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 8)).astype(np.float32)
    src = NumpyStore(dim=8)
    src.upsert(np.arange(500), X)
    dst = FlakyStore(dim=8, fail_first=2)
    with pytest.warns(UserWarning, match="retry 1/3"):
        report = vecnb.migrate(src, dst, batch_size=100, retries=3, backoff=0.01, progress=False)
    assert report.retries == 2 and report.complete and report.batches == 5
    assert_store_holds(dst, np.arange(500), X)


def test_migrate_gives_up_then_resumes_from_the_checkpoint(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1000, 8)).astype(np.float32)
    src = NumpyStore(dim=8)
    src.upsert(np.arange(1000), X)
    dst = FlakyStore(dim=8)
    ck = tmp_path / "ck.json"

    def break_after_three(state):
        if state["batches"] == 3:
            dst.broken = True

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(errors.StoreError, match="resume") as info:
            vecnb.migrate(src, dst, batch_size=100, checkpoint=ck, retries=2, backoff=0.001,
                          on_batch=break_after_three, progress=False)
    assert isinstance(info.value.__cause__, errors.StoreConnectionError)
    assert json.loads(ck.read_text())["position"] == 300
    dst.broken = False
    report = vecnb.migrate(src, dst, batch_size=100, checkpoint=ck, progress=False)
    assert report.resumed_from == 300 and report.rows == 700 and report.complete
    assert_store_holds(dst, np.arange(1000), X)


def test_migrate_restarts_when_the_destination_lost_its_rows(tmp_path):
    src = NumpyStore(dim=4)
    src.upsert(np.arange(50), np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32))
    ck = tmp_path / "ck.json"
    Checkpoint(ck).save({"kind": "vecnb.migrate", "version": 1,
                         "source": {"store": "numpy", "dim": 4, "metric": "cosine", "index": False},
                         "destination": {"store": "numpy", "dim": 4, "metric": "cosine", "index": False},
                         "status": "running", "position": 20, "last_key": 19, "batches": 2})
    fresh = NumpyStore(dim=4)  # e.g. an in-memory store that died with the killed process
    with pytest.warns(UserWarning, match="copying from the start"):
        report = vecnb.migrate(src, fresh, batch_size=10, checkpoint=ck, progress=False)
    assert report.resumed_from == 0 and report.rows == 50 and len(fresh) == 50


def test_migrate_memory_stays_flat(pg_url, tmp_path):
    """Peak Python-side allocations stay near one batch, far below the source size."""
    n, d, bs = 40_000, 64, 500
    src = NumpyStore(dim=d)
    src.upsert(np.arange(n), np.random.default_rng(0).normal(size=(n, d)).astype(np.float32))
    dst = make_store("pgvector", d, tmp_path, pg_url)
    warm = NumpyStore(dim=d)  # one-time costs (imports, connection, type adapters) are not per-row memory
    warm.upsert(np.arange(3), np.ones((3, d), np.float32))
    vecnb.migrate(warm, dst, progress=False)
    tracemalloc.start()
    try:
        vecnb.migrate(src, dst, batch_size=bs, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    source_bytes = n * d * 4
    assert len(dst) == n
    assert peak < 0.2 * source_bytes, f"peak {peak / 1e6:.1f} MB for a {source_bytes / 1e6:.1f} MB source"
    dst.drop()


# ---------------------------------------------------------------------------------------------- migrate: kill -9 and resume
CHILD = textwrap.dedent("""
    import sys, time
    from vecnb.stores.numpy_store import NumpyStore
    from vecnb.stores.pgvector_store import PgVectorStore
    import vecnb

    src_dir, url, table, ck = sys.argv[1:5]
    src = NumpyStore.load(src_dir)
    assert hasattr(PgVectorStore, "_copy_rows")

    class SlowPg(PgVectorStore):
        # a slow network: each batch's rows are sent, then the commit waits; a kill lands mid-transaction
        def _copy_rows(self, *args, **kw):
            super()._copy_rows(*args, **kw)
            time.sleep(0.04)

    dst = SlowPg(dim=src.dim, metric=src.metric, kind="exact", url=url, table=table)
    vecnb.migrate(src, dst, batch_size=100, checkpoint=ck, progress=False, checkpoint_every=0.1)
    print("finished")
""")


def test_migration_killed_mid_way_resumes_with_every_row_once(pg_url, tmp_path):
    from vecnb.stores.pgvector_store import PgVectorStore

    n, d = 3000, 16
    X = np.random.default_rng(5).normal(size=(n, d)).astype(np.float32)
    keys = np.arange(n, dtype=np.int64) * 3 + 11
    src = NumpyStore(dim=d)
    src.upsert(keys, X)
    src.save(tmp_path / "src")
    table, ck = f"mig_kill_{uuid.uuid4().hex[:8]}", tmp_path / "ck.json"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    kill_when([str(script), str(tmp_path / "src"), pg_url, table, str(ck)],
              lambda: (read_json(ck) or {}).get("position", 0) >= 1000)
    done = Checkpoint(ck).load()["position"]
    assert 1000 <= done < n
    dst = PgVectorStore(dim=d, metric="cosine", kind="exact", url=pg_url, table=table)
    time.sleep(0.2)  # let the server notice the dead client and abort its open transaction
    in_table = len(dst)
    # never half a batch: the table holds what the checkpoint says plus whole batches written since
    # (checkpoints are throttled), and never part of the batch in flight when the process died
    assert in_table >= done and in_table % 100 == 0, (in_table, done)

    report = vecnb.migrate(src, dst, batch_size=100, checkpoint=ck, progress=False)
    assert report.resumed_from == done and report.rows == n - done and report.complete
    assert_store_holds(dst, keys, X)
    dst.drop()


def test_checkpoints_are_throttled_but_exact_on_failure(tmp_path):
    src = NumpyStore(dim=4)
    src.upsert(np.arange(1000), np.random.default_rng(0).normal(size=(1000, 4)).astype(np.float32))
    ck = tmp_path / "ck.json"
    seen = []
    vecnb.migrate(src, NumpyStore(dim=4), batch_size=10, checkpoint=ck, progress=False, checkpoint_every=3600,
                  on_batch=lambda st: seen.append(ck.exists()))
    assert not any(seen) and json.loads(ck.read_text())["status"] == "complete"  # only the final write
    dst = FlakyStore(dim=4)
    ck2 = tmp_path / "ck2.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(errors.StoreError):
            vecnb.migrate(src, dst, batch_size=10, checkpoint=ck2, checkpoint_every=3600, retries=0, progress=False,
                          on_batch=lambda st: setattr(dst, "broken", st["batches"] == 42))
    assert json.loads(ck2.read_text())["position"] == 420 == len(dst)


# ---------------------------------------------------------------------------------------------- IncrementalVectorizer
class Counter:
    """A deterministic embedder that counts the texts it receives (model_id makes it cacheable)."""

    model_id = "test-counter-v1"
    dim = 8

    def __init__(self, fail_on: str | None = None, fail_times: int = 10**9):
        self.seen: list[str] = []
        self.fail_on, self.fail_times = fail_on, fail_times
        self.failures = 0

    def __call__(self, texts):
        if self.fail_on is not None and any(self.fail_on in t for t in texts) and self.failures < self.fail_times:
            self.failures += 1
            raise RuntimeError(f"model server rejected a batch containing {self.fail_on!r}")
        self.seen.extend(texts)
        return vectors_for(texts)


def vectors_for(texts) -> np.ndarray:
    """A fixed pseudo-random 8-d vector per text (seeded by the text's hash)."""
    import hashlib

    return np.stack([np.random.default_rng(int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(),
                                                          "little")).normal(size=8).astype(np.float32)
                     for t in texts]) if len(texts) else np.empty((0, 8), np.float32)


def write_source(folder: Path, n: int = 1000, files: int = 2, edit: dict | None = None, drop=()) -> pd.DataFrame:
    df = pd.DataFrame({"doc_id": np.arange(n), "body": [f"text of document {i}" for i in range(n)]})
    for k, v in (edit or {}).items():
        df.loc[df.doc_id == k, "body"] = v
    df = df[~df.doc_id.isin(list(drop))]
    folder.mkdir(parents=True, exist_ok=True)
    for p in folder.glob("*.parquet"):
        p.unlink()
    for i, part in enumerate(np.array_split(np.arange(len(df)), files)):
        df.iloc[part].to_parquet(folder / f"part-{i}.parquet", row_group_size=130)
    return df


def vz_for(src, out, model, **kw):
    kw.setdefault("batch_size", 100)
    return vecnb.IncrementalVectorizer(src, model=model, out=out, id_column="doc_id", text_column="body",
                                       cache=False, progress=False, retries=2, backoff=0.001, **kw)


def test_vectorizer_embeds_only_changed_rows_and_rolls_back(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    df = write_source(src)
    m = Counter()
    r1 = vz_for(src, out, m).run()
    assert (r1.generation, r1.rows, r1.embedded, r1.reused, r1.committed) == (1, 1000, 1000, 0, True)
    v1 = vz_for(src, out, m).read()
    assert list(v1.index) == list(df.doc_id) and v1.index.name == "doc_id"
    np.testing.assert_allclose(v1.vec.matrix(), vectors_for(df.body.tolist()))

    # edit 10 rows, delete 5, add 3: only the 13 new texts reach the model
    edits = {i: f"edited text {i}" for i in range(0, 1000, 100)}
    df2 = write_source(src, 1003, edit=edits, drop=range(501, 506))
    m.seen.clear()
    r2 = vz_for(src, out, m).run()
    assert sorted(m.seen) == sorted(list(edits.values()) + [f"text of document {i}" for i in (1000, 1001, 1002)])
    assert (r2.generation, r2.rows, r2.embedded, r2.reused, r2.deleted) == (2, 998, 13, 985, 5)
    v2 = vz_for(src, out, m).read()
    assert list(v2.index) == list(df2.doc_id)
    np.testing.assert_allclose(v2.vec.matrix(), vectors_for(df2.body.tolist()))
    # the hashes travel with the vectors: attached to the text, nothing is stale, edits show
    framed = vz_for(src, out, m).attach(df2.set_index("doc_id"))
    assert framed.vec.stale("body_vec").empty
    assert list(framed.assign(body=framed.body.where(framed.index != 3, "x")).vec.stale().index) == [3]

    # roll back: the previous generation's vectors again
    vz = vz_for(src, out, m)
    assert vz.rollback() == 1
    pd.testing.assert_frame_equal(vz.read(), v1)
    with pytest.raises(errors.InvalidInputError, match="no previous generation"):
        vz.rollback()


def test_vectorizer_model_change_re_embeds_everything(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_source(src, 300)
    vz_for(src, out, Counter()).run()

    class Other(Counter):
        model_id = "test-counter-v2"

    m2 = Other()
    r = vz_for(src, out, m2).run()
    assert r.embedded == 300 and r.reused == 0 and len(m2.seen) == 300
    meta = vz_for(src, out, m2).read().vec.info()
    assert meta["model_id"] == "test-counter-v2"


def test_vectorizer_retries_then_reports_failed_rows(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_source(src, 500, edit={250: "POISON row", 260: None})
    flaky = Counter(fail_on="POISON", fail_times=2)  # fails twice, then works: retried away
    with pytest.warns(UserWarning, match="retry"):
        r = vz_for(src, out, flaky).run()
    assert len(r.failed) == 1 and r.failed.iloc[0]["id"] == 260 and r.failed.iloc[0]["error"] == "missing text"
    assert r.committed and r.retries == 2

    write_source(src, 500, edit={250: "POISON again", 260: "fine now"})
    broken = Counter(fail_on="POISON")  # always fails: the batch is reported, the rest goes on
    with pytest.warns(UserWarning, match="not committed"):
        r = vz_for(src, out, broken).run()
    assert not r.committed and set(r.failed["id"]) == {250} and "rejected" in r.failed.iloc[0]["error"]
    assert r.failed.iloc[0]["batch"] == 3  # two files of 250 rows: batches 0-2 in the first, 250 opens the second
    vz = vz_for(src, out, broken)
    assert vz.generation == 1 and len(vz.failures()) == 1
    broken.fail_on = None  # the model server is fixed: run() retries only the failed rows
    broken.seen.clear()
    r = vz.run()
    assert broken.seen == ["POISON again"] and r.committed and len(r.failed) == 0
    v = vz.read()
    assert len(v) == 500
    np.testing.assert_allclose(v.vec.matrix()[v.index.get_loc(250)], vectors_for(["POISON again"])[0])
    assert sorted(v.index) == list(range(500))


def test_vectorizer_from_postgresql_into_a_store(pg_url, tmp_path):
    import psycopg

    table = f"docs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{table}" (doc_id bigint PRIMARY KEY, body text)')
        with conn.cursor() as cur:
            cur.executemany(f'INSERT INTO "{table}" VALUES (%s, %s)', [(i, f"row {i}") for i in range(450)])
    store = NumpyStore(dim=8)
    ck = tmp_path / "run.json"
    m = Counter()

    def vz():
        return vecnb.IncrementalVectorizer(pg_url, table=table, model=m, out=store, id_column="doc_id",
                                           text_column="body", batch_size=100, checkpoint=ck, cache=False,
                                           progress=False)

    r = vz().run()
    assert r.rows == 450 and r.embedded == 450 and len(store) == 450
    X1, _ = store.fetch(np.arange(450))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'UPDATE "{table}" SET body = %s || doc_id WHERE doc_id IN (7, 300)', ["changed "])
        conn.execute(f'DELETE FROM "{table}" WHERE doc_id = 8')
        conn.execute(f'INSERT INTO "{table}" VALUES (1000, %s)', ["brand new"])
    m.seen.clear()
    r = vz().run()
    assert sorted(m.seen) == ["brand new", "changed 300", "changed 7"]
    assert (r.embedded, r.deleted, len(store)) == (3, 1, 450)
    assert not store.fetch([8])[1][0] and store.fetch([1000])[1][0]
    # roll back: the store gets its previous vectors back, the added row goes, the deleted row returns
    assert vz().rollback() == 1
    X, found = store.fetch(np.arange(450))
    assert found.all() and len(store) == 450
    np.testing.assert_allclose(X, X1)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{table}"')


VZ_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import vecnb
    sys.path.insert(0, sys.argv[3])
    from test_migrate import Counter

    class Slow(Counter):
        def __call__(self, texts):
            time.sleep(0.05)
            return super().__call__(texts)

    vz = vecnb.IncrementalVectorizer(sys.argv[1], model=Slow(), out=sys.argv[2], id_column="doc_id",
                                     text_column="body", batch_size=50, cache=False, progress=False)
    vz.run()
""")


def test_vectorizer_killed_mid_run_resumes(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    df = write_source(src, 1000, files=3)
    script = tmp_path / "child.py"
    script.write_text(VZ_CHILD)
    ck = out / "checkpoint.json"
    kill_when([str(script), str(src), str(out), str(ROOT / "tests")],
              lambda: (read_json(ck) or {"rows": {"seen": 0}})["rows"]["seen"] >= 400)
    seen = json.loads(ck.read_text())["rows"]["seen"]
    assert 400 <= seen < 1000
    m = Counter()
    r = vz_for(src, out, m, batch_size=50).run()
    assert r.resumed and r.rows == 1000 and r.committed
    assert len(m.seen) == 1000 - seen  # only what the killed run had not checkpointed
    v = vz_for(src, out, m).read()
    assert list(v.index) == list(df.doc_id)  # every row exactly once, in source order
    np.testing.assert_allclose(v.vec.matrix(), vectors_for(df.body.tolist()))


def test_vectorizer_arguments_are_checked(tmp_path):
    src = tmp_path / "src"
    write_source(src, 10, files=1)
    with pytest.raises(errors.InvalidInputError, match="no column 'nope'"):
        vecnb.IncrementalVectorizer(src, model=Counter(), out=tmp_path / "o", id_column="nope", text_column="body")
    with pytest.raises(errors.InvalidInputError, match="checkpoint="):
        vecnb.IncrementalVectorizer(src, model=Counter(), out=NumpyStore(dim=8), id_column="doc_id",
                                    text_column="body")
    with pytest.raises(errors.InvalidInputError, match="does not exist"):
        vecnb.IncrementalVectorizer(tmp_path / "missing", model=Counter(), out=tmp_path / "o")
    with pytest.raises(errors.DimensionMismatchError, match="new store"):
        vecnb.IncrementalVectorizer(src, model=Counter(), out=NumpyStore(dim=4), id_column="doc_id",
                                    text_column="body", checkpoint=tmp_path / "c.json", progress=False).run()
