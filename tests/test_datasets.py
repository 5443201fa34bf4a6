"""Tests for vecnb.datasets: the shipped CISI and hansard data sets."""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vecnb import datasets
from vecnb.errors import InvalidInputError, VecnbError

REPO = Path(__file__).resolve().parents[1]


def _is_str(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype)


# --------------------------------------------------------------------------- names / info


def test_names():
    assert datasets.names() == ["cisi", "hansard"]


@pytest.mark.parametrize("bad", ["nope", "CISI", "", None, 3])
def test_unknown_name_raises_invalid_input_listing_names(bad):
    with pytest.raises(InvalidInputError) as exc:
        datasets.load(bad)
    assert isinstance(exc.value, (VecnbError, ValueError))
    assert "cisi" in str(exc.value) and "hansard" in str(exc.value)
    with pytest.raises(InvalidInputError):
        datasets.info(bad)


def test_unknown_part_raises():
    with pytest.raises(InvalidInputError, match="queries"):
        datasets.load("cisi", part="topics")
    with pytest.raises(InvalidInputError, match="docs"):
        datasets.load("hansard", part="queries")


@pytest.mark.parametrize("name", ["cisi", "hansard"])
def test_info(name):
    meta = datasets.info(name)
    for key in ("description", "source", "licence", "rows", "parts"):
        assert key in meta
    for key in ("description", "source", "licence"):
        assert isinstance(meta[key], str) and meta[key]
    assert meta["rows"] == len(datasets.load(name))
    for part, n in meta["parts"].items():
        assert n == len(datasets.load(name, part=part))
        assert list(datasets.load(name, part=part).columns) == meta["columns"][part]
    meta["parts"]["docs"] = -1  # a new dict each call
    assert datasets.info(name)["parts"]["docs"] == meta["rows"]


def test_info_counts():
    assert datasets.info("cisi")["parts"] == {"docs": 1460, "queries": 112, "qrels": 3114}
    assert datasets.info("hansard")["parts"] == {"docs": 1000}


# --------------------------------------------------------------------------- cisi


@pytest.fixture(scope="module")
def cisi():
    return datasets.load("cisi")


@pytest.fixture(scope="module")
def queries():
    return datasets.load("cisi", part="queries")


@pytest.fixture(scope="module")
def qrels():
    return datasets.load("cisi", part="qrels")


def test_cisi_docs_shape_and_dtypes(cisi):
    assert cisi.shape == (1460, 5)
    assert list(cisi.columns) == ["title", "authors", "text", "n_words", "n_authors"]
    assert cisi.index.name == "doc_id"
    assert cisi.index.dtype == np.int64
    assert cisi.index.is_unique
    assert cisi.index.tolist() == list(range(1, 1461))
    for col in ("title", "authors", "text"):
        assert _is_str(cisi[col]), col
        assert not cisi[col].isna().any(), col
        assert (cisi[col].str.len() > 0).all(), col
    assert cisi["n_words"].dtype == np.int64
    assert cisi["n_authors"].dtype == np.int64
    assert (cisi["n_words"] > 0).all() and (cisi["n_authors"] >= 1).all()
    assert cisi["n_words"].tolist() == [len(t.split()) for t in cisi["text"]]
    assert not cisi.isna().any().any()


def test_cisi_first_record(cisi):
    doc = cisi.loc[1]
    assert doc["title"] == "18 Editions of the Dewey Decimal Classifications"
    assert doc["authors"] == "Comaromi, J.P."
    assert doc["text"].startswith(
        "18 Editions of the Dewey Decimal Classifications\nThe present study is a history of the "
        "DEWEY Decimal Classification. The first edition of the DDC was published in 1876,"
    )
    assert doc["text"].endswith("spurred the growth of librarianship in this country and abroad.")


def test_cisi_text_is_title_newline_abstract_without_cross_references(cisi):
    pairs = zip(cisi["text"], cisi["title"], strict=True)
    titles_ok = [t.startswith(title + "\n") for t, title in pairs]
    assert all(titles_ok)
    # exactly one newline (between title and abstract); wrapped lines are joined
    assert (cisi["text"].str.count("\n") == 1).all()
    # .X citation triples ("92\t1\t1") and field markers never leak into text
    assert not cisi["text"].str.contains("\t").any()
    assert not cisi["text"].str.contains(r"(?m)^\.[A-Z]\b").any()
    assert not cisi["text"].str.contains(r"\s{2,}").any()


def test_cisi_multiline_title_and_multiple_authors(cisi):
    # .T spans two lines in record 3; .A holds several authors (several lines) in 15 and 87
    assert cisi.loc[3, "title"] == "Two Kinds of Power An Essay on Bibliographic Control"
    assert cisi.loc[15, "authors"] == "Allen, Thomas J.; Cohen, Stephen I."
    assert cisi.loc[15, "n_authors"] == 2
    assert cisi.loc[87, "n_authors"] == 4


def test_cisi_odd_fields_are_not_text(cisi):
    # Record 17 has a .B (year, 1970) field between .A and .W; record 321 has .K (keywords)
    # and .C (classification codes) after .W. None of them is text.
    assert "1970" not in cisi.loc[17, "text"]
    assert cisi.loc[17, "text"].startswith("Adventures in Librarianship\n")
    assert "bit vector" not in cisi.loc[321, "text"]
    assert "3.42" not in cisi.loc[321, "text"]
    assert not cisi["text"].str.contains("3.42 3.70 3.73", regex=False).any()


def test_cisi_queries(queries):
    assert queries.shape == (112, 1)
    assert list(queries.columns) == ["text"]
    assert queries.index.name == "query_id"
    assert queries.index.dtype == np.int64
    assert queries.index.tolist() == list(range(1, 113))
    assert _is_str(queries["text"])
    assert not queries["text"].isna().any()
    assert (queries["text"].str.len() > 0).all()
    assert queries.loc[3, "text"] == "What is information science? Give definitions where possible."
    # .W only: the title, authors and .B source of the 55 paper-style queries stay out
    assert not queries["text"].str.contains("\n").any()
    assert not queries["text"].str.contains("JASIS, Vol.", regex=False).any()
    assert not queries.loc[58, "text"].startswith("Directions in Library Networking")
    assert queries.loc[58, "text"].startswith("Bibliographic control before and after MARC")


def test_cisi_qrels(qrels, cisi, queries):
    assert list(qrels.columns) == ["query_id", "doc_id", "relevance"]
    assert all(qrels[c].dtype == np.int64 for c in qrels.columns)
    assert len(qrels) == 3114
    assert qrels["query_id"].nunique() == 76
    assert (qrels["relevance"] == 1).all()
    assert not qrels.duplicated(["query_id", "doc_id"]).any()
    assert qrels["doc_id"].isin(cisi.index).all()
    assert qrels["query_id"].isin(queries.index).all()
    assert qrels.index.equals(pd.RangeIndex(len(qrels)))
    first = qrels.iloc[0]
    assert (first["query_id"], first["doc_id"]) == (1, 28)


# --------------------------------------------------------------------------- hansard


@pytest.fixture(scope="module")
def hansard():
    return datasets.load("hansard")


def test_hansard_shape_and_dtypes(hansard):
    assert hansard.shape == (1000, 8)
    assert list(hansard.columns) == [
        "text", "label", "speaker", "date", "year", "agenda", "chair", "n_words"
    ]
    assert hansard.index.name == "speech_id"
    assert hansard.index.dtype == np.int64
    assert hansard.index.is_unique
    for col in ("text", "label", "speaker", "date", "agenda"):
        assert _is_str(hansard[col]), col
    assert hansard["year"].dtype == np.int64
    assert hansard["n_words"].dtype == np.int64
    assert hansard["chair"].dtype == bool
    assert not hansard.isna().any().any()
    assert (hansard["text"].str.len() > 0).all()
    assert (hansard["n_words"] >= 1).all()


def test_hansard_labels(hansard):
    counts = hansard["label"].value_counts().to_dict()
    assert counts == {
        "Con": 442, "Lab": 398, "LibDem": 58, "none": 55, "SNP": 22,
        "DUP": 9, "PlaidCymru": 7, "other": 4, "Independent": 3, "GPEW": 2,
    }
    # speeches from the Chair have no party
    assert (hansard.loc[hansard["chair"], "label"] == "none").all()
    assert hansard["chair"].sum() == 52


def test_hansard_dates_and_years(hansard):
    assert hansard["year"].min() == 1989 and hansard["year"].max() == 2019
    assert hansard["date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert (hansard["date"].str[:4].astype(int) == hansard["year"]).all()
    assert hansard["date"].min() == "1989-01-11" and hansard["date"].max() == "2019-10-21"
    assert (hansard["year"] >= 1990).sum() == 967
    assert ((hansard["label"] == "Lab") & (hansard["year"] >= 2010)).sum() > 0


def test_hansard_missing_values_mapped(hansard):
    assert (hansard["agenda"] == "").sum() == 74
    assert not (hansard["label"] == "NA").any()
    assert hansard["n_words"].tolist() == [len(t.split()) for t in hansard["text"]]


# --------------------------------------------------------------------------- copies / cache


@pytest.mark.parametrize("name,part", [("cisi", "docs"), ("cisi", "queries"), ("cisi", "qrels"),
                                       ("hansard", "docs")])
def test_returned_frames_are_independent_copies(name, part):
    a = datasets.load(name, part=part)
    b = datasets.load(name, part=part)
    assert a is not b
    pd.testing.assert_frame_equal(a, b)
    before = b.copy(deep=True)
    a.iloc[0, 0] = a.iloc[1, 0]
    a[a.columns[-1]] = a[a.columns[-1]].iloc[::-1].to_numpy()
    a.drop(a.index[:10], inplace=True)
    a["extra"] = 1
    a.attrs["touched"] = True
    c = datasets.load(name, part=part)
    pd.testing.assert_frame_equal(c, before)
    pd.testing.assert_frame_equal(b, before)
    assert "touched" not in c.attrs


def test_loading_is_fast_after_first_call():
    import time

    datasets.load("cisi")
    t0 = time.perf_counter()
    for _ in range(5):
        datasets.load("cisi")
    assert (time.perf_counter() - t0) / 5 < 0.5


# --------------------------------------------------------------------------- locating files


def test_data_dir_default_is_repo_data(monkeypatch):
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    assert datasets.data_dir("cisi") == (REPO / "data" / "cisi").resolve()
    assert datasets.info("hansard")["path"] == str((REPO / "data" / "hansard").resolve())


def test_env_var_is_searched_first(monkeypatch, tmp_path):
    shutil.copytree(REPO / "data" / "cisi", tmp_path / "cisi")
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    assert datasets.data_dir("cisi") == (tmp_path / "cisi").resolve()
    assert len(datasets.load("cisi")) == 1460
    # a data set missing there falls back to the repository's data/
    assert datasets.data_dir("hansard") == (REPO / "data" / "hansard").resolve()


def test_missing_files_error_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "nowhere"))
    monkeypatch.setattr(datasets, "_PACKAGE_DIR", tmp_path / "pkg" / "vecnb")
    with pytest.raises(FileNotFoundError) as exc:
        datasets.load("cisi")
    msg = str(exc.value)
    assert str(tmp_path / "nowhere" / "cisi") in msg
    assert str(tmp_path / "pkg" / "data" / "cisi") in msg
    assert str(tmp_path / "pkg" / "vecnb" / "_data" / "cisi") in msg
    assert datasets.ENV_VAR in msg and "CISI.ALL" in msg


def test_parser_handles_odd_field_order_and_inline_text(monkeypatch, tmp_path):
    folder = tmp_path / "cisi"
    folder.mkdir()
    (folder / "CISI.ALL").write_text(
        ".I 7\n.W\n  Abstract first,\n.NET then wrapped.\n.A\nDoe, J.\nRoe, R.\n.T Inline title\n"
        "continued\n.X\n7\t1\t7\n.I 9\n.T\nOnly .NET title\n.A\nX, Y.\n.W\nText.\n.K\nkw\n",
        newline="\r\n",
    )
    (folder / "CISI.QRY").write_text(".I 1\n.T\nT\n.W\nq one\n.B\n#and(x)\n")
    (folder / "CISI.REL").write_text("  1 \t9 0 0.000000\n1 9 0 0.0\n")
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    docs = datasets.load("cisi")
    assert docs.index.tolist() == [7, 9]
    assert docs.loc[7, "text"] == "Inline title continued\nAbstract first, .NET then wrapped."
    assert docs.loc[7, "authors"] == "Doe, J.; Roe, R."
    assert docs.loc[9, "title"] == "Only .NET title"
    assert docs.loc[9, "text"] == "Only .NET title\nText."
    assert datasets.load("cisi", part="queries").loc[1, "text"] == "q one"
    rel = datasets.load("cisi", part="qrels")
    assert rel.values.tolist() == [[1, 9, 1]]


# --------------------------------------------------------------------------- imports


def test_module_imports_only_pandas_numpy_stdlib():
    tree = ast.parse((REPO / "vecnb" / "datasets.py").read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    third_party = roots - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party <= {"numpy", "pandas", "vecnb"}, third_party
