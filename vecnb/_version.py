"""The one version of vecnb (pyproject.toml reads it; nothing else writes it)."""

__version__ = "0.1.0"
