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
    """Base class of every error raised by vecnb."""


class InvalidInputError(VecnbError, ValueError):
    """An argument or input value is not acceptable."""


class DimensionMismatchError(InvalidInputError):
    """Vectors do not have the dimension the column, index or store expects."""


class InvalidVectorError(InvalidInputError):
    """Vectors contain NaN / inf, or are all-zero where the metric needs a direction."""


class UnknownMetricError(InvalidInputError):
    """The metric name is not known (see ``vecnb.metrics.METRICS``)."""


class UnknownModelError(InvalidInputError):
    """The embedding model name is not registered (see ``vecnb.embed.names()``)."""


class UnknownStoreError(InvalidInputError):
    """The store name is not registered (see ``vecnb.stores.names()``)."""


class FilterError(InvalidInputError):
    """A ``where`` filter is malformed or names a field the data does not have."""


class DuplicateIdError(InvalidInputError):
    """The same id appears more than once in one write."""


class TextColumnError(InvalidInputError):
    """A text column holds missing or non-string values."""


class ModelMismatchError(InvalidInputError):
    """An index or column was built with another model or dimension than the one asked."""


class ColumnNotFoundError(VecnbError, KeyError):
    """A named column is not in the DataFrame."""

    def __str__(self) -> str:  # KeyError would repr() the message; keep it readable
        return str(self.args[0]) if self.args else ""


class NoEmbeddingColumnError(ColumnNotFoundError):
    """The DataFrame has no embedding column to search."""


class MissingDependencyError(VecnbError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    @classmethod
    def for_extra(cls, feature: str, extra: str, module: str | None = None) -> "MissingDependencyError":
        what = f" (module {module!r} could not be imported)" if module else ""
        return cls(f"{feature} needs an optional dependency{what}. "
                   f'Install it with: pip install "vecnb[{extra}]"')


class IndexFormatError(VecnbError, ValueError):
    """A path does not hold a vecnb index, or one written by an incompatible format version."""


class IndexNotFoundError(VecnbError, FileNotFoundError):
    """No index where one was asked for (an unknown table, path or collection)."""


class IndexExistsError(VecnbError, FileExistsError):
    """The target already holds an index and no ``mode=`` said what to do with it."""


class StoreError(VecnbError, RuntimeError):
    """A storage backend failed; the message names the store, the operation and what to do."""

    def __init__(self, message: str, *, store: str | None = None, operation: str | None = None):
        prefix = ""
        if store or operation:
            prefix = f"[{store or '?'}.{operation or '?'}] "
        super().__init__(prefix + message)
        self.store = store
        self.operation = operation


class StoreConnectionError(StoreError, ConnectionError):
    """The store's server could not be reached or refused the credentials."""


class StoreBusyError(StoreError, TimeoutError):
    """Another process held a lock (e.g. a save to the same folder) for longer than the timeout allowed."""
