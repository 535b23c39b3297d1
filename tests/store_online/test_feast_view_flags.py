"""Feast's view arguments that change what is served: ``enabled`` and ``singleton``.

A real store (repository, DuckDB, Valkey) serves a view applied with ``enabled=False``
no features, and an on-demand view with ``singleton=True`` gives the same values
offline and online as its column-wise twin.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import featurestore as fs
from featurestore import Entity, FeatureView, Field, Float64, Int64, RequestSource, TableSource

NOW = datetime.now(UTC).replace(microsecond=0)
TS = pa.timestamp("us", tz="UTC")


def _definitions(enabled: bool) -> list[object]:
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
    source = TableSource(name="stats", timestamp_field="ts")
    stats = FeatureView(
        name="stats",
        entities=[driver],
        schema=[Field(name="rate", dtype=Float64)],
        source=source,
        enabled=enabled,
    )
    other = FeatureView(
        name="other",
        entities=[driver],
        schema=[Field(name="rate", dtype=Float64)],
        source=source,
    )
    request = RequestSource(name="req", schema=[Field(name="factor", dtype=Float64)])

    @fs.on_demand_feature_view(
        sources=[other, request],
        schema=[Field(name="scaled", dtype=Float64)],
        mode="python",
        singleton=True,
    )
    def per_row(row: dict[str, Any]) -> dict[str, Any]:
        return {"scaled": row["rate"] * row["factor"]}

    @fs.on_demand_feature_view(
        sources=[other, request],
        schema=[Field(name="scaled", dtype=Float64)],
        mode="python",
    )
    def per_column(columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {"scaled": [r * f for r, f in zip(columns["rate"], columns["factor"], strict=True)]}

    return [driver, source, stats, other, request, per_row, per_column]


@pytest.fixture
def store(new_store: Callable[..., fs.FeatureStore]) -> fs.FeatureStore:
    s = new_store()
    s.apply(_definitions(enabled=False))
    s.ingest(
        "stats",
        pa.table(
            {
                "driver_id": pa.array([1, 2], pa.int64()),
                "ts": pa.array([NOW - timedelta(hours=1)] * 2, TS),
                "rate": [0.5, 0.25],
            }
        ),
    )
    s.commit("rows")
    return s


def test_a_disabled_view_serves_nothing(store: fs.FeatureStore) -> None:
    entity_df = pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW]})
    with pytest.raises(fs.ValidationError, match="disabled"):
        store.get_historical_features(entity_df=entity_df, features=["stats:rate"])
    with pytest.raises(fs.ValidationError, match="disabled"):
        store.materialize(None, NOW, feature_views=["stats"])
    # materializing every view passes it over and serves the others
    results = store.materialize(None, NOW)
    assert sorted(r.view for r in results) == ["other"]
    with pytest.raises(fs.ValidationError, match="disabled"):
        store.get_online_features(["stats:rate"], {"driver_id": [1]})
    assert store.get_online_features(["other:rate"], {"driver_id": [1]}).to_dict()["rate"] == [0.5]
    # enabled again, it serves
    store.apply(_definitions(enabled=True))
    store.commit("enable")
    store.materialize(None, NOW, feature_views=["stats"])
    assert store.get_online_features(["stats:rate"], {"driver_id": [2]}).to_dict()["rate"] == [0.25]


def test_singleton_on_demand_views_equal_their_column_twin(store: fs.FeatureStore) -> None:
    store.materialize(None, NOW)
    rows = {"driver_id": [1, 2, 2], "factor": [2.0, 4.0, 0.5]}
    online = store.get_online_features(
        ["per_row:scaled", "per_column:scaled"], rows, full_feature_names=True
    ).to_dict()
    assert online["per_row__scaled"] == online["per_column__scaled"] == [1.0, 1.0, 0.125]
    entity_df = pd.DataFrame({**rows, "event_timestamp": [NOW] * 3})
    offline = store.get_historical_features(
        entity_df=entity_df,
        features=["per_row:scaled", "per_column:scaled"],
        full_feature_names=True,
    ).to_df()
    assert offline["per_row__scaled"].tolist() == online["per_row__scaled"]
    assert offline["per_column__scaled"].tolist() == online["per_column__scaled"]
