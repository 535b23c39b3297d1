"""``lakefs-spec`` (the fsspec filesystem of lakeFS) against ``featurestore serve``:
Parquet written with ``fs.open(..., "wb")`` under a table's prefix, listed, read back by
pandas, pyarrow, DuckDB and the feature store itself; bad Parquet refused, nothing
staged; a transaction that commits and merges on exit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lakefs_spec import LakeFSFileSystem

import offline
from tests.lakefs.served import WRITER, LakeServer

SCHEMA = pa.schema(
    [
        ("driver_id", pa.int64()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("rate", pa.float64()),
    ]
)
ROWS = pa.table(
    {
        "driver_id": [1, 2, 3],
        "event_timestamp": pa.array(
            [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)], SCHEMA.field(1).type
        ),
        "rate": [0.5, 0.25, 0.75],
    },
    schema=SCHEMA,
)


@pytest.fixture
def fs(lakefs_server: LakeServer) -> LakeFSFileSystem:
    return LakeFSFileSystem(host=lakefs_server.url, username="spec", password=WRITER)


@pytest.fixture
def branch(lakefs_server: LakeServer) -> str:
    """A branch from main holding a committed, empty table ``trips`` (made by our API)."""
    repo = lakefs_server.store.repository
    name = f"spec-{uuid.uuid4().hex[:10]}"
    repo.branch(name).create("main")
    offline.TableStore(repo).create_table(name, "trips", SCHEMA, keys=["driver_id"])
    repo.branch(name).commit("table trips")
    return name


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def test_parquet_written_by_fsspec_reads_everywhere(
    fs: LakeFSFileSystem, lakefs_server: LakeServer, branch: str
) -> None:
    repo_name = lakefs_server.repo_name
    base = f"{repo_name}/{branch}/tables/trips"
    with fs.open(f"lakefs://{base}/part-spec.parquet", "wb") as f:
        pq.write_table(ROWS, f)
    names = sorted(fs.ls(f"lakefs://{base}/", detail=False))
    assert names == [f"{base}/_schema", f"{base}/part-spec.parquet"]
    assert fs.info(f"lakefs://{base}/part-spec.parquet")["type"] == "file"
    options = {"host": lakefs_server.url, "username": "spec", "password": WRITER}
    frame = pd.read_parquet(f"lakefs://{base}/part-spec.parquet", storage_options=options)
    assert frame["rate"].tolist() == [0.5, 0.25, 0.75]
    table = pq.read_table(f"{base}/part-spec.parquet", filesystem=fs)
    assert table.equals(ROWS)
    con = duckdb.connect()
    con.register_filesystem(fs)
    total = con.sql(f"SELECT count(*), sum(rate) FROM read_parquet('lakefs://{base}/*.parquet')")
    assert total.fetchall() == [(3, 1.5)]
    ours = offline.TableStore(lakefs_server.store.repository).read(branch, "trips")
    assert ours.sort_by("driver_id").equals(ROWS)  # the feature store reads what fsspec wrote


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"PAR1 this is not parquet", "not a Parquet file"),
        (_parquet(ROWS.drop_columns(["rate"])), "are not table 'trips''s"),
        (_parquet(ROWS.set_column(2, "rate", pa.array(["a", "b", "c"]))), "rate: string"),
        (
            _parquet(ROWS.set_column(1, "event_timestamp", ROWS[1].cast(pa.timestamp("ns")))),
            "timestamp[us, tz=UTC]",
        ),
    ],
    ids=["garbage", "missing-column", "wrong-type", "naive-ns-timestamps"],
)
def test_bad_parquet_under_a_table_is_refused_and_nothing_staged(
    fs: LakeFSFileSystem, lakefs_server: LakeServer, branch: str, content: bytes, says: str
) -> None:
    path = f"lakefs://{lakefs_server.repo_name}/{branch}/tables/trips/part-bad.parquet"
    with pytest.raises(OSError, match="400") as refused, fs.open(path, "wb") as f:
        f.write(content)
    assert says in str(refused.value)
    assert "write" in str(refused.value)  # says what to do
    assert list(lakefs_server.store.repository.branch(branch).uncommitted()) == []
    assert not fs.exists(path)


def test_objects_outside_the_feature_store_prefixes_are_not_checked(
    fs: LakeFSFileSystem, lakefs_server: LakeServer, branch: str
) -> None:
    path = f"lakefs://{lakefs_server.repo_name}/{branch}/raw/not-really.parquet"
    fs.pipe(path, b"anything at all")
    assert fs.cat(path) == b"anything at all"


def test_transaction_commits_and_merges_on_exit(
    fs: LakeFSFileSystem, lakefs_server: LakeServer, branch: str
) -> None:
    repo_name = lakefs_server.repo_name
    with fs.transaction(repo_name, branch) as tx:
        target = f"{repo_name}/{tx.branch.id}/tables/trips/part-tx.parquet"
        with fs.open(target, "wb") as f:
            pq.write_table(ROWS, f)
        tx.commit(message="rows through a lakefs-spec transaction")
    repo = lakefs_server.store.repository
    assert repo.ref(branch).object("tables/trips/part-tx.parquet").exists()
    messages = [c.message for c in repo.ref(branch).log(max_amount=3)]
    assert "rows through a lakefs-spec transaction" in messages
    assert list(repo.branch(branch).uncommitted()) == []
    assert offline.TableStore(repo).read(branch, "trips").num_rows == 3
