"""``faiss``: flat / IVF / HNSW / IVF-SQ8 / IVF-PQ indexes, with a filtered-search planner.

Kinds
-----
=========  ===============================  ===============  ===========================  ==============
kind       faiss index                      holds per row    ``fetch`` returns            scores
=========  ===============================  ===============  ===========================  ==============
``flat``   ``IndexFlat``                    4d bytes         the vectors (exact [1]_)     exact
``hnsw``   ``IndexHNSWFlat`` (M, efC)       4d + graph       the vectors (exact [1]_)     exact [2]_
``ivf``    ``IndexIVFFlat`` (nlist)         4d + id          the vectors (exact [1]_)     exact [2]_
``sq8``    ``IndexIVFScalarQuantizer``      d + id           reconstructed (8-bit codes)  approximate [3]_
``pq``     ``IndexIVFPQ`` (pq_m codes)      pq_m + id        reconstructed (PQ codes)     approximate [3]_
``auto``   flat below 20,000 rows, hnsw below 2,000,000, sq8 above; re-chosen as data grows
=========  ===============================  ===============  ===========================  ==============

.. [1] ``cosine`` stores unit vectors (what faiss searches) and each row's norm; ``fetch``
   multiplies them back, equal to the input to float32 rounding (~1e-7 relative).
.. [2] the *ranking* is approximate (a graph / a few lists are searched); the score of every
   row returned is its exact score (faiss computes it on the float32 vectors).
.. [3] the compressed kinds keep only codes (that is what makes them small): each returned
   row is scored exactly against its *reconstructed* vector (what ``fetch`` returns), which
   differs from the original by the quantisation error (sq8 ~1e-3, pq ~1e-2 in cosine).

The trained kinds (ivf / sq8 / pq) search exactly (``flat``) until the store holds 1,000
rows, then train on the next search; ``info()`` shows the kind in use and the one asked.

How it works
------------
* **Each vector is held once**, by faiss. Every vector gets a *slot* (its faiss id);
  ``slot -> key`` is an array, ``key -> slot`` a :class:`~vecnb.stores._inprocess.KeyMap` (8 B per key). A replaced vector gets a new slot.
  Rows written since the last build wait in a *pending* buffer until the next search or
  :meth:`FaissStore.build` adds them to the index (trained kinds train on them there); once
  built, writes go straight into faiss. Vectors are read back from faiss itself: a zero-copy
  view of the float32 storage (flat, hnsw) or ``reconstruct_batch`` through a hashtable
  direct map (IVF kinds). They give exact float64 scores to ``flat``, ``refine`` re-ranking,
  exact search over a filter's few rows, ``fetch``, and rebuilds (a rebuild of sq8 / pq
  re-encodes reconstructed vectors: lossy, like any re-compression).
* Scores follow vecnb's convention: faiss's squared L2 distances become minus the
  Euclidean distance, ``cosine`` is the inner product of normalised vectors, ``dot`` the
  inner product. HNSW and IVF-flat compute each distance directly on float32 vectors
  (accurate to ~1e-6), so their answers are converted, not re-computed.
* Deletes: ``remove_ids`` for IVF kinds; flat and HNSW keep deleted slots as tombstones
  excluded with an ``IDSelectorBitmap``; when tombstones pass a quarter of the index it is
  rebuilt without them.
* ``where`` filters: the store evaluates the filter on its metadata (pandas), then plans:
  few allowed rows (<= ``exact_rows``, <= ``exact_fraction`` of the index, or for HNSW no more
  than its widened beam would hold) -> exact search
  over just those rows (gather + :func:`vecnb.metrics.topk`); else faiss search with an
  ``IDSelectorBitmap`` and ``efSearch`` / ``nprobe`` raised by up to 8x as the filter
  narrows; any query that comes back with fewer than ``min(k, allowed)`` hits is redone
  exactly. A filter never silently loses results.
* ``target_recall=``: on build, tune ``ef_search`` / ``nprobe`` on 256 held-out queries (half
  the midpoint of a sampled row and one of its 10 nearest neighbours, half a row pushed off the
  data by its distance to its 10th neighbour: not stored rows) against exact search, take the
  smallest setting whose recall@10 reaches the target, and report the recall reached in
  :meth:`info`. Without ``target_recall=`` (and without ``ef_search=`` / ``nprobe=``) the
  tuning targets 0.99 (HNSW) / 0.98 (IVF) and then adds headroom for real queries, which sit
  farther from the data than any synthetic sample: 2x ``nprobe``; ``ef_search`` at least 64
  (on CISI + MiniLM with its real queries the old midpoint-tuned ef 16 gave recall@10 0.97,
  ef 64 0.999). A search never uses an ``ef_search`` below its ``k``.
  :meth:`set_search_params` changes the settings (or re-tunes) later.
* Threads: a call with fewer queries than OpenMP threads runs faiss single-threaded (faiss
  takes a slow path when there are fewer queries than threads); the setting is restored.
* Persistence: ``faiss.write_index`` (no pickle) + ``slot_keys.npy`` / ``norms.npy`` /
  ``metadata.arrow`` (Arrow IPC; ``metadata.parquet`` in older saves) / ``store.json`` — no
  second copy of the vectors.
  ``load(path, mmap=True)`` maps a ``flat`` index's file instead of reading it
  (``IO_FLAG_MMAP_IFC``): it opens at once and pages in on demand; the first write copies it
  into memory.
* Memory: ``info()["memory_bytes"]`` counts what the store holds (faiss's arrays, the id
  map, norms, pending rows, the key map); the metadata frame comes on top. After a build the
  IVF kinds' inverted lists are copied to their exact size (faiss grows them by doubling) and
  freed memory is returned to the OS (``malloc_trim`` on glibc).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from vecnb._core import filters
from vecnb.errors import IndexFormatError, InvalidInputError, MissingDependencyError, StoreError
from vecnb._core.memory import release_free_memory
from vecnb._core.metrics import _exact_block, fast_einsum, topk
from vecnb.stores._inprocess import InProcessStore, blas_threads_for
from vecnb.stores.base import moderate_sum
from vecnb.stores._persist import constructor_options, folder_lock, load_frame, load_npy, meta_file, read_store_json, save_frame

try:
    import faiss
except ImportError as exc:  # pragma: no cover - exercised only without faiss
    raise MissingDependencyError.for_extra("The 'faiss' store", "faiss", exc.name) from exc

__all__ = ["FaissStore", "choose_kind"]

_FORMAT = "vecnb-faiss-store"
_VERSION = 2  # 2: no vectors.npy (faiss holds the vectors); 1 is still read
_CONFIG_KEYS = frozenset({"dim", "metric", "kind", "m", "ef_construction", "ef_search", "nlist", "nprobe", "pq_m", "refine",
                          "target_recall", "exact_rows", "exact_fraction"})

AUTO_FLAT_MAX = 20_000
AUTO_HNSW_MAX = 2_000_000
_EF_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
_REBUILD_DEAD_FRACTION = 0.25
_DEFAULT_IVF_TARGET = 0.98
_DEFAULT_HNSW_TARGET = 0.99
_DEFAULT_EF_FLOOR = 64  # default ef_search never below this (see FaissStore._add_headroom)
_TUNE_K = 10  # recall@10 on the harder queries below (recall@20 pushed clustered 50k x 384 to ef 384)
_TUNE_PUSH = 1.0  # far tuning queries: a row moved by this times its distance to its _TUNE_K-th neighbour
_BUILD_ROWS_PER_THREAD = 10_000
_TRAINED = ("ivf", "sq8", "pq")
MIN_TRAIN_ROWS = 1_000
_ADD_BATCH = 65_536  # rows per faiss add (bounds faiss's temporaries)
_COMPACT_MIN_LIST_BYTES = 128 << 10  # IVF lists are copied to their exact size above this mean size (see _compact_lists)
_HASHTABLE_ROW_BYTES = 40  # a std::unordered_map<int64, int64> entry (node + bucket), the IVF direct map


def _grown(a: np.ndarray, cap: int, used: int, fill: float) -> np.ndarray:
    """A copy of ``a`` with capacity ``cap`` rows (first ``used`` kept, the rest ``fill``)."""
    out = np.full((cap, *a.shape[1:]), fill, dtype=a.dtype)
    out[:used] = a[:used]
    return out


def choose_kind(n: int) -> str:
    """The kind ``auto`` picks for ``n`` rows: flat (exact) while cheap, then HNSW, then IVF-SQ8.

    Examples
    --------
    >>> choose_kind(1_000), choose_kind(10_000_000)
    ('flat', 'sq8')
    """
    if n < AUTO_FLAT_MAX:
        return "flat"
    if n < AUTO_HNSW_MAX:
        return "hnsw"
    return "sq8"


_ONE32, _TINY32 = np.float32(1.0), np.float32(1e-30)  # the scalars of _prep's float32 arithmetic


class _threads_for:  # noqa: N801 - used like the context-manager function it replaced
    """Run faiss single-threaded when the work is too small to split.

    Searches pass the number of queries (faiss 1.15 takes a slow path when there are fewer
    queries than threads); builds pass rows with ``per_thread=_BUILD_ROWS_PER_THREAD`` (small
    builds lose more to OpenMP start-up and, on a busy machine, to spinning threads than they
    gain). The previous setting is restored. A class, not a generator: ~1 us per search.
    """

    __slots__ = ("_before",)

    def __init__(self, n_items: int, per_thread: int = 1):
        before = faiss.omp_get_max_threads()
        self._before = before if before > 1 and n_items < before * per_thread else 0

    def __enter__(self) -> None:
        if self._before:
            faiss.omp_set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        if self._before:
            faiss.omp_set_num_threads(self._before)


class FaissStore(InProcessStore):
    """A faiss index in memory, with exact scores and a filtered-search planner.

    Parameters
    ----------
    dim : int
    metric : {"cosine", "dot", "l2"}
    kind : {"auto", "flat", "hnsw", "ivf", "sq8", "pq"}
    m : int
        HNSW graph degree (``M``).
    ef_construction : int
        HNSW build-time beam width.
    ef_search : int, optional
        HNSW search beam width (default: tuned to ``target_recall``, 0.99 unless given).
    nlist : int, optional
        IVF lists (default ``4 * sqrt(n)``, at most ``n / 39``).
    nprobe : int, optional
        IVF lists searched. Default: tuned on held-out queries to recall@10 >= 0.98, then
        doubled as headroom for queries unlike the stored rows (see ``info()["params"]``).
    pq_m : int, optional
        PQ sub-quantizers for ``kind="pq"`` (default: a divisor of ``dim`` near ``dim / 4``).
    refine : int, optional
        Candidates fetched per hit and re-scored (default 1). Re-scoring reads the vectors back
        from faiss: exact for flat / hnsw / ivf; for sq8 / pq it scores the reconstructed vectors,
        so it adds nothing there (they keep no original vectors, see the module docstring).
    target_recall : float, optional
        Tune ``ef_search`` / ``nprobe`` to reach this recall@10 (see the module docstring).
    exact_rows, exact_fraction :
        The filter planner searches exactly when a filter allows at most ``exact_rows`` rows
        or at most ``exact_fraction`` of them (defaults 4096 and 0.02).

    Examples
    --------
    >>> X, _ = vecnb.bench.clustered_matrix(300, 8, seed=0)
    >>> store = vecnb.stores.create("faiss", dim=8, kind="hnsw", m=16)
    >>> store.upsert(np.arange(300), X)
    >>> _ = store.build()
    >>> store.set_search_params(ef_search=64)
    >>> store.search_params()["ef_search"], store.info()["kind"], store.memory_bytes() > 0
    (64, 'hnsw', True)
    >>> store.search(X[:1], k=1)[0]
    array([[0]])
    """

    name: ClassVar[str] = "faiss"
    capabilities: ClassVar[frozenset[str]] = frozenset({"build", "fetch", "info", "iter_ids", "metadata", "persist"})
    kinds: ClassVar[tuple[str, ...]] = ("flat", "hnsw", "ivf", "sq8", "pq")

    def __init__(self, *, dim: int, metric: str = "cosine", kind: str = "auto", m: int = 32,
                 ef_construction: int = 64, ef_search: int | None = None, nlist: int | None = None,
                 nprobe: int | None = None, pq_m: int | None = None, refine: int | None = None,
                 target_recall: float | None = None, exact_rows: int = 4096, exact_fraction: float = 0.02):
        super().__init__(dim=dim, metric=metric, kind=kind)
        for name, v in (("m", m), ("ef_construction", ef_construction), ("ef_search", ef_search),
                        ("nlist", nlist), ("nprobe", nprobe), ("pq_m", pq_m), ("refine", refine)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0):
                raise InvalidInputError(f"faiss store: {name} must be a positive integer, got {v!r}.")
        if target_recall is not None and not (0 < float(target_recall) <= 1):
            raise InvalidInputError(f"faiss store: target_recall must be in (0, 1], got {target_recall!r}.")
        if pq_m is not None and self.dim % pq_m:
            raise InvalidInputError(f"faiss store: pq_m={pq_m} must divide the dimension {self.dim}.")
        self.m = int(m)
        self.ef_construction = int(ef_construction)
        self.ef_search = None if ef_search is None else int(ef_search)
        self.nlist = None if nlist is None else int(nlist)
        self.nprobe = None if nprobe is None else int(nprobe)
        self.pq_m = None if pq_m is None else int(pq_m)
        self.refine = None if refine is None else int(refine)
        self.target_recall = None if target_recall is None else float(target_recall)
        self.exact_rows = int(exact_rows)
        self.exact_fraction = float(exact_fraction)
        # rows by slot (self._slot: live key -> slot, self._meta: see InProcessStore); vectors live in faiss
        self._n = 0                                        # slots used
        self._slot_key = np.empty(0, dtype=np.int64)       # key of each slot (-1: dead)
        self._norms = np.empty(0, dtype=np.float32)        # cosine: each slot's norm (faiss holds unit rows)
        self._pending = np.empty((0, self.dim), np.float32)  # slots [_indexed, _n), not yet in faiss
        self._mapped = False                               # index memory-mapped from a file (read-only)
        # the faiss index
        self._index: Any = None
        self._chosen: str | None = None                    # kind actually built
        self._indexed = 0                                  # slots [0, _indexed) are in the index
        self._dead_in_index = 0                            # tombstones inside an HNSW graph
        self._params: dict[str, Any] = {}                  # nlist / nprobe / ef_search / pq_m ...
        self._recall: float | None = None
        self._plain: Any = None                            # cached unfiltered SearchParameters
        self._plain_key: Any = None

    # ------------------------------------------------------------------ small helpers
    @property
    def _faiss_metric(self) -> int:
        return faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT

    def _prep(self, x: np.ndarray) -> np.ndarray:
        """What faiss sees: normalised rows for cosine, else the rows (C-contiguous float32)."""
        if self.metric == "cosine":
            sq = fast_einsum("ij,ij->i", x, x)
            if len(x) == 1 and x.dtype == np.float32:  # one query: the same float32 steps on a scalar (~3 us less)
                return x * (_ONE32 / np.sqrt(np.maximum(sq[0], _TINY32)))
            return np.ascontiguousarray(x * (1.0 / np.sqrt(np.maximum(sq, 1e-30)))[:, None], dtype=np.float32)
        return np.ascontiguousarray(x, dtype=np.float32)

    @property
    def _alive(self) -> np.ndarray:
        return self._slot_key[: self._n] >= 0

    def _live_slots(self) -> np.ndarray:
        return np.flatnonzero(self._alive)

    def _target_kind(self) -> str:
        if self.kind == "auto":
            return choose_kind(len(self))
        if self.kind in _TRAINED and len(self) < MIN_TRAIN_ROWS:
            return "flat"  # too few rows to train lists / codes: exact until there are enough
        return self.kind

    @property
    def exact(self) -> bool:
        """Whether searches are exact (the chosen kind is ``flat``)."""
        return (self._chosen or self._target_kind()) == "flat"

    # ------------------------------------------------------------------ writes
    def upsert(self, ids: Any, vectors: Any, metadata: pd.DataFrame | None = None,
               texts: list[str] | None = None) -> None:
        """Insert rows, replacing those whose id is stored (``texts`` are not kept: no keyword search).

        Parameters
        ----------
        ids : array (n,) int64
        vectors : array (n, dim)
        metadata : DataFrame (n rows), optional
            Scalar columns for ``where`` filters.
        """
        ids, vecs = self._check_write(ids, vectors, metadata, texts)
        if len(ids) == 0:
            return
        old = self._slot.lookup(ids)
        if (old >= 0).any():
            self._kill(old[old >= 0])
        n = len(ids)
        start, need = self._n, self._n + n
        if need > len(self._slot_key):
            cap = max(need, int(len(self._slot_key) * 1.5) + 64)
            self._slot_key = _grown(self._slot_key, cap, start, -1)
            if self.metric == "cosine":
                self._norms = _grown(self._norms, cap, start, 0.0)
        if self.metric == "cosine":
            self._norms[start:need] = np.linalg.norm(vecs, axis=1)
        self._slot_key[start:need] = ids
        self._slot.assign(ids, np.arange(start, need, dtype=np.int64))
        self._meta.append(metadata, n)
        self._stage(self._prep(vecs))
        self._n = need
        if self._index is not None:
            if self._chosen != self._target_kind():
                self._unbuild()  # auto: the data outgrew the kind; rebuilt at next search
            else:
                self._add_to_index(start, need)

    def _stage(self, x: np.ndarray) -> None:
        """Append rows (faiss's view of them) to the pending buffer: slots ``_indexed + i``."""
        used = self._n - self._indexed
        need = used + len(x)
        if need > len(self._pending):
            self._pending = _grown(self._pending, max(need, int(len(self._pending) * 1.5) + 64), used, 0.0)
        self._pending[used:need] = x

    def delete(self, ids: Any) -> None:
        """Remove rows by id; ids that are not stored are ignored."""
        self._check_open()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        slots = self._slot.lookup(np.unique(ids))
        if (slots >= 0).any():
            self._kill(slots[slots >= 0])

    def _kill(self, slots: np.ndarray) -> None:
        """Mark slots dead, and take them out of the faiss index (IVF) or tombstone them (flat, HNSW)."""
        self._slot.remove(self._slot_key[slots])
        self._slot_key[slots] = -1
        if self._index is None:
            return
        in_index = slots[slots < self._indexed]
        if not len(in_index):
            return
        if self._chosen in ("flat", "hnsw"):
            self._dead_in_index += len(in_index)
            if self._dead_in_index > _REBUILD_DEAD_FRACTION * max(1, self._indexed):
                self._unbuild()  # too many tombstones: rebuild at the next search
        else:
            self._index.remove_ids(faiss.IDSelectorArray(np.ascontiguousarray(in_index, dtype=np.int64)))

    def _unbuild(self) -> None:
        """Move every live vector out of the faiss index into the pending buffer (slots renumbered)."""
        live = self._live_slots()
        x = self._vectors(live)
        self._index = None
        self._chosen = None
        self._indexed = 0
        self._dead_in_index = 0
        self._pending = x
        self._renumber(live)

    def _renumber(self, live: np.ndarray) -> None:
        """Keep only slots ``live`` (in order) as slots 0..len(live)-1."""
        if len(live) == self._n:
            return
        self._slot_key = self._slot_key[live].copy()
        if self.metric == "cosine":
            self._norms = self._norms[live].copy()
        self._meta.take(live)
        self._n = len(live)
        self._slot.rebuild(self._slot_key[: self._n])

    # ------------------------------------------------------------------ reading vectors back
    def _storage_view(self) -> np.ndarray | None:
        """Zero-copy (ntotal, dim) float32 view of a flat / HNSW index's vectors (rows = slots).

        Valid only until the index is next written to or freed: never keep it.
        """
        if self._chosen not in ("flat", "hnsw") or self._index is None or self._index.ntotal == 0:
            return None
        flat = faiss.downcast_index(self._index.storage) if self._chosen == "hnsw" else self._index
        n = int(self._index.ntotal)
        return faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)

    def _vectors(self, slots: np.ndarray) -> np.ndarray:
        """faiss's vectors (m, dim) float32 of ``slots`` (unit rows for cosine; decoded for sq8 / pq)."""
        slots = np.asarray(slots, dtype=np.int64)
        out = np.empty((len(slots), self.dim), dtype=np.float32)
        inx = slots < self._indexed
        if inx.any():
            view = self._storage_view()
            if view is not None:
                out[inx] = view[slots[inx]]
            else:
                for s in range(0, int(inx.sum()), 65_536):  # bounded temporaries
                    part = slots[inx][s: s + 65_536]
                    out[np.flatnonzero(inx)[s: s + 65_536]] = self._index.reconstruct_batch(part)
        if not inx.all():
            out[~inx] = self._pending[slots[~inx] - self._indexed]
        return out

    def fetch(self, ids: Any) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids`` (n, dim) float32 and a (n,) bool mask of which were found.

        Read back from faiss: the vectors as written for flat / hnsw / ivf (cosine: the unit
        vector times the stored norm, equal to float32 rounding), reconstructed from the codes
        for sq8 / pq (see the module docstring).
        """
        self._check_open()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        slots = self._slots_of(ids)
        found = slots >= 0
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        if found.any():
            v = self._vectors(slots[found])
            if self.metric == "cosine":
                v *= self._norms[slots[found]][:, None]
            out[found] = v
        return out, found

    # ------------------------------------------------------------------ building
    def build(self) -> None:
        """Build (or rebuild) the faiss index now instead of at the first search."""
        self._check_open()
        self._ensure_index()

    def _ensure_index(self) -> None:
        if self._index is not None:
            return
        live = self._live_slots()
        if len(live) < self._n:  # drop dead pending rows before building
            self._pending = self._pending[live]
            self._renumber(live)
        kind = self._target_kind()
        n = self._n
        x = self._pending[:n]
        self._params = {}
        if kind == "flat":
            index = faiss.IndexFlat(self.dim, self._faiss_metric)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, self.m, self._faiss_metric)
            index.hnsw.efConstruction = self.ef_construction
            self._params.update(m=self.m, ef_construction=self.ef_construction,
                                ef_search=self.ef_search or 128)
        else:
            index = self._make_ivf(kind, x)
        self._index = index
        self._chosen = kind
        self._indexed = 0
        self._dead_in_index = 0
        if self.refine:
            self._params["refine"] = self.refine
        self._add_to_index(0, n)
        self._recall = None
        target = self.target_recall
        if target is None and kind in _TRAINED and self.nprobe is None:
            target = _DEFAULT_IVF_TARGET  # no nprobe given: tune it rather than guess
        if target is None and kind == "hnsw" and self.ef_search is None:
            target = _DEFAULT_HNSW_TARGET  # no ef_search given: the smallest that reaches 0.99
        if target is not None and kind != "flat":
            self._tune(target, x)
            if self.target_recall is None:  # a default, not a promise: headroom for queries unlike the data
                self._add_headroom(kind)
        self._pending = np.empty((0, self.dim), dtype=np.float32)  # everything is in faiss now
        if kind in _TRAINED:
            release_free_memory()
            _compact_lists(self._index)
        release_free_memory()  # the build's transients (training, the float32 buffer) back to the OS

    def _add_headroom(self, kind: str) -> None:
        """Widen a tuned default: 2x ``nprobe``; ``ef_search`` at least ``_DEFAULT_EF_FLOOR``.

        Tuning queries are synthetic; real ones (questions embedded against documents) sit
        farther from the data. Measured on CISI + MiniLM with its 112 real queries: ef 16 ->
        recall@10 0.971, 32 -> 0.992, 64 -> 0.999, 96 -> 1.000 (clustered 20k x 384: 16 -> 0.90,
        64 -> 0.999), while ef 64 costs ~0.1 ms more than ef 16 per query. The tuning's far
        queries already ask more of HNSW than midpoints did (CISI: ef 24, clustered 50k: ef 96),
        so a 2x on top of them only cost time (clustered 50k: ef 512, 7 ms a query).
        """
        if kind in _TRAINED:
            self._params["nprobe"] = self._index.nprobe = min(self._params["nlist"], 2 * self._params["nprobe"])
        elif kind == "hnsw":
            self._params["ef_search"] = int(max(_DEFAULT_EF_FLOOR, self._params["ef_search"]))

    def _make_ivf(self, kind: str, x: np.ndarray) -> Any:
        n = len(x)
        nlist = self.nlist or max(1, min(int(4 * math.sqrt(max(n, 1))), max(1, n // 39)))
        quantizer = faiss.IndexFlat(self.dim, self._faiss_metric)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, self._faiss_metric)
        elif kind == "sq8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                  self._faiss_metric)
        else:
            pq_m = self.pq_m or _default_pq_m(self.dim)
            nbits = max(4, min(8, int(math.log2(max(2, n // 4)))))  # 8 bits from 1,024 rows
            index = faiss.IndexIVFPQ(quantizer, self.dim, nlist, pq_m, nbits, self._faiss_metric)
            self._params.update(pq_m=pq_m, pq_nbits=nbits)
        index.cp.min_points_per_centroid = 1
        index.cp.seed = 1234
        if hasattr(index, "pq"):
            index.pq.cp.min_points_per_centroid = 1
        if n:
            rng = np.random.default_rng(1234)
            cap = max(256 * nlist, 20_000)
            sample = x if n <= cap else x[np.sort(rng.choice(n, cap, replace=False))]
            with _threads_for(len(sample), _BUILD_ROWS_PER_THREAD):
                index.train(sample)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct by id, remove_ids
        nprobe = min(nlist, self.nprobe or max(8, math.ceil(nlist / 16)))
        index.nprobe = nprobe
        self._params.update(nlist=nlist, nprobe=nprobe)
        return index

    def _add_to_index(self, start: int, stop: int) -> None:
        """Move pending slots [start, stop) (``start == _indexed``) into the faiss index."""
        if stop <= start:
            return
        if self._chosen in _TRAINED and not self._index.is_trained:
            self._unbuild()  # trained on nothing (empty at build): train now with the data
            self._ensure_index()
            return
        self._writable()
        x = self._pending[: stop - start]
        with _threads_for(stop - start, _BUILD_ROWS_PER_THREAD):
            for s in range(0, stop - start, _ADD_BATCH):  # bounded temporaries inside faiss
                self._add(np.ascontiguousarray(x[s: s + _ADD_BATCH]), start + s,
                          min(stop, start + s + _ADD_BATCH))
        self._indexed = stop
        left = self._n - stop
        if left:
            self._pending[:left] = self._pending[stop - start: stop - start + left]
        else:
            self._pending = np.empty((0, self.dim), dtype=np.float32)

    def _add(self, x: np.ndarray, start: int, stop: int) -> None:
        if self._chosen in ("flat", "hnsw"):
            assert self._index.ntotal == start, "flat / HNSW ids must equal slots"
            self._index.add(x)
            self._dead_in_index += int((self._slot_key[start:stop] < 0).sum())
        else:
            alive = np.flatnonzero(self._slot_key[start:stop] >= 0)
            if len(alive) < stop - start:
                x = np.ascontiguousarray(x[alive])
            self._index.add_with_ids(x, (alive + start).astype(np.int64))

    def _writable(self) -> None:
        """A memory-mapped flat index is read-only inside faiss: copy it into memory before a write."""
        if not self._mapped:
            return
        view = self._storage_view()
        index = faiss.IndexFlat(self.dim, self._faiss_metric)
        if view is not None:
            index.add(view)
        self._index = index
        self._mapped = False

    # ------------------------------------------------------------------ search
    def _search_params(self, sel: Any, selectivity: float, k: int = 1) -> Any:
        boost = 1.0 if selectivity >= 1.0 else min(8.0, 1.0 / math.sqrt(max(selectivity, 1e-9)) * 1.5)
        if self._chosen == "hnsw":  # the beam is never narrower than the hits asked for
            ef = max(int(k), int(min(4096, self._params["ef_search"] * boost)))
            return faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
        if self._chosen in _TRAINED:
            nprobe = int(min(self._params["nlist"], math.ceil(self._params["nprobe"] * boost)))
            return faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)
        return faiss.SearchParameters(sel=sel) if sel is not None else None

    def _filtered_beam(self, n_allowed: int) -> int:
        """HNSW's widened beam for a filter keeping ``n_allowed`` rows (0 for other kinds).

        When the beam would hold every allowed row, exact search over them is cheaper and
        exact (faiss's filtered graph walk with a beam wider than the allowed set returned
        recall 0.91 on 30 of 3,000 clustered rows at ef 512, where exact is 1.0)."""
        if self._chosen != "hnsw":
            return 0
        n_index = max(1, self._indexed - self._dead_in_index)
        boost = min(8.0, 1.0 / math.sqrt(max(n_allowed / n_index, 1e-9)) * 1.5)
        return int(min(4096, self._params["ef_search"] * boost))

    def _plain_params(self, k: int) -> Any:
        """Search parameters without a filter: made once per setting, not on every call."""
        ef = self._params.get("ef_search")
        key = (self._chosen, None if ef is None else max(ef, k), self._params.get("nprobe"), self._params.get("nlist"))
        if self._plain_key != key:
            self._plain = self._search_params(None, 1.0, k)
            self._plain_key = key
        return self._plain

    def _faiss_search(self, q: np.ndarray, k: int, allowed: np.ndarray | None, n_allowed: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """faiss's distances and candidate slots, both (nq, k * refine); slots -1 padded."""
        refine = int(self._params.get("refine", 1))
        kk = k if refine == 1 else max(k, 10) * refine
        sel = bitmap = None
        if allowed is not None:
            bitmap = np.packbits(allowed, bitorder="little")
            sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
        if allowed is None:
            params = self._plain_params(kk)
        else:
            n_index = max(1, self._indexed - self._dead_in_index)
            params = self._search_params(sel, n_allowed / n_index, kk)
        with _threads_for(len(q)):
            dist, slots = self._index.search(self._prep(q), kk, params=params)
        del sel, bitmap
        return dist, slots

    def _results(self, q: np.ndarray, dist: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` slots and scores from faiss's answer (re-scored exactly where faiss is not)."""
        if self._chosen in ("flat", "sq8", "pq") or int(self._params.get("refine", 1)) > 1:
            return self._rescore(q, cand, k)
        # HNSW / IVF-flat compute each distance directly on the float32 vectors: convert only
        sc = dist[:, :k].astype(np.float64)
        if self.metric == "l2":
            sc = -np.sqrt(np.maximum(sc, 0.0))
        cand = cand[:, :k]
        if (cand < 0).any():
            cand = np.where(cand >= 0, cand, -1)
            sc[cand < 0] = -np.inf
        return cand, sc

    def _exact(self, q: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over slots ``rows``: slots (nq, k') and scores.

        Over faiss's own float32 storage in place (flat, hnsw) or the rows read back from it.
        """
        view = self._storage_view() if self._indexed == self._n else None
        with blas_threads_for(len(q)):
            if view is not None:  # q went through _check_queries
                return topk(view, q, k, self.metric, rows=rows, checked=True)
            pos, sc = topk(self._vectors(rows), q, k, self.metric, checked=True)
        return rows[pos], sc

    def search(self, vectors: Any, k: int, where: filters.Node | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ids and exact scores per query; see the module docstring for the planner.

        Returns
        -------
        ids : ndarray (nq, k) int64, padded with -1
        scores : ndarray (nq, k) float64, padded with -inf
        """
        q = self._query_rows(vectors, k)
        n = len(self)
        if where is None and len(q) == 1 and n and self._index is not None:
            kk = self._width(k, n)
            x = self._ready_one(q) if self._one_ok(kk) else None
            if x is not None:
                got = self._search_one(x, kk)
                if got is not None:
                    return got
        q = self._checked_rows(q)
        where = filters.parse(where)
        k = self._width(k, n)  # clamped to the rows stored when k is huge
        ids = np.full((len(q), k), -1, dtype=np.int64)
        scores = np.full((len(q), k), -np.inf, dtype=np.float64)
        if n == 0:
            return ids, scores
        self._ensure_index()
        allowed = None
        n_allowed = len(self)
        if where is not None:
            allowed = self._meta.mask(where)[: self._n] & self._alive
            n_allowed = int(allowed.sum())
            if n_allowed == 0:
                return ids, scores
        elif self._dead_in_index:
            allowed = self._alive
        want = min(k, n_allowed)
        if where is not None and (n_allowed <= self.exact_rows or n_allowed <= self.exact_fraction * len(self)
                                  or n_allowed <= self._filtered_beam(n_allowed)):
            slots, sc = self._exact(q, k, np.flatnonzero(allowed))
            ok = slots >= 0
        else:
            dist, cand = self._faiss_search(q, k, allowed, n_allowed)
            slots, sc = self._results(q, dist, cand, k)
            ok = slots >= 0
            short = np.flatnonzero(ok.sum(1) < want) if slots.shape[1] < want or not ok.all() else ()
            if len(short):  # the approximate search came back short: answer those exactly
                rows = np.flatnonzero(allowed) if allowed is not None else self._live_slots()
                s2, c2 = self._exact(q[short], k, rows)
                slots[short] = -1
                sc[short] = -np.inf
                slots[short, : s2.shape[1]] = s2
                sc[short, : s2.shape[1]] = c2
                ok = slots >= 0
        m = slots.shape[1]
        if ok.all():
            ids[:, :m] = self._slot_key[slots]
            scores[:, :m] = sc
        else:
            ids[:, :m] = np.where(ok, self._slot_key[np.maximum(slots, 0)], -1)
            scores[:, :m] = np.where(ok, sc, -np.inf)
        return ids, scores

    def _one_ok(self, k: int) -> bool:
        """Whether one unfiltered query of ``k`` hits may take :meth:`_search_one`: a built HNSW /
        IVF-flat index (scores converted, not re-scored) without tombstones, ``k`` within its rows."""
        return (self._chosen in ("hnsw", "ivf") and not self._dead_in_index and k <= self._indexed
                and self._params.get("refine", 1) == 1)

    def _ready_one(self, q: np.ndarray) -> np.ndarray | None:
        """One unchecked float32 query (1, d) as faiss sees it (:meth:`_prep`) when its float32 sum of
        squares shows that :func:`~vecnb._core.metrics.checked_queries` would pass it unchanged
        (:func:`~vecnb.stores.base.moderate_sum`). ``None``: check it.

        One sum for both the check and the normalisation (the same bits as :meth:`_prep`).
        """
        if q.dtype != np.float32:
            return None
        sq = fast_einsum("ij,ij->i", q, q)[0]
        if not moderate_sum(float(sq), self.metric):
            return None
        if self.metric != "cosine":
            return q
        return q * (_ONE32 / np.sqrt(np.maximum(sq, _TINY32)))

    def _search_one(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """One unfiltered query ``x`` (checked, through :meth:`_prep`) on HNSW / IVF-flat without
        tombstones: faiss's answer converted in a few steps, as :meth:`_results` converts it
        (``None``: take the general path).

        After a graph walk has gone through the CPU caches every numpy call runs cold (~5-10 us
        each), so this path makes as few as it can: faiss writes into arrays made here (no
        wrapper copies / asserts), a short answer is seen on the last slot alone.
        """
        dist = np.empty((1, k), np.float32)
        slots = np.empty((1, k), np.int64)
        params = self._plain_params(k)
        before = faiss.omp_get_max_threads()  # one query: one thread (see _threads_for), restored after
        if before > 1:
            faiss.omp_set_num_threads(1)
        try:
            self._index.search_c(1, faiss.swig_ptr(x), k, faiss.swig_ptr(dist), faiss.swig_ptr(slots), params)
        finally:
            if before > 1:
                faiss.omp_set_num_threads(before)
        if slots.item(k - 1) < 0:  # short (faiss's heap_reorder puts the hits first, -1 after): general path
            return None
        sc = dist.astype(np.float64)
        if self.metric == "l2":
            sc = -np.sqrt(np.maximum(sc, 0.0))
        return self._slot_key[slots], sc

    def _rescore(self, q: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact float64 scores for candidate slots; best ``k`` per row (ties: lower slot)."""
        ok = cand >= 0
        if not ok.any():
            return cand[:, :k], np.full((len(cand), min(k, cand.shape[1])), -np.inf)
        safe = np.where(ok, cand, cand[ok][0])
        view = self._storage_view()
        if view is not None:
            sc = _exact_block(view, safe, q, self.metric)
        else:  # read the candidates back once each (IVF kinds: reconstruct through the direct map)
            uniq, inv = np.unique(safe, return_inverse=True)
            sc = _exact_block(self._vectors(uniq), inv.reshape(safe.shape), q, self.metric)
        sc = np.where(ok, sc, -np.inf)
        order = np.lexsort((np.where(ok, cand, np.iinfo(np.int64).max), -sc), axis=1)[:, :k]
        slots = np.take_along_axis(np.where(ok, cand, -1), order, axis=1)
        sc = np.take_along_axis(sc, order, axis=1)
        return slots, sc

    # ------------------------------------------------------------------ tuning
    def _tune(self, target: float, x: np.ndarray | None = None, k: int = _TUNE_K, n_queries: int = 256) -> None:
        """Smallest ef_search / nprobe whose recall@k on held-out queries reaches ``target``.

        The queries are not stored rows. Half are the midpoint of a sampled row and one of its
        ``k`` nearest neighbours (a new point in the data's own region); half are a sampled row
        pushed in a random direction by its distance to its ``k``-th neighbour, off the data's
        surface, as real queries (questions against documents) are. Truth is exact search over
        ``x``, the vectors of slots 0..n-1 as written (at a build, before compression); later
        re-tunes read the live rows back from faiss (as decoded for sq8 / pq).
        """
        if x is None:
            live = self._live_slots()
            view = self._storage_view() if len(live) == self._n == self._indexed else None
            X = view if view is not None else self._vectors(live)  # flat / hnsw: in place
        else:
            live = np.arange(len(x))
            X = x
        if len(live) <= k + 1:
            self._recall = 1.0
            return
        rng = np.random.default_rng(4321)
        qs_pos = np.arange(len(live)) if len(live) <= n_queries else rng.choice(len(live), n_queries, replace=False)
        q = self._tuning_queries(X, qs_pos, k, rng)
        truth, _ = topk(X, q, k, self.metric)
        want = [set(live[t].tolist()) for t in truth]
        total = max(1, sum(len(w) for w in want))

        def recall_now() -> float:
            dist, cand = self._faiss_search(q, k, None, len(live))
            got, _ = self._results(q, dist, cand, k)
            return sum(len(w & set(g.tolist())) for w, g in zip(want, got)) / total

        if self._chosen == "hnsw":
            steps = [("ef_search", e) for e in sorted({max(k, e) for e in _EF_LADDER})]
        else:
            nlist = self._params["nlist"]
            steps = [("nprobe", p) for p in sorted({min(nlist, p) for p in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96,
                                                                             128, 192, 256, 384, 512, 1024, nlist)})]
        recall, flat = 0.0, 0
        for key, value in steps:
            self._params[key] = value
            if key == "nprobe":
                self._index.nprobe = value
            before, recall = recall, recall_now()
            if recall >= target:
                break
            flat = flat + 1 if recall - before < 0.002 else 0
            if flat >= 3 and key == "nprobe":  # recall stopped growing: the codes, not the lists, limit it
                break
        self._recall = recall
        self._params["tuned_for"] = target
        if recall < target and self.target_recall is not None:  # the default target only picks nprobe
            warnings.warn(f"faiss store: recall@{k} {recall:.3f} is below the target {target} at the largest "
                          f"setting tried ({self._params}); use a larger m / nlist / pq_m, or kind='flat'.", stacklevel=3)

    def _tuning_queries(self, X: np.ndarray, pos: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """(len(pos), d) float32: midpoints to a near neighbour, then rows pushed off the data."""
        near, _ = topk(X, X[pos], k + 1, self.metric)
        rows = np.asarray(X[pos], dtype=np.float32)
        half = len(pos) // 2
        partner = near[np.arange(half), rng.integers(1, k + 1, half)]
        mid = (rows[:half] + X[partner]) * 0.5
        far = rows[half:]
        reach = np.linalg.norm(far - X[near[half:, k]], axis=1, keepdims=True)  # distance to the k-th neighbour
        step = rng.standard_normal(far.shape).astype(np.float32)
        step *= _TUNE_PUSH * reach / np.maximum(np.linalg.norm(step, axis=1, keepdims=True), 1e-30)
        return np.ascontiguousarray(np.vstack([mid, far + step]), dtype=np.float32)

    # ------------------------------------------------------------------ search settings
    def search_params(self) -> dict[str, Any]:
        """The settings searches use now: ``ef_search`` / ``nprobe`` / ``refine`` (those that apply)
        and the filter planner's ``exact_rows`` / ``exact_fraction``."""
        out = {key: self._params[key] for key in ("ef_search", "nprobe", "refine") if key in self._params}
        if self._index is None:  # not built yet: what the build will start from
            if self.ef_search is not None:
                out["ef_search"] = self.ef_search
            if self.nprobe is not None:
                out["nprobe"] = self.nprobe
        out.update(exact_rows=self.exact_rows, exact_fraction=self.exact_fraction)
        if self.target_recall is not None:
            out["target_recall"] = self.target_recall
        return out

    def set_search_params(self, *, ef_search: int | None = None, nprobe: int | None = None,
                          refine: int | None = None, target_recall: float | None = None,
                          exact_rows: int | None = None, exact_fraction: float | None = None) -> None:
        """Change how searches run, without rebuilding the index.

        Parameters
        ----------
        ef_search : int, optional
            HNSW beam width.
        nprobe : int, optional
            IVF lists searched (at most ``nlist``).
        refine : int, optional
            Candidates per hit re-ranked exactly (compressed kinds).
        target_recall : float in (0, 1], optional
            Re-tune ``ef_search`` / ``nprobe`` now (on held-out queries, as at build) to the
            smallest setting reaching this recall@10; ``info()["recall"]`` reports what it reached.
        exact_rows, exact_fraction : optional
            The filter planner's thresholds for searching a filter's rows exactly.

        Raises
        ------
        InvalidInputError
            A value out of range, or a setting this kind does not have (e.g. ``nprobe`` on HNSW).
        """
        self._check_open()
        for name, v in (("ef_search", ef_search), ("nprobe", nprobe), ("refine", refine)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0):
                raise InvalidInputError(f"faiss store: {name} must be a positive integer, got {v!r}.")
        if target_recall is not None and (isinstance(target_recall, bool) or not isinstance(target_recall, (int, float))
                                          or not 0 < float(target_recall) <= 1):
            raise InvalidInputError(f"faiss store: target_recall must be in (0, 1], got {target_recall!r}.")
        if exact_rows is not None and (isinstance(exact_rows, bool) or not isinstance(exact_rows, (int, np.integer))
                                       or exact_rows < 0):
            raise InvalidInputError(f"faiss store: exact_rows must be an integer >= 0, got {exact_rows!r}.")
        if exact_fraction is not None and not (isinstance(exact_fraction, (int, float)) and 0 <= exact_fraction <= 1):
            raise InvalidInputError(f"faiss store: exact_fraction must be in [0, 1], got {exact_fraction!r}.")
        kind = self._chosen or self._target_kind()
        if ef_search is not None and kind != "hnsw":
            raise InvalidInputError(f"faiss store: ef_search applies to kind 'hnsw'; this index is {kind!r}.")
        if nprobe is not None and kind not in _TRAINED:
            raise InvalidInputError(f"faiss store: nprobe applies to the IVF kinds {_TRAINED}; this index is {kind!r}.")
        if exact_rows is not None:
            self.exact_rows = int(exact_rows)
        if exact_fraction is not None:
            self.exact_fraction = float(exact_fraction)
        for name, v in (("ef_search", ef_search), ("nprobe", nprobe), ("refine", refine)):
            if v is None:
                continue
            setattr(self, name, int(v))  # kept for rebuilds and saved with the store
            if self._index is not None and (name != "refine" or name in self._params or kind in _TRAINED):
                self._params[name] = int(v)
        if nprobe is not None and self._index is not None:
            self._params["nprobe"] = min(int(nprobe), self._params["nlist"])
            faiss.extract_index_ivf(self._index).nprobe = self._params["nprobe"]
        if ef_search is not None or nprobe is not None:
            self._recall = None  # no longer measured for this setting
            self._params.pop("tuned_for", None)
        if target_recall is not None:
            self.target_recall = float(target_recall)
            if self._index is not None and kind != "flat":
                self._tune(self.target_recall)

    # ------------------------------------------------------------------ description
    def __len__(self) -> int:
        return len(self._slot)

    def info(self) -> dict[str, Any]:
        """Kind asked and chosen, parameters, and the tuned recall (if ``target_recall`` was set)."""
        chosen = self._chosen or self._target_kind()
        out = {"store": self.name, "kind": chosen, "kind_requested": self.kind, "metric": self.metric,
               "dim": self.dim, "rows": len(self), "exact": chosen == "flat", "built": self._index is not None,
               "scores": "reconstructed" if chosen in ("sq8", "pq") else "exact",
               "fetch": "reconstructed" if chosen in ("sq8", "pq") else "exact",
               "params": dict(self._params), "memory_bytes": self.memory_bytes(),
               "memory_mapped": self._mapped}
        if self.kind == "auto":
            out["auto_rule"] = f"flat < {AUTO_FLAT_MAX:,} rows <= hnsw < {AUTO_HNSW_MAX:,} rows <= sq8"
        if self._recall is not None:
            out["recall"] = round(float(self._recall), 4)
            out["target_recall"] = self._params.get("tuned_for", self.target_recall)
        return out

    def memory_bytes(self) -> int:
        """Bytes of the vectors / codes, graph and id maps the store holds (faiss + pending + slots).

        The metadata frame is not counted. A memory-mapped
        index counts its file size here, although only the pages touched are resident.
        """
        total = self._slot_key.nbytes + self._norms.nbytes + self._pending.nbytes + self._slot.nbytes
        idx = self._index
        if idx is None:
            return int(total)
        n, d = int(idx.ntotal), self.dim
        if self._chosen == "flat":
            return int(total + n * d * 4)
        if self._chosen == "hnsw":
            h = idx.hnsw
            return int(total + n * d * 4 + h.neighbors.size() * 4 + h.levels.size() * 4 + h.offsets.size() * 8)
        ivf = faiss.extract_index_ivf(idx)
        total += n * (ivf.code_size + 8)                                # codes + ids in the lists
        total += ivf.nlist * d * 4                                      # coarse centroids
        total += n * _HASHTABLE_ROW_BYTES                               # direct map (id -> list, offset)
        table = getattr(faiss.downcast_index(idx), "precomputed_table", None)  # IVFPQ + L2 only
        if table is not None:
            total += table.size() * 4
        if hasattr(ivf, "pq"):
            total += ivf.pq.centroids.size() * 4
        return int(total)

    def iter_ids(self, batch_size: int = 1000) -> Iterator[np.ndarray]:
        """Stored ids in slot order, ``batch_size`` at a time."""
        self._check_open()
        keys = self._slot_key[self._live_slots()]
        for start in range(0, len(keys), batch_size):
            yield keys[start: start + batch_size]

    def close(self) -> None:
        """Free the index and vectors; further use raises :class:`StoreError`."""
        self._index = None
        self._pending = np.empty((0, self.dim), dtype=np.float32)
        super().close()

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:  # keys: _CONFIG_KEYS
        return {"dim": self.dim, "metric": self.metric, "kind": self.kind, "m": self.m,
                "ef_construction": self.ef_construction, "ef_search": self.ef_search, "nlist": self.nlist,
                "nprobe": self.nprobe, "pq_m": self.pq_m, "refine": self.refine,
                "target_recall": self.target_recall, "exact_rows": self.exact_rows,
                "exact_fraction": self.exact_fraction}

    def save(self, path: str | os.PathLike) -> None:
        """Write the store into folder ``path``, whole: saves to one folder take turns (see ``folder_lock``)."""
        with folder_lock(path):
            self._save_files(path)

    def _save_files(self, path: str | os.PathLike) -> None:
        """Write the store into folder ``path``: ``index.faiss`` (faiss.write_index), slot keys, norms, metadata."""
        self._check_open()
        if self._n:
            self._ensure_index()  # everything into faiss (and dead pending rows dropped)
        os.makedirs(path, exist_ok=True)
        n = self._n
        np.save(os.path.join(path, "slot_keys.npy"), self._slot_key[:n], allow_pickle=False)
        if self.metric == "cosine":
            np.save(os.path.join(path, "norms.npy"), self._norms[:n], allow_pickle=False)
        save_frame(self._meta.frame, os.path.join(path, "metadata.arrow"))
        if self._index is not None:
            faiss.write_index(self._index, os.path.join(path, "index.faiss"))
        state = {"format": _FORMAT, "version": _VERSION, "config": self._config(), "chosen": self._chosen,
                 "indexed": self._indexed, "dead_in_index": self._dead_in_index, "params": self._params,
                 "recall": self._recall, "faiss_version": faiss.__version__}
        with open(os.path.join(path, "store.json"), "w", encoding="utf-8") as fh:
            json.dump(state, fh, default=lambda o: o.item() if isinstance(o, np.generic) else str(o))

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = False) -> FaissStore:
        """Read a store written by :meth:`save` (never while a save to the folder runs); see ``_load_files``."""
        with folder_lock(path, shared=True):
            return cls._load_files(path, mmap=mmap)

    @classmethod
    def _load_files(cls, path: str | os.PathLike, *, mmap: bool = False) -> FaissStore:
        """Read a store written by :meth:`save`.

        Parameters
        ----------
        mmap : bool
            Map a ``flat`` index's file into memory instead of reading it (faiss
            ``IO_FLAG_MMAP_IFC``): opens at once, pages in as searches touch it, and stays
            read-only until the first write (which copies it into memory). Other kinds are
            read in full (their structures are not stored as one flat array).
        """
        try:
            state = read_store_json(path, _FORMAT, _VERSION)
        except IndexFormatError:
            state = read_store_json(path, _FORMAT, 1)  # raises the version error when it is not 1 either
            return cls._load_v1(path, state)
        store = cls(**constructor_options(cls, state.get("config"), _CONFIG_KEYS, repr(os.fspath(path))))
        keys = load_npy(os.path.join(path, "slot_keys.npy"), (None,), "iu").astype(np.int64)
        meta = load_frame(meta_file(os.fspath(path)), mmap=mmap)
        n = len(keys)
        fn = os.path.join(path, "index.faiss")
        has_index = bool(state.get("chosen")) and os.path.exists(fn)
        if len(meta) != n or int(state.get("indexed", 0)) != n or (n and not has_index):
            raise StoreError(f"{os.fspath(path)!r}: the index, keys and metadata disagree in length; the copy is "
                             "damaged. Save it again.", store=cls.name, operation="load")
        if store.metric == "cosine":
            store._norms = load_npy(os.path.join(path, "norms.npy"), (n,), "f").astype(np.float32)
            if len(store._norms) != n:
                raise StoreError(f"{os.fspath(path)!r}: norms.npy does not match the keys; the copy is damaged.",
                                 store=cls.name, operation="load")
        store._slot_key = keys
        store._n = n
        store._slot.rebuild(keys)
        store._meta.append(meta if len(meta.columns) else None, n)
        if has_index:
            mapped = bool(mmap) and state["chosen"] == "flat"
            if state["chosen"] not in cls.kinds or not isinstance(state.get("dead_in_index"), int):
                raise IndexFormatError(f"{os.fspath(path)!r}: store.json names kind {state['chosen']!r}; the copy is damaged.")
            try:
                store._index = faiss.read_index(fn, faiss.IO_FLAG_MMAP_IFC if mapped else 0)
            except Exception as exc:  # noqa: BLE001 - faiss raises RuntimeError for damaged files
                raise IndexFormatError(f"{os.fspath(path)!r}: index.faiss cannot be read ({exc}).") from None
            if store._index.d != store.dim:
                raise IndexFormatError(f"{os.fspath(path)!r}: index.faiss holds {store._index.d}-d vectors, "
                                       f"store.json says {store.dim}.")
            store._mapped = mapped
            store._chosen = state["chosen"]
            store._indexed = n
            store._dead_in_index = int(state["dead_in_index"])
            store._params = dict(state.get("params") or {})
            store._recall = state.get("recall")
            if int(store._index.ntotal) != (n if store._chosen in ("flat", "hnsw") else len(store._slot)):
                raise StoreError(f"{os.fspath(path)!r}: index.faiss holds {store._index.ntotal} vectors for "
                                 f"{len(store._slot)} rows; the copy is damaged. Save it again.",
                                 store=cls.name, operation="load")
            if store._chosen in _TRAINED and "nprobe" in store._params:
                faiss.extract_index_ivf(store._index).nprobe = int(store._params["nprobe"])
        return store

    @classmethod
    def _load_v1(cls, path: str | os.PathLike, state: dict[str, Any]) -> FaissStore:
        """A version-1 folder (float32 copy in ``vectors.npy``): re-add its live rows and rebuild."""
        store = cls(**constructor_options(cls, state.get("config"), _CONFIG_KEYS, repr(os.fspath(path))))
        X = load_npy(os.path.join(path, "vectors.npy"), (None, store.dim), "f")
        keys = load_npy(os.path.join(path, "slot_keys.npy"), (len(X),), "iu").astype(np.int64)
        meta = load_frame(os.path.join(path, "metadata.parquet"))
        if len(X) != len(keys) or len(meta) != len(keys):
            raise StoreError(f"{os.fspath(path)!r}: vectors, keys and metadata disagree in length; the copy is "
                             "damaged. Save it again.", store=cls.name, operation="load")
        live = np.flatnonzero(keys >= 0)
        store.upsert(keys[live], X[live], meta.iloc[live] if len(meta.columns) else None)
        if len(store):
            store.build()
        return store


def _compact_lists(index: Any) -> None:
    """Copy an IVF index's inverted lists into lists of exactly their size.

    faiss grows each list by doubling as rows are added one by one, so after a build the
    lists hold up to twice the bytes of their codes (on average a third more). Copying each
    list into a fresh one sized exactly gives that back: measured on an IVF256-SQ8 build of
    200k x 384, resident memory 0.37x -> 0.33x the raw float32 data. Done only where lists are
    large (>= 128 KiB of codes on average, where each list is its own mapping); for small lists
    (PQ codes) the copy only shuffles the heap.
    """
    ivf = faiss.extract_index_ivf(index)
    il = ivf.invlists
    nlist = int(il.nlist)
    if not nlist or ivf.ntotal * il.code_size < nlist * _COMPACT_MIN_LIST_BYTES:
        return
    fresh = faiss.ArrayInvertedLists(nlist, il.code_size)
    for lst in range(nlist):
        size = il.list_size(lst)
        if size:
            fresh.add_entries(lst, size, il.get_ids(lst), il.get_codes(lst))
    ivf.replace_invlists(fresh, True)  # the index owns (and frees) the new lists; the old ones are freed now
    fresh.this.disown()


def _default_pq_m(d: int) -> int:
    """A divisor of ``d`` close to ``d / 4`` (4 dims per 8-bit code; 2 dims for d <= 64)."""
    target = max(1, d // 2 if d <= 64 else d // 4)
    for delta in range(d):
        for cand in (target - delta, target + delta):
            if 1 <= cand <= d and d % cand == 0:
                return cand
    return 1
