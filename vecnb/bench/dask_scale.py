"""Scale-out figures for ``ddf.vec`` (issue 17), each against a baseline measured in the same run.

::

    res = vecnb.bench.dask_scale.run(texts=2000, ingest_rows=20000, url=URL)   # dict of figures
    python -m vecnb.bench.dask_scale --texts 2000 --ingest-rows 0 --out build/dask_scale.json

* **embedding** (MiniLM by default; texts cut to ``words`` words): the same texts embedded by
  ``df.vec.embed`` in this process capped at 1 thread (the baseline for Dask's overhead), by
  ``ddf.vec.embed`` on a ``LocalCluster`` of 1 worker process and of 2 (1 thread each, disk cache
  off), and -- the **ceiling** 2 cores give with no scheduler at all -- by 1 plain process and by
  2 plain processes (``multiprocessing``, spawned, each embedding one half with the same
  1-thread cap). Every model is built and its weights loaded before timing (on each worker with
  ``client.run``, in each plain process by its initializer); a timed run is the embedding plus
  the vectors' way back to this process. Clusters and pools stay up and the runs alternate
  within each repeat, so a change of load on a shared machine hits all of them; medians of
  ``repeats``. Each run's **CPU seconds** (this process + the scheduler + every worker, or the
  plain processes' own) are reported beside the wall time: they move far less with the
  machine's load. Each run is logged to stderr as it ends; ``main`` prints a table of them.
* **ingest**: the same embedded rows (with texts) into pgvector by (a) a raw psycopg binary COPY
  into the store's table schema, GIN indexes built after (the floor), (b) ``df.vec.index(store=
  "pgvector")`` in this process and (c) ``ddf.vec.to_store("pgvector")`` from 1 and 2 workers; rows/s,
  (b) over (a) and (c) over (b) -- as a ratio of medians and as the median of the per-repeat ratios
  (``*_pairs``). ``ingest_kinds=("exact", "hnsw")`` adds runs with the HNSW build.
  PostgreSQL runs on the same cores as the workers.
* the 1-minute load average before and after: on a shared machine the figures move with it.

``texts=0`` skips the embedding figures, ``ingest_rows=0`` the ingest ones.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd


def _texts(n: int, seed: int = 0, words: int | None = None) -> pd.DataFrame:
    """``n`` CISI abstracts (repeated, each with 5 of its words appended so no two are equal); with
    ``words``, each cut to its first ``words`` words (shorter texts: more of them per second)."""
    import vecnb

    base = vecnb.datasets.load("cisi")["text"].astype(str).tolist()
    if words:
        base = [" ".join(t.split()[:words]) for t in base]
    rng = np.random.default_rng(seed)
    out = [f"{base[i % len(base)]} {' '.join(rng.choice(base[i % len(base)].split(), 5))}" for i in range(n)]
    return pd.DataFrame({"text": out, "n": np.arange(n)})


# --------------------------------------------------------------------------- plain processes (the ceiling)
_PLAIN: dict[str, Any] = {}


def _plain_init(model: str) -> None:
    """A plain worker process: build the model and load its weights before any timing."""
    from vecnb.embed import get_embedder

    emb = get_embedder(model)
    if hasattr(emb, "load"):
        emb.load()
    _PLAIN["emb"] = emb


def _plain_embed(texts: list[str]) -> tuple[np.ndarray, float]:
    """Embed ``texts`` as a Dask task does (1 thread, no cache): (vectors, CPU seconds used)."""
    from vecnb.dask import task_threads
    from vecnb.embed import embed_texts

    c = time.process_time()
    emb = _PLAIN["emb"]
    with task_threads(emb, 1):
        X = embed_texts(emb, texts, batch_size=64, progress=False, cache=False)
    return X, time.process_time() - c


class _PlainPool:
    """``n`` plain processes (``multiprocessing``, spawned, no Dask), each with the model loaded:
    the texts are split in ``n`` equal halves, one per process. What 2 cores give with no scheduler."""

    def __init__(self, n: int, model: str):
        import multiprocessing

        self.n = n
        self.pool = multiprocessing.get_context("spawn").Pool(n, initializer=_plain_init, initargs=(model,))
        self.pool.map(_plain_embed, [["warm up"]] * n, chunksize=1)

    def __call__(self, texts: list[str]) -> float:
        """Embed ``texts``; returns the CPU seconds the processes used."""
        parts = [list(p) for p in np.array_split(np.asarray(texts, dtype=object), self.n)]
        return sum(cpu for _, cpu in self.pool.map(_plain_embed, parts, chunksize=1))

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


def _worker_cpu(client: Any) -> float:
    """CPU seconds used so far by the worker processes of ``client`` (not the client / scheduler)."""
    return sum(client.run(time.process_time).values())


def _cpu(client: Any = None) -> float:
    """CPU seconds used so far by this process, plus the scheduler and every worker of ``client``."""
    def mine() -> tuple[int, float]:
        return os.getpid(), time.process_time()

    per_pid = dict([mine()])
    if client is not None:  # the scheduler of a LocalCluster runs in this process: count each process once
        per_pid.update(client.run(mine).values())
        per_pid.update([client.run_on_scheduler(mine)])
    return sum(per_pid.values())


def _timed(fn: Any, client: Any = None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of every process, CPU seconds of the doing): without ``client``
    the last is this thread's (``fn`` embeds in it), with one the workers' processes'."""
    c = _cpu(client)
    own = _worker_cpu(client) if client is not None else time.thread_time()
    t = time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    own = (_worker_cpu(client) if client is not None else time.thread_time()) - own
    return wall, _cpu(client) - c, own


def _cluster(workers: int) -> tuple[Any, Any]:
    import distributed

    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
    return cluster, distributed.Client(cluster, set_as_default=False)


class _as_default:
    """Make ``client`` the one Dask computes on inside the block (to_store finds it with get_client)."""

    def __init__(self, client: Any):
        self.client = client

    def __enter__(self) -> Any:
        import dask

        self._cfg = dask.config.set(scheduler=self.client)
        self._cfg.__enter__()
        self._cur = self.client.as_current()
        self._cur.__enter__()
        return self.client

    def __exit__(self, *exc: object) -> None:
        self._cur.__exit__(*exc)
        self._cfg.__exit__(*exc)


def _warm(client: Any, model: str) -> None:
    """Build ``model`` and load its weights on every worker of ``client`` (outside the timing)."""
    from vecnb.dask import _model_payload, worker_model

    payload = _model_payload(model)

    def load() -> None:
        emb = worker_model(payload)
        if hasattr(emb, "load"):
            emb.load()

    client.run(load)


def _embedding(df: pd.DataFrame, model: str, repeats: int, partitions: int | None) -> dict[str, Any]:
    """Wall and CPU seconds (medians) of each way to embed ``df``, the runs alternating within a repeat.

    Every model is built and loaded before timing (each Dask worker, each plain process, this
    process); a timed run is the embedding and the vectors' way back to this process.
    """
    import dask.dataframe as dd

    from vecnb.dask import task_threads
    from vecnb.embed import get_embedder

    emb = get_embedder(model)
    if hasattr(emb, "load"):
        emb.load()
    texts = df["text"].tolist()
    # the plain pools first: a Nanny puts its pre-spawn variables (MALLOC_TRIM_THRESHOLD_=65536, OMP /
    # MKL / OPENBLAS_NUM_THREADS=1) into this process's os.environ, and processes spawned after it
    # would inherit them (spawned after the clusters, a plain process took ~40% more CPU for MiniLM)
    pools: dict[int, _PlainPool] = {}
    clusters: dict[int, tuple[Any, Any]] = {}
    try:
        pools.update((w, _PlainPool(w, model)) for w in (1, 2))
        clusters.update((w, _cluster(w)) for w in (1, 2))
        for _, client in clusters.values():
            _warm(client, model)

        def single() -> None:
            with task_threads(emb, 1):
                df.vec.embed("text", model=emb, cache=False, progress=False)

        def dask(workers: int) -> Any:
            client = clusters[workers][1]
            n = partitions or 2 * workers

            def run() -> None:
                ddf = dd.from_pandas(df, npartitions=n)
                client.compute(ddf.vec.embed("text", model=model, cache=False)).result()
            return run

        runs = {"single_process": (single, None), "plain_1": (pools[1], None), "plain_2": (pools[2], None),
                "workers_1": (dask(1), clusters[1][1]), "workers_2": (dask(2), clusters[2][1])}
        got: dict[str, list[tuple[float, float, float]]] = {k: [] for k in runs}
        for r in range(repeats):
            for name, (fn, client) in runs.items():
                if name.startswith("plain"):
                    c, t = _cpu(), time.perf_counter()
                    child = fn(texts)
                    got[name].append((time.perf_counter() - t, _cpu() - c + child, child))
                else:
                    got[name].append(_timed(fn, client))
                wall, cpu, own = got[name][-1]
                print(f"repeat {r + 1}: {name:<15} {wall:7.2f} s {cpu:7.2f} CPU s ({own:.2f} doing it) "
                      f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    finally:
        for pool in pools.values():
            pool.close()
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    out: dict[str, Any] = {}
    for name, vals in got.items():
        out[f"{name}_s"] = statistics.median(v[0] for v in vals)
        out[f"{name}_cpu_s"] = statistics.median(v[1] for v in vals)
        out[f"{name}_work_cpu_s"] = statistics.median(v[2] for v in vals)
    return out


def _embedding_figures(texts: int, model: str, repeats: int, partitions: int | None,
                       words: int | None = None) -> dict[str, Any]:
    res = _embedding(_texts(texts, words=words), model, repeats, partitions)
    res["speedup_2_vs_1"] = res["workers_1_s"] / res["workers_2_s"]
    res["ceiling_2_vs_1"] = res["plain_1_s"] / res["plain_2_s"]
    res["speedup_of_ceiling"] = res["speedup_2_vs_1"] / res["ceiling_2_vs_1"]
    res["overhead_1_worker_vs_single"] = res["workers_1_s"] / res["single_process_s"] - 1
    # CPU-seconds efficiency: what the work cost, whatever share of the cores the run got. "work":
    # the embedding thread (single), the plain processes' tasks, the worker processes (all their
    # threads: Dask's event loop, heartbeats and profiler included) -- not this process, which also
    # runs both clusters' schedulers and nannies and the pools' bookkeeping while any run goes on
    res["cpu_overhead_1_worker_vs_single"] = res["workers_1_work_cpu_s"] / res["single_process_work_cpu_s"] - 1
    res["cpu_overhead_2_workers_vs_plain_2"] = res["workers_2_work_cpu_s"] / res["plain_2_work_cpu_s"] - 1
    # the speed-up 2 cores would give if both were free, from CPU seconds alone: 2 x (work at 1) / (work at 2)
    # (what running two at once costs in CPU -- shared cache and memory, Dask's threads -- but not a tail
    # where one worker waits for the other)
    res["cpu_speedup_2_vs_1"] = 2 * res["workers_1_work_cpu_s"] / res["workers_2_work_cpu_s"]
    res["cpu_ceiling_2_vs_1"] = 2 * res["plain_1_work_cpu_s"] / res["plain_2_work_cpu_s"]
    res["texts_per_s_single"] = texts / res["single_process_s"]
    res["texts_per_s_2_workers"] = texts / res["workers_2_s"]
    return res


def run(texts: int = 2000, ingest_rows: int = 20000, model: str = "minilm", url: str | None = None,
        repeats: int = 3, partitions: int | None = None, ingest_kinds: tuple[str, ...] | list[str] = ("exact",),
        words: int | None = 60) -> dict[str, Any]:
    """All the figures (a dict); ``partitions=None``: 2 partitions per worker for the embedding runs
    and 8 for ingest, else ``dd.from_pandas(df, npartitions=partitions)`` everywhere."""
    import vecnb  # noqa: F401 - registers df.vec / ddf.vec

    res: dict[str, Any] = {"load_before": os.getloadavg()[0], "texts": texts, "model": model, "words": words,
                           "cpus": os.cpu_count(), "repeats": repeats, "partitions": partitions}
    if texts:
        res.update(_embedding_figures(texts, model, repeats, partitions, words))
    if ingest_rows:
        res.update(_ingest(ingest_rows, url, partitions or 8, repeats=repeats, kinds=tuple(ingest_kinds)))
    res["load_after"] = os.getloadavg()[0]
    return res


def _raw_copy_case(url: str, df: pd.DataFrame) -> Any:
    """Baseline (a): a raw psycopg binary COPY of ``df``'s rows (vector, metadata, text) into a table
    of the store's schema, its GIN indexes built after the COPY in the same transaction."""
    from vecnb.bench.ingest import raw_store_copy
    from vecnb.index.core import _metadata

    col = df.vec.columns()[0]
    x = np.asarray(df.vec.matrix(col), dtype=np.float32)
    rows = df.drop(columns=[col])
    meta, texts = _metadata(rows), rows["text"].astype(str).tolist()
    return lambda: {"s": raw_store_copy(url, f"bench_raw_{uuid.uuid4().hex[:8]}", x, meta, texts)}


def _ingest(rows: int, url: str | None, partitions: int, repeats: int = 3,
            kinds: tuple[str, ...] = ("exact",), dim: int = 384) -> dict[str, Any]:
    """pgvector ingest of the same embedded rows (with texts), alternating within each repeat:
    (a) a raw psycopg binary COPY into the store's table schema, GIN indexes built after;
    (b) single-process ``df.vec.index(store="pgvector")``; (c) ``ddf.vec.to_store("pgvector")`` from
    a ``LocalCluster`` of 1 and of 2 worker processes (1 thread each; the frame persisted on the
    workers first, so only the ingest is timed). ``kind="exact"`` is the write path alone;
    ``kind="hnsw"`` adds the ANN build at the end (both vecnb paths build it once). Medians of ``repeats``."""
    import warnings

    import dask.dataframe as dd
    import distributed

    import vecnb
    from vecnb.embed import get_embedder

    stop = None
    if url is None:
        url = os.environ.get("VECNB_PG_URL")
    if url is None:
        url, stop = vecnb.servers.start()
    clusters = {w: _cluster(w) for w in (1, 2)}
    try:
        df = _texts(rows, seed=1).vec.embed("text", model=get_embedder("hashing", n_features=dim), cache=False,
                                             progress=False)
        ddfs = {}
        for w, (_, client) in clusters.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "large graph": the bench's own frame, sent once
                ddfs[w] = client.persist(dd.from_pandas(df, npartitions=partitions))  # vectors ready: time the ingest
            with _as_default(client):
                distributed.wait(distributed.futures_of(ddfs[w]))

        def single(kind: str) -> dict[str, float]:
            t = time.perf_counter()
            idx = df.vec.index(store="pgvector", url=url, table=f"bench_{uuid.uuid4().hex[:8]}", kind=kind,
                               text="text", progress=False)
            out = {"s": time.perf_counter() - t}
            idx.store.drop()
            idx.close()
            return out

        def dask(kind: str, workers: int) -> dict[str, float]:
            t = time.perf_counter()
            with _as_default(clusters[workers][1]):
                idx = ddfs[workers].vec.to_store("pgvector", url=url, table=f"bench_{uuid.uuid4().hex[:8]}",
                                                 kind=kind, text="text", progress=False)
            out = {"s": time.perf_counter() - t, "build_s": idx.ingest_report.build_seconds}
            assert len(idx) == rows
            idx.store.drop()
            idx.close()
            return out

        raw = _raw_copy_case(url, df)
        got: dict[str, list[dict[str, float]]] = {}
        for _ in range(repeats):
            got.setdefault("raw_copy", []).append(raw())
            for kind in kinds:
                got.setdefault(f"single_{kind}", []).append(single(kind))
                for w in (1, 2):
                    got.setdefault(f"{w}_workers_{kind}", []).append(dask(kind, w))
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
        if stop is not None:
            stop()
    res: dict[str, Any] = {"ingest_rows": rows, "ingest_dim": dim, "ingest_kinds": list(kinds)}
    for name, vals in got.items():
        for field in vals[0]:
            res[f"ingest_{name}_{field}"] = statistics.median(v[field] for v in vals)
        res[f"ingest_{name}_runs_s"] = [round(v["s"], 3) for v in vals]
        res[f"ingest_{name}_rows_per_s"] = rows / res[f"ingest_{name}_s"]
    def pairs(num: str, den: str) -> float:  # median of the per-repeat ratios: steadier while the load drifts
        return statistics.median(a["s"] / b["s"] for a, b in zip(got[num], got[den]))

    for kind in kinds:
        res[f"ingest_single_{kind}_vs_raw_copy"] = res["ingest_raw_copy_s"] / res[f"ingest_single_{kind}_s"]
        res[f"ingest_single_{kind}_vs_raw_copy_pairs"] = pairs("raw_copy", f"single_{kind}")
        for w in (1, 2):
            res[f"ingest_{w}_workers_{kind}_vs_single"] = (res[f"ingest_single_{kind}_s"]
                                                           / res[f"ingest_{w}_workers_{kind}_s"])
            res[f"ingest_{w}_workers_{kind}_vs_single_pairs"] = pairs(f"single_{kind}", f"{w}_workers_{kind}")
    return res


def _summary(res: dict[str, Any]) -> str:
    """The embedding figures as a few lines of text (what ``main`` prints before the JSON)."""
    if "workers_1_s" not in res:
        return ""
    n = res["texts"]
    rows = [("single process, 1 thread (df.vec.embed)", "single_process"), ("Dask, 1 worker", "workers_1"),
            ("Dask, 2 workers", "workers_2"), ("plain process, 1", "plain_1"), ("plain processes, 2 halves", "plain_2")]
    out = [f"{n} texts, {res['model']}, load average {res['load_before']:.1f} -> {res['load_after']:.1f} "
           f"(medians of {res['repeats']})"]
    for label, key in rows:
        out.append(f"  {label:<42} {res[key + '_s']:7.2f} s  {n / res[key + '_s']:7.1f} texts/s  "
                   f"{res[key + '_work_cpu_s']:7.2f} CPU s embedding ({res[key + '_cpu_s']:.2f} all processes)")
    out.append(f"  speed-up 2 vs 1 worker: {res['speedup_2_vs_1']:.2f}x; ceiling (2 plain processes vs 1): "
               f"{res['ceiling_2_vs_1']:.2f}x; Dask reaches {res['speedup_of_ceiling']:.0%} of it")
    out.append(f"  from CPU seconds (2 free cores): 2 vs 1 worker {res['cpu_speedup_2_vs_1']:.2f}x; 2 vs 1 plain "
               f"process {res['cpu_ceiling_2_vs_1']:.2f}x")
    out.append(f"  Dask overhead, 1 worker vs single process: wall {res['overhead_1_worker_vs_single']:+.1%}, "
               f"CPU {res['cpu_overhead_1_worker_vs_single']:+.1%}; 2 workers vs 2 plain processes: CPU "
               f"{res['cpu_overhead_2_workers_vs_plain_2']:+.1%}")
    return "\n".join(out)


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--texts", type=int, default=2000)
    p.add_argument("--words", type=int, default=60, help="cut each text to its first N words (0: whole)")
    p.add_argument("--ingest-rows", type=int, default=20000)
    p.add_argument("--model", default="minilm")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ingest-kinds", default="exact", help="comma-separated: exact,hnsw")
    p.add_argument("--partitions", type=int, default=None)
    p.add_argument("--url", default=None)
    p.add_argument("--out")
    a = p.parse_args()
    res = run(texts=a.texts, ingest_rows=a.ingest_rows, model=a.model, repeats=a.repeats, partitions=a.partitions,
              url=a.url, ingest_kinds=a.ingest_kinds.split(","), words=a.words or None)
    text = json.dumps(res, indent=2, default=float)
    print(_summary(res))
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
