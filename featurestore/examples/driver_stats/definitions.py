"""Feast's classic driver example: hourly driver statistics, fresh pushes and an
on-demand feature that adds a value sent with the request."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from featurestore import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float32,
    Float64,
    Int64,
    PushSource,
    RequestSource,
    TableSource,
    on_demand_feature_view,
)

driver = Entity(
    name="driver", join_keys=["driver_id"], value_type=Int64, description="A driver, by id."
)

driver_stats_source = TableSource(
    name="driver_stats",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

# Fresh observations pushed by an application; kept in driver_stats_source's table.
driver_stats_push_source = PushSource(
    name="driver_stats_push_source",
    batch_source=driver_stats_source,
)

# Fed by the push source, as Feast's push-fed views are: a push updates it online, and
# training sets and materialization read the push source's table.
driver_hourly_stats = FeatureView(
    name="driver_hourly_stats",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int64),
    ],
    source=driver_stats_push_source,
    tags={"team": "driver_performance"},
)

vals_to_add = RequestSource(
    name="vals_to_add",
    schema=[Field(name="val_to_add", dtype=Int64)],
)


@on_demand_feature_view(
    sources=[driver_hourly_stats, vals_to_add],
    schema=[Field(name="conv_rate_plus_val", dtype=Float64)],
)
def conv_rate_plus_val(inputs: pd.DataFrame) -> pd.DataFrame:
    """The stored conversion rate plus the value sent with the request."""
    out = pd.DataFrame()
    out["conv_rate_plus_val"] = inputs["conv_rate"].astype("float64") + inputs["val_to_add"]
    return out


driver_activity = FeatureService(
    name="driver_activity",
    features=[driver_hourly_stats, conv_rate_plus_val],
)
