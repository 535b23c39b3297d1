"""Key-level merge of a branch into a large table: what it costs against reading the
whole table, and against the per-path merge it replaces.

A driver-stats table (driver_id, event_timestamp, created, three features) of
``--rows`` rows is written in 20 appends and compacted, sorted by key, into about 10
objects. A branch upserts 1k existing keys (corrections) while ``main`` appends 1k new
rows; the branch is then merged into a fresh branch at ``main``'s head, three ways:

- key-level: ``merge_into(..., resolver=...)`` with ``offline.merge_table``;
- path-level: ``merge_into(...)`` without a resolver (right here only because the
  two sides touched no common object and no common key; it cannot see row conflicts);
- a full read of the table at ``main`` with DuckDB, the floor of any merge that looks
  at whole tables (a three-way one reads three versions).

Two layouts of the corrections: ``spread`` (random keys: every object of the table is
rewritten) and ``clustered`` (keys of a few consecutive drivers: one object is). Each
figure is the median of ``--repeats`` timed runs after one warm-up.

    python -m benchmarks.merge_bench                 # 10M rows
    python -m benchmarks.merge_bench --rows 1000000  # quicker
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import repos
from offline import TableStore, merge_table

KEYS = ["driver_id", "event_timestamp", "created"]
END = datetime(2025, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("driver_id", pa.int64()),
        ("event_timestamp", TS),
        ("created", TS),
        ("conv_rate", pa.float64()),
        ("acc_rate", pa.float64()),
        ("avg_daily_trips", pa.int64()),
    ]
)
CHANGED = 1_000


class Resolver:
    """Tables merge by key; everything else per path."""

    def __init__(self, tables: TableStore) -> None:
        self.tables = tables

    def group(self, path: str) -> str | None:
        parts = path.split("/")
        return f"tables/{parts[1]}/" if len(parts) == 3 and parts[0] == "tables" else None

    def resolve(
        self, merge: repos.GroupMerge, scratch: Path
    ) -> Mapping[str, bytes | os.PathLike[str] | None]:
        return merge_table(self.tables, merge, merge.group.split("/")[1], KEYS, scratch)


def driver_stats(n: int, rng: np.random.Generator, first_driver: int = 1001) -> pa.Table:
    """``n`` rows, about 100 per driver over 90 days, unique (driver, event, created)."""
    drivers = max(1, n // 100)
    end_us = int(END.timestamp() * 1_000_000)
    driver = rng.integers(first_driver, first_driver + drivers, n, dtype=np.int64)
    event = end_us - rng.choice(90 * 86_400 * 10, n, replace=False).astype(np.int64) * 100_000
    created = event + rng.integers(0, 3_600, n, dtype=np.int64) * 1_000_000
    return pa.table(
        {
            "driver_id": driver,
            "event_timestamp": pa.array(event, TS),
            "created": pa.array(created, TS),
            "conv_rate": rng.random(n),
            "acc_rate": rng.random(n),
            "avg_daily_trips": rng.integers(0, 1000, n, dtype=np.int64),
        },
        schema=SCHEMA,
    )


def timed(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rows_in(ref: repos.Reference, other: str) -> int:
    """Rows in the Parquet objects that differ between ``ref`` and ``other`` (both versions)."""
    n = 0
    for c in ref.diff(other, "tables/"):
        for side, kind in ((ref, "added"), (ref.repository.ref(other), "removed")):
            if c.type != kind and c.path.endswith(".parquet"):
                n += pq.ParquetFile(side.object(c.path).stat().physical_address).metadata.num_rows
    return n


class Bench:
    """One repository holding the table, ``main`` with 1k appended rows, and branches
    with 1k corrections."""

    def __init__(self, root: Path, n: int) -> None:
        rng = np.random.default_rng(7)
        self.n = n
        self.repo = repos.Repository.create(root / "repo")
        self.tables = TableStore(self.repo)
        self.tables.create_table("main", "driver_stats", SCHEMA, keys=KEYS)
        t0 = time.perf_counter()
        full = driver_stats(n, rng)
        step = -(-n // 20)
        for i in range(0, n, step):
            self.tables.write("main", "driver_stats", full.slice(i, step))
        assert self.tables.compact("main", "driver_stats", target_rows=-(-n // 10))
        self.repo.branch("main").commit("base: compacted, sorted by key")
        self.build_s = time.perf_counter() - t0
        self.base = self.repo.branch("main").resolve()
        self.parts = sum(1 for _ in self.tables.files("main", "driver_stats"))
        order = pc.sort_indices(full, [(k, "ascending") for k in KEYS])
        self.branches: dict[str, str] = {}
        spread = rng.choice(n, CHANGED, replace=False)
        start = int(rng.integers(0, n - CHANGED))
        for name, picks in (
            ("spread", spread),
            ("clustered", order.slice(start, CHANGED).to_numpy()),
        ):
            fix = full.take(pa.array(picks)).set_column(
                3, "conv_rate", pa.array(rng.random(CHANGED))
            )
            b = self.repo.branch(f"fix_{name}").create(self.base)
            self.tables.write(b, "driver_stats", fix, mode="upsert")
            b.commit(f"correct {CHANGED} rows ({name})")
            self.branches[name] = b.id
        new = driver_stats(CHANGED, rng, first_driver=10**9)
        self.tables.write("main", "driver_stats", new)
        self.head = self.repo.branch("main").commit(f"append {CHANGED} rows").id
        self.expected = {"rows": n + CHANGED}
        self.k = 0

    def fresh(self) -> repos.Branch:
        self.k += 1
        return self.repo.branch(f"into_{self.k}").create(self.head)

    def merge(self, source: str, resolver: Resolver | None) -> repos.Branch:
        dest = self.fresh()
        t0 = time.perf_counter()
        self.repo.branch(source).merge_into(dest, resolver=resolver)
        self.last = time.perf_counter() - t0
        return dest

    def timed_merge(self, source: str, resolver: Resolver | None, repeats: int) -> float:
        self.merge(source, resolver)
        runs = []
        for _ in range(repeats):
            self.merge(source, resolver)
            runs.append(self.last)
        return statistics.median(runs)

    def full_read(self) -> None:
        files = self.tables.files(self.head, "driver_stats")
        con = duckdb.connect()
        got = con.sql(f"SELECT * FROM read_parquet({files!r})").to_arrow_table()
        con.close()
        assert got.num_rows == self.n + CHANGED

    def check(self, dest: repos.Branch, source: str) -> None:
        """The merged table: every row, with the source's corrections."""
        files = self.tables.files(dest, "driver_stats")
        fixed = self.tables.files(source, "driver_stats")
        con = duckdb.connect()
        (n,) = con.sql(f"SELECT count(*) FROM read_parquet({files!r})").fetchall()[0]
        assert n == self.n + CHANGED, n
        missing = con.sql(
            f"SELECT count(*) FROM (SELECT * FROM read_parquet({fixed!r}) "
            f"EXCEPT ALL SELECT * FROM read_parquet({files!r}))"
        ).fetchall()[0][0]
        assert missing == 0, missing
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="key-level merge benchmark")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="merge_bench_"))
    try:
        b = Bench(root, args.rows)
        resolver = Resolver(b.tables)
        for source in b.branches.values():
            b.check(b.merge(source, resolver), source)
        read_s = timed(b.full_read, args.repeats)
        results = {}
        for name, source in b.branches.items():
            key_s = b.timed_merge(source, resolver, args.repeats)
            path_s = b.timed_merge(source, None, args.repeats)
            read_rows = rows_in(b.repo.ref(b.base), source) + rows_in(b.repo.ref(b.base), b.head)
            results[name] = (key_s, path_s, read_rows)
        cpus = os.cpu_count()
        print(
            f"\nmerge benchmark: {args.rows:,}-row table in {b.parts} objects (built in "
            f"{b.build_s:.0f} s), {CHANGED:,} corrections on the branch, {CHANGED:,} rows "
            f"appended on main; medians of {args.repeats}, {cpus} CPUs\n"
        )
        print(
            "| corrections | rows in changed objects | key-level merge (s) | "
            "full read of the table (s) | path-level merge (s) | key / full read | "
            "key / path |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, (key_s, path_s, read_rows) in results.items():
            print(
                f"| {name} | {read_rows:,} | {key_s:.2f} | {read_s:.2f} | {path_s:.3f} | "
                f"{key_s / read_s:.2f}x | {key_s / path_s:.0f}x |"
            )
        b.repo.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
