"""Random driver-stats rows around a time ``T``, with ties and ttl edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

TS = pa.timestamp("us", tz="UTC")
TTL = timedelta(hours=1)
US = timedelta(microseconds=1)


def time_t() -> datetime:
    """An hour ahead of the wall clock: no key written around ``T - ttl`` expires in Redis
    during a test, so lookups at ``now=T`` see exactly the ttl window."""
    return (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


# Offsets before T: ttl edges (inside, on, just outside), T itself, after T, and anything.
EDGES = [-timedelta(seconds=5), -US, timedelta(0), US, TTL - US, TTL, TTL + US, 2 * TTL]
offsets = st.one_of(
    st.sampled_from(EDGES),
    st.integers(-600, 3 * 3600).map(lambda s: timedelta(seconds=s)),
)


@st.composite
def rows(draw: st.DrawFn, drivers: int = 6, max_rows: int = 40) -> list[dict[str, Any]]:
    """Rows for drivers 1..``drivers`` as offsets; some repeat an event time (a tie)
    with another created time and other values. No two rows share (driver, e, created)."""
    n = draw(st.integers(1, max_rows))
    out: list[dict[str, Any]] = []
    seen: set[tuple[int, timedelta, int]] = set()
    for _ in range(n):
        if out and draw(st.integers(0, 4)) == 0:
            base = draw(st.sampled_from(out))
            driver, offset = base["driver_id"], base["offset"]
        else:
            driver, offset = draw(st.integers(1, drivers)), draw(offsets)
        created = draw(st.integers(0, 3))
        if (driver, offset, created) in seen:
            continue
        seen.add((driver, offset, created))
        out.append(
            {
                "driver_id": driver,
                "offset": offset,
                "created_s": created,
                "conv_rate": draw(st.floats(0, 1, width=32)),
                "acc_rate": draw(st.one_of(st.none(), st.floats(0, 1))),
                "trips": draw(st.one_of(st.none(), st.integers(-(2**40), 2**40))),
                "city": draw(st.one_of(st.none(), st.text("abcé", max_size=4))),
            }
        )
    return out


def to_table(spec: list[dict[str, Any]], t: datetime) -> pa.Table:
    """The rows with event time ``t - offset`` and created time ``event + created_s``."""
    events = [t - r["offset"] for r in spec]
    return pa.table(
        {
            "driver_id": pa.array([r["driver_id"] for r in spec], pa.int64()),
            "event_ts": pa.array(events, TS),
            "created": pa.array(
                [e + timedelta(seconds=r["created_s"]) for e, r in zip(events, spec, strict=True)],
                TS,
            ),
            "conv_rate": pa.array([r["conv_rate"] for r in spec], pa.float32()),
            "acc_rate": pa.array([r["acc_rate"] for r in spec], pa.float64()),
            "trips": pa.array([r["trips"] for r in spec], pa.int64()),
            "city": pa.array([r["city"] for r in spec], pa.string()),
        }
    )
