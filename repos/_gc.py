"""Garbage collection: mark from one snapshot, sweep in batches under the GC lock.

What is kept: every object of every commit a branch or tag reaches, of every commit
younger than the retention, every staged object, every object with an upload intent
younger than the grace period, and every object younger than the retention. An object a
history rewrite replaced (``repos_redacted``) is kept only while a ref reaches it, it is
staged or an intent names it: neither its age nor a young unreachable commit holding it
keeps it (such a commit expires), so what a rewrite removed leaves the disk at once.
With ``orphans_after``, an object nothing names (no kept commit, staged row or intent)
goes at that age rather than the retention's; commits made after the mark are then
looked up again under the lock, so a young one's objects stay. Each
batch re-reads the refs, staged rows and intents under the exclusive GC lock before it
deletes, so a ref, staged row or intent that appeared after the mark is honoured. Commits
that were unreachable and older than the retention are recorded as expired in the first
batch: no ref may point at them again, so no later ref can reach a deleted object.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from repos import _metadata as md
from repos._graph import ancestors
from repos.errors import InvalidNameError, NotFoundError, ReposError
from repos.models import GCResult

if TYPE_CHECKING:
    from repos.repository import Repository

_BATCH = 500


def _refs(conn: sa.Connection) -> set[str]:
    heads = {h for (h,) in conn.execute(sa.select(md.branches.c.head))}
    return heads | {c for (c,) in conn.execute(sa.select(md.tags.c.commit_id))}


class _Marker:
    """The set of objects kept, grown commit by commit."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.commits: set[str] = set()
        self.ranges: set[str] = set()
        self.keep: set[str] = {repo._empty}
        self.suspects: set[str] = set()  # reachable at the mark, a tree object missing

    def add_commits(self, ids: Iterable[str], strict: bool | None) -> None:
        """Keep the objects of ``ids``. A missing tree object raises (``strict``), is
        skipped (False: an unreachable commit collected earlier), or makes the commit a
        suspect to check again under the lock (None: reachable at a mark that may be stale)."""
        new = [c for c in ids if c not in self.commits]
        if not new:
            return
        tree = self.repo._tree
        for cid, (commit, _) in self.repo._load(new).items():
            try:
                ranges = [r.id for r in tree.meta(commit.meta_range_id).ranges]
                for rid in ranges:
                    if rid not in self.ranges:
                        self.keep.update(tree.range(rid).checksums)
                        self.ranges.add(rid)
            except NotFoundError as e:
                if strict is None:  # maybe collected by a concurrent GC since the mark
                    self.suspects.add(cid)
                    continue
                if strict:
                    raise ReposError(
                        f"commit {cid[:12]}, which a branch or tag reaches, has a tree object "
                        f"missing from storage ({e}): the storage lost data; GC deleted nothing. "
                        "Restore the object or move the refs that reach the commit"
                    ) from e
                continue  # an unreachable commit collected earlier
            self.commits.add(cid)
            self.keep.add(commit.meta_range_id)
            self.keep.update(ranges)

    def reach(self, heads: Iterable[str], strict: bool | None = True) -> None:
        todo = set(heads) - self.commits
        if todo:
            reachable = ancestors(self.repo._load, todo)
            self.add_commits(sorted(reachable - self.commits - self.suspects), strict)

    def verify(self, heads: Iterable[str]) -> None:
        """Under the lock: a suspect still reachable has really lost an object."""
        if self.suspects:
            still = self.suspects & ancestors(self.repo._load, heads)
            self.suspects.clear()
            self.add_commits(sorted(still), strict=True)


def _protected(conn: sa.Connection, batch: Sequence[str], grace_cutoff: float) -> set[str]:
    staged = conn.execute(
        sa.select(md.staging.c.checksum)
        .join(md.branches, md.branches.c.staging_token == md.staging.c.token)
        .where(md.staging.c.checksum.in_(batch))
    )
    intents = conn.execute(
        sa.select(md.intents.c.checksum).where(
            md.intents.c.checksum.in_(batch), md.intents.c.created > grace_cutoff
        )
    )
    return {c for (c,) in staged} | {c for (c,) in intents}


def _holds(repo: Repository, commit_id: str, checksums: set[str]) -> bool:
    """Whether the tree of ``commit_id`` names one of ``checksums`` (False if it is gone)."""
    tree = repo._tree
    try:
        meta = repo._load([commit_id])[commit_id][0].meta_range_id
        return any(
            not checksums.isdisjoint(tree.range(r.id).checksums) for r in tree.meta(meta).ranges
        )
    except NotFoundError:
        return False


def collect(
    repo: Repository,
    retention: timedelta,
    grace: timedelta,
    orphans_after: timedelta | None = None,
) -> GCResult:
    """Delete what nothing keeps (see the module docstring); safe beside any writer.

    ``orphans_after``: objects no kept commit, staged row or intent names go once this
    old, rather than once older than ``retention``."""
    limits = [("retention", retention), ("grace", grace)]
    if orphans_after is not None:
        limits.append(("orphans_after", orphans_after))
    for name, value in limits:
        if not isinstance(value, timedelta) or value < timedelta(0):
            raise InvalidNameError(f"invalid {name} {value!r}: give a timedelta >= 0")
    now = time.time()
    cutoff = now - retention.total_seconds()
    orphan_cutoff = cutoff if orphans_after is None else now - orphans_after.total_seconds()
    grace_cutoff = now - grace.total_seconds()
    young_after = datetime.fromtimestamp(cutoff, UTC)

    # mark: one consistent snapshot of refs, staging, intents and commits
    conn_opts = {} if repo._engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
    with repo._engine.connect().execution_options(**conn_opts) as conn, conn.begin():
        heads = _refs(conn)
        keep_staged = {
            c
            for (c,) in conn.execute(
                sa.select(md.staging.c.checksum).join(
                    md.branches, md.branches.c.staging_token == md.staging.c.token
                )
            )
            if c is not None
        }
        keep_intents = {
            c
            for (c,) in conn.execute(
                sa.select(md.intents.c.checksum).where(md.intents.c.created > grace_cutoff)
            )
        }
        dates = dict(conn.execute(sa.select(md.commits.c.id, md.commits.c.creation_date)).all())
        already = {c for (c,) in conn.execute(sa.select(md.expired.c.commit_id))}
        redacted = {c for (c,) in conn.execute(sa.select(md.redacted.c.checksum))}
    marker = _Marker(repo)
    marker.reach(heads, strict=None)
    young = [c for c, d in dates.items() if datetime.fromisoformat(d) >= young_after]
    if redacted:
        young = [c for c in young if c in marker.commits or not _holds(repo, c, redacted)]
    marker.add_commits(sorted(set(young) - already), strict=False)
    static_keep = keep_staged | keep_intents

    # sweep: candidates from one listing (what the mark keeps is not even stat'ed), each
    # batch re-checked under the exclusive lock
    candidates: list[tuple[str, int]] = []
    for checksum, size, mtime in list(repo._store.list(skip=marker.keep)):
        limit = grace_cutoff if checksum.startswith("tmp/") else orphan_cutoff
        if checksum in redacted:  # intents and staged rows still protect it, not its age
            limit = now
        if checksum not in marker.keep and checksum not in static_keep and mtime <= limit:
            candidates.append((checksum, size))
    removed = freed = 0
    first = True
    # Without the age rule, a commit made after the mark (then left unreachable) is kept
    # by reading the commits again under the lock.
    ageless = orphans_after is not None or bool(redacted)
    known = set(dates)
    for i in range(0, len(candidates), _BATCH):
        batch = candidates[i : i + _BATCH]
        with repo._write(exclusive=True) as conn:
            refs = _refs(conn)
            marker.verify(refs)
            marker.reach(refs)
            if ageless:
                newer = {c for (c,) in conn.execute(sa.select(md.commits.c.id))} - known
                known |= newer
                marker.add_commits(sorted(newer), strict=False)
            if first:
                gone = set(dates) - marker.commits - set(young) - already
                if gone:
                    conn.execute(md.expired.insert(), [{"commit_id": c} for c in sorted(gone)])
                first = False
            names = [c for c, _ in batch if not c.startswith("tmp/")]
            safe = _protected(conn, names, grace_cutoff) if names else set()
            for checksum, size in batch:
                if checksum in marker.keep or checksum in safe:
                    continue
                repo._store.delete(checksum)
                repo._tree.forget(checksum)
                removed += 1
                freed += size
    with repo._write(exclusive=bool(marker.suspects)) as conn:
        marker.verify(_refs(conn))  # when no batch ran
        conn.execute(md.intents.delete().where(md.intents.c.created <= grace_cutoff))
    return GCResult(removed, freed)
