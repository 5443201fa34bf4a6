"""Scale-out figures for ``ddf.vec`` (issue 17), each against a baseline measured in the same run.

::

    res = vecnb.bench.dask_scale.run(texts=4000, ingest_rows=20000, url=URL)   # dict of figures
    python -m vecnb.bench.dask_scale --texts 4000 --ingest-rows 20000 --out build/dask_scale.json

* **embedding**: the same texts embedded by ``df.vec.embed`` in this process (baseline), by
  ``ddf.vec.embed`` on a ``LocalCluster`` of 1 worker process, then of 2 (1 thread each; disk
  cache off; each model loaded on its workers before timing). Medians of ``repeats``.
* **ingest**: the same embedded rows into pgvector by ``df.vec.index(store="pgvector")`` in this
  process (baseline) and by ``ddf.vec.to_store("pgvector")`` from 2 workers (HNSW built at the
  end in both). Rows/s.
* the 1-minute load average before and after: on a shared machine the figures move with it.
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


def run(texts: int = 4000, ingest_rows: int = 20000, model: str = "wordllama", url: str | None = None,
        repeats: int = 3, partitions: int = 8) -> dict[str, Any]:
    import dask.dataframe as dd
    import distributed

    import vecnb  # noqa: F401 - registers df.vec / ddf.vec

    res: dict[str, Any] = {"load_before": os.getloadavg()[0], "texts": texts, "model": model,
                           "cpus": os.cpu_count(), "repeats": repeats}
    df = _texts(texts)
    res["single_process_s"] = _median(lambda: df.vec.embed("text", model=model, cache=False, progress=False), repeats)
    for workers in (1, 2):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None, silence_logs=40) as cluster, \
                distributed.Client(cluster):
            ddf = dd.from_pandas(df, npartitions=partitions)
            dd.from_pandas(df.head(2 * workers), npartitions=workers).vec.embed(
                "text", model=model, cache=False).compute()  # warm: the model on each worker
            res[f"workers_{workers}_s"] = _median(
                lambda: ddf.vec.embed("text", model=model, cache=False).compute(), repeats)
    res["speedup_2_vs_1"] = res["workers_1_s"] / res["workers_2_s"]
    res["overhead_1_worker"] = res["workers_1_s"] / res["single_process_s"] - 1
    res["texts_per_s_single"] = texts / res["single_process_s"]
    res["texts_per_s_2_workers"] = texts / res["workers_2_s"]
    if ingest_rows:
        res.update(_ingest(ingest_rows, url, partitions))
    res["load_after"] = os.getloadavg()[0]
    return res


def _ingest(rows: int, url: str | None, partitions: int) -> dict[str, Any]:
    import dask.dataframe as dd
    import distributed

    import vecnb

    stop = None
    if url is None:
        url = os.environ.get("VECNB_PG_URL")
    if url is None:
        url, stop = vecnb.servers.start()
    try:
        df = _texts(rows, seed=1).vec.embed("text", model="hashing", cache=False, progress=False)
        t = time.perf_counter()
        idx = df.vec.index(store="pgvector", url=url, table=f"bench_{uuid.uuid4().hex[:8]}", kind="hnsw",
                           progress=False)
        single = time.perf_counter() - t
        idx.store.drop()
        idx.close()
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None, silence_logs=40) as cluster, \
                distributed.Client(cluster):
            ddf = dd.from_pandas(df, npartitions=partitions).persist()  # vectors ready: time the ingest only
            t = time.perf_counter()
            idx = ddf.vec.to_store("pgvector", url=url, table=f"bench_{uuid.uuid4().hex[:8]}", kind="hnsw",
                                   progress=False)
            dist = time.perf_counter() - t
            report = idx.ingest_report.to_dict()
            idx.store.drop()
            idx.close()
        return {"ingest_rows": rows, "ingest_single_s": single, "ingest_single_rows_per_s": rows / single,
                "ingest_2_workers_s": dist, "ingest_2_workers_rows_per_s": rows / dist, "ingest_report": report}
    finally:
        if stop is not None:
            stop()


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--texts", type=int, default=4000)
    p.add_argument("--ingest-rows", type=int, default=20000)
    p.add_argument("--model", default="wordllama")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out")
    a = p.parse_args()
    res = run(texts=a.texts, ingest_rows=a.ingest_rows, model=a.model, repeats=a.repeats)
    text = json.dumps(res, indent=2, default=float)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
