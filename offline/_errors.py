"""The error tree of ``offline``.

::

    OfflineError
    ├── SchemaMismatchError (ValueError)   data does not fit a table's schema
    ├── TableNotFoundError (LookupError)   no table of that name at the ref
    ├── TableExistsError                   create_table on an existing table
    ├── CorruptTableError                  a stored schema or Parquet object cannot be read
    ├── QueryError (ValueError)            a SQL query or predicate is invalid or not read-only
    └── RowConflictError                   a merge found keys changed differently on both sides
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CorruptTableError",
    "OfflineError",
    "QueryError",
    "RowConflictError",
    "SchemaMismatchError",
    "TableExistsError",
    "TableNotFoundError",
]


class OfflineError(Exception):
    """Root of every error raised by ``offline``."""


class SchemaMismatchError(OfflineError, ValueError):
    """Data does not match a table's schema; nothing was written."""

    def __init__(self, column: str, expected: str, found: str, detail: str = "") -> None:
        self.column = column
        self.expected = expected
        self.found = found
        msg = f"column {column!r}: expected {expected}, found {found}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg + "; fix the data or the table schema and write again")


class TableNotFoundError(OfflineError, LookupError):
    """No table of that name exists at the ref."""


class TableExistsError(OfflineError):
    """A table of that name already exists."""


class CorruptTableError(OfflineError):
    """A table's stored schema or one of its Parquet objects cannot be read."""


class QueryError(OfflineError, ValueError):
    """A SQL query or predicate is invalid, or is not a read-only SELECT."""


class RowConflictError(OfflineError):
    """A three-way merge of a table found keys whose rows changed differently on both
    sides (or its schema did); nothing was merged.

    ``keys``: a sample (at most 20 rows) of the conflicting keys; ``count``: how many.
    """

    def __init__(self, message: str, keys: pa.Table, count: int) -> None:
        super().__init__(message)
        self.keys = keys
        self.count = count

    @property
    def keys_sample(self) -> pa.Table:
        """The same sample as ``keys``."""
        return self.keys
