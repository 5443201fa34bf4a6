"""The store protocol every backend implements, and shared validation.

A store holds vectors under int64 keys, with optional metadata (for ``where`` filters) and
optional text (for keyword search). :class:`vecnb.VectorIndex` maps the DataFrame's index
labels to those keys and builds result frames; a store never sees a DataFrame label.

Protocol (fsspec / httpx-transport sized, no ``**kwargs`` bags)::

    store = StoreClass(dim=384, metric="cosine", kind="hnsw", <explicit store options>)
    store.upsert(ids, vectors, metadata=None, texts=None)   # insert or replace
    store.delete(ids)                                       # missing ids are a no-op
    ids, scores = store.search(queries, k, where=None)      # (nq, k) int64 / float64
    len(store); store.close(); with store: ...

``search`` returns keys best first, padded with ``-1`` (and score ``-inf``) when fewer
than ``k`` rows qualify; scores follow vecnb's convention (higher is closer, see
:mod:`vecnb.metrics`). ``where`` is a parsed filter tree (:func:`vecnb.filters.parse`).

Optional capabilities, discovered with ``hasattr``:

* ``keyword(texts, k, where=None) -> (ids, scores)``  BM25-style keyword search;
* ``fetch(ids) -> (vectors, found_mask)``             read vectors back (sync / migration);
* ``iter_ids(batch_size) -> Iterator[np.ndarray]``      stream keys (migration);
* ``save(path)`` / ``classmethod load(path)``          in-process stores' persistence;
* ``info() -> dict``                                     what the store chose (kind, params).

Constructors only store parameters; connections open on first use.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterator, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from vecnb.errors import DimensionMismatchError, DuplicateIdError, InvalidInputError, StoreError
from vecnb._core.filters import Node
from vecnb._core.metrics import as_matrix, check_vectors, resolve_metric

__all__ = ["VectorStore", "BaseStore", "as_ids", "pad_results"]


@runtime_checkable
class VectorStore(Protocol):
    """What vecnb needs from a backend."""

    name: ClassVar[str]
    dim: int
    metric: str

    def upsert(self, ids: np.ndarray, vectors: np.ndarray, metadata: pd.DataFrame | None = None,
               texts: list[str] | None = None) -> None: ...

    def delete(self, ids: np.ndarray) -> None: ...

    def search(self, vectors: np.ndarray, k: int, where: Node | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


def as_ids(ids: Any, *, what: str = "ids") -> np.ndarray:
    """Validate keys: a 1-D int64 array without duplicates."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise InvalidInputError(f"{what} must be 1-D, got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(f"{what} must be integer keys, got dtype {arr.dtype}.")
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        uniq, counts = np.unique(arr, return_counts=True)
        if (counts > 1).any():
            dup = uniq[counts > 1]
            raise DuplicateIdError(
                f"{len(dup)} id(s) appear more than once in one write (e.g. {dup[:5].tolist()}); "
                "each row must have a unique id (check df.index.is_unique)."
            )
    return arr


def pad_results(ids_rows: list, score_rows: list, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-query lists into (nq, k) arrays padded with -1 / -inf."""
    nq = len(ids_rows)
    ids = np.full((nq, k), -1, dtype=np.int64)
    scores = np.full((nq, k), -np.inf, dtype=np.float64)
    for i, (a, b) in enumerate(zip(ids_rows, score_rows)):
        m = min(k, len(a))
        ids[i, :m] = np.asarray(a, dtype=np.int64)[:m]
        scores[i, :m] = np.asarray(b, dtype=np.float64)[:m]
    return ids, scores


class BaseStore:
    """Shared validation for stores: metric, dimension, vectors, ids, open / closed state.

    Subclasses call :meth:`_check_write` / :meth:`_check_queries` and implement the rest.
    """

    name: ClassVar[str] = "base"
    kinds: ClassVar[tuple[str, ...]] = ("exact",)

    def __init__(self, *, dim: int, metric: str = "cosine", kind: str = "auto"):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim <= 0:
            raise InvalidInputError(f"dim must be a positive integer, got {dim!r}.")
        self.dim = int(dim)
        self.metric = resolve_metric(metric)
        if kind != "auto" and kind not in self.kinds:
            raise InvalidInputError(
                f"Store {self.name!r} has no index kind {kind!r}; choose one of {', '.join(self.kinds)} or 'auto'."
            )
        self.kind = kind
        self._closed = False

    # -- validation --------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed; create a new one", store=self.name, operation="use")

    def _check_write(self, ids: Any, vectors: Any, metadata: pd.DataFrame | None = None,
                     texts: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        self._check_open()
        ids = as_ids(ids)
        vecs = as_matrix(vectors, what="vectors")
        if vecs.shape[0] != len(ids):
            raise InvalidInputError(f"{len(ids)} ids but {vecs.shape[0]} vectors; pass one vector per id.")
        if len(ids) and vecs.shape[1] != self.dim:
            raise DimensionMismatchError(
                f"Store {self.name!r} holds {self.dim}-d vectors; got {vecs.shape[1]}-d. "
                "Re-embed with the model the store was built with, or build a new store."
            )
        check_vectors(vecs, self.metric, what="vectors")
        if metadata is not None and len(metadata) != len(ids):
            raise InvalidInputError(f"metadata has {len(metadata)} rows for {len(ids)} ids.")
        if texts is not None and len(texts) != len(ids):
            raise InvalidInputError(f"texts has {len(texts)} entries for {len(ids)} ids.")
        return ids, vecs

    def _check_queries(self, vectors: Any, k: int) -> np.ndarray:
        self._check_open()
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}.")
        q = as_matrix(vectors, what="query vectors")
        if q.shape[1] != self.dim:
            raise DimensionMismatchError(
                f"Query vectors are {q.shape[1]}-d but store {self.name!r} holds {self.dim}-d vectors. "
                "Embed queries with the model the store was built with."
            )
        check_vectors(q, self.metric, what="query vectors")
        return q

    # -- lifecycle ---------------------------------------------------------------
    def close(self) -> None:
        """Release resources; further use raises :class:`StoreError`."""
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def iter_ids(self, batch_size: int = 1000) -> Iterator[np.ndarray]:  # pragma: no cover - overridden
        raise NotImplementedError(f"store {self.name!r} cannot stream its ids")

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self)} vectors"
        return f"<{type(self).__name__} {self.name} kind={self.kind} metric={self.metric} dim={self.dim} {state}>"
