"""The same lookup answered by Feast 0.67's feature server and by ours, on the same data
and the same Redis server (a different key space)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.server.conftest import NOW, Served

FEATURES = [
    "driver_hourly_stats:conv_rate",
    "driver_hourly_stats:acc_rate",
    "driver_hourly_stats:avg_daily_trips",
]


@pytest.fixture(scope="module")
def feast_client(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, data: pa.Table
) -> Iterator[Any]:
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource
    from feast import FeatureStore as FeastStore
    from feast.feature_server import get_app
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.repo_config import RepoConfig
    from feast.types import Float32, Float64, Int64
    from feast.value_type import ValueType
    from starlette.testclient import TestClient

    root: Path = tmp_path_factory.mktemp("feast")
    pq.write_table(data, root / "driver_stats.parquet")
    url = urlparse(redis_url)
    config = RepoConfig(
        project="feast_parity",
        provider="local",
        registry=str(root / "registry.db"),
        online_store={"type": "redis", "connection_string": f"{url.hostname}:{url.port}"},
        offline_store={"type": "duckdb"},
        entity_key_serialization_version=3,
    )
    store = FeastStore(config=config)
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    source = FileSource(
        name="driver_stats",
        path=str(root / "driver_stats.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
    view = FeatureView(
        name="driver_hourly_stats",
        entities=[driver],
        ttl=timedelta(days=1),
        schema=[
            Field(name="conv_rate", dtype=Float32),
            Field(name="acc_rate", dtype=Float32),
            Field(name="avg_daily_trips", dtype=Int64),
        ],
        source=source,
    )
    request = RequestSource(name="vals_to_add", schema=[Field(name="val_to_add", dtype=Int64)])

    @on_demand_feature_view(
        sources=[view, request], schema=[Field(name="conv_rate_plus_val", dtype=Float64)]
    )
    def conv_rate_plus_val(inputs: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame()
        out["conv_rate_plus_val"] = inputs["conv_rate"].astype("float64") + inputs["val_to_add"]
        return out

    service = FeatureService(name="driver_activity", features=[view, conv_rate_plus_val])
    store.apply([driver, view, request, conv_rate_plus_val, service])
    store.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1))
    with TestClient(get_app(store), raise_server_exceptions=False) as client:
        yield client


def _same(ours: Any, theirs: Any) -> None:
    if isinstance(theirs, float) and isinstance(ours, float):
        assert math.isclose(ours, theirs, rel_tol=1e-9), (ours, theirs)
    else:
        assert ours == theirs


@pytest.mark.parametrize(
    "body",
    [
        {"features": FEATURES, "entities": {"driver_id": [1001, 1005, 1020]}},
        {
            "features": FEATURES[:2],
            "entities": {"driver_id": [1002, 1002]},
            "full_feature_names": True,
        },
        {
            "feature_service": "driver_activity",
            "entities": {"driver_id": [1003, 1007], "val_to_add": [1, 2]},
        },
        {
            "feature_service": "driver_activity",
            "entities": {"driver_id": [1004], "val_to_add": [3]},
            "include_feature_view_version_metadata": True,
        },
        {
            "features": FEATURES[:1],
            "entities": {"driver_id": [1005]},
            "include_feature_view_version_metadata": True,
        },
    ],
)
def test_same_answer_as_feast(served: Served, feast_client: Any, body: dict[str, Any]) -> None:
    theirs = feast_client.post("/get-online-features", json=body)
    with served.client() as http:
        ours = http.post("/get-online-features", json=body)
    assert theirs.status_code == ours.status_code == 200, (theirs.text, ours.text)
    t, o = theirs.json(), ours.json()
    # Feast orders features through a set (hash order varies by process); we keep the
    # request's order, so compare by name.
    their_names, our_names = t["metadata"]["feature_names"], o["metadata"]["feature_names"]
    assert sorted(our_names) == sorted(their_names)
    assert our_names[0] == their_names[0] == "driver_id"
    assert o["metadata"].get("feature_view_metadata") == t["metadata"].get("feature_view_metadata")
    theirs_by_name = dict(zip(their_names, t["results"], strict=True))
    for name, ours_col in zip(our_names, o["results"], strict=True):
        their_col = theirs_by_name[name]
        assert set(ours_col) == set(their_col)
        for a, b in zip(ours_col["values"], their_col["values"], strict=True):
            _same(a, b)
        assert ours_col["statuses"] == their_col["statuses"]
        assert ours_col["event_timestamps"] == their_col["event_timestamps"]


def test_unknown_entity_differs_from_feast_only_in_status(
    served: Served, feast_client: Any
) -> None:
    body = {"features": FEATURES[:1], "entities": {"driver_id": [99999]}}
    t = feast_client.post("/get-online-features", json=body).json()
    with served.client() as http:
        o = http.post("/get-online-features", json=body).json()
    assert t["metadata"] == o["metadata"]
    assert o["results"][1]["values"] == t["results"][1]["values"] == [None]
    assert o["results"][1]["event_timestamps"] == t["results"][1]["event_timestamps"]
    # Feast 0.67 with Redis reports PRESENT for a key it never stored; we say so.
    assert t["results"][1]["statuses"] == ["PRESENT"]
    assert o["results"][1]["statuses"] == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/get-online-features",
            {
                "features": ["nope:conv_rate"],
                "entities": {"driver_id": [1001]},
                "include_feature_view_version_metadata": False,
            },
        ),
        (
            "/get-online-features",
            {
                "feature_service": "nope",
                "entities": {"driver_id": [1001]},
                "include_feature_view_version_metadata": False,
            },
        ),
        (
            "/push",
            {
                "push_source_name": "nope",
                "df": {"driver_id": [1001]},
                "allow_registry_cache": True,
                "to": "online",
            },
        ),
    ],
)
def test_unknown_names_are_feasts_errors(
    served: Served, feast_client: Any, path: str, body: dict[str, Any]
) -> None:
    import json

    theirs = feast_client.post(path, json=body)
    with served.client() as http:
        ours = http.post(path, json=body)
    assert theirs.status_code >= 400 and ours.status_code >= 400, (theirs.text, ours.text)
    t, o = json.loads(theirs.json()), json.loads(ours.json())
    assert (o["module"], o["class"]) == (t["module"], t["class"]), (t, o)
    assert "nope" in o["message"]
