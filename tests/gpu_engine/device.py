"""Which device the array engine's tests run on: ``cpu`` (NumPy) unless
``FEATURESTORE_TEST_ARRAY_DEVICE=cuda`` (benchmarks/gpu_check.sh sets it on a GPU machine)."""

from __future__ import annotations

import os
from typing import Literal, cast

Device = Literal["cuda", "cpu"]


def array_device() -> Device:
    """The device named by ``FEATURESTORE_TEST_ARRAY_DEVICE`` (default ``cpu``)."""
    value = os.environ.get("FEATURESTORE_TEST_ARRAY_DEVICE", "cpu")
    if value not in ("cuda", "cpu"):
        raise ValueError(f"FEATURESTORE_TEST_ARRAY_DEVICE={value!r}; use cuda or cpu")
    return cast(Device, value)
