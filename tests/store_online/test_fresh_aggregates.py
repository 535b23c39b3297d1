"""Windowed views online are exact at request time: tiles plus raw edge events.

At any request time at or after the newest event, ``get_online_features`` of a windowed
view equals ``get_historical_features`` at that time over the same rows: materialized
from a commit, pushed since (late, tied and pushed twice), and deleted offline then
materialized again.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import featurestore as fs
from featurestore import (
    Aggregation,
    Entity,
    FeatureView,
    Field,
    Float64,
    Int64,
    PushSource,
    String,
    TableSource,
    UnixTimestamp,
)
from tests.conftest import drop_prefix
from tests.store_online.conftest import make_store

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
"""Recent: series expire (in real time) once no window can still read them."""
TS = pa.timestamp("us", tz="UTC")
WINDOWS = {"1h": timedelta(hours=1), "90m": timedelta(minutes=90), "1d": timedelta(days=1)}
FUNCTIONS = ("count", "sum", "mean", "min", "max", "stddev", "last")
APPROX = ("mean", "stddev")
"""Float aggregates computed in another order online: equal up to rounding."""


def definitions() -> list[object]:
    card = Entity(name="card", join_keys=["card_id"], value_type=Int64)
    source = TableSource(name="tx", timestamp_field="ts", created_timestamp_column="created")
    push = PushSource(name="tx_push", batch_source=source)
    view = FeatureView(
        name="card_windows",
        entities=[card],
        source=push,
        schema=[Field(name="amount", dtype=Float64), Field(name="n", dtype=Int64)],
        aggregations=[
            Aggregation(column=column, function=function, time_window=window)
            for column in ("amount", "n")
            for function in FUNCTIONS
            for window in WINDOWS.values()
        ],
        ttl=timedelta(hours=2),
    )
    labels = FeatureView(
        name="card_labels",
        entities=[card],
        source=push,
        schema=[Field(name="merchant", dtype=String), Field(name="seen", dtype=UnixTimestamp)],
        aggregations=[
            Aggregation(column=column, function=function, time_window=window)
            for column in ("merchant", "seen")
            for function in ORDERED
            for window in WINDOWS.values()
        ],
    )
    return [card, source, push, view, labels]


ORDERED = ("count", "min", "max", "last")
"""What strings and timestamps aggregate by."""
REFS = [
    f"card_windows:{column}_{function}_{name}"
    for column in ("amount", "n")
    for function in FUNCTIONS
    for name in WINDOWS
] + [
    f"card_labels:{column}_{function}_{name}"
    for column in ("merchant", "seen")
    for function in ORDERED
    for name in WINDOWS
]


def merchant(n: int) -> str | None:
    """A string derived from an event's ``n`` (null for some, and not in numeric order)."""
    return None if n % 5 == 0 else ["zeta", "Alpha", "m\u00e9", "alpha", "", "b"][n % 6]


def frame(events: list[tuple[int, int, int | None, float, int]]) -> pa.Table:
    """Rows (card, minute, created minute or None, amount, n) from T0."""
    return pa.table(
        {
            "card_id": pa.array([e[0] for e in events], pa.int64()),
            "ts": pa.array([T0 + timedelta(minutes=e[1]) for e in events], TS),
            "created": pa.array(
                [None if e[2] is None else T0 + timedelta(minutes=e[2]) for e in events], TS
            ),
            "amount": pa.array([e[3] for e in events], pa.float64()),
            "n": pa.array([e[4] for e in events], pa.int64()),
            "merchant": pa.array([merchant(e[4]) for e in events], pa.string()),
            "seen": pa.array(
                [
                    None if e[4] % 7 == 0 else T0 + timedelta(minutes=e[1], seconds=e[4] % 11)
                    for e in events
                ],
                TS,
            ),
        }
    )


def offline_at(store: fs.FeatureStore, cards: list[int], at: datetime) -> dict[str, list[Any]]:
    entities = pd.DataFrame({"card_id": cards, "event_timestamp": [at] * len(cards)})
    table = store.get_historical_features(entities, REFS).to_arrow()
    return {name.split(":")[1]: table.column(name.split(":")[1]).to_pylist() for name in REFS}


def online_at(store: fs.FeatureStore, cards: list[int], at: datetime) -> dict[str, list[Any]]:
    out = store.get_online_features(REFS, {"card_id": cards}, now=at).to_dict()
    return {k: v for k, v in out.items() if k != "card_id"}


def assert_same(online: dict[str, list[Any]], offline: dict[str, list[Any]], at: object) -> None:
    for name, expected in offline.items():
        got = online[name]
        if name.split("_")[1] in APPROX:
            for g, e in zip(got, expected, strict=True):
                assert (g is None) == (e is None or (isinstance(e, float) and math.isnan(e))), (
                    name,
                    at,
                    got,
                    expected,
                )
                if g is not None:
                    assert g == pytest.approx(e, rel=1e-9, abs=1e-9), (name, at, got, expected)
        else:
            assert got == expected, (name, at, got, expected)


def runs_by_view(runs: list[fs.MaterializeResult]) -> dict[str, fs.MaterializeResult]:
    return {r.view: r for r in runs}


def identities(events: list[tuple[int, int, int | None, float, int]]) -> set[tuple[Any, ...]]:
    return {e[:3] for e in events}


values = st.tuples(
    st.integers(1, 3),  # card
    st.integers(0, 24 * 60),  # minute
    st.one_of(st.none(), st.integers(0, 3)),  # created: minute offset or None
    st.integers(-40, 40).map(lambda v: v / 4),  # amounts exact in binary: sums are exact
    st.integers(-1000, 1000),
)


def _offline_events(draw: st.DrawFn) -> list[tuple[int, int, int | None, float, int]]:
    raw = draw(st.lists(values, min_size=1, max_size=25))
    seen: set[tuple[int, int, int]] = set()
    out = []
    for card, minute, created, amount, n in raw:
        c = minute + (created or 0)  # offline rows carry a created time, unique per identity
        if (card, minute, c) not in seen:
            seen.add((card, minute, c))
            out.append((card, minute, c, amount, n))
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    committed = _offline_events(draw)
    deleted = draw(st.lists(st.sampled_from(committed), max_size=4, unique=True))
    known = identities(committed)
    pushed = [
        e for e in draw(st.lists(values, max_size=12)) if e[:3] not in known
    ]  # new identities (late ones too: any minute)
    unique: dict[tuple[Any, ...], tuple[int, int, int | None, float, int]] = {}
    for e in pushed:
        unique.setdefault(e[:3], e)
    pushed = list(unique.values())
    twice = draw(st.lists(st.sampled_from(pushed), max_size=3)) if pushed else []
    offsets = draw(st.lists(st.integers(0, 26 * 60), min_size=1, max_size=3))
    return {
        "committed": committed,
        "deleted": deleted,
        "pushed": pushed,
        "twice": twice,
        "offsets": offsets,
    }


@pytest.mark.parametrize("redis_url", ["single", "cluster"], indirect=True)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=scenarios())
def test_online_windows_equal_the_point_in_time_join(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, case: dict[str, Any]
) -> None:
    root: Path = tmp_path_factory.mktemp("fresh")
    store = make_store(root, redis_url)
    try:
        store.apply(definitions())
        store.commit("definitions")
        store.ingest("tx", frame(case["committed"]))
        store.commit("rows")
        end = T0 + timedelta(hours=24)
        store.materialize(None, end)
        if case["deleted"]:
            store.ingest(
                "tx", frame(case["deleted"]), mode="delete", keys=["card_id", "ts", "created"]
            )
            store.commit("deletes")
            store.materialize_incremental(end)
        if case["pushed"]:
            store.push("tx_push", frame(case["pushed"]), to="online_and_offline")
        if case["twice"]:
            store.push("tx_push", frame(case["twice"]), to="online")
        newest = max(T0 + timedelta(minutes=e[1]) for e in case["committed"] + case["pushed"])
        cards = [1, 2, 3, 4]
        for offset in case["offsets"]:
            at = max(end, newest) + timedelta(minutes=offset)
            assert_same(online_at(store, cards, at), offline_at(store, cards, at), at)
    finally:
        prefix = store.config.project
        store.close()
        drop_prefix(redis_url, prefix)


def test_a_pushed_event_is_counted_at_once(new_store: Callable[..., fs.FeatureStore]) -> None:
    store = new_store()
    store.apply(definitions())
    store.ingest("tx", frame([(1, 60, 60, 2.5, 3)]))
    store.commit("rows")
    end = T0 + timedelta(hours=2)
    store.materialize(None, end)
    at = end + timedelta(minutes=10)
    refs = ["card_windows:amount_count_1h", "card_windows:amount_count_1d"]
    before = store.get_online_features(refs, {"card_id": [1]}, now=at)
    assert before.to_dict() == {"card_id": [1], "amount_count_1h": [0], "amount_count_1d": [1]}
    store.push("tx_push", frame([(1, 125, None, 4.0, 1)]))
    after = store.get_online_features(refs, {"card_id": [1, 9]}, now=at)
    assert after.to_dict() == {
        "card_id": [1, 9],
        "amount_count_1h": [1, 0],
        "amount_count_1d": [2, 0],
    }
    assert after.statuses("amount_count_1d") == ["PRESENT", "NOT_FOUND"]
    # the same event again counts once; the ttl does not apply to windows (as offline)
    store.push("tx_push", frame([(1, 125, None, 4.0, 1)]))
    later = store.get_online_features(refs, {"card_id": [1]}, now=at + timedelta(hours=5))
    assert later.to_dict() == {"card_id": [1], "amount_count_1h": [0], "amount_count_1d": [2]}


def test_a_correction_rewrites_only_the_entities_it_touched(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    store = new_store()
    store.apply(definitions())
    store.ingest("tx", frame([(1, 60, 60, 2.5, 3)]))
    store.ingest("tx", frame([(2, 61, 61, 1.0, 1), (2, 62, 62, 1.0, 1)]))  # files of its own
    store.commit("rows")
    end = T0 + timedelta(hours=2)
    store.materialize(None, end)
    refs = ["card_windows:amount_sum_1d", "card_windows:amount_max_1d"]
    store.repository.branch("fix").create("main")
    keys = ["card_id", "ts", "created"]
    store.ingest("tx", frame([(1, 60, 60, 2.5, 3)]), branch="fix", mode="delete", keys=keys)
    store.ingest("tx", frame([(1, 70, 70, 0.5, 1)]), branch="fix")
    store.commit("a correction", branch="fix")
    first = runs_by_view(store.materialize_incremental(end, ref="fix"))["card_windows"]
    assert first.full  # the branch's namespace starts with a full run
    assert store.get_online_features(refs, {"card_id": [1, 2]}, now=end, ref="fix").to_dict() == {
        "card_id": [1, 2],
        "amount_sum_1d": [0.5, 2.0],
        "amount_max_1d": [0.5, 1.0],
    }
    main = store.get_online_features(refs, {"card_id": [1, 2]}, now=end).to_dict()
    assert main["amount_sum_1d"] == [2.5, 2.0]
    # the same correction on main: only card 1's series is rewritten (its one event)
    store.ingest("tx", frame([(1, 60, 60, 2.5, 3)]), mode="delete", keys=keys)
    store.ingest("tx", frame([(1, 70, 70, 0.5, 1)]))
    store.commit("a correction")
    run = runs_by_view(store.materialize_incremental(end))["card_windows"]
    assert not run.full and run.rows_written == 1
    after = store.get_online_features(refs, {"card_id": [1, 2]}, now=end).to_dict()
    assert after == {"card_id": [1, 2], "amount_sum_1d": [0.5, 2.0], "amount_max_1d": [0.5, 1.0]}
    # deleting every row of an entity clears its series
    store.ingest("tx", frame([(1, 70, 70, 0.5, 1)]), mode="delete", keys=keys)
    store.commit("no card 1")
    store.materialize(None, end)
    gone = store.get_online_features(refs, {"card_id": [1]}, now=end)
    assert gone.to_dict()["amount_sum_1d"] == [None]
    assert gone.statuses("amount_sum_1d") == ["NOT_FOUND"]


def test_the_fraud_score_counts_a_transaction_pushed_just_now(
    tmp_path: Path, redis_url: str
) -> None:
    from featurestore.project import load_definitions
    from featurestore.templates import create_from_template

    project = tmp_path / "cards"
    now = datetime.now(UTC).replace(microsecond=0)
    create_from_template("fraud", project, project="cards", end=now - timedelta(minutes=5))
    config = fs.load_config(project, env={"REDIS_URL": redis_url})
    prefix = f"t{uuid.uuid4().hex[:12]}"
    online = config.online_store.model_copy(update={"key_prefix": prefix})
    store = fs.FeatureStore(project, config=config.model_copy(update={"online_store": online}))
    try:
        store.apply(load_definitions(project), partial=False)
        store.ingest("transactions", project / "transactions.parquet")
        store.commit("sample data")
        store.materialize(None, now - timedelta(minutes=5))
        service = store.get_feature_service("fraud_service")
        row = [{"card_id": 5012, "amount": 420.0}]
        before = store.get_online_features(service, row, now=now).to_dict()
        pushed = {
            "transaction_id": [10**9],
            "card_id": [5012],
            "event_timestamp": [now - timedelta(seconds=1)],
            "amount": [420.0],
            "merchant_category": ["electronics"],
            "is_fraud": [False],
        }
        store.push("transactions_push", pushed, to="online_and_offline")
        after = store.get_online_features(service, row, now=now).to_dict()
        assert after["amount_count_1h"] == [before["amount_count_1h"][0] + 1]
        assert after["amount_sum_7d"] == pytest.approx([before["amount_sum_7d"][0] + 420.0])
        assert after["fraud_score"] != before["fraud_score"]  # scored on the fresh count
        entities = pd.DataFrame({"card_id": [5012], "event_timestamp": [now], "amount": [420.0]})
        refs = ["card_activity:amount_count_1h", "fraud_scoring:fraud_score"]
        offline = store.get_historical_features(entities, refs).to_pandas()
        assert offline["amount_count_1h"].tolist() == after["amount_count_1h"]
        assert offline["fraud_score"].tolist() == pytest.approx(after["fraud_score"])
    finally:
        store.close()
        drop_prefix(redis_url, prefix)


def test_an_erased_entity_loses_its_series(new_store: Callable[..., fs.FeatureStore]) -> None:
    store = new_store()
    store.apply(definitions())
    store.ingest("tx", frame([(1, 60, 60, 2.5, 3), (2, 61, 61, 1.0, 1)]))
    store.commit("rows")
    end = T0 + timedelta(hours=2)
    store.materialize(None, end)
    store.push("tx_push", frame([(1, 100, None, 4.0, 1)]))
    store.erase({"card_id": 1}, reason="asked to")
    refs = ["card_windows:amount_count_1d"]
    got = store.get_online_features(refs, {"card_id": [1, 2]}, now=end + timedelta(hours=1))
    assert got.to_dict()["amount_count_1d"] == [0, 1]
    assert got.statuses("amount_count_1d") == ["NOT_FOUND", "PRESENT"]
    run = runs_by_view(store.materialize_incremental(end))["card_windows"]
    assert not run.full  # the records name the parts that replaced the erased ones
    again = store.get_online_features(refs, {"card_id": [1, 2]}, now=end + timedelta(hours=1))
    assert again.to_dict()["amount_count_1d"] == [0, 1]


def test_a_lookup_of_plain_and_windowed_views_is_one_round_trip(
    new_store: Callable[..., fs.FeatureStore], redis_url: str
) -> None:
    """The windowed views' series scripts travel in the plain views' HMGET pipeline."""
    from tests.store_online.proxy import RoundTripProxy

    proxy = RoundTripProxy(redis_url)
    try:
        store = new_store(url=proxy.url)
        card, source, push, windows, labels = definitions()
        plain = FeatureView(
            name="card_latest",
            entities=[card],  # type: ignore[list-item]
            source=source,  # type: ignore[arg-type]
            schema=[Field(name="amount", dtype=Float64)],
            ttl=timedelta(days=2),
        )
        store.apply([card, source, push, windows, labels, plain])
        events = [(1, 5, None, 2.5, 3), (1, 20, 1, 1.0, 4), (2, 30, None, 4.0, 5)]
        store.ingest("tx", frame(events))
        store.commit("rows")
        at = T0 + timedelta(minutes=40)
        store.materialize(None, at)
        refs = ["card_latest:amount", *REFS]
        for cards in ([1], [1, 2, 3]):
            store.get_online_features(refs, {"card_id": cards}, now=at)  # plans warm
            before = proxy.turns
            got = store.get_online_features(refs, {"card_id": cards}, now=at).to_dict()
            assert proxy.turns - before == 1
            assert got["amount"][:2] == [1.0, 4.0][: len(cards)]
            assert_same(
                {k: v for k, v in got.items() if k not in ("card_id", "amount")},
                offline_at(store, cards, at),
                at,
            )
    finally:
        proxy.close()
