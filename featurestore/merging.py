"""Merging a branch the way a feature store needs: tables by key, definitions by object.

``merge`` hands ``repos`` a resolver (``StoreResolver``) that groups a table's objects
(``tables/<name>/``) and the definitions object; a group changed on one side only
merges per path as before, a group changed on both sides is merged here:

- a table three-way by natural key (``offline.merge_table``): the views' join keys and
  the event time (``row_keys``). The created time is part of a key's value, not of the
  key: an upsert replaces a (key, event time) whatever its created time, so the same
  key upserted on both sides conflicts, and two corrections of one event do too.
  Disjoint row changes combine whatever files hold them; the same key changed
  differently on both sides is a conflict unless a strategy picks a side per row;
- the definitions object by definition (``featurestore.definition_merge``).

Every conflict of every group is collected before anything changes, and raised as one
``MergeConflictError`` naming each table (a sample of the keys and their count) and
each definition. The merge commit holds all of it or none of it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.datasets import refuse_internal
from featurestore.definition_merge import DefinitionConflict, merge_registry_json
from featurestore.errors import MergeConflictError, ValidationError
from featurestore.registry import REGISTRY_PATH, Registry, load_registry
from featurestore.source_tables import natural_keys

if TYPE_CHECKING:
    import os

    import offline
    import repos
    from featurestore.store import FeatureStore

__all__ = ["StoreResolver", "TableConflict", "merge", "row_keys", "table_keys"]

Strategy = Literal["source-wins", "dest-wins"]
_TABLES = "tables/"
_SHOWN_KEYS = 3


@dataclass(frozen=True)
class TableConflict:
    """Rows of one table whose key both sides of a merge changed differently."""

    table: str
    keys: pa.Table
    """A sample of the conflicting keys (one column per key column)."""
    count: int
    """How many keys conflict in all."""
    reason: str = ""

    def __str__(self) -> str:
        shown = [
            "(" + ", ".join(f"{k}={v}" for k, v in row.items()) + ")"
            for row in self.keys.slice(0, _SHOWN_KEYS).to_pylist()
        ]
        more = f" and {self.count - len(shown)} more" if self.count > len(shown) else ""
        if not shown:
            return f"table {self.table!r}: {self.reason or 'changed differently on both sides'}"
        return (
            f"table {self.table!r}: {self.count} key{'' if self.count == 1 else 's'} changed "
            "differently on both sides: "
            f"{', '.join(shown)}{more}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "count": self.count,
            "keys": self.keys.to_pylist(),
            "reason": self.reason,
        }


def row_keys(registry: Registry, table: str) -> tuple[str, ...]:
    """A table's natural key: its views' join keys and event time, the key upserts
    replace by. Empty when no view reads the table."""
    return natural_keys(registry, table)


def table_keys(
    tables: offline.TableStore, table: str, at: Sequence[tuple[str, Registry]]
) -> tuple[str, ...]:
    """The key ``table`` merges and diffs by: ``row_keys`` in the first registry of
    ``at`` (ref, registry) whose views read it; else the keys stored with the table;
    else every column (rows compare whole)."""
    for _, registry in at:
        keys = row_keys(registry, table)
        if keys:
            return keys
    for ref, _ in at:
        if table in tables.tables(ref):
            return tables.keys(ref, table) or tuple(tables.schema(ref, table).names)
    return ()


class StoreResolver:
    """The merge resolver of a feature repository (see the module docstring).

    ``conflicts`` collects what each refused group conflicted on.
    """

    def __init__(self, repository: repos.Repository, tables: offline.TableStore) -> None:
        self._repo = repository
        self._tables = tables
        self._registries: dict[str, Registry] = {}
        self.conflicts: list[TableConflict | DefinitionConflict] = []
        self.conflicted: set[str] = set()
        """The paths of the groups that conflicted."""

    def group(self, path: str) -> str | None:
        if path == REGISTRY_PATH:
            return REGISTRY_PATH
        if path.startswith(_TABLES):
            name, sep, _ = path[len(_TABLES) :].partition("/")
            if name and sep:
                return f"{_TABLES}{name}/"
        return None

    def _registry(self, commit: str) -> Registry:
        if commit not in self._registries:
            self._registries[commit] = load_registry(self._repo.ref(commit))
        return self._registries[commit]

    def _raw(self, commit: str | None) -> bytes | None:
        if commit is None:
            return None
        obj = self._repo.ref(commit).object(REGISTRY_PATH)
        return obj.read() if obj.exists() else None

    def resolve(
        self, merge: repos.GroupMerge, scratch: Path
    ) -> Mapping[str, bytes | os.PathLike[str] | None]:
        import offline
        import repos

        paths = sorted({*merge.theirs, *merge.ours})
        strategy: Any = merge.strategy
        if merge.group == REGISTRY_PATH:
            try:
                merged = merge_registry_json(
                    self._raw(merge.base), self._raw(merge.source), self._raw(merge.dest), strategy
                )
            except MergeConflictError as e:
                self.conflicts.extend(e.conflicts)
                self.conflicted.update(paths)
                raise repos.MergeConflictError(str(e), paths) from e
            return {REGISTRY_PATH: merged}
        table = merge.group[len(_TABLES) : -1]
        at = [(c, self._registry(c)) for c in (merge.dest, merge.source, merge.base) if c]
        keys = table_keys(self._tables, table, at)
        try:
            return offline.merge_table(self._tables, merge, table, keys, scratch)
        except offline.RowConflictError as e:
            self.conflicts.append(TableConflict(table, e.keys_sample, e.count, str(e)))
            self.conflicted.update(paths)
            raise repos.MergeConflictError(str(e), paths) from e


def _conflict_error(
    source: str, into: str, error: repos.MergeConflictError, resolver: StoreResolver
) -> MergeConflictError:
    others = [p for p in error.paths if p not in resolver.conflicted]
    parts = [str(c) for c in resolver.conflicts]
    if others:
        shown = ", ".join(others[:20]) + (" ..." if len(others) > 20 else "")
        parts.append(f"{len(others)} other object(s) changed differently on both sides: {shown}")
    return MergeConflictError(
        f"merge of {source!r} into {into!r} conflicts, so nothing was merged: "
        + "; ".join(parts)
        + ". Change them on one side and merge again, or pass strategy='source-wins' or "
        "'dest-wins' to take that side's version of each conflicting row and definition",
        resolver.conflicts,
        others,
    )


def merge(
    store: FeatureStore,
    source: str,
    into: str | None = None,
    strategy: Strategy | None = None,
    message: str | None = None,
    *,
    metadata: Mapping[str, str] | None = None,
    allow_empty: bool = False,
) -> repos.Commit:
    """``FeatureStore.merge``: merge branch ``source`` into ``into`` as one commit."""
    import repos
    from featurestore import serving

    dest = into or store.config.default_branch
    refuse_internal(source, "merge from")
    refuse_internal(dest, "merge into")
    if strategy not in (None, "source-wins", "dest-wins"):
        raise ValidationError(
            f"unknown merge strategy {strategy!r}: use None, 'source-wins' or 'dest-wins'"
        )
    with translated():
        resolver = StoreResolver(store.repository, store.tables)
        try:
            commit = store.repository.branch(source).merge_into(
                dest,
                strategy=strategy,
                message=message,
                metadata=metadata,
                allow_empty=allow_empty,
                resolver=resolver,
            )
        except repos.MergeConflictError as e:
            raise _conflict_error(source, dest, e, resolver) from e
    dropped = serving.clear_dropped_views(store, dest, commit.parents[0], commit.id)
    if dropped.unreachable is not None:
        warnings.warn(dropped.unreachable, RuntimeWarning, stacklevel=3)
    return commit
