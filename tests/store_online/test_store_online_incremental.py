"""materialize_incremental after new commits equals a full materialize; status tracks it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

import featurestore as fs
from tests.store_online.data import TS, time_t
from tests.store_online.defs import definitions

FEATURES = ["stats:conv_rate", "stats:acc_rate", "stats:trips", "stats:city"]
DRIVERS = list(range(1, 8))


def table(rows: list[tuple[int, datetime, datetime, float]]) -> pa.Table:
    return pa.table(
        {
            "driver_id": pa.array([r[0] for r in rows], pa.int64()),
            "event_ts": pa.array([r[1] for r in rows], TS),
            "created": pa.array([r[2] for r in rows], TS),
            "conv_rate": pa.array([r[3] for r in rows], pa.float32()),
            "acc_rate": pa.array([r[3] * 2 for r in rows], pa.float64()),
            "trips": pa.array([int(r[3] * 1000) for r in rows], pa.int64()),
            "city": pa.array([f"c{r[3]}" for r in rows], pa.string()),
        }
    )


def snapshot(store: fs.FeatureStore, now: datetime) -> list[dict[str, Any]]:
    """Values and event times of every driver (the commit each came from is left out:
    an entity untouched by an incremental run keeps naming the older commit)."""
    response = store.get_online_features(FEATURES, {"driver_id": DRIVERS}, now=now)
    rows = response.to_arrow(include_metadata=True).to_pylist()
    return [{k: v for k, v in row.items() if not k.endswith("__commit")} for row in rows]


def commits(store: fs.FeatureStore, now: datetime) -> list[str | None]:
    response = store.get_online_features(FEATURES, {"driver_id": DRIVERS}, now=now)
    return list(response.commits["conv_rate"].to_pylist())


def status(store: fs.FeatureStore) -> fs.ViewStatus:
    (s,) = store.online_status()
    return s


def test_incremental_after_late_rows_equals_full(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    store = new_store()
    store.apply(definitions(ttl=timedelta(days=2)))
    t1 = time_t()
    t2 = t1 + timedelta(minutes=30)
    m, s = timedelta(minutes=1), timedelta(seconds=1)
    first = [
        (1, t1 - 10 * m, t1 - 10 * m, 0.125),
        (1, t1 - 20 * m, t1 - 20 * m, 0.25),
        (2, t1 - 5 * m, t1 - 5 * m + s, 0.375),
        (3, t1 - 5 * m, t1 - 5 * m + s, 0.5),
        (4, t1, t1, 0.625),
        (5, t1 + 5 * m, t1 + 5 * m, 0.75),  # after the first watermark
        (6, t1 - 90 * m, t1 - 90 * m, 0.875),
    ]
    store.ingest("stats_src", table(first))
    c1 = store.commit("first").id
    assert status(store).commit_id is None

    (r1,) = store.materialize_incremental(t1)
    assert (r1.commit_id, r1.full, r1.end) == (c1, True, t1)
    st = status(store)
    assert (st.commit_id, st.branch, st.watermark, st.branch_head) == (c1, "main", t1, c1)
    assert (st.commits_behind, st.up_to_date) == (0, True)
    before = snapshot(store, t1)
    assert [r["conv_rate"] for r in before] == [0.125, 0.375, 0.5, 0.625, None, 0.875, None]

    second = [
        (1, t1 - 15 * m, t1, 0.0625),  # late and older than what is served: loses
        (2, t1 - 2 * m, t1 + m, 0.1875),  # late but newer than what is served: wins
        (3, t1 - 5 * m, t1 - 5 * m, 0.3125),  # late tie on event time, created earlier: loses
        (4, t1, t1 + m, 0.4375),  # tie at the old watermark, created later: wins
        (5, t1 + 10 * m, t1 + 10 * m, 0.5625),  # new after the watermark
        (7, t1 - 100 * m, t1 - 100 * m, 0.6875),  # a late new entity
        (6, t2 + m, t2 + m, 0.8125),  # after the second end: not materialized
    ]
    store.ingest("stats_src", table(second))
    c2 = store.commit("second, with late rows").id
    st = status(store)
    assert (st.commit_id, st.branch_head, st.commits_behind, st.up_to_date) == (c1, c2, 1, False)
    assert snapshot(store, t1) == before

    results = store.materialize_incremental(t2)
    assert [(r.commit_id, r.full, r.start, r.end) for r in results] == [(c2, False, t1, t2)]
    st = status(store)
    assert (st.commit_id, st.watermark, st.commits_behind, st.up_to_date) == (c2, t2, 0, True)
    incremental = snapshot(store, t2)
    # drivers 1-5 and 7 had new rows (their value is rewritten from c2); 6 did not
    assert commits(store, t2) == [c2, c2, c2, c2, c2, c1, c2]
    assert [r["conv_rate"] for r in incremental] == [
        0.125,
        0.1875,
        0.5,
        0.4375,
        0.5625,
        0.875,
        0.6875,
    ]

    # rerunning is harmless
    store.materialize_incremental(t2)
    assert snapshot(store, t2) == incremental

    # a full materialization from scratch at the same commit gives the same state
    store.online_store.delete_table("stats")
    assert all(r["conv_rate"] is None for r in snapshot(store, t2))
    (full,) = store.materialize(None, t2)
    assert (full.commit_id, full.full) == (c2, True)
    assert snapshot(store, t2) == incremental
    assert commits(store, t2) == [c2] * 7
    offline = store.get_historical_features(
        pa.table({"driver_id": DRIVERS, "event_ts": pa.array([t2] * len(DRIVERS), TS)}),
        FEATURES,
        ref=c2,
    ).to_arrow()
    assert offline.column("conv_rate").to_pylist() == [r["conv_rate"] for r in incremental]
