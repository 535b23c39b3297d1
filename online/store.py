"""The online store seam: a protocol any backend (Redis, Redis Cluster, ...) implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, NamedTuple, Protocol, Self, runtime_checkable

import pyarrow as pa

__all__ = [
    "COMMIT_COLUMN",
    "EVENT_TS_COLUMN",
    "ColumnReader",
    "OnlineStore",
    "ReadRequest",
    "WriteResult",
]

EVENT_TS_COLUMN = "__event_ts"
COMMIT_COLUMN = "__commit"


class WriteResult(NamedTuple):
    """How many rows a write stored, and how many it skipped as older than the stored row."""

    written: int
    stale: int


@dataclass(frozen=True)
class ReadRequest:
    """Rows of one table to read: the keys in order, and the columns wanted with their types.

    With `ttl`, a row whose event time is older than ``now - ttl`` reads as missing;
    `now` defaults to the current time.
    """

    table: str
    keys: Sequence[bytes]
    schema: pa.Schema
    ttl: timedelta | None = None
    now: datetime | None = None


@runtime_checkable
class OnlineStore(Protocol):
    """Latest row per (table, key), written monotonically by event time, read in one trip."""

    def write(
        self,
        table: str,
        keys: Sequence[bytes],
        values: pa.RecordBatch | pa.Table,
        event_ts: pa.Array | pa.ChunkedArray,
        *,
        commit: str | None = None,
        ttl: timedelta | None = None,
    ) -> WriteResult:
        """Store one row per key unless the stored row has a newer event time."""
        ...

    def read(self, requests: Sequence[ReadRequest]) -> list[pa.Table]:
        """One table per request: a row per key, the schema's columns, event time, commit."""
        ...

    def delete(self, table: str, keys: Sequence[bytes]) -> int:
        """Remove these keys of a table; returns how many existed."""
        ...

    def delete_table(self, table: str) -> int:
        """Remove every key of a table; returns how many there were."""
        ...

    def delete_all(self) -> int:
        """Remove every key of every table under this store's prefix; returns how many."""
        ...

    def ping(self) -> bool:
        """Whether the backend answers."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class ColumnReader(Protocol):
    """Optional fast path of an `OnlineStore`: a read returning Python values, no Arrow.

    Check with ``isinstance(store, ColumnReader)`` and fall back to `OnlineStore.read`.
    """

    def read_columns(self, requests: Sequence[ReadRequest]) -> list[dict[str, list[Any]]]:
        """Per request, column name -> one value per key: ``read(...)[i].to_pydict()``."""
        ...
