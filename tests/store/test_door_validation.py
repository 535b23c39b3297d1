"""Input that could not be served is refused at the door, with a ValidationError that
says what was wrong, and leaves the repository and the online store as they were:
bad entity keys in lookups and pushes, sub-microsecond or unrepresentable push times,
null keys or times in ingest, and stored rows a materialization could not write."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import featurestore as fs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store_online"))
import defs

from tests.conftest import drop_prefix
from tests.store_online.conftest import make_store

NOW = datetime.now(UTC).replace(microsecond=0)
TS = pa.timestamp("us", tz="UTC")

BAD_KEYS: list[Any] = [
    1.5,
    True,
    False,
    1e30,
    2**70,
    -(2**63) - 1,
    5.0,
    "x1",
    "1.5",
    str(2**70),
    b"1",
    np.bool_(True),
]


def _rows(ids: list[Any], at: datetime = NOW, **extra: Any) -> dict[str, Any]:
    n = len(ids)
    return {
        "driver_id": ids,
        "event_ts": pa.array([at] * n, TS),
        "created": pa.array([at] * n, TS),
        "conv_rate": pa.array([0.5] * n, pa.float32()),
        "acc_rate": [0.25] * n,
        "trips": [7] * n,
        "city": ["x"] * n,
        **extra,
    }


@pytest.fixture
def store(tmp_path: Path, redis_url: str) -> Iterator[fs.FeatureStore]:
    s = make_store(tmp_path / "repo", redis_url)
    s.apply(defs.definitions(ttl=None))
    s.commit("definitions")
    s.ingest("stats_src", pa.table(_rows([1, 2])))
    s.commit("rows")
    s.materialize(NOW - timedelta(days=1), NOW)
    try:
        yield s
    finally:
        prefix = s.config.project
        s.close()
        drop_prefix(redis_url, prefix)


def _state(store: fs.FeatureStore) -> tuple[Any, ...]:
    main = store.repository.branch("main")
    online = store.get_online_features(defs.FEATURES, {"driver_id": [1, 2, 3]}).to_dict(
        include_event_timestamps=True
    )
    return main.resolve(), sorted(repr(c) for c in main.uncommitted()), online


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_a_lookup_with_a_key_of_the_wrong_type_or_range_is_refused(
    store: fs.FeatureStore, key: Any
) -> None:
    with pytest.raises(fs.ValidationError, match="join key 'driver_id'"):
        store.get_online_features(defs.FEATURES, [{"driver_id": key}])
    with pytest.raises(fs.ValidationError, match="join key 'driver_id'"):
        store.get_online_features(defs.FEATURES, {"driver_id": [1] * 40 + [key]})


def test_a_whole_number_in_text_is_read_as_the_integer_key(store: fs.FeatureStore) -> None:
    """As Feast's server reads it: "1" names driver 1; "x1" is refused, naming the row."""
    got = store.get_online_features(defs.FEATURES, {"driver_id": ["1", " 2", 1]}).to_dict()
    assert got["driver_id"] == [1, 2, 1]
    assert got["trips"] == [7, 7, 7]
    with pytest.raises(fs.ValidationError, match=r"join key 'driver_id'.*row 1 has 'x1'"):
        store.get_online_features(defs.FEATURES, {"driver_id": ["1", "x1"]})


def test_integer_keys_of_any_integer_type_are_looked_up(store: fs.FeatureStore) -> None:
    for ids in ([1, 2], [np.int64(1), np.int32(2)], pd.Series([1, 2]), pa.array([1, 2])):
        got = store.get_online_features(defs.FEATURES, {"driver_id": ids}).to_dict()
        assert got["trips"] == [7, 7]


# pyarrow reads numpy's True beside integers as 1, before the store sees the column.
@pytest.mark.parametrize("key", BAD_KEYS[:-1], ids=repr)
@pytest.mark.parametrize("to", ["online", "offline", "online_and_offline"])
def test_a_push_with_a_bad_key_is_refused_and_writes_nothing(
    store: fs.FeatureStore, key: Any, to: str
) -> None:
    before = _state(store)
    with pytest.raises(fs.ValidationError, match=r"driver_id|Arrow"):
        store.push("stats_push", _rows([3, key], at=NOW + timedelta(seconds=1)), to=to)  # type: ignore[arg-type]
    assert _state(store) == before


@pytest.mark.parametrize("to", ["online", "offline", "online_and_offline"])
def test_a_push_with_a_null_key_or_time_is_refused_and_writes_nothing(
    store: fs.FeatureStore, to: str
) -> None:
    before = _state(store)
    later = NOW + timedelta(seconds=1)
    with pytest.raises(fs.ValidationError, match="null"):
        store.push("stats_push", _rows([3, None], at=later), to=to)  # type: ignore[arg-type]
    times = pa.array([later, None], TS)
    with pytest.raises(fs.ValidationError, match="null"):
        store.push("stats_push", _rows([3, 4], event_ts=times), to=to)  # type: ignore[arg-type]
    assert _state(store) == before


def test_a_push_with_nanosecond_digits_is_refused(store: fs.FeatureStore) -> None:
    before = _state(store)
    frame = pd.DataFrame(_rows([1]))
    frame["event_ts"] = pd.Series([pd.Timestamp(NOW) + pd.Timedelta(1_000_000_123, "ns")])
    assert str(frame["event_ts"].dtype).startswith("datetime64[ns")
    with pytest.raises(fs.ValidationError, match="sub-microsecond"):
        store.push("stats_push", frame, to="online_and_offline")
    assert _state(store) == before
    # Whole microseconds in a nanosecond column are taken.
    frame["event_ts"] = pd.Series([pd.Timestamp(NOW) + pd.Timedelta(1_000_001_000, "ns")])
    assert store.push("stats_push", frame) == 1


@pytest.mark.parametrize(
    "times",
    [
        pa.array([2**62], pa.timestamp("us", tz="UTC")),  # year 146138
        pa.array([-(2**62)], pa.timestamp("us")),
        pa.array([253402300800], pa.timestamp("s")),  # 10000-01-01
        pa.array([2**40], pa.date64()),
    ],
    ids=["us-far", "us-before-year-1", "s-year-10000", "date64"],
)
def test_a_push_of_a_time_python_cannot_hold_is_refused(
    store: fs.FeatureStore, times: pa.Array
) -> None:
    before = _state(store)
    with pytest.raises(fs.ValidationError, match="years 1-9999"):
        store.push("stats_push", _rows([3], event_ts=times), to="online_and_offline")
    assert _state(store) == before


def test_ingest_refuses_null_keys_and_event_times_and_stages_nothing(
    store: fs.FeatureStore,
) -> None:
    before = _state(store)
    with pytest.raises(fs.ValidationError, match="'driver_id' has 1 null"):
        store.ingest("stats_src", pa.table(_rows([3, None])))
    nulls = pa.array([NOW, None], TS)
    with pytest.raises(fs.ValidationError, match="'event_ts' has 1 null"):
        store.ingest("stats_src", pa.table(_rows([3, 4], event_ts=nulls)))
    far = pa.array([NOW, datetime(9999, 12, 31, tzinfo=UTC)], TS).cast(pa.int64())
    far = pa.compute.add(far, pa.array([0, 86_400_000_000])).cast(TS)  # 10000-01-01
    with pytest.raises(fs.ValidationError, match="years 1-9999"):
        store.ingest("stats_src", pa.table(_rows([3, 4], event_ts=far)))
    with pytest.raises(fs.ValidationError, match="'driver_id' has 1 null"):
        store.ingest("stats_src", pa.table(_rows([3, None])), mode="upsert")
    assert _state(store) == before
    # A null created time is allowed: it sorts first among ties.
    created = pa.array([NOW, None], TS)
    assert store.ingest("stats_src", pa.table(_rows([3, 4], created=created))).rows_written == 2


def _bypass(store: fs.FeatureStore, rows: dict[str, Any]) -> None:
    """Commit rows through the table layer, as data written before these checks was."""
    store.tables.write("main", "stats_src", pa.table(rows))
    store.commit("rows the door would refuse")


def test_materialize_refuses_a_time_python_cannot_hold_and_writes_nothing(
    store: fs.FeatureStore,
) -> None:
    # A run reads up to a Python datetime, so only times before the year 1 can reach it.
    early = pa.array([-(2**62)], pa.int64()).cast(TS)
    _bypass(store, _rows([3, 4], event_ts=pa.concat_arrays([pa.array([NOW], TS), early])))
    status = store.online_status()
    before = _state(store)
    with pytest.raises(fs.ValidationError, match="years 1-9999"):
        store.materialize(None, NOW)
    assert _state(store) == before
    assert store.online_status() == status


def test_materialize_refuses_a_null_key_and_writes_nothing(store: fs.FeatureStore) -> None:
    ids = [*range(10, 30_000), None]
    rows = _rows(ids, at=NOW)
    rows["trips"] = list(range(len(ids)))
    _bypass(store, rows)
    status = store.online_status()
    with pytest.raises(fs.ValidationError, match="null"):
        store.materialize(NOW - timedelta(days=1), NOW)
    assert store.online_status() == status
    got = store.get_online_features(defs.FEATURES, {"driver_id": list(range(10, 30_000))})
    assert set(got.to_dict()["trips"]) == {None}
