"""An index record (see :mod:`vecnb.index.home`) kept in a small SQLite file beside a store's own files.

For stores whose storage has no transactional place of its own for it (chroma's persistent
folder). Plain :mod:`sqlite3` (no extension needed); every call is one short transaction, and
appends use the same optimistic check as the server stores: entry ``seq`` is written only when
no entry ``>= seq`` exists, else a :class:`~vecnb.errors.StoreError` mentioning a conflict.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from contextlib import closing

from vecnb.errors import StoreError

__all__ = ["FileLedger"]


class FileLedger:
    """``read() / append(seq, payload) / reset(payloads) -> last seq`` over one SQLite file."""

    def __init__(self, path: str, store: str):
        self.path = path
        self.store = store
        # last()'s kept read connection: (pid, (st_ino, st_dev) of the file it opened, connection);
        # a search asks last() once or twice, and opening the file each time cost ~0.25 ms
        self._reader: tuple[int, tuple[int, int], sqlite3.Connection] | None = None
        self._lock = threading.Lock()

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
        """The last sequence number (None: no record).

        Read through a connection kept open between calls, reopened when the file at ``path`` is
        another file than the one it opened (another writer's ``os.replace`` of the record, a removal
        and re-creation: told by inode and device, checked before each read), or in a forked child.
        Each read is its own statement in autocommit mode: it sees every commit made before it.
        """
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        ident, pid = (st.st_ino, st.st_dev), os.getpid()
        with self._lock:
            r = self._reader
            if r is None or r[0] != pid or r[1] != ident:
                if r is not None and r[0] == pid:
                    r[2].close()
                self._reader = None
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                r = self._reader = (pid, ident, conn)
            try:
                v = r[2].execute("SELECT max(seq) FROM vecnb_home").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # a file made but no record in it yet
                    return None
                raise
        return None if v is None else int(v)

    def close(self) -> None:
        """Close :meth:`last`'s kept connection (a later call opens one again)."""
        with self._lock:
            r, self._reader = self._reader, None
        if r is not None and r[0] == os.getpid():
            r[2].close()

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
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(self.path + suffix)
            except FileNotFoundError:
                pass
