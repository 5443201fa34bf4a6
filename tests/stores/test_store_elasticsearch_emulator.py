"""The Elasticsearch store against the conformance suite on an EMULATOR (es_emulator.py).

The emulator is NOT Elasticsearch: a small stand-in that speaks the REST subset the store uses
(index create / mapping / bulk / refresh / count / mget / search / msearch with brute-force
k-NN and Lucene's score transforms). It checks the store's requests and its handling of the
responses end to end, where no real server can run; it says nothing about Elasticsearch's own
recall, scores or speed. The real-server run is test_store_elasticsearch.py (``VECNB_ES_URL``).
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest

pytest.importorskip("elasticsearch")

import es_emulator  # noqa: E402
from conformance import StoreConformance  # noqa: E402

from vecnb.stores.elasticsearch_store import ElasticsearchStore, _make_client  # noqa: E402


@contextlib.contextmanager
def es_store_factory(url: str):
    """``make(dim, metric, kind)`` -> an empty ElasticsearchStore on a fresh index; deletes them after."""
    made = []

    def make(dim, metric="cosine", kind="exact"):
        store = ElasticsearchStore(dim=dim, metric=metric, kind=kind, url=url,
                                   index=f"vecnb_conf_{kind}_{uuid.uuid4().hex[:12]}")
        made.append(store)
        return store

    try:
        yield make
    finally:
        for store in made:
            store.close()
        es = _make_client(url, os.environ.get("VECNB_ES_API_KEY"), 30.0)
        try:
            for store in made:
                es.options(ignore_status=404).indices.delete(index=store.index)
        finally:
            es.close()


@pytest.fixture(scope="module")
def emulator_url():
    url, stop = es_emulator.start()
    yield url
    stop()


class TestElasticsearchStoreOnEmulator(StoreConformance):
    """EMULATOR, not Elasticsearch."""

    kinds = ("exact", "hnsw")
    exact_kinds = ("exact", "hnsw")  # the emulator's k-NN is brute force for every kind

    @pytest.fixture
    def make_store(self, emulator_url):
        with es_store_factory(emulator_url) as make:
            yield make
