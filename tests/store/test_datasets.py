"""Saved datasets: the same bytes after later commits, their metadata, lineage by entity,
and names that can be used once."""

from __future__ import annotations

import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import store_data
from store_data import h

from featurestore import ConflictError, FeatureStore, NotFoundError, ValidationError
from featurestore.datasets import DATASETS_BRANCH

REFS = ["driver_stats:trips", "customer_stats:spend"]


def _ipc_hash(table: pa.Table) -> str:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _filled(store: FeatureStore) -> None:
    store.ingest("driver_stats", store_data.driver_rows())
    store.ingest("customer_stats", store_data.customer_rows())
    store.commit("rows")
    store.repository.tag("v1").create("main")


def test_saved_dataset_is_bit_for_bit_after_later_commits(store: FeatureStore) -> None:
    _filled(store)
    ents = store_data.entity_frame(n=100)
    job = store.get_historical_features(ents, REFS, ref="v1")
    built = job.to_arrow()
    saved = store.create_saved_dataset(job, "train-1")
    path = f"datasets/{saved.name}/data.parquet"
    parquet = store.repository.ref(DATASETS_BRANCH).object(path).read()

    store.ingest("driver_stats", store_data.driver_rows().assign(created=h(99), trips=-5))
    store.commit("later rows")
    store.ingest("driver_stats", store_data.driver_rows().head(30), mode="delete")
    store.commit("later delete")
    store.apply([])  # a new definitions staging is harmless too
    store.commit("nothing", allow_empty=True)

    again = store.get_saved_dataset("train-1")
    assert again.to_arrow().equals(built)
    assert again.to_arrow().schema == built.schema
    assert _ipc_hash(again.to_arrow()) == _ipc_hash(built)
    assert store.repository.ref(DATASETS_BRANCH).object(path).read() == parquet
    assert pq.read_table(io.BytesIO(parquet)).equals(built)
    # a fresh build at the same tag equals the saved rows; one at main does not
    assert store.get_historical_features(ents, REFS, ref=again.commit_id).to_arrow().equals(built)
    assert not store.get_historical_features(ents, REFS).to_arrow().equals(built)


def test_metadata_names_commit_refs_definitions_and_entities(store: FeatureStore) -> None:
    _filled(store)
    ents = store_data.entity_frame(n=30)
    job = store.get_historical_features(ents, REFS, ref="v1")
    saved = store.create_saved_dataset(job, "meta")
    assert saved.commit_id == store.resolve("v1") == job.commit_id
    assert saved.feature_refs == tuple(REFS)
    assert saved.definitions_hash == store.registry("v1").hash == job.definitions_hash
    assert saved.num_rows == len(ents)
    # the entity hash depends on the entity rows only, not on the feature values
    store.ingest("driver_stats", store_data.driver_rows().assign(created=h(99), trips=-5))
    store.commit("later rows")
    other = store.create_saved_dataset(store.get_historical_features(ents, REFS), "meta-later")
    assert other.entity_rows_hash == saved.entity_rows_hash
    assert other.commit_id != saved.commit_id
    assert not other.to_arrow().equals(saved.to_arrow())
    fewer = store.create_saved_dataset(
        store.get_historical_features(ents.head(10), REFS), "meta-fewer"
    )
    assert fewer.entity_rows_hash != saved.entity_rows_hash
    listed = {d.name: d for d in store.saved_datasets()}
    assert set(listed) == {"meta", "meta-later", "meta-fewer"}
    assert listed["meta"] == store.get_saved_dataset("meta")


def test_lineage_lists_datasets_holding_an_entity(store: FeatureStore) -> None:
    _filled(store)
    ents = store_data.entity_frame(n=20)
    a = ents[ents.driver_id != 1001]
    b = ents[ents.driver_id == 1001]
    store.create_saved_dataset(store.get_historical_features(a, REFS), "without-1001")
    store.create_saved_dataset(store.get_historical_features(b, REFS), "with-1001")
    assert [d.name for d in store.saved_datasets(containing={"driver_id": 1001})] == ["with-1001"]
    both = {
        d.name for d in store.saved_datasets(containing={"driver_id": int(a.driver_id.iloc[0])})
    }
    assert "without-1001" in both
    pair = {"driver_id": 1001, "customer_id": str(b.customer_id.iloc[0])}
    assert [d.name for d in store.saved_datasets(containing=pair)] == ["with-1001"]
    assert store.saved_datasets(containing={"driver_id": 123456}) == []
    assert store.saved_datasets(containing={"no_such_key": 1}) == []
    # values are read as the column's type; values that cannot be are refused
    assert [d.name for d in store.saved_datasets(containing={"driver_id": "1001"})] == ["with-1001"]
    with pytest.raises(ValidationError, match="driver_id"):
        store.saved_datasets(containing={"driver_id": [1001, 1002]})


def test_duplicate_and_bad_names_write_nothing(store: FeatureStore) -> None:
    _filled(store)
    job = store.get_historical_features(store_data.entity_frame(n=10), REFS)
    store.create_saved_dataset(job, "once")
    head = store.resolve(DATASETS_BRANCH)
    with pytest.raises(ConflictError, match="once"):
        store.create_saved_dataset(job, "once")
    with pytest.raises(ValidationError, match="dataset name"):
        store.create_saved_dataset(job, "../escape")
    assert store.resolve(DATASETS_BRANCH) == head
    assert list(store.repository.branch(DATASETS_BRANCH).uncommitted()) == []
    with pytest.raises(NotFoundError, match="saved_datasets"):
        store.get_saved_dataset("never-saved")


def test_no_datasets_yet(store: FeatureStore) -> None:
    assert store.saved_datasets() == []
    with pytest.raises(NotFoundError):
        store.get_saved_dataset("x")
