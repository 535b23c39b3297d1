"""The monotonic rule is exact for every event time a write takes, and times that a
Python datetime cannot hold are refused at write and read back as a clear error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import redis

import online

SCHEMA = pa.schema([("v", pa.int64())])
KEY = [online.encode_entity_key(["driver_id"], [1])]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _write(store: online.RedisOnlineStore, micros: int, value: int) -> online.WriteResult:
    return store.write("t", KEY, pa.table({"v": [value]}), pa.array([micros], pa.int64()))


def _read(store: online.RedisOnlineStore) -> dict[str, object]:
    (table,) = store.read([online.ReadRequest("t", KEY, SCHEMA)])
    row: dict[str, object] = table.to_pylist()[0]
    return row


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        (2**53 + 1, 2**53),  # 2255: doubles round both to 2^53
        (2**53 + 3, 2**53 + 2),
        (-(2**53) - 2, -(2**53) - 3),  # 1684
        (253402300799999999, 253402300799999998),  # the last microsecond of 9999
        (-62135596800000000 + 1, -62135596800000000),  # the first microseconds of year 1
        (1, -1),
        (10, 9),
    ],
)
def test_an_older_write_never_wins(
    online_store: online.RedisOnlineStore, newer: int, older: int
) -> None:
    assert _write(online_store, newer, 1) == online.WriteResult(1, 0)
    assert _write(online_store, older, 2) == online.WriteResult(0, 1)
    row = _read(online_store)
    assert row["v"] == 1
    assert row["__event_ts"] == EPOCH + timedelta(microseconds=newer)
    # An equal time overwrites; a newer one wins.
    assert _write(online_store, newer, 3) == online.WriteResult(1, 0)
    assert _read(online_store)["v"] == 3


def test_reads_of_far_times_work_on_every_path(online_store: online.RedisOnlineStore) -> None:
    far = 253402300799999999
    _write(online_store, far, 7)
    request = online.ReadRequest("t", KEY, SCHEMA)
    expected = EPOCH + timedelta(microseconds=far)
    (columns,) = online_store.read_columns([request])
    assert columns["__event_ts"] == [expected]
    (prepared,) = online_store.prepare_read([request]).read_columns([KEY])
    assert prepared["__event_ts"] == [expected]
    (two,) = online_store.prepare_read([request]).read_columns([KEY * 2])
    assert two["__event_ts"] == [expected, expected]


@pytest.mark.parametrize("micros", [253402300800000000, -62135596800000001, 2**63 - 1])
def test_event_times_beyond_year_9999_or_before_year_1_are_refused(
    online_store: online.RedisOnlineStore, micros: int
) -> None:
    with pytest.raises(online.InvalidInputError, match="years 1-9999"):
        _write(online_store, micros, 1)
    assert _read(online_store)["v"] is None


def test_a_stored_time_python_cannot_hold_reads_as_a_decode_error(
    online_store: online.RedisOnlineStore, redis_url: str
) -> None:
    _write(online_store, 0, 1)
    client = redis.Redis.from_url(redis_url)
    try:
        client.hset(f"{online_store.key_prefix}:t:".encode() + KEY[0], "__ts", str(2**62))
    finally:
        client.close()
    (table,) = online_store.read([online.ReadRequest("t", KEY, SCHEMA)])  # Arrow holds it
    assert table.column("__event_ts").cast(pa.int64()).to_pylist() == [2**62]
    request = online.ReadRequest("t", KEY, SCHEMA)
    with pytest.raises(online.DecodeError, match="years 1-9999"):
        online_store.read_columns([request])
    with pytest.raises(online.DecodeError, match="years 1-9999"):
        online_store.prepare_read([request]).read_columns([KEY])


def test_sub_millisecond_ttl_expires_the_key_no_earlier_than_exact(
    online_store: online.RedisOnlineStore, redis_url: str
) -> None:
    # Event time 2100-01-01 + 0.9995 s, ttl 1.5 ms: the exact end is 1001.0 ms past the
    # second; whole milliseconds of each part (the old arithmetic) gave 1000 ms.
    far = 4_102_444_800_000_000 + 999_500
    ttl = timedelta(microseconds=1500)
    result = online_store.write(
        "t", KEY, pa.table({"v": [1]}), pa.array([far], pa.int64()), ttl=ttl
    )
    assert result == online.WriteResult(1, 0)
    client = redis.Redis.from_url(redis_url)
    try:
        key = f"{online_store.key_prefix}:t:".encode() + KEY[0]
        assert client.pexpiretime(key) == (far + 1500) // 1000
    finally:
        client.close()


@pytest.mark.parametrize("name", ["t\n", "fs\n", "a\nb"])
def test_names_with_a_newline_are_refused(redis_url: str, name: str) -> None:
    with pytest.raises(online.InvalidInputError, match="not usable in a Redis key"):
        online.RedisOnlineStore(redis_url, key_prefix=name)
    store = online.RedisOnlineStore(redis_url, key_prefix="tnl")
    try:
        with pytest.raises(online.InvalidInputError, match="not usable in a Redis key"):
            store.write(name, KEY, pa.table({"v": [1]}), pa.array([0], pa.int64()))
    finally:
        store.close()
