"""One way to ask, one result shape, messages that point the right way (issue 15's API fixes).

Every search -- ``df.vec.search / keyword / hybrid``, ``idx.search / keyword / hybrid`` --
takes the same query forms, names a Series' queries by its index labels, and drops the
embedding column unless ``with_vectors=True``. Real numpy and SQLite stores, a small
deterministic hashing embedder (no model download).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import vecnb
from vecnb.errors import IndexFormatError, InvalidInputError, TextColumnError

WORDS = ("library catalog index retrieval search query book reader archive science data "
         "river mountain ocean forest garden city music painting").split()


def embed(texts):
    """A bag-of-words hashing embedder: 32-d, deterministic, shared words -> close vectors."""
    out = np.zeros((len(texts), 32), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, sum(map(ord, w)) % 31] += 1.0
        out[i, 31] = 0.5
    return out


@pytest.fixture(scope="module")
def df():
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(WORDS, 8)) for _ in range(120)]
    frame = pd.DataFrame({"text": texts, "year": rng.integers(1990, 2020, 120)},
                         index=pd.Index([f"d{i}" for i in range(120)], name="doc_id"))
    return frame.vec.embed("text", model=embed, name="emb", progress=False, cache=False)


@pytest.fixture
def idx(df):
    index = df.vec.index(store="numpy", text="text")
    yield index
    index.close()


QUERIES = pd.Series(["library search", "ocean river", "music painting"], index=pd.Index([7, 3, 11], name="qid"))


@pytest.mark.parametrize("form", ["list", "tuple", "series", "ndarray", "object-ndarray"])
@pytest.mark.parametrize("how", ["search", "keyword", "hybrid"])
def test_every_search_takes_every_form_of_a_batch_of_texts(df, idx, form, how):
    q = {"list": list(QUERIES), "tuple": tuple(QUERIES), "series": QUERIES, "ndarray": np.array(list(QUERIES)),
         "object-ndarray": np.array(list(QUERIES), dtype=object)}[form]
    kw = {"text": "text"} if how != "search" else {}
    for target in (df.vec, idx):
        hits = getattr(target, how)(q, k=4, **kw)
        want = getattr(target, how)(list(QUERIES), k=4, **kw)
        # the same hits; a Series names its queries by its index labels, the rest by their text
        labels = dict(zip(QUERIES, QUERIES.index)) if form == "series" else None
        assert list(hits.index) == list(want.index)
        expected = want["query"].map(labels) if labels else want["query"]
        assert hits["query"].tolist() == expected.tolist()


def test_series_labels_make_evaluate_work_without_a_map(df):
    qrels = pd.DataFrame({"query_id": [7, 7, 3, 11], "doc_id": ["d1", "d2", "d3", "d4"], "relevance": [1, 1, 1, 1]})
    run = df.vec.search(QUERIES, k=100)
    assert set(run["query"]) == {7, 3, 11}
    scores = vecnb.evaluate(run, qrels, k=10)
    # the same numbers as the run mapped by hand
    by_hand = run.reset_index().assign(query_id=run["query"].to_numpy())[["query_id", "doc_id", "score", "rank"]]
    pd.testing.assert_frame_equal(scores, vecnb.evaluate(by_hand, qrels, k=10))
    assert "query_id" in vecnb.evaluate.__doc__ and "ndcg" in vecnb.evaluate.__doc__
    assert "module docstring" not in vecnb.evaluate.__doc__


def test_vectors_and_matrices_and_a_series_of_vectors(df, idx):
    X = df.vec.matrix("emb")
    for target in (df.vec, idx):
        one = target.search(X[5], k=3)
        assert "query" not in one.columns and one.index[0] == "d5"
        many = target.search(X[[5, 9]], k=3)
        assert many["query"].tolist()[::3] == [0, 1]
        ser = target.search(pd.Series(list(X[[5, 9]]), index=["a", "b"]), k=3)
        assert ser["query"].tolist()[::3] == ["a", "b"] and list(ser.index) == list(many.index)


def test_one_result_shape_everywhere(df, idx):
    row_cols = ["text", "year"]
    shapes = {
        "df.search": df.vec.search("library", k=3),
        "df.keyword": df.vec.keyword("library", k=3),
        "df.hybrid": df.vec.hybrid("library", k=3),
        "idx.search": idx.search("library", k=3),
        "idx.keyword": idx.keyword("library", k=3),
        "idx.hybrid": idx.hybrid("library", k=3),
        "Query": vecnb.Query.hybrid("library", k=3).run(df),
    }
    for name, hits in shapes.items():
        assert "emb" not in hits.columns, name
        assert list(hits.columns[:2]) == row_cols and "score" in hits and "rank" in hits, name
    assert list(shapes["df.search"].columns) == list(shapes["idx.search"].columns)
    assert list(shapes["df.hybrid"].columns) == list(shapes["idx.hybrid"].columns)
    X = df.vec.matrix("emb")
    for hits in (df.vec.search("library", k=3, with_vectors=True), idx.search("library", k=3, with_vectors=True),
                 df.vec.hybrid("library", k=3, with_vectors=True), idx.hybrid("library", k=3, with_vectors=True),
                 df.vec.keyword("library", k=3, with_vectors=True), idx.keyword("library", k=3, with_vectors=True)):
        assert list(hits.columns[:3]) == ["text", "year", "emb"]
        np.testing.assert_allclose(hits.vec.matrix("emb"), X[df.index.get_indexer(hits.index)], atol=1e-6)
    with pytest.raises(InvalidInputError, match="with_vectors"):
        df.vec.search("library", with_vectors="yes")


def test_index_kinds_are_case_insensitive_like_fusion_names(df):
    with df.vec.index(store="numpy", kind="EXACT") as a:
        assert a.kind == "exact"
    pytest.importorskip("faiss")
    with df.vec.index(store="faiss", kind=" HNSW ") as b:
        assert b.info()["kind"] == "hnsw"
    assert vecnb.Query.hybrid("x", fusion="RRF").fusion == "rrf"
    assert df.vec.hybrid("library", k=2, fusion="Weighted").shape[0] == 2


def test_a_text_column_is_not_called_vectors_of_different_lengths(df):
    with pytest.raises(TextColumnError, match="holds text, not vectors") as err:
        df.vec.search("library", column="text")
    assert "different lengths" not in str(err.value)


def test_lost_metadata_is_named_and_the_fix_given(df):
    other = pd.DataFrame({"tag": ["x", "y"]})
    crossed = df.merge(other, how="cross")
    crossed.attrs = {}  # what pandas does when the two frames' attrs differ
    with pytest.raises(InvalidInputError, match="metadata") as err:
        crossed.vec.search("library", column="emb")
    assert "attached, not embedded" not in str(err.value) and "df.vec.attach" in str(err.value)
    restored = crossed.vec.attach(crossed["emb"], name="emb", model=embed)
    assert len(restored.vec.search("library", k=2, column="emb")) == 2


def test_a_long_list_in_a_query_object_is_shown_short():
    texts = [f"query number {i}" for i in range(30)]
    with pytest.raises(InvalidInputError) as err:
        vecnb.Query.hybrid(texts)
    msg = str(err.value)
    assert "query number 0" in msg and "query number 29" not in msg and len(msg) < 500


def test_load_index_on_a_sqlite_file_says_how_to_open_it(df, tmp_path):
    path = tmp_path / "x.sqlite"
    index = df.vec.index(store="sqlite", path=str(path), text="text")
    index.close()
    with pytest.raises(IndexFormatError, match="is a file") as err:
        vecnb.load_index(path)
    assert "open_index('sqlite'" in str(err.value)
    assert "NotADirectoryError" not in str(err.value)


def test_sqlite_info_path_is_not_quoted(tmp_path, df):
    path = str(tmp_path / "y.sqlite")
    with df.vec.index(store="sqlite", path=path) as index:
        assert index.store.info()["params"]["path"] == path


def test_sync_warns_when_text_was_edited_but_vectors_are_old(df, idx):
    edited = df.copy()
    edited.loc["d3", "text"] = "completely different words now"
    with pytest.warns(UserWarning, match=r"df\.vec\.stale\('emb'\)"):
        idx.sync(edited)
    fresh = edited.vec.embed("text", model=embed, name="emb", progress=False, cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idx.sync(fresh)
