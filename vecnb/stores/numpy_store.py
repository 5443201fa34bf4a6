"""``numpy``: exact search in memory — the reference every other store is tested against.

Vectors live in one float32 buffer in insertion order; search is :func:`vecnb.metrics.topk`
(blocked matrix product + fast per-row selection), filters are evaluated with
:func:`vecnb.filters.to_mask` on the store's metadata frame, so results are exact and ties
are broken by insertion order.

Rows are never changed in place: replacing or deleting rows builds a new buffer. That keeps
every matrix handed to :func:`~vecnb.metrics.topk` immutable, so it can cache squared norms
across searches (appending writes only past the end of earlier views, which is safe too).

Persistence (:meth:`NumpyStore.save` / :meth:`NumpyStore.load`): ``vectors.npy``,
``keys.npy``, ``metadata.parquet``, ``texts.parquet`` (when texts were given) and
``store.json`` in one folder; no pickle.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar, Iterator

import numpy as np
import pandas as pd

from vecnb import filters
from vecnb.metrics import topk
from vecnb.stores._persist import load_frame, read_store_json, save_frame
from vecnb.stores.base import BaseStore, as_ids

__all__ = ["NumpyStore", "MetaTable"]

_FORMAT = "vecnb-numpy-store"
_VERSION = 1


class MetaTable:
    """Row-aligned metadata (one row per slot) for in-process stores, with filter evaluation.

    Shared by the ``numpy`` and ``faiss`` stores: ``append`` adds rows, ``replace`` overwrites
    rows in place, ``take`` keeps a subset; ``mask(where)`` returns the rows that match.
    Columns unknown to some rows hold missing values (which match no comparison).
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


class NumpyStore(BaseStore):
    """Exact nearest-neighbour search over an in-memory float32 matrix.

    Parameters
    ----------
    dim : int
        Vector width.
    metric : {"cosine", "dot", "l2"}
    kind : {"exact", "auto"}
        The only kind is exact search.
    """

    name: ClassVar[str] = "numpy"
    kinds: ClassVar[tuple[str, ...]] = ("exact",)

    def __init__(self, *, dim: int, metric: str = "cosine", kind: str = "auto"):
        super().__init__(dim=dim, metric=metric, kind=kind)
        self._buf = np.empty((0, self.dim), dtype=np.float32)
        self._n = 0
        self._keys = np.empty(0, dtype=np.int64)
        self._slot: dict[int, int] = {}
        self._meta = MetaTable()
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
        slots = np.fromiter((self._slot.get(k, -1) for k in ids.tolist()), dtype=np.int64, count=len(ids))
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
            for j, k in enumerate(ids[new].tolist()):
                self._slot[k] = self._n + j
            self._meta.append(None if metadata is None else metadata.iloc[np.flatnonzero(new)], m)
            self._texts.extend([texts[i] for i in np.flatnonzero(new)] if texts is not None else [None] * m)
            self._n = need

    def delete(self, ids: Any) -> None:
        """Remove rows by id; ids that are not stored are ignored."""
        self._check_open()
        ids = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
        slots = np.array([self._slot[k] for k in ids.tolist() if k in self._slot], dtype=np.int64)
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
        self._slot = dict(zip(self._keys.tolist(), range(self._n)))

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
        q = self._check_queries(vectors, k)
        where = filters.parse(where)
        nq = len(q)
        ids = np.full((nq, k), -1, dtype=np.int64)
        scores = np.full((nq, k), -np.inf, dtype=np.float64)
        if self._n == 0:
            return ids, scores
        rows = None
        if where is not None:
            rows = np.flatnonzero(self._meta.mask(where))
            if len(rows) == 0:
                return ids, scores
        pos, sc = topk(self._matrix(), q, k, self.metric, rows=rows)
        m = pos.shape[1]
        ids[:, :m] = self._keys[pos]
        scores[:, :m] = sc
        return ids, scores

    def __len__(self) -> int:
        return self._n

    def fetch(self, ids: Any) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids`` (n, dim) float32 and a (n,) bool mask of which were found."""
        self._check_open()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        slots = np.fromiter((self._slot.get(k, -1) for k in ids.tolist()), dtype=np.int64, count=len(ids))
        found = slots >= 0
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        out[found] = self._buf[slots[found]]
        return out, found

    def iter_ids(self, batch_size: int = 1000) -> Iterator[np.ndarray]:
        """Stored ids in insertion order, ``batch_size`` at a time."""
        self._check_open()
        keys = self._keys.copy()
        for start in range(0, len(keys), batch_size):
            yield keys[start: start + batch_size]

    def info(self) -> dict[str, Any]:
        """What this store is: always exact search."""
        return {"store": self.name, "kind": "exact", "metric": self.metric, "dim": self.dim,
                "rows": self._n, "exact": True, "params": {}}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the store into folder ``path`` (created; existing files are overwritten)."""
        self._check_open()
        os.makedirs(path, exist_ok=True)
        np.save(os.path.join(path, "vectors.npy"), self._buf[: self._n], allow_pickle=False)
        np.save(os.path.join(path, "keys.npy"), self._keys, allow_pickle=False)
        save_frame(self._meta.frame, os.path.join(path, "metadata.parquet"))
        has_texts = any(t is not None for t in self._texts)
        if has_texts:
            pd.DataFrame({"text": pd.Series(self._texts, dtype=object)}).to_parquet(os.path.join(path, "texts.parquet"))
        with open(os.path.join(path, "store.json"), "w", encoding="utf-8") as fh:
            json.dump({"format": _FORMAT, "version": _VERSION, "dim": self.dim, "metric": self.metric,
                       "rows": self._n, "texts": has_texts}, fh)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NumpyStore":
        """Read a store written by :meth:`save`."""
        cfg = read_store_json(path, _FORMAT, _VERSION)
        store = cls(dim=cfg["dim"], metric=cfg["metric"])
        X = np.load(os.path.join(path, "vectors.npy"), allow_pickle=False)
        keys = np.load(os.path.join(path, "keys.npy"), allow_pickle=False)
        meta = load_frame(os.path.join(path, "metadata.parquet"))
        texts = None
        if cfg.get("texts"):
            texts = pd.read_parquet(os.path.join(path, "texts.parquet"))["text"].tolist()
        store.upsert(as_ids(keys), X, meta if len(meta.columns) else None, texts)
        return store
