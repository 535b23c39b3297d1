"""A store with ``offline_store: {type: gpu, device: cpu}`` answers as the DuckDB store
does: the same training sets (plain and windowed), the same online values after
materialization; ``device: cuda`` without CuPy refuses at the boundary, or falls back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

import featurestore as fs
from featurestore.config import GpuOfflineConfig, load_config
from tests.conftest import drop_prefix
from tests.gpu_engine.device import array_device
from tests.spark.test_spark_store import DRIVERS, FEATURES, WINDOWED, _load
from tests.store_online.data import TS


@pytest.fixture
def stores(tmp_path: Path, redis_url: str) -> Iterator[tuple[fs.FeatureStore, fs.FeatureStore]]:
    """One project read by two stores: DuckDB's and the array engine's, own online keys."""
    project = f"p{uuid.uuid4().hex[:12]}"
    (tmp_path / "featurestore.yaml").write_text(
        yaml.safe_dump({"project": project, "storage": "data", "online_store": {"url": redis_url}})
    )
    duck = fs.FeatureStore.init(tmp_path, exist_ok=True)
    prefix = f"{project}g"
    config = duck.config.model_copy(
        update={
            "offline_store": GpuOfflineConfig(type="gpu", device=array_device()),
            "online_store": duck.config.online_store.model_copy(update={"key_prefix": prefix}),
        }
    )
    gpu = fs.FeatureStore(tmp_path, config=config)
    try:
        yield duck, gpu
    finally:
        duck.close()
        gpu.close()
        drop_prefix(redis_url, project)
        drop_prefix(redis_url, prefix)


def test_training_sets_and_online_values_equal_duckdb(
    stores: tuple[fs.FeatureStore, fs.FeatureStore],
) -> None:
    duck, gpu = stores
    assert type(gpu.engine).__name__ == "ArrayEngine"
    commit, t = _load(duck)
    times = [t - timedelta(minutes=m) for m in (0, 0, 30, 61, 120, 200)]  # type: ignore[operator]
    entity_df = pa.table(
        {
            "label": [f"r{i}" for i in range(len(DRIVERS) * len(times))],
            "driver_id": [d for d in DRIVERS for _ in times],
            "event_ts": pa.array([x for _ in DRIVERS for x in times], TS),
        }
    )
    for refs in (FEATURES, WINDOWED):
        ours = gpu.get_historical_features(entity_df, refs, ref=commit).to_arrow()
        theirs = duck.get_historical_features(entity_df, refs, ref=commit).to_arrow()
        assert ours.equals(theirs), refs
        assert ours.column("label").to_pylist() == entity_df.column("label").to_pylist()
    assert ours.column("trips_count_1h").type == pa.int64()
    assert any(ours.column("trips_count_1h").to_pylist())
    ours_m = {r.view: r.rows_written for r in gpu.materialize(None, t)}
    assert ours_m == {r.view: r.rows_written for r in duck.materialize(None, t)}
    for refs in (FEATURES, WINDOWED):
        a = gpu.get_online_features(refs, {"driver_id": DRIVERS}, now=t).to_dict()
        assert a == duck.get_online_features(refs, {"driver_id": DRIVERS}, now=t).to_dict()


def _project(path: Path, offline_store: dict[str, str]) -> Path:
    path.mkdir()
    (path / "featurestore.yaml").write_text(
        yaml.safe_dump({"project": "p", "storage": "data", "offline_store": offline_store})
    )
    return path


def test_config_without_a_gpu(tmp_path: Path) -> None:
    try:
        import cupy  # type: ignore[import-not-found]  # noqa: F401

        pytest.skip("CuPy is installed: these settings are for machines without it")
    except ImportError:
        pass
    with pytest.raises(fs.ConfigError, match=r"offline_store\.gpu\.device"):
        load_config(_project(tmp_path / "bad", {"type": "gpu", "device": "tpu"}))
    refused = fs.FeatureStore.init(_project(tmp_path / "cuda", {"type": "gpu"}), exist_ok=True)
    try:
        with pytest.raises(fs.FeatureStoreError, match=r"cupy-cuda12x.*device: cpu.*fallback: cpu"):
            _ = refused.engine
    finally:
        refused.close()
    path = _project(tmp_path / "fallback", {"type": "gpu", "device": "cuda", "fallback": "cpu"})
    falls_back = fs.FeatureStore.init(path, exist_ok=True)
    try:
        engine = falls_back.engine
        assert type(engine).__name__ == "ArrayEngine"
        assert engine.device == "cpu"  # type: ignore[attr-defined]
    finally:
        falls_back.close()
