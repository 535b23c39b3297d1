"""Feast's definition names and arguments: accepted, typed like Feast, kept by the registry."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

import featurestore as fs
from featurestore.errors import DefinitionError
from featurestore.registry import Registry
from featurestore.types import parse_type


def _sample() -> list[object]:
    driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.ValueType.INT64)
    source = fs.FileSource(
        name="stats_source",
        path="data/stats.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
        field_mapping={"raw_rate": "conv_rate"},
    )
    stats = fs.FeatureView(
        name="stats",
        entities=[driver],
        ttl=timedelta(0),
        schema=[
            fs.Field(name="conv_rate", dtype=fs.Float32),
            fs.Field(name="meta", dtype=fs.Map),
            fs.Field(name="config", dtype=fs.Json),
            fs.Field(name="profile", dtype=fs.Struct({"name": fs.String, "age": fs.Int64})),
        ],
        source=source,
        online=True,
        tags={"team": "drivers"},
        enable_validation=True,
        version="v2",
    )
    labels = fs.LabelView(
        name="labels",
        entities=[driver],
        schema=[
            fs.Field(name="score", dtype=fs.Float32),
            fs.Field(name="labeler", dtype=fs.String),
        ],
        source=fs.PushSource(
            name="labels_push",
            batch_source=fs.FileSource(path="data/labels.parquet", timestamp_field="ts"),
        ),
        labeler_field="labeler",
        conflict_policy=fs.ConflictPolicy.LAST_WRITE_WINS,
        description="human labels",
    )
    service = fs.FeatureService(
        name="svc",
        features=[stats[["conv_rate"]], labels],
        logging_config=fs.LoggingConfig(
            destination=fs.FileLoggingDestination(path="logs"), sample_rate=0.5
        ),
    )
    project = fs.Project(name="demo", description="a demo project")
    return [project, driver, stats, labels, service]


@pytest.mark.parametrize(
    "dtype",
    [
        fs.Map,
        fs.Json,
        fs.Struct({"name": fs.String, "age": fs.Int64}),
        fs.Struct({"inner": fs.Struct({"xs": fs.Array(fs.Float32)}), "m": fs.Map}),
    ],
)
def test_new_types_round_trip_through_their_string_form(dtype: fs.types.DataType) -> None:
    assert parse_type(str(dtype)) == dtype


def test_registry_round_trip_keeps_feast_arguments() -> None:
    registry = Registry(_sample())
    again = Registry.from_json(registry.to_json())
    assert again.to_json() == registry.to_json()
    stats = again.get_feature_view("stats")
    assert (stats.enable_validation, stats.version, stats.ttl) == (True, "v2", None)
    assert [f.dtype for f in stats.features] == [
        fs.Float32,
        fs.Map,
        fs.Json,
        fs.Struct({"name": fs.String, "age": fs.Int64}),
    ]
    source = again.get_data_source("stats_source")
    assert isinstance(source, fs.FileSource)
    assert (source.path, source.created_timestamp_column) == ("data/stats.parquet", "created")
    assert dict(source.field_mapping) == {"raw_rate": "conv_rate"}
    labels = again.get_feature_view("labels")
    assert isinstance(labels, fs.LabelView)
    assert labels.labeler_field == "labeler"
    assert labels.conflict_policy is fs.ConflictPolicy.LAST_WRITE_WINS
    assert again.get_data_source("labels").path == "data/labels.parquet"  # type: ignore[union-attr]
    service = again.get_feature_service("svc")
    assert service.logging_config is not None
    assert service.logging_config.destination.path == "logs"
    assert service.logging_config.sample_rate == 0.5
    assert again.project == fs.Project(name="demo", description="a demo project")


def test_views_without_feast_arguments_serialize_as_before() -> None:
    driver = fs.Entity(name="driver", value_type=fs.Int64)
    view = fs.FeatureView(
        name="v",
        entities=[driver],
        schema=[fs.Field(name="x", dtype=fs.Int64)],
        source=fs.TableSource(name="t", timestamp_field="ts"),
    )
    data = Registry([view]).to_dict()
    assert set(data["feature_views"][0]) == {
        "name", "entities", "schema", "source", "ttl", "online", "aggregations", "tags",
        "description", "owner",
    }  # fmt: skip
    assert "project" not in data


def test_file_source_name_defaults_from_path_and_refuses_urls() -> None:
    assert fs.FileSource(path="data/driver-stats.parquet", timestamp_field="ts").name == (
        "driver_stats"
    )
    with pytest.raises(DefinitionError, match="URL"):
        fs.FileSource(path="s3://bucket/x.parquet", timestamp_field="ts")
    with pytest.raises(DefinitionError, match="timestamp_field"):
        fs.FileSource(path="x.parquet")


def test_unsupported_conflict_policy_is_a_clear_error() -> None:
    driver = fs.Entity(name="driver", value_type=fs.Int64)
    with pytest.raises(DefinitionError, match="LAST_WRITE_WINS"):
        fs.LabelView(
            name="l",
            entities=[driver],
            schema=[fs.Field(name="y", dtype=fs.Int64)],
            source=fs.TableSource(name="t", timestamp_field="ts"),
            conflict_policy=fs.ConflictPolicy.MAJORITY_VOTE,
        )


def test_field_mapping_renames_raw_columns() -> None:
    source = fs.TableSource(name="t", timestamp_field="ts", field_mapping={"raw": "x"})
    data = pa.table({"raw": [1], "ts": [2]})
    assert fs.definitions.apply_field_mapping(data, source).column_names == ["x", "ts"]
    with pytest.raises(DefinitionError, match="already has a column 'x'"):
        fs.definitions.apply_field_mapping(pa.table({"raw": [1], "x": [2]}), source)


def test_two_different_projects_are_refused() -> None:
    with pytest.raises(DefinitionError, match="different Project"):
        Registry([fs.Project(name="a"), fs.Project(name="a", description="other")])
    assert Registry([fs.Project(name="a"), fs.Project(name="a")]).project == fs.Project(name="a")


def test_value_types_give_featurestore_types() -> None:
    assert fs.Entity(name="driver", value_type=fs.ValueType.INT64).value_type == fs.Int64
    assert fs.Entity(name="d", value_type=fs.ValueType.UNKNOWN).value_type is None
    with pytest.raises(DefinitionError, match="NULL"):
        fs.Entity(name="d", value_type=fs.ValueType.NULL)
    assert [m.target for m in fs.PushMode] == ["online", "offline", "online_and_offline"]
