"""One ``featurestore.yaml`` for a team: the repository on S3, the online store on a Redis
Cluster and Spark as the engine load together (Spark reads S3 through its Python workers)."""

from __future__ import annotations

from pathlib import Path

from featurestore.config import RedisClusterOnlineConfig, SparkOfflineConfig, load_config

TEAM = """
project: driver_stats
storage: s3://features/prod
metadata_url: postgresql+psycopg://feature:secret@db/featurestore
storage_options:
  endpoint_url: http://seaweedfs:8333
online_store:
  type: redis_cluster
  url: redis://10.0.0.11:6379
  startup_nodes: [redis://10.0.0.12:6379, redis://10.0.0.13:6379]
offline_store:
  type: spark
  master: spark://spark-master:7077
  conf:
    spark.executor.memory: 4g
"""


def test_s3_cluster_and_spark_load_in_one_file(tmp_path: Path) -> None:
    (tmp_path / "featurestore.yaml").write_text(TEAM)
    config = load_config(tmp_path)
    assert config.storage_location == "s3://features/prod"
    assert config.storage_options.fsspec()["endpoint_url"] == "http://seaweedfs:8333"
    assert isinstance(config.online_store, RedisClusterOnlineConfig)
    assert len(config.online_store.startup_nodes) == 2
    assert isinstance(config.offline_store, SparkOfflineConfig)
    assert config.offline_store.conf == {"spark.executor.memory": "4g"}
