"""Lookups on Redis (prepared reads, Python values) equal the generic Arrow path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import pyarrow as pa

import featurestore as fs
import online
from featurestore.features import plan_features
from featurestore.lookup import OnlineResponse, read_online
from tests.store_online.data import TS, US
from tests.store_online.defs import definitions

HOUR = timedelta(hours=1)


class ArrowOnly:
    """The Redis store seen only through the `OnlineStore` protocol: reads go through Arrow."""

    def __init__(self, store: online.RedisOnlineStore) -> None:
        self.store = store

    def write(self, *args: Any, **kwargs: Any) -> online.WriteResult:
        return self.store.write(*args, **kwargs)

    def read(self, requests: Sequence[online.ReadRequest]) -> list[pa.Table]:
        return self.store.read(requests)

    def delete(self, table: str, keys: Sequence[bytes]) -> int:
        return self.store.delete(table, keys)

    def delete_table(self, table: str) -> int:
        return self.store.delete_table(table)

    def delete_all(self) -> int:
        return self.store.delete_all()

    def ping(self) -> bool:
        return self.store.ping()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> ArrowOnly:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def same(a: OnlineResponse, b: OnlineResponse) -> dict[str, list[Any]]:
    got = a.to_dict(include_event_timestamps=True)
    assert got == b.to_dict(include_event_timestamps=True)
    assert a.to_dict() == b.to_dict()
    assert a.to_arrow(include_metadata=True).equals(b.to_arrow(include_metadata=True))
    for name in a.feature_names:
        assert a.statuses(name) == b.statuses(name)
        assert a.found[name].to_pylist() == b.found[name].to_pylist()
        assert a.commits[name].to_pylist() == b.commits[name].to_pylist()
    assert dict(a.event_timestamps) == dict(b.event_timestamps)
    return got


def test_prepared_lookups_equal_the_arrow_path(new_store: Callable[..., fs.FeatureStore]) -> None:
    store = new_store()
    store.apply(definitions(ttl=HOUR, extra_views=2))
    now = datetime.now(UTC).replace(microsecond=0)
    ids = [1, 2, 3]
    store.ingest(
        "stats_src",
        pa.table(
            {
                "driver_id": pa.array(ids, pa.int64()),
                "event_ts": pa.array([now - 60 * US, now - 30 * US, now - 2 * HOUR], TS),
                "created": pa.array([now] * 3, TS),
                "conv_rate": pa.array([0.5, 0.25, 0.75], pa.float32()),
                "acc_rate": pa.array([0.1, None, 0.3], pa.float64()),
                "trips": pa.array([7, None, 9], pa.int64()),
                "city": pa.array(["a", None, "c"], pa.string()),
            }
        ),
    )
    for i in range(2):
        store.ingest(
            f"extra{i}_src",
            pa.table(
                {
                    "driver_id": pa.array(ids[: 2 - i], pa.int64()),
                    "event_ts": pa.array([now - HOUR] * (2 - i), TS),
                    **{
                        f"x{i}_{j}": pa.array([float(j), None][: 2 - i], pa.float64())
                        for j in range(10)
                    },
                }
            ),
        )
    commit = store.commit("rows").id
    store.materialize(None, now)
    registry = store.registry("main")
    arrow_only = ArrowOnly(store.online_store)  # type: ignore[arg-type]
    wide = [f"extra{i}:x{i}_{j}" for i in range(2) for j in range(10)]
    stats = ["stats:conv_rate", "stats:acc_rate", "stats:trips", "stats:city"]
    for features, full in ((stats, False), (wide + stats, True), (wide, False)):
        plan = plan_features(features, registry, full_feature_names=full)
        for entities in ([1], [2], [3], [4], [2, 1, 4, 3], [4, 4]):
            columns = {"driver_id": entities}
            fast = read_online(plan, columns, store.online_store, now)
            slow = read_online(plan, columns, arrow_only, now)  # type: ignore[arg-type]
            same(fast, slow)
    plan = plan_features(wide + stats, registry, full_feature_names=False)
    got = same(
        read_online(plan, {"driver_id": [1, 2, 3, 4]}, store.online_store, now),
        read_online(plan, {"driver_id": [1, 2, 3, 4]}, arrow_only, now),  # type: ignore[arg-type]
    )
    assert got["acc_rate"] == [0.1, None, None, None]
    assert got["x0_3"] == [3.0, None, None, None]
    assert got["x1_0"] == [0.0, None, None, None]
    assert got["x0_0__ts"] == [now - HOUR, now - HOUR, None, None]
    assert got["trips__ts"] == [now - 60 * US, now - 30 * US, None, None]
    one = read_online(plan, {"driver_id": [1]}, store.online_store, now)
    assert one.commits["conv_rate"].to_pylist() == [commit]
    assert one.statuses("x1_0") == ["PRESENT"]
    assert read_online(plan, {"driver_id": [2]}, store.online_store, now).statuses("x0_0") == [
        "NULL_VALUE"
    ]


def test_to_dict_copies_its_lists(new_store: Callable[..., fs.FeatureStore]) -> None:
    store = new_store()
    store.apply(definitions(ttl=None))
    now = datetime.now(UTC)
    store.ingest(
        "stats_src",
        pa.table(
            {
                "driver_id": pa.array([1], pa.int64()),
                "event_ts": pa.array([now], TS),
                "created": pa.array([now], TS),
                "conv_rate": pa.array([0.5], pa.float32()),
                "acc_rate": pa.array([0.5], pa.float64()),
                "trips": pa.array([1], pa.int64()),
                "city": pa.array(["a"], pa.string()),
            }
        ),
    )
    store.commit("rows")
    store.materialize(None, now)
    response = store.get_online_features(["stats:trips", "stats:city"], {"driver_id": [1]})
    first = response.to_dict(include_event_timestamps=True)
    first["trips"].append(2)
    first["trips__ts"].append(None)
    assert response.to_dict(include_event_timestamps=True) == {
        "driver_id": [1],
        "trips": [1],
        "trips__ts": [now],
        "city": ["a"],
        "city__ts": [now],
    }
