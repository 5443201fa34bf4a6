"""An index record (see :mod:`vecnb.index.home`) kept in a small SQLite file beside a store's own files.

For stores whose storage has no transactional place of its own for it (chroma's persistent
folder). Plain :mod:`sqlite3` (no extension needed); every call is one short transaction, and
appends use the same optimistic check as the server stores: entry ``seq`` is written only when
no entry ``>= seq`` exists, else a :class:`~vecnb.errors.StoreError` mentioning a conflict.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing

from vecnb.errors import StoreError

__all__ = ["FileLedger"]


class FileLedger:
    """``read() / append(seq, payload) / reset(payloads) -> last seq`` over one SQLite file."""

    def __init__(self, path: str, store: str):
        self.path = path
        self.store = store

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS vecnb_home(seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        return conn

    def exists(self) -> bool:
        return os.path.isfile(self.path)

    def read(self) -> list[tuple[int, bytes]]:
        if not self.exists():
            return []
        with closing(self._connect()) as conn:
            return [(int(a), bytes(b)) for a, b in conn.execute("SELECT seq, payload FROM vecnb_home ORDER BY seq")]

    def last(self) -> int | None:
        """The last sequence number (None: no record)."""
        if not self.exists():
            return None
        with closing(self._connect()) as conn:
            v = conn.execute("SELECT max(seq) FROM vecnb_home").fetchone()[0]
        return None if v is None else int(v)

    def append(self, seq: int, payload: bytes) -> None:
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute("INSERT INTO vecnb_home(seq, payload) SELECT ?, ? WHERE NOT EXISTS "
                               "(SELECT 1 FROM vecnb_home WHERE seq >= ?)", (int(seq), payload, int(seq)))
            if cur.rowcount != 1:
                conn.execute("ROLLBACK")
                raise StoreError(f"write conflict on the index record {self.path!r}", store=self.store,
                                 operation="write")
            conn.execute("COMMIT")

    def reset(self, payloads: list[bytes], fresh: bool = False, floor: int = 0) -> int:
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            start = int(conn.execute("SELECT coalesce(max(seq), -1) + 1 FROM vecnb_home").fetchone()[0])
            if fresh and start:
                conn.execute("ROLLBACK")
                raise StoreError(f"write conflict: {self.path!r} already holds an index record", store=self.store,
                                 operation="write")
            start = max(start, int(floor))
            conn.execute("DELETE FROM vecnb_home")
            conn.executemany("INSERT INTO vecnb_home(seq, payload) VALUES (?, ?)",
                             [(start + i, p) for i, p in enumerate(payloads)])
            conn.execute("COMMIT")
        return start + len(payloads) - 1

    def remove(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(self.path + suffix)
            except FileNotFoundError:
                pass
