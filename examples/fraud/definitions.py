"""Card transactions: windowed aggregates per card, and a fraud score computed at
lookup time from the stored aggregates and the amount of the transaction being scored."""

from __future__ import annotations

import importlib.util
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from featurestore import (
    Aggregation,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float64,
    RequestSource,
    TableSource,
    on_demand_feature_view,
)


def _load_model() -> object:
    """Load model.py beside this file without touching sys.path."""
    spec = importlib.util.spec_from_file_location(
        "fraud_example_model", Path(__file__).resolve().parent / "model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


model: Any = _load_model()

card = Entity(name="card", join_keys=["card_id"], description="A payment card, by id.")

transactions = TableSource(
    name="transactions",
    timestamp_field="event_timestamp",
)

WINDOWS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}

card_activity = FeatureView(
    name="card_activity",
    entities=[card],
    source=transactions,
    schema=[Field(name="amount", dtype=Float64)],
    aggregations=[
        Aggregation(column="amount", function=function, time_window=window)
        for window in WINDOWS.values()
        for function in ("count", "sum")
    ],
    ttl=timedelta(days=7),
)

transaction_request = RequestSource(
    name="transaction_request",
    schema=[Field(name="amount", dtype=Float64)],
)


@on_demand_feature_view(
    sources=[card_activity, transaction_request],
    schema=[
        Field(name="amount_ratio_7d", dtype=Float64),
        Field(name="fraud_score", dtype=Float64),
    ],
)
def fraud_scoring(inputs: pd.DataFrame) -> pd.DataFrame:
    """The amount against the card's 7-day average, and the model's score."""
    count_7d = inputs["amount_count_7d"].astype("float64")
    avg_7d = inputs["amount_sum_7d"].astype("float64") / count_7d.where(count_7d > 0)
    ratio = inputs["amount"].astype("float64") / avg_7d
    out = pd.DataFrame()
    out["amount_ratio_7d"] = ratio
    out["fraud_score"] = [
        model.score(
            {
                "txn_count_1h": c1h,
                "txn_count_1d": c1d,
                "amount_ratio_7d": r,
                "log_amount": math.log1p(max(a, 0.0)),
            }
        )
        for c1h, c1d, r, a in zip(
            inputs["amount_count_1h"].astype("float64"),
            inputs["amount_count_1d"].astype("float64"),
            ratio,
            inputs["amount"].astype("float64"),
            strict=True,
        )
    ]
    return out


fraud_service = FeatureService(name="fraud_service", features=[card_activity, fraud_scoring])
