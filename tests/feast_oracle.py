"""Feast 0.67's duckdb offline store as the reference for point-in-time joins.

The parity tests build the same two views Feast's way (``driver_stats`` with a created
column and a ttl, ``customer_stats`` with no ttl) over Parquet files and compare its
``get_historical_features`` with ours. Feast's rows come back in no fixed order, so they are
matched by a ``row_id`` column carried in the entity frame. Import after
``pytest.importorskip("feast")``.
"""

from __future__ import annotations

import math
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import feast
import pandas as pd
import pyarrow as pa
from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from feast.repo_config import RepoConfig

REFS = ["driver_stats:trips", "driver_stats:rate", "customer_stats:spend"]
FULL_NAMES = ["driver_stats__trips", "driver_stats__rate", "customer_stats__spend"]


def local_feast_store(tmp: Path, project: str) -> feast.FeatureStore:
    """A Feast store on its duckdb offline store, keeping its registry and online store in ``tmp``."""
    config = RepoConfig(
        project=project,
        registry=str(tmp / "registry.db"),
        provider="local",
        offline_store=DuckDBOfflineStoreConfig(),
        online_store=SqliteOnlineStoreConfig(path=str(tmp / "online.db")),
        entity_key_serialization_version=3,
        repo_path=str(tmp),
    )
    return feast.FeatureStore(config=config)


def feast_historical_features(
    tmp: Path,
    drivers: Path,
    customers: Path,
    entity_df: pd.DataFrame,
    *,
    driver_ttl: timedelta,
    filter_by_created_timestamp: bool = False,
) -> pd.DataFrame:
    """Feast's training frame for ``REFS`` with full feature names.

    ``drivers`` holds driver_id, event_timestamp, created, trips, rate; ``customers`` holds
    customer_id, event_timestamp, spend. Feast keeps its registry and online store in ``tmp``.
    """
    store = local_feast_store(tmp, "parity")
    driver = feast.Entity(name="driver", join_keys=["driver_id"], value_type=feast.ValueType.INT64)
    customer = feast.Entity(
        name="customer", join_keys=["customer_id"], value_type=feast.ValueType.STRING
    )
    dview = feast.FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=driver_ttl,
        source=feast.FileSource(
            path=str(drivers), timestamp_field="event_timestamp", created_timestamp_column="created"
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
        source=feast.FileSource(path=str(customers), timestamp_field="event_timestamp"),
        schema=[feast.Field(name="spend", dtype=feast.types.Float64)],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.apply([driver, customer, dview, cview])
        job = store.get_historical_features(
            entity_df=entity_df,
            features=REFS,
            full_feature_names=True,
            filter_by_created_timestamp=filter_by_created_timestamp,
        )
        frame: pd.DataFrame = job.to_df()
        return frame


def plain_value(v: Any) -> Any:
    """A plain Python value; None for every missing marker (None, NaN, ``pd.NA``)."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def mismatches(
    ours: pa.Table, theirs: pd.DataFrame, row_ids: list[int], column: str
) -> list[tuple[int, Any, Any]]:
    """(position, ours, Feast's) wherever ``column`` differs, Feast's rows put in ``row_ids``
    order. Feast turns an integer column with nulls into float64, so trips are compared as
    integers and values above 2**52 (which that detour cannot hold) are left out."""
    got = [plain_value(v) for v in ours.column(column).to_pylist()]
    want = [plain_value(v) for v in theirs.set_index("row_id").loc[row_ids][column].tolist()]
    if column.endswith("trips"):
        got = [None if g is None or g > 2**52 else g for g in got]
        want = [None if w is None or w > 2**52 else int(w) for w in want]
    return [(i, g, w) for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
