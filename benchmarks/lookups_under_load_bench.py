"""Lookups while a materialization runs against the same Redis (issue 16, item 3).

featurestore's service (``featurestore serve``, one worker) answers 1-entity x
50-feature lookups (5 views of 10) from one sequential keep-alive client, first on an
idle Redis, then while ``featurestore materialize`` writes a large view (``--rows``
source rows over ``--entities`` drivers, 5 features) to the same Redis in its own
process, restarted until ``--calls`` lookups were answered while it ran. Prints p50 /
p99 / max of both phases, the loaded / idle ratios and the calls over 50 ms.

    python -m benchmarks.lookups_under_load_bench [--rows 10000000] [--entities 1000000]
        [--calls 10000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa

from benchmarks import wrk_bench

BULK = "bulk"
SLOW_MS = 50.0


@dataclass
class Phase:
    """Latencies (ms) of one phase's lookups."""

    name: str
    ms: list[float]

    def pct(self, q: float) -> float:
        return float(np.percentile(self.ms, q))

    @property
    def slow(self) -> int:
        return sum(1 for m in self.ms if m > SLOW_MS)


def bulk_table(rows: int, entities: int, now: datetime) -> pa.Table:
    """``rows`` rows over ``entities`` drivers (ids after the lookup drivers'), 5 features."""
    rng = np.random.default_rng(1)
    ids = rng.integers(10_000_001, 10_000_001 + entities, rows, dtype=np.int64)
    ids[:entities] = np.arange(10_000_001, 10_000_001 + entities, dtype=np.int64)
    end_us = int((now - timedelta(minutes=1)).timestamp() * 1_000_000)
    event = end_us - rng.integers(0, 86_400, rows, dtype=np.int64) * 1_000_000
    cols: dict[str, pa.Array] = {
        "driver_id": pa.array(ids),
        "event_timestamp": pa.array(event, pa.timestamp("us", tz="UTC")),
    }
    for j in range(5):
        cols[f"b{j}"] = pa.array(rng.random(rows))
    return pa.table(cols)


def project(work: Path, redis_url: str, rows: int, entities: int, now: datetime) -> Path:
    """A committed project: the lookups' views materialized, the bulk view not yet."""
    import yaml

    import featurestore as fs

    root = work / "featurestore"
    root.mkdir()
    (root / "featurestore.yaml").write_text(
        yaml.safe_dump(
            {
                "project": "under_load",
                "online_store": {"type": "redis", "url": redis_url, "key_prefix": "ul"},
            }
        )
    )
    driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.Int64)
    data = wrk_bench.tables(1000, now)  # stats too: wrk_bench.start checks a lookup of it
    objects: list[object] = [driver]
    for view in [*data, BULK]:
        source = fs.TableSource(name=f"{view}_src", timestamp_field="event_timestamp")
        if view == BULK:
            schema = [fs.Field(name=f"b{j}", dtype=fs.Float64) for j in range(5)]
        else:
            schema = [fs.Field(name=n, dtype=getattr(fs, t)) for n, t in wrk_bench._schema(view)]
        objects += [
            source,
            fs.FeatureView(name=view, entities=[driver], ttl=None, schema=schema, source=source),
        ]
    with fs.FeatureStore.init(root, exist_ok=True) as store:
        store.apply(objects)
        for view, table in data.items():
            store.ingest(f"{view}_src", table)
        store.ingest(f"{BULK}_src", bulk_table(rows, entities, now))
        store.commit("lookups under load")
        store.materialize(now - timedelta(days=2), now, feature_views=list(data))
    return root


def materializer(root: Path, now: datetime) -> subprocess.Popen[bytes]:
    """``featurestore materialize`` of the bulk view, in its own process."""
    cli = Path(sys.executable).with_name("featurestore")
    start = (now - timedelta(days=2)).isoformat()
    return subprocess.Popen(
        [str(cli) if cli.exists() else "featurestore", "materialize", start, now.isoformat(),
         "--views", BULK, "-r", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _check(proc: subprocess.Popen[bytes]) -> None:
    if proc.returncode:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"featurestore materialize failed ({proc.returncode}): {err}")


class Client:
    """One keep-alive HTTP connection posting the same lookup body."""

    def __init__(self, url: str, body: bytes) -> None:
        parsed = urlparse(url)
        self.conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port)
        self.body = body
        self.headers = {"Content-Type": "application/json"}

    def call(self) -> float:
        """One lookup; its latency in ms."""
        t0 = time.perf_counter()
        self.conn.request("POST", "/get-online-features", self.body, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - t0) * 1000
        if response.status != 200:
            raise RuntimeError(f"lookup answered {response.status}: {data[:300]!r}")
        return elapsed

    def close(self) -> None:
        self.conn.close()


def run(
    rows: int, entities: int, calls: int, redis_url: str | None = None
) -> tuple[Phase, Phase, int, float]:
    """Idle and loaded phases, the materializations run and the bulk rows/s of the first."""
    import online

    work = Path(tempfile.mkdtemp(prefix="lookups_under_load_"))
    embedded = None
    server = None
    try:
        if not redis_url:
            embedded = online.EmbeddedRedis(work / "valkey", unix_socket=False, persistence=False)
            redis_url = embedded.url
        now = datetime.now(UTC).replace(microsecond=0)
        root = project(work, redis_url, rows, entities, now)
        server = wrk_bench.start("featurestore", 1, {"WRK_BENCH_PROJECT": str(root)}, work)
        refs = wrk_bench.CASES["1x50"][1]
        body = json.dumps({"features": refs, "entities": {"driver_id": [1001]}}).encode()
        client = Client(server.url, body)
        try:
            for _ in range(min(200, calls)):  # warm-up
                client.call()
            idle = Phase("idle", [client.call() for _ in range(calls)])
            loaded = Phase("while materializing", [])
            runs, first_rate = 0, 0.0
            while len(loaded.ms) < calls:
                proc = materializer(root, now)
                runs += 1
                t0 = time.perf_counter()
                while len(loaded.ms) < calls:
                    ms = client.call()
                    if proc.poll() is not None:
                        break  # the call may have ended after the writes: not counted
                    loaded.ms.append(ms)
                proc.wait()
                _check(proc)
                if runs == 1 and len(loaded.ms) < calls:
                    first_rate = rows / (time.perf_counter() - t0)
            return idle, loaded, runs, first_rate
        finally:
            client.close()
    finally:
        if server is not None:
            server.stop()
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(work, ignore_errors=True)


def table(idle: Phase, loaded: Phase) -> str:
    """The phases as a markdown table, with loaded / idle ratios."""
    lines = [
        "| lookups (1 entity x 50 features) | calls | p50 ms | p99 ms | max ms | over 50 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for phase in (idle, loaded):
        lines.append(
            f"| {phase.name} | {len(phase.ms):,} | {phase.pct(50):.2f} | {phase.pct(99):.2f} "
            f"| {max(phase.ms):.1f} | {phase.slow} |"
        )
    lines.append(
        f"| **while materializing / idle** | | {loaded.pct(50) / idle.pct(50):.2f}x "
        f"| **{loaded.pct(99) / idle.pct(99):.2f}x** | {max(loaded.ms) / max(idle.ms):.2f}x | |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000, help="source rows materialized")
    p.add_argument("--entities", type=int, default=1_000_000, help="drivers of those rows")
    p.add_argument("--calls", type=int, default=10_000, help="lookups per phase")
    args = p.parse_args(argv)
    if args.entities < 1 or args.rows < args.entities or args.calls < 1:
        raise SystemExit("need --calls >= 1 and --rows >= --entities >= 1")
    idle, loaded, runs, rate = run(
        args.rows, args.entities, args.calls, os.environ.get("REDIS_URL")
    )
    text = table(idle, loaded)
    rate_text = f", the first at {rate:,.0f} source rows/s" if rate else ""
    print(
        f"{args.rows:,} source rows over {args.entities:,} drivers, materialized {runs} "
        f"time(s) while the loaded lookups ran{rate_text}; "
        f"load average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)\n"
    )
    print(text)
    return text


if __name__ == "__main__":
    main()
