"""``featurestore diff --rows`` and ``featurestore merge``: row diffs of tables, and
merge conflicts shown with their keys before the one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from featurestore.cli.app import short
from featurestore.cli.output import emit_json
from featurestore.cli.render import arrow_table, code_diffs, console, counted, plan_table, say
from featurestore.cli.session import describe, fail, open_store
from featurestore.errors import MergeConflictError

if TYPE_CHECKING:
    import repos
    from featurestore.table_diff import StoreDiff, TableDiff

__all__ = ["merge_or_show_conflicts", "print_row_diff"]


def _shown_rows(rows: pa.Table) -> pa.Table:
    """The rows with their ``change`` (added, removed, changed) and ``side`` (left: the
    row on LEFT, right: on RIGHT) first."""
    if "__change" not in rows.column_names:
        return rows
    marks = rows.select(["__change", "__side"]).rename_columns(["change", "side"])
    rest = rows.drop_columns(["__change", "__side"])
    return pa.Table.from_arrays(
        [*marks.columns, *rest.columns], names=[*marks.column_names, *rest.column_names]
    )


def _table_block(found: TableDiff, limit: int) -> None:
    by = ", ".join(found.keys) or "whole rows"
    say(
        f"Table {found.table}: {found.added} added, {found.removed} removed, "
        f"{found.changed} changed (keys by {by})"
    )
    if limit:
        console.print(arrow_table(_shown_rows(found.rows()), max_rows=limit))


def _print(diff: StoreDiff, limit: int) -> None:
    title = f"{diff.left} ({short(diff.left_commit)}) -> {diff.right}"
    if not diff.has_changes:
        say(f"No changes: no table rows or definitions change from {title}")
        return
    say(f"Rows by key, {title}:")
    if not diff.tables:
        say("No table rows change")
    for found in diff.tables.values():
        _table_block(found, limit)
    if diff.definitions.has_changes:
        console.print(plan_table(diff.definitions))
        for block in code_diffs(diff.definitions):
            console.print(block, soft_wrap=True)


def print_row_diff(
    left: str,
    right: str | None,
    table: str | None,
    limit: int,
    as_json: bool,
    project: Path | None,
) -> None:
    """Print ``store.diff(left, right, table)``: counts per table, then rows."""
    if right is None:
        given = "--rows" if table is None else "--table (a row diff)"
        example = "--rows" if table is None else f"--table {table}"
        raise fail(
            f"{given} compares the commits of two refs: give RIGHT too (e.g. `featurestore "
            f"diff {left}~1 {left} {example}`); uncommitted rows show once committed, and "
            f"`featurestore diff {left}` lists the uncommitted objects"
        )
    with open_store(project) as store:
        diff = store.diff(left, right, table)
        if as_json:
            emit_json(diff.to_json(limit))
            return
        _print(diff, limit)


def _show_conflicts(error: MergeConflictError) -> None:
    say("Conflicts (nothing was merged):")
    for name, conflict in error.tables.items():
        if not conflict.count:
            say(f"Table {name}: {conflict.reason}")
            continue
        say(f"Table {name}: {counted(conflict.count, 'key')} changed differently on both sides")
        if conflict.keys.num_rows:
            shown = arrow_table(conflict.keys, max_rows=conflict.keys.num_rows)
            shown.caption = f"{conflict.keys.num_rows} of {conflict.count} keys"
            console.print(shown)
    for d in error.definitions:
        say(f"Definition: {d}")
    for path in error.paths:
        say(f"Object: {path} changed differently on both sides")


def merge_or_show_conflicts(
    source: str,
    destination: str,
    strategy: Literal["source-wins", "dest-wins"] | None,
    message: str | None,
    allow_empty: bool,
    project: Path | None,
) -> repos.Commit:
    """``store.merge``; on a conflict, the conflicting keys and definitions on stdout,
    then the one-line error and exit status 1."""
    with open_store(project) as store:
        try:
            commit = store.merge(source, destination, strategy, message, allow_empty=allow_empty)
        except MergeConflictError as e:
            _show_conflicts(e)
            raise fail(describe(e)) from None
    return commit
