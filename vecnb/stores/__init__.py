"""Store registry: names map to ``"module:Class"`` and are imported on first use.

Built-in stores and the extra each needs::

    numpy          (none)              exact, in memory; the reference for every other store
    faiss          vecnb[faiss]        flat / ivf / hnsw / sq8 / pq, with filtered-search planner
    chroma         vecnb[chroma]       chromadb, ephemeral or persistent
    sqlite         vecnb[sqlite]       sqlite-vec + FTS5 in one file, through apsw
    pgvector       vecnb[pgvector]     PostgreSQL + pgvector through psycopg 3
    elasticsearch  vecnb[elasticsearch] dense_vector + knn through the official client

Third-party stores register with :func:`register` or the ``vecnb.stores`` entry-point group
(``name = "package.module:Class"``).
"""

from __future__ import annotations

from typing import Any

from vecnb._core.lazy import load
from vecnb.errors import UnknownStoreError
from vecnb.stores.base import BaseStore, VectorStore

__all__ = ["names", "register", "get", "create", "BaseStore", "VectorStore"]

# name -> (target, extra to install)
_BUILTIN: dict[str, tuple[str, str | None]] = {
    "numpy": ("vecnb.stores.numpy_store:NumpyStore", None),
    "faiss": ("vecnb.stores.faiss_store:FaissStore", "faiss"),
    "chroma": ("vecnb.stores.chroma_store:ChromaStore", "chroma"),
    "sqlite": ("vecnb.stores.sqlite_store:SqliteStore", "sqlite"),
    "pgvector": ("vecnb.stores.pgvector_store:PgVectorStore", "pgvector"),
    "elasticsearch": ("vecnb.stores.elasticsearch_store:ElasticsearchStore", "elasticsearch"),
}
_ALIASES = {"np": "numpy", "memory": "numpy", "postgres": "pgvector", "postgresql": "pgvector", "pg": "pgvector",
            "es": "elasticsearch", "chromadb": "chroma", "sqlite-vec": "sqlite", "sqlite_vec": "sqlite"}
_registry: dict[str, tuple[Any, str | None]] = dict(_BUILTIN)
_entry_points_loaded = False


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="vecnb.stores"):
            _registry.setdefault(ep.name, (ep.value, None))
    except Exception:  # pragma: no cover - broken metadata must not break vecnb
        pass


def names() -> list[str]:
    """Names of every registered store (built-in, registered, entry points).

    Examples
    --------
    >>> vecnb.stores.names()
    ['chroma', 'elasticsearch', 'faiss', 'numpy', 'pgvector', 'sqlite']
    """
    _load_entry_points()
    return sorted(_registry)


def register(name: str, target: Any, *, extra: str | None = None, overwrite: bool = False) -> None:
    """Register a store class, or ``"module:Class"`` imported on first use.

    Examples
    --------
    A package registers its store once, e.g. ``register("mystore", "mypkg.store:MyStore", extra="mystore")``
    (imported on first use; ``extra`` names the ``pip install`` hint), or through the ``vecnb.stores``
    entry-point group. A name is never silently taken over:

    >>> vecnb.stores.register("numpy", "vecnb.stores.numpy_store:NumpyStore")   # the same target: a no-op
    >>> vecnb.stores.register("numpy", "mypkg.store:MyStore")
    Traceback (most recent call last):
    ...
    ValueError: store 'numpy' is already registered; pass overwrite=True to replace it
    """
    if not isinstance(name, str) or not name:
        raise ValueError("store name must be a non-empty string")
    if name in _registry and not overwrite and _registry[name][0] != target:
        raise ValueError(f"store {name!r} is already registered; pass overwrite=True to replace it")
    _registry[name] = (target, extra)


def get(name: str) -> type:
    """The store class for ``name`` (imported now).

    Raises
    ------
    UnknownStoreError, MissingDependencyError

    Examples
    --------
    >>> vecnb.stores.get("numpy").__name__
    'NumpyStore'
    >>> vecnb.stores.get("nosuch")
    Traceback (most recent call last):
    ...
    vecnb.errors.UnknownStoreError: Unknown store 'nosuch'. Known stores: chroma, elasticsearch, faiss, ...
    """
    _load_entry_points()
    key = _ALIASES.get(name, name) if isinstance(name, str) else name
    if key not in _registry:
        raise UnknownStoreError(f"Unknown store {name!r}. Known stores: {', '.join(names())}.")
    target, extra = _registry[key]
    if not isinstance(target, str):
        return target
    return load(target, feature=f"The {key!r} store", extra=extra)


def create(name: str, **params: Any) -> Any:
    """Instantiate store ``name`` with its constructor parameters.

    Examples
    --------
    >>> store = vecnb.stores.create("numpy", dim=3, metric="cosine")
    >>> store.upsert(np.array([10, 11]), np.array([[1, 0, 0], [0, 1, 0]], dtype="float32"))
    >>> ids, scores = store.search(np.array([[1, 0.1, 0]], dtype="float32"), k=1)
    >>> len(store), ids.tolist(), scores.round(3).tolist()
    (2, [[10]], [[0.995]])
    """
    return get(name)(**params)
