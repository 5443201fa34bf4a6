"""The chroma store (in memory) against the conformance suite (chroma-specific tests: test_chroma.py)."""

from __future__ import annotations

import pytest
from conformance import StoreConformance, StoreFactory

pytest.importorskip("chromadb")

from vecnb.stores.chroma_store import ChromaStore


class TestChromaStore(StoreConformance):
    kinds = ("hnsw",)
    exact_kinds = ()

    @pytest.fixture
    def make_store(self):
        with StoreFactory(lambda dim, metric, kind: ChromaStore(dim=dim, metric=metric, kind=kind)) as make:
            yield make
