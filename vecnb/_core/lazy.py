"""Lazy ``"module:attr"`` targets, as registries (stores, embedders, widgets, the package face) name things."""

from __future__ import annotations

from importlib import import_module
from collections.abc import Callable
from typing import Any

from vecnb.errors import MissingDependencyError

__all__ = ["lazy_attributes", "load"]


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


def lazy_attributes(module: str, targets: dict[str, str], namespace: dict[str, Any]
                    ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a package whose public names load on first use (PEP 562).

    ``targets`` maps a name to its ``"module:attr"``; a loaded value is kept in ``namespace``
    (the package's ``globals()``) so the next access costs nothing.
    """
    def __getattr__(name: str) -> Any:
        target = targets.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = namespace[name] = load(target)
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(targets))

    return __getattr__, __dir__
