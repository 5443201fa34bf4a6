"""Argument checks shared across layers: positive integers and the JSON form of numpy values."""

from __future__ import annotations

from typing import Any

import numpy as np

from vecnb.errors import InvalidInputError

__all__ = ["json_default", "json_default_str", "positive_int"]


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
