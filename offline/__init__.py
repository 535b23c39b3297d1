"""Parquet tables in a repository ref, and the DuckDB engine that reads them.

``TableStore`` keeps each table under ``tables/<name>/`` in a ``repos`` repository
(schema plus Parquet objects) and writes copy-on-write on a branch; a
``ComputeEngine`` (``open_engine``: DuckDB's ``Engine`` by default, Spark with the
``spark`` extra, the array engine ``ArrayEngine`` on NumPy or CuPy with ``gpu``) runs exact point-in-time joins, windowed aggregates, latest rows and
read-only SQL over the Parquet files of any ref.
"""

from offline._array_engine import ArrayEngine
from offline._compute import (
    ComputeEngine,
    EngineType,
    LatestRows,
    PartitionFn,
    RowQuery,
    WindowRowsAt,
    open_engine,
)
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
    "ArrayEngine",
    "AsOfSpec",
    "ComputeEngine",
    "CorruptTableError",
    "Engine",
    "EngineType",
    "LatestRows",
    "OfflineError",
    "PartitionFn",
    "QueryError",
    "RowChanges",
    "RowConflictError",
    "RowQuery",
    "SchemaMismatchError",
    "TableExistsError",
    "TableNotFoundError",
    "TableStore",
    "WindowAgg",
    "WindowRowsAt",
    "WindowSpec",
    "WriteResult",
    "merge_table",
    "open_engine",
    "row_changes",
]
