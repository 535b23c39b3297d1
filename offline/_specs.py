"""What to join or aggregate: plain frozen descriptions that the engine turns into SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

__all__ = ["AggFunction", "AsOfSpec", "WindowAgg", "WindowSpec"]

AggFunction = Literal["count", "sum", "mean", "min", "max", "stddev", "last"]
_FUNCTIONS: frozenset[str] = frozenset(get_args(AggFunction))


def _frozen_map(value: Mapping[str, str], what: str, *, empty: bool = False) -> Mapping[str, str]:
    if not value and not empty:
        raise ValueError(f"{what} is empty; give at least one entry")
    return dict(value)


@dataclass(frozen=True)
class AsOfSpec:
    """One table to join point-in-time onto the entity rows.

    ``keys`` maps entity columns to table columns (none: the table holds one global
    row per time, joined to every entity row), ``columns`` maps output names to
    table columns. For each entity row at t the row with the greatest event time e,
    ``t - ttl <= e <= t``, wins; ties on e go to the greatest created time.
    """

    files: Sequence[str]
    keys: Mapping[str, str]
    event_ts: str
    columns: Mapping[str, str]
    created_ts: str | None = None
    ttl: timedelta | None = None
    exclude_created_after: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "keys", _frozen_map(self.keys, "AsOfSpec.keys", empty=True))
        object.__setattr__(self, "columns", _frozen_map(self.columns, "AsOfSpec.columns"))
        if self.ttl is not None and self.ttl < timedelta(0):
            raise ValueError(f"AsOfSpec.ttl must not be negative, got {self.ttl}")
        if self.exclude_created_after and self.created_ts is None:
            raise ValueError("exclude_created_after needs created_ts; name the created column")


@dataclass(frozen=True)
class WindowAgg:
    """One aggregate over a trailing window: the value at t covers ``t - window < e <= t``."""

    output: str
    function: AggFunction
    column: str
    window: timedelta

    def __post_init__(self) -> None:
        if self.function not in _FUNCTIONS:
            raise ValueError(
                f"unknown aggregation {self.function!r}; use one of {sorted(_FUNCTIONS)}"
            )
        if self.window <= timedelta(0):
            raise ValueError(f"window of {self.output!r} must be positive, got {self.window}")


@dataclass(frozen=True)
class WindowSpec:
    """Windowed aggregates of one table, keyed like :class:`AsOfSpec`.

    ``created_ts`` only breaks ties on event time for ``last``.
    """

    files: Sequence[str]
    keys: Mapping[str, str]
    event_ts: str
    aggregations: Sequence[WindowAgg]
    created_ts: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "keys", _frozen_map(self.keys, "WindowSpec.keys"))
        object.__setattr__(self, "aggregations", tuple(self.aggregations))
        if not self.aggregations:
            raise ValueError("WindowSpec.aggregations is empty; give at least one WindowAgg")
        outputs = [a.output for a in self.aggregations]
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"WindowSpec has duplicate output names: {outputs}")
