"""Argument checks shared across layers: positive integers, duplicate keys and the JSON form of numpy values."""

from __future__ import annotations

from typing import Any

import numpy as np

from vecnb.errors import InvalidInputError

__all__ = ["duplicated_ints", "json_default", "json_default_str", "positive_int"]


def positive_int(value: Any, name: str, *, what: str = "") -> int:
    """``value`` as an int > 0, else :class:`InvalidInputError` naming ``name`` (``what`` explains it)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive integer{f' ({what})' if what else ''}, got {value!r}.")
    return int(value)


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and arrays; anything else is an error (state files)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def json_default_str(o: Any) -> Any:
    """Like :func:`json_default`, but writes anything else as its ``str`` (descriptive manifests)."""
    try:
        return json_default(o)
    except TypeError:
        return str(o)


def duplicated_ints(values: np.ndarray) -> np.ndarray:
    """The values (sorted, unique) that occur more than once in the 1-D integer array ``values``.

    O(n) when ``values`` is strictly increasing (keys handed out 0, 1, 2, ...), else one sort.
    Not ``np.unique``: numpy 2.4 answers it through a hash table that took 17 s for 1M int64
    keys on a busy 2-core machine (a sort takes 0.17 s, the increasing check 1 ms).
    """
    v = np.asarray(values).reshape(-1)
    if len(v) < 2 or bool((v[1:] > v[:-1]).all()):
        return v[:0]
    s = np.sort(v, kind="stable")
    dup = s[1:][s[1:] == s[:-1]]
    return dup[np.r_[True, dup[1:] != dup[:-1]]] if len(dup) else v[:0]
