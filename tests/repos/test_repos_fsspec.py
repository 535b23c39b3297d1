"""Objects in an fsspec filesystem (``memory://``) with metadata in a SQLite file."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import fsspec
import pytest

from repos import InvalidNameError, Repository


def test_memory_filesystem_round_trip_and_gc(tmp_path: Path) -> None:
    url = f"memory://repos-test-{uuid.uuid4().hex}/repo"
    repo = Repository.create(url, metadata_url=f"sqlite:///{tmp_path / 'meta.sqlite'}")
    main = repo.branch("main")
    info = main.object("a/b").upload(b"hello")
    assert info.physical_address.startswith(url + "/objects/")
    main.object("a/c").upload(b"orphan")
    main.object("a/c").delete()
    main.commit("one object")
    dev = repo.branch("dev").create("main")
    dev.object("a/b").upload(b"dev")
    dev.commit("dev")
    dev.merge_into("main")
    with fsspec.open(main.object("a/b").stat().physical_address, "rb") as f:
        assert f.read() == b"dev"
    assert repo.gc(timedelta(0)).objects_removed == 1  # the staged-then-deleted object
    assert main.object("a/b").read() == b"dev"
    assert repo.ref("main~1").object("a/b").read() == b"hello"
    repo.close()
    again = Repository.open(url, metadata_url=f"sqlite:///{tmp_path / 'meta.sqlite'}")
    assert [o.path for o in again.branch("main").objects()] == ["a/b"]
    again.close()


def test_remote_storage_needs_a_metadata_url() -> None:
    with pytest.raises(InvalidNameError, match="metadata_url"):
        Repository.create("memory://somewhere/repo")
