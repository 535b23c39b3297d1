"""A small, complete set of definitions shared by the definition tests (imported by them)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from featurestore.definitions import (
    Aggregation,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    PushSource,
    RequestSource,
    TableSource,
    on_demand_feature_view,
)
from featurestore.types import Array, Float32, Float64, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
customer = Entity(name="customer", join_keys=["customer_id"])
stats_source = TableSource(
    name="driver_stats", timestamp_field="event_timestamp", created_timestamp_column="created"
)
trips_source = TableSource(name="trips", timestamp_field="ts", table="raw/trips")
push = PushSource(name="driver_push", batch_source=stats_source)
request = RequestSource(name="req", schema=[Field(name="val_to_add", dtype=Int64)])

stats = FeatureView(
    name="driver_hourly_stats",
    entities=[driver],
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int64),
        Field(name="tags_seen", dtype=Array(String)),
    ],
    source=stats_source,
    ttl=timedelta(days=1),
    tags={"team": "drivers"},
)
trips = FeatureView(
    name="trips_agg",
    entities=[driver, customer],
    schema=[Field(name="amount", dtype=Float64), Field(name="distance", dtype=Int64)],
    source=trips_source,
    aggregations=[
        Aggregation(column="amount", function="sum", time_window=timedelta(hours=1)),
        Aggregation(column="distance", function="count", time_window=timedelta(days=7)),
        Aggregation(column="distance", function="max", time_window=timedelta(minutes=90)),
    ],
)


@on_demand_feature_view(
    sources=[stats[["conv_rate"]], request],
    schema=[Field(name="conv_plus_val", dtype=Float64)],
)
def conv_plus_val(inputs: pd.DataFrame) -> pd.DataFrame:
    """conv_rate plus the request value."""
    out = pd.DataFrame()
    out["conv_plus_val"] = inputs["conv_rate"].astype("float64") + inputs["val_to_add"]
    return out


service = FeatureService(
    name="driver_activity", features=[stats[["conv_rate", "acc_rate"]], conv_plus_val]
)

ALL: list[object] = [driver, customer, stats, trips, push, request, conv_plus_val, service]
