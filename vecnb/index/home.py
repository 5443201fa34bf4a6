"""An index's *home*: the record a store keeps beside its vectors so the index reopens from it alone.

A store that can hold an index's home (pgvector, sqlite, chroma, Elasticsearch) keeps a small
append-only **ledger** of binary entries next to its vectors (a side table, a side collection,
a side index). :class:`vecnb.VectorIndex` writes to it on every change, in the same transaction
as the vectors where the store has transactions (pgvector, sqlite)::

    head   b"VNBH" + JSON   format, version, column, text column, model info, dim, metric, kind,
                            store config (never credentials), next key, created, vecnb version
    rows   b"VNBR" + parquet  the rows written (labels as the parquet index, every column with
                            its dtype -- datetimes, categoricals, nullable ints), plus their
                            keys (``__vecnb_key__``) and content hashes (``__vecnb_hash__``)
    dels   b"VNBD" + int64  keys deleted
    begun  b"VNBW" + JSON   a write started (stores without transactions: chroma, Elasticsearch):
                            token, pid, host, time, the new keys it may use
    ended  b"VNBE" + JSON   that write finished (token), and the unfinished writes it repaired
    order  b"VNBO" + int64  a sync's row order (keys, as the frame it was given): ties in search go
                            to the lower position in :attr:`VectorIndex.frame`, so a reopened index
                            must keep the order the syncing handle has (written only when a sync
                            leaves the rows in another order than their writes)

**Writes in flight** (chroma, Elasticsearch: no transaction holds the vectors and the record
together). A writer appends a *begun* entry before it touches the store and an *ended* entry
after its rows / deletions are recorded (:meth:`Home.writing`). A reader whose record shows a
write begun and not ended knows the store may hold part of it: it waits (polling the record's
last seq, :data:`WAIT_SECONDS`) and answers from the finished version, else raises
:class:`~vecnb.errors.StoreBusyError`. A begun entry whose writer is gone -- its process no
longer runs on this host, or it is older than :data:`STALE_SECONDS` -- is an *unfinished write*:
readers raise a :class:`~vecnb.errors.StoreError` at once saying so (the store may hold part of
it: never a silent mix), and the next ``sync(df)`` repairs it (rewrites every row of ``df``,
removes the keys the dead writer may have added) and ends it; so does ``mode="replace"``
(a new record). ``upsert`` / ``delete`` refuse until then, writing nothing (they cannot know the
rows the index should hold, so they could neither repair it nor make it answerable).
Transactional stores (sqlite, pgvector) write none of this: a sync commits as one transaction.

Replaying the ledger gives back the labels, the rows and the keys: keys always come from this
mapping, never from positions in today's frame. The ledger is compacted (rewritten as one head +
the live rows) when it grows past :data:`COMPACT_AFTER` entries.

Writers use optimistic concurrency: each append names the next sequence number; if another
process appended meanwhile the append (and, on transactional stores, the vector write with it)
fails with :class:`~vecnb.errors.StoreError` telling the user to reopen the index. (An index
checks the record before each write and reloads it when it moved, so this takes a true race.)

Store capability (all optional; a store without it simply cannot be reopened)::

    classmethod open_existing(**options) -> store | None    # bound to an existing target, or None
    store.home_read() -> list[(seq, bytes)]                 # the ledger, in order ([] if none)
    store.home_append(seq, payload)                         # fails if seq is taken
    store.home_reset(payloads, fresh=False) -> last seq     # replace the whole ledger atomically
                                                            # (fresh=True: a conflict if one exists)
    store.atomic() -> context manager                       # writes inside commit together
    store.staging_options() -> dict ; store.take_place_of(old)   # for mode="replace"
    store.locator() -> dict                                 # non-secret reconnect facts (save by reference)
    store.home_version() -> int | None                      # the ledger's last seq now (cheap; optional)
    store.watch_home() / store.home_seen                    # optional: search() reads the last seq in the
                                                            # same statement as its rows (pgvector)

Sequence numbers only grow on a target, also across a compaction and a ``mode="replace"`` (the
replacement's record continues after the old one's numbers), so the last sequence number alone
tells a reader whether the record changed since it loaded it. :class:`Home` checks it before an
index answers (:meth:`Home.changed`); a handle then reloads its labels and rows
(:func:`vecnb.index.opening.reload_rows`) instead of pairing another process's store rows with
the frame it loaded (a silent wrong answer).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import time
import uuid
import warnings
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core.validation import json_default_str as _json_default
from vecnb.errors import IndexExistsError, IndexFormatError, StoreBusyError, StoreError

__all__ = ["FORMAT", "VERSION", "COMPACT_AFTER", "WAIT_SECONDS", "STALE_SECONDS", "Home", "can_home",
           "encode_head", "encode_rows", "encode_dels", "encode_order", "replay"]

FORMAT = "vecnb-home"
VERSION = 1
COMPACT_AFTER = 64          # ledger entries before a compaction
WAIT_SECONDS = 5.0          # how long a reader waits for a write in flight before StoreBusyError
STALE_SECONDS = 600.0       # a write begun this long ago and not ended is taken as dead (its writer killed)
ROWS_PER_ENTRY = 50_000     # rows per parquet entry
KEY, HASH = "__vecnb_key__", "__vecnb_hash__"
_HEAD, _ROWS, _DELS, _BEGUN, _ENDED, _ORDER = b"VNBH", b"VNBR", b"VNBD", b"VNBW", b"VNBE", b"VNBO"
_MAX_KEY_GAP = 1 << 26      # keys an index may have handed out beyond those it still records (deleted ones)


def can_home(store: Any) -> bool:
    """Whether ``store`` can keep an index's record (the declared ``home`` capability).

    Examples
    --------
    >>> can_home(vecnb.stores.create("sqlite", dim=2)), can_home(vecnb.stores.create("numpy", dim=2))
    (True, False)
    """
    from vecnb.stores.base import supports

    return supports(store, "home")


# --------------------------------------------------------------------------- encoding
def encode_head(head: dict) -> bytes:
    """encode_head.

    Examples
    --------
    >>> entry = encode_head({"format": FORMAT, "version": VERSION, "column": "text_vec"})
    >>> replay([(1, entry)], "example")[0]["column"]
    'text_vec'
    """
    return _HEAD + json.dumps(head, default=_json_default, sort_keys=True).encode("utf-8")


def encode_rows(rows: pd.DataFrame, keys: np.ndarray, hashes: np.ndarray) -> list[bytes]:
    """Parquet entries (one per :data:`ROWS_PER_ENTRY` rows) of rows with their keys and hashes.

    Examples
    --------
    >>> rows = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
    >>> entries = encode_rows(rows, np.array([0, 1]), np.array([11, 12], np.uint64))
    >>> len(entries), type(entries[0]).__name__
    (1, 'bytes')
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = rows.copy(deep=False)
    frame.attrs = {}
    for c in (KEY, HASH):
        if c in frame.columns:
            raise IndexFormatError(f"Column name {c!r} is reserved by vecnb; rename that column.")
    frame[KEY] = np.asarray(keys, dtype=np.int64)
    frame[HASH] = np.asarray(hashes, dtype=np.uint64)
    table = _to_arrow(frame, pa)
    out = []
    for start in range(0, max(len(frame), 1), ROWS_PER_ENTRY):
        buf = io.BytesIO()
        pq.write_table(table.slice(start, ROWS_PER_ENTRY), buf, compression="zstd")
        out.append(_ROWS + buf.getvalue())
    return out


def _to_arrow(frame: pd.DataFrame, pa: Any) -> Any:
    try:
        return pa.Table.from_pandas(frame, preserve_index=True)
    except Exception as exc:  # noqa: BLE001 - find the culprit, keep what can be kept
        if not frame.columns.map(lambda c: isinstance(c, str)).all():
            raise IndexFormatError(
                "An index kept in a store needs string column names (they are stored beside the vectors); "
                "rename the columns (df.columns = df.columns.map(str))."
            ) from None
        try:
            pa.Table.from_pandas(frame[[KEY]], preserve_index=True)
        except Exception:  # noqa: BLE001
            raise IndexFormatError(
                f"The index labels cannot be stored beside the vectors ({exc}); use labels of one type "
                "(e.g. df.index = df.index.astype(str)) or df.reset_index()."
            ) from None
        bad = []
        for c in frame.columns:
            try:
                pa.Table.from_pandas(frame[[c]], preserve_index=False)
            except Exception:  # noqa: BLE001
                bad.append(c)
        warnings.warn(f"Columns {bad} hold values that cannot be stored beside the vectors; a reopened index "
                      "will not have them (convert them, e.g. df[col].astype(str), to keep them).", stacklevel=4)
        return pa.Table.from_pandas(frame.drop(columns=bad), preserve_index=True)


def encode_dels(keys: np.ndarray) -> bytes:
    """encode_dels.

    Examples
    --------
    >>> len(encode_dels(np.array([3, 4])))
    20
    """
    return _DELS + np.asarray(keys, dtype="<i8").tobytes()


def encode_order(keys: np.ndarray) -> bytes:
    """An *order* entry: the index's keys in its frame's order (after a sync that reordered rows).

    Examples
    --------
    >>> rows = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
    >>> ledger = [encode_head({"format": FORMAT, "version": VERSION, "column": "v"}),
    ...           *encode_rows(rows, np.array([0, 1]), np.array([11, 12], np.uint64)), encode_order(np.array([1, 0]))]
    >>> list(replay(list(enumerate(ledger, 1)), "example")[1].index)
    ['b', 'a']
    """
    return _ORDER + np.asarray(keys, dtype="<i8").tobytes()


def _encode_begun(note: dict) -> bytes:
    """A *write begun* entry (see the module docstring): ``note`` holds token, pid, host, time, new keys."""
    return _BEGUN + json.dumps(note, sort_keys=True).encode("utf-8")


def _encode_ended(token: str, repaired: list[str]) -> bytes:
    """A *write ended* entry: ``token``'s write is recorded; ``repaired`` unfinished writes are resolved."""
    return _ENDED + json.dumps({"token": token, "repaired": list(repaired)}, sort_keys=True).encode("utf-8")


# --------------------------------------------------------------------------- replay
def replay(entries: list[tuple[int, bytes]], where: str) -> tuple[dict, pd.DataFrame, np.ndarray, np.ndarray]:
    """Rebuild ``(head, frame, keys, hashes)`` from a ledger.

    Rows keep the position of their last write (an updated row moves to the end, as in
    :meth:`VectorIndex.upsert`), or of the last *order* entry when they were not written after
    it (a sync's order, as :meth:`VectorIndex.sync` leaves its frame); deleted keys are dropped.

    Examples
    --------
    The record is a ledger: a head, then row and deletion entries, replayed in order:

    >>> rows = pd.DataFrame({"text": ["red apple", "pear"]}, index=["a", "b"])
    >>> ledger = [encode_head({"format": FORMAT, "version": VERSION, "column": "v"}),
    ...           *encode_rows(rows, np.array([0, 1]), np.array([11, 12], np.uint64)),
    ...           encode_dels(np.array([0]))]
    >>> head, frame, keys, hashes = replay(list(enumerate(ledger, 1)), "example")
    >>> frame["text"].to_dict(), keys, hashes
    ({'b': 'pear'}, array([1]), array([12], dtype=uint64))
    """
    import pyarrow.parquet as pq

    head: dict | None = None
    parts: list[pd.DataFrame] = []
    part_at: list[int] = []  # each part's place in the ledger
    order: tuple[int, np.ndarray] | None = None  # the last order entry: (place, keys)
    deleted: list[np.ndarray] = []
    seen_max = -1
    begun: dict[str, dict] = {}
    for seq, payload in entries:
        tag, body = bytes(payload[:4]), memoryview(payload)[4:]
        try:
            if tag == _HEAD:
                head = json.loads(bytes(body))
                if not isinstance(head, dict):
                    raise ValueError("not an object")
            elif tag == _ROWS:
                part = pq.read_table(io.BytesIO(bytes(body))).to_pandas()
                part.attrs = {}
                if KEY not in part.columns or HASH not in part.columns:
                    raise ValueError("no key / hash columns")
                parts.append(part)
                part_at.append(seq)
            elif tag == _ORDER:
                if len(body) % 8:
                    raise ValueError("truncated")
                order = (seq, np.frombuffer(bytes(body), dtype="<i8").astype(np.int64))
                if not pd.Index(order[1]).is_unique:
                    raise ValueError("repeated keys")
            elif tag == _DELS:
                if len(body) % 8:
                    raise ValueError("truncated")
                deleted.append(np.frombuffer(bytes(body), dtype="<i8").astype(np.int64))
            elif tag == _BEGUN:
                note = json.loads(bytes(body))
                begun[str(note["token"])] = note
            elif tag == _ENDED:
                note = json.loads(bytes(body))
                for t in [note["token"], *note.get("repaired", [])]:
                    begun.pop(str(t), None)
            else:
                raise IndexFormatError(f"{where}: unknown entry {seq} in the index record; written by a newer vecnb?")
        except IndexFormatError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow / json raise many types for damaged bytes
            raise IndexFormatError(f"{where}: entry {seq} of the index record is damaged ({type(exc).__name__}: "
                                   f"{exc}); rebuild the index from its DataFrame with mode='replace'.") from None
    if head is None or head.get("format") != FORMAT:
        raise IndexFormatError(f"{where} holds vectors but no vecnb index record.")
    if head.get("version") != VERSION:
        raise IndexFormatError(f"{where} was written with index-record version {head.get('version')!r}; "
                               f"this vecnb reads version {VERSION}. Upgrade vecnb, or rebuild with mode='replace'.")
    if parts:
        frame = pd.concat(parts, sort=False) if len(parts) > 1 else parts[0]
        keys = frame[KEY].to_numpy(dtype=np.int64)
        seen_max = int(keys.max()) if len(keys) else -1
        last = ~pd.Index(keys).duplicated(keep="last")
        if deleted:
            dk = np.concatenate(deleted)
            seen_max = max(seen_max, int(dk.max()) if len(dk) else -1)
            last &= ~np.isin(keys, dk)
        live = np.flatnonzero(last)
        if order is not None:  # rows not written since the last sync's order entry take their place in it
            at = np.repeat(np.asarray(part_at, dtype=np.int64), [len(p) for p in parts])[live]
            rank = pd.Index(order[1]).get_indexer(keys[live]).astype(np.int64)
            moved = (rank < 0) | (at > order[0])
            rank[moved] = len(order[1]) + np.flatnonzero(moved)
            live = live[np.argsort(rank, kind="stable")]
        frame = frame.iloc[live]
        keys = frame[KEY].to_numpy(dtype=np.int64)
        hashes = frame[HASH].to_numpy(dtype=np.uint64)
        frame = frame.drop(columns=[KEY, HASH])
    else:
        frame, keys, hashes = pd.DataFrame(), np.empty(0, np.int64), np.empty(0, np.uint64)
    if len(keys) and (keys.min() < 0 or not pd.Index(keys).is_unique):
        raise IndexFormatError(f"{where}: the index record holds negative or repeated keys; it is damaged.")
    try:
        recorded = int(head.get("next_key") or 0)
    except (TypeError, ValueError):
        recorded = -1
    if recorded < 0 or recorded > seen_max + 1 + _MAX_KEY_GAP:
        raise IndexFormatError(f"{where}: the index record's next key {head.get('next_key')!r} does not fit its rows; "
                               "it is damaged.")
    head["next_key"] = max(recorded, seen_max + 1)
    head["open_writes"] = list(begun.values())  # writes begun and not ended (see Home.writing)
    return head, frame, keys, hashes


# --------------------------------------------------------------------------- the writer
class Home:
    """The ledger writer an index holds for its store (one per :class:`VectorIndex`).

    Examples
    --------
    An index kept in a durable store holds one (``idx._home``); every write appends to the record:

    >>> store = vecnb.stores.create("sqlite", dim=2)
    >>> rows = pd.DataFrame({"text": ["red apple"]}, index=["a"])
    >>> head = {"format": FORMAT, "version": VERSION}
    >>> home = Home.create(store, head, rows, np.array([0]), np.array([7], np.uint64))
    >>> home.seq, home.entries
    (1, 2)
    >>> with home.atomic():
    ...     home.append([encode_dels(np.array([0]))])
    >>> home.entries, len(replay(store.home_read(), "example")[1])
    (3, 0)
    >>> home.changed(), home.seen_changed()   # no other writer since: the record is where we left it
    (False, False)
    """

    def __init__(self, store: Any, seq: int, entries: int):
        self.store = store
        self.seq = seq            # last sequence number this writer saw
        self.entries = entries    # entries in the ledger
        watch = getattr(store, "watch_home", None)
        self.folds = bool(watch()) if callable(watch) else False  # search() reports the record's seq itself
        self.free = bool(getattr(store, "home_version_free", False))  # checking costs no I/O (sqlite)
        self.transactional = callable(getattr(store, "atomic", None))  # rows + record commit together
        self.open: list[dict] = []  # writes begun and not ended, as this handle last read / wrote the record
        self._token: str | None = None  # this handle's write in progress (see writing)
        self.dirty = False  # the store was written and the record not yet told (set by the index, see writing)
        self._depth = 0

    def changed(self) -> bool:
        """Whether the record moved on since this handle loaded / wrote it (another process wrote).

        sqlite: free unless another connection committed (``PRAGMA data_version``); pgvector: one
        round trip (searches get it in their own statement instead, see ``home_seen``)."""
        fn = getattr(self.store, "home_version", None)
        if fn is None:
            return False
        v = fn()
        return v is not None and int(v) != self.seq

    def seen_changed(self) -> bool:
        """After a search on a store that folds the check into it (``home_seen``: the record's last seq
        per query, None for a query that returned no row): whether its rows came from another record."""
        seen = getattr(self.store, "home_seen", None)
        if not seen:
            return self.changed()
        if any(v is not None and int(v) != self.seq for v in seen):
            return True
        return None in seen and self.changed()  # an empty answer carries no seq: ask

    @classmethod
    def create(cls, store: Any, head: dict, frame: pd.DataFrame, keys: np.ndarray, hashes: np.ndarray) -> Home:
        """Write a fresh record (head + rows) into ``store``; refuses when another writer created one meanwhile."""
        payloads = [encode_head(head), *(encode_rows(frame, keys, hashes) if len(frame) else [])]
        try:  # fresh=True: fails if another writer created a record here since we looked (never mix)
            last = store.home_reset(payloads, fresh=True)
        except StoreError as exc:
            if "conflict" not in str(exc).lower():
                raise
            raise IndexExistsError(
                f"another process created an index in this {getattr(store, 'name', 'store')} target meanwhile; "
                "nothing was written. Open it with vecnb.open_index(...), or build with mode='replace'.") from None
        return cls(store, int(last), len(payloads))

    def atomic(self) -> Any:
        """The store's transaction (sqlite, pgvector) around a write and its record entry, else a no-op context."""
        fn = getattr(self.store, "atomic", None)
        return fn() if fn is not None else contextlib.nullcontext()

    @contextlib.contextmanager
    def writing(self, new_keys: tuple[int, int] = (0, 0), repair: bool = False) -> Any:
        """Around one logical write (a sync's deletions and writes, an upsert): the store's transaction
        where it has one; else a *begun* entry before and an *ended* entry after (see the module
        docstring), so readers never pair a write in flight with the record before it. ``new_keys``:
        the keys ``[lo, hi)`` it may add (a repair removes a dead writer's); ``repair``: the unfinished
        writes this handle's record shows are resolved by this write (``sync`` rewrites every row).

        Examples
        --------
        >>> store = vecnb.stores.create("sqlite", dim=2)
        >>> home = Home.create(store, {"format": FORMAT, "version": VERSION}, pd.DataFrame(),
        ...                    np.empty(0, np.int64), np.empty(0, np.uint64))
        >>> with home.writing((0, 1)):     # sqlite: one transaction (chroma / ES: begun ... ended entries)
        ...     home.append([encode_dels(np.array([5]))])
        >>> home.open, home.transactional
        ([], True)
        """
        if self.transactional:
            with self.atomic():
                yield
            return
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        note = {"token": uuid.uuid4().hex, "pid": os.getpid(), "host": socket.gethostname(), "time": time.time(),
                "new_keys": [int(new_keys[0]), int(new_keys[1])]}
        self.append([_encode_begun(note)])
        self.open.append(note)
        self._token, self._depth = note["token"], 1
        self.dirty = False
        try:
            yield
        except BaseException:
            self._token, self._depth = None, 0
            if not self.dirty:  # every store write made was recorded (e.g. input refused): the write is over
                with contextlib.suppress(Exception):
                    self.append([_encode_ended(note["token"], [])])
                    self.open.remove(note)
                raise
            # the store holds writes the record does not: readers learn at once (never taken as live)
            note["failed"] = True
            with contextlib.suppress(Exception):
                self.append([_encode_begun(note)])
            raise
        self._token, self._depth = None, 0
        repaired = [n["token"] for n in self.open if n["token"] != note["token"]] if repair else []
        self.append([_encode_ended(note["token"], repaired)])
        self.open = [n for n in self.open if n["token"] != note["token"] and n["token"] not in repaired]

    def others(self) -> tuple[list[dict], list[dict]]:
        """Other writers' writes in flight per the record last read: ``(live, unfinished)`` -- unfinished:
        failed, its process gone from this host, or begun more than :data:`STALE_SECONDS` ago.

        Examples
        --------
        >>> home = Home(vecnb.stores.create("sqlite", dim=2), seq=1, entries=1)
        >>> home.open = [{"token": "t1", "pid": -1, "host": socket.gethostname(), "time": time.time()}]
        >>> [len(x) for x in home.others()]          # pid -1 runs nowhere: an unfinished write
        [0, 1]
        """
        live, gone = [], []
        host, now = socket.gethostname(), time.time()
        for n in self.open:
            if n.get("token") == self._token:
                continue
            dead = bool(n.get("failed")) or now - float(n.get("time") or 0) > STALE_SECONDS or (
                n.get("host") == host and not _alive(n.get("pid")))
            (gone if dead else live).append(n)
        return live, gone

    def unfinished(self, gone: list[dict], operation: str) -> StoreError:
        """The error for an unfinished write of a dead writer (``gone``, from :meth:`others`): a search
        cannot answer for sure, and an ``upsert`` / ``delete`` cannot repair it (they do not know every
        row the index should hold; only ``sync(df)`` or ``mode='replace'`` do), so both refuse.

        Examples
        --------
        >>> home = Home(vecnb.stores.create("sqlite", dim=2), seq=1, entries=1)
        >>> err = home.unfinished([{"pid": -1, "host": "h", "time": 0}], "upsert")
        >>> "upsert cannot repair it" in str(err), "sync(df)" in str(err)
        (True, True)
        """
        n = gone[0]
        what = ("the index cannot answer for sure" if operation == "search" else
                f"{operation} cannot repair it (it does not know every row the index should hold); nothing was written")
        return StoreError(
            f"a write to this index begun {_when(n)} by process {n.get('pid')} on {n.get('host')!r} never "
            f"finished (the process was killed or the write failed); the store may hold part of it, so {what}. "
            "Repair it: open it and sync(df) with the rows it should hold, or rebuild it with mode='replace'.",
            store=getattr(self.store, "name", "?"), operation=operation)

    def await_writers(self, reload: Any, *, for_write: bool) -> list[dict]:
        """Wait (polling the record's last seq, calling ``reload()`` when it moved) until no other
        writer's write is in flight; returns the unfinished (dead) writes left. Readers raise on
        those (the store may hold part of one); writers get them back (``sync`` repairs them).

        Raises
        ------
        StoreBusyError
            Another writer still runs after :data:`WAIT_SECONDS`.
        StoreError
            (readers) An unfinished write: its writer died or failed.

        Examples
        --------
        >>> home = Home(vecnb.stores.create("sqlite", dim=2), seq=1, entries=1)
        >>> home.open = [{"token": "t1", "pid": -1, "host": socket.gethostname(), "time": time.time()}]
        >>> len(home.await_writers(lambda: None, for_write=True))   # a writer gets it back, to repair
        1
        >>> home.await_writers(lambda: None, for_write=False)
        Traceback (most recent call last):
        ...
        vecnb.errors.StoreError: [sqlite.search] a write to this index begun ... never finished ...
        """
        deadline, delay = time.monotonic() + WAIT_SECONDS, 0.005
        while True:
            live, gone = self.others()
            if gone and not for_write:
                raise self.unfinished(gone, "search")
            if not live:
                return gone
            if time.monotonic() > deadline:
                n = live[0]
                raise StoreBusyError(
                    f"process {n.get('pid')} on {n.get('host')!r} has been writing this index since {_when(n)} "
                    f"(waited {WAIT_SECONDS:g} s for it to finish); retry when the write is done.",
                    store=getattr(self.store, "name", "?"), operation="write" if for_write else "search")
            time.sleep(delay)
            delay = min(2 * delay, 0.05)
            if self.changed():
                reload()

    def append(self, payloads: list[bytes]) -> None:
        """Append entries after the last one this writer saw; refuses (``StoreError``) when another process wrote since."""
        for p in payloads:
            try:
                self.store.home_append(self.seq + 1, p)
            except StoreError as exc:
                if "conflict" in str(exc).lower():
                    raise StoreError(
                        "another process changed this index since it was opened; nothing was written. "
                        "Reopen it with vecnb.open_index(...) and retry.",
                        store=getattr(self.store, "name", "?"), operation="write") from None
                raise
            self.seq += 1
            self.entries += 1
        self.dirty = False

    def maybe_compact(self, index: Any) -> None:
        """Rewrite the ledger as head + live rows once it has grown long."""
        if self.entries <= COMPACT_AFTER:
            return
        payloads = [encode_head(head_of(index)), *encode_rows(index._frame, index._keys, index._row_hash),
                    *(_encode_begun(n) for n in self.open)]  # writes in flight stay visible
        self.seq, self.entries = int(self.store.home_reset(payloads)), len(payloads)


def _alive(pid: Any) -> bool:
    """Whether process ``pid`` runs on this host (a zombie -- killed, not yet reaped -- does not)."""
    try:
        pid = int(pid)
        if pid <= 0:  # never probe a process group
            return False
        os.kill(pid, 0)
    except (TypeError, ValueError, ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _when(note: dict) -> str:
    t = float(note.get("time") or 0)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(t))} ({time.time() - t:.1f} s ago)"


def head_of(index: Any) -> dict:
    """The head record of ``index`` (never credentials)."""
    from vecnb._version import __version__

    params = index.info().get("params") or {}  # informational: stores keep their own settings

    return {"format": FORMAT, "version": VERSION, "column": index.column, "text": index.text,
            "column_info": index._info, "dim": index.dim, "metric": index.metric, "kind": index.kind,
            "store": index.store_name, "store_params": params, "next_key": index._next_key,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "vecnb_version": __version__,
            "rows": len(index)}
