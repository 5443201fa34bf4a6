"""The faiss store, every kind, against the conformance suite."""

from __future__ import annotations

import pytest

from conformance import StoreConformance

pytest.importorskip("faiss")

from vecnb.stores.faiss_store import FaissStore  # noqa: E402


class TestFaissStore(StoreConformance):
    kinds = ("flat", "hnsw", "ivf", "sq8", "pq", "auto")
    exact_kinds = ("flat", "auto")  # auto is flat at these sizes

    @pytest.fixture
    def make_store(self):
        made = []

        def make(dim, metric="cosine", kind="auto"):
            store = FaissStore(dim=dim, metric=metric, kind=kind)
            made.append(store)
            return store

        yield make
        for store in made:
            store.close()
