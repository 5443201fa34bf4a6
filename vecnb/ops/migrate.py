"""Streaming, resumable, retrying copies of vectors between stores / indexes: :func:`migrate`.

Works batch by batch and never holds more than one batch of vectors in memory, records its
progress in a **checkpoint** (a small JSON file replaced atomically as batches complete),
resumes from it after the process was killed, retries a failing batch with exponential
backoff, and shows a ``tqdm.auto`` progress bar.

Why a resumed run never leaves duplicates or half a batch
---------------------------------------------------------
* every write is an **upsert keyed by id**, so writing a batch twice (the batch that was in
  flight when the process died) leaves one row per id;
* every batch is written with **one store call** (one ``upsert``), which the transactional
  stores (PostgreSQL, SQLite) apply entirely or not at all;
* the checkpoint is updated only **after** a batch's write returned (so it may lag behind
  the destination, never run ahead of it), and by ``os.replace`` of a fully written,
  fsync'ed temporary file, so it is never torn;
* on resume the destination is asked whether it still holds the last checkpointed row; an
  in-memory destination that died with the process does not, and the copy starts over
  (always safe, because of the first point).

::

    report = vecnb.migrate(idx_faiss, pg_store, batch_size=1000, checkpoint="mig.json")

A :class:`vecnb.VectorIndex` side is read and written through its public row methods
(``stored_keys``, ``read_rows``, ``write_rows``, ``clone_over``); a store side through the
store protocol and its declared capabilities (``fetch``, ``iter_ids``, ``texts``, ``metadata``).
"""

from __future__ import annotations

import functools

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from vecnb.errors import (
    DimensionMismatchError,
    InvalidInputError,
    ModelMismatchError,
    StoreError,
)
from vecnb.stores.base import VectorStore, supports
from vecnb.ops._common import (
    _NOT_RETRYABLE,
    Checkpoint,
    _check_retry_args,
    _html_table,
    _progress_bar,
    _short,
    call_with_retries,
)

__all__ = ["MigrationReport", "migrate"]


# ====================================================================== migrate
@dataclass
class MigrationReport:
    """What :func:`migrate` did.

    Attributes
    ----------
    rows : int
        Rows written by this call (a resumed call counts only what it wrote).
    total : int
        Rows in the source when the call started.
    batches : int
        Store writes made by this call.
    resumed_from : int
        Rows already copied according to the checkpoint (0 for a fresh start).
    retries : int
        Failed attempts that were retried.
    seconds : float
        Wall time of this call.
    complete : bool
        Every source row is in the destination.
    index : VectorIndex or None
        When the source is a :class:`vecnb.VectorIndex`: an index over the destination
        that answers with the same labels (the destination index itself, or a new one
        over the destination store). ``None`` otherwise, or when the destination store
        also holds rows the source does not.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "green pear", "blue sky"]})
    >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(store="numpy")
    >>> report = vecnb.migrate(idx, vecnb.stores.create("numpy", dim=512), batch_size=2, progress=False)
    >>> report.complete, report.rows, report.batches
    (True, 3, 2)
    """

    source: str
    destination: str
    rows: int = 0
    total: int = 0
    batches: int = 0
    resumed_from: int = 0
    retries: int = 0
    seconds: float = 0.0
    complete: bool = False
    checkpoint: str | None = None
    notes: list[str] = field(default_factory=list)
    index: Any = field(default=None, repr=False)

    @property
    def rows_per_s(self) -> float:
        """Rows written per second by this call."""
        return self.rows / self.seconds if self.seconds > 0 else float("nan")

    def _rows(self) -> list[tuple[str, Any]]:
        out = [("source", self.source), ("destination", self.destination),
               ("rows written", f"{self.rows:,} of {self.total:,}"), ("batches", self.batches),
               ("resumed from row", f"{self.resumed_from:,}"), ("retries", self.retries),
               ("seconds", f"{self.seconds:.2f}"), ("rows/s", f"{self.rows_per_s:,.0f}"),
               ("complete", self.complete)]
        if self.checkpoint:
            out.append(("checkpoint", self.checkpoint))
        out += [("note", n) for n in self.notes]
        return out

    def __repr__(self) -> str:
        return (f"MigrationReport({self.source} -> {self.destination}: {self.rows:,} rows in {self.batches} batches, "
                f"resumed_from={self.resumed_from:,}, retries={self.retries}, {self.seconds:.2f} s, "
                f"complete={self.complete})")

    def _repr_html_(self) -> str:
        return _html_table("vecnb migration", self._rows())


class _Side:
    """One end of a migration: a store, or a :class:`vecnb.VectorIndex` (labels, rows, store)."""

    def __init__(self, obj: Any, role: str):
        from vecnb.index import VectorIndex

        self.obj = obj
        self.index: VectorIndex | None = obj if isinstance(obj, VectorIndex) else None
        store = obj.store if self.index is not None else obj
        if not isinstance(store, VectorStore):
            raise InvalidInputError(
                f"migrate needs a vecnb store or VectorIndex as {role}, got {type(obj).__name__}. "
                "Build one with df.vec.index(...) or vecnb.stores.create(name, dim=..., metric=...)."
            )
        if self.index is not None:
            self.index._check_open()
        self.store = store
        self.dim = int(store.dim)
        self.metric = str(store.metric)
        self.name = getattr(store, "name", type(store).__name__)

    def describe(self) -> dict:
        return {"store": self.name, "dim": self.dim, "metric": self.metric,
                "index": self.index is not None}

    def __len__(self) -> int:
        return len(self.index) if self.index is not None else len(self.store)

    # -- reading
    def iter_ids(self, batch_size: int) -> Iterator[np.ndarray]:
        if not supports(self.store, "fetch"):
            raise InvalidInputError(
                f"Store {self.name!r} cannot read its vectors back (it has no fetch), so it cannot be a "
                "migration source.")
        if self.index is not None:  # the index's own order: stable, and only the rows it holds
            keys = self.index.stored_keys()
            for i in range(0, len(keys), batch_size):
                yield keys[i: i + batch_size]
            return
        if not supports(self.store, "iter_ids"):
            raise InvalidInputError(
                f"Store {self.name!r} cannot stream its ids (it has no iter_ids), so it cannot be a migration source.")
        yield from self.store.iter_ids(batch_size)

    def read(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None, list | None,
                                             pd.DataFrame | None]:
        """Vectors (n, d), found (n,), metadata, texts and (for an index) the rows of ``ids``."""
        vecs, found = self.store.fetch(ids)
        vecs = np.asarray(vecs, dtype=np.float32).reshape(len(ids), self.dim)
        found = np.asarray(found, dtype=bool)
        meta = texts = rows = None
        if self.index is not None:
            rows, held, meta, texts = self.index.read_rows(ids)
            found &= held
        else:
            if supports(self.store, "metadata"):
                meta = self.store.fetch_metadata(ids)
            if supports(self.store, "texts"):
                texts = self.store.fetch_texts(ids)
        return vecs, found, meta, texts, rows

    # -- writing
    def write(self, ids: np.ndarray, vecs: np.ndarray, meta: pd.DataFrame | None, texts: list | None,
              rows: pd.DataFrame | None) -> None:
        if self.index is not None:
            if rows is None:
                raise InvalidInputError(
                    "A store has no row labels to give a VectorIndex; migrate into the index's store "
                    "(dst=index.store) or from a VectorIndex.")
            self.index.write_rows(rows, vecs, progress=False)  # upsert by label: idempotent
        else:
            self.store.upsert(ids, vecs, meta, texts)

    def holds(self, ids: np.ndarray, src: "_Side") -> np.ndarray | None:
        """Which of the source's ``ids`` this destination holds (None when it cannot tell)."""
        if self.index is not None:
            if src.index is None:
                return None
            return self.index.keys_for(src.index.labels_for(ids)) >= 0
        if not supports(self.store, "fetch"):
            return None
        return np.asarray(self.store.fetch(ids)[1], dtype=bool)


def _result_index(s: _Side, d: _Side) -> Any:
    if s.index is None:
        return None
    if d.index is not None:
        return d.index
    if len(d.store) != len(s.index):
        return None
    return s.index.clone_over(d.store)


def _rebatch(it: Iterator[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Re-cut a stream of id arrays into arrays of exactly ``batch_size`` (the last may be short)."""
    buf: list[np.ndarray] = []
    n = 0
    for part in it:
        part = np.asarray(part, dtype=np.int64).reshape(-1)
        while len(part):
            take = min(batch_size - n, len(part))
            buf.append(part[:take])
            n += take
            part = part[take:]
            if n == batch_size:
                yield np.concatenate(buf)
                buf, n = [], 0
    if n:
        yield np.concatenate(buf)


def _subset(meta: pd.DataFrame | None, texts: list | None, keep: np.ndarray) -> tuple[Any, Any]:
    if meta is not None:
        meta = meta.iloc[np.flatnonzero(keep)].reset_index(drop=True)
    if texts is not None:
        texts = [t for t, k in zip(texts, keep.tolist()) if k]
    return meta, texts


def migrate(
    src: Any,
    dst: Any,
    *,
    batch_size: int = 1000,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    retries: int = 3,
    backoff: float = 0.5,
    on_batch: Callable[[dict], None] | None = None,
    checkpoint_every: float = 1.0,
) -> MigrationReport:
    """Copy every vector of ``src`` into ``dst`` in batches; resumable, retrying, idempotent.

    Parameters
    ----------
    src : VectorIndex or store
        Where the vectors are. It must stream its keys (``iter_ids``) and read vectors back
        (``fetch``); every built-in store does. Metadata (filter fields) and texts are
        copied too when the source can return them (a :class:`vecnb.VectorIndex`, or a
        store with ``fetch_metadata`` / ``fetch_texts``).
    dst : VectorIndex or store
        Where they go: same dimension and metric as ``src``. Rows already there under the
        same id are replaced (upsert), other rows are left alone.
    batch_size : int
        Rows per read and per write. Memory use is about one batch of vectors, however
        large the source.
    checkpoint : path, optional
        A JSON file recording how far the copy got, rewritten atomically after every batch.
        Pass the same path again after a crash (or ``kill -9``) to resume from the last
        written batch. Without it a call always starts from the beginning.
    progress : bool
        Show a ``tqdm.auto`` progress bar.
    retries, backoff : int, float
        A failing read or write is tried again up to ``retries`` times, waiting
        ``backoff * 2**attempt`` seconds (0.5 s, 1 s, 2 s, ...) before each attempt.
    on_batch : callable, optional
        ``on_batch(state)`` after each batch is written; ``state`` holds ``position`` (rows
        done), ``total`` and ``batches``.
    checkpoint_every : float
        Seconds between checkpoint writes (each costs a rename and two fsyncs, ~10 ms). The
        checkpoint is also written when the copy ends or fails. A crash loses at most this
        much progress, which the resumed call copies again (idempotently). ``0``: after
        every batch.

    Returns
    -------
    MigrationReport

    Raises
    ------
    DimensionMismatchError
        ``dst`` holds vectors of another width (re-embed, or create it with ``dim=src.dim``).
    InvalidInputError
        Different metrics, the same store on both sides, or a checkpoint from another migration.
    StoreError
        A batch still failed after ``retries`` attempts; the checkpoint keeps the progress,
        so calling :func:`migrate` again with it resumes.

    Notes
    -----
    Resuming relies on the source listing its keys in the same order as before (true for
    every built-in store while it is not written to). If it does not, or the destination
    lost what was written (an in-memory store in the killed process), the copy restarts
    from the beginning, which is safe: writes are upserts by key, so no row is duplicated.

    Examples
    --------
    Copy an index into another store (here numpy to numpy; a faiss index into a pgvector
    store is the same call, with ``checkpoint=`` to resume after a crash):

    >>> import pandas as pd
    >>> df = pd.DataFrame({"text": ["red apple", "green pear", "blue sky"]})
    >>> idx = df.vec.embed("text", model="hashing", progress=False).vec.index(store="numpy")
    >>> dst = vecnb.stores.create("numpy", dim=512, metric="cosine")
    >>> report = vecnb.migrate(idx, dst, batch_size=2, progress=False)
    >>> report.complete, report.rows, len(dst)
    (True, 3, 3)
    """
    _check_retry_args(retries, backoff, batch_size)
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, (int, float)) or checkpoint_every < 0:
        raise InvalidInputError(f"checkpoint_every must be a number of seconds >= 0, got {checkpoint_every!r}.")
    s, d = _Side(src, "source"), _Side(dst, "destination")
    _check_compatible(s, d)
    run = _Migration(s, d, batch_size=int(batch_size), checkpoint=checkpoint, retries=retries, backoff=backoff,
                     on_batch=on_batch, checkpoint_every=float(checkpoint_every))
    return run.execute(progress)


def _check_compatible(s: _Side, d: _Side) -> None:
    """Raise unless ``d`` can take ``s``'s vectors: other store, same width, metric and model."""
    if s.store is d.store:
        raise InvalidInputError("migrate: source and destination are the same store; there is nothing to copy.")
    if s.dim != d.dim:
        raise DimensionMismatchError(
            f"The source holds {s.dim}-d vectors but the destination {d.name!r} holds {d.dim}-d vectors. "
            f"Create the destination with dim={s.dim}, or re-embed with the destination's model."
        )
    if s.metric != d.metric:
        raise InvalidInputError(
            f"The source uses metric {s.metric!r} but the destination {d.name!r} uses {d.metric!r}; search "
            f"results would change. Create the destination with metric={s.metric!r}."
        )
    if s.index is not None and d.index is not None:
        a, b = s.index.info_column.get("model_id"), d.index.info_column.get("model_id")
        if a and b and a != b:
            raise ModelMismatchError(
                f"The source index holds vectors from {a!r} but the destination index from {b!r}; they cannot be "
                "mixed. Migrate into an empty store, or re-embed.")


class _Migration:
    """One call of :func:`migrate`: where it is in the source, its checkpoint, its retries, its report.

    The copy goes over the source's keys in order; ``start`` / ``last_key`` come from the
    checkpoint, ``position`` counts the rows listed so far. A pass that finds the source
    listing its rows in another order than the checkpoint recorded restarts from row 0 once.
    """

    def __init__(self, s: _Side, d: _Side, *, batch_size: int, checkpoint: Any, retries: int, backoff: float,
                 on_batch: Callable[[dict], None] | None, checkpoint_every: float):
        self.s, self.d = s, d
        self.batch_size, self.retries, self.backoff = batch_size, retries, backoff
        self.on_batch, self.checkpoint_every = on_batch, checkpoint_every
        self.t0 = time.perf_counter()
        self.total = len(s)
        self.report = MigrationReport(source=s.name, destination=d.name, total=self.total,
                                      checkpoint=str(checkpoint) if checkpoint is not None else None)
        if s.index is None:  # a store: say what it cannot hand over (never drop it silently)
            self.report.notes += [f"{what} were not copied: store {s.name!r} cannot read them back (no fetch_{what})"
                                  for what in ("metadata", "texts") if not supports(s.store, what)]
        self.ck = Checkpoint(checkpoint) if checkpoint is not None else None
        self.ident = {"kind": "vecnb.migrate", "version": 1, "source": s.describe(), "destination": d.describe()}
        self.start = 0
        self.last_key: int | None = None
        self.batches_total = 0
        self.position = 0
        self.n_retries = 0
        self._last_save = time.monotonic()
        self._saved_at: int | None = None

    # -- checkpoint
    def resume(self) -> bool:
        """Take up the checkpoint; True when it records a completed copy (nothing left to do)."""
        state = self.ck.load() if self.ck else None
        if state is None:
            return False
        if any(state.get(k) != v for k, v in self.ident.items()):
            raise InvalidInputError(
                f"Checkpoint {str(self.ck.path)!r} belongs to another migration "
                f"({state.get('source')} -> {state.get('destination')}); delete it or pass another path."
            )
        self.start = int(state.get("position", 0))
        self.last_key = state.get("last_key")
        self.batches_total = int(state.get("batches", 0))
        if self.start and self.last_key is not None and not self._destination_kept_last_key():
            self.report.notes.append("the destination no longer held the checkpointed rows; restarted from row 0")
            warnings.warn(f"migrate: the destination does not hold row {self.last_key} recorded in the checkpoint "
                          "(an in-memory store lost with a killed process?); copying from the start.",
                          stacklevel=4)
            self.start, self.last_key, self.batches_total = 0, None, 0
        return state.get("status") == "complete" and self.start >= self.total and bool(self.start)

    def _destination_kept_last_key(self) -> bool:
        try:
            held = self.d.holds(np.array([self.last_key], dtype=np.int64), self.s)
        except KeyError:  # the source no longer has that row: its order changed, start over
            held = np.array([False])
        return held is None or bool(held[0])

    def save(self, status: str, force: bool = True) -> None:
        """Write the checkpoint (at most every ``checkpoint_every`` seconds unless ``force``)."""
        if self.ck is None or (not force and time.monotonic() - self._last_save < self.checkpoint_every):
            return
        if self.position == self._saved_at and status == "running":
            return
        self.ck.save({**self.ident, "status": status, "position": self.position, "last_key": self.last_key,
                      "batches": self.batches_total, "total": self.total, "batch_size": self.batch_size,
                      "updated": time.time()})
        self._last_save, self._saved_at = time.monotonic(), self.position

    def note_retry(self, attempt: int, exc: BaseException, delay: float) -> None:
        self.n_retries += 1
        warnings.warn(f"migrate: batch at row {self.position:,} failed ({_short(exc)}); retry {attempt}/{self.retries} "
                      f"in {delay:.2f} s", stacklevel=3)

    # -- copying
    def execute(self, progress: bool) -> MigrationReport:
        report = self.report
        if self.resume():
            report.resumed_from = self.start
            report.complete = True
            report.notes.append("the checkpoint records a completed migration; nothing to do")
            report.seconds = time.perf_counter() - self.t0
            report.index = _result_index(self.s, self.d)
            return report
        report.resumed_from = self.start
        bar = _progress_bar(self.total, min(self.start, self.total), f"migrate {self.s.name} -> {self.d.name}",
                            progress)
        try:
            for _ in range(2):  # a second pass only if the source order changed
                if not self.copy_pass(bar):
                    break
                report.notes.append("the source lists its rows in another order than when the checkpoint was "
                                    "written; restarted from row 0")
                warnings.warn("migrate: the source's row order changed since the checkpoint; copying from the "
                              "start (upserts by id, so nothing is duplicated).", stacklevel=3)
                self.start, self.last_key = 0, None
                report.resumed_from = 0
            report.complete = True
            self.save("complete")
            report.index = _result_index(self.s, self.d)
        finally:
            if not report.complete and self.position > self.start:
                self.save("running")  # failed or interrupted: record exactly what was written
            bar.close()
            report.retries = self.n_retries
            report.seconds = time.perf_counter() - self.t0
        return report

    def copy_pass(self, bar: Any) -> bool:
        """Copy what is after the checkpoint; True when the source order changed (restart needed)."""
        self.position = 0
        for ids in _rebatch(self.s.iter_ids(self.batch_size), self.batch_size):
            ids = self._after_checkpoint(ids)
            if ids is None:
                return True
            if not len(ids):
                continue
            self.copy_batch(ids)
            self.position += len(ids)
            self.save("running", force=False)
            bar.update(len(ids))
            if self.on_batch is not None:
                self.on_batch({"position": self.position, "total": self.total, "batches": self.batches_total})
        return False

    def _after_checkpoint(self, ids: np.ndarray) -> np.ndarray | None:
        """The part of ``ids`` not copied yet (advancing ``position`` past the rest); None: order changed."""
        if self.position + len(ids) <= self.start:
            self.position += len(ids)
            if self.position == self.start and self.last_key is not None and int(ids[-1]) != int(self.last_key):
                return None
            return ids[:0]
        if self.position < self.start:  # a batch straddling the checkpoint (another batch_size)
            cut = self.start - self.position
            if self.last_key is not None and int(ids[cut - 1]) != int(self.last_key):
                return None
            ids, self.position = ids[cut:], self.start
        return ids

    def copy_batch(self, ids: np.ndarray) -> None:
        """Read ``ids`` from the source and write the rows still there to the destination, with retries."""
        read = functools.partial(self.s.read, ids)
        vecs, found, meta, texts, rows = call_with_retries(read, retries=self.retries, backoff=self.backoff,
                                                           what="read", on_retry=self.note_retry)
        if not found.all():  # deleted from the source since its ids were listed
            ids, vecs = ids[found], vecs[found]
            meta, texts = _subset(meta, texts, found)
            rows = rows.iloc[np.flatnonzero(found)] if rows is not None else None
        if not len(ids):
            return
        write = functools.partial(self.d.write, ids, vecs, meta, texts, rows)
        try:
            call_with_retries(write, retries=self.retries, backoff=self.backoff, what="write",
                              on_retry=self.note_retry)
        except _NOT_RETRYABLE:
            raise
        except Exception as exc:
            raise StoreError(
                f"writing rows {self.position:,}-{self.position + len(ids):,} failed after {self.retries} retries: "
                f"{_short(exc)}. Progress is saved"
                + (f" in {str(self.ck.path)!r}; call migrate(...) again with checkpoint= that file to resume."
                   if self.ck else "; pass checkpoint=path to be able to resume."),
                store=self.d.name, operation="migrate") from exc
        self.report.rows += len(ids)
        self.report.batches += 1
        self.batches_total += 1
        self.last_key = int(ids[-1])

