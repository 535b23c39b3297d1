"""Branch histories of driver_stats rows for the merge and diff tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from store_data import h

from featurestore import FeatureStore

Row = tuple[int, datetime, datetime, int, float]


def frame(rows: list[Row]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["driver_id", "event_timestamp", "created", "trips", "rate"])


def stored(store: FeatureStore, ref: str = "main") -> list[tuple[Any, ...]]:
    """The driver_stats rows at ``ref`` as sorted tuples (duplicates kept)."""
    table = store.tables.read(ref, "driver_stats")
    cols = ["driver_id", "event_timestamp", "created", "trips", "rate"]
    return sorted(zip(*(table.column(c).to_pylist() for c in cols), strict=True))


BASE: list[Row] = [
    (1001, h(1), h(1), 10, 0.1),
    (1002, h(1), h(1), 20, 0.2),
    (1003, h(2), h(2), 30, 0.3),
]


def based(store: FeatureStore, branch: str = "dev") -> None:
    """BASE committed on main, and ``branch`` made from it."""
    store.ingest("driver_stats", frame(BASE))
    store.commit("base rows")
    store.repository.branch(branch).create("main")


def upsert(store: FeatureStore, rows: list[Row], branch: str = "main") -> None:
    store.ingest("driver_stats", frame(rows), branch=branch, mode="upsert")
    store.commit(f"upsert {len(rows)} row(s)", branch=branch)


def both_upsert_1001(store: FeatureStore) -> None:
    based(store)
    upsert(store, [(1001, h(1), h(1), 11, 0.1)], branch="dev")
    upsert(store, [(1001, h(1), h(1), 12, 0.1)])
