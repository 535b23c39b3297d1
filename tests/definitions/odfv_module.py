"""On-demand views whose functions use module-level names (imported by test_on_demand)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from definitions_sample import request, stats
from scaling import scale_of

from featurestore.definitions import Field, on_demand_feature_view
from featurestore.types import Float64

OFFSETS = {"low": 0.5, "high": [1.5, 2.5]}
UNSTORABLE = object()


@on_demand_feature_view(
    sources=[stats[["conv_rate", "avg_daily_trips"]], request],
    schema=[Field(name="log_trips", dtype=Float64), Field(name="scaled", dtype=Float64)],
    name="uses_module_level",
)
def uses_module_level_names(inputs: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=inputs.index)
    out["log_trips"] = [math.log1p(t) for t in inputs["avg_daily_trips"]]
    out["scaled"] = inputs["conv_rate"] * scale_of(inputs["val_to_add"]) + OFFSETS["low"]
    return out


@on_demand_feature_view(
    sources=[stats[["conv_rate"]], request],
    schema=[Field(name="total", dtype=Float64)],
    mode="python",
)
def python_mode(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {
        "total": [c + v for c, v in zip(inputs["conv_rate"], inputs["val_to_add"], strict=True)]
    }
