"""Aggregation series read back, at any request time at or after their newest event, what
the offline window semantics give over the same events: checked against a pure-Python
reference on random streams with ties, late events, duplicates, corrections and
replaces, plus unit cases at the edges."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import online
from online import AggSpec, SeriesSpec, TileStore

MIN = 60_000_000
BASE = 2_000_000_000 * 1_000_000 // MIN * MIN  # 2033, so keys do not expire in a test
FUNCTIONS = ("count", "sum", "mean", "min", "max", "stddev", "last")
Identity = tuple[bytes, int, int | None]
Event = tuple[bytes, int, int | None, float | int | None, float | int | None]


def _series(windows: Sequence[int], table: str = "tx") -> SeriesSpec:
    specs = tuple(
        AggSpec(col, fn, w, f"{col}_{fn}_{w}", col == "i")  # type: ignore[arg-type]
        for w in windows
        for col in ("i", "f")
        for fn in FUNCTIONS
    )
    return SeriesSpec(table, specs, ("i", "f"), online.tile_size(windows))


def _events(rows: Sequence[Event]) -> pa.Table:
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "__key": pa.array([r[0] for r in rows], pa.binary()),
            "__ts": pa.array([r[1] for r in rows], pa.int64()).cast(ts),
            "__created": pa.array([r[2] for r in rows], pa.int64()).cast(ts),
            "i": pa.array([r[3] for r in rows], pa.int64()),
            "f": pa.array([r[4] for r in rows], pa.float64()),
        }
    )


def _later(a: tuple[int, int | None], b: tuple[int, int | None]) -> bool:
    if a[0] != b[0]:
        return a[0] > b[0]
    if a[1] == b[1]:
        return False
    return a[1] is None or (b[1] is not None and a[1] > b[1])


class _AnyOf(tuple[Any, ...]):
    """The values a \"last\" may give when rows tie on (event time, created time)."""


def _reference(
    state: dict[Identity, list[tuple[Any, Any]]], key: bytes, spec: SeriesSpec, at: int
) -> dict[str, Any]:
    """The offline semantics over one key's events (rows sharing an identity all count)."""
    out: dict[str, Any] = {}
    widest = spec.widest_us
    inside = [
        (i, v) for i, vs in state.items() for v in vs if i[0] == key and at - widest < i[1] <= at
    ]
    out["__event_ts"] = max((i[1] for i, _ in inside), default=None)
    for s in spec.specs:
        rows = [(i, v) for i, v in inside if at - s.window_us < i[1]]
        col = 0 if s.column == "i" else 1
        vals = [v[col] for _, v in rows if v[col] is not None]
        if s.function == "count":
            out[s.output] = len(vals)
        elif s.function == "last":
            best = None
            for i, v in rows:
                if best is None or _later((i[1], i[2]), (best[0][1], best[0][2])):
                    best = (i, v)
            out[s.output] = (
                None if best is None else _AnyOf({v[col] for i, v in rows if i == best[0]})
            )
        elif not vals:
            out[s.output] = None
        elif s.function == "sum":
            out[s.output] = sum(vals)
        elif s.function == "mean":
            out[s.output] = sum(vals) / len(vals)
        elif s.function == "min":
            out[s.output] = min(vals)
        elif s.function == "max":
            out[s.output] = max(vals)
        else:
            out[s.output] = statistics.stdev(vals) if len(vals) > 1 else None
    return out


def _same(got: Any, want: Any) -> bool:
    if got is None or want is None:
        return got is None and want is None
    if isinstance(want, float) or isinstance(got, float):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    return bool(got == want)


def _check(
    store: TileStore,
    spec: SeriesSpec,
    state: dict[Identity, list[tuple[Any, Any]]],
    keys: Sequence[bytes],
    at: int,
) -> None:
    table = store.read(spec, keys, at)
    for key, row in zip(keys, table.to_pylist(), strict=True):
        want = _reference(state, key, spec, at)
        got_ts = row["__event_ts"]
        got_us = (
            None if got_ts is None else int(got_ts.timestamp()) * 1_000_000 + got_ts.microsecond
        )
        assert got_us == want.pop("__event_ts"), (key, at)
        for name, value in want.items():
            if isinstance(value, _AnyOf):
                assert any(_same(row[name], v) for v in value), (key, at, name, row[name])
            else:
                assert _same(row[name], value), (key, at, name, row[name], value)


def _at(newest: int, steps: int, nudge: int) -> int:
    """A request time from half-minute steps: at most one (1-minute) tile before `newest`."""
    return newest + steps * MIN // 2 + (max(nudge, 0) if steps == -2 else nudge)


KEYS = [b"a", b"b", b"c"]
_event = st.tuples(
    st.sampled_from(KEYS),
    st.integers(0, 16).map(lambda k: BASE + k * 7 * MIN),
    st.one_of(st.none(), st.integers(0, 2)),
    st.one_of(st.none(), st.integers(-50, 50)),
    st.one_of(st.none(), st.integers(-40, 40).map(lambda x: x / 4)),
)
_op = st.one_of(
    st.tuples(st.just("fold"), st.lists(_event, max_size=12)),
    st.tuples(st.just("refold"), st.integers(0, 100)),
    st.tuples(st.just("replace"), st.lists(_event, max_size=12)),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    windows=st.lists(
        st.sampled_from([MIN, 5 * MIN, 7 * MIN, 60 * MIN, 90 * MIN]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    ops=st.lists(_op, min_size=1, max_size=8),
    offsets=st.lists(st.tuples(st.integers(-2, 200), st.integers(-1, 1)), min_size=1, max_size=4),
)
@pytest.mark.parametrize("small", [0, 64], ids=["arrow-args", "python-args"])
def test_reads_equal_the_offline_semantics(
    online_store: online.RedisOnlineStore,
    monkeypatch: pytest.MonkeyPatch,
    small: int,
    windows: list[int],
    ops: list[tuple[str, Any]],
    offsets: list[tuple[int, int]],
) -> None:
    monkeypatch.setattr(online.tiles, "_SMALL", small)
    spec = _series(windows)
    store = TileStore(online_store)
    store.delete(spec.table, KEYS)
    state: dict[Identity, list[tuple[Any, Any]]] = {}
    batches: list[list[Event]] = []
    for kind, arg in ops:
        if kind == "refold":
            if not batches:
                continue
            arg = batches[arg % len(batches)]
            kind = "fold"
        if kind == "fold":
            store.fold(spec, _events(arg))
            batches.append(arg)
            for k, t, c, i, f in arg:  # a fold dedupes: it corrects the last copy
                copies = state.setdefault((k, t, c), [])
                if copies:
                    copies[-1] = (i, f)
                else:
                    copies.append((i, f))
        else:
            store.replace(spec, KEYS[:2], _events([e for e in arg if e[0] != b"c"]), "c1")
            state = {i: v for i, v in state.items() if i[0] not in KEYS[:2]}
            for k, t, c, i, f in arg:  # a replace keeps every row, as offline counts them
                if k != b"c":
                    state.setdefault((k, t, c), []).append((i, f))
        if state:
            newest = max(i[1] for i in state)
            steps, nudge = offsets[0]
            _check(store, spec, state, KEYS, _at(newest, steps, nudge))
    newest = max((i[1] for i in state), default=BASE)
    for steps, nudge in offsets:
        _check(store, spec, state, KEYS, _at(newest, steps, nudge))


def test_duplicates_count_once_and_corrections_replace(
    online_store: online.RedisOnlineStore,
) -> None:
    spec = _series([60 * MIN])
    store = TileStore(online_store)
    rows: list[Event] = [(b"a", BASE + MIN, None, 3, 1.5), (b"a", BASE + MIN, 5, 4, None)]
    assert store.fold(spec, _events(rows)) == (2, 0)
    assert store.fold(spec, _events(rows)) == (0, 2)
    assert store.fold(spec, _events([(b"a", BASE + MIN, 5, 10, None)])) == (1, 0)
    (row,) = store.read(spec, [b"a"], BASE + 2 * MIN).to_pylist()
    w = 60 * MIN
    assert row[f"i_count_{w}"] == 2
    assert row[f"i_sum_{w}"] == 13
    assert row[f"i_min_{w}"] == 3
    assert row[f"i_last_{w}"] == 3  # a null created time sorts last
    assert row[f"f_last_{w}"] == 1.5
    assert row["__commit"] is None


def test_window_is_open_on_the_left_and_closed_on_the_right(
    online_store: online.RedisOnlineStore,
) -> None:
    spec = _series([5 * MIN])
    store = TileStore(online_store)
    store.fold(spec, _events([(b"a", BASE, None, 1, None), (b"a", BASE + 5 * MIN, None, 2, None)]))
    w = 5 * MIN
    (row,) = store.read(spec, [b"a"], BASE + 5 * MIN).to_pylist()
    assert (row[f"i_count_{w}"], row[f"i_sum_{w}"]) == (1, 2)
    (row,) = store.read(spec, [b"a"], BASE + 5 * MIN - 1).to_pylist()
    assert (row[f"i_count_{w}"], row[f"i_sum_{w}"], row[f"f_sum_{w}"]) == (1, 1, None)
    (row,) = store.read(spec, [b"a"], BASE - 1).to_pylist()
    assert row[f"i_count_{w}"] == 0 and row["__event_ts"] is None


def test_an_edge_inside_a_tile_reads_the_raw_events(online_store: online.RedisOnlineStore) -> None:
    spec = _series([5 * MIN, 7 * MIN])
    store = TileStore(online_store)
    half = MIN // 2
    store.fold(
        spec, _events([(b"a", BASE + half, None, 1, None), (b"a", BASE + 2 * half, None, 2, None)])
    )
    w = 5 * MIN
    (row,) = store.read(spec, [b"a"], BASE + half + w).to_pylist()
    assert (row[f"i_count_{w}"], row[f"i_min_{w}"], row[f"i_max_{w}"]) == (1, 2, 2)
    (row,) = store.read(spec, [b"a"], BASE + half + w - 1).to_pylist()
    assert (row[f"i_count_{w}"], row[f"i_min_{w}"], row[f"i_last_{w}"]) == (2, 1, 2)


def test_replace_clears_listed_keys_and_sets_the_commit(
    online_store: online.RedisOnlineStore,
) -> None:
    spec = _series([60 * MIN])
    store = TileStore(online_store)
    store.fold(spec, _events([(b"a", BASE, None, 1, None), (b"b", BASE, None, 2, None)]))
    assert store.replace(spec, [b"a", b"b"], _events([(b"b", BASE + 1, None, 7, None)]), "abc") == 1
    rows = store.read(spec, [b"a", b"b"], BASE + MIN).to_pylist()
    w = 60 * MIN
    assert [r[f"i_sum_{w}"] for r in rows] == [None, 7]
    assert [r["__commit"] for r in rows] == [None, "abc"]
    assert store.delete(spec.table, [b"a", b"b"]) == 1


def test_read_many_answers_each_series(online_store: online.RedisOnlineStore) -> None:
    one, two = _series([MIN], "s1"), _series([60 * MIN], "s2")
    store = TileStore(online_store)
    store.fold(one, _events([(b"a", BASE, None, 1, None)]))
    store.fold(two, _events([(b"a", BASE, None, 2, None)]))
    got = store.read_many([(one, [b"a"]), (two, [b"a", b"z"])], BASE + 2 * MIN)
    assert got[0].column(f"i_count_{MIN}").to_pylist() == [0]
    assert got[1].column(f"i_sum_{60 * MIN}").to_pylist() == [2, None]


def test_bad_input_is_refused_and_leaves_nothing(online_store: online.RedisOnlineStore) -> None:
    spec = _series([MIN])
    store = TileStore(online_store)
    with pytest.raises(online.InvalidInputError, match="not in `keys`"):
        store.replace(spec, [b"a"], _events([(b"b", BASE, None, 1, None)]), None)
    with pytest.raises(online.InvalidInputError, match="lack column"):
        store.fold(spec, _events([(b"a", BASE, None, 1, None)]).drop_columns(["f"]))
    text = _events([(b"a", BASE, None, 1, None)]).set_column(4, "f", pa.array(["x"]))
    with pytest.raises(online.InvalidInputError, match="numeric"):
        store.fold(spec, text)
    with pytest.raises(online.InvalidInputError, match="not among"):
        SeriesSpec("t", (AggSpec("q", "sum", MIN, "o", True),), ("i",), MIN)
    assert store.read(spec, [b"a", b"b"], BASE).column(f"i_count_{MIN}").to_pylist() == [0, 0]


def test_tile_size_is_the_gcd_clamped_to_a_minute_and_an_hour() -> None:
    hour = 60 * MIN
    assert online.tile_size([hour, 24 * hour, 7 * 24 * hour]) == hour
    assert online.tile_size([5 * MIN, 15 * MIN]) == 5 * MIN
    assert online.tile_size([1_000_000]) == MIN
    assert online.tile_size([48 * hour]) == hour


def test_old_tiles_are_trimmed_as_newer_events_arrive(
    online_store: online.RedisOnlineStore, redis_url: str
) -> None:
    spec = _series([60 * MIN])
    store = TileStore(online_store)
    client = redis.Redis.from_url(redis_url)
    sizes = []
    for step in range(0, 48 * 60, 10):
        store.fold(spec, _events([(b"a", BASE + step * MIN, None, 1, None)]))
        sizes.append(client.hlen(store._key(spec.table, b"a")))
    client.close()
    assert max(sizes[12:]) == sizes[-1] < 40
    (row,) = store.read(spec, [b"a"], BASE + (48 * 60 - 10) * MIN).to_pylist()
    assert row[f"i_count_{60 * MIN}"] == 6


def test_a_long_series_replaces_and_reads_in_one_call(
    online_store: online.RedisOnlineStore,
) -> None:
    week = 7 * 24 * 60 * MIN
    spec = _series([MIN, week])
    store = TileStore(online_store)
    rows: list[Event] = [(b"a", BASE + m * MIN, None, m % 7, None) for m in range(6000)]
    assert store.replace(spec, [b"a"], _events(rows), "c") == 6000
    at = BASE + 6000 * MIN
    state: dict[Identity, list[tuple[Any, Any]]] = {}
    for k, t, c, i, f in rows:
        state.setdefault((k, t, c), []).append((i, f))
    _check(store, spec, state, [b"a"], at)
    _check(store, spec, state, [b"a"], at + week // 2 + 1)


@pytest.mark.parametrize("small", [0, 64], ids=["arrow-args", "python-args"])
def test_float32_and_boolean_columns_aggregate_as_offline_reads_them(
    online_store: online.RedisOnlineStore, monkeypatch: pytest.MonkeyPatch, small: int
) -> None:
    monkeypatch.setattr(online.tiles, "_SMALL", small)
    spec = SeriesSpec(
        "narrow",
        (AggSpec("x", "sum", MIN, "x_sum", False), AggSpec("b", "sum", MIN, "b_sum", True)),
        ("x", "b"),
        MIN,
    )
    store = TileStore(online_store)
    ts = pa.array([BASE + 1, BASE + 2], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    events = pa.table(
        {
            "__key": pa.array([b"a", b"a"], pa.binary()),
            "__ts": ts,
            "x": pa.array([0.1, 0.2], pa.float32()),
            "b": pa.array([True, True]),
        }
    )
    assert store.fold(spec, events) == (2, 0)
    (row,) = store.read(spec, [b"a"], BASE + 2).to_pylist()
    assert row["x_sum"] == float(pa.array([0.1], pa.float32())[0].as_py()) + float(
        pa.array([0.2], pa.float32())[0].as_py()
    )
    assert row["b_sum"] == 2


def test_a_series_stored_with_another_layout_is_refused_until_replaced(
    online_store: online.RedisOnlineStore,
) -> None:
    store = TileStore(online_store)
    old, new = _series([60 * MIN]), _series([5 * MIN, 60 * MIN])
    store.fold(old, _events([(b"a", BASE, None, 1, None)]))
    with pytest.raises(online.InvalidInputError, match="materialize the view again"):
        store.read(new, [b"a"], BASE)
    with pytest.raises(online.InvalidInputError, match="materialize the view again"):
        store.fold(new, _events([(b"b", BASE, None, 1, None), (b"a", BASE, None, 2, None)]))
    assert store.read(new, [b"b"], BASE).column(f"i_count_{60 * MIN}").to_pylist() == [0]
    store.replace(new, [b"a"], _events([(b"a", BASE, None, 3, None)]), None)
    assert store.read(new, [b"a"], BASE).column(f"i_sum_{60 * MIN}").to_pylist() == [3]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    windows=st.lists(
        st.sampled_from([MIN, 5 * MIN, 7 * MIN, 60 * MIN, 90 * MIN]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    events=st.lists(_event, min_size=1, max_size=12),
    offsets=st.lists(
        st.tuples(st.one_of(st.integers(-2, 3), st.integers(-2, 200)), st.integers(-1, 1)),
        min_size=2,
        max_size=10,
    ),
    late=st.lists(_event, max_size=2),
)
def test_a_kept_answer_is_reused_only_while_no_event_enters_or_leaves_a_window(
    online_store: online.RedisOnlineStore,
    windows: list[int],
    events: list[Event],
    offsets: list[tuple[int, int]],
    late: list[Event],
) -> None:
    """Reads at rising request times (each answer is kept with the times it holds for),
    re-reads at the same time, and reads after a fold, all equal the offline semantics."""
    spec = _series(windows)
    store = TileStore(online_store)
    store.delete(spec.table, KEYS)
    state: dict[Identity, list[tuple[Any, Any]]] = {}

    def fold(rows: list[Event]) -> None:
        store.fold(spec, _events(rows))
        for k, t, c, i, f in rows:
            copies = state.setdefault((k, t, c), [])
            if copies:
                copies[-1] = (i, f)
            else:
                copies.append((i, f))

    fold(events)
    newest = max(i[1] for i in state)
    times = sorted({_at(newest, steps, nudge) for steps, nudge in offsets})
    for at in times:
        _check(store, spec, state, KEYS, at)
        _check(store, spec, state, KEYS, at)
    if late:
        fold([e for e in late if e[1] <= newest])
        _check(store, spec, state, KEYS, times[-1])


def test_a_repeated_lookup_reads_the_kept_answer(online_store: online.RedisOnlineStore) -> None:
    spec = _series([5 * MIN, 60 * MIN])
    store = TileStore(online_store)
    store.delete(spec.table, [b"k"])
    store.fold(spec, _events([(b"k", BASE + m * MIN, None, m, m / 2) for m in range(0, 50, 3)]))
    at = BASE + 50 * MIN
    first = store.read(spec, [b"k"], at).to_pylist()
    raw = online_store._command("HGET", store._key(spec.table, b"k"), "z")
    assert raw is not None  # the answer is kept with the request times it holds for
    assert store.read(spec, [b"k"], at + 1).to_pylist() == first
    # an event entering the window is not missed: the fold drops the kept answer
    store.fold(spec, _events([(b"k", at + 2, None, 100, 1.0)]))
    assert online_store._command("HGET", store._key(spec.table, b"k"), "z") is None
    after = store.read(spec, [b"k"], at + 2).to_pylist()[0]
    assert after["i_count_300000000"] == first[0]["i_count_300000000"] + 1


def test_a_read_whose_window_reaches_before_the_kept_events_is_refused(
    online_store: online.RedisOnlineStore,
) -> None:
    """A materialization keeps the events of its window: a lookup before its end whose
    window reaches further back would miss events, so it is refused, not answered short."""
    spec = _series([5 * MIN, 60 * MIN])
    store = TileStore(online_store)
    store.delete(spec.table, [b"k", b"p"])
    end = BASE + 200 * MIN
    rows = [(b"k", end - m * MIN, None, m, float(m)) for m in (1, 30, 59)]
    store.replace(spec, [b"k"], _events(rows), "c1", since_us=end - 60 * MIN)
    assert store.read(spec, [b"k"], end).column("i_count_3600000000").to_pylist() == [3]
    with pytest.raises(online.InvalidInputError, match="keeps an entity's events only after"):
        store.read(spec, [b"k"], end - 1)
    # pushes: events older than the newest minus the widest window (and a tile) are dropped
    store.fold(spec, _events([(b"p", BASE + m * MIN, None, 1, 1.0) for m in (0, 10)]))
    store.read(spec, [b"p"], BASE + 10 * MIN)  # nothing dropped yet: any time reads
    store.fold(spec, _events([(b"p", BASE + 200 * MIN, None, 1, 1.0)]))
    with pytest.raises(online.InvalidInputError, match="get_historical_features"):
        store.read(spec, [b"p"], BASE + 60 * MIN)
    assert store.read(spec, [b"p"], BASE + 200 * MIN).column("i_count_3600000000").to_pylist() == [
        1
    ]
