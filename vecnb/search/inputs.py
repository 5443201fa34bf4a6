"""Turning what a user passes as a query (text, texts, a vector, vectors) into a matrix.

Shared by ``df.vec.search`` and ``VectorIndex.search`` so both accept the same inputs:

* ``"text"`` or ``["t1", "t2"]`` — embedded with the model that made the column / index;
* a 1-D vector or a list of numbers — one query;
* a 2-D array, or a list of vectors — several queries.

A batch (list or 2-D array) adds a ``query`` column to the results, holding the text or,
for vectors, the query's 0-based position.

Query texts are embedded through a small in-memory cache keyed by ``(model_id, text)`` (the
last 4,096 distinct texts): a notebook asks the same question again and again, and
``vecnb.evaluate`` repeats queries across runs. Only embedders whose outputs may be cached
under their ``model_id`` (``cacheable``; a plain callable without a declared ``model_id`` is
not: its name does not identify the model) use it.
"""

from __future__ import annotations

import reprlib

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from vecnb.errors import DimensionMismatchError, InvalidInputError, ModelMismatchError
from vecnb._core.metrics import as_matrix
from vecnb._core.metrics import check_k as _check_k

__all__ = ["remember_embedder", "embedder_for", "query_matrix", "query_texts", "check_k", "check_threshold"]

# embedders used in this process, by model_id: lets a fitted or callable embedder embed
# queries for the columns it made, even though it cannot be rebuilt from a spec
_LIVE: dict[str, Any] = {}

_QUERY_CACHE: OrderedDict = OrderedDict()   # (model_id, text) -> read-only float32 vector
_QUERY_CACHE_SIZE = 4096
_QUERY_LOCK = threading.Lock()


def _embed_queries(emb: Any, texts: list[str]) -> np.ndarray:
    """Embed query texts, reusing vectors of texts this model embedded recently."""
    from vecnb.embed import embed_texts

    mid = getattr(emb, "model_id", None)
    if not isinstance(mid, str) or not mid or not getattr(emb, "cacheable", False):
        return embed_texts(emb, texts, progress=False, cache=False)
    if len(texts) == 1:  # one text (a notebook's question): no per-text lists
        return _embed_one(emb, mid, texts[0])
    with _QUERY_LOCK:
        got = [_QUERY_CACHE.get((mid, t)) for t in texts]
        for t, v in zip(texts, got):
            if v is not None:
                _QUERY_CACHE.move_to_end((mid, t))
    missing = list(dict.fromkeys(t for t, v in zip(texts, got) if v is None))
    if missing:
        # one new text (a notebook's question): the embedder directly, checked as embed_texts would
        new = emb.embed(missing) if len(missing) == 1 else embed_texts(emb, missing, progress=False, cache=False)
        fresh = {}
        for t, v in zip(missing, new):
            v = np.array(v, dtype=np.float32)
            v.flags.writeable = False
            fresh[t] = v
        with _QUERY_LOCK:
            for t, v in fresh.items():
                _QUERY_CACHE[(mid, t)] = v
            while len(_QUERY_CACHE) > _QUERY_CACHE_SIZE:
                _QUERY_CACHE.popitem(last=False)
        got = [v if v is not None else fresh[t] for t, v in zip(texts, got)]
    if len(got) == 1:
        return got[0].reshape(1, -1).copy()  # callers may write into their query matrix
    return np.stack(got)


def _embed_one(emb: Any, mid: str, text: str) -> np.ndarray:
    """One query text's (1, d) vector: from the query cache, else the embedder directly (checked
    as embed_texts would) and then cached; the same vectors and cache entries as the batch path."""
    key = (mid, text)
    with _QUERY_LOCK:
        v = _QUERY_CACHE.get(key)
        if v is not None:
            _QUERY_CACHE.move_to_end(key)
    if v is None:
        v = np.array(emb.embed([text])[0], dtype=np.float32)
        v.flags.writeable = False
        with _QUERY_LOCK:
            _QUERY_CACHE[key] = v
            while len(_QUERY_CACHE) > _QUERY_CACHE_SIZE:
                _QUERY_CACHE.popitem(last=False)
    return v.reshape(1, -1).copy()  # callers may write into their query matrix


def remember_embedder(emb: Any) -> None:
    """Keep ``emb`` so later text queries on its columns use the very same object.

    Examples
    --------
    >>> emb = vecnb.embed.get_embedder("hashing")
    >>> remember_embedder(emb)
    >>> embedder_for({"model_id": emb.model_id}) is emb
    True
    """
    mid = getattr(emb, "model_id", None)
    if mid:
        _LIVE[mid] = emb


def embedder_for(info: dict, model: Any = None) -> Any:
    """The embedder for text queries on a column / index described by ``info``.

    Raises
    ------
    ModelMismatchError
        ``model`` is not the model that made the vectors.
    InvalidInputError
        No model is known for these vectors.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie"]}).vec.embed("text", model="hashing", progress=False)
    >>> info = vecnb.frame.columns.get_info(df, "text_vec")
    >>> embedder_for(info).model_id == info["model_id"]
    True
    >>> embedder_for({})
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: vecnb has no record of how these vectors were made: the column's ...
    """
    from vecnb.embed import get_embedder

    want = info.get("model_id")
    if model is not None:
        emb = get_embedder(model)
        if want and emb.model_id != want:
            raise ModelMismatchError(
                f"These vectors were made with model {want!r}, but the query would be embedded with "
                f"{emb.model_id!r}; scores across models are meaningless. Re-embed the column with "
                f"df.vec.embed(..., model={getattr(emb, 'name', model)!r}) or query with the original model."
            )
        return emb
    if want and want in _LIVE:
        return _LIVE[want]
    spec = info.get("model")
    if spec:
        emb = get_embedder(spec)
        if want and emb.model_id != want:
            raise ModelMismatchError(
                f"The vectors were made with {want!r} but {spec!r} now loads {emb.model_id!r} "
                "(a different model version). Re-embed with df.vec.embed(...)."
            )
        remember_embedder(emb)
        return emb
    if not info:
        raise InvalidInputError(
            "vecnb has no record of how these vectors were made: the column's metadata (kept in df.attrs) was "
            "lost -- pandas drops it in operations such as merge(how='cross') or concat of frames with "
            "different attrs -- or the column was not made by vecnb. So a text query cannot be embedded. "
            "Restore it with df = df.vec.attach(df[column], name=column, model=<the model that made them>), "
            "pass model=... to this search, or search with a vector."
        )
    raise InvalidInputError(
        "These vectors carry no model (they were attached, not embedded), so a text query cannot be "
        "embedded. Search with a vector, pass model=..., or attach with df.vec.attach(X, model=...)."
    )


_SEQUENCES = (list, tuple, pd.Series, pd.Index, np.ndarray)


def _is_text_list(q: Any) -> bool:
    """A non-empty list / tuple / Series / Index / 1-D ndarray whose items are all str."""
    if not isinstance(q, _SEQUENCES) or len(q) == 0 or (isinstance(q, np.ndarray) and q.ndim != 1):
        return False
    if isinstance(q, np.ndarray) and q.dtype.kind == "U":
        return True
    return all(isinstance(x, str) for x in q)


def _text_labels(query: Any, texts: list[str]) -> list:
    """What the ``query`` column shows for a batch of texts: a Series' index labels, else the texts."""
    if isinstance(query, pd.Series):
        return list(query.index)
    return texts


def query_texts(query: Any, what: str = "keyword search") -> tuple[list[str], list, bool]:
    """Query texts from a str or a list / tuple / Series / Index / ndarray of str.

    Returns
    -------
    texts : list of str
    labels : list
        The ``query`` column's values: a Series' index labels, else the texts.
    batch : bool
        Whether a batch was asked (anything but a single str).

    Raises
    ------
    InvalidInputError
        Not text (a vector cannot be matched against words), or an empty text.

    Examples
    --------
    >>> query_texts("apple")
    (['apple'], ['apple'], False)
    >>> query_texts(pd.Series(["apple", "pear"], index=["q1", "q2"]))
    (['apple', 'pear'], ['q1', 'q2'], True)
    """
    if isinstance(query, str):
        texts, labels, batch = [query], [query], False
    elif _is_text_list(query):
        texts = [str(t) for t in query]
        labels, batch = _text_labels(query, texts), True
    else:
        hint = ""
        if not isinstance(query, (str, list, tuple)) or query:
            hint = (" A vector cannot be matched against words; for hybrid search pass the text as query= and the "
                    "vector as vector=.")
        raise InvalidInputError(
            f"{what} needs query text: a string or a non-empty list / Series / array of strings, "
            f"got {type(query).__name__}.{hint}"
        )
    if any(not t.strip() for t in texts):
        raise InvalidInputError(f"A {what} query is empty; pass some words to search for.")
    return texts, labels, batch


def _as_query_matrix(q: Any, dim: int | None, info: dict) -> np.ndarray:
    """``as_matrix`` whose width error names the model and says how to switch models."""
    try:
        return as_matrix(q, dim=dim, what="query vectors")
    except DimensionMismatchError as exc:
        got = np.shape(q)[-1] if np.ndim(q) else "?"
        made = info.get("model_id") or "an unrecorded model"
        raise DimensionMismatchError(
            f"The query is {got}-d but these vectors are {dim}-d (made by {made}): it comes from another model. "
            "Embed the query with the model that made the vectors, or re-embed the rows with the new model "
            "(df.vec.embed(text, model=...)) and build a new index beside this one (then idx.swap(new_index))."
        ) from exc


def query_matrix(query: Any, info: dict, dim: int | None, *, model: Any = None) -> tuple[np.ndarray, list, bool]:
    """Embed / coerce ``query``.

    Returns
    -------
    q : ndarray, shape (nq, d), float32
    labels : list
        What the ``query`` column shows for each query.
    batch : bool
        Whether the caller asked a batch (list / 2-D input).

    Examples
    --------
    >>> Q, labels, many = query_matrix(np.ones(4), {}, 4)
    >>> Q.shape, labels, many
    ((1, 4), [0], False)
    >>> query_matrix(np.ones(3), {}, 4)
    Traceback (most recent call last):
    ...
    vecnb.errors.DimensionMismatchError: The query is 3-d but these vectors are 4-d (made by an unrecorded ...
    """
    if type(query) is np.ndarray and query.dtype.kind in "fiu" and query.ndim in (1, 2) and query.size:
        # a numeric array (the common single-vector query): no text or list checks to run
        q = _as_query_matrix(query, dim, info)
        return q, list(range(len(q))), query.ndim == 2
    if isinstance(query, str) or _is_text_list(query):
        texts, labels, batch = query_texts(query, "text search")
        emb = embedder_for(info, model)
        q = _embed_queries(emb, texts)  # in memory: not worth an on-disk cache shard each
        q = _as_query_matrix(q, dim, info)
        return q, labels, batch
    if query is None or (isinstance(query, (list, tuple, pd.Series)) and len(query) == 0):
        raise InvalidInputError("The query is empty; pass text, a list of texts, a vector or a 2-D array of vectors.")
    if (isinstance(query, (list, tuple, pd.Series, pd.Index)) or isinstance(query, np.ndarray) and query.dtype == object
            and query.ndim == 1) and any(isinstance(x, str) for x in query):  # some texts, some not
        odd = [i for i, x in enumerate(query) if not isinstance(x, str)]
        raise InvalidInputError(
            f"The query texts include {len(odd)} value(s) that are not text (positions {odd[:5]}, e.g. "
            f"{reprlib.repr(list(query)[odd[0]])}); pass only strings (drop or fill missing ones, e.g. queries.dropna())."
        )
    if isinstance(query, pd.Series):  # a Series of vectors (e.g. an embedding column): its labels name the queries
        from vecnb._core.arrow import column_matrix

        q = _as_query_matrix(column_matrix(query, name=str(query.name or "query")), dim, info)
        return q, list(query.index), True
    arr = np.asarray(query, dtype=object) if isinstance(query, (list, tuple)) else query
    batch = getattr(arr, "ndim", 1) == 2 or (
        isinstance(query, (list, tuple)) and len(query) > 0 and hasattr(query[0], "__len__")
    )
    q = _as_query_matrix(query if not isinstance(query, (list, tuple)) else np.asarray(query, dtype=np.float32),
                         dim, info)
    return q, list(range(len(q))), bool(batch)


def check_k(k: Any) -> int:
    """Validate ``k``: a positive int, at most 2**63 - 1 (see :func:`vecnb._core.metrics.check_k`).

    Examples
    --------
    >>> check_k(10)
    10
    >>> check_k(2.5)
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: k must be a positive integer, got 2.5.
    """
    return _check_k(k)


def check_threshold(threshold: Any) -> float | None:
    """Validate ``threshold``: None or a finite number (minimum score kept).

    Examples
    --------
    >>> check_threshold(None), check_threshold(0.25)
    (None, 0.25)
    >>> check_threshold(float("nan"))
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: threshold must be a finite number (the minimum score kept), got nan.
    """
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not np.isfinite(threshold):
        raise InvalidInputError(f"threshold must be a finite number (the minimum score kept), got {threshold!r}.")
    return float(threshold)
