"""The ops layer's public names, where they lived before the split (kept so old imports work).

:func:`migrate` lives in :mod:`vecnb.ops.migrate`, :class:`IncrementalVectorizer` in
:mod:`vecnb.ops.vectorize`, and what both use (checkpoints, retries) in :mod:`vecnb.ops._common`.
"""

from __future__ import annotations

from vecnb.ops._common import Checkpoint, call_with_retries
from vecnb.ops.migrate import MigrationReport, migrate
from vecnb.ops.vectorize import IncrementalVectorizer, VectorizeReport

__all__ = ["migrate", "MigrationReport", "IncrementalVectorizer", "VectorizeReport", "Checkpoint",
           "call_with_retries"]
