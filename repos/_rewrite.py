"""History rewrite: every commit reachable from a branch or tag gets the tree a transform
makes of it, under new ids, and every ref moves to the rewritten history at once.

It is how something that must not stay anywhere (a person's rows, a leaked secret) leaves
the history: ``Repository.rewrite(transform, prefix)`` calls ``transform(path, info)``
once per distinct object under ``prefix`` and rebuilds each commit from its first
parent's rewritten tree plus its own (rewritten) changes, so the work is O(objects
changed), not O(commits x tree).

Crash safety: new objects and trees land first, under upload intents (GC keeps them);
then one metadata transaction inserts the new commits, moves every branch and tag by
compare-and-swap, rewrites the staged rows it changed, records the old -> new map and
the rewrite, and expires the old commits. A crash before that transaction leaves the old
history as it was and no rewrite recorded (the new objects are orphans GC collects); a
crash after leaves it done. A ref or staged row that moved meanwhile makes the
transaction roll back and the rewrite start again (transformed objects are memoized).

Old commits become unreachable and expired: no ref may point at them again, and GC
collects the objects the transform replaced at once, whatever the retention (the
``repos_redacted`` rows say which). An old id still resolves, to its new commit.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, TypeAlias

import sqlalchemy as sa

from repos import _metadata as md
from repos._graph import ancestors, commit_id
from repos._guard import clear
from repos._names import check_path, check_prefix
from repos._tree import Entry
from repos.errors import ConflictError, InvalidNameError, NotFoundError
from repos.models import Commit, ObjectInfo

if TYPE_CHECKING:
    from repos.repository import Repository

__all__ = ["KEEP", "Rewrite", "Transform", "TransformResult", "annotate", "rewrite"]


class _Keep:
    """The transform's answer for an object that stays as it is."""

    _instance: _Keep | None = None

    def __new__(cls) -> _Keep:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()
Content: TypeAlias = bytes | os.PathLike[str]
TransformResult: TypeAlias = _Keep | Content | Mapping[str, Content] | None
"""``KEEP``; new content at the same path; ``path -> content`` objects replacing it
(other paths too, e.g. content-named parts; the paths of distinct objects' replacements
must differ, as one tree holds one object per path); or None (the object goes)."""
Transform: TypeAlias = Callable[[str, ObjectInfo], TransformResult]

_RETRIES = 20
_CHUNK = 500


@dataclass(frozen=True)
class Rewrite:
    """One recorded rewrite: when, the caller's metadata, the commits it replaced
    (old id -> new id) and how many distinct objects it replaced."""

    id: str
    created: datetime
    metadata: Mapping[str, str]
    commits: Mapping[str, str]
    objects_replaced: int


@dataclass
class _Snapshot:
    branches: dict[str, tuple[str, str]]  # name -> (head, staging token)
    tags: dict[str, str]
    staged: dict[str, set[tuple[str, str | None, int | None]]]  # token -> rows under prefixes


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path.startswith(p) for p in prefixes)


class _Rewriter:
    def __init__(self, repo: Repository, transform: Transform, prefixes: Sequence[str]) -> None:
        self.repo = repo
        self.transform = transform
        self.prefixes = prefixes
        self.objects: dict[tuple[str, Entry], dict[str, Entry]] = {}
        self.replaced: set[str] = set()
        self.trees: dict[tuple[str, str, str], str] = {}  # (old parent, old, new parent) -> new

    def outputs(self, path: str, entry: Entry) -> dict[str, Entry]:
        """What the object ``entry`` at ``path`` becomes: path -> entry (memoized)."""
        key = (path, entry)
        hit = self.objects.get(key)
        if hit is not None:
            return hit
        info = ObjectInfo(path, entry[1], entry[0], self.repo._store.address(entry[0]))
        result = self.transform(path, info)
        out: dict[str, Entry]
        if result is KEEP:
            out = {path: entry}
        elif result is None:
            out = {}
        elif isinstance(result, bytes | bytearray | memoryview | str | os.PathLike):
            out = {path: self.put(path, result)}
        elif isinstance(result, Mapping):
            out = {check_path(p): self.put(p, c) for p, c in result.items()}
        else:
            raise InvalidNameError(
                f"the rewrite transform returned {type(result).__name__} for {path!r}: return "
                "KEEP, None, bytes, a file path or a mapping of path -> bytes or file path"
            )
        if out != {path: entry}:
            self.replaced.add(entry[0])
        self.objects[key] = out
        return out

    def put(self, path: str, content: object) -> Entry:
        store, admit = self.repo._store, self.repo._intents.admit
        if isinstance(content, bytes | bytearray | memoryview):
            return store.put_bytes(bytes(content), admit)
        if isinstance(content, str | os.PathLike):
            with open(content, "rb") as f:
                return store.put_stream(f, admit)
        raise InvalidNameError(
            f"the rewrite transform gave {type(content).__name__} for {path!r}: give bytes "
            "or a file path"
        )

    def ops(
        self, changes: Iterable[tuple[str, Entry | None, Entry | None]]
    ) -> list[tuple[str, Entry | None]]:
        """The rewritten form of one commit's changes to its first parent."""
        ops: dict[str, Entry | None] = {}
        for path, before, after in changes:
            if not _under(path, self.prefixes):
                ops[path] = after
                continue
            old = self.outputs(path, before) if before is not None else {}
            new = self.outputs(path, after) if after is not None else {}
            for p in old.keys() - new.keys():
                ops.setdefault(p, None)
            ops.update(new)
        return sorted(ops.items())

    def tree(self, parent: Commit | None, commit: Commit, new_parent_meta: str) -> str:
        old_parent_meta = parent.meta_range_id if parent is not None else self.repo._empty
        key = (old_parent_meta, commit.meta_range_id, new_parent_meta)
        hit = self.trees.get(key)
        if hit is None:
            changes = self.repo._tree.diff(old_parent_meta, commit.meta_range_id)
            hit = self.trees[key] = self.repo._tree.apply(new_parent_meta, self.ops(changes))
        return hit


def _snapshot(repo: Repository, prefixes: Sequence[str]) -> _Snapshot:
    with repo._engine.connect() as conn:
        return _read_snapshot(conn, prefixes)


def _read_snapshot(conn: sa.Connection, prefixes: Sequence[str]) -> _Snapshot:
    b, t, s = md.branches.c, md.tags.c, md.staging.c
    branches = {
        str(n): (str(h), str(tok))
        for n, h, tok in conn.execute(sa.select(b.name, b.head, b.staging_token))
    }
    tags = {str(n): str(c) for n, c in conn.execute(sa.select(t.name, t.commit_id))}
    tokens = {tok for _, tok in branches.values()}
    staged: dict[str, set[tuple[str, str | None, int | None]]] = {tok: set() for tok in tokens}
    for tok, path, checksum, size in conn.execute(sa.select(s.token, s.path, s.checksum, s.size)):
        if tok in staged and _under(path, prefixes):
            staged[tok].add((path, checksum, None if size is None else int(size)))
    return _Snapshot(branches, tags, staged)


def rewrite(
    repo: Repository,
    transform: Transform,
    prefix: str | Sequence[str] = "",
    metadata: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
) -> Rewrite:
    """Rewrite every reachable commit and staged object under ``prefix`` by ``transform``
    and move every branch and tag to the result (see the module docstring).

    ``metadata`` (or a function giving it, called once the transforms ran, so it can say
    what they did) is recorded with the rewrite."""
    prefixes = [prefix] if isinstance(prefix, str) else list(prefix)
    if not prefixes:
        raise InvalidNameError("rewrite needs at least one prefix ('' for every path)")
    for p in prefixes:
        check_prefix(p)
    if metadata is not None and not callable(metadata):
        repo._check_commit_args("rewrite", metadata)
    if not callable(transform):
        raise InvalidNameError(f"the rewrite transform {transform!r} is not callable")
    rw = _Rewriter(repo, transform, prefixes)
    for _ in range(_RETRIES):
        with repo._intents.operation() as op:
            snap = _snapshot(repo, prefixes)
            mapping, new_commits, expire = _rewrite_commits(repo, rw, snap)
            staged_ops = _rewrite_staged(rw, snap)
            meta_kv = repo._check_commit_args(
                "rewrite", metadata() if callable(metadata) else metadata
            )
            if repo._before_cas is not None:
                repo._before_cas()
            done = _move_refs(repo, rw, snap, mapping, new_commits, expire, staged_ops, meta_kv, op)
        if done is not None:
            for commit, gen in new_commits:
                repo._commit_cache[commit.id] = (commit, gen)
            return done
    raise ConflictError(
        f"branches kept moving while rewriting history ({_RETRIES} tries): retry when "
        "writers are idle"
    )


def _rewrite_commits(
    repo: Repository, rw: _Rewriter, snap: _Snapshot
) -> tuple[dict[str, str], list[tuple[Commit, int]], list[str]]:
    """New commits for those a ref reaches (old -> new), and the unreachable, unexpired
    commits whose trees change: they expire, so GC keeps none of what they held."""
    heads = {h for h, _ in snap.branches.values()} | set(snap.tags.values())
    reachable = ancestors(repo._load, heads)
    with repo._engine.connect() as conn:
        every = {str(c) for (c,) in conn.execute(sa.select(md.commits.c.id))}
        expired = {str(c) for (c,) in conn.execute(sa.select(md.expired.c.commit_id))}
    ids = ancestors(repo._load, reachable | (every - expired))
    loaded = repo._load(ids)
    order = sorted(ids, key=lambda c: (loaded[c][1], c))
    mapping: dict[str, str] = {}
    new_meta: dict[str, str] = {}
    out: list[tuple[Commit, int]] = []
    expire: list[str] = []
    for cid in order:
        commit, gen = loaded[cid]
        parent = loaded[commit.parents[0]][0] if commit.parents else None
        if parent is not None and parent.id not in new_meta:
            continue  # below a commit whose tree is gone: unreachable, and nothing to read
        base = new_meta[parent.id] if parent is not None else repo._empty
        try:
            meta = rw.tree(parent, commit, base)
        except NotFoundError:
            if cid in reachable:
                raise
            continue  # an unreachable commit GC already collected
        new_meta[cid] = meta
        parents = tuple(mapping.get(p, p) for p in commit.parents)
        if meta == commit.meta_range_id and parents == commit.parents:
            continue
        if cid not in reachable:
            if cid not in expired:
                expire.append(cid)
            continue
        kv = {**commit.metadata, "rewritten_from": commit.id}
        nid = commit_id(parents, commit.message, kv, commit.author, commit.creation_date, meta)
        mapping[cid] = nid
        out.append(
            (
                Commit(nid, parents, commit.message, kv, commit.author, commit.creation_date, meta),
                gen,
            )
        )
    return mapping, out, expire


StagedOp = tuple[str, str, str | None, int | None]  # token, path, checksum (None: delete), size


def _rewrite_staged(rw: _Rewriter, snap: _Snapshot) -> dict[str, list[StagedOp]]:
    """Per token: staged rows to replace (the old row at each path goes)."""
    out: dict[str, list[StagedOp]] = {}
    for token, rows in snap.staged.items():
        ops: dict[str, tuple[str | None, int | None]] = {}
        for path, checksum, size in sorted(rows):
            if checksum is None:
                continue
            entry = (checksum, int(size or 0))
            new = rw.outputs(path, entry)
            if new == {path: entry}:
                continue
            ops.setdefault(path, (None, None))
            for p, (c, s) in new.items():
                ops[p] = (c, s)
        if ops:
            out[token] = [(token, p, c, s) for p, (c, s) in sorted(ops.items())]
    return out


def _move_refs(
    repo: Repository,
    rw: _Rewriter,
    snap: _Snapshot,
    mapping: Mapping[str, str],
    new_commits: Sequence[tuple[Commit, int]],
    expire: Sequence[str],
    staged_ops: Mapping[str, Sequence[StagedOp]],
    meta_kv: Mapping[str, str],
    op: object,
) -> Rewrite | None:
    """The one transaction that makes the rewrite happen, or None if a ref moved."""
    from repos._guard import Operation

    assert isinstance(op, Operation)
    rid = uuid.uuid4().hex
    now = datetime.now(UTC)
    with repo._write() as conn:
        if _read_snapshot(conn, rw.prefixes) != snap:
            conn.rollback()
            return None
        for commit, gen in new_commits:
            repo._store_commit(conn, commit, gen)
        for name, (head, _) in snap.branches.items():
            if head in mapping:
                conn.execute(
                    md.branches.update()
                    .where(md.branches.c.name == name, md.branches.c.head == head)
                    .values(head=mapping[head])
                )
        for name, cid in snap.tags.items():
            if cid in mapping:
                conn.execute(
                    md.tags.update()
                    .where(md.tags.c.name == name, md.tags.c.commit_id == cid)
                    .values(commit_id=mapping[cid])
                )
        stamp = uuid.uuid4().hex
        s = md.staging.c
        for token, rows in staged_ops.items():
            paths = [p for _, p, _, _ in rows]
            for i in range(0, len(paths), _CHUNK):
                conn.execute(
                    md.staging.delete().where(s.token == token, s.path.in_(paths[i : i + _CHUNK]))
                )
            conn.execute(
                md.staging.insert(),
                [
                    {"token": t, "path": p, "checksum": ch, "size": z, "stamp": stamp}
                    for t, p, ch, z in rows
                ],
            )
        conn.execute(
            md.rewrites.insert().values(
                id=rid,
                created=now.isoformat(),
                metadata=json.dumps(dict(meta_kv), sort_keys=True),
                objects=len(rw.replaced),
            )
        )
        if mapping:
            r = md.rewritten.c
            olds = sorted(mapping)
            for i in range(0, len(olds), _CHUNK):
                chunk = olds[i : i + _CHUNK]
                for old in chunk:  # earlier rewrites' ids now point at the newest commit
                    conn.execute(
                        md.rewritten.update().where(r.new_id == old).values(new_id=mapping[old])
                    )
            conn.execute(
                md.rewritten.insert(),
                [{"old_id": o, "new_id": mapping[o], "rewrite_id": rid} for o in olds],
            )
        ended = {*mapping, *expire}
        already = {x for (x,) in conn.execute(sa.select(md.expired.c.commit_id)) if x in ended}
        fresh = sorted(ended - already)
        if fresh:
            conn.execute(md.expired.insert(), [{"commit_id": o} for o in fresh])
        known = {x for (x,) in conn.execute(sa.select(md.redacted.c.checksum))}
        gone = sorted(rw.replaced - known)
        if gone:
            conn.execute(md.redacted.insert(), [{"checksum": x} for x in gone])
        clear(conn, op)
    return Rewrite(rid, now, dict(meta_kv), dict(mapping), len(rw.replaced))


def rewritten(repo: Repository, old_id: str) -> str | None:
    """The commit a rewrite replaced ``old_id`` with (the newest), or None."""
    r = md.rewritten.c
    with repo._engine.connect() as conn:
        row = conn.execute(sa.select(r.new_id).where(r.old_id == old_id)).first()
    return None if row is None else str(row[0])


def rewrites(repo: Repository, since: datetime | None = None) -> list[Rewrite]:
    """Every recorded rewrite, oldest first; with ``since``, only those made after it
    (one small query, and none of their commit maps read, when there are none)."""
    w, r = md.rewrites.c, md.rewritten.c
    with repo._engine.connect() as conn:
        rows = [
            (str(i), datetime.fromisoformat(c), m, int(n))
            for i, c, m, n in conn.execute(sa.select(w.id, w.created, w.metadata, w.objects))
        ]
        if since is not None:
            rows = [row for row in rows if row[1] > since]
        maps: dict[str, dict[str, str]] = {}
        if rows:
            query = sa.select(r.old_id, r.new_id, r.rewrite_id)
            if since is not None:
                query = query.where(r.rewrite_id.in_([row[0] for row in rows]))
            for old, new, rid in conn.execute(query):
                maps.setdefault(str(rid), {})[str(old)] = str(new)
    out = [Rewrite(i, c, json.loads(m), maps.get(i, {}), n) for i, c, m, n in rows]
    out.sort(key=lambda x: x.created)
    return out


def annotate(repo: Repository, rewrite_id: str, metadata: Mapping[str, str]) -> None:
    """Add keys to a recorded rewrite's metadata (what was learnt after it, such as
    the work done outside the repository); a key it already holds never changes."""
    meta_kv = repo._check_commit_args("rewrite", metadata)
    w = md.rewrites.c
    with repo._write() as conn:
        got = conn.execute(sa.select(w.metadata).where(w.id == rewrite_id)).first()
        if got is None:
            raise NotFoundError(f"no rewrite {rewrite_id!r} is recorded")
        current = json.loads(got[0])
        clash = sorted(k for k in meta_kv if k in current and current[k] != meta_kv[k])
        if clash:
            raise ConflictError(
                f"rewrite {rewrite_id} already records {', '.join(clash)}: its metadata is "
                "append-only"
            )
        merged = json.dumps({**meta_kv, **current}, sort_keys=True)
        conn.execute(md.rewrites.update().where(w.id == rewrite_id).values(metadata=merged))
