"""The docstrings' examples run, and every public function and class has one.

Public means: no leading underscore, in a module whose dotted path has no part with a leading
underscore (plus the modules ``vecnb.__all__`` re-exports, e.g. ``vecnb.metrics``), reached
through the module's ``__all__`` (or, without one, the functions and classes it defines), and
the public methods and properties of those classes. Every such object is searched for doctest
examples, which are run in a fresh folder with a fresh embedding cache: an example that no
longer matches what the code does fails here.

Every public function, class and method must carry a numpydoc ``Examples`` section, except:

* a property (an attribute: it needs a docstring, its example is its class's);
* a method that overrides one of a base class (LangChain's, pydantic's, a vecnb base): the
  base documents it;
* a method that implements a member of a vecnb ``Protocol`` the class satisfies (a store's
  ``upsert`` / ``search`` / ``fetch``...): the protocol's member carries the example;
* a method called as ``.name(`` in its class's own ``Examples`` section.

``KNOWN_MISSING`` lists the objects still without one; it may only shrink (an object that gains
an example must leave the list, and a new public object without one fails).

Run alone with ``pytest tests/docs/test_docstrings.py``; it takes a few seconds (the examples
use the ``hashing`` embedder and tiny frames; nothing downloads, nothing needs a server).
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
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


def public_modules() -> dict[str, types.ModuleType]:
    """Dotted name -> module: those ``vecnb.__all__`` names, then every module without a ``_`` part."""
    out: dict[str, types.ModuleType] = {}
    for name in vecnb.__all__:
        obj = getattr(vecnb, name)
        if isinstance(obj, types.ModuleType):
            out[f"vecnb.{name}"] = obj
    for info in sorted(pkgutil.walk_packages(vecnb.__path__, "vecnb."), key=lambda i: i.name):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        out.setdefault(info.name, importlib.import_module(info.name))
    return out


def _module_members(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items()
                 if (inspect.isclass(v) or inspect.isfunction(v)) and v.__module__ == module.__name__]
    return [n for n in names if not n.startswith("_")]


def public_objects() -> dict[str, object]:
    """Name -> object for everything the API reference documents as public (first name wins)."""
    out: dict[str, object] = {}
    seen: set[int] = set()

    def add(name: str, obj: object) -> None:
        if id(obj) not in seen:
            seen.add(id(obj))
            out[name] = obj

    for name in vecnb.__all__:
        obj = getattr(vecnb, name)
        if not name.startswith("__") and not isinstance(obj, types.ModuleType):
            add(f"vecnb.{name}", obj)
    for modname, module in public_modules().items():
        for member in _module_members(module):
            value = getattr(module, member)
            if callable(value) and not isinstance(value, types.ModuleType):
                add(f"{modname}.{member}", value)
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
        for i, (name, obj) in enumerate(public_objects().items()):
            for test in _examples(name, obj):
                (tmp_path / str(i)).mkdir(exist_ok=True)
                monkeypatch.chdir(tmp_path / str(i))  # each docstring's files in a folder of its own
                result = runner.run(test, out=lambda s: failures.append(s))
                ran += result.attempted
    assert ran >= 400, f"only {ran} example lines ran"
    assert not failures, "".join(failures)[:8000]


def test_core_api_has_examples():
    objects = public_objects()
    missing = [name for name in CORE if "Examples" not in (inspect.getdoc(objects.get(name)) or "")]
    assert not missing, f"no Examples section: {missing}"


def _is_typing_alias(obj: object) -> bool:
    # type aliases (``filters.Node = Union[...]``) carry no docstring of their own
    return typing.get_origin(obj) is not None


def undocumented() -> list[str]:
    return [name for name, obj in public_objects().items()
            if not (inspect.getdoc(obj) or "").strip() and not _is_typing_alias(obj)]


def _protocols(objects: dict[str, object]) -> list[type]:
    return [o for o in objects.values() if inspect.isclass(o) and getattr(o, "_is_protocol", False)
            and o is not typing.Protocol]


def _members(proto: type) -> set[str]:
    return {a for a in vars(proto) if not a.startswith("_")}


def _class_example_source(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc[doc.index("Examples"):] if "Examples" in doc else ""


def without_examples() -> list[str]:
    """Public functions, classes and methods with no ``Examples`` section (see the module docstring)."""
    objects = public_objects()
    protocols = _protocols(objects)
    owner = {}
    for name, obj in objects.items():
        if inspect.isclass(obj):
            for attr in vars(obj):
                owner[f"{name}.{attr}"] = obj
    out = []
    for name, obj in objects.items():
        if isinstance(obj, property) or _is_typing_alias(obj) or "Examples" in (inspect.getdoc(obj) or ""):
            continue
        cls = owner.get(name)
        if cls is not None:
            attr = name.rsplit(".", 1)[1]
            if any(attr in vars(base) for base in cls.__mro__[1:] if base is not object):
                continue
            if any(attr in _members(p) and all(hasattr(cls, m) for m in _members(p)) and cls is not p
                   for p in protocols):
                continue
            if re.search(rf"\.{re.escape(attr)}\b", _class_example_source(cls)):
                continue
        out.append(name)
    return out


def test_every_public_object_has_a_docstring():
    missing = sorted(set(undocumented()) - KNOWN_UNDOCUMENTED)
    assert not missing, f"no docstring: {missing}"
    fixed = sorted((KNOWN_UNDOCUMENTED & set(public_objects())) - set(undocumented()))
    assert not fixed, f"these have a docstring now: remove them from KNOWN_UNDOCUMENTED: {fixed}"


def test_every_public_function_and_class_has_an_example():
    got = set(without_examples())
    missing = sorted(got - KNOWN_MISSING)
    assert not missing, f"no numpydoc Examples section (add one that runs offline in ~ms): {missing}"
    # (a listed name that is no longer public is simply ignored)
    fixed = sorted((KNOWN_MISSING & set(public_objects())) - got)
    assert not fixed, f"these have an example now: remove them from KNOWN_MISSING: {fixed}"


@pytest.mark.parametrize("name", CORE)
def test_core_names_exist(name):
    assert name in public_objects(), f"{name} is not a public object any more: update CORE"


# ------------------------------------------------------------------ the list that may only shrink
KNOWN_UNDOCUMENTED: frozenset[str] = frozenset({
    "vecnb.bench.dask_scale.main",
    "vecnb.dask.IngestReport.to_dict",
    "vecnb.demo.main",
    "vecnb.stores.chroma_store.ChromaStore.home_append",
    "vecnb.stores.chroma_store.ChromaStore.home_read",
    "vecnb.stores.chroma_store.ChromaStore.home_reset",
    "vecnb.stores.chroma_store.ChromaStore.locator",
    "vecnb.stores.elasticsearch_store.ElasticsearchStore.locator",
    "vecnb.stores.elasticsearch_store.ElasticsearchStore.where_url",
    "vecnb.stores.numpy_store.MetaTable.columns",
    "vecnb.stores.numpy_store.MetaTable.rows",
    "vecnb.stores.sqlite_store.SqliteStore.locator",
    "vecnb.stores.sqlite_store.SqliteStore.take_place_of",
})
KNOWN_MISSING: frozenset[str] = frozenset({
    "vecnb.bench.dask_scale.main",
    "vecnb.bench.dask_scale.run",
    "vecnb.bench.foundation",
    "vecnb.bench.ingest.run",
    "vecnb.bench.langchain.compare",
    "vecnb.bench.memory",
    "vecnb.bench.mmap_open",
    "vecnb.bench.overhead",
    "vecnb.bench.per_query",
    "vecnb.bench.plot",
    "vecnb.bench.profile_search",
    "vecnb.bench.reopen.frame",
    "vecnb.bench.reopen.run",
    "vecnb.bench.scorecard",
    "vecnb.bench.widgets.compare_metrics_update",
    "vecnb.bench.widgets.explore_ready",
    "vecnb.dask.DaskVecAccessor.persist",
    "vecnb.dask.DaskVecAccessor.to_store",
    "vecnb.demo.main",
    "vecnb.embed.minilm.MiniLM.kwargs_from_model_id",
    "vecnb.embed.minilm.MiniLM.load",
    "vecnb.embed.static.WordLlamaEmbedder",
    "vecnb.embed.static.WordLlamaEmbedder.kwargs_from_model_id",
    "vecnb.embed.static.WordLlamaEmbedder.load",
    "vecnb.embed.static.import_wordllama",
    "vecnb.index.home.Home.maybe_compact",
    "vecnb.index.opening.build_owned",
    "vecnb.index.opening.open_index",
    "vecnb.index.opening.open_reference",
    "vecnb.index.opening.reference_manifest",
    "vecnb.integrations.langchain.VecnbVectorStore.similarity_search_with_score_by_vector",
    "vecnb.keyword.RRF.combine",
    "vecnb.keyword.Weighted.combine",
    "vecnb.servers.PostgresServer",
    "vecnb.servers.PostgresServer.stop",
    "vecnb.servers.postgres",
    "vecnb.servers.start",
    "vecnb.storage.Location.errors",
    "vecnb.stores.base.KeepsIndexRecord.home_append",
    "vecnb.stores.base.KeepsIndexRecord.home_reset",
    "vecnb.stores.base.KeepsIndexRecord.staging",
    "vecnb.stores.base.KeepsIndexRecord.take_place_of",
    "vecnb.stores.base.Reference",
    "vecnb.stores.base.Reference.open_reference",
    "vecnb.stores.base.Reference.reference",
    "vecnb.stores.elasticsearch_store.ElasticsearchStore.drop",
    "vecnb.stores.elasticsearch_store.ElasticsearchStore.refresh_now",
    "vecnb.stores.pgvector_store.PgVectorStore.atomic",
    "vecnb.stores.pgvector_store.PgVectorStore.build_index",
    "vecnb.stores.pgvector_store.PgVectorStore.drop",
    "vecnb.stores.pgvector_store.PgVectorStore.search_params",
    "vecnb.stores.pgvector_store.PgVectorStore.set_search_params",
    "vecnb.stores.pgvector_store.PgVectorStore.settings",
    "vecnb.widgets.BenchmarkPanel",
    "vecnb.widgets.BenchmarkPanel.run",
})
