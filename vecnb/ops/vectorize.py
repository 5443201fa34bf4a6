"""Incremental vectorising of a large table (parquet files or a PostgreSQL table): :class:`IncrementalVectorizer`.

::

    vz = vecnb.IncrementalVectorizer("data/docs/", model="minilm", out="vectors/",
                                     id_column="doc_id", text_column="text", batch_size=256)
    report = vz.run()        # resumes after a crash; embeds only new / changed rows
    report.failed            # DataFrame: id, error, batch
    vz.read()                # DataFrame of the current generation's vectors
    vz.rollback()            # back to the previous generation's vectors

Batch by batch, with a checkpoint, retries and a progress bar (:mod:`vecnb.ops._common`).

Generations
-----------
Each :meth:`IncrementalVectorizer.run` builds a new *generation*. With a parquet ``out`` the
new generation is a new folder that readers do not see until it is committed (a one-file
pointer switch, ``CURRENT.json``); with a store ``out`` the store is written in place and an
*undo log* (the vectors each batch replaced) is kept instead. Either way the previous
generation stays available until the next run, so :meth:`~IncrementalVectorizer.rollback`
can always return to it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from vecnb._core.redaction import scrub
from vecnb.stores._server import redact_url
from vecnb.errors import (
    DimensionMismatchError,
    InvalidInputError,
    MissingDependencyError,
    StoreConnectionError,
    StoreError,
)
from vecnb.stores.base import VectorStore, supports
from vecnb.ops._common import (
    _NOT_RETRYABLE,
    Checkpoint,
    _atomic_write_bytes,
    _atomic_write_parquet,
    _check_retry_args,
    _html_table,
    json_default,
    _progress_bar,
    _short,
    call_with_retries,
)

__all__ = ["IncrementalVectorizer", "VectorizeReport"]


# ====================================================================== incremental vectorizer
@dataclass
class VectorizeReport:
    """What :meth:`IncrementalVectorizer.run` did.

    Attributes
    ----------
    generation : int
        The generation this run built.
    rows : int
        Source rows seen (by this call and, after a resume, by the interrupted one).
    embedded : int
        Rows sent to the model (new or changed text, or everything after a model change).
    reused : int
        Rows whose text and model were unchanged: their vector was kept.
    deleted : int
        Rows of the previous generation that are no longer in the source.
    failed : DataFrame
        ``id``, ``error``, ``batch`` of every row that has no new vector.
    committed : bool
        The generation is now the current one.
    resumed : bool
        This call continued an interrupted run.

    Examples
    --------
    >>> pd.DataFrame({"id": [1, 2], "text": ["red apple", None]}).to_parquet("r.parquet")
    >>> vz = vecnb.IncrementalVectorizer("r.parquet", model="hashing", out="rvecs", cache=False, progress=False)
    >>> rep = vz.run()
    >>> rep.generation, rep.embedded, rep.committed
    (1, 1, True)
    >>> rep.failed
       id         error  batch
    0   2  missing text      0
    """

    generation: int
    rows: int = 0
    embedded: int = 0
    reused: int = 0
    deleted: int = 0
    failed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["id", "error", "batch"]))
    committed: bool = False
    resumed: bool = False
    retries: int = 0
    seconds: float = 0.0

    def __repr__(self) -> str:
        return (f"VectorizeReport(generation={self.generation}, rows={self.rows:,}, embedded={self.embedded:,}, "
                f"reused={self.reused:,}, deleted={self.deleted:,}, failed={len(self.failed):,}, "
                f"committed={self.committed}, resumed={self.resumed}, {self.seconds:.2f} s)")

    def _repr_html_(self) -> str:
        rows = [("generation", self.generation), ("rows", f"{self.rows:,}"), ("embedded", f"{self.embedded:,}"),
                ("reused", f"{self.reused:,}"), ("deleted", f"{self.deleted:,}"), ("failed", f"{len(self.failed):,}"),
                ("committed", self.committed), ("resumed", self.resumed), ("retries", self.retries),
                ("seconds", f"{self.seconds:.2f}")]
        html = _html_table("vecnb vectorize run", rows)
        if len(self.failed):
            html += self.failed.head(20).to_html(index=False)
        return html


def _fsl(X: np.ndarray) -> Any:
    """An (n, d) float32 matrix as an Arrow ``fixed_size_list<float32>[d]`` array."""
    import pyarrow as pa

    X = np.ascontiguousarray(X, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1), type=pa.float32()), X.shape[1])


def _gen_name(g: int) -> str:
    return f"gen-{g:06d}"


def _parquet_files(source: Any) -> list[Path]:
    paths = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*.parquet") if not any(
                part.startswith((".", "_")) for part in q.relative_to(p).parts)))
        elif p.exists():
            files.append(p)
        else:
            raise InvalidInputError(f"Parquet source {str(p)!r} does not exist.")
    if not files:
        raise InvalidInputError(f"No .parquet files found in {source!r}.")
    return files


class _ParquetSource:
    """Rows (id, text) of parquet files, streamed with ``ParquetFile.iter_batches``.

    A position is ``[file number, row in file]``.
    """

    def __init__(self, source: Any, id_column: str, text_column: str):
        import pyarrow.parquet as pq

        self.files = _parquet_files(source)
        self.id_column, self.text_column = id_column, text_column
        for f in self.files:
            names = pq.ParquetFile(f).schema_arrow.names
            for c in (id_column, text_column):
                if c not in names:
                    raise InvalidInputError(
                        f"Parquet file {str(f)!r} has no column {c!r} (columns: {names[:20]}). "
                        "Pass id_column= and text_column= to name the id and text columns."
                    )

    def describe(self) -> str:
        return f"parquet ({len(self.files)} file{'s' if len(self.files) != 1 else ''})"

    def fingerprint(self) -> list:
        out = []
        for f in self.files:
            st = f.stat()
            out.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
        return out

    def total(self) -> int:
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    def batches(self, position: Any, batch_size: int) -> Iterator[tuple[list, list, Any]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        fi, row = (position or [0, 0])
        cols = [self.id_column, self.text_column]
        for i in range(int(fi), len(self.files)):
            start = int(row) if i == fi else 0
            pf = pq.ParquetFile(self.files[i])
            groups, base, first = [], 0, None
            for g in range(pf.num_row_groups):
                n = pf.metadata.row_group(g).num_rows
                if base + n > start:
                    groups.append(g)
                    first = base if first is None else first
                base += n
            if not groups:
                continue
            cur = first  # row number (in the file) of the next row iter_batches gives
            pending: list = []  # record batches not yet handed out, re-cut to exactly batch_size rows
            n_pending = 0
            for rb in pf.iter_batches(batch_size=batch_size, row_groups=groups, columns=cols):
                if cur + rb.num_rows <= start:
                    cur += rb.num_rows
                    continue
                if cur < start:
                    rb = rb.slice(start - cur)
                    cur = start
                cur += rb.num_rows
                pending.append(rb)
                n_pending += rb.num_rows
                while n_pending >= batch_size:
                    t = pa.Table.from_batches(pending)
                    head, rest = t.slice(0, batch_size), t.slice(batch_size)
                    pending, n_pending = rest.to_batches(), rest.num_rows
                    yield (head.column(0).to_pylist(), head.column(1).to_pylist(), [i, cur - n_pending])
            if n_pending:
                t = pa.Table.from_batches(pending)
                yield (t.column(0).to_pylist(), t.column(1).to_pylist(), [i, cur])

    def lookup(self, ids: list) -> dict:
        """Texts of ``ids`` (a dict id -> text; ids no longer in the source are absent)."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        want = set(ids)
        out: dict = {}
        for f in self.files:
            t = pq.read_table(f, columns=[self.id_column, self.text_column])
            col = t.column(0)
            mask = pc.is_in(col, value_set=pa.array(list(want), type=col.type))
            t = t.filter(mask)
            out.update(zip(t.column(0).to_pylist(), t.column(1).to_pylist()))
        return out


class _PostgresSource:
    """Rows (id, text) of a PostgreSQL table, read by keyset pagination on the id column.

    A position is the last id read; ``WHERE id > %s ORDER BY id LIMIT n`` makes each batch a
    cheap index range scan and a resume exact (the id column should be unique and indexed,
    e.g. the primary key).
    """

    def __init__(self, url: str, table: str, id_column: str, text_column: str, retries: int, backoff: float):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError.for_extra("Reading a PostgreSQL table", "pgvector", "psycopg") from exc
        if not table or not isinstance(table, str):
            raise InvalidInputError("A PostgreSQL source needs table='name' (or 'schema.name').")
        from psycopg.conninfo import conninfo_to_dict

        try:
            conninfo_to_dict(url)  # libpq quotes a malformed URL whole, password included: never show that
        except Exception as exc:  # noqa: BLE001 - psycopg raises ProgrammingError / ValueError
            raise InvalidInputError(
                f"The PostgreSQL source URL {redact_url(scrub(url, [url]))} is not valid: {scrub(exc, [url])}. "
                "Percent-encode special characters of the password (% -> %25, @ -> %40).") from None
        self.url, self.table = url, table
        self.id_column, self.text_column = id_column, text_column
        self.retries, self.backoff = retries, backoff
        self._conn = None

    def _sql(self, template: str) -> Any:
        from psycopg import sql

        return sql.SQL(template).format(
            id=sql.Identifier(self.id_column), text=sql.Identifier(self.text_column),
            table=sql.Identifier(*self.table.split(".")))

    def _run(self, query: Any, params: tuple = ()) -> list:
        import psycopg

        def go() -> list:
            if self._conn is None or self._conn.closed:
                try:
                    self._conn = psycopg.connect(self.url, autocommit=True)
                except psycopg.OperationalError as exc:
                    raise StoreConnectionError(f"cannot connect to PostgreSQL: {scrub(exc, [self.url])}",
                                               store="postgresql", operation="connect") from None
            try:
                return self._conn.execute(query, params).fetchall()
            except psycopg.OperationalError:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
                raise
            except psycopg.errors.UndefinedTable as exc:
                raise InvalidInputError(f"PostgreSQL has no table {self.table!r}: {exc}") from exc
            except psycopg.errors.UndefinedColumn as exc:
                raise InvalidInputError(
                    f"Table {self.table!r} lacks column {self.id_column!r} or {self.text_column!r}: {exc}") from exc

        return call_with_retries(go, retries=self.retries, backoff=self.backoff, what="read")

    def describe(self) -> str:
        return f"postgresql table {self.table}"

    def fingerprint(self) -> list:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(self.url)
        return [info.get("host"), str(info.get("port")), info.get("dbname"), self.table,
                self.id_column, self.text_column]

    def total(self) -> int:
        return int(self._run(self._sql("SELECT count(*) FROM {table}"))[0][0])

    def batches(self, position: Any, batch_size: int) -> Iterator[tuple[list, list, Any]]:
        after = position
        while True:
            if after is None:
                rows = self._run(self._sql("SELECT {id}, {text} FROM {table} ORDER BY {id} LIMIT %s"),
                                 (batch_size,))
            else:
                rows = self._run(self._sql(
                    "SELECT {id}, {text} FROM {table} WHERE {id} > %s ORDER BY {id} LIMIT %s"), (after, batch_size))
            if not rows:
                return
            ids = [r[0] for r in rows]
            if not isinstance(ids[-1], (int, str)):
                raise InvalidInputError(
                    f"The id column {self.id_column!r} holds {type(ids[-1]).__name__} values; the vectorizer needs "
                    "integer or text ids (cast it in a view, e.g. CREATE VIEW v AS SELECT id::text AS id, ...).")
            after = ids[-1]
            yield ids, [r[1] for r in rows], after
            if len(rows) < batch_size:
                return

    def lookup(self, ids: list) -> dict:
        rows = self._run(self._sql("SELECT {id}, {text} FROM {table} WHERE {id} = ANY(%s)"), (list(ids),))
        return {r[0]: r[1] for r in rows}

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


class _Generation:
    """The rows of one generation: ids, text hashes and where each row's part file is."""

    def __init__(self, folder: Path, with_vectors: bool):
        import pyarrow.parquet as pq

        self.folder = folder
        self.meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        import pyarrow as pa

        parts = sorted(folder.glob("part-*.parquet"))
        ids: list = []
        hashes: list = []
        where_part: list = []
        where_row: list = []
        self.parts = parts
        for pi, p in enumerate(parts):
            t = pq.read_table(p, columns=["id", "hash"])
            n = t.num_rows
            if not n:
                continue
            ids.append(t.column("id").combine_chunks())
            hashes.append(t.column("hash").to_numpy())
            where_part.append(np.full(n, pi, dtype=np.int32))
            where_row.append(np.arange(n, dtype=np.int64))
        # ids as one numpy array (int64 or object for text ids): about 8 bytes a row for integer ids
        self.ids = pd.Index(pa.chunked_array(ids).to_numpy() if ids else np.empty(0, np.int64))
        self.hashes = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
        self.part_of = np.concatenate(where_part) if where_part else np.empty(0, np.int32)
        self.row_of = np.concatenate(where_row) if where_row else np.empty(0, np.int64)
        self.with_vectors = with_vectors
        self._cache: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, ids: list) -> np.ndarray:
        if not len(self.ids):
            return np.full(len(ids), -1, dtype=np.int64)
        return self.ids.get_indexer(pd.Index(ids)) if self.ids.is_unique else \
            self.ids[~self.ids.duplicated(keep="last")].get_indexer(pd.Index(ids))

    def vectors(self, pos: np.ndarray) -> np.ndarray:
        """Vectors of the rows at ``pos`` (part-file reads, one part cached)."""
        import pyarrow.parquet as pq

        from vecnb._core.arrow import column_matrix

        out: np.ndarray | None = None
        parts = self.part_of[pos]
        for pi in np.unique(parts):
            if self._cache is None or self._cache[0] != pi:
                t = pq.read_table(self.parts[pi], columns=["vector"])
                X = column_matrix(t.column("vector").to_pandas(types_mapper=pd.ArrowDtype), name="vector")
                self._cache = (int(pi), X)
            X = self._cache[1]
            if out is None:
                out = np.empty((len(pos), X.shape[1]), dtype=np.float32)
            sel = parts == pi
            out[sel] = X[self.row_of[pos[sel]]]
        return out if out is not None else np.empty((0, 0), np.float32)


class _ParquetSink:
    """Generations as folders of parquet parts ``(id, hash, vector)`` under ``out``."""

    kind = "parquet"
    with_vectors = True

    def __init__(self, out: Path):
        self.out = Path(out)
        self.state_dir = self.out

    def describe(self) -> str:
        return f"parquet folder {str(self.out)!r}"

    def check_dim(self, dim: int | None) -> None:
        pass

    def write(self, folder: Path, part: str, ids: list, hashes: np.ndarray, X: np.ndarray | None,
              write_ids: list | None = None, write_X: np.ndarray | None = None) -> None:
        import pyarrow as pa


        cols = {"id": pa.array(ids), "hash": pa.array(hashes, type=pa.uint64())}
        if X is not None and len(ids):
            cols["vector"] = _fsl(X)
        _atomic_write_parquet(folder / f"part-{part}.parquet", pa.table(cols))

    def delete(self, folder: Path, ids: list, tag: str) -> None:  # absent rows are not in the new folder
        pass

    def undo(self, folder: Path) -> None:
        pass


class _StoreSink:
    """Vectors written into a store in place; the state folder keeps ``(id, hash)`` parts and an undo log."""

    kind = "store"
    with_vectors = False

    def __init__(self, store: Any, state_dir: Path, retries: int, backoff: float, on_retry: Callable):
        self.store = store
        self.state_dir = Path(state_dir)
        self.retries, self.backoff, self.on_retry = retries, backoff, on_retry
        self.can_undo = supports(store, "fetch")

    def describe(self) -> str:
        return f"store {getattr(self.store, 'name', type(self.store).__name__)!r}"

    def check_dim(self, dim: int | None) -> None:
        if dim is not None and int(dim) != int(self.store.dim):
            raise DimensionMismatchError(
                f"The model makes {dim}-d vectors but the output store holds {self.store.dim}-d vectors. After a "
                f"model change write to a new store created with dim={dim} (and swap it in when the run is done)."
            )

    def _keys(self, ids: list) -> np.ndarray:
        try:
            keys = np.asarray(ids, dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            raise InvalidInputError(
                "A store output needs integer ids (store keys are int64); write to a parquet folder, or to a "
                "VectorIndex, which maps any label to a key.") from None
        return keys

    def _save_undo(self, folder: Path, tag: str, keys: np.ndarray) -> None:
        if not self.can_undo or not len(keys):
            return
        import pyarrow as pa


        vecs, found = call_with_retries(lambda: self.store.fetch(keys), retries=self.retries,
                                        backoff=self.backoff, what="fetch", on_retry=self.on_retry)
        vecs = np.asarray(vecs, dtype=np.float32).reshape(len(keys), -1)
        table = pa.table({"id": pa.array(keys, type=pa.int64()), "existed": pa.array(np.asarray(found, bool)),
                          "vector": _fsl(vecs)})
        _atomic_write_parquet(folder / f"undo-{time.time_ns():020d}-{tag}.parquet", table)

    def write(self, folder: Path, part: str, ids: list, hashes: np.ndarray, X: np.ndarray | None,
              write_ids: list | None = None, write_X: np.ndarray | None = None) -> None:
        import pyarrow as pa

        if write_ids:
            keys = self._keys(write_ids)
            self._save_undo(folder, f"b{part}", keys)
            call_with_retries(lambda: self.store.upsert(keys, write_X), retries=self.retries,
                              backoff=self.backoff, what="write", on_retry=self.on_retry)
        _atomic_write_parquet(folder / f"part-{part}.parquet",
                              pa.table({"id": pa.array(ids), "hash": pa.array(hashes, type=pa.uint64())}))

    def delete(self, folder: Path, ids: list, tag: str) -> None:
        keys = self._keys(ids)
        self._save_undo(folder, tag, keys)
        call_with_retries(lambda: self.store.delete(keys), retries=self.retries, backoff=self.backoff,
                          what="delete", on_retry=self.on_retry)

    def undo(self, folder: Path) -> None:
        """Replay ``folder``'s undo log, newest first, so the earliest (true) old state wins."""
        import pyarrow.parquet as pq

        from vecnb._core.arrow import column_matrix

        logs = sorted(folder.glob("undo-*.parquet"), reverse=True)
        if not self.can_undo and any(folder.glob("part-*.parquet")):
            raise StoreError("this store cannot read vectors back (no fetch), so its previous vectors were not "
                             "kept; rebuild it instead", store=getattr(self.store, "name", None), operation="rollback")
        for log in logs:
            t = pq.read_table(log)
            keys = t.column("id").to_numpy()
            existed = t.column("existed").to_numpy(zero_copy_only=False).astype(bool)
            X = column_matrix(t.column("vector").to_pandas(types_mapper=pd.ArrowDtype), name="vector")
            if existed.any():
                self.store.upsert(keys[existed], X[existed])
            if (~existed).any():
                self.store.delete(keys[~existed])


class IncrementalVectorizer:
    """Embed a large table in batches: checkpointed, resumable, retrying, incremental, reversible.

    Parameters
    ----------
    source : path, list of paths, or PostgreSQL URL
        Parquet file(s) or a folder of them (read with ``pyarrow``, one batch at a time), or
        a ``postgresql://`` URL with ``table=`` (read by keyset pagination on ``id_column``).
    model : str, Embedder or callable
        The embedding model (as for ``df.vec.embed``).
    out : path or store
        A folder for parquet generations, or a vecnb store (the source ids must then be
        integers: they become the store keys).
    table : str, optional
        The PostgreSQL table (``"name"`` or ``"schema.name"``) when ``source`` is a URL.
    id_column, text_column : str
        The id (unique; integer or text) and text columns of the source.
    batch_size : int
        Rows per batch: per embedding call, per write and per checkpoint.
    checkpoint : path, optional
        The checkpoint file; default ``<out>/checkpoint.json`` for a folder. Required for a
        store ``out``: its state (text hashes, undo log) is kept beside it in
        ``<checkpoint>.state/``.
    retries, backoff : int, float
        A failing batch is tried again ``retries`` times after waits of ``backoff * 2**i``
        seconds; a batch that still fails is recorded (see :attr:`VectorizeReport.failed`)
        and the run goes on.
    missing : {"skip", "empty"}
        Rows with missing text are reported as failed (``"skip"``) or embedded as ``""``.
    cache : bool or path
        The on-disk embedding cache (as for ``df.vec.embed``).
    progress : bool
        Show a ``tqdm.auto`` progress bar.

    Notes
    -----
    *Incremental*: a row whose text hash and model are the same as in the previous
    generation keeps its vector; only new and edited rows are embedded, rows gone from the
    source are dropped (deleted from a store ``out``). A model change re-embeds everything.

    *Resumable*: the checkpoint records the source position after every batch. Running
    again after a crash continues from there; the batch that was in flight is written
    again (a part file is replaced, a store upsert is idempotent), so nothing is doubled.

    *Reversible*: see :meth:`commit` and :meth:`rollback`.

    Examples
    --------
    Embed a parquet table into a folder of generations, then run again after an edit: only the
    edited row is embedded, and the change can be rolled back:

    >>> src = pd.DataFrame({"id": [1, 2, 3], "text": ["red apple", "green pear", "blue sky"]})
    >>> src.to_parquet("table.parquet")
    >>> vz = vecnb.IncrementalVectorizer("table.parquet", model="hashing", out="vectors", batch_size=2,
    ...                                  cache=False, progress=False)
    >>> rep = vz.run()
    >>> rep.embedded, vz.generation
    (3, 1)
    >>> src.assign(text=["red apple", "green pear", "grey sky"]).to_parquet("table.parquet")
    >>> vz.run().embedded, vz.generation
    (1, 2)
    >>> vz.read().shape, len(vz.failures())
    ((3, 1), 0)
    >>> vz.rollback()
    1
    >>> found = vz.attach(src.set_index("id")).vec.search("sky", k=1)
    >>> found.index.tolist(), vz.state_dir.name
    ([3], 'vectors')
    >>> vz.close()
    """

    def __init__(
        self,
        source: Any,
        model: Any = "minilm",
        out: Any = None,
        *,
        table: str | None = None,
        id_column: str = "id",
        text_column: str = "text",
        batch_size: int = 256,
        checkpoint: str | os.PathLike | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        missing: str = "skip",
        cache: Any = True,
        progress: bool = True,
    ):
        _check_retry_args(retries, backoff, batch_size)
        if missing not in ("skip", "empty"):
            raise InvalidInputError(f"missing must be 'skip' or 'empty', got {missing!r}.")
        if out is None:
            raise InvalidInputError("IncrementalVectorizer needs out=: a folder for parquet files, or a vecnb store.")
        self.model = model
        self.id_column, self.text_column = id_column, text_column
        self.batch_size, self.retries, self.backoff = int(batch_size), int(retries), float(backoff)
        self.missing, self.cache, self.progress = missing, cache, progress
        self._retries_seen = 0
        if isinstance(source, str) and source.startswith(("postgresql://", "postgres://")):
            self.source: Any = _PostgresSource(source, table, id_column, text_column, self.retries, self.backoff)
        else:
            if table is not None:
                raise InvalidInputError("table= is only for a PostgreSQL source (a postgresql:// URL).")
            self.source = _ParquetSource(source, id_column, text_column)
        if isinstance(out, (str, os.PathLike)):
            self.sink: Any = _ParquetSink(Path(out))
            self._checkpoint = Checkpoint(checkpoint if checkpoint is not None else Path(out) / "checkpoint.json")
        else:
            from vecnb.index import VectorIndex

            if isinstance(out, VectorIndex):
                raise InvalidInputError(
                    "out= takes a folder or a store, not a VectorIndex (whose rows are labelled DataFrame rows). "
                    "Vectorize into a folder and build the index from vz.read(), or pass the index's store.")
            store = out
            if not isinstance(store, VectorStore):  # the core protocol: upsert, delete, search, len, close
                raise InvalidInputError(f"out must be a folder path or a vecnb store, got {type(out).__name__}.")
            if checkpoint is None:
                raise InvalidInputError(
                    "Writing to a store needs checkpoint='path/to/run.json': progress, text hashes and the "
                    "previous vectors (for rollback) are kept there.")
            cp = Path(checkpoint)
            self.sink = _StoreSink(store, cp.with_name(cp.name + ".state"), self.retries, self.backoff,
                                   self._note_retry)
            self._checkpoint = Checkpoint(cp)
        self._emb = None

    # ------------------------------------------------------------------ state
    @property
    def state_dir(self) -> Path:
        """Where generations (and, for a store, the undo log) are kept."""
        return self.sink.state_dir

    def _pointer(self) -> dict:
        p = self.state_dir / "CURRENT.json"
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"current": None, "previous": None}

    def _set_pointer(self, current: int | None, previous: int | None) -> None:
        _atomic_write_bytes(self.state_dir / "CURRENT.json",
                            json.dumps({"current": current, "previous": previous}).encode())

    def _folder(self, g: int) -> Path:
        return self.state_dir / _gen_name(g)

    @property
    def generation(self) -> int | None:
        """The current (committed) generation, or ``None`` before the first commit."""
        return self._pointer()["current"]

    def _embedder(self) -> Any:
        if self._emb is None:
            from vecnb.embed import get_embedder

            self._emb = get_embedder(self.model)
        return self._emb

    def _note_retry(self, attempt: int, exc: BaseException, delay: float) -> None:
        self._retries_seen += 1
        warnings.warn(f"IncrementalVectorizer: {_short(exc)}; retry {attempt}/{self.retries} in {delay:.2f} s",
                      stacklevel=3)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.state_dir / ".lock", "a+")
        try:
            try:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # pragma: no cover - not POSIX
                pass
            except OSError:
                raise InvalidInputError(
                    f"Another process is running a vectorizer on {str(self.state_dir)!r}; wait for it to finish."
                ) from None
            yield
        finally:
            fh.close()

    # ------------------------------------------------------------------ run
    def run(self, *, commit: bool | str = "auto") -> VectorizeReport:
        """Embed the source into a new generation (or resume / finish the pending one).

        Parameters
        ----------
        commit : {"auto", True, False}
            Make the generation current when the run ends: ``"auto"`` when no batch failed
            (rows with missing text do not count), ``True`` always, ``False`` never (call
            :meth:`commit` yourself).

        Returns
        -------
        VectorizeReport

        Notes
        -----
        Calling :meth:`run` again after a run that left failed batches retries only those
        rows (re-read from the source by id).
        """
        if commit not in ("auto", True, False):
            raise InvalidInputError(f"commit must be 'auto', True or False, got {commit!r}.")
        t0 = time.perf_counter()
        self._retries_seen = 0
        with self._lock():
            report = self._run(commit)
        report.retries = self._retries_seen
        report.seconds = time.perf_counter() - t0
        return report

    def _new_state(self, emb: Any, pointer: dict) -> dict:
        base = pointer["current"]
        g = max([x for x in (pointer["current"], pointer["previous"]) if x is not None] +
                [int(p.name[4:]) for p in self.state_dir.glob("gen-*") if p.name[4:].isdigit()] + [0]) + 1
        # a new run: the generation before the current one is no longer reachable
        if pointer["previous"] is not None:
            shutil.rmtree(self._folder(pointer["previous"]), ignore_errors=True)
            self._set_pointer(pointer["current"], None)
        if base is not None and self.sink.kind == "store":
            for log in self._folder(base).glob("undo-*.parquet"):
                log.unlink()
        folder = self._folder(g)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        meta = {"generation": g, "model": _spec(emb), "model_id": emb.model_id, "dim": emb.dim,
                "id_column": self.id_column, "text_column": self.text_column, "created": time.time(),
                "source": self.source.describe(), "out": self.sink.describe()}
        _atomic_write_bytes(folder / "meta.json", json.dumps(meta, default=json_default).encode())
        return {"kind": "vecnb.vectorize", "version": 1, "generation": g, "base": base,
                "model_id": emb.model_id, "source": self.source.fingerprint(), "sink": self.sink.kind,
                "position": None, "batches": 0, "status": "running", "failed_batches": [],
                "rows": {"seen": 0, "embedded": 0, "reused": 0, "deleted": 0}}

    def _run(self, commit: bool | str) -> VectorizeReport:
        emb = self._embedder()
        self.sink.check_dim(emb.dim)
        pointer = self._pointer()
        state = self._checkpoint.load()
        resumed = False
        if state is not None and state.get("kind") != "vecnb.vectorize":
            raise InvalidInputError(f"Checkpoint {str(self._checkpoint.path)!r} was not written by a vectorizer; "
                                    "pass another checkpoint path.")
        if state is not None and state.get("generation") == pointer["current"]:
            state = None  # that run was committed: start the next generation
        if state is not None and not self._folder(state["generation"]).exists():
            state = None
        if state is not None and (state.get("model_id") != emb.model_id or state.get("source") != self.source.fingerprint()):
            if state.get("status") != "complete":
                warnings.warn("IncrementalVectorizer: the model or the source changed since the interrupted run; "
                              "discarding it and starting a new generation.", stacklevel=3)
            self._discard(state["generation"])
            state = None
            pointer = self._pointer()
        if state is None:
            state = self._new_state(emb, pointer)
            self._checkpoint.save(state)
        else:
            resumed = True
        g = state["generation"]
        folder = self._folder(g)
        base = state.get("base")
        prev = _Generation(self._folder(base), self.sink.with_vectors) if base is not None and \
            self._folder(base).exists() else None
        reuse_ok = prev is not None and prev.meta.get("model_id") == emb.model_id

        if state["status"] == "running":
            self._embed_pass(state, folder, prev if reuse_ok else None, emb)
            state["status"] = "deleting"
            self._checkpoint.save(state)
        if state["status"] == "deleting":
            state["rows"]["deleted"] = self._delete_pass(folder, prev, state)
            state["status"] = "complete"
            self._checkpoint.save(state)
        elif state["status"] == "complete" and state["failed_batches"]:
            self._retry_failed(state, folder, prev if reuse_ok else None, emb)
            self._checkpoint.save(state)

        failed = self._failures(folder)
        retryable = bool(len(failed) and (~failed["missing"]).any())
        do_commit = commit is True or (commit == "auto" and not retryable)
        if do_commit:
            self._commit_generation(g, base)
        if retryable and commit == "auto":
            warnings.warn(f"IncrementalVectorizer: {int((~failed['missing']).sum())} rows failed (see report.failed); "
                          "the generation is not committed. run() again to retry them, commit() to accept it as is, "
                          "or rollback() to discard it.", stacklevel=3)
        return VectorizeReport(generation=g, rows=state["rows"]["seen"], embedded=state["rows"]["embedded"],
                               reused=state["rows"]["reused"], deleted=state["rows"]["deleted"],
                               failed=failed.drop(columns="missing").reset_index(drop=True),
                               committed=do_commit, resumed=resumed)

    def _process(self, folder: Path, b: int, ids: list, texts: list, prev: _Generation | None,
                 emb: Any, part: str | None = None) -> tuple[int, int, pd.DataFrame | None]:
        """Embed and write batch ``b`` (files ``part-<part>`` / ``failed-<part>``); returns (embedded, reused, failures)."""
        part = part or f"{b:06d}"
        from vecnb.frame.hashing import hash_texts

        n = len(ids)
        is_missing = np.array([t is None or (isinstance(t, float) and np.isnan(t)) for t in texts], dtype=bool)
        if self.missing == "empty":
            texts = ["" if m else t for t, m in zip(texts, is_missing.tolist())]
            is_missing[:] = False
        bad_type = [i for i, t in enumerate(texts) if not is_missing[i] and not isinstance(t, str)]
        if bad_type:
            raise InvalidInputError(
                f"The text column {self.text_column!r} holds non-text values ({type(texts[bad_type[0]]).__name__} "
                f"for id {ids[bad_type[0]]!r}); cast it to text first.")
        ok = ~is_missing
        hashes = np.zeros(n, dtype=np.uint64)
        hashes[ok] = hash_texts([t for t, k in zip(texts, ok.tolist()) if k])
        have = np.zeros(n, dtype=bool)
        pos = np.full(n, -1, dtype=np.int64)
        if prev is not None:
            pos = prev.positions(ids)
            found = pos >= 0
            have[found] = prev.hashes[pos[found]] == hashes[found]
            have &= ok
        todo = np.flatnonzero(ok & ~have)
        failures = []
        if is_missing.any():
            failures.append(pd.DataFrame({"id": [ids[i] for i in np.flatnonzero(is_missing)],
                                          "error": "missing text", "missing": True}))
        X_new = None
        if len(todo):
            X_new, ok_rows, errs = self._embed_isolating(emb, texts, todo)
            if errs:
                failures.append(pd.DataFrame({"id": [ids[i] for i, _ in errs], "error": [e for _, e in errs],
                                              "missing": False}))
            todo = ok_rows
        written = np.flatnonzero(have)
        if self.sink.with_vectors:
            keep = np.sort(np.concatenate([written, todo]))
            X = None
            if len(keep):
                Xr = prev.vectors(pos[written]) if len(written) else None
                d = Xr.shape[1] if Xr is not None else X_new.shape[1]
                X = np.empty((len(keep), d), np.float32)
                if Xr is not None:
                    X[np.searchsorted(keep, written)] = Xr
                if len(todo):
                    X[np.searchsorted(keep, todo)] = X_new
            self.sink.write(folder, part, [ids[i] for i in keep], hashes[keep], X)
        else:
            keep = np.sort(np.concatenate([written, todo]))
            try:
                self.sink.write(folder, part, [ids[i] for i in keep], hashes[keep], None,
                                write_ids=[ids[i] for i in todo] if len(todo) else None, write_X=X_new)
            except _NOT_RETRYABLE:
                raise
            except Exception as exc:
                failures.append(pd.DataFrame({"id": [ids[i] for i in todo], "error": _short(exc), "missing": False}))
                keep = np.sort(written)
                self.sink.write(folder, part, [ids[i] for i in keep], hashes[keep], None)
                todo = np.empty(0, dtype=np.int64)
        fail = pd.concat(failures, ignore_index=True) if failures else None
        fpath = folder / f"failed-{part}.parquet"
        if fail is not None:
            import pyarrow as pa

            fail = fail.assign(batch=b)
            _atomic_write_parquet(fpath, pa.Table.from_pandas(fail, preserve_index=False))
        else:
            with contextlib.suppress(FileNotFoundError):
                fpath.unlink()
        return len(todo), len(written), fail

    def _embed_isolating(self, emb: Any, texts: list, todo: np.ndarray
                         ) -> tuple[np.ndarray | None, np.ndarray, list[tuple[int, str]]]:
        """Embed rows ``todo`` of ``texts``; on a failure that retries do not cure, find the bad rows.

        The failing set is split in halves (each tried once); a half that works is kept, a
        half that fails is split again. When both halves of a set fail (a model server that
        is down, not a poison row), the search stops and the whole set is reported, so an
        outage costs two extra calls, not one per row.

        Returns
        -------
        X : ndarray (m, d) or None
            Vectors of the rows that worked, in the order of ``ok``.
        ok : ndarray (m,) int
            Positions (into ``texts``) that got a vector, ascending.
        errors : list of (position, message)
        """
        from vecnb.embed import embed_texts

        def embed(pos: np.ndarray) -> np.ndarray:
            X = np.asarray(embed_texts(emb, [texts[i] for i in pos], progress=False, cache=self.cache),
                           dtype=np.float32)
            self.sink.check_dim(X.shape[1])
            return X

        try:
            X = call_with_retries(lambda: embed(todo), retries=self.retries, backoff=self.backoff,
                                  what="embed", on_retry=self._note_retry)
            return X, todo, []
        except _NOT_RETRYABLE:
            raise
        except Exception as exc:
            first = exc
        done: list[tuple[np.ndarray, np.ndarray]] = []
        errs: list[tuple[int, str]] = []
        pending = [(todo, first)]
        while pending:
            pos, exc = pending.pop()
            if len(pos) == 1:
                errs.append((int(pos[0]), _short(exc)))
                continue
            failed = []
            for half in (pos[: len(pos) // 2], pos[len(pos) // 2:]):
                try:
                    done.append((half, embed(half)))
                except _NOT_RETRYABLE:
                    raise
                except Exception as e:
                    failed.append((half, e))
            if len(failed) == 2:  # both halves fail: not one bad row; report them all
                errs.extend((int(i), _short(e)) for half, e in failed for i in half)
            else:
                pending.extend(failed)
        if not done:
            return None, np.empty(0, dtype=np.int64), sorted(errs)
        ok = np.concatenate([p for p, _ in done])
        X = np.concatenate([x for _, x in done])
        order = np.argsort(ok, kind="stable")
        return X[order], ok[order], sorted(errs)

    def _embed_pass(self, state: dict, folder: Path, prev: _Generation | None, emb: Any) -> None:
        b0 = int(state["batches"])
        # parts of batches the checkpoint does not count were written by the interrupted call: redo them
        for p in list(folder.glob("part-*.parquet")) + list(folder.glob("failed-*.parquet")):
            if int(p.stem.split("-")[1]) >= b0:
                p.unlink()
        total = None
        with contextlib.suppress(Exception):
            total = self.source.total()
        bar = _progress_bar(total, state["rows"]["seen"], f"vectorize -> {self.sink.describe()}", self.progress)
        try:
            b = b0
            for ids, texts, nxt in self.source.batches(state["position"], self.batch_size):
                n_emb, n_reuse, fail = self._process(folder, b, ids, texts, prev, emb)
                if fail is not None and (~fail["missing"]).any():
                    state["failed_batches"].append(b)
                state["rows"]["seen"] += len(ids)
                state["rows"]["embedded"] += n_emb
                state["rows"]["reused"] += n_reuse
                b += 1
                state["batches"] = b
                state["position"] = nxt
                self._checkpoint.save(state)
                bar.update(len(ids))
        finally:
            bar.close()

    def _retry_failed(self, state: dict, folder: Path, prev: _Generation | None, emb: Any) -> None:
        import pyarrow.parquet as pq

        still = []
        todo = []
        for b in state["failed_batches"]:
            fpath = folder / f"failed-{b:06d}.parquet"
            if fpath.exists():
                failed = pq.read_table(fpath).to_pandas()
                todo.append((b, fpath, failed, failed.loc[~failed["missing"], "id"].tolist()))
        # one pass over the source for every failed row
        texts = self.source.lookup([i for *_, ids in todo for i in ids]) if todo else {}
        for b, fpath, failed, retry_ids in todo:
            ids = [i for i in retry_ids if i in texts]
            # rows already written for this batch stay; the retry adds the others in a part beside it
            n_emb, n_reuse, fail = self._process(folder, b, ids, [texts[i] for i in ids], prev, emb,
                                                 part=f"{b:06d}-r")
            state["rows"]["embedded"] += n_emb
            state["rows"]["reused"] += n_reuse
            keep = failed[failed["missing"]]
            if fail is not None:
                (folder / f"failed-{b:06d}-r.parquet").unlink()
                keep = pd.concat([keep, fail.drop(columns="batch").assign(batch=b)], ignore_index=True)
            if len(keep):
                import pyarrow as pa

                _atomic_write_parquet(fpath, pa.Table.from_pandas(keep.assign(batch=b), preserve_index=False))
            else:
                fpath.unlink()
            if fail is not None and (~fail["missing"]).any():
                still.append(b)
        state["failed_batches"] = still

    def _delete_pass(self, folder: Path, prev: _Generation | None, state: dict) -> int:
        """Rows of the previous generation that the source no longer has (deleted from a store)."""
        if prev is None or not len(prev):
            return 0
        import pyarrow.parquet as pq

        seen: list = []
        for p in list(folder.glob("part-*.parquet")) + list(folder.glob("failed-*.parquet")):
            seen.extend(pq.read_table(p, columns=["id"]).column("id").to_pylist())
        gone = prev.ids[~prev.ids.isin(pd.Index(seen))].tolist()
        if self.sink.kind == "store":
            for j in range(0, len(gone), self.batch_size):
                self.sink.delete(folder, gone[j: j + self.batch_size], f"del{j // self.batch_size:06d}")
        return len(gone)

    def _failures(self, folder: Path) -> pd.DataFrame:
        import pyarrow.parquet as pq

        parts = [pq.read_table(p).to_pandas() for p in sorted(folder.glob("failed-*.parquet"))]
        if not parts:
            return pd.DataFrame({"id": pd.Series([], dtype=object), "error": pd.Series([], dtype=object),
                                 "batch": pd.Series([], dtype=np.int64), "missing": pd.Series([], dtype=bool)})
        return pd.concat(parts, ignore_index=True)[["id", "error", "batch", "missing"]]

    # ------------------------------------------------------------------ commit / rollback
    def _commit_generation(self, g: int, base: int | None) -> None:
        pointer = self._pointer()
        if pointer["current"] == g:
            return
        self._set_pointer(g, base)

    def _discard(self, g: int) -> None:
        folder = self._folder(g)
        if self.sink.kind == "store" and folder.exists():
            self.sink.undo(folder)
        shutil.rmtree(folder, ignore_errors=True)
        self._checkpoint.clear()

    def commit(self) -> int:
        """Make the pending generation current (its failed rows stay without a new vector).

        Returns
        -------
        int
            The generation now current.

        Examples
        --------
        >>> pd.DataFrame({"id": [1, 2], "text": ["red apple", "green pear"]}).to_parquet("t.parquet")
        >>> vz = vecnb.IncrementalVectorizer("t.parquet", model="hashing", out="vecs", cache=False, progress=False)
        >>> vz.run(commit=False).embedded, vz.generation
        (2, None)
        >>> vz.commit()
        1
        """
        with self._lock():
            state = self._checkpoint.load()
            pointer = self._pointer()
            if state is None or state.get("generation") == pointer["current"]:
                if pointer["current"] is None:
                    raise InvalidInputError("Nothing to commit: run() has not built a generation yet.")
                return pointer["current"]
            if state.get("status") != "complete":
                raise InvalidInputError(
                    f"Generation {state['generation']} is not finished (the run was interrupted); run() again to "
                    "finish it, or rollback() to discard it.")
            self._commit_generation(state["generation"], state.get("base"))
            return state["generation"]

    def rollback(self) -> int | None:
        """Return to the previous vectors.

        Discards the pending generation if there is one (finished or interrupted), else the
        current one, making the previous generation current again. With a store ``out``
        the replaced vectors are written back and rows the run added are deleted.

        Returns
        -------
        int or None
            The generation now current (``None`` if there is none left).

        Raises
        ------
        InvalidInputError
            There is no generation to roll back to.
        """
        with self._lock():
            state = self._checkpoint.load()
            pointer = self._pointer()
            if state is not None and state.get("generation") not in (None, pointer["current"]) and \
                    self._folder(state["generation"]).exists():
                self._discard(state["generation"])
                return pointer["current"]
            cur, prev = pointer["current"], pointer["previous"]
            if cur is None:
                raise InvalidInputError("Nothing to roll back: no generation has been built.")
            if prev is None and self.sink.kind == "parquet":
                raise InvalidInputError(
                    f"Generation {cur} has no previous generation to return to (only one generation is kept "
                    "before each run).")
            if self.sink.kind == "store" and not any(self._folder(cur).glob("undo-*.parquet")) and prev is None:
                raise InvalidInputError(f"Generation {cur} has no previous vectors to return to.")
            self._discard(cur)
            self._set_pointer(prev, None)
            return prev

    # ------------------------------------------------------------------ reading
    def failures(self) -> pd.DataFrame:
        """Rows of the latest run that have no new vector: ``id``, ``error``, ``batch``."""
        state = self._checkpoint.load()
        g = state["generation"] if state else self._pointer()["current"]
        if g is None:
            return self._failures(self.state_dir / "none").drop(columns="missing")
        return self._failures(self._folder(g)).drop(columns="missing").reset_index(drop=True)

    def read(self, generation: int | None = None) -> pd.DataFrame:
        """The vectors of the current (or the given) generation of a parquet ``out``.

        Returns
        -------
        DataFrame
            Indexed by the source ids (named ``id_column``), with one embedding column
            ``f"{text_column}_vec"`` (``fixed_size_list<float32>[d]``) that records the model
            and the text hashes. To put the vectors beside their text, use :meth:`attach`.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        from vecnb.frame.columns import ColumnInfo, set_info

        if self.sink.kind != "parquet":
            raise InvalidInputError("read() is for a parquet out; the vectors are in the store you passed.")
        g = self._pointer()["current"] if generation is None else generation
        if g is None or not self._folder(g).exists():
            raise InvalidInputError("No committed generation yet: run() first (or pass generation=).")
        folder = self._folder(g)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        parts = sorted(folder.glob("part-*.parquet"))
        tables = [pq.read_table(p) for p in parts if pq.ParquetFile(p).metadata.num_rows]
        name = f"{self.text_column}_vec"
        if not tables:
            return pd.DataFrame({name: []}, index=pd.Index([], name=self.id_column))
        t = pa.concat_tables(tables)
        ids = pd.Index(t.column("id").to_pylist(), name=self.id_column)
        vec = pd.arrays.ArrowExtensionArray(t.column("vector").combine_chunks())
        df = pd.DataFrame({name: vec}, index=ids)
        hashes = t.column("hash").to_numpy()
        from vecnb.frame.hashing import _encode_labels

        dim = meta.get("dim") or vec.dtype.pyarrow_dtype.list_size
        set_info(df, name, ColumnInfo(
            dim=int(dim), source=self.text_column, model=meta.get("model"), model_id=meta.get("model_id"),
            normalized=bool(getattr(self._embedder(), "normalized", False)),
            hashes={"algo": "blake2b-64", "labels": _encode_labels(ids),
                    "data": base64.b64encode(np.ascontiguousarray(hashes, np.uint64).tobytes()).decode()}))
        return df

    def attach(self, df: pd.DataFrame, generation: int | None = None) -> pd.DataFrame:
        """``df`` (indexed by the source ids) with the current vectors as its embedding column.

        The column records the model and the text hashes, so the result can be searched
        (``.vec.search("text")``), indexed, and checked with ``.vec.stale(...)``. Rows without
        a vector (new since the run, or failed) hold a missing value and show as stale.

        Returns
        -------
        DataFrame
            A new frame; ``df`` is not changed.
        """
        from vecnb.frame.columns import get_info, set_info

        v = self.read(generation)
        name = v.columns[0]
        out = df.copy(deep=False)
        out[name] = v[name].reindex(out.index)
        set_info(out, name, get_info(v, name))
        return out

    def close(self) -> None:
        """Close the source connection (PostgreSQL)."""
        if hasattr(self.source, "close"):
            self.source.close()

    def __repr__(self) -> str:
        return (f"IncrementalVectorizer({self.source.describe()} -> {self.sink.describe()}, "
                f"generation={self.generation}, batch_size={self.batch_size})")

    def _repr_html_(self) -> str:
        state = self._checkpoint.load() or {}
        rows = [("source", self.source.describe()), ("out", self.sink.describe()),
                ("current generation", self.generation), ("pending", state.get("generation")
                                                          if state.get("generation") != self.generation else None),
                ("status", state.get("status")), ("batch size", self.batch_size),
                ("checkpoint", str(self._checkpoint.path))]
        return _html_table("vecnb IncrementalVectorizer", rows)


def _spec(emb: Any) -> Any:
    try:
        spec = emb.spec()
        json.dumps(spec)
        return spec
    except Exception:
        return None
