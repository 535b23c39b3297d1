"""The compute-engine seam: what the feature store asks of an engine, whichever it is.

``ComputeEngine`` is the one protocol; DuckDB (``offline._engine.Engine``, the default),
Spark (``offline._spark.SparkEngine``, the ``spark`` extra) and the array engine
(``offline._array_engine.ArrayEngine``: NumPy, or CuPy on a GPU) are modules behind
it, and ``open_engine`` picks one by name. Callers speak Parquet files, Arrow and the
specs of ``offline._specs``; they never learn which engine they have.

``map_rows`` runs a function where the rows live (in this process for DuckDB, on the
executors for Spark), one call per partition, so a writer to an online store never
brings the rows to the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

import pyarrow as pa

from offline._specs import AsOfSpec, WindowAgg, WindowSpec

__all__ = [
    "ComputeEngine",
    "EngineType",
    "LatestRows",
    "PartitionFn",
    "RowQuery",
    "WindowRowsAt",
    "open_engine",
]

Entities: TypeAlias = pa.Table | pa.RecordBatchReader
EngineType = Literal["duckdb", "spark", "gpu"]

PartitionFn: TypeAlias = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]
"""A function over one partition's batches; it must pickle for a distributed engine."""


@dataclass(frozen=True)
class LatestRows:
    """The rows of ``ComputeEngine.latest`` with these arguments."""

    files: Sequence[str]
    keys: Sequence[str]
    event_ts: str
    created_ts: str | None
    columns: Sequence[str] | Mapping[str, str]
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class WindowRowsAt:
    """The rows of ``ComputeEngine.window_aggregate_at`` with these arguments."""

    files: Sequence[str]
    keys: Sequence[str]
    event_ts: str
    aggregations: Sequence[WindowAgg]
    at: datetime
    created_ts: str | None = None


RowQuery: TypeAlias = LatestRows | WindowRowsAt


@runtime_checkable
class ComputeEngine(Protocol):
    """Point-in-time joins, windowed aggregates, latest rows, sorted scans and SQL over
    the Parquet files of a commit, with DuckDB's exact semantics whatever the engine."""

    def close(self) -> None:
        """Release what the engine holds (connections, a Spark session it started)."""

    def as_of_join(
        self, entities: Entities, entity_ts: str, specs: Sequence[AsOfSpec]
    ) -> pa.RecordBatchReader:
        """Each spec's latest row at or before each entity row's time (see ``AsOfSpec``);
        every entity row is kept, in order, with its extra columns."""
        ...

    def window_aggregate(
        self, entities: Entities, entity_ts: str, spec: WindowSpec
    ) -> pa.RecordBatchReader:
        """Each entity row's aggregates over ``t - window < e <= t``."""
        ...

    def window_aggregate_at(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        aggregations: Sequence[WindowAgg],
        at: datetime,
        created_ts: str | None = None,
    ) -> pa.RecordBatchReader:
        """Each key's aggregates as of one time ``at``."""
        ...

    def window_events(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        columns: Sequence[str],
        start: datetime,
        end: datetime,
        created_ts: str | None = None,
    ) -> pa.RecordBatchReader:
        """The raw rows with ``start < e <= end``, with ``__ts`` and ``__created``."""
        ...

    def latest(
        self,
        files: Sequence[str],
        keys: Sequence[str],
        event_ts: str,
        created_ts: str | None,
        columns: Sequence[str] | Mapping[str, str],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.RecordBatchReader:
        """The latest row per key with ``start <= e <= end`` (ties: greatest created)."""
        ...

    def sorted_rows(self, files: Sequence[str], order: Sequence[str]) -> pa.RecordBatchReader:
        """Every row of ``files`` ordered by ``order`` (compaction's read)."""
        ...

    def map_rows(
        self, query: RowQuery, fn: PartitionFn, schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        """Run ``fn`` over the query's rows where they live, once per partition, and
        stream back what it yields (batches of ``schema``). The rows reach ``fn`` with the
        columns and types the query's own method returns."""
        ...

    def sql(
        self,
        query: str,
        tables: Mapping[str, Sequence[str]],
        schemas: Mapping[str, pa.Schema] | None = None,
    ) -> pa.Table:
        """One read-only SELECT with each name in ``tables`` bound to its files."""
        ...


def query_rows(engine: ComputeEngine, query: RowQuery) -> pa.RecordBatchReader:
    """The rows of ``query`` read through ``engine``'s own method."""
    if isinstance(query, LatestRows):
        return engine.latest(
            query.files,
            query.keys,
            query.event_ts,
            query.created_ts,
            query.columns,
            query.start,
            query.end,
        )
    return engine.window_aggregate_at(
        query.files, query.keys, query.event_ts, query.aggregations, query.at, query.created_ts
    )


def open_engine(type: EngineType = "duckdb", **options: Any) -> ComputeEngine:
    """A new engine of ``type``; ``options`` go to its constructor.

    ``duckdb``: ``threads``, ``memory_limit``, ``temp_directory``. ``spark`` (needs
    ``pip install 'featurestore[spark]'`` and Java 17): ``master``, ``app_name``,
    ``conf``, ``shuffle_partitions``, ``join``, ``session``, ``filesystem`` (the repository's,
    for objects on S3). ``gpu`` (the array engine,
    ``offline._array_engine``; CuPy for ``device="cuda"``): ``device``, ``fallback`` and
    DuckDB's options for the methods it delegates.
    """
    if type == "spark":
        from offline._spark import SparkEngine

        return SparkEngine(**options)
    if type == "gpu":
        from offline._array_engine import ArrayEngine

        return ArrayEngine(**options)
    if type == "duckdb":
        from offline._engine import Engine

        return Engine(**options)
    from offline._errors import OfflineError

    raise OfflineError(f"unknown compute engine {type!r}; use 'duckdb', 'spark' or 'gpu'")
