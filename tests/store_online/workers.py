"""Functions run in spawned processes by the process tests (importable by module name)."""

from __future__ import annotations

import time
from datetime import datetime
from multiprocessing.synchronize import Event

import pyarrow as pa

import featurestore as fs


def materialize_rounds(path: str, end: datetime, rounds: int, go: Event) -> None:
    """Materialize the project at ``path`` ``rounds`` times, starting when ``go`` is set."""
    with fs.FeatureStore(path) as store:
        store.online_store.ping()
        go.wait(60)
        for _ in range(rounds):
            store.materialize(None, end)


def push_rounds(path: str, table: pa.Table, rounds: int, go: Event) -> None:
    """Push ``table`` online ``rounds`` times, starting when ``go`` is set."""
    with fs.FeatureStore(path) as store:
        store.online_store.ping()
        go.wait(60)
        for _ in range(rounds):
            store.push("stats_push", table)


def materialize_then_hang(path: str, end: datetime, wrote: Event) -> None:
    """Materialize; after the first batch is written, signal ``wrote`` and wait to be killed."""

    def on_rows(_: int) -> None:
        wrote.set()
        time.sleep(120)

    with fs.FeatureStore(path) as store:
        store.materialize(None, end, on_rows=on_rows)


def materialize_ref_then_hang(
    path: str, url: str, ref: str, end: datetime, view: str, wrote: Event
) -> None:
    """Materialize ``view`` from ``ref`` (online store at ``url``); after the first batch
    is written, signal ``wrote`` and wait to be killed."""

    def on_rows(_: int) -> None:
        wrote.set()
        time.sleep(120)

    config = fs.load_config(path, env={"REDIS_URL": url})
    with fs.FeatureStore(path, config=config) as store:
        store.materialize(None, end, [view], ref=ref, on_rows=on_rows)
