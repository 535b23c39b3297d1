"""Exact, readable durations: ``1h``, ``7d``, ``90s``, ``250ms``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from featurestore.errors import DefinitionError

__all__ = ["format_duration", "parse_duration"]

_UNITS: Final = (
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("m", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
)
_US: Final = dict(_UNITS)
_DURATION_RE: Final = re.compile(r"(-?[0-9]+)(d|h|m|s|ms|us)")


def _micros(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds


def format_duration(value: timedelta) -> str:
    """The duration in the largest unit that divides it exactly (``timedelta(hours=2)`` -> ``2h``)."""
    us = _micros(value)
    if us == 0:
        return "0s"
    for unit, size in _UNITS:
        if us % size == 0:
            return f"{us // size}{unit}"
    raise AssertionError("unreachable: every duration is a whole number of microseconds")


def parse_duration(text: str) -> timedelta:
    """The inverse of ``format_duration``."""
    match = _DURATION_RE.fullmatch(text)
    if not match:
        raise DefinitionError(f"{text!r} is not a duration such as '1h', '7d' or '30s'")
    try:
        return timedelta(microseconds=int(match.group(1)) * _US[match.group(2)])
    except (ValueError, OverflowError):
        raise DefinitionError(
            f"duration {text[:40]!r} is too long: use at most 999999999 days"
        ) from None
