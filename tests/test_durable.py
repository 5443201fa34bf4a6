"""Durable indexes: an index owns its table / file, reopens without its frame, never mixes rows.

Real servers and files: PostgreSQL + pgvector from the ``pg_url`` fixture (or the embedded
server of ``vecnb.servers.postgres``), sqlite-vec files, chroma persistent folders.
Elasticsearch runs against ``$VECNB_ES_URL`` when set, else against the EMULATOR in
``tests/stores/es_emulator.py`` (not Elasticsearch; test ids say ``es-emulator``). Data: a CISI
subset with text and metadata, embedded with the offline hashing embedder (fast, deterministic).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb.errors import (
    DimensionMismatchError,
    IndexExistsError,
    IndexFormatError,
    IndexNotFoundError,
    InvalidInputError,
    StoreConnectionError,
    StoreError,
)

pytest.importorskip("psycopg")
pytest.importorskip("apsw")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUERY = "computer systems for information retrieval in libraries"
WHERE = {"n_words": {"$gte": 120}}


@pytest.fixture(scope="module")
def cisi():
    df = vecnb.datasets.load("cisi").head(400)
    return df.vec.embed("text", model="hashing")




def _table() -> str:
    return f"dur_{uuid.uuid4().hex[:10]}"


def _where_of(store, tmp_path, request, name="a"):
    if store == "pgvector":
        return {"url": request.getfixturevalue("pg_url"), "table": _table()}
    if store == "elasticsearch":
        return {"url": request.getfixturevalue("es_url"), "index": _table()}
    if store == "chroma":
        pytest.importorskip("chromadb")
        # sync_threshold=2: chroma writes its HNSW graph to disk as it goes; with its default, rows still in
        # its log are re-inserted into a new (non-deterministic) graph when the folder is opened again
        return {"path": str(tmp_path / f"{name}-chroma"), "collection": "cisi", "sync_threshold": 2}
    return {"path": str(tmp_path / f"{name}.db")}


STORES = [pytest.param("pgvector", id="pgvector"), pytest.param("sqlite", id="sqlite"),
          pytest.param("chroma", id="chroma"), pytest.param("elasticsearch", id="es-emulator")]


def _results(idx) -> dict[str, pd.DataFrame]:
    return {"vector": idx.search(QUERY, k=10), "filtered": idx.search(QUERY, k=10, where=WHERE),
            "hybrid": idx.hybrid(QUERY, k=10), "batch": idx.search(["library catalogue", "citation analysis"], k=5)}


# --------------------------------------------------------------------------- two processes
_BUILD = textwrap.dedent("""
    import json, sys
    import vecnb
    where, out, store, kind = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    df = vecnb.datasets.load("cisi").head(400).vec.embed("text", model="hashing", progress=False)
    idx = df.vec.index(store=store, kind=kind, text="text", **where)
    q = "computer systems for information retrieval in libraries"
    idx.search(q, k=10).to_parquet(out + "-vector.parquet")
    idx.search(q, k=10, where={"n_words": {"$gte": 120}}).to_parquet(out + "-filtered.parquet")
    idx.hybrid(q, k=10).to_parquet(out + "-hybrid.parquet")
    idx.search(["library catalogue", "citation analysis"], k=5).to_parquet(out + "-batch.parquet")
    print(len(idx))
""")


def _build_in_subprocess(where: dict, out: str, store: str, kind: str) -> None:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", _BUILD, json.dumps(where), out, store, kind],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "400"


@pytest.mark.parametrize("store", STORES)
def test_reopen_in_another_process_gives_identical_results(store, cisi, tmp_path, request):
    kind = "hnsw" if store == "pgvector" else "auto"
    where = _where_of(store, tmp_path, request)
    out = str(tmp_path / "a")
    _build_in_subprocess(where, out, store, kind)          # process A builds and exits
    idx = vecnb.open_index(store, **where)                 # process B: no frame
    assert len(idx) == 400 and idx.metric == "cosine" and idx.dim == cisi["text_vec"].dtype.pyarrow_dtype.list_size
    assert idx.info()["model"] == "hashing" and idx.text == "text"
    if store == "pgvector":
        assert idx.store.info()["kind"] in ("hnsw", "auto")
    got = _results(idx)
    for name, frame in got.items():
        want = pd.read_parquet(f"{out}-{name}.parquet")
        pd.testing.assert_frame_equal(frame, want, check_exact=False, rtol=1e-9, obj=name)
        assert len(frame) > 0
    # the reopened frame is the original one (labels, dtypes), minus the vectors
    pd.testing.assert_frame_equal(idx.frame.sort_index(), cisi.drop(columns=["text_vec"]).sort_index(),
                                  check_like=True)
    # and it is a working index: an edit by label persists for the next opener
    edited = cisi.loc[[cisi.index[0]]].assign(title="EDITED")
    idx.upsert(edited)
    idx.delete(cisi.index[1])
    idx.close()
    again = vecnb.open_index(store, **where)
    assert len(again) == 399 and again.frame.loc[cisi.index[0], "title"] == "EDITED"
    assert cisi.index[1] not in again.frame.index
    hits = again.search(cisi["text_vec"].iloc[0], k=1)
    assert hits.index[0] == cisi.index[0] and hits["title"].iloc[0] == "EDITED"
    again.close()


# --------------------------------------------------------------------------- never mix rows
@pytest.mark.parametrize("store", STORES)
def test_building_onto_an_existing_index_is_explicit(store, cisi, tmp_path, request):
    where = _where_of(store, tmp_path, request)
    A, B = cisi.iloc[:200], cisi.iloc[150:300]
    first = A.vec.index(store=store, text="text", **where)
    with pytest.raises(IndexExistsError, match="mode='replace'"):
        B.vec.index(store=store, text="text", **where)
    assert len(vecnb.open_index(store, **where)) == 200          # nothing was written

    rep = B.vec.index(store=store, text="text", mode="replace", **where)
    assert len(rep) == len(B) == len(rep.store)
    hits = rep.search(["library catalogue", "citation analysis", QUERY], k=10)
    assert len(hits) == 30 and set(hits.index) <= set(B.index)
    # a reader still holding the replaced index follows it (reloads the record), instead of mapping
    # new rows to old labels (tests/test_stale_handles.py checks every answer against a fresh opener)
    reopened = vecnb.open_index(store, **where)
    assert len(reopened) == len(B) and set(reopened.frame.index) == set(B.index)
    pd.testing.assert_frame_equal(first.search(QUERY, k=10), reopened.search(QUERY, k=10))
    assert len(first) == len(B)

    C = cisi.iloc[250:350]
    syn = C.vec.index(store=store, text="text", mode="sync", **where)
    union = B.index.union(C.index)
    assert len(syn) == len(union) == len(syn.store)
    assert set(syn.frame.index) == set(union)
    hits = syn.search(QUERY, k=len(union))
    if store == "chroma":   # chroma's HNSW is approximate: even k = all rows may miss one
        assert set(hits.index) <= set(union) and len(hits) >= 0.95 * len(union)
    else:
        assert set(hits.index) == set(union)
    # rows are labelled by their own content: each row's vector finds itself
    sample = cisi.loc[union[::17]]
    top = syn.search(np.stack(sample["text_vec"].to_numpy()), k=1)
    assert list(top.index) == list(sample.index)
    for i in (first, rep, reopened, syn):
        i.close()


def test_mode_is_checked(cisi, tmp_path):
    with pytest.raises(InvalidInputError, match="mode must be one of"):
        cisi.vec.index(store="sqlite", path=str(tmp_path / "x.db"), mode="overwrite")


# --------------------------------------------------------------------------- bad input
def test_open_errors_pgvector(cisi, pg_url):
    import psycopg

    with pytest.raises(IndexNotFoundError, match="No pgvector index"):
        vecnb.open_index("pgvector", url=pg_url, table=_table())
    t = _table()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{t}" (id int, name text)')
    with pytest.raises(IndexFormatError, match="not a vecnb index"):
        vecnb.open_index("pgvector", url=pg_url, table=t)
    with pytest.raises(IndexFormatError, match="not a vecnb index"):
        cisi.vec.index(store="pgvector", url=pg_url, table=t)
    # vectors written through vecnb.stores directly: no index record, so no labels
    from vecnb.stores.pgvector_store import PgVectorStore

    t2 = _table()
    st = PgVectorStore(dim=4, url=pg_url, table=t2)
    st.upsert(np.arange(3), np.eye(3, 4, dtype=np.float32))
    st.close()
    with pytest.raises(IndexFormatError, match="no vecnb index record"):
        vecnb.open_index("pgvector", url=pg_url, table=t2)

    where = {"url": pg_url, "table": _table()}
    cisi.iloc[:50].vec.index(store="pgvector", **where).close()
    with pytest.raises(DimensionMismatchError, match="512-d"):
        vecnb.open_index("pgvector", dim=384, **where)
    with pytest.raises(InvalidInputError, match="metric='cosine'"):
        vecnb.open_index("pgvector", metric="dot", **where)
    other = cisi.iloc[:20].drop(columns=["text_vec"]).vec.attach(np.ones((20, 8), np.float32), name="text_vec")
    with pytest.raises(DimensionMismatchError):
        other.vec.index(store="pgvector", mode="sync", **where)
    with pytest.raises(InvalidInputError, match="metric"):
        cisi.iloc[:20].vec.index(store="pgvector", mode="sync", metric="l2", **where)

    # wrong password: a clear error without the password
    bad = psycopg.conninfo.make_conninfo(pg_url, password="not-the-Secret-42")
    with pytest.raises(StoreConnectionError) as err:
        vecnb.open_index("pgvector", url=bad, table=where["table"])
    assert "not-the-Secret-42" not in str(err.value) and "password" in str(err.value).lower()
    # server down
    with pytest.raises(StoreConnectionError, match="could not connect"):
        vecnb.open_index("pgvector", url="postgresql://u:pw-XYZ@127.0.0.1:1/db", table="t", connect_timeout=2)


def test_open_errors_sqlite(cisi, tmp_path):
    with pytest.raises(IndexNotFoundError):
        vecnb.open_index("sqlite", path=str(tmp_path / "missing.db"))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all, not even close")
    with pytest.raises(IndexFormatError):
        vecnb.open_index("sqlite", path=str(junk))
    with pytest.raises(IndexFormatError):
        cisi.vec.index(store="sqlite", path=str(junk), mode="replace")
    assert junk.read_bytes().startswith(b"this is not")                  # untouched
    with pytest.raises(InvalidInputError, match="cannot be reopened"):
        vecnb.open_index("numpy")


# --------------------------------------------------------------------------- the embedded server
_SERVE = textwrap.dedent("""
    import sys, time, psycopg, vecnb
    srv = vecnb.servers.postgres(path=sys.argv[1])
    with psycopg.connect(srv.url, autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS kept (x int)")
        c.execute("INSERT INTO kept VALUES (1)")
    print("READY", flush=True)
    time.sleep(300)
""")


def _postgres_pids(data: str) -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "postgres" in cmd and data in cmd and "pg_ctl" not in cmd:
                pids.append(int(pid))
    return pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_embedded_server_stops_with_its_process_and_keeps_data(sig):
    pytest.importorskip("pgserver")
    import shutil
    import tempfile

    # not under pytest's tmp_path: as root the server runs as `postgres`, which cannot enter a 0700 folder
    path = tempfile.mkdtemp(prefix="vecnb-pgtest-", dir="/tmp")
    try:
        _serve_and_kill(path, sig)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _serve_and_kill(path: str, sig: int) -> None:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for round_ in (1, 2):
        proc = subprocess.Popen([sys.executable, "-c", _SERVE, path], stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert proc.stdout.readline().strip() == "READY"
            assert _postgres_pids(path + "/data"), "the server should be running"
        finally:
            proc.send_signal(sig)
            proc.wait(timeout=60)
        deadline = time.monotonic() + 60
        while _postgres_pids(path + "/data") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _postgres_pids(path + "/data"), f"postgres left running after {sig!r} (round {round_})"
    srv = vecnb.servers.postgres(path=path)                 # restart on the same folder: data kept
    try:
        import psycopg

        with psycopg.connect(srv.url) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone()[0] == 2
        again = vecnb.servers.postgres(path=path)          # a running server is reused, not doubled
        assert again.url == srv.url and not again.owned and srv.owned
        again.stop()
        assert srv.running
    finally:
        srv.stop()
    assert not srv.running


# --------------------------------------------------------------------------- temporary copies of loads
@pytest.mark.parametrize("store", ["sqlite", "chroma"])
def test_loaded_copies_are_removed_on_close_and_on_gc(store, cisi, tmp_path):
    import gc

    if store == "chroma":
        pytest.importorskip("chromadb")

    def tmp_of(index):  # the private working copy a load opened
        return index.store._temp_dir if store == "sqlite" else index.store._tmpdir

    idx = cisi.iloc[:60].vec.index(store=store)
    idx.save(str(tmp_path / "saved"))
    idx.close()
    loaded = vecnb.load_index(str(tmp_path / "saved"))
    tmp = tmp_of(loaded)
    assert len(loaded) == 60 and tmp and os.path.isdir(tmp)
    loaded.close()
    assert not os.path.exists(tmp)                                  # close() removes it
    loaded = vecnb.load_index(str(tmp_path / "saved"))
    tmp = tmp_of(loaded)
    assert len(loaded.search(QUERY, k=3)) == 3 and os.path.isdir(tmp)
    del loaded
    gc.collect()
    assert not os.path.exists(tmp)                                  # so does garbage collection
    # and so does the end of a process that neither closed nor dropped it
    code = ("import sys, vecnb; idx = vecnb.load_index(sys.argv[1]); "
            f"print(idx.store.{'_temp_dir' if store == 'sqlite' else '_tmpdir'})")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "saved")], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    left = run.stdout.strip().splitlines()[-1]
    assert left.startswith("/") and not os.path.exists(left)


# --------------------------------------------------------------------------- faults: race, tamper
_RACE = textwrap.dedent("""
    import json, sys, time
    import vecnb
    where, lo, hi, start = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    df = vecnb.datasets.load("cisi").iloc[lo:hi].vec.embed("text", model="hashing", progress=False)
    time.sleep(max(0.0, start - time.time()))
    try:
        idx = df.vec.index(store=sys.argv[5], text="text", **where)
    except vecnb.errors.IndexExistsError as exc:
        print("REFUSED", exc)
        sys.exit(3)
    print("BUILT", len(idx))
""")


@pytest.mark.parametrize("store", ["pgvector", "sqlite"])
def test_two_builders_racing_for_one_new_target_never_mix(store, tmp_path, request):
    where = _where_of(store, tmp_path, request)
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.time() + 6
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, json.dumps(where), str(lo), str(hi), str(start), store],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for lo, hi in ((0, 120), (200, 280))]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 3], [o[1][-1500:] for o in outs]
    won = [lohi for p, lohi in zip(procs, ((0, 120), (200, 280))) if p.returncode == 0][0]
    idx = vecnb.open_index(store, **where)
    labels = vecnb.datasets.load("cisi").index[won[0]:won[1]]
    assert len(idx) == len(labels) == len(idx.store) and set(idx.frame.index) == set(labels)
    idx.close()


def test_a_damaged_index_record_is_refused(cisi, tmp_path):
    import apsw

    path = str(tmp_path / "t.db")
    cisi.iloc[:30].vec.index(store="sqlite", path=path).close()
    conn = apsw.Connection(path)
    seq = conn.execute("SELECT max(seq) FROM vecnb_home").fetchall()[0][0]
    conn.execute("UPDATE vecnb_home SET payload = ? WHERE seq = ?", (b"VNBR" + b"\x00garbage" * 10, seq))
    conn.close()
    with pytest.raises(IndexFormatError, match="damaged"):
        vecnb.open_index("sqlite", path=path)
    conn = apsw.Connection(path)
    head = conn.execute("SELECT min(seq) FROM vecnb_home").fetchall()[0][0]
    payload = bytes(conn.execute("SELECT payload FROM vecnb_home WHERE seq = ?", (head,)).fetchall()[0][0])
    doc = json.loads(payload[4:])
    doc["next_key"] = 10**15                        # would make a reader allocate petabytes
    conn.execute("UPDATE vecnb_home SET payload = ? WHERE seq = ?", (b"VNBH" + json.dumps(doc).encode(), head))
    conn.execute("DELETE FROM vecnb_home WHERE seq = ?", (seq,))
    conn.close()
    with pytest.raises(IndexFormatError, match="next key"):
        vecnb.open_index("sqlite", path=path)


def test_recreate_option_is_a_replace(cisi, pg_url):
    where = {"url": pg_url, "table": _table()}
    cisi.iloc[:40].vec.index(store="pgvector", **where).close()
    idx = cisi.iloc[100:130].vec.index(store="pgvector", recreate=True, **where)
    assert len(idx) == 30 == len(vecnb.open_index("pgvector", **where))
    idx.close()


# --------------------------------------------------------------------------- save by reference
@pytest.mark.parametrize("store", [pytest.param("pgvector", id="pgvector"), pytest.param("elasticsearch", id="es-emulator")])
def test_save_by_reference_writes_no_secret_and_reopens_from_the_server(store, cisi, tmp_path, request, monkeypatch):
    import psycopg

    where = _where_of(store, tmp_path, request)
    url = where["url"]
    env = "VECNB_PG_URL" if store == "pgvector" else "VECNB_ES_URL"
    idx = cisi.iloc[:120].vec.index(store=store, text="text", **where)
    want = idx.search(QUERY, k=10, where=WHERE)
    saved = str(tmp_path / "saved")
    idx.save(saved)
    password = psycopg.conninfo.conninfo_to_dict(url).get("password") if store == "pgvector" else None
    for dirpath, _, files in os.walk(saved):
        for fn in files:
            blob = open(os.path.join(dirpath, fn), "rb").read()
            assert url.encode() not in blob
            if password:
                assert password.encode() not in blob
    # credentials from url= ...
    loaded = vecnb.load_index(saved, url=url)
    pd.testing.assert_frame_equal(loaded.search(QUERY, k=10, where=WHERE), want, check_exact=False, rtol=1e-9)
    # ... the server's index record is the truth: an edit made after the save is there
    idx.upsert(cisi.iloc[[200]])
    idx.close()
    loaded.close()
    monkeypatch.setenv(env, url)                              # ... or from the environment
    again = vecnb.load_index(saved)
    assert len(again) == 121 and cisi.index[200] in again.frame.index
    again.close()
    if store == "pgvector":
        bad = psycopg.conninfo.make_conninfo(url, password="Wrong-Pass-987")
        with pytest.raises(StoreConnectionError) as err:
            vecnb.load_index(saved, url=bad)
        assert "Wrong-Pass-987" not in str(err.value)


@pytest.mark.parametrize("store", STORES)
def test_a_failed_replace_loses_nothing(store, cisi, tmp_path, request):
    where = _where_of(store, tmp_path, request)
    cisi.iloc[:50].vec.index(store=store, text="text", **where).close()
    # a label twice: found once the replacement store exists and holds its new index record
    bad = pd.concat([cisi.iloc[100:160], cisi.iloc[[100]]])
    with pytest.raises(InvalidInputError, match="duplicate"):
        bad.vec.index(store=store, text="text", mode="replace", **where)
    idx = vecnb.open_index(store, **where)           # the old index, whole
    assert len(idx) == 50 == len(idx.store) and set(idx.frame.index) == set(cisi.index[:50])
    idx.close()
    if store == "pgvector":                          # and no staging table left behind
        import psycopg

        with psycopg.connect(where["url"]) as conn:
            left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE %s",
                                [where["table"] + "__new_%"]).fetchone()[0]
        assert left == 0
    if store == "chroma":
        import chromadb
        from chromadb.config import Settings

        client = chromadb.PersistentClient(path=where["path"],   # the store's settings (chroma: one per path)
                                           settings=Settings(anonymized_telemetry=False, allow_reset=False))
        assert [getattr(c, "name", c) for c in client.list_collections()] == ["cisi"]


@pytest.mark.parametrize("store", STORES)
def test_two_writers_of_one_index_never_mix(store, cisi, tmp_path, request):
    """Two openers of one index: a writer whose copy is behind reloads the record first (so both
    writes land); one that raced past that check (simulated by skipping it) is refused, and its
    vectors are not written (one transaction with the record on pgvector / sqlite; the record's
    "write begun" entry, refused first, on chroma / ES)."""
    where = _where_of(store, tmp_path, request)
    cisi.iloc[:50].vec.index(store=store, **where).close()
    a, b = vecnb.open_index(store, **where), vecnb.open_index(store, **where)
    a.upsert(cisi.iloc[50:60])
    b.upsert(cisi.iloc[60:65])                            # b notices a's write, reloads, then writes
    assert len(b) == 65
    a._refresh = lambda **_: []                           # a writes as if b's write came after its check
    with pytest.raises(StoreError, match="(?i)another process changed this index"):
        a.upsert(cisi.iloc[65:70])
    c = vecnb.open_index(store, **where)
    assert len(c) == 65 and set(c.frame.index) == set(cisi.index[:65])
    # the refused rows never reached the store: one transaction with the record (pgvector / sqlite), or
    # (chroma / ES) the write's "begun" entry is refused before the store is touched
    assert len(c.store) == 65
    for i in (a, b, c):
        i.close()
