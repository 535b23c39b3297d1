# mypy: disable-error-code="call-arg"
"""The generated ``lakefs-sdk`` on what the high-level SDK does not reach: the log's
``prefixes`` / ``objects`` / ``since`` / ``first_parent`` / ``stop_at``, squash merges,
empty reverts, two- and three-dot diffs, the merge base, lakeFS's paging on every
list, and 501 for the operations this server does not serve."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from lakefs_sdk.client import LakeFSClient
from lakefs_sdk.exceptions import ApiException
from lakefs_sdk.models.branch_creation import BranchCreation
from lakefs_sdk.models.commit_creation import CommitCreation
from lakefs_sdk.models.merge import Merge
from lakefs_sdk.models.revert_creation import RevertCreation
from lakefs_sdk.models.tag_creation import TagCreation

from tests.lakefs.served import LakeServer


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def _branch(sdk: LakeFSClient, repo: str, source: str = "main") -> str:
    name = _name("gen")
    sdk.branches_api.create_branch(repo, BranchCreation(name=name, source=source))
    return name


def _commit(sdk: LakeFSClient, repo: str, branch: str, path: str, data: bytes) -> str:
    sdk.objects_api.upload_object(repo, branch, path, content=data)
    made = sdk.commits_api.commit(repo, branch, CommitCreation(message=f"write {path}"))
    return str(made.id)


def test_log_filters_and_pages(lakefs_server: LakeServer, sdk_client: LakeFSClient) -> None:
    repo, refs = lakefs_server.repo_name, sdk_client.refs_api
    branch = _branch(sdk_client, repo)
    a = _commit(sdk_client, repo, branch, "a/one.txt", b"1")
    b = _commit(sdk_client, repo, branch, "b/two.txt", b"2")
    c = _commit(sdk_client, repo, branch, "a/three.txt", b"3")
    under_a = refs.log_commits(repo, branch, prefixes=["a/"])
    assert [x.id for x in under_a.results] == [c, a]
    exact = refs.log_commits(repo, branch, objects=["a/one.txt"])
    assert [x.id for x in exact.results] == [a]
    page = refs.log_commits(repo, branch, amount=2)
    assert [x.id for x in page.results] == [c, b]
    assert page.pagination.has_more and page.pagination.next_offset == b
    rest = refs.log_commits(repo, branch, amount=1, after=page.pagination.next_offset)
    assert [x.id for x in rest.results] == [a]
    limited = refs.log_commits(repo, branch, amount=2, limit=True)
    assert len(limited.results) == 2 and not limited.pagination.has_more
    stopped = refs.log_commits(repo, branch, stop_at=b)
    assert [x.id for x in stopped.results] == [c, b]
    future = datetime.now(UTC) + timedelta(days=1)
    assert refs.log_commits(repo, branch, since=future).results == []
    sdk_client.branches_api.delete_branch(repo, branch)


def test_first_parent_skips_merged_commits(
    lakefs_server: LakeServer, sdk_client: LakeFSClient
) -> None:
    repo, refs = lakefs_server.repo_name, sdk_client.refs_api
    dest = _branch(sdk_client, repo)
    side = _branch(sdk_client, repo, dest)
    on_side = _commit(sdk_client, repo, side, "side.txt", b"s")
    merged = refs.merge_into_branch(repo, side, dest, Merge(message="merge side")).reference
    everything = [x.id for x in refs.log_commits(repo, dest).results]
    assert everything[0] == merged and on_side in everything
    first = [x.id for x in refs.log_commits(repo, dest, first_parent=True).results]
    assert first[0] == merged and on_side not in first
    base = refs.find_merge_base(repo, side, dest)
    assert base.source_commit_id == on_side and base.destination_commit_id == merged
    assert base.base_commit_id == on_side
    for b in (dest, side):
        sdk_client.branches_api.delete_branch(repo, b)


def test_squash_merge_and_empty_revert(lakefs_server: LakeServer, sdk_client: LakeFSClient) -> None:
    repo, refs, branches = lakefs_server.repo_name, sdk_client.refs_api, sdk_client.branches_api
    dest = _branch(sdk_client, repo)
    side = _branch(sdk_client, repo, dest)
    _commit(sdk_client, repo, side, "sq/1.txt", b"1")
    _commit(sdk_client, repo, side, "sq/2.txt", b"2")
    head = branches.get_branch(repo, dest).commit_id
    squash = Merge(message="squashed", metadata={"from": side}, squash_merge=True)
    done = refs.merge_into_branch(repo, side, dest, squash).reference
    commit = sdk_client.commits_api.get_commit(repo, done)
    assert commit.parents == [head] and commit.message == "squashed"
    assert commit.metadata == {"from": side}
    listed = sdk_client.objects_api.list_objects(repo, dest, prefix="sq/")
    assert [o.path for o in listed.results] == ["sq/1.txt", "sq/2.txt"]
    # side's commits are not in dest after a squash: merging it again records a merge
    # commit with dest's content, as lakeFS does (source and base differ).
    again = refs.merge_into_branch(repo, side, dest, Merge()).reference
    assert len(sdk_client.commits_api.get_commit(repo, again).parents) == 2
    dest_ls = sdk_client.objects_api.list_objects(repo, dest, prefix="sq/")
    assert [o.path for o in dest_ls.results] == ["sq/1.txt", "sq/2.txt"]
    # Reverting a commit whose change is already undone changes nothing: 400 unless allowed.
    undo = RevertCreation(ref=done, parent_number=1)
    branches.revert_branch(repo, dest, undo)
    with pytest.raises(ApiException) as empty:
        branches.revert_branch(repo, dest, undo)
    assert empty.value.status == 400 and "no changes" in str(empty.value.body)
    before = branches.get_branch(repo, dest).commit_id
    branches.revert_branch(repo, dest, RevertCreation(ref=done, parent_number=1, allow_empty=True))
    assert branches.get_branch(repo, dest).commit_id != before
    for b in (dest, side):
        branches.delete_branch(repo, b)


def test_two_and_three_dot_diffs_and_the_uncommitted_diff(
    lakefs_server: LakeServer, sdk_client: LakeFSClient
) -> None:
    repo, refs, branches = lakefs_server.repo_name, sdk_client.refs_api, sdk_client.branches_api
    left = _branch(sdk_client, repo)
    right = _branch(sdk_client, repo, left)
    _commit(sdk_client, repo, left, "only-left.txt", b"l")
    _commit(sdk_client, repo, right, "d/x.txt", b"x")
    _commit(sdk_client, repo, right, "d/y.txt", b"y")
    three = refs.diff_refs(repo, left, right)  # from the merge base: right's changes only
    assert [(d.type, d.path) for d in three.results] == [("added", "d/x.txt"), ("added", "d/y.txt")]
    two = refs.diff_refs(repo, left, right, type="two_dot")
    assert ("removed", "only-left.txt") in [(d.type, d.path) for d in two.results]
    folded = refs.diff_refs(repo, left, right, delimiter="/")
    assert [(d.path, d.path_type) for d in folded.results] == [("d/", "common_prefix")]
    first = refs.diff_refs(repo, left, right, amount=1)
    assert first.pagination.has_more and first.pagination.next_offset == "d/x.txt"
    after = refs.diff_refs(repo, left, right, after="d/x.txt")
    assert [d.path for d in after.results] == ["d/y.txt"] and not after.pagination.has_more
    sdk_client.objects_api.upload_object(repo, right, "u/1.txt", content=b"1")
    sdk_client.objects_api.upload_object(repo, right, "u/2.txt", content=b"2")
    staged = branches.diff_branch(repo, right, amount=1)
    assert [d.path for d in staged.results] == ["u/1.txt"] and staged.pagination.has_more
    assert [d.path for d in branches.diff_branch(repo, right, prefix="u/2").results] == ["u/2.txt"]
    for b in (left, right):
        branches.delete_branch(repo, b)


def test_branch_tag_and_repository_lists_page(
    lakefs_server: LakeServer, sdk_client: LakeFSClient
) -> None:
    repo = lakefs_server.repo_name
    stem = _name("pg")
    names = [f"{stem}-{i}" for i in range(3)]
    for n in names:
        sdk_client.branches_api.create_branch(repo, BranchCreation(name=n, source="main"))
        sdk_client.tags_api.create_tag(repo, TagCreation(id=n, ref="main"))
    for api in (sdk_client.branches_api.list_branches, sdk_client.tags_api.list_tags):
        first = api(repo, prefix=stem, amount=2)
        assert [r.id for r in first.results] == names[:2]
        assert first.pagination.has_more and first.pagination.next_offset == names[1]
        rest = api(repo, prefix=stem, after=first.pagination.next_offset)
        assert [r.id for r in rest.results] == names[2:] and not rest.pagination.has_more
    repos = sdk_client.repositories_api.list_repositories(amount=1)
    assert [r.id for r in repos.results] == [repo] and not repos.pagination.has_more
    assert sdk_client.repositories_api.list_repositories(after=repo).results == []
    for n in names:
        sdk_client.branches_api.delete_branch(repo, n)
        sdk_client.tags_api.delete_tag(repo, n)


def test_deleting_the_default_branch_is_403(
    lakefs_server: LakeServer, sdk_client: LakeFSClient
) -> None:
    with pytest.raises(ApiException) as refused:
        sdk_client.branches_api.delete_branch(lakefs_server.repo_name, "main")
    assert refused.value.status == 403 and "default branch" in str(refused.value.body)


def test_operations_not_served_are_501(lakefs_server: LakeServer, sdk_client: LakeFSClient) -> None:
    repo = lakefs_server.repo_name
    branch = _branch(sdk_client, repo)
    with pytest.raises(ApiException) as presign:
        sdk_client.staging_api.get_physical_address(repo, branch, "p.bin")
    assert presign.value.status == 501 and "pre_sign_support" in str(presign.value.body)
    with pytest.raises(ApiException) as imports:
        sdk_client.import_api.import_status(repo, branch, "some-id")
    assert imports.value.status == 501
    sdk_client.branches_api.delete_branch(repo, branch)
