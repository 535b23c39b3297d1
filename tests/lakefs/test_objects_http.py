"""lakeFS's object endpoints over plain HTTP and through the generated ``lakefs-sdk``:
status codes, headers and bodies as lakeFS answers them (Range, ETags, multipart)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import lakefs_sdk
import pytest
from lakefs_sdk.client import LakeFSClient
from lakefs_sdk.models.object_copy_creation import ObjectCopyCreation
from lakefs_sdk.models.path_list import PathList

from tests.lakefs.served import READER, WRITER, LakeServer


@pytest.fixture
def http(lakefs_server: LakeServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{lakefs_server.url}/api/v1", auth=("tester", WRITER), timeout=30
    ) as client:
        yield client


@pytest.fixture
def branch(lakefs_server: LakeServer) -> str:
    name = f"http-{uuid.uuid4().hex[:10]}"
    lakefs_server.store.repository.branch(name).create("main")
    return name


def _objects(lakefs_server: LakeServer, branch: str, kind: str = "branches") -> str:
    return f"/repositories/{lakefs_server.repo_name}/{kind}/{branch}/objects"


def _put(
    http: httpx.Client,
    lakefs_server: LakeServer,
    branch: str,
    path: str,
    data: bytes,
    **headers: str,
) -> httpx.Response:
    return http.post(
        _objects(lakefs_server, branch),
        params={"path": path},
        content=data,
        headers={"Content-Type": "application/octet-stream", **headers},
    )


def test_range_reads_exact_bytes(
    http: httpx.Client, lakefs_server: LakeServer, branch: str
) -> None:
    data = bytes(range(256)) * 16
    assert _put(http, lakefs_server, branch, "r.bin", data).status_code == 201
    url = _objects(lakefs_server, branch, "refs")
    got = http.get(url, params={"path": "r.bin"}, headers={"Range": "bytes=100-199"})
    assert got.status_code == 206
    assert got.content == data[100:200]
    assert got.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert got.headers["content-length"] == "100"
    tail = http.get(url, params={"path": "r.bin"}, headers={"Range": "bytes=-7"})
    assert (tail.status_code, tail.content) == (206, data[-7:])
    opened = http.get(url, params={"path": "r.bin"}, headers={"Range": "bytes=4000-"})
    assert opened.content == data[4000:]
    past = http.get(url, params={"path": "r.bin"}, headers={"Range": "bytes=5000-5001"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(data)}"
    whole = http.get(url, params={"path": "r.bin"})
    assert (whole.status_code, whole.content) == (200, data)
    etag = whole.headers["etag"]
    assert (
        http.get(url, params={"path": "r.bin"}, headers={"If-None-Match": etag}).status_code == 304
    )
    head = http.head(url, params={"path": "r.bin"})
    assert (head.status_code, head.headers["content-length"], head.content) == (
        200,
        str(len(data)),
        b"",
    )
    assert http.head(url, params={"path": "missing.bin"}).status_code == 404


def test_if_none_match_and_if_match(
    http: httpx.Client, lakefs_server: LakeServer, branch: str
) -> None:
    first = _put(http, lakefs_server, branch, "c.txt", b"one", **{"If-None-Match": "*"})
    assert first.status_code == 201
    checksum = first.json()["checksum"]
    again = _put(http, lakefs_server, branch, "c.txt", b"two", **{"If-None-Match": "*"})
    assert again.status_code == 412
    assert "already exists" in again.json()["message"]
    stale = _put(http, lakefs_server, branch, "c.txt", b"two", **{"If-Match": '"0000"'})
    assert stale.status_code == 412
    fresh = _put(http, lakefs_server, branch, "c.txt", b"two", **{"If-Match": f'"{checksum}"'})
    assert fresh.status_code == 201
    bad = _put(http, lakefs_server, branch, "c.txt", b"x", **{"If-None-Match": "abc"})
    assert bad.status_code == 400
    got = http.get(_objects(lakefs_server, branch, "refs"), params={"path": "c.txt"})
    assert got.content == b"two"


def test_errors_have_lakefs_shape(
    http: httpx.Client, lakefs_server: LakeServer, branch: str
) -> None:
    nobranch = _put(http, lakefs_server, "no-such-branch", "a.txt", b"x")
    assert nobranch.status_code == 404 and "message" in nobranch.json()
    missing = http.get(_objects(lakefs_server, branch, "refs") + "/stat", params={"path": "nope"})
    assert missing.status_code == 404 and "nope" in missing.json()["message"]
    nopath = http.post(_objects(lakefs_server, branch), content=b"x")
    assert nopath.status_code == 400 and "path" in nopath.json()["message"]
    other = http.get(f"/repositories/other/refs/{branch}/objects/stat", params={"path": "a"})
    assert other.status_code == 404
    lakefs_server.store.repository.tag(f"tg-{branch}").create(branch)
    ontag = _put(http, lakefs_server, f"tg-{branch}", "a.txt", b"x")
    assert ontag.status_code == 403


def test_protected_branch_is_403(
    http: httpx.Client, lakefs_server: LakeServer, branch: str
) -> None:
    repo = lakefs_server.store.repository
    repo.protect_branch(branch)
    try:
        refused = _put(http, lakefs_server, branch, "p.txt", b"x")
        assert refused.status_code == 403
        assert "protected" in refused.json()["message"]
        gone = http.delete(_objects(lakefs_server, branch), params={"path": "README.md"})
        assert gone.status_code == 403
    finally:
        repo.unprotect_branch(branch)
    assert list(repo.branch(branch).uncommitted()) == []


def test_reader_key_reads_but_cannot_write(lakefs_server: LakeServer, branch: str) -> None:
    with httpx.Client(base_url=f"{lakefs_server.url}/api/v1", auth=("r", READER)) as reader:
        url = _objects(lakefs_server, branch)
        refused = reader.post(url, params={"path": "w.txt"}, content=b"x")
        assert refused.status_code == 401  # lakeFS answers a missing permission with 401
        assert "insufficient permissions" in refused.json()["message"]
        ok = reader.get(_objects(lakefs_server, branch, "refs"), params={"path": "README.md"})
        assert ok.status_code == 200 and ok.content == b"lakeproj\n"
    with httpx.Client(base_url=f"{lakefs_server.url}/api/v1") as anonymous:
        url = _objects(lakefs_server, branch, "refs")
        assert anonymous.get(url, params={"path": "README.md"}).status_code == 401
    assert list(lakefs_server.store.repository.branch(branch).uncommitted()) == []


def test_generated_sdk_multipart_upload_and_calls(
    sdk_client: LakeFSClient, lakefs_server: LakeServer, branch: str
) -> None:
    api = sdk_client.objects_api
    repo = lakefs_server.repo_name
    data = b"--not-a-boundary\r\n" * 1000 + b"\x00\xff end"
    stats = api.upload_object(repo, branch, "mp/blob.bin", content=data)
    assert stats.size_bytes == len(data)
    assert bytes(api.get_object(repo, branch, "mp/blob.bin")) == data
    part = api.get_object(repo, branch, "mp/blob.bin", range="bytes=10-19")
    assert bytes(part) == data[10:20]
    stat = api.stat_object(repo, branch, "mp/blob.bin")
    assert stat.checksum == stats.checksum and stat.path_type == "object"
    api.upload_object(repo, branch, "mp/other.bin", content=b"o")
    listed = api.list_objects(repo, branch, prefix="mp/", amount=1)
    assert [o.path for o in listed.results] == ["mp/blob.bin"]
    assert listed.pagination.has_more and listed.pagination.next_offset == "mp/blob.bin"
    rest = api.list_objects(repo, branch, prefix="mp/", after=listed.pagination.next_offset)
    assert [o.path for o in rest.results] == ["mp/other.bin"] and not rest.pagination.has_more
    copied = api.copy_object(
        repo,
        branch,
        "mp/copy.bin",
        ObjectCopyCreation(src_path="mp/blob.bin"),  # type: ignore[call-arg]
    )
    assert copied.checksum == stats.checksum
    errors = api.delete_objects(
        repo, branch, PathList(paths=["mp/copy.bin", "mp/other.bin", "../bad"])
    )
    assert [(e.path, e.status_code) for e in errors.errors] == [("../bad", 400)]
    api.delete_object(repo, branch, "mp/blob.bin")
    assert api.list_objects(repo, branch, prefix="mp/").results == []
    with pytest.raises(lakefs_sdk.exceptions.NotFoundException):
        api.stat_object(repo, branch, "mp/blob.bin")


def test_failed_upload_leaves_no_temporary_file(
    http: httpx.Client, lakefs_server: LakeServer, branch: str
) -> None:
    scratch = lakefs_server.root / "data" / "tmp"
    before = set(scratch.iterdir()) if scratch.exists() else set()
    body = b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nxx\r\n--b--\r\n'
    refused = http.post(
        _objects(lakefs_server, branch),
        params={"path": "f.bin"},
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert refused.status_code == 400 and "content" in refused.json()["message"]
    after = set(scratch.iterdir()) if scratch.exists() else set()
    assert after <= before
    assert list(lakefs_server.store.repository.branch(branch).uncommitted()) == []
