"""Day two: reopening a pgvector index from its table vs rebuilding it from the frame.

::

    res = vecnb.bench.reopen.run(rows=100_000, dim=384, url=URL)   # dict of figures
    python -m vecnb.bench.reopen --rows 100000 --dim 384 --out build/reopen.json

What is timed, on clustered synthetic data (``vecnb.bench.clustered``) with string labels, a
text column and metadata columns (category, number, datetime), in ONE run on one server:

* **rebuild** (the baseline) -- ``df.vec.index(store="pgvector", kind="hnsw", text="text",
  mode="replace")``: COPY of the rows, the index record, the HNSW build (measured once: it is
  the slow side);
* **reopen** -- ``vecnb.open_index("pgvector", url=..., table=...)`` plus a first search (median
  of ``repeats`` in this process), and in a fresh Python process (``import vecnb`` included);
* **check** -- the reopened index answers with the same labels and scores as the built one.

Needs PostgreSQL + pgvector: ``url=`` / ``$VECNB_PG_URL``, else a throwaway server from
``vecnb.servers.start()``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["run", "frame"]

_REOPEN = """
import sys, time
t0 = time.perf_counter()
import vecnb
idx = vecnb.open_index("pgvector", url=sys.argv[1], table=sys.argv[2])
idx.search(idx.store.fetch(idx._keys[:1])[0], k=10)
print(time.perf_counter() - t0)
"""


def frame(rows: int, dim: int, seed: int = 0) -> pd.DataFrame:
    """Clustered vectors with str labels, a short text, a category, a number and a datetime per row."""
    from vecnb.bench._data import clustered

    df = clustered(rows, dim, seed=seed, column="emb")
    rng = np.random.default_rng(seed)
    words = np.array("alpha beta gamma delta index vector search table server reopen label frame".split())
    df["text"] = [" ".join(w) for w in words[rng.integers(0, len(words), size=(rows, 6))]]
    df["when"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, rows), unit="min")
    df.index = pd.Index([f"doc-{i:07d}" for i in range(rows)], name="doc_id")
    return df


def run(rows: int = 100_000, dim: int = 384, *, url: str | None = None, table: str = "vecnb_bench_reopen",
        repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Measure reopen vs rebuild (see the module docstring); returns a dict of figures (seconds)."""
    import vecnb
    from vecnb.bench._machine import machine_info

    load_before = os.getloadavg()
    stop = None
    if url is None:
        url = os.environ.get("VECNB_PG_URL")
    if url is None:
        url, stop = vecnb.servers.start(settings={"maintenance_work_mem": "1GB"})
    try:
        df = frame(rows, dim, seed)
        Q = df.vec.matrix("emb")[:: max(1, rows // 20)][:20]
        t0 = time.perf_counter()
        built = df.vec.index(store="pgvector", url=url, table=table, kind="hnsw", text="text", mode="replace")
        rebuild_s = time.perf_counter() - t0
        want = built.search(Q, k=10)
        built.close()
        opens, firsts = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            idx = vecnb.open_index("pgvector", url=url, table=table)
            t1 = time.perf_counter()
            got = idx.search(Q[:1], k=10)
            t2 = time.perf_counter()
            opens.append(t1 - t0)
            firsts.append(t2 - t0)
        same = idx.search(Q, k=10)
        identical = bool(same.index.equals(want.index) and np.allclose(same["score"], want["score"], atol=1e-6))
        rows_ok = len(idx) == rows and len(got) == 10
        idx.close()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([p for p in sys.path if p])}
        fresh = []
        for _ in range(max(1, repeats // 2)):
            out = subprocess.run([sys.executable, "-c", _REOPEN, url, table], capture_output=True, text=True, env=env,
                                 timeout=600)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
            fresh.append(float(out.stdout.strip().splitlines()[-1]))
        reopen = statistics.median(firsts)
        return {"rows": rows, "dim": dim, "rebuild_s": rebuild_s, "reopen_open_s": statistics.median(opens),
                "reopen_first_search_s": reopen, "reopen_fresh_process_s": statistics.median(fresh),
                "speedup_vs_rebuild": rebuild_s / reopen, "identical_results": identical, "rows_ok": rows_ok,
                "repeats": repeats, "load_average_before": load_before, "load_average_after": os.getloadavg(),
                "machine": machine_info()}
    finally:
        if stop is not None:
            stop()


if __name__ == "__main__":  # pragma: no cover - CLI
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--url", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    res = run(a.rows, a.dim, url=a.url, repeats=a.repeats)
    text = json.dumps(res, indent=1, default=str)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as fh:
            fh.write(text)
    print(text)
