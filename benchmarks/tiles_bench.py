"""Aggregation series benchmark: `TileStore` against plain hashes on the same server.

Lookups: p50/p99 of 1 entity x 9 aggregates (count, sum, mean x 1h, 1d, 7d) by the
lookup path (`TileStore.pending_read(...).finish_columns`: Python values), and by its
script alone (redis-py EVALSHA), vs one 9-field HMGET: the first read of each entity (it
merges the whole tiles of each window), a read right after a push (the merged tiles are
kept; the edges are read), and repeated reads (the answer is kept with the request times
it holds for).
Folds: events/s of `TileStore.fold` vs a pipelined HSET per event of the same data.
Memory: MEMORY USAGE per entity with the chosen tile size.
Runs on the embedded valkey-server, or on REDIS_URL when set.

    python benchmarks/tiles_bench.py [--entities 1000] [--per-day 24] [--iterations 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import online
from online import tiles

HOUR = 3_600_000_000
DAY = 24 * HOUR
NOW = (int(time.time()) * 1_000_000 // HOUR + 1) * HOUR + 17 * 60_000_000


def series() -> online.SeriesSpec:
    specs = tuple(
        online.AggSpec("amount", fn, w, f"amount_{fn}_{name}", False)  # type: ignore[arg-type]
        for fn in ("count", "sum", "mean")
        for w, name in ((HOUR, "1h"), (DAY, "1d"), (7 * DAY, "7d"))
    )
    return online.SeriesSpec("tx", specs, ("amount",), online.tile_size([HOUR, DAY, 7 * DAY]))


def events(entities: int, per_entity: int, seed: int = 0) -> pa.Table:
    """`per_entity` transactions per card, spread over the 7 days before NOW."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(entities, dtype=np.int64), per_entity)
    keys = online.encode_entity_keys(["card"], [pa.array(ids)])
    ts = NOW - rng.integers(0, 7 * DAY, len(ids))
    return pa.table(
        {
            "__key": pa.array(keys, pa.binary()),
            "__ts": pa.array(ts, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "amount": pa.array(np.round(rng.gamma(2.0, 30.0, len(ids)), 2)),
        }
    )


def percentiles(samples: list[float]) -> tuple[float, float]:
    arr = np.array(samples) * 1e6
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--per-day", type=int, default=24)
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    per_entity = args.per_day * 7
    with tempfile.TemporaryDirectory(prefix="fsbench") as tmp:
        url = os.environ.get("REDIS_URL")
        server = None if url else online.EmbeddedRedis(tmp, persistence=False)
        url = url or server.url  # type: ignore[union-attr]
        client = redis.Redis.from_url(url)
        store = online.RedisOnlineStore(url, key_prefix="tbench")
        tile_store = online.TileStore(store)
        spec = series()
        print(f"server: {url}; tile {spec.tile_us // 60_000_000} min; {per_entity} events/entity")
        try:
            data = events(args.entities, per_entity)
            start = time.perf_counter()
            tile_store.fold(spec, data)
            fold_s = time.perf_counter() - start
            keys = data.column("__key").to_pylist()
            amounts = data.column("amount").to_pylist()
            stamps = data.column("__ts").cast(pa.int64()).to_pylist()
            start = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            for i, key in enumerate(keys):
                pipe.hset(b"tbench:plain:" + key, mapping={b"%d" % stamps[i]: amounts[i]})
                if i % 1000 == 999:
                    pipe.execute()
            pipe.execute()
            hset_s = time.perf_counter() - start
            n = data.num_rows
            print(
                f"fold: {n / fold_s:,.0f} events/s; pipelined HSET: {n / hset_s:,.0f} events/s "
                f"(ratio {hset_s / fold_s:.2f}x)"
            )
            unique = sorted(set(keys))
            mem = [int(client.memory_usage(tile_store._key("tx", k)) or 0) for k in unique[:200]]
            print(f"memory per entity: {np.mean(mem):,.0f} bytes (MEMORY USAGE, mean of 200)")
            names = [s.output.encode() for s in spec.specs]
            for k in unique:
                client.hset(b"tbench:flat:" + k, mapping={nm: 1.5 for nm in names})
            (_, script_args), *_ = tile_store._read_commands(spec, [unique[0]], NOW)
            client.script_load(tiles._READ_SCRIPT)
            cold: list[float] = []
            for k in unique:
                start = time.perf_counter()
                tile_store.pending_read([(spec, [k])], NOW).finish_columns(None)
                cold.append(time.perf_counter() - start)
            c50, c99 = percentiles(cold)
            print(
                f"lookup 1 x 9 aggregates, first read of each entity (merges the whole "
                f"tiles): p50 {c50:.0f} us, p99 {c99:.0f} us"
            )
            rng = np.random.default_rng(1)
            t_read: list[float] = []
            t_script: list[float] = []
            t_hmget: list[float] = []
            for _ in range(args.iterations):
                k = unique[int(rng.integers(len(unique)))]
                start = time.perf_counter()
                tile_store.pending_read([(spec, [k])], NOW).finish_columns(None)
                t_read.append(time.perf_counter() - start)
                hkey = tile_store._key("tx", k)
                start = time.perf_counter()
                client.evalsha(tiles._READ_SHA.decode(), 1, hkey, *script_args)
                t_script.append(time.perf_counter() - start)
                start = time.perf_counter()
                client.hmget(b"tbench:flat:" + k, names)
                t_hmget.append(time.perf_counter() - start)
            hm50, hm99 = percentiles(t_hmget)
            t_push: list[float] = []
            t_score: list[float] = []
            for i in range(min(args.iterations, 1000)):
                k = unique[int(rng.integers(len(unique)))]
                one = pa.table(
                    {
                        "__key": pa.array([k], pa.binary()),
                        "__ts": pa.array([NOW - 1000 + i], pa.int64()).cast(
                            pa.timestamp("us", tz="UTC")
                        ),
                        "amount": pa.array([12.5]),
                    }
                )
                start = time.perf_counter()
                tile_store.fold(spec, one)
                t_push.append(time.perf_counter() - start)
                start = time.perf_counter()
                tile_store.pending_read([(spec, [k])], NOW).finish_columns(None)
                t_score.append(time.perf_counter() - start)
            for label, samples in (("fold of 1 event", t_push), ("read right after", t_score)):
                p50, p99 = percentiles(samples)
                print(
                    f"push then score, {label}: p50 {p50:.0f} us, p99 {p99:.0f} us "
                    f"({p50 / hm50:.2f}x / {p99 / hm99:.2f}x HMGET)"
                )
            for label, samples in (
                ("TileStore (the lookup path)", t_read),
                ("EVALSHA (redis-py)", t_script),
            ):
                p50, p99 = percentiles(samples)
                print(
                    f"repeated lookup 1 x 9 aggregates, {label}: p50 {p50:.0f} us, p99 "
                    f"{p99:.0f} us ({p50 / hm50:.2f}x / {p99 / hm99:.2f}x HMGET)"
                )
            print(f"lookup 9-field HMGET (redis-py): p50 {hm50:.0f} us, p99 {hm99:.0f} us")
        finally:
            store.delete_all()
            client.delete(*client.keys(b"tbench:*") or [b"none"])
            client.close()
            store.close()
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
