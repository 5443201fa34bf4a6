"""No credentials in any error (issue 14, item 9): one table over the stores, ``migrate``,
``IncrementalVectorizer`` and storage.

Each case hands vecnb a URL whose password (or key) is :data:`SECRET` in a form that drivers quote
back in their errors: an unencoded ``%`` (libpq quotes the bad token alone), a malformed host
(libpq / urllib quote the whole URI), object-store user-info that a client reports as a
"bucket name". The whole rendered traceback (what a notebook shows) must not hold the secret in
any form. No server is needed: every case fails before or at the connection (127.0.0.1:1 refuses).
"""

from __future__ import annotations

import traceback
import warnings
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb.errors import VecnbError

SECRET = "s3cretZ9%zz"
FORMS = {SECRET, quote(SECRET, safe=""), "s3cretZ9"}
PG_PCT = f"postgresql://alice:{SECRET}@127.0.0.1:1/db"
PG_BAD_HOST = "postgres://alice:s3cretZ9@[127.0.0.1:1/db"
ES_PCT = f"http://alice:{SECRET}@127.0.0.1:1"


def _frame():
    return pd.DataFrame({"text": ["a b", "c d", "e f"]}).vec.attach(np.eye(3, 4, dtype=np.float32), name="emb")


def _pg(url):
    pytest.importorskip("psycopg")
    from vecnb.stores.pgvector_store import PgVectorStore

    return PgVectorStore(dim=4, url=url, connect_timeout=1)


def _es(url, api_key=None):
    pytest.importorskip("elasticsearch")
    from vecnb.stores.elasticsearch_store import ElasticsearchStore

    return ElasticsearchStore(dim=4, url=url, api_key=api_key, request_timeout=1)


def _vectorizer(url, tmp_path):
    pytest.importorskip("psycopg")
    return vecnb.IncrementalVectorizer(url, table="docs", model="hashing", out=str(tmp_path / "out")).run()


def _migrate_into_pg(url):
    src = vecnb.stores.create("numpy", dim=4)
    src.upsert(np.arange(3), np.eye(3, 4, dtype=np.float32))
    return vecnb.migrate(src, _pg(url))


CASES = {
    "pgvector: % in the password": lambda tmp: len(_pg(PG_PCT)),
    "pgvector: malformed host": lambda tmp: len(_pg(PG_BAD_HOST)),
    "pgvector: df.vec.index": lambda tmp: _frame().vec.index(store="pgvector", url=PG_PCT),
    "elasticsearch: % in the password": lambda tmp: len(_es(ES_PCT)),
    "elasticsearch: malformed host": lambda tmp: len(_es("http://alice:s3cretZ9@[127.0.0.1:1")),
    "elasticsearch: URL credentials and api_key": lambda tmp: len(_es("http://alice:s3cretZ9@127.0.0.1:1",
                                                                      api_key="s3cretZ9-api")),
    "migrate into pgvector": lambda tmp: _migrate_into_pg(PG_PCT),
    "IncrementalVectorizer: malformed URL": lambda tmp: _vectorizer(PG_BAD_HOST, tmp),
    "IncrementalVectorizer: % in the password": lambda tmp: _vectorizer(PG_PCT, tmp),
    "storage: save to s3://KEY:SECRET@bucket": lambda tmp: _frame().vec.index().save(f"s3://AKIAs3cretZ9:{SECRET}@b/p"),
    "storage: load from s3://KEY:SECRET@bucket": lambda tmp: vecnb.load_index(f"s3://AKIAs3cretZ9:{SECRET}@b/p"),
    "storage: unknown protocol with credentials": lambda tmp: vecnb.load_index(f"nosuch://u:{SECRET}@h/p"),
}


def _shown(exc: BaseException) -> str:
    """The messages a traceback prints: this exception and every chained one it displays."""
    out = []
    while exc is not None:
        out.append("".join(traceback.format_exception_only(type(exc), exc)))
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return "\n".join(out)


@pytest.mark.parametrize("case", list(CASES))
def test_no_secret_in_any_error(case, tmp_path, monkeypatch):
    monkeypatch.delenv("VECNB_ES_API_KEY", raising=False)
    if "s3://" in case or "storage" in case:
        pytest.importorskip("fsspec")
        if "s3" in case:
            pytest.importorskip("s3fs")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    with warnings.catch_warnings(record=True) as caught, pytest.raises(Exception) as err:
        warnings.simplefilter("always")
        CASES[case](tmp_path)  # the exception type varies by case; the text is the test
    shown = _shown(err.value) + "\n".join(str(w.message) for w in caught)  # retry warnings are shown too
    leaked = [f for f in FORMS if f in shown]
    assert not leaked, f"{case}: {leaked} in\n{shown[-1500:]}"
    assert isinstance(err.value, (VecnbError, FileNotFoundError)), shown[-800:]
    assert "***" in str(err.value) or "alice" not in str(err.value)  # a URL shown is shown redacted
