"""embed_texts: de-duplication, input order, the on-disk cache, validation."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest
from embed_helpers import Counting, fake_vectors, run_python

from vecnb import errors
from vecnb.embed import EmbeddingCache, default_cache_dir, embed_texts
from vecnb.embed import batch as batch_mod
from vecnb.embed import cache as cache_mod
from vecnb.embed.cache import text_keys

TEXTS = ["alpha", "beta", "gamma", "delta", "alpha", "epsilon", "beta", "zeta"]


def forget_indexes():
    """Drop the per-process index memo, as a new process would start."""
    cache_mod._INDEXES.clear()


def test_default_cache_dir(monkeypatch, tmp_path):
    assert default_cache_dir() == tmp_path / "vecnb-cache"
    monkeypatch.delenv("VECNB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "vecnb" / "embeddings"
    monkeypatch.setenv("VECNB_CACHE_DIR", "s3://bucket/emb")
    assert default_cache_dir() == "s3://bucket/emb"


def test_dedupe_and_order(counting):
    X = embed_texts(counting, TEXTS, progress=False)
    assert X.shape == (len(TEXTS), 8) and X.dtype == np.float32 and X.flags.c_contiguous
    np.testing.assert_array_equal(X, fake_vectors(TEXTS))  # row i embeds TEXTS[i]
    assert sorted(counting.seen) == sorted(set(TEXTS))     # each distinct text once


def test_cache_hit_calls_nothing(counting, cache_dir):
    first = embed_texts(counting, TEXTS, progress=False)
    n_calls = len(counting.calls)
    forget_indexes()  # read back from disk, not from this process's memory
    again = embed_texts(counting, list(reversed(TEXTS)), progress=False)
    assert len(counting.calls) == n_calls, "cached texts must not reach the embedder"
    np.testing.assert_array_equal(again, first[::-1])
    assert any(cache_dir.iterdir())


def test_partial_hit_embeds_only_new(counting):
    embed_texts(counting, ["a", "b", "c"], progress=False)
    counting.calls.clear()
    X = embed_texts(counting, ["c", "new1", "a", "new2", "new1"], progress=False)
    assert sorted(counting.seen) == ["new1", "new2"]
    np.testing.assert_array_equal(X, fake_vectors(["c", "new1", "a", "new2", "new1"]))


def test_model_id_separates_caches():
    a, b = Counting("model-a"), Counting("model-b")
    embed_texts(a, ["x", "y"], progress=False)
    embed_texts(b, ["x", "y"], progress=False)
    assert sorted(b.seen) == ["x", "y"]


def test_callable_without_model_id_is_not_disk_cached(cache_dir):
    f = Counting(model_id=None)
    embed_texts(f, ["a", "b", "a"], progress=False)
    assert sorted(f.seen) == ["a", "b"]  # still de-duplicated
    embed_texts(f, ["a", "b"], progress=False)
    assert sorted(f.seen) == ["a", "a", "b", "b"]
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_cache_false_and_explicit_path(counting, tmp_path, cache_dir):
    embed_texts(counting, ["a"], progress=False, cache=False)
    embed_texts(counting, ["a"], progress=False, cache=False)
    assert counting.seen == ["a", "a"]
    assert not cache_dir.exists()
    other = tmp_path / "elsewhere"
    embed_texts(counting, ["a"], progress=False, cache=other)
    embed_texts(counting, ["a"], progress=False, cache=str(other))
    assert counting.seen == ["a", "a", "a"]
    (folder,) = [p for p in other.iterdir() if p.is_dir()]
    assert folder.name.startswith("test-counting-v1-")
    assert sorted(p.suffix for p in folder.iterdir() if not p.name.startswith(".")) == [".json", ".npy", ".npy"]


def test_fsspec_memory_cache(counting):
    pytest.importorskip("fsspec")
    url = "memory://vecnb-test-cache"
    embed_texts(counting, ["p", "q"], progress=False, cache=url)
    forget_indexes()
    X = embed_texts(counting, ["q", "p"], progress=False, cache=url)
    assert sorted(counting.seen) == ["p", "q"]
    np.testing.assert_array_equal(X, fake_vectors(["q", "p"]))


def test_batches_and_longest_first(counting):
    texts = [f"text number {i} " + "x" * (i % 7) for i in range(50)]
    X = embed_texts(counting, texts, batch_size=8, progress=False)
    assert [len(c) for c in counting.calls] == [8] * 6 + [2]
    lengths = [len(t) for c in counting.calls for t in c]
    assert lengths == sorted(lengths, reverse=True)
    np.testing.assert_array_equal(X, fake_vectors(texts))


def test_progress_bar_does_not_break(counting):
    X = embed_texts(counting, [str(i) for i in range(10)], batch_size=2, progress=True)
    assert X.shape == (10, 8)


def test_interrupted_run_keeps_finished_batches(counting, monkeypatch):
    texts = [f"t{i:02d}" for i in range(30)]
    calls = {"n": 0}

    def flaky(batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("model server down")
        return counting(batch)

    flaky.model_id = counting.model_id
    with pytest.raises(RuntimeError):
        embed_texts(flaky, texts, batch_size=10, progress=False)
    assert len(counting.seen) == 20
    counting.calls.clear()
    embed_texts(counting, texts, batch_size=10, progress=False)
    assert len(counting.seen) == 10  # only the batch that failed


def test_periodic_flush(counting, monkeypatch):
    monkeypatch.setattr(batch_mod, "FLUSH_ROWS", 4)
    embed_texts(counting, [str(i) for i in range(10)], batch_size=2, progress=False)
    cache = EmbeddingCache(counting.model_id)
    assert len(cache) == 10
    assert len(cache._shard_stems()) == 3  # 4 + 4 + 2 rows


def test_compaction_merges_shards(counting, monkeypatch):
    monkeypatch.setattr(cache_mod, "MAX_SHARDS", 3)
    for i in range(5):
        embed_texts(counting, [f"s{i}", "shared"], progress=False)
    cache = EmbeddingCache(counting.model_id)
    assert len(cache._shard_stems()) <= 3
    forget_indexes()
    counting.calls.clear()
    X = embed_texts(counting, [f"s{i}" for i in range(5)] + ["shared"], progress=False)
    assert counting.calls == []
    np.testing.assert_array_equal(X, fake_vectors([f"s{i}" for i in range(5)] + ["shared"]))
    assert len(cache) == 6  # every text exactly once after the merge


def test_compaction_leaves_big_shards_alone(counting, monkeypatch):
    monkeypatch.setattr(cache_mod, "MAX_SHARDS", 3)
    monkeypatch.setattr(cache_mod, "BIG_SHARD_ROWS", 5)
    embed_texts(counting, [f"big{i}" for i in range(6)], progress=False)
    cache = EmbeddingCache(counting.model_id)
    (big,) = cache._shard_stems()
    for i in range(6):  # one-row shards, like cached queries
        embed_texts(counting, [f"query {i}"], progress=False)
    stems = cache._shard_stems()
    assert big in stems and len(stems) <= 4
    forget_indexes()
    counting.calls.clear()
    embed_texts(counting, [f"big{i}" for i in range(6)] + [f"query {i}" for i in range(6)], progress=False)
    assert counting.calls == []


def test_two_processes_write_the_same_cache(cache_dir):
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, "tests/embed")
        from embed_helpers import Counting
        from vecnb.embed import embed_texts
        part = sys.argv[1] if len(sys.argv) > 1 else "{part}"
        texts = [f"{{part}}-{{i}}" for i in range(300)] + [f"both-{{i}}" for i in range(50)]
        embed_texts(Counting(), texts, batch_size=16, progress=False)
    """)
    import subprocess
    import sys

    from embed_helpers import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code.format(part=p)], cwd=ROOT, env=env) for p in ("A", "B")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    counting = Counting()
    texts = [f"A-{i}" for i in range(300)] + [f"B-{i}" for i in range(300)] + [f"both-{i}" for i in range(50)]
    X = embed_texts(counting, texts, progress=False)
    assert counting.calls == []
    np.testing.assert_array_equal(X, fake_vectors(texts))


def test_cache_ignores_shards_of_another_width(counting, cache_dir):
    embed_texts(counting, ["a", "b"], progress=False)
    wider = Counting(dim=16)  # same model_id, different width: a broken model_id contract
    with pytest.warns(RuntimeWarning, match="ignoring shard"):
        X = embed_texts(wider, ["a", "b"], progress=False)
    assert X.shape == (2, 16) and sorted(wider.seen) == ["a", "b"]


def test_cache_low_level_round_trip(tmp_path):
    cache = EmbeddingCache("low-level@1", root=tmp_path, dim=4)
    keys = text_keys(["one", "two", "three"])
    vecs = np.arange(12, dtype=np.float32).reshape(3, 4)
    found, got = cache.get(keys)
    assert not found.any() and got is None
    cache.put(keys[:2], vecs[:2])
    found, got = cache.get(keys)
    assert found.tolist() == [True, True, False]
    np.testing.assert_array_equal(got, np.vstack([vecs[:2], np.zeros((1, 4), np.float32)]))
    found, got = cache.get(keys[[1, 0]])
    np.testing.assert_array_equal(got, vecs[[1, 0]])
    with pytest.raises(errors.DimensionMismatchError):
        cache.put(keys[2:], np.ones((1, 5), np.float32))
    cache.clear()
    assert len(cache) == 0


def test_validation_errors():
    def wrong_rows(texts):
        return np.ones((len(texts) + 1, 3))

    def nan_rows(texts):
        return np.full((len(texts), 3), np.nan)

    widths = iter(range(3, 10))

    def growing(texts):
        return np.ones((len(texts), next(widths)))

    with pytest.raises(errors.DimensionMismatchError):
        embed_texts(wrong_rows, ["a"], progress=False)
    with pytest.raises(errors.InvalidVectorError):
        embed_texts(nan_rows, ["a"], progress=False)
    with pytest.raises(errors.DimensionMismatchError, match="expected"):
        embed_texts(growing, ["a", "b", "c"], batch_size=1, progress=False)
    with pytest.raises(errors.TextColumnError, match=r"texts\[1\]"):
        embed_texts(Counting(), ["ok", float("nan")], progress=False)
    with pytest.raises(errors.InvalidInputError, match="single str"):
        embed_texts(Counting(), "just one", progress=False)
    with pytest.raises(errors.InvalidInputError):
        embed_texts(Counting(), ["a"], batch_size=0)


def test_empty_input(counting):
    X = embed_texts(counting, [], progress=False)
    assert X.shape == (0, 8) and counting.calls == []
    assert embed_texts("hashing", [], progress=False).shape == (0, 512)


def test_accepts_series_and_arrays(counting):
    pd = pytest.importorskip("pandas")
    s = pd.Series(["u", "v", "u"], index=[10, 20, 30])
    np.testing.assert_array_equal(embed_texts(counting, s, progress=False), fake_vectors(["u", "v", "u"]))
    np.testing.assert_array_equal(embed_texts(counting, np.array(["v", "u"]), progress=False),
                                  fake_vectors(["v", "u"]))


def test_cache_survives_new_process(counting, cache_dir):
    embed_texts(counting, ["persist me", "and me"], progress=False)
    out = run_python(textwrap.dedent("""
        import sys
        sys.path.insert(0, "tests/embed")
        from embed_helpers import Counting
        from vecnb.embed import embed_texts
        c = Counting()
        embed_texts(c, ["and me", "persist me"], progress=False)
        print(len(c.calls))
    """), VECNB_CACHE_DIR=str(cache_dir))
    assert out.strip() == "0"


def test_corrupt_shard_is_skipped_with_a_warning(counting, cache_dir):
    embed_texts(counting, ["a", "b"], progress=False)
    (folder,) = [p for p in cache_dir.iterdir() if p.is_dir()]
    (folder / "00000000000000000000-1-deadbeef.keys.npy").write_bytes(b"not an npy file")
    forget_indexes()
    with pytest.warns(RuntimeWarning, match="unreadable shard"):
        X = embed_texts(counting, ["a", "b"], progress=False)
    assert len(counting.calls) == 1  # the good shard still answers
    np.testing.assert_array_equal(X, fake_vectors(["a", "b"]))
