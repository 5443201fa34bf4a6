""":func:`embed_texts`: de-duplicate, look up the disk cache, embed the rest in batches."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

import numpy as np

from vecnb._core.progress import progress_bar
from vecnb.embed.base import Embedder, as_text_list, check_output
from vecnb.embed.cache import EmbeddingCache, text_keys
from vecnb.embed.registry import EmbedderLike, get_embedder
from vecnb.errors import DimensionMismatchError, InvalidInputError

__all__ = ["FLUSH_ROWS", "embed_texts"]

FLUSH_ROWS = 8192
"""New vectors are written to the cache every this many rows (and at the end, and when
interrupted), so a long run that is stopped keeps most of its work."""


def embed_texts(emb: EmbedderLike, texts: Iterable[str], *, batch_size: int = 64, progress: bool = True,
                cache: bool | str | os.PathLike[str] | None = True) -> np.ndarray:
    """Embed texts with de-duplication, the on-disk cache and a progress bar.

    Each distinct text is embedded once. With a cache, texts already embedded by the same
    ``model_id`` (in any earlier call or process) are read back instead of recomputed, and new
    vectors are appended to it; the embedder is called **only** for texts not in the cache.

    Parameters
    ----------
    emb : str, dict, Embedder or callable
        Anything :func:`vecnb.embed.get_embedder` accepts (``"minilm"``, a spec, an instance,
        ``f(list[str]) -> array``). A callable without a ``model_id`` attribute is never
        disk-cached (its name does not identify the model), only de-duplicated.
    texts : iterable of str, length n
        A list, tuple, numpy array or pandas Series of strings.
    batch_size : int
        Distinct uncached texts per call to the embedder. They are ordered longest first, so
        each batch holds texts of similar length (less padding for transformer models).
    progress : bool
        Show a ``tqdm.auto`` bar (only when there are at least two batches to embed).
    cache : bool, str or path-like
        ``True``: the default cache (``$VECNB_CACHE_DIR`` or ``~/.cache/vecnb/embeddings``);
        ``False``/``None``: no disk cache; a path or fsspec URL: a cache root there.

    Returns
    -------
    numpy.ndarray, shape (n, d), float32, C-contiguous
        Row ``i`` embeds ``texts[i]``.

    Raises
    ------
    TextColumnError
        An item is not a string (e.g. ``None`` / ``NaN``).
    DimensionMismatchError
        The embedder returned the wrong number of rows or inconsistent widths.
    InvalidVectorError
        The embedder returned NaN / inf.

    Notes
    -----
    A fittable embedder that is not fitted yet (``tfidf``) is first fitted on all distinct
    texts of the call; its ``model_id`` is known only after that.

    Examples
    --------
    >>> X = embed_texts("hashing", ["a", "b", "a"], cache=False)
    >>> X.shape
    (3, 512)
    """
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
    embedder: Embedder = get_embedder(emb)
    texts = as_text_list(texts)
    n = len(texts)
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(t, len(first)) for t in texts), dtype=np.intp, count=n)
    uniq = list(first)
    u = len(uniq)

    if embedder.requires_fit and not embedder.fitted and uniq:
        embedder.fit(uniq)

    dim = embedder.dim
    store: EmbeddingCache | None = None
    if cache is not False and cache is not None and embedder.cacheable and u:
        store = EmbeddingCache(str(embedder.model_id), root=None if cache is True else cache, dim=dim)
    out, missing, keys = _read_cache(store, uniq)
    if out is not None and dim is None:
        dim = out.shape[1]
    if missing.size:
        out = _embed_missing(embedder, uniq, missing, out, dim, store, keys, batch_size=batch_size,
                             progress=progress)

    if out is None:  # no texts at all
        return np.zeros((n, dim or 0), dtype=np.float32)
    if u == n and n and (inverse == np.arange(n)).all():
        return out
    return np.ascontiguousarray(out[inverse])


def _read_cache(store: EmbeddingCache | None, uniq: list[str]
                ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """``(vectors (u, d) with cached rows filled in or None, positions still missing, cache keys)``.

    An unreadable cache warns and counts every text as missing.
    """
    u = len(uniq)
    if store is None:
        return None, np.arange(u), None
    keys = text_keys(uniq)
    try:
        found, vecs = store.get(keys)
    except Exception as exc:  # noqa: BLE001 - an unreadable cache must not stop the work
        warnings.warn(f"vecnb embedding cache at {store.folder} could not be read ({exc}); "
                      "embedding everything", RuntimeWarning, stacklevel=3)
        found, vecs = np.zeros(u, bool), None
    return vecs, np.flatnonzero(~found), keys


def _embed_missing(embedder: Embedder, uniq: list[str], missing: np.ndarray, out: np.ndarray | None,
                   dim: int | None, store: EmbeddingCache | None, keys: np.ndarray | None, *,
                   batch_size: int, progress: bool) -> np.ndarray:
    """Embed ``uniq[missing]`` in batches into ``out`` (allocated on the first batch when None).

    Texts go longest first (similar lengths share a batch; the largest batch comes early); new
    vectors reach the cache every :data:`FLUSH_ROWS` rows, at the end, and when interrupted.
    """
    lengths = np.fromiter((len(uniq[i]) for i in missing), dtype=np.int64, count=missing.size)
    missing = missing[np.argsort(-lengths, kind="stable")]
    n_batches = -(-missing.size // batch_size)
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    pending_rows = 0
    source = f"embedder {embedder.name!r}"
    with progress_bar(int(missing.size), f"embedding ({embedder.name})", enabled=progress and n_batches >= 2,
                      unit="text", leave=False) as bar:
        try:
            for s in range(0, missing.size, batch_size):
                sel = missing[s:s + batch_size]
                res = check_output(embedder.embed([uniq[i] for i in sel]), sel.size, source=source)
                if dim is not None and res.shape[1] != dim:
                    raise DimensionMismatchError(
                        f"{source} ({embedder.model_id}) returned {res.shape[1]}-d vectors, but "
                        f"{dim}-d were expected (from the model or its cached vectors). If the model "
                        "changed, its model_id must change too; or clear the cache: "
                        f"EmbeddingCache({embedder.model_id!r}).clear()")
                if out is None:
                    dim = int(res.shape[1])
                    out = np.empty((len(uniq), dim), np.float32)
                out[sel] = res
                if store is not None:
                    pending.append((sel, res))
                    pending_rows += sel.size
                    if pending_rows >= FLUSH_ROWS:
                        _flush(store, keys, pending)
                        pending, pending_rows = [], 0
                bar.update(sel.size)
        finally:
            if store is not None and pending:
                _flush(store, keys, pending)
    assert out is not None
    return out


def _flush(store: EmbeddingCache, keys: np.ndarray | None, pending: list[tuple[np.ndarray, np.ndarray]]) -> None:
    assert keys is not None
    sel = np.concatenate([p[0] for p in pending])
    vecs = np.concatenate([p[1] for p in pending])
    try:
        store.put(keys[sel], vecs)
    except Exception as exc:  # noqa: BLE001 - caching is an optimisation: warn, never fail the embedding
        warnings.warn(f"could not write to the vecnb embedding cache at {store.folder}: {exc}",
                      RuntimeWarning, stacklevel=4)
