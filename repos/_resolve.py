"""The merge hook: a ``MergeResolver`` merges groups of paths (a table's objects, say)
that changed on both sides, where the per-path rule would see a conflict or would
keep both sides' files side by side.

``repos`` knows nothing of what a group holds. The merge asks the resolver which group
each changed path belongs to; a group changed on one side only merges per path, as
without a resolver. A group changed on both sides is handed to ``resolve``, whose answer
(changes on top of the destination's tree) goes into the merge commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from repos._names import check_path
from repos._tree import Entry
from repos.errors import InvalidNameError, MergeConflictError
from repos.models import ObjectInfo

__all__ = [
    "Content",
    "GroupMerge",
    "MergeResolver",
    "Resolved",
    "resolve_groups",
    "two_sided_groups",
]

Content = bytes | os.PathLike[str] | None
"""New content at a path (bytes or a local file), or None to delete it."""


@dataclass(frozen=True)
class GroupMerge:
    """One group changed on both sides of a merge: what the resolver is asked to merge.

    ``theirs`` / ``ours``: the group's paths changed from the base to the source / the
    destination, each with its object there (None: removed on that side). ``base`` is
    None when the two sides share no ancestor.
    """

    group: str
    base: str | None
    source: str
    dest: str
    theirs: Mapping[str, ObjectInfo | None]
    ours: Mapping[str, ObjectInfo | None]
    strategy: str | None


@runtime_checkable
class MergeResolver(Protocol):
    """Groups paths for a merge and merges the groups that changed on both sides."""

    def group(self, path: str) -> str | None:
        """The group ``path`` merges in, or None to merge it per path."""
        ...

    def resolve(self, merge: GroupMerge, scratch: Path) -> Mapping[str, Content]:
        """The merged group as changes on top of the destination's tree: path -> new
        content (bytes, a file written under ``scratch``, or an existing object's
        ``physical_address``, which is reused) or None (delete). Raise
        ``repos.MergeConflictError`` to refuse the merge."""
        ...


@dataclass(frozen=True)
class Resolved:
    """The resolvers' answers: content to store (path -> bytes or a file), each changed
    path's new entry (None: removed), and checksums of objects reused as they are."""

    content: dict[str, bytes | os.PathLike[str]]
    entries: dict[str, Entry | None]
    reused: set[str]


def two_sided_groups(
    resolver: MergeResolver,
    theirs: Mapping[str, Entry | None],
    ours: Mapping[str, Entry | None],
) -> dict[str, str]:
    """Path -> group for every changed path whose group changed on both sides."""
    group_of = {p: resolver.group(p) for p in {*theirs, *ours}}
    left = {g for p, g in group_of.items() if g is not None and p in theirs}
    right = {g for p, g in group_of.items() if g is not None and p in ours}
    both = left & right
    return {p: g for p, g in group_of.items() if g in both}


def _digest(
    content: bytes | os.PathLike[str], own: Callable[[os.PathLike[str]], Entry | None]
) -> tuple[Entry, bool]:
    """The content's (checksum, size), and whether it is already an object of the store."""
    if isinstance(content, bytes):
        return (hashlib.sha256(content).hexdigest(), len(content)), False
    known = own(content)
    if known is not None:
        return known, True
    h = hashlib.sha256()
    size = 0
    with open(content, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return (h.hexdigest(), size), False


def _checked(
    resolver: MergeResolver,
    group: str,
    answer: object,
    own: Callable[[os.PathLike[str]], Entry | None],
) -> dict[str, bytes | os.PathLike[str] | None]:
    name = type(resolver).__name__
    if not isinstance(answer, Mapping):
        raise InvalidNameError(
            f"merge resolver {name} returned {type(answer).__name__} for group {group!r}: "
            "return a mapping of path -> bytes, a file path or None"
        )
    out: dict[str, bytes | os.PathLike[str] | None] = {}
    for path, value in answer.items():
        check_path(path)
        if resolver.group(path) != group:
            raise InvalidNameError(
                f"merge resolver {name} returned {path!r} for group {group!r}, but that path "
                "is not in the group: return only paths of the group it merges"
            )
        if isinstance(value, bytearray | memoryview):
            value = bytes(value)
        if value is not None and not isinstance(value, bytes | os.PathLike):
            raise InvalidNameError(
                f"merge resolver {name} returned {type(value).__name__} at {path!r}: give "
                "bytes, a file path (pathlib.Path) or None"
            )
        if isinstance(value, os.PathLike) and not Path(value).is_file() and own(value) is None:
            raise InvalidNameError(
                f"merge resolver {name} returned {os.fspath(value)!r} at {path!r}, which is "
                "not a file: write the content under the scratch folder it is given"
            )
        out[path] = value
    return out


def resolve_groups(
    resolver: MergeResolver,
    groups: Mapping[str, str],
    blank: GroupMerge,
    sides: tuple[Mapping[str, Entry | None], Mapping[str, Entry | None]],
    info: Callable[[str, Entry], ObjectInfo],
    current: Callable[[str], Entry | None],
    own: Callable[[os.PathLike[str]], Entry | None],
    scratch: Path,
) -> Resolved:
    """Ask ``resolver`` to merge each group of ``groups`` (path -> group); ``blank``
    holds the merge's commits and strategy, ``sides`` the changes base -> source and
    base -> destination, ``current`` the destination's entry at a path and ``own`` the
    entry of a file that is already an object of the store (an ``ObjectInfo``'s
    ``physical_address``: reused, not copied).

    Paths whose answer equals what the destination holds are left out. Every group is
    tried before a conflict is raised, so the error names all of them; one group's
    conflict is raised as it came.
    """
    out = Resolved({}, {}, set())
    failures: list[MergeConflictError] = []
    theirs, ours = sides
    for i, group in enumerate(sorted(set(groups.values()))):
        mine = sorted(p for p, g in groups.items() if g == group)
        their = {p: None if (e := theirs[p]) is None else info(p, e) for p in mine if p in theirs}
        our = {p: None if (e := ours[p]) is None else info(p, e) for p in mine if p in ours}
        folder = scratch / f"group-{i}"
        folder.mkdir()
        try:
            merge = dataclasses.replace(blank, group=group, theirs=their, ours=our)
            answer = resolver.resolve(merge, folder)
        except MergeConflictError as e:
            failures.append(e)
            continue
        for path, value in _checked(resolver, group, answer, own).items():
            entry, reused = (None, False) if value is None else _digest(value, own)
            if entry == current(path):
                continue
            out.entries[path] = entry
            if entry is not None and reused:
                out.reused.add(entry[0])
            elif value is not None:
                out.content[path] = value
    if len(failures) == 1:
        raise failures[0]
    if failures:
        paths = [p for f in failures for p in f.paths]
        raise MergeConflictError("; ".join(str(f) for f in failures), paths) from failures[0]
    return out
