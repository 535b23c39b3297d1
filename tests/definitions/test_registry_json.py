"""The registry serializes to canonical JSON and back, equal, with a stable hash."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from definitions_sample import ALL, conv_plus_val, driver, service, stats, stats_source, trips
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.definitions import (
    Aggregation,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    TableSource,
    parse_feature_refs,
)
from featurestore.errors import DefinitionError, NotFoundError, ValidationError
from featurestore.registry import Registry
from featurestore.types import Array, Bool, Float32, Float64, Int32, Int64, String, UnixTimestamp


def test_round_trip_is_equal_and_byte_identical() -> None:
    reg = Registry(ALL)
    raw = reg.to_json()
    back = Registry.from_json(raw)
    assert back == reg
    assert back.to_json() == raw
    assert back.hash == reg.hash
    assert back.get_feature_view("driver_hourly_stats") == stats
    assert back.get_feature_view("trips_agg") == trips
    assert back.get_on_demand_feature_view("conv_plus_val") == conv_plus_val
    assert back.get_feature_service("driver_activity") == service


def test_hash_does_not_depend_on_order_and_changes_with_content() -> None:
    shuffled = list(ALL)
    random.Random(7).shuffle(shuffled)
    assert Registry(shuffled).hash == Registry(ALL).hash
    changed = FeatureView(
        name=stats.name,
        entities=stats.entities,
        schema=stats.schema,
        source=stats.source,
        ttl=timedelta(days=2),
        tags=stats.tags,
    )
    others = [o for o in ALL if o not in (stats, service, conv_plus_val)]
    assert Registry([*others, changed]).hash != Registry([*others, stats]).hash


def test_json_is_canonical() -> None:
    raw = Registry(ALL).to_json()
    data = json.loads(raw)
    assert (
        raw == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert [e["name"] for e in data["entities"]] == ["customer", "driver"]
    assert data["feature_views"][0]["ttl"] == "1d"
    assert data["feature_views"][1]["aggregations"][2]["time_window"] == "90m"


def test_embedded_objects_are_registered() -> None:
    reg = Registry([stats])
    assert reg.entities == (driver,)
    assert reg.data_sources == (stats_source,)


def test_conflicting_definitions_with_one_name_are_refused() -> None:
    other_driver = Entity(name="driver", join_keys=["id"])
    with pytest.raises(
        DefinitionError, match="two different entity definitions are named 'driver'"
    ):
        Registry([stats, other_driver])


def test_view_and_on_demand_view_share_a_namespace() -> None:
    clash = FeatureView(
        name="conv_plus_val",
        entities=[driver],
        schema=[Field(name="a", dtype=Int64)],
        source=stats_source,
    )
    with pytest.raises(DefinitionError, match="both named 'conv_plus_val'"):
        Registry([*ALL, clash])


def test_service_with_unknown_view_is_refused_at_apply() -> None:
    with pytest.raises(
        DefinitionError, match="uses view 'driver_hourly_stats', which is not defined"
    ):
        Registry([FeatureService(name="s", features=[stats])])


def test_service_with_stale_feature_is_refused_at_apply() -> None:
    narrowed = FeatureView(
        name=stats.name,
        entities=[driver],
        schema=[Field(name="acc_rate", dtype=Float32)],
        source=stats_source,
    )
    with pytest.raises(DefinitionError, match="no feature 'conv_rate'"):
        Registry([narrowed, FeatureService(name="s", features=[stats[["conv_rate"]]])])


def test_malformed_json_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="malformed"):
        Registry.from_json(b"{not json")
    with pytest.raises(DefinitionError, match="format_version"):
        Registry.from_json(b'{"format_version": 99}')


def test_lookups_name_close_matches() -> None:
    reg = Registry(ALL)
    with pytest.raises(NotFoundError, match="did you mean 'driver_hourly_stats'"):
        reg.get_feature_view("driver_hourly_stat")
    assert reg.feature_views_of_source("driver_push") == (stats,)
    assert reg.get_view("conv_plus_val") is reg.on_demand_feature_views[0]
    assert Registry().is_empty


def test_parse_feature_refs() -> None:
    reg = Registry(ALL)
    assert parse_feature_refs(
        ["driver_hourly_stats:conv_rate", "trips_agg:amount_sum_1h"], reg
    ) == [
        ("driver_hourly_stats", "conv_rate"),
        ("trips_agg", "amount_sum_1h"),
    ]
    assert parse_feature_refs(service, reg) == [
        ("driver_hourly_stats", "conv_rate"),
        ("driver_hourly_stats", "acc_rate"),
        ("conv_plus_val", "conv_plus_val"),
    ]
    assert [f for _, f in parse_feature_refs(["trips_agg:*"], reg)] == [
        "amount_sum_1h",
        "distance_count_7d",
        "distance_max_90m",
    ]
    with pytest.raises(NotFoundError, match="no feature 'conv_rat' \\(did you mean 'conv_rate'"):
        parse_feature_refs(["driver_hourly_stats:conv_rat"], reg)
    with pytest.raises(NotFoundError, match=r"no feature view 'driver_stats' .*did you mean"):
        parse_feature_refs(["driver_stats:conv_rate"], reg)
    with pytest.raises(ValidationError, match="must look like 'view:feature'"):
        parse_feature_refs(["conv_rate"], reg)
    with pytest.raises(ValidationError, match="wrap it in a list"):
        parse_feature_refs("driver_hourly_stats:conv_rate", reg)  # type: ignore[arg-type]


names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
dtypes = st.sampled_from([Int32, Int64, Float32, Float64, String, Bool, UnixTimestamp]).flatmap(
    lambda t: st.sampled_from([t, Array(t)])
)
texts = st.text(max_size=12)


@st.composite
def views(draw: st.DrawFn) -> list[object]:
    n = draw(st.integers(1, 3))
    ents = [
        Entity(
            name=f"e{i}",
            join_keys=[f"k{i}"],
            description=draw(texts),
            tags=draw(st.dictionaries(names, texts, max_size=2)),
        )
        for i in range(n)
    ]
    out: list[object] = []
    for v in range(draw(st.integers(1, 3))):
        fnames = draw(st.lists(names, min_size=1, max_size=5, unique=True))
        fields = [Field(name=f"f_{f}", dtype=draw(dtypes), description=draw(texts)) for f in fnames]
        source = TableSource(
            name=f"src{v}",
            timestamp_field="ts",
            created_timestamp_column=draw(st.sampled_from([None, "created"])),
            field_mapping={k: "m_" + k for k in draw(st.lists(names, max_size=2, unique=True))},
        )
        numeric = [f for f in fields if f.dtype in (Int32, Int64, Float32, Float64)]
        aggs = []
        if numeric and draw(st.booleans()):
            aggs = [
                Aggregation(
                    column=numeric[0].name,
                    function=draw(
                        st.sampled_from(["count", "sum", "mean", "min", "max", "stddev", "last"])
                    ),
                    time_window=timedelta(seconds=draw(st.integers(1, 10**7))),
                )
            ]
        ttl = draw(
            st.one_of(
                st.none(), st.integers(1000, 10**9).map(lambda us: timedelta(microseconds=us))
            )
        )
        # a windowed view aggregates per entity, so it has at least one
        view_entities = draw(
            st.lists(st.sampled_from(ents), min_size=1 if aggs else 0, max_size=n, unique=True)
        )
        out.append(
            FeatureView(
                name=f"view{v}",
                entities=view_entities,
                schema=fields,
                source=source,
                ttl=ttl,
                online=draw(st.booleans()),
                aggregations=aggs,
                tags=draw(st.dictionaries(names, texts, max_size=2)),
                description=draw(texts),
                owner=draw(texts),
            )
        )
    return [*ents, *out]


@settings(max_examples=60, deadline=None)
@given(views())
def test_round_trip_of_generated_registries(objects: list[object]) -> None:
    reg = Registry(objects)
    back = Registry.from_json(reg.to_json())
    assert back == reg
    assert back.hash == reg.hash
    assert Registry(list(reversed(objects))).hash == reg.hash
