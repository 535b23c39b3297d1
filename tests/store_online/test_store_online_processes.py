"""Other processes: concurrent push and materialize, SIGKILL mid-run, Redis stopped mid-run."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import redis

import featurestore as fs
import online
from tests.store_online.conftest import make_store
from tests.store_online.data import TS
from tests.store_online.defs import definitions
from tests.store_online.workers import materialize_rounds, materialize_then_hang, push_rounds

FEATURES = ["stats:conv_rate", "stats:trips"]


def stats(ids: np.ndarray, events: np.ndarray, trips: np.ndarray) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "driver_id": pa.array(ids, pa.int64()),
            "event_ts": pa.array(events, TS),
            "created": pa.array(events, TS),
            "conv_rate": pa.array(trips / 1000, pa.float32()),
            "acc_rate": pa.array(np.zeros(n)),
            "trips": pa.array(trips, pa.int64()),
            "city": pa.array(["x"] * n, pa.string()),
        }
    )


def micros(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000


def test_newest_wins_between_push_and_materialize(
    new_store: Callable[..., fs.FeatureStore],
) -> None:
    store = new_store()
    store.apply(definitions(ttl=None))
    now = datetime.now(UTC).replace(microsecond=0)
    n = 3000
    ids = np.arange(n, dtype=np.int64)
    new, old = micros(now), micros(now - timedelta(hours=1))
    even = ids % 2 == 0
    # materialization has the newest rows of even drivers, the push those of odd drivers
    store.ingest("stats_src", stats(ids, np.where(even, new, old), ids * 2))
    commit = store.commit("rows").id
    pushed = stats(ids, np.where(even, old, new), ids * 2 + 1)
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    path = str(store.config.project_dir)
    procs = [
        ctx.Process(target=materialize_rounds, args=(path, now, 4, go)),
        ctx.Process(target=push_rounds, args=(path, pushed, 4, go)),
    ]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    response = store.get_online_features(FEATURES, {"driver_id": ids.tolist()})
    assert response.to_dict()["trips"] == np.where(even, ids * 2, ids * 2 + 1).tolist()
    assert response.commits["trips"].to_pylist() == [commit if e else None for e in even]
    ts = response.event_timestamps["trips"].cast(pa.int64()).to_pylist()
    assert ts == [new] * n


def online_state(url: str, prefix: str) -> dict[bytes, Any]:
    """Every key of a project's view ``stats``: its fields and absolute expiry."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:stats:*", count=10_000))
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
            pipe.pexpiretime(key)
        replies = pipe.execute()
        return {k: (replies[2 * i], replies[2 * i + 1]) for i, k in enumerate(keys)}
    finally:
        client.close()


def test_materialization_killed_halfway_then_rerun(tmp_path: Path, redis_url: str) -> None:
    store = make_store(tmp_path / "repo", redis_url)
    prefix = store.config.project
    try:
        store.apply(definitions(ttl=timedelta(days=1)))
        end = datetime.now(UTC).replace(microsecond=0)
        n = 140_000  # the engine streams 131,072 rows per batch: two batches
        rng = np.random.default_rng(0)
        ids = np.arange(n, dtype=np.int64)
        events = micros(end) - rng.integers(0, 3600, n) * 1_000_000
        store.ingest("stats_src", stats(ids, events, rng.integers(0, 1000, n)))
        store.commit("rows")
        ctx = mp.get_context("spawn")
        wrote = ctx.Event()
        child = ctx.Process(
            target=materialize_then_hang, args=(str(store.config.project_dir), end, wrote)
        )
        child.start()
        try:
            assert wrote.wait(120)
        finally:
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(30)
        assert child.exitcode == -signal.SIGKILL
        client = redis.Redis.from_url(redis_url)
        partial = sum(1 for _ in client.scan_iter(match=f"{prefix}:stats:*", count=10_000))
        client.close()
        assert 0 < partial < n
        assert store.online_status()[0].commit_id is None  # the killed run recorded nothing

        store.materialize(None, end)
        rerun = online_state(redis_url, prefix)
        status = store.online_status()[0]
        store.online_store.delete_table("stats")
        store.online_store.delete_table("_materialization")
        store.materialize(None, end)
        clean = online_state(redis_url, prefix)
        assert len(clean) == n
        assert rerun == clean
        assert store.online_status()[0].commit_id == status.commit_id == store.resolve()
    finally:
        store.close()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.unlink(*keys)
        client.close()


def test_redis_stopped_mid_run_then_back(tmp_path: Path) -> None:
    server = online.EmbeddedRedis(tmp_path / "redis", unix_socket=True, persistence=True)
    store = make_store(tmp_path / "repo", server.url)
    try:
        store.apply(definitions(ttl=None))
        end = datetime.now(UTC).replace(microsecond=0)
        ids = np.arange(1000, dtype=np.int64)
        store.ingest("stats_src", stats(ids, np.full(1000, micros(end)), ids))
        store.commit("rows")

        def stop(_: int) -> None:
            server.stop()

        with pytest.raises(fs.BackendError, match="Redis") as info:
            store.materialize(None, end, on_rows=stop)
        assert "retry" in str(info.value)
        assert store.health()["online_store"] is False
        with pytest.raises(fs.BackendError):
            store.get_online_features(FEATURES, {"driver_id": [1]})

        server = online.EmbeddedRedis(tmp_path / "redis", unix_socket=True, persistence=True)
        assert server.url == store.config.online_store.url
        (result,) = store.materialize(None, end)
        assert result.rows_written + result.rows_stale == 1000
        response = store.get_online_features(FEATURES, {"driver_id": ids.tolist()})
        assert response.to_dict()["trips"] == ids.tolist()
        assert store.online_status()[0].commit_id == store.resolve()
    finally:
        store.close()
        server.stop()
