"""Definition commands: ``plan`` and ``apply`` the project folder's definitions, and
``trust`` an on-demand view's stored code (see ``featurestore.trust``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featurestore.cli.app import EXIT_BREAKING, RepoOpt, app, project_dir, short
from featurestore.cli.output import emit_json
from featurestore.cli.render import code_diffs, console, say, spinner
from featurestore.cli.session import fail, open_store
from featurestore.file_sources import staged_file_imports
from featurestore.project import load_definitions
from featurestore.store import FeatureStore
from repos import ReposError

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


REGISTRY_FOLDER = "_featurestore/"
"""Where the definitions live in the repository; staged changes there are apply's own."""


def staged_data(store: FeatureStore, branch: str) -> str | None:
    """The branch's uncommitted data changes (rows ingested or pushed without a commit),
    said by folder: ``2 staged change(s) under tables/driver_stats/``; None when none.

    ``apply`` commits everything staged on the branch, so it names what it also commits.
    """
    try:
        changes = list(store.repository.branch(branch).uncommitted())
    except ReposError:  # a branch apply is about to create holds nothing staged
        return None
    folders: dict[str, int] = {}
    for change in changes:
        folder = change.path.rpartition("/")[0] + "/"
        if not change.path.startswith(REGISTRY_FOLDER):
            folders[folder] = folders.get(folder, 0) + 1
    if not folders:
        return None
    return ", ".join(f"{n} staged change(s) under {f}" for f, n in sorted(folders.items()))


@app.command()
def plan(
    branch: BranchOpt = None,
    definitions: DefinitionsOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON instead of a table.")
    ] = False,
    repo: RepoOpt = None,
) -> None:
    """Show what `apply` would add, change or remove on a branch; changes nothing.

    Exits 2 when a change would break stored data (apply would refuse it).
    """
    with open_store(repo) as store:
        objects = _definitions(definitions or project_dir(repo))
        result = store.plan(objects, branch=branch, partial=False)
    if as_json:
        emit_json(result.to_json())
    elif not result.has_changes:
        say("No changes: the definitions are up to date.")
    else:
        console.print(result.to_rich())
        for block in code_diffs(result):
            console.print(block, soft_wrap=True)
    if result.breaking:
        typer.echo(
            f"error: {len(result.breaking)} breaking change(s), which apply refuses: "
            + "; ".join(result.breaking),
            err=True,
        )
        raise typer.Exit(EXIT_BREAKING)


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
    repo: RepoOpt = None,
) -> None:
    """Make the folder's definitions the full set on a branch, create their tables, commit.

    A change that would break stored data (a column's type) is refused and nothing is
    written.
    """
    with open_store(repo) as store:
        objects = _definitions(definitions or project_dir(repo))
        name = branch or store.config.default_branch
        unrelated = staged_data(store, name)
        with spinner("Applying definitions..."):
            result = store.apply(objects, branch=branch, partial=False)
        imported = staged_file_imports(store.repository.branch(name))
        if not result.has_changes and not imported:
            say(f"No changes: the definitions on {name} are up to date.")
            return
        if result.has_changes:
            console.print(result.to_rich())
        for block in code_diffs(result):
            console.print(block, soft_wrap=True)
        if imported:
            say(f"Imported the changed file(s) of {', '.join(imported)}")
        if no_commit:
            also = f" (with {unrelated} staged before this apply)" if unrelated else ""
            say(f"Staged on {name}{also}; commit with `featurestore commit -b {name} -m ...`")
            return
        summary = (
            f"{len(result.added)} added, {len(result.changed)} changed, "
            f"{len(result.removed)} removed"
        ) + (f"; files of {', '.join(imported)} imported" if imported else "")
        text = message or f"apply definitions: {summary}"
        if unrelated:
            text += f"; also committed {unrelated}"
        c = store.commit(text, branch=name)
        say(f"Committed {short(c.id)} on {name}: {c.message}")
        if unrelated:
            say(
                f"Also committed {unrelated}: data staged on {name} before this apply "
                "(ingested or pushed without a commit)"
            )


@app.command()
def trust(
    view: Annotated[str, typer.Argument(help="The on-demand view whose stored code to trust.")],
    ref: Annotated[
        str | None,
        typer.Option("--ref", help="The ref to read the code at (default: the default branch)."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Trust it; without this, only show the code.")
    ] = False,
    repo: RepoOpt = None,
) -> None:
    """Show an on-demand view's stored code and its sha256; with --yes, trust it here.

    Trusted code runs whenever the view is computed in this project (any ref, the
    server too); the trust list is .featurestore/trusted-code.json in the project.
    """
    with open_store(repo) as store:
        odfv = store.registry(ref).get_on_demand_feature_view(view)
        where = ref or store.config.default_branch
        trusted = "trusted" if odfv.is_trusted else "not trusted"
        say(f"# on-demand view {view!r} at {where}, sha256 {odfv.udf_sha256} ({trusted})")
        say(odfv.udf_source.rstrip())
        if not yes:
            if not odfv.is_trusted:
                say(f"# review it, then run `featurestore trust {view} --ref {where} --yes`")
            return
        store.trust_code(view, ref=ref)
        say(f"Trusted {view!r} (sha256 {odfv.udf_sha256}) in {store.code_trust.path}")
