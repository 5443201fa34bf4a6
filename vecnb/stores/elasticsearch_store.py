"""Elasticsearch store on the official ``elasticsearch`` Python client.

One index per store; each vecnb row is one document whose ``_id`` is the int64 key::

    {"vecnb_id": 42, "vector": [...], "metadata": {"year": 1990, ...}, "text": "..."}

Mapping (see :func:`index_body`): ``vector`` is a ``dense_vector`` with the similarity that
matches the metric, ``vecnb_id`` a ``long`` (sort key for :meth:`ElasticsearchStore.iter_ids`),
``text`` a ``text`` field (BM25, the keyword side of hybrid search), and ``metadata.*``
dynamic fields mapped as ``keyword`` (strings: exact ``term`` matches, byte-order ranges like
pandas) or ``double`` (numbers first written as floats). A field whose first write is an
integer column (int64, nullable Int64, unsigned, datetimes as int nanoseconds) is mapped
``long`` before its first document, so ints past 2**53 keep their exact value in filters (a
``double`` holds 2**53 + 1 as 2**53). Writes that a field's type would change silently are
refused with the fix: non-integral floats into a ``long`` field (Elasticsearch truncates them),
ints past 2**53 into a ``double`` field, ints outside int64. ``date_detection`` is off, so a
text column of dates stays a ``keyword`` field compared like pandas' strings.

Metric -> similarity, and how scores come back to vecnb's convention
--------------------------------------------------------------------
Elasticsearch (Lucene) returns *transformed* scores; :func:`vecnb_scores` inverts them exactly:

=========  =====================  ===================================  ===========================
metric     similarity             Elasticsearch ``_score``             vecnb score
=========  =====================  ===================================  ===========================
cosine     ``cosine``             ``(1 + cos) / 2``                    ``2 s - 1``
dot        ``max_inner_product``  ``1 / (1 - dot)`` if dot < 0,         ``1 - 1/s`` if s < 1,
                                  else ``dot + 1``                      else ``s - 1``
dot        ``dot_product``        ``(1 + dot) / 2`` (unit vectors)     ``2 s - 1``
l2         ``l2_norm``            ``1 / (1 + d**2)``                   ``-sqrt(1/s - 1)``
=========  =====================  ===================================  ===========================

``dot_product`` requires unit-length vectors (Elasticsearch rejects others), so ``metric="dot"``
uses ``max_inner_product`` unless ``unit_vectors=True``. Scores are float32 on the server, so
they agree with numpy's float64 to ~1e-7 relative (for ``l2``, near distance 0, to ~3e-4).

Index kinds: ``exact`` (``index_options.type = "flat"``: brute force, exact), ``hnsw`` (float
HNSW; ``m``, ``ef_construction``), ``int8_hnsw`` (scalar-quantised HNSW, Elasticsearch's
default; approximate scores). ``auto`` is ``hnsw``.

Search is one ``msearch`` request for all queries: a ``knn`` section with ``k``,
``num_candidates`` and the ``where`` filter as a ``filter`` (pre-filtering: Elasticsearch
returns ``k`` hits whenever ``k`` documents match). Writes go through
``elasticsearch.helpers.streaming_bulk`` with a tqdm progress bar, then one index refresh
(``refresh=True``, the default), so a search right after a write sees it.

The request bodies are built by pure functions (:func:`index_body`, :func:`where_to_query`,
:func:`knn_body`, :func:`keyword_body`, :func:`bulk_actions`), which the unit tests check
exactly; no Elasticsearch server can run on the machines that build vecnb, so the full store
conformance suite runs only against a server at ``VECNB_ES_URL``.

Client / server versions: the ``elasticsearch`` 9.x client talks to Elasticsearch 9 servers;
for an 8.x server install a matching client (``pip install "elasticsearch>=8.14,<9"``).
"""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any, ClassVar, Iterable, Iterator
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np
import pandas as pd

try:
    import elasticsearch
    from elasticsearch import Elasticsearch, helpers
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    from vecnb.errors import MissingDependencyError

    raise MissingDependencyError.for_extra("The 'elasticsearch' store", "elasticsearch", _exc.name) from _exc

from vecnb.errors import (
    DimensionMismatchError,
    InvalidInputError,
    StoreConnectionError,
    StoreError,
    VecnbError,
)
from vecnb._core.filters import And, Cmp, Node, Or, encode_frame, encode_node, equal_forms, parse
from vecnb._core.metrics import resolve_metric
from vecnb._core.progress import progress_bar
from vecnb.stores._server import (
    check_ordering,
    html_table,
    merge_kinds,
    metadata_rows,
    positive_int,
    redact_url,
)
from vecnb._core.redaction import url_secrets
from vecnb.stores.base import BaseStore, pad_results, records_frame

__all__ = [
    "ElasticsearchStore",
    "similarity_for",
    "index_body",
    "where_to_query",
    "knn_body",
    "keyword_body",
    "bulk_actions",
    "vecnb_scores",
    "es_scores",
]

FORMAT_VERSION = 1
MAX_CANDIDATES = 10_000
_INDEX_KIND = {"exact": "flat", "hnsw": "hnsw", "int8_hnsw": "int8_hnsw"}
_BAD_INDEX_CHARS = set('\\/*?"<>| ,#:')


# --------------------------------------------------------------------------- pure request builders
def similarity_for(metric: str, unit_vectors: bool = False) -> str:
    """The ``dense_vector`` similarity for a vecnb metric.

    Examples
    --------
    >>> similarity_for("cosine"), similarity_for("dot"), similarity_for("l2")
    ('cosine', 'max_inner_product', 'l2_norm')
    >>> similarity_for("cosine", unit_vectors=True)
    'cosine'
    """
    metric = resolve_metric(metric)
    if metric == "cosine":
        return "cosine"
    if metric == "l2":
        return "l2_norm"
    return "dot_product" if unit_vectors else "max_inner_product"


def index_body(dim: int, metric: str, kind: str = "hnsw", *, m: int = 16, ef_construction: int = 100,
               unit_vectors: bool = False, text_analyzer: str = "standard", shards: int = 1,
               replicas: int = 0) -> dict:
    """Settings and mappings for ``indices.create``.

    Returns
    -------
    dict
        ``{"settings": {...}, "mappings": {...}}`` -- pass as ``indices.create(index=..., **body)``.

    Examples
    --------
    >>> body = index_body(384, "cosine", m=32)
    >>> body["mappings"]["properties"]["vector"]
    {'type': 'dense_vector', 'dims': 384, 'index': True, 'similarity': 'cosine', 'index_options': {'type': 'hnsw', 'm': 32, 'ef_construction': 100}}
    """
    if kind == "auto":
        kind = "hnsw"
    if kind not in _INDEX_KIND:
        raise InvalidInputError(
            f"Elasticsearch index kind must be one of {', '.join(_INDEX_KIND)} or 'auto'; got {kind!r}.")
    similarity = similarity_for(metric, unit_vectors)
    options: dict[str, Any] = {"type": _INDEX_KIND[kind]}
    if kind != "exact":
        options.update({"m": int(m), "ef_construction": int(ef_construction)})
    return {
        "settings": {"number_of_shards": int(shards), "number_of_replicas": int(replicas)},
        "mappings": {
            "_meta": {"vecnb": FORMAT_VERSION, "dim": int(dim), "metric": resolve_metric(metric),
                      "similarity": similarity, "kind": kind, "fields": {}},
            "dynamic": "strict",
            "date_detection": False,
            "properties": {
                "vecnb_id": {"type": "long"},
                "vector": {"type": "dense_vector", "dims": int(dim), "index": True, "similarity": similarity,
                           "index_options": options},
                "text": {"type": "text", "analyzer": text_analyzer},
                "metadata": {"type": "object", "dynamic": True},
            },
            "dynamic_templates": [
                {"vecnb_strings": {"path_match": "metadata.*", "match_mapping_type": "string",
                                   "mapping": {"type": "keyword"}}},
                {"vecnb_longs": {"path_match": "metadata.*", "match_mapping_type": "long",
                                 "mapping": {"type": "double"}}},
                {"vecnb_doubles": {"path_match": "metadata.*", "match_mapping_type": "double",
                                   "mapping": {"type": "double"}}},
            ],
        },
    }


def check_numbers(metadata: pd.DataFrame | None, fields: dict[str, str], longs: set[str]) -> set[str]:
    """Integer metadata columns new to the index (to map as ``long``), after refusing numbers
    their field would store wrongly: non-integral floats into a ``long`` field (truncated by the
    server), ints past 2**53 into a ``double`` field (rounded), ints outside int64.

    Examples
    --------
    >>> check_numbers(pd.DataFrame({"n": [1, 2**60], "x": [0.5, 1.0]}), {}, set())
    {'n'}
    """
    if metadata is None:
        return set()
    metadata = encode_frame(metadata)
    new: set[str] = set()
    for j, name in enumerate(str(c) for c in metadata.columns):
        col = metadata.iloc[:, j]
        if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
            continue
        vals = col.dropna().to_numpy()
        is_int = pd.api.types.is_integer_dtype(col.dtype)
        if is_int and len(vals) and (vals.max() > 2**63 - 1):
            raise InvalidInputError(f"metadata column {name!r} holds {vals.max()}, past int64; Elasticsearch "
                                    "long fields hold -2**63 .. 2**63-1. Store it as a string column.")
        seen = fields.get(name) not in (None, "unknown")
        if name in longs or (is_int and not seen):
            if not is_int and len(vals) and not np.all(np.mod(vals[np.isfinite(vals)], 1) == 0):
                raise InvalidInputError(
                    f"metadata column {name!r} holds fractional numbers, but the index stores {name!r} as exact "
                    "integers (Elasticsearch 'long', which would truncate them). Round the column, write it "
                    "under another name, or rebuild the index (mode='replace').")
            if name not in longs:
                new.add(name)
        elif is_int and len(vals) and (vals.max() > 2**53 or vals.min() < -2**53):
            raise InvalidInputError(
                f"metadata column {name!r} holds integers past 2**53, but the index stores {name!r} as doubles "
                "(it was first written as floats), which would round them. Write it under another name or "
                "rebuild the index (mode='replace').")
    return new


def _field(name: str) -> str:
    return f"metadata.{name}"


def where_to_query(node: Node | None, fields: dict[str, str] | None = None,
                   longs: Iterable[str] = ()) -> dict | None:
    """Translate a filter tree into an Elasticsearch bool query (``None`` for no filter).

    ``$eq`` -> ``term``; ``$in`` -> ``terms``; ordering -> ``range``; ``$ne`` / ``$nin`` ->
    ``exists`` AND ``must_not`` (a document without the field matches neither: vecnb's
    missing-value rule); ``$and`` -> ``bool.filter``; ``$or`` -> ``bool.should`` with
    ``minimum_should_match: 1``. Field names and values only ever appear as JSON keys and
    values. ``fields`` (name -> kind) enables the pandas type check for ordering comparisons.
    On ``longs`` (fields mapped ``long``) a number outside int64 is never sent (the server refuses
    it): it equals no stored value, and a bound past either end keeps all or none.

    Examples
    --------
    >>> where_to_query(vecnb.filters.parse({"year": {"$gte": 1990}, "lang": {"$in": ["en", "fr"]}}))
    {'bool': {'filter': [{'range': {'metadata.year': {'gte': 1990}}}, {'terms': {'metadata.lang': ['en', 'fr']}}]}}
    """
    if node is None:
        return None
    return _translate(node, fields or {}, frozenset(longs))


_LONG_MIN, _LONG_MAX = -2**63, 2**63 - 1


def _past_long(x: Any) -> int:
    """-1 / 1 for a number below / above int64's range, else 0 (strings, booleans: 0)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return 0
    return -1 if x < _LONG_MIN else 1 if x > _LONG_MAX else 0


def _translate(node: Node, fields: dict[str, str], longs: frozenset = frozenset()) -> dict:
    if isinstance(node, And):
        return {"bool": {"filter": [_translate(c, fields, longs) for c in node.children]}}
    if isinstance(node, Or):
        return {"bool": {"should": [_translate(c, fields, longs) for c in node.children], "minimum_should_match": 1}}
    assert isinstance(node, Cmp)
    f, op, v = _field(node.field), node.op, node.value
    if node.field in longs and op in ("$gt", "$gte", "$lt", "$lte") and _past_long(v):
        check_ordering(node.field, op, v, fields.get(node.field))
        keep_all = (_past_long(v) < 0) == (op in ("$gt", "$gte"))
        return {"exists": {"field": f}} if keep_all else {"match_none": {}}
    if op in ("$eq", "$ne", "$in", "$nin"):
        vals = v if isinstance(v, tuple) else (v,)
        if node.field in longs:
            vals = tuple(x for x in vals if not _past_long(x))
        vals = _equal_values(vals, fields.get(node.field))
        if not vals:  # no stored value can equal these
            return {"match_none": {}} if op in ("$eq", "$in") else {"exists": {"field": f}}
        if op in ("$eq", "$ne") and len(vals) == 1:
            v = vals[0]
        else:
            op, v = ("$in" if op in ("$eq", "$in") else "$nin"), tuple(vals)
    if op == "$eq":
        return {"term": {f: v}}
    if op == "$in":
        return {"terms": {f: list(v)}}
    if op == "$ne":
        return {"bool": {"filter": [{"exists": {"field": f}}], "must_not": [{"term": {f: v}}]}}
    if op == "$nin":
        return {"bool": {"filter": [{"exists": {"field": f}}], "must_not": [{"terms": {f: list(v)}}]}}
    check_ordering(node.field, op, v, fields.get(node.field))
    return {"range": {f: {op[1:]: v}}}


def _equal_values(vals: tuple, kind: str | None) -> list:
    """Values to match for an equality: ``True`` equals 1 and ``False`` 0 (pandas' rule), in the
    form a field of known ``kind`` holds (a boolean field is never sent a number, nor a number
    field a boolean); values no row of that kind can equal are dropped."""
    if kind not in ("boolean", "number"):
        return list(vals)
    out: list = []
    for v in vals:
        for x in equal_forms(v):
            if (kind == "boolean") != isinstance(x, bool):
                continue
            if not any(type(x) is type(y) and x == y for y in out):
                out.append(x)
    return out


def knn_body(query: np.ndarray, k: int, *, num_candidates: int | None = None, filter: dict | None = None) -> dict:
    """The search body of one k-NN query (``_source`` off: only ``_id`` and ``_score`` come back).

    ``num_candidates`` defaults to ``max(100, 2 k)``, capped at 10,000 and never below ``k``.

    Examples
    --------
    >>> knn_body(np.array([0.5, 0.25], np.float32), 5, num_candidates=50)
    {'knn': {'field': 'vector', 'query_vector': [0.5, 0.25], 'k': 5, 'num_candidates': 50}, 'size': 5, '_source': False}
    """
    k = int(k)
    if k > MAX_CANDIDATES:
        raise InvalidInputError(f"Elasticsearch returns at most {MAX_CANDIDATES} neighbours per query; k={k}.")
    nc = int(num_candidates) if num_candidates is not None else max(100, 2 * k)
    nc = min(MAX_CANDIDATES, max(nc, k))
    knn: dict[str, Any] = {"field": "vector", "query_vector": [float(x) for x in np.asarray(query, np.float32)],
                           "k": k, "num_candidates": nc}
    if filter is not None:
        knn["filter"] = filter
    return {"knn": knn, "size": k, "_source": False}


def keyword_body(text: str, k: int, *, filter: dict | None = None, operator: str = "or") -> dict:
    """The search body of one keyword (BM25 ``match``) query.

    Examples
    --------
    >>> keyword_body("apple pie", 3, filter={"term": {"metadata.lang": "en"}})
    {'query': {'bool': {'must': [{'match': {'text': {'query': 'apple pie', 'operator': 'or'}}}], 'filter': [{'term': {'metadata.lang': 'en'}}]}}, 'size': 3, '_source': False}
    """
    match = {"match": {"text": {"query": text, "operator": operator}}}
    if filter is None:
        query: dict = match
    else:
        query = {"bool": {"must": [match], "filter": [filter]}}
    return {"query": query, "size": int(k), "_source": False}


def bulk_actions(index: str, ids: np.ndarray, vectors: np.ndarray, rows: list[dict | None] | None = None,
                 texts: list[str | None] | None = None) -> Iterator[dict]:
    """``index`` actions for ``helpers.streaming_bulk`` (an index action replaces the whole document).

    Vectors are sent as JSON numbers holding the float32 values exactly; missing metadata
    values and ``None`` texts are left out of the document.

    Examples
    --------
    >>> actions = bulk_actions("fruit", np.array([1, 2]), np.eye(2, dtype=np.float32), texts=["apple", None])
    >>> next(actions)
    {'_op_type': 'index', '_index': 'fruit', '_id': '1', '_source': {'vecnb_id': 1, 'vector': [1.0, 0.0], 'text': 'apple'}}
    """
    for i in range(len(ids)):
        source: dict[str, Any] = {"vecnb_id": int(ids[i]), "vector": vectors[i].tolist()}
        if rows is not None and rows[i]:
            source["metadata"] = rows[i]
        if texts is not None and texts[i] is not None:
            source["text"] = texts[i]
        yield {"_op_type": "index", "_index": index, "_id": str(int(ids[i])), "_source": source}


def es_scores(values: np.ndarray, similarity: str) -> np.ndarray:
    """Elasticsearch's ``_score`` for similarity values (cosine, dot) or distances (``l2_norm``).

    The forward map, for tests and documentation; :func:`vecnb_scores` is its inverse.

    Examples
    --------
    >>> es_scores(np.array([1.0, 0.0, -1.0]), "cosine")
    array([1. , 0.5, 0. ])
    >>> es_scores(np.array([0.0, 3.0]), "l2_norm")
    array([1. , 0.1])
    """
    x = np.asarray(values, dtype=np.float64)
    if similarity in ("cosine", "dot_product"):
        return np.maximum((1.0 + x) / 2.0, 0.0) if similarity == "dot_product" else (1.0 + x) / 2.0
    if similarity == "max_inner_product":
        return np.where(x < 0, 1.0 / (1.0 - np.minimum(x, 0)), x + 1.0)
    if similarity == "l2_norm":
        return 1.0 / (1.0 + x * x)
    raise InvalidInputError(f"unknown similarity {similarity!r}")


def vecnb_scores(es: np.ndarray, similarity: str) -> np.ndarray:
    """Map Elasticsearch ``_score`` values back to vecnb scores (higher is closer), exactly.

    Returns cosine similarity (``cosine``), inner product (``dot_product``,
    ``max_inner_product``) or minus the Euclidean distance (``l2_norm``).

    Examples
    --------
    >>> vecnb_scores(es_scores(np.array([0.25, -0.5]), "cosine"), "cosine")
    array([ 0.25, -0.5 ])
    >>> vecnb_scores(np.array([1.0, 0.1]), "l2_norm")
    array([-0., -3.])
    """
    s = np.asarray(es, dtype=np.float64)
    if similarity in ("cosine", "dot_product"):
        return 2.0 * s - 1.0
    if similarity == "max_inner_product":
        with np.errstate(divide="ignore"):
            return np.where(s < 1.0, 1.0 - 1.0 / s, s - 1.0)
    if similarity == "l2_norm":
        with np.errstate(divide="ignore"):
            return -np.sqrt(np.maximum(1.0 / s - 1.0, 0.0))
    raise InvalidInputError(f"unknown similarity {similarity!r}")


def check_index_name(name: str) -> str:
    """Elasticsearch index-name rules, checked before any request.

    Examples
    --------
    >>> check_index_name("cisi-2026")
    'cisi-2026'
    >>> check_index_name("CISI")
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: 'CISI' is not a valid Elasticsearch index name: use lowercase, no   " ...
    """
    if not isinstance(name, str) or not name or name in (".", ".."):
        raise InvalidInputError(f"index must be a non-empty name, got {name!r}.")
    bad = sorted(set(name) & _BAD_INDEX_CHARS)
    if name != name.lower() or bad or name[0] in "-_+" or len(name.encode()) > 255:
        raise InvalidInputError(
            f"{name!r} is not a valid Elasticsearch index name: use lowercase, "
            f"no {' '.join(sorted(_BAD_INDEX_CHARS))}, not starting with - _ +, at most 255 bytes (e.g. 'vecnb_items')."
        )
    return name


# --------------------------------------------------------------------------- the store
class ElasticsearchStore(BaseStore):
    """Vectors, metadata and text in one Elasticsearch index.

    Parameters
    ----------
    dim : int
    metric : {"cosine", "dot", "l2"}
    kind : {"auto", "exact", "hnsw", "int8_hnsw"}
    url : str, optional
        ``http(s)://[user:password@]host:9200``; defaults to ``$VECNB_ES_URL``. Credentials in
        the URL become basic auth and are never shown (repr, errors).
    client : elasticsearch.Elasticsearch, optional
        Use this client instead (not closed by :meth:`close`).
    index : str
        Index name (lowercase). An existing vecnb index with the same dimension and metric is reused.
    api_key : str, optional
        API key (default ``$VECNB_ES_API_KEY``).
    m, ef_construction : int
        HNSW build parameters (Elasticsearch defaults 16, 100).
    num_candidates : int, optional
        Candidates per shard for k-NN (default ``max(100, 2k)``).
    unit_vectors : bool
        With ``metric="dot"``: vectors are unit length, use the faster ``dot_product``
        similarity (checked on write).
    refresh : bool
        Refresh the index once after each write, so a search right after it sees the new
        documents (default). ``False`` leaves it to the index's ``refresh_interval`` (faster
        bulk loads; call ``store.refresh_now()`` before searching).
    request_timeout : float
        Seconds per request (connection failures surface within it).
    recreate : bool
        Delete an existing index of that name first.
    progress : bool, optional
        tqdm bar for bulk writes (default: for 20,000 rows or more).

    Examples
    --------
    The constructor only stores its parameters; the client connects on first use (a real server, or
    the emulator the tests use):

    >>> store = vecnb.stores.create("elasticsearch", dim=384, url="http://127.0.0.1:9200", index="cisi")
    >>> store.name, store.dim, store.metric
    ('elasticsearch', 384, 'cosine')
    >>> store.locator()
    {'url': 'http://127.0.0.1:9200', 'index': 'cisi'}
    """

    name: ClassVar[str] = "elasticsearch"
    capabilities: ClassVar[frozenset[str]] = frozenset({"fetch", "home", "info", "iter_ids", "keyword", "metadata",
                                                        "reference", "texts"})
    kinds: ClassVar[tuple[str, ...]] = ("exact", "hnsw", "int8_hnsw")

    def __init__(self, dim: int, metric: str = "cosine", kind: str = "auto", *, url: str | None = None,
                 client: Any = None, index: str = "vecnb_items", api_key: str | None = None, m: int = 16,
                 ef_construction: int = 100, num_candidates: int | None = None, unit_vectors: bool = False,
                 refresh: bool = True, request_timeout: float = 10.0, recreate: bool = False,
                 progress: bool | None = None, chunk_size: int = 500):
        super().__init__(dim=dim, metric=metric, kind=kind)
        if client is None:
            url = url or os.environ.get("VECNB_ES_URL")
            if not url:
                raise InvalidInputError(
                    "ElasticsearchStore needs a server: pass url='http://localhost:9200' (or client=an "
                    "elasticsearch.Elasticsearch), or set VECNB_ES_URL."
                )
        if self.dim > 4096:
            raise InvalidInputError(f"Elasticsearch dense_vector fields hold at most 4096 dimensions; got {self.dim}.")
        if not isinstance(refresh, bool):
            raise InvalidInputError(f"refresh must be True or False, got {refresh!r}.")
        if unit_vectors and self.metric != "dot":
            raise InvalidInputError("unit_vectors=True only applies to metric='dot'.")
        self.index = check_index_name(index)
        self.url = url
        self.api_key = api_key if api_key is not None else os.environ.get("VECNB_ES_API_KEY")
        self.m, self.ef_construction = int(m), int(ef_construction)
        self.num_candidates = num_candidates
        self.unit_vectors = bool(unit_vectors)
        self.similarity = similarity_for(self.metric, self.unit_vectors)
        self.refresh = refresh
        self.request_timeout = float(request_timeout)
        self.recreate = bool(recreate)
        self.progress = progress
        self.chunk_size = int(chunk_size)
        self._client = client
        self._owns_client = client is None
        self._ready = False
        self._fields: dict[str, str] = {}
        self._longs: set[str] = set()  # metadata fields mapped ``long`` (exact ints)
        self._secrets = [s for s in (self.api_key, *url_secrets(url)) if s]
        if url is not None:
            _check_url(url, self.api_key, self._scrub)

    # ------------------------------------------------------------------ plumbing
    @property
    def where_url(self) -> str:
        return redact_url(self.url) if self.url else "<client>"

    def _scrub(self, msg: Any) -> str:
        msg = str(msg)
        for s in self._secrets:
            msg = msg.replace(s, "***")
        if self.url:
            msg = msg.replace(self.url, redact_url(self.url))
        return msg

    def _wrap(self, exc: Exception, operation: str) -> VecnbError:
        if isinstance(exc, VecnbError):
            return exc
        if isinstance(exc, (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout)):
            return StoreConnectionError(
                f"could not reach Elasticsearch at {self.where_url} within {self.request_timeout:.0f} s: "
                f"{self._scrub(exc)}. Check that the server is running and the URL.",
                store=self.name, operation=operation)
        if isinstance(exc, elasticsearch.AuthenticationException):
            return StoreConnectionError(
                f"Elasticsearch at {self.where_url} refused the credentials (401); check the user / password or "
                "api_key.", store=self.name, operation=operation)
        if isinstance(exc, elasticsearch.UnsupportedProductError):
            return StoreConnectionError(f"{self.where_url} is not an Elasticsearch server this client supports: "
                                        f"{self._scrub(exc)}", store=self.name, operation=operation)
        if isinstance(exc, elasticsearch.ApiError):
            hint = ""
            if "media_type_header_exception" in str(exc) or "compatible-with" in str(exc):
                hint = (" The client and server major versions differ: install the client matching the server, "
                        'e.g. pip install "elasticsearch>=8.14,<9" for an 8.x server.')
            return StoreError(f"Elasticsearch error on index {self.index!r}: {self._scrub(exc)}.{hint}",
                              store=self.name, operation=operation)
        return StoreError(f"{type(exc).__name__}: {self._scrub(exc)}", store=self.name, operation=operation)

    def _es(self) -> Any:
        self._check_open()
        if self._client is None:
            self._client = _make_client(self.url, self.api_key, self.request_timeout)
        if not self._ready:
            try:
                self._setup(self._client)
            except Exception as exc:
                raise self._wrap(exc, "setup") from None
        return self._client

    def _setup(self, es: Any) -> None:
        if self.recreate:
            es.options(ignore_status=404).indices.delete(index=self.index)
            self.recreate = False
        if es.indices.exists(index=self.index):
            self._adopt(es)
        else:
            body = index_body(self.dim, self.metric, self.kind, m=self.m, ef_construction=self.ef_construction,
                              unit_vectors=self.unit_vectors)
            try:
                es.indices.create(index=self.index, **body)
            except elasticsearch.BadRequestError as exc:
                if "resource_already_exists_exception" not in str(exc):
                    raise
                self._adopt(es)
        self._ready = True

    def _adopt(self, es: Any) -> None:
        mapping = es.indices.get_mapping(index=self.index)
        body = next(iter(dict(mapping).values()))["mappings"]
        meta = body.get("_meta") or {}
        vec = (body.get("properties") or {}).get("vector") or {}
        if "vecnb" not in meta or vec.get("type") != "dense_vector":
            raise StoreError(f"index {self.index!r} exists but was not created by vecnb; pass another index= "
                             "name, or recreate=True to delete and rebuild it.", store=self.name, operation="setup")
        if int(vec.get("dims", -1)) != self.dim:
            raise DimensionMismatchError(
                f"index {self.index!r} holds {vec.get('dims')}-d vectors but this store was asked for {self.dim}-d. "
                "Use another index= name, recreate=True, or embed with the model the index was built with.")
        if vec.get("similarity") != self.similarity:
            raise InvalidInputError(
                f"index {self.index!r} was built for similarity {vec.get('similarity')!r} (metric "
                f"{meta.get('metric')!r}); this store needs {self.similarity!r}. Use another index= name.")
        self._fields = dict(meta.get("fields") or {})
        self._longs = set(meta.get("long_fields") or ())

    def home_reloaded(self) -> None:
        """Read the index's mapping again on next use: another writer may have added fields (their
        kinds steer how filters are sent: ``{"flag": 1}`` on a boolean field is sent ``true``) or
        replaced the index."""
        self._ready = False

    def _register_fields(self, es: Any, kinds: dict[str, str], metadata: pd.DataFrame | None = None) -> None:
        merged = dict(self._fields)
        for f, k in kinds.items():
            merged[f] = merge_kinds(merged.get(f), k)
        longs = self._longs | check_numbers(metadata, self._fields, self._longs)
        if merged != self._fields or longs != self._longs:
            meta = {"vecnb": FORMAT_VERSION, "dim": self.dim, "metric": self.metric, "similarity": self.similarity,
                    "kind": "hnsw" if self.kind == "auto" else self.kind, "fields": merged,
                    "long_fields": sorted(longs)}
            new = sorted(longs - self._longs)
            props = {"metadata": {"type": "object", "properties": {f: {"type": "long"} for f in new}}} if new else None
            es.indices.put_mapping(index=self.index, meta=meta, properties=props)
            self._fields, self._longs = merged, longs

    def _bar(self, n: int, desc: str):
        show = self.progress if self.progress is not None else n >= 20_000
        return progress_bar(n, desc) if show else None

    def _bulk(self, es: Any, actions: Iterable[dict], n: int, desc: str, operation: str) -> None:
        bar = self._bar(n, desc)
        errors: list = []
        try:
            for ok, item in helpers.streaming_bulk(es, actions, chunk_size=self.chunk_size, raise_on_error=False,
                                                   max_retries=2):
                if not ok:
                    (op, res), = item.items()
                    if not (op == "delete" and res.get("status") == 404):
                        errors.append(res)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        if errors:
            first = errors[0]
            raise StoreError(f"{len(errors)} of {n} bulk {operation} actions failed; first: id {first.get('_id')}: "
                             f"{self._scrub(first.get('error'))}", store=self.name, operation=operation)
        if self.refresh:
            es.indices.refresh(index=self.index)

    # ------------------------------------------------------------------ protocol
    def upsert(self, ids: Any, vectors: Any, metadata: pd.DataFrame | None = None,
               texts: list[str] | None = None) -> None:
        """Insert or replace documents (bulk ``index`` actions), then refresh per ``refresh``."""
        ids, vecs = self._check_write(ids, vectors, metadata, texts)
        if len(ids) == 0:
            return
        if self.similarity == "dot_product":
            norms = np.linalg.norm(vecs.astype(np.float64), axis=1)
            if not np.allclose(norms, 1.0, atol=1e-4):
                bad = int(np.flatnonzero(~np.isclose(norms, 1.0, atol=1e-4))[0])
                raise InvalidInputError(
                    f"unit_vectors=True needs unit-length vectors; row {bad} has norm {norms[bad]:.4f}. "
                    "Normalise them (vecnb.metrics.normalize) or drop unit_vectors.")
        rows, kinds = metadata_rows(metadata, len(ids))
        es = self._es()
        try:
            self._register_fields(es, kinds, metadata)
            self._bulk(es, bulk_actions(self.index, ids, vecs, rows, texts), len(ids),
                       f"Elasticsearch bulk -> {self.index}", "upsert")
        except Exception as exc:
            raise self._wrap(exc, "upsert") from None

    def delete(self, ids: Any) -> None:
        """Delete documents by key; keys that are not stored are ignored."""
        self._check_open()
        ids = np.sort(np.asarray(ids, dtype=np.int64).reshape(-1))  # repeated or unknown ids: a no-op, as elsewhere
        ids = ids[np.r_[True, ids[1:] != ids[:-1]]] if len(ids) else ids
        if len(ids) == 0:
            return
        es = self._es()
        actions = ({"_op_type": "delete", "_index": self.index, "_id": str(int(i))} for i in ids)
        try:
            self._bulk(es, actions, len(ids), f"Elasticsearch delete -> {self.index}", "delete")
        except Exception as exc:
            raise self._wrap(exc, "delete") from None

    def search(self, vectors: Any, k: int, where: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """k-NN search (one ``msearch`` for all queries), scores mapped back to vecnb's convention.

        Returns
        -------
        ids : ndarray (nq, k) int64, -1 padded; scores : ndarray (nq, k) float64, -inf padded
        """
        q = self._check_queries(vectors, k)
        k = self._width(k)  # a huge k: clamped to the rows stored before anything else
        if k == 0:
            return pad_results([[] for _ in q], [[] for _ in q], 0)
        node = encode_node(parse(where))
        es = self._es()
        flt = where_to_query(node, self._fields, self._longs)
        bodies = [knn_body(q[i], k, num_candidates=self.num_candidates, filter=flt) for i in range(len(q))]
        id_rows, score_rows = self._msearch(es, bodies, "search", transform=True)
        return pad_results(id_rows, score_rows, int(k))

    def _msearch(self, es: Any, bodies: list[dict], operation: str, transform: bool) -> tuple[list, list]:
        searches: list[dict] = []
        for b in bodies:
            searches.extend([{"index": self.index}, b])
        try:
            res = es.msearch(searches=searches) if searches else {"responses": []}
        except Exception as exc:
            raise self._wrap(exc, operation) from None
        id_rows, score_rows = [], []
        for r in res["responses"]:
            if "error" in r:
                raise StoreError(f"Elasticsearch error on index {self.index!r}: {self._scrub(r['error'])}",
                                 store=self.name, operation=operation)
            hits = r["hits"]["hits"]
            keys = np.array([int(h["_id"]) for h in hits], dtype=np.int64)
            raw = np.array([h["_score"] for h in hits], dtype=np.float64)
            sc = vecnb_scores(raw, self.similarity) if transform else raw
            order = np.lexsort((keys, -sc))  # best first; ties by key (deterministic)
            id_rows.append(keys[order])
            score_rows.append(sc[order])
        return id_rows, score_rows

    def keyword(self, texts: Any, k: int, where: Any = None, *, operator: str = "or") -> tuple[np.ndarray, np.ndarray]:
        """BM25 ``match`` query on the stored texts (``operator="and"``: every word must match)."""
        self._check_open()
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        k = self._width(k)
        if k == 0:
            return pad_results([[] for _ in texts], [[] for _ in texts], 0)
        if operator not in ("or", "and"):
            raise InvalidInputError(f"operator must be 'or' or 'and', got {operator!r}.")
        es = self._es()
        flt = where_to_query(encode_node(parse(where)), self._fields, self._longs)
        bodies = [keyword_body(t, k, filter=flt, operator=operator) for t in texts]
        id_rows, score_rows = self._msearch(es, bodies, "keyword", transform=False)
        return pad_results(id_rows, score_rows, int(k))

    def __len__(self) -> int:
        es = self._es()
        try:
            return int(es.count(index=self.index)["count"])
        except Exception as exc:
            raise self._wrap(exc, "len") from None

    def fetch(self, ids: Any) -> tuple[np.ndarray, np.ndarray]:
        """Read vectors back: ``(vectors (n, dim) float32, found (n,) bool)``."""
        self._check_open()
        ids = np.asarray(ids).astype(np.int64, copy=False)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        found = np.zeros(len(ids), dtype=bool)
        if len(ids) == 0:
            return out, found
        es = self._es()
        try:
            res = es.mget(index=self.index, ids=[str(int(i)) for i in ids], source_includes=["vector"])
        except Exception as exc:
            raise self._wrap(exc, "fetch") from None
        for i, doc in enumerate(res["docs"]):
            if doc.get("found"):
                out[i] = np.asarray(doc["_source"]["vector"], dtype=np.float32)
                found[i] = True
        return out, found

    def _fetch_source(self, ids: Any, field: str, operation: str) -> tuple[np.ndarray, list]:
        self._check_open()
        ids = np.asarray(ids).astype(np.int64, copy=False).reshape(-1)
        if len(ids) == 0:
            return ids, []
        es = self._es()
        try:
            res = es.mget(index=self.index, ids=[str(int(i)) for i in ids], source_includes=[field])
        except Exception as exc:
            raise self._wrap(exc, operation) from None
        return ids, [(doc.get("_source") or {}).get(field) if doc.get("found") else None for doc in res["docs"]]

    def fetch_metadata(self, ids: Any) -> pd.DataFrame:
        """Metadata of ``ids``: one row per id, in order (missing values for unknown ids).

        Dates / datetimes come back as numbers of nanoseconds since the epoch (UTC), as stored.
        """
        _, rows = self._fetch_source(ids, "metadata", "fetch_metadata")
        return records_frame(rows)

    def fetch_texts(self, ids: Any) -> list[str | None]:
        """The texts stored for ``ids`` (``None`` where a key has no text or is missing)."""
        return self._fetch_source(ids, "text", "fetch_texts")[1]

    def iter_ids(self, batch_size: int = 1000) -> Iterator[np.ndarray]:
        """Every key in ascending order (``search_after`` on ``vecnb_id``)."""
        batch_size = positive_int(batch_size, "batch_size")
        es = self._es()
        after = None
        while True:
            kwargs: dict[str, Any] = {"index": self.index, "size": int(batch_size), "sort": [{"vecnb_id": "asc"}],
                                      "source": False, "query": {"match_all": {}}}
            if after is not None:
                kwargs["search_after"] = after
            try:
                hits = es.search(**kwargs)["hits"]["hits"]
            except Exception as exc:
                raise self._wrap(exc, "iter_ids") from None
            if not hits:
                return
            yield np.array([int(h["_id"]) for h in hits], dtype=np.int64)
            if len(hits) < batch_size:
                return
            after = hits[-1]["sort"]

    def refresh_now(self) -> None:
        """Make every write so far searchable (an index refresh)."""
        es = self._es()
        try:
            es.indices.refresh(index=self.index)
        except Exception as exc:
            raise self._wrap(exc, "refresh") from None

    def info(self) -> dict:
        """What the store chose (no secrets)."""
        return {"store": self.name, "kind": "hnsw" if self.kind == "auto" else self.kind, "requested_kind": self.kind,
                "metric": self.metric, "similarity": self.similarity, "dim": self.dim, "index": self.index,
                "url": self.where_url, "params": {"m": self.m, "ef_construction": self.ef_construction,
                                                  "num_candidates": self.num_candidates, "refresh": self.refresh},
                "fields": dict(self._fields)}

    def drop(self) -> None:
        """Delete the index from the server, then close the store."""
        es = self._es()
        try:
            es.options(ignore_status=404).indices.delete(index=self.index)
        except Exception as exc:
            raise self._wrap(exc, "drop") from None
        self.close()

    # ------------------------------------------------------------------ index record (vecnb.index.home)
    #: an index here keeps its record in a side index ``<index>__vecnb_home`` (docs: seq + binary payload)
    keeps_home: ClassVar[bool] = True
    reference_options: ClassVar[tuple[str, ...]] = ("index", "kind", "num_candidates", "request_timeout", "refresh")

    @classmethod
    def open_existing(cls, *, url: str | None = None, client: Any = None, index: str = "vecnb_items",
                      api_key: str | None = None, request_timeout: float = 10.0,
                      **overrides: Any) -> ElasticsearchStore | None:
        """A store bound to an existing vecnb index (or alias), dimension and metric read from its mapping; or None.

        Raises :class:`~vecnb.errors.IndexFormatError` for an index vecnb did not create.
        """
        from vecnb.errors import IndexFormatError

        probe = cls(dim=1, url=url, client=client, index=index, api_key=api_key, request_timeout=request_timeout)
        try:
            es = probe._client if probe._client is not None else _make_client(probe.url, probe.api_key,
                                                                               probe.request_timeout)
            probe._client = es
            try:
                if not es.indices.exists(index=index):
                    return None
                mapping = es.indices.get_mapping(index=index)
            except Exception as exc:
                raise probe._wrap(exc, "open") from None
        finally:
            probe.close()
        body = next(iter(dict(mapping).values()))["mappings"]
        meta = body.get("_meta") or {}
        vec = (body.get("properties") or {}).get("vector") or {}
        if "vecnb" not in meta or vec.get("type") != "dense_vector" or meta.get("metric") not in ("cosine", "dot", "l2"):
            raise IndexFormatError(f"Elasticsearch index {index!r} exists but was not created by vecnb; "
                                   "pass another index= name.")
        kind = overrides.pop("kind", meta.get("kind", "auto"))
        return cls(dim=int(vec["dims"]), metric=meta["metric"], kind=kind, url=url, client=client, index=index,
                   api_key=api_key, request_timeout=request_timeout,
                   unit_vectors=vec.get("similarity") == "dot_product", **overrides)

    @classmethod
    def open_reference(cls, *, url: str | None = None, client: Any = None, **options: Any) -> ElasticsearchStore:
        """Reopen an index saved by reference; the URL comes from ``url=`` or ``$VECNB_ES_URL``."""
        from vecnb.errors import IndexNotFoundError

        st = cls.open_existing(url=url, client=client, **options)
        if st is None:
            raise IndexNotFoundError(f"Elasticsearch index {options.get('index')!r} no longer exists.")
        return st

    def reference(self) -> dict[str, Any]:
        """What reopens this index (saved by reference): index name and settings -- no URL, no key."""
        out = {"index": self.index, "kind": self.kind, "request_timeout": self.request_timeout, "refresh": self.refresh}
        if self.num_candidates is not None:
            out["num_candidates"] = self.num_candidates
        return out

    def locator(self) -> dict[str, Any]:
        return {"url": self.where_url, "index": self.index}

    @property
    def _home_index(self) -> str:
        return f"{self.index}__vecnb_home"

    def _home_max(self, es: Any) -> int | None:
        hits = es.search(index=self._home_index, size=1, sort=[{"seq": "desc"}], source=False,
                         query={"match_all": {}})["hits"]["hits"]
        return int(hits[0]["sort"][0]) if hits else None

    def home_version(self) -> int | None:
        """The index record's last sequence number (one request; None: no record)."""
        es = self._es()
        try:
            return self._home_max(es)
        except Exception as exc:
            if getattr(exc, "status_code", None) == 404 or getattr(exc, "meta", None) is not None and \
                    getattr(exc.meta, "status", None) == 404:
                return None
            raise self._wrap(exc, "search") from None

    def home_read(self) -> list[tuple[int, bytes]]:
        """The index record's entries ``[(seq, payload)]`` in order (``[]`` when there is none)."""
        es = self._es()
        out: list[tuple[int, bytes]] = []
        try:
            if not es.indices.exists(index=self._home_index):
                return []
            after = None
            while True:
                kw: dict[str, Any] = {"index": self._home_index, "size": 100, "sort": [{"seq": "asc"}],
                                      "query": {"match_all": {}}}
                if after is not None:
                    kw["search_after"] = after
                hits = es.search(**kw)["hits"]["hits"]
                out += [(int(h["_source"]["seq"]), base64.b64decode(h["_source"]["payload"])) for h in hits]
                if len(hits) < 100:
                    return out
                after = hits[-1]["sort"]
        except Exception as exc:
            raise self._wrap(exc, "open") from None

    def _home_write(self, es: Any, entries: list[tuple[int, bytes]]) -> None:
        ops: list[dict] = []
        for seq, payload in entries:
            ops += [{"create": {"_index": self._home_index, "_id": str(seq)}},
                    {"seq": int(seq), "payload": base64.b64encode(payload).decode("ascii")}]
        res = es.bulk(operations=ops, refresh=True)
        if res.get("errors"):
            items = [next(iter(i.values())) for i in res["items"]]
            if any(i.get("status") == 409 for i in items):
                raise StoreError(f"write conflict on the index record of {self.index!r}", store=self.name,
                                 operation="write")
            raise StoreError(f"could not write the index record of {self.index!r}: {items[0].get('error')}",
                             store=self.name, operation="write")

    def home_append(self, seq: int, payload: bytes) -> None:
        """Append entry ``seq`` (a ``create``: a conflict if another writer got there first)."""
        es = self._es()
        try:
            last = self._home_max(es)
            if last is not None and last >= seq:
                raise StoreError(f"write conflict on the index record of {self.index!r}", store=self.name,
                                 operation="write")
            self._home_write(es, [(seq, payload)])
        except Exception as exc:
            raise self._wrap(exc, "write") from None

    def home_reset(self, payloads: list[bytes], fresh: bool = False) -> int:
        """Write ``payloads`` as the new record, then delete the older entries (a reader in between sees both,
        which replays to the same index: the new entries restate every live row)."""
        es = self._es()
        try:
            if not es.indices.exists(index=self._home_index):
                es.indices.create(index=self._home_index, mappings={"properties": {
                    "seq": {"type": "long"}, "payload": {"type": "binary"}}})
            last = self._home_max(es)
            if fresh and last is not None:
                raise StoreError(f"write conflict: index {self.index!r} already holds an index record",
                                 store=self.name, operation="write")
            start = max(0 if last is None else last + 1, getattr(self, "_home_floor", 0))
            old = [seq for seq, _ in self.home_read()]
            self._home_write(es, [(start + i, p) for i, p in enumerate(payloads)])
            if old:
                es.bulk(operations=[{"delete": {"_index": self._home_index, "_id": str(q)}} for q in old],
                        refresh=True)
        except Exception as exc:
            raise self._wrap(exc, "write") from None
        return start + len(payloads) - 1

    def staging(self, *, dim: int, metric: str, kind: str, options: dict) -> ElasticsearchStore:
        """An empty index beside this one, to build a replacement (``mode="replace"``)."""
        opts = {**options, "index": f"{self.index[:100]}__new_{uuid.uuid4().hex[:8]}"}
        opts.pop("recreate", None)
        new = type(self)(dim=dim, metric=metric, kind=kind, **opts)
        last = self.home_version()  # the new record's numbers continue after the old one's (readers tell)
        new._home_floor = 0 if last is None else last + 1
        return new

    def discard(self) -> None:
        """Delete this (staging) index and its record (also after :meth:`close`: a failed build closes it)."""
        es = self._client if self._client is not None else _make_client(self.url, self.api_key, self.request_timeout)
        try:
            for name in (self.index, self._home_index):
                es.options(ignore_status=404).indices.delete(index=name)
        except Exception as exc:
            raise self._wrap(exc, "discard") from None
        finally:
            if es is not self._client:
                es.close()

    def _concrete(self, es: Any, name: str) -> list[str]:
        if not es.indices.exists(index=name):
            return []
        return list(dict(es.indices.get_mapping(index=name)))

    def take_place_of(self, old: ElasticsearchStore) -> None:
        """Point ``old``'s name (and its record's) at this index in ONE alias update, removing the old
        indexes in the same step: a reader sees the old index or the new one, never half."""
        es = self._es()
        target, target_home = old.index, old._home_index
        try:
            actions: list[dict] = []
            for name in self._concrete(es, target) + self._concrete(es, target_home):
                actions.append({"remove_index": {"index": name}})
            actions += [{"add": {"index": self.index, "alias": target}},
                        {"add": {"index": self._home_index, "alias": target_home}}]
            es.indices.update_aliases(actions=actions)
        except Exception as exc:
            raise self._wrap(exc, "replace") from None
        old.close()
        self.index = target

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            try:
                self._client.close()
            except Exception:  # pragma: no cover - best effort
                pass
            self._client = None
        super().close()

    def _state(self) -> str:
        if self._closed:
            return "closed"
        return "connected" if self._ready else "not connected yet"

    def __repr__(self) -> str:
        return (f"<ElasticsearchStore index={self.index!r} kind={self.kind} metric={self.metric} "
                f"similarity={self.similarity} dim={self.dim} at {self.where_url} ({self._state()})>")

    def _repr_html_(self) -> str:
        rows = [("index", self.index), ("kind", self.kind), ("metric", self.metric), ("similarity", self.similarity),
                ("dim", self.dim), ("server", self.where_url), ("state", self._state())]
        return html_table("ElasticsearchStore", rows)


def _check_url(url: Any, api_key: str | None, scrub: Any) -> None:
    """Refuse a URL the client would reject with a raw error (which may quote the credentials)."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInputError(f"url must be a URL such as 'http://localhost:9200', got {scrub(url)!r}.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidInputError(f"url {scrub(url)!r} is not a valid URL ({scrub(exc)}).") from None
    if parts.username is not None and api_key:
        raise InvalidInputError(
            f"url {scrub(url)!r} carries a user name / password and api_key is set too (argument or "
            "VECNB_ES_API_KEY): Elasticsearch takes one kind of credentials. Remove the user:password@ part "
            "of the URL, or the api_key.")


def _make_client(url: str, api_key: str | None, timeout: float) -> Any:
    """A client for ``url``; credentials in the URL become ``basic_auth`` (kept out of the host string)."""
    parts = urlsplit(url)
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    kwargs: dict[str, Any] = {"request_timeout": timeout, "max_retries": 1, "retry_on_timeout": False}
    if auth is not None:
        kwargs["basic_auth"] = auth
    if api_key:
        kwargs["api_key"] = api_key
    return Elasticsearch(url, **kwargs)

