"""lakeFS-style versioned objects: branches, commits, merges, tags and GC over
content-addressed objects, with metadata in SQLite or PostgreSQL::

    repo = Repository.create("/tmp/data")
    main = repo.branch("main")
    main.object("a.txt").upload(b"hello")
    main.commit("add a")
"""

from __future__ import annotations

from repos._resolve import GroupMerge, MergeResolver
from repos._rewrite import KEEP, Rewrite, Transform, TransformResult
from repos.errors import (
    ConflictError,
    EmptyCommitError,
    HookRejectedError,
    InvalidNameError,
    MergeConflictError,
    NotFoundError,
    ProtectedBranchError,
    ReadOnlyReferenceError,
    ReposError,
    StorageError,
)
from repos.models import Change, ChangeList, Commit, CommitLog, GCResult, HookEvent, ObjectInfo
from repos.refs import Branch, Reference, StoredObject, Tag
from repos.repository import Repository

__all__ = [
    "KEEP",
    "Branch",
    "Change",
    "ChangeList",
    "Commit",
    "CommitLog",
    "ConflictError",
    "EmptyCommitError",
    "GCResult",
    "GroupMerge",
    "HookEvent",
    "HookRejectedError",
    "InvalidNameError",
    "MergeConflictError",
    "MergeResolver",
    "NotFoundError",
    "ObjectInfo",
    "ProtectedBranchError",
    "ReadOnlyReferenceError",
    "Reference",
    "ReposError",
    "Repository",
    "Rewrite",
    "StorageError",
    "StoredObject",
    "Tag",
    "Transform",
    "TransformResult",
]
