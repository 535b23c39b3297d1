"""What apply infers from a FileSource, compared with what Feast infers for the same file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import feast
import pyarrow.parquet as pq
import pytest
from feast.repo_config import RepoConfig
from feast.type_map import pa_to_feast_value_type
from feast_project import definitions, row_count, stats_table, write_project

import featurestore as fs
from featurestore.types import from_value_type


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    name = f"p{uuid.uuid4().hex[:10]}"
    write_project(tmp_path, name)
    pq.write_table(stats_table(9), tmp_path / "data" / "stats.parquet")
    yield tmp_path, name


def test_apply_infers_the_key_type_as_feast_does_and_imports_the_file(
    project: tuple[Path, str],
) -> None:
    root, name = project
    with fs.FeatureStore(repo_path=root) as store:
        assert store.config.storage_location == str((root / ".featurestore/repository").resolve())
        store.apply(definitions(name))
        store.commit("apply")
        entity = store.registry().get_entity("driver")
        feast_type = pa_to_feast_value_type(
            str(pq.read_schema(root / "data/stats.parquet").field("driver_id").type)
        )
        assert entity.value_type == from_value_type(fs.ValueType[feast_type.name]) == fs.Int64
        assert row_count(store) == 9
        schema = store.tables.schema("main", "stats_source")
        assert schema.field("meta").type == fs.Map.to_arrow()
        assert "unused" not in schema.names and "conv_rate" in schema.names
        table = store.sql(
            "SELECT conv_rate, meta, profile FROM stats_source ORDER BY event_timestamp"
        )
        first = table.slice(0, 1).to_pylist()[0]
        assert first["meta"] == [("vehicle", "truck"), ("rating", "0")]
        assert first["profile"] == {"name": "d0", "age": "20"}
        assert registry_hash_is_stable(store, name)


def registry_hash_is_stable(store: fs.FeatureStore, name: str) -> bool:
    """A second apply of the same definitions and file stages nothing."""
    before = store.registry().hash
    store.apply(definitions(name))
    branch = store.repository.branch("main")
    return store.registry().hash == before and list(branch.uncommitted()) == []


def feast_inferred(root: Path, names: list[str]) -> list[fs.types.DataType]:
    """The types Feast's FileSource gives the columns of the project's stats file."""
    config = RepoConfig(
        project="p",
        registry=str(root / "feast-registry.db"),
        provider="local",
        repo_path=root,
        entity_key_serialization_version=3,
    )
    source = feast.FileSource(
        path=str(root / "data" / "stats.parquet"),
        timestamp_field="event_timestamp",
        field_mapping={"raw_rate": "conv_rate"},
    )
    to_value_type = source.source_datatype_to_feast_value_type()
    arrow = {
        source.field_mapping.get(n, n): t
        for n, t in source.get_table_column_names_and_types(config)
    }
    file = pq.read_schema(root / "data" / "stats.parquet")
    out: list[fs.types.DataType] = []
    for name in names:
        value_type = to_value_type(arrow[name])
        if value_type.name == "STRUCT":
            raw = {v: k for k, v in source.field_mapping.items()}.get(name, name)
            out.append(fs.types.from_arrow(file.field(raw).type))  # Feast: STRUCT of those fields
        else:
            converted = from_value_type(fs.ValueType[value_type.name])
            assert converted is not None
            out.append(converted)
    return out


def test_a_view_without_schema_gets_its_features_from_the_file(
    project: tuple[Path, str],
) -> None:
    root, _name = project
    driver = fs.Entity(name="driver", join_keys=["driver_id"])
    view = fs.FeatureView(
        name="everything",
        entities=[driver],
        source=fs.FileSource(
            name="stats_source",
            path="data/stats.parquet",
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
            field_mapping={"raw_rate": "conv_rate"},
        ),
    )
    with fs.FeatureStore(repo_path=root) as store:
        store.apply([view])
        store.commit("apply")
        applied = store.registry().get_feature_view("everything")
        file = pq.read_schema(root / "data" / "stats.parquet")
        expected = [
            ("conv_rate" if n == "raw_rate" else n)
            for n in file.names
            if n not in ("driver_id", "event_timestamp", "created")
        ]
        assert list(applied.feature_names) == expected
        assert [f.dtype for f in applied.features] == feast_inferred(root, expected)
        assert row_count(store) == 9
        before = store.registry().hash
        store.apply([view])
        assert store.registry().hash == before
