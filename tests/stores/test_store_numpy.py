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


def test_key_map_dense_then_dict():
    import numpy as np

    # dense while keys are small non-negative integers (8 B per key), a dict once they are not
    from vecnb.stores._inprocess import KeyMap

    km = KeyMap()
    km.assign(np.arange(5000), np.arange(5000))
    assert km._arr is not None and len(km) == 5000 and km.nbytes <= 8 * 8000
    km.remove(np.array([3, 4, 99999]))
    np.testing.assert_array_equal(km.lookup(np.array([2, 3, 4, 5, -1, 10**12])), [2, -1, -1, 5, -1, -1])
    km.assign(np.array([2**40, -7]), np.array([7000, 7001]))  # far / negative keys: switches to a dict
    assert km._arr is None and len(km) == 5000
    np.testing.assert_array_equal(km.lookup(np.array([2**40, -7, 2, 3])), [7000, 7001, 2, -1])
    km.rebuild(np.array([10, -1, 12]))
    assert len(km) == 2 and km._arr is not None
    np.testing.assert_array_equal(km.lookup(np.array([10, 11, 12])), [0, -1, 2])
