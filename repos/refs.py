"""Lazy handles on refs: ``Reference``, ``Branch``, ``Tag`` and ``StoredObject``.

A handle does no I/O until a verb is called; every verb asks the repository.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, BinaryIO, Literal

from repos.models import ChangeList, Commit, CommitLog, ObjectInfo

if TYPE_CHECKING:
    from repos._resolve import MergeResolver
    from repos.repository import Repository

__all__ = ["Branch", "Reference", "StoredObject", "Tag"]


def _ref_id(ref: str | Reference | Commit) -> str:
    if isinstance(ref, Reference):
        return ref.id
    if isinstance(ref, Commit):
        return ref.id
    return ref


class Reference:
    """Any ref: a branch, tag, commit id (or unique prefix >= 6), ``ref~N`` or ``ref^N``."""

    def __init__(self, repo: Repository, id: str) -> None:
        self._repo = repo
        self.id = id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Reference)
            and type(other) is type(self)
            and other.id == self.id
            and other._repo is self._repo
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.id))

    @property
    def repository(self) -> Repository:
        return self._repo

    def resolve(self) -> str:
        """The commit id this ref points at now."""
        return self._repo._resolve(self.id)

    def get_commit(self) -> Commit:
        """The commit this ref points at now."""
        return self._repo._commit(self.resolve())

    def objects(self, prefix: str = "", *, after: str = "") -> Iterator[ObjectInfo]:
        """Objects under ``prefix``, sorted by path (a branch includes uncommitted writes).

        ``after``: only paths greater than it (lakeFS's ``after``); the listing seeks to it,
        so a page costs what it holds, not the objects before it.
        """
        return self._repo._objects(self.id, prefix, after)

    def object(self, path: str) -> StoredObject:
        """A handle on the object at ``path`` (no I/O)."""
        from repos._names import check_path

        return StoredObject(self, check_path(path))

    def log(
        self,
        max_amount: int | None = None,
        prefixes: Sequence[str] | None = None,
        first_parent: bool = False,
    ) -> CommitLog:
        """Commits reachable from this ref, newest first; ``prefixes`` keeps only commits
        that changed a path under one of them (compared with their first parent)."""
        return CommitLog(self._repo._log(self.id, max_amount, prefixes, first_parent))

    def diff(self, other_ref: str | Reference | Commit, prefix: str = "") -> ChangeList:
        """Committed changes from this ref to ``other_ref`` (``added``: only in other)."""
        return ChangeList(self._repo._diff(self.id, _ref_id(other_ref), prefix))


class Branch(Reference):
    """A movable ref with a staging area of uncommitted writes."""

    def create(self, source_reference: str | Reference | Commit, exist_ok: bool = False) -> Branch:
        """Create the branch at ``source_reference``'s commit (O(1): one row)."""
        self._repo._set_branch(self.id, _ref_id(source_reference), exist_ok)
        return self

    def delete(self) -> None:
        """Delete the branch and its uncommitted writes."""
        self._repo._delete_branch(self.id)

    @property
    def head(self) -> Reference:
        """A ref pinned to the branch's current commit."""
        return Reference(self._repo, self._repo._resolve(self.id))

    def uncommitted(self, prefix: str = "") -> ChangeList:
        """Staged changes against the head commit, sorted by path."""
        return ChangeList(self._repo._uncommitted(self.id, prefix))

    def reset(self) -> None:
        """Drop every uncommitted change."""
        self._repo._reset(self.id)

    def commit(
        self, message: str, metadata: Mapping[str, str] | None = None, allow_empty: bool = False
    ) -> Commit:
        """Commit the staged changes; the head moves by compare-and-swap (retried)."""
        return self._repo._commit_branch(self.id, message, metadata, allow_empty)

    def revert(self, reference: str | Reference | Commit, parent_number: int = 1) -> Commit:
        """Commit the undoing of ``reference``'s changes against its parent ``parent_number``."""
        return self._repo._revert(self.id, _ref_id(reference), parent_number)

    def cherry_pick(
        self,
        reference: str | Reference | Commit,
        parent_number: int = 1,
        message: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Commit:
        """Commit ``reference``'s changes against its parent ``parent_number`` onto this
        branch, with its message and metadata (as lakeFS does) unless given, as one tree
        swap; a path this branch changed since that parent is a conflict
        (``MergeConflictError``) and nothing changes."""
        return self._repo._cherry_pick(
            self.id, _ref_id(reference), parent_number, message, metadata
        )

    def merge_into(
        self,
        destination: str | Branch,
        strategy: Literal["source-wins", "dest-wins"] | None = None,
        message: str | None = None,
        metadata: Mapping[str, str] | None = None,
        allow_empty: bool = False,
        resolver: MergeResolver | None = None,
    ) -> Commit:
        """Three-way merge this branch's head into ``destination`` as a two-parent commit.

        A source whose every commit the destination already holds raises
        ``EmptyCommitError`` unless ``allow_empty``. With a ``resolver``, each group of
        paths (``resolver.group``) changed on both sides is merged by ``resolver.resolve``
        and its answer lands in the same merge commit; other paths merge per path.
        """
        dest = destination.id if isinstance(destination, Reference) else destination
        from repos._names import check_name

        return self._repo._merge(
            self.id, check_name(dest, "branch"), strategy, message, metadata, allow_empty, resolver
        )

    def upload_many(self, items: Mapping[str, bytes | os.PathLike[str]]) -> None:
        """Stage many objects at once (one metadata transaction)."""
        self._repo._upload(self.id, items)

    def delete_objects(self, paths: Iterable[str]) -> None:
        """Stage the deletion of many paths at once."""
        if isinstance(paths, str):
            paths = [paths]
        self._repo._delete_paths(self.id, paths, must_exist=False)

    def stage(
        self,
        upload: Mapping[str, bytes | os.PathLike[str]] | None = None,
        delete: Iterable[str] = (),
    ) -> None:
        """Stage uploads and deletions as one change: a crash at any point stages all of
        it or none of it."""
        self._repo._stage_changes(self.id, upload or {}, delete)


class Tag(Reference):
    """A fixed ref to one commit."""

    def create(self, source_reference: str | Reference | Commit, exist_ok: bool = False) -> Tag:
        """Create the tag at ``source_reference``'s commit."""
        self._repo._set_tag(self.id, _ref_id(source_reference), exist_ok)
        return self

    def delete(self) -> None:
        """Delete the tag (its commits stay until GC finds them unreachable)."""
        self._repo._delete_tag(self.id)


class StoredObject:
    """The object at ``path`` in a ref; writes go through branches only."""

    def __init__(self, ref: Reference, path: str) -> None:
        self._ref = ref
        self.path = path

    def __repr__(self) -> str:
        return f"StoredObject({self._ref.id!r}, {self.path!r})"

    def upload(self, data: bytes | BinaryIO | os.PathLike[str]) -> ObjectInfo:
        """Stage ``data`` (bytes, a binary file object or a local file path) at the path."""
        if isinstance(data, str):
            from repos.errors import InvalidNameError

            raise InvalidNameError(
                "upload() takes bytes, a binary file object or a pathlib.Path, not str: "
                "encode text with .encode() or wrap a file path in Path()"
            )
        path, checksum, size = self._ref._repo._upload(self._ref.id, {self.path: data})[0]
        assert checksum is not None
        return self._ref._repo._info(path, (checksum, size or 0))

    def read(self) -> bytes:
        with self.reader() as f:
            return f.read()

    def reader(self) -> BinaryIO:
        return self._ref._repo._open(self._ref.id, self.path)

    def stat(self) -> ObjectInfo:
        return self._ref._repo._stat(self._ref.id, self.path)

    def exists(self) -> bool:
        return self._ref._repo._lookup(self._ref.id, self.path) is not None

    def delete(self) -> None:
        """Stage the deletion of this object (``NotFoundError`` if absent)."""
        self._ref._repo._delete_paths(self._ref.id, [self.path], must_exist=True)
