"""Explaining a logged lookup after main moved on: served values, their commits, skew."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

import featurestore as fs
from tests.store_online.data import TS, US
from tests.store_online.defs import definitions

HOUR = timedelta(hours=1)


def rows(drivers: list[int], events: list[datetime], conv: list[float]) -> pa.Table:
    return pa.table(
        {
            "driver_id": pa.array(drivers, pa.int64()),
            "event_ts": pa.array(events, TS),
            "created": pa.array(events, TS),
            "conv_rate": pa.array(conv, pa.float32()),
            "acc_rate": pa.array([c / 2 for c in conv], pa.float64()),
            "trips": pa.array([int(c * 100) for c in conv], pa.int64()),
            "city": pa.array([f"c{d}" for d in drivers], pa.string()),
        }
    )


def logged_definitions() -> list[object]:
    objects = definitions(ttl=HOUR)
    stats = next(o for o in objects if isinstance(o, fs.FeatureView))
    plus_val = next(o for o in objects if isinstance(o, fs.OnDemandFeatureView))
    service = fs.FeatureService(
        name="scoring",
        features=[stats[["conv_rate", "trips"]], plus_val],
        logging_config=fs.LoggingConfig(sample_rate=1.0),
    )
    return [*objects, service]


@pytest.fixture
def store(new_store: Callable[..., fs.FeatureStore]) -> fs.FeatureStore:
    made = new_store()
    made.apply(logged_definitions())
    made.trust_code("plus_val")
    return made


def test_explain_after_main_moved_on(store: fs.FeatureStore) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store.ingest("stats_src", rows([1, 2], [now - 60 * US, now - 60 * US], [0.5, 0.25]))
    old = store.commit("first rows").id
    store.materialize(None, now)
    service = store.get_feature_service("scoring")
    entity_rows = [
        {"driver_id": 1, "val": 1},
        {"driver_id": 2, "val": 2},
        {"driver_id": 9, "val": 0},
    ]
    served = store.get_online_features(service, entity_rows, now=now)
    assert served.request_id is not None
    store.serving_log.flush()

    # main moves on: a late row before the lookup's time, committed and materialized
    store.ingest("stats_src", rows([1], [now - 10 * US], [0.9]))
    new = store.commit("late rows").id
    store.materialize(None, now)
    assert store.get_online_features(service, entity_rows[:1], now=now).to_dict()["trips"] == [90]
    at_new = store.get_historical_features(
        pa.table({"driver_id": [1], "event_timestamp": pa.array([now], TS)}),
        ["stats:trips"],
        ref=new,
    )
    assert at_new.to_arrow().column("trips").to_pylist() == [90]

    explained = store.explain(served.request_id)
    assert explained.request_id == served.request_id
    assert explained.requested_at == now
    assert explained.feature_service == "scoring"
    assert explained.ref == "main"
    assert explained.definitions_commit == old
    assert explained.commits == (old,)
    assert not explained.skew and explained.differences == []
    by_key = {(v.row, v.feature): v for v in explained.values}
    assert len(by_key) == 3 * 3
    trips = by_key[(0, "trips")]
    assert (trips.served, trips.recomputed, trips.matches) == (50, 50, True)
    assert trips.commit_id == old and trips.recomputed_at == old
    assert trips.event_timestamp == now - 60 * US and trips.entity == {"driver_id": 1}
    assert by_key[(1, "conv_rate")].served == 0.25 == by_key[(1, "conv_rate")].recomputed
    assert by_key[(1, "conv_plus_val")].served == 2.25 == by_key[(1, "conv_plus_val")].recomputed
    missing = by_key[(2, "conv_rate")]
    assert (missing.status, missing.served, missing.recomputed, missing.matches) == (
        "NOT_FOUND",
        None,
        None,
        True,
    )
    body = explained.to_dict()
    assert body["skew"] is False and body["commits"] == [old] and len(body["values"]) == 9
    assert "no differences" in repr(explained) and "<table" in explained._repr_html_()


def test_a_value_pushed_online_only_is_marked_as_skew(store: fs.FeatureStore) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store.ingest("stats_src", rows([1], [now - 60 * US], [0.5]))
    commit = store.commit("rows").id
    store.materialize(None, now)
    store.push("stats_push", rows([1], [now - 5 * US], [0.75]), to="online")
    service = store.get_feature_service("scoring")
    served = store.get_online_features(service, [{"driver_id": 1, "val": 0}], now=now)
    assert served.request_id is not None
    explained = store.explain(served.request_id)  # flushes this process's queue first
    assert explained.skew
    trips = next(v for v in explained.values if v.feature == "trips")
    assert trips.commit_id is None and trips.recomputed_at == commit
    assert (trips.served, trips.recomputed, trips.matches) == (75, 50, False)
    assert {v.feature for v in explained.differences} == {"conv_rate", "trips", "conv_plus_val"}
    assert "DIFFERS" in repr(explained)


def test_unknown_and_malformed_request_ids(store: fs.FeatureStore) -> None:
    with pytest.raises(fs.NotFoundError, match="no logged lookup has request id"):
        store.explain("0" * 32)
    with pytest.raises(fs.ValidationError, match="not a request id"):
        store.explain("x'; DROP TABLE t; --")


def test_a_lookup_of_a_branch_namespace_is_explained_on_that_branch(
    store: fs.FeatureStore,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store.ingest("stats_src", rows([1], [now - 60 * US], [0.5]))
    main = store.commit("rows").id
    store.materialize(None, now)
    store.repository.branch("dev").create("main")
    store.ingest("stats_src", rows([1], [now - 30 * US], [0.8]), branch="dev")
    dev = store.commit("dev rows", branch="dev").id
    store.materialize(None, now, ref="dev")
    service = store.get_feature_service("scoring")
    served = store.get_online_features(service, [{"driver_id": 1, "val": 0}], now=now, ref="dev")
    assert served.to_dict()["trips"] == [80] and served.request_id is not None
    explained = store.explain(served.request_id)
    assert explained.ref == "dev" and explained.definitions_commit == dev
    assert explained.commits == (dev,) and not explained.skew
    trips = next(v for v in explained.values if v.feature == "trips")
    assert (trips.served, trips.recomputed, trips.recomputed_at) == (80, 80, dev)
    # main's lookups are logged with main's commit
    on_main = store.get_online_features(service, [{"driver_id": 1, "val": 0}], now=now)
    assert on_main.request_id is not None
    assert store.explain(on_main.request_id).commits == (main,)


def test_a_serving_log_emptied_by_an_erasure_reads_as_an_empty_table(
    store: fs.FeatureStore,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store.ingest("stats_src", rows([1], [now - 60 * US], [0.5]))
    store.commit("rows")
    store.materialize(None, now)
    service = store.get_feature_service("scoring")
    served = store.get_online_features(service, [{"driver_id": 1, "val": 0}], now=now)
    assert served.request_id is not None
    store.serving_log.flush()
    query = "SELECT count(*) AS n FROM serving_log__scoring WHERE driver_id = 1"
    assert store.sql(query, ref="serving-log").column("n").to_pylist()[0] > 0
    store.erase({"driver_id": 1}, reason="the only driver logged")
    assert store.tables.files("serving-log", "serving_log__scoring") == []  # no part left
    assert store.sql(query, ref="serving-log").column("n").to_pylist() == [0]
    columns = store.sql("SELECT * FROM serving_log__scoring", ref="serving-log").column_names
    assert {"request_id", "driver_id"} <= set(columns)
    with pytest.raises(fs.ValidationError, match="no table named serving_log__nope") as caught:
        store.sql("SELECT * FROM serving_log__nope", ref="serving-log")
    assert "Did you mean" not in str(caught.value)
