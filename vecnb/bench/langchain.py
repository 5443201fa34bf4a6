"""vecnb's LangChain adapter vs LangChain's own FAISS wrapper, on the same vectors (issue 19).

::

    python -m vecnb.bench.langchain                 # prints the table and the load average
    vecnb.bench.langchain.compare(n=20_000, d=128)  # the same, as a DataFrame

Both sides hold the same clustered unit vectors (:func:`vecnb.bench._data.clustered_matrix`,
cosine = inner product) in the same faiss index type with the same parameters (``IndexFlatIP``;
``IndexHNSWFlat`` M, efConstruction, efSearch), faiss at one thread, and answer the same text
queries through the same ``Embeddings`` object (a lookup of precomputed vectors, so embedding
costs nothing on either side). Measured:

* single-query latency of ``similarity_search_with_score(q, k)`` -- median over queries, median
  over interleaved repeats (``vecnb.bench._perquery``), ratio vecnb / LangChain;
* filtered recall@k at 10% and 1% selectivity (``filter={"bucket": {"$lt": 10}}`` /
  ``{"$lt": 1}``, one run) against exact filtered top-k. LangChain's FAISS filters after the
  search (its default ``fetch_k=20`` candidates); vecnb's faiss store filters inside the search.

Needs ``pip install "vecnb[bench,langchain]"`` (langchain-community, faiss-cpu).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from vecnb.bench._data import clustered_matrix
from vecnb.bench._machine import faiss_threads
from vecnb.bench._perquery import _interleaved, _recall

__all__ = ["compare"]


def _lookup_embeddings(table: dict[str, np.ndarray]) -> Any:
    from langchain_core.embeddings import Embeddings

    class Lookup(Embeddings):
        """Precomputed vectors by text (embedding is free on both sides)."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [table[t].tolist() for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return table[text].tolist()

    return Lookup()


def _langchain_faiss(X: np.ndarray, texts: list[str], buckets: np.ndarray, emb: Any, kind: str, m: int,
                     ef_construction: int, ef_search: int) -> Any:
    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

    d = X.shape[1]
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    else:
        index = faiss.IndexFlatIP(d)
    store = FAISS(embedding_function=emb, index=index, docstore=InMemoryDocstore(), index_to_docstore_id={},
                  distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
    store.add_embeddings(list(zip(texts, X)), metadatas=[{"bucket": int(b)} for b in buckets],
                         ids=[str(i) for i in range(len(texts))])
    return store


def _truth(X: np.ndarray, Q: np.ndarray, k: int, mask: np.ndarray | None) -> np.ndarray:
    S = Q @ X.T
    if mask is not None:
        S[:, ~mask] = -np.inf
    return np.argsort(-S, axis=1, kind="stable")[:, :k]


def compare(n: int = 20_000, d: int = 128, *, k: int = 10, queries: int = 200, kinds: tuple[str, ...] = ("flat", "hnsw"),
            m: int = 32, ef_construction: int = 64, ef_search: int = 64, repeats: int = 5, budget_s: float = 60.0,
            seed: int = 0) -> pd.DataFrame:
    """One row per index kind: latency (ms, medians) of both, ratio, and filtered recall of both.

    Columns: ``kind``, ``vecnb_ms``, ``langchain_ms``, ``ratio`` (vecnb / LangChain), ``idx_search_ms``
    (the same query through ``idx.search``: what the adapter adds is ``vecnb_ms - idx_search_ms``),
    ``vecnb_recall``, ``langchain_recall`` (unfiltered), ``vecnb_recall_10pct``, ``langchain_recall_10pct``,
    ``vecnb_recall_1pct``, ``langchain_recall_1pct``, ``n``, ``d``, ``k``, ``params``, ``load_avg_1m``.
    """
    X_all, _ = clustered_matrix(n + queries, d, seed=seed)
    X, Q = X_all[:n], X_all[n:]
    rng = np.random.default_rng(seed)
    buckets = rng.integers(0, 100, size=n)
    texts = [f"doc {i}" for i in range(n)]
    qtexts = [f"query {i}" for i in range(queries)]
    emb = _lookup_embeddings({**dict(zip(texts, X)), **dict(zip(qtexts, Q))})
    df = pd.DataFrame({"text": texts, "bucket": buckets}).vec.attach(X, name="emb")
    truth = {None: _truth(X, Q, k, None), 10: _truth(X, Q, k, buckets < 10), 1: _truth(X, Q, k, buckets < 1)}
    rows = []
    with faiss_threads(1):
        for kind in kinds:
            opts = {"m": m, "ef_construction": ef_construction, "ef_search": ef_search} if kind == "hnsw" else {}
            idx = df.vec.index(store="faiss", kind=kind, metric="cosine", column="emb", text="text", **opts)
            ours = idx.as_langchain(embeddings=emb)
            theirs = _langchain_faiss(X, texts, buckets, emb, kind, m, ef_construction, ef_search)
            qi = np.arange(queries)
            ms = _interleaved({"vecnb": lambda i: ours.similarity_search_with_score(qtexts[i], k=k),
                               "langchain": lambda i: theirs.similarity_search_with_score(qtexts[i], k=k),
                               "search": lambda i: idx.search(Q[i:i + 1], k=k)},
                              qi, repeats, budget_s)
            row: dict[str, Any] = {"kind": kind, "vecnb_ms": ms["vecnb"], "langchain_ms": ms["langchain"],
                                   "ratio": ms["vecnb"] / ms["langchain"], "idx_search_ms": ms["search"]}
            for sel, where in ((None, None), (10, {"bucket": {"$lt": 10}}), (1, {"bucket": {"$lt": 1}})):
                for name, store in (("vecnb", ours), ("langchain", theirs)):
                    found = [np.array([int(doc.id) for doc, _ in store.similarity_search_with_score(
                        q, k=k, filter=where)], dtype=np.int64) for q in qtexts]
                    key = "recall" if sel is None else f"{name}_recall_{sel}pct"
                    row[key if sel is not None else f"{name}_recall"] = _recall(found, truth[sel])
            row.update(n=n, d=d, k=k, params=opts or None, load_avg_1m=os.getloadavg()[0])
            rows.append(row)
            idx.close()
    return pd.DataFrame(rows)


def main() -> None:
    """Run :func:`compare` with its defaults and print the table and the load average."""
    pd.set_option("display.width", 200)
    out = compare()
    print(out.round(4).to_string(index=False))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
