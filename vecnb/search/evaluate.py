"""``vecnb.evaluate``: nDCG@k, Recall@k, MAP@k, MRR@k (and Precision@k) from a run and judgments.

::

    scores = vecnb.evaluate(run_df, qrels_df, k=10)                  # one row per query + "mean"
    scores = vecnb.evaluate(run_df, qrels_df, k=[10, 100], metrics=("ndcg", "recall"))
    scores.loc["mean", "ndcg@10"]

Inputs
------
``run_df``
    One row per retrieved (query, document): columns ``query_id``, ``doc_id`` and ``score``
    (higher is better) and/or ``rank`` (1 = best). ``doc_id`` may also be the frame's index
    when the index is named ``doc_id`` (as a CISI search result is). A (query, document)
    pair may appear only once.
``qrels_df``
    Judgments: ``query_id``, ``doc_id``, ``relevance`` (graded 0, 1, 2, ... or binary 0/1).
    A document is relevant when ``relevance >= relevance_level`` (default 1); unjudged
    documents are not relevant.

Definitions (those of ``ranx`` -- the tests check every one against it to 1e-6)
-------------------------------------------------------------------------------
With ``R`` the relevant documents of a query and the run's documents in order,

* ``ndcg@k``   DCG@k / IDCG@k, ``DCG = sum_{i<=k} rel_i / log2(i + 1)`` with the *linear*
  gain ``rel_i`` = the graded relevance of a relevant document, 0 otherwise (Järvelin &
  Kekäläinen; trec_eval's ``ndcg_cut``). IDCG sorts R's relevances.
* ``recall@k`` |R in top k| / |R|.
* ``map@k``    sum over relevant documents at ranks i <= k of precision@i, divided by |R|
  (not by min(k, |R|)).
* ``mrr@k``    1 / rank of the first relevant document within the top k (0 if none).
* ``precision@k`` |R in top k| / k (k, even when fewer documents were retrieved).

Which queries count: every query in ``qrels_df`` (a query the run missed scores 0 on every
metric; a query whose judgments are all below ``relevance_level`` scores 0 too); run
queries that have no judgments are left out. This is ranx's ``make_comparable=True`` and
trec_eval's ``-c``.

Order within a query: by ``rank`` when the run has a ``rank`` column (the system's own
order), else by ``score`` descending. Ties (equal rank or score) are broken like trec_eval:
by document id *descending*, compared as strings.

Output shape
------------
A DataFrame with one row per judged query (index ``query_id``, sorted) followed by one row
labelled ``"mean"`` (the mean over those queries), and one float column per
(metric, k) named ``"<metric>@<k>"``, metrics in the order asked, then k ascending::

                ndcg@10  recall@10  map@10  mrr@10
    query_id
    1             0.431      0.091   0.062   1.000
    ...
    mean          0.386      0.180   0.110   0.637

The index holds the query ids and the string ``"mean"`` (object dtype); pass
``mean=False`` to get only the per-query rows with the ids' own dtype.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vecnb.errors import ColumnNotFoundError, InvalidInputError

__all__ = ["METRICS", "evaluate"]

METRICS = ("ndcg", "recall", "map", "mrr", "precision")
_ALIASES = {"ndcg": "ndcg", "ndcg_cut": "ndcg", "recall": "recall", "map": "map", "ap": "map",
            "average_precision": "map", "mrr": "mrr", "rr": "mrr", "reciprocal_rank": "mrr",
            "precision": "precision", "p": "precision"}


def _ks(k: Any) -> list[int]:
    ks = [k] if isinstance(k, (int, np.integer)) and not isinstance(k, bool) else k
    if not isinstance(ks, Iterable) or isinstance(ks, (str, bytes)):
        raise InvalidInputError(f"k must be a positive integer or a list of them, got {k!r}.")
    out = []
    for v in ks:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise InvalidInputError(f"k must be a positive integer or a list of them, got {k!r}.")
        out.append(int(v))
    if not out:
        raise InvalidInputError("k is an empty list; pass at least one cut-off, e.g. k=10.")
    return sorted(set(out))


def _metrics(metrics: Any) -> list[str]:
    if isinstance(metrics, str):
        metrics = [metrics]
    out: list[str] = []
    for m in metrics:
        key = _ALIASES.get(str(m).strip().lower()) if isinstance(m, str) else None
        if key is None:
            raise InvalidInputError(f"Unknown metric {m!r}; use any of {', '.join(METRICS)}.")
        if key not in out:
            out.append(key)
    if not out:
        raise InvalidInputError(f"metrics is empty; use any of {', '.join(METRICS)}.")
    return out


def _need(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ColumnNotFoundError(
            f"{what} lacks column(s) {missing}; it needs {list(cols)}. Columns present: {list(df.columns)[:20]}."
        )


def _same_kind(a: pd.Series, b: pd.Series, what: str) -> None:
    na, nb = pd.api.types.is_numeric_dtype(a.dtype), pd.api.types.is_numeric_dtype(b.dtype)
    if na != nb:
        raise InvalidInputError(
            f"{what} ids are {a.dtype} in the run but {b.dtype} in the qrels, so they can never match. "
            f"Convert one side, e.g. run_df.astype({{'{a.name}': {b.dtype.name!r}}})."
        )


def evaluate(
    run_df: pd.DataFrame,
    qrels_df: pd.DataFrame,
    k: int | Sequence[int] = 10,
    metrics: Sequence[str] | str = ("ndcg", "recall", "map", "mrr"),
    *,
    relevance_level: float = 1,
    mean: bool = True,
) -> pd.DataFrame:
    """Score a run against relevance judgments: nDCG@k, Recall@k, MAP@k, MRR@k, Precision@k.

    ::

        scores = vecnb.evaluate(df.vec.search(queries["text"], k=100), qrels, k=[10, 100])
        scores.loc["mean", "ndcg@10"]

    Parameters
    ----------
    run_df : DataFrame
        One row per retrieved (query, document): ``query_id`` (or ``query``, as a batch
        search returns it: a Series of query texts indexed by query id gives the ids),
        ``doc_id`` (or an index named ``doc_id``, as a search result of a frame indexed by
        ``doc_id`` has), and ``score`` (higher is better) and/or ``rank`` (1 = best). A
        (query, document) pair may appear only once.
    qrels_df : DataFrame
        Judgments: ``query_id``, ``doc_id``, ``relevance`` (graded 0, 1, 2, ... or 0/1).
    k : int or list of int
        Cut-off(s).
    metrics : sequence of str
        Any of ``"ndcg"``, ``"recall"``, ``"map"``, ``"mrr"``, ``"precision"``.
    relevance_level : number
        Minimum relevance that counts as relevant (default 1); unjudged documents are not.
    mean : bool
        Append the ``"mean"`` row.

    Returns
    -------
    DataFrame, shape (n_queries + 1, len(metrics) * len(k))
        One row per judged query (index ``query_id``, sorted) and a last row ``"mean"``;
        one float column per (metric, k) named ``"<metric>@<k>"``, metrics in the order
        asked, then k ascending.

    Notes
    -----
    Definitions are ranx's (the tests check each against it to 1e-6). With ``R`` the
    relevant documents of a query: ``ndcg@k`` = DCG@k / IDCG@k with linear gain,
    ``DCG = sum_{i<=k} rel_i / log2(i + 1)`` (trec_eval's ``ndcg_cut``); ``recall@k`` =
    ``|R in top k| / |R|``; ``map@k`` = the sum of precision@i over relevant documents at ranks
    i <= k, divided by ``|R|``; ``mrr@k`` = 1 / rank of the first relevant document in the top
    k (0 if none); ``precision@k`` = ``|R in top k| / k``.

    Every query in ``qrels_df`` counts (one the run missed scores 0); run queries without
    judgments are left out (ranx's ``make_comparable=True``, trec_eval's ``-c``). Within a
    query documents are ordered by ``rank`` when the run has one, else by ``score``
    descending; ties go by document id descending, compared as strings (trec_eval).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
    ...                             "apple and pear crumble"]}).rename_axis("doc_id")
    >>> emb = df.vec.embed("text", model="hashing", progress=False)
    >>> run = emb.vec.search(["apple", "sky"], k=2).rename(columns={"query": "query_id"})
    >>> qrels = pd.DataFrame({"query_id": ["apple", "apple", "sky"], "doc_id": [0, 3, 2], "relevance": 1})
    >>> vecnb.evaluate(run, qrels, k=2, metrics=["ndcg", "recall"])
              ndcg@2  recall@2
    query_id
    apple        1.0       1.0
    sky          1.0       1.0
    mean         1.0       1.0
    """
    if not isinstance(run_df, pd.DataFrame) or not isinstance(qrels_df, pd.DataFrame):
        raise InvalidInputError("evaluate takes two DataFrames: the run and the qrels (judgments).")
    ks = _ks(k)
    mets = _metrics(metrics)
    if isinstance(relevance_level, bool) or not isinstance(relevance_level, (int, float, np.number)):
        raise InvalidInputError(f"relevance_level must be a number, got {relevance_level!r}.")
    run, qrels, order_col = _read_inputs(run_df, qrels_df)
    # the queries that count, and their relevant documents
    qids = pd.Index(pd.unique(qrels["query_id"]))
    try:
        qids = qids.sort_values()
    except TypeError:  # mixed types: keep first-seen order
        pass
    relevant = qrels[qrels["relevance"] >= relevance_level]
    ranked = _Ranked(run[run["query_id"].isin(qids)], order_col, qids, relevant)
    out = {f"{m}@{kk}": ranked.metric(m, kk) for m in mets for kk in ks}
    res = pd.DataFrame(out, index=qids.rename("query_id"))
    if mean:
        nq = len(qids)
        means = res.mean(axis=0).to_frame().T if nq else pd.DataFrame([[np.nan] * res.shape[1]], columns=res.columns)
        means.index = pd.Index(["mean"])
        res = pd.concat([res.set_axis(res.index.astype(object)), means])
        res.index.name = "query_id"
    return res


def _read_inputs(run_df: pd.DataFrame, qrels_df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The run (query_id, doc_id, rank / score) and qrels (query_id, doc_id, float relevance), checked.

    Returns the run, the qrels and the run column that orders it (``"rank"`` or ``"score"``).
    """
    run = run_df
    if "doc_id" not in run.columns and run.index.name == "doc_id":
        run = run.reset_index()
    if "query_id" not in run.columns and "query" in run.columns:  # a batch search result, as it is
        run = run.rename(columns={"query": "query_id"})
        run["query_id"] = run["query_id"].infer_objects()  # labels kept as objects: back to their own dtype
    _need(run, ["query_id", "doc_id"], "run_df")
    has_rank, has_score = "rank" in run.columns, "score" in run.columns
    if not (has_rank or has_score):
        raise ColumnNotFoundError("run_df needs a 'score' column (higher is better) or a 'rank' column (1 = best).")
    _need(qrels_df, ["query_id", "doc_id", "relevance"], "qrels_df")
    cols = ["query_id", "doc_id"] + (["rank"] if has_rank else []) + (["score"] if has_score else [])
    run = run[cols].copy()
    qrels = qrels_df[["query_id", "doc_id", "relevance"]].copy()
    _same_kind(run["query_id"], qrels["query_id"], "Query")
    _same_kind(run["doc_id"], qrels["doc_id"], "Document")
    for name, frame in (("run_df", run), ("qrels_df", qrels)):
        if frame[["query_id", "doc_id"]].isna().any().any():
            raise InvalidInputError(f"{name} has missing query_id / doc_id values; drop those rows.")
        dup = frame.duplicated(["query_id", "doc_id"])
        if dup.any():
            first = frame.loc[dup, ["query_id", "doc_id"]].iloc[0].tolist()
            raise InvalidInputError(
                f"{name} lists the same (query_id, doc_id) {int(dup.sum())} time(s) more than once, e.g. {first}; "
                "each document may appear once per query."
            )
    order_col = "rank" if has_rank else "score"
    vals = pd.to_numeric(run[order_col], errors="coerce")
    if vals.isna().any() or not np.isfinite(vals.to_numpy(dtype=np.float64)).all():
        raise InvalidInputError(f"run_df's {order_col!r} column has missing or non-finite values.")
    run[order_col] = vals.astype(np.float64)
    rel = pd.to_numeric(qrels["relevance"], errors="coerce")
    if rel.isna().any():
        raise InvalidInputError("qrels_df's 'relevance' column must be numeric without missing values.")
    qrels["relevance"] = rel.astype(np.float64)
    return run, qrels, order_col


def _within(group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows sorted by ``group``: counts per group, each group's first row, 1-based position inside it."""
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return counts, starts, np.arange(len(group)) - np.repeat(starts, counts) + 1


class _Ranked:
    """A run ordered per query (rank asc / score desc, ties by doc id desc as strings, like trec_eval),
    with each row's relevance and each query's ideal gains: what every metric is computed from."""

    def __init__(self, run: pd.DataFrame, order_col: str, qids: pd.Index, relevant: pd.DataFrame):
        self.nq = nq = len(qids)
        key = run[order_col].to_numpy(np.float64)
        key = key if order_col == "rank" else -key
        qpos = qids.get_indexer(run["query_id"])
        docs_str = run["doc_id"].astype(str).to_numpy()
        doc_desc = -pd.Index(docs_str).argsort().argsort() if len(run) else np.empty(0, np.int64)
        order = np.lexsort((doc_desc, key, qpos))
        self.qpos = qpos = qpos[order]
        doc = run["doc_id"].to_numpy()[order]
        counts, starts, self.pos = _within(qpos, nq)
        self.n_rel = relevant.groupby("query_id", sort=False).size().reindex(qids, fill_value=0).to_numpy(np.float64)
        # relevance of each run row (0 when unjudged / not relevant)
        rmap = pd.Series(relevant["relevance"].to_numpy(), index=pd.MultiIndex.from_arrays(
            [relevant["query_id"].to_numpy(), relevant["doc_id"].to_numpy()]))
        if len(qpos):
            looked = rmap.reindex(pd.MultiIndex.from_arrays([qids.to_numpy()[qpos], doc]))
            self.hit = looked.notna().to_numpy()                      # relevant (relevance >= level)
            self.gain = looked.fillna(0.0).to_numpy(np.float64)       # linear gain
            cs = np.cumsum(self.hit.astype(np.float64))              # hits up to each row, within its query
            self.cum_hits = cs - np.concatenate([[0.0], cs])[np.repeat(starts, counts)]
        else:
            self.hit, self.gain, self.cum_hits = np.zeros(0, dtype=bool), np.empty(0), np.zeros(0)
        # ideal gains: each query's relevances sorted desc
        ideal = relevant.assign(_q=qids.get_indexer(relevant["query_id"]))
        ideal = ideal.sort_values(["_q", "relevance"], ascending=[True, False], kind="mergesort")
        self.iq = ideal["_q"].to_numpy()
        self.ig = ideal["relevance"].to_numpy(np.float64)
        self.ipos = _within(self.iq, nq)[2]

    def metric(self, m: str, kk: int) -> np.ndarray:
        """Per-query values of metric ``m`` at cut-off ``kk`` (definitions: :func:`evaluate`)."""
        nq, qpos, pos, hit, n_rel = self.nq, self.qpos, self.pos, self.hit, self.n_rel
        inside = pos <= kk
        if m == "ndcg":
            dcg = np.bincount(qpos[inside], weights=self.gain[inside] / np.log2(pos[inside] + 1), minlength=nq)
            iin = self.ipos <= kk
            idcg = np.bincount(self.iq[iin], weights=self.ig[iin] / np.log2(self.ipos[iin] + 1), minlength=nq)
            return np.divide(dcg, idcg, out=np.zeros(nq), where=idcg > 0)
        if m in ("recall", "precision"):
            hits_k = np.bincount(qpos[inside & hit], minlength=nq).astype(np.float64)
            if m == "precision":
                return np.where(n_rel > 0, hits_k / kk, 0.0)
            return np.divide(hits_k, n_rel, out=np.zeros(nq), where=n_rel > 0)
        sel = inside & hit
        if m == "map":
            prec = np.bincount(qpos[sel], weights=self.cum_hits[sel] / pos[sel], minlength=nq)
            return np.divide(prec, n_rel, out=np.zeros(nq), where=n_rel > 0)
        first = np.full(nq, np.inf)  # mrr
        np.minimum.at(first, qpos[sel], pos[sel].astype(np.float64))
        return np.where(np.isfinite(first), 1.0 / first, 0.0)
