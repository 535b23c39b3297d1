"""Rich output shared by the store commands: Arrow tables, statuses and progress."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from featurestore.cli.app import SHORT_ID, short

if TYPE_CHECKING:
    from featurestore.materialization import MaterializeResult
    from featurestore.registry import Plan
    from featurestore.store import ViewStatus
    from repos import Change, Commit

__all__ = [
    "RowBars",
    "arrow_table",
    "changes_table",
    "code_diffs",
    "columns_table",
    "console",
    "counted",
    "err_console",
    "log_table",
    "materialize_table",
    "plan_table",
    "say",
    "spinner",
    "status_table",
    "text",
]

_LONGEST_WORD = 40
"""A column is kept at least as wide as its longest word, up to this many characters."""


def _bounds(table: Table) -> tuple[list[int], list[int]]:
    """Each column's narrowest width that breaks no word (a no-wrap column's longest
    line), and its widest line."""
    mins, maxs = [], []
    for column in table.columns:
        header = column.header if isinstance(column.header, str) else ""
        lines = [header] + [
            line
            for c in column.cells
            for line in (Text.from_markup(c).plain if isinstance(c, str) else "").splitlines()
        ]
        longest = max(len(line) for line in lines)
        word = max(len(w) for line in lines for w in [*line.split(), ""])
        mins.append(longest if column.no_wrap else min(word, _LONGEST_WORD))
        maxs.append(longest)
    return mins, maxs


def _room(table: Table, width: int) -> int:
    """The characters left for cells once the frame and padding are drawn."""
    return width - (3 * len(table.columns) + (1 if table.show_edge else -1))


def _stacked(table: Table) -> Table:
    """The table one record at a time, a line per column (``column  value``): for rows
    whose names cannot sit side by side at this width without breaking one."""
    out = Table(title=table.title, caption=table.caption, show_header=False)
    out.add_column("column", no_wrap=True, style="bold")
    out.add_column("value", overflow="fold")
    cells = [list(column.cells) for column in table.columns]
    headers = [c.header if isinstance(c.header, str) else "" for c in table.columns]
    for row in range(table.row_count):
        for header, values in zip(headers, cells, strict=True):
            out.add_row(header, values[row])
        if row < table.row_count - 1:
            out.add_section()  # a rule between records
    return out


def fit_words(table: Table, width: int) -> Table:
    """Lay the columns out so that rich wraps cells between words, never inside one.

    When the table is wider than ``width`` but every column's longest word (a no-wrap
    column's longest line) fits, each column gets that much plus a share of the room
    left; when they fit only without the outer frame, the frame goes; when not even
    then, the table is shown one record at a time (see ``_stacked``).
    """
    mins, maxs = _bounds(table)
    if sum(maxs) <= _room(table, width):
        return table
    if sum(mins) > _room(table, width) and table.show_edge:
        table.show_edge = False  # the frame's two columns go to the cells
    room = _room(table, width)
    if sum(maxs) <= room:
        return table
    if sum(mins) > room:
        return table if len(table.columns) <= 2 else fit_words(_stacked(table), width)
    extra, slack = room - sum(mins), [hi - lo for lo, hi in zip(mins, maxs, strict=True)]
    widths = [lo + extra * s // sum(slack) for lo, s in zip(mins, slack, strict=True)]
    for column, w in zip(table.columns, widths, strict=True):
        column.width = w
    return table


class _Console(Console):
    """A console that fits every table's columns to their words before printing."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        fitted = [fit_words(o, self.width) if isinstance(o, Table) else o for o in objects]
        super().print(*fitted, **kwargs)


console: Console = _Console()
err_console = Console(stderr=True)


def text(value: Any) -> str:
    """A cell: times in UTC to the second, floats to 6 significant digits."""
    if value is None:
        return "[dim]null[/]"
    if isinstance(value, datetime):
        moment: datetime = value.astimezone(UTC) if value.tzinfo is not None else value
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        shown = f"{value:.6g}"
        # A float stays a float: 12.0 is shown as 12.0, not as the integer 12.
        return shown if any(c in shown for c in ".eni") else f"{shown}.0"
    return escape(str(value))


def counted(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``: a count with its noun in the right number."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


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
        out.caption = counted(table.num_rows, "row")
    return out


def columns_table(title: str, *columns: str, fixed: Sequence[str] | None = None) -> Table:
    """A table whose ``fixed`` columns (ids, times, names; default: the first) never
    wrap; the others wrap at spaces, and fold only a word longer than the column."""
    out = Table(title=title)
    for i, c in enumerate(columns):
        if (i == 0) if fixed is None else (c in fixed):
            out.add_column(c, no_wrap=True, min_width=min(len(c), SHORT_ID))
        else:
            out.add_column(c, overflow="fold")
    return out


def changes_table(title: str, changes: Sequence[Change]) -> Table:
    """Changed paths: what changed and, where the console is wide enough, the new size."""
    longest = max((len(c.path) for c in changes), default=0)
    sizes = longest + len("change") + len("size") + 8 <= console.width
    columns = ("change", "path", "size") if sizes else ("change", "path")
    out = columns_table(title, *columns, fixed=("change", "size"))
    out.show_edge = False  # a path is long: give it the two columns of the frame
    for c in changes:
        style = {"added": "green", "removed": "red", "changed": "yellow"}[c.type]
        cells = [f"[{style}]{c.type}[/]", escape(c.path)]
        out.add_row(*cells, *([] if not sizes else ["" if c.size is None else str(c.size)]))
    return out


def log_table(title: str, commits: Sequence[Commit]) -> Table:
    """Commits newest first: short id, time to the minute (UTC), author, message."""
    out = columns_table(
        title, "commit", "date (UTC)", "author", "message", fixed=("commit", "date (UTC)")
    )
    for c in commits:
        message = escape(c.message)
        if len(c.parents) > 1:
            message += " [dim](merge)[/]"
        out.add_row(
            short(c.id), c.creation_date.strftime("%Y-%m-%d %H:%M"), escape(c.author), message
        )
    return out


def plan_table(plan: Plan) -> Table:
    """A plan as a table: each changed field with its old and new value."""
    return plan.to_rich()


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
    """What each online view serves: branch, commit, watermark and commits behind; with
    branch namespaces, which branch's online data each row is (``namespace``)."""
    spaces = len({s.namespace for s in statuses}) > 1
    out = columns_table(
        "Online status",
        *(("namespace",) if spaces else ()),
        "view",
        "branch",
        "commit",
        "watermark (UTC)",
        "behind",
        fixed=("view", "commit", "watermark (UTC)"),
    )
    for s in statuses:
        first = (s.namespace or "",) if spaces else ()
        if s.commit_id is None:
            out.add_row(*first, s.view, "[dim]-[/]", "[yellow]never materialized[/]", "", "")
            continue
        home = s.namespace or ""
        if s.branch_head is None:
            behind = "[red]branch gone[/]"
        elif s.commits_behind is None:
            behind = f"[yellow]not on {home}'s history[/]"
        elif s.commits_behind == 0:
            behind = "[green]0 (up to date)[/]"
        else:
            behind = f"[yellow]{s.commits_behind}[/]"
        if s.branch and home and s.branch != home:  # a rollback: a tag or commit served
            behind += f" [dim]({s.branch} served on {home})[/]"
        out.add_row(*first, s.view, s.branch or "", short(s.commit_id), text(s.watermark), behind)
    return out


def materialize_table(results: Sequence[MaterializeResult]) -> Table:
    """Rows written per view, from which branch and commit, over which interval (UTC)."""
    branches = sorted({r.branch for r in results})
    out = columns_table(
        f"Materialized from {', '.join(branches)}" if branches else "Materialized",
        "view", "commit", "interval (UTC)", "rows", "run",
        fixed=("view", "commit"),
    )  # fmt: skip
    for r in results:
        start = text(r.start)[:16] if r.start is not None else "[dim]the beginning[/]"
        out.add_row(
            r.view,
            short(r.commit_id),
            f"{start}\nto {text(r.end)[:16]}",
            f"{r.rows_written} written\n{r.rows_stale} stale",
            "full" if r.full else "incremental",
        )
    return out


class RateColumn(ProgressColumn):
    """Rows per second of a task, once it is measurable."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")


class RowBars:
    """Progress bars on stderr, one per step a ``progress=`` hook names.

    Pass the instance as ``progress=``: each ``(what, done, total)`` call moves the
    bar of ``what`` (made on its first call) to ``done`` of ``total`` rows, with the
    rate and the time left. ``started`` and ``finished`` name the steps seen so far
    and those that reported ``done == total``, for saying what an interrupt kept.
    """

    def __init__(self, waiting: str | None = None, output: Console | None = None) -> None:
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TextColumn("rows"),
            RateColumn(),
            TimeRemainingColumn(compact=True),
            console=output or err_console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self.started: list[str] = []
        self.finished: list[str] = []
        # Until the first step reports (its rows are being read), say what is under way.
        self._waiting = None if waiting is None else self._bars.add_task(waiting, total=None)

    def __call__(self, what: str, done: int, total: int | None) -> None:
        if self._waiting is not None:
            self._bars.remove_task(self._waiting)
            self._waiting = None
        if what not in self.started:  # recorded before it shows, so an interrupt names it
            self.started.append(what)
            self._tasks[what] = self._bars.add_task(what, total=total)
        self._bars.update(self._tasks[what], completed=done, total=total)
        if total is not None and done >= total and what not in self.finished:
            self.finished.append(what)

    def __enter__(self) -> RowBars:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()


@contextmanager
def spinner(description: str) -> Iterator[None]:
    """A spinner on stderr while a step of unknown length runs."""
    with err_console.status(description):
        yield
