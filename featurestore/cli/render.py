"""Rich output shared by the store commands: Arrow tables, statuses and progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from featurestore.materialization import MaterializeResult
    from featurestore.registry import Plan
    from featurestore.store import ViewStatus

__all__ = [
    "arrow_table",
    "code_diffs",
    "console",
    "err_console",
    "materialize_table",
    "row_progress",
    "say",
    "spinner",
    "status_table",
    "text",
]

console = Console()
err_console = Console(stderr=True)


def text(value: Any) -> str:
    """A cell: times in UTC to the second, floats to 6 significant digits."""
    if value is None:
        return "[dim]null[/]"
    if isinstance(value, datetime):
        moment: datetime = value.astimezone(UTC) if value.tzinfo is not None else value
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(str(value))


def say(message: str) -> None:
    """Print a plain line on stdout: no markup, so paths and messages print as given."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def arrow_table(table: pa.Table, title: str | None = None, max_rows: int = 20) -> Table:
    """The first ``max_rows`` rows of an Arrow table; the caption counts the rest."""
    out = Table(title=title)
    for name in table.column_names:
        out.add_column(name, overflow="fold")
    for row in table.slice(0, max_rows).to_pylist():
        out.add_row(*(text(v) for v in row.values()))
    if table.num_rows > max_rows:
        out.caption = f"{max_rows} of {table.num_rows} rows"
    else:
        out.caption = f"{table.num_rows} row{'s' if table.num_rows != 1 else ''}"
    return out


def code_diffs(plan: Plan) -> list[Text]:
    """The unified source diff of each added or changed on-demand function, colored."""
    out: list[Text] = []
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for entry in plan.source_diffs:
        block = Text(f"Code of {entry.kind} {entry.name!r} ({entry.action}):\n", style="bold")
        for line in entry.source_diff.splitlines(keepends=True):
            block.append(line, style=styles.get(line[:1], ""))
        out.append(block)
    return out


def status_table(statuses: Sequence[ViewStatus]) -> Table:
    """What each online view serves: branch, commit, watermark and commits behind."""
    out = Table(title="Online status")
    for column in ("view", "branch", "commit", "watermark (UTC)", "behind"):
        out.add_column(column, overflow="fold")
    for s in statuses:
        if s.commit_id is None:
            out.add_row(s.view, "[dim]-[/]", "[yellow]never materialized[/]", "", "")
            continue
        if s.commits_behind is None:
            behind = "[red]branch gone[/]"
        elif s.commits_behind == 0:
            behind = "[green]0 (up to date)[/]"
        else:
            behind = f"[yellow]{s.commits_behind}[/]"
        out.add_row(s.view, s.branch or "", s.commit_id[:12], text(s.watermark), behind)
    return out


def materialize_table(results: Sequence[MaterializeResult]) -> Table:
    """Rows written per view, from which commit, over which interval."""
    out = Table(title="Materialized")
    for column in ("view", "branch", "commit", "from", "to", "rows written", "stale", "run"):
        out.add_column(column, overflow="fold")
    for r in results:
        out.add_row(
            r.view,
            r.branch,
            r.commit_id[:12],
            text(r.start) if r.start is not None else "[dim]beginning[/]",
            text(r.end),
            str(r.rows_written),
            str(r.rows_stale),
            "full" if r.full else "incremental",
        )
    return out


@contextmanager
def row_progress(description: str) -> Iterator[Callable[[int], None]]:
    """A live row counter on stderr; yields the ``on_rows`` callback that advances it."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=None)
        yield lambda n: progress.advance(task, n)


@contextmanager
def spinner(description: str) -> Iterator[None]:
    """A spinner on stderr while a step of unknown length runs."""
    with err_console.status(description):
        yield
