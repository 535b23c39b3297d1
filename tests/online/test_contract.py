"""Contract suite for the `OnlineStore` protocol, run on `RedisOnlineStore` and on
`RedisClusterOnlineStore` (a 3-primary / 3-replica Valkey Cluster)."""

from __future__ import annotations

import inspect
import math
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

import online
from tests.conftest import drop_prefix
from tests.online.cluster import drop_cluster_prefix

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["single", "cluster"])
def online_store(
    request: pytest.FixtureRequest, redis_url: str
) -> Iterator[online.RedisOnlineStore]:
    """The store under test, on one server and on the cluster, with a key prefix of its own.

    Tests that also check the single server's raw keys (``redis_url``) run on it alone;
    test_cluster_store.py checks the cluster's keys.
    """
    prefix = f"t{uuid.uuid4().hex[:12]}"
    if request.param == "single":
        store: online.RedisOnlineStore = online.RedisOnlineStore(redis_url, key_prefix=prefix)
        try:
            yield store
        finally:
            store.close()
            drop_prefix(redis_url, prefix)
        return
    if "redis_url" in inspect.signature(request.function).parameters:
        pytest.skip("checks the single server's raw keys; test_cluster_store.py has the cluster's")
    cluster = request.getfixturevalue("valkey_cluster")
    store = online.RedisClusterOnlineStore(cluster.url, key_prefix=prefix)
    try:
        yield store
    finally:
        store.close()
        drop_cluster_prefix(cluster.url, prefix)


def micros(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def keys(*ids: int) -> list[bytes]:
    return [online.encode_entity_key(["driver_id"], [i]) for i in ids]


def ts(*times: datetime) -> pa.Array:
    return pa.array(list(times), pa.timestamp("us", tz="UTC"))


def read_one(
    store: online.OnlineStore, table: str, ks: Sequence[bytes], schema: pa.Schema, **kw: Any
) -> list[dict[str, Any]]:
    (result,) = store.read([online.ReadRequest(table, ks, schema, **kw)])
    assert result.num_rows == len(ks)
    return result.to_pylist()  # type: ignore[no-any-return]


ALL_TYPES = pa.table(
    {
        "i32": pa.array([1, None, -(2**31)], pa.int32()),
        "i64": pa.array([2**63 - 1, -(2**63), None], pa.int64()),
        "u64": pa.array([2**64 - 1, None, 0], pa.uint64()),
        "f32": pa.array([1.5, None, -0.0], pa.float32()),
        "f64": pa.array([math.pi, float("inf"), None], pa.float64()),
        "s": pa.array(["héllo", "", None], pa.string()),
        "ls": pa.array(["x" * 1000, None, "y"], pa.large_string()),
        "b": pa.array([True, False, None], pa.bool_()),
        "bin": pa.array([b"\x00\xff", None, b""], pa.binary()),
        "ts": pa.array([T0, None, datetime(1900, 1, 1, tzinfo=UTC)], pa.timestamp("us", "UTC")),
        "ts_ns": pa.array([1, None, 2**62], pa.timestamp("ns")),
        "d": pa.array([date(2024, 1, 1), None, date(1, 1, 1)], pa.date32()),
        "dur": pa.array([timedelta(seconds=5), None, timedelta(0)], pa.duration("ms")),
        "li": pa.array([[1, None, 3], None, []], pa.list_(pa.int64())),
        "lf": pa.array([[0.5], [], None], pa.list_(pa.float32())),
        "lls": pa.array([[["a", None], []], None, [None]], pa.list_(pa.list_(pa.string()))),
    }
)


def test_redis_store_satisfies_the_protocol(online_store: online.RedisOnlineStore) -> None:
    assert isinstance(online_store, online.OnlineStore)
    assert online_store.ping()


def test_every_type_round_trips_with_nulls(online_store: online.OnlineStore) -> None:
    ks = keys(1, 2, 3)
    result = online_store.write("all", ks, ALL_TYPES, ts(T0, T0, T0), commit="c1")
    assert result == online.WriteResult(3, 0)
    (got,) = online_store.read([online.ReadRequest("all", ks, ALL_TYPES.schema)])
    assert got.select(ALL_TYPES.column_names).equals(ALL_TYPES)
    assert got.column("__commit").to_pylist() == ["c1"] * 3
    assert got.column("__event_ts").to_pylist() == [T0] * 3
    assert got.schema.field("__event_ts").type == pa.timestamp("us", tz="UTC")


def test_record_batch_and_int_micros_are_accepted(online_store: online.OnlineStore) -> None:
    batch = pa.record_batch({"v": pa.array([7], pa.int16())})
    online_store.write("t", keys(1), batch, pa.array([micros(T0)], pa.int64()))
    assert read_one(online_store, "t", keys(1), batch.schema) == [
        {"v": 7, "__event_ts": T0, "__commit": None}
    ]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.integers(-(2**63), 2**63 - 1),
            st.none() | st.floats(allow_nan=False, width=64),
            st.none() | st.text(max_size=50),
            st.none() | st.lists(st.none() | st.integers(-5, 5), max_size=4),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_random_rows_round_trip(redis_url: str, rows: list[tuple[Any, ...]]) -> None:
    schema = pa.schema(
        [("i", pa.int64()), ("f", pa.float64()), ("s", pa.string()), ("l", pa.list_(pa.int8()))]
    )
    table = pa.Table.from_pylist(
        [dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema
    )
    ks = keys(*range(len(rows)))
    with online.RedisOnlineStore(redis_url, key_prefix="hyp") as store:
        store.delete_table("rt")
        store.write("rt", ks, table, ts(*[T0] * len(rows)))
        (got,) = store.read([online.ReadRequest("rt", ks, schema)])
        store.delete_table("rt")
    assert got.select(schema.names).equals(table)


def test_missing_columns_and_unknown_keys_read_as_null(online_store: online.OnlineStore) -> None:
    online_store.write("t", keys(1), pa.table({"a": [1]}), ts(T0))
    schema = pa.schema([("a", pa.int64()), ("never_written", pa.string())])
    assert read_one(online_store, "t", keys(9, 1, 9), schema) == [
        {"a": None, "never_written": None, "__event_ts": None, "__commit": None},
        {"a": 1, "never_written": None, "__event_ts": T0, "__commit": None},
        {"a": None, "never_written": None, "__event_ts": None, "__commit": None},
    ]
    assert read_one(online_store, "other_table", keys(1), schema)[0]["a"] is None
    assert online_store.read([online.ReadRequest("t", [], schema)])[0].num_rows == 0
    assert online_store.read([]) == []


def test_older_rows_are_skipped_equal_rows_overwrite(online_store: online.OnlineStore) -> None:
    ks = keys(1, 2)
    schema = pa.schema([("v", pa.int64())])
    online_store.write("t", ks, pa.table({"v": [10, 20]}), ts(T0, T0), commit="new")
    older = T0 - timedelta(microseconds=1)
    result = online_store.write("t", ks, pa.table({"v": [1, 2]}), ts(older, T0), commit="re")
    assert result == online.WriteResult(written=1, stale=1)
    rows = read_one(online_store, "t", ks, schema)
    assert [(r["v"], r["__commit"]) for r in rows] == [(10, "new"), (2, "re")]
    newer = T0 + timedelta(hours=1)
    online_store.write("t", ks, pa.table({"v": [None, 5]}), ts(newer, newer))
    rows = read_one(online_store, "t", ks, schema)
    assert [(r["v"], r["__event_ts"], r["__commit"]) for r in rows] == [
        (None, newer, None),
        (5, newer, None),
    ]


def test_large_write_spans_many_calls(online_store: online.OnlineStore) -> None:
    n = 5000
    ks = keys(*range(n))
    table = pa.table({"v": pa.array(range(n), pa.int64()), "s": [str(i) for i in range(n)]})
    stamps = pa.array([micros(T0)] * n, pa.int64())
    assert online_store.write("big", ks, table, stamps) == online.WriteResult(n, 0)
    assert online_store.write("big", ks, table, stamps) == online.WriteResult(n, 0)
    (got,) = online_store.read([online.ReadRequest("big", ks[::-1], table.schema)])
    assert got.column("v").to_pylist() == list(range(n))[::-1]
    assert online_store.delete_table("big") == n
    assert online_store.delete_table("big") == 0


def test_ttl_on_read_and_on_write(online_store: online.RedisOnlineStore, redis_url: str) -> None:
    now = datetime.now(UTC)
    ks = keys(1, 2)
    schema = pa.schema([("v", pa.int64())])
    online_store.write("t", ks, pa.table({"v": [1, 2]}), ts(now - timedelta(hours=2), now))
    rows = read_one(online_store, "t", ks, schema, ttl=timedelta(hours=1))
    assert [r["v"] for r in rows] == [None, 2]
    assert rows[0]["__event_ts"] is None
    rows = read_one(online_store, "t", ks, schema, ttl=timedelta(hours=3))
    assert [r["v"] for r in rows] == [1, 2]
    later = now + timedelta(hours=5)
    rows = read_one(online_store, "t", ks, schema, ttl=timedelta(hours=3), now=later)
    assert [r["v"] for r in rows] == [None, None]
    # Written with a ttl: Redis itself expires the key at event time + ttl.
    online_store.write(
        "e", ks, pa.table({"v": [1, 2]}), ts(now - timedelta(hours=2), now), ttl=timedelta(hours=1)
    )
    assert [r["v"] for r in read_one(online_store, "e", ks, schema)] == [None, 2]
    client = redis.Redis.from_url(redis_url)
    try:
        key = f"{online_store.key_prefix}:e:".encode() + ks[1]
        expire_ms = client.pexpiretime(key)
        assert expire_ms == micros(now + timedelta(hours=1)) // 1000
        assert client.exists(f"{online_store.key_prefix}:e:".encode() + ks[0]) == 0
    finally:
        client.close()
    # A newer write without ttl makes the key permanent again.
    online_store.write("e", ks[1:], pa.table({"v": [3]}), ts(now + timedelta(seconds=1)))
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.pttl(f"{online_store.key_prefix}:e:".encode() + ks[1]) == -1
    finally:
        client.close()


class CountingStore(online.RedisOnlineStore):
    """Counts network exchanges: every command the store sends goes through `_exchange`."""

    exchanges = 0

    def _exchange(self, commands: Any, replies: int) -> list[Any]:
        self.exchanges += 1
        return super()._exchange(commands, replies)


def _hmget_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_hmget", {"calls": 0})
    return int(stats["calls"])


def test_many_tables_are_read_in_one_round_trip(redis_url: str) -> None:
    store = CountingStore(redis_url, key_prefix="one_trip")
    client = redis.Redis.from_url(redis_url)
    try:
        requests = []
        for t in range(5):
            table = pa.table({f"f{t}_{c}": [t * 10 + c] * 3 for c in range(10)})
            store.write(f"view{t}", keys(1, 2, 3), table, ts(T0, T0, T0))
            requests.append(online.ReadRequest(f"view{t}", keys(3, 1, 2, 4), table.schema))
        before_calls, before_trips = _hmget_calls(client), store.exchanges
        results = store.read(requests)
        assert store.exchanges - before_trips == 1
        assert _hmget_calls(client) - before_calls == 20
        for t, result in enumerate(results):
            assert result.column(f"f{t}_9").to_pylist() == [t * 10 + 9] * 3 + [None]
    finally:
        for t in range(5):
            store.delete_table(f"view{t}")
        store.close()
        client.close()


def test_delete_removes_keys(online_store: online.OnlineStore) -> None:
    ks = keys(1, 2, 3)
    online_store.write("t", ks, pa.table({"v": [1, 2, 3]}), ts(T0, T0, T0))
    online_store.write("u", ks, pa.table({"v": [1, 2, 3]}), ts(T0, T0, T0))
    assert online_store.delete("t", [*ks[:2], b"unknown"]) == 2
    assert [r["v"] for r in read_one(online_store, "t", ks, pa.schema([("v", pa.int64())]))] == [
        None,
        None,
        3,
    ]
    assert online_store.delete_table("t") == 1
    assert [r["v"] for r in read_one(online_store, "u", ks, pa.schema([("v", pa.int64())]))] == [
        1,
        2,
        3,
    ]


@pytest.mark.parametrize(
    ("table", "ks", "values", "stamps", "error"),
    [
        ("bad:name", keys(1), pa.table({"v": [1]}), ts(T0), online.InvalidInputError),
        ("t", keys(1, 2), pa.table({"v": [1]}), ts(T0), online.InvalidInputError),
        ("t", keys(1), pa.table({"v": [1]}), ts(T0, T0), online.InvalidInputError),
        ("t", keys(1), pa.table({"__ts": [1]}), ts(T0), online.InvalidInputError),
        ("t", keys(1), pa.table({"v": [Decimal(1)]}), ts(T0), online.UnsupportedTypeError),
        (
            "t",
            keys(1),
            pa.table({"v": [1]}),
            pa.array([None], pa.int64()),
            online.InvalidInputError,
        ),
        ("t", keys(1), pa.table({"v": [1]}), pa.array(["2024"]), online.InvalidInputError),
    ],
)
def test_bad_writes_raise_and_leave_nothing(
    online_store: online.RedisOnlineStore,
    redis_url: str,
    table: str,
    ks: list[bytes],
    values: pa.Table,
    stamps: pa.Array,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        online_store.write(table, ks, values, stamps)
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"{online_store.key_prefix}:*")) == []
    finally:
        client.close()


def test_reading_with_another_type_is_a_clear_error(online_store: online.OnlineStore) -> None:
    online_store.write("t", keys(1), pa.table({"v": pa.array([True])}), ts(T0))
    with pytest.raises(online.DecodeError, match="'v'"):
        read_one(online_store, "t", keys(1), pa.schema([("v", pa.int64())]))


def test_wrong_redis_key_type_is_a_command_error(
    online_store: online.RedisOnlineStore, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(f"{online_store.key_prefix}:t:".encode() + keys(1)[0], b"a string")
    finally:
        client.close()
    with pytest.raises(online.CommandError, match="WRONGTYPE"):
        online_store.write("t", keys(1), pa.table({"v": [1]}), ts(T0))
    with pytest.raises(online.CommandError):
        read_one(online_store, "t", keys(1), pa.schema([("v", pa.int64())]))


def test_unreachable_server_is_a_connection_error() -> None:
    store = online.RedisOnlineStore("redis://127.0.0.1:1", socket_timeout=1)
    assert store.ping() is False
    with pytest.raises(online.ConnectionFailedError, match=r"127\.0\.0\.1:1") as info:
        store.read([online.ReadRequest("t", keys(1), pa.schema([("v", pa.int64())]))])
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value, online.OnlineError)
