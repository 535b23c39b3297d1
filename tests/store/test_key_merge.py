"""Merging a branch merges tables by natural key and definitions by object.

The user's trip of issue 10: the same key upserted differently on two branches is a
conflict that names the key and leaves ``main`` as it was; disjoint upserts combine
even when they rewrote the same Parquet object; a compaction on one side and appends
on the other merge cleanly; definitions changed differently on both sides conflict.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest
import store_defs
from merge_rows import BASE, based, both_upsert_1001, frame, stored, upsert
from store_data import h

from featurestore import (
    ConflictError,
    DefinitionConflict,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int64,
    MergeConflictError,
    RefusedError,
    TableConflict,
    TableSource,
    ValidationError,
)
from featurestore.definition_merge import merge_registries
from featurestore.registry import REGISTRY_PATH, Registry


def test_same_key_upserted_differently_conflicts_and_changes_nothing(store: FeatureStore) -> None:
    both_upsert_1001(store)
    head, before = store.resolve("main"), stored(store)

    with pytest.raises(MergeConflictError) as info:
        store.merge("dev", "main")
    error = info.value
    assert isinstance(error, ConflictError)
    conflict = error.tables["driver_stats"]
    assert isinstance(conflict, TableConflict)
    assert conflict.count == 1
    assert conflict.keys.to_pylist() == [{"driver_id": 1001, "event_timestamp": h(1)}]
    assert "driver_stats" in str(error) and "1001" in str(error)
    assert "source-wins" in str(error)  # says what to do
    assert error.definitions == ()

    assert store.resolve("main") == head
    assert stored(store) == before
    assert not list(store.repository.branch("main").uncommitted())


@pytest.mark.parametrize(("strategy", "trips"), [("source-wins", 11), ("dest-wins", 12)])
def test_a_strategy_picks_one_side_per_row(store: FeatureStore, strategy: str, trips: int) -> None:
    both_upsert_1001(store)
    head = store.resolve("main")
    commit = store.merge("dev", "main", strategy=strategy)  # type: ignore[arg-type]
    assert commit.parents == (head, store.resolve("dev"))
    assert stored(store) == [
        (1001, h(1), h(1), trips, 0.1),
        (1002, h(1), h(1), 20, 0.2),
        (1003, h(2), h(2), 30, 0.3),
    ]


def test_disjoint_upserts_in_the_same_object_combine(store: FeatureStore) -> None:
    based(store)
    (part,) = store.tables.files("main", "driver_stats")  # one object holds every row
    upsert(store, [(1001, h(1), h(1), 11, 0.1)], branch="dev")
    upsert(store, [(1002, h(1), h(1), 22, 0.2)])
    assert part not in store.tables.files("dev", "driver_stats")  # both sides rewrote it
    assert part not in store.tables.files("main", "driver_stats")

    store.merge("dev", "main", message="dev's fix")
    assert stored(store) == [
        (1001, h(1), h(1), 11, 0.1),
        (1002, h(1), h(1), 22, 0.2),
        (1003, h(2), h(2), 30, 0.3),
    ]
    assert store.repository.ref("main").get_commit().message == "dev's fix"


def test_an_upsert_and_a_delete_of_other_keys_combine(store: FeatureStore) -> None:
    based(store)
    upsert(store, [(1001, h(1), h(1), 11, 0.1), (1004, h(3), h(3), 40, 0.4)], branch="dev")
    store.ingest("driver_stats", frame([BASE[2]]), mode="delete")
    store.commit("drop 1003")
    store.merge("dev", "main")
    assert stored(store) == [
        (1001, h(1), h(1), 11, 0.1),
        (1002, h(1), h(1), 20, 0.2),
        (1004, h(3), h(3), 40, 0.4),
    ]


def test_deleted_on_one_side_and_changed_on_the_other_conflicts(store: FeatureStore) -> None:
    based(store)
    upsert(store, [(1003, h(2), h(2), 33, 0.3)], branch="dev")
    store.ingest("driver_stats", frame([BASE[2]]), mode="delete")
    store.commit("drop 1003")
    with pytest.raises(MergeConflictError) as info:
        store.merge("dev")
    assert info.value.tables["driver_stats"].keys.column("driver_id").to_pylist() == [1003]


def test_the_same_change_on_both_sides_is_no_conflict(store: FeatureStore) -> None:
    based(store)
    upsert(store, [(1001, h(1), h(1), 11, 0.1)], branch="dev")
    upsert(store, [(1001, h(1), h(1), 11, 0.1)])
    store.merge("dev")
    assert stored(store) == sorted([(1001, h(1), h(1), 11, 0.1), *BASE[1:]])


def test_one_event_corrected_on_both_branches_conflicts(store: FeatureStore) -> None:
    """The created time is part of a key's value, not of the key: an upsert on each
    branch of the same (driver, event time), each with its own created time, is the same
    key changed differently on both sides (the upsert replaced the row on each side)."""
    based(store)
    upsert(store, [(1001, h(1), h(1.5), 11, 0.1)], branch="dev")
    upsert(store, [(1001, h(1), h(1.25), 12, 0.1)])
    head = store.resolve("main")
    with pytest.raises(MergeConflictError) as caught:
        store.merge("dev")
    conflict = caught.value.tables["driver_stats"]
    assert conflict.count == 1
    assert conflict.keys.column("driver_id").to_pylist() == [1001]
    assert store.resolve("main") == head
    store.merge("dev", strategy="source-wins")
    assert [r for r in stored(store) if r[0] == 1001] == [(1001, h(1), h(1.5), 11, 0.1)]


@pytest.mark.parametrize("compacted", ["main", "dev"])
def test_a_compaction_on_one_side_and_appends_on_the_other_merge(
    store: FeatureStore, compacted: str
) -> None:
    store.ingest("driver_stats", frame(BASE[:2]))
    store.ingest("driver_stats", frame(BASE[2:]))
    store.commit("base rows in two objects")
    store.repository.branch("dev").create("main")
    appending = "dev" if compacted == "main" else "main"
    new = [(1005, h(4), h(4), 50, 0.5), (1001, h(5), h(5), 15, 0.15)]
    store.ingest("driver_stats", frame(new), branch=appending)
    store.commit("more rows", branch=appending)
    assert store.compact("driver_stats", branch=compacted) is not None

    store.merge("dev", "main")
    assert stored(store) == sorted([*BASE, *new])


def test_tables_changed_on_one_side_only_merge_as_before(store: FeatureStore) -> None:
    based(store)
    upsert(store, [(1001, h(1), h(1), 11, 0.1)], branch="dev")
    store.ingest(
        "customer_stats", {"customer_id": ["c1"], "event_timestamp": [h(1)], "spend": [1.0]}
    )
    store.commit("customer row")
    store.merge("dev")
    assert stored(store)[0] == (1001, h(1), h(1), 11, 0.1)
    assert store.tables.read("main", "customer_stats").num_rows == 1
    assert store.tables.files("main", "driver_stats") == store.tables.files("dev", "driver_stats")


# -- definitions ----------------------------------------------------------------------


def with_ttl(hours: float, description: str = "") -> FeatureView:
    return dataclasses.replace(
        store_defs.driver_stats, ttl=timedelta(hours=hours), description=description
    )


def apply_on(store: FeatureStore, branch: str, *objects: object) -> None:
    store.apply(list(objects), branch=branch)
    store.commit(f"definitions on {branch}", branch=branch)


def test_a_view_changed_differently_on_both_sides_conflicts(store: FeatureStore) -> None:
    store.repository.branch("dev").create("main")
    apply_on(store, "dev", with_ttl(1))
    apply_on(store, "main", with_ttl(2))
    head = store.resolve("main")
    with pytest.raises(MergeConflictError) as info:
        store.merge("dev")
    (conflict,) = info.value.definitions
    assert isinstance(conflict, DefinitionConflict)
    assert (conflict.kind, conflict.name) == ("feature view", "driver_stats")
    assert "changed differently on both sides" in str(info.value)
    assert info.value.tables == {}
    assert store.resolve("main") == head
    assert store.registry("main").get_feature_view("driver_stats").ttl == timedelta(hours=2)


@pytest.mark.parametrize(("strategy", "hours"), [("source-wins", 1), ("dest-wins", 2)])
def test_a_strategy_picks_one_side_per_definition(
    store: FeatureStore, strategy: str, hours: float
) -> None:
    store.repository.branch("dev").create("main")
    apply_on(store, "dev", with_ttl(1), dataclasses.replace(store_defs.customer, description="c"))
    apply_on(store, "main", with_ttl(2))
    store.merge("dev", strategy=strategy)  # type: ignore[arg-type]
    registry = store.registry("main")
    assert registry.get_feature_view("driver_stats").ttl == timedelta(hours=hours)
    assert registry.get_entity("customer").description == "c"  # changed on one side only


def test_definitions_changed_on_different_objects_combine(store: FeatureStore) -> None:
    store.repository.branch("dev").create("main")
    apply_on(store, "dev", with_ttl(1))
    customer = dataclasses.replace(store_defs.customer_stats, description="spend per customer")
    apply_on(store, "main", customer)
    store.merge("dev")
    registry = store.registry("main")
    assert registry.get_feature_view("driver_stats").ttl == timedelta(hours=1)
    assert registry.get_feature_view("customer_stats").description == "spend per customer"
    # stored canonically: what an apply of the same definitions would have written
    raw = store.repository.ref("main").object(REGISTRY_PATH).read()
    assert raw == Registry.from_json(raw).to_json()


def test_a_definition_using_one_the_other_side_removed_conflicts(store: FeatureStore) -> None:
    store.repository.branch("dev").create("main")
    keep = [
        o
        for o in store_defs.ALL
        if o not in (store_defs.customer, store_defs.customer_stats, store_defs.customer_source)
    ]
    store.apply(keep, branch="dev", partial=False)
    store.commit("no customers", branch="dev")
    more = FeatureView(
        name="customer_more",
        entities=[store_defs.customer],
        schema=[Field(name="spend", dtype=Float64)],
        source=store_defs.customer_source,
    )
    apply_on(store, "main", more)
    with pytest.raises(MergeConflictError) as info:
        store.merge("dev", strategy="source-wins")  # no strategy mends a dangling reference
    names = {(c.kind, c.name) for c in info.value.definitions}
    assert ("feature view", "customer_more") in names
    assert "uses entity 'customer', which the other side removed" in str(info.value)


def test_rows_and_definitions_conflicts_are_reported_together(store: FeatureStore) -> None:
    both_upsert_1001(store)
    apply_on(store, "dev", with_ttl(1))
    apply_on(store, "main", with_ttl(2))
    with pytest.raises(MergeConflictError) as info:
        store.merge("dev")
    assert set(info.value.tables) == {"driver_stats"}
    assert [c.name for c in info.value.definitions] == ["driver_stats"]
    assert len(info.value.conflicts) == 2


def test_internal_branches_and_unknown_strategies_are_refused(store: FeatureStore) -> None:
    store.repository.branch("dev").create("main")
    with pytest.raises(RefusedError, match="internal"):
        store.merge("saved-datasets")
    with pytest.raises(RefusedError, match="internal"):
        store.merge("dev", "saved-datasets")
    with pytest.raises(ValidationError, match="strategy"):
        store.merge("dev", strategy="mine")  # type: ignore[arg-type]


def _registry_dict(*objects: object) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Registry(objects).to_json())
    return data


def test_registry_merge_without_a_common_ancestor() -> None:
    """Both sides adding the same definition agree; adding it differently conflicts."""
    same = _registry_dict(store_defs.driver)
    other = _registry_dict(dataclasses.replace(store_defs.driver, description="other"))
    assert merge_registries(None, same, same).entities == (store_defs.driver,)
    with pytest.raises(MergeConflictError, match="added differently on both sides"):
        merge_registries(None, same, other)
    base = _registry_dict(store_defs.driver)
    removed = _registry_dict()
    with pytest.raises(MergeConflictError, match="removed on the source, changed on the dest"):
        merge_registries(base, removed, other)
    assert merge_registries(base, removed, base).is_empty


def test_a_table_both_sides_created_merges_by_key(store: FeatureStore) -> None:
    ratings_source = TableSource(name="ratings", timestamp_field="event_timestamp")
    ratings = FeatureView(
        name="ratings",
        entities=[store_defs.driver],
        schema=[Field(name="stars", dtype=Int64)],
        source=ratings_source,
    )
    store.repository.branch("dev").create("main")
    for branch, stars in (("dev", [5, 4]), ("main", [5, 3])):
        store.apply([ratings_source, ratings], branch=branch)
        store.ingest(
            "ratings",
            {"driver_id": [1001, 1002], "event_timestamp": [h(1), h(1)], "stars": stars},
            branch=branch,
        )
        store.commit("ratings", branch=branch)
    with pytest.raises(MergeConflictError) as info:  # 1002 rated 4 on dev, 3 on main
        store.merge("dev")
    assert info.value.tables["ratings"].keys.column("driver_id").to_pylist() == [1002]
    assert info.value.definitions == ()  # the same view added on both sides
    store.merge("dev", strategy="source-wins")
    merged = store.tables.read("main", "ratings").sort_by("driver_id")
    assert merged.column("stars").to_pylist() == [5, 4]


def test_a_table_no_view_reads_merges_by_whole_rows(store: FeatureStore) -> None:
    schema = pa.schema([("name", pa.string()), ("n", pa.int64())])
    store.tables.create_table("main", "raw", schema)
    store.tables.write("main", "raw", pa.table({"name": ["a"], "n": [1]}, schema=schema))
    store.commit("raw table")
    store.repository.branch("dev").create("main")
    for branch, name in (("dev", "b"), ("main", "c")):
        store.tables.write(branch, "raw", pa.table({"name": [name], "n": [2]}, schema=schema))
        store.commit(f"row {name}", branch=branch)
    store.merge("dev")
    assert sorted(store.tables.read("main", "raw").column("name").to_pylist()) == ["a", "b", "c"]
    assert store.diff("main~1", "main")["raw"].keys == ("name", "n")
