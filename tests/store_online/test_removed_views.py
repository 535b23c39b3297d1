"""A view removed from the definitions and re-added under the same name serves the new
data, not the old view's online values: a commit that removes a view clears its online
data in that branch's namespace (when its record names that branch), ``teardown``
clears every key of the project,
and a full run from a commit that does not contain the recorded one starts from nothing.

Real repository, real Valkey (``redis_url``), the real console entry point.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
import yaml

import featurestore as fs
import online
from featurestore.materialization import read_states
from featurestore.registry import Registry
from featurestore.serving import dropped_views
from tests.conftest import drop_prefix
from tests.store_online.workers import materialize_ref_then_hang

ENTRY = "from featurestore.cli import main; main()"
OLD = datetime(2026, 11, 11, tzinfo=UTC)
OLDER = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)

HEAD = """\
from featurestore import Entity, FeatureView, Field, FileSource, Float64, ValueType

city = Entity(name="city", join_keys=["city"], value_type=ValueType.STRING)
keep = FeatureView(
    name="keep",
    entities=[city],
    schema=[Field(name="rain", dtype=Float64)],
    source=FileSource(path="files/keep.parquet", timestamp_field="event_ts"),
)
"""
WEATHER = """
weather = FeatureView(
    name="weather",
    entities=[city],
    schema=[Field(name="temp", dtype=Float64)],
    source=FileSource(path="files/weather.parquet", timestamp_field="event_ts"),
)
"""


def _write(root: Path, name: str, column: str, value: float, when: datetime) -> None:
    (root / "files").mkdir(exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "city": ["paris"],
                "event_ts": pa.array([when], pa.timestamp("us", tz="UTC")),
                column: [value],
            }
        ),
        root / "files" / f"{name}.parquet",
    )


def _definitions(root: Path, with_weather: bool) -> None:
    (root / "definitions.py").write_text(HEAD + (WEATHER if with_weather else ""))


def _keys(redis_url: str, pattern: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return list(client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()


@pytest.fixture
def project(tmp_path: Path, redis_url: str) -> Iterator[Path]:
    """A project folder (own key prefix) with a weather view and a kept view."""
    root = tmp_path / "proj"
    root.mkdir()
    name = f"rm_{uuid.uuid4().hex[:10]}"
    (root / "featurestore.yaml").write_text(yaml.safe_dump({"project": name, "storage": "data"}))
    fs.FeatureStore.init(root, exist_ok=True).close()
    _write(root, "keep", "rain", 1.0, OLD)
    _write(root, "weather", "temp", 12.0, OLD)
    _definitions(root, with_weather=True)
    yield root
    drop_prefix(redis_url, name)


def _cli(root: Path, redis_url: str, *args: str) -> str:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "REDIS_URL": redis_url}
    env["COLUMNS"] = "250"
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, *args, "-r", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _temp(root: Path, redis_url: str) -> float | None:
    out = _cli(root, redis_url, "online", "-e", "city=paris", "-f", "weather:temp", "--json")
    (row,) = json.loads(out)
    value = row["temp"]
    return None if value is None else float(value)


def _store(root: Path, url: str) -> fs.FeatureStore:
    return fs.FeatureStore(root, config=fs.load_config(root, env={"REDIS_URL": url}))


def test_a_removed_then_re_added_view_serves_the_new_data(project: Path, redis_url: str) -> None:
    prefix = yaml.safe_load((project / "featurestore.yaml").read_text())["project"]
    _cli(project, redis_url, "apply")
    _cli(project, redis_url, "materialize-incremental", END.isoformat())
    assert _temp(project, redis_url) == 12.0

    _definitions(project, with_weather=False)
    _cli(project, redis_url, "apply")
    # the apply itself cleared the removed view's values and record
    assert _keys(redis_url, f"{prefix}:weather:*") == []
    with _store(project, redis_url) as store:
        assert read_states(store.online_store, ["weather", "keep"]).keys() == {"keep"}
    _cli(project, redis_url, "teardown")
    assert _keys(redis_url, f"{prefix}:*") == []

    _write(project, "weather", "temp", 99.0, OLDER)
    _definitions(project, with_weather=True)
    _cli(project, redis_url, "apply")
    _cli(project, redis_url, "materialize-incremental", "now", "--views", "weather")
    assert _temp(project, redis_url) == 99.0
    with _store(project, redis_url) as store:
        offline = store.sql("SELECT temp FROM weather")["temp"].to_pylist()
        assert offline == [99.0]
        (status,) = [s for s in store.online_status() if s.view == "weather"]
        assert status.up_to_date

    _cli(project, redis_url, "teardown")
    assert _keys(redis_url, f"{prefix}:*") == []


def _apply(store: fs.FeatureStore, root: Path, with_weather: bool, branch: str = "main") -> None:
    from featurestore.project import load_definitions

    _definitions(root, with_weather)
    store.apply(load_definitions(root), branch=branch, partial=False)
    store.commit(f"weather {'added' if with_weather else 'removed'}", branch=branch)


def test_a_record_naming_another_branch_is_left_alone(project: Path, redis_url: str) -> None:
    from featurestore.namespaces import online_for

    with _store(project, redis_url) as store:
        _apply(store, project, with_weather=True)
        store.repository.branch("dev").create("main")
        store.materialize_incremental(END, ["weather"], ref="dev")
        store.materialize_incremental(END, ["weather"], ref=store.resolve("main"))
        _apply(store, project, with_weather=False)
        # main's namespace served a commit (its record names the commit id): kept
        states = read_states(store.online_store, ["weather"])
        assert states["weather"].branch != "main"
        # dev's namespace is dev's alone: a commit on main leaves it
        dev = online_for(store, "dev")
        assert read_states(dev, ["weather"])["weather"].branch == "dev"
        key = online.encode_entity_key(["city"], ["paris"])
        schema = pa.schema([("temp", pa.float64())])
        rows = dev.read([online.ReadRequest("weather", [key], schema)])
        assert rows[0]["temp"].to_pylist() == [12.0]
        # removing it on the branch it was served from clears it
        _apply(store, project, with_weather=False, branch="dev")
        assert read_states(dev, ["weather"]) == {}
        prefix = store.config.project
    assert _keys(redis_url, f"{prefix}@dev:weather:*") == []
    assert _keys(redis_url, f"{prefix}:weather:*") != []


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_an_unreachable_online_store_does_not_stop_the_commit(
    project: Path, redis_url: str
) -> None:
    with _store(project, redis_url) as store:
        _apply(store, project, with_weather=True)
        store.materialize_incremental(END)
        prefix = store.config.project
    with _store(project, _dead_url()) as offline_only:
        with pytest.warns(RuntimeWarning, match=r"weather.*could not be cleared.*teardown"):
            _apply(offline_only, project, with_weather=False)
        assert "weather" not in offline_only.registry("main").feature_views_by_name
        assert list(offline_only.repository.branch("main").uncommitted()) == []
    assert _keys(redis_url, f"{prefix}:weather:*") != []  # left behind: the store was down
    with _store(project, redis_url) as store:
        # teardown clears views no branch defines any more, and every record
        assert store.teardown() >= 3
    assert _keys(redis_url, f"{prefix}:*") == []


def test_a_full_run_from_a_commit_without_the_recorded_one_serves_its_data(
    project: Path, redis_url: str
) -> None:
    with _store(project, redis_url) as store:
        base = store.resolve("main")  # before any definitions or data
        _apply(store, project, with_weather=True)
        store.materialize(None, END, ["weather"])
        # rewrite history: a branch from before the data, with other, older data
        store.repository.branch("redo").create(base)
        _write(project, "weather", "temp", 99.0, OLDER)
        _apply(store, project, with_weather=True, branch="redo")
        # a commit id is served by main's namespace, whose record came from main's history
        (result,) = store.materialize(None, END, ["weather"], ref=store.resolve("redo"))
        assert result.full
        got = store.get_online_features(["weather:temp"], {"city": ["paris"]}, now=END)
        assert got.to_dict()["temp"] == [99.0]
        # a full run from a descendant of the recorded commit keeps writes monotonic
        store.repository.branch("later").create("redo")
        _write(project, "weather", "temp", 5.0, datetime(2026, 10, 1, tzinfo=UTC))
        _apply(store, project, with_weather=True, branch="later")
        store.materialize(None, END, ["weather"], ref=store.resolve("later"))
        got = store.get_online_features(["weather:temp"], {"city": ["paris"]}, now=END)
        assert got.to_dict()["temp"] == [99.0]


def test_a_run_killed_after_clearing_does_not_claim_to_be_up_to_date(
    project: Path, redis_url: str
) -> None:
    with _store(project, redis_url) as store:
        base = store.resolve("main")
        _apply(store, project, with_weather=True)
        store.materialize(None, END, ["weather"])
        store.repository.branch("redo").create(base)
        _write(project, "weather", "temp", 99.0, OLDER)
        _apply(store, project, with_weather=True, branch="redo")
        ctx = mp.get_context("spawn")
        wrote = ctx.Event()
        args = (str(project), redis_url, store.resolve("redo"), END, "weather", wrote)
        child = ctx.Process(target=materialize_ref_then_hang, args=args)
        child.start()
        try:
            assert wrote.wait(120)
        finally:
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(30)
        assert child.exitcode == -signal.SIGKILL
        (status,) = [s for s in store.online_status() if s.view == "weather"]
        assert status.commit_id is None and not status.up_to_date
        (result,) = store.materialize_incremental(END, ["weather"], ref=store.resolve("redo"))
        assert result.full
        got = store.get_online_features(["weather:temp"], {"city": ["paris"]}, now=END)
        assert got.to_dict()["temp"] == [99.0]
        assert read_states(store.online_store, ["weather"])["weather"].commit_id == store.resolve(
            "redo"
        )


def _registry(temp_type: object, key_type: fs.ValueType, online: bool = True) -> Registry:
    city = fs.Entity(name="city", join_keys=["city"], value_type=key_type)
    key_dtype = fs.String if key_type == fs.ValueType.STRING else fs.Int64
    source = fs.FileSource(path="files/weather.parquet", timestamp_field="event_ts")
    weather = fs.FeatureView(
        name="weather",
        entities=[city],
        schema=[fs.Field(name="city", dtype=key_dtype), fs.Field(name="temp", dtype=temp_type)],
        source=source,
        online=online,
    )
    return Registry([city, source, weather])


def test_views_dropped_by_a_change_of_definitions() -> None:
    same = _registry(fs.Float64, fs.ValueType.STRING)
    assert dropped_views(same, _registry(fs.Float64, fs.ValueType.STRING)) == []
    assert dropped_views(same, Registry()) == ["weather"]
    assert dropped_views(same, _registry(fs.Int64, fs.ValueType.STRING)) == ["weather"]
    assert dropped_views(same, _registry(fs.Float64, fs.ValueType.INT64)) == ["weather"]
    offline_only = _registry(fs.Float64, fs.ValueType.STRING, online=False)
    assert dropped_views(offline_only, Registry()) == []
