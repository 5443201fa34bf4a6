"""Benchmarks on your own data: every store and index kind beside the raw libraries and peers.

::

    res = vecnb.bench.run(df, stores=["numpy", "faiss", "chroma", "pgvector"], kinds="all", k=10,
                          queries=200, filters=[None, {"label": "a"}])   # DataFrame, one row per system x filter
    vecnb.bench.overhead(res)              # vecnb's cost over the raw library, per operation
    vecnb.bench.scorecard(res, f)          # the project's performance goals, met or not
    vecnb.bench.plot(res)                  # recall vs QPS, latency percentiles (a matplotlib Figure)
    vecnb.bench.sweep(idx, ef_search=[16, 32, 64, 128])   # recall / speed trade-off of one index
    vecnb.bench.foundation()               # exact search, matrix extraction, result frames, embedding rate
    vecnb.bench.per_query()                # one query at a time, each beside the raw library call it wraps
    df = vecnb.bench.clustered(100_000, 384)   # clustered synthetic data (never uniform random)
    vecnb.bench.machine_info()             # CPU, cores, threads, BLAS, versions, load average
    vecnb.bench.memory(rows=200_000, dim=384)  # index RSS / size beside raw faiss, one process per case
    vecnb.bench.mmap_open(rows=1_000_000)      # open time and RSS: load_index(mmap=True) vs full load
    vecnb.bench.save(path, results=res, foundation=f); vecnb.bench.load(path)

From a shell: ``python -m vecnb.bench --rows 100000 --dim 384 --out build/bench.json``.

How things are measured (the same for every system):

* **build** — wall seconds from an empty store to a searchable index (ingest + training +
  graph building; stores that build lazily are asked to build now), and ``n / build_s``;
* **memory** — the index's own size, measured the best way each system allows (faiss's
  serialised index, hnswlib's saved file, a store's ``save()`` on disk, PostgreSQL's
  ``pg_total_relation_size``); ``memory_method`` names it. The process RSS delta during the
  build is recorded too (noisy: allocator slack, caches);
* **recall@k** — against exact search computed once with :func:`vecnb.metrics.topk` (per
  filter, among the rows that pass); ties count as hits;
* **batch QPS** — all queries in one call, median of ``repeats`` after a warm-up;
* **single-query latency** — p50 / p95 / p99 over the queries, one call each, median over
  ``repeats``, warm-up discarded; for vecnb it is end to end (result DataFrame included),
  and ``store_p50_ms`` is the store alone;
* every row names the machine, the threads and the BLAS it ran on; the machine's load
  average is recorded (timings on a shared machine are noisy).

Nothing here prints: every figure is in the returned DataFrames / JSON.
"""

from __future__ import annotations

from vecnb.bench._data import LABEL_SHARES, clustered, clustered_matrix
from vecnb.bench._foundation import foundation
from vecnb.bench._io import load, save
from vecnb.bench._machine import machine_info
from vecnb.bench._memory import memory, mmap_open
from vecnb.bench._perquery import per_query, profile_search
from vecnb.bench._plot import plot
from vecnb.bench._run import PEERS, RESULT_COLUMNS, overhead, run
from vecnb.bench._scorecard import scorecard
from vecnb.bench._sweep import sweep
from vecnb.bench._timing import recall_at_k

__all__ = ["run", "overhead", "scorecard", "plot", "sweep", "foundation", "per_query", "profile_search",
           "clustered", "clustered_matrix",
           "machine_info", "memory", "mmap_open", "save", "load", "recall_at_k", "PEERS", "RESULT_COLUMNS", "LABEL_SHARES"]  # noqa: RUF022
