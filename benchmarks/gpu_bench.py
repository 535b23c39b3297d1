"""The GPU engine against the DuckDB engine, and tensor transfer against raw ``.to(device)``.

On the driver-stats data of ``benchmarks.datagen`` (the same files as ``pit_bench``):

- point-in-time join of three features, ties broken by created time: the DuckDB
  engine (``Engine.as_of_join``: polars for an in-memory entity table, and DuckDB's
  ASOF with ``method="duckdb"``) against the array engine (``offline_store: {type: gpu}``)
  on ``--device``: ``cuda`` (CuPy) or ``cpu`` (NumPy, the same code);
- windowed aggregates (count, sum, mean, max, stddev, last over 1 day and 7 days);
- tensors: ``featurestore.tensors.to_torch(table, columns, device=...)`` of the joined
  training set against ``torch.from_numpy(matrix).to(device)`` of the same bytes
  (needs torch; on ``cuda`` also pinned).

Every result of the array engine is checked equal to the DuckDB engine's before it is
timed. Times are medians of ``--repeats`` runs after one warm-up; the table prints
each variant's ratio to the DuckDB engine's best.

    python -m benchmarks.gpu_bench --sizes medium --device cpu
    python -m benchmarks.gpu_bench --sizes large --device cuda    # on a GPU machine
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.datagen import SIZES, DataSet, generate

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]


def _median(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up (on a GPU: CuPy's kernels compile here)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _row(name: str, seconds: float, best: float) -> str:
    return f"  {name:<46} {seconds * 1000:>10.1f} ms   {seconds / best:>6.2f}x"


def _sync(engine: Any) -> None:
    if getattr(engine, "device", "cpu") == "cuda":
        engine.xp.cuda.Device().synchronize()


def bench_join(
    ds: DataSet, device: str, fallback: str, repeats: int, windows: bool = True
) -> tuple[list[str], pa.Table]:
    """The point-in-time join and windowed aggregates: DuckDB engine vs array engine;
    the report's lines and the joined training set."""
    from offline import ArrayEngine, AsOfSpec, Engine, WindowAgg, WindowSpec

    ents = pq.read_table(ds.entities)
    spec = AsOfSpec(
        files=[str(ds.features)],
        keys={"driver_id": "driver_id"},
        event_ts="event_timestamp",
        created_ts="created",
        columns={c: c for c in FEATURES},
        ttl=timedelta(days=30),
    )
    aggs = [
        WindowAgg(f"trips_{f}_{w}d", f, "avg_daily_trips", timedelta(days=w))  # type: ignore[arg-type]
        for w in (1, 7)
        for f in ("count", "sum", "mean", "max", "stddev", "last")
    ]
    wspec = WindowSpec(
        files=[str(ds.features)],
        keys={"driver_id": "driver_id"},
        event_ts="event_timestamp",
        created_ts="created",
        aggregations=aggs,
    )
    lines = [f"{ds.size}: {ds.feature_rows:,} feature rows, {ds.entity_rows:,} entity rows"]
    with Engine() as duck, ArrayEngine(device=device, fallback=fallback) as arrays:  # type: ignore[arg-type]
        lines[0] += f"; array engine on {arrays.device}"

        def arr_join() -> pa.Table:
            out = arrays.as_of_join(ents, "event_timestamp", [spec]).read_all()
            _sync(arrays)
            return out

        expected = duck.as_of_join(ents, "event_timestamp", [spec]).read_all()
        if not arr_join().equals(expected):
            raise SystemExit("the array engine's join differs from the DuckDB engine's")
        join = {
            "DuckDB engine: as_of_join (polars path)": lambda: duck.as_of_join(
                ents, "event_timestamp", [spec]
            ).read_all(),
            "DuckDB engine: as_of_join method=duckdb": lambda: duck.as_of_join(
                ents, "event_timestamp", [spec], method="duckdb"
            ).read_all(),
            f"array engine ({arrays.device}): as_of_join": arr_join,
        }
        times = {k: _median(v, repeats) for k, v in join.items()}
        best = min(v for k, v in times.items() if k.startswith("DuckDB"))
        lines.append(" point-in-time join (ratio to the DuckDB engine's best)")
        lines += [_row(k, v, best) for k, v in times.items()]

        if not windows:
            return lines, expected

        def arr_window() -> pa.Table:
            out = arrays.window_aggregate(ents, "event_timestamp", wspec).read_all()
            _sync(arrays)
            return out

        want = duck.window_aggregate(ents, "event_timestamp", wspec).read_all()
        got = arr_window()
        for a in aggs:
            x, y = got.column(a.output).to_pylist(), want.column(a.output).to_pylist()
            same = all(
                p == q or (isinstance(p, float) and q is not None and abs(p - q) <= 1e-9 * abs(q))
                for p, q in zip(x, y, strict=True)
            )
            if not same:
                raise SystemExit(f"the array engine's {a.output} differs from DuckDB's")
        wtimes = {
            "DuckDB engine: window_aggregate": _median(
                lambda: duck.window_aggregate(ents, "event_timestamp", wspec).read_all(), repeats
            ),
            f"array engine ({arrays.device}): window_aggregate": _median(arr_window, repeats),
        }
        wbest = wtimes["DuckDB engine: window_aggregate"]
        lines.append(" windowed aggregates, 12 over 1d and 7d (ratio to DuckDB)")
        lines += [_row(k, v, wbest) for k, v in wtimes.items()]
    return lines, expected


def bench_transfer(table: pa.Table, device: str, repeats: int) -> list[str]:
    """``to_torch`` of the joined training set vs ``torch.from_numpy(...).to(device)``."""
    try:
        import torch
    except ImportError:
        return [" tensors: skipped (torch is not installed: pip install torch==2.13.0)"]
    if device == "cuda" and not torch.cuda.is_available():
        return [" tensors: skipped on cuda (torch sees no CUDA device)"]
    from featurestore.tensors import to_numpy, to_torch

    matrix, _ = to_numpy(table, FEATURES)
    mb = matrix.nbytes / 1e6

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    def ours() -> None:
        to_torch(table, FEATURES, device=device)
        sync()

    def raw() -> None:
        torch.from_numpy(matrix).to(device)
        sync()

    cases = {
        f"raw: torch.from_numpy(m).to({device!r})": raw,
        f"featurestore.tensors.to_torch(device={device!r})": ours,
    }
    if device == "cuda":
        pinned = torch.from_numpy(matrix).pin_memory()

        def raw_pinned() -> None:
            pinned.to(device, non_blocking=True)
            sync()

        def ours_pinned() -> None:
            to_torch(table, FEATURES, device=device, pin_memory=True)
            sync()

        cases["raw: pinned tensor .to('cuda')"] = raw_pinned
        cases["featurestore.tensors.to_torch(pin_memory=True)"] = ours_pinned
    times = {k: _median(v, repeats) for k, v in cases.items()}
    best = next(iter(times.values()))
    lines = [f" tensors: {table.num_rows:,} x {len(FEATURES)} float32 ({mb:.1f} MB); ratio to raw"]
    lines += [_row(k, v, best) for k, v in times.items()]
    if device == "cpu":
        lines.append("  (on cpu .to('cpu') copies nothing: the ratio is Arrow -> matrix alone)")
    if device == "cuda":
        lines.append(f"  raw copy rate: {mb / 1000 / times[next(iter(times))]:.1f} GB/s")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["medium"], choices=list(SIZES))
    p.add_argument("--device", choices=["cuda", "cpu"], default="cpu")
    p.add_argument(
        "--fallback", choices=["cpu", "error"], default="error", help="cuda without a GPU"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-windows", action="store_true", help="the join only")
    args = p.parse_args(argv)
    for size in args.sizes:
        ds = generate(size)
        lines, training_set = bench_join(
            ds, args.device, args.fallback, args.repeats, windows=not args.no_windows
        )
        for line in lines:
            print(line, flush=True)
        for line in bench_transfer(training_set, args.device, args.repeats):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
