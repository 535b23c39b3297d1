"""TableStore on a real repository: schema checks, copy-on-write writes, compaction, time travel."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import repos
from offline import (
    AsOfSpec,
    Engine,
    OfflineError,
    QueryError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
    TableStore,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SCHEMA = pa.schema(
    [
        ("driver", pa.int64()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("rate", pa.int64()),
        ("note", pa.string()),
    ]
)


def rows(drivers: list[int], hour: int = 0, rate: int = 0) -> pa.Table:
    return pa.table(
        {
            "driver": drivers,
            "ts": [T0 + timedelta(hours=hour)] * len(drivers),
            "rate": [d * 10 + rate for d in drivers],
            "note": [f"d{d}" for d in drivers],
        },
        schema=SCHEMA,
    )


def content(store: TableStore, ref: str, name: str = "stats") -> Counter[tuple[object, ...]]:
    t = store.read(ref, name)
    return Counter(tuple(r.values()) for r in t.to_pylist())


@pytest.fixture
def repo(tmp_path: Path) -> repos.Repository:
    r = repos.Repository.create(tmp_path / "repo")
    yield r
    r.close()


@pytest.fixture
def store(repo: repos.Repository) -> TableStore:
    s = TableStore(repo)
    s.create_table("main", "stats", SCHEMA, keys=["driver"])
    repo.branch("main").commit("create stats")
    return s


def test_create_and_describe(store: TableStore, repo: repos.Repository) -> None:
    assert store.tables("main") == ["stats"]
    assert store.schema("main", "stats") == SCHEMA
    assert store.keys("main", "stats") == ("driver",)
    assert store.files("main", "stats") == []
    naive = pa.schema([("k", pa.int32()), ("t", pa.timestamp("ns"))])
    stored = store.create_table("main", "other", naive)
    assert stored.field("t").type == pa.timestamp("us", tz="UTC")
    with pytest.raises(TableExistsError):
        store.create_table("main", "stats", SCHEMA)
    assert store.create_table("main", "stats", SCHEMA, keys=["driver"], exist_ok=True) == SCHEMA
    with pytest.raises(TableNotFoundError):
        store.schema("main", "nope")
    with pytest.raises(OfflineError, match="invalid table name"):
        store.create_table("main", "a/b", SCHEMA)
    with pytest.raises(SchemaMismatchError, match="missing"):
        store.create_table("main", "bad", SCHEMA, keys=["missing"])


def test_accepts_arrow_polars_pandas_and_parquet(store: TableStore, tmp_path: Path) -> None:
    store.write("main", "stats", rows([1]))
    store.write("main", "stats", pl.from_arrow(rows([2])))
    store.write("main", "stats", rows([3]).to_pandas())
    pq.write_table(rows([4]), tmp_path / "in.parquet")
    store.write("main", "stats", tmp_path / "in.parquet")
    reader = pa.RecordBatchReader.from_batches(SCHEMA, rows([5, 6]).to_batches(max_chunksize=1))
    store.write("main", "stats", reader)
    assert sorted(store.read("main", "stats").column("driver").to_pylist()) == [1, 2, 3, 4, 5, 6]


def test_compatible_casts_are_applied(store: TableStore) -> None:
    data = pa.table(
        {
            "note": ["x"],  # column order does not matter
            "driver": pa.array([7], pa.int32()),
            "ts": pa.array([datetime(2024, 1, 1, 5)], pa.timestamp("ns")),  # naive: UTC
            "rate": pa.array([1], pa.int8()),
        }
    )
    store.write("main", "stats", data)
    t = store.read("main", "stats")
    assert t.schema == SCHEMA
    assert t.to_pylist() == [{"driver": 7, "ts": T0 + timedelta(hours=5), "rate": 1, "note": "x"}]


@pytest.mark.parametrize(
    ("data", "column", "found"),
    [
        (rows([1]).drop_columns(["rate"]), "rate", "missing column"),
        (rows([1]).set_column(2, "rate", pa.array(["1"])), "rate", "string"),
        (rows([1]).set_column(2, "rate", pa.array([1.5])), "rate", "double"),
        (rows([1]).set_column(2, "rate", pa.array([1], pa.uint64())), "rate", "uint64"),
        (rows([1]).append_column("extra", pa.array([1])), "extra", "int64"),
        (rows([1]).set_column(0, "driver", pa.array([None], pa.int64())), "driver", "null"),
    ],
)
def test_schema_mismatch_names_column_and_writes_nothing(
    store: TableStore, repo: repos.Repository, data: pa.Table, column: str, found: str
) -> None:
    with pytest.raises(SchemaMismatchError) as err:
        store.write("main", "stats", data)
    assert err.value.column == column
    assert column in str(err.value) and found in str(err.value)
    assert "int64" in str(err.value) or column == "extra"
    assert list(repo.branch("main").uncommitted()) == []


def test_bad_batch_in_a_stream_writes_nothing(store: TableStore, repo: repos.Repository) -> None:
    good = rows([1]).to_batches()[0]
    bad = rows([2]).set_column(0, "driver", pa.array([None], pa.int64())).to_batches()[0]
    reader = pa.RecordBatchReader.from_batches(SCHEMA, [good, bad])
    with pytest.raises(SchemaMismatchError):
        store.write("main", "stats", reader)
    assert list(repo.branch("main").uncommitted()) == []


def test_upsert_rewrites_only_objects_with_affected_keys(
    store: TableStore, repo: repos.Repository
) -> None:
    a = store.write("main", "stats", rows([1, 2, 3])).files_added
    b = store.write("main", "stats", rows([4, 5])).files_added
    c = store.write("main", "stats", rows([6])).files_added
    repo.branch("main").commit("load")
    res = store.write("main", "stats", rows([2, 7, 7], rate=5), mode="upsert")
    assert res.rows_written == 2 and res.rows_deleted == 1
    assert res.files_removed == a
    assert len(res.files_added) == 2
    paths = {o.path for o in repo.branch("main").objects("tables/stats/")}
    assert set(b) | set(c) <= paths and not set(a) & paths
    assert content(store, "main") == Counter(
        [tuple(r.values()) for r in rows([1, 3, 4, 5, 6]).to_pylist()]
        + [tuple(r.values()) for r in rows([2, 7], rate=5).to_pylist()]
    )


def test_delete_by_keys_and_where(store: TableStore, repo: repos.Repository) -> None:
    a = store.write("main", "stats", rows([1, 2])).files_added
    b = store.write("main", "stats", rows([3, 4])).files_added
    untouched = store.write("main", "stats", rows([5])).files_added
    res = store.write("main", "stats", pd.DataFrame({"driver": [1, 2, 3, 99]}), mode="delete")
    assert res.rows_deleted == 3
    assert set(res.files_removed) == set(a) | set(b)
    assert len(res.files_added) == 1  # a became empty, b kept driver 4
    res = store.delete_where("main", "stats", "rate >= 50 OR note IS NULL")
    assert res.files_removed == untouched and res.files_added == () and res.rows_deleted == 1
    assert store.read("main", "stats").column("driver").to_pylist() == [4]
    assert store.delete_where("main", "stats", "driver = 42").files_removed == ()
    with pytest.raises(QueryError):
        store.delete_where("main", "stats", "no_such_column = 1")
    with pytest.raises(QueryError):
        store.delete_where("main", "stats", "1=1; DROP TABLE x")


def test_upsert_needs_keys(repo: repos.Repository) -> None:
    s = TableStore(repo)
    s.create_table("main", "nokeys", SCHEMA)
    with pytest.raises(OfflineError, match="keys"):
        s.write("main", "nokeys", rows([1]), mode="upsert")
    s.write("main", "nokeys", rows([1]), mode="upsert", keys=["driver", "ts"])
    assert s.read("main", "nokeys").num_rows == 1


def test_compaction_changes_no_row(store: TableStore, repo: repos.Repository) -> None:
    for h in range(5):
        store.write("main", "stats", rows([5, 3, 1, 4], hour=4 - h, rate=h))
    before = content(store, "main")
    assert store.compact("main", "stats", sort_by=["driver", "ts"], target_rows=8)
    repo.branch("main").commit("compact")
    files = store.files("main", "stats")
    assert sorted(pq.ParquetFile(f).metadata.num_rows for f in files) == [4, 8, 8]
    assert content(store, "main") == before
    table = pa.concat_tables(
        pq.read_table(f) for f in sorted(files, key=lambda f: pq.read_table(f)["driver"][0].as_py())
    )
    keys = list(zip(table["driver"].to_pylist(), table["ts"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    # two large objects and one small one: nothing left to compact
    assert not store.compact("main", "stats", target_rows=8)


def test_time_travel_reads_at_a_tag_do_not_change(
    store: TableStore, repo: repos.Repository, tmp_path: Path
) -> None:
    store.write("main", "stats", rows([1, 2, 3], hour=1))
    repo.branch("main").commit("v1 data")
    repo.tag("v1").create("main")
    at_tag = content(store, "v1")
    files_v1 = store.files("v1", "stats")
    engine = Engine(threads=1)
    ents = pa.table({"d": [1, 2, 3], "t": [T0 + timedelta(hours=5)] * 3})

    def join(ref: str) -> list[object]:
        spec = AsOfSpec(store.files(ref, "stats"), {"d": "driver"}, "ts", {"rate": "rate"})
        return engine.as_of_join(ents, "t", [spec]).read_all().column("rate").to_pylist()

    before = join("v1")
    store.write("main", "stats", rows([1, 2], hour=2, rate=7), mode="upsert")
    store.write("main", "stats", pd.DataFrame({"driver": [3]}), mode="delete")
    store.write("main", "stats", rows([4], hour=3))
    repo.branch("main").commit("later")
    store.compact("main", "stats", sort_by=["driver"])
    repo.branch("main").commit("compact")
    assert content(store, "v1") == at_tag
    assert store.files("v1", "stats") == files_v1
    assert join("v1") == before == [10, 20, 30]
    assert join("main") == [17, 27, None]
    sql = engine.sql("SELECT sum(rate) AS s FROM stats", {"stats": store.files("v1", "stats")})
    assert sql.column("s").to_pylist() == [60]
    engine.close()


def test_appending_rows_already_on_the_branch_reports_nothing_written(
    store: TableStore, repo: repos.Repository
) -> None:
    first = store.write("main", "stats", rows([1, 2, 3]))
    assert first.rows_written == 3 and len(first.files_added) == 1
    repo.branch("main").commit("rows")
    again = store.write("main", "stats", rows([1, 2, 3]))
    assert (again.rows_written, again.files_added) == (0, ())
    assert list(repo.branch("main").uncommitted()) == []
    assert sum(content(store, "main").values()) == 3
    other = store.write("main", "stats", rows([4]))
    assert other.rows_written == 1 and len(other.files_added) == 1


def test_a_large_append_reports_rows_as_it_writes_and_names_its_part_by_the_whole(
    store: TableStore, repo: repos.Repository, tmp_path: Path
) -> None:
    import hashlib

    n = 600_000
    big = pa.table(
        {
            "driver": pa.array(range(n), pa.int64()),
            "ts": pa.array([T0] * n, SCHEMA.field("ts").type),
            "rate": pa.array(range(n), pa.int64()),
            "note": pa.array(["x"] * n),
        },
        schema=SCHEMA,
    )
    seen: list[int] = []
    result = store.write("main", "stats", big, on_rows=seen.append)
    assert seen == [4 * 128 * 1024, n] and result.rows_written == n
    # the part holds the same bytes as the table written in one go, so its content name
    # does not depend on how the rows were fed
    whole = tmp_path / "whole.parquet"
    with pq.ParquetWriter(whole, SCHEMA, compression="snappy") as w:
        w.write_table(big, row_group_size=128 * 1024)
    digest = hashlib.sha256(whole.read_bytes()).hexdigest()
    (path,) = result.files_added
    assert path.endswith(f"part-{digest[:32]}.parquet")
