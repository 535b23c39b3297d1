"""The Serving page: which commit each view serves in each branch namespace, its lag
behind the branch head, the last materializations, and lookup traffic as charts."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.responses import Response

from featurestore.server import _calls
from featurestore.server.ui import _charts
from featurestore.server.ui._pages import Page, page
from featurestore.server.ui._traffic import Interval, sampler_for

RECENT_RUNS = 20
"""Materializations started from the UI that the page lists (newest first)."""


@dataclass(frozen=True)
class Run:
    """A materialization started from the UI: who asked, from which ref, what it wrote."""

    at: datetime
    role: str
    ref: str
    results: list[dict[str, Any]]


def recent_runs(service: object) -> deque[Run]:
    """The service's list of the UI's recent materializations (made on first use)."""
    runs: deque[Run] | None = getattr(service, "ui_runs", None)
    if runs is None:
        runs = deque(maxlen=RECENT_RUNS)
        service.ui_runs = runs  # type: ignore[attr-defined]
    return runs


def _charts_of(intervals: list[Interval]) -> dict[str, Any]:
    times = [i.end for i in intervals]
    qps = _charts.line("lookups per second", times, [[i.qps for i in intervals]], "req/s")
    latency = _charts.line(
        "lookup latency",
        times,
        [
            [None if i.p50_s is None else i.p50_s * 1000 for i in intervals],
            [None if i.p99_s is None else i.p99_s * 1000 for i in intervals],
        ],
        "ms",
    )
    total = sum(i.requests for i in intervals)
    return {"qps_chart": qps, "latency_chart": latency, "sampled_requests": total}


@page("/serving", "serving", nav="Serving", order=60, online=True)
def serving(p: Page) -> Response:
    """Every online view per namespace (``online_status``, as ``GET /online-status``)."""
    sampler = sampler_for(p.service)
    status = _calls.online_status(p.store)["views"]
    namespaces: dict[str, list[dict[str, Any]]] = {}
    for row in status:
        namespaces.setdefault(row.get("namespace") or p.default_branch, []).append(row)
    intervals = sampler.intervals()
    return p.render(
        "serving.html",
        namespaces=namespaces,
        runs=list(recent_runs(p.service))[::-1],
        intervals=intervals[-12:][::-1],
        interval_s=sampler.interval_s,
        can_materialize=p.can("writer"),
        time_label=_charts.time_label,
        **_charts_of(intervals),
    )
