"""vecnb: vector search for pandas DataFrames in notebooks.

``import vecnb`` registers the ``df.vec`` accessor and needs only numpy, pandas and pyarrow.
Stores, embedders and widgets import their heavy dependencies on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from vecnb import errors, filters, metrics
from vecnb._arrow import install_parquet_support as _install_parquet_support
from vecnb.accessor import VecAccessor
from vecnb.errors import *  # noqa: F401,F403 - the exception tree is public
from vecnb.errors import __all__ as _errors_all

__version__ = "0.1.0"

_install_parquet_support()

# public names resolved lazily (module or "module:attribute")
_LAZY = {
    "datasets": "vecnb.datasets",
    "embed": "vecnb.embed",
    "stores": "vecnb.stores",
    "bench": "vecnb.bench",
    "widgets": "vecnb.widgets",
    "keyword": "vecnb.keyword",
    "sync": "vecnb.sync",
    "VectorIndex": "vecnb.index:VectorIndex",
    "load_index": "vecnb.index:load_index",
    "Query": "vecnb.query:Query",
    "evaluate": "vecnb.evaluate:evaluate",
    "migrate": "vecnb.migration:migrate",
    "IncrementalVectorizer": "vecnb.migration:IncrementalVectorizer",
}

__all__ = ["VecAccessor", "errors", "filters", "metrics", *_LAZY, *_errors_all]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'vecnb' has no attribute {name!r}")
    mod, _, attr = target.partition(":")
    value = import_module(mod)
    if attr:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
