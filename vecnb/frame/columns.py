"""What vecnb remembers about an embedding column, kept in ``df.attrs["vecnb"]``.

``df.attrs`` survives filtering, ``copy()``, ``take`` and a parquet round trip (pandas
writes it into the file's metadata), and stays small: one dict per embedding column::

    df.attrs["vecnb"] = {"columns": {"text_vec": {
        "model": {"name": "minilm"},        # embedder spec, enough to embed a query again
        "model_id": "minilm:...",           # exact model / weights identity
        "dim": 384, "source": "text", "normalized": True,
        "hashes": "<base64 of per-row content hashes>"   # optional, see vecnb.sync
    }}}

A frame that lost its attrs (e.g. built by hand) still works: any Arrow fixed-size-list
column is recognised as an embedding column, just without a model to embed text queries.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vecnb._core.arrow import column_matrix, is_vector_dtype
from vecnb._core.metrics import check_matrix
from vecnb.errors import ColumnNotFoundError, InvalidInputError, NoEmbeddingColumnError, TextColumnError
from vecnb.frame.layout import cached, column_values

__all__ = ["ATTR", "ColumnInfo", "get_info", "set_info", "embedding_columns", "checked_matrix", "resolve_column",
           "text_values"]

ATTR = "vecnb"

_FIELDS = ("model", "model_id", "dim", "source", "normalized", "hashes")


@dataclass
class ColumnInfo:
    """What vecnb knows about one embedding column: the model that made it, its width, its source.

    In ``df.attrs`` (and so in parquet files and saved indexes) it is stored as the plain dict
    drawn in the module docstring (:meth:`to_dict`); :meth:`from_dict` reads such a dict back,
    keeping keys it does not know (e.g. a Dask run's ``dask_run``) in ``extra``.

    Attributes
    ----------
    dim : int
        Vector width d.
    source : str or None
        The text column the vectors embed (``None`` for vectors brought by the user).
    model : dict or None
        The embedder's spec (``Embedder.spec()``), enough to embed a query again.
    model_id : str or None
        The exact model / weights identity.
    normalized : bool
        Whether the model makes unit-length vectors.
    hashes : dict or None
        Per-row content hashes (:mod:`vecnb.frame.hashing`), left out of the dict when None.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie"]}).vec.embed("text", model="hashing", progress=False)
    >>> info = ColumnInfo.from_dict(get_info(df, "text_vec"))
    >>> info.dim, info.source, info.model
    (512, 'text', {'name': 'hashing'})
    >>> ColumnInfo.from_dict(info.to_dict()) == info
    True
    """

    dim: int
    source: str | None = None
    model: dict[str, Any] | None = None
    model_id: str | None = None
    normalized: bool = False
    hashes: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_model(cls, emb: Any, dim: int, source: str | None, *, hashes: Any = None) -> ColumnInfo:
        """The info of a column ``emb`` (an :class:`vecnb.embed.Embedder`) made from ``source``.

        Examples
        --------
        >>> emb = vecnb.embed.get_embedder("hashing")
        >>> info = ColumnInfo.for_model(emb, emb.dim, "text")
        >>> info.model_id == emb.model_id, info.dim, info.source
        (True, 512, 'text')
        """
        return cls(dim=int(dim), source=source, hashes=hashes).with_model(emb)

    def with_model(self, emb: Any) -> ColumnInfo:
        """This info with ``emb``'s spec, id and normalisation (the width is checked by the caller).

        Examples
        --------
        >>> info = ColumnInfo.from_dict({"dim": 512, "source": "text"})
        >>> info.with_model(vecnb.embed.get_embedder("hashing")).model
        {'name': 'hashing'}
        """
        self.model, self.model_id = emb.spec(), emb.model_id
        self.normalized = bool(getattr(emb, "normalized", False))
        return self

    def to_dict(self) -> dict[str, Any]:
        """The dict kept in ``df.attrs`` (keys in the documented order, then ``extra``).

        Examples
        --------
        >>> info = ColumnInfo.from_dict({"dim": 3, "source": "text", "model": "mine"})
        >>> info.to_dict()
        {'model': 'mine', 'model_id': None, 'dim': 3, 'source': 'text', 'normalized': False}
        """
        out: dict[str, Any] = {"model": self.model, "model_id": self.model_id, "dim": int(self.dim),
                               "source": self.source, "normalized": bool(self.normalized)}
        if self.hashes is not None:
            out["hashes"] = self.hashes
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, info: dict[str, Any]) -> ColumnInfo:
        """Read back what :meth:`to_dict` (or an older vecnb) wrote.

        Examples
        --------
        >>> ColumnInfo.from_dict({"dim": 3, "source": "text", "my_note": "kept"}).extra
        {'my_note': 'kept'}
        """
        return cls(dim=int(info["dim"]), source=info.get("source"), model=info.get("model"),
                   model_id=info.get("model_id"), normalized=bool(info.get("normalized", False)),
                   hashes=info.get("hashes"), extra={k: v for k, v in info.items() if k not in _FIELDS})


def _columns(df: pd.DataFrame) -> dict:
    meta = df.attrs.get(ATTR)
    if not isinstance(meta, dict):
        return {}
    cols = meta.get("columns")
    return cols if isinstance(cols, dict) else {}


def get_info(df: pd.DataFrame, column: str) -> dict[str, Any]:
    """Metadata of ``column`` (an empty dict when vecnb knows nothing about it).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple pie"]}).vec.embed("text", model="hashing", progress=False)
    >>> get_info(df, "text_vec")["dim"], get_info(df, "text")
    (512, {})
    """
    return dict(_columns(df).get(column, {}))


def set_info(df: pd.DataFrame, column: str, info: ColumnInfo | dict[str, Any] | None) -> None:
    """Set (or with ``None`` drop) the metadata of ``column`` on ``df`` (a frame vecnb just made).

    The attrs dict is copied first so frames derived from the same parent never share it; a
    :class:`ColumnInfo` is stored as its plain dict (what parquet and saved indexes read back).

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple"]}).vec.attach(np.ones((1, 3)), name="v")
    >>> set_info(df, "v", {"dim": 3, "source": "text", "model": "my-model"})
    >>> get_info(df, "v")["model"]
    'my-model'
    >>> set_info(df, "v", None)
    >>> get_info(df, "v")
    {}
    """
    if isinstance(info, ColumnInfo):
        info = info.to_dict()
    meta = copy.deepcopy(df.attrs.get(ATTR)) if isinstance(df.attrs.get(ATTR), dict) else {}
    cols = dict(meta.get("columns", {}))
    if info is None:
        cols.pop(column, None)
    else:
        cols[column] = info
    meta["columns"] = cols
    df.attrs[ATTR] = meta


def embedding_columns(df: pd.DataFrame) -> list[str]:
    """Names of the columns that hold vectors, known ones first.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple"]}).vec.attach(np.ones((1, 3)), name="v")
    >>> embedding_columns(df)
    ['v']
    """
    cols = _columns(df)
    names = tuple(cols)
    # once per frame layout and recorded columns (a dtype scan and a lookup per name; the
    # recorded dict is compared by identity and names: vecnb replaces it, never edits it)
    hit = cached(df, "embedding_columns", lambda _mgr: [None])
    if hit[0] is not None and hit[0][0] is cols and hit[0][1] == names:
        return list(hit[0][2])
    known = [c for c in names if c in df.columns]
    vectors = cached(df, "vector_columns",  # a dtype scan, once per frame layout
                     lambda _mgr: tuple(c for c, dt in zip(df.columns, _dtypes(df)) if is_vector_dtype(dt)))
    out = known + [c for c in vectors if c not in known]
    hit[0] = (cols, names, tuple(out))
    return out


_MATRICES: dict[int, tuple] = {}  # id(Arrow column data) -> (weak reference to it, matrix view, metrics checked)
_MATRICES_LOCK = threading.Lock()


def checked_matrix(df: pd.DataFrame, column: str, metric: str) -> np.ndarray:
    """The (n, d) float32 matrix of embedding column ``column``, checked for ``metric``.

    Raises :class:`~vecnb.errors.InvalidVectorError` for NaN / inf rows, or zero rows under cosine
    (see :func:`vecnb._core.metrics.check_matrix`). A column vecnb made (one chunk of
    ``fixed_size_list<float32>``) is viewed and checked once per metric while its Arrow data
    lives: single queries over the same frame skip both. The entry is weak (it goes with the
    column's data) and holds only the zero-copy view.

    Examples
    --------
    >>> df = pd.DataFrame({"t": ["a", "b"]}).vec.attach(np.eye(2, 3), name="emb")
    >>> X = checked_matrix(df, "emb", "cosine")
    >>> X.shape, X is checked_matrix(df, "emb", "cosine")
    ((2, 3), True)
    >>> checked_matrix(pd.DataFrame({"t": ["a"]}).vec.attach(np.zeros((1, 3)), name="emb"), "emb", "cosine")
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidVectorError: 1 of 1 vectors in column 'emb' are all zeros (first at positions [0]); cosine similarity is undefined for them. Drop those rows, or use metric='dot' or 'l2'.
    """
    arr = column_values(df, column)
    chunked = getattr(arr, "_pa_array", None)  # Arrow data is immutable: its identity names the values
    if chunked is not None:
        hit = _MATRICES.get(id(chunked))
        if hit is not None and hit[0]() is chunked:
            if metric not in hit[2]:
                check_matrix(hit[1], metric, what=f"vectors in column {column!r}")
                hit[2].add(metric)
            return hit[1]
    series = df[column]
    X = column_matrix(series, name=column)
    check_matrix(X, metric, what=f"vectors in column {column!r}")
    if (chunked is not None and chunked is getattr(series.array, "_pa_array", None) and chunked.num_chunks == 1
            and is_vector_dtype(series.dtype) and str(series.dtype.pyarrow_dtype.value_type) == "float"):
        key = id(chunked)

        def forget(ref: Any, key: int = key) -> None:
            with _MATRICES_LOCK:
                if _MATRICES.get(key, (None,))[0] is ref:
                    del _MATRICES[key]

        with _MATRICES_LOCK:
            _MATRICES[key] = (weakref.ref(chunked, forget), X, {metric})
    return X


def _dtypes(df: pd.DataFrame) -> Any:
    """The column dtypes in order, without building ``df.dtypes`` (a Series: ~0.1-0.4 ms per
    call, paid on every single-query search)."""
    get = getattr(getattr(df, "_mgr", None), "get_dtypes", None)
    if get is not None:
        try:
            out = get()
            if len(out) == len(df.columns):
                return out
        except Exception:  # noqa: BLE001 - a pandas without this internal: the public way
            pass
    return df.dtypes.to_numpy()


def resolve_column(df: pd.DataFrame, column: str | None) -> str:
    """The embedding column to use: ``column`` if given, else the only one there is.

    Raises
    ------
    ColumnNotFoundError
        ``column`` is not in the frame.
    NoEmbeddingColumnError
        The frame has no embedding column.
    InvalidInputError
        Several embedding columns and no ``column=`` to choose.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple"]}).vec.attach(np.ones((1, 3)), name="v")
    >>> resolve_column(df, None)
    'v'
    >>> resolve_column(df.vec.attach(np.ones((1, 2)), name="w"), None)
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: This DataFrame has several embedding columns ['v', 'w']; pass ...
    """
    if column is not None:
        if column not in df.columns:
            raise ColumnNotFoundError(
                f"Column {column!r} is not in the DataFrame. Columns: {list(df.columns)[:20]}. "
                f"Embedding columns: {embedding_columns(df) or 'none'}."
            )
        return column
    cols = embedding_columns(df)
    if not cols:
        raise NoEmbeddingColumnError(
            "This DataFrame has no embedding column. Create one with df.vec.embed('text_column') "
            "or bring your own vectors with df.vec.attach(X, name='emb')."
        )
    if len(cols) > 1:
        raise InvalidInputError(f"This DataFrame has several embedding columns {cols}; pass column=... to choose one.")
    return cols[0]


def text_values(df: pd.DataFrame, column: str, *, missing: str = "raise") -> list[str]:
    """The strings of a text column, validated.

    Parameters
    ----------
    missing : {"raise", "empty"}
        What to do with missing values (None / NaN): raise, or treat them as "".

    Raises
    ------
    ColumnNotFoundError, TextColumnError

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", None]})
    >>> text_values(df, "text", missing="empty")
    ['red apple', '']
    >>> text_values(df, "text")
    Traceback (most recent call last):
    ...
    vecnb.errors.TextColumnError: Text column 'text' has 1 missing values (first at rows [1]). Drop ...
    """
    if column not in df.columns:
        raise ColumnNotFoundError(
            f"Text column {column!r} is not in the DataFrame. Columns: {list(df.columns)[:20]}."
        )
    if missing not in ("raise", "empty"):
        raise InvalidInputError(f"missing must be 'raise' or 'empty', got {missing!r}.")
    col = df[column]
    if is_vector_dtype(col.dtype):
        raise TextColumnError(f"Column {column!r} holds vectors, not text; pass the text column it was made from.")
    values = col.tolist()
    is_na = col.isna().to_numpy()
    if is_na.any():
        if missing == "raise":
            bad = np.flatnonzero(is_na)
            raise TextColumnError(
                f"Text column {column!r} has {len(bad)} missing values (first at rows "
                f"{[col.index[i] for i in bad[:5]]}). Drop them (df.dropna(subset=[{column!r}])), "
                f"fill them (df.fillna({{{column!r}: ''}})), or pass missing='empty'."
            )
        values = ["" if m else v for v, m in zip(values, is_na)]
    bad_type = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if bad_type:
        kinds = sorted({type(values[i]).__name__ for i in bad_type})
        raise TextColumnError(
            f"Text column {column!r} holds {len(bad_type)} non-text values of type {', '.join(kinds)} "
            f"(first at rows {[col.index[i] for i in bad_type[:5]]}). Convert them first, e.g. "
            f"df.assign({column}=df[{column!r}].astype(str))."
        )
    return values
