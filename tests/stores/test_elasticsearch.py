"""Elasticsearch store: the exact request bodies it sends, the exact inversion of Elasticsearch's
scores, and its error handling -- without an Elasticsearch server (none can be installed on the
machines that build vecnb). The full conformance suite runs against a real server in
test_store_elasticsearch.py when ``VECNB_ES_URL`` is set.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("elasticsearch")

from vecnb._core import filters  # noqa: E402
from vecnb.errors import FilterError, InvalidInputError, StoreConnectionError  # noqa: E402
from vecnb.stores import _server  # noqa: E402
from vecnb.stores.elasticsearch_store import (  # noqa: E402
    ElasticsearchStore,
    _make_client,
    bulk_actions,
    check_index_name,
    es_scores,
    index_body,
    keyword_body,
    knn_body,
    similarity_for,
    vecnb_scores,
    where_to_query,
)

HOSTILE = 'a"; DROP TABLE x; --'


# --------------------------------------------------------------------------- mapping
def test_index_body_hnsw_cosine_exactly():
    assert index_body(384, "cosine", "hnsw", m=32, ef_construction=200) == {
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {
            "_meta": {"vecnb": 1, "dim": 384, "metric": "cosine", "similarity": "cosine", "kind": "hnsw", "fields": {}},
            "dynamic": "strict",
            "date_detection": False,
            "properties": {
                "vecnb_id": {"type": "long"},
                "vector": {"type": "dense_vector", "dims": 384, "index": True, "similarity": "cosine",
                           "index_options": {"type": "hnsw", "m": 32, "ef_construction": 200}},
                "text": {"type": "text", "analyzer": "standard"},
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


@pytest.mark.parametrize("metric, unit, sim", [("cosine", False, "cosine"), ("dot", False, "max_inner_product"),
                                               ("dot", True, "dot_product"), ("l2", False, "l2_norm"),
                                               ("euclidean", False, "l2_norm"), ("ip", False, "max_inner_product")])
def test_similarity_matches_metric(metric, unit, sim):
    assert similarity_for(metric, unit) == sim
    vec = index_body(8, metric, "exact", unit_vectors=unit)["mappings"]["properties"]["vector"]
    assert vec["similarity"] == sim and vec["index_options"] == {"type": "flat"}


def test_index_kinds():
    opts = lambda kind: index_body(8, "l2", kind)["mappings"]["properties"]["vector"]["index_options"]  # noqa: E731
    assert opts("auto") == {"type": "hnsw", "m": 16, "ef_construction": 100}
    assert opts("int8_hnsw")["type"] == "int8_hnsw"
    with pytest.raises(InvalidInputError):
        index_body(8, "l2", "ivf")


# --------------------------------------------------------------------------- filters
FILTERS = [
    ({"color": "red"}, {"term": {"metadata.color": "red"}}),
    ({"size": {"$gt": 5}}, {"range": {"metadata.size": {"gt": 5}}}),
    ({"size": {"$gte": 5}}, {"range": {"metadata.size": {"gte": 5}}}),
    ({"size": {"$lt": 5.5}}, {"range": {"metadata.size": {"lt": 5.5}}}),
    ({"name": {"$lte": "m"}}, {"range": {"metadata.name": {"lte": "m"}}}),
    ({"color": {"$in": ["red", "blue"]}}, {"terms": {"metadata.color": ["red", "blue"]}}),
    ({"color": {"$ne": "red"}},
     {"bool": {"filter": [{"exists": {"field": "metadata.color"}}],
               "must_not": [{"term": {"metadata.color": "red"}}]}}),
    ({"size": {"$nin": [1, 2]}},
     {"bool": {"filter": [{"exists": {"field": "metadata.size"}}],
               "must_not": [{"terms": {"metadata.size": [1, 2]}}]}}),
    ({"flag": True}, {"term": {"metadata.flag": True}}),
    ({"$and": [{"a": 1}, {"b": {"$lt": 2}}]},
     {"bool": {"filter": [{"term": {"metadata.a": 1}}, {"range": {"metadata.b": {"lt": 2}}}]}}),
    ({"$or": [{"a": 1}, {"$and": [{"b": "x"}, {"c": {"$ne": 0}}]}]},
     {"bool": {"should": [{"term": {"metadata.a": 1}},
                          {"bool": {"filter": [{"term": {"metadata.b": "x"}},
                                               {"bool": {"filter": [{"exists": {"field": "metadata.c"}}],
                                                         "must_not": [{"term": {"metadata.c": 0}}]}}]}}],
               "minimum_should_match": 1}}),
    ({"size": {"$gte": 1, "$lt": 9}},
     {"bool": {"filter": [{"range": {"metadata.size": {"gte": 1}}}, {"range": {"metadata.size": {"lt": 9}}}]}}),
]


@pytest.mark.parametrize("where, body", FILTERS, ids=[json.dumps(w) for w, _ in FILTERS])
def test_where_to_query_exactly(where, body):
    assert where_to_query(filters.parse(where)) == body
    json.dumps(body)  # a plain JSON body


def test_where_none_and_hostile_names_stay_json():
    assert where_to_query(None) is None
    q = where_to_query(filters.parse({HOSTILE: {"$in": [HOSTILE, "it's"]}}))
    assert q == {"terms": {f"metadata.{HOSTILE}": [HOSTILE, "it's"]}}
    # the value travels as a JSON string, escaped by the serializer
    assert json.loads(json.dumps(q)) == q


def test_ordering_type_mismatch_is_a_filter_error():
    kinds = {"year": "number", "name": "string", "mix": "mixed"}
    with pytest.raises(FilterError, match="year"):
        where_to_query(filters.parse({"year": {"$gt": "1990"}}), kinds)
    with pytest.raises(FilterError, match="name"):
        where_to_query(filters.parse({"name": {"$lt": 3}}), kinds)
    assert where_to_query(filters.parse({"mix": {"$lt": 3}}), kinds) == {"range": {"metadata.mix": {"lt": 3}}}
    assert where_to_query(filters.parse({"year": "1990"}), kinds) == {"term": {"metadata.year": "1990"}}


# --------------------------------------------------------------------------- search bodies
def test_knn_body_exactly():
    q = np.array([0.1, -2.5, 3.0], dtype=np.float32)
    flt = {"term": {"metadata.color": "red"}}
    assert knn_body(q, 10, filter=flt) == {
        "knn": {"field": "vector", "query_vector": [float(np.float32(0.1)), -2.5, 3.0], "k": 10,
                "num_candidates": 100, "filter": flt},
        "size": 10,
        "_source": False,
    }
    assert "filter" not in knn_body(q, 5)["knn"]


def test_knn_body_candidates_and_limits():
    q = np.ones(4, np.float32)
    assert knn_body(q, 80)["knn"]["num_candidates"] == 160
    assert knn_body(q, 50, num_candidates=20)["knn"]["num_candidates"] == 50  # never below k
    assert knn_body(q, 9000)["knn"]["num_candidates"] == 10_000  # the server's cap
    with pytest.raises(InvalidInputError):
        knn_body(q, 10_001)
    # float32 values are sent exactly (a JSON double holds any float32)
    vals = np.random.default_rng(0).normal(size=64).astype(np.float32)
    assert np.array_equal(np.array(json.loads(json.dumps(knn_body(vals, 3)))["knn"]["query_vector"], np.float32), vals)


def test_keyword_body_exactly():
    assert keyword_body("information retrieval", 7) == {
        "query": {"match": {"text": {"query": "information retrieval", "operator": "or"}}}, "size": 7, "_source": False}
    flt = {"range": {"metadata.year": {"gte": 1990}}}
    assert keyword_body("x", 3, filter=flt, operator="and") == {
        "query": {"bool": {"must": [{"match": {"text": {"query": "x", "operator": "and"}}}], "filter": [flt]}},
        "size": 3, "_source": False}


def test_bulk_actions_exactly():
    ids = np.array([7, 2**40], dtype=np.int64)
    X = np.array([[1.5, -0.25], [0.1, 2.0]], dtype=np.float32)
    meta = pd.DataFrame({"color": ["red", None], "price": [np.nan, 9.5], "n": pd.array([1, pd.NA], dtype="Int64"),
                         "flag": [True, False]})
    rows, kinds = _server.metadata_rows(meta, 2)
    assert kinds == {"color": "string", "price": "number", "n": "number", "flag": "boolean"}
    acts = list(bulk_actions("idx", ids, X, rows, ["hello", None]))
    assert acts == [
        {"_op_type": "index", "_index": "idx", "_id": "7",
         "_source": {"vecnb_id": 7, "vector": [1.5, -0.25], "metadata": {"color": "red", "n": 1, "flag": True},
                     "text": "hello"}},
        {"_op_type": "index", "_index": "idx", "_id": str(2**40),
         "_source": {"vecnb_id": 2**40, "vector": [float(np.float32(0.1)), 2.0],
                     "metadata": {"price": 9.5, "flag": False}}},
    ]
    assert type(acts[0]["_source"]["metadata"]["n"]) is int and type(acts[0]["_source"]["metadata"]["flag"]) is bool
    json.dumps(acts)


# --------------------------------------------------------------------------- scores
@pytest.mark.parametrize("sim", ["cosine", "dot_product", "max_inner_product", "l2_norm"])
def test_scores_invert_exactly(sim):
    rng = np.random.default_rng(1)
    if sim == "cosine" or sim == "dot_product":
        vals = np.concatenate([rng.uniform(-1, 1, 1000), [-1.0, 0.0, 1.0]])
    elif sim == "max_inner_product":
        vals = np.concatenate([rng.normal(scale=30, size=1000), [0.0, -1e-9, 1e-9, -500.0, 500.0]])
    else:
        vals = np.concatenate([rng.exponential(3.0, 1000), [0.0, 1e-3, 50.0]])
    got = vecnb_scores(es_scores(vals, sim), sim)
    want = -vals if sim == "l2_norm" else vals
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6 if sim == "l2_norm" else 1e-12)


def test_known_score_values():
    assert es_scores(np.array([1.0, -1.0, 0.0]), "cosine").tolist() == [1.0, 0.0, 0.5]
    assert es_scores(np.array([-1.0, 0.0, 2.0]), "max_inner_product").tolist() == [0.5, 1.0, 3.0]
    assert es_scores(np.array([0.0, 1.0, 3.0]), "l2_norm").tolist() == [1.0, 0.5, 0.1]
    assert vecnb_scores(np.array([0.5, 1.0, 3.0]), "max_inner_product").tolist() == [-1.0, 0.0, 2.0]
    assert vecnb_scores(np.array([1.0, 0.5, 0.1]), "l2_norm").tolist() == pytest.approx([0.0, -1.0, -3.0])
    ranked = vecnb_scores(es_scores(np.array([-3.0, -0.5, 0.0, 0.5, 4.0]), "max_inner_product"), "max_inner_product")
    assert (np.diff(ranked) > 0).all()  # the map is monotone: ranks are kept


def test_float32_server_scores_are_close_enough():
    """Elasticsearch computes and returns float32 scores: inverting them loses little."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 64)).astype(np.float32)
    q = rng.normal(size=64).astype(np.float32)
    cos = (X.astype(np.float64) @ q) / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))
    got = vecnb_scores(es_scores(cos, "cosine").astype(np.float32), "cosine")
    np.testing.assert_allclose(got, cos, atol=2e-7)
    d = np.linalg.norm(X.astype(np.float64) - q, axis=1)
    got = vecnb_scores(es_scores(d, "l2_norm").astype(np.float32), "l2_norm")
    np.testing.assert_allclose(got, -d, rtol=1e-5)


# --------------------------------------------------------------------------- the store without a server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_index_names_are_checked():
    assert check_index_name("vecnb_items") == "vecnb_items"
    for bad in ("Upper", "has space", "a/b", "_x", "-x", "", "a*", 'q"'):
        with pytest.raises(InvalidInputError):
            check_index_name(bad)


def test_constructor_does_not_connect_and_hides_secrets(monkeypatch):
    monkeypatch.delenv("VECNB_ES_URL", raising=False)
    with pytest.raises(InvalidInputError, match="VECNB_ES_URL"):
        ElasticsearchStore(dim=4)
    with pytest.raises(InvalidInputError, match="one kind of credentials") as err:  # URL credentials + api_key
        ElasticsearchStore(dim=4, url="https://elastic:S3cret%21pw@es.example:9200", api_key="KEY-123")
    assert "S3cret" not in str(err.value) and "KEY-123" not in str(err.value)
    store = ElasticsearchStore(dim=4, url="https://elastic:S3cret%21pw@es.example:9200")
    keyed = ElasticsearchStore(dim=4, url="https://es.example:9200", api_key="KEY-123")
    for text in (repr(store), store._repr_html_(), str(store.info()), repr(keyed), keyed._repr_html_()):
        assert "S3cret" not in text and "KEY-123" not in text
    assert "elastic:***@es.example:9200" in repr(store) and "not connected" in repr(store)
    with pytest.raises(InvalidInputError):
        ElasticsearchStore(dim=4, url="http://x", unit_vectors=True)  # only for dot
    with pytest.raises(InvalidInputError):
        ElasticsearchStore(dim=4, url="http://x", kind="ivfflat")


def test_url_credentials_become_basic_auth():
    es = _make_client("http://elastic:p%40ss@127.0.0.1:9200", None, 3.0)
    try:
        node = es.transport.node_pool.get().config
        assert (node.host, node.port, node.scheme) == ("127.0.0.1", 9200, "http")
        import base64

        assert es._headers["authorization"] == "Basic " + base64.b64encode(b"elastic:p@ss").decode()
    finally:
        es.close()


def test_server_down_is_a_quick_connection_error():
    store = ElasticsearchStore(dim=4, url=f"http://elastic:pw-Secret9@127.0.0.1:{_free_port()}",
                               request_timeout=3)
    t0 = time.perf_counter()
    with pytest.raises(StoreConnectionError) as err:
        store.upsert(np.arange(2), np.ones((2, 4), np.float32))
    assert time.perf_counter() - t0 < 15
    msg = str(err.value)
    assert "pw-Secret9" not in msg and "running" in msg
    assert err.value.__cause__ is None


class _NotElasticsearch(BaseHTTPRequestHandler):
    """A real HTTP server that answers like some other product (no X-Elastic-Product header)."""

    def do_GET(self):  # noqa: N802 - http.server API
        body = b'{"hello": "i am not elasticsearch"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


def test_a_server_that_is_not_elasticsearch_is_reported():
    server = HTTPServer(("127.0.0.1", 0), _NotElasticsearch)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        store = ElasticsearchStore(dim=4, url=f"http://127.0.0.1:{server.server_address[1]}", request_timeout=3)
        with pytest.raises(StoreConnectionError, match="not an Elasticsearch server"):
            len(store)
    finally:
        server.shutdown()
        server.server_close()
