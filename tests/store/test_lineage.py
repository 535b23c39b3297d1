"""Lineage of saved datasets: the commit, the views' definitions and the exact objects read."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq
import pytest
import store_data

from featurestore import FeatureStore, NotFoundError
from featurestore.datasets import DATASETS_BRANCH
from featurestore.registry import REGISTRY_PATH

REFS = ["driver_stats:trips", "customer_stats:spend", "driver_extras:trips_x2"]


def _saved(store: FeatureStore) -> tuple[str, str]:
    store.ingest("driver_stats", store_data.driver_rows())
    store.ingest("customer_stats", store_data.customer_rows())
    commit = store.commit("rows").id
    store.ingest("driver_stats", store_data.driver_rows(seed=3))
    store.commit("more driver rows")
    ents = store_data.entity_frame(n=50).assign(bonus=1.0)
    job = store.get_historical_features(ents, REFS, ref=commit)
    store.create_saved_dataset(job, "train-1")
    return commit, job.definitions_hash


def test_lineage_names_the_commit_definitions_and_objects(store: FeatureStore) -> None:
    commit, definitions_hash = _saved(store)
    # main moves on after the save; lineage still describes the commit the build read
    store.ingest("customer_stats", store_data.customer_rows(seed=9))
    store.commit("later customers")

    lineage = store.lineage("train-1")
    assert lineage.dataset == "train-1"
    assert lineage.commit_id == commit and lineage.commit_message == "rows"
    assert lineage.feature_refs == tuple(REFS)
    assert lineage.definitions_hash == definitions_hash and lineage.definitions_match
    saved_in = store.repository.ref(DATASETS_BRANCH).get_commit()
    assert lineage.saved_in == saved_in.id
    assert {(v.name, v.kind, v.table) for v in lineage.views} == {
        ("driver_stats", "feature_view", "driver_stats"),
        ("customer_stats", "feature_view", "customer_stats"),
        ("driver_extras", "on_demand_feature_view", None),
    }
    registry = store.registry(commit)
    stats = next(v for v in lineage.views if v.name == "driver_stats")
    assert stats.definition == registry.get_feature_view("driver_stats")
    assert len(stats.definition_hash) == 64
    assert "trips" in stats.features and "rate" in stats.features  # driver_extras reads rate
    at = store.repository.ref(commit)
    info = next(o for o in at.objects(REGISTRY_PATH) if o.path == REGISTRY_PATH)
    assert lineage.registry_object is not None
    assert lineage.registry_object.checksum == info.checksum
    # exactly the objects each table held at the commit, with their rows
    for table in lineage.tables:
        held = {o.path: o for o in at.objects(f"tables/{table.name}/")}
        assert {o.path for o in table.objects} == set(held)
        for o in table.objects:
            assert o.checksum == held[o.path].checksum and o.size == held[o.path].size
            if o.path.endswith(".parquet"):
                address = held[o.path].physical_address
                assert o.rows == pq.read_metadata(address).num_rows
    rows = {t.name: t.rows for t in lineage.tables}
    assert rows == {
        "driver_stats": len(store_data.driver_rows()),
        "customer_stats": len(store_data.customer_rows()),
    }
    body = lineage.to_dict()
    assert body["commit"]["id"] == commit and body["definitions_match"] is True
    assert {v["name"] for v in body["views"]} == {"driver_stats", "customer_stats", "driver_extras"}
    assert "def driver_extras" in next(
        v["definition"]["udf_source"] for v in body["views"] if v["name"] == "driver_extras"
    )
    assert "train-1" in repr(lineage) and "<table" in lineage._repr_html_()
    # the same answer from the dataset object
    assert store.lineage(store.get_saved_dataset("train-1")).to_dict() == body
    digest = hashlib.sha256(b"").hexdigest()
    assert all(o.checksum != digest for t in lineage.tables for o in t.objects)


def test_lineage_of_an_unknown_dataset(store: FeatureStore) -> None:
    with pytest.raises(NotFoundError, match="no saved dataset named 'nope'"):
        store.lineage("nope")
