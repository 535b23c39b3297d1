"""The OpenAPI document lists every endpoint, and schemathesis finds no server error."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import schemathesis
from hypothesis import HealthCheck, given, settings

from featurestore import FeatureStore
from featurestore.project import load_definitions
from featurestore.server import create_app
from tests.server.conftest import Served, _write_project

PATHS = {
    "/get-online-features",
    "/push",
    "/score/{service}",
    "/write-to-online-store",
    "/materialize",
    "/materialize-incremental",
    "/branches",
    "/tags",
    "/log",
    "/diff",
    "/online-status",
    "/explain/{request_id}",
    "/health",
    "/metrics",
    "/openapi.json",
}
MATERIALIZING = {"/materialize", "/materialize-incremental"}


def test_document_lists_every_endpoint(served: Served) -> None:
    with served.client() as http:
        doc = http.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == PATHS


def test_no_server_errors(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    failures: list[str] = []
    seen: dict[str, set[int]] = {}

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=served.url)
        seen.setdefault(case.path, set()).add(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.path} -> {response.status_code}")

    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in MATERIALIZING:
            continue  # each call materializes; covered by test_endpoints
        given(case=operation.as_strategy())(check)()
    assert failures == []
    # schemathesis leaves out the document itself.
    assert set(seen) == PATHS - MATERIALIZING - {"/openapi.json"}


def test_no_server_errors_from_materialize(
    tmp_path: Path, redis_url: str, data: pa.Table, serve_app: type
) -> None:
    """The materializing endpoints, fuzzed against a project of their own."""
    _write_project(tmp_path, redis_url, f"fuzz{uuid.uuid4().hex[:8]}")
    with FeatureStore.init(tmp_path, exist_ok=True) as store:
        store.apply(load_definitions(tmp_path))
        store.ingest("driver_stats", data.slice(0, 200))
        store.commit("a first load")
    store = FeatureStore(repo_path=tmp_path)
    failures: list[str] = []
    seen: set[str] = set()
    try:
        with serve_app(create_app(store)) as url:
            schema = schemathesis.openapi.from_url(f"{url}/openapi.json")

            @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=url)
                seen.add(case.path)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.path} -> {response.status_code}")

            for result in schema.get_all_operations():
                operation = result.ok()
                if operation.path in MATERIALIZING:
                    given(case=operation.as_strategy())(check)()
    finally:
        store.close()
    assert failures == []
    assert seen == MATERIALIZING
