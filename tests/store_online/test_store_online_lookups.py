"""Lookups through the facade: nulls, statuses, errors, push, metadata, round trips."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

import featurestore as fs
from tests.store_online.data import TS, US
from tests.store_online.defs import definitions
from tests.store_online.proxy import RoundTripProxy

FEATURES = ["stats:conv_rate", "stats:acc_rate", "stats:trips", "stats:city"]
HOUR = timedelta(hours=1)


def rows(
    drivers: list[int], events: list[datetime], conv: list[float], trips: list[int | None]
) -> pa.Table:
    return pa.table(
        {
            "driver_id": pa.array(drivers, pa.int64()),
            "event_ts": pa.array(events, TS),
            "created": pa.array(events, TS),
            "conv_rate": pa.array(conv, pa.float32()),
            "acc_rate": pa.array([c / 2 for c in conv], pa.float64()),
            "trips": pa.array(trips, pa.int64()),
            "city": pa.array([f"c{d}" for d in drivers], pa.string()),
        }
    )


@pytest.fixture
def served(new_store: Callable[..., fs.FeatureStore]) -> tuple[fs.FeatureStore, datetime, str]:
    """Drivers 1-3 materialized at ``now``: 1 fresh, 2 fresh with null trips, 3 expired
    (its event time is 90 minutes old, ttl 1 hour; the store keeps it for 2 hours)."""
    store = new_store()
    store.apply(definitions(ttl=HOUR))
    now = datetime.now(UTC).replace(microsecond=0)
    store.ingest(
        "stats_src",
        rows(
            [1, 2, 3],
            [now - 60 * US, now - 30 * US, now - HOUR - HOUR / 2],
            [0.5, 0.25, 0.75],
            [7, None, 9],
        ),
    )
    commit = store.commit("rows").id
    store.materialize(None, now)
    return store, now, commit


def test_expired_unknown_and_null_values(served: tuple[fs.FeatureStore, datetime, str]) -> None:
    store, _, commit = served
    response = store.get_online_features(FEATURES, [{"driver_id": d} for d in (1, 2, 3, 4)])
    assert response.to_dict() == {
        "driver_id": [1, 2, 3, 4],
        "conv_rate": [0.5, 0.25, None, None],
        "acc_rate": [0.25, 0.125, None, None],
        "trips": [7, None, None, None],
        "city": ["c1", "c2", None, None],
    }
    # expired (3) and never stored (4) read null, with distinct statuses as in Feast
    expired = "OUTSIDE_MAX_AGE"
    assert response.statuses("conv_rate") == ["PRESENT", "PRESENT", expired, "NOT_FOUND"]
    assert response.statuses("trips") == ["PRESENT", "NULL_VALUE", expired, "NOT_FOUND"]
    assert response.commits["trips"].to_pylist() == [commit, commit, None, None]
    assert response.to_arrow().schema.field("trips").type == pa.int64()


def test_ttl_is_measured_against_now(new_store: Callable[..., fs.FeatureStore]) -> None:
    store = new_store()
    store.apply(definitions(ttl=HOUR))
    t = (datetime.now(UTC) + 2 * HOUR).replace(microsecond=0)  # no key expires in Redis here
    store.ingest("stats_src", rows([1], [t - HOUR], [0.5], [1]))
    store.commit("rows")
    store.materialize(None, t)
    at = [
        store.get_online_features(["stats:trips"], {"driver_id": [1]}, now=n) for n in (t, t + US)
    ]
    assert [r.to_dict()["trips"] for r in at] == [[1], [None]]
    assert at[1].statuses("trips") == ["OUTSIDE_MAX_AGE"]


def test_metadata_names_event_times_and_commits(
    served: tuple[fs.FeatureStore, datetime, str],
) -> None:
    store, now, commit = served
    response = store.get_online_features(FEATURES, {"driver_id": [2, 4]}, full_feature_names=True)
    table = response.to_arrow(include_metadata=True)
    assert table.column("stats__conv_rate__commit").to_pylist() == [commit, None]
    assert table.column("stats__trips__event_timestamp").to_pylist() == [now - 30 * US, None]
    with_ts = response.to_dict(include_event_timestamps=True)
    assert with_ts["stats__city__ts"] == [now - 30 * US, None]
    assert store.resolve("main") == commit


def test_unknown_feature_and_missing_request_data(
    served: tuple[fs.FeatureStore, datetime, str],
) -> None:
    store, _, _ = served
    with pytest.raises(fs.NotFoundError):
        store.get_online_features(["stats:nope"], {"driver_id": [1]})
    with pytest.raises(fs.NotFoundError):
        store.get_online_features(["nope:conv_rate"], {"driver_id": [1]})
    with pytest.raises(fs.ValidationError, match="val"):
        store.get_online_features(["plus_val:conv_plus_val"], {"driver_id": [1]})
    with pytest.raises(fs.ValidationError, match="driver_id"):
        store.get_online_features(["stats:conv_rate"], {"driver": [1]})
    response = store.get_online_features(
        ["plus_val:conv_plus_val", "stats:conv_rate"], {"driver_id": [1, 4], "val": [10, 20]}
    )
    assert response.to_dict() == {
        "driver_id": [1, 4],
        "conv_plus_val": [10.5, None],
        "conv_rate": [0.5, None],
    }


def test_push_online_is_monotonic(served: tuple[fs.FeatureStore, datetime, str]) -> None:
    store, now, _ = served
    pushed = rows([1, 2, 5], [now - 90 * US, now, now], [0.0625, 0.125, 0.875], [1, 2, 3])
    assert store.push("stats_push", pushed) == 3
    response = store.get_online_features(FEATURES, {"driver_id": [1, 2, 5]})
    assert response.to_dict()["conv_rate"] == [0.5, 0.125, 0.875]  # driver 1's push was older
    assert response.commits["conv_rate"].to_pylist()[1:] == [None, None]
    assert list(store.repository.branch("main").uncommitted()) == []


def test_push_with_a_bad_schema_writes_nothing(
    served: tuple[fs.FeatureStore, datetime, str],
) -> None:
    store, now, _ = served
    before = store.get_online_features(FEATURES, {"driver_id": [1, 6]}).to_dict()
    good = rows([1, 6], [now, now], [0.1, 0.2], [1, 2])
    bad_type = good.set_column(3, "conv_rate", pa.array(["x", "y"]))
    missing = good.drop_columns(["trips"])
    for to in ("online", "offline", "online_and_offline"):
        for bad in (bad_type, missing):
            with pytest.raises(fs.SchemaError):
                store.push("stats_push", bad, to=to)  # type: ignore[arg-type]
    with pytest.raises(fs.NotFoundError):
        store.push("no_such_push", good)
    assert store.get_online_features(FEATURES, {"driver_id": [1, 6]}).to_dict() == before
    assert list(store.repository.branch("main").uncommitted()) == []


def test_push_offline_is_staged_on_the_branch(
    served: tuple[fs.FeatureStore, datetime, str],
) -> None:
    store, now, commit = served
    store.repository.branch("dev").create("main")
    fresh = rows([6], [now], [0.375], [4])
    store.push("stats_push", fresh, to="offline", branch="dev")
    assert store.get_online_features(["stats:conv_rate"], {"driver_id": [6]}).to_dict()[
        "conv_rate"
    ] == [None]
    assert list(store.repository.branch("main").uncommitted()) == []
    assert list(store.repository.branch("dev").uncommitted()) != []
    new = store.commit("pushed", branch="dev").id
    count = "select count(*) as n from stats_src where driver_id = 6"
    assert store.sql(count, ref=new).column("n").to_pylist() == [1]
    assert store.sql(count, ref=commit).column("n").to_pylist() == [0]
    store.push("stats_push", rows([7], [now], [0.5], [5]), to="online_and_offline")
    assert store.get_online_features(["stats:conv_rate"], {"driver_id": [7]}).to_dict()[
        "conv_rate"
    ] == [0.5]
    assert list(store.repository.branch("main").uncommitted()) != []


def test_one_round_trip_per_lookup(
    new_store: Callable[..., fs.FeatureStore], redis_url: str
) -> None:
    proxy = RoundTripProxy(redis_url)
    try:
        store = new_store(url=proxy.url)
        store.apply(definitions(ttl=None, extra_views=4))
        now = datetime.now(UTC)
        ids = list(range(1, 101))
        store.ingest("stats_src", rows(ids, [now] * 100, [0.5] * 100, [1] * 100))
        for i in range(4):
            store.ingest(
                f"extra{i}_src",
                pa.table(
                    {
                        "driver_id": pa.array(ids, pa.int64()),
                        "event_ts": pa.array([now] * 100, TS),
                        **{f"x{i}_{j}": pa.array([float(j)] * 100) for j in range(10)},
                    }
                ),
            )
        store.commit("rows")
        store.materialize(None, now)
        many = ["stats:conv_rate", "stats:trips", "plus_val:conv_plus_val"] + [
            f"extra{i}:x{i}_{j}" for i in range(4) for j in range(10)
        ]
        cases = [
            (["stats:conv_rate"], {"driver_id": [1]}),
            (FEATURES, {"driver_id": ids}),
            (many, {"driver_id": [5], "val": [1]}),
            (many, {"driver_id": [*ids, 1000], "val": [1] * 101}),
        ]
        for features, entities in cases:
            store.get_online_features(features, entities)  # plans and connection warm
            before = proxy.turns
            response = store.get_online_features(features, entities)
            assert proxy.turns - before == 1
            assert response.statuses(response.feature_names[0])[0] == "PRESENT"
        assert response.to_dict()["x3_9"] == [9.0] * 100 + [None]
        assert proxy.connections >= 1
        before = proxy.turns
        store.materialize(None, now)  # reading state, script load, writes: more than one
        assert proxy.turns - before > 1
    finally:
        proxy.close()
