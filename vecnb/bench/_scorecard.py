"""``vecnb.bench.scorecard``: the project's performance goals, each measured against its baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["scorecard"]


def _one(df: pd.DataFrame, **eq: Any) -> pd.Series | None:
    if df is None or df.empty:
        return None
    m = np.ones(len(df), dtype=bool)
    for col, val in eq.items():
        if col not in df.columns:
            return None
        m &= (df[col] == val).to_numpy()
    if "status" in df.columns:
        m &= (df["status"] == "ok").to_numpy()
    hit = df[m]
    return None if hit.empty else hit.iloc[0]


def _prefix(df: pd.DataFrame, figure: str, system: str) -> pd.Series | None:
    if df is None or df.empty:
        return None
    hit = df[df["figure"].str.startswith(figure) & (df["system"] == system) & (df["status"] == "ok")]
    return None if hit.empty else hit.iloc[0]


def scorecard(results: pd.DataFrame | dict | None = None, foundation: pd.DataFrame | None = None) -> pd.DataFrame:
    """The performance goals of vecnb's issues, measured in one run, with what they compare.

    Parameters
    ----------
    results : DataFrame or dict
        A :func:`run` result, or the dict :func:`load` returns (then ``foundation`` is taken
        from it too).
    foundation : DataFrame, optional
        A :func:`foundation` result.

    Returns
    -------
    DataFrame
        One row per goal: ``goal``, ``measured`` (the figure), ``target``, ``met`` (bool, or
        None when a side was not measured), ``value`` and ``baseline_value`` and what they
        are (``detail``).
    """
    if isinstance(results, dict):
        foundation = results.get("foundation") if foundation is None else foundation
        results = results.get("results")
    res = results if isinstance(results, pd.DataFrame) else pd.DataFrame()
    fnd = foundation if isinstance(foundation, pd.DataFrame) else pd.DataFrame()
    rows: list[dict[str, Any]] = []

    def add(goal: str, measured: float | None, target: str, ok: bool | None, value: Any, base: Any,
            detail: str) -> None:
        rows.append({"goal": goal, "measured": measured, "target": target,
                     "met": None if measured is None or (isinstance(measured, float) and np.isnan(measured))
                     else bool(ok), "value": value, "baseline_value": base, "detail": detail})

    # foundation --------------------------------------------------------------------
    v, b = _prefix(fnd, "exact batched search", "vecnb df.vec.search"), _prefix(fnd, "exact batched search",
                                                                                 "faiss IndexFlatIP")
    r = v["value"] / b["value"] if v is not None and b is not None else None
    add("exact batched search: df.vec.search throughput / faiss IndexFlatIP", r, ">= 0.9", r is not None and r >= 0.9,
        None if v is None else v["value"], None if b is None else b["value"], "queries/s, same queries, same run")
    v, b = _prefix(fnd, "exact single query", "vecnb df.vec.search"), _prefix(fnd, "exact single query",
                                                                               "numpy X @ q + argpartition")
    r = v["value"] / b["value"] if v is not None and b is not None else None
    add("exact single query: df.vec.search p50 / raw X @ q + argpartition", r, "<= 1.2",
        r is not None and r <= 1.2, None if v is None else v["value"], None if b is None else b["value"],
        "p50 ms, result DataFrame included")
    v = _prefix(fnd, "matrix of an embedding column", "df.vec.matrix (fixed-size-list column)")
    ms = None if v is None else float(v["value"])
    zero = v is not None and "zero copy: True" in str(v["notes"])
    add("matrix of an embedding column: ms (zero copy)", ms, "< 1 ms and zero copy",
        ms is not None and ms < 1 and zero, ms, None, str(v["notes"]) if v is not None else "")

    # HNSW ----------------------------------------------------------------------------
    v, b = _one(res, system="vecnb faiss hnsw", filter="none"), _one(res, system="faiss hnsw", filter="none")
    d = float(v["p50_ms"] - b["p50_ms"]) if v is not None and b is not None else None
    add("HNSW single query: vecnb p50 - raw faiss p50 (ms)", d, "<= 0.25 ms", d is not None and d <= 0.25,
        None if v is None else v["p50_ms"], None if b is None else b["p50_ms"],
        "end to end (DataFrame) vs faiss index.search with 1 thread; recall "
        f"{None if v is None else round(v['recall'], 3)} vs {None if b is None else round(b['recall'], 3)}")
    r = float(v["qps"] / b["qps"]) if v is not None and b is not None else None
    add("HNSW batch: vecnb QPS / raw faiss QPS", r, ">= 0.8", r is not None and r >= 0.8,
        None if v is None else v["qps"], None if b is None else b["qps"], "same queries, same parameters")
    c = _one(res, system="chromadb", filter="none")
    r = float(c["p50_ms"] / v["p50_ms"]) if v is not None and c is not None else None
    add("HNSW single query: chromadb p50 / vecnb faiss hnsw p50", r, ">= 3", r is not None and r >= 3,
        None if c is None else c["p50_ms"], None if v is None else v["p50_ms"],
        f"recall chromadb {None if c is None else round(c['recall'], 3)}, "
        f"vecnb {None if v is None else round(v['recall'], 3)}")

    # filtered recall at ~1 % -----------------------------------------------------------
    if not res.empty and "selectivity" in res.columns:
        ok = res[(res["status"] == "ok") & (res["impl"] == "vecnb") & (res["filter"] != "none")]
        sel = ok[(ok["selectivity"] > 0) & (ok["selectivity"] <= 0.02)]
        if not sel.empty:
            worst = sel.loc[sel["recall"].idxmin()]
            add("filtered recall@k at ~1 % selectivity: worst vecnb store", float(worst["recall"]), ">= 0.95",
                worst["recall"] >= 0.95, float(worst["recall"]), None,
                f"worst: {worst['system']} ({worst['selectivity']:.1%}); "
                + ", ".join(f"{s}: {r:.3f}" for s, r in zip(sel["system"], sel["recall"])))
    return pd.DataFrame(rows, columns=["goal", "measured", "target", "met", "value", "baseline_value", "detail"])
