"""Turning (positions, scores) into result DataFrames, the one shape every search returns.

A result keeps the original index labels and columns of the hit rows and adds ``score``
(higher is closer), ``rank`` (1-based, per query) and, for a batch of queries, ``query``.

Speed: a single query's search takes a fraction of a millisecond, so the result frame is built
block by block instead of column by column through the ``DataFrame`` constructor: no
per-column ``Series`` (each of which deep-copies ``df.attrs``), no re-inference of dtypes.

Two block paths give the same frame:

* the **planned** path: what depends only on the frame's layout (which blocks to take, where
  each lands, the output column labels, each block's class) is worked out once per frame
  layout and kept beside the frame (:func:`vecnb.frame.layout.cached`: it goes when the frame
  goes, and is worked out again when a column is added, replaced or renamed); a search then does
  one ``take`` per block and assembles the blocks without pandas' checks (~2-3x fewer steps
  than the general path; it dominated single-query latency);
* the **general** path (``pandas.api.internals.create_dataframe_from_blocks``) for frames the
  plan does not cover, and the per-column path for pandas versions without either.

``tests/test_results.py`` checks that the paths build equal frames (dtypes, index, attrs) on
frames of every kind of column.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Sequence

import warnings

import numpy as np
import pandas as pd

from vecnb.frame.layout import cached

try:  # pandas >= 3.0 (and 2.3): a documented low-level constructor from blocks
    from pandas.api.internals import create_dataframe_from_blocks as _from_blocks
except ImportError:  # pragma: no cover - older pandas: the per-column path below
    _from_blocks = None

try:  # the pieces create_dataframe_from_blocks is made of, used by the planned path
    from pandas._libs.internals import BlockPlacement as _Placement
    from pandas.core.internals.blocks import get_block_type as _block_type
    from pandas.core.internals.blocks import maybe_coerce_values as _coerce
    from pandas.core.internals.managers import BlockManager as _Manager
except ImportError:  # pragma: no cover - a pandas that moved them: the general path
    _Placement = _block_type = _coerce = _Manager = None
_NumericBlock = _block_type(np.dtype(np.float64)) if _block_type is not None else None  # float / int columns

try:  # the pieces of pandas' RangeIndex.take / ArrowExtensionArray.take the fast takes below repeat
    import pyarrow as _pa
    from pandas._libs.lib import is_sequence_range as _is_sequence_range
    from pandas.arrays import ArrowExtensionArray as _ArrowEA
    from pandas.arrays import ArrowStringArray as _ArrowSA
except ImportError:  # pragma: no cover - a pandas that moved them: pandas' own takes
    _pa = _is_sequence_range = _ArrowEA = _ArrowSA = None


def _arrow_layout_known() -> bool:
    """Whether pandas' arrow arrays are still laid out as :func:`_arrow_take` rebuilds them."""
    if _pa is None:
        return False
    try:
        a = pd.array(["x"], dtype="string[pyarrow]")
        b = pd.array([1], dtype=pd.ArrowDtype(_pa.int64()))
        return (type(a) is _ArrowSA and type(b) is _ArrowEA
                and set(vars(a)) == set(vars(b)) == {"_pa_array", "_dtype", "_cache"})
    except Exception:  # noqa: BLE001 - anything unexpected: pandas' own take
        return False


_ARROW_TYPES = (_ArrowEA, _ArrowSA) if _arrow_layout_known() else ()
_ARRAY_TAKE = None
if _ARROW_TYPES:
    try:  # the compute function itself: pa.Array.take's Python wrapper costs as much again, cold
        import pyarrow.compute as _pc

        _ARRAY_TAKE = _pc.get_function("array_take")
    except Exception:  # noqa: BLE001 - pandas' own take
        _ARROW_TYPES = ()
_STRING_TYPES = (_pa.string(), _pa.large_string()) if _ARROW_TYPES else ()
_simple_index = getattr(pd.Index, "_simple_new", None) or (lambda values, name: pd.Index(values, name=name, copy=False))


def _attrs_field_known() -> bool:
    """Whether ``DataFrame.attrs = value`` still stores ``dict(value)`` in the instance's ``_attrs``."""
    try:
        probe = pd.DataFrame()
        value = {"x": [1]}
        probe.attrs = value
        return type(vars(probe).get("_attrs")) is dict and probe._attrs == value and probe._attrs is not value
    except Exception:  # noqa: BLE001 - pandas' own setter
        return False


_ATTRS_FIELD = _attrs_field_known()


def _set_attrs(out: pd.DataFrame, attrs: dict) -> None:
    """``out.attrs = attrs`` (a shallow copy, as pandas' setter makes) without pandas' ``__setattr__``
    going through the property twice (~10 us a result right after a large product)."""
    if _ATTRS_FIELD:
        object.__setattr__(out, "_attrs", dict(attrs))
    else:  # pragma: no cover - a pandas that keeps attrs elsewhere
        out.attrs = attrs


__all__ = ["THRESHOLD_TOLERANCE", "build_hits", "empty_hits", "hits_plan", "planned_hits", "threshold_floor"]

_COLUMNS_CACHE: OrderedDict = OrderedDict()
_COLUMNS_LOCK = threading.Lock()
_COLUMNS_CACHE_SIZE = 32


def _out_columns(columns: pd.Index, added: tuple[str, ...], drop: tuple = ()) -> tuple[pd.Index | None, Any]:
    """``(columns without drop, followed by added; kept-column mask or None)``.

    The first is None when the kept columns already hold one of ``added`` (or ``drop`` names a
    duplicated column). Cached: an ``Index`` is immutable, and the cache holds it so its ``id``
    is not reused.
    """
    key = (id(columns), added, drop)
    with _COLUMNS_LOCK:
        hit = _COLUMNS_CACHE.get(key)
        if hit is not None and hit[0] is columns:
            _COLUMNS_CACHE.move_to_end(key)
            return hit[1]
    keep = None
    kept = columns
    if drop:
        keep = ~columns.isin(list(drop))
        kept = columns[keep]
    clash = any(name in kept for name in added) or (drop and columns.has_duplicates)
    out = (None if clash else kept.append(pd.Index(list(added))), keep)
    with _COLUMNS_LOCK:
        _COLUMNS_CACHE[key] = (columns, out)
        while len(_COLUMNS_CACHE) > _COLUMNS_CACHE_SIZE:
            _COLUMNS_CACHE.popitem(last=False)
    return out


def _take_blocks(frame: pd.DataFrame, flat: np.ndarray,
                 keep: np.ndarray | None = None) -> list[tuple[Any, np.ndarray]] | None:
    """``(values, placement)`` of every block of ``frame`` taken at rows ``flat``; None if unusual.

    ``keep`` (bool per column) leaves columns out; placements are renumbered over the kept ones.
    """
    mgr = getattr(frame, "_mgr", None)
    blocks = getattr(mgr, "blocks", None)
    if blocks is None:
        return None
    new_loc = np.cumsum(keep) - 1 if keep is not None else None
    out = []
    for b in blocks:
        v = b.values
        placement = b.mgr_locs.as_array
        two_d = getattr(v, "ndim", 1) == 2  # numpy blocks and 2-D extension arrays: (columns, rows)
        if keep is not None:
            sel = keep[placement]
            if not sel.any():
                continue
            if not sel.all():
                if not two_d:
                    return None
                v = v[np.flatnonzero(sel)]
            placement = new_loc[placement[sel]]
        out.append((_take_2d(v, flat) if two_d else v.take(flat), placement))
    return out


class _Plan:
    """How to take the result blocks out of one frame layout (see the module docstring).

    ``steps``: per kept block (its position in ``mgr.blocks``, the rows of a 2-D block to keep or
    None, whether it is 2-D, its placement in the result, its block class); ``None`` when the
    layout needs the general path. ``added_at``: placements of the added columns.
    """

    __slots__ = ("added_at", "columns", "steps")

    def __init__(self, mgr: Any, added: tuple, drop: tuple):
        self.steps: list[tuple] | None = None
        self.columns, keep = _out_columns(mgr.axes[0], added, drop)
        self.added_at: list[Any] = []
        if self.columns is None:
            return
        new_loc = np.cumsum(keep) - 1 if keep is not None else None
        steps = []
        for i, b in enumerate(mgr.blocks):
            v = b.values
            placement = b.mgr_locs.as_array
            two_d = getattr(v, "ndim", 1) == 2  # numpy blocks and 2-D extension arrays: (columns, rows)
            sel = None
            if keep is not None:
                kept = keep[placement]
                if not kept.any():
                    continue
                if not kept.all():
                    if not two_d:
                        return
                    sel = np.flatnonzero(kept)
                placement = new_loc[placement[kept]]
            steps.append((i, sel, two_d, _Placement(np.asarray(placement, dtype=np.intp)), _block_type(v.dtype)))
        ncol = len(self.columns) - len(added)
        self.added_at = [_Placement(slice(ncol + j, ncol + j + 1)) for j in range(len(added))]
        self.steps = steps


def _make_plan(mgr: Any, added: tuple, drop: tuple) -> _Plan | None:
    if mgr is None or _Manager is None:
        return None
    try:
        plan = _Plan(mgr, added, drop)
    except Exception:  # noqa: BLE001 - a layout this pandas lays out differently: the general path
        return None
    return plan if plan.steps is not None else None


def _plan(frame: pd.DataFrame, added: tuple, drop: tuple) -> tuple[Any, _Plan] | None:
    """``(block manager, plan)`` of ``frame`` for these added / dropped columns; None if not usable."""
    plan = cached(frame, ("hits", added, drop), lambda mgr: _make_plan(mgr, added, drop))
    return None if plan is None else (frame._mgr, plan)


def _as_block_values(values: Any) -> Any:
    """An added column's values as block values: a (1, n) ndarray or an extension array."""
    values = np.asarray(values)
    if values.dtype == object:  # e.g. query texts: the dtype pandas would infer (str ...)
        values = pd.Series(values, copy=False)._values
    if isinstance(values, np.ndarray):
        values = values.reshape(1, -1)
    return values


def take_labels(index: pd.Index, flat: np.ndarray) -> pd.Index:
    """``index.take(flat)`` for positions ``0 <= flat < len(index)``; a ``RangeIndex`` without its checks.

    The labels of a ``RangeIndex`` are ``start + step * position``: computed directly, as the
    same index pandas' own take returns (a ``RangeIndex`` for one label or evenly spaced labels,
    else an ``int64`` ``Index``; ~11 -> ~2 us per search). Every other index: pandas' take.

    Examples
    --------
    >>> take_labels(pd.RangeIndex(10, 40, 3, name="id"), np.array([4, 0, 9]))
    Index([22, 10, 37], dtype='int64', name='id')
    >>> take_labels(pd.RangeIndex(100), np.array([7]))
    RangeIndex(start=7, stop=8, step=1)
    """
    if type(index) is not pd.RangeIndex or _is_sequence_range is None or not len(flat):
        return index.take(flat)
    start, step = index.start, index.step
    labels = flat.astype(np.int64) if step == 1 and start == 0 else flat * step + start  # a new int64 array
    name = index.name
    if len(labels) == 1:
        first = int(labels[0])
        return pd.RangeIndex(first, first + step, step, name=name)
    first, diff = int(labels[0]), int(labels[1]) - int(labels[0])
    if diff != 0 and (len(labels) == 2 or _is_sequence_range(labels, diff)):
        return pd.RangeIndex(first, int(labels[-1]) + diff, diff, name=name)
    return _simple_index(labels, name=name)  # what RangeIndex.take returns, without re-checking the array


def _few_range_labels(index: pd.RangeIndex, flat: np.ndarray, listed: list) -> pd.Index:
    """:func:`take_labels` of a ``RangeIndex`` at two or more positions ``flat`` (``listed`` is
    ``flat.tolist()``), the evenly-spaced test in Python on the few labels (pandas' Cython
    ``is_sequence_range`` and the numpy scalar reads cost ~35 us right after a large product)."""
    start, step = index.start, index.step
    labels = listed if step == 1 and start == 0 else [start + step * p for p in listed]
    first = labels[0]
    diff = labels[1] - first
    if diff != 0 and all(b - a == diff for a, b in zip(labels, labels[1:])):
        return pd.RangeIndex(first, labels[-1] + diff, diff, name=index.name)
    values = flat.astype(np.int64) if step == 1 and start == 0 else flat * step + start  # a new int64 array
    return _simple_index(values, name=index.name)


def _take_2d(v: Any, flat: np.ndarray) -> Any:
    """``v.take(flat, axis=1)`` of a 2-D block (columns, rows): an ndarray through fancy indexing.

    numpy's take along axis 1 first copies a block that is not contiguous (a frame sliced by
    rows, e.g. ``df.iloc[a:b]``, holds such views): every row of every numeric column, on every
    search (~100 us at 100k rows); the fancy index reads only the hit rows (~1 us).
    """
    if type(v) is np.ndarray:
        return np.ascontiguousarray(v[:, flat])
    return v.take(flat, axis=1)


#: hits up to which a string column is taken as one-row slices joined (see _arrow_take)
_SLICE_TAKE = 32

_CHUNKS: dict[int, tuple] = {}  # id(one-chunk string ChunkedArray) -> (weak ref to it, its chunk)
_CHUNKS_LOCK = threading.Lock()


def _string_chunk(chunked: Any) -> Any:
    """The only chunk of a one-chunk string / large_string ``chunked``, or None for other types.

    Kept while ``chunked`` lives (a weak entry: it goes with the column's data), since wrapping
    a chunk and testing its type cost ~40 us of a cold single-query search.
    """
    key = id(chunked)
    hit = _CHUNKS.get(key)
    if hit is not None and hit[0]() is chunked:
        return hit[1]
    chunk = chunked.chunk(0)
    if chunk.type not in _STRING_TYPES:
        return None

    def forget(ref: Any, key: int = key) -> None:
        with _CHUNKS_LOCK:
            if _CHUNKS.get(key, (None,))[0] is ref:
                del _CHUNKS[key]

    with _CHUNKS_LOCK:
        _CHUNKS[key] = (weakref.ref(chunked, forget), chunk)
    return chunk


def _arrow_take(v: Any, flat: np.ndarray, cache: list) -> Any:
    """``v.take(flat)`` for an arrow-backed column and valid positions ``flat``: one pyarrow take,
    without pandas' index checks and re-wrapping (~25 -> ~8 us hot; right after a search's product
    has gone through the caches ~200 -> ~100 us); other arrays: their own take.

    A string column and a few hits (a single query's): the hits' one-row slices joined by
    ``pa.concat_arrays`` (a copy, as a take makes: the result shares no buffer with the frame),
    which runs much less of pyarrow than a compute-function call and the conversion of ``flat``
    to an arrow array (cold, right after a 100k-row product: ~0.29 -> ~0.17 ms).

    ``cache`` (``[None, None]`` per result) keeps ``flat`` as a pyarrow array and as a list
    across the columns of one result.
    """
    if type(v) not in _ARROW_TYPES:
        return v.take(flat)
    chunked = v._pa_array
    if chunked.num_chunks != 1:
        return v.take(flat)
    chunk = _string_chunk(chunked) if 0 < len(flat) <= _SLICE_TAKE else None
    if chunk is not None:
        if cache[1] is None:
            cache[1] = flat.tolist()
        piece = chunk.slice
        taken = _pa.concat_arrays([piece(i, 1) for i in cache[1]])
    else:
        if cache[0] is None:
            cache[0] = _pa.array(flat)
        taken = _ARRAY_TAKE.call([chunked.chunk(0), cache[0]])
    out = type(v).__new__(type(v))
    out._pa_array = _pa.chunked_array([taken], type=chunked.type)
    out._dtype = v._dtype
    out._cache = {}
    return out


def _planned_frame(mgr: Any, plan: _Plan, flat: np.ndarray, index: pd.Index, added: list,
                   listed: list | None = None) -> pd.DataFrame:
    """The result frame through ``plan``: one take per block, blocks assembled without re-checks
    (``listed``: ``flat.tolist()`` when the caller has it)."""
    blocks = mgr.blocks
    out = []
    cache = [None, listed]  # flat as a pyarrow array and as a list, made for the first column wanting them
    for i, sel, two_d, placement, klass in plan.steps:
        v = blocks[i].values
        if sel is not None:
            v = v[sel]
        if two_d and type(v) is np.ndarray and v.dtype.kind in "biuf":  # a plain numeric block: no coercion
            out.append(klass(np.ascontiguousarray(v[:, flat]), ndim=2, placement=placement))
            continue
        if not two_d and type(v) in _ARROW_TYPES:  # pandas coerces no arrow array
            out.append(klass(_arrow_take(v, flat, cache), ndim=2, placement=placement))
            continue
        v = _take_2d(v, flat) if two_d else _arrow_take(v, flat, cache)
        out.append(klass(_coerce(v), ndim=2, placement=placement))
    for values, placement in zip(added, plan.added_at):
        if type(values) is np.ndarray and values.dtype.kind in "fi":  # score, rank: plain numeric blocks
            out.append(_NumericBlock(values.reshape(1, -1), ndim=2, placement=placement))
            continue
        values = _as_block_values(values)
        out.append(_block_type(values.dtype)(_coerce(values), ndim=2, placement=placement))
    new = _Manager(tuple(out), [plan.columns, index], verify_integrity=False)
    return pd.DataFrame._from_mgr(new, new.axes)


def _general_frame(frame: pd.DataFrame, flat: np.ndarray, index: pd.Index, added: dict[str, Any],
                   drop: tuple) -> pd.DataFrame:
    """The result frame through pandas' public block constructor (or column by column)."""
    columns, keep = _out_columns(frame.columns, tuple(added), drop) if _from_blocks is not None else (None, None)
    blocks = _take_blocks(frame, flat, keep) if columns is not None else None
    if blocks is not None:
        ncol = frame.shape[1] if keep is None else int(keep.sum())
        for i, values in enumerate(added.values()):
            blocks.append((_as_block_values(values), np.array([ncol + i], dtype=np.intp)))
        return _from_blocks(blocks, index=index, columns=columns)
    if frame.columns.has_duplicates:  # rare (duplicate names and a "score"...): pandas' own take
        out = frame.take(flat)
        if drop:
            out = out.drop(columns=list(drop))
        for name, values in added.items():
            out[name] = values
        return out
    data: dict[Any, Any] = {name: col.array.take(flat) for name, col in frame.items() if name not in drop}
    data.update(added)
    return pd.DataFrame(data, index=index, copy=False)


_RANKS: dict[int, np.ndarray] = {}


def _ranks(k: int) -> np.ndarray:
    """1..k (read-only, shared; callers copy what they keep)."""
    r = _RANKS.get(k)
    if r is None:
        r = np.arange(1, k + 1, dtype=np.int64)
        r.flags.writeable = False
        if len(_RANKS) < 64:
            _RANKS[k] = r
    return r


#: a threshold is inclusive up to float32 rounding: stores compute the same score in other arithmetic
#: (sqlite-vec / pgvector / faiss / hnswlib in float32, 1 - distance, -sqrt(d2)), so a hit scoring the
#: threshold in ``df.vec.search`` may score ~1e-7 less in a store (and the reverse): a hit within
#: ``THRESHOLD_TOLERANCE * (1 + |threshold|)`` below it is kept (its score reported as the threshold, a
#: change far inside the 1e-4 stores agree to), on every store and on the frame alike
THRESHOLD_TOLERANCE = 1e-6


def threshold_floor(threshold: float) -> float:
    """The lowest score kept by ``threshold`` (see :data:`THRESHOLD_TOLERANCE`).

    Examples
    --------
    >>> threshold_floor(0.5) < 0.5 <= threshold_floor(0.5) + 2e-6
    True
    """
    return float(threshold) - THRESHOLD_TOLERANCE * (1.0 + abs(float(threshold)))


def build_hits(
    frame: pd.DataFrame,
    pos: np.ndarray,
    scores: np.ndarray,
    *,
    queries: Sequence[Any] | None = None,
    threshold: float | None = None,
    extra: dict[str, np.ndarray] | None = None,
    drop: Sequence[Any] = (),
) -> pd.DataFrame:
    """Result frame from per-query hit positions.

    Parameters
    ----------
    frame : DataFrame
        The rows that were searched; ``pos`` indexes its rows.
    pos : ndarray, shape (nq, k), int
        Hit positions, best first; ``-1`` marks padding (no hit).
    scores : ndarray, shape (nq, k)
        Scores matching ``pos``.
    queries : sequence of length nq, optional
        When given, a ``query`` column is added with the query each hit answers.
    threshold : float, optional
        Hits with ``score < threshold`` are dropped.
    extra : dict of str -> ndarray (nq, k), optional
        More per-hit columns (e.g. ``keyword_rank``), placed after ``score``.
    drop : sequence of column names
        Columns of ``frame`` left out of the result (searches drop the embedding columns
        unless asked ``with_vectors=True``); never taken, so they cost nothing.

    Examples
    --------
    >>> frame = pd.DataFrame({"text": ["red apple", "pear", "plum"]}, index=["a", "b", "c"])
    >>> build_hits(frame, np.array([[2, 0], [1, -1]]), np.array([[0.9, 0.5], [0.7, -np.inf]]), queries=["q1", "q2"])
            text  score  rank query
    c       plum    0.9     1    q1
    a  red apple    0.5     2    q1
    b       pear    0.7     1    q2
    >>> build_hits(frame, np.array([[2, 0]]), np.array([[0.9, 0.5]]), threshold=0.6)
       text  score  rank
    c  plum    0.9     1
    """
    drop, plain = _column_facts(frame.columns, tuple(drop))
    pos = np.asarray(pos)
    scores = np.asarray(scores, dtype=np.float64)
    nq, k = pos.shape if pos.ndim == 2 else (1, len(pos))
    pos = pos.reshape(nq, k)
    scores = scores.reshape(nq, k)
    keep = pos >= 0
    if threshold is not None:
        keep &= scores >= threshold_floor(threshold)
        # a hit kept within rounding below the threshold reports the threshold: every score >= threshold
        scores = np.where(keep & (scores < threshold), float(threshold), scores)
    everything = bool(keep.all())
    flat = pos.ravel() if everything else pos[keep]
    flat = flat.astype(np.intp, copy=False)

    def per_hit(values: np.ndarray) -> np.ndarray:
        return values.ravel() if everything else values[keep]

    added: dict[str, Any] = {"score": per_hit(scores)}
    if extra:
        for name, values in extra.items():
            added[name] = per_hit(np.asarray(values).reshape(nq, k))
    if nq == 1:
        added["rank"] = _ranks(k).copy() if everything else _ranks(k)[keep[0]]
    else:
        added["rank"] = per_hit(np.broadcast_to(_ranks(k), (nq, k)))
    if queries is not None:
        qarr = np.empty(nq, dtype=object)
        qarr[:] = list(queries)
        if all(isinstance(q, (int, np.integer)) and not isinstance(q, bool) for q in qarr):
            qarr = qarr.astype(np.int64)  # query positions / integer labels keep an integer dtype
        added["query"] = qarr[per_hit(np.broadcast_to(np.arange(nq)[:, None], (nq, k)))]
    clash = {} if plain and len(added) <= 2 else _renamed_clashes(frame.columns, added, drop)
    if clash:
        frame = frame.rename(columns=clash)  # copy-on-write: no data is copied
    index = take_labels(frame.index, flat)
    planned = _plan(frame, tuple(added), drop)
    if planned is not None:
        out = _planned_frame(planned[0], planned[1], flat, index, list(added.values()))
    else:
        out = _general_frame(frame, flat, index, added, drop)
    attrs = frame.attrs
    if attrs:  # else the new frame's own empty attrs stand (pandas' attribute setter costs ~20 us cold)
        _set_attrs(out, attrs)
    return out


def hits_plan(frame: pd.DataFrame, drop: Sequence[Any] = ()) -> tuple[tuple, Any] | None:
    """``(drop, plan)`` for :func:`planned_hits`: what a one-query result of ``frame`` (columns
    ``drop`` left out) takes from the frame's current layout; None when such results need
    :func:`build_hits` (a frame not laid out in blocks, or holding a column named ``score`` /
    ``rank`` / ``query``). Valid while the layout is: keep it per layout
    (:func:`vecnb.frame.layout.cached`).

    Examples
    --------
    >>> frame = pd.DataFrame({"text": ["red apple", "pear"], "v": [1.0, 2.0]})
    >>> hits_plan(frame, drop=["v", "missing"])[0]
    ('v',)
    >>> hits_plan(frame.rename(columns={"v": "score"})) is None
    True
    """
    drop, plain = _column_facts(frame.columns, tuple(drop))
    if not plain:
        return None
    planned = _plan(frame, ("score", "rank"), drop)
    return None if planned is None else (drop, planned[1])


def planned_hits(frame: pd.DataFrame, plan: Any, pos: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """``build_hits(frame, pos[None], scores[None], drop=drop)`` for one query's ``k`` hits, all of them
    valid positions (no padding, no threshold), through ``plan`` (:func:`hits_plan`'s second item,
    made for ``frame``'s current layout): the same frame with fewer steps (a single-vector search
    builds it right after a product that went through the caches, where each step costs).

    Examples
    --------
    >>> frame = pd.DataFrame({"text": ["red apple", "pear", "plum"]}, index=["a", "b", "c"])
    >>> drop, plan = hits_plan(frame)
    >>> planned_hits(frame, plan, np.array([2, 0]), np.array([0.9, 0.5]))
            text  score  rank
    c       plum    0.9     1
    a  red apple    0.5     2
    """
    flat = pos.astype(np.intp, copy=False)
    mgr = frame._mgr
    index = mgr.axes[1]
    if type(index) is pd.RangeIndex and 1 < len(flat) <= _SLICE_TAKE and _is_sequence_range is not None:
        listed = flat.tolist()
        index = _few_range_labels(index, flat, listed)
    else:
        listed = None
        index = take_labels(index, flat)
    out = _planned_frame(mgr, plan, flat, index, [scores, _ranks(len(flat)).copy()], listed)
    attrs = frame.attrs
    if attrs:
        _set_attrs(out, attrs)
    return out


_FACTS: OrderedDict = OrderedDict()  # (id(columns), drop) -> (columns, (drop kept, no reserved name))


def _column_facts(columns: pd.Index, drop: tuple) -> tuple[tuple, bool]:
    """``(the names of drop in columns, whether no column is named score / rank / query)``.

    Once per column labels object (an ``Index`` is immutable; kept here so its ``id`` is not
    reused): both tests iterate or hash into the labels, which for pandas' Arrow-backed ``str``
    labels costs ~10-15 us hot and several times that after a search's product went through
    the caches.
    """
    key = (id(columns), drop)
    hit = _FACTS.get(key)
    if hit is not None and hit[0] is columns:
        return hit[1]
    facts = (tuple(c for c in drop if c in columns) if drop else (), _RESERVED_SET.isdisjoint(columns))
    with _COLUMNS_LOCK:
        _FACTS[key] = (columns, facts)
        while len(_FACTS) > _COLUMNS_CACHE_SIZE:
            _FACTS.popitem(last=False)
    return facts


RESERVED = ("score", "rank", "query")
"""Columns every search result may add; a frame's own columns of these names are renamed."""
_RESERVED_SET = frozenset(RESERVED)


def _renamed_clashes(columns: pd.Index, added: dict[str, Any], drop: tuple) -> dict[Any, str]:
    """New names for the frame's columns that a search result adds itself (``score``, ``rank``,
    ``query``, ``keyword_score`` ...), with a warning, so neither is silently lost.

    ``query`` is reserved even for a single query (where no ``query`` column is added), so a
    frame's own ``query`` column never makes a single-query result look like a batch.
    """
    if _RESERVED_SET.isdisjoint(columns) and (len(added) <= 2 or set(added).isdisjoint(columns)):
        return {}  # the usual case, in C: ~1 us (added is score + rank unless extra / query columns)
    taken = set(columns) | set(added)
    clash: dict[Any, str] = {}
    for c in columns:
        if isinstance(c, str) and (c in added or c in RESERVED) and c not in drop:
            new = f"{c}_data"
            while new in taken:
                new += "_"
            taken.add(new)
            clash[c] = new
    if clash:
        shown = ", ".join(f"{old!r} -> {new!r}" for old, new in clash.items())
        warnings.warn(f"the frame's own column(s) are returned renamed ({shown}): a search result adds its own "
                      f"{', '.join(map(repr, RESERVED))} columns. Rename them in the frame "
                      "(df.rename(columns=...)) to keep your names.", UserWarning, stacklevel=4)
    return clash


def empty_hits(frame: pd.DataFrame, *, with_query: bool = False, drop: Sequence[Any] = ()) -> pd.DataFrame:
    """A zero-row result with the right columns.

    Examples
    --------
    >>> empty_hits(pd.DataFrame({"text": ["red apple"]}), with_query=True)
    Empty DataFrame
    Columns: [text, score, rank, query]
    Index: []
    """
    return build_hits(frame, np.empty((1, 0), np.int64), np.empty((1, 0)),
                      queries=[None] if with_query else None, drop=drop)
