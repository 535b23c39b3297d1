"""The tensor tests' project: a driver view with a feature of each numeric type, its rows
and entity rows with labels."""

from __future__ import annotations

import pandas as pd

from featurestore import (
    Bool,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    TableSource,
    UnixTimestamp,
)

T0 = pd.Timestamp("2025-01-01", tz="UTC")
DRIVERS = 50

driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
source = TableSource(name="stats", timestamp_field="event_timestamp")
stats = FeatureView(
    name="stats",
    entities=[driver],
    schema=[
        Field(name="trips", dtype=Int64),
        Field(name="rate", dtype=Float64),
        Field(name="small", dtype=Int32),
        Field(name="score", dtype=Float32),
        Field(name="active", dtype=Bool),
        Field(name="seen", dtype=UnixTimestamp),
        Field(name="city", dtype=String),
    ],
    source=source,
)
# declared order differs from the schema's: conversions follow the service
service = FeatureService(name="model_v1", features=[stats[["rate", "trips", "active", "small"]]])


def stats_rows() -> pd.DataFrame:
    """One row per driver a day before T0; every 5th driver's rate and trips are null."""
    ids = list(range(1, DRIVERS + 1))
    return pd.DataFrame(
        {
            "driver_id": ids,
            "event_timestamp": [T0 - pd.Timedelta(days=1)] * DRIVERS,
            "trips": pd.array([None if i % 5 == 0 else 2**40 + i for i in ids], "Int64"),
            "rate": [None if i % 5 == 0 else i / 8 for i in ids],
            "small": pd.array(ids, "int32"),
            "score": pd.array([i / 4 for i in ids], "float32"),
            "active": [i % 2 == 0 for i in ids],
            "seen": [T0 - pd.Timedelta(microseconds=i) for i in ids],
            "city": [f"c{i % 3}" for i in ids],
        }
    )


def entity_rows(n: int) -> pd.DataFrame:
    """``n`` entity rows over the drivers (and one unknown driver: all nulls), with labels."""
    return pd.DataFrame(
        {
            "driver_id": [(i % (DRIVERS + 1)) + 1 for i in range(n)],
            "event_timestamp": [T0] * n,
            "row_id": list(range(n)),
            "label": [float(i % 2) for i in range(n)],
        }
    )
