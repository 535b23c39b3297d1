"""Online store benchmark: RedisOnlineStore against raw redis-py on the same server.

Writes: rows/s of `RedisOnlineStore.write` vs pipelined HSET of the same Arrow data.
Lookups: p50/p99 of `RedisOnlineStore.read`, `read_columns` and a `PreparedRead` vs one
HMGET / pipelined HMGET.
Runs on the embedded valkey-server (unix socket), or on REDIS_URL when set.

    python benchmarks/online_bench.py [--sizes 10000,100000,1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import online

START_US = 1_714_521_600_000_000  # 2024-05-01 UTC


def driver_stats(
    rows: int, columns: int = 3, seed: int = 0
) -> tuple[list[bytes], pa.Table, pa.Array]:
    """Latest row per driver, shaped like Feast's driver_hourly_stats."""
    rng = np.random.default_rng(seed)
    ids = pa.array(np.arange(1000, 1000 + rows, dtype=np.int64))
    keys = online.encode_entity_keys(["driver_id"], [ids])
    data: dict[str, pa.Array] = {
        "conv_rate": pa.array(rng.random(rows, dtype=np.float32)),
        "acc_rate": pa.array(rng.random(rows, dtype=np.float32)),
        "avg_daily_trips": pa.array(rng.integers(0, 1000, rows, dtype=np.int32)),
    }
    for c in range(3, columns):
        data[f"f{c}"] = pa.array(rng.random(rows))
    table = pa.table(dict(list(data.items())[:columns]))
    stamps = pa.array(START_US + rng.integers(0, 90 * 86_400_000_000, rows), pa.int64())
    return keys, table, stamps


def raw_write(client: redis.Redis, prefix: bytes, keys: list[bytes], table: pa.Table) -> None:
    """The raw limit: pipelined HSET of every row, values as redis-py encodes them."""
    names = table.column_names
    columns = [c.to_pylist() for c in table.columns]
    pipe = client.pipeline(transaction=False)
    for i, key in enumerate(keys):
        pipe.hset(prefix + key, mapping={n: col[i] for n, col in zip(names, columns, strict=True)})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_writes(url: str, client: redis.Redis, sizes: list[int], repeats: int) -> list[str]:
    lines = [
        "| rows | RedisOnlineStore.write rows/s | raw pipelined HSET rows/s | ratio |",
        "|---:|---:|---:|---:|",
    ]
    store = online.RedisOnlineStore(url, key_prefix="bench")
    for n in sizes:
        keys, table, stamps = driver_stats(n)
        ours, raw = [], []
        for _ in range(repeats if n < 1_000_000 else max(1, repeats)):
            client.flushdb()
            ours.append(n / timed(partial(store.write, "drivers", keys, table, stamps, commit="c")))
            client.flushdb()
            raw.append(n / timed(partial(raw_write, client, b"raw:", keys, table)))
        o, r = statistics.median(ours), statistics.median(raw)
        lines.append(f"| {n:,} | {o:,.0f} | {r:,.0f} | {o / r:.2f}x |")
        print(lines[-1], flush=True)
    client.flushdb()
    store.close()
    return lines


def percentiles(samples: list[float]) -> tuple[float, float]:
    arr = np.array(samples) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def bench_lookups(url: str, client: redis.Redis, iterations: int) -> list[str]:
    store = online.RedisOnlineStore(url, key_prefix="bench")
    drivers = 10_000
    tables: list[tuple[str, pa.Schema]] = []
    for t in range(5):
        keys, table, stamps = driver_stats(drivers, columns=10, seed=t)
        table = table.rename_columns([f"v{t}_{c}" for c in table.column_names])
        store.write(f"view{t}", keys, table, stamps)
        tables.append((f"view{t}", table.schema))
    all_keys = online.encode_entity_keys(["driver_id"], [pa.array(range(1000, 1000 + drivers))])
    rng = np.random.default_rng(1)

    def pick(k: int) -> list[bytes]:
        return [all_keys[i] for i in rng.choice(drivers, k, replace=False)]

    wide = store.prepare_read([online.ReadRequest(n, (), s) for n, s in tables])
    three = tables[0][1].names[:3]
    schema3 = pa.schema([tables[0][1].field(n) for n in three])
    fields3 = [n.encode() for n in three]
    p0 = b"bench:view0:"

    cases: list[tuple[str, Callable[[list[bytes]], object], Callable[[list[bytes]], object], int]]
    cases = [
        (
            "read_columns 1 key x 3 columns",
            lambda ks: store.read_columns([online.ReadRequest("view0", ks, schema3)]),
            lambda ks: client.hmget(p0 + ks[0], fields3),
            1,
        ),
        (
            "read_columns 1 key x 50 columns, 5 tables",
            lambda ks: store.read_columns([online.ReadRequest(n, ks, s) for n, s in tables]),
            lambda ks: raw_pipelined(
                client,
                [
                    (f"bench:{name}:".encode() + ks[0], [n.encode() for n in s.names])
                    for name, s in tables
                ],
            ),
            1,
        ),
        (
            "prepared read_columns 1 key x 50 columns, 5 tables",
            lambda ks: wide.read_columns([ks] * len(tables)),
            lambda ks: raw_pipelined(
                client,
                [
                    (f"bench:{name}:".encode() + ks[0], [n.encode() for n in s.names])
                    for name, s in tables
                ],
            ),
            1,
        ),
        (
            "1 key x 3 columns",
            lambda ks: store.read([online.ReadRequest("view0", ks, schema3)]),
            lambda ks: client.hmget(p0 + ks[0], fields3),
            1,
        ),
        (
            "100 keys x 3 columns",
            lambda ks: store.read([online.ReadRequest("view0", ks, schema3)]),
            lambda ks: raw_pipelined(client, [(p0 + k, fields3) for k in ks]),
            100,
        ),
        (
            "1 key x 50 columns, 5 tables",
            lambda ks: store.read([online.ReadRequest(name, ks, s) for name, s in tables]),
            lambda ks: raw_pipelined(
                client,
                [
                    (f"bench:{name}:".encode() + ks[0], [n.encode() for n in s.names])
                    for name, s in tables
                ],
            ),
            1,
        ),
    ]
    lines = [
        "| lookup | ours p50 ms | ours p99 ms | raw p50 ms | raw p99 ms | p50 ratio | p99 ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, ours_fn, raw_fn, k in cases:
        ours_t: list[float] = []
        raw_t: list[float] = []
        for _ in range(50):  # warm up both paths
            ks = pick(k)
            ours_fn(ks)
            raw_fn(ks)
        for i in range(iterations):
            ks = pick(k)
            first, second = (ours_fn, raw_fn) if i % 2 else (raw_fn, ours_fn)
            a, b = timed(partial(first, ks)), timed(partial(second, ks))
            (ours_t if first is ours_fn else raw_t).append(a)
            (raw_t if first is ours_fn else ours_t).append(b)
        o50, o99 = percentiles(ours_t)
        r50, r99 = percentiles(raw_t)
        lines.append(
            f"| {label} | {o50:.3f} | {o99:.3f} | {r50:.3f} | {r99:.3f} | "
            f"{o50 / r50:.2f}x | {o99 / r99:.2f}x |"
        )
        print(lines[-1], flush=True)
    for name, _ in tables:
        store.delete_table(name)
    store.close()
    return lines


def raw_pipelined(client: redis.Redis, commands: list[tuple[bytes, list[bytes]]]) -> object:
    pipe = client.pipeline(transaction=False)
    for key, fields in commands:
        pipe.hmget(key, fields)
    return pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--lookups-only", action="store_true", help="skip the write runs")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="fsbench") as tmp:
        url = os.environ.get("REDIS_URL")
        server = None if url else online.EmbeddedRedis(tmp, persistence=False)
        url = url or server.url  # type: ignore[union-attr]
        client = redis.Redis.from_url(url)
        print(f"server: {url}; redis-py {redis.__version__}; pyarrow {pa.__version__}")
        try:
            if not args.lookups_only:
                print("\nwrites (median of runs)")
                bench_writes(url, client, sizes, args.repeats)
            print(f"\nlookups ({args.iterations} each, interleaved with raw)")
            bench_lookups(url, client, args.iterations)
        finally:
            client.flushdb()
            client.close()
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
