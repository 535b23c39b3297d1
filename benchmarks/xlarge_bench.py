"""Training sets at 100M feature rows: the CLI's streamed ``get-historical`` vs raw DuckDB and Feast.

The data (``benchmarks.datagen.generate_sql``, cached under ``$FEATURESTORE_BENCH_CACHE``
or ``~/.cache/featurestore-bench``): 100M driver-stats rows over 1M drivers, 10M entity
rows. The store (cached beside the data) holds them in one table read by two feature
views: ``driver_stats`` (three features as of each entity row's time, ties broken by
created time) and ``trips_7d`` (the 7-day sum of ``avg_daily_trips``).

Each variant runs in its own process and writes the training set to a Parquet file;
its wall time and peak resident memory (``ru_maxrss`` of that process, DuckDB included)
are measured from outside:

- ``featurestore get-historical``: the CLI, as users call it;
- raw limit: one DuckDB ``COPY (ASOF JOIN ... , 7-day window join) TO`` Parquet over the
  store's own objects, with the same DuckDB settings (threads, memory limit);
- Feast 0.67's duckdb offline store on the same Parquet file (the as-of view only: it
  has no windowed aggregates offline), killed if its resident memory passes ``--feast-cap-gb``.

    python -m benchmarks.xlarge_bench                      # 100M / 10M rows
    python -m benchmarks.xlarge_bench --rows 1000000 --entities 100000 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.datagen import CACHE, XLARGE, DataSet, generate_sql

OURS = "featurestore get-historical (CLI, streamed)"
RAW = "raw: DuckDB ASOF + window join, COPY to Parquet"
FEAST = "Feast 0.67 duckdb store (as-of view only)"
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
REFS = [f"driver_stats:{c}" for c in FEATURES] + ["trips_7d:avg_daily_trips_sum_7d"]


@dataclass(frozen=True)
class Run:
    """One variant's process: seconds, peak RSS in MB, rows written, or why it failed."""

    seconds: float
    peak_mb: float
    rows: int
    failed: str | None = None


def build_store(ds: DataSet, memory_limit: str, threads: int | None) -> Path:
    """The store holding ``ds``'s features in one table, tagged ``bench`` (cached)."""
    import yaml

    import featurestore as fs

    folder = ds.features.parent / "store"
    ready = folder / ".ready"
    if not ready.exists():
        shutil.rmtree(folder, ignore_errors=True)
        store = fs.FeatureStore.init(folder, project="xlarge")
        driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.Int64)
        source = fs.TableSource(
            name="driver_stats",
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        )
        stats = fs.FeatureView(
            name="driver_stats",
            entities=[driver],
            source=source,
            schema=[
                fs.Field(name="conv_rate", dtype=fs.Float64),
                fs.Field(name="acc_rate", dtype=fs.Float64),
                fs.Field(name="avg_daily_trips", dtype=fs.Int64),
            ],
        )
        from datetime import timedelta

        trips = fs.FeatureView(
            name="trips_7d",
            entities=[driver],
            source=source,
            schema=[fs.Field(name="avg_daily_trips", dtype=fs.Int64)],
            aggregations=[
                fs.Aggregation(
                    column="avg_daily_trips", function="sum", time_window=timedelta(days=7)
                )
            ],
        )
        store.apply([driver, stats, trips])
        store.ingest("driver_stats", ds.features)
        store.commit("driver stats")
        store.repository.tag("bench").create("main")
        store.close()
        ready.touch()
    config = folder / "featurestore.yaml"
    data = yaml.safe_load(config.read_text())
    offline: dict[str, str | int] = {"type": "duckdb", "memory_limit": memory_limit}
    if threads is not None:
        offline["threads"] = threads
    data["offline_store"] = offline
    config.write_text(yaml.safe_dump(data))
    return folder


def store_files(folder: Path) -> list[str]:
    import featurestore as fs

    store = fs.FeatureStore(folder)
    try:
        return list(store.tables.files("bench", "driver_stats"))
    finally:
        store.close()


def raw_query(entities: Path, files: list[str], out: Path) -> str:
    """The raw limit: DuckDB's ASOF on (event, created) and a 7-day window join, streamed out."""
    listed = ", ".join(f"'{f}'" for f in files)
    src = f"read_parquet([{listed}])"
    cols = ", ".join(f"f.{c}" for c in FEATURES)
    return f"""COPY (
    WITH e AS (SELECT *, row_number() OVER () AS rn FROM read_parquet('{entities}')),
    j AS (
      SELECT e.rn, e.driver_id, e.event_timestamp, e.label, {cols} FROM e
      ASOF LEFT JOIN (SELECT *, {{'a': event_timestamp, 'b': created}} AS k FROM {src}) f
      ON e.driver_id = f.driver_id AND {{'a': e.event_timestamp, 'b': 'infinity'::TIMESTAMPTZ}} >= f.k
    ),
    w AS (
      SELECT e.rn, sum(f.avg_daily_trips) AS avg_daily_trips_sum_7d FROM e
      JOIN {src} f ON e.driver_id = f.driver_id AND f.event_timestamp <= e.event_timestamp
        AND f.event_timestamp > e.event_timestamp - INTERVAL 7 DAY
      GROUP BY e.rn
    )
    SELECT j.driver_id, j.event_timestamp, j.label, {", ".join(f"j.{c}" for c in FEATURES)},
           w.avg_daily_trips_sum_7d
    FROM j LEFT JOIN w ON j.rn = w.rn ORDER BY j.rn
    ) TO '{out}' (FORMAT parquet)"""


def _raw_child(spec: str) -> None:
    import duckdb

    args = json.loads(spec)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET memory_limit = '{args['memory_limit']}'")
    if args["threads"]:
        con.execute(f"SET threads = {int(args['threads'])}")
    con.execute(f"SET temp_directory = '{args['tmp']}'")
    con.execute(raw_query(Path(args["entities"]), args["files"], Path(args["out"])))


def _feast_child(spec: str) -> None:
    from datetime import timedelta

    import feast
    import pyarrow.parquet as pq
    from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
    from feast.repo_config import RepoConfig

    args = json.loads(spec)
    tmp = Path(args["tmp"])
    config = RepoConfig(
        project="xlarge",
        registry=str(tmp / "registry.db"),
        provider="local",
        offline_store=DuckDBOfflineStoreConfig(),
        online_store=SqliteOnlineStoreConfig(path=str(tmp / "online.db")),
        entity_key_serialization_version=3,
        repo_path=str(tmp),
    )
    store = feast.FeatureStore(config=config)
    driver = feast.Entity(name="driver", join_keys=["driver_id"], value_type=feast.ValueType.INT64)
    source = feast.FileSource(
        path=args["features"], timestamp_field="event_timestamp", created_timestamp_column="created"
    )
    view = feast.FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=timedelta(0),
        source=source,
        schema=[
            feast.Field(name="conv_rate", dtype=feast.types.Float64),
            feast.Field(name="acc_rate", dtype=feast.types.Float64),
            feast.Field(name="avg_daily_trips", dtype=feast.types.Int64),
        ],
    )
    store.apply([driver, view])
    ents = pq.read_table(args["entities"]).to_pandas()
    refs = [f"driver_stats:{c}" for c in FEATURES]
    table = store.get_historical_features(entity_df=ents, features=refs).to_arrow()
    pq.write_table(table, args["out"])


def _watch(pid: int, cap_mb: float, killed: list[float], stop: threading.Event) -> None:
    """Kill ``pid`` when its resident memory passes ``cap_mb`` (sampled every 0.2 s)."""
    while not stop.wait(0.2):
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) / 1024
        except (OSError, StopIteration):
            return
        if rss > cap_mb:
            killed.append(rss)
            os.kill(pid, 9)
            return


def measure(cmd: list[str], out: Path, timeout_s: float, cap_mb: float | None = None) -> Run:
    """Run ``cmd`` in a fresh process; its time, peak RSS and the rows of ``out``."""
    import pyarrow.parquet as pq

    out.unlink(missing_ok=True)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed: list[float] = []
    stop = threading.Event()
    watcher = None
    if cap_mb is not None:
        watcher = threading.Thread(
            target=_watch, args=(proc.pid, cap_mb, killed, stop), daemon=True
        )
        watcher.start()
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    timer.cancel()
    stop.set()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss / 1024
    if killed:
        return Run(seconds, peak, 0, f"killed at {killed[0] / 1024:.1f} GB resident (cap)")
    if proc.returncode != 0:
        if seconds >= timeout_s:
            return Run(seconds, peak, 0, f"no result within {timeout_s:.0f} s")
        last = err.strip().splitlines()[-1:] or ["(no message)"]
        return Run(seconds, peak, 0, f"exit {proc.returncode}: {last[0][:160]}")
    return Run(seconds, peak, pq.ParquetFile(out).metadata.num_rows)


def commands(
    ds: DataSet, folder: Path, files: list[str], work: Path, memory_limit: str, threads: int | None
) -> dict[str, tuple[list[str], Path]]:
    """Each variant's command line and output file."""
    py = sys.executable
    ours_out, raw_out, feast_out = (
        work / "ours.parquet",
        work / "raw.parquet",
        work / "feast.parquet",
    )
    ours = [
        py,
        "-c",
        "from featurestore.cli import main; main()",
        "get-historical",
        str(ds.entities),
        str(ours_out),
        "--features",
        ",".join(REFS),
        "--ref",
        "bench",
        "--repo",
        str(folder),
    ]
    raw_spec = json.dumps(
        {
            "entities": str(ds.entities),
            "files": files,
            "out": str(raw_out),
            "memory_limit": memory_limit,
            "threads": threads,
            "tmp": str(work / "raw-spill"),
        }
    )
    raw = [py, "-c", f"from benchmarks.xlarge_bench import _raw_child; _raw_child({raw_spec!r})"]
    feast_tmp = work / "feast"
    feast_tmp.mkdir(exist_ok=True)
    feast_spec = json.dumps(
        {
            "entities": str(ds.entities),
            "features": str(ds.features),
            "out": str(feast_out),
            "tmp": str(feast_tmp),
        }
    )
    feast = [
        py,
        "-c",
        f"from benchmarks.xlarge_bench import _feast_child; _feast_child({feast_spec!r})",
    ]
    return {OURS: (ours, ours_out), RAW: (raw, raw_out), FEAST: (feast, feast_out)}


def check_equal(ours: Path, raw: Path) -> str:
    """Whether ours and the raw output hold the same rows (DuckDB compares the files)."""
    import duckdb

    cols = ["driver_id", "event_timestamp", "label", *FEATURES, "avg_daily_trips_sum_7d"]
    sel = ", ".join(cols)
    q = (
        f"SELECT count(*) FROM ((SELECT {sel} FROM '{ours}' EXCEPT ALL SELECT {sel} FROM '{raw}') "
        f"UNION ALL (SELECT {sel} FROM '{raw}' EXCEPT ALL SELECT {sel} FROM '{ours}'))"
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    row = con.execute(q).fetchone()
    differ = int(row[0]) if row else -1
    return "equal" if differ == 0 else f"{differ} rows differ"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=XLARGE[0], help="feature rows")
    p.add_argument("--entities", type=int, default=XLARGE[1], help="entity rows")
    p.add_argument("--rounds", type=int, default=2, help="runs of each variant, interleaved")
    p.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit of ours and raw")
    p.add_argument("--threads", type=int, default=None, help="DuckDB threads of ours and raw")
    p.add_argument("--skip-feast", action="store_true")
    p.add_argument("--feast-cap-gb", type=float, default=10.0, help="kill Feast above this RSS")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per process")
    args = p.parse_args(argv)
    t = time.perf_counter()
    ds = generate_sql(args.rows, args.entities)
    folder = build_store(ds, args.memory_limit, args.threads)
    print(f"data and store ready in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    files = store_files(folder)
    work = Path(tempfile.mkdtemp(prefix="xlarge-bench-", dir=CACHE))
    runs: dict[str, list[Run]] = {OURS: [], RAW: [], FEAST: []}
    try:
        cmds = commands(ds, folder, files, work, args.memory_limit, args.threads)
        order = [OURS, RAW] + ([] if args.skip_feast else [FEAST])
        for r in range(args.rounds):
            for name in order[r % len(order) :] + order[: r % len(order)]:
                if name == FEAST and r > 0 and runs[FEAST] and runs[FEAST][0].failed:
                    continue  # a capped failure is not retried
                cmd, out = cmds[name]
                cap = args.feast_cap_gb * 1024 if name == FEAST else None
                got = measure(cmd, out, args.timeout, cap)
                runs[name].append(got)
                print(f"  round {r + 1}: {name}: {got}", file=sys.stderr, flush=True)
            if r == 0 and runs[OURS][-1].failed is None and runs[RAW][-1].failed is None:
                equal = check_equal(cmds[OURS][1], cmds[RAW][1])
                print(f"  ours vs raw: {equal}", file=sys.stderr, flush=True)
        print(table(runs, args, ds))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _range(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if f"{lo:.2f}" == f"{hi:.2f}" else f"{fmt.format(lo)}-{fmt.format(hi)}"


def table(runs: dict[str, list[Run]], args: argparse.Namespace, ds: DataSet) -> str:
    """The markdown table: seconds and peak RSS of each variant, ratios to raw."""
    lines = [
        f"python -m benchmarks.xlarge_bench --rows {args.rows} --entities {args.entities} "
        f"--rounds {args.rounds} --memory-limit {args.memory_limit}  (cpus: {os.cpu_count()})",
        "",
        f"{ds.feature_rows:,} feature rows, {ds.entity_rows:,} entity rows",
        "",
        "| variant | seconds | peak RSS | rows | vs raw (time) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, got in runs.items():
        ok = [r for r in got if r.failed is None]
        if not got:
            continue
        if not ok:
            lines.append(f"| {name} | - | {got[0].peak_mb / 1024:.1f} GB | - | {got[0].failed} |")
            continue
        secs = [r.seconds for r in ok]
        peak = max(r.peak_mb for r in ok) / 1024
        paired = [
            a.seconds / b.seconds
            for a, b in zip(got, runs[RAW], strict=False)
            if a.failed is None and b.failed is None
        ]
        ratio = _range(paired, "{:.2f}x") if paired else "-"
        lines.append(
            f"| {name} | {_range(secs, '{:.1f}')} | {peak:.1f} GB | {ok[0].rows:,} | {ratio} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
