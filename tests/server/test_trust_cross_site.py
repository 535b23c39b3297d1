"""What a keyless server accepts from browsers: no form or text bodies on JSON
endpoints, no writes from foreign origins unless allowed, no binding beyond loopback
without keys unless told to."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from featurestore.errors import ConfigError
from featurestore.server import create_app, serve
from tests.server.conftest import NOW, Served, keyed_store

ROOT = Path(__file__).resolve().parents[2]
DRIVER = 1017
EVIL = "https://evil.example"
APP = "https://app.example"
AT = (NOW + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
PUSH = {
    "push_source_name": "driver_stats_push_source",
    "df": {
        "driver_id": [DRIVER],
        "event_timestamp": [AT],
        "created": [AT],
        "conv_rate": [0.75],
        "acc_rate": [0.5],
        "avg_daily_trips": [5],
    },
    "to": "online",
}
LOOKUP = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [DRIVER]}}
NOT_JSON = [
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/json",
    None,
]
FOREIGN = [
    {"Origin": EVIL},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:9"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": EVIL, "Sec-Fetch-Site": "same-origin"},
]


WRITES = (
    "/push",
    "/write-to-online-store",
    "/get-online-features",
    "/materialize",
    "/materialize-incremental",
)


def _conv_rate(http: httpx.Client) -> object:
    r = http.post("/get-online-features", json=LOOKUP)
    assert r.status_code == 200, r.text
    return r.json()["results"][1]["values"][0]


def _raw(content_type: str | None, headers: dict[str, str] | None = None) -> dict[str, object]:
    import json

    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    return {"content": json.dumps(PUSH).encode(), "headers": sent}


def test_keyless_server_refuses_cross_site_writes(served: Served) -> None:
    tried = 0
    with served.client() as http:
        before = _conv_rate(http)
        assert before != 0.75
        for content_type in NOT_JSON:
            for path in WRITES:
                r = http.post(path, **_raw(content_type))  # type: ignore[arg-type]
                tried += 1
                assert r.status_code == 415, (path, content_type, r.text)
                assert r.json()["error"]["code"] == "unsupported_media_type"
        for headers in FOREIGN:
            for path in WRITES:
                r = http.post(path, **_raw("application/json", headers))  # type: ignore[arg-type]
                tried += 1
                assert r.status_code == 403, (path, headers, r.text)
                assert r.json()["error"]["code"] == "cross_origin"
        assert _conv_rate(http) == before  # nothing was written
        # Reads from anywhere still answer; a JSON body with a charset is JSON.
        assert http.get("/branches", headers={"Origin": EVIL}).status_code == 200
        ok = http.post("/push", **_raw("application/json; charset=utf-8"))  # type: ignore[arg-type]
        assert ok.status_code == 200, ok.text
        assert _conv_rate(http) == 0.75
    assert tried == (len(NOT_JSON) + len(FOREIGN)) * len(WRITES)


def test_allowed_origins_may_write(project: Path, serve_app: type) -> None:
    store = keyed_store(project, allowed_origins=(APP,))
    try:
        with serve_app(create_app(store)) as url, httpx.Client(base_url=url, timeout=30) as http:
            preflight = http.options(
                "/get-online-features",
                headers={
                    "Origin": APP,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == APP
            r = http.post("/get-online-features", json=LOOKUP, headers={"Origin": APP})
            assert r.status_code == 200, r.text
            assert r.headers["access-control-allow-origin"] == APP
            evil = http.post("/get-online-features", json=LOOKUP, headers={"Origin": EVIL})
            assert evil.status_code == 403
            assert "access-control-allow-origin" not in evil.headers
    finally:
        store.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_keyless_serve_beyond_loopback_is_refused(project: Path, host: str) -> None:
    six = ":" in host
    with socket.socket(socket.AF_INET6 if six else socket.AF_INET) as taken:
        taken.bind(("::" if six else "0.0.0.0", 0))  # should it serve, it fails, not hangs
        taken.listen()
        with pytest.raises(ConfigError, match="no API keys"):
            serve(project, host=host, port=taken.getsockname()[1])


def test_cli_serve_refuses_then_allows_with_the_flag(project: Path) -> None:
    import featurestore.cli.commands  # noqa: F401  (registers the commands)
    from featurestore.cli.app import app

    with socket.socket() as taken:  # should it try to serve, it fails at once, not hangs
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        busy = str(taken.getsockname()[1])
        refused = CliRunner().invoke(
            app, ["serve", "--host", "0.0.0.0", "--port", busy, "-r", str(project)]
        )
    assert refused.exit_code == 1
    assert "--allow-public-without-keys" in refused.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = "from featurestore.cli import main; main()"
    args = ["serve", "--host", "0.0.0.0", "--port", str(port), "--allow-public-without-keys"]
    proc = subprocess.Popen(
        [sys.executable, "-c", entry, *args, "-r", str(project), "--log-level", "warning"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "FEATURESTORE_API_KEYS"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /health"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert "NO API KEYS" in stderr.decode()
