"""Built-in benchmark data: clustered vectors with metadata, and query sampling.

ANN recall is meaningless on uniform random vectors (every point is nearly equidistant from
every other, so no graph or partition can find "the" neighbours). Real embeddings are
clustered and have a low intrinsic dimension; :func:`clustered` imitates both.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from vecnb._core.validation import positive_int

__all__ = ["LABEL_SHARES", "clustered"]

#: share of rows per ``label`` value: ``{"label": "a"}`` selects 1 %, ``"b"`` 9 %, ...
LABEL_SHARES: dict[str, float] = {"a": 0.01, "b": 0.09, "c": 0.40, "d": 0.50}


_positive_int = positive_int


def clustered_matrix(
    n: int,
    d: int,
    *,
    n_clusters: int | None = None,
    intrinsic_dim: int = 12,
    noise: float = 0.35,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors and their cluster ids (see :func:`clustered`).

    Returns
    -------
    X : ndarray, shape (n, d), float32, rows of unit length
    cluster : ndarray, shape (n,), int64

    Examples
    --------
    >>> X, labels = vecnb.bench.clustered_matrix(200, 8, n_clusters=4, seed=0)
    >>> X.shape, X.dtype, sorted(set(labels.tolist()))
    ((200, 8), dtype('float32'), [0, 1, 2, 3])
    >>> bool(np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5))
    True
    """
    n = _positive_int(n, "n")
    d = _positive_int(d, "d")
    n_clusters = _positive_int(n_clusters, "n_clusters") if n_clusters is not None else max(1, min(1000, n // 100))
    r = max(1, min(int(intrinsic_dim), d))
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    # uneven cluster sizes, like real topics
    weights = rng.dirichlet(np.full(n_clusters, 2.0))
    cluster = rng.choice(n_clusters, size=n, p=weights).astype(np.int64)
    X = np.empty((n, d), dtype=np.float32)
    order = np.argsort(cluster, kind="stable")
    bounds = np.searchsorted(cluster[order], np.arange(n_clusters + 1))
    for c in range(n_clusters):
        rows = order[bounds[c]:bounds[c + 1]]
        if len(rows) == 0:
            continue
        # each cluster varies along its own r directions (low intrinsic dimension) ...
        basis = rng.standard_normal((r, d)).astype(np.float32) / np.sqrt(d)
        z = rng.standard_normal((len(rows), r)).astype(np.float32)
        local = z @ basis
        # ... plus a little isotropic noise in every direction
        local += rng.standard_normal((len(rows), d)).astype(np.float32) * np.float32(0.1 / np.sqrt(d))
        X[rows] = centers[c] + np.float32(noise) * local * np.float32(np.sqrt(d / r))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, cluster


def clustered(
    n: int = 10_000,
    d: int = 64,
    *,
    n_clusters: int | None = None,
    intrinsic_dim: int = 12,
    noise: float = 0.35,
    seed: int = 0,
    column: str = "emb",
) -> pd.DataFrame:
    """Clustered synthetic vectors as a DataFrame with an embedding column and metadata.

    Points are drawn around ``n_clusters`` random unit centres (uneven cluster sizes); each
    cluster spreads along its own ``intrinsic_dim`` random directions plus a little noise in
    all ``d``, and every row is scaled to unit length. This gives neighbourhoods like real
    sentence embeddings (clustered, low intrinsic dimension) so that ANN recall means
    something — unlike uniform random vectors.

    Parameters
    ----------
    n, d : int
        Rows and dimension.
    n_clusters : int, optional
        Default ``clamp(n // 100, 1, 1000)``.
    intrinsic_dim : int
        Directions each cluster varies along (capped at ``d``).
    noise : float
        Spread of a cluster relative to the distance between centres.
    seed : int
        Everything is reproducible from it.
    column : str
        Name of the embedding column.

    Returns
    -------
    DataFrame, n rows, index 0..n-1
        ``column`` — ``fixed_size_list<float32>[d]`` (zero-copy ``df.vec.matrix``);
        ``cluster`` (int) — the cluster each row was drawn from;
        ``label`` (str) — ``"a"``/``"b"``/``"c"``/``"d"`` with shares 1 / 9 / 40 / 50 %,
        independent of the vectors, so ``{"label": "a"}`` is a 1 % filter;
        ``num`` (int) — uniform in 0..99, so ``{"num": {"$lt": p}}`` keeps p %.

    Examples
    --------
    >>> df = vecnb.bench.clustered(500, 16, seed=0)
    >>> df.shape, list(df.columns)
    ((500, 4), ['cluster', 'label', 'num', 'emb'])
    """
    import vecnb  # noqa: F401  (registers df.vec)

    X, cluster = clustered_matrix(n, d, n_clusters=n_clusters, intrinsic_dim=intrinsic_dim, noise=noise, seed=seed)
    rng = np.random.default_rng([seed, 1])
    labels = np.array(list(LABEL_SHARES))
    label = labels[rng.choice(len(labels), size=len(X), p=list(LABEL_SHARES.values()))]
    num = rng.integers(0, 100, size=len(X))
    df = pd.DataFrame({"cluster": cluster, "label": label, "num": num})
    return df.vec.attach(X, name=column)
