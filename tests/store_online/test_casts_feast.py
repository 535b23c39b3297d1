"""Casts of pushed data against Feast 0.67 as the oracle, where Feast defines them.

The same view (``rate: Float32``, ``small: Int32`` behind a push source) in Feast (sqlite
online store) and in ours (Valkey): what Feast takes we take with the same values read
back; what Feast refuses we refuse. Where Feast silently changes a value (``1.5`` for an
``Int32`` becomes ``1``) we refuse instead, naming the column and row: that difference
is deliberate and listed in the README.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("feast")
import feast
from feast.data_source import PushMode

import featurestore as fs
from tests.feast_oracle import local_feast_store

NOW = datetime.now(UTC).replace(microsecond=0)
REFS = ["fv:rate", "fv:small"]


def _feast(tmp: Path) -> feast.FeatureStore:
    seed = pd.DataFrame(
        {
            "driver_id": [1],
            "event_timestamp": [NOW - timedelta(hours=1)],
            "rate": [0.5],
            "small": [1],
        }
    ).astype({"rate": "float32", "small": "int32"})
    seed.to_parquet(tmp / "d.parquet")
    store = local_feast_store(tmp, "casts")
    driver = feast.Entity(name="driver", join_keys=["driver_id"], value_type=feast.ValueType.INT64)
    source = feast.FileSource(
        name="src", path=str(tmp / "d.parquet"), timestamp_field="event_timestamp"
    )
    push = feast.PushSource(name="ps", batch_source=source)
    view = feast.FeatureView(
        name="fv",
        entities=[driver],
        ttl=timedelta(days=1),
        source=push,
        schema=[
            feast.Field(name="rate", dtype=feast.types.Float32),
            feast.Field(name="small", dtype=feast.types.Int32),
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store.apply([driver, source, push, view])
    return store


def _ours(new_store: Callable[..., fs.FeatureStore]) -> fs.FeatureStore:
    store = new_store()
    driver = fs.Entity(name="driver", join_keys=["driver_id"], value_type=fs.Int64)
    source = fs.TableSource(name="src", timestamp_field="event_timestamp")
    push = fs.PushSource(name="ps", batch_source=source)
    view = fs.FeatureView(
        name="fv",
        entities=[driver],
        ttl=timedelta(days=1),
        source=push,
        schema=[fs.Field(name="rate", dtype=fs.Float32), fs.Field(name="small", dtype=fs.Int32)],
    )
    store.apply([driver, source, push, view])
    store.commit("definitions")
    return store


CASES: list[tuple[str, dict[str, list[Any]]]] = [
    ("float64 and int64", {"rate": [0.1], "small": [3]}),
    ("numeric text", {"rate": ["0.25"], "small": [3]}),
    ("naive time", {"rate": [0.5], "small": [4], "event_timestamp": [NOW.replace(tzinfo=None)]}),
    ("int32 overflow", {"rate": [0.1], "small": [2**40]}),
    ("text that is no number", {"rate": ["abc"], "small": [1]}),
]


def _push(store: Any, i: int, columns: dict[str, list[Any]], mode: Any) -> dict[str, Any] | str:
    frame = pd.DataFrame({"driver_id": [100 + i], "event_timestamp": [NOW], **columns})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            store.push("ps", frame, to=mode)
            got = store.get_online_features(REFS, [{"driver_id": 100 + i}]).to_dict()
    except Exception as e:
        return type(e).__name__
    return dict(got)


def test_pushes_are_taken_or_refused_as_feast_takes_or_refuses_them(
    tmp_path: Path, new_store: Callable[..., fs.FeatureStore]
) -> None:
    theirs, ours = _feast(tmp_path), _ours(new_store)
    for i, (name, columns) in enumerate(CASES):
        want = _push(theirs, i, columns, PushMode.ONLINE)
        got = _push(ours, i, columns, fs.PushMode.ONLINE)
        if isinstance(want, str):
            assert got == "SchemaError", (name, want, got)
            continue
        assert isinstance(got, dict), (name, got)
        assert got["driver_id"] == want["driver_id"], name
        assert got["small"] == want["small"], name
        assert math.isclose(got["rate"][0], want["rate"][0], rel_tol=1e-7), name


def test_a_fraction_for_an_integer_is_refused_where_feast_truncates_it(
    tmp_path: Path, new_store: Callable[..., fs.FeatureStore]
) -> None:
    columns = {"rate": [0.1], "small": [1.5]}
    assert _push(_feast(tmp_path), 9, columns, PushMode.ONLINE) == {
        "driver_id": [109],
        "small": [1],
        "rate": [pytest.approx(0.1, rel=1e-7)],
    }
    with pytest.raises(fs.SchemaError, match=r"column 'small' row 0 holds 1\.5"):
        _ours(new_store).push("ps", {"driver_id": [109], "event_timestamp": [NOW], **columns})
