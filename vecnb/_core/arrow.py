"""Embedding columns as Arrow ``fixed_size_list<float32>[d]``: build, read back zero-copy.

A column of this type stores all vectors in one contiguous float32 buffer, so
:func:`column_matrix` can hand back the (n, d) matrix as a read-only view of that buffer
(measured ~0.02 ms at 100k x 384) instead of ``np.stack`` over Python objects (~85 ms).

``pd.read_parquet`` cannot rebuild such a dtype from its string name (pandas raises
``NotImplementedError`` for parametrised Arrow types); :func:`install_parquet_support`
registers a tiny parser for exactly that name so a parquet round trip keeps the column.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa

from vecnb.errors import DimensionMismatchError, InvalidInputError, InvalidVectorError, TextColumnError

__all__ = ["vector_array", "column_matrix", "is_vector_dtype", "vector_dim", "install_parquet_support"]


def vector_array(x: np.ndarray) -> pd.arrays.ArrowExtensionArray:
    """Wrap an (n, d) float32 matrix as a ``fixed_size_list<float32>[d]`` pandas array (no copy)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    flat = pa.array(x.reshape(-1), type=pa.float32())
    return pd.arrays.ArrowExtensionArray(pa.FixedSizeListArray.from_arrays(flat, d))


def is_vector_dtype(dtype) -> bool:
    """True for an Arrow fixed-size list of floats."""
    return isinstance(dtype, pd.ArrowDtype) and pa.types.is_fixed_size_list(dtype.pyarrow_dtype) and \
        pa.types.is_floating(dtype.pyarrow_dtype.value_type)


def vector_dim(series: pd.Series) -> int | None:
    """Dimension of a vector column without reading its data (None if unknown)."""
    if is_vector_dtype(series.dtype):
        return series.dtype.pyarrow_dtype.list_size
    return None


def column_matrix(series: pd.Series, *, name: str | None = None) -> np.ndarray:
    """The (n, d) float32 matrix of a vector column.

    Zero copy (a read-only view) for a single-chunk ``fixed_size_list<float32>`` column
    without nulls; a copy for other layouts (several chunks, float64 items, a column of
    Python lists / arrays).

    Raises
    ------
    InvalidVectorError
        When some rows have no vector.
    DimensionMismatchError
        When a column of lists holds vectors of different lengths.
    """
    label = name if name is not None else series.name
    n = len(series)
    if is_vector_dtype(series.dtype):
        d = series.dtype.pyarrow_dtype.list_size
        chunked = series.array._pa_array
        if chunked.null_count:
            bad = np.flatnonzero(series.isna().to_numpy())
            raise InvalidVectorError(
                f"Column {label!r} has {len(bad)} rows without a vector (first at positions {bad[:5].tolist()}). "
                "Drop them (df.dropna(subset=[...])) or embed those rows."
            )
        arr = chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()
        if n == 0:
            return np.empty((0, d), np.float32)
        values = arr.values  # child array, honours the slice offset below
        start = arr.offset * d
        flat = values.slice(start, n * d)
        if flat.type != pa.float32():
            flat = flat.cast(pa.float32())
        if flat.null_count:
            raise InvalidVectorError(f"Column {label!r} has vectors with missing components.")
        X = flat.to_numpy(zero_copy_only=False).reshape(n, d)
        if chunked.num_chunks == 1 and values.type == pa.float32():  # a view of the column's own buffer
            from vecnb._core.metrics import note_owner

            note_owner(X, chunked)  # norms cached while the column lives (nothing pins it)
        return X
    values = series.to_numpy(dtype=object) if series.dtype == object else series.to_numpy()
    if n == 0:
        return np.empty((0, 0), np.float32)
    if values.dtype != object:
        raise InvalidInputError(
            f"Column {label!r} (dtype {series.dtype}) does not hold vectors. "
            "Use df.vec.embed(text_column) or df.vec.attach(X) to add an embedding column."
        )
    first = next((v for v in values if isinstance(v, (str, bytes))), None)
    if first is not None:
        raise TextColumnError(
            f"Column {label!r} holds text, not vectors. Pass the embedding column (column=...; "
            f"df.vec.embed({str(label)!r}) makes one from this text), or use df.vec.keyword(..., text={str(label)!r}) "
            "to search the text itself."
        )
    missing = [i for i, v in enumerate(values) if v is None or (isinstance(v, float) and np.isnan(v))]
    if missing:
        raise InvalidVectorError(
            f"Column {label!r} has {len(missing)} rows without a vector (first at positions {missing[:5]})."
        )
    try:
        lengths = {len(v) for v in values}
    except TypeError:
        raise InvalidInputError(f"Column {label!r} does not hold vectors (lists or arrays of numbers).") from None
    if len(lengths) > 1:
        raise DimensionMismatchError(
            f"Column {label!r} holds vectors of different lengths {sorted(lengths)[:5]}; all must have one dimension."
        )
    try:
        return np.asarray(np.stack([np.asarray(v, dtype=np.float32) for v in values]), dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"Column {label!r} does not hold numeric vectors: {exc}") from None


_PARQUET_NAME = re.compile(r"^fixed_size_list<(?:item|element): (float|double|halffloat)>\[(\d+)\]\[pyarrow\]$")


class _VectorDtypeParser(pd.api.extensions.ExtensionDtype):
    """Registered with pandas only to parse ``fixed_size_list<...>[d][pyarrow]`` names."""

    name = "vecnb_vector_parser"
    type = object

    @classmethod
    def construct_from_string(cls, string):  # noqa: D401 - pandas protocol
        if not isinstance(string, str):
            raise TypeError("not a string")
        m = _PARQUET_NAME.match(string)
        if not m:
            raise TypeError(f"not a vecnb vector dtype: {string!r}")
        item = {"float": pa.float32(), "double": pa.float64(), "halffloat": pa.float16()}[m.group(1)]
        return pd.ArrowDtype(pa.list_(item, int(m.group(2))))

    @classmethod
    def construct_array_type(cls):  # pragma: no cover - never instantiated
        raise NotImplementedError


_installed = False


def install_parquet_support() -> None:
    """Let ``pd.read_parquet`` rebuild fixed-size-list columns (idempotent)."""
    global _installed
    if _installed:
        return
    from pandas.core.dtypes.base import _registry

    if _VectorDtypeParser not in _registry.dtypes:
        _registry.dtypes.insert(0, _VectorDtypeParser)
    _installed = True
