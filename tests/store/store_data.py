"""Generated feature rows and entity frames with every point-in-time edge case."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def driver_rows(seed: int = 7) -> pd.DataFrame:
    """Driver stats with created times; ties on event time and rows at the ttl edges."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(1001, 1021):
        for _ in range(15):
            e = h(int(rng.integers(0, 48)))
            rows.append(
                (
                    d,
                    e,
                    e + timedelta(minutes=int(rng.integers(0, 30))),
                    int(rng.integers(0, 100)),
                    float(rng.random()),
                )
            )
    # ties on (driver, event): the latest created row wins, wherever it is stored
    rows += [
        (1001, h(10), h(10) + timedelta(hours=2), 555, 0.555),
        (1001, h(10), h(10) + timedelta(hours=1), 444, 0.444),
        (1002, h(20), h(20), 1, 0.1),
        (1002, h(20), h(21), 2, 0.2),
        (1002, h(20), h(20.5), 3, 0.3),
    ]
    # rows exactly at t and at t - ttl for the entity rows below
    rows += [(1030, h(30), h(30), 30, 0.3), (1031, h(24), h(24), 31, 0.31)]
    # a big integer that a float64 detour would corrupt
    rows += [(1032, h(5), h(5), 2**53 + 1, 0.5)]
    frame = pd.DataFrame(rows, columns=["driver_id", "event_timestamp", "created", "trips", "rate"])
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


def customer_rows(seed: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i % 7}" for i in range(60)],
            "event_timestamp": [h(i * 0.8) for i in range(60)],
            "spend": rng.random(60),
        }
    )


EDGE_ROWS = [
    (1001, "c1", h(10)),
    (1001, "c1", h(10)),
    (1001, "c1", h(10)),  # duplicates, at a tie
    (1002, "c2", h(20)),
    (1002, "c2", h(20.75)),
    (1030, "c3", h(30)),  # a row exactly at t
    (1031, "c4", h(30)),  # a row exactly at t - ttl
    (1031, "c4", h(30) + timedelta(microseconds=1)),  # just outside the ttl
    (9999, "zz", h(20)),  # an entity with no data at all
    (1030, "c5", h(29)),  # a known entity with no row yet
    (1032, "c6", h(6)),  # the big integer
]
EDGE_TRIPS = [555, 555, 555, 2, 2, 30, 31, None, None, None, 2**53 + 1]


def entity_frame(
    n: int = 300, seed: int = 9, edge_rows: Sequence[tuple[int, str, datetime]] = EDGE_ROWS
) -> pd.DataFrame:
    """Random entity rows (known and unknown keys), then ``edge_rows``, with a row id."""
    rng = np.random.default_rng(seed)
    ents = [
        (
            int(rng.integers(1001, 1022)),
            f"c{int(rng.integers(0, 9))}",
            h(float(rng.integers(0, 60 * 50)) / 60),
        )
        for _ in range(n)
    ]
    ents += edge_rows
    frame = pd.DataFrame(ents, columns=["driver_id", "customer_id", "event_timestamp"])
    frame["row_id"] = np.arange(len(frame))
    frame["label"] = np.arange(len(frame)) % 2 == 0
    return frame


def trip_rows(seed: int = 11, drivers: int = 8, n: int = 400) -> pd.DataFrame:
    """Trips at distinct random minutes (``last`` is exact), some fares missing."""
    rng = np.random.default_rng(seed)
    minutes = rng.choice(60 * 48, n, replace=False)
    fare = rng.normal(20, 8, n).round(2)
    fare[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "driver_id": rng.integers(1001, 1001 + drivers, n),
            "event_timestamp": [h(float(m) / 60) for m in minutes],
            "fare": fare,  # NaN reads as null
            "distance": rng.integers(1, 50, n),
        }
    )
