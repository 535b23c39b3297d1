"""Versioning commands: ``init``, ``branch``, ``commit``, ``log``, ``diff``, ``merge``,
``revert``, ``tag`` and ``gc`` on the project's repository."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal, cast

import typer
from rich.console import Console
from rich.table import Table

from featurestore.cli.app import app, error_exit
from featurestore.config import CONFIG_FILE, load_config
from featurestore.datasets import is_internal, refuse_internal
from featurestore.errors import FeatureStoreError
from repos import Change, Commit, ReposError, Repository

branch_app = typer.Typer(help="Create, delete and list branches.", no_args_is_help=True)
tag_app = typer.Typer(help="Create, delete and list tags.", no_args_is_help=True)
app.add_typer(branch_app, name="branch")
app.add_typer(tag_app, name="tag")

RepoOpt = Annotated[
    Path, typer.Option("--repo", "-r", help="The project folder (holding featurestore.yaml).")
]
_console = Console()


def _fail(message: str) -> typer.Exit:
    return error_exit(message)


@contextmanager
def _open(project: Path) -> Iterator[Repository]:
    """The project's repository; package errors become one line on stderr and exit 1."""
    try:
        cfg = load_config(project)
        repo = Repository.open(cfg.storage_location, cfg.metadata_url)
        try:
            yield repo
        finally:
            repo.close()
    except (ReposError, FeatureStoreError) as e:
        raise _fail(str(e)) from None


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title)
    for c in columns:
        table.add_column(c, overflow="fold")
    return table


def _changes_table(title: str, changes: Iterator[Change]) -> Table:
    table = _table(title, "change", "path", "size")
    for c in changes:
        style = {"added": "green", "removed": "red", "changed": "yellow"}[c.type]
        table.add_row(f"[{style}]{c.type}[/]", c.path, "" if c.size is None else str(c.size))
    return table


def _commit_line(c: Commit) -> str:
    return f"{c.id[:12]} {c.message}"


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="The project folder to create.")] = Path("."),
    project: Annotated[
        str | None, typer.Option("--project", help="Project name (default: the folder's name).")
    ] = None,
) -> None:
    """Create a project folder with featurestore.yaml and an empty repository."""
    path = path.resolve()
    name = project or re.sub(r"\W", "_", path.name) or "featurestore"
    if name[0].isdigit():
        name = "_" + name
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise _fail(f"invalid project name {name!r}: use letters, digits and '_'")
    config = path / CONFIG_FILE
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not config.exists():
            config.write_text(f"project: {name}\nstorage: data\n")
        cfg = load_config(path)
        Repository.create(
            cfg.storage_location, cfg.metadata_url, default_branch=cfg.default_branch, exist_ok=True
        ).close()
    except (ReposError, FeatureStoreError, OSError) as e:
        raise _fail(str(e)) from None
    typer.echo(f"Initialized project {cfg.project!r} in {path} (storage {cfg.storage_location})")


@branch_app.command("create")
def branch_create(
    name: Annotated[str, typer.Argument(help="The new branch.")],
    source: Annotated[str, typer.Option("--source", "-s", help="Ref to branch from.")] = "main",
    repo: RepoOpt = Path("."),
) -> None:
    """Create a branch at a ref (O(1): no data is copied)."""
    with _open(repo) as r:
        refuse_internal(name, "create")
        b = r.branch(name).create(source)
        typer.echo(f"Created branch {name} at {b.resolve()[:12]}")


@branch_app.command("delete")
def branch_delete(
    name: Annotated[str, typer.Argument(help="The branch to delete.")], repo: RepoOpt = Path(".")
) -> None:
    """Delete a branch and its uncommitted changes (internal branches are refused)."""
    with _open(repo) as r:
        refuse_internal(name, "delete")
        r.branch(name).delete()
        typer.echo(f"Deleted branch {name}")


@branch_app.command("list")
def branch_list(
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list internal branches (saved datasets).")
    ] = False,
    repo: RepoOpt = Path("."),
) -> None:
    """List branches with their head commits."""
    with _open(repo) as r:
        table = _table("Branches", "branch", "head", "message")
        protected = r.protected_patterns()
        for b in r.branches():
            if is_internal(b.id) and not show_all:
                continue
            c = b.get_commit()
            label = b.id + (" (default)" if b.id == r.default_branch else "")
            if is_internal(b.id):
                label += " (internal)"
            if any(fnmatchcase(b.id, p) for p in protected):
                label += " (protected)"
            table.add_row(label, c.id[:12], c.message)
        _console.print(table)


@app.command()
def commit(
    message: Annotated[str, typer.Option("--message", "-m", help="The commit message.")],
    branch: Annotated[str, typer.Option("--branch", "-b", help="The branch to commit.")] = "main",
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Metadata as key=value (repeatable).")
    ] = None,
    allow_empty: Annotated[bool, typer.Option(help="Commit even with no changes.")] = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Commit a branch's uncommitted changes."""
    pairs = {}
    for item in meta or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(f"invalid --meta {item!r}: use key=value")
        pairs[key] = value
    with _open(repo) as r:
        refuse_internal(branch, "commit on")
        c = r.branch(branch).commit(message, metadata=pairs, allow_empty=allow_empty)
        typer.echo(f"Committed {c.id[:12]} on {branch}: {c.message}")


@app.command()
def log(
    ref: Annotated[str, typer.Argument(help="Branch, tag or commit.")] = "main",
    max_amount: Annotated[
        int | None, typer.Option("--max", "-n", help="At most N commits.")
    ] = None,
    prefix: Annotated[
        list[str] | None, typer.Option("--prefix", "-p", help="Only commits touching a prefix.")
    ] = None,
    first_parent: Annotated[bool, typer.Option(help="Follow first parents only.")] = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Show the commit history of a ref, newest first."""
    with _open(repo) as r:
        table = _table(f"Log of {ref}", "commit", "date (UTC)", "author", "message", "parents")
        for c in r.ref(ref).log(max_amount, prefix or None, first_parent):
            table.add_row(
                c.id[:12],
                c.creation_date.strftime("%Y-%m-%d %H:%M:%S"),
                c.author,
                c.message,
                " ".join(p[:12] for p in c.parents),
            )
        _console.print(table)


@app.command()
def diff(
    left: Annotated[str, typer.Argument(help="A ref; alone, a branch's uncommitted changes.")],
    right: Annotated[str | None, typer.Argument(help="The ref to compare with.")] = None,
    prefix: Annotated[str, typer.Option("--prefix", "-p", help="Only paths under it.")] = "",
    repo: RepoOpt = Path("."),
) -> None:
    """Show changes from LEFT to RIGHT, or the uncommitted changes of branch LEFT."""
    with _open(repo) as r:
        if right is None:
            changes = list(r.branch(left).uncommitted(prefix))
            _console.print(_changes_table(f"Uncommitted on {left}", iter(changes)))
        else:
            changes = list(r.ref(left).diff(right, prefix))
            _console.print(_changes_table(f"{left} -> {right}", iter(changes)))
        from featurestore.cli.render import code_diffs
        from featurestore.registry import REGISTRY_PATH, diff_definitions

        if any(c.path == REGISTRY_PATH for c in changes):  # definitions, code as source diffs
            definitions = diff_definitions(r, left, right)
            _console.print(definitions.to_rich())
            for block in code_diffs(definitions):
                _console.print(block, soft_wrap=True)


@app.command()
def merge(
    source: Annotated[str, typer.Argument(help="The branch to merge from.")],
    destination: Annotated[str, typer.Argument(help="The branch to merge into.")],
    strategy: Annotated[
        str | None, typer.Option(help="On conflicts: source-wins or dest-wins.")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Merge even if DESTINATION holds every commit.")
    ] = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Three-way merge SOURCE into DESTINATION (a merge commit with two parents)."""
    if strategy not in (None, "source-wins", "dest-wins"):
        raise _fail(f"unknown strategy {strategy!r}: use source-wins or dest-wins")
    with _open(repo) as r:
        refuse_internal(destination, "merge into")
        how = cast(Literal["source-wins", "dest-wins"] | None, strategy)
        c = r.branch(source).merge_into(
            destination, strategy=how, message=message, allow_empty=allow_empty
        )
        typer.echo(f"Merged {source} into {destination}: {_commit_line(c)}")


@app.command()
def revert(
    branch: Annotated[str, typer.Argument(help="The branch to commit the revert on.")],
    reference: Annotated[str, typer.Argument(help="The commit to undo.")],
    parent: Annotated[int, typer.Option("--parent", help="Parent to diff a merge against.")] = 1,
    repo: RepoOpt = Path("."),
) -> None:
    """Commit on BRANCH the undoing of REFERENCE's changes."""
    with _open(repo) as r:
        refuse_internal(branch, "revert on")
        c = r.branch(branch).revert(reference, parent_number=parent)
        typer.echo(f"Reverted on {branch}: {_commit_line(c)}")


@tag_app.command("create")
def tag_create(
    name: Annotated[str, typer.Argument(help="The new tag.")],
    ref: Annotated[str, typer.Argument(help="The ref it points at.")] = "main",
    repo: RepoOpt = Path("."),
) -> None:
    """Create a tag at a ref."""
    with _open(repo) as r:
        t = r.tag(name).create(ref)
        typer.echo(f"Created tag {name} at {t.resolve()[:12]}")


@tag_app.command("delete")
def tag_delete(
    name: Annotated[str, typer.Argument(help="The tag to delete.")], repo: RepoOpt = Path(".")
) -> None:
    """Delete a tag."""
    with _open(repo) as r:
        r.tag(name).delete()
        typer.echo(f"Deleted tag {name}")


@tag_app.command("list")
def tag_list(repo: RepoOpt = Path(".")) -> None:
    """List tags with their commits."""
    with _open(repo) as r:
        table = _table("Tags", "tag", "commit", "message")
        for t in r.tags():
            c = t.get_commit()
            table.add_row(t.id, c.id[:12], c.message)
        _console.print(table)


@app.command()
def gc(
    retention_days: Annotated[
        float, typer.Option(help="Keep unreachable objects younger than this.")
    ] = 7.0,
    repo: RepoOpt = Path("."),
) -> None:
    """Delete objects no branch or tag reaches, older than the retention period."""
    with _open(repo) as r:
        try:
            result = r.gc(timedelta(days=retention_days))
        except OverflowError:
            raise _fail(f"invalid --retention-days {retention_days}") from None
        table = _table("Garbage collection", "objects removed", "bytes removed")
        table.add_row(str(result.objects_removed), str(result.bytes_removed))
        _console.print(table)
