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

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["CPUS", "SMALL_WORK", "single_blas_thread"]

CPUS = os.cpu_count() or 1
#: multiply-adds below which one query's product runs on one thread (~10k rows x 384)
SMALL_WORK = 1 << 22

_libs: list[Any] | None = None
_lock = threading.Lock()
_depth = 0
_saved: list[int] = []


def _blas_libs() -> list[Any]:
    global _libs
    if _libs is None:
        try:
            from threadpoolctl import ThreadpoolController

            _libs = [lc for lc in ThreadpoolController().lib_controllers if lc.user_api == "blas"]
        except Exception:  # noqa: BLE001 - an optional speed-up only
            _libs = []
    return _libs


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with every BLAS library at one thread (restored afterwards)."""
    global _depth, _saved
    libs = _blas_libs()
    if not libs or CPUS <= 1:
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = [lc.num_threads for lc in libs]
            for lc, n in zip(libs, _saved):
                if n > 1:
                    lc.set_num_threads(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for lc, n in zip(libs, _saved):
                    if n > 1:
                        lc.set_num_threads(n)
