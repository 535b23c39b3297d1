"""The commit log: commits reachable from a ref, newest first, optionally only those that
changed a path under given prefixes.

A walk asks for one commit's parents at a time; loading each from the database by id
costs one query per commit, which dominates a long history. The log's loader fetches a
window of generations below the lowest one it has seen in one query instead (parents
always have a lower generation than their children), through an index on
``repos_commits.generation``, so a walk of N commits costs about N / window queries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from repos import _metadata as md
from repos._graph import walk
from repos._names import check_prefix
from repos.errors import InvalidNameError
from repos.models import Commit

if TYPE_CHECKING:
    from repos.repository import Repository

__all__ = ["WINDOW", "commit_of", "ensure_generation_index", "log"]

WINDOW = 1_000
"""Generations fetched per query by the log's loader."""
GENERATION_INDEX = "commits_generation_index"
"""The settings key recording that ``repos_commits_generation`` exists."""
STAGING_PATH_INDEX = "staging_path_c_index"
"""The settings key recording that ``repos_staging_path_c`` exists (PostgreSQL only)."""


def commit_of(row: Any) -> Commit:
    """A ``Commit`` from a ``repos_commits`` row."""
    return Commit(
        id=row.id,
        parents=tuple(json.loads(row.parents)),
        message=row.message,
        metadata=json.loads(row.metadata),
        author=row.author,
        creation_date=datetime.fromisoformat(row.creation_date),
        meta_range_id=row.meta_range_id,
    )


def ensure_generation_index(engine: sa.Engine, found: Mapping[str, str]) -> None:
    """Create the generation index, and on PostgreSQL the staged paths' code-point index,
    in a repository made before them (once; a concurrent opener that made one first is
    fine)."""
    _ensure_index(engine, found, GENERATION_INDEX, md.commits_generation)
    if engine.dialect.name == "postgresql":
        _ensure_index(engine, found, STAGING_PATH_INDEX, md.staging_path_c)


def _ensure_index(engine: sa.Engine, found: Mapping[str, str], key: str, index: sa.Index) -> None:
    """Create ``index`` unless the settings record ``key``, then record it."""
    if key in found:
        return
    try:
        with engine.begin() as conn:
            conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
            conn.execute(md.settings.insert().values(key=key, value="1"))
    except sa.exc.SQLAlchemyError:
        pass  # another process made it (or is making it): reads work without it


class _WindowLoader:
    """Loads commits by id, fetching a window of generations below the lowest one seen."""

    def __init__(self, repo: Repository, window: int) -> None:
        self.repo = repo
        self.window = window
        self.low: int | None = None

    def __call__(self, ids: Iterable[str]) -> Mapping[str, tuple[Commit, int]]:
        ids = list(ids)
        cache = self.repo._commit_cache
        if self.low is not None and any(c not in cache for c in ids):
            c = md.commits.c
            q = sa.select(md.commits).where(
                c.generation < self.low, c.generation >= self.low - self.window
            )
            with self.repo._engine.connect() as conn:
                for row in conn.execute(q):
                    if row.id not in cache:
                        cache[row.id] = (commit_of(row), row.generation)
            self.low -= self.window
        out = self.repo._load(ids)  # by id: whatever the window missed
        low = min(g for _, g in out.values()) if out else None
        if low is not None and (self.low is None or low < self.low):
            self.low = low
        return out


def log(
    repo: Repository,
    ref: str,
    max_amount: int | None,
    prefixes: Sequence[str] | str | None,
    first_parent: bool,
    window: int = WINDOW,
) -> Iterator[Commit]:
    """Commits reachable from ``ref``, children before parents; with ``prefixes``, only
    those that changed a path under one of them (against their first parent)."""
    if max_amount is not None and (not isinstance(max_amount, int) or max_amount < 0):
        raise InvalidNameError(f"invalid max_amount {max_amount!r}: give an int >= 0")
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    for p in prefixes or ():
        check_prefix(p)
    start = repo._resolve(ref)
    load = _WindowLoader(repo, window)
    tree = repo._tree
    count = 0
    for commit in walk(load, start, first_parent):
        if max_amount is not None and count >= max_amount:
            return
        if prefixes:
            parent = commit.parents[0] if commit.parents else None
            parent_meta = load([parent])[parent][0].meta_range_id if parent else repo._empty
            if not any(
                next(tree.diff(parent_meta, commit.meta_range_id, p), None) is not None
                for p in prefixes
            ):
                continue
        count += 1
        yield commit
