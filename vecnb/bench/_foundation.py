"""``vecnb.bench.foundation``: the figures the foundation is judged on, each beside its baseline.

* exact batched search (1,000 queries) through ``df.vec.search`` vs faiss ``IndexFlatIP``;
* exact single-query latency of ``df.vec.search`` vs raw ``X @ q`` + ``argpartition``;
* getting the (n, d) matrix of a fixed-size-list column vs ``np.stack`` over an object column;
* building a 10-row result frame vs ``df.iloc[pos].assign(score=..., rank=...)``;
* MiniLM embedding rate (sentences/s) on the numpy path, and on the torch path when torch is
  installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core.progress import progress_bar
from vecnb.bench._machine import blas_summary, faiss_threads, machine_info, machine_summary
from vecnb.bench._timing import latencies, time_calls

__all__ = ["FOUNDATION_COLUMNS", "foundation"]

FOUNDATION_COLUMNS = ["figure", "system", "status", "reason", "value", "unit", "better", "seconds", "p50_ms",
                      "p95_ms", "p99_ms", "baseline", "baseline_value", "ratio_to_baseline", "n", "dim", "queries",
                      "threads", "notes", "blas", "machine", "load_avg_1m"]


def _argpartition_topk(S: np.ndarray, k: int) -> np.ndarray:
    p = np.argpartition(-S, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(S, p, axis=1), axis=1)
    return np.take_along_axis(p, order, axis=1)


def _first_sentences(n: int) -> tuple[list[str], str]:
    """Up to ``n`` real sentences from the shipped CISI abstracts (first sentence of each)."""
    try:
        from vecnb import datasets

        docs = datasets.load("cisi")
        texts = [str(t) for t in docs["text"].tolist() if isinstance(t, str) and t.strip()]
        source = "first sentences of CISI abstracts"
    except Exception:  # noqa: BLE001 - fall back to a fixed text
        texts = ["Vector search finds the rows whose embeddings are closest to a query embedding."] * n
        source = "a fixed sentence (CISI not available)"
    out = []
    for t in texts:
        s = t.split(". ")[0].strip()
        if s:
            out.append(s if s.endswith(".") else s + ".")
        if len(out) >= n:
            break
    while len(out) < n:
        out += out[: n - len(out)]
    return out[:n], source


def foundation(
    rows: int = 100_000,
    dim: int = 384,
    *,
    queries: int = 1000,
    single: int = 200,
    k: int = 10,
    repeats: int = 5,
    sentences: int = 256,
    embed: bool = True,
    seed: int = 0,
    progress: bool = True,
    budget_s: float = 30.0,
) -> pd.DataFrame:
    """Measure the foundation figures, each beside its baseline, in one run.

    Parameters
    ----------
    rows, dim : int
        Size of the clustered data (:func:`vecnb.bench.clustered`).
    queries : int
        Queries of the batched exact search.
    single : int
        Queries timed one by one for single-query latency.
    k : int
    repeats : int
        Timed repeats (medians reported; a warm-up run is discarded).
    sentences : int
        Sentences embedded for the MiniLM rate (first sentences of the CISI abstracts).
    embed : bool
        Measure the MiniLM embedding rate (numpy path; torch path when torch is installed).
    seed : int
    progress : bool
        A ``tqdm`` bar over the figures.
    budget_s : float
        Seconds one measurement may take before its repeats are cut.

    Returns
    -------
    DataFrame
        One row per (figure, system): ``value`` in ``unit`` (``better`` says whether higher
        or lower is better), ``seconds`` per call, latency percentiles where they apply, the
        ``baseline`` system of that figure, its value and ``ratio_to_baseline`` (value /
        baseline value), plus the machine, BLAS, threads and load average. ``status`` is
        ``"skipped"`` with a ``reason`` when a system is unavailable (e.g. torch or faiss).
    """
    import vecnb  # noqa: F401  (df.vec)
    from vecnb.bench._data import clustered_matrix

    machine = machine_info()
    nq = int(queries)
    data, _ = clustered_matrix(rows + nq + single, dim, seed=seed)
    X = np.ascontiguousarray(data[:rows])
    df = pd.DataFrame({"row": np.arange(rows)}).vec.attach(X, name="emb")
    run = _Run(df=df, X=X, Xv=df.vec.matrix("emb"), Qb=np.array(data[rows:rows + nq]), Qs=np.array(data[rows + nq:]), k=int(k), repeats=int(repeats), budget_s=budget_s, seed=seed,
               machine=machine, ctx={"blas": blas_summary(machine), "machine": machine_summary(machine),
                                     "n": rows, "dim": dim})
    figures: list[Callable[[], None]] = [
        run.batch, run.single, run.matrix, run.result, lambda: run.embed(embed, int(sentences))]
    with progress_bar(len(figures), "vecnb.bench.foundation", enabled=progress, unit="figure") as bar:
        for figure in figures:
            figure()
            bar.update(1)

    res = pd.DataFrame(run.out)
    for c in FOUNDATION_COLUMNS:
        if c not in res.columns:
            res[c] = np.nan
    res = _foundation_ratios(res[FOUNDATION_COLUMNS])
    res.attrs["vecnb_bench"] = {"machine": machine, "config": {
        "rows": rows, "dim": dim, "queries": nq, "single": single, "k": k, "repeats": repeats,
        "sentences": sentences, "seed": seed, "data": f"clustered(n={rows}, d={dim}, seed={seed})"}}
    return res


@dataclass
class _Run:
    """One :func:`foundation` run: its data, settings and rows; one method per figure."""

    df: pd.DataFrame
    X: np.ndarray  # (n, d) unit rows: cosine == inner product
    Xv: np.ndarray  # the zero-copy view of the frame's column a user's search runs on
    Qb: np.ndarray  # (queries, d) batched queries
    Qs: np.ndarray  # (single, d) queries timed one by one
    k: int
    repeats: int
    budget_s: float
    seed: int
    machine: dict[str, Any]
    ctx: dict[str, Any]
    out: list[dict[str, Any]] = field(default_factory=list)
    faiss_index: Any = None

    def add(self, figure: str, system: str, **kw: Any) -> None:
        row = {"figure": figure, "system": system, "status": "ok", "reason": "", **self.ctx,
               "load_avg_1m": os.getloadavg()[0]}
        row.update(kw)
        self.out.append(row)

    def _rate(self, fig: str, system: str, fn: Callable[[], Any], **kw: Any) -> None:
        nq = len(self.Qb)
        t, _, _ = time_calls(fn, repeats=self.repeats, budget_s=self.budget_s)
        self.add(fig, system, value=nq / t, unit="queries/s", better="higher", seconds=t, queries=nq, **kw)

    def _latency(self, fig: str, system: str, fn: Callable[[int], Any], n: int, *, warmup: int = 10,
                 **kw: Any) -> None:
        stats, _ = latencies(fn, n, repeats=self.repeats, warmup=warmup, budget_s=self.budget_s)
        self.add(fig, system, value=stats["p50_ms"], unit="ms (p50)", better="lower",
                 seconds=stats["p50_ms"] / 1e3, p50_ms=stats["p50_ms"], p95_ms=stats["p95_ms"],
                 p99_ms=stats["p99_ms"], **kw)

    def batch(self) -> None:
        """Exact batched search: df.vec.search and its kernel vs faiss IndexFlatIP and numpy."""
        from vecnb._core.metrics import topk

        X, Qb, k, nq = self.X, self.Qb, self.k, len(self.Qb)
        fig = f"exact batched search ({nq} queries, k={k})"
        faiss = _import_faiss()
        if faiss is not None:
            self.faiss_index = faiss.IndexFlatIP(X.shape[1])
            self.faiss_index.add(X)
            self._rate(fig, "faiss IndexFlatIP", lambda: self.faiss_index.search(Qb, k),
                       threads=int(faiss.omp_get_max_threads()))
        else:
            self.add(fig, "faiss IndexFlatIP", status="skipped", reason="faiss is not installed", queries=nq)
        self._rate(fig, "vecnb df.vec.search", lambda: self.df.vec.search(Qb, k=k, column="emb"),
                   threads=self.machine["blas"]["num_threads"] if self.machine.get("blas") else None,
                   notes="end to end: validation, exact top-k, result DataFrame of nq*k rows")
        self._rate(fig, "vecnb metrics.topk (kernel)", lambda: topk(self.Xv, Qb, k, "cosine"),
                   notes="the exact top-k kernel alone")
        self._rate(fig, "numpy matmul + argpartition", lambda: _argpartition_topk(Qb @ X.T, k))
        self._rate(fig, "numpy matmul only (lower bound)", lambda: Qb @ X.T,
                   notes="the arithmetic alone, no top-k selection")

    def single(self) -> None:
        """Exact single-query latency: df.vec.search vs raw ``X @ q`` + argpartition (and faiss)."""
        from vecnb._core.metrics import topk

        X, Qs, k = self.X, self.Qs, self.k
        fig = f"exact single query (k={k})"

        def one(fn: Callable[[int], Any], system: str, **kw: Any) -> None:
            self._latency(fig, system, fn, len(Qs), warmup=min(10, len(Qs)), queries=len(Qs), **kw)

        def raw_numpy(i: int) -> np.ndarray:
            s = X @ Qs[i]
            p = np.argpartition(-s, k - 1)[:k]
            return p[np.argsort(-s[p])]

        one(raw_numpy, "numpy X @ q + argpartition")
        one(lambda i: self.df.vec.search(Qs[i], k=k, column="emb"), "vecnb df.vec.search",
            notes="end to end, result DataFrame included")
        one(lambda i: topk(self.Xv, Qs[i:i + 1], k, "cosine"), "vecnb metrics.topk (kernel)")
        fidx = self.faiss_index
        if fidx is not None:
            threads = int(_import_faiss().omp_get_max_threads())
            with faiss_threads(1):
                one(lambda i: fidx.search(Qs[i:i + 1], k), "faiss IndexFlatIP, 1 thread", threads=1)
            one(lambda i: fidx.search(Qs[i:i + 1], k), f"faiss IndexFlatIP, {threads} threads",
                threads=threads, notes="faiss's slow path when queries < threads")

    def matrix(self) -> None:
        """The (n, d) matrix of a fixed-size-list column vs ``np.stack`` over an object column."""
        rows, dim = self.X.shape
        fig = f"matrix of an embedding column ({rows} x {dim})"
        objects = pd.Series(list(self.X), dtype=object).to_numpy()  # a column of per-row arrays (naive)
        t, _, _ = time_calls(lambda: np.stack(objects), repeats=self.repeats, budget_s=self.budget_s)
        self.add(fig, "np.stack over an object column", value=t * 1e3, unit="ms", better="lower", seconds=t)
        t, _, M = time_calls(lambda: self.df.vec.matrix("emb"), repeats=max(self.repeats, 20),
                             budget_s=self.budget_s)
        zero = (not M.flags.owndata) and (not M.flags.writeable)
        self.add(fig, "df.vec.matrix (fixed-size-list column)", value=t * 1e3, unit="ms", better="lower",
                 seconds=t, notes=f"zero copy: {zero} (a read-only view of the Arrow buffer)")

    def result(self) -> None:
        """A 10-row result frame from positions vs ``df.iloc[pos].assign(score=, rank=)``."""
        from vecnb.frame.results import build_hits

        rows = len(self.X)
        fig = f"10-row result frame from positions ({rows}-row frame)"
        meta = pd.DataFrame({"title": [f"doc {i}" for i in range(rows)], "year": np.arange(rows) % 50 + 1970,
                             "label": np.array(["a", "b", "c", "d"])[np.arange(rows) % 4]})
        pos = np.sort(np.random.default_rng(self.seed).choice(rows, size=(len(self.Qs), 10), replace=True), axis=1)
        sc = np.linspace(1, 0.5, 10)
        self._latency(fig, "df.iloc[pos].assign(score=, rank=)",
                      lambda i: meta.iloc[pos[i]].assign(score=sc, rank=np.arange(1, 11)), len(pos))
        self._latency(fig, "vecnb results.build_hits", lambda i: build_hits(meta, pos[i:i + 1], sc[None, :]),
                      len(pos))

    def embed(self, embed: bool, sentences: int) -> None:
        """MiniLM sentences/s on the numpy path, and through torch when it is installed."""
        fig = "MiniLM embedding rate"
        if not embed:
            self.add(fig, "minilm (numpy)", status="skipped", reason="embed=False")
            return
        texts, source = _first_sentences(sentences)
        words = float(np.mean([len(t.split()) for t in texts]))
        for backend in ("numpy", "torch"):
            _embed_rate(self.add, fig, backend, texts, repeats=max(1, min(self.repeats, 3)),
                        budget_s=self.budget_s, note=f"{len(texts)} {source}, {words:.0f} words on average")


#: the baseline of each figure (by the start of its name)
_BASELINES = {
    "exact batched search": "faiss IndexFlatIP",
    "exact single query": "numpy X @ q + argpartition",
    "matrix of an embedding column": "np.stack over an object column",
    "10-row result frame": "df.iloc[pos].assign(score=, rank=)",
    "MiniLM embedding rate": "minilm (torch, sentence-transformers)",
}


def _foundation_ratios(res: pd.DataFrame) -> pd.DataFrame:
    """Fill ``baseline``, ``baseline_value`` and ``ratio_to_baseline`` (value / baseline value)."""
    bases, bvals, ratios = [], [], []
    for r in res.itertuples():
        base = next((b for prefix, b in _BASELINES.items() if str(r.figure).startswith(prefix)), None)
        hit = res[(res["figure"] == r.figure) & (res["system"] == base) & (res["status"] == "ok")]
        bv = float(hit["value"].iloc[0]) if base is not None and not hit.empty else np.nan
        bases.append(base)
        bvals.append(bv)
        ratios.append(float(r.value) / bv if r.status == "ok" and bv and np.isfinite(bv) else np.nan)
    return res.assign(baseline=pd.Series(bases, index=res.index, dtype=object), baseline_value=bvals,
                      ratio_to_baseline=ratios)


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _embed_rate(add: Callable[..., None], fig: str, backend: str, texts: list[str], *, repeats: int,
                budget_s: float, note: str) -> None:
    label = "minilm (numpy)" if backend == "numpy" else "minilm (torch, sentence-transformers)"
    if backend == "torch":
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            add(fig, label, status="skipped", reason="torch is not installed (pip install torch==2.13.0)")
            return
    try:
        from vecnb.embed import get_embedder

        emb = get_embedder("minilm", backend=backend)
        emb.embed(texts[:8])  # load weights, warm up
    except Exception as exc:  # noqa: BLE001 - recorded, never silent
        add(fig, label, status="skipped", reason=f"{type(exc).__name__}: {exc}")
        return
    t, _, _ = time_calls(lambda: emb.embed(texts), repeats=repeats, warmup=0, budget_s=budget_s)
    threads = None
    if backend == "torch":
        try:
            import torch

            threads = int(torch.get_num_threads())
        except ImportError:  # pragma: no cover
            pass
    add(fig, label, value=len(texts) / t, unit="sentences/s", better="higher", seconds=t, queries=len(texts),
        threads=threads, notes=f"{note}; one embed() call, no cache")
