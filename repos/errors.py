"""The error tree of ``repos``; every message says what was wrong and what to do.

::

    ReposError
    ├── NotFoundError (LookupError)            unknown ref, branch, tag, commit or object
    ├── InvalidNameError (ValueError)          bad branch/tag name, path or argument
    ├── EmptyCommitError (ValueError)          nothing to commit and allow_empty=False
    ├── ConflictError                          lost compare-and-swap, exists, dirty branch
    │   └── MergeConflictError                 paths changed differently on both sides
    ├── ProtectedBranchError (PermissionError) only merges may move a protected branch
    ├── HookRejectedError (PermissionError)    a pre-commit / pre-merge hook refused
    ├── ReadOnlyReferenceError (PermissionError) writing through a tag or commit
    └── StorageError (OSError)                 the object storage failed or refused
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConflictError",
    "EmptyCommitError",
    "HookRejectedError",
    "InvalidNameError",
    "MergeConflictError",
    "NotFoundError",
    "ProtectedBranchError",
    "ReadOnlyReferenceError",
    "ReposError",
    "StorageError",
]


class ReposError(Exception):
    """Root of every error raised by ``repos``."""


class NotFoundError(ReposError, LookupError):
    """A ref, branch, tag, commit, repository or object does not exist."""


class InvalidNameError(ReposError, ValueError):
    """A branch or tag name, a path or an argument is malformed."""


class EmptyCommitError(ReposError, ValueError):
    """A commit would change nothing and ``allow_empty`` was not given."""


class ConflictError(ReposError):
    """The repository changed underneath (lost race), or a thing already exists."""


class MergeConflictError(ConflictError):
    """Paths changed differently on both sides of a merge (or a revert or cherry-pick)."""

    def __init__(self, message: str, paths: Sequence[str]) -> None:
        super().__init__(message)
        self.paths: tuple[str, ...] = tuple(paths)


class ProtectedBranchError(ReposError, PermissionError):
    """A protected branch may only move by merge and may not be deleted."""


class HookRejectedError(ReposError, PermissionError):
    """A pre-commit or pre-merge hook refused the operation."""


class ReadOnlyReferenceError(ReposError, PermissionError):
    """Objects can only be written or deleted through a branch."""


class StorageError(ReposError, OSError):
    """The object storage failed or refused a request (credentials, permissions, network)."""
