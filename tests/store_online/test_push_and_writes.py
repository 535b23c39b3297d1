"""Pushes and direct writes as Feast's: which views a push updates, where offline rows go
and when reads see them, and the lenient but safe casts of what is sent.

Two views share one table: ``batch_stats`` reads it as a table source, ``fresh_stats``
through the push source ``stats_push`` (Feast's template has the same pair).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import featurestore as fs
from featurestore import (
    Entity,
    FeatureView,
    Field,
    Float32,
    Int32,
    Int64,
    PushSource,
    TableSource,
)

NOW = datetime.now(UTC).replace(microsecond=0)
TS = pa.timestamp("us", tz="UTC")
FRESH = ["fresh_stats:rate", "fresh_stats:small"]
BATCH = ["batch_stats:trips", "batch_stats:rate"]


def definitions() -> list[object]:
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64, tags={"team": "a"})
    source = TableSource(
        name="stats", timestamp_field="event_ts", created_timestamp_column="created"
    )
    push = PushSource(name="stats_push", batch_source=source)
    batch = FeatureView(
        name="batch_stats",
        entities=[driver],
        ttl=timedelta(days=1),
        schema=[Field(name="trips", dtype=Int64), Field(name="rate", dtype=Float32)],
        source=source,
        tags={"team": "a"},
    )
    fresh = FeatureView(
        name="fresh_stats",
        entities=[driver],
        ttl=timedelta(days=1),
        schema=[Field(name="rate", dtype=Float32), Field(name="small", dtype=Int32)],
        source=push,
    )
    return [driver, source, push, batch, fresh]


def _rows(ids: list[int], at: datetime, rate: float, trips: int = 1, small: int = 2) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "driver_id": pa.array(ids, pa.int64()),
            "event_ts": pa.array([at] * n, TS),
            "created": pa.array([at] * n, TS),
            "trips": pa.array([trips] * n, pa.int64()),
            "rate": pa.array([rate] * n, pa.float32()),
            "small": pa.array([small] * n, pa.int32()),
        }
    )


@pytest.fixture
def served(new_store: Callable[..., fs.FeatureStore]) -> fs.FeatureStore:
    """Drivers 1 and 2 at NOW - 1h, committed and materialized into both views."""
    store = new_store()
    store.apply(definitions())
    store.ingest("stats", _rows([1, 2], NOW - timedelta(hours=1), 0.5, trips=7))
    store.commit("rows")
    store.materialize(None, NOW)
    return store


def _online(store: fs.FeatureStore, refs: list[str], ids: list[Any]) -> dict[str, list[Any]]:
    return store.get_online_features(refs, {"driver_id": ids}).to_dict()


def _nothing_staged(store: fs.FeatureStore) -> bool:
    return list(store.repository.branch("main").uncommitted()) == []


def test_a_push_updates_only_the_views_whose_source_it_is(served: fs.FeatureStore) -> None:
    # no `trips`: the push source's views do not read it, so it is not demanded
    pushed = {"driver_id": [1], "event_ts": [NOW], "rate": [0.25], "small": [5]}
    assert served.push("stats_push", pushed) == 1
    assert _online(served, FRESH, [1, 2]) == {
        "driver_id": [1, 2],
        "rate": [0.25, 0.5],
        "small": [5, 2],
    }
    # the view reading the same table directly still serves what was materialized
    assert _online(served, BATCH, [1]) == {"driver_id": [1], "trips": [7], "rate": [0.5]}
    assert _nothing_staged(served)


def test_a_push_offline_appends_once_with_other_views_columns_null(
    served: fs.FeatureStore,
) -> None:
    pushed = {"driver_id": [3], "event_ts": [NOW], "created": [NOW], "rate": [0.75], "small": [1]}
    served.push("stats_push", pushed, to="offline")
    rows = served.sql("select driver_id, trips, rate, small from stats where driver_id = 3")
    assert rows.to_pylist() == [{"driver_id": 3, "trips": None, "rate": 0.75, "small": 1}]
    assert _online(served, FRESH, [3])["rate"] == [None]


def test_pushed_offline_rows_are_read_by_the_branch_before_a_commit(
    served: fs.FeatureStore,
) -> None:
    head = served.resolve()
    served.push("stats_push", _rows([1], NOW, 0.125, small=9), to=fs.PushMode.OFFLINE)
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW + timedelta(seconds=1)]})
    job = served.get_historical_features(entity_df=entities, features=FRESH)
    assert job.uncommitted and job.commit_id == head
    assert job.to_df()[["rate", "small"]].values.tolist() == [[0.125, 9]]
    # a commit id reads committed data only
    pinned = served.get_historical_features(entities, FRESH, ref=head).to_df()
    assert pinned[["rate", "small"]].values.tolist() == [[0.5, 2]]
    with pytest.raises(fs.ValidationError, match="uncommitted"):
        served.create_saved_dataset(job, "not_yet")
    served.commit("pushed")
    after = served.get_historical_features(entities, FRESH)
    assert not after.uncommitted and after.commit_id != head
    assert after.to_df()["rate"].tolist() == [0.125]
    served.create_saved_dataset(after, "now_it_can")


class OtherMode(enum.Enum):
    """Any enum whose names say where (Feast's ``PushMode`` is one) is taken."""

    ONLINE = "x"
    ONLINE_AND_OFFLINE = "y"


def test_to_takes_push_modes_strings_and_look_alike_enums(served: fs.FeatureStore) -> None:
    for i, to in enumerate(
        [fs.PushMode.ONLINE_AND_OFFLINE, "online_and_offline", OtherMode.ONLINE_AND_OFFLINE]
    ):
        served.push("stats_push", _rows([10 + i], NOW, 0.5), to=to)
    assert _online(served, FRESH, [10, 11, 12])["small"] == [2, 2, 2]
    count = served.sql("select count(*) as n from stats where driver_id >= 10")
    assert count.column("n").to_pylist() == [3]
    with pytest.raises(fs.ValidationError, match="online_and_offline"):
        served.push("stats_push", _rows([13], NOW, 0.5), to="everywhere")


def test_push_takes_feasts_positional_order(served: fs.FeatureStore) -> None:
    import inspect

    feast = pytest.importorskip("feast")
    ours = list(inspect.signature(fs.FeatureStore.push).parameters)
    theirs = list(inspect.signature(feast.FeatureStore.push).parameters)
    assert ours[: len(theirs)] == theirs
    # push(name, df, allow_registry_cache, to): Feast's order, to third after the flag
    served.push("stats_push", _rows([20], NOW, 0.5), True, fs.PushMode.OFFLINE)
    count = served.sql("select count(*) as n from stats where driver_id = 20")
    assert count.column("n").to_pylist() == [1]
    assert _online(served, FRESH, [20])["rate"] == [None]
    # the old order (to third) is refused, saying to pass it by keyword; nothing written
    with pytest.raises(fs.ValidationError, match="to=") as refused:
        served.push("stats_push", _rows([21], NOW, 0.5), "offline")  # type: ignore[arg-type]
    assert "allow_registry_cache" in str(refused.value)
    count = served.sql("select count(*) as n from stats where driver_id = 21")
    assert count.column("n").to_pylist() == [0]


def test_write_to_online_and_offline_store(served: fs.FeatureStore) -> None:
    frame = pd.DataFrame(
        {"driver_id": [2], "event_ts": [NOW], "created": [NOW], "trips": [8], "rate": [0.0625]}
    )
    served.write_to_online_store("batch_stats", frame)
    assert _online(served, BATCH, [2]) == {"driver_id": [2], "trips": [8], "rate": [0.0625]}
    assert _nothing_staged(served)
    served.write_to_offline_store("batch_stats", frame)
    rows = served.sql("select trips, small from stats where driver_id = 2 order by event_ts")
    assert rows.to_pylist() == [{"trips": 7, "small": 2}, {"trips": 8, "small": None}]
    with pytest.raises(fs.NotFoundError, match="no feature view 'nope'"):
        served.write_to_online_store("nope", frame)
    with pytest.raises(fs.SchemaError, match=r"needs column\(s\) \['trips'\]"):
        served.write_to_online_store("batch_stats", frame.drop(columns=["trips"]))
    with pytest.raises(fs.SchemaError, match="no column"):
        served.write_to_offline_store("batch_stats", frame.assign(extra=1))


def test_lenient_casts_take_what_fits(served: fs.FeatureStore) -> None:
    """JSON-like data: Python floats for Float32, ints for Int32, one value for all rows,
    times as text; naive times (pandas' datetime.now()) are UTC."""
    body = {
        "driver_id": [4, 5],
        "event_ts": NOW.strftime("%Y-%m-%d %H:%M:%S"),
        "rate": 0.1,
        "small": 3,
    }
    assert served.push("stats_push", body, to="online_and_offline") == 2
    got = served.get_online_features(FRESH, {"driver_id": [4, 5]})
    assert got.to_dict()["small"] == [3, 3]
    assert got.to_arrow().column("rate").to_pylist() == pytest.approx([0.1, 0.1], rel=1e-6)
    assert got.event_timestamps["rate"].to_pylist() == [NOW, NOW]
    naive = pd.DataFrame(
        {
            "driver_id": [6],
            "event_ts": [NOW.replace(tzinfo=None)],
            "created": [NOW.replace(tzinfo=None)],
            "rate": [1.0],  # float64
            "small": [2.0],  # a whole float for an integer
        }
    )
    served.push("stats_push", naive, to="online_and_offline")
    got = served.get_online_features(FRESH, {"driver_id": [6]})
    assert got.to_dict()["small"] == [2]
    assert got.event_timestamps["rate"].to_pylist() == [NOW]
    stored = served.sql("select event_ts, created, rate from stats where driver_id = 6")
    assert stored.to_pylist() == [{"event_ts": NOW, "created": NOW, "rate": 1.0}]
    assert stored.schema.field("rate").type == pa.float32()


@pytest.mark.parametrize(
    ("column", "values", "says"),
    [
        ("small", [1, 2**40], r"column 'small' row 1 holds 1099511627776.*outside"),
        ("small", [1, 1.5], r"column 'small' row 1 holds 1.5.*not a whole number"),
        ("rate", ["0.5", "abc"], r"column 'rate' row 1 holds 'abc'.*not a number"),
        ("rate", [0.5, 1e39], r"column 'rate' row 1 holds 1e\+39.*float32"),
        ("event_ts", ["2026-01-01", "soon"], r"column 'event_ts' row 1 holds 'soon'"),
    ],
)
@pytest.mark.parametrize("to", ["online", "offline", "online_and_offline"])
def test_casts_that_lose_information_are_refused_and_write_nothing(
    served: fs.FeatureStore, column: str, values: list[Any], says: str, to: str
) -> None:
    body: dict[str, Any] = {"driver_id": [1, 2], "event_ts": [NOW, NOW], "rate": [0.5, 0.5]}
    body["small"] = [1, 1]
    body[column] = values
    before = _online(served, FRESH, [1, 2])
    with pytest.raises(fs.SchemaError, match=says):
        served.push("stats_push", body, to=to)
    assert _online(served, FRESH, [1, 2]) == before
    assert _nothing_staged(served)


def test_teardown_clears_online_data_and_keeps_offline_data(served: fs.FeatureStore) -> None:
    removed = served.teardown()
    assert removed >= 4  # two entities in two views, and their materialization records
    got = served.get_online_features(FRESH, {"driver_id": [1]})
    assert got.to_dict()["rate"] == [None] and got.statuses("rate") == ["NOT_FOUND"]
    assert all(s.commit_id is None for s in served.online_status())
    entities = {"driver_id": [1], "event_timestamp": [NOW]}
    assert served.get_historical_features(entities, BATCH).to_df()["trips"].tolist() == [7]
    results = served.materialize_incremental(NOW)
    assert all(r.full for r in results)
    assert _online(served, BATCH, [1])["trips"] == [7]


def test_feast_listing_names(served: fs.FeatureStore) -> None:
    assert [e.name for e in served.list_entities()] == ["driver"]
    assert [e.name for e in served.list_entities(tags={"team": "b"})] == []
    assert [v.name for v in served.list_feature_views(tags={"team": "a"})] == ["batch_stats"]
    assert sorted(s.name for s in served.list_data_sources()) == ["stats", "stats_push"]
    assert served.list_feature_services() == []
    assert list(served.get_entity("driver").join_keys) == ["driver_id"]
    assert isinstance(served.get_data_source("stats_push"), PushSource)
    with pytest.raises(fs.NotFoundError):
        served.get_entity("rider")


def test_results_show_themselves(served: fs.FeatureStore) -> None:
    response = served.get_online_features(FRESH, {"driver_id": [1, 99]})
    text = repr(response)
    assert text.splitlines()[0] == "OnlineResponse: 2 entity row(s), 2 feature(s)"
    assert "0.5" in text and "null" in text
    assert "<table>" in response._repr_html_() and "not_found" in response._repr_html_()
    frame = response.to_df()  # Feast's: a missing value is NaN
    assert list(frame.columns) == ["driver_id", "rate", "small"]
    assert frame["driver_id"].tolist() == [1, 99] and frame["rate"].iloc[0] == 0.5
    assert frame["small"].isna().tolist() == [False, True]
    job = served.get_historical_features({"driver_id": [1], "event_timestamp": [NOW]}, FRESH)
    assert "not built yet" in repr(job)
    built = job.to_df()
    assert repr(job).splitlines()[0].endswith("1 rows") and "<table>" in job._repr_html_()
    assert built.equals(job.to_pandas())


def test_ingest_casts_as_leniently_and_as_safely(served: fs.FeatureStore) -> None:
    frame = pd.DataFrame(
        {
            "driver_id": [7, 8],
            "event_ts": [NOW, NOW],
            "created": [NOW, NOW],
            "trips": [3.0, None],  # pandas' float64 for an integer column with a gap
            "rate": [0.5, 0.25],  # float64 for Float32
            "small": [1, 2],  # int64 for Int32
        }
    )
    served.ingest("stats", frame)
    rows = served.sql("select trips, rate, small from stats where driver_id >= 7 order by 1")
    assert rows.to_pylist() == [
        {"trips": 3, "rate": 0.5, "small": 1},
        {"trips": None, "rate": 0.25, "small": 2},
    ]
    with pytest.raises(fs.SchemaError, match=r"column 'trips' row 1 holds 2\.5"):
        served.ingest("stats", frame.assign(trips=[3.0, 2.5]))


def test_a_push_feeding_a_windowed_view_writes_the_plain_views(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    """A windowed view over the push source is rebuilt by materialize, not refused."""
    store = new_store()
    objects = definitions()
    driver, push = objects[0], objects[2]
    assert isinstance(driver, Entity) and isinstance(push, PushSource)
    windowed = FeatureView(
        name="rate_windows",
        entities=[driver],
        source=push,
        schema=[Field(name="rate", dtype=Float32)],
        aggregations=[
            fs.Aggregation(column="rate", function="sum", time_window=timedelta(hours=1))
        ],
    )
    store.apply([*objects, windowed])
    store.commit("definitions")
    store.push("stats_push", _rows([1], NOW, 0.5), to="online_and_offline")
    assert _online(store, FRESH, [1])["rate"] == [0.5]
    with pytest.raises(fs.ValidationError, match="materialize"):
        store.write_to_online_store("rate_windows", _rows([1], NOW, 0.5))
