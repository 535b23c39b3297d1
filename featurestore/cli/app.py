"""The Typer application that every command module registers on: its global options
(``--repo``, ``--version``), the exit statuses, and how a command prints its error.

Exit statuses: 0 success; 1 an error (one line on stderr, ``error: ...``), usage
errors included; 2 ``plan`` found a breaking change; 130 interrupted (Ctrl-C), after
one line saying what was kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import typer

from featurestore.boundary import redact

__all__ = [
    "EXIT_BREAKING",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "SHORT_ID",
    "RepoOpt",
    "app",
    "error_exit",
    "project_dir",
    "short",
]

EXIT_ERROR: Final = 1
EXIT_BREAKING: Final = 2
EXIT_INTERRUPTED: Final = 130
SHORT_ID: Final = 12
"""How many characters of a commit id every command prints."""

app = typer.Typer(
    name="featurestore",
    help="A feature store with data versioning built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

RepoOpt = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        "-r",
        help="The project folder (holding featurestore.yaml); default: the global "
        "--repo, else the current folder.",
    ),
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("featurestore")
        except PackageNotFoundError:
            from featurestore import __version__ as number
        typer.echo(f"featurestore {number}")
        raise typer.Exit(0)


_GLOBAL: dict[str, Path | None] = {"repo": None}


@app.callback()
def _global_options(
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo", "-r", help="The project folder for every command (default: current)."
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """A feature store with data versioning built in."""
    _GLOBAL["repo"] = repo


def project_dir(repo: Path | None) -> Path:
    """The project folder: the command's ``--repo``, else the global one, else ``.``."""
    return repo or _GLOBAL["repo"] or Path(".")


def short(commit_id: str | None) -> str:
    """A commit id as every command prints it: its first ``SHORT_ID`` characters."""
    return (commit_id or "")[:SHORT_ID]


def error_exit(message: str) -> typer.Exit:
    """Print ``error: message`` on one line of stderr, URL passwords redacted; raise the
    result to exit 1."""
    from featurestore.cli.words import cli_words

    typer.echo(f"error: {' '.join(cli_words(redact(message)).split())}", err=True)
    return typer.Exit(EXIT_ERROR)
