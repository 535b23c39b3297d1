"""The Typer application that every command module registers on, and how a command
prints its error."""

from __future__ import annotations

import typer

from featurestore.boundary import redact

__all__ = ["app", "error_exit"]

app = typer.Typer(
    name="featurestore",
    help="A feature store with data versioning built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def error_exit(message: str) -> typer.Exit:
    """Print ``error: message`` on one line of stderr, URL passwords redacted; raise the
    result to exit 1."""
    typer.echo(f"error: {' '.join(redact(message).split())}", err=True)
    return typer.Exit(1)
