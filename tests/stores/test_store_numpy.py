"""The numpy store (exact, in memory) against the conformance suite."""

from __future__ import annotations

import pytest

from conformance import StoreConformance
from vecnb.stores.numpy_store import NumpyStore


class TestNumpyStore(StoreConformance):
    kinds = ("exact",)
    exact_kinds = ("exact",)

    @pytest.fixture
    def make_store(self):
        made = []

        def make(dim, metric="cosine", kind="exact"):
            store = NumpyStore(dim=dim, metric=metric, kind=kind)
            made.append(store)
            return store

        yield make
        for store in made:
            store.close()
