# mypy: disable-error-code="no-untyped-call"
"""The ``lakefs`` high-level SDK against featurestore: repository, branches, commits,
diff, merge (conflicts and strategies), log, tags, time travel and transactions."""

from __future__ import annotations

import uuid

import lakefs
import pytest

from tests.lakefs.served import LakeServer


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def test_repository_is_the_project(lakefs_server: LakeServer, admin_client: lakefs.Client) -> None:
    repo = lakefs.Repository(lakefs_server.repo_name, client=admin_client)
    repo.create(storage_namespace="local://anywhere", exist_ok=True)
    assert repo.properties.default_branch == "main"
    assert [r.id for r in lakefs.repositories(client=admin_client)] == [lakefs_server.repo_name]
    with pytest.raises(lakefs.exceptions.ConflictException):
        lakefs.Repository(lakefs_server.repo_name, client=admin_client).create(
            storage_namespace="local://anywhere"
        )


def test_other_repository_names_are_refused(admin_client: lakefs.Client) -> None:
    with pytest.raises(lakefs.exceptions.BadRequestException, match="serves one repository"):
        lakefs.Repository("another-repo", client=admin_client).create(storage_namespace="local://x")
    with pytest.raises(lakefs.exceptions.NotFoundException):
        lakefs.Repository("another-repo", client=admin_client).branch("main").get_commit()


def test_branch_upload_commit_diff(lakefs_repo: lakefs.Repository) -> None:
    branch = lakefs_repo.branch(_name("feat")).create(source_reference="main")
    assert branch.get_commit().id == lakefs_repo.branch("main").get_commit().id
    branch.object("data/a.txt").upload(b"alpha")
    changes = list(branch.uncommitted())
    assert [(c.type, c.path) for c in changes] == [("added", "data/a.txt")]
    ref = branch.commit("add a", metadata={"owner": "lake"})
    commit = ref.get_commit()
    assert commit.message == "add a" and commit.metadata == {"owner": "lake"}
    assert list(branch.uncommitted()) == []
    diff = list(lakefs_repo.ref("main").diff(branch))
    assert [(c.type, c.path, c.size_bytes) for c in diff] == [("added", "data/a.txt", 5)]
    assert branch.id in {b.id for b in lakefs_repo.branches()}
    branch.delete()
    assert branch.id not in {b.id for b in lakefs_repo.branches()}


def test_commit_with_nothing_staged_is_400(fresh_branch: lakefs.Branch) -> None:
    with pytest.raises(lakefs.exceptions.BadRequestException):
        fresh_branch.commit("nothing")
    fresh_branch.commit("empty on purpose", allow_empty=True)
    assert fresh_branch.get_commit().message == "empty on purpose"


def test_merge_conflict_then_source_wins(lakefs_repo: lakefs.Repository) -> None:
    base = lakefs_repo.branch(_name("base")).create(source_reference="main")
    base.object("conf.txt").upload(b"v0")
    base.commit("v0")
    ours = lakefs_repo.branch(_name("ours")).create(source_reference=base)
    theirs = lakefs_repo.branch(_name("theirs")).create(source_reference=base)
    ours.object("conf.txt").upload(b"ours")
    ours.commit("ours")
    theirs.object("conf.txt").upload(b"theirs")
    theirs.object("extra.txt").upload(b"more")
    theirs.commit("theirs")
    ours.merge_into(base)
    head = base.get_commit().id
    with pytest.raises(lakefs.exceptions.ConflictException, match=r"conf\.txt"):
        theirs.merge_into(base)
    assert base.get_commit().id == head  # a conflict changes nothing
    merged = theirs.merge_into(base, strategy="source-wins", message="take theirs")
    assert base.get_commit().id == merged
    assert base.object("conf.txt").reader().read() == b"theirs"
    assert base.object("extra.txt").reader().read() == b"more"
    commit = base.get_commit()
    assert commit.message == "take theirs" and len(commit.parents) == 2


def test_merge_dest_wins_and_nothing_to_merge(lakefs_repo: lakefs.Repository) -> None:
    base = lakefs_repo.branch(_name("dw")).create(source_reference="main")
    side = lakefs_repo.branch(_name("dw-side")).create(source_reference=base)
    base.object("k.txt").upload(b"dest")
    base.commit("dest")
    side.object("k.txt").upload(b"source")
    side.commit("source")
    side.merge_into(base, strategy="dest-wins")
    assert base.object("k.txt").reader().read() == b"dest"
    with pytest.raises(lakefs.exceptions.BadRequestException):
        side.merge_into(base)  # already merged: nothing to do
    side.merge_into(base, allow_empty=True)


def test_log_and_time_travel(fresh_branch: lakefs.Branch, lakefs_repo: lakefs.Repository) -> None:
    fresh_branch.object("t.txt").upload(b"one")
    first = fresh_branch.commit("one").get_commit()
    fresh_branch.object("t.txt").upload(b"two")
    second = fresh_branch.commit("two").get_commit()
    log = list(fresh_branch.log(max_amount=2))
    assert [c.id for c in log] == [second.id, first.id]
    previous = lakefs_repo.ref(f"{fresh_branch.id}~1")
    assert previous.get_commit().id == first.id
    assert previous.object("t.txt").reader().read() == b"one"
    assert lakefs_repo.ref(first.id).object("t.txt").reader().read() == b"one"
    assert [c.id for c in fresh_branch.log(max_amount=1)] == [second.id]


def test_tags(fresh_branch: lakefs.Branch, lakefs_repo: lakefs.Repository) -> None:
    fresh_branch.object("v.txt").upload(b"release")
    commit = fresh_branch.commit("release").get_commit()
    name = _name("v")
    tag = lakefs_repo.tag(name).create(fresh_branch)
    assert tag.get_commit().id == commit.id
    assert name in {t.id for t in lakefs_repo.tags()}
    assert lakefs_repo.tag(name).object("v.txt").reader().read() == b"release"
    lakefs_repo.tag(name).create(fresh_branch, exist_ok=True)
    with pytest.raises(lakefs.exceptions.ConflictException):
        lakefs_repo.tag(name).create(fresh_branch)
    tag.delete()
    assert name not in {t.id for t in lakefs_repo.tags()}
    with pytest.raises(lakefs.exceptions.NotFoundException):
        lakefs_repo.tag(name).get_commit()


def test_transact_commits_and_merges_once(
    fresh_branch: lakefs.Branch, lakefs_repo: lakefs.Repository
) -> None:
    before = fresh_branch.get_commit().id
    with fresh_branch.transact(commit_message="in one go") as tx:
        tx.object("tx/a.txt").upload(b"a")
        tx.object("tx/b.txt").upload(b"b")
    assert fresh_branch.get_commit().id != before
    assert fresh_branch.object("tx/b.txt").reader().read() == b"b"
    messages = [c.message for c in fresh_branch.log(max_amount=3)]
    assert "in one go" in messages
    assert not [b.id for b in lakefs_repo.branches() if b.id.startswith("tx-")]


def test_transact_that_fails_leaves_the_branch(fresh_branch: lakefs.Branch) -> None:
    before = fresh_branch.get_commit().id
    with pytest.raises(RuntimeError), fresh_branch.transact(commit_message="never") as tx:
        tx.object("tx/never.txt").upload(b"x")
        raise RuntimeError("stop")
    assert fresh_branch.get_commit().id == before
    assert not fresh_branch.object("tx/never.txt").exists()


def test_revert_and_cherry_pick(lakefs_repo: lakefs.Repository) -> None:
    src = lakefs_repo.branch(_name("pick-src")).create(source_reference="main")
    dst = lakefs_repo.branch(_name("pick-dst")).create(source_reference="main")
    src.object("p.txt").upload(b"picked")
    picked = src.commit("pick me", metadata={"ticket": "7"}).get_commit()
    done = dst.cherry_pick(picked.id)
    assert done.message == "pick me" and done.metadata == {"ticket": "7"}
    assert done.parents == [lakefs_repo.ref(f"{dst.id}~1").get_commit().id]
    assert dst.object("p.txt").reader().read() == b"picked"
    reverted = dst.revert(dst.id)
    assert reverted.id == dst.get_commit().id
    assert not dst.object("p.txt").exists()


def test_reset_changes(fresh_branch: lakefs.Branch) -> None:
    fresh_branch.object("r/a.txt").upload(b"a")
    fresh_branch.object("r/b.txt").upload(b"b")
    fresh_branch.object("s.txt").upload(b"s")
    fresh_branch.reset_changes("object", "r/a.txt")
    assert sorted(c.path for c in fresh_branch.uncommitted()) == ["r/b.txt", "s.txt"]
    fresh_branch.reset_changes("common_prefix", "r/")
    assert [c.path for c in fresh_branch.uncommitted()] == ["s.txt"]
    fresh_branch.reset_changes()
    assert list(fresh_branch.uncommitted()) == []
