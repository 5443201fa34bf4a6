"""Lazy ``"module:attr"`` targets, as registries (stores, embedders, the package face) name things."""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["load"]


def load(target: str) -> Any:
    """Import ``"package.module"`` (the module) or ``"package.module:attr"`` (that attribute)."""
    mod, _, attr = target.partition(":")
    value = import_module(mod)
    return getattr(value, attr) if attr else value
