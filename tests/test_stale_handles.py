"""A handle on a durable index notices when another handle / process changed it, and reloads.

Process (or handle) A opens an index kept in a store; B syncs or rebuilds it. A must then answer
exactly as a freshly opened index does (search, filtered search, hybrid, ``len``, ``frame``,
vectors read back), never pairing B's store rows with the labels and columns A loaded. Real
stores: PostgreSQL + pgvector from the ``pg_url`` fixture, sqlite-vec files, chroma folders, and
Elasticsearch on the EMULATOR in ``tests/stores/es_emulator.py`` (not Elasticsearch: ids say
``es-emulator``) unless ``$VECNB_ES_URL`` names a server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import vecnb

pytest.importorskip("apsw")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Q = "information retrieval in libraries"
PARTIES = np.array(["Lab", "SNP", "Con"])


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    df = vecnb.datasets.load("cisi").head(n)[["text"]].copy()
    df["party"] = PARTIES[np.random.default_rng(seed).integers(0, 3, n)]
    df["year"] = np.arange(n) + 1950
    return df.vec.embed("text", model="hashing", progress=False)


def _edited(df: pd.DataFrame) -> pd.DataFrame:
    """Rows edited (party flipped), deleted (the first 5) and added (3 new labels)."""
    out = df.drop(index=df.index[:5]).drop(columns=["text_vec"])
    out.loc[out.index[:25], "party"] = np.where(out["party"].iloc[:25] == "Lab", "SNP", "Lab")
    new = pd.DataFrame({"text": ["library catalogue automation", "citation indexing", "retrieval evaluation"],
                        "party": ["SNP", "SNP", "Lab"], "year": [2001, 2002, 2003]},
                       index=pd.Index(["new-1", "new-2", "new-3"], dtype=df.index.dtype) if df.index.dtype == object
                       else [10_001, 10_002, 10_003])
    return pd.concat([out, new]).vec.embed("text", model="hashing", progress=False)





def _answers(idx) -> dict:
    return {
        "len": len(idx),
        "frame": idx.frame.sort_index(),
        "vector": idx.search(Q, k=10),
        "snp": idx.search(Q, k=10, where={"party": "SNP"}),
        "recent": idx.search(["library catalogue", "citation analysis"], k=5, where={"year": {"$gte": 1980}}),
        "hybrid": idx.hybrid(Q, k=10),
        "vectors": idx.search(Q, k=3, with_vectors=True),
    }


def _assert_same(got: dict, want: dict) -> None:
    assert got["len"] == want["len"]
    for name in want:
        if name != "len":
            pd.testing.assert_frame_equal(got[name], want[name], check_exact=False, rtol=1e-6, obj=name)
    assert len(want["snp"]) and set(got["snp"]["party"]) == {"SNP"}


def _fresh(store: str, where: dict) -> dict:
    with vecnb.open_index(store, **where) as fresh:
        return _answers(fresh)


STORES = [pytest.param("pgvector", id="pgvector"), pytest.param("sqlite", id="sqlite"),
          pytest.param("elasticsearch", id="es-emulator"), pytest.param("chroma", id="chroma")]


@pytest.mark.parametrize("store", STORES)
def test_a_handle_follows_syncs_and_replaces_by_another(store, tmp_path, request, server_where):
    where = server_where(store, "stale", sync_threshold=2)
    df = _frame()
    df.vec.index(store=store, text="text", **where).close()
    a = vecnb.open_index(store, **where)
    before = _answers(a)
    assert before["len"] == 60

    b = vecnb.open_index(store, **where)
    df2 = _edited(df)
    report = b.sync(df2)                         # B edits, deletes and adds rows
    assert (report.added, report.deleted) == (3, 5) and report.updated >= 20
    want = _fresh(store, where)
    assert want["len"] == 58
    _assert_same(_answers(a), want)              # A answers as a fresh opener does
    b.close()

    # B rebuilds the index from another frame (staging swap); A follows that too
    df3 = df2.iloc[10:40]
    df3.vec.index(store=store, text="text", mode="replace", **where).close()
    want = _fresh(store, where)
    assert want["len"] == 30
    _assert_same(_answers(a), want)

    # and A's own later writes still work, and reach the next opener
    df4 = df2.iloc[5:45]
    assert a.sync(df4).added == 10
    want = _fresh(store, where)
    assert want["len"] == 40 and set(want["frame"].index) == set(df4.index)
    _assert_same(_answers(a), want)
    a.close()


_SYNC = textwrap.dedent("""
    import json, sys
    import numpy as np, pandas as pd
    import vecnb
    sys.path.insert(0, sys.argv[3])
    from test_stale_handles import _edited, _frame
    store, where = sys.argv[1], json.loads(sys.argv[2])
    idx = vecnb.open_index(store, **where)
    report = idx.sync(_edited(_frame()))
    print(len(idx), report.deleted)
""")


@pytest.mark.parametrize("store", [pytest.param("pgvector", id="pgvector"), pytest.param("sqlite", id="sqlite")])
def test_another_process_syncs_while_a_handle_is_open(store, tmp_path, request, server_where):
    where = server_where(store, "stale", sync_threshold=2)
    df = _frame()
    df.vec.index(store=store, text="text", **where).close()
    a = vecnb.open_index(store, **where)
    assert len(a) == 60 and len(a.search(Q, k=10, where={"party": "SNP"}))
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", _SYNC, store, json.dumps(where), os.path.join(ROOT, "tests")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["58", "5"]
    hits = a.search(Q, k=10, where={"party": "SNP"})         # the first thing A does: a filtered search
    want = _fresh(store, where)
    pd.testing.assert_frame_equal(hits, want["snp"], check_exact=False, rtol=1e-6)
    assert set(hits["party"]) == {"SNP"} and len(a) == 58
    _assert_same(_answers(a), want)
    a.close()


def test_pgvector_handle_on_a_generic_plan_follows_a_sync_and_a_replace(tmp_path, request, server_where):
    """pgvector's unfiltered search is a prepared statement (``k`` a literal in it) that PostgreSQL
    runs on its cached generic plan after five executions: that plan still reads the record's
    last seq in every search, and follows a table swapped in under the same name."""
    where = server_where("pgvector", "stale", sync_threshold=2)
    df = _frame()
    df.vec.index(store="pgvector", text="text", **where).close()
    a = vecnb.open_index("pgvector", **where)

    def on_generic_plan():
        for _ in range(8):
            hits = a.search(Q, k=10)
        plans = a.store._conn_obj.execute(
            "SELECT generic_plans FROM pg_prepared_statements WHERE statement LIKE '%max(seq)%LIMIT 11%'").fetchall()  # k + 1: ties
        assert plans and max(p[0] for p in plans) >= 1, plans
        return hits

    before = on_generic_plan()
    assert len(before) == 10
    b = vecnb.open_index("pgvector", **where)
    df2 = _edited(df)
    assert b.sync(df2).added == 3
    b.close()
    want = _fresh("pgvector", where)
    pd.testing.assert_frame_equal(a.search(Q, k=10), want["vector"], check_exact=False, rtol=1e-6)
    assert len(a) == 58

    pd.testing.assert_frame_equal(on_generic_plan(), want["vector"], check_exact=False, rtol=1e-6)
    df2.iloc[10:40].vec.index(store="pgvector", text="text", mode="replace", **where).close()
    want = _fresh("pgvector", where)
    got = a.search(Q, k=10)
    pd.testing.assert_frame_equal(got, want["vector"], check_exact=False, rtol=1e-6)
    assert len(a) == 30 and set(got.index) <= set(df2.index[10:40])
    a.close()
