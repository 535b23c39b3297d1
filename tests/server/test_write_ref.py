"""The write endpoints take a branch as lookups do: ``/push``, ``/write-to-online-store``,
``/materialize`` and ``/materialize-incremental`` read a body ``ref`` or the
``X-Featurestore-Ref`` header, write that branch's namespace (never main's silently),
and refuse what lookups refuse."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from featurestore import FeatureStore
from featurestore.namespaces import namespaces
from featurestore.project import load_definitions
from featurestore.server import create_app
from tests.conftest import drop_prefix
from tests.server.conftest import NOW, _Thread, _write_project

FEATURES = ["driver_hourly_stats:conv_rate"]
AT = (NOW + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
WRITES = ["/push", "/write-to-online-store", "/materialize", "/materialize-incremental"]


class Project:
    def __init__(self, url: str, store: FeatureStore) -> None:
        self.url = url
        self.store = store

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            return http.post(path, json=body, headers=headers)

    def rate(self, driver: int, ref: str | None = None) -> float | None:
        body: dict[str, Any] = {"features": FEATURES, "entities": {"driver_id": [driver]}}
        if ref is not None:
            body["ref"] = ref
        r = self.post("/get-online-features", body)
        assert r.status_code == 200, r.text
        value: float | None = r.json()["results"][1]["values"][0]
        return value


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, data: pa.Table
) -> Iterator[Project]:
    """Main materialized and tagged v1; branches ``dev`` and ``exp`` made from it, dev
    materialized into its own namespace."""
    root: Path = tmp_path_factory.mktemp("write_ref")
    prefix = f"wref{uuid.uuid4().hex[:8]}"
    _write_project(root, redis_url, prefix)
    with FeatureStore.init(root, exist_ok=True) as setup:
        setup.apply(load_definitions(root))
        setup.ingest("driver_stats", data)
        setup.commit("driver stats")
        setup.repository.tag("v1").create("main")
        setup.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1))
        for name in ("dev", "exp", "serving-log"):
            setup.repository.branch(name).create("main")
        setup.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1), ref="dev")
    store = FeatureStore(root)
    try:
        with _Thread(create_app(store)) as url:
            yield Project(url, store)
    finally:
        store.close()
        drop_prefix(redis_url, prefix)


def _push(driver: int, rate: float, **extra: Any) -> dict[str, Any]:
    df = {
        "driver_id": [driver],
        "event_timestamp": [AT],
        "created": [AT],
        "conv_rate": [rate],
        "acc_rate": [0.5],
        "avg_daily_trips": [77],
    }
    return {"push_source_name": "driver_stats_push_source", "df": df, "to": "online", **extra}


def _write(driver: int, rate: float, **extra: Any) -> dict[str, Any]:
    body = _push(driver, rate)
    return {"feature_view_name": "driver_hourly_stats", "df": body["df"], **extra}


def _bodies(**extra: Any) -> dict[str, dict[str, Any]]:
    end = (NOW + timedelta(seconds=1)).isoformat()
    return {
        "/push": _push(1005, 0.5, **extra),
        "/write-to-online-store": _write(1005, 0.5, **extra),
        "/materialize": {"start_ts": "2025-01-01", "end_ts": end, **extra},
        "/materialize-incremental": {"end_ts": end, **extra},
    }


def test_a_push_reaches_the_branch_named_by_header_or_body(project: Project) -> None:
    main_rate = project.rate(1001)
    r = project.post("/push", _push(1001, 0.777), **{"X-Featurestore-Ref": "exp"})
    assert r.status_code == 200, r.text
    assert r.json()["branch"] == "exp"
    assert project.rate(1001, ref="exp") == pytest.approx(0.777)
    assert project.rate(1001) == main_rate
    r = project.post("/push", _push(1002, 0.666, ref="exp"))
    assert r.status_code == 200, r.text
    assert project.rate(1002, ref="exp") == pytest.approx(0.666)
    assert project.rate(1002) != pytest.approx(0.666)
    both = project.post("/push", _push(1003, 0.555, ref="exp"), **{"X-Featurestore-Ref": "exp"})
    assert both.status_code == 200, both.text
    assert "exp" in namespaces(project.store)


def test_an_offline_push_is_staged_on_the_branch(project: Project) -> None:
    repo = project.store.repository
    r = project.post("/push", _push(1004, 0.444, to="offline", ref="exp"))
    assert r.status_code == 200, r.text
    assert list(repo.branch("exp").uncommitted()) != []
    assert list(repo.branch("main").uncommitted()) == []


def test_a_write_to_the_online_store_reaches_the_branch(project: Project) -> None:
    main_rate = project.rate(1003)
    r = project.post("/write-to-online-store", _write(1003, 0.333), **{"X-Featurestore-Ref": "dev"})
    assert r.status_code == 200, r.text
    assert r.json() == {"feature_view_name": "driver_hourly_stats", "rows": 1, "branch": "dev"}
    assert project.rate(1003, ref="dev") == pytest.approx(0.333)
    assert project.rate(1003) == main_rate


def test_materialize_runs_from_the_branch_named(project: Project) -> None:
    for path, body in _bodies().items():
        if path.startswith("/materialize"):
            r = project.post(path, body, **{"X-Featurestore-Ref": "dev"})
            assert r.status_code == 200, r.text
            assert {x["branch"] for x in r.json()["results"]} == {"dev"}
            r = project.post(path, {**body, "ref": "dev"})
            assert {x["branch"] for x in r.json()["results"]} == {"dev"}


def test_materializing_a_tag_serves_it_on_main(project: Project) -> None:
    r = project.post("/materialize", _bodies(ref="v1")["/materialize"])
    assert r.status_code == 200, r.text
    assert {x["branch"] for x in r.json()["results"]} == {"v1"}
    (main,) = [s for s in project.store.online_status() if s.namespace == "main"]
    assert main.branch == "v1" and main.commit_id == project.store.resolve("v1")
    r = project.post("/materialize", _bodies()["/materialize"])
    assert {x["branch"] for x in r.json()["results"]} == {"main"}


@pytest.mark.parametrize("path", ["/push", "/write-to-online-store"])
@pytest.mark.parametrize("ref", ["v1", "main~1", "nope"])
def test_a_write_to_a_tag_or_commit_is_a_404_and_writes_nothing(
    project: Project, path: str, ref: str
) -> None:
    before = project.rate(1005)
    for r in (
        project.post(path, _bodies(ref=ref)[path]),
        project.post(path, _bodies()[path], **{"X-Featurestore-Ref": ref}),
    ):
        assert r.status_code == 404, r.text
        error = r.json()["error"]
        assert error["code"] == "not_found"
        assert "not a branch" in error["message"] and "branch name" in error["message"]
    assert project.rate(1005) == before
    assert ref not in namespaces(project.store)


@pytest.mark.parametrize("path", WRITES)
def test_an_internal_branch_is_refused(project: Project, path: str) -> None:
    r = project.post(path, _bodies(ref="serving-log")[path])
    assert r.status_code == 403, r.text
    assert "'serving-log': it is internal" in r.json()["error"]["message"]
    assert "serving-log" not in namespaces(project.store)


@pytest.mark.parametrize("path", [*WRITES, "/get-online-features"])
def test_refs_are_parsed_as_lookups_parse_them(project: Project, path: str) -> None:
    lookup = {"features": FEATURES, "entities": {"driver_id": [1001]}}
    bodies = {**_bodies(), "/get-online-features": lookup}
    body = bodies[path]
    other = project.post(path, {**body, "ref": "main"}, **{"X-Featurestore-Ref": "dev"})
    assert other.status_code == 400, other.text
    assert other.json()["error"]["code"] == "ref_mismatch"
    empty = project.post(path, body, **{"X-Featurestore-Ref": ""})
    assert empty.status_code == 400, empty.text
    assert "X-Featurestore-Ref header is empty" in empty.json()["error"]["message"]
    for bad in ("", 5, ["dev"]):
        r = project.post(path, {**body, "ref": bad})
        assert r.status_code == 400 and "`ref`" in r.json()["error"]["message"]


def test_the_openapi_document_names_the_field_and_the_header(project: Project) -> None:
    with httpx.Client(base_url=project.url, timeout=30) as http:
        doc = http.get("/openapi.json").json()
    for path in WRITES:
        post = doc["paths"][path]["post"]
        body = post["requestBody"]["content"]["application/json"]["schema"]
        assert "ref" in body["properties"], path
        assert [p["name"] for p in post["parameters"]] == ["X-Featurestore-Ref"]
    rollback = doc["paths"]["/materialize"]["post"]["requestBody"]["content"]
    assert "rollback" in rollback["application/json"]["schema"]["properties"]["ref"]["description"]
