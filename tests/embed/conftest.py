"""Fixtures for the embedder tests: an isolated cache directory and a counting embedder."""

from __future__ import annotations

import pytest
from embed_helpers import Counting


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Every test gets its own ``VECNB_CACHE_DIR`` (embedding cache + fitted tfidf states)."""
    d = tmp_path / "vecnb-cache"
    monkeypatch.setenv("VECNB_CACHE_DIR", str(d))
    return d


@pytest.fixture
def counting():
    return Counting()

