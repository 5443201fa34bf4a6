"""Every exception vecnb raises, in one tree.

Each class is also the built-in type a caller would naturally catch (the sklearn
``NotFittedError(ValueError, AttributeError)`` pattern), so ``except ValueError`` keeps
working for code that does not know vecnb::

    VecnbError(Exception)
    ├── InvalidInputError(ValueError)          bad argument: k <= 0, empty frame, bad threshold
    │   ├── DimensionMismatchError             vectors of the wrong width for a column / store
    │   ├── InvalidVectorError                 NaN / inf vectors, zero vectors under cosine
    │   ├── UnknownMetricError                 metric name not in metrics.METRICS
    │   ├── UnknownModelError                  model name not in the embedder registry
    │   ├── UnknownStoreError                  store name not in the store registry
    │   ├── FilterError                        malformed ``where``, or a field the data lacks
    │   ├── DuplicateIdError                   the same id twice in one write
    │   ├── TextColumnError                    missing / non-text values in a text column
    │   └── ModelMismatchError                 index built with another model or dimension
    ├── ColumnNotFoundError(KeyError)          named column is not in the frame
    │   └── NoEmbeddingColumnError             the frame has no embedding column at all
    ├── MissingDependencyError(ImportError)    an optional extra is not installed
    ├── IndexFormatError(ValueError)           a folder / file that is not a vecnb index
    ├── IndexNotFoundError(FileNotFoundError)  no index at that table / path / collection
    ├── IndexExistsError(FileExistsError)      building onto an existing index without mode=
    └── StoreError(RuntimeError)               a backend failed; names store + operation
        ├── StoreConnectionError(ConnectionError)   server unreachable / refused credentials
        └── StoreBusyError(TimeoutError)       another save held the folder's lock too long

Messages say what was wrong and what to do next.
"""

from __future__ import annotations

__all__ = [
    "VecnbError",
    "InvalidInputError",
    "DimensionMismatchError",
    "InvalidVectorError",
    "UnknownMetricError",
    "UnknownModelError",
    "UnknownStoreError",
    "FilterError",
    "DuplicateIdError",
    "TextColumnError",
    "ModelMismatchError",
    "ColumnNotFoundError",
    "NoEmbeddingColumnError",
    "MissingDependencyError",
    "IndexFormatError",
    "IndexNotFoundError",
    "IndexExistsError",
    "StoreError",
    "StoreConnectionError",
    "StoreBusyError",
]


class VecnbError(Exception):
    """Base class of every error raised by vecnb.

    Examples
    --------
    Catch every error vecnb raises on purpose with one ``except``:

    >>> try:
    ...     vecnb.metrics.resolve_metric("manhattan")
    ... except vecnb.VecnbError as err:
    ...     print(type(err).__name__)
    UnknownMetricError
    """


class InvalidInputError(VecnbError, ValueError):
    """An argument or input value is not acceptable.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "green pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> df.vec.search("apple", k=0)
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidInputError: k must be a positive integer, got 0.
    >>> issubclass(vecnb.InvalidInputError, ValueError)
    True
    """


class DimensionMismatchError(InvalidInputError):
    """Vectors do not have the dimension the column, index or store expects.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "green pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> df.vec.search(np.ones(3), k=1)
    Traceback (most recent call last):
    ...
    vecnb.errors.DimensionMismatchError: The query is 3-d but these vectors are 512-d ...
    """


class InvalidVectorError(InvalidInputError):
    """Vectors contain NaN / inf, or are all-zero where the metric needs a direction.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "green pear"]})
    >>> df.vec.attach(np.array([[1.0, np.nan], [0.0, 1.0]]), name="v")
    Traceback (most recent call last):
    ...
    vecnb.errors.InvalidVectorError: 1 of 2 attached vectors contain NaN or infinite values ...
    """


class UnknownMetricError(InvalidInputError):
    """The metric name is not known (see ``vecnb.metrics.METRICS``).

    Examples
    --------
    >>> vecnb.metrics.resolve_metric("manhattan")
    Traceback (most recent call last):
    ...
    vecnb.errors.UnknownMetricError: Unknown metric 'manhattan'. Use one of cosine, dot, l2 ...
    """


class UnknownModelError(InvalidInputError):
    """The embedding model name is not registered (see ``vecnb.embed.names()``).

    Examples
    --------
    >>> pd.DataFrame({"text": ["red apple"]}).vec.embed("text", model="no-such-model")
    Traceback (most recent call last):
    ...
    vecnb.errors.UnknownModelError: unknown embedding model 'no-such-model'; registered models: ...
    """


class UnknownStoreError(InvalidInputError):
    """The store name is not registered (see ``vecnb.stores.names()``).

    Examples
    --------
    >>> vecnb.stores.create("nosuch", dim=2)
    Traceback (most recent call last):
    ...
    vecnb.errors.UnknownStoreError: Unknown store 'nosuch'. Known stores: ...
    """


class FilterError(InvalidInputError):
    """A ``where`` filter is malformed or names a field the data does not have.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "green pear"], "year": [1990, 2001]})
    >>> df = df.vec.embed("text", model="hashing", progress=False)
    >>> df.vec.search("apple", k=1, where={"year": {"$near": 2000}})
    Traceback (most recent call last):
    ...
    vecnb.errors.FilterError: where: unknown operator '$near' on field 'year'; use one of $eq, ...
    """


class DuplicateIdError(InvalidInputError):
    """The same id appears more than once in one write.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "green pear"]}, index=["a", "a"])
    >>> df.vec.embed("text", model="hashing", progress=False).vec.index()
    Traceback (most recent call last):
    ...
    vecnb.errors.DuplicateIdError: index: the DataFrame's index has duplicate labels (e.g. ['a']); ...
    """


class TextColumnError(InvalidInputError):
    """A text column holds missing or non-string values.

    Examples
    --------
    >>> pd.DataFrame({"n": [1, 2]}).vec.embed("n", model="hashing", progress=False)
    Traceback (most recent call last):
    ...
    vecnb.errors.TextColumnError: Text column 'n' holds 2 non-text values of type int ...
    """


class ModelMismatchError(InvalidInputError):
    """An index or column was built with another model or dimension than the one asked.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "green pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> df.vec.search("apple", model="hashing:64")
    Traceback (most recent call last):
    ...
    vecnb.errors.ModelMismatchError: model 'hashing:64' is not available: ...
    """


class ColumnNotFoundError(VecnbError, KeyError):
    """A named column is not in the DataFrame.

    Examples
    --------
    >>> pd.DataFrame({"text": ["red apple"]}).vec.embed("body", model="hashing")
    Traceback (most recent call last):
    ...
    vecnb.errors.ColumnNotFoundError: Text column 'body' is not in the DataFrame. Columns: ['text'].
    >>> issubclass(vecnb.ColumnNotFoundError, KeyError)
    True
    """

    def __str__(self) -> str:  # KeyError would repr() the message; keep it readable
        return str(self.args[0]) if self.args else ""


class NoEmbeddingColumnError(ColumnNotFoundError):
    """The DataFrame has no embedding column to search.

    Examples
    --------
    >>> pd.DataFrame({"text": ["red apple"]}).vec.search("apple")
    Traceback (most recent call last):
    ...
    vecnb.errors.NoEmbeddingColumnError: This DataFrame has no embedding column. Create one with df.vec.embed(...) ...
    """


class MissingDependencyError(VecnbError, ImportError):
    """An optional dependency is missing; the message names the extra to install.

    Examples
    --------
    >>> err = vecnb.MissingDependencyError.for_extra("The faiss store", "faiss", module="faiss")
    >>> print(err)
    The faiss store needs an optional dependency (module 'faiss' could not be imported). Install it with: pip install "vecnb[faiss]"
    >>> isinstance(err, ImportError)
    True
    """

    @classmethod
    def for_extra(cls, feature: str, extra: str, module: str | None = None) -> "MissingDependencyError":
        what = f" (module {module!r} could not be imported)" if module else ""
        return cls(f"{feature} needs an optional dependency{what}. "
                   f'Install it with: pip install "vecnb[{extra}]"')


class IndexFormatError(VecnbError, ValueError):
    """A path does not hold a vecnb index, or one written by an incompatible format version.

    Examples
    --------
    >>> import os
    >>> os.makedirs("not_an_index", exist_ok=True)
    >>> vecnb.load_index("not_an_index")
    Traceback (most recent call last):
    ...
    vecnb.errors.IndexFormatError: not_an_index holds no vecnb ...: it is not a vecnb index ...
    """


class IndexNotFoundError(VecnbError, FileNotFoundError):
    """No index where one was asked for (an unknown table, path or collection).

    Examples
    --------
    >>> vecnb.open_index("sqlite", path="nothing_here.db")
    Traceback (most recent call last):
    ...
    vecnb.errors.IndexNotFoundError: No sqlite index at path='nothing_here.db'. ...
    """


class IndexExistsError(VecnbError, FileExistsError):
    """The target already holds an index and no ``mode=`` said what to do with it.

    Examples
    --------
    >>> df = pd.DataFrame({"text": ["red apple", "green pear"]}).vec.embed("text", model="hashing", progress=False)
    >>> idx = df.vec.index(store="sqlite", path="fruit.db")
    >>> df.vec.index(store="sqlite", path="fruit.db")
    Traceback (most recent call last):
    ...
    vecnb.errors.IndexExistsError: sqlite path='fruit.db' already holds an index of 2 rows. Pass mode='replace' ...
    >>> df.vec.index(store="sqlite", path="fruit.db", mode="replace").info()["rows"]
    2
    """


class StoreError(VecnbError, RuntimeError):
    """A storage backend failed; the message names the store, the operation and what to do.

    Examples
    --------
    >>> store = vecnb.stores.create("numpy", dim=2)
    >>> store.close()
    >>> store.search(np.ones((1, 2), np.float32), 1)
    Traceback (most recent call last):
    ...
    vecnb.errors.StoreError: [numpy.use] the store is closed; create a new one
    """

    def __init__(self, message: str, *, store: str | None = None, operation: str | None = None):
        prefix = ""
        if store or operation:
            prefix = f"[{store or '?'}.{operation or '?'}] "
        super().__init__(prefix + message)
        self.store = store
        self.operation = operation


class StoreConnectionError(StoreError, ConnectionError):
    """The store's server could not be reached or refused the credentials.

    Examples
    --------
    >>> vecnb.open_index("pgvector", url="postgresql://me@127.0.0.1:1/db", table="t")
    Traceback (most recent call last):
    ...
    vecnb.errors.StoreConnectionError: [pgvector.connect] could not connect to PostgreSQL at postgresql://me@127.0.0.1:1/db ...
    """


class StoreBusyError(StoreError, TimeoutError):
    """Another process held a lock (e.g. a save to the same folder) for longer than the timeout allowed.

    Examples
    --------
    Raised when another writer held a saved index's folder lock too long; retry later:

    >>> issubclass(vecnb.StoreBusyError, (vecnb.StoreError, TimeoutError))
    True
    """
