"""The docstrings' examples run, and the core public API has them.

Every public object (``vecnb.__all__``, the ``__all__`` of each public module, and the public
methods of the public classes) is searched for doctest examples, which are run in a fresh
folder with a fresh embedding cache: an example that no longer matches what the code does
fails here. The API named in DESIGN.md must carry a numpydoc ``Examples`` section.

Run alone with ``pytest tests/docs/test_docstrings.py``; it takes a few seconds (the examples
use the ``hashing`` embedder and tiny frames).
"""

from __future__ import annotations

import doctest
import inspect
import types
import typing

import numpy as np
import pandas as pd
import pytest

import vecnb

# the calls DESIGN.md lists, by the object that carries them: each needs an ``Examples`` section
CORE = [
    "vecnb.VecAccessor.embed", "vecnb.VecAccessor.search", "vecnb.VecAccessor.attach",
    "vecnb.VecAccessor.matrix", "vecnb.VecAccessor.index", "vecnb.VecAccessor.keyword",
    "vecnb.VecAccessor.hybrid", "vecnb.VectorIndex.search", "vecnb.VectorIndex.run",
    "vecnb.VectorIndex.save", "vecnb.load_index", "vecnb.Query", "vecnb.Query.hybrid",
    "vecnb.Query.to_dict", "vecnb.evaluate", "vecnb.stores.create", "vecnb.stores.names",
    "vecnb.datasets.load", "vecnb.migrate",
]


def public_objects() -> dict[str, object]:
    """Name -> object for everything the API reference documents as public."""
    out: dict[str, object] = {}
    seen: set[int] = set()

    def add(name: str, obj: object) -> None:
        if id(obj) not in seen:
            seen.add(id(obj))
            out[name] = obj

    for name in vecnb.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(vecnb, name)
        if isinstance(obj, types.ModuleType):
            for member in getattr(obj, "__all__", []):
                value = getattr(obj, member)
                if callable(value):
                    add(f"vecnb.{name}.{member}", value)
        else:
            add(f"vecnb.{name}", obj)
    for name, obj in list(out.items()):
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr, raw in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if inspect.isfunction(raw) or isinstance(raw, (classmethod, staticmethod)):
                    add(f"{name}.{attr}", getattr(obj, attr))
                elif isinstance(raw, property):
                    add(f"{name}.{attr}", raw)
    return out


def _examples(name: str, obj: object) -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(recurse=False, exclude_empty=True)
    module = inspect.getmodule(obj if not isinstance(obj, property) else obj.fget)
    # like ``pytest --doctest-modules``: the module's own names, plus np / pd / vecnb
    globs = {**vars(module), "np": np, "pd": pd, "vecnb": vecnb}
    return finder.find(obj, name, module=module, globs=globs)


def test_every_docstring_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VECNB_CACHE_DIR", str(tmp_path / "cache"))
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    ran, failures = 0, []
    with pd.option_context("display.width", 100, "display.max_columns", 20):
        for name, obj in public_objects().items():
            for test in _examples(name, obj):
                result = runner.run(test, out=lambda s: failures.append(s))
                ran += result.attempted
    assert ran >= 40, f"only {ran} example lines ran"
    assert not failures, "".join(failures)[:8000]


def test_core_api_has_examples():
    objects = public_objects()
    missing = [name for name in CORE if "Examples" not in (inspect.getdoc(objects.get(name)) or "")]
    assert not missing, f"no Examples section: {missing}"


# classes whose every public method is API a user calls (others' methods may be plumbing,
# e.g. vecnb.storage.LocalFS mirrors fsspec's file-system methods)
API_CLASSES = ("vecnb.VecAccessor", "vecnb.VectorIndex", "vecnb.Query", "vecnb.stores.VectorStore",
               "vecnb.stores.BaseStore", "vecnb.IncrementalVectorizer")


def test_every_public_function_and_class_has_a_docstring():
    # type aliases (``filters.Node = Union[...]``) carry no docstring of their own
    undocumented = [name for name, obj in public_objects().items()
                    if not (inspect.getdoc(obj) or "").strip() and typing.get_origin(obj) is None
                    and (name.count(".") == 1 or name.rsplit(".", 1)[0] in API_CLASSES
                         or (inspect.isclass(obj) or inspect.isfunction(obj)) and name.count(".") == 2)]
    assert not undocumented, f"no docstring: {undocumented}"


@pytest.mark.parametrize("name", CORE)
def test_core_names_exist(name):
    assert name in public_objects(), f"{name} is not a public object any more: update CORE"
