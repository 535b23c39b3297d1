"""Definitions for the online facade tests: driver stats with a ttl chosen per test."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from featurestore import (
    Entity,
    FeatureView,
    Field,
    Float32,
    Float64,
    Int64,
    OnDemandFeatureView,
    PushSource,
    RequestSource,
    String,
    TableSource,
    on_demand_feature_view,
)

FEATURES = ["stats:conv_rate", "stats:acc_rate", "stats:trips"]


def definitions(ttl: timedelta | None = timedelta(hours=1), extra_views: int = 0) -> list[object]:
    """Entity ``driver``, view ``stats`` (conv_rate, acc_rate, trips) fed by a push source,
    an on-demand view ``plus_val`` needing request data, and ``extra_views`` more views
    ``extra{i}`` of ten features each over their own tables."""
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
    source = TableSource(
        name="stats_src", timestamp_field="event_ts", created_timestamp_column="created"
    )
    push = PushSource(name="stats_push", batch_source=source)
    stats = FeatureView(
        name="stats",
        entities=[driver],
        ttl=ttl,
        schema=[
            Field(name="conv_rate", dtype=Float32),
            Field(name="acc_rate", dtype=Float64),
            Field(name="trips", dtype=Int64),
            Field(name="city", dtype=String),
        ],
        source=push,
    )
    request = RequestSource(name="req", schema=[Field(name="val", dtype=Int64)])

    @on_demand_feature_view(
        sources=[stats, request], schema=[Field(name="conv_plus_val", dtype=Float64)]
    )
    def plus_val(inputs: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame()
        out["conv_plus_val"] = inputs["conv_rate"].astype("float64") + inputs["val"]
        return out

    objects: list[object] = [driver, source, stats, push, request, plus_val]
    for i in range(extra_views):
        src = TableSource(name=f"extra{i}_src", timestamp_field="event_ts")
        objects += [
            src,
            FeatureView(
                name=f"extra{i}",
                entities=[driver],
                ttl=None,
                schema=[Field(name=f"x{i}_{j}", dtype=Float64) for j in range(10)],
                source=src,
            ),
        ]
    assert isinstance(plus_val, OnDemandFeatureView)
    return objects
