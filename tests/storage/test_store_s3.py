"""A feature store whose repository lives on S3 (a real SeaweedFS server) gives what the same
store on a local folder gives: retrieval, online values after materialize, SQL, compaction
and GC; a failing upload leaves no half write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs
import yaml

from featurestore import (
    Entity,
    FeatureStore,
    FeatureStoreError,
    FeatureView,
    Field,
    Float64,
    Int64,
    TableSource,
)
from tests.s3_server import S3Server

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
T0 = NOW - timedelta(hours=50)  # online keys expire by the wall clock: recent rows
FEATURES = ["driver_stats:trips", "driver_stats:rate"]

driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
source = TableSource(
    name="driver_stats", timestamp_field="event_timestamp", created_timestamp_column="created"
)
driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(hours=12),
    schema=[Field(name="trips", dtype=Int64), Field(name="rate", dtype=Float64)],
    source=source,
)
DEFINITIONS = [driver, source, driver_stats]


def rows(seed: int, n: int = 600, drivers: int = 40) -> pd.DataFrame:
    """Feature rows with ties on (driver, event time) broken by created time."""
    rng = np.random.default_rng(seed)
    event = T0 + pd.to_timedelta(rng.integers(0, 48 * 60, n), unit="min")
    frame = pd.DataFrame(
        {
            "driver_id": rng.integers(0, drivers, n).astype("int64"),
            "event_timestamp": event,
            "created": event + pd.to_timedelta(rng.integers(0, 30, n), unit="min"),
            "trips": rng.integers(0, 100, n).astype("int64"),
            "rate": rng.random(n),
        }
    )
    ties = frame.sample(frac=0.05, random_state=seed).copy()
    ties["created"] = ties["created"] + pd.Timedelta(minutes=1)
    ties["trips"] = ties["trips"] + 1000
    return pd.concat([frame, ties], ignore_index=True)


def entity_rows(seed: int = 7, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "driver_id": rng.integers(0, 45, n).astype("int64"),
            "event_timestamp": T0 + pd.to_timedelta(rng.integers(0, 50 * 60, n), unit="min"),
            "label": rng.integers(0, 2, n),
        }
    )


def s3_project(
    folder: Path, server: S3Server, url: str, redis_url: str, key: str, secret: str
) -> FeatureStore:
    """A project whose repository is at ``url``, credentials and endpoint from the config."""
    folder.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "project": f"s3{uuid.uuid4().hex[:8]}",
        "storage": url,
        "storage_options": {
            "endpoint_url": server.endpoint_url,
            "key": key,
            "secret": secret,
            "region": server.region,
        },
        "metadata_url": f"sqlite:///{folder / 'repos.sqlite'}",
        "online_store": {"url": redis_url},
        "create_repository": True,
    }
    (folder / "featurestore.yaml").write_text(yaml.safe_dump(config))
    return FeatureStore(folder)


@pytest.fixture
def stores(
    tmp_path: Path, seaweedfs_server: S3Server, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FeatureStore, FeatureStore, str]]:
    """The same project on a local folder and on SeaweedFS (no AWS variables set)."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    url = seaweedfs_server.fresh_url()
    local = FeatureStore.init(tmp_path / "local", project=f"lo{uuid.uuid4().hex[:8]}")
    local.close()
    (tmp_path / "local" / "featurestore.yaml").write_text(
        yaml.safe_dump(
            {
                "project": f"lo{uuid.uuid4().hex[:8]}",
                "storage": "data",
                "online_store": {"url": redis_url},
            }
        )
    )
    local = FeatureStore(tmp_path / "local")
    remote = s3_project(
        tmp_path / "s3",
        seaweedfs_server,
        url,
        redis_url,
        seaweedfs_server.key,
        seaweedfs_server.secret,
    )
    try:
        yield local, remote, url
    finally:
        local.close()
        remote.close()
        fs = s3fs.S3FileSystem(
            key=seaweedfs_server.key,
            secret=seaweedfs_server.secret,
            client_kwargs={"endpoint_url": seaweedfs_server.endpoint_url},
            skip_instance_cache=True,
        )
        if fs.exists(url):
            fs.rm(url, recursive=True)


def training_set(store: FeatureStore, ref: str | None = None) -> pa.Table:
    return store.get_historical_features(entity_rows(), FEATURES, ref=ref).to_arrow()


def test_store_on_s3_equals_the_store_on_a_local_folder(
    stores: tuple[FeatureStore, FeatureStore, str],
) -> None:
    local, remote, url = stores
    for store in (local, remote):
        store.apply(DEFINITIONS)
        store.commit("definitions")
        for part in range(3):  # three objects, for compaction to join
            store.ingest("driver_stats", rows(part))
            store.commit(f"rows {part}")
    assert remote.repository.filesystem is not None
    addresses = remote.tables.files("main", "driver_stats")
    assert len(addresses) == 3 and all(a.startswith(f"{url}/objects/") for a in addresses)

    expected = training_set(local)
    got = training_set(remote)
    assert got.num_rows == len(entity_rows())
    assert got.column("trips").null_count < got.num_rows  # the join found rows
    assert got.equals(expected)
    assert pa.types.is_integer(got.schema.field("trips").type)

    query = "SELECT driver_id, count(*) AS n, max(trips) AS top FROM driver_stats GROUP BY 1"
    query += " ORDER BY 1"
    assert remote.sql(query).equals(local.sql(query))
    assert remote.sql(query).num_rows == 40

    end = T0 + timedelta(days=3)
    for store in (local, remote):
        store.materialize(None, end)
    ids = {"driver_id": list(range(45))}
    online_local = local.get_online_features(FEATURES, ids, now=NOW).to_dict()
    online_remote = remote.get_online_features(FEATURES, ids, now=NOW).to_dict()
    assert online_remote == online_local
    assert any(v is not None for v in online_remote["trips"])

    before = remote.repository.branch("main").resolve()
    compacted = remote.compact("driver_stats")
    assert compacted is not None and local.compact("driver_stats") is not None
    assert len(remote.tables.files("main", "driver_stats")) == 1
    assert training_set(remote).equals(expected)  # a compaction changes no row
    assert training_set(remote, ref=before).equals(expected)  # time travel reads old objects

    repo = remote.repository
    scratch = repo.branch("scratch").create("main")
    remote.ingest("driver_stats", rows(99, n=50), branch="scratch")
    remote.commit("on a branch about to go", branch="scratch")
    scratch.delete()
    removed = repo.gc(retention=timedelta(0)).objects_removed
    assert removed >= 1
    assert training_set(remote).equals(expected)
    assert training_set(remote, ref=before).equals(expected)


def test_a_failing_upload_leaves_nothing(
    stores: tuple[FeatureStore, FeatureStore, str], seaweedfs_server: S3Server, tmp_path: Path
) -> None:
    _, remote, url = stores
    remote.apply(DEFINITIONS)
    remote.commit("definitions")
    remote.ingest("driver_stats", rows(1))
    remote.commit("rows")
    head = remote.repository.branch("main").resolve()
    expected = training_set(remote)
    remote.close()
    assert seaweedfs_server.read_only is not None
    reader_key, reader_secret = seaweedfs_server.read_only
    reader = s3_project(
        tmp_path / "s3",
        seaweedfs_server,
        url,
        "redis://unused:1",
        reader_key,
        reader_secret,
    )
    try:
        assert training_set(reader).equals(expected)  # a read-only identity reads
        with pytest.raises(FeatureStoreError) as refused:
            reader.ingest("driver_stats", rows(2))  # and may not write
        assert "refused to upload" in str(refused.value)
        assert "credentials" in str(refused.value)
    finally:
        reader.close()
    again = FeatureStore(tmp_path / "s3")
    try:
        main = again.repository.branch("main")
        assert main.resolve() == head
        assert list(main.uncommitted()) == []
        assert training_set(again).equals(expected)
    finally:
        again.close()


CHILD = """
import sys
import pyarrow.parquet as pq
from featurestore import FeatureStore
store = FeatureStore(sys.argv[1])
table = pq.read_table(sys.argv[2])
print("ready", flush=True)
store.ingest("driver_stats", table)
print("staged", flush=True)
sys.stdin.read()  # held until the parent kills it
"""


def test_a_write_killed_mid_upload_leaves_none_or_all(
    stores: tuple[FeatureStore, FeatureStore, str], seaweedfs_server: S3Server, tmp_path: Path
) -> None:
    local, remote, url = stores
    data = pa.Table.from_pandas(rows(5, n=300_000), preserve_index=False)
    pq.write_table(data, tmp_path / "rows.parquet")
    for store in (local, remote):
        store.apply(DEFINITIONS)
        store.commit("definitions")
    head = remote.repository.branch("main").resolve()
    fs = s3fs.S3FileSystem(
        key=seaweedfs_server.key,
        secret=seaweedfs_server.secret,
        client_kwargs={"endpoint_url": seaweedfs_server.endpoint_url},
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    before = set(fs.find(f"{url}/objects"))
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "s3"), str(tmp_path / "rows.parquet")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 120  # a bound on the wait, not a timing assertion
        while set(fs.find(f"{url}/objects")) == before and child.poll() is None:
            assert time.monotonic() < deadline, "the child uploaded nothing"
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)  # an object has landed: the write is under way
    finally:
        child.kill()
        child.wait()
    again = FeatureStore(tmp_path / "s3")
    try:
        main = again.repository.branch("main")
        assert main.resolve() == head
        staged = list(main.uncommitted())
        if not staged:  # killed before staging: nothing is visible, and a rerun writes it
            assert again.sql("SELECT count(*) AS n FROM driver_stats").column("n")[0].as_py() == 0
            again.ingest("driver_stats", data)
        again.commit("rows")
        local.ingest("driver_stats", data)
        local.commit("rows")
        assert training_set(again).equals(training_set(local))  # equals a clean run
        query = "SELECT count(*) AS n FROM driver_stats"
        assert again.sql(query).equals(local.sql(query))
        again.repository.gc(retention=timedelta(0))  # what the killed writer left
        assert training_set(again).equals(training_set(local))
    finally:
        again.close()


def test_the_command_line_opens_the_s3_repository_from_the_config(
    stores: tuple[FeatureStore, FeatureStore, str], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from featurestore.cli import app, commands  # noqa: F401  (registers the commands)

    _, remote, _ = stores
    remote.apply(DEFINITIONS)
    remote.commit("definitions from the facade")
    runner = CliRunner()
    log = runner.invoke(app, ["log", "--repo", str(tmp_path / "s3")])
    assert log.exit_code == 0, log.output
    assert "definitions from the facade" in log.output
    gc = runner.invoke(app, ["gc", "--retention-days", "0", "--repo", str(tmp_path / "s3")])
    assert gc.exit_code == 0, gc.output
    assert training_set(remote).num_rows == len(entity_rows())
