"""Health checks that answer within a budget, whatever a dependency does.

Each check (the metadata database, the online store) runs in a thread of its own; a
check still running from an earlier request is awaited again rather than started
twice, so a stalled dependency holds one thread, not one per request. A check that
does not finish within the budget is reported down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from featurestore.server._errors import public_message

if TYPE_CHECKING:
    from featurestore import FeatureStore

__all__ = ["HEALTH_BUDGET_S", "HealthChecks"]

HEALTH_BUDGET_S = 0.8
"""How long ``/health`` waits for its checks before calling the slow ones down."""

_WHAT = {"metadata": "the metadata database", "online_store": "the online store (Redis)"}


def _metadata(store: FeatureStore) -> bool:
    store.resolve()
    return True


def _online(store: FeatureStore) -> bool:
    return bool(store.online_store.ping())


def _retrieve(future: asyncio.Future[bool]) -> None:
    """Mark a late check's error as seen (it was reported as a timeout)."""
    if not future.cancelled():
        future.exception()


class HealthChecks:
    """The store's checks, run concurrently and coalesced across requests."""

    def __init__(self, store: FeatureStore, places: list[tuple[str, str]]) -> None:
        self._checks: dict[str, Callable[[FeatureStore], bool]] = {
            "metadata": _metadata,
            "online_store": _online,
        }
        self._store = store
        self._places = places
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=len(self._checks), thread_name_prefix="featurestore-health"
        )
        self._running: dict[str, concurrent.futures.Future[bool]] = {}
        self._lock = threading.Lock()

    def _future(self, name: str) -> concurrent.futures.Future[bool]:
        with self._lock:
            running = self._running.get(name)
            if running is None or running.done():
                running = self._pool.submit(self._checks[name], self._store)
                self._running[name] = running
            return running

    async def run(self, budget: float = HEALTH_BUDGET_S) -> tuple[bool, dict[str, Any]]:
        """Whether all checks pass, and the JSON body that says which are down and why."""
        futures = {name: asyncio.wrap_future(self._future(name)) for name in self._checks}
        for future in futures.values():
            future.add_done_callback(_retrieve)
        await asyncio.wait(futures.values(), timeout=budget)
        checks: dict[str, bool] = {}
        down: dict[str, str] = {}
        for name, future in futures.items():
            what = _WHAT[name]
            if not future.done():
                checks[name] = False
                down[name] = f"{what} did not answer within {budget:g} s"
                continue
            error = future.exception()
            if error is not None:
                checks[name] = False
                message = public_message(str(error) or type(error).__name__, self._places)
                down[name] = f"{what} failed: {message}"
            elif not future.result():
                checks[name] = False
                down[name] = f"{what} did not answer"
            else:
                checks[name] = True
        healthy = not down
        body: dict[str, Any] = {"status": "ok" if healthy else "unhealthy", "checks": checks}
        if down:
            body["down"] = down
        return healthy, body

    def close(self) -> None:
        """Stop the check threads without waiting for a stalled one."""
        self._pool.shutdown(wait=False, cancel_futures=True)
