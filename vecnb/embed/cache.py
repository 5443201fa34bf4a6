"""On-disk embedding cache: one folder per ``model_id``, holding append-only ``.npy`` shards.

Layout::

    <root>/                                  default_cache_dir() unless a path / URL is given
      <slug(model_id)>-<sha256(model_id)[:12]>/
        meta.json                            {"format": 1, "model_id": ..., "dim": ...}
        <stem>.vecs.npy                      float32 (m, d), one row per text
        <stem>.keys.npy                      uint8   (m, 32): SHA-256 of each text (UTF-8)
        .lock                                held while shards are merged (compaction)

Why this shape:

* **Append-only, never rewritten in place.** A writer saves a new shard under a unique stem
  (``<time_ns>-<pid>-<random>``): the vectors first, then the keys, each written to a temporary
  name and ``os.replace``-d into place. A shard becomes visible only when its keys file exists,
  and then its vectors are complete. Two processes filling the same cache therefore never
  touch the same file; at worst both embed a text, and the duplicate key is harmless.
* **Cheap look-ups at 100k+ rows.** Only the key files are read to build the index (32 bytes a
  row; kept in memory per process and refreshed incrementally when new shards appear);
  vectors are memory-mapped and only the rows asked for are read. The index is a sorted array
  of the keys' first 8 bytes searched with :func:`numpy.searchsorted` and confirmed on all
  32 bytes, so look-ups are vectorised.
* **No pickles.** Everything is plain ``.npy`` loaded with ``allow_pickle=False`` plus JSON.
* **Bounded shard count.** Past :data:`MAX_SHARDS` shards, a writer that obtains the folder's
  ``flock`` merges the shards smaller than :data:`BIG_SHARD_ROWS` rows into one (new shard
  first, then the old ones are removed: keys before vectors), so the many one-row shards that
  cached queries leave behind are merged cheaply and a large shard is never rewritten. A reader
  whose shard vanished in between re-reads the folder and retries. Compaction runs only on
  local folders (POSIX ``fcntl``).

``root`` may also be an fsspec URL (``s3://bucket/cache``, ``memory://...``); shards are then
written with ``pipe_file`` (each object appears atomically) and read whole, and compaction is
not attempted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vecnb.errors import DimensionMismatchError

__all__ = ["BIG_SHARD_ROWS", "FORMAT_VERSION", "MAX_SHARDS", "EmbeddingCache", "default_cache_dir", "text_keys"]

FORMAT_VERSION = 1
MAX_SHARDS = 32
"""Number of shards in a model folder above which a writer merges the small ones."""
BIG_SHARD_ROWS = 65536
"""Shards with at least this many rows are left alone by compaction."""
_KEYS = ".keys.npy"
_VECS = ".vecs.npy"
_ORPHAN_AGE_S = 3600.0  # vectors without keys older than this are debris of a killed writer


def default_cache_dir() -> Path | str:
    """Return the default embedding-cache root.

    ``$VECNB_CACHE_DIR`` when set (a path or an fsspec URL), else
    ``$XDG_CACHE_HOME/vecnb/embeddings`` (``~/.cache/vecnb/embeddings``).

    Returns
    -------
    pathlib.Path or str
        A ``Path`` for local folders, the URL string for remote ones. Not created here.

    Examples
    --------
    >>> import os
    >>> str(default_cache_dir()) == os.environ["VECNB_CACHE_DIR"]
    True
    """
    env = os.environ.get("VECNB_CACHE_DIR")
    if env:
        return env if _is_url(env) else Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vecnb" / "embeddings"


def _is_url(path: Any) -> bool:
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """SHA-256 of each text's UTF-8 bytes.

    Parameters
    ----------
    texts : sequence of str, length n

    Returns
    -------
    numpy.ndarray, shape (n, 32), uint8

    Examples
    --------
    >>> keys = text_keys(["red apple", "red apple", "pear"])
    >>> keys.shape, bool((keys[0] == keys[1]).all()), bool((keys[0] == keys[2]).all())
    ((3, 32), True, False)
    """
    sha = hashlib.sha256
    blob = b"".join(sha(t.encode("utf-8", "surrogatepass")).digest() for t in texts)
    return np.frombuffer(blob, dtype=np.uint8).reshape(len(texts), 32)


def _prefix(keys: np.ndarray) -> np.ndarray:
    """First 8 bytes of each key as a big-endian uint64 (sortable), shape (n,)."""
    return np.ascontiguousarray(keys[:, :8]).view(">u8").ravel().astype(np.uint64)


def _slug(model_id: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._")[:60] or "model"
    return f"{s}-{hashlib.sha256(model_id.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


# ----------------------------------------------------------------------------------------
# file-system access: local (os + mmap) or fsspec
# ----------------------------------------------------------------------------------------

class _LocalFS:
    remote = False

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def listdir(self) -> list[str]:
        try:
            return os.listdir(self.folder)
        except FileNotFoundError:
            return []

    def makedirs(self) -> None:
        os.makedirs(self.folder, exist_ok=True)

    def load(self, name: str, mmap: bool = False) -> np.ndarray:
        return np.load(self.path(name), mmap_mode="r" if mmap else None, allow_pickle=False)

    def save(self, name: str, arr: np.ndarray) -> None:
        tmp = self.path(f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.save(f, arr, allow_pickle=False)
            os.replace(tmp, self.path(name))
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def write_text(self, name: str, text: str) -> None:
        tmp = self.path(f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.path(name))

    def read_text(self, name: str) -> str:
        with open(self.path(name), encoding="utf-8") as f:
            return f.read()

    def remove(self, name: str) -> None:
        try:
            os.unlink(self.path(name))
        except FileNotFoundError:
            pass

    def age(self, name: str) -> float:
        try:
            return time.time() - os.stat(self.path(name)).st_mtime
        except OSError:
            return 0.0

    def rmtree(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


class _RemoteFS:
    remote = True

    def __init__(self, url: str):
        import fsspec

        self.fs, self.folder = fsspec.core.url_to_fs(url)
        self.folder = self.folder.rstrip("/")

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    def listdir(self) -> list[str]:
        try:
            return [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.folder, detail=False)]
        except FileNotFoundError:
            return []

    def makedirs(self) -> None:
        try:
            self.fs.makedirs(self.folder, exist_ok=True)
        except Exception:  # noqa: BLE001, S110 - object stores have no real folders
            pass

    def load(self, name: str, mmap: bool = False) -> np.ndarray:
        data = self.fs.cat_file(self.path(name))
        return np.load(io.BytesIO(data), allow_pickle=False)

    def save(self, name: str, arr: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        self.fs.pipe_file(self.path(name), buf.getvalue())

    def write_text(self, name: str, text: str) -> None:
        self.fs.pipe_file(self.path(name), text.encode("utf-8"))

    def read_text(self, name: str) -> str:
        return self.fs.cat_file(self.path(name)).decode("utf-8")

    def remove(self, name: str) -> None:
        try:
            self.fs.rm_file(self.path(name))
        except FileNotFoundError:
            pass

    def age(self, name: str) -> float:
        return 0.0

    def rmtree(self) -> None:
        try:
            self.fs.rm(self.folder, recursive=True)
        except FileNotFoundError:
            pass


# ----------------------------------------------------------------------------------------
# the per-folder index, shared by every EmbeddingCache object of this process
# ----------------------------------------------------------------------------------------

class _Index:
    """Sorted key prefixes of every visible shard of one model folder."""

    def __init__(self) -> None:
        self.shard_keys: dict[str, np.ndarray] = {}   # stem -> (m, 32) uint8
        self.bad: set[str] = set()                     # unreadable shards, not retried
        self.stems: list[str] = []
        self.prefix = np.zeros(0, np.uint64)          # sorted
        self.keys = np.zeros((0, 32), np.uint8)       # aligned with prefix
        self.shard = np.zeros(0, np.int32)            # index into self.stems
        self.row = np.zeros(0, np.int64)
        self.lock = threading.Lock()

    def rebuild(self) -> None:
        stems = sorted(self.shard_keys)
        if not stems:
            self.stems, self.prefix = [], np.zeros(0, np.uint64)
            self.keys, self.shard, self.row = np.zeros((0, 32), np.uint8), np.zeros(0, np.int32), np.zeros(0, np.int64)
            return
        keys = np.concatenate([self.shard_keys[s] for s in stems])
        shard = np.concatenate([np.full(len(self.shard_keys[s]), i, np.int32) for i, s in enumerate(stems)])
        row = np.concatenate([np.arange(len(self.shard_keys[s]), dtype=np.int64) for s in stems])
        prefix = _prefix(keys)
        order = np.argsort(prefix, kind="stable")
        self.stems, self.prefix = stems, prefix[order]
        self.keys, self.shard, self.row = keys[order], shard[order], row[order]

    def add(self, stem: str, keys: np.ndarray) -> None:
        """Index one new shard without re-sorting the others (a sorted merge)."""
        if stem in self.shard_keys:
            return
        self.shard_keys[stem] = keys
        p = _prefix(keys)
        order = np.argsort(p, kind="stable")
        p = p[order]
        at = np.searchsorted(self.prefix, p, side="right")
        self.stems = [*self.stems, stem]
        self.prefix = np.insert(self.prefix, at, p)
        self.keys = np.insert(self.keys, at, keys[order], axis=0)
        self.shard = np.insert(self.shard, at, np.int32(len(self.stems) - 1))
        self.row = np.insert(self.row, at, order.astype(np.int64))

    def lookup(self, qkeys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(found, shard, row)`` arrays for query keys of shape (q, 32)."""
        q = len(qkeys)
        if not len(self.prefix) or not q:
            return np.zeros(q, bool), np.zeros(q, np.int32), np.zeros(q, np.int64)
        qp = _prefix(qkeys)
        pos = np.searchsorted(self.prefix, qp).clip(0, len(self.prefix) - 1)
        found = (self.prefix[pos] == qp)
        cand = np.flatnonzero(found)
        if cand.size:
            found[cand] = (self.keys[pos[cand]] == qkeys[cand]).all(axis=1)
        return found, self.shard[pos], self.row[pos]


_INDEXES: dict[str, _Index] = {}
_INDEXES_LOCK = threading.Lock()


class EmbeddingCache:
    """The cached embeddings of one model under one cache root.

    Parameters
    ----------
    model_id : str
        The embedder's :attr:`~vecnb.embed.Embedder.model_id`.
    root : str or path-like, optional
        Cache root (a folder or an fsspec URL); :func:`default_cache_dir` when ``None``.
    dim : int, optional
        Expected vector width; shards of another width are ignored (with a warning).

    Examples
    --------
    >>> cache = EmbeddingCache("my-model@v1", root="cache")
    >>> keys = text_keys(["red apple", "pear"])
    >>> cache.put(keys[:1], np.ones((1, 3), np.float32))
    >>> found, vectors = cache.get(keys)
    >>> found, vectors.shape              # one row per key; rows not found are zeros
    (array([ True, False]), (2, 3))
    >>> cache.refresh()                   # see shards other processes wrote since
    >>> cache.compact()                   # merge small shards (False: nothing to merge)
    False
    >>> cache.clear()
    >>> cache.get(keys)[0]
    array([False, False])
    """

    def __init__(self, model_id: str, root: str | os.PathLike[str] | None = None, *, dim: int | None = None):
        if root is None:
            root = default_cache_dir()
        if isinstance(root, str) and root.startswith("file://"):
            root = root[len("file://"):]
        self.model_id = model_id
        self.dim = dim
        self.root = root if _is_url(root) else Path(root).expanduser()
        name = _slug(model_id)
        if _is_url(self.root):
            self._fs: _LocalFS | _RemoteFS = _RemoteFS(f"{str(self.root).rstrip('/')}/{name}")
        else:
            self._fs = _LocalFS(Path(self.root) / name)
        key = f"{'remote' if self._fs.remote else 'local'}:{self._fs.folder}"
        with _INDEXES_LOCK:
            self._index = _INDEXES.setdefault(key, _Index())
        self._warned_dims: set[int] = set()

    @property
    def folder(self) -> str:
        """Folder (or URL path) holding this model's shards."""
        return str(self._fs.folder)

    # -- reading ---------------------------------------------------------------------------
    def _shard_stems(self) -> list[str]:
        return sorted(n[: -len(_KEYS)] for n in self._fs.listdir()
                      if n.endswith(_KEYS) and not n.startswith("."))

    def refresh(self) -> None:
        """Bring the in-memory index up to date with the shards on disk."""
        idx = self._index
        with idx.lock:
            stems = set(self._shard_stems()) - idx.bad
            known = set(idx.shard_keys)
            if stems == known:
                return
            for s in known - stems:
                del idx.shard_keys[s]
            for s in sorted(stems - known):
                try:
                    keys = self._fs.load(s + _KEYS)
                except FileNotFoundError:
                    continue  # removed by a compaction in between
                except Exception as exc:  # noqa: BLE001 - truncated / foreign file: skip it, say so
                    idx.bad.add(s)
                    warnings.warn(f"vecnb embedding cache: ignoring unreadable shard {s!r} in "
                                  f"{self.folder}: {exc}", RuntimeWarning, stacklevel=3)
                    continue
                if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != 32:
                    idx.bad.add(s)
                    continue
                idx.shard_keys[s] = np.ascontiguousarray(keys)
            idx.rebuild()

    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Look up vectors by text key.

        Parameters
        ----------
        keys : numpy.ndarray, shape (q, 32), uint8
            From :func:`text_keys`.

        Returns
        -------
        found : numpy.ndarray, shape (q,), bool
        vectors : numpy.ndarray, shape (q, d), float32, or None
            Row ``i`` holds the vector of ``keys[i]`` when ``found[i]``, zeros otherwise;
            ``None`` if nothing was found.
        """
        for attempt in range(3):
            self.refresh()
            try:
                return self._get(keys)
            except FileNotFoundError:  # a compaction removed a shard we indexed: re-read
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        idx = self._index
        with idx.lock:
            found, shard, row, stems = *idx.lookup(keys), list(idx.stems)
        hit = np.flatnonzero(found)
        if not hit.size:
            return found, None
        out: np.ndarray | None = None
        for s in np.unique(shard[hit]):
            sel = hit[shard[hit] == s]
            vecs = self._fs.load(stems[s] + _VECS, mmap=True)
            d = vecs.shape[1] if vecs.ndim == 2 else -1
            if vecs.dtype != np.float32 or d < 0 or (self.dim is not None and d != self.dim) \
                    or (out is not None and d != out.shape[1]):
                if d not in self._warned_dims:
                    self._warned_dims.add(d)
                    warnings.warn(
                        f"vecnb embedding cache: ignoring shard {stems[s]!r} of {self.model_id!r} "
                        f"with vectors of shape {vecs.shape} / {vecs.dtype} (expected width "
                        f"{self.dim or (out.shape[1] if out is not None else '?')}); "
                        f"clear it with EmbeddingCache(...).clear()", RuntimeWarning, stacklevel=3)
                found[sel] = False
                continue
            if out is None:
                out = np.empty((len(keys), d), np.float32)
            rows = row[sel]
            if rows.size == sel.size > 0 and sel[-1] - sel[0] == rows[-1] - rows[0] == sel.size - 1 \
                    and (np.diff(sel) == 1).all() and (np.diff(rows) == 1).all():
                out[sel[0]:sel[-1] + 1] = vecs[rows[0]:rows[-1] + 1]  # one block: a single copy
            else:
                order = np.argsort(rows, kind="stable")  # read the memory map front to back
                out[sel[order]] = vecs[rows[order]]
        if not found.any() or out is None:
            return found, None
        out[~found] = 0.0
        return found, out

    def __len__(self) -> int:
        """Number of cached rows (a text cached twice by racing writers counts twice)."""
        self.refresh()
        return len(self._index.prefix)

    # -- writing ---------------------------------------------------------------------------
    def put(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Append a shard of ``vectors`` (shape (m, d), float32) under ``keys`` (shape (m, 32)).

        Raises
        ------
        DimensionMismatchError
            If ``vectors`` does not have the cache's ``dim``.
        OSError
            If the folder cannot be written (callers usually warn and carry on).
        """
        keys = np.ascontiguousarray(keys, dtype=np.uint8)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not len(keys):
            return
        if vectors.ndim != 2 or len(vectors) != len(keys):
            raise DimensionMismatchError(f"cannot cache {vectors.shape} vectors under {len(keys)} keys")
        if self.dim is not None and vectors.shape[1] != self.dim:
            raise DimensionMismatchError(
                f"cannot cache {vectors.shape[1]}-d vectors for {self.model_id!r}, which is {self.dim}-d")
        self._fs.makedirs()
        if "meta.json" not in self._fs.listdir():
            self._fs.write_text("meta.json", json.dumps(
                {"format": FORMAT_VERSION, "model_id": self.model_id, "dim": int(vectors.shape[1])}))
        stem = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._fs.save(stem + _VECS, vectors)  # vectors first: a shard is visible once its keys exist
        self._fs.save(stem + _KEYS, keys)
        idx = self._index
        with idx.lock:  # index our own shard without re-reading it
            idx.add(stem, keys)
        if not self._fs.remote and sum(len(k) < BIG_SHARD_ROWS for k in idx.shard_keys.values()) > MAX_SHARDS:
            try:
                self.compact()
            except OSError as exc:  # pragma: no cover - best effort
                warnings.warn(f"vecnb embedding cache: compaction of {self.folder} failed: {exc}",
                              RuntimeWarning, stacklevel=2)

    def compact(self) -> bool:
        """Merge this folder's shards of fewer than :data:`BIG_SHARD_ROWS` rows into one (local only).

        Returns
        -------
        bool
            ``False`` when another process holds the folder lock, the cache is remote, or
            there was nothing to merge.
        """
        if self._fs.remote:
            return False
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: leave shards as they are
            return False
        self._fs.makedirs()
        with open(self._fs.path(".lock"), "a+b") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False
            try:
                return self._compact_locked()
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _compact_locked(self) -> bool:
        names = self._fs.listdir()
        stems = sorted(n[: -len(_KEYS)] for n in names if n.endswith(_KEYS) and not n.startswith("."))
        # debris of killed writers: vectors whose keys never appeared, and old temp files
        live = set(stems)
        for n in names:
            debris = (n.endswith(_VECS) and n[: -len(_VECS)] not in live) or (n.startswith(".") and n.endswith(".tmp"))
            if debris and self._fs.age(n) > _ORPHAN_AGE_S:
                self._fs.remove(n)
        small: list[tuple[str, np.ndarray, np.ndarray]] = []
        for s in stems:
            try:
                k = self._fs.load(s + _KEYS)
                v = self._fs.load(s + _VECS, mmap=True)
            except Exception:  # noqa: BLE001, S112 - removed meanwhile, or unreadable (readers skip it too)
                continue
            if v.ndim != 2 or len(v) != len(k) or v.dtype != np.float32 or len(k) >= BIG_SHARD_ROWS:
                continue
            if small and v.shape[1] != small[0][2].shape[1]:
                continue
            small.append((s, k, v))
        if len(small) < 2:
            return False
        keys = np.concatenate([k for _, k, _ in small])
        vecs = np.concatenate([v for _, _, v in small])
        # drop repeated texts (racing writers); comparing 8-byte prefixes is enough here: a
        # distinct text dropped by a prefix clash (p ~ 1e-9) would merely be embedded again
        _, first = np.unique(_prefix(keys), return_index=True)
        if first.size < len(keys):
            first.sort()
            keys, vecs = keys[first], vecs[first]
        stem = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._fs.save(stem + _VECS, vecs)
        self._fs.save(stem + _KEYS, np.ascontiguousarray(keys))
        for s, _, _ in small:
            self._fs.remove(s + _KEYS)
        for s, _, _ in small:
            self._fs.remove(s + _VECS)
        self.refresh()
        return True

    def clear(self) -> None:
        """Delete this model's cached embeddings (the whole model folder)."""
        self._fs.rmtree()
        idx = self._index
        with idx.lock:
            idx.shard_keys.clear()
            idx.bad.clear()
            idx.rebuild()

    def __repr__(self) -> str:
        return f"EmbeddingCache({self.model_id!r}, folder={self.folder!r})"
