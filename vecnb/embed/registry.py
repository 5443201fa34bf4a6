"""Name -> embedder registry with lazy imports (the fsspec ``known_implementations`` pattern).

A name maps to a factory (any callable returning an :class:`~vecnb.embed.Embedder`, usually
a class) or to a ``"module:attr"`` string imported on first use, plus the pip extra that
provides its optional dependencies. Third-party packages register embedders through the
entry-point group ``vecnb.embedders`` (``name = "package.module:Factory"``), read the first
time a name is not found.

:func:`get_embedder` keeps one instance per ``(name, arguments)`` so that looking a model up
again (every ``df.vec.search("...")`` resolves the column's model) does not reload weights.
Instances that still have to be fitted (an unfitted ``tfidf``) are never shared.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from vecnb.embed.base import CallableEmbedder, Embedder
from vecnb._core.lazy import load
from vecnb.errors import InvalidInputError, ModelMismatchError, UnknownModelError

__all__ = ["ENTRY_POINT_GROUP", "EmbedderLike", "clear_instances", "get_embedder", "names", "register", "registration"]

ENTRY_POINT_GROUP = "vecnb.embedders"

EmbedderLike = str | Mapping[str, Any] | Embedder | Callable[[list[str]], Any]
"""What :func:`get_embedder` accepts: a name, a spec dict, an Embedder or a callable."""


class _Entry:
    __slots__ = ("_factory", "extra", "target")

    def __init__(self, target: str | Callable[..., Any], extra: str | None):
        self.target = target
        self.extra = extra
        self._factory: Callable[..., Any] | None = None if isinstance(target, str) else target

    def factory(self, name: str) -> Callable[..., Any]:
        if self._factory is None:
            assert isinstance(self.target, str)
            self._factory = load(self.target, feature=f"the {name!r} embedder", extra=self.extra)
        return self._factory


_BUILTINS: dict[str, tuple[str, str | None]] = {
    "minilm": ("vecnb.embed.minilm:MiniLM", "minilm"),
    "wordllama": ("vecnb.embed.static:WordLlamaEmbedder", "wordllama"),
    "tfidf": ("vecnb.embed.lexical:TfidfEmbedder", "sklearn"),
    "hashing": ("vecnb.embed.lexical:HashingEmbedder", "sklearn"),
}

_REGISTRY: dict[str, _Entry] = {k: _Entry(t, e) for k, (t, e) in _BUILTINS.items()}
_LOCK = threading.RLock()
_ENTRY_POINTS_LOADED = False
_INSTANCES: dict[str, Embedder] = {}


def register(name: str, factory: str | Callable[..., Any], *, extra: str | None = None,
             overwrite: bool = False) -> None:
    """Register an embedder factory under ``name``.

    Parameters
    ----------
    name : str
        Registry name, used by ``get_embedder(name)`` and ``df.vec.embed(col, model=name)``.
    factory : callable or str
        A callable ``factory(**kwargs) -> Embedder`` (a class works), a plain
        ``f(list[str]) -> array`` embedding function (wrapped, see below), or
        ``"module:attr"`` imported lazily on first use.
    extra : str, optional
        The ``vecnb[extra]`` that installs the factory's dependencies; named in the
        :class:`~vecnb.errors.MissingDependencyError` raised when its import fails.
    overwrite : bool
        Replace an existing registration. Registering the same factory twice is always fine.

    Raises
    ------
    InvalidInputError
        Empty name, bad ``"module:attr"`` string, or a clash without ``overwrite=True``.

    Notes
    -----
    A factory that returns a plain callable instead of an :class:`Embedder` is wrapped in
    :class:`~vecnb.embed.CallableEmbedder` named ``name``.

    Examples
    --------
    >>> vecnb.embed.register("hashing", "vecnb.embed.lexical:HashingEmbedder")   # the same factory: a no-op
    >>> vecnb.embed.register("hashing", lambda **kw: None)
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: an embedder named 'hashing' is already registered ...
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"embedder name must be a non-empty string, got {name!r}")
    if isinstance(factory, str):
        module, sep, _ = factory.partition(":")
        if not module or not sep:
            raise InvalidInputError(f"factory string must look like 'package.module:attr', got {factory!r}")
    elif not callable(factory):
        raise InvalidInputError(f"factory must be a callable or a 'module:attr' string, got {type(factory).__name__}")
    with _LOCK:
        old = _REGISTRY.get(name)
        if old is not None and not overwrite and old.target != factory:
            raise InvalidInputError(
                f"an embedder named {name!r} is already registered ({old.target!r}); "
                "pass overwrite=True to replace it")
        _REGISTRY[name] = _Entry(factory, extra)
        for key in [k for k in _INSTANCES if json.loads(k)[0] == name]:
            del _INSTANCES[key]


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    try:
        from importlib.metadata import entry_points

        eps = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # noqa: BLE001 - broken metadata must not break vecnb  # pragma: no cover
        return
    with _LOCK:
        for ep in eps:
            _REGISTRY.setdefault(ep.name, _Entry(ep.value, None))


def names() -> list[str]:
    """Return the registered embedder names, sorted (built-ins, plugins, your own).

    Returns
    -------
    list of str

    Examples
    --------
    >>> [n for n in vecnb.embed.names() if n in ("hashing", "minilm", "tfidf", "wordllama")]  # + any you registered
    ['hashing', 'minilm', 'tfidf', 'wordllama']
    """
    _load_entry_points()
    with _LOCK:
        return sorted(_REGISTRY)


def clear_instances() -> None:
    """Forget the embedder instances kept by :func:`get_embedder` (frees model weights).

    Examples
    --------
    >>> a = vecnb.embed.get_embedder("hashing")
    >>> vecnb.embed.get_embedder("hashing") is a
    True
    >>> vecnb.embed.clear_instances()
    >>> vecnb.embed.get_embedder("hashing") is a
    False
    """
    with _LOCK:
        _INSTANCES.clear()


def _entry(name: str) -> _Entry:
    with _LOCK:
        entry = _REGISTRY.get(name)
    if entry is None:
        _load_entry_points()
        with _LOCK:
            entry = _REGISTRY.get(name)
    if entry is None:
        raise UnknownModelError(
            f"unknown embedding model {name!r}; registered models: {', '.join(names())}. "
            "Pass one of these names, an Embedder, a callable list[str] -> array, or register "
            "your own with vecnb.embed.register(name, factory)")
    return entry


def _is_embedding_function(f: Callable[..., Any]) -> bool:
    """True for a plain ``f(texts)`` (a required positional parameter), not a ``factory(**kwargs)``."""
    if isinstance(f, type):
        return False
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):   # builtins without a signature: treat as a factory
        return False
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in params)


def _build(name: str, kwargs: dict[str, Any]) -> Embedder:
    entry = _entry(name)
    factory = entry.factory(name)
    if _is_embedding_function(factory):
        if kwargs:
            raise InvalidInputError(
                f"embedder {name!r} is a plain embedding function f(texts); it takes no options "
                f"(got {sorted(kwargs)}). Register a factory(**options) -> Embedder to accept them")
        return CallableEmbedder(factory, name=name)
    try:
        obj = factory(**kwargs)
    except TypeError as exc:
        if kwargs and "argument" in str(exc):
            raise InvalidInputError(f"bad arguments for embedder {name!r}: {exc}") from exc
        raise
    if isinstance(obj, Embedder):
        return obj
    if callable(obj):
        return CallableEmbedder(obj, name=name)
    raise InvalidInputError(f"factory of embedder {name!r} returned {type(obj).__name__}, not an Embedder")


def get_embedder(model: EmbedderLike, **kwargs: Any) -> Embedder:
    """Return an :class:`Embedder` for a name, a spec, an embedder or a callable.

    Parameters
    ----------
    model : str, dict, Embedder or callable
        * a registered name (``"minilm"``, ``"wordllama"``, ``"tfidf"``, ``"hashing"``, ...);
        * a ``model_id`` such as ``"minilm:all-MiniLM-L6-v2@1a2b3c4d"`` or
          ``"tfidf:lsa256@<hash>"`` -- rebuilt (a factory may define a classmethod
          ``kwargs_from_model_id(model_id) -> dict``) and checked to match exactly;
        * a spec dict from :meth:`Embedder.spec` (``{"name": ..., **arguments}``);
        * an :class:`Embedder` (returned as is);
        * any callable ``f(list[str]) -> array (n, d)``, wrapped in
          :class:`~vecnb.embed.CallableEmbedder`; give it a ``model_id`` attribute to have
          its outputs disk-cached.
    **kwargs
        Arguments for the factory (e.g. ``backend="numpy"`` for ``minilm``), merged over
        the spec's.

    Returns
    -------
    Embedder

    Raises
    ------
    UnknownModelError
        The name is not registered (the message lists the registered names).
    MissingDependencyError
        The embedder's optional dependencies are missing (the message names the extra).
    ModelMismatchError
        A ``model_id`` was given but the installed model computes a different one.
    InvalidInputError
        Malformed spec or arguments.

    Examples
    --------
    >>> emb = get_embedder("hashing", n_features=256)
    >>> emb.embed(["a sentence"]).shape
    (1, 256)
    >>> get_embedder(emb.spec()).model_id == emb.model_id
    True
    """
    if isinstance(model, Embedder):
        if kwargs:
            raise InvalidInputError("keyword arguments cannot be applied to an Embedder instance")
        return model
    if isinstance(model, Mapping):
        spec = dict(model)
        name = spec.pop("name", None)
        if not isinstance(name, str):
            raise InvalidInputError(f"an embedder spec needs a 'name' string, got {model!r}")
        spec.update(kwargs)
        if name == "callable":
            return _callable_from_spec(spec)
        return _cached_build(name, spec)
    if isinstance(model, str):
        if model in _REGISTRY or ":" not in model:
            return _cached_build(model, dict(kwargs))
        return _from_model_id(model, kwargs)
    if callable(model):
        if kwargs:
            raise InvalidInputError("keyword arguments cannot be applied to a callable")
        return CallableEmbedder(model)
    embed = getattr(model, "embed", None)
    if callable(embed):  # a foreign object with an .embed(list[str]) method
        return CallableEmbedder(embed, model_id=getattr(model, "model_id", None),
                                name=str(getattr(model, "name", "callable")))
    raise InvalidInputError(
        f"cannot make an embedder from {type(model).__name__}; pass a model name "
        f"({', '.join(names())}), an Embedder, a spec dict or a callable list[str] -> array")


def _cached_build(name: str, kwargs: dict[str, Any]) -> Embedder:
    try:
        key = json.dumps([name, kwargs], sort_keys=True)
    except TypeError:
        key = None  # unhashable arguments: build a fresh instance
    if key is not None:
        with _LOCK:
            inst = _INSTANCES.get(key)
        if inst is not None and (inst.fitted or not inst.requires_fit):
            return inst
    inst = _build(name, kwargs)
    if key is not None and (inst.fitted or not inst.requires_fit):
        with _LOCK:
            inst = _INSTANCES.setdefault(key, inst)
    return inst


def _from_model_id(model_id: str, kwargs: dict[str, Any]) -> Embedder:
    name = model_id.partition(":")[0]
    entry = _entry(name)
    factory = entry.factory(name)
    parse = getattr(factory, "kwargs_from_model_id", None)
    inst = _cached_build(name, {**(parse(model_id) if parse is not None else {}), **kwargs})
    if inst.model_id != model_id:
        raise ModelMismatchError(
            f"model {model_id!r} is not available: the installed {name!r} embedder is "
            f"{inst.model_id!r}. Re-embed with it, or install the model version that made "
            "the column")
    return inst


def _callable_from_spec(spec: dict[str, Any]) -> Embedder:
    target = spec.get("target")
    if not isinstance(target, str) or ":" not in target:
        raise InvalidInputError(
            "this embedder wrapped a plain callable that cannot be rebuilt from its spec "
            f"({spec.get('model_id')!r}); pass the function itself instead")
    return CallableEmbedder(load(target))


def registration(name: str) -> tuple[str | Callable[..., Any], str | None] | None:
    """``(factory, extra)`` registered under ``name``, or None (lets another process register it too).

    Examples
    --------
    >>> registration("hashing")
    ('vecnb.embed.lexical:HashingEmbedder', None)
    >>> registration("nosuch") is None
    True
    """
    with _LOCK:
        entry = _REGISTRY.get(name)
    return None if entry is None else (entry.target, entry.extra)
