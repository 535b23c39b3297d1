"""Looking into the repository: ``show commit``, ``ls`` and ``cat`` of the objects at a
ref, and ``protect`` branches from direct writes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from featurestore.cli.app import RepoOpt, app, short
from featurestore.cli.output import change_json, commit_json, emit_json, object_json
from featurestore.cli.render import changes_table, columns_table, console, say
from featurestore.cli.session import fail, open_repository

show_app = typer.Typer(help="Show one object of the repository in full.", no_args_is_help=True)
app.add_typer(show_app, name="show")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@show_app.command("commit")
def show_commit(
    ref: Annotated[str, typer.Argument(help="A commit id (or its prefix), branch, tag or main~1.")],
    as_json: JsonOpt = False,
    repo: RepoOpt = None,
) -> None:
    """A commit's id, parents, author, time, message, metadata and changed paths."""
    with open_repository(repo) as r:
        c = r.ref(ref).get_commit()
        changes = list(r.ref(c.parents[0]).diff(c.id)) if c.parents else []
    if as_json:
        emit_json({**commit_json(c), "changes": [change_json(ch) for ch in changes]})
        return
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row("commit", c.id)
    facts.add_row("parents", " ".join(short(p) for p in c.parents) or "(none: first commit)")
    facts.add_row("author", c.author)
    facts.add_row("date (UTC)", c.creation_date.strftime("%Y-%m-%d %H:%M:%S"))
    facts.add_row("message", c.message)
    for key, value in sorted(c.metadata.items()):
        facts.add_row(f"meta {key}", value)
    console.print(facts, markup=False, highlight=False)
    if not c.parents:
        return
    if not changes:
        say(f"No changes against its parent {short(c.parents[0])}")
        return
    console.print(changes_table(f"Changes against {short(c.parents[0])}", changes))


@app.command("ls")
def ls(
    ref: Annotated[str, typer.Argument(help="Branch (uncommitted writes too), tag or commit.")],
    prefix: Annotated[str, typer.Argument(help="Only objects whose path starts so.")] = "",
    as_json: JsonOpt = False,
    repo: RepoOpt = None,
) -> None:
    """List the objects at a ref: path and size (with --json, their checksums too)."""
    with open_repository(repo) as r:
        objects = list(r.ref(ref).objects(prefix))
    if as_json:
        emit_json([object_json(o) for o in objects])
        return
    if not objects:
        under = f" under {prefix!r}" if prefix else ""
        say(f"No objects at {ref}{under}")
        return
    table = columns_table(f"Objects at {ref}", "path", "size", fixed=("size",))
    table.show_edge = False  # a path is long: give it the two columns of the frame
    for o in objects:
        table.add_row(escape(o.path), str(o.size))
    table.caption = f"{len(objects)} object{'s' if len(objects) != 1 else ''}"
    console.print(table)


@app.command("cat")
def cat(
    ref: Annotated[str, typer.Argument(help="Branch, tag or commit.")],
    path: Annotated[str, typer.Argument(help="The object's path (see `featurestore ls`).")],
    repo: RepoOpt = None,
) -> None:
    """Write the bytes of the object at PATH in REF to stdout."""
    with open_repository(repo) as r:
        obj = r.ref(ref).object(path)
        if not obj.exists():
            raise fail(f"no object at {path!r} in {ref}: see `featurestore ls {ref}`")
        data = obj.read()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@app.command("protect")
def protect(
    pattern: Annotated[
        str | None,
        typer.Argument(help="A branch name or glob (release-*); none: list the protected ones."),
    ] = None,
    remove: Annotated[
        bool, typer.Option("--remove", help="Stop protecting PATTERN instead.")
    ] = False,
    as_json: JsonOpt = False,
    repo: RepoOpt = None,
) -> None:
    """Protect branches matching a pattern: no direct writes, commits or deletes; changes
    come in by merge.

    With no PATTERN, list the protected patterns.
    """
    with open_repository(repo) as r:
        if pattern is None:
            if remove:
                raise fail("--remove needs the PATTERN to stop protecting")
            patterns = r.protected_patterns()
            if as_json:
                emit_json(patterns)
            elif not patterns:
                say("No protected branches")
            else:
                say("Protected branch patterns:")
                for p in patterns:
                    say(f"  {p}")
            return
        if remove:
            r.unprotect_branch(pattern)
            say(f"Branches matching {pattern!r} are no longer protected")
        else:
            r.protect_branch(pattern)
            say(f"Protected branches matching {pattern!r}: write on another branch and merge it in")
