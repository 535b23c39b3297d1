"""Immutable records returned by the ``repos`` API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = ["Change", "Commit", "GCResult", "HookEvent", "ObjectInfo"]

HookEventType = Literal["pre-commit", "pre-merge", "post-commit", "post-merge"]


@dataclass(frozen=True)
class Commit:
    """One commit: its id is the sha256 of the canonical record of the other fields."""

    id: str
    parents: tuple[str, ...]
    message: str
    metadata: Mapping[str, str]
    author: str
    creation_date: datetime
    meta_range_id: str


@dataclass(frozen=True)
class Change:
    """One path that differs between two trees (``size`` is the new size, if any)."""

    type: Literal["added", "removed", "changed"]
    path: str
    size: int | None


@dataclass(frozen=True)
class ObjectInfo:
    """An object at a path: ``physical_address`` is a local file path or fsspec URL."""

    path: str
    size: int
    checksum: str
    physical_address: str


@dataclass(frozen=True)
class GCResult:
    """What a garbage collection removed."""

    objects_removed: int
    bytes_removed: int


@dataclass(frozen=True)
class HookEvent:
    """What a hook is told: the branch, the changes and the message of the operation."""

    type: HookEventType
    branch: str
    changes: tuple[Change, ...]
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    source_ref: str | None = None
    commit: Commit | None = None
