"""The repository contract, run against SQLite and (when configured) PostgreSQL, with
objects in a local folder, on SeaweedFS and on moto's S3 server."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import fsspec
import pytest

from repos import (
    Branch,
    Change,
    Commit,
    ConflictError,
    EmptyCommitError,
    HookEvent,
    HookRejectedError,
    InvalidNameError,
    MergeConflictError,
    NotFoundError,
    ObjectInfo,
    ProtectedBranchError,
    ReadOnlyReferenceError,
    Reference,
    ReposError,
    Repository,
    Tag,
)
from tests.s3_server import S3Server

STORAGE_BACKENDS = ["local", "seaweedfs", "moto"]


def _root(repo: Repository) -> tuple[fsspec.AbstractFileSystem, str]:
    fs = repo.filesystem or fsspec.filesystem("file")
    return fs, str(fs._strip_protocol(str(repo.storage))).rstrip("/")


def files(repo: Repository) -> set[str]:
    """The stored objects' paths, relative to the storage root."""
    fs, root = _root(repo)
    return {p[len(root) + 1 :] for p in fs.find(f"{root}/objects")}


def stored(repo: Repository, path: str) -> bytes:
    """The bytes stored at ``path`` (relative to the storage root)."""
    fs, root = _root(repo)
    data: bytes = fs.cat_file(f"{root}/{path}")
    return data


def snapshot(repo: Repository) -> dict[str, Any]:
    """Everything visible about a repository, to check that a refusal changed nothing."""
    return {
        "branches": {
            b.id: (b.resolve(), list(b.uncommitted()), list(b.objects())) for b in repo.branches()
        },
        "tags": {t.id: t.resolve() for t in repo.tags()},
        "protected": repo.protected_patterns(),
        "objects": files(repo),
    }


def put(branch: Branch, **objects: bytes) -> None:
    branch.upload_many({k.replace("__", "/"): v for k, v in objects.items()})


def tree(ref: Reference) -> dict[str, bytes]:
    return {o.path: ref.object(o.path).read() for o in ref.objects()}


# -- objects and staging -------------------------------------------------------------


def test_create_open_and_initial_commit(repo: Repository, metadata_url: str | None) -> None:
    assert repo.default_branch == "main"
    first = repo.branch("main").get_commit()
    assert first.parents == () and first.message == "Repository created"
    assert first.creation_date.tzinfo is not None
    again = Repository.open(repo.storage, metadata_url)
    assert again.branch("main").resolve() == first.id
    again.close()
    with pytest.raises(ConflictError):
        Repository.create(repo.storage, metadata_url)
    same = Repository.create(repo.storage, metadata_url, exist_ok=True)
    assert same.branch("main").resolve() == first.id
    same.close()


def test_objects_land_on_this_backend(repo: Repository, s3_server: S3Server | None) -> None:
    info = repo.branch("main").object("where").upload(b"on this server")
    if s3_server is None:
        assert Path(info.physical_address).read_bytes() == b"on this server"
        return
    import s3fs

    own = s3fs.S3FileSystem(
        key=s3_server.key,
        secret=s3_server.secret,
        client_kwargs={"endpoint_url": s3_server.endpoint_url},
        skip_instance_cache=True,
    )
    assert own.cat_file(info.physical_address) == b"on this server"


def test_open_missing_repository_raises_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"Repository\.create"):
        Repository.open(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_upload_kinds_read_stat_and_dedup(repo: Repository, tmp_path: Path) -> None:
    main = repo.branch("main")
    local = tmp_path / "f.bin"
    local.write_bytes(b"from a file")
    info = main.object("a/bytes").upload(b"same")
    main.object("a/stream").upload(io.BytesIO(b"from a stream"))
    main.object("a/file").upload(local)
    main.object("b/dup").upload(b"same")
    assert isinstance(info, ObjectInfo) and info.size == 4
    assert main.object("a/stream").read() == b"from a stream"
    assert main.object("a/file").read() == b"from a file"
    dup = main.object("b/dup").stat()
    assert dup.checksum == info.checksum == main.object("a/bytes").stat().checksum
    fs, _ = _root(repo)
    assert fs.cat_file(dup.physical_address) == b"same"
    if repo.filesystem is None:
        assert os.path.isabs(dup.physical_address)
    else:
        assert dup.physical_address.startswith(f"{repo.storage}/objects/")
    with main.object("a/bytes").reader() as f:
        assert f.read() == b"same"
    assert len(files(repo) - {"x"}) >= 3
    contents = [p for p in files(repo) if stored(repo, p) == b"same"]
    assert len(contents) == 1


def test_objects_sorted_with_prefix_and_staged_view(repo: Repository) -> None:
    main = repo.branch("main")
    put(main, b__2=b"2", a__1=b"1", c=b"3", b__1=b"x")
    main.commit("base")
    main.object("b/0").upload(b"0")
    main.object("b/1").delete()
    assert [o.path for o in main.objects()] == ["a/1", "b/0", "b/2", "c"]
    assert [o.path for o in main.objects("b/")] == ["b/0", "b/2"]
    assert [o.path for o in main.head.objects("b/")] == ["b/1", "b/2"]
    assert [o.path for o in repo.ref("main").objects("b/")] == ["b/0", "b/2"]
    assert not main.object("b/1").exists() and main.head.object("b/1").exists()
    assert list(main.uncommitted()) == [Change("added", "b/0", 1), Change("removed", "b/1", None)]


def test_commit_records_changes_and_metadata(repo: Repository) -> None:
    main = repo.branch("main")
    before = main.resolve()
    put(main, x=b"1", y=b"2")
    c = main.commit("two files", metadata={"k": "v"})
    assert isinstance(c, Commit) and c.parents == (before,)
    assert c.metadata == {"k": "v"} and c.author == "tester"
    assert c.creation_date.tzinfo == UTC
    assert main.resolve() == c.id == main.get_commit().id
    assert list(main.uncommitted()) == []
    assert list(repo.ref(before).diff(c)) == [Change("added", "x", 1), Change("added", "y", 1)]
    main.object("x").upload(b"changed")
    main.object("y").delete()
    c2 = main.commit("change")
    assert list(repo.ref(c.id).diff(c2.id)) == [
        Change("changed", "x", 7),
        Change("removed", "y", None),
    ]
    assert tree(main) == {"x": b"changed"}
    assert tree(repo.ref(c.id)) == {"x": b"1", "y": b"2"}


def test_empty_commit_refused_unless_allowed(repo: Repository) -> None:
    main = repo.branch("main")
    put(main, x=b"1")
    main.commit("x")
    main.object("x").upload(b"1")  # same bytes again: no change
    main.object("gone").upload(b"g")
    main.object("gone").delete()  # staged, then deleted: no change
    before = snapshot(repo)
    with pytest.raises(EmptyCommitError, match="allow_empty"):
        main.commit("nothing")
    assert snapshot(repo)["branches"]["main"][0] == before["branches"]["main"][0]
    c = main.commit("nothing", allow_empty=True)
    assert main.resolve() == c.id


def test_reset_drops_uncommitted(repo: Repository) -> None:
    main = repo.branch("main")
    put(main, a=b"1")
    main.commit("a")
    put(main, b=b"2")
    main.object("a").delete()
    main.reset()
    assert list(main.uncommitted()) == []
    assert tree(main) == {"a": b"1"}


# -- refs -----------------------------------------------------------------------------


def test_branches_tags_and_ref_expressions(repo: Repository) -> None:
    main = repo.branch("main")
    ids = [main.resolve()]
    for i in range(3):
        main.object("f").upload(str(i).encode())
        ids.append(main.commit(f"c{i}").id)
    dev = repo.branch("dev").create("main~1")
    assert dev.resolve() == ids[2]
    assert [b.id for b in repo.branches()] == ["dev", "main"]
    t = repo.tag("v1").create(main)
    assert isinstance(t, Tag) and t.resolve() == ids[3]
    assert [x.id for x in repo.tags()] == ["v1"]
    assert repo.ref("v1~2").resolve() == ids[1]
    assert repo.ref("main^").resolve() == ids[2]
    assert repo.ref("main^^").resolve() == ids[1]
    assert repo.ref(ids[2][:8]).resolve() == ids[2]
    assert repo.ref(ids[2]).resolve() == ids[2]
    assert repo.ref(main.get_commit()).resolve() == ids[3]
    assert repo.branch("dev").create("main", exist_ok=True).resolve() == ids[2]
    with pytest.raises(ConflictError):
        repo.branch("dev").create("main")
    with pytest.raises(ConflictError):
        repo.tag("v1").create("main~1")
    with pytest.raises(NotFoundError):
        repo.ref("main~9").resolve()
    with pytest.raises(NotFoundError):
        repo.ref("nope").resolve()
    with pytest.raises(NotFoundError):
        repo.ref("main^3").resolve()
    dev.delete()
    t.delete()
    assert [b.id for b in repo.branches()] == ["main"] and repo.tags() == []
    with pytest.raises(NotFoundError):
        repo.branch("dev").get_commit()
    with pytest.raises(NotFoundError):
        t.delete()


def test_handles_do_no_io_until_a_verb(repo: Repository) -> None:
    ghost = repo.branch("ghost")
    obj = ghost.object("a")
    assert ghost.id == "ghost" and obj.path == "a"
    with pytest.raises(NotFoundError):
        obj.read()
    with pytest.raises(NotFoundError):
        obj.upload(b"x")
    assert files(repo) == files(repo)


def test_writes_through_tags_and_commits_are_refused(repo: Repository) -> None:
    repo.tag("v0").create("main")
    with pytest.raises(ReadOnlyReferenceError):
        repo.ref("v0").object("a").upload(b"x")
    with pytest.raises(ReadOnlyReferenceError):
        repo.ref(repo.branch("main").resolve()).object("a").upload(b"x")


def test_log_prefixes_max_amount_and_first_parent(repo: Repository) -> None:
    main = repo.branch("main")
    put(main, a__1=b"1")
    c1 = main.commit("a1")
    put(main, b__1=b"1")
    c2 = main.commit("b1")
    dev = repo.branch("dev").create("main")
    put(dev, a__2=b"2")
    c3 = dev.commit("a2 on dev")
    put(main, c=b"c")
    c4 = main.commit("c")
    m = dev.merge_into("main")
    assert [c.id for c in main.log(max_amount=3)] == [m.id, c4.id, c3.id]
    assert [c.id for c in main.log(prefixes=["a/"])] == [m.id, c3.id, c1.id]
    assert [c.id for c in main.log(prefixes=["b/", "c"])] == [c4.id, c2.id]
    assert [c.id for c in main.log(first_parent=True)][:3] == [m.id, c4.id, c2.id]
    assert c3.id not in {c.id for c in main.log(first_parent=True)}
    assert len(list(main.log())) == 6


# -- merge ------------------------------------------------------------------------------


def test_three_way_merge_combines_both_sides(repo: Repository) -> None:
    main = repo.branch("main")
    put(main, keep=b"k", both=b"b", gone=b"g", src=b"s0", dst=b"d0")
    main.commit("base")
    dev = repo.branch("dev").create("main")
    put(dev, src=b"s1", new_src=b"n", both=b"b2")
    dev.delete_objects(["gone"])
    dev.commit("dev")
    put(main, dst=b"d1", new_dst=b"m", both=b"b2")
    main.object("gone").delete()
    main.commit("main")
    head = main.resolve()
    m = dev.merge_into(main, message="merge dev", metadata={"why": "test"})
    assert m.parents == (head, dev.resolve()) and m.message == "merge dev"
    assert m.metadata == {"why": "test"}
    assert tree(main) == {
        "keep": b"k",
        "both": b"b2",
        "src": b"s1",
        "dst": b"d1",
        "new_src": b"n",
        "new_dst": b"m",
    }


@pytest.mark.parametrize("kind", ["both-changed", "changed-vs-deleted", "both-added"])
def test_merge_conflict_lists_paths_and_changes_nothing(repo: Repository, kind: str) -> None:
    main = repo.branch("main")
    put(main, p=b"0", q=b"0")
    main.commit("base")
    dev = repo.branch("dev").create("main")
    if kind == "both-changed":
        put(dev, p=b"dev")
        put(main, p=b"main")
    elif kind == "changed-vs-deleted":
        put(dev, p=b"dev")
        main.object("p").delete()
    else:
        put(dev, p2=b"dev")
        put(main, p2=b"main")
    dev.commit("dev")
    main.commit("main")
    before = snapshot(repo)
    with pytest.raises(MergeConflictError) as err:
        dev.merge_into("main")
    assert err.value.paths == (("p2",) if kind == "both-added" else ("p",))
    assert isinstance(err.value, ConflictError)
    assert snapshot(repo) == before
    dev.merge_into("main", strategy="source-wins")
    assert main.object("p2" if kind == "both-added" else "p").read() == b"dev"


def test_merge_dest_wins_and_bad_strategy(repo: Repository) -> None:
    main = repo.branch("main")
    put(main, p=b"0")
    main.commit("base")
    dev = repo.branch("dev").create("main")
    put(dev, p=b"dev", other=b"o")
    dev.commit("dev")
    put(main, p=b"main")
    main.commit("main")
    with pytest.raises(InvalidNameError):
        dev.merge_into("main", strategy="theirs")  # type: ignore[arg-type]
    dev.merge_into("main", strategy="dest-wins")
    assert tree(main) == {"p": b"main", "other": b"o"}


def test_merge_refuses_dirty_destination_and_self(repo: Repository) -> None:
    dev = repo.branch("dev").create("main")
    put(dev, a=b"1")
    dev.commit("a")
    put(repo.branch("main"), b=b"2")
    before = snapshot(repo)
    with pytest.raises(ConflictError, match="uncommitted"):
        dev.merge_into("main")
    with pytest.raises(InvalidNameError):
        dev.merge_into("dev")
    assert snapshot(repo) == before


def test_merging_an_already_merged_branch_is_empty(repo: Repository) -> None:
    dev = repo.branch("dev").create("main")
    put(dev, a=b"1")
    dev.commit("a")
    dev.merge_into("main")
    before = snapshot(repo)
    with pytest.raises(EmptyCommitError, match="nothing to merge"):
        dev.merge_into("main")
    assert snapshot(repo) == before
    forced = dev.merge_into("main", allow_empty=True)
    assert len(forced.parents) == 2 and tree(repo.branch("main")) == {"a": b"1"}


def test_repeated_merges_use_the_latest_base(repo: Repository) -> None:
    main = repo.branch("main")
    dev = repo.branch("dev").create("main")
    put(dev, f=b"1")
    dev.commit("1")
    dev.merge_into("main")
    put(dev, f=b"2")
    dev.commit("2")
    put(main, g=b"g")
    main.commit("g")
    dev.merge_into("main")  # base is the first merge's source: no conflict on f
    assert tree(main) == {"f": b"2", "g": b"g"}
    main.merge_into("dev")
    assert tree(dev) == tree(main)


# -- revert ------------------------------------------------------------------------------


def test_revert_undoes_a_commit(repo: Repository) -> None:
    main = repo.branch("main")
    put(main, a=b"1", b=b"1")
    main.commit("base")
    put(main, a=b"2", c=b"3")
    main.object("b").delete()
    bad = main.commit("bad")
    put(main, d=b"4")
    main.commit("later")
    r = main.revert(bad)
    assert r.parents == (repo.ref("main~1").resolve(),)
    assert r.metadata["reverted_commit"] == bad.id
    assert tree(main) == {"a": b"1", "b": b"1", "d": b"4"}


def test_revert_conflict_and_parent_number(repo: Repository) -> None:
    main = repo.branch("main")
    put(main, a=b"1")
    c = main.commit("a1")
    put(main, a=b"2")
    main.commit("a2")
    before = snapshot(repo)
    with pytest.raises(MergeConflictError) as err:
        main.revert(c)
    assert err.value.paths == ("a",)
    with pytest.raises(InvalidNameError):
        main.revert(c, parent_number=2)
    assert snapshot(repo) == before
    dev = repo.branch("dev").create("main")
    put(dev, x=b"x")
    dev.commit("x")
    m = dev.merge_into("main")
    main.revert(m, parent_number=1)
    assert "x" not in tree(main)


# -- protection and hooks ---------------------------------------------------------------


def test_protected_branches_move_only_by_merge(repo: Repository) -> None:
    repo.protect_branch("ma*")
    assert repo.protected_patterns() == ["ma*"]
    main = repo.branch("main")
    dev = repo.branch("dev").create("main")
    before = snapshot(repo)
    with pytest.raises(ProtectedBranchError):
        main.object("a").upload(b"1")
    with pytest.raises(ProtectedBranchError):
        main.commit("x", allow_empty=True)
    with pytest.raises(ProtectedBranchError):
        main.delete()
    assert snapshot(repo) == before
    put(dev, a=b"1")
    dev.commit("a")
    dev.merge_into("main")
    assert main.object("a").read() == b"1"
    repo.unprotect_branch("ma*")
    with pytest.raises(NotFoundError):
        repo.unprotect_branch("ma*")
    main.commit("now allowed", allow_empty=True)


def test_hooks_refuse_and_observe(repo: Repository) -> None:
    seen: list[HookEvent] = []
    main = repo.branch("main")
    dev = repo.branch("dev").create("main")

    def no_secrets(event: HookEvent) -> str | None:
        seen.append(event)
        if any(c.path.startswith("secret/") for c in event.changes):
            return "secrets may not be committed"
        return None

    def need_message(event: HookEvent) -> None:
        if not event.message.strip():
            raise ValueError("give a message")

    repo.add_hook("pre-commit", no_secrets)
    repo.add_hook("pre-merge", need_message)
    repo.add_hook("post-commit", seen.append)
    repo.add_hook("post-merge", seen.append)
    put(main, secret__k=b"x")
    before = snapshot(repo)
    with pytest.raises(HookRejectedError, match="secrets may not be committed"):
        main.commit("oops")
    assert snapshot(repo) == before
    assert seen[-1].type == "pre-commit" and seen[-1].branch == "main"
    assert seen[-1].changes == (Change("added", "secret/k", 1),)
    main.reset()
    put(dev, ok=b"1")
    c = dev.commit("fine")
    assert seen[-1].type == "post-commit" and seen[-1].commit == c
    with pytest.raises(HookRejectedError, match="give a message"):
        dev.merge_into("main", message=" ")
    assert main.resolve() == main.log().__next__().id
    m = dev.merge_into("main")
    assert seen[-1].type == "post-merge" and seen[-1].commit == m and seen[-1].source_ref == "dev"
    with pytest.raises(InvalidNameError):
        repo.add_hook("on-push", seen.append)  # type: ignore[arg-type]


# -- bad input ---------------------------------------------------------------------------

BAD_INPUT: list[tuple[str, Callable[[Repository], object], type[ReposError]]] = [
    ("branch name with space", lambda r: r.branch("bad name").create("main"), InvalidNameError),
    ("branch name leading dash", lambda r: r.branch("-x"), InvalidNameError),
    ("tag name with slash", lambda r: r.tag("v/1").create("main"), InvalidNameError),
    ("unknown source ref", lambda r: r.branch("x").create("nope"), NotFoundError),
    ("unknown tag source", lambda r: r.tag("t").create("main~50"), NotFoundError),
    ("path with ..", lambda r: r.branch("main").object("a/../b").upload(b"1"), InvalidNameError),
    ("absolute path", lambda r: r.branch("main").object("/etc/passwd"), InvalidNameError),
    ("path with NUL", lambda r: r.branch("main").upload_many({"a\x00b": b"1"}), InvalidNameError),
    ("empty path", lambda r: r.branch("main").object(""), InvalidNameError),
    (
        "one bad path in a batch",
        lambda r: r.branch("main").upload_many({"ok": b"1", "../x": b"2"}),
        InvalidNameError,
    ),
    (
        "text instead of bytes",
        lambda r: r.branch("main").object("a").upload("text"),
        InvalidNameError,
    ),  # type: ignore[arg-type]
    (
        "missing local file",
        lambda r: r.branch("main").object("a").upload(Path("/no/such/file")),
        InvalidNameError,
    ),
    ("empty commit", lambda r: r.branch("main").commit("nothing"), EmptyCommitError),
    (
        "bad metadata",
        lambda r: r.branch("main").commit("m", metadata={"k": 1}, allow_empty=True),
        InvalidNameError,
    ),  # type: ignore[dict-item]
    ("delete default branch", lambda r: r.branch("main").delete(), ProtectedBranchError),
    ("delete missing object", lambda r: r.branch("main").object("nope").delete(), NotFoundError),
    ("delete unknown branch", lambda r: r.branch("nope").delete(), NotFoundError),
    ("revert first commit", lambda r: r.branch("main").revert("main"), InvalidNameError),
    ("negative retention", lambda r: r.gc(timedelta(days=-1)), InvalidNameError),
    ("bad log amount", lambda r: list(r.branch("main").log(max_amount=-1)), InvalidNameError),
]


@pytest.mark.parametrize(("case", "action", "error"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_raises_one_clear_error_and_changes_nothing(
    repo: Repository, case: str, action: Callable[[Repository], object], error: type[ReposError]
) -> None:
    before = snapshot(repo)
    with pytest.raises(error) as info:
        action(repo)
    assert isinstance(info.value, ReposError)
    assert len(str(info.value)) > 20, "the message should say what to do"
    assert snapshot(repo) == before


def test_bad_default_branch_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidNameError):
        Repository.create(tmp_path / "r", default_branch="no good")
    assert not (tmp_path / "r").exists()


# -- garbage collection ---------------------------------------------------------------------


def test_gc_keeps_reachable_and_collects_orphans(repo: Repository) -> None:
    main = repo.branch("main")
    put(main, kept=b"kept-by-main")
    main.commit("kept")
    tmp = repo.branch("tmp").create("main")
    put(tmp, a=b"only-on-deleted-branch")
    tmp.commit("tmp work")
    put(tmp, staged=b"staged-on-deleted-branch")
    repo.tag("old").create("main")
    put(main, kept=b"replaced-but-tagged")
    main.commit("replace")
    put(main, wip=b"staged-on-main")
    main.object("reset-me").upload(b"reset-away")
    main.object("reset-me").delete()
    tmp.delete()
    assert repo.gc().objects_removed == 0  # the default retention protects fresh objects
    result = repo.gc(retention=timedelta(0))
    assert result.objects_removed >= 3 and result.bytes_removed > 0
    contents = {stored(repo, p) for p in files(repo)}
    assert b"only-on-deleted-branch" not in contents
    assert b"staged-on-deleted-branch" not in contents
    assert b"reset-away" not in contents
    assert main.object("wip").read() == b"staged-on-main"
    assert repo.ref("old").object("kept").read() == b"kept-by-main"
    for ref in ("main", "old", "main~1", "main~2"):
        assert all(repo.ref(ref).object(o.path).read() is not None for o in repo.ref(ref).objects())
        list(repo.ref(ref).log())
    assert repo.gc(retention=timedelta(0)).objects_removed == 0


def test_reading_a_collected_commit_is_a_clear_not_found(repo: Repository) -> None:
    dev = repo.branch("dev").create("main")
    dev.object("x").upload(b"short-lived")
    lost = dev.commit("on a branch about to go")
    dev.delete()
    assert repo.gc(retention=timedelta(0)).objects_removed == 3  # object, range, meta-range
    with pytest.raises(NotFoundError, match="garbage-collected"):
        list(repo.ref(lost.id).objects())
    assert list(repo.branch("main").objects()) == []


# -- cherry-pick --------------------------------------------------------------------------


def test_cherry_pick_applies_one_commits_changes(repo: Repository) -> None:
    main = repo.branch("main")
    put(main, a=b"1", b=b"1")
    main.commit("base")
    dev = repo.branch("dev").create("main")
    put(dev, a=b"2", c=b"3")
    dev.object("b").delete()
    picked = dev.commit("the fix", metadata={"ticket": "7"})
    put(dev, d=b"4")
    dev.commit("not picked")
    put(main, e=b"5")
    main.commit("main moves on")
    done = main.cherry_pick(picked)
    assert done.parents == (repo.ref("main~1").resolve(),)
    assert (done.message, done.metadata) == ("the fix", {"ticket": "7"})
    assert tree(main) == {"a": b"2", "c": b"3", "e": b"5"}
    again = repo.branch("other").create(main.head.get_commit().parents[0])
    named = again.cherry_pick("dev~1", message="picked", metadata={"by": "me"})
    assert (named.message, named.metadata) == ("picked", {"ticket": "7", "by": "me"})


def test_cherry_pick_conflict_staged_changes_and_protection_change_nothing(
    repo: Repository,
) -> None:
    main = repo.branch("main")
    put(main, a=b"1")
    main.commit("base")
    dev = repo.branch("dev").create("main")
    put(dev, a=b"dev")
    picked = dev.commit("dev's a")
    put(main, a=b"main")
    main.commit("main's a")
    before = snapshot(repo)
    with pytest.raises(MergeConflictError) as err:
        main.cherry_pick(picked)
    assert err.value.paths == ("a",)
    with pytest.raises(InvalidNameError):
        main.cherry_pick(picked, parent_number=2)
    first = repo.ref("main~2").resolve()
    with pytest.raises(InvalidNameError, match="first commit"):
        main.cherry_pick(first)
    assert snapshot(repo) == before
    side = repo.branch("side").create(picked.parents[0])
    put(side, z=b"z")
    with pytest.raises(ConflictError, match="uncommitted"):
        side.cherry_pick(picked)
    side.reset()
    repo.protect_branch("side")
    with pytest.raises(ProtectedBranchError):
        side.cherry_pick(picked)
    assert tree(side) == {"a": b"1"}
