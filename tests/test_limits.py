"""Bounded memory for huge ``k`` (issue 14, item 5), through the public API on every path.

``k=10**9`` on a 40-row index used to allocate (nq, 10**9) arrays first (the OOM killer ended
the process); it must return every row, ranked as ``k=40`` does. ``k=2**63`` (not an int64)
must raise :class:`InvalidInputError`, not a raw numpy / PostgreSQL error. The store-level
check is in the conformance suite (``test_huge_k_is_clamped_before_allocating``).
"""

from __future__ import annotations

import tracemalloc
import uuid

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb.errors import InvalidInputError

HUGE = 10**9
WORDS = ["gene", "cell", "protein", "library", "index", "search", "fox", "data"]


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    n = 40
    text = [" ".join(rng.choice(WORDS, 4)) for _ in range(n)]
    df = pd.DataFrame({"text": text, "year": rng.integers(1980, 2020, n)},
                      index=pd.Index([f"d{i}" for i in range(n)], name="doc"))
    return df.vec.attach(rng.normal(size=(n, 16)).astype(np.float32), name="emb")


STORES = ["numpy", "faiss", "chroma", "sqlite", "pgvector"]


@pytest.fixture(params=STORES)
def index(request, frame):
    name = request.param
    opts = {}
    if name == "pgvector":
        opts = {"url": request.getfixturevalue("pg_url"), "table": f"limits_{uuid.uuid4().hex[:10]}"}
    elif name in ("faiss", "chroma"):
        pytest.importorskip(name if name == "faiss" else "chromadb")
    idx = frame.vec.index(store=name, text="text", **opts)
    yield idx
    if name == "pgvector":
        idx.store.drop()
    idx.close()


def _small_peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200e6, f"peak {peak / 1e6:.0f} MB"
    return out


def test_index_search_with_huge_k(index, frame):
    q = frame.vec.matrix("emb")[:2]
    got = _small_peak(lambda: index.search(q, k=HUGE))
    want = index.search(q, k=40)
    assert len(got) == 80
    pd.testing.assert_frame_equal(got, want)
    got = index.search(q[0], k=HUGE, where={"year": {"$gte": 2000}})
    assert len(got) == int((frame["year"] >= 2000).sum())
    with pytest.raises(InvalidInputError, match="too large"):
        index.search(q, k=2**63)


def test_index_hybrid_with_huge_k(index, frame):
    q = frame.vec.matrix("emb")[0]
    got = _small_peak(lambda: index.hybrid("gene fox", vector=q, k=HUGE))
    assert 0 < len(got) <= 40 and got.index.is_unique
    with pytest.raises(InvalidInputError):
        index.hybrid("gene fox", vector=q, k=2**63)


def test_frame_searches_with_huge_k(frame):
    q = frame.vec.matrix("emb")[0]
    assert len(_small_peak(lambda: frame.vec.search(q, k=HUGE))) == 40
    kw = _small_peak(lambda: frame.vec.keyword("gene fox", text="text", k=HUGE))
    assert 0 < len(kw) <= 40
    hy = _small_peak(lambda: frame.vec.hybrid("gene fox", text="text", vector=q, k=HUGE))
    assert 0 < len(hy) <= 40
    for call in (lambda: frame.vec.search(q, k=2**63), lambda: frame.vec.keyword("gene", text="text", k=2**63),
                 lambda: frame.vec.hybrid("gene", text="text", vector=q, k=2**63)):
        with pytest.raises(InvalidInputError):
            call()


def test_query_objects_with_huge_k(frame):
    q = frame.vec.matrix("emb")[0]
    idx = frame.vec.index(text="text")
    assert len(_small_peak(lambda: idx.run(vecnb.Query.similar_to(q, k=HUGE)))) == 40
    assert 0 < len(_small_peak(lambda: idx.run(vecnb.Query.keyword("gene fox", k=HUGE)))) <= 40
    assert 0 < len(_small_peak(lambda: idx.run(vecnb.Query.hybrid("gene fox", vector=q, k=HUGE).rerank("mmr")))) <= 40
