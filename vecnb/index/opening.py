"""Durable indexes: build onto a table / file / collection explicitly, reopen one without its frame.

::

    idx = df.vec.index(store="pgvector", url=URL, table="cisi")                  # a new table
    idx = df.vec.index(store="pgvector", url=URL, table="cisi", mode="replace")  # rebuild it
    idx = df.vec.index(store="pgvector", url=URL, table="cisi", mode="sync")     # upsert by label
    idx = vecnb.open_index("pgvector", url=URL, table="cisi")                    # next day
    idx = vecnb.open_index("sqlite", path="cisi.db"); vecnb.open_index("chroma", path="chroma/")

``mode`` when the target already holds an index:

``"error"``  (default) raise :class:`~vecnb.errors.IndexExistsError` naming the other modes;
``"replace"`` build the new index beside the old one and swap it in at the end (pgvector: a
             staging table renamed in one transaction; sqlite: one transaction over the file;
             chroma: a staging collection renamed; Elasticsearch: an alias switch) -- a
             reader sees the old index or the new one, never half of either;
``"sync"`` / ``"append"`` open the existing index and upsert this frame's rows by label
             (rows whose content did not change are not rewritten); rows of the old index
             that the frame lacks stay (a union by label), after this frame's rows, which come
             first in the frame's order. Use ``idx.sync(df)`` to also delete.

An index's rows never mix with another's: keys always come from the index record kept beside
the vectors (see :mod:`vecnb.index.home`). A target holding vectors without that record (filled
through ``vecnb.stores`` directly, or by an older vecnb) is refused unless ``mode="replace"``.

Save by reference: ``idx.save(path)`` of an index in a server store writes only a small
manifest (store name, table / index name, host, port, database, user -- never a password);
``vecnb.load_index(path, url=...)`` reconnects with credentials from ``url`` or from
``VECNB_PG_URL`` / ``VECNB_ES_URL``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any

import numpy as np
import pandas as pd

from vecnb.errors import (
    DimensionMismatchError,
    IndexExistsError,
    IndexFormatError,
    IndexNotFoundError,
    InvalidInputError,
)
from vecnb.index.home import Home, can_home, head_of, replay
from vecnb.stores.base import supports

__all__ = ["MODES", "open_index", "build_owned", "reference_manifest", "open_reference", "reload_rows"]

MODES = ("error", "replace", "sync", "append")
_URL_ENV = {"pgvector": "VECNB_PG_URL", "elasticsearch": "VECNB_ES_URL"}


def check_mode(mode: Any) -> str:
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}.")
    return "sync" if mode == "append" else mode


def describe(store: Any) -> str:
    """``pgvector table='cisi' (host=... user=...)``: where an index lives, without secrets."""
    loc = store.locator() if supports(store, "home") else {}
    parts = ", ".join(f"{k}={v!r}" for k, v in loc.items() if v not in (None, "") and k != "url")
    return f"{getattr(store, 'name', type(store).__name__)} {parts}".strip()


# --------------------------------------------------------------------------- open
def open_index(store: str, *, index_cls: Any, metric: str | None = None, dim: int | None = None,
               model: Any = None, **options: Any) -> Any:
    """Reopen an index kept in a store, without its DataFrame.

    Parameters
    ----------
    store : str
        ``"pgvector"``, ``"sqlite"``, ``"chroma"`` or ``"elasticsearch"`` (any store that keeps an
        index record beside its vectors).
    metric, dim : optional
        What you expect; a different recorded metric / dimension raises instead of searching
        with the wrong one.
    model : optional
        Expected model id / name of the vectors (checked against the record).
    **options
        Where the index is (``url=`` + ``table=`` / ``schema=`` for pgvector, ``path=`` for
        sqlite, ``path=`` + ``collection=`` for chroma, ``url=`` / ``hosts=`` + ``index=`` for
        Elasticsearch) and search-time settings (e.g. ``ef_search=``).

    Returns
    -------
    VectorIndex
        Same labels, rows, keys, model, metric and kind as when it was built; text queries
        are embedded with the recorded model.

    Raises
    ------
    IndexNotFoundError
        Nothing at that table / path / collection.
    IndexFormatError
        It exists but is not a vecnb index (or holds vectors without an index record).
    DimensionMismatchError, InvalidInputError
        ``dim`` / ``metric`` / ``model`` differ from the record.
    StoreConnectionError
        The server is down or refused the credentials (the message never shows the password).
    """
    from vecnb import stores

    cls = stores.get(store)
    if not can_home(cls):
        raise InvalidInputError(
            f"Store {store!r} keeps its data in this process only; it cannot be reopened. Save the index with "
            "idx.save(path) and load it with vecnb.load_index(path), or use a store that keeps an index record "
            "(pgvector, sqlite, chroma with path=, elasticsearch)."
        )
    st = cls.open_existing(**options)
    if st is None:
        where = ", ".join(f"{k}={v!r}" for k, v in options.items() if k in ("table", "schema", "path", "collection",
                                                                          "index"))
        raise IndexNotFoundError(f"No {cls.name} index at {where or 'the default location'}. Check the name, or build "
                                 f"one with df.vec.index(store={store!r}, ...).")
    try:
        idx = open_from(st, index_cls)
        _check_expected(idx, metric=metric, dim=dim, model=model)
    except BaseException:
        st.close()
        raise
    return idx


def open_from(st: Any, index_cls: Any) -> Any:
    """A ``index_cls`` (:class:`VectorIndex`) over ``st`` rebuilt from the index record the store keeps.

    This module sits below :mod:`vecnb.index.core`, which passes the class in."""
    where = describe(st)
    entries = st.home_read()
    if not entries:
        n = len(st)
        raise IndexFormatError(
            f"{where} holds {n} vectors but no vecnb index record (it was filled through vecnb.stores directly, "
            "or by an older vecnb), so its rows cannot be mapped back to labels. Rebuild it from its DataFrame with "
            "df.vec.index(..., mode='replace')."
        )
    head, frame, keys, hashes = replay(entries, where)
    if int(head.get("dim", -1)) != int(st.dim) or head.get("metric") != st.metric:
        raise IndexFormatError(f"{where}: the index record says {head.get('dim')}-d / {head.get('metric')} but the "
                               f"store holds {st.dim}-d / {st.metric} vectors; rebuild it with mode='replace'.")
    idx = index_cls(st, column=head["column"], info=head.get("column_info") or {}, text=head.get("text"),
                      kind=head.get("kind", "auto"), store_name=head.get("store") or st.name)
    idx._next_key = int(head["next_key"])
    idx._set_rows(frame, keys, hashes)
    idx._home = Home(st, seq=int(entries[-1][0]), entries=len(entries))
    idx._home.open = head["open_writes"]
    n = len(st)
    if n != len(idx._frame):  # not len(idx): opening must work while a write is unfinished (to repair it)
        warnings.warn(f"{where}: the store holds {n} vectors but the index record lists {len(idx._frame)} rows (a write "
                      "was interrupted?); searches return only recorded rows. Rebuild with mode='replace' to repair.",
                      stacklevel=3)
    return idx


def reload_rows(idx: Any) -> None:
    """Reload ``idx``'s labels, rows and keys from its store's record (another process changed it).

    Afterwards ``idx`` answers as a freshly opened index would. Raises :class:`IndexFormatError`
    when the record now describes another kind of index (other dimension / metric / column).
    (:class:`VectorIndex` calls it itself before answering when the record moved.)

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> df.vec.index(store="sqlite", path="reload.db").close()
    >>> a, b = vecnb.open_index("sqlite", path="reload.db"), vecnb.open_index("sqlite", path="reload.db")
    >>> b.delete([0]); a._frame.index.tolist()        # a's copy is behind until it reloads
    1
    [0, 1]
    >>> reload_rows(a); a._frame.index.tolist(), len(a)
    ([1], 1)
    """
    st = idx.store
    where = describe(st)
    entries = st.home_read()
    if not entries:
        raise IndexNotFoundError(f"{where}: the index was removed by another process; build it again.")
    head, frame, keys, hashes = replay(entries, where)
    if int(head.get("dim", -1)) != idx.dim or head.get("metric") != idx.metric or head.get("column") != idx.column:
        raise IndexFormatError(
            f"{where} was rebuilt by another process as a {head.get('dim')}-d / {head.get('metric')} index of column "
            f"{head.get('column')!r}; reopen it with vecnb.open_index(...).")
    refresh = getattr(st, "home_reloaded", None)
    if callable(refresh):  # store-side caches (field kinds, ANN index name) may be stale too
        refresh()
    idx.text = head.get("text")
    idx._info = {**(head.get("column_info") or {}), "dim": idx.dim}
    idx._info.pop("hashes", None)
    idx._next_key = int(head["next_key"])
    idx._set_rows(frame, keys, hashes)
    idx._home.seq, idx._home.entries = int(entries[-1][0]), len(entries)
    idx._home.open = head["open_writes"]


def _check_expected(idx: Any, *, metric: Any, dim: Any, model: Any) -> None:
    from vecnb._core.metrics import resolve_metric

    if dim is not None and int(dim) != idx.dim:
        raise DimensionMismatchError(f"The index holds {idx.dim}-d vectors, not {dim}-d (model "
                                     f"{idx._info.get('model_id')!r}); embed queries with that model.")
    if metric is not None and resolve_metric(metric) != idx.metric:
        raise InvalidInputError(f"The index was built with metric={idx.metric!r}, not {metric!r}; a store's metric "
                                "is fixed when it is built (rebuild with mode='replace' to change it).")
    if model is not None:
        name = model if isinstance(model, str) else getattr(model, "model_id", getattr(model, "name", None))
        info = idx._info
        known = {info.get("model_id")} | ({info["model"].get("name")} if isinstance(info.get("model"), dict)
                                          else {info.get("model")})
        if name is not None and name not in known:
            from vecnb.errors import ModelMismatchError

            raise ModelMismatchError(f"The index holds vectors from {info.get('model_id')!r}, not {name!r}.")


# --------------------------------------------------------------------------- build
def build_owned(cls: Any, df: pd.DataFrame, *, build: Any, dim: int, metric: str | None, kind: str,
                mode: str, options: dict, index_cls: Any) -> Any:
    """Build an index in a store that keeps an index record, honouring ``mode`` (see module docstring).

    ``build(store, metric)`` writes ``df`` into an EMPTY store and returns the index.
    """
    mode = check_mode(mode)
    existing = cls.open_existing(**options)
    if existing is None:
        return build(cls(dim=dim, metric=metric or "cosine", kind=kind, **options), metric or "cosine")
    try:
        where = describe(existing)
        entries = existing.home_read()
        n = len(existing)
        if not entries and n == 0:  # an empty table / file: nothing to lose
            mode = "replace"
        if mode == "error":
            raise IndexExistsError(
                f"{where} already holds an index of {n} rows. Pass mode='replace' to rebuild it from this frame, "
                "mode='sync' to add / update this frame's rows by label, or choose another "
                f"{'path' if 'path' in options else 'table / collection / index name'}."
            )
        if mode == "sync":
            idx = open_from(existing, index_cls)
            return _sync_into(idx, df, metric=metric, dim=dim)
    except BaseException:
        existing.close()
        raise
    # replace: build beside, then swap in; keys start after the old index's, so a reader still
    # holding the old index can tell (VectorIndex.search) instead of mapping new keys to old rows
    try:
        first = int(replay(entries, where)[0]["next_key"]) if entries else 0
    except IndexFormatError:
        first = 0
    new = existing.staging(dim=dim, metric=metric or "cosine", kind=kind, options=options)
    try:
        with new.replacing():
            idx = build(new, metric or "cosine", first)
        shift = new.take_place_of(existing)
        if shift and idx._home is not None:  # the store renumbered the new record after the old one's
            idx._home.seq += int(shift)
    except BaseException:
        with contextlib.suppress(Exception):
            new.discard()
        with contextlib.suppress(Exception):
            new.close()
        existing.close()
        raise
    return idx


def _sync_into(idx: Any, df: pd.DataFrame, *, metric: str | None, dim: int) -> Any:
    if dim != idx.dim:
        raise DimensionMismatchError(
            f"{describe(idx.store)} holds {idx.dim}-d vectors but this frame's are {dim}-d; embed with the index's "
            f"model ({idx._info.get('model_id')!r}) or rebuild with mode='replace'.")
    if metric is not None and metric != idx.metric:
        raise InvalidInputError(f"{describe(idx.store)} was built with metric={idx.metric!r}, not {metric!r}; "
                                "rebuild with mode='replace' to change it.")
    rows, X = idx._split(df, "index(mode='sync')")
    hashes = idx._hashes(rows, X)
    pos = idx._frame.index.get_indexer(rows.index) if len(idx._frame) else np.full(len(rows), -1, np.int64)
    changed = pos < 0
    changed[~changed] = idx._row_hash[pos[~changed]] != hashes[~changed]
    todo = np.flatnonzero(changed)
    if len(todo):
        idx._write(rows.iloc[todo], X[todo])
    idx._lead_with(rows.index)  # this frame's rows first, in its order (ties: the lower frame position)
    return idx


def start_home(idx: Any) -> None:
    """Give a freshly built (empty) index in a durable store its index record."""
    st = idx.store
    if can_home(st) and getattr(st, "keeps_home", False):
        idx._home = Home.create(st, head_of(idx), pd.DataFrame(), np.empty(0, np.int64), np.empty(0, np.uint64))


# --------------------------------------------------------------------------- save by reference
def reference_manifest(idx: Any) -> dict | None:
    """Manifest fields for saving ``idx`` by reference (a server store with an index record), else None."""
    st = idx.store
    if getattr(idx, "_home", None) is None or supports(st, "persist") or not supports(st, "home"):
        return None
    loc = dict(st.locator())
    return {"by_reference": True, "store": idx.store_name, "locator": loc, "rows": len(idx), "dim": idx.dim,
            "metric": idx.metric, "column": idx.column, "model_id": idx._info.get("model_id")}


def open_reference(manifest: dict, index_cls: Any, url: str | None = None, **options: Any) -> Any:
    """Reopen an index saved by reference; credentials from ``url`` or the store's environment variable."""
    store = manifest["store"]
    loc = dict(manifest.get("locator") or {})
    env = _URL_ENV.get(store)
    saved_url = loc.pop("url", None)
    url = url or (os.environ.get(env) if env else None) or saved_url
    if url is not None:
        loc["url"] = url
    loc.update(options)
    return open_index(store, index_cls=index_cls, metric=manifest.get("metric"), dim=manifest.get("dim"), **loc)
