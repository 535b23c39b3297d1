"""Engine.window_events: the raw rows a window ending by ``end`` reads, with their times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline import ArrayEngine, ComputeEngine, Engine
from tests.gpu_engine.device import array_device

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture(params=["duckdb", "array", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> Iterator[ComputeEngine]:
    if request.param == "spark":
        yield request.getfixturevalue("spark_engine")
        return
    if request.param == "array":
        with ArrayEngine(device=array_device(), threads=1) as arr:
            yield arr
        return
    with Engine(threads=1) as duck:
        yield duck


def test_window_events_bounds_and_columns(engine: ComputeEngine, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table(
            {
                "k": [1, 1, 1, 2, 2],
                "ts": [at(1), at(2), at(2), at(3), at(5)],
                "created": [at(1), at(3), None, at(3), at(5)],
                "v": [10, 20, 21, 30, 50],
            }
        ),
        path,
    )
    out = engine.window_events(
        [str(path)], ["k"], "ts", ["v"], at(1), at(3), created_ts="created"
    ).read_all()
    assert out.schema.names == ["k", "__ts", "__created", "v"]
    assert out.schema.field("__ts").type == pa.timestamp("us", tz="UTC")
    rows = sorted(out.to_pylist(), key=lambda r: (r["k"], r["__ts"], r["v"]))
    assert [(r["k"], r["__ts"], r["__created"], r["v"]) for r in rows] == [
        (1, at(2), at(3), 20),
        (1, at(2), None, 21),
        (2, at(3), at(3), 30),
    ]
    plain = engine.window_events([str(path)], ["k"], "ts", ["v"], at(0), at(9)).read_all()
    assert plain.column("__created").null_count == 5
    assert plain.num_rows == 5
