"""HTTP lookup latency: featurestore's server vs Feast 0.67's feature server vs a bare
Starlette app doing one pipelined HMGET on the same Redis (the limit).

    python benchmarks/http_bench.py [--drivers 1000] [--requests 2000]

Each server runs in its own uvicorn process (one worker). Sequential calls come from
this process over one keep-alive connection; concurrent calls from 8 threads in
another process. Prints p50 / p99 / max and throughput, and the ratios to the limit.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "driver_stats"
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
REFS = [f"driver_hourly_stats:{f}" for f in FEATURES]


def _generate(drivers: int, end: datetime) -> Any:
    spec = importlib.util.spec_from_file_location("_gen", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate(seed=0, drivers=drivers, days=3, end=end)


# --- the three apps, built inside their uvicorn processes -----------------------------


def featurestore_app() -> Any:
    from featurestore import FeatureStore
    from featurestore.server import create_app

    return create_app(FeatureStore(repo_path=os.environ["BENCH_PROJECT"]), close_store=True)


def feast_app() -> Any:
    from feast import FeatureStore
    from feast.feature_server import get_app

    return get_app(FeatureStore(repo_path=os.environ["BENCH_FEAST"]))


def bare_app() -> Any:
    import json

    import redis
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    client = redis.Redis.from_url(os.environ["BENCH_REDIS"])

    async def lookup(request: Request) -> Response:
        body = json.loads(await request.body())
        ids = body["entities"]["driver_id"]
        pipe = client.pipeline(transaction=False)
        for i in ids:
            pipe.hmget(f"bare:{i}", FEATURES)
        rows = pipe.execute()
        results = [{"values": ids}] + [
            {"values": [None if r[j] is None else float(r[j]) for r in rows]}
            for j in range(len(FEATURES))
        ]
        return Response(json.dumps({"results": results}), media_type="application/json")

    return Starlette(routes=[Route("/get-online-features", lookup, methods=["POST"])])


# --- setup -----------------------------------------------------------------------------


def _setup(work: Path, redis_url: str, drivers: int) -> dict[str, str]:
    import pyarrow.parquet as pq
    import redis
    import yaml

    now = datetime.now(UTC).replace(microsecond=0)
    data = _generate(drivers, now)
    start, end = now - timedelta(days=10), now + timedelta(seconds=1)

    project = work / "fs"
    project.mkdir()
    shutil.copy(EXAMPLE / "definitions.py", project / "definitions.py")
    (project / "featurestore.yaml").write_text(
        yaml.safe_dump(
            {
                "project": "driver_stats",
                "online_store": {"type": "redis", "url": redis_url, "key_prefix": "bench"},
                "server": {"max_entities_per_request": 1000},
            }
        )
    )
    from featurestore import FeatureStore
    from featurestore.project import load_definitions

    with FeatureStore.init(project, exist_ok=True) as store:
        store.apply(load_definitions(project))
        store.ingest("driver_stats", data)
        store.commit("bench data")
        store.materialize(start, end)

    feast_dir = work / "feast"
    feast_dir.mkdir()
    pq.write_table(data, feast_dir / "driver_stats.parquet")
    from urllib.parse import urlparse

    url = urlparse(redis_url)
    (feast_dir / "feature_store.yaml").write_text(
        yaml.safe_dump(
            {
                "project": "feast_bench",
                "provider": "local",
                "registry": str(feast_dir / "registry.db"),
                "online_store": {
                    "type": "redis",
                    "connection_string": f"{url.hostname}:{url.port}",
                },
                "offline_store": {"type": "duckdb"},
                "entity_key_serialization_version": 3,
            }
        )
    )
    (feast_dir / "repo.py").write_text(
        f"""
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float32, Int64
from feast.value_type import ValueType
driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
source = FileSource(name="driver_stats", path={str(feast_dir / "driver_stats.parquet")!r},
    timestamp_field="event_timestamp", created_timestamp_column="created")
driver_hourly_stats = FeatureView(name="driver_hourly_stats", entities=[driver],
    ttl=timedelta(days=1), source=source, schema=[Field(name="conv_rate", dtype=Float32),
    Field(name="acc_rate", dtype=Float32), Field(name="avg_daily_trips", dtype=Int64)])
"""
    )
    subprocess.run(["feast", "apply"], cwd=feast_dir, check=True, capture_output=True)
    from feast import FeatureStore as FeastStore

    FeastStore(repo_path=str(feast_dir)).materialize(start, end)

    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for row in data.group_by("driver_id").aggregate([(f, "max") for f in FEATURES]).to_pylist():
        pipe.hset(f"bare:{row['driver_id']}", mapping={f: row[f"{f}_max"] for f in FEATURES})
    pipe.execute()
    return {"BENCH_PROJECT": str(project), "BENCH_FEAST": str(feast_dir), "BENCH_REDIS": redis_url}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(factory: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"benchmarks.http_bench:{factory}",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
    )
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/", timeout=1)  # any answer, 404 included, means it is up
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{factory} did not start")


def _body(entities: int, drivers: int) -> dict[str, Any]:
    ids = [1001 + (i * 7) % drivers for i in range(entities)]
    return {"features": REFS, "entities": {"driver_id": ids}}


def _sequential(url: str, body: dict[str, Any], n: int) -> list[float]:
    import httpx

    times = []
    with httpx.Client(base_url=url) as http:
        for _ in range(50):
            http.post("/get-online-features", json=body)
        for _ in range(n):
            t0 = time.perf_counter()
            r = http.post("/get-online-features", json=body)
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    return times


def _concurrent_worker(url: str, body: dict[str, Any], n: int, out: Any) -> None:
    results: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        mine = _sequential(url, body, n)
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(8)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((results, time.perf_counter() - t0))


def _concurrent(url: str, body: dict[str, Any], n: int) -> tuple[list[float], float]:
    queue: Any = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(
        target=_concurrent_worker, args=(url, body, n // 8, queue)
    )
    proc.start()
    times, wall = queue.get()
    proc.join()
    return times, len(times) / wall


def _pct(times: list[float], q: float) -> float:
    return statistics.quantiles(times, n=1000)[int(q * 1000) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--drivers", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--servers", default="bare,featurestore,feast", help="comma-separated subset to run"
    )
    parser.add_argument(
        "--long", type=int, default=10_000, help="calls in the one long sequential run (0: skip)"
    )
    args = parser.parse_args()
    chosen = args.servers.split(",")
    import online

    work = Path(tempfile.mkdtemp(prefix="http_bench_"))
    server = None
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        server = online.EmbeddedRedis(work / "valkey", unix_socket=False, persistence=False)
        redis_url = server.url
    try:
        env = _setup(work, redis_url, args.drivers)
        rows = []
        long_runs = []
        for name, factory in (
            ("bare", "bare_app"),
            ("featurestore", "featurestore_app"),
            ("feast", "feast_app"),
        ):
            if name not in chosen:
                continue
            proc, url = _start(factory, env)
            try:
                for entities in (1, 100):
                    body = _body(entities, args.drivers)
                    seq = _sequential(url, body, args.requests)
                    rows.append((name, entities, "sequential", seq, len(seq) / sum(seq)))
                    conc, rps = _concurrent(url, body, args.requests)
                    rows.append((name, entities, "8 clients", conc, rps))
                if args.long and name != "feast":
                    long_runs.append((name, _sequential(url, _body(1, args.drivers), args.long)))
            finally:
                proc.terminate()
                proc.wait(10)
        limit = {(e, m): (_pct(t, 0.5), _pct(t, 0.99)) for n, e, m, t, _ in rows if n == "bare"}
        if not limit:
            limit = {(e, m): (1.0, 1.0) for _, e, m, _, _ in rows}
        print(
            f"{'server':<13} {'entities':>8} {'mode':<11} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'max ms':>8} {'req/s':>8} {'p50/bare':>8} {'p99/bare':>8}"
        )
        for name, entities, mode, times, rps in rows:
            p50, p99 = _pct(times, 0.5), _pct(times, 0.99)
            b50, b99 = limit[(entities, mode)]
            print(
                f"{name:<13} {entities:>8} {mode:<11} {p50:>8.3f} {p99:>8.3f} "
                f"{max(times) * 1000:>8.2f} {rps:>8.0f} {p50 / b50:>7.2f}x {p99 / b99:>7.2f}x"
            )
        for name, times in long_runs:
            over = sum(t > 0.050 for t in times)
            print(
                f"{name}: {len(times)} sequential 1-entity calls: p50 {_pct(times, 0.5):.3f} ms, "
                f"p99 {_pct(times, 0.99):.3f} ms, p99.9 {_pct(times, 0.999):.3f} ms, "
                f"max {max(times) * 1000:.2f} ms, {over} over 50 ms"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
