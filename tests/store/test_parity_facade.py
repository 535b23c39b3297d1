"""``FeatureStore.get_historical_features`` against Feast 0.67's duckdb offline store.

The same generated rows go into our repository (ingest, commit) and into Parquet files
for Feast. Values must be identical, our rows come back in the entity frame's order
(Feast's do not: its rows are matched by the ``row_id`` column carried along), and
integer features stay integers.
"""

from __future__ import annotations

import math
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import store_data
from store_defs import TTL

from tests.store.conftest import new_store

feast = pytest.importorskip("feast")
from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig  # noqa: E402
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig  # noqa: E402
from feast.repo_config import RepoConfig  # noqa: E402

REFS = ["driver_stats:trips", "driver_stats:rate", "customer_stats:spend"]
FULL = ["driver_stats__trips", "driver_stats__rate", "customer_stats__spend"]


def _feast(
    tmp: Path, drivers: pd.DataFrame, customers: pd.DataFrame, ents: pd.DataFrame
) -> pd.DataFrame:
    dpath, cpath = tmp / "drivers.parquet", tmp / "customers.parquet"
    drivers.to_parquet(dpath, index=False)
    customers.to_parquet(cpath, index=False)
    config = RepoConfig(
        project="parity",
        registry=str(tmp / "registry.db"),
        provider="local",
        offline_store=DuckDBOfflineStoreConfig(),
        online_store=SqliteOnlineStoreConfig(path=str(tmp / "online.db")),
        entity_key_serialization_version=3,
        repo_path=str(tmp),
    )
    store = feast.FeatureStore(config=config)
    driver = feast.Entity(name="driver", join_keys=["driver_id"], value_type=feast.ValueType.INT64)
    customer = feast.Entity(
        name="customer", join_keys=["customer_id"], value_type=feast.ValueType.STRING
    )
    dview = feast.FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=TTL,
        source=feast.FileSource(
            path=str(dpath), timestamp_field="event_timestamp", created_timestamp_column="created"
        ),
        schema=[
            feast.Field(name="trips", dtype=feast.types.Int64),
            feast.Field(name="rate", dtype=feast.types.Float64),
        ],
    )
    cview = feast.FeatureView(
        name="customer_stats",
        entities=[customer],
        ttl=timedelta(0),  # Feast's "no ttl"
        source=feast.FileSource(path=str(cpath), timestamp_field="event_timestamp"),
        schema=[feast.Field(name="spend", dtype=feast.types.Float64)],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.apply([driver, customer, dview, cview])
        return store.get_historical_features(
            entity_df=ents, features=REFS, full_feature_names=True
        ).to_df()


def _norm(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


@pytest.fixture(scope="module", params=["aware", "naive"])
def case(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pd.DataFrame, pd.DataFrame, pa.Table, pa.Table]:
    """Entity rows, Feast's result, and ours with and without full feature names."""
    tmp = tmp_path_factory.mktemp(f"facade-{request.param}")
    drivers, customers = store_data.driver_rows(), store_data.customer_rows()
    ents = store_data.entity_frame()
    if request.param == "naive":
        ents["event_timestamp"] = ents["event_timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
        # feature rows with naive times too: read as UTC on ingest
        drivers = drivers.assign(
            event_timestamp=drivers["event_timestamp"].dt.tz_localize(None),
            created=drivers["created"].dt.tz_localize(None),
        )
    theirs = _feast(tmp, drivers, customers, ents.copy())
    store = new_store(tmp / "repo")
    try:
        store.ingest("driver_stats", drivers)
        store.ingest("customer_stats", customers)
        store.commit("feature rows")
        full = store.get_historical_features(ents, REFS, full_feature_names=True).to_arrow()
        short = store.get_historical_features(ents, REFS).to_arrow()
    finally:
        store.close()
    return ents, theirs, full, short


def test_values_equal_feast_and_rows_keep_entity_order(
    case: tuple[pd.DataFrame, pd.DataFrame, pa.Table, pa.Table],
) -> None:
    ents, theirs, ours, _ = case
    assert len(theirs) == len(ents)
    assert ours.column("row_id").to_pylist() == ents["row_id"].tolist()
    assert ours.column("label").to_pylist() == ents["label"].tolist()
    assert ours.column("driver_id").to_pylist() == ents["driver_id"].tolist()
    expected = theirs.set_index("row_id").loc[ents["row_id"]]
    for col in FULL:
        got = [_norm(v) for v in ours.column(col).to_pylist()]
        want = [_norm(v) for v in expected[col].tolist()]
        if col.endswith("trips"):
            # Feast turns a column with nulls into float64; compare away from 2**53
            got = [None if g is None or g > 2**52 else g for g in got]
            want = [None if w is None or w > 2**52 else int(w) for w in want]
        bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
        assert not bad, f"{col}: {bad[:5]}"


def test_full_and_short_names_hold_the_same_values(
    case: tuple[pd.DataFrame, pd.DataFrame, pa.Table, pa.Table],
) -> None:
    ents, _, full, short = case
    extra = list(ents.columns)
    assert full.column_names == [*extra, *FULL]
    assert short.column_names == [*extra, "trips", "rate", "spend"]
    for f, s in zip(FULL, ["trips", "rate", "spend"], strict=True):
        assert full.column(f).equals(short.column(s))


def test_integers_stay_integers_and_edge_cases_hold(
    case: tuple[pd.DataFrame, pd.DataFrame, pa.Table, pa.Table],
) -> None:
    ents, _, ours, _ = case
    assert ours.schema.field("driver_stats__trips").type == pa.int64()
    assert ours.schema.field("driver_stats__rate").type == pa.float64()
    assert ours.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    n = len(store_data.EDGE_ROWS)
    assert ours.column("driver_stats__trips").to_pylist()[-n:] == store_data.EDGE_TRIPS
    # pandas keeps them integers too (nullable), never float
    frame = ours.slice(len(ents) - n).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    assert str(frame["driver_stats__trips"].dtype) == "Int64"
