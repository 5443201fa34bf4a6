"""``df.vec.search(text)`` for one text: embedded once, then answered by the per-frame single-vector
plan (vecnb.search.targets.one_text_vector + search_one_vector). Every answer is compared with the
general path (FrameTarget.search, which embeds and derives everything afresh), and errors must be
the general path's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vecnb  # noqa: F401  (df.vec)
from vecnb.errors import ColumnNotFoundError, InvalidInputError
from vecnb.search import inputs
from vecnb.search.targets import FrameTarget

TEXTS = ["red apple pie", "green pear tart", "apple crumble", "blue summer sky", "pear and apple",
         "apple crumble", "sky over the sea", "tart with pears", "an apple a day", "summer"]


def _frame(**kw) -> pd.DataFrame:
    df = pd.DataFrame({"text": TEXTS, "year": np.arange(len(TEXTS)) + 2000,
                       "tag": pd.array(list("abcabcabca"), dtype="str")}, **kw)
    return df.vec.embed("text", model="hashing", progress=False)


def _general(df: pd.DataFrame, query, k: int, **kw) -> pd.DataFrame:
    return FrameTarget(df, column=kw.pop("column", None), metric=kw.pop("metric", "cosine"),
                       with_vectors=kw.pop("with_vectors", False)).search(query, k, **kw)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("k", [1, 3, 10, 11, 10**9])
@pytest.mark.parametrize("query", ["apple", "apple crumble", "pear", "sky summer", "zzz unknown words"])
def test_one_text_answers_as_the_general_path(metric, k, query):
    df = _frame()
    inputs._QUERY_CACHE.clear()
    got = df.vec.search(query, k=k, metric=metric)
    pd.testing.assert_frame_equal(got, _general(df, query, k, metric=metric), check_exact=True)
    assert len(got) == min(k, len(df))
    if query == "apple crumble" and k > 1:  # rows 2 and 5 hold the same text: the tie goes to the lower position
        assert got.index[:2].tolist() == [2, 5]


def test_one_text_with_vectors_labels_and_model_given():
    df = _frame(index=pd.Index([f"r{i}" for i in range(len(TEXTS))], name="rid"))
    for with_vectors in (False, True):
        got = df.vec.search("apple pie", k=4, with_vectors=with_vectors)
        pd.testing.assert_frame_equal(got, _general(df, "apple pie", 4, with_vectors=with_vectors), check_exact=True)
    got = df.vec.search("apple pie", k=3, model="hashing")
    pd.testing.assert_frame_equal(got, _general(df, "apple pie", 3, model="hashing"), check_exact=True)


def test_a_text_is_embedded_once_even_when_the_plan_does_not_apply():
    calls: list[list[str]] = []

    def f(texts):
        calls.append(list(texts))
        return np.stack([np.arange(4, dtype=np.float32) + len(t) for t in texts])

    M = np.stack([np.arange(4, dtype=np.float32) + i for i in range(6)])
    df = pd.DataFrame({"t": list("abcdef")}).vec.attach(M, name="emb")
    plain = pd.DataFrame({"t": list("abcdef"), "emb": list(M)})  # a column of arrays: the general path answers
    for frame in (df, plain):
        calls.clear()
        got = frame.vec.search("hello", k=3, model=f, column="emb")
        assert sum(len(c) for c in calls) == 1, calls
        calls.clear()
        want = _general(frame, "hello", 3, model=f, column="emb")
        pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_one_text_errors_are_the_general_paths():
    df = _frame()
    with pytest.raises(InvalidInputError):
        df.vec.search("apple", k=0)
    with pytest.raises(ColumnNotFoundError):
        df.vec.search("apple", k=2, column="nope")
    with pytest.raises(InvalidInputError):
        df.iloc[:0].vec.search("apple", k=2)
    with pytest.raises(InvalidInputError):
        df.vec.search("", k=2)
    raw = pd.DataFrame({"text": TEXTS}).vec.attach(np.ones((len(TEXTS), 3), np.float32), name="emb")
    with pytest.raises(Exception) as general:
        _general(raw, "apple", 2)
    with pytest.raises(type(general.value)) as fast:
        raw.vec.search("apple", k=2)
    assert str(fast.value) == str(general.value)


def test_one_text_follows_a_reembedded_column():
    df = _frame()
    before = df.vec.search("apple", k=3)
    df2 = df.copy()
    df2["text"] = df2["text"].str.upper() + " apple"
    df2 = df2.vec.embed("text", model="hashing", progress=False)
    after = df2.vec.search("apple", k=3)
    pd.testing.assert_frame_equal(after, _general(df2, "apple", 3), check_exact=True)
    pd.testing.assert_frame_equal(before, _general(df, "apple", 3), check_exact=True)


def test_one_text_takes_the_plan(monkeypatch):
    df = _frame()
    want = df.vec.search("apple", k=3)

    def general(*a, **kw):
        raise AssertionError("the general path ran")

    monkeypatch.setattr(FrameTarget, "search", general)
    pd.testing.assert_frame_equal(df.vec.search("apple", k=3), want, check_exact=True)
    with pytest.raises(AssertionError, match="general path"):  # a filter still goes the general way
        df.vec.search("apple", k=3, where={"year": {"$gte": 2003}})
