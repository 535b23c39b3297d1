"""materialize_incremental reads only the new rows where that gives the full run's answer,
and equals a full run from scratch over rounds of random late, tied and future rows."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

import featurestore as fs
from tests.store_online.data import time_t
from tests.store_online.defs import definitions
from tests.store_online.test_store_online_incremental import table

FEATURES = ["stats:conv_rate", "stats:acc_rate", "stats:trips", "stats:city"]
DRIVERS = list(range(1, 13))
M = timedelta(minutes=1)


def snapshot(store: fs.FeatureStore, now: datetime) -> list[dict[str, Any]]:
    """Values and event times of every driver, without the commit each came from."""
    response = store.get_online_features(FEATURES, {"driver_id": DRIVERS}, now=now)
    rows = response.to_arrow(include_metadata=True).to_pylist()
    return [{k: v for k, v in row.items() if not k.endswith("__commit")} for row in rows]


def random_rows(
    rng: random.Random, end: datetime, seen: set[tuple[int, datetime, datetime]]
) -> list[tuple[int, datetime, datetime, float]]:
    """Rows around ``end``: late, on it, after it; event times on a coarse grid so that
    ties with earlier rows are common, and no (driver, event, created) repeats."""
    out = []
    for _ in range(rng.randint(3, 14)):
        driver = rng.choice(DRIVERS)
        event = end + rng.randint(-12, 6) * 10 * M
        created = event + rng.randint(0, 5) * M
        if (driver, event, created) in seen:
            continue
        seen.add((driver, event, created))
        out.append((driver, event, created, rng.randint(1, 10_000) / 1024))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_incremental_rounds_equal_a_full_run(
    new_store: Callable[..., fs.FeatureStore], seed: int
) -> None:
    rng = random.Random(seed)
    incremental, full = new_store("incremental"), new_store("full")
    for store in (incremental, full):
        store.apply(definitions(ttl=timedelta(days=2)))
    t = time_t()
    seen: set[tuple[int, datetime, datetime]] = set()
    for round_ in range(4):
        end = t + round_ * 30 * M
        rows = random_rows(rng, end, seen)
        for store in (incremental, full):
            store.ingest("stats_src", table(rows))
            store.commit(f"round {round_}")
        (inc,) = incremental.materialize_incremental(end)
        assert inc.full == (round_ == 0)
        full.online_store.delete_table("stats")
        full.materialize(None, end)
        assert snapshot(incremental, end) == snapshot(full, end), f"round {round_}"


@pytest.fixture
def read_files(
    new_store: Callable[..., fs.FeatureStore],
) -> Iterator[tuple[fs.FeatureStore, list[list[str]]]]:
    """A store whose engine records the files of every row read it checks or writes from."""
    store = new_store()
    engine = store.engine
    seen: list[list[str]] = []
    map_rows = engine.map_rows

    def recording(query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(list(query.files))
        return map_rows(query, *args, **kwargs)

    engine.map_rows = recording  # type: ignore[method-assign]
    yield store, seen


@pytest.mark.parametrize("redis_url", ["single", "cluster"], indirect=True)
def test_newer_rows_are_read_from_the_new_files_only(
    read_files: tuple[fs.FeatureStore, list[list[str]]],
) -> None:
    store, seen = read_files
    store.apply(definitions(ttl=timedelta(days=2)))
    t = time_t()
    # rows on the watermark itself were read by the first run: they are not new
    store.ingest("stats_src", table([(d, t, t, d / 8) for d in DRIVERS]))
    store.commit("first")
    store.materialize_incremental(t)
    old = set(store.tables.files(store.resolve("main"), "stats_src"))

    store.ingest("stats_src", table([(d, t + 5 * M, t + 5 * M, d / 4) for d in (2, 5)]))
    store.commit("two drivers, newer rows")
    seen.clear()
    (result,) = store.materialize_incremental(t + 10 * M)
    assert (result.full, result.rows_written) == (False, 2)
    assert seen and all(not set(files) & old for files in seen), seen
    values = snapshot(store, t + 10 * M)
    assert [r["conv_rate"] for r in values] == [d / 4 if d in (2, 5) else d / 8 for d in DRIVERS]


def test_a_late_tie_is_settled_over_every_file(
    read_files: tuple[fs.FeatureStore, list[list[str]]],
) -> None:
    """A late row with the served row's event time: the greater created time wins, which
    needs the served row's own file, so that entity is read over all files."""
    store, seen = read_files
    store.apply(definitions(ttl=timedelta(days=2)))
    t = time_t()
    store.ingest("stats_src", table([(1, t - 10 * M, t - 10 * M, 0.5), (2, t - 10 * M, t, 0.25)]))
    store.commit("first")
    store.materialize_incremental(t)
    old = set(store.tables.files(store.resolve("main"), "stats_src"))

    # driver 1: same event time, created later (wins); driver 2: created earlier (loses)
    late = [(1, t - 10 * M, t - 5 * M, 0.75), (2, t - 10 * M, t - 5 * M, 0.125)]
    store.ingest("stats_src", table(late))
    store.commit("late ties")
    seen.clear()
    (result,) = store.materialize_incremental(t + M)
    assert result.full is False
    assert any(set(files) & old for files in seen)
    values = snapshot(store, t + M)
    assert [r["conv_rate"] for r in values[:2]] == [0.75, 0.25]


def test_a_bad_row_in_any_part_writes_nothing(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    """Driver 1's newer row takes the new-rows read; driver 3, never served, the all-files
    read, where its only row has a time Python cannot hold: the run is refused before
    driver 1 is written."""
    store = new_store()
    store.apply(definitions(ttl=timedelta(days=2)))
    t = time_t()
    store.ingest("stats_src", table([(1, t - 10 * M, t - 10 * M, 0.5), (2, t - 10 * M, t, 0.25)]))
    store.commit("first")
    store.materialize_incremental(t)
    before = snapshot(store, t + M)

    rows = table([(1, t, t, 0.75), (3, t, t, 0.125)])
    early = pa.array([-(2**62)], pa.int64()).cast(rows.schema.field("event_ts").type)
    event_ts = pa.concat_arrays([pa.array([t], early.type), early])
    rows = rows.set_column(rows.schema.get_field_index("event_ts"), "event_ts", event_ts)
    store.tables.write("main", "stats_src", rows)  # past the door, as data written before it
    store.commit("a newer row and a row no run can write")
    status = store.online_status()
    with pytest.raises(fs.ValidationError, match="years 1-9999"):
        store.materialize_incremental(t + M)
    assert snapshot(store, t + M) == before
    assert store.online_status() == status
