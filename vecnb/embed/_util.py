"""Small helpers shared by the built-in embedders: dependency checks and file fingerprints."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import threading
from pathlib import Path
from types import ModuleType

from vecnb.errors import MissingDependencyError

__all__ = ["available", "file_sha256", "require"]

_SHA_MEMO: dict[tuple[str, int, int], str] = {}
_SHA_LOCK = threading.Lock()


def require(module: str, feature: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``vecnb[extra]``.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"tokenizers"``.
    feature : str
        What needs it, for the message (``"the 'minilm' embedder"``).
    extra : str
        The pip extra that installs it.

    Returns
    -------
    module
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError.for_extra(feature, extra, module=module) from exc


def available(module: str) -> bool:
    """Whether ``module`` could be imported, without importing it (``None`` in sys.modules counts as absent)."""
    import sys

    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, memoised per (path, size, mtime) for this process.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    str
        64 hex digits.
    """
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _SHA_LOCK:
        hit = _SHA_MEMO.get(key)
    if hit is not None:
        return hit
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    with _SHA_LOCK:
        _SHA_MEMO[key] = digest
    return digest
