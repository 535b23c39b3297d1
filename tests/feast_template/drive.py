"""The steps of the ``feast init`` template's ``test_workflow.py``, with their results kept.

Written in Feast's words: the test copies it into both generated repositories and
rewrites its imports (as it does the template's files) in ours. Run in a repository's
folder: ``python drive.py OUT.pkl``. Each step's result, or the traceback it raised, is
pickled to OUT.pkl; a step that fails does not stop the later ones.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import traceback
from datetime import datetime
from typing import Any

import pandas as pd
from feast import FeatureStore
from feast.data_source import PushMode

results: dict[str, Any] = {}


def step(name: str, fn: Any) -> None:
    try:
        results[name] = ("ok", fn())
    except BaseException:
        results[name] = ("error", traceback.format_exc())


def cli(*args: str) -> dict[str, Any]:
    done = subprocess.run(["feast", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"feast {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return {"returncode": done.returncode}


def entity_df(for_batch_scoring: bool) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(
        {
            "driver_id": [1001, 1002, 1003],
            "event_timestamp": [
                datetime(2021, 4, 12, 10, 59, 42),
                datetime(2021, 4, 12, 8, 12, 10),
                datetime(2021, 4, 12, 16, 40, 26),
            ],
            "label_driver_reported_satisfaction": [1, 5, 3],
            "val_to_add": [1, 2, 3],
            "val_to_add_2": [10, 20, 30],
        }
    )
    if for_batch_scoring:
        frame["event_timestamp"] = pd.to_datetime("now", utc=True)
    return frame


def historical(store: FeatureStore, for_batch_scoring: bool) -> pd.DataFrame:
    return store.get_historical_features(
        entity_df=entity_df(for_batch_scoring),
        features=[
            "driver_hourly_stats:conv_rate",
            "driver_hourly_stats:acc_rate",
            "driver_hourly_stats:avg_daily_trips",
            "transformed_conv_rate:conv_rate_plus_val1",
            "transformed_conv_rate:conv_rate_plus_val2",
        ],
    ).to_df()


def online(store: FeatureStore, source: str = "") -> dict[str, Any]:
    entity_rows = [
        {"driver_id": 1001, "val_to_add": 1000, "val_to_add_2": 2000},
        {"driver_id": 1002, "val_to_add": 1001, "val_to_add_2": 2002},
    ]
    features: Any
    if source == "feature_service":
        features = store.get_feature_service("driver_activity_v1")
    elif source == "push":
        features = store.get_feature_service("driver_activity_v3")
    else:
        features = [
            "driver_hourly_stats:acc_rate",
            "driver_hourly_stats:driver_metadata",
            "driver_hourly_stats:driver_config",
            "driver_hourly_stats:driver_profile",
            "transformed_conv_rate:conv_rate_plus_val1",
            "transformed_conv_rate:conv_rate_plus_val2",
        ]
    return dict(store.get_online_features(features=features, entity_rows=entity_rows).to_dict())


def push(store: FeatureStore) -> None:
    event_df = pd.DataFrame.from_dict(
        {
            "driver_id": [1001],
            "event_timestamp": [datetime.now()],
            "created": [datetime.now()],
            "conv_rate": [1.0],
            "acc_rate": [1.0],
            "avg_daily_trips": [1000],
            "driver_metadata": [{"vehicle_type": "truck", "rating": "5.0"}],
            "driver_config": [json.dumps({"max_distance_km": 500, "preferred_zones": ["north"]})],
            "driver_profile": [{"name": "driver_1001_updated", "age": "30"}],
        }
    )
    store.push("driver_stats_push_source", event_df, to=PushMode.ONLINE_AND_OFFLINE)


def main(out: str) -> None:
    store = FeatureStore(repo_path=".")
    step("apply", lambda: cli("apply"))
    step("historical_training", lambda: historical(store, for_batch_scoring=False))
    step("historical_batch_scoring", lambda: historical(store, for_batch_scoring=True))
    step("materialize_incremental", lambda: store.materialize_incremental(end_date=datetime.now()))
    step("online_list", lambda: online(store))
    step("online_service_v1", lambda: online(store, source="feature_service"))
    step("online_service_v3", lambda: online(store, source="push"))
    step("push", lambda: push(store))
    step("online_after_push", lambda: online(store, source="push"))
    step("historical_after_push", lambda: historical(store, for_batch_scoring=True))
    step("teardown", lambda: cli("teardown"))
    if results["materialize_incremental"][0] == "ok":  # its result type is each store's own
        results["materialize_incremental"] = ("ok", None)
    with open(out, "wb") as f:
        pickle.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1])
