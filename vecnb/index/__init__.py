"""``VectorIndex``: a store plus the rows it holds (sync, swap, save, load).

``from vecnb.index import VectorIndex`` is the stable path; the code lives in :mod:`vecnb.index.core`.
"""

from __future__ import annotations

from vecnb.index.core import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    VectorIndex,
    build_index,
    load_index,
    open_index,
    swap_index,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "VectorIndex", "build_index", "load_index", "open_index",
           "swap_index"]
