"""What :mod:`vecnb.ops.migrate` and :mod:`vecnb.ops.vectorize` share: an atomically replaced
checkpoint file, retries with exponential backoff, progress bars and small HTML reports."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vecnb._core.html import kv_table as _html_table  # noqa: F401 - used by migrate / vectorize
from vecnb._core.progress import progress_bar
from vecnb._core.validation import json_default
from vecnb._core.validation import positive_int
from vecnb.errors import (
    IndexFormatError,
    InvalidInputError,
    MissingDependencyError,
)

__all__ = ["Checkpoint", "call_with_retries"]


# ====================================================================== durable helpers
class Checkpoint:
    """A small JSON state file, replaced atomically.

    :meth:`save` writes a temporary file in the same folder, flushes and fsyncs it, then
    ``os.replace``-s it over the checkpoint (atomic on POSIX and Windows) and fsyncs the
    folder, so a reader sees either the old or the new state, never a torn one.

    Parameters
    ----------
    path : str or PathLike
        The checkpoint file; its folder is created on first save.

    Examples
    --------
    >>> cp = Checkpoint("state/checkpoint.json")
    >>> cp.load() is None
    True
    >>> cp.save({"done": 3})
    >>> cp.load()
    {'done': 3}
    >>> cp.clear()
    >>> cp.load() is None
    True
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def load(self) -> dict | None:
        """The saved state, or ``None`` when there is no checkpoint yet.

        Raises
        ------
        IndexFormatError
            The file exists but is not a JSON object (it was not written by vecnb).
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            state = json.loads(text)
        except ValueError as exc:
            raise IndexFormatError(
                f"Checkpoint {str(self.path)!r} is not valid JSON ({exc}); it was not written by vecnb. "
                "Delete it to start over, or pass another checkpoint path."
            ) from None
        if not isinstance(state, dict):
            raise IndexFormatError(f"Checkpoint {str(self.path)!r} does not hold a JSON object; delete it.")
        return state

    def save(self, state: dict) -> None:
        """Write ``state`` atomically (temporary file + fsync + ``os.replace``)."""
        _atomic_write_bytes(self.path, json.dumps(state, default=json_default).encode("utf-8"))

    def clear(self) -> None:
        """Delete the checkpoint (a missing file is fine)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r})"


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _atomic_write_parquet(path: Path, table: Any) -> None:
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


# errors a retry cannot fix: bad input, wrong dimension, missing packages, bad files
_NOT_RETRYABLE = (InvalidInputError, TypeError, MissingDependencyError, IndexFormatError, KeyboardInterrupt)


def call_with_retries(
    fn: Callable[[], Any],
    *,
    retries: int = 3,
    backoff: float = 0.5,
    what: str = "operation",
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Call ``fn()``; on failure wait ``backoff * 2**attempt`` seconds and try again.

    Parameters
    ----------
    fn : callable
        What to do; called up to ``retries + 1`` times.
    retries : int
        How many times to try again after the first failure.
    backoff : float
        The first wait in seconds; it doubles on every further attempt (0.5, 1, 2, ...).
    what : str
        Used in the warning issued before each retry.
    on_retry : callable, optional
        ``on_retry(attempt, exception, delay)`` before each wait.

    Errors a retry cannot fix (:class:`~vecnb.errors.InvalidInputError` and its subclasses
    such as :class:`~vecnb.errors.DimensionMismatchError`, ``TypeError``, missing
    dependencies) are raised at once.

    Examples
    --------
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ConnectionError("server busy")
    ...     return "done"
    >>> call_with_retries(flaky, retries=3, backoff=0.0, what="upsert")
    'done'
    >>> len(calls)
    3
    """
    attempt = 0
    while True:
        try:
            return fn()
        except _NOT_RETRYABLE:
            raise
        except Exception as exc:
            if attempt >= retries:
                raise
            delay = float(backoff) * (2 ** attempt)
            attempt += 1
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)


def _check_retry_args(retries: Any, backoff: Any, batch_size: Any) -> None:
    positive_int(batch_size, "batch_size")
    if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) or retries < 0:
        raise InvalidInputError(f"retries must be an integer >= 0, got {retries!r}.")
    if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or not backoff >= 0:
        raise InvalidInputError(f"backoff must be a number of seconds >= 0, got {backoff!r}.")


def _progress_bar(total: int | None, initial: int, desc: str, enabled: bool) -> Any:
    return progress_bar(total, desc, enabled=enabled, initial=initial, unit="row", unit_scale=True,
                        dynamic_ncols=True)


def _short(exc: BaseException, limit: int = 300) -> str:
    msg = f"{type(exc).__name__}: {exc}"
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."
