"""BLAS threads for small products: one thread when the work is too small to split.

A matrix-vector product over a few thousand rows takes ~0.02-0.3 ms on one core. Split over
OpenBLAS's threads, each call waits for the other threads to be scheduled: on a busy machine
(measured here at load average 14 on 2 cores) a 5,000 x 384 product took 16 ms with 2 threads
and 0.27 ms with 1. So small single-query work runs single-threaded.

The BLAS libraries are found once through ``threadpoolctl`` (a core dependency; without it this
does nothing) and their thread count is set directly (~1 microsecond), not through
``threadpoolctl.limit`` (~7 microseconds, which a 0.05 ms search would notice). Nested and
concurrent uses are counted: the first one in lowers the count, the last one out restores it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["CPUS", "SMALL_WORK", "Beside", "in_slices", "single_blas_thread"]

CPUS = os.cpu_count() or 1
#: multiply-adds below which one query's product runs on one thread (~10k rows x 384)
SMALL_WORK = 1 << 22

_libs: list[Any] | None = None
_lock = threading.Lock()
_depth = 0
_saved: list[int] = []


class _Blas:
    """One BLAS library's thread-count getter / setter, called directly (ctypes, ~0.2 us each)."""

    __slots__ = ("get", "set")

    def __init__(self, lc: Any):
        get = set_ = None
        symbol = getattr(lc, "_get_symbol", None)  # threadpoolctl's own lookup (handles symbol prefixes)
        if getattr(lc, "internal_api", None) == "openblas" and getattr(lc, "threading_layer", "") != "openmp" \
                and callable(symbol):
            try:
                get, set_ = symbol("openblas_get_num_threads"), symbol("openblas_set_num_threads")
            except Exception:  # noqa: BLE001 - threadpoolctl's public calls below
                get = set_ = None
        self.get = get if get is not None and set_ is not None else (lambda: lc.num_threads)
        self.set = set_ if get is not None and set_ is not None else lc.set_num_threads


def _blas_libs() -> list[Any]:
    global _libs
    if _libs is None:
        try:
            from threadpoolctl import ThreadpoolController

            _libs = [_Blas(lc) for lc in ThreadpoolController().lib_controllers if lc.user_api == "blas"]
        except Exception:  # noqa: BLE001 - an optional speed-up only
            _libs = []
    return _libs


class single_blas_thread:  # noqa: N801 - used like the context-manager function it replaced
    """Run the block with every BLAS library at one thread (restored afterwards).

    A class rather than a generator context manager: entering and leaving cost ~1 us, which a
    0.05 ms search notices.
    """

    __slots__ = ("_on",)

    def __enter__(self) -> None:
        global _depth, _saved
        libs = _libs if _libs is not None else _blas_libs()
        self._on = bool(libs) and CPUS > 1
        if not self._on:
            return
        with _lock:
            if _depth == 0:
                _saved = [lib.get() for lib in libs]
                for lib, n in zip(libs, _saved):
                    if n > 1:
                        lib.set(1)
            _depth += 1

    def __exit__(self, *exc: object) -> None:
        global _depth
        if not self._on:
            return
        with _lock:
            _depth -= 1
            if _depth == 0:
                for lib, n in zip(_libs, _saved):
                    if n > 1:
                        lib.set(n)


_pool: Any = None


def in_slices(fn: Any, n: int) -> list[Any]:
    """``[fn(start, stop), ...]`` over :data:`CPUS` equal slices of ``range(n)``, run in threads.

    For numpy work that releases the GIL (gathers, einsum) beside a multi-threaded library
    call: e.g. the float64 rescoring of a batch's hits after faiss's kernel used every core.
    The pool is made on first use and kept (its threads sleep between calls).
    """
    global _pool
    parts = min(CPUS, n)
    if parts <= 1:
        return [fn(0, n)]
    if _pool is None:
        with _lock:
            if _pool is None:
                from concurrent.futures import ThreadPoolExecutor

                _pool = ThreadPoolExecutor(CPUS, thread_name_prefix="vecnb-slices")
    bounds = [n * i // parts for i in range(parts + 1)]
    futures = [_pool.submit(fn, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    return [f.result() for f in futures]


class Beside:
    """Run ``fn()`` in a thread of its own while the caller does something else -- typically waits
    on a server (a COPY the server is still digesting), so the work costs no wall time.

    :meth:`result` waits and returns ``fn``'s value or raises its exception; :meth:`join` only
    waits (for cleanup paths: the thread never outlives the caller's block).

    Examples
    --------
    >>> side = Beside(lambda: sum(range(10)))
    >>> side.result()
    45
    """

    def __init__(self, fn: Any):
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name="vecnb-beside", daemon=True)
        self._thread.start()

    def _run(self, fn: Any) -> None:
        try:
            self._value = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def join(self) -> None:
        """Wait for ``fn`` to end (its outcome is kept for :meth:`result`)."""
        self._thread.join()

    def result(self) -> Any:
        """``fn()``'s value, after waiting for it; its exception is raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
