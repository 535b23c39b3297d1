"""A fresh feature repository per test, with the shared definitions applied and committed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import store_defs

from featurestore import FeatureStore


def new_store(path: Path) -> FeatureStore:
    """An initialised project at ``path`` with ``store_defs.ALL`` applied and committed."""
    store = FeatureStore.init(path, project=f"t{uuid.uuid4().hex[:10]}")
    store.apply(store_defs.ALL)
    store.commit("definitions")
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    s = new_store(tmp_path / "repo")
    try:
        yield s
    finally:
        s.close()
