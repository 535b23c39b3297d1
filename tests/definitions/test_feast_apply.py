"""Feast-style definitions applied for real: key types inferred, FileSources imported.

Each test writes real Parquet files and a Feast ``feature_store.yaml`` into a temporary
project folder and applies with a real repository.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feast_project import T0, definitions, row_count, stats_table, write_project

import featurestore as fs
from featurestore.errors import ConfigError, DefinitionError, SchemaError
from featurestore.file_sources import RECORD_PREFIX
from tests.conftest import drop_prefix


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    name = f"p{uuid.uuid4().hex[:10]}"
    write_project(tmp_path, name)
    pq.write_table(stats_table(9), tmp_path / "data" / "stats.parquet")
    yield tmp_path, name


def test_a_changed_file_is_imported_again_as_a_new_commit(project: tuple[Path, str]) -> None:
    root, name = project
    with fs.FeatureStore(repo_path=root) as store:
        store.apply(definitions(name))
        first = store.commit("apply")
        pq.write_table(stats_table(4, rate_shift=100.0), root / "data" / "stats.parquet")
        store.apply(definitions(name))
        changed = sorted(c.path for c in store.repository.branch("main").uncommitted())
        assert RECORD_PREFIX + "stats_source.json" in changed
        second = store.commit("file changed")
        assert row_count(store, first.id) == 9
        assert row_count(store, second.id) == 4
        rates = store.sql("SELECT min(conv_rate) AS r FROM stats_source").column("r")[0].as_py()
        assert rates == pytest.approx(100.0)


def test_the_inferred_type_is_what_lookups_check(project: tuple[Path, str]) -> None:
    root, name = project
    with fs.FeatureStore(repo_path=root) as store:
        store.apply(definitions(name))
        store.commit("apply")
        entity_df = pa.table(
            {
                "driver_id": pa.array([1001], pa.int64()),
                "event_timestamp": [T0 + timedelta(hours=6)],
            }
        )
        out = store.get_historical_features(entity_df, ["stats:conv_rate", "stats:meta"]).to_arrow()
        assert out.column("conv_rate").to_pylist() == [pytest.approx(0.6)]
        assert out.column("meta").to_pylist() == [[("vehicle", "truck"), ("rating", "6")]]
        keys = store.registry().get_feature_view("stats").entity_columns
        assert keys == (fs.Field(name="driver_id", dtype=fs.Int64),)


def test_a_key_nothing_types_is_a_clear_error(tmp_path: Path) -> None:
    write_project(tmp_path, "untyped")
    driver = fs.Entity(name="driver", join_keys=["driver_id"])
    view = fs.FeatureView(
        name="pushed",
        entities=[driver],
        schema=[fs.Field(name="x", dtype=fs.Int64)],
        source=fs.PushSource(
            name="push", batch_source=fs.TableSource(name="t", timestamp_field="ts")
        ),
    )
    with fs.FeatureStore(repo_path=tmp_path) as store:
        with pytest.raises(DefinitionError, match=r"entity 'driver'.*value_type"):
            store.apply([driver, view])
        assert list(store.repository.branch("main").uncommitted()) == []


def test_one_key_with_two_types_is_refused(project: tuple[Path, str]) -> None:
    root, name = project
    pq.write_table(stats_table(3, key_type=pa.string()), root / "data" / "other.parquet")
    defs = definitions(name)
    other = fs.FeatureView(
        name="other",
        entities=[defs[1]],  # type: ignore[list-item]
        schema=[fs.Field(name="raw_rate", dtype=fs.Float32)],
        source=fs.FileSource(path="data/other.parquet", timestamp_field="event_timestamp"),
    )
    with (
        fs.FeatureStore(repo_path=root) as store,
        pytest.raises(DefinitionError, match=r"driver_id.*Int64.*String|String.*Int64"),
    ):
        store.apply([*defs, other])


def test_a_missing_file_and_missing_columns_stage_nothing(project: tuple[Path, str]) -> None:
    root, _name = project
    with fs.FeatureStore(repo_path=root) as store:
        driver = fs.Entity(name="driver", value_type=fs.ValueType.INT64, join_keys=["driver_id"])
        missing = fs.FeatureView(
            name="m",
            entities=[driver],
            schema=[fs.Field(name="x", dtype=fs.Int64)],
            source=fs.FileSource(path="data/none.parquet", timestamp_field="event_timestamp"),
        )
        with pytest.raises(DefinitionError, match="no Parquet file"):
            store.apply([missing])
        lacking = fs.FeatureView(
            name="m",
            entities=[driver],
            schema=[fs.Field(name="not_there", dtype=fs.Int64)],
            source=fs.FileSource(path="data/stats.parquet", timestamp_field="event_timestamp"),
        )
        with pytest.raises(SchemaError, match="not_there"):
            store.apply([lacking])
        assert list(store.repository.branch("main").uncommitted()) == []


def test_project_name_is_checked(project: tuple[Path, str]) -> None:
    root, name = project
    with fs.FeatureStore(repo_path=root) as store:
        with pytest.raises(DefinitionError, match="Project"):
            store.apply([fs.Project(name="someone_else"), *definitions(name)[1:]])
        assert list(store.repository.branch("main").uncommitted()) == []


def test_field_mapping_is_honoured_by_ingest(project: tuple[Path, str]) -> None:
    root, name = project
    with fs.FeatureStore(repo_path=root) as store:
        store.apply(definitions(name))
        store.commit("apply")
        raw = stats_table(1, rate_shift=7.0).drop_columns(["unused"])
        raw = raw.set_column(
            0, "event_timestamp", pa.array([T0 + timedelta(days=3)], pa.timestamp("ns", tz="UTC"))
        )
        store.ingest("stats_source", raw)
        store.commit("ingest raw names")
        got = store.sql("SELECT conv_rate FROM stats_source ORDER BY event_timestamp DESC LIMIT 1")
        assert got.column("conv_rate").to_pylist() == [pytest.approx(7.0)]


def test_map_and_struct_values_come_back_online_as_dicts(tmp_path: Path, redis_url: str) -> None:
    name = f"p{uuid.uuid4().hex[:10]}"
    url = urlparse(redis_url)
    write_project(
        tmp_path,
        name,
        online=f"online_store:\n    type: redis\n    connection_string: {url.hostname}:{url.port}\n",
    )
    pq.write_table(stats_table(6), tmp_path / "data" / "stats.parquet")
    try:
        with fs.FeatureStore(repo_path=tmp_path) as store:
            assert store.config.online_store.url == f"redis://{url.hostname}:{url.port}"
            store.apply(definitions(name))
            store.commit("apply")
            store.materialize(T0 - timedelta(days=1), T0 + timedelta(days=1))
            response = store.get_online_features(
                ["stats:meta", "stats:profile", "stats:conv_rate"],
                [{"driver_id": 1001}, {"driver_id": 1003}],
            ).to_dict()
        assert response["meta"] == [
            {"vehicle": "truck", "rating": "3"},
            {"vehicle": "truck", "rating": "5"},
        ]
        assert response["profile"] == [{"name": "d3", "age": "23"}, {"name": "d5", "age": "25"}]
    finally:
        drop_prefix(redis_url, name)


@pytest.mark.parametrize(
    ("online", "message"),
    [
        ("online_store:\n    type: remote\n    path: http://localhost:6566\n", "remote"),
        ("online_store:\n    type: dynamodb\n", "dynamodb"),
        ("online_store:\n    type: redis\n    connection_string: a:1,b:2\n", "one"),
    ],
)
def test_unsupported_feast_settings_are_named(tmp_path: Path, online: str, message: str) -> None:
    write_project(tmp_path, "p", online=online)
    with pytest.raises(ConfigError, match=message):
        fs.load_config(tmp_path)


def test_redis_connection_string_options_map_to_a_url(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        "p",
        online="online_store:\n    type: redis\n"
        "    connection_string: cache:6380,password=s3cr/t,ssl=true,db=2\n",
    )
    assert fs.load_config(tmp_path).online_store.url == "rediss://:s3cr%2Ft@cache:6380/2"
    (tmp_path / "feature_store.yaml").write_text("project: p\nauth:\n    type: oidc\n")
    with pytest.raises(ConfigError, match="oidc"):
        fs.load_config(tmp_path)


def test_the_cli_plans_and_applies_a_feast_project(project: tuple[Path, str]) -> None:
    root, name = project
    # the console script installed next to this interpreter, as a user's shell finds it
    exe = str(Path(sys.executable).parent / "featurestore")
    defs = (
        "from datetime import timedelta\n"
        "from featurestore import Entity, FeatureView, Field, FileSource, Float32, Project\n"
        f"project = Project(name={name!r})\n"
        "driver = Entity(name='driver', join_keys=['driver_id'])\n"
        "src = FileSource(name='stats_source', path='data/stats.parquet',\n"
        "    timestamp_field='event_timestamp', field_mapping={'raw_rate': 'conv_rate'})\n"
        "stats = FeatureView(name='stats', entities=[driver], ttl=timedelta(0), source=src,\n"
        "    schema=[Field(name='conv_rate', dtype=Float32)], version='latest')\n"
    )
    (root / "definitions.py").write_text(defs)
    planned = subprocess.run([exe, "plan"], cwd=root, capture_output=True, text=True, timeout=120)
    assert planned.returncode == 0, planned.stderr
    assert "stats_source" in planned.stdout
    applied = subprocess.run([exe, "apply"], cwd=root, capture_output=True, text=True, timeout=120)
    assert applied.returncode == 0, applied.stderr
    with fs.FeatureStore(repo_path=root) as store:
        assert store.registry().get_entity("driver").value_type == fs.Int64
        assert row_count(store) == 9
    pq.write_table(stats_table(5), root / "data" / "stats.parquet")
    again = subprocess.run([exe, "apply"], cwd=root, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "stats_source" in again.stdout and "Committed" in again.stdout
    with fs.FeatureStore(repo_path=root) as store:
        assert row_count(store) == 5
        assert list(store.repository.branch("main").uncommitted()) == []


def test_a_changed_field_mapping_imports_the_file_again(project: tuple[Path, str]) -> None:
    root, name = project
    table = stats_table(5)
    table = table.append_column("alt_rate", pa.array([50.0] * 5, pa.float32()))
    pq.write_table(table, root / "data" / "stats.parquet")
    defs = definitions(name)
    with fs.FeatureStore(repo_path=root) as store:
        store.apply(defs)
        store.commit("apply")
        view, source = defs[3], defs[2]
        assert isinstance(view, fs.FeatureView) and isinstance(source, fs.FileSource)
        remapped_source = fs.FileSource(
            name=source.name,
            path=source.path,
            timestamp_field=source.timestamp_field,
            created_timestamp_column=source.created_timestamp_column,
            field_mapping={"alt_rate": "conv_rate"},
        )
        remapped = dataclasses.replace(view, source=remapped_source)
        store.apply([remapped_source, remapped])
        store.commit("remap")
        rates = store.sql("SELECT DISTINCT conv_rate AS r FROM stats_source").column("r")
        assert rates.to_pylist() == [50.0]
        assert row_count(store) == 5


def test_fs_yaml_file_names_the_configuration_to_read(project: tuple[Path, str]) -> None:
    root, name = project
    elsewhere = root / "configs"
    elsewhere.mkdir()
    (root / "feature_store.yaml").rename(elsewhere / "staging.yaml")
    with pytest.raises(ConfigError, match="featurestore init"):
        fs.FeatureStore(repo_path=root)
    with fs.FeatureStore(repo_path=str(root), fs_yaml_file=elsewhere / "staging.yaml") as store:
        assert store.config.project == name
        assert store.config.project_dir == root.resolve()
        store.apply(definitions(name))  # relative FileSource paths resolve from repo_path
        store.commit("apply")
        assert row_count(store, store.resolve()) == 9
    with pytest.raises(ConfigError, match="does not exist"):
        fs.FeatureStore(repo_path=root, fs_yaml_file=root / "nope.yaml")
    with pytest.raises(ConfigError, match="embedding_provider"):
        fs.FeatureStore(repo_path=root, embedding_provider=object())  # type: ignore[arg-type]
