"""``checked_queries``: the one-pass query check every store runs gives exactly what
``check_vectors`` + ``unit_queries`` give (same arrays, same errors), on the edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from vecnb._core.metrics import check_vectors, checked_queries, unit_queries
from vecnb.errors import InvalidVectorError

_RNG = np.random.default_rng(0)
CASES = {
    "one": _RNG.standard_normal((1, 8)).astype(np.float32),
    "three": _RNG.standard_normal((3, 8)).astype(np.float32),
    "huge": np.full((1, 8), 1e30, np.float32),               # squared norm overflows float32
    "tiny": np.full((2, 8), 1e-20, np.float32),              # underflows float32
    "max": np.full((1, 8), 3e38, np.float32),
    "zero": np.zeros((1, 8), np.float32),
    "zero_in_batch": np.vstack([_RNG.standard_normal((2, 8)), np.zeros((1, 8))]).astype(np.float32),
    "nan": np.array([[np.nan] + [1.0] * 7], np.float32),
    "inf_in_batch": np.array([[1.0] * 8, [np.inf] + [1.0] * 7], np.float32),
}


def _reference(q, metric):
    check_vectors(q, metric, "query vectors")
    return unit_queries(q) if metric == "cosine" else q


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_checked_queries_same_as_the_two_checks(case, metric):
    q = CASES[case]
    try:
        want = _reference(q, metric)
    except InvalidVectorError as exc:
        with pytest.raises(InvalidVectorError, match=str(exc).split("(")[0]):
            checked_queries(q, metric)
        return
    got = checked_queries(q, metric)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    if case in ("one", "three"):
        assert got is q  # moderate queries pass through untouched


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_check_vectors_fast_path_same_verdict(case, metric):
    """check_vectors' one-pass path accepts exactly what the detailed checks accept (huge components that
    overflow the float32 sum of squares fall through to them and pass)."""
    q = CASES[case]
    bad_finite = not np.isfinite(q).all()
    bad_zero = metric == "cosine" and (~np.any(q != 0, axis=1)).any()
    if bad_finite or bad_zero:
        with pytest.raises(InvalidVectorError):
            check_vectors(q, metric)
    else:
        check_vectors(q, metric)


def test_fast_einsum_gives_numpys_einsum_bit_for_bit():
    """metrics.fast_einsum (numpy's C einsum without its Python wrapper) is what np.einsum computes
    with optimize=False: the same sums, for the query checks and the faiss store's normalisation."""
    from vecnb._core.metrics import fast_einsum

    rng = np.random.default_rng(5)
    for shape in ((1, 384), (3, 7), (50, 384)):
        x = (rng.standard_normal(shape) * 1e3).astype(np.float32)
        for kw in ({}, {"dtype": np.float64}):
            a, b = fast_einsum("ij,ij->i", x, x, **kw), np.einsum("ij,ij->i", x, x, **kw)
            assert a.dtype == b.dtype and np.array_equal(a, b)
