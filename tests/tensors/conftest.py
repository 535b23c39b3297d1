"""A small project per test: the driver view of ``tensor_data``, real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import featurestore as fs
from tests.conftest import drop_prefix
from tests.online.cluster import ClusterURL
from tests.tensors.tensor_data import driver, service, source, stats, stats_rows


def _online(redis_url: str) -> dict[str, str]:
    if isinstance(redis_url, ClusterURL):
        return {"type": "redis_cluster", "url": str(redis_url)}
    return {"url": str(redis_url)}


@pytest.fixture
def store(tmp_path: Path, redis_url: str) -> Iterator[fs.FeatureStore]:
    """A project with the definitions and ``stats_rows`` committed and tagged ``v1``."""
    root = tmp_path / "repo"
    root.mkdir()
    name = f"t{uuid.uuid4().hex[:12]}"
    (root / "featurestore.yaml").write_text(
        yaml.safe_dump({"project": name, "storage": "data", "online_store": _online(redis_url)})
    )
    s = fs.FeatureStore.init(root, exist_ok=True)
    try:
        s.apply([driver, source, stats, service])
        s.ingest("stats", stats_rows())
        s.commit("stats")
        s.repository.tag("v1").create("main")
        yield s
    finally:
        s.close()
        drop_prefix(redis_url, name)
