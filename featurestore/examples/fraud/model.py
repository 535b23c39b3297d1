"""A tiny fraud model: a logistic function with fixed weights.

    score = 1 / (1 + exp(-(BIAS + sum(WEIGHTS[f] * x[f]))))

The weights are chosen by hand, not trained: many transactions in the last hour,
and an amount far above the card's 7-day average, both raise the score. A missing
input (an unknown card, no history) counts as 0, except the ratio, which counts
as 1 (an ordinary amount).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

BIAS = -4.0
WEIGHTS: dict[str, float] = {
    "txn_count_1h": 0.6,
    "txn_count_1d": 0.05,
    "amount_ratio_7d": 0.8,
    "log_amount": 0.3,
}
DEFAULTS: dict[str, float] = {"amount_ratio_7d": 1.0}


def score(inputs: Mapping[str, float | None]) -> float:
    """The fraud probability in (0, 1) for one transaction's inputs."""
    z = BIAS
    for name, weight in WEIGHTS.items():
        value = inputs.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value = DEFAULTS.get(name, 0.0)
        z += weight * float(value)
    return 1.0 / (1.0 + math.exp(-z))
