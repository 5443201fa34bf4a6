"""PostgreSQL + pgvector (a real server: ``$VECNB_PG_URL`` or a throwaway one, see tests/conftest.py)
against the store conformance suite, for the exact, HNSW and IVFFlat kinds."""

from __future__ import annotations

import uuid

import pytest
from conformance import StoreConformance

psycopg = pytest.importorskip("psycopg")
from vecnb.stores.pgvector_store import PgVectorStore  # noqa: E402


class TestPgVectorStore(StoreConformance):
    kinds = ("exact", "hnsw", "ivfflat")
    exact_kinds = ("exact",)

    @pytest.fixture
    def make_store(self, pg_url):
        made = []

        def make(dim, metric="cosine", kind="exact"):
            store = PgVectorStore(dim=dim, metric=metric, kind=kind, url=pg_url,
                                  table=f"conf_{kind}_{uuid.uuid4().hex[:12]}")
            made.append(store)
            return store

        yield make
        for store in made:
            store.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for store in made:
                conn.execute(psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(psycopg.sql.Identifier(store.table)))
