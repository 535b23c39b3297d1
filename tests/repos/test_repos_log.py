"""The log filtered by prefix over trees of several ranges, its windowed loader, and the
generation index an older repository gets when it is opened."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from repos import Repository, _log
from repos import _metadata as md
from repos.models import Commit


def _history(repo: Repository) -> None:
    """Commits on main and a merged branch over a tree of several ranges."""
    main = repo.branch("main")
    main.upload_many({f"d{i // 500:02d}/f{i:05d}": b"x" for i in range(6_000)})
    main.commit("base")
    for k in range(12):
        main.object(f"d{k % 4:02d}/f{k * 7:05d}").upload(f"v{k}".encode())
        main.commit(f"main {k}")
    side = repo.branch("side").create("main")
    for k in range(5):
        side.object(f"d07/new{k}").upload(f"s{k}".encode())
        side.commit(f"side {k}")
    main.object("d02/f01000").upload(b"late")
    main.commit("main late")
    side.merge_into(main)


def _expected(repo: Repository, prefix: str, first_parent: bool) -> list[str]:
    """Brute force: every commit of the walk whose tree under ``prefix`` differs from its
    first parent's, read by listing both trees in full."""

    def tree(c: Commit | None) -> dict[str, str]:
        if c is None:
            return {}
        return {o.path: o.checksum for o in repo.ref(c.id).objects(prefix)}

    out = []
    for c in repo.ref("main").log(first_parent=first_parent):
        parent = repo.ref(c.parents[0]).get_commit() if c.parents else None
        if tree(c) != tree(parent):
            out.append(c.id)
    return out


def test_log_by_prefix_equals_a_full_comparison_of_trees(repo: Repository) -> None:
    _history(repo)
    assert len(repo._tree.meta(repo.ref("main").get_commit().meta_range_id).ranges) > 2
    for prefix in ("d00/", "d02/", "d07/", "d07/new", "d11/f05999", "zz/"):
        for first_parent in (False, True):
            got = [c.id for c in repo.ref("main").log(prefixes=[prefix], first_parent=first_parent)]
            assert got == _expected(repo, prefix, first_parent), (prefix, first_parent)
    both = [c.id for c in repo.ref("main").log(prefixes=["d02/", "d07/"])]
    assert set(both) == set(_expected(repo, "d02/", False)) | set(_expected(repo, "d07/", False))
    page = [c.id for c in repo.ref("main").log(max_amount=3, prefixes=["d02/", "d07/"])]
    assert page == both[:3]


def test_a_small_window_walks_the_same_log(repo: Repository) -> None:
    _history(repo)
    full = [c.id for c in repo.ref("main").log()]
    for window in (1, 2, 5):
        fresh = Repository.open(repo.storage, _url(repo))
        try:
            got = [c.id for c in _log.log(fresh, "main", None, None, False, window=window)]
            assert got == full, window
            by_prefix = _log.log(fresh, "main", None, ["d07/"], False, window=window)
            assert [c.message for c in by_prefix] == [
                "Merge 'side' into 'main'",
                *[f"side {k}" for k in reversed(range(5))],
                "base",
            ]
        finally:
            fresh.close()


def _url(repo: Repository) -> str | None:
    url = repo._engine.url.render_as_string(hide_password=False)
    return None if url.startswith("sqlite") else url


def _indexes(repo: Repository) -> set[str]:
    return {str(i["name"]) for i in sa.inspect(repo._engine).get_indexes(md.commits.name)}


def test_opening_a_repository_made_before_the_generation_index_creates_it(
    repo: Repository, tmp_path: Path
) -> None:
    _history(repo)
    before = [c.id for c in repo.ref("main").log(prefixes=["d07/"])]
    with repo._engine.begin() as conn:
        conn.execute(sa.schema.DropIndex(md.commits_generation))
        conn.execute(md.settings.delete().where(md.settings.c.key == _log.GENERATION_INDEX))
    assert "repos_commits_generation" not in _indexes(repo)
    again = Repository.open(repo.storage, _url(repo))
    try:
        assert "repos_commits_generation" in _indexes(again)
        with again._engine.connect() as conn:
            keys = {k for (k,) in conn.execute(sa.select(md.settings.c.key))}
        assert _log.GENERATION_INDEX in keys
        assert [c.id for c in again.ref("main").log(prefixes=["d07/"])] == before
    finally:
        again.close()
    Repository.open(repo.storage, _url(repo)).close()  # a second open finds it made


def _staging_indexes(repo: Repository) -> set[str]:
    return {str(i["name"]) for i in sa.inspect(repo._engine).get_indexes(md.staging.name)}


def test_postgresql_keeps_staged_paths_in_code_point_order(repo: Repository) -> None:
    """PostgreSQL orders text by its collation; the seek over staged rows needs the "C"
    order, so a repository there has that index, and one made before it gets it."""
    if _url(repo) is None:
        assert "repos_staging_path_c" not in _staging_indexes(repo)  # SQLite's key serves
        return
    assert "repos_staging_path_c" in _staging_indexes(repo)
    main = repo.branch("main")
    main.upload_many({p: b"x" for p in ["a_b", "aB", "a-b", "a/b", "é", "Z", "z"]})
    with repo._engine.begin() as conn:
        conn.execute(sa.schema.DropIndex(md.staging_path_c))
        conn.execute(md.settings.delete().where(md.settings.c.key == _log.STAGING_PATH_INDEX))
    again = Repository.open(repo.storage, _url(repo))
    try:
        assert "repos_staging_path_c" in _staging_indexes(again)
        paths = [o.path for o in again.branch("main").objects(after="a")]
        assert paths == sorted(["a_b", "aB", "a-b", "a/b", "é", "z"])
    finally:
        again.close()
