"""``FeatureStore.get_historical_features`` against Feast 0.67's duckdb offline store.

The same generated rows go into our repository (ingest, commit) and into Parquet files
for Feast. Values must be identical, our rows come back in the entity frame's order
(Feast's do not: its rows are matched by the ``row_id`` column carried along), and
integer features stay integers.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
import store_data
from store_defs import TTL

from tests.store.conftest import new_store

pytest.importorskip("feast")
from tests.feast_oracle import FULL_NAMES, REFS, feast_historical_features, mismatches


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
    dpath, cpath = tmp / "drivers.parquet", tmp / "customers.parquet"
    drivers.to_parquet(dpath, index=False)
    customers.to_parquet(cpath, index=False)
    theirs = feast_historical_features(tmp, dpath, cpath, ents.copy(), driver_ttl=TTL)
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
    for col in FULL_NAMES:
        bad = mismatches(ours, theirs, ents["row_id"].tolist(), col)
        assert not bad, f"{col}: {bad[:5]}"


def test_full_and_short_names_hold_the_same_values(
    case: tuple[pd.DataFrame, pd.DataFrame, pa.Table, pa.Table],
) -> None:
    ents, _, full, short = case
    extra = list(ents.columns)
    assert full.column_names == [*extra, *FULL_NAMES]
    assert short.column_names == [*extra, "trips", "rate", "spend"]
    for f, s in zip(FULL_NAMES, ["trips", "rate", "spend"], strict=True):
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
