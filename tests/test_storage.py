"""vecnb.storage and saving indexes to object storage.

S3 tests run against **moto's S3 emulator** (``ThreadedMotoServer``) on 127.0.0.1, started by the
``local_s3_moto`` fixture (tests/conftest.py); no real S3 is reachable from the test machines. Every test id
that talks to it contains ``local_s3_moto``. The same tests also run on a local folder and on
fsspec's ``memory://`` file system.
"""

from __future__ import annotations

import io
import json
import os
import socket

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb._core import storage
from vecnb._core.arrow import is_vector_dtype, vector_array
from vecnb.errors import IndexFormatError, InvalidInputError, MissingDependencyError, StoreConnectionError

SECRET = "emulator-secret-Zq81xv"  # what the local_s3_moto fixture puts in AWS_SECRET_ACCESS_KEY
KEY_ID = "AKIAEMULATORKEY123"  # and in AWS_ACCESS_KEY_ID


_counter = iter(range(10**6))


@pytest.fixture(params=["local", "memory", "local_s3_moto"])
def prefix(request, tmp_path):
    """A fresh folder / prefix on each back-end."""
    n = next(_counter)
    if request.param == "local":
        return str(tmp_path / f"set{n}")
    if request.param == "memory":
        return f"memory://vecnb-test-{os.getpid()}/set{n}"
    request.getfixturevalue("local_s3_moto")
    return f"s3://vecnb-test/set{n}"


def _listing(url: str) -> list[str]:
    loc = storage.location(url)
    loc.fs.invalidate_cache()
    names = (p.rstrip("/").rsplit("/", 1)[-1] for p in loc.fs.ls(loc.root, detail=False))
    return sorted(n for n in names if n != storage.LOCK)  # the lock file of local folders stays


# ------------------------------------------------------------------ multi-file sets
def test_write_and_read_through_the_manifest(prefix):
    m1 = storage.write_files(prefix, {"a.bin": b"one", "sub/b.json": b"{}"}, meta={"what": "test", "n": 1})
    got = storage.read_manifest(prefix)
    assert got == m1 and got["meta"] == {"what": "test", "n": 1}
    assert storage.read_file(prefix, "a.bin") == b"one"
    assert storage.read_file(prefix, "sub/b.json", manifest=got) == b"{}"
    with pytest.raises(KeyError):
        storage.read_file(prefix, "nope.bin")
    m2 = storage.write_files(prefix, {"a.bin": b"two"})
    m3 = storage.write_files(prefix, {"a.bin": b"three"})
    assert storage.read_file(prefix, "a.bin") == b"three"
    # the current and the previous version stay (a reader may be mid-way through it); older ones go
    assert _listing(prefix) == sorted(["manifest.json", m2["version"], m3["version"]])
    assert m1["version"] < m2["version"] < m3["version"]


def test_manifest_is_written_last(prefix):
    """While the files of a new version upload, readers still get the old version, whole."""
    storage.write_files(prefix, {"a.bin": b"old-a", "b.bin": b"old-b"})
    seen = {}

    def second_file(fh):
        # called while the new version is half written: what does a reader see now?
        seen["manifest"] = storage.read_manifest(prefix)
        seen["a"] = storage.read_file(prefix, "a.bin", manifest=seen["manifest"])
        fh.write(b"new-b")

    new = storage.write_files(prefix, {"a.bin": b"new-a", "b.bin": second_file})
    assert seen["a"] == b"old-a" and seen["manifest"]["version"] != new["version"]
    assert storage.read_file(prefix, "b.bin") == b"new-b"

    def crash(fh):
        raise RuntimeError("writer died")

    with pytest.raises(RuntimeError):
        storage.write_files(prefix, {"a.bin": b"never-a", "b.bin": crash})
    assert storage.read_manifest(prefix)["version"] == new["version"]  # the crash left the last save intact
    assert storage.read_file(prefix, "a.bin") == b"new-a"


def test_damaged_or_foreign_sets_are_refused(prefix):
    loc = storage.location(prefix)
    with pytest.raises(FileNotFoundError):
        storage.read_manifest(prefix)
    loc.fs.makedirs(loc.root, exist_ok=True)
    loc.fs.pipe_file(loc.path("someone-else.txt"), b"not ours")
    with pytest.raises(IndexFormatError, match="no vecnb manifest"):
        storage.read_manifest(prefix)
    with pytest.raises(IndexFormatError, match="refusing to write"):
        storage.write_files(prefix, {"a.bin": b"x"})
    loc.fs.rm(loc.path("someone-else.txt"))
    man = storage.write_files(prefix, {"a.bin": b"x" * 100})
    loc.fs.pipe_file(loc.path(f"{man['version']}/a.bin"), b"y" * 100)  # same size, other bytes
    with pytest.raises(IndexFormatError, match="does not match"):
        storage.read_file(prefix, "a.bin")
    loc.fs.pipe_file(loc.path("manifest.json"), b'{"format": "something-else"}')
    with pytest.raises(IndexFormatError, match="not a vecnb manifest"):
        storage.read_manifest(prefix)
    with pytest.raises(InvalidInputError):
        storage.write_files(prefix + "-2", {"../escape.bin": b"x"})


def test_download_and_upload_of_local_files(prefix, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(300_000))
    storage.write_files(prefix, {"store/big.bin": src, "small.txt": b"hi"})
    man = storage.download(prefix, tmp_path / "out")
    assert (tmp_path / "out" / "store" / "big.bin").read_bytes() == src.read_bytes()
    assert man["files"]["store/big.bin"]["size"] == 300_000


# ------------------------------------------------------------------ frames
def _frame():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 4)).astype(np.float32)
    df = pd.DataFrame({"title": list("abcde"), "year": [1990, 1991, None, 1993, 1994]},
                      index=pd.Index([10, 20, 30, 40, 50], name="doc_id"))
    df = df.assign(text_vec=vector_array(X))
    df.attrs["vecnb"] = {"columns": {"text_vec": {"model": {"name": "hashing", "n_features": 4},
                                                   "model_id": "hashing:4", "dim": 4, "source": "title",
                                                   "normalized": False, "hashes": "AAEC"}}}
    return df, X


def test_frame_round_trip_keeps_vectors_and_metadata(prefix):
    df, X = _frame()
    before = df.copy()
    attrs_before = json.dumps(df.attrs, sort_keys=True)
    shown = storage.write_frame(df, prefix + "/frame.parquet")
    assert "frame.parquet" in shown
    back = storage.read_frame(prefix + "/frame.parquet")
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is untouched
    assert json.dumps(df.attrs, sort_keys=True) == attrs_before
    assert back.attrs["vecnb"] == df.attrs["vecnb"]
    assert is_vector_dtype(back["text_vec"].dtype)
    np.testing.assert_array_equal(back.vec.matrix("text_vec"), X)
    assert back.index.tolist() == [10, 20, 30, 40, 50] and back.index.name == "doc_id"
    pd.testing.assert_frame_equal(back.drop(columns="text_vec"), df.drop(columns="text_vec"), check_dtype=False)
    # searching the reloaded frame gives the same hits as the original
    pd.testing.assert_frame_equal(back.vec.search(X[1], k=3), df.vec.search(X[1], k=3), check_dtype=False)
    with pytest.raises(InvalidInputError, match="folder"):
        storage.write_frame(df, prefix)


def test_vecnb_metadata_survives_writers_that_drop_pandas_attrs(tmp_path):
    """Our own parquet key restores df.attrs['vecnb'] when pandas' attrs were stripped by another tool."""
    import pyarrow.parquet as pq

    df, X = _frame()
    path = tmp_path / "f.parquet"
    storage.write_frame(df, str(path))
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    meta.pop(b"PANDAS_ATTRS", None)
    pandas_meta = json.loads(meta[b"pandas"])
    pandas_meta.pop("attributes", None)
    meta[b"pandas"] = json.dumps(pandas_meta).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    assert "vecnb" not in pd.read_parquet(path).attrs  # plain pandas lost it ...
    back = storage.read_frame(str(path))
    assert back.attrs["vecnb"] == df.attrs["vecnb"]     # ... vecnb did not
    np.testing.assert_array_equal(back.vec.matrix("text_vec"), X)
    path.write_bytes(b"not parquet at all")
    with pytest.raises(IndexFormatError, match="not a parquet"):
        storage.read_frame(str(path))


# ------------------------------------------------------------------ credentials
def test_redact_removes_credentials():
    text = ("s3://AKIAXXX:hunter2pass@bucket/x https://h/p?X-Amz-Signature=abc123&X-Amz-Credential=AKIA%2F2024&ok=1 "
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIAZZZ/20240101, Signature=deadbeef00 "
            "and the option value opt-secret-42")
    out = storage.redact(text, {"secret": "opt-secret-42", "client_kwargs": {"aws_session_token": "tok-abcdef"}})
    for secret in ("hunter2pass", "AKIAXXX", "abc123", "AKIA%2F2024", "AKIAZZZ", "deadbeef00", "opt-secret-42"):
        assert secret not in out
    assert "ok=1" in out and "bucket/x" in out
    assert "tok-abcdef" not in storage.redact("token tok-abcdef", {"client_kwargs": {"aws_session_token": "tok-abcdef"}})


def test_errors_and_reprs_never_show_credentials_local_s3_moto(local_s3_moto):
    assert (local_s3_moto["AWS_ACCESS_KEY_ID"], local_s3_moto["AWS_SECRET_ACCESS_KEY"]) == (KEY_ID, SECRET)
    opts = {"key": "AKIAOPTIONKEY", "secret": "option-secret-77",
            "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}}
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    bad = dict(opts, client_kwargs={"endpoint_url": f"http://127.0.0.1:{dead}"})
    loc = storage.location("s3://vecnb-test/x", bad)
    assert "option-secret-77" not in repr(loc) and "AKIAOPTIONKEY" not in repr(loc)
    with pytest.raises(StoreConnectionError) as err:
        storage.write_files(loc, {"a.bin": b"x"})
    assert "cannot reach" in str(err.value)
    # a URL with inline credentials: the failure message masks them, and the env secret too
    with pytest.raises(Exception) as err2:
        storage.read_manifest(f"s3://{KEY_ID}:{SECRET}@vecnb-test/y")
    with pytest.raises(Exception) as err3:  # the same through VectorIndex loading
        vecnb.load_index(f"s3://{KEY_ID}:{SECRET}@vecnb-test/y")
    for e in (err.value, err2.value, err3.value):
        for secret in ("option-secret-77", SECRET, KEY_ID, "AKIAOPTIONKEY"):
            assert secret not in str(e) and secret not in repr(e)


def test_missing_backend_names_the_extra():
    with pytest.raises(MissingDependencyError, match="pip install"):
        storage.location("gs://bucket/x")
    with pytest.raises(InvalidInputError, match="no-such-proto"):
        storage.location("no-such-proto://x")


# ------------------------------------------------------------------ VectorIndex on S3 (moto)
@pytest.mark.parametrize("store", ["numpy", "sqlite"])
def test_index_save_and_load_local_s3_moto(local_s3_moto, store):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 8)).astype(np.float32)
    df = pd.DataFrame({"g": rng.integers(0, 3, 150), "text": [f"word{i % 7} doc" for i in range(150)]},
                      index=pd.Index([f"d{i}" for i in range(150)], name="doc")).vec.attach(X, name="emb")
    idx = df.vec.index(store=store, metric="dot", text="text")
    url = f"s3://vecnb-test/index-{store}"
    hits = idx.search(X[:3], k=6, where={"g": 1})
    idx.save(url)
    idx.delete(["d0", "d1"])
    idx.save(url)  # a second save replaces the first
    back = vecnb.load_index(url)
    try:
        assert len(back) == 148
        again = back.search(X[:3], k=6, where={"g": 1})
        want = idx.search(X[:3], k=6, where={"g": 1})
        assert again.index.tolist() == want.index.tolist()
        np.testing.assert_allclose(again["score"], want["score"], atol=1e-9)
        assert set(hits.index) - {"d0", "d1"} <= set(want.index) | set(hits.index)
        names = _listing(url)
        # the current copy plus the one it replaced (kept for readers that read the old manifest)
        assert names.count("vecnb-index.json") == 1 and sum(n.startswith("v-") for n in names) == 2
    finally:
        back.close()
        idx.close()
    with pytest.raises(FileNotFoundError):
        vecnb.load_index("s3://vecnb-test/no-such-index")


def test_frame_on_s3_searchable_after_reload_local_s3_moto(local_s3_moto):
    df, _ = _frame()
    storage.write_frame(df, "s3://vecnb-test/frames/cisi.parquet")
    back = storage.read_frame("s3://vecnb-test/frames/cisi.parquet", columns=["title", "text_vec"])
    assert list(back.columns) == ["title", "text_vec"] and back.attrs["vecnb"] == df.attrs["vecnb"]
    raw = storage.location("s3://vecnb-test/frames/cisi.parquet").fs.cat_file("vecnb-test/frames/cisi.parquet")
    assert pd.read_parquet(io.BytesIO(raw)).attrs["vecnb"] == df.attrs["vecnb"]  # plain pandas reads it too
