"""The internal ``saved-datasets`` branch: out of users' listings, and no user operation
can delete or write it, so saved datasets are never lost by deleting "a branch"."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import store_data

from featurestore import FeatureStore, RefusedError
from featurestore.datasets import DATASETS_BRANCH, SavedDataset
from featurestore.server import _calls

REFS = ["driver_stats:trips"]


def _saved(store: FeatureStore) -> SavedDataset:
    store.ingest("driver_stats", store_data.driver_rows())
    store.commit("rows")
    job = store.get_historical_features(store_data.entity_frame(n=20), REFS)
    return store.create_saved_dataset(job, "kept")


def test_internal_branch_is_left_out_of_listings(store: FeatureStore) -> None:
    _saved(store)
    store.repository.branch("feature-x").create("main")
    assert DATASETS_BRANCH in [b.id for b in store.repository.branches()]  # it exists
    assert [b.id for b in store.branches()] == ["feature-x", "main"]
    served = _calls.branches(store)["branches"]
    assert [b["name"] for b in served] == ["feature-x", "main"]


def test_internal_branch_cannot_be_deleted_or_written(store: FeatureStore) -> None:
    saved = _saved(store)
    head = store.repository.ref(DATASETS_BRANCH).resolve()
    refusals: list[Callable[[], object]] = [
        lambda: store.delete_branch(DATASETS_BRANCH),
        lambda: store.ingest("driver_stats", store_data.driver_rows(), branch=DATASETS_BRANCH),
        lambda: store.commit("sneaky", branch=DATASETS_BRANCH),
        lambda: store.apply([], branch=DATASETS_BRANCH),
        lambda: store.compact("driver_stats", branch=DATASETS_BRANCH),
    ]
    for attempt in refusals:
        with pytest.raises(RefusedError, match="internal"):
            attempt()
    assert store.repository.ref(DATASETS_BRANCH).resolve() == head
    assert not list(store.repository.branch(DATASETS_BRANCH).uncommitted())
    assert store.get_saved_dataset("kept").to_arrow().equals(saved.to_arrow())
    # a user branch is deleted as before
    store.repository.branch("scratch").create("main")
    store.delete_branch("scratch")
    assert [b.id for b in store.branches()] == ["main"]
