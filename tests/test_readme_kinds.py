"""The README's table "What each in-process kind holds, returns and scores" says what the code does.

Each row is read from README.md and checked through the public API: ``idx.info()`` reports the
same ``fetch`` / ``scores``; ``search(..., with_vectors=True)`` returns the vectors as written
where the table says so (reconstructed, near but not equal, where it says that); and scores are
the exact scores of the rows returned (1e-4) where the table says exact, or the exact scores of
the reconstructed vectors where it says approximate (issue 20).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import vecnb

README = Path(__file__).resolve().parents[1] / "README.md"


def _table() -> dict[tuple[str, str], tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    part = text.split("### What each in-process kind holds, returns and scores", 1)[1]
    rows = {}
    for line in part.splitlines():
        m = re.match(r"^\| `(\w+)`(?: `(\w+)`)? \|[^|]*\|([^|]*)\|([^|]*)\|$", line.strip())
        if m:
            rows[(m.group(1), m.group(2) or "exact")] = (m.group(3).strip(), m.group(4).strip())
        elif rows and not line.startswith("|"):
            break
    return rows


def test_the_table_lists_every_in_process_kind():
    assert set(_table()) == {("numpy", "exact"), ("faiss", "flat"), ("faiss", "hnsw"), ("faiss", "ivf"),
                             ("faiss", "sq8"), ("faiss", "pq")}


@pytest.mark.parametrize("store,kind", sorted(_table()))
def test_fetch_and_scores_are_what_the_readme_says(store, kind):
    if store == "faiss":
        pytest.importorskip("faiss")
    fetch_says, scores_says = _table()[(store, kind)]
    reconstructed = "reconstructed" in fetch_says
    exact_scores = scores_says.startswith("exact")
    df = vecnb.bench.clustered(3000, 32, seed=7)
    X = df.vec.matrix("emb").copy()
    X *= np.random.default_rng(1).uniform(0.5, 2.0, (len(X), 1)).astype(np.float32)  # not unit rows
    df = df.vec.attach(X, name="emb")
    opts = {} if store == "numpy" else {"kind": kind, **({"nlist": 16} if kind in ("ivf", "sq8", "pq") else {})}
    idx = df.vec.index(store=store, metric="cosine", column="emb", progress=False, **opts)
    info = idx.info()
    assert info.get("fetch", "exact") == ("reconstructed" if reconstructed else "exact")
    assert info.get("scores", "exact") == ("exact" if exact_scores else "reconstructed")
    Q = X[:8] + np.random.default_rng(2).normal(0, 0.05, (8, 32)).astype(np.float32)
    hits = idx.search(Q, k=5, with_vectors=True)
    got = np.stack(hits["emb"].to_numpy())
    true = X[hits.index.to_numpy()]
    err = np.abs(got - true).max()
    if reconstructed:
        assert 0 < err < 0.5 * np.abs(true).max()  # near, not equal: decoded from codes
    else:
        assert err <= 1e-6 * np.abs(true).max()  # the vectors as written (float32 rounding)
    q = Q[hits["query"].to_numpy()]
    cos = lambda a, b: np.einsum("ij,ij->i", a, b) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)  # noqa: E731
    # scores are those of the vectors returned: the true ones for exact kinds, decoded ones otherwise
    np.testing.assert_allclose(hits["score"], cos(q.astype(np.float64), got.astype(np.float64)), atol=1e-4)
    if exact_scores:
        np.testing.assert_allclose(hits["score"], cos(q.astype(np.float64), true.astype(np.float64)), atol=1e-4)
    else:
        assert np.abs(hits["score"] - cos(q.astype(np.float64), true.astype(np.float64))).max() > 1e-6
