"""History rewrite: every reachable commit and staged object rewritten by a transform,
refs moved at once, old ids mapped, crash safety, and GC collecting what was replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repos import KEEP, NotFoundError, ObjectInfo, ReposError, Repository, TransformResult

SECRET = b"SECRET"


def scrub(path: str, info: ObjectInfo) -> TransformResult:
    """Drop lines holding SECRET; an object with none stays as it is."""
    with open(info.physical_address, "rb") as f:
        data = f.read()
    if SECRET not in data:
        return KEEP
    kept = b"\n".join(line for line in data.split(b"\n") if SECRET not in line)
    return kept or None


def all_paths(repo: Repository, ref: str) -> dict[str, bytes]:
    r = repo.ref(ref)
    return {o.path: r.object(o.path).read() for o in r.objects()}


def disk_holds(storage: Path, needle: bytes) -> list[Path]:
    return [p for p in (storage / "objects").rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture
def history(repo: Repository) -> dict[str, str]:
    """main: c1 (a, b with SECRET), c2 (c); dev from c1: d with SECRET; dev merged into
    main; tag v1 at c1; dev has a staged object with SECRET."""
    main = repo.branch("main")
    main.upload_many({"data/a.txt": b"one\nSECRET two", "data/b.txt": b"plain", "x.txt": b"x"})
    c1 = main.commit("c1").id
    repo.tag("v1").create(c1)
    dev = repo.branch("dev").create("main")
    dev.upload_many({"data/d.txt": b"SECRET\nkeep me"})
    d1 = dev.commit("d1").id
    main.upload_many({"data/c.txt": b"c"})
    c2 = main.commit("c2").id
    merge = dev.merge_into("main").id
    dev.upload_many({"data/e.txt": b"e\nSECRET e"})
    return {"c1": c1, "c2": c2, "d1": d1, "merge": merge}


def test_rewrite_moves_every_ref_and_maps_old_ids(
    repo: Repository, history: dict[str, str], storage: Path
) -> None:
    before_main = [c.id for c in repo.ref("main").log()]
    result = repo.rewrite(scrub, prefix="data/", metadata={"why": "test"})

    assert set(result.commits) == {history[k] for k in ("c1", "c2", "d1", "merge")}
    assert result.metadata == {"why": "test"}
    for ref in ("main", "dev", "v1"):
        for path, data in all_paths(repo, ref).items():
            assert SECRET not in data, (ref, path)
    assert all_paths(repo, "main")["data/a.txt"] == b"one"
    assert all_paths(repo, "main")["data/d.txt"] == b"keep me"
    assert all_paths(repo, "main")["x.txt"] == b"x"
    assert "data/e.txt" in all_paths(repo, "dev")  # staged, rewritten in place
    assert repo.branch("dev").object("data/e.txt").read() == b"e"

    new_log = list(repo.ref("main").log())
    assert len(new_log) == len(before_main)
    merge = new_log[0]
    assert merge.id == result.commits[history["merge"]]
    assert merge.parents == (result.commits[history["c2"]], result.commits[history["d1"]])
    assert merge.metadata["rewritten_from"] == history["merge"]
    assert merge.message and merge.author == "tester"
    first = repo.ref("main").log().peek(10)[-1]
    assert first.id == before_main[-1]  # the first, empty commit did not change
    assert repo.tag("v1").resolve() == result.commits[history["c1"]]

    for old, new in result.commits.items():
        assert repo.rewritten(old) == new
        assert repo.ref(old).resolve() == new  # an old id resolves to its new commit
        assert repo.ref(old[:12]).resolve() == new
    assert repo.rewritten(before_main[-1]) is None
    assert [r.id for r in repo.rewrites()] == [result.id]
    assert repo.rewrites()[0].commits == result.commits


def test_gc_collects_replaced_objects_inside_retention(
    repo: Repository, history: dict[str, str], storage: Path
) -> None:
    gone_branch = repo.branch("gone").create("main")
    gone_branch.upload_many({"data/f.txt": b"SECRET f"})
    gone_branch.commit("f")
    gone_branch.delete()  # a young commit no ref reaches holds SECRET
    repo.gc()  # default retention: everything is young, nothing goes
    assert disk_holds(storage, SECRET)

    result = repo.rewrite(scrub, prefix="data/")
    assert result.objects_replaced == 4  # a, d, staged e and the deleted branch's f
    assert repo.gc().objects_removed >= 4
    assert disk_holds(storage, SECRET) == []  # f.txt of the deleted branch too
    for ref in ("main", "dev", "v1"):
        all_paths(repo, ref)  # every reachable object is still there
    with pytest.raises(NotFoundError, match="unreachable"):
        repo.branch("again").create(_expired_unmapped(repo))


def _expired_unmapped(repo: Repository) -> str:
    """A commit GC expired (the deleted branch's), which maps to nothing."""
    import sqlalchemy as sa

    from repos import _metadata as md

    with repo._engine.connect() as conn:
        expired = {c for (c,) in conn.execute(sa.select(md.expired.c.commit_id))}
    mapped = {c for r in repo.rewrites() for c in r.commits}
    (cid,) = expired - mapped
    return cid


def test_rewrite_that_changes_nothing_keeps_ids(repo: Repository, history: dict[str, str]) -> None:
    head = repo.ref("main").resolve()
    result = repo.rewrite(lambda p, i: KEEP, prefix="data/")
    assert result.commits == {}
    assert repo.ref("main").resolve() == head
    assert len(repo.rewrites()) == 1  # still recorded


def test_rewrite_moves_protected_branches(repo: Repository, history: dict[str, str]) -> None:
    repo.protect_branch("main")
    result = repo.rewrite(scrub, prefix="data/")
    assert repo.ref("main").resolve() == result.commits[history["merge"]]


def test_shared_objects_are_transformed_once(repo: Repository, history: dict[str, str]) -> None:
    seen: list[str] = []

    def count(path: str, info: ObjectInfo) -> TransformResult:
        seen.append(path)
        return scrub(path, info)

    repo.rewrite(count, prefix="data/")
    assert sorted(seen) == sorted(set(seen))


def test_transform_may_rename_objects(repo: Repository, history: dict[str, str]) -> None:
    def rename(path: str, info: ObjectInfo) -> TransformResult:
        out = scrub(path, info)
        if out is KEEP or out is None:
            return out
        assert isinstance(out, bytes)
        return {path.replace(".txt", ".clean"): out}

    repo.rewrite(rename, prefix="data/")
    paths = all_paths(repo, "main")
    assert "data/a.txt" not in paths and paths["data/a.clean"] == b"one"
    assert "data/b.txt" in paths


def test_a_branch_moving_meanwhile_makes_it_retry(
    repo: Repository, history: dict[str, str], metadata_url: str | None
) -> None:
    moved: list[str] = []

    def writer() -> None:
        if not moved:
            other = Repository.open(repo.storage, metadata_url)
            try:
                b = other.branch("main")
                b.upload_many({"data/late.txt": b"late\nSECRET"})
                moved.append(b.commit("late").id)
            finally:
                other.close()

    repo._before_cas = writer
    try:
        result = repo.rewrite(scrub, prefix="data/")
    finally:
        repo._before_cas = None
    assert moved[0] in result.commits
    assert all_paths(repo, "main")["data/late.txt"] == b"late"


_CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from repos import KEEP, Repository
    repo = Repository.open(sys.argv[1])
    n = [0]
    def transform(path, info):
        n[0] += 1
        if n[0] == (int(sys.argv[2]) if sys.argv[2].isdigit() else -1):
            os.kill(os.getpid(), signal.SIGKILL)
        data = open(info.physical_address, "rb").read()
        if b"SECRET" not in data:
            return KEEP
        return b"\\n".join(x for x in data.split(b"\\n") if b"SECRET" not in x) or None
    if sys.argv[2] == "cas":
        repo._before_cas = lambda: os.kill(os.getpid(), signal.SIGKILL)
    repo.rewrite(transform, prefix="data/")
    """
)


@pytest.mark.parametrize("when", ["2", "cas"])
def test_sigkill_mid_rewrite_leaves_old_history_and_rerun_completes(
    repo: Repository, history: dict[str, str], storage: Path, when: str
) -> None:
    if repo._engine.dialect.name != "sqlite":
        pytest.skip("the child opens the repository by its folder (SQLite)")
    before = {b.id: b.resolve() for b in repo.branches()}
    proc = subprocess.run([sys.executable, "-c", _CRASH, str(storage), when], check=False)
    assert proc.returncode == -signal.SIGKILL
    assert {b.id: b.resolve() for b in repo.branches()} == before
    assert repo.rewrites() == []
    assert SECRET in repo.branch("dev").object("data/e.txt").read()

    env = {**os.environ}
    proc = subprocess.run([sys.executable, "-c", _CRASH, str(storage), "0"], env=env, check=True)
    assert len(repo.rewrites()) == 1
    for ref in ("main", "dev", "v1"):
        for data in all_paths(repo, ref).values():
            assert SECRET not in data
    repo.gc()
    assert disk_holds(storage, SECRET) == []


def _scrubbed(data: bytes) -> bytes | None:
    if SECRET not in data:
        return data
    return b"\n".join(line for line in data.split(b"\n") if SECRET not in line) or None


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["write", "write", "delete", "commit", "branch", "merge"]),
        st.sampled_from(["main", "b1", "b2"]),
        st.sampled_from(["data/p", "data/q", "data/r", "other/s"]),
        st.sampled_from([b"plain", b"x\nSECRET", b"SECRET", b"y\nSECRET\nz"]),
    ),
    max_size=25,
)


@settings(max_examples=30, deadline=None)
@given(ops=_OPS)
def test_every_ref_reads_its_old_content_transformed(
    ops: list[tuple[str, str, str, bytes]],
) -> None:
    """On random histories (branches, merges, staged writes), every branch and tag reads
    after the rewrite what it read before, with the transform applied under the prefix."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repository.create(Path(tmp) / "r", author="prop")
        try:
            for n, (op, name, path, data) in enumerate(ops):
                if name not in {b.id for b in repo.branches()}:
                    repo.branch(name).create("main")
                b = repo.branch(name)
                if not path.startswith("data/"):
                    data = data.replace(SECRET, b"OTHER")  # outside the prefix: kept as is
                try:
                    if op == "write":
                        b.upload_many({path: data})
                    elif op == "delete":
                        b.delete_objects([path])
                    elif op == "commit":
                        b.commit(f"c{n}")
                        repo.tag(f"t{n}").create(name)
                    elif op == "branch":
                        repo.branch(f"x{n}").create(name)
                    elif name != "main":
                        b.commit(f"before merge {n}", allow_empty=True)
                        b.merge_into("main", strategy="source-wins")
                except ReposError:
                    continue  # nothing to commit or merge, an uncommitted destination
            refs = [b.id for b in repo.branches()] + [t.id for t in repo.tags()]
            before = {r: all_paths(repo, r) for r in refs}
            repo.rewrite(scrub, prefix="data/")
            assert repo.rewritten(repo.ref("main").resolve()) is None
            for r in refs:
                expected = {}
                for path, data in before[r].items():
                    new = _scrubbed(data) if path.startswith("data/") else data
                    if new is not None:
                        expected[path] = new
                assert all_paths(repo, r) == expected, r
            repo.gc(orphans_after=timedelta(0))  # staged writes replaced before a commit too
            for r in refs:
                all_paths(repo, r)  # nothing reachable was collected
            assert disk_holds(Path(tmp) / "r", SECRET) == []
        finally:
            repo.close()


def test_rewrites_since_and_annotations_add_keys_only(repo: Repository) -> None:
    from datetime import UTC, datetime

    from repos import ConflictError

    main = repo.branch("main")
    main.upload_many({"data/a.txt": b"SECRET"})
    main.commit("c1")
    assert repo.rewrites(since=datetime.now(UTC)) == []
    first = repo.rewrite(scrub, "data/", metadata={"kind": "scrub"})
    between = datetime.now(UTC)
    second = repo.rewrite(scrub, "data/", metadata={"kind": "scrub"})
    assert [r.id for r in repo.rewrites(since=between)] == [second.id]
    assert [r.id for r in repo.rewrites(since=first.created - timedelta(seconds=1))] == [
        first.id,
        second.id,
    ]
    assert repo.rewrites(since=between)[0].commits == second.commits
    repo.annotate_rewrite(first.id, {"done": "3"})
    repo.annotate_rewrite(first.id, {"done": "3", "kind": "scrub"})  # the same: no change
    (got, _) = repo.rewrites()
    assert got.metadata == {"kind": "scrub", "done": "3"} and got.commits == first.commits
    with pytest.raises(ConflictError, match="append-only"):
        repo.annotate_rewrite(first.id, {"done": "4"})
    with pytest.raises(NotFoundError):
        repo.annotate_rewrite("nope", {"done": "1"})
