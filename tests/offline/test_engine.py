"""Engine semantics on hand-made edge cases and against brute force on random data."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offline import (
    ArrayEngine,
    AsOfSpec,
    Engine,
    QueryError,
    SchemaMismatchError,
    WindowAgg,
    WindowSpec,
)
from tests.gpu_engine.device import array_device

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def write(path: Path, **cols: list[object]) -> str:
    table = pa.table(cols)
    pq.write_table(table, path)
    return str(path)


class PinnedEngine(Engine):
    """An engine whose point-in-time joins use one method, so both are tested alike."""

    def __init__(self, method: Literal["duckdb", "polars"]) -> None:
        super().__init__(threads=2, memory_limit="1GB")
        self.method: Literal["duckdb", "polars"] = method

    def as_of_join(  # type: ignore[override]
        self, entities: pa.Table | pa.RecordBatchReader, entity_ts: str, specs: list[AsOfSpec]
    ) -> pa.RecordBatchReader:
        leak_free = any(s.exclude_created_after for s in specs)
        method = "duckdb" if leak_free else self.method
        return super().as_of_join(entities, entity_ts, specs, method=method)


@pytest.fixture(
    scope="module",
    params=["duckdb", "polars", "array", pytest.param("spark", marks=pytest.mark.spark)],
)
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "spark":
        return request.getfixturevalue("spark_engine")  # type: ignore[no-any-return]
    if request.param == "array":  # the GPU engine's code on NumPy
        return ArrayEngine(device=array_device(), threads=2, memory_limit="1GB")  # type: ignore[return-value]
    return PinnedEngine(request.param)


@pytest.fixture
def drivers(tmp_path: Path) -> str:
    # driver 1: tie at 2h (created 3h wins over 2h), a row at 4h; driver 2: one row at 1h
    return write(
        tmp_path / "drivers.parquet",
        driver=[1, 1, 1, 1, 2],
        ts=[at(1), at(2), at(2), at(4), at(1)],
        created=[at(1), at(3), at(2), at(4), at(1)],
        rate=[10, 21, 20, 40, 99],
        score=[0.1, 0.21, 0.2, 0.4, 0.99],
    )


def join(engine: Engine, entities: pa.Table, *specs: AsOfSpec) -> pa.Table:
    return engine.as_of_join(entities, "t", list(specs)).read_all()


def spec(files: str, **kw: object) -> AsOfSpec:
    args: dict[str, object] = {
        "keys": {"driver_id": "driver"},
        "event_ts": "ts",
        "created_ts": "created",
        "columns": {"rate": "rate"},
    }
    args.update(kw)
    return AsOfSpec(files=[files], **args)  # type: ignore[arg-type]


def test_tie_on_event_time_goes_to_greatest_created(engine: Engine, drivers: str) -> None:
    ents = pa.table({"driver_id": [1, 1, 1], "t": [at(2), at(3), at(1.5)]})
    out = join(engine, ents, spec(drivers))
    assert out.column("rate").to_pylist() == [21, 21, 10]


def test_tie_break_holds_whatever_the_file_order(engine: Engine, tmp_path: Path) -> None:
    created = [at(1) + timedelta(minutes=i) for i in range(30)]
    for order in (list(range(30)), list(reversed(range(30)))):
        f = write(
            tmp_path / f"tie{order[0]}.parquet",
            driver=[7] * 30,
            ts=[at(1)] * 30,
            created=[created[i] for i in order],
            rate=list(order),
        )
        out = join(engine, pa.table({"driver_id": [7] * 5, "t": [at(1)] * 5}), spec(f))
        assert out.column("rate").to_pylist() == [29] * 5


def test_rows_exactly_at_t_and_at_t_minus_ttl_are_included(engine: Engine, drivers: str) -> None:
    ents = pa.table(
        {"driver_id": [1, 1, 2, 2], "t": [at(4), at(5), at(2), at(2) + timedelta(microseconds=1)]}
    )
    out = join(engine, ents, spec(drivers, ttl=timedelta(hours=1)))
    assert out.column("rate").to_pylist() == [40, 40, 99, None]


def test_no_ttl_has_no_lower_bound(engine: Engine, drivers: str) -> None:
    ents = pa.table({"driver_id": [2], "t": [at(1000)]})
    assert join(engine, ents, spec(drivers)).column("rate").to_pylist() == [99]


def test_entities_without_data_or_without_row_in_window_get_nulls(
    engine: Engine, drivers: str
) -> None:
    ents = pa.table({"driver_id": [3, 1, 2], "t": [at(2), at(0.5), at(10)]})
    out = join(engine, ents, spec(drivers, ttl=timedelta(hours=2)))
    assert out.column("rate").to_pylist() == [None, None, None]
    assert out.column("rate").type == pa.int64()


def test_duplicates_order_and_extra_columns_are_kept(engine: Engine, drivers: str) -> None:
    ents = pa.table(
        {
            "label": ["a", "b", "c", "d", "e"],
            "driver_id": [2, 1, 1, 2, 1],
            "t": [at(3), at(4), at(1), at(3), at(4)],
        }
    )
    out = join(engine, ents, spec(drivers, columns={"rate": "rate", "s": "score"}))
    assert out.column_names == ["label", "driver_id", "t", "rate", "s"]
    assert out.column("label").to_pylist() == ["a", "b", "c", "d", "e"]
    assert out.column("rate").to_pylist() == [99, 40, 10, 99, 40]
    assert out.column("s").to_pylist() == [0.99, 0.4, 0.1, 0.99, 0.4]


def test_naive_and_aware_entity_timestamps_are_utc(engine: Engine, drivers: str) -> None:
    naive = pa.table(
        {"driver_id": [1, 1], "t": pa.array([datetime(2024, 1, 1, 2), datetime(2024, 1, 1, 1, 59)])}
    )
    plus2 = timezone(timedelta(hours=2))
    aware = pa.table(
        {
            "driver_id": [1, 1],
            "t": pa.array(
                [datetime(2024, 1, 1, 4, tzinfo=plus2), datetime(2024, 1, 1, 3, 59, tzinfo=plus2)],
                pa.timestamp("ns", tz="Europe/Berlin"),
            ),
        }
    )
    assert join(engine, naive, spec(drivers)).column("rate").to_pylist() == [21, 10]
    assert join(engine, aware, spec(drivers)).column("rate").to_pylist() == [21, 10]


def test_naive_feature_timestamps_are_utc(engine: Engine, tmp_path: Path) -> None:
    f = write(
        tmp_path / "naive.parquet",
        driver=[1, 1],
        ts=[datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 2)],
        created=[datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 2)],
        rate=[1, 2],
    )
    ents = pa.table({"driver_id": [1, 1], "t": [at(1.5), at(2)]})
    assert join(engine, ents, spec(f)).column("rate").to_pylist() == [1, 2]


def test_two_specs_on_different_keys(engine: Engine, drivers: str, tmp_path: Path) -> None:
    cust = write(
        tmp_path / "cust.parquet",
        customer=["x", "y", "x"],
        ts=[at(1), at(1), at(3)],
        spend=[1.5, 2.5, 3.5],
    )
    ents = pa.table({"driver_id": [1, 2, 1], "cust": ["x", "y", "z"], "t": [at(2), at(2), at(4)]})
    cspec = AsOfSpec(
        files=[cust], keys={"cust": "customer"}, event_ts="ts", columns={"spend": "spend"}
    )
    out = join(engine, ents, spec(drivers), cspec)
    assert out.column("rate").to_pylist() == [21, 99, 40]
    assert out.column("spend").to_pylist() == [1.5, 2.5, None]


def test_composite_keys(engine: Engine, tmp_path: Path) -> None:
    f = write(tmp_path / "c.parquet", a=[1, 1, 2], b=["x", "y", "x"], ts=[at(1)] * 3, v=[1, 2, 3])
    ents = pa.table({"a": [1, 2, 2, 1], "b": ["y", "x", "y", "x"], "t": [at(2)] * 4})
    s = AsOfSpec(files=[f], keys={"a": "a", "b": "b"}, event_ts="ts", columns={"v": "v"})
    assert join(engine, ents, s).column("v").to_pylist() == [2, 3, None, 1]


def test_exclude_created_after(engine: Engine, drivers: str) -> None:
    ents = pa.table({"driver_id": [1, 1, 1, 3], "t": [at(2), at(3), at(2.5), at(3)]})
    out = join(engine, ents, spec(drivers, exclude_created_after=True, ttl=timedelta(hours=1)))
    # at 2h and 2.5h the created-3h row is not known yet; the created-2h row is
    assert out.column("rate").to_pylist() == [20, 21, 20, None]


def test_empty_file_list_gives_nulls(engine: Engine) -> None:
    ents = pa.table({"driver_id": [1], "t": [at(1)]})
    s = AsOfSpec(files=[], keys={"driver_id": "driver"}, event_ts="ts", columns={"rate": "rate"})
    assert join(engine, ents, s).column("rate").to_pylist() == [None]


def test_streams_a_record_batch_reader(engine: Engine, drivers: str) -> None:
    n = 300_000
    base = pa.table({"driver_id": pa.array([1, 2, 3] * (n // 3)), "t": pa.array([at(5)] * n)})
    reader = pa.RecordBatchReader.from_batches(base.schema, base.to_batches(max_chunksize=10_000))
    out = engine.as_of_join(reader, "t", [spec(drivers)])
    assert isinstance(out, pa.RecordBatchReader)
    batches = list(out)
    assert len(batches) > 1
    rates = pa.Table.from_batches(batches).column("rate").to_pylist()
    assert rates == [40, 99, None] * (n // 3)


def test_bad_entity_input(engine: Engine, drivers: str) -> None:
    with pytest.raises(SchemaMismatchError, match="'t'"):
        join(engine, pa.table({"driver_id": [1]}), spec(drivers))
    with pytest.raises(SchemaMismatchError, match="driver_id"):
        join(engine, pa.table({"t": [at(1)]}), spec(drivers))
    with pytest.raises(SchemaMismatchError, match="timestamp"):
        join(engine, pa.table({"driver_id": [1], "t": [1]}), spec(drivers))


def test_concurrent_use_from_threads(engine: Engine, drivers: str) -> None:
    ents = pa.table({"driver_id": [1, 2, 3] * 100, "t": [at(5)] * 300})
    results: list[list[object]] = []

    def run() -> None:
        results.append(join(engine, ents, spec(drivers)).column("rate").to_pylist())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[40, 99, None] * 100] * 4


# -- brute force on random data ----------------------------------------------------------

feature_rows = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 20), st.integers(0, 3), st.integers(-50, 50)),
    min_size=0,
    max_size=40,
)
entity_rows = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 24)), min_size=1, max_size=25)


def _frames(tmp: Path, rows: list[tuple[int, int, int, int]]) -> tuple[str, pd.DataFrame]:
    # created times are unique per (key, event) so "greatest created" is well defined
    seen: set[tuple[int, int, int]] = set()
    rows = [r for r in rows if (r[0], r[1], r[2]) not in seen and not seen.add((r[0], r[1], r[2]))]
    df = pd.DataFrame(rows, columns=["k", "e", "c", "v"])
    table = pa.table(
        {
            "k": pa.array(df.k, pa.int64()),
            "e": pa.array([at(h) for h in df.e], pa.timestamp("us", tz="UTC")),
            "c": pa.array([at(h) for h in df.c], pa.timestamp("us", tz="UTC")),
            "v": pa.array(df.v, pa.int64()),
        }
    )
    path = tmp / f"f{abs(hash(tuple(rows)))}.parquet"
    pq.write_table(table, path)
    return str(path), df


def _examples(engine: Engine) -> int:
    """Random cases per property: fewer on Spark, where each query is a job (~0.5 s)."""
    return 40 if isinstance(engine, Engine | ArrayEngine) else 12


def test_as_of_join_matches_brute_force(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    @settings(max_examples=_examples(engine), deadline=None)
    @given(rows=feature_rows, ents=entity_rows, ttl=st.one_of(st.none(), st.integers(0, 6)))
    def check(
        rows: list[tuple[int, int, int, int]], ents: list[tuple[int, int]], ttl: int | None
    ) -> None:
        _as_of_case(engine, tmp_path_factory, rows, ents, ttl)

    check()


def _as_of_case(
    engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[int, int, int, int]],
    ents: list[tuple[int, int]],
    ttl: int | None,
) -> None:
    path, df = _frames(tmp_path_factory.mktemp("pit"), rows)
    entities = pa.table({"k": [k for k, _ in ents], "t": [at(h) for _, h in ents]})
    s = AsOfSpec(
        files=[path],
        keys={"k": "k"},
        event_ts="e",
        created_ts="c",
        columns={"v": "v"},
        ttl=None if ttl is None else timedelta(hours=ttl),
    )
    got = engine.as_of_join(entities, "t", [s]).read_all().column("v").to_pylist()
    expected = []
    for k, h in ents:
        cand = df[(df.k == k) & (df.e <= h) & ((df.e >= h - ttl) if ttl is not None else True)]
        expected.append(None if cand.empty else int(cand.sort_values(["e", "c"]).iloc[-1].v))
    assert got == expected


def test_window_aggregate_matches_brute_force(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    @settings(max_examples=_examples(engine), deadline=None)
    @given(
        rows=feature_rows,
        ents=entity_rows,
        windows=st.lists(st.integers(1, 8), min_size=1, max_size=3),
    )
    def check(
        rows: list[tuple[int, int, int, int]], ents: list[tuple[int, int]], windows: list[int]
    ) -> None:
        _window_case(engine, tmp_path_factory, rows, ents, windows)

    check()


def _window_case(
    engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[int, int, int, int]],
    ents: list[tuple[int, int]],
    windows: list[int],
) -> None:
    path, df = _frames(tmp_path_factory.mktemp("win"), rows)
    entities = pa.table({"k": [k for k, _ in ents], "t": [at(h) for _, h in ents]})
    funcs = ["count", "sum", "mean", "min", "max", "stddev", "last"]
    aggs = [
        WindowAgg(f"{f}_{i}", f, "v", timedelta(hours=w))
        for i, w in enumerate(windows)
        for f in funcs
    ]  # type: ignore[arg-type]
    spec = WindowSpec(
        files=[path], keys={"k": "k"}, event_ts="e", created_ts="c", aggregations=aggs
    )
    got = engine.window_aggregate(entities, "t", spec).read_all()
    assert got.column("count_0").type == pa.int64()
    assert got.column("sum_0").type == pa.int64()
    for a in aggs:
        expected = []
        for k, h in ents:
            w = df[(df.k == k) & (df.e <= h) & (df.e > h - a.window / timedelta(hours=1))]
            v = w.v
            if a.function == "count":
                expected.append(len(v))
            elif w.empty:
                expected.append(None)
            elif a.function == "sum":
                expected.append(int(v.sum()))
            elif a.function == "mean":
                expected.append(pytest.approx(float(v.mean())))
            elif a.function == "min":
                expected.append(int(v.min()))
            elif a.function == "max":
                expected.append(int(v.max()))
            elif a.function == "stddev":
                expected.append(None if len(v) < 2 else pytest.approx(float(v.std(ddof=1))))
            else:
                expected.append(int(w.sort_values(["e", "c"]).iloc[-1].v))
        assert got.column(a.output).to_pylist() == expected, a


def test_window_aggregate_bounds(engine: Engine, drivers: str) -> None:
    # the value at t covers t - window < e <= t: a row exactly at t - window is out
    ents = pa.table({"driver_id": [1, 1, 2], "t": [at(4), at(3), at(2)]})
    spec = WindowSpec(
        files=[drivers],
        keys={"driver_id": "driver"},
        event_ts="ts",
        aggregations=[WindowAgg("n", "count", "rate", timedelta(hours=2))],
    )
    assert engine.window_aggregate(ents, "t", spec).read_all().column("n").to_pylist() == [1, 2, 1]


def test_window_aggregate_at_and_latest(engine: Engine, drivers: str) -> None:
    aggs = [
        WindowAgg("n", "count", "rate", timedelta(hours=3)),
        WindowAgg("last", "last", "rate", timedelta(hours=3)),
    ]
    out = engine.window_aggregate_at(
        [drivers], ["driver"], "ts", aggs, at(2), created_ts="created"
    ).read_all()
    assert out.to_pylist() == [{"driver": 1, "n": 3, "last": 21}, {"driver": 2, "n": 1, "last": 99}]
    latest = engine.latest(
        [drivers], ["driver"], "ts", "created", {"r": "rate"}, at(0), at(3)
    ).read_all()
    rows = sorted(latest.to_pylist(), key=lambda r: r["driver"])
    assert [(r["driver"], r["r"], r["ts"]) for r in rows] == [(1, 21, at(2)), (2, 99, at(1))]
    none = engine.latest([drivers], ["driver"], "ts", "created", ["rate"], at(5), None).read_all()
    assert none.num_rows == 0


def test_sql_is_read_only(engine: Engine, drivers: str) -> None:
    out = engine.sql("WITH x AS (SELECT * FROM d) SELECT count(*) AS n FROM x", {"d": [drivers]})
    assert out.column("n").to_pylist() == [5]
    for bad in (
        "CREATE TABLE y AS SELECT 1",
        "COPY d TO '/tmp/x.csv'",
        "SELECT 1; SELECT 2",
        "DROP VIEW d",
        "SELEC",
    ):
        with pytest.raises(QueryError):
            engine.sql(bad, {"d": [drivers]})
