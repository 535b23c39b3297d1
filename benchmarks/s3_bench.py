"""Retrieval on S3 storage: the same store on SeaweedFS (`weed mini`, loopback) and on a
local folder, same data, as a ratio.

Both stores hold the driver-stats data of ``benchmarks.datagen`` (ingested and committed
once per run); each timed call is ``get_historical_features(entities, refs).to_arrow()``
with the entity Parquet file read inside the call. The table shows the median of
``--repeats`` runs after one warm-up, and the ratio S3 / local. It also prints what a
read of one Parquet row group downloads from S3 (the footer and that row group's
column chunks, by ranged GETs) against the object's size.

    python -m benchmarks.s3_bench                 # medium (1M feature rows, 100k entities)
    python -m benchmarks.s3_bench --size small --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from benchmarks.datagen import SIZES, DataSet, generate

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]


def _definitions() -> list[Any]:
    import featurestore as fs

    driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.Int64)
    source = fs.TableSource(
        name="driver_stats", timestamp_field="event_timestamp", created_timestamp_column="created"
    )
    view = fs.FeatureView(
        name="driver_stats",
        entities=[driver],
        source=source,
        schema=[
            fs.Field(name="conv_rate", dtype=fs.Float64),
            fs.Field(name="acc_rate", dtype=fs.Float64),
            fs.Field(name="avg_daily_trips", dtype=fs.Int64),
        ],
    )
    return [driver, source, view]


def _store(folder: Path, config: dict[str, Any], ds: DataSet) -> Any:
    import featurestore as fs

    folder.mkdir(parents=True)
    (folder / "featurestore.yaml").write_text(yaml.safe_dump(config))
    store = fs.FeatureStore(folder)
    store.apply(_definitions())
    store.ingest("driver_stats", ds.features)
    store.commit("driver stats")
    return store


def _timed(run: Callable[[], pa.Table], repeats: int) -> tuple[float, pa.Table]:
    out = run()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _one_row_group(store: Any) -> tuple[int, int, int]:
    """Bytes a read of the first row group downloads, the object's size, its row groups."""
    fs = store.repository.filesystem
    address = store.tables.files("main", "driver_stats")[0]
    with fs.open(address, "rb") as f:
        pf = pq.ParquetFile(f)
        pf.read_row_group(0)
        return int(f.cache.total_requested_bytes), int(f.size), pf.num_row_groups


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="medium", choices=list(SIZES))
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    from tests.s3_server import seaweedfs

    ds = generate(args.size)
    with tempfile.TemporaryDirectory(prefix="s3-bench-") as tmp:
        root = Path(tmp)
        with seaweedfs(root / "seaweedfs") as server:
            local_config = {"project": "bench_local", "storage": "data", "create_repository": True}
            local = _store(root / "local", local_config, ds)
            s3_config = {
                "project": "bench_s3",
                "storage": f"s3://{server.bucket}/bench-{uuid.uuid4().hex[:8]}",
                "storage_options": server.options(),
                "metadata_url": f"sqlite:///{root / 'repos.sqlite'}",
                "create_repository": True,
            }
            remote = _store(root / "s3", s3_config, ds)
            refs = [f"driver_stats:{c}" for c in FEATURES]

            def runner(store: Any) -> Callable[[], pa.Table]:
                def run() -> pa.Table:
                    ents = pq.read_table(ds.entities)
                    return store.get_historical_features(ents, refs).to_arrow()

                return run

            t_local, a = _timed(runner(local), args.repeats)
            t_s3, b = _timed(runner(remote), args.repeats)
            if not a.equals(b):
                print("the S3 store's training set differs from the local one", file=sys.stderr)
                return 1
            got, size, groups = _one_row_group(remote)
            local.close()
            remote.close()
    rows = f"{ds.feature_rows:,} feature rows, {ds.entity_rows:,} entity rows"
    print(f"retrieval, {args.size} ({rows}), median of {args.repeats}")
    print("| storage | seconds | vs local |\n|---|---|---|")
    print(f"| local folder | {t_local:.3f} | 1.00x |")
    print(f"| SeaweedFS (S3, loopback) | {t_s3:.3f} | {t_s3 / t_local:.2f}x |")
    print(
        f"one row group of {groups}: {got:,} of {size:,} bytes downloaded "
        f"({got / size:.0%} of the object)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
