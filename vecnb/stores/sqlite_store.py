"""SQLite store: vectors, metadata and full text in one file (sqlite-vec + FTS5, through apsw).

``store="sqlite"`` keeps everything in a single SQLite database file that can be copied,
reopened later or opened by other processes::

    store = SqliteStore(dim=384, metric="cosine", path="cisi.db")
    store.upsert(ids, X, metadata=meta_df, texts=texts)
    ids, scores = store.search(Q, k=10, where=filters.parse({"year": {"$gte": 1990}}))
    ids, scores = store.keyword(["query words"], k=10)          # FTS5, BM25
    SqliteStore.open("cisi.db")                                  # dim / metric read from the file

Why apsw
--------
``sqlite-vec`` is a loadable SQLite extension. The standard library's ``sqlite3`` on this
Python was built without ``enable_load_extension`` (SQLite 3.40, extension loading off), so
it cannot load it. ``apsw`` ships its own, current SQLite (3.5x, FTS5 compiled in), loads
extensions, exposes SQLite's exact error classes (``BusyError``, ``NotADBError``...) that we
map to vecnb's errors, and does not open implicit transactions behind our back, so writes
use explicit ``BEGIN IMMEDIATE`` transactions and the busy timeout applies to them.
(``pysqlite3-binary`` would also load extensions, but is a Linux-only, unofficial rebuild.)

File layout (format version 1)
------------------------------
============== ==============================================================================
``vecnb_meta``   key/value: ``format`` = ``vecnb.sqlite``, ``format_version``, ``dim``,
                 ``metric``, ``vec_dim``, ``dot_radius``, ``vecnb_version``
``vecnb_items``  one row per key: ``id INTEGER PRIMARY KEY`` plus metadata columns ``m0, m1, ...``
``vecnb_fields`` metadata field name -> internal column (``m<N>``) and value kind
``vecnb_vec``    ``vec0`` virtual table, ``embedding float[vec_dim]``, rowid = key
``vecnb_fts``    FTS5 table ``text`` (porter stemmer over unicode61), rowid = key
============== ==============================================================================

Decisions
---------
* **Exact search.** ``vec0`` KNN is a brute-force scan, so results are exact. The KNN fetches
  ``k + max(k, 10)`` candidates with their vectors; vecnb rescores them in float64 and sorts
  by (score desc, key asc), so scores match the ``numpy`` store to float64 rounding. ``vec0``
  caps ``k`` at 4096: beyond that the store scans all (filtered) rows and ranks them with
  :func:`vecnb.metrics.topk`.
* **Dot product.** sqlite-vec 0.1.9 has ``l2``, ``cosine`` and ``l1`` metrics but no inner
  product. For ``metric="dot"`` each vector ``x`` is stored augmented as
  ``[x, sqrt(R**2 - |x|**2)]`` with ``R`` >= every stored norm (``dot_radius``), and queries as
  ``[q, 0]``: then ``|x' - q'|**2 = R**2 + |q|**2 - 2 x.q``, so the ``l2`` ranking *is* the
  inner-product ranking (the MIPS-to-NN reduction of Bachrach et al., 2014) and the KNN stays
  a C scan (~90 ms at 100k x 384 instead of ~1.8 s for an SQL scan with distance functions).
  The exact float64 rescoring above removes the float32 error of the reduction. When a new
  vector is longer than ``R``, ``R`` grows to 1.5x that norm and the extra component of every
  stored row is rewritten once (rare: it needs a vector longer than all previous ones by 50%).
* **Metadata and filters.** Each metadata field gets an internal column ``m<N>`` recorded in
  ``vecnb_fields``; user field names never appear in SQL text (they are bound parameters when
  the mapping is stored), and values are always bound parameters. The filter tree becomes
  ``rowid IN (SELECT id FROM vecnb_items WHERE ...)``. Missing values are SQL ``NULL`` and so
  match no comparison (``$ne`` / ``$nin`` included), which is vecnb's rule. Ordering
  comparisons check types: a text field compared with a number (or the reverse) raises
  :class:`~vecnb.errors.FilterError`, as pandas does for the ``numpy`` store. Date / datetime
  columns are stored as int nanoseconds since the epoch (UTC), the form filter values get
  (:func:`vecnb.filters.encode_node`); booleans as 0 / 1. Large ``$or`` / ``$and`` are
  parenthesised as balanced trees and long value lists go through ``json_each``, so SQLite's
  expression-depth limit (1000) is never reached.
* **Upsert replaces the whole row**: vector, metadata (fields absent from the new metadata
  become missing) and text.
* **Keyword search.** The query text is split into words, each quoted as an FTS5 string and
  joined with ``OR`` (FTS5 operators in user text are therefore inert), bound as a parameter.
  FTS5's ``bm25()`` is lower-is-better; the score returned is ``-bm25()`` (higher is better).
* **Concurrency and safety.** WAL journal mode (readers never block the writer, nor the
  writer readers), ``synchronous=NORMAL``. Every write is one ``BEGIN IMMEDIATE`` transaction
  (all or nothing); a second writer waits up to ``timeout`` seconds, then gets a
  :class:`~vecnb.errors.StoreError` saying the file is locked. A file that is not a SQLite
  database, or a database without ``vecnb_meta``, raises
  :class:`~vecnb.errors.IndexFormatError` before anything is written to it.
* **Default path.** ``path=None`` uses a fresh file in a temporary folder, removed by
  :meth:`close`; ``path=":memory:"`` is a private in-memory database (no WAL, one connection).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from vecnb.errors import (
    DimensionMismatchError,
    FilterError,
    IndexFormatError,
    InvalidInputError,
    MissingDependencyError,
    StoreError,
)
from vecnb._core.filters import And, Cmp, Node, Or, encode_frame, encode_node, parse
from vecnb._core.metrics import exact_scores, resolve_metric, scores_from_distances, topk
from vecnb._core.progress import progress_bar
from vecnb.stores.base import BaseStore, pad_results, records_frame

try:  # the extra: pip install "vecnb[sqlite]"
    import apsw
    import sqlite_vec
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError.for_extra("The 'sqlite' store", "sqlite", _exc.name) from _exc

_NEAR_TIE = 1e-5  # distances closer than this may swap order between float32 and float64

__all__ = ["SqliteStore", "FORMAT", "FORMAT_VERSION", "KNN_MAX_K"]

FORMAT = "vecnb.sqlite"
FORMAT_VERSION = 1
KNN_MAX_K = 4096
"""sqlite-vec's largest ``k`` for a ``vec0`` KNN query; larger requests scan instead."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_COL_RE = re.compile(r"^m[0-9]{1,5}$")
_TOKENIZER_RE = re.compile(r"^[A-Za-z0-9_]+( [A-Za-z0-9_]+)*$")
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_CHUNK = 5000  # rows per executemany batch / json_each id list
_DOT_GROWTH = 1.5
_MMAP_BYTES = 2**31 - 2**16  # SQLite's default compile-time ceiling (SQLITE_MAX_MMAP_SIZE)
_TABLES = ("vecnb_meta", "vecnb_items", "vecnb_fields", "vecnb_vec", "vecnb_fts")
_OPS_SQL = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


# ------------------------------------------------------------------------------------------
# value conversion for metadata
def _cell(v: Any) -> Any:
    """One metadata value as an SQLite value (None for missing)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) else f
    if isinstance(v, str):
        return v
    if isinstance(v, (pd.Timestamp, _dt.datetime, _dt.date, np.datetime64)):
        ts = pd.Timestamp(v)
        return None if ts is pd.NaT else ts.isoformat()
    if isinstance(v, numbers.Number):
        return float(v)
    return json.dumps(v, default=str, sort_keys=True)


def _kind_of(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return "text"
    return "num"


def _column_values(col: pd.Series) -> tuple[list, set[str]]:
    """SQLite values of a metadata column and the kinds ('num' / 'text') present."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(object)
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        vals = [None if pd.isna(v) else pd.Timestamp(v).isoformat() for v in col.tolist()]
    elif pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
        vals = [_cell(v) for v in col.tolist()]
    else:
        vals = [_cell(v) for v in col.tolist()]
    kinds = {k for k in map(_kind_of, vals) if k is not None}
    return vals, kinds


def _merge_kind(old: str | None, new: set[str]) -> str:
    seen = set(new)
    if old and old != "none":
        seen |= {"num", "text"} if old == "mixed" else {old}
    if not seen:
        return "none"
    return seen.pop() if len(seen) == 1 else "mixed"


def _fts_query(text: str) -> str:
    """Words of ``text`` as quoted FTS5 strings joined with OR ('' when there are none)."""
    words = _WORD_RE.findall(text)
    seen: dict[str, None] = {}
    for w in words:
        seen.setdefault(w.lower(), None)
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in seen)


def _int32_keys(conn: apsw.Connection) -> bool:
    """Whether every row with metadata has a key in int32 range.

    sqlite-vec 0.1.9's KNN reads a ``rowid IN (...)`` constraint as 32-bit integers: key
    ``2**32 + 1`` matched key ``1`` (a filtered search of a Dask-written index, whose keys carry
    the partition number in the high bits, returned rows the filter excludes). Filtered
    searches over wider keys take the plain scan instead, which compares 64-bit rowids.
    """
    lo, hi = conn.execute("SELECT min(id), max(id) FROM vecnb_items").fetchone()
    return lo is None or (lo >= -(2 ** 31) and hi < 2 ** 31)


def _blob(v: np.ndarray) -> bytes:
    return np.ascontiguousarray(v, dtype="<f4").tobytes()


# ------------------------------------------------------------------------------------------
class SqliteStore(BaseStore):
    """Vectors, metadata and text in one SQLite file, searched exactly with sqlite-vec.

    Parameters
    ----------
    dim : int
        Vector dimension d.
    metric : {"cosine", "dot", "l2"}
        Distance metric (aliases accepted).
    kind : {"auto", "exact", "flat"}
        Only exact (brute-force) search exists; all three mean the same.
    path : str or os.PathLike, optional
        The database file. Created when missing; an existing vecnb file is reopened (its
        dimension and metric must match). ``None`` (default): a new temporary file removed by
        :meth:`close`. ``":memory:"``: an in-memory database private to this object.
    timeout : float
        Seconds a write waits for another writer to finish before raising
        :class:`~vecnb.errors.StoreError`.
    tokenizer : str
        FTS5 tokenizer for the keyword side, used when the file is created.

    Notes
    -----
    The connection opens on first use (``len``, a write, a search). The object may be used
    from several threads (calls are serialised); other processes open the file themselves.

    Examples
    --------
    One file holds the vectors (``sqlite-vec``), the metadata and an FTS5 keyword index:

    >>> store = vecnb.stores.create("sqlite", dim=2, path="fruit_store.db")
    >>> store.upsert(np.array([1, 2]), np.array([[1, 0], [0, 1]], np.float32),
    ...              metadata=pd.DataFrame({"year": [1990, 2001]}), texts=["red apple", "green pear"])
    >>> with store.atomic():
    ...     store.delete(np.array([1]))
    >>> store.search(np.array([[1.0, 0.1]], np.float32), k=1)[0], store.keyword(["pear"], k=1)[0]
    (array([[2]]), array([[2]]))
    >>> sorted(store.fields())
    ['year']
    >>> store.close()
    >>> len(vecnb.stores.get("sqlite").open(path="fruit_store.db"))
    1
    """

    name: ClassVar[str] = "sqlite"
    capabilities: ClassVar[frozenset[str]] = frozenset({"fetch", "home", "info", "iter_ids", "keyword", "metadata",
                                                        "persist", "texts"})
    kinds: ClassVar[tuple[str, ...]] = ("exact", "flat")
    #: ``flat`` is another name for ``exact`` here (one index, measured once by vecnb.bench)
    kind_aliases: ClassVar[dict[str, str]] = {"flat": "exact"}

    def __init__(self, *, dim: int, metric: str = "cosine", kind: str = "auto",
                 path: str | os.PathLike | None = None, timeout: float = 5.0,
                 tokenizer: str = "porter unicode61 remove_diacritics 2"):
        super().__init__(dim=dim, metric=metric, kind=kind)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise InvalidInputError(f"timeout must be a number of seconds >= 0, got {timeout!r}.")
        if not isinstance(tokenizer, str) or not _TOKENIZER_RE.match(tokenizer):
            raise InvalidInputError(
                f"tokenizer must be an FTS5 tokenizer spec of words such as 'porter unicode61', got {tokenizer!r}."
            )
        self.timeout = float(timeout)
        self.tokenizer = tokenizer
        self._temp_dir: str | None = None
        if path is None:
            self.path: str = ""  # chosen on first use
        elif str(path) == ":memory:":
            self.path = ":memory:"
        else:
            self.path = os.fspath(Path(os.fspath(path)).expanduser())
        self._conn: apsw.Connection | None = None
        self._lock = threading.RLock()
        self._vec_dim = self.dim + 1 if self.metric == "dot" else self.dim
        self._finalizer: weakref.finalize | None = None
        self._depth = 0            # open transactions of this object (nested ones are savepoints)
        self._replacing = False    # a staging store rebuilding the file in one transaction (mode="replace")
        self._home_floor = 0       # a replacement's record continues after the old one's sequence numbers
        self._seen_dv: int | None = None   # PRAGMA data_version when _seen_seq was read
        self._seen_seq: int | None = None  # the index record's last seq then (None: read it again)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike, *, timeout: float = 5.0) -> SqliteStore:
        """Open an existing vecnb SQLite file, reading its dimension and metric from it.

        Raises
        ------
        IndexFormatError
            ``path`` does not exist, is not a SQLite database, or is not a vecnb store.
        """
        p = os.fspath(Path(os.fspath(path)).expanduser())
        if not os.path.isfile(p):
            raise IndexFormatError(f"No vecnb SQLite store at {p!r} (no such file). Check the path.")
        meta = _read_meta_readonly(p, timeout)
        store = cls(dim=int(meta["dim"]), metric=meta["metric"], path=p, timeout=timeout)
        store._connect()
        return store

    @classmethod
    def load(cls, path: str | os.PathLike, *, timeout: float = 5.0) -> SqliteStore:
        """Open a private working copy of a file written by :meth:`save` (the store protocol's ``load``).

        The saved file is copied to a temporary file (removed by :meth:`close`), so writes to
        the loaded store never change the saved copy, as with the in-memory stores. Use
        :meth:`open` to work on a file in place.
        """
        src = os.fspath(Path(os.fspath(path)).expanduser())
        if os.path.isdir(src):
            src = os.path.join(src, "store.sqlite")
        if not os.path.isfile(src):
            raise IndexFormatError(f"No saved vecnb SQLite store at {os.fspath(path)!r}.")
        meta = _read_meta_readonly(src, timeout)
        tmp_dir = tempfile.mkdtemp(prefix="vecnb-sqlite-")
        dst = os.path.join(tmp_dir, "store.sqlite")
        try:
            shutil.copyfile(src, dst)
            store = cls(dim=int(meta["dim"]), metric=meta["metric"], path=dst, timeout=timeout)
            store._temp_dir = tmp_dir
            store._finalizer = weakref.finalize(store, shutil.rmtree, tmp_dir, True)
            store._connect()
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        return store

    def _where(self, quote: bool = True) -> str:
        """Where the data is, for messages (quoted) and ``info()`` (plain)."""
        if self.path == ":memory:":
            return "in memory"
        if not self.path:
            return "(temporary file)"
        return repr(self.path) if quote else self.path

    def _connect(self) -> apsw.Connection:
        if self._conn is not None:
            return self._conn
        self._check_open()
        with self._lock:
            if self._conn is not None:
                return self._conn
            if not self.path:
                self._temp_dir = tempfile.mkdtemp(prefix="vecnb-sqlite-")
                self.path = os.path.join(self._temp_dir, "store.sqlite")
                self._finalizer = weakref.finalize(self, shutil.rmtree, self._temp_dir, True)
            if self.path != ":memory:":
                _check_header(self.path)
                folder = os.path.dirname(os.path.abspath(self.path))
                if not os.path.isdir(folder):
                    raise StoreError(f"folder {folder!r} does not exist; create it first or choose another path",
                                     store=self.name, operation="open")
            try:
                conn = apsw.Connection(self.path)
            except apsw.Error as exc:
                raise self._wrap(exc, "open") from None
            try:
                conn.set_busy_timeout(int(self.timeout * 1000))
                conn.enable_load_extension(True)
                conn.load_extension(sqlite_vec.loadable_path())
                conn.enable_load_extension(False)
                if self.path != ":memory:":
                    # KNN scans read every vector: through a memory map they are not copied page by
                    # page into SQLite's cache (~40% faster at 100k x 384 here)
                    conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
                self._init_schema(conn)
            except BaseException as exc:
                conn.close()
                if isinstance(exc, apsw.Error):
                    raise self._wrap(exc, "open") from None
                raise
            self._conn = conn
            return conn

    def _init_schema(self, conn: apsw.Connection) -> None:
        """Create the tables in an empty file, or check an existing vecnb file."""
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        if "vecnb_meta" not in tables:
            if tables:
                raise IndexFormatError(
                    f"{self._where()} is a SQLite database but not a vecnb store (it has tables "
                    f"{', '.join(sorted(tables)[:8])}); vecnb will not write into it. Choose another path."
                )
            self._wal(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "vecnb_meta" not in tables:  # nobody created it meanwhile
                    self._create_tables(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        conn.execute("PRAGMA synchronous=NORMAL")
        if not self._replacing:  # a replacement recreates the tables (dim / metric may change)
            meta = _meta_dict(conn, self._where())
            self._check_meta(meta)
        self._wal(conn)  # e.g. a copy written by VACUUM INTO

    def _wal(self, conn: apsw.Connection) -> None:
        if self.path == ":memory:":
            return
        if str(conn.execute("PRAGMA journal_mode").fetchall()[0][0]).lower() == "wal":
            return
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchall()[0][0]
        if str(mode).lower() != "wal":  # pragma: no cover - e.g. a file system without shared memory
            raise StoreError(f"could not switch {self._where()} to WAL mode (got {mode!r})",
                             store=self.name, operation="open")

    def _create_tables(self, conn: apsw.Connection) -> None:
        metric = "l2" if self.metric == "dot" else self.metric
        conn.execute("CREATE TABLE vecnb_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        from vecnb._version import __version__

        conn.executemany("INSERT INTO vecnb_meta(key, value) VALUES (?, ?)", [
            ("format", FORMAT), ("format_version", str(FORMAT_VERSION)), ("dim", str(self.dim)),
            ("metric", self.metric), ("vec_dim", str(self._vec_dim)), ("dot_radius", "0"),
            ("vecnb_version", __version__), ("tokenizer", self.tokenizer),
        ])
        conn.execute("CREATE TABLE vecnb_items(id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE vecnb_fields(name TEXT PRIMARY KEY, col TEXT NOT NULL UNIQUE, kind TEXT NOT NULL)")
        conn.execute(f"CREATE VIRTUAL TABLE vecnb_vec USING vec0(embedding float[{int(self._vec_dim)}] "
                     f"distance_metric={metric})")
        # FTS5 reads the tokenizer spec as a literal (no bound parameters in CREATE VIRTUAL TABLE);
        # the constructor allowed only letters, digits, '_' and spaces in it
        conn.execute(f"CREATE VIRTUAL TABLE vecnb_fts USING fts5(text, tokenize='{self.tokenizer}')")

    def _check_meta(self, meta: dict[str, str]) -> None:
        if meta.get("format") != FORMAT:
            raise IndexFormatError(f"{self._where()} has a vecnb_meta table but format {meta.get('format')!r}, "
                                   f"not {FORMAT!r}; it was not written by this store.")
        try:
            version = int(meta.get("format_version", "0"))
            dim = int(meta["dim"])
            vec_dim = int(meta["vec_dim"])
        except (KeyError, ValueError):
            raise IndexFormatError(f"{self._where()}: vecnb_meta is incomplete or damaged ({meta}).") from None
        if version > FORMAT_VERSION:
            raise IndexFormatError(f"{self._where()} uses store format {version}; this vecnb reads up to "
                                   f"{FORMAT_VERSION}. Upgrade vecnb.")
        if dim != self.dim:
            raise DimensionMismatchError(
                f"{self._where()} holds {dim}-d vectors but the store was created with dim={self.dim}. "
                "Pass the same dim, or open it with SqliteStore.open(path)."
            )
        if meta.get("metric") != self.metric:
            raise InvalidInputError(
                f"{self._where()} was built with metric={meta.get('metric')!r}, not {self.metric!r}. "
                f"Pass metric={meta.get('metric')!r}, or open it with SqliteStore.open(path)."
            )
        if vec_dim != self._vec_dim:
            raise IndexFormatError(f"{self._where()}: vec_dim {vec_dim} does not fit dim {dim} / metric {self.metric}.")

    # ------------------------------------------------------------------ errors / transactions
    def _wrap(self, exc: BaseException, operation: str) -> StoreError | IndexFormatError:
        where = self._where()
        if isinstance(exc, (apsw.BusyError, apsw.LockedError)):
            return StoreError(
                f"{where} is locked by another writer (waited {self.timeout:g} s). Nothing was changed. "
                "Close the other connection / process, or retry with a larger timeout=.",
                store=self.name, operation=operation)
        if isinstance(exc, apsw.NotADBError):
            return IndexFormatError(f"{where} is not a SQLite database ({exc}); choose another path.")
        if isinstance(exc, apsw.CorruptError):
            return StoreError(f"{where} is damaged ({exc}); restore it from a copy or rebuild the index.",
                              store=self.name, operation=operation)
        if isinstance(exc, (apsw.ReadOnlyError, apsw.PermissionsError, apsw.CantOpenError)):
            return StoreError(f"cannot write {where} ({exc}); check the file's permissions and folder.",
                              store=self.name, operation=operation)
        if isinstance(exc, apsw.FullError):
            return StoreError(f"disk full while writing {where}; free space and retry.",
                              store=self.name, operation=operation)
        return StoreError(f"SQLite error on {where}: {exc}", store=self.name, operation=operation)

    @contextmanager
    def _txn(self, operation: str, *, write: bool):
        """One transaction (``BEGIN IMMEDIATE`` for writes, a snapshot for reads); a savepoint when nested
        inside :meth:`atomic`."""
        conn = self._connect()
        with self._lock:
            nested = self._depth > 0
            try:
                conn.execute("SAVEPOINT vecnb_nested" if nested else ("BEGIN IMMEDIATE" if write else "BEGIN"))
            except apsw.Error as exc:
                raise self._wrap(exc, operation) from None
            self._depth += 1
            if write:
                self._seen_seq = None  # our own commit does not move data_version: read the record again
            try:
                yield conn
            except apsw.Error as exc:
                _rollback(conn, nested)
                raise self._wrap(exc, operation) from None
            except BaseException:
                _rollback(conn, nested)
                raise
            else:
                try:
                    conn.execute("RELEASE vecnb_nested" if nested else "COMMIT")
                except apsw.Error as exc:
                    _rollback(conn, nested)
                    raise self._wrap(exc, operation) from None
            finally:
                self._depth -= 1

    # ------------------------------------------------------------------ metadata fields
    def _fields(self, conn: apsw.Connection) -> dict[str, tuple[str, str]]:
        out = {}
        for name, col, kind in conn.execute("SELECT name, col, kind FROM vecnb_fields"):
            if not _COL_RE.match(col):  # never let a tampered file put text into our SQL
                raise IndexFormatError(f"{self._where()}: vecnb_fields has an invalid column name {col!r}.")
            out[name] = (col, kind)
        return out

    def _ensure_fields(self, conn: apsw.Connection, metadata: pd.DataFrame) -> list[tuple[str, list]]:
        """Add columns for new fields, update kinds; return [(internal col, values)]."""
        fields = self._fields(conn)
        used = {c for c, _ in fields.values()}
        out = []
        seen: set[str] = set()
        for j, name in enumerate(metadata.columns):
            key = str(name)
            if key in seen:
                raise InvalidInputError(f"metadata has the column name {key!r} twice; rename one.")
            seen.add(key)
            vals, kinds = _column_values(metadata.iloc[:, j])
            if key in fields:
                col, old = fields[key]
                kind = _merge_kind(old, kinds)
                if kind != old:
                    conn.execute("UPDATE vecnb_fields SET kind = ? WHERE name = ?", (kind, key))
            else:
                n = 0
                while f"m{n}" in used:
                    n += 1
                col = f"m{n}"
                used.add(col)
                conn.execute(f"ALTER TABLE vecnb_items ADD COLUMN {col}")
                conn.execute("INSERT INTO vecnb_fields(name, col, kind) VALUES (?, ?, ?)",
                             (key, col, _merge_kind(None, kinds)))
            out.append((col, vals))
        return out

    def _filter_sql(self, conn: apsw.Connection, where: Node | None) -> tuple[str, list]:
        """``rowid IN (...)`` clause and parameters for a parsed filter ('' for none)."""
        where = encode_node(parse(where))  # idempotent on an encoded tree
        if where is None:
            return "", []
        fields = self._fields(conn)
        params: list = []
        sql = _node_sql(where, fields, params)
        return f"rowid IN (SELECT id FROM vecnb_items WHERE {sql})", params

    # ------------------------------------------------------------------ writes
    def upsert(self, ids: np.ndarray, vectors: np.ndarray, metadata: pd.DataFrame | None = None,
               texts: list[str] | None = None) -> None:
        """Insert or replace rows (vector, metadata and text of each key are replaced).

        Parameters
        ----------
        ids : ndarray, shape (n,), int64
        vectors : ndarray, shape (n, dim), float32
        metadata : DataFrame, optional
            n rows in the order of ``ids`` (its index is ignored); the filterable fields.
        texts : list of str, optional
            n texts (``None`` entries allowed) for :meth:`keyword`.
        """
        ids, X = self._check_write(ids, vectors, metadata, texts)
        if texts is not None:
            bad = [i for i, t in enumerate(texts) if t is not None and not isinstance(t, str)]
            if bad:
                raise InvalidInputError(f"texts must be strings or None; entry {bad[0]} is {type(texts[bad[0]]).__name__}.")
        n = len(ids)
        if n == 0:
            self._connect()
            return
        norms = np.sqrt(np.einsum("ij,ij->i", X.astype(np.float64), X.astype(np.float64))) if self.metric == "dot" else None
        progress = _progress(n, "sqlite upsert")
        with self._txn("upsert", write=True) as conn:
            cols = (self._ensure_fields(conn, encode_frame(metadata)) if metadata is not None and len(metadata.columns)
                    else [])
            radius = 0.0
            if norms is not None:
                radius = float(_meta_dict(conn, self._where())["dot_radius"])
                top = float(norms.max())
                if top > radius:
                    have = conn.execute("SELECT count(*) FROM vecnb_items").fetchall()[0][0]
                    radius = top * (_DOT_GROWTH if have else 1.0)
                    conn.execute("UPDATE vecnb_meta SET value = ? WHERE key = 'dot_radius'", (repr(radius),))
                    if have:
                        self._rewrite_dot(conn, radius)
            item_sql = "INSERT OR REPLACE INTO vecnb_items(id{}) VALUES (?{})".format(
                "".join(f", {c}" for c, _ in cols), ", ?" * len(cols))
            for s in range(0, n, _CHUNK):
                e = min(n, s + _CHUNK)
                chunk_ids = ids[s:e].tolist()
                js = json.dumps(chunk_ids)
                conn.execute("DELETE FROM vecnb_vec WHERE rowid IN (SELECT value FROM json_each(?))", (js,))
                conn.execute("DELETE FROM vecnb_fts WHERE rowid IN (SELECT value FROM json_each(?))", (js,))
                block = X[s:e]
                if norms is not None:
                    extra = np.sqrt(np.maximum(radius * radius - norms[s:e] ** 2, 0.0)).astype(np.float32)
                    block = np.concatenate([block, extra[:, None]], axis=1)
                block = np.ascontiguousarray(block, dtype="<f4")
                conn.executemany("INSERT INTO vecnb_vec(rowid, embedding) VALUES (?, ?)",
                                 zip(chunk_ids, (r.tobytes() for r in block)))
                conn.executemany(item_sql, zip(chunk_ids, *(vals[s:e] for _, vals in cols)))
                if texts is not None:
                    conn.executemany("INSERT INTO vecnb_fts(rowid, text) VALUES (?, ?)",
                                     ((i, t) for i, t in zip(chunk_ids, texts[s:e]) if t is not None))
                if progress is not None:
                    progress.update(e - s)
        if progress is not None:
            progress.close()

    def _rewrite_dot(self, conn: apsw.Connection, radius: float) -> None:
        """Recompute the extra component of every stored row for a new ``dot_radius``."""
        d = self.dim
        last = None
        while True:
            if last is None:
                rows = conn.execute("SELECT rowid, embedding FROM vecnb_vec ORDER BY rowid LIMIT ?", (_CHUNK,)).fetchall()
            else:
                rows = conn.execute("SELECT rowid, embedding FROM vecnb_vec WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                    (last, _CHUNK)).fetchall()
            if not rows:
                return
            M = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), d + 1).copy()
            x = M[:, :d].astype(np.float64)
            M[:, d] = np.sqrt(np.maximum(radius * radius - np.einsum("ij,ij->i", x, x), 0.0))
            conn.executemany("UPDATE vecnb_vec SET embedding = ? WHERE rowid = ?",
                             ((row.tobytes(), r[0]) for row, r in zip(M, rows)))
            last = rows[-1][0]

    def delete(self, ids: np.ndarray) -> None:
        """Remove keys (vector, metadata, text); keys not in the store are ignored."""
        self._check_open()
        ids = np.unique(np.asarray(ids).reshape(-1))
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise InvalidInputError(f"ids must be integer keys, got dtype {ids.dtype}.")
        ids = ids.astype(np.int64)
        if len(ids) == 0:
            return
        with self._txn("delete", write=True) as conn:
            for s in range(0, len(ids), _CHUNK):
                js = json.dumps(ids[s:s + _CHUNK].tolist())
                for table, key in (("vecnb_vec", "rowid"), ("vecnb_fts", "rowid"), ("vecnb_items", "id")):
                    conn.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT value FROM json_each(?))", (js,))

    # ------------------------------------------------------------------ reads
    def __len__(self) -> int:
        with self._txn("len", write=False) as conn:
            return int(conn.execute("SELECT count(*) FROM vecnb_items").fetchall()[0][0])

    def search(self, vectors: np.ndarray, k: int, where: Node | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k for each query.

        Parameters
        ----------
        vectors : ndarray, shape (nq, dim)
        k : int
        where : filter tree, optional
            From :func:`vecnb.filters.parse`.

        Returns
        -------
        ids : ndarray, shape (nq, k), int64
            Keys best first, ``-1`` padding.
        scores : ndarray, shape (nq, k), float64
            vecnb scores (higher is closer), ``-inf`` padding.
        """
        Q = self._check_queries(vectors, k)
        k = self._width(k)
        if k == 0:
            return np.full((len(Q), 0), -1, dtype=np.int64), np.full((len(Q), 0), -np.inf, dtype=np.float64)
        node = None if where is None else encode_node(parse(where))
        if node is None and len(Q) == 1 and k + max(k, 10) <= KNN_MAX_K:
            # one unfiltered KNN statement: atomic on its own (a read snapshot of its own), so no
            # BEGIN / COMMIT around it -- the same single statement a hand-written query runs
            conn = self._connect()
            with self._lock:
                try:
                    got = None if self.metric == "dot" else self._knn_one(conn, Q[0], k)
                    if got is not None:
                        return got
                    ids = np.full((1, k), -1, dtype=np.int64)
                    scores = np.full((1, k), -np.inf, dtype=np.float64)
                    self._knn(conn, Q, k, "", [], ids, scores)
                except apsw.Error as exc:
                    raise self._wrap(exc, "search") from None
            return ids, scores
        ids = np.full((len(Q), k), -1, dtype=np.int64)
        scores = np.full((len(Q), k), -np.inf, dtype=np.float64)
        with self._txn("search", write=False) as conn:
            clause, params = self._filter_sql(conn, node)
            if k + max(k, 10) <= KNN_MAX_K and (not clause or _int32_keys(conn)):
                self._knn(conn, Q, k, clause, params, ids, scores)
            else:
                sql = "SELECT rowid, embedding FROM vecnb_vec" + (f" WHERE {clause}" if clause else "")
                rows = conn.execute(sql, params).fetchall()
                keys, X = self._unpack(rows)
                order = np.argsort(keys, kind="stable")  # position ties -> key order
                keys, X = keys[order], X[order]
                pos, sc = topk(X, Q, k, self.metric)
                for i in range(len(Q)):
                    m = min(k, len(keys))
                    ids[i, :m] = keys[pos[i, :m]]
                    scores[i, :m] = sc[i, :m]
        return ids, scores

    def _knn(self, conn: apsw.Connection, Q: np.ndarray, k: int, clause: str, params: list,
             ids: np.ndarray, scores: np.ndarray) -> None:
        """vec0 KNN for each query into rows of ``ids`` / ``scores`` (filled in place).

        ``k + max(k, 10)`` candidates are read. cosine / l2: sqlite-vec's float32 distance converts
        to the score (within ~1e-6), so only (rowid, distance) is read; dot searches an augmented
        L2 space, so its hits' vectors are read back and scored in float64.
        """
        fetch = k + max(k, 10)
        dot = self.metric == "dot"
        sql = (f"SELECT rowid, {'embedding' if dot else 'distance'} FROM vecnb_vec WHERE embedding MATCH ? AND k = ?"
               + (f" AND {clause}" if clause else ""))
        for i, q in enumerate(Q):
            qv = np.concatenate([q, [0.0]]) if dot else q
            rows = conn.execute(sql, (_blob(qv), fetch, *params)).fetchall()
            if dot:
                got, sc = self._rescore(rows, q, k)
            else:
                got, sc = self._from_distances(rows, k)
                if got is None:  # float32 near-ties among the hits: order them in float64
                    got, sc = self._rescore(self._vectors_of(conn, [r[0] for r in rows]), q, k)
            ids[i, :len(got)] = got
            scores[i, :len(got)] = sc

    def _knn_one(self, conn: apsw.Connection, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """One unfiltered cosine / l2 query as a hand-written one: the ``k + 1`` nearest (the extra row
        only to see a near-tie at the k-th place), keys and scores in plain Python over those few rows.

        None when two of those distances are within float32 noise (:data:`_NEAR_TIE`) or out of
        order: the caller then takes :meth:`_knn` (more candidates, re-scored in float64), so the
        answer is the one :meth:`_knn` gives in every case.
        """
        rows = conn.execute(self._knn1_sql, (_blob(q), k + 1)).fetchall()
        d = [r[1] for r in rows]
        prev = d[0] if d else 0.0
        for x in d[1:]:  # a plain loop: any() over a generator cost ~4 us more, run right after the scan
            if x - prev < _NEAR_TIE:
                return None
            prev = x
        m = min(k, len(rows))
        keys = [r[0] for r in rows[:m]]
        sc = [1.0 - x for x in d[:m]] if self.metric == "cosine" else [-x for x in d[:m]]
        if m < k:
            keys += [-1] * (k - m)
            sc += [-np.inf] * (k - m)
        return np.array([keys], dtype=np.int64), np.array([sc], dtype=np.float64)

    _knn1_sql = "SELECT rowid, distance FROM vecnb_vec WHERE embedding MATCH ? AND k = ?"

    def _unpack(self, rows: list) -> tuple[np.ndarray, np.ndarray]:
        keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return keys, np.empty((0, self.dim), np.float32)
        M = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), self._vec_dim)
        return keys, np.ascontiguousarray(M[:, : self.dim], dtype=np.float32)

    def _from_distances(self, rows: list, k: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Keys and scores from ``(rowid, distance)`` rows: best ``k``, ties by key.

        ``(None, None)`` when two of the first ``k + 1`` distances are within float32 noise of
        each other (1e-5), or out of order: their order in float64 may differ, so the caller
        re-scores exactly. Otherwise the KNN order (ascending distance) is the answer as it is.
        """
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        head = [r[1] for r in rows[: k + 1]]  # a few values: plain Python beats numpy's per-call cost
        if any(b - a < _NEAR_TIE for a, b in zip(head, head[1:])):
            return None, None
        keys = np.array([r[0] for r in rows[:k]], dtype=np.int64)
        return keys, scores_from_distances(np.array(head[:k], dtype=np.float64), self.metric)

    def _vectors_of(self, conn: apsw.Connection, keys: list[int]) -> list:
        """``(rowid, embedding)`` rows of ``keys`` (bound parameters, one statement)."""
        marks = ", ".join("?" * len(keys))
        return conn.execute(f"SELECT rowid, embedding FROM vecnb_vec WHERE rowid IN ({marks})", keys).fetchall()

    def _rescore(self, rows: list, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        keys, X = self._unpack(rows)
        if len(keys) == 0:
            return keys, np.empty(0, np.float64)
        s = exact_scores(X, q, self.metric)
        order = np.lexsort((keys, -s))[:k]
        return keys[order], s[order]

    def keyword(self, texts: list[str] | str, k: int, where: Node | None = None) -> tuple[np.ndarray, np.ndarray]:
        """BM25 keyword search (FTS5) over the texts given to :meth:`upsert`.

        Parameters
        ----------
        texts : list of str (nq,) or str
            Query texts; their words are OR-ed (FTS5 syntax in them has no effect).
        k : int
        where : filter tree, optional

        Returns
        -------
        ids : ndarray, shape (nq, k), int64
            Keys best first, ``-1`` padding (a query without words matches nothing).
        scores : ndarray, shape (nq, k), float64
            ``-bm25()``: higher is better, ``-inf`` padding.
        """
        self._check_open()
        if isinstance(texts, str):
            texts = [texts]
        k = self._width(k)
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise InvalidInputError(f"keyword queries must be strings; query {bad[0]} is {type(texts[bad[0]]).__name__}.")
        id_rows, score_rows = [], []
        with self._txn("keyword", write=False) as conn:
            clause, params = self._filter_sql(conn, where)
            sql = ("SELECT rowid, -bm25(vecnb_fts) FROM vecnb_fts WHERE vecnb_fts MATCH ?"
                   + (f" AND {clause}" if clause else "") + " ORDER BY rank, rowid LIMIT ?")
            for t in texts:
                expr = _fts_query(t)
                rows = conn.execute(sql, (expr, *params, int(k))).fetchall() if expr else []
                id_rows.append([r[0] for r in rows])
                score_rows.append([r[1] for r in rows])
        return pad_results(id_rows, score_rows, int(k))

    def fetch(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Read vectors back.

        Returns
        -------
        vectors : ndarray, shape (n, dim), float32
            Zeros where a key is missing.
        found : ndarray, shape (n,), bool
        """
        self._check_open()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        out = np.zeros((len(ids), self.dim), np.float32)
        found = np.zeros(len(ids), bool)
        if len(ids) == 0:
            return out, found
        where_pos: dict[int, list[int]] = {}
        for i, key in enumerate(ids.tolist()):
            where_pos.setdefault(key, []).append(i)
        with self._txn("fetch", write=False) as conn:
            uniq = list(where_pos)
            for s in range(0, len(uniq), _CHUNK):
                rows = conn.execute("SELECT rowid, embedding FROM vecnb_vec WHERE rowid IN "
                                    "(SELECT value FROM json_each(?))", (json.dumps(uniq[s:s + _CHUNK]),)).fetchall()
                keys, X = self._unpack(rows)
                for key, vec in zip(keys.tolist(), X):
                    for i in where_pos[key]:
                        out[i] = vec
                        found[i] = True
        return out, found

    def fetch_metadata(self, ids: np.ndarray) -> pd.DataFrame:
        """Metadata of ``ids``: one row per id, in order (missing values for unknown ids).

        Booleans come back as 0 / 1 and dates / datetimes as int nanoseconds since the epoch
        (UTC): the forms they are stored in, which filters compare the same way.
        """
        self._check_open()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        uniq = sorted(set(ids.tolist()))
        found: dict[int, dict] = {}
        with self._txn("fetch_metadata", write=False) as conn:
            fields = self._fields(conn)
            if fields and uniq:
                names = list(fields)
                cols = ", ".join(fields[n][0] for n in names)
                for s in range(0, len(uniq), _CHUNK):
                    for row in conn.execute(f"SELECT id, {cols} FROM vecnb_items WHERE id IN "
                                            "(SELECT value FROM json_each(?))", (json.dumps(uniq[s:s + _CHUNK]),)):
                        found[row[0]] = {n: v for n, v in zip(names, row[1:]) if v is not None}
        return records_frame([found.get(i) for i in ids.tolist()])

    def fetch_texts(self, ids: np.ndarray) -> list[str | None]:
        """The texts stored for ``ids`` (``None`` where a key has no text or is missing)."""
        self._check_open()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        found: dict[int, str] = {}
        uniq = sorted(set(ids.tolist()))
        with self._txn("fetch_texts", write=False) as conn:
            for s in range(0, len(uniq), _CHUNK):
                found.update(conn.execute("SELECT rowid, text FROM vecnb_fts WHERE rowid IN "
                                          "(SELECT value FROM json_each(?))", (json.dumps(uniq[s:s + _CHUNK]),)))
        return [found.get(i) for i in ids.tolist()]

    def iter_ids(self, batch_size: int = 1000) -> Iterator[np.ndarray]:
        """Yield the stored keys in ascending order, ``batch_size`` at a time (int64 arrays)."""
        self._check_open()
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
        last = None
        while True:
            with self._txn("iter_ids", write=False) as conn:
                if last is None:
                    rows = conn.execute("SELECT id FROM vecnb_items ORDER BY id LIMIT ?", (int(batch_size),)).fetchall()
                else:
                    rows = conn.execute("SELECT id FROM vecnb_items WHERE id > ? ORDER BY id LIMIT ?",
                                        (last, int(batch_size))).fetchall()
            if not rows:
                return
            batch = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            yield batch
            last = int(batch[-1])

    def fields(self) -> dict[str, str]:
        """Filterable metadata fields and their kinds (``num`` / ``text`` / ``mixed`` / ``none``)."""
        with self._txn("fields", write=False) as conn:
            return {name: kind for name, (_, kind) in self._fields(conn).items()}

    def info(self) -> dict[str, Any]:
        """What the store is and chose: kind, file, metric, versions, size."""
        conn = self._connect()
        with self._lock:
            vec_version = conn.execute("SELECT vec_version()").fetchall()[0][0]
            mode = conn.execute("PRAGMA journal_mode").fetchall()[0][0]
        size = os.path.getsize(self.path) if self.path not in ("", ":memory:") and os.path.exists(self.path) else None
        return {"store": self.name, "kind": "exact", "exact": True, "params": {"path": self._where(quote=False)},
                "index": "vec0 brute-force KNN", "metric": self.metric,
                "dim": self.dim, "path": self.path, "temporary": self._temp_dir is not None,
                "journal_mode": mode, "sqlite": apsw.sqlite_lib_version(), "sqlite_vec": vec_version,
                "format_version": FORMAT_VERSION, "file_bytes": size,
                "dot_reduction": "augmented l2 (MIPS)" if self.metric == "dot" else None}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> str:
        """Write a consistent copy of the whole store to one file (``VACUUM INTO``).

        ``path`` may be a file path or an existing folder (then ``store.sqlite`` inside it).
        An existing file is replaced atomically. Returns the file written.
        """
        target = os.fspath(Path(os.fspath(path)).expanduser())
        if os.path.isdir(target):
            target = os.path.join(target, "store.sqlite")
        if self.path not in ("", ":memory:") and os.path.exists(target) and os.path.samefile(target, self.path):
            raise InvalidInputError(f"save({target!r}) would overwrite the store's own file; choose another path.")
        tmp = f"{target}.tmp-{os.getpid()}-{threading.get_ident()}"
        conn = self._connect()
        with self._lock:
            try:
                conn.execute("VACUUM INTO ?", (tmp,))
            except apsw.Error as exc:
                if os.path.exists(tmp):
                    os.remove(tmp)
                raise self._wrap(exc, "save") from None
        os.replace(tmp, target)
        return target

    # ------------------------------------------------------------------ index record (vecnb.home)
    @property
    def keeps_home(self) -> bool:
        """Whether an index built here keeps its record in the file (a named file, not a temporary copy)."""
        return self.path not in ("", ":memory:") and self._temp_dir is None

    @classmethod
    def open_existing(cls, *, path: str | os.PathLike | None = None, timeout: float = 5.0,
                      tokenizer: str | None = None) -> SqliteStore | None:
        """The vecnb file at ``path`` opened in place, or None when there is no file (or it is empty)."""
        if path is None or str(path) == ":memory:":
            return None
        p = os.fspath(Path(os.fspath(path)).expanduser())
        if not os.path.exists(p) or (os.path.isfile(p) and os.path.getsize(p) == 0) or _no_tables(p, timeout):
            return None  # nothing yet (or another process is creating it right now: its lock decides)
        return cls.open(p, timeout=timeout)

    def locator(self) -> dict[str, Any]:
        return {"path": self.path}

    def home_read(self) -> list[tuple[int, bytes]]:
        """The index record's entries ``[(seq, payload)]`` in order (``[]`` when there is none)."""
        with self._txn("open", write=False) as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'vecnb_home'").fetchall():
                return []
            return [(int(a), bytes(b)) for a, b in conn.execute("SELECT seq, payload FROM vecnb_home ORDER BY seq")]

    #: :meth:`home_version` costs no I/O while no other connection has committed
    home_version_free: ClassVar[bool] = True

    def home_version(self) -> int | None:
        """The index record's last sequence number (None: no record). Free while no other connection
        committed to the file: ``PRAGMA data_version`` (no I/O) tells, else one indexed lookup."""
        conn = self._connect()
        with self._lock:
            try:
                dv = conn.execute("PRAGMA data_version").fetchall()[0][0]
                if dv == self._seen_dv and self._seen_seq is not None and self._depth == 0:
                    return self._seen_seq
                row = conn.execute("SELECT max(seq) FROM vecnb_home").fetchall()
            except apsw.SQLError:  # no record table (yet)
                return None
            except apsw.Error as exc:
                raise self._wrap(exc, "search") from None
            seq = row[0][0] if row else None
            if self._depth == 0:
                self._seen_dv, self._seen_seq = dv, seq
            return None if seq is None else int(seq)

    def home_append(self, seq: int, payload: bytes) -> None:
        """Append entry ``seq``; a :class:`StoreError` mentioning a conflict if another writer got there first."""
        with self._txn("write", write=True) as conn:
            conn.execute("INSERT INTO vecnb_home(seq, payload) SELECT ?, ? WHERE NOT EXISTS "
                         "(SELECT 1 FROM vecnb_home WHERE seq >= ?)", (int(seq), payload, int(seq)))
            if conn.changes() != 1:
                raise StoreError(f"write conflict on the index record of {self._where()}", store=self.name,
                                 operation="write")

    def home_reset(self, payloads: list[bytes], fresh: bool = False) -> int:
        """Replace the index record by ``payloads`` (one transaction); returns the last sequence number.
        ``fresh=True``: a conflict (:class:`StoreError`) when a record already exists."""
        with self._txn("write", write=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS vecnb_home(seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
            start = int(conn.execute("SELECT coalesce(max(seq), -1) + 1 FROM vecnb_home").fetchall()[0][0])
            if fresh and start:
                raise StoreError(f"write conflict: {self._where()} already holds an index record", store=self.name,
                                 operation="write")
            start = max(start, self._home_floor)
            conn.execute("DELETE FROM vecnb_home")
            conn.executemany("INSERT INTO vecnb_home(seq, payload) VALUES (?, ?)",
                             [(start + i, p) for i, p in enumerate(payloads)])
        return start + len(payloads) - 1

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Everything written inside (rows, index record) commits together or not at all."""
        with self._txn("write", write=True):
            yield

    def staging(self, *, dim: int, metric: str, kind: str, options: dict) -> SqliteStore:
        """A store that rebuilds this file in ONE transaction (``mode="replace"``): WAL readers see the old
        index until it commits, then the new one."""
        self.close()
        new = type(self)(dim=dim, metric=metric, kind=kind, **options)
        new._replacing = True
        return new

    @contextmanager
    def replacing(self) -> Iterator[None]:
        with self._txn("replace", write=True) as conn:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
                "('vecnb_meta', 'vecnb_items', 'vecnb_fields', 'vecnb_vec', 'vecnb_fts', 'vecnb_home')")]
            if "vecnb_home" in names:  # the new record's numbers continue after the old one's (readers tell)
                self._home_floor = int(conn.execute(
                    "SELECT coalesce(max(seq), -1) + 1 FROM vecnb_home").fetchall()[0][0])
            for name in names:  # fixed names from the list above, never user text
                conn.execute(f'DROP TABLE "{name}"')
            self._create_tables(conn)
            yield

    def take_place_of(self, old: SqliteStore) -> None:
        old.close()
        self._replacing = False

    def close(self) -> None:
        """Close the connection (and delete the temporary file when ``path`` was None)."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None
            if self._finalizer is not None:
                self._finalizer()
        super().close()

    def _state(self) -> str:
        if self._closed:
            return "closed"
        if self._conn is None:
            return "not opened yet"
        try:
            return f"{len(self)} vectors"
        except Exception:  # a locked file must not break repr
            return "unreadable now"

    def __repr__(self) -> str:
        return f"<SqliteStore metric={self.metric} dim={self.dim} path={self._where()} {self._state()}>"

    def _repr_html_(self) -> str:
        import html

        state = self._state()
        return ("<div><b>SqliteStore</b> (sqlite-vec + FTS5, exact search)<br>"
                f"file: <code>{html.escape(self._where())}</code><br>"
                f"metric: {html.escape(self.metric)} &middot; dim: {self.dim} &middot; {html.escape(state)}</div>")


# ------------------------------------------------------------------------------------------
def _rollback(conn: apsw.Connection, nested: bool = False) -> None:
    try:
        if nested:
            conn.execute("ROLLBACK TO vecnb_nested; RELEASE vecnb_nested")
        elif not conn.get_autocommit():
            conn.execute("ROLLBACK")
    except apsw.Error:  # pragma: no cover - the connection is already unusable
        pass


def _no_tables(path: str, timeout: float) -> bool:
    """Whether ``path`` is a SQLite database without any table yet (e.g. being created by another process)."""
    _check_header(path)
    try:
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error:
        return False  # let open() report what is wrong
    try:
        conn.set_busy_timeout(int(timeout * 1000))
        return not conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except apsw.Error:
        return False
    finally:
        conn.close()


def _check_header(path: str) -> None:
    """Refuse files that are not SQLite databases before SQLite touches them."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise IndexFormatError(f"{path!r} is a folder, not a SQLite file; pass a file path.") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path!r}: {exc}", store="sqlite", operation="open") from None
    if head and head != _SQLITE_MAGIC:
        raise IndexFormatError(f"{path!r} is not a SQLite database (unexpected header); vecnb will not touch it. "
                               "Choose another path.")


def _meta_dict(conn: apsw.Connection, where: str) -> dict[str, str]:
    try:
        return {k: v for k, v in conn.execute("SELECT key, value FROM vecnb_meta")}
    except apsw.SQLError:
        raise IndexFormatError(f"{where} is not a vecnb store (no vecnb_meta table).") from None


def _read_meta_readonly(path: str, timeout: float) -> dict[str, str]:
    _check_header(path)
    try:
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error as exc:
        raise IndexFormatError(f"cannot open {path!r} as a SQLite database: {exc}") from None
    try:
        conn.set_busy_timeout(int(timeout * 1000))
        meta = _meta_dict(conn, repr(path))
    except apsw.NotADBError:
        raise IndexFormatError(f"{path!r} is not a SQLite database; choose another path.") from None
    except (apsw.BusyError, apsw.LockedError):
        raise StoreError(f"{path!r} is locked by another process (waited {timeout:g} s); retry later.",
                         store="sqlite", operation="open") from None
    finally:
        conn.close()
    if meta.get("format") != FORMAT or "dim" not in meta or "metric" not in meta:
        raise IndexFormatError(f"{path!r} is a SQLite database but not a vecnb store.")
    try:
        resolve_metric(meta["metric"])
        int(meta["dim"])
    except Exception:
        raise IndexFormatError(f"{path!r}: vecnb_meta is damaged ({meta}).") from None
    return meta


def _balanced(parts: list[str], joiner: str) -> str:
    """``parts`` joined as a balanced tree of parentheses: depth log2(n), not n.

    SQLite parses ``a OR b OR c ...`` as a left-deep tree and refuses more than 1000 levels
    ("Expression tree is too large"), i.e. an ``$or`` of ~500 branches.
    """
    while len(parts) > 1:
        parts = ["(" + joiner.join(parts[i:i + 8]) + ")" for i in range(0, len(parts), 8)]
    return parts[0]


def _node_sql(node: Node, fields: dict[str, tuple[str, str]], params: list) -> str:
    if isinstance(node, (And, Or)):
        joiner = " AND " if isinstance(node, And) else " OR "
        return _balanced([_node_sql(c, fields, params) for c in node.children], joiner)
    if not isinstance(node, Cmp):  # pragma: no cover - parse() builds only these
        raise FilterError(f"where: unexpected node {node!r}")
    if node.field not in fields:
        return "0"  # a field no row has: every row's value is missing, which matches nothing
    col, kind = fields[node.field]
    value = node.value
    if node.op in ("$in", "$nin"):
        vals = [int(v) if isinstance(v, bool) else v for v in value]
        neg = "NOT " if node.op == "$nin" else ""
        if len(vals) > 50:
            params.append(json.dumps(vals))
            return f"({col} IS NOT NULL AND {col} {neg}IN (SELECT value FROM json_each(?)))"
        params.extend(vals)
        return f"({col} IS NOT NULL AND {col} {neg}IN ({', '.join('?' * len(vals))}))"
    sql_op = _OPS_SQL[node.op]
    if isinstance(value, bool):
        value = int(value)
    if node.op in ("$eq", "$ne"):
        params.append(value)
        return f"({col} IS NOT NULL AND {col} {sql_op} ?)"
    # ordering: numbers with numbers, text with text (pandas raises TypeError otherwise)
    is_text = isinstance(value, str)
    if kind == "mixed" or (kind == "text" and not is_text) or (kind == "num" and is_text):
        raise FilterError(
            f"where: cannot compare field {node.field!r} (holding {'text and numbers' if kind == 'mixed' else kind}) "
            f"{node.op} {node.value!r}. Compare numbers with numbers and text with text."
        )
    params.append(value)
    guard = "typeof({c}) = 'text'" if is_text else "typeof({c}) IN ('integer', 'real')"
    return f"({guard.format(c=col)} AND {col} {sql_op} ?)"


def _progress(n: int, desc: str):
    """A bar for writes of 50,000 rows or more, else None."""
    return progress_bar(n, desc, leave=False) if n >= 50_000 else None
