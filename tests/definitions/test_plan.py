"""plan() lists what apply adds, changes and removes; check_breaking() what would break data."""

from __future__ import annotations

import io
from datetime import timedelta

from definitions_sample import (
    ALL,
    conv_plus_val,
    customer,
    driver,
    service,
    stats,
    stats_source,
    trips,
)
from rich.console import Console

from featurestore.definitions import Entity, FeatureView, Field, TableSource
from featurestore.registry import Registry, check_breaking, plan
from featurestore.types import Float32, Float64, Int64, String


def _stats(**kw: object) -> FeatureView:
    args: dict[str, object] = {
        "name": stats.name,
        "entities": stats.entities,
        "schema": stats.schema,
        "source": stats.source,
        "ttl": stats.ttl,
        "tags": stats.tags,
    }
    args.update(kw)
    return FeatureView(**args)  # type: ignore[arg-type]


def _without(*objs: object) -> list[object]:
    return [o for o in ALL if all(o is not x for x in objs)]


def test_everything_is_added_to_an_empty_registry() -> None:
    p = plan(None, ALL)
    assert {(e.kind, e.name) for e in p.added} == {
        ("entity", "driver"),
        ("entity", "customer"),
        ("data source", "driver_stats"),
        ("data source", "trips"),
        ("data source", "driver_push"),
        ("data source", "req"),
        ("feature view", "driver_hourly_stats"),
        ("feature view", "trips_agg"),
        ("on-demand feature view", "conv_plus_val"),
        ("feature service", "driver_activity"),
    }
    assert not p.changed and not p.removed and not p.breaking
    assert p.registry == Registry(ALL)


def test_no_changes() -> None:
    p = plan(Registry(ALL), ALL)
    assert not p.has_changes
    assert str(p) == "No changes: the definitions are up to date."


def test_changed_fields_are_named() -> None:
    new_stats = _stats(
        ttl=timedelta(days=2),
        schema=[*stats.schema[:4], Field(name="new_rate", dtype=Float32)],
        description="hourly",
    )
    p = plan(Registry(ALL), [*_without(stats, service, conv_plus_val), new_stats])
    changed = {e.name: e.changes for e in p.changed}
    assert set(changed) == {"driver_hourly_stats"}
    assert changed["driver_hourly_stats"] == (
        "description",
        "+schema[new_rate]",
        "-schema[tags_seen]",
        "ttl",
    )
    assert {e.name for e in p.removed} == {"conv_plus_val", "driver_activity"}
    assert p.breaking == ()


def test_dtype_change_is_named_and_breaking() -> None:
    fields = [
        Field(name="conv_rate", dtype=Float64) if f.name == "conv_rate" else f for f in stats.schema
    ]
    p = plan(Registry(ALL), [*_without(stats), _stats(schema=fields)])
    assert [e.changes for e in p.changed if e.name == "driver_hourly_stats"] == [
        ("schema[conv_rate].dtype",)
    ]
    assert p.breaking == (
        "feature view 'driver_hourly_stats': field 'conv_rate' changes type from Float32 to Float64",
    )
    assert "Breaking changes (refused)" in str(p)


def test_text_and_rich_output() -> None:
    old = Registry(_without(trips, customer))
    p = plan(old, ALL)
    text = str(p)
    rows = [line.split() for line in text.splitlines()]
    assert rows[0] == ["action", "kind", "name", "changes"]
    assert ["added", "entity", "customer"] in rows
    assert ["added", "feature", "view", "trips_agg"] in rows
    assert text.splitlines()[-1] == "3 to add, 0 to change, 0 to remove."
    buf = io.StringIO()
    Console(file=buf, width=120, color_system=None).print(p)
    rendered = buf.getvalue()
    assert "featurestore plan" in rendered
    assert "trips_agg" in rendered and "3 to add" in rendered


def test_breaking_changes() -> None:
    old = Registry(ALL)
    new_driver = Entity(name="driver", join_keys=["driver_id"], value_type=String)
    keys_driver = Entity(name="driver", join_keys=["id"])
    new_source = TableSource(
        name="driver_stats", timestamp_field="ts", created_timestamp_column=None
    )
    fields = [f for f in stats.schema if f.name != "driver_id"]

    assert check_breaking(None, old) == []
    assert check_breaking(old, old) == []
    reasons = check_breaking(
        old,
        Registry(
            [
                *_without(stats, service, conv_plus_val, trips, driver),
                _stats(entities=[new_driver], schema=fields),
            ]
        ),
    )
    assert reasons == ["entity 'driver': join key type changes from Int64 to String"]
    reasons = check_breaking(
        old,
        Registry(
            [
                *_without(stats, service, conv_plus_val, trips, driver),
                _stats(entities=[keys_driver], schema=fields),
            ]
        ),
    )
    assert reasons == [
        "entity 'driver': join keys change from ['driver_id'] to ['id']",
        "feature view 'driver_hourly_stats': join keys change from ['driver_id'] to ['id']",
    ]
    other = _without(stats, service, conv_plus_val, trips, stats_source)
    other = [o for o in other if getattr(o, "name", "") != "driver_push"]
    reasons = check_breaking(old, Registry([*other, _stats(source=new_source)]))
    assert reasons == [
        "source 'driver_stats': timestamp field changes from 'event_timestamp' to 'ts'",
        "source 'driver_stats': created timestamp column changes from 'created' to None",
    ]
    join_key_retyped = [
        Field(name="driver_id", dtype=String) if f.name == "driver_id" else f for f in stats.schema
    ]
    loose_driver = Entity(name="driver", join_keys=["driver_id"])
    reasons = check_breaking(
        old,
        Registry(
            [
                *_without(stats, service, conv_plus_val, trips, driver),
                _stats(entities=[loose_driver], schema=join_key_retyped),
            ]
        ),
    )
    assert (
        "feature view 'driver_hourly_stats': join key 'driver_id' changes type from Int64 to String"
        in reasons
    )


def test_removal_and_new_fields_are_not_breaking() -> None:
    old = Registry(ALL)
    grown = _stats(schema=[*stats.schema, Field(name="extra", dtype=Int64)])
    assert check_breaking(old, Registry([grown])) == []
