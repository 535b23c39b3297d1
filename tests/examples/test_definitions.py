"""The example projects load, and the fraud score is model.py's logistic."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from featurestore.project import load_definitions

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _by_name(objects: list[Any]) -> dict[str, Any]:
    return {f"{type(o).__name__}:{o.name}": o for o in objects}


def test_driver_stats_definitions_load() -> None:
    found = _by_name(load_definitions(EXAMPLES / "driver_stats"))
    view = found["FeatureView:driver_hourly_stats"]
    assert [f.name for f in view.schema] == ["conv_rate", "acc_rate", "avg_daily_trips"]
    assert view.ttl.total_seconds() == 86_400
    assert "PushSource:driver_stats_push_source" in found
    assert "RequestSource:vals_to_add" in found
    assert "FeatureService:driver_activity" in found
    odfv = found["OnDemandFeatureView:conv_rate_plus_val"]
    out = odfv.udf(pd.DataFrame({"conv_rate": [0.5, None], "val_to_add": [2, 3]}))
    assert out["conv_rate_plus_val"].iloc[0] == pytest.approx(2.5)
    assert pd.isna(out["conv_rate_plus_val"].iloc[1])


def test_fraud_definitions_load_and_score_like_the_model() -> None:
    found = _by_name(load_definitions(EXAMPLES / "fraud"))
    view = found["FeatureView:card_activity"]
    assert sorted(a.name for a in view.aggregations) == sorted(
        f"amount_{fn}_{w}" for w in ("1h", "1d", "7d") for fn in ("count", "sum")
    )
    spec = importlib.util.spec_from_file_location("_fraud_model", EXAMPLES / "fraud" / "model.py")
    assert spec is not None and spec.loader is not None
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    inputs = pd.DataFrame(
        {
            "amount_count_1h": [0, 8, None],
            "amount_sum_1h": [0.0, 800.0, None],
            "amount_count_1d": [3, 9, None],
            "amount_sum_1d": [90.0, 900.0, None],
            "amount_count_7d": [20, 30, None],
            "amount_sum_7d": [600.0, 1200.0, None],
            "amount": [30.0, 400.0, 50.0],
        }
    )
    out = found["OnDemandFeatureView:fraud_scoring"].udf(inputs)
    import math

    for i, row in inputs.iterrows():
        avg = row["amount_sum_7d"] / row["amount_count_7d"] if row["amount_count_7d"] else None
        ratio = row["amount"] / avg if avg else None
        expected = model.score(
            {
                "txn_count_1h": row["amount_count_1h"],
                "txn_count_1d": row["amount_count_1d"],
                "amount_ratio_7d": ratio,
                "log_amount": math.log1p(row["amount"]),
            }
        )
        assert out["fraud_score"].iloc[i] == pytest.approx(expected)
    assert out["fraud_score"].iloc[1] > 0.9 > 0.2 > out["fraud_score"].iloc[0]
