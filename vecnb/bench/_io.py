"""Benchmark results to and from JSON (plain records + the machine they ran on)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import pandas as pd

from vecnb.errors import IndexFormatError, InvalidInputError

__all__ = ["FORMAT", "load", "save"]

FORMAT = "vecnb-bench"
VERSION = 1
_TABLES = ("results", "foundation", "sweeps", "per_query")


def _records(df: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    if df is None:
        return None
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"expected a DataFrame, got {type(df).__name__}.")
    return json.loads(df.to_json(orient="records", double_precision=10, default_handler=str))


def save(path: str | os.PathLike, *, results: pd.DataFrame | None = None, foundation: pd.DataFrame | None = None,
         sweeps: pd.DataFrame | None = None, machine: dict[str, Any] | None = None,
         config: dict[str, Any] | None = None, note: str | None = None,
         per_query: pd.DataFrame | None = None) -> str:
    """Write benchmark tables and the machine description to one JSON file (atomically).

    Parameters
    ----------
    path : str or path
        The ``.json`` file; its folder is created.
    results, foundation, sweeps, per_query : DataFrame, optional
        Outputs of :func:`run`, :func:`foundation`, :func:`sweep`, :func:`per_query` (the
        latter's cProfile digest and the run's native warnings are kept under ``extras``).
    machine, config : dict, optional
        Default: taken from the first table's ``attrs["vecnb_bench"]``.
    note : str, optional
        Free text kept with the run (e.g. "machine shared with other jobs").

    Returns
    -------
    str
        The path written.

    Examples
    --------
    >>> res = pd.DataFrame({"system": ["numpy"], "qps": [900.0]})
    >>> path = vecnb.bench.save("bench.json", results=res, note="example")
    >>> vecnb.bench.load(path)["results"]
      system    qps
    0  numpy  900.0
    """
    tables = {"results": results, "foundation": foundation, "sweeps": sweeps, "per_query": per_query}
    meta: dict[str, Any] = {}
    for t in tables.values():
        if isinstance(t, pd.DataFrame) and "vecnb_bench" in t.attrs:
            meta = t.attrs["vecnb_bench"]
            break
    if machine is None:
        machine = meta.get("machine")
        if machine is None:
            from vecnb.bench._machine import machine_info

            machine = machine_info()
    configs = {name: t.attrs.get("vecnb_bench", {}).get("config") for name, t in tables.items()
               if isinstance(t, pd.DataFrame)}
    extras = {}
    for name, t in tables.items():
        if isinstance(t, pd.DataFrame):
            for key in ("profile", "native_warnings"):
                if t.attrs.get("vecnb_bench", {}).get(key):
                    extras[key] = t.attrs["vecnb_bench"][key]
    doc = {"format": FORMAT, "version": VERSION, "machine": machine, "config": config or configs,
           "note": note, "extras": extras, **{name: _records(t) for name, t in tables.items()}}
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".bench-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, default=str, allow_nan=False)
            fh.write("\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a results file is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`save` (or by ``python -m vecnb.bench --out``).

    Returns
    -------
    dict
        ``machine`` (dict), ``config`` (dict), ``note``, ``extras`` (profile digest, native
        warnings), and ``results`` / ``foundation`` / ``sweeps`` / ``per_query`` as DataFrames (empty when the run had none). Each DataFrame's
        ``attrs["vecnb_bench"]`` holds the machine and config too.

    Raises
    ------
    IndexFormatError
        The file is not a vecnb benchmark file.

    Examples
    --------
    >>> _ = vecnb.bench.save("bench.json", results=pd.DataFrame({"system": ["faiss"], "recall": [0.99]}))
    >>> sorted(vecnb.bench.load("bench.json"))
    ['config', 'extras', 'foundation', 'machine', 'note', 'per_query', 'results', 'sweeps']
    """
    with open(os.fspath(path), encoding="utf-8") as fh:
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as exc:
            raise IndexFormatError(f"{path} is not JSON ({exc}); expected a file from vecnb.bench.save.") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise IndexFormatError(f"{path} is not a vecnb benchmark file (no format={FORMAT!r}).")
    if int(doc.get("version", 0)) > VERSION:
        raise IndexFormatError(f"{path} was written by a newer vecnb (format version {doc['version']}); upgrade vecnb.")
    out: dict[str, Any] = {"machine": doc.get("machine") or {}, "config": doc.get("config") or {},
                           "note": doc.get("note"), "extras": doc.get("extras") or {}}
    for name in _TABLES:
        df = pd.DataFrame(doc.get(name) or [])
        df.attrs["vecnb_bench"] = {"machine": out["machine"], "config": out["config"].get(name, out["config"])}
        out[name] = df
    return out
