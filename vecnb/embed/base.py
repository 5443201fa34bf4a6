"""The :class:`Embedder` protocol, the wrapper for plain callables, and output validation.

An embedder turns a list of ``n`` strings into an ``(n, d)`` float32 matrix. Besides
:meth:`Embedder.embed` it exposes what the rest of vecnb needs to store and reuse its output:

``name``
    The registry name (``"minilm"``, ``"tfidf"``, ...; ``"callable"`` for wrapped functions).
``model_id``
    A stable string that identifies the model *and* its weights or fitted state, e.g.
    ``"minilm:all-MiniLM-L6-v2@1a2b3c4d"``. Two embedders with the same ``model_id`` compute
    the same function, so it is the key of the on-disk embedding cache and is stored next to
    an embedding column. ``None`` only for a fittable embedder that is not fitted yet.
``dim``
    The output width ``d``, or ``None`` while it is unknown (a plain callable before its
    first call, an unfitted TF-IDF model).
``normalized``
    ``True`` when every output row has unit L2 norm (rows for texts with no known token
    may be all-zero; they are documented per embedder).
``spec()``
    A JSON-able dict from which :func:`vecnb.embed.get_embedder` rebuilds an equivalent
    embedder, in this process or a new one.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from vecnb.errors import DimensionMismatchError, InvalidInputError, InvalidVectorError, TextColumnError

__all__ = ["CallableEmbedder", "Embedder", "as_text_list", "check_output", "sha8"]


def sha8(data: bytes | str, n: int = 8) -> str:
    """Return the first ``n`` hex digits of the SHA-256 of ``data`` (str is UTF-8 encoded).

    Examples
    --------
    >>> sha8("hashing:512"), len(sha8(b"abc", n=16))
    ('48dc57ed', 16)
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:n]


def as_text_list(texts: Iterable[str] | str, *, what: str = "texts") -> list[str]:
    """Return ``texts`` as a list of ``str``, refusing a bare string and non-text items.

    Parameters
    ----------
    texts : iterable of str
        A list, tuple, numpy array or pandas Series of strings.
    what : str
        How to call the argument in error messages.

    Returns
    -------
    list of str

    Raises
    ------
    InvalidInputError
        If ``texts`` is a single ``str`` / ``bytes`` (wrap it in a list) or not iterable.
    TextColumnError
        If an item is not a string (``None``, ``NaN``, a number, bytes, ...).

    Examples
    --------
    >>> as_text_list(("a", "b"))
    ['a', 'b']
    >>> as_text_list("one text")
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: texts must be a list of strings, not a single str; wrap it in a list: ...
    >>> as_text_list(["a", 3])
    Traceback (most recent call last):
    ...
    vecnb.errors.TextColumnError: texts[1] is 3 (int), not a string; fill or drop missing values first ...
    """
    if isinstance(texts, (str, bytes)):
        raise InvalidInputError(
            f"{what} must be a list of strings, not a single {type(texts).__name__}; "
            f"wrap it in a list: [{what.removesuffix('s')}]")
    try:
        out = list(texts)
    except TypeError:
        raise InvalidInputError(
            f"{what} must be a list of strings, got {type(texts).__name__}") from None
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TextColumnError(
                f"{what}[{i}] is {t!r} ({type(t).__name__}), not a string; fill or drop missing "
                "values first (e.g. df[col].fillna('') or df.dropna(subset=[col]))")
    return out


def check_output(out: Any, n: int, *, dim: int | None = None, source: str = "embedder") -> np.ndarray:
    """Validate an embedder's output and return it as a C-contiguous float32 ``(n, d)`` matrix.

    Parameters
    ----------
    out : array-like, shape (n, d)
        What the embedder returned (numpy array, list of lists, CPU tensor, ...).
    n : int
        Number of texts that were embedded.
    dim : int, optional
        Expected width ``d``; checked when given.
    source : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray, shape (n, d), float32, C-contiguous

    Raises
    ------
    DimensionMismatchError
        Wrong number of rows, not two-dimensional, or a width other than ``dim``.
    InvalidVectorError
        Non-numeric output, or NaN / inf values.

    Examples
    --------
    >>> check_output([[1, 2], [3, 4]], 2, dim=2).dtype
    dtype('float32')
    >>> check_output(np.ones((3, 2)), 2, source="my model")
    Traceback (most recent call last):
    ...
    vecnb.errors.DimensionMismatchError: my model returned an array of shape (3, 2) for 2 text(s); expected ...
    """
    if hasattr(out, "detach") and hasattr(out, "cpu"):  # torch tensor without importing torch
        out = out.detach().cpu().numpy()
    try:
        arr = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorError(
            f"{source} returned something that is not a numeric (n, d) array "
            f"({type(out).__name__}): {exc}") from exc
    if arr.ndim == 1 and n == 1 and arr.size > 0:
        arr = arr.reshape(1, -1)  # a single vector for a single text
    if arr.ndim != 2 or arr.shape[0] != n:
        raise DimensionMismatchError(
            f"{source} returned an array of shape {arr.shape} for {n} text(s); "
            f"expected ({n}, d): one row per text")
    if dim is not None and arr.shape[1] != dim:
        raise DimensionMismatchError(
            f"{source} returned vectors of dimension {arr.shape[1]}, expected {dim}")
    if arr.size and not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise InvalidVectorError(
            f"{source} returned NaN or inf in {bad.size} of {n} row(s) (first at position "
            f"{int(bad[0])}); check the model and the input texts")
    return np.ascontiguousarray(arr)


class Embedder:
    """Base class of every embedder: turns ``list[str]`` into an ``(n, dim)`` float32 matrix.

    Subclasses set :attr:`name` and :attr:`normalized`, implement :meth:`_embed`, and
    override :attr:`model_id`, :attr:`dim` and :meth:`spec`. Fittable embedders (TF-IDF)
    set :attr:`requires_fit` and implement :meth:`fit`; :meth:`embed` fits them on its first
    call's texts.

    Attributes
    ----------
    name : str
        Registry name.
    normalized : bool
        Whether output rows are unit-norm.
    requires_fit : bool
        Whether the embedder learns its state from the first texts it sees.

    Examples
    --------
    Subclass it (or pass any ``list[str] -> (n, d)`` callable, which ``vecnb.embed.CallableEmbedder`` wraps):

    >>> class Lengths(vecnb.embed.Embedder):
    ...     model_id = "lengths@1"
    ...     dim = 2
    ...     def embed(self, texts):
    ...         return np.array([[len(t), t.count(" ") + 1] for t in texts], np.float32)
    >>> df = pd.DataFrame({"text": ["red apple pie", "pear"]}).vec.embed("text", model=Lengths(), progress=False)
    >>> df.vec.matrix()
    array([[13.,  3.],
           [ 4.,  1.]], dtype=float32)
    >>> Lengths().fit(["anything"]).spec()
    {'name': 'embedder'}
    """

    name: str = "embedder"
    normalized: bool = False
    requires_fit: bool = False

    # -- identity --------------------------------------------------------------------------
    @property
    def model_id(self) -> str | None:
        """Stable identifier of the model and its weights / fitted state (cache key)."""
        return self.name

    @property
    def dim(self) -> int | None:
        """Output dimension ``d``, or ``None`` while unknown."""
        return None

    @property
    def fitted(self) -> bool:
        """``True`` unless the embedder still has to learn its state (see :meth:`fit`)."""
        return True

    @property
    def cacheable(self) -> bool:
        """Whether outputs may be stored in the on-disk cache under :attr:`model_id`."""
        return self.model_id is not None

    def spec(self) -> dict[str, Any]:
        """Return a JSON-able dict that :func:`vecnb.embed.get_embedder` rebuilds this from."""
        return {"name": self.name}

    # -- work ----------------------------------------------------------------------------
    def fit(self, texts: Sequence[str]) -> Embedder:
        """Learn the embedder's state from ``texts`` (no-op for pretrained models).

        Returns
        -------
        Embedder
            ``self``.
        """
        return self

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``.

        Parameters
        ----------
        texts : sequence of str, length n

        Returns
        -------
        numpy.ndarray, shape (n, dim), float32, C-contiguous

        Raises
        ------
        TextColumnError
            If an item is not a string.
        DimensionMismatchError, InvalidVectorError
            If the model produced malformed output.
        """
        texts = as_text_list(texts)
        if self.requires_fit and not self.fitted:
            self.fit(texts)
        if not texts:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        out = self._embed(texts)
        return check_output(out, len(texts), dim=self.dim, source=f"embedder {self.name!r}")

    def _embed(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Alias of :meth:`embed`, so an embedder is also a ``list[str] -> array`` callable."""
        return self.embed(texts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, dim={self.dim!r})"


def _qualname(f: Callable[..., Any]) -> str:
    target = getattr(f, "__func__", f)  # bound methods
    qn = getattr(target, "__qualname__", None) or type(f).__qualname__
    mod = getattr(target, "__module__", None) or type(f).__module__
    return f"{mod}.{qn}" if mod else qn


def _import_target(f: Callable[..., Any]) -> str | None:
    """``"module:qualname"`` when ``f`` is a module-level function importable by name."""
    if not inspect.isfunction(f):
        return None
    qn, mod = f.__qualname__, f.__module__
    if "<" in qn or not mod or mod == "__main__":
        return None
    return f"{mod}:{qn}"


class CallableEmbedder(Embedder):
    """Wrap any ``f(list[str]) -> array (n, d)`` as an :class:`Embedder`.

    ``model_id`` is ``f.model_id`` when the callable has that attribute; only then are its
    outputs written to the on-disk cache (a function's name says nothing about the model
    behind it). Otherwise it is ``"callable:<module>.<qualname>"`` and results are only
    de-duplicated within one call. ``dim`` is ``f.dim`` if set, else learnt from the first
    call; ``normalized`` is ``f.normalized`` if set, else ``False``.

    Parameters
    ----------
    func : callable
        ``func(list[str]) -> array-like (n, d)``.
    model_id : str, optional
        Overrides ``getattr(func, "model_id", None)``.
    name : str
        Name reported by :attr:`name`.

    Examples
    --------
    >>> def two_d(texts):
    ...     return [[len(t), 1.0] for t in texts]
    >>> emb = vecnb.embed.CallableEmbedder(two_d)
    >>> emb.model_id, emb.cacheable
    ('callable:...two_d', False)
    >>> emb.embed(["ab", "abc"])
    array([[2., 1.],
           [3., 1.]], dtype=float32)
    >>> emb.dim
    2
    """

    def __init__(self, func: Callable[[list[str]], Any], *, model_id: str | None = None,
                 name: str = "callable"):
        if not callable(func):
            raise InvalidInputError(f"expected a callable list[str] -> array, got {type(func).__name__}")
        self.func = func
        self.name = name
        mid = model_id if model_id is not None else getattr(func, "model_id", None)
        if mid is not None and not isinstance(mid, str):
            raise InvalidInputError(f"model_id must be a str, got {type(mid).__name__}")
        self._declared_model_id = mid
        d = getattr(func, "dim", None)
        self._dim: int | None = int(d) if isinstance(d, (int, np.integer)) else None
        self.normalized = bool(getattr(func, "normalized", False))

    @property
    def model_id(self) -> str:
        return self._declared_model_id or f"callable:{_qualname(self.func)}"

    @property
    def cacheable(self) -> bool:
        return self._declared_model_id is not None

    @property
    def dim(self) -> int | None:
        return self._dim

    def spec(self) -> dict[str, Any]:
        """``{"name": "callable", "model_id": ..., "target": "module:qualname"}``.

        ``target`` is present only for module-level functions; ``get_embedder(spec)``
        re-imports it. Lambdas, closures and ``__main__`` functions cannot be rebuilt.
        """
        out: dict[str, Any] = {"name": "callable", "model_id": self.model_id}
        target = _import_target(self.func)
        if target:
            out["target"] = target
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        arr = super().embed(texts)
        if self._dim is None and arr.shape[0]:
            self._dim = int(arr.shape[1])
        return arr

    def _embed(self, texts: list[str]) -> Any:
        return self.func(texts)

    def __repr__(self) -> str:
        return f"CallableEmbedder({_qualname(self.func)}, model_id={self.model_id!r}, dim={self.dim!r})"
