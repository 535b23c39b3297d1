"""Definitions live in the repository next to the data: a branch changes both, a merge
brings both to main, every ref restores both, and breaking changes are refused."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import store_data
import store_defs
from store_data import h

from featurestore import (
    DefinitionError,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int64,
    NotFoundError,
    SchemaError,
    String,
    TableSource,
)

ratings_source = TableSource(name="driver_ratings", timestamp_field="event_timestamp")
ratings = FeatureView(
    name="driver_ratings",
    entities=[store_defs.driver],
    schema=[Field(name="stars", dtype=Int64)],
    source=ratings_source,
)
longer_ttl = FeatureView(
    name="driver_stats",
    entities=[store_defs.driver],
    ttl=timedelta(hours=12),
    schema=[Field(name="trips", dtype=Int64), Field(name="rate", dtype=Float64)],
    source=store_defs.driver_source,
)


def _new_definitions() -> list[object]:
    """Everything but the customer view and its source; a longer ttl; a ratings view."""
    keep = [
        o
        for o in store_defs.ALL
        if o not in (store_defs.customer_stats, store_defs.customer_source, store_defs.driver_stats)
    ]
    return [*keep, longer_ttl, ratings_source, ratings]


def test_branch_changes_features_and_data_together_then_merges(store: FeatureStore) -> None:
    store.ingest("driver_stats", store_data.driver_rows())
    store.commit("rows")
    store.repository.tag("before").create("main")
    old_hash = store.registry("main").hash
    store.repository.branch("ratings").create("main")

    shown = store.plan(_new_definitions(), branch="ratings", partial=False)
    assert {(e.kind, e.name) for e in shown.added} >= {
        ("feature view", "driver_ratings"),
        ("data source", "driver_ratings"),
    }
    assert [e.name for e in shown.changed] == ["driver_stats"]
    assert any("ttl" in c for c in shown.changed[0].changes)
    assert {e.name for e in shown.removed} == {"customer_stats"}
    assert not shown.breaking
    assert "to add" in str(shown)

    applied = store.apply(_new_definitions(), branch="ratings", partial=False)
    assert applied.entries == shown.entries
    store.ingest(
        "driver_ratings",
        pd.DataFrame({"driver_id": [1001, 1002], "event_timestamp": [h(1), h(2)], "stars": [5, 3]}),
        branch="ratings",
    )
    store.commit("ratings view and rows, longer ttl", branch="ratings")

    # main is untouched until the merge
    assert store.registry("main").hash == old_hash
    assert "driver_ratings" not in store.registry("main").feature_views_by_name
    ents = pd.DataFrame({"driver_id": [1001, 1002, 1003], "event_timestamp": [h(3)] * 3})
    with pytest.raises(NotFoundError, match="driver_ratings"):
        store.get_historical_features(ents, ["driver_ratings:stars"])
    on_branch = store.get_historical_features(ents, ["driver_ratings:stars"], ref="ratings")
    assert on_branch.to_arrow().column("stars").to_pylist() == [5, 3, None]

    store.repository.branch("ratings").merge_into("main")
    merged = store.registry("main")
    assert merged.hash == store.registry("ratings").hash != old_hash
    assert merged.get_feature_view("driver_stats").ttl == timedelta(hours=12)
    assert "customer_stats" not in merged.feature_views_by_name
    assert store.get_historical_features(ents, ["driver_ratings:stars"]).to_arrow().column(
        "stars"
    ).to_pylist() == [5, 3, None]
    # every older ref still restores the definitions it had
    for ref in ("before", "main~1"):
        old = store.registry(ref)
        assert old.hash == old_hash
        assert old.get_feature_view("driver_stats").ttl == store_defs.TTL
        assert "driver_ratings" not in old.feature_views_by_name
        assert "customer_stats" in old.feature_views_by_name
    # the ttl of the ref is the one that applies: 9h after the row, 6h misses, 12h finds
    late = pd.DataFrame({"driver_id": [1030], "event_timestamp": [h(39)]})
    assert store.get_historical_features(
        late, ["driver_stats:trips"], ref="before"
    ).to_arrow().column("trips").to_pylist() == [None]
    assert store.get_historical_features(late, ["driver_stats:trips"]).to_arrow().column(
        "trips"
    ).to_pylist() == [30]


def test_breaking_type_change_is_refused_and_stages_nothing(store: FeatureStore) -> None:
    store.ingest("driver_stats", store_data.driver_rows())
    store.commit("rows")
    before = store.registry("main").hash
    broken = FeatureView(
        name="driver_stats",
        entities=[store_defs.driver],
        ttl=store_defs.TTL,
        schema=[Field(name="trips", dtype=String), Field(name="rate", dtype=Float64)],
        source=store_defs.driver_source,
    )
    shown = store.plan([*_new_definitions()[:-3], broken], partial=False)
    assert shown.breaking and "trips" in " ".join(shown.breaking)
    with pytest.raises(SchemaError, match="trips"):
        store.apply([broken, ratings_source, ratings])
    main = store.repository.branch("main")
    assert list(main.uncommitted()) == []
    assert store.registry("main").hash == before
    assert "driver_ratings" not in store.tables.tables(main)


def test_apply_is_idempotent(store: FeatureStore) -> None:
    again = store.apply(store_defs.ALL)
    assert not again.has_changes
    assert list(store.repository.branch("main").uncommitted()) == []


def test_a_partial_apply_replaces_embedded_definitions_as_feast_does(store: FeatureStore) -> None:
    """The objects given win: a view re-applied with a changed source replaces the stored
    source, and the other stored views over that source (and entity) read the new ones."""
    rates = FeatureView(
        name="driver_rates",
        entities=[store_defs.driver],
        schema=[Field(name="rate", dtype=Float64)],
        source=store_defs.driver_source,
    )
    store.apply([*store_defs.ALL, rates])
    store.commit("definitions")
    described = TableSource(
        name="driver_stats",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
        description="hourly driver stats",
        tags={"team": "ops"},
    )
    driver = store_defs.driver
    noted = type(driver)(
        name=driver.name,
        join_keys=list(driver.join_keys),
        value_type=driver.value_type,
        description="a driver",
    )
    changed = FeatureView(
        name="driver_stats",
        entities=[noted],
        ttl=store_defs.driver_stats.ttl,
        schema=list(store_defs.driver_stats.schema),
        source=described,
    )
    store.apply([changed])
    registry = store.registry("main")
    assert registry.data_sources_by_name["driver_stats"] == described
    assert registry.entities_by_name["driver"].description == "a driver"
    kept = registry.feature_views_by_name["driver_rates"]
    assert kept.source == described and kept.entities[0].description == "a driver"
    # nothing else was dropped
    names = {o.name for o in registry.objects}
    assert names >= {"customer_stats", "driver_trips", "driver_extras", "driver_service", "bonus"}
    # a conflict among the given objects themselves is still refused
    other = TableSource(name="driver_stats", timestamp_field="event_timestamp")
    clash = FeatureView(
        name="driver_rates",
        entities=[driver],
        schema=[Field(name="rate", dtype=Float64)],
        source=other,
    )
    with pytest.raises(DefinitionError, match="two different"):
        store.apply([changed, clash])


def test_plan_shows_what_the_same_apply_would_do(store: FeatureStore) -> None:
    partial = store.plan([longer_ttl])  # as store.apply([longer_ttl]): the rest stays
    assert [e.name for e in partial.changed] == ["driver_stats"] and partial.removed == ()
    full = store.plan([longer_ttl], partial=False)  # as featurestore plan: the full set
    assert {e.name for e in full.removed} >= {"customer_stats"}
    applied = store.apply([longer_ttl])
    assert [e.name for e in applied.changed] == [e.name for e in partial.changed]
    assert applied.removed == partial.removed == ()
