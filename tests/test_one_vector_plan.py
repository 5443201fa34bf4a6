"""``df.vec.search(vector, k)`` takes a per-frame plan (vecnb.search.targets.search_one_vector): the
column, its checked matrix and norms, the dropped columns and the result blocks, kept per frame state.

A stale plan would be a silent wrong answer, so every test compares the planned answer with the
general path (FrameTarget.search, which derives everything afresh) bit for bit, after each kind of
change to the frame: columns added / assigned / renamed / deleted, rows edited in place (numbers,
strings, vectors), vectors replaced, recorded columns changed, index replaced, rows dropped.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pandas as pd
import pytest

import vecnb  # noqa: F401  (df.vec)
from vecnb._core.arrow import vector_array
from vecnb.errors import (ColumnNotFoundError, DimensionMismatchError, InvalidInputError, InvalidVectorError,
                          UnknownMetricError)
from vecnb.frame import results
from vecnb.search import targets
from vecnb.search.targets import FrameTarget


def _vectors(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(6, d))
    return (centers[rng.integers(0, 6, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


def _frame(n: int = 300, d: int = 16, seed: int = 0) -> pd.DataFrame:
    X = _vectors(n, d, seed)
    X[7] = X[5]  # an exact tie: position 5 must come first
    return pd.DataFrame({
        "num": np.arange(n) * 3,
        "label": pd.array([f"s{i}" if i % 9 else None for i in range(n)], dtype="str"),
        "f": np.linspace(0, 1, n),
    }).vec.attach(X, name="emb")


def _general(df: pd.DataFrame, q, k, **kw) -> pd.DataFrame:
    target = FrameTarget(df, column=kw.get("column"), metric=kw.get("metric", "cosine"),
                         with_vectors=kw.get("with_vectors", False))
    return target.search(q, k)


def _same(df: pd.DataFrame, q, k: int = 5, **kw) -> pd.DataFrame:
    """The planned answer (asserted to be planned) equals the general path's, frame for frame."""
    planned = targets.search_one_vector(df, q, k, **kw)
    assert planned is not None, "the single-vector plan did not apply"
    got = df.vec.search(q, k=k, **kw)
    want = _general(df, q, k, **kw)
    for out in (planned, got):
        pd.testing.assert_frame_equal(out, want, check_exact=True, check_index_type=True, check_column_type=True)
        assert type(out.index) is type(want.index) and list(out.dtypes) == list(want.dtypes)
        assert out.attrs == want.attrs == df.attrs and out.attrs is not df.attrs
        np.testing.assert_array_equal(out["score"].to_numpy(), want["score"].to_numpy())  # bit for bit
    return got


def _frames() -> dict[str, pd.DataFrame]:
    n = 200
    base = _frame(n)
    frames = {"range index": base, "rows sliced out of a larger frame": _frame(n + 50).iloc[50:]}
    frames["string labels, large_string, categorical"] = pd.DataFrame({
        "s": pd.array([f"t{i}" for i in range(n)], dtype=pd.ArrowDtype(__import__("pyarrow").large_string())),
        "cat": pd.Categorical(np.array(["a", "b", "c"])[np.arange(n) % 3]),
        "t": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
    }, index=pd.Index([f"r{i}" for i in range(n)], name="key")).vec.attach(_vectors(n, 16, 1), name="emb")
    frames["RangeIndex step 3, two embedding columns"] = base.set_axis(
        pd.RangeIndex(10, 10 + 3 * n, 3, name="rid")).vec.attach(_vectors(n, 8, 2), name="other")
    frames["vectors only"] = pd.DataFrame(index=pd.RangeIndex(n)).vec.attach(_vectors(n, 16, 3), name="emb")
    return frames


@pytest.mark.parametrize("name", list(_frames()))
@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_planned_search_equals_the_general_path(name, metric):
    df = _frames()[name]
    X = df.vec.matrix("emb")
    q32 = X[5] + np.float32(0.01)
    for k in (1, 2, 5, 32, 33, len(df) + 7):  # the few-hit string take, the pyarrow take, every row
        _same(df, q32, k, column="emb", metric=metric)
    _same(df, q32.astype(np.float64), 4, column="emb", metric=metric)  # converted as the general path does
    _same(df, np.asarray(X[:, :])[3][::1], 4, column="emb", metric=metric)
    _same(df, np.repeat(q32, 2)[::2], 4, column="emb", metric=metric)  # a strided vector
    _same(df, q32 * np.float32(1e30), 3, column="emb", metric=metric)  # rescaled in float64 for cosine
    _same(df, q32, 3, column="emb", metric=metric, with_vectors=True)
    top = _same(df, X[5], 3, column="emb", metric="dot" if metric == "dot" else metric)
    if name == "range index" and metric != "dot":
        assert top.index[:2].tolist() == [5, 7]  # the tie: the lower position first


def test_the_plan_follows_every_change_to_the_frame():
    df = _frame()
    X = df.vec.matrix("emb").copy()
    q = X[40] + np.float32(0.001)
    assert _same(df, q).index[0] == 40

    df["added"] = np.arange(len(df)) % 4  # a column added
    assert "added" in _same(df, q).columns
    df["num"] = -np.arange(len(df))  # a column assigned
    assert _same(df, q)["num"].iloc[0] == -40
    df.loc[40, "num"] = 12345  # a number edited in place
    assert _same(df, q)["num"].iloc[0] == 12345
    df.loc[40, "label"] = "edited"  # a string edited in place
    assert _same(df, q)["label"].iloc[0] == "edited"

    moved = X[40] * np.float32(2.0)  # row 3's vector becomes row 40's (same direction): 3 now ties 40
    df.loc[[3], "emb"] = pd.Series(vector_array(moved[None, :]), index=[3])  # vectors edited in place
    assert _same(df, X[40], 2, metric="cosine").index.tolist() == [3, 40]
    assert _same(df, X[40], 1, metric="dot").index.tolist() == [3]

    X2 = X[::-1].copy()  # vectors replaced: row 40's vector now at row 259
    df["emb"] = vector_array(X2)
    assert _same(df, q).index[0] == len(df) - 1 - 40

    from vecnb.frame.columns import set_info

    set_info(df, "f", {"dim": 1})  # a recorded column, same layout: now dropped, and column=None is ambiguous
    assert "f" not in _same(df, q, column="emb").columns
    with pytest.raises(InvalidInputError, match="several embedding columns"):
        df.vec.search(q, k=3)
    set_info(df, "f", None)
    assert "f" in _same(df, q).columns

    df = df.vec.attach(_vectors(len(df), 4, 9), name="second")  # a second recorded embedding column
    with pytest.raises(InvalidInputError, match="several embedding columns"):
        df.vec.search(q, k=3)
    assert "second" not in _same(df, q, column="emb").columns
    set_info(df, "second", None)  # no longer recorded (still a vector column by its dtype): still dropped
    assert "second" not in _same(df, q, column="emb").columns
    df = df.drop(columns=["second"])

    df.index = pd.Index([f"row{i}" for i in range(len(df))], name="key")  # the index replaced
    assert _same(df, q).index[0] == f"row{len(df) - 1 - 40}"
    df.columns = [c.upper() if c != "emb" else c for c in df.columns]  # renamed
    assert "NUM" in _same(df, q).columns
    del df["ADDED"]
    assert "ADDED" not in _same(df, q).columns
    df.drop(index=df.index[:10], inplace=True)  # rows dropped
    assert _same(df, q).index[0] == f"row{len(df) + 10 - 1 - 40}"
    df.attrs["note"] = "kept"
    assert _same(df, q).attrs["note"] == "kept"


def test_invalid_vectors_raise_as_before_and_a_fix_in_place_is_seen():
    df = _frame(60)
    X = df.vec.matrix("emb").copy()
    df.loc[[8], "emb"] = pd.Series(vector_array(np.zeros((1, X.shape[1]), np.float32)), index=[8])
    for _ in range(2):  # the second time through what the first remembered
        with pytest.raises(InvalidVectorError, match="all zeros"):
            df.vec.search(X[2], k=3)
    _same(df, X[2], 3, metric="dot")  # dot accepts the zero row
    df.loc[[8], "emb"] = pd.Series(vector_array(X[2][None, :] * 3), index=[8])
    assert _same(df, X[2], 2).index.tolist() == [2, 8]


def test_bad_arguments_give_the_general_paths_errors():
    df = _frame(50)
    q = df.vec.matrix("emb")[0]
    df.vec.search(q, k=2)  # the plan is in place
    with pytest.raises(DimensionMismatchError, match="is 3-d but these vectors are 16-d"):
        df.vec.search(q[:3], k=2)
    with pytest.raises(InvalidVectorError, match="NaN"):
        df.vec.search(np.full(16, np.nan, np.float32), k=2)
    with pytest.raises(InvalidVectorError, match="all zeros"):
        df.vec.search(np.zeros(16, np.float32), k=2)
    for k in (0, -1, 2.5, True, 2**63):
        with pytest.raises(InvalidInputError):
            df.vec.search(q, k=k)
    with pytest.raises(UnknownMetricError):
        df.vec.search(q, k=2, metric="manhattan")
    with pytest.raises(ColumnNotFoundError):
        df.vec.search(q, k=2, column="nope")
    with pytest.raises(InvalidInputError, match="with_vectors"):
        df.vec.search(q, k=2, with_vectors="yes")
    assert len(df.vec.search(q, k=10**12)) == 50  # k past the rows: every row
    assert df.vec.search(q, k=np.int64(2)).equals(df.vec.search(q, k=2))
    assert df.vec.search(q, k=2, metric="IP").equals(df.vec.search(q, k=2, metric="dot"))


def test_a_stale_plan_keeps_no_old_vectors_alive_and_the_frame_goes():
    df = _frame(80)
    q = df.vec.matrix("emb")[1]
    df.vec.search(q, k=3)
    old = weakref.ref(df["emb"].array._pa_array)
    df["emb"] = vector_array(_vectors(80, 16, 5))  # no search since: the plan is stale
    gc.collect()
    assert old() is None
    _same(df, q, 3)
    frame, arrays = weakref.ref(df), weakref.ref(df["emb"].array._pa_array)
    del df
    gc.collect()
    assert frame() is None and arrays() is None


def test_frames_the_plan_does_not_cover_take_the_general_path():
    n = 30
    objvec = pd.DataFrame({"x": np.arange(n)})
    objvec["vec"] = list(_vectors(n, 4, 7))  # vectors as Python objects, not an Arrow column
    q = np.ones(4, np.float32)
    assert targets.search_one_vector(objvec, q, 3, column="vec") is None
    assert df_equal(objvec.vec.search(q, k=3, column="vec"), _general(objvec, q, 3, column="vec"))
    own = _frame(n).rename(columns={"num": "score"})  # a column the result adds itself: renamed, warned
    assert targets.search_one_vector(own, q.repeat(4), 3) is None
    with pytest.warns(UserWarning, match="returned renamed"):
        assert "score_data" in own.vec.search(q.repeat(4), k=3).columns


def df_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    return True


@pytest.mark.parametrize("k", [1, 2, 7, 32])
def test_planned_hits_and_the_string_slices_equal_pandas_take(k):
    """results.planned_hits (one query, few hits: string columns taken as joined one-row slices, RangeIndex
    labels tested in Python) gives build_hits' frame, which equals pandas' own take; nothing is shared."""
    pa = __import__("pyarrow")
    n = 80
    df = pd.DataFrame({
        "str": pd.array([f"s{i}" * (i % 5) if i % 4 else None for i in range(n)], dtype="str"),
        "large": pd.array([f"l{i}" for i in range(n)], dtype=pd.ArrowDtype(pa.large_string())),
        "plain": pd.array([f"p{i}" if i % 3 else None for i in range(n)], dtype=pd.ArrowDtype(pa.string())),
        "ints": np.arange(n),
    }, index=pd.RangeIndex(100, 100 - 2 * n, -2, name="r")).iloc[3:]  # sliced: arrays with an offset
    rng = np.random.default_rng(k)
    for flat in (rng.choice(len(df), size=k, replace=False), np.arange(k) * 2 + 1, np.full(k, 5)):
        scores = np.sort(rng.random(k))[::-1].copy()
        drop, plan = results.hits_plan(df)
        got = results.planned_hits(df, plan, flat.astype(np.int64), scores)
        want = results.build_hits(df, flat[None, :], scores[None, :])
        pd.testing.assert_frame_equal(got, want, check_exact=True, check_index_type=True)
        ref = df.take(flat).assign(score=scores, rank=np.arange(1, k + 1))
        pd.testing.assert_frame_equal(got, ref, check_exact=True, check_index_type=True)
        for col in ("str", "large", "plain"):
            chunk = got[col].array._pa_array.chunk(0)
            frame_buffers = {b.address for b in df[col].array._pa_array.chunk(0).buffers() if b is not None}
            assert not frame_buffers & {b.address for b in chunk.buffers() if b is not None}
