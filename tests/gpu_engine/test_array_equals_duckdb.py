"""The array engine (the GPU engine's code, run on NumPy) equals the DuckDB engine on
random data: ties on event time, null created times, null keys and values, rows on the
ttl edges, duplicate entity rows, string and two-column keys; and windowed aggregates
of every function over int, float and string columns."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offline import ArrayEngine, AsOfSpec, Engine, OfflineError, WindowAgg, WindowSpec, open_engine
from tests.gpu_engine.device import array_device

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FUNCTIONS = ("count", "sum", "mean", "min", "max", "stddev", "last")


def at(hours: int | None) -> datetime | None:
    return None if hours is None else T0 + timedelta(hours=hours)


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[ArrayEngine, Engine]]:
    with ArrayEngine(device=array_device(), threads=1) as arrays, Engine(threads=1) as duck:
        yield arrays, duck


keys = st.tuples(st.sampled_from(["a", "é", None]), st.integers(0, 1))
feature_row = st.tuples(
    keys,
    st.one_of(st.integers(0, 8), st.none()),  # event hour (a null one never matches)
    st.one_of(st.integers(0, 3), st.none()),  # created hour
    st.one_of(st.integers(-(2**40), 2**40), st.none()),
    st.one_of(st.floats(-1e3, 1e3, allow_nan=False), st.none()),
)
entity_row = st.tuples(keys, st.integers(0, 10), st.sampled_from(["x", "y"]))


def _unique(rows: list[Any], numbers_only: bool) -> list[Any]:
    """One row per (key, event, created), the key being the number alone if
    ``numbers_only``: among exact ties DuckDB's pick is arbitrary."""
    seen: set[Any] = set()
    out = []
    for r in rows:
        tie = (r[0][1] if numbers_only else r[0], r[1], r[2])
        if tie not in seen:
            seen.add(tie)
            out.append(r)
    return out


def _write(tmp: Path, rows: list[Any], numbers_only: bool = False) -> str:
    rows = _unique(rows, numbers_only)
    table = pa.table(
        {
            "s": pa.array([r[0][0] for r in rows], pa.string()),
            "n": pa.array([r[0][1] for r in rows], pa.int32()),
            "e": pa.array([at(r[1]) for r in rows], pa.timestamp("us", tz="UTC")),
            "c": pa.array([at(r[2]) for r in rows], pa.timestamp("us", tz="UTC")),
            "iv": pa.array([r[3] for r in rows], pa.int64()),
            "fv": pa.array([r[4] for r in rows], pa.float64()),
        }
    )
    path = tmp / f"f{len(os.listdir(tmp))}.parquet"
    pq.write_table(table, path)
    return str(path)


def _entities(rows: list[Any]) -> pa.Table:
    return pa.table(
        {
            "label": [r[2] for r in rows],
            "s": pa.array([r[0][0] for r in rows], pa.string()),
            "n": pa.array([r[0][1] for r in rows], pa.int32()),
            "t": pa.array([at(r[1]) for r in rows], pa.timestamp("us")),  # naive: UTC
        }
    )


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(feature_row, max_size=40),
    ents=st.lists(entity_row, min_size=1, max_size=30),
    ttl=st.one_of(st.none(), st.integers(0, 5)),
    one_key=st.booleans(),
    leak_free=st.booleans(),
)
def test_as_of_join_equals_duckdb(
    engines: tuple[ArrayEngine, Engine],
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[Any],
    ents: list[Any],
    ttl: int | None,
    one_key: bool,
    leak_free: bool,
) -> None:
    arrays, duck = engines
    path = _write(tmp_path_factory.mktemp("pit"), rows)
    spec = AsOfSpec(
        files=[path],
        keys={"s": "s"} if one_key else {"s": "s", "n": "n"},
        event_ts="e",
        created_ts="c",
        columns={"iv": "iv", "fv": "fv", "when": "c"},
        ttl=None if ttl is None else timedelta(hours=ttl),
        exclude_created_after=leak_free,
    )
    entities = _entities(ents)
    ours = arrays.as_of_join(entities, "t", [spec]).read_all()
    theirs = duck.as_of_join(entities, "t", [spec]).read_all()
    assert ours.equals(theirs), (ours.to_pylist(), theirs.to_pylist())
    assert ours.column("iv").type == pa.int64()
    if not leak_free:  # DuckDB's own two methods agree too
        assert theirs.equals(duck.as_of_join(entities, "t", [spec], method="duckdb").read_all())


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-9)
    return a == b


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(feature_row, max_size=40),
    ents=st.lists(entity_row, min_size=1, max_size=30),
    windows=st.lists(st.integers(1, 6), min_size=1, max_size=2, unique=True),
)
def test_window_aggregate_equals_duckdb(
    engines: tuple[ArrayEngine, Engine],
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[Any],
    ents: list[Any],
    windows: list[int],
) -> None:
    arrays, duck = engines
    path = _write(tmp_path_factory.mktemp("win"), rows, numbers_only=True)
    aggs = [
        WindowAgg(f"{col}_{f}_{w}", f, col, timedelta(hours=w))  # type: ignore[arg-type]
        for w in windows
        for col in ("iv", "fv")
        for f in FUNCTIONS
    ]
    aggs += [
        WindowAgg(f"s_{f}_{w}", f, "s", timedelta(hours=w))  # type: ignore[arg-type]
        for w in windows
        for f in ("count", "min", "max", "last")
    ]
    spec = WindowSpec(
        files=[path], keys={"n": "n"}, event_ts="e", created_ts="c", aggregations=aggs
    )
    entities = _entities(ents)
    ours = arrays.window_aggregate(entities, "t", spec).read_all()
    theirs = duck.window_aggregate(entities, "t", spec).read_all()
    assert ours.column_names == theirs.column_names
    for a in aggs:
        assert ours.column(a.output).type == theirs.column(a.output).type, a
        got, want = ours.column(a.output).to_pylist(), theirs.column(a.output).to_pylist()
        assert all(_close(x, y) for x, y in zip(got, want, strict=True)), (a, got, want)
    assert ours.column("label").to_pylist() == [r[2] for r in ents]


def test_no_gpu_refuses_or_falls_back() -> None:
    pytest.importorskip("numpy")
    try:
        import cupy  # type: ignore[import-not-found]  # noqa: F401

        pytest.skip("CuPy is installed: the refusal is for machines without it")
    except ImportError:
        pass
    with pytest.raises(OfflineError, match=r"CuPy is not installed.*cupy-cuda12x.*device: cpu"):
        open_engine("gpu", device="cuda")
    with open_engine("gpu", device="cuda", fallback="cpu") as fallback:  # type: ignore[attr-defined]
        assert isinstance(fallback, ArrayEngine) and fallback.device == "cpu"
    with pytest.raises(OfflineError, match="fallback"):
        ArrayEngine(device="cpu", fallback="gpu")  # type: ignore[arg-type]


def test_times_too_far_apart_to_pack_are_ranked(
    engines: tuple[ArrayEngine, Engine], tmp_path: Path
) -> None:
    # 64 keys x 9,000 years of microseconds overflow 63 bits: the engine ranks the times
    arrays, duck = engines
    rnd = random.Random(5)
    years = [datetime(y, 1, 1, tzinfo=UTC) for y in (1, 2, 5000, 9000, 9999)]
    n = 400
    keys = [rnd.randrange(64) for _ in range(n)]
    events = [rnd.choice(years) + timedelta(hours=rnd.randrange(3)) for _ in range(n)]
    feats = pa.table(
        {
            "k": pa.array(keys, pa.int64()),
            "e": pa.array(events, pa.timestamp("us", tz="UTC")),
            "c": pa.array([e + timedelta(minutes=rnd.randrange(4)) for e in events]),
            "v": pa.array([rnd.randrange(100) for _ in range(n)], pa.int64()),
        }
    )
    feats = (
        feats.group_by(["k", "e", "c"])
        .aggregate([("v", "max")])
        .rename_columns(["k", "e", "c", "v"])
    )
    pq.write_table(feats, tmp_path / "far.parquet")
    ents = pa.table(
        {
            "k": pa.array([rnd.randrange(66) for _ in range(200)], pa.int64()),
            "t": pa.array(
                [rnd.choice(years) + timedelta(hours=rnd.randrange(4)) for _ in range(200)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    files = [str(tmp_path / "far.parquet")]
    spec = AsOfSpec(files, {"k": "k"}, "e", {"v": "v"}, created_ts="c", ttl=timedelta(hours=1))
    ours = arrays.as_of_join(ents, "t", [spec]).read_all()
    assert ours.equals(duck.as_of_join(ents, "t", [spec]).read_all())
    assert ours.column("v").null_count < ours.num_rows
    aggs = [WindowAgg(f, f, "v", timedelta(hours=2)) for f in ("count", "sum", "max", "last")]
    wspec = WindowSpec(files, {"k": "k"}, "e", aggs, created_ts="c")  # type: ignore[arg-type]
    got = arrays.window_aggregate(ents, "t", wspec).read_all()
    assert got.equals(duck.window_aggregate(ents, "t", wspec).read_all())
