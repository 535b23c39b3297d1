"""`PreparedRead.read_columns`: the same values as `read` and `read_columns`, every path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import online
from tests.online.test_contract import ALL_TYPES, T0, keys, ts

NUMBERS = pa.table(
    {
        "f": pa.array([0.5, -1e300, float("inf")], pa.float64()),
        "i": pa.array([2**63 - 1, -(2**63), 0], pa.int64()),
        "i8": pa.array([-5, 7, 127], pa.int8()),
        "u": pa.array([2**64 - 1, 0, 3], pa.uint64()),
    }
)


def prepared(
    store: online.RedisOnlineStore,
    requests: Sequence[online.ReadRequest],
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The prepared read of ``requests``, checked against both other read paths."""
    got = store.prepare_read(requests).read_columns([r.keys for r in requests], now)
    with_now = [online.ReadRequest(r.table, r.keys, r.schema, r.ttl, now) for r in requests]
    assert got == [t.to_pydict() for t in store.read(with_now)]
    assert got == store.read_columns(with_now)
    return got


def test_every_type_with_nulls(online_store: online.RedisOnlineStore) -> None:
    online_store.write("all", keys(1, 2, 3), ALL_TYPES, ts(T0, T0, T0), commit="c1")
    ks = keys(3, 1, 9, 2)
    (got,) = prepared(online_store, [online.ReadRequest("all", ks, ALL_TYPES.schema)])
    assert got["i64"] == [None, 2**63 - 1, None, -(2**63)]
    assert got["__commit"] == ["c1", "c1", None, "c1"]
    (one,) = prepared(online_store, [online.ReadRequest("all", keys(2), ALL_TYPES.schema)])
    assert one["s"] == [""] and one["i32"] == [None]


def test_numbers_decode_in_one_unpack_per_key_and_per_table(
    online_store: online.RedisOnlineStore,
) -> None:
    online_store.write("n", keys(1, 2, 3), NUMBERS, ts(T0, T0, T0))
    online_store.write("m", keys(1, 2), NUMBERS.slice(0, 2), ts(T0, T0), commit="x")
    ks = keys(1, 2, 3)
    got = prepared(
        online_store,
        [online.ReadRequest("n", ks, NUMBERS.schema), online.ReadRequest("m", ks, NUMBERS.schema)],
    )
    assert got[0] == {**NUMBERS.to_pydict(), "__event_ts": [T0] * 3, "__commit": [None] * 3}
    assert got[1]["u"] == [2**64 - 1, 0, None]
    assert got[1]["__commit"] == ["x", "x", None]
    for k in (1, 3):
        one = prepared(
            online_store,
            [
                online.ReadRequest("n", keys(k), NUMBERS.schema),
                online.ReadRequest("m", keys(k), NUMBERS.schema),
            ],
        )
        assert one[0]["i8"] == [NUMBERS.column("i8")[k - 1].as_py()]
        assert one[1]["f"] == ([0.5] if k == 1 else [None])


def test_a_null_number_in_a_row(online_store: online.RedisOnlineStore) -> None:
    table = pa.table({"a": pa.array([1.0, None]), "b": pa.array([None, 2], pa.int64())})
    online_store.write("nulls", keys(1, 2), table, ts(T0, T0))
    (got,) = prepared(online_store, [online.ReadRequest("nulls", keys(2, 1), table.schema)])
    assert got["a"] == [None, 1.0] and got["b"] == [2, None]
    (got,) = prepared(online_store, [online.ReadRequest("nulls", keys(1), table.schema)])
    assert got["a"] == [1.0] and got["b"] == [None]


def test_ttl_missing_keys_and_separate_key_lists(online_store: online.RedisOnlineStore) -> None:
    schema = pa.schema([("v", pa.float64())])
    online_store.write(
        "t", keys(1, 2), pa.table({"v": [1.5, 2.5]}), ts(T0, T0 + timedelta(hours=2))
    )
    now = T0 + timedelta(hours=3)
    a = online.ReadRequest("t", keys(1, 2, 5), schema, ttl=timedelta(hours=2))
    b = online.ReadRequest("t", keys(2), schema)
    got = prepared(online_store, [a, b, online.ReadRequest("t", [], schema)], now)
    assert got[0] == {
        "v": [None, 2.5, None],
        "__event_ts": [None, T0 + timedelta(hours=2), None],
        "__commit": [None, None, None],
    }
    assert got[1]["v"] == [2.5]
    assert got[2] == {"v": [], "__event_ts": [], "__commit": []}
    (gone,) = prepared(
        online_store, [online.ReadRequest("t", keys(1), schema, timedelta(hours=2))], now
    )
    assert gone == {"v": [None], "__event_ts": [None], "__commit": [None]}


def test_one_key_list_shared_by_every_table(online_store: online.RedisOnlineStore) -> None:
    online_store.write("p", keys(1, 2), pa.table({"x": [1, 2]}), ts(T0, T0))
    online_store.write("q", keys(2), pa.table({"y": ["b"]}), ts(T0), commit="c")
    reads = online_store.prepare_read(
        [
            online.ReadRequest("p", (), pa.schema([("x", pa.int64())])),
            online.ReadRequest("q", (), pa.schema([("y", pa.string())])),
        ]
    )
    for ks in (keys(2, 1, 7), keys(2), keys(1), [], [b"x" * 300]):
        got = reads.read_columns([ks, ks])
        expected = online_store.read_columns(
            [
                online.ReadRequest("p", ks, pa.schema([("x", pa.int64())])),
                online.ReadRequest("q", ks, pa.schema([("y", pa.string())])),
            ]
        )
        assert got == expected
    assert reads.read_columns([keys(2), keys(2)])[1]["y"] == ["b"]


def test_wrong_type_and_wrong_key_lists_are_clear_errors(
    online_store: online.RedisOnlineStore,
) -> None:
    online_store.write("w", keys(1, 2), pa.table({"v": ["abc", "12345678"]}), ts(T0, T0))
    reads = online_store.prepare_read([online.ReadRequest("w", (), pa.schema([("v", pa.int64())]))])
    for ks in (keys(1), keys(1, 2), keys(2, 1)):
        with pytest.raises(online.DecodeError, match="'v'"):
            reads.read_columns([ks])
    pair = pa.table({"a": ["abc"], "b": ["x" * 13]})  # 3 + 13 bytes: two int64s' worth
    online_store.write("w2", keys(1), pair, ts(T0))
    ints = pa.schema([("a", pa.int64()), ("b", pa.int64())])
    two = online_store.prepare_read([online.ReadRequest("w2", (), ints)])
    for ks in (keys(1), keys(1, 1)):
        with pytest.raises(online.DecodeError, match="'a'"):
            two.read_columns([ks])
    with pytest.raises(online.InvalidInputError, match="one per read"):
        reads.read_columns([keys(1), keys(1)])


def test_a_key_of_another_type_is_a_command_error(
    online_store: online.RedisOnlineStore, redis_url: str
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.set(f"{online_store.key_prefix}:s:".encode() + keys(1)[0], b"plain")
    finally:
        client.close()
    reads = online_store.prepare_read([online.ReadRequest("s", (), pa.schema([("v", pa.int64())]))])
    with pytest.raises(online.CommandError, match="'s'"):
        reads.read_columns([keys(1)])


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.none() | st.floats(allow_nan=False),
            st.none() | st.integers(-(2**63), 2**63 - 1),
            st.none() | st.integers(0, 2**64 - 1),
        ),
        min_size=1,
        max_size=8,
    ),
    picks=st.lists(st.integers(0, 10), min_size=0, max_size=6),
    age_hours=st.lists(st.integers(0, 3), min_size=8, max_size=8),
)
def test_random_numbers_equal_the_arrow_path(
    redis_url: str, rows: list[tuple[Any, ...]], picks: list[int], age_hours: list[int]
) -> None:
    schema = pa.schema([("f", pa.float64()), ("i", pa.int64()), ("u", pa.uint64())])
    table = pa.Table.from_pylist(
        [dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema
    )
    now = datetime(2024, 1, 1, tzinfo=UTC)
    stamps = [now - timedelta(hours=h) for h in age_hours[: len(rows)]]
    with online.RedisOnlineStore(redis_url, key_prefix="hypprep") as store:
        store.delete_table("r")
        store.write("r", keys(*range(len(rows))), table, ts(*stamps))
        ks = keys(*picks)
        prepared(
            store,
            [
                online.ReadRequest("r", ks, schema),
                online.ReadRequest("r", ks, schema, ttl=timedelta(hours=2)),
            ],
            now,
        )
        for k in picks:
            prepared(store, [online.ReadRequest("r", keys(k), schema, ttl=timedelta(hours=2))], now)
        store.delete_table("r")
