"""Helpers for the embedder tests (a module name unique across test folders)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def fake_vectors(texts, dim=8):
    """A fixed pseudo-random vector per text, seeded by the text's hash."""
    rows = [np.random.default_rng(int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little"))
            .normal(size=dim) for t in texts]
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), dim)


class Counting:
    """``list[str] -> (n, dim)`` that records every text it is asked to embed."""

    def __init__(self, model_id="test-counting-v1", dim=8):
        if model_id is not None:
            self.model_id = model_id
        self.dim = dim
        self.calls: list[list[str]] = []

    @property
    def seen(self):
        return [t for call in self.calls for t in call]

    def __call__(self, texts):
        self.calls.append(list(texts))
        return fake_vectors(texts, self.dim)


def run_python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter (repo root importable); return its stdout."""
    full_env = {**os.environ, **env}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=full_env,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout
