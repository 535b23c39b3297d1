"""Names, types and durations are matched whole (a trailing newline is refused), and a
view's ttl is None, 0 (no ttl) or at least a millisecond."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from featurestore import (
    DefinitionError,
    Entity,
    FeatureView,
    Field,
    Float64,
    Int64,
    TableSource,
)
from featurestore.config import StoreConfig
from featurestore.definitions.durations import parse_duration
from featurestore.definitions.serialization import to_dict
from featurestore.types import parse_type

DRIVER = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
SOURCE = TableSource(name="stats", timestamp_field="ts")


def _view(**kw: object) -> FeatureView:
    args: dict[str, object] = {
        "name": "v",
        "entities": [DRIVER],
        "schema": [Field(name="x", dtype=Float64)],
        "source": SOURCE,
    }
    args.update(kw)
    return FeatureView(**args)  # type: ignore[arg-type]


BAD: list[tuple[str, Callable[[], object]]] = [
    ("entity name", lambda: Entity(name="driver\n", join_keys=["driver_id"])),
    ("join key", lambda: Entity(name="driver", join_keys=["driver_id\n"])),
    ("view name", lambda: _view(name="v\n")),
    ("field name", lambda: Field(name="x\n", dtype=Float64)),
    ("source name", lambda: TableSource(name="stats\n", timestamp_field="ts")),
    ("table path", lambda: TableSource(name="stats", table="raw/stats\n", timestamp_field="ts")),
    ("type", lambda: parse_type("Int64\n")),
    ("array type", lambda: parse_type("Array(Int64)\n")),
    ("duration", lambda: parse_duration("1h\n")),
    ("duration in other digits", lambda: parse_duration("\u0661h")),
    ("duration of 5000 digits", lambda: parse_duration("9" * 5000 + "us")),
]


@pytest.mark.parametrize(("case", "build"), BAD, ids=[b[0] for b in BAD])
def test_a_trailing_newline_or_odd_digits_are_refused(
    case: str, build: Callable[[], object]
) -> None:
    with pytest.raises(DefinitionError):
        build()


def test_project_names_are_matched_whole_too() -> None:
    with pytest.raises(ValueError):
        StoreConfig(project="proj\n")


@pytest.mark.parametrize("ttl", [timedelta(microseconds=1), timedelta(microseconds=999)])
def test_a_ttl_under_a_millisecond_is_refused(ttl: timedelta) -> None:
    with pytest.raises(DefinitionError, match="under a millisecond"):
        _view(ttl=ttl)


def test_a_zero_ttl_means_no_ttl_and_round_trips() -> None:
    view = _view(ttl=timedelta(0))
    assert view.ttl is None
    assert _view(ttl=timedelta(milliseconds=1)).ttl == timedelta(milliseconds=1)
    with pytest.raises(DefinitionError, match="positive"):
        _view(ttl=timedelta(seconds=-1))
    assert to_dict(view)["ttl"] is None
