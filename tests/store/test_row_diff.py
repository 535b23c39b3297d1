"""``store.diff``: tables by row (natural key), definitions by field, code by line."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pandas as pd
import pytest
import store_defs
from merge_rows import BASE, based, frame, upsert
from store_data import h

from featurestore import FeatureStore, NotFoundError, StoreDiff, TableDiff, ValidationError
from featurestore.definitions.on_demand import OnDemandFeatureView


def changed_on_dev(store: FeatureStore) -> None:
    """dev: 1001 upserted (changed), 1004 appended (added), 1003 deleted (removed)."""
    based(store)
    store.ingest("driver_stats", frame([(1001, h(1), h(1), 11, 0.1)]), branch="dev", mode="upsert")
    store.ingest("driver_stats", frame([(1004, h(3), h(3), 40, 0.4)]), branch="dev")
    store.ingest("driver_stats", frame([BASE[2]]), branch="dev", mode="delete")
    store.commit("three changes", branch="dev")


def test_counts_first_then_the_rows_by_kind(store: FeatureStore) -> None:
    changed_on_dev(store)
    diff = store.diff("main", "dev")
    assert isinstance(diff, StoreDiff)
    assert diff.left_commit == store.resolve("main")
    assert diff.right_commit == store.resolve("dev")
    assert list(diff.tables) == ["driver_stats"]
    found = diff.tables["driver_stats"]
    assert isinstance(found, TableDiff)
    assert (found.added, found.removed, found.changed) == (1, 1, 1)
    assert found.keys == ("driver_id", "event_timestamp")

    assert found.rows("added").column("driver_id").to_pylist() == [1004]
    assert found.rows("removed").column("driver_id").to_pylist() == [1003]
    changed = found.rows("changed")
    assert sorted(
        zip(changed["__side"].to_pylist(), changed["trips"].to_pylist(), strict=True)
    ) == [
        ("left", 10),
        ("right", 11),
    ]
    every = diff.rows("driver_stats")
    assert every.num_rows == 4
    assert sorted(set(every["__change"].to_pylist())) == ["added", "changed", "removed"]

    frame_ = found.to_pandas("added")
    assert isinstance(frame_, pd.DataFrame)
    assert str(frame_["trips"].dtype) == "Int64"  # integers stay integers
    assert diff.to_pandas("driver_stats").shape[0] == 4


def test_the_reverse_diff_swaps_added_and_removed(store: FeatureStore) -> None:
    changed_on_dev(store)
    back = store.diff("dev", "main")["driver_stats"]
    assert (back.added, back.removed, back.changed) == (1, 1, 1)
    assert back.rows("added").column("driver_id").to_pylist() == [1003]


def test_one_table_or_none(store: FeatureStore) -> None:
    changed_on_dev(store)
    assert store.diff("main", "dev", table="customer_stats").tables == {}
    assert list(store.diff("main", "dev", table="driver_stats").tables) == ["driver_stats"]
    with pytest.raises(NotFoundError, match="no table 'nope'"):
        store.diff("main", "dev", table="nope")
    with pytest.raises(NotFoundError, match="customer_stats"):
        store.diff("main", "dev")["customer_stats"]
    with pytest.raises(ValidationError, match="kind"):
        store.diff("main", "dev")["driver_stats"].rows("moved")  # type: ignore[arg-type]


def test_same_rows_in_other_objects_are_no_change(store: FeatureStore) -> None:
    store.ingest("driver_stats", frame(BASE[:1]))
    store.ingest("driver_stats", frame(BASE[1:]))
    store.commit("two objects")
    store.repository.branch("dev").create("main")
    assert store.compact("driver_stats", branch="dev") is not None
    assert store.tables.files("main", "driver_stats") != store.tables.files("dev", "driver_stats")
    diff = store.diff("main", "dev")
    assert diff.tables == {} and not diff.has_changes
    assert "no table rows change" in repr(diff)


def test_two_refs_compare_their_commits(store: FeatureStore) -> None:
    based(store)
    upsert(store, [(1002, h(1), h(1), 22, 0.2)])
    store.ingest("driver_stats", frame([(1009, h(9), h(9), 90, 0.9)]))  # not committed
    found = store.diff("dev", "main")["driver_stats"]
    assert (found.added, found.removed, found.changed) == (0, 0, 1)
    assert store.diff("main~1", "main").right_commit == store.resolve("main")


def test_definitions_by_field_and_code_by_line(store: FeatureStore) -> None:
    store.repository.branch("dev").create("main")
    longer = dataclasses.replace(store_defs.driver_stats, ttl=timedelta(hours=12))
    old = store_defs.driver_extras
    code = old.udf_source.replace("* 2", "* 3")
    extras = OnDemandFeatureView(
        name=old.name, sources=list(old.sources), schema=list(old.schema), udf_source=code
    )
    store.apply([longer, extras], branch="dev")
    store.commit("ttl and code", branch="dev")

    diff = store.diff("main", "dev")
    assert diff.tables == {}
    changed = {e.name: e for e in diff.definitions.changed}
    assert set(changed) == {"driver_stats", "driver_extras"}
    (ttl,) = [f for f in changed["driver_stats"].fields if f.path == "ttl"]
    assert (ttl.old, ttl.new) == ("6h", "12h")
    (entry,) = diff.code
    assert entry.name == "driver_extras"
    assert '-    out["trips_x2"] = inputs["trips"] * 2' in entry.source_diff
    assert '+    out["trips_x2"] = inputs["trips"] * 3' in entry.source_diff


def test_a_diff_shows_itself(store: FeatureStore) -> None:
    changed_on_dev(store)
    diff = store.diff("main", "dev")
    text = repr(diff)
    assert "driver_stats" in text and "added" in text and "no definitions change" in text
    assert "<table>" in diff._repr_html_()
    found = diff["driver_stats"]
    assert "1 added, 1 removed, 1 changed" in repr(found)
    assert "driver_id" in found._repr_html_()
    doc = diff.to_json(limit=2)
    (table,) = doc["tables"]
    assert (table["added"], table["removed"], table["changed"]) == (1, 1, 1)
    assert table["rows_shown"] == 2 and table["rows_total"] == 4
    assert "rows" not in diff.to_json()["tables"][0]
