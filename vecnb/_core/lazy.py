"""Lazy ``"module:attr"`` targets, as registries (stores, embedders, widgets, the package face) name things."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from vecnb.errors import MissingDependencyError

__all__ = ["load"]


def load(target: str, *, feature: str | None = None, extra: str | None = None) -> Any:
    """Import ``"package.module"`` (the module) or ``"package.module:attr"`` (that attribute;
    ``attr`` may be dotted, ``"mod:Class.method"``).

    With ``extra``, a module outside vecnb that cannot be imported raises
    :class:`~vecnb.errors.MissingDependencyError` naming ``feature`` and the exact
    ``pip install "vecnb[extra]"``; a broken vecnb module raises its own ImportError.
    """
    mod, _, attr = target.partition(":")
    try:
        value = import_module(mod)
    except ImportError as exc:
        if extra and (exc.name or "").split(".")[0] != "vecnb":
            raise MissingDependencyError.for_extra(feature or repr(target), extra, exc.name or mod) from exc
        raise
    for part in attr.split(".") if attr else ():
        value = getattr(value, part)
    return value
