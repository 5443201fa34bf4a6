"""Per-frame facts that depend only on a DataFrame's layout, worked out once and kept beside it.

A notebook asks one query at a time over the same frame, and pandas builds a new ``df.vec``
accessor on every access, so whatever a search derives from the frame's *layout* (which
columns hold vectors, how result blocks are taken) would otherwise be derived again on every
query. :func:`cached` keeps such a value beside the frame's block manager:

* keyed weakly by the manager, so it goes when the frame goes and never keeps data alive;
* valid while the frame has the same column labels object and the same blocks (the same
  objects, in the same order): adding, replacing, deleting or renaming a column, or a dtype
  change, makes new ones, and the value is derived again. Values edited in place inside a block
  are not part of a layout (readers take the data from the frame at call time).

:func:`column_values` reads one column's array without building a ``Series`` (which costs a
deep copy of ``df.attrs`` per access). Both fall back to plain pandas when a frame is not laid
out in blocks (a pandas without ``BlockManager``).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable

import pandas as pd

try:
    from pandas.core.internals.managers import BlockManager as _Manager
except ImportError:  # pragma: no cover - a pandas that moved it: nothing is cached
    _Manager = None

__all__ = ["cached", "column_values", "manager"]

_VALUES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # manager -> {key: (_Stamp, value)}
_LOCK = threading.Lock()
_PER_FRAME = 32  # values kept per frame (different keys); more: start again


class _Stamp:
    """The layout a value was derived from: the column labels object and weak references to the blocks."""

    __slots__ = ("blocks", "columns")

    def __init__(self, mgr: Any):
        self.columns = mgr.axes[0]
        self.blocks = tuple(weakref.ref(b) for b in mgr.blocks)  # weak: a replaced column is freed

    def fits(self, mgr: Any) -> bool:
        if mgr.axes[0] is not self.columns:
            return False
        blocks = mgr.blocks
        if len(blocks) != len(self.blocks):
            return False
        for b, r in zip(blocks, self.blocks):
            if r() is not b:
                return False
        return True


def manager(frame: pd.DataFrame) -> Any:
    """The frame's block manager, or None when it is not laid out in blocks.

    Examples
    --------
    >>> manager(pd.DataFrame({"a": [1, 2]})) is not None
    True
    """
    mgr = getattr(frame, "_mgr", None)
    return mgr if _Manager is not None and isinstance(mgr, _Manager) else None


def cached(frame: pd.DataFrame, key: Any, make: Callable[[Any], Any]) -> Any:
    """``make(mgr)`` for ``frame``'s current layout, derived once per layout and ``key``.

    ``make`` receives the block manager (or None when the frame has none; then nothing is
    cached). ``key`` must be hashable and name everything else ``make`` depends on.

    Examples
    --------
    >>> df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    >>> calls = []
    >>> def ints(mgr):
    ...     calls.append(1)
    ...     return [c for c in df.columns if df[c].dtype.kind == "i"]
    >>> cached(df, "int columns", ints), cached(df, "int columns", ints), len(calls)
    (['a'], ['a'], 1)
    >>> df["c"] = [3, 4]  # a new layout: derived again
    >>> cached(df, "int columns", ints), len(calls)
    (['a', 'c'], 2)
    """
    mgr = manager(frame)
    if mgr is None:
        return make(None)
    per = _VALUES.get(mgr)
    hit = per.get(key) if per is not None else None
    if hit is not None and hit[0].fits(mgr):
        return hit[1]
    stamp = _Stamp(mgr)
    value = make(mgr)
    with _LOCK:
        per = _VALUES.get(mgr)
        if per is None:
            per = _VALUES[mgr] = {}
        elif len(per) >= _PER_FRAME:
            per.clear()
        per[key] = (stamp, value)
    return value


def column_values(frame: pd.DataFrame, name: Any) -> Any:
    """The array of column ``name`` (unique label) without building a Series; None if not simple.

    An extension array is the very object the frame holds (its identity is stable while the
    column is not replaced); a numpy column comes back as a view.

    Examples
    --------
    >>> df = pd.DataFrame({"s": pd.array(["x", "y"], dtype="string[pyarrow]")})
    >>> column_values(df, "s") is column_values(df, "s")
    True
    """
    mgr = manager(frame)
    if mgr is None:
        return None
    loc = frame.columns.get_loc(name)
    if not isinstance(loc, int):
        return None
    return mgr.iget_values(loc)
