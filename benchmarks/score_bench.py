"""POST /score latency and throughput with and without dynamic batching.

    python benchmarks/score_bench.py [--requests 3000] [--concurrency 1 32] [--device cpu]

One driver_stats project, one uvicorn process (one worker) serving two models that are
the same MLP (4 -> 512 -> 512 -> 1, fixed weights): ``batched`` (max_batch 64,
max_wait_ms 2) and ``unbatched`` (max_batch 1, max_wait_ms 0: one model call per
request). Clients in this process (httpx, asyncio) each send one-entity requests one
after another; prints p50 / p99 and requests/s per model and concurrency, and the
ratios unbatched / batched. ``--device cuda`` runs the models on a GPU. Redis:
``REDIS_URL``, else an embedded server in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "driver_stats"
SERVICE = "driver_activity"
DRIVERS = 200
_MLP: Any = None


def mlp(x: Any) -> Any:
    """The benchmark's model: an MLP with fixed weights, on the tensor's device."""
    import torch

    global _MLP
    if _MLP is None or next(_MLP.parameters()).device != x.device:
        torch.manual_seed(0)
        _MLP = (
            torch.nn.Sequential(
                torch.nn.Linear(4, 512),
                torch.nn.ReLU(),
                torch.nn.Linear(512, 512),
                torch.nn.ReLU(),
                torch.nn.Linear(512, 1),
            )
            .to(x.device)
            .eval()
        )
    return _MLP(torch.nan_to_num(x)).squeeze(-1)


def app() -> Any:
    """The service, built inside its uvicorn process."""
    from featurestore import FeatureStore
    from featurestore.server import create_app

    return create_app(FeatureStore(repo_path=os.environ["BENCH_PROJECT"]), close_store=True)


def _setup(project: Path, redis_url: str, device: str) -> None:
    import importlib.util

    import yaml

    from featurestore import FeatureStore
    from featurestore.project import load_definitions

    now = datetime.now(UTC).replace(microsecond=0)
    spec = importlib.util.spec_from_file_location("_gen", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    data = gen.generate(seed=0, drivers=DRIVERS, days=3, end=now)
    project.mkdir()
    shutil.copy(EXAMPLE / "definitions.py", project / "definitions.py")
    model = {"entry_point": "benchmarks.score_bench:mlp", "service": SERVICE, "device": device}
    config = {
        "project": "driver_stats",
        "online_store": {"type": "redis", "url": redis_url, "key_prefix": "scorebench"},
        "server": {"request_timeout_s": 30.0},
        "models": {
            "batched": {**model, "max_batch": 64, "max_wait_ms": 2},
            "unbatched": {**model, "max_batch": 1, "max_wait_ms": 0},
        },
    }
    (project / "featurestore.yaml").write_text(yaml.safe_dump(config))
    with FeatureStore.init(project, exist_ok=True) as store:
        store.apply(load_definitions(project))
        store.ingest("driver_stats", data)
        store.commit("bench data")
        store.materialize(now - timedelta(days=10), now + timedelta(seconds=1))


def _start(project: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.score_bench:app",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT,
        env={**os.environ, "BENCH_PROJECT": str(project), "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/health", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


async def _run(url: str, model: str, requests: int, concurrency: int) -> tuple[list[float], float]:
    import httpx

    times: list[float] = []
    per_client = max(1, requests // concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(http: httpx.AsyncClient, offset: int) -> None:
        for i in range(per_client):
            body = {
                "entities": {"driver_id": [1001 + (offset * 31 + i) % DRIVERS], "val_to_add": [i]},
                "model": model,
            }
            t0 = time.perf_counter()
            r = await http.post(f"/score/{SERVICE}", json=body)
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
            assert r.json()["model"] == model

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(http, c) for c in range(concurrency)))  # warm-up
        times.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http, c) for c in range(concurrency)))
        wall = time.perf_counter() - t0
    return times, len(times) / wall


def _pct(times: list[float], q: float) -> float:
    return statistics.quantiles(times, n=100)[int(q * 100) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        work = Path(tmp)
        redis_url = os.environ.get("REDIS_URL")
        embedded = None
        if not redis_url:
            import online

            embedded = online.EmbeddedRedis(work / "redis", unix_socket=False, persistence=False)
            redis_url = embedded.url
        proc = None
        try:
            _setup(work / "fs", redis_url, args.device)
            proc, url = _start(work / "fs")
            print(f"POST /score, 1 entity per request, {args.requests} requests, {args.device}")
            print(f"{'model':<10} {'clients':>7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
            results: dict[tuple[str, int], tuple[float, float, float]] = {}
            for concurrency in args.concurrency:
                for model in ("unbatched", "batched"):
                    times, rate = asyncio.run(_run(url, model, args.requests, concurrency))
                    p50, p99 = _pct(times, 0.5), _pct(times, 0.99)
                    results[model, concurrency] = (p50, p99, rate)
                    print(f"{model:<10} {concurrency:>7} {p50:>8.2f} {p99:>8.2f} {rate:>8.0f}")
            for concurrency in args.concurrency:
                u, b = results["unbatched", concurrency], results["batched", concurrency]
                print(
                    f"{concurrency} client(s): unbatched / batched p50 {u[0] / b[0]:.2f}x, "
                    f"p99 {u[1] / b[1]:.2f}x; batched / unbatched throughput {b[2] / u[2]:.2f}x"
                )
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    main()
