"""Definition commands: ``plan`` and ``apply`` the project folder's definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featurestore.cli.app import app
from featurestore.cli.render import console, say, spinner
from featurestore.cli.session import fail, open_store
from featurestore.cli.versioning import RepoOpt
from featurestore.project import load_definitions

BranchOpt = Annotated[
    str | None,
    typer.Option("--branch", "-b", help="The branch to plan or apply on (default: main)."),
]
DefinitionsOpt = Annotated[
    Path | None,
    typer.Option(
        "--definitions", "-d", help="Folder of the definition files (default: the project)."
    ),
]


def _definitions(folder: Path) -> list[object]:
    """The folder's definitions; none at all is refused, as applying it would remove all."""
    objects = load_definitions(folder)
    if not objects:
        raise fail(
            f"no definitions found in {folder.resolve()}: put the *.py files with your "
            "entities and feature views there, or pass --definitions DIR"
        )
    return objects


@app.command()
def plan(
    branch: BranchOpt = None,
    definitions: DefinitionsOpt = None,
    repo: RepoOpt = Path("."),
) -> None:
    """Show what `apply` would add, change or remove on a branch; changes nothing."""
    with open_store(repo) as store:
        objects = _definitions(definitions or repo)
        result = store.plan(objects, branch=branch)
        if not result.has_changes:
            say("No changes: the definitions are up to date.")
            return
        console.print(result.to_rich())


@app.command()
def apply(
    branch: BranchOpt = None,
    definitions: DefinitionsOpt = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="The commit message.")
    ] = None,
    no_commit: Annotated[
        bool, typer.Option("--no-commit", help="Stage the definitions without committing.")
    ] = False,
    repo: RepoOpt = Path("."),
) -> None:
    """Make the folder's definitions the full set on a branch, create their tables, commit.

    A change that would break stored data (a column's type) is refused and nothing is
    written.
    """
    with open_store(repo) as store:
        objects = _definitions(definitions or repo)
        with spinner("Applying definitions..."):
            result = store.apply(objects, branch=branch, partial=False)
        name = branch or store.config.default_branch
        if not result.has_changes:
            say(f"No changes: the definitions on {name} are up to date.")
            return
        console.print(result.to_rich())
        if no_commit:
            say(f"Staged on {name}; commit with `featurestore commit -b {name} -m ...`")
            return
        summary = (
            f"{len(result.added)} added, {len(result.changed)} changed, "
            f"{len(result.removed)} removed"
        )
        c = store.commit(message or f"apply definitions: {summary}", branch=name)
        say(f"Committed {c.id[:12]} on {name}: {c.message}")
