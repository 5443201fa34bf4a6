"""``ddf.vec`` on a real ``distributed.LocalCluster`` (2 worker processes on 127.0.0.1) and a real PostgreSQL.

One cluster for the whole file (module-scoped); frames are small so the file stays well under a
minute or two on a loaded 2-core machine.
"""

from __future__ import annotations

import collections
import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import vecnb  # noqa: E402
from vecnb.errors import InvalidInputError, StoreError, TextColumnError  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import dask_helpers as H  # noqa: E402

WORDS = ("apple pear tart sky blue green red pie summer winter cake bread river stone light dark "
         "garden window paper music").split()


def frame(n: int, seed: int = 0, dup_every: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    text = [" ".join(rng.choice(WORDS, 5)) + f" w{i}" for i in range(n)]
    if dup_every:
        for i in range(0, n, dup_every):
            text[i] = f"repeated within block {i // 500}" if i % 2 else "repeated in every block"
    return pd.DataFrame({"text": text, "year": rng.integers(1990, 2021, n), "group": rng.choice(["a", "b"], n)},
                        index=pd.Index(np.arange(n) * 3 + 7, name="doc"))


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    c.run(lambda p: sys.path.insert(0, p), str(Path(__file__).parent))
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def test_import_vecnb_does_not_import_dask():
    import subprocess

    code = ("import sys, vecnb; assert 'dask' not in sys.modules; import pandas as pd, dask.dataframe as dd; "
            "print(type(dd.from_pandas(pd.DataFrame({'t': ['a']}), npartitions=1).vec).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(vecnb.__file__).parents[1])}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "DaskVecAccessor"


def test_embed_once_per_worker_each_text_once(client, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    vecnb.embed.register("dask-counting", H.CountingEmbedder, overwrite=True)
    df = frame(3000, dup_every=7)  # duplicates inside every partition
    spec = {"name": "dask-counting", "log": str(log)}
    ddf = dd.from_pandas(df, npartitions=6)
    emb = ddf.vec.embed("text", model=spec, cache=str(tmp_path / "cache"), batch_size=128)
    assert emb.vec.columns() == ["text_vec"]  # lazy: the meta already has the column
    client_pid = os.getpid()
    got = emb.compute()
    worker_pids = set(client.run(os.getpid).values())
    inits = collections.Counter(p for p in H.inits(str(log)) if p != client_pid)
    assert set(inits) <= worker_pids and inits and all(v == 1 for v in inits.values()), inits
    texts = collections.Counter(H.embedded(str(log)))
    assert sorted(texts) == sorted(set(df["text"]))
    # each distinct text once; a text in every partition at most once per worker (partitions running at
    # the same moment both miss the shared cache), after which the cache answers for it
    assert all(v == 1 for t, v in texts.items() if t != "repeated in every block"), texts.most_common(3)
    assert 1 <= texts["repeated in every block"] <= 2
    ref = df.vec.embed("text", model=H.CountingEmbedder(str(log)), cache=False, progress=False)
    assert got.index.equals(df.index)
    np.testing.assert_array_equal(got.vec.matrix("text_vec"), ref.vec.matrix("text_vec"))
    assert str(got["text_vec"].dtype) == str(ref["text_vec"].dtype)
    assert got.vec.info()["model_id"] == ref.vec.info()["model_id"] and got.vec.info()["source"] == "text"
    # a re-run with one partition's texts edited embeds only the edited texts (the on-disk cache)
    for p in log.glob("embed-*"):
        p.unlink()
    df2 = df.copy()
    df2.iloc[:5, 0] = [f"edited text {i}" for i in range(5)]
    dd.from_pandas(df2, npartitions=6).vec.embed("text", model=spec, cache=str(tmp_path / "cache")).compute()
    assert sorted(H.embedded(str(log))) == sorted(f"edited text {i}" for i in range(5))


def test_embed_previous_reuses_unchanged_rows(client, tmp_path):
    """previous= (a Dask frame paired by partition, or a pandas frame): only edited/new texts are embedded."""
    log = tmp_path / "log"
    log.mkdir()
    vecnb.embed.register("dask-counting", H.CountingEmbedder, overwrite=True)
    spec = {"name": "dask-counting", "log": str(log)}
    df = frame(600, seed=3)
    old = dd.from_pandas(df, npartitions=3).vec.embed("text", model=spec, cache=False).persist()
    distributed.wait(old)
    assert sorted(H.embedded(str(log))) == sorted(df["text"])
    df2 = df.copy()
    edited = [0, 250, 599]
    df2.iloc[edited, 0] = [f"edited text {i}" for i in edited]
    ref = df2.vec.embed("text", model=H.CountingEmbedder(str(log)), cache=False, progress=False)
    for previous in (old, old.compute()):
        for p in log.glob("embed-*"):
            p.unlink()
        new = dd.from_pandas(df2, npartitions=3).vec.embed("text", model=spec, cache=False,
                                                           previous=previous).compute()
        assert sorted(H.embedded(str(log))) == sorted(f"edited text {i}" for i in edited)
        np.testing.assert_array_equal(new.vec.matrix("text_vec"), ref.vec.matrix("text_vec"))
    # a re-run from the re-embedded frame embeds nothing; a mismatched partitioning is refused clearly
    for p in log.glob("embed-*"):
        p.unlink()
    again = dd.from_pandas(df2, npartitions=3).vec.embed("text", model=spec, cache=False, previous=new).compute()
    assert H.embedded(str(log)) == []
    np.testing.assert_array_equal(again.vec.matrix("text_vec"), ref.vec.matrix("text_vec"))
    with pytest.raises(InvalidInputError, match="partitions"):
        dd.from_pandas(df2, npartitions=2).vec.embed("text", model=spec, previous=old)


def test_search_equals_pandas_and_parquet_roundtrip(client, tmp_path):
    df = frame(1200, seed=1)
    ddf = dd.from_pandas(df, npartitions=4).vec.embed("text", model="hashing", cache=False)
    ddf.to_parquet(tmp_path / "pq")
    back = dd.read_parquet(tmp_path / "pq")
    assert back.vec.columns() == ["text_vec"]
    full = back.compute()
    assert full.vec.info()["model"] == {"name": "hashing"}
    for q, opts in [(["blue sky", "dark garden music"], {"metric": "dot"}),
                    ("paper window", {"where": {"year": {"$gte": 2005}, "group": "a"}, "k": 25})]:
        k = opts.pop("k", 10)
        a = back.vec.search(q, k=k, **opts)
        b = full.vec.search(q, k=k, **opts)
        assert list(a.columns) == list(b.columns)
        assert a.index.equals(b.index)
        np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy(), atol=1e-4)
        assert (a["rank"].to_numpy() == b["rank"].to_numpy()).all()
    assert len(back.vec.search("apple", k=5000)) == len(full)  # huge k: every row once


def test_bad_text_names_partition_and_rows(client):
    df = frame(400, seed=2)
    df = df.astype({"text": object})
    df.loc[df.index[250], "text"] = None
    ddf = dd.from_pandas(df, npartitions=4, sort=False)
    with pytest.raises(TextColumnError, match=r"partition 2: .*missing.*757"):
        ddf.vec.embed("text", model="hashing", cache=False).compute()
    df.loc[df.index[250], "text"] = "fine again"
    df.loc[df.index[120], "text"] = 12345
    import dask

    with dask.config.set({"dataframe.convert-string": False}):  # keep the object column as the user made it
        ddf = dd.from_pandas(df, npartitions=4, sort=False)
    with pytest.raises(TextColumnError, match=r"partition 1: .*non-text.*int.*367"):
        ddf.vec.embed("text", model="hashing", cache=False).compute()


def test_unpicklable_model_clear_error(client):
    import threading

    lock = threading.Lock()

    class Holder:
        def __call__(self, texts):
            with lock:
                return np.ones((len(texts), 4), np.float32)

    holder = Holder()
    holder.lock = lock
    ddf = dd.from_pandas(frame(10), npartitions=2)
    with pytest.raises(InvalidInputError, match="cannot be sent to the Dask workers.*vecnb.embed.register"):
        ddf.vec.embed("text", model=holder)


def _table_rows(pg_url: str, table: str) -> tuple[int, int]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg_url) as conn:
        n, distinct = conn.execute(sql.SQL("SELECT count(*), count(DISTINCT id) FROM {}").format(
            sql.Identifier(table))).fetchone()
    return n, distinct


def _gin_indexes(pg_url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a "
                            "ON a.oid = c.relam WHERE i.indrelid = %s::regclass AND a.amname = 'gin'",
                            [table]).fetchone()[0]


def _check_table(pg_url: str, table: str, emb: pd.DataFrame, exact: bool = True) -> None:
    idx = vecnb.open_index("pgvector", url=pg_url, table=table)
    try:
        assert len(idx) == len(emb) and _table_rows(pg_url, table) == (len(emb), len(emb))
        assert _gin_indexes(pg_url, table) == 2  # keyword / metadata indexes built once at the end of a bulk load
        assert sorted(idx.frame.index) == sorted(emb.index)
        keys = idx.keys_for(emb.index)
        vecs, found = idx.store.fetch(keys)
        assert found.all()
        np.testing.assert_allclose(vecs, emb.vec.matrix("text_vec"), atol=1e-6)
        a = idx.search("apple pie river", k=10)
        b = emb.vec.search("apple pie river", k=10)
        every = emb.vec.search("apple pie river", k=len(emb))["score"]  # exact score of every row
        if exact:  # same scores, and each hit's score is its row's (rows tied in score may come in either order)
            np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy(), atol=1e-4)
            np.testing.assert_allclose(every.loc[a.index].to_numpy(), a["score"].to_numpy(), atol=1e-4)
        else:  # HNSW: at least 8 of the 10 hits belong in the exact top 10
            assert (every.loc[a.index].to_numpy() >= b["score"].min() - 1e-4).sum() >= 8
    finally:
        idx.close()


def test_to_store_pgvector_retries_and_equals_frame(client, pg_url, tmp_path, capsys):
    df = frame(5000, seed=3)
    emb = df.vec.embed("text", model="hashing", cache=False, progress=False)
    marker = tmp_path / "marker"
    marker.mkdir()
    ddf = dd.from_pandas(df, npartitions=8).vec.embed("text", model="hashing", cache=False)
    ddf = ddf.map_partitions(H.flaky, str(marker), int(df.index[2800]), 2)
    table = f"dask_{uuid.uuid4().hex[:8]}"
    idx = ddf.vec.to_store("pgvector", url=pg_url, table=table, kind="hnsw", retries=2, progress=False)
    rep = idx.ingest_report
    assert rep.rows == len(df) and rep.retries == 2 and rep.partitions == 8 and rep.workers == 2
    assert rep.rows_per_second > 0
    assert idx.info()["kind"] == "hnsw" and rep.build_seconds > 0
    idx.close()
    _check_table(pg_url, table, emb, exact=False)
    with pytest.raises(vecnb.errors.IndexExistsError):
        ddf.vec.to_store("pgvector", url=pg_url, table=table, progress=False)
    # mode="sync" of the frame with 2 rows edited, 3 deleted and 2 added: the table equals the new frame,
    # every row once; the progress bar counts the partitions
    df2 = df.copy()
    df2.iloc[[5, 4000], 0] = ["edited five", "edited four thousand"]
    df2 = pd.concat([df2.drop(df.index[[10, 11, 2500]]), frame(2, seed=30).set_axis(pd.Index([1, 2], name="doc"))])
    ddf2 = dd.from_pandas(df2, npartitions=8).vec.embed("text", model="hashing", cache=False)
    capsys.readouterr()
    idx = ddf2.vec.to_store("pgvector", url=pg_url, table=table, mode="sync")
    err = capsys.readouterr().err
    assert "to_store -> pgvector" in err and "8/8" in err, err[-500:]
    assert idx.ingest_report.deleted == 3 and len(idx) == len(df2)
    idx.close()
    _check_table(pg_url, table, df2.vec.embed("text", model="hashing", cache=False, progress=False), exact=False)


def test_to_store_failed_run_resumes_without_duplicates(client, pg_url, tmp_path):
    df = frame(5000, seed=4)
    emb = df.vec.embed("text", model="hashing", cache=False, progress=False)
    marker = tmp_path / "marker"
    marker.mkdir()
    ddf = dd.from_pandas(df, npartitions=5).vec.embed("text", model="hashing", cache=False)
    ddf = ddf.map_partitions(H.flaky, str(marker), int(df.index[2500]), 2)
    table = f"dask_{uuid.uuid4().hex[:8]}"
    with pytest.raises(StoreError, match=r"1 of 5 partitions failed \(partitions \[2\].*mode='resume'"):
        ddf.vec.to_store("pgvector", url=pg_url, table=table, retries=0, progress=False)
    assert _gin_indexes(pg_url, table) == 2  # a failed run leaves the rows it wrote fully indexed
    # an attempt at partition 2 that committed rows but was never recorded (its worker died after the
    # commit): the resumed partition replaces its whole key block, so none of these rows survive
    from vecnb.dask import STRIDE

    base = vecnb.open_index("pgvector", url=pg_url, table=table)._info["dask_run"]["base"]
    zombie = vecnb.stores.get("pgvector").open_existing(url=pg_url, table=table)
    zombie.load_block(base + 2 * STRIDE + np.arange(1500), np.ones((1500, emb.vec.info()["dim"]), np.float32),
                      block=(base + 2 * STRIDE, base + 3 * STRIDE))
    zombie.close()
    with pytest.raises(StoreError, match="partitions failed"), pytest.warns(UserWarning, match="interrupted"):
        ddf.vec.to_store("pgvector", url=pg_url, table=table, mode="resume", retries=0, progress=False)
    with pytest.warns(UserWarning, match="interrupted"):  # the zombie's rows: still there, not yet replaced
        idx = ddf.vec.to_store("pgvector", url=pg_url, table=table, mode="resume", retries=0, progress=False)
    assert idx.ingest_report.partitions_skipped == 4 and idx.ingest_report.rows == len(df)
    idx.close()
    _check_table(pg_url, table, emb)
    # resume on a complete index writes nothing; replace rebuilds it whole
    idx = ddf.vec.to_store("pgvector", url=pg_url, table=table, mode="resume", progress=False)
    assert idx.ingest_report.partitions_skipped == 5
    idx.close()
    idx = ddf.vec.to_store("pgvector", url=pg_url, table=table, mode="replace", progress=False)
    idx.close()
    _check_table(pg_url, table, emb)


def test_to_store_survives_a_killed_worker(client, pg_url, tmp_path):
    df = frame(3000, seed=5)
    emb = df.vec.embed("text", model="hashing", cache=False, progress=False)
    marker = tmp_path / "marker"
    marker.mkdir()
    ddf = dd.from_pandas(df, npartitions=4).vec.embed("text", model="hashing", cache=False)
    ddf = ddf.map_partitions(H.die_once, str(marker), int(df.index[1600]))
    table = f"dask_{uuid.uuid4().hex[:8]}"
    idx = ddf.vec.to_store("pgvector", url=pg_url, table=table, progress=False)
    assert (marker / "died").exists()  # a worker process really died mid-run
    assert idx.ingest_report.rows == len(df)
    idx.close()
    _check_table(pg_url, table, emb)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it: later tests keep 2 workers


def test_cluster_that_died_clear_error(pg_url):
    """A client whose cluster is gone: a StoreError that says what happened and how to resume."""
    ddf = dd.from_pandas(frame(100), npartitions=2).vec.embed("text", model="hashing", cache=False)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster, set_as_default=False)
    cluster.close()
    try:
        with c.as_current(), pytest.raises(StoreError, match="cluster stopped answering.*mode='resume'"):
            ddf.vec.to_store("pgvector", url=pg_url, table=f"dask_{uuid.uuid4().hex[:8]}", retries=0,
                             progress=False)
    finally:
        c.close()




def test_to_store_elasticsearch_on_es_emulator(client, es_url):
    """to_store("elasticsearch") from 2 workers into the ES EMULATOR: every row once, exact vectors and
    search; mode="replace" writes the workers' rows into the staging index swapped in at the end."""
    df = frame(1500, seed=5)
    emb = df.vec.embed("text", model="hashing", cache=False, progress=False)
    ddf = dd.from_pandas(df, npartitions=4).vec.embed("text", model="hashing", cache=False)
    name = f"dask_{uuid.uuid4().hex[:8]}"
    for mode, src in (("error", ddf), ("replace", ddf.partitions[:2])):
        idx = ddf.vec.to_store("elasticsearch", url=es_url, index=name, kind="exact", progress=False,
                               mode=mode) if src is ddf else src.vec.to_store(
            "elasticsearch", url=es_url, index=name, kind="exact", progress=False, mode=mode)
        assert idx.ingest_report.rows == len(src) and idx.ingest_report.workers == 2
        idx.close()
        want = emb.loc[src.index.compute()]
        back = vecnb.open_index("elasticsearch", url=es_url, index=name)
        try:
            assert len(back) == len(want) and sorted(back.frame.index) == sorted(want.index)
            vecs, found = back.store.fetch(back.keys_for(want.index))
            assert found.all()
            np.testing.assert_allclose(vecs, want.vec.matrix("text_vec"), atol=1e-6)
            a, b = back.search("apple pie river", k=10), want.vec.search("apple pie river", k=10)
            np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy(), atol=1e-4)
            assert set(a.index) <= set(want.index)
        finally:
            back.close()
    with pytest.raises(vecnb.errors.IndexExistsError):
        ddf.vec.to_store("elasticsearch", url=es_url, index=name, progress=False)
    # mode="sync" into the 750-row index: new labels added, 3 edited rows rewritten under their label, 2
    # labels the frame no longer has deleted; twice (the second is a no-op): the index equals the frame
    df2 = df.copy()
    df2.iloc[[0, 10, 400], 0] = ["edited one", "edited two", "edited three"]
    df2 = df2.drop(df.index[[3, 500]])
    emb2 = df2.vec.embed("text", model="hashing", cache=False, progress=False)
    ddf2 = dd.from_pandas(df2, npartitions=4).vec.embed("text", model="hashing", cache=False)
    for deleted in (2, 0):
        idx = ddf2.vec.to_store("elasticsearch", url=es_url, index=name, mode="sync", progress=False)
        assert idx.ingest_report.deleted == deleted
        idx.close()
        back = vecnb.open_index("elasticsearch", url=es_url, index=name)
        try:
            assert len(back) == len(df2) and len(back.store) == len(df2) and back.frame.index.is_unique
            assert sorted(back.frame.index) == sorted(df2.index)
            assert (back.frame.loc[df2.index, "text"] == df2["text"]).all()
            vecs, found = back.store.fetch(back.keys_for(emb2.index))
            assert found.all()
            np.testing.assert_allclose(vecs, emb2.vec.matrix("text_vec"), atol=1e-6)
            assert back.search("edited two", k=1).index[0] == df.index[10]
        finally:
            back.close()


def test_task_threads_capped_and_restored(client, tmp_path):
    """Each embedding task runs with the model's thread pools capped at threads= (BLAS via threadpoolctl,
    tokenizers' parallelism, the embedder's own threads); the worker's settings come back afterwards."""
    vecnb.embed.register("dask-threads", H.ThreadProbe, overwrite=True)
    before = client.run(H.thread_state)
    for threads, want in ((1, {"blas": [1], "tokenizers": "false", "own": 1}),
                          (2, {"blas": [2], "tokenizers": None, "own": 2}),
                          (None, None)):
        log = tmp_path / f"log{threads}"
        log.mkdir()
        ddf = dd.from_pandas(frame(400, seed=9), npartitions=4)
        ddf.vec.embed("text", model={"name": "dask-threads", "log": str(log)}, cache=False, threads=threads).compute()
        got = H.probes(str(log))
        assert len(got) >= 4  # a call per batch of every partition
        if want is None:  # left alone: the worker's own settings, the embedder's 4 threads
            assert all(g["own"] == 4 and g["tokenizers"] is None for g in got), got
        else:
            assert all(g == want for g in got), got
    assert client.run(H.thread_state) == before
    with pytest.raises(InvalidInputError, match="threads"):
        dd.from_pandas(frame(10), npartitions=1).vec.embed("text", model="hashing", threads=0)


def test_persist_shows_progress(client, capsys):
    """ddf.vec.persist runs the lazy embedding now and reports it: a tqdm bar of partitions on a cluster,
    of tasks on the local scheduler; in a notebook Dask's widget, whose bars reach n / n."""
    import dask
    from distributed import futures_of, wait

    df = frame(800, seed=6)
    ref = df.vec.embed("text", model="hashing", cache=False, progress=False)
    ddf = dd.from_pandas(df, npartitions=4).vec.embed("text", model="hashing", cache=False)
    out = ddf.vec.persist()
    err = capsys.readouterr().err
    assert "ddf.vec.persist" in err and "4/4" in err, err[-500:]
    assert all(f.status == "finished" for f in futures_of(out))
    np.testing.assert_array_equal(out.compute().vec.matrix("text_vec"), ref.vec.matrix("text_vec"))
    with dask.config.set(scheduler="sync"):
        ddf.vec.persist()
    err = capsys.readouterr().err
    assert "ddf.vec.persist" in err and "tasks" in err and "100%" in err, err[-500:]
    ddf.vec.persist(progress=False)
    assert capsys.readouterr().err == ""
    # the notebook widget (built here outside a kernel) follows the tasks from the scheduler
    again = dd.from_pandas(df, npartitions=4).vec.embed("text", model="hashing", cache=False, name="v2")
    futures = futures_of(client.persist(again))
    w = vecnb.dask._WidgetProgress(client, futures)
    wait(futures)
    import time

    deadline = time.monotonic() + 20
    while not hasattr(w.bar, "elapsed_time") or "Finished" not in w.bar.elapsed_time.value:
        assert time.monotonic() < deadline, "the progress widget never reported the end"
        time.sleep(0.1)
    texts = {str(k): t.value for k, t in w.bar.bar_texts.items()}
    assert "embed_partition" in texts and ">4 / 4<" in texts["embed_partition"], texts
    assert all(b.value == 1.0 for b in w.bar.bars.values())


def test_steady_malloc_in_workers(client):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which makes every large temporary a fresh
    mmap (pages fault in zeroed each time); inside an embedding task's steady_malloc they come from the heap."""
    if not all(client.run(lambda: "MALLOC_TRIM_THRESHOLD_" in os.environ).values()):
        pytest.skip("this Dask does not set MALLOC_TRIM_THRESHOLD_ in its workers")
    plain = client.run(H.page_faults, False)
    steady = client.run(H.page_faults, True)
    for w in plain:
        assert plain[w] > 10_000 and steady[w] < plain[w] / 10, (plain, steady)
    assert min(client.run(H.page_faults, False).values()) > 10_000  # restored afterwards
