"""Listing after a path: ``Reference.objects(prefix, after=...)`` equals the full listing
filtered to paths greater than ``after``, for committed trees of many ranges and staged
writes and deletions, and seeks there without reading the ranges before it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from repos import InvalidNameError, Reference, Repository
from repos._objects import LocalObjectStore
from repos._tree import TreeStore

NAMES = ["a", "a/b", "a/b/c", "a.x", "é", "z", "\U0001f600", "\U0010ffff", "a\U0010ffff"]


def _paths(rnd: random.Random, n: int) -> list[str]:
    """``n`` distinct paths in a few folders, some with non-ASCII names."""
    out: set[str] = set()
    while len(out) < n:
        folder = rnd.choice(["", "d1/", "d1/e/", "d2/", "é/", "\U0001f600/"])
        out.add(f"{folder}{rnd.choice(NAMES)}{rnd.randrange(10_000)}")
    return sorted(out)


def _listing(ref: Reference, prefix: str = "", after: str = "") -> list[tuple[str, int, str]]:
    return [(o.path, o.size, o.checksum) for o in ref.objects(prefix, after=after)]


def _small_ranges(repo: Repository) -> None:
    """Ranges of a few entries, so a tree of a few hundred objects has many of them."""
    repo._tree.target = 4
    repo._tree.max_entries = 16


def _check_all(ref: Reference, prefixes: list[str], afters: list[str]) -> None:
    for prefix in prefixes:
        full = _listing(ref, prefix)
        assert [p for p, _, _ in full] == sorted(p for p, _, _ in full)
        for after in afters:
            assert _listing(ref, prefix, after) == [e for e in full if e[0] > after], (
                prefix,
                after,
            )


def test_after_equals_the_filtered_listing(repo: Repository) -> None:
    rnd = random.Random(7)
    _small_ranges(repo)
    main = repo.branch("main")
    committed = _paths(rnd, 400)
    main.upload_many({p: p.encode() for p in committed})
    main.commit("many ranges")
    assert len(repo._tree.meta(main.get_commit().meta_range_id).ranges) > 10

    # staged: new paths, replacements of committed ones, deletions; more than one batch
    added = [p for p in _paths(rnd, 700) if p not in set(committed)]
    replaced = rnd.sample(committed, 60)
    deleted = rnd.sample([p for p in committed if p not in set(replaced)], 80)
    main.upload_many({p: b"new " + p.encode() for p in added + replaced})
    main.delete_objects(deleted)
    also_staged_deleted = added[:5]
    main.delete_objects(also_staged_deleted)  # a staged write, then its deletion staged

    everything = [p for p, _, _ in _listing(main)]
    assert set(everything) == (set(committed) | set(added)) - set(deleted) - set(
        also_staged_deleted
    )
    prefixes = ["", "d1/", "d1/e/", "é/", "\U0001f600/", "a", "d1/a", "nothing/"]
    afters = ["", "a", "d1/", "d1/e/", "d1/é", "é", "é/\U0010ffff", "\U0010ffff", "~"]
    afters += rnd.sample(everything, 25) + rnd.sample(deleted, 10)
    _check_all(main, prefixes, afters)
    _check_all(main.head, prefixes, afters)  # a commit: the tree alone
    _check_all(repo.ref("main"), prefixes, afters)

    main.commit("the staged writes")
    _check_all(main, prefixes, afters)


def test_paging_with_after_walks_every_object_once(repo: Repository) -> None:
    rnd = random.Random(3)
    _small_ranges(repo)
    main = repo.branch("main")
    main.upload_many({p: b"x" for p in _paths(rnd, 300)})
    main.commit("c")
    main.upload_many({p: b"y" for p in _paths(rnd, 300)})
    expected = [p for p, _, _ in _listing(main, "d1/")]
    pages: list[str] = []
    after = ""
    while True:
        page = [o.path for _, o in zip(range(17), main.objects("d1/", after=after), strict=False)]
        if not page:
            break
        pages += page
        after = page[-1]
    assert pages == expected


def test_a_commit_or_reset_during_the_listing(repo: Repository) -> None:
    main = repo.branch("main")
    main.upload_many({f"c/{k:04}": b"committed" for k in range(0, 1200, 2)})
    main.commit("even")
    main.upload_many({f"c/{k:04}": b"staged" for k in range(1, 1200, 2)})
    main.delete_objects([f"c/{k:04}" for k in range(0, 1200, 6)])
    before = _listing(main, "c/")

    listing = iter(main.objects("c/"))
    first = [next(listing) for _ in range(100)]
    main.commit("odd")  # the staged rows not yet read become committed ones
    rest = list(listing)
    assert [(o.path, o.size, o.checksum) for o in first + rest] == before

    # a reset: what was read before it is listed as it was, the rest as the branch is now
    main.upload_many({f"c/{k:04}x": b"again" for k in range(1200)})
    staged = [p for p, _, _ in _listing(main, "c/")]
    listing = iter(main.objects("c/"))
    read = [next(listing).path for _ in range(100)]
    main.reset()
    tail = [o.path for o in listing]
    pre = [p for p in staged if p > read[-1]]
    post = [p for p, _, _ in _listing(main, "c/", read[-1])]
    assert tail != pre and tail[-1] == post[-1]
    assert any(
        tail == [p for p in pre if p <= b] + [p for p in post if p > b] for b in [read[-1], *pre]
    )


def test_the_tree_seeks_without_reading_the_ranges_before(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    tree = TreeStore(store, target=4)
    paths = [f"p/{k:05}" for k in range(2000)]
    meta = tree.apply(tree.empty(), [(p, (f"c{p}", 1)) for p in paths])
    ranges = tree.meta(meta).ranges
    assert len(ranges) > 100

    fresh = TreeStore(store, target=4)  # an empty cache: it holds what was read
    after = paths[1500]
    page = [p for _, (p, _, _) in zip(range(3), fresh.entries(meta, "p/", after), strict=False)]
    assert page == paths[1501:1504]
    read = {key[1:] for key in fresh._cache if key.startswith("r")}
    assert len(read) <= 2
    assert all(r.max_path > after for r in ranges if r.id in read)
    assert list(fresh.entries(meta, "p/", paths[-1])) == []
    assert [p for p, _, _ in fresh.entries(meta, "p/", "p/")] == paths


@pytest.mark.parametrize("after", [None, 3, "a\x00b", "\ud800"])
def test_a_bad_after_is_refused(repo: Repository, after: object) -> None:
    with pytest.raises(InvalidNameError, match="invalid after"):
        list(repo.branch("main").objects("", after=after))  # type: ignore[arg-type]
