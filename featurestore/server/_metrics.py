"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request counts, latency histograms and errors, per endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "featurestore_http_requests",
            "HTTP requests answered, by endpoint, method and status.",
            ("endpoint", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "featurestore_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint.",
            ("endpoint",),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "featurestore_http_errors",
            "HTTP requests answered with an error, by endpoint and error code.",
            ("endpoint", "code"),
            registry=self.registry,
        )
        self.entities = Histogram(
            "featurestore_online_entities_per_request",
            "Entity rows per online lookup.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def watch_serving_log(self, dropped: Callable[[], float], queued: Callable[[], float]) -> None:
        """Export the serving log's queue: lookups not logged as it was full, rows waiting."""
        Gauge(
            "featurestore_serving_log_dropped_lookups",
            "Lookups the serving log dropped since start (its queue was full, mostly).",
            registry=self.registry,
        ).set_function(dropped)
        Gauge(
            "featurestore_serving_log_queued_rows",
            "Serving log rows waiting in memory for the next flush.",
            registry=self.registry,
        ).set_function(queued)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        key = (endpoint, method, status)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds its key on every call
            children = (
                self.requests.labels(endpoint, method, str(status)),
                self.latency.labels(endpoint),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def error(self, endpoint: str, code: str) -> None:
        """Record one error answer."""
        self.errors.labels(endpoint, code).inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
