"""``map_rows`` runs a function where the rows live: in this process for DuckDB, in
Spark's Python workers for Spark, and both see the same rows with the same types."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline import ComputeEngine, Engine, LatestRows, QueryError

pytestmark = pytest.mark.spark


@pytest.fixture(autouse=True)
def _pickled_by_value(spark_session: object) -> Iterator[None]:
    """Spark's workers cannot import this test module: send its functions by value."""
    from pyspark import cloudpickle

    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(module)  # type: ignore[no-untyped-call]


T0 = datetime(2024, 1, 1, tzinfo=UTC)
OUT = pa.schema([("pid", pa.int64()), ("rows", pa.int64()), ("keys", pa.string())])


def _summary(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One row per batch: the process it ran in, its rows, and its rows as text."""
    for b in batches:
        text = ";".join(f"{r['k']}={r['v']}@{r['ts'].isoformat()}" for r in b.to_pylist())
        yield pa.RecordBatch.from_pydict(
            {"pid": [os.getpid()], "rows": [b.num_rows], "keys": [text]}, schema=OUT
        )


def _file(tmp: Path) -> str:
    n = 500
    path = tmp / "0123abcdef"  # extensionless, like the repository's objects
    pq.write_table(
        pa.table(
            {
                "k": pa.array([i % 50 for i in range(n)], pa.int64()),
                "ts": pa.array(
                    [T0 + timedelta(minutes=i) for i in range(n)], pa.timestamp("us", tz="UTC")
                ),
                "v": pa.array(range(n), pa.int32()),
            }
        ),
        path,
    )
    return str(path)


def _run(engine: ComputeEngine, query: LatestRows) -> pa.Table:
    return pa.Table.from_batches(list(engine.map_rows(query, _summary, OUT)), schema=OUT)


def test_spark_runs_the_function_on_executors(spark_engine: ComputeEngine, tmp_path: Path) -> None:
    query = LatestRows([_file(tmp_path)], ["k"], "ts", None, ["v"])
    ours = _run(spark_engine, query)
    assert os.getpid() not in ours.column("pid").to_pylist()
    assert sum(ours.column("rows").to_pylist()) == 50
    with Engine(threads=1) as duck:
        theirs = _run(duck, query)
    assert theirs.column("pid").to_pylist() == [os.getpid()] * theirs.num_rows

    def rows(t: pa.Table) -> list[str]:
        return sorted(x for s in t.column("keys").to_pylist() for x in s.split(";"))

    assert rows(ours) == rows(theirs)  # same rows, same types (int32 values, UTC times)
    assert "49=499@" in ";".join(rows(ours))


def test_spark_refuses_an_output_type_it_cannot_carry(
    spark_engine: ComputeEngine, tmp_path: Path
) -> None:
    query = LatestRows([_file(tmp_path)], ["k"], "ts", None, ["v"])
    bad = pa.schema([("when", pa.timestamp("us"))])
    with pytest.raises(QueryError, match="'when'"):
        list(spark_engine.map_rows(query, _summary, bad))
