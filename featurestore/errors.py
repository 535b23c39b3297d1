"""The one exception tree of featurestore.

Every error raised through the public API derives from ``FeatureStoreError``;
errors of the layers below (``repos``, ``offline``, ``online``) are translated at
the facade's boundary with ``raise ... from e`` so the cause stays visible::

    FeatureStoreError
    ├── ConfigError (ValueError)            featurestore.yaml or an option is invalid
    ├── DefinitionError (ValueError)        an entity, view or service is malformed
    ├── ValidationError (ValueError)        input data or a request is malformed
    │   └── SchemaError                     data does not match a table's schema
    ├── NotFoundError (LookupError)         a ref, view, feature, table or dataset is unknown
    ├── ConflictError                       a merge conflict or a lost compare-and-swap
    │   └── MergeConflictError              rows or definitions changed differently on both sides
    ├── RefusedError (PermissionError)      a protected branch or a hook refused
    │   └── UntrustedCodeError              stored on-demand code is not trusted here
    └── BackendError (RuntimeError)         Redis, the metadata database or storage failed
        └── CorruptDataError                stored data (a Parquet object, a schema) is damaged

Each message says what was wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from featurestore.definition_merge import DefinitionConflict
    from featurestore.merging import TableConflict

__all__ = [
    "BackendError",
    "ConfigError",
    "ConflictError",
    "CorruptDataError",
    "DefinitionError",
    "FeatureStoreError",
    "MergeConflictError",
    "NotFoundError",
    "RefusedError",
    "SchemaError",
    "UntrustedCodeError",
    "ValidationError",
]


class FeatureStoreError(Exception):
    """Root of every error raised by featurestore."""


class ConfigError(FeatureStoreError, ValueError):
    """``featurestore.yaml`` or a configuration option is invalid."""


class DefinitionError(FeatureStoreError, ValueError):
    """An entity, feature view, source or service definition is malformed."""


class ValidationError(FeatureStoreError, ValueError):
    """Input data or a request is malformed."""


class SchemaError(ValidationError):
    """Data does not match the schema of the table it is written to."""


class NotFoundError(FeatureStoreError, LookupError):
    """A ref, feature view, feature, table or saved dataset does not exist."""


class ConflictError(FeatureStoreError):
    """A merge conflict, or a concurrent writer moved a branch first."""


class MergeConflictError(ConflictError):
    """A merge found rows (by key) or definitions changed differently on both sides; it
    changed nothing.

    ``conflicts`` holds one ``TableConflict`` per table (a sample of the keys and their
    count) and one ``DefinitionConflict`` per definition; ``paths`` the other objects
    changed differently on both sides.
    """

    def __init__(
        self,
        message: str,
        conflicts: Sequence[TableConflict | DefinitionConflict] = (),
        paths: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.conflicts: tuple[TableConflict | DefinitionConflict, ...] = tuple(conflicts)
        self.paths: tuple[str, ...] = tuple(paths)

    @property
    def tables(self) -> dict[str, TableConflict]:
        """The conflicting tables by name."""
        from featurestore.merging import TableConflict

        return {c.table: c for c in self.conflicts if isinstance(c, TableConflict)}

    @property
    def definitions(self) -> tuple[DefinitionConflict, ...]:
        """The conflicting definitions."""
        from featurestore.definition_merge import DefinitionConflict

        return tuple(c for c in self.conflicts if isinstance(c, DefinitionConflict))


class RefusedError(FeatureStoreError, PermissionError):
    """A protected branch or a hook refused the change."""


class UntrustedCodeError(RefusedError):
    """An on-demand view's stored code is not in the project's trust list; it did not run."""


class BackendError(FeatureStoreError, RuntimeError):
    """Redis, the metadata database or the object storage failed."""


class CorruptDataError(BackendError):
    """Stored data cannot be read: a damaged Parquet object or table schema."""
