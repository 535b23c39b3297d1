"""Timestamps in one form: timestamp[us, UTC]; naive values are taken as UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["UTC_US", "is_time", "micros", "to_utc_us", "utc_datetime"]

UTC_US = pa.timestamp("us", tz="UTC")


def is_time(t: pa.DataType) -> bool:
    """Whether values of type ``t`` can be read as instants."""
    return bool(pa.types.is_timestamp(t) or pa.types.is_date(t))


def to_utc_us(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Cast timestamps or dates to timestamp[us, UTC]; naive values are UTC.

    Sub-microsecond digits are truncated: stored times are microseconds, so
    ``e <= t`` is unchanged by it.
    """
    t = arr.type
    if pa.types.is_date(t):
        arr = pc.cast(arr, pa.timestamp("us"))
        t = arr.type
    if not pa.types.is_timestamp(t):
        raise TypeError(f"expected a timestamp, found {t}")
    if t.unit != "us":
        arr = pc.cast(arr, pa.timestamp("us", tz=t.tz), safe=False)
    # Arrow stores tz-aware values as UTC instants; naive ones become UTC unchanged.
    return arr.cast(UTC_US)


def utc_datetime(value: datetime) -> datetime:
    """A datetime in UTC; a naive one is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def micros(delta: timedelta) -> int:
    """A timedelta as whole microseconds."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
