"""Seeded driver statistics like Feast's example data.

About ``rows_per_driver`` rows per driver spread over ``days`` days before ``end``;
1% of the rows repeat a (driver, event time) pair with a later ``created`` time
and different values, so the created-time tie-break is exercised.

Run ``python examples/driver_stats/generate.py out.parquet [--end now]`` to write a file.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

END = datetime(2025, 1, 1, tzinfo=UTC)
FIRST_DRIVER_ID = 1001

SCHEMA = pa.schema(
    [
        pa.field("driver_id", pa.int64(), nullable=False),
        pa.field("event_timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("created", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("conv_rate", pa.float32()),
        pa.field("acc_rate", pa.float32()),
        pa.field("avg_daily_trips", pa.int64()),
    ]
)


def generate(
    seed: int = 0,
    drivers: int = 100,
    days: int = 90,
    rows_per_driver: int = 100,
    end: datetime = END,
) -> pa.Table:
    """Return ``drivers * rows_per_driver`` rows, sorted by driver, event and created time."""
    if drivers < 1 or days < 1 or rows_per_driver < 1:
        raise ValueError("drivers, days and rows_per_driver must all be at least 1")
    rng = np.random.default_rng(seed)
    n = drivers * rows_per_driver
    ties = n // 100
    base = n - ties
    end_us = int(end.timestamp()) * 1_000_000
    span_s = days * 86_400

    driver_id = FIRST_DRIVER_ID + rng.integers(0, drivers, base, dtype=np.int64)
    # every driver gets at least its share: spread the first rows evenly
    driver_id[: min(base, drivers)] = FIRST_DRIVER_ID + np.arange(min(base, drivers))
    event_us = end_us - rng.integers(1, span_s, base, dtype=np.int64) * 1_000_000
    created_us = event_us + rng.integers(0, 3_600, base, dtype=np.int64) * 1_000_000

    pick = rng.integers(0, base, ties)
    driver_id = np.concatenate([driver_id, driver_id[pick]])
    event_us = np.concatenate([event_us, event_us[pick]])
    created_us = np.concatenate(
        [created_us, created_us[pick] + rng.integers(1, 3_600, ties, dtype=np.int64) * 1_000_000]
    )

    conv_rate = rng.random(n, dtype=np.float32)
    acc_rate = rng.random(n, dtype=np.float32)
    trips = rng.integers(0, 1_000, n, dtype=np.int64)

    order = np.lexsort((created_us, event_us, driver_id))
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        [
            pa.array(driver_id[order]),
            pa.array(event_us[order], type=ts),
            pa.array(created_us[order], type=ts),
            pa.array(conv_rate[order]),
            pa.array(acc_rate[order]),
            pa.array(trips[order]),
        ],
        schema=SCHEMA,
    )


def entity_rows(table: pa.Table, fraction: float = 0.1, seed: int = 0) -> pa.Table:
    """A seeded entity frame (driver_id, event_timestamp) of ``fraction`` of the rows."""
    rng = np.random.default_rng(seed + 1)
    n = max(1, int(table.num_rows * fraction))
    idx = rng.integers(0, table.num_rows, n)
    jitter = rng.integers(0, 7_200, n, dtype=np.int64) * 1_000_000
    events = table.column("event_timestamp").to_numpy().astype("datetime64[us]").astype(np.int64)
    return pa.table(
        {
            "driver_id": table.column("driver_id").take(pa.array(idx)),
            "event_timestamp": pa.array(events[idx] + jitter, type=pa.timestamp("us", tz="UTC")),
        }
    )


def parse_end(text: str) -> datetime:
    """``now`` (to the second) or an ISO 8601 date or time; a naive one is UTC."""
    if text.strip().lower() == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        end = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use 'now' or an ISO 8601 date such as 2025-01-01"
        ) from None
    return end if end.tzinfo is not None else end.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> None:
    """Write ``generate(...)`` to a Parquet file."""
    import pyarrow.parquet as pq

    parser = argparse.ArgumentParser(description="Write seeded driver statistics to Parquet.")
    parser.add_argument("out", nargs="?", default="driver_stats.parquet", help="the file to write")
    parser.add_argument("--end", type=parse_end, default=END, help="'now' or an ISO date")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drivers", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rows-per-driver", type=int, default=100)
    args = parser.parse_args(argv)
    table = generate(args.seed, args.drivers, args.days, args.rows_per_driver, args.end)
    pq.write_table(table, args.out)
    print(f"wrote {table.num_rows} rows ending {args.end.isoformat()} to {args.out}")


if __name__ == "__main__":
    main()
