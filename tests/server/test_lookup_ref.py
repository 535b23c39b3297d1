"""POST /get-online-features reads a branch's namespace with a body ``ref`` or the
``X-Featurestore-Ref`` header; main is the default, and Feast's body still works."""

from __future__ import annotations

import io
import math
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from featurestore import FeatureStore
from featurestore.project import load_definitions
from featurestore.server import create_app
from tests.conftest import drop_prefix
from tests.server.conftest import NOW, _Thread, _write_project, keyed_store

FEATURES = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"]
DEV_RATE = 0.125


class Project:
    def __init__(self, url: str, store: FeatureStore, main_rate: float) -> None:
        self.url = url
        self.store = store
        self.main_rate = main_rate

    def post(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            return http.post("/get-online-features", json=body, headers=headers)


def _body(**extra: Any) -> dict[str, Any]:
    return {"features": FEATURES, "entities": {"driver_id": [1001, 1002]}, **extra}


def _rate(response: httpx.Response) -> float:
    assert response.status_code == 200, response.text
    value: float = response.json()["results"][1]["values"][0]
    return value


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, data: pa.Table
) -> Iterator[Project]:
    """Main materialized from the example data; branch ``dev`` with a newer row of driver
    1001 (conv_rate 0.125), committed and materialized into dev's namespace."""
    root: Path = tmp_path_factory.mktemp("lookup_ref")
    prefix = f"ref{uuid.uuid4().hex[:8]}"
    _write_project(root, redis_url, prefix)
    latest = data.filter(pc.field("driver_id") == 1001).sort_by([("event_timestamp", "descending")])
    newer = latest.slice(0, 1)
    at = pa.array([NOW - timedelta(minutes=1)], newer.schema.field("event_timestamp").type)
    newer = newer.set_column(newer.schema.get_field_index("event_timestamp"), "event_timestamp", at)
    rate = pa.array([DEV_RATE], newer.schema.field("conv_rate").type)
    newer = newer.set_column(newer.schema.get_field_index("conv_rate"), "conv_rate", rate)
    with FeatureStore.init(root, exist_ok=True) as setup:
        setup.apply(load_definitions(root))
        setup.ingest("driver_stats", data)
        setup.commit("driver stats")
        setup.repository.tag("v1").create("main")
        setup.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1))
        setup.repository.branch("dev").create("main")
        setup.ingest("driver_stats", newer, branch="dev")
        setup.commit("a newer row on dev", branch="dev")
        setup.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1), ref="dev")
    store = FeatureStore(root)
    main_rate = latest["conv_rate"][0].as_py()
    try:
        with _Thread(create_app(store)) as url:
            yield Project(url, store, main_rate)
    finally:
        store.close()
        drop_prefix(redis_url, prefix)


def test_main_is_the_default_and_feasts_body_is_unchanged(project: Project) -> None:
    assert math.isclose(_rate(project.post(_body())), project.main_rate, rel_tol=1e-6)
    assert math.isclose(_rate(project.post(_body(ref="main"))), project.main_rate, rel_tol=1e-6)


def test_a_body_ref_reads_the_branch(project: Project) -> None:
    r = project.post(_body(ref="dev"))
    assert _rate(r) == DEV_RATE
    assert r.json()["results"][1]["statuses"] == ["PRESENT", "PRESENT"]


def test_the_header_reads_the_branch_and_agrees_with_the_body(project: Project) -> None:
    assert _rate(project.post(_body(), **{"X-Featurestore-Ref": "dev"})) == DEV_RATE
    same = project.post(_body(ref="dev"), **{"X-Featurestore-Ref": "dev"})
    assert _rate(same) == DEV_RATE
    other = project.post(_body(ref="main"), **{"X-Featurestore-Ref": "dev"})
    assert other.status_code == 400
    error = other.json()["error"]
    assert error["code"] == "ref_mismatch"
    assert "'main'" in error["message"] and "'dev'" in error["message"]


def test_arrow_answers_carry_the_branch_commit(project: Project) -> None:
    with httpx.Client(base_url=project.url, timeout=30) as http:
        r = http.post(
            "/get-online-features",
            json=_body(ref="dev"),
            headers={"Accept": "application/vnd.apache.arrow.stream"},
        )
    assert r.status_code == 200, r.text
    table = pa.ipc.open_stream(io.BytesIO(r.content)).read_all()
    commits = table["conv_rate__commit"].to_pylist()
    assert commits == [project.store.resolve("dev")] * 2


@pytest.mark.parametrize("ref", ["v1", "nope", "main~1", "saved-datasets"])
def test_a_ref_that_is_not_a_branch_is_a_404_naming_branches(project: Project, ref: str) -> None:
    for response in (
        project.post(_body(ref=ref)),
        project.post(_body(), **{"X-Featurestore-Ref": ref}),
    ):
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert error["code"] == "not_found"
        assert "not a branch" in error["message"] and "branch name" in error["message"]


@pytest.mark.parametrize("ref", [5, "", ["dev"], True])
def test_a_malformed_ref_is_a_400(project: Project, ref: object) -> None:
    r = project.post(_body(ref=ref))
    assert r.status_code == 400
    assert "`ref`" in r.json()["error"]["message"]


def test_the_openapi_document_names_the_field_and_the_header(project: Project) -> None:
    with httpx.Client(base_url=project.url, timeout=30) as http:
        doc = http.get("/openapi.json").json()
    post = doc["paths"]["/get-online-features"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert "ref" in body["properties"]
    assert [p["name"] for p in post["parameters"]] == ["X-Featurestore-Ref"]


def test_browsers_of_allowed_origins_may_send_the_header(project: Project) -> None:
    app_origin = "https://app.example"
    store = keyed_store(project.store.config.project_dir, allowed_origins=(app_origin,))
    try:
        with _Thread(create_app(store)) as url, httpx.Client(base_url=url, timeout=30) as http:
            preflight = http.options(
                "/get-online-features",
                headers={
                    "Origin": app_origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type, x-featurestore-ref",
                },
            )
    finally:
        store.close()
    assert preflight.status_code == 200, preflight.text
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "x-featurestore-ref" in allowed
