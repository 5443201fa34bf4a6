"""pgvector ingest: ``PgVectorStore.upsert`` beside a raw psycopg binary COPY of the same rows.

::

    res = vecnb.bench.ingest.run(rows=20_000, dim=384, url=URL)   # DataFrame, one row per case

Cases, each timed from the first byte sent to the commit (tables created beforehand, not
timed), median of ``repeats`` runs, interleaved so load on a shared machine hits all alike:

* ``raw COPY, plain table`` -- psycopg ``COPY ... FROM STDIN (FORMAT BINARY)`` into a table of
  the store's columns ``(id bigint primary key, embedding vector(d), metadata jsonb, text)``
  and nothing else. The bytes are made by the store's own numpy-built binary row writer
  (timed: a loader has to make them), so this is about the floor, not a per-row Python loop;
* ``raw COPY, store's table`` -- the same COPY into a table shaped as the store makes it (a
  generated ``tsvector`` for keyword search, GIN indexes on it and on ``metadata``);
* ``raw COPY, store's table, GIN after`` -- the same table, its two GIN indexes created after
  the COPY in the same transaction: what a careful hand-written loader does, and the like-for-like
  baseline for vecnb (which does the same into an empty table);
* ``vecnb upsert`` -- ``PgVectorStore.upsert(ids, vectors, metadata, texts)`` into an empty
  store (what ``df.vec.index(store="pgvector")`` does before building the ANN index).

``texts=False`` leaves the text column NULL (no keyword side). The ANN index build is not
part of any case (it is measured by :func:`vecnb.bench.run` and :mod:`vecnb.bench.reopen`).
Needs PostgreSQL + pgvector: ``url=`` / ``$VECNB_PG_URL``, else a throwaway server from
``vecnb.servers.start()``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["run"]


def _data(rows: int, dim: int, texts: bool) -> tuple[np.ndarray, pd.DataFrame, list[str] | None]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, dim), dtype=np.float32)
    meta = pd.DataFrame({"year": rng.integers(1950, 2020, rows), "label": rng.choice(["a", "b", "c"], rows)})
    words = np.array(["vector", "search", "index", "retrieval", "library", "query", "document", "table"])
    txt = [" ".join(words[rng.integers(0, len(words), 8)]) for _ in range(rows)] if texts else None
    return x, meta, txt


def _raw_copy(url: str, table: str, ddl: list[str], payload: Callable[[], Iterator[bytes]],
              after: list[str] | None = None) -> float:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        for stmt in ddl:
            conn.execute(sql.SQL(stmt).format(t=sql.Identifier(table)))
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} (id, embedding, metadata, text) FROM STDIN (FORMAT BINARY)").format(
                    sql.Identifier(table))) as cp:
                for chunk in payload():
                    cp.write(chunk)
            for stmt in after or []:
                cur.execute(sql.SQL(stmt).format(t=sql.Identifier(table)))
        dt = time.perf_counter() - t0
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
    return dt


def store_table_ddl(dim: int, text_config: str = "english") -> tuple[list[str], list[str]]:
    """``(create, indexes)``: SQL (with a ``{t}`` table placeholder) for a table shaped as
    :class:`~vecnb.stores.pgvector_store.PgVectorStore` makes it, and its two GIN indexes."""
    from psycopg import sql

    create = ("CREATE TABLE {t} (id bigint PRIMARY KEY, embedding vector(%d) NOT NULL, metadata jsonb, text text, "
              "tsv tsvector GENERATED ALWAYS AS (to_tsvector(%s::regconfig, coalesce(text, ''))) STORED)"
              % (int(dim), sql.quote(text_config)))
    return [create], ["CREATE INDEX ON {t} USING gin (tsv)", "CREATE INDEX ON {t} USING gin (metadata jsonb_path_ops)"]


def raw_store_copy(url: str, table: str, x: np.ndarray, meta: pd.DataFrame | None, texts: list[str] | None) -> float:
    """Seconds of a raw psycopg binary COPY of ``(x, meta, texts)`` into a new table of the store's
    schema, its GIN indexes built after the COPY in the same transaction (bytes made while sending,
    by the store's own numpy row writer, timed). The table is dropped after."""
    from vecnb.stores.pgvector_store import _copy_payload, _metadata_json

    def payload() -> Iterator[bytes]:
        meta_json = _metadata_json(meta, len(x))[0] if meta is not None else None
        return (c for c, _ in _copy_payload(np.arange(len(x), dtype=np.int64), x, meta_json, texts, False))

    create, gin = store_table_ddl(x.shape[1])
    return _raw_copy(url, table, create, payload, gin)


def _store_upsert(url: str, table: str, x: np.ndarray, meta: pd.DataFrame, txt: list[str] | None) -> float:
    from vecnb.stores.pgvector_store import PgVectorStore

    store = PgVectorStore(dim=x.shape[1], metric="cosine", kind="hnsw", url=url, table=table, recreate=True,
                          progress=False)
    try:
        store.upsert(np.arange(1), x[:1])  # creates the table (not timed), then empties it
        store.delete(np.arange(1))
        t0 = time.perf_counter()
        store.upsert(np.arange(len(x)), x, meta, txt)
        return time.perf_counter() - t0
    finally:
        store.drop()
        store.close()


def run(rows: int = 20_000, dim: int = 384, *, url: str | None = None, texts: bool = True,
        repeats: int = 3) -> pd.DataFrame:
    """Rows per second of each case (see the module docstring); ``ratio_to_raw`` is
    ``vecnb upsert`` rows/s over each raw case's (>= 1 means vecnb is as fast)."""
    import vecnb
    from vecnb.stores.pgvector_store import _copy_payload, _metadata_json

    stop = None
    url = url or os.environ.get("VECNB_PG_URL")
    if url is None:
        url, stop = vecnb.servers.start()
    try:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        x, meta, txt = _data(rows, dim, texts)

        def payload() -> Iterator[bytes]:  # built while sending, as a raw loader would
            meta_json = _metadata_json(meta, rows)[0]
            return (c for c, _ in _copy_payload(np.arange(rows, dtype=np.int64), x, meta_json, txt, False))

        cols = f"CREATE TABLE {{t}} (id bigint PRIMARY KEY, embedding vector({int(dim)}) NOT NULL, metadata jsonb, text text"
        tsv = ", tsv tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, coalesce(text, ''))) STORED"
        cases: dict[str, Any] = {
            "raw COPY, plain table": lambda: _raw_copy(url, "vecnb_bench_raw", [cols + ")"], payload),
            "raw COPY, store's table": lambda: _raw_copy(url, "vecnb_bench_raw", [
                cols + tsv + ")", "CREATE INDEX ON {t} USING gin (tsv)",
                "CREATE INDEX ON {t} USING gin (metadata jsonb_path_ops)"], payload),
            "raw COPY, store's table, GIN after": lambda: _raw_copy(url, "vecnb_bench_raw", [cols + tsv + ")"], payload, [
                "CREATE INDEX ON {t} USING gin (tsv)", "CREATE INDEX ON {t} USING gin (metadata jsonb_path_ops)"]),
            "vecnb upsert": lambda: _store_upsert(url, "vecnb_bench_ingest", x, meta, txt),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(repeats):
            for name, fn in cases.items():
                times[name].append(fn())
    finally:
        if stop is not None:
            stop()
    med = {name: statistics.median(v) for name, v in times.items()}
    load = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return pd.DataFrame([{
        "case": name, "rows": rows, "dim": dim, "texts": texts, "median_s": med[name],
        "rows_per_s": rows / med[name], "ratio_to_raw": med[name] / med["vecnb upsert"],
        "runs_s": [round(t, 4) for t in times[name]], "load_avg": load,
    } for name in cases])


if __name__ == "__main__":  # pragma: no cover - manual benchmark
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--url", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-texts", action="store_true")
    a = ap.parse_args()
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(run(a.rows, a.dim, url=a.url, texts=not a.no_texts, repeats=a.repeats))
