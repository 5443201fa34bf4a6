"""One portable filter language (``where=``), parsed once, translated per backend.

Grammar (MongoDB / Chroma style)::

    where := {field: value}                         equality
           | {field: {op: value, ...}}              several ops on one field are ANDed
           | {"$and": [where, ...]} | {"$or": [where, ...]}
           | {field_a: ..., field_b: ...}           several keys are ANDed
    op    := $eq $ne $gt $gte $lt $lte $in $nin

Values are scalars (str, int, float, bool); ``$in`` / ``$nin`` take a non-empty list of
scalars. Field names may be any string: backends pass them as identifiers / bound
parameters, never as SQL text.

Missing values (None / NaN) follow SQL: they match no comparison, ``$ne`` and ``$nin``
included. Every store implements the same rule, so results agree across stores.

:func:`parse` returns a small tree of :class:`Cmp`, :class:`And` and :class:`Or` nodes that
backends translate (see ``to_mask`` for pandas, and each store for its own dialect).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Union

import numpy as np
import pandas as pd

from vecnb.errors import FilterError

__all__ = ["OPERATORS", "Cmp", "And", "Or", "Node", "parse", "fields", "to_mask", "to_dict", "check_fields"]

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")


@dataclass(frozen=True)
class Cmp:
    """``field op value``."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class And:
    """All children hold."""

    children: tuple


@dataclass(frozen=True)
class Or:
    """At least one child holds."""

    children: tuple


Node = Union[Cmp, And, Or]


def _scalar(value: Any, field: str, op: str) -> Any:
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, numbers.Number):
        if isinstance(value, float) and not np.isfinite(value):
            raise FilterError(f"where: {field!r} {op} {value!r}: NaN / inf cannot be compared; use a finite number.")
        return value
    raise FilterError(
        f"where: {field!r} {op} got {type(value).__name__} {value!r}; values must be str, int, float or bool."
    )


def parse(where: Any) -> Node | None:
    """Validate ``where`` and return its tree (``None`` for no filter).

    Raises
    ------
    FilterError
        On an unknown operator, a wrong value type, or an empty ``$and`` / ``$or`` / ``$in``.
    """
    if where is None:
        return None
    if isinstance(where, (Cmp, And, Or)):
        return where
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
            kids = tuple(p for p in (parse(v) for v in val) if p is not None)
            if not kids:
                raise FilterError(f"where: {key} holds only empty filters.")
            parts.append(kids[0] if len(kids) == 1 else (And(kids) if key == "$and" else Or(kids)))
        elif key.startswith("$"):
            raise FilterError(
                f"where: unknown top-level operator {key!r}; use '$and' / '$or', or a field name."
            )
        elif isinstance(val, dict):
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
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def fields(node: Node | None) -> set[str]:
    """Every field name a filter tree refers to."""
    if node is None:
        return set()
    if isinstance(node, Cmp):
        return {node.field}
    out: set[str] = set()
    for child in node.children:
        out |= fields(child)
    return out


def check_fields(node: Node | None, available: Iterable[str], where_from: str = "the data") -> None:
    """Raise :class:`FilterError` when the filter names a field not in ``available``."""
    avail = set(available)
    missing = sorted(fields(node) - avail)
    if missing:
        shown = ", ".join(sorted(map(str, avail))[:20]) or "none"
        raise FilterError(
            f"where: field(s) {', '.join(map(repr, missing))} not found in {where_from}. "
            f"Filterable fields: {shown}."
        )


def to_dict(node: Node | None) -> dict | None:
    """Canonical JSON-able form of a tree (``parse(to_dict(t)) == t``)."""
    if node is None:
        return None
    if isinstance(node, Cmp):
        val = list(node.value) if isinstance(node.value, tuple) else node.value
        return {node.field: {node.op: val}}
    return {"$and" if isinstance(node, And) else "$or": [to_dict(c) for c in node.children]}


def _cmp_mask(col: pd.Series, op: str, value: Any) -> np.ndarray:
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
    except TypeError as exc:
        raise FilterError(
            f"where: cannot compare field {col.name!r} (dtype {col.dtype}) {op} {value!r}: {exc}. "
            "Compare numbers with numbers and text with text."
        ) from None
    arr = res.to_numpy(dtype=bool, na_value=False) if hasattr(res, "to_numpy") else np.asarray(res, dtype=bool)
    return arr & notna


def to_mask(node: Node | None, df: pd.DataFrame) -> np.ndarray:
    """Boolean mask (n,) of the rows of ``df`` that satisfy the filter."""
    if node is None:
        return np.ones(len(df), dtype=bool)
    if isinstance(node, Cmp):
        if node.field not in df.columns:
            from vecnb._core.arrow import is_vector_dtype

            check_fields(node, [c for c in df.columns if isinstance(c, str) and not is_vector_dtype(df[c].dtype)],
                         "the DataFrame's columns")
        return _cmp_mask(df[node.field], node.op, node.value)
    masks = [to_mask(c, df) for c in node.children]
    return np.logical_and.reduce(masks) if isinstance(node, And) else np.logical_or.reduce(masks)
