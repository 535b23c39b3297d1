"""Point-in-time join on Spark against DuckDB, on the same Parquet objects of one commit.

Variants (each in a process of its own, so a Spark master is one JVM): ``duckdb``
(``Engine``, ASOF on (event time, created)), ``polars`` (``Engine``'s default for an
in-memory entity table), ``spark2`` (``local[2]``, bucketed join), ``spark2-range``
(``local[2]``, plain range join) and ``spark1`` (``local[1]``, bucketed). Medians of
``--repeats`` runs after one warm-up (``--no-warm-up``: the first run is timed too, for
sizes where a run takes minutes); the Spark results are checked equal to DuckDB's. A
variant that runs past ``--timeout`` is killed and reported as such.

    python -m benchmarks.spark_bench --sizes small medium
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import shutil
import statistics
import sys
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.datagen import DATA, DataSet, generate

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
VARIANTS: dict[str, dict[str, Any]] = {
    "duckdb": {"type": "duckdb", "method": "duckdb"},
    "polars": {"type": "duckdb", "method": "polars"},
    "spark2": {"type": "spark", "master": "local[2]", "join": "bucketed"},
    "spark2-range": {"type": "spark", "master": "local[2]", "join": "range"},
    "spark1": {"type": "spark", "master": "local[1]", "join": "bucketed"},
}


def _files(ds: DataSet) -> list[str]:
    """The table's objects at a tagged commit: extensionless content-addressed files."""
    import repos
    from offline import TableStore

    folder = DATA / f"{ds.features.parent.name}-spark-repo"
    ready = folder / ".ready"
    if not ready.exists():
        shutil.rmtree(folder, ignore_errors=True)
        repo = repos.Repository.create(folder)
        store = TableStore(repo)
        schema = pq.read_schema(ds.features)
        store.create_table("main", "driver_stats", schema, keys=["driver_id", "event_timestamp"])
        store.write("main", "driver_stats", ds.features)
        repo.branch("main").commit("driver stats")
        repo.tag("bench").create("main")
        ready.touch()
    repo = repos.Repository.open(folder)
    try:
        return TableStore(repo).files("bench", "driver_stats")
    finally:
        repo.close()


def _child(variant: str, size: str, repeats: int, warm_up: bool, out: mp.Queue) -> None:  # type: ignore[type-arg]
    import offline

    ds = generate(size)
    files = _files(ds)
    options = dict(VARIANTS[variant])
    kind = options.pop("type")
    method = options.pop("method", None)
    if kind == "spark":
        options["shuffle_partitions"] = 8
    engine = offline.open_engine(kind, **options)
    spec = offline.AsOfSpec(
        files=files,
        keys={"driver_id": "driver_id"},
        event_ts="event_timestamp",
        created_ts="created",
        columns={c: c for c in FEATURES},
    )
    ents = pq.read_table(ds.entities)

    def run() -> pa.Table:
        if method is not None:
            reader = engine.as_of_join(ents, "event_timestamp", [spec], method=method)  # type: ignore[call-arg]
        else:
            reader = engine.as_of_join(ents, "event_timestamp", [spec])
        return reader.read_all()

    times = []
    if warm_up:
        result = run()  # warm-up (Spark: JVM, code generation)
    else:  # the first run is timed: it pays the session's start
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    for _ in range(repeats - len(times)):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    engine.close()
    out.put((statistics.median(times), result))


def measure(
    variant: str, size: str, repeats: int, timeout: float, warm_up: bool = True
) -> tuple[float, pa.Table] | None:
    """Median seconds and the table of ``variant`` in a process of its own; None when it
    ran past ``timeout`` seconds (it is killed)."""
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    p = ctx.Process(target=_child, args=(variant, size, repeats, warm_up, q))
    p.start()
    try:
        got: tuple[float, pa.Table] = q.get(timeout=timeout)
    except queue.Empty:
        p.kill()  # past its time: no grace
        return None
    finally:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    return got


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="*", default=["small", "medium"])
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    p.add_argument(
        "--no-warm-up",
        dest="warm_up",
        action="store_false",
        help="time the first run too (it pays Spark's start; for sizes where a run takes minutes)",
    )
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    for size in args.sizes:
        ds = generate(size)
        print(f"\n{size}: {ds.feature_rows:,} feature rows, {ds.entity_rows:,} entity rows")
        secs: dict[str, float] = {}
        ref: pa.Table | None = None
        for v in args.variants:
            got = measure(v, size, args.repeats, args.timeout, args.warm_up)
            if got is None:
                print(f"  {v:<13} timed out after {args.timeout:.0f} s (killed)", flush=True)
                continue
            secs[v], table = got
            if ref is None:
                ref = table
            same = "same rows" if table.equals(ref) else "DIFFERENT ROWS"
            print(f"  {v:<13} {secs[v]:8.3f} s   ({same} as {next(iter(secs))})", flush=True)
        base = secs.get("duckdb")
        if base:
            for v in secs:
                if v != "duckdb":
                    print(f"  {v} / duckdb: {secs[v] / base:.1f}x")
        if "spark1" in secs and "spark2" in secs:
            print(f"  scaling local[1] -> local[2]: {secs['spark1'] / secs['spark2']:.2f}x faster")
        if "spark2" in secs and "spark2-range" in secs:
            print(f"  range join / bucketed join: {secs['spark2-range'] / secs['spark2']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
