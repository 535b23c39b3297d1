"""Models the scoring tests register by entry point (``tests.scoring.models:NAME``).

Each is a function of the ``rows x features`` tensor of ``driver_activity``
(conv_rate, acc_rate, avg_daily_trips, conv_rate_plus_val). The gated and slow models
block on events the tests control, so batching and deadlines are shown without timing.
"""

from __future__ import annotations

import threading

import torch

WEIGHTS = torch.tensor([2.0, -1.0, 0.01, 0.5])


def linear(x: torch.Tensor) -> torch.Tensor:
    """One score per row: a fixed weighted sum (nulls count as 0)."""
    return torch.nan_to_num(x) @ WEIGHTS


class Linear(torch.nn.Module):
    """``linear`` as a module, to be saved as TorchScript."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weights", WEIGHTS.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nan_to_num(x) @ self.weights


class Gate:
    """``linear`` whose first call waits until ``open`` is set; records each batch."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(int(x.shape[0]))
        self.entered.set()
        if not self.open.wait(60):
            raise RuntimeError("the test never opened the gate")
        return linear(x)


gated = Gate()

slow_release = threading.Event()


def slow(x: torch.Tensor) -> torch.Tensor:
    """``linear``, answered only once the test sets ``slow_release``."""
    slow_release.wait(60)
    return linear(x)


def broken(x: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("this model always fails")


def wrong_shape(x: torch.Tensor) -> torch.Tensor:
    return linear(x)[:1]
