"""``Map``, ``Struct`` and ``Json`` features written over HTTP, by Feast's SDK and by hand.

The project is Feast's own ``feast init`` template: one copy, its imports rewritten to
``featurestore``, is served by our server; a second copy, unchanged but for
``online_store: type: remote``, is Feast's SDK pointed at that server; a third, unchanged,
is Feast itself on its SQLite online store, the oracle for materialize. Feast's SDK sends
``Map`` and ``Struct`` values as JSON text; a hand-written request may send objects.
Feast's SDK reads a pandas column of dicts as one struct, so a ``Map`` row lacking a key
another row has arrives with that key null (as in Feast itself); the rows sent here
share their keys so what is read back is what was sent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from featurestore import FeatureStore
from featurestore.project import load_definitions
from featurestore.server import create_app
from tests.conftest import drop_prefix
from tests.feast_template.test_feast_template import rewrite_imports
from tests.server.conftest import _Thread

BIN = Path(sys.executable).parent
NESTED = ["driver_metadata", "driver_profile", "driver_config"]
FRESH = [f"driver_hourly_stats_fresh:{f}" for f in NESTED]
"""The push source's view in the template."""
BATCH = [f"driver_hourly_stats:{f}" for f in NESTED]
TEMPLATE_DRIVERS = [1001, 1002, 1003, 1004, 1005]


@dataclass
class Served:
    """Our server over the template, and Feast's SDK pointed at it."""

    url: str
    store: FeatureStore
    feast: Any
    generated: Path


def _feast(args: list[str], cwd: Path) -> None:
    done = subprocess.run(
        [str(BIN / "feast"), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("feast_init_maps")
    _feast(["init", "demo_repo"], root)
    return root / "demo_repo" / "feature_repo"


@pytest.fixture(scope="module")
def served(
    generated: Path, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Served]:
    from feast import FeatureStore as FeastStore

    base = tmp_path_factory.mktemp("maps")
    ours = base / "ours"
    shutil.copytree(generated, ours, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    for path in ours.glob("*.py"):
        path.write_text(rewrite_imports(path.read_text()))
    prefix = f"maps{uuid.uuid4().hex[:8]}"
    config = {
        "project": "demo_repo",
        "storage": "repository",
        "online_store": {"type": "redis", "url": redis_url, "key_prefix": prefix},
    }
    (ours / "featurestore.yaml").write_text(yaml.safe_dump(config))
    with FeatureStore.init(ours, exist_ok=True) as setup:
        setup.apply(load_definitions(ours))
        setup.commit("the feast init template")
    store = FeatureStore(repo_path=ours)
    theirs = base / "feast"
    shutil.copytree(generated, theirs, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        with _Thread(create_app(store)) as url:
            feast_config = yaml.safe_load((theirs / "feature_store.yaml").read_text())
            feast_config["online_store"] = {"type": "remote", "path": url}
            (theirs / "feature_store.yaml").write_text(yaml.safe_dump(feast_config))
            _feast(["apply"], theirs)
            yield Served(url, store, FeastStore(repo_path=str(theirs)), generated)
    finally:
        store.close()
        drop_prefix(redis_url, prefix)


def _rows(drivers: list[int]) -> list[dict[str, Any]]:
    return [{"driver_id": d} for d in drivers]


def _read(served: Served, features: list[str], drivers: list[int]) -> dict[str, Any]:
    """What our store and Feast's SDK through our server both read (asserted equal)."""
    ours = dict(served.store.get_online_features(features, _rows(drivers)).to_dict())
    theirs = served.feast.get_online_features(features, _rows(drivers)).to_dict()
    assert theirs == ours
    return ours


def _event(drivers: list[int], metadata: list[Any], profile: list[Any]) -> pd.DataFrame:
    at = datetime.now(UTC).replace(microsecond=0)
    return pd.DataFrame(
        {
            "driver_id": drivers,
            "event_timestamp": [at] * len(drivers),
            "created": [at] * len(drivers),
            "conv_rate": [1.0] * len(drivers),
            "acc_rate": [0.5] * len(drivers),
            "avg_daily_trips": [1000] * len(drivers),
            "driver_metadata": metadata,
            "driver_config": [json.dumps({"zones": ["north"], "d": i}) for i in drivers],
            "driver_profile": profile,
        }
    )


def _expected(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "driver_id": list(frame["driver_id"]),
        "driver_metadata": list(frame["driver_metadata"]),
        "driver_profile": list(frame["driver_profile"]),
        "driver_config": [json.loads(t) for t in frame["driver_config"]],
    }


def test_a_push_of_map_and_struct_values_through_feasts_sdk(served: Served) -> None:
    from feast.data_source import PushMode

    drivers = [1001, 1002]
    sent = _event(
        drivers,
        [{"vehicle_type": "truck", "rating": "5.0"}, {"vehicle_type": "bike", "rating": "3.5"}],
        [{"name": "driver_1001_updated", "age": "30"}, {"name": "ada", "age": "41"}],
    )
    served.feast.push("driver_stats_push_source", sent, to=PushMode.ONLINE)
    assert _read(served, FRESH, drivers) == _expected(sent)


def test_write_to_online_store_of_map_and_struct_values_through_feasts_sdk(
    served: Served,
) -> None:
    drivers = [1091, 1092]
    sent = _event(
        drivers,
        [{"vehicle_type": "van", "rating": "4.1"}, {"vehicle_type": "car", "rating": "2.0"}],
        [{"name": "bo", "age": "52"}, {"name": "cy", "age": "19"}],
    )
    served.feast.write_to_online_store("driver_hourly_stats", sent)
    assert _read(served, BATCH, drivers) == _expected(sent)


def _body_df(driver: int, metadata: Any, profile: Any) -> dict[str, Any]:
    at = datetime.now(UTC).replace(microsecond=0).isoformat()
    return {
        "driver_id": [driver],
        "event_timestamp": [at],
        "created": [at],
        "conv_rate": [0.25],
        "acc_rate": [0.5],
        "avg_daily_trips": [3],
        "driver_metadata": [metadata],
        "driver_config": ['{"max_distance_km": 12}'],
        "driver_profile": [profile],
    }


@pytest.mark.parametrize(
    ("path", "name_key", "name", "refs"),
    [
        ("/write-to-online-store", "feature_view_name", "driver_hourly_stats", BATCH),
        ("/push", "push_source_name", "driver_stats_push_source", FRESH),
    ],
)
def test_objects_in_a_request_df_are_map_and_struct_values(
    served: Served, path: str, name_key: str, name: str, refs: list[str]
) -> None:
    driver = 1093 if path == "/push" else 1094
    metadata = {"vehicle_type": "bike", "rating": "4.5"}
    profile = {"age": "27", "name": "di"}  # key order is free
    body = {name_key: name, "df": _body_df(driver, metadata, profile)}
    with httpx.Client(base_url=served.url, timeout=30) as http:
        r = http.post(path, json=body)
    assert r.status_code == 200, r.text
    assert _read(served, refs, [driver]) == {
        "driver_id": [driver],
        "driver_metadata": [metadata],
        "driver_profile": [{"name": "di", "age": "27"}],
        "driver_config": [{"max_distance_km": 12}],
    }


@pytest.mark.parametrize(
    ("metadata", "profile", "column", "words"),
    [
        ("bike", {"name": "x", "age": "1"}, "driver_metadata", "not the JSON text of an object"),
        ({"rating": 4.5}, {"name": "x", "age": "1"}, "driver_metadata", "does not fit Map"),
        ({"a": "b"}, '{"name": "x", "age": 1}', "driver_profile", "does not fit Struct"),
        ({"a": "b"}, {"name": "x", "height": "2"}, "driver_profile", "height"),
    ],
)
def test_values_that_do_not_fit_are_refused_and_nothing_is_written(
    served: Served, metadata: Any, profile: Any, column: str, words: str
) -> None:
    driver = 1095
    body = {"feature_view_name": "driver_hourly_stats", "df": _body_df(driver, metadata, profile)}
    with httpx.Client(base_url=served.url, timeout=30) as http:
        r = http.post("/write-to-online-store", json=body)
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert f"column {column!r} row 0" in message and words in message
    assert "send an object" in message
    assert "Unsupported cast" not in message and "Expected bytes" not in message
    assert _read(served, BATCH, [driver])["driver_metadata"] == [None]


def test_feasts_materialize_writes_map_and_struct_rows(served: Served, tmp_path: Path) -> None:
    from feast import FeatureStore as FeastStore

    oracle_repo = tmp_path / "oracle"
    shutil.copytree(served.generated, oracle_repo, ignore=shutil.ignore_patterns("__pycache__"))
    _feast(["apply"], oracle_repo)
    oracle = FeastStore(repo_path=str(oracle_repo))
    end = datetime.now(UTC)
    start = end - timedelta(days=30)
    drivers = TEMPLATE_DRIVERS
    assert _read(served, BATCH, drivers)["driver_metadata"] == [None] * len(drivers)
    served.feast.materialize(start, end, feature_views=["driver_hourly_stats"])
    oracle.materialize(start, end, feature_views=["driver_hourly_stats"])
    ours = _read(served, BATCH, drivers)
    assert ours == oracle.get_online_features(BATCH, _rows(drivers)).to_dict()
    assert all(isinstance(m, dict) and m for m in ours["driver_metadata"])
    assert all(set(p) == {"name", "age"} for p in ours["driver_profile"])


def test_a_push_online_and_offline_that_does_not_fit_stages_nothing(served: Served) -> None:
    driver = 1096
    body = {
        "push_source_name": "driver_stats_push_source",
        "df": _body_df(driver, "not an object", {"name": "x", "age": "1"}),
        "to": "online_and_offline",
    }
    before = list(served.store.repository.branch("main").uncommitted())
    with httpx.Client(base_url=served.url, timeout=30) as http:
        r = http.post("/push", json=body)
    assert r.status_code == 422, r.text
    assert "column 'driver_metadata' row 0" in r.json()["error"]["message"]
    assert list(served.store.repository.branch("main").uncommitted()) == before
    assert _read(served, FRESH, [driver])["driver_metadata"] == [None]
    # the same push with an object is staged offline and served online
    body["df"] = _body_df(driver, {"vehicle_type": "bike"}, {"name": "x", "age": "1"})
    with httpx.Client(base_url=served.url, timeout=30) as http:
        assert http.post("/push", json=body).status_code == 200
    assert list(served.store.repository.branch("main").uncommitted()) != before
    assert _read(served, FRESH, [driver])["driver_metadata"] == [{"vehicle_type": "bike"}]
