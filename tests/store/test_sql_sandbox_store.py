"""``store.sql`` reads the repository's tables at the ref and nothing else of the machine."""

from __future__ import annotations

from pathlib import Path

import pytest
import store_data

from featurestore import FeatureStore, ValidationError


def test_sql_at_a_ref_joins_and_aggregates(store: FeatureStore) -> None:
    drivers = store_data.driver_rows()
    store.ingest("driver_stats", drivers.iloc[:40])
    store.ingest("customer_stats", store_data.customer_rows())
    first = store.commit("first rows")
    store.ingest("driver_stats", drivers.iloc[40:])
    store.commit("the rest")
    query = (
        "SELECT count(*) AS n, count(DISTINCT d.driver_id) AS drivers, "
        "(SELECT count(*) FROM customer_stats) AS customers "
        "FROM driver_stats d JOIN driver_stats e USING (driver_id, event_timestamp, created)"
    )
    now = store.sql(query).to_pylist()[0]
    then = store.sql(query, ref=first.id).to_pylist()[0]
    assert then["customers"] == now["customers"] == 60
    assert then["n"] >= 40
    assert now["n"] >= len(drivers)
    assert then["drivers"] <= now["drivers"] == drivers["driver_id"].nunique()


def test_sql_cannot_reach_files_or_undo_its_sandbox(store: FeatureStore, tmp_path: Path) -> None:
    store.ingest("driver_stats", store_data.driver_rows())
    store.commit("rows")
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    config = store.config.project_dir / "featurestore.yaml"
    bad = [
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM read_text('{config}')",
        f"SELECT * FROM read_blob('{secret}')",
        f"SELECT * FROM glob('{store.config.project_dir}/**')",
        f"SELECT * FROM read_parquet('{store.config.project_dir}/**/*.parquet')",
        f"COPY driver_stats TO '{tmp_path}/out.csv'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "SELECT 1; SELECT 2",
    ]
    for query in bad:
        with pytest.raises(ValidationError):
            store.sql(query)
    assert not (tmp_path / "out.csv").exists()
    n = store.sql("SELECT count(*) AS n FROM driver_stats").column("n").to_pylist()
    assert n == [len(store_data.driver_rows())]


def test_a_table_with_no_rows_reads_as_empty_with_its_columns(store: FeatureStore) -> None:
    empty = store.sql("SELECT count(*) AS n FROM driver_stats")
    assert empty.column("n").to_pylist() == [0]
    columns = store.sql("SELECT * FROM driver_stats").schema.names
    assert {"driver_id", "event_timestamp", "created"} <= set(columns)
    drivers = store_data.driver_rows()
    store.ingest("driver_stats", drivers)
    store.commit("rows")
    store.ingest("driver_stats", drivers, mode="delete")
    store.commit("no rows left")
    left = store.sql("SELECT count(*) AS n, max(driver_id) AS top FROM driver_stats")
    assert left.to_pylist() == [{"n": 0, "top": None}]
    assert store.sql("SELECT * FROM driver_stats").schema.names == columns


def test_an_unknown_table_is_named_with_the_tables_there(store: FeatureStore) -> None:
    with pytest.raises(ValidationError) as caught:
        store.sql("SELECT * FROM nope")
    message = str(caught.value)
    assert "no table named nope" in message and "driver_stats" in message
    assert "pg_" not in message and "Catalog Error" not in message
