"""A damaged Parquet object is a CorruptTableError on every engine read: it names the
object (by file name, never a local path) and says what to do; a bad query stays a
QueryError, and a read of undamaged files is unchanged."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import offline

T0 = datetime(2024, 1, 1, tzinfo=UTC)
N = 4000


def _file(path: Path) -> str:
    table = pa.table(
        {
            "k": pa.array(np.arange(N) % 100, pa.int64()),
            "ts": pa.array(
                [T0 + timedelta(seconds=i) for i in range(N)], pa.timestamp("us", "UTC")
            ),
            "v": pa.array(np.random.default_rng(0).random(N)),
            "s": [f"value-{i}" for i in range(N)],
        }
    )
    pq.write_table(table, path)
    return str(path)


def _damage(path: str, how: str) -> None:
    data = bytearray(Path(path).read_bytes())
    if how == "pages":  # valid footer, damaged data pages
        data[100 : len(data) // 2] = b"\xab" * (len(data) // 2 - 100)
    elif how == "truncated":
        data = data[: len(data) // 2]
    else:  # not Parquet at all
        data = bytearray(b"PAR1 not parquet PAR1")
    Path(path).write_bytes(bytes(data))


ENTS = pa.table({"k": pa.array([1, 2], pa.int64()), "t": pa.array([T0 + timedelta(hours=2)] * 2)})


def _reads(files: list[str]) -> dict[str, Callable[[offline.Engine], object]]:
    spec = offline.AsOfSpec(files=files, keys={"k": "k"}, event_ts="ts", columns={"v": "v"})
    agg = [offline.WindowAgg("n", "count", "v", timedelta(days=1))]
    wspec = offline.WindowSpec(files=files, keys={"k": "k"}, event_ts="ts", aggregations=agg)
    return {
        "latest": lambda e: e.latest(files, ["k"], "ts", None, ["v"]).read_all(),
        "as_of polars": lambda e: e.as_of_join(ENTS, "t", [spec], method="polars").read_all(),
        "as_of duckdb": lambda e: e.as_of_join(ENTS, "t", [spec], method="duckdb").read_all(),
        "window": lambda e: e.window_aggregate(ENTS, "t", wspec).read_all(),
        "window_at": lambda e: e.window_aggregate_at(files, ["k"], "ts", agg, T0).read_all(),
        "sql": lambda e: e.sql("SELECT count(*) AS n, sum(v) FROM trips", {"trips": files}),
    }


@pytest.mark.parametrize("how", ["pages", "truncated", "garbage"])
@pytest.mark.parametrize("read", list(_reads([])))
def test_a_damaged_object_is_a_corrupt_table_error(tmp_path: Path, how: str, read: str) -> None:
    files = [_file(tmp_path / "good.parquet"), _file(tmp_path / "bad.parquet")]
    _damage(files[1], how)
    with offline.Engine(threads=1) as engine, pytest.raises(offline.CorruptTableError) as info:
        _reads(files)[read](engine)
    message = str(info.value)
    assert "bad.parquet" in message and "restore" in message
    assert str(tmp_path) not in message  # no local path
    if read == "sql":
        assert "table 'trips'" in message


def test_bad_queries_stay_query_errors_and_good_files_read(tmp_path: Path) -> None:
    files = [_file(tmp_path / "a.parquet"), _file(tmp_path / "b.parquet")]
    with offline.Engine(threads=1) as engine:
        for read in _reads(files).values():
            read(engine)
        for query in ("SELECT nope FROM trips", "SELECT * FROM elsewhere", "SELEC 1"):
            with pytest.raises(offline.QueryError) as info:
                engine.sql(query, {"trips": files})
            assert not isinstance(info.value, offline.CorruptTableError)
    assert os.path.exists(files[0])
