"""The numpy store (exact, in memory) against the conformance suite."""

from __future__ import annotations

import pytest
from conformance import StoreConformance, StoreFactory

from vecnb.stores.numpy_store import NumpyStore


class TestNumpyStore(StoreConformance):
    kinds = ("exact",)
    exact_kinds = ("exact",)

    @pytest.fixture
    def make_store(self):
        with StoreFactory(lambda dim, metric, kind: NumpyStore(dim=dim, metric=metric, kind=kind)) as make:
            yield make
