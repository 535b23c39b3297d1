"""A store with ``offline_store: {type: spark}`` answers as the DuckDB store does: the
same training set, the same online values after materialization (written from Spark's
executors), and a compaction that changes no row."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import s3fs
import yaml

import featurestore as fs
from featurestore import Aggregation, Entity, FeatureView, Field, Float64, Int64, TableSource
from featurestore.config import SparkOfflineConfig, load_config
from offline._spark import SparkEngine
from tests.conftest import drop_prefix
from tests.s3_server import S3Server
from tests.store_online.data import TS, TTL, time_t
from tests.store_online.defs import definitions

pytestmark = pytest.mark.spark

FEATURES = ["stats:conv_rate", "stats:acc_rate", "stats:trips", "stats:city"]
WINDOWED = [f"trip_windows:trips_{f}_1h" for f in ("count", "sum", "max", "last")]
DRIVERS = list(range(1, 10))  # 9 never has rows


def _rows(t: datetime, n: int = 400) -> pa.Table:
    """Rows around ``t`` for drivers 1..8: a tenth repeat a (driver, event time) with a
    later created time, some sit exactly on the ttl edges."""
    rnd = random.Random(12)
    events: list[datetime] = []
    drivers: list[int] = []
    for i in range(n):
        if i and rnd.random() < 0.1:
            drivers.append(drivers[-1])
            events.append(events[-1])
        else:
            drivers.append(rnd.randint(1, 8))
            offset = rnd.choice([timedelta(0), TTL, TTL + timedelta(microseconds=1)])
            if rnd.random() < 0.7:
                offset = timedelta(seconds=rnd.randint(-600, 3 * 3600))
            events.append(t - offset)
    return pa.table(
        {
            "driver_id": pa.array(drivers, pa.int64()),
            "event_ts": pa.array(events, TS),
            "created": pa.array([e + timedelta(seconds=i) for i, e in enumerate(events)], TS),
            "conv_rate": pa.array([rnd.random() for _ in range(n)], pa.float32()),
            "acc_rate": pa.array([None if i % 7 == 0 else rnd.random() for i in range(n)]),
            "trips": pa.array([None if i % 11 == 0 else rnd.randint(-9, 2**40) for i in range(n)]),
            "city": pa.array([rnd.choice(["a", "bé", None]) for _ in range(n)], pa.string()),
        }
    )


def _windowed_view() -> list[object]:
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
    source = TableSource(
        name="trips_src", timestamp_field="event_ts", created_timestamp_column="created"
    )
    view = FeatureView(
        name="trip_windows",
        entities=[driver],
        source=source,
        schema=[Field(name="trips", dtype=Int64), Field(name="acc_rate", dtype=Float64)],
        aggregations=[
            Aggregation(column="trips", function=f, time_window=timedelta(hours=1))
            for f in ("count", "sum", "max", "last")
        ],
        ttl=timedelta(hours=2),
    )
    return [source, view]


def _project(folder: Path, redis_url: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The project's config: its repository in a local folder, or on SeaweedFS (``s3``)."""
    config: dict[str, Any] = {
        "project": f"p{uuid.uuid4().hex[:12]}",
        "storage": "data",
        "online_store": {"url": redis_url},
    }
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("seaweedfs_server")
        config["storage"] = server.fresh_url()
        config["storage_options"] = server.options()
        config["metadata_url"] = f"sqlite:///{folder / 'repos.sqlite'}"
        request.addfinalizer(lambda: _remove(server, config["storage"]))
    return config


def _remove(server: S3Server, url: str) -> None:
    fs = s3fs.S3FileSystem(
        key=server.key,
        secret=server.secret,
        client_kwargs={"endpoint_url": server.endpoint_url},
        skip_instance_cache=True,
    )
    if fs.exists(url):
        fs.rm(url, recursive=True)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.slow)])
def stores(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_url: str,
    spark_session: object,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[fs.FeatureStore, fs.FeatureStore]]:
    """One project read by two stores: DuckDB's and Spark's, each with its own online keys;
    its repository in a local folder, or on SeaweedFS (Spark then reads through its Python
    workers)."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    project = _project(tmp_path, redis_url, request)
    (tmp_path / "featurestore.yaml").write_text(yaml.safe_dump(project))
    duck = fs.FeatureStore.init(tmp_path, exist_ok=True)
    spark_prefix = f"{project['project']}s"
    config = duck.config.model_copy(
        update={
            "offline_store": SparkOfflineConfig(type="spark", master="local[2]"),
            "online_store": duck.config.online_store.model_copy(
                update={"key_prefix": spark_prefix}
            ),
        }
    )
    spark = fs.FeatureStore(tmp_path, config=config)
    try:
        yield duck, spark
    finally:
        duck.close()
        spark.close()
        drop_prefix(redis_url, project["project"])
        drop_prefix(redis_url, spark_prefix)


def _load(store: fs.FeatureStore) -> tuple[str, datetime]:
    t = time_t()
    store.apply([*definitions(ttl=TTL), *_windowed_view()])
    rows = _rows(t)
    store.ingest("stats_src", rows.slice(0, 250))
    store.commit("first rows")
    store.ingest("stats_src", rows.slice(250))
    store.ingest(
        "trips_src", rows.select(["driver_id", "event_ts", "created", "trips", "acc_rate"])
    )
    return store.commit("more rows").id, t


def test_config_names_the_engine(
    stores: tuple[fs.FeatureStore, fs.FeatureStore], tmp_path: Path
) -> None:
    duck, spark = stores
    assert type(duck.engine).__name__ == "Engine"
    assert type(spark.engine).__name__ == "SparkEngine"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "featurestore.yaml").write_text(
        yaml.safe_dump({"project": "p", "offline_store": {"type": "spark", "join": "hash"}})
    )
    with pytest.raises(fs.ConfigError, match=r"offline_store\.spark\.join"):
        load_config(bad)


def test_training_set_equals_duckdb(stores: tuple[fs.FeatureStore, fs.FeatureStore]) -> None:
    duck, spark = stores
    commit, t = _load(duck)
    times = [t - timedelta(minutes=m) for m in (0, 0, 30, 61, 200)]
    entity_df = pa.table(
        {
            "label": [f"r{i}" for i in range(len(DRIVERS) * len(times))],
            "driver_id": [d for d in DRIVERS for _ in times],
            "event_ts": pa.array([x for _ in DRIVERS for x in times], TS),
        }
    )
    engine = spark.engine
    assert isinstance(engine, SparkEngine) and not engine.started  # starts on first use
    for refs in (FEATURES, WINDOWED):
        ours = spark.get_historical_features(entity_df, refs, ref=commit).to_arrow()
        theirs = duck.get_historical_features(entity_df, refs, ref=commit).to_arrow()
        assert ours.equals(theirs)
        assert ours.column("label").to_pylist() == entity_df.column("label").to_pylist()
    assert engine.started
    found = ours.column("trips_count_1h").to_pylist()
    assert ours.column("trips_count_1h").type == pa.int64() and any(found)


def test_materialize_equals_duckdb(stores: tuple[fs.FeatureStore, fs.FeatureStore]) -> None:
    duck, spark = stores
    _, t = _load(duck)
    ours = {r.view: (r.rows_written, r.rows_stale) for r in spark.materialize(None, t)}
    theirs = {r.view: (r.rows_written, r.rows_stale) for r in duck.materialize(None, t)}
    assert ours == theirs
    assert ours["stats"][0] == 8
    for refs in (FEATURES, WINDOWED):
        a = spark.get_online_features(refs, {"driver_id": DRIVERS}, now=t).to_dict()
        b = duck.get_online_features(refs, {"driver_id": DRIVERS}, now=t).to_dict()
        assert a == b
    assert any(v is not None for v in a["trips_sum_1h"])


def test_compaction_on_spark_changes_no_row(
    stores: tuple[fs.FeatureStore, fs.FeatureStore],
) -> None:
    duck, spark = stores
    commit, _ = _load(duck)
    query = "SELECT * FROM stats_src ORDER BY driver_id, event_ts, created"
    before = duck.sql(query, ref=commit)
    compacted = spark.compact("stats_src")
    assert compacted is not None
    parts = spark.tables.files(compacted.id, "stats_src")
    assert len(parts) == 1
    assert spark.sql(query, ref=compacted.id).equals(before)
