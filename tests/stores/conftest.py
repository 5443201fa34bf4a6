"""Shared data fixtures for the store conformance suite (see README.md in this folder).

The data helpers live in ``conformance.py``:

* ``clustered(n, d, ...)``: Gaussian clusters with varying norms (recall is meaningless on
  uniform random vectors; varying norms make ``dot`` rank differently from ``cosine``);
* ``make_meta(n)``: metadata with str / int / float / bool / nullable-int columns, ~10%
  missing values in the nullable ones;
* ``brute(...)``: an independent float64 brute force (the reference for ids and scores).

``pytest_generate_tests`` parametrises the ``kind`` fixture with the test class's ``kinds``.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # lets per-store files `from conformance import StoreConformance`

from conformance import clustered, make_ids, make_meta


def pytest_generate_tests(metafunc):
    cls = metafunc.cls
    if cls is not None and "kind" in metafunc.fixturenames and getattr(cls, "kinds", None):
        metafunc.parametrize("kind", list(cls.kinds))


@pytest.fixture(scope="session")
def base_data():
    """1,200 x 16 clustered vectors, their metadata and keys, and 20 queries from the same clusters."""
    allx = clustered(1220, 16, seed=0)
    X, Q = allx[:1200], allx[1200:]
    return {"X": X, "Q": Q, "meta": make_meta(len(X)), "ids": make_ids(len(X))}


@pytest.fixture(scope="session")
def recall_data():
    """3,000 x 32 clustered vectors and 50 queries drawn from the same clusters."""
    allx = clustered(3050, 32, seed=5)
    return {"X": allx[:3000], "Q": allx[3000:], "ids": make_ids(3000)}
