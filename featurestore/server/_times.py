"""Timestamps in request bodies, read as Feast's server reads them.

Feast parses ``start_ts`` / ``end_ts`` with ``dateutil.parser.parse`` and takes a naive
result as UTC: ``2025-01-01T00:00:00``, ``2025-01-01 00:00:00+02:00``,
``2025-01-01T00:00:00Z`` and ``2025-01-01`` all work; so they do here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from featurestore.server._errors import HTTPError

__all__ = ["parse_time"]

_LONGEST = 64
"""Longer text is no timestamp; refused before the parser sees it."""


def parse_time(value: object, what: str) -> datetime:
    """``value`` as an aware datetime (naive means UTC); 400 when it is no timestamp."""
    from dateutil import parser

    if not isinstance(value, str) or not value.strip() or len(value) > _LONGEST:
        raise HTTPError(
            400,
            "bad_request",
            f"`{what}` must be a timestamp such as 2025-01-01T00:00:00Z or "
            "2025-01-01 00:00:00+02:00 (naive means UTC)",
        )
    try:
        parsed: datetime = parser.parse(value)
    except (ValueError, OverflowError, TypeError):
        raise HTTPError(
            400,
            "bad_request",
            f"`{what}` is not a valid timestamp: {value!r}; use ISO 8601 such as "
            "2025-01-01T00:00:00Z",
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise HTTPError(400, "bad_request", f"`{what}` is out of range: {value!r}") from None
