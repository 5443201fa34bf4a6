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


def test_key_map_identity_then_dense_then_dict():
    import numpy as np

    # dense while keys are small non-negative integers (8 B per key), a dict once they are not
    from vecnb.stores._inprocess import KeyMap

    km = KeyMap()
    km.assign(np.arange(3000), np.arange(3000))
    km.assign(np.arange(3000, 5000), np.arange(3000, 5000))
    # key i at slot i (what an index filled once gives): no array at all
    assert km._ident and km.nbytes == 0 and len(km) == 5000
    np.testing.assert_array_equal(km.lookup(np.array([0, 4999, 5000, -1])), [0, 4999, -1, -1])
    km.remove(np.array([3, 4, 99999]))  # breaks the identity: a dense array from here on
    assert not km._ident and km._arr is not None and km.nbytes <= 8 * 8000
    np.testing.assert_array_equal(km.lookup(np.array([2, 3, 4, 5, -1, 10**12])), [2, -1, -1, 5, -1, -1])
    km.assign(np.array([2**40, -7]), np.array([7000, 7001]))  # far / negative keys: switches to a dict
    assert km._arr is None and len(km) == 5000
    np.testing.assert_array_equal(km.lookup(np.array([2**40, -7, 2, 3])), [7000, 7001, 2, -1])
    km.rebuild(np.array([10, -1, 12]))
    assert len(km) == 2 and km._arr is not None
    np.testing.assert_array_equal(km.lookup(np.array([10, 11, 12])), [0, -1, 2])


@pytest.mark.parametrize("keys", ["dense", "sparse"])
def test_load_restores_in_bulk_and_keeps_writing(tmp_path, keys):
    # load takes the saved arrays as they are (no row-by-row upsert): same ids and scores bit for
    # bit, metadata filters and texts intact, and replace / append / delete keep working after it
    import numpy as np
    import pandas as pd

    from vecnb.errors import DuplicateIdError

    rng = np.random.default_rng(7)
    n, dim = 300, 16
    ids = np.arange(n) if keys == "dense" else rng.choice(10**12, n, replace=False)  # keys are >= 0 (as_ids)
    X = rng.standard_normal((n, dim)).astype(np.float32)
    meta = pd.DataFrame({"g": rng.integers(0, 3, n)})
    texts = [f"t{i}" for i in range(n)]

    def build(rows):
        st = NumpyStore(dim=dim, metric="cosine")
        st.upsert(ids[rows], X[rows], meta.iloc[rows], [texts[i] for i in rows])
        return st

    rows = np.arange(n)
    orig = build(rows)
    orig.delete(ids[:10])
    orig.save(tmp_path / "s")
    loaded = NumpyStore.load(tmp_path / "s")
    Q = rng.standard_normal((5, dim)).astype(np.float32)
    for where in (None, {"g": 1}):
        a, b = orig.search(Q, 7, where), loaded.search(Q, 7, where)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert loaded.fetch_texts(ids[[5, 20]]) == [None, "t20"]
    np.testing.assert_array_equal(loaded.fetch(ids[[20, 299]])[0], X[[20, 299]])

    # writes after load: replace two rows, re-add deleted ones, delete others -- same as a fresh store
    for st in (orig, loaded):
        st.upsert(ids[[20, 21]], X[[0, 1]], meta.iloc[[0, 1]], ["r0", "r1"])
        st.upsert(ids[:10], X[:10], meta.iloc[:10], texts[:10])
        st.delete(ids[[30, 31, 299]])
    a, b = orig.search(Q, 9, {"g": 0}), loaded.search(Q, 9, {"g": 0})
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert len(loaded) == n - 3 and loaded.fetch_texts(ids[[20, 30, 3]]) == ["r0", None, "t3"]
    np.testing.assert_array_equal(loaded.fetch(ids[[20]])[0], X[[0]])

    # a tampered keys.npy (a key repeated) is refused, as by the row-by-row path
    k = np.load(tmp_path / "s" / "keys.npy")
    k[1] = k[0]
    np.save(tmp_path / "s" / "keys.npy", k)
    with pytest.raises(DuplicateIdError):
        NumpyStore.load(tmp_path / "s")
