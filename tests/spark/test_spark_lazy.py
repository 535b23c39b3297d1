"""A store with ``type: spark`` starts Spark only for work that needs it: lookups, registry
reads and ``sql`` (DuckDB's sandbox) in a fresh process leave no SparkContext and no JVM."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

import featurestore as fs
from featurestore.config import DuckDBOfflineConfig
from offline._spark import SparkEngine
from tests.conftest import drop_prefix
from tests.store_online.data import TS, TTL, time_t
from tests.store_online.defs import definitions

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import json, sys
import featurestore as fs
from pyspark import SparkContext

store = fs.FeatureStore(sys.argv[1])
views = [v.name for v in store.list_feature_views()]
rows = store.sql("SELECT count(*) AS n FROM stats_src").column("n").to_pylist()
online = store.get_online_features(["stats:trips"], {"driver_id": [1, 2, 3]}).to_dict()
engine = type(store.engine).__name__
print(json.dumps({
    "views": views, "rows": rows, "trips": online["trips"], "engine": engine,
    "started": store.engine.started, "context": SparkContext._active_spark_context is not None,
    "jvm": SparkContext._gateway is not None,
}))
store.close()
"""


def test_lookups_registry_and_sql_start_no_spark(
    tmp_path: Path, redis_url: str, spark_session: object
) -> None:
    project = f"p{uuid.uuid4().hex[:12]}"
    config = {
        "project": project,
        "storage": "data",
        "online_store": {"url": redis_url},
        "offline_store": {"type": "spark", "master": "local[1]"},
    }
    (tmp_path / "featurestore.yaml").write_text(yaml.safe_dump(config))
    spark = fs.FeatureStore.init(tmp_path, exist_ok=True)
    duck = fs.FeatureStore(
        tmp_path,
        config=spark.config.model_copy(update={"offline_store": DuckDBOfflineConfig()}),
    )
    try:
        t = time_t()
        duck.apply(definitions(ttl=TTL))
        duck.ingest(
            "stats_src",
            pa.table(
                {
                    "driver_id": pa.array([1, 2], pa.int64()),
                    "event_ts": pa.array([t, t], TS),
                    "created": pa.array([t, t], TS),
                    "conv_rate": pa.array([0.5, 0.25], pa.float32()),
                    "acc_rate": [0.1, 0.2],
                    "trips": pa.array([7, 11], pa.int64()),
                    "city": ["a", "b"],
                }
            ),
        )
        duck.commit("rows")
        duck.materialize(None, t)
        engine = spark.engine
        assert isinstance(engine, SparkEngine)
        assert not engine.started  # in this process too: opened, not started
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        got = json.loads(done.stdout.strip().splitlines()[-1])
        assert got["engine"] == "SparkEngine" and "stats" in got["views"]
        assert got["rows"] == [2] and got["trips"][:2] == [7, 11] and got["trips"][2] is None
        assert got == {**got, "started": False, "context": False, "jvm": False}
    finally:
        duck.close()
        spark.close()
        drop_prefix(redis_url, project)
