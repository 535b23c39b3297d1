"""``featurestore explain`` and ``featurestore lineage`` as the real console entry point."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from featurestore import FeatureService, FeatureStore, LoggingConfig
from featurestore.project import load_definitions
from tests.cli.conftest import EXAMPLE, Run

NOW = datetime.now(UTC).replace(microsecond=0)


def _data() -> pa.Table:
    spec = importlib.util.spec_from_file_location("_explain_cli_generate", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table: pa.Table = module.generate(seed=3, drivers=4, days=2, rows_per_driver=12, end=NOW)
    return table


def _served(store: FeatureStore) -> str:
    """Definitions with a logged service ``logged``, data committed and materialized."""
    objects = load_definitions(store.config.project_dir)
    activity = next(o for o in objects if isinstance(o, FeatureService))
    logged = FeatureService(
        name="logged", features=list(activity.features), logging_config=LoggingConfig()
    )
    store.apply([*objects, logged], partial=False)
    store.ingest("driver_stats", _data())
    commit = store.commit("stats").id
    store.materialize(NOW - timedelta(days=3), NOW + timedelta(seconds=1))
    return commit


def test_explain_prints_what_was_served_and_its_recomputation(fs: Run, store: FeatureStore) -> None:
    commit = _served(store)
    rows = [{"driver_id": 1001, "val_to_add": 5}, {"driver_id": 424242, "val_to_add": 1}]
    response = store.get_online_features(store.get_feature_service("logged"), rows)
    assert response.request_id is not None
    store.serving_log.flush()

    as_json = json.loads(fs("explain", response.request_id, "--json").stdout)
    assert as_json == json.loads(json.dumps(store.explain(response.request_id).to_dict()))
    assert as_json["commits"] == [commit] and as_json["skew"] is False
    shown = fs("explain", response.request_id).stdout
    assert response.request_id in shown and "logged" in shown
    assert commit[:12] in shown and "No differences" in shown
    assert "DIFFERS" not in shown

    missing = fs("explain", "0" * 32, code=1).stderr
    assert "no logged lookup has request id" in missing
    assert "not a request id" in fs("explain", "nope", code=1).stderr


def test_lineage_prints_commit_views_and_objects(fs: Run, store: FeatureStore) -> None:
    commit = _served(store)
    entities = pa.table(
        {
            "driver_id": pa.array([1001, 1002], pa.int64()),
            "event_timestamp": pa.array([NOW, NOW], pa.timestamp("us", tz="UTC")),
        }
    )
    job = store.get_historical_features(entities, ["driver_hourly_stats:conv_rate"], ref=commit)
    store.create_saved_dataset(job, "train-cli")

    as_json = json.loads(fs("lineage", "train-cli", "--json").stdout)
    assert as_json == json.loads(json.dumps(store.lineage("train-cli").to_dict()))
    assert as_json["commit"]["id"] == commit
    assert [v["name"] for v in as_json["views"]] == ["driver_hourly_stats"]
    shown = fs("lineage", "train-cli").stdout
    assert "train-cli" in shown and commit in shown and "driver_hourly_stats" in shown
    paths = [o["path"] for t in as_json["tables"] for o in t["objects"]]
    assert paths and all(p.startswith("tables/driver_stats/") for p in paths)
    assert "tables/driver_stats/_schema" in shown.replace("\n", "")
    assert "no saved dataset named" in fs("lineage", "nope", code=1).stderr


def test_a_logged_cli_lookup_prints_its_request_id(fs: Run, store: FeatureStore) -> None:
    _served(store)
    lookup = ["online", "--service", "logged", "-e", "driver_id=1001,val_to_add=5"]
    rows = json.loads(fs(*lookup, "-e", "driver_id=1002,val_to_add=1", "--json").stdout)
    (request_id,) = {row["request_id"] for row in rows}
    assert request_id is not None and len(request_id) == 32
    shown = fs(*lookup).stdout
    (line,) = [line for line in shown.splitlines() if line.startswith("Logged as request ")]
    printed = line.split()[3].rstrip(":")
    assert printed != request_id and f"featurestore explain {printed}" in line
    explained = json.loads(fs("explain", printed, "--json").stdout)
    assert explained["request_id"] == printed and explained["feature_service"] == "logged"
    unlogged = fs("online", "--service", "driver_activity", "-e", "driver_id=1001,val_to_add=5")
    assert "Logged as request" not in unlogged.stdout
    plain = json.loads(
        fs("online", "--service", "driver_activity", "-e", "driver_id=1001,val_to_add=5",
           "--json").stdout
    )  # fmt: skip
    assert plain[0]["request_id"] is None
