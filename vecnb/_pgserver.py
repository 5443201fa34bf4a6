"""Deprecated alias of :mod:`vecnb.servers` (kept so older notebooks and scripts keep working)."""

from __future__ import annotations

from vecnb.servers import _readable_copy, _Runner, find_pginstall, start  # noqa: F401

__all__ = ["start", "find_pginstall"]
