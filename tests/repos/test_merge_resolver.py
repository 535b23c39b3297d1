"""The merge hook: groups changed on both sides go to a resolver, whose answer lands in
the merge commit all-or-nothing; other groups merge per path without it."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from repos import (
    GroupMerge,
    HookEvent,
    InvalidNameError,
    MergeConflictError,
    MergeResolver,
    Repository,
)
from tests.repos.reachable import everything_reads


def _parse(data: bytes | None) -> dict[str, str]:
    if data is None:
        return {}
    return dict(line.split("=", 1) for line in data.decode().splitlines() if line)


def _render(kv: Mapping[str, str]) -> bytes:
    return "".join(f"{k}={v}\n" for k, v in sorted(kv.items())).encode()


class KeyValueResolver:
    """Merges ``*.kv`` files (lines ``key=value``) three-way by key; other paths per path."""

    def __init__(self, repo: Repository, as_file: bool = False) -> None:
        self.repo = repo
        self.as_file = as_file
        self.calls: list[GroupMerge] = []

    def group(self, path: str) -> str | None:
        return path if path.endswith(".kv") else None

    def _at(self, ref: str | None, path: str) -> dict[str, str]:
        if ref is None:
            return {}
        obj = self.repo.ref(ref).object(path)
        return _parse(obj.read()) if obj.exists() else {}

    def resolve(
        self, merge: GroupMerge, scratch: Path
    ) -> Mapping[str, bytes | os.PathLike[str] | None]:
        self.calls.append(merge)
        path = merge.group
        base = self._at(merge.base, path)
        source = self._at(merge.source, path)
        dest = self._at(merge.dest, path)
        merged = dict(dest)
        clashes = []
        for key in sorted(base.keys() | source.keys()):
            s, b, d = source.get(key), base.get(key), dest.get(key)
            if s in (b, d):
                continue
            if d != b and merge.strategy != "source-wins":
                if merge.strategy is None:
                    clashes.append(key)
                continue
            if s is None:
                merged.pop(key, None)
            else:
                merged[key] = s
        if clashes:
            raise MergeConflictError(f"{path}: keys {clashes} changed on both sides", [path])
        if not merged:
            return {path: None}
        if self.as_file:
            out = scratch / "merged.kv"
            out.write_bytes(_render(merged))
            return {path: out}
        return {path: _render(merged)}


class OutsideResolver(KeyValueResolver):
    def resolve(
        self, merge: GroupMerge, scratch: Path
    ) -> Mapping[str, bytes | os.PathLike[str] | None]:
        return {"elsewhere.txt": b"not in the group"}


class TheirsResolver(KeyValueResolver):
    """Answers with the source's objects themselves (their physical addresses)."""

    def resolve(
        self, merge: GroupMerge, scratch: Path
    ) -> Mapping[str, bytes | os.PathLike[str] | None]:
        return {p: None if o is None else Path(o.physical_address) for p, o in merge.theirs.items()}


def _objects_on_disk(storage: Path) -> set[str]:
    return {p.name for p in (storage / "objects").rglob("*") if p.is_file()}


def _setup(repo: Repository) -> str:
    main = repo.branch("main")
    main.upload_many({"a.kv": b"k1=1\nk2=2\nk3=3\n", "b.kv": b"x=1\n", "plain.txt": b"p"})
    main.commit("base")
    repo.branch("dev").create("main")
    return main.resolve()


def test_resolver_is_a_merge_resolver(repo: Repository) -> None:
    assert isinstance(KeyValueResolver(repo), MergeResolver)


def test_one_sided_groups_merge_per_path_without_the_resolver(repo: Repository) -> None:
    _setup(repo)
    dev, main = repo.branch("dev"), repo.branch("main")
    dev.object("a.kv").upload(b"k1=10\nk2=2\nk3=3\n")
    dev.commit("dev edits a")
    main.object("b.kv").upload(b"x=2\n")
    main.commit("main edits b")
    resolver = KeyValueResolver(repo)
    dev.merge_into("main", resolver=resolver)
    assert resolver.calls == []
    assert main.object("a.kv").read() == b"k1=10\nk2=2\nk3=3\n"
    assert main.object("b.kv").read() == b"x=2\n"


def test_two_sided_group_goes_to_the_resolver_and_hooks_see_its_result(repo: Repository) -> None:
    base = _setup(repo)
    dev, main = repo.branch("dev"), repo.branch("main")
    dev.object("a.kv").upload(b"k1=10\nk2=2\nk3=3\n")
    dev.commit("dev edits k1")
    main.object("a.kv").upload(b"k1=1\nk2=2\nk3=30\nk4=4\n")
    main.commit("main edits k3, adds k4")
    head = main.resolve()
    seen: list[HookEvent] = []
    repo.add_hook("pre-merge", seen.append)
    resolver = KeyValueResolver(repo, as_file=True)
    commit = dev.merge_into("main", resolver=resolver)
    [call] = resolver.calls
    assert (call.group, call.base, call.source, call.dest) == ("a.kv", base, dev.resolve(), head)
    assert set(call.theirs) == set(call.ours) == {"a.kv"}
    assert call.theirs["a.kv"] is not None and call.strategy is None
    assert _parse(main.object("a.kv").read()) == {"k1": "10", "k2": "2", "k3": "30", "k4": "4"}
    assert commit.parents == (head, dev.resolve())
    assert [(c.type, c.path) for c in seen[0].changes] == [("changed", "a.kv")]
    assert not list((Path(repo.storage) / "tmp").glob("scratch-*")), "scratch removed"


def test_resolver_may_delete_and_strategies_reach_it(repo: Repository) -> None:
    _setup(repo)
    dev, main = repo.branch("dev"), repo.branch("main")
    dev.object("a.kv").upload(b"k1=dev\n")
    dev.commit("dev")
    main.object("a.kv").upload(b"k1=main\nk2=2\nk3=3\n")
    main.commit("main")
    resolver = KeyValueResolver(repo)
    dev.merge_into("main", strategy="source-wins", resolver=resolver)
    assert resolver.calls[0].strategy == "source-wins"
    assert _parse(main.object("a.kv").read()) == {"k1": "dev"}
    dev.object("a.kv").delete()
    dev.commit("dev drops a")
    main.object("a.kv").upload(b"k1=dev\nk9=9\n")
    main.commit("main adds k9")
    dev.merge_into("main", strategy="source-wins", resolver=resolver)
    assert _parse(main.object("a.kv").read()) == {"k9": "9"}


def test_resolver_conflict_changes_nothing(repo: Repository, storage: Path) -> None:
    _setup(repo)
    dev, main = repo.branch("dev"), repo.branch("main")
    dev.upload_many({"a.kv": b"k1=dev\nk2=2\nk3=3\n", "new.txt": b"n"})
    dev.commit("dev")
    main.object("a.kv").upload(b"k1=main\nk2=2\nk3=3\n")
    head = main.commit("main").id
    before = _objects_on_disk(storage)
    with pytest.raises(MergeConflictError, match="k1") as e:
        dev.merge_into("main", resolver=KeyValueResolver(repo))
    assert e.value.paths == ("a.kv",)
    assert main.resolve() == head
    assert not main.object("new.txt").exists()
    assert _objects_on_disk(storage) == before
    dev.merge_into("main", strategy="dest-wins", resolver=KeyValueResolver(repo))
    assert _parse(main.object("a.kv").read())["k1"] == "main"


def test_paths_outside_groups_still_conflict_per_path(repo: Repository) -> None:
    _setup(repo)
    dev, main = repo.branch("dev"), repo.branch("main")
    dev.object("plain.txt").upload(b"dev")
    dev.commit("dev")
    main.object("plain.txt").upload(b"main")
    head = main.commit("main").id
    resolver = KeyValueResolver(repo)
    with pytest.raises(MergeConflictError) as e:
        dev.merge_into("main", resolver=resolver)
    assert e.value.paths == ("plain.txt",)
    assert resolver.calls == [] and main.resolve() == head


def test_an_answer_outside_the_group_is_refused(repo: Repository) -> None:
    _setup(repo)
    dev, main = repo.branch("dev"), repo.branch("main")
    dev.object("a.kv").upload(b"k1=dev\n")
    dev.commit("dev")
    main.object("a.kv").upload(b"k1=main\n")
    head = main.commit("main").id
    with pytest.raises(InvalidNameError, match="not in the group"):
        dev.merge_into("main", resolver=OutsideResolver(repo))
    assert main.resolve() == head


def _stuck_merger(storage: str, ready: str) -> None:
    repo = Repository.open(storage)

    def hang() -> None:
        Path(ready).touch()
        time.sleep(600)

    repo._before_cas = hang
    repo.branch("dev").merge_into("main", resolver=KeyValueResolver(repo))


def test_killed_mid_merge_leaves_dest_at_its_old_head(storage: Path) -> None:
    repo = Repository.create(storage)
    _setup(repo)
    dev, main = repo.branch("dev"), repo.branch("main")
    dev.object("a.kv").upload(b"k1=dev-only-value\nk2=2\nk3=3\n")
    dev.commit("dev")
    main.object("a.kv").upload(b"k1=1\nk2=2\nk3=main-only-value\n")
    head = main.commit("main").id
    ready = storage.parent / "ready"
    child = mp.get_context("spawn").Process(target=_stuck_merger, args=(str(storage), str(ready)))
    child.start()
    while not ready.exists():
        assert child.is_alive(), "the merging process died on its own"
        time.sleep(0.02)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert child.exitcode == -signal.SIGKILL
    assert main.resolve() == head
    assert len(main.get_commit().parents) == 1
    merged = _render({"k1": "dev-only-value", "k2": "2", "k3": "main-only-value"})
    on_disk = [p.read_bytes() for p in (storage / "objects").rglob("*") if p.is_file()]
    assert merged in on_disk, "the resolver's answer was stored before the kill"
    repo.gc(retention=timedelta(0))  # the dead merger's intents still protect its objects
    assert merged in [p.read_bytes() for p in (storage / "objects").rglob("*") if p.is_file()]
    repo.gc(retention=timedelta(0), grace=timedelta(0))
    assert merged not in [p.read_bytes() for p in (storage / "objects").rglob("*") if p.is_file()]
    assert everything_reads(repo) > 0
    dev.merge_into("main", resolver=KeyValueResolver(repo))
    assert main.object("a.kv").read() == merged
    repo.gc(retention=timedelta(0), grace=timedelta(0))
    assert everything_reads(repo) > 0
    repo.close()


def test_an_answer_may_reuse_stored_objects_without_copying(
    repo: Repository, storage: Path
) -> None:
    _setup(repo)
    dev, main = repo.branch("dev"), repo.branch("main")
    dev.object("a.kv").upload(b"k1=dev\n")
    dev.commit("dev")
    main.object("a.kv").upload(b"k1=main\n")
    main.commit("main")
    before = _objects_on_disk(storage)
    dev.merge_into("main", resolver=TheirsResolver(repo))
    assert main.object("a.kv").read() == b"k1=dev\n"
    assert main.object("a.kv").stat().checksum == dev.object("a.kv").stat().checksum
    assert len(_objects_on_disk(storage) - before) <= 3, "a tree and a commit's ranges only"
    repo.gc(retention=timedelta(0), grace=timedelta(0))
    assert everything_reads(repo) > 0
