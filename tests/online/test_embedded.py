"""EmbeddedRedis: start, stop, persistence, reuse, and a store that outlives a restart."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import redis

import online
from tests.processes import alive

T0 = datetime(2024, 5, 1, tzinfo=UTC)
SCHEMA = pa.schema([("v", pa.int64())])


def wait_gone(pid: int) -> bool:
    for _ in range(500):
        if not alive(pid):
            return True
        time.sleep(0.01)
    return False


def write_and_read(url: str, value: int) -> list[int | None]:
    key = online.encode_entity_key(["id"], [1])
    with online.RedisOnlineStore(url) as store:
        if value:
            store.write("t", [key], pa.table({"v": [value]}), pa.array([T0]))
        (got,) = store.read([online.ReadRequest("t", [key], SCHEMA)])
    return got.column("v").to_pylist()


def test_unix_socket_server_starts_and_stops(tmp_path: Path) -> None:
    with online.EmbeddedRedis(tmp_path, persistence=False) as server:
        assert server.owned
        assert server.url == f"unix://{tmp_path / 'valkey.sock'}"
        assert write_and_read(server.url, 5) == [5]
        pid = server.pid
    assert wait_gone(pid)
    assert not (tmp_path / "valkey.sock").exists()


def test_tcp_server(tmp_path: Path) -> None:
    server = online.EmbeddedRedis(tmp_path, unix_socket=False, persistence=False)
    try:
        assert server.url.startswith("redis://127.0.0.1:")
        assert server.running
        assert write_and_read(server.url, 3) == [3]
    finally:
        server.stop()
    assert not server.running


def test_data_persists_across_restart(tmp_path: Path) -> None:
    with online.EmbeddedRedis(tmp_path) as server:
        write_and_read(server.url, 42)
    assert (tmp_path / "appendonlydir").is_dir()
    with online.EmbeddedRedis(tmp_path) as server:
        assert write_and_read(server.url, 0) == [42]


def test_without_persistence_a_restart_is_empty(tmp_path: Path) -> None:
    with online.EmbeddedRedis(tmp_path, persistence=False) as server:
        write_and_read(server.url, 42)
    with online.EmbeddedRedis(tmp_path, persistence=False) as server:
        assert write_and_read(server.url, 0) == [None]


def test_a_running_server_is_reused_not_doubled(tmp_path: Path) -> None:
    first = online.EmbeddedRedis(tmp_path, persistence=False)
    try:
        second = online.EmbeddedRedis(tmp_path, persistence=False)
        assert not second.owned
        assert second.url == first.url
        assert second.pid == first.pid
        second.stop()
        assert first.running
    finally:
        first.stop()
    assert wait_gone(first.pid)


def test_long_directory_uses_a_short_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with online.EmbeddedRedis(deep, persistence=False) as server:
        assert server.socket_path is not None
        assert len(str(server.socket_path)) <= 100
        assert write_and_read(server.url, 1) == [1]
        short = server.socket_path.parent
    assert not short.exists()  # the short folder goes with the server


def test_server_stops_at_interpreter_exit(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import online
        server = online.EmbeddedRedis({str(tmp_path)!r}, persistence=False)
        print(server.pid, flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    pid = int(out.stdout.strip())
    assert wait_gone(pid)


def test_store_fails_clearly_while_redis_is_down_and_recovers(tmp_path: Path) -> None:
    key = [online.encode_entity_key(["id"], [1])]
    server = online.EmbeddedRedis(tmp_path)
    store = online.RedisOnlineStore(server.url, socket_timeout=2)
    try:
        store.write("t", key, pa.table({"v": [1]}), pa.array([T0]))
        server.stop()
        with pytest.raises(online.ConnectionFailedError, match=r"valkey\.sock") as info:
            store.write("t", key, pa.table({"v": [2]}), pa.array([T0]))
        assert isinstance(info.value.__cause__, redis.ConnectionError | OSError)
        with pytest.raises(online.ConnectionFailedError):
            store.read([online.ReadRequest("t", key, SCHEMA)])
        assert not store.ping()
        server = online.EmbeddedRedis(tmp_path)
        assert store.ping()
        # The restarted server has no scripts cached: the store loads its script again.
        assert store.write("t", key, pa.table({"v": [3]}), pa.array([T0])) == (1, 0)
        (got,) = store.read([online.ReadRequest("t", key, SCHEMA)])
        assert got.column("v").to_pylist() == [3]
    finally:
        store.close()
        server.stop()
