"""Engine.as_of_join against Feast 0.67's duckdb offline store on edge-case data.

Values must be identical; our rows come back in the entity frame's order (Feast's
do not, so its rows are matched by a row id carried as an extra entity column).
"""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from offline import AsOfSpec, Engine

feast = pytest.importorskip("feast")
from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig  # noqa: E402
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig  # noqa: E402
from feast.repo_config import RepoConfig  # noqa: E402

T0 = datetime(2024, 3, 1, tzinfo=UTC)
TTL = timedelta(hours=6)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _data(tmp: Path) -> tuple[str, str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    rows = []
    for d in range(1001, 1021):
        for _ in range(15):
            e = h(int(rng.integers(0, 48)))
            rows.append(
                (
                    d,
                    e,
                    e + timedelta(minutes=int(rng.integers(0, 30))),
                    int(rng.integers(0, 100)),
                    float(rng.random()),
                )
            )
    # ties on (driver, event): the later created row must win, whatever its position
    rows += [
        (1001, h(10), h(10) + timedelta(hours=2), 555, 0.555),
        (1001, h(10), h(10) + timedelta(hours=1), 444, 0.444),
    ]
    rows += [
        (1002, h(20), h(20), 1, 0.1),
        (1002, h(20), h(21), 2, 0.2),
        (1002, h(20), h(20.5), 3, 0.3),
    ]
    # rows exactly at t and at t - ttl for the entity rows below
    rows += [(1030, h(30), h(30), 30, 0.3), (1031, h(24), h(24), 31, 0.31)]
    drivers = pd.DataFrame(
        rows, columns=["driver_id", "event_timestamp", "created", "trips", "rate"]
    )
    drivers = drivers.sample(frac=1.0, random_state=3).reset_index(drop=True)
    cust = pd.DataFrame(
        {
            "customer_id": [f"c{i % 7}" for i in range(60)],
            "event_timestamp": [h(i * 0.8) for i in range(60)],  # no created column: no ties
            "spend": rng.random(60),
        }
    )
    dpath, cpath = tmp / "drivers.parquet", tmp / "customers.parquet"
    pq.write_table(pa.Table.from_pandas(drivers, preserve_index=False), dpath)
    pq.write_table(pa.Table.from_pandas(cust, preserve_index=False), cpath)

    ents = []
    for _ in range(300):
        ents.append(
            (
                int(rng.integers(1001, 1022)),
                f"c{int(rng.integers(0, 9))}",
                h(float(rng.integers(0, 60 * 50)) / 60),
            )
        )
    ents += [
        (1001, "c1", h(10)),
        (1001, "c1", h(10)),
        (1001, "c1", h(10)),  # duplicates, at a tie
        (1002, "c2", h(20)),
        (1002, "c2", h(21)),
        (1030, "c3", h(30)),  # a row exactly at t
        (1031, "c4", h(30)),  # a row exactly at t - ttl
        (1031, "c4", h(30) + timedelta(microseconds=1)),  # just outside the ttl
        (9999, "zz", h(20)),  # an entity with no data at all
        (1030, "c5", h(29)),  # a known entity with no row yet
    ]
    entity_df = pd.DataFrame(ents, columns=["driver_id", "customer_id", "event_timestamp"])
    entity_df["row_id"] = np.arange(len(entity_df))
    entity_df["label"] = np.arange(len(entity_df)) % 2 == 0
    return str(dpath), str(cpath), entity_df


def _feast_result(tmp: Path, dpath: str, cpath: str, entity_df: pd.DataFrame) -> pd.DataFrame:
    config = RepoConfig(
        project="parity",
        registry=str(tmp / "registry.db"),
        provider="local",
        offline_store=DuckDBOfflineStoreConfig(),
        online_store=SqliteOnlineStoreConfig(path=str(tmp / "online.db")),
        entity_key_serialization_version=3,
        repo_path=str(tmp),
    )
    store = feast.FeatureStore(config=config)
    driver = feast.Entity(name="driver", join_keys=["driver_id"], value_type=feast.ValueType.INT64)
    customer = feast.Entity(
        name="customer", join_keys=["customer_id"], value_type=feast.ValueType.STRING
    )
    dview = feast.FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=TTL,
        source=feast.FileSource(
            path=dpath, timestamp_field="event_timestamp", created_timestamp_column="created"
        ),
        schema=[
            feast.Field(name="trips", dtype=feast.types.Int64),
            feast.Field(name="rate", dtype=feast.types.Float64),
        ],
    )
    cview = feast.FeatureView(
        name="customer_stats",
        entities=[customer],
        ttl=timedelta(0),
        source=feast.FileSource(path=cpath, timestamp_field="event_timestamp"),
        schema=[feast.Field(name="spend", dtype=feast.types.Float64)],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.apply([driver, customer, dview, cview])
        job = store.get_historical_features(
            entity_df=entity_df,
            features=["driver_stats:trips", "driver_stats:rate", "customer_stats:spend"],
            full_feature_names=True,
        )
        return job.to_df()


def _ours(dpath: str, cpath: str, entity_df: pd.DataFrame, method: str) -> pa.Table:
    specs = [
        AsOfSpec(
            [dpath],
            {"driver_id": "driver_id"},
            "event_timestamp",
            {"driver_stats__trips": "trips", "driver_stats__rate": "rate"},
            created_ts="created",
            ttl=TTL,
        ),
        AsOfSpec(
            [cpath],
            {"customer_id": "customer_id"},
            "event_timestamp",
            {"customer_stats__spend": "spend"},
        ),
    ]
    with Engine(threads=2) as engine:
        ents = pa.Table.from_pandas(entity_df, preserve_index=False)
        return engine.as_of_join(ents, "event_timestamp", specs, method=method).read_all()  # type: ignore[arg-type]


def _norm(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    return v.item() if hasattr(v, "item") else v


@pytest.fixture(scope="module", params=["aware", "naive"])
def case(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pd.DataFrame, pd.DataFrame, str, str]:
    tmp = tmp_path_factory.mktemp(f"feast-{request.param}")
    dpath, cpath, entity_df = _data(tmp)
    if request.param == "naive":
        entity_df["event_timestamp"] = (
            entity_df["event_timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
        )
    feast_df = _feast_result(tmp, dpath, cpath, entity_df.copy())
    return entity_df, feast_df, dpath, cpath


FEATURES = ["driver_stats__trips", "driver_stats__rate", "customer_stats__spend"]


@pytest.mark.parametrize("method", ["duckdb", "polars"])
def test_values_match_feast_and_order_matches_entities(
    case: tuple[pd.DataFrame, pd.DataFrame, str, str], method: str
) -> None:
    entity_df, feast_df, dpath, cpath = case
    ours = _ours(dpath, cpath, entity_df, method)
    assert ours.column("row_id").to_pylist() == entity_df["row_id"].tolist()
    assert ours.column("label").to_pylist() == entity_df["label"].tolist()
    assert ours.column("driver_stats__trips").type == pa.int64()
    assert len(feast_df) == len(entity_df)
    theirs = feast_df.set_index("row_id").loc[entity_df["row_id"]]
    for col in FEATURES:
        got = [_norm(v) for v in ours.column(col).to_pylist()]
        expected = [_norm(v) for v in theirs[col].tolist()]
        expected = [int(v) if col.endswith("trips") and v is not None else v for v in expected]
        mismatches = [
            (i, g, e) for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e
        ]
        assert not mismatches, f"{col}: {mismatches[:5]}"


def test_edge_cases_hold(case: tuple[pd.DataFrame, pd.DataFrame, str, str]) -> None:
    entity_df, _, dpath, cpath = case
    tail = _ours(dpath, cpath, entity_df, "duckdb").column("driver_stats__trips").to_pylist()[-10:]
    # ties -> latest created; at t; at t - ttl; just outside ttl; unknown; none yet
    assert tail[:4] == [555, 555, 555, 2]
    assert tail[5:] == [30, 31, None, None, None]
