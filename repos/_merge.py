"""Merge and revert: the three-way work behind ``Branch.merge_into`` and ``Branch.revert``.

A merge is three-way from the merge base, per path (lakeFS's rule), except for groups of
paths a ``MergeResolver`` claims that changed on both sides; it lands as one two-parent
commit by compare-and-swap, all or nothing. A revert applies a commit's changes backwards
where the paths have not changed since.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING

from repos._graph import merge_base
from repos._resolve import GroupMerge, MergeResolver, Resolved, resolve_groups, two_sided_groups
from repos._tree import Entry
from repos.errors import ConflictError, EmptyCommitError, InvalidNameError, MergeConflictError
from repos.models import Change, Commit, HookEvent

if TYPE_CHECKING:
    from repos.repository import Repository

__all__ = ["merge", "revert"]


def merge(
    repo: Repository,
    source: str,
    dest: str,
    strategy: str | None,
    message: str | None,
    metadata: Mapping[str, str] | None,
    allow_empty: bool = False,
    resolver: MergeResolver | None = None,
) -> Commit:
    if strategy not in (None, "source-wins", "dest-wins"):
        raise InvalidNameError(
            f"unknown merge strategy {strategy!r}: use None, 'source-wins' or 'dest-wins'"
        )
    if source == dest:
        raise InvalidNameError(f"cannot merge branch {dest!r} into itself")
    src = repo._resolve(source)
    with repo._engine.connect() as conn, conn.begin():
        head, token = repo._need_branch(conn, dest)
        repo._require_clean(conn, dest, head, token, "merging")
    msg = message if message is not None else f"Merge '{source}' into '{dest}'"
    meta_kv = repo._check_commit_args(msg, metadata)
    base_id = merge_base(repo._load, src, head)
    if base_id == src and not allow_empty:
        raise EmptyCommitError(
            f"nothing to merge: {dest!r} already contains every commit of {source!r}; "
            "allow an empty merge (allow_empty=True, --allow-empty) to record one anyway"
        )
    base_meta = repo._commit(base_id).meta_range_id if base_id else repo._empty
    src_meta = repo._commit(src).meta_range_id
    dst_meta = repo._commit(head).meta_range_id
    theirs = {p: b for p, _, b in repo._tree.diff(base_meta, src_meta)}
    ours = {p: b for p, _, b in repo._tree.diff(base_meta, dst_meta)}
    grouped = two_sided_groups(resolver, theirs, ours) if resolver is not None else {}
    ops: list[tuple[str, Entry | None]] = []
    conflicts: list[str] = []
    for path, new in theirs.items():
        if path in grouped:
            continue
        if path in ours:
            if ours[path] == new or strategy == "dest-wins":
                continue
            if strategy is None:
                conflicts.append(path)
                continue
        ops.append((path, new))
    if conflicts:
        shown = ", ".join(conflicts[:20]) + (" ..." if len(conflicts) > 20 else "")
        raise MergeConflictError(
            f"merge of {source!r} into {dest!r} conflicts on {len(conflicts)} path(s): "
            f"{shown}; resolve them on one side or pass strategy='source-wins' or 'dest-wins'",
            conflicts,
        )
    scratch = repo.scratch() if grouped else None
    try:
        done = Resolved({}, {}, set())
        if resolver is not None and scratch is not None:
            done = resolve_groups(
                resolver,
                grouped,
                GroupMerge("", base_id, src, head, {}, {}, strategy),
                (theirs, ours),
                repo._info,
                functools.partial(repo._tree.lookup, dst_meta),
                repo._own_object,
                scratch,
            )
            ops += sorted(done.entries.items())
        changes = []
        for path, new in ops:
            old = repo._tree.lookup(dst_meta, path)
            if new is None:
                changes.append(Change("removed", path, None))
            else:
                changes.append(Change("added" if old is None else "changed", path, new[1]))
        repo._run_pre_hooks(
            HookEvent("pre-merge", dest, tuple(changes), msg, meta_kv, source_ref=source)
        )
        with repo._intents.operation() as op:
            repo._intents.record(sorted(done.reused))
            stored = repo._put_all(done.content)
            if any(done.entries.get(p) != (c, z) for p, c, z in stored) or not all(
                map(repo._store.exists, done.reused)
            ):
                raise ConflictError("an object of the merge changed or was collected: retry")
            new_meta = repo._tree.apply(dst_meta, ops)
            commit, gen = repo._new_commit((head, src), msg, meta_kv, new_meta)
            if repo._before_cas is not None:
                repo._before_cas()
            if not repo._cas(dest, head, commit, gen, op=op, sources=[src]):
                raise ConflictError(f"branch {dest!r} moved during the merge: retry the merge")
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    repo._run_post_hooks(
        HookEvent(
            "post-merge", dest, tuple(changes), msg, meta_kv, source_ref=source, commit=commit
        )
    )
    return commit


def _against_parent(
    repo: Repository, reference: str, parent_number: int, verb: str
) -> tuple[Commit, Commit]:
    """The commit ``reference`` names and its parent ``parent_number``, or a clear error."""
    target = repo._commit(repo._resolve(reference))
    if not isinstance(parent_number, int) or not 1 <= parent_number <= max(len(target.parents), 1):
        raise InvalidNameError(
            f"invalid parent_number {parent_number!r}: commit {target.id[:12]} has "
            f"{len(target.parents)} parent(s)"
        )
    if not target.parents:
        raise InvalidNameError(f"cannot {verb} {target.id[:12]}: it is the first commit")
    return target, repo._commit(target.parents[parent_number - 1])


def revert(repo: Repository, branch: str, reference: str, parent_number: int) -> Commit:
    target, parent = _against_parent(repo, reference, parent_number, "revert")
    return _replay(
        repo,
        branch,
        (target.meta_range_id, parent.meta_range_id),
        f"Revert {target.id[:12]}: {target.message}",
        {"reverted_commit": target.id},
        ("revert", "reverting", f"revert {target.id[:12]}"),
        [target.id, parent.id],
    )


def cherry_pick(
    repo: Repository,
    branch: str,
    reference: str,
    parent_number: int,
    message: str | None,
    metadata: Mapping[str, str] | None,
) -> Commit:
    target, parent = _against_parent(repo, reference, parent_number, "cherry-pick")
    return _replay(
        repo,
        branch,
        (parent.meta_range_id, target.meta_range_id),
        message if message is not None else target.message,
        {**target.metadata, **(metadata or {})},
        ("cherry-pick", "cherry-picking", f"cherry-pick {target.id[:12]}"),
        [target.id, parent.id],
    )


def _replay(
    repo: Repository,
    branch: str,
    change: tuple[str, str],
    msg: str,
    meta_kv: dict[str, str],
    words: tuple[str, str, str],
    sources: list[str],
) -> Commit:
    """Commit on ``branch`` the change from tree ``change[0]`` to ``change[1]``, as one
    tree swap (nothing is staged, so a crash leaves the branch as it was). A path the
    branch changed since the first tree is a conflict, and nothing changes."""
    protected_verb, clean_verb, what = words
    with repo._engine.connect() as conn, conn.begin():
        head, token = repo._need_branch(conn, branch)
        repo._refuse_if_protected(conn, branch, protected_verb)
        repo._require_clean(conn, branch, head, token, clean_verb)
    head_meta = repo._commit(head).meta_range_id
    ops: list[tuple[str, Entry | None]] = []
    changes: list[Change] = []
    conflicts: list[str] = []
    for path, before, after in repo._tree.diff(*change):
        current = repo._tree.lookup(head_meta, path)
        if current == after:
            continue
        if current != before:
            conflicts.append(path)
            continue
        ops.append((path, after))
        if after is None:
            changes.append(Change("removed", path, None))
        else:
            changes.append(Change("added" if current is None else "changed", path, after[1]))
    if conflicts:
        raise MergeConflictError(
            f"cannot {what} on {branch!r}: {len(conflicts)} path(s) changed "
            f"since: {', '.join(conflicts[:20])}",
            conflicts,
        )
    repo._run_pre_hooks(HookEvent("pre-commit", branch, tuple(changes), msg, meta_kv))
    with repo._intents.operation() as op:
        new_meta = repo._tree.apply(head_meta, ops)
        commit, gen = repo._new_commit((head,), msg, meta_kv, new_meta)
        if repo._before_cas is not None:
            repo._before_cas()
        if not repo._cas(branch, head, commit, gen, op=op, sources=sources):
            raise ConflictError(f"branch {branch!r} moved during the {protected_verb}: retry it")
    repo._run_post_hooks(
        HookEvent("post-commit", branch, tuple(changes), msg, meta_kv, commit=commit)
    )
    return commit
