"""LangChain's own standard ``VectorStoreIntegrationTests`` (langchain-tests, sync and async) run
against ``idx.as_langchain(embeddings=...)`` over the numpy, faiss, sqlite and pgvector stores.

Each class only provides the fixture: an EMPTY vecnb index (``vecnb.VectorIndex.empty``) over the
store, handed to LangChain with the suite's own deterministic fake embeddings. pgvector runs on a
real PostgreSQL + pgvector server (the ``pg_url`` fixture), one fresh table per test.
Every standard test runs; none is skipped or xfailed. The async ones run through pytest-asyncio
(``asyncio_mode = "auto"`` in pyproject.toml, as in LangChain's own repository: the suite refuses
subclasses that re-declare its tests, so they cannot be marked here).
"""

from __future__ import annotations

import uuid

import pytest

pytest.importorskip("langchain_core")
standard = pytest.importorskip("langchain_tests.integration_tests.vectorstores")

import vecnb  # noqa: E402
from vecnb.integrations.langchain import VecnbVectorStore  # noqa: E402

DIM = standard.EMBEDDING_SIZE


def _adapter(index, embeddings) -> VecnbVectorStore:
    store = index.as_langchain(embeddings=embeddings)
    assert isinstance(store, VecnbVectorStore) and len(index) == 0
    return store


class TestNumpy(standard.VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self):
        index = vecnb.VectorIndex.empty("numpy", dim=DIM)
        yield _adapter(index, self.get_embeddings())
        index.close()


class TestFaissFlat(standard.VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self):
        pytest.importorskip("faiss")
        index = vecnb.VectorIndex.empty("faiss", dim=DIM, kind="flat")
        yield _adapter(index, self.get_embeddings())
        index.close()


class TestSqlite(standard.VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path):
        pytest.importorskip("apsw")
        pytest.importorskip("sqlite_vec")
        index = vecnb.VectorIndex.empty("sqlite", dim=DIM, path=str(tmp_path / "lc.db"))
        yield _adapter(index, self.get_embeddings())
        index.close()


@pytest.mark.server
class TestPgvector(standard.VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, pg_url):
        pytest.importorskip("psycopg")
        index = vecnb.VectorIndex.empty("pgvector", dim=DIM, url=pg_url, table=f"lc_{uuid.uuid4().hex[:12]}")
        yield _adapter(index, self.get_embeddings())
        index.store.discard()  # the table and its index record: a shared VECNB_PG_URL server stays clean
        index.close()
