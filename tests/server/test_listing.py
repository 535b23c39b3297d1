"""The listing behind lakeFS's ``ls`` and the UI's object browser: a ref's entries under a
prefix, folded at a delimiter, after a key, equal a fold of the full listing, and a page
does not read the objects inside the folders it shows."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from featurestore.server._listing import PAST, entries
from repos import ObjectInfo, Reference, Repository


def _fold(ref: Reference, prefix: str, delimiter: str, after: str) -> list[str]:
    """What the listing should be: every object under ``prefix``, folded, after ``after``."""
    out: list[str] = []
    for o in ref.objects(prefix):
        i = o.path.find(delimiter, len(prefix)) if delimiter else -1
        key = o.path if i < 0 else o.path[: i + len(delimiter)]
        if key > after and (not out or out[-1] != key):
            out.append(key)
    return out


def _keys(ref: Reference, prefix: str, delimiter: str, after: str) -> list[str]:
    return [
        e.path if isinstance(e, ObjectInfo) else e for e in entries(ref, prefix, delimiter, after)
    ]


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    r = Repository.create(tmp_path / "repo", author="tester")
    r._tree.target, r._tree.max_entries = 4, 16  # small ranges: many in a small tree
    return r


def test_entries_equal_a_fold_of_the_full_listing(repo: Repository) -> None:
    rnd = random.Random(11)
    names = ["a", "b", "a-b", "ab", "é", "\U0001f600", PAST, f"{PAST}x", "z"]
    paths: set[str] = set()
    while len(paths) < 500:
        depth = rnd.randrange(1, 4)
        paths.add("/".join(rnd.choice(names) + str(rnd.randrange(3)) for _ in range(depth)))
    main = repo.branch("main")
    ordered = sorted(paths)
    main.upload_many({p: b"c" for p in ordered[::2]})
    main.commit("half")
    main.upload_many({p: b"s" for p in ordered[1::2]})
    main.delete_objects(rnd.sample(ordered[::2], 60))
    for ref in (main, main.head):
        for prefix in ["", "a0/", "a1/", f"{PAST}0/", "z", "é"]:
            for delimiter in ["/", "-", "ab", ""]:
                folded = _fold(ref, prefix, delimiter, "")
                afters = ["", prefix, f"{prefix}{PAST}", *rnd.sample(ordered, 4), *folded[::6]]
                for after in afters:
                    assert _keys(ref, prefix, delimiter, after) == [
                        k for k in folded if k > after
                    ], (prefix, delimiter, after)


def test_a_page_of_folders_skips_their_objects(repo: Repository) -> None:
    main = repo.branch("main")
    main.upload_many({f"t/{f:02}/part-{k:04}.parquet": b"x" for f in range(20) for k in range(300)})
    main.upload_many({"t/readme": b"r"})
    main.commit("twenty folders of 300")
    ranges = repo._tree.meta(main.get_commit().meta_range_id).ranges
    repo._tree._cache.clear()
    page = [k for _, k in zip(range(5), entries(main, "t/", "/", "t/03/"), strict=False)]
    assert page == ["t/04/", "t/05/", "t/06/", "t/07/", "t/08/"]
    read = [key for key in repo._tree._cache if key.startswith("r")]
    assert len(ranges) > 100 and len(read) <= 2 * len(page) + 2
    assert _keys(main, "t/", "/", "t/19/") == ["t/readme"]
