"""One conformance suite for every store.

A store's test file subclasses :class:`StoreConformance`, names its kinds and provides ONE
fixture, ``make_store``, returning a factory ``make(dim, metric, kind) -> EMPTY store``
(and closing what it made at teardown). See README.md in this folder.

Exact kinds (``exact_kinds``) must return the same ids as an independent float64 brute
force and the same scores to 1e-4; approximate kinds must reach recall@10 >= 0.95 on
clustered data (``min_recall_by_kind`` may lower it for a lossy kind, e.g. PQ codes),
return correct scores for the ids they return, and never return a row a filter excludes
nor fewer rows than qualify. Kinds that keep only compressed codes
(``reconstructed_kinds``) score a row exactly against its *reconstructed* vector: their
scores must equal the scores of what ``fetch`` returns (1e-4), and be within
``reconstructed_tol[kind]`` (relative) of the true scores.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from vecnb._core import filters
from vecnb.stores.base import CAPABILITIES, capabilities, provided, supports
from vecnb.errors import DimensionMismatchError, DuplicateIdError, InvalidInputError, InvalidVectorError, StoreError

COLORS = ["red", "green", "blue", "black", "white"]


def clustered(n: int, d: int, *, n_clusters: int = 24, seed: int = 0, spread: float = 0.35) -> np.ndarray:
    """(n, d) float32 points around ``n_clusters`` random centres, norms varying by ~2x."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, d))
    lab = rng.integers(0, n_clusters, size=n)
    X = centres[lab] + spread * rng.normal(size=(n, d))
    X *= rng.uniform(0.6, 1.4, size=(n, 1))
    return X.astype(np.float32)


def make_meta(n: int, seed: int = 1) -> pd.DataFrame:
    """Metadata with every value type a filter can compare, and missing values."""
    rng = np.random.default_rng(seed)
    color = np.array(COLORS, dtype=object)[rng.integers(0, len(COLORS), n)]
    color[rng.random(n) < 0.1] = None
    price = rng.uniform(0, 100, n).round(2)
    price[rng.random(n) < 0.1] = np.nan
    rating = pd.array(rng.integers(1, 6, n), dtype="Int64")
    rating[rng.random(n) < 0.1] = pd.NA
    # dates and datetimes (naive, tz-aware, plain datetime.date objects) with missing values
    when = pd.Series(pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 730 * 24, n), unit="h"))
    when[rng.random(n) < 0.1] = pd.NaT
    when_tz = when.dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    day = pd.Series([None if pd.isna(t) else t.date() for t in when], dtype=object)
    cat = pd.Series(pd.Categorical(np.array(["a", "b", "c"], dtype=object)[rng.integers(0, 3, n)]))
    cat[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "color": pd.Series(color, dtype=object),
        "size": rng.integers(0, 100, n).astype(np.int64),
        "price": price,
        "flag": rng.random(n) < 0.4,
        "rating": rating,
        "when": when,
        "when_tz": when_tz,
        "day": day,
        "cat": cat,
    })


def make_ids(n: int) -> np.ndarray:
    """Sparse, large int64 keys (stores must not assume keys are positions)."""
    return (np.arange(n, dtype=np.int64) * 7919 + 11 + 2**40)


def brute(X: np.ndarray, Q: np.ndarray, k: int, metric: str, allowed: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k positions (nq, k) and float64 scores, -1 / -inf padded; ties by position."""
    X64 = X.astype(np.float64)
    Q64 = Q.astype(np.float64)
    if metric == "cosine":
        S = (Q64 / np.linalg.norm(Q64, axis=1, keepdims=True)) @ (X64 / np.linalg.norm(X64, axis=1, keepdims=True)).T
    elif metric == "dot":
        S = Q64 @ X64.T
    else:
        S = -np.sqrt(np.maximum(((Q64[:, None, :] - X64[None, :, :]) ** 2).sum(-1), 0))
    if allowed is not None:
        S[:, ~allowed] = -np.inf
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    sc = np.take_along_axis(S, order, axis=1)
    pos = np.where(np.isfinite(sc), order, -1)
    if pos.shape[1] < k:
        pad = k - pos.shape[1]
        pos = np.pad(pos, ((0, 0), (0, pad)), constant_values=-1)
        sc = np.pad(sc, ((0, 0), (0, pad)), constant_values=-np.inf)
    return pos, sc


def score_of(X: np.ndarray, Q: np.ndarray, metric: str) -> np.ndarray:
    """Exact float64 score of each query row against the matching row of ``X`` (both (m, d))."""
    X64 = X.astype(np.float64)
    Q64 = Q.astype(np.float64)
    if metric == "cosine":
        return (X64 * Q64).sum(1) / (np.linalg.norm(X64, axis=1) * np.linalg.norm(Q64, axis=1))
    if metric == "dot":
        return (X64 * Q64).sum(1)
    return -np.sqrt(((X64 - Q64) ** 2).sum(1))


K = 10

FILTER_CASES = [
    {"color": "red"},
    {"color": {"$eq": "blue"}},
    {"color": {"$ne": "red"}},                      # rows without a color must not match
    {"color": {"$in": ["red", "blue"]}},
    {"color": {"$nin": ["red", "blue"]}},           # nor here
    {"size": 42},
    {"size": {"$gt": 50}},
    {"size": {"$gte": 50}},
    {"size": {"$lt": 10}},
    {"size": {"$lte": 10}},
    {"size": {"$ne": 7}},
    {"size": {"$in": [1, 2, 3, 50, 99]}},
    {"size": {"$nin": [1, 2, 3]}},
    {"price": {"$gte": 20.5, "$lt": 60.0}},
    {"price": {"$gt": 50}},                         # an int compared with a float column
    {"price": {"$ne": 10.0}},                       # NaN prices must not match
    {"flag": True},
    {"flag": {"$ne": True}},
    {"rating": {"$in": [4, 5]}},
    {"rating": {"$nin": [1]}},
    {"rating": {"$gte": 3}},
    {"$and": [{"color": "red"}, {"size": {"$gt": 30}}]},
    {"$or": [{"color": "red"}, {"flag": False}]},
    {"$or": [{"$and": [{"color": "blue"}, {"price": {"$lt": 50}}]}, {"rating": 5}]},
    # booleans equal 1 / 0 (pandas' rule) on every store
    {"flag": 1},
    {"flag": 0.0},
    {"flag": {"$in": [1]}},
    {"flag": {"$ne": 0}},
    {"flag": {"$nin": [True]}},
    {"size": {"$in": [True, 2]}},                   # a number column: True is 1
    # dates and datetimes compare as instants
    {"when": {"$gte": pd.Timestamp("2022-03-01")}},
    {"when": {"$lt": dt.datetime(2021, 6, 1, 12, 30)}},
    {"when": {"$gt": np.datetime64("2021-09-01T06:00")}},
    {"when": {"$ne": pd.Timestamp("2021-01-01 05:00")}},
    {"$and": [{"when": {"$gte": dt.date(2021, 5, 1)}}, {"when": {"$lt": dt.date(2021, 7, 1)}}]},
    {"when_tz": {"$gt": pd.Timestamp("2022-01-01", tz="UTC")}},
    {"when_tz": {"$lte": pd.Timestamp("2021-04-01 09:00", tz="Asia/Tokyo")}},
    {"day": {"$gte": dt.date(2022, 6, 1)}},
    {"day": {"$in": [dt.date(2021, 3, 3), dt.date(2021, 3, 4), dt.date(2022, 2, 2)]}},
    {"day": {"$nin": [dt.date(2021, 3, 3)]}},
    # categoricals compare by value
    {"cat": "a"},
    {"cat": {"$ne": "b"}},
    {"cat": {"$in": ["a", "c"]}},
    {"cat": {"$nin": ["a"]}},
    # large filters: an $or of hundreds of branches, a long $in
    {"$or": [{"$and": [{"size": i % 100}, {"price": {"$gte": i % 50}}]} for i in range(600)]},
    {"$or": [{"size": i} for i in range(0, 100, 3)] + [{"color": "red"}]},
    {"color": {"$in": [f"c{i}" for i in range(3000)] + ["red"]}},
    {"size": {"$nin": list(range(0, 100, 2)) + [1e9]}},
    {"color": "no-such-value"},                     # nothing qualifies
    {"size": {"$lt": 1}},                           # very selective: fewer than k may qualify
    {"no_such_field": 1},                           # a field no row has matches nothing
]
METRICS = ["cosine", "dot", "l2"]


def _recall(got: np.ndarray, want: np.ndarray) -> float:
    hits = total = 0
    for g, w in zip(got, want):
        w = set(w[w >= 0].tolist())
        if not w:
            continue
        hits += len(w & set(g[g >= 0].tolist()))
        total += len(w)
    return hits / total if total else 1.0


class StoreFactory:
    """``make(dim, metric, kind)`` around a constructor; closes every store it made on exit.

    Use it in a ``make_store`` fixture::

        with StoreFactory(lambda dim, metric, kind: MyStore(dim=dim, metric=metric, kind=kind)) as make:
            yield make
    """

    def __init__(self, build):
        self._build = build
        self._made = []

    def __call__(self, dim, metric="cosine", kind="auto"):
        store = self._build(dim, metric, kind)
        self._made.append(store)
        return store

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for store in self._made:
            store.close()


class StoreConformance:
    """Mixin of tests; subclass it in ``test_store_<name>.py`` and provide ``make_store``."""

    kinds: ClassVar[Sequence[str]] = ("auto",)
    exact_kinds: ClassVar[Sequence[str]] = ()
    #: minimum recall@10 of approximate kinds on clustered data
    min_recall: ClassVar[float] = 0.95
    #: lower bars for lossy kinds (kind -> recall@10)
    min_recall_by_kind: ClassVar[dict] = {}
    #: kinds scored against reconstructed vectors (compressed codes), and how far from the truth they may be
    reconstructed_kinds: ClassVar[Sequence[str]] = ()
    reconstructed_tol: ClassVar[dict] = {}  # kind -> relative tolerance (default 0.05)

    # ------------------------------------------------------------------ helpers
    def is_exact(self, kind: str) -> bool:
        return kind in self.exact_kinds

    def filled(self, make_store, kind, data, metric="cosine", meta=True):
        store = make_store(data["X"].shape[1], metric, kind)
        store.upsert(data["ids"], data["X"], data["meta"] if meta else None)
        return store

    def check_against_brute(self, store, kind, X, ids, Q, metric, allowed=None, k=K, min_recall=None):
        got_ids, got_sc = store.search(Q, k, where=None if allowed is None else allowed[1])
        mask = None if allowed is None else allowed[0]
        pos, want_sc = brute(X, Q, k, metric, mask)
        want_ids = np.where(pos >= 0, ids[np.maximum(pos, 0)], -1)
        assert got_ids.shape == (len(Q), k) and got_sc.shape == (len(Q), k)
        assert got_ids.dtype == np.int64
        # padding: -1 with -inf, exactly where fewer than k rows qualify
        n_ok = (want_ids >= 0).sum(1)
        assert ((got_ids >= 0).sum(1) == n_ok).all(), "the store returned fewer (or more) rows than qualify"
        assert np.isneginf(got_sc[got_ids < 0]).all()
        if self.is_exact(kind):
            np.testing.assert_array_equal(got_ids, want_ids)
            ok = want_ids >= 0
            np.testing.assert_allclose(got_sc[ok], want_sc[ok], atol=1e-4, rtol=0)
        else:
            rec = _recall(got_ids, want_ids)
            assert rec >= self.recall_bar(kind, min_recall), f"{kind}: recall@{k} {rec:.3f}"
        # whatever is returned: allowed, no duplicates, best first, and scored correctly
        key_pos = {int(kk): i for i, kk in enumerate(ids)}
        for r in range(len(Q)):
            row = got_ids[r][got_ids[r] >= 0]
            assert len(set(row.tolist())) == len(row), "duplicate ids in one result row"
            p = np.array([key_pos[int(x)] for x in row], dtype=np.int64)
            if mask is not None:
                assert mask[p].all(), "the store returned a row the filter excludes"
            sc = got_sc[r][: len(row)]
            assert (np.diff(sc) <= 1e-6).all(), "scores are not sorted best first"
            true_sc = score_of(X[p], np.repeat(Q[r:r + 1], len(p), 0), metric)
            if kind in self.reconstructed_kinds:
                back, found = store.fetch(row)
                assert found.all()
                np.testing.assert_allclose(sc, score_of(back, np.repeat(Q[r:r + 1], len(p), 0), metric), atol=1e-4)
                tol = self.reconstructed_tol.get(kind, 0.05)
                np.testing.assert_allclose(sc, true_sc, rtol=tol, atol=tol)
            else:
                np.testing.assert_allclose(sc, true_sc, atol=1e-4)
        return got_ids, got_sc

    def recall_bar(self, kind: str, asked: float | None = None) -> float:
        """The recall@10 an approximate ``kind`` must reach (``asked``: a test's own, lower bar)."""
        bar = asked or self.min_recall
        return min(bar, self.min_recall_by_kind.get(kind, bar))

    # ------------------------------------------------------------------ basics
    def test_empty_store(self, make_store, kind, base_data):
        store = make_store(16, "cosine", kind)
        assert len(store) == 0
        ids, sc = store.search(base_data["Q"][:3], K)
        assert ids.shape == (3, K) and (ids == -1).all() and np.isneginf(sc).all()
        store.delete(np.array([1, 2, 3], dtype=np.int64))  # no-op
        ids, _ = store.search(base_data["Q"][:1], K, where=filters.parse({"color": "red"}))
        assert (ids == -1).all()

    def test_upsert_len_and_exactness(self, make_store, kind, base_data):
        store = self.filled(make_store, kind, base_data)
        assert len(store) == len(base_data["X"])
        self.check_against_brute(store, kind, base_data["X"], base_data["ids"], base_data["Q"], "cosine")

    def test_upsert_idempotent(self, make_store, kind, base_data):
        store = self.filled(make_store, kind, base_data)
        first = store.search(base_data["Q"], K)
        store.upsert(base_data["ids"], base_data["X"], base_data["meta"])
        assert len(store) == len(base_data["X"])
        second = store.search(base_data["Q"], K)
        if self.is_exact(kind):
            np.testing.assert_array_equal(first[0], second[0])
            np.testing.assert_allclose(first[1], second[1], atol=1e-6)
        else:
            assert _recall(second[0], first[0]) >= 0.9

    def test_upsert_in_batches_equals_one_write(self, make_store, kind, base_data):
        X, ids, meta = base_data["X"], base_data["ids"], base_data["meta"]
        store = make_store(16, "cosine", kind)
        for s in range(0, len(X), 500):
            store.upsert(ids[s:s + 500], X[s:s + 500], meta.iloc[s:s + 500])
        assert len(store) == len(X)
        where = filters.parse({"color": "red"})
        mask = filters.to_mask(where, meta)
        self.check_against_brute(store, kind, X, ids, base_data["Q"], "cosine", allowed=(mask, where))

    def test_upsert_replaces_vectors_and_metadata(self, make_store, kind, base_data):
        X, ids, meta = base_data["X"], base_data["ids"], base_data["meta"]
        store = self.filled(make_store, kind, base_data)
        sel = np.arange(0, 1200, 40)  # 30 rows
        newX = clustered(len(sel), 16, seed=1234, n_clusters=3) * 3
        new_meta = meta.iloc[sel].assign(color="violet")
        store.upsert(ids[sel], newX, new_meta)
        assert len(store) == len(X)
        X2 = X.copy()
        X2[sel] = newX
        meta2 = meta.copy()
        meta2.loc[meta2.index[sel], "color"] = "violet"
        self.check_against_brute(store, kind, X2, ids, base_data["Q"], "cosine")
        # a replaced vector is found at its new place, and no longer at its old one
        if kind in self.reconstructed_kinds:  # codes: the new vector is among its nearest, scored as decoded
            got, sc = store.search(newX[:5], K)
            assert all(i in row for i, row in zip(ids[sel[:5]].tolist(), got.tolist()))
            back, _ = store.fetch(ids[sel[:5]])
            np.testing.assert_allclose(score_of(back, newX[:5], "cosine"), 1.0,
                                       atol=self.reconstructed_tol.get(kind, 0.05))
        else:
            got, sc = store.search(newX[:5], 1)
            np.testing.assert_array_equal(got[:, 0], ids[sel[:5]])
            np.testing.assert_allclose(sc[:, 0], 1.0, atol=1e-4)
        got, sc = store.search(X[sel[:5]], 1)
        assert not ((got[:, 0] == ids[sel[:5]]) & (sc[:, 0] > 0.9999)).any()
        # the metadata were replaced too
        where = filters.parse({"color": "violet"})
        got, _ = store.search(base_data["Q"][:2], 50, where=where)
        assert set(got[0][got[0] >= 0].tolist()) == set(ids[sel].tolist())

    def test_delete(self, make_store, kind, base_data):
        X, ids = base_data["X"], base_data["ids"]
        store = self.filled(make_store, kind, base_data)
        gone = np.arange(0, 1200, 3)
        missing = np.array([5, 6, 2**50], dtype=np.int64)  # never stored
        store.delete(np.concatenate([ids[gone], missing]))
        assert len(store) == len(X) - len(gone)
        store.delete(missing)
        store.delete(np.array([], dtype=np.int64))
        store.delete(ids[gone[:10]])  # already deleted: no-op
        assert len(store) == len(X) - len(gone)
        keep = np.ones(len(X), bool)
        keep[gone] = False
        got, _ = self.check_against_brute(store, kind, X[keep], ids[keep], base_data["Q"], "cosine")
        assert not np.isin(got, ids[gone]).any()
        # a deleted id can come back
        store.upsert(ids[gone[:3]], X[gone[:3]], base_data["meta"].iloc[gone[:3]])
        assert len(store) == len(X) - len(gone) + 3
        got, _ = store.search(X[gone[:3]], 1)
        np.testing.assert_array_equal(got[:, 0], ids[gone[:3]])

    def test_k_larger_than_store(self, make_store, kind, base_data):
        store = make_store(16, "cosine", kind)
        store.upsert(base_data["ids"][:7], base_data["X"][:7])
        ids, sc = store.search(base_data["Q"][:2], 12)
        assert ids.shape == (2, 12)
        assert ((ids >= 0).sum(1) == 7).all()
        assert (ids[:, 7:] == -1).all() and np.isneginf(sc[:, 7:]).all()

    # ------------------------------------------------------------------ filters and metrics
    def test_filters(self, make_store, kind, base_data):
        """Every operator, $and / $or, missing values; one store, every case (failures listed together)."""
        store = self.filled(make_store, kind, base_data)
        meta = base_data["meta"]
        failures = []
        for where in FILTER_CASES:
            node = filters.parse(where)
            if filters.fields(node) - set(meta.columns):
                mask = np.zeros(len(meta), bool)
            else:
                mask = filters.to_mask(node, meta)
            try:
                self.check_against_brute(store, kind, base_data["X"], base_data["ids"], base_data["Q"][:8],
                                         "cosine", allowed=(mask, node), min_recall=0.9)
            except AssertionError as exc:
                failures.append(f"{where}: {str(exc).splitlines()[0] if str(exc) else 'assertion failed'}")
        assert not failures, "filters that disagree with the reference:\n" + "\n".join(failures)

    def test_fetch_metadata_keeps_filter_meaning(self, make_store, kind, base_data):
        """What ``fetch_metadata`` hands back (to ``migrate``) answers every filter like the original."""
        store = self.filled(make_store, kind, base_data)
        meta, ids = base_data["meta"], base_data["ids"]
        pick = np.r_[np.arange(0, 1200, 7), [5]]
        asked = np.r_[ids[pick], [2**50]]  # an unknown id gives a row of missing values
        got = store.fetch_metadata(asked)
        assert isinstance(got, pd.DataFrame) and len(got) == len(asked)
        assert got.iloc[-1].isna().all()
        assert set(got.columns) == set(meta.columns)
        want_meta = meta.iloc[pick].reset_index(drop=True)
        failures = []
        for where in FILTER_CASES:
            node = filters.parse(where)
            if filters.fields(node) - set(meta.columns):
                continue
            want = filters.to_mask(node, want_meta)
            # datetimes come back as datetimes (in-process stores) or as their int ns form (the others)
            have = filters.to_mask(filters.encode_node(node), filters.encode_frame(got.iloc[:-1]))
            if not np.array_equal(want, have):
                failures.append(f"{where}: {int(want.sum())} rows before, {int(have.sum())} after")
        assert not failures, "fetched metadata answer filters differently:\n" + "\n".join(failures)
        if hasattr(store, "fetch_texts"):
            assert store.fetch_texts(asked[:3]) == [None, None, None]  # stored without texts

    @pytest.mark.parametrize("metric", METRICS)
    def test_metric(self, make_store, kind, base_data, metric):
        store = self.filled(make_store, kind, base_data, metric=metric)
        self.check_against_brute(store, kind, base_data["X"], base_data["ids"], base_data["Q"], metric)

    @pytest.mark.parametrize("metric", METRICS)
    def test_filtered_metric(self, make_store, kind, base_data, metric):
        store = self.filled(make_store, kind, base_data, metric=metric)
        node = filters.parse({"$or": [{"color": "green"}, {"size": {"$lt": 20}}]})
        mask = filters.to_mask(node, base_data["meta"])
        self.check_against_brute(store, kind, base_data["X"], base_data["ids"], base_data["Q"], metric,
                                 allowed=(mask, node), min_recall=0.9)

    def test_recall_on_clustered_data(self, make_store, kind, recall_data):
        X, Q, ids = recall_data["X"], recall_data["Q"], recall_data["ids"]
        store = make_store(X.shape[1], "cosine", kind)
        store.upsert(ids, X, make_meta(len(X)))
        got, _ = store.search(Q, K)
        pos, _ = brute(X, Q, K, "cosine")
        recall = _recall(got, ids[pos])
        assert recall >= (1.0 if self.is_exact(kind) else self.recall_bar(kind)), f"recall@10 = {recall:.3f}"

    # ------------------------------------------------------------------ declared capabilities
    def require(self, store, capability):
        """Skip a capability's test for a store that does not declare it (vecnb.stores.base.supports)."""
        if not supports(store, capability):
            pytest.skip(f"{type(store).__name__} does not declare the {capability!r} capability")

    def test_declared_capabilities_match_methods(self, make_store, kind):
        store = make_store(8, "cosine", kind)
        declared = capabilities(store)
        assert declared <= set(CAPABILITIES), f"unknown capabilities {sorted(declared - set(CAPABILITIES))}"
        # what the class says it can do is what its methods do: no undeclared extras, no missing methods
        assert declared == provided(type(store)), (declared, provided(type(store)))
        for name in declared:
            assert isinstance(store, CAPABILITIES[name]), name

    def test_fetch(self, make_store, kind, base_data):
        store = self.filled(make_store, kind, base_data)
        self.require(store, "fetch")
        ids = base_data["ids"]
        missing = np.array([ids.max() + 7], dtype=np.int64)
        V, found = store.fetch(np.concatenate([ids[[3, 0]], missing]))
        assert np.asarray(found).tolist() == [True, True, False]
        np.testing.assert_allclose(np.asarray(V)[:2], base_data["X"][[3, 0]], atol=1e-3)

    def test_iter_ids(self, make_store, kind, base_data):
        store = self.filled(make_store, kind, base_data)
        self.require(store, "iter_ids")
        batches = [np.asarray(b) for b in store.iter_ids(37)]
        assert all(0 < len(b) <= 37 for b in batches)
        got = np.concatenate(batches) if batches else np.empty(0, np.int64)
        assert sorted(got.tolist()) == sorted(base_data["ids"].tolist())

    def test_keyword(self, make_store, kind, base_data):
        store = make_store(base_data["X"].shape[1], "cosine", kind)
        self.require(store, "keyword")
        n = 12
        texts = [f"common word {i}" for i in range(n)]
        texts[4] = "the rare zebra crossing"
        texts[9] = "zebra zebra zebra stripes"
        ids = base_data["ids"][:n]
        store.upsert(ids, base_data["X"][:n], None, texts)
        got, scores = store.keyword(["zebra"], 5)
        got = np.asarray(got)[0]
        hits = got[got >= 0].tolist()
        assert set(hits) == {int(ids[4]), int(ids[9])}
        assert np.all(np.asarray(scores)[0][: len(hits)] > 0)

    def test_fetch_texts(self, make_store, kind, base_data):
        store = make_store(base_data["X"].shape[1], "cosine", kind)
        self.require(store, "texts")
        ids = base_data["ids"][:3]
        store.upsert(ids, base_data["X"][:3], None, ["a b", "c d", "e f"])
        assert list(store.fetch_texts(ids[[2, 0]])) == ["e f", "a b"]

    def test_info(self, make_store, kind, base_data):
        store = self.filled(make_store, kind, base_data)
        self.require(store, "info")
        assert isinstance(store.info(), dict)

    def test_build_is_idempotent(self, make_store, kind, base_data):
        store = self.filled(make_store, kind, base_data)
        self.require(store, "build")
        store.build()
        before = store.search(base_data["Q"], K)
        store.build()
        after = store.search(base_data["Q"], K)
        np.testing.assert_array_equal(before[0], after[0])

    # ------------------------------------------------------------------ persistence
    def test_persistence_round_trip(self, make_store, kind, base_data, tmp_path):
        store = self.filled(make_store, kind, base_data)
        if not supports(store, "persist"):
            pytest.skip(f"{type(store).__name__} keeps its data on a server (no save/load)")
        where = filters.parse({"$or": [{"color": "red"}, {"rating": 5}]})
        before = store.search(base_data["Q"], K)
        before_f = store.search(base_data["Q"], K, where=where)
        store.save(tmp_path / "saved")
        loaded = type(store).load(tmp_path / "saved")
        try:
            assert len(loaded) == len(store) and loaded.dim == store.dim and loaded.metric == store.metric
            after = loaded.search(base_data["Q"], K)
            after_f = loaded.search(base_data["Q"], K, where=where)
            np.testing.assert_array_equal(after[0], before[0])
            np.testing.assert_allclose(after[1], before[1], atol=1e-5)
            np.testing.assert_array_equal(after_f[0], before_f[0])
            # the loaded store keeps working
            loaded.delete(base_data["ids"][:5])
            loaded.upsert(base_data["ids"][:2], base_data["X"][:2], base_data["meta"].iloc[:2])
            assert len(loaded) == len(store) - 3
        finally:
            loaded.close()

    # ------------------------------------------------------------------ input hygiene
    def test_inputs_not_mutated(self, make_store, kind, base_data):
        X = base_data["X"].copy()
        ids = base_data["ids"].copy()
        meta = base_data["meta"].copy()
        Q = base_data["Q"].copy()
        store = make_store(16, "cosine", kind)
        store.upsert(ids, X, meta)
        store.search(Q, K, where=filters.parse({"color": "red"}))
        store.upsert(ids[:10], X[:10] * 2, meta.iloc[:10])
        store.delete(ids[10:20])
        np.testing.assert_array_equal(X, base_data["X"])
        np.testing.assert_array_equal(ids, base_data["ids"])
        np.testing.assert_array_equal(Q, base_data["Q"])
        pd.testing.assert_frame_equal(meta, base_data["meta"])

    def test_read_only_and_float64_inputs(self, make_store, kind, base_data):
        X = base_data["X"].copy()
        X.setflags(write=False)  # like a zero-copy view of an Arrow column
        store = make_store(16, "dot", kind)
        store.upsert(base_data["ids"], X)
        q = base_data["Q"].astype(np.float64)
        got, _ = store.search(q, K)
        pos, _ = brute(base_data["X"], base_data["Q"], K, "dot")
        assert _recall(got, base_data["ids"][pos]) >= (1.0 if self.is_exact(kind) else 0.9)

    def test_dimension_mismatch_rejected(self, make_store, kind, base_data):
        store = self.filled(make_store, kind, base_data)
        with pytest.raises(DimensionMismatchError):
            store.upsert(np.array([1], dtype=np.int64), np.ones((1, 17), np.float32))
        with pytest.raises(DimensionMismatchError):
            store.search(np.ones((1, 15), np.float32), K)
        assert len(store) == len(base_data["X"])

    def test_duplicate_ids_rejected(self, make_store, kind):
        store = make_store(16, "cosine", kind)
        with pytest.raises(DuplicateIdError):
            store.upsert(np.array([1, 2, 1], dtype=np.int64), np.ones((3, 16), np.float32))
        assert len(store) == 0

    def test_bad_vectors_rejected(self, make_store, kind):
        store = make_store(16, "cosine", kind)
        bad = np.ones((2, 16), np.float32)
        bad[1, 3] = np.nan
        with pytest.raises(InvalidVectorError):
            store.upsert(np.array([1, 2], dtype=np.int64), bad)
        with pytest.raises(InvalidVectorError):  # cosine has no direction for a zero vector
            store.upsert(np.array([1], dtype=np.int64), np.zeros((1, 16), np.float32))
        assert len(store) == 0

    def test_closed_store_raises(self, make_store, kind, base_data):
        store = self.filled(make_store, kind, base_data)
        store.close()
        with pytest.raises(StoreError):
            store.search(base_data["Q"][:1], K)
        with pytest.raises(StoreError):
            store.upsert(base_data["ids"][:1], base_data["X"][:1])
        with pytest.raises(StoreError):
            store.delete(base_data["ids"][:1])
        store.close()  # closing twice is fine

    def test_context_manager_closes(self, make_store, kind, base_data):
        with make_store(16, "cosine", kind) as store:
            store.upsert(base_data["ids"][:5], base_data["X"][:5])
        with pytest.raises(StoreError):
            store.search(base_data["Q"][:1], K)

    def test_huge_k_is_clamped_before_allocating(self, make_store, kind, base_data):
        """k=10**9 on 7 rows: 7 hits per query in (nq, 7) arrays, not (nq, 10**9); k=2**63 is refused clearly."""
        store = make_store(16, "cosine", kind)
        store.upsert(base_data["ids"][:7], base_data["X"][:7], base_data["meta"].iloc[:7],
                     [f"red fox {i}" for i in range(7)])
        ids, sc = store.search(base_data["Q"][:2], 10**9)
        assert ids.shape == (2, 7) and (ids >= 0).all() and np.isfinite(sc).all()
        want, _ = store.search(base_data["Q"][:2], 7)
        np.testing.assert_array_equal(ids, want)
        ids, _ = store.search(base_data["Q"][:2], 10**9, where=filters.parse({"color": "red"}))
        assert ids.shape == (2, 7) and ((ids >= 0).sum(1) <= 7).all()
        with pytest.raises(InvalidInputError, match="too large"):
            store.search(base_data["Q"][:1], 2**63)
        if hasattr(store, "keyword"):
            kid, _ = store.keyword(["fox"], 10**9)
            assert kid.shape[1] <= 7 and (kid >= 0).sum() == 7
            with pytest.raises(InvalidInputError):
                store.keyword(["fox"], 2**63)


__all__ = ["FILTER_CASES", "METRICS", "K", "StoreConformance", "brute", "clustered", "make_ids", "make_meta", "score_of"]
