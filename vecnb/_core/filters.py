"""One portable filter language (``where=``), parsed once, translated per backend.

Grammar (MongoDB / Chroma style)::

    where := {field: value}                         equality
           | {field: {op: value, ...}}              several ops on one field are ANDed
           | {"$and": [where, ...]} | {"$or": [where, ...]}
           | {field_a: ..., field_b: ...}           several keys are ANDed
    op    := $eq $ne $gt $gte $lt $lte $in $nin

Values are scalars (str, int, float, bool, or a date / datetime); ``$in`` / ``$nin`` take
a non-empty list of scalars. Field names may be any string: backends pass them as
identifiers / bound parameters, never as SQL text. Filters nest at most
:data:`MAX_DEPTH` levels of ``$and`` / ``$or`` (deeper input raises :class:`FilterError`);
nested ``$and`` in ``$and`` (``$or`` in ``$or``) are flattened, and an ``$or`` of equalities
on one field becomes one ``$in`` (so ``$or`` with thousands of branches works everywhere).

Missing values (None / NaN / NaT) follow SQL: they match no comparison, ``$ne`` and ``$nin``
included. Every store implements the same rule, so results agree across stores.

One meaning on every store (``df.vec.search``, every index store) -- the rules by column type:

* **Dates and datetimes** (``datetime64`` columns, tz-aware or not, and object columns of
  ``datetime.date`` / ``datetime`` values) compare as instants: a value may be a
  ``pd.Timestamp``, ``datetime.datetime``, ``datetime.date``, ``np.datetime64`` or (on
  ``df.vec`` and indexes, which know the column types) an ISO string such as ``"2020-01-31"``.
  A naive value compared with a tz-aware column is taken in the column's time zone (as pandas
  does for strings); naive columns are taken as UTC (pandas would refuse naive vs aware). A number compared with a datetime column, or a datetime with a non-datetime column,
  raises :class:`FilterError`. Stores receive datetimes as int64 nanoseconds since
  1970-01-01 UTC (:func:`encode_frame`, :func:`encode_node`), a form every backend compares
  exactly (Elasticsearch maps numbers to doubles: instants closer than ~0.3 us may tie).
* **Booleans** equal the numbers 1 / 0 (``{"flag": 1}`` is ``{"flag": True}``), as in pandas;
  ordering comparisons (``$gt`` ...) on a boolean column raise :class:`FilterError`.
* **Categoricals** compare by their values with ``$eq`` / ``$ne`` / ``$in`` / ``$nin``;
  ordering comparisons raise :class:`FilterError` (pandas' rule for unordered categoricals;
  stores keep no category order, so ordered ones are refused too: cast the column first).

:func:`parse` returns a small tree of :class:`Cmp`, :class:`And` and :class:`Or` nodes that
backends translate (see ``to_mask`` for pandas, and each store for its own dialect).
"""

from __future__ import annotations

import datetime as _dt
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Union

import numpy as np
import pandas as pd

from vecnb.errors import FilterError

__all__ = ["OPERATORS", "MAX_DEPTH", "Cmp", "And", "Or", "Node", "parse", "fields", "to_mask", "to_dict",
           "check_fields", "prepare", "encode_node", "encode_frame", "equal_forms", "instant_ns"]

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
ORDERING = ("$gt", "$gte", "$lt", "$lte")
#: deepest nesting of ``$and`` / ``$or`` accepted (deeper filters raise FilterError, not RecursionError)
MAX_DEPTH = 64


@dataclass(frozen=True)
class Cmp:
    """``field op value``.

    Examples
    --------
    >>> vecnb.filters.parse({"year": {"$gte": 1990}})
    Cmp(field='year', op='$gte', value=1990)
    """

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class And:
    """All children hold.

    Examples
    --------
    >>> vecnb.filters.parse({"year": {"$gte": 1990}, "lang": "en"})
    And(children=(Cmp(field='year', op='$gte', value=1990), Cmp(field='lang', op='$eq', value='en')))
    """

    children: tuple


@dataclass(frozen=True)
class Or:
    """At least one child holds.

    Examples
    --------
    >>> vecnb.filters.parse({"$or": [{"lang": "en"}, {"year": {"$lt": 1950}}]})
    Or(children=(Cmp(field='lang', op='$eq', value='en'), Cmp(field='year', op='$lt', value=1950)))
    """

    children: tuple


Node = Union[Cmp, And, Or]


def _timestamp(value: Any, field: str, op: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise FilterError(f"where: {field!r} {op} {value!r} is not a date / datetime: {exc}.") from None
    if ts is pd.NaT:
        raise FilterError(f"where: {field!r} {op} got NaT; a missing datetime cannot be compared.")
    return ts


def _scalar(value: Any, field: str, op: str) -> Any:
    if isinstance(value, np.datetime64) or isinstance(value, _dt.date):  # date, datetime, pd.Timestamp
        return _timestamp(value, field, op)
    if isinstance(value, dict) and set(value) == {"$date"} and isinstance(value["$date"], str):
        return _timestamp(value["$date"], field, op)  # the JSON form written by to_dict
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, numbers.Number):
        if not isinstance(value, numbers.Real):
            raise FilterError(f"where: {field!r} {op} {value!r}: complex numbers cannot be compared; use a real number.")
        if isinstance(value, float) and not np.isfinite(value):
            raise FilterError(f"where: {field!r} {op} {value!r}: NaN / inf cannot be compared; use a finite number.")
        return value
    raise FilterError(
        f"where: {field!r} {op} got {type(value).__name__} {value!r}; values must be str, int, float, bool "
        "or a date / datetime."
    )


def parse(where: Any) -> Node | None:
    """Validate ``where`` and return its tree (``None`` for no filter).

    Raises
    ------
    FilterError
        On an unknown operator, a wrong value type, an empty ``$and`` / ``$or`` / ``$in``, or
        nesting deeper than :data:`MAX_DEPTH`.

    Examples
    --------
    >>> vecnb.filters.parse({"year": {"$gte": 1990, "$lt": 2000}})
    And(children=(Cmp(field='year', op='$gte', value=1990), Cmp(field='year', op='$lt', value=2000)))
    >>> vecnb.filters.parse(None) is None
    True
    >>> vecnb.filters.parse({"year": {"$in": []}})
    Traceback (most recent call last):
    ...
    vecnb.errors.FilterError: ...
    """
    if where is None:
        return None
    if isinstance(where, (Cmp, And, Or)):
        _check_depth(where)
        return where
    return _parse(where, 0)


def _check_depth(node: Node) -> None:
    """Raise FilterError when a ready-made tree nests deeper than MAX_DEPTH (iterative: no recursion)."""
    stack = [(node, 0)]
    while stack:
        cur, depth = stack.pop()
        if isinstance(cur, (And, Or)):
            if depth >= MAX_DEPTH:
                raise _too_deep()
            stack.extend((c, depth + 1) for c in cur.children)


def _too_deep() -> FilterError:
    return FilterError(f"where: filters may nest $and / $or at most {MAX_DEPTH} levels deep; "
                       "flatten the filter (one $and / $or takes any number of conditions).")


def _combine(kind: type, kids: list[Node]) -> Node:
    """``And`` / ``Or`` of ``kids``: same-kind children flattened, equality runs on one field merged."""
    flat: list[Node] = []
    for kid in kids:
        flat.extend(kid.children if isinstance(kid, kind) else (kid,))
    merge_ops = ("$eq", "$in") if kind is Or else ("$ne", "$nin")
    groups: dict[str, list[int]] = {}
    for i, kid in enumerate(flat):
        if isinstance(kid, Cmp) and kid.op in merge_ops:
            groups.setdefault(kid.field, []).append(i)
    out: list[Node] = []
    done: set[int] = set()
    for i, kid in enumerate(flat):
        if i in done:
            continue
        idxs = groups.get(kid.field, []) if isinstance(kid, Cmp) else []
        if len(idxs) > 1 and i == idxs[0]:
            vals: list = []
            for j in idxs:
                c = flat[j]
                vals.extend(c.value if isinstance(c.value, tuple) else (c.value,))
            uniq = {(type(v).__name__, v): v for v in vals}  # keeps 1, 1.0 and True apart
            out.append(Cmp(kid.field, "$in" if kind is Or else "$nin", tuple(uniq.values())))
            done.update(idxs)
        else:
            out.append(kid)
    return out[0] if len(out) == 1 else kind(tuple(out))


def _parse(where: Any, depth: int) -> Node | None:
    if depth > MAX_DEPTH:
        raise _too_deep()
    if not isinstance(where, dict):
        raise FilterError(
            f"where must be a dict such as {{'label': 'a'}} or {{'year': {{'$gte': 1990}}}}, got {type(where).__name__}."
        )
    if not where:
        return None
    parts: list[Node] = []
    for key, val in where.items():
        if not isinstance(key, str):
            raise FilterError(f"where: field names must be strings, got {key!r}.")
        if key in ("$and", "$or"):
            if not isinstance(val, (list, tuple)) or not val:
                raise FilterError(f"where: {key} takes a non-empty list of filters, got {val!r}.")
            kids = [p for p in (_parse(v, depth + 1) if v is not None else None for v in val) if p is not None]
            if not kids:
                raise FilterError(f"where: {key} holds only empty filters.")
            parts.append(_combine(And if key == "$and" else Or, kids))
        elif key.startswith("$"):
            raise FilterError(
                f"where: unknown top-level operator {key!r}; use '$and' / '$or', or a field name."
            )
        elif isinstance(val, dict) and set(val) != {"$date"}:
            if not val:
                raise FilterError(f"where: field {key!r} has an empty operator dict.")
            for op, arg in val.items():
                if op not in OPERATORS:
                    raise FilterError(
                        f"where: unknown operator {op!r} on field {key!r}; use one of {', '.join(OPERATORS)}."
                    )
                if op in ("$in", "$nin"):
                    if not isinstance(arg, (list, tuple, set, frozenset, np.ndarray, pd.Index)) or len(arg) == 0:
                        raise FilterError(f"where: {key!r} {op} takes a non-empty list, got {arg!r}.")
                    parts.append(Cmp(key, op, tuple(_scalar(a, key, op) for a in arg)))
                else:
                    parts.append(Cmp(key, op, _scalar(arg, key, op)))
        elif isinstance(val, (list, tuple, set)):
            raise FilterError(
                f"where: field {key!r} was given a list; write {{{key!r}: {{'$in': [...]}}}} to match any of several values."
            )
        else:
            parts.append(Cmp(key, "$eq", _scalar(val, key, "$eq")))
    return parts[0] if len(parts) == 1 else _combine(And, parts)


def fields(node: Node | None) -> set[str]:
    """Every field name a filter tree refers to.

    Examples
    --------
    >>> sorted(vecnb.filters.fields(vecnb.filters.parse({"year": {"$gte": 1990}, "lang": "en"})))
    ['lang', 'year']
    """
    if node is None:
        return set()
    if isinstance(node, Cmp):
        return {node.field}
    out: set[str] = set()
    for child in node.children:
        out |= fields(child)
    return out


def check_fields(node: Node | None, available: Iterable[str], where_from: str = "the data") -> None:
    """Raise :class:`FilterError` when the filter names a field not in ``available``.

    Examples
    --------
    >>> tree = vecnb.filters.parse({"yaer": 1990})
    >>> vecnb.filters.check_fields(tree, ["year", "lang"])
    Traceback (most recent call last):
    ...
    vecnb.errors.FilterError: where: field(s) 'yaer' not found in the data. Filterable fields: lang, year.
    """
    avail = set(available)
    missing = sorted(fields(node) - avail)
    if missing:
        shown = ", ".join(sorted(map(str, avail))[:20]) or "none"
        raise FilterError(
            f"where: field(s) {', '.join(map(repr, missing))} not found in {where_from}. "
            f"Filterable fields: {shown}."
        )


def to_dict(node: Node | None) -> dict | None:
    """Canonical JSON-able form of a tree (``parse(to_dict(t)) == t``).

    Examples
    --------
    >>> tree = vecnb.filters.parse({"year": {"$gte": 1990}, "lang": {"$in": ["en", "fr"]}})
    >>> vecnb.filters.to_dict(tree)
    {'$and': [{'year': {'$gte': 1990}}, {'lang': {'$in': ['en', 'fr']}}]}
    >>> vecnb.filters.parse(vecnb.filters.to_dict(tree)) == tree
    True
    """
    if node is None:
        return None
    if isinstance(node, Cmp):
        val = [_jsonable(v) for v in node.value] if isinstance(node.value, tuple) else _jsonable(node.value)
        return {node.field: {node.op: val}}
    return {"$and" if isinstance(node, And) else "$or": [to_dict(c) for c in node.children]}


def _jsonable(v: Any) -> Any:
    return {"$date": v.isoformat()} if isinstance(v, pd.Timestamp) else v


# ------------------------------------------------------------------ column types (one rule for all)
def _col_class(col: pd.Series) -> str:
    """``"datetime"``, ``"bool"``, ``"category"`` or ``"other"`` -- what decides the comparison rules."""
    dt = col.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "datetime"
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if dt == object:
        inferred = pd.api.types.infer_dtype(col, skipna=True)
        if inferred in ("datetime", "datetime64", "date"):
            return "datetime"
        if inferred == "boolean":
            return "bool"
    return "other"


def instant_ns(value: Any) -> int:
    """A datetime value as int nanoseconds since 1970-01-01 UTC (naive values taken as UTC).

    Examples
    --------
    >>> vecnb.filters.instant_ns("1970-01-01 00:00:01")
    1000000000
    >>> vecnb.filters.instant_ns(pd.Timestamp("1970-01-01 01:00:01", tz="Europe/Paris"))
    1000000000
    """
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def _datetime_ns(col: pd.Series) -> pd.Series:
    """A datetime-like column as nullable Int64 nanoseconds since the epoch (UTC), same index."""
    try:
        dt = pd.to_datetime(col, utc=True, errors="raise")
    except (TypeError, ValueError, OverflowError) as exc:
        raise FilterError(f"where: column {col.name!r} holds datetimes that cannot be compared: {exc}.") from None
    arr = pd.DatetimeIndex(dt).as_unit("ns")
    out = pd.array(arr.asi8, dtype="Int64")
    out[arr.isna()] = pd.NA
    return pd.Series(out, index=col.index, name=col.name)


def _col_tz(col: pd.Series) -> Any:
    return getattr(col.dtype, "tz", None)


def _datetime_value(field: Any, op: str, value: Any, tz: Any = None) -> pd.Timestamp:
    """``value`` as a Timestamp for a datetime column; naive values take the column's time zone ``tz``."""
    if isinstance(value, (pd.Timestamp, str)):
        ts = _timestamp(value, field, op) if isinstance(value, str) else value
        return ts.tz_localize(tz) if tz is not None and ts.tzinfo is None else ts
    raise FilterError(
        f"where: field {field!r} holds dates / datetimes; compare it with a date or datetime "
        f"(e.g. pd.Timestamp('2020-01-31') or '2020-01-31'), not {type(value).__name__} {value!r}."
    )


def _check_types(col: pd.Series, op: str, value: Any) -> str:
    """Raise FilterError where the rules above refuse ``col op value``; return the column's class."""
    cls = _col_class(col)
    vals = value if isinstance(value, tuple) else (value,)
    if cls == "datetime":
        for v in vals:
            _datetime_value(col.name, op, v)
    elif any(isinstance(v, pd.Timestamp) for v in vals) and col.notna().any():
        raise FilterError(
            f"where: field {col.name!r} (dtype {col.dtype}) does not hold dates / datetimes; "
            f"it cannot be compared {op} a datetime."
        )
    if op in ORDERING and cls in ("bool", "category"):
        what = "booleans have no order" if cls == "bool" else "categories are compared by value, not by order"
        raise FilterError(
            f"where: field {col.name!r} is {'boolean' if cls == 'bool' else 'categorical'}: {what}, so {op} is refused "
            f"on every store. Use $eq / $ne / $in / $nin{'' if cls == 'bool' else ', or cast the column (astype(str))'}."
        )
    return cls


def _cmp_mask(col: pd.Series, op: str, value: Any) -> np.ndarray:
    if _check_types(col, op, value) == "datetime":
        tz = _col_tz(col)
        col = _datetime_ns(col)
        value = (tuple(instant_ns(_datetime_value(col.name, op, v, tz)) for v in value) if isinstance(value, tuple)
                 else instant_ns(_datetime_value(col.name, op, value, tz)))
    notna = col.notna().to_numpy(dtype=bool)
    try:
        if op == "$eq":
            res = col == value
        elif op == "$ne":
            res = col != value
        elif op == "$gt":
            res = col > value
        elif op == "$gte":
            res = col >= value
        elif op == "$lt":
            res = col < value
        elif op == "$lte":
            res = col <= value
        elif op == "$in":
            res = col.isin(list(value))
        else:  # $nin
            res = ~col.isin(list(value))
    except (TypeError, ValueError) as exc:  # ValueError: cells holding arrays compare element-wise
        raise FilterError(
            f"where: cannot compare field {col.name!r} (dtype {col.dtype}) {op} {value!r}: {exc}. "
            "Compare numbers with numbers and text with text."
        ) from None
    arr = res.to_numpy(dtype=bool, na_value=False) if hasattr(res, "to_numpy") else np.asarray(res, dtype=bool)
    return arr & notna


def to_mask(node: Node | None, df: pd.DataFrame) -> np.ndarray:
    """Boolean mask (n,) of the rows of ``df`` that satisfy the filter.

    Examples
    --------
    >>> df = pd.DataFrame({"year": [1985, 1995, 2005], "lang": ["en", "fr", "en"]})
    >>> vecnb.filters.to_mask(vecnb.filters.parse({"year": {"$gte": 1990}, "lang": "en"}), df)
    array([False, False,  True])
    """
    if node is None:
        return np.ones(len(df), dtype=bool)
    if isinstance(node, Cmp):
        from vecnb._core.arrow import is_vector_dtype

        if node.field not in df.columns or is_vector_dtype(df[node.field].dtype):
            check_fields(node, [c for c in df.columns if isinstance(c, str) and not is_vector_dtype(df[c].dtype)],
                         "the DataFrame's columns (an embedding column holds vectors, which filters cannot compare)"
                         if node.field in df.columns else "the DataFrame's columns")
        return _cmp_mask(df[node.field], node.op, node.value)
    masks = [to_mask(c, df) for c in node.children]
    return np.logical_and.reduce(masks) if isinstance(node, And) else np.logical_or.reduce(masks)


# ------------------------------------------------------------------ handing filters to stores
def prepare(node: Node | None, frame: pd.DataFrame) -> Node | None:
    """Check ``node`` against ``frame``'s column types and return it ready for any store.

    Raises the same :class:`FilterError` as :func:`to_mask` on ``frame`` would (so an index
    refuses exactly what ``df.vec.search`` refuses), and turns ISO strings compared with a
    datetime column into ``pd.Timestamp`` values (which stores receive as instants).
    Fields ``frame`` lacks are left alone (they match nothing).

    Examples
    --------
    >>> df = pd.DataFrame({"when": pd.to_datetime(["2020-01-01", "2021-06-01"])})
    >>> vecnb.filters.prepare(vecnb.filters.parse({"when": {"$gte": "2021-01-01"}}), df)
    Cmp(field='when', op='$gte', value=Timestamp('2021-01-01 00:00:00'))
    """
    if node is None:
        return None
    if isinstance(node, Cmp):
        if node.field not in frame.columns:
            return node
        col = frame[node.field]
        if isinstance(col, pd.DataFrame):  # duplicate column names: the first one decides
            col = col.iloc[:, 0]
        if _check_types(col, node.op, node.value) != "datetime":
            return node
        tz = _col_tz(col)

        def conv(v: Any) -> Any:
            return _datetime_value(node.field, node.op, v, tz)

        value = tuple(conv(v) for v in node.value) if isinstance(node.value, tuple) else conv(node.value)
        return Cmp(node.field, node.op, value)
    kids = tuple(prepare(c, frame) for c in node.children)
    return type(node)(kids)


def encode_node(node: Node | None) -> Node | None:
    """``node`` with every ``pd.Timestamp`` value replaced by its int nanoseconds since the epoch (UTC).

    Examples
    --------
    >>> tree = vecnb.filters.parse({"when": {"$gte": pd.Timestamp("1970-01-01 00:00:01")}})
    >>> vecnb.filters.encode_node(tree)
    Cmp(field='when', op='$gte', value=1000000000)
    """
    if node is None:
        return None
    if isinstance(node, Cmp):
        v = node.value
        if isinstance(v, tuple):
            if not any(isinstance(x, pd.Timestamp) for x in v):
                return node
            return Cmp(node.field, node.op, tuple(instant_ns(x) if isinstance(x, pd.Timestamp) else x for x in v))
        return Cmp(node.field, node.op, instant_ns(v)) if isinstance(v, pd.Timestamp) else node
    return type(node)(tuple(encode_node(c) for c in node.children))


def encode_frame(metadata: pd.DataFrame | None) -> pd.DataFrame | None:
    """``metadata`` with date / datetime columns as nullable Int64 nanoseconds since the epoch (UTC).

    The form in which stores keep datetimes, so that :func:`encode_node`'s values compare
    with them exactly in every backend. Other columns are untouched; no copy when there is
    nothing to convert.

    Examples
    --------
    >>> meta = pd.DataFrame({"when": pd.to_datetime(["1970-01-01 00:00:01", None]), "n": [1, 2]})
    >>> vecnb.filters.encode_frame(meta)
             when  n
    0  1000000000  1
    1        <NA>  2
    """
    if metadata is None or not isinstance(metadata, pd.DataFrame):
        return metadata
    conv = {j: _datetime_ns(metadata.iloc[:, j]) for j in range(metadata.shape[1])
            if _col_class(metadata.iloc[:, j]) == "datetime"}
    if not conv:
        return metadata
    out = metadata.copy(deep=False)
    for j, col in conv.items():
        out.isetitem(j, col)
    return out


def equal_forms(value: Any) -> tuple:
    """The stored values equal to ``value`` under vecnb's rule: ``True`` is 1, ``False`` is 0.

    For backends whose own equality keeps booleans and numbers apart (JSON, chroma).

    Examples
    --------
    >>> vecnb.filters.equal_forms(True)
    (True, 1)
    >>> vecnb.filters.equal_forms("en")
    ('en',)
    """
    if isinstance(value, bool):
        return (value, int(value))
    if isinstance(value, (int, float)) and value in (0, 1):
        return (value, bool(value))
    return (value,)
