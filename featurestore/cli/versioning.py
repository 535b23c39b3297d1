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

from featurestore.cli.app import RepoOpt, app, error_exit, project_dir, short
from featurestore.cli.output import change_json, commit_json, emit_json
from featurestore.cli.render import changes_table, columns_table, log_table, plan_table
from featurestore.cli.render import console as _console
from featurestore.cli.session import describe
from featurestore.config import CONFIG_FILE, load_config
from featurestore.datasets import is_internal, refuse_internal
from featurestore.errors import FeatureStoreError
from repos import Commit, ReposError, Repository

branch_app = typer.Typer(help="Create, delete and list branches.", no_args_is_help=True)
tag_app = typer.Typer(help="Create, delete and list tags.", no_args_is_help=True)
app.add_typer(branch_app, name="branch")
app.add_typer(tag_app, name="tag")


def _fail(message: str) -> typer.Exit:
    return error_exit(message)


@contextmanager
def _open(project: Path | None) -> Iterator[Repository]:
    """The project's repository; package errors become one line on stderr and exit 1."""
    try:
        cfg = load_config(project_dir(project))
        repo = Repository.open(
            cfg.storage_location, cfg.metadata_url, storage_options=cfg.storage_options.fsspec()
        )
        try:
            yield repo
        finally:
            repo.close()
    except (ReposError, FeatureStoreError) as e:
        raise _fail(describe(e)) from None


_table = columns_table
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _commit_line(c: Commit) -> str:
    return f"{short(c.id)} {c.message}"


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="The project folder to create.")] = Path("."),
    project: Annotated[
        str | None, typer.Option("--project", help="Project name (default: the folder's name).")
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            "-t",
            help="driver_stats or fraud: the example's definitions, README and sample data "
            "ending now.",
        ),
    ] = None,
) -> None:
    """Create a project folder with featurestore.yaml and an empty repository."""
    given, path = path, path.resolve()
    name = project or re.sub(r"\W", "_", path.name) or "featurestore"
    if name[0].isdigit():
        name = "_" + name
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise _fail(f"invalid project name {name!r}: use letters, digits and '_'")
    config = path / CONFIG_FILE
    try:
        if template is not None:
            from featurestore.templates import create_from_template

            written = create_from_template(template, path, project=name)
        path.mkdir(parents=True, exist_ok=True)
        if not config.exists():
            config.write_text(f"project: {name}\nstorage: data\n")
        cfg = load_config(path)
        Repository.create(
            cfg.storage_location,
            cfg.metadata_url,
            default_branch=cfg.default_branch,
            exist_ok=True,
            storage_options=cfg.storage_options.fsspec(),
        ).close()
    except (ReposError, FeatureStoreError, OSError) as e:
        raise _fail(str(e)) from None
    typer.echo(f"Initialized project {cfg.project!r} in {path} (storage {cfg.storage_location})")
    if template is not None:
        typer.echo(f"From template {template}: {', '.join(p.name for p in written)}")
        from featurestore.templates import next_steps

        typer.echo(f"Load its sample data: {next_steps(template, given)}")


@branch_app.command("create")
def branch_create(
    name: Annotated[str, typer.Argument(help="The new branch.")],
    source: Annotated[str, typer.Option("--source", "-s", help="Ref to branch from.")] = "main",
    repo: RepoOpt = None,
) -> None:
    """Create a branch at a ref (O(1): no data is copied)."""
    with _open(repo) as r:
        refuse_internal(name, "create")
        b = r.branch(name).create(source)
        typer.echo(f"Created branch {name} at {short(b.resolve())}")


@branch_app.command("delete")
def branch_delete(
    name: Annotated[str, typer.Argument(help="The branch to delete.")], repo: RepoOpt = None
) -> None:
    """Delete a branch and its uncommitted changes, and free its online keys (internal
    branches are refused)."""
    from featurestore.cli.session import open_store

    with open_store(repo) as store:
        freed = store.delete_branch(name)
    typer.echo(f"Deleted branch {name}" + (f"; freed {freed} online key(s)" if freed else ""))


@branch_app.command("list")
def branch_list(
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list internal branches (saved datasets).")
    ] = False,
    as_json: JsonOpt = False,
    repo: RepoOpt = None,
) -> None:
    """List branches with their head commits."""
    with _open(repo) as r:
        table = _table("Branches", "branch", "head", "message", fixed=("branch", "head"))
        protected = r.protected_patterns()
        rows = []
        for b in r.branches():
            if is_internal(b.id) and not show_all:
                continue
            c = b.get_commit()
            row = {
                "name": b.id,
                "head": c.id,
                "message": c.message,
                "default": b.id == r.default_branch,
                "internal": is_internal(b.id),
                "protected": any(fnmatchcase(b.id, p) for p in protected),
            }
            rows.append(row)
            label = b.id + "".join(
                f" ({k})" for k in ("default", "internal", "protected") if row[k]
            )
            table.add_row(label, short(c.id), c.message)
        if as_json:
            emit_json(rows)
            return
        _console.print(table)


@branch_app.command("reset")
def branch_reset(
    name: Annotated[str, typer.Argument(help="The branch whose uncommitted changes to drop.")],
    repo: RepoOpt = None,
) -> None:
    """Drop every uncommitted change of a branch (its head commit stays as it is)."""
    with _open(repo) as r:
        refuse_internal(name, "reset")
        branch = r.branch(name)
        dropped = sum(1 for _ in branch.uncommitted())
        branch.reset()
        head = short(branch.resolve())
        if not dropped:
            typer.echo(f"No uncommitted changes on {name}; it stays at {head}")
            return
        typer.echo(f"Reset {name} to {head}: dropped {dropped} uncommitted change(s)")


@app.command()
def commit(
    message: Annotated[str, typer.Option("--message", "-m", help="The commit message.")],
    branch: Annotated[str, typer.Option("--branch", "-b", help="The branch to commit.")] = "main",
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Metadata as key=value (repeatable).")
    ] = None,
    allow_empty: Annotated[bool, typer.Option(help="Commit even with no changes.")] = False,
    repo: RepoOpt = None,
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
        typer.echo(f"Committed {short(c.id)} on {branch}: {c.message}")


@app.command()
def log(
    ref: Annotated[str, typer.Argument(help="Branch, tag or commit.")] = "main",
    max_amount: Annotated[
        int | None, typer.Option("--max-count", "-n", help="At most N commits.")
    ] = None,
    prefix: Annotated[
        list[str] | None, typer.Option("--prefix", "-p", help="Only commits touching a prefix.")
    ] = None,
    first_parent: Annotated[bool, typer.Option(help="Follow first parents only.")] = False,
    as_json: JsonOpt = False,
    repo: RepoOpt = None,
) -> None:
    """Show the commit history of a ref, newest first (merges marked; see `show commit`)."""
    with _open(repo) as r:
        commits = list(r.ref(ref).log(max_amount, prefix or None, first_parent))
        if as_json:
            emit_json([commit_json(c) for c in commits])
            return
        _console.print(log_table(f"Log of {ref}", commits))


@app.command()
def diff(
    left: Annotated[str, typer.Argument(help="A ref; alone, a branch's uncommitted changes.")],
    right: Annotated[str | None, typer.Argument(help="The ref to compare with.")] = None,
    prefix: Annotated[str, typer.Option("--prefix", "-p", help="Only paths under it.")] = "",
    rows: Annotated[
        bool, typer.Option("--rows", help="Compare tables by row (natural key), not by object.")
    ] = False,
    table: Annotated[
        str | None, typer.Option("--table", help="Only this table's rows (implies --rows).")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="With --rows: changed rows shown per table.")
    ] = 10,
    as_json: JsonOpt = False,
    repo: RepoOpt = None,
) -> None:
    """Show changes from LEFT to RIGHT, or the uncommitted changes of branch LEFT.

    With --rows, each table's rows added, removed and changed by key (join keys and
    event time; the created time is part of a row's value), then the definitions by
    field and code by line.
    """
    from featurestore.cli.render import code_diffs
    from featurestore.registry import REGISTRY_PATH, diff_definitions

    if rows or table is not None:
        from featurestore.cli.diffs import print_row_diff

        print_row_diff(left, right, table, limit, as_json, repo)
        return
    with _open(repo) as r:
        if right is None:
            changes = list(r.branch(left).uncommitted(prefix))
            title = f"Uncommitted on {left}"
        else:
            changes = list(r.ref(left).diff(right, prefix))
            title = f"{left} -> {right}"
        definitions = None
        if any(c.path == REGISTRY_PATH for c in changes):  # definitions, code as source diffs
            definitions = diff_definitions(r, left, right)
        if as_json:
            emit_json(
                {
                    "changes": [change_json(c) for c in changes],
                    "definitions": definitions.to_json() if definitions is not None else None,
                }
            )
            return
        if not changes:
            typer.echo(
                f"No changes: nothing uncommitted on {left}"
                if right is None
                else f"No changes: {left} and {right} hold the same objects"
            )
            return
        _console.print(changes_table(title, changes))
        if definitions is not None:
            _console.print(plan_table(definitions))
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
    repo: RepoOpt = None,
) -> None:
    """Three-way merge SOURCE into DESTINATION (a merge commit with two parents).

    Tables merge by natural key and definitions by object: disjoint changes combine;
    the same key or definition changed differently on both sides is a conflict that
    lists them (a sample of the keys and their count) and merges nothing.
    """
    if strategy not in (None, "source-wins", "dest-wins"):
        raise _fail(f"unknown strategy {strategy!r}: use source-wins or dest-wins")
    from featurestore.cli.diffs import merge_or_show_conflicts

    how = cast(Literal["source-wins", "dest-wins"] | None, strategy)
    c = merge_or_show_conflicts(source, destination, how, message, allow_empty, repo)
    typer.echo(f"Merged {source} into {destination}: {_commit_line(c)}")


@app.command()
def revert(
    branch: Annotated[str, typer.Argument(help="The branch to commit the revert on.")],
    reference: Annotated[str, typer.Argument(help="The commit to undo.")],
    parent: Annotated[int, typer.Option("--parent", help="Parent to diff a merge against.")] = 1,
    repo: RepoOpt = None,
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
    repo: RepoOpt = None,
) -> None:
    """Create a tag at a ref."""
    with _open(repo) as r:
        t = r.tag(name).create(ref)
        typer.echo(f"Created tag {name} at {short(t.resolve())}")


@tag_app.command("delete")
def tag_delete(
    name: Annotated[str, typer.Argument(help="The tag to delete.")], repo: RepoOpt = None
) -> None:
    """Delete a tag."""
    with _open(repo) as r:
        r.tag(name).delete()
        typer.echo(f"Deleted tag {name}")


@tag_app.command("list")
def tag_list(as_json: JsonOpt = False, repo: RepoOpt = None) -> None:
    """List tags with their commits."""
    with _open(repo) as r:
        table = _table("Tags", "tag", "commit", "message", fixed=("tag", "commit"))
        rows = []
        for t in r.tags():
            c = t.get_commit()
            rows.append({"name": t.id, "commit": c.id, "message": c.message})
            table.add_row(t.id, short(c.id), c.message)
        if as_json:
            emit_json(rows)
            return
        if not rows:
            typer.echo("No tags: create one with `featurestore tag create NAME REF`")
            return
        _console.print(table)


@app.command()
def gc(
    retention_days: Annotated[
        float, typer.Option(help="Keep unreachable objects younger than this.")
    ] = 7.0,
    repo: RepoOpt = None,
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
    _collect_online_orphans(repo)


def _collect_online_orphans(repo: Path | None) -> None:
    """Free the online namespaces of branches deleted without them; a note if the online
    store cannot be reached (the repository's collection stands)."""
    from featurestore import FeatureStore

    try:
        with FeatureStore(project_dir(repo)) as store:
            freed = store.collect_online_orphans()
    except FeatureStoreError as e:
        typer.echo(f"Online namespaces of deleted branches not checked: {describe(e)}", err=True)
        return
    for branch, keys in freed.items():
        typer.echo(f"Freed {keys} online key(s) of deleted branch {branch}")
