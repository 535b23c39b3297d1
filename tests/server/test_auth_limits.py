"""API keys (401 / 403 / allowed) and the limits: entities, body size, timeout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx

from featurestore.server import create_app
from tests.server.conftest import ADMIN, READER, WRITER, Served, keyed_store

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
    "to": "online",
}


def test_keys_and_roles(served_keyed: Served) -> None:
    with served_keyed.client() as anon, served_keyed.client(READER) as reader:
        assert anon.post("/get-online-features", json=LOOKUP).status_code == 401
        assert anon.get("/branches").json()["error"]["code"] == "unauthorized"
        bad = anon.post(
            "/get-online-features", json=LOOKUP, headers={"Authorization": "Bearer wrong-key-123"}
        )
        assert bad.status_code == 401
        assert anon.get("/health").status_code == 200
        assert reader.post("/get-online-features", json=LOOKUP).status_code == 200
        assert reader.get("/online-status").status_code == 200
        denied = reader.post("/push", json=PUSH)
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "forbidden"
        by_header = anon.post("/get-online-features", json=LOOKUP, headers={"X-API-Key": READER})
        assert by_header.status_code == 200
    with served_keyed.client(WRITER) as writer, served_keyed.client(ADMIN) as admin:
        assert writer.post("/push", json=PUSH).status_code == 200
        assert admin.post("/push", json=PUSH).status_code == 200
        assert admin.get("/metrics").status_code == 200


def test_limits(served_keyed: Served) -> None:
    many = {"features": LOOKUP["features"], "entities": {"driver_id": list(range(1001, 1007))}}
    with served_keyed.client(READER) as reader:
        r = reader.post("/get-online-features", json=many)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "too_many_entities"
        big = reader.post(
            "/get-online-features",
            content=b" " * 3_000,
            headers={"Content-Type": "application/json"},
        )
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "body_too_large"

        def chunks() -> Iterator[bytes]:
            for _ in range(30):
                yield b" " * 100

        streamed = reader.post(
            "/get-online-features",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "body_too_large"


def test_timeout_answers_504(project: Path, serve_app: type) -> None:
    store = keyed_store(project, request_timeout_s=0.0)
    try:
        with serve_app(create_app(store)) as url, httpx.Client(base_url=url) as http:
            # Every lookup runs in a worker thread, under the request timeout.
            many = {**LOOKUP, "entities": {"driver_id": list(range(1001, 1130))}}
            r = http.post("/get-online-features", json=many)
            assert r.status_code == 504
            assert r.json()["error"]["code"] == "timeout"
    finally:
        store.close()


def test_lookups_on_the_event_loop_answer_as_in_threads(project: Path, serve_app: type) -> None:
    """``server.lookups_on_event_loop``: the same answers (JSON, Arrow, errors) without
    the thread hop, and so without the request timeout, which here would cut every
    threaded lookup off."""
    threaded = keyed_store(project)
    inline = keyed_store(project, lookups_on_event_loop=True, request_timeout_s=0.0)
    many = {**LOOKUP, "entities": {"driver_id": list(range(1001, 1130))}}
    unknown = {**LOOKUP, "features": ["driver_hourly_stats:nope"]}
    arrow = {"accept": "application/vnd.apache.arrow.stream"}
    try:
        with (
            serve_app(create_app(threaded)) as t_url,
            serve_app(create_app(inline)) as i_url,
            httpx.Client(base_url=t_url) as t,
            httpx.Client(base_url=i_url) as i,
        ):
            for body in (LOOKUP, many, unknown):
                a, b = (
                    t.post("/get-online-features", json=body),
                    i.post("/get-online-features", json=body),
                )
                assert (a.status_code, a.json()) == (b.status_code, b.json())
            a = t.post("/get-online-features", json=many, headers=arrow)
            b = i.post("/get-online-features", json=many, headers=arrow)
            assert a.status_code == b.status_code == 200 and a.content == b.content
        timed = keyed_store(project, request_timeout_s=0.0)
        with serve_app(create_app(timed)) as url, httpx.Client(base_url=url) as http:
            assert http.post("/get-online-features", json=many).status_code == 504
        timed.close()
    finally:
        threaded.close()
        inline.close()
