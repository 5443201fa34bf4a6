"""The Elasticsearch store against the store conformance suite, on a real server at ``VECNB_ES_URL``.

No Elasticsearch server can be installed on the machines that build vecnb, so without
``VECNB_ES_URL`` this file is skipped, with that reason in the summary (``pytest -ra``). The
same suite also runs against an emulator (test_store_elasticsearch_emulator.py), and the exact
request bodies are unit-tested in test_elasticsearch.py.
"""

from __future__ import annotations

import os

import pytest

if not os.environ.get("VECNB_ES_URL"):
    pytest.skip("VECNB_ES_URL is not set: no Elasticsearch server to run the conformance suite against "
                "(none can be installed here; test_store_elasticsearch_emulator.py runs it on an emulator)",
                allow_module_level=True)

pytest.importorskip("elasticsearch")

from conformance import StoreConformance  # noqa: E402
from test_store_elasticsearch_emulator import es_store_factory  # noqa: E402


class TestElasticsearchStore(StoreConformance):
    kinds = ("exact", "hnsw")
    exact_kinds = ("exact",)

    @pytest.fixture
    def make_store(self):
        with es_store_factory(os.environ["VECNB_ES_URL"]) as make:
            yield make
