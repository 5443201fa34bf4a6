"""The faiss store, every kind, against the conformance suite (faiss-specific tests: test_faiss.py)."""

from __future__ import annotations

import pytest
from conformance import StoreConformance, StoreFactory

pytest.importorskip("faiss")

from vecnb.stores.faiss_store import FaissStore


class TestFaissStore(StoreConformance):
    kinds = ("flat", "hnsw", "ivf", "sq8", "pq", "auto")
    exact_kinds = ("flat", "auto")  # auto is flat at these sizes

    @pytest.fixture
    def make_store(self):
        with StoreFactory(lambda dim, metric, kind: FaissStore(dim=dim, metric=metric, kind=kind)) as make:
            yield make
