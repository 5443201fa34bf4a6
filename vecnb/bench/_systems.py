"""The things a benchmark measures: vecnb indexes, and raw libraries / peers beside them.

Every system answers the same questions through one small interface (build, batch search,
single search, memory), so :func:`vecnb.bench.run` measures them all the same way:

=====================  ======  ==========================================================
system                 impl    what it is
=====================  ======  ==========================================================
``vecnb <store> <k>``  vecnb   ``df.vec.index(store=, kind=)`` + ``idx.search`` (DataFrame out)
``vecnb df.vec.search``vecnb   exact search over the column, no index
``numpy``              raw     ``X @ q`` + ``argpartition`` (the exact baseline)
``faiss <kind>``       raw     the same faiss index type and parameters as vecnb's, built
                               and searched directly (single queries with 1 OpenMP thread)
``hnswlib``            raw     hnswlib with chroma's HNSW parameters (chroma's engine)
``chromadb``           peer    chromadb's own client, same HNSW parameters
``langchain FAISS``    peer    LangChain's FAISS vector store over the raw faiss index
``psycopg <kind>``     raw     plain SQL through psycopg on vecnb's own pgvector table
=====================  ======  ==========================================================

Results are row positions into the data matrix; converting a system's answer to positions
happens outside the timed region, so a timing includes exactly what a user of that system
waits for (for vecnb: the result DataFrame).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core import filters as _filters
from vecnb.bench._timing import dir_size, positions_from_hits, sequence_positions

__all__ = [
    "Case",
    "ChromaClient",
    "FilterCase",
    "Hnswlib",
    "LangchainFaiss",
    "RawFaiss",
    "RawNumpy",
    "SkipSystem",
    "System",
    "VecnbIndex",
    "VecnbSearch",
    "describe_faiss",
    "find_faiss_index",
]


class SkipSystem(Exception):
    """A system cannot run here (dependency missing, server down); the message says why."""


@dataclass
class FilterCase:
    """One ``where`` filter of a run, with its ground truth.

    Attributes
    ----------
    where : dict or None
        The filter in vecnb's portable language.
    label : str
        ``"none"`` or the filter as compact JSON (the ``filter`` column of results).
    mask : ndarray (n,) of bool, or None
        Rows that pass.
    selectivity : float
        Share of rows that pass (1.0 without a filter).
    truth, truth_scores : ndarray (nq, k)
        Exact top-k positions / scores among the rows that pass.
    """

    where: dict | None
    label: str
    mask: np.ndarray | None
    selectivity: float
    truth: np.ndarray | None = None
    truth_scores: np.ndarray | None = None

    @property
    def rows(self) -> np.ndarray | None:
        return None if self.mask is None else np.flatnonzero(self.mask)


@dataclass
class Case:
    """The shared inputs of one run.

    Attributes
    ----------
    frame : DataFrame
        The user's frame (or the synthetic one), with the embedding column ``column``.
    column : str
    X : ndarray (n, d) float32
        The embedding column's matrix (a view).
    Q : ndarray (nq, d) float32
        Query vectors.
    metric : str
    k : int
    options : dict
        Store name -> keyword options for ``df.vec.index``.
    """

    frame: pd.DataFrame
    column: str
    X: np.ndarray
    Q: np.ndarray
    metric: str
    k: int
    options: dict = field(default_factory=dict)
    _unit: tuple | None = None

    @property
    def metadata(self) -> pd.DataFrame:
        return self.frame.drop(columns=[self.column])

    def unit(self) -> tuple[np.ndarray, np.ndarray]:
        """(X, Q) as raw libraries get them: row-normalised for cosine, else unchanged."""
        if self._unit is None:
            if self.metric == "cosine":
                from vecnb._core.metrics import normalize

                self._unit = (normalize(self.X), normalize(self.Q))
            else:
                self._unit = (self.X, self.Q)
        return self._unit


class System:
    """Base class: one thing to measure.

    Subclasses set ``name`` / ``impl`` / ``store`` / ``kind`` and implement ``build``,
    ``batch`` (all queries at once), ``one`` (one query) and ``positions``.
    """

    impl = "raw"
    name = "system"
    #: OpenMP / BLAS threads used for single queries (None: the library's default)
    single_threads: int | None = None
    supports_filters = True

    def __init__(self, case: Case, store: str, kind: str):
        self.case = case
        self.store = store
        self.kind = kind
        self.notes: list[str] = []

    # -- to implement -----------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def batch(self, Q: np.ndarray, k: int, filt: FilterCase) -> Any:
        raise NotImplementedError

    def one(self, q: np.ndarray, k: int, filt: FilterCase) -> Any:
        return self.batch(q[None, :], k, filt)

    def positions(self, result: Any, nq: int, k: int, *, batch: bool) -> np.ndarray:
        """(nq, k) row positions, -1 padded, from what ``batch`` / ``one`` returned."""
        return sequence_positions(result, k)

    def memory(self) -> tuple[int | None, str]:
        """(bytes, how they were measured); ``(None, reason)`` when unknown."""
        return None, "not measured"

    def params(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- vecnb
#: stores that need a server: store -> (environment variable with its URL, what it is)
_SERVERS = {"pgvector": ("VECNB_PG_URL", "PostgreSQL + pgvector"),
            "elasticsearch": ("VECNB_ES_URL", "Elasticsearch")}


class VecnbIndex(System):
    """``df.vec.index(store=..., kind=...)`` then ``idx.search(...)`` — what a user runs."""

    impl = "vecnb"

    def __init__(self, case: Case, store: str, kind: str):
        super().__init__(case, store, kind)
        self.name = f"vecnb {store} {kind}"
        self.idx = None

    def build(self) -> None:
        opts = dict(self.case.options.get(self.store, {}))
        server = _SERVERS.get(self.store)
        if server is not None:
            env, what = server
            if not any(opts.get(key) is not None for key in ("url", "connection", "client", "hosts")) \
                    and not os.environ.get(env):
                raise SkipSystem(f"no {what} server: set {env} or pass options={{{self.store!r}: {{'url': ...}}}}")
        opts.setdefault("progress", False)
        self._owns_table = False
        if self.store in ("pgvector", "postgres", "postgresql", "pg") and "table" not in opts \
                and "connection" not in opts:
            opts["table"] = f"vecnb_bench_{self.kind}_{uuid.uuid4().hex[:8]}"
            self._owns_table = True
        self.idx = self.case.frame.vec.index(store=self.store, kind=self.kind, metric=self.case.metric,
                                             column=self.case.column, **opts)
        # stores that build their ANN structure lazily (at the first search) expose
        # build_index(): call it so build seconds include the index, not the first query
        for name in ("build_index", "build"):
            fn = getattr(self.store_object, name, None)
            if callable(fn):
                fn()
                break

    def batch(self, Q, k, filt):
        return self.idx.search(Q, k=k, where=filt.where)

    def one(self, q, k, filt):
        return self.idx.search(q, k=k, where=filt.where)

    def positions(self, result, nq, k, *, batch):
        return positions_from_hits(result, self.case.frame.index, nq, k, batch=batch)

    @property
    def store_object(self) -> Any:
        for attr in ("store", "_store"):
            obj = getattr(self.idx, attr, None)
            if obj is not None:
                return obj
        return None

    def info(self) -> dict[str, Any]:
        for obj in (self.idx, self.store_object):
            fn = getattr(obj, "info", None)
            if callable(fn):
                try:
                    out = fn()
                except Exception:  # noqa: BLE001 - info is best effort
                    continue
                if isinstance(out, dict):
                    return out
        return {}

    def params(self) -> dict[str, Any]:
        info = self.info()
        out = {k: v for k, v in info.items()
               if k in ("chosen_kind", "exact", "recall") and (isinstance(v, (str, int, float, bool)) or v is None)}
        if isinstance(info.get("params"), dict):
            out.update(info["params"])
        return out

    def memory(self) -> tuple[int | None, str]:
        store = self.store_object
        info = self.info()
        for key in ("memory_bytes", "index_bytes", "size_bytes", "bytes"):
            if isinstance(info.get(key), (int, np.integer)):
                return int(info[key]), f"reported by the store (info()['{key}'])"
        pg = self._pg_size(store)
        if pg is not None:
            return pg, "pg_total_relation_size (table + indexes + TOAST, on disk)"
        fidx = find_faiss_index(store)
        if fidx is not None:  # measured as raw faiss is: like for like
            import faiss

            return int(faiss.serialize_index(fidx).nbytes), "faiss.serialize_index size"
        if store is not None and callable(getattr(type(store), "save", None)):
            # everything the store holds (e.g. faiss index + the original vectors + metadata)
            with tempfile.TemporaryDirectory(prefix="vecnb-bench-") as tmp:
                path = os.path.join(tmp, "store")
                try:
                    store.save(path)
                except Exception as exc:  # noqa: BLE001 - fall through to the next method
                    self.notes.append(f"store.save failed for memory: {exc}")
                else:
                    return dir_size(path), "store.save() size on disk (all it holds)"
        fidx = find_faiss_index(store)
        if fidx is not None:
            import faiss

            return int(faiss.serialize_index(fidx).nbytes), "faiss.serialize_index size"
        return None, "RSS delta (see rss_delta_bytes)"

    def _pg_size(self, store: Any) -> int | None:
        """Size of a pgvector store's table with its indexes, through a separate connection."""
        if store is None or getattr(store, "name", None) != "pgvector":
            return None
        info = store.info() if callable(getattr(store, "info", None)) else {}
        table = info.get("table")
        conn_fn = getattr(store, "_conn", None)  # the store's own connection (no second login)
        if not table or not callable(conn_fn):
            return None

        def ident(x: str) -> str:  # a quoted identifier, bound as a value and cast to regclass
            return '"' + str(x).replace('"', '""') + '"'

        name = f"{ident(info['schema'])}.{ident(table)}" if info.get("schema") else ident(table)
        conn = conn_fn()
        row = conn.execute("SELECT pg_total_relation_size(%s::regclass)", [name]).fetchone()
        conn.commit()
        return int(row[0]) if row else None

    def close(self) -> None:
        store = self.store_object
        if getattr(self, "_owns_table", False) and callable(getattr(store, "drop", None)):
            try:
                store.drop()
            except Exception:  # noqa: BLE001 - clean-up is best effort
                pass
        close = getattr(self.idx, "close", None)
        if callable(close):
            close()


class VecnbSearch(System):
    """``df.vec.search`` — exact search straight over the column, no index."""

    impl = "vecnb"
    name = "vecnb df.vec.search"

    def build(self) -> None:
        self.case.frame.vec.matrix(self.case.column)  # nothing to build; touch the column

    def batch(self, Q, k, filt):
        return self.case.frame.vec.search(Q, k=k, where=filt.where, metric=self.case.metric, column=self.case.column)

    def one(self, q, k, filt):
        return self.case.frame.vec.search(q, k=k, where=filt.where, metric=self.case.metric, column=self.case.column)

    def positions(self, result, nq, k, *, batch):
        return positions_from_hits(result, self.case.frame.index, nq, k, batch=batch)

    def memory(self):
        return 0, "no index (searches the column's own buffer)"


# --------------------------------------------------------------------------- numpy
class RawNumpy(System):
    """``X @ q`` + ``argpartition`` + a sort of the k winners: the plain-numpy baseline.

    For cosine, rows are normalised once at build time (counted in build seconds) and the
    query per call. Filters mask excluded scores to ``-inf`` before the selection.
    """

    name = "numpy"

    def build(self) -> None:
        X, _ = self.case.unit()
        self.X = X
        self.sq = np.einsum("ij,ij->i", X, X) if self.case.metric == "l2" else None

    def _scores(self, Q: np.ndarray) -> np.ndarray:
        if self.case.metric == "cosine":
            Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        s = Q @ self.X.T
        if self.sq is not None:
            s *= 2
            s -= self.sq
        return s

    def batch(self, Q, k, filt):
        s = self._scores(Q)
        if filt.mask is not None:
            s[:, ~filt.mask] = -np.inf
        kk = min(k, s.shape[1])
        p = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(s, p, axis=1), axis=1)
        p = np.take_along_axis(p, order, axis=1)
        if filt.mask is not None:
            p = np.where(filt.mask[p], p, -1)
        return p

    def one(self, q, k, filt):
        if self.case.metric == "cosine":
            q = q / np.linalg.norm(q)
        s = self.X @ q
        if self.sq is not None:
            s = 2 * s - self.sq
        if filt.mask is not None:
            s[~filt.mask] = -np.inf
        kk = min(k, len(s))
        p = np.argpartition(-s, kk - 1)[:kk]
        p = p[np.argsort(-s[p])]
        if filt.mask is not None:
            p = p[filt.mask[p]]
        return p

    def positions(self, result, nq, k, *, batch):
        return sequence_positions(result if batch else [result], k)

    def memory(self):
        return int(self.X.nbytes), "X.nbytes (the float32 matrix it scans)"


# --------------------------------------------------------------------------- faiss
def find_faiss_index(obj: Any) -> Any:
    """The faiss index an object (e.g. vecnb's faiss store) holds, or None."""
    if obj is None:
        return None
    try:
        import faiss
    except ImportError:
        return None
    if isinstance(obj, faiss.Index):
        return obj
    names = ["index", "_index", "faiss_index", "_faiss_index"]
    try:
        names += [k for k in vars(obj) if k not in names]
    except TypeError:
        return None
    for name in names:
        v = getattr(obj, name, None)
        if isinstance(v, faiss.Index):
            return v
    return None


def _unwrap(index: Any) -> Any:
    import faiss

    idx = faiss.downcast_index(index)
    while isinstance(idx, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        idx = faiss.downcast_index(idx.index)
    return idx


_SQ_NAMES = {0: "SQ8", 1: "SQ4", 2: "SQ8", 3: "SQ6", 4: "SQfp16"}


def describe_faiss(index: Any) -> tuple[str | None, dict[str, Any]]:
    """A faiss ``index_factory`` string and the run-time parameters of ``index``.

    Returns ``(None, params)`` for index types it does not know (callers then clone).
    """
    import faiss

    idx = _unwrap(index)
    params: dict[str, Any] = {"metric_type": int(idx.metric_type)}
    sq = getattr(faiss, "ScalarQuantizer", None)
    qnames = {}
    if sq is not None:
        for attr, label in (("QT_8bit", "SQ8"), ("QT_4bit", "SQ4"), ("QT_8bit_uniform", "SQ8"),
                            ("QT_6bit", "SQ6"), ("QT_fp16", "SQfp16"), ("QT_bf16", "SQbf16")):
            if hasattr(sq, attr):
                qnames[int(getattr(sq, attr))] = label
    if isinstance(idx, faiss.IndexHNSW):
        M = int(idx.hnsw.nb_neighbors(1))
        params.update(M=M, efConstruction=int(idx.hnsw.efConstruction), efSearch=int(idx.hnsw.efSearch))
        storage = faiss.downcast_index(idx.storage)
        if isinstance(storage, faiss.IndexFlat):
            return f"HNSW{M},Flat", params
        if isinstance(storage, faiss.IndexScalarQuantizer):
            return f"HNSW{M}_{qnames.get(int(storage.sq.qtype), 'SQ8')}", params
        if isinstance(storage, faiss.IndexPQ):
            return f"HNSW{M}_PQ{storage.pq.M}x{storage.pq.nbits}", params
        return None, params
    if isinstance(idx, faiss.IndexIVF):
        params.update(nlist=int(idx.nlist), nprobe=int(idx.nprobe))
        quant = faiss.downcast_index(idx.quantizer)
        prefix = f"IVF{idx.nlist}"
        if isinstance(quant, faiss.IndexHNSW):
            prefix += f"_HNSW{quant.hnsw.nb_neighbors(1)}"
        elif not isinstance(quant, faiss.IndexFlat):
            return None, params
        if isinstance(idx, faiss.IndexIVFFlat):
            return f"{prefix},Flat", params
        if isinstance(idx, faiss.IndexIVFScalarQuantizer):
            return f"{prefix},{qnames.get(int(idx.sq.qtype), 'SQ8')}", params
        if isinstance(idx, faiss.IndexIVFPQ):  # "np": no polysemous training, unless the original did it
            np_ = "" if getattr(idx, "do_polysemous_training", False) else "np"
            return f"{prefix},PQ{idx.pq.M}x{idx.pq.nbits}{np_}", params
        return None, params
    if isinstance(idx, faiss.IndexScalarQuantizer):
        return qnames.get(int(idx.sq.qtype), "SQ8"), params
    if isinstance(idx, faiss.IndexPQ):
        np_ = "" if getattr(idx, "do_polysemous_training", False) else "np"
        return f"PQ{idx.pq.M}x{idx.pq.nbits}{np_}", params
    if isinstance(idx, faiss.IndexFlat):
        return "Flat", params
    return None, params


_DEFAULT_FACTORY = {"flat": "Flat", "exact": "Flat", "hnsw": "HNSW32,Flat", "ivf": "IVF{nlist},Flat",
                    "sq8": "IVF{nlist},SQ8", "pq": "IVF{nlist},PQ{m}x8np"}


class RawFaiss(System):
    """faiss used directly, with the same index type and parameters as vecnb's faiss index.

    ``template`` is vecnb's own faiss index (found inside its store): its factory string and
    ``efConstruction`` / ``efSearch`` / ``nprobe`` are copied. Without one, faiss defaults
    for the kind are used (noted). Single queries run with ``faiss.omp_set_num_threads(1)``:
    faiss takes a slow path when there are fewer queries than threads, and 1 thread is the
    fair raw baseline. Filters use ``IDSelectorBitmap`` through ``SearchParameters``.
    """

    single_threads = 1

    def __init__(self, case: Case, store: str, kind: str, template: Any = None,
                 overrides: dict[str, Any] | None = None):
        super().__init__(case, store, kind)
        self.overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        try:
            import faiss  # noqa: F401
        except ImportError as exc:
            raise SkipSystem(f"faiss is not installed ({exc}); pip install faiss-cpu") from None
        self.name = f"faiss {kind}"
        self.template = template
        self.factory: str | None = None
        self.rt: dict[str, Any] = {}
        self.index = None

    def build(self) -> None:
        import faiss

        X, _ = self.case.unit()
        n, d = X.shape
        metric = faiss.METRIC_L2 if self.case.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        if self.template is not None:
            factory, rt = describe_faiss(self.template)
            metric = rt.pop("metric_type", metric)
            self.rt = rt
            if factory is None:
                idx = faiss.clone_index(_unwrap(self.template))
                idx.reset()
                self.notes.append("unknown faiss type: cloned vecnb's index (its training reused)")
                self.factory = "clone"
            else:
                self.factory = factory
                idx = faiss.index_factory(d, factory, metric)
        else:
            nlist = max(1, int(4 * np.sqrt(n)))
            m = next((m for m in (d // 4, d // 8, d // 2, d) if m >= 1 and d % m == 0), d)
            self.factory = _DEFAULT_FACTORY.get(self.kind, "Flat").format(nlist=nlist, m=m)
            self.notes.append("no vecnb faiss index to copy parameters from: faiss defaults for the kind")
            idx = faiss.index_factory(d, self.factory, metric)
        # the parameters vecnb's store applies per search override the faiss object's own
        for ours, theirs in (("ef_search", "efSearch"), ("nprobe", "nprobe"), ("ef_construction", "efConstruction")):
            if ours in self.overrides:
                self.rt[theirs] = int(self.overrides[ours])
        refine = int(self.overrides.get("refine") or 1)
        base = faiss.downcast_index(idx)
        hnsw = getattr(base, "hnsw", None)
        if hnsw is not None and "efConstruction" in self.rt:
            hnsw.efConstruction = self.rt["efConstruction"]
        if refine > 1:  # vecnb re-ranks k * refine candidates exactly: faiss's IndexRefineFlat does the same
            outer = faiss.IndexRefineFlat(idx)
            outer.k_factor = float(refine)
            self.rt["refine"] = refine
            self._owners = (idx, outer)
            idx = outer
        if not idx.is_trained:
            idx.train(X)
        idx.add(X)
        self._owner = idx  # owns the C++ object; the downcast wrapper below does not
        self.index = faiss.downcast_index(idx)
        self.base = base
        if "efSearch" in self.rt and hasattr(base, "hnsw"):
            base.hnsw.efSearch = self.rt["efSearch"]
        if "nprobe" in self.rt and hasattr(base, "nprobe"):
            base.nprobe = self.rt["nprobe"]
        self._params_cache: dict[str, Any] = {}

    def _search_params(self, filt: FilterCase) -> Any:
        if filt.mask is None:
            return None
        if filt.label in self._params_cache:
            return self._params_cache[filt.label][0]
        import faiss

        bitmap = np.packbits(filt.mask, bitorder="little")
        sel = faiss.IDSelectorBitmap(len(filt.mask), faiss.swig_ptr(bitmap))
        base = self.base
        if isinstance(base, faiss.IndexHNSW):
            sp = faiss.SearchParametersHNSW(sel=sel, efSearch=int(base.hnsw.efSearch))
        elif isinstance(base, faiss.IndexIVF):
            sp = faiss.SearchParametersIVF(sel=sel, nprobe=int(base.nprobe))
        else:
            sp = faiss.SearchParameters(sel=sel)
        keep = [sp, sel, bitmap]  # keep the buffers alive
        if self.rt.get("refine", 1) > 1:  # IndexRefineFlat: the selector goes to the base index
            outer = faiss.IndexRefineSearchParameters(k_factor=float(self.rt.get("refine", 1)), base_index_params=sp)
            keep.append(outer)
            sp = outer
        self._params_cache[filt.label] = (sp, keep)
        return sp

    def _query(self, Q: np.ndarray) -> np.ndarray:
        if self.case.metric == "cosine":
            Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        return np.ascontiguousarray(Q, dtype=np.float32)

    def batch(self, Q, k, filt):
        sp = self._search_params(filt)
        _, ids = self.index.search(self._query(Q), k, params=sp) if sp is not None else \
            self.index.search(self._query(Q), k)
        return ids

    def positions(self, result, nq, k, *, batch):
        return np.asarray(result, dtype=np.int64).reshape(nq, -1)[:, :k]

    def memory(self):
        import faiss

        return int(faiss.serialize_index(self.index).nbytes), "faiss.serialize_index size"

    def params(self):
        return {"factory": self.factory, **self.rt}


# --------------------------------------------------------------------------- hnswlib
class Hnswlib(System):
    """hnswlib used directly (chroma's HNSW engine), with given M / ef parameters.

    Filters use hnswlib's ``filter=`` callback (a Python call per candidate).
    """

    def __init__(self, case: Case, store: str, kind: str, *, M: int = 16, ef_construction: int = 100,
                 ef_search: int = 100):
        super().__init__(case, store, kind)
        try:
            import hnswlib  # noqa: F401
        except ImportError as exc:
            raise SkipSystem(f"hnswlib is not installed ({exc}); pip install hnswlib") from None
        self.name = "hnswlib"
        self.M, self.efc, self.ef = int(M), int(ef_construction), int(ef_search)

    def build(self) -> None:
        import hnswlib

        X = self.case.X
        space = {"cosine": "cosine", "dot": "ip", "l2": "l2"}[self.case.metric]
        self.index = hnswlib.Index(space=space, dim=X.shape[1])
        self.index.init_index(max_elements=len(X), ef_construction=self.efc, M=self.M, random_seed=0)
        self.index.add_items(X, np.arange(len(X)))
        self.index.set_ef(self.ef)
        self._filters: dict[str, Any] = {}

    def _filter(self, filt: FilterCase):
        if filt.mask is None:
            return None
        if filt.label not in self._filters:
            mask = filt.mask
            self._filters[filt.label] = lambda label: bool(mask[label])
        return self._filters[filt.label]

    def batch(self, Q, k, filt):
        f = self._filter(filt)
        if f is None:
            labels, _ = self.index.knn_query(Q, k=k)
        else:  # hnswlib raises when fewer than k rows pass; ask for what exists
            labels, _ = self.index.knn_query(Q, k=min(k, int(filt.mask.sum())), filter=f, num_threads=1)
        return labels

    def one(self, q, k, filt):
        f = self._filter(filt)
        if f is None:
            labels, _ = self.index.knn_query(q, k=k, num_threads=1)
        else:
            labels, _ = self.index.knn_query(q, k=min(k, int(filt.mask.sum())), filter=f, num_threads=1)
        return labels

    def positions(self, result, nq, k, *, batch):
        return sequence_positions(np.asarray(result, dtype=np.int64).reshape(nq, -1), k)

    def memory(self):
        with tempfile.TemporaryDirectory(prefix="vecnb-bench-") as tmp:
            path = os.path.join(tmp, "index.bin")
            self.index.save_index(path)
            return os.path.getsize(path), "hnswlib save_index file size"

    def params(self):
        return {"M": self.M, "ef_construction": self.efc, "ef_search": self.ef}


# --------------------------------------------------------------------------- chromadb
class ChromaClient(System):
    """chromadb's own client (ephemeral, in process), with given HNSW parameters.

    Embeddings are always passed in (chroma never embeds); ``where`` goes to chroma as is
    (vecnb's filter language is chroma's, except that chroma wants ``$and`` for several
    fields, which is added here). Memory is not separable from the process: RSS delta.
    """

    impl = "peer"
    name = "chromadb"

    def __init__(self, case: Case, store: str, kind: str, *, M: int = 16, ef_construction: int = 100,
                 ef_search: int = 100):
        super().__init__(case, store, kind)
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        try:
            import chromadb  # noqa: F401
        except ImportError as exc:
            raise SkipSystem(f"chromadb is not installed ({exc}); pip install chromadb") from None
        self.M, self.efc, self.ef = int(M), int(ef_construction), int(ef_search)
        self.col = None

    def build(self) -> None:
        import chromadb
        from chromadb.config import Settings

        self.client = chromadb.EphemeralClient(Settings(anonymized_telemetry=False))
        space = {"cosine": "cosine", "dot": "ip", "l2": "l2"}[self.case.metric]
        self.col_name = f"vecnb-bench-{uuid.uuid4().hex[:12]}"
        self.col = self.client.create_collection(
            self.col_name, embedding_function=None,
            configuration={"hnsw": {"space": space, "ef_construction": self.efc, "ef_search": self.ef,
                                    "max_neighbors": self.M}})
        meta = _metadata_records(self.case.metadata)
        X = self.case.X
        step = int(self.client.get_max_batch_size())
        ids = [str(i) for i in range(len(X))]
        for s in range(0, len(X), step):
            self.col.add(ids=ids[s:s + step], embeddings=X[s:s + step],
                         metadatas=meta[s:s + step] if meta else None)

    def _where(self, filt: FilterCase) -> dict | None:
        return _chroma_where(filt.where)

    def batch(self, Q, k, filt):
        return self.col.query(query_embeddings=Q, n_results=k, where=self._where(filt), include=["distances"])["ids"]

    def positions(self, result, nq, k, *, batch):
        return sequence_positions([[int(i) for i in row] for row in result], k)

    def memory(self):
        return None, "RSS delta (see rss_delta_bytes)"

    def params(self):
        return {"M": self.M, "ef_construction": self.efc, "ef_search": self.ef}

    def close(self) -> None:
        if self.col is not None:
            try:
                self.client.delete_collection(self.col_name)
            except Exception:  # noqa: BLE001 - best effort clean-up
                pass
            self.col = None


def _metadata_records(meta: pd.DataFrame) -> list[dict] | None:
    """Metadata rows as dicts of plain scalars (missing values dropped), or None."""
    if meta.shape[1] == 0:
        return None
    cols = {}
    for c in meta.columns:
        s = meta[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s) or \
                pd.api.types.is_string_dtype(s) or s.dtype == object:
            cols[str(c)] = s.tolist()
    out = []
    for i in range(len(meta)):
        rec = {}
        for c, vals in cols.items():
            v = vals[i]
            if isinstance(v, (bool, int, float, str)) and not (isinstance(v, float) and np.isnan(v)):
                rec[c] = v
            elif isinstance(v, np.generic):
                rec[c] = v.item()
        out.append(rec or {"_": 0})
    return out


def _chroma_where(where: dict | None) -> dict | None:
    if not where:
        return None
    node = _filters.parse(where)

    def conv(n):
        if isinstance(n, _filters.Cmp):
            return {n.field: {n.op: list(n.value) if isinstance(n.value, (tuple, list)) else n.value}}
        key = "$and" if isinstance(n, _filters.And) else "$or"
        kids = [conv(c) for c in n.children]
        return kids[0] if len(kids) == 1 else {key: kids}

    return conv(node)


# --------------------------------------------------------------------------- LangChain
class LangchainFaiss(System):
    """LangChain's ``FAISS`` vector store wrapping the raw faiss index (no second build).

    Build seconds are the raw faiss build plus making LangChain's docstore. Searches go
    through ``similarity_search_with_score_by_vector`` with LangChain's defaults (its filter
    fetches ``fetch_k=20`` candidates and filters them afterwards) and faiss's default
    threads, as a LangChain user gets it. LangChain has no batch search: a batch is a loop.
    """

    impl = "peer"

    def __init__(self, case: Case, store: str, kind: str, raw: RawFaiss):
        super().__init__(case, store, kind)
        try:
            from langchain_community.vectorstores import FAISS  # noqa: F401
        except ImportError as exc:
            raise SkipSystem(f"LangChain is not installed ({exc}); "
                             "pip install langchain-community langchain-core") from None
        self.name = f"langchain FAISS {kind}"
        self.raw = raw

    def build(self) -> None:
        import warnings

        from langchain_community.docstore.in_memory import InMemoryDocstore
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy
        from langchain_core.documents import Document
        from langchain_core.embeddings import Embeddings

        class _VectorsOnly(Embeddings):
            """This benchmark searches by vector; LangChain never embeds text here."""

            def embed_documents(self, texts):
                raise NotImplementedError("vectors only")

            def embed_query(self, text):
                raise NotImplementedError("vectors only")

        if self.raw.index is None:
            self.raw.build()
        meta = _metadata_records(self.case.metadata) or [{} for _ in range(len(self.case.X))]
        docs = {str(i): Document(id=str(i), page_content="", metadata=m) for i, m in enumerate(meta)}
        strategy = DistanceStrategy.EUCLIDEAN_DISTANCE if self.case.metric == "l2" else \
            DistanceStrategy.MAX_INNER_PRODUCT
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.vs = FAISS(_VectorsOnly(), self.raw.index, InMemoryDocstore(docs),
                            {i: str(i) for i in range(len(meta))},
                            normalize_L2=self.case.metric == "cosine", distance_strategy=strategy)
        self.notes.append("wraps the raw faiss index; build_s = raw build + docstore")

    def _filter(self, filt: FilterCase):
        if filt.where is None:
            return None
        node = _filters.parse(filt.where)
        return lambda md: _eval(node, md)

    def one(self, q, k, filt):
        return self.vs.similarity_search_with_score_by_vector(q.tolist(), k=k, filter=self._filter(filt))

    def batch(self, Q, k, filt):
        f = self._filter(filt)
        return [self.vs.similarity_search_with_score_by_vector(q.tolist(), k=k, filter=f) for q in Q]

    def positions(self, result, nq, k, *, batch):
        rows = result if batch else [result]
        return sequence_positions([[int(doc.id) for doc, _ in r] for r in rows], k)

    def memory(self):
        b, _ = self.raw.memory()
        return b, "faiss.serialize_index size (docstore not counted)"

    def params(self):
        return {**self.raw.params(), "fetch_k": 20}


_OPS = {"$eq": lambda a, b: a == b, "$ne": lambda a, b: a != b, "$gt": lambda a, b: a > b,
        "$gte": lambda a, b: a >= b, "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
        "$in": lambda a, b: a in b, "$nin": lambda a, b: a not in b}


def _eval(node: Any, md: dict) -> bool:
    """vecnb's filter semantics on one metadata dict (missing values match nothing)."""
    if isinstance(node, _filters.And):
        return all(_eval(c, md) for c in node.children)
    if isinstance(node, _filters.Or):
        return any(_eval(c, md) for c in node.children)
    v = md.get(node.field)
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return False
    try:
        return bool(_OPS[node.op](v, node.value))
    except TypeError:
        return False


# --------------------------------------------------------------------------- pgvector through psycopg
class RawPgvector(System):
    """pgvector used directly: one SQL query per search through psycopg, on vecnb's own table.

    The table and its index are the ones vecnb built (no second build: ``build_s`` is only
    the connection), searched with ``ORDER BY embedding <op> %s::vector LIMIT k`` and the
    same ``hnsw.ef_search`` / ``ivfflat.probes`` as vecnb; the vector goes in pgvector's text
    form (what a user without the ``pgvector`` helper package writes). pgvector's defaults
    otherwise: no iterative scan, so a selective filter can come back short. ``where``
    becomes ``metadata ->> field`` comparisons with bound values. A batch is a loop.
    """

    def __init__(self, case: Case, store: str, kind: str, vecnb: VecnbIndex):
        super().__init__(case, store, kind)
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise SkipSystem(f"psycopg is not installed ({exc}); pip install 'psycopg[binary]'") from None
        if vecnb is None or vecnb.idx is None:
            raise SkipSystem("vecnb's pgvector table was not built, so there is nothing to query")
        self.name = f"psycopg {kind}"
        self.vecnb = vecnb
        self.conn = None

    def build(self) -> None:
        import psycopg
        from psycopg import sql

        opts = self.case.options.get(self.store, {})
        url = opts.get("url") or os.environ.get("VECNB_PG_URL")
        if not url:
            raise SkipSystem("no PostgreSQL URL for the raw connection")
        store = self.vecnb.store_object
        info = store.info()
        self.params_ = dict(info.get("params") or {})
        self.chosen = info.get("kind")
        self.conn = psycopg.connect(url, autocommit=True)
        table = sql.Identifier(info["schema"], info["table"]) if info.get("schema") else sql.Identifier(info["table"])
        op = sql.SQL({"cosine": "<=>", "dot": "<#>", "l2": "<->"}[self.case.metric])
        self._sql = (table, op)
        gucs = []
        if self.chosen == "hnsw":
            gucs.append(("hnsw.ef_search", str(min(1000, max(int(self.params_.get("ef_search") or 40), self.case.k)))))
        elif self.chosen == "ivfflat":
            probes = self.params_.get("probes") or getattr(store, "_lists", None)
            lists = getattr(store, "_lists", None)
            if self.params_.get("probes") is None and lists:
                probes = max(1, int(round(np.sqrt(lists))))
            if probes:
                gucs.append(("ivfflat.probes", str(int(probes))))
        else:
            gucs.append(("enable_indexscan", "off"))
        for name, value in gucs:
            self.conn.execute("SELECT set_config(%s, %s, false)", [name, value])
        self.gucs = dict(gucs)
        self._cache: dict[str, Any] = {}
        self.notes.append("queries vecnb's table and index (no second build)")

    def _where(self, filt: FilterCase):
        from psycopg import sql

        if filt.label in self._cache:
            return self._cache[filt.label]
        params: list[Any] = []

        def conv(n):
            if isinstance(n, (_filters.And, _filters.Or)):
                glue = sql.SQL(" AND " if isinstance(n, _filters.And) else " OR ")
                return sql.SQL("(") + glue.join([conv(c) for c in n.children]) + sql.SQL(")")
            vals = list(n.value) if isinstance(n.value, (tuple, list)) else [n.value]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
            col = sql.SQL("(metadata ->> %s)::float8") if numeric else sql.SQL("(metadata ->> %s)")
            params.append(n.field)
            if n.op in ("$in", "$nin"):
                params.append([float(v) for v in vals] if numeric else [str(v) for v in vals])
                cast = sql.SQL("%s::float8[]") if numeric else sql.SQL("%s::text[]")
                neg = sql.SQL("NOT ") if n.op == "$nin" else sql.SQL("")
                return sql.SQL("({neg}{col} = ANY({cast}))").format(neg=neg, col=col, cast=cast)
            sym = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[n.op]
            params.append(float(vals[0]) if numeric else str(vals[0]))
            return sql.SQL("({col} {sym} %s)").format(col=col, sym=sql.SQL(sym))

        node = _filters.parse(filt.where)
        cond = conv(node) if node is not None else sql.SQL("TRUE")
        table, op = self._sql
        stmt = sql.SQL("SELECT id FROM {t} WHERE {c} ORDER BY embedding {op} %s::vector LIMIT %s").format(
            t=table, c=cond, op=op)
        self._cache[filt.label] = (stmt.as_string(self.conn), params)
        return self._cache[filt.label]

    def one(self, q, k, filt):
        stmt, params = self._where(filt)
        text = "[" + ",".join(map(repr, q.astype(float).tolist())) + "]"
        return [r[0] for r in self.conn.execute(stmt, [*params, text, k]).fetchall()]

    def batch(self, Q, k, filt):
        return [self.one(q, k, filt) for q in Q]

    def positions(self, result, nq, k, *, batch):
        rows = result if batch else [result]
        return self.vecnb.idx.positions_for(sequence_positions(rows, k))

    def memory(self):
        return None, "shares vecnb's table (see the vecnb pgvector row)"

    def params(self):
        return {"kind": self.chosen, **self.gucs}

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
