"""Tables through the facade: compaction as its own commit, SQL at a branch or a commit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import store_data

from featurestore import ConflictError, FeatureStore

REFS = ["driver_stats:trips", "driver_stats:rate"]


def _sorted_rows(store: FeatureStore, ref: str) -> list[tuple[object, ...]]:
    table = store.sql("SELECT * FROM driver_stats", ref=ref)
    return sorted(zip(*(table.column(n).to_pylist() for n in table.column_names), strict=True))


def test_compaction_is_a_commit_that_changes_no_row(store: FeatureStore) -> None:
    drivers = store_data.driver_rows()
    for part in range(4):  # four small objects
        store.ingest("driver_stats", drivers.iloc[part::4])
        store.commit(f"part {part}")
    store.ingest("customer_stats", store_data.customer_rows())
    store.commit("customers")
    before = store.resolve()
    ents = store_data.entity_frame(n=120)
    expected = store.get_historical_features(ents, REFS, ref=before).to_arrow()

    commit = store.compact("driver_stats")

    assert commit is not None and commit.parents == (before,)
    assert commit.metadata["compaction"] == "driver_stats"
    assert len(store.tables.files(commit.id, "driver_stats")) < 4
    assert _sorted_rows(store, commit.id) == _sorted_rows(store, before)
    assert store.get_historical_features(ents, REFS, ref=commit.id).to_arrow().equals(expected)
    assert store.compact("driver_stats") is None  # one large object: nothing to do


def test_compaction_refuses_a_branch_with_staged_changes(store: FeatureStore) -> None:
    drivers = store_data.driver_rows()
    store.ingest("driver_stats", drivers.iloc[::2])
    store.commit("half")
    store.ingest("driver_stats", drivers.iloc[1::2])  # staged, not committed
    head = store.resolve()
    with pytest.raises(ConflictError, match="uncommitted"):
        store.compact("driver_stats")
    assert store.resolve() == head
    assert len(list(store.repository.branch("main").uncommitted())) > 0


def test_sql_on_a_branch_sees_staged_rows_and_a_commit_does_not(store: FeatureStore) -> None:
    drivers = store_data.driver_rows()
    store.ingest("driver_stats", drivers.iloc[:10])
    first = store.commit("ten rows")
    store.ingest("driver_stats", drivers.iloc[10:15])  # staged
    count = "SELECT count(*) AS n FROM driver_stats"
    assert store.sql(count).column("n").to_pylist() == [15]
    assert store.sql(count, ref=first.id).column("n").to_pylist() == [10]


def test_ingest_reports_its_rows_as_they_are_written(store: FeatureStore) -> None:
    rows = store_data.driver_rows()
    big = pd.concat([rows] * (600_000 // len(rows) + 1), ignore_index=True)
    big["trips"] = range(len(big))  # distinct rows, however many copies
    seen: list[tuple[str, int, int | None]] = []
    store.ingest("driver_stats", big, progress=lambda *a: seen.append(a))
    assert {what for what, _, _ in seen} == {"ingest driver_stats"}
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and done[0] == 0 and done[-1] == len(big)
    assert any(0 < d < len(big) for d in done)  # a step between start and end
    assert all(total == len(big) for _, _, total in seen)


def test_a_pandas_index_written_with_the_rows_is_not_a_column(
    store: FeatureStore, tmp_path: Path
) -> None:
    drivers = store_data.driver_rows().sort_values("rate").iloc[:20]  # an index that is no range
    path = tmp_path / "sorted.parquet"
    drivers.to_parquet(path)
    assert "__index_level_0__" in pq.read_schema(path).names
    store.ingest("driver_stats", path)
    store.ingest("driver_stats", pa.Table.from_pandas(drivers.iloc[:5]))
    store.ingest("driver_stats", str(path), mode="upsert")
    rows = store.sql("SELECT * FROM driver_stats")
    assert rows.num_rows == 20 and "__index_level_0__" not in rows.column_names  # upserted
    named = drivers.set_index("driver_id")  # a named index is the user's column: kept
    store.ingest("driver_stats", pa.Table.from_pandas(named), mode="upsert")
    assert store.sql("SELECT count(*) AS n FROM driver_stats").column("n").to_pylist() == [20]
