"""The sqlite store (sqlite-vec ``vec0`` + FTS5 through apsw, one file) against the conformance suite.

Each store gets its own database file under pytest's ``tmp_path``; ``vec0`` search is exact.
Store-specific behaviour (files, locks, processes, FTS5) is tested in ``test_sqlite.py``.
"""

from __future__ import annotations

import itertools

import pytest
from conformance import StoreConformance, StoreFactory

pytest.importorskip("apsw")
pytest.importorskip("sqlite_vec")
from vecnb.stores.sqlite_store import SqliteStore  # noqa: E402


class TestSqliteStore(StoreConformance):
    kinds = ("exact",)
    exact_kinds = ("exact",)

    @pytest.fixture
    def make_store(self, tmp_path):
        n = itertools.count()
        with StoreFactory(lambda dim, metric, kind: SqliteStore(
                dim=dim, metric=metric, kind=kind, path=tmp_path / f"store-{next(n)}.sqlite")) as make:
            yield make
