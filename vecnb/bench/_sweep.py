"""``vecnb.bench.sweep``: the recall / speed trade-off of one index over a search parameter."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import filters as _filters
from vecnb._core import metrics as _metrics
from vecnb.bench._systems import find_faiss_index
from vecnb.bench._timing import latencies, positions_from_hits, recall_at_k, time_calls
from vecnb.errors import InvalidInputError

__all__ = ["search_param", "sweep"]

# the same knob under each backend's own name
_NAMES = {"ef_search": ("ef_search", "efSearch", "hnsw:search_ef"), "nprobe": ("nprobe", "probes", "n_probe")}


def _store(idx: Any) -> Any:
    return getattr(idx, "store", None)


@contextlib.contextmanager
def search_param(idx: Any, name: str, value: int) -> Iterator[str]:
    """Set an index's search parameter for the block; yields how it was set.

    ``name`` is ``"ef_search"`` (HNSW) or ``"nprobe"`` (IVF). Tries, in order: the store's
    ``set_search_params(**{name: value})``; the per-search parameters of vecnb's faiss store;
    chroma's collection configuration; faiss's ``ParameterSpace`` on a faiss index inside the
    store; a store attribute under the backend's name (``ef_search`` / ``efSearch``;
    ``nprobe`` / ``probes``) that the store applies per search (pgvector). The previous value
    is restored afterwards. :func:`sweep` reports whether the answers changed at all.

    Raises
    ------
    InvalidInputError
        When the store offers no way to change this parameter.
    """
    store = _store(idx)
    if store is None:
        raise InvalidInputError("sweep needs a vecnb.VectorIndex (from df.vec.index(...)).")
    setter = getattr(store, "set_search_params", None)
    getter = getattr(store, "search_params", None)
    if callable(setter):
        before = getter() if callable(getter) else None
        setter(**{name: int(value)})
        try:
            yield "store.set_search_params"
        finally:
            if isinstance(before, dict) and name in before:
                setter(**{name: before[name]})
        return
    params = getattr(store, "_params", None)
    if isinstance(params, dict) and name in params:
        # vecnb's faiss store applies _params[...] per search (SearchParameters); no public setter yet
        before = params[name]
        params[name] = int(value)
        try:
            yield f"store._params[{name!r}]"
        finally:
            params[name] = before
        return
    for obj in vars(store).values() if hasattr(store, "__dict__") else ():
        conf = getattr(obj, "configuration", None)
        if name == "ef_search" and isinstance(conf, dict) and isinstance(conf.get("hnsw"), dict) and \
                callable(getattr(obj, "modify", None)):
            before = conf["hnsw"].get("ef_search")
            obj.modify(configuration={"hnsw": {"ef_search": int(value)}})
            try:
                yield "chroma collection.modify(configuration={'hnsw': {'ef_search': ...}})"
            finally:
                if before is not None:
                    obj.modify(configuration={"hnsw": {"ef_search": int(before)}})
            return
    fidx = find_faiss_index(store)
    if fidx is not None:
        import faiss

        ps = faiss.ParameterSpace()
        key = "efSearch" if name == "ef_search" else "nprobe"
        inner = faiss.downcast_index(fidx)
        while isinstance(inner, (faiss.IndexIDMap, faiss.IndexIDMap2)):
            inner = faiss.downcast_index(inner.index)
        if name == "ef_search" and not hasattr(inner, "hnsw"):
            raise InvalidInputError(f"This faiss index ({type(inner).__name__}) has no efSearch; sweep nprobe= "
                                    "for IVF indexes.")
        if name == "nprobe" and not hasattr(inner, "nprobe"):
            raise InvalidInputError(f"This faiss index ({type(inner).__name__}) has no nprobe; sweep ef_search= "
                                    "for HNSW indexes.")
        before = inner.hnsw.efSearch if name == "ef_search" else inner.nprobe
        ps.set_index_parameter(fidx, key, int(value))
        try:
            yield f"faiss ParameterSpace {key}"
        finally:
            ps.set_index_parameter(fidx, key, int(before))
        return
    for attr in _NAMES[name]:
        if hasattr(store, attr) and isinstance(getattr(store, attr), (int, np.integer, type(None))) \
                and ":" not in attr:
            before = getattr(store, attr)
            setattr(store, attr, int(value))
            try:
                yield f"store.{attr}"
            finally:
                setattr(store, attr, before)
            return
    raise InvalidInputError(
        f"The {getattr(store, 'name', type(store).__name__)!r} store ({getattr(idx, 'kind', '?')} index) offers no "
        f"way to change {name}; sweep an HNSW index with ef_search= or an IVF index with nprobe=."
    )


def _index_matrix(idx: Any, data: pd.DataFrame | None, column: str | None) -> tuple[np.ndarray, pd.Index]:
    """The indexed vectors (n, d) and their labels, from ``data`` or read back from the store."""
    if data is not None:
        col = column or getattr(idx, "column", None)
        X = data.vec.matrix(col)
        return X, data.index
    frame = getattr(idx, "frame", None)
    store = _store(idx)
    if frame is None or not callable(getattr(store, "fetch", None)) or not callable(getattr(idx, "keys_for", None)):
        raise InvalidInputError("Pass data=the frame the index was built from (this store cannot read vectors back).")
    keys = idx.keys_for(frame.index)
    X, found = store.fetch(keys)
    if not np.all(found):
        raise InvalidInputError("The store could not read back every vector; pass data=the frame the index was "
                                "built from.")
    return _metrics.as_matrix(X), frame.index


def sweep(
    idx: Any,
    *,
    ef_search: Sequence[int] | None = None,
    nprobe: Sequence[int] | None = None,
    queries: int | np.ndarray = 200,
    k: int = 10,
    where: dict | None = None,
    data: pd.DataFrame | None = None,
    column: str | None = None,
    repeats: int = 3,
    seed: int = 0,
    budget_s: float = 10.0,
) -> pd.DataFrame:
    """Recall and speed of one index at several values of its search parameter.

    Parameters
    ----------
    idx : VectorIndex
        From ``df.vec.index(store=..., kind="hnsw" | "ivf" | ...)``.
    ef_search, nprobe : list of int
        The values to try (give exactly one of the two): HNSW's candidate list size, or the
        number of IVF lists probed.
    queries : int or array (nq, d)
        Query vectors, or how many rows of the index to sample as queries (seeded).
    k : int
    where : dict, optional
        A filter applied to every search (filtered recall is against exact search among
        the rows that pass).
    data : DataFrame, optional
        The frame the index was built from; default: vectors read back from the store.
    column : str, optional
        The embedding column of ``data`` (default: the index's).
    repeats : int
        Timed repeats (medians reported).
    seed : int
    budget_s : float
        Seconds one measurement may take before its repeats are cut.

    Returns
    -------
    DataFrame
        One row per value: ``param``, ``value``, ``recall`` (batch, tie-aware recall@k),
        ``qps`` (batch), ``p50_ms`` / ``p95_ms`` / ``p99_ms`` (single query, end to end),
        ``store``, ``kind``, ``filter``, ``how`` (how the parameter was set) and
        ``answers_changed`` (whether the answers differ from those at the first value: all
        False means the parameter had no visible effect).

    Examples
    --------
    >>> df = vecnb.bench.clustered(500, 16, seed=0)
    >>> idx = df.vec.index(store="faiss", kind="hnsw")
    >>> sw = vecnb.bench.sweep(idx, ef_search=[8, 64], queries=10, repeats=1)
    >>> sw[["param", "value"]].assign(recall_above_half=sw["recall"] > 0.5)
           param  value  recall_above_half
    0  ef_search      8               True
    1  ef_search     64               True
    """
    if (ef_search is None) == (nprobe is None):
        raise InvalidInputError("Give exactly one of ef_search=[...] or nprobe=[...].")
    name, values = ("ef_search", ef_search) if ef_search is not None else ("nprobe", nprobe)
    values = list(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0 for v in values):
        raise InvalidInputError(f"{name} must be a non-empty list of positive integers, got {values!r}.")
    store = _store(idx)
    for build in ("build_index", "build"):  # lazy stores: build now, so parameters exist to be set
        fn = getattr(store, build, None)
        if callable(fn):
            fn()
            break
    X, labels = _index_matrix(idx, data, column)
    metric = getattr(idx, "metric", "cosine")
    if isinstance(queries, (int, np.integer)) and not isinstance(queries, bool):
        nq = min(int(queries), len(X))
        pick = np.sort(np.random.default_rng(seed).choice(len(X), size=nq, replace=False))
        Q = np.array(X[pick])
    else:
        Q = _metrics.as_matrix(queries, dim=X.shape[1], what="sweep queries")
    nq = len(Q)
    node = _filters.parse(where)
    rows = allowed = None
    if node is not None:
        frame = data if data is not None else idx.frame
        allowed = np.asarray(_filters.to_mask(node, frame), dtype=bool)
        rows = np.flatnonzero(allowed)
    truth, tscores = _metrics.topk(X, Q, k, metric, rows=rows)
    if truth.shape[1] < k:
        truth = np.pad(truth, ((0, 0), (0, k - truth.shape[1])), constant_values=-1)
        tscores = np.pad(tscores, ((0, 0), (0, k - tscores.shape[1])), constant_values=-np.inf)
    out = []
    first = None
    for v in values:
        with search_param(idx, name, int(v)) as how:
            t, _, hits = time_calls(lambda: idx.search(Q, k=k, where=where), repeats=repeats, budget_s=budget_s)
            pos = positions_from_hits(hits, labels, nq, k, batch=True)
            first = pos if first is None else first
            rec = recall_at_k(pos, truth, tscores, X=X, Q=Q, metric=metric, allowed=allowed)
            stats, _ = latencies(lambda i: idx.search(Q[i], k=k, where=where), nq, repeats=repeats,
                                 warmup=min(10, nq), budget_s=budget_s)
        out.append({"param": name, "value": int(v), "recall": rec, "qps": nq / t, "batch_s": t,
                    "p50_ms": stats["p50_ms"], "p95_ms": stats["p95_ms"], "p99_ms": stats["p99_ms"],
                    "store": getattr(idx, "store_name", None), "kind": getattr(idx, "kind", None),
                    "filter": "none" if where is None else str(where), "k": k, "queries": nq, "n": len(X),
                    "how": how, "answers_changed": bool(not np.array_equal(pos, first))})
    res = pd.DataFrame(out)
    res.attrs["vecnb_bench"] = {"config": {"param": name, "values": values, "k": k, "queries": nq,
                                           "where": where, "n": len(X)}}
    return res
