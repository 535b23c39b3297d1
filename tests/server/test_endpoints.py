"""Push, write-to-online-store, materialize, versioning, health and metrics over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx

from featurestore.server import create_app
from tests.server.conftest import NOW, READER, WRITER, Served, keyed_store


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


def test_write_to_online_store_then_lookup(served: Served) -> None:
    fresh = (NOW + timedelta(seconds=40)).replace(tzinfo=None).isoformat()
    with served.client() as http:
        body = {
            "feature_view_name": "driver_hourly_stats",
            # Feast's SDK names the times event_timestamp and created, naive UTC.
            "df": {
                "driver_id": [1012],
                "conv_rate": [0.375],
                "acc_rate": [0.5],
                "avg_daily_trips": [4],
                "event_timestamp": [fresh],
                "created": [None],
            },
            "allow_registry_cache": False,
        }
        r = http.post("/write-to-online-store", json=body)
        assert r.status_code == 200, r.text
        assert r.json() == {"feature_view_name": "driver_hourly_stats", "rows": 1, "branch": "main"}
        assert _conv_rate(http, 1012) == (0.375, fresh + "Z")
        short = {"driver_id": [1012], "event_timestamp": [fresh]}
        missing = http.post("/write-to-online-store", json={**body, "df": short})
        assert missing.status_code == 422
        assert "conv_rate" in json.loads(missing.json())["error"]["message"]
        plain = {k: v for k, v in body.items() if k != "allow_registry_cache"}
        unknown = http.post("/write-to-online-store", json={**plain, "feature_view_name": "nope"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "not_found"
        assert http.post("/write-to-online-store", json={"df": {}}).status_code == 400
        assert _conv_rate(http, 1012) == (0.375, fresh + "Z")  # nothing else was written


def test_materialize_refusals(served: Served) -> None:
    with served.client() as http:
        cases: list[tuple[dict[str, object], int, str]] = [
            ({"end_ts": NOW.isoformat()}, 400, "start_ts"),
            ({"start_ts": "2025-01-02", "end_ts": "2025-01-01"}, 400, "before"),
            ({"start_ts": "2025-01-01", "end_ts": "not a time"}, 400, "end_ts"),
            ({"start_ts": "2025-01-01", "end_ts": "2025-01-02", "version": "v2"}, 422, "version"),
            ({"start_ts": "2025-01-01", "end_ts": "2025-01-02", "feature_views": ["x"]}, 404, "x"),
            ({"start_ts": "2025-01-01", "end_ts": "2025-01-02", "feature_views": "x"}, 400, "list"),
        ]
        for body, status, word in cases:
            r = http.post("/materialize", json=body)
            assert r.status_code == status, (body, r.text)
            assert word in r.json()["error"]["message"], (body, r.text)
        feast_form = http.post(
            "/materialize",
            json={"feature_views": ["x"], "disable_event_timestamp": True},
        )
        assert feast_form.status_code == 404
        assert json.loads(feast_form.json())["class"] == "FeatureViewNotFoundException"


def test_new_endpoints_need_the_writer_role_and_are_counted(served_keyed: Served) -> None:
    write = {
        "feature_view_name": "driver_hourly_stats",
        "df": {
            "driver_id": [1010],
            "event_timestamp": ["2020-01-01T00:00:00"],
            "conv_rate": [0.5],
            "acc_rate": [0.5],
            "avg_daily_trips": [5],
        },
    }
    # An empty range: allowed callers get a 400 after the key check, nothing runs.
    materialize = {"start_ts": "2020-01-02", "end_ts": "2020-01-01"}
    with served_keyed.client(READER) as reader, served_keyed.client(WRITER) as writer:
        for path, body in (("/write-to-online-store", write), ("/materialize", materialize)):
            denied = reader.post(path, json=body)
            assert denied.status_code == 403, denied.text
            assert denied.json()["error"]["code"] == "forbidden"
        assert writer.post("/write-to-online-store", json=write).status_code == 200
        assert writer.post("/materialize", json=materialize).status_code == 400
        text = writer.get("/metrics").text
    assert (
        'featurestore_http_requests_total{endpoint="write_to_online_store",method="POST",'
        'status="200"}' in text
    )
    assert 'featurestore_http_errors_total{code="forbidden",endpoint="materialize"}' in text
