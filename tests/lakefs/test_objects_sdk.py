"""The ``lakefs`` SDK's object API against ``featurestore serve``: upload, read with
ranges, stat, list with a delimiter, delete, copy and ``Branch.transact()``."""

from __future__ import annotations

import uuid

import lakefs
import pytest
from lakefs.exceptions import ObjectExistsException

from tests.lakefs.served import LakeServer


@pytest.fixture
def branch(lakefs_server: LakeServer, lakefs_repo: lakefs.Repository) -> lakefs.Branch:
    """A new branch from main, made in the repository itself (these tests are about
    objects), as a ``lakefs.Branch``."""
    name = f"obj-{uuid.uuid4().hex[:10]}"
    lakefs_server.store.repository.branch(name).create("main")
    return lakefs_repo.branch(name)


def test_upload_read_and_stat(branch: lakefs.Branch, lakefs_server: LakeServer) -> None:
    obj = branch.object("docs/notes.txt")
    obj.upload(b"hello lakeFS", content_type="text/plain", metadata={"owner": "ana"})
    assert obj.reader().read() == b"hello lakeFS"
    stat = obj.stat()
    assert stat.size_bytes == 12
    assert stat.content_type == "text/plain"
    assert stat.metadata == {"owner": "ana"}
    assert stat.path == "docs/notes.txt"
    assert stat.mtime > 0
    info = lakefs_server.store.repository.ref(branch.id).object("docs/notes.txt").stat()
    assert stat.checksum == info.checksum  # the object is staged in our repository
    assert lakefs_server.root.as_posix() not in stat.physical_address


def test_reader_reads_ranges(branch: lakefs.Branch) -> None:
    data = bytes(range(256)) * 40
    obj = branch.object("blob.bin")
    obj.upload(data)
    with obj.reader() as f:
        f.seek(1000)
        assert f.read(24) == data[1000:1024]
        f.seek(len(data) - 10)
        assert f.read() == data[-10:]
        assert f.read(5) == b""


def test_exclusive_upload_refuses_an_existing_path(branch: lakefs.Branch) -> None:
    obj = branch.object("once.txt")
    obj.upload(b"first", mode="xb")
    with pytest.raises(ObjectExistsException):
        obj.upload(b"second", mode="xb")
    assert obj.reader().read() == b"first"


def test_list_with_a_delimiter_and_pages(branch: lakefs.Branch) -> None:
    for p in ("d/a.txt", "d/b.txt", "d/sub/c.txt", "d/sub/d.txt", "d/z/e.txt", "e.txt"):
        branch.object(p).upload(p.encode())
    listed = list(branch.objects(prefix="d/", delimiter="/"))
    assert [(type(x).__name__, x.path) for x in listed] == [
        ("ObjectInfo", "d/a.txt"),
        ("ObjectInfo", "d/b.txt"),
        ("CommonPrefix", "d/sub/"),
        ("CommonPrefix", "d/z/"),
    ]
    everything = [x.path for x in branch.objects(prefix="d/", max_amount=10)]
    assert everything == ["d/a.txt", "d/b.txt", "d/sub/c.txt", "d/sub/d.txt", "d/z/e.txt"]
    after = [x.path for x in branch.objects(prefix="d/", delimiter="/", after="d/sub/")]
    assert after == ["d/z/"]


def test_delete_one_and_many(branch: lakefs.Branch) -> None:
    for p in ("x/1", "x/2", "x/3"):
        branch.object(p).upload(b"1")
    branch.object("x/1").delete()
    branch.delete_objects(["x/2", "x/3", "x/never-there"])
    assert list(branch.objects(prefix="x/")) == []
    assert not branch.object("x/1").exists()


def test_copy_keeps_bytes_and_attributes(branch: lakefs.Branch) -> None:
    src = branch.object("src/report.csv")
    src.upload(b"a,b\n1,2\n", content_type="text/csv", metadata={"k": "v"})
    branch.commit(message="report")
    copied = src.copy(branch.id, "dst/report.csv")
    assert copied.reader().read() == b"a,b\n1,2\n"
    stat = copied.stat()
    assert (stat.content_type, stat.metadata) == ("text/csv", {"k": "v"})
    with pytest.raises(lakefs.exceptions.NotFoundException):
        branch.object("src/missing.csv").copy(branch.id, "dst/x")


def test_time_travel_reads_the_committed_bytes(branch: lakefs.Branch) -> None:
    obj = branch.object("v.txt")
    obj.upload(b"one")
    branch.commit(message="one")
    obj.upload(b"two")
    branch.commit(message="two")
    assert branch.object("v.txt").reader().read() == b"two"
    repo = lakefs.Repository(branch.repo_id, client=branch._client)
    assert repo.ref(f"{branch.id}~1").object("v.txt").reader().read() == b"one"


def test_transact_commits_and_merges_back(branch: lakefs.Branch) -> None:
    name = f"tx/{uuid.uuid4().hex[:6]}.txt"
    with branch.transact(commit_message="in a transaction") as tx:
        tx.object(name).upload(b"atomic")
    assert branch.object(name).reader().read() == b"atomic"
    assert next(iter(branch.log(max_amount=5))).message is not None
    assert list(branch.uncommitted()) == []


def test_reader_cannot_write(lakefs_server: LakeServer, branch: lakefs.Branch) -> None:
    repo = lakefs.Repository(
        lakefs_server.repo_name, client=lakefs_server.client("lk-reader-key-01")
    )
    obj = repo.branch(branch.id).object("nope.txt")
    with pytest.raises(lakefs.exceptions.NotAuthorizedException):
        obj.upload(b"x")
    assert not branch.object("nope.txt").exists()
