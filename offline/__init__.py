"""Parquet tables in a repository ref, and the DuckDB engine that reads them.

``TableStore`` keeps each table under ``tables/<name>/`` in a ``repos`` repository
(schema plus Parquet objects) and writes copy-on-write on a branch; ``Engine`` runs
exact point-in-time joins, windowed aggregates, latest rows and read-only SQL over
the Parquet files of any ref.
"""

from offline._engine import Engine
from offline._errors import (
    CorruptTableError,
    OfflineError,
    QueryError,
    RowConflictError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
)
from offline._rowdiff import RowChanges, merge_table, row_changes
from offline._specs import AggFunction, AsOfSpec, WindowAgg, WindowSpec
from offline._tables import TableStore, WriteResult

__all__ = [
    "AggFunction",
    "AsOfSpec",
    "CorruptTableError",
    "Engine",
    "OfflineError",
    "QueryError",
    "RowChanges",
    "RowConflictError",
    "SchemaMismatchError",
    "TableExistsError",
    "TableNotFoundError",
    "TableStore",
    "WindowAgg",
    "WindowSpec",
    "WriteResult",
    "merge_table",
    "row_changes",
]
