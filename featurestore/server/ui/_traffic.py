"""Lookup traffic over time, sampled from the service's own Prometheus metrics.

The metrics hold totals (a request counter and a latency histogram per endpoint);
``TrafficSampler`` reads them every ``interval_s`` seconds and keeps, in a ring buffer,
each interval's requests per second and latency quantiles (estimated from the
histogram's bucket counts within the interval, as Prometheus' ``histogram_quantile``
does). A daemon thread samples; it ends when the metrics object is gone or ``stop``.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from featurestore.server._metrics import Metrics

__all__ = ["Interval", "TrafficSampler", "quantile", "sampler_for"]

LOOKUP_ENDPOINTS = ("get_online_features",)
HISTOGRAM = "featurestore_http_request_duration_seconds"
_MAKING = threading.Lock()


@dataclass(frozen=True)
class Interval:
    """One sampling interval ending at ``end`` (epoch seconds)."""

    end: float
    seconds: float
    requests: int
    p50_s: float | None
    p99_s: float | None

    @property
    def qps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def quantile(q: float, buckets: Sequence[tuple[float, int]]) -> float | None:
    """The ``q`` quantile of a histogram given as ``(upper bound, cumulative count)``
    pairs (the last bound may be ``inf``), interpolated within its bucket; None when
    the histogram is empty."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # above the last finite bound: its edge is what is known
            inside = count - below
            share = (rank - below) / inside if inside else 0.0
            return lower + (bound - lower) * share
        lower, below = bound, count
    return lower


def _snapshot(metrics: Metrics, endpoints: Iterable[str]) -> dict[float, int]:
    """Cumulative latency bucket counts (upper bound -> count) summed over ``endpoints``."""
    wanted = set(endpoints)
    out: dict[float, int] = {}
    for family in metrics.registry.collect():
        if family.name != HISTOGRAM:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_bucket") or sample.labels.get("endpoint") not in wanted:
                continue
            bound = float(sample.labels["le"])
            out[bound] = out.get(bound, 0) + int(sample.value)
    return out


class TrafficSampler:
    """A ring buffer of per-interval lookup rates and latency quantiles."""

    def __init__(
        self,
        metrics: Metrics,
        endpoints: Sequence[str] = LOOKUP_ENDPOINTS,
        interval_s: float = 5.0,
        keep: int = 180,
    ) -> None:
        self._metrics = weakref.ref(metrics)
        self.endpoints = tuple(endpoints)
        self.interval_s = interval_s
        self._intervals: deque[Interval] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._last: tuple[float, dict[float, int]] = (time.time(), _snapshot(metrics, endpoints))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> Interval | None:
        """Close the current interval now and keep it (None once the metrics are gone)."""
        metrics = self._metrics()
        if metrics is None:
            return None
        now, counts = time.time(), _snapshot(metrics, self.endpoints)
        with self._lock:
            then, before = self._last
            self._last = (now, counts)
            delta = sorted((b, c - before.get(b, 0)) for b, c in counts.items())
            requests = delta[-1][1] if delta else 0
            interval = Interval(
                now, now - then, requests, quantile(0.5, delta), quantile(0.99, delta)
            )
            self._intervals.append(interval)
        return interval

    def intervals(self) -> list[Interval]:
        """The kept intervals, oldest first."""
        with self._lock:
            return list(self._intervals)

    def start(self) -> None:
        """Sample every ``interval_s`` seconds in a daemon thread (once)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="featurestore-ui-traffic", daemon=True
            )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.sample() is None:
                return

    def stop(self) -> None:
        self._stop.set()


def sampler_for(service: object) -> TrafficSampler:
    """The service's sampler, made and started on first use."""
    with _MAKING:
        sampler: TrafficSampler | None = getattr(service, "ui_traffic", None)
        if sampler is None:
            sampler = TrafficSampler(service.metrics)  # type: ignore[attr-defined]
            service.ui_traffic = sampler  # type: ignore[attr-defined]
            sampler.start()
    return sampler
