"""Measurement primitives: timers, latency percentiles, recall, memory.

Conventions (stated once, used by every measurement):

* timed loops run with the garbage collector off (as :mod:`timeit` does), so a collection
  triggered by earlier work does not land in a sample;
* warm-up calls run first and are discarded;
* a figure from several repeats is the **median** of the per-repeat figures;
* a measurement that would take too long is cut to a time budget, and the number of
  samples it used is recorded next to the figure.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["PERCENTILES", "dir_size", "latencies", "recall_at_k", "rss_bytes", "time_calls"]

PERCENTILES = (50, 95, 99)


class _NoGC:
    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()


def time_calls(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1,
               budget_s: float | None = None) -> tuple[float, list[float], Any]:
    """Time ``fn()`` ``repeats`` times after ``warmup`` discarded calls.

    Parameters
    ----------
    fn : callable with no arguments
    repeats : int
        Timed calls (at least one is always made).
    warmup : int
        Untimed calls made first.
    budget_s : float, optional
        Stop repeating once this many seconds were spent in timed calls.

    Returns
    -------
    median_s : float
        Median seconds per call.
    samples : list of float
        Every timed call's seconds.
    last : object
        What the last call returned (for correctness checks outside the timer).
    """
    last = None
    for _ in range(max(0, warmup)):
        last = fn()
    samples: list[float] = []
    with _NoGC():
        spent = 0.0
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            last = fn()
            dt = time.perf_counter() - t0
            samples.append(dt)
            spent += dt
            if budget_s is not None and spent >= budget_s:
                break
    return float(np.median(samples)), samples, last


def latencies(fn: Callable[[int], Any], n_items: int, *, repeats: int = 5, warmup: int = 10,
              budget_s: float | None = 20.0) -> tuple[dict[str, float], list[Any]]:
    """Single-call latency percentiles of ``fn(i)`` over items ``0..n_items-1``.

    Each repeat calls ``fn(i)`` once per item and computes p50 / p95 / p99 / mean of those
    calls; the figures returned are the medians over repeats. ``warmup`` calls (on the
    first items) run first and are discarded. With ``budget_s``, the items of one repeat
    are cut so that all repeats fit the budget (estimated from the warm-up), and fewer
    repeats run if a repeat overruns it.

    Returns
    -------
    stats : dict
        ``p50_ms``, ``p95_ms``, ``p99_ms``, ``mean_ms`` (medians over repeats),
        ``samples`` (calls per repeat) and ``repeats`` (repeats made).
    results : list
        What ``fn(i)`` returned in the last repeat, one per item measured (for recall).
    """
    if n_items <= 0:
        raise ValueError("latencies needs at least one item")
    t0 = time.perf_counter()
    w = min(max(0, warmup), n_items)
    for i in range(w):
        fn(i)
    per_call = (time.perf_counter() - t0) / w if w else None
    items = n_items
    reps = max(1, repeats)
    if budget_s is not None and per_call:
        fit = int(budget_s / (per_call * reps))
        if fit < n_items:
            items = max(min(n_items, 20), fit)
    per_rep: list[np.ndarray] = []
    results: list[Any] = []
    spent = 0.0
    with _NoGC():
        for _ in range(reps):
            times = np.empty(items)
            out = []
            for i in range(items):
                s = time.perf_counter()
                r = fn(i)
                times[i] = time.perf_counter() - s
                out.append(r)
            per_rep.append(times)
            results = out
            spent += float(times.sum())
            if budget_s is not None and spent >= budget_s:
                break
    stats = {f"p{p}_ms": float(np.median([np.percentile(t, p) for t in per_rep])) * 1e3 for p in PERCENTILES}
    stats["mean_ms"] = float(np.median([t.mean() for t in per_rep])) * 1e3
    stats["samples"] = items
    stats["repeats"] = len(per_rep)
    return stats, results


def _scores(X: np.ndarray, Q: np.ndarray, pos: np.ndarray, metric: str) -> np.ndarray:
    """float64 scores (vecnb convention) of rows ``X[pos]`` (nq, k) against ``Q`` (nq, d)."""
    safe = np.where(pos >= 0, pos, 0)
    xg = X[safe].astype(np.float64)
    qg = Q.astype(np.float64)[:, None, :]
    if metric == "l2":
        s = -np.sqrt(((xg - qg) ** 2).sum(axis=2))
    else:
        s = (xg * qg).sum(axis=2)
        if metric == "cosine":
            s /= np.linalg.norm(xg, axis=2) * np.linalg.norm(qg, axis=2)
    return np.where(pos >= 0, s, -np.inf)


def recall_at_k(found: np.ndarray, truth: np.ndarray, truth_scores: np.ndarray, *, X: np.ndarray,
                Q: np.ndarray, metric: str, allowed: np.ndarray | None = None, tol: float = 1e-6) -> float:
    """Mean recall@k of ``found`` against exact ``truth``, counting ties as correct.

    Parameters
    ----------
    found : ndarray, shape (nq, k'), int
        Row positions a system returned, best first; ``-1`` for no hit. Columns past k are
        ignored; duplicates count once.
    truth : ndarray, shape (nq, k), int
        Exact top-k positions (``-1`` padding when fewer rows qualify).
    truth_scores : ndarray, shape (nq, k)
        Their exact scores.
    X, Q : ndarray
        Data (n, d) and queries (nq, d), to score returned rows that are not in ``truth``.
    metric : str
    allowed : ndarray (n,) of bool, optional
        The rows a filter lets through: a returned row outside it never counts.
    tol : float
        A returned (allowed) row outside ``truth`` still counts when its exact score is
        within ``tol`` of the k-th true score (a tie, e.g. duplicate vectors), so recall does
        not depend on how ties are broken.

    Returns
    -------
    float
        Mean over queries that have at least one true neighbour (``nan`` if none has).

    Examples
    --------
    >>> X = np.array([[1, 0], [0.8, 0.6], [0, 1], [0.8, 0.6]], np.float32)
    >>> truth, truth_scores = np.array([[0, 1]]), np.array([[1.0, 0.8]])
    >>> vecnb.bench.recall_at_k(np.array([[0, 2]]), truth, truth_scores, X=X, Q=X[:1], metric="cosine")
    0.5
    >>> vecnb.bench.recall_at_k(np.array([[0, 3]]), truth, truth_scores, X=X, Q=X[:1], metric="cosine")  # a tie
    1.0
    """
    found = np.asarray(found, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    nq, k = truth.shape
    if found.ndim == 1:
        found = found.reshape(nq, -1)
    found = found[:, :k]
    if found.shape[1] < k:
        found = np.pad(found, ((0, 0), (0, k - found.shape[1])), constant_values=-1)
    m = (truth >= 0).sum(axis=1)
    kth = np.where(m > 0, truth_scores[np.arange(nq), np.maximum(m - 1, 0)], np.inf)
    s = _scores(X, Q, found, metric)
    recalls = []
    for i in range(nq):
        if m[i] == 0:
            continue
        got = set()
        tset = set(truth[i, : m[i]].tolist())
        for j, p in enumerate(found[i].tolist()):
            if p < 0 or p in got or (allowed is not None and not allowed[p]):
                continue
            if p in tset or s[i, j] >= kth[i] - tol:
                got.add(p)
        recalls.append(min(len(got), m[i]) / m[i])
    return float(np.mean(recalls)) if recalls else float("nan")


def dir_size(path: str | os.PathLike) -> int:
    """Bytes of every file under ``path`` (a file or a folder)."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def rss_bytes() -> int | None:
    """Resident set size of this process (None without psutil)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return None
    return int(psutil.Process().memory_info().rss)


def positions_from_hits(hits: Any, index: Any, nq: int, k: int, *, batch: bool) -> np.ndarray:
    """(nq, k) row positions (``-1`` padded) from a vecnb result frame.

    ``index`` is the searched frame's index (labels -> positions); ``batch`` results carry
    a ``query`` column with each query's 0-based position and a 1-based ``rank``.
    """
    out = np.full((nq, k), -1, dtype=np.int64)
    if len(hits) == 0:
        return out
    pos = index.get_indexer(hits.index)
    rank = hits["rank"].to_numpy(dtype=np.int64) - 1
    q = hits["query"].to_numpy(dtype=np.int64) if batch else np.zeros(len(hits), np.int64)
    ok = (rank < k) & (rank >= 0)
    out[q[ok], rank[ok]] = pos[ok]
    return out


def sequence_positions(seq: Sequence[Any], k: int) -> np.ndarray:
    """Stack per-query position lists into an (nq, k) array padded with -1."""
    out = np.full((len(seq), k), -1, dtype=np.int64)
    for i, row in enumerate(seq):
        row = np.asarray(row, dtype=np.int64).reshape(-1)[:k]
        out[i, : len(row)] = row
    return out
