"""Elasticsearch against the store conformance suite -- only with a real server at ``VECNB_ES_URL``.

No Elasticsearch (or OpenSearch) server can be installed on the machines that build vecnb, so
without ``VECNB_ES_URL`` this whole file is skipped, with that reason shown in the summary
(``pytest -ra``). The request bodies and score mapping are unit-tested in test_elasticsearch.py.
"""

from __future__ import annotations

import os
import uuid

import pytest

if not os.environ.get("VECNB_ES_URL"):
    pytest.skip("VECNB_ES_URL is not set: no Elasticsearch server to run the conformance suite against "
                "(none can be installed here; request bodies are unit-tested in test_elasticsearch.py)",
                allow_module_level=True)

pytest.importorskip("elasticsearch")

from conformance import StoreConformance  # noqa: E402

from vecnb.stores.elasticsearch_store import ElasticsearchStore, _make_client  # noqa: E402


class TestElasticsearchStore(StoreConformance):
    kinds = ("exact", "hnsw")
    exact_kinds = ("exact",)

    @pytest.fixture
    def make_store(self):
        made = []

        def make(dim, metric="cosine", kind="exact"):
            store = ElasticsearchStore(dim=dim, metric=metric, kind=kind, url=os.environ["VECNB_ES_URL"],
                                       index=f"vecnb_conf_{kind}_{uuid.uuid4().hex[:12]}")
            made.append(store)
            return store

        yield make
        for store in made:
            store.close()
        es = _make_client(os.environ["VECNB_ES_URL"], os.environ.get("VECNB_ES_API_KEY"), 30.0)
        try:
            for store in made:
                es.options(ignore_status=404).indices.delete(index=store.index)
        finally:
            es.close()
