"""PostgreSQL + pgvector store, through psycopg 3.

One table per store::

    id        bigint PRIMARY KEY                  the vecnb key
    embedding vector(d) | halfvec(d) NOT NULL
    metadata  jsonb                               one object per row; missing values are left out
    text      text                                for keyword search
    tsv       tsvector GENERATED ALWAYS AS (to_tsvector(<text_config>, coalesce(text, ''))) STORED

with a GIN index on ``tsv`` (keyword side of hybrid search) and a GIN ``jsonb_path_ops``
index on ``metadata`` (``$eq`` filters compile to ``metadata @> {...}``, which it serves). The
table comment holds a small JSON record (vecnb format, dimension, metric, filterable fields and
their kinds), so an ordering comparison of a number field with a string raises
:class:`~vecnb.errors.FilterError` like pandas; a field no row has matches nothing.

Index kinds
-----------
``exact``    sequential scan, ``ORDER BY distance, id`` (index scans disabled): same ids and
             scores as the numpy store.
``hnsw``     ``m``, ``ef_construction``; ``hnsw.ef_search`` set per query (``SET LOCAL``
             through ``set_config(..., true)``), raised to ``k`` when ``k`` is larger (max 1000).
``ivfflat``  ``lists`` (default rows/1000, at least 1; sqrt(rows) above 1M), ``probes``
             (default sqrt(lists)).
``auto``     ``exact`` below 10,000 rows, else ``hnsw`` (decided at the first search).

ANN indexes are built lazily -- at the first search after rows exist, or by
:meth:`PgVectorStore.build_index` -- because pgvector builds them much faster over existing
rows than row by row, and IVFFlat needs data to train its lists. Later upserts update them.

Filtered ANN queries use pgvector 0.8 *iterative index scans* (``hnsw.iterative_scan =
relaxed_order`` by default, or ``strict_order``; ``ivfflat.iterative_scan = relaxed_order``):
the index keeps producing candidates until ``k`` rows pass the filter. Rows come back from a
``MATERIALIZED`` CTE re-sorted by exact distance (relaxed order may be slightly out of order).
If an index scan still yields fewer than ``k`` rows (a very selective filter exceeding
``hnsw.max_scan_tuples``, or a tiny table), the query is re-run as an exact filtered scan,
so a selective filter never returns fewer than ``k`` rows when ``k`` rows match.

When the planner estimates that a filter keeps under ``filter_exact_below`` (2%) of the rows,
the search skips the index and runs the exact filtered scan: there the iterative scan walks
most of the graph and is both slower and less accurate (measured at 100k x 384, 1% filter:
150 ms at recall 0.75 vs 120 ms exact). vecnb creates expression statistics on each metadata
field (``CREATE STATISTICS ... ON ((metadata -> 'field'))``) so these estimates reflect the data;
the ANN index build runs ``ANALYZE`` (later, autovacuum keeps the statistics current).

The exact scan is also chosen when the planner estimates that at most ``filter_exact_rows``
(25,000) rows match: an HNSW walk that finds a filtered top-k to recall 0.95 there costs as much
as the exact scan. Measured at 100k x 384 (clustered, held-out queries), a 20% filter (~20k rows):
recall@10 0.84 at the default ef (40, widened to 90 for the filter), 0.86 at ef 200, 0.90 at
ef 400 (both iterative orders), 0.98 at ef 1000 at about the exact scan's latency; exact 1.00.
Above that many matching rows the index is used with the widened beam; raise ``ef_search`` or
``filter_exact_rows`` to trade latency for recall.

Scores are mapped exactly from pgvector's operators: ``<=>`` cosine distance ``d`` -> ``1 - d``;
``<#>`` negative inner product -> ``-d``; ``<->`` Euclidean distance -> ``-d``. pgvector
accumulates in float32, so scores agree with numpy's float64 to ~1e-6 relative; with
``halfvec=True`` vectors are stored at half precision (scores to ~1e-3).

Ingest
------
``upsert`` writes rows with binary ``COPY`` (the COPY stream -- pgvector's binary vector
format, jsonb, text -- is assembled with numpy, no per-value adaptation): straight into the
table when it is empty, else into a temporary staging table followed by ``INSERT ... SELECT
... ON CONFLICT (id) DO UPDATE``. ``ingest="insert"`` uses ``executemany`` instead (for
comparison). Everything one call writes happens in one transaction; DDL too, so a failure never
leaves a half-created table.

Several writers at once (``ddf.vec.to_store``): :meth:`PgVectorStore.bulk_begin` drops the two
GIN indexes of an empty table once; each writer's :meth:`PgVectorStore.load_block` deletes its
own key block and COPYs its rows straight into the table, in one transaction (a retried or
resumed block replaces its earlier attempt: never a duplicate); :meth:`PgVectorStore.build`
(or :meth:`PgVectorStore.bulk_end`) builds the GIN indexes once over all rows.

Safety
------
No value and no name is pasted into SQL text: values are bound parameters; table, schema and
index names go through :class:`psycopg.sql.Identifier`; the few DDL constants that cannot be
parameters (index options, the text-search configuration, the table comment) through
:class:`psycopg.sql.Literal`. Metadata field names are bound parameters too (``metadata ->
%s``), so any string is a valid field name. Passwords never appear in errors, logs or reprs:
URLs are shown redacted and messages scrubbed.

Bring your own PostgreSQL: any PostgreSQL >= 13 with pgvector >= 0.8 (0.7 works without
iterative scans); a superuser runs ``CREATE EXTENSION vector;`` once per database, then the
store's user needs ``CREATE`` on the schema (or an existing table it owns).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import re
import threading
import time
from contextlib import contextmanager
from typing import Any, ClassVar, Iterable, Iterator
from urllib.parse import quote

import numpy as np
import pandas as pd

try:
    import psycopg
    from psycopg import sql
    from psycopg.adapt import Dumper
    from psycopg.copy import QueuedLibpqWriter
    from psycopg.pq import Format, TransactionStatus
    from psycopg.types.json import Jsonb
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    from vecnb.errors import MissingDependencyError

    raise MissingDependencyError.for_extra("The 'pgvector' store", "pgvector", _exc.name) from _exc

from vecnb.errors import (
    DimensionMismatchError,
    InvalidInputError,
    StoreConnectionError,
    StoreError,
    VecnbError,
)
from vecnb._core.filters import ORDERING, And, Cmp, Node, Or, encode_node, equal_forms, parse
from vecnb._core.metrics import scores_from_distances
from vecnb._core.progress import progress_bar
from vecnb.stores._server import (
    check_ordering,
    field_kind,
    html_table,
    merge_kinds,
    metadata_rows,
    positive_int,
    redact_url,
)
from vecnb._core.redaction import scrub
from vecnb.stores.base import BaseStore, pad_results, records_frame

__all__ = ["PgVectorStore", "redact_url", "compile_where"]

AUTO_EXACT_BELOW = 10_000
FORMAT_VERSION = 1
_OPS = {"cosine": "<=>", "dot": "<#>", "l2": "<->"}
_OPCLASS = {"cosine": "cosine_ops", "dot": "ip_ops", "l2": "l2_ops"}
_ITERATIVE = ("relaxed_order", "strict_order", "off")
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_COPY_TRAILER = b"\xff\xff"
_COPY_CHUNK = 8 << 20
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # a JSON-escaped NUL (not an escaped backslash + "u0000")


#: what to do next, by SQLSTATE (5 characters) or class (2); the connection still works for these
_SQLSTATE_HINTS = {
    "54001": ". The query is too complex for the server (a very long keyword query or filter); shorten it.",
    "54": ". A PostgreSQL limit was exceeded; make the query or the rows smaller.",
    "53": ". The server is out of resources (memory, disk or connections); retry later or free some.",
    "57014": ". The statement was canceled (a statement_timeout or a cancel request).",
    "22": ". A value was rejected by PostgreSQL; check the data / filter values.",
    "42": ". Check that the table was made by vecnb (open_index / mode=) and its schema is intact.",
}
_MAX_QUERY_WORDS = 256  # a tsquery past a few thousand terms exceeds PostgreSQL's stack depth


# --------------------------------------------------------------------------- redaction
def _password_of(conninfo: str | None) -> str | None:
    if not conninfo:
        return None
    try:
        return psycopg.conninfo.conninfo_to_dict(conninfo).get("password") or None
    except Exception:
        return None


# --------------------------------------------------------------------------- filters -> SQL
def compile_where(node: Node | None, fields: dict[str, str] | None = None) -> tuple[sql.Composable, dict]:
    """Compile a filter tree to a parameterised SQL condition over the ``metadata`` jsonb column.

    Parameters
    ----------
    node : filter tree from :func:`vecnb.filters.parse`, or None
    fields : dict, optional
        Known field -> kind (``"number"``, ``"string"``, ``"boolean"``, ``"mixed"``, ``"other"``).
        An ordering comparison across kinds (a number field ``$gt`` a string) raises
        :class:`FilterError`, as pandas does. A field no row has matches nothing (its
        ``metadata -> field`` is NULL), like a missing value.

    Returns
    -------
    condition : psycopg.sql.Composable
        SQL text with named placeholders only (``%(w0)s``, ``%(w1)s``, ...): field names and
        values are all bound parameters.
    params : dict
        Placeholder name -> bound value.

    Notes
    -----
    * ``$eq``  -> ``metadata @> {field: value}`` (served by the GIN ``jsonb_path_ops`` index);
    * ``$ne`` / ``$nin`` -> ``metadata -> field <> value`` / ``NOT (... = ANY(...))``; a missing
      field gives SQL NULL, so missing values match nothing (vecnb's rule);
    * ordering -> numbers compare as jsonb numerics, strings as text in byte order
      (``COLLATE "C"``, like pandas); a field of mixed / unknown kind gets a
      ``jsonb_typeof(...) = kind`` guard so a number never compares with a string.

    Examples
    --------
    >>> cond, params = compile_where(vecnb.filters.parse({"year": {"$gte": 1990}}))
    >>> params
    {'w0': 'year', 'w1': Jsonb(1990), 'w2': 'year', 'w3': 'number'}
    """
    if node is None:
        return sql.SQL("TRUE"), {}
    params: dict = {}
    return _compile(node, fields or {}, params), params


def _ph(params: dict, value: Any) -> sql.Placeholder:
    name = f"w{len(params)}"
    params[name] = value
    return sql.Placeholder(name)


def _compile(node: Node, fields: dict[str, str], params: dict) -> sql.Composable:
    if isinstance(node, (And, Or)):
        glue = sql.SQL(" AND " if isinstance(node, And) else " OR ")
        return sql.SQL("({})").format(glue.join([_compile(c, fields, params) for c in node.children]))
    assert isinstance(node, Cmp)
    f, op, v = node.field, node.op, node.value
    kind = fields.get(f)
    if "\x00" in f:  # no stored field has a NUL in its name (metadata with NUL is refused): missing
        return sql.SQL("FALSE")
    if op in ORDERING and isinstance(v, str) and "\x00" in v:
        op, v = _nul_ordering(op, v)
    if op in ("$eq", "$ne", "$in", "$nin"):
        return _compile_equality(f, op, v, params)
    # ordering
    vkind = check_ordering(f, op, v, kind)
    sym = sql.SQL({"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op])
    # a type guard only where the field holds several kinds: it hides the expression from the
    # planner's estimates (which then favour a sequential scan over the ANN index)
    if vkind == "string":
        cmp = sql.SQL("(metadata ->> {}) COLLATE \"C\" {} {}").format(_ph(params, f), sym, _ph(params, v))
    else:
        cmp = sql.SQL("(metadata -> {}) {} {}").format(_ph(params, f), sym, _ph(params, Jsonb(v)))
    if kind == vkind:
        return sql.SQL("({})").format(cmp)
    return sql.SQL("(jsonb_typeof(metadata -> {}) = {} AND {})").format(_ph(params, f), _ph(params, vkind), cmp)


def _storable(v: Any) -> bool:
    """Whether a stored value can equal ``v``: PostgreSQL text (and our metadata) never holds NUL."""
    return not (isinstance(v, str) and "\x00" in v)


def _compile_equality(f: str, op: str, v: Any, params: dict) -> sql.Composable:
    """``$eq`` / ``$ne`` / ``$in`` / ``$nin``: ``True`` equals 1 and ``False`` 0 (pandas' rule);
    values no row can hold (strings with NUL) match nothing."""
    vals = v if isinstance(v, tuple) else (v,)
    forms = list(dict.fromkeys((type(x).__name__, x) for v1 in vals if _storable(v1) for x in equal_forms(v1)))
    forms = [x for _, x in forms]
    if op == "$eq" and forms:  # containment is served by the GIN jsonb_path_ops index
        return sql.SQL("({})").format(sql.SQL(" OR ").join(
            sql.SQL("metadata @> {}").format(_ph(params, Jsonb({f: x}))) for x in forms))
    if op in ("$eq", "$in"):
        if not forms:
            return sql.SQL("FALSE")
        return sql.SQL("((metadata -> {}) = ANY({}::jsonb[]))").format(_ph(params, f),
                                                                        _ph(params, [Jsonb(x) for x in forms]))
    if not forms:  # "not equal to a value no row holds": every row that has the field
        return sql.SQL("((metadata -> {}) IS NOT NULL AND jsonb_typeof(metadata -> {}) <> 'null')").format(
            _ph(params, f), _ph(params, f))
    return sql.SQL("((metadata -> {}) <> ALL({}::jsonb[]))").format(_ph(params, f),
                                                                     _ph(params, [Jsonb(x) for x in forms]))


def _nul_ordering(op: str, v: str) -> tuple[str, str]:
    """An ordering against a string holding NUL, as the same ordering against its part before the NUL.

    Stored strings never hold NUL, so for ``v = p + "\\x00" + rest``: ``t > v`` iff ``t > p`` and
    ``t < v`` iff ``t <= p`` (code-point order, as in Python and ``COLLATE "C"``).
    """
    p = v.split("\x00", 1)[0]
    return ("$gt" if op in ("$gt", "$gte") else "$lte"), p


def _tsquery_text(text: str, mode: str) -> str:
    """The text handed to ``websearch_to_tsquery`` for one keyword query.

    NUL bytes are dropped; ``any`` / ``all`` keep each distinct word once (case-insensitively)
    and at most :data:`_MAX_QUERY_WORDS` of them (the first ones): a 100k-character query
    otherwise builds a tsquery deep enough to exceed the server's stack depth. ``websearch``
    text is cut after its first ``_MAX_QUERY_WORDS`` words.
    """
    text = text.replace("\x00", "")
    if mode == "websearch":
        cut = None
        for i, m in enumerate(re.finditer(r"\w+", text)):
            if i == _MAX_QUERY_WORDS:
                cut = m.start()
                break
        return text if cut is None else text[:cut]
    words = list({w.lower(): w for w in re.findall(r"\w+", text) if w.lower() != "or"}.values())[:_MAX_QUERY_WORDS]
    return " or ".join(words) if mode == "any" else " ".join(words)


# --------------------------------------------------------------------------- metadata -> jsonb
def _column_fragments(col: pd.Series, key: str) -> list[str] | None:
    """``"key":value`` JSON text per row of one column ("" where missing), built column-wise.

    Covers the common column types (numpy ints / floats / bools, text); None for anything
    else (the caller then encodes row by row).
    """
    dt = col.dtype
    if pd.api.types.is_bool_dtype(dt) and dt == np.bool_:
        return [key + ("true" if v else "false") for v in col.to_numpy().tolist()]
    if pd.api.types.is_integer_dtype(dt) and isinstance(dt, np.dtype):
        return [key + str(v) for v in col.to_numpy().tolist()]
    if pd.api.types.is_float_dtype(dt) and isinstance(dt, np.dtype):
        v = col.to_numpy()
        ok = np.isfinite(v).tolist()
        return [key + repr(x) if good else "" for x, good in zip(v.tolist(), ok)]
    if pd.api.types.is_string_dtype(dt):
        vals = col.tolist()
        if not all(v is None or isinstance(v, str) or (isinstance(v, float) and v != v) for v in vals):
            return None  # an object column of mixed values: the row-by-row path
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        return [key + dumps(v) if isinstance(v, str) else "" for v in vals]
    return None


def _metadata_json_fast(metadata: pd.DataFrame, n: int) -> list[bytes | None] | None:
    """Rows as compact JSON bytes, built column by column (~10x faster than a dict + encoder per row)."""
    parts = []
    for j, name in enumerate(metadata.columns):
        frags = _column_fragments(metadata.iloc[:, j], json.dumps(str(name), ensure_ascii=False) + ":")
        if frags is None:
            return None
        parts.append(frags)
    out: list[bytes | None] = []
    for row in zip(*parts):
        body = ",".join(f for f in row if f)
        out.append(("{" + body + "}").encode("utf-8") if body else None)
    return out


def _metadata_json(metadata: pd.DataFrame | None, n: int) -> tuple[list[bytes | None] | None, dict[str, str]]:
    """Encode each row as compact JSON bytes (missing / NaN / inf values left out)."""
    if metadata is not None and metadata.shape[1] and len(metadata) == n \
            and len({str(c) for c in metadata.columns}) == metadata.shape[1]:
        fast = _metadata_json_fast(metadata, n)
        if fast is not None:
            kinds = {str(c): field_kind(metadata.iloc[:, j]) for j, c in enumerate(metadata.columns)}
            for i, row in enumerate(fast):
                if row is not None and b"\\u0000" in row and _NUL_ESCAPE.search(row):
                    raise InvalidInputError(
                        f"metadata row {i} holds a string with a NUL character (\\x00), which PostgreSQL cannot "
                        "store; remove it (e.g. df[col].str.replace('\\x00', ''))."
                    )
            return fast, kinds
    rows, kinds = metadata_rows(metadata, n)
    if rows is None:
        return None, kinds
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False).encode
    out: list[bytes | None] = []
    for i, row in enumerate(rows):
        out.append(None if row is None else dumps(row).encode("utf-8"))
        if row is not None and b"\\u0000" in out[-1] and _NUL_ESCAPE.search(out[-1]):
            raise InvalidInputError(
                f"metadata row {i} holds a string with a NUL character (\\x00), which PostgreSQL cannot store; "
                "remove it (e.g. df[col].str.replace('\\x00', ''))."
            )
    return out, kinds


# --------------------------------------------------------------------------- binary COPY
_NULL_FIELD = b"\xff\xff\xff\xff"


def _meta_fields(meta: list[bytes | None] | None, start: int, stop: int) -> Iterable[bytes]:
    """Binary COPY fields (length, jsonb version 1, JSON) for rows [start, stop); NULL for None."""
    if meta is None:
        return itertools.repeat(_NULL_FIELD, stop - start)
    return [_NULL_FIELD if m is None else (len(m) + 1).to_bytes(4, "big") + b"\x01" + m for m in meta[start:stop]]


def _text_fields(texts: list[str | None] | None, start: int, stop: int) -> Iterable[bytes]:
    """Binary COPY fields (length, UTF-8) for rows [start, stop); NULL for None."""
    if texts is None:
        return itertools.repeat(_NULL_FIELD, stop - start)
    enc = [None if t is None else t.encode("utf-8") for t in texts[start:stop]]
    return [_NULL_FIELD if b is None else len(b).to_bytes(4, "big") + b for b in enc]


def _copy_payload(ids: np.ndarray, vecs: np.ndarray, meta: list[bytes | None] | None,
                  texts: list[str | None] | None, half: bool) -> Iterator[tuple[bytes, int]]:
    """Binary COPY stream for (id int8, embedding vector|halfvec, metadata jsonb, text text).

    Yields ``(chunk, rows_in_chunk)``; the fixed-width part of every row is built with one
    numpy structured array (pgvector's binary format: int16 dim, int16 unused, big-endian
    float32 / float16 values).
    """
    n, d = vecs.shape
    esize = 2 if half else 4
    fields = [("nf", ">i2"), ("idlen", ">i4"), ("id", ">i8"), ("vlen", ">i4"), ("dim", ">i2"), ("unused", ">i2"),
              ("vec", ">f2" if half else ">f4", (d,))]
    simple = meta is None and texts is None
    if simple:
        fields += [("mlen", ">i4"), ("tlen", ">i4")]
    dt = np.dtype(fields)
    rows_per_chunk = max(1, _COPY_CHUNK // dt.itemsize)
    yield _COPY_HEADER, 0
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        rec = np.empty(stop - start, dtype=dt)
        rec["nf"] = 4
        rec["idlen"] = 8
        rec["id"] = ids[start:stop]
        rec["vlen"] = 4 + esize * d
        rec["dim"] = d
        rec["unused"] = 0
        rec["vec"] = vecs[start:stop]
        if simple:
            rec["mlen"] = -1
            rec["tlen"] = -1
            yield rec.tobytes(), stop - start
            continue
        raw = rec.tobytes()
        size = dt.itemsize
        fixed = [raw[i:i + size] for i in range(0, (stop - start) * size, size)]
        # one C-level join over (fixed, metadata, text) per row: no per-row appends
        yield b"".join(itertools.chain.from_iterable(zip(fixed, _meta_fields(meta, start, stop),
                                                         _text_fields(texts, start, stop)))), stop - start
    yield _COPY_TRAILER, 0


class _Vec:
    """A query / row vector bound as a parameter in pgvector's binary format."""

    __slots__ = ("v",)

    def __init__(self, v: np.ndarray):
        self.v = v


def _dumper_for(oid: int) -> type:
    class _VecDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: _Vec) -> bytes:
            v = obj.v
            return len(v).to_bytes(2, "big") + b"\x00\x00" + np.asarray(v, dtype=">f4").tobytes()

    _VecDumper.oid = oid
    return _VecDumper


def _short_hash(*parts: Any) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=4).hexdigest()


class _Op:
    """The context of one store operation: a psycopg error leaving it is raised as the vecnb error
    :meth:`PgVectorStore._classify` makes of it (a class, not a generator context manager: ~1 us
    instead of ~6 on every search)."""

    __slots__ = ("store", "operation")

    def __init__(self, store: PgVectorStore, operation: str):
        self.store, self.operation = store, operation

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None and isinstance(exc, psycopg.Error) and not isinstance(exc, VecnbError):
            raise self.store._classify(exc, self.operation) from None
        return False


# --------------------------------------------------------------------------- the store
class PgVectorStore(BaseStore):
    """Vectors, metadata and text in one PostgreSQL table, searched with pgvector.

    Parameters
    ----------
    dim : int
        Vector dimension (the table's ``vector(dim)``).
    metric : {"cosine", "dot", "l2"}
    kind : {"auto", "exact", "hnsw", "ivfflat"}
        See the module docstring; ANN indexes are built at the first search (or
        :meth:`build_index`).
    url : str, optional
        libpq URL or ``key=value`` conninfo. Defaults to ``$VECNB_PG_URL``.
    connection : psycopg.Connection, optional
        Use this connection instead (not closed by :meth:`close`). Prefer autocommit mode:
        every operation runs in its own ``conn.transaction()`` block.
    table : str
        Table name (any string: it is quoted as an identifier). An existing vecnb table is
        reused when its dimension matches.
    schema : str, optional
        Schema of the table (default: the connection's ``current_schema()``).
    m, ef_construction : int
        HNSW build parameters (pgvector defaults 16, 64).
    ef_search : int
        HNSW candidate list size per query (raised to ``k`` when smaller, max 1000).
    lists, probes : int, optional
        IVFFlat lists (default rows/1000, >= 1) and probes per query (default sqrt(lists)).
    halfvec : bool
        Store ``halfvec(dim)`` (2 bytes per value; up to 4,000 dimensions for indexes).
    iterative_scan : {"relaxed_order", "strict_order", "off"}
        pgvector 0.8 iterative index scans for ANN queries (IVFFlat only has relaxed order).
    max_scan_tuples : int, optional
        ``hnsw.max_scan_tuples`` (pgvector default 20,000) / ``ivfflat.max_probes`` for
        iterative scans.
    text_config : str
        Text-search configuration of the generated ``tsvector`` (e.g. ``"english"``, ``"simple"``).
    connect_timeout : float
        Seconds before an unreachable server raises :class:`StoreConnectionError`.
    maintenance_work_mem : str, optional
        Set for index builds (e.g. ``"1GB"``): an HNSW graph that does not fit builds much slower.
    recreate : bool
        Drop an existing table of that name first.
    ingest : {"copy", "insert"}
        Binary COPY (default) or ``executemany`` of INSERT ... ON CONFLICT (for comparison).
    progress : bool, optional
        tqdm progress bar for writes; default: on for writes of 50,000 rows or more.
    filter_exact_below : float
        A filtered search on an ANN index runs as an exact scan when PostgreSQL's planner
        estimates the filter keeps less than this fraction of the rows (default 2%): there the
        iterative index scan walks most of the graph, slower than the exact scan and with lower
        recall. The estimate comes from ``EXPLAIN`` (one round trip per search call), helped by
        expression statistics vecnb creates on each metadata field. ``0`` disables.
    filter_exact_rows : int
        Also scan exactly when the planner estimates at most this many rows match the filter
        (default 25,000; see the module docstring for the measurements). ``0`` disables.

    Examples
    --------
    >>> store = PgVectorStore(dim=384, url="postgresql://me@localhost/db", kind="hnsw")  # doctest: +SKIP
    >>> store.upsert(ids, X, metadata=meta, texts=texts)                                  # doctest: +SKIP
    >>> keys, scores = store.search(Q, k=10, where=parse({"year": {"$gte": 1990}}))       # doctest: +SKIP
    """

    name: ClassVar[str] = "pgvector"
    capabilities: ClassVar[frozenset[str]] = frozenset({"build", "bulk_load", "fetch", "home", "info", "iter_ids",
                                                        "keyword", "metadata", "reference", "texts"})
    kinds: ClassVar[tuple[str, ...]] = ("exact", "hnsw", "ivfflat")

    def __init__(self, dim: int, metric: str = "cosine", kind: str = "auto", *, url: str | None = None,
                 connection: Any = None, table: str = "vecnb_items", schema: str | None = None, m: int = 16,
                 ef_construction: int = 64, ef_search: int = 40, lists: int | None = None,
                 probes: int | None = None, halfvec: bool = False, iterative_scan: str = "relaxed_order",
                 max_scan_tuples: int | None = None, text_config: str = "english", connect_timeout: float = 5.0,
                 maintenance_work_mem: str | None = None, recreate: bool = False, ingest: str = "copy",
                 progress: bool | None = None, filter_exact_below: float = 0.02, filter_exact_rows: int = 25_000):
        super().__init__(dim=dim, metric=metric, kind=kind)
        if connection is None:
            url = url or os.environ.get("VECNB_PG_URL")
            if not url:
                raise InvalidInputError(
                    "PgVectorStore needs a database: pass url='postgresql://user:password@host:5432/db' "
                    "(or connection=a psycopg connection), or set VECNB_PG_URL. Or start a local server that keeps its "
                    "data: url = vecnb.servers.postgres(path=...).url."
                )
        if not isinstance(table, str) or not table:
            raise InvalidInputError(f"table must be a non-empty string, got {table!r}.")
        if len(table.encode()) > 63 or (schema is not None and len(str(schema).encode()) > 63):
            raise InvalidInputError(f"PostgreSQL names are at most 63 bytes; table {table!r} is longer.")
        if iterative_scan not in _ITERATIVE:
            raise InvalidInputError(f"iterative_scan must be one of {', '.join(_ITERATIVE)}, got {iterative_scan!r}.")
        if isinstance(filter_exact_below, bool) or not 0 <= float(filter_exact_below) <= 1:
            raise InvalidInputError(f"filter_exact_below must be a fraction in [0, 1], got {filter_exact_below!r}.")
        if isinstance(filter_exact_rows, bool) or not isinstance(filter_exact_rows, (int, np.integer)) \
                or filter_exact_rows < 0:
            raise InvalidInputError(f"filter_exact_rows must be an integer >= 0, got {filter_exact_rows!r}.")
        if ingest not in ("copy", "insert"):
            raise InvalidInputError(f"ingest must be 'copy' or 'insert', got {ingest!r}.")
        for pname, val, lo in (("m", m, 2), ("ef_construction", ef_construction, 4), ("ef_search", ef_search, 1)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < lo:
                raise InvalidInputError(f"{pname} must be an integer >= {lo}, got {val!r}.")
        for pname, val in (("lists", lists), ("probes", probes), ("max_scan_tuples", max_scan_tuples)):
            if val is not None and (isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1):
                raise InvalidInputError(f"{pname} must be a positive integer, got {val!r}.")
        max_ann = 4000 if halfvec else 2000
        if kind in ("hnsw", "ivfflat") and self.dim > max_ann:
            raise InvalidInputError(
                f"pgvector indexes {('halfvec' if halfvec else 'vector')} columns of at most {max_ann} dimensions; "
                f"got {self.dim}. Use halfvec=True (up to 4000) or kind='exact'."
            )
        self.url = url
        self.table = table
        self.schema = schema
        self.m, self.ef_construction, self.ef_search = int(m), int(ef_construction), int(ef_search)
        self.lists, self.probes = lists, probes
        self.halfvec = bool(halfvec)
        self.iterative_scan = iterative_scan
        self.max_scan_tuples = max_scan_tuples
        self.text_config = text_config
        self.connect_timeout = float(connect_timeout)
        self.maintenance_work_mem = maintenance_work_mem
        self.recreate = bool(recreate)
        self.ingest = ingest
        self.progress = progress
        self._conn_obj = connection
        self._owns_conn = connection is None
        self._password = _password_of(url)
        self._ready = False
        self._fields: dict[str, str] = {}
        self._index_kind: str | None = None  # effective kind once decided
        self._index_name: str | None = None
        self._index_dirty = True
        self._vtype = "halfvec" if self.halfvec else "vector"
        self._server: dict[str, str] = {}
        self.last_build_seconds: float | None = None
        self._fallbacks = 0  # ANN queries re-run as exact scans (fewer than k rows from the index)
        self._planned_exact = 0  # filtered searches sent to the exact scan (selective filter)
        self.filter_exact_below = float(filter_exact_below)
        self.filter_exact_rows = int(filter_exact_rows)
        self._stats_fields: set[str] = set()
        self._session: dict[str, str] = {}  # search settings in force on our own connection (session level)
        self._session_conn: Any = None      # ... the connection they were set on
        self._session_lock = threading.Lock()  # settings + statement of one search stay together across threads
        self._sql_cache: dict[tuple, sql.Composed] = {}
        self._kept_cursor: Any = None  # the binary cursor single searches on our own connection run on
        self._watch = False   # searches also return the index record's last seq (an index holds a record here)
        self.home_seen: list[int | None] = []  # ... per query of the last search (None: it returned no row)

    # ------------------------------------------------------------------ helpers
    @property
    def _t(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table) if self.schema else sql.Identifier(self.table)

    def _scrub(self, msg: str) -> str:
        msg = scrub(msg, [self.url]) if self.url else str(msg)  # every form of the URL's password
        if self._password:
            for form in {self._password, quote(self._password, safe=""), quote(self._password)}:
                msg = msg.replace(form, "***")
        if self.url:
            msg = msg.replace(self.url, redact_url(self.url))
        return msg

    @property
    def where_url(self) -> str:
        """The server address with the password redacted."""
        if self.url:
            return redact_url(self.url)
        try:
            info = self._conn_obj.info
            return f"host={info.host} port={info.port} dbname={info.dbname} user={info.user}"
        except Exception:
            return "<connection>"

    def _op(self, operation: str) -> _Op:
        """``with self._op("search"):`` a driver error inside becomes a vecnb error (:meth:`_classify`)."""
        return _Op(self, operation)

    def _classify(self, exc: Exception, operation: str) -> StoreError:
        """A driver error as a vecnb error, by its SQLSTATE (not by the driver's exception class).

        Connection classes (``08xxx``; ``57P01-03``: the server shut down or is starting) and
        errors without a SQLSTATE from a broken connection -> :class:`StoreConnectionError`;
        everything else (``54001`` "stack depth limit exceeded", ``57014`` canceled, ...) is a
        :class:`StoreError` on a connection that still works.
        """
        state = getattr(exc, "sqlstate", None) or ""
        conn = self._conn_obj
        broken = conn is not None and (getattr(conn, "broken", False) or conn.closed)
        if state.startswith("08") or state in ("57P01", "57P02", "57P03") or (not state and broken):
            return StoreConnectionError(
                f"lost the connection to PostgreSQL at {self.where_url}: {self._scrub(exc)}. "
                "Check that the server is running, then create the store again.",
                store=self.name, operation=operation,
            )
        hint = _SQLSTATE_HINTS.get(state[:5]) or _SQLSTATE_HINTS.get(state[:2], "")
        code = f" [SQLSTATE {state}]" if state else ""
        return StoreError(
            f"PostgreSQL error on table {self.table!r}{code}: {self._scrub(exc).strip()}{hint}",
            store=self.name, operation=operation,
        )

    # ------------------------------------------------------------------ connection + schema
    def _connect(self) -> Any:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(2, math.ceil(self.connect_timeout)),
                                   application_name="vecnb")
        except psycopg.OperationalError as exc:
            msg = self._scrub(exc)
            hint = ("check the user name and password" if "password" in msg.lower() or "authentication" in msg.lower()
                    else "check that the server is running and reachable, and the host / port")
            raise StoreConnectionError(
                f"could not connect to PostgreSQL at {self.where_url} within {self.connect_timeout:.0f} s: "
                f"{msg.strip()}. ({hint}; or start a local one: vecnb.servers.postgres(path=...))",
                store=self.name, operation="connect",
            ) from None
        except psycopg.Error as exc:
            raise StoreConnectionError(
                f"invalid PostgreSQL connection string {self.where_url}: {self._scrub(exc)}",
                store=self.name, operation="connect",
            ) from None
        return conn

    def _conn(self) -> Any:
        self._check_open()
        if self._conn_obj is None:
            self._conn_obj = self._connect()
        if not self._ready:
            self._setup(self._conn_obj)
        return self._conn_obj

    def _ensure_extension(self, conn: Any) -> None:
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        if row is None:
            db = conn.info.dbname
            try:
                with conn.transaction():
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
                pass  # another connection created it at the same moment
            except psycopg.errors.InsufficientPrivilege:
                raise StoreError(
                    f"the pgvector extension is not enabled in database {db!r}, and user {conn.info.user!r} may "
                    f"not enable it. Ask a superuser (DBA) to run, connected to database {db!r}:  "
                    "CREATE EXTENSION IF NOT EXISTS vector;",
                    store=self.name, operation="setup",
                ) from None
            except (psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedObject):
                raise StoreError(
                    "pgvector is not installed on this PostgreSQL server. Install it "
                    "(https://github.com/pgvector/pgvector#installation, or the postgresql-NN-pgvector package), "
                    f"then have a superuser run in database {db!r}:  CREATE EXTENSION IF NOT EXISTS vector;",
                    store=self.name, operation="setup",
                ) from None
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        self._server["pgvector"] = row[0]
        self._server["postgres"] = conn.execute("SHOW server_version").fetchone()[0]

    def _setup(self, conn: Any) -> None:
        with self._op("setup"), conn.transaction():
            self._ensure_extension(conn)
            ver = tuple(int(x) for x in re.findall(r"\d+", self._server["pgvector"])[:2])
            self._iter_ok = ver >= (0, 8)
            if self.halfvec and ver < (0, 7):
                raise StoreError(f"halfvec needs pgvector >= 0.7; the server has {self._server['pgvector']}.",
                                 store=self.name, operation="setup")
            oid = conn.execute("SELECT 'vector'::regtype::oid").fetchone()[0]
            conn.adapters.register_dumper(_Vec, _dumper_for(oid))
            with conn.transaction():
                if self.recreate:
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._t))
                    self.recreate = False
                oid = self._table_oid(conn)
                if oid is None:
                    try:
                        with conn.transaction():  # a savepoint: another process may create it at the same moment
                            self._create_table(conn)
                    except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
                        self._adopt_table(conn, self._table_oid(conn))
                else:
                    self._adopt_table(conn, oid)
        self._ready = True

    def _table_oid(self, conn: Any) -> int | None:
        row = conn.execute(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND n.nspname = coalesce(%s, current_schema()) AND c.relkind IN ('r', 'p')",
            [self.table, self.schema],
        ).fetchone()
        return None if row is None else row[0]

    def _create_table(self, conn: Any) -> None:
        t = self._t
        conn.execute(sql.SQL(
            "CREATE TABLE {t} (id bigint PRIMARY KEY, embedding {vt}({d}) NOT NULL, metadata jsonb, text text, "
            "tsv tsvector GENERATED ALWAYS AS (to_tsvector({cfg}::regconfig, coalesce(text, ''))) STORED)"
        ).format(t=t, vt=sql.SQL(self._vtype), d=sql.Literal(self.dim), cfg=sql.Literal(self.text_config)))
        for stmt in self._gin_statements():
            conn.execute(stmt)
        self._write_comment(conn)

    def _gin_statements(self) -> list[sql.Composed]:
        """``CREATE INDEX IF NOT EXISTS`` for the table's two GIN indexes (keyword ``tsv``, ``metadata``)."""
        return [sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin ({})").format(self._ix(what), self._t, sql.SQL(on))
                for what, on in (("tsv", "tsv"), ("meta", "metadata jsonb_path_ops"))]

    def _ix(self, what: str) -> sql.Identifier:
        return sql.Identifier(self._ix_name(what))

    def _ix_name(self, what: str, table: str | None = None) -> str:
        table = self.table if table is None else table
        base = table.encode()[:40].decode(errors="ignore")
        return f"{base}_{what}_{_short_hash(self.schema, table, what)}"

    def _q(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name) if self.schema else sql.Identifier(name)

    def settings(self) -> dict[str, Any]:
        """The store's settings (never the URL or password): what a reopened store is created with."""
        return {"kind": self.kind, "m": self.m, "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                "lists": self.lists, "probes": self.probes, "halfvec": self.halfvec,
                "iterative_scan": self.iterative_scan, "max_scan_tuples": self.max_scan_tuples,
                "text_config": self.text_config, "filter_exact_below": self.filter_exact_below,
                "filter_exact_rows": self.filter_exact_rows}

    def _write_comment(self, conn: Any) -> None:
        doc = {"vecnb": FORMAT_VERSION, "dim": self.dim, "metric": self.metric, "type": self._vtype,
               "text_config": self.text_config, "fields": self._fields, "config": self.settings()}
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(self._t, sql.Literal(json.dumps(doc))))

    def _adopt_table(self, conn: Any, oid: int) -> None:
        cols = dict(conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped", [oid]).fetchall())
        comment = conn.execute("SELECT obj_description(%s, 'pg_class')", [oid]).fetchone()[0]
        try:
            doc = json.loads(comment) if comment else None
        except ValueError:
            doc = None
        emb = cols.get("embedding", "")
        m = re.fullmatch(r"(vector|halfvec)\((\d+)\)", emb)
        if not isinstance(doc, dict) or "vecnb" not in doc or m is None or "id" not in cols or "metadata" not in cols:
            raise StoreError(
                f"table {self.table!r} already exists but was not created by vecnb (columns: {', '.join(cols)}). "
                "Pass another table= name, or recreate=True to drop and rebuild it.",
                store=self.name, operation="setup",
            )
        if int(m.group(2)) != self.dim:
            raise DimensionMismatchError(
                f"table {self.table!r} holds {m.group(2)}-d vectors but this store was asked for {self.dim}-d. "
                "Use another table= name, recreate=True to replace the table, or embed with the model the "
                "table was built with."
            )
        if m.group(1) != self._vtype:
            raise InvalidInputError(
                f"table {self.table!r} stores {m.group(1)} vectors; pass halfvec={m.group(1) == 'halfvec'} "
                "or use another table= name."
            )
        self._fields = dict(doc.get("fields") or {})
        self.text_config = doc.get("text_config", self.text_config)

    def _register_fields(self, conn: Any, kinds: dict[str, str]) -> None:
        merged = dict(self._fields)
        for f, k in kinds.items():
            merged[f] = merge_kinds(merged.get(f), k)
        if merged != self._fields:
            # merge with what another writer may have recorded since we read it (the lock -- the one
            # COMMENT takes anyway -- makes concurrent writers' read-merge-writes queue, not overwrite)
            conn.execute(sql.SQL("LOCK TABLE {} IN SHARE UPDATE EXCLUSIVE MODE").format(self._t))
            oid = self._table_oid(conn)
            comment = conn.execute("SELECT obj_description(%s, 'pg_class')", [oid]).fetchone()[0]
            try:
                theirs = (json.loads(comment) or {}).get("fields") or {}
            except (ValueError, AttributeError):
                theirs = {}
            for f, k in theirs.items():
                merged[f] = merge_kinds(k, merged[f]) if f in merged else k
            self._fields = merged
            self._write_comment(conn)
        self._ensure_stats(conn)

    def _ensure_stats(self, conn: Any) -> None:
        """Expression statistics on ``metadata -> field`` per field (PostgreSQL 14+), so the planner
        estimates filter selectivity from the data instead of fixed guesses."""
        if int(conn.info.server_version) < 140000:
            return
        wanted = [f for f in list(self._fields)[:64] if f not in self._stats_fields]
        if not wanted:
            return
        # CREATE STATISTICS takes a lock that queues other writers' transactions: skip the ones there
        there = {r[0] for r in conn.execute(
            "SELECT stxname FROM pg_statistic_ext WHERE stxrelid = %s", [self._table_oid(conn)]).fetchall()}
        for f in wanted:
            if self._ix_name(f"st_{_short_hash(f)}") in there:
                self._stats_fields.add(f)
                continue
            try:
                with conn.transaction():  # a savepoint: a role that does not own the table just skips this
                    conn.execute(sql.SQL("CREATE STATISTICS IF NOT EXISTS {} ON ((metadata -> {})) FROM {}").format(
                        sql.Identifier(*([self.schema] if self.schema else []), self._ix_name(f"st_{_short_hash(f)}")),
                        sql.Literal(f), self._t))
            except psycopg.errors.InsufficientPrivilege:
                pass
            self._stats_fields.add(f)

    # ------------------------------------------------------------------ writes
    def upsert(self, ids: Any, vectors: Any, metadata: pd.DataFrame | None = None,
               texts: list[str] | None = None) -> None:
        """Insert or replace rows (one transaction).

        Parameters
        ----------
        ids : array-like of int, shape (n,)
        vectors : array-like, shape (n, dim)
        metadata : DataFrame with n rows, optional
            Rows are taken in order (not aligned on the index). Missing values are left out
            of the row's jsonb object, so they match no filter.
        texts : list of str or None, length n, optional
            Text for keyword search.
        """
        ids, vecs, meta, kinds, texts = self._write_input(ids, vectors, metadata, texts)
        if len(ids) == 0:
            return
        conn = self._conn()
        show = self.progress if self.progress is not None else len(ids) >= 50_000
        with self._op("upsert"):
            with conn.transaction():
                self._register_fields(conn, kinds)
                if self.ingest == "insert":
                    self._insert_rows(conn, ids, vecs, meta, texts)
                else:
                    empty = conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(self._t)).fetchone()[0]
                    self._copy_rows(conn, ids, vecs, meta, texts, direct=empty, progress=show)
        self._index_dirty = True

    def _write_input(self, ids: Any, vectors: Any, metadata: pd.DataFrame | None, texts: list | None) -> tuple:
        """Checked ``(ids, vectors, metadata as jsonb bytes, their field kinds, texts)`` of a write."""
        ids, vecs = self._check_write(ids, vectors, metadata, texts)
        if texts is not None:
            bad = [i for i, t in enumerate(texts) if t is not None and not isinstance(t, str)]
            if bad:
                raise InvalidInputError(f"texts must be str or None; entry {bad[0]} is {type(texts[bad[0]]).__name__}.")
            texts = [None if t is None else t.replace("\x00", "") for t in texts]
        meta, kinds = _metadata_json(metadata, len(ids)) if len(ids) else (None, {})
        return ids, vecs, meta, kinds, texts

    # ------------------------------------------------------------------ bulk load (several writers)
    def bulk_begin(self) -> bool:
        """Get an empty table ready for a bulk load by several writers (:meth:`load_block`).

        Drops the table's two GIN indexes (keyword ``tsv``, ``metadata``) once, so the writers'
        COPYs do not update them row by row; :meth:`bulk_end` (called by :meth:`build`) builds
        them once over all rows. Until then keyword search and filters still answer (by scans).

        Returns
        -------
        bool
            Whether it did: False (nothing changed) when the table already holds rows.
        """
        conn = self._conn()
        with self._op("bulk_begin"), conn.transaction():
            if not conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(self._t)).fetchone()[0]:
                return False
            for what in ("tsv", "meta"):
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(self._q(self._ix_name(what))))
        return True

    def bulk_end(self) -> bool:
        """Build the GIN indexes :meth:`bulk_begin` dropped, each in one pass over the rows (a no-op
        when they are there). Returns whether it built any."""
        conn = self._conn()
        with self._op("bulk_end"), conn.transaction():
            have = {r[0] for r in conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s",
                [self._table_oid(conn)]).fetchall()}
            todo = [st for what, st in zip(("tsv", "meta"), self._gin_statements()) if self._ix_name(what) not in have]
            if self.maintenance_work_mem and todo:
                conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", [self.maintenance_work_mem])
            for stmt in todo:
                conn.execute(stmt)
        return bool(todo)

    def load_block(self, ids: Any, vectors: Any, metadata: pd.DataFrame | None = None,
                   texts: list[str] | None = None, *, block: tuple[int, int] | None = None,
                   check: Any = None) -> None:
        """Make the rows keyed in ``block`` exactly these: one writer's share of a bulk load.

        In one transaction, every row whose key is in ``[lo, hi)`` is deleted, then these rows are
        COPYed straight into the table (no staging table, no ``ON CONFLICT``). Writers of
        disjoint blocks run in parallel; running a block again (a retry, a resumed run, a task
        Dask ran twice) replaces what an earlier attempt wrote, so no row is ever doubled or left
        over. Metadata field kinds are recorded in a short transaction of their own first.

        Parameters
        ----------
        ids, vectors, metadata, texts
            As for :meth:`upsert`; every id must lie in ``block``.
        block : (int, int), optional
            The key range ``[lo, hi)`` this writer owns; default ``[min(ids), max(ids) + 1)``.
        check : callable, optional
            Called after the rows are sent, before the commit; an exception from it rolls the
            block back (``to_store`` waits there for the partition's index-record entries, made
            in a thread while the server digests the COPY).
        """
        ids, vecs, meta, kinds, texts = self._write_input(ids, vectors, metadata, texts)
        if block is None:
            if not len(ids):
                return
            block = (int(ids.min()), int(ids.max()) + 1)
        lo, hi = int(block[0]), int(block[1])
        if len(ids) and (int(ids.min()) < lo or int(ids.max()) >= hi):
            raise InvalidInputError(f"load_block: keys must lie in the block [{lo}, {hi}); got keys from "
                                    f"{int(ids.min())} to {int(ids.max())}.")
        conn = self._conn()
        with self._op("load_block"):
            if kinds:
                with conn.transaction():  # short: the comment's lock is not held through the COPY
                    self._register_fields(conn, kinds)
            with conn.transaction():
                conn.execute(sql.SQL("DELETE FROM {} WHERE id >= %s AND id < %s").format(self._t), [lo, hi])
                if len(ids) and self.ingest == "insert":
                    self._insert_rows(conn, ids, vecs, meta, texts)
                elif len(ids):
                    self._copy_into(conn, self._t, ids, vecs, meta, texts,
                                    self.progress if self.progress is not None else len(ids) >= 50_000)
                if check is not None:
                    check()
        self._index_dirty = True

    def _copy_into(self, conn: Any, target: sql.Composable, ids: np.ndarray, vecs: np.ndarray, meta: list | None,
                   texts: list | None, progress: bool) -> None:
        """Binary COPY of the rows into ``target`` (the table or the staging table)."""
        cols = sql.SQL("(id, embedding, metadata, text)")
        bar = progress_bar(len(ids), f"pgvector COPY -> {self.table}") if progress else None
        try:
            with conn.cursor() as cur:
                with cur.copy(sql.SQL("COPY {} {} FROM STDIN (FORMAT BINARY)").format(target, cols),
                              writer=QueuedLibpqWriter(cur)) as cp:  # sends while the next chunk is built
                    for chunk, nrows in _copy_payload(ids, vecs, meta, texts, self.halfvec):
                        cp.write(chunk)
                        if bar is not None and nrows:
                            bar.update(nrows)
        finally:
            if bar is not None:
                bar.close()

    def _copy_rows(self, conn: Any, ids: np.ndarray, vecs: np.ndarray, meta: list | None, texts: list | None, *,
                   direct: bool, progress: bool) -> None:
        if direct:
            target = self._t
        else:
            target = sql.Identifier("vecnb_stage")
            conn.execute("DROP TABLE IF EXISTS pg_temp.vecnb_stage")
            conn.execute(sql.SQL(
                "CREATE TEMP TABLE vecnb_stage (id bigint, embedding {}({}), metadata jsonb, text text) ON COMMIT DROP"
            ).format(sql.SQL(self._vtype), sql.Literal(self.dim)))
        deferred = self._drop_gin_indexes(conn) if direct else []
        self._copy_into(conn, target, ids, vecs, meta, texts, progress)
        for definition in deferred:  # one bulk build each instead of an insert per row
            conn.execute(definition)
        if not direct:
            conn.execute(sql.SQL(
                "INSERT INTO {t} (id, embedding, metadata, text) SELECT id, embedding, metadata, text FROM vecnb_stage "
                "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata, "
                "text = EXCLUDED.text"
            ).format(t=self._t))
            conn.execute("DROP TABLE pg_temp.vecnb_stage")

    def _drop_gin_indexes(self, conn: Any) -> list[str]:
        """Drop the table's GIN indexes (keyword ``tsv``, ``metadata``) for a load into an empty
        table; returns their definitions to re-create after it, in the same transaction (a
        failed load rolls the drop back). A bulk GIN build is cheaper than row-by-row upkeep."""
        rows = conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE i.indrelid = %s AND a.amname = 'gin'", [self._table_oid(conn)]).fetchall()
        for name, _ in rows:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))  # regclass text: quoted, qualified as needed
        return [sql.SQL(definition) for _, definition in rows]

    def _insert_rows(self, conn: Any, ids: np.ndarray, vecs: np.ndarray, meta: list | None, texts: list | None) -> None:
        cast = sql.SQL("::halfvec") if self.halfvec else sql.SQL("")
        stmt = sql.SQL(
            "INSERT INTO {t} (id, embedding, metadata, text) VALUES (%s, %b{c}, %s::jsonb, %s) "
            "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata, "
            "text = EXCLUDED.text"
        ).format(t=self._t, c=cast)
        rows = ((int(ids[i]), _Vec(vecs[i]), None if meta is None or meta[i] is None else meta[i].decode("utf-8"),
                 None if texts is None else texts[i]) for i in range(len(ids)))
        with conn.cursor() as cur:
            cur.executemany(stmt, rows)

    def delete(self, ids: Any) -> None:
        """Delete rows by key; keys that are not stored are ignored."""
        self._check_open()
        ids = np.sort(np.asarray(ids, dtype=np.int64).reshape(-1))  # repeated or unknown ids: a no-op, as elsewhere
        ids = ids[np.r_[True, ids[1:] != ids[:-1]]] if len(ids) else ids
        if len(ids) == 0:
            return
        conn = self._conn()
        with self._op("delete"), conn.transaction():
            conn.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s::bigint[])").format(self._t), [ids.tolist()])

    # ------------------------------------------------------------------ index
    def _effective_kind(self, conn: Any) -> str:
        if self.kind != "auto":
            return self.kind
        n = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._t)).fetchone()[0]
        return "exact" if n < AUTO_EXACT_BELOW else "hnsw"

    def build_index(self) -> str:
        """Build the ANN index now if the store's kind needs one (idempotent).

        Returns
        -------
        str
            The effective kind (``"exact"``, ``"hnsw"`` or ``"ivfflat"``). The build time is
            kept in ``last_build_seconds``.
        """
        conn = self._conn()
        with self._op("build_index"), conn.transaction():
            self._ensure_index(conn, force=True)
        return self._index_kind or "exact"

    def _ensure_index(self, conn: Any, force: bool = False) -> None:
        if not (self._index_dirty or force) and self._index_kind is not None:
            return
        if self._index_kind in ("hnsw", "ivfflat") and self._index_name is not None:
            self._index_dirty = False
            return
        kind = self._effective_kind(conn)
        if kind == "exact":
            self._index_kind = "exact"
            self._index_dirty = False
            return
        name = self._ix_name(f"{kind}_{self.metric}")
        exists = conn.execute(
            "SELECT 1 FROM pg_indexes WHERE schemaname = coalesce(%s, current_schema()) AND indexname = %s",
            [self.schema, name]).fetchone()
        if exists is None:
            n = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._t)).fetchone()[0]
            if n == 0:  # build over data, not row by row: decide at a later search
                self._index_kind, self._index_name = None, None
                return
            opclass = sql.SQL(f"{self._vtype}_{_OPCLASS[self.metric]}")
            if kind == "hnsw":
                opts = sql.SQL("(m = {}, ef_construction = {})").format(sql.Literal(self.m),
                                                                       sql.Literal(self.ef_construction))
            else:
                lists = self.lists or max(1, (n // 1000) if n <= 1_000_000 else int(math.sqrt(n)))
                opts = sql.SQL("(lists = {})").format(sql.Literal(int(lists)))
            t0 = time.perf_counter()
            with conn.transaction():
                if self.maintenance_work_mem:
                    conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", [self.maintenance_work_mem])
                conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING {} (embedding {}) WITH {}").format(
                    sql.Identifier(name), self._t, sql.SQL(kind), opclass, opts))
            conn.execute(sql.SQL("ANALYZE {}").format(self._t))
            self.last_build_seconds = time.perf_counter() - t0
        self._index_kind, self._index_name = kind, name
        self._index_dirty = False

    def _ivf_lists(self, conn: Any) -> int:
        row = conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = %s AND relnamespace = "
            "(SELECT oid FROM pg_namespace WHERE nspname = coalesce(%s, current_schema()))",
            [self._index_name, self.schema]).fetchone()
        for opt in (row[0] or []) if row else []:
            if opt.startswith("lists="):
                return int(opt.split("=", 1)[1])
        return 100

    # ------------------------------------------------------------------ search
    def _filter(self, where: Any) -> Node | None:
        return encode_node(parse(where))

    def _guc_pairs(self, conn: Any, k: int, *, exact: bool = False,
                   selectivity: float | None = None) -> list[tuple[str, str]]:
        """The pgvector settings one search needs (none for an exact scan: its SQL avoids the index)."""
        kind = "exact" if exact else self._index_kind
        pairs: list[tuple[str, str]] = []
        if kind == "hnsw":
            pairs.append(("hnsw.ef_search", str(self._filter_ef(k, selectivity))))
            if self._iter_ok:
                pairs.append(("hnsw.iterative_scan", self.iterative_scan))
                if self.max_scan_tuples:
                    pairs.append(("hnsw.max_scan_tuples", str(self.max_scan_tuples)))
        elif kind == "ivfflat":
            if getattr(self, "_lists_for", None) != self._index_name:
                self._lists, self._lists_for = self._ivf_lists(conn), self._index_name
            probes = self.probes or max(1, int(round(math.sqrt(self._lists))))
            pairs.append(("ivfflat.probes", str(min(probes, self._lists))))
            if self._iter_ok:
                pairs.append(("ivfflat.iterative_scan", "off" if self.iterative_scan == "off" else "relaxed_order"))
                if self.max_scan_tuples:
                    pairs.append(("ivfflat.max_probes", str(self.max_scan_tuples)))
        return pairs

    def _set_gucs(self, conn: Any, k: int, *, exact: bool = False, selectivity: float | None = None,
                  local: bool = True) -> None:
        """Apply :meth:`_guc_pairs`: ``SET LOCAL`` (inside the caller's transaction), or at session level
        on the store's own connection (``local=False``), where only changed values are sent."""
        pairs = self._guc_pairs(conn, k, exact=exact, selectivity=selectivity)
        if not local:
            if self._session_conn is not conn:  # a new connection starts from the server defaults
                self._session, self._session_conn = {}, conn
            pairs = [(n, v) for n, v in pairs if self._session.get(n) != v]
        if pairs:
            stmt = sql.SQL("SELECT ") + sql.SQL(", ").join(
                [sql.SQL("set_config(%s, %s, {})").format(sql.SQL("true" if local else "false"))] * len(pairs))
            conn.execute(stmt, [x for p in pairs for x in p])
            if not local:
                self._session.update(pairs)

    def _bare(self, conn: Any) -> bool:
        """Whether a search may run as bare statements: the store's own autocommit connection with no
        transaction open. Its search settings then live at session level (only this store uses the
        connection) and one query is one round trip, as a hand-written psycopg call. A connection the
        caller passed in (or an open :meth:`atomic` block) gets ``SET LOCAL`` in a transaction instead,
        so nothing leaks into the caller's session."""
        return (self._owns_conn and conn.autocommit
                and conn.pgconn.transaction_status == TransactionStatus.IDLE)

    def _queries_sql(self, cond: sql.Composable | None, exact: bool, conn: Any = None,
                     k: int | None = None) -> sql.Composed | bytes:
        """One query's statement (``None`` cond: no filter; that statement is built once per ``k`` and
        kept, and with ``conn`` given, kept rendered as bytes for that connection's encoding).

        Exact: the distances come from a subquery behind ``OFFSET 0`` (an optimisation fence), so
        the planner cannot serve ``ORDER BY d`` from an ANN index on the table: a sequential scan
        (or the metadata index) and a top-k sort, every time, without changing any setting.

        Unfiltered, ``k`` is written into the statement as a literal: the only parameter left is the
        query vector, on which no cost estimate depends, so PostgreSQL's plan cache settles on the
        generic plan of the prepared statement after five executions and stops planning every call
        (with ``LIMIT $2`` the generic plan's cost, estimated for an unknown limit, never beat a
        custom plan: each search was planned afresh, ~40-90 us, the ``max(seq)`` subquery's
        min/max path search most of it).
        """
        if cond is None:
            key = (exact, self.schema, self.table, self.metric, self.halfvec, self._watch, int(k))
            if conn is not None:
                bkey = (*key, conn.info.encoding)
                got = self._sql_cache.get(bkey)
                if got is None:
                    if len(self._sql_cache) > 64:  # many different k: keep the cache small
                        self._sql_cache.clear()
                    got = self._sql_cache[bkey] = self._queries_sql(None, exact, k=k).as_bytes(conn)
                return got
            if key in self._sql_cache:
                return self._sql_cache[key]
        op = sql.SQL(_OPS[self.metric])
        qv = sql.SQL("%(q)b::halfvec") if self.halfvec else sql.SQL("%(q)b")
        c = sql.SQL("TRUE") if cond is None else cond
        lim = sql.SQL("%(k)s") if cond is not None else sql.Literal(int(k))
        # the index record's last seq, read in the same statement (same snapshot) as the rows: an
        # uncorrelated scalar subquery, run once per statement (an InitPlan), no extra round trip
        v = sql.SQL(", (SELECT max(seq) FROM {})").format(self._home_ident()) if self._watch else sql.SQL("")
        if exact:
            # the record's seq projected onto the k answer rows only (in the sorted subquery's target
            # list it was projected onto every row scanned: ~15-20 us of a 1k-row search)
            stmt = sql.SQL(
                "SELECT id, d{v} FROM (SELECT id, d FROM (SELECT id, embedding {op} {qv} AS d FROM {t} WHERE {c} "
                "OFFSET 0) s ORDER BY d, id LIMIT {lim}) r ORDER BY d, id"
            ).format(op=op, qv=qv, t=self._t, c=c, v=v, lim=lim)
        else:
            stmt = sql.SQL(
                "WITH c AS MATERIALIZED (SELECT id, embedding {op} {qv} AS d FROM {t} WHERE {c} "
                "ORDER BY embedding {op} {qv} LIMIT {lim}) SELECT id, d{v} FROM c ORDER BY d, id"
            ).format(op=op, qv=qv, t=self._t, c=c, v=v, lim=lim)
        if cond is None:
            self._sql_cache[key] = stmt
        return stmt

    def search(self, vectors: Any, k: int, where: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` keys and scores per query.

        Parameters
        ----------
        vectors : array-like, shape (nq, dim)
        k : int
        where : filter dict or parsed tree, optional

        Returns
        -------
        ids : ndarray, shape (nq, k), int64, padded with -1
        scores : ndarray, shape (nq, k), float64, padded with -inf
        """
        q = self._check_queries(vectors, k)
        k = self._width(k)  # a huge k: clamped to the rows stored (one COUNT) before anything else
        if k == 0:
            self.home_seen = [None] * len(q)
            return pad_results([[] for _ in q], [[] for _ in q], 0)
        node = self._filter(where)
        conn = self._conn()
        cond, named = compile_where(node, self._fields)
        with self._op("search"):
            if self._index_dirty or self._index_kind is None:
                with conn.transaction():
                    self._ensure_index(conn)
            exact = self._index_kind in (None, "exact")
            sel = None
            if not exact and node is not None and (self.filter_exact_below > 0 or self.filter_exact_rows > 0) \
                    and len(q):
                sel, rows = self._selectivity(conn, cond, named)  # also widens the HNSW beam for the filter
                if sel < self.filter_exact_below or rows <= self.filter_exact_rows:
                    exact = True
                    self._planned_exact += 1
            params = [{"q": _Vec(q[i]), "k": int(k), **named} for i in range(len(q))]
            filt = None if node is None else cond
            results = self._run_queries(conn, self._queries_sql(filt, exact, conn, k), params, k, exact=exact,
                                        selectivity=sel, prepare=node is None)
            short = [] if exact else [i for i, rows in enumerate(results) if len(rows) < k]
            if short:  # the index came back short (selective filter, tiny table): exact scan for those
                self._fallbacks += len(short)
                redo = self._run_queries(conn, self._queries_sql(filt, True, conn, k), [params[i] for i in short], k,
                                         exact=True, prepare=node is None)
                for i, rows in zip(short, redo):
                    results[i] = rows
        if len(results) == 1 and len(results[0]) == k:  # one query, a full answer: no padding
            rows = results[0]
            if self._watch:
                self.home_seen = [rows[0][2]]
            # a few rows: plain Python, then one array each (scores as scores_from_distances gives them)
            dist = [r[1] for r in rows]
            sc = [1.0 - x for x in dist] if self.metric == "cosine" else [-x for x in dist]
            return np.array([[r[0] for r in rows]], dtype=np.int64), np.array([sc], dtype=np.float64)
        if self._watch:
            self.home_seen = [rows[0][2] if rows else None for rows in results]
        ids = np.full((len(results), k), -1, dtype=np.int64)
        dist = np.full((len(results), k), np.inf, dtype=np.float64)
        for i, rows in enumerate(results):
            if rows:
                ids[i, :len(rows)] = [r[0] for r in rows]
                dist[i, :len(rows)] = [r[1] for r in rows]
        scores = scores_from_distances(dist, self.metric)
        scores[ids < 0] = -np.inf
        return ids, scores

    def _selectivity(self, conn: Any, cond: sql.Composable, named: dict) -> tuple[float, float]:
        """The planner's estimate of the fraction of rows ``cond`` keeps (1.0 when unknown) and of how many
        rows that is (``inf`` when unknown); one round trip."""
        explain = sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE {}").format(self._t, cond)
        total_sql = "SELECT reltuples FROM pg_class WHERE oid = %s::regclass"
        name = [self._t.as_string(conn)]
        if self._bare(conn):
            with self._session_lock, conn.pipeline():
                plan = conn.cursor().execute(explain, named)
                total = conn.cursor().execute(total_sql, name)
        else:
            with conn.pipeline(), conn.transaction():
                plan = conn.cursor().execute(explain, named)
                total = conn.cursor().execute(total_sql, name)
        rows = plan.fetchone()[0][0]["Plan"]["Plan Rows"]
        n = total.fetchone()[0]
        if n is None or n <= 0:
            return 1.0, float("inf")
        return min(1.0, float(rows) / float(n)), float(rows)

    def search_params(self) -> dict[str, Any]:
        """The search settings in force (applied per query with ``SET LOCAL``)."""
        return {"ef_search": self.ef_search, "probes": self.probes, "iterative_scan": self.iterative_scan,
                "max_scan_tuples": self.max_scan_tuples, "filter_exact_below": self.filter_exact_below,
                "filter_exact_rows": self.filter_exact_rows}

    def set_search_params(self, *, ef_search: int | None = None, probes: int | None = None,
                          iterative_scan: str | None = None, max_scan_tuples: int | None = None,
                          filter_exact_below: float | None = None, filter_exact_rows: int | None = None) -> None:
        """Change how searches run (no rebuild): HNSW ``ef_search``, IVFFlat ``probes``, the
        iterative scan of filtered searches, and the selectivity below which a filter is searched
        exactly.

        Raises
        ------
        InvalidInputError
            A value out of range.
        """
        for name, v in (("ef_search", ef_search), ("probes", probes), ("max_scan_tuples", max_scan_tuples)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise InvalidInputError(f"pgvector store: {name} must be a positive integer, got {v!r}.")
        if iterative_scan is not None and iterative_scan not in _ITERATIVE:
            raise InvalidInputError(f"pgvector store: iterative_scan must be one of {_ITERATIVE}, got {iterative_scan!r}.")
        if filter_exact_below is not None and not (isinstance(filter_exact_below, (int, float))
                                                   and 0 <= filter_exact_below <= 1):
            raise InvalidInputError(f"pgvector store: filter_exact_below must be in [0, 1], got {filter_exact_below!r}.")
        if filter_exact_rows is not None and (isinstance(filter_exact_rows, bool)
                                              or not isinstance(filter_exact_rows, (int, np.integer))
                                              or filter_exact_rows < 0):
            raise InvalidInputError(f"pgvector store: filter_exact_rows must be an integer >= 0, got {filter_exact_rows!r}.")
        if ef_search is not None:
            self.ef_search = int(ef_search)
        if probes is not None:
            self.probes = int(probes)
        if iterative_scan is not None:
            self.iterative_scan = iterative_scan
        if max_scan_tuples is not None:
            self.max_scan_tuples = int(max_scan_tuples)
        if filter_exact_below is not None:
            self.filter_exact_below = float(filter_exact_below)
        if filter_exact_rows is not None:
            self.filter_exact_rows = int(filter_exact_rows)

    def _filter_ef(self, k: int, selectivity: float | None) -> int:
        """``hnsw.ef_search`` for one search: ``ef_search`` (at least k), widened for a filter.

        A filter keeping a fraction ``s`` of the rows leaves ~``s`` of each beam's candidates;
        the iterative scan keeps going until k pass, but it walks the graph in ef-sized steps,
        so a narrow beam trades recall away. The beam is widened by ``1 / sqrt(s)``, at most
        4x (the faiss store's rule): 20 % -> 2.2x. ``s`` is the planner's estimate, asked only
        while ``filter_exact_below > 0`` (the default); with 0 no estimate and no widening.
        """
        ef = max(self.ef_search, k)
        if selectivity is not None and 0 < selectivity < 1:
            ef = int(math.ceil(ef * min(4.0, 1.0 / math.sqrt(selectivity))))
        return min(1000, ef)

    def _run_queries(self, conn: Any, stmt: sql.Composed | bytes, params: list[dict], k: int, *, exact: bool,
                     settings: bool = True, selectivity: float | None = None, prepare: bool = False) -> list:
        """Run one statement per parameter set; the rows of each (binary results).

        On the store's own connection (:meth:`_bare`) the search settings are kept at session level
        and sent only when they change; one query is then one round trip, several are pipelined
        (one round trip in all). Otherwise the settings are ``SET LOCAL`` in one pipelined
        transaction and never leak into the caller's session. ``prepare``: a server-side prepared
        statement from the first call (the fixed statement of an unfiltered search).
        """
        prep = True if prepare else None
        cursors = []
        if self._bare(conn):
            with self._session_lock:
                if settings:
                    self._set_gucs(conn, k, exact=exact, selectivity=selectivity, local=False)
                if len(params) == 1:
                    # one kept cursor: no cursor (and adapters map) built per search; not for a long answer,
                    # whose rows the cursor would hold on to until the next search
                    cur = self._kept_cursor if k <= 1000 else conn.cursor(binary=True)
                    if cur is None or cur.connection is not conn or cur.closed:
                        cur = self._kept_cursor = conn.cursor(binary=True)
                    cur.execute(stmt, params[0], prepare=prep)
                    return [cur.fetchall()]
                with conn.pipeline():
                    for p in params:
                        cursors.append(conn.cursor(binary=True).execute(stmt, p, prepare=prep))
                return [cur.fetchall() for cur in cursors]
        with conn.pipeline():
            with conn.transaction():
                if settings:
                    self._set_gucs(conn, k, exact=exact, selectivity=selectivity)
                for p in params:
                    cursors.append(conn.cursor(binary=True).execute(stmt, p, prepare=prep))
        return [cur.fetchall() for cur in cursors]

    def keyword(self, texts: Any, k: int, where: Any = None, *, mode: str = "any") -> tuple[np.ndarray, np.ndarray]:
        """Full-text search over the stored texts, ranked with ``ts_rank_cd``.

        Parameters
        ----------
        texts : str or list of str
            One query text per query.
        k : int
        where : filter, optional
        mode : {"any", "all", "websearch"}
            ``any``: rows matching any query word (words joined with ``or``); ``all``: every
            word; ``websearch``: the text goes to ``websearch_to_tsquery`` as is (quotes for
            phrases, ``-word``, ``or``).

        Returns
        -------
        ids : ndarray (nq, k) int64, scores : ndarray (nq, k) float64 (``ts_rank_cd``; higher is better)
        """
        self._check_open()
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        k = self._width(k)
        if k == 0:
            return pad_results([[] for _ in texts], [[] for _ in texts], 0)
        if mode not in ("any", "all", "websearch"):
            raise InvalidInputError(f"mode must be 'any', 'all' or 'websearch', got {mode!r}.")
        for t in texts:
            if not isinstance(t, str):
                raise InvalidInputError(f"keyword queries must be strings, got {type(t).__name__}.")
        node = self._filter(where)
        conn = self._conn()
        cond, named = compile_where(node, self._fields)
        stmt = sql.SQL(
            "SELECT id, ts_rank_cd(tsv, q) AS s FROM {t}, websearch_to_tsquery(%(cfg)s::regconfig, %(text)s) AS q "
            "WHERE tsv @@ q AND {c} ORDER BY s DESC, id LIMIT %(k)s"
        ).format(t=self._t, c=cond)
        params = [{"cfg": self.text_config, "text": _tsquery_text(text, mode), "k": int(k), **named} for text in texts]
        with self._op("keyword"):
            results = self._run_queries(conn, stmt, params, int(k), exact=False, settings=False)
        id_rows = [[r[0] for r in rows] for rows in results]
        score_rows = [[r[1] for r in rows] for rows in results]
        return pad_results(id_rows, score_rows, int(k))

    # ------------------------------------------------------------------ reads
    def __len__(self) -> int:
        conn = self._conn()
        with self._op("len"), conn.transaction():
            return int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._t)).fetchone()[0])

    def _fetch_column(self, ids: Any, column: str, operation: str) -> tuple[np.ndarray, dict]:
        """``{id: value}`` of one column (``metadata`` / ``text``) for ``ids`` (1-D int64)."""
        self._check_open()
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) == 0:
            return ids, {}
        conn = self._conn()
        with self._op(operation), conn.transaction():
            rows = conn.execute(sql.SQL("SELECT id, {} FROM {} WHERE id = ANY(%s::bigint[])").format(
                sql.Identifier(column), self._t), [sorted(set(ids.tolist()))]).fetchall()
        return ids, dict(rows)

    def fetch_metadata(self, ids: Any) -> pd.DataFrame:
        """Metadata of ``ids``: one row per id, in order (missing values for unknown ids).

        Dates / datetimes come back as int nanoseconds since the epoch (UTC), the form they
        are stored in (filters compare them as instants either way).
        """
        ids, got = self._fetch_column(ids, "metadata", "fetch_metadata")
        return records_frame([got.get(i) for i in ids.tolist()])

    def fetch_texts(self, ids: Any) -> list[str | None]:
        """The texts stored for ``ids`` (``None`` where a key has no text or is missing)."""
        ids, got = self._fetch_column(ids, "text", "fetch_texts")
        return [got.get(i) for i in ids.tolist()]

    def fetch(self, ids: Any) -> tuple[np.ndarray, np.ndarray]:
        """Read vectors back.

        Returns
        -------
        vectors : ndarray, shape (n, dim), float32 (zeros where not found)
        found : ndarray, shape (n,), bool
        """
        self._check_open()
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise InvalidInputError(f"ids must be 1-D, got shape {ids.shape}.")
        ids = ids.astype(np.int64, copy=False)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        found = np.zeros(len(ids), dtype=bool)
        if len(ids) == 0:
            return out, found
        conn = self._conn()
        send = sql.SQL("halfvec_send" if self.halfvec else "vector_send")
        dtype = ">f2" if self.halfvec else ">f4"
        pos: dict[int, list[int]] = {}
        for i, key in enumerate(ids.tolist()):
            pos.setdefault(key, []).append(i)
        with self._op("fetch"), conn.transaction():
            rows = conn.execute(sql.SQL("SELECT id, {}(embedding) FROM {} WHERE id = ANY(%s::bigint[])").format(
                send, self._t), [list(pos)]).fetchall()
        for key, raw in rows:
            vec = np.frombuffer(raw, dtype=dtype, offset=4).astype(np.float32)
            for i in pos[key]:
                out[i] = vec
                found[i] = True
        return out, found

    def iter_ids(self, batch_size: int = 1000) -> Iterator[np.ndarray]:
        """Stream every key in ascending order, ``batch_size`` at a time (keyset pagination)."""
        batch_size = positive_int(batch_size, "batch_size")
        conn = self._conn()
        last = None
        stmt = sql.SQL("SELECT id FROM {} WHERE (%s::bigint IS NULL OR id > %s::bigint) ORDER BY id LIMIT %s").format(
            self._t)
        while True:
            with self._op("iter_ids"), conn.transaction():
                rows = conn.execute(stmt, [last, last, int(batch_size)]).fetchall()
            if not rows:
                return
            batch = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            yield batch
            if len(rows) < batch_size:
                return
            last = int(batch[-1])

    def info(self) -> dict:
        """What the store chose: kind, index, parameters, versions (no password)."""
        out = {"store": self.name, "kind": self._index_kind or self.kind, "requested_kind": self.kind,
               "metric": self.metric, "dim": self.dim, "table": self.table, "schema": self.schema,
               "url": self.where_url, "halfvec": self.halfvec, "index": self._index_name,
               "params": {"m": self.m, "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                          "lists": self.lists, "probes": self.probes, "iterative_scan": self.iterative_scan},
               "fields": dict(self._fields), "last_build_seconds": self.last_build_seconds,
               "exact_fallbacks": self._fallbacks, "planned_exact_searches": self._planned_exact,
               "filter_exact_below": self.filter_exact_below, "filter_exact_rows": self.filter_exact_rows}
        out.update({f"{k}_version": v for k, v in self._server.items()})
        return out

    def drop(self) -> None:
        """Drop the table (its indexes and index record) from the database, then close the store."""
        conn = self._conn()
        with self._op("drop"), conn.transaction():
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(self._t, self._q(self._ix_name("home"))))
        self.close()

    def build(self) -> None:
        """Build the GIN indexes a bulk load deferred (:meth:`bulk_end`) and the ANN index now (what
        :func:`vecnb.index.build_index` and ``ddf.vec.to_store`` call after writing the rows)."""
        self.bulk_end()
        self.build_index()

    # ------------------------------------------------------------------ index record (vecnb.home)
    #: an index in this store keeps its record beside the vectors (table ``<table>_home_<hash>``)
    keeps_home: ClassVar[bool] = True

    @classmethod
    def open_existing(cls, *, url: str | None = None, connection: Any = None, table: str = "vecnb_items",
                      schema: str | None = None, **overrides: Any) -> PgVectorStore | None:
        """A store bound to an existing vecnb table (dimension, metric and settings read from it), or None.

        Raises
        ------
        IndexFormatError
            The table exists but was not made by vecnb.
        StoreConnectionError
            The server is unreachable or refused the credentials.
        """
        from vecnb.errors import IndexFormatError

        probe = cls(dim=1, url=url, connection=connection, table=table, schema=schema,
                    connect_timeout=overrides.get("connect_timeout", 5.0))
        try:
            if probe._conn_obj is None:
                probe._conn_obj = probe._connect()
            conn = probe._conn_obj
            with probe._op("open"), conn.transaction():
                oid = probe._table_oid(conn)
                if oid is None:
                    return None
                cols = dict(conn.execute(
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped", [oid]).fetchall())
                comment = conn.execute("SELECT obj_description(%s, 'pg_class')", [oid]).fetchone()[0]
        finally:
            probe.close()
        try:
            doc = json.loads(comment) if comment else None
        except ValueError:
            doc = None
        m = re.fullmatch(r"(vector|halfvec)\((\d+)\)", cols.get("embedding", ""))
        if not isinstance(doc, dict) or "vecnb" not in doc or m is None or doc.get("metric") not in _OPS:
            raise IndexFormatError(
                f"table {table!r} exists but is not a vecnb index (columns: {', '.join(cols)}). "
                "Pass another table= name.")
        params = {k: v for k, v in (doc.get("config") or {}).items() if v is not None}
        params.update(halfvec=m.group(1) == "halfvec", text_config=doc.get("text_config", "english"))
        params.update(overrides)
        kind = params.pop("kind", "auto")
        return cls(dim=int(m.group(2)), metric=doc["metric"], kind=kind, url=url, connection=connection,
                   table=table, schema=schema, **params)

    #: options a saved reference may carry (vecnb.stores.base.reference_config); never url / password
    reference_options: ClassVar[tuple[str, ...]] = (
        "table", "schema", "kind", "m", "ef_construction", "ef_search", "lists", "probes", "halfvec",
        "iterative_scan", "max_scan_tuples", "text_config", "filter_exact_below", "filter_exact_rows",
        "connect_timeout")

    def reference(self) -> dict[str, Any]:
        """What reopens this table (saved by reference): table, schema, settings -- no URL, no password."""
        return {"table": self.table, "schema": self.schema,
                **{k: v for k, v in self.settings().items() if v is not None}}

    @classmethod
    def open_reference(cls, *, url: str | None = None, connection: Any = None, **options: Any) -> PgVectorStore:
        """Reopen a table saved by reference; the URL comes from ``url=`` or ``$VECNB_PG_URL``."""
        from vecnb.errors import IndexNotFoundError

        st = cls.open_existing(url=url, connection=connection, **options)
        if st is None:
            raise IndexNotFoundError(f"table {options.get('table')!r} no longer exists on the server; rebuild the "
                                     "index from its DataFrame.")
        return st

    def locator(self) -> dict[str, Any]:
        """Where the table is, without secrets: ``{"url": conninfo without password, "table", "schema"}``."""
        if self.url:
            try:
                d = psycopg.conninfo.conninfo_to_dict(self.url)
                d.pop("password", None)
                where = psycopg.conninfo.make_conninfo(**{k: v for k, v in d.items() if v is not None})
            except Exception:
                where = redact_url(self.url)
        else:
            where = self.where_url
        return {"url": where, "table": self.table, "schema": self.schema}

    def _home_ident(self) -> sql.Identifier:
        return self._q(self._ix_name("home"))

    def watch_home(self) -> bool:
        """From now on every search also returns the record's last seq (``home_seen``), read in the
        search's own statement; an index holding this store's record calls it. Returns True."""
        self._watch = True
        return True

    def home_version(self) -> int | None:
        """The index record's last sequence number now (one round trip; searches fold it in instead)."""
        conn = self._conn()
        stmt = sql.SQL("SELECT max(seq) FROM {}").format(self._home_ident())
        with self._op("search"):
            try:
                with contextlib.nullcontext() if self._bare(conn) else conn.transaction():
                    v = conn.execute(stmt).fetchone()[0]
            except psycopg.errors.UndefinedTable:
                return None
        return None if v is None else int(v)

    def home_reloaded(self) -> None:
        """Forget what this store cached about its table (field kinds, ANN index): another process
        rewrote it (``mode="replace"`` swaps in a new table under the same name)."""
        self._ready = False
        self._index_dirty = True
        self._index_kind = None
        self._index_name = None
        self._stats_fields = set()

    def home_read(self) -> list[tuple[int, bytes]]:
        """The index record's entries ``[(seq, payload)]`` in order (``[]`` when there is none)."""
        conn = self._conn()
        with self._op("open"), conn.transaction():
            name = self._home_ident().as_string(conn)
            if conn.execute("SELECT to_regclass(%s)", [name]).fetchone()[0] is None:
                return []
            rows = conn.execute(sql.SQL("SELECT seq, payload FROM {} ORDER BY seq").format(self._home_ident()))
            return [(int(a), bytes(b)) for a, b in rows.fetchall()]

    def home_append(self, seq: int, payload: bytes) -> None:
        """Append entry ``seq``; a :class:`StoreError` mentioning a conflict if another writer got there first."""
        conn = self._conn()
        with self._op("write"):
            try:
                with conn.transaction():
                    cur = conn.execute(sql.SQL(
                        "INSERT INTO {h} (seq, payload) SELECT %s, %s WHERE NOT EXISTS "
                        "(SELECT 1 FROM {h} WHERE seq >= %s)").format(h=self._home_ident()), [seq, payload, seq])
                    if cur.rowcount != 1:
                        raise psycopg.errors.UniqueViolation("seq")
            except psycopg.errors.UniqueViolation:
                raise StoreError(f"write conflict on the index record of table {self.table!r}",
                                 store=self.name, operation="write") from None

    def home_reset(self, payloads: list[bytes], fresh: bool = False) -> int:
        """Replace the index record by ``payloads`` (one transaction); returns the last sequence number.

        ``fresh=True``: a :class:`StoreError` mentioning a conflict when a record already exists (two
        builders racing for one new table: the second fails, nothing mixed)."""
        conn = self._conn()
        h = self._home_ident()
        conflict = StoreError(f"write conflict: table {self.table!r} already holds an index record",
                              store=self.name, operation="write")
        try:
            with self._op("write"), conn.transaction():
                conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (seq bigint PRIMARY KEY, payload bytea NOT NULL)")
                             .format(h))
                start = conn.execute(sql.SQL("SELECT coalesce(max(seq), -1) + 1 FROM {}").format(h)).fetchone()[0]
                if fresh and start:
                    raise conflict
                conn.execute(sql.SQL("DELETE FROM {}").format(h))
                with conn.cursor() as cur:
                    cur.executemany(sql.SQL("INSERT INTO {} (seq, payload) VALUES (%s, %s)").format(h),
                                    [(start + i, p) for i, p in enumerate(payloads)])
        except StoreError as exc:
            if exc is conflict or "duplicate key" in str(exc) or "already exists" in str(exc):
                raise conflict from None
            raise
        return int(start + len(payloads) - 1)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Everything written inside (rows, index record) commits together or not at all."""
        conn = self._conn()
        with self._op("write"), conn.transaction():
            yield

    def staging(self, *, dim: int, metric: str, kind: str, options: dict) -> PgVectorStore:
        """An empty store on a new staging table, to build a replacement for this one (``mode="replace"``)."""
        import secrets

        opts = {**options, "table": f"{self.table.encode()[:40].decode(errors='ignore')}__new_{secrets.token_hex(4)}"}
        opts.pop("recreate", None)
        return type(self)(dim=dim, metric=metric, kind=kind, **opts)

    def discard(self) -> None:
        """Drop this (staging) table and its record (also after :meth:`close`: a failed build closes it)."""
        own = self._conn_obj is None or self._conn_obj.closed
        conn = self._connect() if own else self._conn_obj
        try:
            with self._op("discard"), conn.transaction():
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(self._t, self._home_ident()))
        finally:
            if own:
                conn.close()

    def take_place_of(self, old: PgVectorStore) -> int:
        """Rename this table (its indexes, statistics and record) to ``old``'s name, dropping ``old``, atomically.

        The record is renumbered after ``old``'s last seq (returned: the shift) so readers of ``old`` notice.

        Readers of ``old`` wait for the few catalogue updates, then see this table: never half of either.
        """
        conn = self._conn()
        target = old.table
        with self._op("replace"), conn.transaction():
            shift = self._renumber_after(conn, old)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(old._t, old._home_ident()))
            conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(self._t, sql.Identifier(target)))
            conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                self._home_ident(), sql.Identifier(self._ix_name("home", target))))
            for what in ("tsv", "meta", f"hnsw_{self.metric}", f"ivfflat_{self.metric}"):
                conn.execute(sql.SQL("ALTER INDEX IF EXISTS {} RENAME TO {}").format(
                    self._q(self._ix_name(what)), sql.Identifier(self._ix_name(what, target))))
            for f in self._stats_fields:
                st = f"st_{_short_hash(f)}"
                if conn.execute("SELECT 1 FROM pg_statistic_ext WHERE stxname = %s AND stxnamespace = "
                                "(SELECT oid FROM pg_namespace WHERE nspname = coalesce(%s, current_schema()))",
                                [self._ix_name(st), self.schema]).fetchone():
                    conn.execute(sql.SQL("ALTER STATISTICS {} RENAME TO {}").format(
                        self._q(self._ix_name(st)), sql.Identifier(self._ix_name(st, target))))
        old.close()
        if self._index_name is not None:
            self._index_name = self._ix_name(f"{self._index_kind}_{self.metric}", target)
        self.table = target
        self._sql_cache.clear()
        return shift

    def _renumber_after(self, conn: Any, old: PgVectorStore) -> int:
        """Renumber this (staging) record after ``old``'s last seq, with ``old``'s record locked against
        writers: a reader still holding the old index sees a new seq and reloads. Returns the shift."""
        mine = self._home_ident()
        theirs = old._home_ident()
        if conn.execute("SELECT to_regclass(%s)", [theirs.as_string(conn)]).fetchone()[0] is None:
            return 0
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(theirs))
        top = conn.execute(sql.SQL("SELECT greatest((SELECT coalesce(max(seq), -1) FROM {}), "
                                   "(SELECT coalesce(max(seq), -1) FROM {}))").format(theirs, mine)).fetchone()[0]
        shift = int(top) + 1
        conn.execute(sql.SQL("UPDATE {} SET seq = seq + %s").format(mine), [shift])
        return shift

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connection if the store opened it; further use raises StoreError."""
        if self._owns_conn and self._conn_obj is not None:
            try:
                self._conn_obj.close()
            except Exception:  # pragma: no cover
                pass
            self._conn_obj = None
        super().close()

    def _state(self) -> str:
        if self._closed:
            return "closed"
        return "connected" if self._conn_obj is not None and self._ready else "not connected yet"

    def __repr__(self) -> str:
        return (f"<PgVectorStore table={self.table!r} kind={self._index_kind or self.kind} metric={self.metric} "
                f"dim={self.dim}{' halfvec' if self.halfvec else ''} at {self.where_url} ({self._state()})>")

    def _repr_html_(self) -> str:
        rows = [("table", self.table), ("kind", self._index_kind or self.kind), ("metric", self.metric),
                ("dim", self.dim), ("storage", self._vtype), ("server", self.where_url), ("state", self._state())]
        return html_table("PgVectorStore", rows)

