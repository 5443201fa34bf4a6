"""Scale-out figures for ``ddf.vec`` (issue 17), each against a baseline measured in the same run.

::

    res = vecnb.bench.dask_scale.run(texts=4000, ingest_rows=20000, url=URL)   # dict of figures
    python -m vecnb.bench.dask_scale --texts 4000 --ingest-rows 20000 --out build/dask_scale.json

* **embedding**: the same texts embedded by ``df.vec.embed`` in this process (baseline; once with
  the libraries' default threads, once capped at 1 thread like a Dask task), by ``ddf.vec.embed``
  on a ``LocalCluster`` of 1 worker process, and of 2 (1 thread each; disk cache off; each model
  loaded on its workers before timing) -- the 2-worker run also without the per-task thread cap
  (``threads=None``) to show what the cap does. Both clusters stay up and the runs alternate
  within each repeat, so a change of load on a shared machine hits all of them; medians of
  ``repeats``. Each run's **CPU seconds** (this process + the scheduler + every worker process) are
  reported beside the wall time: they move far less with the machine's load, so the Dask
  overhead is given both ways.
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
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd


def _texts(n: int, seed: int = 0) -> pd.DataFrame:
    import vecnb

    base = vecnb.datasets.load("cisi")["text"].astype(str).tolist()
    rng = np.random.default_rng(seed)
    out = [f"{base[i % len(base)]} {' '.join(rng.choice(base[i % len(base)].split(), 5))}" for i in range(n)]
    return pd.DataFrame({"text": out, "n": np.arange(n)})


def _median(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _cpu(client: Any = None) -> float:
    """CPU seconds used so far by this process, plus the scheduler and every worker of ``client``."""
    def mine() -> tuple[int, float]:
        return os.getpid(), time.process_time()

    per_pid = dict([mine()])
    if client is not None:  # the scheduler of a LocalCluster runs in this process: count each process once
        per_pid.update(client.run(mine).values())
        per_pid.update([client.run_on_scheduler(mine)])
    return sum(per_pid.values())


def _timed(fn: Any, client: Any = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``fn()``."""
    c, t = _cpu(client), time.perf_counter()
    fn()
    return time.perf_counter() - t, _cpu(client) - c


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


def _embedding(df: pd.DataFrame, model: str, repeats: int, partitions: int) -> dict[str, Any]:
    """Wall and CPU seconds (medians) of each way to embed ``df``, the runs alternating within a repeat."""
    import dask.dataframe as dd

    from vecnb.dask import task_threads
    from vecnb.embed import get_embedder

    emb = get_embedder(model)
    clusters = {w: _cluster(w) for w in (1, 2)}
    try:
        ddf = dd.from_pandas(df, npartitions=partitions)
        for w, (_, client) in clusters.items():  # warm: the model on each worker
            client.compute(dd.from_pandas(df.head(2 * w), npartitions=w).vec.embed(
                "text", model=model, cache=False)).result()
        df.vec.embed("text", model=emb, cache=False, progress=False)

        def single(threads: int | None) -> Any:
            def run() -> None:
                with task_threads(emb, threads):
                    df.vec.embed("text", model=emb, cache=False, progress=False)
            return run

        def dask(workers: int, threads: int | None) -> Any:
            client = clusters[workers][1]
            return lambda: client.compute(ddf.vec.embed("text", model=model, cache=False, threads=threads)).result()

        runs = {"single_process": (single(None), None), "single_process_1_thread": (single(1), None),
                "workers_1": (dask(1, 1), clusters[1][1]), "workers_2": (dask(2, 1), clusters[2][1]),
                "workers_2_uncapped": (dask(2, None), clusters[2][1])}
        got: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
        for _ in range(repeats):
            for name, (fn, client) in runs.items():
                got[name].append(_timed(fn, client))
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    out: dict[str, Any] = {}
    for name, vals in got.items():
        out[f"{name}_s"] = statistics.median(v[0] for v in vals)
        out[f"{name}_cpu_s"] = statistics.median(v[1] for v in vals)
    return out


def _embedding_figures(texts: int, model: str, repeats: int, partitions: int) -> dict[str, Any]:
    res = _embedding(_texts(texts), model, repeats, partitions)
    res["speedup_2_vs_1"] = res["workers_1_s"] / res["workers_2_s"]
    res["overhead_1_worker_vs_single_1_thread"] = res["workers_1_s"] / res["single_process_1_thread_s"] - 1
    res["overhead_1_worker_vs_single"] = res["workers_1_s"] / res["single_process_s"] - 1
    res["cpu_overhead_1_worker_vs_single_1_thread"] = (res["workers_1_cpu_s"] / res["single_process_1_thread_cpu_s"]
                                                       - 1)
    res["thread_cap_speedup_2_workers"] = res["workers_2_uncapped_s"] / res["workers_2_s"]
    res["texts_per_s_single"] = texts / res["single_process_s"]
    res["texts_per_s_2_workers"] = texts / res["workers_2_s"]
    return res


def run(texts: int = 4000, ingest_rows: int = 20000, model: str = "wordllama", url: str | None = None,
        repeats: int = 3, partitions: int = 8, ingest_kinds: tuple[str, ...] | list[str] = ("exact",)
        ) -> dict[str, Any]:
    import vecnb  # noqa: F401 - registers df.vec / ddf.vec

    res: dict[str, Any] = {"load_before": os.getloadavg()[0], "texts": texts, "model": model,
                           "cpus": os.cpu_count(), "repeats": repeats, "partitions": partitions}
    if texts:
        res.update(_embedding_figures(texts, model, repeats, partitions))
    if ingest_rows:
        res.update(_ingest(ingest_rows, url, partitions, repeats=repeats, kinds=tuple(ingest_kinds)))
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


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--texts", type=int, default=4000)
    p.add_argument("--ingest-rows", type=int, default=20000)
    p.add_argument("--model", default="wordllama")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ingest-kinds", default="exact", help="comma-separated: exact,hnsw")
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--url", default=None)
    p.add_argument("--out")
    a = p.parse_args()
    res = run(texts=a.texts, ingest_rows=a.ingest_rows, model=a.model, repeats=a.repeats, partitions=a.partitions,
              url=a.url, ingest_kinds=a.ingest_kinds.split(","))
    text = json.dumps(res, indent=2, default=float)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
