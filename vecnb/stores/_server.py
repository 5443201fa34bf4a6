"""Helpers shared by the server stores (pgvector, Elasticsearch); no backend imports here.

* :func:`redact_url` -- a connection URL / conninfo with its password replaced by ``***``;
* :func:`metadata_rows` -- a metadata DataFrame as one plain dict per row (missing values left
  out, so they match no filter on the server either) plus the *kind* of each field;
* :func:`check_ordering` -- the pandas rule for ``$gt``-style comparisons across kinds.

Field kinds: ``"number"``, ``"string"``, ``"boolean"``, ``"other"`` (lists, objects),
``"mixed"`` (several kinds) and ``"unknown"`` (only missing values so far).
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd

from vecnb._core.validation import positive_int  # noqa: F401 - the server stores import it from here
from vecnb.errors import FilterError, InvalidInputError
from vecnb._core.filters import encode_frame
from vecnb._core.html import kv_table

__all__ = ["redact_url", "value_kind", "field_kind", "merge_kinds", "metadata_rows", "check_ordering",
           "positive_int", "html_table"]


def redact_url(url: str | None) -> str:
    """``url`` (a URL, or a libpq ``key=value`` string) with any password replaced by ``***``.

    Examples
    --------
    >>> redact_url("postgresql://me:s3cret@db.example:5432/cisi")
    'postgresql://me:***@db.example:5432/cisi'
    >>> redact_url("host=db user=me password=s3cret")
    'host=db user=me password=***'
    """
    if not url:
        return ""
    s = str(url)
    if "://" in s:
        try:
            parts = urlsplit(s)
            netloc = parts.netloc
            if "@" in netloc:
                userinfo, _, hostpart = netloc.rpartition("@")
                if ":" in userinfo:
                    userinfo = userinfo.split(":", 1)[0] + ":***"
                netloc = f"{userinfo}@{hostpart}"
            query = re.sub(r"(?i)(^|&)((?:password|api_key|apikey)=)[^&]*", r"\1\2***", parts.query)
            return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        except ValueError:
            return re.sub(r"//[^@/]*@", "//***@", s)
    return re.sub(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", s)


def value_kind(value: Any) -> str:
    """Kind of a filter value (bool before int: ``True`` is an int in Python)."""
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def field_kind(col: pd.Series) -> str:
    """Kind of the values in one metadata column."""
    dt = col.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dt):
        return "number"
    typed_str = pd.api.types.is_string_dtype(dt) and not pd.api.types.is_object_dtype(dt)
    if pd.api.types.is_datetime64_any_dtype(dt) or typed_str:
        return "string"
    vals = col.dropna()
    if vals.empty:
        return "unknown"
    kinds = {"string" if isinstance(x, pd.Timestamp) else value_kind(x) for x in vals.tolist()}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def merge_kinds(old: str | None, new: str) -> str:
    """Kind of a field after more rows of kind ``new`` were written."""
    if old is None or old == "unknown" or old == new:
        return new
    if new == "unknown":
        return old
    return "mixed"


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (pd.Timestamp,)) or (hasattr(x, "isoformat") and not isinstance(x, str)):
        return x.isoformat()
    return x


def _missing(x: Any) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    if isinstance(x, (float, np.floating)):
        return not math.isfinite(x)
    return False


def metadata_rows(metadata: pd.DataFrame | None, n: int) -> tuple[list[dict | None] | None, dict[str, str]]:
    """One dict per row of ``metadata`` (in order, not aligned on the index).

    Missing values (None, NaN, NA, NaT) and non-finite floats are left out of the row's dict,
    so a server evaluates them as absent: they match no comparison, ``$ne`` / ``$nin``
    included (vecnb's rule). Values become plain Python scalars; date / datetime columns
    int nanoseconds since the epoch, UTC (:func:`vecnb.filters.encode_frame`), the form
    :func:`vecnb.filters.encode_node` gives filter values.

    Returns
    -------
    rows : list of (dict or None), length n, or None when there is no metadata
    kinds : dict
        Field name (``str``) -> kind of its values in these rows.
    """
    if metadata is None or metadata.shape[1] == 0:
        return None, {}
    if len(metadata) != n:
        raise InvalidInputError(f"metadata has {len(metadata)} rows for {n} ids.")
    metadata = encode_frame(metadata)
    cols = [str(c) for c in metadata.columns]
    if len(set(cols)) != len(cols):
        raise InvalidInputError(f"metadata has duplicate column names {cols}; rename them.")
    kinds = {name: field_kind(metadata.iloc[:, j]) for j, name in enumerate(cols)}
    values = []
    for j in range(metadata.shape[1]):
        col = metadata.iloc[:, j]
        vals = col.astype(object).tolist()
        if col.dtype == object or pd.api.types.is_datetime64_any_dtype(col.dtype):
            vals = [_plain(v) for v in vals]
        values.append(vals)
    rows: list[dict | None] = []
    for i in range(n):
        row = {c: vals[i] for c, vals in zip(cols, values) if not _missing(vals[i])}
        rows.append(row or None)
    return rows, kinds


def check_ordering(field: str, op: str, value: Any, kind: str | None) -> str:
    """Raise :class:`FilterError` for an ordering comparison pandas would refuse; return the value's kind.

    A field of one kind compared with a value of another (``{"year": {"$gt": "1990"}}``) is an
    error, as it is in pandas; fields of mixed or unknown kind are compared only where the
    kinds agree (the caller adds a type guard).
    """
    vkind = value_kind(value)
    if kind in ("number", "string", "boolean") and kind != vkind:
        raise FilterError(
            f"where: cannot compare field {field!r} (holds {kind} values) {op} {value!r} ({vkind}); "
            "compare numbers with numbers and text with text."
        )
    if kind == "other":
        raise FilterError(f"where: field {field!r} holds lists / objects; it cannot be compared with {op}.")
    return vkind




def html_table(caption: str, rows: list[tuple[str, Any]]) -> str:
    """A small two-column HTML table (escaped) for a store's ``_repr_html_``: :func:`vecnb._core.html.kv_table`."""
    return kv_table(caption, rows)
