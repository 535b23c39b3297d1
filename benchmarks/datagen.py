"""Seeded driver-stats data for the benchmarks (DESIGN.md, "Performance").

About 100 rows per driver over 90 days; 1% of the rows repeat a (driver, event time)
pair with a later created time and other values; the entity frame is 10% of the
feature rows (1M for large), at random drivers (a few unknown) and random times, in
random order. Files are cached under ``benchmarks/.data/<size>/``.

    python -m benchmarks.datagen medium
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["SIZES", "DataSet", "generate"]

DATA = Path(__file__).resolve().parent / ".data"
END = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 90
SIZES: dict[str, tuple[int, int]] = {
    "small": (100_000, 10_000),
    "medium": (1_000_000, 100_000),
    "large": (10_000_000, 1_000_000),
}


@dataclass(frozen=True)
class DataSet:
    """Paths of one generated size."""

    size: str
    features: Path
    entities: Path
    feature_rows: int
    entity_rows: int


def _features(n: int, rng: np.random.Generator) -> pa.Table:
    drivers = max(1, n // 100)
    end_us = int(END.timestamp() * 1_000_000)
    span_s = DAYS * 86_400
    base = n - n // 100
    driver = rng.integers(1001, 1001 + drivers, base, dtype=np.int64)
    event = end_us - rng.integers(0, span_s, base, dtype=np.int64) * 1_000_000
    created = event + rng.integers(0, 3_600, base, dtype=np.int64) * 1_000_000
    ties = rng.choice(base, n - base, replace=False)
    driver = np.concatenate([driver, driver[ties]])
    event = np.concatenate([event, event[ties]])
    created = np.concatenate([created, created[ties] + rng.integers(1, 3_600, len(ties)) * 1_000_000])
    order = rng.permutation(n)
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "driver_id": driver[order],
            "event_timestamp": pa.array(event[order], ts),
            "created": pa.array(created[order], ts),
            "conv_rate": rng.random(n),
            "acc_rate": rng.random(n),
            "avg_daily_trips": rng.integers(0, 1000, n, dtype=np.int64),
        }
    )


def _entities(n: int, drivers: int, rng: np.random.Generator) -> pa.Table:
    end_us = int(END.timestamp() * 1_000_000)
    ids = rng.integers(1001, 1001 + drivers + max(1, drivers // 100), n, dtype=np.int64)
    t = end_us - rng.integers(0, DAYS * 86_400, n, dtype=np.int64) * 1_000_000
    return pa.table(
        {
            "driver_id": ids,
            "event_timestamp": pa.array(t, pa.timestamp("us", tz="UTC")),
            "label": rng.integers(0, 2, n, dtype=np.int64),
        }
    )


def generate(size: str, seed: int = 42) -> DataSet:
    """Write (or reuse) the Parquet files of ``size``: small, medium or large."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; use one of {list(SIZES)}")
    n, m = SIZES[size]
    folder = DATA / f"{size}-{seed}"
    feats, ents = folder / "features.parquet", folder / "entities.parquet"
    if not (feats.exists() and ents.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        pq.write_table(_features(n, rng), feats, row_group_size=128 * 1024)
        pq.write_table(_entities(m, max(1, n // 100), rng), ents)
    return DataSet(size, feats, ents, n, m)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sizes", nargs="*", default=["small", "medium"], choices=list(SIZES))
    p.add_argument("--seed", type=int, default=42)
    for size in p.parse_args(argv).sizes:
        ds = generate(size, p.parse_args(argv).seed)
        print(f"{size}: {ds.features} ({ds.feature_rows} rows), {ds.entities} ({ds.entity_rows} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
