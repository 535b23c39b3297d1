"""Feast's listing and lookup methods over a ``Registry``: filtered by tags, sorted by name.

``FeatureStore.list_entities`` and its siblings forward here; the keywords Feast's
callers pass (``allow_cache``, ``allow_registry_cache``) are accepted and change nothing,
as definitions are read from the repository at the ref asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

__all__ = ["with_tags"]

T = TypeVar("T")


def with_tags(objects: Iterable[T], tags: Mapping[str, str] | None) -> list[T]:
    """The objects whose tags hold every ``key: value`` of ``tags`` (all when None)."""
    out = list(objects)
    if not tags:
        return out
    return [o for o in out if all(getattr(o, "tags", {}).get(k) == v for k, v in tags.items())]

