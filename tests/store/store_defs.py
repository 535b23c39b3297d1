"""Definitions shared by the facade tests: two views on different entities, a windowed
view and an on-demand view over the driver view and request data."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from featurestore import (
    Aggregation,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float64,
    Int64,
    RequestSource,
    String,
    TableSource,
    on_demand_feature_view,
)

TTL = timedelta(hours=6)
WINDOWS = (timedelta(hours=1), timedelta(hours=6), timedelta(days=1))
AGG_FUNCTIONS = ("count", "sum", "mean", "min", "max", "stddev", "last")

driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
customer = Entity(name="customer", join_keys=["customer_id"], value_type=String)

driver_source = TableSource(
    name="driver_stats", timestamp_field="event_timestamp", created_timestamp_column="created"
)
customer_source = TableSource(name="customer_stats", timestamp_field="event_timestamp")
trips_source = TableSource(name="trips", timestamp_field="event_timestamp")

driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=TTL,
    schema=[Field(name="trips", dtype=Int64), Field(name="rate", dtype=Float64)],
    source=driver_source,
)
customer_stats = FeatureView(
    name="customer_stats",
    entities=[customer],
    schema=[Field(name="spend", dtype=Float64)],
    source=customer_source,
)
driver_trips = FeatureView(
    name="driver_trips",
    entities=[driver],
    source=trips_source,
    schema=[Field(name="fare", dtype=Float64), Field(name="distance", dtype=Int64)],
    aggregations=[
        *(
            Aggregation(column="fare", function=fn, time_window=w)
            for w in WINDOWS
            for fn in AGG_FUNCTIONS
        ),
        *(
            Aggregation(column="distance", function=fn, time_window=WINDOWS[1])
            for fn in ("sum", "max")
        ),
    ],
)

bonus = RequestSource(name="bonus", schema=[Field(name="bonus", dtype=Float64)])


@on_demand_feature_view(
    sources=[driver_stats, bonus],
    schema=[Field(name="rate_plus_bonus", dtype=Float64), Field(name="trips_x2", dtype=Int64)],
)
def driver_extras(inputs: pd.DataFrame) -> pd.DataFrame:
    """The stored rate plus the request's bonus, and twice the trips."""
    out = pd.DataFrame(index=inputs.index)
    out["rate_plus_bonus"] = inputs["rate"].astype("float64") + inputs["bonus"].astype("float64")
    out["trips_x2"] = inputs["trips"] * 2
    return out


driver_service = FeatureService(name="driver_service", features=[driver_stats, driver_extras])

ALL = [
    driver,
    customer,
    driver_source,
    customer_source,
    trips_source,
    driver_stats,
    customer_stats,
    driver_trips,
    bonus,
    driver_extras,
    driver_service,
]
