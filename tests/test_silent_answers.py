"""Silent wrong answers found by audit (second pass), each checked against pandas / ``df.vec.search``.

Data: Hansard speeches (``data/hansard``) embedded offline with ``wordllama``, as in
tests/test_meaning_matrix.py. Elasticsearch runs on the EMULATOR in tests/stores/es_emulator.py
(not Elasticsearch) unless ``VECNB_ES_URL`` is set; pgvector on a real PostgreSQL (``pg_url``).
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb.errors import InvalidInputError

N = 120
BIG = 2**53


@pytest.fixture(scope="module")
def frame():
    pytest.importorskip("wordllama")
    df = vecnb.datasets.load("hansard").head(N).copy()
    rng = np.random.default_rng(1)
    df["id_big"] = np.int64(BIG) + np.arange(N, dtype=np.int64) % 5
    df["small"] = rng.integers(0, 6, N).astype(np.int64)
    df = df.drop(columns=["date"])
    emb = df.vec.embed("text", model="wordllama", progress=False, cache=False)
    return emb


def options(store: str, request, tmp_path) -> dict:
    if store == "pgvector":
        pytest.importorskip("psycopg")
        return {"url": request.getfixturevalue("pg_url"), "table": f"sa_{uuid.uuid4().hex[:10]}"}
    if store == "elasticsearch":
        return {"url": request.getfixturevalue("es_url"), "index": f"sa_{uuid.uuid4().hex[:10]}"}
    pytest.importorskip({"faiss": "faiss", "chroma": "chromadb", "sqlite": "apsw"}.get(store, "numpy"))
    if store == "sqlite":
        return {"path": os.path.join(tmp_path, f"{uuid.uuid4().hex[:8]}.db")}
    return {}


KIND = {"faiss": "flat", "sqlite": "exact", "pgvector": "exact", "elasticsearch": "exact", "numpy": "exact",
        "chroma": "auto"}


# ------------------------------------------------------------------ 1. ints past 2**53
BIG_FILTERS = [
    {"id_big": BIG + 1},
    {"id_big": {"$in": [BIG + 1, BIG + 3]}},
    {"id_big": {"$ne": BIG}},
    {"id_big": {"$nin": [BIG, BIG + 4]}},
    {"id_big": {"$gt": BIG}},
    {"id_big": {"$gte": BIG + 2}},
    {"id_big": {"$lt": BIG + 2}},
    {"id_big": {"$lte": BIG + 1}},
    {"small": 2.5},
    {"small": {"$gt": 2.5}},
    {"small": {"$lte": 2.5}},
    {"small": {"$in": [1, 2.0, 3.5]}},
]


@pytest.mark.parametrize("store", ["numpy", "faiss", "sqlite", "chroma", "pgvector", "elasticsearch"])
def test_ints_past_2_53_filter_exactly(frame, store, request, tmp_path):
    """Elasticsearch mapped every number ``double``: ``{"id_big": 2**53 + 1}`` matched 2**53 too
    (48 rows for pandas' 24), ``$ne`` 2**53 dropped 2**53 + 1. Int columns are now ``long``."""
    idx = frame.vec.index(store=store, kind=KIND[store], **options(store, request, tmp_path))
    q = frame.vec.matrix("text_vec")[7]
    try:
        for where in BIG_FILTERS:
            want = frame.vec.search(q, k=N, where=where)
            got = idx.search(q, k=N, where=where)
            assert sorted(got.index) == sorted(want.index), (store, where, len(got), len(want))
    finally:
        idx.close()


def test_es_refuses_numbers_its_field_would_change(frame, request):
    """A ``long`` field given fractions (the server truncates them) and a ``double`` field given
    ints past 2**53 (rounded) are refused with the fix, not stored changed."""
    es_url = request.getfixturevalue("es_url")
    idx = frame.vec.index(store="elasticsearch", kind="exact", url=es_url, index=f"sa_{uuid.uuid4().hex[:10]}")
    try:
        edited = frame.copy()
        edited["small"] = edited["small"].astype(float) + 0.5
        with pytest.raises(InvalidInputError, match="truncate"):
            idx.sync(edited)
        assert sorted(idx.search(frame.vec.matrix("text_vec")[0], k=N, where={"small": {"$gt": 4.5}}).index) == \
            sorted(frame.index[frame["small"] > 4.5])
        whole = frame.copy()
        whole["small"] = whole["small"].astype(float)  # integral floats (a concat with NaN upcasts): fine
        whole.loc[whole.index[0], "small"] = np.nan
        idx.sync(whole)
        hits = idx.search(frame.vec.matrix("text_vec")[0], k=N, where={"small": {"$gte": 3}})
        assert sorted(hits.index) == sorted(whole.index[whole["small"] >= 3])
    finally:
        idx.close()
    from vecnb.stores.elasticsearch_store import check_numbers
    with pytest.raises(InvalidInputError, match="2\\*\\*53"):
        check_numbers(pd.DataFrame({"x": [BIG + 1]}), {"x": "number"}, set())
    assert check_numbers(pd.DataFrame({"x": [BIG + 1]}), {}, set()) == {"x"}


# ------------------------------------------------------------------ 4 / 5. a write between the version check and the search
PARTIES = np.array(["Lab", "SNP", "Con"])
RACE_STORES = [pytest.param("elasticsearch", id="es-emulator"), pytest.param("chroma", id="chroma"),
               pytest.param("sqlite", id="sqlite"), pytest.param("pgvector", id="pgvector")]


def _race_frame() -> pd.DataFrame:
    df = vecnb.datasets.load("hansard").head(60)[["text"]].copy()
    df["party"] = PARTIES[np.random.default_rng(3).integers(0, 3, len(df))]
    return df.vec.embed("text", model="hashing", progress=False)


def _race_where(store: str, tmp_path, request) -> dict:
    name = f"race_{uuid.uuid4().hex[:10]}"
    if store == "pgvector":
        pytest.importorskip("psycopg")
        return {"url": request.getfixturevalue("pg_url"), "table": name}
    if store == "elasticsearch":
        return {"url": request.getfixturevalue("es_url"), "index": name}
    if store == "chroma":
        pytest.importorskip("chromadb")
        return {"path": str(tmp_path / "chroma"), "collection": "docs"}
    pytest.importorskip("apsw")
    return {"path": str(tmp_path / "race.db")}


def _flip(df: pd.DataFrame) -> pd.DataFrame:
    """Edits only (same labels: no new store key gives the race away): every row's party moves on."""
    out = df.copy()
    out["party"] = np.where(df["party"] == "Lab", "SNP", np.where(df["party"] == "SNP", "Con", "Lab"))
    out["text"] = out["text"].str.replace("the", "THE", regex=False)
    return out.drop(columns=["text_vec"]).vec.embed("text", model="hashing", progress=False)


def _write_on_first(store, method: str, write) -> None:
    """Let ``write`` (a real second handle's sync) land right before the first ``method`` call of
    handle A's store -- i.e. after A checked the record's version, before its search reads rows."""
    real = getattr(store, method)
    done = []

    def call(*a, **kw):
        if not done:
            done.append(1)
            write()
        return real(*a, **kw)

    setattr(store, method, call)


@pytest.mark.parametrize("store", RACE_STORES)
@pytest.mark.parametrize("how", ["search", "hybrid"])
def test_a_write_between_check_and_search_is_not_mixed_in(store, how, tmp_path, request):
    """ES / chroma checked the record before the search only: a sync landing in between paired the
    edited store rows with the old labels and columns (``where={"party": "SNP"}`` returned rows
    showing ``Lab`` / ``Con``). A hybrid whose vector side reloaded mixed two versions' rows."""
    where = _race_where(store, tmp_path, request)
    df = _race_frame()
    df.vec.index(store=store, text="text", **where).close()
    a = vecnb.open_index(store, **where)
    b = vecnb.open_index(store, **where)
    try:
        edited = _flip(df)
        q = "the economy and jobs"
        _write_on_first(a.store, "search", lambda: b.sync(edited))
        if how == "search":
            got = a.search(q, k=10, where={"party": "SNP"})
            assert len(got) and set(got["party"]) == {"SNP"}
        else:
            got = a.hybrid(q, k=10)
        with vecnb.open_index(store, **where) as fresh:
            want = fresh.search(q, k=10, where={"party": "SNP"}) if how == "search" else fresh.hybrid(q, k=10)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-6)
        assert (a.frame.sort_index()["party"] == edited.sort_index()["party"]).all()
    finally:
        a.close()
        b.close()
