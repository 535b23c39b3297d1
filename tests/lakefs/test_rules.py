# mypy: disable-error-code="no-untyped-call, call-arg"
"""Protected branches and hooks hold for lakeFS's clients as for our own API: a
protected branch refuses direct uploads, commits, reverts, cherry-picks, squash merges
and deletes (403, lakeFS's shape) but takes merges; a refusing pre-commit or pre-merge
hook answers 412 and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import lakefs
import pytest
from lakefs_sdk.client import LakeFSClient
from lakefs_sdk.exceptions import ApiException
from lakefs_sdk.models.branch_protection_rule import BranchProtectionRule
from lakefs_sdk.models.cherry_pick_creation import CherryPickCreation
from lakefs_sdk.models.merge import Merge
from lakefs_sdk.models.revert_creation import RevertCreation
from lakefs_spec import LakeFSFileSystem

from repos.models import HookEvent
from tests.lakefs.served import ADMIN, WRITER, LakeServer

NO_COMMIT = "hook-nocommit-"
NO_MERGE = "hook-nomerge-"


def _name(stem: str) -> str:
    return f"{stem}{uuid.uuid4().hex[:8]}"


def _refuse_commits(event: HookEvent) -> str | None:
    return "commits here need a ticket" if event.branch.startswith(NO_COMMIT) else None


def _refuse_merges(event: HookEvent) -> str | None:
    return "merges here need a review" if event.branch.startswith(NO_MERGE) else None


@pytest.fixture(scope="module")
def hooked(lakefs_server: LakeServer) -> LakeServer:
    """The served repository with hooks that refuse on branches named for them."""
    repo = lakefs_server.store.repository
    repo.add_hook("pre-commit", _refuse_commits)
    repo.add_hook("pre-merge", _refuse_merges)
    return lakefs_server


@pytest.fixture
def protected(lakefs_server: LakeServer, lakefs_repo: lakefs.Repository) -> Iterator[lakefs.Branch]:
    """A branch with one committed object, protected for the test."""
    branch = lakefs_repo.branch(_name("prot-")).create(source_reference="main")
    branch.object("kept.txt").upload(b"kept")
    branch.commit("kept")
    repo = lakefs_server.store.repository
    repo.protect_branch(branch.id)
    yield branch
    repo.unprotect_branch(branch.id)
    branch.delete()


def _message(exc: lakefs.exceptions.ServerException) -> str:
    body = exc.body
    assert isinstance(body, dict), body
    return str(body["message"])


def test_direct_writes_on_a_protected_branch_are_403(
    protected: lakefs.Branch, lakefs_server: LakeServer
) -> None:
    head = protected.get_commit().id
    with pytest.raises(lakefs.exceptions.ForbiddenException) as upload:
        protected.object("new.txt").upload(b"x")
    assert "protected" in _message(upload.value)
    with pytest.raises(lakefs.exceptions.ForbiddenException):
        protected.commit("direct", allow_empty=True)
    with pytest.raises(lakefs.exceptions.ForbiddenException):
        protected.delete_objects(["kept.txt"])
    with pytest.raises(lakefs.exceptions.ForbiddenException):
        protected.revert(head)
    with pytest.raises(lakefs.exceptions.ForbiddenException, match="protected"):
        protected.delete()
    fs = LakeFSFileSystem(host=lakefs_server.url, username="spec", password=WRITER)
    with pytest.raises(PermissionError):
        fs.pipe(f"lakefs://{lakefs_server.repo_name}/{protected.id}/spec.txt", b"x")
    assert protected.get_commit().id == head
    assert list(protected.uncommitted()) == []
    assert not protected.object("new.txt").exists()


def test_cherry_pick_and_squash_merge_onto_a_protected_branch_are_403(
    protected: lakefs.Branch, lakefs_repo: lakefs.Repository, sdk_client: LakeFSClient
) -> None:
    side = lakefs_repo.branch(_name("side-")).create(source_reference=protected)
    side.object("side.txt").upload(b"side")
    picked = side.commit("side").get_commit()
    head = protected.get_commit().id
    repo, api = lakefs_repo.id, sdk_client.refs_api
    with pytest.raises(lakefs.exceptions.ForbiddenException):
        protected.cherry_pick(picked.id)
    with pytest.raises(ApiException) as squash:
        api.merge_into_branch(repo, side.id, protected.id, Merge(squash_merge=True))
    assert squash.value.status == 403 and "squash" in str(squash.value.body)
    assert protected.get_commit().id == head
    side.delete()


def test_merges_and_transactions_move_a_protected_branch(
    protected: lakefs.Branch, lakefs_repo: lakefs.Repository
) -> None:
    side = lakefs_repo.branch(_name("side-")).create(source_reference=protected)
    side.object("merged.txt").upload(b"merged")
    side.commit("to merge")
    side.merge_into(protected)
    assert protected.object("merged.txt").reader().read() == b"merged"
    assert len(protected.get_commit().parents) == 2
    with protected.transact(commit_message="through a transaction") as tx:
        tx.object("tx.txt").upload(b"tx")
    assert protected.object("tx.txt").reader().read() == b"tx"
    side.delete()


def test_protection_rules_over_the_generated_sdk(
    lakefs_server: LakeServer, sdk_client: LakeFSClient
) -> None:
    repo = lakefs_server.repo_name
    pattern = _name("rel-") + "-*"
    admin = lakefs_server.sdk(ADMIN).repositories_api
    before = admin.get_branch_protection_rules(repo)
    admin.set_branch_protection_rules(repo, [*before, BranchProtectionRule(pattern=pattern)])
    try:
        assert pattern in lakefs_server.store.repository.protected_patterns()
        with pytest.raises(ApiException) as writer:  # only an admin key changes rules
            sdk_client.repositories_api.set_branch_protection_rules(repo, before)
        assert writer.value.status == 401
        with httpx.Client(base_url=f"{lakefs_server.url}/api/v1", auth=("a", ADMIN)) as http:
            url = f"/repositories/{repo}/settings/branch_protection"
            got = http.get(url)
            stale = http.put(url, json=[], headers={"If-Match": '"not-the-etag"'})
            assert stale.status_code == 412 and "If-Match" in stale.json()["message"]
            kept = [r for r in got.json() if r["pattern"] != pattern]
            done = http.put(url, json=kept, headers={"If-Match": got.headers["ETag"]})
            assert done.status_code == 204
        assert pattern not in lakefs_server.store.repository.protected_patterns()
    finally:
        rules = lakefs_server.store.repository.protected_patterns()
        if pattern in rules:
            lakefs_server.store.repository.unprotect_branch(pattern)


def test_a_refusing_pre_commit_hook_is_412(
    hooked: LakeServer, lakefs_repo: lakefs.Repository, sdk_client: LakeFSClient
) -> None:
    branch = lakefs_repo.branch(_name(NO_COMMIT)).create(source_reference="main")
    branch.object("h.txt").upload(b"h")
    head = branch.get_commit().id
    with pytest.raises(lakefs.exceptions.ServerException) as refused:
        branch.commit("refused")
    assert refused.value.status_code == 412
    assert "commits here need a ticket" in _message(refused.value)
    assert branch.get_commit().id == head
    assert [c.path for c in branch.uncommitted()] == ["h.txt"]  # the changes stay staged
    branch.reset_changes()
    source = lakefs_repo.branch(_name("src-")).create(source_reference="main")
    source.object("pick.txt").upload(b"p")
    picked = source.commit("pick").get_commit()
    api = sdk_client.branches_api
    with pytest.raises(ApiException) as pick:
        api.cherry_pick(lakefs_repo.id, branch.id, CherryPickCreation(ref=picked.id))
    assert pick.value.status == 412
    with pytest.raises(ApiException) as revert:
        api.revert_branch(lakefs_repo.id, branch.id, RevertCreation(ref="main", parent_number=1))
    assert revert.value.status == 412
    assert branch.get_commit().id == head and list(branch.uncommitted()) == []
    for b in (branch, source):
        b.delete()


def test_a_refusing_pre_merge_hook_is_412(
    hooked: LakeServer, lakefs_repo: lakefs.Repository
) -> None:
    dest = lakefs_repo.branch(_name(NO_MERGE)).create(source_reference="main")
    side = lakefs_repo.branch(_name("side-")).create(source_reference="main")
    side.object("m.txt").upload(b"m")
    side.commit("to merge")
    head = dest.get_commit().id
    with pytest.raises(lakefs.exceptions.ServerException) as refused:
        side.merge_into(dest)
    assert refused.value.status_code == 412
    assert "merges here need a review" in _message(refused.value)
    assert dest.get_commit().id == head and not dest.object("m.txt").exists()
    for b in (dest, side):
        b.delete()
