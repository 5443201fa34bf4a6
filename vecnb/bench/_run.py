"""``vecnb.bench.run``: every store and kind on one data set, beside raw libraries and peers."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import filters as _filters
from vecnb._core import metrics as _metrics
from vecnb.bench._machine import blas_summary, faiss_threads, machine_info, machine_summary
from vecnb.bench._systems import (
    Case,
    ChromaClient,
    FilterCase,
    Hnswlib,
    LangchainFaiss,
    RawFaiss,
    RawPgvector,
    RawNumpy,
    SkipSystem,
    System,
    VecnbIndex,
    VecnbSearch,
    find_faiss_index,
)
from vecnb.bench._timing import latencies, recall_at_k, rss_bytes, time_calls
from vecnb._core.progress import progress_bar
from vecnb._core.validation import positive_int
from vecnb.errors import InvalidInputError, MissingDependencyError, StoreConnectionError, UnknownStoreError

__all__ = ["PEERS", "RESULT_COLUMNS", "overhead", "run"]

#: names accepted by ``peers=``: raw libraries and peer products measured beside vecnb
PEERS = ("numpy", "faiss", "hnswlib", "chromadb", "langchain", "psycopg")

#: the columns of a :func:`run` result, in order
RESULT_COLUMNS = [
    "system", "impl", "store", "kind", "filter", "selectivity", "status", "reason",
    "n", "dim", "k", "queries", "metric",
    "build_s", "ingest_rows_per_s", "memory_bytes", "memory_ratio", "memory_method", "memory_ratio_to_baseline",
    "rss_delta_bytes",
    "recall", "qps", "batch_s", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "single_recall", "latency_samples",
    "store_p50_ms",
    "baseline", "qps_ratio_to_baseline", "p50_ratio_to_baseline", "p50_overhead_ms", "build_ratio_to_baseline",
    "recall_delta_to_baseline",
    "params", "notes", "threads", "single_threads", "blas", "machine", "load_avg_1m",
]

_SKIP_ERRORS = (MissingDependencyError, StoreConnectionError, UnknownStoreError, SkipSystem, ImportError,
                ConnectionError)


@contextlib.contextmanager
def _native_stderr(sink: list[str]) -> Iterator[None]:
    """Collect what native code (faiss's C++ ``WARNING clustering ...``) writes to file descriptor 2.

    Python's own ``sys.stderr`` is flushed first; the lines are appended to ``sink`` when the
    block ends. Used around builds only, so progress bars are never swallowed.
    """
    fd = 2  # native code writes to the process's file descriptor 2, whatever sys.stderr is
    try:
        sys.stderr.flush()
        saved = os.dup(fd)
    except (AttributeError, OSError, ValueError):  # no descriptor 2 (a detached process): nothing to catch
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, fd)
                os.close(saved)
            tmp.seek(0)
            sink.extend(line for line in tmp.read().decode("utf-8", "replace").splitlines() if line.strip())


def _summarise_native(lines: list[str]) -> list[dict[str, Any]]:
    """Distinct native messages with how often each was printed; other output goes back to stderr."""
    counts: dict[str, int] = {}
    for line in lines:
        if "WARNING" in line or "clustering" in line:
            counts[line.strip()] = counts.get(line.strip(), 0) + 1
        else:
            print(line, file=sys.stderr)
    summary = [{"message": m, "count": c} for m, c in counts.items()]
    if summary:
        total = sum(c for c in counts.values())
        first = summary[0]["message"]
        warnings.warn(f"faiss printed {total} warning line(s) while building ({len(summary)} distinct), e.g. "
                      f"{first!r}: small data for the IVF kinds' lists (they still build and are measured). "
                      "All of them: result.attrs['vecnb_bench']['native_warnings'].", RuntimeWarning, stacklevel=3)
    return summary


def _filter_label(where: dict | None) -> str:
    return "none" if not where else json.dumps(where, sort_keys=True, separators=(",", ":"), default=str)


def _filter_cases(frame: pd.DataFrame, X: np.ndarray, Q: np.ndarray, filters: Sequence[Any], k: int,
                  metric: str) -> list[FilterCase]:
    cases = []
    seen = set()
    for where in filters:
        label = _filter_label(where)
        if label in seen:
            continue
        seen.add(label)
        node = _filters.parse(where)
        mask = None if node is None else np.asarray(_filters.to_mask(node, frame), dtype=bool)
        rows = None if mask is None else np.flatnonzero(mask)
        sel = 1.0 if mask is None else float(mask.mean())
        truth, scores = _metrics.topk(X, Q, k, metric, rows=rows)
        if truth.shape[1] < k:  # fewer rows pass than k
            pad = k - truth.shape[1]
            truth = np.pad(truth, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        cases.append(FilterCase(where=where, label=label, mask=mask, selectivity=sel, truth=truth,
                                truth_scores=scores))
    return cases


def _prepare(df: pd.DataFrame | None, column: str | None, queries: Any, rows: int, dim: int, seed: int
             ) -> tuple[pd.DataFrame, str, np.ndarray, np.ndarray, str]:
    """(frame, column, X, Q, where the data came from)."""
    from vecnb.bench._data import clustered
    from vecnb.frame.columns import resolve_column

    if df is None:
        nq = int(queries) if not hasattr(queries, "shape") else 0
        full = clustered(rows + nq, dim, seed=seed)
        col = "emb"
        M = full.vec.matrix(col)
        Q = np.array(M[:nq]) if nq else None
        frame = full.iloc[nq:].reset_index(drop=True)
        source = f"clustered(n={rows}, d={dim}, seed={seed}); {nq} held-out queries from the same clusters"
    else:
        if not isinstance(df, pd.DataFrame):
            raise InvalidInputError(f"run() takes a DataFrame or None, got {type(df).__name__}.")
        if len(df) == 0:
            raise InvalidInputError("The DataFrame is empty: there is nothing to benchmark.")
        if not df.index.is_unique:
            raise InvalidInputError("The DataFrame's index has duplicate labels; an index needs unique row labels "
                                    "(df.reset_index(drop=True) gives every row its own).")
        frame = df
        col = resolve_column(df, column)
        Q = None
        source = f"user frame ({len(df)} rows, column {col!r})"
    X = frame.vec.matrix(col)
    if Q is None:
        if hasattr(queries, "shape") or isinstance(queries, (list, tuple)):
            Q = _metrics.as_matrix(queries, dim=X.shape[1], what="benchmark queries")
            source += f"; {len(Q)} given queries"
        else:
            if isinstance(queries, bool) or not isinstance(queries, (int, np.integer)) or queries <= 0:
                raise InvalidInputError(f"queries must be a positive int or an (nq, d) array, got {queries!r}.")
            if len(X) < 2:
                raise InvalidInputError("The DataFrame needs at least 2 rows: queries are held out from it.")
            nq = min(int(queries), max(1, len(X) // 5))
            pick = np.sort(np.random.default_rng(seed).choice(len(X), size=nq, replace=False))
            Q = np.array(X[pick])
            keep = np.ones(len(X), dtype=bool)
            keep[pick] = False
            frame = frame.iloc[np.flatnonzero(keep)]
            X = frame.vec.matrix(col)
            source += (f"; {nq} held-out queries: rows sampled from it (seed {seed}) and left out of every "
                       "index, so no query finds itself")
    return frame, col, X, np.ascontiguousarray(Q, dtype=np.float32), source


def _kinds_for(cls: type, kinds: Any, store: str) -> list[str]:
    """The kinds to measure for one store: each distinct index once (aliases such as sqlite's
    ``flat`` for ``exact``, declared in the store's ``kind_aliases``, are measured once)."""
    aliases = dict(getattr(cls, "kind_aliases", None) or {})
    known = [k for k in getattr(cls, "kinds", ("auto",)) if k != "auto"] or ["auto"]
    if kinds in (None, "all"):
        return [k for k in known if k not in aliases]
    if isinstance(kinds, dict):
        want = kinds.get(store, "all")
        return _kinds_for(cls, want, store)
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    out = [aliases.get(k, k) for k in kinds if k == "auto" or k in known]
    return list(dict.fromkeys(out))


def _peer_set(peers: Any) -> set[str]:
    if peers is True:
        return set(PEERS)
    if not peers:
        return set()
    if isinstance(peers, str):
        peers = [peers]
    bad = [p for p in peers if p not in PEERS]
    if bad:
        raise InvalidInputError(f"Unknown peers {bad}; choose from {list(PEERS)}.")
    return set(peers)


def _chroma_params(system: VecnbIndex | None) -> dict[str, int]:
    """M / ef parameters of vecnb's chroma collection (chroma's defaults when unknown)."""
    out = {"M": 16, "ef_construction": 100, "ef_search": 100}
    store = system.store_object if system is not None and system.idx is not None else None
    if store is None:
        return out
    params = system.info().get("params") if system is not None else None
    if isinstance(params, dict) and "max_neighbors" in params:
        out.update(M=int(params["max_neighbors"]), ef_construction=int(params.get("ef_construction", 100)),
                   ef_search=int(params.get("ef_search", 100)))
        return out
    cands = [store] + [v for v in vars(store).values()] if hasattr(store, "__dict__") else [store]
    for obj in cands:
        conf = getattr(obj, "configuration", None)
        if isinstance(conf, dict) and isinstance(conf.get("hnsw"), dict):
            h = conf["hnsw"]
            out.update(M=int(h.get("max_neighbors", out["M"])), ef_construction=int(h.get("ef_construction", 100)),
                       ef_search=int(h.get("ef_search", 100)))
            break
    return out


def _context(machine: dict[str, Any]) -> dict[str, Any]:
    try:
        import faiss

        threads = int(faiss.omp_get_max_threads())
    except ImportError:
        threads = machine.get("blas", {}).get("num_threads") if machine.get("blas") else None
    return {"threads": threads, "blas": blas_summary(machine), "machine": machine_summary(machine)}


def _measure(system: System, case: Case, fcases: list[FilterCase], *, repeats: int, budget_s: float,
             base: dict[str, Any], native: list[str] | None = None) -> list[dict[str, Any]]:
    """Build ``system`` and measure it under every filter; one row per filter."""
    rows: list[dict[str, Any]] = []
    head = dict(base, system=system.name, impl=system.impl, store=system.store, kind=system.kind,
                single_threads=system.single_threads)

    def row(filt: FilterCase, **kw: Any) -> dict[str, Any]:
        r = dict(head, filter=filt.label, selectivity=filt.selectivity, load_avg_1m=os.getloadavg()[0])
        r.update(kw)
        return r

    gc.collect()
    rss0 = rss_bytes()
    try:
        with _native_stderr(native if native is not None else []):
            t0 = time.perf_counter()
            system.build()
            build_s = time.perf_counter() - t0
    except _SKIP_ERRORS as exc:
        return [row(f, status="skipped", reason=f"{type(exc).__name__}: {exc}") for f in fcases]
    except Exception as exc:  # noqa: BLE001 - recorded in the row, never silent
        return [row(f, status="error", reason=f"build failed: {type(exc).__name__}: {exc}") for f in fcases]
    gc.collect()
    rss1 = rss_bytes()
    try:
        mem, method = system.memory()
    except Exception as exc:  # noqa: BLE001
        mem, method = None, f"memory failed: {exc}"
    n = len(case.X)
    raw_bytes = case.X.shape[0] * case.X.shape[1] * 4
    try:
        params = json.dumps(system.params(), sort_keys=True, default=str)
    except Exception:  # noqa: BLE001
        params = "{}"
    common = dict(build_s=build_s, ingest_rows_per_s=n / build_s if build_s > 0 else np.nan,
                  memory_bytes=mem, memory_ratio=(mem / raw_bytes) if mem is not None else np.nan,
                  memory_method=method,
                  rss_delta_bytes=(rss1 - rss0) if rss0 is not None and rss1 is not None else None,
                  params=params)
    Q, k, nq = case.Q, case.k, len(case.Q)
    for filt in fcases:
        if filt.mask is not None and not system.supports_filters:
            rows.append(row(filt, status="skipped", reason="this system has no filtered search", **common))
            continue
        try:
            med, _, res = time_calls(lambda filt=filt: system.batch(Q, k, filt), repeats=repeats, warmup=1,
                                     budget_s=budget_s)
            pos = system.positions(res, nq, k, batch=True)
            recall = recall_at_k(pos, filt.truth, filt.truth_scores, X=case.X, Q=Q, metric=case.metric,
                                 allowed=filt.mask)
            with faiss_threads(system.single_threads) if system.single_threads else contextlib.nullcontext():
                stats, outs = latencies(lambda i, filt=filt: system.one(Q[i], k, filt), nq, repeats=repeats,
                                        warmup=min(10, nq), budget_s=budget_s)
            m = len(outs)
            spos = np.concatenate([system.positions(o, 1, k, batch=False) for o in outs]) if m else None
            srec = recall_at_k(spos, filt.truth[:m], filt.truth_scores[:m], X=case.X, Q=Q[:m],
                               metric=case.metric, allowed=filt.mask) if m else np.nan
            extra = _store_latency(system, case, filt, repeats=max(1, repeats // 2), budget_s=budget_s / 2)
        except _SKIP_ERRORS as exc:
            rows.append(row(filt, status="skipped", reason=f"{type(exc).__name__}: {exc}", **common))
            continue
        except Exception as exc:  # noqa: BLE001 - recorded, never silent
            rows.append(row(filt, status="error", reason=f"search failed: {type(exc).__name__}: {exc}", **common))
            continue
        rows.append(row(filt, status="ok", reason="", recall=recall, qps=nq / med, batch_s=med,
                        p50_ms=stats["p50_ms"], p95_ms=stats["p95_ms"], p99_ms=stats["p99_ms"],
                        mean_ms=stats["mean_ms"], single_recall=srec,
                        latency_samples=int(stats["samples"] * stats["repeats"]), store_p50_ms=extra,
                        notes="; ".join(system.notes), **common))
    return rows


def _store_latency(system: System, case: Case, filt: FilterCase, *, repeats: int, budget_s: float) -> float:
    """p50 of vecnb's store alone (``store.search`` on one query, no DataFrame), else NaN."""
    if not isinstance(system, VecnbIndex):
        return np.nan
    store = system.store_object
    if store is None or not callable(getattr(store, "search", None)):
        return np.nan
    node = _filters.parse(filt.where)
    Q, k = case.Q, case.k
    try:
        stats, _ = latencies(lambda i: store.search(Q[i:i + 1], k, where=node), len(Q), repeats=repeats,
                             warmup=min(5, len(Q)), budget_s=budget_s)
    except Exception:  # noqa: BLE001 - the store's internals may want other inputs (e.g. translated filters)
        return np.nan
    return stats["p50_ms"]


def _baseline_name(r: dict[str, Any]) -> str | None:
    if r["impl"] == "raw":
        return None
    if r["store"] in ("numpy", "df.vec.search"):
        return "numpy"
    if r["store"] == "faiss":
        return f"faiss {r['kind']}"
    if r["store"] == "chroma":
        return "chromadb"  # the client a chroma user calls (hnswlib is its engine, a lower bound)
    if r["store"] == "pgvector":
        return f"psycopg {r['kind']}"
    if r["kind"] in ("exact", "flat"):  # an exact store without a raw twin: plain numpy is the reference
        return "numpy"
    return None


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    ok = {(r["system"], r["filter"]): r for r in rows if r.get("status") == "ok"}
    for r in rows:
        name = _baseline_name(r)
        r["baseline"] = name
        b = ok.get((name, r["filter"])) if name else None
        if b is None or r.get("status") != "ok":
            continue
        r["qps_ratio_to_baseline"] = r["qps"] / b["qps"]
        r["p50_ratio_to_baseline"] = r["p50_ms"] / b["p50_ms"]
        r["p50_overhead_ms"] = r["p50_ms"] - b["p50_ms"]
        r["recall_delta_to_baseline"] = r["recall"] - b["recall"]
        if b.get("build_s") and b["build_s"] > 0:
            r["build_ratio_to_baseline"] = r["build_s"] / b["build_s"]
        mem, bmem = r.get("memory_bytes"), b.get("memory_bytes")
        if mem is not None and bmem and _same_footing(r.get("memory_method"), b.get("memory_method")):
            r["memory_ratio_to_baseline"] = mem / bmem


def _same_footing(a: Any, b: Any) -> bool:
    """Whether two memory figures were measured alike (both in memory, or both on disk)."""
    on_disk = ("on disk", "save_index", "file size")
    if not isinstance(a, str) or not isinstance(b, str) or "RSS" in a or "RSS" in b:
        return False
    return any(w in a for w in on_disk) == any(w in b for w in on_disk)


def run(
    df: pd.DataFrame | None = None,
    stores: Sequence[str] | str = ("numpy", "faiss", "chroma"),
    kinds: Any = "all",
    k: int = 10,
    queries: int | np.ndarray = 200,
    filters: Iterable[dict | None] = (None,),
    column: str | None = None,
    repeats: int = 5,
    peers: bool | Sequence[str] = True,
    progress: bool = True,
    *,
    metric: str = "cosine",
    rows: int = 10_000,
    dim: int = 64,
    seed: int = 0,
    options: dict[str, dict[str, Any]] | None = None,
    budget_s: float = 20.0,
    exact_search: bool = True,
) -> pd.DataFrame:
    """Measure every store and index kind on one data set, beside raw libraries and peers.

    Parameters
    ----------
    df : DataFrame or None
        The user's frame with an embedding column. ``None``: built-in clustered data
        (:func:`vecnb.bench.clustered`, ``rows`` x ``dim``) with held-out queries.
    stores : list of str
        Store names (``vecnb.stores.names()``). A store whose dependency or server is missing
        gives rows with ``status="skipped"`` and the reason.
    kinds : "all", str, list or dict
        Index kinds: ``"all"`` = every kind each store declares; a list applies to every
        store that has the kind; a dict maps store -> kinds.
    k : int
        Neighbours per query (recall@k).
    queries : int or array (nq, d)
        Number of query vectors (held out from synthetic data; sampled rows of ``df``), or
        the query vectors themselves.
    filters : list of dict or None
        ``where`` filters to measure; ``None`` is unfiltered search. Filtered recall is
        against exact search among the rows that pass.
    column : str, optional
        The embedding column of ``df`` (needed when it has several).
    repeats : int
        Timed repeats per measurement (a warm-up run is discarded first; medians reported).
    peers : bool or list of str
        Also measure raw libraries and peer products (see :data:`PEERS`): ``numpy``
        (X@q + argpartition), ``faiss`` (same index and parameters as vecnb's), ``hnswlib``
        (chroma's engine, chroma's parameters), ``chromadb`` (its own client), ``langchain``
        (LangChain's FAISS vector store), ``psycopg`` (plain SQL on vecnb's pgvector table).
        Missing ones give skipped rows.
    progress : bool
        A ``tqdm`` progress bar over the systems.
    metric : {"cosine", "dot", "l2"}
    rows, dim, seed
        Size and seed of the synthetic data when ``df`` is None (``seed`` also picks queries).
    options : dict, optional
        Store name -> keyword options for ``df.vec.index`` (e.g. ``{"pgvector": {"url": ...}}``).
    budget_s : float
        Seconds one measurement may take before it is cut (fewer repeats / queries; the
        samples used are recorded in ``latency_samples``).
    exact_search : bool
        Also measure ``df.vec.search`` (exact, no index) when the ``numpy`` store is asked.

    Returns
    -------
    DataFrame
        One row per (system, filter), columns :data:`RESULT_COLUMNS`: ``build_s`` (seconds to
        build / ingest everything), ``ingest_rows_per_s``, ``memory_bytes`` and
        ``memory_ratio`` (to the raw float32 data) with ``memory_method`` saying how it was
        measured, ``recall`` (batch, tie-aware recall@k against exact), ``qps`` (batch
        throughput), ``p50_ms`` / ``p95_ms`` / ``p99_ms`` (single-query latency, DataFrame
        result included for vecnb), ``store_p50_ms`` (vecnb's store alone), and against the
        ``baseline`` system (the raw library under the same store and kind):
        ``qps_ratio_to_baseline`` (> 1 is faster), ``p50_ratio_to_baseline`` and
        ``p50_overhead_ms`` (vecnb's overhead), ``build_ratio_to_baseline``. ``attrs``
        holds the machine description and the configuration; :func:`vecnb.bench.save`
        writes both to JSON.

    Notes
    -----
    Ground truth is computed once per filter with :func:`vecnb.metrics.topk`. Single-query
    latency of raw faiss runs with 1 OpenMP thread (faiss's slow path when queries <
    threads); everything else runs with its library's defaults, as its users get it.

    Examples
    --------
    >>> res = vecnb.bench.run(stores=["numpy"], rows=200, dim=8, queries=5, repeats=1, peers=False, progress=False)
    >>> res[["system", "status", "recall"]]
                    system status  recall
    0  vecnb df.vec.search     ok     1.0
    1    vecnb numpy exact     ok     1.0
    """
    if isinstance(stores, str):
        stores = [stores]
    positive_int(k, "k")
    positive_int(repeats, "repeats")
    metric = _metrics.resolve_metric(metric)
    peer_set = _peer_set(peers)
    filters = [None] if filters is None else list(filters)
    machine = machine_info()
    frame, col, X, Q, source = _prepare(df, column, queries, rows, dim, seed)
    fcases = _filter_cases(frame, X, Q, filters, int(k), metric)
    case = Case(frame=frame, column=col, X=X, Q=Q, metric=metric, k=int(k), options=dict(options or {}))
    base = dict(n=len(X), dim=X.shape[1], k=int(k), queries=len(Q), metric=metric, **_context(machine))

    plan, failed = _plan(stores, kinds, peer_set, exact_search, fcases, base)
    measured, native_summary = _execute(plan, case, fcases, base, repeats=int(repeats), budget_s=budget_s,
                                        progress=progress)
    results = failed + measured
    _add_ratios(results)
    out = pd.DataFrame(results)
    for c in RESULT_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    out = out[RESULT_COLUMNS]
    out.attrs["vecnb_bench"] = {
        "machine": machine,
        "config": {"source": source, "stores": list(stores), "kinds": kinds if not isinstance(kinds, tuple)
                   else list(kinds), "k": int(k), "queries": len(Q), "filters": [f.where for f in fcases],
                   "metric": metric, "repeats": int(repeats), "peers": sorted(peer_set), "budget_s": budget_s,
                   "n": len(X), "dim": int(X.shape[1]), "seed": seed},
        "native_warnings": native_summary,
    }
    return out


def _plan(stores: Sequence[str], kinds: Any, peer_set: set[str], exact_search: bool,
          fcases: list[FilterCase], base: dict[str, Any]) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """``(plan, rows)``: the systems to measure as ``(what, arg)`` in order (a raw library or peer
    right after the vecnb store it mirrors, so it can copy that index's parameters), and the
    rows of stores that cannot run (unknown, missing dependency, none of the kinds asked)."""
    from vecnb import stores as _stores

    plan: list[tuple[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for name in stores:
        try:
            cls = _stores.get(name)
        except Exception as exc:  # noqa: BLE001 - unknown store / missing dependency: a skipped row
            status = "skipped" if isinstance(exc, _SKIP_ERRORS) else "error"
            failed += [dict(base, system=f"vecnb {name}", impl="vecnb", store=name, kind="-",
                            filter=f.label, selectivity=f.selectivity, status=status,
                            reason=f"{type(exc).__name__}: {exc}") for f in fcases]
            continue
        store = getattr(cls, "name", name) if getattr(cls, "name", "base") != "base" else name
        if store == "numpy" and exact_search:
            plan.append(("search", None))
        store_kinds = _kinds_for(cls, kinds, name)
        if not store_kinds:
            failed += [dict(base, system=f"vecnb {name}", impl="vecnb", store=name, kind="-",
                            filter=f.label, selectivity=f.selectivity, status="skipped",
                            reason=f"none of the kinds asked ({kinds}) is a kind of the {name!r} store; "
                                   f"its kinds: {', '.join(getattr(cls, 'kinds', ()))}") for f in fcases]
        for kind in store_kinds:
            plan.append(("vecnb", (name, kind)))
            plan += _peers_of(store, kind, peer_set)
    if not any(p[0] == "numpy" for p in plan) and "numpy" in peer_set and plan:
        plan.insert(0, ("numpy", None))
    return plan, failed


def _peers_of(store: str, kind: str, peer_set: set[str]) -> list[tuple[str, Any]]:
    """The raw libraries and peer products measured beside vecnb's ``store`` / ``kind``."""
    if store == "faiss" and "faiss" not in peer_set:  # langchain runs over the raw faiss index
        return []
    wanted = {
        "numpy": [("numpy", None)],
        "faiss": [("faiss", kind)] + ([("langchain", kind)] if kind in ("flat", "hnsw") else []),
        "pgvector": [("psycopg", kind)],
        "chroma": [("hnswlib", kind), ("chromadb", kind)],
    }.get(store, [])
    return [p for p in wanted if p[0] in peer_set]


def _make_system(what: str, arg: Any, case: Case, last_vecnb: dict[str, VecnbIndex],
                 raws: dict[str, RawFaiss]) -> System:
    """The system of one plan step; raises :class:`SkipSystem` when it cannot be built."""
    if what == "search":
        return VecnbSearch(case, "df.vec.search", "exact")
    if what == "vecnb":
        return VecnbIndex(case, *arg)
    if what == "numpy":
        return RawNumpy(case, "numpy", "exact")
    if what == "faiss":
        tmpl = last_vecnb.get(f"faiss {arg}")
        tmpl_index = find_faiss_index(tmpl.store_object) if tmpl and tmpl.idx is not None else None
        over = tmpl.info().get("params", {}) if tmpl and tmpl.idx is not None else {}
        raws[arg] = RawFaiss(case, "faiss", arg, template=tmpl_index,
                             overrides=over if isinstance(over, dict) else {})
        return raws[arg]
    if what == "langchain":
        raw = raws.get(arg)
        if raw is None or raw.index is None:
            raise SkipSystem("raw faiss index was not built")
        return LangchainFaiss(case, "faiss", arg, raw)
    if what == "psycopg":
        return RawPgvector(case, "pgvector", arg, last_vecnb.get(f"pgvector {arg}"))
    if what == "hnswlib":
        return Hnswlib(case, "chroma", arg, **_chroma_params(last_vecnb.get(f"chroma {arg}")))
    if what == "chromadb":
        return ChromaClient(case, "chroma", arg, **_chroma_params(last_vecnb.get(f"chroma {arg}")))
    raise ValueError(f"unknown plan step {what!r}")


def _skipped_rows(what: str, arg: Any, exc: SkipSystem, fcases: list[FilterCase],
                  base: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``status="skipped"`` row per filter for a raw / peer system that could not be built."""
    label = {"langchain": f"langchain FAISS {arg}", "faiss": f"faiss {arg}", "psycopg": f"psycopg {arg}"}.get(
        what, what)
    store = {"hnswlib": "chroma", "chromadb": "chroma", "psycopg": "pgvector", "numpy": "numpy"}.get(what, "faiss")
    return [dict(base, system=label, impl="peer" if what in ("langchain", "chromadb") else "raw", store=store,
                 kind=arg or "-", filter=f.label, selectivity=f.selectivity, status="skipped", reason=str(exc))
            for f in fcases]


def _execute(plan: list[tuple[str, Any]], case: Case, fcases: list[FilterCase], base: dict[str, Any], *,
             repeats: int, budget_s: float, progress: bool
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(rows, native warnings)``: every plan step measured in order (each system once), under
    one progress bar.

    vecnb indexes stay open until the end (raw and peer twins read their parameters and
    tables); the rest close right after their measurement. What faiss's C++ printed during
    builds is summarised once.
    """
    results: list[dict[str, Any]] = []
    native: list[str] = []  # what faiss's C++ printed during builds, summarised once at the end
    done: set[str] = set()
    last_vecnb: dict[str, VecnbIndex] = {}
    raws: dict[str, RawFaiss] = {}
    try:
        with progress_bar(len(plan), "vecnb.bench", enabled=progress, unit="system") as bar:
            for what, arg in plan:
                try:
                    system = _make_system(what, arg, case, last_vecnb, raws)
                except SkipSystem as exc:
                    results += _skipped_rows(what, arg, exc, fcases, base)
                    bar.update(1)
                    continue
                if system.name not in done:
                    bar.set_postfix_str(system.name)
                    results += _measure(system, case, fcases, repeats=repeats, budget_s=budget_s, base=base,
                                        native=native)
                    done.add(system.name)
                    if isinstance(system, VecnbIndex):
                        last_vecnb[f"{system.store} {system.kind}"] = system
                    if what in ("chromadb", "langchain", "hnswlib", "search", "numpy", "psycopg"):
                        system.close()
                bar.update(1)
    finally:
        for s in last_vecnb.values():
            try:
                s.close()
            except Exception:  # noqa: BLE001 - closing after a benchmark is best effort
                pass
    return results, _summarise_native(native)


def overhead(res: pd.DataFrame) -> pd.DataFrame:
    """vecnb's (and peers') cost over the raw library, one row per operation.

    Parameters
    ----------
    res : DataFrame
        A :func:`run` result.

    Returns
    -------
    DataFrame
        Columns ``system``, ``kind``, ``filter``, ``operation`` (``build``, ``batch search``,
        ``single query p50``, ``single query p99``), ``value`` (seconds / ms), ``unit``,
        ``baseline``, ``baseline_value`` and ``ratio_to_baseline`` (value / baseline value:
        > 1 means slower than the raw library; for ``batch search`` it is time per query, so
        the same reading holds).
    """
    ok = res[res["status"] == "ok"]
    index = {(r.system, r.filter): r for r in ok.itertuples()}
    out = []
    for r in ok.itertuples():
        if not isinstance(r.baseline, str):
            continue
        b = index.get((r.baseline, r.filter))
        if b is None:
            continue
        ops = [("build", r.build_s, b.build_s, "s"), ("batch search", r.batch_s, b.batch_s, "s"),
               ("single query p50", r.p50_ms, b.p50_ms, "ms"), ("single query p99", r.p99_ms, b.p99_ms, "ms")]
        for op, v, bv, unit in ops:
            if r.filter != "none" and op == "build":
                continue
            out.append({"system": r.system, "kind": r.kind, "filter": r.filter, "operation": op, "value": v,
                        "unit": unit, "baseline": r.baseline, "baseline_value": bv,
                        "ratio_to_baseline": v / bv if bv and bv > 0 else np.nan,
                        "recall": r.recall, "baseline_recall": b.recall})
    return pd.DataFrame(out, columns=["system", "kind", "filter", "operation", "value", "unit", "baseline",
                                      "baseline_value", "ratio_to_baseline", "recall", "baseline_recall"])
