"""``VectorIndex``: a DataFrame's embedding column held in a store, searchable by label.

An index maps the frame's index labels to int64 *keys* (the only ids a store sees, see
:mod:`vecnb.stores.base`), keeps the frame's rows (without the embedding column) to build
result frames, remembers the column's model so ``idx.search("text")`` embeds the query with
the model that made the vectors, and passes the frame's scalar columns to the store as
metadata for ``where`` filters::

    idx = df.vec.index(store="faiss", kind="hnsw", metric="cosine")
    idx.search("query", k=10, where={"year": {"$gte": 1990}}, threshold=0.2)
    idx.upsert(new_rows); idx.delete([label1, label2]); len(idx)
    idx.sync(df2)                                   # fewest writes to make the store equal df2
    idx.save("indexes/cisi"); idx2 = vecnb.load_index("indexes/cisi")   # or any fsspec URL

Keys are handed out sequentially and never reused; ``idx.keys_for(labels)`` and
``idx.labels_for(keys)`` translate. Metadata are the columns whose values are str, int,
float or bool (other columns are kept in results but cannot be filtered on).

Saved layout (``save`` / :func:`load_index`, any fsspec URL, no pickle), written through the
one save path, :func:`vecnb.storage.write_folder`::

    <root>/vecnb-index.json           manifest, written LAST: the index's settings ("meta") and
                                      every file below with its size and SHA-256
    <root>/v-<time>-<random>/frame.arrow     the rows held (index labels kept; Arrow IPC, read without
                                      decoding, memory-mapped by ``load_index(mmap=True)``;
                                      format 2 saves hold frame.parquet and still load)
    <root>/v-<time>-<random>/keys.npy        int64 key of each row; row_hash.npy (for sync)
    <root>/v-<time>-<random>/store/          the store's own files (store.save / Store.load)
    <root>/.vecnb.lock                 the save lock of a local folder

A save writes a fresh version folder and only then replaces the manifest (an atomic rename
locally, a single PUT on object stores), so a crash mid-save leaves the previous copy
loadable; concurrent saves to one local folder take turns on the lock. Loading checks every
file against its SHA-256 (``verify=False`` skips it), reads nothing outside the folder, and
checks the manifest's settings against the data. Stores that live on a server (no ``save``)
are saved by reference when they provide ``reference()`` (non-secret, non-destructive options,
checked against the store's allow-list) and reopened with ``Store.open_reference(**options)``.

Optional store hooks the index uses when present: ``build()`` (called once after
:func:`build_index` wrote the rows, so lazily built indexes are ready before the first
search), ``save(folder)`` / ``load(folder)``, ``reference()`` / ``open_reference(**options)`` and
``info()``.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import shutil
import threading
import time
import warnings
from typing import Any, Iterator

import numpy as np
import pandas as pd

from vecnb._core import filters, metrics, storage
from vecnb._core.arrow import column_matrix, is_vector_dtype
from vecnb._core.html import kv_table
from vecnb._core.memory import release_free_memory
from vecnb._core.progress import progress_bar
from vecnb._core.threads import Beside
from vecnb._core.ties import top_by_position
from vecnb._core.validation import duplicated_ints
from vecnb._core.validation import json_default_str as _json_default
from vecnb.frame.columns import get_info, resolve_column
from vecnb.errors import (
    ColumnNotFoundError,
    DimensionMismatchError,
    DuplicateIdError,
    FilterError,
    IndexFormatError,
    InvalidInputError,
    ModelMismatchError,
    StoreBusyError,
    StoreError,
)
from vecnb.search.inputs import check_k, check_threshold, query_matrix
from vecnb.frame.results import build_hits
from vecnb.stores._persist import check_format, load_npy, read_frame, write_frame
from vecnb.stores.base import normalize_kind, supports

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "VectorIndex", "build_index", "load_index", "open_index",
           "swap_index"]

FORMAT = "vecnb-index"
FORMAT_VERSION = 3  # 3: rows in frame.arrow (Arrow IPC); 2: frame.parquet (still loads); 2: one save path (vecnb.storage)
_READS_VERSIONS = (2, 3)
_FRAME_FILE = {2: "frame.parquet", 3: "frame.arrow"}
MANIFEST = "vecnb-index.json"

_WRITE_BATCH = 10_000  # rows per store write when showing progress
_BESIDE_ROWS = 5_000  # writes from this size hash and encode their record in a thread beside the store write

# a random odd multiplier per 32-bit word position for the vector hash (fixed seed: stable across runs)
_HASH_MULT: dict[int, np.ndarray] = {}


# --------------------------------------------------------------------------------- helpers
def _vector_hash(X: np.ndarray) -> np.ndarray:
    """64-bit hash (n,) uint64 of each row's bytes (a multilinear hash; wraps modulo 2**64).

    Works through blocks of rows: the uint64 widening of a whole matrix would be a transient
    twice the size of the vectors themselves.
    """
    X = np.asarray(X)
    d = X.shape[1]
    mult = _HASH_MULT.get(d)
    if mult is None:
        rng = np.random.default_rng(0x5EC7)
        mult = rng.integers(1, 2**63, size=d, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        _HASH_MULT[d] = mult
    out = np.empty(len(X), dtype=np.uint64)
    step = max(1, (8 << 20) // max(1, 8 * d))  # ~8 MB of uint64 words per block
    with np.errstate(over="ignore"):
        for s in range(0, len(X), step):
            words = np.ascontiguousarray(X[s: s + step], dtype=np.float32).view(np.uint32).astype(np.uint64)
            out[s: s + step] = words @ mult
    return out


def _column_hash(s: pd.Series) -> np.ndarray:
    dt = s.dtype
    if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt) and not pd.api.types.is_complex_dtype(dt):
        # hash numbers by value, not dtype: a concat that adds rows with missing values turns int64 into
        # float64 (1 -> 1.0), which must not make every row look changed to sync()
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        if not (np.abs(v[np.isfinite(v)]) >= 2.0**53).any():  # exact as float64
            s = pd.Series(v)
    try:
        return pd.util.hash_pandas_object(s, index=False).to_numpy(dtype=np.uint64)
    except (TypeError, ValueError):
        return pd.util.hash_pandas_object(s.astype(str), index=False).to_numpy(dtype=np.uint64)


def _row_hash(rows: pd.DataFrame, X: np.ndarray) -> np.ndarray:
    """Hash (n,) uint64 of each row's vector and every other column's value."""
    h = _vector_hash(X)
    with np.errstate(over="ignore"):
        for c in sorted(rows.columns, key=str):
            h = h * np.uint64(0x100000001B3) ^ _column_hash(rows[c])
            # blake2b, not hash(): str hashes are salted per process, and row hashes are saved with the index
            h ^= np.uint64(int.from_bytes(hashlib.blake2b(str(c).encode(), digest_size=4).digest(), "little"))
    return h


def _is_scalar_column(s: pd.Series) -> bool:
    """Whether a column holds values a filter can compare (str, int, float, bool, date / datetime)."""
    dt = s.dtype
    if is_vector_dtype(dt):
        return False
    if pd.api.types.is_bool_dtype(dt) or pd.api.types.is_string_dtype(dt) and dt != object:
        return True
    if pd.api.types.is_datetime64_any_dtype(dt):
        return True
    if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_complex_dtype(dt):
        return True
    if isinstance(dt, pd.CategoricalDtype):
        return pd.api.types.infer_dtype(dt.categories, skipna=True) in ("string", "integer", "floating", "boolean")
    if dt == object:
        return pd.api.types.infer_dtype(s, skipna=True) in (
            "string", "integer", "floating", "boolean", "mixed-integer-float", "empty", "date", "datetime")
    return False


def _check_stored(node: Any, frame: pd.DataFrame) -> None:
    """Refuse a filter on a column the index keeps in its rows but not beside the vectors (mixed
    kinds of values, lists, objects): the store cannot evaluate it and would match no row, where
    ``df.vec.search`` compares the values (``{"mixed": 1}``: 20 rows on the frame, 0 on the index)."""
    if node is None:
        return
    bad = [f for f in sorted(filters.fields(node)) if f in frame.columns and isinstance(frame[f], pd.Series)
           and frame[f].dtype == object and not _is_scalar_column(frame[f])]
    if bad:
        kinds = ", ".join(f"{f!r} ({pd.api.types.infer_dtype(frame[f], skipna=True)})" for f in bad)
        raise FilterError(
            f"where: column(s) {kinds} hold values of several kinds / lists / objects, which an index does not "
            "store beside the vectors, so it cannot filter on them. Filter the DataFrame (df.vec.search), or make "
            "the column one kind (e.g. df[col].astype(str)) and rebuild the index.")


def _metadata(rows: pd.DataFrame) -> pd.DataFrame | None:
    """The scalar columns of ``rows`` (categoricals as plain values), or ``None`` when there are none."""
    cols = [c for c in rows.columns if isinstance(c, str) and _is_scalar_column(rows[c])]
    if not cols:
        return None
    meta = rows[cols].reset_index(drop=True)
    for c in cols:
        if isinstance(meta[c].dtype, pd.CategoricalDtype):
            meta[c] = meta[c].astype(object).where(meta[c].notna(), None)
    meta.attrs = {}
    return meta


def _as_labels(labels: Any) -> list:
    if isinstance(labels, (pd.Index, pd.Series, np.ndarray, list, tuple, set)):
        return list(labels)
    return [labels]


# --------------------------------------------------------------------------------- the index
class VectorIndex:
    """An embedding column held in a store, searchable with the DataFrame's labels.

    Build one with ``df.vec.index(...)`` / :func:`build_index`, or :func:`load_index`.

    Attributes
    ----------
    store : store object
        The backend (see :mod:`vecnb.stores`); sees int64 keys only.
    column : str
        The embedding column the vectors came from (upserts must carry it).
    metric : str
        ``"cosine"``, ``"dot"`` or ``"l2"``; scores follow vecnb's convention.
    text : str or None
        The text column passed to the store for keyword search, if any.
    dim : int
        Vector width.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"], "year": [1990, 2001, 2010]},
    ...                   index=["a", "b", "c"])
    >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(store="numpy", text="text")
    >>> idx
    <VectorIndex numpy kind=auto->exact metric=cosine model=hashing dim=512 rows=3>
    >>> idx.search("apple", k=2, where={"year": {"$gte": 2000}})[["text", "score", "rank"]]
                  text     score  rank
    c    apple crumble  0.707107     1
    b  green pear tart  0.000000     2
    >>> idx.keyword("pear", k=1).index.tolist(), idx.frame.shape, idx.info_column["dim"]
    (['b'], (3, 2), 512)
    >>> idx.info()["rows"], idx.dim, idx.metric
    (3, 512, 'cosine')
    >>> idx.close()
    """

    def __init__(self, store: Any, *, column: str, info: dict[str, Any] | None = None, text: str | None = None,
                 kind: str = "auto", store_name: str | None = None):
        self.store = store
        self.column = column
        self.metric = store.metric
        self.dim = int(store.dim)
        self.text = text
        self.kind = kind
        self.store_name = store_name or getattr(store, "name", type(store).__name__)
        info = dict(info or {})
        info.pop("hashes", None)
        info.setdefault("dim", self.dim)
        self._info = info
        self._frame = pd.DataFrame()
        self._keys = np.empty(0, dtype=np.int64)         # key of each held row
        self._row_hash = np.empty(0, dtype=np.uint64)    # content hash of each held row
        self._pos_of_key = np.empty(0, dtype=np.int64)   # dense key -> row position (-1: none)
        self._sorted_keys: np.ndarray | None = None      # or, for sparse keys: sorted keys + their positions
        self._sorted_pos: np.ndarray | None = None
        self._next_key = 0
        self._tmpdirs: list[str] = []
        self._closed = False
        self._home: Any = None  # the index record kept beside the vectors (vecnb.index.home), for durable stores
        self._checking: int | None = None  # thread inside an operation that checked the record (see _checked)

    @classmethod
    def empty(cls, store: Any = "numpy", *, dim: int, metric: str = "cosine", kind: str = "auto",
              model: Any = None, column: str = "embedding", text: str | None = "text",
              mode: str = "error", **options: Any) -> VectorIndex:
        """A new index holding no rows yet, over ``store``, for ``dim``-d vectors.

        For filling from elsewhere (``idx.upsert(rows)``, or a LangChain / LlamaIndex adapter's
        ``add_documents``) rather than from a DataFrame.

        Parameters
        ----------
        store : str or store object
            A registered store name or an empty store instance (as for :func:`build_index`).
        dim : int
            Vector width.
        metric : {"cosine", "dot", "l2"}
        kind : str
            The store's index kind.
        model : str, dict or Embedder, optional
            The vecnb embedder the vectors will come from (recorded, so text queries embed
            with it); ``None`` when vectors come from elsewhere (search with vectors).
        column : str
            Name of the embedding column rows written later must carry.
        text : str or None
            Text column handed to the store for keyword search (``None``: none).
        mode, **options
            As for :func:`build_index` (e.g. ``url=``, ``table=`` for pgvector, ``path=`` for sqlite).

        Examples
        --------
        >>> idx = vecnb.VectorIndex.empty("numpy", dim=3)
        >>> len(idx), idx.dim, idx.metric
        (0, 3, 'cosine')
        >>> rows = pd.DataFrame({"text": ["a", "b"]}, index=["x", "y"]).vec.attach(np.eye(2, 3), name="embedding")
        >>> idx.upsert(rows).search(np.array([0.0, 1.0, 0.0]), k=1).index.tolist()
        ['y']
        """
        from vecnb._core.arrow import vector_array
        from vecnb._core.validation import positive_int
        from vecnb.frame.columns import ColumnInfo, set_info

        dim = positive_int(dim, "dim")
        if not isinstance(column, str) or (text is not None and (not isinstance(text, str) or text == column)):
            raise InvalidInputError(f"column and text must be two different column names, got {column!r} and {text!r}.")
        info = ColumnInfo(dim=dim, source=text)
        if model is not None:
            from vecnb.embed import get_embedder
            from vecnb.search.inputs import remember_embedder

            emb = get_embedder(model)
            if emb.dim is not None and emb.dim != dim:
                raise DimensionMismatchError(f"model {emb.model_id!r} makes {emb.dim}-d vectors, not dim={dim}.")
            remember_embedder(emb)
            info.with_model(emb)
        df = pd.DataFrame({} if text is None else {text: pd.Series([], dtype=object)})
        df[column] = vector_array(np.empty((0, dim), dtype=np.float32))
        set_info(df, column, info)
        return build_index(df, store, kind=kind, metric=metric, column=column, text=text, progress=False,
                           mode=mode, **options)

    # ------------------------------------------------------------------ hand-off to application frameworks
    def as_langchain(self, embeddings: Any = None) -> Any:
        """This index as a LangChain ``VectorStore`` (``pip install "vecnb[langchain]"``).

        Reads and writes go through this index (see :mod:`vecnb.integrations.langchain`);
        ``embeddings`` (a LangChain ``Embeddings``) defaults to the index's own vecnb model.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart"]})
        >>> store = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text").as_langchain()
        >>> [d.page_content for d in store.similarity_search("pear", k=1)]
        ['green pear tart']
        """
        from vecnb._core.lazy import load

        return load("vecnb.integrations.langchain:VecnbVectorStore")(self, embeddings=embeddings)

    def as_retriever(self, query: Any = None, embeddings: Any = None, **options: Any) -> Any:
        """A LangChain ``BaseRetriever`` running the vecnb ``query`` (a :class:`vecnb.Query`) for each
        question (see :class:`vecnb.integrations.langchain.VecnbRetriever`).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart"]})
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text")
        >>> [d.page_content for d in idx.as_retriever(k=1).invoke("apple")]
        ['red apple pie']
        """
        from vecnb._core.lazy import load

        return load("vecnb.integrations.langchain:VecnbRetriever").over(self, query=query, embeddings=embeddings,
                                                                          **options)

    def as_llamaindex(self, embed_model: Any = None) -> Any:
        """This index as a LlamaIndex ``BasePydanticVectorStore`` (``pip install "vecnb[llamaindex]"``;
        see :mod:`vecnb.integrations.llamaindex`).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart"]})
        >>> store = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text").as_llamaindex()
        >>> [n.get_content() for n in store.get_nodes()]
        ['red apple pie', 'green pear tart']
        """
        from vecnb._core.lazy import load

        return load("vecnb.integrations.llamaindex:VecnbLlamaStore").over(self, embed_model=embed_model)

    # ------------------------------------------------------------------ mapping
    @property
    def frame(self) -> pd.DataFrame:
        """The rows the index holds (without the embedding column), in the index's order."""
        self._refresh()
        return self._frame.copy(deep=False)

    @property
    def info_column(self) -> dict[str, Any]:
        """What the index knows about the embedding column (model, model_id, dim, source)."""
        return dict(self._info)

    def keys_for(self, labels: Any) -> np.ndarray:
        """Store keys (n,) int64 of ``labels`` (-1 for labels the index does not hold).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index()
        >>> idx.keys_for(["b", "zzz"])
        array([ 1, -1])
        """
        labs = _as_labels(labels)
        if not len(self._frame) or not labs:
            return np.full(len(labs), -1, dtype=np.int64)
        pos = self._frame.index.get_indexer(pd.Index(labs, tupleize_cols=False))
        out = np.full(len(labs), -1, dtype=np.int64)
        ok = pos >= 0
        out[ok] = self._keys[pos[ok]]
        return out

    def positions_for(self, keys: np.ndarray) -> np.ndarray:
        """Row positions (same shape as ``keys``) into :attr:`frame` of store keys (-1: unknown / padding).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index()
        >>> idx.positions_for(idx.keys_for(["b", "a"]))
        array([1, 0])
        """
        keys = np.asarray(keys, dtype=np.int64)
        pk = self._pos_of_key
        if self._sorted_keys is None and keys.size:
            # a search's few keys: their range from a Python list (two numpy reductions cost ~10 us once
            # a search has gone through the CPU caches); many keys: numpy's reductions
            few = keys.ravel().tolist() if keys.size <= 256 else None
            lo, hi = (min(few), max(few)) if few is not None else (keys.min(), keys.max())
            if 0 <= lo and hi < len(pk):
                return pk[keys]  # every key in the dense table (the usual answer to a search): one gather
        out = np.full(keys.shape, -1, dtype=np.int64)
        if self._sorted_keys is not None:  # sparse keys: binary search instead of a dense table
            sk, sp = self._sorted_keys, self._sorted_pos
            at = np.minimum(np.searchsorted(sk, keys), max(len(sk) - 1, 0))
            hit = (keys >= 0) & (len(sk) > 0) & (sk[at] == keys) if len(sk) else np.zeros(keys.shape, bool)
            out[hit] = sp[at[hit]]
            return out
        ok = (keys >= 0) & (keys < len(pk))
        out[ok] = pk[keys[ok]]
        return out

    def labels_for(self, keys: Any) -> pd.Index:
        """Index labels of store ``keys`` (1-D); raises ``KeyError`` for keys the index does not hold.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index()
        >>> list(idx.labels_for(idx.keys_for(["b", "a"])))
        ['b', 'a']
        """
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        pos = self.positions_for(keys)
        if (pos < 0).any():
            raise KeyError(f"keys {keys[pos < 0][:5].tolist()} are not in this index")
        return self._frame.index[pos]

    def _set_rows(self, frame: pd.DataFrame, keys: np.ndarray, row_hash: np.ndarray) -> None:
        frame = frame.copy(deep=False)
        frame.attrs = {}  # attrs are deep-copied by every take(): keep results cheap
        self._frame = frame
        self._keys = keys
        self._row_hash = row_hash
        top = int(keys.max()) + 1 if len(keys) else 0
        if top <= 4 * len(keys) + 4096:  # dense key -> position table (the usual case)
            pk = np.full(top, -1, dtype=np.int64)
            pk[keys] = np.arange(len(keys), dtype=np.int64)
            self._pos_of_key, self._sorted_keys, self._sorted_pos = pk, None, None
        else:  # keys spread far apart (heavy churn): memory stays proportional to the rows held
            order = np.argsort(keys, kind="stable")
            self._pos_of_key = np.empty(0, dtype=np.int64)
            self._sorted_keys, self._sorted_pos = keys[order], order.astype(np.int64)

    # ------------------------------------------------------------------ checks
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the index is closed; load or build it again", store=self.store_name, operation="use")

    def _split(self, df: pd.DataFrame, what: str) -> tuple[pd.DataFrame, np.ndarray]:
        """Validate a frame to write; return (rows without the embedding column, vectors)."""
        if not isinstance(df, pd.DataFrame):
            raise InvalidInputError(f"{what} takes a DataFrame with column {self.column!r}, got {type(df).__name__}.")
        if self.column not in df.columns:
            raise ColumnNotFoundError(
                f"{what}: the rows have no embedding column {self.column!r} (columns: {list(df.columns)[:20]}). "
                f"Embed them first with df.vec.embed(...) using the index's model."
            )
        if not df.index.is_unique:
            dup = df.index[df.index.duplicated()].unique()[:5].tolist()
            raise DuplicateIdError(
                f"{what}: the DataFrame's index has duplicate labels (e.g. {dup}); the index identifies rows by "
                "label, so labels must be unique (df.reset_index() or df[~df.index.duplicated()])."
            )
        other = get_info(df, self.column)
        want, got = self._info.get("model_id"), other.get("model_id")
        if want and got and want != got:
            raise ModelMismatchError(
                f"{what}: the rows were embedded with {got!r} but the index holds vectors from {want!r}. "
                "Re-embed them with the index's model, or build a new index."
            )
        X = column_matrix(df[self.column], name=self.column) if len(df) else np.empty((0, self.dim), np.float32)
        if len(df) and X.shape[1] != self.dim:
            raise DimensionMismatchError(
                f"{what}: column {self.column!r} holds {X.shape[1]}-d vectors but the index holds {self.dim}-d ones. "
                "Embed with the index's model."
            )
        # not through the norm cache: it would hold the frame's column after the user drops the frame
        metrics.check_matrix(X, self.metric, what=f"vectors in column {self.column!r}", cache=False)
        rows = df.drop(columns=[self.column])
        return rows, X

    def _texts(self, rows: pd.DataFrame) -> list[str] | None:
        if self.text is None:
            return None
        if self.text not in rows.columns:
            raise ColumnNotFoundError(f"The rows have no text column {self.text!r}, which this index was built with.")
        return rows[self.text].fillna("").astype(str).tolist()

    # ------------------------------------------------------------------ writes
    def _write(self, rows: pd.DataFrame, X: np.ndarray, *, progress: bool | None = None) -> None:
        """Insert / replace ``rows`` (no embedding column) with vectors ``X``."""
        n = len(rows)
        if n == 0:
            return
        pos = self._frame.index.get_indexer(rows.index) if len(self._frame) else np.full(n, -1, dtype=np.int64)
        old = pos >= 0
        keys = np.empty(n, dtype=np.int64)
        keys[old] = self._keys[pos[old]]
        m = int((~old).sum())
        keys[~old] = np.arange(self._next_key, self._next_key + m, dtype=np.int64)
        meta = _metadata(rows)
        texts = self._texts(rows)

        from vecnb.index.home import encode_rows

        def record() -> tuple[np.ndarray, list[bytes] | None]:
            h = _row_hash(rows, X)
            return h, None if self._home is None else encode_rows(rows, keys, h)

        # a big write into a server store: the row hashes and the record's entries are made while the
        # server digests the rows (no wall time); otherwise in turn (in-process stores: peak memory)
        loads = supports(self.store, "bulk_load")
        side = Beside(record) if loads and n >= _BESIDE_ROWS else None
        hashes = _row_hash(rows, X) if side is None else None
        show = progress if progress is not None else n > 2 * _WRITE_BATCH
        step = _WRITE_BATCH if show else n
        starts = range(0, n, step)
        # only new keys (consecutive, never recorded): a bulk-loading store COPYs each batch straight in
        # (a row under such a key is an interrupted write's leftover: replaced); into an empty index it
        # also builds its secondary indexes once at the end instead of row by row
        bulk = loads and not old.any()
        bar = progress_bar(n, f"indexing into {self.store_name}", enabled=show)
        try:
            with self._home.writing((self._next_key, self._next_key + m)) if self._home is not None \
                    else contextlib.nullcontext():
                deferred = bulk and not len(self._frame) and self.store.bulk_begin()
                for s in starts:
                    e = min(n, s + step)
                    part = (keys[s:e], X[s:e], None if meta is None else meta.iloc[s:e],
                            None if texts is None else texts[s:e])
                    with self._storing():
                        if bulk:
                            self.store.load_block(*part, block=(int(keys[s]), int(keys[e - 1]) + 1))
                        else:
                            self.store.upsert(*part)
                    bar.update(e - s)
                if deferred:
                    self.store.bulk_end()
                if side is not None:
                    hashes, entries = side.result()
                elif self._home is not None:
                    entries = encode_rows(rows, keys, hashes)
                if self._home is not None:  # the rows and their labels, in the same transaction
                    self._home.append(entries)
        finally:
            bar.close()
            if side is not None:
                side.join()  # a failed write: the thread ends before the rows it reads go away
        self._next_key += m
        keep = np.ones(len(self._frame), dtype=bool)
        keep[pos[old]] = False
        if len(self._frame) and keep.all():
            frame = pd.concat([self._frame, rows], sort=False)
        elif len(self._frame):
            frame = pd.concat([self._frame.iloc[np.flatnonzero(keep)], rows], sort=False)
        else:
            frame = rows
        self._set_rows(frame, np.concatenate([self._keys[keep], keys]),
                       np.concatenate([self._row_hash[keep], hashes]))
        if self._home is not None:
            self._home.maybe_compact(self)

    def upsert(self, rows: pd.DataFrame, *, progress: bool | None = None) -> VectorIndex:
        """Add rows; rows whose label the index already holds are replaced.

        Parameters
        ----------
        rows : DataFrame
            Rows with the index's embedding column (same model and dimension).
        progress : bool, optional
            Show a progress bar (default: for more than 20,000 rows).

        Returns
        -------
        VectorIndex
            ``self``, so calls can be chained.
        """
        self._check_open()
        self._refuse_unfinished(self._refresh(for_write=True), "upsert")
        r, X = self._split(rows, "upsert")
        self._write(r, X, progress=progress)
        return self

    def delete(self, labels: Any) -> int:
        """Remove rows by index label; labels the index does not hold are ignored.

        Returns
        -------
        int
            How many rows were removed.
        """
        self._check_open()
        self._refuse_unfinished(self._refresh(for_write=True), "delete")
        return self._delete(labels)

    def _refuse_unfinished(self, dead: list[dict], operation: str) -> None:
        """A dead writer's unfinished write (chroma / ES) stays until ``sync(df)`` / ``mode='replace'``
        repairs it: an upsert or delete on top would leave the index unanswerable and look done."""
        if dead:
            raise self._home.unfinished(dead, operation)

    def _delete(self, labels: Any) -> int:
        labs = _as_labels(labels)
        if not labs or not len(self._frame):
            return 0
        pos = self._frame.index.get_indexer(pd.Index(labs, tupleize_cols=False))
        pos = np.unique(pos[pos >= 0])
        if not len(pos):
            return 0
        with self._home.writing() if self._home is not None else contextlib.nullcontext():
            with self._storing():
                self.store.delete(self._keys[pos])
            if self._home is not None:
                from vecnb.index.home import encode_dels

                self._home.append([encode_dels(self._keys[pos])])
        keep = np.ones(len(self._frame), dtype=bool)
        keep[pos] = False
        idx = np.flatnonzero(keep)
        self._set_rows(self._frame.iloc[idx], self._keys[idx], self._row_hash[idx])
        if self._home is not None:
            self._home.maybe_compact(self)
        return len(pos)

    def sync(self, df: pd.DataFrame, *, progress: bool | None = None) -> dict[str, int]:
        """Make the index hold exactly the rows of ``df``, with the fewest store writes.

        Rows are matched by label; a row is rewritten only when its vector or one of its
        other values changed (compared by content hash), new labels are added and labels
        ``df`` no longer has are deleted. Afterwards :attr:`frame` follows ``df``'s order.

        Returns
        -------
        SyncReport
            A dict ``{"added": int, "updated": int, "deleted": int, "unchanged": int}``
            whose values are also attributes (``report.updated``; ``report.writes``).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple", "pear", "plum"]}, index=["a", "b", "c"])
        >>> df = df.vec.embed("text", model="hashing", progress=False)
        >>> idx = df.vec.index()
        >>> edited = df.drop(index="c").assign(text=["red apple", "ripe pear"])
        >>> edited = edited.vec.embed("text", model="hashing", progress=False, previous=df)
        >>> idx.sync(edited)
        SyncReport(added=0, updated=1, deleted=1, unchanged=1)
        >>> idx.frame["text"].to_dict()
        {'a': 'red apple', 'b': 'ripe pear'}
        """
        self._check_open()
        dead = self._refresh(for_write=True)  # writes a killed writer left unfinished: this sync repairs them
        rows, X = self._split(df, "sync")
        _warn_edited_text(df, self.column)
        hashes = _row_hash(rows, X)
        pos = self._frame.index.get_indexer(rows.index) if len(self._frame) else np.full(len(rows), -1, np.int64)
        old = pos >= 0
        same = np.zeros(len(rows), dtype=bool)
        same[old] = self._row_hash[pos[old]] == hashes[old]
        repair = bool(dead)
        todo = np.flatnonzero(~same) if not repair else np.arange(len(rows))  # repair: every row rewritten
        gone = np.ones(len(self._frame), dtype=bool)
        gone[pos[old]] = False
        new_keys = (self._next_key, self._next_key + int((~old).sum()))
        deleted = 0
        # one logical write: readers see the index before this sync or after it, never half of it
        with self._home.writing(new_keys, repair=repair) if self._home is not None else contextlib.nullcontext():
            if repair:
                self._drop_orphans(dead)
            deleted = self._delete(self._frame.index[gone]) if gone.any() else 0
            if len(todo):
                self._write(rows.iloc[todo], X[todo], progress=progress)
            # follow df's order (and pick up values of unchanged rows, e.g. a reordered frame); the record
            # keeps that order when it differs from the writes' (ties go to the lower frame position, so a
            # reopened index must list the rows as this handle does)
            order = self._frame.index.get_indexer(rows.index)
            if self._home is not None and not np.array_equal(order, np.arange(len(order))):
                from vecnb.index.home import encode_order

                self._home.append([encode_order(self._keys[order])])
        self._set_rows(rows, self._keys[order], self._row_hash[order])
        from vecnb.frame.hashing import SyncReport

        return SyncReport(added=int((~old).sum()), updated=int((old & ~same).sum()), deleted=int(deleted),
                          unchanged=int(same.sum()))

    def _lead_with(self, labels: pd.Index) -> None:
        """Put the rows of ``labels`` first, in that order, the others after them as they were; the record
        keeps the order (an *order* entry, see :mod:`vecnb.index.home`) so a reopened index lists them alike.
        ``df.vec.index(mode="sync")`` onto an index of the same rows then breaks ties as a fresh build does."""
        first = self._frame.index.get_indexer(labels)
        first = first[first >= 0]
        order = np.concatenate([first, np.setdiff1d(np.arange(len(self._frame)), first)])
        if np.array_equal(order, np.arange(len(order))):
            return
        if self._home is not None:
            from vecnb.index.home import encode_order

            self._home.append([encode_order(self._keys[order])])
        self._set_rows(self._frame.iloc[order], self._keys[order], self._row_hash[order])

    def _drop_orphans(self, dead: list[dict]) -> None:
        """Delete from the store the keys dead writers may have added and the record does not hold."""
        ranges = [np.arange(int(n["new_keys"][0]), int(n["new_keys"][1]), dtype=np.int64) for n in dead
                  if n.get("new_keys") and int(n["new_keys"][1]) - int(n["new_keys"][0]) < (1 << 26)]
        keys = np.unique(np.concatenate(ranges)) if ranges else np.empty(0, np.int64)
        keys = keys[~np.isin(keys, self._keys)]
        if len(keys):
            with self._storing():
                self.store.delete(keys)

    @contextlib.contextmanager
    def _storing(self) -> Iterator[None]:
        """Around one store write: the record is behind the store from its start (a failure may leave part of
        it) until the record entry is appended -- except when the store refused the input (nothing written)."""
        home = self._home
        if home is None:
            yield
            return
        was, home.dirty = home.dirty, True
        try:
            yield
        except InvalidInputError:
            home.dirty = was
            raise

    def swap(self, replacement: VectorIndex, *, close_old: bool = True) -> VectorIndex:
        """Serve ``replacement``'s store, rows and model from this object (see :func:`swap_index`).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index()
        >>> held = idx                                       # e.g. a web handler holding the index
        >>> new = df.vec.embed("text", model="tfidf", progress=False).vec.index()   # built beside it
        >>> _ = idx.swap(new)
        >>> held.info_column["model"]["name"], held.search("pear", k=1).index.tolist()
        ('tfidf', ['b'])
        """
        return swap_index(self, replacement, close_old=close_old)

    # ------------------------------------------------------------------ rows by key (for vecnb.ops)
    def stored_keys(self) -> np.ndarray:
        """The store keys of the index's rows, in row order: a copy, int64 (n,).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index()
        >>> idx.stored_keys()
        array([0, 1])
        """
        self._check_open()
        return np.array(self._keys, dtype=np.int64, copy=True)

    def read_rows(self, keys: Any) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame | None, list[str] | None]:
        """The rows stored under ``keys``, as the store was given them.

        Returns
        -------
        rows : DataFrame, len(keys)
            The rows (original labels and columns, no embedding column); a row for a key the
            index does not hold is a placeholder (its ``found`` is False).
        found : ndarray (len(keys),) bool
        metadata : DataFrame or None
            The scalar columns the store filters on.
        texts : list of str or None
            The text column given to the store for keyword search.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple", "pear"], "year": [1990, 2001]}, index=["a", "b"])
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text")
        >>> rows, found, metadata, texts = idx.read_rows(idx.keys_for(["b", "zzz"]))
        >>> rows.index.tolist(), found, metadata["year"].tolist(), texts
        (['b', 'a'], array([ True, False]), [2001, 1990], ['pear', 'red apple'])
        """
        self._check_open()
        pos = self.positions_for(np.asarray(keys, dtype=np.int64))
        found = pos >= 0
        rows = self._frame.iloc[np.where(found, pos, 0)] if len(self._frame) else self._frame.iloc[:0]
        return rows, found, _metadata(rows), self._texts(rows)

    def write_rows(self, rows: pd.DataFrame, vectors: np.ndarray, *, progress: bool | None = None) -> None:
        """Insert / replace ``rows`` (no embedding column) with ``vectors`` (len(rows), d), by label.

        Idempotent: writing the same rows twice leaves one copy of each.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index()
        >>> idx.write_rows(pd.DataFrame({"text": ["plum"]}, index=["c"]), np.ones((1, idx.dim), np.float32))
        >>> idx.frame.index.tolist(), len(idx.store)
        (['a', 'b', 'c'], 3)
        """
        self._check_open()
        self._refresh(for_write=True)
        self._write(rows, np.asarray(vectors, dtype=np.float32), progress=progress)

    def clone_over(self, store: Any) -> VectorIndex:
        """A new VectorIndex over ``store`` (which already holds this index's vectors under the same keys)
        answering with this index's labels, rows and model (what :func:`vecnb.migrate` returns).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index()
        >>> copy = vecnb.stores.create("numpy", dim=idx.dim)
        >>> copy.upsert(idx.stored_keys(), idx.store.fetch(idx.stored_keys())[0])
        >>> idx.clone_over(copy).search("pear", k=1).index.tolist()
        ['b']
        """
        self._check_open()
        idx = VectorIndex(store, column=self.column, info=self.info_column, text=self.text,
                          kind=getattr(store, "kind", "auto"), store_name=getattr(store, "name", None))
        idx._next_key = self._next_key
        idx._set_rows(self._frame, np.array(self._keys, copy=True), np.array(self._row_hash, copy=True))
        return idx

    # ------------------------------------------------------------------ search
    @staticmethod
    def _hashes(rows: pd.DataFrame, X: np.ndarray) -> np.ndarray:
        """Content hash (n,) uint64 of each row (see :meth:`sync`)."""
        return _row_hash(rows, X)

    def _refresh(self, *, for_write: bool = False) -> list[dict]:
        """Reload labels and rows when another process changed the index's record since this handle
        loaded it (durable stores; sqlite: free unless another connection committed), and wait for
        another process's write in flight (chroma / ES, see :meth:`Home.writing`). Skipped inside
        an operation that checked already (:meth:`_checked`). Returns the unfinished writes of dead
        writers (only for a writer: a reader raises on them)."""
        if self._home is None or self._closed or self._checking == threading.get_ident():
            return []
        if self._home.changed():
            return self._reload(for_write=for_write)
        return self._home.await_writers(self._reload_rows, for_write=for_write) if self._home.open else []

    @contextlib.contextmanager
    def _checked(self) -> Iterator[None]:
        """Check the record once for a whole operation (keyword / hybrid read the rows several times)."""
        if self._home is None or self._checking is not None:
            self._refresh()  # nested in this thread: a no-op; another thread's operation: check for this one
            yield
            return
        self._refresh()
        self._checking = threading.get_ident()
        try:
            yield
        finally:
            self._checking = None

    def _one_version(self, run: Any) -> pd.DataFrame:
        """``run()`` (keyword / hybrid: several reads of the store and the rows) against one version
        of the index record: when another process wrote while it ran (its legs could pair one
        version's store rows with another's labels), it runs again on the new version."""
        for _ in range(3):
            with self._checked():
                seq = self._home.seq if self._home is not None else None
                out = run()
                if self._home is None or (self._home.seq == seq and not self._home.changed()):
                    return out
            time.sleep(0.01)
        self._kept_moving()

    def _reload_rows(self) -> None:
        from vecnb.index.opening import reload_rows

        reload_rows(self)

    def _reload(self, *, for_write: bool = False) -> list[dict]:
        """Reload from the record; then wait while another process's write is in flight (see :meth:`_refresh`)."""
        self._reload_rows()
        return self._home.await_writers(self._reload_rows, for_write=for_write) if self._home.open else []

    def _kept_moving(self) -> None:
        raise StoreBusyError(
            "another process wrote to this index during each of several tries of this search (a write in progress, "
            "or writes back to back); retry when the writes are done.", store=self.store_name, operation="search")

    def _changed_elsewhere(self) -> None:
        raise StoreError(
            "the index was changed or replaced in its store by another process since it was opened here (the store "
            "returned rows this copy does not know). Reopen it with vecnb.open_index(...).",
            store=self.store_name, operation="search")

    def _check_where_stored(self, node: Any) -> None:
        _check_stored(node, self._frame)

    def filter_fields(self) -> list[str]:
        """Columns a ``where`` filter can name.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple"], "year": [1990], "tags": [["fruit"]]})
        >>> df.vec.embed("text", model="hashing", progress=False).vec.index().filter_fields()
        ['text', 'year']
        """
        return [c for c in self._frame.columns if isinstance(c, str) and _is_scalar_column(self._frame[c])]

    def search(self, query: Any, k: int = 10, where: dict | None = None, threshold: float | None = None,
               model: Any = None, *, with_vectors: bool = False) -> pd.DataFrame:
        """Nearest rows to ``query``; the same result shape as ``df.vec.search``.

        Parameters
        ----------
        query : str, list of str, vector (d,), or array (nq, d)
            Text is embedded with the model that made the index's vectors.
        k : int
            Hits per query.
        where : dict, optional
            Filter on the rows' scalar columns (see :mod:`vecnb.filters`).
        threshold : float, optional
            Minimum score kept (higher is closer).
        model : optional
            Embedder for text queries when the vectors record none.
        with_vectors : bool
            Add the embedding column, read back from the store (``fetch``).

        Returns
        -------
        DataFrame
            Hit rows (original labels and columns, without the embedding column) with
            ``score`` and ``rank``, plus ``query`` for a batch of queries.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
        ...                             "apple and pear crumble"], "year": [2001, 2005, 2010, 2012]})
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(store="numpy")

        >>> idx.search("apple pie", k=2, where={"year": {"$gt": 2001}})[["text", "year", "rank"]]
                             text  year  rank
        3  apple and pear crumble  2012     1
        1         green pear tart  2005     2
        """
        self._check_open()
        k_asked = check_k(k)
        # no threshold / filter (the usual single query): no calls for them (each ~1-2 us with cold caches)
        threshold = None if threshold is None else check_threshold(threshold)
        parsed = None if where is None else filters.parse(where)
        home = self._home
        if home is not None and not home.folds:
            self._refresh()  # before the query is embedded: the record may name another model
        Q, labels, batch = query_matrix(query, self._info, self.dim, model=model)
        for attempt in range(4):  # another process's writes between our check and the search: reload, retry
            node = parsed
            if node is not None:
                if len(self._frame):
                    filters.check_fields(node, self._frame.columns, "the index's rows")
                    _check_stored(node, self._frame)
                node = filters.prepare(node, self._frame)  # the same type rules as df.vec (see vecnb.filters)
            k = min(k_asked, max(len(self._frame), 1))  # no more hits than rows: a huge k allocates nothing
            try:
                keys, pos, scores = top_by_position(lambda n: self.store.search(Q, n, where=node), k,
                                                    len(self._frame), self.positions_for)
            except StoreBusyError:  # e.g. chroma between a replace's drop and rename: the record moves next
                if home is None or attempt == 3:
                    raise
                time.sleep(0.02 * (attempt + 1))
                self._refresh()
                continue
            if home is None:
                break
            # the rows must come from the record this handle holds (else another process's rows
            # would be shown with this handle's labels and columns): pgvector reports the record's seq
            # from the search's own statement; other stores are asked again after the search (sqlite:
            # free if unchanged; ES / chroma: one lookup), so a write landing between the check before
            # the search and the search itself (edited rows under the old labels) is searched again
            if home.folds:
                moved = home.seen_changed()
            else:
                moved = bool(keys.size and keys.max() >= self._next_key) or home.changed()
            if not moved:
                break
            if attempt == 3:
                if home.changed():
                    self._kept_moving()
                self._changed_elsewhere()
            if attempt:
                time.sleep(0.005 * attempt)
            self._reload()
        hits = build_hits(self._frame, pos, scores, queries=labels if batch else None, threshold=threshold)
        if with_vectors:
            from vecnb.search.targets import add_vectors

            return add_vectors(self, hits)
        return hits

    def search_params(self) -> dict[str, Any]:
        """The store's current search settings (e.g. ``ef_search``, ``nprobe``); ``{}`` if it has none.

        Examples
        --------
        >>> df = vecnb.bench.clustered(300, 8, seed=0)
        >>> idx = df.vec.index(store="faiss", kind="hnsw")
        >>> idx.set_params(ef_search=64).search_params()["ef_search"]
        64
        """
        self._check_open()
        getter = getattr(self.store, "search_params", None)
        return dict(getter()) if callable(getter) else {}

    def set_params(self, **params: Any) -> VectorIndex:
        """Change how this index searches, in place, without rebuilding it; returns the index.

        ``params`` go to the store's ``set_search_params``: for faiss ``ef_search=`` (HNSW),
        ``nprobe=`` (IVF), ``refine=``, ``target_recall=`` (re-tune ef / nprobe now to the
        smallest setting reaching that recall@10 on held-out queries), ``exact_rows=`` /
        ``exact_fraction=``; for pgvector ``ef_search=`` / ``probes=``; for chroma ``ef_search=``.
        :meth:`search_params` shows the settings in force.

        Raises
        ------
        InvalidInputError
            The store has no such setting, or a value is out of range.

        Examples
        --------
        >>> df = vecnb.bench.clustered(300, 8, seed=0)
        >>> idx = df.vec.index(store="faiss", kind="hnsw")
        >>> idx.set_params(ef_search=128) is idx
        True
        >>> idx.set_params(nprobe=4)
        Traceback (most recent call last):
        ...
        vecnb.errors.InvalidInputError: faiss store: nprobe applies to the IVF kinds ('ivf', 'sq8', 'pq'); ...
        """
        self._check_open()
        setter = getattr(self.store, "set_search_params", None)
        if not callable(setter):
            raise InvalidInputError(f"The {self.store_name!r} store has no search settings to change.")
        try:
            setter(**params)
        except TypeError as exc:
            known = sorted(self.search_params())
            raise InvalidInputError(f"The {self.store_name!r} store cannot set {sorted(params)} ({exc}); "
                                    f"its search settings are {known}.") from None
        return self

    def keyword(self, query: Any, text: str | None = None, k: int = 10, **options: Any) -> pd.DataFrame:
        """Keyword search over this index's rows; the same result shape as ``df.vec.keyword``.

        The store's own keyword search when it has one and holds the texts of ``text``
        (``keyword_backend="auto"``), else BM25 in process over the rows. ``options``:
        ``where``, ``threshold``, ``keyword_backend`` and the BM25 options (``lower``,
        ``stopwords``, ``stemmer``, ``k1``, ``b``, ``method``); see :mod:`vecnb.keyword`.
        """
        self._check_open()
        from vecnb.search.keyword import keyword_search_index

        return self._one_version(lambda: keyword_search_index(self, query, text=text, k=k, **options))

    def hybrid(self, query: Any, text: str | None = None, k: int = 10, fusion: str = "rrf", alpha: float = 0.5,
               **options: Any) -> pd.DataFrame:
        """Keyword + vector search over this index, fused (see :func:`vecnb.keyword.hybrid_search_index`).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "apple crumble"]})
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(text="text")
        >>> idx.hybrid("apple pie", k=2, alpha=0.7)[["text", "rank"]]
                    text  rank
        0  red apple pie     1
        2  apple crumble     2
        """
        self._check_open()
        from vecnb.search.keyword import hybrid_search_index

        return self._one_version(
            lambda: hybrid_search_index(self, query, text=text, k=k, fusion=fusion, alpha=alpha, **options))

    def run(self, q: Any) -> pd.DataFrame:
        """Run a :class:`vecnb.Query` against this index.

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
        ...                             "apple and pear crumble"], "year": [2001, 2005, 2010, 2012]})
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(store="numpy")

        >>> idx.run(vecnb.Query.hybrid("apple pie", k=2))[["text", "rank"]]
                             text  rank
        0           red apple pie     1
        3  apple and pear crumble     2
        """
        self._check_open()
        return q.run(self)

    # ------------------------------------------------------------------ description
    def __len__(self) -> int:
        if self._home is not None and not self._closed:
            self._refresh()  # another process may have added / removed rows
        return len(self._frame)

    def info(self) -> dict[str, Any]:
        """What the index is: store, kind (and what ``auto`` chose), metric, model, size, parameters."""
        sinfo: dict[str, Any] = {}
        if not self._closed and supports(self.store, "info"):
            try:
                sinfo = dict(self.store.info())
            except Exception:  # noqa: BLE001 - a broken backend must not break the repr
                sinfo = {}
        model = self._info.get("model")
        out = {
            "store": self.store_name,
            "kind": self.kind,
            "chosen_kind": sinfo.get("kind", self.kind),
            "exact": sinfo.get("exact"),
            "metric": self.metric,
            "model": model.get("name") if isinstance(model, dict) else model,
            "model_id": self._info.get("model_id"),
            "dim": self.dim,
            "rows": len(self),
            "column": self.column,
            "text": self.text,
            "params": sinfo.get("params", {}),
        }
        if "recall" in sinfo:
            out["recall"] = sinfo["recall"]
        for key in ("memory_bytes", "scores", "fetch", "memory_mapped"):  # what the store says it holds
            if key in sinfo:
                out[key] = sinfo[key]
        if self._closed:
            out["closed"] = True
        return out

    def __repr__(self) -> str:
        i = self.info()
        kind = i["kind"] if i["kind"] == i["chosen_kind"] else f"{i['kind']}->{i['chosen_kind']}"
        return (f"<VectorIndex {i['store']} kind={kind} metric={i['metric']} model={i['model']} dim={i['dim']} "
                f"rows={i['rows']}{' closed' if self._closed else ''}>")

    def _repr_html_(self) -> str:
        i = self.info()
        kind = i["kind"] if i["kind"] == i["chosen_kind"] else f"{i['kind']} \u2192 {i['chosen_kind']}"
        rows = [("store", i["store"]), ("kind", kind),
                ("search", "exact" if i["exact"] else ("approximate" if i["exact"] is False else "?")),
                ("metric", i["metric"]), ("model", f"{i['model']} ({i['model_id']})"),
                ("dim", i["dim"]), ("rows", f"{i['rows']:,}"), ("column", i["column"])]
        if i["text"]:
            rows.append(("text", i["text"]))
        if i["params"]:
            rows.append(("params", ", ".join(f"{k}={v}" for k, v in i["params"].items())))
        if "recall" in i:
            rows.append(("recall@10 (tuned)", f"{i['recall']:.3f}" if isinstance(i["recall"], float) else i["recall"]))
        if self._closed:
            rows.append(("state", "closed"))
        return kv_table("vecnb.VectorIndex", rows)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the store and drop temporary files; further use raises :class:`StoreError`."""
        if self._closed:
            return
        try:
            self.store.close()
        finally:
            self._closed = True
            for d in self._tmpdirs:
                shutil.rmtree(d, ignore_errors=True)
            self._tmpdirs = []

    def __enter__(self) -> VectorIndex:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, *, storage_options: dict | None = None,
             lock_timeout: float = storage.LOCK_TIMEOUT) -> str:
        """Save to a folder or fsspec URL (``"indexes/cisi"``, ``"s3://bucket/cisi"``).

        Writes through :func:`vecnb.storage.write_folder`: the data go to a fresh version folder,
        every file is recorded with its SHA-256 in the manifest, and the manifest is replaced last,
        so an interrupted save leaves the previous copy loadable. Saves to one local folder take
        turns on a lock file (the last to finish wins); orphans of killed saves are removed.
        Refuses a non-empty folder that is not a vecnb index. Local paths need no fsspec.

        Parameters
        ----------
        path : str or PathLike
            A local folder or any fsspec URL.
        storage_options : dict, optional
            Passed to fsspec (credentials, ``{"client_kwargs": {"endpoint_url": ...}}`` for S3, ...).
        lock_timeout : float
            Seconds to wait while another process saves to the same local folder, then
            :class:`~vecnb.errors.StoreBusyError`.

        Returns
        -------
        str
            The path / URL written (credentials redacted).

        Examples
        --------
        >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
        ...                             "apple and pear crumble"], "year": [2001, 2005, 2010, 2012]})
        >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(store="numpy")

        >>> idx.save("fruit-index")          # a folder, or any fsspec URL ("s3://bucket/fruit")
        'fruit-index'
        >>> vecnb.load_index("fruit-index").search("apple pie", k=1)[["text", "rank"]]
                    text  rank
        0  red apple pie     1
        """
        self._check_open()
        loc = storage.location(path, storage_options)  # errors wrapped, credentials redacted (vecnb.storage)
        meta = json.loads(json.dumps(self._manifest_meta(), default=_json_default))
        with loc.errors("save"):
            storage.write_folder(loc, self._write_data, meta=meta, manifest=MANIFEST, lock_timeout=lock_timeout)
        return loc.url

    def _manifest_meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": FORMAT_VERSION, "vecnb_version": _vecnb_version(),
                "store": self.store_name, "kind": self.kind, "metric": self.metric, "dim": self.dim,
                "column": self.column, "text": self.text, "column_info": self._info, "rows": len(self),
                "next_key": self._next_key, "store_info": self.info().get("params")}

    def _write_data(self, folder: str) -> dict[str, Any]:
        """Write the rows, keys and hashes into ``folder``, then the store (by value or by reference)."""
        frame = self._frame.copy(deep=False)
        frame.attrs = {}
        if any(not isinstance(c, str) for c in frame.columns):
            raise InvalidInputError("Saving needs string column names; rename the columns (df.columns = df.columns.map(str)).")
        try:
            write_frame(frame, os.path.join(folder, "frame.arrow"))
        except Exception as exc:  # pyarrow cannot write some object columns
            raise InvalidInputError(
                f"Could not write the index's rows to parquet: {exc}. Convert mixed-type object columns "
                "(e.g. df[col].astype(str)) before building the index."
            ) from exc
        np.save(os.path.join(folder, "keys.npy"), self._keys, allow_pickle=False)
        np.save(os.path.join(folder, "row_hash.npy"), self._row_hash, allow_pickle=False)
        return self._write_store(os.path.join(folder, "store"))

    def _write_store(self, folder: str) -> dict[str, Any]:
        """Save the store's data into ``folder`` (in-process and file stores), or describe how to reopen it.

        By reference: a store that lives on a server provides ``reference()`` -> the non-secret,
        non-destructive constructor options that reopen it (table / index name, parameters); they
        are checked against the store's allow-list (:func:`vecnb.stores.base.reference_config`) on
        the way out and again on load.
        """
        if supports(self.store, "persist"):
            self.store.save(folder)
            return {"store_saved": "files"}
        if supports(self.store, "reference"):
            from vecnb.stores.base import reference_config

            return {"store_saved": "reference", "store_config": reference_config(type(self.store), self.store.reference())}
        raise StoreError(
            "this store can neither save its data nor describe how to reconnect (no save() / reference())",
            store=self.store_name, operation="save",
        )


def swap_index(current: Any, replacement: Any, *, close_old: bool = True) -> Any:
    """Put ``replacement`` in the place of ``current``: every reference to ``current`` now searches it.

    For rolling out a re-embedding (e.g. a new model) without a gap: build the new index
    beside the old one, which keeps answering, then swap. ``current`` takes over the new
    store, rows, model and dimension; ``replacement`` is left holding the old ones (closed
    when ``close_old``, so the old store's resources are released).

    Parameters
    ----------
    current, replacement : VectorIndex
    close_old : bool
        Close the old index (now held by ``replacement``).

    Returns
    -------
    VectorIndex
        ``current``, now serving the new data.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
    >>> old = df.vec.embed("text", model="hashing", progress=False).vec.index()
    >>> new = df.vec.embed("text", model="tfidf", progress=False).vec.index(store="faiss")
    >>> swap_index(old, new) is old, old.store_name, new.store_name
    (True, 'faiss', 'numpy')
    """
    if not isinstance(current, VectorIndex) or not isinstance(replacement, VectorIndex):
        raise InvalidInputError(
            f"swap takes two VectorIndex objects, got {type(current).__name__} and {type(replacement).__name__}.")
    if current is replacement:
        return current
    replacement._check_open()
    _exchange_state(current, replacement)
    if close_old:
        replacement.close()
    return current


#: What a :class:`VectorIndex` is, attribute by attribute: everything :func:`swap_index`
#: exchanges. The store and how it was built (``store``, ``store_name``, ``kind``, ``metric``,
#: ``dim``, ``column``, ``text``, ``_info``: model, source column, ...); the rows it holds
#: (``_frame``: labels and metadata, ``_keys``, ``_row_hash``, the key -> position maps
#: ``_pos_of_key`` / ``_sorted_keys`` / ``_sorted_pos``, ``_next_key``); the resources that
#: belong to that store (``_tmpdirs``: folders of a loaded copy, ``_home``: the durable index
#: record, ``_closed``); and ``ingest_report``, set by ``ddf.vec.to_store``. A test checks that
#: an index, built, searched, saved, loaded, synced and reopened, holds no attribute outside
#: this list: a new one must be added here (or swap would leave it behind).
INDEX_STATE = ("store", "store_name", "kind", "metric", "dim", "column", "text", "_info",
               "_frame", "_keys", "_row_hash", "_pos_of_key", "_sorted_keys", "_sorted_pos", "_next_key",
               "_tmpdirs", "_home", "_checking", "_closed", "ingest_report")
_ABSENT = object()


def _exchange_state(a: VectorIndex, b: VectorIndex) -> None:
    """Exchange the ``INDEX_STATE`` of two indexes (an attribute one lacks, the other loses).

    Attributes outside the list (set on an index by user code) are exchanged too, after it,
    so nothing is left behind with the wrong rows.
    """
    extra = sorted((set(vars(a)) | set(vars(b))) - set(INDEX_STATE))
    for name in (*INDEX_STATE, *extra):
        va, vb = vars(a).get(name, _ABSENT), vars(b).get(name, _ABSENT)
        for obj, value in ((a, vb), (b, va)):
            if value is _ABSENT:
                vars(obj).pop(name, None)
            else:
                vars(obj)[name] = value


def _vecnb_version() -> str:
    try:
        from vecnb._version import __version__

        return __version__
    except Exception:  # noqa: BLE001 - a version string must never fail a save
        return "?"


# --------------------------------------------------------------------------------- builders
def open_index(store: str, *, metric: str | None = None, dim: int | None = None, model: Any = None,
               **options: Any) -> VectorIndex:
    """Reopen an index kept in a store (pgvector, sqlite, chroma, elasticsearch) without its DataFrame.

    ``vecnb.open_index("pgvector", url=URL, table="cisi")``, ``vecnb.open_index("sqlite", path="cisi.db")``;
    ``metric`` / ``dim`` / ``model`` are optional expectations checked against the record.
    See :func:`vecnb.index.opening.open_index` for the parameters and errors.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
    >>> df.vec.embed("text", model="hashing", progress=False).vec.index(store="sqlite", path="fruit.db").close()
    >>> idx = vecnb.open_index("sqlite", path="fruit.db")
    >>> idx.frame.index.tolist(), idx.search("pear", k=1).index.tolist()
    (['a', 'b'], ['b'])
    """
    from vecnb.index.opening import open_index as _open

    return _open(store, index_cls=VectorIndex, metric=metric, dim=dim, model=model, **options)



def build_index(df: pd.DataFrame, store: Any = "numpy", kind: str = "auto", metric: str | None = None,
                column: str | None = None, text: str | None = None, *, progress: bool | None = None,
                mode: str = "error", **options: Any) -> VectorIndex:
    """Build a :class:`VectorIndex` over an embedding column of ``df`` (what ``df.vec.index`` calls).

    Parameters
    ----------
    df : DataFrame
        Rows with an embedding column; index labels must be unique.
    store : str or store object
        A registered store name (``vecnb.stores.names()``) or an EMPTY store instance.
    kind : str
        The store's index kind (``"auto"`` lets the store choose; see ``idx.info()``).
    metric : {"cosine", "dot", "l2"}, optional
        Default ``"cosine"`` (with ``mode="sync"``: the existing index's metric).
    column : str, optional
        The embedding column (needed when the frame has several).
    text : str, optional
        A text column passed to the store for keyword / hybrid search.
    progress : bool, optional
        Progress bar while writing (default: for more than 20,000 rows).
    mode : {"error", "replace", "sync", "append"}
        What to do when the store's table / file / collection already holds an index
        (stores that keep an index record: pgvector, sqlite, chroma, elasticsearch); see
        :mod:`vecnb.index.opening`. Never mixes two indexes' rows.
    **options
        Store constructor parameters (e.g. ``m=``, ``ef_search=``, ``target_recall=`` for faiss,
        ``path=`` for chroma / sqlite, ``url=`` for pgvector).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> build_index(df, "faiss", kind="flat", metric="dot")
    <VectorIndex faiss kind=flat metric=dot model=hashing dim=512 rows=2>
    """
    from vecnb import stores

    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"build_index takes a DataFrame, got {type(df).__name__}.")
    from vecnb.index.opening import build_owned, check_mode, start_home

    check_mode(mode)
    kind = normalize_kind(kind)
    col = resolve_column(df, column)
    metric = None if metric is None else metrics.resolve_metric(metric)
    info = get_info(df, col)
    if len(df):
        dim = column_matrix(df[col], name=col).shape[1]
    elif is_vector_dtype(df[col].dtype):
        dim = df[col].dtype.pyarrow_dtype.list_size
    elif info.get("dim"):
        dim = int(info["dim"])
    else:
        raise InvalidInputError("The DataFrame is empty and its embedding column has no known dimension.")
    if text is not None:
        from vecnb.frame.columns import text_values

        text_values(df, text, missing="empty")  # validates: exists, holds text
    def fill(st: Any, metric: str, name: str, kind: str, first_key: int = 0) -> VectorIndex:
        idx = VectorIndex(st, column=col, info=info, text=text, kind=kind, store_name=name)
        idx._next_key = first_key  # a replacement's keys never overlap the index it replaces
        try:
            start_home(idx)
            rows, X = idx._split(df, "index")
            idx._write(rows, X, progress=progress)
            if supports(st, "build"):  # stores that build lazily (faiss) build now, not at the first search
                st.build()
            if len(df) >= _WRITE_BATCH:
                release_free_memory()  # the build's transients (hashing, batches, training) back to the OS
        except BaseException:
            idx.close()
            raise
        return idx

    if isinstance(store, str):
        cls = stores.get(store)
        name = getattr(cls, "name", store)
        import inspect

        try:
            inspect.signature(cls.__init__).bind(None, dim=dim, metric="cosine", kind=kind, **options)
        except TypeError as exc:
            params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "dim", "metric", "kind")]
            raise InvalidInputError(
                f"Store {store!r} does not accept these options {sorted(options)}: {exc}. "
                f"Its options are: {', '.join(params) or 'none'}."
            ) from None
        if supports(cls, "home"):
            if options.pop("recreate", False):  # the store option that drops the table first: a replace
                mode = "replace"
            return build_owned(cls, df, dim=dim, metric=metric, kind=kind, mode=mode, options=options,
                               index_cls=VectorIndex,
                               build=lambda st, m, first=0: fill(st, m, name, kind, first))
        metric = metric or "cosine"
        st = cls(dim=dim, metric=metric, kind=kind, **options)
    else:
        metric = metric or "cosine"
        st = store
        if options:
            raise InvalidInputError("Pass store options to the store's constructor when you pass a store object.")
        if int(st.dim) != dim:
            raise DimensionMismatchError(f"The store holds {st.dim}-d vectors but column {col!r} is {dim}-d.")
        if st.metric != metric:
            raise InvalidInputError(
                f"The store was created with metric {st.metric!r} but metric={metric!r} was asked; "
                "create the store with the metric you want."
            )
        if len(st):
            raise InvalidInputError(f"Pass an EMPTY store to build an index; this one holds {len(st)} vectors.")
        name = getattr(st, "name", type(st).__name__)
        kind = getattr(st, "kind", kind)
    return fill(st, metric, name, kind)


_LOAD_ATTEMPTS = 8  # a loader re-reads the manifest when a concurrent save replaced the version it was reading


def _warn_edited_text(df: pd.DataFrame, column: str) -> None:
    """Warn when ``df``'s text was edited after its vectors were made: sync would store the old vectors."""
    from vecnb.frame.hashing import edited_since_embedding

    if column not in df.columns:
        return
    n = edited_since_embedding(df, column)
    if n:
        warnings.warn(
            f"{n} row(s) of this frame have text edited since column {column!r} was embedded, so their vectors "
            f"are the old ones and sync stores them as they are. List them with df.vec.stale({column!r}); "
            f"re-embed first (df = df.vec.embed(<text column>, previous=df)), then sync.",
            UserWarning, stacklevel=3)


def load_index(path: str | os.PathLike, *, storage_options: dict | None = None, verify: bool = True,
               url: str | None = None, mmap: bool = False) -> VectorIndex:
    """Load an index written by :meth:`VectorIndex.save` (a folder or any fsspec URL).

    Loading is read-only and confined to the saved folder: only the files the manifest names
    are read, never through a symbolic link; the manifest's settings are checked (store options
    against an allow-list, sizes and counters against the data) and no destructive store option
    is ever taken from a file. A load racing a save reads the previous or the new copy, never a
    mix (it reads the manifest again when the version it was reading is replaced).

    Parameters
    ----------
    path : str or PathLike
        A local folder or any fsspec URL.
    storage_options : dict, optional
        Passed to fsspec (credentials, ``endpoint_url``, ...).
    verify : bool
        Check every file's size and SHA-256 against the manifest before using it (default).
        That reads and hashes every byte once more than loading does: a 100k x 384 numpy index
        (157 MB) loaded in 4.2 s instead of 1.9 s on a busy 2-core machine (load 13; on an idle
        core SHA-256 runs at ~0.5-1.5 GB/s). ``verify=False`` skips the hashing for huge indexes,
        trusting the bytes on disk: each file's size is still checked against the manifest (a
        stat, nothing read), and the structure checks below still run (npy headers against file
        sizes, row counts, keys unique and in range), so a truncated or extended file is caught,
        but a byte changed in place is not (a damaged chroma file can crash chroma).
    url : str, optional
        For an index saved by reference (a server store: pgvector, Elasticsearch), the server's
        URL with credentials; default ``$VECNB_PG_URL`` / ``$VECNB_ES_URL``. Saved manifests never
        hold a URL or a password.
    mmap : bool
        Map the files instead of reading them, for stores that can (``numpy``; ``faiss``
        ``flat``; other faiss kinds read their index in full): the vectors, the rows (Arrow
        IPC: numbers and strings used in place), keys, row hashes and the store's metadata.
        The index opens without reading them and pages them in as searches touch them; it is
        read-only until the first write, which copies what it changes into memory.
        ``idx.info()["memory_mapped"]`` says whether it is. 1M x 384 opens in ~0.7 s (see the
        README). With ``verify=True`` every byte is still hashed once at opening (through the OS
        page cache, not the process's memory): pass ``verify=False`` to open a huge index at
        once. From a URL the files are fetched to a temporary folder first, which is mapped.
        Saves of the previous format (version 2, rows in parquet) load too, decoded in full.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    IndexFormatError
        ``path`` is not a vecnb index, was written by another format version, or is damaged or
        tampered with (the message names the file).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie", "green pear tart", "blue summer sky",
    ...                             "apple and pear crumble"], "year": [2001, 2005, 2010, 2012]})
    >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(store="numpy")

    >>> idx.save("fruit-index")
    'fruit-index'
    >>> again = vecnb.load_index("fruit-index")
    >>> again.search("apple pie", k=1)[["text", "rank"]]
                text  rank
    0  red apple pie     1
    """
    loc = storage.location(path, storage_options)  # errors wrapped, credentials redacted (vecnb.storage)
    with loc.errors("load"):
        for attempt in range(_LOAD_ATTEMPTS):
            doc = storage.read_manifest(loc, manifest=MANIFEST)
            meta = _check_meta(doc.get("meta"), loc.url)
            try:
                return _open_version(loc, doc, meta, verify=bool(verify), server_url=url, mmap=bool(mmap))
            except Exception:
                if attempt == _LOAD_ATTEMPTS - 1 or _current_version(loc) in (doc["version"], None):
                    raise
                time.sleep(0.01 * (attempt + 1))  # a newer save replaced this version mid-read: read that one
    raise AssertionError("unreachable")  # pragma: no cover


def _current_version(loc: Any) -> str | None:
    try:
        return storage.read_manifest(loc, manifest=MANIFEST)["version"]
    except Exception:  # noqa: BLE001 - unreadable now: do not retry
        return None


_META_TYPES: dict[str, tuple[type, ...]] = {
    "store": (str,), "store_saved": (str,), "kind": (str,), "metric": (str,), "column": (str,),
    "dim": (int,), "rows": (int,), "next_key": (int,), "column_info": (dict,),
}
_MAX_KEY = 2**62


def _check_meta(meta: Any, url: str) -> dict[str, Any]:
    """Validate the index part of a manifest (types and ranges; sizes are checked against the data later)."""
    version = meta.get("version") if isinstance(meta, dict) else None
    check_format(meta, FORMAT, version if version in _READS_VERSIONS else FORMAT_VERSION, f"{url!r}")
    for key, types in _META_TYPES.items():
        v = meta.get(key)
        if isinstance(v, bool) or not isinstance(v, types):
            raise IndexFormatError(f"{url!r}: the manifest's {key!r} is missing or not a {types[0].__name__} ({v!r}); "
                                   "the copy is damaged or was tampered with.")
    if meta["store_saved"] not in ("files", "reference"):
        raise IndexFormatError(f"{url!r}: the manifest's store_saved={meta['store_saved']!r} is unknown.")
    if meta.get("text") is not None and not isinstance(meta["text"], str):
        raise IndexFormatError(f"{url!r}: the manifest's 'text' is not a column name.")
    if not 0 < meta["dim"] <= 1_000_000 or meta["rows"] < 0 or not 0 <= meta["next_key"] <= _MAX_KEY:
        raise IndexFormatError(f"{url!r}: the manifest's dim / rows / next_key are out of range "
                               f"({meta['dim']}, {meta['rows']}, {meta['next_key']}); refusing to load.")
    try:
        metrics.resolve_metric(meta["metric"])
    except InvalidInputError:
        raise IndexFormatError(f"{url!r}: the manifest names an unknown metric {meta['metric']!r}.") from None
    return meta


def _open_version(loc: Any, doc: dict[str, Any], meta: dict[str, Any], *, verify: bool,
                  server_url: str | None = None, mmap: bool = False) -> VectorIndex:
    for name in (_FRAME_FILE[meta["version"]], "keys.npy", "row_hash.npy"):
        if name not in doc["files"]:
            raise IndexFormatError(f"{loc.url}: the manifest lists no {name}; the copy is incomplete.")
    folder, tmp = storage.local_folder(loc, doc, verify=verify)
    try:
        idx = _assemble(folder, meta, loc.url, server_url, mmap=mmap)
    except BaseException:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if tmp:
        idx._tmpdirs.append(tmp)
    return idx


def _open_reference(cls: type, meta: dict[str, Any], url: str, server_url: str | None) -> Any:
    """Reopen a store saved by reference: options from the allow-list only, credentials from the caller."""
    from vecnb.stores.base import reference_config

    cfg = reference_config(cls, meta.get("store_config"), where=url)
    if not supports(cls, "reference"):
        raise IndexFormatError(f"{url}: store {meta['store']!r} cannot be reopened from a saved reference.")
    return cls.open_reference(url=server_url, **cfg) if server_url is not None else cls.open_reference(**cfg)


def _assemble(folder: str, meta: dict[str, Any], url: str, server_url: str | None = None, *,
              mmap: bool = False) -> VectorIndex:
    """Build the index from a checked local folder, checking every size and counter against the data."""
    from vecnb import stores

    rows = meta["rows"]
    name = _FRAME_FILE[meta["version"]]
    try:
        frame = read_frame(os.path.join(folder, name), mmap=mmap)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for bad files
        raise IndexFormatError(f"{url}: {name} cannot be read ({type(exc).__name__}: {exc}).") from None
    if len(frame) != rows:
        raise IndexFormatError(f"{url}: {name} holds {len(frame)} rows but the manifest says {rows}.")
    # mapped too: 8 B per row each, paged in by the checks below (a sequential read)
    keys = load_npy(os.path.join(folder, "keys.npy"), (rows,), "iu", what="keys.npy", mmap=mmap
                    ).astype(np.int64, copy=False)
    row_hash = load_npy(os.path.join(folder, "row_hash.npy"), (rows,), "iu", what="row_hash.npy", mmap=mmap
                        ).astype(np.uint64, copy=False)
    if rows and (keys.min() < 0 or keys.max() >= meta["next_key"] or len(duplicated_ints(keys))):
        raise IndexFormatError(f"{url}: keys.npy holds negative, repeated or too large keys (next_key "
                               f"{meta['next_key']}); the copy is damaged or was tampered with.")
    try:
        cls = stores.get(meta["store"])
    except InvalidInputError as exc:
        raise IndexFormatError(f"{url}: the manifest names store {meta['store']!r}: {exc}") from None
    if mmap and (meta["store_saved"] != "files" or "mmap" not in inspect.signature(cls.load).parameters):
        raise InvalidInputError(f"{url}: the {meta['store']!r} store cannot be memory-mapped (mmap=True is for "
                                "the numpy and faiss stores); load it without mmap.")
    if meta["store_saved"] == "files":
        if not supports(cls, "persist"):
            raise IndexFormatError(f"{url}: store {meta['store']!r} cannot load saved files.")
        st = cls.load(os.path.join(folder, "store"), mmap=True) if mmap else cls.load(os.path.join(folder, "store"))
    else:
        st = _open_reference(cls, meta, url, server_url)
        if supports(st, "home"):  # the server keeps the index record: it, not the saved copy, is the truth
            from vecnb.index.opening import open_from

            try:
                idx = open_from(st, VectorIndex)
                if idx.dim != meta["dim"] or idx.metric != metrics.resolve_metric(meta["metric"]):
                    raise IndexFormatError(f"{url}: the server's index holds {idx.dim}-d {idx.metric!r} vectors but "
                                           f"the manifest says {meta['dim']}-d {meta['metric']!r}.")
            except BaseException:
                st.close()
                raise
            return idx
    try:
        if int(st.dim) != meta["dim"] or st.metric != metrics.resolve_metric(meta["metric"]):
            raise IndexFormatError(f"{url}: the store holds {st.dim}-d {st.metric!r} vectors but the manifest says "
                                   f"{meta['dim']}-d {meta['metric']!r}.")
        idx = VectorIndex(st, column=meta["column"], info=meta["column_info"], text=meta.get("text"),
                          kind=meta["kind"], store_name=meta["store"])
        idx._next_key = int(meta["next_key"])
        idx._set_rows(frame, keys, row_hash)
        if len(st) != len(idx):
            raise IndexFormatError(
                f"{url}: the store holds {len(st)} vectors but the index lists {len(idx)} rows; the copy is inconsistent."
            )
    except BaseException:
        st.close()
        raise
    return idx
