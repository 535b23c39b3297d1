"""Point-in-time join: TableStore + Engine vs the raw limit and Feast 0.67, on the same data.

Each variant runs in its own process (so its peak RSS is its own): the median of
``--repeats`` timed runs after one warm-up, each run reading the entity Parquet file
and producing an Arrow table of every entity row with three features.

    python -m benchmarks.pit_bench            # small and medium
    python -m benchmarks.pit_bench --large    # and large (10M feature / 1M entity rows)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
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


def _ours(ds: DataSet) -> Callable[[], pa.Table]:
    import repos
    from offline import AsOfSpec, Engine, TableStore

    folder = DATA / f"{ds.features.parent.name}-repo"
    if not folder.exists():
        repo = repos.Repository.create(folder)
        store = TableStore(repo)
        schema = pq.read_schema(ds.features)
        store.create_table("main", "driver_stats", schema, keys=["driver_id", "event_timestamp"])
        store.write("main", "driver_stats", ds.features)
        repo.branch("main").commit("driver stats")
        repo.tag("bench").create("main")
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


def _feast(ds: DataSet) -> Callable[[], pa.Table]:
    import feast
    from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
    from feast.repo_config import RepoConfig

    tmp = Path(tempfile.mkdtemp(prefix="feast-bench-"))
    config = RepoConfig(
        project="bench",
        registry=str(tmp / "registry.db"),
        provider="local",
        offline_store=DuckDBOfflineStoreConfig(),
        online_store=SqliteOnlineStoreConfig(path=str(tmp / "online.db")),
        entity_key_serialization_version=3,
        repo_path=str(tmp),
    )
    store = feast.FeatureStore(config=config)
    driver = feast.Entity(name="driver", join_keys=["driver_id"])
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


VARIANTS: dict[str, Callable[[DataSet], Callable[[], pa.Table]]] = {
    "featurestore (TableStore + Engine)": _ours,
    "raw: DuckDB ASOF on (event, created)": _raw_duckdb,
    "raw: polars join_asof, sorted": _raw_polars,
    "Feast 0.67 duckdb store": _feast,
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
    out.put((statistics.median(times), peak_mb, rows))


def measure(variant: str, size: str, repeats: int) -> tuple[float, float, int]:
    """Median seconds, peak RSS in MB and result rows of one variant, in a fresh process."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(variant, size, repeats, q))
    p.start()
    result = q.get()
    p.join()
    return result  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="point-in-time join benchmark")
    p.add_argument("--large", action="store_true", help="also run the 10M-row size")
    p.add_argument("--sizes", nargs="*", default=None, help="sizes to run (default small medium)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip-feast", action="store_true")
    p.add_argument("--fresh", action="store_true", help="rebuild the benchmark repositories")
    args = p.parse_args(argv)
    sizes = args.sizes or (["small", "medium", "large"] if args.large else ["small", "medium"])
    if args.fresh:
        for d in DATA.glob("*-repo"):
            shutil.rmtree(d)
    print("| size | variant | median s | peak RSS MB | rows | vs best raw |")
    print("|---|---|---|---|---|---|")
    for size in sizes:
        generate(size)
        results = {}
        for variant in VARIANTS:
            if args.skip_feast and variant.startswith("Feast"):
                continue
            repeats = args.repeats if size != "large" else max(1, min(args.repeats, 3))
            results[variant] = measure(variant, size, repeats)
        raw = min(v[0] for k, v in results.items() if k.startswith("raw"))
        for variant, (sec, mb, rows) in results.items():
            print(f"| {size} | {variant} | {sec:.3f} | {mb:.0f} | {rows} | {sec / raw:.2f}x |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
