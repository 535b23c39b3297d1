"""Every argument of Feast 0.67's definition constructors is an argument of ours.

Each one is implemented, kept in the registry, or refused with a DefinitionError when
its meaning cannot be honoured; ``EXCLUDED`` lists the deliberate exceptions with why.
The round-trip test below stores the kept ones and reads them back.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import featurestore as fs
from featurestore.definitions.serialization import to_dict
from featurestore.registry import Registry

feast = pytest.importorskip("feast")
from feast.feature_logging import LoggingConfig as FeastLoggingConfig  # noqa: E402
from feast.infra.offline_stores.file_source import (  # noqa: E402
    FileLoggingDestination as FeastFileLoggingDestination,
)
from feast.on_demand_feature_view import (  # noqa: E402
    on_demand_feature_view as feast_on_demand_feature_view,
)

PAIRS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "Entity": (feast.Entity.__init__, fs.Entity.__init__),
    "Field": (feast.Field.__init__, fs.Field.__init__),
    "FeatureView": (feast.FeatureView.__init__, fs.FeatureView.__init__),
    "LabelView": (feast.LabelView.__init__, fs.LabelView.__init__),
    "FeatureService": (feast.FeatureService.__init__, fs.FeatureService.__init__),
    "FileSource": (feast.FileSource.__init__, fs.FileSource.__init__),
    "PushSource": (feast.PushSource.__init__, fs.PushSource.__init__),
    "RequestSource": (feast.RequestSource.__init__, fs.RequestSource.__init__),
    "Project": (feast.Project.__init__, fs.Project.__init__),
    "LoggingConfig": (FeastLoggingConfig.__init__, fs.LoggingConfig.__init__),
    "FileLoggingDestination": (
        FeastFileLoggingDestination.__init__,
        fs.FileLoggingDestination.__init__,
    ),
    "on_demand_feature_view": (feast_on_demand_feature_view, fs.on_demand_feature_view),
    "OnDemandFeatureView": (feast.OnDemandFeatureView.__init__, fs.OnDemandFeatureView.__init__),
    "FeatureStore": (feast.FeatureStore.__init__, fs.FeatureStore.__init__),
}

EXCLUDED: dict[tuple[str, str], str] = {
    ("OnDemandFeatureView", "udf_string"): (
        "the class is built by on_demand_feature_view, which reads the function's source "
        "itself (stored as udf_source)"
    ),
    ("OnDemandFeatureView", "feature_transformation"): (
        "Feast's Transformation objects are not a definition here; the function is the "
        "transformation"
    ),
}


def identity(df: Any) -> Any:
    return df


def _names(fn: Callable[..., Any]) -> list[str]:
    return [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


@pytest.mark.parametrize("what", sorted(PAIRS))
def test_every_feast_argument_is_accepted(what: str) -> None:
    theirs, ours = PAIRS[what]
    missing = [n for n in _names(theirs) if n not in _names(ours) and (what, n) not in EXCLUDED]
    assert missing == [], f"{what} lacks Feast's argument(s) {missing}"


def test_exclusions_are_still_needed() -> None:
    for what, name in EXCLUDED:
        theirs, ours = PAIRS[what]
        assert name in _names(theirs) and name not in _names(ours), (what, name)


def test_feature_store_takes_feasts_positional_order() -> None:
    ours = _names(fs.FeatureStore.__init__)
    assert ours[:4] == _names(feast.FeatureStore.__init__)


def _definitions() -> list[object]:
    driver = fs.Entity(
        name="driver",
        join_keys=["driver_id"],
        value_type=fs.Int64,
        description="a driver",
        tags={"team": "a"},
        owner="ops@example.com",
    )
    batch = fs.TableSource(name="stats", timestamp_field="ts")
    push = fs.PushSource(
        name="stats_push", batch_source=batch, description="d", tags={"k": "v"}, owner="o"
    )
    request = fs.RequestSource(
        name="req",
        schema=[fs.Field(name="x", dtype=fs.Float64)],
        timestamp_field="request_ts",
        description="d",
        tags={"k": "v"},
        owner="o",
    )
    view = fs.FeatureView(
        name="stats_view",
        entities=[driver],
        schema=[
            fs.Field(
                name="emb",
                dtype=fs.Array(fs.Float32),
                vector_index=True,
                vector_length=3,
                vector_search_metric="COSINE",
                description="an embedding",
                tags={"k": "v"},
            ),
            fs.Field(name="rate", dtype=fs.Float64),
        ],
        source=push,
        ttl=timedelta(days=1),
        enabled=False,
    )

    @fs.on_demand_feature_view(
        sources=[view[["rate"]], request],
        schema=[fs.Field(name="scaled", dtype=fs.Float64)],
        mode="python",
        entities=[driver],
        input_schema=[fs.Field(name="rate", dtype=fs.Float64)],
        write_to_online_store=True,
        singleton=True,
        track_metrics=True,
        version="v2",
        org="org",
        description="scaled rate",
        tags={"k": "v"},
        owner="o",
    )
    def scaled(row: dict[str, Any]) -> dict[str, Any]:
        return {"scaled": row["rate"] * row["x"]}

    service = fs.FeatureService(name="svc", features=[view[["rate"]]], precompute_online=True)
    project = fs.Project(
        name="p",
        created_timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        last_updated_timestamp=datetime(2024, 1, 2, tzinfo=UTC),
    )
    return [project, driver, batch, push, request, view, scaled, service]


def test_kept_arguments_survive_the_registry_round_trip() -> None:
    registry = Registry(_definitions())
    back = Registry.from_json(registry.to_json(), trust=lambda source: True)
    assert back.hash == registry.hash
    push = back.data_sources_by_name["stats_push"]
    assert isinstance(push, fs.PushSource) and push.owner == "o"
    request = back.data_sources_by_name["req"]
    assert isinstance(request, fs.RequestSource)
    assert (request.timestamp_field, request.owner) == ("request_ts", "o")
    view = back.feature_views_by_name["stats_view"]
    emb = {f.name: f for f in view.schema}["emb"]
    assert (emb.vector_index, emb.vector_length, emb.vector_search_metric) == (True, 3, "COSINE")
    assert view.enabled is False
    odfv = back.on_demand_feature_views_by_name["scaled"]
    assert odfv.entities == ("driver",) and odfv.singleton and odfv.write_to_online_store
    assert odfv.track_metrics and (odfv.version, odfv.org) == ("v2", "org")
    assert [f.name for f in odfv.input_schema] == ["rate"]
    assert back.feature_services_by_name["svc"].precompute_online is True
    assert back.project is not None
    assert back.project.last_updated_timestamp == datetime(2024, 1, 2, tzinfo=UTC)


def test_defaults_leave_the_registry_bytes_as_they_were() -> None:
    """Definitions without Feast's extra arguments serialize exactly the base keys."""
    batch = fs.TableSource(name="t", timestamp_field="ts")
    field = fs.Field(name="a", dtype=fs.Int64)
    view = fs.FeatureView(name="v", entities=[], schema=[field], source=batch)
    base = {"name", "dtype", "description", "tags"}
    assert set(to_dict(view)["schema"][0]) == base
    push = to_dict(fs.PushSource(name="p", batch_source=batch))
    assert set(push) == {"kind", "name", "batch_source", "description", "tags"}
    assert "enabled" not in to_dict(view)
    service = to_dict(fs.FeatureService(name="s", features=[view]))
    assert "precompute_online" not in service


def test_singleton_python_mode_runs_once_per_row() -> None:
    odfv = next(o for o in _definitions() if isinstance(o, fs.OnDemandFeatureView))
    out = odfv.transform_dict({"rate": [1.0, 2.0], "x": [10.0, 0.5]})
    assert out == {"scaled": [10.0, 1.0]}


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda: fs.FeatureView(
                name="v",
                source=fs.TableSource(name="t", timestamp_field="ts"),
                sink_source=fs.TableSource(name="u", timestamp_field="ts"),
            ),
            "sink_source",
        ),
        (
            lambda: fs.FeatureView(
                name="v", source=fs.TableSource(name="t", timestamp_field="ts"), mode="python"
            ),
            "on_demand_feature_view",
        ),
        (
            lambda: fs.FileSource(
                path="data/x.parquet", timestamp_field="ts", s3_endpoint_override="http://s3"
            ),
            "s3_endpoint_override",
        ),
        (
            lambda: fs.on_demand_feature_view(
                sources=[fs.RequestSource(name="r", schema=[fs.Field(name="x", dtype=fs.Int64)])],
                schema=[fs.Field(name="y", dtype=fs.Int64)],
                explode=True,
            ),
            "explode",
        ),
        (
            lambda: fs.on_demand_feature_view(
                sources=[fs.RequestSource(name="r", schema=[fs.Field(name="x", dtype=fs.Int64)])],
                schema=[fs.Field(name="y", dtype=fs.Int64)],
                mode="substrait",  # type: ignore[arg-type]
            ),
            "'pandas' or 'python'",
        ),
        (
            lambda: fs.on_demand_feature_view(
                sources=[fs.RequestSource(name="r", schema=[fs.Field(name="x", dtype=fs.Int64)])],
                schema=[fs.Field(name="y", dtype=fs.Int64)],
                aggregations=[object()],
            )(identity),
            "aggregations",
        ),
        (
            lambda: fs.on_demand_feature_view(
                sources=[fs.RequestSource(name="r", schema=[fs.Field(name="x", dtype=fs.Int64)])],
                schema=[fs.Field(name="y", dtype=fs.Int64)],
                singleton=True,
            )(identity),
            "singleton=True needs mode='python'",
        ),
    ],
)
def test_arguments_that_would_change_results_are_refused(
    build: Callable[[], object], match: str
) -> None:
    with pytest.raises(fs.DefinitionError, match=match):
        build()
