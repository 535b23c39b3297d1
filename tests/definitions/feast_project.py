"""A Feast-style project for the tests: a feature_store.yaml, a Parquet file, definitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

import featurestore as fs

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)


def stats_table(n: int, key_type: pa.DataType = pa.int64(), rate_shift: float = 0.0) -> pa.Table:
    return pa.table(
        {
            "event_timestamp": pa.array([T0 + timedelta(hours=i) for i in range(n)], pa.timestamp("ns", tz="UTC")),
            "driver_id": pa.array([1001 + i % 3 for i in range(n)]).cast(key_type),
            "raw_rate": pa.array([i / 10 + rate_shift for i in range(n)], pa.float32()),
            "created": pa.array([datetime(2024, 6, 1)] * n, pa.timestamp("us")),
            "meta": pa.array([{"vehicle": "truck", "rating": str(i)} for i in range(n)]),
            "profile": pa.array([{"name": f"d{i}", "age": str(20 + i)} for i in range(n)]),
            "unused": pa.array(range(n), pa.int64()),
        }
    )  # fmt: skip


SQLITE = "online_store:\n    type: sqlite\n    path: data/online_store.db\n"


def write_project(root: Path, project: str, online: str = SQLITE) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "feature_store.yaml").write_text(
        f"project: {project}\nregistry: data/registry.db\nprovider: local\n{online}"
        "entity_key_serialization_version: 3\nauth:\n    type: no_auth\n"
    )


def definitions(project: str) -> list[object]:
    driver = fs.Entity(name="driver", join_keys=["driver_id"])
    source = fs.FileSource(
        name="stats_source",
        path="data/stats.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
        field_mapping={"raw_rate": "conv_rate"},
    )
    view = fs.FeatureView(
        name="stats",
        entities=[driver],
        ttl=timedelta(days=30),
        schema=[
            fs.Field(name="conv_rate", dtype=fs.Float32),
            fs.Field(name="meta", dtype=fs.Map),
            fs.Field(name="profile", dtype=fs.Struct({"name": fs.String, "age": fs.String})),
        ],
        source=source,
        enable_validation=True,
        version="latest",
    )
    return [fs.Project(name=project, description="test"), driver, source, view]


def row_count(store: fs.FeatureStore, ref: str = "main") -> int:
    return int(store.sql("SELECT count(*) AS n FROM stats_source", ref=ref).column("n")[0].as_py())
