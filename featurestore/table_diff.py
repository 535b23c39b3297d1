"""Diffs that understand a feature store: tables by row, definitions by field, code by line.

``store.diff(left, right)`` compares two refs. Each table whose objects differ is
compared by natural key (``featurestore.merging.row_keys``: join keys and event time;
the created time is part of the value): a key only on the right was added, only on
the left removed, on both with other rows changed. The counts come first; the rows
are read on request (``TableDiff.rows``). Only the objects that differ are read.
Definitions come as a ``Plan`` (each changed field with its old and new value), and
on-demand code as unified source diffs (``StoreDiff.code``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.display import LIMIT, html_table, text_table
from featurestore.errors import NotFoundError, ValidationError
from featurestore.plans import Plan, PlanEntry

if TYPE_CHECKING:
    import pandas as pd

    import offline
    from featurestore.store import FeatureStore

__all__ = ["RowKind", "StoreDiff", "TableDiff", "diff"]

RowKind = Literal["added", "removed", "changed"]
_KINDS: tuple[RowKind, ...] = ("added", "removed", "changed")
_TABLES = "tables/"


@dataclass(frozen=True)
class TableDiff:
    """How one table's rows change from the left ref to the right one, by key."""

    table: str
    keys: tuple[str, ...]
    """The columns rows are matched by."""
    added: int
    """Keys only on the right."""
    removed: int
    """Keys only on the left."""
    changed: int
    """Keys on both sides with other rows."""
    _changes: offline.RowChanges = field(repr=False, compare=False)

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def rows(self, kind: RowKind | None = None) -> pa.Table:
        """The changed rows (all kinds, or one): a ``__change`` column says which, and
        a changed key's rows come from both sides (``__side``: ``left`` / ``right``)."""
        if kind is not None and kind not in _KINDS:
            raise ValidationError(f"kind={kind!r}: use 'added', 'removed', 'changed' or None")
        with translated():
            return self._changes.rows(kind)

    def to_pandas(self, kind: RowKind | None = None) -> pd.DataFrame:
        """``rows(kind)`` as pandas, integers kept nullable integers."""
        from featurestore.retrieval import to_pandas

        return to_pandas(self.rows(kind))

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        """Counts, and with ``limit`` at most that many changed rows."""
        out: dict[str, Any] = {
            "table": self.table,
            "keys": list(self.keys),
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
        }
        if limit is not None:
            rows = self.rows()
            out["rows"] = rows.slice(0, limit).to_pylist()
            out["rows_shown"] = min(limit, rows.num_rows)
            out["rows_total"] = rows.num_rows
        return out

    def _caption(self) -> str:
        return (
            f"table {self.table}: {self.added} added, {self.removed} removed, "
            f"{self.changed} changed (by {', '.join(self.keys) or 'whole rows'})"
        )

    def __repr__(self) -> str:
        return f"TableDiff({self._caption()})"

    def _repr_html_(self) -> str:
        rows = self.rows().slice(0, LIMIT)
        return html_table(rows.to_pydict(), self._caption())


@dataclass(frozen=True)
class StoreDiff:
    """What changes from ``left`` to ``right``: rows per table, definitions, code."""

    left: str
    right: str
    left_commit: str
    right_commit: str
    tables: Mapping[str, TableDiff]
    """Each table whose rows changed, by name."""
    definitions: Plan
    """Each added, changed and removed definition, field by field."""

    @property
    def code(self) -> tuple[PlanEntry, ...]:
        """The added and changed on-demand functions, each with its ``source_diff``."""
        return self.definitions.source_diffs

    @property
    def has_changes(self) -> bool:
        return bool(self.tables) or self.definitions.has_changes

    def __getitem__(self, table: str) -> TableDiff:
        if table not in self.tables:
            raise NotFoundError(
                f"no rows of table {table!r} change from {self.left} to {self.right}; "
                f"changed: {', '.join(sorted(self.tables)) or '(none)'}"
            )
        return self.tables[table]

    def rows(self, table: str, kind: RowKind | None = None) -> pa.Table:
        """The changed rows of one table (see ``TableDiff.rows``)."""
        return self[table].rows(kind)

    def to_pandas(self, table: str, kind: RowKind | None = None) -> pd.DataFrame:
        return self[table].to_pandas(kind)

    def to_json(self, limit: int | None = None, values: bool = True) -> dict[str, Any]:
        """JSON-ready data; ``limit`` rows of each table (None: counts only)."""
        return {
            "left": self.left,
            "right": self.right,
            "left_commit": self.left_commit,
            "right_commit": self.right_commit,
            "tables": [t.to_json(limit) for t in self.tables.values()],
            "definitions": self.definitions.to_json(values),
        }

    def _caption(self) -> str:
        return f"StoreDiff {self.left} ({self.left_commit[:12]}) -> {self.right}"

    def _counts(self) -> dict[str, list[Any]]:
        ts = list(self.tables.values())
        return {
            "table": [t.table for t in ts],
            "added": [t.added for t in ts],
            "removed": [t.removed for t in ts],
            "changed": [t.changed for t in ts],
        }

    def __repr__(self) -> str:
        lines = [self._caption()]
        lines.append(text_table(self._counts()) if self.tables else "no table rows change")
        if self.definitions.has_changes:
            lines.append(str(self.definitions))
        else:
            lines.append("no definitions change")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        out = html_table(self._counts(), self._caption()) if self.tables else ""
        if not self.tables:
            out = f"<p><b>{html.escape(self._caption())}</b></p><p>no table rows change</p>"
        if self.definitions.has_changes:
            out += self.definitions._repr_html_()
        for e in self.code:
            out += (
                f"<p>Code of {html.escape(e.kind)} {html.escape(e.name)!r} ({e.action}):</p>"
                f"<pre>{html.escape(e.source_diff)}</pre>"
            )
        return out


def diff(store: FeatureStore, left: str, right: str | None, table: str | None = None) -> StoreDiff:
    """``FeatureStore.diff``: ``left`` to ``right`` by row, field and line.

    The refs' commits are compared: a branch's uncommitted writes are left out, as in
    ``featurestore diff LEFT RIGHT`` (commit them to compare them).
    """
    import offline

    if right is None:
        raise ValidationError(
            f"diff({left!r}): give the ref to compare with too, e.g. "
            f"diff('{left}~1', {left!r}); rows are compared between commits"
        )
    from featurestore.merging import table_keys
    from featurestore.registry import diff_definitions, load_registry

    with translated():
        repo = store.repository
        left_commit = repo.ref(left).resolve()
        right_commit = repo.ref(right).resolve()
        changes = repo.ref(left_commit).diff(right_commit, _TABLES)
        names = sorted({n for c in changes if (n := c.path[len(_TABLES) :].partition("/")[0])})
        if table is not None:
            known = {*store.tables.tables(left_commit), *store.tables.tables(right_commit)}
            if table not in known:
                raise NotFoundError(
                    f"no table {table!r} at {left!r} or {right!r}; tables: "
                    f"{', '.join(sorted(known)) or '(none)'}"
                )
            names = [n for n in names if n == table]
        registries = [(c, load_registry(repo.ref(c))) for c in (right_commit, left_commit)]
        tables: dict[str, TableDiff] = {}
        for name in names:
            keys = table_keys(store.tables, name, registries)
            found = offline.row_changes(store.tables, name, left_commit, right_commit, keys)
            if found:
                tables[name] = TableDiff(
                    name, keys, found.added, found.removed, found.changed, found
                )
        definitions = diff_definitions(repo, left_commit, right_commit)
    return StoreDiff(
        left=left,
        right=right,
        left_commit=left_commit,
        right_commit=right_commit,
        tables=tables,
        definitions=definitions,
    )
