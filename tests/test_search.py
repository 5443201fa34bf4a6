"""Exact search in df.vec.search agrees with an independent brute force, and rejects bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb import errors
from vecnb._core.metrics import topk


def brute(X, q, metric):
    X = X.astype(np.float64)
    q = q.astype(np.float64)
    if metric == "dot":
        return X @ q
    if metric == "cosine":
        return X @ q / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))
    return -np.linalg.norm(X - q, axis=1)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(7)
    n, d = 3000, 24
    centers = rng.normal(size=(12, d))
    X = (centers[rng.integers(0, 12, n)] + 0.4 * rng.normal(size=(n, d))).astype(np.float32)
    X *= rng.uniform(0.5, 2.0, size=(n, 1)).astype(np.float32)  # norms differ: dot != cosine
    df = pd.DataFrame(
        {
            "label": rng.choice(["a", "b", "c"], n),
            "year": rng.integers(1950, 2000, n),
            "w": rng.normal(size=n),
        },
        index=pd.Index([f"doc{i}" for i in range(n)], name="id"),
    )
    df.loc[df.index[::50], "w"] = np.nan
    return df.vec.attach(X, name="emb"), X


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize(
    "where",
    [None, {"label": "a"}, {"year": {"$gte": 1990}}, {"$or": [{"label": "b"}, {"w": {"$lt": -1}}]},
     {"label": {"$nin": ["a"]}, "year": {"$lt": 1960}}],
)
def test_matches_brute_force(frame, metric, where):
    df, X = frame
    rng = np.random.default_rng(1)
    Q = X[rng.integers(0, len(X), 5)] + rng.normal(scale=0.3, size=(5, X.shape[1])).astype(np.float32)
    hits = df.vec.search(Q, k=7, metric=metric, where=where)
    mask = vecnb.filters.to_mask(vecnb.filters.parse(where), df)
    for qi in range(5):
        s = brute(X, Q[qi], metric)
        s[~mask] = -np.inf
        order = np.lexsort((np.arange(len(s)), -s))[:7]
        got = hits[hits["query"] == qi]
        assert list(got.index) == list(df.index[order])
        np.testing.assert_allclose(got["score"].to_numpy(), s[order], atol=1e-4)
        assert list(got["rank"]) == list(range(1, 8))


def test_threshold_and_shape(frame):
    df, X = frame
    hits = df.vec.search(X[3], k=20, metric="cosine", threshold=0.8)
    assert (hits["score"] >= 0.8).all()
    assert hits.index[0] == df.index[3] and hits["score"].iloc[0] == pytest.approx(1.0, abs=1e-5)
    assert "query" not in hits.columns
    assert list(hits.columns[:3]) == ["label", "year", "w"]
    s = brute(X, X[3], "cosine")
    assert len(hits) == min(20, int((s >= 0.8).sum()))


def test_ties_break_by_position():
    X = np.ones((10, 4), dtype=np.float32)
    df = pd.DataFrame({"a": range(10)}).vec.attach(X)
    hits = df.vec.search(np.ones(4), k=3, metric="dot")
    assert list(hits.index) == [0, 1, 2]


def test_topk_large_matches_argsort():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20000, 32)).astype(np.float32)
    Q = rng.normal(size=(40, 32)).astype(np.float32)
    for k in (1, 10, 100):
        pos, sc = topk(X, Q, k, "dot")
        ref = np.argsort(-(Q.astype(np.float64) @ X.T.astype(np.float64)), axis=1, kind="stable")[:, :k]
        assert (pos == ref).mean() > 0.999
        assert np.all(np.diff(sc, axis=1) <= 1e-12)


def test_list_column_and_vector_query(frame):
    df, X = frame
    lists = df.drop(columns="emb").assign(emb=[list(map(float, v)) for v in X])
    hits = lists.vec.search(list(map(float, X[5])), k=3, column="emb", metric="cosine")
    assert hits.index[0] == df.index[5]


def test_matrix_zero_copy(frame):
    df, X = frame
    m1 = df.vec.matrix("emb")
    m2 = df.vec.matrix("emb")
    assert m1.dtype == np.float32 and m1.shape == X.shape
    assert np.shares_memory(m1, m2)
    assert not m1.flags.writeable
    np.testing.assert_array_equal(m1, X)


def test_does_not_mutate(frame):
    df, X = frame
    before = df.copy(deep=True)
    attrs = repr(df.attrs)
    q = X[:2].copy()
    df.vec.search(q, k=3, where={"label": "a"})
    pd.testing.assert_frame_equal(df, before)
    assert repr(df.attrs) == attrs
    np.testing.assert_array_equal(q, X[:2])


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(k=0), errors.InvalidInputError),
        (dict(k=-1), errors.InvalidInputError),
        (dict(k=2.5), errors.InvalidInputError),
        (dict(metric="manhattan"), errors.UnknownMetricError),
        (dict(where={"nope": 1}), errors.FilterError),
        (dict(where={"label": {"$regex": "a"}}), errors.FilterError),
        (dict(where={"label": ["a", "b"]}), errors.FilterError),
        (dict(where={"year": {"$gt": "x"}}), errors.FilterError),
        (dict(threshold=float("nan")), errors.InvalidInputError),
        (dict(column="missing"), errors.ColumnNotFoundError),
    ],
)
def test_bad_arguments(frame, kwargs, exc):
    df, X = frame
    with pytest.raises(exc) as info:
        df.vec.search(X[0], **{"k": 3, **kwargs})
    assert len(str(info.value)) > 20  # a sentence, not a bare value


def test_bad_vectors(frame):
    df, X = frame
    with pytest.raises(errors.DimensionMismatchError):
        df.vec.search(X[0][:-1], k=3)
    with pytest.raises(errors.InvalidVectorError):
        df.vec.search(np.zeros(X.shape[1]), k=3, metric="cosine")
    q = X[0].copy()
    q[0] = np.nan
    with pytest.raises(errors.InvalidVectorError):
        df.vec.search(q, k=3)
    bad = X[:10].copy()
    bad[4] = 0
    small = df.iloc[:10].drop(columns="emb").vec.attach(bad)
    with pytest.raises(errors.InvalidVectorError, match="all zeros"):
        small.vec.search(X[0], k=3, metric="cosine")
    assert len(small.vec.search(X[0], k=3, metric="dot")) == 3  # fine under dot
    with pytest.raises(errors.InvalidVectorError):
        df.iloc[:2].drop(columns="emb").vec.attach(np.array([[1.0, np.inf], [0, 1]]))


def test_no_embedding_column_and_empty():
    df = pd.DataFrame({"text": ["a", "b"]})
    with pytest.raises(errors.NoEmbeddingColumnError, match="df.vec.embed"):
        df.vec.search(np.ones(3), k=1)
    empty = pd.DataFrame({"x": []}).vec.attach(np.empty((0, 3), np.float32))
    with pytest.raises(errors.InvalidInputError, match="empty"):
        empty.vec.search(np.ones(3), k=1)
    with pytest.raises(errors.InvalidInputError, match="vectors for a DataFrame"):
        df.vec.attach(np.ones((3, 4)))


def test_attrs_survive_filter_copy_parquet(frame, tmp_path):
    df, X = frame
    sub = df[df["label"] == "a"].copy()
    assert sub.vec.info()["dim"] == X.shape[1]
    path = tmp_path / "f.parquet"
    sub.to_parquet(path)
    back = pd.read_parquet(path)
    assert back.vec.columns() == ["emb"]
    np.testing.assert_array_equal(back.vec.matrix(), sub.vec.matrix())
    assert back.attrs["vecnb"]["columns"]["emb"]["dim"] == X.shape[1]


def test_column_info_keeps_the_attrs_layout(tmp_path):
    """ColumnInfo is stored as the documented plain dict, and reads back (with keys it does not
    know) from what parquet returns."""
    from vecnb.frame.columns import ColumnInfo

    df = pd.DataFrame({"text": ["a b", "c d", "e f"]}).vec.embed("text", model="hashing", cache=False)
    stored = df.attrs["vecnb"]["columns"]["text_vec"]
    assert list(stored)[:5] == ["model", "model_id", "dim", "source", "normalized"]
    assert stored["source"] == "text" and stored["dim"] == df.vec.matrix().shape[1]
    assert stored["model"]["name"] == "hashing" and isinstance(stored["hashes"], dict)
    df.to_parquet(tmp_path / "f.parquet")
    back = pd.read_parquet(tmp_path / "f.parquet").attrs["vecnb"]["columns"]["text_vec"]
    info = ColumnInfo.from_dict({**back, "dask_run": {"base": 7}})
    assert info.dim == stored["dim"] and info.model_id == stored["model_id"] and info.extra == {"dask_run": {"base": 7}}
    assert info.to_dict() == {**stored, "dask_run": {"base": 7}}
    bare = pd.DataFrame({"x": [1, 2]}).vec.attach(np.ones((2, 3)), name="emb").attrs["vecnb"]["columns"]["emb"]
    assert bare == {"model": None, "model_id": None, "dim": 3, "source": None, "normalized": False}


def test_error_tree():
    assert issubclass(errors.DimensionMismatchError, ValueError)
    assert issubclass(errors.ColumnNotFoundError, KeyError)
    assert issubclass(errors.MissingDependencyError, ImportError)
    assert issubclass(errors.StoreConnectionError, ConnectionError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.VecnbError)
    assert str(errors.ColumnNotFoundError("readable")) == "readable"


def test_repeated_text_queries_hit_the_in_memory_cache():
    from vecnb.search import inputs

    calls = []

    def fake_model(texts):
        calls.append(list(texts))
        return np.array([[len(t), 1.0, 0.5] for t in texts], dtype=np.float32)

    fake_model.model_id = "test:len-model:v1"
    df = pd.DataFrame({"text": ["a", "bb", "ccc"]}).vec.attach(
        np.array([[1, 1, 0.5], [2, 1, 0.5], [3, 1, 0.5]], np.float32), name="emb", model=fake_model)
    first = df.vec.search("hello", k=2)
    again = df.vec.search("hello", k=2)
    pd.testing.assert_frame_equal(first, again)
    both = df.vec.search(["hello", "hi"], k=1)
    assert calls == [["hello"], ["hi"]]  # "hello" embedded once, "hi" only when first asked
    assert both["query"].tolist() == ["hello", "hi"]
    assert ("test:len-model:v1", "hello") in inputs._QUERY_CACHE

    def other(texts):  # no model_id: never cached (its name does not identify the model)
        calls.append(list(texts))
        return np.ones((len(texts), 3), np.float32)

    df2 = pd.DataFrame({"t": ["x"]}).vec.attach(np.ones((1, 3), np.float32), name="emb", model=other)
    df2.vec.search("same", k=1)
    df2.vec.search("same", k=1)
    assert calls[-2:] == [["same"], ["same"]]


def test_vector_columns_found_by_dtype_in_column_order_without_attrs():
    """Columns vecnb knows nothing about (no attrs) are found by their dtype, in frame order,
    among columns of many blocks (ints, strings, floats, arrow vectors)."""
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    df = pd.DataFrame({"a": [1, 2, 3], "s": ["x", "y", "z"]}).vec.attach(X, name="v2")
    df = df.vec.attach(X * 2, name="v1")
    df.insert(1, "f", [0.5, 1.5, 2.5])
    plain = pd.DataFrame({c: df[c] for c in df.columns})  # same columns, no vecnb attrs
    plain.attrs = {}
    assert plain.vec.columns() == ["v2", "v1"]
    assert plain[["v1", "a"]].vec.columns() == ["v1"]
    assert pd.DataFrame({"a": [1]}).vec.columns() == []


def test_a_held_frame_target_sees_a_replaced_column():
    """The target checks its column once per search, but a frame changed between two searches
    through the same target (column replaced, or a column added) is read again."""
    from vecnb.search.targets import as_target

    X = np.eye(4, dtype=np.float32)
    df = pd.DataFrame({"a": range(4)}).vec.attach(X, name="emb")
    target = as_target(df)
    q = np.array([[1, 0, 0, 0]], dtype=np.float32)
    assert target.vector(target.query_vectors(None, vector=q), 1, None)[0][0].tolist() == [0]
    df["emb"] = pd.DataFrame({"a": range(4)}).vec.attach(X[::-1].copy(), name="emb")["emb"]
    assert target.vector(target.query_vectors(None, vector=q), 1, None)[0][0].tolist() == [3]
    df["emb2"] = df["emb"]
    with pytest.raises(errors.InvalidInputError, match="several embedding columns"):
        target.query_vectors(None, vector=q)


def test_one_new_text_takes_the_same_vector_and_cache_entry_as_a_batch():
    """The single-text path (inputs._embed_one) returns and caches what the batch path does; the
    matrix it returns is the caller's own (writing into it leaves the cache as it was)."""
    from vecnb.embed import get_embedder
    from vecnb.search import inputs

    emb = get_embedder("hashing")
    texts = ["red apple pie", "green pear tart"]
    inputs._QUERY_CACHE.clear()
    batch = inputs._embed_queries(emb, texts)
    cached = {t: inputs._QUERY_CACHE[(emb.model_id, t)].copy() for t in texts}
    inputs._QUERY_CACHE.clear()
    for i, t in enumerate(texts):
        one = inputs._embed_queries(emb, [t])  # a miss: the embedder directly
        assert one.shape == (1, batch.shape[1]) and one.dtype == np.float32 and one.flags.writeable
        np.testing.assert_array_equal(one[0], batch[i])
        entry = inputs._QUERY_CACHE[(emb.model_id, t)]
        np.testing.assert_array_equal(entry, cached[t])
        assert not entry.flags.writeable
        one[0, :] = 7.0  # the caller's copy
        again = inputs._embed_queries(emb, [t])  # a hit
        np.testing.assert_array_equal(again[0], batch[i])
    assert list(inputs._QUERY_CACHE)[-1] == (emb.model_id, texts[-1])
