"""Memory of an index beside the raw library, and memory-mapped loading, one process per case.

::

    res = vecnb.bench.memory(rows=200_000, dim=384, kinds=["flat", "hnsw", "sq8", "pq"])
    mm = vecnb.bench.mmap_open(rows=1_000_000, dim=384, folder="build/mmap")   # builds once

From a shell (what the issue-20 figures came from)::

    python -m vecnb.bench._memory memory --rows 200000 --dim 384 --out build/memory.json
    python -m vecnb.bench._memory mmap --rows 1000000 --dim 384 --folder build/mmap

Every case runs in a fresh Python process, so one case's allocator slack does not count
against the next. Measured per case:

* ``rss_delta_bytes`` — resident memory after the build minus before it (the data frame,
  which the user holds anyway, is made before the first reading); ``peak_delta_bytes`` —
  the process's peak RSS (``ru_maxrss``) minus the same baseline: the build's transient;
* ``memory_bytes`` — the index's own size: ``info()["memory_bytes"]`` when the store reports
  it, else the size of ``store.save()`` on disk; for raw faiss ``faiss.serialize_index``;
* ratios to the raw float32 data (``rows * dim * 4``).

The script uses only the public API (``vecnb.bench.clustered``, ``df.vec.index``), so it
also measures another vecnb checkout: ``PYTHONPATH=<checkout> python <this file> ...``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

__all__ = ["memory", "mmap_open"]

KINDS = ("flat", "hnsw", "sq8", "pq")
#: IVF settings fixed for both sides (training 1,800 lists on 200k rows would only cost time)
IVF = {"nlist": 256, "nprobe": 16}
PQ_M = 48


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _dir_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def _case(impl: str, kind: str, rows: int, dim: int) -> dict[str, Any]:
    """One build in this process; a dict of figures."""
    import numpy as np

    import vecnb

    df = vecnb.bench.clustered(rows, dim, seed=0)
    X = df.vec.matrix("emb")
    import faiss  # noqa: F401 - libraries load before the first reading, not inside a build

    df.head(50).vec.index(store="faiss", kind="flat", metric="cosine", column="emb", progress=False).close()
    gc.collect()
    rss0 = _rss()
    t0 = time.perf_counter()
    opts: dict[str, Any] = dict(IVF) if kind in ("sq8", "pq") else {}
    if kind == "pq":
        opts["pq_m"] = PQ_M
    if impl == "faiss":
        import faiss

        d = X.shape[1]
        Xn = np.ascontiguousarray(X / np.linalg.norm(X, axis=1, keepdims=True), dtype=np.float32)
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 64
        else:
            spec = "SQ8" if kind == "sq8" else f"PQ{PQ_M}x8np"
            index = faiss.index_factory(d, f"IVF{IVF['nlist']},{spec}", faiss.METRIC_INNER_PRODUCT)
            index.train(Xn)
        index.add(Xn)
        del Xn
        build_s = time.perf_counter() - t0
        gc.collect()
        rss1 = _rss()
        mem, method = int(faiss.serialize_index(index).nbytes), "faiss.serialize_index"
    else:
        idx = df.vec.index(store="faiss", kind=kind, metric="cosine", column="emb", progress=False, **opts)
        build_s = time.perf_counter() - t0
        gc.collect()
        rss1 = _rss()
        info = idx.info()
        if isinstance(info.get("memory_bytes"), int):
            mem, method = info["memory_bytes"], "info()['memory_bytes']"
        else:
            with tempfile.TemporaryDirectory() as tmp:
                idx.store.save(os.path.join(tmp, "s"))
                mem, method = _dir_size(os.path.join(tmp, "s")), "store.save() on disk"
    raw = rows * dim * 4
    return {"impl": impl, "kind": kind, "rows": rows, "dim": dim, "raw_bytes": raw, "build_s": round(build_s, 2),
            "rss_delta_bytes": rss1 - rss0, "rss_ratio": round((rss1 - rss0) / raw, 3),
            "peak_delta_bytes": _peak() - rss0, "memory_bytes": mem, "memory_ratio": round(mem / raw, 3),
            "memory_method": method, "vecnb": vecnb.__file__, "load_avg_1m": os.getloadavg()[0]}


def _run_child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True,
                         env=env, check=False)
    if out.returncode:
        return {"args": args, "status": "error", "reason": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(rows: int = 200_000, dim: int = 384, kinds: tuple[str, ...] = KINDS, impls: tuple[str, ...] = ("vecnb", "faiss"),
           vecnb_path: str | None = None, before_label: str = "vecnb-before", log: str | None = None):
    """One fresh process per (impl, kind): a DataFrame of RSS and index sizes (see the module docstring).

    ``vecnb_path`` adds the vecnb cases once more with another vecnb checkout first on the
    path (``impl`` = ``before_label``), to measure a version before a change in the same run.
    ``log`` names a JSON-lines file each case is appended to as soon as it ends.
    """
    import pandas as pd

    plan = [(impl, kind, None) for kind in kinds for impl in impls]
    if vecnb_path:
        plan += [(before_label, kind, vecnb_path) for kind in kinds]
    res = []
    for impl, kind, path in plan:
        env = dict(os.environ)
        if path:
            env["PYTHONPATH"] = path + os.pathsep + env.get("PYTHONPATH", "")
        r = _run_child(["case", "--impl", "vecnb" if path else impl, "--kind", kind, "--rows", str(rows),
                        "--dim", str(dim)], env)
        r["impl"] = impl
        r.setdefault("kind", kind)
        res.append(r)
        if log:
            with open(log, "a") as fh:
                fh.write(json.dumps(r) + "\n")
    return pd.DataFrame(res)


# ------------------------------------------------------------------ memory-mapped loading
def _build_saved(rows: int, dim: int, folder: str) -> None:
    import vecnb

    df = vecnb.bench.clustered(rows, dim, seed=1)
    for store in ("numpy", "faiss"):
        path = os.path.join(folder, store)
        if os.path.exists(os.path.join(path, "vecnb-index.json")):
            continue
        opts = {"kind": "flat"} if store == "faiss" else {}
        idx = df.vec.index(store=store, metric="cosine", column="emb", progress=False, **opts)
        idx.save(path)
        idx.close()


def _open_case(path: str, mmap: bool, queries: int, verify: bool = True) -> dict[str, Any]:
    import numpy as np

    import pandas as pd

    import vecnb

    # libraries load (and parquet / faiss initialise) before the clock starts: a tiny index, saved and loaded
    import faiss  # noqa: F401
    with tempfile.TemporaryDirectory() as tmp:
        tiny = pd.DataFrame({"n": range(8)}).vec.attach(np.eye(8, dtype=np.float32), name="emb")
        for store in ("numpy", "faiss"):
            tiny.vec.index(store=store, progress=False).save(os.path.join(tmp, store))
            vecnb.load_index(os.path.join(tmp, store)).close()
    gc.collect()
    rss0 = _rss()
    t0 = time.perf_counter()
    idx = vecnb.load_index(path, mmap=True, verify=verify) if mmap else vecnb.load_index(path, verify=verify)
    open_s = time.perf_counter() - t0
    rss_open = _rss()
    Q = np.random.default_rng(7).standard_normal((queries, idx.dim)).astype(np.float32)
    t0 = time.perf_counter()
    for q in Q:
        idx.search(q, k=10)
    query_s = time.perf_counter() - t0
    return {"path": path, "mmap": mmap, "verify": verify, "open_s": round(open_s, 4), "rss_after_open_bytes": rss_open - rss0,
            "rss_after_queries_bytes": _rss() - rss0, "queries": queries, "ms_per_query": round(1000 * query_s / queries, 3),
            "rows": len(idx), "load_avg_1m": os.getloadavg()[0]}


def mmap_open(rows: int = 1_000_000, dim: int = 384, folder: str = "build/mmap", queries: int = 100):
    """Build numpy and faiss-flat indexes once (kept in ``folder``), then open each fully and
    memory-mapped in fresh processes: open time, RSS after opening and after ``queries`` searches."""
    import pandas as pd

    os.makedirs(folder, exist_ok=True)
    _build_saved(rows, dim, folder)
    res = []
    for store in ("numpy", "faiss"):
        for mm, verify in ((False, True), (False, False), (True, True), (True, False)):
            r = _run_child(["open", "--path", os.path.join(folder, store), "--queries", str(queries)]
                           + (["--mmap"] if mm else []) + ([] if verify else ["--no-verify"]))
            r["store"] = store
            res.append(r)
    return pd.DataFrame(res)


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vecnb.bench._memory")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("case")
    c.add_argument("--impl", required=True)
    c.add_argument("--kind", required=True)
    c.add_argument("--rows", type=int, required=True)
    c.add_argument("--dim", type=int, required=True)
    m = sub.add_parser("memory")
    m.add_argument("--rows", type=int, default=200_000)
    m.add_argument("--dim", type=int, default=384)
    m.add_argument("--kinds", default=",".join(KINDS))
    m.add_argument("--before", default=None, help="another vecnb checkout, measured as impl 'vecnb-before'")
    m.add_argument("--out", default=None)
    m.add_argument("--log", default=None, help="append each case to this JSON-lines file as it ends")
    o = sub.add_parser("open")
    o.add_argument("--path", required=True)
    o.add_argument("--mmap", action="store_true")
    o.add_argument("--queries", type=int, default=100)
    o.add_argument("--no-verify", action="store_true")
    mm = sub.add_parser("mmap")
    mm.add_argument("--rows", type=int, default=1_000_000)
    mm.add_argument("--dim", type=int, default=384)
    mm.add_argument("--folder", default="build/mmap")
    mm.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.cmd == "case":
        print(json.dumps(_case(a.impl, a.kind, a.rows, a.dim)))
    elif a.cmd == "open":
        print(json.dumps(_open_case(a.path, a.mmap, a.queries, verify=not a.no_verify)))
    else:
        import pandas as pd

        if a.cmd == "memory":
            res = memory(a.rows, a.dim, tuple(a.kinds.split(",")), vecnb_path=a.before, log=a.log)
        else:
            res = mmap_open(a.rows, a.dim, a.folder)
        text = res.to_json(orient="records", indent=1)
        if a.out:
            os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
            with open(a.out, "w") as fh:
                fh.write(text)
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(res.drop(columns=[c for c in ("vecnb", "reason", "args") if c in res.columns]))


if __name__ == "__main__":
    _main()
