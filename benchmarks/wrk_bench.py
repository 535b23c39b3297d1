"""Serving under load, measured with ``wrk`` (a C client: the client is not the limit).

featurestore's service (``featurestore serve``) vs the limit, a bare Starlette app that
answers the same body with one pipelined ``HMGET`` per view (redis-py, orjson), vs
Feast 0.67's ``feast serve``, on one Redis server, the same worker count each; and
``featurestore-loop``, our service with ``server.lookups_on_event_loop`` (no thread hop):

- 1 entity x 50 features (5 views of 10) and 100 entities x 3 features;
- 8, 64 and 256 connections; 1 and 2 uvicorn workers.

Each server is started once per worker count; runs alternate between the servers
(``--rounds`` times each, a warm-up run first) so that a busy machine weighs on all
of them alike. Prints requests/s, p50 / p99 (wrk's, with its correction for requests
a stall delayed) and the server's CPU time per request, and the ratios to the bare
app as a markdown table. Needs ``wrk`` (``apt-get install -y wrk``).

    python -m benchmarks.wrk_bench [--duration 5] [--rounds 2] [--workers 1,2]
        [--connections 8,64,256] [--servers bare,featurestore,featurestore-loop,feast] [--cases 1x50,100x3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
VIEWS, WIDE = 5, 10
STATS = ["conv_rate", "acc_rate", "avg_daily_trips"]
CASES: dict[str, tuple[int, list[str]]] = {
    "1x50": (1, [f"wide{v}:w{v}_{j}" for v in range(VIEWS) for j in range(WIDE)]),
    "100x3": (100, [f"stats:{f}" for f in STATS]),
}
LABELS = {"1x50": "1 entity x 50 features", "100x3": "100 entities x 3 features"}
SERVERS = ("bare", "featurestore", "featurestore-loop", "feast")
OURS = (("featurestore", ""), ("featurestore-loop", ", lookups on the event loop"))
"""Our servers and their rows' label: the default (lookups in worker threads) and with
``server.lookups_on_event_loop``."""
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("WRK_BODY")):read("*a")
done = function(summary, latency, requests)
  io.stderr:write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "status_errors": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


# --- data and projects ---------------------------------------------------------------


def tables(drivers: int, now: datetime) -> dict[str, pa.Table]:
    """One row per driver for each view: ``stats`` (3 features) and ``wide0..4`` (10 each)."""
    rng = np.random.default_rng(0)
    ids = np.arange(1001, 1001 + drivers, dtype=np.int64)
    ts = pa.array([now - timedelta(hours=1)] * drivers, pa.timestamp("us", tz="UTC"))
    out = {
        "stats": pa.table(
            {
                "driver_id": ids,
                "event_timestamp": ts,
                "conv_rate": rng.random(drivers),
                "acc_rate": rng.random(drivers),
                "avg_daily_trips": rng.integers(0, 1000, drivers, dtype=np.int64),
            }
        )
    }
    for v in range(VIEWS):
        cols: dict[str, Any] = {"driver_id": ids, "event_timestamp": ts}
        for j in range(WIDE):
            cols[f"w{v}_{j}"] = rng.random(drivers)
        out[f"wide{v}"] = pa.table(cols)
    return out


def _schema(view: str) -> list[tuple[str, str]]:
    if view == "stats":
        return [("conv_rate", "Float64"), ("acc_rate", "Float64"), ("avg_daily_trips", "Int64")]
    v = view.removeprefix("wide")
    return [(f"w{v}_{j}", "Float64") for j in range(WIDE)]


def _ours(work: Path, redis_url: str, data: dict[str, pa.Table], now: datetime) -> Path:
    import yaml

    import featurestore as fs

    project = work / "featurestore"
    project.mkdir()
    (project / "featurestore.yaml").write_text(
        yaml.safe_dump(
            {
                "project": "wrk_bench",
                "online_store": {"type": "redis", "url": redis_url, "key_prefix": "wrk"},
                "server": {"max_entities_per_request": 1000},
            }
        )
    )
    driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.Int64)
    objects: list[object] = [driver]
    for view in data:
        source = fs.TableSource(name=f"{view}_src", timestamp_field="event_timestamp")
        schema = [fs.Field(name=n, dtype=getattr(fs, t)) for n, t in _schema(view)]
        objects += [
            source,
            fs.FeatureView(name=view, entities=[driver], ttl=None, schema=schema, source=source),
        ]
    with fs.FeatureStore.init(project, exist_ok=True) as store:
        store.apply(objects)
        for view, table in data.items():
            store.ingest(f"{view}_src", table)
        store.commit("wrk bench data")
        store.materialize(now - timedelta(days=1), now)
        storage = store.config.storage_location
    # featurestore-loop: the same repository and online keys, lookups on the event loop
    loop = work / "featurestore-loop"
    loop.mkdir()
    settings = yaml.safe_load((project / "featurestore.yaml").read_text())
    settings["storage"] = storage
    settings["server"]["lookups_on_event_loop"] = True
    (loop / "featurestore.yaml").write_text(yaml.safe_dump(settings))
    return project


def _feast(work: Path, redis_url: str, data: dict[str, pa.Table], now: datetime) -> Path:
    import contextlib
    import io
    from urllib.parse import urlparse

    import pyarrow.parquet as pq
    import yaml

    repo = work / "feast"
    repo.mkdir()
    url = urlparse(redis_url)
    (repo / "feature_store.yaml").write_text(
        yaml.safe_dump(
            {
                "project": "wrk_bench",
                "provider": "local",
                "registry": str(repo / "registry.db"),
                "online_store": {
                    "type": "redis",
                    "connection_string": f"{url.hostname}:{url.port}",
                },
                "offline_store": {"type": "duckdb"},
                "entity_key_serialization_version": 3,
            }
        )
    )
    lines = [
        "from datetime import timedelta",
        "from feast import Entity, FeatureView, Field, FileSource",
        "from feast.types import Float64, Int64",
        "from feast.value_type import ValueType",
        'driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)',
    ]
    for view, table in data.items():
        pq.write_table(table, repo / f"{view}.parquet")
        fields = ", ".join(f'Field(name="{n}", dtype={t})' for n, t in _schema(view))
        lines.append(
            f"{view} = FeatureView(name={view!r}, entities=[driver], ttl=timedelta(days=30), "
            f"source=FileSource(name={view + '_src'!r}, path={str(repo / (view + '.parquet'))!r}, "
            f'timestamp_field="event_timestamp"), schema=[{fields}])'
        )
    (repo / "repo.py").write_text("\n".join(lines) + "\n")
    subprocess.run(["feast", "apply"], cwd=repo, check=True, capture_output=True)
    from feast import FeatureStore

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        FeatureStore(repo_path=str(repo)).materialize(now - timedelta(days=1), now)
    return repo


def _bare_data(redis_url: str, data: dict[str, pa.Table]) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for view, table in data.items():
        names = table.column_names[2:]
        columns = [table.column(n).to_pylist() for n in names]
        for i, d in enumerate(table.column("driver_id").to_pylist()):
            pipe.hset(
                f"bare:{view}:{d}", mapping={n: c[i] for n, c in zip(names, columns, strict=True)}
            )
    pipe.execute()
    client.close()


def bare_app() -> Any:
    """The limit: parse the body, one pipelined HMGET per (entity, view), values back."""
    import orjson
    import redis
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    client = redis.Redis.from_url(os.environ["WRK_BENCH_REDIS"])

    async def lookup(request: Request) -> Response:
        body = orjson.loads(await request.body())
        ids = body["entities"]["driver_id"]
        by_view: dict[str, list[str]] = {}
        for ref in body["features"]:
            view, _, name = ref.partition(":")
            by_view.setdefault(view, []).append(name)
        pipe = client.pipeline(transaction=False)
        for i in ids:
            for view, names in by_view.items():
                pipe.hmget(f"bare:{view}:{i}", names)
        rows = pipe.execute()
        results: list[dict[str, Any]] = [{"values": ids}]
        n = len(by_view)
        for k, names in enumerate(by_view.values()):
            for j in range(len(names)):
                results.append(
                    {"values": [None if r[j] is None else float(r[j]) for r in rows[k::n]]}
                )
        return Response(orjson.dumps({"results": results}), media_type="application/json")

    return Starlette(routes=[Route("/get-online-features", lookup, methods=["POST"])])


# --- servers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A server process (and its workers), its URL and a sample body check."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process and every live descendant."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in _tree(self.proc.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _tree(pid: int) -> list[int]:
    out, pending = [], [pid]
    while pending:
        p = pending.pop()
        out.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            children = []
        pending.extend(int(c) for c in children)
    return out


def start(name: str, workers: int, env: dict[str, str], work: Path) -> Server:
    port = free_port()
    if name == "bare":
        cmd = [
            sys.executable, "-m", "uvicorn", "--factory", "benchmarks.wrk_bench:bare_app",
            "--port", str(port), "--workers", str(workers), "--log-level", "warning",
            "--no-access-log",
        ]  # fmt: skip
        cwd = ROOT
    elif name in ("featurestore", "featurestore-loop"):
        cli = Path(sys.executable).with_name("featurestore")
        project = env["WRK_BENCH_PROJECT"] + ("-loop" if name == "featurestore-loop" else "")
        cmd = [
            str(cli) if cli.exists() else "featurestore", "serve", "-r", project,
            "--port", str(port), "--workers", str(workers), "--log-level", "warning",
        ]  # fmt: skip
        cwd = ROOT
    else:
        feast = shutil.which("feast") or "feast"
        cmd = [
            feast, "serve", "-p", str(port), "--workers", str(workers), "--no-access-log",
            "--max-requests", "0",
        ]  # fmt: skip
        cwd = Path(env["WRK_BENCH_FEAST"])
    log = open(work / f"{name}-{workers}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        cmd, cwd=cwd, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    server = Server(name, proc, url)
    body = json.dumps({"features": ["stats:conv_rate"], "entities": {"driver_id": [1001]}})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: see {work / f'{name}-{workers}.log'}")
        try:
            out = subprocess.run(
                ["curl", "-sf", "-XPOST", "-H", "content-type: application/json",
                 "-d", body, f"{url}/get-online-features"],
                capture_output=True, timeout=5,
            )  # fmt: skip
            if out.returncode == 0 and b"results" in out.stdout:
                return server
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"{name} did not answer within 120 s")


# --- runs ------------------------------------------------------------------------------


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_us: float
    errors: int


@dataclass
class Runs:
    samples: dict[tuple[str, str, int, int], list[Sample]] = field(default_factory=dict)

    def add(self, key: tuple[str, str, int, int], sample: Sample) -> None:
        self.samples.setdefault(key, []).append(sample)


def wrk(server: Server, body: Path, script: Path, connections: int, seconds: int) -> Sample:
    threads = min(2, connections)
    cpu0 = server.cpu_seconds()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, seconds)}s", "--timeout", "10s",
         "-s", str(script), f"{server.url}/get-online-features"],
        capture_output=True, text=True, env={**os.environ, "WRK_BODY": str(body)},
        timeout=seconds + 60,
    )  # fmt: skip
    cpu = server.cpu_seconds() - cpu0
    line = next((x for x in out.stderr.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    r = json.loads(line.removeprefix("WRKJSON "))
    requests = max(1, r["requests"])
    return Sample(
        rps=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        max_ms=r["max_us"] / 1000,
        cpu_us=cpu / requests * 1e6,
        errors=r["status_errors"] + r["socket_errors"],
    )


def _range(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return format(lo, fmt) if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}-{hi:{fmt}}"


def ratio_range(ours: list[float], bare: list[float]) -> str:
    """Round by round ratios (run i of ours over run i of bare), as a range."""
    ratios = [o / b for o, b in zip(ours, bare, strict=False) if b]
    return _range(ratios, ".2f") + "x" if ratios else "n/a"


def _cells(
    s: dict[str, list[Sample]],
) -> tuple[Callable[[str, str, str], str], Callable[[str, str], str], Callable[[str], str]]:
    """Formatters of one setting's samples: a value's range, a ratio's range to the
    bare app's, p50 / p99."""

    def cell(name: str, attr: str, fmt: str) -> str:
        got = [getattr(x, attr) for x in s[name]]
        return _range(got, fmt) if got else "-"

    def rat(name: str, attr: str) -> str:
        if not s[name] or not s["bare"]:
            return "-"
        got = [getattr(x, attr) for x in s[name]]
        return ratio_range(got, [getattr(x, attr) for x in s["bare"]])

    def lat(name: str) -> str:
        if not s[name]:
            return "-"
        return f"{cell(name, 'p50_ms', '.1f')} / {cell(name, 'p99_ms', '.1f')}"

    return cell, rat, lat


def table(runs: Runs, cases: list[str], workers: list[int], conns: list[int]) -> str:
    head = (
        "| lookup | workers | connections | ours req/s | bare req/s | Feast req/s "
        "| ours / bare req/s | Feast / bare req/s | ours p50 / p99 ms | bare p50 / p99 ms "
        "| Feast p50 / p99 ms | ours / bare p99 | Feast / bare p99 | CPU per request, ours / bare |"
    )
    lines = [head, "|" + "---|" * 3 + "---:|" * 11]
    for case in cases:
        for w in workers:
            for c in conns:
                s = {n: runs.samples.get((n, case, w, c), []) for n in SERVERS}

                cell, rat, lat = _cells(s)
                for ours, label in OURS:
                    if ours != "featurestore" and not s[ours]:
                        continue
                    lines.append(
                        f"| {LABELS[case]}{label} | {w} | {c} | {cell(ours, 'rps', ',.0f')} "
                        f"| {cell('bare', 'rps', ',.0f')} | {cell('feast', 'rps', ',.0f')} "
                        f"| **{rat(ours, 'rps')}** | {rat('feast', 'rps')} "
                        f"| {lat(ours)} | {lat('bare')} | {lat('feast')} "
                        f"| **{rat(ours, 'p99_ms')}** | {rat('feast', 'p99_ms')} "
                        f"| {rat(ours, 'cpu_us')} |"
                    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--drivers", type=int, default=1000)
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=2, help="runs per server and setting")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--connections", default="8,64,256")
    p.add_argument("--servers", default=",".join(SERVERS))
    p.add_argument("--cases", default=",".join(CASES))
    args = p.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    workers = [int(w) for w in args.workers.split(",")]
    conns = [int(c) for c in args.connections.split(",")]
    servers = [s for s in SERVERS if s in args.servers.split(",")]
    cases = [c for c in CASES if c in args.cases.split(",")]
    import online

    work = Path(tempfile.mkdtemp(prefix="wrk_bench_"))
    embedded = None
    redis_url = os.environ.get("REDIS_URL")
    runs = Runs()
    try:
        if not redis_url:
            embedded = online.EmbeddedRedis(work / "valkey", unix_socket=False, persistence=False)
            redis_url = embedded.url
        now = datetime.now(UTC).replace(microsecond=0)
        data = tables(args.drivers, now)
        env = {"WRK_BENCH_REDIS": redis_url}
        if "featurestore" in servers or "featurestore-loop" in servers:
            env["WRK_BENCH_PROJECT"] = str(_ours(work, redis_url, data, now))
        if "feast" in servers:
            env["WRK_BENCH_FEAST"] = str(_feast(work, redis_url, data, now))
        if "bare" in servers:
            _bare_data(redis_url, data)
        script = work / "post.lua"
        script.write_text(LUA)
        bodies = {}
        for case in cases:
            k, refs = CASES[case]
            ids = [1001 + (i * 7) % args.drivers for i in range(k)]
            bodies[case] = work / f"{case}.json"
            bodies[case].write_text(json.dumps({"features": refs, "entities": {"driver_id": ids}}))
        for w in workers:
            started = [start(name, w, env, work) for name in servers]
            try:
                for case in cases:
                    for c in conns:
                        for s in started:  # warm-up: connections, plans, first requests
                            wrk(s, bodies[case], script, c, 1)
                        for r in range(args.rounds):
                            order = started if r % 2 == 0 else started[::-1]
                            for s in order:
                                sample = wrk(s, bodies[case], script, c, args.duration)
                                runs.add((s.name, case, w, c), sample)
                                print(
                                    f"{s.name:<17} {case:<6} workers={w} conns={c:<4} "
                                    f"{sample.rps:>8,.0f} req/s  p50 {sample.p50_ms:6.1f} ms  "
                                    f"p99 {sample.p99_ms:7.1f} ms  max {sample.max_ms:7.1f} ms  "
                                    f"cpu {sample.cpu_us:6.0f} us/req  errors {sample.errors}",
                                    flush=True,
                                )
            finally:
                for s in started:
                    s.stop()
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = table(runs, cases, workers, conns)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} (on {os.cpu_count()} CPUs)\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
