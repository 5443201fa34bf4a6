"""Small persistence helpers shared by the in-process stores and :mod:`vecnb.index` (no pickle)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pandas as pd

from vecnb.errors import IndexFormatError

__all__ = ["check_format", "load_frame", "read_store_json", "save_frame"]


def check_format(doc: Any, fmt: str, version: int, where: str) -> dict:
    """Check that a parsed JSON header names format ``fmt`` at ``version``.

    Raises
    ------
    IndexFormatError
        Another format, or another version (the message says how to recover).
    """
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise IndexFormatError(f"{where} is not a saved {fmt!r} (format {got!r}).")
    if doc.get("version") != version:
        raise IndexFormatError(
            f"{where} was written with {fmt} format version {doc.get('version')!r} "
            f"(vecnb {doc.get('vecnb_version', '?')}); this vecnb reads version {version}. "
            "Rebuild it from its DataFrame with this version of vecnb."
        )
    return doc


def read_store_json(path: str | os.PathLike, fmt: str, version: int) -> dict:
    """Read and check ``store.json`` of a saved in-process store."""
    fn = os.path.join(path, "store.json")
    try:
        with open(fn, encoding="utf-8") as fh:
            cfg = json.load(fh)
    except FileNotFoundError:
        raise IndexFormatError(f"{os.fspath(path)!r} holds no saved store (no store.json).") from None
    except ValueError as exc:
        raise IndexFormatError(f"{fn!r} is not valid JSON: {exc}") from None
    return check_format(cfg, fmt, version, repr(os.fspath(path)))


def save_frame(frame: pd.DataFrame, path: str) -> None:
    """Write a metadata frame to parquet (string column names; an empty frame keeps its length)."""
    out = frame.copy(deep=False)
    out.attrs = {}
    out.columns = [str(c) for c in out.columns]
    if len(out.columns) == 0:
        out = pd.DataFrame({"__rows__": np.zeros(len(frame), dtype=np.int8)})
    out.reset_index(drop=True).to_parquet(path)


def load_frame(path: str) -> pd.DataFrame:
    """Read a frame written by :func:`save_frame`."""
    df = pd.read_parquet(path)
    if list(df.columns) == ["__rows__"]:
        return pd.DataFrame(index=pd.RangeIndex(len(df)))
    return df
