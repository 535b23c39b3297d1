"""A fresh project per test: real repository in tmp_path, real Redis, own key prefix."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

import featurestore as fs
from tests.conftest import drop_prefix
from tests.online.cluster import ClusterURL


def make_store(root: Path, redis_url: str, project: str | None = None) -> fs.FeatureStore:
    """Create a project at ``root`` whose online store is ``redis_url`` (own key prefix)."""
    name = project or f"p{uuid.uuid4().hex[:12]}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "featurestore.yaml").write_text(
        yaml.safe_dump({"project": name, "storage": "data", "online_store": _online(redis_url)})
    )
    return fs.FeatureStore.init(root, exist_ok=True)


def _online(redis_url: str) -> dict[str, str]:
    """The online store settings for ``redis_url``: a cluster's when it names one."""
    if isinstance(redis_url, ClusterURL):
        return {"type": "redis_cluster", "url": str(redis_url)}
    return {"url": str(redis_url)}


@pytest.fixture
def new_store(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., fs.FeatureStore]]:
    """A factory of stores under tmp_path; each is closed and its keys removed afterwards."""
    made: list[fs.FeatureStore] = []

    def factory(name: str = "repo", url: str | None = None) -> fs.FeatureStore:
        store = make_store(tmp_path / name, url or redis_url)
        made.append(store)
        return store

    yield factory
    for store in made:
        prefix = store.config.project
        store.close()
        drop_prefix(redis_url, prefix)
