"""Point-in-time join: the facade and the engine vs the raw limit and Feast 0.67, on the same data.

Every variant builds the same training set: each row of the entity Parquet file
(read inside the timed call) with three driver-stats features as of its time,
ties on event time broken by created time.

- ``featurestore: get_historical_features``: what users call,
  ``FeatureStore.get_historical_features(entity_df, refs, ref="bench").to_arrow()``
  on a store whose table holds the data (ingested and tagged once, cached under
  ``benchmarks/.data/<size>-42-store``);
- ``featurestore: Engine.as_of_join``: the offline engine under it (TableStore files);
- raw limits: DuckDB ASOF on (event time, created time) and polars ``join_asof`` on
  the Parquet files;
- Feast 0.67's ``duckdb`` and ``file`` (dask) offline stores on the same Parquet file.

Each variant runs in its own process (its peak RSS is its own); ``--rounds``
rounds start one process per variant in rotating order, each timing ``--repeats``
runs after one warm-up, so that load from other work on the machine is spread
over every variant. The table shows the median of all timed runs, the ratio to
the best raw variant of the same size, and the largest peak RSS.

    python -m benchmarks.pit_bench                    # small and medium
    python -m benchmarks.pit_bench --sizes medium --rounds 5
    python -m benchmarks.pit_bench --large            # and large (10M / 1M rows)
    python -m benchmarks.pit_bench --large --feast-file-large  # Feast file store on large too
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.datagen import DATA, DataSet, generate

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
FACADE = "featurestore: get_historical_features"
ENGINE = "featurestore: Engine.as_of_join"
RAW_DUCKDB = "raw: DuckDB ASOF on (event, created)"
RAW_POLARS = "raw: polars join_asof, sorted"
FEAST_DUCKDB = "Feast 0.67 duckdb store"
FEAST_FILE = "Feast 0.67 file store"
FILE_STORE_LARGE_GB = 15.0
"""What Feast's file store needed on large (DESIGN.md, "Performance")."""
MEMORY_CEILING_GB = 12.0


def _facade(ds: DataSet) -> Callable[[], pa.Table]:
    import featurestore as fs

    folder = DATA / f"{ds.features.parent.name}-store"
    ready = folder / ".ready"
    if not ready.exists():
        shutil.rmtree(folder, ignore_errors=True)
        store = fs.FeatureStore.init(folder, project="bench")
        driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.Int64)
        source = fs.TableSource(
            name="driver_stats", timestamp_field="event_timestamp", created_timestamp_column="created"
        )
        view = fs.FeatureView(
            name="driver_stats", entities=[driver], source=source,
            schema=[
                fs.Field(name="conv_rate", dtype=fs.Float64),
                fs.Field(name="acc_rate", dtype=fs.Float64),
                fs.Field(name="avg_daily_trips", dtype=fs.Int64),
            ],
        )
        store.apply([driver, view])
        store.ingest("driver_stats", ds.features)
        store.commit("driver stats")
        store.repository.tag("bench").create("main")
        store.close()
        ready.touch()
    store = fs.FeatureStore(folder)
    refs = [f"driver_stats:{c}" for c in FEATURES]

    def run() -> pa.Table:
        ents = pq.read_table(ds.entities)
        return store.get_historical_features(ents, refs, ref="bench").to_arrow()

    return run


def _engine(ds: DataSet) -> Callable[[], pa.Table]:
    import repos
    from offline import AsOfSpec, Engine, TableStore

    folder = DATA / f"{ds.features.parent.name}-repo"
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
    else:
        repo = repos.Repository.open(folder)
        store = TableStore(repo)
    engine = Engine()

    def run() -> pa.Table:
        spec = AsOfSpec(
            files=store.files("bench", "driver_stats"),
            keys={"driver_id": "driver_id"},
            event_ts="event_timestamp",
            created_ts="created",
            columns={c: c for c in FEATURES},
        )
        ents = pq.read_table(ds.entities)
        return engine.as_of_join(ents, "event_timestamp", [spec]).read_all()

    return run


def _raw_duckdb(ds: DataSet) -> Callable[[], pa.Table]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cols = ", ".join(f"f.{c}" for c in FEATURES)
    query = (
        f"SELECT e.*, {cols} FROM read_parquet('{ds.entities}') e "
        f"ASOF LEFT JOIN (SELECT *, {{'a': event_timestamp, 'b': created}} AS k "
        f"FROM read_parquet('{ds.features}')) f ON e.driver_id = f.driver_id "
        f"AND {{'a': e.event_timestamp, 'b': 'infinity'::TIMESTAMPTZ}} >= f.k"
    )
    return lambda: con.sql(query).to_arrow_table()


def _raw_polars(ds: DataSet) -> Callable[[], pa.Table]:
    import polars as pl

    def run() -> pa.Table:
        cols = ["driver_id", "event_timestamp", "created", *FEATURES]
        f = pl.read_parquet(ds.features, columns=cols).sort(["event_timestamp", "created"])
        e = pl.read_parquet(ds.entities).sort("event_timestamp")
        out = e.join_asof(
            f.select(["driver_id", "event_timestamp", *FEATURES]),
            on="event_timestamp", by="driver_id", strategy="backward", check_sortedness=False,
        )
        return out.to_arrow()

    return run


def _feast(ds: DataSet, offline_store: object) -> Callable[[], pa.Table]:
    import feast
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
    from feast.repo_config import RepoConfig

    tmp = Path(tempfile.mkdtemp(prefix="feast-bench-"))
    config = RepoConfig(
        project="bench",
        registry=str(tmp / "registry.db"),
        provider="local",
        offline_store=offline_store,
        online_store=SqliteOnlineStoreConfig(path=str(tmp / "online.db")),
        entity_key_serialization_version=3,
        repo_path=str(tmp),
    )
    store = feast.FeatureStore(config=config)
    driver = feast.Entity(name="driver", join_keys=["driver_id"], value_type=feast.ValueType.INT64)
    source = feast.FileSource(
        path=str(ds.features), timestamp_field="event_timestamp", created_timestamp_column="created"
    )
    view = feast.FeatureView(
        name="driver_stats", entities=[driver], ttl=timedelta(0), source=source,
        schema=[
            feast.Field(name="conv_rate", dtype=feast.types.Float64),
            feast.Field(name="acc_rate", dtype=feast.types.Float64),
            feast.Field(name="avg_daily_trips", dtype=feast.types.Int64),
        ],
    )
    store.apply([driver, view])
    refs = [f"driver_stats:{c}" for c in FEATURES]

    def run() -> pa.Table:
        ents = pq.read_table(ds.entities).to_pandas()
        return store.get_historical_features(entity_df=ents, features=refs).to_arrow()

    return run


def _feast_duckdb(ds: DataSet) -> Callable[[], pa.Table]:
    from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig

    return _feast(ds, DuckDBOfflineStoreConfig())


def _feast_file(ds: DataSet) -> Callable[[], pa.Table]:
    from feast.infra.offline_stores.dask import DaskOfflineStoreConfig

    return _feast(ds, DaskOfflineStoreConfig(type="file"))


VARIANTS: dict[str, Callable[[DataSet], Callable[[], pa.Table]]] = {
    FACADE: _facade,
    ENGINE: _engine,
    RAW_DUCKDB: _raw_duckdb,
    RAW_POLARS: _raw_polars,
    FEAST_DUCKDB: _feast_duckdb,
    FEAST_FILE: _feast_file,
}


def _child(variant: str, size: str, repeats: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    ds = generate(size)
    run = VARIANTS[variant](ds)
    rows = run().num_rows
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t)
        del result
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put((times, peak_mb, rows))


def measure(
    variant: str, size: str, repeats: int, timeout_s: float
) -> tuple[list[float], float, int] | str:
    """Timed runs, peak RSS in MB and result rows of one variant in a fresh process,
    or why there are none (a timeout or a failed child)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(variant, size, repeats, q))
    p.start()
    try:
        result = q.get(timeout=timeout_s)
    except queue.Empty:
        p.kill()
        p.join()
        return f"no result within {timeout_s:.0f} s" if p.exitcode == -9 else f"exit {p.exitcode}"
    p.join()
    return result  # type: ignore[no-any-return]


def _available_gb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="point-in-time join benchmark")
    p.add_argument("--large", action="store_true", help="also run the 10M-row size")
    p.add_argument("--sizes", nargs="*", default=None, help="sizes to run (default small medium)")
    p.add_argument("--rounds", type=int, default=3, help="processes per variant, interleaved")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per process")
    p.add_argument("--variants", nargs="*", default=None, help="subset of variant names")
    p.add_argument("--skip-feast", action="store_true")
    p.add_argument(
        "--feast-file-large", action="store_true",
        help=f"run Feast's file store on large (needs ~{FILE_STORE_LARGE_GB:.0f} GB)",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    p.add_argument("--fresh", action="store_true", help="rebuild the cached stores")
    args = p.parse_args(argv)
    sizes = args.sizes or (["small", "medium", "large"] if args.large else ["small", "medium"])
    if args.fresh:
        for d in [*DATA.glob("*-repo"), *DATA.glob("*-store")]:
            shutil.rmtree(d)
    notes: list[str] = []
    rows_out = []
    for size in sizes:
        generate(size)
        variants = [v for v in VARIANTS if args.variants is None or v in args.variants]
        if args.skip_feast:
            variants = [v for v in variants if not v.startswith("Feast")]
        if size == "large" and FEAST_FILE in variants:
            if not args.feast_file_large:
                variants.remove(FEAST_FILE)
                notes.append(
                    f"large: {FEAST_FILE} skipped (needs ~{FILE_STORE_LARGE_GB:.0f} GB; "
                    "--feast-file-large runs it)"
                )
            elif min(_available_gb(), MEMORY_CEILING_GB) < FILE_STORE_LARGE_GB:
                variants.remove(FEAST_FILE)
                notes.append(
                    f"large: {FEAST_FILE} skipped: it needs ~{FILE_STORE_LARGE_GB:.0f} GB, over "
                    f"the {MEMORY_CEILING_GB:.0f} GB ceiling ({_available_gb():.1f} GB available)"
                )
        times: dict[str, list[float]] = {v: [] for v in variants}
        peaks: dict[str, float] = {v: 0.0 for v in variants}
        counts: dict[str, int] = {}
        failed: dict[str, str] = {}
        repeats = args.repeats if size != "large" else max(1, min(args.repeats, 2))
        for r in range(args.rounds):
            k = r % len(variants)
            for variant in variants[k:] + variants[:k]:
                if variant in failed:
                    continue
                got = measure(variant, size, repeats, args.timeout)
                if isinstance(got, str):
                    failed[variant] = got
                    continue
                t, mb, n = got
                times[variant] += t
                peaks[variant] = max(peaks[variant], mb)
                counts[variant] = n
            print(f"  {size}: round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        medians = {v: statistics.median(t) for v, t in times.items() if t}
        raws = [medians[v] for v in (RAW_DUCKDB, RAW_POLARS) if v in medians]
        best = min(raws) if raws else float("nan")
        for variant in variants:
            if variant in medians:
                rows_out.append(
                    f"| {size} | {variant} | {medians[variant]:.3f} | {len(times[variant])} | "
                    f"{peaks[variant]:.0f} | {counts[variant]} | {medians[variant] / best:.2f}x |"
                )
            else:
                rows_out.append(f"| {size} | {variant} | - | 0 | - | - | {failed[variant]} |")
    print(f"\npython {' '.join(sys.argv)}  (cpus: {os.cpu_count()})\n")
    print("| size | variant | median s | runs | peak RSS MB | rows | vs best raw |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows_out))
    for note in notes:
        print(f"\n{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
