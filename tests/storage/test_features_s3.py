"""The rest of the product on a repository on S3 (a real SeaweedFS server) gives what the
same store on a local folder gives: saved datasets (rebuilt, listed by entity, streamed by
the training loader), lineage, the serving log and ``explain``, an erasure, row diffs and
merges by key; a Spark engine on S3 storage is refused at open."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import torch
import yaml

from featurestore import (
    ConfigError,
    FeatureService,
    FeatureStore,
    LoggingConfig,
    MergeConflictError,
)
from featurestore.serving_log import SERVING_LOG_BRANCH, log_tables
from tests.storage.test_store_s3 import (
    DEFINITIONS,
    FEATURES,
    NOW,
    T0,
    driver_stats,
    entity_rows,
    rows,
)
from tests.storage.test_store_s3 import stores as stores  # the fixture: local and S3 stores

Stores = tuple[FeatureStore, FeatureStore, str]
service = FeatureService(
    name="scoring", features=[driver_stats], logging_config=LoggingConfig(sample_rate=1.0)
)


@pytest.fixture
def pair(stores: Stores) -> Iterator[tuple[FeatureStore, FeatureStore]]:
    """Both stores with the definitions (and a logged service) and two committed parts."""
    local, remote, url = stores
    for store in (local, remote):
        store.apply([*DEFINITIONS, service])
        store.commit("definitions")
        for part in range(2):
            store.ingest("driver_stats", rows(part))
            store.commit(f"rows {part}")
    assert remote.tables.files("main", "driver_stats")[0].startswith(f"{url}/objects/")
    yield local, remote


def _sorted(table: pa.Table) -> list[tuple[Any, ...]]:
    columns = [table.column(n).to_pylist() for n in table.schema.names]
    return sorted(zip(*columns, strict=True), key=repr)


def _lineage(store: FeatureStore) -> list[tuple[Any, ...]]:
    found = store.lineage("train")
    return [(t.name, t.rows, [(o.path, o.size, o.rows) for o in t.objects]) for t in found.tables]


def _explained(store: FeatureStore, request_id: str) -> list[tuple[Any, ...]]:
    got = store.explain(request_id)
    assert not got.skew
    return sorted((v.row, v.feature, v.status, v.served, v.recomputed) for v in got.values)


def _stream(store: FeatureStore) -> torch.Tensor:
    loader = store.training_loader("train", 64, shuffle_seed=3, labels=["label"])
    return torch.cat([b.features for b in loader])


def test_datasets_lineage_serving_log_and_erasure_on_s3_equal_local(
    pair: tuple[FeatureStore, FeatureStore],
) -> None:
    local, remote = pair
    for store in (local, remote):
        job = store.get_historical_features(entity_rows(), FEATURES)
        store.create_saved_dataset(job, "train")
    saved = remote.get_saved_dataset("train")
    assert saved.physical_address.startswith("s3://")
    data = saved.to_arrow()
    assert data.num_rows == len(entity_rows()) and data.column("trips").null_count < data.num_rows
    assert data.equals(local.get_saved_dataset("train").to_arrow())
    rebuilt = remote.get_historical_features(entity_rows(), FEATURES, ref=saved.commit_id)
    assert rebuilt.to_arrow().equals(data)  # rebuilt at its commit, bit for bit
    named = [d.name for d in remote.saved_datasets(containing={"driver_id": 3})]
    assert named == ["train"] == [d.name for d in local.saved_datasets({"driver_id": 3})]
    assert remote.saved_datasets(containing={"driver_id": 999}) == []
    streamed = _stream(remote)
    assert streamed.shape == (len(entity_rows()), 2)
    assert torch.allclose(streamed, _stream(local), rtol=0, atol=0, equal_nan=True)

    lineage = _lineage(remote)
    assert lineage == _lineage(local)
    ((_, total, objects),) = lineage
    assert total == 2 * len(rows(0)) and all(n is not None for _, _, n in objects if n)

    ids = {"driver_id": [3, 4, 44]}
    requests = []
    for store in (local, remote):
        store.materialize(None, T0 + timedelta(days=3))
        served = store.get_online_features(service, ids, now=NOW)
        assert served.request_id is not None
        requests.append(served.request_id)
        store.serving_log.flush()
    assert _explained(remote, requests[1]) == _explained(local, requests[0])
    assert any(v.served is not None for v in remote.explain(requests[1]).values)
    log_query = "SELECT driver_id, feature, value FROM log ORDER BY 1, 2"

    def logged(store: FeatureStore) -> list[tuple[Any, ...]]:
        (table,) = log_tables(store.tables.tables(SERVING_LOG_BRANCH))
        files = store.tables.files(SERVING_LOG_BRANCH, table)
        return _sorted(store.engine.sql(log_query, {"log": files}))

    assert logged(remote) == logged(local) and {r[0] for r in logged(remote)} == {3, 4, 44}

    for store in (local, remote):
        record = store.erase({"driver_id": 3}, reason="request 7", collect=True)
        assert record.tables["driver_stats"] > 0 and record.datasets == ("train",)
    kept = remote.tables.read("main", "driver_stats")
    assert _sorted(kept) == _sorted(local.tables.read("main", "driver_stats"))
    assert 3 not in kept.column("driver_id").to_pylist() and kept.num_rows > 0
    after = remote.get_saved_dataset("train")
    assert after.redacted and after.to_arrow().equals(local.get_saved_dataset("train").to_arrow())
    assert 3 not in after.to_arrow().column("driver_id").to_pylist()
    assert remote.saved_datasets(containing={"driver_id": 3}) == []
    assert {r[0] for r in logged(remote)} == {4, 44} and logged(remote) == logged(local)
    assert _lineage(remote) == _lineage(local)


def _upsert(store: FeatureStore, frame: pd.DataFrame, branch: str) -> None:
    store.ingest("driver_stats", frame, branch=branch, mode="upsert")
    store.commit(f"correct {len(frame)} row(s)", branch=branch)


def _diffed(store: FeatureStore, left: str, right: str) -> tuple[Any, ...]:
    diff = store.diff(left, right)["driver_stats"]
    return diff.added, diff.removed, diff.changed, _sorted(diff.rows())


def test_row_diff_and_merges_by_key_on_s3_equal_local(
    pair: tuple[FeatureStore, FeatureStore],
) -> None:
    local, remote = pair
    base = local.tables.read("main", "driver_stats").to_pandas()
    single = base.groupby(["driver_id", "event_timestamp"]).trips.transform("size") == 1
    base = base[single].reset_index(drop=True)  # keys with one row each: upserts replace it
    first = base.iloc[[0]].assign(trips=base.iloc[[0]].trips + 5000)
    second = base.iloc[[1]].assign(rate=-1.0)
    fresh = rows(77, n=20)
    clash = base.iloc[[2]]
    for store in (local, remote):
        store.repository.branch("dev").create("main")
        store.repository.branch("fix").create("main")
        _upsert(store, first, "dev")  # a correction on each side
        _upsert(store, second, "main")
        _upsert(store, clash.assign(trips=1), "fix")  # the same key on both
        _upsert(store, clash.assign(trips=2), "main")
    diff = _diffed(remote, "main", "dev")
    assert diff == _diffed(local, "main", "dev")
    assert diff[:3] == (0, 0, 3)  # the two corrected keys and the clashing one

    for store in (local, remote):
        store.merge("dev", "main")
        with pytest.raises(MergeConflictError) as conflict:
            store.merge("fix", "main")
        assert conflict.value.tables["driver_stats"].count == 1
        store.merge("fix", "main", strategy="source-wins")
        store.repository.branch("more").create("main")
        store.ingest("driver_stats", fresh, branch="more")  # only new objects on one side
        store.commit("fresh rows", branch="more")
        _upsert(store, first.assign(rate=0.5), "main")
        store.merge("more", "main")
    merged = remote.tables.read("main", "driver_stats")
    assert _sorted(merged) == _sorted(local.tables.read("main", "driver_stats"))
    assert merged.num_rows == local.tables.read("main~3", "driver_stats").num_rows + len(fresh)
    got = merged.to_pandas().set_index(["driver_id", "event_timestamp", "created"])
    for frame, column, value in ((first, "rate", 0.5), (second, "rate", -1.0), (clash, "trips", 1)):
        key = tuple(frame.iloc[0][["driver_id", "event_timestamp", "created"]])
        assert (got.loc[[key], column] == value).all()
    added = set(remote.tables.files("more", "driver_stats")) - set(
        remote.tables.files("more~1", "driver_stats")
    )
    assert len(added) == 1  # the fresh rows' object, reused by the merge as it was
    assert added <= set(remote.tables.files("main", "driver_stats"))


def test_spark_on_memory_storage_is_refused_at_open(tmp_path: Path) -> None:
    config = {
        "project": "sparkmem",
        "storage": "memory://repo",
        "offline_store": {"type": "spark"},
        "create_repository": True,
    }
    (tmp_path / "featurestore.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as refused:
        FeatureStore(tmp_path)
    message = str(refused.value)
    assert "offline_store" in message and "memory://repo" in message
    assert "this process only" in message and "s3://" in message
    assert list(tmp_path.iterdir()) == [tmp_path / "featurestore.yaml"]  # nothing left behind
