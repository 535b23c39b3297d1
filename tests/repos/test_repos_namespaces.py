"""Each repository keeps its own metadata: projects sharing a database never share a
history, and a storage is never opened with another repository's metadata."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from repos import ConflictError, Repository
from repos._namespace import MARKER

PG_URL = os.environ.get("FEATURESTORE_TEST_POSTGRES_URL")


@pytest.fixture
def shared_pg() -> Iterator[str]:
    """The plain PostgreSQL URL (no search_path); drops the schemas the test made."""
    if PG_URL is None:
        pytest.skip("FEATURESTORE_TEST_POSTGRES_URL is not set (CI sets it where PostgreSQL runs)")
    admin = sa.create_engine(PG_URL)
    with admin.connect() as conn:
        before = set(conn.execute(sa.text("SELECT nspname FROM pg_namespace")).scalars())
    try:
        yield PG_URL
    finally:
        with admin.begin() as conn:
            after = set(conn.execute(sa.text("SELECT nspname FROM pg_namespace")).scalars())
            for schema in sorted(after - before):
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_two_projects_on_one_postgres_database_keep_their_histories(
    tmp_path: Path, shared_pg: str
) -> None:
    a = Repository.create(tmp_path / "a", shared_pg)
    a.branch("main").object("x").upload(b"project a")
    a.branch("main").commit("a's work")
    b = Repository.create(tmp_path / "b", shared_pg)  # the same URL: its own namespace
    assert [c.message for c in b.branch("main").log()] == ["Repository created"]
    b.branch("main").object("x").upload(b"project b")
    b.branch("main").commit("b's work")
    assert a.branch("main").object("x").read() == b"project a"
    assert a.branch("main").get_commit().message == "a's work"
    a.close()
    b.close()
    again = Repository.open(tmp_path / "a", shared_pg)
    assert again.branch("main").object("x").read() == b"project a"
    other = Repository.open(tmp_path / "b", shared_pg)
    assert again.id != other.id
    again.close()
    other.close()


def test_storage_with_another_repositorys_metadata_is_refused(tmp_path: Path) -> None:
    shared = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first = Repository.create(tmp_path / "first", shared)
    first.branch("main").object("x").upload(b"first")
    head = first.branch("main").commit("first's work").id
    with pytest.raises(ConflictError, match="its own metadata database"):
        Repository.create(tmp_path / "second", shared)
    assert not (tmp_path / "second" / MARKER).exists()  # the refusal left nothing behind
    (tmp_path / "third").mkdir()
    other = Repository.create(tmp_path / "other")
    os.replace(tmp_path / "other" / MARKER, tmp_path / "third" / MARKER)
    with pytest.raises(ConflictError, match="holds repository"):
        Repository.open(tmp_path / "third", shared)
    other.close()
    assert first.branch("main").resolve() == head  # the first repository is untouched
    assert first.branch("main").object("x").read() == b"first"
    first.close()


def test_a_repository_from_before_markers_is_adopted(tmp_path: Path) -> None:
    repo = Repository.create(tmp_path / "r")
    repo.branch("main").object("x").upload(b"x")
    repo.branch("main").commit("x")
    rid = repo.id
    repo.close()
    (tmp_path / "r" / MARKER).unlink()
    url = f"sqlite:///{tmp_path / 'r' / '_metadata' / 'repos.sqlite'}"
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("DELETE FROM repos_settings WHERE key = 'repository_id'"))
    old = Repository.open(tmp_path / "r")
    assert old.id != rid and (tmp_path / "r" / MARKER).exists()
    assert old.branch("main").object("x").read() == b"x"
    old.close()
    assert Repository.open(tmp_path / "r").id == old.id


@pytest.mark.parametrize("suffix", ["~" + "9" * 5000, "^" + "1" * 11, "~" + "1" * 10])
def test_a_huge_ancestor_suffix_is_an_invalid_name(tmp_path: Path, suffix: str) -> None:
    from repos import InvalidNameError

    repo = Repository.create(tmp_path / "r")
    with pytest.raises(InvalidNameError, match="at most 9 digits"):
        repo.ref("main" + suffix).resolve()
    assert repo.ref("main~0").resolve() == repo.branch("main").resolve()
    repo.close()
