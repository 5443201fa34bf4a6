"""Shared parts of the in-process stores (``numpy``, ``faiss``): metadata by slot, key <-> slot, fetch."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import filters
from vecnb._core.threads import single_blas_thread
from vecnb.stores.base import BaseStore

__all__ = ["InProcessStore", "KeyMap", "MetaTable"]

_CPUS = os.cpu_count() or 1  # read once


@contextlib.contextmanager
def blas_threads_for(n_queries: int) -> Iterator[None]:
    """Single-threaded BLAS while answering fewer queries than there are cores.

    A query-by-rows product for one query is too small to split: OpenBLAS's worker threads
    cost more than they save, and on a busy machine waiting for them to be scheduled turns a
    0.2 ms search into 10 ms (measured here on CISI, 1,460 x 384). The same rule faiss
    follows. Through :func:`vecnb._core.threads.single_blas_thread` (``threadpoolctl``'s
    libraries, set directly); does nothing without ``threadpoolctl``.
    """
    if n_queries >= _CPUS:
        yield
        return
    with single_blas_thread():
        yield


class MetaTable:
    """Row-aligned metadata (one row per slot) for in-process stores, with filter evaluation.

    Shared by the ``numpy`` and ``faiss`` stores: ``append`` adds rows, ``replace`` overwrites
    rows in place, ``take`` keeps a subset; ``mask(where)`` returns the rows that match.
    Columns unknown to some rows hold missing values (which match no comparison).

    Examples
    --------
    >>> from vecnb.stores.numpy_store import MetaTable
    >>> meta = MetaTable()
    >>> meta.append(pd.DataFrame({"year": [1990, 2001]}), 2)
    >>> meta.append(None, 1)                                   # a row without fields
    >>> meta.mask(vecnb.filters.parse({"year": {"$gte": 1995}}))
    array([False,  True, False])
    >>> meta.replace(np.array([0]), pd.DataFrame({"year": [2010]}))
    >>> meta.rows(np.array([0, 2]))
         year
    0  2010.0
    1     NaN
    >>> meta.take(np.array([1, 0]))
    >>> len(meta), meta.columns
    (2, ['year'])
    """

    def __init__(self) -> None:
        self._frame: pd.DataFrame = pd.DataFrame(index=pd.RangeIndex(0))
        self._parts: list[pd.DataFrame] = []  # appended, concatenated on next read
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def frame(self) -> pd.DataFrame:
        """The metadata as one frame (RangeIndex by slot)."""
        if self._parts:
            if len(self._parts) == 1 and len(self._frame) == 0 and len(self._frame.columns) == 0:
                self._frame = self._parts[0]  # one write into an empty table: share its columns, no copy
            else:
                self._frame = pd.concat([self._frame, *self._parts], ignore_index=True, sort=False)
            self._parts = []
        return self._frame

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if isinstance(c, str)]

    @staticmethod
    def _clean(metadata: pd.DataFrame | None, n: int) -> pd.DataFrame:
        if metadata is None:
            return pd.DataFrame(index=pd.RangeIndex(n))
        if not isinstance(metadata, pd.DataFrame):
            metadata = pd.DataFrame(metadata)
        return metadata.reset_index(drop=True)

    def append(self, metadata: pd.DataFrame | None, n: int) -> None:
        """Add ``n`` rows (``metadata`` may be ``None``: rows without fields)."""
        self._parts.append(self._clean(metadata, n))
        self._n += n

    def replace(self, slots: np.ndarray, metadata: pd.DataFrame | None) -> None:
        """Overwrite the metadata of rows ``slots`` (a new frame; the old one is not mutated)."""
        part = self._clean(metadata, len(slots))
        frame = self.frame
        keep = np.ones(self._n, dtype=bool)
        keep[slots] = False
        # rebuild by concatenation so dtypes follow pandas' usual union rules
        order = np.concatenate([np.flatnonzero(keep), slots])
        merged = pd.concat([frame.iloc[np.flatnonzero(keep)], part.set_axis(slots)], sort=False)
        inv = np.empty(self._n, dtype=np.int64)
        inv[order] = np.arange(self._n)
        self._frame = merged.iloc[inv].reset_index(drop=True)

    def take(self, slots: np.ndarray) -> None:
        """Keep only rows ``slots``, in that order."""
        self._frame = self.frame.iloc[np.asarray(slots, dtype=np.int64)].reset_index(drop=True)
        self._n = len(slots)

    def mask(self, where: filters.Node | None) -> np.ndarray:
        """Boolean (n,) mask of the rows matching ``where`` (all True for ``None``)."""
        if where is None:
            return np.ones(self._n, dtype=bool)
        frame = self.frame
        missing = filters.fields(where) - set(frame.columns)
        if missing:
            # a field no row has: comparisons on it match nothing (like a column of missing values)
            frame = frame.assign(**{f: pd.Series([None] * self._n, dtype=object) for f in missing})
        return filters.to_mask(where, frame)

    def rows(self, slots: np.ndarray) -> pd.DataFrame:
        return self.frame.iloc[np.asarray(slots, dtype=np.int64)].reset_index(drop=True)


class KeyMap:
    """``key -> slot`` for int64 keys: nothing while key ``i`` is at slot ``i`` (a store filled
    once by :class:`vecnb.VectorIndex`, which hands out keys 0, 1, 2, ...), a dense array while
    keys are small non-negative integers, a dict otherwise.

    The identity costs no memory, the dense form 8 bytes per key instead of ~100 for a Python
    dict of ints (20 MB per 200k rows); each switches to the next form for good when a write
    breaks its rule (a key at another slot; a negative key or one far beyond the count).
    All methods take and return arrays; missing keys map to -1.
    """

    __slots__ = ("_arr", "_dict", "_n", "_ident")

    def __init__(self) -> None:
        self._arr: np.ndarray | None = None
        self._dict: dict[int, int] | None = None
        self._n = 0
        self._ident = True  # key i -> slot i for i < _n (no array held)

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        if self._ident:
            return 0
        return int(self._arr.nbytes) if self._arr is not None else 100 * self._n  # a dict: ~100 B per entry

    def _materialize(self) -> None:
        if self._ident:
            self._arr, self._ident = np.arange(self._n, dtype=np.int64), False

    def _dense_ok(self, ids: np.ndarray) -> bool:
        if self._arr is None:
            return False
        if not len(ids):
            return True
        return int(ids.min()) >= 0 and int(ids.max()) < max(4 * (self._n + len(ids)), 1024)

    def _to_dict(self) -> None:
        arr = self._arr
        live = np.flatnonzero(arr >= 0)
        self._dict = dict(zip(live.tolist(), arr[live].tolist()))
        self._arr = None

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Slot (n,) int64 of each key (-1 where the key is not stored)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if self._ident:
            return np.where((ids >= 0) & (ids < self._n), ids, -1)
        if self._arr is not None:
            out = np.full(len(ids), -1, dtype=np.int64)
            ok = (ids >= 0) & (ids < len(self._arr))
            out[ok] = self._arr[ids[ok]]
            return out
        get = self._dict.get
        return np.fromiter((get(k, -1) for k in ids.tolist()), dtype=np.int64, count=len(ids))

    def assign(self, ids: np.ndarray, slots: np.ndarray) -> None:
        """Map keys ``ids`` (unique, not stored) to ``slots``."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        slots = np.asarray(slots, dtype=np.int64).reshape(-1)
        if self._ident:
            nxt = np.arange(self._n, self._n + len(ids), dtype=np.int64)
            if np.array_equal(ids, nxt) and np.array_equal(slots, nxt):
                self._n += len(ids)
                return
            self._materialize()
        if not self._dense_ok(ids) and self._arr is not None:
            self._to_dict()
        if self._arr is not None:
            top = int(ids.max()) + 1 if len(ids) else 0
            if top > len(self._arr):
                grown = np.full(max(top, int(len(self._arr) * 1.5) + 64), -1, dtype=np.int64)
                grown[: len(self._arr)] = self._arr
                self._arr = grown
            self._arr[ids] = slots
        else:
            self._dict.update(zip(ids.tolist(), slots.tolist()))
        self._n += len(ids)

    def remove(self, ids: np.ndarray) -> None:
        """Forget keys ``ids`` (stored ones; unique)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not len(ids):
            return
        self._materialize()
        if self._arr is not None:
            ids = ids[(ids >= 0) & (ids < len(self._arr))]
            ids = ids[self._arr[ids] >= 0]
            self._arr[ids] = -1
            self._n -= len(ids)
        else:
            for k in ids.tolist():
                if self._dict.pop(k, None) is not None:
                    self._n -= 1

    def reset(self, keys: np.ndarray) -> None:
        """Start again with ``keys[i] -> i`` for every key (any int64, negative ones too)."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        self._arr, self._dict, self._n, self._ident = None, None, 0, True
        self.assign(keys, np.arange(len(keys), dtype=np.int64))

    def rebuild(self, slot_keys: np.ndarray) -> None:
        """Start again from each slot's key (-1: a dead slot)."""
        slot_keys = np.asarray(slot_keys, dtype=np.int64)
        live = np.flatnonzero(slot_keys >= 0)
        self._arr, self._dict, self._n, self._ident = None, None, 0, True
        self.assign(slot_keys[live], live)


class InProcessStore(BaseStore):
    """A float32 buffer of rows by *slot*, a ``key -> slot`` dict and a :class:`MetaTable`.

    Subclasses keep ``self._buf`` (capacity, dim), ``self._slot`` (live key -> slot) and
    ``self._meta``; this class adds :meth:`fetch` and the common start of ``search``.
    """

    def __init__(self, *, dim: int, metric: str = "cosine", kind: str = "auto"):
        super().__init__(dim=dim, metric=metric, kind=kind)
        self._buf = np.empty((0, self.dim), dtype=np.float32)
        self._slot = KeyMap()
        self._meta = MetaTable()

    def _slots_of(self, ids: np.ndarray) -> np.ndarray:
        """Slot of each id (-1 where not stored)."""
        return self._slot.lookup(ids)

    def fetch(self, ids: Any) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids`` (n, dim) float32 and a (n,) bool mask of which were found."""
        self._check_open()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        slots = self._slots_of(ids)
        found = slots >= 0
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        out[found] = self._buf[slots[found]]
        return out, found

    def fetch_metadata(self, ids: Any) -> pd.DataFrame:
        """Metadata of ``ids``: one row per id, in order; missing values for unknown ids."""
        self._check_open()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        slots = self._slots_of(ids)
        found = slots >= 0
        rows = self._meta.rows(slots[found])
        if found.all():
            return rows
        return rows.set_axis(np.flatnonzero(found)).reindex(pd.RangeIndex(len(ids)))

    def _begin_search(self, vectors: Any, k: int, where: Any
                      ) -> tuple[np.ndarray, filters.Node | None, np.ndarray, np.ndarray]:
        """Validated queries (nq, dim), the parsed filter, and empty (-1 / -inf) result arrays (nq, w).

        ``w`` is :meth:`~vecnb.stores.base.BaseStore._width`: callers search for ``ids.shape[1]`` hits.
        """
        q = self._check_queries(vectors, k)
        k = self._width(k, len(self))  # a huge k is clamped before anything is allocated
        ids = np.full((len(q), k), -1, dtype=np.int64)
        scores = np.full((len(q), k), -np.inf, dtype=np.float64)
        return q, filters.parse(where), ids, scores
