"""GC beside writers: each interleaving that lost committed data, replayed deterministically."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from repos import NotFoundError, Repository
from repos import _metadata as md
from tests.repos.reachable import everything_reads


def _age(repo: Repository, days: int) -> None:
    """Make every commit and object of ``repo`` ``days`` older."""
    with repo._engine.begin() as conn:
        for cid, date in conn.execute(sa.select(md.commits.c.id, md.commits.c.creation_date)).all():
            older = (datetime.fromisoformat(date) - timedelta(days=days)).isoformat()
            conn.execute(md.commits.update().where(md.commits.c.id == cid).values(creation_date=older))
    then = time.time() - days * 86400
    for f in (Path(repo.storage) / "objects").rglob("*"):
        if f.is_file():
            os.utime(f, (then, then))


@pytest.fixture
def other(repo: Repository, metadata_url: str | None) -> Iterator[Repository]:
    """A second handle on the same repository: the process that runs GC."""
    r = Repository.open(repo.storage, metadata_url)
    try:
        yield r
    finally:
        r.close()


@pytest.mark.parametrize("retention", [timedelta(0), timedelta(days=7)])
def test_a_commit_in_flight_keeps_its_tree(
    repo: Repository, other: Repository, retention: timedelta
) -> None:
    main = repo.branch("main")
    main.object("old").upload(b"old")
    main.commit("old")
    _age(repo, 30)
    main.object("new").upload(b"written before gc, committed after")
    ran: list[int] = []
    # the ranges and the meta-range are written; the head has not moved yet
    repo._before_cas = lambda: ran.append(other.gc(retention=retention).objects_removed)
    commit = main.commit("lands while gc runs")
    repo._before_cas = None
    assert ran, "gc ran inside the commit"
    assert repo.ref(commit.id).object("new").read() == b"written before gc, committed after"
    assert everything_reads(repo) == 2
    other.gc(retention=timedelta(0))  # and GC still runs afterwards
    assert everything_reads(repo) == 2


@pytest.mark.parametrize("retention", [timedelta(0), timedelta(days=7)])
def test_an_upload_not_yet_staged_is_kept(
    repo: Repository, other: Repository, retention: timedelta, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = repo.branch("main")
    stage = repo._stage

    def gc_then_stage(*args: object, **kwargs: object) -> None:
        other.gc(retention=retention)  # the bytes landed; the staging row is not written yet
        stage(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repo, "_stage", gc_then_stage)
    main.upload_many({"fresh": b"uploaded, not yet staged"})
    monkeypatch.undo()
    main.commit("fresh")
    assert main.object("fresh").read() == b"uploaded, not yet staged"
    assert everything_reads(repo) == 1


@pytest.mark.parametrize("retention", [timedelta(0), timedelta(days=7)])
def test_an_old_object_uploaded_again_while_gc_runs_is_kept(
    repo: Repository, other: Repository, retention: timedelta, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = repo.branch("tmp").create("main")
    tmp.object("x").upload(b"same bytes, uploaded twice")
    tmp.commit("first upload")
    tmp.delete()
    _age(repo, 30)  # unreachable, and older than any retention
    listing = other._store.list

    def list_then_reupload(
        skip: AbstractSet[str] = frozenset(),
    ) -> Iterator[tuple[str, int, float]]:
        found = list(listing(skip))  # GC has listed the old object as garbage
        main = repo.branch("main")
        main.object("again").upload(b"same bytes, uploaded twice")  # dedup: no new bytes
        main.commit("second upload")
        yield from found

    monkeypatch.setattr(other._store, "list", list_then_reupload)
    other.gc(retention=retention)
    monkeypatch.undo()
    assert repo.branch("main").object("again").read() == b"same bytes, uploaded twice"
    assert everything_reads(repo) == 1
    assert other.gc(retention=timedelta(0)).objects_removed >= 0
    assert everything_reads(repo) == 1


def test_a_ref_to_a_commit_gc_expired_is_refused(repo: Repository, other: Repository) -> None:
    tmp = repo.branch("tmp").create("main")
    tmp.object("x").upload(b"on a branch about to go")
    lost = tmp.commit("doomed")
    tmp.delete()
    _age(repo, 30)
    assert other.gc().objects_removed == 3  # object, range, meta-range
    with pytest.raises(NotFoundError, match="garbage collection"):
        repo.branch("back").create(lost.id)
    with pytest.raises(NotFoundError, match="garbage collection"):
        repo.tag("back").create(lost.id)
    assert [b.id for b in repo.branches()] == ["main"]


def test_a_young_unreachable_commit_can_come_back(repo: Repository, other: Repository) -> None:
    tmp = repo.branch("tmp").create("main")
    tmp.object("x").upload(b"deleted by mistake")
    kept = tmp.commit("recent")
    tmp.delete()
    assert other.gc().objects_removed == 0  # younger than the default retention
    back = repo.branch("back").create(kept.id)
    assert back.object("x").read() == b"deleted by mistake"


def test_gc_reports_a_reachable_object_lost_outside_gc(repo: Repository) -> None:
    main = repo.branch("main")
    main.object("x").upload(b"x")
    head = main.commit("x")
    meta = Path(repo.storage) / "objects" / head.meta_range_id[:2] / head.meta_range_id
    meta.unlink()
    repo._tree.forget(head.meta_range_id)
    before = sorted(p.name for p in (Path(repo.storage) / "objects").rglob("*") if p.is_file())
    with pytest.raises(Exception, match="lost data; GC deleted nothing"):
        repo.gc(retention=timedelta(0))
    after = sorted(p.name for p in (Path(repo.storage) / "objects").rglob("*") if p.is_file())
    assert after == before


def test_grace_protects_a_dead_writers_uploads_then_expires(repo: Repository) -> None:
    repo._intents.record([])  # no-op
    main = repo.branch("main")
    with repo._intents.operation():
        checksum, _ = repo._store.put_bytes(b"a writer died here", repo._intents.admit)
        # the writer dies: its intent stays, nothing is staged
        repo._intents._local.token = None
        with repo._engine.begin() as conn:
            conn.execute(md.intents.update().values(token="dead"))
    assert repo.gc(retention=timedelta(0)).objects_removed == 0
    assert repo._store.exists(checksum)
    assert repo.gc(retention=timedelta(0), grace=timedelta(0)).objects_removed == 1
    assert not repo._store.exists(checksum)
    with repo._engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(md.intents)).scalar() == 0
    assert list(main.objects()) == []


def test_gc_arguments_are_checked(repo: Repository) -> None:
    from repos import InvalidNameError

    with pytest.raises(InvalidNameError, match="grace"):
        repo.gc(grace=timedelta(seconds=-1))
    assert datetime.now(UTC)  # keep the import honest


def test_two_gcs_at_once_raise_no_false_alarm(
    repo: Repository, other: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = repo.branch("main")
    main.object("kept").upload(b"kept")
    main.commit("kept")
    doomed = repo.branch("doomed").create("main")
    doomed.object("x").upload(b"on a branch deleted while gc runs")
    doomed.commit("doomed")
    from repos import _gc

    real = _gc._Marker.add_commits
    calls: list[int] = []

    def collected_meanwhile(self: _gc._Marker, ids: Any, strict: bool | None) -> None:
        if not calls:  # between this GC's snapshot of the refs and its reading of trees
            calls.append(1)
            repo.branch("doomed").delete()
            other.gc(retention=timedelta(0))  # a second GC collects the branch's tree
            repo._tree._cache.clear()
        real(self, ids, strict)

    monkeypatch.setattr(_gc._Marker, "add_commits", collected_meanwhile)
    repo.gc(retention=timedelta(0))
    monkeypatch.undo()
    assert calls
    assert everything_reads(repo) == 1
    assert main.object("kept").read() == b"kept"
