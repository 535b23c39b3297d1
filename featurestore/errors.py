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
    ├── RefusedError (PermissionError)      a protected branch or a hook refused
    │   └── UntrustedCodeError              stored on-demand code is not trusted here
    └── BackendError (RuntimeError)         Redis, the metadata database or storage failed
        └── CorruptDataError                stored data (a Parquet object, a schema) is damaged

Each message says what was wrong and what to do.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConfigError",
    "ConflictError",
    "CorruptDataError",
    "DefinitionError",
    "FeatureStoreError",
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


class RefusedError(FeatureStoreError, PermissionError):
    """A protected branch or a hook refused the change."""


class UntrustedCodeError(RefusedError):
    """An on-demand view's stored code is not in the project's trust list; it did not run."""


class BackendError(FeatureStoreError, RuntimeError):
    """Redis, the metadata database or the object storage failed."""


class CorruptDataError(BackendError):
    """Stored data cannot be read: a damaged Parquet object or table schema."""
