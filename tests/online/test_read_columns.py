"""`RedisOnlineStore.read_columns`: the same values as `read`, as Python lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import online
from tests.online.test_contract import ALL_TYPES, T0, keys, ts


def both(store: online.RedisOnlineStore, *requests: online.ReadRequest) -> list[dict[str, Any]]:
    tables = store.read(list(requests))
    columns = store.read_columns(list(requests))
    assert columns == [t.to_pydict() for t in tables]
    return columns


def test_redis_store_is_a_column_reader(online_store: online.RedisOnlineStore) -> None:
    assert isinstance(online_store, online.ColumnReader)


def test_every_type_with_nulls_equals_the_arrow_path(
    online_store: online.RedisOnlineStore,
) -> None:
    online_store.write("all", keys(1, 2, 3), ALL_TYPES, ts(T0, T0, T0), commit="c1")
    (got,) = both(online_store, online.ReadRequest("all", keys(3, 1, 2), ALL_TYPES.schema))
    assert got["i64"] == [None, 2**63 - 1, -(2**63)]
    assert got["f32"] == [-0.0, 1.5, None]
    assert got["__commit"] == ["c1"] * 3
    assert got["__event_ts"] == [T0] * 3


def test_missing_keys_columns_and_several_tables(online_store: online.RedisOnlineStore) -> None:
    online_store.write("a", keys(1), pa.table({"x": [1]}), ts(T0))
    online_store.write("b", keys(2), pa.table({"y": ["z"]}), ts(T0), commit="c")
    ab = pa.schema([("x", pa.int64()), ("never", pa.float64())])
    got = both(
        online_store,
        online.ReadRequest("a", keys(9, 1), ab),
        online.ReadRequest("b", keys(2), pa.schema([("y", pa.string())])),
        online.ReadRequest("a", [], ab),
    )
    assert got[0] == {
        "x": [None, 1],
        "never": [None, None],
        "__event_ts": [None, T0],
        "__commit": [None, None],
    }
    assert got[1] == {"y": ["z"], "__event_ts": [T0], "__commit": ["c"]}
    assert got[2] == {"x": [], "never": [], "__event_ts": [], "__commit": []}


def test_ttl_expired_rows_read_as_null(online_store: online.RedisOnlineStore) -> None:
    online_store.write(
        "t", keys(1, 2), pa.table({"v": [1.5, 2.5]}), ts(T0, T0 + timedelta(hours=2))
    )
    schema = pa.schema([("v", pa.float64())])
    now = T0 + timedelta(hours=3)
    (got,) = both(
        online_store, online.ReadRequest("t", keys(1, 2), schema, ttl=timedelta(hours=2), now=now)
    )
    assert got == {
        "v": [None, 2.5],
        "__event_ts": [None, T0 + timedelta(hours=2)],
        "__commit": [None, None],
    }


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_float32_read_of_a_float64_value_rounds_like_arrow(
    online_store: online.RedisOnlineStore,
) -> None:
    online_store.write("f", keys(1, 2), pa.table({"v": [0.1, 1e300]}), ts(T0, T0))
    (got,) = both(
        online_store, online.ReadRequest("f", keys(1, 2), pa.schema([("v", pa.float32())]))
    )
    assert got["v"] == [pa.scalar(0.1, pa.float32()).as_py(), float("inf")]


def test_a_column_read_with_the_wrong_type_is_a_decode_error(
    online_store: online.RedisOnlineStore,
) -> None:
    online_store.write("w", keys(1), pa.table({"v": ["abc"]}), ts(T0))
    with pytest.raises(online.DecodeError, match="'v'"):
        online_store.read_columns(
            [online.ReadRequest("w", keys(1), pa.schema([("v", pa.int64())]))]
        )


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.integers(-(2**63), 2**63 - 1),
            st.none() | st.floats(allow_nan=False, width=32),
            st.none() | st.text(max_size=20),
            st.none() | st.booleans(),
            st.none() | st.binary(max_size=10),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_random_rows_equal_the_arrow_path(redis_url: str, rows: list[tuple[Any, ...]]) -> None:
    schema = pa.schema(
        [
            ("i", pa.int64()),
            ("f", pa.float32()),
            ("s", pa.string()),
            ("b", pa.bool_()),
            ("y", pa.binary()),
        ]
    )
    table = pa.Table.from_pylist(
        [dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema
    )
    ks = keys(*range(len(rows)))
    when = datetime(2024, 1, 1, tzinfo=UTC)
    with online.RedisOnlineStore(redis_url, key_prefix="hypcols") as store:
        store.delete_table("rc")
        store.write("rc", ks, table, ts(*[when] * len(rows)), commit="k")
        (got,) = both(store, online.ReadRequest("rc", ks + keys(-1), schema))
        store.delete_table("rc")
    assert {n: got[n][:-1] for n in schema.names} == table.to_pydict()
    assert [got[n][-1] for n in got] == [None] * 7
