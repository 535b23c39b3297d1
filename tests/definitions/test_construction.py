"""Definitions are keyword-only, immutable and validated when constructed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest
from definitions_sample import customer, driver, request, stats, stats_source, trips

from featurestore.definitions import (
    Aggregation,
    Entity,
    FeatureService,
    FeatureView,
    FeatureViewProjection,
    Field,
    PushSource,
    RequestSource,
    TableSource,
)
from featurestore.errors import DefinitionError
from featurestore.types import Array, Bytes, Float32, Float64, Int64, String

F = Field(name="x", dtype=Int64)


def _fv(**kw: object) -> FeatureView:
    args: dict[str, object] = {
        "name": "v",
        "entities": [driver],
        "schema": [Field(name="conv_rate", dtype=Float32)],
        "source": stats_source,
    }
    args.update(kw)
    return FeatureView(**args)  # type: ignore[arg-type]


BAD: list[tuple[str, Callable[[], object], str]] = [
    ("entity bad name", lambda: Entity(name="my driver"), "'my driver' is not a valid name"),
    ("entity empty join keys", lambda: Entity(name="d", join_keys=[]), "has no join keys"),
    ("entity join keys string", lambda: Entity(name="d", join_keys="driver_id"), "must be a list"),
    ("entity dup join keys", lambda: Entity(name="d", join_keys=["a", "a"]), "'a' twice"),
    ("entity bad join key", lambda: Entity(name="d", join_keys=["1a"]), "join key '1a'"),
    ("entity bad value type", lambda: Entity(name="d", value_type=int), "value_type"),  # type: ignore[arg-type]
    ("field bad name", lambda: Field(name="a-b", dtype=Int64), "'a-b' is not a valid name"),
    ("field bad dtype", lambda: Field(name="a", dtype="Int64"), "dtype must be a type"),  # type: ignore[arg-type]
    ("field bad tags", lambda: Field(name="a", dtype=Int64, tags={"k": 1}), "strings to strings"),  # type: ignore[dict-item]
    ("source bad ts", lambda: TableSource(name="s", timestamp_field=""), "timestamp_field ''"),
    (
        "source same ts columns",
        lambda: TableSource(name="s", timestamp_field="t", created_timestamp_column="t"),
        "must be different columns",
    ),
    (
        "source bad table",
        lambda: TableSource(name="s", timestamp_field="t", table="../x"),
        "not a valid table",
    ),
    ("push bad batch", lambda: PushSource(name="p", batch_source="s"), "must be a TableSource"),  # type: ignore[arg-type]
    ("request empty", lambda: RequestSource(name="r", schema=[]), "empty schema"),
    ("request dup", lambda: RequestSource(name="r", schema=[F, F]), "'x' twice"),
    ("view bad name", lambda: _fv(name="v:1"), "'v:1' is not a valid name"),
    ("view dup fields", lambda: _fv(schema=[F, F]), "schema has the name 'x' twice"),
    ("view ttl under 1 ms", lambda: _fv(ttl=timedelta(microseconds=999)), "under a millisecond"),
    ("view ttl negative", lambda: _fv(ttl=timedelta(hours=-1)), "ttl must be positive"),
    ("view ttl int", lambda: _fv(ttl=3600), "ttl must be a datetime.timedelta"),
    ("view no source", lambda: _fv(source=None), "source must be a TableSource or PushSource"),
    (
        "view request source",
        lambda: _fv(source=request),
        "source must be a TableSource or PushSource",
    ),
    (
        "view timestamp as field",
        lambda: _fv(schema=[Field(name="event_timestamp", dtype=Int64)]),
        "'event_timestamp' is the timestamp field",
    ),
    (
        "view created as field",
        lambda: _fv(schema=[Field(name="created", dtype=Int64)]),
        "'created' is the created timestamp column",
    ),
    (
        "view join key type clash",
        lambda: _fv(schema=[Field(name="driver_id", dtype=String)]),
        "join key of type Int64 in its entity but String",
    ),
    (
        "view dup entities",
        lambda: _fv(entities=[driver, driver]),
        "entities has the name 'driver' twice",
    ),
    (
        "view shared join key",
        lambda: _fv(entities=[driver, Entity(name="d2", join_keys=["driver_id"])]),
        "share a join key",
    ),
    ("view entity not entity", lambda: _fv(entities=["driver"]), "must hold Entity objects"),
    ("view online not bool", lambda: _fv(online="yes"), "online must be True or False"),
    (
        "agg unknown function",
        lambda: Aggregation(column="a", function="median", time_window=timedelta(hours=1)),
        "unknown function 'median'",
    ),
    (
        "agg zero window",
        lambda: Aggregation(column="a", function="sum", time_window=timedelta(0)),
        "time_window must be positive",
    ),
    (
        "agg on missing column",
        lambda: _fv(
            aggregations=[
                Aggregation(column="amount", function="sum", time_window=timedelta(hours=1))
            ]
        ),
        "reads column 'amount', which is not in the schema",
    ),
    (
        "agg on join key",
        lambda: _fv(
            aggregations=[
                Aggregation(column="driver_id", function="count", time_window=timedelta(hours=1))
            ]
        ),
        "reads join key 'driver_id'",
    ),
    (
        "agg sum of string",
        lambda: _fv(
            schema=[Field(name="s", dtype=String)],
            aggregations=[Aggregation(column="s", function="sum", time_window=timedelta(hours=1))],
        ),
        "sum needs a numeric column",
    ),
    (
        "agg max of bytes",
        lambda: _fv(
            schema=[Field(name="b", dtype=Bytes)],
            aggregations=[Aggregation(column="b", function="max", time_window=timedelta(hours=1))],
        ),
        "max needs an orderable column",
    ),
    (
        "agg output is join key",
        lambda: _fv(
            aggregations=[
                Aggregation(
                    column="conv_rate",
                    function="max",
                    time_window=timedelta(hours=1),
                    name="driver_id",
                )
            ],
        ),
        "also a join key or timestamp",
    ),
    (
        "agg dup outputs",
        lambda: _fv(
            aggregations=[
                Aggregation(column="conv_rate", function="max", time_window=timedelta(hours=1)),
                Aggregation(column="conv_rate", function="max", time_window=timedelta(minutes=60)),
            ],
        ),
        "'conv_rate_max_1h' twice",
    ),
    (
        "projection unknown",
        lambda: stats[["conv_rat"]],
        "no feature 'conv_rat' \\(did you mean 'conv_rate'",
    ),
    ("projection of join key", lambda: stats[["driver_id"]], "no feature 'driver_id'"),
    ("service empty", lambda: FeatureService(name="s", features=[]), "has no features"),
    (
        "service not view",
        lambda: FeatureService(name="s", features=["driver_hourly_stats:conv_rate"]),
        "must hold",
    ),
    (
        "service duplicate",
        lambda: FeatureService(name="s", features=[stats, stats[["conv_rate"]]]),
        "driver_hourly_stats:conv_rate more than once",
    ),
]


@pytest.mark.parametrize(("case", "build", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_a_message(
    case: str, build: Callable[[], object], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message):
        build()


def test_constructors_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Entity("driver")  # type: ignore[misc]
    with pytest.raises(TypeError):
        Field("x", Int64)  # type: ignore[misc]


def test_definitions_are_immutable_and_hashable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        stats.tags["team"] = "x"  # type: ignore[index]
    assert len({stats, trips, driver, customer}) == 4
    assert stats.entities == (driver,)
    assert isinstance(stats.schema, tuple)


def test_entity_defaults_to_a_join_key_named_like_it() -> None:
    assert Entity(name="user").join_keys == ("user",)
    assert Entity(name="user").join_key == "user"
    with pytest.raises(DefinitionError, match="has 2 join keys"):
        _ = Entity(name="pair", join_keys=["a", "b"]).join_key


def test_table_defaults_to_source_name() -> None:
    assert TableSource(name="s", timestamp_field="t").table == "s"
    assert TableSource(name="s", timestamp_field="t", table="raw/s.v2").table == "raw/s.v2"


def test_feature_view_helpers() -> None:
    assert stats.join_keys == ("driver_id",)
    assert [f.name for f in stats.features] == [
        "conv_rate",
        "acc_rate",
        "avg_daily_trips",
        "tags_seen",
    ]
    assert stats.features[3].dtype == Array(String)
    assert [(f.name, f.dtype) for f in stats.entity_columns] == [("driver_id", Int64)]
    assert trips.join_keys == ("driver_id", "customer_id")
    # customer has no value type and trips has no customer_id field: its type comes from data
    assert [f.name for f in trips.entity_columns] == ["driver_id"]
    assert not stats.is_aggregation
    assert stats.max_window is None


def test_aggregation_view_features_are_the_outputs() -> None:
    assert trips.is_aggregation
    assert [(f.name, f.dtype) for f in trips.features] == [
        ("amount_sum_1h", Float64),
        ("distance_count_7d", Int64),
        ("distance_max_90m", Int64),
    ]
    assert [f.name for f in trips.raw_columns] == ["amount", "distance"]
    assert trips.max_window == timedelta(days=7)
    named = Aggregation(
        column="a", function="mean", time_window=timedelta(seconds=30), name="avg_a"
    )
    assert named.name == "avg_a"
    assert (
        Aggregation(column="a", function="last", time_window=timedelta(milliseconds=1500)).name
        == "a_last_1500ms"
    )


def test_projection_selects_features_in_the_given_order() -> None:
    p = stats[["acc_rate", "conv_rate"]]
    assert p == FeatureViewProjection(
        name="driver_hourly_stats", features=[stats.features[1], stats.features[0]]
    )
    assert p.feature_refs == ("driver_hourly_stats:acc_rate", "driver_hourly_stats:conv_rate")
    assert stats["conv_rate"].feature_names == ("conv_rate",)


def test_service_normalizes_views_to_projections() -> None:
    s = FeatureService(name="s", features=[trips, stats[["conv_rate"]]])
    assert s.feature_refs == (
        "trips_agg:amount_sum_1h",
        "trips_agg:distance_count_7d",
        "trips_agg:distance_max_90m",
        "driver_hourly_stats:conv_rate",
    )


def test_arrow_dtypes_are_accepted() -> None:
    import pyarrow as pa

    assert Field(name="a", dtype=pa.float32()).dtype == Float32
    assert Field(name="a", dtype=Float32).to_arrow() == pa.field("a", pa.float32())
