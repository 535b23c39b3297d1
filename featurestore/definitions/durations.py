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
_DURATION_RE: Final = re.compile(r"^(-?\d+)(d|h|m|s|ms|us)$")


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
    match = _DURATION_RE.match(text)
    if not match:
        raise DefinitionError(f"{text!r} is not a duration such as '1h', '7d' or '30s'")
    return timedelta(microseconds=int(match.group(1)) * _US[match.group(2)])
