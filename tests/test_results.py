"""Result frames (vecnb.results.build_hits): the same frame pandas' own take would give, for every dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vecnb  # noqa: F401  (df.vec)
from vecnb.frame import results
from vecnb.frame.results import build_hits


def _mixed(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "i": np.arange(n),
        "f": rng.random(n),
        "s": [f"doc {i}" for i in range(n)],
        "o": [{"k": i} if i % 3 else None for i in range(n)],
        "cat": pd.Categorical(np.array(["a", "b", "c"])[np.arange(n) % 3]),
        "t": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
        "naive": pd.date_range("2021-01-01", periods=n, freq="h"),
        "ni": pd.array([None if i % 5 == 0 else i for i in range(n)], dtype="Int64"),
        "b": np.arange(n) % 2 == 0,
    }, index=pd.Index([f"r{i}" for i in range(n)], name="key"))
    return df.vec.attach(rng.standard_normal((n, 8)).astype(np.float32), name="emb")


def _reference(frame, pos, scores, queries=None, threshold=None):
    """What a result must equal: pandas' own row take plus score / rank (/ query) columns."""
    nq, k = pos.shape
    parts = []
    for i in range(nq):
        keep = pos[i] >= 0
        if threshold is not None:
            keep &= scores[i] >= threshold
        part = frame.iloc[pos[i][keep]].copy()
        part["score"] = scores[i][keep].astype(np.float64)
        part["rank"] = np.arange(1, k + 1, dtype=np.int64)[keep]
        if queries is not None:
            part["query"] = pd.Series([queries[i]] * int(keep.sum()), index=part.index)
        parts.append(part)
    return pd.concat(parts)


@pytest.mark.parametrize("threshold", [None, 0.5])
def test_build_hits_equals_pandas_take_for_every_dtype(threshold):
    df = _mixed()
    pos = np.array([[5, 0, 39, -1], [7, 7, 3, 2]])
    scores = np.array([[0.9, 0.8, 0.4, -np.inf], [0.99, 0.7, 0.6, 0.1]])
    got = build_hits(df, pos, scores, queries=["q0", "q1"], threshold=threshold)
    want = _reference(df, pos, scores, queries=["q0", "q1"], threshold=threshold)
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs == df.attrs and got.attrs is not df.attrs


def test_build_hits_single_query_no_query_column():
    df = _mixed()
    got = build_hits(df, np.array([[3, 1]]), np.array([[0.5, 0.25]]))
    assert list(got.columns) == [*df.columns, "score", "rank"]
    pd.testing.assert_frame_equal(got, _reference(df, np.array([[3, 1]]), np.array([[0.5, 0.25]])))


def test_build_hits_result_is_independent_of_the_frame():
    df = _mixed()
    got = build_hits(df, np.array([[3, 1]]), np.array([[0.5, 0.25]]))
    got.loc["r3", "f"] = -1.0
    got.loc["r3", "s"] = "changed"
    assert df.loc["r3", "f"] != -1.0 and df.loc["r3", "s"] == "doc 3"


def test_build_hits_duplicate_names_and_existing_score_column():
    df = pd.DataFrame([[1, 2, 0.5], [3, 4, 0.7]], columns=["a", "a", "score"])
    with pytest.warns(UserWarning, match="returned renamed"):
        got = build_hits(df, np.array([[1, 0]]), np.array([[0.9, 0.1]]))
    assert list(got.columns) == ["a", "a", "score_data", "score", "rank"]
    assert got["score"].tolist() == [0.9, 0.1]  # the search's score, and the frame's kept renamed
    assert got["score_data"].tolist() == [0.7, 0.5]
    assert got.iloc[:, 0].tolist() == [3, 1] and got.iloc[:, 1].tolist() == [4, 2]
    dup = pd.DataFrame([[1, 2], [3, 4]], columns=["a", "a"])
    got = build_hits(dup, np.array([[1]]), np.array([[0.3]]))
    assert list(got.columns) == ["a", "a", "score", "rank"] and got.iloc[0, :2].tolist() == [3, 4]


def test_build_hits_empty_and_extra_columns():
    df = _mixed()
    empty = results.empty_hits(df, with_query=True)
    assert len(empty) == 0 and list(empty.columns) == [*df.columns, "score", "rank", "query"]
    got = build_hits(df, np.array([[2, 4]]), np.array([[0.5, 0.4]]), extra={"keyword_rank": np.array([[1, 2]])})
    assert list(got.columns)[-3:] == ["score", "keyword_rank", "rank"]
    assert got["keyword_rank"].tolist() == [1, 2]


def test_build_hits_per_column_fallback_gives_the_same_frame(monkeypatch):
    df = _mixed()
    pos = np.array([[5, 0, 39], [7, 3, 2]])
    scores = np.array([[0.9, 0.8, 0.4], [0.99, 0.7, 0.6]])
    fast = [build_hits(df, pos, scores, queries=q) for q in (["a", "b"], [0, 1], None)]
    monkeypatch.setattr(results, "_from_blocks", None)
    slow = [build_hits(df, pos, scores, queries=q) for q in (["a", "b"], [0, 1], None)]
    for f, s in zip(fast, slow):
        pd.testing.assert_frame_equal(f, s)


def test_search_after_columns_change_uses_new_labels():
    df = _mixed()
    q = df.vec.matrix("emb")[4]
    first = df.vec.search(q, k=2)
    df2 = df.rename(columns={"s": "title"})
    second = df2.vec.search(q, k=2)
    assert "title" in second.columns and "s" not in second.columns and "s" in first.columns


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_single_query_path_matches_batched_topk(metric):
    from vecnb._core.metrics import exact_scores, topk

    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, 16)).astype(np.float32)
    X[10] = X[20]  # an exact tie: the lower position ranks first
    q = X[20:21] + 0.01
    pos, sc = topk(X, q, 7, metric)
    pos2, sc2 = topk(X, np.vstack([q, q]), 7, metric)
    assert pos[0].tolist() == pos2[0].tolist()
    np.testing.assert_allclose(sc[0], sc2[0], atol=1e-9)
    want = exact_scores(X, q[0], metric)
    order = np.lexsort((np.arange(len(X)), -want))[:7]
    assert pos[0].tolist() == order.tolist()
    np.testing.assert_allclose(sc[0], want[order], atol=1e-6)
    rows = np.arange(0, 3000, 3)
    pos3, _ = topk(X, q, 5, metric, rows=rows)
    sub = rows[np.lexsort((rows, -want[rows]))[:5]]
    assert pos3[0].tolist() == sub.tolist()


def _frames() -> dict[str, pd.DataFrame]:
    """Frames of every kind of column and index the planned path must reproduce."""
    rng = np.random.default_rng(3)
    n = 30
    base = _mixed(n)
    frames = {"mixed, string labels": base}
    frames["arrow strings, duplicate labels"] = pd.DataFrame({
        "title": pd.array([f"t{i}" for i in range(n)], dtype="string[pyarrow]"),
        "py": pd.array([f"p{i}" if i % 4 else None for i in range(n)], dtype="string[python]"),
        "large": pd.array([f"l{i}" for i in range(n)], dtype=pd.ArrowDtype(__import__("pyarrow").large_string())),
        "td": pd.to_timedelta(np.arange(n), unit="s"),
        "per": pd.period_range("2020-01", periods=n, freq="M"),
        "u8": np.arange(n, dtype=np.uint8),
        "f32": np.arange(n, dtype=np.float32),
    }, index=pd.Index([i % 7 for i in range(n)], name="dup")).vec.attach(
        rng.standard_normal((n, 4)).astype(np.float32), name="emb")
    frames["MultiIndex, two tz"] = pd.DataFrame({
        "berlin": pd.date_range("2020-01-01", periods=n, freq="D", tz="Europe/Berlin"),
        "utc": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
        "cat": pd.Categorical([["x", "y"][i % 2] for i in range(n)], categories=["y", "x"], ordered=True),
        "obj": [("tuple", i) if i % 2 else [i] for i in range(n)],
    }, index=pd.MultiIndex.from_arrays([np.arange(n) % 3, [f"s{i}" for i in range(n)]], names=["a", "b"])
    ).vec.attach(rng.standard_normal((n, 3)).astype(np.float32), name="emb")
    objvec = pd.DataFrame({"x": np.arange(n), "name": [f"n{i}" for i in range(n)]})
    objvec["vec"] = list(rng.standard_normal((n, 3)))  # vectors as an object column: a 2-D object block
    objvec["other"] = [None] * n
    frames["object vector column"] = objvec
    frames["no attrs, float labels, no columns but vectors"] = pd.DataFrame(
        index=pd.Index(np.linspace(0, 1, n), name="f")).vec.attach(rng.standard_normal((n, 2)), name="v")
    pa = __import__("pyarrow")
    half = n // 2
    chunked = pd.concat([pd.Series([f"c{i}" for i in range(half)], dtype="string[pyarrow]"),
                         pd.Series([f"c{i}" for i in range(half, n)], dtype="string[pyarrow]")], ignore_index=True)
    assert chunked.array._pa_array.num_chunks == 2  # pandas' own take for a column of several chunks
    frames["RangeIndex start 5 step 3, arrow columns with nulls / lists / chunks"] = pd.DataFrame({
        "str": pd.array([f"s{i}" if i % 3 else None for i in range(n)], dtype="str"),
        "na": pd.array([f"n{i}" if i % 4 else None for i in range(n)], dtype="string[pyarrow]"),
        "lists": pd.array([[i, i + 1] for i in range(n)], dtype=pd.ArrowDtype(pa.list_(pa.int64()))),
        "ints": pd.array([i if i % 2 else None for i in range(n)], dtype=pd.ArrowDtype(pa.int32())),
    }, index=pd.RangeIndex(5, 5 + 3 * n, 3, name="rid")).vec.attach(
        rng.standard_normal((n, 3)).astype(np.float32), name="emb")
    frames["RangeIndex start 5 step 3, arrow columns with nulls / lists / chunks"]["chunked"] = chunked.array
    assert frames["RangeIndex start 5 step 3, arrow columns with nulls / lists / chunks"]["chunked"].array._pa_array \
        .num_chunks == 2
    frames["RangeIndex descending"] = pd.DataFrame({"x": np.arange(n)}, index=pd.RangeIndex(100, 100 - 2 * n, -2))
    wide = pd.DataFrame({"a": np.arange(3 * n), "b": np.arange(3 * n) * 0.5, "c": np.arange(3 * n) % 5,
                         "d": np.arange(3 * n, dtype=np.float32)})
    sliced = wide.iloc[n:2 * n]  # its int / float64 blocks: views into wide's, neither C- nor F-contiguous
    assert any(not (b.values.flags.c_contiguous or b.values.flags.f_contiguous) for b in sliced._mgr.blocks)
    frames["rows sliced out of a wider frame (non-contiguous blocks)"] = sliced
    return frames


_CASES = [
    (np.array([[5, 0, 29, -1]]), np.array([[0.9, 0.8, 0.4, -np.inf]]), None, None),
    (np.array([[3, 4, 5, 6]]), np.array([[0.9, 0.8, 0.7, 0.6]]), None, 0.75),
    (np.array([[7, 7, 3, 2], [1, 2, -1, -1]]), np.array([[0.99, 0.7, 0.6, 0.1], [0.5, 0.4, -np.inf, -np.inf]]),
     ["q0", "q1"], None),
    (np.array([[2, 9], [9, 2]]), np.array([[0.5, 0.4], [0.3, 0.2]]), [10, 11], 0.35),
    (np.empty((1, 0), np.int64), np.empty((1, 0)), None, None),
]


@pytest.mark.parametrize("name", list(_frames()))
def test_planned_path_builds_the_same_frame_as_the_general_path(name, monkeypatch):
    """The per-layout plan (results._plan) must give exactly the frame of the general block path and of
    pandas' own take: same columns, dtypes, index (labels, names, type), values, scores and attrs."""
    df = _frames()[name]
    from vecnb.frame.columns import embedding_columns

    drops = [(), tuple(embedding_columns(df)) or tuple(c for c in ("vec",) if c in df.columns)]
    planned, general = [], []
    for drop in drops:
        for pos, scores, queries, threshold in _CASES:
            planned.append(build_hits(df, pos, scores, queries=queries, threshold=threshold, drop=drop))
    assert results._plan(df, ("score", "rank"), ()) is not None  # these frames take the planned path
    monkeypatch.setattr(results, "_plan", lambda *a: None)  # the general path
    for drop in drops:
        for pos, scores, queries, threshold in _CASES:
            general.append(build_hits(df, pos, scores, queries=queries, threshold=threshold, drop=drop))
            want = _reference(df, pos, scores, queries=queries, threshold=threshold)
            if drop:
                want = want.drop(columns=list(drop))
            if len(want) == 0:  # nothing to compare values with (pandas' concat of no rows)
                continue
            if queries is not None and isinstance(queries[0], int):
                want["query"] = want["query"].astype(np.int64)  # integer query labels keep an integer dtype
            pd.testing.assert_frame_equal(general[-1], want)
    assert len(planned) == len(general)
    for p, g in zip(planned, general):
        pd.testing.assert_frame_equal(p, g, check_index_type=True, check_column_type=True, check_exact=True)
        assert type(p.index) is type(g.index) and p.index.names == g.index.names
        assert list(p.dtypes) == list(g.dtypes)
        assert p.attrs == g.attrs == df.attrs and p.attrs is not df.attrs
        assert [type(b) for b in p._mgr.blocks] == [type(b) for b in g._mgr.blocks]


def test_planned_path_follows_changes_to_the_frame():
    """A plan is kept per frame layout: adding, replacing, renaming or editing columns in place is seen."""
    df = _mixed(20)
    pos, sc = np.array([[4, 2]]), np.array([[0.5, 0.4]])

    def check():
        got = build_hits(df, pos, sc, drop=("emb",))
        want = _reference(df, pos, sc).drop(columns=["emb"])
        pd.testing.assert_frame_equal(got, want)
        return got

    check()
    df.loc["r4", "f"] = -7.0  # in place, same block
    df.iloc[2, df.columns.get_loc("s")] = "edited"
    got = check()
    assert got.loc["r4", "f"] == -7.0 and got.loc["r2", "s"] == "edited"
    df["new"] = np.arange(20) * 2  # a new column
    assert "new" in check().columns
    df["i"] = [f"now text {i}" for i in range(20)]  # replaced with another dtype
    assert check().loc["r4", "i"] == "now text 4"
    df.columns = [c.upper() if c != "emb" else c for c in df.columns]  # renamed
    assert "NEW" in check().columns
    del df["NEW"]
    assert "NEW" not in check().columns
    df.attrs["note"] = "kept"
    assert check().attrs["note"] == "kept"


def test_result_frames_and_search_caches_do_not_keep_the_frame_alive():
    import gc
    import weakref

    df = _mixed(20)
    build_hits(df, np.array([[1, 2]]), np.array([[0.5, 0.4]]), drop=("emb",))
    first = df.vec.search(df.vec.matrix("emb")[3], k=2)  # caches the checked matrix and the plans
    assert first.index[0] == "r3" and df.vec.search(df.vec.matrix("emb")[3], k=2).equals(first)
    ref = weakref.ref(df)
    arrays = weakref.ref(df["emb"].array._pa_array)
    del df
    gc.collect()
    assert ref() is None and arrays() is None


def test_frame_search_sees_replaced_vectors_and_checks_them_again():
    """The checked matrix is kept per column data: new vectors are searched and checked anew."""
    from vecnb._core.arrow import vector_array
    from vecnb.errors import InvalidVectorError

    df = _mixed(20)
    X = df.vec.matrix("emb").copy()
    q = X[3]
    assert df.vec.search(q, k=1).index[0] == "r3"
    X2 = X[::-1].copy()  # the same vectors, rows reversed: r3's vector is now at row 16
    df["emb"] = vector_array(X2)
    assert df.vec.search(q, k=1).index[0] == "r16"
    X3 = X2.copy()
    X3[5] = 0.0
    df["emb"] = vector_array(X3)
    with pytest.raises(InvalidVectorError, match="all zeros"):
        df.vec.search(q, k=1)
    assert df.vec.search(q, k=1, metric="dot").index[0] == "r16"  # dot accepts the zero row


def test_attach_copies_the_callers_array():
    """Writing into the array passed to attach afterwards changes neither the frame nor its searches."""
    X = np.eye(4, 3, dtype=np.float32) + 0.1
    df = pd.DataFrame({"t": list("abcd")}).vec.attach(X, name="emb")
    assert df.vec.search(X[2].copy(), k=1).index[0] == 2
    X[:] = 0.0
    assert df.vec.matrix("emb")[2, 2] == np.float32(1.1)
    assert df.vec.search(np.array([0.1, 0.1, 1.1], np.float32), k=1).index[0] == 2


@pytest.mark.parametrize("path", ["frame", "frame_batch", "index", "hybrid"])
def test_own_score_rank_query_columns_are_kept_renamed_not_overwritten(path):
    """A frame with its own 'score' / 'rank' / 'query' columns (review scores, leaderboard ranks):
    the search's columns must not silently replace them (they used to, on every path)."""
    df = pd.DataFrame({"text": ["apple banana", "banana cherry", "cherry dates"],
                       "score": [5, 6, 7], "rank": [30, 20, 10], "query": ["x", "y", "z"]},
                      index=["a", "b", "c"]).vec.embed("text", model="hashing")
    with pytest.warns(UserWarning, match="returned renamed"):
        if path == "frame":
            out = df.vec.search("apple banana", k=3)
        elif path == "frame_batch":
            out = df.vec.search(["apple banana", "cherry dates"], k=3)
        elif path == "index":
            out = df.vec.index().search("apple banana", k=3)
        else:
            out = df.vec.hybrid("apple banana", k=3)
    for own in ("score", "rank", "query"):
        assert (out[f"{own}_data"] == df.loc[out.index, own].to_numpy()).all()
    assert out["score"].is_monotonic_decreasing or path == "frame_batch"
    assert (out["rank"].to_numpy() >= 1).all() and out["rank"].max() <= 3
    assert ("query" in out.columns) == (path == "frame_batch")
    assert not any(c.startswith("text_vec") for c in out.columns)


@pytest.mark.parametrize("index", [pd.RangeIndex(0, 50), pd.RangeIndex(5, 155, 3, name="rid"),
                                   pd.RangeIndex(100, 0, -2, name=("a", 1)), pd.RangeIndex(-7, 43)])
@pytest.mark.parametrize("flat", [[4], [0, 1, 2, 3], [2, 4, 6], [9, 3], [3, 3], [7, 7, 7], [1, 5, 0, 49, 23],
                                  [49, 48, 47], list(range(50)), []])
def test_range_labels_taken_arithmetically_equal_pandas_take(index, flat):
    """results.take_labels computes a RangeIndex's labels as start + step * position: the very index
    pandas' take returns (a RangeIndex for one or evenly spaced labels, else int64), name included."""
    flat = np.array(flat, dtype=np.intp)
    got, want = results.take_labels(index, flat), index.take(flat)
    pd.testing.assert_index_equal(got, want, exact=True)
    assert type(got) is type(want) and got.name == want.name and got.dtype == want.dtype


@pytest.mark.parametrize("index", [pd.Index(["b", "a", "b", "c"], name="s"), pd.Index([3, 3, 1, 0]),
                                   pd.MultiIndex.from_arrays([[1, 1, 2, 2], ["x", "y", "x", "y"]], names=["n", "t"]),
                                   pd.date_range("2020-01-01", periods=4, tz="UTC")])
def test_other_labels_taken_as_pandas_does(index):
    flat = np.array([2, 0, 2, 3], dtype=np.intp)
    pd.testing.assert_index_equal(results.take_labels(index, flat), index.take(flat), exact=True)


def test_arrow_take_equals_pandas_take_and_shares_nothing():
    """The direct pyarrow take of an arrow column gives pandas' array (type, dtype, nulls) and a
    result that later edits of the frame do not reach."""
    pa = __import__("pyarrow")
    df = pd.DataFrame({"s": pd.array(["a", None, "c", "d"], dtype="string[pyarrow]"),
                       "t": pd.array(["x", "y", None, "z"], dtype="str"),
                       "l": pd.array([[1], [2, 3], None, []], dtype=pd.ArrowDtype(pa.list_(pa.int64())))})
    flat = np.array([3, 1, 1, 2], dtype=np.intp)
    for name in df.columns:
        v = df[name].array
        got = results._arrow_take(v, flat, [None, None])
        want = v.take(flat)
        assert type(got) is type(want) and got.dtype == want.dtype
        pd.testing.assert_extension_array_equal(got, want)
    got = build_hits(df, np.array([[3, 1]]), np.array([[0.5, 0.25]]))
    df.loc[3, "s"] = "changed"
    assert got["s"].iloc[0] == "d" and pd.isna(got["s"].iloc[1]) and got.index.tolist() == [3, 1]
