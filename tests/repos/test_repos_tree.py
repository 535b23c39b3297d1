"""The meta-range tree against a plain sorted dict, and its locality."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repos._objects import LocalObjectStore
from repos._tree import Entry, TreeStore

PATHS = st.text(alphabet="ab/c", min_size=1, max_size=6)
OPS = st.lists(
    st.tuples(
        PATHS, st.none() | st.tuples(st.sampled_from(["x" * 64, "y" * 64]), st.integers(0, 9))
    ),
    max_size=40,
)


def as_dict(trees: TreeStore, meta: str, prefix: str = "") -> dict[str, Entry]:
    return {p: (c, s) for p, c, s in trees.entries(meta, prefix)}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(OPS, min_size=1, max_size=5), prefix=st.sampled_from(["", "a", "b/", "c"]))
def test_apply_entries_lookup_and_diff_match_a_dict(
    tmp_path: Path, batches: list[list[tuple[str, Entry | None]]], prefix: str
) -> None:
    trees = TreeStore(LocalObjectStore(tmp_path), target=3)
    model: dict[str, Entry] = {}
    meta = trees.empty()
    for ops in batches:
        before_meta, before = meta, dict(model)
        last = dict(ops)  # the last op per path wins, as in staging
        meta = trees.apply(meta, last.items())
        for p, e in last.items():
            if e is None:
                model.pop(p, None)
            else:
                model[p] = e
        assert as_dict(trees, meta) == model
        assert list(as_dict(trees, meta)) == sorted(model)
        assert as_dict(trees, meta, prefix) == {
            p: e for p, e in model.items() if p.startswith(prefix)
        }
        for p in [*list(last), "zz"]:
            assert trees.lookup(meta, p) == model.get(p)
        expected = sorted(
            (p, before.get(p), model.get(p))
            for p in set(before) | set(model)
            if before.get(p) != model.get(p) and p.startswith(prefix)
        )
        assert list(trees.diff(before_meta, meta, prefix)) == expected
    rebuilt = trees.apply(trees.empty(), model.items())
    assert rebuilt == meta, "a tree's ranges depend on its content, not its history"


def test_one_change_rewrites_few_ranges(tmp_path: Path) -> None:
    trees = TreeStore(LocalObjectStore(tmp_path), target=64)
    entry = ("z" * 64, 1)
    meta = trees.apply(trees.empty(), ((f"p/{i:05d}", entry) for i in range(20_000)))
    before = {r.id for r in trees.meta(meta).ranges}
    assert len(before) > 100
    for path in ("p/10000", "p/10000x", "p/00000", "q"):
        changed = trees.apply(meta, [(path, ("w" * 64, 2))])
        after = {r.id for r in trees.meta(changed).ranges}
        assert len(after - before) <= 2
        assert len(before - after) <= 2
        assert trees.lookup(changed, path) == ("w" * 64, 2)
    deleted = trees.apply(meta, [("p/12345", None)])
    assert len({r.id for r in trees.meta(deleted).ranges} - before) <= 2
    assert list(trees.diff(meta, deleted)) == [("p/12345", entry, None)]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    base=OPS,
    ours=OPS,
    theirs=OPS,
    replaced=st.lists(st.integers(0, 39), max_size=10),
    prefix=st.sampled_from(["", "a", "b/", "c"]),
)
def test_diff_of_two_diverged_trees_matches_a_dict(
    tmp_path: Path,
    base: list[tuple[str, Entry | None]],
    ours: list[tuple[str, Entry | None]],
    theirs: list[tuple[str, Entry | None]],
    replaced: list[int],
    prefix: str,
) -> None:
    """Both sides changed since a common tree: adds, deletes and objects replaced in place
    (the segments whose paths match on both sides, compared column-wise)."""
    trees = TreeStore(LocalObjectStore(tmp_path), target=3)
    start = {p: e for p, e in base if e is not None}
    root = trees.apply(trees.empty(), start.items())
    paths = sorted(start)
    swap = [(paths[k % len(paths)], ("r" * 64, k)) for k in replaced] if paths else []
    sides = []
    for ops in (ours, [*theirs, *swap]):
        model = dict(start)
        for p, e in dict(ops).items():
            if e is None:
                model.pop(p, None)
            else:
                model[p] = e
        sides.append((trees.apply(root, dict(ops).items()), model))
    (left, lmodel), (right, rmodel) = sides
    expected = sorted(
        (p, lmodel.get(p), rmodel.get(p))
        for p in set(lmodel) | set(rmodel)
        if lmodel.get(p) != rmodel.get(p) and p.startswith(prefix)
    )
    assert list(trees.diff(left, right, prefix)) == expected
    assert list(trees.diff(right, left, prefix)) == [(p, b, a) for p, a, b in expected]


def test_replacing_objects_keeps_the_ranges_paths(tmp_path: Path) -> None:
    """Objects replaced at paths spread over the tree rewrite each touched range with the
    same paths (so the same boundaries) and give the tree a rebuild gives."""
    trees = TreeStore(LocalObjectStore(tmp_path), target=64)
    entry = ("z" * 64, 1)
    meta = trees.apply(trees.empty(), ((f"p/{i:05d}", entry) for i in range(20_000)))
    ops: list[tuple[str, Entry | None]] = [
        (f"p/{i:05d}", (f"{i:064d}", i)) for i in range(7, 20_000, 97)
    ]
    changed = trees.apply(meta, ops)
    before, after = trees.meta(meta).ranges, trees.meta(changed).ranges
    assert [(r.min_path, r.max_path, r.count) for r in before] == [
        (r.min_path, r.max_path, r.count) for r in after
    ]
    assert sum(a.id != b.id for a, b in zip(before, after, strict=True)) > 100
    model = {f"p/{i:05d}": entry for i in range(20_000)} | dict(ops)
    assert trees.apply(trees.empty(), model.items()) == changed
    assert list(trees.diff(meta, changed)) == [(p, entry, e) for p, e in ops]
    assert list(trees.diff(meta, changed, "p/1")) == [
        (p, entry, e) for p, e in ops if p.startswith("p/1")
    ]
