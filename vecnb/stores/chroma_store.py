"""``chroma``: a chromadb collection, in memory (``EphemeralClient``) or on disk (``path=``).

* Chroma never embeds: vectors always go in as ``embeddings=`` / ``query_embeddings=`` and
  the collection is created with ``embedding_function=None`` (its default model would
  download at run time and fails offline). Telemetry is off.
* Spaces: ``cosine`` -> ``cosine``, ``dot`` -> ``ip``, ``l2`` -> ``l2``. Chroma returns
  distances (cosine: 1 - similarity, ip: 1 - dot, l2: the SQUARED distance), computed in
  float32 directly on the vectors; vecnb converts them (cosine ``1 - d``, l2 ``-sqrt(d)``:
  within ~1e-6 of float64) and re-sorts ties by key, so scores match every other store to
  1e-4. ``dot`` scores of large vectors lose more in float32, so for ``dot`` the hit
  embeddings are read back and scored in float64.
* Keys are stored as decimal strings; writes go in batches of ``client.get_max_batch_size()``.
* ``where``: translated to chroma's dialect. Two differences are bridged: chroma's ``$ne`` /
  ``$nin`` match rows *lacking* the field (vecnb: missing values match nothing), so every
  row also records ``vecnb_has__<field>: True`` for the fields it has and those operators
  require it; and ``$in`` lists must hold one type, so mixed lists become an ``$or``.
  Chroma cannot compare text with ``$gt`` / ``$lt`` (a :class:`FilterError` says so).
* The kind is chroma's HNSW (``ef_search`` default 100, ``ef_construction`` 100,
  ``max_neighbors`` 16, chroma's own defaults except ``ef_search``): approximate.
* Persistence: :meth:`ChromaStore.save` writes a persistent copy (``chroma/`` folder +
  ``store.json``) by re-adding every row; :meth:`ChromaStore.load` opens a private copy of it
  in a temporary folder, so using a loaded store never changes the saved files. Chroma
  builds HNSW graphs non-deterministically, so the saved graph is a new graph: it finds
  nearly the same hits as the original (recall ~0.99 against it), while every load of one
  saved copy, in any process, answers exactly alike (the copy is written with
  ``sync_threshold=2``, so nothing is left in chroma's log to re-insert at load time).
* An ephemeral store drops its collection on ``close()``; a store on ``path=`` keeps it
  (reopen it with the same ``path`` and ``collection``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from vecnb._core import filters
from vecnb.errors import FilterError, InvalidInputError, MissingDependencyError, StoreBusyError, StoreError
from vecnb._core.metrics import _exact_block, scores_from_distances
from vecnb.stores._persist import constructor_options, folder_lock, read_store_json
from vecnb.stores.base import PAD_LIMIT, BaseStore

try:
    import chromadb
    from chromadb.config import Settings
except ImportError as exc:  # pragma: no cover - exercised only without chromadb
    raise MissingDependencyError.for_extra("The 'chroma' store", "chroma", exc.name) from exc

__all__ = ["HAS_PREFIX", "ChromaStore", "to_chroma_metadata", "to_chroma_where"]

_FORMAT = "vecnb-chroma-store"
_CONFIG_KEYS = frozenset({"dim", "metric", "kind", "path", "collection", "ef_search", "ef_construction", "max_neighbors",
                          "sync_threshold"})  # path / collection are replaced on load
_VERSION = 1
HAS_PREFIX = "vecnb_has__"
_SPACES = {"cosine": "cosine", "dot": "ip", "l2": "l2"}


# ------------------------------------------------------------------------------ translation
def _value(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return v


def _type_group(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "num"
    return "str"


def _in_list(field: str, op: str, values: tuple) -> dict:
    groups: dict[str, list] = {}
    for v in values:
        groups.setdefault(_type_group(_value(v)), []).append(_value(v))
    parts = []
    for g, vals in groups.items():
        if g == "num" and any(isinstance(v, float) for v in vals):
            vals = [float(v) for v in vals]
        parts.append({field: {op: vals}})
    if len(parts) == 1:
        return parts[0]
    return {"$or": parts} if op == "$in" else {"$and": parts}


def _fractional(v: Any) -> bool:
    """A float with a fractional part (chroma truncates it toward zero when the field holds ints)."""
    return isinstance(v, float) and np.isfinite(v) and abs(v) < 2.0 ** 62 and v != int(v)


def _fraction_safe(f: str, op: str, v: float) -> dict:
    """``f op v`` for a fractional ``v``, right whether ``f`` stores ints or floats in chroma.

    Chroma compares an int field with a float by casting the float to int (toward zero):
    ``{"n": {"$gte": 2.5}}`` matched ``n == 2``, ``{"n": 2.5}`` matched ``n == 2``. The one
    int ``t = int(v)`` that the cast gets wrong is excluded (or added) explicitly; a float
    field equal to ``t`` is on the same side of ``v`` anyway, so float fields are unchanged.
    """
    t = int(v)
    base = {f: {op: v}}
    if op in ("$eq", "$gte" if v > 0 else "$lte"):  # the cast adds t: take it out
        return {"$and": [base, {f: {"$ne": t}}]}
    if op in ("$ne", "$lt" if v > 0 else "$gt"):  # the cast drops t: put it back
        return {"$or": [base, {f: {"$eq": t}}]}
    return base


def _eq_list(f: str, op: str, forms: tuple) -> dict:
    """``$in`` / ``$nin`` (``op``) of ``forms`` with fractional floats made cast-safe."""
    odd = [v for v in forms if _fractional(v)]
    rest = tuple(v for v in forms if not _fractional(v))
    one = "$eq" if op == "$in" else "$ne"
    parts = [_fraction_safe(f, one, v) for v in odd]
    if rest:
        parts.insert(0, _in_list(f, op, rest))
    if len(parts) == 1:
        return parts[0]
    return {"$or": parts} if op == "$in" else {"$and": parts}


def to_chroma_where(node: filters.Node | None) -> dict | None:
    """Translate a parsed filter tree into chroma's ``where`` dict (``None`` for no filter).

    Raises
    ------
    FilterError
        For comparisons chroma cannot evaluate (text or booleans with ``$gt`` / ``$lt``).

    Examples
    --------
    >>> to_chroma_where(vecnb.filters.parse({"year": {"$gte": 1990}, "lang": "en"}))
    {'$and': [{'year': {'$gte': 1990}}, {'lang': {'$eq': 'en'}}]}
    """
    if node is None:
        return None
    if isinstance(node, filters.Cmp):
        f, op = node.field, node.op
        if f.startswith(HAS_PREFIX):
            raise FilterError(f"where: field names starting with {HAS_PREFIX!r} are reserved by the chroma store.")
        if op in ("$gt", "$gte", "$lt", "$lte") and _type_group(_value(node.value)) != "num":
            raise FilterError(
                f"where: chroma compares only numbers with {op}; {f!r} {op} {node.value!r} is not supported by "
                "the chroma store. Use $eq / $in for text, or another store (numpy, faiss, sqlite, pgvector)."
            )
        if op in ("$eq", "$ne", "$in", "$nin"):  # True equals 1 and False 0 (pandas' rule)
            vals = node.value if isinstance(node.value, tuple) else (node.value,)
            forms = tuple(x for v in vals for x in filters.equal_forms(_value(v)))
            if len(forms) == 1 and op in ("$eq", "$ne") and not _fractional(forms[0]):
                cond = {f: {op: forms[0]}}
            else:
                cond = _eq_list(f, "$in" if op in ("$eq", "$in") else "$nin", forms)
        elif _fractional(_value(node.value)):
            cond = _fraction_safe(f, op, _value(node.value))
        else:
            cond = {f: {op: _value(node.value)}}
        if op in ("$ne", "$nin"):  # chroma would match rows without the field: require it
            return {"$and": [cond, {HAS_PREFIX + f: True}]}
        return cond
    kids = [to_chroma_where(c) for c in node.children]
    if len(kids) == 1:
        return kids[0]
    return {"$and" if isinstance(node, filters.And) else "$or": kids}


def to_chroma_metadata(metadata: pd.DataFrame | None, n: int) -> list[dict | None]:
    """Per-row metadata dicts: missing values left out, numpy scalars as Python, presence markers.

    Raises
    ------
    InvalidInputError
        A value chroma cannot store (not str / int / float / bool).

    Examples
    --------
    >>> to_chroma_metadata(pd.DataFrame({"year": [1990, None], "lang": ["en", "fr"]}), 2)
    [{'year': 1990.0, 'vecnb_has__year': True, 'lang': 'en', 'vecnb_has__lang': True}, {'lang': 'fr', 'vecnb_has__lang': True}]
    """
    if metadata is None or len(metadata.columns) == 0:
        return [None] * n
    metadata = filters.encode_frame(metadata)  # dates / datetimes as int ns since the epoch (UTC)
    rows: list[dict] = [{} for _ in range(n)]
    for col in metadata.columns:
        if not isinstance(col, str):
            raise InvalidInputError(f"chroma store: metadata column names must be strings, got {col!r}.")
        if col.startswith((HAS_PREFIX, "#", "$")):
            raise InvalidInputError(f"chroma store: metadata column {col!r} uses a prefix chroma or vecnb reserves; "
                                    "rename it.")
        s = metadata[col]
        present = s.notna().to_numpy(dtype=bool)
        values = s.astype(object).tolist()
        has = HAS_PREFIX + col
        for i in np.flatnonzero(present).tolist():
            v = _value(values[i])
            if not isinstance(v, (str, int, float, bool)):
                raise InvalidInputError(
                    f"chroma store: column {col!r} holds a {type(v).__name__} ({v!r}); chroma stores only str, "
                    "int, float and bool. Convert or drop the column."
                )
            rows[i][col] = v
            rows[i][has] = True
    return [r or None for r in rows]


def _settings() -> Any:
    """The one client configuration (chroma refuses two clients with different settings on one path)."""
    return Settings(anonymized_telemetry=False, allow_reset=False)


# ------------------------------------------------------------------------------ the store
class ChromaStore(BaseStore):
    """A chromadb collection as a vecnb store.

    Parameters
    ----------
    dim : int
    metric : {"cosine", "dot", "l2"}
    kind : {"auto", "hnsw"}
        Chroma's only index is HNSW (approximate).
    path : str, optional
        Folder of a ``PersistentClient``; ``None`` keeps the data in memory.
    collection : str, optional
        Collection name (default: a fresh ``vecnb-<random>`` in memory, ``"vecnb"`` on disk).
        An existing collection on ``path`` is reopened (its dimension and metric must match).
    ef_search, ef_construction, max_neighbors : int
        Chroma's HNSW parameters.
    sync_threshold : int, optional
        Chroma's ``sync_threshold`` / ``batch_size`` (rows between writes of the graph to disk).

    Examples
    --------
    An in-memory chroma collection (pass ``path=`` to keep it on disk); chroma never embeds here:

    >>> store = vecnb.stores.create("chroma", dim=2, collection="fruit")
    >>> store.upsert(np.array([1, 2]), np.array([[1, 0], [0, 1]], np.float32),
    ...              metadata=pd.DataFrame({"lang": ["en", "fr"]}))
    >>> store.search(np.array([[0.2, 1.0]], np.float32), k=1, where=vecnb.filters.parse({"lang": "fr"}))[0]
    array([[2]])
    """

    name: ClassVar[str] = "chroma"
    capabilities: ClassVar[frozenset[str]] = frozenset({"config", "fetch", "home", "info", "iter_ids", "metadata",
                                                        "persist"})
    kinds: ClassVar[tuple[str, ...]] = ("hnsw",)

    def __init__(self, *, dim: int, metric: str = "cosine", kind: str = "auto", path: str | os.PathLike | None = None,
                 collection: str | None = None, ef_search: int = 100, ef_construction: int = 100,
                 max_neighbors: int = 16, sync_threshold: int | None = None):
        super().__init__(dim=dim, metric=metric, kind=kind)
        for name, v in (("ef_search", ef_search), ("ef_construction", ef_construction),
                        ("max_neighbors", max_neighbors)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise InvalidInputError(f"chroma store: {name} must be a positive integer, got {v!r}.")
        self.path = None if path is None else os.fspath(path)
        self.collection_name = collection or ("vecnb" if self.path else f"vecnb-{uuid.uuid4().hex[:16]}")
        self.ef_search = int(ef_search)
        self.ef_construction = int(ef_construction)
        self.max_neighbors = int(max_neighbors)
        if sync_threshold is not None and (isinstance(sync_threshold, bool) or int(sync_threshold) < 2):
            raise InvalidInputError(f"chroma store: sync_threshold must be an integer >= 2, got {sync_threshold!r}.")
        self.sync_threshold = None if sync_threshold is None else int(sync_threshold)
        self._client: Any = None
        self._col: Any = None
        self._batch = 1000
        self._tmpdir: str | None = None  # private copy opened by load(), removed on close()

    # ------------------------------------------------------------------ connection
    def _collection(self) -> Any:
        self._check_open()
        if self._col is not None:
            return self._col
        settings = _settings()
        try:
            if self.path:
                os.makedirs(self.path, exist_ok=True)
                client = chromadb.PersistentClient(path=self.path, settings=settings)
            else:
                client = chromadb.EphemeralClient(settings=settings)
            hnsw = {"space": _SPACES[self.metric], "ef_search": self.ef_search,
                    "ef_construction": self.ef_construction, "max_neighbors": self.max_neighbors}
            if self.sync_threshold is not None:
                hnsw.update(sync_threshold=self.sync_threshold, batch_size=self.sync_threshold)
            config = {"hnsw": hnsw}
            if getattr(self, "_lookup_only", False) and self.path:
                col = client.get_collection(self.collection_name, embedding_function=None)
            else:
                col = client.get_or_create_collection(self.collection_name, configuration=config,
                                                      metadata={"vecnb_dim": self.dim, "vecnb_metric": self.metric},
                                                      embedding_function=None)
        except Exception as exc:
            if getattr(self, "_lookup_only", False) and "does not exist" in str(exc):
                raise StoreBusyError(
                    f"chroma collection {self.collection_name!r} at {self.path!r} is being replaced by another "
                    "writer (mode='replace'); retry in a moment.", store=self.name, operation="connect") from None
            raise StoreError(f"could not open chroma collection {self.collection_name!r}: {exc}",
                             store=self.name, operation="connect") from exc
        meta = col.metadata or {}
        if meta.get("vecnb_dim") not in (None, self.dim) or meta.get("vecnb_metric") not in (None, self.metric):
            client.close()
            raise StoreError(
                f"collection {self.collection_name!r} at {self.path!r} holds {meta.get('vecnb_dim')}-d vectors under "
                f"{meta.get('vecnb_metric')!r}, not {self.dim}-d under {self.metric!r}; choose another collection.",
                store=self.name, operation="connect")
        self._client = client
        self._col = col
        try:
            self._batch = max(1, int(client.get_max_batch_size()))
        except Exception:  # noqa: BLE001 - older clients have no limit to ask
            self._batch = 1000
        return col

    def _call(self, operation: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (FilterError, InvalidInputError):
            raise
        except Exception as exc:
            if "does not exist" in str(exc) and self.path:
                self._col, self._lookup_only = None, True  # the next call looks the name up again (never creates)
                raise StoreBusyError(
                    f"chroma collection {self.collection_name!r} at {self.path!r} is gone: another writer is replacing "
                    "it (retry in a moment) or deleted it (reopen with vecnb.open_index('chroma', path=..., "
                    "collection=...)).", store=self.name, operation=operation) from None
            raise StoreError(f"chroma failed: {exc}", store=self.name, operation=operation) from exc

    # ------------------------------------------------------------------ writes
    def upsert(self, ids: Any, vectors: Any, metadata: pd.DataFrame | None = None,
               texts: list[str] | None = None) -> None:
        """Insert or replace rows (``texts`` are not stored; chroma here does vector search only)."""
        ids, vecs = self._check_write(ids, vectors, metadata, texts)
        if len(ids) == 0:
            return
        col = self._collection()
        metas = to_chroma_metadata(metadata, len(ids))
        sids = [str(k) for k in ids.tolist()]
        for s in range(0, len(sids), self._batch):
            e = s + self._batch
            # chroma's upsert merges metadata into a stored row's: delete stored rows first so a
            # replaced row does not keep fields its new metadata lacks
            stored = self._call("upsert", col.get, ids=sids[s:e], include=[])["ids"]
            if stored:
                self._call("upsert", col.delete, ids=stored)
            self._call("upsert", col.add, ids=sids[s:e], embeddings=vecs[s:e], metadatas=metas[s:e])

    def delete(self, ids: Any) -> None:
        """Remove rows by id; ids that are not stored are ignored."""
        self._check_open()
        ids = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
        if not len(ids):
            return
        col = self._collection()
        sids = [str(k) for k in ids.tolist()]
        for s in range(0, len(sids), self._batch):
            self._call("delete", col.delete, ids=sids[s:s + self._batch])

    # ------------------------------------------------------------------ reads
    def search(self, vectors: Any, k: int, where: filters.Node | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ids and exact scores (vecnb convention) per query.

        Scores come from chroma's distances (cosine: ``1 - d``; l2: ``-sqrt(d)``), which chroma
        computes in float32 directly on the vectors (within ~1e-6 of the float64 score). Inner
        products of large vectors lose more in float32, so ``dot`` reads the hit embeddings back
        and scores them in float64. No per-query ``count()``: an empty collection answers
        ``[]`` and ``n_results`` above the row count returns every row.

        Returns
        -------
        ids : ndarray (nq, k) int64, padded with -1
        scores : ndarray (nq, k) float64, padded with -inf
        """
        q = self._check_queries(vectors, k)
        cw = None if where is None else to_chroma_where(filters.encode_node(filters.parse(where)))
        nq = len(q)
        col = self._collection()
        rescore = self.metric == "dot"
        if nq == 1 and cw is None and not rescore and k <= PAD_LIMIT:
            got = self._search_one(col, q, k)
            if got is not None:
                return got
        include = ["embeddings", "distances"] if rescore else ["distances"]
        k = self._width(k)  # a huge k is clamped to the rows stored (one count) before allocating
        ids = np.full((nq, k), -1, dtype=np.int64)
        scores = np.full((nq, k), -np.inf, dtype=np.float64)
        if k == 0:
            return ids, scores
        allowed: list = []  # the rows the filter allows, read once if chroma's HNSW comes back short
        for s in range(0, nq, self._batch):
            qb = q[s:s + self._batch]
            res = self._call("search", col.query, query_embeddings=qb, n_results=k, where=cw, include=include)
            embs = res["embeddings"] if rescore else [None] * len(qb)
            for i, (rid, dist, emb) in enumerate(zip(res["ids"], res["distances"], embs)):
                if len(rid) < k:  # fewer than k: the filter allows fewer rows, or the graph did not reach them
                    if not allowed:
                        allowed.append(self._allowed(col, cw))
                    if len(allowed[0][0]) > len(rid):
                        keys, sc = self._exact_over(allowed[0], qb[i], k)
                        ids[s + i, :len(keys)], scores[s + i, :len(keys)] = keys, sc
                        continue
                if not rid:
                    continue
                keys = np.array(rid, dtype=np.int64)
                if rescore:
                    E = np.asarray(emb, dtype=np.float32).reshape(len(keys), self.dim)
                    sc = _exact_block(E, np.arange(len(keys))[None, :], qb[i:i + 1], self.metric)[0]
                else:
                    sc = scores_from_distances(dist, self.metric, squared=True)
                order = np.lexsort((keys, -sc))[:k]
                ids[s + i, :len(order)] = keys[order]
                scores[s + i, :len(order)] = sc[order]
        return ids, scores

    def _search_one(self, col: Any, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """One unfiltered cosine / l2 query as a hand-written ``collection.query``: keys and scores in
        plain Python over its ``k`` rows. None when the answer is short or two scores tie (or are out
        of order): :meth:`search`'s general path then answers (the exact pass / ties by key), so the
        answer is the one it gives in every case."""
        res = self._call("search", self._query_one, col, q, k)
        rid, dist = res["ids"][0], res["distances"][0]
        if len(rid) != k:
            return None
        if self.metric == "cosine":
            sc = [1.0 - float(d) for d in dist]
        else:  # l2: chroma gives the squared distance
            sc = [-math.sqrt(max(float(d), 0.0)) for d in dist]
        if not all(a > b for a, b in zip(sc, sc[1:])):
            return None
        return np.array([rid], dtype=np.int64), np.array([sc], dtype=np.float64)

    def _query_one(self, col: Any, q: np.ndarray, k: int) -> Any:
        """``col.query(q, n_results=k, include=["distances"])`` for one checked query, through the client's
        ``_query`` (what ``Collection.query`` calls once it has validated and normalised its arguments:
        ~0.1 ms of a ~0.6 ms search; vecnb has checked the query already). A client without that
        method, or with another signature, gets ``col.query`` from then on."""
        direct = getattr(col._client, "_query", None) if self._direct_query else None
        if direct is not None:
            try:
                return direct(collection_id=col.id, query_embeddings=[q[0]], n_results=k, include=["distances"],
                              tenant=col.tenant, database=col.database)
            except TypeError:  # another chromadb's signature: the public call from now on
                self._direct_query = False
        return col.query(query_embeddings=q, n_results=k, include=["distances"])

    _direct_query = True

    def _allowed(self, col: Any, cw: dict | None) -> tuple[np.ndarray, np.ndarray]:
        """Keys (m,) and vectors (m, dim) of every row ``cw`` allows."""
        got = self._call("search", col.get, where=cw, include=["embeddings"])
        keys = np.array([int(x) for x in got["ids"]], dtype=np.int64)
        E = np.asarray(got["embeddings"], dtype=np.float32).reshape(len(keys), self.dim)
        return keys, E

    def _exact_over(self, allowed: tuple[np.ndarray, np.ndarray], q: np.ndarray, k: int) -> tuple:
        """Exact top-``k`` of one query over ``allowed`` rows (chroma's HNSW answered short:
        it returns fewer rows than exist when its graph does not reach them)."""
        keys, E = allowed
        sc = _exact_block(E, np.arange(len(keys))[None, :], q[None, :], self.metric)[0]
        order = np.lexsort((keys, -sc))[:k]
        return keys[order], sc[order]

    def __len__(self) -> int:
        if self._closed:
            return 0
        return int(self._call("count", self._collection().count))

    def fetch(self, ids: Any) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids`` (n, dim) float32 and a (n,) bool mask of which were found.

        ``ids`` may repeat (two queries sharing a hit): chroma refuses repeated ids, so each is
        asked for once and copied to every position holding it.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        col = self._collection()
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        found = np.zeros(len(ids), dtype=bool)
        where: dict[int, list[int]] = {}
        for i, k in enumerate(ids.tolist()):
            where.setdefault(int(k), []).append(i)
        sids = [str(k) for k in where]
        for s in range(0, len(sids), self._batch):
            got = self._call("fetch", col.get, ids=sids[s:s + self._batch], include=["embeddings"])
            for sid, emb in zip(got["ids"], got["embeddings"]):
                at = where[int(sid)]
                out[at] = np.asarray(emb, dtype=np.float32)
                found[at] = True
        return out, found

    def fetch_metadata(self, ids: Any) -> pd.DataFrame:
        """Metadata of ``ids``: one row per id, in order (missing values for unknown ids).

        Dates / datetimes come back as int nanoseconds since the epoch (UTC), as stored.
        """
        from vecnb.stores.base import records_frame

        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        col = self._collection()
        got_rows: dict[int, dict] = {}
        sids = [str(k) for k in dict.fromkeys(ids.tolist())]
        for s in range(0, len(sids), self._batch):
            got = self._call("fetch_metadata", col.get, ids=sids[s:s + self._batch], include=["metadatas"])
            for sid, meta in zip(got["ids"], got["metadatas"]):
                got_rows[int(sid)] = {k: v for k, v in (meta or {}).items() if not k.startswith(HAS_PREFIX)}
        return records_frame([got_rows.get(i) for i in ids.tolist()])

    def iter_ids(self, batch_size: int = 1000) -> Iterator[np.ndarray]:
        """Stored ids, ``batch_size`` at a time."""
        col = self._collection()
        offset = 0
        while True:
            got = self._call("iter_ids", col.get, include=[], limit=batch_size, offset=offset)
            if not got["ids"]:
                return
            yield np.array([int(x) for x in got["ids"]], dtype=np.int64)
            offset += len(got["ids"])

    def info(self) -> dict[str, Any]:
        """Chroma's HNSW parameters and where the data live."""
        return {"store": self.name, "kind": "hnsw", "metric": self.metric, "space": _SPACES[self.metric],
                "dim": self.dim, "rows": len(self), "exact": False, "path": self.path,
                "collection": self.collection_name,
                "params": {"ef_search": self.ef_search, "ef_construction": self.ef_construction,
                           "max_neighbors": self.max_neighbors}}

    def config(self) -> dict[str, Any]:
        """Constructor parameters that reopen this store (meaningful for ``path=`` stores)."""
        return {"dim": self.dim, "metric": self.metric, "path": self.path, "collection": self.collection_name,
                "ef_search": self.ef_search, "ef_construction": self.ef_construction,
                "max_neighbors": self.max_neighbors, "sync_threshold": self.sync_threshold}

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release the client; an in-memory collection is dropped. Further use raises StoreError."""
        if self._closed:
            return
        try:
            if self._client is not None:
                if not self.path:
                    try:
                        self._client.delete_collection(self.collection_name)
                    except Exception:  # noqa: BLE001, S110 - already gone
                        pass
                self._client.close()
        finally:
            self._client = self._col = None
            kept = self.__dict__.pop("_ledger_kept", None)
            if kept is not None:
                kept[2].close()
            super().close()
            if self._tmpdir:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None
            fin = getattr(self, "_tmp_finalizer", None)
            if fin is not None:
                fin.detach()

    # ------------------------------------------------------------------ index record (vecnb.index.home)
    @property
    def keeps_home(self) -> bool:
        """An index built on a ``path=`` collection keeps its record beside it (not a loaded temporary copy)."""
        return bool(self.path) and self._tmpdir is None

    def _ledger(self) -> Any:
        from vecnb.stores._ledger import FileLedger

        kept = self.__dict__.get("_ledger_kept")  # (path, collection name, ledger): its kept read connection
        if kept is not None and kept[0] == self.path and kept[1] == self.collection_name:
            return kept[2]
        if kept is not None:
            kept[2].close()
        tag = hashlib.blake2b(self.collection_name.encode(), digest_size=6).hexdigest()
        led = FileLedger(os.path.join(self.path, f"vecnb-home-{tag}.sqlite3"), self.name)
        self._ledger_kept = (self.path, self.collection_name, led)
        return led

    @classmethod
    def open_existing(cls, *, path: str | os.PathLike | None = None, collection: str | None = None,
                      **overrides: Any) -> ChromaStore | None:
        """The collection ``collection`` (default ``"vecnb"``) on ``path``, or None when there is none.

        Raises :class:`~vecnb.errors.IndexFormatError` for a collection vecnb did not create.
        """
        from vecnb.errors import IndexFormatError

        if path is None or not os.path.isdir(os.fspath(path)):
            return None
        name = collection or "vecnb"
        try:
            client = chromadb.PersistentClient(path=os.fspath(path), settings=_settings())
            cols = {getattr(c, "name", c): c for c in client.list_collections()}
            if name not in cols:
                return None
            meta = client.get_collection(name, embedding_function=None).metadata or {}
        except Exception as exc:  # noqa: BLE001 - chroma raises many types
            raise StoreError(f"could not read chroma folder {os.fspath(path)!r}: {exc}", store=cls.name,
                             operation="open") from exc
        if "vecnb_dim" not in meta or meta.get("vecnb_metric") not in _SPACES:
            raise IndexFormatError(f"chroma collection {name!r} at {os.fspath(path)!r} was not created by vecnb; "
                                   "choose another collection= name.")
        return cls(dim=int(meta["vecnb_dim"]), metric=meta["vecnb_metric"], path=path, collection=name, **overrides)

    def locator(self) -> dict[str, Any]:
        return {"path": self.path, "collection": self.collection_name}

    def home_read(self) -> list[tuple[int, bytes]]:
        return self._ledger().read()

    def home_reloaded(self) -> None:
        """Look the collection up by name again: a ``mode="replace"`` by another writer renamed a new one in.
        Looked up, never created: a reader in the moment between the old one's drop and the rename must not
        create an empty collection under the name (the rename would then fail)."""
        self._col = None
        self._lookup_only = True

    def home_version(self) -> int | None:
        """The index record's last sequence number (one local SQLite lookup; None: no record)."""
        return self._ledger().last()

    def home_append(self, seq: int, payload: bytes) -> None:
        self._ledger().append(seq, payload)

    def home_reset(self, payloads: list[bytes], fresh: bool = False) -> int:
        return self._ledger().reset(payloads, fresh, floor=getattr(self, "_home_floor", 0))

    def staging(self, *, dim: int, metric: str, kind: str, options: dict) -> ChromaStore:
        """An empty collection beside this one, to build a replacement (``mode="replace"``)."""
        opts = {**options, "collection": f"{self.collection_name[:40]}__new_{uuid.uuid4().hex[:8]}"}
        new = type(self)(dim=dim, metric=metric, kind=kind, **opts)
        last = self.home_version()  # the new record's numbers continue after the old one's (readers tell)
        new._home_floor = 0 if last is None else last + 1
        return new

    def discard(self) -> None:
        """Delete this (staging) collection and its record."""
        try:  # also after close(): a failed build closes its store
            client = chromadb.PersistentClient(path=self.path, settings=_settings())
            client.delete_collection(self.collection_name)
        except Exception:  # noqa: BLE001, S110 - best effort
            pass
        self._ledger().remove()

    def take_place_of(self, old: ChromaStore) -> None:
        """Drop ``old``'s collection and rename this one (and its record) to its name.

        Chroma cannot rename over an existing collection in one step: a reader opening the
        collection in between finds none for that moment (not a mix of the two).
        """
        self._collection()
        target, old_ledger = old.collection_name, old._ledger()
        old.close()
        try:
            self._client.delete_collection(target)
        except Exception:  # noqa: BLE001, S110 - already gone
            pass
        new_ledger = self._ledger()
        self._call("replace", self._col.modify, name=target)
        self.collection_name = target
        os.replace(new_ledger.path, old_ledger.path)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the store into folder ``path``, whole: saves to one folder take turns (see ``folder_lock``)."""
        with folder_lock(path):
            self._save_files(path)

    def _save_files(self, path: str | os.PathLike) -> None:
        """Write a persistent copy into folder ``path`` (``chroma/`` + ``store.json``)."""
        col = self._collection()
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
        target = os.path.join(path, "chroma")
        if os.path.exists(target):
            shutil.rmtree(target)
        # sync_threshold=2: the copy's graph is written to disk after every write, so every load
        # replays nothing and answers exactly like the copy did (chroma's HNSW build is not
        # deterministic: rows left in its log would be re-inserted differently at each load)
        copy = ChromaStore(dim=self.dim, metric=self.metric, path=target, collection="vecnb",
                           ef_search=self.ef_search, ef_construction=self.ef_construction,
                           max_neighbors=self.max_neighbors, sync_threshold=2)
        try:
            dst = copy._collection()
            offset = 0
            while True:
                got = self._call("save", col.get, include=["embeddings", "metadatas"], limit=self._batch,
                                 offset=offset)
                if not got["ids"]:
                    break
                metas = [m or None for m in got["metadatas"]]
                self._call("save", dst.add, ids=got["ids"], embeddings=np.asarray(got["embeddings"], np.float32),
                           metadatas=metas)
                offset += len(got["ids"])
        finally:
            copy.close()
        with open(os.path.join(path, "store.json"), "w", encoding="utf-8") as fh:
            json.dump({"format": _FORMAT, "version": _VERSION, "config": {**self.config(), "path": None,
                                                                          "collection": "vecnb",
                                                                          "sync_threshold": 2}}, fh)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ChromaStore:
        """Open a private copy of a store written by :meth:`save` (never while a save to the folder runs)."""
        with folder_lock(path, shared=True):
            return cls._load_files(path)

    @classmethod
    def _load_files(cls, path: str | os.PathLike) -> ChromaStore:
        """Open a private copy of a store written by :meth:`save` (the saved files stay unchanged)."""
        state = read_store_json(path, _FORMAT, _VERSION)
        src = os.path.join(os.fspath(path), "chroma")
        if not os.path.isdir(src):
            raise StoreError(f"{os.fspath(path)!r} has no chroma/ folder; the copy is incomplete.",
                             store=cls.name, operation="load")
        tmp = tempfile.mkdtemp(prefix="vecnb-chroma-")
        shutil.copytree(src, os.path.join(tmp, "chroma"))
        try:
            cfg = constructor_options(cls, state.get("config"), _CONFIG_KEYS, repr(os.fspath(path)))
            cfg.update(path=os.path.join(tmp, "chroma"), collection="vecnb")  # never a path from the file
            store = cls(**cfg)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        store._tmpdir = tmp
        # removed on close(), and also when the store is garbage-collected or the interpreter exits
        store._tmp_finalizer = weakref.finalize(store, shutil.rmtree, tmp, True)
        return store
