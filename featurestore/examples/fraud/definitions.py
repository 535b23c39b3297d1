"""Card transactions: windowed aggregates per card, and a fraud score computed at
lookup time from the stored aggregates and the amount of the transaction being scored."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from featurestore import (
    Aggregation,
    Bool,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float64,
    Int64,
    PushSource,
    RequestSource,
    String,
    TableSource,
    on_demand_feature_view,
)

card = Entity(
    name="card", join_keys=["card_id"], value_type=Int64, description="A payment card, by id."
)

transaction = Entity(
    name="transaction",
    join_keys=["transaction_id"],
    value_type=Int64,
    description="One card transaction, by id.",
)

transactions = TableSource(
    name="transactions",
    timestamp_field="event_timestamp",
)

# transactions pushed as they happen land in the same table and are counted at once
transactions_push = PushSource(name="transactions_push", batch_source=transactions)

WINDOWS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}

card_activity = FeatureView(
    name="card_activity",
    entities=[card],
    source=transactions_push,
    schema=[Field(name="amount", dtype=Float64)],
    aggregations=[
        Aggregation(column="amount", function=function, time_window=window)
        for window in WINDOWS.values()
        for function in ("count", "sum")
    ],
    ttl=timedelta(days=7),
)

# What is known about each transaction itself: its merchant category and the label
# (is_fraud) a model is trained on; join it to a training set by transaction_id.
transaction_labels = FeatureView(
    name="transaction_labels",
    entities=[transaction],
    source=transactions,
    schema=[
        Field(name="merchant_category", dtype=String),
        Field(name="is_fraud", dtype=Bool),
    ],
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
    """The amount against the card's 7-day average, and the model of model.py scored.

    On-demand functions are stored as source code and run with only pandas and numpy,
    so the weights of model.py are written out here; a test keeps the two equal.
    """
    amount = inputs["amount"].astype("float64").to_numpy()
    count_7d = inputs["amount_count_7d"].astype("float64").to_numpy()
    sum_7d = inputs["amount_sum_7d"].astype("float64").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(count_7d > 0, amount / (sum_7d / count_7d), np.nan)
    z = (
        -4.0
        + 0.6 * np.nan_to_num(inputs["amount_count_1h"].astype("float64").to_numpy())
        + 0.05 * np.nan_to_num(inputs["amount_count_1d"].astype("float64").to_numpy())
        + 0.8 * np.where(np.isnan(ratio), 1.0, ratio)
        + 0.3 * np.log1p(np.maximum(np.nan_to_num(amount), 0.0))
    )
    out = pd.DataFrame(index=inputs.index)
    out["amount_ratio_7d"] = ratio
    out["fraud_score"] = 1.0 / (1.0 + np.exp(-z))
    return out


fraud_service = FeatureService(name="fraud_service", features=[card_activity, fraud_scoring])
