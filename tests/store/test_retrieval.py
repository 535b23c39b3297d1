"""Training sets through the facade: windowed aggregates against brute force, on-demand
features against the function itself, ranges without entity rows, input kinds, ties
across stored objects and the leak-free mode."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import store_data
import store_defs
from store_data import h

from featurestore import FeatureStore


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def _brute_aggregate(
    rows: pd.DataFrame, driver: int, t: pd.Timestamp, column: str, fn: str, w: timedelta
) -> Any:
    sel = rows[
        (rows.driver_id == driver) & (rows.event_timestamp > t - w) & (rows.event_timestamp <= t)
    ]
    values = sel[column].dropna()
    if fn == "count":
        return len(values)
    if fn == "last":
        if sel.empty:
            return None
        v = sel.sort_values("event_timestamp")[column].iloc[-1]
        return None if pd.isna(v) else v.item()
    if values.empty or (fn == "stddev" and len(values) < 2):
        return None
    if fn == "stddev":
        return float(values.std(ddof=1))
    return getattr(values, fn)().item()


def test_windowed_aggregates_equal_brute_force(store: FeatureStore) -> None:
    trips = store_data.trip_rows()
    store.ingest("trips", trips.iloc[:200])
    store.commit("first trips")
    store.ingest("trips", trips.iloc[200:])  # two objects: windows span both
    store.commit("more trips")
    rng = np.random.default_rng(5)
    times = list(trips.event_timestamp.sample(40, random_state=1))  # e == t is inside
    times += [t + timedelta(hours=1) for t in times[:20]]  # e == t - 1h is outside
    times += [h(float(m) / 60) for m in rng.integers(0, 60 * 50, 60)]
    ents = pd.DataFrame(
        {
            "driver_id": rng.integers(1001, 1011, len(times)),  # 1009, 1010: no trips
            "event_timestamp": times,
        }
    )
    view = store_defs.driver_trips
    refs = [f"driver_trips:{a.name}" for a in view.aggregations]
    got = store.get_historical_features(ents, refs).to_arrow()
    assert got.column("driver_id").to_pylist() == ents.driver_id.tolist()
    for a in view.aggregations:
        col = got.column(a.name)
        want_type = {"count": pa.int64(), "mean": pa.float64(), "stddev": pa.float64()}.get(
            a.function, pa.int64() if a.column == "distance" else pa.float64()
        )
        assert col.type == want_type, a.name
        values = col.to_pylist()
        for i, row in ents.iterrows():
            want = _brute_aggregate(
                trips, row.driver_id, row.event_timestamp, a.column, a.function, a.time_window
            )
            assert _close(values[i], want), (a.name, i, values[i], want)  # type: ignore[index]


def _driver_data(store: FeatureStore) -> pd.DataFrame:
    drivers = store_data.driver_rows()
    store.ingest("driver_stats", drivers)
    store.ingest("customer_stats", store_data.customer_rows())
    store.commit("rows")
    return drivers


def test_on_demand_features_equal_the_function(store: FeatureStore) -> None:
    _driver_data(store)
    ents = store_data.entity_frame(n=80)
    ents["bonus"] = np.linspace(-1, 1, len(ents))
    table = store.get_historical_features(
        ents, ["driver_extras:rate_plus_bonus", "driver_extras:trips_x2", "driver_stats:trips"]
    ).to_arrow()
    got = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    stored = store.get_historical_features(
        ents, ["driver_stats:trips", "driver_stats:rate"]
    ).to_pandas()
    want = store_defs.driver_extras.udf(stored[["trips", "rate"]].assign(bonus=ents["bonus"]))
    assert table.column("rate_plus_bonus").to_pylist() == _floats(want["rate_plus_bonus"])
    assert table.column("rate_plus_bonus").null_count == got["trips"].isna().sum()  # null, not NaN
    assert got["trips_x2"].astype("object").where(got["trips_x2"].notna(), None).tolist() == [
        None if pd.isna(v) else int(v) for v in want["trips_x2"]
    ]
    assert str(got["trips_x2"].dtype) == "Int64"
    assert got["trips"].notna().sum() > 0 and got["trips_x2"].isna().sum() > 0


def _floats(series: pd.Series) -> list[Any]:
    return [None if pd.isna(v) else float(v) for v in series]


def test_feature_service_and_input_kinds_give_the_same_rows(
    store: FeatureStore, tmp_path: Path
) -> None:
    _driver_data(store)
    ents = store_data.entity_frame(n=50)
    ents["bonus"] = 0.5
    service = store.get_feature_service("driver_service")
    by_pandas = store.get_historical_features(ents, service).to_arrow()
    assert by_pandas.column_names[-4:] == ["trips", "rate", "rate_plus_bonus", "trips_x2"]
    path = tmp_path / "ents.parquet"
    pq.write_table(pa.Table.from_pandas(ents, preserve_index=False), path)
    for data in (pl.from_pandas(ents), pa.Table.from_pandas(ents, preserve_index=False), str(path)):
        other = store.get_historical_features(data, service).to_arrow()
        assert other.select(by_pandas.column_names[-4:]).equals(
            by_pandas.select(by_pandas.column_names[-4:])
        )
    frame = store.get_historical_features(ents, service).to_polars()
    assert frame.schema["trips"] == pl.Int64


def test_ties_across_objects_pick_the_latest_created(store: FeatureStore) -> None:
    rows = pd.DataFrame(
        {
            "driver_id": [1, 1, 1],
            "event_timestamp": [h(1)] * 3,
            "created": [h(3), h(1), h(2)],
            "trips": [3, 1, 2],
            "rate": [0.3, 0.1, 0.2],
        }
    )
    for i in range(3):  # each row in its own object and commit, the winner first
        store.ingest("driver_stats", rows.iloc[[i]])
        store.commit(f"row {i}")
    ents = pd.DataFrame({"driver_id": [1, 1, 1], "event_timestamp": [h(1), h(2.5), h(4)]})
    got = store.get_historical_features(ents, ["driver_stats:trips"]).to_arrow()
    assert got.column("trips").to_pylist() == [3, 3, 3]
    leak_free = store.get_historical_features(
        ents, ["driver_stats:trips"], exclude_created_after=True
    ).to_arrow()
    # at 1h only the row created at 1h was known; at 2.5h the one created at 2h
    assert leak_free.column("trips").to_pylist() == [1, 2, 3]


def test_exclude_created_after_equals_brute_force(store: FeatureStore) -> None:
    drivers = _driver_data(store)
    ents = store_data.entity_frame(n=200)
    got = (
        store.get_historical_features(ents, ["driver_stats:trips"], exclude_created_after=True)
        .to_arrow()
        .column("trips")
        .to_pylist()
    )
    for i, row in ents.iterrows():
        t = row.event_timestamp
        sel = drivers[
            (drivers.driver_id == row.driver_id)
            & (drivers.event_timestamp <= t)
            & (drivers.event_timestamp >= t - store_defs.TTL)
            & (drivers.created <= t)
        ]
        want = None
        if not sel.empty:
            want = int(sel.sort_values(["event_timestamp", "created"]).trips.iloc[-1])
        assert got[i] == want, (i, got[i], want)  # type: ignore[index]
    plain = store.get_historical_features(ents, ["driver_stats:trips"]).to_arrow()
    assert plain.column("trips").to_pylist() != got  # the data has rows created after t


def test_range_without_entity_rows(store: FeatureStore) -> None:
    drivers = _driver_data(store)
    start, end = h(10), h(20)
    got = store.get_historical_features(
        features=["driver_stats:trips", "driver_stats:rate"], start_date=start, end_date=end
    ).to_pandas()
    inside = drivers[(drivers.event_timestamp >= start) & (drivers.event_timestamp <= end)]
    keys = sorted(set(zip(inside.driver_id, inside.event_timestamp, strict=True)))
    assert list(zip(got.driver_id, got.event_timestamp, strict=True)) == keys
    latest = (
        inside.sort_values(["event_timestamp", "created"])
        .groupby(["driver_id", "event_timestamp"])
        .last()
    )
    assert got.trips.tolist() == [int(latest.loc[k].trips) for k in keys]
    assert got.rate.tolist() == [float(latest.loc[k].rate) for k in keys]
    # naive bounds are UTC, and the bounds are inclusive
    naive = store.get_historical_features(
        features=["driver_stats:trips"],
        start_date=start.replace(tzinfo=None),
        end_date=end.replace(tzinfo=None),
    ).to_arrow()
    assert naive.num_rows == len(got)
    assert (inside.event_timestamp == end).any() or (inside.event_timestamp == start).any()


def test_entity_row_shapes(store: FeatureStore) -> None:
    """No rows, an all-null key column, nanoseconds, another timestamp name: all join."""
    _driver_data(store)
    ents = store_data.entity_frame(n=20)
    refs = ["driver_stats:trips", "customer_stats:spend", "driver_trips:fare_sum_1h"]
    base = store.get_historical_features(ents, refs).to_arrow()

    empty = store.get_historical_features(ents.head(0), refs).to_arrow()
    assert empty.num_rows == 0
    assert empty.schema.field("trips").type == pa.int64()
    assert empty.schema.field("customer_id").type == pa.string()

    no_customers = ents.assign(customer_id=None)
    got = store.get_historical_features(no_customers, refs).to_arrow()
    assert got.column("spend").null_count == got.num_rows
    assert got.column("trips").equals(base.column("trips"))

    # sub-microsecond digits are dropped, as they are from stored rows
    nanos = ents.assign(event_timestamp=ents.event_timestamp + pd.Timedelta(999, "ns"))
    got = store.get_historical_features(nanos, refs).to_arrow()
    assert got.drop_columns(["event_timestamp"]).equals(base.drop_columns(["event_timestamp"]))
    assert got.column("event_timestamp").equals(base.column("event_timestamp"))

    renamed = store.get_historical_features(ents.rename(columns={"event_timestamp": "ts"}), refs)
    assert renamed.to_arrow().column("trips").equals(base.column("trips"))
