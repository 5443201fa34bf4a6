"""``numpy``: exact search in memory — the reference every other store is tested against.

Vectors live in one float32 buffer in insertion order; search is :func:`vecnb.metrics.topk`
(blocked matrix product + fast per-row selection), filters are evaluated with
:func:`vecnb.filters.to_mask` on the store's metadata frame, so results are exact and ties
are broken by insertion order.

Rows are never changed in place: replacing or deleting rows builds a new buffer. That keeps
every matrix handed to :func:`~vecnb.metrics.topk` immutable, so it can cache squared norms
across searches (appending writes only past the end of earlier views, which is safe too).

Persistence (:meth:`NumpyStore.save` / :meth:`NumpyStore.load`): ``vectors.npy``,
``keys.npy``, ``metadata.arrow`` (Arrow IPC; older saves' ``metadata.parquet`` still load),
``texts.parquet`` (when texts were given) and
``store.json`` in one folder; no pickle. ``load(path, mmap=True)`` maps ``vectors.npy``
read-only (``mmap_mode="r"``) instead of reading it: the store opens at once and pages rows
in as searches touch them; since rows are never changed in place, the first write that
replaces, deletes or appends builds an in-memory buffer as usual.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from vecnb._core import filters
from vecnb._core.metrics import topk
from vecnb.stores._inprocess import InProcessStore, MetaTable, blas_threads_for
from vecnb.stores._persist import constructor_options, folder_lock, load_frame, load_npy, meta_file, read_store_json, save_frame
from vecnb.errors import DuplicateIdError, IndexFormatError, InvalidInputError, InvalidVectorError
from vecnb.stores.base import as_ids

__all__ = ["MetaTable", "NumpyStore"]  # MetaTable re-exported for other in-process stores

_FORMAT = "vecnb-numpy-store"
_VERSION = 1


class NumpyStore(InProcessStore):
    """Exact nearest-neighbour search over an in-memory float32 matrix.

    Parameters
    ----------
    dim : int
        Vector width.
    metric : {"cosine", "dot", "l2"}
    kind : {"exact", "auto"}
        The only kind is exact search.

    Examples
    --------
    Exact search in process, vectors in one float32 matrix (``df.vec.index()``'s default store):

    >>> store = vecnb.stores.create("numpy", dim=2, metric="dot")
    >>> store.upsert(np.array([5, 6]), np.array([[1, 0], [0, 2]], np.float32),
    ...              metadata=pd.DataFrame({"year": [1990, 2001]}))
    >>> store.search(np.array([[1.0, 1.0]], np.float32), k=2, where=vecnb.filters.parse({"year": {"$gt": 1995}}))
    (array([[ 6, -1]]), array([[  2., -inf]]))
    >>> _ = store.save("np_store"); len(type(store).load("np_store"))
    2
    """

    name: ClassVar[str] = "numpy"
    capabilities: ClassVar[frozenset[str]] = frozenset({"fetch", "info", "iter_ids", "metadata", "persist", "texts"})
    kinds: ClassVar[tuple[str, ...]] = ("exact",)

    def __init__(self, *, dim: int, metric: str = "cosine", kind: str = "auto"):
        super().__init__(dim=dim, metric=metric, kind=kind)
        self._n = 0
        self._keys = np.empty(0, dtype=np.int64)
        self._texts: list[str | None] = []

    # ------------------------------------------------------------------ writes
    def upsert(self, ids: Any, vectors: Any, metadata: pd.DataFrame | None = None,
               texts: list[str] | None = None) -> None:
        """Insert rows, replacing those whose id is already stored.

        Parameters
        ----------
        ids : array (n,) int64
        vectors : array (n, dim) float32
        metadata : DataFrame (n rows), optional
            Scalar columns that ``where`` filters can name.
        texts : list of str (n), optional
            Kept for :meth:`fetch_texts`; the numpy store has no keyword search.
        """
        ids, vecs = self._check_write(ids, vectors, metadata, texts)
        if len(ids) == 0:
            return
        slots = self._slots_of(ids)
        old = slots >= 0
        if old.any():
            # replace: build a new buffer, never write into rows an earlier search may have cached
            buf = self._buf[: self._n].copy()
            buf[slots[old]] = vecs[old]
            self._buf = buf
            self._meta.replace(slots[old], None if metadata is None else metadata.iloc[np.flatnonzero(old)])
            for s, i in zip(slots[old].tolist(), np.flatnonzero(old).tolist()):
                self._texts[s] = texts[i] if texts is not None else None
        new = ~old
        m = int(new.sum())
        if m:
            need = self._n + m
            if need > len(self._buf):
                cap = max(need, int(len(self._buf) * 1.5) + 16)
                grown = np.empty((cap, self.dim), dtype=np.float32)
                grown[: self._n] = self._buf[: self._n]
                self._buf = grown
            self._buf[self._n: need] = vecs[new]
            self._keys = np.concatenate([self._keys, ids[new]])
            self._slot.assign(ids[new], np.arange(self._n, need, dtype=np.int64))
            self._meta.append(None if metadata is None else metadata.iloc[np.flatnonzero(new)], m)
            self._texts.extend([texts[i] for i in np.flatnonzero(new)] if texts is not None else [None] * m)
            self._n = need

    def fetch_texts(self, ids: Any) -> list[str | None]:
        """The texts stored for ``ids`` (``None`` where a key has no text or is missing)."""
        self._check_open()
        slots = self._slots_of(np.asarray(ids, dtype=np.int64).reshape(-1))
        return [self._texts[s] if s >= 0 else None for s in slots.tolist()]

    def delete(self, ids: Any) -> None:
        """Remove rows by id; ids that are not stored are ignored."""
        self._check_open()
        ids = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
        slots = self._slot.lookup(ids)
        slots = slots[slots >= 0]
        if len(slots) == 0:
            return
        keep = np.ones(self._n, dtype=bool)
        keep[slots] = False
        kept = np.flatnonzero(keep)
        self._buf = self._buf[kept].copy() if len(kept) else np.empty((0, self.dim), np.float32)
        self._keys = self._keys[kept]
        self._meta.take(kept)
        self._texts = [self._texts[i] for i in kept.tolist()]
        self._n = len(kept)
        self._slot.reset(self._keys)  # every key is live (negative keys too: rebuild reads -1 as dead)

    # ------------------------------------------------------------------ reads
    def _matrix(self) -> np.ndarray:
        view = self._buf[: self._n]
        view.flags.writeable = False  # lets topk cache the norms of this (immutable) view
        return view

    def search(self, vectors: Any, k: int, where: filters.Node | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` per query.

        Returns
        -------
        ids : ndarray (nq, k) int64, padded with -1
        scores : ndarray (nq, k) float64, padded with -inf
        """
        q, where, ids, scores = self._begin_search(vectors, k, where)
        if self._n == 0:
            return ids, scores
        rows = None
        if where is not None:
            rows = np.flatnonzero(self._meta.mask(where))
            if len(rows) == 0:
                return ids, scores
        with blas_threads_for(len(q)):
            pos, sc = topk(self._matrix(), q, k, self.metric, rows=rows, checked=True)
        m = pos.shape[1]
        ids[:, :m] = self._keys[pos]
        scores[:, :m] = sc
        return ids, scores

    def __len__(self) -> int:
        return self._n

    def iter_ids(self, batch_size: int = 1000) -> Iterator[np.ndarray]:
        """Stored ids in insertion order, ``batch_size`` at a time."""
        self._check_open()
        keys = self._keys.copy()
        for start in range(0, len(keys), batch_size):
            yield keys[start: start + batch_size]

    def info(self) -> dict[str, Any]:
        """What this store is: always exact search."""
        return {"store": self.name, "kind": "exact", "metric": self.metric, "dim": self.dim,
                "rows": self._n, "exact": True, "params": {}, "scores": "exact", "fetch": "exact",
                "memory_bytes": int(self._buf.nbytes + self._keys.nbytes),
                "memory_mapped": isinstance(self._buf, np.memmap)}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the store into folder ``path``, whole: saves to one folder take turns (see ``folder_lock``)."""
        with folder_lock(path):
            self._save_files(path)

    def _save_files(self, path: str | os.PathLike) -> None:
        """Write the store into folder ``path`` (created; existing files are overwritten)."""
        self._check_open()
        os.makedirs(path, exist_ok=True)
        np.save(os.path.join(path, "vectors.npy"), self._buf[: self._n], allow_pickle=False)
        np.save(os.path.join(path, "keys.npy"), self._keys, allow_pickle=False)
        save_frame(self._meta.frame, os.path.join(path, "metadata.arrow"))
        has_texts = any(t is not None for t in self._texts)
        if has_texts:
            pd.DataFrame({"text": pd.Series(self._texts, dtype=object)}).to_parquet(os.path.join(path, "texts.parquet"))
        with open(os.path.join(path, "store.json"), "w", encoding="utf-8") as fh:
            json.dump({"format": _FORMAT, "version": _VERSION, "dim": self.dim, "metric": self.metric,
                       "rows": self._n, "texts": has_texts}, fh)

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = False) -> NumpyStore:
        """Read a store written by :meth:`save` (never while a save to the folder runs); see ``_load_files``."""
        with folder_lock(path, shared=True):
            return cls._load_files(path, mmap=mmap)

    @classmethod
    def _load_files(cls, path: str | os.PathLike, *, mmap: bool = False) -> NumpyStore:
        """Read a store written by :meth:`save`.

        Parameters
        ----------
        mmap : bool
            Map ``vectors.npy`` read-only instead of reading it (see the module docstring).
        """
        cfg = read_store_json(path, _FORMAT, _VERSION)
        where = repr(os.fspath(path))
        opts = constructor_options(cls, {k: cfg.get(k) for k in ("dim", "metric")}, {"dim", "metric"}, where)
        store = cls(**opts)
        X = load_npy(os.path.join(path, "vectors.npy"), (cfg.get("rows"), store.dim), "f", mmap=mmap)
        keys = load_npy(os.path.join(path, "keys.npy"), (len(X),), "iu", mmap=mmap)
        meta_fn = meta_file(os.fspath(path))
        meta = load_frame(meta_fn, mmap=mmap)
        if len(meta) != len(X):
            raise IndexFormatError(f"{where}: {os.path.basename(meta_fn)} holds {len(meta)} rows for {len(X)} vectors.")
        texts = None
        if cfg.get("texts"):
            texts = pd.read_parquet(os.path.join(path, "texts.parquet"))["text"].tolist()
            if len(texts) != len(X):
                raise IndexFormatError(f"{where}: texts.parquet holds {len(texts)} rows for {len(X)} vectors.")
        if mmap and X.dtype != np.float32:
            raise IndexFormatError(f"{where}: vectors.npy holds {X.dtype}, not float32; it cannot be mapped. "
                                   "Load it without mmap.")
        try:
            store._restore(keys, X, meta if len(meta.columns) else None, texts, check=not mmap)
        except DuplicateIdError:  # named as such (a damaged keys.npy repeating a key)
            raise
        except (InvalidInputError, InvalidVectorError) as exc:  # saved data no write would accept: damaged
            raise IndexFormatError(f"{where}: keys.npy / vectors.npy hold data no write accepts ({exc}); the copy "
                                   "is damaged or was tampered with.") from None
        return store

    def _restore(self, keys: np.ndarray, X: np.ndarray, meta: pd.DataFrame | None,
                 texts: list[str | None] | None, *, check: bool) -> None:
        """Take saved arrays as the store's state in one step (no upsert: no copies, no per-row work).

        ``check`` runs the write checks (unique keys, finite / non-zero vectors, one metadata row
        and one text per vector); a memory map skips the vector scan, which would page it all in.
        """
        if check:
            keys, X = self._check_write(keys, X, meta, texts)
        else:
            keys = as_ids(keys)
        self._buf = X  # a map is read-only and a loaded array is ours: rows are replaced by new buffers
        self._keys = keys
        self._n = len(keys)
        self._slot.reset(keys)  # vectorised: a dense array for keys 0..n-1
        self._meta.append(meta, self._n)
        self._texts = list(texts) if texts is not None else [None] * self._n
