"""Feast's own SDK, configured with ``online_store: type: remote``, against our server.

A Feast repository is written in a temporary folder with Feast's own definitions (the
same entity, source, views, on-demand view and service as our driver_stats project),
registered with ``feast apply`` in a real process, and pointed at our server over HTTP.
Each answer is compared with what our store returns and with what Feast itself returns
from the same data (a second, local Feast store with a SQLite online store).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from featurestore import FeatureStore
from featurestore.project import load_definitions
from featurestore.server import OfflineServer, create_app
from tests.server.conftest import NOW, READER, WRITER, _Thread, _write_project, keyed_store

STATS = ["conv_rate", "acc_rate", "avg_daily_trips"]
FEATURES = [f"driver_hourly_stats:{f}" for f in STATS]
LOOKED_UP = [1001, 1002, 1003, 1007, 1020]
"""Drivers only looked up (never written) here, so every test sees the same values."""
WRITTEN = (1015, 1016, 1017, 1018, 1019)
"""Drivers the write and push tests give fresh rows."""
START = NOW - timedelta(days=10)
END = NOW + timedelta(seconds=1)

FEAST_DEFINITIONS = """
from datetime import timedelta

import pandas as pd

from feast import (
    Entity, FeatureService, FeatureView, Field, FileSource, PushSource, RequestSource,
)
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float32, Float64, Int64
from feast.value_type import ValueType

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
driver_stats_source = FileSource(
    name="driver_stats",
    path="DATA_PATH",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)
driver_stats_push_source = PushSource(
    name="driver_stats_push_source", batch_source=driver_stats_source
)
SCHEMA = [
    Field(name="conv_rate", dtype=Float32),
    Field(name="acc_rate", dtype=Float32),
    Field(name="avg_daily_trips", dtype=Int64),
]
driver_hourly_stats = FeatureView(
    name="driver_hourly_stats",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=SCHEMA,
    source=driver_stats_push_source,
)
# Known to Feast's registry only: our server has no such view or service.
only_in_feast = FeatureView(
    name="only_in_feast",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=SCHEMA,
    source=driver_stats_source,
)
vals_to_add = RequestSource(name="vals_to_add", schema=[Field(name="val_to_add", dtype=Int64)])


@on_demand_feature_view(
    sources=[driver_hourly_stats, vals_to_add],
    schema=[Field(name="conv_rate_plus_val", dtype=Float64)],
)
def conv_rate_plus_val(inputs: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame()
    out["conv_rate_plus_val"] = inputs["conv_rate"].astype("float64") + inputs["val_to_add"]
    return out


driver_activity = FeatureService(
    name="driver_activity", features=[driver_hourly_stats, conv_rate_plus_val]
)
only_in_feast_service = FeatureService(name="only_in_feast_service", features=[only_in_feast])
"""


@dataclass
class Remote:
    """Our server over one of our projects, and a Feast SDK client pointed at it."""

    url: str
    store: FeatureStore
    feast: Any


def _feast_repo(
    root: Path,
    data_path: Path,
    online: dict[str, Any],
    auth: dict[str, Any] | None = None,
    offline: dict[str, Any] | None = None,
) -> Path:
    """A Feast repository with Feast's definitions, registered by ``feast apply``."""
    root.mkdir(parents=True)
    (root / "definitions.py").write_text(FEAST_DEFINITIONS.replace("DATA_PATH", str(data_path)))
    config = {
        "project": "driver_stats",
        "provider": "local",
        "registry": str(root / "registry.db"),
        "online_store": online,
        "offline_store": offline or {"type": "duckdb"},
        "entity_key_serialization_version": 3,
    }
    if auth is not None:
        config["auth"] = auth
    (root / "feature_store.yaml").write_text(yaml.safe_dump(config))
    feast_cli = shutil.which("feast", path=str(Path(sys.executable).parent)) or "feast"
    done = subprocess.run(
        [feast_cli, "apply"], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def _our_project(root: Path, redis_url: str, data: pa.Table, materialized: bool) -> Path:
    _write_project(root, redis_url, f"rmt{uuid.uuid4().hex[:8]}")
    with FeatureStore.init(root, exist_ok=True) as store:
        store.apply(load_definitions(root))
        store.ingest("driver_stats", data)
        store.commit("driver stats, first load")
        if materialized:
            store.materialize(START, END)
    return root


@pytest.fixture(scope="module")
def data_path(tmp_path_factory: pytest.TempPathFactory, data: pa.Table) -> Path:
    path = tmp_path_factory.mktemp("feast_data") / "driver_stats.parquet"
    pq.write_table(data, path)
    return path


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory, data_path: Path) -> Any:
    """Feast itself on the same data: a SQLite online store, materialized like ours."""
    from feast import FeatureStore as FeastStore

    root = tmp_path_factory.mktemp("oracle") / "repo"
    online = {"type": "sqlite", "path": str(root / "online.db")}
    store = FeastStore(repo_path=str(_feast_repo(root, data_path, online)))
    store.materialize(START, END)
    return store


def _remote(
    tmp: Path, redis_url: str, data: pa.Table, data_path: Path, materialized: bool
) -> Iterator[Remote]:
    from feast import FeatureStore as FeastStore

    project = _our_project(tmp / "ours", redis_url, data, materialized)
    store = FeatureStore(repo_path=project)
    with _Thread(create_app(store)) as url:
        repo = _feast_repo(tmp / "feast", data_path, {"type": "remote", "path": url})
        yield Remote(url, store, FeastStore(repo_path=str(repo)))
    store.close()


@pytest.fixture(scope="module")
def remote(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, data: pa.Table, data_path: Path
) -> Iterator[Remote]:
    """A materialized project of ours, and Feast's SDK pointed at our server."""
    yield from _remote(tmp_path_factory.mktemp("remote"), redis_url, data, data_path, True)


@pytest.fixture
def fresh(tmp_path: Path, redis_url: str, data: pa.Table, data_path: Path) -> Iterator[Remote]:
    """The same, with nothing materialized yet."""
    yield from _remote(tmp_path, redis_url, data, data_path, False)


def _rows(drivers: list[int], key: str = "driver_id") -> list[dict[str, Any]]:
    return [{key: d} for d in drivers]


def _ours(store: FeatureStore, drivers: list[int], features: Any = FEATURES) -> dict[str, Any]:
    return dict(store.get_online_features(features, _rows(drivers)).to_dict())


def _fresh_rows(drivers: list[int], at: datetime, rate: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "driver_id": drivers,
            "event_timestamp": [at] * len(drivers),
            "created": [at] * len(drivers),
            "conv_rate": [rate] * len(drivers),
            "acc_rate": [rate / 2] * len(drivers),
            "avg_daily_trips": [7] * len(drivers),
        }
    )


def test_lookups_equal_ours_and_feasts(remote: Remote, oracle: Any) -> None:
    theirs = remote.feast.get_online_features(FEATURES, _rows(LOOKED_UP)).to_dict()
    assert theirs == _ours(remote.store, LOOKED_UP)
    assert theirs == oracle.get_online_features(FEATURES, _rows(LOOKED_UP)).to_dict()
    assert all(v is not None for v in theirs["conv_rate"])  # real values, not all missing


def test_a_feature_service_with_an_on_demand_view_equals_feasts(
    remote: Remote, oracle: Any
) -> None:
    rows = [{"driver_id": d, "val_to_add": i} for i, d in enumerate(LOOKED_UP)]
    service = remote.feast.get_feature_service("driver_activity")
    theirs = remote.feast.get_online_features(service, rows).to_dict()
    expected = oracle.get_online_features(oracle.get_feature_service("driver_activity"), rows)
    assert theirs == expected.to_dict()
    rates = theirs["conv_rate"]
    assert theirs["conv_rate_plus_val"] == [r + i for i, r in enumerate(rates)]


@pytest.mark.filterwarnings("ignore:Using entity name is deprecated")
def test_entity_names_and_keys_in_text_read_as_feast_reads_them(
    remote: Remote, oracle: Any
) -> None:
    by_key = remote.feast.get_online_features(FEATURES, _rows(LOOKED_UP)).to_dict()
    for rows in (_rows(LOOKED_UP, "driver"), [{"driver_id": str(d)} for d in LOOKED_UP]):
        theirs = remote.feast.get_online_features(FEATURES, rows).to_dict()
        assert theirs == by_key
        assert oracle.get_online_features(FEATURES, rows).to_dict() == by_key


def test_version_metadata_has_feasts_shape(remote: Remote, oracle: Any) -> None:
    service = "driver_activity"
    rows = [{"driver_id": 1001, "val_to_add": 1}]
    theirs = remote.feast.get_online_features(
        remote.feast.get_feature_service(service), rows, include_feature_view_version_metadata=True
    )
    expected = oracle.get_online_features(
        oracle.get_feature_service(service), rows, include_feature_view_version_metadata=True
    )
    names = [m.name for m in theirs.proto.metadata.feature_view_metadata]
    assert names == [m.name for m in expected.proto.metadata.feature_view_metadata]
    assert names == ["driver_hourly_stats"]
    assert [m.version for m in theirs.proto.metadata.feature_view_metadata] == [
        m.version for m in expected.proto.metadata.feature_view_metadata
    ]
    plain = remote.feast.get_online_features(remote.feast.get_feature_service(service), rows)
    assert list(plain.proto.metadata.feature_view_metadata) == []


def test_write_to_online_store_through_feasts_sdk(remote: Remote, oracle: Any) -> None:
    drivers = [1015, 1016]
    at = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0)
    df = _fresh_rows(drivers, at, 0.5)
    remote.feast.write_to_online_store("driver_hourly_stats", df)
    oracle.write_to_online_store("driver_hourly_stats", df)
    ours = _ours(remote.store, drivers)
    assert ours["conv_rate"] == [0.5, 0.5] and ours["avg_daily_trips"] == [7, 7]
    response = remote.store.get_online_features(FEATURES[:1], _rows(drivers))
    assert response.to_dict(include_event_timestamps=True)["conv_rate__ts"] == [at, at]
    theirs = remote.feast.get_online_features(FEATURES, _rows(drivers)).to_dict()
    assert theirs == ours == oracle.get_online_features(FEATURES, _rows(drivers)).to_dict()
    # An older row never overwrites a newer one.
    remote.feast.write_to_online_store("driver_hourly_stats", _fresh_rows(drivers, NOW, 0.25))
    assert _ours(remote.store, drivers) == ours


def test_push_through_feasts_sdk(remote: Remote, oracle: Any) -> None:
    from feast.data_source import PushMode

    drivers = [1017]
    at = (datetime.now(UTC) + timedelta(minutes=2)).replace(microsecond=0)
    df = _fresh_rows(drivers, at, 0.75)
    remote.feast.push("driver_stats_push_source", df, to=PushMode.ONLINE)
    oracle.push("driver_stats_push_source", df, to=PushMode.ONLINE)
    ours = _ours(remote.store, drivers)
    assert ours["conv_rate"] == [0.75]
    theirs = remote.feast.get_online_features(FEATURES, _rows(drivers)).to_dict()
    assert theirs == ours == oracle.get_online_features(FEATURES, _rows(drivers)).to_dict()


@pytest.mark.parametrize("to", ["online", "online_and_offline", "ONLINE", "PushMode.ONLINE"])
def test_push_in_feasts_body(remote: Remote, to: str) -> None:
    driver = 1018 if to != "online_and_offline" else 1019
    at = datetime.now(UTC) + timedelta(minutes=3)
    body = {
        "push_source_name": "driver_stats_push_source",
        "df": {
            "driver_id": [driver],
            "event_timestamp": [str(at)],  # Feast's docs: str(datetime)
            "created": [str(at)],
            "conv_rate": [0.125],
            "acc_rate": 0.25,  # one value for every row, as pandas broadcasts it
            "avg_daily_trips": {"0": 9},  # DataFrame.to_dict()'s index form
        },
        "allow_registry_cache": True,
        "to": to,
        "transform_on_write": True,
    }
    before = list(remote.store.repository.branch("main").uncommitted())
    with httpx.Client(base_url=remote.url, timeout=30) as http:
        r = http.post("/push", json=body)
    assert r.status_code == 200, r.text
    theirs = remote.feast.get_online_features(FEATURES, _rows([driver])).to_dict()
    assert theirs == {
        "driver_id": [driver],
        "conv_rate": [0.125],
        "acc_rate": [0.25],
        "avg_daily_trips": [9],
    }
    staged = list(remote.store.repository.branch("main").uncommitted())
    assert (staged != before) == (to == "online_and_offline")


def test_materialize_through_feasts_sdk(fresh: Remote, remote: Remote, oracle: Any) -> None:
    drivers = list(range(1001, 1021))
    missing = fresh.feast.get_online_features(FEATURES, _rows(drivers)).to_dict()
    assert missing["conv_rate"] == [None] * len(drivers)
    fresh.feast.materialize(START, END, ["driver_hourly_stats"])
    theirs = fresh.feast.get_online_features(FEATURES, _rows(drivers)).to_dict()
    assert theirs == _ours(fresh.store, drivers)
    assert all(v is not None for v in theirs["conv_rate"])
    # Other tests write fresh rows for some drivers to `remote` and the oracle.
    untouched = [d for d in drivers if d not in WRITTEN]
    expected = oracle.get_online_features(FEATURES, _rows(untouched)).to_dict()
    assert _ours(fresh.store, untouched) == expected == _ours(remote.store, untouched)


@pytest.mark.parametrize(
    "end_text",
    [
        (END + timedelta(seconds=1)).replace(tzinfo=None).isoformat(),  # naive: UTC
        (END + timedelta(seconds=1)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        (END + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=2))).isoformat(),
        (END + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S"),
    ],
)
def test_materialize_in_feasts_body(fresh: Remote, remote: Remote, end_text: str) -> None:
    body = {
        "start_ts": START.replace(tzinfo=None).isoformat(),
        "end_ts": end_text,
        "feature_views": ["driver_hourly_stats"],
    }
    with httpx.Client(base_url=fresh.url, timeout=60) as http:
        r = http.post("/materialize", json=body)
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert datetime.fromisoformat(result["end"]) == END + timedelta(seconds=1)
    assert datetime.fromisoformat(result["start"]) == START
    assert result["rows_written"] > 0
    drivers = [d for d in range(1001, 1021) if d not in WRITTEN]
    assert _ours(fresh.store, drivers) == _ours(remote.store, drivers)
    theirs = fresh.feast.get_online_features(FEATURES, _rows(drivers)).to_dict()
    assert theirs == _ours(remote.store, drivers)


def test_unknown_names_raise_feasts_own_exceptions(remote: Remote) -> None:
    from feast.errors import (
        FeastError,
        FeatureServiceNotFoundException,
        FeatureViewNotFoundException,
    )

    with pytest.raises(FeatureViewNotFoundException, match="only_in_feast"):
        remote.feast.get_online_features(["only_in_feast:conv_rate"], _rows([1001]))
    service = remote.feast.get_feature_service("only_in_feast_service")
    with pytest.raises(FeatureServiceNotFoundException, match="only_in_feast_service"):
        remote.feast.get_online_features(service, _rows([1001]))
    with pytest.raises(FeatureViewNotFoundException, match="only_in_feast"):
        remote.feast.write_to_online_store("only_in_feast", _fresh_rows([1001], NOW, 0.5))
    with pytest.raises(FeastError, match="driver_id"):
        remote.feast.get_online_features(FEATURES, [{"driver_id": 1.5}])


def test_error_bodies_serve_both_clients(remote: Remote) -> None:
    with httpx.Client(base_url=remote.url, timeout=30) as http:
        ours = http.post(
            "/get-online-features",
            json={"features": ["nope:x"], "entities": {"driver_id": [1001]}},
        )
        feasts = http.post(
            "/get-online-features",
            json={
                "features": ["nope:x"],
                "entities": {"driver_id": [1001]},
                "include_feature_view_version_metadata": False,
            },
        )
    assert ours.status_code == feasts.status_code == 404
    assert ours.json()["error"]["code"] == "not_found"
    detail = json.loads(feasts.json())  # Feast's form: a JSON string holding the detail
    assert detail["module"] == "feast.errors"
    assert detail["class"] == "FeatureViewNotFoundException"
    assert detail["error"] == ours.json()["error"]
    assert detail["message"] == ours.json()["error"]["message"]


def test_feasts_sdk_sends_our_api_key(
    remote: Remote, data_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feast import FeatureStore as FeastStore

    from featurestore.config import ApiKey

    keyed = keyed_store(
        remote.store.config.project_dir,
        api_keys=(ApiKey(key=READER, role="reader"), ApiKey(key=WRITER, role="writer")),
    )
    # Feast's client sends `Authorization: Bearer <token>` read from this variable.
    auth = {"type": "oidc", "token_env_var": "FEATURESTORE_API_KEY"}
    try:
        with _Thread(create_app(keyed)) as url:
            online = {"type": "remote", "path": url}
            repo = _feast_repo(tmp_path / "feast", data_path, online, auth=auth)
            monkeypatch.setenv("FEATURESTORE_API_KEY", READER)
            feast = FeastStore(repo_path=str(repo))
            theirs = feast.get_online_features(FEATURES, _rows(LOOKED_UP)).to_dict()
            assert theirs == _ours(remote.store, LOOKED_UP)
            # A reader may not write; Feast's client raises, naming the status.
            with pytest.raises(RuntimeError, match="403"):
                feast.write_to_online_store("driver_hourly_stats", _fresh_rows([1015], NOW, 0.5))
            monkeypatch.setenv("FEATURESTORE_API_KEY", "not-a-key-0001")
            with pytest.raises(RuntimeError, match="401"):
                FeastStore(repo_path=str(repo)).get_online_features(FEATURES, _rows([1001]))
    finally:
        keyed.close()


# -- offline_store: type: remote (Arrow Flight) ------------------------------------------


@dataclass
class RemoteOffline:
    """Our Flight server over the materialized project, and Feast's SDK pointed at it."""

    server: OfflineServer
    feast: Any


@pytest.fixture(scope="module")
def offline_remote(
    remote: Remote, tmp_path_factory: pytest.TempPathFactory, data_path: Path
) -> Iterator[RemoteOffline]:
    from feast import FeatureStore as FeastStore

    server = OfflineServer(remote.store, "grpc+tcp://127.0.0.1:0")
    try:
        root = tmp_path_factory.mktemp("offline") / "feast"
        online = {"type": "remote", "path": remote.url}
        offline = {"type": "remote", "host": "127.0.0.1", "port": server.port}
        repo = _feast_repo(root, data_path, online, offline=offline)
        yield RemoteOffline(server, FeastStore(repo_path=str(repo)))
    finally:
        server.shutdown()


def _entity_df(drivers: list[int], at: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "driver_id": drivers,
            "event_timestamp": [at - timedelta(hours=i) for i in range(len(drivers))],
            "label": list(range(len(drivers))),
        }
    )


def _same_frames(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    keys = ["driver_id", "event_timestamp"]
    ours = ours.sort_values(keys).reset_index(drop=True)
    theirs = theirs.sort_values(keys).reset_index(drop=True)[list(ours.columns)]
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)


def test_historical_features_through_feasts_remote_offline_store(
    offline_remote: RemoteOffline, remote: Remote, oracle: Any
) -> None:
    entity_df = _entity_df(LOOKED_UP * 3, NOW - timedelta(hours=5))
    theirs = offline_remote.feast.get_historical_features(entity_df, FEATURES).to_df()
    ours = remote.store.get_historical_features(entity_df, FEATURES).to_df()
    assert sorted(theirs.columns) == sorted(ours.columns)
    _same_frames(ours, theirs)
    assert theirs["conv_rate"].notna().sum() > len(entity_df) // 2  # real values
    feasts = oracle.get_historical_features(entity_df, FEATURES).to_df()
    _same_frames(ours, feasts)


def test_historical_features_of_a_service_with_full_names(
    offline_remote: RemoteOffline, remote: Remote, oracle: Any
) -> None:
    entity_df = _entity_df(LOOKED_UP, NOW - timedelta(hours=2)).assign(val_to_add=3)
    service = offline_remote.feast.get_feature_service("driver_activity")
    theirs = offline_remote.feast.get_historical_features(
        entity_df, service, full_feature_names=True
    ).to_df()
    assert "driver_hourly_stats__conv_rate" in theirs.columns
    feasts = oracle.get_historical_features(
        entity_df, oracle.get_feature_service("driver_activity"), full_feature_names=True
    ).to_df()
    _same_frames(theirs[list(feasts.columns)], feasts)


def test_offline_errors_raise_feasts_own_exceptions(
    offline_remote: RemoteOffline, tmp_path: Path
) -> None:
    from feast.errors import FeastError, FeatureViewNotFoundException
    from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

    entity_df = _entity_df([1001], NOW)
    with pytest.raises(FeatureViewNotFoundException, match="only_in_feast"):
        offline_remote.feast.get_historical_features(entity_df, ["only_in_feast:conv_rate"]).to_df()
    with pytest.raises(FeastError, match="driver_id"):
        offline_remote.feast.get_historical_features(
            entity_df.drop(columns=["driver_id"]), FEATURES
        ).to_df()
    job = offline_remote.feast.get_historical_features(entity_df, FEATURES)
    storage = SavedDatasetFileStorage(path=str(tmp_path / "saved.parquet"))
    with pytest.raises(FeastError, match="create_saved_dataset"):
        offline_remote.feast.create_saved_dataset(from_=job, name="x", storage=storage)


def test_feasts_materialize_reads_our_tables_and_writes_our_online_store(
    fresh: Remote, remote: Remote, data_path: Path, tmp_path: Path
) -> None:
    from feast import FeatureStore as FeastStore

    server = OfflineServer(fresh.store, "grpc+tcp://127.0.0.1:0")
    try:
        online = {"type": "remote", "path": fresh.url}
        offline = {"type": "remote", "host": "127.0.0.1", "port": server.port}
        repo = _feast_repo(tmp_path / "both", data_path, online, offline=offline)
        feast = FeastStore(repo_path=str(repo))
        drivers = [d for d in range(1001, 1021) if d not in WRITTEN]
        assert feast.get_online_features(FEATURES, _rows(drivers)).to_dict()["conv_rate"] == (
            [None] * len(drivers)
        )
        feast.materialize(START, END, ["driver_hourly_stats"])
        theirs = feast.get_online_features(FEATURES, _rows(drivers)).to_dict()
        assert theirs == _ours(fresh.store, drivers) == _ours(remote.store, drivers)
    finally:
        server.shutdown()


def test_feasts_offline_push_is_staged_on_our_branch(
    fresh: Remote, data_path: Path, tmp_path: Path
) -> None:
    from feast import FeatureStore as FeastStore
    from feast.data_source import PushMode

    server = OfflineServer(fresh.store, "grpc+tcp://127.0.0.1:0")
    try:
        online = {"type": "remote", "path": fresh.url}
        offline = {"type": "remote", "host": "127.0.0.1", "port": server.port}
        repo = _feast_repo(tmp_path / "both", data_path, online, offline=offline)
        feast = FeastStore(repo_path=str(repo))
        at = (NOW + timedelta(minutes=5)).replace(microsecond=0)
        feast.push("driver_stats_push_source", _fresh_rows([1099], at, 0.625), to=PushMode.OFFLINE)
        assert list(fresh.store.repository.branch("main").uncommitted())
        entity_df = pd.DataFrame({"driver_id": [1099], "event_timestamp": [at]})
        ours = fresh.store.get_historical_features(entity_df, FEATURES).to_df()
        assert ours["conv_rate"].tolist() == [0.625]
        theirs = feast.get_historical_features(entity_df, FEATURES).to_df()
        assert theirs["conv_rate"].tolist() == [0.625]
        # Offline only: nothing was written online.
        online_now = feast.get_online_features(FEATURES, _rows([1099])).to_dict()
        assert online_now["conv_rate"] == [None]
    finally:
        server.shutdown()


def test_the_offline_server_checks_keys_by_role(
    remote: Remote, data_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feast import FeatureStore as FeastStore
    from feast.data_source import PushMode
    from feast.errors import FeastPermissionError

    from featurestore.config import ApiKey

    keyed = keyed_store(
        remote.store.config.project_dir,
        api_keys=(ApiKey(key=READER, role="reader"), ApiKey(key=WRITER, role="writer")),
    )
    server = OfflineServer(keyed, "grpc+tcp://127.0.0.1:0")
    try:
        online = {"type": "remote", "path": remote.url}
        offline = {"type": "remote", "host": "127.0.0.1", "port": server.port}
        auth = {"type": "oidc", "token_env_var": "FEATURESTORE_API_KEY"}
        monkeypatch.setenv("FEATURESTORE_API_KEY", READER)  # `feast apply` checks sources
        repo = _feast_repo(tmp_path / "feast", data_path, online, auth=auth, offline=offline)
        entity_df = _entity_df(LOOKED_UP, NOW - timedelta(hours=1))
        expected = remote.store.get_historical_features(entity_df, FEATURES).to_df()
        feast = FeastStore(repo_path=str(repo))
        _same_frames(expected, feast.get_historical_features(entity_df, FEATURES).to_df())
        before = list(keyed.repository.branch("main").uncommitted())
        with pytest.raises(FeastPermissionError, match="writer"):
            feast.write_to_offline_store(
                "driver_hourly_stats", _fresh_rows([1098], NOW, 0.5), allow_registry_cache=False
            )
        with pytest.raises(FeastPermissionError, match="writer"):
            feast.push(
                "driver_stats_push_source", _fresh_rows([1098], NOW, 0.5), to=PushMode.OFFLINE
            )
        assert list(keyed.repository.branch("main").uncommitted()) == before
        monkeypatch.setenv("FEATURESTORE_API_KEY", "not-a-key-0001")
        with pytest.raises(FeastPermissionError, match="not valid"):
            FeastStore(repo_path=str(repo)).get_historical_features(entity_df, FEATURES).to_df()
    finally:
        server.shutdown()
        keyed.close()


def _wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    """Until something listens on ``port`` (the process started), or it exits."""
    import socket
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def test_serve_offline_runs_as_a_process_and_refuses_public_without_keys(
    remote: Remote, data_path: Path, tmp_path: Path
) -> None:
    import socket

    from feast import FeatureStore as FeastStore

    from featurestore.errors import ConfigError
    from featurestore.server import serve_offline

    project = remote.store.config.project_dir
    with pytest.raises(ConfigError, match="no API keys"):
        serve_offline(project, host="0.0.0.0", port=0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from featurestore.server import serve_offline; serve_offline({str(project)!r}, port={port})"
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_port(port, process)
        online = {"type": "remote", "path": remote.url}
        offline = {"type": "remote", "host": "127.0.0.1", "port": port}
        repo = _feast_repo(tmp_path / "feast", data_path, online, offline=offline)
        entity_df = _entity_df(LOOKED_UP, NOW - timedelta(hours=3))
        expected = remote.store.get_historical_features(entity_df, FEATURES).to_df()
        _same_frames(
            expected,
            FeastStore(repo_path=str(repo)).get_historical_features(entity_df, FEATURES).to_df(),
        )
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "Traceback" not in err, err


def test_an_offline_server_at_a_commit_pins_reads_and_refuses_writes(
    fresh: Remote, data_path: Path, tmp_path: Path
) -> None:
    from feast import FeatureStore as FeastStore
    from feast.errors import FeastError

    commit = fresh.store.resolve()
    at = (NOW + timedelta(minutes=5)).replace(microsecond=0)
    server = OfflineServer(fresh.store, "grpc+tcp://127.0.0.1:0", ref=commit)
    try:
        online = {"type": "remote", "path": fresh.url}
        offline = {"type": "remote", "host": "127.0.0.1", "port": server.port}
        feast = FeastStore(
            repo_path=str(_feast_repo(tmp_path / "f", data_path, online, offline=offline))
        )
        with pytest.raises(FeastError, match="branch"):
            feast.write_to_offline_store("driver_hourly_stats", _fresh_rows([1097], at, 0.5))
        # A write staged on the branch after the commit is not seen at the commit.
        fresh.store.write_to_offline_store("driver_hourly_stats", _fresh_rows([1097], at, 0.5))
        entity_df = pd.DataFrame({"driver_id": [1097, 1001], "event_timestamp": [at, at]})
        theirs = feast.get_historical_features(entity_df, FEATURES).to_df()
        pinned = fresh.store.get_historical_features(entity_df, FEATURES, ref=commit).to_df()
        _same_frames(pinned, theirs)
        assert theirs.sort_values("driver_id")["conv_rate"].isna().tolist() == [False, True]
        on_branch = fresh.store.get_historical_features(entity_df, FEATURES).to_df()
        assert on_branch.sort_values("driver_id")["conv_rate"].tolist()[1] == 0.5
    finally:
        server.shutdown()


def test_materialize_everything_up_to_now_as_feast_means_it(fresh: Remote, remote: Remote) -> None:
    before = datetime.now(UTC)
    body = {"disable_event_timestamp": True, "feature_views": None}
    with httpx.Client(base_url=fresh.url, timeout=60) as http:
        r = http.post("/materialize", json=body)
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert datetime.fromisoformat(result["start"]) == datetime(1970, 1, 1, tzinfo=UTC)
    assert datetime.fromisoformat(result["end"]) >= before
    drivers = [d for d in range(1001, 1021) if d not in WRITTEN]
    assert _ours(fresh.store, drivers) == _ours(remote.store, drivers)
