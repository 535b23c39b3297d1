"""Online serving through the facade: ``FeatureStore.materialize`` and
``get_online_features`` vs the raw limit and Feast 0.67, on the same Redis server.

Materialization (driver-stats data of DESIGN.md, "Performance"): rows written per second
by ``store.materialize`` vs raw (DuckDB latest row per driver + pipelined ``HSET`` with
redis-py) vs Feast 0.67 (duckdb offline store, Redis online store). Lookups, in-process:
p50/p99 of 1 entity x 3 features, 100 entities x 3 features and 1 entity x 50 features
over 5 views, vs one ``HMGET`` / pipelined ``HMGET`` and Feast's ``get_online_features``.
Runs on an embedded valkey-server on loopback, or on ``REDIS_URL`` (redis://host:port).

    python -m benchmarks.online_facade_bench [--large] [--skip-feast] [--iterations 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import featurestore as fs
import online
from benchmarks.datagen import END, DataSet, generate
from featurestore.config import load_config

STATS = ["conv_rate", "acc_rate", "avg_daily_trips"]
WIDE_VIEWS, WIDE_FEATURES = 5, 10
LATEST = (
    "SELECT driver_id, conv_rate, acc_rate, avg_daily_trips, epoch_us(event_timestamp) AS ts "
    "FROM read_parquet('{path}') WHERE event_timestamp <= TIMESTAMPTZ '{end}' "
    "QUALIFY row_number() OVER (PARTITION BY driver_id "
    "ORDER BY event_timestamp DESC, created DESC) = 1"
)


def wide_table(drivers: int, view: int) -> pa.Table:
    """One row per driver of ten float features, for the 50-feature lookups."""
    rng = np.random.default_rng(view)
    ts = pa.array([END - timedelta(hours=1)] * drivers, pa.timestamp("us", tz="UTC"))
    cols: dict[str, Any] = {"driver_id": np.arange(1001, 1001 + drivers), "event_timestamp": ts}
    for j in range(WIDE_FEATURES):
        cols[f"w{view}_{j}"] = rng.random(drivers)
    return pa.table(cols)


def our_definitions(with_wide: bool) -> list[object]:
    driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.Int64)
    src = fs.TableSource(
        name="driver_stats", timestamp_field="event_timestamp", created_timestamp_column="created"
    )
    objects: list[object] = [
        driver,
        src,
        fs.FeatureView(
            name="stats",
            entities=[driver],
            ttl=None,
            schema=[
                fs.Field(name="conv_rate", dtype=fs.Float64),
                fs.Field(name="acc_rate", dtype=fs.Float64),
                fs.Field(name="avg_daily_trips", dtype=fs.Int64),
            ],
            source=src,
        ),
    ]
    for v in range(WIDE_VIEWS if with_wide else 0):
        wsrc = fs.TableSource(name=f"wide{v}_src", timestamp_field="event_timestamp")
        objects += [
            wsrc,
            fs.FeatureView(
                name=f"wide{v}",
                entities=[driver],
                ttl=None,
                schema=[fs.Field(name=f"w{v}_{j}", dtype=fs.Float64) for j in range(WIDE_FEATURES)],
                source=wsrc,
            ),
        ]
    return objects


class Ours:
    """A featurestore project with the data committed, its online store on ``url``."""

    def __init__(self, root: Path, url: str, ds: DataSet, wide: int = 0) -> None:
        import yaml

        root.mkdir(parents=True)
        cfg = {"project": f"b{uuid.uuid4().hex[:8]}", "online_store": {"url": url}}
        (root / "featurestore.yaml").write_text(yaml.safe_dump(cfg))
        fs.FeatureStore.init(root, exist_ok=True).close()
        self.store = fs.FeatureStore(root, config=load_config(root, env={}))
        self.store.apply(our_definitions(with_wide=wide > 0))
        self.store.ingest("driver_stats", pq.read_table(ds.features))
        for v in range(WIDE_VIEWS if wide else 0):
            self.store.ingest(f"wide{v}_src", wide_table(wide, v))
        self.store.commit("benchmark data")

    def materialize(self, views: list[str] | None = None) -> int:
        for view in views or ["stats"]:
            self.store.online_store.delete_table(view)
        results = self.store.materialize(None, END, feature_views=views or ["stats"])
        return sum(r.rows_written for r in results)


def raw_materialize(client: redis.Redis, path: Path, prefix: bytes) -> int:
    """The limit: DuckDB's latest row per driver, then pipelined HSET of each row."""
    table = duckdb.sql(LATEST.format(path=path, end=END.isoformat())).to_arrow_table()
    ids, *cols, ts = (c.to_pylist() for c in table.columns)
    pipe = client.pipeline(transaction=False)
    for i, d in enumerate(ids):
        pipe.hset(
            prefix + str(d).encode(),
            mapping={
                "conv_rate": cols[0][i],
                "acc_rate": cols[1][i],
                "avg_daily_trips": cols[2][i],
                "__ts": ts[i],
            },
        )
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return len(ids)


def raw_wide(client: redis.Redis, drivers: int) -> None:
    pipe = client.pipeline(transaction=False)
    for v in range(WIDE_VIEWS):
        t = wide_table(drivers, v)
        names = t.column_names[2:]
        cols = [t.column(n).to_pylist() for n in names]
        for i, d in enumerate(t.column("driver_id").to_pylist()):
            pipe.hset(
                f"raw:wide{v}:{d}", mapping={n: c[i] for n, c in zip(names, cols, strict=True)}
            )
    pipe.execute()


class Feast:
    """Feast 0.67: duckdb offline store over the same Parquet, Redis online store."""

    def __init__(self, root: Path, url: str, ds: DataSet, wide: int = 0) -> None:
        import feast
        from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig
        from feast.infra.online_stores.redis import RedisOnlineStoreConfig
        from feast.repo_config import RepoConfig

        parsed = urlparse(url)
        conn = f"{parsed.hostname}:{parsed.port}"
        if parsed.path.strip("/"):
            conn += f",db={parsed.path.strip('/')}"
        root.mkdir(parents=True)
        config = RepoConfig(
            project=f"f{uuid.uuid4().hex[:8]}",
            registry=str(root / "registry.db"),
            provider="local",
            offline_store=DuckDBOfflineStoreConfig(),
            online_store=RedisOnlineStoreConfig(connection_string=conn),
            entity_key_serialization_version=3,
            repo_path=str(root),
        )
        self.store = feast.FeatureStore(config=config)
        driver = feast.Entity(name="driver", join_keys=["driver_id"])
        source = feast.FileSource(
            path=str(ds.features),
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        )
        objects: list[Any] = [
            driver,
            feast.FeatureView(
                name="stats",
                entities=[driver],
                ttl=timedelta(days=3650),
                source=source,
                schema=[
                    feast.Field(name="conv_rate", dtype=feast.types.Float64),
                    feast.Field(name="acc_rate", dtype=feast.types.Float64),
                    feast.Field(name="avg_daily_trips", dtype=feast.types.Int64),
                ],
            ),
        ]
        for v in range(WIDE_VIEWS if wide else 0):
            path = root / f"wide{v}.parquet"
            pq.write_table(wide_table(wide, v), path)
            objects.append(
                feast.FeatureView(
                    name=f"wide{v}",
                    entities=[driver],
                    ttl=timedelta(days=3650),
                    source=feast.FileSource(path=str(path), timestamp_field="event_timestamp"),
                    schema=[
                        feast.Field(name=f"w{v}_{j}", dtype=feast.types.Float64)
                        for j in range(WIDE_FEATURES)
                    ],
                )
            )
        self.store.apply(objects)

    def materialize(self, views: list[str] | None = None) -> None:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self.store.materialize(
                END - timedelta(days=3650), END, feature_views=views or ["stats"]
            )


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_materialize(
    url: str, client: redis.Redis, sizes: list[str], repeats: int, feast: bool, tmp: Path
) -> None:
    print("\nmaterialization: rows written per second (median of runs)")
    print(
        "| size | feature rows | drivers | featurestore rows/s | raw rows/s | Feast rows/s | ours / raw | Feast / raw |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        ds = generate(size)
        ours = Ours(tmp / f"ours-{size}", url, ds)
        feast_store = Feast(tmp / f"feast-{size}", url, ds) if feast else None
        o, r, f = [], [], []
        drivers = 0
        for _ in range(repeats):
            start = time.perf_counter()
            drivers = ours.materialize()
            o.append(time.perf_counter() - start)
            r.append(timed(partial(raw_materialize, client, ds.features, b"raw:stats:")))
            if feast_store is not None:
                f.append(timed(feast_store.materialize))
        om, rm = drivers / statistics.median(o), drivers / statistics.median(r)
        fm = drivers / statistics.median(f) if f else float("nan")
        print(
            f"| {size} | {ds.feature_rows:,} | {drivers:,} | {om:,.0f} | {rm:,.0f} | {fm:,.0f} | "
            f"{om / rm:.2f}x | {fm / rm:.2f}x |",
            flush=True,
        )
        ours.store.close()


def pct(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def bench_lookups(url: str, client: redis.Redis, iterations: int, feast: bool, tmp: Path) -> None:
    ds = generate("small")
    drivers = ds.feature_rows // 100
    ours = Ours(tmp / "ours-lookups", url, ds, wide=drivers)
    ours.materialize(["stats", *(f"wide{v}" for v in range(WIDE_VIEWS))])
    ours.store.registry_ttl_s = 1.0  # as the HTTP service runs it (Feast caches for 600 s)
    raw_materialize(client, ds.features, b"raw:stats:")
    raw_wide(client, drivers)
    feast_store = None
    if feast:
        feast_store = Feast(tmp / "feast-lookups", url, ds, wide=drivers)
        feast_store.materialize(["stats", *(f"wide{v}" for v in range(WIDE_VIEWS))])
    rng = np.random.default_rng(7)
    stats_refs = [f"stats:{f}" for f in STATS]
    wide_refs = [f"wide{v}:w{v}_{j}" for v in range(WIDE_VIEWS) for j in range(WIDE_FEATURES)]
    wide_fields = [[f"w{v}_{j}".encode() for j in range(WIDE_FEATURES)] for v in range(WIDE_VIEWS)]
    stats_fields = [f.encode() for f in STATS]

    def pipelined(commands: list[tuple[bytes, list[bytes]]]) -> object:
        pipe = client.pipeline(transaction=False)
        for key, fields in commands:
            pipe.hmget(key, fields)
        return pipe.execute()

    Case = tuple[str, int, list[str], Callable[[list[int]], object]]
    cases: list[Case] = [
        (
            "1 entity x 3 features",
            1,
            stats_refs,
            lambda ids: client.hmget(b"raw:stats:%d" % ids[0], stats_fields),
        ),
        (
            "100 entities x 3 features",
            100,
            stats_refs,
            lambda ids: pipelined([(b"raw:stats:%d" % i, stats_fields) for i in ids]),
        ),
        (
            "1 entity x 50 features, 5 views",
            1,
            wide_refs,
            lambda ids: pipelined(
                [(b"raw:wide%d:%d" % (v, ids[0]), wide_fields[v]) for v in range(WIDE_VIEWS)]
            ),
        ),
    ]
    print(f"\nlookups in-process ({iterations} each, interleaved), ms")
    print(
        "| lookup | featurestore p50 | p99 | raw p50 | p99 | Feast p50 | p99 | ours / raw p50 | p99 | Feast / raw p50 | p99 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, k, refs, raw_fn in cases:

        def ours_fn(ids: list[int], refs: list[str] = refs) -> object:
            return ours.store.get_online_features(refs, {"driver_id": ids}).to_dict()

        def feast_fn(ids: list[int], refs: list[str] = refs) -> object:
            assert feast_store is not None
            return feast_store.store.get_online_features(
                refs, [{"driver_id": i} for i in ids]
            ).to_dict()

        fns: list[Callable[[list[int]], object]] = [ours_fn, raw_fn] + (
            [feast_fn] if feast_store else []
        )
        samples: list[list[float]] = [[] for _ in fns]
        check: Any = ours_fn([1001])
        assert all(v[0] is not None for v in check.values()), check
        for i in range(iterations + 50):
            ids = [int(x) for x in rng.integers(1001, 1001 + drivers, k)]
            for j in range(len(fns)):
                fn = fns[(i + j) % len(fns)]
                t = timed(partial(fn, ids))
                if i >= 50:
                    samples[fns.index(fn)].append(t)
        (o50, o99), (r50, r99) = pct(samples[0]), pct(samples[1])
        f50, f99 = pct(samples[2]) if feast_store else (float("nan"), float("nan"))
        print(
            f"| {label} | {o50:.3f} | {o99:.3f} | {r50:.3f} | {r99:.3f} | {f50:.3f} | {f99:.3f} | "
            f"{o50 / r50:.2f}x | {o99 / r99:.2f}x | {f50 / r50:.2f}x | {f99 / r99:.2f}x |",
            flush=True,
        )
    ours.store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="small,medium", help="comma-separated: small, medium, large")
    p.add_argument(
        "--large", action="store_true", help="also materialize the large size (10M rows)"
    )
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--skip-feast", action="store_true")
    p.add_argument("--skip-materialize", action="store_true")
    p.add_argument("--skip-lookups", action="store_true")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    sizes = args.sizes.split(",") + (["large"] if args.large and "large" not in args.sizes else [])
    with tempfile.TemporaryDirectory(prefix="fs-online-bench-") as name:
        tmp = Path(name)
        url = os.environ.get("REDIS_URL")
        server = (
            None
            if url
            else online.EmbeddedRedis(tmp / "redis", unix_socket=False, persistence=False)
        )
        url = url or server.url  # type: ignore[union-attr]
        client = redis.Redis.from_url(url)
        print(f"server: {url}; featurestore vs raw redis-py {redis.__version__} vs Feast 0.67")
        try:
            if not args.skip_materialize:
                bench_materialize(url, client, sizes, args.repeats, not args.skip_feast, tmp)
            if not args.skip_lookups:
                bench_lookups(url, client, args.iterations, not args.skip_feast, tmp)
        finally:
            client.flushdb()
            client.close()
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
