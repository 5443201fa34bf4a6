"""Helpers the Dask workers import (a module name unique across test folders)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import numpy as np

from vecnb.embed import Embedder


class CountingEmbedder(Embedder):
    """Deterministic vectors; every construction and every text embedded is logged to files in ``log``."""

    name = "dask-counting"

    def __init__(self, log: str, dim: int = 16):
        self.log, self._dim = log, dim
        Path(log, f"init-{os.getpid()}-{uuid.uuid4().hex}").write_text(str(os.getpid()))

    @property
    def model_id(self) -> str:
        return f"dask-counting-{self._dim}-{hashlib.sha1(self.log.encode()).hexdigest()[:8]}"

    @property
    def dim(self) -> int:
        return self._dim

    def spec(self) -> dict:
        return {"name": self.name, "log": self.log, "dim": self._dim}

    def _embed(self, texts):
        Path(self.log, f"embed-{os.getpid()}-{uuid.uuid4().hex}").write_text("\n".join(texts))
        return np.asarray([np.random.default_rng(int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(),
                                                                 "little")).normal(size=self._dim) for t in texts],
                          dtype=np.float32).reshape(len(texts), self._dim)

    def embed(self, texts):
        return self._embed(list(texts))


def inits(log: str) -> list[int]:
    return [int(p.read_text()) for p in Path(log).glob("init-*")]


def embedded(log: str) -> list[str]:
    return [t for p in Path(log).glob("embed-*") for t in p.read_text().split("\n") if p.read_text()]


def flaky(part, marker: str, label, failures: int):
    """Raise in the partition holding ``label`` the first ``failures`` times (counted in files under ``marker``)."""
    if label in part.index:
        seen = len(list(Path(marker).glob("fail-*")))
        if seen < failures:
            Path(marker, f"fail-{uuid.uuid4().hex}").write_text("x")
            raise RuntimeError(f"injected failure {seen + 1} of {failures}")
    return part


def die_once(part, marker: str, label):
    """Kill this worker process (no cleanup) the first time the partition holding ``label`` is computed."""
    if label in part.index and not Path(marker, "died").exists():
        Path(marker, "died").write_text(str(os.getpid()))
        os._exit(1)
    return part


class ThreadProbe(Embedder):
    """Records, for every call, the thread limits its task runs under (BLAS, tokenizers, its own ``threads``)."""

    name = "dask-threads"

    def __init__(self, log: str, dim: int = 8):
        self.log, self._dim, self.threads = log, dim, 4

    @property
    def model_id(self) -> str:
        return f"dask-threads-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def spec(self) -> dict:
        return {"name": self.name, "log": self.log, "dim": self._dim}

    def embed(self, texts):
        import json

        Path(self.log, f"probe-{os.getpid()}-{uuid.uuid4().hex}").write_text(json.dumps(thread_state(self.threads)))
        return np.ones((len(list(texts)), self._dim), np.float32)


def thread_state(own=None) -> dict:
    from threadpoolctl import threadpool_info

    return {"blas": sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}),
            "tokenizers": os.environ.get("TOKENIZERS_PARALLELISM"), "own": own}


def probes(log: str) -> list[dict]:
    import json

    return [json.loads(p.read_text()) for p in Path(log).glob("probe-*")]


def page_faults(steady: bool) -> int:
    """Minor page faults of allocating and freeing a 2 MB array 200 times (inside vecnb's steady_malloc or not)."""
    import contextlib
    import resource

    from vecnb.dask import steady_malloc

    with steady_malloc() if steady else contextlib.nullcontext():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(200):
            x = np.ones(1 << 18)
            del x
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
