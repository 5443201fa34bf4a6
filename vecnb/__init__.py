"""vecnb: vector search for pandas DataFrames in notebooks.

``import vecnb`` registers the ``df.vec`` accessor and needs only numpy, pandas and pyarrow.
Stores, embedders and widgets import their heavy dependencies on first use.

Layers (a module imports only from its own layer or those below it; checked by import-linter
in CI, ``make lint``, with the contracts in pyproject.toml)::

    demo
    integrations/                           idx.as_langchain() / as_retriever(): LangChain (optional)
    accessor (df.vec) : dask (ddf.vec) : widgets : bench   the faces, views, measurement
    viz | datasets                          pure numbers for the views, shipped data
    ops/      migrate, IncrementalVectorizer
    index/    VectorIndex: a store + the rows it holds (sync, swap, save, load, open)
    search/   inputs, bm25, fusion, rerank, targets (frame | index), keyword (the one
              keyword / hybrid path), Query, evaluate
    frame/ | stores/                        columns, hashing, results | backends + capabilities
    embed/    Embedder protocol, registry, built-in models, cache
    _pgserver . servers                     embedded PostgreSQL
    _core/    arrow, metrics (exact top-k), filters, storage (atomic, checksummed)
    errors | _version                       the error tree, the one version

``|`` separates modules that must not import each other (no store imports another store
either). Importing any submodule runs this file, which registers ``df.vec``: that is what
``import vecnb`` promises, so ``import vecnb.stores.base`` loads the (light) accessor too.
The public names below are resolved lazily from those modules.
"""

from __future__ import annotations

import contextlib
import sys

from vecnb import errors
from vecnb._core import filters, metrics
from vecnb._core.arrow import install_parquet_support as _install_parquet_support
from vecnb._core.lazy import lazy_attributes as _lazy_attributes
from vecnb._core.lazy import load as _load
from vecnb._version import __version__
from vecnb.accessor import VecAccessor
from vecnb.errors import *  # noqa: F401,F403 - the exception tree is public
from vecnb.errors import __all__ as _errors_all

# `import vecnb.metrics` / `from vecnb.filters import parse` keep working: public module names
sys.modules.setdefault("vecnb.metrics", metrics)
sys.modules.setdefault("vecnb.filters", filters)

_install_parquet_support()


def _dask_hook() -> None:
    """Register ``ddf.vec`` when ``dask.dataframe`` is imported (now or later) without importing dask."""
    if "dask.dataframe" in sys.modules:
        _load("vecnb.dask").register()
        return
    import importlib.abc
    import importlib.machinery

    class _Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201
            if name != "dask.dataframe":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return None
            run = spec.loader.exec_module

            def exec_module(module):  # noqa: ANN001, ANN202
                run(module)
                with contextlib.suppress(ImportError):
                    _load("vecnb.dask").register()

            spec.loader.exec_module = exec_module
            return spec

    if not any(type(f).__name__ == "_Hook" and f.__module__ == __name__ for f in sys.meta_path):
        sys.meta_path.insert(0, _Hook())


_dask_hook()

# public names resolved lazily (module or "module:attribute")
_LAZY = {
    "datasets": "vecnb.datasets",
    "embed": "vecnb.embed",
    "stores": "vecnb.stores",
    "bench": "vecnb.bench",
    "widgets": "vecnb.widgets",
    "storage": "vecnb._core.storage",
    "keyword": "vecnb.search.keyword",
    "sync": "vecnb.frame.hashing",
    "VectorIndex": "vecnb.index:VectorIndex",
    "load_index": "vecnb.index:load_index",
    "open_index": "vecnb.index:open_index",
    "servers": "vecnb.servers",
    "Query": "vecnb.search.query:Query",
    "evaluate": "vecnb.search.evaluate:evaluate",
    "migrate": "vecnb.ops.migrate:migrate",
    "IncrementalVectorizer": "vecnb.ops.vectorize:IncrementalVectorizer",
    "dask": "vecnb.dask",
}

__all__ = ["VecAccessor", "__version__", "errors", "filters", "metrics", *_LAZY, *_errors_all]


__getattr__, __dir__ = _lazy_attributes(__name__, _LAZY, globals())
