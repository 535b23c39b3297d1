"""Push, materialize-incremental, versioning, health and metrics over HTTP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx

from featurestore.server import create_app
from tests.server.conftest import NOW, Served, keyed_store


def _conv_rate(http: httpx.Client, driver: int) -> tuple[object, str]:
    body = http.post(
        "/get-online-features",
        json={"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [driver]}},
    ).json()
    return body["results"][1]["values"][0], body["results"][1]["event_timestamps"][0]


def test_push_then_lookup(served: Served) -> None:
    fresh = (NOW + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stale = (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with served.client() as http:

        def push(at: str, rate: float) -> httpx.Response:
            return http.post(
                "/push",
                json={
                    "push_source_name": "driver_stats_push_source",
                    "df": {
                        "driver_id": [1011],
                        "event_timestamp": [at],
                        "created": [at],
                        "conv_rate": [rate],
                        "acc_rate": [0.25],
                        "avg_daily_trips": [7],
                    },
                    "to": "online",
                },
            )

        r = push(fresh, 0.125)
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == 1
        assert _conv_rate(http, 1011) == (0.125, fresh)
        assert push(stale, 0.875).status_code == 200
        assert _conv_rate(http, 1011) == (0.125, fresh)  # older never overwrites newer
        bad = http.post("/push", json={"push_source_name": "nope", "df": {"driver_id": [1]}})
        assert bad.status_code in (404, 422)
        assert http.post("/push", json={"push_source_name": "x", "df": {}}).status_code == 400


def test_materialize_incremental(served: Served) -> None:
    with served.client() as http:
        r = http.post(
            "/materialize-incremental",
            json={"end_ts": (NOW + timedelta(seconds=2)).isoformat()},
        )
        assert r.status_code == 200, r.text
        assert "results" in r.json()
        bad = http.post("/materialize-incremental", json={"end_ts": "yesterday"})
        assert bad.status_code == 400
        unknown = http.post(
            "/materialize-incremental",
            json={"end_ts": NOW.isoformat(), "feature_views": ["nope"]},
        )
        assert unknown.status_code == 404


def test_versioning_endpoints(served: Served) -> None:
    with served.client() as http:
        branches = http.get("/branches")
        assert branches.status_code == 200
        assert "main" in branches.text
        tags = http.get("/tags")
        assert tags.status_code == 200 and "v1" in tags.text
        log = http.get("/log", params={"ref": "main", "limit": 5})
        assert log.status_code == 200
        assert "driver stats, first load" in log.text
        assert http.get("/log", params={"limit": "x"}).status_code == 400
        diff = http.get("/diff", params={"left": "v1", "right": "main"})
        assert diff.status_code == 200
        assert diff.json()["changes"] == []
        assert http.get("/diff", params={"left": "v1"}).status_code == 400
        missing = http.get("/diff", params={"left": "v1", "right": "no-such-ref"})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        status = http.get("/online-status")
        assert status.status_code == 200
        (view,) = status.json()["views"]
        assert view["view"] == "driver_hourly_stats" and view["branch"] == "main"
        assert view["commit_id"] == view["branch_head"] == log.json()["commits"][0]["id"]
        assert view["commits_behind"] == 0 and view["up_to_date"] is True


def test_health_and_metrics(served: Served, project: Path, serve_app: type) -> None:
    with served.client() as http:
        health = http.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        http.post("/get-online-features", json={"features": ["nope:x"], "entities": {"a": [1]}})
        metrics = http.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    assert 'featurestore_http_requests_total{endpoint="health",method="GET",status="200"}' in text
    assert 'featurestore_http_request_duration_seconds_bucket{endpoint="health"' in text
    assert 'featurestore_http_errors_total{code="not_found",endpoint="get_online_features"}' in (
        text
    )
    from featurestore import FeatureStore
    from featurestore.config import RedisOnlineConfig, load_config

    config = load_config(project)
    dead = config.model_copy(
        update={"online_store": RedisOnlineConfig(url="redis://127.0.0.1:1", socket_timeout_s=0.5)}
    )
    store = FeatureStore(config=dead)
    try:
        with serve_app(create_app(store)) as url, httpx.Client(base_url=url, timeout=30) as c:
            r = c.get("/health")
            assert r.status_code == 503
            assert r.json()["status"] == "unhealthy"
    finally:
        store.close()
    _ = keyed_store
