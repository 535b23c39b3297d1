"""Writes by lakeFS clients under the feature store's own prefixes are checked as our API
checks them: definitions that load (stored code passing the stored-code rule), table
schemas and parts that fit; a refusal is lakeFS's 400 and leaves nothing staged."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import offline
from featurestore import (
    Entity,
    FeatureView,
    Field,
    Float64,
    Int64,
    TableSource,
    UntrustedCodeError,
    on_demand_feature_view,
)
from featurestore.registry import REGISTRY_PATH, Registry
from tests.lakefs.served import WRITER, LakeServer

driver = Entity(name="driver", join_keys=["driver_id"], value_type=Int64)
source = TableSource(name="driver_stats", timestamp_field="event_timestamp")
stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    schema=[Field(name="rate", dtype=Float64)],
    source=source,
    ttl=timedelta(days=1),
)


@on_demand_feature_view(sources=[stats[["rate"]]], schema=[Field(name="rate_x2", dtype=Float64)])
def doubled(inputs: pd.DataFrame) -> pd.DataFrame:
    """Twice the rate."""
    return pd.DataFrame({"rate_x2": inputs["rate"] * 2}, index=inputs.index)


SCHEMA = pa.schema([("driver_id", pa.int64()), ("rate", pa.float64())])


@pytest.fixture
def http(lakefs_server: LakeServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{lakefs_server.url}/api/v1", auth=("tester", WRITER), timeout=30
    ) as client:
        yield client


@pytest.fixture
def branch(lakefs_server: LakeServer) -> str:
    name = f"val-{uuid.uuid4().hex[:10]}"
    lakefs_server.store.repository.branch(name).create("main")
    return name


def _url(lakefs_server: LakeServer, branch: str) -> str:
    return f"/repositories/{lakefs_server.repo_name}/branches/{branch}/objects"


def _put(
    http: httpx.Client, lakefs_server: LakeServer, branch: str, path: str, data: bytes
) -> httpx.Response:
    return http.post(_url(lakefs_server, branch), params={"path": path}, content=data)


def _staged(lakefs_server: LakeServer, branch: str) -> list[str]:
    return [c.path for c in lakefs_server.store.repository.branch(branch).uncommitted()]


def _registry_with_source(udf_source: str) -> bytes:
    data = json.loads(Registry([driver, source, stats, doubled]).to_json())
    data["on_demand_feature_views"][0]["udf_source"] = udf_source
    return json.dumps(data).encode()


def test_registry_json_is_checked(
    http: httpx.Client, lakefs_server: LakeServer, branch: str
) -> None:
    broken = _put(http, lakefs_server, branch, REGISTRY_PATH, b"{not json")
    assert broken.status_code == 400
    assert "not definitions the feature store can load" in broken.json()["message"]
    assert "featurestore apply" in broken.json()["message"]
    code = "import os\nos.remove('x')\ndef doubled(inputs):\n    return inputs\n"
    evil = _put(http, lakefs_server, branch, REGISTRY_PATH, _registry_with_source(code))
    assert evil.status_code == 400 and "line 2 is refused" in evil.json()["message"]
    other = _put(http, lakefs_server, branch, "_featurestore/file_sources/x.json", b"[1,")
    assert other.status_code == 400 and "not JSON" in other.json()["message"]
    loose = _put(http, lakefs_server, branch, "_featurestore/notes.txt", b"hi")
    assert loose.status_code == 400
    assert _staged(lakefs_server, branch) == []


def test_stored_code_from_a_lakefs_client_is_data_until_trusted(
    http: httpx.Client, lakefs_server: LakeServer, branch: str
) -> None:
    code = "def doubled(inputs):\n    return inputs * 3\n"
    ok = _put(http, lakefs_server, branch, REGISTRY_PATH, _registry_with_source(code))
    assert ok.status_code == 201
    registry = lakefs_server.store.registry(branch)
    view = registry.get_on_demand_feature_view("doubled")
    assert view.udf_source == code
    with pytest.raises(UntrustedCodeError):
        view.udf  # noqa: B018 (compiling it is what the trust rule guards)


def test_table_schema_objects_are_checked(
    http: httpx.Client, lakefs_server: LakeServer, branch: str
) -> None:
    raw = _put(http, lakefs_server, branch, "tables/t1/_schema", b"not a schema")
    assert raw.status_code == 400 and "Arrow IPC schema" in raw.json()["message"]
    naive = pa.schema([("ts", pa.timestamp("ns"))]).serialize().to_pybytes()
    refused = _put(http, lakefs_server, branch, "tables/t1/_schema", naive)
    assert refused.status_code == 400 and "timestamp[us, tz=UTC]" in refused.json()["message"]
    bad_keys = SCHEMA.with_metadata({b"offline.keys": b'["nope"]'}).serialize().to_pybytes()
    assert _put(http, lakefs_server, branch, "tables/t1/_schema", bad_keys).status_code == 400
    stray = _put(http, lakefs_server, branch, "tables/t1/notes.txt", b"x")
    assert stray.status_code == 400 and "only its _schema" in stray.json()["message"]
    top = _put(http, lakefs_server, branch, "tables/loose.parquet", b"x")
    assert top.status_code == 400
    assert _staged(lakefs_server, branch) == []
    good = SCHEMA.with_metadata({b"offline.keys": b'["driver_id"]'}).serialize().to_pybytes()
    assert _put(http, lakefs_server, branch, "tables/t1/_schema", good).status_code == 201
    store = offline.TableStore(lakefs_server.store.repository)
    assert store.keys(branch, "t1") == ("driver_id",)
    changed = pa.schema([("driver_id", pa.int64())]).serialize().to_pybytes()
    other = _put(http, lakefs_server, branch, "tables/t1/_schema", changed)
    assert other.status_code == 400 and "already has another schema" in other.json()["message"]


def test_parts_need_their_table_and_deleting_a_schema_under_parts_is_refused(
    http: httpx.Client, lakefs_server: LakeServer, branch: str
) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"driver_id": [1, 2], "rate": [0.5, 1.5]}, schema=SCHEMA), sink)
    part = sink.getvalue().to_pybytes()
    orphan = _put(http, lakefs_server, branch, "tables/t2/part-1.parquet", part)
    assert orphan.status_code == 400 and "no table 't2'" in orphan.json()["message"]
    repo = lakefs_server.store.repository
    offline.TableStore(repo).create_table(branch, "t2", SCHEMA)
    assert _put(http, lakefs_server, branch, "tables/t2/part-1.parquet", part).status_code == 201
    url = _url(lakefs_server, branch)
    alone = http.delete(url, params={"path": "tables/t2/_schema"})
    assert alone.status_code == 400 and "still has 1 object" in alone.json()["message"]
    both = http.post(
        url + "/delete", json={"paths": ["tables/t2/_schema", "tables/t2/part-1.parquet"]}
    )
    assert both.status_code == 200 and both.json() == {"errors": []}
    assert _staged(lakefs_server, branch) == []  # created and dropped, both uncommitted


def test_copy_into_a_table_is_checked(
    http: httpx.Client, lakefs_server: LakeServer, branch: str
) -> None:
    offline.TableStore(lakefs_server.store.repository).create_table(branch, "t3", SCHEMA)
    assert _put(http, lakefs_server, branch, "raw/blob.parquet", b"PAR1 no").status_code == 201
    copied = http.post(
        _url(lakefs_server, branch) + "/copy",
        params={"dest_path": "tables/t3/part-x.parquet"},
        json={"src_path": "raw/blob.parquet"},
    )
    assert copied.status_code == 400 and "not a Parquet file" in copied.json()["message"]
    assert sorted(_staged(lakefs_server, branch)) == ["raw/blob.parquet", "tables/t3/_schema"]
