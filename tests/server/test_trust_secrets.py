"""No secret and no local path reaches a client: Redis passwords are redacted from
HTTP bodies, logs and CLI errors; HTTP error bodies carry no absolute paths."""

from __future__ import annotations

import logging
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from featurestore import FeatureStore
from featurestore.boundary import redact
from featurestore.config import ApiKey, RedisOnlineConfig, load_config
from featurestore.server import create_app
from tests.server.conftest import READER, WRITER

PASSWORD = "Sup3r-Secret-pw"
LOOKUP = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}
PUSH = {
    "push_source_name": "driver_stats_push_source",
    "df": {
        "driver_id": [1010],
        "event_timestamp": ["2020-01-01T00:00:00Z"],
        "created": ["2020-01-01T00:00:00Z"],
        "conv_rate": [0.5],
        "acc_rate": [0.5],
        "avg_daily_trips": [5],
    },
}
ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:tmp|home|work|var|root|Users|private)/")

REDACTIONS = [
    ("redis://user:pw@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://:pw@host", "redis://:***@host"),
    ("rediss://default:p%40ss@cache.example:6380", "rediss://default:***@cache.example:6380"),
    ("unix://:pw@/run/valkey.sock?db=1", "unix://:***@/run/valkey.sock?db=1"),
    (
        "postgresql+psycopg://fs:hunter2@db.internal/features",
        "postgresql+psycopg://fs:***@db.internal/features",
    ),
    ("redis://host:6379/0?password=pw&db=2", "redis://host:6379/0?password=***&db=2"),
    ("cannot talk to redis://a:b@h:1/0: refused", "cannot talk to redis://a:***@h:1/0: refused"),
    ("redis://host:6379/0", "redis://host:6379/0"),
    ("redis://user@host", "redis://user@host"),
    ("no url here: a:b@c", "no url here: a:b@c"),
]


@pytest.mark.parametrize(("text", "expected"), REDACTIONS)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


def _dead_url() -> str:
    return f"redis://svc:{PASSWORD}@127.0.0.1:{_dead_port()}/0"


def test_redis_password_reaches_no_client_and_no_log(
    project: Path, serve_app: type, caplog: pytest.LogCaptureFixture
) -> None:
    import httpx

    config = load_config(project)
    dead = config.model_copy(
        update={
            "online_store": RedisOnlineConfig(
                url=_dead_url(), key_prefix="dead", socket_timeout_s=0.5
            ),
            "server": config.server.model_copy(
                update={
                    "api_keys": (
                        ApiKey(key=READER, role="reader"),
                        ApiKey(key=WRITER, role="writer"),
                    )
                }
            ),
        }
    )
    store = FeatureStore(config=dead)
    caplog.set_level(logging.DEBUG, logger="featurestore")
    try:
        with serve_app(create_app(store)) as url, httpx.Client(base_url=url, timeout=30) as http:
            answers = [
                http.post("/get-online-features", json=LOOKUP, headers={"X-API-Key": READER}),
                http.post("/push", json=PUSH, headers={"X-API-Key": WRITER}),
                http.get("/online-status", headers={"X-API-Key": READER}),
                http.get("/health"),
            ]
    finally:
        store.close()
    lookup = answers[0]
    assert lookup.status_code == 503, lookup.text
    assert lookup.json()["error"]["code"] == "backend_unavailable"
    assert "Redis" in lookup.json()["error"]["message"]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert PASSWORD not in answer.text
    assert caplog.records, "the failures were logged"
    assert PASSWORD not in caplog.text
    assert repr(store.online_store).count(PASSWORD) == 0


def test_cli_errors_hide_the_password(project: Path, tmp_path: Path) -> None:
    import featurestore.cli.commands  # noqa: F401  (registers the commands)
    from featurestore.cli.app import app

    copy = tmp_path / "copy"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("online"))
    settings = yaml.safe_load((copy / "featurestore.yaml").read_text())
    settings["online_store"] = {"type": "redis", "url": _dead_url(), "socket_timeout_s": 0.5}
    (copy / "featurestore.yaml").write_text(yaml.safe_dump(settings))
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["online", "-e", "driver_id=1001", "-f", "driver_hourly_stats:conv_rate", "-r", str(copy)],
    )
    assert result.exit_code == 1
    assert "error:" in result.output and "Redis" in result.output
    assert PASSWORD not in result.output
    assert "***" in result.output or "127.0.0.1" in result.output


def test_error_bodies_carry_no_local_paths(served_project: tuple[str, Path]) -> None:
    import httpx

    url, root = served_project
    local = str(root.resolve())
    with httpx.Client(base_url=url, timeout=30) as http:
        answers = [
            http.get("/log", params={"ref": "no-such-branch"}),
            http.get("/diff", params={"left": "no-such-branch", "right": "main"}),
            http.get("/diff", params={"left": "main", "right": "deadbeefdeadbeef"}),
            http.post(
                "/get-online-features",
                json={"features": ["nope:x"], "entities": {"driver_id": [1]}},
            ),
        ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        message = answer.json()["error"]["message"]
        assert message
        assert local not in answer.text
        assert not ABSOLUTE.search(answer.text), answer.text
    # The message still says what was wrong.
    assert "no-such-branch" in answers[0].json()["error"]["message"]


@pytest.fixture
def served_project(project: Path, serve_app: type) -> Iterator[tuple[str, Path]]:
    store = FeatureStore(repo_path=project)
    try:
        with serve_app(create_app(store)) as url:
            yield url, project
    finally:
        store.close()
