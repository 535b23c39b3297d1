"""Feature views without entities (Feast's ``entities=[]``): one global row per time.

The same rows are given to Feast 0.67 (as a ``FileSource``) and to our store (ingested
into a table); training sets must agree value by value. Feast's own online reads of such
a view return nothing in 0.67 (its online path drops the hidden ``__dummy_id`` key), so
online values are checked against Feast's point-in-time value at the lookup time, which
is what a materialized view serves.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import featurestore as fs
from featurestore import Entity, FeatureView, Field, Float64, Int64, PushSource, TableSource
from tests.feast_oracle import local_feast_store, plain_value

feast = pytest.importorskip("feast")

NOW = datetime.now(UTC).replace(microsecond=0)
TS = pa.timestamp("us", tz="UTC")
T0 = NOW - timedelta(hours=190)  # the lookups below are within hours of now
TTL = timedelta(days=1)
REFS = ["market:demand", "market:surge", "trips:count"]


def market_rows() -> pa.Table:
    """Global rows: gaps longer than the ttl, a tie on event time broken by created time."""
    hours = [0, 20, 20, 70, 100, 101, 180]
    created = [0, 20, 21, 70, 100, 101, 180]
    return pa.table(
        {
            "event_timestamp": pa.array([T0 + timedelta(hours=h) for h in hours], TS),
            "created": pa.array([T0 + timedelta(hours=h) for h in created], TS),
            "demand": pa.array([1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5], pa.float64()),
            "surge": pa.array([1, 2, 3, 4, 5, 6, 7], pa.int64()),
        }
    )


def trip_rows() -> pa.Table:
    return pa.table(
        {
            "driver_id": pa.array([1, 2, 1], pa.int64()),
            "event_timestamp": pa.array([T0, T0, T0 + timedelta(hours=90)], TS),
            "count": pa.array([10, 20, 11], pa.int64()),
        }
    )


def entity_rows() -> pd.DataFrame:
    hours = [-5, 0, 10, 20, 21, 30, 50, 71, 95, 100.5, 150, 181, 300]
    n = len(hours)
    return pd.DataFrame(
        {
            "row_id": list(range(n)),
            "driver_id": [1 + i % 3 for i in range(n)],
            "event_timestamp": [T0 + timedelta(hours=h) for h in hours],
        }
    )


def ours_definitions(market_source: TableSource | PushSource) -> list[object]:
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
    market = FeatureView(
        name="market",
        entities=[],
        ttl=TTL,
        schema=[Field(name="demand", dtype=Float64), Field(name="surge", dtype=Int64)],
        source=market_source,
    )
    trip_source = TableSource(name="trip_rows", timestamp_field="event_timestamp")
    trips = FeatureView(
        name="trips",
        entities=[driver],
        schema=[Field(name="count", dtype=Int64)],
        source=trip_source,
    )
    sources = [market_source]
    if isinstance(market_source, PushSource):
        sources.append(market_source.batch_source)
    return [driver, *sources, trip_source, market, trips]


def feast_frame(tmp: Path, entity_df: pd.DataFrame, *, created_filter: bool) -> pd.DataFrame:
    """Feast's training frame for ``REFS`` over the same rows."""
    pq.write_table(market_rows(), tmp / "market.parquet")
    pq.write_table(trip_rows(), tmp / "trips.parquet")
    store = local_feast_store(tmp, "entityless")
    driver = feast.Entity(name="driver", join_keys=["driver_id"], value_type=feast.ValueType.INT64)
    market = feast.FeatureView(
        name="market",
        entities=[],
        ttl=TTL,
        source=feast.FileSource(
            path=str(tmp / "market.parquet"),
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        ),
        schema=[
            feast.Field(name="demand", dtype=feast.types.Float64),
            feast.Field(name="surge", dtype=feast.types.Int64),
        ],
    )
    trips = feast.FeatureView(
        name="trips",
        entities=[driver],
        ttl=timedelta(0),
        source=feast.FileSource(path=str(tmp / "trips.parquet"), timestamp_field="event_timestamp"),
        schema=[feast.Field(name="count", dtype=feast.types.Int64)],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.apply([driver, market, trips])
        frame: pd.DataFrame = store.get_historical_features(
            entity_df=entity_df, features=REFS, filter_by_created_timestamp=created_filter
        ).to_df()
    return frame


def column(frame: pd.DataFrame, name: str, row_ids: list[int]) -> list[object]:
    values = [plain_value(v) for v in frame.set_index("row_id").loc[row_ids][name].tolist()]
    # Feast turns an integer column with gaps into float64
    return [int(v) if isinstance(v, float) and name != "demand" else v for v in values]


@pytest.fixture
def market_store(new_store: Callable[..., fs.FeatureStore]) -> fs.FeatureStore:
    store = new_store()
    source = TableSource(
        name="market_rows", timestamp_field="event_timestamp", created_timestamp_column="created"
    )
    store.apply(ours_definitions(source))
    store.ingest("market_rows", market_rows())
    store.ingest("trip_rows", trip_rows())
    store.commit("rows")
    return store


@pytest.mark.parametrize("created_filter", [False, True])
def test_training_sets_join_the_global_row_by_time_as_feast_does(
    market_store: fs.FeatureStore, tmp_path: Path, created_filter: bool
) -> None:
    entity_df = entity_rows()
    theirs = feast_frame(tmp_path, entity_df, created_filter=created_filter)
    ours = market_store.get_historical_features(
        entity_df=entity_df, features=REFS, exclude_created_after=created_filter
    ).to_arrow()
    row_ids = entity_df["row_id"].tolist()
    assert ours.column("row_id").to_pylist() == row_ids
    for name in ("demand", "surge", "count"):
        got = [plain_value(v) for v in ours.column(name).to_pylist()]
        assert got == column(theirs, name, row_ids), name
    # the data has both matches and misses (before the first row, past the ttl)
    demand = ours.column("demand").to_pylist()
    assert None in demand and len({d for d in demand if d is not None}) > 2


def test_lookups_return_the_latest_global_row_for_every_entity(
    market_store: fs.FeatureStore, tmp_path: Path
) -> None:
    at = T0 + timedelta(hours=181)
    market_store.materialize(None, at)
    got = market_store.get_online_features(
        ["market:demand", "market:surge", "trips:count"], {"driver_id": [1, 2, 3]}, now=at
    ).to_dict()
    at_lookup = pd.DataFrame(
        {"row_id": [0, 1, 2], "driver_id": [1, 2, 3], "event_timestamp": [at] * 3}
    )
    theirs = feast_frame(tmp_path, at_lookup, created_filter=False)
    for name in ("demand", "surge", "count"):
        assert got[name] == column(theirs, name, [0, 1, 2]), name
    assert got["demand"] == [7.5, 7.5, 7.5]
    # rows without columns read a global view too (Feast's entity_rows=[{}])
    bare = market_store.get_online_features(["market:demand"], [{}, {}], now=at)
    assert bare.to_dict() == {"demand": [7.5, 7.5]}
    with pytest.raises(fs.ValidationError, match="no entity rows"):
        market_store.get_online_features(["market:demand", "trips:count"], [{}], now=at)
    # past the ttl the global value is expired for everyone, as offline
    later = market_store.get_online_features(
        ["market:demand"], {"driver_id": [1, 2]}, now=at + TTL + timedelta(hours=1)
    )
    assert later.to_dict()["demand"] == [None, None]
    assert {str(s) for s in later.statuses("demand")} == {"OUTSIDE_MAX_AGE"}


def test_materialize_incremental_picks_up_new_global_rows(market_store: fs.FeatureStore) -> None:
    at = T0 + timedelta(hours=181)
    market_store.materialize_incremental(at)
    later = pa.table(
        {
            "event_timestamp": pa.array([at + timedelta(hours=1)], TS),
            "created": pa.array([at + timedelta(hours=1)], TS),
            "demand": pa.array([9.5], pa.float64()),
            "surge": pa.array([9], pa.int64()),
        }
    )
    market_store.ingest("market_rows", later)
    market_store.commit("a new global row")
    market_store.materialize_incremental(at + timedelta(hours=2))
    got = market_store.get_online_features(
        ["market:demand"], {"driver_id": [5, 6]}, now=at + timedelta(hours=2)
    ).to_dict()
    assert got["demand"] == [9.5, 9.5]


def test_a_push_updates_the_global_row_online_and_offline(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    store = new_store()
    batch = TableSource(
        name="market_rows", timestamp_field="event_timestamp", created_timestamp_column="created"
    )
    store.apply(ours_definitions(PushSource(name="market_push", batch_source=batch)))
    store.ingest("market_rows", market_rows())
    store.commit("rows")
    pushed = {"event_timestamp": [NOW], "created": [NOW], "demand": [42.0], "surge": [42]}
    assert store.push("market_push", pushed, to=fs.PushMode.ONLINE_AND_OFFLINE) == 1
    got = store.get_online_features(["market:demand", "market:surge"], {"driver_id": [1, 9]})
    assert got.to_dict()["demand"] == [42.0, 42.0]
    assert got.to_dict()["surge"] == [42, 42]
    entity_df = pd.DataFrame({"driver_id": [7], "event_timestamp": [NOW + timedelta(seconds=1)]})
    frame = store.get_historical_features(entity_df=entity_df, features=["market:demand"])
    assert frame.to_df()["demand"].tolist() == [42.0]
    # an older push does not replace the newer value online (monotonic writes)
    older = {**pushed, "event_timestamp": [NOW - timedelta(hours=1)], "demand": [1.0]}
    store.push("market_push", older)
    assert store.get_online_features(["market:demand"], {"driver_id": [3]}).to_dict()["demand"] == [
        42.0
    ]


def test_a_windowed_view_without_entities_is_refused() -> None:
    with pytest.raises(fs.DefinitionError, match="needs entities"):
        FeatureView(
            name="w",
            entities=[],
            schema=[Field(name="demand", dtype=Float64)],
            source=TableSource(name="t", timestamp_field="ts"),
            aggregations=[
                fs.Aggregation(column="demand", function="sum", time_window=timedelta(hours=1))
            ],
        )


def test_a_date_range_without_entity_rows_reads_every_global_time(
    market_store: fs.FeatureStore,
) -> None:
    frame = market_store.get_historical_features(
        features=["market:demand"], start_date=T0, end_date=T0 + timedelta(hours=100)
    ).to_arrow()
    times = sorted(set(market_rows().column("event_timestamp").to_pylist()))
    assert frame.column("event_timestamp").to_pylist() == [
        t for t in times if t <= T0 + timedelta(hours=100)
    ]
    # each time reads its own row; the tie at hour 20 goes to the later created row
    assert frame.column("demand").to_pylist() == [1.5, 3.5, 4.5, 5.5]
