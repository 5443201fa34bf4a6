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
than ``k`` rows qualify, in ``(nq, w)`` arrays where ``w = k`` up to :data:`PAD_LIMIT` and
``w = min(k, len(store))`` beyond it (:meth:`BaseStore._width`): a huge ``k`` is clamped to the
rows stored before anything is allocated; scores follow vecnb's convention (higher is closer, see
:mod:`vecnb.metrics`). ``where`` is a parsed filter tree (:func:`vecnb.filters.parse`).

Optional capabilities are *declared*, scikit-learn-tags style: a store class lists what it
can do in ``capabilities`` (a frozenset of the names below) and vecnb asks :func:`supports`,
the one place that decides; a class that declares nothing (a third-party store) is judged
by the protocols themselves. Each name has a small :class:`typing.Protocol`:

==============  =========================================  ====================================
name            protocol (methods)                         used by
==============  =========================================  ====================================
``keyword``     :class:`KeywordSearch`                     ``idx.keyword`` / ``idx.hybrid``
                ``keyword(texts, k, where=None)``          (else in-process BM25)
                ``-> (ids, scores)``
``fetch``       :class:`Fetch` ``fetch(ids)``              MMR on an index, sync undo, migration
                ``-> (vectors, found_mask)``
``iter_ids``    :class:`IterIds`                           migration from a bare store
                ``iter_ids(batch_size) -> Iterator``
``texts``       :class:`FetchTexts`                        migration keeps the keyword side
                ``fetch_texts(ids) -> list[str | None]``
``metadata``    :class:`FetchMetadata`                     migration keeps ``where`` columns
                ``fetch_metadata(ids) -> DataFrame``
``persist``     :class:`Persist` ``save(path)``,           ``idx.save`` by value
                ``classmethod load(path)``
``config``      :class:`Configurable` ``config() -> dict`` ``idx.save`` by reference
``info``        :class:`Describe` ``info() -> dict``       ``idx.info()``, reprs
``build``       :class:`Build` ``build()``                 ``build_index`` builds ANN structures
                                                           over the written rows, once
``bulk_load``   :class:`BulkLoad` ``bulk_begin()``,        ``ddf.vec.to_store``: parallel
                ``load_block(..., block=)``,               writers, one key block each,
                ``bulk_end()``                             retried blocks replaced whole
``reference``   :class:`Reference` ``reference()``,        ``idx.save`` by reference (below)
                ``classmethod open_reference(**options)``
``home``        :class:`KeepsIndexRecord`                  ``vecnb.open_index``, ``mode=`` when
                ``open_existing`` / ``home_read`` /        building onto an existing index
                ``home_append`` / ``home_reset`` /         (see :mod:`vecnb.index.home`)
                ``staging`` / ``take_place_of`` /
                ``locator``
==============  =========================================  ====================================

The conformance suite (``tests/stores/conformance.py``) checks that a store's declaration
matches its methods and runs each capability's tests for the stores that declare it.

Save by reference (server stores): ``reference() -> dict`` and ``classmethod
open_reference(**options)``; the options are non-secret and non-destructive, limited to the
class's ``reference_options`` allow-list and never any of :data:`NEVER_FROM_FILE` (checked by
:func:`reference_config` when saving and again when loading).

``fetch_metadata`` returns one row per id in the order asked, missing values (and unknown ids)
as ``None`` / NaN. Date / datetime fields come back as int nanoseconds since the epoch (UTC)
from the stores that keep them so (sqlite, pgvector, chroma, elasticsearch); filters compare
them as instants either way (:func:`vecnb.filters.encode_frame`).

Constructors only store parameters; connections open on first use.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar, Iterator, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from vecnb._core.validation import duplicated_ints, positive_int
from vecnb.errors import DimensionMismatchError, DuplicateIdError, InvalidInputError, StoreError
from vecnb._core.filters import Node
from vecnb._core.metrics import as_matrix, check_k, check_vectors, checked_queries, resolve_metric

__all__ = ["CAPABILITIES", "VectorStore", "BaseStore", "KeywordSearch", "Fetch", "IterIds", "FetchTexts",
           "KeepsIndexRecord", "FetchMetadata", "Persist", "Configurable", "Reference", "Describe", "Build", "BulkLoad",
           "as_ids", "capabilities", "normalize_kind", "pad_results", "provided", "records_frame", "supports", "reference_config",
           "NEVER_FROM_FILE", "PAD_LIMIT"]

#: searches pad results to ``k`` columns up to this ``k``; a larger ``k`` is clamped to the rows
#: stored first (``k=10**9`` on 40 rows must not allocate (nq, 10**9) arrays)
PAD_LIMIT = 4096


def records_frame(records: list[dict | None]) -> pd.DataFrame:
    """One row per record (``None`` / ``{}``: a row of missing values), columns in first-seen order.

    Examples
    --------
    >>> vecnb.stores.base.records_frame([{"year": 1990}, {"year": 2001, "lang": "en"}])
       year lang
    0  1990  NaN
    1  2001   en
    """
    cols: dict[str, None] = {}
    for r in records:
        if r:
            cols.update(dict.fromkeys(r))
    data = {c: [r.get(c) if r else None for r in records] for c in cols}
    return pd.DataFrame({c: pd.Series(v, dtype=object).infer_objects() for c, v in data.items()},
                        index=pd.RangeIndex(len(records)))


_COSINE_SAFE = (2e-30, 5e29)  # half-way inside checked_queries' cosine bounds on the squared norm (1e-30, 1e30)


def _moderate_one(q: np.ndarray, metric: str) -> bool:
    """Whether one float32 query surely passes :func:`~vecnb._core.metrics.checked_queries` untouched,
    judged by its float32 squared norm (one BLAS dot, ~1 us hot where checked_queries' float64 einsum
    costs ~15-40 us once a search's own work has pushed it out of the CPU caches).

    The float32 sum is within ~1e-4 (relative) of the float64 one, or smaller when tiny squares
    underflow; a NaN / inf component makes it NaN / inf, a large one overflows to inf. So a finite
    sum means the float64 sum is finite, and a sum inside :data:`_COSINE_SAFE` (a factor two from
    the bounds) means the float64 one is inside checked_queries' bounds. Anything else (False)
    goes through checked_queries itself: the same query, the same errors.
    """
    s = float(np.vdot(q, q))  # vdot: no floating-point error check, so inf / NaN come back without a warning
    return moderate_sum(s, metric)


def moderate_sum(s: float, metric: str) -> bool:
    """:func:`_moderate_one` judged on a float32 squared norm ``s`` computed elsewhere (the faiss store
    sums once for this check and its normalisation)."""
    if metric == "cosine":
        return _COSINE_SAFE[0] <= s <= _COSINE_SAFE[1]
    return s < float("inf")  # NaN compares False


@runtime_checkable
class VectorStore(Protocol):
    """What vecnb needs from a backend.

    Examples
    --------
    Every backend, e.g. the in-process numpy store:

    >>> store = vecnb.stores.create("numpy", dim=2, metric="cosine")
    >>> store.upsert(np.array([10, 11, 12]), np.array([[1, 0], [0, 1], [1, 1]], np.float32))
    >>> ids, scores = store.search(np.array([[1.0, 0.2]], np.float32), k=2)
    >>> ids, scores.round(3)
    (array([[10, 12]]), array([[0.981, 0.832]]))
    >>> store.delete(np.array([10, 99]))
    >>> len(store)
    2
    >>> store.close()
    """

    name: ClassVar[str]
    dim: int
    metric: str

    def upsert(self, ids: np.ndarray, vectors: np.ndarray, metadata: pd.DataFrame | None = None,
               texts: list[str] | None = None) -> None:
        """Insert or replace ``ids`` (int64, n) with ``vectors`` (n, d) and optional metadata / texts."""

    def delete(self, ids: np.ndarray) -> None:
        """Remove ``ids``; ids the store does not hold are a no-op."""

    def search(self, vectors: np.ndarray, k: int, where: Node | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` per query row of ``vectors`` (nq, d): ``(ids, scores)``, both (nq, k), padded with -1 / -inf.

        Scores are higher-is-closer (cosine similarity, inner product, minus the L2 distance).
        """

    def __len__(self) -> int: ...

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards. Safe to call twice."""


@runtime_checkable
class KeywordSearch(Protocol):
    """``keyword``: BM25-style keyword search over the texts given to ``upsert``.

    Examples
    --------
    >>> store = vecnb.stores.create("sqlite", dim=2)
    >>> store.upsert(np.array([1, 2]), np.eye(2, dtype=np.float32), texts=["red apple pie", "green pear"])
    >>> isinstance(store, vecnb.stores.base.KeywordSearch)
    True
    >>> store.keyword(["apple"], k=2)[0]
    array([[ 1, -1]])
    """

    def keyword(self, texts: list[str], k: int, where: Node | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` keys per query text by keyword relevance: ``(ids, scores)``, (nq, k), padded like ``search``."""


@runtime_checkable
class Fetch(Protocol):
    """``fetch``: read stored vectors back, ``(vectors (n, d), found (n,) bool)``.

    Examples
    --------
    >>> store = vecnb.stores.create("numpy", dim=2)
    >>> store.upsert(np.array([1, 2]), np.array([[1, 0], [0, 1]], np.float32))
    >>> vectors, found = store.fetch(np.array([2, 7]))
    >>> vectors[found], found
    (array([[0., 1.]], dtype=float32), array([ True, False]))
    """

    def fetch(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stored vectors of ``ids``: ``(vectors (n, d) float32, found (n,) bool)``; rows not found are zeros."""


@runtime_checkable
class IterIds(Protocol):
    """``iter_ids``: stream every stored key in batches.

    Examples
    --------
    >>> store = vecnb.stores.create("numpy", dim=2)
    >>> store.upsert(np.arange(5), np.ones((5, 2), np.float32))
    >>> [batch.tolist() for batch in store.iter_ids(batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """

    def iter_ids(self, batch_size: int = 1000) -> Iterator[np.ndarray]:
        """Every stored key once, as int64 arrays of at most ``batch_size``."""


@runtime_checkable
class FetchTexts(Protocol):
    """``texts``: read the texts given to ``upsert`` back (None where there was none).

    Examples
    --------
    >>> store = vecnb.stores.create("numpy", dim=2)
    >>> store.upsert(np.array([1, 2]), np.ones((2, 2), np.float32), texts=["red apple", "pear"])
    >>> store.fetch_texts(np.array([2, 1, 9]))
    ['pear', 'red apple', None]
    """

    def fetch_texts(self, ids: np.ndarray) -> list[str | None]:
        """The text given to ``upsert`` for each id, in order (None: no text, or an unknown id)."""


@runtime_checkable
class FetchMetadata(Protocol):
    """``metadata``: read the metadata given to ``upsert`` back, one row per id.

    Examples
    --------
    >>> store = vecnb.stores.create("numpy", dim=2)
    >>> store.upsert(np.array([1, 2]), np.ones((2, 2), np.float32), metadata=pd.DataFrame({"year": [1990, 2001]}))
    >>> store.fetch_metadata(np.array([2, 1]))
       year
    0  2001
    1  1990
    """

    def fetch_metadata(self, ids: np.ndarray) -> pd.DataFrame:
        """One row of metadata per id, in order (missing values and unknown ids as None / NaN)."""


@runtime_checkable
class Persist(Protocol):
    """``persist``: an in-process store writes itself to a folder and reads itself back.

    Examples
    --------
    >>> store = vecnb.stores.create("numpy", dim=2)
    >>> store.upsert(np.array([1, 2]), np.ones((2, 2), np.float32))
    >>> _ = store.save("numpy_store")
    >>> len(type(store).load("numpy_store"))
    2
    """

    def save(self, path: Any) -> Any:
        """Write the store (vectors, keys, metadata, texts, settings) to the folder ``path``."""

    @classmethod
    def load(cls, path: Any) -> Any:
        """A store read back from what ``save`` wrote in ``path``."""


@runtime_checkable
class Configurable(Protocol):
    """``config``: the constructor arguments that reopen a server / file store (no secrets).

    Examples
    --------
    >>> store = vecnb.stores.create("chroma", dim=2, collection="fruit")
    >>> store.config()["collection"]
    'fruit'
    """

    def config(self) -> dict[str, Any]:
        """The constructor arguments that reopen this store (never a secret)."""


@runtime_checkable
class Describe(Protocol):
    """``info``: what the store chose (kind, parameters, sizes).

    Examples
    --------
    >>> store = vecnb.stores.create("numpy", dim=2)
    >>> store.info()
    {'store': 'numpy', 'kind': 'exact', 'metric': 'cosine', 'dim': 2, 'rows': 0, 'exact': True, 'params': {}, 'scores': 'exact', 'fetch': 'exact', 'memory_bytes': 0, 'memory_mapped': False}
    """

    def info(self) -> dict[str, Any]:
        """What the store chose and holds: ``store``, ``kind``, ``metric``, ``dim``, ``rows``, parameters, sizes."""


@runtime_checkable
class Build(Protocol):
    """``build``: build the ANN structures over the rows written so far (idempotent).

    Examples
    --------
    >>> store = vecnb.stores.create("faiss", dim=2, kind="hnsw")
    >>> store.upsert(np.arange(3), np.array([[1, 0], [0, 1], [1, 1]], np.float32))
    >>> _ = store.build()
    >>> store.search(np.array([[1.0, 0.0]], np.float32), k=1)[0]
    array([[0]])
    """

    def build(self) -> Any:
        """Build the ANN structures over the rows written so far (a no-op when they are current)."""


@runtime_checkable
class BulkLoad(Protocol):
    """``bulk_load``: several writers fill the store at once, each owning a block of keys.

    ``bulk_begin()`` once before the writers start (an empty target may defer what is cheaper to
    build once over all rows, such as keyword / metadata indexes; returns whether it did); each
    writer calls ``load_block(ids, vectors, metadata, texts, block=(lo, hi))``, which makes the
    rows keyed in ``[lo, hi)`` exactly the given ones, atomically -- so a retried or resumed block
    never doubles a row or leaves one of an earlier attempt; ``bulk_end()`` (also run by
    ``build()``) builds what was deferred. ``ddf.vec.to_store`` uses it when the store declares it.

    Examples
    --------
    >>> "bulk_load" in vecnb.stores.base.capabilities(vecnb.stores.get("pgvector"))
    True

    With a PostgreSQL server, what ``to_store`` does (each ``load_block`` on its own worker):

    >>> store = vecnb.stores.create("pgvector", dim=384, url=URL, table="big")   # doctest: +SKIP
    >>> store.bulk_begin()                                   # empty table: GIN indexes dropped  # doctest: +SKIP
    True
    >>> store.load_block(keys, X, meta, texts, block=(0, 2**32))                 # doctest: +SKIP
    >>> store.bulk_end()                                     # built once over all rows  # doctest: +SKIP
    True
    """

    def bulk_begin(self) -> bool:
        """Prepare an empty target for :meth:`load_block` writers; False (no change) when it holds rows."""

    def load_block(self, ids: Any, vectors: Any, metadata: Any = None, texts: Any = None, *,
                   block: Any = None, check: Any = None) -> None:
        """Make the rows keyed in ``block`` (``[lo, hi)``) exactly these, in one transaction; ``check()``,
        when given, runs before the commit and rolls the block back by raising."""

    def bulk_end(self) -> bool:
        """Build what :meth:`bulk_begin` deferred (a no-op when nothing is); whether it built anything."""


@runtime_checkable
class KeepsIndexRecord(Protocol):
    """``home``: the store keeps an index's record (labels, rows, model, ...) beside its vectors.

    ``open_existing(**options)`` binds to an existing target (or returns None); the ledger
    methods are described in :mod:`vecnb.index.home`; ``staging`` / ``take_place_of`` build a
    replacement beside the target and swap it in (``mode="replace"``): the staging store is filled
    inside its ``replacing()`` context and ``discard()``-ed when that fails (:class:`BaseStore`
    gives both as no-ops); ``locator()`` says where the target is, without secrets. Instances may still keep no record (``keeps_home`` False:
    a temporary file, an in-memory collection).

    Examples
    --------
    A sqlite file keeps its index's record beside the vectors, so ``vecnb.open_index`` reopens it:

    >>> df = pd.DataFrame({"text": ["red apple", "pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> idx = df.vec.index(store="sqlite", path="record.db")
    >>> idx.close()
    >>> cls = vecnb.stores.get("sqlite")
    >>> store = cls.open_existing(path="record.db")
    >>> store.locator()
    {'path': 'record.db'}
    >>> len(store.home_read()) > 0
    True
    >>> store.home_version() == store.home_read()[-1][0]   # the last sequence number: moves on every write
    True
    >>> store.home_reloaded(); store.watch_home()   # cache drop after another writer; sqlite checks for free
    False
    """

    @classmethod
    def open_existing(cls, **options: Any) -> Any:
        """A store bound to the existing target these options name, or None when there is none."""

    def home_read(self) -> list:
        """The index record's entries ``[(seq, payload bytes), ...]`` in order (see ``vecnb.index.home``)."""

    def home_append(self, seq: int, payload: bytes) -> None:
        """Append one record entry; refuses (``StoreError``) when ``seq`` is not the next number."""

    def home_reset(self, payloads: list, fresh: bool = False) -> int:
        """Replace the record by ``payloads`` (a compaction); returns the last sequence number."""

    def home_version(self) -> int | None:
        """The record's last sequence number now (None: no record); cheap, checked before an index answers.
        Numbers only grow on a target, also across compactions and ``mode="replace"``."""

    def staging(self, *, dim: int, metric: str, kind: str, options: dict) -> Any:
        """An empty store beside this one, to be filled and then ``take_place_of`` it."""

    def take_place_of(self, old: Any) -> None:
        """Become ``old``'s target (table / file / collection) atomically; ``old`` is dropped."""

    def locator(self) -> dict[str, Any]:
        """Where the target is (``{"path": ...}``, ``{"table": ...}``), without secrets."""


@runtime_checkable
class Reference(Protocol):
    """``reference``: save by reference (server stores): ``reference()`` -> non-secret options within
    ``reference_options``; ``open_reference(**options)`` reopens without creating or dropping anything."""

    def reference(self) -> dict[str, Any]:
        """The non-secret options (within ``reference_options``) that reopen this store by reference."""

    def open_reference(self, **options: Any) -> Any:
        """Reopen the store ``reference()`` described, creating and dropping nothing."""


#: capability name -> the protocol a store of that capability satisfies
CAPABILITIES: dict[str, type] = {
    "keyword": KeywordSearch, "fetch": Fetch, "iter_ids": IterIds, "texts": FetchTexts,
    "metadata": FetchMetadata, "persist": Persist, "config": Configurable, "info": Describe, "build": Build,
    "bulk_load": BulkLoad, "reference": Reference, "home": KeepsIndexRecord,
}


def provided(store: Any) -> frozenset[str]:
    """The capabilities whose protocol methods ``store`` (an instance or a class) has, declared or not.

    Examples
    --------
    >>> sorted(vecnb.stores.base.provided(vecnb.stores.get("numpy")))
    ['fetch', 'info', 'iter_ids', 'metadata', 'persist', 'texts']
    """
    def has(proto: type) -> bool:
        methods = [m for m in vars(proto) if not m.startswith("_")]
        return all(callable(getattr(store, m, None)) for m in methods)

    return frozenset(name for name, proto in CAPABILITIES.items() if has(proto))


def capabilities(store: Any) -> frozenset[str]:
    """What ``store`` can do beyond the core protocol: its declared ``capabilities``, or, for a
    class that declares none, those whose protocol it satisfies (:func:`provided`).

    Examples
    --------
    >>> sorted(vecnb.stores.base.capabilities(vecnb.stores.get("sqlite")))
    ['fetch', 'home', 'info', 'iter_ids', 'keyword', 'metadata', 'persist', 'texts']
    """
    declared = getattr(store, "capabilities", None)
    if declared is not None:
        return frozenset(declared)
    return provided(store)


def supports(store: Any, capability: str) -> bool:
    """Whether ``store`` can do ``capability`` (a name in :data:`CAPABILITIES`): the one check vecnb makes.

    Examples
    --------
    >>> vecnb.stores.base.supports(vecnb.stores.get("numpy"), "keyword")
    False
    >>> vecnb.stores.base.supports(vecnb.stores.get("sqlite"), "keyword")
    True
    """
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown store capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    return capability in capabilities(store)


#: store options never taken from a saved file: they destroy data (recreate / mode / drop), point a
#: store somewhere else (url / path / hosts) or are secrets; they always come from the caller
NEVER_FROM_FILE = frozenset({
    "recreate", "mode", "drop", "overwrite", "url", "conn", "connection", "client", "hosts", "path",
    "password", "api_key", "basic_auth", "bearer_auth", "storage_options",
})


def reference_config(cls: type, cfg: Any, *, where: str = "the saved index") -> dict:
    """Options to reopen a server store by reference, checked against ``cls.reference_options``.

    Used both when saving (what may be written) and when loading (what may be read back).

    Raises
    ------
    IndexFormatError
        An option outside the allow-list, or one of :data:`NEVER_FROM_FILE`.

    Examples
    --------
    >>> cls = vecnb.stores.get("pgvector")
    >>> vecnb.stores.base.reference_config(cls, {"table": "cisi", "url": "postgresql://x"})
    Traceback (most recent call last):
    ...
    vecnb.errors.IndexFormatError: the saved index: the saved options of store 'pgvector' name ['url'], ...
    """
    from vecnb.stores._persist import constructor_options

    allowed = frozenset(getattr(cls, "reference_options", ())) - NEVER_FROM_FILE
    return constructor_options(cls, cfg, allowed, where)


def normalize_kind(kind: Any) -> Any:
    """An index kind as stores name it: case and surrounding spaces do not matter (``"HNSW"`` is ``"hnsw"``),
    like metric and fusion names.

    Examples
    --------
    >>> vecnb.stores.base.normalize_kind(" HNSW "), vecnb.stores.base.normalize_kind(None)
    ('hnsw', None)
    """
    return kind.strip().lower() if isinstance(kind, str) else kind


def as_ids(ids: Any, *, what: str = "ids") -> np.ndarray:
    """Validate keys: a 1-D int64 array without duplicates.

    Examples
    --------
    >>> vecnb.stores.base.as_ids([3, 1, 2])
    array([3, 1, 2])
    >>> vecnb.stores.base.as_ids([1, 1])
    Traceback (most recent call last):
    ...
    vecnb.errors.DuplicateIdError: 1 id(s) appear more than once in one write (e.g. [1]); each row must ...
    """
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise InvalidInputError(f"{what} must be 1-D, got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(f"{what} must be integer keys, got dtype {arr.dtype}.")
    if arr.size and arr.dtype.kind == "u" and int(arr.max()) > np.iinfo(np.int64).max:
        raise InvalidInputError(f"{what} must fit in int64; got {int(arr.max())}.")
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        low = int(arr.min())
        if low < 0:  # searches pad their answers with -1: a negative key could not be told from "no hit"
            raise InvalidInputError(
                f"{what} must be >= 0, got {low} (search results mark 'no hit' with -1, and the faiss store "
                "reads negative keys as deleted); map your ids to non-negative integers."
            )
        dup = duplicated_ints(arr)
        if len(dup):
            raise DuplicateIdError(
                f"{len(dup)} id(s) appear more than once in one write (e.g. {dup[:5].tolist()}); "
                "each row must have a unique id (check df.index.is_unique)."
            )
    return arr


def pad_results(ids_rows: list, score_rows: list, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-query lists into (nq, k) arrays padded with -1 / -inf.

    Examples
    --------
    >>> ids, scores = vecnb.stores.base.pad_results([[7, 3], [5]], [[0.9, 0.5], [0.8]], k=3)
    >>> ids
    array([[ 7,  3, -1],
           [ 5, -1, -1]])
    >>> scores
    array([[ 0.9,  0.5, -inf],
           [ 0.8, -inf, -inf]])
    """
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

    Examples
    --------
    Subclass it for a new backend: it validates ids, vectors and queries and tracks open / closed:

    >>> store = vecnb.stores.create("numpy", dim=2)
    >>> isinstance(store, vecnb.stores.BaseStore)
    True
    >>> with store.replacing():
    ...     store.upsert(np.array([1]), np.ones((1, 2), np.float32))
    >>> store.discard()
    >>> store.close()
    >>> store.upsert(np.array([2]), np.ones((1, 2), np.float32))
    Traceback (most recent call last):
    ...
    vecnb.errors.StoreError: [numpy.use] the store is closed; create a new one
    """

    name: ClassVar[str] = "base"
    kinds: ClassVar[tuple[str, ...]] = ("exact",)
    #: what the store can do beyond the core protocol (names of ``vecnb.stores.base.CAPABILITIES``); None: judge by
    #: its methods
    capabilities: ClassVar[frozenset[str] | None] = None

    def __init__(self, *, dim: int, metric: str = "cosine", kind: str = "auto"):
        self.dim = positive_int(dim, "dim")
        self.metric = resolve_metric(metric)
        kind = normalize_kind(kind)
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
        # NaN / inf / zero rows refused; cosine: every backend gets the same unit query, normalised in
        # float64 (a query with components of 1e30 overflows float32 arithmetic and ranked differently
        # per store), and a moderate query passes through untouched
        return self._checked_rows(self._query_rows(vectors, k))

    def _checked_rows(self, q: np.ndarray) -> np.ndarray:
        """:meth:`_query_rows`' matrix with its values checked (see :meth:`_check_queries`)."""
        if len(q) == 1 and _moderate_one(q[0], self.metric):
            return q
        return checked_queries(q, self.metric, what="query vectors")

    def _query_rows(self, vectors: Any, k: int) -> np.ndarray:
        """The queries as a float32 (nq, dim) matrix, the store open and ``k`` valid; values not
        checked yet (:meth:`_check_queries` does both)."""
        self._check_open()
        check_k(k)
        q = as_matrix(vectors, what="query vectors")
        if q.shape[1] != self.dim:
            raise DimensionMismatchError(
                f"Query vectors are {q.shape[1]}-d but store {self.name!r} holds {self.dim}-d vectors. "
                "Embed queries with the model the store was built with."
            )
        return q

    def _width(self, k: int, rows: int | None = None) -> int:
        """Columns of a search / keyword result: ``k``, or ``min(k, rows stored)`` beyond :data:`PAD_LIMIT`.

        ``rows`` saves a ``len(self)`` call (a round trip on server stores) when it is known.
        """
        k = check_k(k)
        if k <= PAD_LIMIT:
            return k
        return min(k, len(self) if rows is None else int(rows))

    # -- lifecycle ---------------------------------------------------------------
    def close(self) -> None:
        """Release resources; further use raises :class:`StoreError`."""
        self._closed = True

    @contextlib.contextmanager
    def replacing(self) -> Iterator[None]:
        """The context a staging store (``KeepsIndexRecord.staging``) is filled in before it takes
        its target's place (sqlite: one write transaction); by default nothing to hold."""
        yield

    def discard(self) -> None:
        """Drop what this staging store created, after a failed replace; by default nothing to drop."""

    def home_reloaded(self) -> None:
        """Forget what the store cached about its target: an index reloaded the record because another
        writer changed (or replaced) it. By default nothing is cached.

        Examples
        --------
        >>> vecnb.stores.create("numpy", dim=2).home_reloaded() is None
        True
        """

    def watch_home(self) -> bool:
        """Whether ``search`` reports the record's last sequence number itself (``home_seen``, read in
        the search's own statement: pgvector); an index holding the record calls it. By default False.

        Examples
        --------
        >>> vecnb.stores.create("sqlite", dim=2).watch_home()   # sqlite checks PRAGMA data_version instead
        False
        """
        return False

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self)} vectors"
        return f"<{type(self).__name__} {self.name} kind={self.kind} metric={self.metric} dim={self.dim} {state}>"
